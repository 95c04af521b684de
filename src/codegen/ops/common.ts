/**
 * Small helpers shared by several op lowerings (kernel-text fragments and host-side value encodings).
 */
import type { DType } from '../../ir/dtype.js';
import { encodeBits } from '../../ir/float.js';

/** Names of the device functions emitted by blockReduceHelpers. */
export interface BlockReduceNames {
  /** NaN-propagating max of two values */
  max: string;
  /** block-wide max */
  blockMax: string;
  /** block-wide sum */
  blockSum: string;
}

/**
 * Device helpers: block-wide NaN-propagating max and sum over math type M, for blockDim.x a multiple of 32
 * (≤ 1024), by warp shuffles and a 32-entry shared array `sh`; every thread gets the result.
 */
export function blockReduceHelpers(M: string, names: BlockReduceNames): string {
  const { max, blockMax, blockSum } = names;
  return [
    `__device__ __forceinline__ ${M} ${max}(${M} a, ${M} b) { return (b > a || b != b) ? b : a; }`,
    `__device__ __forceinline__ ${M} ${blockMax}(${M} v, ${M}* sh) {`,
    `  for (int o = 16; o > 0; o >>= 1) v = ${max}(v, __shfl_xor_sync(0xffffffffu, v, o));`,
    `  const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;`,
    `  if (l == 0) sh[w] = v;`,
    `  __syncthreads();`,
    `  v = sh[l < nw ? l : 0];`,
    `  for (int o = 16; o > 0; o >>= 1) v = ${max}(v, __shfl_xor_sync(0xffffffffu, v, o));`,
    `  __syncthreads();`,
    `  return v;`,
    `}`,
    `__device__ __forceinline__ ${M} ${blockSum}(${M} v, ${M}* sh) {`,
    `  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);`,
    `  const int w = threadIdx.x >> 5, l = threadIdx.x & 31, nw = blockDim.x >> 5;`,
    `  if (l == 0) sh[w] = v;`,
    `  __syncthreads();`,
    `  v = l < nw ? sh[l] : (${M})0;`,
    `  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);`,
    `  __syncthreads();`,
    `  return v;`,
    `}`,
  ].join('\n');
}

/** The unsigned C type moving `bytes`-wide elements as raw bits. */
export function bitsType(bytes: number): string {
  switch (bytes) {
    case 1: return 'unsigned char';
    case 2: return 'unsigned short';
    case 4: return 'unsigned int';
    case 8: return 'unsigned long long';
  }
  throw new Error(`movement: no bit type of ${bytes} bytes`);
}

/**
 * The storage bit pattern (unsigned) of value v in a floating-point dtype, or undefined for other
 * dtypes (the callers encode bool and integers themselves).
 */
export function floatStorageBits(d: DType, v: number | bigint): bigint | undefined {
  switch (d) {
    case 'float32': {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setFloat32(0, Number(v), true);
      return BigInt(dv.getUint32(0, true));
    }
    case 'float64': {
      const dv = new DataView(new ArrayBuffer(8));
      dv.setFloat64(0, Number(v), true);
      return dv.getBigUint64(0, true);
    }
    case 'float16':
    case 'bfloat16':
      return BigInt(encodeBits(d, Number(v)));
    default:
      return undefined;
  }
}
