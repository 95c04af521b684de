// The cuBLASLt form of a planned GEMM launch: operands resolved to addresses, epilogue and beta chosen
// to compute exactly what the kernel computes (no GPU needed).
import { describe, expect, it } from 'vitest';
import { ltCall } from '../../src/engine/gemm-library.js';
import type { DeviceStep, PlannedLaunch } from '../../src/engine/plan.js';
import type { LibraryGemm } from '../../src/codegen/lowering.js';
import type { DeviceBuffer } from '../../src/runtime/cuda.js';

const base = new Map([['a', 0x1000n], ['b', 0x2000n], ['bias', 0x3000n], ['res', 0x4000n], ['c', 0x5000n]]);
const ptrOf = (n: string) => base.get(n)!;
const ws = { ptr: 0x9000n, size: 4096 } as unknown as DeviceBuffer;

function step(args: PlannedLaunch['args'], library: LibraryGemm): DeviceStep {
  const launch = { kernel: { name: 'k' }, grid: [1, 1, 1], block: [128, 1, 1], sharedBytes: 0, args, library } as unknown as PlannedLaunch;
  return { kind: 'device', label: 'gemm', nodes: [], launches: [launch], reads: [], writes: [] };
}
const g = (o: Partial<LibraryGemm>): LibraryGemm => ({
  op: 'gemm', dtype: 'float16', transA: false, transB: true, M: 64, N: 32, K: 16, lda: 16, ldb: 16, ldc: 32, batch: 1,
  strideA: 0, strideB: 0, strideC: 0, alpha: 0.5, act: 'none', a: [0, 0], b: [0, 1], c: [0, 2], replaces: 1, ...o,
});
const buf = (name: string, byteOffset = 0) => ({ buf: name, byteOffset });

describe('ltCall', () => {
  it('bias + GELU(tanh): the GELU_BIAS epilogue, beta 0, C is D', () => {
    const s = step([buf('a'), buf('b'), buf('bias'), buf('c', 64)], g({ act: 'gelu_tanh', bias: [0, 2], c: [0, 3] }));
    const call = ltCall(s, 0, s.launches[0].library!, ptrOf, ws);
    expect(call).toMatchObject({ epilogue: 36, beta: 0, a: 0x1000n, b: 0x2000n, bias: 0x3000n, d: 0x5040n, c: 0x5040n, alpha: 0.5, transB: true, workspace: 0x9000n, workspaceBytes: 4096, dtype: 2 });
  });
  it('a residual is beta·C with C the residual operand', () => {
    const s = step([buf('a'), buf('b'), buf('res'), buf('c')], g({ residual: [0, 2], c: [0, 3] }));
    const call = ltCall(s, 0, s.launches[0].library!, ptrOf, ws);
    expect(call).toMatchObject({ epilogue: 1, beta: 1, c: 0x4000n, d: 0x5000n });
    expect(call.bias).toBeUndefined();
  });
  it('tensor-map operands resolve to their buffers; a scalar where a buffer should be is an internal error', () => {
    const tm = { tmap: { buf: 'a', byteOffset: 32, dtype: 'float16' as const, dims: [16, 64], strides: [32], box: [16, 64], swizzle: 128 as const } };
    const s = step([tm, buf('b'), buf('c')], g({}));
    expect(ltCall(s, 0, s.launches[0].library!, ptrOf, ws).a).toBe(0x1020n);
    const bad = step([{ kind: 'i64', value: 1n }, buf('b'), buf('c')], g({}));
    expect(() => ltCall(bad, 0, bad.launches[0].library!, ptrOf, ws)).toThrow(/library operand 0:0 of gemm is not a buffer/);
  });
});
