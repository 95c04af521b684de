/**
 * cuBLASLt, optional: loaded at run time like the driver (never linked, never required). When it is found,
 * the executor may serve a GEMM through it where it measures faster than the generated kernel; the generated
 * kernels stay the portable default. Disable with CHIMERA_CUBLASLT=0; point at a library with
 * CHIMERA_LIBCUBLASLT=/path/libcublasLt.so.N.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadNative, type NativeLtMatmul } from './native.js';
import { guard } from './errors.js';
import type { Stream } from './cuda.js';

export interface CublasLtStatus {
  available: boolean;
  path?: string;
  /** cublasLtGetVersion(), e.g. 130100 */
  version?: number;
  reason?: string;
}

/** Folders pip wheels (torch's nvidia-cublas) put the library in. */
function wheelDirs(): string[] {
  const roots = ['/usr/local/lib', '/usr/lib', path.join(process.env.HOME ?? '/root', '.local/lib')];
  const out: string[] = [];
  for (const r of roots) {
    let pys: string[] = [];
    try {
      pys = fs.readdirSync(r).filter((d) => /^python3(\.\d+)?$/.test(d)).sort();
    } catch {
      continue;
    }
    for (const py of pys) {
      for (const pkgs of ['dist-packages', 'site-packages']) {
        for (const sub of ['nvidia/cu13/lib', 'nvidia/cublas/lib', 'nvidia/cu12/lib']) out.push(path.join(r, py, pkgs, sub));
      }
    }
  }
  return out;
}

export function cublasLtCandidates(): string[] {
  const c = [process.env.CHIMERA_LIBCUBLASLT, 'libcublasLt.so.13', 'libcublasLt.so.12'];
  const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda'].filter((h): h is string => !!h).map((h) => path.join(h, 'lib64'));
  for (const d of [...homes, ...wheelDirs()]) {
    for (const v of ['13', '12']) {
      const p = path.join(d, `libcublasLt.so.${v}`);
      if (fs.existsSync(p)) c.push(p);
    }
  }
  return c.filter((x): x is string => !!x);
}

let status: CublasLtStatus | undefined;

/** Loads cuBLASLt once per process; never throws. */
export function cublasLtStatus(): CublasLtStatus {
  if (status) return status;
  if (process.env.CHIMERA_CUBLASLT === '0') return (status = { available: false, reason: 'disabled by CHIMERA_CUBLASLT=0' });
  const n = loadNative();
  if (!n.addon) return (status = { available: false, reason: n.error ?? 'the CUDA addon is not loaded' });
  if (typeof n.addon.ltLoad !== 'function') return (status = { available: false, reason: 'the CUDA addon predates cuBLASLt support: rebuild it (node scripts/build-native.mjs)' });
  const r = n.addon.ltLoad(cublasLtCandidates());
  return (status = r.loaded ? { available: true, path: r.path, version: r.version } : { available: false, reason: r.error || 'libcublasLt not found' });
}

/** cudaDataType of a GEMM operand dtype */
export const LT_DTYPE = { float16: 2, bfloat16: 14 } as const;
/** cublasLtEpilogue_t values the engine uses */
export const LT_EPILOGUE = { default: 1, relu: 2, bias: 4, reluBias: 6, gelu: 32, geluBias: 36 } as const;

/** Issues one GEMM on `stream` (row-major operands; see native/src/cublaslt.cc). */
export function ltMatmul(stream: Stream, spec: NativeLtMatmul): void {
  const n = loadNative();
  if (!n.addon || !cublasLtStatus().available) throw new Error(`cuBLASLt is not available: ${cublasLtStatus().reason}`);
  guard(() => n.addon!.ltMatmul(stream.native, spec));
}
