/** The result of `chimera bench`: one entry per benchmark row, and number formatting shared by the table and chart. */
import type { KernelResult } from './kernels.js';

export type RowStatus = 'ok' | 'failed' | 'error' | 'skipped';

export interface BenchRowResult {
  id: string;
  model: string;
  kind: string;
  shape: string;
  floorMs?: number;
  floorMemoryMs?: number;
  floorComputeMs?: number;
  torchEagerMs?: number;
  torchCompileMs?: number;
  /** why torch.compile has no time */
  torchCompileNote?: string;
  chimeraMs?: number;
  /** how chimera's time was taken: CUDA-graph replays or direct launches, iters × repeats */
  chimeraTiming?: { mode: string; iters: number; repeats: number; samplesMs: number[] };
  /** chimera ms / torch.compile ms (> 1: chimera is slower) */
  ratio?: number;
  /** worst relative L2 error of chimera's outputs against torch's fp16 outputs */
  relL2?: number;
  relL2ByOutput?: Record<string, number>;
  /** decode rows: tokens per run, for tokens/s */
  tokensPerRun?: number;
  /** ok: checked and timed; failed: outputs off by more than the limit (not timed); error: could not run; skipped */
  status: RowStatus;
  note?: string;
}

export interface BenchReport {
  dir: string;
  device?: string;
  peersCreated?: string;
  precision: 'fp16';
  maxRelL2: number;
  /** engine build time per model (load, optimize, partition), ms */
  buildMs: Record<string, number>;
  rows: BenchRowResult[];
  totalS: number;
  versions?: Record<string, string>;
  /** kernel microbenchmarks (DIR/kernels.json), when run */
  kernels?: KernelResult[];
  /** rel L2 above which a kernel case fails (default 1e-2) */
  kernelMaxRelL2?: number;
  /** when the torch kernel times were measured */
  kernelsCreated?: string;
}

/** ms with about 3 significant digits. */
export function fmtMs(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  if (x >= 100) return x.toFixed(1);
  if (x >= 10) return x.toFixed(2);
  if (x >= 1) return x.toFixed(3);
  return x.toPrecision(3);
}

export function fmtRatio(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`;
}

export function fmtErr(x: number | undefined): string {
  if (x === undefined) return '–';
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return '∞';
  return x === 0 ? '0' : x.toExponential(2);
}

export function tokensPerS(ms: number | undefined, tokens: number | undefined): number | undefined {
  return ms !== undefined && tokens !== undefined && ms > 0 ? (tokens / ms) * 1e3 : undefined;
}
