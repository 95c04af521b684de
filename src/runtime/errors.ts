/**
 * Typed errors of the CUDA runtime. Every driver or NVRTC failure names the call and carries the
 * driver's own error name and string; out-of-memory has its own class so callers can recover.
 */
import { ChimeraError } from '../errors.js';

/** A CUDA driver call failed. */
export class CudaError extends ChimeraError {
  /** the entry point that failed, e.g. "cuMemAlloc_v2" */
  readonly call: string;
  /** the CUresult number */
  readonly status: number;
  /** e.g. "CUDA_ERROR_OUT_OF_MEMORY" */
  readonly statusName: string;
  /** the driver's description, e.g. "out of memory" */
  readonly statusString: string;
  constructor(call: string, status: number, statusName: string, statusString: string, message?: string, code: 'E_RUNTIME' | 'E_LIMIT' = 'E_RUNTIME') {
    super(code, message ?? `${call} failed: ${statusName} (${statusString})`);
    this.name = 'CudaError';
    this.call = call;
    this.status = status;
    this.statusName = statusName;
    this.statusString = statusString;
  }
}

/** cuMemAlloc (or another allocation) ran out of device memory; the context stays usable. */
export class CudaOutOfMemoryError extends CudaError {
  constructor(call: string, status: number, statusName: string, statusString: string, message?: string) {
    super(call, status, statusName, statusString, message, 'E_LIMIT');
    this.name = 'CudaOutOfMemoryError';
  }
}

/** An NVRTC call failed (other than a compile error in the source). */
export class NvrtcError extends ChimeraError {
  readonly call: string;
  readonly status: number;
  constructor(call: string, status: number, message: string) {
    super('E_RUNTIME', message);
    this.name = 'NvrtcError';
    this.call = call;
    this.status = status;
  }
}

/** NVRTC rejected the source; `log` is the compiler's log. */
export class NvrtcCompileError extends ChimeraError {
  readonly log: string;
  readonly options: string[];
  constructor(name: string, options: string[], log: string) {
    super('E_RUNTIME', `nvrtcCompileProgram failed for ${name} (${options.join(' ')}): NVRTC_ERROR_COMPILATION\n${log}`);
    this.name = 'NvrtcCompileError';
    this.log = log;
    this.options = options;
  }
}

/** CUDA (or NVRTC) cannot be used here; `reason` says why. */
export class CudaUnavailableError extends ChimeraError {
  readonly reason: string;
  constructor(what: string, reason: string) {
    super('E_UNSUPPORTED', `${what} is not available: ${reason}`);
    this.name = 'CudaUnavailableError';
    this.reason = reason;
  }
}

/** Misuse of the runtime API (a disposed buffer, a range outside a buffer, a bad argument). */
export class CudaUsageError extends ChimeraError {
  constructor(message: string) {
    super('E_RUNTIME', message);
    this.name = 'CudaUsageError';
  }
}

const CUDA_ERROR_OUT_OF_MEMORY = 2;

interface NativeErrorShape {
  message?: string;
  lib?: string;
  call?: string;
  status?: number;
  statusName?: string;
  statusString?: string;
  log?: string;
}

/** Converts an error thrown by the addon into the typed error it stands for. */
export function toRuntimeError(e: unknown): Error {
  if (e instanceof ChimeraError || !(e instanceof Error)) return e instanceof Error ? e : new CudaUsageError(String(e));
  const n = e as NativeErrorShape;
  if (n.lib === 'cuda') {
    const status = n.status ?? -1;
    const [call, name, str] = [n.call ?? '?', n.statusName ?? '?', n.statusString ?? '?'];
    const msg = `${call} failed: ${name} (${str})${n.log ? `\n${n.log}` : ''}`;
    const Cls = status === CUDA_ERROR_OUT_OF_MEMORY ? CudaOutOfMemoryError : CudaError;
    return new Cls(call, status, name, str, msg);
  }
  if (n.lib === 'nvrtc') return new NvrtcError(n.call ?? '?', n.status ?? -1, e.message);
  if (n.lib === 'usage') return new CudaUsageError(e.message);
  if (n.lib === 'cublasLt') {
    const status = n.status ?? -1;
    return new CudaError(n.call ?? '?', status, `CUBLAS_STATUS_${status}`, 'cuBLASLt refused the call', e.message);
  }
  return e;
}

/** Runs `f`, rethrowing addon errors as typed errors. */
export function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toRuntimeError(e);
  }
}
