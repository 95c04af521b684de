/**
 * cuBLASLt as a measured candidate for GEMM launches that carry a library form (Launch.library): on the
 * first run of a signature the plan runs once in order with the kernels, and at each candidate the kernel
 * and cuBLASLt are timed on the live operands and their outputs compared; the library serves the launch
 * only where it is correct and faster (or always, in 'cublaslt' mode). The generated kernels stay the default.
 */
import type { Tensor } from '../ir/tensor.js';
import type { PackedArgs } from '../runtime/args.js';
import { Event, type DeviceBuffer, type Stream } from '../runtime/cuda.js';
import { cublasLtStatus, ltMatmul, LT_DTYPE, LT_EPILOGUE } from '../runtime/cublaslt.js';
import type { NativeLtMatmul } from '../runtime/native.js';
import type { LibraryGemm } from '../codegen/lowering.js';
import { ChimeraError } from '../errors.js';
import { relL2 } from '../bench/compare.js';
import type { DeviceStep, PlannedLaunch } from './plan.js';

/** Which implementation serves GEMMs that have a library form: measured per node, never, or always. */
export type GemmLibraryMode = 'auto' | 'off' | 'cublaslt';

/** What serves one GEMM launch of a plan, and what was measured to decide it. */
export interface Implementation {
  step: string;
  kernel: string;
  chosen: 'kernel' | 'cublasLt';
  kernelMs?: number;
  libraryMs?: number;
  /** why the library was not used, when it was a candidate */
  note?: string;
}

/** cuBLASLt workspace per executor */
export const LT_WORKSPACE_BYTES = 32 * 2 ** 20;

/** What the choice needs of the executor. */
export interface ChoiceContext {
  stream: Stream;
  mode: GemmLibraryMode;
  ptrOf: (name: string) => bigint;
  launch: (l: PlannedLaunch, args: PackedArgs) => void;
  /** the first `bytes` at a device address as a tensor of `dtype` */
  sample: (ptr: bigint, bytes: number, dtype: 'float16' | 'bfloat16') => Tensor;
  workspace: () => DeviceBuffer;
}

/** The cuBLASLt call for a launch's library form, with its operands resolved to device addresses. */
export function ltCall(s: DeviceStep, j: number, g: LibraryGemm, ptrOf: (n: string) => bigint, workspace: DeviceBuffer): NativeLtMatmul {
  const addr = (o: readonly [number, number] | undefined): bigint => {
    if (!o) return 0n;
    const a = s.launches[j + o[0]].args[o[1]];
    if (a && 'tmap' in a) return ptrOf(a.tmap.buf) + BigInt(a.tmap.byteOffset);
    if (!a || !('buf' in a)) throw new ChimeraError('E_INTERNAL', `library operand ${o.join(':')} of ${s.label} is not a buffer`);
    return ptrOf(a.buf) + BigInt(a.byteOffset);
  };
  const d = addr(g.c);
  const epilogue = g.act === 'relu' ? (g.bias ? LT_EPILOGUE.reluBias : LT_EPILOGUE.relu)
    : g.act === 'gelu_tanh' ? (g.bias ? LT_EPILOGUE.geluBias : LT_EPILOGUE.gelu)
      : g.bias ? LT_EPILOGUE.bias : LT_EPILOGUE.default;
  return {
    dtype: LT_DTYPE[g.dtype], transA: g.transA, transB: g.transB, M: g.M, N: g.N, K: g.K, lda: g.lda, ldb: g.ldb, ldc: g.ldc,
    batch: g.batch, strideA: g.strideA, strideB: g.strideB, strideC: g.strideC, alpha: g.alpha, beta: g.residual ? 1 : 0, epilogue,
    a: addr(g.a), b: addr(g.b), c: g.residual ? addr(g.residual) : d, d, ...(g.bias ? { bias: addr(g.bias) } : {}),
    workspace: workspace.ptr, workspaceBytes: workspace.size,
  };
}

/**
 * Decides, for every launch with a library form, whether cuBLASLt serves it. The plan runs once, step
 * by step with the kernels; at each candidate (so its operands hold this run's data) the kernel and
 * cuBLASLt are timed (CUDA events around batches of back-to-back calls, median of 5) and the library's result is compared
 * with the kernel's on the first rows of the output (relative L2 ≤ 2e-2); the library is used where it
 * is correct and faster.
 */
export function chooseImplementations(x: ChoiceContext, steps: DeviceStep[], packed: PackedArgs[][], lt: (NativeLtMatmul | undefined)[][]): Implementation[] {
  const out: Implementation[] = [];
  const candidates = steps.flatMap((s, i) => s.launches.map((l, j) => (l.library ? [i, j] : undefined)).filter((c): c is number[] => !!c));
  if (candidates.length === 0) return out;
  const lib = cublasLtStatus();
  if (x.mode === 'off' || !lib.available) {
    for (const [i, j] of candidates) out.push({ step: steps[i].label, kernel: steps[i].launches[j].kernel.name, chosen: 'kernel', note: x.mode === 'off' ? 'library use is off' : `cuBLASLt unavailable: ${lib.reason}` });
    return out;
  }
  const start = Event.create();
  const end = Event.create();
  // per call: a batch of back-to-back calls between two events (one call between events would measure
  // the host's launch latency for small GEMMs, not the GEMM), sized to ~0.2 ms; median of 5 batches
  const batch = (f: () => void, n: number): number => {
    start.record(x.stream);
    for (let k = 0; k < n; k++) f();
    end.record(x.stream);
    end.synchronize();
    return Event.elapsedMs(start, end) / n;
  };
  const time = (f: () => void): number => {
    f();
    const probe = batch(f, 4);
    const n = Math.max(1, Math.min(32, Math.round(0.2 / Math.max(probe, 1e-4))));
    const t: number[] = [];
    for (let r = 0; r < 5; r++) t.push(batch(f, n));
    return t.sort((x, y) => x - y)[2];
  };
  const launch = (i: number, k: number) => x.launch(steps[i].launches[k], packed[i][k]);
  try {
    steps.forEach((s, i) => {
      for (let j = 0; j < s.launches.length; j++) {
        const l = s.launches[j];
        const g = l.library;
        if (!g) {
          launch(i, j);
          continue;
        }
        const j0 = j;
        const kernelOnly = () => {
          for (let k = j0; k < j0 + g.replaces; k++) launch(i, k);
        };
        j += g.replaces - 1;
        const entry: Implementation = { step: s.label, kernel: l.kernel.name, chosen: 'kernel' };
        out.push(entry);
        let call: NativeLtMatmul;
        try {
          call = ltCall(s, j0, g, x.ptrOf, x.workspace());
        } catch (e) {
          entry.note = (e as Error).message;
          kernelOnly();
          continue;
        }
        entry.kernelMs = time(kernelOnly);
        const sampleBytes = Math.min(g.M, 16) * g.ldc * 2;
        const kernelOut = x.sample(call.d, sampleBytes, g.dtype);
        try {
          entry.libraryMs = time(() => ltMatmul(x.stream, call));
        } catch (e) {
          entry.note = `cuBLASLt refused: ${(e as Error).message}`;
          x.stream.synchronize();
          kernelOnly();
          continue;
        }
        const err = relL2(x.sample(call.d, sampleBytes, g.dtype), kernelOut);
        if (!(err <= 2e-2)) {
          entry.note = `cuBLASLt result differs from the kernel's (rel L2 ${err.toExponential(2)})`;
          kernelOnly();
          continue;
        }
        if (x.mode === 'cublaslt' || entry.libraryMs < entry.kernelMs) {
          entry.chosen = 'cublasLt';
          lt[i][j0] = call;
        } else {
          kernelOnly();
        }
      }
    });
    x.stream.synchronize();
  } finally {
    start.dispose();
    end.dispose();
  }
  return out;
}
