import { describe, expect, it } from 'vitest';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch } from '../../src/codegen/lowering.js';
import type { FlashProblem } from '../../src/codegen/ops/flash-attention.js';
import {
  FLASH_WGMMA_HEAD_DIMS, flashWgmmaApplies, flashWgmmaKernel, flashWgmmaSmem, flashWgmmaVariants, heuristicFlashWgmmaTile,
  heuristicFlashWgmmaTiles, launchFlashWgmma, validFlashWgmmaTile,
} from '../../src/codegen/ops/flash-wgmma.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

function problem(o: Partial<FlashProblem> & { B: number; Hq: number; Hkv: number; Sq: number; Skv: number; D: number }): FlashProblem {
  const { Hq, Hkv, Sq, Skv, D } = o;
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

describe('wgmma flash attention', () => {
  it('heuristic tiles are valid and fit in shared memory', () => {
    for (const D of FLASH_WGMMA_HEAD_DIMS) {
      for (const t of heuristicFlashWgmmaTiles(D)) {
        expect(validFlashWgmmaTile(t, D).ok).toBe(true);
        expect(flashWgmmaSmem(D, t)).toBeLessThanOrEqual(227 * 1024);
      }
      for (const S of [1, 7, 64, 65, 2048, 8192]) expect(validFlashWgmmaTile(heuristicFlashWgmmaTile(S, D), D).ok).toBe(true);
    }
    expect(validFlashWgmmaTile({ wgs: 2, bn: 128, stages: 4 }, 128).ok).toBe(false); // 290 KB
    expect(validFlashWgmmaTile({ wgs: 2, bn: 128, stages: 2 }, 64).ok).toBe(false);
  });

  it('applies: rejects what the FA2 kernel keeps serving', () => {
    const p = problem({ B: 2, Hq: 8, Hkv: 2, Sq: 200, Skv: 200, D: 128 });
    expect(flashWgmmaApplies(p, 90).ok).toBe(true);
    expect(flashWgmmaApplies(p, 80).ok).toBe(false);
    expect(flashWgmmaApplies(p).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, D: 96 }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, dtype: 'float32' }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, Dv: 64 }, 90).ok).toBe(false);
    const mask = { ref: { in: 3 }, strides: [0, 0, 200] as [number, number, number], mT: 200 };
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'bool' } }, 90).ok).toBe(true);
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'float16' } }, 90).ok).toBe(true);
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'float32' } }, 90).ok).toBe(true);
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'bfloat16' } }, 90).ok).toBe(false); // as FA2: float mask dtype = Q's or float32
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'int64' } }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, mask: { ...mask, dtype: 'float64' } }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, split: true }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, q: { ref: { in: 0 }, strides: [8 * 200 * 128, 200 * 128, 132] } }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, Hkv: 3 }, 90).ok).toBe(false);
    expect(flashWgmmaApplies({ ...p, causal: true, causalOffset: 17, softcap: 4, dtype: 'bfloat16' }, 90).ok).toBe(true);
  });

  it('kernel set is stable across shapes; launches check', () => {
    for (const D of [64, 128]) for (const causal of [false, true]) for (const dtype of ['float16', 'bfloat16'] as const) {
      const shapes = [
        { B: 2, Hq: 16, Hkv: 4, Sq: 200, Skv: 200, D },
        { B: 1, Hq: 4, Hkv: 4, Sq: 33, Skv: 1000, D },
        { B: 3, Hq: 2, Hkv: 1, Sq: 4096, Skv: 4096, D },
      ];
      const names = shapes.map((s) => {
        const plan = launchFlashWgmma(problem({ ...s, causal, dtype, causalOffset: causal ? s.Skv - s.Sq : 0 }));
        expect(plan.launches.length).toBe(1);
        expect(plan.scratch).toEqual([]);
        for (const l of plan.launches) {
          expect(checkLaunch(l, { inputs: 3, outputs: 1, scratch: 0 })).toEqual([]);
          expect(l.grid[0]).toBe(Math.ceil(s.Sq / (l.block[0] / 2)));
        }
        all.push(...plan.launches.map((l) => l.kernel), ...plan.variants);
        return [...new Set([...plan.launches.map((l) => l.kernel.name), ...plan.variants.map((k) => k.name)])].sort();
      });
      expect(names[1]).toEqual(names[0]);
      expect(names[2]).toEqual(names[0]);
    }
  });

  it('masked launches: FA2 argument order, stable kernel sets, no-mask text unchanged', () => {
    const mdts = ['bool', 'float16', 'bfloat16', 'float32'] as const;
    for (const D of [64, 128] as const) for (const causal of [false, true]) for (const md of mdts) {
      const dtype = md === 'bfloat16' ? 'bfloat16' : 'float16';
      const shapes = [
        { B: 8, Hq: 12, Hkv: 12, Sq: 512, Skv: 512, mstr: [512, 0, 0] as [number, number, number], mT: 512 },
        { B: 32, Hq: 12, Hkv: 12, Sq: 128, Skv: 128, mstr: [12 * 128 * 128, 128 * 128, 128] as [number, number, number], mT: 128 },
        { B: 2, Hq: 8, Hkv: 2, Sq: 65, Skv: 300, mstr: [0, 65 * 297, 297] as [number, number, number], mT: 297 },
        { B: 1, Hq: 2, Hkv: 1, Sq: 4096, Skv: 4096, mstr: [0, 0, 0] as [number, number, number], mT: 4096 },
      ];
      const names = shapes.map((s) => {
        const p = problem({ ...s, D, causal, dtype, causalOffset: causal ? s.Skv - s.Sq : 0, mask: { ref: { in: 3 }, dtype: md, strides: s.mstr, mT: s.mT } });
        expect(flashWgmmaApplies(p, 90).ok).toBe(true);
        const plan = launchFlashWgmma(p);
        expect(plan.launches.length).toBe(1);
        const l = plan.launches[0];
        expect(checkLaunch(l, { inputs: 4, outputs: 1, scratch: 0 })).toEqual([]);
        // q, k, v, mask, o, then dims / strides, mask strides + mT, coff, scale (FA2's order)
        expect(l.args.slice(0, 5)).toEqual([{ in: 0 }, { in: 1 }, { in: 2 }, { in: 3 }, { out: 0 }]);
        const unmasked = launchFlashWgmma({ ...p, mask: undefined }).launches[0];
        expect(l.args.length).toBe(unmasked.args.length + 5);
        expect(l.kernel.name).not.toBe(unmasked.kernel.name);
        all.push(l.kernel, ...plan.variants);
        return [...new Set([l.kernel.name, ...plan.variants.map((k) => k.name)])].sort();
      });
      for (const n of names) expect(n).toEqual(names[0]);
      // the variant list attention.ts builds (mask: the mask's dtype) is the same kernel set
      const v = flashWgmmaVariants({ dtype, headDim: D, causal, softcap: false, mask: md }).map((k) => k.name).sort();
      expect(v).toEqual(names[0]);
    }
    // no mask: mask undefined in the base config gives the unmasked kernels
    const a = flashWgmmaVariants({ dtype: 'float16', headDim: 64, causal: true, softcap: false }).map((k) => k.code);
    const b = flashWgmmaVariants({ dtype: 'float16', headDim: 64, causal: true, softcap: false, mask: undefined }).map((k) => k.code);
    expect(b).toEqual(a);
    for (const c of a) expect(c).not.toMatch(/mask/);
    expect(() => flashWgmmaVariants({ dtype: 'float16', headDim: 64, causal: true, softcap: false, mask: 'int32' })).toThrow();
  });

  it('heuristic: D = 64 short queries one warpgroup / 64-key tiles; two tiles per head dim', () => {
    expect(heuristicFlashWgmmaTile(512, 64)).toEqual({ wgs: 1, bn: 64, stages: 3 });
    expect(heuristicFlashWgmmaTile(128, 64)).toEqual({ wgs: 1, bn: 64, stages: 3 });
    expect(heuristicFlashWgmmaTile(2048, 64)).toEqual({ wgs: 2, bn: 64, stages: 3 });
    expect(heuristicFlashWgmmaTile(2048, 128)).toEqual({ wgs: 2, bn: 128, stages: 3 });
    for (const D of [64, 128]) {
      expect(heuristicFlashWgmmaTiles(D).length).toBe(2);
      for (const S of [1, 64, 128, 256, 257, 512, 513, 1024, 8192]) {
        expect(heuristicFlashWgmmaTiles(D)).toContainEqual(heuristicFlashWgmmaTile(S, D));
      }
    }
  });

  it('softcap adds one argument; empty problems launch nothing; variants cover the heuristic tiles', () => {
    const p = problem({ B: 2, Hq: 2, Hkv: 2, Sq: 70, Skv: 90, D: 64, causal: true, causalOffset: 20, softcap: 5 });
    const plan = launchFlashWgmma(p);
    const l = plan.launches[0];
    expect(checkLaunch(l, { inputs: 3, outputs: 1, scratch: 0 })).toEqual([]);
    expect(l.args.length).toBe(launchFlashWgmma({ ...p, softcap: undefined }).launches[0].args.length + 1);
    all.push(l.kernel);
    expect(launchFlashWgmma({ ...p, Sq: 0 }).launches).toEqual([]);
    const v = flashWgmmaVariants({ dtype: 'float16', headDim: 128, causal: false, softcap: false });
    expect(v.length).toBe(2);
    expect(flashWgmmaKernel({ dtype: 'float16', headDim: 128, causal: false, softcap: false, tile: heuristicFlashWgmmaTile(2048, 128) }).name).toBe(v[0].name);
  });

  it.skipIf(!nvccPath())('every kernel compiles with nvcc (sm_90a)', async () => {
    const extra = [{ wgs: 2, bn: 64, stages: 4 }, { wgs: 2, bn: 64, stages: 3 }] as const;
    for (const D of [64, 128] as const) for (const causal of [false, true]) {
      all.push(...flashWgmmaVariants({ dtype: 'bfloat16', headDim: D, causal, softcap: true }, [...extra]));
      for (const mask of ['bool', 'bfloat16', 'float32'] as const) {
        all.push(...flashWgmmaVariants({ dtype: 'bfloat16', headDim: D, causal, softcap: true, mask }, [...extra]));
      }
    }
    expect(all.length).toBeGreaterThan(10);
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log.slice(0, 2000)}`)).toEqual([]);
  }, 600_000);
});
