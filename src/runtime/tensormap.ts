/**
 * TMA descriptors: encodes a CUtensorMap (128 bytes) through the driver's cuTensorMapEncodeTiled, for
 * kernels that load tiles with cp.async.bulk.tensor. Kernels take a pointer to the encoded map.
 */
import { loadNative } from './native.js';
import { guard, CudaUsageError } from './errors.js';

export const TENSOR_MAP_BYTES = 128;

/** CUtensorMapDataType */
const DATA_TYPE = { float16: 6, bfloat16: 9 } as const;
/** CUtensorMapSwizzle */
const SWIZZLE = { 0: 0, 32: 1, 64: 2, 128: 3 } as const;
/** CU_TENSOR_MAP_L2_PROMOTION_L2_128B */
const L2_PROMOTION_128B = 2;

export interface TensorMapEncoding {
  /** global address of element 0 (16-byte aligned) */
  address: bigint;
  dtype: 'float16' | 'bfloat16';
  dims: readonly number[];
  strides: readonly number[];
  box: readonly number[];
  swizzle: 0 | 32 | 64 | 128;
}

export function encodeTensorMap(t: TensorMapEncoding): Uint8Array {
  if (t.address % 16n !== 0n) throw new CudaUsageError(`tensor map address 0x${t.address.toString(16)} is not 16-byte aligned`);
  const n = loadNative();
  if (!n.addon) throw new CudaUsageError(`the CUDA addon is not loaded: ${n.error}`);
  const a = n.addon;
  return guard(() => a.encodeTensorMap(t.address, DATA_TYPE[t.dtype], [...t.dims], [...t.strides], [...t.box], SWIZZLE[t.swizzle], L2_PROMOTION_128B));
}
