// Addon errors become typed errors naming the call and the driver's error string.
import { describe, expect, it } from 'vitest';
import { ChimeraError } from '../../src/errors.js';
import { CudaError, CudaOutOfMemoryError, CudaUsageError, NvrtcError, guard, toRuntimeError } from '../../src/runtime/errors.js';

function nativeError(fields: Record<string, unknown>, message: string): Error {
  return Object.assign(new Error(message), fields);
}

describe('runtime errors', () => {
  it('maps CUDA_ERROR_OUT_OF_MEMORY to a recoverable typed OOM', () => {
    const e = toRuntimeError(nativeError({ lib: 'cuda', call: 'cuMemAlloc_v2', status: 2, statusName: 'CUDA_ERROR_OUT_OF_MEMORY', statusString: 'out of memory' }, 'cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)'));
    expect(e).toBeInstanceOf(CudaOutOfMemoryError);
    expect(e).toBeInstanceOf(CudaError);
    expect(e).toBeInstanceOf(ChimeraError);
    const c = e as CudaOutOfMemoryError;
    expect([c.call, c.status, c.statusName, c.code]).toEqual(['cuMemAlloc_v2', 2, 'CUDA_ERROR_OUT_OF_MEMORY', 'E_LIMIT']);
    expect(c.message).toContain('cuMemAlloc_v2');
    expect(c.message).toContain('out of memory');
  });

  it('keeps other driver errors as CudaError, with the JIT log when there is one', () => {
    const e = toRuntimeError(nativeError({ lib: 'cuda', call: 'cuModuleLoadDataEx', status: 218, statusName: 'CUDA_ERROR_INVALID_PTX', statusString: 'a PTX JIT compilation failed', log: 'ptxas fatal: bad' }, 'cuModuleLoadDataEx failed'));
    expect(e).toBeInstanceOf(CudaError);
    expect(e).not.toBeInstanceOf(CudaOutOfMemoryError);
    expect((e as CudaError).code).toBe('E_RUNTIME');
    expect(e.message).toContain('ptxas fatal: bad');
  });

  it('maps NVRTC and usage errors; passes other errors through', () => {
    expect(toRuntimeError(nativeError({ lib: 'nvrtc', call: 'nvrtcCreateProgram', status: 1 }, 'x'))).toBeInstanceOf(NvrtcError);
    expect(toRuntimeError(nativeError({ lib: 'usage' }, 'the DeviceBuffer was disposed'))).toBeInstanceOf(CudaUsageError);
    const plain = new TypeError('boom');
    expect(toRuntimeError(plain)).toBe(plain);
    expect(() => guard(() => { throw nativeError({ lib: 'cuda', call: 'cuInit', status: 100, statusName: 'CUDA_ERROR_NO_DEVICE', statusString: 'no CUDA-capable device is detected' }, 'm'); })).toThrow(/cuInit failed: CUDA_ERROR_NO_DEVICE \(no CUDA-capable device is detected\)/);
  });
});

describe('cuBLASLt errors', () => {
  it('become typed CudaErrors naming the call and the cuBLAS status', () => {
    const e = Object.assign(new Error('cublasLtMatmul failed: cuBLAS status 15'), { lib: 'cublasLt', call: 'cublasLtMatmul', status: 15 });
    const t = toRuntimeError(e);
    expect(t).toBeInstanceOf(CudaError);
    expect((t as CudaError).call).toBe('cublasLtMatmul');
    expect((t as CudaError).statusName).toBe('CUBLAS_STATUS_15');
    expect((t as CudaError).code).toBe('E_RUNTIME');
  });
});
