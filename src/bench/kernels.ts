/**
 * Kernel microbenchmarks of `chimera bench`: single-node engines (one fp16 MatMul, one opset-23 Attention)
 * against torch.matmul (cuBLAS) and F.scaled_dot_product_attention, whose times scripts/bench_peers.py
 * wrote to DIR/kernels.json. For each case chimera runs on fresh seeded random inputs, is checked first
 * (small cases: the whole output against the reference interpreter; large ones: a sample of output rows
 * computed here in float64 from the same inputs; any NaN/Inf anywhere fails), and only then timed the same
 * way as the model rows (Engine.time: CUDA events around CUDA-graph replays, median of batches).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChimeraError } from '../errors.js';
import { Tensor } from '../ir/tensor.js';
import type { Model } from '../ir/graph.js';
import { roundToDtype } from '../ir/float.js';
import { GraphBuilder } from '../builder/graph-builder.js';
import { runModel } from '../ref/interpreter.js';
import type { RuntimeValue } from '../ref/kernel.js';
import { Rng } from '../util/rng.js';
import { relL2 } from './compare.js';
import { fmtErr, fmtMs, type RowStatus } from './report.js';

// ---------------------------------------------------------------------------------------------------
// kernels.json

export interface KernelTorch {
  op?: string;
  /** "graph" (one call captured in a CUDA graph, replayed) or "eager (...)" */
  mode?: string;
  ms?: number;
  samples_ms?: number[];
  iters?: number;
  repeats?: number;
  tflops?: number;
}

interface CaseBase {
  id: string;
  shape: string;
  dtype?: string;
  /** FLOPs as the peer script counted them (chimera bench counts them itself, see kernelFlops) */
  flops?: number;
  note?: string;
  torch?: KernelTorch;
  /** the torch side of this case failed */
  error?: string;
}

export interface GemmCase extends CaseBase {
  family: 'gemm';
  m: number;
  n: number;
  k: number;
  /** B given as [N, K] and used transposed (torch: a .t() view; chimera: MatMul(A, Transpose(W)) with a constant W) */
  trans_b?: boolean;
}

export interface AttentionCase extends CaseBase {
  family: 'attention';
  batch: number;
  heads: number;
  seq: number;
  head_dim: number;
  causal: boolean;
}

export type KernelCase = GemmCase | AttentionCase;

export interface KernelsFile {
  version: number;
  device?: string;
  created?: string;
  argv?: string[];
  versions?: Record<string, string>;
  cases: KernelCase[];
}

export const KERNELS_FILE = 'kernels.json';

const bad = (file: string, msg: string): never => {
  throw new ChimeraError('E_USAGE', `${file}: ${msg}`, { file });
};

const posInt = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Reads and checks DIR/kernels.json (every error names the file). */
export function readKernels(dir: string): KernelsFile {
  const file = path.join(dir, KERNELS_FILE);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ChimeraError('E_USAGE', `${dir} is not a folder (give the folder scripts/bench_peers.py wrote)`, { file: dir });
  }
  if (!fs.existsSync(file)) {
    throw new ChimeraError('E_USAGE', `no ${KERNELS_FILE} in ${dir}: run \`python3 scripts/bench_peers.py ${dir} --kernels\` on the GPU machine first`, { file });
  }
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return bad(file, `not valid JSON (${(e as Error).message})`);
  }
  const k = data as KernelsFile;
  if (typeof k !== 'object' || k === null || !Array.isArray(k.cases)) return bad(file, 'has no "cases" list');
  if (k.version !== 1) bad(file, `version ${String(k.version)} is not supported (expected 1)`);
  const seen = new Set<string>();
  k.cases.forEach((c, i) => {
    const where = `case ${i}`;
    if (typeof c !== 'object' || c === null) bad(file, `${where} is not an object`);
    for (const f of ['id', 'shape'] as const) if (typeof c[f] !== 'string') bad(file, `${where}: "${f}" must be a string`);
    if (seen.has(c.id)) bad(file, `${where}: id ${c.id} appears twice`);
    seen.add(c.id);
    const at = `${where} (${c.id})`;
    const fam = (c as { family?: unknown }).family;
    const r = c as unknown as Record<string, unknown>;
    if (fam === 'gemm') {
      for (const f of ['m', 'n', 'k']) if (!posInt(r[f])) bad(file, `${at}: "${f}" must be a positive integer`);
      if (r.trans_b !== undefined && typeof r.trans_b !== 'boolean') bad(file, `${at}: "trans_b" must be true or false`);
    } else if (fam === 'attention') {
      for (const f of ['batch', 'heads', 'seq', 'head_dim']) if (!posInt(r[f])) bad(file, `${at}: "${f}" must be a positive integer`);
      if (typeof r.causal !== 'boolean') bad(file, `${at}: "causal" must be true or false`);
    } else {
      bad(file, `${at}: "family" must be "gemm" or "attention", got ${JSON.stringify(fam)}`);
    }
    if (c.torch !== undefined) {
      if (typeof c.torch !== 'object' || c.torch === null) bad(file, `${at}: "torch" must be an object`);
      if (c.torch.ms !== undefined && !(typeof c.torch.ms === 'number' && c.torch.ms > 0)) bad(file, `${at}: "torch.ms" must be a positive number`);
    }
  });
  return k;
}

// ---------------------------------------------------------------------------------------------------
// FLOPs, targets

/** GEMM: 2·M·N·K. Attention: 4·B·H·S²·D (QKᵀ and PV), half of that when causal (the masked half is skipped). */
export function kernelFlops(c: KernelCase): number {
  if (c.family === 'gemm') return 2 * c.m * c.n * c.k;
  const full = 4 * c.batch * c.heads * c.seq * c.seq * c.head_dim;
  return c.causal ? full / 2 : full;
}

/** TFLOP/s of `flops` done in `ms`. */
export function tflops(flops: number, ms: number | undefined): number | undefined {
  return ms !== undefined && ms > 0 && Number.isFinite(ms) ? flops / (ms * 1e-3) / 1e12 : undefined;
}

/** The issue's targets: GEMM 4096³ ≥ 70 % of cuBLAS, attention S 2048 D 128 (causal or not) ≥ 60 % of SDPA. */
export function kernelTarget(c: KernelCase): number | undefined {
  if (c.family === 'gemm') return c.m === 4096 && c.n === 4096 && c.k === 4096 && !c.trans_b ? 0.7 : undefined;
  return c.seq === 2048 && c.head_dim === 128 ? 0.6 : undefined;
}

// ---------------------------------------------------------------------------------------------------
// the single-node problems

export interface KernelProblem {
  kase: KernelCase;
  feeds: Map<string, Tensor>;
  /** constant weights (the transposed GEMM's W) */
  consts: Map<string, Tensor>;
  output: string;
  /** a fresh model each call (an Engine takes over and transforms the model it is given) */
  build(): Model;
}

/**
 * Fills `t` (a float type) with seeded normals rounded to its dtype, fast enough for 10⁸ values: a table
 * of 65536 normals drawn from `rng`, indexed by the 16-bit halves of an xorshift32 stream seeded from `rng`.
 */
export function fillRandom(t: Tensor, rng: Rng): Tensor {
  const table = new Float32Array(65536);
  for (let i = 0; i < table.length; i++) table[i] = roundToDtype(t.dtype, rng.normal());
  const d = t.data as Float32Array;
  let x = rng.nextU32() | 1;
  const n = d.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    d[i] = table[x & 0xffff];
    d[i + 1] = table[(x >>> 16) & 0xffff];
  }
  if (i < n) d[i] = table[(x >>> 7) & 0xffff];
  return t;
}

/** A stable seed per case id (FNV-1a), mixed with the run's seed. */
export function caseSeed(id: string, seed: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return (h ^ seed) >>> 0;
}

/** The case as an ONNX model with fresh random fp16 inputs (seeded). */
export function kernelProblem(c: KernelCase, seed = 20261124): KernelProblem {
  const rng = new Rng(caseSeed(c.id, seed));
  const feeds = new Map<string, Tensor>();
  const consts = new Map<string, Tensor>();
  const rand = (shape: number[]) => fillRandom(Tensor.zeros('float16', shape), rng);
  if (c.family === 'gemm') {
    feeds.set('A', rand([c.m, c.k]));
    if (c.trans_b) consts.set('W', rand([c.n, c.k]));
    else feeds.set('B', rand([c.k, c.n]));
    const build = () => {
      const b = new GraphBuilder(`kbench_${c.id}`);
      const a = b.input('A', 'float16', [c.m, c.k]);
      const rhs = c.trans_b ? b.op('Transpose', [b.initializer('W', consts.get('W')!)], { perm: [1, 0] }) : b.input('B', 'float16', [c.k, c.n]);
      b.output(b.op('MatMul', [a, rhs], {}, { output: 'Y' }), 'Y'); // named Y: no Identity behind it
      return b.build();
    };
    return { kase: c, feeds, consts, output: 'Y', build };
  }
  const shape = [c.batch, c.heads, c.seq, c.head_dim];
  for (const n of ['Q', 'K', 'V']) feeds.set(n, rand(shape));
  const build = () => {
    const b = new GraphBuilder(`kbench_${c.id}`, { opset: 23 });
    const [q, k, v] = ['Q', 'K', 'V'].map((n) => b.input(n, 'float16', shape));
    b.output(b.op('Attention', [q, k, v], { is_causal: c.causal ? 1 : 0 }, { output: 'Y' }), 'Y');
    return b.build();
  };
  return { kase: c, feeds, consts, output: 'Y', build };
}

// ---------------------------------------------------------------------------------------------------
// checks

/** `count` distinct indices in [0, total), sorted, always with the first and the last (all of them when total ≤ count). */
export function sampleRows(total: number, count: number, rng: Rng): number[] {
  if (total <= count) return Array.from({ length: total }, (_, i) => i);
  const set = new Set<number>([0, total - 1]);
  while (set.size < count) set.add(rng.int(0, total));
  return [...set].sort((a, b) => a - b);
}

export interface RowsCheck {
  relL2: number;
  rows: number;
}

function accumulate(acc: { num: number; den: number }, got: Float32Array, off: number, want: Float64Array): void {
  for (let j = 0; j < want.length; j++) {
    const d = got[off + j] - want[j];
    acc.num += d * d;
    acc.den += want[j] * want[j];
  }
}

function finish(acc: { num: number; den: number }, rows: number): RowsCheck {
  if (Number.isNaN(acc.num) || Number.isNaN(acc.den)) return { relL2: NaN, rows };
  if (acc.num === 0) return { relL2: 0, rows };
  return { relL2: Math.sqrt(acc.num) / Math.sqrt(acc.den || 1e-300), rows };
}

/**
 * Relative L2 error over the given rows of Y = A·B (A [M,K]; B [K,N], or [N,K] used transposed), the
 * reference computed in float64 from the same (fp16-valued) inputs.
 */
export function checkGemmRows(a: Float32Array, b: Float32Array, m: number, n: number, k: number, transB: boolean, y: Float32Array, rows: readonly number[]): RowsCheck {
  if (a.length !== m * k || b.length !== n * k || y.length !== m * n) throw new ChimeraError('E_USAGE', `checkGemmRows: sizes do not match ${m}x${n}x${k}`);
  const acc = { num: 0, den: 0 };
  const want = new Float64Array(n);
  const row = new Float64Array(k);
  for (const i of rows) {
    for (let t = 0; t < k; t++) row[t] = a[i * k + t];
    if (transB) {
      for (let j = 0; j < n; j++) {
        let s0 = 0;
        let s1 = 0;
        const bOff = j * k;
        let t = 0;
        for (; t + 1 < k; t += 2) {
          s0 += row[t] * b[bOff + t];
          s1 += row[t + 1] * b[bOff + t + 1];
        }
        if (t < k) s0 += row[t] * b[bOff + t];
        want[j] = s0 + s1;
      }
    } else {
      want.fill(0);
      for (let t = 0; t < k; t++) {
        const av = row[t];
        const bOff = t * n;
        for (let j = 0; j < n; j++) want[j] += av * b[bOff + j];
      }
    }
    accumulate(acc, y, i * n, want);
  }
  return finish(acc, rows.length);
}

/**
 * Relative L2 error over the given query rows of softmax(Q·Kᵀ·scale [+ causal mask]) · V, Q/K/V/Y
 * [B,H,S,D] flattened, row r = (b·H + h)·S + i; scale 1/√D (the Attention default); causal: key j is
 * visible to query i when j ≤ i (S_q = S_kv). Float64.
 */
export function checkAttentionRows(q: Float32Array, k: Float32Array, v: Float32Array, bh: number, s: number, d: number, causal: boolean, y: Float32Array, rows: readonly number[]): RowsCheck {
  const size = bh * s * d;
  if (q.length !== size || k.length !== size || v.length !== size || y.length !== size) throw new ChimeraError('E_USAGE', `checkAttentionRows: sizes do not match ${bh}x${s}x${d}`);
  const scale = 1 / Math.sqrt(d);
  const acc = { num: 0, den: 0 };
  const scores = new Float64Array(s);
  const want = new Float64Array(d);
  for (const r of rows) {
    const head = Math.floor(r / s);
    const i = r % s;
    const base = head * s * d;
    const qOff = r * d;
    const visible = causal ? i + 1 : s;
    let max = -Infinity;
    for (let j = 0; j < visible; j++) {
      let dot = 0;
      const kOff = base + j * d;
      for (let e = 0; e < d; e++) dot += q[qOff + e] * k[kOff + e];
      scores[j] = dot * scale;
      if (scores[j] > max) max = scores[j];
    }
    let sum = 0;
    for (let j = 0; j < visible; j++) {
      scores[j] = Math.exp(scores[j] - max);
      sum += scores[j];
    }
    want.fill(0);
    for (let j = 0; j < visible; j++) {
      const p = scores[j] / sum;
      const vOff = base + j * d;
      for (let e = 0; e < d; e++) want[e] += p * v[vOff + e];
    }
    accumulate(acc, y, qOff, want);
  }
  return finish(acc, rows.length);
}

/** Count of NaN/±Inf values. */
export function countNonFinite(x: Float32Array): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) n++;
  return n;
}

export interface KernelCheck {
  relL2: number;
  /** how it was checked, for the report */
  method: string;
  nonFinite: number;
}

export interface CheckOptions {
  /** cases of at most this many FLOPs are checked whole against the interpreter (default 7e8) */
  fullCheckFlops?: number;
  /** output rows sampled for the larger ones (default 64) */
  sampleRows?: number;
  seed?: number;
}

/** Checks chimera's output `got` of the problem (see the file comment). */
export function checkKernel(p: KernelProblem, got: Tensor, o: CheckOptions = {}): KernelCheck {
  const c = p.kase;
  const data = got.data as Float32Array;
  const nonFinite = countNonFinite(data);
  if (kernelFlops(c) <= (o.fullCheckFlops ?? 7e8)) {
    const ref = runModel(p.build(), new Map<string, RuntimeValue>(p.feeds)).get(p.output);
    if (!(ref instanceof Tensor)) throw new ChimeraError('E_INTERNAL', `the interpreter gave no tensor ${p.output} for ${c.id}`);
    return { relL2: relL2(got, ref), method: 'interpreter (whole output)', nonFinite };
  }
  const rng = new Rng(caseSeed(c.id, (o.seed ?? 20261124) + 1));
  const count = o.sampleRows ?? 64;
  const f = (n: string) => (p.feeds.get(n) ?? p.consts.get(n))!.data as Float32Array;
  if (c.family === 'gemm') {
    const want = [c.m, c.n];
    if (got.shape.length !== 2 || got.shape[0] !== want[0] || got.shape[1] !== want[1]) return { relL2: Infinity, method: `shape [${got.shape.join(',')}] is not [${want.join(',')}]`, nonFinite };
    const rows = sampleRows(c.m, count, rng);
    const r = checkGemmRows(f('A'), f(c.trans_b ? 'W' : 'B'), c.m, c.n, c.k, !!c.trans_b, data, rows);
    return { relL2: r.relL2, method: `${r.rows} rows vs float64`, nonFinite };
  }
  const want = [c.batch, c.heads, c.seq, c.head_dim];
  if (got.shape.length !== 4 || got.shape.some((d, i) => d !== want[i])) return { relL2: Infinity, method: `shape [${got.shape.join(',')}] is not [${want.join(',')}]`, nonFinite };
  const bh = c.batch * c.heads;
  const rows = sampleRows(bh * c.seq, count, rng);
  const r = checkAttentionRows(f('Q'), f('K'), f('V'), bh, c.seq, c.head_dim, c.causal, data, rows);
  return { relL2: r.relL2, method: `${r.rows} query rows vs float64`, nonFinite };
}

// ---------------------------------------------------------------------------------------------------
// running

/** What the kernel bench needs of an engine built from one case's model (tests give a stand-in). */
export interface KernelEngine {
  run(feeds: ReadonlyMap<string, RuntimeValue>): Map<string, RuntimeValue>;
  time(feeds: ReadonlyMap<string, RuntimeValue>, iters: number, repeats: number): { medianMs: number; samplesMs: number[]; mode: string };
  /** names of the kernels one run launches, in order (host fallbacks as "host <label>") */
  launched(feeds: ReadonlyMap<string, RuntimeValue>): string[];
  dispose(): void;
}
export type KernelEngineFactory = (model: Model) => KernelEngine;

export interface KernelResult {
  id: string;
  family: 'gemm' | 'attention';
  shape: string;
  flops: number;
  status: RowStatus;
  torchOp?: string;
  torchMs?: number;
  torchMode?: string;
  torchTflops?: number;
  chimeraMs?: number;
  chimeraTflops?: number;
  chimeraTiming?: { mode: string; iters: number; repeats: number; samplesMs: number[] };
  /** chimera TFLOP/s ÷ torch TFLOP/s (= torch ms ÷ chimera ms; > 1: chimera is faster) */
  ofTorch?: number;
  relL2?: number;
  check?: string;
  kernels?: string[];
  /** the issue's target fraction of torch for this case, and whether it was met */
  target?: { min: number; met: boolean };
  note?: string;
}

export interface KernelRunOptions extends CheckOptions {
  /** only cases whose id matches */
  cases?: RegExp;
  /** rel L2 above which a case fails and is not timed (default 1e-2) */
  maxRelL2?: number;
  /** timed batches (default 21: the median of at least 20) */
  repeats?: number;
  /** timed work per batch, ms (default 2) */
  batchMs?: number;
  /** most replays per batch (default 100) */
  maxIters?: number;
  /** true once no further case may start */
  expired?: () => boolean;
  say?: (s: string) => void;
}

export const KERNEL_DEFAULTS = { maxRelL2: 1e-2, repeats: 21, batchMs: 2, maxIters: 100 } as const;

/** Builds, checks and times every selected case; a case that fails its check is not timed. */
export function runKernelBench(file: KernelsFile, factory: KernelEngineFactory, o: KernelRunOptions = {}): KernelResult[] {
  const say = o.say ?? (() => {});
  const maxRelL2 = o.maxRelL2 ?? KERNEL_DEFAULTS.maxRelL2;
  const out: KernelResult[] = [];
  for (const c of file.cases) {
    if (o.cases && !o.cases.test(c.id)) continue;
    const flops = kernelFlops(c);
    const res: KernelResult = { id: c.id, family: c.family, shape: c.shape, flops, status: 'ok' };
    out.push(res);
    if (c.torch?.op) res.torchOp = c.torch.op;
    if (c.torch?.ms !== undefined) {
      res.torchMs = c.torch.ms;
      res.torchTflops = tflops(flops, c.torch.ms);
      res.torchMode = c.torch.mode;
    }
    const min = kernelTarget(c);
    if (o.expired?.()) {
      Object.assign(res, { status: 'skipped', note: 'deadline passed' });
      say(`${c.id}: skipped (deadline)`);
      continue;
    }
    const notes: string[] = [];
    if (c.error) notes.push(`torch: ${c.error}`);
    let engine: KernelEngine | undefined;
    try {
      const p = kernelProblem(c, o.seed);
      engine = factory(p.build());
      const feeds = p.feeds as ReadonlyMap<string, RuntimeValue>;
      res.kernels = engine.launched(feeds);
      const got = engine.run(feeds).get(p.output);
      if (!(got instanceof Tensor)) throw new ChimeraError('E_INTERNAL', `no output ${p.output}`);
      const chk = checkKernel(p, got, o);
      res.relL2 = chk.relL2;
      res.check = chk.method;
      if (chk.nonFinite > 0 || !(chk.relL2 <= maxRelL2)) {
        res.status = 'failed';
        notes.push(chk.nonFinite > 0 ? `${chk.nonFinite} NaN/Inf values` : `rel L2 ${fmtErr(chk.relL2)} > ${maxRelL2} (${chk.method})`);
        say(`${c.id}: FAILED check: ${notes[notes.length - 1]}`);
      } else {
        timeCase(engine, feeds, res, o);
        say(`${c.id}: rel L2 ${fmtErr(chk.relL2)} (${chk.method}); chimera ${fmtMs(res.chimeraMs)} ms ${fmtTflops(res.chimeraTflops)} TFLOP/s, torch ${fmtMs(res.torchMs)} ms ${fmtTflops(res.torchTflops)} TFLOP/s, ${fmtPct(res.ofTorch)} of torch [${res.kernels.join(', ')}]`);
      }
    } catch (err) {
      res.status = 'error';
      notes.push(`chimera: ${(err as Error).message.split('\n')[0].slice(0, 300)}`);
      say(`${c.id}: ERROR ${notes[notes.length - 1]}`);
    } finally {
      engine?.dispose();
    }
    if (min !== undefined) res.target = { min, met: res.status === 'ok' && res.ofTorch !== undefined && res.ofTorch >= min };
    if (notes.length) res.note = notes.join('; ');
  }
  return out;
}

/** Times a checked case like the model rows: a probe sizes batches of about batchMs, then `repeats` batches. */
function timeCase(engine: KernelEngine, feeds: ReadonlyMap<string, RuntimeValue>, res: KernelResult, o: KernelRunOptions): void {
  const repeats = Math.max(1, Math.round(o.repeats ?? KERNEL_DEFAULTS.repeats));
  const probe = engine.time(feeds, 1, 1).medianMs;
  const iters = Math.max(1, Math.min(Math.round(o.maxIters ?? KERNEL_DEFAULTS.maxIters), Math.floor((o.batchMs ?? KERNEL_DEFAULTS.batchMs) / Math.max(probe, 1e-3))));
  const t = engine.time(feeds, iters, repeats);
  res.chimeraMs = t.medianMs;
  res.chimeraTflops = tflops(res.flops, t.medianMs);
  res.chimeraTiming = { mode: t.mode, iters, repeats, samplesMs: t.samplesMs };
  if (res.torchMs !== undefined) res.ofTorch = res.torchMs / t.medianMs;
}

// ---------------------------------------------------------------------------------------------------
// the Markdown

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function fmtTflops(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

export function fmtPct(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(x >= 0.995 ? 0 : 1)} %`;
}

function chimeraMsCell(r: KernelResult): string {
  if (r.status === 'ok') return fmtMs(r.chimeraMs);
  return r.status === 'failed' ? 'FAIL (not timed)' : r.status;
}

function notesCell(r: KernelResult): string {
  const parts: string[] = [];
  if (r.target) parts.push(`target ≥ ${Math.round(r.target.min * 100)} %: ${r.target.met ? 'met' : 'NOT met'}`);
  if (r.note) parts.push(r.note);
  if (r.chimeraTiming) parts.push(`${r.chimeraTiming.mode}, ${r.chimeraTiming.iters}×${r.chimeraTiming.repeats}`);
  if (r.torchMode && r.torchMode !== 'graph') parts.push(`torch ${r.torchMode}`);
  return cell(parts.join('; '));
}

/** One table per family; undefined when there are no rows of it. */
export function renderKernelTable(rows: readonly KernelResult[], family: 'gemm' | 'attention'): string | undefined {
  const sel = rows.filter((r) => r.family === family);
  if (!sel.length) return undefined;
  const torch = family === 'gemm' ? 'torch.matmul' : 'SDPA';
  const lines = [
    `| case | shape | ${torch} ms | ${torch} TFLOP/s | chimera ms | chimera TFLOP/s | chimera / ${torch} | rel L2 | check | chimera kernels | notes |`,
    '|---|---|---:|---:|---:|---:|---:|---:|---|---|---|',
  ];
  for (const r of sel) {
    const kernels = r.kernels ? [...new Set(r.kernels)].map((k) => `\`${k}\``).join(', ') : '–';
    lines.push(`| ${cell(r.id)} | ${cell(r.shape)} | ${fmtMs(r.torchMs)} | ${fmtTflops(r.torchTflops)} | ${cell(chimeraMsCell(r))} | ${fmtTflops(r.chimeraTflops)} | ${fmtPct(r.ofTorch)} | ${fmtErr(r.relL2)} | ${cell(r.check ?? '–')} | ${cell(kernels)} | ${notesCell(r)} |`);
  }
  return lines.join('\n');
}

/** The "Kernels" section of the report. */
export function renderKernelsSection(rows: readonly KernelResult[], maxRelL2: number, heading = '## Kernels'): string {
  const out = [heading, ''];
  out.push(
    'Single-node chimera engines (fp16; one MatMul, one opset-23 Attention with the default scale) against torch.matmul (cuBLAS) and',
    'F.scaled_dot_product_attention measured by scripts/bench_peers.py on the same machine. Both sides: one call in a CUDA graph,',
    'replayed back to back between CUDA events, median of 21 batches. FLOPs: GEMM 2·M·N·K, attention 4·B·H·S²·D, causal half of that.',
    `Every case is checked before timing on fresh seeded random inputs: small ones (≤ 7e8 FLOPs) whole against the reference interpreter,`,
    `larger ones on sampled output rows computed in float64; rel L2 > ${maxRelL2} or any NaN/Inf is FAIL and not timed.`,
  );
  const targets = rows.filter((r) => r.target);
  if (targets.length) {
    out.push('', 'Targets:', '');
    for (const r of targets) out.push(`- ${r.shape}: chimera ${fmtPct(r.ofTorch)} of torch (target ≥ ${Math.round(r.target!.min * 100)} %): ${r.target!.met ? 'met' : r.status === 'ok' ? 'NOT met' : `NOT met (${r.status})`}`);
  }
  const gemm = renderKernelTable(rows, 'gemm');
  if (gemm) out.push('', '### GEMM (fp16) vs torch.matmul', '', gemm);
  const attn = renderKernelTable(rows, 'attention');
  if (attn) out.push('', '### Attention (fp16) vs scaled_dot_product_attention', '', attn);
  return out.join('\n');
}
