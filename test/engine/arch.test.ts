// Architecture-specific plans: a GEMM planned for sm_90 takes the TMA wgmma kernel with tensor-map
// arguments resolved to plan values and a cuBLASLt library form; planned for no known GPU it stays portable.
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/engine/engine.js';
import type { DeviceStep } from '../../src/engine/plan.js';
import { GraphBuilder } from '../../src/builder/graph-builder.js';
import { randomTensor } from '../../src/cli/run.js';
import { Rng } from '../../src/util/rng.js';
import { cudaStatus } from '../../src/runtime/cuda.js';

function matmulModel() {
  const b = new GraphBuilder('mm');
  const x = b.input('x', 'float32', ['m', 1024]);
  const w = b.constant(randomTensor('float32', [1024, 2048], new Rng(1)));
  b.output(b.op('MatMul', [x, w]), 'y');
  return b.build();
}

const gpu = cudaStatus().available;

describe('plans for a target architecture', () => {
  it.skipIf(gpu)('sm_90: TMA wgmma with tensor maps over plan values, and a library form (no GPU here, so --arch decides)', () => {
    const e = new Engine(matmulModel(), { precision: 'fp16', arch: 90 });
    const feeds = new Map([['x', randomTensor('float32', [4096, 1024], new Rng(2))]]);
    const p = e.planFor(feeds).plan!;
    const steps = p.steps.filter((s): s is DeviceStep => s.kind === 'device');
    const gemm = steps.flatMap((s) => s.launches).find((l) => /wgmma_tma/.test(l.kernel.name));
    expect(gemm).toBeDefined();
    const maps = gemm!.args.filter((a) => 'tmap' in a).map((a) => ('tmap' in a ? a.tmap : undefined)!);
    expect(maps).toHaveLength(2);
    for (const m of maps) {
      expect(p.values.has(m.buf)).toBe(true);
      expect(m.byteOffset % 16).toBe(0);
      expect(m.swizzle).toBe(128);
    }
    expect(gemm!.library).toMatchObject({ op: 'gemm', M: 4096, N: 2048, K: 1024, dtype: 'float16' });
    // the kernels it may choose at other shapes are part of the plan, so a new shape compiles nothing
    const small = e.planFor(new Map([['x', randomTensor('float32', [8, 1024], new Rng(3))]])).plan!;
    expect([...small.kernels.keys()].sort()).toEqual([...p.kernels.keys()].sort());
  });
  it.skipIf(gpu)('no known GPU and no --arch: portable kernels only', () => {
    const e = new Engine(matmulModel(), { precision: 'fp16' });
    const p = e.planFor(new Map([['x', randomTensor('float32', [4096, 1024], new Rng(2))]])).plan!;
    expect([...p.kernels.keys()].some((k) => /wgmma/.test(k))).toBe(false);
  });
});
