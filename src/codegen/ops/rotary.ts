/**
 * RotaryEmbedding (ONNX opset 23) and SwiGLU, matching src/ref/kernels/nn-attention.ts and swiglu.ts.
 *
 * RotaryEmbedding: X is 4-D [B, H, S, D] or 3-D [B, S, H*D] (num_heads attribute). The first R
 * (rotary_embedding_dim, default D) elements of every head are rotated in pairs (x1, x2):
 *   y1 = cos·x1 - sin·x2,  y2 = sin·x1 + cos·x2
 * with pairs (2e, 2e+1) when interleaved, else (e, e + R/2); cos/sin row = position_ids[b, s] (caches
 * [max_pos, R/2]) or b·S + s without position ids (caches [B, S, R/2]); the rest is copied. One thread
 * per output element. A position id outside the cache yields NaN (the reference raises an error).
 *
 * SwiGLU: Y = A·sigmoid(alpha·A)·B elementwise, each step rounded to the input dtype like the reference.
 */
import type { DType } from '../../ir/dtype.js';
import { deviceType, dt, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, af32, af64, elementCount, grid1d, registerLowerings, unsupported,
  type LowerContext, type Lowered,
} from '../lowering.js';

const FLOATS: readonly DType[] = ['float16', 'bfloat16', 'float32', 'float64'];

function rotaryKernel(x: DeviceType, cs: DeviceType, pos: DeviceType | undefined, rank: number, interleaved: boolean): KernelSource {
  const b = new KernelBuilder('rotary');
  const M = x.math === 'double' || cs.math === 'double' ? 'double' : 'float';
  const xin = b.input('x', x.storage);
  const cosc = b.input('cosc', cs.storage);
  const sinc = b.input('sinc', cs.storage);
  const pids = pos ? b.input('pos', pos.storage) : '';
  const y = b.output('y', x.storage);
  const [n, H, S, D, half, R, rows] = ['n', 'H', 'S', 'D', 'half', 'R', 'rows'].map((s) => b.i64(s));
  b.gridStride(n, () => {
    b.line(`const long long e = i % ${D};`, `long long rest = i / ${D};`);
    if (rank === 4) b.line(`const long long s = rest % ${S}; rest /= ${S};`, `rest /= ${H};`);
    else b.line(`rest /= ${H};`, `const long long s = rest % ${S}; rest /= ${S};`);
    b.line('const long long bb = rest;');
    b.block(`if (e >= ${R})`, () => {
      b.line(`${y}[i] = ${xin}[i];`);
      b.line('continue;');
    });
    if (interleaved) b.line('const long long p = e >> 1;', 'const bool first = (e & 1) == 0;', 'const long long other = first ? i + 1 : i - 1;');
    else b.line(`const bool first = e < ${half};`, `const long long p = first ? e : e - ${half};`, `const long long other = first ? i + ${half} : i - ${half};`);
    if (pos) {
      b.line(`const long long row = (long long)${pids}[bb * ${S} + s];`);
      b.block(`if (row < 0 || row >= ${rows})`, () => {
        b.line(`${y}[i] = ${x.store(`(${x.math})CHM_NAN`)};`);
        b.line('continue;');
      });
    } else {
      b.line(`const long long row = bb * ${S} + s;`);
    }
    b.line(
      `const ${M} c = (${M})(${cs.load(`${cosc}[row * ${half} + p]`)});`,
      `const ${M} sn = (${M})(${cs.load(`${sinc}[row * ${half} + p]`)});`,
      `const ${M} xa = (${M})(${x.load(`${xin}[i]`)});`,
      `const ${M} xb = (${M})(${x.load(`${xin}[other]`)});`,
      // first: y1 = c·x1 - s·x2 (xa = x1, xb = x2); second: y2 = s·x1 + c·x2 (xb = x1, xa = x2)
      `const ${M} r = first ? c * xa - sn * xb : sn * xb + c * xa;`,
      `${y}[i] = ${x.store(x.math === M ? 'r' : `(${x.math})r`)};`,
    );
  });
  return b.build();
}

function lowerRotary(ctx: LowerContext): Lowered {
  const xd = ctx.inputs[0], cd = ctx.inputs[1], sd = ctx.inputs[2], pd = ctx.inputs[3];
  if (!xd || !cd || !sd) unsupported('RotaryEmbedding: X, cos_cache and sin_cache are required');
  if (!FLOATS.includes(xd.dtype)) unsupported(`RotaryEmbedding: X dtype ${xd.dtype} is not a supported float type`);
  if (!FLOATS.includes(cd.dtype) || cd.dtype !== sd.dtype) unsupported('RotaryEmbedding: cos_cache/sin_cache must share a float dtype');
  if (pd && pd.dtype !== 'int64' && pd.dtype !== 'int32') unsupported(`RotaryEmbedding: position_ids dtype ${pd.dtype} is not int64/int32`);
  const node = ctx.node;
  const interleaved = node.int('interleaved', 0) !== 0;
  const numHeads = node.int('num_heads', 0);
  const rank = xd.shape.length;
  let B: number, H: number, S: number, D: number;
  if (rank === 4) [B, H, S, D] = xd.shape;
  else if (rank === 3) {
    if (numHeads <= 0) unsupported('RotaryEmbedding: 3-D input needs the num_heads attribute');
    const hidden = xd.shape[2];
    if (hidden % numHeads !== 0) unsupported(`RotaryEmbedding: hidden size ${hidden} is not divisible by ${numHeads} heads`);
    [B, S] = xd.shape;
    H = numHeads;
    D = hidden / numHeads;
  } else unsupported(`RotaryEmbedding: input must be 3-D or 4-D, got [${xd.shape.join(',')}]`);
  const R = node.int('rotary_embedding_dim', 0) || D;
  if (R % 2 !== 0 || R > D) unsupported(`RotaryEmbedding: rotary_embedding_dim ${R} must be even and at most the head size ${D}`);
  const half = R / 2;
  const csize = elementCount(cd.shape);
  if (cd.shape[cd.shape.length - 1] !== half || sd.shape[sd.shape.length - 1] !== half) unsupported(`RotaryEmbedding: cos_cache/sin_cache last dimension must be ${half}`);
  if (csize !== elementCount(sd.shape)) unsupported('RotaryEmbedding: cos_cache and sin_cache shapes differ');
  let rows: number;
  if (pd) {
    if (elementCount(pd.shape) !== B * S) unsupported(`RotaryEmbedding: position_ids must have shape [${B},${S}]`);
    rows = half > 0 ? csize / half : 0;
  } else {
    if (csize !== B * S * half) unsupported(`RotaryEmbedding: without position_ids, cos_cache must have shape [${B},${S},${half}]`);
    rows = B * S;
  }
  const kernel = rotaryKernel(dt(xd.dtype), dt(cd.dtype), pd ? deviceType(pd.dtype) : undefined, rank, interleaved);
  const n = elementCount(xd.shape);
  if (n === 0) return { launches: [], variants: [kernel] };
  const args = [
    { in: 0 }, { in: 1 }, { in: 2 }, ...(pd ? [{ in: 3 }] : []), { out: 0 },
    ...[n, H, S, D, half, R, rows].map(a64),
  ];
  return { launches: [{ kernel, ...grid1d(n), args }] };
}

function swigluKernel(t: DeviceType): KernelSource {
  const b = new KernelBuilder('swiglu');
  const M = t.math;
  const dbl = M === 'double';
  const a = b.input('a', t.storage);
  const bi = b.input('bv', t.storage);
  const y = b.output('y', t.storage);
  const n = b.i64('n');
  const alpha = dbl ? b.f64('alpha') : b.f32('alpha');
  // round to the storage type after each step (identity for float32/float64)
  const rnd = (e: string) => (t.storage === M ? e : t.load(t.store(e)));
  b.gridStride(n, () => {
    b.line(
      `const ${M} xv = ${t.load(`${a}[i]`)};`,
      `const ${M} sig = ${rnd(`(${M})1 / ((${M})1 + ${dbl ? 'exp' : 'expf'}(-${alpha} * xv))`)};`,
      `const ${M} sw = ${rnd('xv * sig')};`,
      `${y}[i] = ${t.store(`sw * ${t.load(`${bi}[i]`)}`)};`,
    );
  });
  return b.build();
}

function lowerSwiGLU(ctx: LowerContext): Lowered {
  const ad = ctx.inputs[0], bd = ctx.inputs[1];
  if (!ad || !bd) unsupported('SwiGLU: A and B are required');
  if (!FLOATS.includes(ad.dtype)) unsupported(`SwiGLU: dtype ${ad.dtype} is not a supported float type`);
  if (ad.dtype !== bd.dtype) unsupported(`SwiGLU: A and B dtypes differ (${ad.dtype}, ${bd.dtype})`);
  if (ad.shape.length !== bd.shape.length || ad.shape.some((d, i) => d !== bd.shape[i])) unsupported('SwiGLU: A and B must have identical shapes');
  const t = dt(ad.dtype);
  const kernel = swigluKernel(t);
  const n = elementCount(ad.shape);
  if (n === 0) return { launches: [], variants: [kernel] };
  const alpha = ctx.node.float('alpha', 1.0);
  return { launches: [{ kernel, ...grid1d(n), args: [{ in: 0 }, { in: 1 }, { out: 0 }, a64(n), t.math === 'double' ? af64(alpha) : af32(alpha)] }] };
}

registerLowerings({ RotaryEmbedding: { lower: lowerRotary }, SwiGLU: { lower: lowerSwiGLU } });
