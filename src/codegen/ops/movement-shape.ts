/**
 * Data movement, part 1: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity, inference Dropout) and
 * copy kernels (Transpose, Concat, Split, Slice, Expand, Tile, Pad, DepthToSpace, SpaceToDepth, Trilu,
 * CenterCropPad).
 *
 * Every copy is one of four kernels, keyed only by the element byte width (data is moved as raw bits, so
 * float32 and int32 share a kernel) and the rank:
 * - copy: dst[dbase + Σ c_d·ds_d] = src[sbase + Σ c_d·ss_d] over an iteration box (dims d_k). Strides
 *   may be negative (Slice with negative steps) or zero (Expand broadcasts). Transpose, Slice, Expand,
 *   Split with more than 8 outputs (one launch per output), Concat (one launch per input), DepthToSpace/SpaceToDepth (rank-6
 *   views) and Tile (a rank-2r view: each axis split into (repeat, dim) with a zero source stride for
 *   the repeat) are all this kernel with different arguments.
 * - pad: per output axis, the source position is remapped by mode (constant/edge/wrap/reflect), with
 *   negative pads cropping; CenterCropPad is a constant pad with zero.
 * - trilu: keeps the upper/lower triangle of the last two axes, zeroing the rest.
 * - fill: writes one constant (Dropout's all-true mask).
 * - split: Split with up to 8 outputs in one launch (each thread moves one 1-16 byte unit of a row).
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import { sliceRange } from '../../ref/kernels/tensor-slice.js';
import { bitsType, floatStorageBits } from './common.js';
import { hasDeviceType, dt } from '../dtypes.js';
import { KernelBuilder, offsetFromLinear, type KernelSource } from '../kernel-ir.js';
import {
  a32, a64, broadcastStrides, contiguousStrides, elementCount, grid1d, registerLowerings, unsupported,
  type Launch, type LowerContext, type Lowered, type TensorDesc,
} from '../lowering.js';

// ---------------------------------------------------------------------------------------------------
// helpers

/** The input's descriptor, refusing dtypes generated kernels do not handle. */
function deviceInput(ctx: LowerContext, i: number): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${ctx.node.op}: input ${i} is missing`);
  if (!hasDeviceType(t.dtype)) unsupported(`${ctx.node.op}: dtype ${t.dtype} has no device type`);
  return t;
}

/** Integer values of a host input (undefined when the input is omitted). */
function hostInts(ctx: LowerContext, i: number): number[] | undefined {
  if (!ctx.node.inputs[i]) return undefined;
  const t = ctx.hostValue(i);
  if (!t) unsupported(`${ctx.node.op}: input ${i} is not known at plan time`);
  return t.toNumbers();
}

function normAxis(ctx: LowerContext, a: number, rank: number): number {
  const n = a < 0 ? a + rank : a;
  if (!Number.isInteger(n) || n < 0 || n >= rank) unsupported(`${ctx.node.op}: axis ${a} is out of range for rank ${rank}`);
  return n;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function checkOutShape(ctx: LowerContext, computed: readonly number[], k = 0): void {
  const got = ctx.outputs[k].shape;
  if (!sameShape(got, computed)) unsupported(`${ctx.node.op}: output ${k} shape [${got.join(',')}] differs from the computed [${computed.join(',')}]`);
}

/** The storage bits of scalar `v` in dtype `d`, as a signed 64-bit value (the kernel casts it to the bit type). */
function storageBits(d: DType, v: number | bigint): bigint {
  const f = floatStorageBits(d, v);
  if (f !== undefined) return BigInt.asIntN(64, f);
  if (d === 'bool') return Number(v) !== 0 ? 1n : 0n;
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number.isFinite(Number(v)) ? Number(v) : 0));
  return BigInt.asIntN(64, b);
}

// ---------------------------------------------------------------------------------------------------
// kernels (text depends on byte width, rank and mode only)

const MOVE_THREADS = 256;

/** dst[dbase + Σ c_k·ds_k] = src[sbase + Σ c_k·ss_k] for every coordinate c of the box d (row-major). */
function copyKernel(bytes: number, rank: number): KernelSource {
  const T = bitsType(bytes);
  const b = new KernelBuilder('move_copy', MOVE_THREADS);
  const src = b.input('src', T);
  const dst = b.output('dst', T);
  const n = b.i64('n');
  const dims = b.i64s('d', rank);
  const ss = b.i64s('ss', rank);
  const ds = b.i64s('ds', rank);
  const sbase = b.i64('sbase');
  const dbase = b.i64('dbase');
  // idx32 != 0: every index and offset fits 32 bits (checked on the host): 32-bit div/mod, much cheaper
  const idx32 = b.i32('idx32');
  b.block(`if (${idx32})`, () => {
    b.block('for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)' + n + '; i += gridDim.x * blockDim.x)', () => {
      b.line('unsigned int rem = i;', 'int so = 0, dO = 0;');
      for (let d = rank - 1; d >= 0; d--) {
        b.line(d > 0 ? `{ unsigned int c = rem % (unsigned int)${dims[d]}; rem /= (unsigned int)${dims[d]};` : '{ unsigned int c = rem;');
        b.line(`  so += (int)c * (int)${ss[d]}; dO += (int)c * (int)${ds[d]}; }`);
      }
      b.line(`${dst}[${dbase} + dO] = ${src}[${sbase} + so];`);
    });
  });
  b.block('else', () => {
    b.gridStride(n, () => {
      offsetFromLinear(b, 'i', dims, [ss, ds], ['so', 'dO']);
      b.line(`${dst}[${dbase} + dO] = ${src}[${sbase} + so];`);
    });
  });
  return b.build();
}

/** every offset of a strided walk over `dims` fits a signed 32-bit int (bases are added in 64 bits) */
function fits32(dims: readonly number[], ...strides: (readonly number[])[]): boolean {
  if (elementCount(dims) >= 2 ** 31) return false;
  return strides.every((st) => dims.reduce((a, d, k) => a + Math.max(0, d - 1) * Math.abs(st[k]), 0) < 2 ** 31);
}

export type PadMode = 'constant' | 'edge' | 'wrap' | 'reflect';

/**
 * Pad: output axis k has od_k positions; source position s = c - lead_k; inside [0, m_k) it reads
 * src[(crop_k + s)·is_k]; outside it is the constant (constant mode) or remapped (edge/wrap/reflect;
 * m_k ≥ 1 there, checked on the host).
 */
function padKernel(bytes: number, rank: number, mode: PadMode): KernelSource {
  const T = bitsType(bytes);
  const b = new KernelBuilder('move_pad', MOVE_THREADS);
  const src = b.input('src', T);
  const dst = b.output('dst', T);
  const n = b.i64('n');
  const od = b.i64s('od', rank);
  const m = b.i64s('m', rank);
  const lead = b.i64s('lead', rank);
  const crop = b.i64s('crop', rank);
  const is = b.i64s('is', rank);
  const cval = b.i64('cval');
  b.gridStride(n, () => {
    b.line('long long rem = i;', 'long long so = 0;');
    if (mode === 'constant') b.line('bool outside = false;');
    for (let d = rank - 1; d >= 0; d--) {
      b.block(`/* axis ${d} */`, () => {
        b.line(d > 0 ? `long long c = rem % ${od[d]}; rem /= ${od[d]};` : 'long long c = rem;');
        b.line(`long long s = c - ${lead[d]};`);
        b.block(`if (s < 0 || s >= ${m[d]})`, () => {
          switch (mode) {
            case 'constant': b.line('outside = true; s = 0;'); break;
            case 'edge': b.line(`s = s < 0 ? 0 : ${m[d]} - 1;`); break;
            case 'wrap': b.line(`s = ((s % ${m[d]}) + ${m[d]}) % ${m[d]};`); break;
            case 'reflect':
              b.line(`if (${m[d]} == 1) s = 0;`);
              b.block('else', () => b.line(`const long long p = 2 * (${m[d]} - 1);`, 's = ((s % p) + p) % p;', `if (s >= ${m[d]}) s = p - s;`));
              break;
          }
        });
        b.line(`so += (${crop[d]} + s) * ${is[d]};`);
      });
    }
    if (mode === 'constant') b.line(`${dst}[i] = outside ? (${T})${cval} : ${src}[so];`);
    else b.line(`${dst}[i] = ${src}[so];`);
  });
  return b.build();
}

/** Trilu over [..., rows, cols]: keeps column j of row r where j >= r + k (upper) or j <= r + k (lower). */
function triluKernel(bytes: number, upper: boolean): KernelSource {
  const T = bitsType(bytes);
  const b = new KernelBuilder('move_trilu', MOVE_THREADS);
  const src = b.input('src', T);
  const dst = b.output('dst', T);
  const n = b.i64('n');
  const rows = b.i64('rows');
  const cols = b.i64('cols');
  const k = b.i64('k');
  b.gridStride(n, () => {
    b.line(`const long long j = i % ${cols};`, `const long long r = (i / ${cols}) % ${rows};`);
    b.line(`const bool keep = ${upper ? `j >= r + ${k}` : `j <= r + ${k}`};`);
    b.line(`${dst}[i] = keep ? ${src}[i] : (${T})0;`);
  });
  return b.build();
}

/** dst[i] = value (raw bits). */
function fillKernel(bytes: number): KernelSource {
  const T = bitsType(bytes);
  const b = new KernelBuilder('move_fill', MOVE_THREADS);
  const dst = b.output('dst', T);
  const n = b.i64('n');
  const v = b.i64('v');
  b.gridStride(n, () => b.line(`${dst}[i] = (${T})${v};`));
  return b.build();
}

// ---------------------------------------------------------------------------------------------------
// launch builders

interface CopyBox {
  dims: readonly number[];
  srcStrides: readonly number[];
  dstStrides: readonly number[];
  srcBase?: number;
  dstBase?: number;
}

/** One copy launch from input `inp` to output `out` (undefined when the box is empty). */
/** widest unit (bytes) the copy kernel moves per thread when the innermost run allows it */
const COPY_WIDE = 8;

/**
 * The box in `unit`-byte elements, when its innermost axis is contiguous on both sides and every extent,
 * stride and base of it is a whole number of units (so one thread moves `unit` bytes); else undefined.
 */
function widened(bytes: number, box: CopyBox, unit: number): CopyBox | undefined {
  const r = box.dims.length;
  if (r === 0 || unit <= bytes || box.srcStrides[r - 1] !== 1 || box.dstStrides[r - 1] !== 1) return undefined;
  const f = unit / bytes;
  const whole = (v: number) => v % f === 0;
  if (!whole(box.dims[r - 1]) || !whole(box.srcBase ?? 0) || !whole(box.dstBase ?? 0)) return undefined;
  if (!box.srcStrides.slice(0, -1).every(whole) || !box.dstStrides.slice(0, -1).every(whole)) return undefined;
  const div = (v: number, k: number) => (k === r - 1 ? 1 : v / f);
  return {
    dims: box.dims.map((d, k) => (k === r - 1 ? d / f : d)),
    srcStrides: box.srcStrides.map(div),
    dstStrides: box.dstStrides.map(div),
    srcBase: (box.srcBase ?? 0) / f,
    dstBase: (box.dstBase ?? 0) / f,
  };
}

/** Every kernel a copy of this element width and rank may launch (listed as variants). */
function copyKernels(bytes: number, rank: number): KernelSource[] {
  return bytes < COPY_WIDE ? [copyKernel(bytes, rank), copyKernel(COPY_WIDE, rank)] : [copyKernel(bytes, rank)];
}

function copyLaunch(bytes: number, inp: number, out: number, box0: CopyBox): Launch | undefined {
  const wide = widened(bytes, box0, COPY_WIDE);
  const box = wide ?? box0;
  const n = elementCount(box.dims);
  const kernel = copyKernel(wide ? COPY_WIDE : bytes, box.dims.length);
  if (n === 0) return undefined;
  return {
    kernel, ...grid1d(n),
    args: [
      { in: inp }, { out }, a64(n), ...box.dims.map(a64), ...box.srcStrides.map(a64), ...box.dstStrides.map(a64),
      a64(box.srcBase ?? 0), a64(box.dstBase ?? 0), a32(fits32(box.dims, box.srcStrides, box.dstStrides) ? 1 : 0),
    ],
  };
}

/** Copy launches plus, as variants, the copy kernels of this width and rank they did not launch. */
function copies(bytes: number, rank: number, launches: Launch[]): Lowered {
  const used = new Set(launches.map((l) => l.kernel.name));
  return { launches, variants: copyKernels(bytes, rank).filter((k) => !used.has(k.name)) };
}

/** A gather into contiguous output `out`: out[c] = in[base + Σ c_k·strides_k]; kernels always listed. */
function gather(ctx: LowerContext, bytes: number, dims: readonly number[], srcStrides: readonly number[], srcBase = 0, out = 0): Lowered {
  const l = copyLaunch(bytes, 0, out, { dims, srcStrides, dstStrides: contiguousStrides(dims), srcBase });
  return copies(bytes, dims.length, l ? [l] : []);
}

function viewLowering(hostInputs?: number[]): { hostInputs?: number[]; lower(ctx: LowerContext): Lowered } {
  return {
    ...(hostInputs ? { hostInputs } : {}),
    lower: (ctx) => {
      if (!ctx.inputs[0]) unsupported(`${ctx.node.op}: input 0 is not a tensor`);
      return { launches: [], aliases: [{ output: 0, input: 0 }] };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// ops

function lowerDropout(ctx: LowerContext): Lowered {
  if (!ctx.inputs[0]) unsupported('Dropout: input 0 is not a tensor');
  const trainT = ctx.node.inputs[2] ? ctx.hostValue(2) : undefined;
  if (ctx.node.inputs[2] && !trainT) unsupported('Dropout: training_mode is not known at plan time');
  const training = trainT ? trainT.getNumber(0) !== 0 : false;
  if (training) {
    const ratioT = ctx.node.inputs[1] ? ctx.hostValue(1) : undefined;
    if (ctx.node.inputs[1] && !ratioT) unsupported('Dropout: ratio is not known at plan time');
    const ratio = ratioT ? ratioT.getNumber(0) : 0.5;
    if (ratio !== 0) unsupported('Dropout: training mode with a non-zero ratio (random mask) runs on the host');
  }
  const res: Lowered = { launches: [], aliases: [{ output: 0, input: 0 }] };
  const wantMask = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '' && ctx.outputs[1] !== undefined;
  const fill = fillKernel(1);
  if (wantMask) {
    const n = elementCount(ctx.outputs[1].shape);
    if (n > 0) res.launches.push({ kernel: fill, ...grid1d(n), args: [{ out: 1 }, a64(n), a64(1)] });
    else res.variants = [fill];
  }
  return res;
}

function lowerTranspose(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const perm = ctx.node.has('perm') ? ctx.node.ints('perm') : x.shape.map((_, i) => r - 1 - i);
  if (perm.length !== r || new Set(perm).size !== r || perm.some((p) => !(p >= 0 && p < r))) {
    unsupported(`Transpose: perm [${perm.join(',')}] is not a permutation of rank ${r}`);
  }
  const dims = perm.map((p) => x.shape[p]);
  checkOutShape(ctx, dims);
  const inS = contiguousStrides(x.shape);
  return gather(ctx, dt(x.dtype).bytes, dims, perm.map((p) => inS[p]));
}

function lowerConcat(ctx: LowerContext): Lowered {
  const xs = ctx.node.inputs.map((_, i) => deviceInput(ctx, i));
  if (xs.length === 0) unsupported('Concat: no inputs');
  const out = ctx.outputs[0];
  const r = out.shape.length;
  if (r === 0) unsupported('Concat: cannot concatenate scalars');
  const axis = normAxis(ctx, ctx.node.int('axis'), r);
  const bytes = dt(xs[0].dtype).bytes;
  const oS = contiguousStrides(out.shape);
  const launches: Launch[] = [];
  let off = 0;
  xs.forEach((x, k) => {
    if (x.shape.length !== r || x.dtype !== xs[0].dtype || x.shape.some((d, i) => i !== axis && d !== out.shape[i])) {
      unsupported(`Concat: input ${k} [${x.shape.join(',')}] does not fit output [${out.shape.join(',')}] on axis ${axis}`);
    }
    const l = copyLaunch(bytes, k, 0, { dims: x.shape, srcStrides: contiguousStrides(x.shape), dstStrides: oS, dstBase: off * oS[axis] });
    if (l) launches.push(l);
    off += x.shape[axis];
  });
  if (off !== out.shape[axis]) unsupported(`Concat: inputs sum to ${off} on axis ${axis}, output has ${out.shape[axis]}`);
  return copies(bytes, r, launches);
}

/** most outputs one Split launch writes (more: one copy launch per output) */
const SPLIT_MAX = 8;
/** access widths (bytes) the Split kernel may move per thread */
const SPLIT_UNITS = [1, 2, 4, 8, 16] as const;

/**
 * Split into K outputs in one launch. The input is [outer, A·inner] rows (in units of U bytes); output k
 * takes the contiguous columns [c_k, c_k + l_k) of every row: out_k[o·l_k + (a - c_k)] = src[o·rowIn + a]
 * for a in its range. Columns of omitted outputs are skipped. Kernel text: K and U only.
 */
function splitKernel(unit: number, k: number): KernelSource {
  const T = unit === 16 ? 'uint4' : bitsType(unit);
  const b = new KernelBuilder(`move_split${k}`, MOVE_THREADS);
  const src = b.input('src', T);
  const outs = Array.from({ length: k }, (_, i) => b.output(`o${i}`, T));
  const n = b.i64('n');
  const cols = b.i64('cols');
  const rowIn = b.i64('row_in');
  const cs = Array.from({ length: k }, (_, i) => b.i64(`c${i}`));
  const ls = Array.from({ length: k }, (_, i) => b.i64(`l${i}`));
  const idx32 = b.i32('idx32');
  const body = (I: string) => {
    b.line(`const ${I} o = i / (${I})${cols}, a = i - o * (${I})${cols};`);
    b.line(`const ${T} v = ${src}[o * (${I})${rowIn} + a];`);
    for (let j = 0; j < k; j++) {
      b.line(`${j ? 'else ' : ''}if (a >= (${I})${cs[j]} && a < (${I})${cs[j]} + (${I})${ls[j]}) ${outs[j]}[o * (${I})${ls[j]} + (a - (${I})${cs[j]})] = v;`);
    }
  };
  // idx32 != 0: every index fits 32 bits (checked on the host)
  b.block(`if (${idx32})`, () => {
    b.block(`for (unsigned int i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned int)${n}; i += gridDim.x * blockDim.x)`, () => body('unsigned int'));
  });
  b.block('else', () => {
    b.gridStride(n, () => body('long long'));
  });
  return b.build();
}

function lowerSplit(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const axis = normAxis(ctx, ctx.node.int('axis', 0), r);
  const bytes = dt(x.dtype).bytes;
  const inS = contiguousStrides(x.shape);
  const segs: { k: number; start: number; len: number }[] = [];
  let start = 0;
  ctx.outputs.forEach((o, k) => {
    if (o.shape.length !== r || o.shape.some((d, i) => i !== axis && d !== x.shape[i])) {
      unsupported(`Split: output ${k} [${o.shape.join(',')}] does not fit input [${x.shape.join(',')}] on axis ${axis}`);
    }
    if (ctx.node.outputs[k] !== '') segs.push({ k, start, len: o.shape[axis] });
    start += o.shape[axis];
  });
  if (start > x.shape[axis]) unsupported(`Split: outputs take ${start} of dimension ${x.shape[axis]}`);
  if (segs.length > SPLIT_MAX) {
    // many outputs: one copy launch per output
    const launches: Launch[] = [];
    for (const sg of segs) {
      const o = ctx.outputs[sg.k];
      const l = copyLaunch(bytes, 0, sg.k, { dims: o.shape, srcStrides: inS, dstStrides: contiguousStrides(o.shape), srcBase: sg.start * inS[axis] });
      if (l) launches.push(l);
    }
    return copies(bytes, r, launches);
  }
  // one launch for all outputs: rows of `outer`, columns in U-byte units
  const outer = x.shape.slice(0, axis).reduce((a, d) => a * d, 1);
  const innerBytes = x.shape.slice(axis + 1).reduce((a, d) => a * d, 1) * bytes;
  const A = x.shape[axis];
  const units = SPLIT_UNITS.filter((u) => u >= bytes);
  const kernels = units.map((u) => splitKernel(u, segs.length));
  const fitsUnit = (u: number) => [A, ...segs.flatMap((sg) => [sg.start, sg.len])].every((c) => (c * innerBytes) % u === 0);
  const ui = units.reduce((best, u, i) => (fitsUnit(u) ? i : best), 0);
  const U = units[ui];
  const toU = (c: number) => (c * innerBytes) / U; // exact: fitsUnit
  const cols = segs.length ? segs[segs.length - 1].start + segs[segs.length - 1].len : 0;
  const colsU = toU(cols);
  const n = outer * colsU;
  if (n === 0 || segs.length === 0) return { launches: [], variants: kernels };
  const rowIn = toU(A);
  const idx32 = n < 2 ** 31 && outer * rowIn < 2 ** 31 ? 1 : 0;
  const launch: Launch = {
    kernel: kernels[ui], ...grid1d(n),
    args: [
      { in: 0 }, ...segs.map((sg) => ({ out: sg.k })), a64(n), a64(colsU), a64(rowIn),
      ...segs.map((sg) => a64(toU(sg.start))), ...segs.map((sg) => a64(toU(sg.len))), a32(idx32),
    ],
  };
  return { launches: [launch], variants: kernels.filter((_, i) => i !== ui) };
}

function lowerSlice(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const starts = hostInts(ctx, 1);
  const ends = hostInts(ctx, 2);
  if (!starts || !ends) unsupported('Slice: starts and ends are required');
  if (starts.length !== ends.length) unsupported(`Slice: starts has ${starts.length} values, ends ${ends.length}`);
  const axesIn = hostInts(ctx, 3);
  const axes = axesIn ? axesIn.map((a) => normAxis(ctx, a, r)) : starts.map((_, i) => i);
  if (new Set(axes).size !== axes.length) unsupported(`Slice: axes [${axes.join(',')}] contain duplicates`);
  const steps = hostInts(ctx, 4) ?? starts.map(() => 1);
  if (axes.length !== starts.length || steps.length !== starts.length) unsupported('Slice: starts, ends, axes and steps must have the same length');
  const inS = contiguousStrides(x.shape);
  const dims = [...x.shape];
  const strides = [...inS];
  let base = 0;
  axes.forEach((a, i) => {
    const dim = x.shape[a];
    const step = steps[i];
    if (step === 0 || !Number.isFinite(step)) unsupported('Slice: steps must be non-zero');
    const { start: s, count } = sliceRange(dim, starts[i], ends[i], step);
    dims[a] = count;
    strides[a] = inS[a] * step;
    if (count > 0) base += s * inS[a];
  });
  checkOutShape(ctx, dims);
  return gather(ctx, dt(x.dtype).bytes, dims, strides, base);
}

function lowerExpand(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const out = ctx.outputs[0].shape;
  const off = out.length - x.shape.length;
  if (off < 0 || x.shape.some((d, i) => d !== 1 && d !== out[i + off])) {
    unsupported(`Expand: cannot expand [${x.shape.join(',')}] to [${out.join(',')}]`);
  }
  return gather(ctx, dt(x.dtype).bytes, out, broadcastStrides(x.shape, out));
}

function lowerTile(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const reps = hostInts(ctx, 1);
  if (!reps) unsupported('Tile: repeats is required');
  if (reps.length !== r) unsupported(`Tile: repeats has ${reps.length} values, the input has rank ${r}`);
  if (reps.some((v) => v < 0)) unsupported(`Tile: negative repeats [${reps.join(',')}]`);
  const outShape = x.shape.map((d, i) => d * reps[i]);
  checkOutShape(ctx, outShape);
  // view the output as [reps0, d0, reps1, d1, ...]: the repeat coordinate has source stride 0
  const inS = contiguousStrides(x.shape);
  const oS = contiguousStrides(outShape);
  const dims: number[] = [], ss: number[] = [], ds: number[] = [];
  for (let k = 0; k < r; k++) {
    dims.push(reps[k], x.shape[k]);
    ss.push(0, inS[k]);
    ds.push(x.shape[k] * oS[k], oS[k]);
  }
  const bytes = dt(x.dtype).bytes;
  const l = copyLaunch(bytes, 0, 0, { dims, srcStrides: ss, dstStrides: ds });
  return copies(bytes, 2 * r, l ? [l] : []);
}

/** A pad launch from per-axis before/after (negative = crop). Checks the mode has data to remap. */
function padLowered(ctx: LowerContext, x: TensorDesc, before: readonly number[], after: readonly number[], mode: PadMode, cvalBits: bigint): Lowered {
  const r = x.shape.length;
  const outShape = x.shape.map((d, i) => d + before[i] + after[i]);
  if (outShape.some((d) => d < 0)) unsupported(`${ctx.node.op}: pads give a negative dimension for input [${x.shape.join(',')}]`);
  checkOutShape(ctx, outShape);
  const bytes = dt(x.dtype).bytes;
  const kernel = padKernel(bytes, r, mode);
  const n = elementCount(outShape);
  if (n === 0) return { launches: [], variants: [kernel] };
  const crop = before.map((b) => Math.max(-b, 0));
  const m = x.shape.map((d, i) => d - crop[i] - Math.max(-after[i], 0));
  const lead = before.map((b) => Math.max(b, 0));
  if (mode !== 'constant') {
    m.forEach((mk, i) => {
      if (mk <= 0 && outShape[i] > 0) unsupported(`${ctx.node.op}: ${mode} padding needs a non-empty input along every padded axis`);
    });
  }
  return {
    launches: [{
      kernel, ...grid1d(n),
      args: [
        { in: 0 }, { out: 0 }, a64(n), ...outShape.map(a64), ...m.map(a64), ...lead.map(a64), ...crop.map(a64),
        ...contiguousStrides(x.shape).map(a64), a64(cvalBits),
      ],
    }],
  };
}

function lowerPad(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const pads = hostInts(ctx, 1);
  if (!pads) unsupported('Pad: pads is required');
  const mode = ctx.node.has('mode') ? ctx.node.string('mode') : 'constant';
  if (mode !== 'constant' && mode !== 'edge' && mode !== 'wrap' && mode !== 'reflect') unsupported(`Pad: unknown mode '${mode}'`);
  const axesIn = hostInts(ctx, 3);
  const axes = axesIn ? axesIn.map((a) => normAxis(ctx, a, r)) : x.shape.map((_, i) => i);
  if (new Set(axes).size !== axes.length) unsupported(`Pad: axes [${axes.join(',')}] contain duplicates`);
  if (pads.length !== 2 * axes.length) unsupported(`Pad: pads has ${pads.length} values, expected ${2 * axes.length}`);
  const before = new Array<number>(r).fill(0);
  const after = new Array<number>(r).fill(0);
  axes.forEach((a, i) => { before[a] = pads[i]; after[a] = pads[i + axes.length]; });
  let cvalBits = 0n;
  if (mode === 'constant' && ctx.node.inputs[2]) {
    const cvalT: Tensor | undefined = ctx.hostValue(2);
    if (!cvalT) unsupported('Pad: constant_value is not known at plan time');
    if (cvalT.size > 0) {
      const v = cvalT.data[0];
      if (typeof v === 'string') unsupported('Pad: string constant_value');
      cvalBits = storageBits(x.dtype, v);
    }
  }
  return padLowered(ctx, x, before, after, mode, cvalBits);
}

function lowerCenterCropPad(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  const target = hostInts(ctx, 1);
  if (!target) unsupported('CenterCropPad: shape is required');
  const axes = ctx.node.has('axes') ? ctx.node.ints('axes').map((a) => normAxis(ctx, a, r)) : x.shape.map((_, i) => i);
  if (target.length !== axes.length) unsupported(`CenterCropPad: shape has ${target.length} values for ${axes.length} axes`);
  const before = new Array<number>(r).fill(0);
  const after = new Array<number>(r).fill(0);
  axes.forEach((a, i) => {
    const dim = x.shape[a], t = target[i];
    if (t < 0) unsupported(`CenterCropPad: negative target size ${t}`);
    if (t <= dim) {
      const s = Math.floor((dim - t) / 2);
      before[a] = -s;
      after[a] = t - dim + s;
    } else {
      const s = Math.floor((t - dim) / 2);
      before[a] = s;
      after[a] = t - dim - s;
    }
  });
  return padLowered(ctx, x, before, after, 'constant', 0n);
}

function lowerDepthToSpace(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  if (x.shape.length !== 4) unsupported(`DepthToSpace: input must have rank 4, got ${x.shape.length}`);
  const bs = ctx.node.int('blocksize');
  const mode = ctx.node.has('mode') ? ctx.node.string('mode') : 'DCR';
  const [n, c, h, w] = x.shape;
  if (bs < 1 || c % (bs * bs) !== 0) unsupported(`DepthToSpace: channels ${c} are not divisible by blocksize² (${bs * bs})`);
  const co = c / (bs * bs);
  let view: number[], perm: number[];
  if (mode === 'DCR') { view = [n, bs, bs, co, h, w]; perm = [0, 3, 4, 1, 5, 2]; }
  else if (mode === 'CRD') { view = [n, co, bs, bs, h, w]; perm = [0, 1, 4, 2, 5, 3]; }
  else unsupported(`DepthToSpace: unknown mode '${mode}'`);
  checkOutShape(ctx, [n, co, h * bs, w * bs]);
  const vS = contiguousStrides(view);
  return gather(ctx, dt(x.dtype).bytes, perm.map((p) => view[p]), perm.map((p) => vS[p]));
}

function lowerSpaceToDepth(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  if (x.shape.length !== 4) unsupported(`SpaceToDepth: input must have rank 4, got ${x.shape.length}`);
  const bs = ctx.node.int('blocksize');
  const [n, c, h, w] = x.shape;
  if (bs < 1 || h % bs !== 0 || w % bs !== 0) unsupported(`SpaceToDepth: spatial dims ${h}x${w} are not divisible by blocksize ${bs}`);
  const view = [n, c, h / bs, bs, w / bs, bs];
  const perm = [0, 3, 5, 1, 2, 4];
  checkOutShape(ctx, [n, c * bs * bs, h / bs, w / bs]);
  const vS = contiguousStrides(view);
  return gather(ctx, dt(x.dtype).bytes, perm.map((p) => view[p]), perm.map((p) => vS[p]));
}

function lowerTrilu(ctx: LowerContext): Lowered {
  const x = deviceInput(ctx, 0);
  const r = x.shape.length;
  if (r < 2) unsupported(`Trilu: input must have rank >= 2, got ${r}`);
  const kv = hostInts(ctx, 1);
  const rows = x.shape[r - 2], cols = x.shape[r - 1];
  // clamp k: beyond ±(rows + cols) every row keeps all or nothing (keeps the value in 64 bits)
  const lim = rows + cols + 1;
  const k = Math.min(Math.max(kv && kv.length ? kv[0] : 0, -lim), lim);
  const upper = ctx.node.int('upper', 1) !== 0;
  const kernel = triluKernel(dt(x.dtype).bytes, upper);
  const n = elementCount(x.shape);
  if (n === 0) return { launches: [], variants: [kernel] };
  return { launches: [{ kernel, ...grid1d(n), args: [{ in: 0 }, { out: 0 }, a64(n), a64(rows), a64(cols), a64(k)] }] };
}

registerLowerings({
  Reshape: viewLowering([1]),
  Flatten: viewLowering(),
  Squeeze: viewLowering([1]),
  Unsqueeze: viewLowering([1]),
  Identity: viewLowering(),
  Dropout: { hostInputs: [1, 2], lower: lowerDropout },
  Transpose: { lower: lowerTranspose },
  Concat: { lower: lowerConcat },
  Split: { hostInputs: [1], lower: lowerSplit },
  Slice: { hostInputs: [1, 2, 3, 4], lower: lowerSlice },
  Expand: { hostInputs: [1], lower: lowerExpand },
  Tile: { hostInputs: [1], lower: lowerTile },
  Pad: { hostInputs: [1, 2, 3], lower: lowerPad },
  CenterCropPad: { hostInputs: [1], lower: lowerCenterCropPad },
  DepthToSpace: { lower: lowerDepthToSpace },
  SpaceToDepth: { lower: lowerSpaceToDepth },
  Trilu: { hostInputs: [1], lower: lowerTrilu },
});
