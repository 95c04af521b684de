/**
 * ConvTranspose: per (group, batch) the columns Wᵀ_g · X_g (a GEMM), then col2im scatter-adds each
 * column into the output window it came from.
 */
import { isFloat, isNarrowFloat, type NumericArray } from '../../ir/dtype.js';
import { roundArrayInPlace } from '../../ir/float.js';
import { Tensor } from '../../ir/tensor.js';
import { checkedSize } from '../../ir/limits.js';
import { registerKernels, type KernelContext } from '../kernel.js';
import { gemmPacked, packA, stridedB } from './gemm-core.js';
import { kernelShape } from './conv-geom.js';

export interface TransposeGeometry {
  kernel: number[];
  strides: number[];
  dilations: number[];
  padsBegin: number[];
  out: number[];
}

/**
 * ConvTranspose geometry per the ONNX spec: the full output is stride·(in-1) + output_padding +
 * (k-1)·dilation + 1; explicit pads trim it, or output_shape (given, or in·stride under SAME_*) fixes it
 * and the total padding is split (SAME_UPPER: the smaller half first). Also used by the CUDA lowering.
 */
export function transposeGeometry(ctx: KernelContext, inSp: readonly number[], kernel: number[]): TransposeGeometry {
  const node = ctx.node;
  const r = inSp.length;
  const strides = node.ints('strides', new Array<number>(r).fill(1));
  const dilations = node.ints('dilations', new Array<number>(r).fill(1));
  const outPad = node.ints('output_padding', new Array<number>(r).fill(0));
  if (strides.length !== r || dilations.length !== r || outPad.length !== r) ctx.fail(`strides, dilations and output_padding need ${r} values each`);
  if (strides.some((s) => s < 1) || dilations.some((d) => d < 1)) ctx.fail('strides and dilations must be positive');
  const autoPad = node.string('auto_pad', 'NOTSET');
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) ctx.fail(`unknown auto_pad '${autoPad}'`, "attribute 'auto_pad'");
  let outShape = node.has('output_shape') ? node.ints('output_shape') : undefined;
  if (outShape && outShape.length === r + 2) outShape = outShape.slice(2);
  if (outShape && outShape.length !== r) ctx.fail(`output_shape has ${outShape.length} values, expected ${r}`, "attribute 'output_shape'");
  const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
  if (same && !outShape) outShape = inSp.map((d, i) => d * strides[i]);
  const padsBegin = new Array<number>(r).fill(0);
  const out = new Array<number>(r).fill(0);
  const pads = autoPad === 'NOTSET' ? node.ints('pads', new Array<number>(2 * r).fill(0)) : new Array<number>(2 * r).fill(0);
  if (pads.length !== 2 * r) ctx.fail(`pads has ${pads.length} values, expected ${2 * r}`, "attribute 'pads'");
  for (let i = 0; i < r; i++) {
    const full = strides[i] * (inSp[i] - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1;
    if (outShape) {
      const total = full - outShape[i];
      const half = Math.floor(total / 2);
      padsBegin[i] = autoPad === 'SAME_UPPER' ? half : total - half;
      out[i] = outShape[i];
    } else {
      padsBegin[i] = pads[i];
      out[i] = full - pads[i] - pads[i + r];
    }
  }
  if (out.some((o) => o < 0)) ctx.fail(`output shape [${out.join(',')}] is negative`);
  return { kernel, strides, dilations, padsBegin, out };
}

function convTranspose(ctx: KernelContext): Tensor[] {
  const x = ctx.input(0);
  const w = ctx.input(1);
  const b = ctx.optionalInput(2);
  if (!isFloat(x.dtype)) ctx.fail(`unsupported input type ${x.dtype}`, 'input 0');
  if (x.rank < 3 || w.rank !== x.rank) ctx.fail(`input [${x.shape.join(',')}] and weights [${w.shape.join(',')}] must have equal rank >= 3`);
  const group = ctx.node.int('group', 1);
  const [N, C] = x.shape;
  if (group < 1 || C % group !== 0 || w.shape[0] !== C) ctx.fail(`weights [${w.shape.join(',')}] do not fit ${C} input channels in ${group} groups`, 'input 1');
  const Cg = C / group;
  const Mg = w.shape[1];
  const M = Mg * group;
  if (b && (b.rank !== 1 || b.shape[0] !== M)) ctx.fail(`bias must have shape [${M}]`, 'input 2');
  const inSp = x.shape.slice(2);
  const geom = transposeGeometry(ctx, inSp, kernelShape(ctx, w.shape.slice(2)));
  const y = Tensor.zeros(x.dtype, [N, M, ...geom.out]);
  const yd = y.data as Float32Array | Float64Array;
  const inSize = inSp.reduce((a, c) => a * c, 1);
  const outSize = geom.out.reduce((a, c) => a * c, 1);
  const kSize = geom.kernel.reduce((a, c) => a * c, 1);
  const rows = Mg * kSize;
  const col = new Float64Array(checkedSize([rows, inSize]));
  for (let g = 0; g < group; g++) {
    const A = rows > 0 && Cg > 0 ? packA(rows, Cg, w.data as NumericArray, g * Cg * rows, 1, rows) : undefined;
    for (let n = 0; n < N; n++) {
      if (A) gemmPacked(A, inSize, stridedB(x.data as NumericArray, (n * C + g * Cg) * inSize, inSize, 1), col, 0, inSize);
      else col.fill(0);
      const planeOff = (n * M + g * Mg) * outSize;
      col2im(col, Mg, inSp, geom, yd, planeOff);
    }
  }
  if (b) {
    for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) {
      const bv = b.getNumber(m);
      const o = (n * M + m) * outSize;
      for (let i = 0; i < outSize; i++) yd[o + i] += bv;
    }
  }
  if (isNarrowFloat(x.dtype)) roundArrayInPlace(x.dtype, yd as Float32Array);
  return [y];
}

/** out[m, i*s - p + k*d] += col[(m, k), i] over every kernel offset k and input position i (any rank). */
function col2im(col: Float64Array, Mg: number, inSp: readonly number[], geom: TransposeGeometry, out: Float32Array | Float64Array, outOff: number): void {
  const r = inSp.length;
  const inSize = inSp.reduce((a, c) => a * c, 1);
  const outSize = geom.out.reduce((a, c) => a * c, 1);
  const kSize = geom.kernel.reduce((a, c) => a * c, 1);
  // per kernel offset: for each input position, its output flat index or -1
  const target = new Int32Array(inSize);
  const kIdx = new Array<number>(r);
  const iIdx = new Array<number>(r);
  for (let kf = 0; kf < kSize; kf++) {
    let rem = kf;
    for (let d = r - 1; d >= 0; d--) { kIdx[d] = rem % geom.kernel[d]; rem = Math.floor(rem / geom.kernel[d]); }
    for (let i = 0; i < inSize; i++) {
      let q = i;
      for (let d = r - 1; d >= 0; d--) { iIdx[d] = q % inSp[d]; q = Math.floor(q / inSp[d]); }
      let o = 0;
      for (let d = 0; d < r; d++) {
        const c = iIdx[d] * geom.strides[d] - geom.padsBegin[d] + kIdx[d] * geom.dilations[d];
        if (c < 0 || c >= geom.out[d]) { o = -1; break; }
        o = o * geom.out[d] + c;
      }
      target[i] = o;
    }
    for (let m = 0; m < Mg; m++) {
      const src = (m * kSize + kf) * inSize;
      const dst = outOff + m * outSize;
      for (let i = 0; i < inSize; i++) {
        const t = target[i];
        if (t >= 0) out[dst + t] += col[src + i];
      }
    }
  }
}

registerKernels({ ConvTranspose: convTranspose });
