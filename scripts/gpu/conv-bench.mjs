#!/usr/bin/env node
// Writes a standalone CUDA harness (.conv/convbench.cu) that checks and times the implicit-GEMM conv kernels
// (src/codegen/ops/conv-igemm.ts) against a naive fp32 direct conv on the GPU, and times the im2col +
// tensor-core GEMM path (conv-tc.ts) on the same shapes for comparison.
//   npx tsc -p tsconfig.json --outDir /work/main/.conv/dist && node scripts/gpu/conv-bench.mjs [distDir] [outFile]
//   nvcc -gencode arch=compute_90a,code=sm_90a -O2 -o .conv/convbench .conv/convbench.cu && .conv/convbench
import { CK_MACRO, HALF_HELPERS, PREPARE_CASE, distImporter, fillRandSource, kernelTable, writeHarness } from './harness.mjs';

const imp = distImporter(process.argv[2] ?? '.conv/dist');
const outFile = process.argv[3] ?? '.conv/convbench.cu';
const IG = await imp('src/codegen/ops/conv-igemm.js');
const TC = await imp('src/codegen/ops/conv-tc.js');
const { PRELUDE } = await imp('src/codegen/prelude.js');

const kernels = kernelTable();
const kref = kernels.kref;
// buffer roles: 0 x, 1 w, 2 bias, 3 residual, 4 y, 5.. scratch
const refs = { x: { in: 0 }, w: { in: 1 }, bias: { in: 2 }, residual: { in: 3 }, y: { out: 0 } };
function argC(a) {
  const off = a.byteOffset ?? 0;
  if ('in' in a) return `{0,${a.in},0,0.f,${off}LL}`;
  if ('out' in a) return `{0,4,0,0.f,${off}LL}`;
  if ('scratch' in a) return `{0,${5 + a.scratch},0,0.f,${off}LL}`;
  if (a.kind === 'i64') return `{1,0,${a.value}LL,0.f,0LL}`;
  if (a.kind === 'f32') return `{2,0,0,(float)(${a.value}),0LL}`;
  throw new Error('arg kind ' + a.kind);
}
const ACT = { none: 0, relu: 1 };

const cases = [];
/** g: geometry; ep: epilogue; impl 'ig' | 'tc'; force: planConvIgemm's force; count: multiplicity in ResNet-50 */
function addCase(o) {
  const { g, dtype = 'float16', ep = { bias: true, act: 'none', residual: false, actAfterResidual: false }, impl = 'ig', force = {}, check = true, time = false, label, count = 0, group = '' } = o;
  let lowered, cfg;
  if (impl === 'ig') {
    const r = IG.planConvIgemm(dtype, g, ep, refs, force);
    if ('reason' in r) throw new Error(`${label}: ${r.reason}`);
    lowered = r.lowered;
    cfg = `${r.info.mode}/${r.info.tile}${r.info.splits > 1 ? `/k${r.info.splits}` : ''}${r.info.prepW ? '/padW' : ''}`;
  } else {
    if (ep.act !== 'none' || ep.residual) throw new Error('tc path: bias only');
    const tg = { N: g.N, C: g.C, H: g.H, W: g.W, M: g.M, OH: g.P, OW: g.Q, KH: g.R, KW: g.S, sh: g.sh, sw: g.sw, dh: g.dh, dw: g.dw, ph: g.ph, pw: g.pw, bias: ep.bias };
    const r = TC.planConvTc(dtype, tg);
    if ('reason' in r) return; // not handled by the old path: no row
    lowered = r.lowered;
    cfg = `${r.info.path}/${r.info.tileName}${r.info.splitK ? '/sk' : ''}`;
  }
  if (lowered.launches.length > 6) throw new Error(`${label}: ${lowered.launches.length} launches`);
  const scr = [...(lowered.scratch ?? []), 0, 0, 0].slice(0, 3);
  if ((lowered.scratch ?? []).length > 3) throw new Error('too many scratch buffers');
  const ls = lowered.launches.map((l) => {
    if (l.args.length > 32) throw new Error('too many args');
    return `{${kref(l.kernel)},${l.grid.join(',')},${l.block.join(',')},${l.sharedBytes ?? 0},${l.args.length},{${l.args.map(argC).join(',')}}}`;
  });
  const G = [g.N, g.C, g.H, g.W, g.M, g.P, g.Q, g.R, g.S, g.sh, g.sw, g.dh, g.dw, g.ph, g.pw];
  cases.push(`{"${label}","${group}","${impl}","${cfg}",${dtype === 'bfloat16' ? 1 : 0},{${G.join(',')}},${+ep.bias},${ACT[ep.act]},${+ep.residual},${+(ep.actAfterResidual && ep.residual)},{${scr.map((s) => `${s}LL`).join(',')}},${ls.length},{${ls.join(',')}},${+check},${+time},${count}}`);
}

// ResNet-50 (v1.5) convs: [Cin, H (= W), Cout, kernel, stride, pad, count in the model (53 in all)]
const RESNET50 = [
  [3, 224, 64, 7, 2, 3, 1],
  [64, 56, 64, 1, 1, 0, 1], [64, 56, 64, 3, 1, 1, 3], [64, 56, 256, 1, 1, 0, 4], [256, 56, 64, 1, 1, 0, 2],
  [256, 56, 128, 1, 1, 0, 1], [128, 56, 128, 3, 2, 1, 1], [128, 28, 512, 1, 1, 0, 4], [256, 56, 512, 1, 2, 0, 1], [512, 28, 128, 1, 1, 0, 3], [128, 28, 128, 3, 1, 1, 3],
  [512, 28, 256, 1, 1, 0, 1], [256, 28, 256, 3, 2, 1, 1], [256, 14, 1024, 1, 1, 0, 6], [512, 28, 1024, 1, 2, 0, 1], [1024, 14, 256, 1, 1, 0, 5], [256, 14, 256, 3, 1, 1, 5],
  [1024, 14, 512, 1, 1, 0, 1], [512, 14, 512, 3, 2, 1, 1], [512, 7, 2048, 1, 1, 0, 3], [1024, 14, 2048, 1, 2, 0, 1], [2048, 7, 512, 1, 1, 0, 2], [512, 7, 512, 3, 1, 1, 2],
];
if (RESNET50.reduce((a, r) => a + r[6], 0) !== 53) throw new Error('ResNet-50 conv count');
const geom = (n, [c, h, m, k, s, p]) => {
  const o = Math.floor((h + 2 * p - k) / s) + 1;
  return { N: n, C: c, H: h, W: h, M: m, P: o, Q: o, R: k, S: k, sh: s, sw: s, dh: 1, dw: 1, ph: p, pw: p };
};
const name = ([c, h, m, k, s]) => `${c}x${h}->${m} ${k}x${k}/${s}`;

// ---------------------------------------------------------------- correctness + timing on ResNet-50
for (const n of [32, 1]) {
  for (const L of RESNET50) {
    addCase({ g: geom(n, L), label: `B${n} ${name(L)}`, check: true, time: true, count: L[6], group: `rn50-b${n}` });
    addCase({ g: geom(n, L), impl: 'tc', label: `B${n} ${name(L)}`, check: n === 1, time: true, count: L[6], group: `rn50-b${n}` });
  }
}
// fused epilogues on a few ResNet shapes (relu; relu(conv + bias + residual); relu(conv + bias) + residual)
const EPS = [
  { bias: true, act: 'relu', residual: false, actAfterResidual: false },
  { bias: true, act: 'relu', residual: true, actAfterResidual: true },
  { bias: false, act: 'relu', residual: true, actAfterResidual: false },
];
for (const [i, L] of [RESNET50[3], RESNET50[7], RESNET50[19], RESNET50[16]].entries()) {
  for (const n of [32, 1]) addCase({ g: geom(n, L), ep: EPS[(i + n) % 3], label: `ep B${n} ${name(L)}`, group: 'epilogue' });
}
// every tile in both modes (forced), bf16, split-K forced
for (const t of IG.CONV_IGEMM_TILES) {
  addCase({ g: geom(4, RESNET50[2]), force: { tile: t.name }, label: `tile ${t.name} gather`, group: 'tiles' });
  addCase({ g: geom(4, RESNET50[3]), force: { tile: t.name }, label: `tile ${t.name} vec`, group: 'tiles' });
  addCase({ g: geom(2, RESNET50[21]), dtype: 'bfloat16', force: { tile: t.name }, label: `tile ${t.name} bf16`, group: 'tiles' });
}
addCase({ g: geom(3, RESNET50[16]), force: { tile: 'small', splits: 5 }, ep: EPS[1], label: 'splitK 5 gather', group: 'tiles' });
addCase({ g: geom(2, RESNET50[7]), force: { tile: 'small', splits: 3 }, ep: EPS[2], dtype: 'bfloat16', label: 'splitK 3 vec bf16', group: 'tiles' });
addCase({ g: { N: 1, C: 64, H: 7, W: 7, M: 33, P: 7, Q: 7, R: 3, S: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1 }, force: { tile: 'small', splits: 3 }, label: 'splitK 3 odd Y size', group: 'tiles' });
// odd geometries
const odd = [
  ['dilation 2 pad 2', { N: 3, C: 24, H: 17, W: 19, M: 40, P: 17, Q: 19, R: 3, S: 3, sh: 1, sw: 1, dh: 2, dw: 2, ph: 2, pw: 2 }],
  ['asym pads s(2,1) k(2,3)', { N: 2, C: 13, H: 15, W: 9, M: 70, P: 8, Q: 7, R: 2, S: 3, sh: 2, sw: 1, dh: 1, dw: 1, ph: 0, pw: 0 }],
  ['asym pads begin (1,2)', { N: 2, C: 16, H: 11, W: 13, M: 33, P: 11, Q: 14, R: 3, S: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 2 }],
  ['CRS%8!=0 (5x5x5=125)', { N: 3, C: 5, H: 21, W: 20, M: 96, P: 11, Q: 10, R: 5, S: 5, sh: 2, sw: 2, dh: 1, dw: 1, ph: 2, pw: 2 }],
  ['Cin 1, 3x3 (K=9)', { N: 5, C: 1, H: 28, W: 28, M: 32, P: 26, Q: 26, R: 3, S: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 0, pw: 0 }],
  ['conv1d k5 s2', { N: 4, C: 64, H: 1, W: 1000, M: 128, P: 1, Q: 499, R: 1, S: 5, sh: 1, sw: 2, dh: 1, dw: 1, ph: 0, pw: 1 }],
  ['M odd 1x1 s1 odd HW', { N: 3, C: 40, H: 9, W: 7, M: 131, P: 9, Q: 7, R: 1, S: 1, sh: 1, sw: 1, dh: 1, dw: 1, ph: 0, pw: 0 }],
  ['big dilation 4', { N: 2, C: 32, H: 33, W: 33, M: 64, P: 25, Q: 25, R: 3, S: 3, sh: 1, sw: 1, dh: 4, dw: 4, ph: 0, pw: 0 }],
];
for (const [label, g] of odd) {
  addCase({ g, label, group: 'odd' });
  addCase({ g, label: `${label} bf16 ep`, dtype: 'bfloat16', ep: EPS[1], group: 'odd' });
}

// ---------------------------------------------------------------------------------------------------
// host side (CUDA C++, no generated parts)
const HOST = `
${CK_MACRO}
${fillRandSource(`    float f = 0.05f + 0.95f * (float)(x >> 9) * (1.0f / 8388608.0f);   // never zero
    if (x & 1u) f = -f;`)}
${HALF_HELPERS}
${PREPARE_CASE}
` + String.raw`// naive fp32 direct conv + epilogue, one thread per output; result rounded to the dtype
__global__ void ref_conv(const unsigned short* x, const unsigned short* w, const unsigned short* bias, const unsigned short* res, float* out, int bf16,
    long long N, long long C, long long H, long long W, long long M, long long P, long long Q, long long R, long long S,
    long long sh, long long sw, long long dh, long long dw, long long ph, long long pw, int hasBias, int act, int hasRes, int aar) {
  const long long total = N * M * P * Q;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    long long q = i % Q, t = i / Q, p = t % P; t /= P; long long m = t % M, n = t / M;
    float acc = 0.0f;
    for (long long c = 0; c < C; c++) for (long long r = 0; r < R; r++) {
      long long ih = p * sh - ph + r * dh; if (ih < 0 || ih >= H) continue;
      for (long long s = 0; s < S; s++) {
        long long iw = q * sw - pw + s * dw; if (iw < 0 || iw >= W) continue;
        acc += ldv(x, ((n * C + c) * H + ih) * W + iw, bf16) * ldv(w, ((m * C + c) * R + r) * S + s, bf16);
      }
    }
    if (hasBias) acc += ldv(bias, m, bf16);
    if (hasRes && aar) acc += ldv(res, i, bf16);
    if (act == 1) acc = fmaxf(acc, 0.0f);
    if (hasRes && !aar) acc += ldv(res, i, bf16);
    out[i] = bf16 ? chm_b2f(chm_f2b(acc)) : chm_h2f(chm_f2h(acc));
  }
}
static void run(const Case& c, void* const* roles) {
  for (int li = 0; li < c.nl; li++) {
    const Launch& L = c.l[li];
    void* vals[32]; void* ptrs[32]; long long iv[32]; float fv[32];
    for (int i = 0; i < L.nargs; i++) {
      const Arg& a = L.args[i];
      if (a.kind == 0) { ptrs[i] = (char*)roles[a.role] + a.off; vals[i] = &ptrs[i]; }
      else if (a.kind == 1) { iv[i] = a.v; vals[i] = &iv[i]; }
      else { fv[i] = a.f; vals[i] = &fv[i]; }
    }
    CK(cudaLaunchKernel(L.fn, dim3(L.gx, L.gy, L.gz), dim3(L.bx, L.by, L.bz), vals, L.smem, 0));
  }
}
struct Row { std::string group, label, impl, cfg; double us, tf; int count; };
int main() {
  cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
  printf("device %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  int fails = 0, checks = 0;
  std::vector<Row> rows;
  for (int ci = 0; ci < NCASES; ci++) {
    const Case& c = CASES[ci];
    prepare(c);
    const long long* g = c.g;
    const long long N = g[0], C = g[1], H = g[2], W = g[3], M = g[4], P = g[5], Q = g[6], R = g[7], S = g[8];
    const long long nX = N * C * H * W, nW = M * C * R * S, nY = N * M * P * Q;
    unsigned short *x, *w, *bias, *res, *y; void* scr[3] = { nullptr, nullptr, nullptr };
    CK(cudaMalloc(&x, nX * 2 + 16)); CK(cudaMalloc(&w, nW * 2 + 16)); CK(cudaMalloc(&bias, M * 2 + 16));
    CK(cudaMalloc(&res, nY * 2 + 16)); CK(cudaMalloc(&y, nY * 2 + 16));
    for (int s = 0; s < 3; s++) if (c.scr[s]) CK(cudaMalloc(&scr[s], c.scr[s] + 16));
    fill(x, nX, 11u * ci + 1, c.bf16); fill(w, nW, 11u * ci + 2, c.bf16); fill(bias, M, 11u * ci + 3, c.bf16); fill(res, nY, 11u * ci + 4, c.bf16);
    CK(cudaMemset(y, 0xFF, nY * 2));
    for (int s = 0; s < 3; s++) if (scr[s]) CK(cudaMemset(scr[s], 0xFF, c.scr[s]));
    void* roles[8] = { x, w, bias, res, y, scr[0], scr[1], scr[2] };
    if (c.check) {
      run(c, roles); CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      float* ref; CK(cudaMalloc(&ref, nY * 4));
      ref_conv<<<4096, 256>>>(x, w, bias, res, ref, c.bf16, N, C, H, W, M, P, Q, R, S, g[9], g[10], g[11], g[12], g[13], g[14], c.bias, c.act, c.res, c.aar);
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> hr(nY); std::vector<unsigned short> hy(nY);
      CK(cudaMemcpy(hr.data(), ref, nY * 4, cudaMemcpyDeviceToHost));
      CK(cudaMemcpy(hy.data(), y, nY * 2, cudaMemcpyDeviceToHost));
      double e2 = 0, r2 = 0; long long bad = 0;
      for (long long i = 0; i < nY; i++) {
        const float o = c.bf16 ? b2f_host(hy[i]) : h2f_host(hy[i]);
        if (!std::isfinite(o)) { bad++; continue; }
        e2 += (double)(o - hr[i]) * (o - hr[i]); r2 += (double)hr[i] * hr[i];
      }
      const double rel = r2 > 0 ? sqrt(e2 / r2) : sqrt(e2);
      const bool ok = bad == 0 && rel < 2e-3;
      checks++; if (!ok) fails++;
      printf("%s %-10s %-28s %-3s %-18s %s rel=%.2e unwritten/nan=%lld\n", ok ? "PASS" : "FAIL", c.group, c.label, c.impl, c.cfg, c.bf16 ? "bf16" : "fp16", rel, bad);
      CK(cudaFree(ref));
    }
    if (c.time) {
      const int warm = 3, reps = 20;
      for (int r = 0; r < warm; r++) run(c, roles);
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<cudaEvent_t> ev(2 * reps);
      for (auto& e : ev) CK(cudaEventCreate(&e));
      for (int r = 0; r < reps; r++) { CK(cudaEventRecord(ev[2 * r])); run(c, roles); CK(cudaEventRecord(ev[2 * r + 1])); }
      CK(cudaGetLastError()); CK(cudaDeviceSynchronize());
      std::vector<float> ts(reps);
      for (int r = 0; r < reps; r++) CK(cudaEventElapsedTime(&ts[r], ev[2 * r], ev[2 * r + 1]));
      std::sort(ts.begin(), ts.end());
      const double ms = ts[reps / 2], tf = 2.0 * nY * C * R * S / (ms * 1e-3) / 1e12;
      for (auto& e : ev) CK(cudaEventDestroy(e));
      rows.push_back({ c.group, c.label, c.impl, c.cfg, ms * 1e3, tf, c.count });
    }
    CK(cudaFree(x)); CK(cudaFree(w)); CK(cudaFree(bias)); CK(cudaFree(res)); CK(cudaFree(y));
    for (int s = 0; s < 3; s++) if (scr[s]) CK(cudaFree(scr[s]));
  }
  printf("\n== timings (median of 20; ig = implicit GEMM, tc = im2col + gemm_tc) ==\n");
  printf("%-10s %-26s %-3s %-20s %10s %8s %4s\n", "group", "conv", "imp", "config", "us", "TFLOP/s", "cnt");
  for (auto& r : rows) printf("%-10s %-26s %-3s %-20s %10.1f %8.1f %4d\n", r.group.c_str(), r.label.c_str(), r.impl.c_str(), r.cfg.c_str(), r.us, r.tf, r.count);
  for (const char* grp : { "rn50-b32", "rn50-b1" }) for (const char* im : { "ig", "tc" }) {
    double us = 0, fl = 0; int n = 0;
    for (auto& r : rows) if (r.group == grp && r.impl == im) { us += r.us * r.count; fl += r.tf * 1e12 * r.us * 1e-6 * r.count; n += r.count; }
    if (n) printf("SUM %s %s: %d convs, %.1f us, %.1f TFLOP/s\n", grp, im, n, us, fl / (us * 1e-6) / 1e12);
  }
  printf("\ncorrectness: %d/%d passed\n", checks - fails, checks);
  return fails ? 2 : 0;
}
`;

// ---------------------------------------------------------------- emit
writeHarness(outFile, {
  generator: 'scripts/gpu/conv-bench.mjs', prelude: PRELUDE, kernels, cases, host: HOST,
  decls: `struct Arg { int kind; int role; long long v; float f; long long off; };
struct Launch { const void* fn; unsigned gx, gy, gz, bx, by, bz; int smem; int nargs; Arg args[32]; };
struct Case { const char* label; const char* group; const char* impl; const char* cfg; int bf16; long long g[15]; int bias, act, res, aar; long long scr[3]; int nl; Launch l[6]; int check, time, count; };`,
});
