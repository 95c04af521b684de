/** Value sources: Range, ConstantOfShape, EyeLike (fill kernels over raw element bits). */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import { dtypeFromCode } from '../../ir/dtype.js';
import type { DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, af64, elementCount, registerLowerings, unsupported,
  type ArgRef, type LowerContext, type Lowered } from '../lowering.js';
import { abits, bitsType, devType, hostBits, launch1d, need, oneBits } from './index-util.js';

// ---------------------------------------------------------------------------------------------------
// value sources: Range, ConstantOfShape, EyeLike

function lowerRange(ctx: LowerContext): Lowered {
  const [s, l, d] = [ctx.hostValue(0), ctx.hostValue(1), ctx.hostValue(2)];
  if (!s || !l || !d) unsupported('start, limit and delta must be known at plan time');
  if (s.size !== 1 || d.size !== 1 || l.size !== 1) unsupported('start, limit and delta must be scalars');
  const out = ctx.outputs[0];
  if (out.dtype === 'bool') unsupported('Range is not defined for bool');
  const t = devType(out.dtype, 'output');
  const b = new KernelBuilder('range');
  b.output('out', t.storage);
  const n = b.i64('n');
  let args: ArgRef[];
  if (t.kind === 'float') {
    b.f64('start');
    b.f64('delta');
    b.gridStride(n, () => {
      const v = '__dadd_rn(start, __dmul_rn((double)i, delta))';
      b.line(`out[i] = ${t.math === 'double' ? v : t.store(`(float)${v}`)};`);
    });
    args = [af64(s.getNumber(0)), af64(d.getNumber(0))];
  } else {
    b.i64('start');
    b.i64('delta');
    b.gridStride(n, () => b.line(`out[i] = (${t.storage})((unsigned long long)start + (unsigned long long)i * (unsigned long long)delta);`));
    const big = (v: Tensor): bigint => {
      const e = v.data[0];
      return typeof e === 'bigint' ? BigInt.asIntN(64, e) : BigInt(Math.trunc(Number(e)));
    };
    args = [abits(big(s)), abits(big(d))];
  }
  const kernel = b.build();
  const total = elementCount(out.shape);
  return launch1d(kernel, total, [{ out: 0 }, a64(total), ...args]);
}

function fillKernel(t: DeviceType): KernelSource {
  const U = bitsType(t);
  const b = new KernelBuilder('fill');
  b.output('out', U);
  const n = b.i64('n');
  b.i64('v');
  b.gridStride(n, () => b.line(`out[i] = (${U})v;`));
  return b.build();
}

function lowerConstantOfShape(ctx: LowerContext): Lowered {
  const out = ctx.outputs[0];
  const v = ctx.node.tensor('value');
  if (v && v.size !== 1) unsupported('value must hold one element');
  const t = devType(out.dtype, 'output');
  if (v && v.dtype !== out.dtype) unsupported(`value dtype ${v.dtype} differs from the output's ${out.dtype}`);
  const bits = v ? hostBits(v, 0) : 0n;
  const total = elementCount(out.shape);
  return launch1d(fillKernel(t), total, [{ out: 0 }, a64(total), abits(bits)]);
}

function lowerEyeLike(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'input');
  if (x.shape.length !== 2) unsupported(`input must have rank 2, got ${x.shape.length}`);
  let dtype: DType = x.dtype;
  if (ctx.node.has('dtype')) {
    const d = dtypeFromCode(ctx.node.int('dtype'));
    if (!d) unsupported(`unknown dtype code ${ctx.node.int('dtype')}`);
    dtype = d;
  }
  const t = devType(dtype, 'output');
  const U = bitsType(t);
  const b = new KernelBuilder('eyelike');
  b.output('out', U);
  const n = b.i64('n');
  b.i64('cols');
  b.i64('k');
  b.i64('one');
  b.gridStride(n, () => b.line(`out[i] = (i % cols) - (i / cols) == k ? (${U})one : (${U})0;`));
  const kernel = b.build();
  const total = elementCount(x.shape);
  return launch1d(kernel, total, [{ out: 0 }, a64(total), a64(x.shape[1]), a64(ctx.node.int('k', 0)), abits(oneBits(dtype))]);
}

registerLowerings({
  Range: { hostInputs: [0, 1, 2], lower: lowerRange },
  ConstantOfShape: { hostInputs: [0], lower: lowerConstantOfShape },
  EyeLike: { lower: lowerEyeLike },
});
