// Normalization lowerings: launches are well-formed, kernel sets do not depend on concrete dims, and every
// kernel (launched and variants) compiles with nvcc when it is installed.
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/norm.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
const float = (v: number): AttrValue => ({ type: 'float', value: v });

interface Case {
  name: string;
  op: string;
  attrs?: Record<string, AttrValue>;
  /** input shapes per binding (undefined = omitted optional input) */
  inputs: (shape: (k: number) => number[]) => (number[] | undefined)[];
  outputs: (shape: (k: number) => number[]) => (number[] | undefined)[];
  dtype?: DType;
  statDtype?: DType;
}

function lower(c: Case, binding: number): { l: Lowered; ctx: LowerContext } {
  // binding 0 and 1 give different concrete dims with the same ranks
  const dims = binding === 0 ? [2, 3, 4, 5, 6] : [3, 8, 7, 9, 2];
  const shape = (k: number) => [dims[k % dims.length]];
  const ins = c.inputs((k) => shape(k).map((d) => d));
  const outs = c.outputs((k) => shape(k).map((d) => d));
  const dtype = c.dtype ?? 'float32';
  const node = new Node({
    op: c.op,
    inputs: ins.map((s, i) => (s ? `i${i}` : '')),
    outputs: outs.map((s, i) => (s ? `o${i}` : '')),
    attrs: c.attrs ?? {},
  });
  const inputs: (TensorDesc | undefined)[] = ins.map((s) => (s ? { dtype, shape: s } : undefined));
  const outputs: TensorDesc[] = outs.map((s, i) => ({ dtype: i === 0 ? dtype : c.statDtype ?? 'float32', shape: s ?? [] }));
  const ctx: LowerContext = { node, inputs, outputs, hostValue: () => undefined };
  const lw = getLowering(c.op);
  if (!lw) throw new Error(`no lowering for ${c.op}`);
  return { l: lw.lower(ctx), ctx };
}

const D = (...ks: number[]) => (s: (k: number) => number[]) => ks.map((k) => s(k)[0]);

const CASES: Case[] = [];
for (const dtype of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
  CASES.push(
    // LayerNormalization: default axis, scale/bias over the last dim, Mean/InvStdDev
    { name: `ln default ${dtype}`, op: 'LayerNormalization', dtype, inputs: (s) => [D(0, 1, 2)(s), D(2)(s), D(2)(s)], outputs: (s) => [D(0, 1, 2)(s), [...D(0, 1)(s), 1], [...D(0, 1)(s), 1]] },
    // axis 1 with scale broadcast over a trailing dim (general variant launched), no bias, no stats
    { name: `ln axis1 bcast ${dtype}`, op: 'LayerNormalization', dtype, attrs: { axis: int(1), epsilon: float(0.1) }, inputs: (s) => [D(0, 1, 2)(s), D(2)(s)], outputs: (s) => [D(0, 1, 2)(s)] },
    { name: `rms axis -2 ${dtype}`, op: 'RMSNormalization', dtype, attrs: { axis: int(-2) }, inputs: (s) => [D(0, 1, 2, 3)(s), D(2, 3)(s)], outputs: (s) => [D(0, 1, 2, 3)(s)] },
    { name: `group ${dtype}`, op: 'GroupNormalization', dtype, attrs: { num_groups: int(1) }, inputs: (s) => [D(0, 1, 2, 3)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1, 2, 3)(s)] },
    { name: `instance ${dtype}`, op: 'InstanceNormalization', dtype, inputs: (s) => [D(0, 1, 2)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1, 2)(s)] },
    { name: `batchnorm ${dtype}`, op: 'BatchNormalization', dtype, inputs: (s) => [D(0, 1, 2, 3)(s), D(1)(s), D(1)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1, 2, 3)(s)] },
    { name: `lp p1 ${dtype}`, op: 'LpNormalization', dtype, attrs: { axis: int(1), p: int(1) }, inputs: (s) => [D(0, 1, 2)(s)], outputs: (s) => [D(0, 1, 2)(s)] },
    { name: `lp p2 ${dtype}`, op: 'LpNormalization', dtype, inputs: (s) => [D(0, 1, 2)(s)], outputs: (s) => [D(0, 1, 2)(s)] },
    { name: `mvn ${dtype}`, op: 'MeanVarianceNormalization', dtype, inputs: (s) => [D(0, 1, 2, 3)(s)], outputs: (s) => [D(0, 1, 2, 3)(s)] },
    { name: `mvn axes ${dtype}`, op: 'MeanVarianceNormalization', dtype, attrs: { axes: ints([1, -1]) }, inputs: (s) => [D(0, 1, 2)(s)], outputs: (s) => [D(0, 1, 2)(s)] },
    { name: `lrn ${dtype}`, op: 'LRN', dtype, attrs: { size: int(3), alpha: float(2e-4), beta: float(0.5), bias: float(2) }, inputs: (s) => [D(0, 1, 2, 3)(s)], outputs: (s) => [D(0, 1, 2, 3)(s)] },
  );
}
// LayerNorm with stats in float16 stash, and double stash on float32 data
CASES.push(
  { name: 'ln stash f16', op: 'LayerNormalization', dtype: 'float16', statDtype: 'float16', attrs: { stash_type: int(10) }, inputs: (s) => [D(0, 1)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1)(s), [D(0)(s)[0], 1], [D(0)(s)[0], 1]] },
  { name: 'ln stash f64', op: 'LayerNormalization', dtype: 'float32', statDtype: 'float64', attrs: { stash_type: int(11) }, inputs: (s) => [D(0, 1)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1)(s), [D(0)(s)[0], 1], [D(0)(s)[0], 1]] },
  // only InvStdDev wanted
  { name: 'ln inv only', op: 'LayerNormalization', inputs: (s) => [D(0, 1)(s), D(1)(s), D(1)(s)], outputs: (s) => [D(0, 1)(s), undefined, [D(0)(s)[0], 1]] },
);

const kernelsOf = (l: Lowered): KernelSource[] => [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];

describe('normalization lowerings', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const a = lower(c, 0);
      const b = lower(c, 1);
      for (const { l, ctx } of [a, b]) {
        expect(l.launches.length).toBe(1);
        for (const x of l.launches) expect(checkLaunch(x, { inputs: ctx.inputs.length, outputs: ctx.outputs.length, scratch: l.scratch?.length ?? 0 })).toEqual([]);
      }
      const names = (l: Lowered) => kernelsOf(l).map((k) => k.name).sort();
      expect(names(a.l)).toEqual(names(b.l));
    });
  }

  it('picks the row variant when scale/bias match the normalized dims, the general one otherwise', () => {
    const mk = (scale: number[]) => {
      const node = new Node({ op: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y'], attrs: { axis: int(1) } });
      const ctx: LowerContext = { node, inputs: [{ dtype: 'float32', shape: [4, 3, 5] }, { dtype: 'float32', shape: scale }], outputs: [{ dtype: 'float32', shape: [4, 3, 5] }], hostValue: () => undefined };
      return getLowering('LayerNormalization')!.lower(ctx);
    };
    const row = mk([3, 5]);
    const gen = mk([5]);
    expect(row.launches[0].args.length).toBe(6);
    expect(gen.launches[0].args.length).toBe(6 + 6);
    expect(row.launches[0].kernel.name).toBe(gen.variants![0].name);
  });

  it('falls back for training-mode BatchNormalization and bad shapes', () => {
    const bn = new Node({ op: 'BatchNormalization', inputs: ['x', 's', 'b', 'm', 'v'], outputs: ['y', 'rm', 'rv'], attrs: { training_mode: int(1) } });
    const f = (shape: number[]): TensorDesc => ({ dtype: 'float32', shape });
    const ctx: LowerContext = { node: bn, inputs: [f([2, 3, 4]), f([3]), f([3]), f([3]), f([3])], outputs: [f([2, 3, 4]), f([3]), f([3])], hostValue: () => undefined };
    expect(() => getLowering('BatchNormalization')!.lower(ctx)).toThrow(Unsupported);
    const gn = new Node({ op: 'GroupNormalization', inputs: ['x', 's', 'b'], outputs: ['y'], attrs: { num_groups: int(2) } });
    const gctx: LowerContext = { node: gn, inputs: [f([2, 4, 3]), f([2]), f([2])], outputs: [f([2, 4, 3])], hostValue: () => undefined };
    expect(() => getLowering('GroupNormalization')!.lower(gctx)).toThrow(Unsupported);
    const xi = new Node({ op: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y'] });
    const ictx: LowerContext = { node: xi, inputs: [{ dtype: 'int32', shape: [2, 3] }, { dtype: 'int32', shape: [3] }], outputs: [{ dtype: 'int32', shape: [2, 3] }], hostValue: () => undefined };
    expect(() => getLowering('LayerNormalization')!.lower(ictx)).toThrow(Unsupported);
  });

  it('handles zero-size inputs without launches (stats still computed for empty rows)', () => {
    const f = (shape: number[]): TensorDesc => ({ dtype: 'float32', shape });
    const ln = new Node({ op: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y', 'm', 'i'] });
    const empty = getLowering('LayerNormalization')!.lower({ node: ln, inputs: [f([0, 4]), f([4])], outputs: [f([0, 4]), f([0, 1]), f([0, 1])], hostValue: () => undefined });
    expect(empty.launches).toEqual([]);
    const emptyRows = getLowering('LayerNormalization')!.lower({ node: ln, inputs: [f([3, 0]), f([0])], outputs: [f([3, 0]), f([3, 1]), f([3, 1])], hostValue: () => undefined });
    expect(emptyRows.launches.length).toBe(1);
    for (const op of ['LpNormalization', 'MeanVarianceNormalization', 'LRN']) {
      const node = new Node({ op, inputs: ['x'], outputs: ['y'], attrs: op === 'LRN' ? { size: int(3) } : {} });
      const l = getLowering(op)!.lower({ node, inputs: [f([2, 0, 3, 4])], outputs: [f([2, 0, 3, 4])], hostValue: () => undefined });
      expect(l.launches).toEqual([]);
    }
  });

  it('uses one-warp rows for short rows and 1024-thread rows for long ones', () => {
    const f = (shape: number[]): TensorDesc => ({ dtype: 'float32', shape });
    const ln = new Node({ op: 'LayerNormalization', inputs: ['x', 's'], outputs: ['y'] });
    const short = getLowering('LayerNormalization')!.lower({ node: ln, inputs: [f([1000, 7]), f([7])], outputs: [f([1000, 7])], hostValue: () => undefined });
    expect(short.launches[0].block).toEqual([32, 8, 1]);
    expect(short.launches[0].grid).toEqual([125, 1, 1]);
    const long = getLowering('LayerNormalization')!.lower({ node: ln, inputs: [f([2, 100000]), f([100000])], outputs: [f([2, 100000])], hostValue: () => undefined });
    expect(long.launches[0].block).toEqual([1024, 1, 1]);
    expect(long.launches[0].kernel.name).toBe(short.launches[0].kernel.name);
  });

  it.skipIf(!nvccPath())(`compiles every kernel with nvcc${nvccPath() ? '' : ' (skipped: nvcc not found)'}`, async () => {
    const all: KernelSource[] = [];
    for (const c of CASES) for (const bnd of [0, 1]) all.push(...kernelsOf(lower(c, bnd).l));
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 300_000);
});
