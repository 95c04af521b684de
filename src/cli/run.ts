/** `chimera run <model>`: runs the model on the reference interpreter with given or random inputs. */
import fs from 'node:fs';
import path from 'node:path';
import { loadModel } from '../onnx/import.js';
import { runModel } from '../ref/interpreter.js';
import { Tensor } from '../ir/tensor.js';
import { TensorSequence, type RuntimeValue } from '../ref/kernel.js';
import type { Dim, Model, ValueInfo } from '../ir/graph.js';
import { isBigInt, isFloat, type DType } from '../ir/dtype.js';
import { roundToDtype } from '../ir/float.js';
import { decodeTensorProto } from '../onnx/proto.js';
import { tensorFromProto, tensorToProto } from '../onnx/tensor-io.js';
import { encodeTensorProto } from '../onnx/proto.js';
import { readNpy, writeNpy } from '../util/npy.js';
import { writeFileAtomic } from '../util/atomic.js';
import { Rng } from '../util/rng.js';
import { ChimeraError } from '../errors.js';
import { usage } from './common.js';
import { relL2 } from '../bench/compare.js';
import { cudaStatus } from '../runtime/cuda.js';
import { Engine } from '../engine/engine.js';
import { loadEngine } from '../engine/engine-file.js';
import type { Precision } from '../engine/precision.js';
import type { GemmLibraryMode, Implementation } from '../engine/gemm-library.js';

export interface RunCliOptions {
  inputs: string[]; // NAME=FILE
  dims: string[]; // SYMBOL=N
  seed?: number;
  outputDir?: string;
  /** cpu (interpreter, default) or cuda (a GPU engine; engine files always run on cuda) */
  device?: string;
  precision?: string;
  /** with cuda: also run the interpreter and report each output's relative L2 error */
  compare?: boolean;
  /** with cuda: device time per step (one profiled run), totals per op */
  profile?: boolean;
  /** with cuda: GEMMs through cuBLASLt where faster ('auto', default), never ('off') or always ('cublaslt') */
  gemmLibrary?: string;
}

export interface ProfileSummary {
  totalMs: number;
  /** op (or fused chain "A+B+C") → total ms and steps, most expensive first */
  byOp: { op: string; ms: number; steps: number }[];
  /** the most expensive steps */
  top: { label: string; ops: string; kernels: string; ms: number }[];
}

export interface TensorSummary { name: string; dtype: string; shape: number[]; min?: number; max?: number; mean?: number; head: (number | string)[]; file?: string; source?: string }
export interface RunReport {
  model: string; seed: number; inputs: TensorSummary[]; outputs: TensorSummary[]; ms: number;
  device: 'cpu' | 'cuda';
  /** with --compare: relative L2 error of each output against the interpreter */
  relL2?: Record<string, number>;
  warnings?: string[];
  profile?: ProfileSummary;
  /** with cuda: what served each GEMM that has a library form (kernel or cuBLASLt) and the times measured */
  implementations?: Implementation[];
}

/** An engine file (by its magic), not an ONNX model. */
export function isEngineFile(file: string): boolean {
  try {
    const fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, 0);
    fs.closeSync(fd);
    return b.toString('ascii', 0, 6) === 'CHMENG';
  } catch {
    return false;
  }
}

/** ‖a − b‖₂ / ‖b‖₂ over all elements (one implementation, shared with the benchmark's output check). */
export const relativeL2 = relL2;

function readTensorFile(file: string): Tensor {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ChimeraError('E_IO', `cannot read input: ${(e as Error).message}`, { file });
  }
  if (file.endsWith('.npy')) return readNpy(bytes, file);
  if (file.endsWith('.pb')) return tensorFromProto(decodeTensorProto(bytes, file), { file });
  return usage(`input file ${file} must end in .pb (TensorProto) or .npy`);
}

function resolveShape(v: ValueInfo, dims: Map<string, number>): number[] {
  const t = v.type;
  if (!t || t.kind !== 'tensor') throw new ChimeraError('E_USAGE', `input '${v.name}' is not a tensor; give it with --input`, { field: `input '${v.name}'` });
  if (!t.shape) throw new ChimeraError('E_USAGE', `input '${v.name}' has unknown rank; give it with --input`, { field: `input '${v.name}'` });
  return t.shape.map((d: Dim) => {
    if (typeof d === 'number') return d;
    if (d !== null && dims.has(d)) return dims.get(d)!;
    return 1; // unknown or unbound symbolic dim
  });
}

export function randomTensor(dtype: DType, shape: number[], rng: Rng): Tensor {
  const t = Tensor.zeros(dtype, shape);
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    if (isFloat(dtype)) (d as Float32Array)[i] = roundToDtype(dtype, rng.normal());
    else if (dtype === 'bool') (d as Uint8Array)[i] = rng.int(0, 2);
    else if (isBigInt(dtype)) (d as BigInt64Array)[i] = BigInt(rng.int(0, 10));
    else if (dtype === 'string') (d as string[])[i] = `s${rng.int(0, 100)}`;
    else (d as Int32Array)[i] = rng.int(0, 10);
  }
  return t;
}

export function summarize(name: string, t: Tensor): TensorSummary {
  const s: TensorSummary = { name, dtype: t.dtype, shape: [...t.shape], head: [] };
  const n = t.dtype.startsWith('complex') ? t.data.length : t.size;
  if (t.dtype !== 'string' && n > 0) {
    let min = Infinity, max = -Infinity, sum = 0;
    for (let i = 0; i < n; i++) {
      const v = Number(t.data[i]);
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
    }
    Object.assign(s, { min, max, mean: sum / n });
  }
  for (let i = 0; i < Math.min(n, 6); i++) s.head.push(typeof t.data[i] === 'string' ? (t.data[i] as string) : Number(t.data[i]));
  return s;
}

export function runCli(file: string, opts: RunCliOptions): RunReport {
  const engineFile = isEngineFile(file);
  const device = engineFile ? 'cuda' : (opts.device ?? 'cpu');
  if (device !== 'cpu' && device !== 'cuda') usage(`--device must be cpu or cuda, got '${device}'`);
  if (engineFile && opts.device === 'cpu') usage('an engine file runs on --device cuda');
  if (device === 'cuda' && !cudaStatus().available) throw new ChimeraError('E_DEVICE', `--device cuda: CUDA is not available here: ${cudaStatus().reason}`, { file });
  const loaded = engineFile ? loadEngine(file) : undefined;
  const model: Model = loaded ? loaded.engine.model : loadModel(file);
  const g = model.graph;
  const dims = new Map<string, number>();
  for (const d of opts.dims) {
    const m = /^([^=]+)=(\d+)$/.exec(d);
    if (!m) usage(`--dim expects SYMBOL=N, got '${d}'`);
    dims.set(m[1], Number(m[2]));
  }
  const given = new Map<string, Tensor>();
  for (const spec of opts.inputs) {
    const m = /^([^=]+)=(.+)$/.exec(spec);
    if (!m) usage(`--input expects NAME=FILE, got '${spec}'`);
    if (!g.inputs.some((v) => v.name === m[1])) usage(`'${m[1]}' is not an input of the model (inputs: ${g.feedInputs.map((v) => v.name).join(', ')})`);
    given.set(m[1], readTensorFile(m[2]));
  }
  const seed = opts.seed ?? (Date.now() % 1_000_000);
  const rng = new Rng(seed);
  const feeds = new Map<string, RuntimeValue>();
  const inputs: TensorSummary[] = [];
  for (const v of g.feedInputs) {
    const t = given.get(v.name) ?? randomTensor((v.type as { dtype: DType }).dtype, resolveShape(v, dims), rng);
    feeds.set(v.name, t);
    inputs.push({ ...summarize(v.name, t), source: given.has(v.name) ? 'file' : 'random' });
  }
  if (opts.outputDir) {
    try { fs.mkdirSync(opts.outputDir, { recursive: true }); } catch (e) {
      throw new ChimeraError('E_IO', `cannot create output directory: ${(e as Error).message}`, { file: opts.outputDir });
    }
  }
  let outs: Map<string, RuntimeValue>;
  let ms: number;
  let relL2: Record<string, number> | undefined;
  let profile: ProfileSummary | undefined;
  let implementations: Implementation[] = [];
  if (opts.profile && device !== 'cuda') usage('--profile needs --device cuda');
  const warnings: string[] = [];
  if (device === 'cuda') {
    const reference = opts.compare && !engineFile ? loadModel(file) : undefined;
    const gemmLibrary = (opts.gemmLibrary ?? 'auto') as GemmLibraryMode;
    if (!['auto', 'off', 'cublaslt'].includes(gemmLibrary)) usage(`--gemm-library must be auto, off or cublaslt (got '${opts.gemmLibrary}')`);
    const engine = loaded?.engine ?? new Engine(model, { precision: (opts.precision ?? 'fp32') as Precision, gemmLibrary });
    if (loaded) engine.setGemmLibrary(gemmLibrary);
    try {
      const start = performance.now();
      outs = engine.run(feeds);
      ms = performance.now() - start;
      warnings.push(...engine.library.warnings);
      if (opts.profile) profile = summarizeProfile(engine.profile(feeds));
      implementations = engine.implementations();
    } finally {
      engine.dispose();
    }
    if (opts.compare) {
      const ref = runModel(reference ?? model, feeds);
      relL2 = {};
      for (const [name, v] of outs) {
        const r = ref.get(name);
        if (v instanceof Tensor && r instanceof Tensor) relL2[name] = relativeL2(v, r);
      }
    }
  } else {
    const start = performance.now();
    outs = runModel(model, feeds);
    ms = performance.now() - start;
  }
  const outputs: TensorSummary[] = [];
  for (const [name, v] of outs) {
    const list: [string, Tensor][] = v instanceof Tensor ? [[name, v]] : v instanceof TensorSequence ? v.items.map((t, i) => [`${name}[${i}]`, t]) : [];
    for (const [n, t] of list) {
      const s = summarize(n, t);
      if (opts.outputDir) {
        const safe = n.replace(/[^A-Za-z0-9_.-]/g, '_');
        const npyOk = !['string', 'bfloat16', 'complex64', 'complex128'].includes(t.dtype) && !t.dtype.startsWith('float8') && !/^u?int[24]$|float4/.test(t.dtype);
        const out = path.join(opts.outputDir, `${safe}.${npyOk ? 'npy' : 'pb'}`);
        writeFileAtomic(out, npyOk ? writeNpy(t) : encodeTensorProto(tensorToProto(t, n)));
        s.file = out;
      }
      outputs.push(s);
    }
  }
  return { model: file, seed, inputs, outputs, ms, device, ...(relL2 ? { relL2 } : {}), ...(warnings.length ? { warnings } : {}), ...(profile ? { profile } : {}), ...(implementations.length ? { implementations } : {}) };
}

function summarizeProfile(steps: { label: string; ops: string[]; kernels: string[]; ms: number }[]): ProfileSummary {
  const byOp = new Map<string, { ms: number; steps: number }>();
  for (const s of steps) {
    const key = [...new Set(s.ops)].join('+');
    const e = byOp.get(key) ?? { ms: 0, steps: 0 };
    e.ms += s.ms;
    e.steps++;
    byOp.set(key, e);
  }
  return {
    totalMs: steps.reduce((a, s) => a + s.ms, 0),
    byOp: [...byOp].map(([op, e]) => ({ op, ...e })).sort((a, b) => b.ms - a.ms),
    top: [...steps].sort((a, b) => b.ms - a.ms).slice(0, 12).map((s) => ({ label: s.label, ops: s.ops.join('+'), kernels: [...new Set(s.kernels)].join(','), ms: s.ms })),
  };
}

/** One line: how many GEMMs cuBLASLt serves, and why the others stay on the generated kernel. */
export function implementationLine(impls: readonly Implementation[]): string {
  const lib = impls.filter((i) => i.chosen === 'cublasLt');
  const notes = [...new Set(impls.map((i) => i.note).filter((n): n is string => !!n))];
  const saved = lib.reduce((a, i) => a + ((i.kernelMs ?? 0) - (i.libraryMs ?? 0)), 0);
  return `GEMMs    ${impls.length - lib.length} generated kernel, ${lib.length} cuBLASLt${lib.length ? ` (measured ${saved.toFixed(3)} ms faster in all)` : ''}${notes.length ? `; ${notes.slice(0, 2).join('; ')}` : ''}`;
}

function fmtSummary(s: TensorSummary): string {
  const stats = s.min !== undefined ? `  min ${s.min.toPrecision(4)}  max ${s.max!.toPrecision(4)}  mean ${s.mean!.toPrecision(4)}` : '';
  return `  ${s.name}  ${s.dtype} [${s.shape.join(', ')}]${stats}${s.source ? `  (${s.source})` : ''}${s.file ? `  → ${s.file}` : ''}`;
}

export function printRun(r: RunReport): string {
  return [
    `model   ${r.model}`,
    ...(r.inputs.some((i) => i.source === 'random') ? [`seed    ${r.seed}  (random inputs reproduce with --seed ${r.seed})`] : []),
    'inputs',
    ...r.inputs.map(fmtSummary),
    `outputs (${r.device === 'cuda' ? 'CUDA engine, first run incl. planning and kernel loading' : 'interpreter'}, ${r.ms.toFixed(1)} ms)`,
    ...r.outputs.map(fmtSummary),
    ...(r.relL2 ? ['relative L2 error vs the interpreter', ...Object.entries(r.relL2).map(([k, v]) => `  ${k}  ${v.toExponential(3)}`)] : []),
    ...(r.profile ? [
      `profile (device time of one run, events between steps): ${r.profile.totalMs.toFixed(3)} ms`,
      ...r.profile.byOp.slice(0, 15).map((o) => `  ${o.ms.toFixed(3).padStart(9)} ms  ${((100 * o.ms) / r.profile!.totalMs).toFixed(1).padStart(5)} %  ${String(o.steps).padStart(4)} steps  ${o.op}`),
      'most expensive steps',
      ...r.profile.top.map((t) => `  ${t.ms.toFixed(3).padStart(9)} ms  ${t.ops}  [${t.kernels}]  ${t.label}`),
    ] : []),
    ...(r.implementations?.length ? [implementationLine(r.implementations)] : []),
  ].join('\n');
}
