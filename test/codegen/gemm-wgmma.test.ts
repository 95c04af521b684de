// Hopper wgmma GEMM family (gemm-wgmma.ts): tile validity, heuristics, applicability, launch well-formedness,
// shape independence of the kernel text, split-K launches, and nvcc (sm_90a) compilation of every variant.
import { describe, expect, it } from 'vitest';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch, checkTensorMap, type TensorMapSpec } from '../../src/codegen/lowering.js';
import type { GemmAct } from '../../src/codegen/ops/gemm-tc.js';
import {
  WGMMA_HEURISTIC_TILES, WGMMA_SPACE, heuristicWgmmaConfig, launchWgmmaGemm, validWgmmaTile, wgmmaGemm, wgmmaGemmApplies,
  wgmmaSmem, wgmmaTensorMap, wgmmaThreads, wgmmaTileCandidates, wgmmaTmaRegs, wgmmaVariants, type WgmmaConfig, type WgmmaTile,
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

const tmapsOf = (args: readonly unknown[]): TensorMapSpec[] =>
  args.filter((a): a is { tmap: TensorMapSpec } => typeof a === 'object' && a !== null && 'tmap' in a).map((a) => a.tmap);

describe('gemm-wgmma TMA variant', () => {
  const shapes = [
    { batch: 1, M: 4096, N: 4096, K: 4096 }, { batch: 3, M: 100, N: 72, K: 136 }, { batch: 1, M: 1, N: 50, K: 8 },
    { batch: 2, M: 257, N: 384, K: 1000, strideA: 0 }, { batch: 2, M: 136, N: 72, K: 136, lda: 144, ldb: 144, strideA: 144 * 200, strideB: 144 * 144 },
  ];
  it('launches are well-formed, tensor maps valid, kernel set shape independent', () => {
    for (const splitK of [false, true]) for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const)
      for (const tile of [T(128, 256, 2, 4), T(128, 128, 2, 6), T(64, 128, 1, 4), T(256, 128, 2, 4)]) {
        const c = cfg({ tma: true, splitK, transA, transB, tile, epilogue: { bias: true, act: 'gelu_tanh', residual: true } });
        const names: string[][] = [];
        for (const s0 of shapes) {
          // rows padded to 16 bytes (what the layout needs); default contiguous batch strides over the padded rows
          const up8 = (x: number) => Math.ceil(x / 8) * 8;
          const lda = s0.lda ?? up8(transA ? s0.M : s0.K), ldb = s0.ldb ?? up8(transB ? s0.K : s0.N);
          const s = { ...s0, lda, ldb, strideA: s0.strideA ?? lda * (transA ? s0.K : s0.M), strideB: s0.strideB ?? ldb * (transB ? s0.N : s0.K) };
          const L = launchWgmmaGemm(s, c, 0.5);
          names.push(L.launches.map((l) => l.kernel.name));
          for (const l of L.launches) expect(checkLaunch(l, io(c, L.scratch.length))).toEqual([]);
          const main = L.launches[0];
          expect(main.block[0]).toBe(wgmmaThreads(tile, true));
          expect(main.sharedBytes).toBe(wgmmaSmem(tile, true));
          expect(main.grid[0]).toBeLessThanOrEqual(132); // persistent
          expect(main.grid[1]).toBe(1);
          const maps = tmapsOf(main.args);
          expect(maps.length).toBe(2);
          expect(main.args[0]).toHaveProperty('tmap');
          expect(main.args[1]).toHaveProperty('tmap');
          const [mA, mB] = maps;
          expect(mA.of).toEqual({ in: 0 });
          expect(mB.of).toEqual({ in: 1 });
          for (const [m, kMajor, rows, ld, bs, ext] of [
            [mA, !transA, s.M, s.lda, s.strideA, tile.bm],
            [mB, transB, s.N, s.ldb, s.strideB, tile.bn],
          ] as const) {
            expect(checkTensorMap(m)).toEqual([]);
            expect(m.swizzle).toBe(128);
            expect(m.dtype).toBe('float16');
            expect(m.dims).toEqual([kMajor ? s.K : rows, kMajor ? rows : s.K, bs === 0 ? 1 : s.batch]);
            // box: one 128-byte swizzle row inner, ≤ 256 rows; it may exceed the dims (TMA zero-fills out of bounds)
            expect(m.box).toEqual([64, kMajor ? ext : 64, 1]);
            expect(m.box[0] * 2).toBe(m.swizzle);
            expect(m.strides[0]).toBe(ld * 2);
            expect(m.strides[0]).toBeGreaterThanOrEqual(m.dims[0] * 2); // rows do not overlap
            for (const x of m.strides) expect(x % 16).toBe(0);
            expect(m.strides[1]).toBe(bs === 0 ? ld * 2 * m.dims[1] : bs * 2);
          }
        }
        for (const n of names) expect(n).toEqual(names[0]);
        expect(names[0][0]).toMatch(splitK ? /^chm_gemm_wgmma_tma_splitk_/ : /^chm_gemm_wgmma_tma_/);
      }
  });
  it('persistent grid covers small problems with one block per tile (× batch × splits)', () => {
    const c = cfg({ tma: true, tile: T(128, 256, 2, 4) });
    expect(launchWgmmaGemm({ batch: 1, M: 100, N: 304, K: 64 }, c).launches[0].grid).toEqual([2, 1, 1]);
    expect(launchWgmmaGemm({ batch: 1, M: 4096, N: 4096, K: 64 }, c).launches[0].grid).toEqual([132, 1, 1]);
    const s = launchWgmmaGemm({ batch: 1, M: 128, N: 256, K: 4096 }, cfg({ tma: true, splitK: true, tile: T(128, 256, 2, 4) }));
    expect(s.launches[0].grid[0]).toBe(Math.min(132, s.splits));
    expect(s.splits).toBeGreaterThan(1);
  });
  it('byte offsets pass through to the tensor maps; misaligned operands and raw pointers are refused', () => {
    const c = cfg({ tma: true });
    const L = launchWgmmaGemm({ batch: 1, M: 256, N: 512, K: 128 }, c, 1, { A: { in: 0, byteOffset: 64 }, B: { scratch: 0, byteOffset: 256 } });
    expect(tmapsOf(L.launches[0].args).map((m) => m.of)).toEqual([{ in: 0, byteOffset: 64 }, { scratch: 0, byteOffset: 256 }]);
    expect(() => launchWgmmaGemm({ batch: 1, M: 256, N: 512, K: 128 }, c, 1, { A: { in: 0, byteOffset: 8 } })).toThrow(/16-byte/);
    expect(() => launchWgmmaGemm({ batch: 1, M: 256, N: 512, K: 128 }, c, 1, { A: { kind: 'ptr', value: 0n } })).toThrow(/buffer references/);
  });
  it('tensor map of a broadcast (stride 0) batch operand has batch extent 1', () => {
    const f = { M: 257, N: 384, K: 1000, lda: 1000, ldb: 384, strideA: 0, strideB: 384000, batch: 4 };
    const m = wgmmaTensorMap('A', f, cfg({ tma: true }), { in: 0 });
    expect(m.dims).toEqual([1000, 257, 1]);
    expect(checkTensorMap(m)).toEqual([]);
  });
  it('heuristic picks TMA for the large and medium classes only', () => {
    expect(heuristicWgmmaConfig(4096, 4096, 4096).tma).toBe(true);
    expect(heuristicWgmmaConfig(4096, 768, 768).tma).toBe(true);
    expect(heuristicWgmmaConfig(128, 768, 3072).tma).toBe(false);
  });
  it('kernel text: warp specialization, setmaxnreg under a register cap, TMA + mbarriers', () => {
    const k = wgmmaGemm(cfg({ tma: true })).main.code;
    expect(k).toContain('__launch_bounds__(384, 1)');
    const r = wgmmaTmaRegs(T(128, 256, 2, 4));
    expect(r.producer * 128 + r.consumer * 256).toBeLessThanOrEqual(65536);
    expect(k).toContain(`setmaxnreg.dec.sync.aligned.u32 ${r.producer}`);
    expect(k).toContain(`setmaxnreg.inc.sync.aligned.u32 ${r.consumer}`);
    expect(k).toContain('cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes');
    expect(k).toContain('mbarrier.arrive.expect_tx');
    expect(k.slice(k.indexOf('extern "C"'))).not.toContain('chm_cp_async16');
    expect(k).toBe(wgmmaGemm(cfg({ tma: true })).main.code);
    expect(wgmmaGemm(cfg({ tma: true, tile: T(64, 128, 1, 4) })).main.code).toContain('__launch_bounds__(256, 1)');
  });
});

function allVariants(): KernelSource[] {
  const out: KernelSource[] = [];
  const acts: GemmAct[] = ['none', 'relu', 'gelu_erf', 'gelu_tanh'];
  for (const dtype of ['float16', 'bfloat16'] as const) for (const transA of [false, true]) for (const transB of [false, true]) {
    out.push(...wgmmaVariants({ dtype, transA, transB, epilogue: { bias: true, act: 'gelu_erf', residual: true } }));
    for (const tile of [T(256, 128, 2, 4), T(64, 64, 1, 4), T(128, 64, 2, 5)]) out.push(wgmmaGemm(cfg({ dtype, transA, transB, tile })).main);
    // TMA variants (the cp.async fallback of the heuristic tiles too)
    for (const tile of [T(128, 256, 2, 4), T(128, 128, 2, 6), T(64, 128, 1, 4), T(256, 128, 2, 4)]) for (const splitK of [false, true]) {
      const k = wgmmaGemm(cfg({ dtype, transA, transB, tile, tma: true, splitK, epilogue: { bias: true, act: 'gelu_erf', residual: true } }));
      out.push(k.main);
      if (k.reduce) out.push(k.reduce);
      out.push(wgmmaGemm(cfg({ dtype, transA, transB, tile, epilogue: { bias: true, act: 'gelu_erf', residual: true } })).main);
    }
  }
  for (const act of acts) out.push(wgmmaGemm(cfg({ tma: true, epilogue: { bias: false, act, residual: false } })).main);
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
