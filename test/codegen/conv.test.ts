// Conv / ConvTranspose / pooling lowerings: launches are well-formed, kernel sets do not depend on
// concrete dims, and every kernel (launched + variants) compiles with nvcc (skipped without nvcc).
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { getKernel, type KernelContext } from '../../src/ref/kernel.js';
import '../../src/ref/kernels/index.js';
import { checkLaunch, getLowering, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/conv.js';
import '../../src/codegen/ops/pool.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
const str = (v: string): AttrValue => ({ type: 'string', value: v });

interface Case {
  name: string;
  op: string;
  attrs: Record<string, AttrValue>;
  dtype: DType;
  /** two bindings of the input shapes (same ranks); undefined = omitted optional input */
  shapes: [(number[] | undefined)[], (number[] | undefined)[]];
  outputs?: number;
}

const CASES: Case[] = [
  { name: 'conv2d basic', op: 'Conv', attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, dtype: 'float32', shapes: [[[1, 3, 8, 8], [32, 3, 3, 3]], [[2, 3, 17, 9], [32, 3, 3, 3]]] },
  { name: 'conv2d bias strides', op: 'Conv', attrs: { strides: ints([2, 2]), pads: ints([1, 0, 1, 0]) }, dtype: 'float32', shapes: [[[1, 16, 7, 5], [64, 16, 3, 3], [64]], [[3, 16, 20, 21], [64, 16, 3, 3], [64]]] },
  { name: 'conv2d depthwise', op: 'Conv', attrs: { group: int(8), kernel_shape: ints([3, 3]), auto_pad: str('SAME_UPPER') }, dtype: 'float32', shapes: [[[1, 8, 9, 9], [8, 1, 3, 3], [8]], [[2, 8, 4, 6], [8, 1, 3, 3], [8]]] },
  { name: 'conv2d groups dilations fp16', op: 'Conv', attrs: { group: int(2), dilations: ints([2, 1]), auto_pad: str('SAME_LOWER') }, dtype: 'float16', shapes: [[[1, 4, 9, 9], [40, 2, 3, 3]], [[2, 4, 12, 7], [40, 2, 3, 3]]] },
  { name: 'conv2d bf16 valid', op: 'Conv', attrs: { auto_pad: str('VALID') }, dtype: 'bfloat16', shapes: [[[1, 5, 9, 9], [20, 5, 2, 2], [20]], [[1, 5, 3, 6], [20, 5, 2, 2], [20]]] },
  { name: 'conv2d f64', op: 'Conv', attrs: {}, dtype: 'float64', shapes: [[[1, 5, 9, 9], [20, 5, 1, 1]], [[2, 5, 3, 6], [20, 5, 1, 1]]] },
  { name: 'conv1d', op: 'Conv', attrs: { pads: ints([2, 1]), strides: ints([2]) }, dtype: 'float32', shapes: [[[2, 4, 20], [16, 4, 5], [16]], [[1, 4, 9], [16, 4, 5], [16]]] },
  { name: 'conv1d thin', op: 'Conv', attrs: {}, dtype: 'float32', shapes: [[[2, 4, 20], [3, 4, 5]], [[1, 4, 9], [3, 4, 5]]] },
  { name: 'conv3d', op: 'Conv', attrs: { pads: ints([1, 0, 1, 1, 0, 1]), strides: ints([1, 2, 1]) }, dtype: 'float32', shapes: [[[1, 2, 5, 6, 7], [4, 2, 3, 3, 3], [4]], [[2, 2, 4, 4, 4], [4, 2, 3, 3, 3], [4]]] },
  { name: 'conv2d empty batch', op: 'Conv', attrs: {}, dtype: 'float32', shapes: [[[0, 3, 5, 5], [32, 3, 3, 3]], [[2, 3, 5, 5], [32, 3, 3, 3]]] },
  { name: 'convT basic', op: 'ConvTranspose', attrs: {}, dtype: 'float32', shapes: [[[1, 1, 3, 3], [1, 2, 3, 3]], [[2, 1, 5, 4], [1, 2, 3, 3]]] },
  { name: 'convT strides pads outpad', op: 'ConvTranspose', attrs: { strides: ints([3, 2]), pads: ints([1, 2, 1, 2]), output_padding: ints([1, 1]) }, dtype: 'float32', shapes: [[[1, 1, 3, 3], [1, 2, 3, 3], [2]], [[1, 1, 4, 2], [1, 2, 3, 3], [2]]] },
  { name: 'convT group dilation', op: 'ConvTranspose', attrs: { group: int(2), dilations: ints([2, 2]) }, dtype: 'float16', shapes: [[[1, 4, 3, 3], [4, 3, 2, 2]], [[2, 4, 5, 3], [4, 3, 2, 2]]] },
  { name: 'convT same upper', op: 'ConvTranspose', attrs: { auto_pad: str('SAME_UPPER'), strides: ints([2, 2]) }, dtype: 'float32', shapes: [[[1, 1, 3, 3], [1, 2, 3, 3]], [[1, 1, 4, 5], [1, 2, 3, 3]]] },
  { name: 'convT 1d', op: 'ConvTranspose', attrs: {}, dtype: 'float32', shapes: [[[1, 1, 3], [1, 2, 3]], [[2, 1, 7], [1, 2, 3]]] },
  { name: 'convT 3d', op: 'ConvTranspose', attrs: {}, dtype: 'float64', shapes: [[[1, 1, 3, 4, 5], [1, 2, 3, 3, 3]], [[1, 1, 2, 2, 2], [1, 2, 3, 3, 3]]] },
  { name: 'maxpool 2d pads', op: 'MaxPool', attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }, dtype: 'float32', shapes: [[[1, 3, 8, 8]], [[2, 3, 5, 9]]] },
  { name: 'maxpool ceil dil', op: 'MaxPool', attrs: { kernel_shape: ints([2, 2]), ceil_mode: int(1), dilations: ints([2, 2]), strides: ints([2, 2]) }, dtype: 'float16', shapes: [[[1, 1, 4, 4]], [[1, 3, 7, 9]]] },
  { name: 'maxpool uint8', op: 'MaxPool', attrs: { kernel_shape: ints([5, 5]), auto_pad: str('SAME_UPPER') }, dtype: 'uint8', shapes: [[[1, 1, 5, 5]], [[1, 2, 3, 7]]] },
  { name: 'maxpool indices', op: 'MaxPool', attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) }, dtype: 'float32', shapes: [[[1, 2, 5, 5]], [[1, 3, 4, 6]]], outputs: 2 },
  { name: 'maxpool indices colmajor 3d', op: 'MaxPool', attrs: { kernel_shape: ints([2, 2, 2]), storage_order: int(1) }, dtype: 'float32', shapes: [[[1, 2, 3, 4, 5]], [[2, 1, 4, 4, 4]]], outputs: 2 },
  { name: 'maxpool 1d', op: 'MaxPool', attrs: { kernel_shape: ints([2]) }, dtype: 'float64', shapes: [[[1, 3, 32]], [[2, 1, 5]]] },
  { name: 'avgpool include pad', op: 'AveragePool', attrs: { kernel_shape: ints([3, 3]), pads: ints([2, 2, 2, 2]), count_include_pad: int(1) }, dtype: 'float32', shapes: [[[1, 3, 7, 7]], [[2, 1, 4, 5]]] },
  { name: 'avgpool ceil same', op: 'AveragePool', attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: int(1) }, dtype: 'bfloat16', shapes: [[[1, 3, 7, 7]], [[2, 1, 4, 5]]] },
  { name: 'avgpool 3d dil', op: 'AveragePool', attrs: { kernel_shape: ints([2, 2, 2]), dilations: ints([2, 2, 2]), pads: ints([1, 1, 1, 1, 1, 1]) }, dtype: 'float32', shapes: [[[1, 1, 6, 6, 6]], [[1, 2, 5, 4, 7]]] },
  { name: 'lppool p3', op: 'LpPool', attrs: { kernel_shape: ints([2, 2]), p: int(3) }, dtype: 'float32', shapes: [[[1, 3, 6, 6]], [[2, 1, 3, 4]]] },
  { name: 'lppool p2 1d', op: 'LpPool', attrs: { kernel_shape: ints([3]), strides: ints([2]) }, dtype: 'float64', shapes: [[[1, 3, 6]], [[2, 1, 9]]] },
  { name: 'global avg', op: 'GlobalAveragePool', attrs: {}, dtype: 'float32', shapes: [[[2, 3, 7, 7]], [[1, 5, 2, 3]]] },
  { name: 'global max fp16', op: 'GlobalMaxPool', attrs: {}, dtype: 'float16', shapes: [[[2, 3, 7]], [[1, 5, 200]]] },
  { name: 'global lp', op: 'GlobalLpPool', attrs: { p: int(3) }, dtype: 'float64', shapes: [[[2, 3, 2, 2, 2]], [[1, 5, 1, 4, 3]]] },
];

function randomTensor(dtype: DType, shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0;
  const vals = Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return dtype === 'uint8' ? s % 256 : (s / 2 ** 32) * 2 - 1;
  });
  return Tensor.from(dtype, shape, vals);
}

function nodeOf(c: Case): Node {
  const k = c.shapes[0].length;
  const inputs = Array.from({ length: k }, (_, i) => (c.shapes[0][i] ? `in${i}` : ''));
  const outputs = Array.from({ length: c.outputs ?? 1 }, (_, i) => `out${i}`);
  return new Node({ op: c.op, inputs, outputs, attrs: c.attrs });
}

/** Output types from the reference interpreter's kernel (so the test never hand-computes shapes). */
function refOutputs(node: Node, ins: (Tensor | undefined)[]): Tensor[] {
  const kernel = getKernel(node.op)!;
  const ctx: KernelContext = {
    node, opset: 22, inputs: ins,
    input: (i) => ins[i]!,
    optionalInput: (i) => ins[i],
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m) => { throw new Error(`${node.op}: ${m}`); },
  };
  return kernel(ctx) as Tensor[];
}

function lowerCase(c: Case, binding: 0 | 1): { lowered: Lowered; ctx: LowerContext } {
  const node = nodeOf(c);
  const shapes = c.shapes[binding];
  const ins = shapes.map((s, i) => (s ? randomTensor(c.dtype, s, 7 + i) : undefined));
  const outs = refOutputs(node, ins);
  const ctx: LowerContext = {
    node,
    inputs: ins.map((t): TensorDesc | undefined => (t ? { dtype: t.dtype, shape: t.shape } : undefined)),
    outputs: outs.map((t) => ({ dtype: t.dtype, shape: t.shape })),
    hostValue: () => undefined,
  };
  const lowering = getLowering(node.op)!;
  return { lowered: lowering.lower(ctx), ctx };
}

const kernelNames = (l: Lowered): string[] => [...new Set([...l.launches.map((x) => x.kernel.name), ...(l.variants ?? []).map((k) => k.name)])].sort();

describe('conv/pool lowerings', () => {
  const all = new Map<string, KernelSource>();
  for (const c of CASES) {
    it(c.name, () => {
      const a = lowerCase(c, 0);
      const b = lowerCase(c, 1);
      for (const { lowered, ctx } of [a, b]) {
        const io = { inputs: ctx.inputs.length, outputs: ctx.outputs.length, scratch: lowered.scratch?.length ?? 0 };
        for (const l of lowered.launches) expect(checkLaunch(l, io)).toEqual([]);
        const n = ctx.outputs[0].shape.reduce((x, y) => x * y, 1);
        expect(lowered.launches.length === 0).toBe(n === 0);
        for (const l of lowered.launches) all.set(l.kernel.name, l.kernel);
        for (const k of lowered.variants ?? []) all.set(k.name, k);
      }
      expect(kernelNames(a.lowered)).toEqual(kernelNames(b.lowered));
    });
  }

  it('picks the implicit-GEMM kernel for wide 2-D convs and the direct one for depthwise', () => {
    const wide = lowerCase(CASES[0], 0).lowered.launches[0];
    expect(wide.block).toEqual([256, 1, 1]);
    expect(wide.kernel.code).toContain('As[');
    const dw = lowerCase(CASES[2], 0).lowered.launches[0];
    expect(dw.kernel.code).not.toContain('As[');
  });

  it('falls back for integer Conv', () => {
    const c: Case = { name: 'int conv', op: 'Conv', attrs: {}, dtype: 'float32', shapes: [[[1, 1, 3, 3], [1, 1, 1, 1]], [[1, 1, 3, 3], [1, 1, 1, 1]]] };
    const node = nodeOf(c);
    const ctx: LowerContext = {
      node,
      inputs: [{ dtype: 'int32', shape: [1, 1, 3, 3] }, { dtype: 'int32', shape: [1, 1, 1, 1] }],
      outputs: [{ dtype: 'int32', shape: [1, 1, 3, 3] }],
      hostValue: () => undefined,
    };
    expect(() => getLowering('Conv')!.lower(ctx)).toThrow(/not handled/);
  });

  it.skipIf(!nvccPath())(`compiles every kernel with nvcc${nvccPath() ? '' : ' (skipped: nvcc not found)'}`, async () => {
    for (const c of CASES) for (const bnd of [0, 1] as const) {
      const { lowered } = lowerCase(c, bnd);
      for (const l of lowered.launches) all.set(l.kernel.name, l.kernel);
      for (const k of lowered.variants ?? []) all.set(k.name, k);
    }
    const failures = await compileAllWithNvcc(all.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 300_000);
});
