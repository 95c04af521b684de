// Tensor-core GEMM family (gemm-tc.ts): tile validity, heuristics, applicability, launch well-formedness,
// shape independence of the kernel text, split-K launches, and nvcc compilation of every kernel variant.
import { describe, expect, it } from 'vitest';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch } from '../../src/codegen/lowering.js';
import {
  GEMM_TC_SPACE, gemmTileCandidates, gemmTileSmem, heuristicGemmTile, launchTensorCoreGemm, tensorCoreGemm,
  tensorCoreGemmApplies, validGemmTile, type GemmAct, type GemmTcConfig, type GemmTile,
} from '../../src/codegen/ops/gemm-tc.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const T = (bm: number, bn: number, bk: number, warpsM: number, warpsN: number, stages: number): GemmTile => ({ bm, bn, bk, warpsM, warpsN, stages });
const cfg = (o: Partial<GemmTcConfig> = {}): GemmTcConfig => ({
  dtype: 'float16', transA: false, transB: false, tile: T(128, 128, 32, 2, 2, 4),
  epilogue: { bias: false, act: 'none', residual: false }, splitK: false, ...o,
});
const io = (c: GemmTcConfig, scratch: number) => ({ inputs: 2 + (c.epilogue.bias ? 1 : 0) + (c.epilogue.residual ? 1 : 0), outputs: 1, scratch });

describe('gemm-tc tiles', () => {
  it('validates tiles', () => {
    expect(validGemmTile(T(128, 256, 32, 2, 4, 4)).ok).toBe(true);
    expect(validGemmTile(T(16, 64, 64, 1, 4, 4)).ok).toBe(true);
    expect(validGemmTile(T(128, 128, 16, 2, 2, 4)).ok).toBe(false); // bk
    expect(validGemmTile(T(128, 120, 32, 2, 2, 4)).ok).toBe(false); // divisibility
    expect(validGemmTile(T(256, 256, 64, 2, 2, 4)).ok).toBe(false); // smem / registers
    expect(validGemmTile(T(256, 256, 32, 4, 4, 3)).ok).toBe(false); // 512 threads × ~180 registers
    for (const t of gemmTileCandidates()) expect(gemmTileSmem(t)).toBeLessThanOrEqual(227 * 1024);
    expect(gemmTileCandidates().length).toBeGreaterThan(20);
    expect(Object.keys(GEMM_TC_SPACE)).toEqual(['bm', 'bn', 'bk', 'warpsM', 'warpsN', 'stages', 'splitK']);
  });
  it('heuristics per shape class give valid tiles', () => {
    const shapes: [number, number, number, string][] = [[4096, 4096, 4096, 'large'], [1, 3072, 768, 'decode'], [8, 50257, 768, 'decode'],
      [128, 2304, 768, 'small'], [65536, 64, 256, 'tall-skinny']];
    for (const [M, N, K, cls] of shapes) {
      const h = heuristicGemmTile(M, N, K);
      expect(h.shapeClass).toBe(cls);
      expect(validGemmTile(h.tile).ok).toBe(true);
    }
  });
  it('reports applicability', () => {
    expect(tensorCoreGemmApplies('float16', { batch: 1, M: 7, N: 50257, K: 72 }, false, true).ok).toBe(true);
    expect(tensorCoreGemmApplies('float16', { batch: 1, M: 7, N: 50257, K: 72 }).ok).toBe(false); // ldb = 50257
    expect(tensorCoreGemmApplies('float16', { batch: 1, M: 7, N: 64, K: 70 }).ok).toBe(false); // K % 8
    expect(tensorCoreGemmApplies('float32', { batch: 1, M: 64, N: 64, K: 64 }).ok).toBe(false);
    expect(tensorCoreGemmApplies('bfloat16', { batch: 4, M: 100, N: 64, K: 64, lda: 104 }, true).ok).toBe(true);
  });
});

describe('gemm-tc launches', () => {
  it('are well-formed and the kernel text is shape independent', () => {
    for (const splitK of [false, true]) for (const transB of [false, true]) {
      const c = cfg({ splitK, transB, tile: splitK ? T(16, 64, 64, 1, 4, 4) : T(128, 128, 32, 2, 2, 4), epilogue: { bias: true, act: 'gelu_tanh', residual: true } });
      const l1 = launchTensorCoreGemm({ batch: 1, M: 8, N: 3072, K: 768 }, c, 0.5);
      const l2 = launchTensorCoreGemm({ batch: 3, M: 100, N: 64, K: 72 }, c);
      for (const L of [l1, l2]) for (const l of L.launches) expect(checkLaunch(l, io(c, L.scratch.length))).toEqual([]);
      expect(l1.launches.map((l) => l.kernel.name)).toEqual(l2.launches.map((l) => l.kernel.name));
      expect(l1.launches.length).toBe(splitK ? 2 : 1);
      if (splitK) {
        expect(l1.splits).toBeGreaterThan(1);
        expect(l1.scratch[0]).toBe(l1.splits * 8 * 3072 * 4);
      }
    }
  });
  it('rejects shapes that do not qualify', () => {
    expect(() => launchTensorCoreGemm({ batch: 1, M: 8, N: 64, K: 70 }, cfg())).toThrow(/qualify/);
  });
  it('loops over large batch counts', () => {
    const L = launchTensorCoreGemm({ batch: 100000, M: 3, N: 16, K: 8, strideB: 0 }, cfg({ tile: T(16, 32, 32, 1, 2, 2) }));
    expect(L.launches[0].grid[2]).toBe(65535);
  });
});

function allVariants(): KernelSource[] {
  const out: KernelSource[] = [];
  const acts: GemmAct[] = ['none', 'relu', 'gelu_erf', 'gelu_tanh'];
  for (const dtype of ['float16', 'bfloat16'] as const) for (const transA of [false, true]) for (const transB of [false, true]) {
    for (const tile of [T(128, 256, 32, 2, 4, 4), T(64, 128, 32, 2, 2, 4), T(128, 64, 32, 4, 1, 4)]) out.push(tensorCoreGemm(cfg({ dtype, transA, transB, tile })).main);
    const k = tensorCoreGemm(cfg({ dtype, transA, transB, tile: T(16, 64, 64, 1, 4, 4), splitK: true, epilogue: { bias: true, act: 'gelu_erf', residual: true } }));
    out.push(k.main, k.reduce!);
  }
  for (const act of acts) for (const bias of [false, true]) for (const residual of [false, true]) {
    out.push(tensorCoreGemm(cfg({ epilogue: { bias, act, residual } })).main);
  }
  return out;
}

describe('gemm-tc compiles with nvcc', () => {
  it.skipIf(!nvccPath())('every variant', async () => {
    const fails = await compileAllWithNvcc(allVariants());
    expect(fails.map((f) => `${f.name}: ${f.log.slice(0, 400)}`)).toEqual([]);
  }, 600_000);
});

describe('gemm-tc library form (cuBLASLt candidate)', () => {
  const refs = { A: { in: 0 }, B: { in: 1 }, bias: { in: 2 }, residual: { in: 3 }, C: { out: 0 }, workspace: { scratch: 0 } } as const;
  const operand = (l: ReturnType<typeof launchTensorCoreGemm>, o: readonly [number, number] | undefined) => (o ? l.launches[o[0]].args[o[1]] : undefined);
  for (const splitK of [false, true]) {
    it(`points every operand at the right kernel argument (splitK ${splitK})`, () => {
      for (const ep of [{ bias: true, act: 'none' as GemmAct, residual: true }, { bias: true, act: 'relu' as GemmAct, residual: false }, { bias: false, act: 'none' as GemmAct, residual: false }]) {
        const c = cfg({ splitK, epilogue: ep });
        const r = { ...refs, bias: ep.bias ? refs.bias : undefined, residual: ep.residual ? refs.residual : undefined };
        const l = launchTensorCoreGemm({ batch: 1, M: 300, N: 264, K: 1024 }, c, 0.5, r);
        const g = l.launches[0].library!;
        expect(g).toBeDefined();
        expect(g.replaces).toBe(l.launches.length);
        expect([g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.alpha]).toEqual([300, 264, 1024, 1024, 264, 264, 0.5]);
        expect(operand(l, g.a)).toEqual(refs.A);
        expect(operand(l, g.b)).toEqual(refs.B);
        expect(operand(l, g.c)).toEqual(refs.C);
        expect(operand(l, g.bias)).toEqual(r.bias);
        expect(operand(l, g.residual)).toEqual(r.residual);
        for (const ll of l.launches.slice(1)) expect(ll.library).toBeUndefined();
      }
    });
  }
  it('has no library form where cuBLASLt would compute something else', () => {
    const noLib = (ep: { bias: boolean; act: GemmAct; residual: boolean }, batch = 1) =>
      launchTensorCoreGemm({ batch, M: 64, N: 64, K: 64 }, cfg({ epilogue: ep }), 1).launches[0].library;
    expect(noLib({ bias: false, act: 'gelu_erf', residual: false })).toBeUndefined(); // cuBLASLt's GELU is the tanh form
    expect(noLib({ bias: false, act: 'relu', residual: true })).toBeUndefined(); // beta*C lands before the activation
    expect(noLib({ bias: true, act: 'none', residual: false }, 2)).toBeUndefined(); // bias over a batch
    expect(noLib({ bias: false, act: 'gelu_tanh', residual: false })?.act).toBe('gelu_tanh');
  });
});
