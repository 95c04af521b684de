/**
 * Implicit-GEMM tensor-core Conv (fp16 / bf16, group 1, 1-D and 2-D, NCHW in and out).
 *
 *   GEMM rows    = output channels m (M = Cout); A = W viewed as [M, Kred] (row stride lda)
 *   GEMM columns = every output pixel of every image: j = n·PQ + pq (Ncols = N·P·Q)
 *   reduction    = k = c·RS + r·S + s (Kred = C·R·S), the weights' native order
 *   Y[n, m, pq]  = epilogue( Σ_k W[m, k] · X[n, c, p·sh − ph + r·dh, q·sw − pw + s·dw] )
 *
 * The B tile (k × pixels) is gathered from X on the fly (no im2col buffer):
 * - `gather` mode (any geometry): register-staged. Thread t owns one tile column bj = t % bn and RPT
 *   consecutive rows (bh = t / bn; rows bh·RPT ..): its pixel (n, p, q) is decomposed once per CTA into a
 *   pointer to image n and (ih0, iw0) = (p·sh − ph, q·sw − pw); the row state (c·HW, rs) is decomposed
 *   once and then advanced incrementally (no division in the main loop); a per-CTA shared table
 *   tab[rs] = (r·dh·W + s·dw, r·dh, s·dw) gives the tap offset and bounds. Out-of-image taps, rows ≥ the
 *   split's end and columns ≥ Ncols read as zero. The loads for tile kt+1 are issued before the MMAs of
 *   tile kt and stored to a double-buffered shared tile after them.
 * - `vec` mode (1×1, stride 1, no padding, H·W % 8 == 0): B row k is X[n, k, :] contiguous, so 8-pixel
 *   chunks never cross an image: 16-byte cp.async like A, `stages`-deep ring.
 * A (weights) always goes through a `stages`-deep cp.async ring (16-byte chunks, src-size zero fill at
 * the M and K edges); when Kred % 8 != 0 the weights are first copied to a zero-padded [M, lda] scratch
 * (conv-tc.ts's `conv_wprep`, lda = roundup(Kred, 8)). Shared tiles and fragment loads follow gemm-tc.ts
 * (A [bm][32] K-contiguous, B [32][bn] N-contiguous, 16-byte chunks XOR-swizzled per row, ldmatrix.x4 /
 * .x4.trans, mma.sync m16n8k16 with fp32 accumulators).
 *
 * Epilogue (in registers): + bias[m], then relu and/or + residual[n, m, pq] (residual has Y's shape; the
 * activation is applied after the residual add when `actAfterResidual`, else before), stored to NCHW
 * (column pairs packed into one 32-bit store when both pixels are in the same image and aligned).
 * Split-K (small problems): blockIdx.z = split; fp32 partials in Y's layout go to a workspace
 * [splits, N, M, PQ]; `conv_igemm_reduce` sums them in order (deterministic) and applies the epilogue.
 *
 * Kernel text depends only on dtype, mode, tile, split-K and the epilogue flags; every dim is an i64
 * argument. All tiles × modes are built for every node (`convIgemmKernels`), so kernel sets do not
 * depend on shapes.
 */
import type { DType } from '../../ir/dtype.js';
import { dt } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, elementCount, grid1d, unsupported, type ArgRef, type Launch, type LowerContext, type Lowered } from '../lowering.js';
import { convGeometry2d, unionKernels, wprepKernel, type ConvGeometry2d } from './conv-tc.js';
import { cpAsyncChunkSrc } from './gemm-tc.js';
import { cpAsyncHelpers, cvt16, ptxMmaM16n8k16, type CpAsyncNames } from './ptx.js';

export type ConvIgemmDtype = 'float16' | 'bfloat16';
export type ConvIgemmMode = 'gather' | 'vec';

/** bk is fixed at 32 (one k-tile = two m16n8k16 steps) */
export const IG_BK = 32;

export interface ConvIgemmTile {
  name: string;
  bm: number;
  bn: number;
  warpsM: number;
  warpsN: number;
  /** depth of the cp.async ring (A; B too in vec mode) */
  stages: number;
  /** guessed relative throughput of one SM running this tile (tune on the GPU) */
  rate: number;
}

export const CONV_IGEMM_TILES: readonly ConvIgemmTile[] = [
  { name: 'big', bm: 128, bn: 128, warpsM: 2, warpsN: 4, stages: 4, rate: 1.0 },
  { name: 'tall', bm: 128, bn: 64, warpsM: 4, warpsN: 2, stages: 4, rate: 0.8 },
  { name: 'wide', bm: 64, bn: 128, warpsM: 2, warpsN: 4, stages: 4, rate: 0.8 },
  { name: 'small', bm: 64, bn: 64, warpsM: 2, warpsN: 2, stages: 4, rate: 0.55 },
];
/** the tile split-K runs with */
export const CONV_IGEMM_SPLIT_TILE = 'small';

export interface ConvIgemmEpilogue {
  bias: boolean;
  act: 'none' | 'relu';
  residual: boolean;
  /** act(acc + bias + residual) instead of act(acc + bias) + residual (only meaningful with a residual) */
  actAfterResidual: boolean;
}

export interface ConvIgemmConfig {
  dtype: ConvIgemmDtype;
  mode: ConvIgemmMode;
  tile: ConvIgemmTile;
  splitK: boolean;
  ep: ConvIgemmEpilogue;
}

export const igThreads = (t: ConvIgemmTile): number => t.warpsM * t.warpsN * 32;
/** rows of the B tile each thread gathers (gather mode) */
export const igRowsPerThread = (t: ConvIgemmTile): number => (IG_BK * t.bn) / igThreads(t);
const aBytes = (t: ConvIgemmTile): number => t.stages * t.bm * IG_BK * 2;
const bBytes = (t: ConvIgemmTile, mode: ConvIgemmMode): number => (mode === 'vec' ? t.stages : 2) * IG_BK * t.bn * 2;
/** dynamic shared memory of one CTA: A ring, B tiles, and (gather) the RS-entry tap table (16 B each) */
export function igSmemBytes(t: ConvIgemmTile, mode: ConvIgemmMode, RS: number): number {
  return aBytes(t) + bBytes(t, mode) + (mode === 'gather' ? RS * 16 : 0);
}

function checkTile(t: ConvIgemmTile): void {
  const T = igThreads(t);
  const ok = t.bm % (16 * t.warpsM) === 0 && t.bn % (16 * t.warpsN) === 0 && t.bn >= 64 && T % t.bn === 0 &&
    igRowsPerThread(t) % 8 === 0 && (t.bm * 4) % T === 0 && ((IG_BK * t.bn) / 8) % T === 0 && T % (t.bn / 8) === 0 && t.stages >= 2;
  if (!ok) throw new Error(`conv-igemm: invalid tile ${JSON.stringify(t)}`);
}

/** epilogue with no activation, bias or residual; actAfterResidual normalized away without a residual */
function normEp(ep: ConvIgemmEpilogue): ConvIgemmEpilogue {
  return { ...ep, actAfterResidual: ep.residual && ep.act !== 'none' ? ep.actAfterResidual : false };
}

// ---------------------------------------------------------------------------------------------------
// kernels

/** conv-igemm's names of the cp.async / ldmatrix helpers (part of its kernel texts) */
const IG_NAMES: CpAsyncNames = { smem: 'chm_ig_smem', cp16: 'chm_ig_cp16', commit: 'chm_ig_commit', wait: 'chm_ig_wait', ldsm4: 'chm_ig_ldsm4', ldsm4t: 'chm_ig_ldsm4t' };

/** C statements applying the epilogue to float `v` of output element `off` (row `m` bias value `bv`) */
function epilogueLines(ep: ConvIgemmEpilogue, dtype: ConvIgemmDtype, v: string, off: string, bv: string): string {
  const { load } = cvt16(dtype);
  const act = ep.act === 'relu' ? `${v} = fmaxf(${v}, 0.0f);` : '';
  const res = ep.residual ? `${v} += ${load}(res[${off}]);` : '';
  const parts = [ep.bias ? `${v} += ${bv};` : '', ...(ep.actAfterResidual ? [res, act] : [act, res])];
  return parts.filter((p) => p).join(' ');
}

/** The main kernel of one configuration (split-K: writes fp32 partials, the epilogue is the reduce's). */
export function convIgemmKernel(cfg: ConvIgemmConfig): KernelSource {
  const { tile, mode, dtype } = cfg;
  checkTile(tile);
  const ep = normEp(cfg.ep);
  const split = cfg.splitK;
  const { bm: BM, bn: BN, warpsN, stages: ST } = tile;
  const BK = IG_BK;
  const T = igThreads(tile);
  const WM = BM / tile.warpsM, WN = BN / warpsN, MI = WM / 16, NI = WN / 8;
  const RPT = igRowsPerThread(tile);
  const CPRB = BN / 8;
  const A_B = aBytes(tile), B_B = bBytes(tile, mode);
  const { ty: mty, load, store } = cvt16(dtype);

  const b = new KernelBuilder(split ? 'conv_igemm_splitk' : 'conv_igemm', T);
  b.helpers(cpAsyncHelpers(IG_NAMES)).helpers(ptxMmaM16n8k16('chm_ig_mma', mty));
  b.input('x', 'unsigned short');
  b.input('w', 'unsigned short');
  if (!split && ep.bias) b.input('bias', 'unsigned short');
  if (!split && ep.residual) b.input('res', 'unsigned short');
  if (split) b.output('ws', 'float');
  else b.output('y', 'unsigned short');
  for (const n of ['Nimg', 'C', 'H', 'W', 'M', 'P', 'Q', 'R', 'S', 'sh', 'sw', 'dh', 'dw', 'ph', 'pw', 'Kred', 'lda', 'kPer']) b.i64(n);
  b.dynamicShared('unsigned short', 'smem');
  b.line(
    `// ${mode} mode, tile ${BM}x${BN}x${BK}, ${tile.warpsM}x${warpsN} warps, ${ST} stages${split ? ', split-K' : ''}`,
    'const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;',
    `const int wm = warp / ${warpsN}, wn = warp % ${warpsN};`,
    'const unsigned sAb = chm_ig_smem(smem);',
    `const unsigned sBb = sAb + ${A_B}u;`,
    'const long long PQ = P * Q, HW = H * W, Ncols = Nimg * PQ;',
    `const long long tilesM = (M + ${BM - 1}) / ${BM};`,
    // M tiles fastest: consecutive CTAs share the gathered pixel panel
    'const long long tm = (long long)blockIdx.x % tilesM, tn = (long long)blockIdx.x / tilesM;',
    `const long long m0 = tm * ${BM}, n0 = tn * ${BN};`,
    'const long long kBeg = (long long)blockIdx.z * kPer;',
    'const long long kEnd = kBeg + kPer < Kred ? kBeg + kPer : Kred;',
    `const int kTiles = kEnd > kBeg ? (int)((kEnd - kBeg + ${BK - 1}) / ${BK}) : 0;`,
    `float acc[${MI}][${NI}][4];`,
    '#pragma unroll',
    `for (int i = 0; i < ${MI}; i++)`,
    '  #pragma unroll',
    `  for (int j = 0; j < ${NI}; j++) { acc[i][j][0] = 0.0f; acc[i][j][1] = 0.0f; acc[i][j][2] = 0.0f; acc[i][j][3] = 0.0f; }`,
  );
  // A loader: [BM][32] K-contiguous, 4 chunks per row, swizzle c ^ ((r >> 1) & 3)
  const aChunks = BM * 4, aIters = aChunks / T;
  b.line(
    'auto loadA = [&](int kt, int st) {',
    `  const long long k0 = kBeg + (long long)kt * ${BK};`,
    '  #pragma unroll',
    `  for (int it = 0; it < ${aIters}; it++) {`,
    `    const int ch = tid + it * ${T};`,
    '    const int r = ch >> 2, c = ch & 3;',
    ...cpAsyncChunkSrc(true, 'w', 'lda', 'm0', 'M').map((l) => '    ' + l),
    `    chm_ig_cp16(sAb + (unsigned)((st * ${BM * BK} + r * ${BK} + ((c ^ ((r >> 1) & 3)) << 3)) * 2), src, bytes);`,
    '  }',
    '};',
  );
  if (mode === 'vec') {
    const bIters = (BK * CPRB) / T, rowStep = T / CPRB;
    b.line(
      '// vec: this thread\'s 8-pixel column chunk (PQ % 8 == 0: a chunk never crosses an image)',
      `const int vc = tid % ${CPRB};`,
      'const long long jv = n0 + vc * 8;',
      'const bool cvalid = jv < Ncols;',
      'const unsigned short* xcol = x;',
      'if (cvalid) { const long long n = jv / PQ, pq = jv - n * PQ; xcol = x + n * C * HW + pq; }',
      'auto loadB = [&](int kt, int st) {',
      `  const long long k0 = kBeg + (long long)kt * ${BK};`,
      '  #pragma unroll',
      `  for (int it = 0; it < ${bIters}; it++) {`,
      `    const int r = tid / ${CPRB} + it * ${rowStep};`,
      '    const long long gk = k0 + r;',
      '    const bool ok = cvalid && gk < kEnd;',
      `    chm_ig_cp16(sBb + (unsigned)((st * ${BK * BN} + r * ${BN} + ((vc ^ (r & 7)) << 3)) * 2), ok ? xcol + gk * HW : x, ok ? 16u : 0u);`,
      '  }',
      '};',
    );
  } else {
    b.line(
      '// gather: tap table tab[rs] = (r*dh*W + s*dw, r*dh, s*dw)',
      `int4* tab = reinterpret_cast<int4*>(smem + ${(A_B + B_B) / 2});`,
      'const int RS = (int)(R * S), Si = (int)S, HWi = (int)HW;',
      `for (int i = tid; i < RS; i += ${T}) { const int r = i / Si, s = i - r * Si; const int dr = r * (int)dh, ds = s * (int)dw; tab[i] = make_int4(dr * (int)W + ds, dr, ds, 0); }`,
      `const int bj = tid % ${BN}, bh = tid / ${BN};`,
      'const long long jg = n0 + bj;',
      'int ih0 = -(1 << 30), iw0 = -(1 << 30), colOff = 0;',
      'const unsigned short* xc = x;',
      'if (jg < Ncols) {',
      '  const long long n = jg / PQ, pq = jg - n * PQ, p = pq / Q, q = pq - p * Q;',
      '  ih0 = (int)(p * sh - ph); iw0 = (int)(q * sw - pw); colOff = ih0 * (int)W + iw0;',
      '  xc = x + n * C * HW;',
      '}',
      `const long long kA0 = kBeg + (long long)bh * ${RPT};`,
      'int grs = (int)(kA0 % RS), gco = (int)(kA0 / RS) * HWi;',
      `const int bkQ = ${BK} / RS, bkR = ${BK} - bkQ * RS;`,
      'const unsigned Hu = (unsigned)H, Wu = (unsigned)W;',
      `unsigned short vb[${RPT}];`,
      'auto gatherB = [&](int kt) {',
      `  const long long kRem = kEnd - (kA0 + (long long)kt * ${BK});`,
      '  int rr = grs, co = gco;',
      '  #pragma unroll',
      `  for (int i = 0; i < ${RPT}; i++) {`,
      '    const int4 t = tab[rr];',
      '    const int ih = ih0 + t.y, iw = iw0 + t.z;',
      '    unsigned short v = 0;',
      '    if (i < kRem && (unsigned)ih < Hu && (unsigned)iw < Wu) v = xc[co + colOff + t.x];',
      '    vb[i] = v;',
      '    if (++rr == RS) { rr = 0; co += HWi; }',
      '  }',
      '  grs += bkR; gco += bkQ * HWi;',
      '  if (grs >= RS) { grs -= RS; gco += HWi; }',
      '};',
      'auto storeB = [&](int buf) {',
      `  unsigned short* Bs = smem + ${A_B / 2} + buf * ${BK * BN};`,
      '  #pragma unroll',
      `  for (int i = 0; i < ${RPT}; i++) { const int r = bh * ${RPT} + i; Bs[r * ${BN} + ((((bj >> 3) ^ (r & 7))) << 3) + (bj & 7)] = vb[i]; }`,
      '};',
      '__syncthreads();',
    );
  }
  // fragment loads and MMAs of one k-tile
  b.line(
    'auto compute = [&](int stA, int stB) {',
    `  const unsigned aS = sAb + (unsigned)(stA * ${BM * BK * 2}), bS = sBb + (unsigned)(stB * ${BK * BN * 2});`,
    '  #pragma unroll',
    `  for (int kk = 0; kk < ${BK / 16}; kk++) {`,
    `    unsigned af[${MI}][4], bfr[${NI}][2];`,
    '    #pragma unroll',
    `    for (int mi = 0; mi < ${MI}; mi++) {`,
    `      const int r = wm * ${WM} + mi * 16 + (lane & 15), c = kk * 2 + (lane >> 4);`,
    `      chm_ig_ldsm4(af[mi], aS + (unsigned)((r * ${BK} + ((c ^ ((r >> 1) & 3)) << 3)) * 2));`,
    '    }',
    '    #pragma unroll',
    `    for (int np = 0; np < ${NI / 2}; np++) {`,
    '      unsigned t4[4];',
    `      const int r = kk * 16 + ((lane >> 3) & 1) * 8 + (lane & 7), c = (wn * ${WN} + np * 16) / 8 + (lane >> 4);`,
    `      chm_ig_ldsm4t(t4, bS + (unsigned)((r * ${BN} + ((c ^ (r & 7)) << 3)) * 2));`,
    '      bfr[2 * np][0] = t4[0]; bfr[2 * np][1] = t4[1]; bfr[2 * np + 1][0] = t4[2]; bfr[2 * np + 1][1] = t4[3];',
    '    }',
    '    #pragma unroll',
    `    for (int mi = 0; mi < ${MI}; mi++)`,
    '      #pragma unroll',
    `      for (int ni = 0; ni < ${NI}; ni++) chm_ig_mma(acc[mi][ni], af[mi], bfr[ni]);`,
    '  }',
    '};',
  );
  if (mode === 'vec') {
    b.line(
      '#pragma unroll',
      `for (int s = 0; s < ${ST - 1}; s++) { if (s < kTiles) { loadA(s, s); loadB(s, s); } chm_ig_commit(); }`,
    );
    b.block('for (int kt = 0; kt < kTiles; kt++)', () => {
      b.line(
        `chm_ig_wait<${ST - 2}>();`, '__syncthreads();',
        `{ const int nk = kt + ${ST - 1}; if (nk < kTiles) { loadA(nk, nk % ${ST}); loadB(nk, nk % ${ST}); } chm_ig_commit(); }`,
        `compute(kt % ${ST}, kt % ${ST});`,
      );
    });
  } else {
    b.line(
      '#pragma unroll',
      `for (int s = 0; s < ${ST - 1}; s++) { if (s < kTiles) loadA(s, s); chm_ig_commit(); }`,
      'if (kTiles > 0) { gatherB(0); storeB(0); }',
    );
    b.block('for (int kt = 0; kt < kTiles; kt++)', () => {
      b.line(
        'const bool more = kt + 1 < kTiles;',
        'if (more) gatherB(kt + 1);',
        `chm_ig_wait<${ST - 2}>();`, '__syncthreads();',
        `{ const int nk = kt + ${ST - 1}; if (nk < kTiles) loadA(nk, nk % ${ST}); chm_ig_commit(); }`,
        `compute(kt % ${ST}, kt & 1);`,
        'if (more) storeB((kt + 1) & 1);',
      );
    });
  }
  b.line('chm_ig_wait<0>();');
  // epilogue: column j -> (n, pq) once per ni; rows per (mi, h)
  if (split) b.line('const long long zoff = (long long)blockIdx.z * (Nimg * M * PQ);', 'float* wsz = ws + zoff;');
  else if (ep.bias) {
    b.line(`float bvals[${MI}][2];`, '#pragma unroll', `for (int mi = 0; mi < ${MI}; mi++)`, '  #pragma unroll', '  for (int h = 0; h < 2; h++) {',
      `    const long long row = m0 + wm * ${WM} + mi * 16 + (lane >> 2) + h * 8;`,
      `    bvals[mi][h] = row < M ? ${load}(bias[row]) : 0.0f;`,
      '  }');
  }
  b.line('#pragma unroll');
  b.block(`for (int ni = 0; ni < ${NI}; ni++)`, () => {
    b.line(
      `const long long col = n0 + wn * ${WN} + ni * 8 + (lane & 3) * 2;`,
      'if (col >= Ncols) continue;',
      'const long long nI = col / PQ, pq = col - nI * PQ;',
      'const bool has1 = col + 1 < Ncols, same = pq + 1 < PQ;',
      '#pragma unroll',
    );
    b.block(`for (int mi = 0; mi < ${MI}; mi++)`, () => {
      b.line('#pragma unroll');
      b.block('for (int h = 0; h < 2; h++)', () => {
        b.line(
          `const long long row = m0 + wm * ${WM} + mi * 16 + (lane >> 2) + h * 8;`,
          'if (row >= M) continue;',
          'const long long off0 = (nI * M + row) * PQ + pq;',
          'const long long off1 = same ? off0 + 1 : ((nI + 1) * M + row) * PQ;',
          'float v0 = acc[mi][ni][2 * h], v1 = acc[mi][ni][2 * h + 1];',
        );
        if (split) {
          b.line(
            'if (has1 && same && ((zoff + off0) & 1) == 0) { *reinterpret_cast<float2*>(wsz + off0) = make_float2(v0, v1); }',
            'else { wsz[off0] = v0; if (has1) wsz[off1] = v1; }',
          );
        } else {
          b.line(
            epilogueLines(ep, dtype, 'v0', 'off0', 'bvals[mi][h]'),
            `if (has1) { ${epilogueLines(ep, dtype, 'v1', 'off1', 'bvals[mi][h]')} }`,
            `if (has1 && same && (off0 & 1) == 0) { *reinterpret_cast<unsigned*>(y + off0) = (unsigned)${store}(v0) | ((unsigned)${store}(v1) << 16); }`,
            `else { y[off0] = ${store}(v0); if (has1) y[off1] = ${store}(v1); }`,
          );
        }
      });
    });
  });
  return b.build();
}

/** Split-K reduce: y[i] = epilogue(Σ_s ws[s·total + i]) over Y's NCHW elements, splits summed in order. */
export function convIgemmReduceKernel(dtype: ConvIgemmDtype, ep0: ConvIgemmEpilogue): KernelSource {
  const ep = normEp(ep0);
  const { load } = cvt16(dtype);
  const b = new KernelBuilder('conv_igemm_reduce', 256);
  b.input('ws', 'float');
  if (ep.bias) b.input('bias', 'unsigned short');
  if (ep.residual) b.input('res', 'unsigned short');
  b.output('y', 'unsigned short');
  b.i64('total'); b.i64('M'); b.i64('PQ'); b.i64('splits');
  b.gridStride('total', () => {
    b.line(
      'float v = 0.0f;',
      'for (long long s = 0; s < splits; s++) v += ws[s * total + i];',
      ...(ep.bias ? [`const float bv = ${load}(bias[(i / PQ) % M]);`] : []),
      epilogueLines(ep, dtype, 'v', 'i', 'bv'),
      `y[i] = ${dt(dtype).store('v')};`,
    );
  });
  return b.build();
}

/** Every kernel a node of this dtype and epilogue may launch (all tiles, both modes, split-K, reduce, W pad). */
export function convIgemmKernels(dtype: ConvIgemmDtype, ep: ConvIgemmEpilogue): KernelSource[] {
  const out = new Map<string, KernelSource>();
  const add = (k: KernelSource) => out.set(k.name, k);
  for (const mode of ['gather', 'vec'] as const) {
    for (const tile of CONV_IGEMM_TILES) add(convIgemmKernel({ dtype, mode, tile, splitK: false, ep }));
    add(convIgemmKernel({ dtype, mode, tile: igTile(CONV_IGEMM_SPLIT_TILE), splitK: true, ep }));
  }
  add(convIgemmReduceKernel(dtype, ep));
  add(wprepKernel(false));
  return [...out.values()];
}

export function igTile(name: string): ConvIgemmTile {
  const t = CONV_IGEMM_TILES.find((x) => x.name === name);
  if (!t) throw new Error(`conv-igemm: no tile '${name}'`);
  return t;
}

// ---------------------------------------------------------------------------------------------------
// tile choice

const SMS = 132;
/** fp32 split-K workspace budget */
export const CONV_IGEMM_WS_BUDGET = 256 * 1024 * 1024;
/** MACs per second of one SM at rate 1.0 (≈ 200 TFLOP/s over 132 SMs); only the ratio to BW matters */
const SM_MACS = 0.76e12;
const DRAM_BW = 2.5e12;

export interface IgemmChoice { tile: ConvIgemmTile; splits: number; seconds: number }

/**
 * Tile (and split count) for GEMM M × Ncols × Kred: the option with the least modeled time,
 *   ceil(CTAs / SMs) · bm·bn·kLen / (rate · SM_MACS)  (padded work, quantized to waves of one CTA per SM)
 * plus, for split-K (small tile only, 2..16 splits of ≥ 4 k-tiles, only when the unsplit grid is under
 * one wave), the fp32 workspace traffic and a reduce launch.
 */
export function chooseIgemmTile(M: number, Ncols: number, Kred: number, residual = false): IgemmChoice {
  let best: IgemmChoice | undefined;
  const kT = Math.ceil(Kred / IG_BK);
  for (const tile of CONV_IGEMM_TILES) {
    const tiles = Math.ceil(M / tile.bm) * Math.ceil(Ncols / tile.bn);
    const time = (ctas: number, kLen: number) => Math.ceil(ctas / SMS) * tile.bm * tile.bn * kLen / (tile.rate * SM_MACS);
    const t1 = time(tiles, kT * IG_BK);
    if (!best || t1 < best.seconds) best = { tile, splits: 1, seconds: t1 };
    if (tile.name !== CONV_IGEMM_SPLIT_TILE || tiles >= SMS) continue;
    const ytot = M * Ncols;
    for (const s of [2, 4, 8, 16]) {
      const per = Math.ceil(kT / s);
      if (per < 4) break;
      const splits = Math.ceil(kT / per);
      if (splits * ytot * 4 > CONV_IGEMM_WS_BUDGET) break;
      const ts = time(tiles * splits, per * IG_BK) + (2 * splits * ytot * 4 + ytot * 2 * (residual ? 2 : 1)) / DRAM_BW + 2e-6;
      if (ts < best.seconds) best = { tile, splits, seconds: ts };
    }
  }
  return best!;
}

// ---------------------------------------------------------------------------------------------------
// plan

/** 2-D conv geometry (1-D convs lifted with H = P = R = 1) */
export type ConvIgemmGeometry = ConvGeometry2d;

export interface ConvIgemmRefs { x: ArgRef; w: ArgRef; bias?: ArgRef; residual?: ArgRef; y: ArgRef }

export interface ConvIgemmPlanInfo {
  mode: ConvIgemmMode; tile: string; splits: number; kPer: number;
  Kred: number; lda: number; prepW: boolean; Ncols: number; sharedBytes: number; modeledSeconds: number;
}

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;
const I32 = 2 ** 31 - 1;

/** whether the vec (cp.async B) mode applies: a 1×1, stride 1, unpadded conv with H·W % 8 == 0 */
export function igemmVecApplies(g: ConvIgemmGeometry): boolean {
  return g.R === 1 && g.S === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0 && g.P === g.H && g.Q === g.W && (g.H * g.W) % 8 === 0;
}

/**
 * The launches of one conv, or the reason it is not handled. `force` pins the tile / split count /
 * mode (tests and the benchmark).
 */
export function planConvIgemm(dtype: ConvIgemmDtype, g: ConvIgemmGeometry, ep0: ConvIgemmEpilogue, refs: ConvIgemmRefs,
  force: { tile?: string; splits?: number; mode?: ConvIgemmMode } = {}): { lowered: Lowered; info: ConvIgemmPlanInfo } | { reason: string } {
  const ep = normEp(ep0);
  const { N, C, H, W, M, P, Q, R, S, sh, sw, dh, dw, ph, pw } = g;
  const PQ = P * Q, HW = H * W, RS = R * S, Kred = C * RS, Ncols = N * PQ;
  if (N < 1 || M < 1 || PQ < 1 || Kred < 1 || HW < 1) return { reason: 'empty conv' };
  // 32-bit in-image offsets (the gather's c·HW + ih·W + iw, with the row state running up to a tile past C)
  if ((C + IG_BK + 2) * HW > I32) return { reason: 'an image exceeds 32-bit offsets' };
  const coord = Math.max(P * sh + (R - 1) * dh + ph, Q * sw + (S - 1) * dw + pw, H + ph, W + pw, (R - 1) * dh * W + (S - 1) * dw);
  if (coord >= 2 ** 29) return { reason: 'coordinates beyond 32-bit math' };
  if (RS > 4096) return { reason: `kernel window of ${RS} taps exceeds the shared tap table` };
  if (Ncols > I32 - 256 || Kred > I32 - 64) return { reason: 'too many pixels or reduction elements' };
  const vec = force.mode ? force.mode === 'vec' : igemmVecApplies(g);
  if (vec && !igemmVecApplies(g)) return { reason: 'vec mode forced on a geometry it does not apply to' };
  const mode: ConvIgemmMode = vec ? 'vec' : 'gather';
  const choice = chooseIgemmTile(M, Ncols, Kred, ep.residual);
  const tile = force.tile ? igTile(force.tile) : choice.tile;
  const kT = Math.ceil(Kred / IG_BK);
  const splits0 = force.splits ?? (force.tile ? 1 : choice.splits);
  const per = Math.ceil(kT / Math.max(1, splits0));
  const splits = Math.ceil(kT / per);
  const kPer = per * IG_BK;
  if (splits > 1 && tile.name !== CONV_IGEMM_SPLIT_TILE) return { reason: `split-K runs with the ${CONV_IGEMM_SPLIT_TILE} tile only` };
  const tiles = Math.ceil(M / tile.bm) * Math.ceil(Ncols / tile.bn);
  if (tiles > I32 || splits > 65535) return { reason: 'grid too large' };
  const ytot = N * M * PQ;
  if (splits > 1 && splits * ytot * 4 > CONV_IGEMM_WS_BUDGET) return { reason: 'split-K workspace too large' };
  const lda = Kred % 8 === 0 ? Kred : roundUp(Kred, 8);
  const prepW = lda !== Kred;
  const smemBytes = igSmemBytes(tile, mode, RS);
  if (smemBytes > 227 * 1024) return { reason: 'shared memory' };

  const scratch: number[] = [];
  const launches: Launch[] = [];
  const wIdx = prepW ? scratch.push(M * lda * 2) - 1 : -1;
  const wsIdx = splits > 1 ? scratch.push(splits * ytot * 4) - 1 : -1;
  if (prepW) {
    const total = M * (lda / 8);
    launches.push({
      kernel: wprepKernel(false),
      grid: [Math.max(1, Math.min(Math.ceil(total / 256), 65535 * 8)), 1, 1], block: [256, 1, 1],
      args: [refs.w, { scratch: wIdx }, a64(M), a64(Kred), a64(lda)],
    });
  }
  const cfg: ConvIgemmConfig = { dtype, mode, tile, splitK: splits > 1, ep };
  const dims = [N, C, H, W, M, P, Q, R, S, sh, sw, dh, dw, ph, pw, Kred, lda, kPer].map(a64);
  const wRef: ArgRef = prepW ? { scratch: wIdx } : refs.w;
  const mainArgs: ArgRef[] = [refs.x, wRef];
  if (splits > 1) mainArgs.push({ scratch: wsIdx });
  else {
    if (ep.bias) mainArgs.push(refs.bias!);
    if (ep.residual) mainArgs.push(refs.residual!);
    mainArgs.push(refs.y);
  }
  launches.push({
    kernel: convIgemmKernel(cfg), grid: [tiles, 1, splits], block: [igThreads(tile), 1, 1],
    sharedBytes: smemBytes, args: [...mainArgs, ...dims],
  });
  if (splits > 1) {
    const rArgs: ArgRef[] = [{ scratch: wsIdx }];
    if (ep.bias) rArgs.push(refs.bias!);
    if (ep.residual) rArgs.push(refs.residual!);
    rArgs.push(refs.y, a64(ytot), a64(M), a64(PQ), a64(splits));
    launches.push({ kernel: convIgemmReduceKernel(dtype, ep), ...grid1d(ytot), args: rArgs });
  }
  return {
    lowered: { launches, scratch },
    info: { mode, tile: tile.name, splits, kPer, Kred, lda, prepW, Ncols, sharedBytes: smemBytes, modeledSeconds: choice.seconds },
  };
}

// ---------------------------------------------------------------------------------------------------
// node entry points

/** why the node's attributes/types do not qualify for this path, or undefined when they do */
function attrReject(ctx: LowerContext): string | undefined {
  const X = ctx.inputs[0], Wt = ctx.inputs[1], B = ctx.inputs[2];
  if (!X || !Wt) return 'missing X or W';
  const dtype: DType = X.dtype;
  if (dtype !== 'float16' && dtype !== 'bfloat16') return `dtype ${dtype} (fp16/bf16 only)`;
  if (Wt.dtype !== dtype || (B && B.dtype !== dtype) || ctx.outputs[0]?.dtype !== dtype) return 'mixed dtypes';
  const rank = X.shape.length;
  if ((rank !== 3 && rank !== 4) || Wt.shape.length !== rank) return `rank ${rank} (1-D and 2-D convs only)`;
  if (ctx.node.int('group', 1) !== 1) return 'grouped conv';
  if (Wt.shape[1] !== X.shape[1]) return 'weights do not match the input channels';
  if (B && (B.shape.length !== 1 || B.shape[0] !== Wt.shape[0])) return 'bias is not one value per output channel';
  return undefined;
}

/**
 * Conv (ctx.node) with a fused epilogue, for the engine's epilogue fusion: y = act(conv + bias) + res, or
 * act(conv + bias + res) with `actAfterResidual`. ctx.inputs: X, W, [B], and the residual at
 * `residualInput` (Y's shape and dtype); ctx.outputs[0] is the unit's output. Throws Unsupported when
 * the node or shapes do not qualify (the engine then runs the nodes one by one).
 */
export function lowerConvIgemm(ctx: LowerContext, opts: { act: 'none' | 'relu'; residualInput?: number; actAfterResidual: boolean }): Lowered {
  if (ctx.node.op !== 'Conv' || ctx.node.domain !== '') return unsupported(`${ctx.node.op} is not a Conv`);
  const rej = attrReject(ctx);
  if (rej) return unsupported(`Conv (implicit GEMM): ${rej}`);
  const X = ctx.inputs[0]!;
  const dtype = X.dtype as ConvIgemmDtype;
  const g = convGeometry2d(ctx);
  const outShape = X.shape.length === 3 ? [g.N, g.M, g.Q] : [g.N, g.M, g.P, g.Q];
  const y = ctx.outputs[0];
  if (y.shape.length !== outShape.length || y.shape.some((d, i) => d !== outShape[i])) unsupported(`Conv: output [${y.shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  let residual: ArgRef | undefined;
  if (opts.residualInput !== undefined) {
    const r = ctx.inputs[opts.residualInput];
    if (!r) return unsupported('the fused residual is missing');
    if (r.dtype !== dtype) unsupported(`fused residual type ${r.dtype} differs from ${dtype}`);
    if (r.shape.length !== y.shape.length || r.shape.some((d, i) => d !== y.shape[i])) unsupported(`residual [${r.shape.join(',')}] does not have the output shape [${y.shape.join(',')}]`);
    residual = { in: opts.residualInput };
  }
  const ep: ConvIgemmEpilogue = { bias: ctx.inputs[2] !== undefined, act: opts.act, residual: residual !== undefined, actAfterResidual: opts.actAfterResidual };
  const all = convIgemmKernels(dtype, ep);
  if (elementCount(y.shape) === 0) return { launches: [], variants: all };
  const plan = planConvIgemm(dtype, g, ep, { x: { in: 0 }, w: { in: 1 }, bias: ep.bias ? { in: 2 } : undefined, residual, y: { out: 0 } });
  if ('reason' in plan) return unsupported(`Conv (implicit GEMM): ${plan.reason}`);
  const launched = new Set(plan.lowered.launches.map((l) => l.kernel.name));
  return { ...plan.lowered, variants: all.filter((k) => !launched.has(k.name)) };
}

/**
 * The plain Conv node (no fused epilogue) on the implicit GEMM when it qualifies; `base` is what the other
 * paths (conv-tc.ts, conv.ts) planned for it (they validated the node). The implicit-GEMM kernels are in
 * every result of a qualifying node (launched or variants), and base's kernels stay as variants, so the
 * kernel set depends only on dtype, rank, group and bias presence.
 */
export function withConvIgemm(ctx: LowerContext, base: Lowered): Lowered {
  if (attrReject(ctx)) return base;
  const dtype = ctx.inputs[0]!.dtype as ConvIgemmDtype;
  const ep: ConvIgemmEpilogue = { bias: ctx.inputs[2] !== undefined, act: 'none', residual: false, actAfterResidual: false };
  const ig = convIgemmKernels(dtype, ep);
  const baseKernels = unionKernels(base.launches.map((l) => l.kernel), base.variants ?? []);
  const baseLaunched = new Set(base.launches.map((l) => l.kernel.name));
  const keepBase = (): Lowered => ({ ...base, variants: unionKernels(base.variants ?? [], ig.filter((k) => !baseLaunched.has(k.name))) });
  if (elementCount(ctx.outputs[0].shape) === 0) return keepBase();
  const plan = planConvIgemm(dtype, convGeometry2d(ctx), ep, { x: { in: 0 }, w: { in: 1 }, bias: ep.bias ? { in: 2 } : undefined, y: { out: 0 } });
  if ('reason' in plan) return keepBase();
  const launched = new Set(plan.lowered.launches.map((l) => l.kernel.name));
  return { ...plan.lowered, variants: unionKernels(ig, baseKernels).filter((k) => !launched.has(k.name)) };
}
