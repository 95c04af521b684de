// Lowerings of the quantization family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul.
// Checks launches against kernel signatures, kernel sets independent of concrete dims, fallbacks for what has
// no device kernel, and compiles every kernel with nvcc (skipped without nvcc).
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { onnxCode } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/quantize.js';
import '../../src/ref/kernels/index.js';
import { getKernel, type KernelContext, type RuntimeValue } from '../../src/ref/kernel.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });

/** an input: dtype and shape, or null for an omitted optional input */
type In = { dtype: DType; shape: number[] } | null;

interface Case {
  name: string;
  op: string;
  /** inputs for two bindings of the same ranks */
  ins: [In[], In[]];
  attrs?: Record<string, AttrValue>;
}

const NAMES: Record<string, string[]> = {
  QuantizeLinear: ['x', 'y_scale', 'y_zero_point'],
  DequantizeLinear: ['x', 'x_scale', 'x_zero_point'],
  DynamicQuantizeLinear: ['x'],
  QLinearMatMul: ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'],
};
const OUTS: Record<string, string[]> = {
  QuantizeLinear: ['y'], DequantizeLinear: ['y'], DynamicQuantizeLinear: ['y', 'y_scale', 'y_zero_point'], QLinearMatMul: ['y'],
};

const t = (dtype: DType, ...shape: number[]): In => ({ dtype, shape });

function cases(): Case[] {
  const cs: Case[] = [];
  // ---- QuantizeLinear
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      cs.push({ name: `Q/${xd}/${sd}/tensor/uint8`, op: 'QuantizeLinear', ins: [[t(xd, 6), t(sd), t('uint8')], [t(xd, 17), t(sd), t('uint8')]] });
    }
  }
  for (const target of ['int8', 'uint8', 'int16', 'uint16'] as DType[]) {
    cs.push({ name: `Q/f32/tensor/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 16), t('float32'), t(target)], [t('float32', 1000), t('float32'), t(target)]] });
    cs.push({ name: `Q/f32/axis/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 1, 3, 3, 2), t('float32', 3), t(target, 3)], [t('float32', 2, 5, 3, 4), t('float32', 5), t(target, 5)]] });
    cs.push({ name: `Q/f32/blocked/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32', 3, 2), t(target, 3, 2)], [t('float32', 5, 9), t('float32', 5, 5), t(target, 5, 5)]], attrs: { axis: int(1), block_size: int(2) } });
    cs.push({ name: `Q/f32/nozp/output_dtype/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32', 3, 2), null], [t('float32', 6, 8), t('float32', 6, 4), null]], attrs: { axis: int(1), block_size: int(2), output_dtype: int(onnxCode(target)) } });
  }
  cs.push({ name: 'Q/default-uint8-noZp', op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32'), null], [t('float32', 7, 2), t('float32'), null]] });
  cs.push({ name: 'Q/default-uint8-2inputs', op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32')], [t('float32', 7, 2), t('float32')]] });
  cs.push({ name: 'Q/int32-x', op: 'QuantizeLinear', ins: [[t('int32', 3, 4), t('float32'), t('int8')], [t('int32', 7, 2), t('float32'), t('int8')]] });
  cs.push({ name: 'Q/axis-neg', op: 'QuantizeLinear', ins: [[t('float32', 2, 3, 4), t('float32', 4), t('uint8', 4)], [t('float32', 5, 1, 7), t('float32', 7), t('uint8', 7)]], attrs: { axis: int(-1) } });
  cs.push({ name: 'Q/axis0-blocked-3d', op: 'QuantizeLinear', ins: [[t('float32', 6, 3, 2), t('float32', 2, 3, 2), t('int8', 2, 3, 2)], [t('float32', 7, 2, 5), t('float32', 3, 2, 5), t('int8', 3, 2, 5)]], attrs: { axis: int(0), block_size: int(3) } });
  cs.push({ name: 'Q/scalar-x', op: 'QuantizeLinear', ins: [[t('float32'), t('float32'), t('uint8')], [t('float32'), t('float32', 1), t('uint8', 1)]] });
  cs.push({ name: 'Q/scale[1]', op: 'QuantizeLinear', ins: [[t('float32', 4, 3), t('float32', 1), t('uint8', 1)], [t('float32', 2, 9), t('float32', 1), t('uint8', 1)]] });
  for (const p of ['float16', 'bfloat16', 'float32', 'float64'] as DType[]) {
    cs.push({ name: `Q/precision-${p}`, op: 'QuantizeLinear', ins: [[t('float32', 6), t('float32'), t('int16')], [t('float32', 60), t('float32'), t('int16')]], attrs: { precision: int(onnxCode(p)) } });
  }
  cs.push({ name: 'Q/empty', op: 'QuantizeLinear', ins: [[t('float32', 0, 3), t('float32'), t('uint8')], [t('float32', 2, 0), t('float32'), t('uint8')]] });
  cs.push({ name: 'Q/saturate0', op: 'QuantizeLinear', ins: [[t('float32', 6), t('float32'), t('int8')], [t('float32', 7), t('float32'), t('int8')]], attrs: { saturate: int(0) } });
  // ---- DequantizeLinear
  for (const xd of ['int8', 'uint8', 'int16', 'uint16', 'int32'] as DType[]) {
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      cs.push({ name: `DQ/${xd}/${sd}/tensor`, op: 'DequantizeLinear', ins: [[t(xd, 4), t(sd), t(xd)], [t(xd, 40), t(sd), t(xd)]] });
    }
    cs.push({ name: `DQ/${xd}/axis`, op: 'DequantizeLinear', ins: [[t(xd, 1, 3, 3, 2), t('float32', 3), t(xd, 3)], [t(xd, 2, 4, 5, 1), t('float32', 4), t(xd, 4)]] });
    cs.push({ name: `DQ/${xd}/blocked`, op: 'DequantizeLinear', ins: [[t(xd, 1, 4, 3, 2), t('float32', 1, 2, 3, 2), t(xd, 1, 2, 3, 2)], [t(xd, 2, 5, 3, 3), t('float32', 2, 3, 3, 3), t(xd, 2, 3, 3, 3)]], attrs: { axis: int(1), block_size: int(2) } });
    cs.push({ name: `DQ/${xd}/nozp`, op: 'DequantizeLinear', ins: [[t(xd, 5), t('float32'), null], [t(xd, 9), t('float32'), null]] });
  }
  for (const od of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sd of ['float32', 'float16', 'float64'] as DType[]) {
      cs.push({ name: `DQ/output_dtype-${od}/scale-${sd}`, op: 'DequantizeLinear', ins: [[t('uint8', 3, 4), t(sd, 4), t('uint8', 4)], [t('uint8', 9, 2), t(sd, 2), t('uint8', 2)]], attrs: { axis: int(-1), output_dtype: int(onnxCode(od)) } });
    }
  }
  cs.push({ name: 'DQ/empty', op: 'DequantizeLinear', ins: [[t('uint8', 0), t('float32'), t('uint8')], [t('uint8', 0), t('float32'), t('uint8')]] });
  // ---- DynamicQuantizeLinear
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    cs.push({ name: `DynQ/${xd}`, op: 'DynamicQuantizeLinear', ins: [[t(xd, 6)], [t(xd, 100000)]] });
    cs.push({ name: `DynQ/${xd}/2d`, op: 'DynamicQuantizeLinear', ins: [[t(xd, 3, 4)], [t(xd, 0, 4)]] });
  }
  // ---- QLinearMatMul
  for (const ad of ['int8', 'uint8'] as DType[]) {
    for (const sd of ['float32', 'float16'] as DType[]) {
      const q2 = (M: number, K: number, N: number): In[] => [t(ad, M, K), t(sd, 1), t(ad, 1), t(ad, K, N), t(sd, 1), t(ad, 1), t(sd, 1), t(ad, 1)];
      cs.push({ name: `QMM/2D/${ad}/${sd}`, op: 'QLinearMatMul', ins: [q2(2, 4, 3), q2(17, 33, 9)] });
      const q3 = (B: number, M: number, K: number, N: number): In[] => [t(ad, B, M, K), t(sd, 1), t(ad, 1), t(ad, B, K, N), t(sd, 1), t(ad, 1), t(sd, 1), t(ad, 1)];
      cs.push({ name: `QMM/3D/${ad}/${sd}`, op: 'QLinearMatMul', ins: [q3(2, 2, 4, 3), q3(3, 5, 7, 2)] });
    }
  }
  const qb = (aS: number[], bS: number[], M: number, N: number, ys: DType = 'float32'): In[] =>
    [t('uint8', ...aS), t('float32', M), t('uint8', M), t('int8', ...bS), t('float16', N), t('int8', N), t(ys), t('int8')];
  cs.push({ name: 'QMM/broadcast-per-row-col', op: 'QLinearMatMul', ins: [qb([2, 1, 3, 4], [5, 4, 6], 3, 6), qb([1, 4, 2, 5], [4, 5, 7], 2, 7)] });
  cs.push({ name: 'QMM/scalar-scales', op: 'QLinearMatMul', ins: [
    [t('int8', 3, 4), t('float32'), t('int8'), t('int8', 4, 5), t('float32'), t('int8'), t('float32'), t('uint8')],
    [t('int8', 8, 2), t('float32'), t('int8'), t('int8', 2, 1), t('float32'), t('int8'), t('float32'), t('uint8')]] });
  cs.push({ name: 'QMM/1D-a', op: 'QLinearMatMul', ins: [
    [t('int8', 4), t('float32'), t('int8'), t('int8', 2, 4, 5), t('float32'), t('int8'), t('float32'), t('int8')],
    [t('int8', 7), t('float32'), t('int8'), t('int8', 3, 7, 2), t('float32'), t('int8'), t('float32'), t('int8')]] });
  cs.push({ name: 'QMM/1D-b', op: 'QLinearMatMul', ins: [
    [t('uint8', 3, 4), t('float32', 3), t('uint8', 3), t('uint8', 4), t('float32'), t('uint8'), t('float32'), t('uint8')],
    [t('uint8', 5, 2), t('float32', 5), t('uint8', 5), t('uint8', 2), t('float32'), t('uint8'), t('float32'), t('uint8')]] });
  cs.push({ name: 'QMM/empty', op: 'QLinearMatMul', ins: [
    [t('int8', 0, 4), t('float32'), t('int8'), t('int8', 4, 5), t('float32'), t('int8'), t('float32'), t('int8')],
    [t('int8', 3, 0), t('float32'), t('int8'), t('int8', 0, 5), t('float32'), t('int8'), t('float32'), t('int8')]] });
  return cs;
}

function makeNode(op: string, ins: In[], attrs: Record<string, AttrValue> = {}): Node {
  return new Node({ op, inputs: ins.map((d, i) => (d ? NAMES[op][i] : '')), outputs: OUTS[op], attrs });
}

/** a host tensor for the reference run (scales 1, everything else 0) */
function refInput(op: string, i: number, d: In): Tensor | null {
  if (!d) return null;
  const name = NAMES[op][i];
  if (name.endsWith('scale')) return Tensor.from(d.dtype, d.shape, new Array(d.shape.reduce((a, b) => a * b, 1)).fill(1));
  return Tensor.zeros(d.dtype, d.shape);
}

/** output types from the reference interpreter (shape + dtype) */
function refOutputs(op: string, node: Node, ins: In[]): TensorDesc[] {
  const vals: RuntimeValue[] = ins.map((d, i) => refInput(op, i, d));
  const ctx: KernelContext = {
    node, opset: 23, inputs: vals,
    input: (i) => vals[i] as Tensor,
    optionalInput: (i) => (vals[i] ?? undefined) as Tensor | undefined,
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m) => { throw new Error(m); },
  };
  return getKernel(op)!(ctx).map((v) => ({ dtype: (v as Tensor).dtype, shape: (v as Tensor).shape }));
}

function lower(c: Case, ins: In[]): Lowered {
  const node = makeNode(c.op, ins, c.attrs);
  const outs = refOutputs(c.op, node, ins);
  const ctx: LowerContext = { node, inputs: ins.map((d) => d ?? undefined), outputs: outs, hostValue: () => undefined };
  return getLowering(c.op)!.lower(ctx);
}

const kernelsOf = (l: Lowered): KernelSource[] => [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];
const nameSet = (l: Lowered) => [...new Set(kernelsOf(l).map((k) => k.name))].sort();

const ALL = cases();

describe('quantization lowerings', () => {
  const all: KernelSource[] = [];
  for (const c of ALL) {
    it(c.name, () => {
      const [a, b] = c.ins.map((ins) => lower(c, ins));
      c.ins.forEach((ins, j) => {
        const l = [a, b][j];
        for (const launch of l.launches) {
          expect(checkLaunch(launch, { inputs: ins.length, outputs: OUTS[c.op].length, scratch: l.scratch?.length ?? 0 })).toEqual([]);
          // omitted optional inputs are never referenced
          for (const arg of launch.args) if ('in' in arg) expect(ins[arg.in]).not.toBeNull();
        }
        all.push(...kernelsOf(l));
      });
      expect(nameSet(a)).toEqual(nameSet(b));
      expect(kernelsOf(a).length).toBeGreaterThan(0);
    });
  }

  it('launch geometry and arguments for the common layouts', () => {
    // blocked: x [3,4], scale [3,2], axis 1, block 2 → n 4, inner 1, so 2, sa 1, si 1
    const l = lower({ name: '', op: 'QuantizeLinear', ins: [[], []], attrs: { axis: int(1), block_size: int(2) } }, [t('float32', 3, 4), t('float32', 3, 2), t('uint8', 3, 2)]);
    const args = l.launches[0].args.slice(4).map((x) => ('kind' in x && x.kind === 'i64' ? Number(x.value) : NaN));
    expect(args).toEqual([12, 4, 1, 4, 2, 2, 1, 1]);
    // per-axis: x [1,3,3,2] axis 1 → n 3, inner 6
    const l2 = lower({ name: '', op: 'DequantizeLinear', ins: [[], []] }, [t('uint8', 1, 3, 3, 2), t('float32', 3), t('uint8', 3)]);
    const args2 = l2.launches[0].args.slice(4).map((x) => ('kind' in x && x.kind === 'i64' ? Number(x.value) : NaN));
    expect(args2).toEqual([18, 18, 6, 3, 1, 0, 1, 0]);
    // DynamicQuantizeLinear: reduce (1 block) then quantize, 8-byte scratch
    const l3 = lower({ name: '', op: 'DynamicQuantizeLinear', ins: [[], []] }, [t('float32', 3, 4)]);
    expect(l3.launches.map((x) => x.grid[0])).toEqual([1, 1]);
    expect(l3.scratch).toEqual([8]);
  });

  it('falls back for what it does not generate', () => {
    const bad: { op: string; ins: In[]; attrs?: Record<string, AttrValue>; outs: TensorDesc[] }[] = [
      { op: 'QuantizeLinear', ins: [t('float32', 5), t('float32'), t('float8e4m3fn', 1)], outs: [{ dtype: 'float8e4m3fn', shape: [5] }] },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), t('int4', 3)], outs: [{ dtype: 'int4', shape: [3, 4] }], attrs: { axis: int(0) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), t('uint2', 3)], outs: [{ dtype: 'uint2', shape: [3, 4] }], attrs: { axis: int(0) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), null], outs: [{ dtype: 'float4e2m1', shape: [3, 4] }], attrs: { axis: int(0), output_dtype: int(onnxCode('float4e2m1')) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 5), t('uint8', 5)], outs: [{ dtype: 'uint8', shape: [3, 4] }] },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32'), t('int8')], outs: [{ dtype: 'int8', shape: [3, 4] }], attrs: { output_dtype: int(onnxCode('uint8')) } },
      { op: 'DequantizeLinear', ins: [t('float8e4m3fn', 5), t('float32'), null], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('int4', 5), t('float32'), t('int4', 1)], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('int64', 5), t('float32'), null], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('uint8', 3, 4), t('float32', 3, 4), t('uint8', 3, 4)], outs: [{ dtype: 'float32', shape: [3, 4] }], attrs: { axis: int(1), block_size: int(2) } },
      { op: 'QLinearMatMul', ins: [t('int16', 2, 4), t('float32'), t('int16'), t('int16', 4, 3), t('float32'), t('int16'), t('float32'), t('int16')], outs: [{ dtype: 'int16', shape: [2, 3] }] },
      { op: 'QLinearMatMul', ins: [t('int8', 2, 4), t('float32', 3), t('int8'), t('int8', 4, 3), t('float32'), t('int8'), t('float32'), t('int8')], outs: [{ dtype: 'int8', shape: [2, 3] }] },
      { op: 'QLinearMatMul', ins: [t('int8', 2, 4), t('float32'), t('int8'), t('int8', 4, 3), t('float32'), t('int8'), t('float32', 2), t('int8', 2)], outs: [{ dtype: 'int8', shape: [2, 3] }] },
      { op: 'DynamicQuantizeLinear', ins: [t('int32', 4)], outs: [{ dtype: 'uint8', shape: [4] }, { dtype: 'int32', shape: [] }, { dtype: 'uint8', shape: [] }] },
    ];
    for (const c of bad) {
      const node = makeNode(c.op, c.ins, c.attrs);
      const ctx: LowerContext = { node, inputs: c.ins.map((d) => d ?? undefined), outputs: c.outs, hostValue: () => undefined };
      expect(() => getLowering(c.op)!.lower(ctx), `${c.op} ${JSON.stringify(c.ins)}`).toThrow(Unsupported);
    }
  });

  it.skipIf(!nvccPath())('compiles every kernel with nvcc (skipped: nvcc not found)', async () => {
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});
