// Linear-algebra lowerings (MatMul, Gemm, MatMulInteger): launch well-formedness, shape independence of
// the kernel text, argument values, fallbacks, and nvcc compilation of every kernel.
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch, getLowering, Unsupported, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import { lowerGemmWithEpilogue, type FusedGemmEpilogue } from '../../src/codegen/ops/matmul.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

interface Case {
  op: string;
  ins: (TensorDesc | undefined)[];
  out: TensorDesc;
  attrs?: Record<string, AttrValue>;
}

const T = (dtype: DType, shape: number[]): TensorDesc => ({ dtype, shape });
const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const flt = (v: number): AttrValue => ({ type: 'float', value: v });

function lower(c: Case): Lowered {
  const names = c.ins.map((t, i) => (t ? `x${i}` : ''));
  const node = new Node({ op: c.op, inputs: names, outputs: ['y'], attrs: c.attrs ?? {} });
  const l = getLowering(c.op);
  if (!l) throw new Error(`no lowering for ${c.op}`);
  return l.lower({ node, inputs: c.ins, outputs: [c.out], hostValue: () => undefined });
}

function check(c: Case): Lowered {
  const r = lower(c);
  for (const l of r.launches) expect(checkLaunch(l, { inputs: c.ins.length, outputs: 1, scratch: r.scratch?.length ?? 0 })).toEqual([]);
  return r;
}

const kernelsOf = (r: Lowered): string[] => [...r.launches.map((l) => l.kernel.name), ...(r.variants ?? []).map((k) => k.name)].sort();

/** the i64 scalar arguments of the first launch, as numbers */
const scalars = (r: Lowered): number[] => r.launches[0].args.flatMap((a) => ('kind' in a && a.kind === 'i64' ? [Number(a.value)] : []));

const FLOATS: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
const INTS: DType[] = ['int32', 'int64', 'uint32', 'uint64', 'int8', 'uint8'];

/** pairs of cases with the same ranks/attributes and different dims (kernel sets must agree) */
function pairs(): [Case, Case][] {
  const out: [Case, Case][] = [];
  const mm = (dt: DType, a1: number[], b1: number[], y1: number[], a2: number[], b2: number[], y2: number[]): [Case, Case] => [
    { op: 'MatMul', ins: [T(dt, a1), T(dt, b1)], out: T(dt, y1) },
    { op: 'MatMul', ins: [T(dt, a2), T(dt, b2)], out: T(dt, y2) },
  ];
  for (const dt of [...FLOATS, ...INTS]) {
    out.push(mm(dt, [3, 4], [4, 5], [3, 5], [130, 70], [70, 1], [130, 1]));
    out.push(mm(dt, [2, 3, 4], [2, 4, 5], [2, 3, 5], [7, 65, 17], [7, 17, 66], [7, 65, 66]));
  }
  out.push(mm('float32', [4], [4], [], [100], [100], []));
  out.push(mm('float32', [3], [2, 3, 4], [2, 4], [9], [5, 9, 1], [5, 1]));
  out.push(mm('float32', [1, 2, 3, 4], [4], [1, 2, 3], [2, 3, 5, 6], [6], [2, 3, 5]));
  out.push(mm('float16', [2, 1, 3, 4], [3, 4, 5], [2, 3, 3, 5], [1, 4, 3, 4], [4, 1, 4, 5], [4, 4, 3, 5]));
  out.push(mm('float32', [2, 3, 4, 8], [8, 6], [2, 3, 4, 6], [5, 1, 4, 8], [8, 6], [5, 1, 4, 6]));
  for (const dt of [...FLOATS, 'int32', 'int64'] as DType[]) {
    for (const [ta, tb] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      const attrs = { transA: int(ta), transB: int(tb), alpha: flt(2), beta: flt(3) };
      const sh = (M: number, K: number, N: number): [number[], number[]] => [ta ? [K, M] : [M, K], tb ? [N, K] : [K, N]];
      const [a1, b1] = sh(3, 5, 4), [a2, b2] = sh(70, 33, 129);
      out.push([
        { op: 'Gemm', ins: [T(dt, a1), T(dt, b1), T(dt, [3, 4])], out: T(dt, [3, 4]), attrs },
        { op: 'Gemm', ins: [T(dt, a2), T(dt, b2), T(dt, [129])], out: T(dt, [70, 129]), attrs },
      ]);
      out.push([
        { op: 'Gemm', ins: [T(dt, a1), T(dt, b1)], out: T(dt, [3, 4]), attrs },
        { op: 'Gemm', ins: [T(dt, a2), T(dt, b2)], out: T(dt, [70, 129]), attrs },
      ]);
    }
  }
  for (const [da, db] of [['uint8', 'uint8'], ['int8', 'int8'], ['uint8', 'int8']] as [DType, DType][]) {
    out.push([
      { op: 'MatMulInteger', ins: [T(da, [4, 3]), T(db, [3, 2]), T(da, []), T(db, [])], out: T('int32', [4, 2]) },
      { op: 'MatMulInteger', ins: [T(da, [70, 33]), T(db, [33, 65]), T(da, [70]), T(db, [65])], out: T('int32', [70, 65]) },
    ]);
    out.push([
      { op: 'MatMulInteger', ins: [T(da, [2, 4, 3]), T(db, [3, 2])], out: T('int32', [2, 4, 2]) },
      { op: 'MatMulInteger', ins: [T(da, [5, 7, 9]), T(db, [9, 1])], out: T('int32', [5, 7, 1]) },
    ]);
    out.push([
      { op: 'MatMulInteger', ins: [T(da, [4, 3]), T(db, [3, 2]), undefined, T(db, [2])], out: T('int32', [4, 2]) },
      { op: 'MatMulInteger', ins: [T(da, [8, 6]), T(db, [6, 9]), undefined, T(db, [9])], out: T('int32', [8, 9]) },
    ]);
  }
  return out;
}

describe('linear algebra lowerings', () => {
  it('launches are well-formed and kernel text does not depend on dims', () => {
    for (const [c1, c2] of pairs()) {
      const r1 = check(c1), r2 = check(c2);
      expect(r1.launches.length).toBe(1);
      expect(kernelsOf(r1)).toEqual(kernelsOf(r2));
    }
  });

  it('MatMul arguments: dims, operand strides, broadcast batch strides; batches folded into M when B is shared', () => {
    // [2,1,3,4] x [3,4,5]: batch [2,3]; A strides (12, 0), B strides (0, 20)
    const r = check({ op: 'MatMul', ins: [T('float32', [2, 1, 3, 4]), T('float32', [3, 4, 5])], out: T('float32', [2, 3, 3, 5]) });
    // M N K ars acs brs bcs nbatch bd0 bd1 as0 as1 bs0 bs1
    expect(scalars(r)).toEqual([3, 5, 4, 4, 1, 5, 1, 6, 2, 3, 12, 0, 0, 20]);
    expect(r.launches[0].grid).toEqual([1, 1, 6]);
    // folded: [2,3,4,8] x [8,6] → M = 24, one batch
    const f = check({ op: 'MatMul', ins: [T('float32', [2, 3, 4, 8]), T('float32', [8, 6])], out: T('float32', [2, 3, 4, 6]) });
    expect(scalars(f)).toEqual([24, 6, 8, 8, 1, 6, 1, 1, 1, 1, 0, 0, 0, 0]);
    // 1-D operands
    const v = check({ op: 'MatMul', ins: [T('float32', [7]), T('float32', [7])], out: T('float32', []) });
    expect(scalars(v)).toEqual([1, 1, 7, 7, 1, 1, 1, 1]);
    const vb = check({ op: 'MatMul', ins: [T('float32', [3]), T('float32', [2, 3, 4])], out: T('float32', [2, 4]) });
    expect(scalars(vb)).toEqual([1, 4, 3, 3, 1, 4, 1, 2, 2, 0, 12]);
  });

  it('few rows run the skinny kernel, others the tiled one; the other is always listed as a variant', () => {
    const one = check({ op: 'MatMul', ins: [T('float32', [1, 1, 4096]), T('float32', [4096, 4096])], out: T('float32', [1, 1, 4096]) });
    const many = check({ op: 'MatMul', ins: [T('float32', [1, 64, 4096]), T('float32', [4096, 4096])], out: T('float32', [1, 64, 4096]) });
    expect(one.launches[0].kernel.name).not.toBe(many.launches[0].kernel.name);
    expect(one.variants!.map((k) => k.name)).toEqual([many.launches[0].kernel.name]);
    expect(many.variants!.map((k) => k.name)).toEqual([one.launches[0].kernel.name]);
    expect(one.launches[0].grid).toEqual([128, 1, 1]);
    // Gemm with transB (k-contiguous B): one warp per column, 8 columns per block
    const g = check({ op: 'Gemm', ins: [T('float32', [2, 768]), T('float32', [3072, 768]), T('float32', [3072])], out: T('float32', [2, 3072]), attrs: { transB: int(1) } });
    expect(g.launches[0].grid).toEqual([384, 1, 1]);
    // zero-element outputs launch nothing but still name their kernels
    const z = check({ op: 'MatMul', ins: [T('float32', [1, 0, 4096]), T('float32', [4096, 4096])], out: T('float32', [1, 0, 4096]) });
    expect(kernelsOf(z)).toEqual(kernelsOf(one));
  });

  it('fp16/bf16 products that qualify run on tensor cores, with every tile and the SIMT kernels as variants', () => {
    for (const dt of ['float16', 'bfloat16'] as const) {
      const one = check({ op: 'MatMul', ins: [T(dt, [1, 1, 4096]), T(dt, [4096, 4096])], out: T(dt, [1, 1, 4096]) });
      const many = check({ op: 'MatMul', ins: [T(dt, [2, 128, 768]), T(dt, [768, 2304])], out: T(dt, [2, 128, 2304]) });
      const zero = check({ op: 'MatMul', ins: [T(dt, [1, 0, 4096]), T(dt, [4096, 4096])], out: T(dt, [1, 0, 4096]) });
      expect(one.launches[0].kernel.family).toMatch(/^gemm_tc/);
      expect(many.launches[0].kernel.family).toMatch(/^gemm_tc/);
      expect(kernelsOf(one)).toEqual(kernelsOf(many));
      expect(kernelsOf(zero)).toEqual(kernelsOf(one));
      // K not a multiple of 8: the SIMT kernel
      const odd = check({ op: 'MatMul', ins: [T(dt, [4, 6]), T(dt, [6, 5])], out: T(dt, [4, 5]) });
      expect(odd.launches[0].kernel.family).not.toMatch(/^gemm_tc/);
    }
  });

  it('large grids stay inside the launch limits (loops cover the rest)', () => {
    const r = check({ op: 'MatMul', ins: [T('float32', [70000, 2, 3]), T('float32', [70000, 3, 2])], out: T('float32', [70000, 2, 2]) });
    expect(r.launches[0].grid).toEqual([1, 1, 65535]);
    const g = check({ op: 'MatMul', ins: [T('float32', [64 * 70000, 3]), T('float32', [3, 2])], out: T('float32', [64 * 70000, 2]) });
    expect(g.launches[0].grid).toEqual([1, 65535, 1]);
  });

  it('Gemm strides follow transA/transB and C broadcasts to [M, N]', () => {
    const attrs = { transA: int(1), transB: int(1), alpha: flt(0.5), beta: flt(2) };
    const r = check({ op: 'Gemm', ins: [T('float32', [5, 3]), T('float32', [4, 5]), T('float32', [1, 4])], out: T('float32', [3, 4]), attrs });
    // M N K ars acs brs bcs nbatch csm csn
    expect(scalars(r)).toEqual([3, 4, 5, 1, 3, 1, 5, 1, 0, 1]);
    const f = r.launches[0].args.flatMap((a) => ('kind' in a && a.kind === 'f32' ? [a.value] : []));
    expect(f).toEqual([0.5, 2]);
    const s = check({ op: 'Gemm', ins: [T('float64', [3, 5]), T('float64', [5, 4]), T('float64', [])], out: T('float64', [3, 4]) });
    expect(scalars(s)).toEqual([3, 4, 5, 5, 1, 4, 1, 1, 0, 0]);
    const col = check({ op: 'Gemm', ins: [T('float32', [3, 5]), T('float32', [5, 4]), T('float32', [3, 1])], out: T('float32', [3, 4]) });
    expect(scalars(col).slice(-2)).toEqual([1, 0]);
  });

  it('MatMulInteger zero-point strides: per row of A, per column of B, per element of a 1-D B', () => {
    const r = check({ op: 'MatMulInteger', ins: [T('uint8', [4, 3]), T('int8', [3, 2]), T('uint8', [4]), T('int8', [2])], out: T('int32', [4, 2]) });
    expect(scalars(r).slice(-3)).toEqual([1, 0, 1]);
    const v = check({ op: 'MatMulInteger', ins: [T('uint8', [4, 3]), T('uint8', [3]), T('uint8', [1]), T('uint8', [3])], out: T('int32', [4]) });
    expect(scalars(v).slice(-3)).toEqual([0, 1, 0]);
  });

  it('zero-element outputs launch nothing; K = 0 still launches (zeros or beta*C)', () => {
    expect(check({ op: 'MatMul', ins: [T('float32', [0, 4]), T('float32', [4, 5])], out: T('float32', [0, 5]) }).launches).toEqual([]);
    expect(check({ op: 'MatMul', ins: [T('float32', [1, 3, 4]), T('float32', [0, 4, 5])], out: T('float32', [0, 3, 5]) }).launches).toEqual([]);
    expect(check({ op: 'MatMul', ins: [T('float32', [3, 0]), T('float32', [0, 5])], out: T('float32', [3, 5]) }).launches.length).toBe(1);
    expect(check({ op: 'Gemm', ins: [T('float32', [3, 0]), T('float32', [0, 5]), T('float32', [5])], out: T('float32', [3, 5]) }).launches.length).toBe(1);
  });

  it('falls back (unsupported) where the reference would fail or the type has no device kernel', () => {
    const bad: Case[] = [
      { op: 'MatMul', ins: [T('float32', [2, 3]), T('float32', [4, 2])], out: T('float32', [2, 2]) },
      { op: 'MatMul', ins: [T('float32', [2, 2, 3]), T('float32', [3, 3, 2])], out: T('float32', [3, 2, 2]) },
      { op: 'MatMul', ins: [T('bool', [2, 3]), T('bool', [3, 2])], out: T('bool', [2, 2]) },
      { op: 'Gemm', ins: [T('int32', [2, 3]), T('int32', [3, 2])], out: T('int32', [2, 2]), attrs: { alpha: flt(0.5) } },
      { op: 'Gemm', ins: [T('float32', [2, 3]), T('float32', [3, 2]), T('float32', [3])], out: T('float32', [2, 2]) },
      { op: 'MatMulInteger', ins: [T('int32', [2, 3]), T('int32', [3, 2])], out: T('int32', [2, 2]) },
      { op: 'MatMulInteger', ins: [T('uint8', [2, 3]), T('uint8', [3, 2]), T('uint8', [3])], out: T('int32', [2, 2]) },
    ];
    for (const c of bad) expect(() => lower(c)).toThrow(Unsupported);
  });

  it.skipIf(!nvccPath())('every kernel compiles with nvcc (skipped where nvcc is absent)', async () => {
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

// ---------------------------------------------------------------------------------------------------
// fused epilogues (engine: MatMul/Gemm → bias Add → activation → residual Add as one unit)

interface EpCase {
  op: 'MatMul' | 'Gemm';
  /** the node's own inputs, then the fused bias / residual */
  ins: (TensorDesc | undefined)[];
  out: TensorDesc;
  ep: FusedGemmEpilogue;
  attrs?: Record<string, AttrValue>;
}

function lowerEp(c: EpCase): Lowered {
  const own = c.op === 'Gemm' ? 3 : 2;
  const names = c.ins.slice(0, own).map((t, i) => (t ? `x${i}` : ''));
  const node = new Node({ op: c.op, inputs: names, outputs: ['y'], attrs: c.attrs ?? {} });
  const r = lowerGemmWithEpilogue({ node, inputs: c.ins, outputs: [c.out], hostValue: () => undefined }, c.ep);
  for (const l of r.launches) expect(checkLaunch(l, { inputs: c.ins.length, outputs: 1, scratch: r.scratch?.length ?? 0 })).toEqual([]);
  return r;
}

/** the buffer references of a launch, in order ('i2', 'o0', 's0') */
const refsOf = (a: readonly object[]): string[] => a.flatMap((x) => ('in' in x ? [`i${(x as { in: number }).in}`] : 'out' in x ? [`o${(x as { out: number }).out}`] : 'scratch' in x ? [`s${(x as { scratch: number }).scratch}`] : []));

/** pairs of epilogue cases (same ranks and attributes, different dims): kernel sets must agree */
function epPairs(): [EpCase, EpCase][] {
  const out: [EpCase, EpCase][] = [];
  const acts = ['none', 'relu', 'gelu_erf', 'gelu_tanh'] as const;
  for (const dt of FLOATS) {
    for (const act of acts) {
      // MatMul [B,S,K] x [K,N] + bias[N] → act → + residual[B,S,N]
      const mm = (B: number, S: number, K: number, N: number): EpCase => ({
        op: 'MatMul', ins: [T(dt, [B, S, K]), T(dt, [K, N]), T(dt, [N]), T(dt, [B, S, N])], out: T(dt, [B, S, N]), ep: { act, bias: 2, residual: 3 },
      });
      out.push([mm(2, 3, 64, 96), mm(1, 130, 768, 64)]);
      out.push([mm(1, 1, 64, 96), mm(3, 1, 768, 64)]);
      // no bias, residual only (the attention output projection)
      const res = (M: number, K: number, N: number): EpCase => ({ op: 'MatMul', ins: [T(dt, [M, K]), T(dt, [K, N]), T(dt, [M, N])], out: T(dt, [M, N]), ep: { act, residual: 2 } });
      out.push([res(4, 64, 64), res(200, 256, 64)]);
      // Gemm with C as the bias (transB), act, residual; output viewed as [B, S, N]
      const gm = (M: number, K: number, N: number, S: number): EpCase => ({
        op: 'Gemm', ins: [T(dt, [M, K]), T(dt, [N, K]), T(dt, [N]), T(dt, [M / S, S, N])], out: T(dt, [M / S, S, N]), ep: { act, residual: 3 }, attrs: { transB: int(1) },
      });
      out.push([gm(6, 64, 128, 3), gm(260, 256, 64, 2)]);
      // Gemm without C + a fused bias (act only)
      const gb = (M: number, K: number, N: number): EpCase => ({ op: 'Gemm', ins: [T(dt, [M, K]), T(dt, [K, N]), undefined, T(dt, [1, N])], out: T(dt, [M, N]), ep: { act, bias: 3 } });
      out.push([gb(2, 32, 64), gb(300, 64, 512)]);
    }
  }
  // SIMT only: K not a multiple of 8, a Gemm with a general C (beta != 1), batched B
  out.push([
    { op: 'MatMul', ins: [T('float16', [3, 6]), T('float16', [6, 5]), T('float16', [5]), T('float16', [3, 5])], out: T('float16', [3, 5]), ep: { act: 'relu', bias: 2, residual: 3 } },
    { op: 'MatMul', ins: [T('float16', [70, 9]), T('float16', [9, 66]), T('float16', [66]), T('float16', [70, 66])], out: T('float16', [70, 66]), ep: { act: 'relu', bias: 2, residual: 3 } },
  ]);
  out.push([
    { op: 'Gemm', ins: [T('float16', [3, 8]), T('float16', [8, 5]), T('float16', [3, 5])], out: T('float16', [3, 5]), ep: { act: 'gelu_erf' }, attrs: { beta: flt(0.5) } },
    { op: 'Gemm', ins: [T('float16', [70, 16]), T('float16', [16, 66]), T('float16', [70, 66])], out: T('float16', [70, 66]), ep: { act: 'gelu_erf' }, attrs: { beta: flt(0.5) } },
  ]);
  out.push([
    { op: 'MatMul', ins: [T('float32', [2, 3, 8]), T('float32', [2, 8, 5]), T('float32', [2, 3, 5])], out: T('float32', [2, 3, 5]), ep: { act: 'none', residual: 2 } },
    { op: 'MatMul', ins: [T('float32', [4, 70, 8]), T('float32', [4, 8, 66]), T('float32', [4, 70, 66])], out: T('float32', [4, 70, 66]), ep: { act: 'none', residual: 2 } },
  ]);
  return out;
}

describe('fused GEMM epilogues (lowerGemmWithEpilogue)', () => {
  it('launches are well-formed and the kernel set does not depend on dims', () => {
    for (const [c1, c2] of epPairs()) {
      const r1 = lowerEp(c1), r2 = lowerEp(c2);
      expect(r1.launches.length).toBeGreaterThan(0);
      expect(kernelsOf(r1)).toEqual(kernelsOf(r2));
    }
  });

  it('fp16/bf16: tensor cores with the epilogue (bias and residual refs by input index; split-K applies it in the reduce)', () => {
    for (const dt of ['float16', 'bfloat16'] as const) {
      // large M: one main launch, epilogue inside: A, B, bias, R, C
      const big = lowerEp({ op: 'MatMul', ins: [T(dt, [4, 128, 768]), T(dt, [768, 768]), T(dt, [768]), T(dt, [4, 128, 768])], out: T(dt, [4, 128, 768]), ep: { act: 'gelu_tanh', bias: 2, residual: 3 } });
      expect(big.launches).toHaveLength(1);
      expect(big.launches[0].kernel.family).toBe('gemm_tc');
      expect(refsOf(big.launches[0].args)).toEqual(['i0', 'i1', 'i2', 'i3', 'o0']);
      expect(big.launches[0].kernel.code).toContain('tanhf');
      // decode: split-K; the reduce reads the workspace, bias, residual
      const dec = lowerEp({ op: 'MatMul', ins: [T(dt, [1, 1, 768]), T(dt, [768, 3072]), T(dt, [3072]), T(dt, [1, 1, 3072])], out: T(dt, [1, 1, 3072]), ep: { act: 'relu', bias: 2, residual: 3 } });
      expect(dec.launches.map((l) => l.kernel.family)).toEqual(['gemm_tc_splitk', 'gemm_tc_reduce']);
      expect(refsOf(dec.launches[0].args)).toEqual(['i0', 'i1', 's0']);
      expect(refsOf(dec.launches[1].args)).toEqual(['s0', 'i2', 'i3', 'o0']);
      // Gemm: C is the bias; the fused residual is input 3
      const g = lowerEp({ op: 'Gemm', ins: [T(dt, [256, 64]), T(dt, [128, 64]), T(dt, [128]), T(dt, [256, 128])], out: T(dt, [256, 128]), ep: { act: 'gelu_erf', residual: 3 }, attrs: { transB: int(1), alpha: flt(0.5) } });
      const last = g.launches[g.launches.length - 1];
      expect(refsOf(last.args).slice(-3)).toEqual(['i2', 'i3', 'o0']);
      expect(last.args.flatMap((a) => ('kind' in a && a.kind === 'f32' ? [a.value] : []))).toEqual([0.5]);
    }
  });

  it('SIMT kernels take the same epilogue (float32/float64, and fp16 shapes off the tensor-core path)', () => {
    const r = lowerEp({ op: 'MatMul', ins: [T('float32', [2, 3, 8]), T('float32', [8, 5]), T('float32', [1, 5]), T('float32', [2, 3, 5])], out: T('float32', [2, 3, 5]), ep: { act: 'gelu_erf', bias: 2, residual: 3 } });
    expect(r.launches).toHaveLength(1);
    expect(refsOf(r.launches[0].args)).toEqual(['i0', 'i1', 'i2', 'i3', 'o0']);
    const src = r.launches[0].kernel.code;
    expect(src).toContain('erff(v * 0.70710678118654752f)');
    expect(src).toMatch(/v \+= bias\[n\]|v \+= \w*bias\w*\[n\]/);
    // Gemm with a general C and beta: alpha·AB + beta·C first, then the activation
    const g = lowerEp({ op: 'Gemm', ins: [T('float64', [3, 8]), T('float64', [8, 5]), T('float64', [3, 5]), T('float64', [3, 5])], out: T('float64', [3, 5]), ep: { act: 'relu', residual: 3 }, attrs: { beta: flt(2) } });
    expect(refsOf(g.launches[0].args)).toEqual(['i0', 'i1', 'i2', 'i3', 'o0']);
    const gs = g.launches[0].kernel.code;
    expect(gs.indexOf('beta')).toBeLessThan(gs.indexOf('v = v < 0.0 ? 0.0 : v;'));
    // plain nodes keep their kernels (no epilogue parameters)
    const plain = check({ op: 'MatMul', ins: [T('float32', [2, 3, 8]), T('float32', [8, 5])], out: T('float32', [2, 3, 5]) });
    const none = lowerEp({ op: 'MatMul', ins: [T('float32', [2, 3, 8]), T('float32', [8, 5])], out: T('float32', [2, 3, 5]), ep: { act: 'none' } });
    expect(kernelsOf(none)).toEqual(kernelsOf(plain));
  });

  it('the output may be a reshape of the product that keeps the column axis', () => {
    const r = lowerEp({ op: 'Gemm', ins: [T('float16', [6, 64]), T('float16', [64, 32]), T('float16', [32]), T('float16', [2, 3, 32])], out: T('float16', [2, 3, 32]), ep: { act: 'none', residual: 3 } });
    expect(r.launches.length).toBeGreaterThan(0);
  });

  it('refuses epilogues that do not fit the concrete shapes (the engine then runs the nodes one by one)', () => {
    const bad: EpCase[] = [
      // residual broadcast along the batch
      { op: 'MatMul', ins: [T('float16', [2, 3, 8]), T('float16', [8, 16]), T('float16', [1, 3, 16])], out: T('float16', [2, 3, 16]), ep: { act: 'none', residual: 2 } },
      // bias along rows, not columns
      { op: 'MatMul', ins: [T('float16', [3, 8]), T('float16', [8, 16]), T('float16', [3, 1])], out: T('float16', [3, 16]), ep: { act: 'none', bias: 2 } },
      // a Gemm with C takes no second bias
      { op: 'Gemm', ins: [T('float16', [3, 8]), T('float16', [8, 16]), T('float16', [16]), T('float16', [16])], out: T('float16', [3, 16]), ep: { act: 'none', bias: 3 } },
      // integer products
      { op: 'MatMul', ins: [T('int32', [3, 8]), T('int32', [8, 16]), T('int32', [16])], out: T('int32', [3, 16]), ep: { act: 'relu', bias: 2 } },
      // an output that regroups the columns
      { op: 'MatMul', ins: [T('float16', [3, 8]), T('float16', [8, 16])], out: T('float16', [3, 2, 8]), ep: { act: 'relu' } },
      // 1-D B
      { op: 'MatMul', ins: [T('float32', [3, 8]), T('float32', [8]), T('float32', [3])], out: T('float32', [3]), ep: { act: 'none', residual: 2 } },
    ];
    for (const c of bad) expect(() => lowerEp(c)).toThrow(Unsupported);
  });

  it.skipIf(!nvccPath())('every epilogue kernel compiles with nvcc (skipped where nvcc is absent)', async () => {
    const ks = new Map<string, KernelSource>();
    for (const [c1, c2] of epPairs()) {
      for (const r of [lowerEp(c1), lowerEp(c2)]) {
        for (const l of r.launches) ks.set(l.kernel.name, l.kernel);
        for (const k of r.variants ?? []) ks.set(k.name, k);
      }
    }
    const failures = await compileAllWithNvcc(ks.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`)).toEqual([]);
  }, 600_000);
});

describe('MatMul on sm_90a: wgmma (TMA) for large and medium GEMMs', () => {
  const lowerMM = (M: number, N: number, K: number, arch: number | undefined): Lowered => {
    const node = new Node({ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'], attrs: {} });
    return getLowering('MatMul')!.lower({
      node, inputs: [{ dtype: 'float16', shape: [M, K] }, { dtype: 'float16', shape: [K, N] }], outputs: [{ dtype: 'float16', shape: [M, N] }],
      hostValue: () => undefined, arch,
    });
  };
  const set = (l: Lowered) => [...new Set([...l.launches.map((x) => x.kernel.name), ...(l.variants ?? []).map((k) => k.name)])].sort();
  it('takes TMA operands and keeps a library form; small shapes stay on mma.sync; one kernel set', () => {
    const big = lowerMM(4096, 4096, 4096, 90);
    expect(big.launches).toHaveLength(1);
    expect(big.launches[0].kernel.name).toMatch(/wgmma_tma/);
    expect(big.launches[0].args.filter((a) => 'tmap' in a)).toHaveLength(2);
    expect(checkLaunch(big.launches[0], { inputs: 2, outputs: 1, scratch: big.scratch?.length ?? 0 })).toEqual([]);
    expect(big.launches[0].library?.M).toBe(4096);
    const small = lowerMM(8, 768, 768, 90);
    expect(small.launches.every((l) => !/wgmma/.test(l.kernel.name))).toBe(true);
    expect(set(big)).toEqual(set(small));
  });
  it('never appears without an sm_90 target', () => {
    for (const arch of [undefined, 80]) expect(set(lowerMM(4096, 4096, 4096, arch)).some((n) => /wgmma/.test(n))).toBe(false);
  });
});
