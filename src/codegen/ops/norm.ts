/**
 * Normalization lowerings: LayerNormalization, RMSNormalization, GroupNormalization,
 * InstanceNormalization, MeanVarianceNormalization, LpNormalization (row kernels: one row per block or
 * per warp, two passes over the row for the statistics), BatchNormalization (inference) and LRN
 * (elementwise kernels).
 *
 * Statistics are accumulated in float (double when the data or the stash type is float64); fp16/bf16
 * data is converted on load. Each row is reduced by the threads of one block row (blockDim.x threads,
 * a multiple of 32; blockDim.y rows per block), so results are deterministic for a given launch shape.
 * The first pass sums x, the second sums (x - mean)^2 (two-pass variance, accurate for long rows),
 * the third writes y.
 */
import type { DType } from '../../ir/dtype.js';
import { deviceType, type DeviceType } from '../dtypes.js';
import { KernelBuilder, offsetFromLinear, type KernelSource } from '../kernel-ir.js';
import {
  a64, af32, af64, broadcastStrides, contiguousStrides, elementCount, grid1d, registerLowerings, unsupported,
  type ArgRef, type LowerContext, type Lowered, type TensorDesc,
} from '../lowering.js';
import type { KernelArg } from '../../runtime/args.js';

const FAMILY = 'norm';
/** largest block of the row kernels */
const ROW_MAX_THREADS = 1024;

type Acc = 'float' | 'double';

const HELPERS = `template <typename T> __device__ __forceinline__ T chm_nrm_wsum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
// sum of v over the blockDim.x threads of this block row (threadIdx.y); blockDim.x is a multiple of 32;
// red holds one slot per warp of the block; every thread of the block must call it
template <typename T> __device__ __forceinline__ T chm_nrm_rowsum(T v, T* red) {
  v = chm_nrm_wsum(v);
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  const int wpr = blockDim.x >> 5;
  if ((tid & 31) == 0) red[tid >> 5] = v;
  __syncthreads();
  T s = (T)0;
  for (int w = 0; w < wpr; w++) s += red[threadIdx.y * wpr + w];
  __syncthreads();
  return s;
}`;

// ---------------------------------------------------------------------------------------------------
// helpers

function floatType(d: TensorDesc | undefined, what: string): DeviceType {
  if (!d) return unsupported(`${what} is missing`);
  const t = deviceType(d.dtype);
  if (!t || t.kind !== 'float') return unsupported(`${what} has dtype ${d.dtype}; normalization kernels handle float16/bfloat16/float32/float64`);
  return t;
}

function sqrtFn(acc: Acc): string { return acc === 'double' ? 'sqrt' : 'sqrtf'; }
function fabsFn(acc: Acc): string { return acc === 'double' ? 'fabs' : 'fabsf'; }
function accArg(acc: Acc, v: number): KernelArg { return acc === 'double' ? af64(v) : af32(v); }
function accParam(b: KernelBuilder, acc: Acc, name: string): string { return acc === 'double' ? b.f64(name) : b.f32(name); }
function accOf(...dtypes: (DType | undefined)[]): Acc { return dtypes.includes('float64') ? 'double' : 'float'; }

function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) unsupported(`axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function prod(shape: readonly number[], from = 0, to = shape.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= shape[i];
  return n;
}

/** whether output i of the node is wanted (named and typed) */
function hasOutput(ctx: LowerContext, i: number): boolean {
  return (ctx.node.outputs[i] ?? '') !== '' && ctx.outputs[i] !== undefined;
}

/** Launch geometry of a row kernel: threads per row by row length, rows per block to fill 256 threads. */
function rowGeometry(n: number, rows: number): { grid: [number, number, number]; block: [number, number, number] } {
  const tx = n <= 512 ? 32 : n <= 8192 ? 256 : ROW_MAX_THREADS;
  const ty = tx >= 256 ? 1 : 256 / tx;
  const blocks = Math.max(1, Math.min(Math.ceil(rows / ty), 65535 * 8));
  return { grid: [blocks, 1, 1], block: [tx, ty, 1] };
}

// ---------------------------------------------------------------------------------------------------
// the row kernel skeleton

type Layout =
  /** row r is elements [r*n, (r+1)*n) */
  | { kind: 'contig' }
  /** row r is a lane along an axis: base = (r / inner) * n * inner + r % inner, element j at base + j*inner */
  | { kind: 'lane'; inner: string }
  /** rows over the kept dims, elements over the reduced dims (extents of the other set are 1), shared strides */
  | { kind: 'strided'; kept: string[]; red: string[]; strides: string[] };

interface RowBody {
  acc: Acc;
  xT: DeviceType;
  x: string;
  rows: string;
  n: string;
  layout: Layout;
  /** first pass: mean of the row (false: mean is 0 and no pass is made) */
  center: boolean;
  /** second pass: sum of squared deviations or of absolute values */
  second: 'sq' | 'abs';
  /** lines after the statistics (names available: r, act, mean, q, n) */
  finish: (b: KernelBuilder) => void;
  /** lines for one element (names: r, j, o (element offset), xv (loaded value, acc type)) */
  element: (b: KernelBuilder) => void;
  /**
   * the row's values are computed instead of loaded from x (a fused pre-add; contiguous layout): `rowLines`
   * after chm_base, `value` (acc type, names r, j, o) in the first pass, which also runs `write` (storing
   * `chm_v` at o); later passes read `readBack` when given (what this thread wrote), else `value` again.
   */
  pre?: { rowLines: string[]; value: string; write?: string; readBack?: string };
}

/** Emits the row loop: rows are visited block-row by block-row (a loop uniform over the block). */
function rowBody(b: KernelBuilder, s: RowBody): void {
  const A = s.acc;
  b.helpers(HELPERS);
  b.shared(`${A} chm_red[32]`);
  const offLines = (): string[] => {
    switch (s.layout.kind) {
      case 'contig': return ['const long long o = chm_base + j;'];
      case 'lane': return [`const long long o = chm_base + j * ${s.layout.inner};`];
      case 'strided': {
        const { red, strides } = s.layout;
        const r = red.length;
        const lines = ['long long o = chm_base;'];
        if (r > 0) {
          lines.push('{ long long chm_rj = j;');
          for (let d = r - 1; d >= 0; d--) {
            if (d > 0) lines.push(`  { const long long c = chm_rj % ${red[d]}; chm_rj /= ${red[d]}; o += c * ${strides[d]}; }`);
            else lines.push(`  o += chm_rj * ${strides[d]};`);
          }
          lines.push('}');
        }
        return lines;
      }
    }
  };
  const plain = `(${A})(${s.xT.load(`${s.x}[o]`)})`;
  let passes = 0;
  /** the value at o in the next pass, as an expression (a fused pre-add: computed, and written in the first pass, into `name`) */
  const value = (b: KernelBuilder, name: string): string => {
    const first = passes++ === 0;
    if (!s.pre) return plain;
    if (first || !s.pre.readBack) {
      b.line(`const ${A} ${name} = ${s.pre.value};`);
      if (first && s.pre.write) b.line(`{ const ${A} chm_v = ${name}; ${s.pre.write} }`);
    } else {
      b.line(`const ${A} ${name} = ${s.pre.readBack};`);
    }
    return name;
  };
  const loop = (body: () => void) => {
    b.block(`if (act) for (long long j = threadIdx.x; j < ${s.n}; j += blockDim.x)`, () => {
      b.line(...offLines());
      body();
    });
  };
  b.block(`for (long long chm_rb = (long long)blockIdx.x * blockDim.y; chm_rb < ${s.rows}; chm_rb += (long long)gridDim.x * blockDim.y)`, () => {
    b.line('const long long r = chm_rb + threadIdx.y;');
    b.line(`const bool act = r < ${s.rows};`);
    if (s.pre && s.layout.kind !== 'contig') throw new Error('norm: a fused pre-add needs the contiguous row layout');
    switch (s.layout.kind) {
      case 'contig': b.line(`const long long chm_base = r * ${s.n};`); break;
      case 'lane': b.line(`const long long chm_base = (r / ${s.layout.inner}) * ${s.n} * ${s.layout.inner} + r % ${s.layout.inner};`); break;
      case 'strided': {
        const { kept, strides } = s.layout;
        b.line('long long chm_base = 0;');
        if (kept.length > 0) {
          b.line('{ long long chm_rr = r;');
          for (let d = kept.length - 1; d >= 0; d--) {
            if (d > 0) b.line(`  { const long long c = chm_rr % ${kept[d]}; chm_rr /= ${kept[d]}; chm_base += c * ${strides[d]}; }`);
            else b.line(`  chm_base += chm_rr * ${strides[d]};`);
          }
          b.line('}');
        }
        break;
      }
    }
    if (s.pre) b.line(...s.pre.rowLines);
    if (s.center) {
      b.line(`${A} chm_s1 = (${A})0;`);
      loop(() => b.line(`chm_s1 += ${value(b, 'chm_x1')};`));
      b.line(`const ${A} mean = chm_nrm_rowsum(chm_s1, chm_red) / (${A})${s.n};`);
    } else {
      b.line(`const ${A} mean = (${A})0;`);
    }
    b.line(`${A} chm_s2 = (${A})0;`);
    loop(() => {
      b.line(`const ${A} chm_d = ${value(b, 'chm_x2')} - mean;`);
      b.line(s.second === 'sq' ? 'chm_s2 += chm_d * chm_d;' : `chm_s2 += ${fabsFn(A)}(chm_d);`);
    });
    b.line(`const ${A} q = chm_nrm_rowsum(chm_s2, chm_red);`);
    s.finish(b);
    loop(() => {
      const xv = value(b, 'xv');
      if (xv !== 'xv') b.line(`const ${A} xv = ${xv};`);
      s.element(b);
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// LayerNormalization / RMSNormalization

interface LnFlags {
  rms: boolean;
  acc: Acc;
  xT: DeviceType;
  sT: DeviceType;
  bT?: DeviceType;
  yT: DeviceType;
  meanT?: DeviceType;
  invT?: DeviceType;
  rank: number;
  /** fused pre-add x = a + b (both of x's dtype, rows broadcast by modulo); `sum`: x is also written out */
  pre?: { sum: boolean };
}

/** 'row': scale/bias indexed by the position in the row; 'general': broadcast strides over x. */
function layerNormKernel(f: LnFlags, variant: 'row' | 'general'): KernelSource {
  const b = new KernelBuilder(FAMILY, ROW_MAX_THREADS);
  const A = f.acc;
  const x = f.pre ? b.input('xa', f.xT.storage) : b.input('x', f.xT.storage);
  const xb = f.pre ? b.input('xb', f.xT.storage) : undefined;
  const sc = b.input('scale', f.sT.storage);
  const bi = f.bT ? b.input('bias', f.bT.storage) : undefined;
  const y = b.output('y', f.yT.storage);
  const mo = f.meanT ? b.output('mean_out', f.meanT.storage) : undefined;
  const io = f.invT ? b.output('inv_out', f.invT.storage) : undefined;
  const so = f.pre?.sum ? b.output('sum_out', f.xT.storage) : undefined;
  const rows = b.i64('rows');
  const n = b.i64('n');
  const eps = accParam(b, A, 'eps');
  const ra = f.pre ? b.i64('ra') : '';
  const rb = f.pre ? b.i64('rb') : '';
  let pre: RowBody['pre'];
  if (f.pre) {
    // the sum in x's math type, rounded to x's storage (what a separate Add would have stored)
    const M = f.xT.math;
    const sum = `(${M})(${f.xT.load(`${x}[chm_pa + j]`)}) + (${M})(${f.xT.load(`${xb}[chm_pb + j]`)})`;
    pre = {
      rowLines: [`const long long chm_pa = (r % ${ra}) * ${n}, chm_pb = (r % ${rb}) * ${n};`],
      value: `(${A})(${f.xT.load(f.xT.store(`(${M})(${sum})`))})`,
      write: so ? `${so}[o] = ${f.xT.store(`(${M})chm_v`)};` : undefined,
      readBack: so ? `(${A})(${f.xT.load(`${so}[o]`)})` : undefined,
    };
  }
  const dims = variant === 'general' ? b.i64s('d', f.rank) : [];
  const ss = variant === 'general' ? b.i64s('ss', f.rank) : [];
  const bs = variant === 'general' && bi ? b.i64s('bs', f.rank) : [];
  rowBody(b, {
    acc: A, xT: f.xT, x, rows, n, layout: { kind: 'contig' }, center: !f.rms, second: 'sq', pre,
    finish: (b) => {
      b.line(`const ${A} inv = (${A})1 / ${sqrtFn(A)}(q / (${A})${n} + ${eps});`);
      if (mo || io) {
        b.block('if (act && threadIdx.x == 0)', () => {
          if (mo && f.meanT) b.line(`${mo}[r] = ${f.meanT.store(`(${f.meanT.math})mean`)};`);
          if (io && f.invT) b.line(`${io}[r] = ${f.invT.store(`(${f.invT.math})inv`)};`);
        });
      }
    },
    element: (b) => {
      let sIdx = 'j';
      let bIdx = 'j';
      if (variant === 'general') {
        b.line('const long long chm_k = o;');
        offsetFromLinear(b, 'chm_k', dims, bi ? [ss, bs] : [ss], bi ? ['chm_os', 'chm_ob'] : ['chm_os']);
        sIdx = 'chm_os';
        bIdx = 'chm_ob';
      }
      const s = `(${A})(${f.sT.load(`${sc}[${sIdx}]`)})`;
      const bb = bi && f.bT ? ` + (${A})(${f.bT.load(`${bi}[${bIdx}]`)})` : '';
      b.line(`${y}[o] = ${f.yT.store(`(${f.yT.math})((xv - mean) * inv * ${s}${bb})`)};`);
    },
  });
  return b.build();
}

/** Whether a parameter broadcast to x reads element j of every row (dims >= axis contiguous, dims < axis broadcast). */
function rowIndexed(p: readonly number[], x: readonly number[], axis: number): boolean {
  const bs = broadcastStrides(p, x);
  const cs = contiguousStrides(x);
  return x.every((d, i) => d === 1 || (i < axis ? bs[i] === 0 : bs[i] === cs[i]));
}

function checkBroadcast(p: readonly number[], x: readonly number[], what: string): void {
  const off = x.length - p.length;
  if (off < 0 || p.some((d, k) => d !== 1 && d !== x[off + k])) {
    unsupported(`${what} shape [${p.join(',')}] does not broadcast to the input shape [${x.join(',')}]`);
  }
}

/**
 * A residual Add fused into LayerNormalization / RMSNormalization by the engine: the norm's input X is
 * Add(ctx.inputs[a], ctx.inputs[b]), computed in the kernel (rounded to X's dtype, as the Add would store
 * it) and, when `sum` is given, also written to ctx.outputs[sum] (the residual stream read later).
 * ctx.inputs[0] describes X (the sum: dtype and shape) but is not read. Each Add operand has X's dtype and
 * is X's shape or a leading-dims broadcast of it that covers the normalized dims ([1,S,H] added to
 * [B,S,H]); anything else is Unsupported (the engine then runs the two nodes separately).
 */
export interface FusedNormPreAdd {
  a: number;
  b: number;
  sum?: number;
}

/** rows of an Add operand broadcast over X's leading dims (X's row r reads operand row r % result), or undefined */
function preAddRows(p: readonly number[], xs: readonly number[], axis: number): number | undefined {
  const off = xs.length - p.length;
  if (off < 0) return undefined;
  // the operand's dims, right-aligned: a run of 1s, then exactly X's dims from some split point ≤ axis
  let split = xs.length;
  while (split > 0 && split - 1 >= off && p[split - 1 - off] === xs[split - 1]) split--;
  for (let d = off; d < split; d++) if (p[d - off] !== 1) return undefined;
  if (split > axis) {
    // the matched part stops inside the normalized dims: only fine when what is left is all 1s in X too
    for (let d = axis; d < split; d++) if (xs[d] !== 1) return undefined;
    split = axis;
  }
  return prod(xs, split, axis);
}

function lowerLayerNorm(ctx: LowerContext, rms: boolean, preAdd?: FusedNormPreAdd): Lowered {
  const node = ctx.node;
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const sD = ctx.inputs[1];
  const sT = floatType(sD, 'scale');
  const bD = rms ? undefined : ctx.inputs[2];
  const bT = bD ? floatType(bD, 'bias') : undefined;
  const yT = floatType(ctx.outputs[0], 'output Y');
  const wantMean = !rms && hasOutput(ctx, 1);
  const wantInv = !rms && hasOutput(ctx, 2);
  const meanT = wantMean ? floatType(ctx.outputs[1], 'output Mean') : undefined;
  const invT = wantInv ? floatType(ctx.outputs[2], 'output InvStdDev') : undefined;
  const xs = xD!.shape;
  const rank = xs.length;
  const axis = normAxis(node.int('axis', -1), rank);
  const stash = node.int('stash_type', 1);
  const acc: Acc = stash === 11 ? 'double' : accOf(xD!.dtype, ctx.outputs[1]?.dtype, ctx.outputs[2]?.dtype);
  checkBroadcast(sD!.shape, xs, 'scale');
  if (bD) checkBroadcast(bD.shape, xs, 'bias');
  let preRows: [number, number] | undefined;
  if (preAdd) {
    const ops = [preAdd.a, preAdd.b].map((k) => ctx.inputs[k]);
    if (ops.some((d) => !d || d.dtype !== xD!.dtype)) unsupported(`the fused Add's operands must have X's dtype ${xD!.dtype}`);
    if (preAdd.sum !== undefined) {
      const sd = ctx.outputs[preAdd.sum];
      if (!sd || sd.dtype !== xD!.dtype || sd.shape.length !== rank || sd.shape.some((d, i) => d !== xs[i])) unsupported("the fused Add's output must be X");
    }
    const r = ops.map((d) => preAddRows(d!.shape, xs, axis));
    if (r[0] === undefined || r[1] === undefined) {
      unsupported(`Add operands [${ops[0]!.shape.join(',')}] + [${ops[1]!.shape.join(',')}] do not broadcast to X [${xs.join(',')}] by leading dims only`);
    }
    preRows = [Math.max(1, r[0]!), Math.max(1, r[1]!)];
  }
  const flags: LnFlags = { rms, acc, xT, sT, bT, yT, meanT, invT, rank, pre: preAdd ? { sum: preAdd.sum !== undefined } : undefined };
  const row = layerNormKernel(flags, 'row');
  const general = layerNormKernel(flags, 'general');
  const rows = prod(xs, 0, axis);
  const n = prod(xs, axis);
  if (rows === 0 || (n === 0 && !wantMean && !wantInv)) return { launches: [], variants: [row, general] };
  const useRow = rowIndexed(sD!.shape, xs, axis) && (!bD || rowIndexed(bD.shape, xs, axis));
  const ptrs: ArgRef[] = preAdd ? [{ in: preAdd.a }, { in: preAdd.b }, { in: 1 }] : [{ in: 0 }, { in: 1 }];
  if (bD) ptrs.push({ in: 2 });
  ptrs.push({ out: 0 });
  if (wantMean) ptrs.push({ out: 1 });
  if (wantInv) ptrs.push({ out: 2 });
  if (preAdd?.sum !== undefined) ptrs.push({ out: preAdd.sum });
  const args: ArgRef[] = [...ptrs, a64(rows), a64(n), accArg(acc, node.float('epsilon', 1e-5))];
  if (preRows) args.push(a64(preRows[0]), a64(preRows[1]));
  if (!useRow) {
    args.push(...xs.map(a64), ...broadcastStrides(sD!.shape, xs).map(a64));
    if (bD) args.push(...broadcastStrides(bD.shape, xs).map(a64));
  }
  const kernel = useRow ? row : general;
  return { launches: [{ kernel, ...rowGeometry(n, rows), args }], variants: [useRow ? general : row] };
}

/** Lowers a LayerNormalization / RMSNormalization node (ctx.node) whose input X is a fused Add (see FusedNormPreAdd). */
export function lowerNormWithPreAdd(ctx: LowerContext, preAdd: FusedNormPreAdd): Lowered {
  const { op, domain } = ctx.node;
  if (domain !== '' || (op !== 'LayerNormalization' && op !== 'RMSNormalization')) return unsupported(`${op} takes no fused pre-add`);
  return lowerLayerNorm(ctx, op === 'RMSNormalization', preAdd);
}

// ---------------------------------------------------------------------------------------------------
// GroupNormalization / InstanceNormalization: rows are (n, group) runs of cpg*S contiguous elements

function channelNormKernel(acc: Acc, xT: DeviceType, sT: DeviceType, bT: DeviceType, yT: DeviceType): KernelSource {
  const b = new KernelBuilder(FAMILY, ROW_MAX_THREADS);
  const x = b.input('x', xT.storage);
  const sc = b.input('scale', sT.storage);
  const bi = b.input('bias', bT.storage);
  const y = b.output('y', yT.storage);
  const rows = b.i64('rows');
  const n = b.i64('n');
  const S = b.i64('S');
  const cpg = b.i64('cpg');
  const G = b.i64('G');
  const eps = accParam(b, acc, 'eps');
  rowBody(b, {
    acc, xT, x, rows, n, layout: { kind: 'contig' }, center: true, second: 'sq',
    finish: (b) => {
      b.line(`const ${acc} inv = (${acc})1 / ${sqrtFn(acc)}(q / (${acc})${n} + ${eps});`);
      b.line(`const long long chm_c0 = (r % ${G}) * ${cpg};`);
    },
    element: (b) => {
      b.line(`const long long ch = chm_c0 + j / ${S};`);
      b.line(`${y}[o] = ${yT.store(`(${yT.math})((xv - mean) * inv * (${acc})(${sT.load(`${sc}[ch]`)}) + (${acc})(${bT.load(`${bi}[ch]`)}))`)};`);
    },
  });
  return b.build();
}

function lowerChannelNorm(ctx: LowerContext, groups: number | undefined): Lowered {
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const sT = floatType(ctx.inputs[1], 'scale');
  const bT = floatType(ctx.inputs[2], 'bias');
  const yT = floatType(ctx.outputs[0], 'output Y');
  const xs = xD!.shape;
  if (xs.length < 2) unsupported(`input must have rank >= 2, got [${xs.join(',')}]`);
  const [N, C] = xs;
  const G = groups ?? C;
  if (G <= 0 || C % G !== 0) unsupported(`num_groups ${G} must divide the channel count ${C}`);
  const sN = elementCount(ctx.inputs[1]!.shape);
  const bN = elementCount(ctx.inputs[2]!.shape);
  if (sN !== C || bN !== C) unsupported(`scale/bias must have ${C} elements (per channel), got ${sN} and ${bN}`);
  const acc = accOf(xD!.dtype);
  const kernel = channelNormKernel(acc, xT, sT, bT, yT);
  const S = prod(xs, 2);
  const cpg = C / G;
  const rows = N * G;
  const n = cpg * S;
  if (elementCount(xs) === 0) return { launches: [], variants: [kernel] };
  const eps = ctx.node.float('epsilon', 1e-5);
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }, { in: 2 }, { out: 0 }, a64(rows), a64(n), a64(S), a64(cpg), a64(G), accArg(acc, eps)];
  return { launches: [{ kernel, ...rowGeometry(n, rows), args }] };
}

// ---------------------------------------------------------------------------------------------------
// MeanVarianceNormalization: y = (x - mean) / (sqrt(var) + 1e-9) over `axes`

function mvnKernel(acc: Acc, xT: DeviceType, yT: DeviceType, rank: number): KernelSource {
  const b = new KernelBuilder(FAMILY, ROW_MAX_THREADS);
  const x = b.input('x', xT.storage);
  const y = b.output('y', yT.storage);
  const rows = b.i64('rows');
  const n = b.i64('n');
  const kept = b.i64s('ke', rank);
  const red = b.i64s('re', rank);
  const strides = b.i64s('st', rank);
  rowBody(b, {
    acc, xT, x, rows, n, layout: { kind: 'strided', kept, red, strides }, center: true, second: 'sq',
    finish: (b) => b.line(`const ${acc} den = ${sqrtFn(acc)}(q / (${acc})${n}) + (${acc})1e-9;`),
    element: (b) => b.line(`${y}[o] = ${yT.store(`(${yT.math})((xv - mean) / den)`)};`),
  });
  return b.build();
}

function lowerMvn(ctx: LowerContext): Lowered {
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const yT = floatType(ctx.outputs[0], 'output Y');
  const xs = xD!.shape;
  const rank = xs.length;
  const axes = [...new Set(ctx.node.ints('axes', [0, 2, 3]).map((a) => normAxis(a, rank)))].sort((p, q) => p - q);
  const acc = accOf(xD!.dtype);
  const kernel = mvnKernel(acc, xT, yT, rank);
  if (elementCount(xs) === 0) return { launches: [], variants: [kernel] };
  const ke = xs.map((d, i) => (axes.includes(i) ? 1 : d));
  const re = xs.map((d, i) => (axes.includes(i) ? d : 1));
  const rows = elementCount(ke);
  const n = elementCount(re);
  const args: ArgRef[] = [{ in: 0 }, { out: 0 }, a64(rows), a64(n), ...ke.map(a64), ...re.map(a64), ...contiguousStrides(xs).map(a64)];
  return { launches: [{ kernel, ...rowGeometry(n, rows), args }] };
}

// ---------------------------------------------------------------------------------------------------
// LpNormalization: y = x / ||lane||_p along axis (a zero norm gives zeros)

function lpBlockKernel(acc: Acc, xT: DeviceType, yT: DeviceType, p: number): KernelSource {
  const b = new KernelBuilder(FAMILY, ROW_MAX_THREADS);
  const x = b.input('x', xT.storage);
  const y = b.output('y', yT.storage);
  const rows = b.i64('rows');
  const n = b.i64('n');
  const inner = b.i64('inner');
  rowBody(b, {
    acc, xT, x, rows, n, layout: { kind: 'lane', inner }, center: false, second: p === 1 ? 'abs' : 'sq',
    finish: (b) => b.line(`const ${acc} nrm = ${p === 1 ? 'q' : `${sqrtFn(acc)}(q)`};`),
    element: (b) => b.line(`${y}[o] = ${yT.store(`(${yT.math})(nrm != (${acc})0 ? xv / nrm : (${acc})0)`)};`),
  });
  return b.build();
}

/** one thread per lane (coalesced when inner is large): used for short lanes with a wide inner extent */
function lpLaneKernel(acc: Acc, xT: DeviceType, yT: DeviceType, p: number): KernelSource {
  const b = new KernelBuilder(FAMILY);
  const x = b.input('x', xT.storage);
  const y = b.output('y', yT.storage);
  const lanes = b.i64('lanes');
  const n = b.i64('n');
  const inner = b.i64('inner');
  const load = `(${acc})(${xT.load(`${x}[base + k * ${inner}]`)})`;
  b.gridStride(lanes, () => {
    b.line(`const long long base = (i / ${inner}) * ${n} * ${inner} + i % ${inner};`);
    b.line(`${acc} s = (${acc})0;`);
    b.block(`for (long long k = 0; k < ${n}; k++)`, () => {
      b.line(`const ${acc} v = ${load};`);
      b.line(p === 1 ? `s += ${fabsFn(acc)}(v);` : 's += v * v;');
    });
    b.line(`const ${acc} nrm = ${p === 1 ? 's' : `${sqrtFn(acc)}(s)`};`);
    b.block(`for (long long k = 0; k < ${n}; k++)`, () => {
      b.line(`const ${acc} v = ${load};`);
      b.line(`${y}[base + k * ${inner}] = ${yT.store(`(${yT.math})(nrm != (${acc})0 ? v / nrm : (${acc})0)`)};`);
    });
  });
  return b.build();
}

function lowerLp(ctx: LowerContext): Lowered {
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const yT = floatType(ctx.outputs[0], 'output Y');
  const xs = xD!.shape;
  const axis = normAxis(ctx.node.int('axis', -1), xs.length);
  const p = ctx.node.int('p', 2);
  if (p !== 1 && p !== 2) unsupported(`p must be 1 or 2, got ${p}`);
  const acc = accOf(xD!.dtype);
  const blockK = lpBlockKernel(acc, xT, yT, p);
  const laneK = lpLaneKernel(acc, xT, yT, p);
  if (elementCount(xs) === 0) return { launches: [], variants: [blockK, laneK] };
  const n = xs.length ? xs[axis] : 1;
  const inner = prod(xs, axis + 1);
  const lanes = prod(xs, 0, axis) * inner;
  if (inner >= 32 && n <= 4096) {
    return { launches: [{ kernel: laneK, ...grid1d(lanes), args: [{ in: 0 }, { out: 0 }, a64(lanes), a64(n), a64(inner)] }], variants: [blockK] };
  }
  return { launches: [{ kernel: blockK, ...rowGeometry(n, lanes), args: [{ in: 0 }, { out: 0 }, a64(lanes), a64(n), a64(inner)] }], variants: [laneK] };
}

// ---------------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c]

function batchNormKernel(acc: Acc, xT: DeviceType, ts: DeviceType[], yT: DeviceType): KernelSource {
  const b = new KernelBuilder(FAMILY);
  const x = b.input('x', xT.storage);
  const [sT, bT, mT, vT] = ts;
  const sc = b.input('scale', sT.storage);
  const bi = b.input('bias', bT.storage);
  const mu = b.input('mean', mT.storage);
  const va = b.input('var', vT.storage);
  const y = b.output('y', yT.storage);
  const total = b.i64('total');
  const C = b.i64('C');
  const S = b.i64('S');
  const eps = accParam(b, acc, 'eps');
  b.gridStride(total, () => {
    b.line(`const long long c = (i / ${S}) % ${C};`);
    b.line(`const ${acc} a = (${acc})(${sT.load(`${sc}[c]`)}) / ${sqrtFn(acc)}((${acc})(${vT.load(`${va}[c]`)}) + ${eps});`);
    b.line(`const ${acc} sh = (${acc})(${bT.load(`${bi}[c]`)}) - (${acc})(${mT.load(`${mu}[c]`)}) * a;`);
    b.line(`${y}[i] = ${yT.store(`(${yT.math})((${acc})(${xT.load(`${x}[i]`)}) * a + sh)`)};`);
  });
  return b.build();
}

function lowerBatchNorm(ctx: LowerContext): Lowered {
  const node = ctx.node;
  if (node.int('training_mode', 0) !== 0) unsupported('training_mode=1 (batch statistics and running mean/var updates) runs on the host');
  if (node.outputs.slice(1).some((o) => o !== '')) unsupported('BatchNormalization in inference mode with extra outputs');
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const names = ['scale', 'B', 'input_mean', 'input_var'];
  const ts = names.map((w, k) => floatType(ctx.inputs[k + 1], w));
  const yT = floatType(ctx.outputs[0], 'output Y');
  const xs = xD!.shape;
  const C = xs.length >= 2 ? xs[1] : 1;
  const S = prod(xs, 2);
  for (let k = 1; k <= 4; k++) {
    const m = elementCount(ctx.inputs[k]!.shape);
    if (m !== C) unsupported(`${names[k - 1]} must have ${C} elements, got ${m}`);
  }
  const acc = accOf(xD!.dtype);
  const kernel = batchNormKernel(acc, xT, ts, yT);
  const total = elementCount(xs);
  if (total === 0) return { launches: [], variants: [kernel] };
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }, { in: 2 }, { in: 3 }, { in: 4 }, { out: 0 }, a64(total), a64(C), a64(S), accArg(acc, node.float('epsilon', 1e-5))];
  return { launches: [{ kernel, ...grid1d(total), args }] };
}

// ---------------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha/size * sum of x^2 over the channel window)^beta

function lrnKernel(acc: Acc, xT: DeviceType, yT: DeviceType): KernelSource {
  const b = new KernelBuilder(FAMILY);
  const x = b.input('x', xT.storage);
  const y = b.output('y', yT.storage);
  const total = b.i64('total');
  const C = b.i64('C');
  const S = b.i64('S');
  const lo = b.i64('lo');
  const hi = b.i64('hi');
  const aos = accParam(b, acc, 'alpha_over_size');
  const beta = accParam(b, acc, 'beta');
  const bias = accParam(b, acc, 'bias');
  const pow = acc === 'double' ? 'pow' : 'powf';
  b.gridStride(total, () => {
    b.line(`const long long s = i % ${S};`);
    b.line(`const long long nc = i / ${S};`);
    b.line(`const long long c = nc % ${C};`);
    b.line(`const long long nb = (nc - c) * ${S} + s;`);
    b.line(`const long long c0 = c - ${lo} < 0 ? 0 : c - ${lo};`);
    b.line(`const long long c1 = c + ${hi} > ${C} - 1 ? ${C} - 1 : c + ${hi};`);
    b.line(`${acc} sq = (${acc})0;`);
    b.block('for (long long cc = c0; cc <= c1; cc++)', () => {
      b.line(`const ${acc} v = (${acc})(${xT.load(`${x}[nb + cc * ${S}]`)});`);
      b.line('sq += v * v;');
    });
    b.line(`${y}[i] = ${yT.store(`(${yT.math})((${acc})(${xT.load(`${x}[i]`)}) / ${pow}(${bias} + ${aos} * sq, ${beta}))`)};`);
  });
  return b.build();
}

function lowerLrn(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const xD = ctx.inputs[0];
  const xT = floatType(xD, 'input X');
  const yT = floatType(ctx.outputs[0], 'output Y');
  const xs = xD!.shape;
  if (xs.length < 2) unsupported(`input must have rank >= 2, got [${xs.join(',')}]`);
  const size = node.int('size');
  if (size <= 0) unsupported(`size must be positive, got ${size}`);
  const acc = accOf(xD!.dtype);
  const kernel = lrnKernel(acc, xT, yT);
  const total = elementCount(xs);
  if (total === 0) return { launches: [], variants: [kernel] };
  const alpha = node.float('alpha', 1e-4);
  const beta = node.float('beta', 0.75);
  const bias = node.float('bias', 1);
  const lo = Math.floor((size - 1) / 2);
  const hi = Math.ceil((size - 1) / 2);
  const args: ArgRef[] = [{ in: 0 }, { out: 0 }, a64(total), a64(xs[1]), a64(prod(xs, 2)), a64(lo), a64(hi), accArg(acc, alpha / size), accArg(acc, beta), accArg(acc, bias)];
  return { launches: [{ kernel, ...grid1d(total), args }] };
}

registerLowerings({
  LayerNormalization: { lower: (ctx) => lowerLayerNorm(ctx, false) },
  RMSNormalization: { lower: (ctx) => lowerLayerNorm(ctx, true) },
  GroupNormalization: { lower: (ctx) => lowerChannelNorm(ctx, ctx.node.int('num_groups')) },
  InstanceNormalization: { lower: (ctx) => lowerChannelNorm(ctx, undefined) },
  MeanVarianceNormalization: { lower: lowerMvn },
  LpNormalization: { lower: lowerLp },
  BatchNormalization: { lower: lowerBatchNorm },
  LRN: { lower: lowerLrn },
});
