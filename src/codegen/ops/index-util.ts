/** Helpers shared by the indexed data-movement lowerings (movement-index.ts, resize.ts, topk.ts, sources.ts). */
import type { DType } from '../../ir/dtype.js';
import type { Tensor } from '../../ir/tensor.js';
import { deviceType, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, grid1d, unsupported,
  type ArgRef, type LowerContext, type Lowered, type TensorDesc } from '../lowering.js';
import { bitsType as bitsOfWidth, floatStorageBits } from './common.js';

export function devType(d: DType, what: string): DeviceType {
  const t = deviceType(d);
  if (!t) unsupported(`${what} dtype ${d} has no device type`);
  return t;
}

/** the unsigned C type of an element's width (for byte copies) */
export function bitsType(t: DeviceType): string {
  return bitsOfWidth(t.bytes);
}

export function indexCType(d: DType | undefined, what: string): string {
  if (d === 'int32') return 'int';
  if (d === 'int64') return 'long long';
  return unsupported(`${what} dtype ${d ?? 'missing'} is not int32/int64`);
}

export function need(ctx: LowerContext, i: number, what: string): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) unsupported(`${what} (input ${i}) is missing`);
  return t;
}

export function normAxis(axis: number, rank: number, what = 'axis'): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) unsupported(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}

export const prod = (s: readonly number[], from = 0, to = s.length): number => {
  let p = 1;
  for (let i = from; i < to; i++) p *= s[i];
  return p;
};

/** a launch of `kernel` over n elements (grid-stride), or none */
export function launch1d(kernel: KernelSource, n: number, args: ArgRef[]): Lowered {
  if (n === 0) return { launches: [], variants: [kernel] };
  return { launches: [{ kernel, ...grid1d(n), args }] };
}

/** The bit pattern of element i of a host tensor, in its device layout (as an unsigned 64-bit value). */
export function hostBits(t: Tensor, i: number): bigint {
  const v = t.data[i];
  if (typeof v !== 'string') {
    const f = floatStorageBits(t.dtype, v);
    if (f !== undefined) return f;
  }
  if (t.dtype === 'bool') return Number(v) ? 1n : 0n;
  const dt = deviceType(t.dtype);
  if (!dt || typeof v === 'string') return unsupported(`value of dtype ${t.dtype} has no device layout`);
  const b = typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)));
  return BigInt.asUintN(dt.bytes * 8, b);
}

/** the bit pattern of the value 1 in dtype d */
export function oneBits(d: DType): bigint {
  switch (d) {
    case 'float32': return 0x3f800000n;
    case 'float64': return 0x3ff0000000000000n;
    case 'float16': return 0x3c00n;
    case 'bfloat16': return 0x3f80n;
    default: return 1n;
  }
}

/** a bit pattern as an i64 argument */
export const abits = (b: bigint) => a64(BigInt.asIntN(64, b));

/** A byte copy kernel out[i] = x[i] (elements of `t`'s width). */
export function copyKernel(t: DeviceType): KernelSource {
  const U = bitsType(t);
  const b = new KernelBuilder('copy');
  b.input('x', U);
  b.output('out', U);
  const n = b.i64('n');
  b.gridStride(n, () => b.line('out[i] = x[i];'));
  return b.build();
}

/** C array initializer of parameter names (at least one element) */
export const cArray = (names: readonly string[]): string => `{ ${names.length ? names.join(', ') : '0'} }`;

