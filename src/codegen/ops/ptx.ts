/**
 * Inline-PTX device helpers shared by the tensor-core kernel families (gemm-tc.ts, gemm-wgmma.ts,
 * conv-igemm.ts): shared-memory addresses, the cp.async pipeline, ldmatrix, mma.sync, wgmma and the
 * TMA / mbarrier primitives. Each helper is generated from its function name, so a family keeps its own
 * names (and with them its kernel texts and kernel names, which are hashes of the text).
 */

/** `unsigned name(const void* p)`: the 32-bit shared-state-space address of a generic pointer */
export const ptxSmemAddr = (name: string): string => `__device__ __forceinline__ unsigned ${name}(const void* p) {
  unsigned r; asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p)); return r;
}`;

/** `name(dst, src, bytes)`: cp.async.cg of 16 bytes, src-size form (bytes past `bytes` are zero-filled) */
export const ptxCpAsync16 = (name: string): string => `__device__ __forceinline__ void ${name}(unsigned dst, const void* src, unsigned bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}`;

export const ptxCpCommit = (name: string): string => `__device__ __forceinline__ void ${name}() { asm volatile("cp.async.commit_group;" ::: "memory"); }`;

/** `name<N>()`: cp.async.wait_group N */
export const ptxCpWait = (name: string): string => `template <int N> __device__ __forceinline__ void ${name}() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }`;

/** `name(r, addr)`: ldmatrix.x4 (`.trans` when `trans`) of 16-bit elements */
export const ptxLdsm4 = (name: string, trans: boolean): string => `__device__ __forceinline__ void ${name}(unsigned* r, unsigned addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4${trans ? '.trans' : ''}.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}`;

/** names of the cp.async + ldmatrix helpers of one kernel family */
export interface CpAsyncNames {
  smem: string;
  cp16: string;
  commit: string;
  wait: string;
  ldsm4: string;
  ldsm4t: string;
}

/** the names gemm-tc.ts and gemm-wgmma.ts use */
export const CHM_CP_NAMES: CpAsyncNames = {
  smem: 'chm_smem_u32', cp16: 'chm_cp_async16', commit: 'chm_cp_commit', wait: 'chm_cp_wait', ldsm4: 'chm_ldsm4', ldsm4t: 'chm_ldsm4t',
};

/** shared address, cp.async 16 B, commit, wait (and ldmatrix.x4 / .x4.trans unless `ldsm` is false), one per line */
export function cpAsyncHelpers(n: CpAsyncNames = CHM_CP_NAMES, ldsm = true): string {
  const parts = [ptxSmemAddr(n.smem), ptxCpAsync16(n.cp16), ptxCpCommit(n.commit), ptxCpWait(n.wait)];
  if (ldsm) parts.push(ptxLdsm4(n.ldsm4, false), ptxLdsm4(n.ldsm4t, true));
  return parts.join('\n');
}

/** `name(c, a, b)`: one mma.sync.aligned.m16n8k16 (row.col) of `ty` (f16 | bf16) operands into 4 fp32 accumulators */
export const ptxMmaM16n8k16 = (name: string, ty: string): string => `__device__ __forceinline__ void ${name}(float* c, const unsigned* a, const unsigned* b) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.${ty}.${ty}.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
    : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}`;

// ---------------------------------------------------------------------------------------------------
// wgmma (sm_90a)

/** fence.proxy.async.shared::cta (generic-proxy shared writes, e.g. cp.async, become visible to wgmma / TMA) */
export const ptxFenceAsyncSmem = (name: string): string => `__device__ __forceinline__ void ${name}() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }`;
export const ptxWgFence = (name: string): string => `__device__ __forceinline__ void ${name}() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }`;
export const ptxWgCommit = (name: string): string => `__device__ __forceinline__ void ${name}() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }`;
/** `name<N>()`: wgmma.wait_group N */
export const ptxWgWait = (name: string): string => `template <int N> __device__ __forceinline__ void ${name}() { asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory"); }`;
/** `name(float& r)`: an empty asm that pins an accumulator register across wgmma fences */
export const ptxRegFence = (name: string): string => `__device__ __forceinline__ void ${name}(float& r) { asm volatile("" : "+f"(r) :: "memory"); }`;
/** `name(addr, lbo, sbo)`: shared-memory matrix descriptor (byte offsets >> 4), 128-byte swizzle */
export const ptxWgDesc = (name: string): string => `__device__ __forceinline__ unsigned long long ${name}(unsigned addr, unsigned lbo, unsigned sbo) {
  return (unsigned long long)((addr & 0x3FFFFu) >> 4) | ((unsigned long long)((lbo >> 4) & 0x3FFFu) << 16) |
    ((unsigned long long)((sbo >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}`;

/** gemm-wgmma.ts's helpers: the cp.async pipeline (no ldmatrix), wgmma fences / groups, register fence, descriptor */
export const WGMMA_GEMM_HELPERS = [
  cpAsyncHelpers(CHM_CP_NAMES, false),
  ptxFenceAsyncSmem('chm_fence_async_smem'),
  ptxWgFence('chm_wg_fence'),
  ptxWgCommit('chm_wg_commit'),
  ptxWgWait('chm_wg_wait'),
  ptxRegFence('chm_reg_fence'),
  '// shared-memory matrix descriptor: start address, leading / stride byte offsets (>> 4), 128-byte swizzle',
  ptxWgDesc('chm_wg_desc'),
].join('\n');

/**
 * `chm_wgmma(d, descA, descB)`: one wgmma.mma_async m64n{n}k16 of `ty` operands accumulating into d[0..n/2);
 * A MN-major when `transA` (A = [K,M]), B K-major when `transB` (B = [N,K]).
 */
export function wgmmaMmaHelper(n: number, ty: string, transA: boolean, transB: boolean): string {
  const regs = n / 2;
  const outs = Array.from({ length: regs }, (_, i) => `%${i}`).join(', ');
  const cons = Array.from({ length: regs }, (_, i) => `"+f"(d[${i}])`).join(', ');
  const tA = transA ? 1 : 0; // A MN-major
  const tB = transB ? 0 : 1; // B [K,N] is N-major (transposed for wgmma); [N,K] is K-major
  return `__device__ __forceinline__ void chm_wgmma(float (&d)[${regs}], unsigned long long da, unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %${regs + 2}, 0; wgmma.mma_async.sync.aligned.m64n${n}k16.f32.${ty}.${ty} {${outs}}, %${regs}, %${regs + 1}, p, 1, 1, ${tA}, ${tB}; }"
    : ${cons}
    : "l"(da), "l"(db), "r"(1));
}`;
}

// ---------------------------------------------------------------------------------------------------
// TMA and mbarriers (sm_90a)

/** mbarrier init / wait (parity) / arrive / arrive.expect_tx, 3-D cp.async.bulk.tensor load, tensor-map prefetch */
export const TMA_HELPERS = `__device__ __forceinline__ void chm_mbar_init(unsigned bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void chm_mbar_wait(unsigned bar, unsigned parity) {
  unsigned ok;
  do {
    asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }" : "=r"(ok) : "r"(bar), "r"(parity) : "memory");
  } while (!ok);
}
__device__ __forceinline__ void chm_mbar_arrive(unsigned bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(bar) : "memory");
}
__device__ __forceinline__ void chm_mbar_expect_tx(unsigned bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(bar), "r"(bytes) : "memory");
}
// one box of a 3-D tensor map (coordinates innermost first) into shared memory, completing on bar
__device__ __forceinline__ void chm_tma_load3(unsigned dst, const void* map, int c0, int c1, int c2, unsigned bar) {
  asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];"
    :: "r"(dst), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(bar) : "memory");
}
__device__ __forceinline__ void chm_tma_prefetch(const void* map) {
  asm volatile("prefetch.tensormap [%0];" :: "l"(map) : "memory");
}`;

/** the prelude's conversions and the PTX operand type of a 16-bit float dtype */
export function cvt16(dtype: 'float16' | 'bfloat16'): { load: string; store: string; ty: string } {
  return dtype === 'float16' ? { load: 'chm_h2f', store: 'chm_f2h', ty: 'f16' } : { load: 'chm_b2f', store: 'chm_f2b', ty: 'bf16' };
}
