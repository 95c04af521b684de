/**
 * The elementwise expression table (src/codegen/ops/ew-table.ts): every op × every dtype the reference
 * supports lowers as a single-node group (launches well-formed, kernel text independent of dims), the
 * reference's dtype refusals are refused, a long fused chain lowers, and every kernel compiles with nvcc.
 */
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { checkLaunch, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { elementwiseReject, lowerElementwiseGroup, type ElementwiseGroup } from '../../src/codegen/ops/elementwise.js';
import { EW_TABLE } from '../../src/codegen/ops/ew-table.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const FLOATS: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
const SINTS: DType[] = ['int8', 'int16', 'int32', 'int64'];
const UINTS: DType[] = ['uint8', 'uint16', 'uint32', 'uint64'];
const INTS: DType[] = [...SINTS, ...UINTS];
const NUMERIC: DType[] = [...FLOATS, ...INTS];
const ALL: DType[] = [...NUMERIC, 'bool'];

const f = (value: number): AttrValue => ({ type: 'float', value });
const i = (value: number): AttrValue => ({ type: 'int', value: BigInt(value) });
const s = (value: string): AttrValue => ({ type: 'string', value });

/** every kernel produced by the tests, compiled at the end */
const KERNELS: KernelSource[] = [];

interface Case {
  op: string;
  ins: (DType | undefined)[];
  out: DType;
  attrs?: Record<string, AttrValue>;
}

/** input shapes for an output of `shape`: operand 0 full, others broadcast from trailing dims (scalars for Clip) */
function shapesFor(c: Case, shape: number[], variant: 'bcast' | 'same' | 'scalar'): number[][] {
  return c.ins.map((_, k) => {
    if (c.op === 'Clip' && k > 0) return [];
    if (c.op === 'SwiGLU' || variant === 'same' || k === 0) return shape;
    if (variant === 'scalar') return [1];
    return shape.slice(1).map((d, j) => (j === shape.length - 2 ? 1 : d)); // e.g. [3,1] for [2,3,4]
  });
}

function lowerCase(c: Case, outShape: number[], variant: 'bcast' | 'same' | 'scalar') {
  const inNames = c.ins.map((d, k) => (d ? `x${k}` : ''));
  const node = new Node({ op: c.op, inputs: inNames, outputs: ['y'], attrs: c.attrs ?? {} });
  const shapes = shapesFor(c, outShape, variant);
  const types = new Map<string, TensorDesc>();
  c.ins.forEach((d, k) => { if (d) types.set(`x${k}`, { dtype: d, shape: shapes[k] }); });
  types.set('y', { dtype: c.out, shape: outShape });
  const g: ElementwiseGroup = { nodes: [node], inputs: inNames.filter((n) => n), outputs: ['y'] };
  return { node, g, types, lowered: lowerElementwiseGroup(g, types) };
}

const names = (l: { launches: { kernel: KernelSource }[]; variants: KernelSource[] }) =>
  [...new Set([...l.launches.map((x) => x.kernel.name), ...l.variants.map((k) => k.name)])].sort();

function check(c: Case): void {
  const label = `${c.op}(${c.ins.map((d) => d ?? '-').join(',')})->${c.out} ${JSON.stringify(c.attrs ?? {}, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}`;
  const node = new Node({ op: c.op, inputs: c.ins.map((d, k) => (d ? `x${k}` : '')), outputs: ['y'], attrs: c.attrs ?? {} });
  expect(elementwiseReject(node, c.ins, c.out), label).toBeUndefined();
  const a = lowerCase(c, [2, 3, 4], 'bcast');
  const b = lowerCase(c, [5, 7, 6], 'bcast');
  const same = lowerCase(c, [4, 8, 2], 'same');
  const odd = lowerCase(c, [3, 5, 7], 'scalar');
  const nIn = a.g.inputs.length;
  for (const l of [a, b, same, odd]) {
    expect(l.lowered.launches.length, label).toBe(1);
    for (const x of l.lowered.launches) expect(checkLaunch(x, { inputs: nIn, outputs: 1, scratch: 0 }), label).toEqual([]);
  }
  expect(names(a.lowered), label).toEqual(names(b.lowered));
  expect(names(a.lowered), label).toEqual(names(same.lowered));
  expect(lowerCase(c, [2, 0, 4], 'bcast').lowered.launches, label).toEqual([]);
  for (const l of [a, same]) KERNELS.push(...l.lowered.launches.map((x) => x.kernel), ...l.lowered.variants);
}

function rejected(c: Case): string | undefined {
  const node = new Node({ op: c.op, inputs: c.ins.map((d, k) => (d ? `x${k}` : '')), outputs: ['y'], attrs: c.attrs ?? {} });
  return elementwiseReject(node, c.ins, c.out);
}

const unary = (op: string, ds: DType[], attrs?: Record<string, AttrValue>, out?: (d: DType) => DType): Case[] =>
  ds.map((d) => ({ op, ins: [d], out: out ? out(d) : d, attrs }));
const binary = (op: string, ds: DType[], attrs?: Record<string, AttrValue>, out?: (d: DType) => DType): Case[] =>
  ds.map((d) => ({ op, ins: [d, d], out: out ? out(d) : d, attrs }));

const FLOAT_UNARY = ['Exp', 'Log', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan',
  'Sinh', 'Cosh', 'Tanh', 'Asinh', 'Acosh', 'Atanh', 'Sigmoid', 'Softplus', 'Softsign', 'Mish'];

const CASES: Record<string, Case[]> = {
  'float unary math': FLOAT_UNARY.flatMap((op) => unary(op, FLOATS)),
  'numeric unary': ['Abs', 'Neg', 'Sign', 'Erf', 'Relu'].flatMap((op) => unary(op, NUMERIC)),
  'IsNaN / IsInf': [
    ...unary('IsNaN', FLOATS, undefined, () => 'bool'),
    ...unary('IsInf', FLOATS, undefined, () => 'bool'),
    ...unary('IsInf', FLOATS, { detect_negative: i(0) }, () => 'bool'),
    ...unary('IsInf', FLOATS, { detect_positive: i(0) }, () => 'bool'),
    ...unary('IsInf', ['float32'], { detect_positive: i(0), detect_negative: i(0) }, () => 'bool'),
  ],
  'activations with attributes': [
    ...unary('LeakyRelu', FLOATS, { alpha: f(0.1) }), ...unary('LeakyRelu', FLOATS),
    ...unary('Elu', FLOATS, { alpha: f(2) }), ...unary('Elu', FLOATS),
    ...unary('Selu', FLOATS, { alpha: f(2), gamma: f(3) }), ...unary('Selu', FLOATS),
    ...unary('Celu', FLOATS, { alpha: f(2) }), ...unary('Celu', FLOATS),
    ...unary('HardSigmoid', FLOATS, { alpha: f(0.5), beta: f(0.6) }), ...unary('HardSigmoid', FLOATS),
    ...unary('HardSwish', FLOATS),
    ...unary('Gelu', FLOATS), ...unary('Gelu', FLOATS, { approximate: s('tanh') }), ...unary('Gelu', FLOATS, { approximate: s('none') }),
    ...unary('Swish', FLOATS), ...unary('Swish', FLOATS, { alpha: f(1.5) }),
    ...unary('ThresholdedRelu', FLOATS, { alpha: f(2) }), ...unary('ThresholdedRelu', FLOATS),
    ...unary('Shrink', NUMERIC, { lambd: f(1.5), bias: f(1.5) }), ...unary('Shrink', NUMERIC),
    ...binary('PRelu', NUMERIC),
    ...binary('SwiGLU', FLOATS), ...binary('SwiGLU', FLOATS, { alpha: f(1.702) }),
  ],
  arithmetic: [
    ...['Add', 'Sub', 'Mul', 'Div'].flatMap((op) => binary(op, NUMERIC)),
    ...binary('Mod', NUMERIC), ...binary('Mod', NUMERIC, { fmod: i(1) }),
  ],
  variadic: [
    ...['Max', 'Min', 'Sum'].flatMap((op) => NUMERIC.flatMap((d): Case[] => [
      { op, ins: [d], out: d }, { op, ins: [d, d], out: d }, { op, ins: [d, d, d], out: d },
    ])),
    ...FLOATS.flatMap((d): Case[] => [{ op: 'Mean', ins: [d], out: d }, { op: 'Mean', ins: [d, d, d], out: d }]),
  ],
  Pow: [
    ...FLOATS.flatMap((x) => [...FLOATS, 'int8', 'int32', 'int64', 'uint32', 'uint64'].map((y): Case => ({ op: 'Pow', ins: [x, y as DType], out: x }))),
    ...INTS.flatMap((x) => ['float32', 'float16', 'float64', 'int8', 'int32', 'int64', 'uint32', 'uint64'].map((y): Case => ({ op: 'Pow', ins: [x, y as DType], out: x }))),
  ],
  comparisons: ['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual'].flatMap((op) => binary(op, ALL, undefined, () => 'bool')),
  logic: [...['And', 'Or', 'Xor'].flatMap((op) => binary(op, ['bool'])), ...unary('Not', ['bool'])],
  bitwise: [
    ...['BitwiseAnd', 'BitwiseOr', 'BitwiseXor'].flatMap((op) => binary(op, INTS)),
    ...unary('BitwiseNot', INTS),
    ...binary('BitShift', UINTS, { direction: s('LEFT') }), ...binary('BitShift', UINTS, { direction: s('RIGHT') }),
  ],
  Where: ALL.map((d): Case => ({ op: 'Where', ins: ['bool', d, d], out: d })),
  Clip: NUMERIC.flatMap((d): Case[] => [
    { op: 'Clip', ins: [d, d, d], out: d }, { op: 'Clip', ins: [d, d, undefined], out: d },
    { op: 'Clip', ins: [d, undefined, d], out: d }, { op: 'Clip', ins: [d], out: d },
  ]),
  Cast: ALL.flatMap((from) => ALL.map((to): Case => ({ op: 'Cast', ins: [from], out: to, attrs: { to: i(1) } }))),
  CastLike: ALL.flatMap((from) => ['float32', 'float16', 'bfloat16', 'int32', 'uint8', 'bool'].map((to): Case => ({ op: 'CastLike', ins: [from, to as DType], out: to as DType }))),
  BitCast: ([['float32', 'int32'], ['int32', 'float32'], ['float32', 'uint32'], ['float64', 'int64'], ['uint64', 'float64'], ['float16', 'bfloat16'],
    ['bfloat16', 'int16'], ['uint16', 'float16'], ['int8', 'uint8'], ['uint8', 'bool'], ['bool', 'int8']] as DType[][])
    .map(([a, b]): Case => ({ op: 'BitCast', ins: [a], out: b, attrs: { to: i(1) } })),
};

describe('ew-table: single-node groups', () => {
  for (const [name, cases] of Object.entries(CASES)) {
    it(`${name} (${cases.length} cases)`, () => {
      for (const c of cases) check(c);
    });
  }

  it('every table op is exercised', () => {
    const seen = new Set(Object.values(CASES).flat().map((c) => c.op));
    expect(Object.keys(EW_TABLE).filter((op) => !seen.has(op))).toEqual([]);
  });

  it('attributes are compile-time literals', () => {
    // the kernel body (after the helpers)
    const k = (c: Case) => lowerCase(c, [2, 3], 'same').lowered.launches[0].kernel.code.split('extern "C"')[1];
    expect(k({ op: 'LeakyRelu', ins: ['float32'], out: 'float32', attrs: { alpha: f(0.25) } })).toContain('0.25');
    expect(k({ op: 'LeakyRelu', ins: ['float32'], out: 'float32', attrs: { alpha: f(0.25) } }))
      .not.toEqual(k({ op: 'LeakyRelu', ins: ['float32'], out: 'float32', attrs: { alpha: f(0.5) } }));
    expect(k({ op: 'Elu', ins: ['float64'], out: 'float64' })).toContain('expm1(');
    expect(k({ op: 'Elu', ins: ['float32'], out: 'float32' })).toContain('expm1f(');
    // narrow outputs are rounded (overflow to Inf like the reference), exact rows are not
    expect(k({ op: 'Add', ins: ['float16', 'float16'], out: 'float16' })).toContain('chm_rh(');
    expect(k({ op: 'Relu', ins: ['bfloat16'], out: 'bfloat16' })).not.toContain('chm_rb(');
    expect(k({ op: 'Cast', ins: ['float64'], out: 'float16' })).toContain('chm_rh((double)');
  });
});

describe('ew-table: refusals mirror the reference', () => {
  const cases: [Case, RegExp][] = [
    [{ op: 'Exp', ins: ['int32'], out: 'int32' }, /float/],
    [{ op: 'Sigmoid', ins: ['int64'], out: 'int64' }, /float/],
    [{ op: 'IsNaN', ins: ['int32'], out: 'bool' }, /float/],
    [{ op: 'And', ins: ['int32', 'int32'], out: 'bool' }, /bool/],
    [{ op: 'Not', ins: ['float32'], out: 'float32' }, /bool/],
    [{ op: 'BitShift', ins: ['int32', 'int32'], out: 'int32', attrs: { direction: s('LEFT') } }, /unsigned/],
    [{ op: 'BitShift', ins: ['uint32', 'uint32'], out: 'uint32', attrs: { direction: s('UP') } }, /direction/],
    [{ op: 'BitwiseAnd', ins: ['float32', 'float32'], out: 'float32' }, /integer/],
    [{ op: 'Add', ins: ['float32', 'float16'], out: 'float32' }, /one type/],
    [{ op: 'Add', ins: ['bool', 'bool'], out: 'bool' }, /numeric/],
    [{ op: 'Equal', ins: ['int32', 'int64'], out: 'bool' }, /one type/],
    [{ op: 'Mean', ins: ['int32', 'int32'], out: 'int32' }, /float/],
    [{ op: 'Where', ins: ['int32', 'float32', 'float32'], out: 'float32' }, /bool/],
    [{ op: 'Pow', ins: ['float32', 'bool'], out: 'float32' }, /numeric/],
    [{ op: 'Gelu', ins: ['float32'], out: 'float32', attrs: { approximate: s('fast') } }, /approximate/],
    [{ op: 'BitCast', ins: ['float32'], out: 'int64', attrs: { to: i(7) } }, /width/],
    [{ op: 'Cast', ins: ['float32'], out: 'string', attrs: { to: i(8) } }, /device type/],
    [{ op: 'Identity', ins: ['float32'], out: 'float32' }, /not an elementwise/],
  ];
  for (const [c, re] of cases) {
    it(`${c.op}(${c.ins.join(',')})`, () => expect(rejected(c)).toMatch(re));
  }
});

describe('ew-table: a long fused chain with broadcasting', () => {
  // y = Clip(Sigmoid(LeakyRelu(Cast<f32>(Pow(Abs(a) + b, c)) * d) - Cast<f32>(n > 3)), 0.1, 0.9)
  //     then Where, Max, Gelu, Cast to float16, plus a second int output
  const nodes = [
    new Node({ op: 'Abs', inputs: ['a'], outputs: ['t0'] }),
    new Node({ op: 'Add', inputs: ['t0', 'b'], outputs: ['t1'] }),
    new Node({ op: 'Pow', inputs: ['t1', 'e'], outputs: ['t2'] }),
    new Node({ op: 'Mul', inputs: ['t2', 'd'], outputs: ['t3'] }),
    new Node({ op: 'LeakyRelu', inputs: ['t3'], outputs: ['t4'], attrs: { alpha: f(0.2) } }),
    new Node({ op: 'Greater', inputs: ['n', 'three'], outputs: ['t5'] }),
    new Node({ op: 'Cast', inputs: ['t5'], outputs: ['t6'], attrs: { to: i(1) } }),
    new Node({ op: 'Sub', inputs: ['t4', 't6'], outputs: ['t7'] }),
    new Node({ op: 'Sigmoid', inputs: ['t7'], outputs: ['t8'] }),
    new Node({ op: 'Clip', inputs: ['t8', 'lo', 'hi'], outputs: ['t9'] }),
    new Node({ op: 'Where', inputs: ['t5', 't9', 't3'], outputs: ['t10'] }),
    new Node({ op: 'Max', inputs: ['t10', 'd', 't9'], outputs: ['t11'] }),
    new Node({ op: 'Gelu', inputs: ['t11'], outputs: ['t12'], attrs: { approximate: s('tanh') } }),
    new Node({ op: 'Cast', inputs: ['t12'], outputs: ['y'], attrs: { to: i(10) } }),
    new Node({ op: 'Cast', inputs: ['t3'], outputs: ['t13'], attrs: { to: i(7) } }),
    new Node({ op: 'Mod', inputs: ['t13', 'n'], outputs: ['z'] }),
  ];
  const g: ElementwiseGroup = { nodes, inputs: ['a', 'b', 'e', 'd', 'n', 'three', 'lo', 'hi'], outputs: ['y', 'z', 't9'] };
  const typesFor = (N: number, C: number, H: number) => {
    const t = new Map<string, TensorDesc>();
    const set = (v: string, dtype: DType, shape: number[]) => t.set(v, { dtype, shape });
    set('a', 'float32', [N, C, H]); set('b', 'float32', [C, 1]); set('e', 'int32', []); set('d', 'float32', [H]);
    set('n', 'int64', [N, 1, H]); set('three', 'int64', [1]); set('lo', 'float32', []); set('hi', 'float32', []);
    for (const v of ['t0', 't1', 't2', 't3', 't4', 't6', 't7', 't8', 't9', 't10', 't11', 't12']) set(v, 'float32', [N, C, H]);
    set('t5', 'bool', [N, C, H]); set('y', 'float16', [N, C, H]); set('t13', 'int64', [N, C, H]); set('z', 'int64', [N, C, H]);
    return t;
  };
  it('lowers with well-formed launches and shape-independent kernels', () => {
    for (const n of nodes) {
      const t = typesFor(2, 3, 4);
      expect(elementwiseReject(n, n.inputs.map((v) => (v ? t.get(v)!.dtype : undefined)), t.get(n.outputs[0])!.dtype), n.op).toBeUndefined();
    }
    const a = lowerElementwiseGroup(g, typesFor(2, 3, 4));
    const b = lowerElementwiseGroup(g, typesFor(5, 6, 7));
    for (const l of [a, b]) {
      expect(l.launches.length).toBe(1);
      expect(checkLaunch(l.launches[0], { inputs: g.inputs.length, outputs: g.outputs.length, scratch: 0 })).toEqual([]);
    }
    expect(names(a)).toEqual(names(b));
    KERNELS.push(...a.launches.map((x) => x.kernel), ...a.variants);
  });
});

describe('ew-table: nvcc', () => {
  it.skipIf(!nvccPath())('compiles every kernel (launched and variants) with nvcc -arch=sm_90a (skipped when nvcc is not installed)', async () => {
    expect(KERNELS.length).toBeGreaterThan(100);
    const failures = await compileAllWithNvcc(KERNELS, 8);
    expect(failures.map((x) => `${x.name}\n${x.log.slice(0, 3000)}`)).toEqual([]);
  }, 1_800_000);
});
