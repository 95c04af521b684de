/**
 * The source every generated kernel is compiled with: fixed-width conversions for float16/bfloat16
 * (inline PTX, so no CUDA header is needed and NVRTC stays fast), saturating stores, and small helpers.
 * Kept tiny and stable: it is part of every kernel's cache key.
 */
export const PRELUDE = `// chimera prelude v1
#define CHM_INF __int_as_float(0x7f800000)
#define CHM_NAN __int_as_float(0x7fc00000)
__device__ __forceinline__ float chm_h2f(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ float chm_b2f(unsigned short h) { return __int_as_float(((unsigned int)h) << 16); }
// float32 -> float16/bfloat16, round to nearest even; finite values beyond the range saturate (no overflow to Inf)
__device__ __forceinline__ unsigned short chm_f2h(float f) {
  if (isfinite(f)) f = fminf(fmaxf(f, -65504.0f), 65504.0f);
  unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
}
__device__ __forceinline__ unsigned short chm_f2b(float f) {
  if (isfinite(f)) f = fminf(fmaxf(f, -3.3895313892515355e38f), 3.3895313892515355e38f);
  unsigned short h; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
}
__device__ __forceinline__ float chm_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float chm_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
`;
