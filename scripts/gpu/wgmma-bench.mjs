#!/usr/bin/env node
// Writes a standalone CUDA harness (.wg/wgbench.cu) that checks and times the wgmma GEMM kernels
// (src/codegen/ops/gemm-wgmma.ts) against a naive fp32 reference GEMM and the mma.sync kernels of gemm-tc.ts.
//   npx tsc -p tsconfig.json --outDir .wg/dist && node scripts/gpu/wgmma-bench.mjs [distDir] [outFile]
//   nvcc -gencode arch=compute_90a,code=sm_90a -O2 -o .wg/wgbench .wg/wgbench.cu && .wg/wgbench [tsvOut]
import { CK_MACRO, HALF_HELPERS, PREPARE_CASE, distImporter, fillRandSource, kernelTable, writeHarness } from './harness.mjs';

const imp = distImporter(process.argv[2] ?? '.wg/dist');
const outFile = process.argv[3] ?? '.wg/wgbench.cu';
const W = await imp('src/codegen/ops/gemm-wgmma.js');
const T = await imp('src/codegen/ops/gemm-tc.js');
const { PRELUDE } = await imp('src/codegen/prelude.js');

const kernels = kernelTable();
const kref = kernels.kref;
const ROLE = { in0: 0, in1: 1, in2: 2, in3: 3, out0: 4, scratch0: 5 };
const refs = { A: { in: 0 }, B: { in: 1 }, bias: { in: 2 }, residual: { in: 3 }, C: { out: 0 }, workspace: { scratch: 0 } };
const ACT = { none: 0, relu: 1, gelu_erf: 2, gelu_tanh: 3 };

const tmaps = []; // C initializers of TmapDesc
function argC(a) {
  if ('tmap' in a) {
    const t = a.tmap, o = t.of;
    const role = 'in' in o ? ROLE['in' + o.in] : 'out' in o ? ROLE['out' + o.out] : ROLE['scratch' + o.scratch];
    if (t.dims.length !== 3 || t.swizzle !== 128) throw new Error('harness handles 3-D 128B-swizzled maps only');
    tmaps.push(`{${role},${o.byteOffset ?? 0},${t.dtype === 'bfloat16' ? 1 : 0},{${t.dims.join(',')}},{${t.strides.join(',')}},{${t.box.join(',')}}}`);
    return `{3,${tmaps.length - 1},0.f}`;
  }
  if ('in' in a) return `{0,${ROLE['in' + a.in]},0.f}`;
  if ('out' in a) return `{0,${ROLE['out' + a.out]},0.f}`;
  if ('scratch' in a) return `{0,${ROLE['scratch' + a.scratch]},0.f}`;
  if (a.kind === 'i64') return `{1,${a.value}LL,0.f}`;
  if (a.kind === 'f32') return `{2,0,(float)(${a.value})}`;
  throw new Error('arg kind ' + a.kind);
}

const cases = [];
/** impl: 'wgmma' | 'tc'; cfg: tile/splitK (wgmma) or undefined = heuristic */
function addCase(o) {
  const { impl, dtype = 'float16', transA = false, transB = false, batch = 1, M, N, K, ep = { bias: false, act: 'none', residual: false }, alpha = 1, check = true, time = false, label = '', tile, splitK, swap = false, diag, gridAll = false } = o;
  // leading dims default to the row length rounded up to 8 (16-byte rows; odd M/N get padded rows)
  const up8 = (x) => Math.ceil(x / 8) * 8;
  const lda = o.lda ?? up8(transA ? M : K), ldb = o.ldb ?? up8(transB ? K : N), ldc = o.ldc ?? N;
  const sA = o.sA ?? (transA ? K : M) * lda, sB = o.sB ?? (transB ? N : K) * ldb, sC = o.sC ?? M * ldc;
  const shape = { batch, M, N, K, lda, ldb, ldc, strideA: sA, strideB: sB, strideC: sC };
  let L, cfgName;
  if (impl === 'wgmma') {
    const h = W.heuristicWgmmaConfig(M, N, K, batch);
    const cfg = { dtype, transA, transB, epilogue: ep, tile: tile ?? h.tile, splitK: splitK ?? (tile ? false : h.splitK), tma: o.tma ?? (tile ? false : h.tma) };
    if (swap || diag) {
      // test-only kernel with LBO/SBO swapped for MN-major operands: launched with the regular geometry
      L = W.launchWgmmaGemm(shape, cfg, alpha, refs);
      const k = W.wgmmaGemm(cfg, { swapMnDesc: swap, diag });
      L.launches[0] = { ...L.launches[0], kernel: k.main };
    } else L = W.launchWgmmaGemm(shape, cfg, alpha, refs);
    if (gridAll) {
      // TMA kernel without persistence: one block per tile (the kernel's tile loop runs once)
      const tiles = Math.ceil(M / cfg.tile.bm) * Math.ceil(N / cfg.tile.bn) * batch * L.splits;
      L.launches[0] = { ...L.launches[0], grid: [tiles, 1, 1] };
    }
    const t = cfg.tile;
    cfgName = `${cfg.tma ? 'T' : ''}${t.bm}x${t.bn}w${t.wgs}s${t.stages}${cfg.splitK ? `k${L.splits}` : ''}${swap ? 'SWAP' : ''}${diag ? '-' + diag : ''}${gridAll ? '-np' : ''}`;
  } else {
    const h = T.heuristicGemmTile(M, N, K);
    const cfg = { dtype, transA, transB, epilogue: ep, tile: h.tile, splitK: h.splitK };
    L = T.launchTensorCoreGemm(shape, cfg, alpha, refs);
    const t = cfg.tile;
    cfgName = `${t.bm}x${t.bn}x${t.bk}s${t.stages}${cfg.splitK ? `k${L.splits}` : ''}`;
  }
  const ls = L.launches.map((l) => `{${kref(l.kernel)},${l.grid.join(',')},${l.block[0]},${l.sharedBytes ?? 0},${l.args.length},{${l.args.map(argC).join(',')}}}`);
  const ws = L.scratch[0] ?? 0;
  cases.push(`{"${label}","${impl}","${cfgName}",${dtype === 'bfloat16' ? 1 : 0},${+transA},${+transB},${batch},${M},${N},${K},${lda},${ldb},${ldc},${sA},${sB},${sC},${+ep.bias},${ACT[ep.act]},${+ep.residual},(float)(${alpha}),${ws}LL,${ls.length},{${ls.join(',')}},${+check},${+time}}`);
}

const MODE = process.argv[4] ?? 'full'; // 'full' | 'medium' (TMA medium-class stage sweep + its checks only)

// ---------------------------------------------------------------- correctness
const TILES = [
  { bm: 128, bn: 256, wgs: 2, stages: 4 }, { bm: 128, bn: 128, wgs: 2, stages: 6 }, { bm: 64, bn: 128, wgs: 1, stages: 4 },
  { bm: 256, bn: 128, wgs: 2, stages: 4 }, { bm: 64, bn: 64, wgs: 1, stages: 4 }, { bm: 128, bn: 64, wgs: 2, stages: 5 },
  { bm: 64, bn: 256, wgs: 1, stages: 3 },
];
const SHAPES = [
  { M: 127, N: 129, K: 72 }, { M: 300, N: 520, K: 200 }, { M: 1, N: 50, K: 8 }, { M: 257, N: 384, K: 1000, batch: 2, sA: 0 },
  { M: 130, N: 70, K: 136, batch: 3 },
];
if (MODE === 'medium') {
  for (const stages of [3, 4, 5]) for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
    for (const s of SHAPES) addCase({ impl: 'wgmma', tma: true, tile: { bm: 128, bn: 128, wgs: 2, stages }, transA, transB, ...s, label: 'tmalayout' });
  }
  for (const [M, N, K] of [[4096, 4096, 4096], [4096, 768, 3072], [4096, 768, 768], [512, 3072, 768], [512, 2304, 768], [1024, 1024, 1024], [2048, 768, 768]]) {
    for (const stages of [3, 4, 5, 6]) addCase({ impl: 'wgmma', tma: true, tile: { bm: 128, bn: 128, wgs: 2, stages }, M, N, K, check: false, time: true, label: `${M}x${N}x${K}` });
    addCase({ impl: 'wgmma', tma: true, tile: { bm: 128, bn: 256, wgs: 2, stages: 4 }, M, N, K, check: false, time: true, label: `${M}x${N}x${K}` });
  }
} else {
for (const tile of TILES) for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
  for (const s of SHAPES) addCase({ impl: 'wgmma', tile, transA, transB, ...s, label: 'layout' });
}
const EPS = [
  { bias: true, act: 'relu', residual: false }, { bias: false, act: 'gelu_erf', residual: true }, { bias: true, act: 'gelu_tanh', residual: true },
];
for (const dtype of ['float16', 'bfloat16']) for (const transB of [false, true]) for (const ep of EPS) {
  for (const s of [{ M: 200, N: 136, K: 264 }, { M: 64, N: 1000, K: 96, batch: 2, ldc: 1008 }]) {
    addCase({ impl: 'wgmma', dtype, transB, ep, alpha: 0.5, tile: TILES[1], ...s, label: 'epilogue' });
  }
}
for (const dtype of ['float16', 'bfloat16']) for (const transB of [false, true]) {
  for (const s of [{ M: 128, N: 768, K: 3072 }, { M: 37, N: 200, K: 1032, batch: 2 }]) {
    addCase({ impl: 'wgmma', dtype, transB, tile: W.WGMMA_HEURISTIC_TILES.small, splitK: true, ep: EPS[2], alpha: 0.5, ...s, label: 'splitk' });
  }
}
// TMA + warp-specialized variant: every layout and tile class, epilogues, split-K, broadcast batch
const TMA_TILES = [
  { bm: 128, bn: 256, wgs: 2, stages: 4 }, { bm: 128, bn: 128, wgs: 2, stages: 6 }, { bm: 256, bn: 128, wgs: 2, stages: 4 },
  { bm: 64, bn: 128, wgs: 1, stages: 4 }, { bm: 128, bn: 64, wgs: 2, stages: 5 }, { bm: 64, bn: 256, wgs: 1, stages: 3 },
];
for (const tile of TMA_TILES) for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]]) {
  for (const s of SHAPES) addCase({ impl: 'wgmma', tma: true, tile, transA, transB, ...s, label: 'tmalayout' });
}
for (const dtype of ['float16', 'bfloat16']) for (const transB of [false, true]) for (const ep of EPS) {
  for (const s of [{ M: 200, N: 136, K: 264 }, { M: 64, N: 1000, K: 96, batch: 2, ldc: 1008 }]) {
    addCase({ impl: 'wgmma', tma: true, dtype, transB, ep, alpha: 0.5, tile: TILES[0], ...s, label: 'tmaepi' });
  }
}
for (const dtype of ['float16', 'bfloat16']) for (const transB of [false, true]) {
  for (const s of [{ M: 128, N: 768, K: 3072 }, { M: 37, N: 200, K: 1032, batch: 2 }]) {
    addCase({ impl: 'wgmma', tma: true, dtype, transB, tile: TILES[1], splitK: true, ep: EPS[2], alpha: 0.5, ...s, label: 'tmasplitk' });
  }
}
addCase({ impl: 'wgmma', tma: true, tile: TILES[1], transB: false, M: 200, N: 264, K: 136, swap: true, label: 'tmaswap' });
addCase({ impl: 'wgmma', tma: true, tile: TILES[0], M: 1000, N: 1000, K: 512, batch: 3, gridAll: true, label: 'tmanp' });
// heuristic (TMA for the large class) and the cp.async fallback at 4096^3
for (const dtype of ['float16', 'bfloat16']) for (const transB of [false, true]) {
  addCase({ impl: 'wgmma', dtype, transB, M: 4096, N: 4096, K: 4096, label: 'big' });
  addCase({ impl: 'wgmma', dtype, transB, tile: TILES[0], M: 4096, N: 4096, K: 4096, label: 'big' });
}
addCase({ impl: 'wgmma', tile: TILES[1], transB: false, M: 200, N: 264, K: 136, swap: true, label: 'swapdesc' });
addCase({ impl: 'tc', M: 300, N: 520, K: 200, label: 'tc' });

// ---------------------------------------------------------------- timing
const T4 = { M: 4096, N: 4096, K: 4096 };
for (const tma of [true, false]) for (const tile of [TILES[0], { bm: 128, bn: 256, wgs: 2, stages: 3 }, TILES[1], { bm: 128, bn: 128, wgs: 2, stages: 4 }, TILES[3]]) {
  addCase({ impl: 'wgmma', tma, tile, ...T4, check: false, time: true, label: '4096^3' });
}
addCase({ impl: 'wgmma', tma: true, tile: TILES[0], ...T4, gridAll: true, check: false, time: true, label: '4096^3' });
addCase({ impl: 'wgmma', tma: true, tile: TILES[0], transB: true, ...T4, check: false, time: true, label: '4096^3T' });
addCase({ impl: 'wgmma', tma: false, tile: TILES[0], transB: true, ...T4, check: false, time: true, label: '4096^3T' });
for (const diag of ['noload', 'nomma']) addCase({ impl: 'wgmma', tma: true, tile: TILES[0], ...T4, diag, check: false, time: true, label: '4096^3diag' });
addCase({ impl: 'tc', ...T4, check: false, time: true, label: '4096^3' });
addCase({ impl: 'wgmma', dtype: 'bfloat16', ...T4, check: false, time: true, label: '4096^3bf' });
addCase({ impl: 'wgmma', dtype: 'bfloat16', tile: TILES[0], ...T4, check: false, time: true, label: '4096^3bf' });
addCase({ impl: 'wgmma', ...{ M: 8192, N: 8192, K: 8192 }, check: false, time: true, label: '8192^3' });
for (const M of [512, 4096, 16384]) for (const [N, K, transB] of [[2304, 768, false], [768, 768, false], [3072, 768, false], [768, 3072, false], [50257, 768, true]]) {
  const label = `${M}x${N}x${K}${transB ? 'T' : ''}`;
  const h = W.heuristicWgmmaConfig(M, N, K, 1);
  addCase({ impl: 'wgmma', M, N, K, transB, check: false, time: true, label });
  if (h.tma) addCase({ impl: 'wgmma', M, N, K, transB, tile: h.tile, tma: false, check: false, time: true, label });
}


}

// ---------------------------------------------------------------------------------------------------
// host side of the harness (CUDA C++, no generated parts)
const HOST = `
${CK_MACRO}
${fillRandSource('    float f = (float)(x >> 8) * (2.0f / 16777216.0f) - 1.0f;')}
${HALF_HELPERS}
${PREPARE_CASE}
` + String.raw`__device__ float ref_act(float v, int act) {
  if (act == 1) return fmaxf(v, 0.0f);
  if (act == 2) return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
  if (act == 3) return 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  return v;
}
// 16x16 shared-memory tiled fp32 reference; out[b][m][n] = the epilogue result rounded to the dtype
__global__ void ref_gemm(const unsigned short* A, const unsigned short* B, const unsigned short* bias, const unsigned short* R, float* out,
    int bf16, int tA, int tB, long long M, long long N, long long K, long long lda, long long ldb, long long ldc, long long sA, long long sB, long long sC,
    int hasBias, int act, int hasRes, float alpha) {
  __shared__ float As[16][17], Bs[16][17];
  const long long b = blockIdx.z, m = (long long)blockIdx.y * 16 + threadIdx.y, n = (long long)blockIdx.x * 16 + threadIdx.x;
  const unsigned short* Ab = A + b * sA; const unsigned short* Bb = B + b * sB;
  float acc = 0.0f;
  for (long long k0 = 0; k0 < K; k0 += 16) {
    { long long mm = (long long)blockIdx.y * 16 + threadIdx.y, kk = k0 + threadIdx.x;
      As[threadIdx.y][threadIdx.x] = (mm < M && kk < K) ? ldv(Ab, tA ? kk * lda + mm : mm * lda + kk, bf16) : 0.0f; }
    { long long nn = (long long)blockIdx.x * 16 + threadIdx.x, kk = k0 + threadIdx.y;
      Bs[threadIdx.y][threadIdx.x] = (nn < N && kk < K) ? ldv(Bb, tB ? nn * ldb + kk : kk * ldb + nn, bf16) : 0.0f; }
    __syncthreads();
    for (int k = 0; k < 16; k++) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
    __syncthreads();
  }
  if (m >= M || n >= N) return;
  float v = acc * alpha;
  if (hasBias) v += ldv(bias, n, bf16);
  v = ref_act(v, act);
  if (hasRes) v += ldv(R, b * sC + m * ldc + n, bf16);
  v = bf16 ? chm_b2f(chm_f2b(v)) : chm_h2f(chm_f2h(v));
  out[(b * M + m) * N + n] = v;
}
// tensor maps: cuTensorMapEncodeTiled through the runtime's driver entry point (no -lcuda needed)
typedef CUresult (*EncodeTiledFn)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
  const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
static EncodeTiledFn encodeTiled() {
  static EncodeTiledFn fn = nullptr;
  if (!fn) {
    void* p = nullptr; cudaDriverEntryPointQueryResult q;
    CK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &q));
    if (!p || q != cudaDriverEntryPointSuccess) { printf("cuTensorMapEncodeTiled not found\n"); exit(1); }
    fn = (EncodeTiledFn)p;
  }
  return fn;
}
static int countMaps(const Case& c) { int n = 0; for (int li = 0; li < c.nl; li++) for (int i = 0; i < c.l[li].nargs; i++) n += c.l[li].args[i].kind == 3; return n; }
// encodes every tensor-map argument of the case over the given buffers into one device array (128 B each, 256-aligned base)
static char* encodeMaps(const Case& c, void* const* roles) {
  const int n = countMaps(c);
  if (!n) return nullptr;
  std::vector<CUtensorMap> h(n);
  int mi = 0;
  for (int li = 0; li < c.nl; li++) for (int i = 0; i < c.l[li].nargs; i++) {
    const Arg& a = c.l[li].args[i];
    if (a.kind != 3) continue;
    const TmapDesc& d = TMAPS[a.v];
    cuuint64_t dims[3], strides[2]; cuuint32_t box[3], es[3] = {1, 1, 1};
    for (int k = 0; k < 3; k++) { dims[k] = (cuuint64_t)d.dims[k]; box[k] = (cuuint32_t)d.box[k]; }
    for (int k = 0; k < 2; k++) strides[k] = (cuuint64_t)d.strides[k];
    CUresult r = encodeTiled()(&h[mi++], d.bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3, (char*)roles[d.role] + d.off,
      dims, strides, box, es, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS) { printf("cuTensorMapEncodeTiled failed (%d) for case %s %s\n", (int)r, c.label, c.cfg); exit(1); }
  }
  char* dptr; CK(cudaMalloc(&dptr, n * sizeof(CUtensorMap)));
  CK(cudaMemcpy(dptr, h.data(), n * sizeof(CUtensorMap), cudaMemcpyHostToDevice));
  return dptr;
}
static void run(const Case& c, void* const* roles, char* maps) {
  int mi = 0;
  for (int li = 0; li < c.nl; li++) {
    const Launch& L = c.l[li];
    void* vals[24]; void* ptrs[24]; long long iv[24]; float fv[24];
    for (int i = 0; i < L.nargs; i++) {
      const Arg& a = L.args[i];
      if (a.kind == 0) { ptrs[i] = roles[a.v]; vals[i] = &ptrs[i]; }
      else if (a.kind == 3) { ptrs[i] = maps + sizeof(CUtensorMap) * mi++; vals[i] = &ptrs[i]; }
      else if (a.kind == 1) { iv[i] = a.v; vals[i] = &iv[i]; }
      else { fv[i] = a.f; vals[i] = &fv[i]; }
    }
    CK(cudaLaunchKernel(L.fn, dim3(L.gx, L.gy, L.gz), dim3(L.bx), vals, L.smem, 0));
  }
}
static long long spanA(const Case& c) { return (c.batch - 1) * c.sA + (c.transA ? (c.K - 1) * c.lda + c.M : (c.M - 1) * c.lda + c.K); }
static long long spanB(const Case& c) { return (c.batch - 1) * c.sB + (c.transB ? (c.N - 1) * c.ldb + c.K : (c.K - 1) * c.ldb + c.N); }
static long long spanC(const Case& c) { return (c.batch - 1) * c.sC + (c.M - 1) * c.ldc + c.N; }

int main(int argc, char** argv) {
  const char* tsv = argc > 1 ? argv[1] : "wgbench.tsv";
  cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
  printf("device %s, %d SMs, smem/block optin %zu\n", prop.name, prop.multiProcessorCount, prop.sharedMemPerBlockOptin);
  FILE* out = fopen(tsv, "w");
  int fails = 0, checks = 0;
  std::vector<std::string> table;
  for (int ci = 0; ci < NCASES; ci++) {
    const Case& c = CASES[ci];
    prepare(c);
    const long long nA = spanA(c), nB = spanB(c), nC = spanC(c);
    const int sets = c.time ? 3 : 1;
    std::vector<unsigned short*> As(sets), Bs(sets);
    for (int s = 0; s < sets; s++) {
      CK(cudaMalloc(&As[s], nA * 2 + 16)); CK(cudaMalloc(&Bs[s], nB * 2 + 16));
      fill(As[s], nA, 1000u * ci + 2 * s + 1, c.bf16); fill(Bs[s], nB, 1000u * ci + 2 * s + 2, c.bf16);
    }
    unsigned short *bias, *R, *C; float* Wk = nullptr;
    CK(cudaMalloc(&bias, c.N * 2 + 16)); CK(cudaMalloc(&R, nC * 2 + 16)); CK(cudaMalloc(&C, nC * 2 + 16));
    fill(bias, c.N, 1000u * ci + 7, c.bf16); fill(R, nC, 1000u * ci + 8, c.bf16);
    if (c.ws) CK(cudaMalloc(&Wk, c.ws));
    CK(cudaMemset(C, 0xFF, nC * 2));
    void* roles[6] = { As[0], Bs[0], bias, R, C, Wk };
    std::vector<char*> maps(sets);
    for (int s = 0; s < sets; s++) { roles[0] = As[s]; roles[1] = Bs[s]; maps[s] = encodeMaps(c, roles); }
    roles[0] = As[0]; roles[1] = Bs[0];
    if (c.check) {
      run(c, roles, maps[0]); CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      float* ref; const long long nO = c.batch * c.M * c.N;
      CK(cudaMalloc(&ref, nO * 4));
      for (long long b0 = 0; b0 < c.batch; b0 += 65535) {
        dim3 g((unsigned)((c.N + 15) / 16), (unsigned)((c.M + 15) / 16), 1);
        for (long long b = b0; b < c.batch && b < b0 + 65535; b++) {
          ref_gemm<<<g, dim3(16, 16)>>>(As[0] + b * c.sA, Bs[0] + b * c.sB, bias, R + b * c.sC, ref + b * c.M * c.N, c.bf16, c.transA, c.transB, c.M, c.N, c.K,
            c.lda, c.ldb, c.ldc, 0, 0, 0, c.bias, c.act, c.res, c.alpha);
        }
      }
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> hr(nO); std::vector<unsigned short> hc(nC);
      CK(cudaMemcpy(hr.data(), ref, nO * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(hc.data(), C, nC * 2, cudaMemcpyDeviceToHost));
      double e2 = 0, r2 = 0; long long bad = 0, gap = 0;
      for (long long b = 0; b < c.batch; b++) for (long long m = 0; m < c.M; m++) {
        for (long long n = 0; n < c.N; n++) {
          const unsigned short h = hc[b * c.sC + m * c.ldc + n];
          const float o = c.bf16 ? b2f_host(h) : h2f_host(h), r = hr[(b * c.M + m) * c.N + n];
          if (!std::isfinite(o)) { bad++; continue; }
          e2 += (double)(o - r) * (o - r); r2 += (double)r * r;
        }
        if (m < c.M - 1 || b < c.batch - 1) for (long long n = c.N; n < c.ldc; n++) if (hc[b * c.sC + m * c.ldc + n] != 0xFFFF) gap++;
      }
      const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
      const bool ok = bad == 0 && gap == 0 && rel < 2e-3;
      checks++; if (!ok) fails++;
      printf("%s %-8s %-5s %-16s %s tA%d tB%d b%lld M%lld N%lld K%lld ldc%lld ep(b%d a%d r%d) rel=%.2e nan/unwritten=%lld gapwrites=%lld\n", ok ? "PASS" : "FAIL",
        c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", c.transA, c.transB, c.batch, c.M, c.N, c.K, c.ldc, c.bias, c.act, c.res, rel, bad, gap);
      CK(cudaFree(ref));
    }
    if (c.time) {
      const int warm = 3, reps = 30;
      for (int r = 0; r < warm; r++) { roles[0] = As[r % sets]; roles[1] = Bs[r % sets]; run(c, roles, maps[r % sets]); }
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<cudaEvent_t> ev(2 * reps);
      for (auto& e : ev) CK(cudaEventCreate(&e));
      for (int r = 0; r < reps; r++) {
        roles[0] = As[r % sets]; roles[1] = Bs[r % sets];
        CK(cudaEventRecord(ev[2 * r])); run(c, roles, maps[r % sets]); CK(cudaEventRecord(ev[2 * r + 1]));
      }
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> ts(reps);
      for (int r = 0; r < reps; r++) CK(cudaEventElapsedTime(&ts[r], ev[2 * r], ev[2 * r + 1]));
      std::sort(ts.begin(), ts.end());
      const double ms = ts[reps / 2], tf = 2.0 * c.batch * c.M * c.N * c.K / (ms * 1e-3) / 1e12;
      for (auto& e : ev) CK(cudaEventDestroy(e));
      fprintf(out, "%s\t%s\t%s\t%s\t%lld\t%lld\t%lld\t%lld\t%d\t%.4f\t%.1f\n", c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", c.batch, c.M, c.N, c.K, c.transB, ms * 1e3, tf);
      char line[256]; snprintf(line, sizeof line, "%-20s %-5s %-16s %9.1f us %7.1f TFLOP/s (min %.1f us)", c.label, c.impl, c.cfg, ms * 1e3, tf, ts[0] * 1e3);
      table.push_back(line);
    }
    for (int s = 0; s < sets; s++) { CK(cudaFree(As[s])); CK(cudaFree(Bs[s])); }
    for (int s = 0; s < sets; s++) if (maps[s]) CK(cudaFree(maps[s]));
    CK(cudaFree(bias)); CK(cudaFree(R)); CK(cudaFree(C)); if (Wk) CK(cudaFree(Wk));
  }
  fclose(out);
  printf("\n== timings (median of 30, 3 rotating input sets) ==\n");
  for (auto& l : table) printf("%s\n", l.c_str());
  printf("\ncorrectness: %d/%d passed\n", checks - fails, checks);
  return fails ? 2 : 0;
}
`;

// ---------------------------------------------------------------- emit
writeHarness(outFile, {
  generator: 'scripts/gpu/wgmma-bench.mjs', driverApi: true, prelude: PRELUDE, kernels, cases, host: HOST,
  decls: `struct Arg { int kind; long long v; float f; };
struct TmapDesc { int role; long long off; int bf16; long long dims[3]; long long strides[2]; int box[3]; };
static const TmapDesc TMAPS[] = {
${tmaps.length ? tmaps.join(',\n') : '{0,0,0,{1,1,1},{16,16},{1,1,1}}'}
};
struct Launch { const void* fn; unsigned gx, gy, gz, bx; int smem; int nargs; Arg args[24]; };
struct Case { const char* label; const char* impl; const char* cfg; int bf16, transA, transB; long long batch, M, N, K, lda, ldb, ldc, sA, sB, sC; int bias, act, res; float alpha; long long ws; int nl; Launch l[2]; int check, time; };`,
});
