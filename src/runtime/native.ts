/**
 * Finds and loads the addon (native/build/Release/chimera_cuda.node), then libcuda and NVRTC through it.
 * Which library names and folders are tried is decided here; the addon only dlopens what it is given.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's exports (see native/src/*.cc). */
export interface NativeAddon {
  load(libs: { cuda?: string[]; nvrtc?: string[] }): LoadState;
  driverInfo(): { initStatus: number; initStatusName: string; initStatusString: string; driverVersion?: number; deviceCount: number };
  deviceInfo(ordinal: number): NativeDeviceInfo;
  init(ordinal: number): void;
  memInfo(): { free: number; total: number };
  synchronize(): void;
  stats(): Record<string, number>;
  DeviceBuffer: new (bytes: number) => NativeDeviceBuffer;
  HostBuffer: new (bytes: number) => NativeHostBuffer;
  copyHtoD(dst: NativeDeviceBuffer, dstOffset: number, src: ArrayBufferView | ArrayBuffer, stream?: NativeStream | null): void;
  copyDtoH(dst: ArrayBufferView | ArrayBuffer, src: NativeDeviceBuffer, srcOffset: number, stream?: NativeStream | null): void;
  copyDtoD(dst: NativeDeviceBuffer, dstOffset: number, src: NativeDeviceBuffer, srcOffset: number, bytes: number, stream?: NativeStream | null): void;
  memset(dst: NativeDeviceBuffer, offset: number, value: number, count: number, width: 1 | 4, stream?: NativeStream | null): void;
  Module: new (image: Uint8Array) => NativeModule;
  Function: new (module: NativeModule, name: string) => NativeFunction;
  Stream: new (flags?: number) => NativeStream;
  Event: new (flags?: number) => NativeEvent;
  GraphExec: new (graph: NativeGraph) => NativeGraphExec;
  nvrtcVersion(): { major: number; minor: number };
  nvrtcCompile(source: string, name: string, options: string[], nameExpressions: string[]): NativeCompileResult;
  encodeTensorMap(address: bigint, dataType: number, dims: number[], strides: number[], box: number[], swizzle: number, l2Promotion: number): Uint8Array;
  ltLoad(candidates: string[]): { loaded: boolean; path: string; error: string; version: number };
  ltMatmul(stream: NativeStream | null, spec: NativeLtMatmul): void;
}
/** One cuBLASLt GEMM (native/src/cublaslt.cc); pointers as BigInt. */
export interface NativeLtMatmul {
  dtype: number;
  transA: boolean;
  transB: boolean;
  M: number; N: number; K: number;
  lda: number; ldb: number; ldc: number;
  batch: number; strideA: number; strideB: number; strideC: number;
  alpha: number;
  beta: number;
  epilogue: number;
  a: bigint; b: bigint; c: bigint; d: bigint;
  bias?: bigint;
  workspace: bigint;
  workspaceBytes: number;
}
export interface LoadState {
  cudaLoaded: boolean;
  cudaPath: string;
  cudaError: string;
  nvrtcLoaded: boolean;
  nvrtcPath: string;
  nvrtcError: string;
}
export interface NativeDeviceInfo {
  name: string;
  totalMemory: number;
  major: number;
  minor: number;
  smCount: number;
  l2Bytes: number;
  maxThreadsPerBlock: number;
  warpSize: number;
  sharedPerBlock: number;
  sharedPerBlockOptin: number;
  sharedPerSM: number;
  clockKHz: number;
  memoryClockKHz: number;
  memoryBusBits: number;
}
interface Disposable {
  readonly disposed: boolean;
  dispose(): void;
}
export interface NativeDeviceBuffer extends Disposable {
  readonly size: number;
  readonly ptr: bigint;
}
export interface NativeHostBuffer extends Disposable {
  readonly size: number;
  readonly buffer: ArrayBuffer;
}
export type NativeModule = Disposable;
export interface NativeFunction {
  getAttribute(attr: number): number;
  setAttribute(attr: number, value: number): void;
  launch(gx: number, gy: number, gz: number, bx: number, by: number, bz: number, shared: number, stream: NativeStream | null, args: Uint8Array): void;
}
export interface NativeStream extends Disposable {
  synchronize(): void;
  beginCapture(mode?: number): void;
  endCapture(): NativeGraph;
}
export interface NativeEvent extends Disposable {
  record(stream: NativeStream | null): void;
  synchronize(): void;
  elapsedSince(start: NativeEvent): number;
}
export interface NativeGraph extends Disposable {
  instantiate(): NativeGraphExec;
}
export interface NativeGraphExec extends Disposable {
  launch(stream: NativeStream | null): void;
  update(graph: NativeGraph): { ok: boolean; result: number };
}
export interface NativeCompileResult {
  ok: boolean;
  status: number;
  statusString: string;
  log: string;
  ptx?: Buffer;
  cubin?: Buffer;
  lowered?: Record<string, string>;
}

const ADDON_REL = path.join('native', 'build', 'Release', 'chimera_cuda.node');

/** Where the addon is: $CHIMERA_CUDA_ADDON, else native/build/Release/ in a folder above this file. */
export function addonPath(): string | undefined {
  const env = process.env.CHIMERA_CUDA_ADDON;
  if (env) return env;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const p = path.join(dir, ADDON_REL);
    if (fs.existsSync(p)) return p;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** The install script's record of a failed addon build (native/build/BUILD_FAILED.txt), if any. */
function buildFailure(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const f = path.join(dir, 'native', 'build', 'BUILD_FAILED.txt');
    if (fs.existsSync(f)) {
      try {
        return `${fs.readFileSync(f, 'utf8').split('\n')[0].trim()}; details in ${f}`;
      } catch {
        return f;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function cudaCandidates(): string[] {
  const c = [process.env.CHIMERA_LIBCUDA, 'libcuda.so.1'];
  for (const d of ['/usr/local/nvidia/lib64', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib/wsl/lib']) {
    const p = path.join(d, 'libcuda.so.1');
    if (fs.existsSync(p)) c.push(p);
  }
  return c.filter((x): x is string => !!x);
}

function nvrtcCandidates(): string[] {
  const c = [process.env.CHIMERA_LIBNVRTC, 'libnvrtc.so.13', 'libnvrtc.so.12'];
  const homes = [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda', '/usr/local/cuda-13', '/usr/local/cuda-13.0', '/usr/local/cuda-12'];
  for (const h of homes) {
    if (!h) continue;
    for (const lib of ['lib64', 'lib']) {
      for (const v of ['13', '12']) {
        const p = path.join(h, lib, `libnvrtc.so.${v}`);
        if (fs.existsSync(p)) c.push(p);
      }
    }
  }
  return c.filter((x): x is string => !!x);
}

interface Loaded {
  addon?: NativeAddon;
  addonPath?: string;
  error?: string;
  libs?: LoadState;
}
let loaded: Loaded | undefined;

/** Loads the addon and tries the libraries once per process; never throws. */
export function loadNative(): Loaded {
  if (loaded) return loaded;
  const p = addonPath();
  if (!p) {
    const failed = buildFailure();
    loaded = {
      error: failed
        ? `the addon failed to build at install (${failed}); fix the cause and run node scripts/build-native.mjs`
        : `the addon is not built (no ${ADDON_REL} above ${path.dirname(fileURLToPath(import.meta.url))}; run npm ci or node scripts/build-native.mjs)`,
    };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(p) as NativeAddon;
    const libs = addon.load({ cuda: cudaCandidates(), nvrtc: nvrtcCandidates() });
    loaded = { addon, addonPath: p, libs };
  } catch (e) {
    loaded = { addonPath: p, error: `the addon at ${p} did not load: ${(e as Error).message}` };
  }
  return loaded;
}
