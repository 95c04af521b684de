// Lowerings of the quantization family: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul.
// Checks launches against kernel signatures, kernel sets independent of concrete dims, fallbacks for what has
// no device kernel, and compiles every kernel with nvcc (skipped without nvcc).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { onnxCode } from '../../src/ir/dtype.js';
import { decodeBits, encodeBits, roundToDtype } from '../../src/ir/float.js';
import { dt } from '../../src/codegen/dtypes.js';
import { Tensor } from '../../src/ir/tensor.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import { compileUnit, type KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/quantize.js';
import '../../src/ref/kernels/index.js';
import { getKernel, type KernelContext, type RuntimeValue } from '../../src/ref/kernel.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';
import { kernelNameSet, kernelSources } from './helpers.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });

/** an input: dtype and shape, or null for an omitted optional input */
type In = { dtype: DType; shape: number[] } | null;

interface Case {
  name: string;
  op: string;
  /** inputs for two bindings of the same ranks */
  ins: [In[], In[]];
  attrs?: Record<string, AttrValue>;
}

const NAMES: Record<string, string[]> = {
  QuantizeLinear: ['x', 'y_scale', 'y_zero_point'],
  DequantizeLinear: ['x', 'x_scale', 'x_zero_point'],
  DynamicQuantizeLinear: ['x'],
  QLinearMatMul: ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'],
};
const OUTS: Record<string, string[]> = {
  QuantizeLinear: ['y'], DequantizeLinear: ['y'], DynamicQuantizeLinear: ['y', 'y_scale', 'y_zero_point'], QLinearMatMul: ['y'],
};

const t = (dtype: DType, ...shape: number[]): In => ({ dtype, shape });

function cases(): Case[] {
  const cs: Case[] = [];
  // ---- QuantizeLinear
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      cs.push({ name: `Q/${xd}/${sd}/tensor/uint8`, op: 'QuantizeLinear', ins: [[t(xd, 6), t(sd), t('uint8')], [t(xd, 17), t(sd), t('uint8')]] });
    }
  }
  for (const target of ['int8', 'uint8', 'int16', 'uint16'] as DType[]) {
    cs.push({ name: `Q/f32/tensor/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 16), t('float32'), t(target)], [t('float32', 1000), t('float32'), t(target)]] });
    cs.push({ name: `Q/f32/axis/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 1, 3, 3, 2), t('float32', 3), t(target, 3)], [t('float32', 2, 5, 3, 4), t('float32', 5), t(target, 5)]] });
    cs.push({ name: `Q/f32/blocked/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32', 3, 2), t(target, 3, 2)], [t('float32', 5, 9), t('float32', 5, 5), t(target, 5, 5)]], attrs: { axis: int(1), block_size: int(2) } });
    cs.push({ name: `Q/f32/nozp/output_dtype/${target}`, op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32', 3, 2), null], [t('float32', 6, 8), t('float32', 6, 4), null]], attrs: { axis: int(1), block_size: int(2), output_dtype: int(onnxCode(target)) } });
  }
  cs.push({ name: 'Q/default-uint8-noZp', op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32'), null], [t('float32', 7, 2), t('float32'), null]] });
  cs.push({ name: 'Q/default-uint8-2inputs', op: 'QuantizeLinear', ins: [[t('float32', 3, 4), t('float32')], [t('float32', 7, 2), t('float32')]] });
  cs.push({ name: 'Q/int32-x', op: 'QuantizeLinear', ins: [[t('int32', 3, 4), t('float32'), t('int8')], [t('int32', 7, 2), t('float32'), t('int8')]] });
  cs.push({ name: 'Q/axis-neg', op: 'QuantizeLinear', ins: [[t('float32', 2, 3, 4), t('float32', 4), t('uint8', 4)], [t('float32', 5, 1, 7), t('float32', 7), t('uint8', 7)]], attrs: { axis: int(-1) } });
  cs.push({ name: 'Q/axis0-blocked-3d', op: 'QuantizeLinear', ins: [[t('float32', 6, 3, 2), t('float32', 2, 3, 2), t('int8', 2, 3, 2)], [t('float32', 7, 2, 5), t('float32', 3, 2, 5), t('int8', 3, 2, 5)]], attrs: { axis: int(0), block_size: int(3) } });
  cs.push({ name: 'Q/scalar-x', op: 'QuantizeLinear', ins: [[t('float32'), t('float32'), t('uint8')], [t('float32'), t('float32', 1), t('uint8', 1)]] });
  cs.push({ name: 'Q/scale[1]', op: 'QuantizeLinear', ins: [[t('float32', 4, 3), t('float32', 1), t('uint8', 1)], [t('float32', 2, 9), t('float32', 1), t('uint8', 1)]] });
  for (const p of ['float16', 'bfloat16', 'float32', 'float64'] as DType[]) {
    cs.push({ name: `Q/precision-${p}`, op: 'QuantizeLinear', ins: [[t('float32', 6), t('float32'), t('int16')], [t('float32', 60), t('float32'), t('int16')]], attrs: { precision: int(onnxCode(p)) } });
  }
  cs.push({ name: 'Q/empty', op: 'QuantizeLinear', ins: [[t('float32', 0, 3), t('float32'), t('uint8')], [t('float32', 2, 0), t('float32'), t('uint8')]] });
  cs.push({ name: 'Q/saturate0', op: 'QuantizeLinear', ins: [[t('float32', 6), t('float32'), t('int8')], [t('float32', 7), t('float32'), t('int8')]], attrs: { saturate: int(0) } });
  // ---- DequantizeLinear
  for (const xd of ['int8', 'uint8', 'int16', 'uint16', 'int32'] as DType[]) {
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      cs.push({ name: `DQ/${xd}/${sd}/tensor`, op: 'DequantizeLinear', ins: [[t(xd, 4), t(sd), t(xd)], [t(xd, 40), t(sd), t(xd)]] });
    }
    cs.push({ name: `DQ/${xd}/axis`, op: 'DequantizeLinear', ins: [[t(xd, 1, 3, 3, 2), t('float32', 3), t(xd, 3)], [t(xd, 2, 4, 5, 1), t('float32', 4), t(xd, 4)]] });
    cs.push({ name: `DQ/${xd}/blocked`, op: 'DequantizeLinear', ins: [[t(xd, 1, 4, 3, 2), t('float32', 1, 2, 3, 2), t(xd, 1, 2, 3, 2)], [t(xd, 2, 5, 3, 3), t('float32', 2, 3, 3, 3), t(xd, 2, 3, 3, 3)]], attrs: { axis: int(1), block_size: int(2) } });
    cs.push({ name: `DQ/${xd}/nozp`, op: 'DequantizeLinear', ins: [[t(xd, 5), t('float32'), null], [t(xd, 9), t('float32'), null]] });
  }
  for (const od of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sd of ['float32', 'float16', 'float64'] as DType[]) {
      cs.push({ name: `DQ/output_dtype-${od}/scale-${sd}`, op: 'DequantizeLinear', ins: [[t('uint8', 3, 4), t(sd, 4), t('uint8', 4)], [t('uint8', 9, 2), t(sd, 2), t('uint8', 2)]], attrs: { axis: int(-1), output_dtype: int(onnxCode(od)) } });
    }
  }
  cs.push({ name: 'DQ/empty', op: 'DequantizeLinear', ins: [[t('uint8', 0), t('float32'), t('uint8')], [t('uint8', 0), t('float32'), t('uint8')]] });
  // ---- DynamicQuantizeLinear
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    cs.push({ name: `DynQ/${xd}`, op: 'DynamicQuantizeLinear', ins: [[t(xd, 6)], [t(xd, 100000)]] });
    cs.push({ name: `DynQ/${xd}/2d`, op: 'DynamicQuantizeLinear', ins: [[t(xd, 3, 4)], [t(xd, 0, 4)]] });
  }
  // ---- QLinearMatMul
  for (const ad of ['int8', 'uint8'] as DType[]) {
    for (const sd of ['float32', 'float16'] as DType[]) {
      const q2 = (M: number, K: number, N: number): In[] => [t(ad, M, K), t(sd, 1), t(ad, 1), t(ad, K, N), t(sd, 1), t(ad, 1), t(sd, 1), t(ad, 1)];
      cs.push({ name: `QMM/2D/${ad}/${sd}`, op: 'QLinearMatMul', ins: [q2(2, 4, 3), q2(17, 33, 9)] });
      const q3 = (B: number, M: number, K: number, N: number): In[] => [t(ad, B, M, K), t(sd, 1), t(ad, 1), t(ad, B, K, N), t(sd, 1), t(ad, 1), t(sd, 1), t(ad, 1)];
      cs.push({ name: `QMM/3D/${ad}/${sd}`, op: 'QLinearMatMul', ins: [q3(2, 2, 4, 3), q3(3, 5, 7, 2)] });
    }
  }
  const qb = (aS: number[], bS: number[], M: number, N: number, ys: DType = 'float32'): In[] =>
    [t('uint8', ...aS), t('float32', M), t('uint8', M), t('int8', ...bS), t('float16', N), t('int8', N), t(ys), t('int8')];
  cs.push({ name: 'QMM/broadcast-per-row-col', op: 'QLinearMatMul', ins: [qb([2, 1, 3, 4], [5, 4, 6], 3, 6), qb([1, 4, 2, 5], [4, 5, 7], 2, 7)] });
  cs.push({ name: 'QMM/scalar-scales', op: 'QLinearMatMul', ins: [
    [t('int8', 3, 4), t('float32'), t('int8'), t('int8', 4, 5), t('float32'), t('int8'), t('float32'), t('uint8')],
    [t('int8', 8, 2), t('float32'), t('int8'), t('int8', 2, 1), t('float32'), t('int8'), t('float32'), t('uint8')]] });
  cs.push({ name: 'QMM/1D-a', op: 'QLinearMatMul', ins: [
    [t('int8', 4), t('float32'), t('int8'), t('int8', 2, 4, 5), t('float32'), t('int8'), t('float32'), t('int8')],
    [t('int8', 7), t('float32'), t('int8'), t('int8', 3, 7, 2), t('float32'), t('int8'), t('float32'), t('int8')]] });
  cs.push({ name: 'QMM/1D-b', op: 'QLinearMatMul', ins: [
    [t('uint8', 3, 4), t('float32', 3), t('uint8', 3), t('uint8', 4), t('float32'), t('uint8'), t('float32'), t('uint8')],
    [t('uint8', 5, 2), t('float32', 5), t('uint8', 5), t('uint8', 2), t('float32'), t('uint8'), t('float32'), t('uint8')]] });
  cs.push({ name: 'QMM/empty', op: 'QLinearMatMul', ins: [
    [t('int8', 0, 4), t('float32'), t('int8'), t('int8', 4, 5), t('float32'), t('int8'), t('float32'), t('int8')],
    [t('int8', 3, 0), t('float32'), t('int8'), t('int8', 0, 5), t('float32'), t('int8'), t('float32'), t('int8')]] });
  return cs;
}

function makeNode(op: string, ins: In[], attrs: Record<string, AttrValue> = {}): Node {
  return new Node({ op, inputs: ins.map((d, i) => (d ? NAMES[op][i] : '')), outputs: OUTS[op], attrs });
}

/** a host tensor for the reference run (scales 1, everything else 0) */
function refInput(op: string, i: number, d: In): Tensor | null {
  if (!d) return null;
  const name = NAMES[op][i];
  if (name.endsWith('scale')) return Tensor.from(d.dtype, d.shape, new Array(d.shape.reduce((a, b) => a * b, 1)).fill(1));
  return Tensor.zeros(d.dtype, d.shape);
}

/** output types from the reference interpreter (shape + dtype) */
function refOutputs(op: string, node: Node, ins: In[]): TensorDesc[] {
  const vals: RuntimeValue[] = ins.map((d, i) => refInput(op, i, d));
  const ctx: KernelContext = {
    node, opset: 23, inputs: vals,
    input: (i) => vals[i] as Tensor,
    optionalInput: (i) => (vals[i] ?? undefined) as Tensor | undefined,
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m) => { throw new Error(m); },
  };
  return getKernel(op)!(ctx).map((v) => ({ dtype: (v as Tensor).dtype, shape: (v as Tensor).shape }));
}

function lower(c: Case, ins: In[]): Lowered {
  const node = makeNode(c.op, ins, c.attrs);
  const outs = refOutputs(c.op, node, ins);
  const ctx: LowerContext = { node, inputs: ins.map((d) => d ?? undefined), outputs: outs, hostValue: () => undefined };
  return getLowering(c.op)!.lower(ctx);
}

const kernelsOf = kernelSources;
const nameSet = kernelNameSet;

const ALL = cases();

describe('quantization lowerings', () => {
  const all: KernelSource[] = [];
  for (const c of ALL) {
    it(c.name, () => {
      const [a, b] = c.ins.map((ins) => lower(c, ins));
      c.ins.forEach((ins, j) => {
        const l = [a, b][j];
        for (const launch of l.launches) {
          expect(checkLaunch(launch, { inputs: ins.length, outputs: OUTS[c.op].length, scratch: l.scratch?.length ?? 0 })).toEqual([]);
          // omitted optional inputs are never referenced
          for (const arg of launch.args) if ('in' in arg) expect(ins[arg.in]).not.toBeNull();
        }
        all.push(...kernelsOf(l));
      });
      expect(nameSet(a)).toEqual(nameSet(b));
      expect(kernelsOf(a).length).toBeGreaterThan(0);
    });
  }

  it('launch geometry and arguments for the common layouts', () => {
    // blocked: x [3,4], scale [3,2], axis 1, block 2 → n 4, inner 1, so 2, sa 1, si 1
    const l = lower({ name: '', op: 'QuantizeLinear', ins: [[], []], attrs: { axis: int(1), block_size: int(2) } }, [t('float32', 3, 4), t('float32', 3, 2), t('uint8', 3, 2)]);
    const args = l.launches[0].args.slice(4).map((x) => ('kind' in x && x.kind === 'i64' ? Number(x.value) : NaN));
    expect(args).toEqual([12, 4, 1, 4, 2, 2, 1, 1]);
    // per-axis: x [1,3,3,2] axis 1 → n 3, inner 6
    const l2 = lower({ name: '', op: 'DequantizeLinear', ins: [[], []] }, [t('uint8', 1, 3, 3, 2), t('float32', 3), t('uint8', 3)]);
    const args2 = l2.launches[0].args.slice(4).map((x) => ('kind' in x && x.kind === 'i64' ? Number(x.value) : NaN));
    expect(args2).toEqual([18, 18, 6, 3, 1, 0, 1, 0]);
    // DynamicQuantizeLinear: reduce (1 block) then quantize, 8-byte scratch
    const l3 = lower({ name: '', op: 'DynamicQuantizeLinear', ins: [[], []] }, [t('float32', 3, 4)]);
    expect(l3.launches.map((x) => x.grid[0])).toEqual([1, 1]);
    expect(l3.scratch).toEqual([8]);
  });

  it('falls back for what it does not generate', () => {
    const bad: { op: string; ins: In[]; attrs?: Record<string, AttrValue>; outs: TensorDesc[] }[] = [
      { op: 'QuantizeLinear', ins: [t('float32', 5), t('float32'), t('float8e4m3fn', 1)], outs: [{ dtype: 'float8e4m3fn', shape: [5] }] },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), t('int4', 3)], outs: [{ dtype: 'int4', shape: [3, 4] }], attrs: { axis: int(0) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), t('uint2', 3)], outs: [{ dtype: 'uint2', shape: [3, 4] }], attrs: { axis: int(0) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 3), null], outs: [{ dtype: 'float4e2m1', shape: [3, 4] }], attrs: { axis: int(0), output_dtype: int(onnxCode('float4e2m1')) } },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32', 5), t('uint8', 5)], outs: [{ dtype: 'uint8', shape: [3, 4] }] },
      { op: 'QuantizeLinear', ins: [t('float32', 3, 4), t('float32'), t('int8')], outs: [{ dtype: 'int8', shape: [3, 4] }], attrs: { output_dtype: int(onnxCode('uint8')) } },
      { op: 'DequantizeLinear', ins: [t('float8e4m3fn', 5), t('float32'), null], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('int4', 5), t('float32'), t('int4', 1)], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('int64', 5), t('float32'), null], outs: [{ dtype: 'float32', shape: [5] }] },
      { op: 'DequantizeLinear', ins: [t('uint8', 3, 4), t('float32', 3, 4), t('uint8', 3, 4)], outs: [{ dtype: 'float32', shape: [3, 4] }], attrs: { axis: int(1), block_size: int(2) } },
      { op: 'QLinearMatMul', ins: [t('int16', 2, 4), t('float32'), t('int16'), t('int16', 4, 3), t('float32'), t('int16'), t('float32'), t('int16')], outs: [{ dtype: 'int16', shape: [2, 3] }] },
      { op: 'QLinearMatMul', ins: [t('int8', 2, 4), t('float32', 3), t('int8'), t('int8', 4, 3), t('float32'), t('int8'), t('float32'), t('int8')], outs: [{ dtype: 'int8', shape: [2, 3] }] },
      { op: 'QLinearMatMul', ins: [t('int8', 2, 4), t('float32'), t('int8'), t('int8', 4, 3), t('float32'), t('int8'), t('float32', 2), t('int8', 2)], outs: [{ dtype: 'int8', shape: [2, 3] }] },
      { op: 'DynamicQuantizeLinear', ins: [t('int32', 4)], outs: [{ dtype: 'uint8', shape: [4] }, { dtype: 'int32', shape: [] }, { dtype: 'uint8', shape: [] }] },
    ];
    for (const c of bad) {
      const node = makeNode(c.op, c.ins, c.attrs);
      const ctx: LowerContext = { node, inputs: c.ins.map((d) => d ?? undefined), outputs: c.outs, hostValue: () => undefined };
      expect(() => getLowering(c.op)!.lower(ctx), `${c.op} ${JSON.stringify(c.ins)}`).toThrow(Unsupported);
    }
  });

  it.skipIf(!nvccPath())(`compiles every kernel with nvcc${(!nvccPath()) ? ' (skipped: nvcc not found)' : ''}`, async () => {
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);

  // -ptx does not check inline PTX (cvt.rn.f16.f64 etc.); assemble everything once for sm_90 with ptxas
  it.skipIf(!nvccPath())(`assembles every kernel for sm_90${(!nvccPath()) ? ' (skipped: nvcc not found)' : ''}`, () => {
    const uniq = new Map<string, KernelSource>();
    for (const k of all) uniq.set(k.name, k);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-qz-'));
    const file = path.join(dir, 'all.cu');
    const unit = compileUnit({ name: 'prelude', family: 'x', params: [], code: '', maxThreads: 1 }) +
      [...uniq.values()].map((k, i) => `namespace chm_unit${i} {\n${k.code}\n}\n`).join('\n');
    fs.writeFileSync(file, unit);
    const r = spawnSync(nvccPath()!, ['-arch=sm_90', '-cubin', '-o', path.join(dir, 'all.cubin'), file], { encoding: 'utf8' });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  }, 600_000);
});

// ------------------------------------------------------------------------------------------------
// Host emulation: every launch's kernel text (inline-PTX helpers replaced by exact host equivalents, CUDA
// intrinsics by IEEE host operations) compiled with g++ into one program, run on random data with ties,
// NaN/±Inf and out-of-range values, and compared with the reference interpreter bit for bit. Checks the
// index math and the operation sequence (not the device's own conversions, which nvcc/ptxas check above).

function gppPath(): string | undefined {
  return spawnSync('g++', ['--version'], { encoding: 'utf8' }).status === 0 ? 'g++' : undefined;
}

const SHIM = `#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
struct D3 { unsigned x, y, z; };
static D3 blockIdx = {0,0,0}, threadIdx = {0,0,0}, blockDim = {1,1,1}, gridDim = {1,1,1};
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(n)
#define __shared__ static
#define __syncthreads()
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
#define CHM_INF __int_as_float(0x7f800000)
#define CHM_NAN __int_as_float(0x7fc00000)
static inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
static inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __double2float_rn(double d) { volatile float r = (float)d; return r; }
static inline float __int2float_rn(int i) { volatile float r = (float)i; return r; }
static double rnd_mini(double v, int mant, int minexp, double maxv) {
  if (v != v || v == 0 || isinf(v)) return v;
  double a = fabs(v); int e = ilogb(a); if (e < minexp) e = minexp;
  double q = ldexp(1.0, e - mant); double r = nearbyint(a / q) * q;
  if (r > maxv) r = INFINITY;
  return v < 0 ? -r : r;
}
static unsigned short enc_h(double v) {
  double r = rnd_mini(v, 10, -14, 65504.0);
  unsigned short s = signbit(r) ? 0x8000 : 0;
  if (r != r) return 0x7e00;
  double a = fabs(r);
  if (isinf(a)) return s | 0x7c00;
  if (a == 0) return s;
  if (a < ldexp(1.0, -14)) return s | (unsigned short)(a / ldexp(1.0, -24));
  int e = ilogb(a);
  return s | (unsigned short)((e + 15) << 10) | (unsigned short)(a / ldexp(1.0, e - 10) - 1024);
}
static unsigned short enc_b(double v) {
  double r = rnd_mini(v, 7, -126, 3.3895313892515355e38);
  if (r != r) return 0x7fc0;
  float f = (float)r; unsigned int u; memcpy(&u, &f, 4); return (unsigned short)(u >> 16);
}
static inline float chm_h2f(unsigned short h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023; double v;
  if (e == 31) v = m ? NAN : INFINITY; else if (e == 0) v = ldexp((double)m, -24); else v = ldexp(1024.0 + m, e - 25);
  return (float)(s ? -v : v);
}
static inline float chm_b2f(unsigned short h) { unsigned int u = ((unsigned int)h) << 16; float f; memcpy(&f, &u, 4); return f; }
static inline double qz_rd_h(double v) { return (double)chm_h2f(enc_h(v)); }
static inline double qz_rd_b(double v) { return (double)chm_b2f(enc_b(v)); }
static inline unsigned short qz_f2h(float f) { return enc_h((double)f); }
static inline unsigned short qz_f2b(float f) { return enc_b((double)f); }
static void* load(const char* p, size_t n) { void* b = calloc(n + 16, 1); FILE* f = fopen(p, "rb"); if (n && fread(b, 1, n, f) != n) abort(); fclose(f); return b; }
static void save(const char* p, const void* b, size_t n) { FILE* f = fopen(p, "wb"); fwrite(b, 1, n, f); fclose(f); }
`;

type EIn = { dtype: DType; shape: number[]; vals: number[] } | null;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

function bytesOf(t: Tensor): Buffer {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const d = t.data as Float32Array;
    const u = new Uint16Array(d.length);
    for (let i = 0; i < d.length; i++) u[i] = encodeBits(t.dtype, d[i]);
    return Buffer.from(u.buffer);
  }
  const d = t.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function valuesOf(dtype: DType, b: Buffer, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'float32': out.push(b.readFloatLE(4 * i)); break;
      case 'float64': out.push(b.readDoubleLE(8 * i)); break;
      case 'float16': case 'bfloat16': out.push(decodeBits(dtype, b.readUInt16LE(2 * i))); break;
      case 'int8': out.push(b.readInt8(i)); break;
      case 'uint8': out.push(b.readUInt8(i)); break;
      case 'int16': out.push(b.readInt16LE(2 * i)); break;
      case 'uint16': out.push(b.readUInt16LE(2 * i)); break;
      case 'int32': out.push(b.readInt32LE(4 * i)); break;
      default: throw new Error(dtype);
    }
  }
  return out;
}

interface EmuCase { name: string; op: string; names: string[]; outs: string[]; ins: EIn[]; attrs?: Record<string, AttrValue> }

interface Prepared { c: EmuCase; expected: Tensor[]; code: string }

/** the reference outputs and the C++ body of one case (inputs/outputs as files dir/c<i>_in<k>, _out<k>) */
function prepare(c: EmuCase, idx: number, dir: string, kernels: Map<string, string>): Prepared {
  const node = new Node({ op: c.op, inputs: c.ins.map((d, i) => (d ? c.names[i] : '')), outputs: c.outs, attrs: c.attrs ?? {} });
  const isF = (d: DType) => d.startsWith('float') || d === 'bfloat16';
  const tensors = c.ins.map((d) => (d ? Tensor.from(d.dtype, d.shape, isF(d.dtype) ? d.vals.map((v) => roundToDtype(d.dtype, v, false)) : d.vals) : null));
  const vals: RuntimeValue[] = tensors;
  const kctx: KernelContext = {
    node, opset: 23, inputs: vals, input: (i) => vals[i] as Tensor, optionalInput: (i) => (vals[i] ?? undefined) as Tensor | undefined,
    runSubgraph: () => { throw new Error('no subgraphs'); }, fail: (m) => { throw new Error(m); },
  };
  const expected = getKernel(c.op)!(kctx) as Tensor[];
  const ctx: LowerContext = { node, inputs: c.ins.map((d) => (d ? { dtype: d.dtype, shape: d.shape } : undefined)), outputs: expected.map((e) => ({ dtype: e.dtype, shape: e.shape })), hostValue: () => undefined };
  const l: Lowered = getLowering(c.op)!.lower(ctx);
  for (const la of l.launches) kernels.set(la.kernel.name, la.kernel.code.split('\n').filter((x) => !x.includes('asm(')).join('\n'));
  const f = (s: string) => JSON.stringify(path.join(dir, `c${idx}_${s}`));
  let code = `static void case${idx}() {\n`;
  tensors.forEach((t, i) => {
    if (!t) return;
    const b = bytesOf(t);
    fs.writeFileSync(path.join(dir, `c${idx}_in${i}`), b);
    code += `  void* in${i} = load(${f(`in${i}`)}, ${b.length});\n`;
  });
  expected.forEach((e, i) => { code += `  void* out${i} = calloc(${e.size * dt(e.dtype).bytes + 16}, 1);\n`; });
  (l.scratch ?? []).forEach((s, i) => { code += `  void* scr${i} = calloc(${s + 16}, 1);\n`; });
  // grid-stride kernels cover every element with one thread; the single-block reduction reduces to thread 0
  for (const la of l.launches) {
    const args = la.args.map((a, j) => {
      const p = la.kernel.params[j];
      if ('in' in a) return `(${p.readonly ? 'const ' : ''}${p.elem}*)in${a.in}`;
      if ('out' in a) return `(${p.elem}*)out${a.out}`;
      if ('scratch' in a) return `(${p.readonly ? 'const ' : ''}${p.elem}*)scr${a.scratch}`;
      if (a.kind === 'i64') return `${a.value}LL`;
      return String((a as { value: number }).value);
    });
    code += `  ${la.kernel.name}(${args.join(', ')});\n`;
  }
  expected.forEach((e, i) => { code += `  save(${f(`out${i}`)}, out${i}, ${e.size * dt(e.dtype).bytes});\n`; });
  code += '}\n';
  return { c, expected, code };
}

function compare(p: Prepared, idx: number, dir: string): string[] {
  const errs: string[] = [];
  p.expected.forEach((e, i) => {
    const got = valuesOf(e.dtype, fs.readFileSync(path.join(dir, `c${idx}_out${i}`)), e.size);
    let bad = 0;
    for (let k = 0; k < e.size; k++) {
      const want = e.getNumber(k);
      if (!(Object.is(want, got[k]) || (Number.isNaN(want) && Number.isNaN(got[k])))) {
        if (bad++ < 3) errs.push(`${p.c.name} out${i}[${k}]: want ${want} got ${got[k]}`);
      }
    }
    if (bad) errs.push(`${p.c.name} out${i}: ${bad}/${e.size} mismatches`);
  });
  return errs;
}

const QN = ['x', 'y_scale', 'y_zero_point'];
const DN = ['x', 'x_scale', 'x_zero_point'];
const MN = ['a', 'a_scale', 'a_zero_point', 'b', 'b_scale', 'b_zero_point', 'y_scale', 'y_zero_point'];

function emuCases(): EmuCase[] {
  const r = rng(7);
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const RANGE: Record<string, [number, number]> = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647] };
  const xf = (dtype: DType, shape: number[], mag = 300, specials = true): EIn => ({
    dtype, shape, vals: Array.from({ length: n(shape) }, (_, i) => {
      const u = r();
      if (specials && i % 37 === 5) return [NaN, Infinity, -Infinity, 1e30, -1e30][i % 5];
      if (u < 0.1) return (Math.floor(r() * 2 * mag) - mag) * 0.125; // ties
      return (r() * 2 - 1) * mag;
    }),
  });
  const sc = (dtype: DType, shape: number[]): EIn => ({ dtype, shape, vals: Array.from({ length: n(shape) }, () => [0.5, 0.25, 2, 0.1, 3, 0.0375, 1.7][Math.floor(r() * 7)]) });
  const zi = (dtype: DType, shape: number[], lim?: number): EIn => {
    const [lo, hi] = RANGE[dtype];
    const L = lim ?? Math.min(hi - lo, 2 ** 20);
    return { dtype, shape, vals: Array.from({ length: n(shape) }, () => Math.max(lo, Math.min(hi, Math.floor(lo + r() * (hi - lo + 1)) % (L + 1) + (lo < 0 ? 0 : 0)))) };
  };
  const cs: EmuCase[] = [];
  const Q = (name: string, ins: EIn[], attrs?: Record<string, AttrValue>) => cs.push({ name: `Q/${name}`, op: 'QuantizeLinear', names: QN, outs: ['y'], ins, attrs });
  const D = (name: string, ins: EIn[], attrs?: Record<string, AttrValue>) => cs.push({ name: `DQ/${name}`, op: 'DequantizeLinear', names: DN, outs: ['y'], ins, attrs });
  for (const tg of ['uint8', 'int8', 'int16', 'uint16'] as DType[]) {
    const mag = tg.endsWith('16') ? 40000 : 300;
    Q(`tensor-${tg}`, [xf('float32', [200], mag), sc('float32', []), zi(tg, [])]);
    Q(`axis-${tg}`, [xf('float32', [2, 3, 5, 2], mag), sc('float32', [3]), zi(tg, [3])], { axis: int(1) });
    Q(`blocked-${tg}`, [xf('float32', [3, 8], mag), sc('float32', [3, 3]), zi(tg, [3, 3])], { axis: int(1), block_size: int(3) });
    Q(`blocked-axis0-${tg}`, [xf('float32', [7, 2, 3], mag), sc('float32', [3, 2, 3]), zi(tg, [3, 2, 3])], { axis: int(0), block_size: int(3) });
    Q(`nozp-${tg}`, [xf('float32', [50], mag), sc('float32', []), null], { output_dtype: int(onnxCode(tg)) });
  }
  Q('default', [xf('float32', [40]), sc('float32', [])]);
  Q('axis-neg', [xf('float32', [4, 6]), sc('float32', [6]), zi('uint8', [6])], { axis: int(-1) });
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      Q(`${xd}-${sd}`, [xf(xd, [300], 30000), sc(sd, [5]), zi('int16', [5])], { axis: int(0), block_size: int(60) });
    }
  }
  Q('int32-x', [{ dtype: 'int32', shape: [100], vals: Array.from({ length: 100 }, () => Math.floor((r() * 2 - 1) * 70000)) }, sc('float32', []), zi('int16', [])]);
  for (const p of ['float16', 'bfloat16', 'float32', 'float64'] as DType[]) {
    Q(`precision-${p}`, [xf('float32', [300], 60000), sc('float32', [3]), zi('uint16', [3])], { axis: int(0), block_size: int(100), precision: int(onnxCode(p)) });
    Q(`precision-${p}-f64`, [xf('float64', [300], 60000), sc('float64', [3]), zi('uint16', [3])], { axis: int(0), block_size: int(100), precision: int(onnxCode(p)) });
  }
  for (const xd of ['int8', 'uint8', 'int16', 'uint16', 'int32'] as DType[]) {
    const xi = (shape: number[]): EIn => ({ ...zi(xd, shape, xd === 'int32' ? undefined : undefined)!, vals: Array.from({ length: n(shape) }, () => Math.floor(RANGE[xd][0] + r() * (RANGE[xd][1] - RANGE[xd][0] + 1))) });
    for (const sd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
      D(`${xd}-${sd}`, [xi([100]), sc(sd, []), xi([])]);
    }
    D(`${xd}-axis`, [xi([2, 3, 4]), sc('float32', [3]), xi([3])], { axis: int(1) });
    D(`${xd}-blocked`, [xi([2, 7, 3]), sc('float32', [2, 3, 3]), xi([2, 3, 3])], { axis: int(1), block_size: int(3) });
    D(`${xd}-nozp`, [xi([30]), sc('float32', []), null]);
    for (const od of ['float16', 'bfloat16', 'float64', 'float32'] as DType[]) {
      for (const sd of ['float32', 'float64', 'float16'] as DType[]) {
        const big: EIn = { dtype: sd, shape: [4], vals: [1e-3, 3.7, 1.3e4, 0.1] };
        D(`${xd}-out-${od}-s-${sd}`, [xi([4, 25]), big, xi([4])], { axis: int(0), output_dtype: int(onnxCode(od)) });
      }
    }
  }
  for (const xd of ['float32', 'float16', 'bfloat16', 'float64'] as DType[]) {
    const DQ = (name: string, x: EIn) => cs.push({ name: `DynQ/${xd}/${name}`, op: 'DynamicQuantizeLinear', names: ['x'], outs: ['y', 'y_scale', 'y_zero_point'], ins: [x] });
    DQ('mixed', xf(xd, [3000], 5, false));
    DQ('pos', { dtype: xd, shape: [3, 4], vals: Array.from({ length: 12 }, () => 1 + r() * 9) });
    DQ('neg', { dtype: xd, shape: [13], vals: Array.from({ length: 13 }, () => -1 - r() * 9) });
    DQ('zeros', { dtype: xd, shape: [5], vals: [0, 0, 0, 0, 0] });
    DQ('nan', { dtype: xd, shape: [6], vals: [1, NaN, -2, 3.5, NaN, 0.25] });
    DQ('onnx', { dtype: xd, shape: [6], vals: [0, 2, -3, -2.5, 1.34, 0.5] });
    DQ('onnx-max', { dtype: xd, shape: [6], vals: [-1.0, -2.1, -1.3, -2.5, -3.34, -4.0] });
    DQ('empty', { dtype: xd, shape: [0], vals: [] });
  }
  const M = (name: string, ins: EIn[]) => cs.push({ name: `QMM/${name}`, op: 'QLinearMatMul', names: MN, outs: ['y'], ins });
  const qi = (dtype: DType, shape: number[]): EIn => ({ dtype, shape, vals: Array.from({ length: n(shape) }, () => Math.floor(RANGE[dtype][0] + r() * 256)) });
  const qs = (dtype: DType, shape: number[], base: number): EIn => ({ dtype, shape, vals: Array.from({ length: n(shape) }, () => base * (0.5 + r())) });
  for (const ad of ['int8', 'uint8'] as DType[]) {
    for (const sd of ['float32', 'float16'] as DType[]) {
      M(`2D-${ad}-${sd}`, [qi(ad, [5, 33]), qs(sd, [1], 0.02), qi(ad, [1]), qi(ad, [33, 7]), qs(sd, [1], 0.03), qi(ad, [1]), qs(sd, [1], 0.5), qi(ad, [1])]);
      M(`3D-${ad}-${sd}`, [qi(ad, [2, 5, 9]), qs(sd, [1], 0.02), qi(ad, [1]), qi(ad, [2, 9, 7]), qs(sd, [1], 0.03), qi(ad, [1]), qs(sd, [1], 0.05), qi(ad, [1])]);
    }
  }
  M('bcast-row-col', [qi('uint8', [2, 1, 3, 4]), qs('float32', [3], 0.1), qi('uint8', [3]), qi('int8', [5, 4, 6]), qs('float16', [6], 0.1), qi('int8', [6]), qs('float64', [], 1), qi('int8', [])]);
  M('1D-a', [qi('int8', [4]), qs('float32', [], 0.1), qi('int8', []), qi('int8', [2, 4, 5]), qs('float32', [], 0.1), qi('int8', []), qs('float32', [], 1), qi('uint8', [])]);
  M('1D-b', [qi('uint8', [3, 4]), qs('float32', [3], 0.1), qi('uint8', [3]), qi('uint8', [4]), qs('float32', [], 0.1), qi('uint8', []), qs('float32', [], 1), qi('uint8', [])]);
  M('nozp', [qi('uint8', [3, 4]), qs('float32', [3], 0.1), null, qi('uint8', [4, 2]), qs('float32', [2], 0.1), null, qs('float32', [], 1), qi('uint8', [])]);
  M('zero-yscale', [qi('uint8', [3, 4]), qs('float32', [3], 0.1), null, qi('uint8', [4, 2]), qs('float32', [2], 0.1), null, { dtype: 'float32', shape: [], vals: [0] }, qi('uint8', [])]);
  return cs;
}

it.skipIf(!gppPath())(`kernels run on the host through a C++ shim match the reference bit for bit${(!gppPath()) ? ' (skipped: g++ not found)' : ''}`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qzemu-'));
  const kernels = new Map<string, string>();
  const prepared = emuCases().map((c, i) => prepare(c, i, dir, kernels));
  const src = `${SHIM}${[...kernels.values()].join('\n')}\n${prepared.map((p) => p.code).join('')}int main() {\n${prepared.map((_, i) => `  case${i}();\n`).join('')}  return 0;\n}\n`;
  fs.writeFileSync(path.join(dir, 'p.cpp'), src);
  const cc = spawnSync('g++', ['-O1', '-ffp-contract=off', '-fno-fast-math', '-w', '-o', path.join(dir, 'p'), path.join(dir, 'p.cpp')], { encoding: 'utf8' });
  expect(cc.stderr.slice(0, 3000)).toBe('');
  const r = spawnSync(path.join(dir, 'p'), { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const errs = prepared.flatMap((p, i) => compare(p, i, dir));
  fs.rmSync(dir, { recursive: true, force: true });
  expect(errs.join('\n')).toBe('');
}, 900_000);
