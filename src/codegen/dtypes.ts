/**
 * Per-dtype tables for generated CUDA: how each element type is stored in device memory, the type
 * arithmetic happens in, and the expressions that convert between the two.
 *
 * Rules: float16/bfloat16 are stored as 16-bit patterns and computed in float32 (conversions in the
 * prelude, round-to-nearest-even, saturating at the type's finite range); float32/float64 and the integer
 * types compute in their own type; bool is one byte 0/1 and computes as int. The device layout of every
 * type equals the ONNX raw_data layout, so host tensors are uploaded and downloaded as bytes.
 */
import type { DType } from '../ir/dtype.js';

export interface DeviceType {
  dtype: DType;
  /** C type of one stored element */
  storage: string;
  /** C type arithmetic is done in */
  math: string;
  /** bytes per element */
  bytes: number;
  kind: 'float' | 'int' | 'uint' | 'bool';
  /** expression converting a stored value (C expression `e`) to the math type */
  load(e: string): string;
  /** expression converting a math-type value to storage */
  store(e: string): string;
}

const same = (dtype: DType, c: string, bytes: number, kind: DeviceType['kind']): DeviceType => ({
  dtype, storage: c, math: c, bytes, kind, load: (e) => e, store: (e) => e,
});

const TABLE: Partial<Record<DType, DeviceType>> = {
  float32: same('float32', 'float', 4, 'float'),
  float64: same('float64', 'double', 8, 'float'),
  float16: { dtype: 'float16', storage: 'unsigned short', math: 'float', bytes: 2, kind: 'float', load: (e) => `chm_h2f(${e})`, store: (e) => `chm_f2h(${e})` },
  bfloat16: { dtype: 'bfloat16', storage: 'unsigned short', math: 'float', bytes: 2, kind: 'float', load: (e) => `chm_b2f(${e})`, store: (e) => `chm_f2b(${e})` },
  int8: same('int8', 'signed char', 1, 'int'),
  uint8: same('uint8', 'unsigned char', 1, 'uint'),
  int16: same('int16', 'short', 2, 'int'),
  uint16: same('uint16', 'unsigned short', 2, 'uint'),
  int32: same('int32', 'int', 4, 'int'),
  uint32: same('uint32', 'unsigned int', 4, 'uint'),
  int64: same('int64', 'long long', 8, 'int'),
  uint64: same('uint64', 'unsigned long long', 8, 'uint'),
  bool: { dtype: 'bool', storage: 'unsigned char', math: 'int', bytes: 1, kind: 'bool', load: (e) => `(int)(${e})`, store: (e) => `(unsigned char)((${e}) != 0)` },
};

/** The device type of `dtype`, or undefined when generated kernels do not handle it (strings, complex, fp8, 4-bit). */
export function deviceType(dtype: DType): DeviceType | undefined {
  return TABLE[dtype];
}

export function hasDeviceType(dtype: DType): boolean {
  return TABLE[dtype] !== undefined;
}

/** The device type, throwing for unsupported ones (callers check hasDeviceType first). */
export function dt(dtype: DType): DeviceType {
  const t = TABLE[dtype];
  if (!t) throw new Error(`codegen: no device type for ${dtype}`);
  return t;
}

/** A C literal of `v` in the math type of `t` (finite, ±Inf, NaN handled). */
export function literal(t: DeviceType, v: number | bigint): string {
  if (t.kind === 'float') {
    const n = Number(v);
    if (Number.isNaN(n)) return t.math === 'double' ? '__longlong_as_double(0x7ff8000000000000ULL)' : '__int_as_float(0x7fc00000)';
    if (n === Infinity) return t.math === 'double' ? '__longlong_as_double(0x7ff0000000000000ULL)' : '__int_as_float(0x7f800000)';
    if (n === -Infinity) return t.math === 'double' ? '__longlong_as_double(0xfff0000000000000ULL)' : '__int_as_float(0xff800000)';
    if (t.math === 'double') return floatLiteral(n, false);
    return floatLiteral(Math.fround(n), true);
  }
  if (t.math === 'unsigned long long') return `${BigInt.asUintN(64, BigInt(v))}ULL`;
  if (t.math === 'long long') {
    const b = BigInt(v);
    return b === -(2n ** 63n) ? '(-9223372036854775807LL - 1)' : `${b}LL`;
  }
  if (t.kind === 'uint') return `${BigInt(v)}u`;
  const n = Number(v);
  return n === -(2 ** 31) ? '(-2147483647 - 1)' : String(n);
}

/** A float literal that round-trips exactly (17 significant digits; "f" suffix for float). */
export function floatLiteral(n: number, single: boolean): string {
  if (Object.is(n, -0)) return single ? '-0.0f' : '-0.0';
  let s = Number.isInteger(n) && Math.abs(n) < 1e15 ? n.toFixed(1) : n.toPrecision(17);
  if (!/[.e]/.test(s)) s += '.0';
  return single ? `${s}f` : s;
}
