/**
 * Shape functions: data movement and shape manipulation (Reshape, Flatten, Transpose, Squeeze,
 * Unsqueeze, Concat, Split, Slice, Expand, Tile, Pad, ...), shape sources (Shape, Size, Constant,
 * ConstantOfShape, Range, random and window generators) and data-dependent ops (NonZero, Unique,
 * Compress) which get fresh symbols. Shape-computation values are propagated with symbolic elements.
 */
import type { Dim, ValueType } from '../ir/graph.js';
import { dtypeFromCode, type DType } from '../ir/dtype.js';
import { addDim, ceilDivDim, exactDivDim, floorDivDim, mulDim, prodDims, subDim } from '../ir/symbolic.js';
import { broadcastShapes } from './elementwise.js';
import { axisOf, knownFromTensor, listArg, maybeTensor, registerShapeFns, tensorType, type ShapeContext, type ShapeFn } from './registry.js';

const INT_BIG = 2 ** 31 - 1;

function dtypeAttr(ctx: ShapeContext, name: string, def: DType): DType {
  if (!ctx.node.has(name)) return def;
  return dtypeFromCode(ctx.node.int(name)) ?? ctx.fail(`attribute '${name}' holds an unknown element type`);
}

/** Output shape of a shape-valued input i: its known elements, or unknown dims of the right rank. */
function shapeFromInput(ctx: ShapeContext, i: number): Dim[] | undefined {
  const d = ctx.dims(i);
  if (d) return d.map((x) => (typeof x === 'number' && x < 0 ? null : x));
  const s = ctx.shape(i);
  if (s && s.length === 1 && typeof s[0] === 'number') return new Array<Dim>(s[0]).fill(null);
  return undefined;
}

/** Merges dims that must be equal (Concat's non-axis dims): the more precise one. */
function unifyDim(ctx: ShapeContext, a: Dim, b: Dim): Dim {
  if (a === null) return b;
  if (b === null) return a;
  if (typeof a === 'number' && typeof b === 'number' && a !== b) ctx.fail(`dims ${a} and ${b} must be equal`);
  return typeof a === 'number' ? a : b;
}

function reshape(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0) ?? ctx.value(0)?.dtype;
  const inShape = ctx.shape(0);
  const target = shapeFromInput(ctx, 1);
  const spec = ctx.dims(1);
  if (!target || !spec) return [maybeTensor(dtype, target)];
  const allowZero = ctx.node.int('allowzero', 0) === 1;
  let minus = -1;
  const out: Dim[] = spec.map((s, i) => {
    if (s === 0 && !allowZero) return inShape ? (i < inShape.length ? inShape[i] : ctx.fail(`shape has a 0 at ${i}, past the input rank`)) : null;
    if (s === -1) { minus = i; return null; }
    if (typeof s === 'number' && s < -1) ctx.fail(`invalid shape element ${s}`);
    return s;
  });
  if (minus >= 0 && inShape) {
    const total = prodDims(inShape);
    const rest = prodDims(out.filter((_, i) => i !== minus));
    if (typeof total === 'number' && typeof rest === 'number' && rest !== 0 && total % rest !== 0) {
      ctx.fail(`cannot reshape ${total} elements into a shape with ${rest} elements per -1 slot`);
    }
    out[minus] = rest === 0 ? 0 : exactDivDim(total, rest) ?? null;
  }
  if (inShape && out.every((d) => typeof d === 'number')) {
    const a = prodDims(inShape), b = prodDims(out);
    if (typeof a === 'number' && a !== b) ctx.fail(`cannot reshape ${a} elements into [${out.join(',')}]`);
  }
  const v = ctx.value(0);
  if (v && out.every((d) => typeof d === 'number')) ctx.setValue(0, { ...v, shape: out as number[] });
  return [maybeTensor(dtype, out)];
}

function sliceDim(d: number, start: number, end: number, step: number): [number, number] {
  if (step > 0) {
    const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d);
    const e = Math.min(Math.max(end < 0 ? end + d : end, 0), d);
    return [s, Math.max(0, Math.ceil((e - s) / step))];
  }
  const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d - 1);
  const e = Math.min(Math.max(end < 0 ? end + d : end, -1), d - 1);
  return [s, Math.max(0, Math.ceil((s - e) / -step))];
}

/** Slice of a symbolic dim for the common patterns ([k:], [-k:], [:-k]); null otherwise. */
function sliceSymbolic(d: Dim, start: number, end: number, step: number): Dim {
  if (d === null || step !== 1) return null;
  const endAll = end >= INT_BIG;
  if (start >= 0 && endAll) return subDim(d, start);
  if (start < 0 && endAll) return -start;
  if (start === 0 && end < 0) return addDim(d, end);
  return null;
}

function slice(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0) ?? ctx.value(0)?.dtype;
  const shape = ctx.shape(0);
  if (!shape) return [maybeTensor(dtype)];
  const starts = listArg(ctx, 1, 'starts'), ends = listArg(ctx, 2, 'ends');
  const axesArg = listArg(ctx, 3, 'axes'), stepsArg = listArg(ctx, 4);
  const r = shape.length;
  if (axesArg === null || !starts || !ends || stepsArg === null) {
    // which axes change is unknown, or their bounds are: those dims are unknown
    if (axesArg === null || axesArg === undefined && (!starts || !ends)) return [maybeTensor(dtype, shape.map(() => null))];
    const out = [...shape];
    for (const a of axesArg ?? []) out[axisOf(ctx, a, r)] = null;
    if (!axesArg) out.fill(null);
    return [maybeTensor(dtype, out)];
  }
  if (starts.length !== ends.length) ctx.fail('starts and ends have different lengths');
  const axes = axesArg ?? starts.map((_, i) => i);
  const steps = stepsArg ?? starts.map(() => 1);
  const out = [...shape];
  const ranges: [number, number, number][] = shape.map(() => [0, 1, 0]);
  axes.forEach((a0, k) => {
    const a = axisOf(ctx, a0, r);
    const step = steps[k];
    if (step === 0) ctx.fail('slice step cannot be 0');
    const d = shape[a];
    if (typeof d === 'number') {
      const [s, n] = sliceDim(d, starts[k], ends[k], step);
      out[a] = n;
      ranges[a] = [s, step, n];
    } else out[a] = sliceSymbolic(d, starts[k], ends[k], step);
  });
  const v = ctx.value(0);
  if (v && v.shape.length === 1 && typeof out[0] === 'number') {
    const [s, step, n] = axes.length ? ranges[0] : [0, 1, v.shape[0]];
    const elems: Dim[] = [];
    for (let i = 0; i < n; i++) elems.push(v.elems[s + i * step]);
    ctx.setValue(0, { ...v, shape: [n], elems });
  }
  return [maybeTensor(dtype, out)];
}

function squeeze(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0) ?? ctx.value(0)?.dtype;
  const shape = ctx.shape(0);
  const axesArg = listArg(ctx, 1, 'axes');
  if (!shape || axesArg === null) return [maybeTensor(dtype)];
  let keep: boolean[];
  if (axesArg === undefined) {
    if (shape.some((d) => typeof d !== 'number')) return [maybeTensor(dtype)];
    keep = shape.map((d) => d !== 1);
  } else {
    keep = shape.map(() => true);
    for (const a of axesArg) {
      const ax = axisOf(ctx, a, shape.length);
      if (typeof shape[ax] === 'number' && shape[ax] !== 1) ctx.fail(`cannot squeeze axis ${a} of size ${shape[ax]}`);
      keep[ax] = false;
    }
  }
  const out = shape.filter((_, i) => keep[i]);
  const v = ctx.value(0);
  if (v) ctx.setValue(0, { ...v, shape: out as number[] });
  return [maybeTensor(dtype, out)];
}

function unsqueeze(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0) ?? ctx.value(0)?.dtype;
  const shape = ctx.shape(0);
  const axes = listArg(ctx, 1, 'axes');
  if (!shape || !axes) return [maybeTensor(dtype)];
  const rank = shape.length + axes.length;
  const ins = new Set(axes.map((a) => axisOf(ctx, a, rank)));
  if (ins.size !== axes.length) ctx.fail('axes contain duplicates');
  const out: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(ins.has(i) ? 1 : shape[j++]);
  const v = ctx.value(0);
  if (v) ctx.setValue(0, { ...v, shape: out as number[] });
  return [maybeTensor(dtype, out)];
}

function concat(ctx: ShapeContext): (ValueType | undefined)[] {
  const idx = [...Array(ctx.inputCount).keys()].filter((i) => ctx.has(i));
  const dtype = idx.map((i) => ctx.dtype(i) ?? ctx.value(i)?.dtype).find((d) => d);
  const shapes = idx.map((i) => ctx.shape(i));
  const known = shapes.find((s) => s);
  if (!known) return [maybeTensor(dtype)];
  const r = known.length;
  const axis = axisOf(ctx, ctx.node.int('axis'), r);
  const out: Dim[] = new Array<Dim>(r).fill(null);
  let sum: Dim = 0;
  shapes.forEach((s, k) => {
    if (!s) { sum = null; return; }
    if (s.length !== r) ctx.fail(`input ${idx[k]} has rank ${s.length}, expected ${r}`);
    s.forEach((d, i) => { if (i !== axis) out[i] = k === 0 ? d : unifyDim(ctx, out[i], d); });
    sum = addDim(sum, s[axis]);
  });
  out[axis] = sum;
  const vals = idx.map((i) => ctx.value(i));
  if (r === 1 && dtype && vals.every((v) => v)) {
    const elems = vals.flatMap((v) => v!.elems);
    ctx.setValue(0, { dtype, shape: [elems.length], elems });
  }
  return [maybeTensor(dtype, out)];
}

function split(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0);
  const shape = ctx.shape(0);
  const n = ctx.node.outputs.length;
  if (!shape) return ctx.node.outputs.map(() => maybeTensor(dtype));
  const axis = axisOf(ctx, ctx.node.int('axis', 0), shape.length);
  const sizes = listArg(ctx, 1, 'split');
  const d = shape[axis];
  let parts: Dim[];
  if (sizes) {
    if (sizes.length !== n) ctx.fail(`split has ${sizes.length} entries for ${n} outputs`);
    parts = sizes;
  } else if (sizes === null) parts = new Array<Dim>(n).fill(null);
  else if (typeof d === 'number') {
    const chunk = Math.ceil(d / n);
    if (!ctx.node.has('num_outputs') && d % n !== 0) ctx.fail(`dim ${d} does not split evenly into ${n} outputs`);
    parts = [...Array(n).keys()].map((i) => Math.max(0, Math.min(chunk, d - i * chunk)));
  } else {
    const even = exactDivDim(d, n);
    parts = new Array<Dim>(n).fill(even ?? (ctx.node.has('num_outputs') ? null : floorDivDim(d, n)));
  }
  const v = ctx.value(0);
  if (v && v.shape.length === 1 && parts.every((p) => typeof p === 'number')) {
    let at = 0;
    (parts as number[]).forEach((p, i) => {
      ctx.setValue(i, { ...v, shape: [p], elems: v.elems.slice(at, at + p) });
      at += p;
    });
  }
  return parts.map((p) => maybeTensor(dtype, shape.map((x, i) => (i === axis ? p : x))));
}

function shapeOp(ctx: ShapeContext): (ValueType | undefined)[] {
  const shape = ctx.shape(0);
  if (!shape) return [tensorType('int64', [null])];
  const r = shape.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const start = clamp(ctx.node.int('start', 0));
  const end = ctx.node.has('end') ? clamp(ctx.node.int('end')) : r;
  const elems = shape.slice(start, Math.max(start, end));
  ctx.setValue(0, { dtype: 'int64', shape: [elems.length], elems });
  return [tensorType('int64', [elems.length])];
}

function constant(ctx: ShapeContext): (ValueType | undefined)[] {
  const n = ctx.node;
  for (const [name, a] of n.attrs) {
    switch (a.type) {
      case 'tensor': {
        const kv = knownFromTensor(a.value);
        if (kv) ctx.setValue(0, kv);
        return [tensorType(a.value.dtype, [...a.value.shape])];
      }
      case 'sparse_tensor': return [tensorType(a.value.values.dtype, [...a.value.dims])];
      case 'int': ctx.setValue(0, { dtype: 'int64', shape: [], elems: [Number(a.value)] }); return [tensorType('int64', [])];
      case 'ints': ctx.setValue(0, { dtype: 'int64', shape: [a.value.length], elems: a.value.map(Number) }); return [tensorType('int64', [a.value.length])];
      case 'float': ctx.setValue(0, { dtype: 'float32', shape: [], elems: [a.value] }); return [tensorType('float32', [])];
      case 'floats': ctx.setValue(0, { dtype: 'float32', shape: [a.value.length], elems: [...a.value] }); return [tensorType('float32', [a.value.length])];
      case 'string': return [tensorType('string', [])];
      case 'strings': return [tensorType('string', [a.value.length])];
      default: ctx.fail(`unsupported attribute '${name}'`);
    }
  }
  return ctx.fail('Constant has no value attribute');
}

function constantOfShape(ctx: ShapeContext): (ValueType | undefined)[] {
  const t = ctx.node.tensor('value');
  const dtype = t?.dtype ?? 'float32';
  const shape = shapeFromInput(ctx, 0);
  if (shape && shape.every((d) => typeof d === 'number')) {
    const n = prodDims(shape) as number;
    const fill = t && t.dtype !== 'string' ? t.getNumber(0) : 0;
    if (n <= 4096) ctx.setValue(0, { dtype, shape: shape as number[], elems: new Array<Dim>(n).fill(fill) });
  }
  return [tensorType(dtype, shape)];
}

function range(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0) ?? ctx.value(0)?.dtype;
  const [s, l, d] = [0, 1, 2].map((i) => ctx.dims(i)?.[0]);
  let n: Dim;
  if (typeof s === 'number' && typeof l === 'number' && typeof d === 'number') {
    if (d === 0) ctx.fail('delta cannot be 0');
    n = Math.max(Math.ceil((l - s) / d), 0);
    if (dtype && n <= 4096) ctx.setValue(0, { dtype, shape: [n], elems: [...Array(n).keys()].map((i) => s + i * d) });
  } else if (d === 1 && s !== undefined && l !== undefined && s !== null && l !== null) {
    n = subDim(l, s);
  } else if (typeof d === 'number' && d > 0 && s === 0 && l !== undefined) {
    n = ceilDivDim(l, d);
  } else n = ctx.fresh('range');
  return [maybeTensor(dtype, [n])];
}

function pad(ctx: ShapeContext): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0);
  const shape = ctx.shape(0);
  const pads = listArg(ctx, 1, ctx.node.has('paddings') ? 'paddings' : 'pads');
  if (!shape) return [maybeTensor(dtype)];
  if (!pads) return [maybeTensor(dtype, shape.map(() => null))];
  const r = shape.length;
  const axes = (listArg(ctx, 3) ?? [...Array(r).keys()]).map((a) => axisOf(ctx, a, r));
  if (pads.length !== 2 * axes.length) ctx.fail(`pads has ${pads.length} entries, expected ${2 * axes.length}`);
  const out = [...shape];
  axes.forEach((a, k) => { out[a] = addDim(shape[a], pads[k] + pads[k + axes.length]); });
  return [maybeTensor(dtype, out)];
}

function spatialBlock(ctx: ShapeContext, toDepth: boolean): (ValueType | undefined)[] {
  const dtype = ctx.dtype(0);
  const s = ctx.shape(0);
  if (!s) return [maybeTensor(dtype)];
  if (s.length !== 4) ctx.fail(`input must have rank 4, got ${s.length}`);
  const b = ctx.node.int('blocksize');
  const bb = b * b;
  const div = (d: Dim, k: number) => (typeof d === 'number' && d % k !== 0 ? ctx.fail(`dim ${d} is not divisible by ${k}`) : exactDivDim(d, k) ?? floorDivDim(d, k));
  return toDepth
    ? [maybeTensor(dtype, [s[0], mulDim(s[1], bb), div(s[2], b), div(s[3], b)])]
    : [maybeTensor(dtype, [s[0], div(s[1], bb), mulDim(s[2], b), mulDim(s[3], b)])];
}

const fns: Record<string, ShapeFn> = {
  Reshape: reshape,
  Flatten: (ctx) => {
    const dtype = ctx.dtype(0);
    const s = ctx.shape(0);
    if (!s) return [maybeTensor(dtype, [null, null])];
    let axis = ctx.node.int('axis', 1);
    if (axis < 0) axis += s.length;
    if (axis < 0 || axis > s.length) ctx.fail(`axis ${axis} is out of range for rank ${s.length}`);
    return [maybeTensor(dtype, [prodDims(s.slice(0, axis)), prodDims(s.slice(axis))])];
  },
  Transpose: (ctx) => {
    const dtype = ctx.dtype(0);
    const s = ctx.shape(0);
    if (!s) return [maybeTensor(dtype)];
    const perm = ctx.node.ints('perm', s.map((_, i) => s.length - 1 - i));
    if (perm.length !== s.length) ctx.fail(`perm has ${perm.length} entries for rank ${s.length}`);
    return [maybeTensor(dtype, perm.map((p) => s[axisOf(ctx, p, s.length, 'perm entry')]))];
  },
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Concat: concat,
  Split: split,
  Slice: slice,
  Shape: shapeOp,
  Size: (ctx) => {
    const s = ctx.shape(0);
    if (s) ctx.setValue(0, { dtype: 'int64', shape: [], elems: [prodDims(s)] });
    return [tensorType('int64', [])];
  },
  Constant: constant,
  ConstantOfShape: constantOfShape,
  Range: range,
  Expand: (ctx) => {
    const target = shapeFromInput(ctx, 1);
    return [maybeTensor(ctx.dtype(0), target ? broadcastShapes(ctx, [ctx.shape(0), target]) : undefined)];
  },
  Tile: (ctx) => {
    const s = ctx.shape(0);
    const reps = ctx.dims(1);
    if (!s) return [maybeTensor(ctx.dtype(0))];
    if (!reps) return [maybeTensor(ctx.dtype(0), s.map(() => null))];
    if (reps.length !== s.length) ctx.fail(`repeats has ${reps.length} entries for rank ${s.length}`);
    return [maybeTensor(ctx.dtype(0), s.map((d, i) => mulDim(d, reps[i])))];
  },
  Pad: pad,
  DepthToSpace: (ctx) => spatialBlock(ctx, false),
  SpaceToDepth: (ctx) => spatialBlock(ctx, true),
  EyeLike: (ctx) => [maybeTensor(ctx.node.has('dtype') ? dtypeAttr(ctx, 'dtype', 'float32') : ctx.dtype(0), ctx.shape(0))],
  Trilu: (ctx) => [ctx.type(0)],
  ReverseSequence: (ctx) => [ctx.type(0)],
  CenterCropPad: (ctx) => {
    const s = ctx.shape(0);
    const target = ctx.dims(1);
    if (!s) return [maybeTensor(ctx.dtype(0))];
    const axes = (ctx.node.ints('axes', []).length ? ctx.node.ints('axes') : s.map((_, i) => i)).map((a) => axisOf(ctx, a, s.length));
    const out = [...s];
    axes.forEach((a, k) => { out[a] = target ? target[k] : null; });
    return [maybeTensor(ctx.dtype(0), out)];
  },
  OneHot: (ctx) => {
    const s = ctx.shape(0);
    const depth = ctx.dims(1)?.[0];
    const dtype = ctx.dtype(2);
    if (!s) return [maybeTensor(dtype)];
    const r = s.length + 1;
    const axis = axisOf(ctx, ctx.node.int('axis', -1), r);
    const d = typeof depth === 'number' ? Math.trunc(depth) : depth ?? null;
    return [maybeTensor(dtype, [...s.slice(0, axis), d, ...s.slice(axis)])];
  },
  Compress: (ctx) => {
    const s = ctx.shape(0);
    const cond = ctx.ints(1);
    const count = cond ? cond.filter((c) => c !== 0).length : ctx.fresh('compress');
    if (!ctx.node.has('axis')) return [maybeTensor(ctx.dtype(0), [count])];
    if (!s) return [maybeTensor(ctx.dtype(0))];
    const axis = axisOf(ctx, ctx.node.int('axis'), s.length);
    return [maybeTensor(ctx.dtype(0), s.map((d, i) => (i === axis ? count : d)))];
  },
  NonZero: (ctx) => {
    const r = ctx.rank(0);
    return [tensorType('int64', [r ?? null, ctx.fresh('nonzero')])];
  },
  Unique: (ctx) => {
    const s = ctx.shape(0);
    const u = ctx.fresh('unique');
    const hasAxis = ctx.node.has('axis');
    let y: Dim[] | undefined, inv: Dim;
    if (!hasAxis) { y = [u]; inv = s ? prodDims(s) : null; } else if (s) {
      const axis = axisOf(ctx, ctx.node.int('axis'), s.length);
      y = s.map((d, i) => (i === axis ? u : d));
      inv = s[axis];
    } else inv = null;
    return [maybeTensor(ctx.dtype(0), y), tensorType('int64', [u]), tensorType('int64', [inv]), tensorType('int64', [u])];
  },
  RandomUniform: (ctx) => [tensorType(dtypeAttr(ctx, 'dtype', 'float32'), ctx.node.ints('shape'))],
  RandomNormal: (ctx) => [tensorType(dtypeAttr(ctx, 'dtype', 'float32'), ctx.node.ints('shape'))],
  RandomUniformLike: (ctx) => [maybeTensor(ctx.node.has('dtype') ? dtypeAttr(ctx, 'dtype', 'float32') : ctx.dtype(0), ctx.shape(0))],
  RandomNormalLike: (ctx) => [maybeTensor(ctx.node.has('dtype') ? dtypeAttr(ctx, 'dtype', 'float32') : ctx.dtype(0), ctx.shape(0))],
  Multinomial: (ctx) => [tensorType(dtypeAttr(ctx, 'dtype', 'int32'), [ctx.shape(0)?.[0] ?? null, ctx.node.int('sample_size', 1)])],
  MelWeightMatrix: (ctx) => {
    const bins = ctx.dims(0)?.[0] ?? null;
    const dft = ctx.dims(1)?.[0] ?? null;
    return [tensorType(dtypeAttr(ctx, 'output_datatype', 'float32'), [addDim(floorDivDim(dft, 2), 1), bins])];
  },
};
const window: ShapeFn = (ctx) => [tensorType(dtypeAttr(ctx, 'output_datatype', 'float32'), [ctx.dims(0)?.[0] ?? null])];
fns.HannWindow = window;
fns.HammingWindow = window;
fns.BlackmanWindow = window;
registerShapeFns(fns);
