/**
 * Pooling lowerings: MaxPool (with the optional int64 Indices output), AveragePool, LpPool (one thread
 * per output element, one nested loop per spatial dim with the bounds hoisted), and GlobalAveragePool,
 * GlobalMaxPool, GlobalLpPool (one warp per (n, c) plane).
 *
 * Window geometry (auto_pad, pads, ceil_mode, dilations) is the reference interpreter's (conv-geom.ts),
 * resolved on the host and passed as 64-bit arguments. Semantics follow src/ref/kernels/nn-pool.ts:
 * - max: the first valid tap, then strictly greater ones (so a NaN in the first tap stays); a window with
 *   no valid tap gives -inf (0 for integer types) and index -1; the index is the flat row-major offset in
 *   X (storage_order=1: column-major within the (n, c) plane);
 * - average: sum of valid taps / their count, or / the taps inside input+explicit padding when
 *   count_include_pad=1 (per-dim counts multiplied);
 * - Lp: (Σ|x|^p)^(1/p) over valid taps.
 * Math is in float (double for float64; int for integer MaxPool).
 */
import type { DType } from '../../ir/dtype.js';
import { dt, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, elementCount, grid1d, registerLowerings, unsupported, type ArgRef, type LowerContext, type Lowered } from '../lowering.js';
import { hostWindowGeometry, need, sameShape } from './conv.js';

const FLOATS: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
const MAX_INTS: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32'];

type Kind = 'max' | 'avg' | 'lp';

interface PoolOptions {
  kind: Kind;
  rank: number;
  indices: boolean;
  columnMajor: boolean;
  includePad: boolean;
  p: number;
}

function poolKernel(t: DeviceType, o: PoolOptions): KernelSource {
  const b = new KernelBuilder('pool', 256);
  const T = t.math;
  const r = o.rank;
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const ind = o.indices ? b.output('ind', 'long long') : undefined;
  const total = b.i64('total');
  const inSize = b.i64('inSize');
  // (parameter names must not collide with the loop locals o<d>, i<d>, k<d>, xo<d>, a<d>)
  const ins = b.i64s('isz', r);
  const outs = b.i64s('osz', r);
  const ks = b.i64s('ksz', r);
  const ss = b.i64s('str', r);
  const ds = b.i64s('dil', r);
  const pb = b.i64s('padb', r);
  const pe = b.i64s('pade', r);
  const isFloat = t.kind === 'float';
  const P = T === 'double' ? literal(t, o.p) : `${o.p}.0f`;
  const pow = T === 'double' ? 'pow' : 'powf';
  const fabs = T === 'double' ? 'fabs' : 'fabsf';
  b.gridStride(total, () => {
    b.line('long long rem = i;');
    for (let d = r - 1; d >= 0; d--) b.line(`const long long o${d} = rem % ${outs[d]}; rem /= ${outs[d]};`);
    b.line(`const long long plane = rem;`, `const ${t.storage}* xp = ${x} + plane * ${inSize};`);
    if (o.kind === 'max') b.line(`${T} acc = ${isFloat ? literal(t, -Infinity) : `(${T})0`};`, 'long long arg = -1;');
    else b.line(`${T} acc = (${T})0;`, 'long long cnt = 0;');
    const loop = (d: number): void => {
      const xo = d === 0 ? '' : `xo${d - 1} * ${ins[d]} + `;
      b.block(`for (long long k${d} = 0; k${d} < ${ks[d]}; k${d}++)`, () => {
        b.line(`const long long i${d} = o${d} * ${ss[d]} - ${pb[d]} + k${d} * ${ds[d]};`);
        b.line(`if (i${d} < 0 || i${d} >= ${ins[d]}) continue;`);
        b.line(`const long long xo${d} = ${xo}i${d};`);
        if (d + 1 < r) {
          loop(d + 1);
          return;
        }
        b.line(`const ${T} v = ${t.load(`xp[xo${d}]`)};`);
        if (o.kind === 'max') b.line(`if (arg < 0 || v > acc) { acc = v; arg = xo${d}; }`);
        else if (o.kind === 'avg') b.line('acc += v; cnt++;');
        else b.line(o.p === 2 ? 'acc += v * v;' : `acc += ${pow}(${fabs}(v), ${P});`);
      });
    };
    loop(0);
    if (o.kind === 'max') {
      b.line(`${y}[i] = ${t.store('acc')};`);
      if (ind) {
        if (o.columnMajor) {
          // re-express the row-major plane offset column-major (first spatial dim fastest)
          b.block('if (arg >= 0)', () => {
            b.line('long long a = arg, col = 0, mul = 1;');
            for (let d = r - 1; d >= 0; d--) b.line(`const long long a${d} = a % ${ins[d]}; a /= ${ins[d]};`);
            for (let d = 0; d < r; d++) b.line(`col += a${d} * mul; mul *= ${ins[d]};`);
            b.line('arg = col;');
          });
        }
        b.line(`${ind}[i] = arg < 0 ? -1LL : plane * ${inSize} + arg;`);
      }
    } else if (o.kind === 'avg') {
      if (o.includePad) {
        // taps inside the input or its explicit padding, per dim (multiplied)
        b.line('long long padded = 1;');
        for (let d = 0; d < r; d++) {
          b.block('', () => {
            b.line('long long n = 0;');
            b.block(`for (long long k = 0; k < ${ks[d]}; k++)`, () => {
              b.line(`const long long ii = o${d} * ${ss[d]} - ${pb[d]} + k * ${ds[d]};`);
              b.line(`if (ii >= -${pb[d]} && ii < ${ins[d]} + ${pe[d]}) n++;`);
            });
            b.line('padded *= n;');
          });
        }
        b.line(`${y}[i] = ${t.store(`acc / (${T})padded`)};`);
      } else {
        b.line(`${y}[i] = ${t.store(`acc / (${T})cnt`)};`);
      }
    } else {
      b.line(`${y}[i] = ${t.store(o.p === 2 ? (T === 'double' ? 'sqrt(acc)' : 'sqrtf(acc)') : `${pow}(acc, ${T === 'double' ? '1.0' : '1.0f'} / ${P})`)};`);
    }
  });
  return b.build();
}

function lowerPool(ctx: LowerContext, kind: Kind): Lowered {
  const node = ctx.node;
  const X = need(ctx, 0, 'input X');
  const ok = FLOATS.includes(X.dtype) || (kind === 'max' && MAX_INTS.includes(X.dtype));
  if (!ok) unsupported(`${node.op}: input type ${X.dtype} is not handled`);
  const rank = X.shape.length;
  if (rank < 3) unsupported(`${node.op}: input rank ${rank} < 3`);
  if (rank > 5) unsupported(`${node.op}: pooling over ${rank - 2} spatial dims (the reference handles at most 3)`);
  const r = rank - 2;
  const inSp = X.shape.slice(2);
  const ceil = node.int('ceil_mode', 0) !== 0;
  const geom = hostWindowGeometry(node, inSp, undefined, { ceil });
  const [N, C] = X.shape;
  const outShape = [N, C, ...geom.out];
  if (!sameShape(outShape, ctx.outputs[0].shape)) unsupported(`${node.op}: output shape [${ctx.outputs[0].shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  const indices = kind === 'max' && node.outputs.length > 1 && node.outputs[1] !== '';
  if (indices && (ctx.outputs[1]?.dtype !== 'int64' || !sameShape(ctx.outputs[1].shape, outShape))) unsupported('MaxPool: Indices output must be int64 with the shape of Y');
  const p = kind === 'lp' ? node.int('p', 2) : 0;
  const opts: PoolOptions = {
    kind, rank: r, indices,
    columnMajor: indices && node.int('storage_order', 0) === 1,
    includePad: kind === 'avg' && node.int('count_include_pad', 0) !== 0,
    p,
  };
  const kernel = poolKernel(dt(X.dtype), opts);
  const total = elementCount(outShape);
  if (total === 0) return { launches: [], variants: [kernel] };
  const ptrs: ArgRef[] = [{ in: 0 }, { out: 0 }, ...(indices ? [{ out: 1 }] : [])];
  return {
    launches: [{
      kernel,
      ...grid1d(total),
      args: [...ptrs, a64(total), a64(elementCount(inSp)), ...[inSp, geom.out, geom.kernel, geom.strides, geom.dilations, geom.padsBegin, geom.padsEnd].flatMap((v) => v.map(a64))],
    }],
  };
}

// ---------------------------------------------------------------------------------------------------
// Global pools: one warp per (n, c) plane

const WARPS = 8;

function globalKernel(t: DeviceType, kind: Kind, p: number): KernelSource {
  const b = new KernelBuilder('gpool', WARPS * 32);
  const T = t.math;
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const planes = b.i64('planes');
  const size = b.i64('size');
  const dbl = T === 'double';
  const P = dbl ? literal(t, p) : `${p}.0f`;
  // NaN-propagating max (the ref: v > acc || isNaN(v))
  b.helpers(`__device__ __forceinline__ ${T} chm_gp_max_${T}(${T} a, ${T} v) { return (v > a || v != v) ? v : a; }`);
  const combine = kind === 'max' ? (a: string, v: string) => `chm_gp_max_${T}(${a}, ${v})` : (a: string, v: string) => `${a} + ${v}`;
  b.line(
    'const int lane = threadIdx.x & 31;',
    `const long long warp = (long long)blockIdx.x * ${WARPS} + (threadIdx.x >> 5);`,
    `const long long nwarps = (long long)gridDim.x * ${WARPS};`,
  );
  b.block(`for (long long plane = warp; plane < ${planes}; plane += nwarps)`, () => {
    b.line(`const ${t.storage}* xp = ${x} + plane * ${size};`);
    b.line(`${T} acc = ${kind === 'max' ? literal(t, -Infinity) : `(${T})0`};`);
    b.block(`for (long long j = lane; j < ${size}; j += 32)`, () => {
      b.line(`const ${T} v = ${t.load('xp[j]')};`);
      if (kind === 'max') b.line(`acc = ${combine('acc', 'v')};`);
      else if (kind === 'avg') b.line('acc += v;');
      else b.line(p === 2 ? 'acc += v * v;' : `acc += ${dbl ? 'pow(fabs(v)' : 'powf(fabsf(v)'}, ${P});`);
    });
    b.line(`for (int o = 16; o > 0; o >>= 1) acc = ${combine('acc', '__shfl_xor_sync(0xffffffffu, acc, o)')};`);
    let res = 'acc';
    if (kind === 'avg') res = `acc / (${T})${size}`;
    else if (kind === 'lp') res = p === 2 ? (dbl ? 'sqrt(acc)' : 'sqrtf(acc)') : `${dbl ? 'pow' : 'powf'}(acc, ${dbl ? '1.0' : '1.0f'} / ${P})`;
    b.line(`if (lane == 0) ${y}[plane] = ${t.store(res)};`);
  });
  return b.build();
}

function lowerGlobal(ctx: LowerContext, kind: Kind): Lowered {
  const node = ctx.node;
  const X = need(ctx, 0, 'input X');
  if (!FLOATS.includes(X.dtype)) unsupported(`${node.op}: input type ${X.dtype} is not handled`);
  if (X.shape.length < 2) unsupported(`${node.op}: input rank ${X.shape.length} < 2`);
  const [N, C] = X.shape;
  const outShape = [N, C, ...X.shape.slice(2).map(() => 1)];
  if (!sameShape(outShape, ctx.outputs[0].shape)) unsupported(`${node.op}: output shape [${ctx.outputs[0].shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  const p = kind === 'lp' ? node.int('p', 2) : 0;
  const kernel = globalKernel(dt(X.dtype), kind, p);
  const planes = N * C;
  if (planes === 0) return { launches: [], variants: [kernel] };
  const blocks = Math.max(1, Math.min(Math.ceil(planes / WARPS), 65535 * 8));
  return {
    launches: [{ kernel, grid: [blocks, 1, 1], block: [WARPS * 32, 1, 1], args: [{ in: 0 }, { out: 0 }, a64(planes), a64(elementCount(X.shape.slice(2)))] }],
  };
}

registerLowerings({
  MaxPool: { lower: (ctx) => lowerPool(ctx, 'max') },
  AveragePool: { lower: (ctx) => lowerPool(ctx, 'avg') },
  LpPool: { lower: (ctx) => lowerPool(ctx, 'lp') },
  GlobalAveragePool: { lower: (ctx) => lowerGlobal(ctx, 'avg') },
  GlobalMaxPool: { lower: (ctx) => lowerGlobal(ctx, 'max') },
  GlobalLpPool: { lower: (ctx) => lowerGlobal(ctx, 'lp') },
});
