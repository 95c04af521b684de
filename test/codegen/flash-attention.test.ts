import { describe, expect, it } from 'vitest';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch } from '../../src/codegen/lowering.js';
import {
  FLASH_DTYPES, FLASH_HEAD_DIMS, FLASH_SPACE, flashAttentionApplies, flashAttentionKernel, flashCombineKernel,
  flashSharedBytes, flashSplits, heuristicFlashTile, heuristicFlashTiles, launchFlashAttention, validFlashTile,
  type FlashProblem, type FlashTile,
} from '../../src/codegen/ops/flash-attention.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

function problem(o: Partial<FlashProblem> & { B: number; Hq: number; Hkv: number; Sq: number; Skv: number; D: number }): FlashProblem {
  const { B, Hq, Hkv, Sq, Skv, D } = o;
  const st = (H: number, S: number): [number, number, number] => [H * S * D, S * D, D];
  return {
    dtype: 'float16', causal: false, causalOffset: 0, scale: 1 / Math.sqrt(D),
    q: { ref: { in: 0 }, strides: st(Hq, Sq) },
    k: { ref: { in: 1 }, strides: st(Hkv, Skv) },
    v: { ref: { in: 2 }, strides: st(Hkv, Skv) },
    o: { ref: { out: 0 }, strides: st(Hq, Sq) },
    ...o,
  };
}

const all: KernelSource[] = [];

describe('flash attention kernels', () => {
  it('search space: every head dim has valid tiles; heuristic tiles are valid', () => {
    for (const D of FLASH_HEAD_DIMS) {
      expect(FLASH_SPACE.filter((t) => validFlashTile(t, D)).length).toBeGreaterThan(3);
      for (const t of heuristicFlashTiles(D)) expect(validFlashTile(t, D)).toBe(true);
      for (const [sq, skv] of [[1, 1], [1, 4096], [7, 7], [32, 32], [65, 65], [2048, 2048], [8192, 8192]]) {
        const t = heuristicFlashTile(sq, skv, D);
        expect(validFlashTile(t, D)).toBe(true);
        expect(flashSharedBytes(D, t)).toBeLessThanOrEqual(227 * 1024);
      }
    }
    expect(validFlashTile({ bq: 48, bkv: 64, warps: 4, stages: 2 }, 128)).toBe(false);
    expect(validFlashTile({ bq: 128, bkv: 64, warps: 4, stages: 2 }, 128)).toBe(false); // register budget
  });

  it('kernel text depends on the config only (not on dims), and launches check', () => {
    const shapes = [
      { B: 2, Hq: 16, Hkv: 4, Sq: 200, Skv: 200, D: 128 },
      { B: 1, Hq: 16, Hkv: 4, Sq: 33, Skv: 33, D: 128 },
    ];
    const names = shapes.map((s) => {
      const p = problem({ ...s, causal: true });
      const plan = launchFlashAttention(p);
      for (const l of plan.launches) expect(checkLaunch(l, { inputs: 3, outputs: 1, scratch: plan.scratch.length })).toEqual([]);
      all.push(...plan.launches.map((l) => l.kernel), ...plan.variants);
      return [...new Set([...plan.launches.map((l) => l.kernel.name), ...plan.variants.map((k) => k.name)])].sort();
    });
    expect(names[1]).toEqual(names[0]);
  });

  it('decode uses split-KV with a workspace and a combine launch', () => {
    const p = problem({ B: 1, Hq: 16, Hkv: 16, Sq: 1, Skv: 4096, D: 128, scratchBase: 2 });
    expect(flashSplits(p, heuristicFlashTile(1, 4096, 128))).toBeGreaterThan(1);
    const plan = launchFlashAttention(p);
    expect(plan.launches.length).toBe(2);
    expect(plan.scratch.length).toBe(2);
    for (const l of plan.launches) expect(checkLaunch(l, { inputs: 3, outputs: 1, scratch: 4 })).toEqual([]);
    expect(plan.launches[0].args.some((a) => 'scratch' in a && a.scratch === 2)).toBe(true);
    const noSplit = launchFlashAttention({ ...p, split: false });
    expect(noSplit.launches.length).toBe(1);
    all.push(...plan.launches.map((l) => l.kernel));
  });

  it('masks, softcap, bf16, [B,S,H,D] strides', () => {
    for (const mdt of ['bool', 'float16', 'float32'] as const) {
      const p = problem({
        B: 2, Hq: 4, Hkv: 4, Sq: 70, Skv: 90, D: 64, causal: true, causalOffset: 20, softcap: 5,
        mask: { ref: { in: 3 }, dtype: mdt, strides: [0, 0, 90], mT: 90 },
      });
      const plan = launchFlashAttention(p);
      for (const l of plan.launches) expect(checkLaunch(l, { inputs: 4, outputs: 1, scratch: plan.scratch.length })).toEqual([]);
      all.push(...plan.launches.map((l) => l.kernel), ...plan.variants);
    }
    const bshd: [number, number, number] = [77 * 4 * 96, 96, 4 * 96];
    const p = problem({ B: 1, Hq: 4, Hkv: 4, Sq: 77, Skv: 77, D: 96, dtype: 'bfloat16' });
    const plan = launchFlashAttention({ ...p, q: { ref: { in: 0 }, strides: bshd }, k: { ref: { in: 1 }, strides: bshd }, v: { ref: { in: 2 }, strides: bshd }, o: { ref: { out: 0 }, strides: bshd } });
    all.push(...plan.launches.map((l) => l.kernel));
  });

  it('applies only to supported problems', () => {
    expect(flashAttentionApplies(problem({ B: 1, Hq: 2, Hkv: 2, Sq: 4, Skv: 4, D: 128 })).ok).toBe(true);
    expect(flashAttentionApplies(problem({ B: 1, Hq: 2, Hkv: 2, Sq: 4, Skv: 4, D: 48 })).ok).toBe(false);
    expect(flashAttentionApplies(problem({ B: 1, Hq: 2, Hkv: 2, Sq: 4, Skv: 4, D: 64, dtype: 'float32' })).ok).toBe(false);
    expect(flashAttentionApplies(problem({ B: 1, Hq: 3, Hkv: 2, Sq: 4, Skv: 4, D: 64 })).ok).toBe(false);
    const odd = problem({ B: 1, Hq: 2, Hkv: 2, Sq: 4, Skv: 4, D: 64 });
    expect(flashAttentionApplies({ ...odd, q: { ref: { in: 0 }, strides: [4 * 2 * 64 + 4, 64, 128] } }).ok).toBe(false);
    expect(flashAttentionApplies({ ...odd, q: { ref: { in: 0, byteOffset: 8 }, strides: odd.q.strides } }).ok).toBe(false);
    expect(flashAttentionApplies({ ...odd, Dv: 32 }).ok).toBe(false);
  });

  it('every config family builds (dtype × head dim × causal × mask × split, each valid tile)', () => {
    for (const dtype of FLASH_DTYPES) for (const headDim of FLASH_HEAD_DIMS) {
      const tiles: FlashTile[] = FLASH_SPACE.filter((t) => validFlashTile(t, headDim));
      for (const tile of tiles) for (const causal of [false, true]) {
        const k = flashAttentionKernel({ dtype, headDim, causal, mask: 'none', tile });
        expect(k.maxThreads).toBe(32 * tile.warps);
        all.push(k);
      }
      for (const mask of ['bool', 'float'] as const) all.push(flashAttentionKernel({ dtype, headDim, causal: true, mask, tile: tiles[0], split: true }));
      all.push(flashCombineKernel(dtype, headDim));
    }
  });

  it.skipIf(!nvccPath())('compiles every kernel with nvcc (skipped when nvcc is absent)', async () => {
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});
