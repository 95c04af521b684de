/**
 * kernels: windowed data movement — Slice, Pad, CenterCropPad, Trilu, ReverseSequence, Compress.
 * Every dtype (typed arrays and strings); stride arithmetic, no per-element index arrays.
 */
import { Tensor, stridesOf } from '../../ir/tensor.js';
import type { TensorData } from '../../ir/dtype.js';
import { registerKernels, type KernelContext } from '../kernel.js';
import {
  attrString, axisOf, coerce, copyRun, fillRun, lanesOf, prod, readInts, store, stridedView, zeroValue,
} from './tensor-util.js';

/** Per-axis list of axes from an optional axes input (default 0..n-1); duplicates fail. */
function axesList(ctx: KernelContext, t: Tensor | undefined, n: number, rank: number): number[] {
  const axes = t ? readInts(t).map((a) => axisOf(ctx, a, rank)) : Array.from({ length: n }, (_, i) => i);
  if (new Set(axes).size !== axes.length) ctx.fail(`axes [${axes.join(',')}] contain duplicates`);
  return axes;
}

/**
 * One Slice axis of length `dim` (step non-zero): the clamped first index and the element count, per the
 * ONNX spec (negative start/end count from the end; clamped to [0, dim] for positive steps, [-1, dim-1]
 * for negative ones).
 */
export function sliceRange(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  let count: number;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    count = Math.max(0, Math.ceil((e - s) / step));
  } else {
    s = Math.min(Math.max(s, 0), dim - 1);
    e = Math.min(Math.max(e, -1), dim - 1);
    count = Math.max(0, Math.ceil((s - e) / -step));
  }
  return { start: s, count };
}

function slice(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const starts = readInts(ctx.input(1));
  const ends = readInts(ctx.input(2));
  if (starts.length !== ends.length) ctx.fail(`starts has ${starts.length} values, ends ${ends.length}`);
  const axes = axesList(ctx, ctx.optionalInput(3), starts.length, x.rank);
  const stepsT = ctx.optionalInput(4);
  const steps = stepsT ? readInts(stepsT) : new Array<number>(starts.length).fill(1);
  if (axes.length !== starts.length || steps.length !== starts.length) ctx.fail('starts, ends, axes and steps must have the same length');
  const inStrides = stridesOf(x.shape);
  const shape = [...x.shape];
  const strides = [...inStrides];
  let base = 0;
  axes.forEach((a, i) => {
    const dim = x.shape[a];
    const step = steps[i];
    if (step === 0 || !Number.isFinite(step)) ctx.fail('steps must be non-zero');
    const { start: s, count } = sliceRange(dim, starts[i], ends[i], step);
    shape[a] = count;
    strides[a] = inStrides[a] * step;
    if (count > 0) base += s * inStrides[a];
  });
  return [stridedView(x, base, strides, shape)];
}

/** For one axis: the source index of each output position, or -1 for the constant value. */
function padMap(ctx: KernelContext, dim: number, before: number, after: number, mode: string): Int32Array {
  const outDim = dim + before + after;
  const cropB = Math.max(-before, 0);
  const m = dim - cropB - Math.max(-after, 0); // length left after cropping
  const lead = Math.max(before, 0);
  const map = new Int32Array(outDim);
  for (let o = 0; o < outDim; o++) {
    let s = o - lead;
    if (s < 0 || s >= m) {
      if (mode === 'constant' || m <= 0) {
        if (mode !== 'constant') ctx.fail(`${mode} padding needs a non-empty input along every padded axis`);
        map[o] = -1;
        continue;
      }
      if (mode === 'edge') s = s < 0 ? 0 : m - 1;
      else if (mode === 'wrap') s = ((s % m) + m) % m;
      else if (mode === 'reflect') {
        if (m === 1) s = 0;
        else {
          const period = 2 * (m - 1);
          s = ((s % period) + period) % period;
          if (s >= m) s = period - s;
        }
      } else ctx.fail(`unknown mode '${mode}'`);
    }
    map[o] = cropB + s;
  }
  return map;
}

function pad(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const pads = readInts(ctx.input(1));
  const cvalT = ctx.optionalInput(2);
  const mode = attrString(ctx, 'mode', 'constant');
  const axes = axesList(ctx, ctx.optionalInput(3), x.rank, x.rank);
  if (pads.length !== 2 * axes.length) ctx.fail(`pads has ${pads.length} values, expected ${2 * axes.length}`);
  const before = new Array<number>(x.rank).fill(0);
  const after = new Array<number>(x.rank).fill(0);
  axes.forEach((a, i) => { before[a] = pads[i]; after[a] = pads[i + axes.length]; });
  const outShape = x.shape.map((d, i) => d + before[i] + after[i]);
  if (outShape.some((d) => d < 0)) ctx.fail(`pads [${pads.join(',')}] give a negative dimension for input [${x.shape.join(',')}]`);
  const out = Tensor.zeros(x.dtype, outShape);
  if (out.size === 0) return [out];
  const L = lanesOf(x.dtype);
  const cval = cvalT && cvalT.size > 0 ? coerce(store(cvalT.data)[0], x.dtype) : zeroValue(x.dtype);
  const rank = x.rank;
  if (rank === 0) { copyRun(out.data, 0, x.data, 0, L); return [out]; }
  const maps = outShape.map((_, i) => padMap(ctx, x.shape[i], before[i], after[i], mode));
  const inStrides = stridesOf(x.shape);
  const lastMap = maps[rank - 1];
  const lastDim = outShape[rank - 1];
  // the interior run of the last axis maps to contiguous source positions
  const lead = Math.max(before[rank - 1], 0);
  let runEnd = lead;
  while (runEnd < lastDim && lastMap[runEnd] >= 0 && lastMap[runEnd] === lastMap[lead] + (runEnd - lead)) runEnd++;
  const rows = out.size / lastDim;
  const ctr = new Array<number>(rank).fill(0);
  const src = store(x.data), dst = store(out.data);
  const constRow = (o: number) => { if (L === 1) fillRun(out.data, o, lastDim, cval); else for (let j = 0; j < lastDim * L; j++) dst[o + j] = j % L === 0 ? cval : zeroValue(x.dtype); };
  for (let r = 0, o = 0; r < rows; r++, o += lastDim * L) {
    let base = 0;
    let constant = false;
    for (let k = 0; k < rank - 1; k++) {
      const s = maps[k][ctr[k]];
      if (s < 0) { constant = true; break; }
      base += s * inStrides[k];
    }
    if (constant) constRow(o);
    else {
      for (let j = 0; j < lastDim; j++) {
        if (j === lead && runEnd > lead) {
          copyRun(out.data, o + j * L, x.data, (base + lastMap[lead]) * L, (runEnd - lead) * L);
          j = runEnd - 1;
          continue;
        }
        const s = lastMap[j];
        if (s < 0) { dst[o + j * L] = cval; for (let l = 1; l < L; l++) dst[o + j * L + l] = zeroValue(x.dtype); }
        else for (let l = 0; l < L; l++) dst[o + j * L + l] = src[(base + s) * L + l];
      }
    }
    for (let k = rank - 2; k >= 0; k--) {
      if (++ctr[k] < outShape[k]) break;
      ctr[k] = 0;
    }
  }
  return [out];
}

/** Copies the box `region` from src (at srcStart) into dst (at dstStart); shapes in elements, L lanes. */
function copyRegion(
  src: TensorData, srcShape: readonly number[], srcStart: readonly number[],
  dst: TensorData, dstShape: readonly number[], dstStart: readonly number[], region: readonly number[], L: number,
): void {
  const rank = region.length;
  if (region.some((d) => d <= 0)) return;
  if (rank === 0) { copyRun(dst, 0, src, 0, L); return; }
  const ss = stridesOf(srcShape), ds = stridesOf(dstShape);
  const rows = prod(region, 0, rank - 1);
  const ctr = new Array<number>(rank).fill(0);
  for (let r = 0; r < rows; r++) {
    let si = 0, di = 0;
    for (let k = 0; k < rank; k++) {
      si += (srcStart[k] + ctr[k]) * ss[k];
      di += (dstStart[k] + ctr[k]) * ds[k];
    }
    copyRun(dst, di * L, src, si * L, region[rank - 1] * L);
    for (let k = rank - 2; k >= 0; k--) {
      if (++ctr[k] < region[k]) break;
      ctr[k] = 0;
    }
  }
}

function centerCropPad(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const target = readInts(ctx.input(1));
  const axes = ctx.node.has('axes') ? ctx.node.ints('axes').map((a) => axisOf(ctx, a, x.rank)) : x.shape.map((_, i) => i);
  if (target.length !== axes.length) ctx.fail(`shape has ${target.length} values for ${axes.length} axes`);
  const outShape = [...x.shape];
  const srcStart = new Array<number>(x.rank).fill(0);
  const dstStart = new Array<number>(x.rank).fill(0);
  const region = [...x.shape];
  axes.forEach((a, i) => {
    const dim = x.shape[a], t = target[i];
    if (t < 0) ctx.fail(`negative target size ${t}`);
    outShape[a] = t;
    if (t <= dim) { srcStart[a] = Math.floor((dim - t) / 2); region[a] = t; }
    else { dstStart[a] = Math.floor((t - dim) / 2); region[a] = dim; }
  });
  const out = Tensor.zeros(x.dtype, outShape);
  copyRegion(x.data, x.shape, srcStart, out.data, outShape, dstStart, region, lanesOf(x.dtype));
  return [out];
}

function trilu(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  if (x.rank < 2) ctx.fail(`input must have rank >= 2, got ${x.rank}`);
  const kT = ctx.optionalInput(1);
  const k = kT ? readInts(kT)[0] : 0;
  const upper = ctx.node.int('upper', 1) !== 0;
  const out = Tensor.zeros(x.dtype, x.shape);
  const L = lanesOf(x.dtype);
  const rows = x.shape[x.rank - 2], cols = x.shape[x.rank - 1];
  const mats = prod(x.shape, 0, x.rank - 2);
  for (let m = 0; m < mats; m++) {
    for (let i = 0; i < rows; i++) {
      // kept columns: upper → j >= i + k; lower → j <= i + k
      const lo = upper ? Math.min(Math.max(i + k, 0), cols) : 0;
      const hi = upper ? cols : Math.min(Math.max(i + k + 1, 0), cols);
      const off = (m * rows + i) * cols;
      copyRun(out.data, (off + lo) * L, x.data, (off + lo) * L, (hi - lo) * L);
    }
  }
  return [out];
}

function reverseSequence(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const lens = readInts(ctx.input(1));
  const timeAxis = axisOf(ctx, ctx.node.int('time_axis', 0), x.rank, 'time_axis');
  const batchAxis = axisOf(ctx, ctx.node.int('batch_axis', 1), x.rank, 'batch_axis');
  if (timeAxis === batchAxis) ctx.fail('time_axis and batch_axis must differ');
  const T = x.shape[timeAxis], B = x.shape[batchAxis];
  if (lens.length !== B) ctx.fail(`sequence_lens has ${lens.length} values for batch size ${B}`);
  for (const l of lens) if (l < 0 || l > T) ctx.fail(`sequence length ${l} is out of range [0, ${T}]`);
  const out = Tensor.zeros(x.dtype, x.shape);
  const L = lanesOf(x.dtype);
  const src = store(x.data), dst = store(out.data);
  const tStride = stridesOf(x.shape)[timeAxis] * L;
  const ctr = new Array<number>(x.rank).fill(0);
  for (let i = 0; i < x.size; i++) {
    const t = ctr[timeAxis], len = lens[ctr[batchAxis]];
    const s = (i * L) + (t < len ? (len - 1 - 2 * t) * tStride : 0);
    for (let l = 0; l < L; l++) dst[i * L + l] = src[s + l];
    for (let k = x.rank - 1; k >= 0; k--) {
      if (++ctr[k] < x.shape[k]) break;
      ctr[k] = 0;
    }
  }
  return [out];
}

function compress(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const cond = ctx.input(1).toNumbers();
  const L = lanesOf(x.dtype);
  const hasAxis = ctx.node.has('axis');
  const shape = hasAxis ? x.shape : [x.size];
  const axis = hasAxis ? axisOf(ctx, ctx.node.int('axis'), x.rank) : 0;
  const dim = shape[axis];
  const picked: number[] = [];
  cond.forEach((c, i) => {
    if (!c) return;
    if (i >= dim) ctx.fail(`condition selects index ${i}, beyond dimension ${dim}`);
    picked.push(i);
  });
  const outShape = [...shape];
  outShape[axis] = picked.length;
  const out = Tensor.zeros(x.dtype, outShape);
  const outer = prod(shape, 0, axis);
  const inner = prod(shape, axis + 1) * L;
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const p of picked) {
      copyRun(out.data, o, x.data, (i * dim + p) * inner, inner);
      o += inner;
    }
  }
  return [out];
}

registerKernels({
  Slice: slice,
  Pad: pad,
  CenterCropPad: centerCropPad,
  Trilu: trilu,
  ReverseSequence: reverseSequence,
  Compress: compress,
});
