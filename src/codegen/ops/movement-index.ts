/**
 * Data movement, part 2: indexed reads and writes and value sources — Gather, GatherElements, GatherND,
 * ScatterND, ScatterElements, OneHot, Resize, TopK, ReverseSequence, Range, ConstantOfShape, EyeLike.
 *
 * Pure copies move elements as unsigned integers of the element's width, so one kernel serves every
 * dtype of that width. Indices live on the device (int32/int64; negative ones wrap; out-of-range ones
 * read zero / are skipped, where the reference interpreter fails). Scatters copy data to the output in
 * a first launch and apply updates in a second: ScatterND 'none' uses one thread per update element
 * (duplicate indices then race, as the ONNX spec allows); reductions, and all of ScatterElements, walk
 * colliding updates sequentially in the reference's order (deterministic, exact).
 * Resize computes each output element directly as the separable weighted sum of the reference, in
 * float64 with the same operation order and no contraction (bit-exact coordinates and sums).
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import { dtypeFromCode } from '../../ir/dtype.js';
import { deviceType, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, offsetFromLinear, type KernelSource } from '../kernel-ir.js';
import {
  a64, af64, contiguousStrides, elementCount, grid1d, registerLowerings, unsupported,
  type ArgRef, type LowerContext, type Lowered, type TensorDesc,
} from '../lowering.js';
import { bitsType as bitsOfWidth, floatStorageBits } from './common.js';

// ---------------------------------------------------------------------------------------------------
// shared helpers

function devType(d: DType, what: string): DeviceType {
  const t = deviceType(d);
  if (!t) unsupported(`${what} dtype ${d} has no device type`);
  return t;
}

/** the unsigned C type of an element's width (for byte copies) */
function bitsType(t: DeviceType): string {
  return bitsOfWidth(t.bytes);
}

function indexCType(d: DType | undefined, what: string): string {
  if (d === 'int32') return 'int';
  if (d === 'int64') return 'long long';
  return unsupported(`${what} dtype ${d ?? 'missing'} is not int32/int64`);
}

function need(ctx: LowerContext, i: number, what: string): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${what} (input ${i}) is missing`);
  return t;
}

function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) unsupported(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

const prod = (s: readonly number[], from = 0, to = s.length): number => {
  let p = 1;
  for (let i = from; i < to; i++) p *= s[i];
  return p;
};

/** a launch of `kernel` over n elements (grid-stride), or none */
function launch1d(kernel: KernelSource, n: number, args: ArgRef[]): Lowered {
  if (n === 0) return { launches: [], variants: [kernel] };
  return { launches: [{ kernel, ...grid1d(n), args }] };
}

/** The bit pattern of element i of a host tensor, in its device layout (as an unsigned 64-bit value). */
function hostBits(t: Tensor, i: number): bigint {
  const v = t.data[i];
  if (typeof v !== 'string') {
    const f = floatStorageBits(t.dtype, v);
    if (f !== undefined) return f;
  }
  if (t.dtype === 'bool') return Number(v) ? 1n : 0n;
  const dt = deviceType(t.dtype);
  if (!dt || typeof v === 'string') return unsupported(`value of dtype ${t.dtype} has no device layout`);
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
  return BigInt.asUintN(dt.bytes * 8, b);
}

/** the bit pattern of the value 1 in dtype d */
function oneBits(d: DType): bigint {
  switch (d) {
    case 'float32': return 0x3f800000n;
    case 'float64': return 0x3ff0000000000000n;
    case 'float16': return 0x3c00n;
    case 'bfloat16': return 0x3f80n;
    default: return 1n;
  }
}

/** a bit pattern as an i64 argument */
const abits = (b: bigint) => a64(BigInt.asIntN(64, b));

/** A byte copy kernel out[i] = x[i] (elements of `t`'s width). */
function copyKernel(t: DeviceType): KernelSource {
  const U = bitsType(t);
  const b = new KernelBuilder('copy');
  b.input('x', U);
  b.output('out', U);
  const n = b.i64('n');
  b.gridStride(n, () => b.line('out[i] = x[i];'));
  return b.build();
}

/** C array initializer of parameter names (at least one element) */
const cArray = (names: readonly string[]): string => `{ ${names.length ? names.join(', ') : '0'} }`;

// ---------------------------------------------------------------------------------------------------
// Gather

/** A gather's data (input 0) and indices (input 1), and its kernel with x, ind and out (elements as raw bits) declared. */
function gatherKernel(ctx: LowerContext, name: string): { x: TensorDesc; ind: TensorDesc; U: string; b: KernelBuilder } {
  const x = need(ctx, 0, 'data');
  const ind = need(ctx, 1, 'indices');
  const t = devType(x.dtype, 'data');
  const it = indexCType(ind.dtype, 'indices');
  const U = bitsType(t);
  const b = new KernelBuilder(name);
  b.input('x', U);
  b.input('ind', it);
  b.output('out', U);
  return { x, ind, U, b };
}

function lowerGather(ctx: LowerContext): Lowered {
  const { x, ind, U, b } = gatherKernel(ctx, 'gather');
  if (x.shape.length === 0) unsupported('cannot gather from a scalar');
  const axis = normAxis(ctx.node.int('axis', 0), x.shape.length);
  const n = b.i64('n');
  b.i64('inner');
  b.i64('nidx');
  b.i64('dim');
  b.gridStride(n, () => {
    b.line(
      'const long long j = i % inner;',
      'const long long r = i / inner;',
      'const long long k = r % nidx;',
      'const long long o = r / nidx;',
      'long long v = (long long)ind[k];',
      'if (v < 0) v += dim;',
      `out[i] = (v >= 0 && v < dim) ? x[(o * dim + v) * inner + j] : (${U})0;`,
    );
  });
  const kernel = b.build();
  const total = elementCount(ctx.outputs[0].shape);
  const inner = prod(x.shape, axis + 1);
  const nIdx = elementCount(ind.shape);
  return launch1d(kernel, total, [{ in: 0 }, { in: 1 }, { out: 0 }, a64(total), a64(inner), a64(nIdx), a64(x.shape[axis])]);
}

// ---------------------------------------------------------------------------------------------------
// GatherElements

function lowerGatherElements(ctx: LowerContext): Lowered {
  const { x, ind, U, b } = gatherKernel(ctx, 'gather_el');
  const r = x.shape.length;
  if (r === 0 || ind.shape.length !== r) unsupported('data and indices must have the same rank >= 1');
  const axis = normAxis(ctx.node.int('axis', 0), r);
  for (let d = 0; d < r; d++) if (d !== axis && ind.shape[d] > x.shape[d]) unsupported(`indices dimension ${d} exceeds data's`);
  const n = b.i64('n');
  const dims = b.i64s('d', r);
  const strides = b.i64s('s', r);
  b.i64('astride');
  b.i64('adim');
  b.gridStride(n, () => {
    offsetFromLinear(b, 'i', dims, [strides], ['off']);
    b.line(
      'long long v = (long long)ind[i];',
      'if (v < 0) v += adim;',
      `out[i] = (v >= 0 && v < adim) ? x[off + v * astride] : (${U})0;`,
    );
  });
  const kernel = b.build();
  const total = elementCount(ind.shape);
  const xs = contiguousStrides(x.shape);
  const s = xs.map((v, d) => (d === axis ? 0 : v));
  return launch1d(kernel, total, [
    { in: 0 }, { in: 1 }, { out: 0 }, a64(total), ...ind.shape.map(a64), ...s.map(a64), a64(xs[axis]), a64(x.shape[axis]),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// GatherND / ScatterND tuple walk

/** Declares the dims dd<k> and strides ds<k> of data of rank R; returns the lines copying them into local arrays dd, ds. */
function tupleTables(b: KernelBuilder, R: number): string[] {
  const dd = b.i64s('dd', R);
  const ds = b.i64s('ds', R);
  return [
    `const long long dd[${Math.max(R, 1)}] = ${cArray(dd)};`,
    `const long long ds[${Math.max(R, 1)}] = ${cArray(ds)};`,
  ];
}

/** Emits the offset of index tuple `t` (q entries from ind[t*q]) into dims dd/ds (from entry `first`); sets ok. */
function emitTuple(b: KernelBuilder, t: string, first: string): void {
  b.line('long long off = 0;', 'bool ok = true;');
  b.block('for (long long jj = 0; jj < q; jj++)', () => {
    b.line(
      `long long v = (long long)ind[${t} * q + jj];`,
      `const long long dim = dd[${first} + jj];`,
      'if (v < 0) v += dim;',
      'if (v < 0 || v >= dim) ok = false;',
      `off += v * ds[${first} + jj];`,
    );
  });
}

function lowerGatherND(ctx: LowerContext): Lowered {
  const { x, ind, U, b } = gatherKernel(ctx, 'gather_nd');
  const R = x.shape.length;
  const ri = ind.shape.length;
  const bd = ctx.node.int('batch_dims', 0);
  if (ri < 1) unsupported('indices must have rank >= 1');
  const q = ind.shape[ri - 1];
  if (bd < 0 || bd >= Math.min(R, ri)) unsupported(`batch_dims ${bd} is out of range`);
  if (bd + q > R) unsupported(`index tuples of length ${q} do not fit data of rank ${R}`);
  for (let d = 0; d < bd; d++) if (ind.shape[d] !== x.shape[d]) unsupported(`batch dimension ${d} differs`);
  const n = b.i64('n');
  b.i64('slice');
  b.i64('q');
  b.i64('perbatch');
  b.i64('bstride');
  b.i64('bdims');
  const tables = tupleTables(b, R);
  b.gridStride(n, () => {
    b.line(
      ...tables,
      'const long long t = i / slice;',
      'const long long e = i % slice;',
    );
    emitTuple(b, 't', 'bdims');
    b.line(`out[i] = ok ? x[(t / perbatch) * bstride + off + e] : (${U})0;`);
  });
  const kernel = b.build();
  const total = elementCount(ctx.outputs[0].shape);
  const slice = prod(x.shape, bd + q);
  const tuples = prod(ind.shape, 0, ri - 1);
  const batch = prod(x.shape, 0, bd);
  const perBatch = batch === 0 ? 1 : Math.max(1, tuples / batch);
  return launch1d(kernel, total, [
    { in: 0 }, { in: 1 }, { out: 0 }, a64(total), a64(slice), a64(q), a64(perBatch), a64(prod(x.shape, bd)), a64(bd),
    ...x.shape.map(a64), ...contiguousStrides(x.shape).map(a64),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// Scatter reductions

const REDUCTIONS = ['none', 'add', 'mul', 'max', 'min'];

/** C expression combining the current value a with the update c (math types of t), as the reference does. */
function combineExpr(t: DeviceType, red: string, a: string, c: string): string {
  if (red === 'add' || red === 'mul') {
    const op = red === 'add' ? '+' : '*';
    if (t.kind === 'int' || t.kind === 'uint') return `(${t.math})((unsigned long long)(${a}) ${op} (unsigned long long)(${c}))`;
    return `(${a} ${op} ${c})`;
  }
  const cmp = red === 'max' ? '>=' : '<=';
  const pick = `(${a} ${cmp} ${c} ? ${a} : ${c})`;
  if (t.kind === 'float') return `((${a} != ${a} || ${c} != ${c}) ? ${literal(t, NaN)} : ${pick})`;
  return pick;
}

function reductionOf(ctx: LowerContext): string {
  const red = ctx.node.string('reduction', 'none');
  if (!REDUCTIONS.includes(red)) unsupported(`unknown reduction '${red}'`);
  return red;
}

/** A scatter's data (input 0), indices (1) and updates (2), the data's device type, the index C type and the reduction. */
function scatterInputs(ctx: LowerContext): { x: TensorDesc; ind: TensorDesc; upd: TensorDesc; t: DeviceType; it: string; red: string } {
  const x = need(ctx, 0, 'data');
  const ind = need(ctx, 1, 'indices');
  const upd = need(ctx, 2, 'updates');
  const t = devType(x.dtype, 'data');
  const it = indexCType(ind.dtype, 'indices');
  if (upd.dtype !== x.dtype) unsupported('updates dtype differs from data dtype');
  const red = reductionOf(ctx);
  return { x, ind, upd, t, it, red };
}

/**
 * A scatter's launches: copy data (input 0, nData elements) to the output, then `scatter` over `count`
 * threads; a kernel that does not run is listed in variants.
 */
function copyThenScatter(copy: KernelSource, nData: number, scatter: KernelSource, count: number, scatterArgs: ArgRef[]): Lowered {
  const launches = [];
  const variants: KernelSource[] = [];
  if (nData > 0) launches.push({ kernel: copy, ...grid1d(nData), args: [{ in: 0 }, { out: 0 }, a64(nData)] as ArgRef[] });
  else variants.push(copy);
  if (nData > 0 && count > 0) launches.push({ kernel: scatter, ...grid1d(count), args: scatterArgs });
  else variants.push(scatter);
  return { launches, variants };
}

function lowerScatterND(ctx: LowerContext): Lowered {
  const { x, ind, upd, t, it, red } = scatterInputs(ctx);
  const R = x.shape.length;
  const ri = ind.shape.length;
  if (ri < 1) unsupported('indices must have rank >= 1');
  const q = ind.shape[ri - 1];
  if (q > R) unsupported(`index tuples of length ${q} do not fit data of rank ${R}`);
  const want = [...ind.shape.slice(0, ri - 1), ...x.shape.slice(q)];
  if (want.length !== upd.shape.length || want.some((d, i) => d !== upd.shape[i])) unsupported('updates shape does not match');
  const copy = copyKernel(t);
  const b = new KernelBuilder('scatter_nd');
  const S = prod(x.shape, q);
  const T = prod(ind.shape, 0, ri - 1);
  let scatterArgs: ArgRef[];
  let count: number;
  if (red === 'none') {
    const U = bitsType(t);
    b.input('upd', U);
    b.input('ind', it);
    b.output('out', U);
    const n = b.i64('n');
    b.i64('slice');
    b.i64('q');
    const tables = tupleTables(b, R);
    b.gridStride(n, () => {
      b.line(
        ...tables,
        'const long long t = i / slice;',
        'const long long e = i % slice;',
      );
      emitTuple(b, 't', '0');
      b.line('if (ok) out[off + e] = upd[i];');
    });
    count = T * S;
    scatterArgs = [{ in: 2 }, { in: 1 }, { out: 0 }, a64(count), a64(S), a64(q)];
  } else {
    b.input('upd', t.storage);
    b.input('ind', it);
    b.output('out', t.storage);
    const n = b.i64('slice');
    b.i64('tuples');
    b.i64('q');
    const tables = tupleTables(b, R);
    b.gridStride(n, () => {
      b.line(...tables);
      b.block('for (long long t = 0; t < tuples; t++)', () => {
        emitTuple(b, 't', '0');
        b.block('if (ok)', () => {
          b.line(
            'const long long p = off + e;',
            `const ${t.math} a = ${t.load('out[p]')};`,
            `const ${t.math} c = ${t.load('upd[t * slice + e]')};`,
            `out[p] = ${t.store(combineExpr(t, red, 'a', 'c'))};`,
          );
        });
      });
    }, 'e');
    count = T > 0 ? S : 0;
    scatterArgs = [{ in: 2 }, { in: 1 }, { out: 0 }, a64(S), a64(T), a64(q)];
  }
  const scatter = b.build();
  const dims = [...x.shape.map(a64), ...contiguousStrides(x.shape).map(a64)];
  const nData = elementCount(x.shape);
  return copyThenScatter(copy, nData, scatter, count, [...scatterArgs, ...dims]);
}

// ---------------------------------------------------------------------------------------------------
// ScatterElements: one thread per column (all index coordinates but the axis), walking the axis in order

function lowerScatterElements(ctx: LowerContext): Lowered {
  const { x, ind, upd, t, it, red } = scatterInputs(ctx);
  const r = x.shape.length;
  if (r === 0 || ind.shape.length !== r) unsupported('data and indices must have the same rank >= 1');
  if (upd.shape.length !== r || upd.shape.some((d, i) => d !== ind.shape[i])) unsupported('updates and indices must have the same shape');
  const axis = normAxis(ctx.node.int('axis', 0), r);
  for (let d = 0; d < r; d++) if (d !== axis && ind.shape[d] > x.shape[d]) unsupported(`indices dimension ${d} exceeds data's`);
  const copy = copyKernel(t);
  const st = red === 'none' ? bitsType(t) : t.storage;
  const b = new KernelBuilder('scatter_el');
  b.input('upd', st);
  b.input('ind', it);
  b.output('out', st);
  const n = b.i64('n');
  const cd = b.i64s('cd', r);
  const is = b.i64s('is', r);
  const xs = b.i64s('xs', r);
  b.i64('alen');
  b.i64('aistride');
  b.i64('axstride');
  b.i64('adim');
  b.gridStride(n, () => {
    offsetFromLinear(b, 'i', cd, [is, xs], ['ib', 'xb']);
    b.block('for (long long k = 0; k < alen; k++)', () => {
      b.line(
        'const long long u = ib + k * aistride;',
        'long long v = (long long)ind[u];',
        'if (v < 0) v += adim;',
        'if (v < 0 || v >= adim) continue;',
        'const long long p = xb + v * axstride;',
      );
      if (red === 'none') b.line('out[p] = upd[u];');
      else {
        b.line(
          `const ${t.math} a = ${t.load('out[p]')};`,
          `const ${t.math} c = ${t.load('upd[u]')};`,
          `out[p] = ${t.store(combineExpr(t, red, 'a', 'c'))};`,
        );
      }
    });
  });
  const scatter = b.build();
  const nData = elementCount(x.shape);
  const nUpd = elementCount(ind.shape);
  const cols = nUpd === 0 ? 0 : nUpd / ind.shape[axis];
  const istr = contiguousStrides(ind.shape);
  const xstr = contiguousStrides(x.shape);
  return copyThenScatter(copy, nData, scatter, cols, [
    { in: 2 }, { in: 1 }, { out: 0 }, a64(cols),
    ...ind.shape.map((d, k) => a64(k === axis ? 1 : d)), ...istr.map((s, k) => a64(k === axis ? 0 : s)), ...xstr.map((s, k) => a64(k === axis ? 0 : s)),
    a64(ind.shape[axis]), a64(istr[axis]), a64(xstr[axis]), a64(x.shape[axis]),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// OneHot

function lowerOneHot(ctx: LowerContext): Lowered {
  const ind = need(ctx, 0, 'indices');
  const depthT = ctx.hostValue(1);
  const valuesT = ctx.hostValue(2);
  if (!depthT || !valuesT) unsupported('depth and values must be known at plan time');
  if (depthT.size !== 1) unsupported('depth must hold one value');
  if (valuesT.size !== 2) unsupported('values must hold [off_value, on_value]');
  const it = devType(ind.dtype, 'indices');
  const ot = devType(valuesT.dtype, 'values');
  const depth = Math.trunc(depthT.getNumber(0));
  if (!(depth >= 0)) unsupported(`depth ${depth} must be non-negative`);
  const rank = ind.shape.length + 1;
  const axis = normAxis(ctx.node.int('axis', -1), rank);
  const U = bitsType(ot);
  const b = new KernelBuilder('onehot');
  b.input('ind', it.storage);
  b.output('out', U);
  const n = b.i64('n');
  b.i64('depth');
  b.i64('inner');
  b.i64('on');
  b.i64('off');
  b.gridStride(n, () => {
    b.line(
      'const long long j = i % inner;',
      'const long long r = i / inner;',
      'const long long k = r % depth;',
      'const long long o = r / depth;',
      'bool hit = false;',
    );
    const v = it.load(`ind[o * inner + j]`);
    if (it.kind === 'float') {
      b.line(`const double tv = trunc((double)(${v}));`);
      b.block('if (tv >= -(double)depth && tv < (double)depth)', () => {
        b.line('long long kk = (long long)tv;', 'if (kk < 0) kk += depth;', 'hit = kk == k;');
      });
    } else if (it.math === 'unsigned long long') {
      b.line(`const unsigned long long uv = ${v};`, 'hit = uv < (unsigned long long)depth && (long long)uv == k;');
    } else {
      b.line(`long long kk = (long long)(${v});`, 'if (kk < 0) kk += depth;', 'hit = kk == k;');
    }
    b.line(`out[i] = (${U})(hit ? on : off);`);
  });
  const kernel = b.build();
  const total = elementCount(ctx.outputs[0].shape);
  const inner = prod(ind.shape, axis);
  return launch1d(kernel, total, [
    { in: 0 }, { out: 0 }, a64(total), a64(depth), a64(inner), abits(hostBits(valuesT, 1)), abits(hostBits(valuesT, 0)),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// Resize

interface ResizeAttrs {
  mode: string;
  coord: string;
  nearestMode: string;
  exclude: boolean;
  antialias: boolean;
}

/** largest sample window for antialias kernels (window of the fixed kernels: 2 or 4) */
const AA_MAX = 64;

const RESIZE_HELPERS = `__device__ __forceinline__ double chm_rs_cubic(double x, double A) {
  const double a = fabs(x);
  if (a <= 1.0) return __dadd_rn(__dmul_rn(__dmul_rn(__dsub_rn(__dmul_rn(__dadd_rn(A, 2.0), a), __dadd_rn(A, 3.0)), a), a), 1.0);
  if (a < 2.0) return __dsub_rn(__dmul_rn(__dadd_rn(__dmul_rn(__dsub_rn(__dmul_rn(A, a), __dmul_rn(5.0, A)), a), __dmul_rn(8.0, A)), a), __dmul_rn(4.0, A));
  return 0.0;
}`;

/** C statements computing the input coordinate `xr` of output position xo (doubles: sc, inL, outL, outF, rs, re) */
function coordCode(coord: string): string[] {
  const hp = '__dsub_rn(__ddiv_rn(__dadd_rn(xo, 0.5), sc), 0.5)';
  switch (coord) {
    case 'align_corners': return ['xr = outF == 1.0 ? 0.0 : __ddiv_rn(__dmul_rn(xo, __dsub_rn(inL, 1.0)), __dsub_rn(outF, 1.0));'];
    case 'asymmetric': return ['xr = __ddiv_rn(xo, sc);'];
    case 'tf_half_pixel_for_nn': return ['xr = __ddiv_rn(__dadd_rn(xo, 0.5), sc);'];
    case 'tf_crop_and_resize': return [
      'const double rel = outF == 1.0 ? __ddiv_rn(__dmul_rn(__dsub_rn(re, rs), __dsub_rn(inL, 1.0)), 2.0)',
      '  : __ddiv_rn(__dmul_rn(__dmul_rn(xo, __dsub_rn(re, rs)), __dsub_rn(inL, 1.0)), __dsub_rn(outF, 1.0));',
      'xr = __dadd_rn(rel, __dmul_rn(rs, __dsub_rn(inL, 1.0)));',
    ];
    case 'pytorch_half_pixel': return [`xr = outF == 1.0 ? -0.5 : ${hp};`];
    case 'half_pixel_symmetric': return [
      'const double adj = __ddiv_rn(outL, outF);',
      'const double offs = __dmul_rn(__ddiv_rn(inL, 2.0), __dsub_rn(1.0, adj));',
      'xr = __dsub_rn(__dadd_rn(offs, __ddiv_rn(__dadd_rn(xo, 0.5), sc)), 0.5);',
    ];
    default: return [`xr = ${hp};`];
  }
}

/** C statements filling w[0..nn) with the coefficients for `ratio` (and setting nn) */
function coeffCode(at: ResizeAttrs): string[] {
  if (at.mode === 'nearest') {
    const pick: Record<string, string> = {
      round_prefer_ceil: 'ratio < 0.5',
      floor: 'true',
      ceil: 'false',
      round_prefer_floor: 'ratio <= 0.5',
    };
    return ['nn = 2;', `if (ratio == 1.0 || !(${pick[at.nearestMode]})) { w[0] = 0.0; w[1] = 1.0; } else { w[0] = 1.0; w[1] = 0.0; }`];
  }
  if (!at.antialias) {
    if (at.mode === 'linear') return ['nn = 2;', 'w[0] = __dsub_rn(1.0, ratio);', 'w[1] = ratio;'];
    return [
      'nn = 4;',
      'w[0] = chm_rs_cubic(__dadd_rn(ratio, 1.0), cuba);',
      'w[1] = chm_rs_cubic(ratio, cuba);',
      'w[2] = chm_rs_cubic(__dsub_rn(1.0, ratio), cuba);',
      'w[3] = chm_rs_cubic(__dsub_rn(2.0, ratio), cuba);',
    ];
  }
  const lin = at.mode === 'linear';
  return [
    'const double s = fmin(sc, 1.0);',
    `const double st = floor(__ddiv_rn(${lin ? '-1.0' : '-2.0'}, s)) + 1.0;`,
    'nn = (int)(2.0 - 2.0 * st);',
    'double sum = 0.0;',
    'for (int q = 0; q < nn; q++) {',
    '  const double ii = __dadd_rn(st, (double)q);',
    lin
      ? '  const double c = fmin(1.0, fmax(0.0, __dsub_rn(1.0, fabs(__dmul_rn(__dsub_rn(ii, ratio), s)))));'
      : '  const double c = chm_rs_cubic(__dmul_rn(s, __dsub_rn(ii, ratio)), cuba);',
    '  w[q] = c;',
    '  sum = __dadd_rn(sum, c);',
    '}',
    'for (int q = 0; q < nn; q++) w[q] = __ddiv_rn(w[q], sum);',
  ];
}

function resizeKernel(at: ResizeAttrs, rank: number, axes: readonly number[], t: DeviceType): KernelSource {
  const b = new KernelBuilder('resize');
  b.helpers(RESIZE_HELPERS);
  b.input('x', t.storage);
  b.output('out', t.storage);
  const n = b.i64('n');
  const od = b.i64s('od', rank);
  const id = b.i64s('id', rank);
  const xs = b.i64s('xs', rank);
  const sc = axes.map((_, k) => b.f64(`sc${k}`));
  const rs = axes.map((_, k) => b.f64(`rs${k}`));
  const re = axes.map((_, k) => b.f64(`re${k}`));
  b.f64('cuba');
  b.f64('extrap');
  const NM = at.mode === 'cubic' && !at.antialias ? 4 : at.antialias ? AA_MAX : 2;
  const crop = at.coord === 'tf_crop_and_resize';
  b.gridStride(n, () => {
    b.line('long long chm_rem = i;');
    for (let d = rank - 1; d >= 0; d--) {
      b.line(d > 0 ? `const long long c${d} = chm_rem % ${od[d]}; chm_rem /= ${od[d]};` : `const long long c${d} = chm_rem;`);
    }
    const fixed = [...Array(rank).keys()].filter((d) => !axes.includes(d));
    b.line(`const long long base = 0${fixed.map((d) => ` + c${d} * ${xs[d]}`).join('')};`);
    b.line('bool outside = false;');
    axes.forEach((a, k) => {
      b.line(`double w${k}[${NM}];`, `long long o${k}[${NM}];`, `int n${k} = 0;`);
      b.block('', () => {
        b.line(
          `const double sc = ${sc[k]}, rs = ${rs[k]}, re = ${re[k]};`,
          `const double inL = (double)${id[a]}, outL = (double)${od[a]};`,
          'const double outF = __dmul_rn(sc, inL);',
          `const double xo = (double)c${a};`,
          'double xr;',
          ...coordCode(at.coord),
        );
        const body = () => {
          b.line(
            'const double bs = ceil(xr) - 1.0;',
            'const double ratio = __dsub_rn(xr, bs);',
            `double* w = w${k};`,
            'int nn;',
            ...coeffCode(at),
            'const long long pad = nn / 2;',
            `long long start = (long long)bs - nn / 2 + 1;`,
            'if (start < -pad) start = -pad;',
            `if (start > ${id[a]} + pad - nn) start = ${id[a]} + pad - nn;`,
          );
          if (at.exclude) {
            b.line(
              'double esum = 0.0;',
              `for (int q = 0; q < nn; q++) { const long long ii = start + q; if (ii < 0 || ii >= ${id[a]}) w[q] = 0.0; esum = __dadd_rn(esum, w[q]); }`,
              'for (int q = 0; q < nn; q++) w[q] = __ddiv_rn(w[q], esum);',
            );
          }
          b.line(
            `for (int q = 0; q < nn; q++) { long long ii = start + q; if (ii < 0) ii = 0; if (ii > ${id[a]} - 1) ii = ${id[a]} - 1; o${k}[q] = ii * ${xs[a]}; }`,
            `n${k} = nn;`,
          );
        };
        if (crop) {
          b.block('if (xr < 0.0 || xr > __dsub_rn(inL, 1.0))', () => b.line('outside = true;'));
          b.block('else', body);
        } else body();
      });
    });
    b.line('double acc;');
    b.block('if (outside)', () => b.line('acc = extrap;'));
    b.block('else', () => {
      // innermost loop: the first resized axis (the reference resamples axes in `axes` order)
      const K = axes.length;
      const open = (k: number, off: string, into: string) => {
        b.block(`for (int j${k} = 0; j${k} < n${k}; j${k}++)`, () => {
          b.line(`if (w${k}[j${k}] == 0.0) continue;`, `const long long p${k} = ${off} + o${k}[j${k}];`);
          if (k === 0) b.line(`${into} = __dadd_rn(${into}, __dmul_rn(w0[j0], (double)(${t.load(`x[p0]`)})));`);
          else {
            b.line(`double s${k - 1} = 0.0;`);
            open(k - 1, `p${k}`, `s${k - 1}`);
            b.line(`${into} = __dadd_rn(${into}, __dmul_rn(w${k}[j${k}], s${k - 1}));`);
          }
        });
      };
      b.line('acc = 0.0;');
      if (K === 0) b.line(`acc = (double)(${t.load('x[base]')});`);
      else open(K - 1, 'base', 'acc');
    });
    b.line(...resizeStore(t));
  });
  return b.build();
}

/** statements storing double `acc` into out[i] the way the reference stores its float64 result */
function resizeStore(t: DeviceType): string[] {
  if (t.kind === 'float') {
    if (t.math === 'double') return ['out[i] = acc;'];
    return [`out[i] = ${t.store('(float)acc')};`];
  }
  const ranges: Record<string, [string, string, string, string]> = {
    // storage: [lo as double, hi as double, lo literal, hi literal]
    'signed char': ['-128.0', '127.0', '-128', '127'],
    'unsigned char': ['0.0', '255.0', '0', '255'],
    'short': ['-32768.0', '32767.0', '-32768', '32767'],
    'unsigned short': ['0.0', '65535.0', '0', '65535'],
    'int': ['-2147483648.0', '2147483647.0', '(-2147483647 - 1)', '2147483647'],
    'unsigned int': ['0.0', '4294967295.0', '0u', '4294967295u'],
    'long long': ['-9223372036854775808.0', '9223372036854775807.0', '(-9223372036854775807LL - 1)', '9223372036854775807LL'],
    'unsigned long long': ['0.0', '18446744073709551615.0', '0ULL', '18446744073709551615ULL'],
  };
  const [lo, hi, loL, hiL] = ranges[t.storage];
  return [
    'double rr = floor(acc);',
    'if (acc - rr >= 0.5) rr += 1.0;',
    `out[i] = rr != rr ? (${t.storage})0 : rr <= ${lo} ? (${t.storage})${loL} : rr >= ${hi} ? (${t.storage})${hiL} : (${t.storage})rr;`,
  ];
}

function lowerResize(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'X');
  const node = ctx.node;
  const at: ResizeAttrs = {
    mode: node.string('mode', 'nearest'),
    coord: node.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: node.string('nearest_mode', 'round_prefer_floor'),
    exclude: node.int('exclude_outside', 0) !== 0,
    antialias: node.int('antialias', 0) !== 0,
  };
  if (!['nearest', 'linear', 'cubic'].includes(at.mode)) unsupported(`unknown mode '${at.mode}'`);
  const coords = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_crop_and_resize', 'tf_half_pixel_for_nn'];
  if (!coords.includes(at.coord)) unsupported(`unknown coordinate_transformation_mode '${at.coord}'`);
  if (!['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'].includes(at.nearestMode)) unsupported(`unknown nearest_mode '${at.nearestMode}'`);
  if (at.mode === 'nearest' && at.antialias) unsupported('antialias is not supported with mode nearest');
  if (x.dtype === 'bool') unsupported('Resize is not defined for bool');
  const t = devType(x.dtype, 'X');
  const cubicA = node.float('cubic_coeff_a', -0.75);
  const extrapolation = node.float('extrapolation_value', 0);
  const policy = node.string('keep_aspect_ratio_policy', 'stretch');
  const rank = x.shape.length;
  const axes = node.has('axes') ? node.ints('axes').map((a) => (a < 0 ? a + rank : a)) : [...Array(rank).keys()];
  if (axes.some((a) => a < 0 || a >= rank) || new Set(axes).size !== axes.length) unsupported(`invalid axes for rank ${rank}`);

  const host = (i: number): number[] | undefined => {
    if (!ctx.inputs[i]) return undefined;
    const v = ctx.hostValue(i);
    if (!v) unsupported(`input ${i} must be known at plan time`);
    return v.size > 0 ? v.toNumbers() : undefined;
  };
  const roiV = host(1);
  const scalesV = host(2);
  const sizesV = host(3);
  if (scalesV && sizesV) unsupported('only one of scales and sizes may be given');
  if (!scalesV && !sizesV) unsupported('one of scales and sizes must be given');
  const given = (scalesV ?? sizesV)!;
  if (given.length !== axes.length) unsupported(`scales/sizes has ${given.length} values, expected ${axes.length}`);
  if (at.coord === 'tf_crop_and_resize' && (!roiV || roiV.length !== 2 * axes.length)) unsupported('roi must have 2 values per axis for tf_crop_and_resize');
  const scale = new Array<number>(rank).fill(1);
  const outShape = [...x.shape];
  if (scalesV) {
    axes.forEach((a, i) => {
      if (!(scalesV[i] > 0)) unsupported(`scale ${scalesV[i]} must be positive`);
      scale[a] = scalesV[i];
      outShape[a] = Math.floor(scalesV[i] * x.shape[a]);
    });
  } else {
    axes.forEach((a, i) => {
      if (!Number.isInteger(sizesV![i]) || sizesV![i] < 0) unsupported(`invalid size ${sizesV![i]}`);
      scale[a] = sizesV![i] / x.shape[a];
      outShape[a] = sizesV![i];
    });
    if (policy !== 'stretch') {
      if (policy !== 'not_larger' && policy !== 'not_smaller') unsupported(`unknown keep_aspect_ratio_policy '${policy}'`);
      const ss = axes.map((a) => scale[a]);
      const s = policy === 'not_larger' ? Math.min(...ss) : Math.max(...ss);
      for (const a of axes) { scale[a] = s; outShape[a] = Math.floor(s * x.shape[a] + 0.5); }
    }
  }
  const out = ctx.outputs[0];
  if (out.shape.length !== rank || out.shape.some((d, i) => d !== outShape[i])) unsupported(`output shape [${out.shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  if (at.antialias) {
    for (const a of axes) {
      const s = Math.min(scale[a], 1);
      const st = Math.floor((at.mode === 'linear' ? -1 : -2) / s) + 1;
      if (2 - 2 * st > AA_MAX) unsupported(`antialias window of ${2 - 2 * st} samples exceeds ${AA_MAX}`);
    }
  }
  const kernel = resizeKernel(at, rank, axes, t);
  const total = elementCount(outShape);
  if (total > 0 && elementCount(x.shape) === 0) unsupported('cannot resize an empty input to a non-empty output');
  const K = axes.length;
  return launch1d(kernel, total, [
    { in: 0 }, { out: 0 }, a64(total), ...outShape.map(a64), ...x.shape.map(a64), ...contiguousStrides(x.shape).map(a64),
    ...axes.map((a) => af64(scale[a])),
    ...axes.map((_, i) => af64(roiV?.[i] ?? 0)),
    ...axes.map((_, i) => af64(roiV?.[K + i] ?? 1)),
    af64(cubicA), af64(extrapolation),
  ]);
}

// ---------------------------------------------------------------------------------------------------
// TopK: one block per row, bitonic sort of (key, index) pairs in shared memory

const TOPK_THREADS = 512;
const TOPK_SMEM = 48 * 1024;

function topkKernel(t: DeviceType, largest: boolean): KernelSource {
  const b = new KernelBuilder('topk', TOPK_THREADS);
  b.input('x', t.storage);
  b.output('vals', t.storage);
  b.output('inds', 'long long');
  b.i64('rows');
  b.i64('n');
  b.i64('inner');
  b.i64('k');
  b.i64('P');
  b.i64('keyoff');
  b.dynamicShared('int', 'ids');
  const M = t.math;
  const gt = (p: string, q: string) => (t.kind === 'float' ? `(${p} != ${p} ? ${q} == ${q} : (${q} == ${q} && ${p} > ${q}))` : `(${p} > ${q})`);
  const eq = (p: string, q: string) => (t.kind === 'float' ? `((${p} != ${p} && ${q} != ${q}) || ${p} == ${q})` : `(${p} == ${q})`);
  const better = largest ? gt('kp', 'kq') : gt('kq', 'kp');
  b.line(`${M}* keys = reinterpret_cast<${M}*>(chm_dyn_smem + keyoff);`);
  b.block('for (long long row = blockIdx.x; row < rows; row += gridDim.x)', () => {
    b.line(
      'const long long o = row / inner;',
      'const long long j = row % inner;',
      'const long long base = o * n * inner + j;',
    );
    b.block('for (long long p = threadIdx.x; p < P; p += blockDim.x)', () => {
      b.block('if (p < n)', () => b.line(`keys[p] = ${t.load('x[base + p * inner]')};`, 'ids[p] = (int)p;'));
      b.block('else', () => b.line('ids[p] = -1;'));
    });
    b.line('__syncthreads();');
    b.block('for (long long size = 2; size <= P; size <<= 1)', () => {
      b.block('for (long long stride = size >> 1; stride > 0; stride >>= 1)', () => {
        b.block('for (long long h = threadIdx.x; h < (P >> 1); h += blockDim.x)', () => {
          b.line(
            'const long long lo = 2 * stride * (h / stride) + (h % stride);',
            'const long long hi = lo + stride;',
            'const bool asc = (lo & size) == 0;',
            // before(a, b): a sorts ahead of b (padding sorts last; ties by lower index)
            'const long long fa = asc ? hi : lo, fb = asc ? lo : hi;',
            'const int ia = ids[fa], ib = ids[fb];',
            'bool swap;',
          );
          b.block('if (ia < 0) swap = false; else if (ib < 0) swap = true; else', () => {
            b.line(
              `const ${M} kp = keys[fa], kq = keys[fb];`,
              `swap = ${better} || (${eq('kp', 'kq')} && ia < ib);`,
            );
          });
          b.block('if (swap)', () => {
            b.line(
              `const ${M} tk = keys[lo]; keys[lo] = keys[hi]; keys[hi] = tk;`,
              'const int ti = ids[lo]; ids[lo] = ids[hi]; ids[hi] = ti;',
            );
          });
        });
        b.line('__syncthreads();');
      });
    });
    b.block('for (long long p = threadIdx.x; p < k; p += blockDim.x)', () => {
      b.line(
        'const long long dst = o * k * inner + p * inner + j;',
        'vals[dst] = x[base + (long long)ids[p] * inner];',
        'inds[dst] = ids[p];',
      );
    });
    b.line('__syncthreads();');
  });
  return b.build();
}

function lowerTopK(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'X');
  const kT = ctx.hostValue(1);
  if (!kT) unsupported('K must be known at plan time');
  if (kT.size !== 1) unsupported('K must hold exactly one value');
  const t = devType(x.dtype, 'X');
  const rank = x.shape.length;
  if (rank === 0) unsupported('input must have rank >= 1');
  const axis = normAxis(ctx.node.int('axis', -1), rank);
  const largest = ctx.node.int('largest', 1) !== 0;
  const n = x.shape[axis];
  const k = kT.getNumber(0);
  if (!Number.isInteger(k) || k < 0 || k > n) unsupported(`K = ${k} is out of range for an axis of ${n}`);
  const kernel = topkKernel(t, largest);
  const inner = prod(x.shape, axis + 1);
  const rows = prod(x.shape, 0, axis) * inner;
  if (rows * k === 0) return { launches: [], variants: [kernel] };
  let P = 1;
  while (P < n) P *= 2;
  const mathBytes = t.math === 'float' || t.math === 'int' ? 4 : t.math === 'double' ? 8 : t.bytes;
  const keyOff = Math.ceil((P * 4) / 16) * 16;
  const shared = keyOff + P * mathBytes;
  if (shared > TOPK_SMEM) unsupported(`TopK rows of ${n} elements do not fit shared memory`);
  const threads = Math.min(TOPK_THREADS, Math.max(32, P / 2));
  return {
    launches: [{
      kernel, grid: [Math.min(rows, 2 ** 31 - 1), 1, 1], block: [threads, 1, 1], sharedBytes: shared,
      args: [{ in: 0 }, { out: 0 }, { out: 1 }, a64(rows), a64(n), a64(inner), a64(k), a64(P), a64(keyOff)],
    }],
  };
}

// ---------------------------------------------------------------------------------------------------
// ReverseSequence

function lowerReverseSequence(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'input');
  const lens = need(ctx, 1, 'sequence_lens');
  const t = devType(x.dtype, 'input');
  const lt = indexCType(lens.dtype, 'sequence_lens');
  const rank = x.shape.length;
  const ta = normAxis(ctx.node.int('time_axis', 0), rank, 'time_axis');
  const ba = normAxis(ctx.node.int('batch_axis', 1), rank, 'batch_axis');
  if (ta === ba) unsupported('time_axis and batch_axis must differ');
  const U = bitsType(t);
  const b = new KernelBuilder('revseq');
  b.input('x', U);
  b.input('lens', lt);
  b.output('out', U);
  const n = b.i64('n');
  b.i64('T');
  b.i64('tstride');
  b.i64('B');
  b.i64('bstride');
  b.gridStride(n, () => {
    b.line(
      'const long long tt = (i / tstride) % T;',
      'const long long bb = (i / bstride) % B;',
      'long long len = (long long)lens[bb];',
      'if (len > T) len = T;',
      'out[i] = x[tt < len ? i + (len - 1 - 2 * tt) * tstride : i];',
    );
  });
  const kernel = b.build();
  const st = contiguousStrides(x.shape);
  const total = elementCount(x.shape);
  return launch1d(kernel, total, [{ in: 0 }, { in: 1 }, { out: 0 }, a64(total), a64(x.shape[ta]), a64(st[ta]), a64(x.shape[ba]), a64(st[ba])]);
}

// ---------------------------------------------------------------------------------------------------
// value sources: Range, ConstantOfShape, EyeLike

function lowerRange(ctx: LowerContext): Lowered {
  const [s, l, d] = [ctx.hostValue(0), ctx.hostValue(1), ctx.hostValue(2)];
  if (!s || !l || !d) unsupported('start, limit and delta must be known at plan time');
  if (s.size !== 1 || d.size !== 1 || l.size !== 1) unsupported('start, limit and delta must be scalars');
  const out = ctx.outputs[0];
  if (out.dtype === 'bool') unsupported('Range is not defined for bool');
  const t = devType(out.dtype, 'output');
  const b = new KernelBuilder('range');
  b.output('out', t.storage);
  const n = b.i64('n');
  let args: ArgRef[];
  if (t.kind === 'float') {
    b.f64('start');
    b.f64('delta');
    b.gridStride(n, () => {
      const v = '__dadd_rn(start, __dmul_rn((double)i, delta))';
      b.line(`out[i] = ${t.math === 'double' ? v : t.store(`(float)${v}`)};`);
    });
    args = [af64(s.getNumber(0)), af64(d.getNumber(0))];
  } else {
    b.i64('start');
    b.i64('delta');
    b.gridStride(n, () => b.line(`out[i] = (${t.storage})((unsigned long long)start + (unsigned long long)i * (unsigned long long)delta);`));
    const big = (v: Tensor): bigint => {
      const e = v.data[0];
      return typeof e === 'bigint' ? BigInt.asIntN(64, e) : BigInt(Math.trunc(Number(e)));
    };
    args = [abits(big(s)), abits(big(d))];
  }
  const kernel = b.build();
  const total = elementCount(out.shape);
  return launch1d(kernel, total, [{ out: 0 }, a64(total), ...args]);
}

function fillKernel(t: DeviceType): KernelSource {
  const U = bitsType(t);
  const b = new KernelBuilder('fill');
  b.output('out', U);
  const n = b.i64('n');
  b.i64('v');
  b.gridStride(n, () => b.line(`out[i] = (${U})v;`));
  return b.build();
}

function lowerConstantOfShape(ctx: LowerContext): Lowered {
  const out = ctx.outputs[0];
  const v = ctx.node.tensor('value');
  if (v && v.size !== 1) unsupported('value must hold one element');
  const t = devType(out.dtype, 'output');
  if (v && v.dtype !== out.dtype) unsupported(`value dtype ${v.dtype} differs from the output's ${out.dtype}`);
  const bits = v ? hostBits(v, 0) : 0n;
  const total = elementCount(out.shape);
  return launch1d(fillKernel(t), total, [{ out: 0 }, a64(total), abits(bits)]);
}

function lowerEyeLike(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'input');
  if (x.shape.length !== 2) unsupported(`input must have rank 2, got ${x.shape.length}`);
  let dtype: DType = x.dtype;
  if (ctx.node.has('dtype')) {
    const d = dtypeFromCode(ctx.node.int('dtype'));
    if (!d) unsupported(`unknown dtype code ${ctx.node.int('dtype')}`);
    dtype = d;
  }
  const t = devType(dtype, 'output');
  const U = bitsType(t);
  const b = new KernelBuilder('eyelike');
  b.output('out', U);
  const n = b.i64('n');
  b.i64('cols');
  b.i64('k');
  b.i64('one');
  b.gridStride(n, () => b.line(`out[i] = (i % cols) - (i / cols) == k ? (${U})one : (${U})0;`));
  const kernel = b.build();
  const total = elementCount(x.shape);
  return launch1d(kernel, total, [{ out: 0 }, a64(total), a64(x.shape[1]), a64(ctx.node.int('k', 0)), abits(oneBits(dtype))]);
}

registerLowerings({
  Gather: { lower: lowerGather },
  GatherElements: { lower: lowerGatherElements },
  GatherND: { lower: lowerGatherND },
  ScatterND: { lower: lowerScatterND },
  ScatterElements: { lower: lowerScatterElements },
  OneHot: { hostInputs: [1, 2], lower: lowerOneHot },
  Resize: { hostInputs: [1, 2, 3], lower: lowerResize },
  TopK: { hostInputs: [1], lower: lowerTopK },
  ReverseSequence: { lower: lowerReverseSequence },
  Range: { hostInputs: [0, 1, 2], lower: lowerRange },
  ConstantOfShape: { hostInputs: [0], lower: lowerConstantOfShape },
  EyeLike: { lower: lowerEyeLike },
});
