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
import { type ArgRef, type TensorMapSpec } from '../lowering.js';
import {
  GEMM_ACT_HELPER, cpAsyncChunkLoop, cpAsyncChunkSrc, declareGemmParams, emitGemmPairEpilogue, gemmFullShape, gemmKRangeLines,
  gemmKernelArgs, gemmKernelList, gemmOperandReject, gemmRasterLines, gemmReduceLaunch, gemmRefs, gemmSplitK, gemmSplitKReduceKernel,
  type GemmEpilogue, type GemmTcDtype, type GemmTcLaunch, type GemmTcRefs, type GemmTcShape,
} from './gemm-tc.js';
import { TMA_HELPERS, WGMMA_GEMM_HELPERS, cvt16, wgmmaMmaHelper } from './ptx.js';

const SMEM_LIMIT = 227 * 1024;
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

/** Whether the wgmma kernels handle this GEMM on a GPU of compute capability `arch` (must be 90: sm_90a). */
export function wgmmaGemmApplies(dtype: DType, s: GemmTcShape, transA = false, transB = false, arch?: number): { ok: boolean; reason?: string } {
  if (arch !== 90) return { ok: false, reason: `wgmma needs sm_90a (arch ${arch ?? 'unknown'})` };
  if (dtype !== 'float16' && dtype !== 'bfloat16') return { ok: false, reason: `dtype ${dtype}` };
  const f = gemmFullShape(s, transA, transB);
  const rej = gemmOperandReject(f, transA, transB);
  if (rej) return { ok: false, reason: rej };
  if (Math.ceil(f.M / 64) * Math.ceil(f.N / 64) > 2 ** 31 - 1) return { ok: false, reason: 'too many tiles' };
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------------
// kernels

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
  const main = cfg.tma ? wgmmaTmaMain(cfg, test) : wgmmaCpAsyncMain(cfg, test);
  return cfg.splitK ? { main, reduce: gemmSplitKReduceKernel('gemm_wgmma_reduce', cfg.dtype, cfg.epilogue) } : { main };
}

/** the compile-time sizes both main kernels derive from a config */
function wgmmaDims(cfg: WgmmaConfig, test: WgmmaTestOptions) {
  const { bm, bn, stages, wgs } = cfg.tile;
  const BK = WGMMA_BK;
  const rowsWg = bm / wgs;
  const mnBlock = BK * 128; // bytes of one 64-column block of an MN-major tile
  const swap = test.swapMnDesc === true;
  return {
    bm, bn, stages, wgs, BK, rowsWg,
    slabs: rowsWg / 64,
    regs: bn / 2,
    ty: cvt16(cfg.dtype).ty,
    split: cfg.splitK,
    ep: cfg.epilogue,
    aK: !cfg.transA, // A tile K-major
    bK: cfg.transB, // B tile K-major
    aBytes: bm * BK * 2, bBytes: bn * BK * 2,
    mnBlock,
    lboMN: swap ? 1024 : mnBlock, sboMN: swap ? mnBlock : 1024,
  };
}
type WgmmaDims = ReturnType<typeof wgmmaDims>;

/** helpers and parameters of a main kernel (TMA: + the mbarrier/TMA helpers, tensor-map operands) */
function wgmmaKernelHead(b: KernelBuilder, cfg: WgmmaConfig, d: WgmmaDims, tma: boolean): void {
  b.helpers(WGMMA_GEMM_HELPERS);
  if (tma) b.helpers(TMA_HELPERS);
  b.helpers(wgmmaMmaHelper(d.bn, d.ty, cfg.transA, cfg.transB));
  if (!d.split) b.helpers(GEMM_ACT_HELPER[d.ep.act]);
  declareGemmParams(b, d.split, d.ep, tma);
}

/** the stage-0 descriptors of A (this warpgroup's slabs; warpgroup index `wg`) and B */
function wgmmaDescLines(d: WgmmaDims, wg: string): string[] {
  const { aK, bK, rowsWg, mnBlock, lboMN, sboMN } = d;
  return [
    aK
      ? `const unsigned aOff0 = (unsigned)(${wg} * ${rowsWg}) * 128u; // K-major: row r at r*128`
      : `const unsigned aOff0 = (unsigned)(${wg} * ${rowsWg / 64}) * ${mnBlock}u; // MN-major: 64-row block j at j*${mnBlock}`,
    `const unsigned long long descA0 = chm_wg_desc(sAbase + aOff0, ${aK ? 16 : lboMN}u, ${aK ? 1024 : sboMN}u);`,
    `const unsigned long long descB0 = chm_wg_desc(sBbase, ${bK ? 16 : lboMN}u, ${bK ? 1024 : sboMN}u);`,
  ];
}

/** zeroed accumulators acc[slabs][bn/2] */
const accInitLines = (d: WgmmaDims): string[] => [
  `float acc[${d.slabs}][${d.regs}];`,
  `#pragma unroll`,
  `for (int s = 0; s < ${d.slabs}; s++)`,
  `  #pragma unroll`,
  `  for (int i = 0; i < ${d.regs}; i++) acc[s][i] = 0.0f;`,
];

/** register fences on every accumulator (keeps them live across the async MMAs) */
const accFenceLines = (d: WgmmaDims): string[] =>
  [`#pragma unroll`, `for (int s = 0; s < ${d.slabs}; s++)`, `  #pragma unroll`, `  for (int i = 0; i < ${d.regs}; i++) chm_reg_fence(acc[s][i]);`];

/** the MMAs of one k-tile in ring slot `st`: descriptors of the slot, wgmma.fence, 4 k16 steps × slabs */
function emitWgmmaTileMmas(b: KernelBuilder, d: WgmmaDims, test: WgmmaTestOptions): void {
  const { aK, bK, BK, slabs, aBytes, bBytes, mnBlock } = d;
  // descriptor address field is in 16-byte units
  b.line(`const unsigned long long dA = descA0 + (unsigned long long)((st * ${aBytes}u) >> 4), dB = descB0 + (unsigned long long)((st * ${bBytes}u) >> 4);`,
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
}

/** the cp.async kernel: every thread loads, `wgs` warpgroups compute, one output tile per block (grid.z: batch × splits) */
function wgmmaCpAsyncMain(cfg: WgmmaConfig, test: WgmmaTestOptions): KernelSource {
  const v = validWgmmaTile(cfg.tile);
  if (!v.ok) throw new Error(`wgmmaGemm: invalid tile (${v.reason})`);
  const d = wgmmaDims(cfg, test);
  const { bm, bn, stages, BK, split, aK, bK, aBytes, bBytes, mnBlock } = d;
  const threads = wgmmaThreads(cfg.tile);

  const b = new KernelBuilder(split ? 'gemm_wgmma_splitk' : 'gemm_wgmma', threads);
  wgmmaKernelHead(b, cfg, d, false);

  b.dynamicShared('unsigned char', 'smem');
  b.line(
    `const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127, lane = tid & 31, wq = wtid >> 5;`,
    `const unsigned sAbase = (chm_smem_u32(smem) + 1023u) & ~1023u;`,
    `const unsigned sBbase = sAbase + ${stages * aBytes}u;`,
    `const long long tilesM = (M + ${bm - 1}) / ${bm}, tilesN = (N + ${bn - 1}) / ${bn};`,
    `const long long pid = blockIdx.x;`,
    ...gemmRasterLines(bm, bn, true),
    // descriptors of stage 0, k-step 0 (per slab for A)
    ...wgmmaDescLines(d, 'wg'),
  );
  const nzExpr = split ? 'batch * splits' : 'batch';
  b.block(`for (long long z = blockIdx.z; z < ${nzExpr}; z += gridDim.z)`, () => {
    b.line(...gemmKRangeLines(split, BK, true), ...accInitLines(d));
    const loader = (op: 'A' | 'B'): string[] => {
      const kc = op === 'A' ? aK : bK;
      const ext = op === 'A' ? bm : bn; // rows (M or N extent) of the tile
      const base = op === 'A' ? 'sAbase' : 'sBbase';
      const tile = op === 'A' ? aBytes : bBytes;
      const ld = op === 'A' ? 'lda' : 'ldb';
      const ptr = op === 'A' ? 'Ab' : 'Bb';
      const mn0 = op === 'A' ? 'm0' : 'n0', mnExt = op === 'A' ? 'M' : 'N';
      const body = kc
        // [ext rows][64 k]: 8 chunks per 128-byte row, chunk c of row r at c ^ (r & 7)
        ? [`const int r = ch >> 3, c = ch & 7;`,
          ...cpAsyncChunkSrc(true, ptr, ld, mn0, mnExt),
          `chm_cp_async16(${base} + st * ${tile}u + (unsigned)(r * 128 + ((c ^ (r & 7)) << 4)), src, bytes);`]
        // [ext/64 blocks][64 k rows][64 mn]: chunk c (of 8) of k-row r in block j at j*mnBlock + r*128 + (c ^ (r & 7))*16
        : [`const int r = ch / ${ext / 8}, cc = ch % ${ext / 8}, j = cc >> 3, c = cc & 7;`,
          ...cpAsyncChunkSrc(false, ptr, ld, mn0, mnExt, 'cc'),
          `chm_cp_async16(${base} + st * ${tile}u + (unsigned)(j * ${mnBlock} + r * 128 + ((c ^ (r & 7)) << 4)), src, bytes);`];
      return cpAsyncChunkLoop(ext * (BK / 8), threads, body.map((l) => '  ' + l));
    };
    b.line(`auto loadTile = [&](int kt, unsigned st) {`, `  const long long k0 = kBeg + (long long)kt * ${BK};`);
    b.line(...loader('A').map((l) => '  ' + l), ...loader('B').map((l) => '  ' + l), `};`);
    b.line(`#pragma unroll`, `for (int s = 0; s < ${stages - 2}; s++) { if (s < kTiles) loadTile(s, (unsigned)s); chm_cp_commit(); }`);
    b.line(...accFenceLines(d));
    b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
      b.line(`chm_cp_wait<${stages - 3}>();`, `chm_fence_async_smem();`, `__syncthreads();`,
        `{ const int nk = kt + ${stages - 2}; if (nk < ${test.diag === 'noload' ? stages - 2 : 'kTiles'}) loadTile(nk, (unsigned)(nk % ${stages})); chm_cp_commit(); }`,
        `const unsigned st = (unsigned)(kt % ${stages});`);
      emitWgmmaTileMmas(b, d, test);
      b.line(`chm_wg_commit();`, `chm_wg_wait<1>();`);
    });
    b.line(`chm_wg_wait<0>();`, `chm_cp_wait<0>();`);
    b.line(...accFenceLines(d));
    emitWgmmaEpilogue(b, cfg, d.slabs, `wg * ${d.rowsWg}`);
    // the next batch entry reloads the ring: every warpgroup's MMAs must be done
    b.line(`__syncthreads();`);
  });
  return b.build();
}

/**
 * The epilogue from the accumulators `acc[slabs][bn/2]` of one warpgroup whose rows start at
 * m0 + `rowOff` (fragment i of slab s: row = wq*16 + lane/4 + 8*((i>>1)&1), col = (i>>2)*8 + (lane&3)*2 + (i&1)):
 * alpha, bias, activation, residual, packed 32-bit stores (split-K: fp32 partials to W). Needs m0, n0, bi,
 * lane, wq (and si for split-K) in scope.
 */
function emitWgmmaEpilogue(b: KernelBuilder, cfg: WgmmaConfig, slabs: number, rowOff: string): void {
  b.line(`#pragma unroll`);
  b.block(`for (int s = 0; s < ${slabs}; s++)`, () => {
    b.line(`#pragma unroll`);
    b.block(`for (int j = 0; j < ${cfg.tile.bn / 8}; j++)`, () => {
      emitGemmPairEpilogue(b, { split: cfg.splitK, ep: cfg.epilogue, dtype: cfg.dtype },
        `n0 + j * 8 + (lane & 3) * 2`,
        `m0 + ${rowOff} + s * 64 + wq * 16 + (lane >> 2) + h * 8`,
        `acc[s][j * 4 + h * 2]`, `acc[s][j * 4 + h * 2 + 1]`);
    });
  });
}

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
  const d = wgmmaDims(cfg, test);
  const { bm, bn, stages, wgs, BK, rowsWg, split, aK, bK, aBytes, bBytes, mnBlock } = d;
  const threads = wgmmaThreads(cfg.tile, true);
  const nreg = wgmmaTmaRegs(cfg.tile);

  const b = new KernelBuilder(split ? 'gemm_wgmma_tma_splitk' : 'gemm_wgmma_tma', threads);
  wgmmaKernelHead(b, cfg, d, true);

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
    b.line(`const long long z = t / tilesPer, pid = t - z * tilesPer;`, ...gemmRasterLines(bm, bn, false), ...gemmKRangeLines(split, BK, false));
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
      ...wgmmaDescLines(d, 'cw'),
      `unsigned st = 0, ph = 0;`);
    b.block(`for (long long t = blockIdx.x; t < total; t += gridDim.x)`, () => {
      decode();
      b.line(...accInitLines(d), ...accFenceLines(d), `unsigned prev = 0;`);
      b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
        b.line(`chm_mbar_wait(fullBar + st * 8, ph);`);
        emitWgmmaTileMmas(b, d, test);
        // the MMAs of the previous k-tile are complete after wait_group 1: release its slot
        b.line(`chm_wg_commit();`, `chm_wg_wait<1>();`,
          `if (kt > 0 && lane == 0) chm_mbar_arrive(emptyBar + prev * 8);`,
          `prev = st;`,
          `if (++st == ${stages}u) { st = 0; ph ^= 1u; }`);
      });
      b.line(`chm_wg_wait<0>();`, `if (kTiles > 0 && lane == 0) chm_mbar_arrive(emptyBar + prev * 8);`);
      b.line(...accFenceLines(d));
      emitWgmmaEpilogue(b, cfg, d.slabs, `cw * ${rowsWg}`);
    });
  });
  const k = b.build();
  // setmaxnreg needs a register cap at entry: __launch_bounds__(threads, 1) (ptxas ignores it otherwise, C7508)
  const lb = `__launch_bounds__(${threads})`;
  if (!k.code.includes(lb)) throw new Error('wgmmaTmaMain: launch bounds not found');
  return { ...k, code: k.code.replace(lb, `__launch_bounds__(${threads}, 1)`) };
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
  const f = gemmFullShape(shape, cfg.transA, cfg.transB);
  const ok = wgmmaGemmApplies(cfg.dtype, shape, cfg.transA, cfg.transB, 90);
  if (!ok.ok) throw new Error(`launchWgmmaGemm: shape does not qualify (${ok.reason})`);
  const R = gemmRefs(cfg.epilogue, refs);
  const kernels = wgmmaGemm(cfg);
  const t = cfg.tile;
  const tma = cfg.tma === true;
  let a = R.A, b = R.B;
  if (tma) {
    if (!isBufRef(R.A) || !isBufRef(R.B)) throw new Error('launchWgmmaGemm: the TMA variant needs A and B as buffer references (tensor maps)');
    for (const r of [R.A, R.B]) if ((r.byteOffset ?? 0) % 16 !== 0) throw new Error('launchWgmmaGemm: TMA operands must start 16-byte aligned');
    a = { tmap: wgmmaTensorMap('A', f, cfg, R.A) };
    b = { tmap: wgmmaTensorMap('B', f, cfg, R.B) };
  }
  const tiles = Math.ceil(f.M / t.bm) * Math.ceil(f.N / t.bn);
  if (!tma && tiles > 2 ** 31 - 1) throw new Error('launchWgmmaGemm: too many tiles');
  const block: [number, number, number] = [wgmmaThreads(t, tma), 1, 1];
  const sharedBytes = wgmmaSmem(t, tma);
  // cp.async: one block per output tile, grid.z over batch (× splits); TMA: persistent grid, at most one
  // block per SM (the TMA kernel's shared memory allows one) over all tiles × batch (× splits)
  const grid = (z: number): [number, number, number] => (tma ? [Math.min(tiles * z, SMS), 1, 1] : [tiles, 1, Math.min(z, 65535)]);
  if (!cfg.splitK) {
    const args = gemmKernelArgs(a, b, R, f, !tma, alpha);
    return { launches: [{ kernel: kernels.main, grid: grid(f.batch), block, sharedBytes, args }], scratch: [], splits: 1, kernels };
  }
  const { splits, kPer, ws } = gemmSplitK(f, shape.splits ?? wgmmaSplits(f, t), WGMMA_BK);
  const mainArgs = gemmKernelArgs(a, b, R, f, !tma, alpha, { splits, kPer });
  return {
    launches: [
      { kernel: kernels.main, grid: grid(f.batch * splits), block, sharedBytes, args: mainArgs },
      gemmReduceLaunch(kernels.reduce!, R, f, splits, alpha),
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
  return gemmKernelList(list.map((t) => wgmmaGemm({ ...base, ...t })));
}
