#!/usr/bin/env node
// Writes a standalone CUDA harness (.fa/fabench.cu) that checks and times the wgmma flash-attention kernel
// (src/codegen/ops/flash-wgmma.ts) against a naive fp32 attention reference and the FA2 kernel
// (flash-attention.ts), plus .fa/sdpa.py, which times torch's F.scaled_dot_product_attention at the same
// shapes (with the equivalent bool attn_mask for masked rows) and prints the combined table (ratio to SDPA last).
// Masked cases: bool / float16 / bfloat16 / float32 masks of shape [mB, mH, mS, mT] (mB ∈ {1, B}, mH ∈ {1, Hq},
// mS ∈ {1, Sq}: broadcast strides 0, as attention.ts passes them), filled on the device ('rand': 25 % masked,
// float values in [-3, 3] or -inf; 'rows': rand with every 5th mask row fully masked; 'pad': key padding,
// row r keeps keys j < mT - (37 r mod (mT/2 + 1))); the reference applies the same mask.
//   npx tsc -p tsconfig.json --outDir .fa/dist && node scripts/gpu/flash-bench.mjs [distDir] [outDir]
//   nvcc -gencode arch=compute_90a,code=sm_90a -O2 -o .fa/fabench .fa/fabench.cu
//   (device) .fa/fabench .fa/fabench.tsv && python3 .fa/sdpa.py .fa/fabench.tsv
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = path.resolve(process.argv[2] ?? '.fa/dist');
const outDir = process.argv[3] ?? '.fa';
const imp = (p) => import(pathToFileURL(path.join(dist, p)).href);
const W = await imp('src/codegen/ops/flash-wgmma.js');
const F = await imp('src/codegen/ops/flash-attention.js');
const { PRELUDE } = await imp('src/codegen/prelude.js');

const kernels = new Map(); // name -> { idx, code }
function kref(k) {
  if (!kernels.has(k.name)) kernels.set(k.name, { idx: kernels.size, code: k.code });
  return `(const void*)&chm_k${kernels.get(k.name).idx}::${k.name}`;
}
const ROLE = { in0: 0, in1: 1, in2: 2, out0: 3, scratch0: 4, scratch1: 5, in3: 6 };
const MKIND = { bool: 1, float16: 2, bfloat16: 3, float32: 4 };
const MMODE = { rand: 0, rows: 1, pad: 2 };
function argC(a) {
  if ('in' in a) return `{0,${ROLE['in' + a.in]},0.f}`;
  if ('out' in a) return `{0,${ROLE['out' + a.out]},0.f}`;
  if ('scratch' in a) return `{0,${ROLE['scratch' + a.scratch]},0.f}`;
  if (a.kind === 'i64') return `{1,${a.value}LL,0.f}`;
  if (a.kind === 'f32') return `{2,0,(float)(${a.value})}`;
  throw new Error('arg kind ' + JSON.stringify(a));
}

const cases = [];
function addCase(o) {
  const { impl = 'wg', dtype = 'float16', B, Hq, Hkv = Hq, Sq, Skv = Sq, D, causal = false, softcap = 0, bshd = false, check = true, time = false, tile, label = '', key = '' } = o;
  // mask: { dtype, bcast: [b, h, s] (true: that dim is 1), mT (default Skv), mode }
  const m = o.mask;
  let mdims = [0, 0, 0, 0], mst = [0, 0, 0];
  if (m) {
    const mT = m.mT ?? Skv;
    const [bb, bh, bs] = m.bcast ?? [false, false, false];
    mdims = [bb ? 1 : B, bh ? 1 : Hq, bs ? 1 : Sq, mT];
    mst = [bb ? 0 : mdims[1] * mdims[2] * mT, bh ? 0 : mdims[2] * mT, bs ? 0 : mT];
  }
  const coff = o.coff ?? (causal ? Skv - Sq : 0);
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const st = (H, S) => (bshd ? [S * H * D, D, H * D] : [H * S * D, S * D, D]);
  const p = {
    dtype, B, Hq, Hkv, Sq, Skv, D, causal, causalOffset: coff, scale, ...(softcap ? { softcap } : {}),
    q: { ref: { in: 0 }, strides: st(Hq, Sq) }, k: { ref: { in: 1 }, strides: st(Hkv, Skv) },
    v: { ref: { in: 2 }, strides: st(Hkv, Skv) }, o: { ref: { out: 0 }, strides: st(Hq, Sq) },
    ...(m ? { mask: { ref: { in: 3 }, dtype: m.dtype, strides: mst, mT: mdims[3] } } : {}),
  };
  let L, cfg;
  if (impl === 'wg') {
    const t = tile ?? W.heuristicFlashWgmmaTile(Sq, D);
    L = W.launchFlashWgmma(p, t);
    cfg = `w${t.wgs}n${t.bn}s${t.stages}`;
  } else {
    L = F.launchFlashAttention(p);
    const t = F.heuristicFlashTile(Sq, Skv, D);
    cfg = `q${t.bq}k${t.bkv}w${t.warps}${L.launches.length > 1 ? 'split' : ''}`;
  }
  const ls = L.launches.map((l) => `{${kref(l.kernel)},${l.grid.join(',')},${l.block[0]},${l.sharedBytes ?? 0},${l.args.length},{${l.args.map(argC).join(',')}}}`);
  const s = [...p.q.strides, ...p.k.strides, ...p.v.strides, ...p.o.strides];
  const mdesc = m ? `${m.dtype === 'bool' ? 'b' : m.dtype === 'float32' ? 'f32' : m.dtype === 'float16' ? 'f16' : 'bf16'}[${mdims.map((d, i) => (i < 3 && d === 1 ? '1' : 'BHST'[i])).join('')}${mdims[3] !== Skv ? `:${mdims[3]}` : ''}]${m.mode ?? 'rand'}` : '-';
  cases.push(`{"${label}","${impl}","${cfg}",${dtype === 'bfloat16' ? 1 : 0},${B},${Hq},${Hkv},${Sq},${Skv},${D},${+causal},${coff},(float)(${scale}),(float)(${softcap}),{${s.join(',')}},${L.scratch[0] ?? 0}LL,${L.scratch[1] ?? 0}LL,${ls.length},{${ls.join(',')}},${+check},${+time},${m ? MKIND[m.dtype] : 0},${MMODE[m?.mode ?? 'rand']},{${mdims.join(',')}},{${mst.join(',')}},"${mdesc}","${key}"}`);
}

// ---------------------------------------------------------------- correctness
for (const D of [64, 128]) for (const causal of [false, true]) for (const S of [1, 7, 32, 63, 64, 65, 200, 512, 2048]) {
  addCase({ B: S >= 2048 ? 1 : 2, Hq: 2, Sq: S, D, causal, label: 'basic' });
}
for (const causal of [false, true]) {
  addCase({ B: 2, Hq: 8, Hkv: 2, Sq: 200, D: 128, causal, label: 'gqa' });
  addCase({ B: 1, Hq: 8, Hkv: 1, Sq: 513, D: 64, causal, label: 'gqa' });
  for (const S of [65, 300, 1024]) addCase({ dtype: 'bfloat16', B: 2, Hq: 2, Sq: S, D: 128, causal, label: 'bf16' });
  addCase({ dtype: 'bfloat16', B: 2, Hq: 4, Hkv: 2, Sq: 250, D: 64, causal, label: 'bf16' });
  addCase({ B: 2, Hq: 4, Hkv: 2, Sq: 190, D: 128, causal, bshd: true, label: 'bshd' });
  addCase({ B: 2, Hq: 2, Sq: 333, D: 128, causal, softcap: 3, label: 'softcap' });
  addCase({ B: 2, Hq: 2, Sq: 257, D: 64, causal, scale: 0.3, label: 'scale' });
  addCase({ B: 2, Hq: 2, Sq: 65, Skv: 200, D: 128, causal, label: 'sq<skv' });
  addCase({ B: 2, Hq: 2, Sq: 200, Skv: 65, D: 128, causal, label: 'sq>skv' });
  addCase({ B: 2, Hq: 2, Sq: 1, Skv: 1000, D: 128, causal, label: 'decode' });
  for (const tile of [{ wgs: 2, bn: 64, stages: 4 }, { wgs: 1, bn: 128, stages: 3 }, { wgs: 2, bn: 64, stages: 3 }, { wgs: 1, bn: 64, stages: 5 }]) {
    for (const D of [64, 128]) addCase({ B: 2, Hq: 2, Sq: 300, D, causal, tile, label: 'tiles' });
  }
  addCase({ impl: 'fa2', B: 2, Hq: 2, Sq: 300, D: 128, causal, label: 'fa2' });
}

// ---------------------------------------------------------------- masked correctness
for (const mdt of ['bool', 'float16', 'bfloat16', 'float32']) for (const causal of [false, true]) for (const D of [64, 128]) {
  const dtype = mdt === 'bfloat16' ? 'bfloat16' : 'float16';
  for (const S of [7, 64, 65, 128, 512]) {
    addCase({ dtype, B: 2, Hq: 3, Sq: S, D, causal, mask: { dtype: mdt, bcast: [false, true, false], mode: 'rows' }, label: 'mask' });
  }
  addCase({ dtype, B: 3, Hq: 2, Sq: 200, D, causal, mask: { dtype: mdt, bcast: [false, true, true], mode: 'pad' }, label: 'mask-pad' });
  addCase({ dtype, B: 2, Hq: 2, Sq: 300, D, causal, mask: { dtype: mdt, bcast: [false, false, false], mode: 'rand' }, label: 'mask-bhst' });
}
for (const causal of [false, true]) {
  addCase({ B: 2, Hq: 4, Sq: 129, D: 64, causal, mask: { dtype: 'bool', bcast: [true, true, false], mode: 'rows' }, label: 'mask-11st' });
  addCase({ B: 2, Hq: 4, Sq: 150, D: 64, causal, mask: { dtype: 'float16', bcast: [true, false, true], mode: 'rand' }, label: 'mask-1h1t' });
  addCase({ B: 2, Hq: 2, Sq: 300, D: 64, causal, mask: { dtype: 'bool', mT: 297, mode: 'rand' }, label: 'mask-mT<T' });
  addCase({ B: 2, Hq: 2, Sq: 100, Skv: 300, D: 128, causal, mask: { dtype: 'float32', mT: 260, bcast: [false, true, false], mode: 'rows' }, label: 'mask-sq<skv' });
  addCase({ B: 2, Hq: 8, Hkv: 2, Sq: 257, D: 64, causal, mask: { dtype: 'bool', bcast: [false, true, true], mode: 'pad' }, label: 'mask-gqa' });
  addCase({ B: 2, Hq: 4, Hkv: 2, Sq: 190, D: 128, causal, bshd: true, mask: { dtype: 'float16', mode: 'rows' }, label: 'mask-bshd' });
  addCase({ dtype: 'bfloat16', B: 2, Hq: 2, Sq: 333, D: 128, causal, softcap: 3, mask: { dtype: 'bool', bcast: [false, true, false], mode: 'rows' }, label: 'mask-cap' });
  addCase({ dtype: 'bfloat16', B: 2, Hq: 2, Sq: 333, D: 64, causal, softcap: 3, mask: { dtype: 'float32', mode: 'rand' }, label: 'mask-cap' });
  for (const tile of [{ wgs: 2, bn: 64, stages: 3 }, { wgs: 1, bn: 128, stages: 3 }, { wgs: 1, bn: 64, stages: 3 }, { wgs: 2, bn: 128, stages: 3 }]) {
    addCase({ B: 2, Hq: 2, Sq: 300, D: 64, causal, tile, mask: { dtype: 'bool', mode: 'rows' }, label: 'mask-tiles' });
  }
  addCase({ impl: 'fa2', B: 2, Hq: 3, Sq: 300, D: 64, causal, mask: { dtype: 'bool', bcast: [false, true, false], mode: 'rows' }, label: 'mask-fa2' });
}

// ---------------------------------------------------------------- timing
// (1) unmasked regression rows: B = 16384/S, H = 16, D = 128, S = 2048 (and D = 64)
const timeShapes = [];
for (const S of [2048]) for (const causal of [false, true]) {
  const B = 16384 / S;
  const key = `S${S}c${+causal}`;
  timeShapes.push({ key, B, H: 16, S, D: 128, causal, mask: null });
  addCase({ B, Hq: 16, Sq: S, D: 128, causal, check: false, time: true, label: 'perf', key });
  addCase({ impl: 'fa2', B, Hq: 16, Sq: S, D: 128, causal, check: false, time: true, label: 'perf', key });
  const key64 = `S${S}c${+causal}d64`;
  timeShapes.push({ key: key64, B, H: 16, S, D: 64, causal, mask: null });
  addCase({ B, Hq: 16, Sq: S, D: 64, causal, check: false, time: true, label: 'perf-d64', key: key64 });
  // masked (bool key padding [B,1,1,T]) at S = 2048, D = 64 and 128: wgmma vs FA2 vs SDPA with the mask
  for (const D of [64, 128]) {
    const keym = `S${S}c${+causal}d${D}m`;
    timeShapes.push({ key: keym, B, H: 16, S, D, causal, mask: 'B11T' });
    const mask = { dtype: 'bool', bcast: [false, true, true], mode: 'pad' };
    addCase({ B, Hq: 16, Sq: S, D, causal, mask, check: false, time: true, label: 'perf-mask', key: keym });
    addCase({ impl: 'fa2', B, Hq: 16, Sq: S, D, causal, mask, check: false, time: true, label: 'perf-mask', key: keym });
  }
}
// tile sweep (unmasked) for the heuristic: D = 64 at S = 1024 / 2048 / 4096, D = 128 at S = 128 / 512 / 1024
const SWEEP = { 64: [{ wgs: 1, bn: 64, stages: 3 }, { wgs: 1, bn: 128, stages: 3 }, { wgs: 2, bn: 64, stages: 3 }, { wgs: 2, bn: 128, stages: 4 }],
  128: [{ wgs: 1, bn: 64, stages: 3 }, { wgs: 1, bn: 128, stages: 3 }, { wgs: 2, bn: 64, stages: 3 }, { wgs: 2, bn: 128, stages: 3 }] };
for (const [D, Ss] of [[64, [1024, 2048, 4096]], [128, [128, 512, 1024]]]) for (const S of Ss) for (const causal of [false, true]) {
  const B = Math.max(1, Math.floor((D === 64 ? 16384 : 8192) / S)), H = 16;
  const key = `sw${S}c${+causal}d${D}`;
  timeShapes.push({ key, B, H, S, D, causal, mask: null });
  for (const tile of SWEEP[D]) addCase({ B, Hq: H, Sq: S, D, causal, tile, check: false, time: true, label: 'sweep', key });
}
// (2) GPT-2 (B8 H12 S512 D64, causal + bool key-padding mask) and BERT (B32 H12 S128 D64, bool key padding):
// the heuristic tile, alternative tiles, FA2 with the same mask, the unmasked wgmma kernel; SDPA gets the
// equivalent bool attn_mask (causal folded in) and, for reference, the unmasked (flash) call
const D64TILES = [{ wgs: 2, bn: 128, stages: 3 }, { wgs: 2, bn: 64, stages: 3 }, { wgs: 2, bn: 64, stages: 4 }, { wgs: 1, bn: 128, stages: 3 }, { wgs: 1, bn: 64, stages: 3 }];
for (const [name, B, S, causal] of [['gpt2', 8, 512, true], ['bert', 32, 128, false]]) {
  for (const [mname, bcast] of [['B11T', [false, true, true]], ['B1ST', [false, true, false]]]) {
    const key = `${name}-${mname}`;
    timeShapes.push({ key, B, H: 12, S, D: 64, causal, mask: mname });
    const mask = { dtype: 'bool', bcast, mode: 'pad' };
    addCase({ B, Hq: 12, Sq: S, D: 64, causal, mask, check: true, time: true, label: name, key });
    for (const tile of D64TILES) addCase({ B, Hq: 12, Sq: S, D: 64, causal, mask, tile, check: false, time: true, label: name, key });
    addCase({ impl: 'fa2', B, Hq: 12, Sq: S, D: 64, causal, mask, check: true, time: true, label: name, key });
    addCase({ B, Hq: 12, Sq: S, D: 64, causal, mask: { ...mask, dtype: 'float16' }, check: false, time: true, label: name, key });
    addCase({ impl: 'fa2', B, Hq: 12, Sq: S, D: 64, causal, mask: { ...mask, dtype: 'float16' }, check: false, time: true, label: name, key });
  }
  const key = `${name}-nomask`;
  timeShapes.push({ key, B, H: 12, S, D: 64, causal, mask: null });
  addCase({ B, Hq: 12, Sq: S, D: 64, causal, check: false, time: true, label: name, key });
  for (const tile of D64TILES) addCase({ B, Hq: 12, Sq: S, D: 64, causal, tile, check: false, time: true, label: name, key });
  addCase({ impl: 'fa2', B, Hq: 12, Sq: S, D: 64, causal, check: false, time: true, label: name, key });
}

const HOST = String.raw`
#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { printf("CUDA error %s at line %d: %s\n", cudaGetErrorString(e_), __LINE__, #x); exit(1); } } while (0)
__global__ void fill_rand(unsigned short* p, long long n, unsigned seed, int bf16) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    unsigned x = (unsigned)i * 2654435761u ^ (seed * 0x9E3779B9u) ^ ((unsigned)(i >> 32) * 0x85EBCA6Bu);
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    float f = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;
    p[i] = bf16 ? chm_f2b(f) : chm_f2h(f);
  }
}
// mask element e (row r = e / mT, key j = e % mT); kind 1 bool (bytes), 2 fp16, 3 bf16, 4 fp32
__global__ void fill_mask(void* p, long long n, long long mT, int kind, int mode, unsigned seed) {
  for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n; e += (long long)gridDim.x * blockDim.x) {
    const long long r = e / mT, j = e % mT;
    unsigned x = (unsigned)e * 2654435761u ^ (seed * 0x9E3779B9u);
    x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
    bool keep; float val;
    if (mode == 2) { keep = j < mT - (37 * r) % (mT / 2 + 1); val = 0.0f; }
    else { keep = (x % 100u) >= 25u && !(mode == 1 && r % 5 == 2); val = (float)((x >> 8) & 0xFFFF) * (6.0f / 65536.0f) - 3.0f; }
    if (!keep) val = -INFINITY;
    if (kind == 1) ((unsigned char*)p)[e] = keep ? (unsigned char)(1 + (x >> 28)) : 0;
    else if (kind == 2) ((unsigned short*)p)[e] = chm_f2h(val);
    else if (kind == 3) ((unsigned short*)p)[e] = chm_f2b(val);
    else ((float*)p)[e] = val;
  }
}
__device__ __forceinline__ float ldv(const unsigned short* p, long long i, int bf16) { return bf16 ? chm_b2f(p[i]) : chm_h2f(p[i]); }
// one block (128 threads) per (b, h, i): fp32 scores in shared memory, softmax, then P·V
__global__ void ref_attn(const unsigned short* Q, const unsigned short* K, const unsigned short* V, float* out, int bf16,
    long long Hq, long long Sq, long long Skv, long long D, long long grp, const long long* st, int causal, long long coff, float scale, float cap,
    const void* M, int mk, long long mb, long long mh, long long mi, long long mT) {
  extern __shared__ float sh[];
  float* sc = sh; float* qv = sh + Skv; __shared__ float red[128];
  const long long row = blockIdx.x, i = row % Sq, h = (row / Sq) % Hq, b = row / Sq / Hq, hk = h / grp;
  const int tid = threadIdx.x;
  for (long long d = tid; d < D; d += blockDim.x) qv[d] = ldv(Q, b * st[0] + h * st[1] + i * st[2] + d, bf16);
  __syncthreads();
  float mx = -INFINITY;
  for (long long j = tid; j < Skv; j += blockDim.x) {
    float s = 0.0f;
    for (long long d = 0; d < D; d++) s += qv[d] * ldv(K, b * st[3] + hk * st[4] + j * st[5] + d, bf16);
    s *= scale;
    if (cap > 0.0f) s = cap * tanhf(s / cap);
    if (mk) {
      if (j >= mT) s = -INFINITY;
      else {
        const long long e = b * mb + h * mh + i * mi + j;
        if (mk == 1) s = ((const unsigned char*)M)[e] ? s : -INFINITY;
        else s += mk == 2 ? chm_h2f(((const unsigned short*)M)[e]) : mk == 3 ? chm_b2f(((const unsigned short*)M)[e]) : ((const float*)M)[e];
      }
    }
    if (causal && j > i + coff) s = -INFINITY;
    sc[j] = s; mx = fmaxf(mx, s);
  }
  red[tid] = mx; __syncthreads();
  for (int o = 64; o > 0; o >>= 1) { if (tid < o) red[tid] = fmaxf(red[tid], red[tid + o]); __syncthreads(); }
  mx = red[0]; __syncthreads();
  float sum = 0.0f;
  for (long long j = tid; j < Skv; j += blockDim.x) { const float p = mx == -INFINITY ? 0.0f : expf(sc[j] - mx); sc[j] = p; sum += p; }
  red[tid] = sum; __syncthreads();
  for (int o = 64; o > 0; o >>= 1) { if (tid < o) red[tid] += red[tid + o]; __syncthreads(); }
  sum = red[0];
  for (long long d = tid; d < D; d += blockDim.x) {
    float a = 0.0f;
    for (long long j = 0; j < Skv; j++) a += sc[j] * ldv(V, b * st[6] + hk * st[7] + j * st[8] + d, bf16);
    out[row * D + d] = sum > 0.0f ? a / sum : 0.0f;
  }
}
static float h2f_host(unsigned short h) {
  unsigned s = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023; float v;
  if (e == 0) v = ldexpf((float)m, -24); else if (e == 31) v = m ? NAN : INFINITY; else v = ldexpf((float)(m | 1024), (int)e - 25);
  return s ? -v : v;
}
static float b2f_host(unsigned short h) { unsigned u = (unsigned)h << 16; float f; memcpy(&f, &u, 4); return f; }
static void fill(unsigned short* p, long long n, unsigned seed, int bf16) { if (n > 0) { fill_rand<<<1024, 256>>>(p, n, seed, bf16); CK(cudaGetLastError()); } }
static void run(const Case& c, void* const* roles) {
  for (int li = 0; li < c.nl; li++) {
    const Launch& L = c.l[li];
    void* vals[32]; void* ptrs[32]; long long iv[32]; float fv[32];
    for (int i = 0; i < L.nargs; i++) {
      const Arg& a = L.args[i];
      if (a.kind == 0) { ptrs[i] = roles[a.v]; vals[i] = &ptrs[i]; }
      else if (a.kind == 1) { iv[i] = a.v; vals[i] = &iv[i]; }
      else { fv[i] = a.f; vals[i] = &fv[i]; }
    }
    CK(cudaLaunchKernel(L.fn, dim3(L.gx, L.gy, L.gz), dim3(L.bx), vals, L.smem, 0));
  }
}
int main(int argc, char** argv) {
  const char* tsv = argc > 1 ? argv[1] : "fabench.tsv";
  cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
  printf("device %s, %d SMs, smem/block optin %zu\n", prop.name, prop.multiProcessorCount, prop.sharedMemPerBlockOptin);
  FILE* out = fopen(tsv, "w");
  int fails = 0, checks = 0;
  std::vector<std::string> table;
  for (int ci = 0; ci < NCASES; ci++) {
    const Case& c = CASES[ci];
    for (int i = 0; i < c.nl; i++) if (c.l[i].smem > 48 * 1024) CK(cudaFuncSetAttribute(c.l[i].fn, cudaFuncAttributeMaxDynamicSharedMemorySize, c.l[i].smem));
    const long long* s = c.st;
    const long long nQ = c.B * c.Hq * c.Sq * c.D, nK = c.B * c.Hkv * c.Skv * c.D;
    unsigned short *q, *k, *v, *o; void *w0 = nullptr, *w1 = nullptr, *mbuf = nullptr;
    const long long nM = c.mk ? c.md[0] * c.md[1] * c.md[2] * c.md[3] : 0;
    const int mes = c.mk == 1 ? 1 : c.mk == 4 ? 4 : 2;
    if (c.mk) { CK(cudaMalloc(&mbuf, nM * mes + 16)); if (nM > 0) { fill_mask<<<1024, 256>>>(mbuf, nM, c.md[3], c.mk, c.mmode, 100u * ci + 4); CK(cudaGetLastError()); } }
    CK(cudaMalloc(&q, nQ * 2 + 16)); CK(cudaMalloc(&k, nK * 2 + 16)); CK(cudaMalloc(&v, nK * 2 + 16)); CK(cudaMalloc(&o, nQ * 2 + 16));
    if (c.ws0) CK(cudaMalloc(&w0, c.ws0)); if (c.ws1) CK(cudaMalloc(&w1, c.ws1));
    fill(q, nQ, 100u * ci + 1, c.bf16); fill(k, nK, 100u * ci + 2, c.bf16); fill(v, nK, 100u * ci + 3, c.bf16);
    CK(cudaMemset(o, 0xFF, nQ * 2));
    void* roles[7] = { q, k, v, o, w0, w1, mbuf };
    if (c.check) {
      run(c, roles); CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      const long long rows = c.B * c.Hq * c.Sq;
      float* ref; long long* dst; CK(cudaMalloc(&ref, rows * c.D * 4 + 16)); CK(cudaMalloc(&dst, 12 * 8));
      CK(cudaMemcpy(dst, c.st, 12 * 8, cudaMemcpyHostToDevice));
      const size_t shb = (c.Skv + c.D) * 4;
      if (shb > 48 * 1024) CK(cudaFuncSetAttribute(ref_attn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shb));
      if (rows > 0) ref_attn<<<(unsigned)rows, 128, shb>>>(q, k, v, ref, c.bf16, c.Hq, c.Sq, c.Skv, c.D, c.Hq / c.Hkv, dst, c.causal, c.coff, c.scale, c.cap,
        mbuf, c.mk, c.mst[0], c.mst[1], c.mst[2], c.md[3]);
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> hr(rows * c.D); std::vector<unsigned short> ho(nQ);
      CK(cudaMemcpy(hr.data(), ref, rows * c.D * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(ho.data(), o, nQ * 2, cudaMemcpyDeviceToHost));
      double e2 = 0, r2 = 0, emax = 0; long long bad = 0;
      for (long long b = 0; b < c.B; b++) for (long long h = 0; h < c.Hq; h++) for (long long i = 0; i < c.Sq; i++) for (long long d = 0; d < c.D; d++) {
        const unsigned short x = ho[b * s[9] + h * s[10] + i * s[11] + d];
        const float ov = c.bf16 ? b2f_host(x) : h2f_host(x), r = hr[((b * c.Hq + h) * c.Sq + i) * c.D + d];
        if (!std::isfinite(ov)) { bad++; continue; }
        e2 += (double)(ov - r) * (ov - r); r2 += (double)r * r; emax = fmax(emax, fabs(ov - r));
      }
      const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
      const bool ok = bad == 0 && rel < (c.bf16 ? 1e-2 : 2e-3);
      checks++; if (!ok) fails++;
      printf("%s %-11s %-4s %-12s %s B%lld Hq%lld Hkv%lld Sq%lld Skv%lld D%lld causal%d coff%lld cap%g mask %s rel=%.2e maxabs=%.2e nan/unwritten=%lld\n", ok ? "PASS" : "FAIL",
        c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", c.B, c.Hq, c.Hkv, c.Sq, c.Skv, c.D, c.causal, c.coff, c.cap, c.mdesc, rel, emax, bad);
      CK(cudaFree(ref)); CK(cudaFree(dst));
    }
    if (c.time) {
      // median over reps batches of per back-to-back launches (batches of >= ~300 us, so launch gaps
      // and event overhead do not count for the short kernels)
      const int warm = 5, reps = 15;
      for (int r = 0; r < warm; r++) run(c, roles);
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<cudaEvent_t> ev(2 * reps);
      for (auto& e : ev) CK(cudaEventCreate(&e));
      float t1 = 0.0f;
      CK(cudaEventRecord(ev[0])); run(c, roles); CK(cudaEventRecord(ev[1])); CK(cudaEventSynchronize(ev[1]));
      CK(cudaEventElapsedTime(&t1, ev[0], ev[1]));
      const int per = std::max(1, std::min(50, (int)ceil(0.3 / std::max(1e-3f, t1))));
      for (int r = 0; r < reps; r++) { CK(cudaEventRecord(ev[2 * r])); for (int k = 0; k < per; k++) run(c, roles); CK(cudaEventRecord(ev[2 * r + 1])); }
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> ts(reps);
      for (int r = 0; r < reps; r++) { CK(cudaEventElapsedTime(&ts[r], ev[2 * r], ev[2 * r + 1])); ts[r] /= per; }
      std::sort(ts.begin(), ts.end());
      const double ms = ts[reps / 2];
      const double fl = 4.0 * c.B * c.Hq * (double)c.Sq * c.Skv * c.D * (c.causal ? 0.5 : 1.0);
      const double tf = fl / (ms * 1e-3) / 1e12;
      for (auto& e : ev) CK(cudaEventDestroy(e));
      fprintf(out, "%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%d\t%.4f\t%.1f\t%s\t%s\n", c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", c.B, c.Sq, c.D, c.causal, ms * 1e3, tf, c.mdesc, c.key);
      char line[256]; snprintf(line, sizeof line, "%-10s %-4s %-12s %s B=%-3lld S=%-5lld D=%lld causal=%d mask=%-14s %9.1f us %7.1f TFLOP/s", c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", c.B, c.Sq, c.D, c.causal, c.mdesc, ms * 1e3, tf);
      table.push_back(line);
    }
    CK(cudaFree(q)); CK(cudaFree(k)); CK(cudaFree(v)); CK(cudaFree(o)); if (w0) CK(cudaFree(w0)); if (w1) CK(cudaFree(w1)); if (mbuf) CK(cudaFree(mbuf));
  }
  fclose(out);
  printf("\n== timings (median of 30) ==\n");
  for (auto& l : table) printf("%s\n", l.c_str());
  printf("\ncorrectness: %d/%d passed\n", checks - fails, checks);
  return fails ? 2 : 0;
}
`;

const kcode = [...kernels.entries()].map(([, v]) => `namespace chm_k${v.idx} {\n${v.code}\n}`).join('\n');
const src = `// generated by scripts/gpu/flash-bench.mjs — do not edit
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <vector>
#include <algorithm>
#include <string>
${PRELUDE}
${kcode}
struct Arg { int kind; long long v; float f; };
struct Launch { const void* fn; unsigned gx, gy, gz, bx; int smem; int nargs; Arg args[32]; };
struct Case { const char* label; const char* impl; const char* cfg; int bf16; long long B, Hq, Hkv, Sq, Skv, D; int causal; long long coff; float scale, cap; long long st[12]; long long ws0, ws1; int nl; Launch l[2]; int check, time; int mk, mmode; long long md[4], mst[3]; const char* mdesc; const char* key; };
static const Case CASES[] = {
${cases.join(',\n')}
};
static const int NCASES = ${cases.length};
${HOST}`;
fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'fabench.cu'), src);

const py = `# generated by scripts/gpu/flash-bench.mjs: times torch SDPA at the harness's shapes and prints the combined table
import sys, statistics, torch
import torch.nn.functional as F
rows = [l.rstrip('\\n').split('\\t') for l in open(sys.argv[1]) if l.strip()]
shapes = ${JSON.stringify(timeShapes).replace(/true/g, 'True').replace(/false/g, 'False').replace(/null/g, 'None')}
def pad_mask(B, S, per_row):
    # key padding as the harness fills it ('pad'): mask row r keeps keys j < S - (37 r mod (S/2 + 1))
    R = B * S if per_row else B
    r = torch.arange(R, device='cuda')
    lens = S - (37 * r) % (S // 2 + 1)
    m = torch.arange(S, device='cuda')[None, :] < lens[:, None]
    return m.view(B, 1, S, S) if per_row else m.view(B, 1, 1, S)
def bench(fn, per=20):
    # GPU time: median over 15 replays of a CUDA graph of per calls (no Python dispatch gaps); falls back
    # to batches of per eager calls when capture fails
    for _ in range(5): fn()
    torch.cuda.synchronize()
    try:
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3): fn()
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(per): fn()
        step = g.replay
    except Exception as e:
        print('graph capture failed, eager batches:', e)
        def step():
            for _ in range(per): fn()
    step(); torch.cuda.synchronize()
    ts = []
    for _ in range(15):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); step(); b.record(); torch.cuda.synchronize()
        ts.append(a.elapsed_time(b) / per)
    return statistics.median(ts)
sdpa = {}
extra = []
for sh in shapes:
    key, B, H, S, D, c, mk = sh['key'], sh['B'], sh['H'], sh['S'], sh['D'], sh['causal'], sh['mask']
    q, k, v = (torch.randn(B, H, S, D, device='cuda', dtype=torch.float16) for _ in range(3))
    fl = 4 * B * H * S * S * D * (0.5 if c else 1)
    if mk is None:
        ms = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=c))
    else:
        m = pad_mask(B, S, mk == 'B1ST')
        if c: m = m & torch.ones(S, S, device='cuda', dtype=torch.bool).tril()
        ms = bench(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=m))
        ms0 = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=c))
        extra.append((key, 'bool attn_mask ' + str(tuple(m.shape)), ms, fl / (ms * 1e-3) / 1e12, 'no mask (is_causal)', ms0, fl / (ms0 * 1e-3) / 1e12))
    sdpa[key] = (ms, fl / (ms * 1e-3) / 1e12)
    del q, k, v
print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
for e in extra: print(f"SDPA {e[0]:12} {e[1]:30} {e[2] * 1e3:9.1f} us {e[3]:7.1f} TFLOP/s | {e[4]} {e[5] * 1e3:9.1f} us {e[6]:7.1f} TFLOP/s")
print(f"{'key':12} {'impl':5} {'cfg':12} {'dt':5} {'B':>3} {'S':>5} {'D':>4} {'causal':>6} {'mask':16} {'us':>9} {'TFLOP/s':>8} {'SDPA us':>8} {'SDPA TF':>8} {'ratio':>6}")
for r in rows:
    label, impl, cfg, dt, B, S, D, c, us, tf, mdesc, key = r
    s = sdpa.get(key)
    ratio = f"{float(tf) / s[1]:6.2f}" if s and dt == 'fp16' else '     -'
    print(f"{key:12} {impl:5} {cfg:12} {dt:5} {B:>3} {S:>5} {D:>4} {c:>6} {mdesc:16} {float(us):9.1f} {float(tf):8.1f} {(s[0] * 1e3 if s else 0):8.1f} {(s[1] if s else 0):8.1f} {ratio}")
`;
fs.writeFileSync(path.join(outDir, 'sdpa.py'), py);
console.log(`${outDir}/fabench.cu: ${kernels.size} kernels, ${cases.length} cases`);
