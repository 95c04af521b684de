// Residual Add fused into LayerNormalization / RMSNormalization (lowerNormWithPreAdd): launches are
// well-formed, the kernel set does not depend on dims, operand broadcasting by leading dims, the sum
// written as a second output, refusals, and nvcc compilation.
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { checkLaunch, Unsupported, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { lowerNormWithPreAdd } from '../../src/codegen/ops/norm.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const T = (dtype: DType, shape: number[]): TensorDesc => ({ dtype, shape });
const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });

interface Case {
  op: 'LayerNormalization' | 'RMSNormalization';
  dtype: DType;
  x: number[];
  a: number[];
  b: number[];
  scale: number[];
  bias?: number[];
  sum: boolean;
  stats?: boolean;
  attrs?: Record<string, AttrValue>;
}

/** unit layout as the engine builds it: inputs [X (the sum, unread), scale, bias|-, a, b]; outputs [Y, Mean|-, Inv|-, sum?] */
function lower(c: Case): Lowered {
  const rms = c.op === 'RMSNormalization';
  const node = new Node({
    op: c.op,
    inputs: ['s', 'scale', ...(c.bias && !rms ? ['bias'] : [])],
    outputs: ['y', ...(c.stats ? ['mean', 'inv'] : [])],
    attrs: c.attrs ?? {},
  });
  const axis = ((c.attrs?.axis?.value as bigint | undefined) !== undefined ? Number(c.attrs!.axis!.value) : -1);
  const ax = axis < 0 ? axis + c.x.length : axis;
  const stat = [...c.x.slice(0, ax), ...c.x.slice(ax).map(() => 1)];
  const inputs = [T(c.dtype, c.x), T(c.dtype, c.scale), c.bias ? T(c.dtype, c.bias) : undefined, T(c.dtype, c.a), T(c.dtype, c.b)];
  const outputs = [T(c.dtype, c.x), c.stats ? T('float32', stat) : T('float32', []), c.stats ? T('float32', stat) : T('float32', []), ...(c.sum ? [T(c.dtype, c.x)] : [])];
  const r = lowerNormWithPreAdd({ node, inputs, outputs, hostValue: () => undefined }, { a: 3, b: 4, sum: c.sum ? 3 : undefined });
  for (const l of r.launches) expect(checkLaunch(l, { inputs: 5, outputs: outputs.length, scratch: 0 })).toEqual([]);
  return r;
}

const kernelsOf = (r: Lowered): string[] => [...r.launches.map((l) => l.kernel.name), ...(r.variants ?? []).map((k) => k.name)].sort();
const refsOf = (a: readonly object[]): string[] => a.flatMap((x) => ('in' in x ? [`i${(x as { in: number }).in}`] : 'out' in x ? [`o${(x as { out: number }).out}`] : []));
const i64s = (r: Lowered): number[] => r.launches[0].args.flatMap((a) => ('kind' in a && a.kind === 'i64' ? [Number(a.value)] : []));

function pairs(): [Case, Case][] {
  const out: [Case, Case][] = [];
  for (const dtype of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sum of [true, false]) {
      const ln = (B: number, S: number, H: number): Case => ({ op: 'LayerNormalization', dtype, x: [B, S, H], a: [B, S, H], b: [B, S, H], scale: [H], bias: [H], sum });
      out.push([ln(2, 3, 64), ln(1, 7, 1000)]);
      // a position embedding [1,S,H] broadcast over the batch
      const pe = (B: number, S: number, H: number): Case => ({ op: 'LayerNormalization', dtype, x: [B, S, H], a: [B, S, H], b: [1, S, H], scale: [H], bias: [H], sum, stats: true });
      out.push([pe(2, 3, 64), pe(4, 9, 4096)]);
      const rms = (B: number, S: number, H: number): Case => ({ op: 'RMSNormalization', dtype, x: [B, S, H], a: [S, H], b: [B, S, H], scale: [H], sum });
      out.push([rms(2, 3, 64), rms(5, 2, 9000)]);
      // scale broadcast over the normalized dims: the general variant
      const gen = (B: number, S: number, H: number): Case => ({ op: 'LayerNormalization', dtype, x: [B, S, H], a: [B, S, H], b: [B, S, H], scale: [S, 1], sum, attrs: { axis: int(1) } });
      out.push([gen(2, 3, 4), gen(3, 5, 6)]);
    }
  }
  return out;
}

describe('residual Add fused into the normalization', () => {
  it('launches are well-formed and the kernel set does not depend on dims', () => {
    for (const [c1, c2] of pairs()) {
      const r1 = lower(c1), r2 = lower(c2);
      expect(r1.launches).toHaveLength(1);
      expect(kernelsOf(r1)).toEqual(kernelsOf(r2));
    }
  });

  it('reads the Add operands (not X), writes Y and the sum; operand rows broadcast by modulo', () => {
    const r = lower({ op: 'LayerNormalization', dtype: 'float16', x: [2, 3, 8], a: [2, 3, 8], b: [1, 3, 8], scale: [8], bias: [8], sum: true });
    expect(refsOf(r.launches[0].args)).toEqual(['i3', 'i4', 'i1', 'i2', 'o0', 'o3']);
    // rows n ra rb
    expect(i64s(r)).toEqual([6, 8, 6, 3]);
    const code = r.launches[0].kernel.code;
    expect(code).toContain('sum_out[o] =');
    // the sum is rounded to X's dtype before the statistics (as a separate Add would store it)
    expect(code).toContain('chm_h2f(chm_f2h(');
    const s = lower({ op: 'RMSNormalization', dtype: 'float32', x: [2, 3, 8], a: [8], b: [2, 3, 8], scale: [8], sum: false });
    expect(refsOf(s.launches[0].args)).toEqual(['i3', 'i4', 'i1', 'o0']);
    expect(i64s(s)).toEqual([6, 8, 1, 6]);
    expect(s.launches[0].kernel.code).not.toContain('sum_out');
    // normalizing over the last two dims with an operand [S, H]: its rows are whole normalized rows
    const t = lower({ op: 'LayerNormalization', dtype: 'float32', x: [2, 3, 8], a: [3, 8], b: [2, 3, 8], scale: [3, 8], sum: true, attrs: { axis: int(1) } });
    expect(i64s(t)).toEqual([2, 24, 1, 2]);
  });

  it('writing the sum or not are different kernels', () => {
    const a = lower({ op: 'LayerNormalization', dtype: 'float16', x: [2, 3, 8], a: [2, 3, 8], b: [2, 3, 8], scale: [8], bias: [8], sum: true });
    const b = lower({ op: 'LayerNormalization', dtype: 'float16', x: [2, 3, 8], a: [2, 3, 8], b: [2, 3, 8], scale: [8], bias: [8], sum: false });
    expect(kernelsOf(a)).not.toEqual(kernelsOf(b));
  });

  it('refuses operands that do not broadcast by leading dims, or have another dtype', () => {
    const bad: Case[] = [
      // broadcasts that are not over leading dims only
      { op: 'LayerNormalization', dtype: 'float32', x: [2, 3, 8], a: [2, 3, 8], b: [2, 1, 8], scale: [8], sum: true },
      { op: 'LayerNormalization', dtype: 'float32', x: [2, 3, 8], a: [2, 3, 8], b: [2, 3, 1], scale: [8], sum: true },
      { op: 'LayerNormalization', dtype: 'float32', x: [2, 3, 8], a: [2, 3, 8], b: [3, 8], scale: [3, 8], sum: true, attrs: { axis: int(0) } },
    ];
    for (const c of bad) expect(() => lower(c)).toThrow(Unsupported);
    const node = new Node({ op: 'LayerNormalization', inputs: ['s', 'scale'], outputs: ['y'] });
    expect(() => lowerNormWithPreAdd({ node, inputs: [T('float16', [2, 8]), T('float16', [8]), undefined, T('float32', [2, 8]), T('float16', [2, 8])], outputs: [T('float16', [2, 8])], hostValue: () => undefined }, { a: 3, b: 4 })).toThrow(Unsupported);
    const gn = new Node({ op: 'GroupNormalization', inputs: ['s', 'scale', 'bias'], outputs: ['y'] });
    expect(() => lowerNormWithPreAdd({ node: gn, inputs: [], outputs: [], hostValue: () => undefined }, { a: 3, b: 4 })).toThrow(Unsupported);
  });

  it.skipIf(!nvccPath())('compiles every kernel with nvcc', async () => {
    const ks = new Map<string, KernelSource>();
    for (const [c1, c2] of pairs()) {
      for (const r of [lower(c1), lower(c2)]) {
        for (const l of r.launches) ks.set(l.kernel.name, l.kernel);
        for (const k of r.variants ?? []) ks.set(k.name, k);
      }
    }
    const failures = await compileAllWithNvcc(ks.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});
