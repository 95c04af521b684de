/**
 * Data movement, part 1 (src/codegen/ops/movement-shape.ts): every case runs the reference kernel on
 * seeded data to get the output types, lowers the node with them, checks each launch against its
 * kernel's signature, checks that the kernel set does not change with the concrete dims (same ranks,
 * other shapes), and compiles every kernel with nvcc (sm_90a PTX) when nvcc is present.
 */
import type { AttrValue } from '../../src/ir/graph.js';
import { Node } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { getKernel, type KernelContext, type RuntimeValue } from '../../src/ref/kernel.js';
import '../../src/ref/kernels/index.js';
import '../../src/codegen/ops/movement-shape.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { dt } from '../../src/codegen/dtypes.js';

// ---------------------------------------------------------------------------------------------------
// cases (this part uses no test framework)

export const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
export const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
export const str = (v: string): AttrValue => ({ type: 'string', value: v });

/** A seeded generator (LCG), deterministic across runs. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Distinct-ish values per element so that misplaced elements show. */
export function randTensor(dtype: DType, shape: readonly number[], seed = 1): Tensor {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'bool': vals.push(r() < 0.5 ? 0 : 1); break;
      case 'uint8': case 'uint16': case 'uint32': case 'uint64': vals.push(Math.floor(r() * 250)); break;
      case 'int8': vals.push(Math.floor(r() * 250) - 125); break;
      case 'int16': case 'int32': case 'int64': vals.push(Math.floor(r() * 20000) - 10000); break;
      default: vals.push(Math.round((r() * 2 - 1) * 256) / 64); // exact in fp16/bf16
    }
  }
  return Tensor.from(dtype, shape, vals);
}

export const i64 = (v: number[], shape = [v.length]): Tensor => Tensor.from('int64', shape, v);

export interface MoveCase {
  name: string;
  op: string;
  attrs?: Partial<Record<string, AttrValue>>;
  /** inputs; undefined = omitted optional input */
  inputs: (Tensor | undefined)[];
  /** how many outputs the node has (names y0..); '' entries in outNames mark omitted outputs */
  outNames?: string[];
}

/** Each case family for a shape variant (0 or 1: same ranks, other dims) and dtype. */
export type CaseFamily = (v: 0 | 1, dtype: DType) => MoveCase[];

export const FAMILIES: Record<string, CaseFamily> = {
  views: (v, d) => [
    { name: 'reshape', op: 'Reshape', inputs: [randTensor(d, v ? [2, 3, 4] : [4, 5, 6]), i64([0, -1])] },
    { name: 'flatten', op: 'Flatten', attrs: { axis: int(2) }, inputs: [randTensor(d, v ? [2, 3, 4] : [4, 5, 6])] },
    { name: 'squeeze', op: 'Squeeze', inputs: [randTensor(d, v ? [1, 3, 1] : [1, 7, 1]), i64([0, -1])] },
    { name: 'unsqueeze', op: 'Unsqueeze', inputs: [randTensor(d, v ? [3, 4] : [5, 6]), i64([0, 3])] },
    { name: 'identity', op: 'Identity', inputs: [randTensor(d, v ? [3, 4] : [5, 6])] },
  ],
  dropout: (v, d) => (d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64' ? [
    { name: 'dropout', op: 'Dropout', inputs: [randTensor(d, v ? [3, 4] : [5, 6])] },
    { name: 'dropout mask', op: 'Dropout', inputs: [randTensor(d, v ? [3, 4] : [5, 6])], outNames: ['y0', 'y1'] },
    { name: 'dropout ratio train=0', op: 'Dropout', inputs: [randTensor(d, v ? [3, 4] : [5, 6]), Tensor.from('float32', [], [0.3]), Tensor.from('bool', [], [0])], outNames: ['y0', 'y1'] },
    { name: 'dropout train ratio 0', op: 'Dropout', inputs: [randTensor(d, v ? [3, 4] : [5, 6]), Tensor.from('float32', [], [0]), Tensor.from('bool', [], [1])], outNames: ['y0', 'y1'] },
  ] : []),
  transpose: (v, d) => [
    { name: 'transpose default', op: 'Transpose', inputs: [randTensor(d, v ? [2, 3, 4] : [5, 1, 7])] },
    { name: 'transpose perm', op: 'Transpose', attrs: { perm: ints([1, 0, 2]) }, inputs: [randTensor(d, v ? [2, 3, 4] : [5, 1, 7])] },
    { name: 'transpose 4d', op: 'Transpose', attrs: { perm: ints([0, 2, 3, 1]) }, inputs: [randTensor(d, v ? [2, 3, 4, 5] : [1, 8, 3, 2])] },
    { name: 'transpose 1d', op: 'Transpose', inputs: [randTensor(d, v ? [7] : [300])] },
  ],
  concat: (v, d) => [
    { name: 'concat axis 1', op: 'Concat', attrs: { axis: int(1) }, inputs: [randTensor(d, v ? [2, 3, 4] : [3, 1, 2], 1), randTensor(d, v ? [2, 5, 4] : [3, 4, 2], 2), randTensor(d, v ? [2, 1, 4] : [3, 2, 2], 3)] },
    { name: 'concat axis -1', op: 'Concat', attrs: { axis: int(-1) }, inputs: [randTensor(d, v ? [2, 3] : [4, 1], 1), randTensor(d, v ? [2, 2] : [4, 5], 2)] },
    { name: 'concat empty part', op: 'Concat', attrs: { axis: int(0) }, inputs: [randTensor(d, v ? [0, 3] : [2, 4], 1), randTensor(d, v ? [2, 3] : [3, 4], 2)] },
  ],
  split: (v, d) => [
    { name: 'split equal', op: 'Split', attrs: { axis: int(1) }, inputs: [randTensor(d, v ? [2, 6] : [3, 9])], outNames: ['y0', 'y1', 'y2'] },
    { name: 'split sizes', op: 'Split', attrs: { axis: int(0) }, inputs: [randTensor(d, v ? [6, 2] : [5, 3]), i64(v ? [1, 0, 5] : [2, 1, 2])], outNames: ['y0', 'y1', 'y2'] },
    { name: 'split num_outputs', op: 'Split', attrs: { axis: int(-1), num_outputs: int(3) }, inputs: [randTensor(d, v ? [2, 7] : [3, 5])], outNames: ['y0', 'y1', 'y2'] },
  ],
  slice: (v, d) => [
    { name: 'slice basic', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([0, 0]), i64([3, 10]), i64([0, 1]), i64([1, 1])] },
    { name: 'slice default axes/steps', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([1, 2, 0]), i64([4, 5, 2])] },
    { name: 'slice neg steps', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([20, 10, 4]), i64([0, 0, 1]), i64([0, 1, 2]), i64([-1, -3, -2])] },
    { name: 'slice out of bounds', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([1, -1000]), i64([1000, 1000]), i64([1, -1]), undefined] },
    { name: 'slice int64 max', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([-3]), Tensor.from('int64', [1], [2n ** 63n - 1n]), i64([-2]), i64([2])] },
    { name: 'slice empty', op: 'Slice', inputs: [randTensor(d, v ? [20, 10, 5] : [8, 12, 3]), i64([3]), i64([3]), i64([0])] },
  ],
  expand: (v, d) => [
    { name: 'expand rank up', op: 'Expand', inputs: [randTensor(d, v ? [3, 1] : [1, 4]), i64(v ? [2, 1, 6] : [3, 5, 4])] },
    { name: 'expand same rank', op: 'Expand', inputs: [randTensor(d, v ? [3, 1, 2] : [1, 4, 1]), i64(v ? [3, 5, 2] : [2, 1, 3])] },
  ],
  tile: (v, d) => [
    { name: 'tile', op: 'Tile', inputs: [randTensor(d, v ? [2, 3, 4] : [3, 1, 2]), i64(v ? [1, 2, 3] : [2, 3, 1])] },
    { name: 'tile zero', op: 'Tile', inputs: [randTensor(d, v ? [2, 3] : [3, 1]), i64(v ? [0, 2] : [1, 0])] },
  ],
  pad: (v, d) => [
    { name: 'pad constant', op: 'Pad', attrs: { mode: str('constant') }, inputs: [randTensor(d, v ? [1, 3, 4, 5] : [2, 2, 3, 3]), i64([0, 0, 1, 3, 0, 0, 2, 4]), Tensor.from(d, [], [d === 'bool' ? 1 : 1.25])] },
    { name: 'pad constant default', op: 'Pad', inputs: [randTensor(d, v ? [3, 4] : [5, 2]), i64([1, -1, 2, 3])] },
    { name: 'pad axes', op: 'Pad', inputs: [randTensor(d, v ? [1, 3, 4, 5] : [2, 2, 3, 3]), i64([2, 1, 3, 0]), undefined, i64([1, -1])] },
    { name: 'pad reflect', op: 'Pad', attrs: { mode: str('reflect') }, inputs: [randTensor(d, v ? [3, 4] : [5, 3]), i64([0, 2, 0, 3])] },
    { name: 'pad reflect big', op: 'Pad', attrs: { mode: str('reflect') }, inputs: [randTensor(d, v ? [3, 4] : [5, 3]), i64([4, 7, 5, 9])] },
    { name: 'pad edge', op: 'Pad', attrs: { mode: str('edge') }, inputs: [randTensor(d, v ? [1, 3, 4, 5] : [2, 2, 3, 3]), i64([0, 0, 1, 1, 0, 0, 1, 2])] },
    { name: 'pad wrap', op: 'Pad', attrs: { mode: str('wrap') }, inputs: [randTensor(d, v ? [1, 3, 4, 5] : [2, 2, 3, 3]), i64([0, 0, 3, 5, 0, 0, 7, 2])] },
    { name: 'pad wrap crop', op: 'Pad', attrs: { mode: str('wrap') }, inputs: [randTensor(d, v ? [6, 5] : [7, 8]), i64([-1, 2, 3, -2])] },
  ],
  depthspace: (v, d) => [
    { name: 'depthtospace DCR', op: 'DepthToSpace', attrs: { blocksize: int(2) }, inputs: [randTensor(d, v ? [1, 8, 2, 3] : [2, 4, 3, 1])] },
    { name: 'depthtospace CRD', op: 'DepthToSpace', attrs: { blocksize: int(2), mode: str('CRD') }, inputs: [randTensor(d, v ? [1, 8, 2, 3] : [2, 4, 3, 1])] },
    { name: 'spacetodepth', op: 'SpaceToDepth', attrs: { blocksize: int(2) }, inputs: [randTensor(d, v ? [1, 3, 4, 6] : [2, 2, 2, 4])] },
  ],
  trilu: (v, d) => [
    { name: 'triu', op: 'Trilu', inputs: [randTensor(d, v ? [4, 5] : [3, 7])] },
    { name: 'triu k', op: 'Trilu', inputs: [randTensor(d, v ? [2, 4, 5] : [3, 3, 7]), i64([-1], [])] },
    { name: 'tril', op: 'Trilu', attrs: { upper: int(0) }, inputs: [randTensor(d, v ? [4, 5] : [3, 7])] },
    { name: 'tril k', op: 'Trilu', attrs: { upper: int(0) }, inputs: [randTensor(d, v ? [2, 4, 5] : [3, 3, 7]), i64([2], [])] },
    { name: 'tril k far', op: 'Trilu', attrs: { upper: int(0) }, inputs: [randTensor(d, v ? [4, 5] : [3, 7]), i64([-100], [])] },
  ],
  centercroppad: (v, d) => [
    { name: 'center crop', op: 'CenterCropPad', inputs: [randTensor(d, v ? [20, 10, 3] : [9, 7, 3]), i64([10, 7, 3])] },
    { name: 'center pad', op: 'CenterCropPad', inputs: [randTensor(d, v ? [10, 7, 3] : [5, 4, 3]), i64([20, 10, 3])] },
    { name: 'center crop and pad axes', op: 'CenterCropPad', attrs: { axes: ints([-3, -2]) }, inputs: [randTensor(d, v ? [20, 8, 3] : [13, 3, 3]), i64([10, 9])] },
  ],
};

/** Host inputs of each op (the lowering's hostInputs). */
export function hostInputsOf(op: string): readonly number[] {
  return getLowering(op)?.hostInputs ?? [];
}

export interface Prepared {
  c: MoveCase;
  node: Node;
  ctx: LowerContext;
  /** the reference outputs */
  expected: Tensor[];
}

/** Runs the reference kernel and builds the LowerContext from its output types. */
export function prepare(c: MoveCase): Prepared {
  const inNames = c.inputs.map((t, i) => (t ? `x${i}` : ''));
  while (inNames.length && inNames[inNames.length - 1] === '') inNames.pop();
  const outNames = c.outNames ?? ['y0'];
  const attrs: Record<string, AttrValue> = {};
  for (const [k, a] of Object.entries(c.attrs ?? {})) if (a) attrs[k] = a;
  const node = new Node({ op: c.op, inputs: inNames, outputs: outNames, attrs });
  const refCtx: KernelContext = {
    node, opset: 23, inputs: c.inputs,
    input(i: number): Tensor {
      const t = c.inputs[i];
      if (!t) throw new Error(`input ${i} missing`);
      return t;
    },
    optionalInput: (i: number) => (inNames[i] ? c.inputs[i] : undefined),
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m: string) => { throw new Error(`${c.op}: ${m}`); },
  };
  const outs = getKernel(c.op)!(refCtx) as (RuntimeValue | undefined)[];
  const expected = outs.map((o) => o as Tensor);
  const hostIn = hostInputsOf(c.op);
  const ctx: LowerContext = {
    node,
    inputs: c.inputs.map((t) => (t ? { dtype: t.dtype, shape: t.shape } : undefined)),
    outputs: outNames.map((_, k) => ({ dtype: expected[k]?.dtype ?? 'bool', shape: expected[k]?.shape ?? [] })),
    hostValue: (i: number) => (hostIn.includes(i) && inNames[i] ? c.inputs[i] : undefined),
  };
  return { c, node, ctx, expected };
}

export function lowerCase(p: Prepared): Lowered {
  return getLowering(p.c.op)!.lower(p.ctx);
}

export function kernelsOf(l: Lowered): KernelSource[] {
  return [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];
}

export const DTYPES_UNDER_TEST: DType[] = ['float32', 'float16', 'bfloat16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'];

export function allCases(v: 0 | 1, dtypes: readonly DType[] = DTYPES_UNDER_TEST): { family: string; dtype: DType; c: MoveCase }[] {
  const out: { family: string; dtype: DType; c: MoveCase }[] = [];
  for (const [family, f] of Object.entries(FAMILIES)) for (const dtype of dtypes) for (const c of f(v, dtype)) out.push({ family, dtype, c });
  return out;
}

export { Unsupported, type TensorDesc };

// ---- vitest -----------------------------------------------------------------------------------------
import { describe, expect, it } from 'vitest';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

describe('movement-shape lowerings', () => {
  const cases0 = allCases(0);
  const cases1 = allCases(1);

  it('every case lowers with well-formed launches', () => {
    for (const { c, dtype } of cases0.concat(cases1)) {
      const p = prepare(c);
      const l = lowerCase(p);
      const io = { inputs: c.inputs.length, outputs: p.ctx.outputs.length, scratch: l.scratch?.length ?? 0 };
      for (const launch of l.launches) expect(checkLaunch(launch, io), `${c.name} ${dtype}`).toEqual([]);
      const nOut = p.expected.reduce((a, t) => a + t.size, 0);
      if (nOut > 0 && !l.aliases?.length) expect(l.launches.length, `${c.name} ${dtype}`).toBeGreaterThan(0);
    }
  });

  it('the kernel set does not depend on concrete dims', () => {
    for (let i = 0; i < cases0.length; i++) {
      const a = kernelsOf(lowerCase(prepare(cases0[i].c))).map((k) => k.name).sort();
      const b = kernelsOf(lowerCase(prepare(cases1[i].c))).map((k) => k.name).sort();
      expect([...new Set(a)], `${cases0[i].c.name} ${cases0[i].dtype}`).toEqual([...new Set(b)]);
    }
  });

  it('views alias output 0 to input 0 with no launch', () => {
    for (const { c } of allCases(0, ['float32']).filter((x) => x.family === 'views')) {
      expect(lowerCase(prepare(c))).toEqual({ launches: [], aliases: [{ output: 0, input: 0 }] });
    }
    const mask = lowerCase(prepare(FAMILIES.dropout(0, 'float16')[1]));
    expect(mask.aliases).toEqual([{ output: 0, input: 0 }]);
    expect(mask.launches.length).toBe(1);
    expect(mask.launches[0].args[0]).toEqual({ out: 1 });
  });

  it('falls back where it should', () => {
    const train = prepare({ name: 'dropout train', op: 'Dropout', inputs: [randTensor('float32', [3, 4]), Tensor.from('float32', [], [0.5]), Tensor.from('bool', [], [1])], outNames: ['y0', 'y1'] });
    expect(() => lowerCase(train)).toThrow(Unsupported);
    // a dtype with no device type
    const p = prepare({ name: 'transpose string', op: 'Transpose', inputs: [Tensor.from('string', [2, 2], ['a', 'b', 'c', 'd'])] });
    expect(() => lowerCase(p)).toThrow(Unsupported);
  });

  it('data moves as raw bits: float32 and int32 share kernels', () => {
    const f = kernelsOf(lowerCase(prepare(FAMILIES.transpose(0, 'float32')[2]))).map((k) => k.name);
    const i = kernelsOf(lowerCase(prepare(FAMILIES.transpose(0, 'int32')[2]))).map((k) => k.name);
    expect(f).toEqual(i);
  });

  it('the pad constant is passed as the dtype\'s storage bits', () => {
    const bitsOf = (d: DType) => {
      const l = lowerCase(prepare(FAMILIES.pad(0, d)[0]));
      const a = l.launches[0].args[l.launches[0].args.length - 1];
      return 'kind' in a && a.kind === 'i64' ? a.value : undefined;
    };
    expect(bitsOf('float32')).toBe(0x3fa00000n);
    expect(bitsOf('float16')).toBe(0x3d00n);
    expect(bitsOf('bfloat16')).toBe(0x3fa0n);
    expect(bitsOf('float64')).toBe(0x3ff4000000000000n);
    expect(bitsOf('int32')).toBe(1n);
    expect(bitsOf('bool')).toBe(1n);
  });

  it.skipIf(!nvccPath())('every kernel compiles with nvcc (sm_90a PTX; skipped without nvcc)', async () => {
    const ks: KernelSource[] = [];
    for (const { c } of cases0.concat(cases1)) ks.push(...kernelsOf(lowerCase(prepare(c))));
    const failures = await compileAllWithNvcc(ks);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  });
});

// ---- Split: one launch for up to 8 outputs, simulated on the host from the launch arguments ------------

const UNIT_BYTES: Record<string, number> = { 'unsigned char': 1, 'unsigned short': 2, 'unsigned int': 4, 'unsigned long long': 8, uint4: 16 };

type Elems = { length: number; [i: number]: unknown };

/** runs the move_split kernel's index math on the host (every i of the grid-stride loop), element-wise */
function simulateSplit(l: Lowered, input: Tensor, expected: Tensor[]): unknown[][] {
  expect(l.launches.length).toBe(1);
  const launch = l.launches[0];
  const U = UNIT_BYTES[launch.kernel.params[0].elem ?? ''];
  const per = U / dt(input.dtype).bytes; // elements per unit
  const src = input.data as unknown as Elems;
  const outIdx = launch.args.filter((a) => 'out' in a).map((a) => (a as { out: number }).out);
  const K = outIdx.length;
  const nums = launch.args.slice(1 + K).map((a) => Number((a as { value: bigint | number }).value));
  const [n, cols, rowIn] = nums;
  const cs = nums.slice(3, 3 + K), ls = nums.slice(3 + K, 3 + 2 * K);
  const outs = expected.map((t) => new Array<unknown>(t.size).fill('unset'));
  for (let i = 0; i < n; i++) {
    const o = Math.floor(i / cols), a = i - o * cols;
    for (let j = 0; j < K; j++) {
      if (a >= cs[j] && a < cs[j] + ls[j]) {
        const dst = (o * ls[j] + (a - cs[j])) * per, from = (o * rowIn + a) * per;
        for (let e = 0; e < per; e++) outs[outIdx[j]][dst + e] = src[from + e];
        break;
      }
    }
  }
  return outs;
}

describe('Split in one launch', () => {
  const cases: MoveCase[] = [
    { name: 'qkv fp16 last axis', op: 'Split', attrs: { axis: int(-1), num_outputs: int(3) }, inputs: [randTensor('float16', [2, 5, 3 * 64])], outNames: ['q', 'k', 'v'] },
    { name: 'qkv fp32 odd', op: 'Split', attrs: { axis: int(2) }, inputs: [randTensor('float32', [2, 3, 9])], outNames: ['q', 'k', 'v'] },
    { name: 'sizes, omitted output', op: 'Split', attrs: { axis: int(1) }, inputs: [randTensor('bfloat16', [3, 10, 4]), i64([2, 5, 3])], outNames: ['a', '', 'c'] },
    { name: 'axis 0 int8', op: 'Split', attrs: { axis: int(0) }, inputs: [randTensor('int8', [7, 3]), i64([3, 0, 4])], outNames: ['a', 'b', 'c'] },
    { name: 'bool uneven', op: 'Split', attrs: { axis: int(1), num_outputs: int(4) }, inputs: [randTensor('bool', [2, 7])], outNames: ['a', 'b', 'c', 'd'] },
    { name: 'eight outputs', op: 'Split', attrs: { axis: int(0), num_outputs: int(8) }, inputs: [randTensor('float16', [16, 8])], outNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] },
  ];
  for (const c of cases) {
    it(`${c.name}: one launch, the same bytes as the reference`, () => {
      const p = prepare(c);
      const l = lowerCase(p);
      const io = { inputs: c.inputs.length, outputs: p.ctx.outputs.length, scratch: 0 };
      for (const launch of l.launches) expect(checkLaunch(launch, io)).toEqual([]);
      const outs = simulateSplit(l, c.inputs[0]!, p.expected);
      p.expected.forEach((t, k) => { if (c.outNames![k]) expect(outs[k], `output ${k}`).toEqual([...(t.data as unknown as Elems[] & Iterable<unknown>)]); });
    });
  }
  it('picks 16-byte units for the GPT-2 QKV split', () => {
    const l = lowerCase(prepare(cases[0]));
    expect(l.launches[0].kernel.params[0].elem).toBe('uint4');
  });
  it('more than 8 outputs: one copy launch each', () => {
    const l = lowerCase(prepare({ name: 'nine', op: 'Split', attrs: { axis: int(0), num_outputs: int(9) }, inputs: [randTensor('float32', [9, 2])], outNames: 'abcdefghi'.split('') }));
    expect(l.launches.length).toBe(9);
  });
});

describe('copy kernels move 8-byte units when the innermost run allows', () => {
  // host simulation of a move_copy launch: dst[dbase + Σ c·ds] = src[sbase + Σ c·ss], in units of `unit` bytes
  const simulate = (l: { args: unknown[] }, unit: number, rank: number, src: Uint8Array, dst: Uint8Array) => {
    const v = (i: number) => Number((l.args[i] as { value: bigint }).value);
    const n = v(2);
    const dims = Array.from({ length: rank }, (_, k) => v(3 + k));
    const ss = Array.from({ length: rank }, (_, k) => v(3 + rank + k));
    const ds = Array.from({ length: rank }, (_, k) => v(3 + 2 * rank + k));
    const sb = v(3 + 3 * rank), db = v(4 + 3 * rank);
    for (let i = 0; i < n; i++) {
      let rem = i, so = 0, dO = 0;
      for (let k = rank - 1; k >= 0; k--) { const c = rem % dims[k]; rem = Math.floor(rem / dims[k]); so += c * ss[k]; dO += c * ds[k]; }
      dst.set(src.subarray((sb + so) * unit, (sb + so + 1) * unit), (db + dO) * unit);
    }
  };
  for (const [shape, perm, wide] of [[[2, 3, 5, 8], [0, 2, 1, 3], true], [[2, 3, 5, 6], [0, 2, 1, 3], false], [[4, 6], [1, 0], false]] as [number[], number[], boolean][]) {
    it(`Transpose fp16 [${shape}] perm [${perm}] (${wide ? '8-byte units' : 'element units'})`, () => {
      const node = new Node({ op: 'Transpose', inputs: ['x'], outputs: ['y'], attrs: { perm: { type: 'ints', value: perm.map(BigInt) } } });
      const outShape = perm.map((p) => shape[p]);
      const l = getLowering('Transpose')!.lower({ node, inputs: [{ dtype: 'float16', shape }], outputs: [{ dtype: 'float16', shape: outShape }], hostValue: () => undefined });
      expect(l.launches).toHaveLength(1);
      const unit = wide ? 8 : 2;
      expect(l.launches[0].kernel.params.find((p) => p.name === 'src')?.elem).toBe(wide ? 'unsigned long long' : 'unsigned short');
      const n = shape.reduce((a, b) => a * b, 1);
      const src = new Uint8Array(n * 2).map((_, i) => (i * 37 + 11) & 255);
      const dst = new Uint8Array(n * 2);
      simulate(l.launches[0], unit, shape.length, src, dst);
      // reference transpose on 2-byte elements
      const inS = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
      const want = new Uint8Array(n * 2);
      for (let o = 0; o < n; o++) {
        let rem = o, si = 0;
        for (let k = shape.length - 1; k >= 0; k--) { const c = rem % outShape[k]; rem = Math.floor(rem / outShape[k]); si += c * inS[perm[k]]; }
        want.set(src.subarray(si * 2, si * 2 + 2), o * 2);
      }
      expect(Buffer.from(dst).equals(Buffer.from(want))).toBe(true);
      expect((l.variants ?? []).length).toBe(1); // the other width is listed
    });
  }
});
