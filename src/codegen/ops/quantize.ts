/**
 * Quantization lowerings: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul.
 *
 * Semantics follow the reference interpreter (src/ref/kernels/quantize.ts, nn-linalg.ts, quant-util.ts)
 * bit for bit:
 * - QuantizeLinear: y = clamp(rint(q) + zp) with q = round_P(x / round_P(scale)), P the division type (the
 *   `precision` attribute, else float64 when x is int32 or either operand is float64, else the common float
 *   type of x and scale, else float32). The quotient is formed in double and rounded once to P (for P =
 *   float32 with float32/16/bf16 operands that is exactly __fdiv_rn). NaN quantizes to the low end.
 * - DequantizeLinear: dx = f32(f32(x) - zp); y = round_out(f32(dx * scale)) (float64 output: dx * scale in
 *   double). float16/bfloat16 results overflow to Inf (no saturation), as the reference rounds.
 * - Scale / zero-point indexing (per-tensor, per-axis, blocked) is one formula for all three layouts,
 *   p = (k / (n*inner))*so + (((k / inner) % n) / bs)*sa + (k % inner)*si, with the layout given by arguments,
 *   so the kernel text does not depend on which layout (a shape property) is used.
 * - DynamicQuantizeLinear: one single-block reduction kernel (min/max with 0, NaN ignored; exact and
 *   order-free) computes scale and zero point into the outputs and a scratch pair (the float32 scale the
 *   quantization uses, which for float16/bfloat16 inputs differs from the rounded y_scale); a second kernel
 *   quantizes.
 * - QLinearMatMul: one thread per output element, exact integer dot product (64-bit accumulator), then
 *   rint(acc * ((a_scale * b_scale) / y_scale)) + y_zp in double, clamped. Per-row a_scale/a_zero_point and
 *   per-column b_scale/b_zero_point are supported through 0/1 strides.
 *
 * Quantized types handled: int8, uint8, int16, uint16 (QuantizeLinear targets; DequantizeLinear also int32).
 * (Rounding a double to bfloat16 — only with a float64/int32 operand and a bfloat16 division type — uses
 * cvt.rn.bf16.f64, which needs sm_90.)
 * fp8/fp4/int4/uint4/int2/uint2 have no device type: those nodes fall back to the interpreter.
 */
import type { DType } from '../../ir/dtype.js';
import { dtypeFromCode } from '../../ir/dtype.js';
import { dt } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, broadcastStrides, elementCount, grid1d, registerLowerings, unsupported,
  type ArgRef, type Launch, type LowerContext, type Lowered, type TensorDesc,
} from '../lowering.js';

const FLOATS: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
const Q_TARGETS: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16'];
const DQ_INPUTS: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16', 'int32'];
const RANGE: Partial<Record<DType, [number, number]>> = {
  int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
};

/** device helpers: IEEE round-to-nearest-even conversions that overflow to Inf (as the reference rounds) */
const QZ_HELPERS = `__device__ __forceinline__ double qz_rd_h(double v) { unsigned short h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(v)); return (double)chm_h2f(h); }
__device__ __forceinline__ double qz_rd_b(double v) { unsigned short h; asm("cvt.rn.bf16.f64 %0, %1;" : "=h"(h) : "d"(v)); return (double)chm_b2f(h); }
__device__ __forceinline__ unsigned short qz_f2h(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }
__device__ __forceinline__ unsigned short qz_f2b(float f) { unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }`;

function dlit(v: number): string {
  return `${v}.0`;
}

function input(ctx: LowerContext, i: number, what: string): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${ctx.node.op}: ${what} (input ${i}) is missing`);
  return t;
}

function isFloatType(d: DType): boolean {
  return FLOATS.includes(d);
}

/** `e` (a double expression) rounded to `p` and widened back to double */
function roundTo(p: DType, e: string): string {
  switch (p) {
    case 'float64': return `(${e})`;
    case 'float32': return `(double)__double2float_rn(${e})`;
    case 'float16': return `qz_rd_h(${e})`;
    case 'bfloat16': return `qz_rd_b(${e})`;
    default: throw new Error(`quantize: no rounding to ${p}`);
  }
}

/** `e` (a float expression) rounded to `p` (float32/float16/bfloat16, overflow to Inf) as a float */
function roundToF(p: DType, e: string): string {
  switch (p) {
    case 'float32': return e;
    case 'float16': return `chm_h2f(qz_f2h(${e}))`;
    case 'bfloat16': return `chm_b2f(qz_f2b(${e}))`;
    default: throw new Error(`quantize: no float rounding to ${p}`);
  }
}

/** float32 value → stored element of float output type `out` (float16/bfloat16 overflow to Inf) */
function storeFromFloat(out: DType, e: string): string {
  switch (out) {
    case 'float32': return e;
    case 'float16': return `qz_f2h(${e})`;
    case 'bfloat16': return `qz_f2b(${e})`;
    case 'float64': return `(double)(${e})`;
    default: throw new Error(`quantize: no float store for ${out}`);
  }
}

// ------------------------------------------------------------------------------------------------
// scale / zero-point layout

interface Layout {
  /** n*inner, inner, n, block size, and the strides of (outer, axis block, inner) into the scale tensor */
  nin: number; inner: number; n: number; bs: number; so: number; sa: number; si: number;
}

const PER_TENSOR: Layout = { nin: 1, inner: 1, n: 1, bs: 1, so: 0, sa: 0, si: 0 };

/** the reference's paramIndex, as a layout (unsupported where the reference fails) */
function layoutOf(op: string, x: readonly number[], scale: readonly number[], axisAttr: number, blockSize: number): Layout {
  const size = elementCount(scale);
  if (size === 1) return PER_TENSOR;
  const rank = x.length;
  const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
  if (rank === 0 || axis < 0 || axis >= rank) unsupported(`${op}: axis ${axisAttr} is out of range for rank ${rank}`);
  const n = x[axis];
  const inner = elementCount(x.slice(axis + 1));
  if (blockSize <= 0) {
    if (scale.length !== 1 || size !== n) unsupported(`${op}: per-axis scale must be 1-D with ${n} elements, got [${scale.join(',')}]`);
    return { nin: n * inner, inner, n, bs: 1, so: 0, sa: 1, si: 0 };
  }
  const nb = Math.ceil(n / blockSize);
  const ok = scale.length === rank && scale.every((d, i) => (i === axis ? d === nb : d === x[i]));
  if (!ok) unsupported(`${op}: blocked scale shape [${scale.join(',')}] does not match input [${x.join(',')}] with block_size ${blockSize}`);
  return { nin: n * inner, inner, n, bs: blockSize, so: nb * inner, sa: inner, si: 1 };
}

const LAYOUT_PARAMS = ['nin', 'inner', 'nax', 'bs', 'so', 'sa', 'si'] as const;

function layoutParams(b: KernelBuilder): void {
  for (const p of LAYOUT_PARAMS) b.i64(p);
}

function layoutArgs(l: Layout): ArgRef[] {
  return [l.nin, l.inner, l.n, l.bs, l.so, l.sa, l.si].map(a64);
}

function layoutIndex(b: KernelBuilder): void {
  b.line('const long long p = (i / nin) * so + (((i / inner) % nax) / bs) * sa + (i % inner) * si;');
}

// ------------------------------------------------------------------------------------------------
// QuantizeLinear

function quantizeKernel(xT: DType, sT: DType, target: DType, hasZp: boolean, div: DType): KernelSource {
  const b = new KernelBuilder('quant');
  b.helpers(QZ_HELPERS);
  const X = dt(xT), S = dt(sT), Y = dt(target);
  b.input('x', X.storage);
  b.input('s', S.storage);
  if (hasZp) b.input('z', Y.storage);
  b.output('y', Y.storage);
  b.i64('n');
  layoutParams(b);
  const [lo, hi] = RANGE[target]!;
  const narrow = (d: DType) => d === 'float32' || d === 'float16' || d === 'bfloat16';
  b.gridStride('n', () => {
    layoutIndex(b);
    if (narrow(div) && narrow(xT) && narrow(sT)) {
      // both operands are exact floats: the reference's double quotient rounded to P equals the IEEE
      // float quotient rounded to P (double rounding is innocuous: 24 >= 2p + 2 for p = 11 and 8 bits)
      b.line(`const float sv = ${roundToF(div, S.load('s[p]'))};`);
      b.line(`const float q = ${roundToF(div, `__fdiv_rn(${X.load('x[i]')}, sv)`)};`);
      b.line('double r = (double)rintf(q);');
    } else {
      b.line(`const double sv = ${roundTo(div, `(double)${S.load('s[p]')}`)};`);
      b.line(`const double q = ${roundTo(div, `(double)${X.load('x[i]')} / sv`)};`);
      b.line('double r = rint(q);');
    }
    if (hasZp) b.line('r += (double)z[p];');
    b.line(`r = isnan(q) ? ${dlit(lo)} : (r < ${dlit(lo)} ? ${dlit(lo)} : (r > ${dlit(hi)} ? ${dlit(hi)} : r));`);
    b.line(`y[i] = (${Y.storage})r;`);
  });
  return b.build();
}

function divisionType(a: DType, b: DType): DType {
  if (!isFloatType(a) || !isFloatType(b) || a === 'float64' || b === 'float64') return 'float64';
  return a === b ? a : 'float32';
}

function lowerQuantize(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const x = input(ctx, 0, 'x');
  const s = input(ctx, 1, 'y_scale');
  const zp = ctx.inputs[2];
  if (!isFloatType(x.dtype) && x.dtype !== 'int32') unsupported(`QuantizeLinear: input type ${x.dtype}`);
  if (!isFloatType(s.dtype)) unsupported(`QuantizeLinear: scale type ${s.dtype}`);
  const outCode = node.int('output_dtype', 0);
  let target: DType | undefined = outCode ? dtypeFromCode(outCode) : undefined;
  if (zp) {
    if (target && target !== zp.dtype) unsupported(`QuantizeLinear: output_dtype ${target} differs from the zero point type ${zp.dtype}`);
    target = zp.dtype;
  }
  target ??= 'uint8';
  if (!Q_TARGETS.includes(target)) unsupported(`QuantizeLinear to ${target}: only int8/uint8/int16/uint16 targets have device kernels`);
  const y = ctx.outputs[0];
  if (y.dtype !== target) unsupported(`QuantizeLinear: output type ${y.dtype} differs from the target ${target}`);
  if (zp && elementCount(zp.shape) !== elementCount(s.shape)) unsupported('QuantizeLinear: zero point shape must match the scale shape');
  const precCode = node.int('precision', 0);
  let div: DType;
  if (precCode) {
    const p = dtypeFromCode(precCode);
    if (!p || !isFloatType(p)) unsupported(`QuantizeLinear: precision ${p ?? precCode} is not float32/float16/bfloat16/float64`);
    div = p;
  } else {
    div = divisionType(x.dtype, s.dtype);
  }
  const layout = layoutOf('QuantizeLinear', x.shape, s.shape, node.int('axis', 1), node.int('block_size', 0));
  const k = quantizeKernel(x.dtype, s.dtype, target, !!zp, div);
  const n = elementCount(x.shape);
  if (n === 0) return { launches: [], variants: [k] };
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }, ...(zp ? [{ in: 2 }] : []), { out: 0 }, a64(n), ...layoutArgs(layout)];
  return { launches: [{ kernel: k, ...grid1d(n), args }] };
}

// ------------------------------------------------------------------------------------------------
// DequantizeLinear

function dequantizeKernel(xT: DType, sT: DType, out: DType, hasZp: boolean): KernelSource {
  const b = new KernelBuilder('dequant');
  b.helpers(QZ_HELPERS);
  const X = dt(xT), S = dt(sT), O = dt(out);
  b.input('x', X.storage);
  b.input('s', S.storage);
  if (hasZp) b.input('z', X.storage);
  b.output('y', O.storage);
  b.i64('n');
  layoutParams(b);
  b.gridStride('n', () => {
    layoutIndex(b);
    if (xT === 'int32') {
      // f32(f32(x) - zp): x rounds to float first; the difference is exact in double
      b.line(`const float dx = __double2float_rn((double)__int2float_rn(x[i])${hasZp ? ' - (double)z[p]' : ''});`);
    } else {
      // 8/16-bit: exact in float
      b.line(`const float dx = (float)((int)x[i]${hasZp ? ' - (int)z[p]' : ''});`);
    }
    const sv = S.load('s[p]');
    if (out === 'float64') {
      b.line(`y[i] = (double)dx * (double)${sv};`);
    } else {
      if (sT === 'float64') b.line(`const float v = __double2float_rn((double)dx * ${sv});`);
      else b.line(`const float v = __fmul_rn(dx, ${sv});`);
      b.line(`y[i] = ${storeFromFloat(out, 'v')};`);
    }
  });
  return b.build();
}

function lowerDequantize(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const x = input(ctx, 0, 'x');
  const s = input(ctx, 1, 'x_scale');
  const zp = ctx.inputs[2];
  if (!DQ_INPUTS.includes(x.dtype)) unsupported(`DequantizeLinear of ${x.dtype}: only int8/uint8/int16/uint16/int32 inputs have device kernels`);
  if (!isFloatType(s.dtype)) unsupported(`DequantizeLinear: scale type ${s.dtype}`);
  if (zp && zp.dtype !== x.dtype) unsupported(`DequantizeLinear: zero point type ${zp.dtype} differs from the input type ${x.dtype}`);
  if (zp && elementCount(zp.shape) !== elementCount(s.shape)) unsupported('DequantizeLinear: zero point shape must match the scale shape');
  const outCode = node.int('output_dtype', 0);
  const out = outCode ? dtypeFromCode(outCode) : s.dtype;
  if (!out || !isFloatType(out)) unsupported(`DequantizeLinear: output_dtype ${outCode} is not a float type with a device type`);
  const y = ctx.outputs[0];
  if (y.dtype !== out) unsupported(`DequantizeLinear: output type ${y.dtype} differs from ${out}`);
  const layout = layoutOf('DequantizeLinear', x.shape, s.shape, node.int('axis', 1), node.int('block_size', 0));
  const k = dequantizeKernel(x.dtype, s.dtype, out, !!zp);
  const n = elementCount(x.shape);
  if (n === 0) return { launches: [], variants: [k] };
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }, ...(zp ? [{ in: 2 }] : []), { out: 0 }, a64(n), ...layoutArgs(layout)];
  return { launches: [{ kernel: k, ...grid1d(n), args }] };
}

// ------------------------------------------------------------------------------------------------
// DynamicQuantizeLinear

const DQL_THREADS = 1024;

/** one block: min/max (with 0) over x → y_scale, y_zero_point and scratch {scale, zp} as float32 */
function dqlReduceKernel(xT: DType): KernelSource {
  const b = new KernelBuilder('dynquant', DQL_THREADS);
  b.helpers(QZ_HELPERS);
  const X = dt(xT);
  const T = X.math; // float or double
  b.input('x', X.storage);
  b.output('ys', X.storage);
  b.output('yz', 'unsigned char');
  b.output('sc', 'float');
  b.i64('n');
  b.shared(`${T} smax[${DQL_THREADS}]`);
  b.shared(`${T} smin[${DQL_THREADS}]`);
  const toF = (e: string) => (T === 'double' ? `__double2float_rn(${e})` : e);
  b.line('const int t = threadIdx.x;');
  b.line(`${T} mx = 0, mn = 0;`);
  b.block('for (long long i = t; i < n; i += blockDim.x)', () => {
    // NaN never compares true, so it is ignored (as the reference's loop does)
    b.line(`const ${T} v = ${X.load('x[i]')};`);
    b.line('if (v > mx) mx = v;');
    b.line('if (v < mn) mn = v;');
  });
  b.line('smax[t] = mx; smin[t] = mn;');
  b.line('__syncthreads();');
  b.block('for (int h = blockDim.x / 2; h > 0; h >>= 1)', () => {
    b.block('if (t < h)', () => {
      b.line('if (smax[t + h] > smax[t]) smax[t] = smax[t + h];');
      b.line('if (smin[t + h] < smin[t]) smin[t] = smin[t + h];');
    });
    b.line('__syncthreads();');
  });
  b.block('if (t == 0)', () => {
    b.line(`const ${T} gmx = smax[0], gmn = smin[0];`);
    b.line(`const float fmx = ${toF('gmx')}, fmn = ${toF('gmn')};`);
    b.line('const float scale = gmx == gmn ? 1.0f : __fdiv_rn(__fsub_rn(fmx, fmn), 255.0f);');
    b.line('const float zp0 = __fsub_rn(0.0f, __fdiv_rn(fmn, scale));');
    // Math.min/Math.max propagate NaN (fminf/fmaxf would not)
    b.line('const float zp = isnan(zp0) ? CHM_NAN : rintf(fmaxf(0.0f, fminf(255.0f, zp0)));');
    b.line('sc[0] = scale; sc[1] = zp;');
    b.line(`ys[0] = ${storeFromFloat(xT, 'scale')};`);
    b.line('yz[0] = isnan(zp) ? (unsigned char)0 : (unsigned char)zp;');
  });
  return b.build();
}

function dqlQuantKernel(xT: DType): KernelSource {
  const b = new KernelBuilder('dynquant');
  const X = dt(xT);
  b.input('x', X.storage);
  b.input('sc', 'float');
  b.output('y', 'unsigned char');
  b.i64('n');
  b.line('const float scale = sc[0], zp = sc[1];');
  b.gridStride('n', () => {
    if (xT === 'float64') b.line('const float q = __double2float_rn(x[i] / (double)scale);');
    else b.line(`const float q = __fdiv_rn(${X.load('x[i]')}, scale);`);
    b.line('const double r = (double)rintf(q) + (double)zp;');
    b.line('y[i] = isnan(r) ? (unsigned char)0 : (r < 0.0 ? (unsigned char)0 : (r > 255.0 ? (unsigned char)255 : (unsigned char)r));');
  });
  return b.build();
}

function lowerDynamicQuantize(ctx: LowerContext): Lowered {
  const x = input(ctx, 0, 'x');
  if (!isFloatType(x.dtype)) unsupported(`DynamicQuantizeLinear of ${x.dtype}`);
  const [y, ys, yz] = ctx.outputs;
  if (y.dtype !== 'uint8' || ys.dtype !== x.dtype || yz.dtype !== 'uint8') unsupported('DynamicQuantizeLinear: unexpected output types');
  const red = dqlReduceKernel(x.dtype);
  const quant = dqlQuantKernel(x.dtype);
  const n = elementCount(x.shape);
  const launches: Launch[] = [{ kernel: red, grid: [1, 1, 1], block: [DQL_THREADS, 1, 1], args: [{ in: 0 }, { out: 1 }, { out: 2 }, { scratch: 0 }, a64(n)] }];
  if (n > 0) launches.push({ kernel: quant, ...grid1d(n), args: [{ in: 0 }, { scratch: 0 }, { out: 0 }, a64(n)] });
  return { launches, scratch: [8], variants: n > 0 ? [] : [quant] };
}

// ------------------------------------------------------------------------------------------------
// QLinearMatMul

const QMM_TYPES: readonly DType[] = ['int8', 'uint8'];

/**
 * params: a, as, [az], b, bs, [bz], ys, yz, y, total, M, N, K, d0..d{R-1} (batch dims),
 *         sa0.., sb0.. (batch strides of A / B in elements), asr, azr, bsc, bzc (0/1 strides of the scales / zps)
 */
function qlinearMatmulKernel(aT: DType, asT: DType, bT: DType, bsT: DType, ysT: DType, yT: DType, hasAz: boolean, hasBz: boolean, R: number): KernelSource {
  const b = new KernelBuilder('qlinmm');
  const A = dt(aT), AS = dt(asT), B = dt(bT), BS = dt(bsT), YS = dt(ysT), Y = dt(yT);
  b.input('a', A.storage);
  b.input('as', AS.storage);
  if (hasAz) b.input('az', A.storage);
  b.input('b', B.storage);
  b.input('bs', BS.storage);
  if (hasBz) b.input('bz', B.storage);
  b.input('ys', YS.storage);
  b.input('yz', Y.storage);
  b.output('y', Y.storage);
  b.i64('total');
  b.i64('M');
  b.i64('N');
  b.i64('K');
  const dims = b.i64s('d', R);
  const sa = b.i64s('sa', R);
  const sb = b.i64s('sb', R);
  b.i64('asr');
  b.i64('azr');
  b.i64('bsc');
  b.i64('bzc');
  const [lo, hi] = RANGE[yT]!;
  b.gridStride('total', () => {
    b.line('const long long col = i % N;');
    b.line('const long long t = i / N;');
    b.line('const long long row = t % M;');
    b.line('long long ao = 0, bo = 0;');
    if (R > 0) b.line('long long rem = t / M;');
    for (let d = R - 1; d >= 0; d--) {
      b.line(d > 0 ? `{ const long long c = rem % ${dims[d]}; rem /= ${dims[d]}; ao += c * ${sa[d]}; bo += c * ${sb[d]}; }` : `{ const long long c = rem; ao += c * ${sa[d]}; bo += c * ${sb[d]}; }`);
    }
    b.line('ao += row * K; bo += col;');
    b.line(`const int azv = ${hasAz ? '(int)az[row * azr]' : '0'};`);
    b.line(`const int bzv = ${hasBz ? '(int)bz[col * bzc]' : '0'};`);
    b.line('long long acc = 0;');
    b.block('for (long long k = 0; k < K; k++)', () => {
      b.line('acc += (long long)(((int)a[ao + k] - azv) * ((int)b[bo + k * N] - bzv));');
    });
    b.line(`const double sc = ((double)${AS.load('as[row * asr]')} * (double)${BS.load('bs[col * bsc]')}) / (double)${YS.load('ys[0]')};`);
    b.line('const double r = rint((double)acc * sc) + (double)yz[0];');
    b.line(`y[i] = isnan(r) ? (${Y.storage})0 : (${Y.storage})(r < ${dlit(lo)} ? ${dlit(lo)} : (r > ${dlit(hi)} ? ${dlit(hi)} : r));`);
  });
  return b.build();
}

function lowerQLinearMatMul(ctx: LowerContext): Lowered {
  const a = input(ctx, 0, 'a'), as = input(ctx, 1, 'a_scale');
  const bIn = input(ctx, 3, 'b'), bs = input(ctx, 4, 'b_scale');
  const ys = input(ctx, 6, 'y_scale'), yz = input(ctx, 7, 'y_zero_point');
  const az = ctx.inputs[2], bz = ctx.inputs[5];
  if (!QMM_TYPES.includes(a.dtype) || !QMM_TYPES.includes(bIn.dtype) || !QMM_TYPES.includes(yz.dtype)) {
    unsupported(`QLinearMatMul of ${a.dtype} x ${bIn.dtype} -> ${yz.dtype} (int8/uint8 only)`);
  }
  if (az && az.dtype !== a.dtype) unsupported(`QLinearMatMul: a_zero_point type ${az.dtype} differs from ${a.dtype}`);
  if (bz && bz.dtype !== bIn.dtype) unsupported(`QLinearMatMul: b_zero_point type ${bz.dtype} differs from ${bIn.dtype}`);
  for (const t of [as, bs, ys]) if (!isFloatType(t.dtype)) unsupported(`QLinearMatMul: scale type ${t.dtype}`);
  const y = ctx.outputs[0];
  if (y.dtype !== yz.dtype) unsupported(`QLinearMatMul: output type ${y.dtype} differs from y_zero_point's ${yz.dtype}`);
  if (elementCount(ys.shape) !== 1 || elementCount(yz.shape) !== 1) unsupported('QLinearMatMul: y_scale and y_zero_point must be scalars');
  if (a.shape.length === 0 || bIn.shape.length === 0) unsupported('QLinearMatMul: operands must have rank >= 1');
  const a2 = a.shape.length === 1 ? [1, a.shape[0]] : [...a.shape];
  const b2 = bIn.shape.length === 1 ? [bIn.shape[0], 1] : [...bIn.shape];
  const M = a2[a2.length - 2], K = a2[a2.length - 1];
  const K2 = b2[b2.length - 2], N = b2[b2.length - 1];
  if (K !== K2) unsupported(`QLinearMatMul: inner dimensions differ: [${a.shape.join(',')}] x [${bIn.shape.join(',')}]`);
  const aBatch = a2.slice(0, -2), bBatch = b2.slice(0, -2);
  const R = Math.max(aBatch.length, bBatch.length);
  const batch: number[] = [];
  for (let d = 0; d < R; d++) {
    const x = aBatch[d - (R - aBatch.length)] ?? 1, z = bBatch[d - (R - bBatch.length)] ?? 1;
    if (x !== z && x !== 1 && z !== 1) unsupported('QLinearMatMul: batch dimensions cannot be broadcast');
    batch.push(x === 1 ? z : x);
  }
  // per-row / per-column parameters (the reference's indexing; 1-D operands only with scalar ones)
  const perRow = (t: TensorDesc | undefined, what: string): number => {
    if (!t) return 0;
    const sz = elementCount(t.shape);
    if (sz === 1) return 0;
    if (a.shape.length < 2 || sz !== M || (what === 'a_zero_point' && t.shape.length !== 1)) unsupported(`QLinearMatMul: ${what} of shape [${t.shape.join(',')}] is neither a scalar nor per-row (${M})`);
    return 1;
  };
  const perCol = (t: TensorDesc | undefined, what: string): number => {
    if (!t) return 0;
    const sz = elementCount(t.shape);
    if (sz === 1) return 0;
    if (bIn.shape.length < 2 || sz !== N || (what === 'b_zero_point' && t.shape.length !== 1)) unsupported(`QLinearMatMul: ${what} of shape [${t.shape.join(',')}] is neither a scalar nor per-column (${N})`);
    return 1;
  };
  const asr = perRow(as, 'a_scale'), azr = perRow(az, 'a_zero_point');
  const bsc = perCol(bs, 'b_scale'), bzc = perCol(bz, 'b_zero_point');
  const k = qlinearMatmulKernel(a.dtype, as.dtype, bIn.dtype, bs.dtype, ys.dtype, yz.dtype, !!az, !!bz, R);
  const total = elementCount(batch) * M * N;
  if (total === 0) return { launches: [], variants: [k] };
  const saStr = broadcastStrides(aBatch, batch).map((s) => s * M * K);
  const sbStr = broadcastStrides(bBatch, batch).map((s) => s * K * N);
  const args: ArgRef[] = [
    { in: 0 }, { in: 1 }, ...(az ? [{ in: 2 }] : []), { in: 3 }, { in: 4 }, ...(bz ? [{ in: 5 }] : []), { in: 6 }, { in: 7 }, { out: 0 },
    a64(total), a64(M), a64(N), a64(K), ...batch.map(a64), ...saStr.map(a64), ...sbStr.map(a64),
    a64(asr), a64(azr), a64(bsc), a64(bzc),
  ];
  return { launches: [{ kernel: k, ...grid1d(total), args }] };
}

registerLowerings({
  QuantizeLinear: { lower: lowerQuantize },
  DequantizeLinear: { lower: lowerDequantize },
  DynamicQuantizeLinear: { lower: lowerDynamicQuantize },
  QLinearMatMul: { lower: lowerQLinearMatMul },
});
