/**
 * Data movement, part 2: indexed reads and writes and value sources — Gather, GatherElements, GatherND,
 * ScatterND, ScatterElements, OneHot, ReverseSequence (Resize, TopK and the value sources have their own files).
 *
 * Pure copies move elements as unsigned integers of the element's width, so one kernel serves every
 * dtype of that width. Indices live on the device (int32/int64; negative ones wrap; out-of-range ones
 * read zero / are skipped, where the reference interpreter fails). Scatters copy data to the output in
 * a first launch and apply updates in a second: ScatterND 'none' uses one thread per update element
 * (duplicate indices then race, as the ONNX spec allows); reductions, and all of ScatterElements, walk
 * colliding updates sequentially in the reference's order (deterministic, exact).
 */
import { literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, offsetFromLinear, type KernelSource } from '../kernel-ir.js';
import {
  a64, contiguousStrides, elementCount, grid1d, registerLowerings, unsupported,
  type ArgRef, type LowerContext, type Lowered, type TensorDesc } from '../lowering.js';
import { abits, bitsType, cArray, copyKernel, devType, hostBits, indexCType, launch1d, need, normAxis, prod } from './index-util.js';

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

registerLowerings({
  Gather: { lower: lowerGather },
  GatherElements: { lower: lowerGatherElements },
  GatherND: { lower: lowerGatherND },
  ScatterND: { lower: lowerScatterND },
  ScatterElements: { lower: lowerScatterElements },
  OneHot: { hostInputs: [1, 2], lower: lowerOneHot },
  ReverseSequence: { lower: lowerReverseSequence },
});
