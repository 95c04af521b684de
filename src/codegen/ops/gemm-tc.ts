/**
 * Tensor-core GEMM family (fp16 / bf16 operands, fp32 accumulation), for the shapes that qualify
 * (see `tensorCoreGemmApplies`); everything else stays on the SIMT kernels of matmul.ts.
 *
 *   C[b] = act(alpha · A[b]·B[b] + bias) + residual[b]          (residual is added AFTER the activation)
 *
 * A is [M,K] (transA=false, element (m,k) at m*lda + k) or [K,M] (transA=true, at k*lda + m); B is [K,N]
 * (transB=false, (k,n) at k*ldb + n) or [N,K] (transB=true, at n*ldb + k); C (and the residual, which
 * shares C's layout) is [M,N] with row stride ldc. Batch entry b adds b*strideA / b*strideB / b*strideC
 * (elements); the batch index is blockIdx.z with a grid-stride loop, so any batch count fits. bias is one
 * value per output column, stored in the operands' dtype. alpha is an f32 argument.
 *
 * Kernel (all sizes compile-time knobs from the tile; dims, strides and alpha are arguments):
 * - block tile bm×bn, k-step bk ∈ {32, 64}; warpsM×warpsN warps, each owning a (bm/warpsM)×(bn/warpsN)
 *   warp tile of mma.sync.aligned.m16n8k16 fragments (fp32 accumulators in registers);
 * - global → shared with cp.async.cg 16-byte copies (src-size form: bytes past an edge are zero-filled, so
 *   any M, N, K is handled by predication), `stages`-deep ring of shared tiles, commit/wait_group;
 * - each operand tile is stored with its contiguous global axis contiguous in shared memory, 16-byte
 *   chunks XOR-swizzled per row (conflict-free cp.async stores and ldmatrix reads); fragments are read
 *   with ldmatrix.x4 (.trans for an M-contiguous A and an N-contiguous B);
 * - thread-block rasterization in groups of 8 tile rows (L2 reuse of the B panel);
 * - epilogue in registers: alpha, bias, activation, residual, packed 32-bit stores via chm_f2h/chm_f2b.
 *
 * Split-K (cfg.splitK, for skinny M ≤ 16 decode shapes): the same main loop over a K range per split
 * (blockIdx.z enumerates batch × split); fp32 partial tiles go to a workspace [batch, splits, M, N]; a
 * second kernel sums the splits in fixed order (deterministic) and applies the epilogue.
 *
 * Fast-path requirements (`tensorCoreGemmApplies`): K % 8 == 0, lda/ldb % 8 == 0 and strideA/strideB
 * % 8 == 0 (every 16-byte chunk of a row is aligned; the buffers themselves are 256-byte aligned by the
 * memory planner). Edges of M and N (and of K within a chunk) are predicated.
 *
 * Launch notes: dynamic shared memory above 48 KB needs cudaFuncSetAttribute(MaxDynamicSharedMemorySize)
 * on the kernel before the launch (`sharedBytes` tells how much).
 */
import type { DType } from '../../ir/dtype.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, af32, type ArgRef, type Launch, type LibraryGemm, type LibraryOperand } from '../lowering.js';
import { cpAsyncHelpers, cvt16, ptxMmaM16n8k16 } from './ptx.js';

export type GemmTcDtype = 'float16' | 'bfloat16';
export type GemmAct = 'none' | 'relu' | 'gelu_erf' | 'gelu_tanh';

export interface GemmTile {
  bm: number;
  bn: number;
  bk: number;
  warpsM: number;
  warpsN: number;
  stages: number;
}

export interface GemmEpilogue {
  /** add bias[n] (dtype of A) */
  bias: boolean;
  act: GemmAct;
  /** add residual[m, n] (C's layout and dtype) after the activation */
  residual: boolean;
}

export interface GemmTcConfig {
  dtype: GemmTcDtype;
  transA: boolean;
  transB: boolean;
  tile: GemmTile;
  epilogue: GemmEpilogue;
  splitK: boolean;
}

export interface GemmTcKernels {
  /** the main (mma) kernel; with splitK it writes fp32 partials to the workspace */
  main: KernelSource;
  /** splitK only: sums the partials in order and applies the epilogue */
  reduce?: KernelSource;
}

const SMEM_LIMIT = 227 * 1024;
/** block size of the split-K reduce kernel */
export const GEMM_REDUCE_THREADS = 256;

// ---------------------------------------------------------------------------------------------------
// tile validity and the tuner's search space

/** The auto-tuner's knobs and their values (every combination is filtered by `validGemmTile`). */
export const GEMM_TC_SPACE = {
  bm: [16, 32, 64, 128, 256],
  bn: [32, 64, 128, 256],
  bk: [32, 64],
  warpsM: [1, 2, 4],
  warpsN: [1, 2, 4],
  stages: [2, 3, 4, 5],
  splitK: [false, true],
} as const;

export function gemmTileThreads(t: GemmTile): number {
  return t.warpsM * t.warpsN * 32;
}

/** dynamic shared memory of one block, bytes */
export function gemmTileSmem(t: GemmTile): number {
  return t.stages * (t.bm * t.bk + t.bk * t.bn) * 2;
}

/**
 * Checks a tile: warp tiling divisibility (warp tile rows a multiple of 16, columns a multiple of 16 so
 * B fragments load in ldmatrix.x4 pairs), bk ∈ {32, 64} (the swizzle is conflict-free for 16..128-byte
 * chunk rows), 1..16 warps, shared memory with all stages ≤ 227 KB, and a register estimate
 * (accumulators + fragments + ~48 for addressing) ≤ min(255, 65536 / threads) with accumulators ≤ 128.
 */
export function validGemmTile(t: GemmTile, dtype: GemmTcDtype = 'float16'): { ok: boolean; reason?: string } {
  void dtype; // fp16 and bf16 have the same footprint
  const bad = (reason: string) => ({ ok: false, reason });
  for (const k of ['bm', 'bn', 'bk', 'warpsM', 'warpsN', 'stages'] as const) if (!Number.isInteger(t[k]) || t[k] < 1) return bad(`${k} must be a positive integer`);
  if (t.bk !== 32 && t.bk !== 64) return bad('bk must be 32 or 64');
  if (t.stages < 2 || t.stages > 8) return bad('stages must be 2..8');
  const warps = t.warpsM * t.warpsN;
  if (warps > 16) return bad('at most 16 warps');
  if (t.bm % (t.warpsM * 16) !== 0) return bad('bm must be a multiple of 16·warpsM');
  if (t.bn % (t.warpsN * 16) !== 0) return bad('bn must be a multiple of 16·warpsN');
  if ((t.bm & (t.bm - 1)) !== 0 || (t.bn & (t.bn - 1)) !== 0) return bad('bm and bn must be powers of two');
  const smem = gemmTileSmem(t);
  if (smem > SMEM_LIMIT) return bad(`shared memory ${smem} B > ${SMEM_LIMIT} B`);
  const mi = t.bm / t.warpsM / 16;
  const ni = t.bn / t.warpsN / 8;
  const acc = mi * ni * 4;
  if (acc > 128) return bad(`${acc} accumulator registers per thread (> 128)`);
  const regs = acc + mi * 4 + ni * 2 + 48;
  const budget = Math.min(255, Math.floor(65536 / (warps * 32)));
  if (regs > budget) return bad(`~${regs} registers per thread (budget ${budget} at ${warps * 32} threads)`);
  return { ok: true };
}

/** all valid tiles of the space (splitK is a separate knob) */
export function gemmTileCandidates(dtype: GemmTcDtype = 'float16'): GemmTile[] {
  const out: GemmTile[] = [];
  const S = GEMM_TC_SPACE;
  for (const bm of S.bm) for (const bn of S.bn) for (const bk of S.bk) for (const warpsM of S.warpsM) for (const warpsN of S.warpsN) for (const stages of S.stages) {
    const t = { bm, bn, bk, warpsM, warpsN, stages };
    if (validGemmTile(t, dtype).ok) out.push(t);
  }
  return out;
}

export type GemmShapeClass = 'decode' | 'small' | 'tall-skinny' | 'large';

/**
 * The shape class and the default tile. Measured on the H100 (fp16, CUDA graphs, cold weights; see the
 * report of the helper that wrote this file), best of the swept tiles per class:
 * - decode (M ≤ 16): weight-bandwidth bound. bm=16 (one mma row block), bn=64, bk=64, 4 warps along N,
 *   4 stages, split-K (gemmSplits: ~2 blocks per SM). Best or within 10% of best on every GPT-2 decode shape.
 * - small (M ≤ 256, or fewer than 132 128×128 tiles): 64×64 tiles, 4 warps (2×2), bk=64, 4 stages;
 *   split-K when there are fewer than 48 such tiles (a lone tile walks K slowly: M=128 N=768 K=3072 went
 *   43.7 µs → 11.3 µs with 10 splits, while N=3072 K=768 was faster without splits, 12.2 vs 16.7 µs).
 * - tall-skinny (N ≤ 128 or M ≥ 16·N): bm=128, bn=64, 4 warps (4×1), bk=32, 4 stages (not measured).
 * - large (everything else): 128×256, 8 warps (4×2: 32×128 warp tiles), bk=32,
 *   4 stages (96 KB): 225 TFLOP/s fp16, 231 bf16 at 4096³ (cuBLAS 742/782).
 */
export function gemmShapeClass(M: number, N: number, K: number): GemmShapeClass {
  void K;
  if (M <= 16) return 'decode';
  if (N <= 128 || M >= 16 * N) return 'tall-skinny';
  if (M <= 256 || Math.ceil(M / 128) * Math.ceil(N / 128) < 132) return 'small';
  return 'large';
}

export function heuristicGemmTile(M: number, N: number, K: number): { tile: GemmTile; splitK: boolean; shapeClass: GemmShapeClass } {
  const shapeClass = gemmShapeClass(M, N, K);
  switch (shapeClass) {
    case 'decode':
      return { shapeClass, splitK: true, tile: { bm: 16, bn: 64, bk: 64, warpsM: 1, warpsN: 4, stages: 4 } };
    case 'small':
      return { shapeClass, splitK: Math.ceil(M / 64) * Math.ceil(N / 64) < 48, tile: { bm: 64, bn: 64, bk: 64, warpsM: 2, warpsN: 2, stages: 4 } };
    case 'tall-skinny':
      return { shapeClass, splitK: false, tile: { bm: 128, bn: 64, bk: 32, warpsM: 4, warpsN: 1, stages: 4 } };
    case 'large':
      return { shapeClass, splitK: false, tile: { bm: 128, bn: 256, bk: 32, warpsM: 4, warpsN: 2, stages: 4 } };
  }
}

// ---------------------------------------------------------------------------------------------------
// applicability

export interface GemmTcShape {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** row strides (elements); defaults: contiguous for the layout */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** per-batch element strides; defaults: one contiguous matrix after the other (0 = broadcast) */
  strideA?: number;
  strideB?: number;
  strideC?: number;
  /** split count override for splitK configs */
  splits?: number;
}

/** a GemmTcShape with every default filled in */
export interface GemmFullShape { batch: number; M: number; N: number; K: number; lda: number; ldb: number; ldc: number; strideA: number; strideB: number; strideC: number }
type FullShape = GemmFullShape;

export function gemmFullShape(s: GemmTcShape, transA: boolean, transB: boolean): GemmFullShape {
  const lda = s.lda ?? (transA ? s.M : s.K);
  const ldb = s.ldb ?? (transB ? s.K : s.N);
  const ldc = s.ldc ?? s.N;
  return {
    batch: s.batch, M: s.M, N: s.N, K: s.K, lda, ldb, ldc,
    strideA: s.strideA ?? s.M * s.K, strideB: s.strideB ?? s.K * s.N, strideC: s.strideC ?? s.M * s.N,
  };
}

/** Whether the tensor-core kernels handle this GEMM; otherwise the caller uses the SIMT kernel (matmul.ts). */
export function tensorCoreGemmApplies(dtype: DType, s: GemmTcShape, transA = false, transB = false): { ok: boolean; reason?: string } {
  if (dtype !== 'float16' && dtype !== 'bfloat16') return { ok: false, reason: `dtype ${dtype}` };
  const f = gemmFullShape(s, transA, transB);
  const rej = gemmOperandReject(f, transA, transB);
  if (rej) return { ok: false, reason: rej };
  if (Math.ceil(f.M / 16) > 65535 * 16) return { ok: false, reason: 'M too large' };
  return { ok: true };
}

/**
 * The 16-byte cp.async rules both tensor-core GEMMs share (non-empty, K % 8 == 0, 16-byte aligned rows
 * and batch strides of A and B, leading dimensions ≥ row lengths): the reason they fail, or undefined.
 */
export function gemmOperandReject(f: GemmFullShape, transA: boolean, transB: boolean): string | undefined {
  if (f.M < 1 || f.N < 1 || f.K < 1 || f.batch < 1) return 'empty GEMM';
  if (f.K % 8 !== 0) return 'K % 8 != 0';
  if (f.lda % 8 !== 0 || f.ldb % 8 !== 0) return 'lda/ldb not a multiple of 8 (16-byte rows)';
  if (f.strideA % 8 !== 0 || f.strideB % 8 !== 0) return 'batch strides of A/B not a multiple of 8';
  if (f.lda < (transA ? f.M : f.K) || f.ldb < (transB ? f.K : f.N) || f.ldc < f.N) return 'leading dimension smaller than the row';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// kernels

/** `chm_gemm_act(v)` of each activation (shared by the GEMM families' epilogues and reduce kernels) */
export const GEMM_ACT_HELPER: Record<GemmAct, string> = {
  none: '__device__ __forceinline__ float chm_gemm_act(float v) { return v; }',
  relu: '__device__ __forceinline__ float chm_gemm_act(float v) { return fmaxf(v, 0.0f); }',
  gelu_erf: '__device__ __forceinline__ float chm_gemm_act(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }',
  gelu_tanh: '__device__ __forceinline__ float chm_gemm_act(float v) { return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v))); }',
};

/**
 * The parameters of a GEMM main kernel, in launch order: A, B (TMA: tensor-map pointers tmA, tmB), then
 * without split-K [bias], [R], C, M, N, K, [lda, ldb], ldc, sA, sB, sC, batch, alpha; with split-K W, M, N,
 * K, [lda, ldb], sA, sB, batch, splits, kPer (the order gemmKernelArgs builds).
 */
export function declareGemmParams(b: KernelBuilder, split: boolean, ep: GemmEpilogue, tma = false): void {
  if (tma) {
    b.input('tmA', 'void'); // device pointer to the CUtensorMap of A (128-byte aligned)
    b.input('tmB', 'void');
  } else {
    b.input('A', 'unsigned short');
    b.input('B', 'unsigned short');
  }
  if (!split && ep.bias) b.input('bias', 'unsigned short');
  if (!split && ep.residual) b.input('R', 'unsigned short');
  if (split) b.output('W', 'float');
  else b.output('C', 'unsigned short');
  b.i64('M'); b.i64('N'); b.i64('K');
  if (!tma) { b.i64('lda'); b.i64('ldb'); }
  if (!split) b.i64('ldc');
  b.i64('sA'); b.i64('sB');
  if (!split) b.i64('sC');
  b.i64('batch');
  if (split) { b.i64('splits'); b.i64('kPer'); } else b.f32('alpha');
}

/**
 * Grouped rasterization (groups of 8 tile rows, L2 reuse of the B panel): tile (tm, tn) and its origin
 * (m0, n0) from `pid`, tilesM and tilesN; `guard` returns from blocks past the last tile.
 */
export function gemmRasterLines(bm: number, bn: number, guard: boolean): string[] {
  return [
    `const long long gw = 8 * tilesN, g = pid / gw, firstM = g * 8;`,
    `const long long gsz = tilesM - firstM < 8 ? tilesM - firstM : 8;`,
    `const long long tm = firstM + (pid % gw) % gsz, tn = (pid % gw) / gsz;`,
    ...(guard ? [`if (tm >= tilesM || tn >= tilesN) return;`] : []),
    `const long long m0 = tm * ${bm}, n0 = tn * ${bn};`,
  ];
}

/**
 * Batch entry bi (and split si) of z, the K range [kBeg, kEnd) (split-K: split si's kPer elements),
 * with `ptrs` the operand pointers Ab / Bb of entry bi, and the k-tile count kTiles of k-step `bk`.
 */
export function gemmKRangeLines(split: boolean, bk: number, ptrs: boolean): string[] {
  return [
    ...(split
      ? [`const long long bi = z / splits, si = z % splits;`, `const long long kBeg = si * kPer, kEnd = kBeg + kPer < K ? kBeg + kPer : K;`]
      : [`const long long bi = z, kBeg = 0, kEnd = K;`]),
    ...(ptrs ? [`const unsigned short* Ab = A + bi * sA;`, `const unsigned short* Bb = B + bi * sB;`] : []),
    `const int kTiles = kEnd > kBeg ? (int)((kEnd - kBeg + ${bk - 1}) / ${bk}) : 0;`,
  ];
}

/**
 * `for (it) { ch = tid + it·threads; body }` over `chunks` 16-byte chunks (guarded when `threads` does not
 * divide them); `body` lines are indented by the caller (two spaces).
 */
export function cpAsyncChunkLoop(chunks: number, threads: number, body: string[]): string[] {
  const iters = Math.ceil(chunks / threads);
  const guard = chunks % threads !== 0;
  return [
    `#pragma unroll`, `for (int it = 0; it < ${iters}; it++) {`, `  const int ch = tid + it * ${threads};`,
    ...(guard ? [`  if (ch < ${chunks}) {`] : []),
    ...body,
    ...(guard ? [`  }`] : []),
    `}`,
  ];
}

/**
 * The source and byte count of one 16-byte cp.async chunk of an operand tile, zero-filled past the
 * M/N (`mnExt`) and K (kEnd) edges: `kContig` — rows over M/N from `mn0` (r), chunks over K from k0
 * (c·8); otherwise rows over K (r), chunks over M/N (`chunk`·8). Declares gr|gc, gk, rem, bytes, src.
 */
export function cpAsyncChunkSrc(kContig: boolean, ptr: string, ld: string, mn0: string, mnExt: string, chunk = 'c'): string[] {
  return [
    ...(kContig
      ? [`const long long gr = ${mn0} + r, gk = k0 + ${chunk} * 8;`, `const long long rem = gr < ${mnExt} ? kEnd - gk : 0;`]
      : [`const long long gk = k0 + r, gc = ${mn0} + ${chunk} * 8;`, `const long long rem = gk < kEnd ? ${mnExt} - gc : 0;`]),
    `const unsigned bytes = rem <= 0 ? 0u : rem >= 8 ? 16u : (unsigned)(rem * 2);`,
    `const unsigned short* src = bytes ? ${ptr} + ${kContig ? 'gr' : 'gk'} * ${ld} + ${kContig ? 'gk' : 'gc'} : ${ptr};`,
  ];
}

/**
 * The epilogue of one accumulator column pair (col, col + 1) over its two row halves h (row = `row`,
 * values `v0` / `v1`): split-K stores fp32 partials to W; else alpha, bias (bias0/bias1 per column),
 * activation, residual and a packed 32-bit store to C. Needs M, N, bi (si) and the kernel parameters.
 */
export function emitGemmPairEpilogue(b: KernelBuilder, o: { split: boolean; ep: GemmEpilogue; dtype: GemmTcDtype }, col: string, row: string, v0: string, v1: string): void {
  const { load, store } = cvt16(o.dtype);
  const ep = o.ep;
  b.line(`const long long col = ${col};`);
  if (!o.split && ep.bias) {
    b.line(`const float bias0 = col < N ? ${load}(bias[col]) : 0.0f, bias1 = col + 1 < N ? ${load}(bias[col + 1]) : 0.0f;`);
  }
  b.line(`#pragma unroll`);
  b.block(`for (int h = 0; h < 2; h++)`, () => {
    b.line(`const long long row = ${row};`,
      `if (row >= M || col >= N) continue;`,
      `float v0 = ${v0}, v1 = ${v1};`);
    if (o.split) {
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
}

/** split-K reduce kernel `family`: sums the fp32 partials W[batch, splits, M, N] in order, applies the epilogue, stores C */
export function gemmSplitKReduceKernel(family: string, dtype: GemmTcDtype, ep: GemmEpilogue): KernelSource {
  const { load, store } = cvt16(dtype);
  const r = new KernelBuilder(family, GEMM_REDUCE_THREADS);
  r.helpers(GEMM_ACT_HELPER[ep.act]);
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

/** swizzled chunk index (C expression) of chunk `c` in row `r` of a tile with `cpr` 16-byte chunks per row */
function swz(r: string, c: string, cpr: number): string {
  if (cpr >= 8) return `((${c}) ^ ((${r}) & 7))`;
  const rpl = 8 / cpr; // rows per 128-byte line
  return `((${c}) ^ (((${r}) / ${rpl}) & ${cpr - 1}))`;
}

/** the kernel(s) of one configuration (text depends only on cfg) */
export function tensorCoreGemm(cfg: GemmTcConfig): GemmTcKernels {
  const v = validGemmTile(cfg.tile, cfg.dtype);
  if (!v.ok) throw new Error(`tensorCoreGemm: invalid tile (${v.reason})`);
  const { bm, bn, bk, warpsM, warpsN, stages } = cfg.tile;
  const threads = gemmTileThreads(cfg.tile);
  const WM = bm / warpsM;
  const WN = bn / warpsN;
  const MI = WM / 16;
  const NI = WN / 8;
  const mty = cvt16(cfg.dtype).ty;
  const split = cfg.splitK;
  const ep = cfg.epilogue;

  const b = new KernelBuilder(split ? 'gemm_tc_splitk' : 'gemm_tc', threads);
  b.helpers(cpAsyncHelpers()).helpers(ptxMmaM16n8k16(`chm_mma_${mty}`, mty));
  if (!split) b.helpers(GEMM_ACT_HELPER[ep.act]);
  declareGemmParams(b, split, ep);

  // operand tiles in shared memory: [rows][cols], cols contiguous
  const aK = !cfg.transA; // A tile K-contiguous ([bm][bk]) else [bk][bm]
  const bK = cfg.transB; // B tile K-contiguous ([bn][bk]) else [bk][bn]
  const aRows = aK ? bm : bk, aCols = aK ? bk : bm;
  const bRows = bK ? bn : bk, bCols = bK ? bk : bn;
  const aCpr = aCols / 8, bCpr = bCols / 8;
  const aTile = bm * bk, bTile = bk * bn;

  b.dynamicShared('unsigned short', 'smem');
  b.line(
    `const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;`,
    `const int wm = warp / ${warpsN}, wn = warp % ${warpsN};`,
    `const unsigned sAbase = chm_smem_u32(smem);`,
    `const unsigned sBbase = sAbase + ${stages * aTile * 2}u;`,
    `const long long tilesM = (M + ${bm - 1}) / ${bm}, tilesN = (N + ${bn - 1}) / ${bn};`,
    // grouped rasterization over (blockIdx.y, blockIdx.x); the launcher makes the grid cover all tiles
    `const long long pid = (long long)blockIdx.y * gridDim.x + blockIdx.x;`,
    ...gemmRasterLines(bm, bn, true),
  );
  const nzExpr = split ? 'batch * splits' : 'batch';
  b.block(`for (long long z = blockIdx.z; z < ${nzExpr}; z += gridDim.z)`, () => {
    b.line(...gemmKRangeLines(split, bk, true));
    b.line(
      `float acc[${MI}][${NI}][4];`,
      `#pragma unroll`,
      `for (int i = 0; i < ${MI}; i++)`,
      `  #pragma unroll`,
      `  for (int j = 0; j < ${NI}; j++) { acc[i][j][0] = 0.0f; acc[i][j][1] = 0.0f; acc[i][j][2] = 0.0f; acc[i][j][3] = 0.0f; }`,
    );
    // tile loaders
    const loader = (op: 'A' | 'B'): string[] => {
      const kc = op === 'A' ? aK : bK;
      const rows = op === 'A' ? aRows : bRows, cols = op === 'A' ? aCols : bCols, cpr = cols / 8;
      const base = op === 'A' ? 'sAbase' : 'sBbase';
      const tile = op === 'A' ? aTile : bTile;
      const ld = op === 'A' ? 'lda' : 'ldb';
      const ptr = op === 'A' ? 'Ab' : 'Bb';
      const mn0 = op === 'A' ? 'm0' : 'n0', mnExt = op === 'A' ? 'M' : 'N';
      // kc: rows run over M/N, chunks over K; else rows over K, chunks over M/N
      return cpAsyncChunkLoop(rows * cpr, threads, [
        `const int r = ch / ${cpr}, c = ch % ${cpr};`,
        ...cpAsyncChunkSrc(kc, ptr, ld, mn0, mnExt),
        `chm_cp_async16(${base} + (unsigned)((st * ${tile} + r * ${cols} + ${swz('r', 'c', cpr)} * 8) * 2), src, bytes);`,
      ].map((l) => '  ' + l));
    };
    b.line(`auto loadTile = [&](int kt, int st) {`, `  const long long k0 = kBeg + (long long)kt * ${bk};`);
    b.line(...loader('A').map((l) => '  ' + l), ...loader('B').map((l) => '  ' + l), `};`);

    // per-lane ldmatrix coordinates (constant over k)
    const j = '(lane >> 3)', r8 = '(lane & 7)';
    b.line(`#pragma unroll`, `for (int s = 0; s < ${stages - 1}; s++) { if (s < kTiles) loadTile(s, s); chm_cp_commit(); }`);
    b.block(`for (int kt = 0; kt < kTiles; kt++)`, () => {
      b.line(`chm_cp_wait<${stages - 2}>();`, `__syncthreads();`,
        `{ const int nk = kt + ${stages - 1}; if (nk < kTiles) loadTile(nk, nk % ${stages}); chm_cp_commit(); }`,
        `const int st = kt % ${stages};`,
        `const unsigned aS = sAbase + (unsigned)(st * ${aTile * 2}), bS = sBbase + (unsigned)(st * ${bTile * 2});`);
      b.line(`#pragma unroll`);
      b.block(`for (int kk = 0; kk < ${bk / 16}; kk++)`, () => {
        b.line(`unsigned af[${MI}][4], bfr[${NI}][2];`, `#pragma unroll`);
        b.block(`for (int mi = 0; mi < ${MI}; mi++)`, () => {
          if (aK) {
            b.line(`const int r = wm * ${WM} + mi * 16 + (lane & 15), c = kk * 2 + (lane >> 4);`,
              `chm_ldsm4(af[mi], aS + (unsigned)((r * ${aCols} + ${swz('r', 'c', aCpr)} * 8) * 2));`);
          } else {
            b.line(`const int r = kk * 16 + (${j} >> 1) * 8 + ${r8}, c = (wm * ${WM} + mi * 16) / 8 + (${j} & 1);`,
              `chm_ldsm4t(af[mi], aS + (unsigned)((r * ${aCols} + ${swz('r', 'c', aCpr)} * 8) * 2));`);
          }
        });
        b.line(`#pragma unroll`);
        b.block(`for (int np = 0; np < ${NI / 2}; np++)`, () => {
          b.line(`unsigned t4[4];`);
          if (bK) {
            b.line(`const int r = wn * ${WN} + np * 16 + (${j} >> 1) * 8 + ${r8}, c = kk * 2 + (${j} & 1);`,
              `chm_ldsm4(t4, bS + (unsigned)((r * ${bCols} + ${swz('r', 'c', bCpr)} * 8) * 2));`);
          } else {
            b.line(`const int r = kk * 16 + (${j} & 1) * 8 + ${r8}, c = (wn * ${WN} + np * 16) / 8 + (${j} >> 1);`,
              `chm_ldsm4t(t4, bS + (unsigned)((r * ${bCols} + ${swz('r', 'c', bCpr)} * 8) * 2));`);
          }
          b.line(`bfr[2 * np][0] = t4[0]; bfr[2 * np][1] = t4[1]; bfr[2 * np + 1][0] = t4[2]; bfr[2 * np + 1][1] = t4[3];`);
        });
        b.line(`#pragma unroll`, `for (int mi = 0; mi < ${MI}; mi++)`, `  #pragma unroll`, `  for (int ni = 0; ni < ${NI}; ni++) chm_mma_${mty}(acc[mi][ni], af[mi], bfr[ni]);`);
      });
    });
    b.line(`chm_cp_wait<0>();`);
    // epilogue
    b.line(`#pragma unroll`);
    b.block(`for (int mi = 0; mi < ${MI}; mi++)`, () => {
      b.line(`#pragma unroll`);
      b.block(`for (int ni = 0; ni < ${NI}; ni++)`, () => {
        emitGemmPairEpilogue(b, { split, ep, dtype: cfg.dtype },
          `n0 + wn * ${WN} + ni * 8 + (lane & 3) * 2`,
          `m0 + wm * ${WM} + mi * 16 + (lane >> 2) + h * 8`,
          `acc[mi][ni][2 * h]`, `acc[mi][ni][2 * h + 1]`);
      });
    });
    b.line(`__syncthreads();`);
  });
  const main = b.build();
  if (!split) return { main };

  return { main, reduce: gemmSplitKReduceKernel('gemm_tc_reduce', cfg.dtype, ep) };
}

// ---------------------------------------------------------------------------------------------------
// launches

export interface GemmTcRefs {
  A: ArgRef;
  B: ArgRef;
  bias?: ArgRef;
  residual?: ArgRef;
  C: ArgRef;
  /** fp32 workspace for split-K (bytes in `scratch`) */
  workspace?: ArgRef;
}

export interface GemmTcLaunch {
  launches: Launch[];
  /** scratch byte sizes: [workspace] for split-K, else [] */
  scratch: number[];
  splits: number;
  kernels: GemmTcKernels;
}

/** SMs of the target (H100 SXM); only used for split-K sizing */
const SMS = 132;

/** split count: enough blocks for ~2 waves of 132 SMs, each split at least 2 k-tiles long */
export function gemmSplits(s: { batch: number; M: number; N: number; K: number }, tile: GemmTile): number {
  const tiles = Math.ceil(s.M / tile.bm) * Math.ceil(s.N / tile.bn) * s.batch;
  const kTiles = Math.ceil(s.K / tile.bk);
  const want = Math.ceil((2 * SMS) / tiles);
  return Math.max(1, Math.min(want, Math.floor(kTiles / 2) || 1, 64));
}

/** A, B, [bias], [residual], C and the workspace of a launch: `refs` where given, else {in:0}, {in:1}, the next inputs, {out:0}, {scratch:0} */
export function gemmRefs(ep: GemmEpilogue, refs?: Partial<GemmTcRefs>): GemmTcRefs {
  let next = 2;
  return {
    A: refs?.A ?? { in: 0 },
    B: refs?.B ?? { in: 1 },
    bias: ep.bias ? refs?.bias ?? { in: next++ } : undefined,
    residual: ep.residual ? refs?.residual ?? { in: next++ } : undefined,
    C: refs?.C ?? { out: 0 },
    workspace: refs?.workspace ?? { scratch: 0 },
  };
}

/** split-K of a requested split count: K range per split (whole k-steps of `bk`), the resulting split count, fp32 workspace bytes */
export function gemmSplitK(f: GemmFullShape, splits0: number, bk: number): { splits: number; kPer: number; ws: number } {
  const kTiles = Math.ceil(f.K / bk);
  const kPer = Math.ceil(kTiles / Math.max(1, splits0)) * bk;
  const splits = Math.ceil(f.K / kPer);
  return { splits, kPer, ws: f.batch * splits * f.M * f.N * 4 };
}

/**
 * Main-kernel arguments in declareGemmParams' order: `a`, `b` (the operands or their tensor maps), with
 * `lds` lda/ldb; `split`: the split-K form (workspace, splits, kPer), else bias, residual, C, ..., alpha.
 */
export function gemmKernelArgs(a: ArgRef, b: ArgRef, R: GemmTcRefs, f: GemmFullShape, lds: boolean, alpha: number, split?: { splits: number; kPer: number }): ArgRef[] {
  const common = [a64(f.M), a64(f.N), a64(f.K), ...(lds ? [a64(f.lda), a64(f.ldb)] : [])];
  if (split) return [a, b, R.workspace!, ...common, a64(f.strideA), a64(f.strideB), a64(f.batch), a64(split.splits), a64(split.kPer)];
  const args: ArgRef[] = [a, b];
  if (R.bias) args.push(R.bias);
  if (R.residual) args.push(R.residual);
  args.push(R.C, ...common, a64(f.ldc), a64(f.strideA), a64(f.strideB), a64(f.strideC), a64(f.batch), af32(alpha));
  return args;
}

/** the launch of a split-K reduce kernel (gemmSplitKReduceKernel) over the workspace */
export function gemmReduceLaunch(kernel: KernelSource, R: GemmTcRefs, f: GemmFullShape, splits: number, alpha: number): Launch {
  const args: ArgRef[] = [R.workspace!];
  if (R.bias) args.push(R.bias);
  if (R.residual) args.push(R.residual);
  args.push(R.C, a64(f.M), a64(f.N), a64(f.ldc), a64(f.strideC), a64(f.batch), a64(splits), af32(alpha));
  const n = f.batch * f.M * f.N;
  const rblocks = Math.max(1, Math.min(Math.ceil(n / GEMM_REDUCE_THREADS), 65535 * 8));
  return { kernel, grid: [rblocks, 1, 1], block: [GEMM_REDUCE_THREADS, 1, 1], args };
}

/**
 * Grid, block, shared bytes and arguments (in the kernels' parameter order) for one GEMM. Default buffer
 * references: A = {in:0}, B = {in:1}, then bias and residual as the next inputs, C = {out:0}, workspace
 * = {scratch:0}.
 */
export function launchTensorCoreGemm(shape: GemmTcShape, cfg: GemmTcConfig, alpha = 1, refs?: Partial<GemmTcRefs>): GemmTcLaunch {
  const f = gemmFullShape(shape, cfg.transA, cfg.transB);
  const ok = tensorCoreGemmApplies(cfg.dtype, shape, cfg.transA, cfg.transB);
  if (!ok.ok) throw new Error(`launchTensorCoreGemm: shape does not qualify (${ok.reason})`);
  const R = gemmRefs(cfg.epilogue, refs);
  const kernels = tensorCoreGemm(cfg);
  const t = cfg.tile;
  const tilesM = Math.ceil(f.M / t.bm), tilesN = Math.ceil(f.N / t.bn);
  // grid.x enumerates every output tile (grouped rasterization inside the kernel)
  const gridX = tilesM * tilesN, gridY = 1;
  if (gridX > 2 ** 31 - 1) throw new Error('launchTensorCoreGemm: too many tiles');
  const block: [number, number, number] = [gemmTileThreads(t), 1, 1];
  const sharedBytes = gemmTileSmem(t);
  if (!cfg.splitK) {
    const args = gemmKernelArgs(R.A, R.B, R, f, true, alpha);
    const at = (k: number): LibraryOperand => [0, k];
    const library = libraryGemm(f, cfg, alpha, at(0), at(1), at(R.bias ? 2 : -1), at(2 + (R.bias ? 1 : 0)), at(2 + (R.bias ? 1 : 0) + (R.residual ? 1 : 0)), 1);
    return { launches: [{ kernel: kernels.main, grid: [gridX, gridY, Math.min(f.batch, 65535)], block, sharedBytes, args, ...(library ? { library } : {}) }], scratch: [], splits: 1, kernels };
  }
  const { splits, kPer, ws } = gemmSplitK(f, shape.splits ?? gemmSplits(f, t), t.bk);
  const mainArgs = gemmKernelArgs(R.A, R.B, R, f, true, alpha, { splits, kPer });
  const library = libraryGemm(f, cfg, alpha, [0, 0], [0, 1], [1, R.bias ? 1 : -1], [1, 1 + (R.bias ? 1 : 0)], [1, 1 + (R.bias ? 1 : 0) + (R.residual ? 1 : 0)], 2);
  return {
    launches: [
      { kernel: kernels.main, grid: [gridX, gridY, Math.min(f.batch * splits, 65535)], block, sharedBytes, args: mainArgs, ...(library ? { library } : {}) },
      gemmReduceLaunch(kernels.reduce!, R, f, splits, alpha),
    ],
    scratch: [ws],
    splits,
    kernels,
  };
}

/**
 * A launch of another GEMM kernel with gemm-tc's argument order (A, B, [bias], [residual], C, ... without
 * split-K; A, B, workspace ... then the reduce's workspace, [bias], [residual], C with it) given the same
 * library form as launchTensorCoreGemm gives its own.
 */
export function withLibraryForm(l: GemmTcLaunch, shape: GemmTcShape, cfg: Pick<GemmTcConfig, 'dtype' | 'transA' | 'transB' | 'epilogue' | 'splitK'>, alpha: number): GemmTcLaunch {
  const f = gemmFullShape(shape, cfg.transA, cfg.transB);
  const b = cfg.epilogue.bias ? 1 : 0;
  const r = cfg.epilogue.residual ? 1 : 0;
  const full = { ...cfg, tile: { bm: 0, bn: 0, bk: 0, warpsM: 0, warpsN: 0, stages: 0 } };
  const lib = l.launches.length === 1
    ? libraryGemm(f, full, alpha, [0, 0], [0, 1], [0, b ? 2 : -1], [0, 2 + b], [0, 2 + b + r], 1)
    : libraryGemm(f, full, alpha, [0, 0], [0, 1], [1, b ? 1 : -1], [1, 1 + b], [1, 1 + b + r], 2);
  if (!lib) return l;
  return { ...l, launches: l.launches.map((x, i) => (i === 0 ? { ...x, library: lib } : x)) };
}

/**
 * The cuBLASLt form of a GEMM, when cuBLASLt computes exactly the same function: its GELU is the tanh
 * form, it adds beta*C before the activation (so a residual only with no activation), and its bias does
 * not broadcast over a batch here (batch 1 only). Operands point at the kernel arguments.
 */
function libraryGemm(f: FullShape, cfg: GemmTcConfig, alpha: number, a: LibraryOperand, b: LibraryOperand, bias: LibraryOperand, residual: LibraryOperand, c: LibraryOperand, replaces: number): LibraryGemm | undefined {
  const act = cfg.epilogue.act;
  if (act === 'gelu_erf') return undefined;
  if (cfg.epilogue.residual && act !== 'none') return undefined;
  if (cfg.epilogue.bias && f.batch > 1) return undefined;
  return {
    op: 'gemm', dtype: cfg.dtype, transA: cfg.transA, transB: cfg.transB,
    M: f.M, N: f.N, K: f.K, lda: f.lda, ldb: f.ldb, ldc: f.ldc,
    batch: f.batch, strideA: f.strideA, strideB: f.strideB, strideC: f.strideC, alpha, act,
    a, b, c, ...(cfg.epilogue.bias ? { bias } : {}), ...(cfg.epilogue.residual ? { residual } : {}), replaces,
  };
}

/** every kernel a node of this dtype/transposes/epilogue may launch with the given tiles (for `variants`) */
export function gemmTcVariants(base: Omit<GemmTcConfig, 'tile' | 'splitK'>, tiles: { tile: GemmTile; splitK: boolean }[]): KernelSource[] {
  return gemmKernelList(tiles.map((t) => tensorCoreGemm({ ...base, ...t })));
}

/** the main and reduce kernels of several configurations, in order, each name once */
export function gemmKernelList(kernels: readonly GemmTcKernels[]): KernelSource[] {
  const out = new Map<string, KernelSource>();
  for (const k of kernels) {
    out.set(k.main.name, k.main);
    if (k.reduce) out.set(k.reduce.name, k.reduce);
  }
  return [...out.values()];
}
