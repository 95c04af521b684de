// Tensor-core Conv (conv-tc.ts): path and tile choices on ResNet-50 shapes, launch well-formedness, kernel
// sets independent of dims (batch 1 vs 32, fallbacks included), and an execution check without a GPU: every
// launch of a plan runs on the host (g++; CUDA built-ins stubbed, every thread of every block enumerated),
// with the tensor-core GEMM replaced by a host GEMM reading exactly the operands the launch names (so the
// im2col index math, padding rows/columns, the ones row, W', chunk offsets, split-K and the bias pass are
// checked), against the reference interpreter's Conv. nvcc compiles every kernel.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import { getKernel, type KernelContext } from '../../src/ref/kernel.js';
import '../../src/ref/kernels/index.js';
import { checkLaunch, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { lowerConvNoIgemm } from '../../src/codegen/ops/conv.js';
import { chooseConvTile, convTcKernels, planConvTc, type ConvTcGeometry, type ConvTcPlanInfo } from '../../src/codegen/ops/conv-tc.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
const str = (v: string): AttrValue => ({ type: 'string', value: v });

type F16 = 'float16' | 'bfloat16';

interface ConvCase {
  name: string;
  dtype: F16;
  x: number[];
  w: number[];
  bias: boolean;
  attrs: Record<string, AttrValue>;
}

function nodeOf(c: ConvCase): Node {
  return new Node({ op: 'Conv', inputs: c.bias ? ['x', 'w', 'b'] : ['x', 'w'], outputs: ['y'], attrs: c.attrs });
}

/** values k/64, |k| ≤ 127: exact in fp16 and bf16; products and sums of a few hundred stay exact in fp32 */
function exactTensor(dtype: F16, shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0;
  const vals = Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return ((s >>> 8) % 255 - 127) / 64;
  });
  return Tensor.from(dtype, shape, vals);
}

function refConv(node: Node, ins: Tensor[]): Tensor {
  const kernel = getKernel('Conv')!;
  const ctx: KernelContext = {
    node, opset: 22, inputs: ins,
    input: (i) => ins[i],
    optionalInput: (i) => ins[i],
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m) => { throw new Error(`Conv: ${m}`); },
  };
  return kernel(ctx)[0] as Tensor;
}

function lowerConvCase(c: ConvCase, outShape: number[]): Lowered {
  const ins: TensorDesc[] = [{ dtype: c.dtype, shape: c.x }, { dtype: c.dtype, shape: c.w }];
  if (c.bias) ins.push({ dtype: c.dtype, shape: [c.w[0]] });
  // the im2col path without the implicit GEMM (conv-igemm.ts takes these shapes first in the registered lowering)
  return lowerConvNoIgemm({ node: nodeOf(c), inputs: ins, outputs: [{ dtype: c.dtype, shape: outShape }], hostValue: () => undefined });
}

const kernelNames = (l: Lowered): string[] => [...new Set([...l.launches.map((x) => x.kernel.name), ...(l.variants ?? []).map((k) => k.name)])].sort();
const families = (l: Lowered): string[] => l.launches.map((x) => x.kernel.family);

function checkAll(l: Lowered, inputs: number): void {
  for (const x of l.launches) expect(checkLaunch(x, { inputs, outputs: 1, scratch: l.scratch?.length ?? 0 })).toEqual([]);
  // a launched kernel is not repeated among the variants
  const launched = new Set(l.launches.map((x) => x.kernel.name));
  for (const k of l.variants ?? []) expect(launched.has(k.name)).toBe(false);
}

// ResNet-50 convs: [Cin, H (= W), Cout, kernel, stride, pad]
const RESNET50: [number, number, number, number, number, number][] = [
  [3, 224, 64, 7, 2, 3],
  [64, 56, 64, 1, 1, 0], [64, 56, 64, 3, 1, 1], [64, 56, 256, 1, 1, 0], [256, 56, 64, 1, 1, 0],
  [256, 56, 128, 1, 1, 0], [128, 56, 128, 3, 2, 1], [128, 28, 512, 1, 1, 0], [256, 56, 512, 1, 2, 0], [512, 28, 128, 1, 1, 0], [128, 28, 128, 3, 1, 1],
  [512, 28, 256, 1, 1, 0], [256, 28, 256, 3, 2, 1], [256, 14, 1024, 1, 1, 0], [512, 28, 1024, 1, 2, 0], [1024, 14, 256, 1, 1, 0], [256, 14, 256, 3, 1, 1],
  [1024, 14, 512, 1, 1, 0], [512, 14, 512, 3, 2, 1], [512, 7, 2048, 1, 1, 0], [1024, 14, 2048, 1, 2, 0], [2048, 7, 512, 1, 1, 0], [512, 7, 512, 3, 1, 1],
];

function resnetCase(dtype: F16, n: number, [c, h, m, k, s, p]: (typeof RESNET50)[number], bias: boolean): { c: ConvCase; out: number[]; geom: ConvTcGeometry } {
  const o = Math.floor((h + 2 * p - k) / s) + 1;
  return {
    c: { name: `${c}x${h}->${m} k${k}s${s}`, dtype, x: [n, c, h, h], w: [m, c, k, k], bias, attrs: { kernel_shape: ints([k, k]), strides: ints([s, s]), pads: ints([p, p, p, p]) } },
    out: [n, m, o, o],
    geom: { N: n, C: c, H: h, W: h, M: m, OH: o, OW: o, KH: k, KW: k, sh: s, sw: s, dh: 1, dw: 1, ph: p, pw: p, bias },
  };
}

describe('conv-tc plans', () => {
  it('ResNet-50 layers at batch 1 and 32: well-formed, tensor-core paths, one kernel set per dtype and bias presence', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) for (const bias of [true, false]) {
      let set: string[] | undefined;
      for (const n of [1, 32]) for (const L of RESNET50) {
        const { c, out } = resnetCase(dtype, n, L, bias);
        const l = lowerConvCase(c, out);
        checkAll(l, bias ? 3 : 2);
        expect(families(l).some((f) => f.startsWith('gemm_tc'))).toBe(true);
        expect(families(l).some((f) => f === 'conv')).toBe(false);
        const names = kernelNames(l);
        if (!set) set = names;
        expect(names).toEqual(set);
      }
    }
  });

  it('chooses the direct path, im2col with a ones row, the bias pass and K padding as documented', () => {
    const info = (n: number, L: (typeof RESNET50)[number], bias = true): ConvTcPlanInfo => {
      const r = planConvTc('float16', resnetCase('float16', n, L, bias).geom);
      if ('reason' in r) throw new Error(r.reason);
      return r.info;
    };
    // stem: K = 3·7·7 = 147, + ones row → 152; W' built
    expect(info(32, RESNET50[0])).toMatchObject({ path: 'im2col', K: 147, Kp: 152, prepW: true, ones: true, ldb: 12544, chunk: 32, chunks: 1 });
    // 1×1 256→64 with bias: direct + bias pass (Cout ≤ Cin)
    expect(info(32, RESNET50[4])).toMatchObject({ path: 'direct', Kp: 256, prepW: false, biasPass: true });
    // 1×1 64→256 with bias: im2col (a copy) with the ones row: K 64 → 72
    expect(info(32, RESNET50[3])).toMatchObject({ path: 'im2col', Kp: 72, ones: true, biasPass: false });
    // without bias the 1×1 stride-1 convs with H·W % 8 == 0 read X in place
    expect(info(32, RESNET50[3], false)).toMatchObject({ path: 'direct', Kp: 64, prepW: false, biasPass: false });
    // 7×7 maps (H·W = 49) cannot be the GEMM's B in place: im2col with ldb = 56
    expect(info(32, RESNET50[21], false)).toMatchObject({ path: 'im2col', Kp: 2048, ldb: 56, prepW: false });
    // 3×3 layer-1 conv without bias: K = 576, used in place
    expect(info(32, RESNET50[2], false)).toMatchObject({ path: 'im2col', K: 576, Kp: 576, prepW: false });
    // small problems split K
    expect(info(1, RESNET50[22])).toMatchObject({ splitK: true });
    expect(info(32, RESNET50[22]).splitK).toBe(false);
  });

  it('tile choice follows the cost model', () => {
    expect(chooseConvTile(32, 64, 3136, 584).name).toBe('small');
    expect(chooseConvTile(32, 512, 49, 4608).name).toBe('tall');
    expect(chooseConvTile(32, 2048, 3136, 512).name).toBe('large');
    expect(chooseConvTile(1, 512, 49, 4608).name).toBe('small-splitk');
    expect(chooseConvTile(4, 8, 1000, 64).name).toBe('decode');
  });

  it('chunks the batch to the scratch budget and falls back beyond it with the same kernel set', () => {
    const g = resnetCase('float16', 32, RESNET50[2], true).geom;
    const r = planConvTc('float16', g, 32 * 1024 * 1024);
    if ('reason' in r) throw new Error(r.reason);
    const colImg = r.info.Kp * r.info.ldb * 2;
    expect(r.info.chunk).toBe(Math.floor(32 * 1024 * 1024 / colImg));
    expect(r.info.chunks).toBe(Math.ceil(32 / r.info.chunk));
    expect(r.lowered.scratch![0]).toBe(r.info.chunk * colImg);
    expect(r.lowered.launches.filter((l) => l.kernel.family === 'conv_im2col').length).toBe(r.info.chunks);
    // an image whose col exceeds 256 MiB: the existing kernel runs, the kernel set is unchanged
    const huge = lowerConvCase({ name: 'huge', dtype: 'float16', x: [1, 64, 1500, 1500], w: [64, 64, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } }, [1, 64, 1500, 1500]);
    const small = lowerConvCase({ name: 'small', dtype: 'float16', x: [2, 64, 15, 15], w: [64, 64, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } }, [2, 64, 15, 15]);
    checkAll(huge, 3);
    expect(families(huge)).toEqual(['conv']);
    expect(families(small)).not.toContain('conv');
    expect(kernelNames(huge)).toEqual(kernelNames(small));
    // empty batch: no launches, same kernel set
    const empty = lowerConvCase({ name: 'empty', dtype: 'float16', x: [0, 64, 15, 15], w: [64, 64, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } }, [0, 64, 15, 15]);
    expect(empty.launches).toEqual([]);
    expect(kernelNames(empty)).toEqual(kernelNames(small));
  });

  it('leaves grouped, float32 and 3-D convs to the existing kernels', () => {
    const dw = lowerConvCase({ name: 'dw', dtype: 'float16', x: [1, 8, 9, 9], w: [8, 1, 3, 3], bias: false, attrs: { group: int(8), pads: ints([1, 1, 1, 1]) } }, [1, 8, 9, 9]);
    expect(families(dw)).toEqual(['conv']);
    expect((dw.variants ?? []).some((k) => k.family.startsWith('gemm_tc') || k.family.startsWith('conv_'))).toBe(false);
    const f32 = lowerConvNoIgemm({ node: new Node({ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: {} }), inputs: [{ dtype: 'float32', shape: [1, 8, 9, 9] }, { dtype: 'float32', shape: [16, 8, 1, 1] }], outputs: [{ dtype: 'float32', shape: [1, 16, 9, 9] }], hostValue: () => undefined });
    expect(families(f32)).toEqual(['conv']);
    const c3 = lowerConvCase({ name: '3d', dtype: 'float16', x: [1, 8, 4, 4, 4], w: [16, 8, 1, 1, 1], bias: false, attrs: {} }, [1, 16, 4, 4, 4]);
    expect(families(c3)).toEqual(['conv']);
  });
});

// ---------------------------------------------------------------------------------------------------
// host execution

const gppOk = spawnSync('g++', ['--version']).status === 0;

const SHIM = `#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>
struct chm_d3 { unsigned x, y, z; };
static chm_d3 blockIdx, threadIdx, blockDim, gridDim;
struct uint4 { unsigned x, y, z, w; };
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
static inline float chm_h2f(unsigned short h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023; double v;
  if (e == 31) v = m ? NAN : INFINITY; else if (e == 0) v = ldexp((double)m, -24); else v = ldexp(1024.0 + m, e - 25);
  return (float)(s ? -v : v);
}
static inline float chm_b2f(unsigned short h) { unsigned u = ((unsigned)h) << 16; float f; memcpy(&f, &u, 4); return f; }
/* float -> half, round to nearest even, saturating finite values like the device prelude */
static inline unsigned short chm_f2h(float f) {
  if (f != f) return 0x7e00;
  unsigned short s = signbit(f) ? 0x8000 : 0;
  double a = fabs((double)f);
  if (isinf(a)) return s | 0x7c00;
  if (a > 65504.0) a = 65504.0;
  if (a == 0) return s;
  int e = ilogb(a); if (e < -14) e = -14;
  double q = ldexp(1.0, e - 10);
  double r = nearbyint(a / q) * q;
  if (r > 65504.0) r = 65504.0;
  if (r < ldexp(1.0, -14)) return s | (unsigned short)nearbyint(r / ldexp(1.0, -24));
  int er = ilogb(r);
  return s | (unsigned short)((er + 15) << 10) | (unsigned short)(r / ldexp(1.0, er - 10) - 1024);
}
static inline unsigned short chm_f2b(float f) {
  if (f != f) return 0x7fc0;
  if (isfinite(f)) f = fminf(fmaxf(f, -3.3895313892515355e38f), 3.3895313892515355e38f);
  unsigned u; memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}
static std::vector<unsigned char> rd(const char* f) {
  FILE* fp = fopen(f, "rb"); std::vector<unsigned char> v;
  if (!fp) { fprintf(stderr, "missing %s\\n", f); exit(2); }
  fseek(fp, 0, SEEK_END); long n = ftell(fp); fseek(fp, 0, SEEK_SET); v.resize(n + 16);
  if (n && fread(v.data(), 1, n, fp) != (size_t)n) exit(3); fclose(fp); return v;
}
static void wr(const char* f, const std::vector<unsigned char>& v, size_t n) { FILE* fp = fopen(f, "wb"); fwrite(v.data(), 1, n, fp); fclose(fp); }
typedef long long ll;
/* the tensor-core GEMM's contract (gemm-tc.ts), computed on the host: C[b] = alpha·A[b]·B[b], fp32 accumulation */
static void emu_gemm(int bf, const unsigned short* A, const unsigned short* B, unsigned short* C, ll M, ll N, ll K, ll lda, ll ldb, ll ldc, ll sA, ll sB, ll sC, ll batch, float alpha) {
  for (ll b = 0; b < batch; b++) for (ll m = 0; m < M; m++) for (ll n = 0; n < N; n++) {
    float acc = 0.0f;
    for (ll k = 0; k < K; k++) {
      unsigned short a = A[b * sA + m * lda + k], x = B[b * sB + k * ldb + n];
      acc += (bf ? chm_b2f(a) : chm_h2f(a)) * (bf ? chm_b2f(x) : chm_h2f(x));
    }
    acc *= alpha;
    C[b * sC + m * ldc + n] = bf ? chm_f2b(acc) : chm_f2h(acc);
  }
}
static void emu_gemm_splitk(int bf, const unsigned short* A, const unsigned short* B, float* W, ll M, ll N, ll K, ll lda, ll ldb, ll sA, ll sB, ll batch, ll splits, ll kPer) {
  for (ll b = 0; b < batch; b++) for (ll s = 0; s < splits; s++) {
    ll k0 = s * kPer, k1 = k0 + kPer < K ? k0 + kPer : K;
    for (ll m = 0; m < M; m++) for (ll n = 0; n < N; n++) {
      float acc = 0.0f;
      for (ll k = k0; k < k1; k++) {
        unsigned short a = A[b * sA + m * lda + k], x = B[b * sB + k * ldb + n];
        acc += (bf ? chm_b2f(a) : chm_h2f(a)) * (bf ? chm_b2f(x) : chm_h2f(x));
      }
      W[((b * splits + s) * M + m) * N + n] = acc;
    }
  }
}
`;

function f16bits(v: number): number {
  if (v === 0) return Object.is(v, -0) ? 0x8000 : 0;
  const s = v < 0 ? 0x8000 : 0;
  const a = Math.abs(v);
  const e = Math.floor(Math.log2(a));
  if (e < -14 || e > 15) throw new Error(`f16bits: ${v} not a normal half`);
  const m = a / 2 ** e * 1024 - 1024;
  if (!Number.isInteger(m)) throw new Error(`f16bits: ${v} not exact`);
  return s | ((e + 15) << 10) | m;
}
function f16val(h: number): number {
  const s = h >> 15 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}
function bf16bits(v: number): number {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0];
  if (u & 0xffff) throw new Error(`bf16bits: ${v} not exact`);
  return u >>> 16;
}
function bf16val(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0];
}

function bitsOf(t: Tensor): Buffer {
  const enc = t.dtype === 'float16' ? f16bits : bf16bits;
  const u = new Uint16Array(t.size);
  for (let i = 0; i < t.size; i++) u[i] = enc(t.getNumber(i));
  return Buffer.from(u.buffer);
}

interface HostCase { name: string; dtype: F16; inputs: Tensor[]; lowered: Lowered; outShape: number[] }

/** Runs every case's launches in order on the host; returns each case's output values. */
function runOnHost(cases: HostCase[]): number[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-convtc-'));
  const kernels = new Map<string, KernelSource>();
  const body: string[] = [];
  cases.forEach((c, ci) => {
    const bf = c.dtype === 'bfloat16' ? 1 : 0;
    body.push(`{ // ${c.name}`);
    c.inputs.forEach((t, i) => {
      fs.writeFileSync(path.join(dir, `c${ci}_in${i}.bin`), bitsOf(t));
      body.push(`  std::vector<unsigned char> in${i} = rd("${dir}/c${ci}_in${i}.bin");`);
    });
    const outBytes = c.outShape.reduce((a, b) => a * b, 1) * 2;
    // NaN bit patterns everywhere: anything read before it is written shows up in the output
    body.push(`  std::vector<unsigned char> out0(${outBytes + 16}, 0xff);`);
    (c.lowered.scratch ?? []).forEach((s, i) => body.push(`  std::vector<unsigned char> scr${i}(${s + 16}, 0xff);`));
    for (const l of c.lowered.launches) {
      const args = l.args.map((a, i) => {
        const p = l.kernel.params[i];
        const cast = `(${p.readonly ? 'const ' : ''}${p.elem ?? 'void'}*)`;
        const off = 'byteOffset' in a && a.byteOffset ? ` + ${a.byteOffset}` : '';
        if ('in' in a) return `${cast}(in${a.in}.data()${off})`;
        if ('out' in a) return `${cast}(out${a.out}.data()${off})`;
        if ('scratch' in a) return `${cast}(scr${a.scratch}.data()${off})`;
        if (a.kind === 'i64') return `(ll)${a.value}LL`;
        if (a.kind === 'i32') return `(int)${a.value}`;
        if (a.kind === 'f32') return `(float)${a.value.toPrecision(9)}`;
        throw new Error(`host run: argument kind ${a.kind}`);
      });
      if (l.kernel.family === 'gemm_tc') { body.push(`  emu_gemm(${bf}, ${args.join(', ')});`); continue; }
      if (l.kernel.family === 'gemm_tc_splitk') { body.push(`  emu_gemm_splitk(${bf}, ${args.join(', ')});`); continue; }
      kernels.set(l.kernel.name, l.kernel);
      const [gx, gy, gz] = l.grid, [bx, by, bz] = l.block;
      body.push(`  gridDim = {${gx}u, ${gy}u, ${gz}u}; blockDim = {${bx}u, ${by}u, ${bz}u};`,
        `  for (unsigned z = 0; z < ${gz}u; z++) for (unsigned y = 0; y < ${gy}u; y++) for (unsigned x = 0; x < ${gx}u; x++)`,
        `    for (unsigned tz = 0; tz < ${bz}u; tz++) for (unsigned ty = 0; ty < ${by}u; ty++) for (unsigned tx = 0; tx < ${bx}u; tx++) {`,
        `      blockIdx = {x, y, z}; threadIdx = {tx, ty, tz};`,
        `      k_${l.kernel.name}::${l.kernel.name}(${args.join(', ')});`,
        `    }`);
    }
    body.push(`  wr("${dir}/c${ci}_out.bin", out0, ${outBytes});`, '}');
  });
  const src = `${SHIM}\n${[...kernels.values()].map((k) => `namespace k_${k.name} {\n${k.code}\n}`).join('\n')}\nint main() {\n${body.join('\n')}\n  return 0;\n}\n`;
  fs.writeFileSync(path.join(dir, 'main.cpp'), src);
  const cc = spawnSync('g++', ['-O1', '-w', '-fno-strict-aliasing', '-ffp-contract=off', '-o', path.join(dir, 'main'), path.join(dir, 'main.cpp')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`g++ failed:\n${cc.stderr.slice(0, 4000)}`);
  const ex = spawnSync(path.join(dir, 'main'), [], { encoding: 'utf8' });
  if (ex.status !== 0) throw new Error(`host run failed (${ex.status}): ${ex.stderr}`);
  const res = cases.map((c, ci) => {
    const raw = fs.readFileSync(path.join(dir, `c${ci}_out.bin`));
    const u = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
    const dec = c.dtype === 'float16' ? f16val : bf16val;
    return Array.from(u, dec);
  });
  fs.rmSync(dir, { recursive: true, force: true });
  return res;
}

const HOST_CASES: ConvCase[] = [
  { name: 'stem 7x7 s2 p3 Cin=3 bias (K 147 → 152)', dtype: 'float16', x: [2, 3, 9, 11], w: [16, 3, 7, 7], bias: true, attrs: { strides: ints([2, 2]), pads: ints([3, 3, 3, 3]) } },
  { name: '3x3 p1 bias, Cout ≤ 16 (decode tile)', dtype: 'bfloat16', x: [3, 4, 6, 7], w: [6, 4, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } },
  { name: '1x1 direct', dtype: 'float16', x: [2, 16, 4, 4], w: [24, 16, 1, 1], bias: false, attrs: {} },
  { name: '1x1 direct + bias pass', dtype: 'bfloat16', x: [2, 16, 2, 4], w: [8, 16, 1, 1], bias: true, attrs: {} },
  { name: '1x1 H·W % 8 != 0, bias (im2col copy + ones row)', dtype: 'float16', x: [2, 8, 3, 3], w: [24, 8, 1, 1], bias: true, attrs: {} },
  { name: '1x1 stride 2', dtype: 'float16', x: [2, 8, 7, 7], w: [32, 8, 1, 1], bias: false, attrs: { strides: ints([2, 2]) } },
  { name: '3x2 dilation [2,1] strides [1,2] SAME_UPPER (K 48 in place)', dtype: 'bfloat16', x: [2, 8, 9, 7], w: [20, 8, 3, 2], bias: false, attrs: { dilations: ints([2, 1]), strides: ints([1, 2]), auto_pad: str('SAME_UPPER') } },
  { name: '2x3 asymmetric pads strides [2,1] bias', dtype: 'float16', x: [2, 5, 8, 6], w: [17, 5, 2, 3], bias: true, attrs: { pads: ints([0, 2, 1, 0]), strides: ints([2, 1]) } },
  { name: 'conv1d k5 s2 pads [2,1] bias', dtype: 'float16', x: [2, 6, 20], w: [12, 6, 5], bias: true, attrs: { strides: ints([2]), pads: ints([2, 1]) } },
  { name: 'split-K 3x3 (B1, K 288 → 296)', dtype: 'bfloat16', x: [1, 32, 4, 4], w: [40, 32, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } },
  { name: 'Cout 130, 3x3 no bias K 72', dtype: 'float16', x: [2, 8, 5, 5], w: [130, 8, 3, 3], bias: false, attrs: { pads: ints([1, 1, 1, 1]) } },
];

describe('conv-tc launches executed on the host (g++)', () => {
  it.skipIf(!gppOk)(`match the reference Conv${gppOk ? '' : ' (skipped: g++ not found)'}`, () => {
    const hostCases: HostCase[] = [];
    const expected: Tensor[] = [];
    const paths: string[] = [];
    HOST_CASES.forEach((c, i) => {
      const node = nodeOf(c);
      const inputs = [exactTensor(c.dtype, c.x, 11 + i), exactTensor(c.dtype, c.w, 101 + i)];
      if (c.bias) inputs.push(exactTensor(c.dtype, [c.w[0]], 1001 + i));
      const ref = refConv(node, inputs);
      const lowered = lowerConvCase(c, [...ref.shape]);
      checkAll(lowered, inputs.length);
      expect(families(lowered)).not.toContain('conv');
      paths.push(`${c.name}: ${families(lowered).join(' ')}`);
      hostCases.push({ name: c.name, dtype: c.dtype, inputs, lowered, outShape: [...ref.shape] });
      expected.push(ref);
    });
    // chunking: a budget of two images' col → chunks of 2, 2, 1 (offsets into X and Y)
    {
      const c: ConvCase = { name: 'chunked 3x3 bias', dtype: 'float16', x: [5, 3, 5, 5], w: [16, 3, 3, 3], bias: true, attrs: { pads: ints([1, 1, 1, 1]) } };
      const inputs = [exactTensor('float16', c.x, 7), exactTensor('float16', c.w, 8), exactTensor('float16', [16], 9)];
      const ref = refConv(nodeOf(c), inputs);
      const r = planConvTc('float16', { N: 5, C: 3, H: 5, W: 5, M: 16, OH: 5, OW: 5, KH: 3, KW: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1, bias: true }, 2 * 32 * 32 * 2);
      if ('reason' in r) throw new Error(r.reason);
      expect(r.info).toMatchObject({ Kp: 32, ldb: 32, chunk: 2, chunks: 3 });
      checkAll(r.lowered, 3);
      hostCases.push({ name: c.name, dtype: 'float16', inputs, lowered: r.lowered, outShape: [...ref.shape] });
      expected.push(ref);
    }
    // the chosen paths cover direct, direct + bias, im2col with/without W', split-K
    const all = paths.join('\n');
    expect(all).toContain('conv_bias');
    expect(all).toContain('gemm_tc_splitk gemm_tc_reduce');
    expect(all).toMatch(/: gemm_tc$/m);
    expect(all).toMatch(/: conv_im2col gemm_tc$/m);
    expect(all).toMatch(/: conv_wprep conv_im2col gemm_tc$/m);

    const got = runOnHost(hostCases);
    const errs: string[] = [];
    hostCases.forEach((c, i) => {
      const ref = expected[i];
      const ulp = c.dtype === 'float16' ? 2 ** -10 : 2 ** -7;
      let bad = 0;
      // exact operands: fp32 sums are exact, so the result is the reference rounded once; the bias pass
      // rounds the pre-bias value first (half an ulp of |y - bias| more)
      const pass = c.lowered.launches.some((l) => l.kernel.family === 'conv_bias');
      const M = ref.shape[1], inner = ref.size / ref.shape[0] / M;
      for (let j = 0; j < ref.size; j++) {
        const e = ref.getNumber(j), g = got[i][j];
        const pre = pass ? Math.abs(e - c.inputs[2].getNumber(Math.floor(j / inner) % M)) : 0;
        if (!(Math.abs(g - e) <= ulp * (Math.abs(e) + pre) * 1.01 + 1e-6)) {
          if (bad++ < 3) errs.push(`${c.name}: element ${j} = ${g}, expected ${e}`);
        }
      }
      if (bad) errs.push(`${c.name}: ${bad} of ${ref.size} elements differ`);
    });
    expect(errs.join('\n')).toBe('');
  }, 300_000);
});

describe('conv-tc kernels compile', () => {
  it.skipIf(!nvccPath())(`with nvcc${nvccPath() ? '' : ' (skipped: nvcc not found)'}`, async () => {
    const all = new Map<string, KernelSource>();
    for (const dtype of ['float16', 'bfloat16'] as const) for (const bias of [false, true]) for (const k of convTcKernels(dtype, bias)) all.set(k.name, k);
    const failures = await compileAllWithNvcc(all.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 300_000);
});
