// cuBLASLt as an optional candidate: discovery and reporting, without a GPU.
import { describe, expect, it } from 'vitest';
import { cublasLtCandidates, cublasLtStatus, LT_DTYPE, LT_EPILOGUE } from '../../src/runtime/cublaslt.js';
import { implementationLine } from '../../src/cli/run.js';

describe('cuBLASLt discovery', () => {
  it('tries the environment override first, then the versioned sonames', () => {
    const before = process.env.CHIMERA_LIBCUBLASLT;
    process.env.CHIMERA_LIBCUBLASLT = '/opt/x/libcublasLt.so.13';
    try {
      const c = cublasLtCandidates();
      expect(c[0]).toBe('/opt/x/libcublasLt.so.13');
      expect(c.slice(1, 3)).toEqual(['libcublasLt.so.13', 'libcublasLt.so.12']);
    } finally {
      if (before === undefined) delete process.env.CHIMERA_LIBCUBLASLT;
      else process.env.CHIMERA_LIBCUBLASLT = before;
    }
  });
  it('reports a reason instead of throwing when it is absent or disabled', () => {
    const st = cublasLtStatus();
    if (!st.available) expect(st.reason).toMatch(/\S/);
    else expect(st.path).toMatch(/cublasLt/);
  });
  it('uses the cudaDataType and cublasLtEpilogue_t values of the ABI', () => {
    expect(LT_DTYPE).toEqual({ float16: 2, bfloat16: 14 });
    expect(LT_EPILOGUE).toEqual({ default: 1, relu: 2, bias: 4, reluBias: 6, gelu: 32, geluBias: 36 });
  });
});

describe('implementation report', () => {
  it('counts what served the GEMMs and says why the library was not used', () => {
    const line = implementationLine([
      { step: 'a', kernel: 'k1', chosen: 'cublasLt', kernelMs: 0.02, libraryMs: 0.01 },
      { step: 'b', kernel: 'k2', chosen: 'kernel', kernelMs: 0.01, libraryMs: 0.02 },
      { step: 'c', kernel: 'k3', chosen: 'kernel', note: 'cuBLASLt unavailable: not found' },
    ]);
    expect(line).toMatch(/2 generated kernel, 1 cuBLASLt \(measured 0\.010 ms faster in all\)/);
    expect(line).toMatch(/cuBLASLt unavailable: not found/);
  });
});
