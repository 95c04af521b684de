// Lowerings of the reduction family: Reduce*, ArgMax/ArgMin, CumSum/CumProd, Softmax/LogSoftmax/Hardmax.
// Checks launches against kernel signatures, kernel sets independent of concrete dims, and compiles every
// kernel with nvcc (skipped without nvcc). With CHM_GPU_DUMP=<dir>, also writes each case (kernel text,
// launches, random inputs, the reference interpreter's outputs) for a GPU run elsewhere.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import { encodeBits } from '../../src/ir/float.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import { compileUnit, type KernelSource } from '../../src/codegen/kernel-ir.js';
import '../../src/codegen/ops/reduce.js';
import '../../src/codegen/ops/softmax.js';
import '../../src/ref/kernels/index.js';
import { getKernel, type KernelContext, type RuntimeValue } from '../../src/ref/kernel.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';
import { kernelNameSet, kernelSources } from './helpers.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });

interface Case {
  name: string;
  op: string;
  dtype: DType;
  shapes: [number[], number[]]; // two shapes of the same rank (kernel-set invariance)
  attrs?: Record<string, AttrValue>;
  /** host input 1 (axes / axis) as int64 values; null = omitted */
  host1?: number[] | null;
  host1Scalar?: boolean;
  /** inject NaN / ±Inf into the GPU dump's random data */
  specials?: boolean;
}

const REDUCE_OPS = ['ReduceSum', 'ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];
const FLOATS: DType[] = ['float32', 'float16', 'bfloat16', 'float64'];
const INTS: DType[] = ['int32', 'int64', 'int8', 'uint8', 'uint32', 'uint64', 'int16'];

function cases(): Case[] {
  const cs: Case[] = [];
  for (const op of REDUCE_OPS) {
    for (const dtype of [...FLOATS, ...INTS]) {
      cs.push({ name: `${op}/${dtype}/axes1`, op, dtype, shapes: [[3, 4, 5], [2, 7, 300]], host1: [1] });
      cs.push({ name: `${op}/${dtype}/last`, op, dtype, shapes: [[3, 70], [5, 1000]], host1: [-1], attrs: { keepdims: int(0) } });
    }
    cs.push({ name: `${op}/all`, op, dtype: 'float32', shapes: [[3, 2, 2], [40, 30, 20]], host1: null });
    cs.push({ name: `${op}/split-axes`, op, dtype: 'float32', shapes: [[2, 3, 4, 5], [6, 7, 8, 9]], host1: [0, 2] });
    cs.push({ name: `${op}/mixed-axes-r5`, op, dtype: 'float32', shapes: [[2, 3, 4, 5, 6], [3, 1, 5, 1, 7]], host1: [1, -1, 2] });
    cs.push({ name: `${op}/empty-set`, op, dtype: 'float32', shapes: [[2, 0, 4], [3, 0, 5]], host1: [1] });
    cs.push({ name: `${op}/noop`, op, dtype: 'float32', shapes: [[3, 4], [5, 6]], host1: [], attrs: { noop_with_empty_axes: int(1) } });
    cs.push({ name: `${op}/axis0-big`, op, dtype: 'float32', shapes: [[3000, 4], [5000, 3]], host1: [0] });
    cs.push({ name: `${op}/scalar`, op, dtype: 'float32', shapes: [[], []], host1: null });
  }
  cs.push({ name: 'ReduceMax/bool', op: 'ReduceMax', dtype: 'bool', shapes: [[4, 2], [6, 3]], host1: [1] });
  cs.push({ name: 'ReduceMin/bool', op: 'ReduceMin', dtype: 'bool', shapes: [[4, 2], [6, 300]], host1: [1] });
  for (const op of ['ArgMax', 'ArgMin']) {
    for (const dtype of [...FLOATS, 'int32', 'int64', 'uint8'] as DType[]) {
      for (const last of [0, 1]) {
        cs.push({ name: `${op}/${dtype}/axis1/last${last}`, op, dtype, shapes: [[2, 3, 4], [5, 6, 7]], attrs: { axis: int(1), select_last_index: int(last) } });
        cs.push({ name: `${op}/${dtype}/axis-1/last${last}`, op, dtype, shapes: [[2, 500], [3, 90]], attrs: { axis: int(-1), keepdims: int(0), select_last_index: int(last) } });
      }
    }
  }
  for (const op of ['CumSum', 'CumProd']) {
    for (const dtype of [...FLOATS, 'int32', 'int64', 'int8', 'uint32'] as DType[]) {
      for (const [ex, rev] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        cs.push({ name: `${op}/${dtype}/ex${ex}rev${rev}`, op, dtype, shapes: [[2, 3, 4], [3, 5, 6]], host1: [1], host1Scalar: true, attrs: { exclusive: int(ex), reverse: int(rev) } });
      }
    }
    cs.push({ name: `${op}/neg-axis`, op, dtype: 'float32', shapes: [[5], [40]], host1: [-1], host1Scalar: true });
  }
  for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
    for (const dtype of FLOATS) {
      cs.push({ name: `${op}/${dtype}/last`, op, dtype, shapes: [[3, 4, 5], [2, 3, 1000]] });
      cs.push({ name: `${op}/${dtype}/axis1`, op, dtype, shapes: [[3, 4, 5], [2, 300, 3]], attrs: { axis: int(1) } });
      cs.push({ name: `${op}/${dtype}/axis0`, op, dtype, shapes: [[3, 4], [100, 2]], attrs: { axis: int(0) } });
    }
    cs.push({ name: `${op}/scalar`, op, dtype: 'float32', shapes: [[], []], attrs: { axis: int(0) } });
    cs.push({ name: `${op}/empty`, op, dtype: 'float32', shapes: [[0, 4], [3, 0]] });
  }
  // NaN / Inf propagation (GPU dump)
  for (const dtype of ['float32', 'float16'] as DType[]) {
    for (const op of ['ReduceMax', 'ReduceMin', 'ReduceLogSumExp', 'ReduceSum']) {
      cs.push({ name: `${op}/${dtype}/specials`, op, dtype, shapes: [[40, 70], [5, 1000]], host1: [-1], specials: true });
      cs.push({ name: `${op}/${dtype}/specials-axis0`, op, dtype, shapes: [[40, 70], [3000, 5]], host1: [0], specials: true });
    }
    for (const op of ['ArgMax', 'ArgMin']) {
      for (const last of [0, 1]) cs.push({ name: `${op}/${dtype}/specials/last${last}`, op, dtype, shapes: [[40, 70], [5, 1000]], attrs: { axis: int(1), select_last_index: int(last) }, specials: true });
    }
    for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
      cs.push({ name: `${op}/${dtype}/specials`, op, dtype, shapes: [[40, 70], [5, 1000]], specials: true });
      cs.push({ name: `${op}/${dtype}/specials-axis0`, op, dtype, shapes: [[40, 70], [300, 5]], attrs: { axis: int(0) }, specials: true });
    }
  }
  return cs;
}

function makeNode(c: Case): Node {
  const inputs = c.host1 === undefined ? ['x'] : c.host1 === null ? ['x', ''] : ['x', 'axes'];
  return new Node({ op: c.op, inputs, outputs: ['y'], attrs: c.attrs ?? {} });
}

function hostTensor(c: Case): Tensor | undefined {
  if (c.host1 === undefined || c.host1 === null) return undefined;
  return Tensor.from('int64', c.host1Scalar ? [] : [c.host1.length], c.host1.map((v) => BigInt(v)));
}

/** the reference's output (via the ref kernel) for input x */
function runRef(c: Case, x: Tensor): Tensor {
  const node = makeNode(c);
  const ins: RuntimeValue[] = [x];
  const h = hostTensor(c);
  if (node.inputs.length > 1) ins.push(h ?? null);
  const ctx: KernelContext = {
    node, opset: 21, inputs: ins,
    input: (i) => ins[i] as Tensor,
    optionalInput: (i) => (ins[i] ?? undefined) as Tensor | undefined,
    runSubgraph: () => { throw new Error('no subgraphs'); },
    fail: (m) => { throw new Error(m); },
  };
  return getKernel(c.op)!(ctx)[0] as Tensor;
}

function lower(c: Case, shape: number[]): { l: Lowered; out: TensorDesc } {
  const node = makeNode(c);
  const x = Tensor.zeros(c.dtype, shape);
  const outT = runRef(c, x); // output type from the reference (shape + dtype)
  const out: TensorDesc = { dtype: outT.dtype, shape: outT.shape };
  const h = hostTensor(c);
  const ins: (TensorDesc | undefined)[] = [{ dtype: c.dtype, shape }];
  if (node.inputs.length > 1) ins.push(h ? { dtype: 'int64', shape: h.shape } : undefined);
  const ctx: LowerContext = { node, inputs: ins, outputs: [out], hostValue: (i) => (i === 1 ? h : undefined) };
  const low = getLowering(c.op)!;
  if (node.inputs.length > 1 && low.hostInputs) expect(low.hostInputs).toContain(1);
  return { l: low.lower(ctx), out };
}

const kernelsOf = kernelSources;
const nameSet = kernelNameSet;

const ALL = cases();

describe('reduction lowerings', () => {
  const all: KernelSource[] = [];
  for (const c of ALL) {
    it(c.name, () => {
      const [a, b] = c.shapes.map((s) => lower(c, s));
      for (const { l } of [a, b]) {
        for (const launch of l.launches) expect(checkLaunch(launch, { inputs: c.host1 === undefined ? 1 : 2, outputs: 1, scratch: 0 })).toEqual([]);
        all.push(...kernelsOf(l));
      }
      expect(nameSet(a.l)).toEqual(nameSet(b.l));
    });
  }

  it('falls back for what it does not generate', () => {
    const bad: Case[] = [
      { name: 'sum-bool', op: 'ReduceSum', dtype: 'bool', shapes: [[2], [2]], host1: [0] },
      { name: 'argmax-empty', op: 'ArgMax', dtype: 'float32', shapes: [[2, 0], [2, 0]], attrs: { axis: int(1) } },
      { name: 'softmax-int', op: 'Softmax', dtype: 'int32', shapes: [[2, 3], [2, 3]] },
    ];
    for (const c of bad) {
      const node = makeNode(c);
      const h = hostTensor(c);
      const ins: (TensorDesc | undefined)[] = [{ dtype: c.dtype, shape: c.shapes[0] }];
      if (node.inputs.length > 1) ins.push(h ? { dtype: 'int64', shape: h.shape } : undefined);
      const ctx: LowerContext = { node, inputs: ins, outputs: [{ dtype: c.dtype, shape: [] }], hostValue: (i) => (i === 1 ? h : undefined) };
      expect(() => getLowering(c.op)!.lower(ctx), c.name).toThrow(Unsupported);
    }
  });

  it.skipIf(!nvccPath())(`compiles every kernel with nvcc${(!nvccPath()) ? ' (skipped: nvcc not found)' : ''}`, async () => {
    const failures = await compileAllWithNvcc(all);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});

// ------------------------------------------------------------------------------------------------
// GPU dump: cases with random data and the reference outputs, run by a CuPy script on a GPU machine.

function rawBytes(t: Tensor): Buffer {
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') {
    const d = t.data as Float32Array;
    const u = new Uint16Array(d.length);
    for (let i = 0; i < d.length; i++) u[i] = encodeBits(t.dtype, d[i]);
    return Buffer.from(u.buffer);
  }
  const d = t.data as ArrayBufferView;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

function randomInput(dtype: DType, shape: number[], seed: number): Tensor {
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const n = shape.reduce((a, b) => a * b, 1);
  const vals: (number | bigint)[] = [];
  for (let i = 0; i < n; i++) {
    const r = rnd();
    if (dtype === 'bool') vals.push(r < 0.5 ? 0 : 1);
    else if (dtype.startsWith('float') || dtype === 'bfloat16') vals.push(Math.round((r * 4 - 1.5) * 64) / 64 + (r > 0.97 ? 1.5 : 0));
    else if (dtype.startsWith('uint')) vals.push(Math.floor(r * 7));
    else vals.push(Math.floor(r * 9) - 4);
  }
  const t = Tensor.from(dtype, shape, vals);
  if (dtype === 'float16' || dtype === 'bfloat16') {
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = Math.round(d[i] * 64) / 64;
  }
  return t;
}

it.skipIf(!process.env.CHM_GPU_DUMP)('dumps GPU cases (set CHM_GPU_DUMP)', () => {
  const dir = process.env.CHM_GPU_DUMP!;
  fs.mkdirSync(dir, { recursive: true });
  const kernels = new Map<string, string>();
  const out: unknown[] = [];
  let seed = 1;
  for (const c of ALL) {
    for (const shape of c.shapes) {
      let x = randomInput(c.dtype, shape, seed++);
      if (c.specials) {
        const d = x.data as Float32Array;
        for (let i = 0; i < d.length; i++) {
          const h = (i * 7919 + seed) % 211;
          if (h === 3) d[i] = NaN; else if (h === 5) d[i] = Infinity; else if (h === 7) d[i] = -Infinity;
        }
      }
      if (c.op === 'ReduceLogSum' && x.dtype !== 'bool') x = Tensor.from(c.dtype, shape, Array.from({ length: x.size }, (_, i) => (Math.abs(x.getNumber(i)) + 1)));
      if (c.op === 'CumProd' || c.op === 'ReduceProd') {
        // keep products in range
        x = Tensor.from(c.dtype, shape, Array.from({ length: x.size }, (_, i) => { const v = x.getNumber(i); return c.dtype.startsWith('float') || c.dtype === 'bfloat16' ? 0.75 + (v - Math.floor(v)) * 0.5 : (v % 3); }));
      }
      let expected: Tensor;
      try { expected = runRef(c, x); } catch { continue; }
      const { l } = lower(c, shape);
      for (const k of kernelsOf(l)) kernels.set(k.name, compileUnit(k));
      out.push({
        name: `${c.name}/${shape.join('x')}`,
        input: { dtype: c.dtype, b64: rawBytes(x).toString('base64') },
        output: { dtype: expected.dtype, n: expected.size, b64: rawBytes(expected).toString('base64') },
        launches: l.launches.map((la) => ({
          kernel: la.kernel.name, grid: la.grid, block: la.block, shared: la.sharedBytes ?? 0,
          args: la.args.map((a) => ('in' in a ? 'in' : 'out' in a ? 'out' : 'kind' in a && a.kind === 'i64' ? String(a.value) : 'bad')),
        })),
      });
    }
  }
  fs.writeFileSync(path.join(dir, 'cases.json'), JSON.stringify({ kernels: Object.fromEntries(kernels), cases: out }));
});
