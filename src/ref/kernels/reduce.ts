/**
 * kernels: Reduce* (Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare), normalized form:
 * inputs (data, axes?), attributes keepdims (default 1) and noop_with_empty_axes (default 0).
 *
 * Iteration: adjacent dims of the same kind (kept / reduced) are merged, the innermost merged dim is walked
 * contiguously, and the remaining kept and reduced dims become two small offset tables (one entry per kept
 * position and per reduced position), so work is O(elements) with contiguous inner loops.
 * Floats accumulate in float64 (rounded once to the output dtype); int64/uint64 use exact bigint arithmetic;
 * narrower ints use wrapping 32-bit arithmetic where the result is integral (sum, prod, squares).
 */
import { Tensor } from '../../ir/tensor.js';
import { intRange, isBigInt, isFloat, isInteger, isNarrowFloat, type NumericArray } from '../../ir/dtype.js';
import { roundToDtype } from '../../ir/float.js';
import { registerKernels, type Kernel, type KernelContext } from '../kernel.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'l1' | 'l2' | 'logsum' | 'logsumexp' | 'sumsq';

/** How the elements of one tensor map onto its reduction outputs. */
export interface ReducePlan {
  outShape: number[];
  /** output shape as if keepdims = 1 */
  keptShape: number[];
  /** input offset of each kept (outer) position, in output order */
  keptOff: Int32Array;
  /** input offset of each reduced (outer) position */
  redOff: Int32Array;
  /** contiguous kept run at the end (output elements per keptOff entry) */
  inner: number;
  /** contiguous reduced run at the end (elements walked per redOff entry) */
  innerRed: number;
  /** number of elements reduced into each output */
  count: number;
  outSize: number;
}

function offsetTable(dims: { size: number; stride: number }[]): Int32Array {
  let n = 1;
  for (const d of dims) n *= d.size;
  const t = new Int32Array(n);
  const ctr = new Array<number>(dims.length).fill(0);
  let cur = 0;
  for (let k = 0; k < n; k++) {
    t[k] = cur;
    for (let j = dims.length - 1; j >= 0; j--) {
      ctr[j]++;
      cur += dims[j].stride;
      if (ctr[j] < dims[j].size) break;
      cur -= dims[j].stride * ctr[j];
      ctr[j] = 0;
    }
  }
  return t;
}

/**
 * The dims of `shape` with adjacent dims of the same kind (reduced or kept) merged and size-1 dims
 * dropped, each with its contiguous stride in the input (also used by the CUDA lowering).
 */
export function mergeReduceDims(shape: readonly number[], reduced: readonly boolean[]): { size: number; red: boolean; stride: number }[] {
  const merged: { size: number; red: boolean; stride: number }[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = merged[merged.length - 1];
    if (last && last.red === reduced[i]) last.size *= shape[i];
    else merged.push({ size: shape[i], red: reduced[i], stride: 0 });
  }
  let acc = 1;
  for (let i = merged.length - 1; i >= 0; i--) { merged[i].stride = acc; acc *= merged[i].size; }
  return merged;
}

/** Builds the iteration plan for reducing `shape` over `reduced` (a flag per axis). */
export function reducePlan(shape: readonly number[], reduced: readonly boolean[], keepdims: boolean): ReducePlan {
  const keptShape = shape.map((d, i) => (reduced[i] ? 1 : d));
  const outShape = keepdims ? keptShape : shape.filter((_, i) => !reduced[i]);
  let count = 1;
  let outSize = 1;
  shape.forEach((d, i) => { if (reduced[i]) count *= d; else outSize *= d; });
  const merged = mergeReduceDims(shape, reduced);
  let inner = 1;
  let innerRed = 1;
  const tail = merged[merged.length - 1];
  if (tail && (count > 0 && outSize > 0)) {
    merged.pop();
    if (tail.red) innerRed = tail.size; else inner = tail.size;
  }
  const empty = count === 0 || outSize === 0;
  const keptOff = empty ? new Int32Array(outSize) : offsetTable(merged.filter((m) => !m.red));
  const redOff = empty ? new Int32Array(0) : offsetTable(merged.filter((m) => m.red));
  return { outShape, keptShape, keptOff, redOff, inner, innerRed, count, outSize };
}

const COMBINE = { sum: 0, prod: 1, max: 2, min: 3 } as const;
const PRE = { id: 0, abs: 1, square: 2, expShift: 3, imulSquare: 4 } as const;

/**
 * Reduces numeric data with a combine (sum/prod/max/min) after an elementwise transform.
 * `shift` (per output) is subtracted before exp for PRE.expShift. `intWrap` makes sum/prod wrap as int32.
 */
function reduceNumbers(x: NumericArray, p: ReducePlan, combine: number, pre: number, init: number, intWrap: boolean, shift?: Float64Array): Float64Array {
  const out = new Float64Array(p.outSize).fill(init);
  if (p.count === 0 || p.outSize === 0) return out;
  const { keptOff, redOff, inner, innerRed } = p;
  const step = (a: number, raw: number, o: number): number => {
    let v = raw;
    switch (pre) {
      case 1: v = Math.abs(raw); break;
      case 2: v = raw * raw; break;
      case 3: v = Math.exp(raw - shift![o]); break;
      case 4: v = Math.imul(raw, raw); break;
    }
    switch (combine) {
      case 0: return intWrap ? (a + v) | 0 : a + v;
      case 1: return intWrap ? Math.imul(a, v) : a * v;
      case 2: return v > a || v !== v ? v : a;
      default: return v < a || v !== v ? v : a;
    }
  };
  for (let k = 0; k < keptOff.length; k++) {
    const o0 = k * inner;
    for (let r = 0; r < redOff.length; r++) {
      const base = keptOff[k] + redOff[r];
      if (inner > 1) {
        for (let i = 0; i < inner; i++) out[o0 + i] = step(out[o0 + i], x[base + i], o0 + i);
      } else {
        let a = out[o0];
        for (let j = 0; j < innerRed; j++) a = step(a, x[base + j], o0);
        out[o0] = a;
      }
    }
  }
  return out;
}

/** Exact bigint reduction (int64/uint64) for sum/prod/max/min with optional abs/square transform. */
function reduceBigints(x: BigInt64Array | BigUint64Array, p: ReducePlan, combine: number, pre: number, init: bigint): bigint[] {
  const out = new Array<bigint>(p.outSize).fill(init);
  if (p.count === 0 || p.outSize === 0) return out;
  const { keptOff, redOff, inner, innerRed } = p;
  for (let k = 0; k < keptOff.length; k++) {
    for (let r = 0; r < redOff.length; r++) {
      const base = keptOff[k] + redOff[r];
      for (let i = 0; i < inner; i++) {
        const o = k * inner + i;
        let a = out[o];
        for (let j = 0; j < innerRed; j++) {
          let v = x[base + i + j];
          if (pre === PRE.abs && v < 0n) v = -v;
          else if (pre === PRE.square) v = v * v;
          if (combine === COMBINE.sum) a += v;
          else if (combine === COMBINE.prod) a *= v;
          else if (combine === COMBINE.max) { if (v > a) a = v; } else if (v < a) a = v;
        }
        out[o] = a;
      }
    }
  }
  return out;
}

function toNumberArray(t: Tensor): NumericArray {
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) return Float64Array.from(t.data, Number);
  return t.data as NumericArray;
}

/** Float64 result of a reduction (all ops), before the final cast to the output dtype. */
function reduceFloat(op: ReduceOp, t: Tensor, p: ReducePlan): Float64Array {
  const x = toNumberArray(t);
  const intWrap = isInteger(t.dtype) && !isBigInt(t.dtype) && op !== 'mean' && op !== 'l2';
  const bounds = (t.dtype === 'bool' || isInteger(t.dtype)) ? intRange(t.dtype).map(Number) : [-Infinity, Infinity];
  switch (op) {
    case 'sum': return reduceNumbers(x, p, COMBINE.sum, PRE.id, 0, intWrap);
    case 'mean': {
      const s = reduceNumbers(x, p, COMBINE.sum, PRE.id, 0, false);
      for (let i = 0; i < s.length; i++) s[i] /= p.count;
      return s;
    }
    case 'max': return reduceNumbers(x, p, COMBINE.max, PRE.id, bounds[0], false);
    case 'min': return reduceNumbers(x, p, COMBINE.min, PRE.id, bounds[1], false);
    case 'prod': return reduceNumbers(x, p, COMBINE.prod, PRE.id, 1, intWrap);
    case 'l1': return reduceNumbers(x, p, COMBINE.sum, PRE.abs, 0, intWrap);
    case 'sumsq': return reduceNumbers(x, p, COMBINE.sum, intWrap ? PRE.imulSquare : PRE.square, 0, intWrap);
    case 'l2': return reduceNumbers(x, p, COMBINE.sum, PRE.square, 0, false).map(Math.sqrt);
    case 'logsum': return reduceNumbers(x, p, COMBINE.sum, PRE.id, 0, false).map(Math.log);
    case 'logsumexp': {
      const m = reduceNumbers(x, p, COMBINE.max, PRE.id, -Infinity, false);
      const s = reduceNumbers(x, p, COMBINE.sum, PRE.expShift, 0, false, m);
      for (let i = 0; i < s.length; i++) s[i] = Number.isFinite(m[i]) ? Math.log(s[i]) + m[i] : m[i];
      return s;
    }
  }
}

/** Bigint reductions where exact integer results exist; undefined → use the float path and truncate. */
function reduceExactBig(op: ReduceOp, t: Tensor, p: ReducePlan): bigint[] | undefined {
  const x = t.data as BigInt64Array | BigUint64Array;
  const [lo, hi] = intRange(t.dtype);
  switch (op) {
    case 'sum': return reduceBigints(x, p, COMBINE.sum, PRE.id, 0n);
    case 'prod': return reduceBigints(x, p, COMBINE.prod, PRE.id, 1n);
    case 'max': return reduceBigints(x, p, COMBINE.max, PRE.id, lo);
    case 'min': return reduceBigints(x, p, COMBINE.min, PRE.id, hi);
    case 'l1': return reduceBigints(x, p, COMBINE.sum, PRE.abs, 0n);
    case 'sumsq': return reduceBigints(x, p, COMBINE.sum, PRE.square, 0n);
    case 'mean': {
      if (p.count === 0) return undefined;
      const c = BigInt(p.count);
      return reduceBigints(x, p, COMBINE.sum, PRE.id, 0n).map((s) => s / c);
    }
    default: return undefined;
  }
}

/** Reduces `t` over `reduced` axes (flag per axis) with `op`. Exported for reuse (pooling, norms). */
export function reduceTensor(op: ReduceOp, t: Tensor, reduced: readonly boolean[], keepdims: boolean): Tensor {
  const p = reducePlan(t.shape, reduced, keepdims);
  const out = Tensor.zeros(t.dtype, p.outShape);
  const d = t.dtype;
  if (isBigInt(d)) {
    const exact = reduceExactBig(op, t, p);
    const o = out.data as BigInt64Array | BigUint64Array;
    if (exact) {
      for (let i = 0; i < o.length; i++) o[i] = exact[i]; // typed-array store wraps to 64 bits
    } else {
      const f = reduceFloat(op, t, p);
      for (let i = 0; i < o.length; i++) o[i] = Number.isFinite(f[i]) ? BigInt(Math.trunc(f[i])) : 0n;
    }
    return out;
  }
  const f = reduceFloat(op, t, p);
  const o = out.data as NumericArray;
  if (isNarrowFloat(d)) for (let i = 0; i < o.length; i++) o[i] = roundToDtype(d, f[i]);
  else if (isFloat(d)) o.set(f);
  else for (let i = 0; i < o.length; i++) o[i] = Number.isFinite(f[i]) ? Math.trunc(f[i]) : 0;
  return out;
}

function reduceKernel(op: ReduceOp): Kernel {
  return (ctx: KernelContext) => {
    const x = ctx.input(0);
    const keepdims = ctx.node.int('keepdims', 1) !== 0;
    const noop = ctx.node.int('noop_with_empty_axes', 0) !== 0;
    const axesT = ctx.optionalInput(1);
    const axes = axesT ? axesT.toNumbers() : [];
    const rank = x.rank;
    if (x.dtype === 'string' || x.dtype === 'complex64' || x.dtype === 'complex128') ctx.fail(`unsupported element type ${x.dtype}`);
    if ((x.dtype === 'bool') && op !== 'max' && op !== 'min') ctx.fail(`bool input is only valid for ReduceMax/ReduceMin`);
    const reduced = new Array<boolean>(rank).fill(axes.length === 0 && !noop);
    for (const a of axes) {
      const n = a < 0 ? a + rank : a;
      if (!Number.isInteger(n) || n < 0 || n >= rank) ctx.fail(`axis ${a} is out of range for rank ${rank}`, 'input 1');
      reduced[n] = true;
    }
    return [reduceTensor(op, x, reduced, keepdims)];
  };
}

registerKernels({
  ReduceSum: reduceKernel('sum'),
  ReduceMean: reduceKernel('mean'),
  ReduceMax: reduceKernel('max'),
  ReduceMin: reduceKernel('min'),
  ReduceProd: reduceKernel('prod'),
  ReduceL1: reduceKernel('l1'),
  ReduceL2: reduceKernel('l2'),
  ReduceLogSum: reduceKernel('logsum'),
  ReduceLogSumExp: reduceKernel('logsumexp'),
  ReduceSumSquare: reduceKernel('sumsq'),
});
