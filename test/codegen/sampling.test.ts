// Sampling / ROI lowerings (GridSample, AffineGrid, RoiAlign, MaxRoiPool, MaxUnpool, Col2Im): launch
// well-formedness, shape independence of the kernel text, fallbacks, nvcc compilation of every kernel, and an
// execution check without a GPU: the generated kernels are compiled for the host with g++ (CUDA built-ins stubbed,
// one thread, no FP contraction) and run against the reference interpreter on seeded data and on the ONNX node
// test data (float32/float64/int types; fp16/bf16 need the device prelude and are only compiled).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { dt as devType } from '../../src/codegen/dtypes.js';
import { getLowering, Unsupported, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import '../../src/codegen/ops/sampling.js';
import '../../src/ref/kernels/sampling.js';
import '../../src/ref/kernels/roi.js';
import '../../src/ref/kernels/nn-pool.js';
import '../../src/ref/kernels/tensor-unique.js';
import { runTensors } from '../ref/harness.js';
import { Rng } from '../../src/util/rng.js';
import { loadModel } from '../../src/onnx/import.js';
import { listDataSets, readValueFile } from '../../src/conformance/test-data.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';
import { checkCase, flt, i64, int, ints, lowerCase, str, T, type LowerCase } from './helpers.js';

type Case = LowerCase;
const lower = lowerCase;
const check = checkCase;

const kernelsOf = (r: Lowered): string[] => [...new Set([...r.launches.map((l) => l.kernel.name), ...(r.variants ?? []).map((k) => k.name)])].sort();
const FLOATS: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

function pairs(): [Case, Case][] {
  const out: [Case, Case][] = [];
  const two = (a: Case, b: Case) => out.push([a, b]);
  for (const dt of FLOATS) {
    for (const mode of ['linear', 'nearest', 'cubic', 'bilinear', 'bicubic']) {
      for (const pad of ['zeros', 'border', 'reflection']) {
        for (const ac of [0, 1]) {
          const attrs = { mode: str(mode), padding_mode: str(pad), align_corners: int(ac) };
          two(
            { op: 'GridSample', ins: [T(dt, [1, 1, 4, 4]), T(dt, [1, 6, 6, 2])], outs: [T(dt, [1, 1, 6, 6])], attrs },
            { op: 'GridSample', ins: [T(dt, [2, 3, 5, 7]), T(dt, [2, 2, 9, 2])], outs: [T(dt, [2, 3, 2, 9])], attrs },
          );
          if (mode !== 'cubic' && mode !== 'bicubic') {
            two(
              { op: 'GridSample', ins: [T(dt, [1, 1, 3, 2, 2]), T(dt, [1, 2, 4, 2, 3])], outs: [T(dt, [1, 1, 2, 4, 2])], attrs },
              { op: 'GridSample', ins: [T(dt, [2, 4, 5, 6, 7]), T(dt, [2, 3, 3, 3, 3])], outs: [T(dt, [2, 4, 3, 3, 3])], attrs },
            );
          }
        }
      }
    }
    for (const ac of [0, 1]) {
      two(
        { op: 'AffineGrid', ins: [T(dt, [2, 2, 3]), T('int64', [4])], outs: [T(dt, [2, 5, 6, 2])], attrs: { align_corners: int(ac) }, host: { 1: i64([2, 3, 5, 6]) } },
        { op: 'AffineGrid', ins: [T(dt, [1, 2, 3]), T('int64', [4])], outs: [T(dt, [1, 1, 9, 2])], attrs: { align_corners: int(ac) }, host: { 1: i64([1, 7, 1, 9]) } },
      );
      two(
        { op: 'AffineGrid', ins: [T(dt, [2, 3, 4]), T('int64', [5])], outs: [T(dt, [2, 4, 5, 6, 3])], attrs: { align_corners: int(ac) }, host: { 1: i64([2, 3, 4, 5, 6]) } },
        { op: 'AffineGrid', ins: [T(dt, [3, 3, 4]), T('int64', [5])], outs: [T(dt, [3, 2, 2, 8, 3])], attrs: { align_corners: int(ac) }, host: { 1: i64([3, 1, 2, 2, 8]) } },
      );
    }
    for (const mode of ['avg', 'max']) {
      for (const ctm of ['half_pixel', 'output_half_pixel']) {
        const attrs = { mode: str(mode), coordinate_transformation_mode: str(ctm), output_height: int(5), output_width: int(4), sampling_ratio: int(2), spatial_scale: flt(0.5) };
        two(
          { op: 'RoiAlign', ins: [T(dt, [1, 1, 10, 10]), T(dt, [3, 4]), T('int64', [3])], outs: [T(dt, [3, 1, 5, 4])], attrs },
          { op: 'RoiAlign', ins: [T(dt, [2, 7, 12, 9]), T(dt, [5, 4]), T('int64', [5])], outs: [T(dt, [5, 7, 5, 4])], attrs },
        );
      }
    }
    two(
      { op: 'MaxRoiPool', ins: [T(dt, [1, 1, 10, 10]), T(dt, [3, 5])], outs: [T(dt, [3, 1, 2, 3])], attrs: { pooled_shape: ints([2, 3]) } },
      { op: 'MaxRoiPool', ins: [T(dt, [2, 4, 8, 12]), T(dt, [6, 5])], outs: [T(dt, [6, 4, 2, 3])], attrs: { pooled_shape: ints([2, 3]), spatial_scale: flt(0.25) } },
    );
    two(
      { op: 'Col2Im', ins: [T(dt, [1, 5, 5]), T('int64', [2]), T('int64', [2])], outs: [T(dt, [1, 1, 5, 5])], host: { 1: i64([5, 5]), 2: i64([1, 5]) } },
      { op: 'Col2Im', ins: [T(dt, [2, 12, 16]), T('int64', [2]), T('int64', [2])], outs: [T(dt, [2, 3, 5, 5])], host: { 1: i64([5, 5]), 2: i64([2, 2]) } },
    );
    two(
      { op: 'Col2Im', ins: [T(dt, [1, 10, 12]), T('int64', [3]), T('int64', [3])], outs: [T(dt, [1, 2, 3, 4, 5])], host: { 1: i64([3, 4, 5]), 2: i64([1, 1, 5]) } },
      { op: 'Col2Im', ins: [T(dt, [1, 8, 24]), T('int64', [3]), T('int64', [3])], outs: [T(dt, [1, 1, 3, 4, 5])], host: { 1: i64([3, 4, 5]), 2: i64([2, 2, 2]) }, attrs: { pads: ints([0, 0, 0, 0, 0, 0]) } },
    );
  }
  for (const dt of ['int32', 'int64'] as DType[]) {
    two(
      { op: 'GridSample', ins: [T(dt, [1, 1, 4, 4]), T('float32', [1, 6, 6, 2])], outs: [T(dt, [1, 1, 6, 6])] },
      { op: 'GridSample', ins: [T(dt, [2, 3, 5, 7]), T('float32', [2, 2, 9, 2])], outs: [T(dt, [2, 3, 2, 9])] },
    );
  }
  for (const dt of ['int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32'] as DType[]) {
    two(
      { op: 'Col2Im', ins: [T(dt, [1, 5, 5]), T('int64', [2]), T('int64', [2])], outs: [T(dt, [1, 1, 5, 5])], host: { 1: i64([5, 5]), 2: i64([1, 5]) } },
      { op: 'Col2Im', ins: [T(dt, [2, 12, 16]), T('int64', [2]), T('int64', [2])], outs: [T(dt, [2, 3, 5, 5])], host: { 1: i64([5, 5]), 2: i64([2, 2]) } },
    );
  }
  for (const dt of [...FLOATS, 'int8', 'int32', 'int64', 'bool'] as DType[]) {
    two(
      { op: 'MaxUnpool', ins: [T(dt, [1, 1, 2, 2]), T('int64', [1, 1, 2, 2])], outs: [T(dt, [1, 1, 4, 4])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
      { op: 'MaxUnpool', ins: [T(dt, [2, 3, 5, 3]), T('int64', [2, 3, 5, 3])], outs: [T(dt, [2, 3, 10, 6])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
    );
    two(
      { op: 'MaxUnpool', ins: [T(dt, [1, 1, 2, 2]), T('int64', [1, 1, 2, 2]), T('int64', [4])], outs: [T(dt, [1, 1, 5, 5])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, host: { 2: i64([1, 1, 5, 5]) } },
      { op: 'MaxUnpool', ins: [T(dt, [3, 2, 4, 4]), T('int64', [3, 2, 4, 4]), T('int64', [4])], outs: [T(dt, [3, 2, 9, 8])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, host: { 2: i64([3, 2, 9, 8]) } },
    );
    two(
      { op: 'MaxUnpool', ins: [T(dt, [1, 2, 3]), T('int64', [1, 2, 3])], outs: [T(dt, [1, 2, 7])], attrs: { kernel_shape: ints([3]), strides: ints([2]), pads: ints([0, 0]) } },
      { op: 'MaxUnpool', ins: [T(dt, [4, 1, 8]), T('int64', [4, 1, 8])], outs: [T(dt, [4, 1, 17])], attrs: { kernel_shape: ints([3]), strides: ints([2]), pads: ints([0, 0]) } },
    );
  }
  return out;
}

describe('sampling lowerings', () => {
  const ps = pairs();

  it('launches are well-formed and kernel sets do not depend on concrete dims', () => {
    for (const [a, b] of ps) {
      const ra = check(a);
      const rb = check(b);
      expect(ra.launches.length, a.op).toBeGreaterThan(0);
      expect(kernelsOf(ra), `${a.op} ${JSON.stringify(a.attrs ?? {}, (_, v) => (typeof v === 'bigint' ? Number(v) : v))} ${a.ins[0]?.dtype}`).toEqual(kernelsOf(rb));
    }
  });

  it('zero-element outputs give no launches', () => {
    expect(check({ op: 'GridSample', ins: [T('float32', [0, 1, 4, 4]), T('float32', [0, 6, 6, 2])], outs: [T('float32', [0, 1, 6, 6])] }).launches).toEqual([]);
    expect(check({ op: 'RoiAlign', ins: [T('float32', [1, 1, 4, 4]), T('float32', [0, 4]), T('int64', [0])], outs: [T('float32', [0, 1, 1, 1])] }).launches).toEqual([]);
    expect(check({ op: 'Col2Im', ins: [T('float32', [0, 5, 5]), T('int64', [2]), T('int64', [2])], outs: [T('float32', [0, 1, 5, 5])], host: { 1: i64([5, 5]), 2: i64([1, 5]) } }).launches).toEqual([]);
    expect(check({ op: 'MaxUnpool', ins: [T('float32', [1, 1, 0, 2]), T('int64', [1, 1, 0, 2])], outs: [T('float32', [1, 1, 0, 4])], attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } }).launches).toEqual([]);
    const r = check({
      op: 'MaxUnpool', ins: [T('float32', [1, 1, 0, 2]), T('int64', [1, 1, 0, 2]), T('int64', [4])], outs: [T('float32', [1, 1, 2, 4])],
      attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }, host: { 2: i64([1, 1, 2, 4]) },
    });
    expect(r.launches.length).toBe(2); // fill + gather, nothing to scatter
  });

  it('falls back for what it does not handle', () => {
    const fb = (c: Case) => expect(() => lower(c)).toThrow(Unsupported);
    fb({ op: 'GridSample', ins: [T('int8', [1, 1, 4, 4]), T('float32', [1, 6, 6, 2])], outs: [T('int8', [1, 1, 6, 6])] });
    fb({ op: 'GridSample', ins: [T('float32', [1, 1, 4, 4]), T('float32', [1, 6, 6, 2])], outs: [T('float32', [1, 1, 6, 6])], attrs: { mode: str('area') } });
    fb({ op: 'Col2Im', ins: [T('int64', [1, 5, 5]), T('int64', [2]), T('int64', [2])], outs: [T('int64', [1, 1, 5, 5])], host: { 1: i64([5, 5]), 2: i64([1, 5]) } });
    fb({ op: 'Col2Im', ins: [T('float32', [1, 5, 6]), T('int64', [2]), T('int64', [2])], outs: [T('float32', [1, 1, 5, 5])], host: { 1: i64([5, 5]), 2: i64([1, 5]) } });
    fb({ op: 'RoiAlign', ins: [T('float32', [1, 1, 4, 4, 4]), T('float32', [2, 4]), T('int64', [2])], outs: [T('float32', [2, 1, 1, 1])] });
  });

  it.skipIf(!nvccPath())(`every kernel compiles with nvcc${(!nvccPath()) ? ' (skipped: nvcc not found)' : ''}`, async () => {
    const all = new Map<string, KernelSource>();
    for (const [a, b] of ps) {
      for (const r of [lower(a), lower(b)]) {
        for (const l of r.launches) all.set(l.kernel.name, l.kernel);
        for (const k of r.variants ?? []) all.set(k.name, k);
      }
    }
    const failures = await compileAllWithNvcc(all.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});

// ---------------------------------------------------------------------------------------------------
// Host execution of the generated kernels (g++), against the reference interpreter

const gppOk = spawnSync('g++', ['--version']).status === 0;

const HOST_STUBS = `#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <vector>
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
struct chm_dim3 { unsigned x, y, z; };
static const chm_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double f; memcpy(&f, &i, 8); return f; }
#define CHM_INF __int_as_float(0x7f800000)
#define CHM_NAN __int_as_float(0x7fc00000)
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline long long atomicMax(long long* p, long long v) { long long o = *p; if (v > o) *p = v; return o; }
static std::vector<unsigned char> rd(const char* f) {
  FILE* fp = fopen(f, "rb"); std::vector<unsigned char> v;
  if (!fp) { fprintf(stderr, "missing %s\\n", f); exit(2); }
  fseek(fp, 0, SEEK_END); long n = ftell(fp); fseek(fp, 0, SEEK_SET); v.resize(n + 8);
  if (n && fread(v.data(), 1, n, fp) != (size_t)n) exit(3); fclose(fp); return v;
}
static void wr(const char* f, const std::vector<unsigned char>& v, size_t n) { FILE* fp = fopen(f, "wb"); fwrite(v.data(), 1, n, fp); fclose(fp); }
`;

interface HostRun { lowered: Lowered; inputs: (Tensor | undefined)[]; outs: TensorDesc[] }

function bytesOf(t: Tensor): Buffer {
  const d = t.data as unknown as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function byteSize(t: TensorDesc): number {
  return devType(t.dtype).bytes * t.shape.reduce((a, b) => a * b, 1);
}

/** Runs each lowered node's launches on the host (one thread each, in order); returns the outputs. */
function runOnHost(runs: HostRun[]): Tensor[][] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-sampling-'));
  const kernels = new Map<string, KernelSource>();
  const body: string[] = [];
  runs.forEach((run, c) => {
    body.push('{');
    run.inputs.forEach((t, i) => {
      if (!t) return;
      fs.writeFileSync(path.join(dir, `c${c}_in${i}.bin`), bytesOf(t));
      body.push(`  std::vector<unsigned char> in${i} = rd("${dir}/c${c}_in${i}.bin");`);
    });
    run.outs.forEach((o, i) => body.push(`  std::vector<unsigned char> out${i}(${byteSize(o) + 8}, 0xff);`));
    (run.lowered.scratch ?? []).forEach((s, i) => body.push(`  std::vector<unsigned char> scr${i}(${s + 8}, 0xcd);`));
    for (const l of run.lowered.launches) {
      kernels.set(l.kernel.name, l.kernel);
      const args = l.args.map((a, i) => {
        const p = l.kernel.params[i];
        const cast = `(${p.readonly ? 'const ' : ''}${p.elem ?? 'void'}*)`;
        if ('in' in a) return `${cast}in${a.in}.data()`;
        if ('out' in a) return `${cast}out${a.out}.data()`;
        if ('scratch' in a) return `${cast}scr${a.scratch}.data()`;
        if (a.kind === 'i64') return `(long long)${a.value}LL`;
        if (a.kind === 'i32') return `(int)${a.value}`;
        if (a.kind === 'f64') return `(double)${a.value.toPrecision(17)}`;
        if (a.kind === 'f32') return `(float)${a.value.toPrecision(9)}`;
        throw new Error(`host run: argument kind ${a.kind}`);
      });
      body.push(`  k_${l.kernel.name}::${l.kernel.name}(${args.join(', ')});`);
    }
    run.outs.forEach((o, i) => body.push(`  wr("${dir}/c${c}_out${i}.bin", out${i}, ${byteSize(o)});`));
    body.push('}');
  });
  const src = `${HOST_STUBS}\n${[...kernels.values()].map((k) => `namespace k_${k.name} {\n${k.code}\n}`).join('\n')}\nint main() {\n${body.join('\n')}\n  return 0;\n}\n`;
  fs.writeFileSync(path.join(dir, 'main.cpp'), src);
  const cc = spawnSync('g++', ['-O1', '-ffp-contract=off', '-o', path.join(dir, 'main'), path.join(dir, 'main.cpp')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`g++ failed:\n${cc.stderr}`);
  const ex = spawnSync(path.join(dir, 'main'), [], { encoding: 'utf8' });
  if (ex.status !== 0) throw new Error(`host run failed (${ex.status}): ${ex.stderr}`);
  const res = runs.map((run, c) => run.outs.map((o, i) => {
    const t = Tensor.zeros(o.dtype, o.shape);
    const raw = fs.readFileSync(path.join(dir, `c${c}_out${i}.bin`));
    const d = t.data as unknown as ArrayBufferView;
    new Uint8Array(d.buffer, d.byteOffset, d.byteLength).set(raw);
    return t;
  }));
  fs.rmSync(dir, { recursive: true, force: true });
  return res;
}

interface DataCase { op: string; inputs: (Tensor | undefined)[]; attrs?: Record<string, AttrValue>; hostIdx?: number[]; label?: string }

function lowerData(c: DataCase, outs: TensorDesc[]): Lowered {
  const node = new Node({ op: c.op, inputs: c.inputs.map((t, i) => (t ? `x${i}` : '')), outputs: outs.map((_, i) => `y${i}`), attrs: c.attrs ?? {} });
  const l = getLowering(c.op)!;
  return l.lower({
    node,
    inputs: c.inputs.map((t) => (t ? { dtype: t.dtype, shape: t.shape } : undefined)),
    outputs: outs,
    hostValue: (i) => ((l.hostInputs ?? []).includes(i) ? c.inputs[i] : undefined),
  });
}

function randT(rng: Rng, dtype: DType, shape: number[], lo = -1, hi = 1): Tensor {
  const t = Tensor.zeros(dtype, shape);
  const d = t.data as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < t.size; i++) {
    if (dtype === 'int64') d[i] = BigInt(rng.int(lo, hi));
    else if (dtype.startsWith('float')) d[i] = rng.uniform(lo, hi);
    else d[i] = rng.int(lo, hi);
  }
  return t;
}

/** grid values: random, plus exact boundary values (±1, 0, nearest-mode ties, far outside for reflection) */
function gridT(rng: Rng, dtype: DType, shape: number[]): Tensor {
  const special = [-1, 1, 0, -0.5, 0.5, -0.75, 0.75, 0.25, -0.25, 1.25, -1.25, 2.6, -3.7, 5.01, -1 / 3, 1 / 3, 0.2, -0.6];
  const t = Tensor.zeros(dtype, shape);
  const d = t.data as unknown as { [i: number]: number };
  for (let i = 0; i < t.size; i++) d[i] = rng.next() < 0.4 ? rng.pick(special) : rng.uniform(-1.4, 1.4);
  return t;
}

function dataCases(): DataCase[] {
  const rng = new Rng(1234);
  const cases: DataCase[] = [];
  for (const dt of ['float32', 'float64'] as DType[]) {
    for (const mode of ['linear', 'nearest', 'cubic', 'bilinear']) {
      for (const pad of ['zeros', 'border', 'reflection']) {
        for (const ac of [0, 1]) {
          const attrs = { mode: str(mode), padding_mode: str(pad), align_corners: int(ac) };
          cases.push({ op: 'GridSample', inputs: [randT(rng, dt, [2, 3, 4, 5]), gridT(rng, dt, [2, 6, 7, 2])], attrs });
          cases.push({ op: 'GridSample', inputs: [randT(rng, dt, [1, 2, 1, 3]), gridT(rng, dt, [1, 3, 3, 2])], attrs });
          cases.push({ op: 'GridSample', inputs: [randT(rng, dt, [2, 2, 5]), gridT(rng, dt, [2, 7, 1])], attrs });
          if (mode !== 'cubic') cases.push({ op: 'GridSample', inputs: [randT(rng, dt, [1, 2, 3, 4, 5]), gridT(rng, dt, [1, 3, 2, 4, 3])], attrs });
        }
      }
    }
  }
  cases.push({ op: 'GridSample', inputs: [randT(rng, 'float64', [1, 2, 4, 5]), gridT(rng, 'float32', [1, 6, 7, 2])], attrs: { mode: str('cubic'), padding_mode: str('reflection') } });
  cases.push({ op: 'GridSample', inputs: [randT(rng, 'int32', [1, 2, 4, 5], -50, 50), gridT(rng, 'float32', [1, 6, 7, 2])], attrs: { mode: str('linear') } });
  for (const dt of ['float32', 'float64'] as DType[]) {
    for (const ac of [0, 1]) {
      cases.push({ op: 'AffineGrid', inputs: [randT(rng, dt, [2, 2, 3]), i64([2, 3, 5, 6])], attrs: { align_corners: int(ac) }, hostIdx: [1] });
      cases.push({ op: 'AffineGrid', inputs: [randT(rng, dt, [1, 2, 3]), i64([1, 3, 1, 4])], attrs: { align_corners: int(ac) }, hostIdx: [1] });
      cases.push({ op: 'AffineGrid', inputs: [randT(rng, dt, [2, 3, 4]), i64([2, 3, 4, 5, 6])], attrs: { align_corners: int(ac) }, hostIdx: [1] });
    }
    for (const mode of ['avg', 'max']) {
      for (const ctm of ['half_pixel', 'output_half_pixel']) {
        for (const ratio of [0, 2]) {
          const rois = Tensor.zeros(dt, [6, 4]);
          const rd = rois.data as unknown as number[];
          for (let r = 0; r < 6; r++) {
            const x1 = rng.uniform(-2, 9), y1 = rng.uniform(-2, 9);
            const inv = r === 5 ? -1 : 1; // one inverted box
            rd[r * 4] = x1; rd[r * 4 + 1] = y1; rd[r * 4 + 2] = x1 + inv * rng.uniform(0.3, 7); rd[r * 4 + 3] = y1 + inv * rng.uniform(0.3, 7);
          }
          const bi = Tensor.from('int64', [6], [0, 1, 1, 0, 1, 0]);
          cases.push({
            op: 'RoiAlign', inputs: [randT(rng, dt, [2, 3, 10, 9]), rois, bi],
            attrs: { mode: str(mode), coordinate_transformation_mode: str(ctm), output_height: int(3), output_width: int(4), sampling_ratio: int(ratio), spatial_scale: flt(ratio ? 1 : 0.75) },
          });
        }
      }
    }
    {
      const rois = Tensor.zeros(dt, [5, 5]);
      const rd = rois.data as unknown as number[];
      for (let r = 0; r < 5; r++) {
        rd[r * 5] = r % 2;
        for (let k = 1; k < 5; k++) rd[r * 5 + k] = rng.uniform(-3, 14);
        if (rd[r * 5 + 3] < rd[r * 5 + 1]) [rd[r * 5 + 1], rd[r * 5 + 3]] = [rd[r * 5 + 3], rd[r * 5 + 1]];
        if (rd[r * 5 + 4] < rd[r * 5 + 2]) [rd[r * 5 + 2], rd[r * 5 + 4]] = [rd[r * 5 + 4], rd[r * 5 + 2]];
      }
      cases.push({ op: 'MaxRoiPool', inputs: [randT(rng, dt, [2, 3, 10, 12]), rois], attrs: { pooled_shape: ints([3, 2]), spatial_scale: flt(0.5) } });
      cases.push({ op: 'MaxRoiPool', inputs: [randT(rng, dt, [2, 3, 10, 12]), rois], attrs: { pooled_shape: ints([4, 5]) } });
    }
    // Col2Im: the ONNX configurations and a strided/dilated/padded 3-D one
    cases.push({ op: 'Col2Im', inputs: [randT(rng, dt, [2, 10, 5]), i64([5, 5]), i64([1, 5])], hostIdx: [1, 2] });
    cases.push({ op: 'Col2Im', inputs: [randT(rng, dt, [1, 4, 5]), i64([6, 6]), i64([2, 2])], attrs: { dilations: ints([1, 5]) }, hostIdx: [1, 2] });
    cases.push({ op: 'Col2Im', inputs: [randT(rng, dt, [1, 5, 15]), i64([5, 5]), i64([1, 5])], attrs: { pads: ints([0, 1, 0, 1]) }, hostIdx: [1, 2] });
    cases.push({ op: 'Col2Im', inputs: [randT(rng, dt, [1, 9, 4]), i64([5, 5]), i64([3, 3])], attrs: { strides: ints([2, 2]) }, hostIdx: [1, 2] });
    cases.push({ op: 'Col2Im', inputs: [randT(rng, dt, [2, 16, 24]), i64([4, 5, 6]), i64([2, 2, 2])], attrs: { strides: ints([2, 1, 3]), pads: ints([1, 0, 1, 0, 1, 2]), dilations: ints([1, 2, 1]) }, hostIdx: [1, 2] });
  }
  cases.push({ op: 'Col2Im', inputs: [randT(rng, 'int16', [1, 9, 25], -100, 100), i64([5, 5]), i64([3, 3])], attrs: { pads: ints([1, 1, 1, 1]) }, hostIdx: [1, 2] });
  // MaxUnpool: random (duplicate) indices, with and without output_shape, 1-D to 3-D
  for (const dt of ['float32', 'int64', 'int8'] as DType[]) {
    const unpool = (xs: number[], ks: number[], st: number[], outShape?: number[]) => {
      const nat = xs.slice(2).map((d, i) => (d - 1) * st[i] + ks[i]);
      const natSize = nat.reduce((a, b) => a * b, 1);
      const n = xs.reduce((a, b) => a * b, 1);
      const planes = xs[0] * xs[1];
      const idx = Array.from({ length: n }, (_, i) => Math.floor(i / (n / planes)) * natSize + rng.int(0, Math.min(natSize, 6)));
      const inputs: (Tensor | undefined)[] = [randT(rng, dt, xs, -100, 100), Tensor.from('int64', xs, idx)];
      if (outShape) inputs.push(i64(outShape));
      cases.push({ op: 'MaxUnpool', inputs, attrs: { kernel_shape: ints(ks), strides: ints(st) }, hostIdx: [2] });
    };
    unpool([1, 1, 2, 2], [2, 2], [2, 2]);
    unpool([1, 1, 2, 2], [2, 2], [2, 2], [1, 1, 5, 5]);
    unpool([2, 3, 4, 3], [3, 2], [1, 2], [2, 3, 7, 8]);
    unpool([2, 2, 5], [3], [2]);
    unpool([1, 2, 2, 3, 2], [2, 2, 2], [2, 2, 2]);
  }
  return cases;
}

function sameValues(a: Tensor, b: Tensor, tol: number): string | undefined {
  if (a.shape.join() !== b.shape.join()) return `shape [${a.shape.join(',')}] vs [${b.shape.join(',')}]`;
  for (let i = 0; i < a.size; i++) {
    const x = Number(a.data[i]);
    const y = Number(b.data[i]);
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= tol * (1 + Math.abs(y)))) return `element ${i}: ${x} vs ${y}`;
  }
  return undefined;
}

describe('sampling kernels executed on the host (g++)', () => {
  it.skipIf(!gppOk)(`match the reference interpreter on seeded data${(!gppOk) ? ' (skipped: g++ not found)' : ''}`, () => {
    const cases = dataCases();
    const refs = cases.map((c) => runTensors(c.op, c.inputs, c.attrs ?? {}));
    const runs = cases.map((c, k) => {
      const outs = refs[k].map((t) => ({ dtype: t.dtype, shape: [...t.shape] }));
      return { lowered: lowerData(c, outs), inputs: c.inputs, outs };
    });
    const got = runOnHost(runs);
    const bad: string[] = [];
    cases.forEach((c, k) => {
      // float32 results are computed the reference's way and must be bit-identical; allow 1 ulp of double for float64
      const tol = c.inputs[0]!.dtype === 'float64' ? 1e-15 : 0;
      const e = sameValues(got[k][0], refs[k][0], tol);
      if (e) bad.push(`${c.op} ${c.inputs.map((t) => t ? `${t.dtype}[${t.shape.join(',')}]` : '-').join(' ')} ${JSON.stringify(c.attrs ?? {}, (_, v) => (typeof v === 'bigint' ? Number(v) : v))}: ${e}`);
    });
    expect(bad).toEqual([]);
  }, 120_000);

  const NODE_DIR = '/work/shared/onnx-tests/node';
  const nodeTests = fs.existsSync(NODE_DIR)
    ? fs.readdirSync(NODE_DIR).filter((n) => /^test_(gridsample|affine_grid_[23]d(_align_corners)?$|roialign|maxunpool|col2im)/.test(n)).sort()
    : [];
  it.skipIf(!gppOk || nodeTests.length === 0)(`match the ONNX node test data${(!gppOk || nodeTests.length === 0) ? ' (skipped: g++ or the test data not found)' : ''}`, () => {
    const runs: HostRun[] = [];
    const expected: Tensor[] = [];
    const labels: string[] = [];
    for (const t of nodeTests) {
      const m = loadModel(path.join(NODE_DIR, t, 'model.onnx'));
      const node = m.graph.nodes[0];
      const set = listDataSets(path.join(NODE_DIR, t))[0];
      const inputs = set.inputs.map((f, i) => readValueFile(f, m.graph.inputs[i].type) as Tensor);
      const exp = readValueFile(set.outputs[0], m.graph.outputs[0].type) as Tensor;
      const outs = [{ dtype: exp.dtype, shape: [...exp.shape] }];
      const l = getLowering(node.op)!;
      const lowered = l.lower({
        node, inputs: inputs.map((x) => ({ dtype: x.dtype, shape: x.shape })), outputs: outs,
        hostValue: (i) => ((l.hostInputs ?? []).includes(i) ? inputs[i] : undefined),
      });
      runs.push({ lowered, inputs, outs });
      expected.push(exp);
      labels.push(t);
    }
    const got = runOnHost(runs);
    const bad = labels.flatMap((t, k) => {
      const e = sameValues(got[k][0], expected[k], 1e-3); // the ONNX data holds 4 decimals
      return e ? [`${t}: ${e}`] : [];
    });
    expect(bad).toEqual([]);
  }, 120_000);
});
