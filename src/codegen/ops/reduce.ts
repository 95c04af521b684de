/**
 * Reductions: Reduce* (Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare), ArgMax/ArgMin
 * and the scans CumSum/CumProd. Semantics follow src/ref/kernels/reduce.ts and reduce-index.ts.
 *
 * Reduce*: the input's dims are merged as the reference does (size-1 dims dropped, adjacent dims of the
 * same kind — kept or reduced — merged), giving at most ceil(rank/2) kept and ceil(rank/2) reduced dims;
 * they are padded to that count (size 1, stride 0) and passed as i64 arguments, so the kernel text depends
 * only on op, dtype and rank (not on the axes or dims). Two variants, both always built:
 * - block:  one 256-thread block per output element, strided partial results, shared-memory tree;
 * - thread: one thread per output element, sequential loop (coalesced when the innermost dim is kept,
 *           and the right choice for short reductions).
 * Accumulation: float for fp16/bf16/fp32, double for fp64; integer sum/prod/l1/sumsq wrap in 32-bit
 * (64-bit for int64/uint64) unsigned arithmetic, as the reference's int32/bigint wrap does modulo the
 * output width; integer mean/l2/logsum/logsumexp go through double and truncate (int64 mean is exact).
 * Max/Min propagate NaN. Empty reductions give the reference's identities.
 *
 * ArgMax/ArgMin: [outer, n, inner] around the axis; thread-per-output and block-per-output variants with
 * the reference's rules (first NaN wins; ties by select_last_index).
 *
 * CumSum/CumProd: one thread per lane along the axis, sequential (exactly the reference's order; fp32
 * accumulates in double, fp16/bf16 round the running value to the dtype after every step like the ref).
 */
import { deviceType, dt, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, grid1d, registerLowerings, unsupported, type LowerContext, type Lowered } from '../lowering.js';
import { mergeReduceDims } from '../../ref/kernels/reduce.js';

type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'l1' | 'l2' | 'logsum' | 'logsumexp' | 'sumsq';

const RBLOCK = 256;
/** cap on blocks of a block-per-output launch (a grid-stride loop over outputs covers the rest) */
const MAX_BLOCKS = 65535 * 8;

function inputType(ctx: LowerContext, what: string): DeviceType {
  const x = ctx.inputs[0];
  if (!x) unsupported(`${what}: missing input`);
  const t = deviceType(x.dtype);
  if (!t) unsupported(`${what} on ${x.dtype} has no device type`);
  return t;
}

// ---------------------------------------------------------------------------------------------------
// Reduce*: per-op accumulation spec

interface ReduceSpec {
  /** C type of the accumulator */
  acc: string;
  /** identity of the combine, in acc */
  init: string;
  /** loaded element (math type expression) → acc value */
  pre(v: string): string;
  /** combine two acc values (an expression) */
  comb(a: string, b: string): string;
  /** final result (from acc `a` and the i64 count `n`) as a statement list assigning the stored value to `dst` */
  fin(a: string, n: string, dst: string): string;
}

const fmath = (acc: string, name: string) => (acc === 'double' ? name : `${name}f`);

/** NaN-propagating max/min in the reference's form: (v > a || v is NaN) ? v : a */
function pickExpr(isMax: boolean, nanCheck: boolean) {
  return (a: string, b: string) => `((${b} ${isMax ? '>' : '<'} ${a}${nanCheck ? ` || ${b} != ${b}` : ''}) ? ${b} : ${a})`;
}

/** store of a double result into an integer output: truncated when finite, else 0 (the ref's rule) */
function intFromDouble(t: DeviceType, r: string): string {
  const via = t.kind === 'uint' && t.bytes === 8 ? 'unsigned long long' : 'long long';
  return `(isfinite(${r}) ? (${t.storage})(${via})trunc(${r}) : (${t.storage})0)`;
}

function reduceSpec(op: ReduceOp, t: DeviceType): ReduceSpec | undefined {
  if (t.kind === 'bool' && op !== 'max' && op !== 'min') return undefined;
  if (t.kind === 'float') {
    const A = t.math; // float, or double for float64
    const lit = (v: number) => literal(t, v);
    const f = (name: string, x: string) => `${fmath(A, name)}(${x})`;
    const store = (dst: string, e: string) => `${dst} = ${t.store(e)};`;
    const base = { acc: A, init: lit(0), pre: (v: string) => v, comb: (a: string, b: string) => `${a} + ${b}`, fin: (a: string, _n: string, dst: string) => store(dst, a) };
    switch (op) {
      case 'sum': return base;
      case 'mean': return { ...base, fin: (a, n, dst) => store(dst, `${a} / (${A})${n}`) };
      case 'max': return { ...base, init: lit(-Infinity), comb: pickExpr(true, true) };
      case 'min': return { ...base, init: lit(Infinity), comb: pickExpr(false, true) };
      case 'prod': return { ...base, init: lit(1), comb: (a, b) => `${a} * ${b}` };
      case 'l1': return { ...base, pre: (v) => f('fabs', v) };
      case 'sumsq': return { ...base, pre: (v) => `${v} * ${v}` };
      case 'l2': return { ...base, pre: (v) => `${v} * ${v}`, fin: (a, _n, dst) => store(dst, f('sqrt', a)) };
      case 'logsum': return { ...base, fin: (a, _n, dst) => store(dst, f('log', a)) };
      case 'logsumexp': return base; // handled specially (two passes)
    }
  }
  // integer and bool types
  const T = t.math;
  const wide = t.bytes === 8;
  const U = wide ? 'unsigned long long' : 'unsigned int';
  const signed = t.kind === 'int';
  const wrapSum = { acc: U, init: `(${U})0`, pre: (v: string) => `(${U})(${v})`, comb: (a: string, b: string) => `${a} + ${b}`, fin: (a: string, _n: string, dst: string) => `${dst} = (${t.storage})(${a});` };
  const viaDouble = { acc: 'double', init: '0.0', pre: (v: string) => `(double)(${v})`, comb: (a: string, b: string) => `${a} + ${b}` };
  switch (op) {
    case 'sum': return wrapSum;
    case 'prod': return { ...wrapSum, init: `(${U})1`, comb: (a, b) => `${a} * ${b}` };
    case 'l1': return { ...wrapSum, pre: (v) => (signed ? `((${v}) < 0 ? (${U})0 - (${U})(${v}) : (${U})(${v}))` : `(${U})(${v})`) };
    case 'sumsq': return { ...wrapSum, pre: (v) => `(${U})(${v}) * (${U})(${v})` };
    case 'max':
    case 'min': {
      const bool = t.kind === 'bool';
      const lo = bool ? 0n : signed ? -(1n << BigInt(t.bytes * 8 - 1)) : 0n;
      const hi = bool ? 1n : signed ? (1n << BigInt(t.bytes * 8 - 1)) - 1n : (1n << BigInt(t.bytes * 8)) - 1n;
      return {
        acc: T, init: literal(t, op === 'max' ? lo : hi), pre: (v) => v, comb: pickExpr(op === 'max', false),
        fin: (a, _n, dst) => `${dst} = ${t.store(a)};`,
      };
    }
    case 'mean':
      if (wide) {
        // exact: wrapping 64-bit sum, then truncating division (0 for an empty reduction)
        return {
          ...wrapSum,
          fin: (a, n, dst) => `${dst} = ${n} == 0 ? (${t.storage})0 : (${t.storage})(${signed ? `(long long)(${a}) / (long long)${n}` : `${a} / (unsigned long long)${n}`});`,
        };
      }
      return { ...viaDouble, fin: (a, n, dst) => `{ const double chm_r = ${a} / (double)${n}; ${dst} = ${intFromDouble(t, 'chm_r')}; }` };
    case 'l2': return { ...viaDouble, pre: (v) => `(double)(${v}) * (double)(${v})`, fin: (a, _n, dst) => `{ const double chm_r = sqrt(${a}); ${dst} = ${intFromDouble(t, 'chm_r')}; }` };
    case 'logsum': return { ...viaDouble, fin: (a, _n, dst) => `{ const double chm_r = log(${a}); ${dst} = ${intFromDouble(t, 'chm_r')}; }` };
    case 'logsumexp': return { ...viaDouble, fin: (a, _n, dst) => `${dst} = ${intFromDouble(t, a)};` };
  }
}

/** the accumulation type and store of a LogSumExp (computed as max, then sum of exp(x - max)) */
function lseTypes(t: DeviceType): { A: string; store: (dst: string, e: string) => string } {
  if (t.kind === 'float') return { A: t.math, store: (dst, e) => `${dst} = ${t.store(e)};` };
  return { A: 'double', store: (dst, e) => `{ const double chm_r = ${e}; ${dst} = ${intFromDouble(t, 'chm_r')}; }` };
}

/** emits `long long <off> = offset of linear index <idx> over dims (sizes, strides)` (outermost first) */
function emitDecompose(b: KernelBuilder, idx: string, sizes: string[], strides: string[], off: string): void {
  const k = sizes.length;
  b.line(`long long ${off} = 0;`);
  b.block('', () => {
    b.line(`long long chm_q = ${idx};`);
    for (let d = k - 1; d >= 0; d--) {
      if (d > 0) b.line(`${off} += (chm_q % ${sizes[d]}) * ${strides[d]}; chm_q /= ${sizes[d]};`);
      else b.line(`${off} += chm_q * ${strides[d]};`);
    }
  });
}

type ReduceVariant = 'block' | 'thread';

function buildReduce(op: ReduceOp, t: DeviceType, nd: number, variant: ReduceVariant): KernelSource {
  const spec = reduceSpec(op, t)!;
  const b = new KernelBuilder('reduce', RBLOCK);
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const nout = b.i64('nout');
  const count = b.i64('count');
  const ks = b.i64s('ks', nd);
  const kst = b.i64s('kst', nd);
  const rs = b.i64s('rs', nd);
  const rst = b.i64s('rst', nd);
  const load = (off: string) => t.load(`${x}[${off}]`);
  const lse = op === 'logsumexp';
  const L = lseTypes(t);
  const maxC = pickExpr(true, t.kind === 'float');
  const expF = (e: string) => `${fmath(L.A, 'exp')}(${e})`;
  const logF = (e: string) => `${fmath(L.A, 'log')}(${e})`;
  const lseFin = (m: string, s: string, dst: string) => L.store(dst, `(isfinite(${m}) ? ${logF(s)} + ${m} : ${m})`);

  if (variant === 'thread') {
    b.gridStride(nout, () => {
      emitDecompose(b, 'i', ks, kst, 'base');
      if (lse) {
        b.line(`${L.A} m = ${literal(t.kind === 'float' ? t : dt('float64'), -Infinity)};`);
        b.block(`for (long long r = 0; r < ${count}; r++)`, () => {
          emitDecompose(b, 'r', rs, rst, 'ro');
          b.line(`const ${L.A} v = (${L.A})(${load('base + ro')});`, `m = ${maxC('m', 'v')};`);
        });
        b.line(`${L.A} s = 0;`);
        b.block(`for (long long r = 0; r < ${count}; r++)`, () => {
          emitDecompose(b, 'r', rs, rst, 'ro');
          b.line(`s += ${expF(`(${L.A})(${load('base + ro')}) - m`)};`);
        });
        b.line(lseFin('m', 's', `${y}[i]`));
      } else {
        b.line(`${spec.acc} a = ${spec.init};`);
        b.block(`for (long long r = 0; r < ${count}; r++)`, () => {
          emitDecompose(b, 'r', rs, rst, 'ro');
          b.line(`const ${spec.acc} v = ${spec.pre(load('base + ro'))};`, `a = ${spec.comb('a', 'v')};`);
        });
        b.line(spec.fin('a', count, `${y}[i]`));
      }
    });
    return b.build();
  }

  // block per output: strided partials, then a tree in shared memory (blockDim.x == 256, a power of two)
  const A = lse ? L.A : spec.acc;
  b.shared(`${A} chm_sh[${RBLOCK}]`);
  const tree = (comb: (a: string, b: string) => string) => {
    b.line('chm_sh[threadIdx.x] = a;', '__syncthreads();');
    b.block('for (int w = blockDim.x >> 1; w > 0; w >>= 1)', () => {
      b.line(`if ((int)threadIdx.x < w) { const ${A} p = chm_sh[threadIdx.x]; const ${A} q = chm_sh[threadIdx.x + w]; chm_sh[threadIdx.x] = ${comb('p', 'q')}; }`, '__syncthreads();');
    });
  };
  b.block(`for (long long o = blockIdx.x; o < ${nout}; o += gridDim.x)`, () => {
    emitDecompose(b, 'o', ks, kst, 'base');
    if (lse) {
      b.line(`${A} a = ${literal(t.kind === 'float' ? t : dt('float64'), -Infinity)};`);
      b.block(`for (long long r = threadIdx.x; r < ${count}; r += blockDim.x)`, () => {
        emitDecompose(b, 'r', rs, rst, 'ro');
        b.line(`const ${A} v = (${A})(${load('base + ro')});`, `a = ${maxC('a', 'v')};`);
      });
      tree(maxC);
      b.line(`const ${A} m = chm_sh[0];`, '__syncthreads();', 'a = 0;');
      b.block(`for (long long r = threadIdx.x; r < ${count}; r += blockDim.x)`, () => {
        emitDecompose(b, 'r', rs, rst, 'ro');
        b.line(`a += ${expF(`(${A})(${load('base + ro')}) - m`)};`);
      });
      tree((p, q) => `${p} + ${q}`);
      b.line(`if (threadIdx.x == 0) ${lseFin('m', 'chm_sh[0]', `${y}[o]`)}`);
    } else {
      b.line(`${A} a = ${spec.init};`);
      b.block(`for (long long r = threadIdx.x; r < ${count}; r += blockDim.x)`, () => {
        emitDecompose(b, 'r', rs, rst, 'ro');
        b.line(`const ${A} v = ${spec.pre(load('base + ro'))};`, `a = ${spec.comb('a', 'v')};`);
      });
      tree(spec.comb);
      b.line(`if (threadIdx.x == 0) { const ${A} fa = chm_sh[0]; ${spec.fin('fa', count, `${y}[o]`)} }`);
    }
    b.line('__syncthreads();');
  });
  return b.build();
}

/** Merged kept/reduced dims of `shape` (as the reference's plan): size-1 dims dropped, runs merged. */
function mergeDims(shape: readonly number[], reduced: readonly boolean[]): { kept: { size: number; stride: number }[]; red: { size: number; stride: number }[] } {
  const merged = mergeReduceDims(shape, reduced);
  return {
    kept: merged.filter((m) => !m.red).map(({ size, stride }) => ({ size, stride })),
    red: merged.filter((m) => m.red).map(({ size, stride }) => ({ size, stride })),
  };
}

function padDims(ds: { size: number; stride: number }[], n: number): { size: number; stride: number }[] {
  if (ds.length > n) throw new Error(`reduce: ${ds.length} merged dims for ${n} slots`);
  return [...Array.from({ length: n - ds.length }, () => ({ size: 1, stride: 0 })), ...ds];
}

function lowerReduce(op: ReduceOp, ctx: LowerContext): Lowered {
  const opName = ctx.node.op;
  const t = inputType(ctx, opName);
  if (!reduceSpec(op, t)) unsupported(`${opName} on ${t.dtype}: the reference rejects it`);
  const shape = ctx.inputs[0]!.shape;
  const rank = shape.length;
  const noop = ctx.node.int('noop_with_empty_axes', 0) !== 0;
  const axesT = ctx.inputs[1] ? ctx.hostValue(1) : undefined;
  if (ctx.inputs[1] && !axesT) unsupported(`${opName}: axes are not known at plan time`);
  const axes = axesT ? axesT.toNumbers() : [];
  const reduced = new Array<boolean>(rank).fill(axes.length === 0 && !noop);
  for (const a of axes) {
    const n = a < 0 ? a + rank : a;
    if (!Number.isInteger(n) || n < 0 || n >= rank) unsupported(`${opName}: axis ${a} is out of range for rank ${rank} (the reference reports it)`);
    reduced[n] = true;
  }
  const nd = Math.max(1, Math.ceil(rank / 2));
  const kernels = { block: buildReduce(op, t, nd, 'block'), thread: buildReduce(op, t, nd, 'thread') };
  let count = 1;
  let nout = 1;
  shape.forEach((d, i) => { if (reduced[i]) count *= d; else nout *= d; });
  if (nout === 0) return { launches: [], variants: [kernels.block, kernels.thread] };
  const empty = count === 0;
  const m = empty ? { kept: [], red: [] } : mergeDims(shape, reduced);
  const kept = padDims(m.kept, nd);
  const red = padDims(m.red, nd);
  const innerReduced = !empty && m.red.length > 0 && m.red[m.red.length - 1].stride === 1;
  const useBlock = !empty && ((innerReduced && count >= 64) || (nout < 1024 && count >= 2048));
  const args = [{ in: 0 }, { out: 0 }, a64(nout), a64(count), ...kept.map((d) => a64(d.size)), ...kept.map((d) => a64(d.stride)), ...red.map((d) => a64(d.size)), ...red.map((d) => a64(d.stride))];
  if (useBlock) {
    return { launches: [{ kernel: kernels.block, grid: [Math.min(nout, MAX_BLOCKS), 1, 1], block: [RBLOCK, 1, 1], args }], variants: [kernels.thread] };
  }
  return { launches: [{ kernel: kernels.thread, ...grid1d(nout), args }], variants: [kernels.block] };
}

// ---------------------------------------------------------------------------------------------------
// ArgMax / ArgMin (also used by Hardmax through argBestKernel)

/**
 * The per-thread scan and block combine of an arg-max/min search over n elements at x[base + k*inner].
 * Rules (reference): the first NaN wins; otherwise the strictly better value, ties to the first index
 * (or the last with `last`).
 */
export function argHelpers(t: DeviceType, isMax: boolean, last: boolean, tag: string): string {
  const M = t.math;
  const nan = (v: string) => (t.kind === 'float' ? `(${v} != ${v})` : 'false');
  const better = isMax ? (last ? '>=' : '>') : (last ? '<=' : '<');
  const strict = isMax ? '>' : '<';
  return [
    `// ${tag}: (value, index) candidates; index < 0 means none`,
    `__device__ __forceinline__ void ${tag}_step(${M}& bv, long long& bi, ${M} v, long long k) {`,
    `  if (bi < 0) { bv = v; bi = k; return; }`,
    `  if (${nan('bv')}) return;`,
    `  if (${nan('v')} || v ${better} bv) { bv = v; bi = k; }`,
    `}`,
    `__device__ __forceinline__ void ${tag}_comb(${M}& av, long long& ai, ${M} bv, long long bi) {`,
    `  if (bi < 0) return;`,
    `  if (ai < 0) { av = bv; ai = bi; return; }`,
    `  const bool an = ${nan('av')}, bn = ${nan('bv')};`,
    `  bool take;`,
    `  if (an || bn) take = (an && bn) ? bi < ai : bn;`,
    `  else if (bv ${strict} av) take = true;`,
    `  else if (bv == av) take = ${last ? 'bi > ai' : 'bi < ai'};`,
    `  else take = false;`,
    `  if (take) { av = bv; ai = bi; }`,
    `}`,
  ].join('\n');
}

/**
 * Emits into `b` (inside a loop over lanes with base offset `base`) the search of lane elements
 * x[base + k*inner], k < n; leaves the best index in `long long best` (for the block variant, valid in
 * every thread after the block combine). Requires helpers `tag`.
 */
export function emitArgSearch(b: KernelBuilder, t: DeviceType, tag: string, x: string, n: string, inner: string, variant: 'thread' | 'block'): void {
  const M = t.math;
  if (variant === 'thread') {
    b.line(`${M} bv = ${literal(t, 0)}; long long best = -1;`);
    b.line(`for (long long k = 0; k < ${n}; k++) ${tag}_step(bv, best, ${t.load(`${x}[base + k * ${inner}]`)}, k);`);
    return;
  }
  b.line(`${M} bv = ${literal(t, 0)}; long long bi = -1;`);
  b.line(`for (long long k = threadIdx.x; k < ${n}; k += blockDim.x) ${tag}_step(bv, bi, ${t.load(`${x}[base + k * ${inner}]`)}, k);`);
  b.line('chm_sv[threadIdx.x] = bv; chm_si[threadIdx.x] = bi;', '__syncthreads();');
  b.block('for (int w = blockDim.x >> 1; w > 0; w >>= 1)', () => {
    b.block('if ((int)threadIdx.x < w)', () => {
      b.line(`${M} av = chm_sv[threadIdx.x]; long long ai = chm_si[threadIdx.x];`);
      b.line(`${tag}_comb(av, ai, chm_sv[threadIdx.x + w], chm_si[threadIdx.x + w]);`);
      b.line('chm_sv[threadIdx.x] = av; chm_si[threadIdx.x] = ai;');
    });
    b.line('__syncthreads();');
  });
  b.line('const long long best = chm_si[0];', '__syncthreads();');
}

function buildArg(t: DeviceType, isMax: boolean, last: boolean, variant: 'thread' | 'block'): KernelSource {
  const b = new KernelBuilder('argreduce', RBLOCK);
  const tag = 'chm_arg';
  b.helpers(argHelpers(t, isMax, last, tag));
  const x = b.input('x', t.storage);
  const y = b.output('y', 'long long');
  const nout = b.i64('nout');
  const n = b.i64('n');
  const inner = b.i64('inner');
  if (variant === 'thread') {
    b.gridStride(nout, () => {
      b.line(`const long long base = (i / ${inner}) * ${n} * ${inner} + i % ${inner};`);
      emitArgSearch(b, t, tag, x, n, inner, 'thread');
      b.line(`${y}[i] = best;`);
    });
  } else {
    b.shared(`${t.math} chm_sv[${RBLOCK}]`).shared(`long long chm_si[${RBLOCK}]`);
    b.block(`for (long long o = blockIdx.x; o < ${nout}; o += gridDim.x)`, () => {
      b.line(`const long long base = (o / ${inner}) * ${n} * ${inner} + o % ${inner};`);
      emitArgSearch(b, t, tag, x, n, inner, 'block');
      b.line(`if (threadIdx.x == 0) ${y}[o] = best;`);
    });
  }
  return b.build();
}

/** [outer, n, inner] around a normalized axis */
export function around(shape: readonly number[], axis: number): { outer: number; n: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, n: shape.length ? shape[axis] : 1, inner };
}

function lowerArg(isMax: boolean, ctx: LowerContext): Lowered {
  const opName = ctx.node.op;
  const t = inputType(ctx, opName);
  const shape = ctx.inputs[0]!.shape;
  const rank = shape.length;
  if (rank === 0) unsupported(`${opName}: rank-0 input (the reference reports it)`);
  const a0 = ctx.node.int('axis', 0);
  const axis = a0 < 0 ? a0 + rank : a0;
  if (axis < 0 || axis >= rank) unsupported(`${opName}: axis ${a0} is out of range (the reference reports it)`);
  const last = ctx.node.int('select_last_index', 0) !== 0;
  const kernels = { block: buildArg(t, isMax, last, 'block'), thread: buildArg(t, isMax, last, 'thread') };
  const { outer, n, inner } = around(shape, axis);
  if (n === 0) unsupported(`${opName}: empty axis (the reference reports it)`);
  const nout = outer * inner;
  if (nout === 0) return { launches: [], variants: [kernels.block, kernels.thread] };
  const args = [{ in: 0 }, { out: 0 }, a64(nout), a64(n), a64(inner)];
  if ((inner === 1 && n >= 64) || (nout < 1024 && n >= 2048)) {
    return { launches: [{ kernel: kernels.block, grid: [Math.min(nout, MAX_BLOCKS), 1, 1], block: [RBLOCK, 1, 1], args }], variants: [kernels.thread] };
  }
  return { launches: [{ kernel: kernels.thread, ...grid1d(nout), args }], variants: [kernels.block] };
}

// ---------------------------------------------------------------------------------------------------
// CumSum / CumProd

function buildScan(t: DeviceType, isProd: boolean, exclusive: boolean, reverse: boolean): KernelSource {
  const b = new KernelBuilder('scan', RBLOCK);
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const lanes = b.i64('lanes');
  const n = b.i64('n');
  const inner = b.i64('inner');
  let A: string;
  let toAcc: (e: string) => string;
  let store: (e: string) => string;
  let round = (e: string) => e;
  if (t.kind === 'float') {
    if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
      A = 'float';
      toAcc = (e) => t.load(e);
      store = (e) => t.store(e);
      round = (e) => t.load(t.store(e)); // the reference rounds the running value to the dtype each step
    } else {
      A = 'double';
      toAcc = (e) => `(double)(${e})`;
      store = (e) => `(${t.storage})(${e})`;
    }
  } else {
    A = t.bytes === 8 ? 'unsigned long long' : 'unsigned int';
    toAcc = (e) => `(${A})(${e})`;
    store = (e) => `(${t.storage})(${e})`;
  }
  b.gridStride(lanes, () => {
    b.line(`const long long base = (i / ${inner}) * ${n} * ${inner} + i % ${inner};`);
    b.line(`${A} acc = (${A})${isProd ? 1 : 0};`);
    b.block(`for (long long j = 0; j < ${n}; j++)`, () => {
      b.line(`const long long p = base + (${reverse ? `${n} - 1 - j` : 'j'}) * ${inner};`);
      if (exclusive) b.line(`${y}[p] = ${store('acc')};`);
      const next = isProd ? `acc * ${toAcc(`${x}[p]`)}` : `acc + ${toAcc(`${x}[p]`)}`;
      b.line(`acc = ${round(next)};`);
      if (!exclusive) b.line(`${y}[p] = ${store('acc')};`);
    });
  });
  return b.build();
}

function lowerScan(isProd: boolean, ctx: LowerContext): Lowered {
  const opName = ctx.node.op;
  const t = inputType(ctx, opName);
  if (t.kind === 'bool') unsupported(`${opName} on bool is not generated`);
  const shape = ctx.inputs[0]!.shape;
  const rank = shape.length;
  if (rank === 0) unsupported(`${opName}: rank-0 input (the reference reports it)`);
  const axisT = ctx.hostValue(1);
  if (!axisT) unsupported(`${opName}: axis is not known at plan time`);
  if (axisT.size !== 1) unsupported(`${opName}: axis must be a scalar (the reference reports it)`);
  const a0 = axisT.toNumbers()[0];
  const axis = a0 < 0 ? a0 + rank : a0;
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) unsupported(`${opName}: axis ${a0} is out of range (the reference reports it)`);
  const kernel = buildScan(t, isProd, ctx.node.int('exclusive', 0) !== 0, ctx.node.int('reverse', 0) !== 0);
  const { outer, n, inner } = around(shape, axis);
  const lanes = outer * inner;
  if (lanes === 0 || n === 0) return { launches: [] };
  return { launches: [{ kernel, ...grid1d(lanes), args: [{ in: 0 }, { out: 0 }, a64(lanes), a64(n), a64(inner)] }] };
}

// ---------------------------------------------------------------------------------------------------

const reduceLowering = (op: ReduceOp) => ({ hostInputs: [1] as const, lower: (ctx: LowerContext) => lowerReduce(op, ctx) });

registerLowerings({
  ReduceSum: reduceLowering('sum'),
  ReduceMean: reduceLowering('mean'),
  ReduceMax: reduceLowering('max'),
  ReduceMin: reduceLowering('min'),
  ReduceProd: reduceLowering('prod'),
  ReduceL1: reduceLowering('l1'),
  ReduceL2: reduceLowering('l2'),
  ReduceLogSum: reduceLowering('logsum'),
  ReduceLogSumExp: reduceLowering('logsumexp'),
  ReduceSumSquare: reduceLowering('sumsq'),
  ArgMax: { lower: (ctx) => lowerArg(true, ctx) },
  ArgMin: { lower: (ctx) => lowerArg(false, ctx) },
  CumSum: { hostInputs: [1], lower: (ctx) => lowerScan(false, ctx) },
  CumProd: { hostInputs: [1], lower: (ctx) => lowerScan(true, ctx) },
});
