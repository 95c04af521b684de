/**
 * Flash attention (FlashAttention-2 style) for float16/bfloat16 with head dims 64/80/96/128, for the
 * Attention lowering (attention.ts) to call when `flashAttentionApplies` says yes.
 *
 * Semantics (as src/ref/kernels/nn-attention.ts): per batch b, query head h, query row i, key j < Skv:
 *   s = (Q_i·K_j)·scale;  s = softcap·tanh(s/softcap) when softcap is on;  s += mask (bool: -inf where
 *   false; float: added; keys j >= mT masked);  causal: keys j > i + coff masked;  p = softmax_j(s)
 *   (a fully masked row gives zeros);  Y_i = Σ p_j V_j.  GQA: q head h reads kv head h / grp.
 *
 * Kernel `flash_fwd` (one per dtype × head dim × causal × mask kind × softcap × tile × split):
 * - grid (q blocks, Hq, B·nsplit); a CTA owns `bq` query rows of one (b, h), its warps 16·MT rows each
 *   (MT = bq / (16·warps)). Q is staged in shared memory by cp.async (and kept in registers when MT = 1).
 * - K/V tiles of `bkv` keys stream through `stages` shared-memory buffers with cp.async (16-byte, zero-fill
 *   beyond Skv); rows are padded by 16 bytes so ldmatrix is conflict-free.
 * - S = Q·Kᵀ and O += P·V with mma.sync m16n8k16 (f16/bf16 in, f32 accumulate); K fragments by ldmatrix,
 *   V fragments by ldmatrix.trans; P goes from the S accumulators to A fragments in registers.
 * - online softmax in fp32 in the log2 domain (ex2.approx), row max/sum over the quad by shuffles.
 * - causal: tiles above the diagonal are never loaded; warps whose rows are all above a tile skip it;
 *   predication (j >= Skv, causal) only on the tiles that need it. Heavy (late) q blocks launch first.
 * - split variant (decode, small Sq): KV tiles split over blockIdx.z; each split writes its unnormalized
 *   O and (max, sum) to an fp32 workspace; `flash_combine` merges them into Y (input dtype).
 * All dims and strides are run-time arguments (i64): [B,H,S,D] and [B,S,H,D] layouts share the kernels.
 */
import type { DType } from '../../ir/dtype.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, af32, type ArgRef, type Launch } from '../lowering.js';

export type FlashDType = 'float16' | 'bfloat16';
export type FlashHeadDim = 64 | 80 | 96 | 128;
export type FlashMaskKind = 'none' | 'bool' | 'float';

export interface FlashTile {
  /** query rows per CTA (multiple of 16·warps) */
  bq: number;
  /** keys per K/V tile (multiple of 16) */
  bkv: number;
  warps: number;
  /** shared-memory K/V buffers (2 = double buffering) */
  stages: number;
}

export interface FlashConfig {
  dtype: FlashDType;
  headDim: FlashHeadDim;
  causal: boolean;
  mask: FlashMaskKind;
  /** element type of a float mask (default: dtype) */
  maskDtype?: 'float16' | 'bfloat16' | 'float32';
  /** softcap·tanh(s/softcap) on the scaled scores (default off) */
  softcap?: boolean;
  tile: FlashTile;
  /** split-KV variant: writes fp32 partials to a workspace, merged by flashCombineKernel */
  split?: boolean;
}

export const FLASH_HEAD_DIMS: readonly FlashHeadDim[] = [64, 80, 96, 128];
export const FLASH_DTYPES: readonly FlashDType[] = ['float16', 'bfloat16'];

/** the tuner's search space (each entry is filtered per head dim by validFlashTile) */
export const FLASH_SPACE: readonly FlashTile[] = [
  { bq: 64, bkv: 64, warps: 4, stages: 2 },
  { bq: 64, bkv: 64, warps: 4, stages: 3 },
  { bq: 64, bkv: 32, warps: 4, stages: 2 },
  { bq: 128, bkv: 64, warps: 8, stages: 2 },
  { bq: 128, bkv: 32, warps: 8, stages: 2 },
  { bq: 128, bkv: 32, warps: 4, stages: 2 },
  { bq: 128, bkv: 32, warps: 4, stages: 3 },
  { bq: 256, bkv: 32, warps: 8, stages: 2 },
  { bq: 128, bkv: 64, warps: 4, stages: 2 },
  { bq: 128, bkv: 128, warps: 8, stages: 2 },
  { bq: 64, bkv: 128, warps: 4, stages: 2 },
  { bq: 32, bkv: 64, warps: 2, stages: 2 },
  { bq: 16, bkv: 64, warps: 1, stages: 2 },
];

const SMEM_LIMIT = 227 * 1024;

/** shared-memory bytes of a tile (Q + stages × (K + V), rows padded by 8 elements) */
export function flashSharedBytes(D: number, t: FlashTile): number {
  return (t.bq + 2 * t.stages * t.bkv) * (D + 8) * 2;
}

/** whether a tile is well-formed and fits (registers: MT·D bounded; shared memory: ≤ 227 KiB) */
export function validFlashTile(t: FlashTile, D: number): boolean {
  if (![1, 2, 4, 8].includes(t.warps)) return false;
  if (t.bq % (16 * t.warps) !== 0) return false;
  const mt = t.bq / (16 * t.warps);
  if (mt < 1 || mt > 2) return false;
  if (t.bkv < 16 || t.bkv % 16 !== 0 || t.bkv > 128) return false;
  if (t.stages < 2 || t.stages > 4) return false;
  if (D % 16 !== 0) return false;
  // accumulator registers per thread: O (MT·D/2) + S (MT·bkv/4); keep well under 255
  if (mt * D / 2 + mt * t.bkv / 4 > 144) return false;
  return flashSharedBytes(D, t) <= SMEM_LIMIT;
}

/** the tile the heuristic picks (also what the lead uses without tuning) */
export function heuristicFlashTile(Sq: number, Skv: number, D: number): FlashTile {
  void Skv;
  // short query blocks (decode, split-KV): 16 rows per warp, so padding rows cost little
  if (Sq <= 64) return { bq: 64, bkv: 64, warps: 4, stages: 2 };
  // two m-tiles per warp halve the K/V shared-memory reads per MMA (measured best on H100 at D = 128)
  return D <= 64 ? { bq: 128, bkv: 64, warps: 4, stages: 2 } : { bq: 128, bkv: 32, warps: 4, stages: 2 };
}

/** every tile heuristicFlashTile can return for head dim D (so the lead can list them as variants) */
export function heuristicFlashTiles(D: number): FlashTile[] {
  const out: FlashTile[] = [];
  for (const [sq, skv] of [[1, 4096], [64, 64], [2048, 2048]]) {
    const t = heuristicFlashTile(sq, skv, D);
    if (!out.some((x) => sameTile(x, t))) out.push(t);
  }
  return out;
}

function sameTile(a: FlashTile, b: FlashTile): boolean {
  return a.bq === b.bq && a.bkv === b.bkv && a.warps === b.warps && a.stages === b.stages;
}

const HELPERS = `__device__ __forceinline__ unsigned chm_fa_smem(const void* p) {
  unsigned r; asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p)); return r;
}
__device__ __forceinline__ void chm_fa_cp16(unsigned dst, const void* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void chm_fa_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void chm_fa_wait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void chm_fa_ldsm4(unsigned a, unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
}
__device__ __forceinline__ void chm_fa_ldsm4t(unsigned a, unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];" : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(a));
}
__device__ __forceinline__ float chm_fa_ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }`;

const mmaHelper = (ty: 'f16' | 'bf16') => `__device__ __forceinline__ void chm_fa_mma_${ty}(float* c, const unsigned* a, unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.${ty}.${ty}.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
    : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3]) : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ unsigned chm_fa_pack_${ty}(float lo, float hi) {
  unsigned r; asm("cvt.rn.${ty}x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r;
}`;

const LOG2E = 1.4426950408889634;

/** The forward kernel for one configuration. */
export function flashAttentionKernel(cfg: FlashConfig): KernelSource {
  const { tile, headDim: D } = cfg;
  if (!FLASH_HEAD_DIMS.includes(D)) throw new Error(`flashAttentionKernel: head dim ${D} not supported`);
  if (!validFlashTile(tile, D)) throw new Error(`flashAttentionKernel: invalid tile ${JSON.stringify(tile)} for head dim ${D}`);
  const { bq: BQ, bkv: BKV, warps: W, stages: ST } = tile;
  const MT = BQ / (16 * W);
  const THREADS = 32 * W;
  const RS = D + 8;
  const NT = BKV / 8; // n-tiles of S
  const KD = D / 16; // k-steps of Q·Kᵀ
  const ND = D / 8; // n-tiles of O
  const KV16 = BKV / 16; // k-steps of P·V
  const CH = D / 8; // 16-byte chunks per row
  const qRegs = MT === 1;
  const ty = cfg.dtype === 'float16' ? 'f16' : 'bf16';
  const split = !!cfg.split;
  const softcap = !!cfg.softcap;

  const b = new KernelBuilder(split ? 'flash_fwd_split' : 'flash_fwd', THREADS);
  b.helpers(HELPERS);
  b.helpers(mmaHelper(ty));
  const q = b.input('q', 'unsigned short');
  const k = b.input('k', 'unsigned short');
  const v = b.input('v', 'unsigned short');
  const maskT = cfg.mask === 'bool' ? 'unsigned char' : cfg.mask === 'float' ? ((cfg.maskDtype ?? cfg.dtype) === 'float32' ? 'float' : 'unsigned short') : '';
  const mask = cfg.mask !== 'none' ? b.input('mask', maskT) : '';
  const o = split ? '' : b.output('o', 'unsigned short');
  const wsO = split ? b.output('ws_o', 'float') : '';
  const wsML = split ? b.output('ws_ml', 'float') : '';
  const [Hq, Sq, Skv, grp] = ['Hq', 'Sq', 'Skv', 'grp'].map((n) => b.i64(n));
  const [qb, qh, qs] = ['qb', 'qh', 'qs'].map((n) => b.i64(n));
  const [kb, kh, ks] = ['kb', 'kh', 'ks'].map((n) => b.i64(n));
  const [vb, vh, vs] = ['vb', 'vh', 'vs'].map((n) => b.i64(n));
  const [ob, oh, os] = split ? ['', '', ''] : ['ob', 'oh', 'os'].map((n) => b.i64(n));
  const [mb, mh, mi, mT] = cfg.mask !== 'none' ? ['mb', 'mh', 'mi', 'mT'].map((n) => b.i64(n)) : ['', '', '', ''];
  const coff = b.i64('coff');
  const [nsplit, tps] = split ? ['nsplit', 'tps'].map((n) => b.i64(n)) : ['', ''];
  const scale = b.f32('scale');
  const cap = softcap ? b.f32('softcap') : '';
  b.dynamicShared('unsigned short', 'smem');

  const maskLoad = (e: string) => {
    if (cfg.mask === 'bool') return `(${e} ? 0.0f : -CHM_INF)`;
    const md = cfg.maskDtype ?? cfg.dtype;
    return md === 'float32' ? e : md === 'float16' ? `chm_h2f(${e})` : `chm_b2f(${e})`;
  };

  b.line(
    'const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;',
    'const int g = lane >> 2, tig = lane & 3;',
    'const long long qblk = (long long)gridDim.x - 1 - blockIdx.x;',
    'const long long h = blockIdx.y;',
    split ? `const long long bb = blockIdx.z / ${nsplit}, sp = blockIdx.z % ${nsplit};` : 'const long long bb = blockIdx.z;',
    `const long long q0 = qblk * ${BQ};`,
    `const long long hk = h / ${grp};`,
    `const unsigned short* qp = ${q} + bb * ${qb} + h * ${qh};`,
    `const unsigned short* kp = ${k} + bb * ${kb} + hk * ${kh};`,
    `const unsigned short* vp = ${v} + bb * ${vb} + hk * ${vh};`,
    // key range: [0, kend); causal bounds it by the last row of the block
    `long long kend = ${Skv};`,
  );
  if (cfg.causal) b.line(`{ const long long lim = q0 + ${BQ} + ${coff}; if (lim < kend) kend = lim; if (kend < 0) kend = 0; }`);
  if (!softcap && cfg.mask === 'none') b.line(`const float sl2 = ${scale} * ${LOG2E}f;`);
  b.line(`const long long ntile = (kend + ${BKV - 1}) / ${BKV};`);
  if (split) b.line(`const long long t0 = sp * ${tps};`, `const long long t1 = min(ntile, t0 + ${tps});`);
  else b.line('const long long t0 = 0, t1 = ntile;');
  b.line(
    `const unsigned sQ = chm_fa_smem(smem);`,
    `const unsigned sK = sQ + ${BQ * RS * 2};`,
    `const unsigned sV = sK + ${ST * BKV * RS * 2};`,
    // this warp's first row in the block and the fragment-row owned by this lane
    `const int wr0 = warp * ${16 * MT};`,
  );
  // Q tile (rows beyond Sq zero-filled)
  b.block(`for (int c = tid; c < ${BQ * CH}; c += ${THREADS})`, () => {
    b.line(`const int r = c / ${CH}, col = (c % ${CH}) * 8;`, `const bool ok = q0 + r < ${Sq};`);
    b.line(`chm_fa_cp16(sQ + (r * ${RS} + col) * 2, ok ? (const void*)(qp + (q0 + r) * ${qs} + col) : (const void*)qp, ok);`);
  });
  b.line('chm_fa_commit();');
  const loadKV = (t: string, buf: string) => {
    b.block(`if (${t} < t1)`, () => {
      b.line(`const long long j0 = (${t}) * ${BKV};`, `const unsigned kbuf = sK + ${buf} * ${BKV * RS * 2}, vbuf = sV + ${buf} * ${BKV * RS * 2};`);
      b.block(`for (int c = tid; c < ${BKV * CH}; c += ${THREADS})`, () => {
        b.line(`const int r = c / ${CH}, col = (c % ${CH}) * 8;`, `const long long j = j0 + r;`, `const bool ok = j < ${Skv};`);
        b.line(`chm_fa_cp16(kbuf + (r * ${RS} + col) * 2, ok ? (const void*)(kp + j * ${ks} + col) : (const void*)kp, ok);`);
        b.line(`chm_fa_cp16(vbuf + (r * ${RS} + col) * 2, ok ? (const void*)(vp + j * ${vs} + col) : (const void*)vp, ok);`);
      });
    });
    b.line('chm_fa_commit();');
  };
  for (let s = 0; s < ST - 1; s++) loadKV(`t0 + ${s}`, `${s}`);
  // registers: O accumulators, row max / sum (log2 domain), Q fragments
  b.line(
    `float acc[${MT}][${ND}][4];`,
    `float mrow[${MT}][2], lrow[${MT}][2];`,
    '#pragma unroll',
    `for (int mt = 0; mt < ${MT}; mt++) {`,
    '  mrow[mt][0] = mrow[mt][1] = -CHM_INF; lrow[mt][0] = lrow[mt][1] = 0.0f;',
    '  #pragma unroll',
    `  for (int n = 0; n < ${ND}; n++) acc[mt][n][0] = acc[mt][n][1] = acc[mt][n][2] = acc[mt][n][3] = 0.0f;`,
    '}',
  );
  if (qRegs) {
    b.line(`unsigned qf[${KD}][4];`);
    b.line(`chm_fa_wait<${ST - 1}>();`, '__syncthreads();');
    b.line('#pragma unroll');
    b.line(`for (int kk = 0; kk < ${KD}; kk++) chm_fa_ldsm4(sQ + ((wr0 + (lane & 15)) * ${RS} + kk * 16 + (lane >> 4) * 8) * 2, qf[kk][0], qf[kk][1], qf[kk][2], qf[kk][3]);`);
  }
  // the first row index (within Sq) of fragment row rr of m-tile mt for this lane: q0 + wr0 + mt*16 + g + rr*8
  b.block('for (long long t = t0; t < t1; t++)', () => {
    b.line(`chm_fa_wait<${ST - 2}>();`, '__syncthreads();');
    loadKV(`t + ${ST - 1}`, `((t - t0 + ${ST - 1}) % ${ST})`);
    b.line(
      `const int buf = (int)((t - t0) % ${ST});`,
      `const unsigned kbuf = sK + buf * ${BKV * RS * 2}, vbuf = sV + buf * ${BKV * RS * 2};`,
      `const long long kv0 = t * ${BKV};`,
    );
    // warp-level skip: rows all beyond Sq, or (causal) all above this tile
    let active = `q0 + wr0 < ${Sq}`;
    if (cfg.causal) active += ` && kv0 <= q0 + wr0 + ${16 * MT - 1} + ${coff}`;
    b.line(`if (!(${active})) continue;`);
    // S = Q·Kᵀ
    b.line(`float sc[${MT}][${NT}][4];`, '#pragma unroll', `for (int mt = 0; mt < ${MT}; mt++)`, '  #pragma unroll', `  for (int n = 0; n < ${NT}; n++) sc[mt][n][0] = sc[mt][n][1] = sc[mt][n][2] = sc[mt][n][3] = 0.0f;`);
    b.line('#pragma unroll');
    b.block(`for (int kk = 0; kk < ${KD}; kk++)`, () => {
      if (qRegs) b.line('const unsigned* af0 = qf[kk];');
      else {
        b.line(`unsigned af[${MT}][4];`, '#pragma unroll');
        b.line(`for (int mt = 0; mt < ${MT}; mt++) chm_fa_ldsm4(sQ + ((wr0 + mt * 16 + (lane & 15)) * ${RS} + kk * 16 + (lane >> 4) * 8) * 2, af[mt][0], af[mt][1], af[mt][2], af[mt][3]);`);
      }
      b.line('#pragma unroll');
      b.block(`for (int np = 0; np < ${NT / 2}; np++)`, () => {
        b.line('unsigned b0, b1, b2, b3;');
        b.line(`chm_fa_ldsm4(kbuf + ((np * 16 + (lane & 7) + ((lane >> 4) << 3)) * ${RS} + kk * 16 + ((lane >> 3) & 1) * 8) * 2, b0, b1, b2, b3);`);
        if (qRegs) b.line(`chm_fa_mma_${ty}(sc[0][2 * np], af0, b0, b1);`, `chm_fa_mma_${ty}(sc[0][2 * np + 1], af0, b2, b3);`);
        else b.line('#pragma unroll', `for (int mt = 0; mt < ${MT}; mt++) { chm_fa_mma_${ty}(sc[mt][2 * np], af[mt], b0, b1); chm_fa_mma_${ty}(sc[mt][2 * np + 1], af[mt], b2, b3); }`);
      });
    });
    // scores → log2 domain, masking (predicated tiles only: the last tile, and the causal diagonal)
    const needPred: string[] = [`kv0 + ${BKV} > ${Skv}`];
    if (cfg.causal) needPred.push(`kv0 + ${BKV - 1} > q0 + wr0 + ${coff}`);
    b.line(`const bool pred = ${needPred.join(' || ')};`);
    b.line('#pragma unroll');
    b.block(`for (int mt = 0; mt < ${MT}; mt++)`, () => {
      b.line('#pragma unroll');
      b.block('for (int rr = 0; rr < 2; rr++)', () => {
        const hasAdd = softcap || cfg.mask !== 'none';
        if (cfg.mask !== 'none' || cfg.causal) b.line(`const long long i = q0 + wr0 + mt * 16 + g + rr * 8;`);
        if (cfg.mask !== 'none') b.line(`const long long mrowoff = bb * ${mb} + h * ${mh} + (i < ${Sq} ? i : 0) * ${mi};`);
        b.line('#pragma unroll');
        b.block(`for (int n = 0; n < ${NT}; n++)`, () => {
          b.line('#pragma unroll');
          b.block('for (int c = 0; c < 2; c++)', () => {
            b.line('float x = sc[mt][n][rr * 2 + c];');
            if (softcap) b.line(`x = ${cap} * tanhf(x * ${scale} / ${cap});`);
            else if (hasAdd) b.line(`x = x * ${scale};`);
            if (cfg.mask !== 'none') {
              b.line(`const long long j = kv0 + n * 8 + 2 * tig + c;`);
              b.line(`x = j < ${mT} ? x + ${maskLoad(`${mask}[mrowoff + j]`)} : -CHM_INF;`);
            }
            b.line(hasAdd ? `x = x * ${LOG2E}f;` : 'x = x * sl2;');
            b.line('sc[mt][n][rr * 2 + c] = x;');
          });
        });
        b.block('if (pred)', () => {
          // last visible column of this row within the tile (32-bit, clamped to [-1, BKV])
          b.line(`long long lim = ${Skv} - kv0 - 1;`);
          if (cfg.causal) b.line(`lim = min(lim, i + ${coff} - kv0);`);
          b.line(`const int li = (int)max(-1LL, min(lim, (long long)${BKV}));`);
          b.line('#pragma unroll');
          b.line(`for (int n = 0; n < ${NT}; n++) { if (n * 8 + 2 * tig > li) sc[mt][n][rr * 2] = -CHM_INF; if (n * 8 + 2 * tig + 1 > li) sc[mt][n][rr * 2 + 1] = -CHM_INF; }`);
        });
        b.line('float mx = -CHM_INF;', '#pragma unroll', `for (int n = 0; n < ${NT}; n++) mx = fmaxf(mx, fmaxf(sc[mt][n][rr * 2], sc[mt][n][rr * 2 + 1]));`);
        b.line(
          'mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));',
          'mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));',
          'const float mnew = fmaxf(mrow[mt][rr], mx);',
          'const float muse = mnew == -CHM_INF ? 0.0f : mnew;',
          'const float alpha = chm_fa_ex2(mrow[mt][rr] - muse);',
          'mrow[mt][rr] = mnew;',
          'float sum = 0.0f;',
          '#pragma unroll',
          `for (int n = 0; n < ${NT}; n++) { const float p0 = chm_fa_ex2(sc[mt][n][rr * 2] - muse), p1 = chm_fa_ex2(sc[mt][n][rr * 2 + 1] - muse); sc[mt][n][rr * 2] = p0; sc[mt][n][rr * 2 + 1] = p1; sum += p0 + p1; }`,
          'lrow[mt][rr] = lrow[mt][rr] * alpha + sum;',
          '#pragma unroll',
          `for (int n = 0; n < ${ND}; n++) { acc[mt][n][rr * 2] *= alpha; acc[mt][n][rr * 2 + 1] *= alpha; }`,
        );
      });
    });
    // O += P·V
    b.line('#pragma unroll');
    b.block(`for (int kt = 0; kt < ${KV16}; kt++)`, () => {
      b.line(`unsigned pa[${MT}][4];`, '#pragma unroll');
      b.block(`for (int mt = 0; mt < ${MT}; mt++)`, () => {
        b.line(
          `pa[mt][0] = chm_fa_pack_${ty}(sc[mt][2 * kt][0], sc[mt][2 * kt][1]);`,
          `pa[mt][1] = chm_fa_pack_${ty}(sc[mt][2 * kt][2], sc[mt][2 * kt][3]);`,
          `pa[mt][2] = chm_fa_pack_${ty}(sc[mt][2 * kt + 1][0], sc[mt][2 * kt + 1][1]);`,
          `pa[mt][3] = chm_fa_pack_${ty}(sc[mt][2 * kt + 1][2], sc[mt][2 * kt + 1][3]);`,
        );
      });
      b.line('#pragma unroll');
      b.block(`for (int dp = 0; dp < ${ND / 2}; dp++)`, () => {
        b.line('unsigned b0, b1, b2, b3;');
        b.line(`chm_fa_ldsm4t(vbuf + ((kt * 16 + (lane & 15)) * ${RS} + dp * 16 + (lane >> 4) * 8) * 2, b0, b1, b2, b3);`);
        b.line('#pragma unroll', `for (int mt = 0; mt < ${MT}; mt++) { chm_fa_mma_${ty}(acc[mt][2 * dp], pa[mt], b0, b1); chm_fa_mma_${ty}(acc[mt][2 * dp + 1], pa[mt], b2, b3); }`);
      });
    });
  });
  b.line('chm_fa_wait<0>();');
  // epilogue
  b.line('#pragma unroll');
  b.block(`for (int mt = 0; mt < ${MT}; mt++)`, () => {
    b.line('#pragma unroll');
    b.block('for (int rr = 0; rr < 2; rr++)', () => {
      b.line(
        'float l = lrow[mt][rr];',
        'l += __shfl_xor_sync(0xffffffffu, l, 1);',
        'l += __shfl_xor_sync(0xffffffffu, l, 2);',
        `const long long i = q0 + wr0 + mt * 16 + g + rr * 8;`,
        `if (i >= ${Sq}) continue;`,
      );
      if (split) {
        b.line(`const long long row = ((bb * ${Hq} + h) * ${nsplit} + sp) * ${Sq} + i;`);
        b.line(`if (tig == 0) { ${wsML}[row * 2] = mrow[mt][rr]; ${wsML}[row * 2 + 1] = l; }`);
        b.line(`float* dst = ${wsO} + row * ${D} + 2 * tig;`);
        b.line('#pragma unroll', `for (int n = 0; n < ${ND}; n++) *reinterpret_cast<float2*>(dst + n * 8) = make_float2(acc[mt][n][rr * 2], acc[mt][n][rr * 2 + 1]);`);
      } else {
        b.line('const float inv = l > 0.0f ? 1.0f / l : 0.0f;');
        b.line(`unsigned short* dst = ${o} + bb * ${ob} + h * ${oh} + i * ${os} + 2 * tig;`);
        b.line('#pragma unroll', `for (int n = 0; n < ${ND}; n++) *reinterpret_cast<unsigned*>(dst + n * 8) = chm_fa_pack_${ty}(acc[mt][n][rr * 2] * inv, acc[mt][n][rr * 2 + 1] * inv);`);
      }
    });
  });
  return b.build();
}

/** Merges split-KV partials: Y = Σ_s 2^(m_s−M)·O_s / Σ_s 2^(m_s−M)·l_s (zeros when every split is empty). */
export function flashCombineKernel(dtype: FlashDType, headDim: FlashHeadDim): KernelSource {
  const D = headDim;
  const b = new KernelBuilder('flash_combine', 256);
  const wsO = b.input('ws_o', 'float');
  const wsML = b.input('ws_ml', 'float');
  const o = b.output('o', 'unsigned short');
  const [n, Hq, Sq, nsplit, ob, oh, os] = ['n', 'Hq', 'Sq', 'nsplit', 'ob', 'oh', 'os'].map((x) => b.i64(x));
  const st = dtype === 'float16' ? 'chm_f2h' : 'chm_f2b';
  b.gridStride(n, () => {
    b.line(
      `const long long e = i % ${D}, row = i / ${D};`,
      `const long long qi = row % ${Sq}, bh = row / ${Sq};`,
      `const long long h = bh % ${Hq}, bb = bh / ${Hq};`,
      'float M = -CHM_INF;',
      `for (long long s = 0; s < ${nsplit}; s++) M = fmaxf(M, ${wsML}[((bh * ${nsplit} + s) * ${Sq} + qi) * 2]);`,
      'float L = 0.0f, acc = 0.0f;',
      'if (M != -CHM_INF) {',
      `  for (long long s = 0; s < ${nsplit}; s++) {`,
      `    const long long r = (bh * ${nsplit} + s) * ${Sq} + qi;`,
      `    const float m = ${wsML}[r * 2];`,
      '    if (m == -CHM_INF) continue;',
      '    const float f = chm_fa_ex2(m - M);',
      `    L += f * ${wsML}[r * 2 + 1];`,
      `    acc += f * ${wsO}[r * ${D} + e];`,
      '  }',
      '}',
      `${o}[bb * ${ob} + h * ${oh} + qi * ${os} + e] = ${st}(L > 0.0f ? acc / L : 0.0f);`,
    );
  });
  b.helpers('__device__ __forceinline__ float chm_fa_ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }');
  return b.build();
}

// ---------------------------------------------------------------------------------------------------
// Launch side

export interface FlashOperand {
  ref: ArgRef;
  /** element strides of batch, head, sequence (the head-dim stride must be 1) */
  strides: readonly [number, number, number];
}

export interface FlashProblem {
  dtype: DType;
  B: number; Hq: number; Hkv: number; Sq: number; Skv: number; D: number;
  /** value head dim (must equal D for the flash path) */
  Dv?: number;
  q: FlashOperand; k: FlashOperand; v: FlashOperand; o: FlashOperand;
  causal: boolean;
  /** causal offset: query i sees keys j <= i + causalOffset (the past length with a KV cache) */
  causalOffset: number;
  scale: number;
  softcap?: number;
  /** attn_mask broadcast to [B, Hq, Sq, mT] by strides (0 for broadcast dims); keys j >= mT are masked */
  mask?: { ref: ArgRef; dtype: DType; strides: readonly [number, number, number]; mT: number };
  /** override the heuristic tile */
  tile?: FlashTile;
  /** force (true) or forbid (false) the split-KV path; default: heuristic */
  split?: boolean;
  /** index the first scratch buffer returned here will have in the node's scratch list (default 0) */
  scratchBase?: number;
  /** multiprocessor count (default 132, H100 SXM) */
  sms?: number;
}

export interface FlashLaunchPlan {
  launches: Launch[];
  /** byte sizes of scratch buffers to append (referenced as scratchBase + k) */
  scratch: number[];
  /** every kernel this configuration may launch at other shapes (heuristic tiles, split and not, combine) */
  variants: KernelSource[];
}

/** Whether the flash kernels handle this problem; otherwise the reason (the lead falls back). */
export function flashAttentionApplies(p: FlashProblem): { ok: true } | { ok: false; reason: string } {
  const no = (reason: string) => ({ ok: false as const, reason });
  if (p.dtype !== 'float16' && p.dtype !== 'bfloat16') return no(`dtype ${p.dtype} (flash needs float16/bfloat16)`);
  if (!FLASH_HEAD_DIMS.includes(p.D as FlashHeadDim)) return no(`head dim ${p.D} (flash needs 64/80/96/128)`);
  if ((p.Dv ?? p.D) !== p.D) return no(`value head dim ${p.Dv} differs from ${p.D}`);
  if (p.Hkv <= 0 || p.Hq % p.Hkv !== 0) return no(`q heads ${p.Hq} not a multiple of kv heads ${p.Hkv}`);
  if (p.Hq > 65535) return no('more than 65535 heads');
  for (const [n, op] of [['Q', p.q], ['K', p.k], ['V', p.v], ['O', p.o]] as const) {
    if (op.strides.some((s) => s % 8 !== 0)) return no(`${n} strides ${op.strides.join(',')} are not multiples of 8 elements (16-byte rows)`);
    if ((op.ref as { byteOffset?: number }).byteOffset !== undefined && ((op.ref as { byteOffset?: number }).byteOffset ?? 0) % 16 !== 0) return no(`${n} byte offset is not 16-byte aligned`);
  }
  if (p.mask && !['bool', 'float16', 'bfloat16', 'float32'].includes(p.mask.dtype)) return no(`mask dtype ${p.mask.dtype}`);
  if (p.mask && p.mask.dtype !== 'bool' && p.mask.dtype !== 'float32' && p.mask.dtype !== p.dtype) return no(`mask dtype ${p.mask.dtype} differs from ${p.dtype}`);
  return { ok: true };
}

function configOf(p: FlashProblem, tile: FlashTile, split: boolean): FlashConfig {
  const maskKind: FlashMaskKind = !p.mask ? 'none' : p.mask.dtype === 'bool' ? 'bool' : 'float';
  return {
    dtype: p.dtype as FlashDType,
    headDim: p.D as FlashHeadDim,
    causal: p.causal,
    mask: maskKind,
    ...(maskKind === 'float' ? { maskDtype: p.mask!.dtype as 'float16' | 'bfloat16' | 'float32' } : {}),
    softcap: (p.softcap ?? 0) > 0,
    tile,
    split,
  };
}

/** The split count the heuristic uses (1 = no split). */
export function flashSplits(p: Pick<FlashProblem, 'B' | 'Hq' | 'Sq' | 'Skv' | 'sms'>, tile: FlashTile): number {
  const nqb = Math.ceil(p.Sq / tile.bq);
  const ctas = p.B * p.Hq * nqb;
  const nt = Math.ceil(p.Skv / tile.bkv);
  const sms = p.sms ?? 132;
  if (p.Sq > 16 || nt < 4 || ctas >= sms) return 1;
  const want = Math.min(Math.ceil((2 * sms) / ctas), Math.ceil(nt / 2), Math.floor(65535 / Math.max(1, p.B)));
  const tps = Math.ceil(nt / Math.max(1, want));
  return Math.ceil(nt / tps);
}

export function launchFlashAttention(p: FlashProblem): FlashLaunchPlan {
  const ok = flashAttentionApplies(p);
  if (!ok.ok) throw new Error(`launchFlashAttention: ${ok.reason}`);
  const tile = p.tile ?? heuristicFlashTile(p.Sq, p.Skv, p.D);
  if (!validFlashTile(tile, p.D)) throw new Error(`launchFlashAttention: invalid tile ${JSON.stringify(tile)}`);
  const nqb = Math.ceil(p.Sq / tile.bq);
  const nt = Math.ceil(p.Skv / tile.bkv);
  let nsplit = p.split === false ? 1 : flashSplits(p, tile);
  if (p.split === true && nsplit === 1) nsplit = Math.max(1, Math.min(nt, 8));
  const split = nsplit > 1 || p.split === true;
  const tps = Math.max(1, Math.ceil(nt / nsplit));
  if (split) nsplit = Math.max(1, Math.ceil(nt / tps));
  const base = p.scratchBase ?? 0;

  // variants: every heuristic tile, split and not, plus the combine kernel
  const variants: KernelSource[] = [];
  const addV = (k: KernelSource) => { if (!variants.some((x) => x.name === k.name)) variants.push(k); };
  for (const t of [...heuristicFlashTiles(p.D), ...(p.tile ? [p.tile] : [])]) {
    addV(flashAttentionKernel(configOf(p, t, false)));
    addV(flashAttentionKernel(configOf(p, t, true)));
  }
  const combine = flashCombineKernel(p.dtype as FlashDType, p.D as FlashHeadDim);
  addV(combine);

  const kern = flashAttentionKernel(configOf(p, tile, split));
  const launches: Launch[] = [];
  const scratch: number[] = [];
  if (p.B * p.Hq * p.Sq === 0) return { launches, scratch, variants };
  const threads = 32 * tile.warps;
  const common: ArgRef[] = [
    p.q.ref, p.k.ref, p.v.ref,
    ...(p.mask ? [p.mask.ref] : []),
  ];
  const dims = [p.Hq, p.Sq, p.Skv, p.Hq / p.Hkv, ...p.q.strides, ...p.k.strides, ...p.v.strides].map(a64);
  const maskArgs = p.mask ? [...p.mask.strides, p.mask.mT].map(a64) : [];
  const tailArgs = [af32(p.scale), ...((p.softcap ?? 0) > 0 ? [af32(p.softcap!)] : [])];
  const sharedBytes = flashSharedBytes(p.D, tile);
  if (!split) {
    launches.push({
      kernel: kern, grid: [nqb, p.Hq, p.B], block: [threads, 1, 1], sharedBytes,
      args: [...common, p.o.ref, ...dims, ...p.o.strides.map(a64), ...maskArgs, a64(p.causalOffset), ...tailArgs],
    });
  } else {
    const rows = p.B * p.Hq * nsplit * p.Sq;
    scratch.push(rows * p.D * 4, rows * 2 * 4);
    launches.push({
      kernel: kern, grid: [nqb, p.Hq, p.B * nsplit], block: [threads, 1, 1], sharedBytes,
      args: [...common, { scratch: base }, { scratch: base + 1 }, ...dims, ...maskArgs, a64(p.causalOffset), a64(nsplit), a64(tps), ...tailArgs],
    });
    const n = p.B * p.Hq * p.Sq * p.D;
    launches.push({
      kernel: combine, grid: [Math.max(1, Math.min(Math.ceil(n / 256), 65535 * 8)), 1, 1], block: [256, 1, 1],
      args: [{ scratch: base }, { scratch: base + 1 }, p.o.ref, ...[n, p.Hq, p.Sq, nsplit, ...p.o.strides].map(a64)],
    });
  }
  return { launches, scratch, variants: variants.filter((x) => !launches.some((l) => l.kernel.name === x.name)) };
}
