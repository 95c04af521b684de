// Tensor-map (TMA descriptor) arguments of the lowering contract: well-formedness checks.
import { describe, expect, it } from 'vitest';
import { KernelBuilder } from '../../src/codegen/kernel-ir.js';
import { checkLaunch, checkTensorMap, type TensorMapSpec } from '../../src/codegen/lowering.js';

const good: TensorMapSpec = { of: { in: 0 }, dtype: 'float16', dims: [4096, 4096], strides: [8192], box: [64, 128], swizzle: 128 };

describe('tensor-map arguments', () => {
  it('accepts a well-formed map and names what is wrong with a bad one', () => {
    expect(checkTensorMap(good)).toEqual([]);
    expect(checkTensorMap({ ...good, strides: [8190] }).join()).toMatch(/multiples of 16/);
    expect(checkTensorMap({ ...good, box: [64, 512] }).join()).toMatch(/1\.\.256/);
    expect(checkTensorMap({ ...good, box: [4, 128] }).join()).toMatch(/multiple of 16/);
    expect(checkTensorMap({ ...good, box: [128, 64] }).join()).toMatch(/exceeds the 128-byte swizzle/);
    expect(checkTensorMap({ ...good, strides: [] }).join()).toMatch(/0 strides for rank 2/);
    expect(checkTensorMap({ ...good, of: { in: 0, byteOffset: 8 } }).join()).toMatch(/16-byte aligned/);
  });
  it('checks a launch: pointer parameters only, operands in range', () => {
    const b = new KernelBuilder('tmap_test', 128);
    b.input('tA', 'void');
    b.i64('n');
    const k = b.build();
    const l = { kernel: k, grid: [1, 1, 1] as [number, number, number], block: [128, 1, 1] as [number, number, number], args: [{ tmap: good }, { kind: 'i64' as const, value: 4n }] };
    expect(checkLaunch(l, { inputs: 1, outputs: 1, scratch: 0 })).toEqual([]);
    expect(checkLaunch({ ...l, args: [{ tmap: { ...good, of: { in: 3 } } }, l.args[1]] }, { inputs: 1, outputs: 1, scratch: 0 }).join()).toMatch(/input 3 of 1/);
    expect(checkLaunch({ ...l, args: [l.args[1], { tmap: good }] }, { inputs: 1, outputs: 1, scratch: 0 }).join()).toMatch(/is i64, argument 1 is a tensor map/);
  });
});
