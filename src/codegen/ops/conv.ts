/**
 * Convolution lowerings: Conv (any spatial rank) and ConvTranspose.
 *
 * Geometry (pads from auto_pad, output sizes) is resolved on the host with the reference interpreter's
 * window code (src/ref/kernels/conv-geom.ts, conv-transpose.ts) and passed to the kernels as 64-bit arguments.
 *
 * Conv kernels (all built for every node of a given rank/dtype/bias presence; the one not launched is
 * listed in `variants`):
 * - gemm2d: 1-D and 2-D convolutions as an implicit GEMM per group: Y_g[Mg × N·OH·OW] = W_g[Mg × Cg·KH·KW]
 *   · im2col(X_g); 64×64 output tiles, 16-deep K slices staged in shared memory (im2col gathered on the
 *   fly, never materialized), 256 threads each computing 4 channels × 4 pixels in registers, the next
 *   K slice prefetched into registers while the current one is multiplied. Used when a group has at
 *   least 16 output channels.
 * - direct: one thread per output element, loops over the kernel window (one nested loop per spatial
 *   dim, bounds hoisted) and the group's input channels; any spatial rank; depthwise and thin convs.
 *
 * ConvTranspose is a gather: each output element sums the inputs whose scattered window covers it
 * (i = (o + pad - k·dilation) / stride when divisible and in range). No atomics.
 * Accumulation is in float (double for float64); fp16/bf16 are loaded to float and rounded on store.
 */
import type { Node } from '../../ir/graph.js';
import type { DType } from '../../ir/dtype.js';
import type { KernelContext } from '../../ref/kernel.js';
import { kernelShape, windowGeometry, type GeometryOptions, type WindowGeometry } from '../../ref/kernels/conv-geom.js';
import { transposeGeometry, type TransposeGeometry } from '../../ref/kernels/conv-transpose.js';
import { dt, hasDeviceType, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, elementCount, grid1d, registerLowerings, unsupported, type ArgRef, type Launch, type LowerContext, type Lowered, type TensorDesc } from '../lowering.js';
import { tensorCoreConv } from './conv-tc.js';
import { withConvIgemm } from './conv-igemm.js';

const FLOATS: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

/** A minimal reference-interpreter context so the ref's geometry helpers can run at plan time. */
function geometryContext(node: Node): KernelContext {
  const fail = (message: string, field?: string): never => unsupported(`${node.op}: ${message}${field ? ` (${field})` : ''}`);
  return {
    node,
    opset: 0,
    inputs: [],
    input: () => fail('no tensors at plan time'),
    optionalInput: () => undefined,
    runSubgraph: () => fail('no subgraphs at plan time'),
    fail,
  };
}

/** Window geometry of a Conv/pool node (auto_pad, pads, strides, dilations, output sizes) via the ref's code. */
export function hostWindowGeometry(node: Node, inSpatial: readonly number[], weightsSpatial: readonly number[] | undefined, opts: GeometryOptions = {}): WindowGeometry {
  const ctx = geometryContext(node);
  return windowGeometry(ctx, inSpatial, kernelShape(ctx, weightsSpatial), opts);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** The present input i, or unsupported. */
export function need(ctx: LowerContext, i: number, what: string): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${ctx.node.op}: missing ${what}`);
  return t;
}

const INT32_MAX = 2 ** 31 - 1;

// ---------------------------------------------------------------------------------------------------
// Conv kernels

const TILE_M = 64;
const TILE_N = 64;
const TILE_K = 16;

/** Implicit-GEMM 2-D convolution (1-D convs are lifted with H = KH = OH = 1). Block of 256 threads. */
function gemm2dKernel(t: DeviceType, bias: boolean): KernelSource {
  const b = new KernelBuilder('conv', 256);
  const T = t.math;
  const x = b.input('x', t.storage);
  const w = b.input('w', t.storage);
  const bs = bias ? b.input('bias', t.storage) : undefined;
  const y = b.output('y', t.storage);
  const [C, H, W, M, Mg, Cg, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, P, Kg] =
    ['C', 'H', 'W', 'M', 'Mg', 'Cg', 'OH', 'OW', 'KH', 'KW', 'sh', 'sw', 'dh', 'dw', 'ph', 'pw', 'P', 'Kg'].map((n) => b.i64(n));
  void Cg;
  const vec = T === 'float';
  b.shared(`__align__(16) ${T} As[${TILE_K}][${TILE_M + 4}]`);
  b.shared(`__align__(16) ${T} Bs[${TILE_K}][${TILE_N}]`);
  b.line(
    'const int tid = threadIdx.x;',
    'const int tx = tid & 15, ty = tid >> 4;',
    'const long long g = blockIdx.z;',
    `const long long m0 = (long long)blockIdx.y * ${TILE_M};`,
    `const long long p0 = (long long)blockIdx.x * ${TILE_N};`,
    `const long long HW = ${H} * ${W}, OHW = ${OH} * ${OW};`,
    `const int KK = (int)(${KH} * ${KW}), KWi = (int)${KW};`,
    `const int Kgi = (int)${Kg};`,
    '// the pixel this thread gathers for the B tile (fixed for the whole K loop)',
    `const int bn = tid & ${TILE_N - 1};`,
    'const int bk = tid >> 6;',
    `const long long bp = p0 + bn;`,
    `const bool bvalid = bp < ${P};`,
    'long long bxb = 0, biy0 = 0, bix0 = 0;',
  );
  b.block('if (bvalid)', () => {
    b.line(
      'const long long n = bp / OHW, s = bp - n * OHW;',
      `const long long oy = s / ${OW}, ox = s - oy * ${OW};`,
      `biy0 = oy * ${sh} - ${ph};`,
      `bix0 = ox * ${sw} - ${pw};`,
      `bxb = (n * ${C} + g * ${Cg}) * HW;`,
    );
  });
  b.line(
    `const ${t.storage}* wg = ${w} + (g * ${Mg} + m0) * ${Kg};`,
    `${T} ra[4], rb[4];`,
    `${T} acc[4][4];`,
    '#pragma unroll',
    `for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = (${T})0;`,
  );
  // loads one K slice (A: weights, B: gathered im2col) into registers
  const load = (k0: string) => {
    b.line('#pragma unroll');
    b.block('for (int q = 0; q < 4; q++)', () => {
      b.line(
        'const int e = tid + 256 * q;',
        `const int am = e >> 4, ak = e & ${TILE_K - 1};`,
        `const int kA = ${k0} + ak;`,
        `ra[q] = (m0 + am < ${Mg} && kA < Kgi) ? ${t.load(`wg[(long long)am * ${Kg} + kA]`)} : (${T})0;`,
        `const int kB = ${k0} + bk + 4 * q;`,
        `${T} v = (${T})0;`,
      );
      b.block('if (bvalid && kB < Kgi)', () => {
        b.line(
          'const int c = kB / KK, r = kB - c * KK;',
          'const int ky = r / KWi, kx = r - ky * KWi;',
          `const long long iy = biy0 + (long long)ky * ${dh}, ix = bix0 + (long long)kx * ${dw};`,
          `if (iy >= 0 && iy < ${H} && ix >= 0 && ix < ${W}) v = ${t.load(`${x}[bxb + (long long)c * HW + iy * ${W} + ix]`)};`,
        );
      });
      b.line('rb[q] = v;');
    });
  };
  load('0');
  b.block(`for (int k0 = 0; k0 < Kgi; k0 += ${TILE_K})`, () => {
    b.line('#pragma unroll');
    b.block('for (int q = 0; q < 4; q++)', () => {
      b.line(
        'const int e = tid + 256 * q;',
        `As[e & ${TILE_K - 1}][e >> 4] = ra[q];`,
        'Bs[bk + 4 * q][bn] = rb[q];',
      );
    });
    b.line('__syncthreads();');
    b.block(`if (k0 + ${TILE_K} < Kgi)`, () => load(`k0 + ${TILE_K}`));
    b.line('#pragma unroll');
    b.block(`for (int k = 0; k < ${TILE_K}; k++)`, () => {
      if (vec) {
        b.line(
          'const float4 a4 = *reinterpret_cast<const float4*>(&As[k][ty * 4]);',
          'const float4 b4 = *reinterpret_cast<const float4*>(&Bs[k][tx * 4]);',
          'const float av[4] = { a4.x, a4.y, a4.z, a4.w };',
          'const float bv[4] = { b4.x, b4.y, b4.z, b4.w };',
        );
      } else {
        b.line(`${T} av[4], bv[4];`, '#pragma unroll', 'for (int i = 0; i < 4; i++) { av[i] = As[k][ty * 4 + i]; bv[i] = Bs[k][tx * 4 + i]; }');
      }
      b.line('#pragma unroll');
      b.block('for (int i = 0; i < 4; i++)', () => {
        b.line('#pragma unroll', 'for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];');
      });
    });
    b.line('__syncthreads();');
  });
  b.line('#pragma unroll');
  b.block('for (int i = 0; i < 4; i++)', () => {
    b.line('const long long m = m0 + ty * 4 + i;', `if (m >= ${Mg}) continue;`);
    b.line(`const ${T} bv = ${bs ? t.load(`${bs}[g * ${Mg} + m]`) : `(${T})0`};`);
    b.line('#pragma unroll');
    b.block('for (int j = 0; j < 4; j++)', () => {
      b.line(
        'const long long p = p0 + tx * 4 + j;',
        `if (p >= ${P}) continue;`,
        'const long long n = p / OHW, s = p - n * OHW;',
        `${y}[(n * ${M} + g * ${Mg} + m) * OHW + s] = ${t.store('acc[i][j] + bv')};`,
      );
    });
  });
  return b.build();
}

/** The scalar parameters of the one-thread-per-output window kernels (direct Conv and ConvTranspose). */
interface WindowParams {
  M: string; Cg: string; Mg: string; inSize: string; kSize: string;
  ins: string[]; ks: string[]; ss: string[]; ds: string[]; ps: string[];
}

/**
 * A kernel with one thread per output element of a rank-r window op: output coordinates o<d>, the batch
 * n and feature map m are decomposed, then one nested loop per spatial dim over the kernel offsets k<d>
 * (`index` emits the lines finding input position i<d> or skipping), and an inner loop over the group's
 * input channels accumulates x · w (`weight` is the weight element for channel c at flat offset wo<d>).
 * Params: x, w, [bias], y, total, C, M, Cg, Mg, inSize, kSize, then per spatial dim isz, osz, ksz, str,
 * dil, pad.
 */
function windowKernel(name: string, t: DeviceType, r: number, bias: boolean, spec: {
  group: (p: WindowParams) => string;
  weights: (p: WindowParams, w: string) => string[];
  index: (p: WindowParams, d: number) => string[];
  weight: (p: WindowParams, d: number) => string;
}): KernelSource {
  const b = new KernelBuilder(name, 256);
  const T = t.math;
  const x = b.input('x', t.storage);
  const w = b.input('w', t.storage);
  const bs = bias ? b.input('bias', t.storage) : undefined;
  const y = b.output('y', t.storage);
  const total = b.i64('total');
  const [C, M, Cg, Mg, inSize, kSize] = ['C', 'M', 'Cg', 'Mg', 'inSize', 'kSize'].map((n) => b.i64(n));
  // (parameter names must not collide with the loop locals o<d>, i<d>, k<d>, t<d>, xo<d>, wo<d>)
  const ins = b.i64s('isz', r);
  const outs = b.i64s('osz', r);
  const ks = b.i64s('ksz', r);
  const ss = b.i64s('str', r);
  const ds = b.i64s('dil', r);
  const ps = b.i64s('pad', r);
  const p: WindowParams = { M, Cg, Mg, inSize, kSize, ins, ks, ss, ds, ps };
  b.gridStride(total, () => {
    b.line('long long rem = i;');
    for (let d = r - 1; d >= 0; d--) b.line(`const long long o${d} = rem % ${outs[d]}; rem /= ${outs[d]};`);
    b.line(`const long long m = rem % ${M}, n = rem / ${M};`, spec.group(p));
    b.line(`const ${t.storage}* xg = ${x} + (n * ${C} + g * ${Cg}) * ${inSize};`);
    b.line(...spec.weights(p, w));
    b.line(`${T} acc = (${T})0;`);
    const loop = (d: number): void => {
      const xo = d === 0 ? '' : `xo${d - 1} * ${ins[d]} + `;
      const wo = d === 0 ? '' : `wo${d - 1} * ${ks[d]} + `;
      b.block(`for (long long k${d} = 0; k${d} < ${ks[d]}; k${d}++)`, () => {
        b.line(...spec.index(p, d));
        b.line(`const long long xo${d} = ${xo}i${d}, wo${d} = ${wo}k${d};`);
        if (d + 1 < r) loop(d + 1);
        else {
          b.block(`for (long long c = 0; c < ${Cg}; c++)`, () => {
            b.line(`acc += ${t.load(`xg[c * ${inSize} + xo${d}]`)} * ${t.load(spec.weight(p, d))};`);
          });
        }
      });
    };
    loop(0);
    if (bs) b.line(`acc += ${t.load(`${bs}[m]`)};`);
    b.line(`${y}[i] = ${t.store('acc')};`);
  });
  return b.build();
}

/** windowKernel's per-dim arguments: isz, osz, ksz, str, dil, pad. */
function windowArgs(inSp: readonly number[], g: TransposeGeometry | WindowGeometry): ArgRef[] {
  return [...inSp, ...g.out, ...g.kernel, ...g.strides, ...g.dilations, ...g.padsBegin].map(a64);
}

/** Direct convolution, one thread per output element, any spatial rank r. */
function directKernel(t: DeviceType, r: number, bias: boolean): KernelSource {
  return windowKernel('conv', t, r, bias, {
    group: ({ Mg }) => `const long long g = m / ${Mg};`,
    weights: ({ Cg, kSize }, w) => [`const ${t.storage}* wm = ${w} + m * ${Cg} * ${kSize};`],
    index: ({ ins, ss, ds, ps }, d) => [
      `const long long i${d} = o${d} * ${ss[d]} - ${ps[d]} + k${d} * ${ds[d]};`,
      `if (i${d} < 0 || i${d} >= ${ins[d]}) continue;`,
    ],
    weight: ({ kSize }, d) => `wm[c * ${kSize} + wo${d}]`,
  });
}

function lowerConv(ctx: LowerContext): Lowered {
  // fp16/bf16 group-1 1-D/2-D convs: the implicit GEMM on tensor cores (conv-igemm.ts) where it applies,
  // else im2col + tensor-core GEMM (conv-tc.ts); the kernels below stay the fallback of both
  return withConvIgemm(ctx, lowerConvNoIgemm(ctx));
}

/** Conv without the implicit-GEMM path (conv-tc.ts, then the SIMT kernels); tests use it to reach those paths. */
export function lowerConvNoIgemm(ctx: LowerContext): Lowered {
  return tensorCoreConv(ctx, lowerConvSimt) ?? lowerConvSimt(ctx);
}

function lowerConvSimt(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const X = need(ctx, 0, 'input X');
  const Wt = need(ctx, 1, 'weights W');
  const B = ctx.inputs[2];
  if (!FLOATS.includes(X.dtype) || !hasDeviceType(X.dtype)) unsupported(`Conv: input type ${X.dtype} is not handled (float32/float16/bfloat16/float64)`);
  if (Wt.dtype !== X.dtype || (B && B.dtype !== X.dtype)) unsupported('Conv: input types differ');
  const rank = X.shape.length;
  if (rank < 3) unsupported(`Conv: input rank ${rank} < 3`);
  if (Wt.shape.length !== rank) unsupported('Conv: weights rank differs from the input rank');
  const r = rank - 2;
  const group = node.int('group', 1);
  const [N, C] = X.shape;
  const M = Wt.shape[0];
  if (group < 1 || C % group !== 0 || M % group !== 0) unsupported(`Conv: group ${group} does not divide channels ${C} and feature maps ${M}`);
  const Cg = C / group;
  const Mg = M / group;
  if (Wt.shape[1] !== Cg) unsupported(`Conv: weights have ${Wt.shape[1]} input channels per group, expected ${Cg}`);
  if (B && (B.shape.length !== 1 || B.shape[0] !== M)) unsupported(`Conv: bias must have shape [${M}]`);
  const inSp = X.shape.slice(2);
  const geom = hostWindowGeometry(node, inSp, Wt.shape.slice(2));
  const outShape = [N, M, ...geom.out];
  if (!sameShape(outShape, ctx.outputs[0].shape)) unsupported(`Conv: output shape [${ctx.outputs[0].shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  const t = dt(X.dtype);
  const bias = B !== undefined;

  const direct = directKernel(t, r, bias);
  const gemm = r <= 2 ? gemm2dKernel(t, bias) : undefined;
  const all = gemm ? [gemm, direct] : [direct];
  const total = elementCount(outShape);
  if (total === 0) return { launches: [], variants: all };

  const ptrs: ArgRef[] = [{ in: 0 }, { in: 1 }, ...(bias ? [{ in: 2 }] : []), { out: 0 }];
  const kSize = elementCount(geom.kernel);
  const inSize = elementCount(inSp);
  const Kg = Cg * kSize;
  const OHW = elementCount(geom.out);
  const P = N * OHW;
  const lift = <T>(v: readonly T[], one: T): T[] => (r === 1 ? [one, v[0]] : [...v]);
  const gemmOk = gemm !== undefined && Mg >= 16 && group <= 65535 && Math.ceil(Mg / TILE_M) <= 65535 &&
    Kg <= INT32_MAX - 2 * TILE_K && kSize <= INT32_MAX && Math.ceil(P / TILE_N) <= INT32_MAX;
  let launch: Launch;
  if (gemmOk) {
    const [H, W] = lift(inSp, 1);
    const [OH, OW] = lift(geom.out, 1);
    const [KH, KW] = lift(geom.kernel, 1);
    const [sh, sw] = lift(geom.strides, 1);
    const [dh, dw] = lift(geom.dilations, 1);
    const [ph, pw] = lift(geom.padsBegin, 0);
    launch = {
      kernel: gemm,
      grid: [Math.ceil(P / TILE_N), Math.ceil(Mg / TILE_M), group],
      block: [256, 1, 1],
      args: [...ptrs, ...[C, H, W, M, Mg, Cg, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, P, Kg].map(a64)],
    };
  } else {
    launch = {
      kernel: direct,
      ...grid1d(total),
      args: [...ptrs, a64(total), ...[C, M, Cg, Mg, inSize, kSize].map(a64),
        ...windowArgs(inSp, geom)],
    };
  }
  return { launches: [launch], variants: all.filter((k) => k !== launch.kernel) };
}

// ---------------------------------------------------------------------------------------------------
// ConvTranspose

/** Gather ConvTranspose: one thread per output element; any spatial rank r. */
function transposeKernel(t: DeviceType, r: number, bias: boolean): KernelSource {
  return windowKernel('convt', t, r, bias, {
    group: ({ Mg }) => `const long long g = m / ${Mg}, mm = m - g * ${Mg};`,
    // W is [C, Mg, k...]: channel c of group g, output map mm
    weights: ({ Cg, Mg, kSize }, w) => [
      `const ${t.storage}* wg = ${w} + (g * ${Cg} * ${Mg} + mm) * ${kSize};`,
      `const long long wcs = ${Mg} * ${kSize};`,
    ],
    index: ({ ins, ss, ds, ps }, d) => [
      `const long long t${d} = o${d} + ${ps[d]} - k${d} * ${ds[d]};`,
      `if (t${d} < 0 || t${d} % ${ss[d]} != 0) continue;`,
      `const long long i${d} = t${d} / ${ss[d]};`,
      `if (i${d} >= ${ins[d]}) continue;`,
    ],
    weight: (_, d) => `wg[c * wcs + wo${d}]`,
  });
}

function lowerConvTranspose(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const X = need(ctx, 0, 'input X');
  const Wt = need(ctx, 1, 'weights W');
  const B = ctx.inputs[2];
  if (!FLOATS.includes(X.dtype)) unsupported(`ConvTranspose: input type ${X.dtype} is not handled (float32/float16/bfloat16/float64)`);
  if (Wt.dtype !== X.dtype || (B && B.dtype !== X.dtype)) unsupported('ConvTranspose: input types differ');
  const rank = X.shape.length;
  if (rank < 3 || Wt.shape.length !== rank) unsupported(`ConvTranspose: input [${X.shape.join(',')}] and weights [${Wt.shape.join(',')}] must have equal rank >= 3`);
  const r = rank - 2;
  const group = node.int('group', 1);
  const [N, C] = X.shape;
  if (group < 1 || C % group !== 0 || Wt.shape[0] !== C) unsupported(`ConvTranspose: weights [${Wt.shape.join(',')}] do not fit ${C} input channels in ${group} groups`);
  const Cg = C / group;
  const Mg = Wt.shape[1];
  const M = Mg * group;
  if (B && (B.shape.length !== 1 || B.shape[0] !== M)) unsupported(`ConvTranspose: bias must have shape [${M}]`);
  const inSp = X.shape.slice(2);
  const gctx = geometryContext(node);
  const geom = transposeGeometry(gctx, inSp, kernelShape(gctx, Wt.shape.slice(2)));
  const outShape = [N, M, ...geom.out];
  if (!sameShape(outShape, ctx.outputs[0].shape)) unsupported(`ConvTranspose: output shape [${ctx.outputs[0].shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  const t = dt(X.dtype);
  const bias = B !== undefined;
  const kernel = transposeKernel(t, r, bias);
  const total = elementCount(outShape);
  if (total === 0) return { launches: [], variants: [kernel] };
  const ptrs: ArgRef[] = [{ in: 0 }, { in: 1 }, ...(bias ? [{ in: 2 }] : []), { out: 0 }];
  return {
    launches: [{
      kernel,
      ...grid1d(total),
      args: [...ptrs, a64(total), ...[C, M, Cg, Mg, elementCount(inSp), elementCount(geom.kernel)].map(a64),
        ...windowArgs(inSp, geom)],
    }],
  };
}

registerLowerings({
  Conv: { lower: lowerConv },
  ConvTranspose: { lower: lowerConvTranspose },
});
