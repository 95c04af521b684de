/**
 * The two floors of a benchmark row (docs: ../shared/GPU.md, "Measuring well"): the time the bytes a run
 * must move take at the measured copy ceiling, and the time its FLOPs take at the measured fp16 GEMM
 * ceiling. A run can be no faster than the larger of the two.
 */

/** Measured on the H100 of the GPU machine: device-to-device copy (read + write) and fp16 GEMM 8192³ (cuBLAS). */
export const H100_CEILINGS = { bytesPerS: 2.97e12, flopsPerS: 758e12 } as const;

export interface Ceilings {
  bytesPerS: number;
  flopsPerS: number;
}

export interface Floor {
  memoryMs: number;
  computeMs: number;
  /** max(memoryMs, computeMs) */
  ms: number;
  bound: 'memory' | 'compute';
}

/** Floors of `bytes` moved and `flops` done, in ms. */
export function floorOf(bytes: number, flops: number, c: Ceilings = H100_CEILINGS): Floor {
  const memoryMs = (bytes / c.bytesPerS) * 1e3;
  const computeMs = (flops / c.flopsPerS) * 1e3;
  return { memoryMs, computeMs, ms: Math.max(memoryMs, computeMs), bound: memoryMs >= computeMs ? 'memory' : 'compute' };
}
