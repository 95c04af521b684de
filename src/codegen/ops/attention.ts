/**
 * Attention (ONNX opset 23/24), matching src/ref/kernels/nn-attention.ts.
 *
 * Per batch b, query head h, query row i and key j of the total sequence (past + new keys):
 *   s = (Q·K)·scale;  s = softcap·tanh(s/softcap) when softcap > 0;  s += bias (attn_mask,
 *   causal j > i + offset, nonpad j >= kv_len[b]: -inf);  p = softmax_j(s) (fully masked row: zeros);
 *   Y = p·V.  GQA: query head h reads KV head h / (Hq / Hkv).
 *   causal offset = past length when past is given, else nonpad_kv_seqlen[b] - Sq, else 0.
 *
 * Kernels:
 * - attn_cache2 / attn_cache: present = concat(past, new) along the sequence axis ([B, H, P+S, D]; the
 *   new part is read through batch/head/sequence strides, so 3-D [B, S, H*D] and 4-D inputs share the
 *   kernel); attn_cache2 writes present_key and present_value in one launch (K and V of one storage
 *   type), attn_cache one of them. When there is no past and K/V are 4-D, present is a view of K/V.
 * - attn_fwd: one block of 4 warps per (b, h, 4 consecutive query rows). Each warp walks a strided
 *   share of the keys: a warp-wide dot product per key for the 4 rows (Q rows in shared memory),
 *   then an online softmax (running max / sum, fp32; fp64 for float64) accumulating p·V into its own
 *   shared-memory accumulator; the warps' partial states are merged at the end. K/V come from global
 *   memory (the present buffer when there is a past). With qk_matmul_output requested, a second pass
 *   over all keys writes the requested quantity (modes 0/1 scores, 2 scores + bias, 3 softmax).
 * All layouts go in as strides, so the kernel text depends only on dtypes and the attributes/optional
 * inputs present (mask dtype, causal, softcap, nonpad, past, qk mode).
 */
import type { DType } from '../../ir/dtype.js';
import { deviceType, dt, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, af32, af64, elementCount, grid1d, registerLowerings, unsupported,
  type ArgRef, type Launch, type LowerContext, type Lowered,
} from '../lowering.js';
import { flashAttentionApplies, launchFlashAttention, type FlashProblem } from './flash-attention.js';
import { FLASH_WGMMA_HEAD_DIMS, flashWgmmaApplies, flashWgmmaVariants, launchFlashWgmma, type FlashWgmmaHeadDim } from './flash-wgmma.js';

/** query rows per block (compile-time constant of the kernel) */
const ROWS = 4;
/** warps per block */
const WARPS = 4;
const THREADS = WARPS * 32;

const FLOATS: readonly DType[] = ['float16', 'bfloat16', 'float32', 'float64'];

interface Layout {
  B: number; H: number; S: number; D: number;
  /** element strides of batch, head, sequence (head-dim stride is 1) */
  sb: number; sh: number; ss: number;
}

function layoutOf(shape: readonly number[], heads: number | undefined, what: string): Layout {
  if (shape.length === 4) {
    const [B, H, S, D] = shape;
    return { B, H, S, D, sb: H * S * D, sh: S * D, ss: D };
  }
  if (shape.length !== 3) unsupported(`Attention: ${what} must be 3-D or 4-D, got [${shape.join(',')}]`);
  if (!heads || heads <= 0) unsupported(`Attention: ${what} is 3-D, so its head-count attribute is required`);
  const [B, S, hidden] = shape;
  if (hidden % heads !== 0) unsupported(`Attention: ${what} hidden size ${hidden} is not divisible by ${heads} heads`);
  const D = hidden / heads;
  return { B, H: heads, S, D, sb: S * hidden, sh: D, ss: hidden };
}

/** the present-cache copy kernel for one element type, with or without a past input */
function cacheKernel(t: DeviceType, withPast: boolean): KernelSource {
  const b = new KernelBuilder('attn_cache');
  const past = withPast ? b.input('past', t.storage) : '';
  const cur = b.input('cur', t.storage);
  const out = b.output('out', t.storage);
  const n = b.i64('n');
  const H = b.i64('H');
  const T = b.i64('T');
  const P = b.i64('P');
  const Dd = b.i64('Dd');
  const cb = b.i64('cb');
  const ch = b.i64('ch');
  const cs = b.i64('cs');
  b.gridStride(n, () => {
    b.line(
      `const long long d = i % ${Dd};`,
      `const long long rest = i / ${Dd};`,
      `const long long t = rest % ${T};`,
      `const long long bh = rest / ${T};`,
      `const long long h = bh % ${H};`,
      `const long long bb = bh / ${H};`,
    );
    const fromCur = `${cur}[bb * ${cb} + h * ${ch} + (t - ${P}) * ${cs} + d]`;
    if (withPast) b.line(`${out}[i] = t < ${P} ? ${past}[(bh * ${P} + t) * ${Dd} + d] : ${fromCur};`);
    else b.line(`${out}[i] = ${fromCur};`);
  });
  return b.build();
}

/**
 * Both present caches in one launch (K and V of one storage type): elements [0, nk) are present_key,
 * [nk, nk + nv) present_value, each as in cacheKernel with its own head size and new-part strides.
 */
function cachePairKernel(t: DeviceType, withPast: boolean): KernelSource {
  const b = new KernelBuilder('attn_cache2');
  const pk = withPast ? b.input('past_k', t.storage) : '';
  const pv = withPast ? b.input('past_v', t.storage) : '';
  const ck = b.input('cur_k', t.storage);
  const cv = b.input('cur_v', t.storage);
  const ok = b.output('out_k', t.storage);
  const ov = b.output('out_v', t.storage);
  const [n, nk, H, T, P] = ['n', 'nk', 'H', 'T', 'P'].map((x) => b.i64(x));
  const [dk, kb, kh, ks] = ['dk', 'kb', 'kh', 'ks'].map((x) => b.i64(x));
  const [dv, vb, vh, vs] = ['dv', 'vb', 'vh', 'vs'].map((x) => b.i64(x));
  b.gridStride(n, () => {
    b.line(
      `const bool isk = i < ${nk};`,
      `const long long j = isk ? i : i - ${nk};`,
      `const long long Dd = isk ? ${dk} : ${dv};`,
      'const long long d = j % Dd;',
      'const long long rest = j / Dd;',
      `const long long t = rest % ${T};`,
      `const long long bh = rest / ${T};`,
      `const long long h = bh % ${H};`,
      `const long long bb = bh / ${H};`,
      `${t.storage}* out = isk ? ${ok} : ${ov};`,
    );
    const cur = `(isk ? ${ck}[bb * ${kb} + h * ${kh} + (t - ${P}) * ${ks} + d] : ${cv}[bb * ${vb} + h * ${vh} + (t - ${P}) * ${vs} + d])`;
    if (withPast) {
      b.block(`if (t < ${P})`, () => b.line(`out[j] = (isk ? ${pk} : ${pv})[(bh * ${P} + t) * Dd + d];`));
      b.line(`else out[j] = ${cur};`);
    } else b.line(`out[j] = ${cur};`);
  });
  return b.build();
}

interface FwdConfig {
  q: DeviceType; k: DeviceType; v: DeviceType; y: DeviceType;
  /** accumulation type: 'float' or 'double' */
  acc: 'float' | 'double';
  mask?: DeviceType;
  nonpad?: DeviceType;
  causal: boolean;
  softcap: boolean;
  /** whether the causal offset comes from the past length argument (else from nonpad when present) */
  hasPast: boolean;
  /** qk_matmul_output mode when that output is requested */
  qkMode?: number;
}

function fwdKernel(c: FwdConfig): KernelSource {
  const b = new KernelBuilder('attn_fwd', THREADS);
  const A = c.acc;
  const dbl = A === 'double';
  const EXP = dbl ? 'exp' : 'expf';
  const TANH = dbl ? 'tanh' : 'tanhf';
  const NEG_INF = dbl ? literal(dt('float64'), -Infinity) : '(-CHM_INF)';
  const wsum = `chm_attn_wsum_${A}`;
  b.helpers(`__device__ __forceinline__ ${A} ${wsum}(${A} v) {\n  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);\n  return v;\n}`);
  const q = b.input('q', c.q.storage);
  const k = b.input('k', c.k.storage);
  const v = b.input('v', c.v.storage);
  const mask = c.mask ? b.input('mask', c.mask.storage) : '';
  const nonpad = c.nonpad ? b.input('kvlen', c.nonpad.storage) : '';
  const y = b.output('y', c.y.storage);
  const qk = c.qkMode !== undefined ? b.output('qk', c.y.storage) : '';
  const [B, Hq, Sq, D, Dv, T, grp] = ['B', 'Hq', 'Sq', 'D', 'Dv', 'T', 'grp'].map((n) => b.i64(n));
  const [qb, qh, qs] = ['qb', 'qh', 'qs'].map((n) => b.i64(n));
  const [kb, kh, ks] = ['kb', 'kh', 'ks'].map((n) => b.i64(n));
  const [vb, vh, vs] = ['vb', 'vh', 'vs'].map((n) => b.i64(n));
  const [yb, yh, ys] = ['yb', 'yh', 'ys'].map((n) => b.i64(n));
  const [mb, mh, mi, mT] = c.mask ? ['mb', 'mh', 'mi', 'mT'].map((n) => b.i64(n)) : ['', '', '', ''];
  const coff = b.i64('coff');
  const scale = dbl ? b.f64('scale') : b.f32('scale');
  const cap = dbl ? b.f64('softcap') : b.f32('softcap');
  b.dynamicShared(A, 'smem');
  b.shared(`${A} sm_m[${WARPS * ROWS}]`);
  b.shared(`${A} sm_l[${WARPS * ROWS}]`);

  /** lines turning the raw scaled score `s` of row r (query i) at key j into its masked value (mask only) */
  const applyMask = (): string[] => {
    if (!c.mask) return [];
    const mv = `${mask}[bb * ${mb} + h * ${mh} + i * ${mi} + j]`;
    const bias = c.mask.kind === 'bool' ? `s = ${mv} ? s : ${NEG_INF};` : `s = s + (${A})(${c.mask.load(mv)});`;
    return [`if (j >= ${mT}) s = ${NEG_INF}; else { ${bias} }`];
  };
  const softcapLines = c.softcap ? [`s = ${cap} * ${TANH}(s / ${cap});`] : [];
  /** computes d[r] = Q_r · K_j for all rows (warp-wide) */
  const dots = () => {
    b.line(`${A} dd[${ROWS}];`);
    b.line('#pragma unroll');
    b.line(`for (int r = 0; r < ${ROWS}; r++) dd[r] = 0;`);
    b.block(`for (long long e = lane; e < ${D}; e += 32)`, () => {
      b.line(`const ${A} kv = (${A})(${c.k.load(`kbase[j * ${ks} + e]`)});`);
      b.line('#pragma unroll');
      b.line(`for (int r = 0; r < ${ROWS}; r++) dd[r] += qsm[r * ${D} + e] * kv;`);
    });
    b.line('#pragma unroll');
    b.line(`for (int r = 0; r < ${ROWS}; r++) dd[r] = ${wsum}(dd[r]);`);
  };

  b.line(
    'const int lane = threadIdx.x & 31;',
    'const int warp = threadIdx.x >> 5;',
    `${A}* qsm = smem;`,
    `${A}* accs = smem + ${ROWS} * ${D};`,
    `const long long groups = (${Sq} + ${ROWS - 1}) / ${ROWS};`,
    `const long long nblk = ${B} * ${Hq} * groups;`,
  );
  b.block('for (long long blk = blockIdx.x; blk < nblk; blk += gridDim.x)', () => {
    b.line(
      'const long long g = blk % groups;',
      'const long long bhq = blk / groups;',
      `const long long h = bhq % ${Hq};`,
      `const long long bb = bhq / ${Hq};`,
      `const long long i0 = g * ${ROWS};`,
      `const long long hk = h / ${grp};`,
      `const ${c.k.storage}* kbase = ${k} + bb * ${kb} + hk * ${kh};`,
      `const ${c.v.storage}* vbase = ${v} + bb * ${vb} + hk * ${vh};`,
      '__syncthreads();',
    );
    b.block(`for (long long t = threadIdx.x; t < ${ROWS} * ${D}; t += blockDim.x)`, () => {
      b.line(`const long long r = t / ${D}, e = t % ${D};`, 'const long long i = i0 + r;');
      b.line(`qsm[t] = i < ${Sq} ? (${A})(${c.q.load(`${q}[bb * ${qb} + h * ${qh} + i * ${qs} + e]`)}) : (${A})0;`);
    });
    b.line(`for (long long t = threadIdx.x; t < ${WARPS * ROWS} * ${Dv}; t += blockDim.x) accs[t] = 0;`);
    b.line('__syncthreads();');
    // visible key range per row: [0, jend[r])
    if (c.nonpad) b.line(`const long long kvl = (long long)${nonpad}[bb];`);
    if (c.causal) b.line(`const long long off = ${c.nonpad && !c.hasPast ? `kvl - ${Sq}` : coff};`);
    b.line(`long long jend[${ROWS}];`, `${A} m[${ROWS}], l[${ROWS}];`, 'long long jmax = 0;');
    b.line('#pragma unroll');
    b.block(`for (int r = 0; r < ${ROWS}; r++)`, () => {
      b.line(`long long e = i0 + r < ${Sq} ? ${T} : 0;`);
      if (c.causal) b.line('e = min(e, i0 + r + off + 1);');
      if (c.nonpad) b.line('e = min(e, kvl);');
      b.line('if (e < 0) e = 0;', 'jend[r] = e;', 'jmax = max(jmax, e);', `m[r] = ${NEG_INF};`, 'l[r] = 0;');
    });
    b.block(`for (long long j = warp; j < jmax; j += ${WARPS})`, () => {
      dots();
      b.line(`${A} pr[${ROWS}], cr[${ROWS}];`, `bool act[${ROWS}];`, 'bool any = false;');
      b.line('#pragma unroll');
      b.block(`for (int r = 0; r < ${ROWS}; r++)`, () => {
        b.line('act[r] = false; pr[r] = 0; cr[r] = 1;');
        b.line('if (j >= jend[r]) continue;');
        b.line('const long long i = i0 + r;');
        b.line(`${A} s = dd[r] * ${scale};`, ...softcapLines, ...applyMask());
        b.line(`if (s == ${NEG_INF}) continue;`);
        b.line('const bool nan_or_up = s > m[r] || s != s;');
        b.line(`const ${A} mn = nan_or_up ? s : m[r];`);
        b.line(`cr[r] = m[r] == mn ? (${A})1 : ${EXP}(m[r] - mn);`);
        b.line(`pr[r] = ${EXP}(s - mn);`);
        b.line('l[r] = l[r] * cr[r] + pr[r];', 'm[r] = mn;', 'act[r] = true; any = true;');
      });
      b.line('if (!any) continue;');
      b.block(`for (long long e = lane; e < ${Dv}; e += 32)`, () => {
        b.line(`const ${A} vv = (${A})(${c.v.load(`vbase[j * ${vs} + e]`)});`);
        b.line('#pragma unroll');
        b.block(`for (int r = 0; r < ${ROWS}; r++)`, () => {
          b.line('if (!act[r]) continue;');
          b.line(`${A}* a = accs + (warp * ${ROWS} + r) * ${Dv} + e;`);
          // a zero weight drops the term (like the reference, so Inf/NaN in unweighted V do not leak)
          b.line(`const ${A} prev = cr[r] == 0 ? (${A})0 : *a * cr[r];`);
          b.line('*a = pr[r] != 0 ? prev + pr[r] * vv : prev;');
        });
      });
    });
    b.block('if (lane == 0)', () => {
      b.line('#pragma unroll');
      b.line(`for (int r = 0; r < ${ROWS}; r++) { sm_m[warp * ${ROWS} + r] = m[r]; sm_l[warp * ${ROWS} + r] = l[r]; }`);
    });
    b.line('__syncthreads();');
    // merge the warps' states: M = max (NaN wins), L = sum l_w·exp(m_w - M)
    const merge = (r: string) => {
      b.line(`${A} M = ${NEG_INF};`);
      b.line(`for (int w = 0; w < ${WARPS}; w++) { const ${A} mw = sm_m[w * ${ROWS} + ${r}]; if (mw > M || mw != mw) M = mw; }`);
      b.line(`${A} L = 0;`);
      b.line(`for (int w = 0; w < ${WARPS}; w++) { const ${A} mw = sm_m[w * ${ROWS} + ${r}]; if (mw != ${NEG_INF}) L += sm_l[w * ${ROWS} + ${r}] * (mw == M ? (${A})1 : ${EXP}(mw - M)); }`);
    };
    b.block(`for (long long t = threadIdx.x; t < ${ROWS} * ${Dv}; t += blockDim.x)`, () => {
      b.line(`const int r = (int)(t / ${Dv});`, `const long long e = t % ${Dv};`, 'const long long i = i0 + r;');
      b.line(`if (i >= ${Sq}) continue;`);
      merge('r');
      b.line(`${A} sum = 0;`);
      b.block(`for (int w = 0; w < ${WARPS}; w++)`, () => {
        b.line(`const ${A} mw = sm_m[w * ${ROWS} + r];`);
        b.line(`if (mw == ${NEG_INF}) continue;`);
        b.line(`const ${A} f = mw == M ? (${A})1 : ${EXP}(mw - M);`);
        b.line(`if (f != 0) sum += accs[(w * ${ROWS} + r) * ${Dv} + e] * f;`);
      });
      b.line(`const ${A} yv = M == ${NEG_INF} ? (${A})0 : sum / L;`);
      b.line(`${y}[bb * ${yb} + h * ${yh} + i * ${ys} + e] = ${c.y.store(c.y.math === A ? 'yv' : `(${c.y.math})yv`)};`);
    });
    if (c.qkMode !== undefined) {
      const mode = c.qkMode;
      b.line(`${A} rM[${ROWS}], rL[${ROWS}];`);
      b.line('#pragma unroll');
      b.block(`for (int r = 0; r < ${ROWS}; r++)`, () => {
        merge('r');
        b.line('rM[r] = M; rL[r] = L;');
      });
      b.block(`for (long long j = warp; j < ${T}; j += ${WARPS})`, () => {
        dots();
        b.line('#pragma unroll');
        b.block(`for (int r = 0; r < ${ROWS}; r++)`, () => {
          b.line('const long long i = i0 + r;');
          b.line(`if (i >= ${Sq}) continue;`);
          b.line(`${A} s = dd[r] * ${scale};`, ...softcapLines);
          if (mode >= 2) {
            b.line(...applyMask());
            if (c.causal) b.line(`if (j > i + off) s = ${NEG_INF};`);
            if (c.nonpad) b.line(`if (j >= kvl) s = ${NEG_INF};`);
            if (mode === 3) b.line(`s = rM[r] == ${NEG_INF} ? (${A})0 : ${EXP}(s - rM[r]) / rL[r];`);
          }
          b.line(`if (lane == 0) ${qk}[((bb * ${Hq} + h) * ${Sq} + i) * ${T} + j] = ${c.y.store(c.y.math === A ? 's' : `(${c.y.math})s`)};`);
        });
      });
    }
  });
  return b.build();
}

function present(ctx: LowerContext, i: number): boolean {
  return (ctx.node.outputs[i] ?? '') !== '' && ctx.outputs[i] !== undefined;
}

function lowerAttention(ctx: LowerContext): Lowered {
  const node = ctx.node;
  const [qd, kd, vd] = [ctx.inputs[0], ctx.inputs[1], ctx.inputs[2]];
  if (!qd || !kd || !vd) unsupported('Attention: Q, K and V are required');
  for (const [n, d] of [['Q', qd], ['K', kd], ['V', vd]] as const) {
    if (!FLOATS.includes(d.dtype)) unsupported(`Attention: ${n} dtype ${d.dtype} is not a supported float type`);
  }
  const maskD = ctx.inputs[3];
  const pastKD = ctx.inputs[4];
  const pastVD = ctx.inputs[5];
  const nonpadD = ctx.inputs[6];
  if ((pastKD === undefined) !== (pastVD === undefined)) unsupported('Attention: past_key and past_value must be given together');
  if (maskD && maskD.dtype !== 'bool' && !FLOATS.includes(maskD.dtype)) unsupported(`Attention: attn_mask dtype ${maskD.dtype} is not bool or float`);
  if (nonpadD && nonpadD.dtype !== 'int64' && nonpadD.dtype !== 'int32') unsupported(`Attention: nonpad_kv_seqlen dtype ${nonpadD.dtype} is not int64/int32`);
  if (qd.shape.length !== kd.shape.length || qd.shape.length !== vd.shape.length) unsupported('Attention: Q, K and V must have the same rank');
  const qHeads = node.has('q_num_heads') ? node.int('q_num_heads') : undefined;
  const kvHeads = node.has('kv_num_heads') ? node.int('kv_num_heads') : undefined;
  const QL = layoutOf(qd.shape, qHeads, 'Q');
  const KL = layoutOf(kd.shape, kvHeads, 'K');
  const VL = layoutOf(vd.shape, kvHeads, 'V');
  const { B, H: Hq, S: Sq, D } = QL;
  const Hkv = KL.H;
  const Dv = VL.D;
  if (KL.B !== B || VL.B !== B) unsupported('Attention: Q, K and V batch sizes differ');
  if (KL.D !== D) unsupported(`Attention: Q head size ${D} differs from K head size ${KL.D}`);
  if (VL.H !== Hkv || VL.S !== KL.S) unsupported('Attention: K and V head counts or sequence lengths differ');
  if (Hkv <= 0 || Hq % Hkv !== 0) unsupported(`Attention: q heads ${Hq} is not a multiple of kv heads ${Hkv}`);
  const P = pastKD ? pastKD.shape[2] : 0;
  if (pastKD && pastVD) {
    const okK = pastKD.shape.length === 4 && pastKD.shape[0] === B && pastKD.shape[1] === Hkv && pastKD.shape[3] === D;
    const okV = pastVD.shape.length === 4 && pastVD.shape[0] === B && pastVD.shape[1] === Hkv && pastVD.shape[3] === Dv && pastVD.shape[2] === P;
    if (!okK || !okV) unsupported('Attention: past cache shapes do not match K/V');
    if (pastKD.dtype !== kd.dtype || pastVD.dtype !== vd.dtype) unsupported('Attention: past cache dtypes differ from K/V');
  }
  const T = P + KL.S;
  const scaleV = node.has('scale') ? node.float('scale') : 1 / Math.sqrt(D);
  const softcapV = node.float('softcap', 0);
  const causal = node.int('is_causal', 0) !== 0;
  const mode = node.int('qk_matmul_output_mode', 0);
  if (mode < 0 || mode > 3) unsupported(`Attention: qk_matmul_output_mode must be 0..3, got ${mode}`);
  const wantQk = present(ctx, 3);
  // attn_mask broadcast to [B, Hq, Sq, T] (right-aligned, rank 1..4)
  let maskArgs: ArgRef[] = [];
  let maskLayout: { strides: [number, number, number]; mT: number } | undefined;
  if (maskD) {
    const ms = maskD.shape;
    if (ms.length < 1 || ms.length > 4) unsupported(`Attention: attn_mask must have rank 1 to 4, got [${ms.join(',')}]`);
    const shp = [...new Array<number>(4 - ms.length).fill(1), ...ms];
    const target = [B, Hq, Sq, T];
    for (let d = 0; d < 3; d++) if (shp[d] !== 1 && shp[d] !== target[d]) unsupported(`Attention: attn_mask [${ms.join(',')}] does not broadcast to [${target.join(',')}]`);
    const mTv = shp[3];
    if (mTv > T) unsupported(`Attention: attn_mask last dimension ${mTv} exceeds the total sequence length ${T}`);
    const st = [shp[1] * shp[2] * mTv, shp[2] * mTv, mTv];
    maskLayout = { strides: [shp[0] === 1 ? 0 : st[0], shp[1] === 1 ? 0 : st[1], shp[2] === 1 ? 0 : st[2]], mT: mTv };
    maskArgs = [...maskLayout.strides, mTv].map(a64);
  }
  if (nonpadD && elementCount(nonpadD.shape) !== B) unsupported(`Attention: nonpad_kv_seqlen must have ${B} elements`);

  const qT = dt(qd.dtype), kT = dt(kd.dtype), vT = dt(vd.dtype);
  const acc = [qd.dtype, kd.dtype, vd.dtype].includes('float64') ? 'double' : 'float';
  const yT = dt(ctx.outputs[0]?.dtype ?? qd.dtype);
  const fwd = fwdKernel({
    q: qT, k: kT, v: vT, y: yT, acc,
    mask: maskD ? dt(maskD.dtype) : undefined,
    nonpad: nonpadD ? deviceType(nonpadD.dtype) : undefined,
    causal, softcap: softcapV > 0, hasPast: !!pastKD,
    qkMode: wantQk ? mode : undefined,
  });
  const cacheK = cacheKernel(kT, !!pastKD);
  const cacheV = cacheKernel(vT, !!pastKD);
  // K and V of one storage type: both presents in one launch
  const pairKernel = kT.storage === vT.storage ? cachePairKernel(kT, !!pastKD) : undefined;

  const launches: Launch[] = [];
  const aliases: { output: number; input: number }[] = [];
  const scratch: number[] = [];
  /** a present-cache copy still to launch: [source args, destination, n, Dd, new-part strides] */
  interface CacheCopy { which: 'k' | 'v'; srcs: ArgRef[]; dst: ArgRef; n: number; Dd: number; L: Layout }
  const copies: CacheCopy[] = [];
  // K/V as the forward kernel reads them: [ptr, batch, head, seq strides]
  const kvSource = (which: 'k' | 'v'): { ref: ArgRef; strides: number[] } => {
    const L = which === 'k' ? KL : VL;
    const inIdx = which === 'k' ? 1 : 2;
    const outIdx = which === 'k' ? 1 : 2;
    const Dd = L.D;
    const tBytes = (which === 'k' ? kT : vT).bytes;
    const n = B * Hkv * T * Dd;
    const cacheStrides = [Hkv * T * Dd, T * Dd, Dd];
    const wantOut = present(ctx, outIdx);
    if (!pastKD) {
      if (wantOut) {
        if (kd.shape.length === 4) aliases.push({ output: outIdx, input: inIdx });
        else copies.push({ which, srcs: [{ in: inIdx }], dst: { out: outIdx }, n, Dd, L });
      }
      return { ref: { in: inIdx }, strides: [L.sb, L.sh, L.ss] };
    }
    let dst: ArgRef;
    if (wantOut) dst = { out: outIdx };
    else {
      scratch.push(Math.max(1, n * tBytes));
      dst = { scratch: scratch.length - 1 };
    }
    copies.push({ which, srcs: [{ in: inIdx + 3 }, { in: inIdx }], dst, n, Dd, L });
    return { ref: dst, strides: cacheStrides };
  };
  const ksrc = kvSource('k');
  const vsrc = kvSource('v');
  const P0 = pastKD ? P : 0;
  const ck = copies.find((c) => c.which === 'k');
  const cv = copies.find((c) => c.which === 'v');
  if (ck && cv && pairKernel) {
    const n = ck.n + cv.n;
    if (n > 0) {
      const srcs = pastKD ? [ck.srcs[0], cv.srcs[0], ck.srcs[1], cv.srcs[1]] : [ck.srcs[0], cv.srcs[0]];
      launches.push({
        kernel: pairKernel, ...grid1d(n),
        args: [...srcs, ck.dst, cv.dst, ...[n, ck.n, Hkv, T, P0, ck.Dd, ck.L.sb, ck.L.sh, ck.L.ss, cv.Dd, cv.L.sb, cv.L.sh, cv.L.ss].map(a64)],
      });
    }
  } else {
    for (const c of copies) {
      if (c.n === 0) continue;
      launches.push({ kernel: c.which === 'k' ? cacheK : cacheV, ...grid1d(c.n), args: [...c.srcs, c.dst, ...[c.n, Hkv, T, P0, c.Dd, c.L.sb, c.L.sh, c.L.ss].map(a64)] });
    }
  }

  const yStrides = qd.shape.length === 3 ? [Sq * Hq * Dv, Dv, Hq * Dv] : [Hq * Sq * Dv, Sq * Dv, Dv];
  const rowsWork = B * Hq * Sq;
  const yCount = B * Hq * Sq * Dv;
  const qkCount = wantQk ? B * Hq * Sq * T : 0;
  // fp16/bf16 without a qk output or nonpad lengths: the flash-attention kernels (flash-attention.ts);
  // the generic kernel stays listed as a variant
  let flashVariants: KernelSource[] = [];
  let flashDone = false;
  const yD = ctx.outputs[0]?.dtype ?? qd.dtype;
  if (!wantQk && !nonpadD && qd.dtype === kd.dtype && qd.dtype === vd.dtype && qd.dtype === yD && (qd.dtype === 'float16' || qd.dtype === 'bfloat16')) {
    const problem: FlashProblem = {
      dtype: qd.dtype, B, Hq, Hkv, Sq, Skv: T, D, Dv,
      q: { ref: { in: 0 }, strides: [QL.sb, QL.sh, QL.ss] },
      k: { ref: ksrc.ref, strides: ksrc.strides as [number, number, number] },
      v: { ref: vsrc.ref, strides: vsrc.strides as [number, number, number] },
      o: { ref: { out: 0 }, strides: yStrides as [number, number, number] },
      causal, causalOffset: P, scale: scaleV, softcap: softcapV,
      ...(maskD && maskLayout ? { mask: { ref: { in: 3 }, dtype: maskD.dtype, strides: maskLayout.strides, mT: maskLayout.mT } } : {}),
      scratchBase: scratch.length,
    };
    if (flashAttentionApplies(problem).ok) {
      // on sm_90a, prefill (at least one 64-row query block) runs the wgmma kernel (flash-wgmma.ts), masks
      // included; decode keeps the FA2 kernel (split-KV)
      const fa2 = launchFlashAttention(problem);
      const wgmmaKinds = ctx.arch === 90 && FLASH_WGMMA_HEAD_DIMS.includes(D as FlashWgmmaHeadDim) && D === Dv
        ? flashWgmmaVariants({ dtype: qd.dtype, headDim: D as FlashWgmmaHeadDim, causal, softcap: softcapV > 0, mask: maskD?.dtype })
        : [];
      const useWgmma = wgmmaKinds.length > 0 && Sq >= 64 && flashWgmmaApplies(problem, ctx.arch).ok;
      const plan = useWgmma ? launchFlashWgmma(problem) : fa2;
      flashVariants = [...fa2.variants, ...fa2.launches.map((l) => l.kernel), ...wgmmaKinds];
      if (rowsWork > 0 && yCount > 0) {
        launches.push(...plan.launches);
        scratch.push(...plan.scratch);
      }
      flashDone = true;
    }
  }
  if (!flashDone && rowsWork > 0 && (yCount > 0 || qkCount > 0)) {
    const nblk = B * Hq * Math.ceil(Sq / ROWS);
    const accBytes = acc === 'double' ? 8 : 4;
    const sharedBytes = (ROWS * D + WARPS * ROWS * Dv) * accBytes;
    if (sharedBytes > 48 * 1024) unsupported(`Attention: head sizes ${D}/${Dv} need ${sharedBytes} bytes of shared memory (over 48 KiB)`);
    const args: ArgRef[] = [
      { in: 0 }, ksrc.ref, vsrc.ref,
      ...(maskD ? [{ in: 3 }] : []),
      ...(nonpadD ? [{ in: 6 }] : []),
      { out: 0 },
      ...(wantQk ? [{ out: 3 }] : []),
      ...[B, Hq, Sq, D, Dv, T, Hq / Hkv].map(a64),
      ...[QL.sb, QL.sh, QL.ss].map(a64),
      ...ksrc.strides.map(a64),
      ...vsrc.strides.map(a64),
      ...yStrides.map(a64),
      ...maskArgs,
      a64(P),
      acc === 'double' ? af64(scaleV) : af32(scaleV),
      acc === 'double' ? af64(softcapV) : af32(softcapV),
    ];
    launches.push({
      kernel: fwd,
      grid: [Math.max(1, Math.min(nblk, 1 << 20)), 1, 1],
      block: [THREADS, 1, 1],
      sharedBytes,
      args,
    });
  }
  const used = new Set(launches.map((l) => l.kernel.name));
  // cache kernels are needed when there is a past, or a 3-D present to transpose (else present is a view)
  const cacheNeeded = (o: number) => !!pastKD || (qd.shape.length === 3 && present(ctx, o));
  const paired = cacheNeeded(1) && cacheNeeded(2) && !!pairKernel;
  const all = [fwd, ...(paired ? [pairKernel!] : [...(cacheNeeded(1) ? [cacheK] : []), ...(cacheNeeded(2) ? [cacheV] : [])]), ...flashVariants];
  const variants = all.filter((k, idx, all) => !used.has(k.name) && all.findIndex((x) => x.name === k.name) === idx);
  return { launches, aliases, scratch, variants };
}

registerLowerings({ Attention: { lower: lowerAttention } });
