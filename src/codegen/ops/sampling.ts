/**
 * Sampling and region-of-interest lowerings: GridSample, AffineGrid, RoiAlign, MaxRoiPool, MaxUnpool, Col2Im.
 * One thread per output element throughout (a gather formulation: no float atomics, deterministic sums).
 *
 * Semantics are the reference interpreter's (src/ref/kernels/sampling.ts, roi.ts, nn-pool.ts, tensor-unique.ts),
 * including its floating-point order of operations: where the reference rounds through float32 (GridSample's
 * coordinate denormalization for non-float64 grids) the kernel computes in float with explicitly rounded
 * intrinsics, and where the reference computes in JS doubles the kernel computes in double; every a*b+c the
 * reference rounds twice is written with __d*_rn / __f*_rn so that no FMA contraction changes the result.
 *
 * - GridSample: any spatial rank >= 1; modes linear/nearest/cubic (and the opset-16 names bilinear/bicubic);
 *   padding zeros/border/reflection; per-axis taps in the kernel, then the tensor product summed in the
 *   reference's order (outer axis first), skipping zero weights and taps outside the input.
 * - AffineGrid: 2-D and 3-D (any rank the size input gives), base coordinates and the theta product in double.
 * - RoiAlign: avg/max, half_pixel/output_half_pixel; batch_indices read on the GPU (int64 or int32).
 * - MaxRoiPool: Caffe ROI pooling as the reference.
 * - MaxUnpool: three launches (fill a per-output winner table with -1, atomicMax the input position that
 *   targets each output, then gather): the largest input position wins, as the reference's sequential
 *   "last write wins", whatever the thread order. Any device dtype (data movement).
 * - Col2Im: for each image element, the sum over kernel positions in ascending order (the reference's
 *   order), in double.
 * Out-of-range batch indices / unpool indices (the reference fails on them) write zero / are skipped.
 */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import { dt, hasDeviceType, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, af64, contiguousStrides, elementCount, grid1d, registerLowerings, unsupported, type Launch, type LowerContext, type Lowered, type TensorDesc } from '../lowering.js';

const FLOATS: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

function need(ctx: LowerContext, i: number, what: string): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${ctx.node.op}: missing input ${what}`);
  return t;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function hostInts(ctx: LowerContext, i: number, what: string): number[] {
  const t: Tensor | undefined = ctx.hostValue(i);
  if (!t) unsupported(`${ctx.node.op}: ${what} is not known on the host`);
  return t.toNumbers();
}

/** C expression storing a double `e` into an element of type t (float types round once through float). */
function storeFromDouble(t: DeviceType, e: string): string {
  if (t.kind === 'float') return t.math === 'double' ? t.store(e) : t.store(`(float)(${e})`);
  if (t.kind === 'bool') return `(unsigned char)((${e}) != 0.0)`;
  return `(${t.storage})(long long)(${e})`;
}

const zeroOf = (t: DeviceType): string => `(${t.storage})0`;

// ---------------------------------------------------------------------------------------------------
// GridSample

const REFLECT = `__device__ __forceinline__ double chm_smp_reflect(double x, double lo, double hi) {
  const double range = __dsub_rn(hi, lo);
  if (x < lo) {
    const double dx = __dsub_rn(lo, x);
    const double n = trunc(__ddiv_rn(dx, range));
    const double r = __dsub_rn(dx, __dmul_rn(n, range));
    return fmod(n, 2.0) == 0.0 ? __dadd_rn(lo, r) : __dsub_rn(hi, r);
  }
  if (x > hi) {
    const double dx = __dsub_rn(x, hi);
    const double n = trunc(__ddiv_rn(dx, range));
    const double r = __dsub_rn(dx, __dmul_rn(n, range));
    return fmod(n, 2.0) == 0.0 ? __dsub_rn(hi, r) : __dadd_rn(lo, r);
  }
  return x;
}`;

const CUBIC = `__device__ __forceinline__ double chm_smp_cubic(double x) {
  const double A = -0.75;
  const double a = fabs(x);
  if (a <= 1.0) return __dadd_rn(__dmul_rn(__dmul_rn(__dsub_rn(__dmul_rn(A + 2.0, a), A + 3.0), a), a), 1.0);
  if (a < 2.0) return __dsub_rn(__dmul_rn(__dadd_rn(__dmul_rn(__dsub_rn(__dmul_rn(A, a), 5.0 * A), a), 8.0 * A), a), 4.0 * A);
  return 0.0;
}`;

/** JS Math.round: the nearest integer, halves toward +inf */
const JSROUND = `__device__ __forceinline__ double chm_smp_jsround(double x) {
  double r = floor(x);
  if (x - r >= 0.5) r += 1.0;
  return r;
}`;

type Padding = 'zeros' | 'border' | 'reflection';

function pixHelper(padding: Padding): string {
  const body = padding === 'zeros' ? 'const double j = i;'
    : padding === 'border' ? 'const double j = fmin(fmax(i, 0.0), (double)(d - 1));'
    : 'const double j = trunc(chm_smp_reflect(i, lo, hi));';
  return `__device__ __forceinline__ long long chm_smp_pix_${padding}(double i, long long d, double lo, double hi) {
  ${body}
  return (j >= 0.0 && j < (double)d) ? (long long)j : -1LL;
}`;
}

function gridSampleKernel(xt: DeviceType, gt: DeviceType, r: number, mode: 'linear' | 'nearest' | 'cubic', padding: Padding, align: boolean): KernelSource {
  const b = new KernelBuilder('gridsample', 256);
  b.helpers(REFLECT).helpers(CUBIC).helpers(JSROUND).helpers(pixHelper(padding));
  const x = b.input('x', xt.storage);
  const g = b.input('grid', gt.storage);
  const y = b.output('y', xt.storage);
  const total = b.i64('total');
  const C = b.i64('C');
  const P = b.i64('P');
  const S = b.i64('S');
  const dims = b.i64s('d', r);
  const strides = b.i64s('s', r);
  const T = mode === 'nearest' ? 1 : mode === 'linear' ? 2 : 4;
  const f64 = gt.math === 'double';
  const pix = `chm_smp_pix_${padding}`;
  b.gridStride(total, () => {
    b.line(`const long long p = i % ${P};`, `const long long nc = i / ${P};`, `const long long n = nc / ${C};`);
    b.line(`const ${gt.storage}* gp = ${g} + (n * ${P} + p) * ${r};`);
    for (let a = 0; a < r; a++) {
      b.line(`long long ix${a}[${T}];`, `double w${a}[${T}];`);
      b.block('', () => {
        b.line(`const long long d = ${dims[a]};`);
        if (f64) {
          b.line(`const double gn = ${gt.load(`gp[${r - 1 - a}]`)};`);
          b.line(align
            ? 'double v = __dmul_rn(__ddiv_rn(__dadd_rn(gn, 1.0), 2.0), (double)(d - 1));'
            : 'double v = __ddiv_rn(__dsub_rn(__dmul_rn(__dadd_rn(gn, 1.0), (double)d), 1.0), 2.0);');
        } else {
          b.line(`const float gn = ${gt.load(`gp[${r - 1 - a}]`)};`);
          b.line(align
            ? 'double v = (double)__fmul_rn(__fdiv_rn(__fadd_rn(gn, 1.0f), 2.0f), (float)(d - 1));'
            : 'double v = (double)__fdiv_rn(__fsub_rn(__fmul_rn(__fadd_rn(gn, 1.0f), (float)d), 1.0f), 2.0f);');
        }
        b.line(align ? 'const double lo = 0.0, hi = (double)(d - 1);' : 'const double lo = -0.5, hi = (double)d - 0.5;');
        if (mode === 'nearest') b.line('v = rint(v);');
        if (padding === 'border') b.line('if (v < lo || v > hi) v = fmin(fmax(v, 0.0), (double)(d - 1));');
        if (padding === 'reflection') b.line('if (v < lo || v > hi) v = chm_smp_reflect(v, lo, hi);');
        if (mode === 'nearest') {
          b.line(`ix${a}[0] = ${pix}(trunc(v), d, lo, hi); w${a}[0] = 1.0;`);
        } else {
          b.line('const double x0 = floor(v);', 'const double t = v - x0;');
          if (mode === 'linear') {
            b.line(`ix${a}[0] = ${pix}(x0, d, lo, hi); ix${a}[1] = ${pix}(x0 + 1.0, d, lo, hi);`);
            b.line(`w${a}[0] = 1.0 - t; w${a}[1] = t;`);
          } else {
            for (let j = 0; j < 4; j++) b.line(`ix${a}[${j}] = ${pix}(x0 + ${j - 1}.0, d, lo, hi);`);
            b.line(`w${a}[0] = chm_smp_cubic(t + 1.0); w${a}[1] = chm_smp_cubic(t); w${a}[2] = chm_smp_cubic(1.0 - t); w${a}[3] = chm_smp_cubic(2.0 - t);`);
          }
        }
      });
    }
    b.line(`const ${xt.storage}* xp = ${x} + nc * ${S};`, 'double acc = 0.0;');
    const open = (a: number): void => {
      if (a === r) {
        const w = Array.from({ length: r }, (_, k) => `w${k}[j${k}]`).join(' * ');
        const valid = Array.from({ length: r }, (_, k) => `ix${k}[j${k}] >= 0`).join(' && ');
        const off = Array.from({ length: r }, (_, k) => `ix${k}[j${k}] * ${strides[k]}`).join(' + ');
        b.line(`const double w = ${w};`);
        b.line(`if (${valid} && w != 0.0) acc = __dadd_rn(acc, __dmul_rn(w, (double)(${xt.load(`xp[${off}]`)})));`);
        return;
      }
      b.block(`for (int j${a} = 0; j${a} < ${T}; j${a}++)`, () => open(a + 1));
    };
    open(0);
    if (xt.kind === 'float') b.line(`${y}[i] = ${storeFromDouble(xt, 'acc')};`);
    else b.line(`${y}[i] = (${xt.storage})(long long)chm_smp_jsround(acc);`);
  });
  return b.build();
}

function lowerGridSample(ctx: LowerContext): Lowered {
  const X = need(ctx, 0, 'X');
  const G = need(ctx, 1, 'grid');
  const Y = ctx.outputs[0];
  const node = ctx.node;
  let mode = node.string('mode', 'linear');
  if (mode === 'bilinear') mode = 'linear';
  if (mode === 'bicubic') mode = 'cubic';
  if (mode !== 'linear' && mode !== 'nearest' && mode !== 'cubic') unsupported(`GridSample: unknown mode '${mode}'`);
  const padding = node.string('padding_mode', 'zeros');
  if (padding !== 'zeros' && padding !== 'border' && padding !== 'reflection') unsupported(`GridSample: unknown padding_mode '${padding}'`);
  const align = node.int('align_corners', 0) !== 0;
  if (!FLOATS.includes(X.dtype) && X.dtype !== 'int32' && X.dtype !== 'int64') unsupported(`GridSample: input type ${X.dtype} is not handled`);
  if (!FLOATS.includes(G.dtype)) unsupported(`GridSample: grid type ${G.dtype} is not handled`);
  if (Y.dtype !== X.dtype) unsupported('GridSample: output type differs from X');
  const r = X.shape.length - 2;
  if (r < 1) unsupported('GridSample: X must have rank >= 3');
  if (G.shape.length !== r + 2 || G.shape[0] !== X.shape[0] || G.shape[r + 1] !== r) unsupported(`GridSample: grid shape [${G.shape.join(',')}] does not match X [${X.shape.join(',')}]`);
  const [N, C] = X.shape;
  const dims = X.shape.slice(2);
  const outSp = G.shape.slice(1, r + 1);
  if (!sameShape(Y.shape, [N, C, ...outSp])) unsupported(`GridSample: output shape [${Y.shape.join(',')}] differs from the computed`);
  const kernel = gridSampleKernel(dt(X.dtype), dt(G.dtype), r, mode, padding, align);
  const total = elementCount(Y.shape);
  if (total === 0) return { launches: [], variants: [kernel] };
  const P = elementCount(outSp);
  const S = elementCount(dims);
  return {
    launches: [{
      kernel, ...grid1d(total),
      args: [{ in: 0 }, { in: 1 }, { out: 0 }, a64(total), a64(C), a64(P), a64(S), ...dims.map(a64), ...contiguousStrides(dims).map(a64)],
    }],
  };
}

// ---------------------------------------------------------------------------------------------------
// AffineGrid

function affineGridKernel(t: DeviceType, r: number, align: boolean): KernelSource {
  const b = new KernelBuilder('affinegrid', 256);
  const th = b.input('theta', t.storage);
  const y = b.output('y', t.storage);
  const total = b.i64('total');
  const P = b.i64('P');
  const sp = b.i64s('sp', r);
  b.gridStride(total, () => {
    b.line(`const long long row = i % ${r};`, `const long long np = i / ${r};`, `const long long p = np % ${P};`, `const long long n = np / ${P};`);
    b.line('long long rem = p;');
    for (let a = r - 1; a >= 0; a--) b.line(`const long long pos${a} = rem % ${sp[a]}; rem /= ${sp[a]};`);
    b.line(`double coord[${r + 1}];`);
    for (let k = 0; k < r; k++) {
      const L = sp[r - 1 - k];
      const pos = `(double)pos${r - 1 - k}`;
      const v = align
        ? `__dadd_rn(-1.0, __ddiv_rn(__dmul_rn(2.0, ${pos}), (double)(${L} - 1)))`
        : `__dadd_rn(-1.0, __ddiv_rn(__dadd_rn(__dmul_rn(2.0, ${pos}), 1.0), (double)${L}))`;
      b.line(`coord[${k}] = ${L} <= 1 ? 0.0 : ${v};`);
    }
    b.line(`coord[${r}] = 1.0;`);
    b.line(`const ${t.storage}* tp = ${th} + (n * ${r} + row) * ${r + 1};`, 'double acc = 0.0;');
    b.line(`for (int k = 0; k <= ${r}; k++) acc = __dadd_rn(acc, __dmul_rn((double)(${t.load('tp[k]')}), coord[k]));`);
    b.line(`${y}[i] = ${storeFromDouble(t, 'acc')};`);
  });
  return b.build();
}

function lowerAffineGrid(ctx: LowerContext): Lowered {
  const TH = need(ctx, 0, 'theta');
  const Y = ctx.outputs[0];
  const align = ctx.node.int('align_corners', 0) !== 0;
  if (!FLOATS.includes(TH.dtype) || Y.dtype !== TH.dtype) unsupported(`AffineGrid: type ${TH.dtype} is not handled`);
  const size = hostInts(ctx, 1, 'size');
  if (size.length !== 4 && size.length !== 5) unsupported(`AffineGrid: size must have 4 or 5 values, got ${size.length}`);
  const r = size.length - 2;
  const N = size[0];
  const spatial = size.slice(2);
  if (!sameShape(TH.shape, [N, r, r + 1])) unsupported(`AffineGrid: theta shape [${TH.shape.join(',')}] must be [${N},${r},${r + 1}]`);
  if (!sameShape(Y.shape, [N, ...spatial, r])) unsupported(`AffineGrid: output shape [${Y.shape.join(',')}] differs from the computed`);
  const kernel = affineGridKernel(dt(TH.dtype), r, align);
  const total = elementCount(Y.shape);
  if (total === 0) return { launches: [], variants: [kernel] };
  return {
    launches: [{ kernel, ...grid1d(total), args: [{ in: 0 }, { out: 0 }, a64(total), a64(elementCount(spatial)), ...spatial.map(a64)] }],
  };
}

// ---------------------------------------------------------------------------------------------------
// RoiAlign

function roiAlignKernel(t: DeviceType, rt: DeviceType, it: DeviceType, max: boolean, halfPixel: boolean): KernelSource {
  const b = new KernelBuilder('roialign', 256);
  const x = b.input('x', t.storage);
  const rois = b.input('rois', rt.storage);
  const bi = b.input('bidx', it.storage);
  const y = b.output('y', t.storage);
  const total = b.i64('total');
  const N = b.i64('N');
  const C = b.i64('C');
  const H = b.i64('H');
  const W = b.i64('W');
  const OH = b.i64('OH');
  const OW = b.i64('OW');
  const ratio = b.i64('ratio');
  const scale = b.f64('scale');
  const off = halfPixel ? '0.5' : '0.0';
  const rl = (k: number) => `(double)(${rt.load(`rp[${k}]`)})`;
  b.gridStride(total, () => {
    b.line(`const long long pw = i % ${OW};`, `long long q = i / ${OW};`, `const long long ph = q % ${OH};`, `q /= ${OH};`);
    b.line(`const long long c = q % ${C};`, `const long long r = q / ${C};`);
    b.line(`const long long bn = (long long)${bi}[r];`);
    b.block(`if (bn < 0 || bn >= ${N})`, () => b.line(`${y}[i] = ${zeroOf(t)};`, 'continue;'));
    b.line(`const ${rt.storage}* rp = ${rois} + r * 4;`);
    b.line(`const double x1 = __dsub_rn(__dmul_rn(${rl(0)}, ${scale}), ${off});`);
    b.line(`const double y1 = __dsub_rn(__dmul_rn(${rl(1)}, ${scale}), ${off});`);
    b.line(`double rw = __dsub_rn(__dsub_rn(__dmul_rn(${rl(2)}, ${scale}), ${off}), x1);`);
    b.line(`double rh = __dsub_rn(__dsub_rn(__dmul_rn(${rl(3)}, ${scale}), ${off}), y1);`);
    if (!halfPixel) b.line('if (rw < 1.0) rw = 1.0;', 'if (rh < 1.0) rh = 1.0;');
    b.line(`const double binH = __ddiv_rn(rh, (double)${OH});`, `const double binW = __ddiv_rn(rw, (double)${OW});`);
    b.line(`const double gh = ${ratio} > 0 ? (double)${ratio} : ceil(__ddiv_rn(rh, (double)${OH}));`);
    b.line(`const double gw = ${ratio} > 0 ? (double)${ratio} : ceil(__ddiv_rn(rw, (double)${OW}));`);
    b.line('double count = __dmul_rn(gh, gw);', 'if (count < 1.0) count = 1.0;');
    b.line(`const ${t.storage}* xp = ${x} + (bn * ${C} + c) * ${H} * ${W};`);
    b.line(`const double Hd = (double)${H}, Wd = (double)${W};`);
    b.line(max ? 'double acc = -__longlong_as_double(0x7ff0000000000000ULL);' : 'double acc = 0.0;', 'long long ns = 0;');
    b.block('for (long long iy = 0; (double)iy < gh; iy++)', () => {
      b.line(`const double yy = __dadd_rn(__dadd_rn(y1, __dmul_rn((double)ph, binH)), __ddiv_rn(__dmul_rn((double)iy + 0.5, binH), gh));`);
      b.block('for (long long ix = 0; (double)ix < gw; ix++)', () => {
        b.line(`const double xx = __dadd_rn(__dadd_rn(x1, __dmul_rn((double)pw, binW)), __ddiv_rn(__dmul_rn((double)ix + 0.5, binW), gw));`);
        b.line('ns++;', 'long long p0 = 0, p1 = 0, p2 = 0, p3 = 0;', 'double w0 = 0.0, w1 = 0.0, w2 = 0.0, w3 = 0.0;');
        b.block('if (yy >= -1.0 && yy <= Hd && xx >= -1.0 && xx <= Wd)', () => {
          b.line('double ty = fmax(yy, 0.0), tx = fmax(xx, 0.0);');
          b.line('long long yl = (long long)ty, xl = (long long)tx, yh, xh;');
          b.line(`if (yl >= ${H} - 1) { yh = yl = ${H} - 1; ty = (double)yl; } else yh = yl + 1;`);
          b.line(`if (xl >= ${W} - 1) { xh = xl = ${W} - 1; tx = (double)xl; } else xh = xl + 1;`);
          b.line('const double ly = ty - (double)yl, lx = tx - (double)xl;', 'const double hy = 1.0 - ly, hx = 1.0 - lx;');
          b.line(`p0 = yl * ${W} + xl; p1 = yl * ${W} + xh; p2 = yh * ${W} + xl; p3 = yh * ${W} + xh;`);
          b.line('w0 = __dmul_rn(hy, hx); w1 = __dmul_rn(hy, lx); w2 = __dmul_rn(ly, hx); w3 = __dmul_rn(ly, lx);');
        });
        const v = (k: number) => `__dmul_rn(w${k}, (double)(${t.load(`xp[p${k}]`)}))`;
        if (max) {
          b.line('double m = -__longlong_as_double(0x7ff0000000000000ULL);');
          for (let k = 0; k < 4; k++) b.line(`{ const double e = ${v(k)}; if (e != e || e > m) m = e; }`);
          b.line('if (m != m || m > acc) acc = m;');
        } else {
          for (let k = 0; k < 4; k++) b.line(`acc = __dadd_rn(acc, ${v(k)});`);
        }
      });
    });
    b.line(max ? 'const double val = ns ? acc : 0.0;' : 'const double val = __ddiv_rn(acc, count);');
    b.line(`${y}[i] = ${storeFromDouble(t, 'val')};`);
  });
  return b.build();
}

function lowerRoiAlign(ctx: LowerContext): Lowered {
  const X = need(ctx, 0, 'X');
  const R = need(ctx, 1, 'rois');
  const B = need(ctx, 2, 'batch_indices');
  const Y = ctx.outputs[0];
  const node = ctx.node;
  const mode = node.string('mode', 'avg');
  if (mode !== 'avg' && mode !== 'max') unsupported(`RoiAlign: unknown mode '${mode}'`);
  const halfPixel = node.string('coordinate_transformation_mode', 'half_pixel') === 'half_pixel';
  const outH = node.int('output_height', 1);
  const outW = node.int('output_width', 1);
  const ratio = node.int('sampling_ratio', 0);
  const scale = node.float('spatial_scale', 1);
  if (!FLOATS.includes(X.dtype) || Y.dtype !== X.dtype) unsupported(`RoiAlign: input type ${X.dtype} is not handled`);
  if (!FLOATS.includes(R.dtype)) unsupported(`RoiAlign: rois type ${R.dtype} is not handled`);
  if (B.dtype !== 'int64' && B.dtype !== 'int32') unsupported(`RoiAlign: batch_indices type ${B.dtype} is not handled`);
  if (X.shape.length !== 4) unsupported(`RoiAlign: X must have rank 4, got [${X.shape.join(',')}]`);
  if (R.shape.length !== 2 || R.shape[1] !== 4) unsupported(`RoiAlign: rois must have shape [num_rois, 4], got [${R.shape.join(',')}]`);
  const nR = R.shape[0];
  if (elementCount(B.shape) !== nR) unsupported(`RoiAlign: batch_indices has ${elementCount(B.shape)} entries, expected ${nR}`);
  const [N, C, H, W] = X.shape;
  if (!sameShape(Y.shape, [nR, C, outH, outW])) unsupported(`RoiAlign: output shape [${Y.shape.join(',')}] differs from the computed`);
  const kernel = roiAlignKernel(dt(X.dtype), dt(R.dtype), dt(B.dtype), mode === 'max', halfPixel);
  const total = elementCount(Y.shape);
  if (total === 0) return { launches: [], variants: [kernel] };
  if (N * H * W === 0) unsupported('RoiAlign: empty X with a non-empty output (the reference reads outside X)');
  return {
    launches: [{
      kernel, ...grid1d(total),
      args: [{ in: 0 }, { in: 1 }, { in: 2 }, { out: 0 }, a64(total), a64(N), a64(C), a64(H), a64(W), a64(outH), a64(outW), a64(ratio), af64(scale)],
    }],
  };
}

// ---------------------------------------------------------------------------------------------------
// MaxRoiPool

function maxRoiPoolKernel(t: DeviceType, rt: DeviceType): KernelSource {
  const b = new KernelBuilder('roipool', 256);
  b.helpers(`__device__ __forceinline__ double chm_smp_cround(double v) { return v >= 0.0 ? floor(v + 0.5) : ceil(v - 0.5); }`);
  const x = b.input('x', t.storage);
  const rois = b.input('rois', rt.storage);
  const y = b.output('y', t.storage);
  const total = b.i64('total');
  const N = b.i64('N');
  const C = b.i64('C');
  const H = b.i64('H');
  const W = b.i64('W');
  const PH = b.i64('PH');
  const PW = b.i64('PW');
  const scale = b.f64('scale');
  const T = t.math;
  const rl = (k: number) => `(double)(${rt.load(`rp[${k}]`)})`;
  const ninf = T === 'double' ? '-__longlong_as_double(0x7ff0000000000000ULL)' : '-CHM_INF';
  b.gridStride(total, () => {
    b.line(`const long long pw = i % ${PW};`, `long long q = i / ${PW};`, `const long long ph = q % ${PH};`, `q /= ${PH};`);
    b.line(`const long long c = q % ${C};`, `const long long r = q / ${C};`);
    b.line(`const ${rt.storage}* rp = ${rois} + r * 5;`, `const double bd = ${rl(0)};`);
    b.block(`if (!(bd >= 0.0 && bd < (double)${N} && bd == floor(bd)))`, () => b.line(`${y}[i] = ${zeroOf(t)};`, 'continue;'));
    b.line('const long long bn = (long long)bd;');
    b.line(`const double sw = chm_smp_cround(__dmul_rn(${rl(1)}, ${scale}));`);
    b.line(`const double sh = chm_smp_cround(__dmul_rn(${rl(2)}, ${scale}));`);
    b.line(`const double ew = chm_smp_cround(__dmul_rn(${rl(3)}, ${scale}));`);
    b.line(`const double eh = chm_smp_cround(__dmul_rn(${rl(4)}, ${scale}));`);
    b.line(`const double binH = __ddiv_rn(fmax(eh - sh + 1.0, 1.0), (double)${PH});`);
    b.line(`const double binW = __ddiv_rn(fmax(ew - sw + 1.0, 1.0), (double)${PW});`);
    b.line(`const double Hd = (double)${H}, Wd = (double)${W};`);
    b.line('const long long hs = (long long)fmin(fmax(floor(__dmul_rn((double)ph, binH)) + sh, 0.0), Hd);');
    b.line('const long long he = (long long)fmin(fmax(ceil(__dmul_rn((double)(ph + 1), binH)) + sh, 0.0), Hd);');
    b.line('const long long ws = (long long)fmin(fmax(floor(__dmul_rn((double)pw, binW)) + sw, 0.0), Wd);');
    b.line('const long long we = (long long)fmin(fmax(ceil(__dmul_rn((double)(pw + 1), binW)) + sw, 0.0), Wd);');
    b.block('if (he <= hs || we <= ws)', () => b.line(`${y}[i] = ${zeroOf(t)};`, 'continue;'));
    b.line(`const ${t.storage}* xp = ${x} + (bn * ${C} + c) * ${H} * ${W};`, `${T} m = ${ninf};`);
    b.block('for (long long h = hs; h < he; h++)', () => {
      b.block('for (long long w = ws; w < we; w++)', () => {
        b.line(`const ${T} v = ${t.load(`xp[h * ${W} + w]`)};`, 'if (v != v || v > m) m = v;');
      });
    });
    b.line(`${y}[i] = ${t.store('m')};`);
  });
  return b.build();
}

function lowerMaxRoiPool(ctx: LowerContext): Lowered {
  const X = need(ctx, 0, 'X');
  const R = need(ctx, 1, 'rois');
  const Y = ctx.outputs[0];
  const pooled = ctx.node.ints('pooled_shape', []);
  if (pooled.length !== 2 || pooled.some((d) => !(d > 0))) unsupported('MaxRoiPool: pooled_shape must hold two positive values');
  const [PH, PW] = pooled;
  const scale = ctx.node.float('spatial_scale', 1);
  if (!FLOATS.includes(X.dtype) || Y.dtype !== X.dtype) unsupported(`MaxRoiPool: input type ${X.dtype} is not handled`);
  if (!FLOATS.includes(R.dtype)) unsupported(`MaxRoiPool: rois type ${R.dtype} is not handled`);
  if (X.shape.length !== 4) unsupported(`MaxRoiPool: X must have rank 4, got [${X.shape.join(',')}]`);
  if (R.shape.length !== 2 || R.shape[1] !== 5) unsupported(`MaxRoiPool: rois must have shape [num_rois, 5], got [${R.shape.join(',')}]`);
  const [N, C, H, W] = X.shape;
  const nR = R.shape[0];
  if (!sameShape(Y.shape, [nR, C, PH, PW])) unsupported(`MaxRoiPool: output shape [${Y.shape.join(',')}] differs from the computed`);
  const kernel = maxRoiPoolKernel(dt(X.dtype), dt(R.dtype));
  const total = elementCount(Y.shape);
  if (total === 0) return { launches: [], variants: [kernel] };
  return {
    launches: [{
      kernel, ...grid1d(total),
      args: [{ in: 0 }, { in: 1 }, { out: 0 }, a64(total), a64(N), a64(C), a64(H), a64(W), a64(PH), a64(PW), af64(scale)],
    }],
  };
}

// ---------------------------------------------------------------------------------------------------
// MaxUnpool

function unpoolFillKernel(): KernelSource {
  const b = new KernelBuilder('unpool', 256);
  const win = b.output('win', 'long long');
  const n = b.i64('n');
  b.gridStride(n, () => b.line(`${win}[i] = -1LL;`));
  return b.build();
}

function unpoolScatterKernel(it: DeviceType, r: number): KernelSource {
  const b = new KernelBuilder('unpool', 256);
  const idx = b.input('idx', it.storage);
  const win = b.output('win', 'long long');
  const n = b.i64('n');
  const natSize = b.i64('natSize');
  const outSize = b.i64('outSize');
  const outTotal = b.i64('outTotal');
  const nat = b.i64s('nat', r);
  const osp = b.i64s('osp', r);
  b.gridStride(n, () => {
    b.line(`const long long t = (long long)${idx}[i];`, 'if (t < 0) continue;');
    b.line(`const long long plane = t / ${natSize};`, `long long rem = t % ${natSize};`, 'long long flat = 0, mul = 1;', 'bool ok = true;');
    for (let d = r - 1; d >= 0; d--) {
      b.line(`{ const long long c = rem % ${nat[d]}; rem /= ${nat[d]}; if (c >= ${osp[d]}) ok = false; flat += c * mul; mul *= ${osp[d]}; }`);
    }
    b.line(`const long long target = plane * ${outSize} + flat;`);
    b.line(`if (ok && target >= 0 && target < ${outTotal}) atomicMax(&${win}[target], i);`);
  });
  return b.build();
}

function unpoolGatherKernel(t: DeviceType): KernelSource {
  const b = new KernelBuilder('unpool', 256);
  const x = b.input('x', t.storage);
  const win = b.input('win', 'long long');
  const y = b.output('y', t.storage);
  const n = b.i64('n');
  b.gridStride(n, () => b.line(`const long long s = ${win}[i];`, `${y}[i] = s >= 0 ? ${x}[s] : ${zeroOf(t)};`));
  return b.build();
}

function lowerMaxUnpool(ctx: LowerContext): Lowered {
  const X = need(ctx, 0, 'X');
  const I = need(ctx, 1, 'I');
  const Y = ctx.outputs[0];
  const node = ctx.node;
  if (!hasDeviceType(X.dtype) || Y.dtype !== X.dtype) unsupported(`MaxUnpool: input type ${X.dtype} is not handled`);
  if (I.dtype !== 'int64' && I.dtype !== 'int32') unsupported(`MaxUnpool: indices type ${I.dtype} is not handled`);
  const rank = X.shape.length;
  if (rank < 3 || rank > 5) unsupported(`MaxUnpool: input rank ${rank} (the reference handles 1 to 3 spatial dims)`);
  if (!sameShape(I.shape, X.shape)) unsupported(`MaxUnpool: indices shape [${I.shape.join(',')}] differs from X [${X.shape.join(',')}]`);
  const r = rank - 2;
  const inSp = X.shape.slice(2);
  if (!node.has('kernel_shape')) unsupported('MaxUnpool: kernel_shape is required');
  const kernelShape = node.ints('kernel_shape');
  const strides = node.ints('strides', new Array<number>(r).fill(1));
  const pads = node.ints('pads', new Array<number>(2 * r).fill(0));
  if (kernelShape.length !== r || strides.length !== r || pads.length !== 2 * r) unsupported('MaxUnpool: kernel_shape, strides and pads must match the spatial rank');
  const natural = inSp.map((d, i) => (d - 1) * strides[i] + kernelShape[i] - pads[i] - pads[i + r]);
  let outShape = [X.shape[0], X.shape[1], ...natural];
  if (ctx.inputs[2]) {
    const given = hostInts(ctx, 2, 'output_shape');
    if (given.length !== rank) unsupported(`MaxUnpool: output_shape has ${given.length} values, expected ${rank}`);
    outShape = given;
  }
  if (!sameShape(outShape, Y.shape)) unsupported(`MaxUnpool: output shape [${Y.shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  const fill = unpoolFillKernel();
  const scatter = unpoolScatterKernel(dt(I.dtype), r);
  const gather = unpoolGatherKernel(dt(X.dtype));
  const outTotal = elementCount(Y.shape);
  if (outTotal === 0) return { launches: [], variants: [fill, scatter, gather] };
  const n = elementCount(X.shape);
  const natSize = elementCount(natural);
  if (n > 0 && natural.some((d) => d <= 0)) unsupported(`MaxUnpool: the unpooled shape [${natural.join(',')}] is empty`);
  const outSp = Y.shape.slice(2);
  const launches: Launch[] = [{ kernel: fill, ...grid1d(outTotal), args: [{ scratch: 0 }, a64(outTotal)] }];
  if (n > 0) {
    launches.push({
      kernel: scatter, ...grid1d(n),
      args: [{ in: 1 }, { scratch: 0 }, a64(n), a64(natSize), a64(elementCount(outSp)), a64(outTotal), ...natural.map(a64), ...outSp.map(a64)],
    });
  }
  launches.push({ kernel: gather, ...grid1d(outTotal), args: [{ in: 0 }, { scratch: 0 }, { out: 0 }, a64(outTotal)] });
  return { launches, scratch: [outTotal * 8], variants: n > 0 ? [] : [scatter] };
}

// ---------------------------------------------------------------------------------------------------
// Col2Im

const COL2IM_TYPES: readonly DType[] = [...FLOATS, 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32'];

function col2imKernel(t: DeviceType, nd: number): KernelSource {
  const b = new KernelBuilder('col2im', 256);
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const total = b.i64('total');
  const K = b.i64('K');
  const L = b.i64('L');
  const img = b.i64s('img', nd);
  const blk = b.i64s('blk', nd);
  const nb = b.i64s('nb', nd);
  const st = b.i64s('st', nd);
  const pad = b.i64s('pad', nd);
  const dil = b.i64s('dil', nd);
  b.gridStride(total, () => {
    b.line('long long rem = i;');
    for (let d = nd - 1; d >= 0; d--) b.line(`const long long pos${d} = rem % ${img[d]}; rem /= ${img[d]};`);
    // rem is now n * C + c; the input rows of (n, c) are (n * C + c) * K + k
    b.line(`const ${t.storage}* xp = ${x} + rem * ${K} * ${L};`, 'double acc = 0.0;');
    b.block(`for (long long k = 0; k < ${K}; k++)`, () => {
      b.line('long long kr = k, l = 0, lmul = 1;', 'bool ok = true;');
      for (let d = nd - 1; d >= 0; d--) {
        b.line(`{ const long long kd = kr % ${blk[d]}; kr /= ${blk[d]};`);
        b.line(`  const long long q = pos${d} + ${pad[d]} - kd * ${dil[d]};`);
        b.line(`  if (q < 0 || q % ${st[d]} != 0 || q / ${st[d]} >= ${nb[d]}) ok = false; else l += (q / ${st[d]}) * lmul;`);
        b.line(`  lmul *= ${nb[d]}; }`);
      }
      b.line(`if (ok) acc = __dadd_rn(acc, (double)(${t.load(`xp[k * ${L} + l]`)}));`);
    });
    b.line(`${y}[i] = ${storeFromDouble(t, 'acc')};`);
  });
  return b.build();
}

function lowerCol2Im(ctx: LowerContext): Lowered {
  const X = need(ctx, 0, 'input');
  const Y = ctx.outputs[0];
  const node = ctx.node;
  if (!COL2IM_TYPES.includes(X.dtype) || Y.dtype !== X.dtype) unsupported(`Col2Im: input type ${X.dtype} is not handled`);
  const image = hostInts(ctx, 1, 'image_shape');
  const block = hostInts(ctx, 2, 'block_shape');
  const nd = image.length;
  if (block.length !== nd) unsupported(`Col2Im: image_shape has ${nd} values, block_shape ${block.length}`);
  if (nd < 1) unsupported('Col2Im: empty image_shape');
  if (X.shape.length !== 3) unsupported(`Col2Im: input must have rank 3, got ${X.shape.length}`);
  const dil = node.ints('dilations', new Array<number>(nd).fill(1));
  const pads = node.ints('pads', new Array<number>(2 * nd).fill(0));
  const strides = node.ints('strides', new Array<number>(nd).fill(1));
  if (dil.length !== nd || strides.length !== nd || pads.length !== 2 * nd) unsupported('Col2Im: dilations, strides and pads must match the image rank');
  if (strides.some((s) => s <= 0)) unsupported('Col2Im: strides must be positive');
  const K = elementCount(block);
  const [N, CK, L] = X.shape;
  if (K <= 0 || CK % K !== 0) unsupported(`Col2Im: input channels ${CK} are not a multiple of the block size ${K}`);
  const C = CK / K;
  const nb = image.map((d, i) => Math.floor((d + pads[i] + pads[i + nd] - (dil[i] * (block[i] - 1) + 1)) / strides[i]) + 1);
  if (nb.some((v) => v < 0) || elementCount(nb) !== L) unsupported(`Col2Im: input has ${L} blocks, the image and block shapes give ${nb.join('x')}`);
  if (!sameShape(Y.shape, [N, C, ...image])) unsupported(`Col2Im: output shape [${Y.shape.join(',')}] differs from the computed`);
  const kernel = col2imKernel(dt(X.dtype), nd);
  const total = elementCount(Y.shape);
  if (total === 0) return { launches: [], variants: [kernel] };
  return {
    launches: [{
      kernel, ...grid1d(total),
      args: [{ in: 0 }, { out: 0 }, a64(total), a64(K), a64(L), ...image.map(a64), ...block.map(a64), ...nb.map(a64), ...strides.map(a64),
        ...pads.slice(0, nd).map(a64), ...dil.map(a64)],
    }],
  };
}

registerLowerings({
  GridSample: { lower: lowerGridSample },
  AffineGrid: { hostInputs: [1], lower: lowerAffineGrid },
  RoiAlign: { lower: lowerRoiAlign },
  MaxRoiPool: { lower: lowerMaxRoiPool },
  MaxUnpool: { hostInputs: [2], lower: lowerMaxUnpool },
  Col2Im: { hostInputs: [1, 2], lower: lowerCol2Im },
});
