// Hopper wgmma GEMM family (gemm-wgmma.ts): tile validity, heuristics, applicability, launch well-formedness,
// shape independence of the kernel text, split-K launches, and nvcc (sm_90a) compilation of every variant.
import { describe, expect, it } from 'vitest';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch } from '../../src/codegen/lowering.js';
import type { GemmAct } from '../../src/codegen/ops/gemm-tc.js';
import {
  WGMMA_HEURISTIC_TILES, WGMMA_SPACE, heuristicWgmmaConfig, launchWgmmaGemm, validWgmmaTile, wgmmaGemm, wgmmaGemmApplies,
  wgmmaSmem, wgmmaTileCandidates, wgmmaVariants, type WgmmaConfig, type WgmmaTile,
} from '../../src/codegen/ops/gemm-wgmma.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const T = (bm: 64 | 128 | 256, bn: 64 | 128 | 256, wgs: 1 | 2, stages: number): WgmmaTile => ({ bm, bn, wgs, stages });
const cfg = (o: Partial<WgmmaConfig> = {}): WgmmaConfig => ({
  dtype: 'float16', transA: false, transB: false, tile: T(128, 256, 2, 4),
  epilogue: { bias: false, act: 'none', residual: false }, splitK: false, ...o,
});
const io = (c: WgmmaConfig, scratch: number) => ({ inputs: 2 + (c.epilogue.bias ? 1 : 0) + (c.epilogue.residual ? 1 : 0), outputs: 1, scratch });

describe('gemm-wgmma tiles', () => {
  it('validates tiles', () => {
    expect(validWgmmaTile(T(128, 256, 2, 4)).ok).toBe(true);
    expect(validWgmmaTile(T(64, 128, 1, 4)).ok).toBe(true);
    expect(validWgmmaTile(T(256, 256, 2, 3)).ok).toBe(false); // 256 accumulators
    expect(validWgmmaTile(T(128, 256, 2, 5)).ok).toBe(false); // shared memory
    expect(validWgmmaTile(T(256, 64, 1, 4)).ok).toBe(false); // 4 slabs per warpgroup
    expect(validWgmmaTile(T(128, 128, 2, 2)).ok).toBe(false); // stages
    for (const t of wgmmaTileCandidates()) expect(wgmmaSmem(t)).toBeLessThanOrEqual(227 * 1024);
    expect(wgmmaTileCandidates().length).toBeGreaterThan(20);
    expect(Object.keys(WGMMA_SPACE)).toEqual(['bm', 'bn', 'stages', 'wgs', 'splitK']);
    for (const t of Object.values(WGMMA_HEURISTIC_TILES)) expect(validWgmmaTile(t).ok).toBe(true);
  });
  it('picks a tile per shape class', () => {
    expect(heuristicWgmmaConfig(4096, 4096, 4096).shapeClass).toBe('large');
    expect(heuristicWgmmaConfig(4096, 768, 768).shapeClass).toBe('medium');
    expect(heuristicWgmmaConfig(512, 2304, 768).shapeClass).toBe('medium');
    const s = heuristicWgmmaConfig(128, 768, 3072);
    expect([s.shapeClass, s.splitK]).toEqual(['small', true]);
    expect(heuristicWgmmaConfig(128, 50257, 768).shapeClass).toBe('large');
    expect(heuristicWgmmaConfig(64, 64, 64, 200)).toMatchObject({ shapeClass: 'small', splitK: false });
  });
  it('reports applicability', () => {
    expect(wgmmaGemmApplies('float16', { batch: 1, M: 7, N: 50257, K: 768 }, false, true, 90).ok).toBe(true);
    expect(wgmmaGemmApplies('float16', { batch: 1, M: 7, N: 50257, K: 768 }, false, true).ok).toBe(false); // arch unknown
    expect(wgmmaGemmApplies('float16', { batch: 1, M: 64, N: 64, K: 64 }, false, false, 80).ok).toBe(false);
    expect(wgmmaGemmApplies('float16', { batch: 1, M: 7, N: 50257, K: 768 }, false, false, 90).ok).toBe(false); // ldb
    expect(wgmmaGemmApplies('float16', { batch: 1, M: 7, N: 64, K: 70 }, false, false, 90).ok).toBe(false); // K % 8
    expect(wgmmaGemmApplies('float32', { batch: 1, M: 64, N: 64, K: 64 }, false, false, 90).ok).toBe(false);
    expect(wgmmaGemmApplies('bfloat16', { batch: 4, M: 100, N: 64, K: 64, lda: 104 }, true, false, 90).ok).toBe(true);
  });
});

describe('gemm-wgmma launches', () => {
  it('are well-formed and the kernel text is shape independent', () => {
    for (const splitK of [false, true]) for (const transB of [false, true]) for (const tile of [T(128, 256, 2, 4), T(64, 128, 1, 4)]) {
      const c = cfg({ splitK, transB, tile, epilogue: { bias: true, act: 'gelu_tanh', residual: true } });
      const l1 = launchWgmmaGemm({ batch: 1, M: 128, N: 3072, K: 768 }, c, 0.5);
      const l2 = launchWgmmaGemm({ batch: 3, M: 100, N: 72, K: 136 }, c);
      for (const L of [l1, l2]) for (const l of L.launches) expect(checkLaunch(l, io(c, L.scratch.length))).toEqual([]);
      expect(l1.launches.map((l) => l.kernel.name)).toEqual(l2.launches.map((l) => l.kernel.name));
      expect(l1.launches.length).toBe(splitK ? 2 : 1);
      expect(l1.launches[0].sharedBytes).toBe(wgmmaSmem(tile));
      expect(l1.launches[0].block[0]).toBe(tile.wgs * 128);
      if (splitK) {
        expect(l1.splits).toBeGreaterThan(1);
        expect(l1.scratch[0]).toBe(l1.splits * 128 * 3072 * 4);
      }
    }
  });
  it('heuristic launches have the same kernels across shapes of a class', () => {
    const names = (M: number, N: number, K: number) => {
      const h = heuristicWgmmaConfig(M, N, K);
      return launchWgmmaGemm({ batch: 1, M, N, K }, cfg({ tile: h.tile, splitK: h.splitK })).launches.map((l) => l.kernel.name);
    };
    expect(names(4096, 4096, 4096)).toEqual(names(16384, 2304, 768));
    expect(names(128, 768, 3072)).toEqual(names(200, 512, 1000));
  });
  it('rejects shapes that do not qualify', () => {
    expect(() => launchWgmmaGemm({ batch: 1, M: 8, N: 64, K: 70 }, cfg())).toThrow(/qualify/);
  });
  it('loops over large batch counts', () => {
    const L = launchWgmmaGemm({ batch: 100000, M: 3, N: 16, K: 8, strideB: 0 }, cfg({ tile: T(64, 64, 1, 3) }));
    expect(L.launches[0].grid[2]).toBe(65535);
  });
  it('kernel text is deterministic and uses wgmma with the right transposes', () => {
    expect(wgmmaGemm(cfg()).main.code).toBe(wgmmaGemm(cfg()).main.code);
    expect(wgmmaGemm(cfg()).main.code).toMatch(/wgmma\.mma_async\.sync\.aligned\.m64n256k16\.f32\.f16\.f16 .*p, 1, 1, 0, 1;/);
    expect(wgmmaGemm(cfg({ transB: true, dtype: 'bfloat16', tile: T(64, 128, 1, 4) })).main.code).toMatch(/m64n128k16\.f32\.bf16\.bf16 .*p, 1, 1, 0, 0;/);
    expect(wgmmaGemm(cfg()).main.code).toContain('fence.proxy.async.shared::cta');
  });
  it('lists variants', () => {
    const v = wgmmaVariants({ dtype: 'float16', transA: false, transB: true, epilogue: { bias: true, act: 'relu', residual: false } });
    expect(v.length).toBe(5); // 3 tiles + split-K main + reduce
  });
});

function allVariants(): KernelSource[] {
  const out: KernelSource[] = [];
  const acts: GemmAct[] = ['none', 'relu', 'gelu_erf', 'gelu_tanh'];
  for (const dtype of ['float16', 'bfloat16'] as const) for (const transA of [false, true]) for (const transB of [false, true]) {
    out.push(...wgmmaVariants({ dtype, transA, transB, epilogue: { bias: true, act: 'gelu_erf', residual: true } }));
    for (const tile of [T(256, 128, 2, 4), T(64, 64, 1, 4), T(128, 64, 2, 5)]) out.push(wgmmaGemm(cfg({ dtype, transA, transB, tile })).main);
  }
  for (const act of acts) for (const bias of [false, true]) for (const residual of [false, true]) {
    out.push(wgmmaGemm(cfg({ epilogue: { bias, act, residual } })).main);
  }
  return out;
}

describe('gemm-wgmma compiles with nvcc (sm_90a)', () => {
  it.skipIf(!nvccPath())('every variant', async () => {
    const fails = await compileAllWithNvcc(allVariants());
    expect(fails.map((f) => `${f.name}: ${f.log.slice(0, 400)}`)).toEqual([]);
  }, 900_000);
});
