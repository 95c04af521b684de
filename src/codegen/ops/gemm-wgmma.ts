/**
 * Hopper (sm_90a) tensor-core GEMM with warpgroup MMA (`wgmma.mma_async`), fp16 / bf16 operands, fp32
 * accumulation. Same meaning, argument order and epilogue as gemm-tc.ts (whose types it reuses):
 *
 *   C[b] = act(alpha · A[b]·B[b] + bias) + residual[b]          (residual is added AFTER the activation)
 *
 * A is [M,K] (transA=false, (m,k) at m*lda + k) or [K,M] (transA=true, at k*lda + m); B is [K,N]
 * (transB=false, (k,n) at k*ldb + n) or [N,K] (transB=true, the nn.Linear weight layout, at n*ldb + k);
 * C / residual [M,N] with row stride ldc; batch entry b adds b*strideA / b*strideB / b*strideC (0 =
 * broadcast); batch is blockIdx.z with a grid-stride loop. bias is one value per column (operand dtype).
 *
 * Kernel (sizes are compile-time knobs of the config; dims, strides and alpha are arguments):
 * - block tile bm×bn, k-step 64 (one 128-byte swizzle row of 16-bit elements); `wgs` consumer
 *   warpgroups (128 threads each), warpgroup w owns rows [w·bm/wgs, (w+1)·bm/wgs) as bm/wgs/64 m64
 *   slabs; per 16-wide k step each slab issues one wgmma.mma_async.m64n{bn}k16 (A and B from shared
 *   memory through matrix descriptors), fp32 accumulators in registers;
 * - every thread loads: global → shared with cp.async.cg 16-byte copies (src-size form zero-fills the
 *   bytes past an M/N/K edge), `stages`-deep ring; tiles are stored in the wgmma canonical 128-byte
 *   swizzle layouts: a K-major operand (A row-major, B = [N,K]) as rows of 64 k (128 B, chunk c of row r
 *   at chunk c ^ (r & 7)), an MN-major operand (A = [K,M], B = [K,N]) as blocks of 64 m/n columns, each
 *   block 64 k-rows of 128 B swizzled the same way. Descriptors: 128B swizzle, SBO = 1024 B (8-row
 *   groups), LBO = the 64-column block stride for MN-major (unused for K-major);
 * - pipeline per k-tile: cp.async.wait_group → fence.proxy.async.shared::cta (cp.async writes are read
 *   by the async proxy) → __syncthreads → issue the cp.async of tile kt+stages-2 into the slot that
 *   wgmma(kt-2) read (complete: every warpgroup waited for it before the barrier) → wgmma.fence, the
 *   4×slabs wgmma of tile kt, commit_group, wait_group 1 (one k-tile of MMAs in flight);
 * - grouped rasterization in groups of 8 tile rows (L2 reuse), as gemm-tc;
 * - epilogue from registers: alpha, bias, activation, residual, packed 32-bit stores.
 * Split-K (cfg.splitK, for shapes with few output tiles): the main loop over a K range per split
 * (blockIdx.z enumerates batch × split), fp32 partial tiles to a workspace [batch, splits, M, N], then a
 * second kernel sums the splits in fixed order (deterministic) and applies the epilogue.
 *
 * Requirements (`wgmmaGemmApplies`): arch 90 (sm_90a), fp16/bf16, K % 8 == 0, lda/ldb and the A/B
 * batch strides % 8 == 0 (16-byte aligned chunks), leading dims ≥ row lengths. Any M, N, K tail.
 *
 * TMA variant (cfg.tma; the heuristic's choice for the large and medium classes; the cp.async kernel above
 * stays the fallback): same smem layouts, descriptors, MMAs and epilogue, but
 * - A and B arrive as tensor maps: each kernel parameter is a pointer to a 128-byte-aligned CUtensorMap in
 *   global memory, given in the launch as a `{ tmap: TensorMapSpec }` argument (wgmmaTensorMap: 3-D
 *   {inner, outer, batch}, 128-byte swizzle, box {64, 64 | tile rows, 1}; out-of-bounds boxes read as
 *   zero, so M/N/K edges need no predication);
 * - warp specialization: warpgroup 0 is the producer (setmaxnreg.dec to 40; one thread waits on the
 *   slot's "empty" mbarrier, arms "full" with expect_tx and issues cp.async.bulk.tensor), warpgroups
 *   1..wgs are consumers (setmaxnreg.inc; wait "full", issue the wgmma of the slot, and after
 *   wgmma.wait_group 1 arrive on "empty" of the previous slot); __launch_bounds__(threads, 1) so that
 *   setmaxnreg applies;
 * - persistent grid (≤ 132 blocks) over all tiles × batch × splits, grouped raster order: the producer
 *   runs ahead into the next tile while the consumers run the epilogue.
 * Extra requirements: A and B are buffer references ({in|out|scratch}) starting 16-byte aligned.
 */
import type { DType } from '../../ir/dtype.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, af32, type ArgRef, type TensorMapSpec } from '../lowering.js';
import type { GemmAct, GemmEpilogue, GemmTcDtype, GemmTcLaunch, GemmTcRefs, GemmTcShape } from './gemm-tc.js';

const SMEM_LIMIT = 227 * 1024;
const REDUCE_THREADS = 256;
/** SMs of the target (H100 SXM) */
const SMS = 132;
/** the k-step of a tile: one 128-byte swizzle row of 16-bit elements */
export const WGMMA_BK = 64;

// ---------------------------------------------------------------------------------------------------
// configs

export interface WgmmaTile {
  /** block rows: wgs × slabs × 64 */
  bm: 64 | 128 | 256;
  /** block columns = the wgmma N */
  bn: 64 | 128 | 256;
  /** shared-memory ring depth (prefetch distance stages-2) */
  stages: number;
  /** consumer warpgroups (128 threads each) */
  wgs: 1 | 2;
}

export interface WgmmaConfig {
  dtype: GemmTcDtype;
  transA: boolean;
  transB: boolean;
  tile: WgmmaTile;
  epilogue: GemmEpilogue;
  splitK: boolean;
  /**
   * TMA + warp-specialized variant: one producer warpgroup (one thread issues cp.async.bulk.tensor into the
   * ring, completion on per-stage full/empty mbarriers) + `tile.wgs` consumer warpgroups, persistent grid.
   * A and B are passed as tensor maps (`{ tmap }` arguments). Default false: the cp.async kernel.
   */
  tma?: boolean;
}

/** The knobs and their values (every combination is filtered by `validWgmmaTile`). */
export const WGMMA_SPACE = {
  bm: [64, 128, 256],
  bn: [64, 128, 256],
  stages: [3, 4, 5, 6, 7, 8],
  wgs: [1, 2],
  splitK: [false, true],
} as const;

/** threads of one block: the consumer warpgroups (+ the producer warpgroup for TMA) */
export function wgmmaThreads(t: WgmmaTile, tma = false): number {
  return (t.wgs + (tma ? 1 : 0)) * 128;
}

/** bytes after the TMA ring for its mbarriers (full[stages], empty[stages], 8 bytes each) */
const TMA_BAR_BYTES = 128;

/**
 * dynamic shared memory of one block in bytes (1 KB extra to align the ring to the 1024-byte swizzle atom;
 * TMA: + the mbarriers)
 */
export function wgmmaSmem(t: WgmmaTile, tma = false): number {
  return t.stages * (t.bm + t.bn) * WGMMA_BK * 2 + 1024 + (tma ? TMA_BAR_BYTES : 0);
}

/** slab rows per warpgroup ≤ 2 (m64 each), accumulators ≤ 128 per thread, stages 3..8, shared memory ≤ 227 KB */
export function validWgmmaTile(t: WgmmaTile): { ok: boolean; reason?: string } {
  const bad = (reason: string) => ({ ok: false, reason });
  if (![64, 128, 256].includes(t.bm)) return bad('bm must be 64, 128 or 256');
  if (![64, 128, 256].includes(t.bn)) return bad('bn must be 64, 128 or 256');
  if (t.wgs !== 1 && t.wgs !== 2) return bad('wgs must be 1 or 2');
  if (!Number.isInteger(t.stages) || t.stages < 3 || t.stages > 8) return bad('stages must be 3..8');
  const rows = t.bm / t.wgs;
  if (rows % 64 !== 0) return bad('bm / wgs must be a multiple of 64');
  const slabs = rows / 64;
  if (slabs > 2) return bad('at most 2 m64 slabs per warpgroup');
  const acc = (slabs * t.bn) / 2;
  if (acc > 128) return bad(`${acc} accumulator registers per thread (> 128)`);
  const smem = wgmmaSmem(t, true);
  if (smem > SMEM_LIMIT) return bad(`shared memory ${smem} B > ${SMEM_LIMIT} B`);
  return { ok: true };
}

export function wgmmaTileCandidates(): WgmmaTile[] {
  const out: WgmmaTile[] = [];
  const S = WGMMA_SPACE;
  for (const bm of S.bm) for (const bn of S.bn) for (const wgs of S.wgs) for (const stages of S.stages) {
    const t: WgmmaTile = { bm, bn, wgs, stages };
    if (validWgmmaTile(t).ok) out.push(t);
  }
  return out;
}

export type WgmmaShapeClass = 'large' | 'medium' | 'small';

const tilesOf = (M: number, N: number, batch: number, bm: number, bn: number) => Math.ceil(M / bm) * Math.ceil(N / bn) * batch;

/** the tiles `heuristicWgmmaConfig` may pick (for `variants`) */
export const WGMMA_HEURISTIC_TILES: Record<WgmmaShapeClass, WgmmaTile> = {
  large: { bm: 128, bn: 256, wgs: 2, stages: 4 },
  medium: { bm: 128, bn: 128, wgs: 2, stages: 6 },
  small: { bm: 64, bn: 128, wgs: 1, stages: 4 },
};

/**
 * Shape class → tile (+ split-K):
 * - large: M > 64, N > 128 and at least one full wave (132) of 128×256 tiles → 128×256, 2 consumer
 *   warpgroups, 4 stages;
 * - medium: M > 64 and at least 66 128×128 tiles → 128×128, 2 warpgroups, 6 stages;
 * - large and medium use the TMA variant (`tma: true`; H100: 4096³ fp16 688 TFLOP/s vs 320 with cp.async);
 * - small: 64×128, 1 warpgroup, 4 stages (2 blocks per SM); split-K when fewer than 132 such tiles and
 *   the K range allows ≥ 2 k-tiles per split.
 */
export function heuristicWgmmaConfig(M: number, N: number, K: number, batch = 1): { tile: WgmmaTile; splitK: boolean; shapeClass: WgmmaShapeClass; tma: boolean } {
  if (M > 64 && N > 128 && tilesOf(M, N, batch, 128, 256) >= SMS) return { shapeClass: 'large', tile: WGMMA_HEURISTIC_TILES.large, splitK: false, tma: true };
  if (M > 64 && tilesOf(M, N, batch, 128, 128) >= SMS / 2) return { shapeClass: 'medium', tile: WGMMA_HEURISTIC_TILES.medium, splitK: false, tma: true };
  const t = WGMMA_HEURISTIC_TILES.small;
  const splitK = tilesOf(M, N, batch, t.bm, t.bn) < SMS && Math.ceil(K / WGMMA_BK) >= 4;
  return { shapeClass: 'small', tile: t, splitK, tma: false };
}

// ---------------------------------------------------------------------------------------------------
// applicability

interface FullShape { batch: number; M: number; N: number; K: number; lda: number; ldb: number; ldc: number; strideA: number; strideB: number; strideC: number }

function fullShape(s: GemmTcShape, transA: boolean, transB: boolean): FullShape {
  return {
    batch: s.batch, M: s.M, N: s.N, K: s.K,
    lda: s.lda ?? (transA ? s.M : s.K), ldb: s.ldb ?? (transB ? s.K : s.N), ldc: s.ldc ?? s.N,
    strideA: s.strideA ?? s.M * s.K, strideB: s.strideB ?? s.K * s.N, strideC: s.strideC ?? s.M * s.N,
  };
}

/** Whether the wgmma kernels handle this GEMM on a GPU of compute capability `arch` (must be 90: sm_90a). */
export function wgmmaGemmApplies(dtype: DType, s: GemmTcShape, transA = false, transB = false, arch?: number): { ok: boolean; reason?: string } {
  if (arch !== 90) return { ok: false, reason: `wgmma needs sm_90a (arch ${arch ?? 'unknown'})` };
  if (dtype !== 'float16' && dtype !== 'bfloat16') return { ok: false, reason: `dtype ${dtype}` };
  const f = fullShape(s, transA, transB);
  if (f.M < 1 || f.N < 1 || f.K < 1 || f.batch < 1) return { ok: false, reason: 'empty GEMM' };
  if (f.K % 8 !== 0) return { ok: false, reason: 'K % 8 != 0' };
  if (f.lda % 8 !== 0 || f.ldb % 8 !== 0) return { ok: false, reason: 'lda/ldb not a multiple of 8 (16-byte rows)' };
  if (f.strideA % 8 !== 0 || f.strideB % 8 !== 0) return { ok: false, reason: 'batch strides of A/B not a multiple of 8' };
  if (f.lda < (transA ? f.M : f.K) || f.ldb < (transB ? f.K : f.N) || f.ldc < f.N) return { ok: false, reason: 'leading dimension smaller than the row' };
  if (Math.ceil(f.M / 64) * Math.ceil(f.N / 64) > 2 ** 31 - 1) return { ok: false, reason: 'too many tiles' };
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------------
// kernels

const PTX_HELPERS = `__device__ __forceinline__ unsigned chm_smem_u32(const void* p) {
  unsigned r; asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p)); return r;
}
__device__ __forceinline__ void chm_cp_async16(unsigned dst, const void* src, unsigned bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(bytes) : "memory");
}
__device__ __forceinline__ void chm_cp_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void chm_cp_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void chm_fence_async_smem() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void chm_wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void chm_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void chm_wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void chm_reg_fence(float& r) { asm volatile("" : "+f"(r) :: "memory"); }
// shared-memory matrix descriptor: start address, leading / stride byte offsets (>> 4), 128-byte swizzle
__device__ __forceinline__ unsigned long long chm_wg_desc(unsigned addr, unsigned lbo, unsigned sbo) {
  return (unsigned long long)((addr & 0x3FFFFu) >> 4) | ((unsigned long long)((lbo >> 4) & 0x3FFFu) << 16) |
    ((unsigned long long)((sbo >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}`;

/** `chm_wgmma(d, descA, descB)`: one m64n{n}k16 MMA accumulating into d[0..n/2) */
function wgmmaHelper(n: number, ty: string, transA: boolean, transB: boolean): string {
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

const ACT_HELPER: Record<GemmAct, string> = {
  none: '__device__ __forceinline__ float chm_gemm_act(float v) { return v; }',
  relu: '__device__ __forceinline__ float chm_gemm_act(float v) { return fmaxf(v, 0.0f); }',
  gelu_erf: '__device__ __forceinline__ float chm_gemm_act(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }',
  gelu_tanh: '__device__ __forceinline__ float chm_gemm_act(float v) { return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))); }',
};

export interface WgmmaKernels {
  main: KernelSource;
  reduce?: KernelSource;
}

/** test-only switches for the device harness (never used by launches) */
export interface WgmmaTestOptions {
  /** swap LBO/SBO of MN-major operands (must then fail: checks the descriptor layout) */
  swapMnDesc?: boolean;
  /**
   * diagnostics (wrong results): 'noload' loads only the prologue tiles (TMA: no loads at all, the full
   * barriers complete on the producer's arrival alone), 'nomma' issues no MMAs
   */
  diag?: 'noload' | 'nomma';
}

/** The kernel(s) of one configuration (text depends only on cfg). */
export function wgmmaGemm(cfg: WgmmaConfig, test: WgmmaTestOptions = {}): WgmmaKernels {
  if (cfg.tma) {
    const main = wgmmaTmaMain(cfg, test);
    return cfg.splitK ? { main, reduce: wgmmaReduceKernel(cfg) } : { main };
  }
  const _swapMnDescOffsets = test.swapMnDesc === true;
  const v = validWgmmaTile(cfg.tile);
  if (!v.ok) throw new Error(`wgmmaGemm: invalid tile (${v.reason})`);
  const { bm, bn, stages, wgs } = cfg.tile;
  const BK = WGMMA_BK;
  const threads = wgmmaThreads(cfg.tile);
  const rowsWg = bm / wgs;
  const slabs = rowsWg / 64;
  const regs = bn / 2;
  const ty = cfg.dtype === 'float16' ? 'f16' : 'bf16';
  const split = cfg.splitK;
  const ep = cfg.epilogue;
  const aK = !cfg.transA; // A tile K-major
  const bK = cfg.transB; // B tile K-major
  const aBytes = bm * BK * 2, bBytes = bn * BK * 2;
  const mnBlock = BK * 128; // bytes of one 64-column block of an MN-major tile
  const lboMN = _swapMnDescOffsets ? 1024 : mnBlock, sboMN = _swapMnDescOffsets ? mnBlock : 1024;

  const b = new KernelBuilder(split ? 'gemm_wgmma_splitk' : 'gemm_wgmma', threads);
  b.helpers(PTX_HELPERS).helpers(wgmmaHelper(bn, ty, cfg.transA, cfg.transB));
  if (!split) b.helpers(ACT_HELPER[ep.act]);
  b.input('A', 'unsigned short');
  b.input('B', 'unsigned short');
  if (!split && ep.bias) b.input('bias', 'unsigned short');
  if (!split && ep.residual) b.input('R', 'unsigned short');
  if (split) b.output('W', 'float');
  else b.output('C', 'unsigned short');
  b.i64('M'); b.i64('N'); b.i64('K');
  b.i64('lda'); b.i64('ldb');
  if (!split) b.i64('ldc');
  b.i64('sA'); b.i64('sB');
  if (!split) b.i64('sC');
  b.i64('batch');
  if (split) { b.i64('splits'); b.i64('kPer'); } else b.f32('alpha');

  b.dynamicShared('unsigned char', 'smem');
  b.line(
    `const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127, lane = tid & 31, wq = wtid >> 5;`,
    `const unsigned sAbase = (chm_smem_u32(smem) + 1023u) & ~1023u;`,
    `const unsigned sBbase = sAbase + ${stages * aBytes}u;`,
    `const long long tilesM = (M + ${bm - 1}) / ${bm}, tilesN = (N + ${bn - 1}) / ${bn};`,
    `const long long pid = blockIdx.x;`,
    `const long long gw = 8 * tilesN, g = pid / gw, firstM = g * 8;`,
    `const long long gsz = tilesM - firstM < 8 ? tilesM - firstM : 8;`,
    `const long long tm = firstM + (pid % gw) % gsz, tn = (pid % gw) / gsz;`,
    `if (tm >= tilesM || tn >= tilesN) return;`,
    `const long long m0 = tm * ${bm}, n0 = tn * ${bn};`,
    // descriptors of stage 0, k-step 0 (per slab for A)
    aK
      ? `const unsigned aOff0 = (unsigned)(wg * ${rowsWg}) * 128u; // K-major: row r at r*128`
      : `const unsigned aOff0 = (unsigned)(wg * ${rowsWg / 64}) * ${mnBlock}u; // MN-major: 64-row block j at j*${mnBlock}`,
    `const unsigned long long descA0 = chm_wg_desc(sAbase + aOff0, ${aK ? 16 : lboMN}u, ${aK ? 1024 : sboMN}u);`,
    `const unsigned long long descB0 = chm_wg_desc(sBbase, ${bK ? 16 : lboMN}u, ${bK ? 1024 : sboMN}u);`,
  );
  const nzExpr = split ? 'batch * splits' : 'batch';
  b.block(`for (long long z = blockIdx.z; z < ${nzExpr}; z += gridDim.z)`, () => {
    if (split) {
      b.line(`const long long bi = z / splits, si = z % splits;`,
        `const long long kBeg = si * kPer, kEnd = kBeg + kPer < K ? kBeg + kPer : K;`);
    } else {
      b.line(`const long long bi = z, kBeg = 0, kEnd = K;`);
    }
    b.line(
      `const unsigned short* Ab = A + bi * sA;`,
      `const unsigned short* Bb = B + bi * sB;`,
      `const int kTiles = kEnd > kBeg ? (int)((kEnd - kBeg + ${BK - 1}) / ${BK}) : 0;`,
      `float acc[${slabs}][${regs}];`,
      `#pragma unroll`,
      `for (int s = 0; s < ${slabs}; s++)`,
      `  #pragma unroll`,
      `  for (int i = 0; i < ${regs}; i++) acc[s][i] = 0.0f;`,
    );
    const loader = (op: 'A' | 'B'): string[] => {
      const kc = op === 'A' ? aK : bK;
      const ext = op === 'A' ? bm : bn; // rows (M or N extent) of the tile
      const chunks = ext * (BK / 8);
      const iters = Math.ceil(chunks / threads);
      const guard = chunks % threads !== 0;
      const base = op === 'A' ? 'sAbase' : 'sBbase';
      const tile = op === 'A' ? aBytes : bBytes;
      const ld = op === 'A' ? 'lda' : 'ldb';
      const ptr = op === 'A' ? 'Ab' : 'Bb';
      const mn0 = op === 'A' ? 'm0' : 'n0', mnExt = op === 'A' ? 'M' : 'N';
      const L: string[] = [];
      L.push(`#pragma unroll`, `for (int it = 0; it < ${iters}; it++) {`, `  const int ch = tid + it * ${threads};`);
      if (guard) L.push(`  if (ch < ${chunks}) {`);
      if (kc) {
        // [ext rows][64 k]: 8 chunks per 128-byte row, chunk c of row r at c ^ (r & 7)
        L.push(`  const int r = ch >> 3, c = ch & 7;`,
          `  const long long gr = ${mn0} + r, gk = k0 + c * 8;`,
          `  const long long rem = gr < ${mnExt} ? kEnd - gk : 0;`,
          `  const unsigned bytes = rem <= 0 ? 0u : rem >= 8 ? 16u : (unsigned)(rem * 2);`,
          `  const unsigned short* src = bytes ? ${ptr} + gr * ${ld} + gk : ${ptr};`,
          `  chm_cp_async16(${base} + st * ${tile}u + (unsigned)(r * 128 + ((c ^ (r & 7)) << 4)), src, bytes);`);
      } else {
        // [ext/64 blocks][64 k rows][64 mn]: chunk c (of 8) of k-row r in block j at j*${mnBlock} + r*128 + (c ^ (r & 7))*16
        const cpr = ext / 8;
        L.push(`  const int r = ch / ${cpr}, cc = ch % ${cpr}, j = cc >> 3, c = cc & 7;`,
          `  const long long gk = k0 + r, gc = ${mn0} + cc * 8;`,
          `  const long long rem = gk < kEnd ? ${mnExt} - gc : 0;`,
          `  const unsigned bytes = rem <= 0 ? 0u : rem >= 8 ? 16u : (unsigned)(rem * 2);`,
          `  const unsigned short* src = bytes ? ${ptr} + gk * ${ld} + gc : ${ptr};`,
          `  chm_cp_async16(${base} + st * ${tile}u + (unsigned)(j * ${mnBlock} + r * 128 + ((c ^ (r & 7)) << 4)), src, bytes);`);
      }
      if (guard) L.push(`  }`);
      L.push(`}`);
      return L;
    };
    b.line(`auto loadTile = [&](int kt, unsigned st) {`, `  const long long k0 = kBeg + (long long)kt * ${BK};`);
    b.line(...loader('A').map((l) => '  ' + l), ...loader('B').map((l) => '  ' + l), `};`);
    b.line(`#pragma unroll`, `for (int s = 0; s < ${stages - 2}; s++) { if (s < kTiles) loadTile(s, (unsigned)s); chm_cp_commit(); }`);
    b.line(`#pragma unroll`, `for (int s = 0; s < ${slabs}; s++)`, `  #pragma unroll`, `  for (int i = 0; i < ${regs}; i++) chm_reg_fence(acc[s][i]);`);
    b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
      b.line(`chm_cp_wait<${stages - 3}>();`, `chm_fence_async_smem();`, `__syncthreads();`,
        `{ const int nk = kt + ${stages - 2}; if (nk < ${test.diag === 'noload' ? stages - 2 : 'kTiles'}) loadTile(nk, (unsigned)(nk % ${stages})); chm_cp_commit(); }`,
        `const unsigned st = (unsigned)(kt % ${stages});`,
        // descriptor address field is in 16-byte units
        `const unsigned long long dA = descA0 + (unsigned long long)((st * ${aBytes}u) >> 4), dB = descB0 + (unsigned long long)((st * ${bBytes}u) >> 4);`,
        `chm_wg_fence();`);
      b.line(`#pragma unroll`);
      b.block(`for (int kk = 0; kk < ${BK / 16}; kk++)`, () => {
        // k advance: 32 bytes within a K-major 128-byte row, 16 rows × 128 bytes in an MN-major block
        const aStep = aK ? 2 : 128, bStep = bK ? 2 : 128; // in 16-byte units
        b.line(`#pragma unroll`);
        b.block(`for (int s = 0; s < ${slabs}; s++)`, () => {
          const slabOff = aK ? 64 * 128 / 16 : mnBlock / 16; // 16-byte units between slabs
          if (test.diag !== 'nomma') b.line(`chm_wgmma(acc[s], dA + (unsigned long long)(s * ${slabOff} + kk * ${aStep}), dB + (unsigned long long)(kk * ${bStep}));`);
        });
      });
      b.line(`chm_wg_commit();`, `chm_wg_wait<1>();`);
    });
    b.line(`chm_wg_wait<0>();`, `chm_cp_wait<0>();`);
    b.line(`#pragma unroll`, `for (int s = 0; s < ${slabs}; s++)`, `  #pragma unroll`, `  for (int i = 0; i < ${regs}; i++) chm_reg_fence(acc[s][i]);`);
    emitWgmmaEpilogue(b, cfg, slabs, `wg * ${rowsWg}`);
    // the next batch entry reloads the ring: every warpgroup's MMAs must be done
    b.line(`__syncthreads();`);
  });
  const main = b.build();
  if (!split) return { main };
  return { main, reduce: wgmmaReduceKernel(cfg) };
}

/**
 * The epilogue from the accumulators `acc[slabs][bn/2]` of one warpgroup whose rows start at
 * m0 + `rowOff` (fragment i of slab s: row = wq*16 + lane/4 + 8*((i>>1)&1), col = (i>>2)*8 + (lane&3)*2 + (i&1)):
 * alpha, bias, activation, residual, packed 32-bit stores (split-K: fp32 partials to W). Needs m0, n0, bi,
 * lane, wq (and si for split-K) in scope.
 */
function emitWgmmaEpilogue(b: KernelBuilder, cfg: WgmmaConfig, slabs: number, rowOff: string): void {
  const { bn } = cfg.tile;
  const split = cfg.splitK;
  const ep = cfg.epilogue;
  const load = cfg.dtype === 'float16' ? 'chm_h2f' : 'chm_b2f';
  const store = cfg.dtype === 'float16' ? 'chm_f2h' : 'chm_f2b';
    // epilogue: fragment i of slab s: row = wq*16 + lane/4 + 8*((i>>1)&1), col = (i>>2)*8 + (lane&3)*2 + (i&1)
    b.line(`#pragma unroll`);
    b.block(`for (int s = 0; s < ${slabs}; s++)`, () => {
      b.line(`#pragma unroll`);
      b.block(`for (int j = 0; j < ${bn / 8}; j++)`, () => {
        b.line(`const long long col = n0 + j * 8 + (lane & 3) * 2;`);
        if (!split && ep.bias) {
          b.line(`const float bias0 = col < N ? ${load}(bias[col]) : 0.0f, bias1 = col + 1 < N ? ${load}(bias[col + 1]) : 0.0f;`);
        }
        b.line(`#pragma unroll`);
        b.block(`for (int h = 0; h < 2; h++)`, () => {
          b.line(`const long long row = m0 + ${rowOff} + s * 64 + wq * 16 + (lane >> 2) + h * 8;`,
            `if (row >= M || col >= N) continue;`,
            `float v0 = acc[s][j * 4 + h * 2], v1 = acc[s][j * 4 + h * 2 + 1];`);
          if (split) {
            b.line(`float* w = W + ((bi * splits + si) * M + row) * N + col;`,
              `if (col + 1 < N && (N & 1) == 0) { *reinterpret_cast<float2*>(w) = make_float2(v0, v1); }`,
              `else { w[0] = v0; if (col + 1 < N) w[1] = v1; }`);
          } else {
            b.line(`v0 *= alpha; v1 *= alpha;`);
            if (ep.bias) b.line(`v0 += bias0; v1 += bias1;`);
            b.line(`v0 = chm_gemm_act(v0); v1 = chm_gemm_act(v1);`,
              `const long long off = bi * sC + row * ldc + col;`);
            if (ep.residual) b.line(`v0 += ${load}(R[off]); if (col + 1 < N) v1 += ${load}(R[off + 1]);`);
            b.line(`if (col + 1 < N && ((ldc | sC) & 1) == 0) {`,
              `  *reinterpret_cast<unsigned*>(C + off) = (unsigned)${store}(v0) | ((unsigned)${store}(v1) << 16);`,
              `} else { C[off] = ${store}(v0); if (col + 1 < N) C[off + 1] = ${store}(v1); }`);
          }
        });
      });
    });
}

const TMA_HELPERS = `__device__ __forceinline__ void chm_mbar_init(unsigned bar, unsigned count) {
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

/** registers per thread after setmaxnreg: producer warpgroup / consumer warpgroups (sum ≤ 64K per block) */
export function wgmmaTmaRegs(t: WgmmaTile): { producer: number; consumer: number } {
  return t.wgs === 2 ? { producer: 40, consumer: 232 } : { producer: 40, consumer: 240 };
}

/**
 * The TMA + warp-specialized main kernel. Block = warpgroup 0 (producer) + `wgs` consumer warpgroups;
 * persistent: block x walks the output tiles x, x + gridDim.x, ... of all batch entries (× splits), in
 * grouped raster order (groups of 8 tile rows) within one batch entry. Ring of `stages` slots, each slot
 * A tile then B tile in the same 128-byte-swizzled layouts as the cp.async kernel (TMA's 128B swizzle
 * writes chunk c of 128-byte row r at c ^ (r & 7) within each 1024-byte atom, the layout wgmma reads).
 * full[s]: 1 arrival (the producer's expect_tx) + the TMA bytes; empty[s]: one arrival per consumer warp,
 * after the wgmma that read slot s completed (wgmma.wait_group 1 after the next k-tile's MMAs were
 * issued). Phases: slot use u waits full with parity (u / stages) & 1; the producer waits empty with the
 * opposite parity (a fresh barrier counts as having completed its phase of parity 1).
 * Tensor maps (3-D, innermost first): K-major operand {K, rows, batch} box {64, bm|bn, 1}; MN-major
 * operand {rows, K, batch} box {64, 64, 1} (bm/64 or bn/64 boxes per slot). A batch stride of 0 is a
 * batch extent of 1 (the kernel reads coordinate 0: sA / sB are passed for that).
 */
function wgmmaTmaMain(cfg: WgmmaConfig, test: WgmmaTestOptions): KernelSource {
  const { bm, bn, stages, wgs } = cfg.tile;
  const BK = WGMMA_BK;
  const threads = wgmmaThreads(cfg.tile, true);
  const rowsWg = bm / wgs;
  const slabs = rowsWg / 64;
  const regs = bn / 2;
  const ty = cfg.dtype === 'float16' ? 'f16' : 'bf16';
  const split = cfg.splitK;
  const ep = cfg.epilogue;
  const aK = !cfg.transA, bK = cfg.transB;
  const aBytes = bm * BK * 2, bBytes = bn * BK * 2;
  const mnBlock = BK * 128;
  const lboMN = test.swapMnDesc ? 1024 : mnBlock, sboMN = test.swapMnDesc ? mnBlock : 1024;
  const nreg = wgmmaTmaRegs(cfg.tile);

  const b = new KernelBuilder(split ? 'gemm_wgmma_tma_splitk' : 'gemm_wgmma_tma', threads);
  b.helpers(PTX_HELPERS).helpers(TMA_HELPERS).helpers(wgmmaHelper(bn, ty, cfg.transA, cfg.transB));
  if (!split) b.helpers(ACT_HELPER[ep.act]);
  b.input('tmA', 'void'); // device pointer to the CUtensorMap of A (128-byte aligned)
  b.input('tmB', 'void');
  if (!split && ep.bias) b.input('bias', 'unsigned short');
  if (!split && ep.residual) b.input('R', 'unsigned short');
  if (split) b.output('W', 'float');
  else b.output('C', 'unsigned short');
  b.i64('M'); b.i64('N'); b.i64('K');
  if (!split) b.i64('ldc');
  b.i64('sA'); b.i64('sB');
  if (!split) b.i64('sC');
  b.i64('batch');
  if (split) { b.i64('splits'); b.i64('kPer'); } else b.f32('alpha');

  b.dynamicShared('unsigned char', 'smem');
  b.line(
    `const int tid = threadIdx.x, wg = tid >> 7, lane = tid & 31, wq = (tid & 127) >> 5;`,
    `const unsigned sAbase = (chm_smem_u32(smem) + 1023u) & ~1023u;`,
    `const unsigned sBbase = sAbase + ${stages * aBytes}u;`,
    `const unsigned fullBar = sBbase + ${stages * bBytes}u, emptyBar = fullBar + ${stages * 8}u;`,
    `const long long tilesM = (M + ${bm - 1}) / ${bm}, tilesN = (N + ${bn - 1}) / ${bn}, tilesPer = tilesM * tilesN;`,
    `const long long total = tilesPer * ${split ? 'batch * splits' : 'batch'};`,
  );
  b.block(`if (tid == 0)`, () => {
    b.line(`#pragma unroll`,
      `for (int s = 0; s < ${stages}; s++) { chm_mbar_init(fullBar + s * 8, 1u); chm_mbar_init(emptyBar + s * 8, ${wgs * 4}u); }`,
      `asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");`,
      `chm_tma_prefetch(tmA); chm_tma_prefetch(tmB);`);
  });
  b.line(`__syncthreads();`);
  // tile t -> (z, tm, tn); z -> batch entry bi (and split si: K range [kBeg, kEnd))
  const decode = (): void => {
    b.line(`const long long z = t / tilesPer, pid = t - z * tilesPer;`,
      `const long long gw = 8 * tilesN, g = pid / gw, firstM = g * 8;`,
      `const long long gsz = tilesM - firstM < 8 ? tilesM - firstM : 8;`,
      `const long long tm = firstM + (pid % gw) % gsz, tn = (pid % gw) / gsz;`,
      `const long long m0 = tm * ${bm}, n0 = tn * ${bn};`);
    if (split) b.line(`const long long bi = z / splits, si = z % splits;`, `const long long kBeg = si * kPer, kEnd = kBeg + kPer < K ? kBeg + kPer : K;`);
    else b.line(`const long long bi = z, kBeg = 0, kEnd = K;`);
    b.line(`const int kTiles = kEnd > kBeg ? (int)((kEnd - kBeg + ${BK - 1}) / ${BK}) : 0;`);
  };
  const issue = (op: 'A' | 'B'): string[] => {
    const kc = op === 'A' ? aK : bK;
    const ext = op === 'A' ? bm : bn;
    const base = op === 'A' ? 'sAbase' : 'sBbase';
    const tile = op === 'A' ? aBytes : bBytes;
    const map = op === 'A' ? 'tmA' : 'tmB';
    const mn0 = op === 'A' ? 'm0' : 'n0';
    const zc = op === 'A' ? 'zA' : 'zB';
    if (kc) return [`chm_tma_load3(${base} + st * ${tile}u, ${map}, (int)k0, (int)${mn0}, ${zc}, fb);`];
    return [`#pragma unroll`,
      `for (int j = 0; j < ${ext / 64}; j++) chm_tma_load3(${base} + st * ${tile}u + j * ${mnBlock}u, ${map}, (int)${mn0} + j * 64, (int)k0, ${zc}, fb);`];
  };
  b.block(`if (wg == 0)`, () => {
    b.line(`asm volatile("setmaxnreg.dec.sync.aligned.u32 ${nreg.producer};" ::: "memory");`);
    b.block(`if (tid == 0)`, () => {
      b.line(`unsigned st = 0, ph = 0;`);
      b.block(`for (long long t = blockIdx.x; t < total; t += gridDim.x)`, () => {
        decode();
        b.line(`const int zA = sA ? (int)bi : 0, zB = sB ? (int)bi : 0;`);
        b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
          b.line(`const unsigned fb = fullBar + st * 8;`,
            `chm_mbar_wait(emptyBar + st * 8, ph ^ 1u);`,
            test.diag === 'noload' ? `chm_mbar_arrive(fb);` : `chm_mbar_expect_tx(fb, ${aBytes + bBytes}u);`,
            `const long long k0 = kBeg + (long long)kt * ${BK};`);
          if (test.diag !== 'noload') b.line(...issue('A'), ...issue('B'));
          else b.line(`(void)k0; (void)zA; (void)zB;`);
          b.line(`if (++st == ${stages}u) { st = 0; ph ^= 1u; }`);
        });
      });
    });
  });
  b.block(`else`, () => {
    b.line(`asm volatile("setmaxnreg.inc.sync.aligned.u32 ${nreg.consumer};" ::: "memory");`,
      `const int cw = wg - 1;`,
      aK
        ? `const unsigned aOff0 = (unsigned)(cw * ${rowsWg}) * 128u; // K-major: row r at r*128`
        : `const unsigned aOff0 = (unsigned)(cw * ${rowsWg / 64}) * ${mnBlock}u; // MN-major: 64-row block j at j*${mnBlock}`,
      `const unsigned long long descA0 = chm_wg_desc(sAbase + aOff0, ${aK ? 16 : lboMN}u, ${aK ? 1024 : sboMN}u);`,
      `const unsigned long long descB0 = chm_wg_desc(sBbase, ${bK ? 16 : lboMN}u, ${bK ? 1024 : sboMN}u);`,
      `unsigned st = 0, ph = 0;`);
    b.block(`for (long long t = blockIdx.x; t < total; t += gridDim.x)`, () => {
      decode();
      b.line(
        `float acc[${slabs}][${regs}];`,
        `#pragma unroll`,
        `for (int s = 0; s < ${slabs}; s++)`,
        `  #pragma unroll`,
        `  for (int i = 0; i < ${regs}; i++) acc[s][i] = 0.0f;`,
        `#pragma unroll`, `for (int s = 0; s < ${slabs}; s++)`, `  #pragma unroll`, `  for (int i = 0; i < ${regs}; i++) chm_reg_fence(acc[s][i]);`,
        `unsigned prev = 0;`);
      b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
        b.line(`chm_mbar_wait(fullBar + st * 8, ph);`,
          `const unsigned long long dA = descA0 + (unsigned long long)((st * ${aBytes}u) >> 4), dB = descB0 + (unsigned long long)((st * ${bBytes}u) >> 4);`,
          `chm_wg_fence();`);
        b.line(`#pragma unroll`);
        b.block(`for (int kk = 0; kk < ${BK / 16}; kk++)`, () => {
          const aStep = aK ? 2 : 128, bStep = bK ? 2 : 128;
          b.line(`#pragma unroll`);
          b.block(`for (int s = 0; s < ${slabs}; s++)`, () => {
            const slabOff = aK ? 64 * 128 / 16 : mnBlock / 16;
            if (test.diag !== 'nomma') b.line(`chm_wgmma(acc[s], dA + (unsigned long long)(s * ${slabOff} + kk * ${aStep}), dB + (unsigned long long)(kk * ${bStep}));`);
          });
        });
        // the MMAs of the previous k-tile are complete after wait_group 1: release its slot
        b.line(`chm_wg_commit();`, `chm_wg_wait<1>();`,
          `if (kt > 0 && lane == 0) chm_mbar_arrive(emptyBar + prev * 8);`,
          `prev = st;`,
          `if (++st == ${stages}u) { st = 0; ph ^= 1u; }`);
      });
      b.line(`chm_wg_wait<0>();`, `if (kTiles > 0 && lane == 0) chm_mbar_arrive(emptyBar + prev * 8);`);
      b.line(`#pragma unroll`, `for (int s = 0; s < ${slabs}; s++)`, `  #pragma unroll`, `  for (int i = 0; i < ${regs}; i++) chm_reg_fence(acc[s][i]);`);
      emitWgmmaEpilogue(b, cfg, slabs, `cw * ${rowsWg}`);
    });
  });
  const k = b.build();
  // setmaxnreg needs a register cap at entry: __launch_bounds__(threads, 1) (ptxas ignores it otherwise, C7508)
  const lb = `__launch_bounds__(${threads})`;
  if (!k.code.includes(lb)) throw new Error('wgmmaTmaMain: launch bounds not found');
  return { ...k, code: k.code.replace(lb, `__launch_bounds__(${threads}, 1)`) };
}

/** split-K: sums the fp32 partial tiles of the splits in fixed order and applies the epilogue */
function wgmmaReduceKernel(cfg: WgmmaConfig): KernelSource {
  const ep = cfg.epilogue;
  const load = cfg.dtype === 'float16' ? 'chm_h2f' : 'chm_b2f';
  const store = cfg.dtype === 'float16' ? 'chm_f2h' : 'chm_f2b';
  const r = new KernelBuilder('gemm_wgmma_reduce', REDUCE_THREADS);
  r.helpers(ACT_HELPER[ep.act]);
  r.input('W', 'float');
  if (ep.bias) r.input('bias', 'unsigned short');
  if (ep.residual) r.input('R', 'unsigned short');
  r.output('C', 'unsigned short');
  r.i64('M'); r.i64('N'); r.i64('ldc'); r.i64('sC'); r.i64('batch'); r.i64('splits'); r.f32('alpha');
  r.line(`const long long MN = M * N, total = batch * MN;`);
  r.gridStride('total', () => {
    r.line(`const long long bi = i / MN, e = i - bi * MN, row = e / N, col = e - row * N;`,
      `const float* w = W + bi * splits * MN + e;`,
      `float v = 0.0f;`,
      `for (long long s = 0; s < splits; s++) v += w[s * MN];`,
      `v *= alpha;`);
    if (ep.bias) r.line(`v += ${load}(bias[col]);`);
    r.line(`v = chm_gemm_act(v);`, `const long long off = bi * sC + row * ldc + col;`);
    if (ep.residual) r.line(`v += ${load}(R[off]);`);
    r.line(`C[off] = ${store}(v);`);
  });
  return r.build();
}

// ---------------------------------------------------------------------------------------------------
// launches

/** split count: ~1 wave of SMs (at least 2 k-tiles per split, ≤ 32 splits) */
export function wgmmaSplits(s: { batch: number; M: number; N: number; K: number }, tile: WgmmaTile): number {
  const tiles = tilesOf(s.M, s.N, s.batch, tile.bm, tile.bn);
  const kTiles = Math.ceil(s.K / WGMMA_BK);
  const want = Math.ceil(SMS / tiles);
  return Math.max(1, Math.min(want, Math.floor(kTiles / 2) || 1, 32));
}

/**
 * Grid, block, shared bytes and arguments (kernel parameter order) for one GEMM. Default buffer refs:
 * A = {in:0}, B = {in:1}, then bias and residual as the next inputs, C = {out:0}, workspace = {scratch:0}.
 * Throws when `wgmmaGemmApplies(dtype, shape, transA, transB, 90)` does not hold.
 */
export function launchWgmmaGemm(shape: GemmTcShape, cfg: WgmmaConfig, alpha = 1, refs?: Partial<GemmTcRefs>): GemmTcLaunch {
  const f = fullShape(shape, cfg.transA, cfg.transB);
  const ok = wgmmaGemmApplies(cfg.dtype, shape, cfg.transA, cfg.transB, 90);
  if (!ok.ok) throw new Error(`launchWgmmaGemm: shape does not qualify (${ok.reason})`);
  let next = 2;
  const R: GemmTcRefs = {
    A: refs?.A ?? { in: 0 },
    B: refs?.B ?? { in: 1 },
    bias: cfg.epilogue.bias ? refs?.bias ?? { in: next++ } : undefined,
    residual: cfg.epilogue.residual ? refs?.residual ?? { in: next++ } : undefined,
    C: refs?.C ?? { out: 0 },
    workspace: refs?.workspace ?? { scratch: 0 },
  };
  const kernels = wgmmaGemm(cfg);
  const t = cfg.tile;
  if (cfg.tma) return launchTma(f, cfg, alpha, R, kernels, shape.splits);
  const gridX = Math.ceil(f.M / t.bm) * Math.ceil(f.N / t.bn);
  if (gridX > 2 ** 31 - 1) throw new Error('launchWgmmaGemm: too many tiles');
  const block: [number, number, number] = [wgmmaThreads(t), 1, 1];
  const sharedBytes = wgmmaSmem(t);
  const common = [a64(f.M), a64(f.N), a64(f.K), a64(f.lda), a64(f.ldb)];
  if (!cfg.splitK) {
    const args: ArgRef[] = [R.A, R.B];
    if (R.bias) args.push(R.bias);
    if (R.residual) args.push(R.residual);
    args.push(R.C, ...common, a64(f.ldc), a64(f.strideA), a64(f.strideB), a64(f.strideC), a64(f.batch), af32(alpha));
    return { launches: [{ kernel: kernels.main, grid: [gridX, 1, Math.min(f.batch, 65535)], block, sharedBytes, args }], scratch: [], splits: 1, kernels };
  }
  const splits0 = shape.splits ?? wgmmaSplits(f, t);
  const kTiles = Math.ceil(f.K / WGMMA_BK);
  const kPer = Math.ceil(kTiles / Math.max(1, splits0)) * WGMMA_BK;
  const splits = Math.ceil(f.K / kPer);
  const ws = f.batch * splits * f.M * f.N * 4;
  const mainArgs: ArgRef[] = [R.A, R.B, R.workspace!, ...common, a64(f.strideA), a64(f.strideB), a64(f.batch), a64(splits), a64(kPer)];
  const redArgs: ArgRef[] = [R.workspace!];
  if (R.bias) redArgs.push(R.bias);
  if (R.residual) redArgs.push(R.residual);
  redArgs.push(R.C, a64(f.M), a64(f.N), a64(f.ldc), a64(f.strideC), a64(f.batch), a64(splits), af32(alpha));
  const n = f.batch * f.M * f.N;
  const rblocks = Math.max(1, Math.min(Math.ceil(n / REDUCE_THREADS), 65535 * 8));
  return {
    launches: [
      { kernel: kernels.main, grid: [gridX, 1, Math.min(f.batch * splits, 65535)], block, sharedBytes, args: mainArgs },
      { kernel: kernels.reduce!, grid: [rblocks, 1, 1], block: [REDUCE_THREADS, 1, 1], args: redArgs },
    ],
    scratch: [ws],
    splits,
    kernels,
  };
}

type BufRef = TensorMapSpec['of'];
const isBufRef = (r: ArgRef): r is BufRef => 'in' in r || 'out' in r || 'scratch' in r;

/**
 * The tensor map of operand A or B for the TMA kernel (3-D, innermost first): a K-major operand (A
 * [M,K] row-major, B [N,K]) is {K, rows, batch} with box {64, tile rows, 1}; an MN-major one (A [K,M],
 * B [K,N]) is {rows, K, batch} with box {64, 64, 1}. Strides in bytes: {ld·2, batch stride·2}; a batch
 * stride of 0 (broadcast) becomes a batch extent of 1 with the one matrix's byte size as its stride.
 */
export function wgmmaTensorMap(op: 'A' | 'B', f: { M: number; N: number; K: number; lda: number; ldb: number; strideA: number; strideB: number; batch: number },
  cfg: Pick<WgmmaConfig, 'dtype' | 'transA' | 'transB' | 'tile'>, of: BufRef): TensorMapSpec {
  const kMajor = op === 'A' ? !cfg.transA : cfg.transB;
  const rows = op === 'A' ? f.M : f.N;
  const ld = op === 'A' ? f.lda : f.ldb;
  const bs = op === 'A' ? f.strideA : f.strideB;
  const ext = op === 'A' ? cfg.tile.bm : cfg.tile.bn;
  const inner = kMajor ? f.K : rows, outer = kMajor ? rows : f.K;
  const matBytes = ld * outer * 2;
  return {
    of, dtype: cfg.dtype,
    dims: [inner, outer, bs === 0 ? 1 : f.batch],
    strides: [ld * 2, bs === 0 ? Math.max(16, matBytes) : bs * 2],
    box: [WGMMA_BK, kMajor ? ext : 64, 1],
    swizzle: 128,
  };
}

/** persistent grid: at most one block per SM (the TMA kernel's shared memory allows one) */
function launchTma(f: FullShape, cfg: WgmmaConfig, alpha: number, R: GemmTcRefs, kernels: WgmmaKernels, splitsOverride?: number): GemmTcLaunch {
  const t = cfg.tile;
  if (!isBufRef(R.A) || !isBufRef(R.B)) throw new Error('launchWgmmaGemm: the TMA variant needs A and B as buffer references (tensor maps)');
  for (const r of [R.A, R.B]) if ((r.byteOffset ?? 0) % 16 !== 0) throw new Error('launchWgmmaGemm: TMA operands must start 16-byte aligned');
  const tmA: ArgRef = { tmap: wgmmaTensorMap('A', f, cfg, R.A) };
  const tmB: ArgRef = { tmap: wgmmaTensorMap('B', f, cfg, R.B) };
  const tiles = Math.ceil(f.M / t.bm) * Math.ceil(f.N / t.bn);
  const block: [number, number, number] = [wgmmaThreads(t, true), 1, 1];
  const sharedBytes = wgmmaSmem(t, true);
  const common = [a64(f.M), a64(f.N), a64(f.K)];
  if (!cfg.splitK) {
    const args: ArgRef[] = [tmA, tmB];
    if (R.bias) args.push(R.bias);
    if (R.residual) args.push(R.residual);
    args.push(R.C, ...common, a64(f.ldc), a64(f.strideA), a64(f.strideB), a64(f.strideC), a64(f.batch), af32(alpha));
    const grid: [number, number, number] = [Math.min(tiles * f.batch, SMS), 1, 1];
    return { launches: [{ kernel: kernels.main, grid, block, sharedBytes, args }], scratch: [], splits: 1, kernels };
  }
  const splits0 = splitsOverride ?? wgmmaSplits(f, t);
  const kTiles = Math.ceil(f.K / WGMMA_BK);
  const kPer = Math.ceil(kTiles / Math.max(1, splits0)) * WGMMA_BK;
  const splits = Math.ceil(f.K / kPer);
  const ws = f.batch * splits * f.M * f.N * 4;
  const mainArgs: ArgRef[] = [tmA, tmB, R.workspace!, ...common, a64(f.strideA), a64(f.strideB), a64(f.batch), a64(splits), a64(kPer)];
  const redArgs: ArgRef[] = [R.workspace!];
  if (R.bias) redArgs.push(R.bias);
  if (R.residual) redArgs.push(R.residual);
  redArgs.push(R.C, a64(f.M), a64(f.N), a64(f.ldc), a64(f.strideC), a64(f.batch), a64(splits), af32(alpha));
  const n = f.batch * f.M * f.N;
  const rblocks = Math.max(1, Math.min(Math.ceil(n / REDUCE_THREADS), 65535 * 8));
  return {
    launches: [
      { kernel: kernels.main, grid: [Math.min(tiles * f.batch * splits, SMS), 1, 1], block, sharedBytes, args: mainArgs },
      { kernel: kernels.reduce!, grid: [rblocks, 1, 1], block: [REDUCE_THREADS, 1, 1], args: redArgs },
    ],
    scratch: [ws],
    splits,
    kernels,
  };
}

/**
 * Every kernel a node of this dtype/transposes/epilogue may launch with the given tiles (default: all
 * tiles `heuristicWgmmaConfig` may pick, with and without split-K), for `variants`.
 */
export function wgmmaVariants(base: Omit<WgmmaConfig, 'tile' | 'splitK' | 'tma'>, tiles?: { tile: WgmmaTile; splitK: boolean; tma?: boolean }[]): KernelSource[] {
  const list = tiles ?? [
    { tile: WGMMA_HEURISTIC_TILES.large, splitK: false, tma: true },
    { tile: WGMMA_HEURISTIC_TILES.medium, splitK: false, tma: true },
    { tile: WGMMA_HEURISTIC_TILES.small, splitK: false },
    { tile: WGMMA_HEURISTIC_TILES.small, splitK: true },
  ];
  const out = new Map<string, KernelSource>();
  for (const t of list) {
    const k = wgmmaGemm({ ...base, ...t });
    out.set(k.main.name, k.main);
    if (k.reduce) out.set(k.reduce.name, k.reduce);
  }
  return [...out.values()];
}
