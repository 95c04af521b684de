// Loss lowerings (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss): launches are well-formed, kernel sets do
// not depend on concrete dims, fallbacks are reported, and every kernel (launched and variants) compiles with nvcc.
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/loss.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const str = (v: string): AttrValue => ({ type: 'string', value: v });

interface Case {
  name: string;
  op: 'NegativeLogLikelihoodLoss' | 'SoftmaxCrossEntropyLoss';
  dtype: DType;
  tdtype: DType;
  /** number of spatial dims (input rank = 2 + spatial) */
  spatial: number;
  reduction?: 'none' | 'sum' | 'mean';
  weight: boolean;
  ignore?: number;
  logProb?: boolean;
}

function ctxFor(c: Case, x: number[]): LowerContext {
  const attrs: Record<string, AttrValue> = {};
  if (c.reduction) attrs.reduction = str(c.reduction);
  if (c.ignore !== undefined) attrs.ignore_index = int(c.ignore);
  const [N, C, ...ds] = x;
  const tshape = [N, ...ds];
  const inputs: (TensorDesc | undefined)[] = [{ dtype: c.dtype, shape: x }, { dtype: c.tdtype, shape: tshape }];
  if (c.weight) inputs.push({ dtype: c.dtype, shape: [C] });
  const red = c.reduction ?? 'mean';
  const outputs: TensorDesc[] = [{ dtype: c.dtype, shape: red === 'none' ? tshape : [] }];
  if (c.logProb) outputs.push({ dtype: c.dtype, shape: x });
  const node = new Node({
    op: c.op,
    inputs: inputs.map((_, i) => `i${i}`),
    outputs: outputs.map((_, i) => `o${i}`),
    attrs,
  });
  return { node, inputs, outputs, hostValue: () => undefined };
}

function lower(ctx: LowerContext): Lowered {
  const lw = getLowering(ctx.node.op);
  if (!lw) throw new Error(`no lowering for ${ctx.node.op}`);
  return lw.lower(ctx);
}

/** two bindings of the same rank: small classes with spatial dims vs many classes (row variant for SCE when D == 1) */
function shapes(spatial: number): number[][] {
  const a = [3, 5, ...[4, 2, 3, 2, 2].slice(0, spatial)];
  const b = [2, 40, ...[1, 1, 1, 1, 1].slice(0, spatial)];
  const c = [7, 3, ...[2, 3, 2, 1, 2].slice(0, spatial)];
  return [a, b, c];
}

const kernelsOf = (l: Lowered): KernelSource[] => [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];
const names = (l: Lowered) => [...new Set(kernelsOf(l).map((k) => k.name))].sort();

const CASES: Case[] = [];
for (const op of ['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'] as const) {
  for (const dtype of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const reduction of [undefined, 'none', 'sum', 'mean'] as const) {
      for (const weight of [false, true]) {
        for (const ignore of [undefined, -1]) {
          for (const logProb of op === 'SoftmaxCrossEntropyLoss' ? [false, true] : [false]) {
            const spatial = (CASES.length % 4) === 3 ? 5 : CASES.length % 3;
            const tdtype: DType = CASES.length % 2 ? 'int32' : 'int64';
            CASES.push({
              name: `${op} ${dtype} ${reduction ?? 'default'}${weight ? ' weight' : ''}${ignore !== undefined ? ` ii=${ignore}` : ''}${logProb ? ' log_prob' : ''} rank ${2 + spatial} ${tdtype}`,
              op, dtype, tdtype, spatial, reduction, weight, ignore, logProb,
            });
          }
        }
      }
    }
  }
}

describe('loss lowerings', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const ls = shapes(c.spatial).map((x) => {
        const ctx = ctxFor(c, x);
        const l = lower(ctx);
        for (const la of l.launches) expect(checkLaunch(la, { inputs: ctx.inputs.length, outputs: ctx.outputs.length, scratch: l.scratch?.length ?? 0 })).toEqual([]);
        const red = (c.reduction ?? 'mean') !== 'none';
        expect(l.launches.length).toBe(red && c.op === 'SoftmaxCrossEntropyLoss' ? 2 : 1);
        return l;
      });
      for (const l of ls) expect(names(l)).toEqual(names(ls[0]));
    });
  }

  it('SCE picks the row variant for D == 1 with many classes, the thread variant otherwise', () => {
    const c: Case = { name: '', op: 'SoftmaxCrossEntropyLoss', dtype: 'float32', tdtype: 'int64', spatial: 0, weight: false, reduction: 'none' };
    const big = lower(ctxFor(c, [4, 100]));
    const small = lower(ctxFor(c, [4, 10]));
    expect(big.launches[0].kernel.name).toBe(small.variants![0].name);
    expect(small.launches[0].kernel.name).toBe(big.variants![0].name);
    expect(big.launches[0].block[0]).toBe(32);
  });

  it('reduced outputs launch the reduction even for empty inputs; none with no elements launches nothing', () => {
    const base = { name: '', dtype: 'float32' as DType, tdtype: 'int64' as DType, spatial: 1, weight: true, ignore: 0 };
    for (const op of ['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'] as const) {
      const mean = lower(ctxFor({ ...base, op, reduction: 'mean' }, [0, 3, 4]));
      expect(mean.launches.length).toBe(1);
      expect(mean.launches[0].grid).toEqual([1, 1, 1]);
      const none = lower(ctxFor({ ...base, op, reduction: 'none' }, [2, 3, 0]));
      expect(none.launches).toEqual([]);
      // same kernel set as a non-empty binding
      const full = lower(ctxFor({ ...base, op, reduction: 'mean' }, [2, 3, 4]));
      expect(names(mean)).toEqual(names(full));
      const fullNone = lower(ctxFor({ ...base, op, reduction: 'none' }, [2, 3, 4]));
      expect(names(none)).toEqual(names(fullNone));
    }
  });

  it('passes ignore_index and dims as arguments (kernel text independent of their values)', () => {
    const c: Case = { name: '', op: 'NegativeLogLikelihoodLoss', dtype: 'float32', tdtype: 'int64', spatial: 1, weight: true, ignore: 1, reduction: 'sum' };
    const a = lower(ctxFor(c, [2, 3, 4]));
    const b = lower(ctxFor({ ...c, ignore: -100 }, [5, 6, 7]));
    expect(names(a)).toEqual(names(b));
    const args = b.launches[0].args;
    expect(args[args.length - 1]).toEqual({ kind: 'i64', value: -100n });
    expect(args.slice(4, 7)).toEqual([{ kind: 'i64', value: 35n }, { kind: 'i64', value: 6n }, { kind: 'i64', value: 7n }]);
  });

  it('falls back for bad inputs (the reference reports them)', () => {
    const c: Case = { name: '', op: 'NegativeLogLikelihoodLoss', dtype: 'float32', tdtype: 'int64', spatial: 0, weight: false };
    const bad = (ctx: LowerContext) => expect(() => lower(ctx)).toThrow(Unsupported);
    bad(ctxFor({ ...c, tdtype: 'float32' }, [2, 3]));
    bad(ctxFor({ ...c, dtype: 'int32' }, [2, 3]));
    const ctx = ctxFor(c, [2, 3]);
    bad({ ...ctx, inputs: [ctx.inputs[0], { dtype: 'int64', shape: [3] }] });
    bad({ ...ctx, inputs: [ctx.inputs[0], ctx.inputs[1], { dtype: 'float32', shape: [4] }] });
    bad({ ...ctx, node: new Node({ op: c.op, inputs: ['a', 'b'], outputs: ['y'], attrs: { reduction: str('max') } }) });
  });

  it.skipIf(!nvccPath())(`all kernels compile with nvcc${(!nvccPath()) ? ' (skipped: nvcc not installed)' : ''}`, async () => {
    const all: KernelSource[] = [];
    for (const c of CASES) for (const x of shapes(c.spatial)) all.push(...kernelsOf(lower(ctxFor(c, x))));
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 300_000);
});
