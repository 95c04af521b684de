/**
 * The expression table for elementwise ops: op → CUDA expression over its operands' math-type values
 * (dtypes.ts). Used by the fused elementwise kernels (elementwise.ts); one row per op, semantics matching
 * the reference interpreter (src/ref/kernels/elementwise*.ts, activations.ts, cast.ts, swiglu.ts):
 *
 * - integer results wrap like the C type (arithmetic is done in unsigned types, so no signed overflow);
 *   integer division truncates; x/0 and x%0 give 0; INT_MIN / -1 wraps to INT_MIN.
 * - float → integer (Cast, integer Pow with a float exponent, integer Shrink) truncates toward zero and wraps
 *   modulo 2^bits (like a JS typed-array store); NaN and ±Inf give 0.
 * - float16/bfloat16 values are carried in float; every row whose result may not be representable in the
 *   narrow type rounds it (round to nearest even, overflow → ±Inf, as the reference's rounding does), so a
 *   fused chain sees the same intermediate values as the node-by-node reference. Exact rows (Relu, Max,
 *   Where, ...) skip it. The rounding helpers never saturate, so the store's clamp leaves their results alone.
 * - Attributes are compile-time literals.
 */
import type { Node } from '../../ir/graph.js';
import type { DeviceType } from '../dtypes.js';
import { floatLiteral, literal } from '../dtypes.js';

export interface EwContext {
  node: Node;
  /** device types of the operands (undefined for an omitted optional input) */
  ins: readonly (DeviceType | undefined)[];
  out: DeviceType;
}

export interface EwRule {
  /** why this node cannot be generated (undefined = it can) */
  reject?(c: EwContext): string | undefined;
  /** the result, in the math type of c.out; a[i] is operand i in its own math type ('' when omitted) */
  expr(a: readonly string[], c: EwContext): string;
}

/** A table row: `exact` rows produce values representable in a narrow output type (no rounding needed). */
interface Row extends EwRule {
  exact?: boolean;
}

type Kind = DeviceType['kind'];
const isF = (t: DeviceType | undefined) => t?.kind === 'float';
const isInt = (t: DeviceType | undefined) => t?.kind === 'int' || t?.kind === 'uint';
const isNum = (t: DeviceType | undefined) => isF(t) || isInt(t);
const isNarrow = (t: DeviceType) => t.dtype === 'float16' || t.dtype === 'bfloat16';
const dbl = (c: EwContext) => c.out.math === 'double';
/** a float math function of the right width: f('exp', x) → expf(x) or exp(x) */
const fn = (c: EwContext, name: string, ...xs: string[]) => `${name}${dbl(c) ? '' : 'f'}(${xs.join(', ')})`;
const lit = (c: EwContext, v: number) => literal(c.out, v);
const dlit = (v: number) => floatLiteral(v, false);
const T = (c: EwContext) => c.out.math;
/** the unsigned type integer arithmetic of `t` wraps in */
const U = (t: DeviceType) => (t.bytes === 8 ? 'unsigned long long' : 'unsigned int');
/** a wrapping integer binary operation in the output type */
const wrap = (c: EwContext, op: string, xs: readonly string[]) => `((${T(c)})(${xs.map((x) => `(${U(c.out)})(${x})`).join(` ${op} `)}))`;
/** rounds a float/double expression to the narrow output type (identity for other types) */
const rnd = (c: EwContext, e: string) => (c.out.dtype === 'float16' ? `chm_rh(${e})` : c.out.dtype === 'bfloat16' ? `chm_rb(${e})` : e);

// ---- operand checks, mirroring the reference's input validation ----
function need(c: EwContext, ok: (t: DeviceType | undefined) => boolean, what: string, idx?: readonly number[]): string | undefined {
  const ids = idx ?? c.ins.map((_, i) => i);
  for (const i of ids) {
    const t = c.ins[i];
    if (t !== undefined && !ok(t)) return `${c.node.op}: input ${i} must be ${what}, got ${t.dtype}`;
  }
  return undefined;
}
function sameTypes(c: EwContext, idx?: readonly number[]): string | undefined {
  const ids = idx ?? c.ins.map((_, i) => i);
  const ts = ids.map((i) => c.ins[i]).filter((t): t is DeviceType => t !== undefined);
  for (const t of ts) if (t.dtype !== ts[0].dtype) return `${c.node.op}: inputs must have one type, got ${ts[0].dtype} and ${t.dtype}`;
  return undefined;
}
const all = (...checks: ((c: EwContext) => string | undefined)[]) => (c: EwContext) => {
  for (const k of checks) {
    const r = k(c);
    if (r) return r;
  }
  return undefined;
};
const floatIn = (c: EwContext) => need(c, isF, 'a float tensor', [0]);
const numericIn = (c: EwContext) => need(c, isNum, 'numeric', [0]);
const numericSame = all((c) => need(c, isNum, 'numeric'), (c) => sameTypes(c));
const kindsIn = (kinds: readonly Kind[], what: string) => (c: EwContext) => need(c, (t) => t !== undefined && kinds.includes(t.kind), what);

/** A float unary function of the right width (float-only, like the reference's floatUnary). */
const unaryF = (name: string, exact = false): Row => ({ reject: floatIn, exact, expr: (a, c) => fn(c, name, a[0]) });
/** A float activation: `body(x, c)` with x the operand. */
const act = (body: (x: string, c: EwContext) => string, exact = false): Row => ({ reject: floatIn, exact, expr: (a, c) => body(a[0], c) });
/** `fname` is an overloaded float/double helper from EW_HELPERS */
const helperAct = (fname: string): Row => act((x) => `${fname}(${x})`);

// ---- arithmetic ----
function arith(op: '+' | '-' | '*'): Row {
  return { reject: numericSame, expr: (a, c) => (isF(c.out) ? `(${a[0]} ${op} ${a[1]})` : wrap(c, op, a)) };
}

/** Pow: the output has the base's type; the exponent may be of any numeric type. */
function powExpr(a: readonly string[], c: EwContext): string {
  const [x, y] = a;
  const tx = c.ins[0]!, ty = c.ins[1]!;
  if (isF(tx)) {
    // float base: C pow (pow(1, y) = 1, pow(-1, ±Inf) = 1, as the reference's cpow)
    if (dbl(c)) return `pow(${x}, (double)(${y}))`;
    if (ty.math === 'float' || (isInt(ty) && ty.bytes <= 2)) return `powf(${x}, (float)(${y}))`;
    return `((float)pow((double)(${x}), (double)(${y})))`; // exponent wider than float: evaluate in double
  }
  if (isF(ty)) return `chm_d2i<${T(c)}>(chm_pow_int_base((double)(${x}), (double)(${y})))`; // int base, float exponent: truncate
  // integer base and exponent: exact power modulo 2^64; negative exponents give 1/x^k truncated (0 unless x = ±1)
  const xs = `((unsigned long long)(${tx.kind === 'int' ? '(long long)' : ''}(${x})))`;
  const pos = `chm_ipow(${xs}, (unsigned long long)(${ty.kind === 'int' ? '(long long)' : ''}(${y})))`;
  if (ty.kind !== 'int') return `((${T(c)})${pos})`;
  const minus1 = tx.kind === 'int' ? `(${x}) == -1 ? (((${y}) & 1) ? -1 : 1) : ` : '';
  return `((${T(c)})((${y}) < 0 ? (unsigned long long)(long long)((${x}) == 1 ? 1 : ${minus1}0) : ${pos}))`;
}

/** Mod: fmod=1 is C fmod / truncated remainder; fmod=0 gives the remainder the divisor's sign (Python). */
function modExpr(a: readonly string[], c: EwContext): string {
  const f = c.node.int('fmod', 0) !== 0;
  if (isF(c.out)) return f ? fn(c, 'fmod', a[0], a[1]) : `chm_pymod(${a[0]}, ${a[1]})`;
  return `${f ? 'chm_imod' : 'chm_ipymod'}<${T(c)}>(${a[0]}, ${a[1]})`;
}

function bitShiftExpr(a: readonly string[], c: EwContext): string {
  const left = c.node.string('direction', '') === 'LEFT';
  const bits = c.out.bytes === 8 ? 64 : 32;
  const x = `(${U(c.out)})(${a[0]})`;
  return `((${T(c)})((${a[1]}) >= ${bits} ? (${U(c.out)})0 : ${left ? `${x} << (${a[1]})` : `${x} >> (${a[1]})`}))`;
}

function variadic(pair: string, c: EwContext, a: readonly string[]): string {
  return a.slice(1).reduce((acc, x) => `${pair}<${T(c)}>(${acc}, ${x})`, a[0]);
}

function sumExpr(a: readonly string[], c: EwContext): string {
  if (a.length === 1) return a[0];
  if (!isF(c.out)) return wrap(c, '+', a);
  // narrow floats: the reference sums in double and rounds once
  if (isNarrow(c.out)) return `(${a.map((x) => `(double)(${x})`).join(' + ')})`;
  return `(${a.join(' + ')})`;
}

function meanExpr(a: readonly string[], c: EwContext): string {
  // the reference sums every float type in double, divides, and rounds once
  const e = `((${a.map((x) => `(double)(${x})`).join(' + ')}) / ${dlit(a.length)})`;
  return c.out.dtype === 'float32' ? `((float)${e})` : e;
}

// ---- conversions ----
/**
 * Marks a Cast the engine's precision transform inserted (src/engine/precision.ts): float → fp16/bf16
 * conversions of the computation's storage saturate at the finite range instead of overflowing to Inf.
 * Casts written in the model keep ONNX semantics (overflow to Inf).
 */
export const SATURATING_CAST = 'chimera: saturating storage cast';

/** float → fp16/bf16 with saturation (the prelude's storing conversions clamp finite values) */
function saturating(x: string, to: DeviceType): string {
  return to.dtype === 'float16' ? `chm_h2f(chm_f2h((float)(${x})))` : `chm_b2f(chm_f2b((float)(${x})))`;
}

/** Conversion from `from`'s math type to `to`'s, as the reference Cast does it. */
function convert(x: string, from: DeviceType, to: DeviceType): string {
  if (from.dtype === to.dtype) return x;
  if (to.kind === 'bool') return `((${x}) != 0)`;
  if (to.kind === 'float') {
    if (to.math === 'double') return `((double)(${x}))`;
    // int64/uint64 go through double first (the reference converts bigints to numbers); double → narrow
    // rounds once, directly
    const viaDouble = from.math === 'double' || from.bytes === 8 || (isInt(from) && from.bytes === 4 && isNarrow(to));
    const v = viaDouble ? `(double)(${x})` : `(float)(${x})`;
    if (to.dtype === 'float16') return `chm_rh(${v})`;
    if (to.dtype === 'bfloat16') return `chm_rb(${v})`;
    return `((float)${v})`;
  }
  if (isF(from)) return `chm_d2i<${to.math}>((double)(${x}))`;
  return `((${to.math})(${x}))`;
}

const STORAGE_UINT: Record<number, string> = { 1: 'unsigned char', 2: 'unsigned short', 4: 'unsigned int', 8: 'unsigned long long' };

/** the stored bit pattern of a math-type value, as an unsigned integer of the element's width */
function toBits(x: string, t: DeviceType): string {
  switch (t.dtype) {
    case 'float32': return `__float_as_uint(${x})`;
    case 'float64': return `((unsigned long long)__double_as_longlong(${x}))`;
    case 'float16': return `chm_f2h(${x})`;
    case 'bfloat16': return `chm_f2b(${x})`;
    default: return `((${STORAGE_UINT[t.bytes]})(${x}))`;
  }
}
function fromBits(u: string, t: DeviceType): string {
  switch (t.dtype) {
    case 'float32': return `__uint_as_float(${u})`;
    case 'float64': return `__longlong_as_double((long long)(${u}))`;
    case 'float16': return `chm_h2f((unsigned short)(${u}))`;
    case 'bfloat16': return `chm_b2f((unsigned short)(${u}))`;
    case 'bool': return `((${u}) != 0)`;
    default: return `((${t.math})(${u}))`;
  }
}

function geluExpr(x: string, c: EwContext): string {
  return c.node.string('approximate', 'none') === 'tanh' ? `chm_gelu_tanh(${x})` : `chm_gelu_erf(${x})`;
}

function shrinkExpr(a: readonly string[], c: EwContext): string {
  const lambd = c.node.float('lambd', 0.5);
  const bias = c.node.float('bias', 0);
  if (isF(c.out)) return `chm_shrink<${T(c)}>(${a[0]}, ${lit(c, lambd)}, ${lit(c, bias)})`;
  // integers: computed in double, truncated and wrapped
  return `chm_d2i<${T(c)}>(chm_shrink<double>((double)(${a[0]}), ${dlit(lambd)}, ${dlit(bias)}))`;
}

function clipExpr(a: readonly string[], c: EwContext): string {
  let e = a[0];
  if (a[1]) e = `chm_clip_lo<${T(c)}>(${e}, ${a[1]})`;
  if (a[2]) e = `chm_clip_hi<${T(c)}>(${e}, ${a[2]})`;
  return e;
}

function swigluExpr(a: readonly string[], c: EwContext): string {
  // like the reference: sigmoid, x * sigmoid and the product with B each rounded to the dtype
  const alpha = c.node.float('alpha', 1);
  const one = lit(c, 1);
  const sig = rnd(c, `(${one} / (${one} + ${fn(c, 'exp', `${lit(c, -alpha)} * ${a[0]}`)}))`);
  return `(${rnd(c, `(${a[0]} * ${sig})`)} * ${a[1]})`;
}

const ROWS: Record<string, Row> = {
  // ---- arithmetic ----
  Add: arith('+'),
  Sub: arith('-'),
  Mul: arith('*'),
  Div: { reject: numericSame, expr: (a, c) => (isF(c.out) ? `(${a[0]} / ${a[1]})` : `chm_idiv<${T(c)}>(${a[0]}, ${a[1]})`) },
  Mod: { reject: numericSame, expr: modExpr },
  Pow: { reject: (c) => need(c, isNum, 'numeric'), expr: powExpr },
  Neg: {
    reject: numericIn, exact: true,
    expr: (a, c) => (isF(c.out) ? `(-${a[0]})` : `((${T(c)})((${U(c.out)})0 - (${U(c.out)})(${a[0]})))`),
  },
  Abs: {
    reject: numericIn, exact: true,
    expr: (a, c) => {
      if (isF(c.out)) return fn(c, 'fabs', a[0]);
      if (c.out.kind === 'uint') return a[0];
      return `((${T(c)})((${a[0]}) < 0 ? (${U(c.out)})0 - (${U(c.out)})(${a[0]}) : (${U(c.out)})(${a[0]})))`;
    },
  },
  Sign: { reject: numericIn, exact: true, expr: (a, c) => `chm_sign<${T(c)}>(${a[0]})` },
  Reciprocal: { reject: floatIn, expr: (a, c) => `(${lit(c, 1)} / ${a[0]})` },
  Sqrt: unaryF('sqrt'),
  Exp: unaryF('exp'),
  Log: unaryF('log'),
  Floor: unaryF('floor', true),
  Ceil: unaryF('ceil', true),
  Round: unaryF('rint', true), // half to even in the default rounding mode
  Erf: {
    reject: numericIn,
    // integer Erf: erf of an integer rounds to its sign
    expr: (a, c) => (isF(c.out) ? fn(c, 'erf', a[0]) : `chm_sign<${T(c)}>(${a[0]})`),
  },
  Sin: unaryF('sin'), Cos: unaryF('cos'), Tan: unaryF('tan'),
  Asin: unaryF('asin'), Acos: unaryF('acos'), Atan: unaryF('atan'),
  Sinh: unaryF('sinh'), Cosh: unaryF('cosh'), Tanh: unaryF('tanh'),
  Asinh: unaryF('asinh'), Acosh: unaryF('acosh'), Atanh: unaryF('atanh'),
  Max: { reject: numericSame, exact: true, expr: (a, c) => variadic('chm_vmax', c, a) },
  Min: { reject: numericSame, exact: true, expr: (a, c) => variadic('chm_vmin', c, a) },
  Sum: { reject: numericSame, expr: sumExpr },
  Mean: { reject: all((c) => need(c, isF, 'float'), (c) => sameTypes(c)), expr: meanExpr },
  // ---- comparisons and logic (bool results) ----
  Equal: { reject: (c) => sameTypes(c), expr: (a) => `(${a[0]} == ${a[1]})` },
  Less: { reject: (c) => sameTypes(c), expr: (a) => `(${a[0]} < ${a[1]})` },
  LessOrEqual: { reject: (c) => sameTypes(c), expr: (a) => `(${a[0]} <= ${a[1]})` },
  Greater: { reject: (c) => sameTypes(c), expr: (a) => `(${a[0]} > ${a[1]})` },
  GreaterOrEqual: { reject: (c) => sameTypes(c), expr: (a) => `(${a[0]} >= ${a[1]})` },
  And: { reject: kindsIn(['bool'], 'bool'), expr: (a) => `(${a[0]} & ${a[1]})` },
  Or: { reject: kindsIn(['bool'], 'bool'), expr: (a) => `(${a[0]} | ${a[1]})` },
  Xor: { reject: kindsIn(['bool'], 'bool'), expr: (a) => `(${a[0]} ^ ${a[1]})` },
  Not: { reject: kindsIn(['bool'], 'bool'), expr: (a) => `(!${a[0]})` },
  IsNaN: { reject: floatIn, expr: (a) => `isnan(${a[0]})` },
  IsInf: {
    reject: floatIn,
    expr: (a, c) => {
      const pos = c.node.int('detect_positive', 1) !== 0;
      const neg = c.node.int('detect_negative', 1) !== 0;
      if (!pos && !neg) return '0';
      return `chm_isinf(${a[0]}, ${pos}, ${neg})`;
    },
  },
  // ---- bitwise (integers) ----
  BitwiseAnd: { reject: all(kindsIn(['int', 'uint'], 'an integer tensor'), (c) => sameTypes(c)), expr: (a, c) => wrap(c, '&', a) },
  BitwiseOr: { reject: all(kindsIn(['int', 'uint'], 'an integer tensor'), (c) => sameTypes(c)), expr: (a, c) => wrap(c, '|', a) },
  BitwiseXor: { reject: all(kindsIn(['int', 'uint'], 'an integer tensor'), (c) => sameTypes(c)), expr: (a, c) => wrap(c, '^', a) },
  BitwiseNot: { reject: kindsIn(['int', 'uint'], 'an integer tensor'), expr: (a, c) => `((${T(c)})(~(${U(c.out)})(${a[0]})))` },
  BitShift: {
    reject: all(kindsIn(['uint'], 'an unsigned integer tensor'), (c) => sameTypes(c), (c) => {
      const d = c.node.has('direction') ? c.node.string('direction') : '';
      return d === 'LEFT' || d === 'RIGHT' ? undefined : `BitShift direction must be LEFT or RIGHT, got '${d}'`;
    }),
    expr: bitShiftExpr,
  },
  // ---- selection ----
  Where: {
    reject: (c) => (c.ins[0]?.kind !== 'bool' ? `Where: condition must be bool, got ${c.ins[0]?.dtype}` : sameTypes(c, [1, 2])),
    exact: true,
    expr: (a) => `(${a[0]} ? ${a[1]} : ${a[2]})`,
  },
  // ---- activations ----
  Relu: { reject: numericIn, exact: true, expr: (a, c) => `chm_relu<${T(c)}>(${a[0]})` },
  LeakyRelu: act((x, c) => `(${x} < 0 ? ${lit(c, c.node.float('alpha', 0.01))} * ${x} : ${x})`),
  Elu: act((x, c) => `(${x} < 0 ? ${lit(c, c.node.float('alpha', 1))} * ${fn(c, 'expm1', x)} : ${x})`),
  Selu: act((x, c) => {
    const alpha = c.node.float('alpha', 1.67326319217681884765625);
    const gamma = c.node.float('gamma', 1.05070102214813232421875);
    return `(${x} > 0 ? ${lit(c, gamma)} * ${x} : ${lit(c, gamma * alpha)} * ${fn(c, 'expm1', x)})`;
  }),
  Celu: act((x, c) => {
    const alpha = c.node.float('alpha', 1);
    return `(${x} > 0 ? ${x} : ${lit(c, alpha)} * ${fn(c, 'expm1', `${x} / ${lit(c, alpha)}`)})`;
  }),
  Sigmoid: helperAct('chm_sigmoid'),
  HardSigmoid: act((x, c) => `chm_clamp01<${T(c)}>(${lit(c, c.node.float('alpha', 0.2))} * ${x} + ${lit(c, c.node.float('beta', 0.5))})`),
  HardSwish: act((x, c) => `(${x} * chm_clamp01<${T(c)}>(${x} / ${lit(c, 6)} + ${lit(c, 0.5)}))`),
  Softplus: helperAct('chm_softplus'),
  Softsign: act((x, c) => `(${x} / (${lit(c, 1)} + ${fn(c, 'fabs', x)}))`),
  Gelu: {
    reject: all(floatIn, (c) => {
      const m = c.node.string('approximate', 'none');
      return m === 'none' || m === 'tanh' ? undefined : `Gelu approximate must be 'none' or 'tanh', got '${m}'`;
    }),
    expr: (a, c) => geluExpr(a[0], c),
  },
  Mish: helperAct('chm_mish'),
  Swish: act((x, c) => `(${x} * chm_sigmoid(${lit(c, c.node.float('alpha', 1))} * ${x}))`),
  ThresholdedRelu: act((x, c) => `(${x} > ${lit(c, c.node.float('alpha', 1))} ? ${x} : ${lit(c, 0)})`, true),
  Shrink: { reject: numericIn, expr: shrinkExpr },
  PRelu: {
    reject: numericSame,
    expr: (a, c) => {
      if (isF(c.out)) return `(${a[0]} < 0 ? ${a[0]} * ${a[1]} : ${a[0]})`;
      if (c.out.kind === 'uint') return a[0];
      return `(${a[0]} < 0 ? ${wrap(c, '*', a)} : ${a[0]})`;
    },
  },
  Clip: {
    reject: all(numericIn, (c) => sameTypes(c)),
    exact: true,
    expr: clipExpr,
  },
  SwiGLU: { reject: all((c) => need(c, isF, 'float'), (c) => sameTypes(c)), expr: swigluExpr },
  // ---- type conversion ----
  Cast: { exact: true, expr: (a, c) => (c.node.doc === SATURATING_CAST && isNarrow(c.out) && isF(c.ins[0]) ? saturating(a[0], c.out) : convert(a[0], c.ins[0]!, c.out)) },
  CastLike: { exact: true, expr: (a, c) => convert(a[0], c.ins[0]!, c.out) },
  BitCast: {
    reject: (c) => (c.ins[0]!.bytes !== c.out.bytes ? `BitCast between ${c.ins[0]!.dtype} and ${c.out.dtype} changes the width` : undefined),
    exact: true,
    expr: (a, c) => (c.ins[0]!.dtype === c.out.dtype ? a[0] : fromBits(toBits(a[0], c.ins[0]!), c.out)),
  },
};

/** The table: each row's result rounded to a narrow float output type unless the row is exact. */
export const EW_TABLE: Record<string, EwRule> = Object.fromEntries(
  Object.entries(ROWS).map(([op, row]): [string, EwRule] => [op, {
    reject: row.reject,
    expr: row.exact ? row.expr : (a, c) => rnd(c, row.expr(a, c)),
  }]),
);

/** Helpers the table's expressions use, compiled into every elementwise kernel. */
export const EW_HELPERS = `
// narrow-float rounding of a float/double value: nearest even, overflow -> +-Inf (no saturation)
__device__ __forceinline__ float chm_rh(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return chm_h2f(h); }
__device__ __forceinline__ float chm_rh(double d) { unsigned short h; asm("cvt.rn.f16.f64 %0, %1;" : "=h"(h) : "d"(d)); return chm_h2f(h); }
__device__ __forceinline__ float chm_rb(float f) { unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return chm_b2f(h); }
__device__ __forceinline__ float chm_rb(double d) { unsigned short h; asm("cvt.rn.bf16.f64 %0, %1;" : "=h"(h) : "d"(d)); return chm_b2f(h); }
// float -> integer: truncate, wrap modulo 2^bits; NaN and +-Inf give 0
template <typename T> __device__ __forceinline__ T chm_d2i(double x) {
  if (!isfinite(x)) return (T)0;
  x = trunc(x);
  if (!(fabs(x) < 9223372036854775808.0)) {
    x = fmod(x, 18446744073709551616.0);
    if (x >= 9223372036854775808.0) x -= 18446744073709551616.0;
    else if (x < -9223372036854775808.0) x += 18446744073709551616.0;
  }
  return (T)(unsigned long long)(long long)x;
}
template <typename T> __device__ __forceinline__ T chm_f2i(double x) { return chm_d2i<T>(x); }
// integer division / remainder: x/0 and x%0 give 0; INT_MIN / -1 wraps
template <typename T> __device__ __forceinline__ T chm_idiv(T a, T b) {
  if (b == (T)0) return (T)0;
  if ((T)-1 < (T)0 && b == (T)-1) return (T)(0ULL - (unsigned long long)(long long)a);
  return (T)(a / b);
}
template <typename T> __device__ __forceinline__ T chm_imod(T a, T b) {
  if (b == (T)0 || ((T)-1 < (T)0 && b == (T)-1)) return (T)0;
  return (T)(a % b);
}
template <typename T> __device__ __forceinline__ T chm_ipymod(T a, T b) {
  if (b == (T)0 || ((T)-1 < (T)0 && b == (T)-1)) return (T)0;
  T r = (T)(a % b);
  if ((T)-1 < (T)0 && r != (T)0 && ((r < (T)0) != (b < (T)0))) r = (T)(r + b);
  return r;
}
__device__ __forceinline__ float chm_pymod(float a, float b) { float r = fmodf(a, b); if (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) r += b; return r; }
__device__ __forceinline__ double chm_pymod(double a, double b) { double r = fmod(a, b); if (r != 0.0 && ((r < 0.0) != (b < 0.0))) r += b; return r; }
// pow for an integer base: CUDA's pow may miss an exact integer result by an ulp (pow(3, 1) = 2.9999999999999996),
// which truncation would turn into the integer below; results within 2 ulps (its error bound) of an integer snap to it
__device__ __forceinline__ double chm_pow_int_base(double x, double y) {
  double p = pow(x, y), r = rint(p);
  return fabs(p - r) <= fabs(r) * 4.5e-16 ? r : p;
}
// x^y modulo 2^64 for y >= 0
__device__ __forceinline__ unsigned long long chm_ipow(unsigned long long x, unsigned long long y) {
  unsigned long long r = 1ULL;
  while (y) { if (y & 1ULL) r *= x; x *= x; y >>= 1; }
  return r;
}
// NaN-propagating max/min (the first NaN wins; ties keep the second operand, like the reference)
template <typename T> __device__ __forceinline__ T chm_vmax(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T chm_vmin(T a, T b) { return (a < b || a != a) ? a : b; }
__device__ __forceinline__ float chm_fmax_nan(float a, float b) { return (isnan(a) || isnan(b)) ? CHM_NAN : fmaxf(a, b); }
__device__ __forceinline__ double chm_fmax_nan(double a, double b) { return (isnan(a) || isnan(b)) ? (double)CHM_NAN : fmax(a, b); }
__device__ __forceinline__ float chm_fmin_nan(float a, float b) { return (isnan(a) || isnan(b)) ? CHM_NAN : fminf(a, b); }
__device__ __forceinline__ double chm_fmin_nan(double a, double b) { return (isnan(a) || isnan(b)) ? (double)CHM_NAN : fmin(a, b); }
template <typename T> __device__ __forceinline__ T chm_sign(T x) { return x > (T)0 ? (T)1 : x < (T)0 ? (T)-1 : x == (T)0 ? (T)0 : x; }
template <typename T> __device__ __forceinline__ T chm_relu(T x) { return x < (T)0 ? (T)0 : x; }
template <typename T> __device__ __forceinline__ T chm_clip_lo(T x, T lo) { return x < lo ? lo : x; }
template <typename T> __device__ __forceinline__ T chm_clip_hi(T x, T hi) { return x > hi ? hi : x; }
template <typename T> __device__ __forceinline__ T chm_clamp01(T x) { return x != x ? x : x < (T)0 ? (T)0 : x > (T)1 ? (T)1 : x; }
template <typename T> __device__ __forceinline__ T chm_shrink(T x, T l, T b) { return x < -l ? x + b : x > l ? x - b : (T)0; }
__device__ __forceinline__ bool chm_isinf(float x, bool p, bool n) { return (p && x == CHM_INF) || (n && x == -CHM_INF); }
__device__ __forceinline__ bool chm_isinf(double x, bool p, bool n) { return (p && x == (double)CHM_INF) || (n && x == -(double)CHM_INF); }
__device__ __forceinline__ float chm_sigmoid(float x) { if (x >= 0.0f) return 1.0f / (1.0f + expf(-x)); float e = expf(x); return e / (1.0f + e); }
__device__ __forceinline__ double chm_sigmoid(double x) { if (x >= 0.0) return 1.0 / (1.0 + exp(-x)); double e = exp(x); return e / (1.0 + e); }
__device__ __forceinline__ float chm_softplus(float x) { return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
__device__ __forceinline__ double chm_softplus(double x) { return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
__device__ __forceinline__ float chm_mish(float x) { return x * tanhf(chm_softplus(x)); }
__device__ __forceinline__ double chm_mish(double x) { return x * tanh(chm_softplus(x)); }
__device__ __forceinline__ float chm_gelu_erf(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
__device__ __forceinline__ double chm_gelu_erf(double x) { return 0.5 * x * (1.0 + erf(x * 0.70710678118654752)); }
__device__ __forceinline__ float chm_gelu_tanh(float x) { return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x))); }
__device__ __forceinline__ double chm_gelu_tanh(double x) { return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x))); }
`;
