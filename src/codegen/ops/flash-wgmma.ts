/**
 * Hopper (sm_90a) flash-attention forward with warpgroup MMA (FA3-like, without warp specialization or TMA),
 * float16 / bfloat16, head dims 64 and 128. Same semantics, operands and argument conventions as the
 * main kernel of flash-attention.ts (FlashProblem): per batch b, query head h (kv head h / grp), query row
 * i, key j < Skv: s = (Q_i·K_j)·scale (softcap·tanh(s/softcap) when on); causal: keys j > i + coff masked;
 * s += mask (bool: -inf where false; float: added; keys j >= mT: -inf; as the FA2 kernel);
 * p = softmax_j(s) (a fully masked row gives zeros); O_i = Σ p_j V_j.
 *
 * Kernel `flash_wgmma` (one per dtype × head dim × causal × softcap × mask dtype × tile):
 * - grid (q blocks, Hq, B); a CTA owns BM = 64·wgs query rows of one (b, h); consumer warpgroup w owns
 *   rows [64w, 64w + 64). Heavy (late) q blocks launch first.
 * - shared memory (1024-byte aligned; every tile in the wgmma 128-byte-swizzle canonical layout:
 *   [D/64 column blocks][rows][128 B], 16-byte chunk c of row r at c ^ (r & 7)): Q [BM × D], and a ring
 *   of `stages` (K, V) tile pairs [BN × D] each, all loaded by every thread with cp.async.cg 16-byte
 *   copies (zero-fill beyond Sq / Skv).
 * - S = Q·Kᵀ: wgmma.mma_async m64n{BN}k16, A = Q (K-major descriptor), B = K tile (K-major, SBO 1024).
 * - online softmax on the fp32 accumulators in registers, log2 domain (scale·log2 e folded in, ex2.approx),
 *   row max / sum over the lane quad by shuffles.
 * - O += P·V: wgmma.mma_async m64n{D}k16 with P as the register A operand (S accumulators converted to
 *   f16/bf16 A fragments) and the V tile as an MN-major B operand (transpose bit; LBO = the 64-column block
 *   stride BN·128 B, SBO = 1024 B).
 * - intra-warpgroup overlap (FA3): iteration j issues S_j = Q·K_jᵀ and O += P_{j-1}·V_{j-1} back to back,
 *   waits only for S_j, runs the softmax of S_j while the P·V MMAs run, then waits for them and rescales O.
 * - pipeline: before iteration j every thread waits for its cp.async group of pair j, fences the async
 *   proxy (cp.async writes are read by wgmma), __syncthreads, then issues the copies of pair j + stages - 2
 *   into the slot of pair j - 2 (free: its K was read by S_{j-2} and its V by P·V in iteration j - 1, both
 *   waited for before the barrier).
 * - causal: tiles right of the block's last row are never loaded; masking only on the tiles that need it
 *   (the last tile, and the tiles crossing the diagonal of the warpgroup's rows).
 * - attention mask (cfg.mask: bool / float16 / bfloat16 / float32 elements, [B, Hq, Sq, mT] by strides with 0
 *   for broadcast dims, FA2's arguments): the thread's accumulator fragment is (rows r0, r0 + 8) × columns
 *   8n + 2·tig + {0, 1}, so each thread reads 2 adjacent mask elements per (row, n) with one 16/32/64-bit
 *   load (scalar loads with the j < mT test on a tile crossing mT or when strides / the base are odd).
 *   The loads of tile t are issued right after its S MMAs (into registers), before the wgmma wait, so
 *   their latency hides behind the MMAs; the mask is applied to the fp32 scores before the online softmax.
 *   Without a mask the kernel text is the unmasked kernel's, byte for byte.
 * Not handled (flashWgmmaApplies says no; the FA2 kernel keeps serving them): head dims other than
 * 64/128, value head dim ≠ D, strides not multiples of 8 elements, split-KV decode.
 */
import type { DType } from '../../ir/dtype.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, af32, type ArgRef, type Launch } from '../lowering.js';
import type { FlashLaunchPlan, FlashProblem } from './flash-attention.js';

export type FlashWgmmaDType = 'float16' | 'bfloat16';
export type FlashWgmmaHeadDim = 64 | 128;
/** element type of the attention mask (bool: keep where true; float: added to the scaled scores) */
export type FlashWgmmaMaskDtype = 'bool' | 'float16' | 'bfloat16' | 'float32';
export const FLASH_WGMMA_MASK_DTYPES: readonly FlashWgmmaMaskDtype[] = ['bool', 'float16', 'bfloat16', 'float32'];

export interface FlashWgmmaTile {
  /** consumer warpgroups: BM = 64 · wgs query rows per CTA */
  wgs: 1 | 2;
  /** keys per K/V tile */
  bn: 64 | 128;
  /** (K, V) pair buffers in the shared-memory ring (≥ 3: pair j + stages - 2 is loaded in iteration j) */
  stages: number;
}

export interface FlashWgmmaConfig {
  dtype: FlashWgmmaDType;
  headDim: FlashWgmmaHeadDim;
  causal: boolean;
  softcap: boolean;
  /** attention-mask element type; absent: no mask (the unmasked kernel text) */
  mask?: FlashWgmmaMaskDtype;
  tile: FlashWgmmaTile;
}

export const FLASH_WGMMA_HEAD_DIMS: readonly FlashWgmmaHeadDim[] = [64, 128];
const SMEM_LIMIT = 227 * 1024;
const LOG2E = 1.4426950408889634;

/** dynamic shared memory in bytes (1 KiB extra to align to the 1024-byte swizzle atom) */
export function flashWgmmaSmem(D: number, t: FlashWgmmaTile): number {
  return 64 * t.wgs * D * 2 + t.stages * 2 * t.bn * D * 2 + 1024;
}

export function validFlashWgmmaTile(t: FlashWgmmaTile, D: number): { ok: boolean; reason?: string } {
  const bad = (reason: string) => ({ ok: false, reason });
  if (t.wgs !== 1 && t.wgs !== 2) return bad('wgs must be 1 or 2');
  if (t.bn !== 64 && t.bn !== 128) return bad('bn must be 64 or 128');
  if (!Number.isInteger(t.stages) || t.stages < 3 || t.stages > 6) return bad('stages must be 3..6');
  if (D !== 64 && D !== 128) return bad(`head dim ${D}`);
  const s = flashWgmmaSmem(D, t);
  if (s > SMEM_LIMIT) return bad(`shared memory ${s} B > ${SMEM_LIMIT} B`);
  return { ok: true };
}

/**
 * The tile the heuristic picks (H100 sweep, fp16, causal and not): short queries (D = 64: Sq <= 512, the
 * GPT-2 / BERT shapes; D = 128: Sq <= 256) one warpgroup with 64-key tiles (small CTAs, several per SM,
 * twice the CTAs: B8 H12 S512 D64 causal 22.1 us vs 26.2 us for w2n128, B32 H12 S128 12.3 vs 15.1, masked
 * 28 vs 33 / 14 vs 16); longer D = 64: two warpgroups with 64-key tiles (S 1024-4096: 336-351 TFLOP/s vs
 * 265-285 for w2n128s4); longer D = 128: two warpgroups with 128-key tiles.
 */
export function heuristicFlashWgmmaTile(Sq: number, D: number): FlashWgmmaTile {
  if (Sq <= (D === 64 ? 512 : 256)) return { wgs: 1, bn: 64, stages: 3 };
  return D === 64 ? { wgs: 2, bn: 64, stages: 3 } : { wgs: 2, bn: 128, stages: 3 };
}

/** every tile heuristicFlashWgmmaTile can return for head dim D */
export function heuristicFlashWgmmaTiles(D: number): FlashWgmmaTile[] {
  const out: FlashWgmmaTile[] = [];
  for (const Sq of [1 << 20, 1]) {
    const t = heuristicFlashWgmmaTile(Sq, D);
    if (!out.some((x) => x.wgs === t.wgs && x.bn === t.bn && x.stages === t.stages)) out.push(t);
  }
  return out;
}

const PTX = `__device__ __forceinline__ unsigned chm_fw_smem(const void* p) {
  unsigned r; asm("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(r) : "l"(p)); return r;
}
__device__ __forceinline__ void chm_fw_cp16(unsigned dst, const void* src, bool ok) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" :: "r"(dst), "l"(src), "r"(ok ? 16 : 0) : "memory");
}
__device__ __forceinline__ void chm_fw_commit() { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void chm_fw_cpwait() { asm volatile("cp.async.wait_group %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void chm_fw_fence_async() { asm volatile("fence.proxy.async.shared::cta;" ::: "memory"); }
__device__ __forceinline__ void chm_fw_wg_fence() { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void chm_fw_wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
template <int N> __device__ __forceinline__ void chm_fw_wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;" :: "n"(N) : "memory"); }
__device__ __forceinline__ void chm_fw_rf(float& r) { asm volatile("" : "+f"(r) :: "memory"); }
__device__ __forceinline__ void chm_fw_ru(unsigned& r) { asm volatile("" : "+r"(r) :: "memory"); }
__device__ __forceinline__ float chm_fw_ex2(float x) { float y; asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x)); return y; }
// shared-memory matrix descriptor: start address, leading / stride byte offsets (>> 4), 128-byte swizzle
__device__ __forceinline__ unsigned long long chm_fw_desc(unsigned addr, unsigned lbo, unsigned sbo) {
  return (unsigned long long)((addr & 0x3FFFFu) >> 4) | ((unsigned long long)((lbo >> 4) & 0x3FFFu) << 16) |
    ((unsigned long long)((sbo >> 4) & 0x3FFFu) << 32) | (1ull << 62);
}`;

/** S += Q·Kᵀ (both K-major descriptors) and O += P·V (P in registers, V MN-major): m64n{n}k16 */
function mmaHelpers(bn: number, D: number, ty: string): string {
  const outs = (n: number) => Array.from({ length: n }, (_, i) => `%${i}`).join(', ');
  const cons = (n: number) => Array.from({ length: n }, (_, i) => `"+f"(d[${i}])`).join(', ');
  const rs = bn / 2, ro = D / 2;
  return `__device__ __forceinline__ void chm_fw_mma_s(float (&d)[${rs}], unsigned long long da, unsigned long long db, int acc) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %${rs + 2}, 0; wgmma.mma_async.sync.aligned.m64n${bn}k16.f32.${ty}.${ty} {${outs(rs)}}, %${rs}, %${rs + 1}, p, 1, 1, 0, 0; }"
    : ${cons(rs)}
    : "l"(da), "l"(db), "r"(acc));
}
__device__ __forceinline__ void chm_fw_mma_o(float (&d)[${ro}], const unsigned (&a)[4], unsigned long long db) {
  asm volatile("{ .reg .pred p; setp.ne.b32 p, %${ro + 5}, 0; wgmma.mma_async.sync.aligned.m64n${D}k16.f32.${ty}.${ty} {${outs(ro)}}, {%${ro}, %${ro + 1}, %${ro + 2}, %${ro + 3}}, %${ro + 4}, p, 1, 1, 1; }"
    : ${cons(ro)}
    : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1));
}
__device__ __forceinline__ unsigned chm_fw_pack(float lo, float hi) {
  unsigned r; asm("cvt.rn.${ty}x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo)); return r;
}`;
}

/** The forward kernel of one configuration (text depends only on cfg). */
export function flashWgmmaKernel(cfg: FlashWgmmaConfig): KernelSource {
  const { tile, headDim: D } = cfg;
  const v = validFlashWgmmaTile(tile, D);
  if (!v.ok) throw new Error(`flashWgmmaKernel: invalid tile ${JSON.stringify(tile)} (${v.reason})`);
  const { wgs: WGS, bn: BN, stages: ST } = tile;
  const BM = 64 * WGS;
  const THREADS = 128 * WGS;
  const ty = cfg.dtype === 'float16' ? 'f16' : 'bf16';
  const RS = BN / 2; // S accumulators per thread
  const RO = D / 2; // O accumulators per thread
  const CH = D / 8; // 16-byte chunks per row
  const qBytes = BM * D * 2, kvBytes = BN * D * 2, pairBytes = 2 * kvBytes;
  const softcap = cfg.softcap;
  const md = cfg.mask;
  if (md !== undefined && !FLASH_WGMMA_MASK_DTYPES.includes(md)) throw new Error(`flashWgmmaKernel: mask dtype ${md}`);
  const floatMask = md !== undefined && md !== 'bool';

  const b = new KernelBuilder('flash_wgmma', THREADS);
  b.helpers(PTX).helpers(mmaHelpers(BN, D, ty));
  const q = b.input('q', 'unsigned short');
  const k = b.input('k', 'unsigned short');
  const vv = b.input('v', 'unsigned short');
  // mask element (storage) type, the packed pair of a thread's two adjacent columns, the masked pair value
  const mElem = md === 'bool' ? 'unsigned char' : md === 'float32' ? 'float' : 'unsigned short';
  const mask = md !== undefined ? b.input('mask', mElem) : '';
  const o = b.output('o', 'unsigned short');
  const [, Sq, Skv, grp] = ['Hq', 'Sq', 'Skv', 'grp'].map((n) => b.i64(n));
  const [qb, qh, qs] = ['qb', 'qh', 'qs'].map((n) => b.i64(n));
  const [kb, kh, ks] = ['kb', 'kh', 'ks'].map((n) => b.i64(n));
  const [vb, vh, vs] = ['vb', 'vh', 'vs'].map((n) => b.i64(n));
  const [ob, oh, os] = ['ob', 'oh', 'os'].map((n) => b.i64(n));
  const [mb, mh, mi, mT] = md !== undefined ? ['mb', 'mh', 'mi', 'mT'].map((n) => b.i64(n)) : ['', '', '', ''];
  const coff = b.i64('coff');
  const scale = b.f32('scale');
  const cap = softcap ? b.f32('softcap') : '';
  b.dynamicShared('unsigned char', 'smem');

  b.line(
    'const int tid = threadIdx.x, wg = tid >> 7, wtid = tid & 127, lane = tid & 31, wq = wtid >> 5;',
    'const int g = lane >> 2, tig = lane & 3;',
    'const long long qblk = (long long)gridDim.x - 1 - blockIdx.x;',
    'const long long h = blockIdx.y, bb = blockIdx.z;',
    `const long long q0 = qblk * ${BM};`,
    `const long long hk = h / ${grp};`,
    `const unsigned short* qp = ${q} + bb * ${qb} + h * ${qh};`,
    `const unsigned short* kp = ${k} + bb * ${kb} + hk * ${kh};`,
    `const unsigned short* vp = ${vv} + bb * ${vb} + hk * ${vh};`,
    `long long kend = ${Skv};`,
  );
  if (cfg.causal) b.line(`{ const long long lim = q0 + ${BM} + ${coff}; if (lim < kend) kend = lim; if (kend < 0) kend = 0; }`);
  b.line(
    `const int nt = (int)((kend + ${BN - 1}) / ${BN});`,
    `const unsigned sQ = (chm_fw_smem(smem) + 1023u) & ~1023u;`,
    `const unsigned sKV = sQ + ${qBytes}u;`,
    // the warpgroup's rows: q0 + wg*64 + wq*16 + g (+8)
    `const long long r0 = q0 + wg * 64 + wq * 16 + g;`,
  );
  if (!softcap && !floatMask) b.line(`const float sl2 = ${scale} * ${LOG2E}f;`);
  else if (softcap && !floatMask) b.line(`const float capinv = ${scale} / ${cap}, capl2 = ${cap} * ${LOG2E}f;`);
  else if (softcap) b.line(`const float capinv = ${scale} / ${cap};`);
  if (md !== undefined) {
    // mask rows of this thread's two fragment rows (rows past Sq read row 0, as FA2); the paired loads need
    // even element offsets and a base aligned to the pair (uniform over the grid)
    const pairBytes = md === 'bool' ? 2 : md === 'float32' ? 8 : 4;
    b.line(
      `const ${mElem}* mrp[2];`,
      '#pragma unroll',
      `for (int hh = 0; hh < 2; hh++) { const long long i = r0 + hh * 8; mrp[hh] = ${mask} + bb * ${mb} + h * ${mh} + (i < ${Sq} ? i : 0) * ${mi}; }`,
      `const bool mvec = ((${mb} | ${mh} | ${mi}) & 1) == 0 && (reinterpret_cast<unsigned long long>(${mask}) & ${pairBytes - 1}ull) == 0;`,
    );
  }
  // loads (swizzled: row r, 16-byte chunk cc of the row → block cc>>3, chunk (cc&7) ^ (r&7))
  const swz = (rows: number) => `(unsigned)((cc >> 3) * ${rows * 128} + r * 128 + (((cc & 7) ^ (r & 7)) << 4))`;
  b.block(`for (int c = tid; c < ${BM * CH}; c += ${THREADS})`, () => {
    b.line(`const int r = c / ${CH}, cc = c % ${CH};`, `const bool ok = q0 + r < ${Sq};`);
    b.line(`chm_fw_cp16(sQ + ${swz(BM)}, ok ? (const void*)(qp + (q0 + r) * ${qs} + cc * 8) : (const void*)qp, ok);`);
  });
  b.line(`auto loadKV = [&](int t) {`);
  b.line(`  if (t < nt) {`);
  b.line(`    const long long j0 = (long long)t * ${BN};`, `    const unsigned kbuf = sKV + (unsigned)(t % ${ST}) * ${pairBytes}u, vbuf = kbuf + ${kvBytes}u;`);
  b.line(`    #pragma unroll`, `    for (int it = 0; it < ${(BN * CH) / THREADS}; it++) {`);
  b.line(
    `      const int c = tid + it * ${THREADS};`,
    `      const int r = c / ${CH}, cc = c % ${CH};`,
    `      const long long j = j0 + r;`,
    `      const bool ok = j < ${Skv};`,
    `      const unsigned off = ${swz(BN)};`,
    `      chm_fw_cp16(kbuf + off, ok ? (const void*)(kp + j * ${ks} + cc * 8) : (const void*)kp, ok);`,
    `      chm_fw_cp16(vbuf + off, ok ? (const void*)(vp + j * ${vs} + cc * 8) : (const void*)vp, ok);`,
    `    }`,
  );
  b.line(`  }`, `  chm_fw_commit();`, `};`);
  if ((BN * CH) % THREADS !== 0) throw new Error('flashWgmmaKernel: tile chunks not a multiple of the block');
  // prologue: group 0 = Q + pair 0, then pairs 1 .. ST-2
  b.line('loadKV(0);');
  for (let s = 1; s <= ST - 2; s++) b.line(`loadKV(${s});`);
  b.line(
    `float oacc[${RO}];`,
    `float sacc[${RS}];`,
    `unsigned pf[${BN / 16}][4];`,
    '#pragma unroll',
    `for (int i = 0; i < ${RO}; i++) oacc[i] = 0.0f;`,
    'float mrow[2] = { -CHM_INF, -CHM_INF }, lrow[2] = { 0.0f, 0.0f };',
    // descriptors: Q (this warpgroup's 64 rows), K/V of slot 0
    `const unsigned long long dQ0 = chm_fw_desc(sQ + (unsigned)wg * ${64 * 128}u, 16u, 1024u);`,
    `const unsigned long long dK0 = chm_fw_desc(sKV, 16u, 1024u);`,
    `const unsigned long long dV0 = chm_fw_desc(sKV + ${kvBytes}u, ${BN * 128}u, 1024u);`,
  );
  // mask values of the current tile: per fragment row hh and column block n, columns 8n + 2·tig + {0, 1}
  if (md !== undefined) b.line(`${md === 'float32' ? 'float2' : 'unsigned'} mk[2][${BN / 8}];`);
  const loadMask = (t: string) => {
    if (md === undefined) return;
    const neg = md === 'float16' ? '0xFC00u' : '0xFF80u'; // -inf
    const vec = md === 'bool' ? '(unsigned)__ldg(reinterpret_cast<const unsigned short*>(p))'
      : md === 'float32' ? '__ldg(reinterpret_cast<const float2*>(p))' : '__ldg(reinterpret_cast<const unsigned*>(p))';
    const sc = md === 'bool' ? `(j < ${mT} ? (unsigned)__ldg(p) : 0u) | ((j + 1 < ${mT} ? (unsigned)__ldg(p + 1) : 0u) << 8)`
      : md === 'float32' ? `make_float2(j < ${mT} ? __ldg(p) : -CHM_INF, j + 1 < ${mT} ? __ldg(p + 1) : -CHM_INF)`
        : `(j < ${mT} ? (unsigned)__ldg(p) : ${neg}) | ((j + 1 < ${mT} ? (unsigned)__ldg(p + 1) : ${neg}) << 16)`;
    b.line(`{ const long long mk0 = (long long)(${t}) * ${BN};`);
    b.line(`  if (mvec && mk0 + ${BN} <= ${mT}) {`);
    b.line('    #pragma unroll', `    for (int hh = 0; hh < 2; hh++) {`, '      #pragma unroll');
    b.line(`      for (int n = 0; n < ${BN / 8}; n++) { const ${mElem}* p = mrp[hh] + mk0 + n * 8 + 2 * tig; mk[hh][n] = ${vec}; }`);
    b.line('    }', '  } else {');
    b.line('    #pragma unroll', `    for (int hh = 0; hh < 2; hh++) {`, '      #pragma unroll');
    b.line(`      for (int n = 0; n < ${BN / 8}; n++) { const long long j = mk0 + n * 8 + 2 * tig; const ${mElem}* p = mrp[hh] + j; mk[hh][n] = ${sc}; }`);
    b.line('    }', '  } }');
  };
  // scaled scores in the log2 domain with the mask applied (FA2's order: scale or softcap, + mask, · log2 e)
  const applyMask = () => {
    const f = (c: 0 | 1) => {
      const x = `sacc[n * 4 + hh * 2 + ${c}]`;
      if (md === 'bool') {
        const sv = softcap ? `capl2 * tanhf(${x} * capinv)` : `${x} * sl2`;
        return `${x} = (mk[hh][n] & ${c ? '0xff00u' : '0xffu'}) ? ${sv} : -CHM_INF;`;
      }
      const mv = md === 'float32' ? `mk[hh][n].${c ? 'y' : 'x'}` : `${md === 'float16' ? 'chm_h2f' : 'chm_b2f'}((unsigned short)(mk[hh][n]${c ? ' >> 16' : ' & 0xffffu'}))`;
      const sv = softcap ? `${cap} * tanhf(${x} * capinv)` : `${x} * ${scale}`;
      return `${x} = (${sv} + ${mv}) * ${LOG2E}f;`;
    };
    b.line('#pragma unroll', 'for (int hh = 0; hh < 2; hh++) {', '  #pragma unroll', `  for (int n = 0; n < ${BN / 8}; n++) { ${f(0)} ${f(1)} }`, '}');
  };

  // S_t = Q·K_tᵀ (issue only)
  const issueS = (t: string) => {
    b.line(`{ const unsigned long long dK = dK0 + (unsigned long long)(((unsigned)(${t} % ${ST}) * ${pairBytes}u) >> 4);`);
    b.line('  #pragma unroll');
    b.line(`  for (int kk = 0; kk < ${D / 16}; kk++) {`);
    b.line(`    const unsigned long long off = (unsigned long long)((kk >> 2) * ${(BM * 128) >> 4} + (kk & 3) * 2);`);
    b.line(`    const unsigned long long offk = (unsigned long long)((kk >> 2) * ${(BN * 128) >> 4} + (kk & 3) * 2);`);
    b.line(`    chm_fw_mma_s(sacc, dQ0 + off, dK + offk, kk);`);
    b.line('  }', '  chm_fw_wg_commit(); }');
  };
  // O += P·V_t (issue only)
  const issuePV = (t: string) => {
    b.line(`{ const unsigned long long dV = dV0 + (unsigned long long)(((unsigned)(${t} % ${ST}) * ${pairBytes}u) >> 4);`);
    b.line('  #pragma unroll');
    b.line(`  for (int kt = 0; kt < ${BN / 16}; kt++) chm_fw_mma_o(oacc, pf[kt], dV + (unsigned long long)(kt * ${(16 * 128) >> 4}));`);
    b.line('  chm_fw_wg_commit(); }');
  };
  const fenceArr = (name: string, n: number, f: 'rf' | 'ru') => b.line('#pragma unroll', `for (int i = 0; i < ${n}; i++) chm_fw_${f}(${name});`);
  const fenceS = () => fenceArr('sacc[i]', RS, 'rf');
  const fenceO = () => fenceArr('oacc[i]', RO, 'rf');
  const fenceP = () => b.line('#pragma unroll', `for (int i = 0; i < ${BN / 16}; i++) { chm_fw_ru(pf[i][0]); chm_fw_ru(pf[i][1]); chm_fw_ru(pf[i][2]); chm_fw_ru(pf[i][3]); }`);
  // softmax of sacc (tile t) → alpha[2], sacc = p (fp32), row max/sum updated
  const softmax = (t: string) => {
    b.line(`const long long kv0 = (long long)(${t}) * ${BN};`);
    if (md !== undefined) applyMask();
    else {
      b.line('#pragma unroll');
      b.block(`for (int i = 0; i < ${RS}; i++)`, () => {
        if (softcap) b.line(`sacc[i] = capl2 * tanhf(sacc[i] * capinv);`);
        else b.line('sacc[i] *= sl2;');
      });
    }
    const pred = [`kv0 + ${BN} > ${Skv}`];
    if (cfg.causal) pred.push(`kv0 + ${BN - 1} > q0 + wg * 64 + ${coff}`);
    b.block(`if (${pred.join(' || ')})`, () => {
      b.line('#pragma unroll');
      b.block('for (int hh = 0; hh < 2; hh++)', () => {
        b.line(`long long lim = ${Skv} - kv0 - 1;`);
        if (cfg.causal) b.line(`lim = min(lim, r0 + hh * 8 + ${coff} - kv0);`);
        b.line(`const int li = (int)max(-1LL, min(lim, (long long)${BN}));`);
        b.line('#pragma unroll', `for (int n = 0; n < ${BN / 8}; n++) { if (n * 8 + 2 * tig > li) sacc[n * 4 + hh * 2] = -CHM_INF; if (n * 8 + 2 * tig + 1 > li) sacc[n * 4 + hh * 2 + 1] = -CHM_INF; }`);
      });
    });
    b.line('#pragma unroll');
    b.block('for (int hh = 0; hh < 2; hh++)', () => {
      b.line('float mx = -CHM_INF;', '#pragma unroll', `for (int n = 0; n < ${BN / 8}; n++) mx = fmaxf(mx, fmaxf(sacc[n * 4 + hh * 2], sacc[n * 4 + hh * 2 + 1]));`);
      b.line(
        'mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));',
        'mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));',
        'const float mnew = fmaxf(mrow[hh], mx);',
        'const float muse = mnew == -CHM_INF ? 0.0f : mnew;',
        'alpha[hh] = chm_fw_ex2(mrow[hh] - muse);',
        'mrow[hh] = mnew;',
        'float sum = 0.0f;',
        '#pragma unroll',
        `for (int n = 0; n < ${BN / 8}; n++) { const float p0 = chm_fw_ex2(sacc[n * 4 + hh * 2] - muse), p1 = chm_fw_ex2(sacc[n * 4 + hh * 2 + 1] - muse); sacc[n * 4 + hh * 2] = p0; sacc[n * 4 + hh * 2 + 1] = p1; sum += p0 + p1; }`,
        'lrow[hh] = lrow[hh] * alpha[hh] + sum;',
      );
    });
  };
  const packP = () => b.line(
    '#pragma unroll',
    `for (int kt = 0; kt < ${BN / 16}; kt++) {`,
    '  pf[kt][0] = chm_fw_pack(sacc[kt * 8 + 0], sacc[kt * 8 + 1]);',
    '  pf[kt][1] = chm_fw_pack(sacc[kt * 8 + 2], sacc[kt * 8 + 3]);',
    '  pf[kt][2] = chm_fw_pack(sacc[kt * 8 + 4], sacc[kt * 8 + 5]);',
    '  pf[kt][3] = chm_fw_pack(sacc[kt * 8 + 6], sacc[kt * 8 + 7]);',
    '}',
  );
  const rescaleO = () => b.line('#pragma unroll', `for (int i = 0; i < ${RO}; i++) oacc[i] *= alpha[(i >> 1) & 1];`);

  b.block('if (nt > 0)', () => {
    // first tile: S_0, softmax, P_0
    b.line(`chm_fw_cpwait<${ST - 2}>();`, 'chm_fw_fence_async();', '__syncthreads();');
    fenceS();
    b.line('chm_fw_wg_fence();');
    issueS('0');
    loadMask('0');
    b.line('chm_fw_wg_wait<0>();');
    fenceS();
    b.block('', () => {
      b.line('float alpha[2];');
      softmax('0');
    });
    packP();
    b.block('for (int t = 1; t < nt; t++)', () => {
      b.line(`chm_fw_cpwait<${ST - 3}>();`, 'chm_fw_fence_async();', '__syncthreads();');
      b.line(`loadKV(t + ${ST - 2});`);
      fenceS(); fenceO(); fenceP();
      b.line('chm_fw_wg_fence();');
      issueS('t');
      issuePV('(t - 1)');
      loadMask('t');
      b.line('chm_fw_wg_wait<1>();');
      fenceS();
      b.line('float alpha[2];');
      softmax('t');
      b.line('chm_fw_wg_wait<0>();');
      fenceO(); fenceP();
      rescaleO();
      packP();
    });
    // last P·V
    fenceO(); fenceP();
    b.line('chm_fw_wg_fence();');
    issuePV('(nt - 1)');
    b.line('chm_fw_wg_wait<0>();');
    fenceO();
  });
  b.line('chm_fw_cpwait<0>();');
  // epilogue: O / l, packed 32-bit stores; O element i: row r0 + 8*((i>>1)&1), col 8*(i>>2) + 2*tig + (i&1)
  b.line('#pragma unroll');
  b.block('for (int hh = 0; hh < 2; hh++)', () => {
    b.line(
      'float l = lrow[hh];',
      'l += __shfl_xor_sync(0xffffffffu, l, 1);',
      'l += __shfl_xor_sync(0xffffffffu, l, 2);',
      'const long long i = r0 + hh * 8;',
      `if (i >= ${Sq}) continue;`,
      'const float inv = l > 0.0f ? 1.0f / l : 0.0f;',
      `unsigned short* dst = ${o} + bb * ${ob} + h * ${oh} + i * ${os} + 2 * tig;`,
      '#pragma unroll',
      `for (int n = 0; n < ${D / 8}; n++) *reinterpret_cast<unsigned*>(dst + n * 8) = chm_fw_pack(oacc[n * 4 + hh * 2] * inv, oacc[n * 4 + hh * 2 + 1] * inv);`,
    );
  });
  return b.build();
}

// ---------------------------------------------------------------------------------------------------
// Launch side (same operands and argument convention as launchFlashAttention's main kernel)

/** Whether the wgmma flash kernel handles this problem on a GPU of compute capability `arch` (must be 90). */
export function flashWgmmaApplies(p: FlashProblem, arch?: number): { ok: true } | { ok: false; reason: string } {
  const no = (reason: string) => ({ ok: false as const, reason });
  if (arch !== 90) return no(`wgmma flash attention needs sm_90a (arch ${arch ?? 'unknown'})`);
  if (p.dtype !== 'float16' && p.dtype !== 'bfloat16') return no(`dtype ${p.dtype} (needs float16/bfloat16)`);
  if (!FLASH_WGMMA_HEAD_DIMS.includes(p.D as FlashWgmmaHeadDim)) return no(`head dim ${p.D} (wgmma flash needs 64/128)`);
  if ((p.Dv ?? p.D) !== p.D) return no(`value head dim ${p.Dv} differs from ${p.D}`);
  if (p.Hkv <= 0 || p.Hq % p.Hkv !== 0) return no(`q heads ${p.Hq} not a multiple of kv heads ${p.Hkv}`);
  if (p.Hq > 65535 || p.B > 65535) return no('more than 65535 heads or batches');
  if (p.mask && !FLASH_WGMMA_MASK_DTYPES.includes(p.mask.dtype as FlashWgmmaMaskDtype)) return no(`mask dtype ${p.mask.dtype}`);
  if (p.mask && p.mask.dtype !== 'bool' && p.mask.dtype !== 'float32' && p.mask.dtype !== p.dtype) return no(`mask dtype ${p.mask.dtype} differs from ${p.dtype}`);
  if (p.mask && p.mask.strides.some((s) => s < 0)) return no('negative mask strides');
  if (p.split === true) return no('split-KV requested (served by the FA2 kernel)');
  for (const [n, op] of [['Q', p.q], ['K', p.k], ['V', p.v], ['O', p.o]] as const) {
    if (op.strides.some((s) => s % 8 !== 0)) return no(`${n} strides ${op.strides.join(',')} are not multiples of 8 elements (16-byte rows)`);
    const off = (op.ref as { byteOffset?: number }).byteOffset;
    if (off !== undefined && off % 16 !== 0) return no(`${n} byte offset is not 16-byte aligned`);
  }
  if (p.tile !== undefined) return no('an FA2 tile was requested');
  return { ok: true };
}

function configOf(p: FlashProblem, tile: FlashWgmmaTile): FlashWgmmaConfig {
  return {
    dtype: p.dtype as FlashWgmmaDType, headDim: p.D as FlashWgmmaHeadDim, causal: p.causal, softcap: (p.softcap ?? 0) > 0,
    ...(p.mask ? { mask: p.mask.dtype as FlashWgmmaMaskDtype } : {}), tile,
  };
}

/**
 * Every kernel a problem of this dtype / head dim / causal / softcap / mask element type (`mask`: the
 * attention mask's dtype, absent without a mask) may launch (heuristic tiles, plus `extra`).
 */
export function flashWgmmaVariants(base: Omit<FlashWgmmaConfig, 'tile' | 'mask'> & { mask?: DType }, extra: FlashWgmmaTile[] = []): KernelSource[] {
  const { mask, ...rest } = base;
  if (mask !== undefined && !FLASH_WGMMA_MASK_DTYPES.includes(mask as FlashWgmmaMaskDtype)) throw new Error(`flashWgmmaVariants: mask dtype ${mask}`);
  const cfg: Omit<FlashWgmmaConfig, 'tile'> = { ...rest, ...(mask !== undefined ? { mask: mask as FlashWgmmaMaskDtype } : {}) };
  const out: KernelSource[] = [];
  for (const t of [...heuristicFlashWgmmaTiles(base.headDim), ...extra]) {
    const k = flashWgmmaKernel({ ...cfg, tile: t });
    if (!out.some((x) => x.name === k.name)) out.push(k);
  }
  return out;
}

/** One launch (grid (q blocks, Hq, B)); `tile` overrides the heuristic. Throws when flashWgmmaApplies says no. */
export function launchFlashWgmma(p: FlashProblem, tile?: FlashWgmmaTile): FlashLaunchPlan {
  const ok = flashWgmmaApplies(p, 90);
  if (!ok.ok) throw new Error(`launchFlashWgmma: ${ok.reason}`);
  const t = tile ?? heuristicFlashWgmmaTile(p.Sq, p.D);
  const vt = validFlashWgmmaTile(t, p.D);
  if (!vt.ok) throw new Error(`launchFlashWgmma: invalid tile (${vt.reason})`);
  const cfg = configOf(p, t);
  const kern = flashWgmmaKernel(cfg);
  const variants = flashWgmmaVariants({ dtype: cfg.dtype, headDim: cfg.headDim, causal: cfg.causal, softcap: cfg.softcap, ...(cfg.mask ? { mask: cfg.mask } : {}) }, tile ? [tile] : [])
    .filter((k) => k.name !== kern.name);
  const launches: Launch[] = [];
  if (p.B * p.Hq * p.Sq === 0) return { launches, scratch: [], variants: [kern, ...variants] };
  const BM = 64 * t.wgs;
  const args: ArgRef[] = [
    p.q.ref, p.k.ref, p.v.ref, ...(p.mask ? [p.mask.ref] : []), p.o.ref,
    ...[p.Hq, p.Sq, p.Skv, p.Hq / p.Hkv, ...p.q.strides, ...p.k.strides, ...p.v.strides, ...p.o.strides].map(a64),
    ...(p.mask ? [...p.mask.strides, p.mask.mT].map(a64) : []),
    a64(p.causalOffset),
    af32(p.scale),
    ...((p.softcap ?? 0) > 0 ? [af32(p.softcap!)] : []),
  ];
  launches.push({ kernel: kern, grid: [Math.ceil(p.Sq / BM), p.Hq, p.B], block: [128 * t.wgs, 1, 1], sharedBytes: flashWgmmaSmem(p.D, t), args });
  return { launches, scratch: [], variants };
}
