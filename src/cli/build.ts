/**
 * `chimera build <model> -o <file.engine>`: compiles a model into an engine file (optimize, precision,
 * plan at representative bindings of the symbolic dims, generate kernels, NVRTC-compile them for the
 * GPU's arch, write the engine atomically). `--emit-source DIR` writes every kernel's CUDA source and
 * needs no GPU; without NVRTC the engine holds sources only and compiles on first run (one warning).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadModel } from '../onnx/import.js';
import type { RuntimeValue } from '../ref/kernel.js';
import { ChimeraError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { compileUnit } from '../codegen/kernel-ir.js';
import { Engine, sampleBindings } from '../engine/engine.js';
import { archNumber } from '../engine/kernels.js';
import { writeEngine, type EngineManifest } from '../engine/engine-file.js';
import type { Precision } from '../engine/precision.js';
import { cudaStatus, device, deviceArch } from '../runtime/cuda.js';
import { nvrtcStatus } from '../runtime/compile.js';
import { Rng } from '../util/rng.js';
import { randomTensor } from './run.js';
import { usage } from './common.js';
import { ProgressBar } from './progress.js';

export interface BuildCliOptions {
  output?: string;
  precision?: string;
  maxDims: string[];
  dim: string[];
  emitSource?: string;
  arch?: string;
  fusion?: boolean;
  json?: boolean;
  version: string;
}

export interface BuildReport {
  model: string;
  output?: string;
  precision: Precision;
  bindings: Record<string, number>[];
  plans: EngineManifest['plans'];
  kernels: number;
  compiled: number;
  compileMs: number;
  arch?: string;
  sourcesOnly?: string;
  emitted?: string;
  ms: number;
}

function parseDims(list: string[], flag: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const spec of list.flatMap((s) => s.split(','))) {
    const m = /^([^=]+)=(\d+)$/.exec(spec.trim());
    if (!m || Number(m[2]) < 1) usage(`${flag} expects SYMBOL=N with N ≥ 1, got '${spec}'`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export function buildCli(file: string, o: BuildCliOptions): BuildReport {
  const t0 = performance.now();
  if (!o.output && !o.emitSource) usage('give -o <file.engine>, --emit-source <dir>, or both');
  const precision = (o.precision ?? 'fp32') as Precision;
  if (!['fp32', 'fp16', 'bf16'].includes(precision)) usage(`--precision must be fp32, fp16 or bf16, got '${o.precision}'`);
  const maxDims = parseDims(o.maxDims, '--max-dims');
  const explicit = parseDims(o.dim, '--dim');
  const model = loadModel(file);
  const engine = new Engine(model, { precision, maxDims, fusion: o.fusion !== false, ...(o.arch ? { arch: archNumber(o.arch) } : {}) });
  const rng = new Rng(1);
  const bindings = sampleBindings(engine.model, maxDims, explicit);
  const plans: EngineManifest['plans'] = [];
  for (const b of bindings) {
    const feeds = new Map<string, RuntimeValue>();
    for (const v of engine.model.graph.feedInputs) {
      if (v.type?.kind !== 'tensor') throw new ChimeraError('E_UNSUPPORTED', `input '${v.name}' is not a tensor; engines take tensor inputs`, { file, field: `input '${v.name}'` });
      const shape = (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : typeof d === 'string' ? b[d] ?? explicit[d] ?? 1 : 1));
      feeds.set(v.name, randomTensor(v.type.dtype, shape, rng));
    }
    const p = engine.planFor(feeds);
    plans.push(p.plan ? {
      bindings: b,
      steps: p.plan.steps.map((s) => (s.kind === 'device' ? { label: s.label, kind: 'device', kernels: s.launches.map((l) => l.kernel.name) } : { label: s.label, kind: 'host', reason: s.reason })),
      arenaBytes: p.mem!.arenaBytes, naiveBytes: p.mem!.naiveBytes,
    } : { bindings: b, steps: [], dynamic: p.dynamic });
  }
  const kernels = engine.kernels();
  const report: BuildReport = { model: file, precision, bindings, plans, kernels: kernels.length, compiled: 0, compileMs: 0, ms: 0 };
  if (o.emitSource) {
    fs.mkdirSync(o.emitSource, { recursive: true });
    for (const k of kernels) writeFileAtomic(path.join(o.emitSource, `${k.name}.cu`), compileUnit(k));
    writeFileAtomic(path.join(o.emitSource, 'kernels.json'), JSON.stringify(kernels.map((k) => ({ name: k.name, family: k.family, params: k.params, maxThreads: k.maxThreads, file: `${k.name}.cu` })), null, 2) + '\n');
    report.emitted = o.emitSource;
  }
  if (o.output) {
    const gpu = cudaStatus().available;
    const arch = o.arch ?? (gpu ? deviceArch() : 'sm_90a');
    let build: EngineManifest['build'] = {};
    if (nvrtcStatus().available) {
      const bar = new ProgressBar('compiling kernels', !o.json);
      engine.compile(arch, (d, t, what) => bar.update(d, t, what));
      bar.done();
      report.arch = arch;
      report.compiled = engine.library.compiledCount;
      report.compileMs = engine.library.compileMs;
      build = { arch, nvrtc: nvrtcStatus().version, ...(gpu ? { gpu: device().name, driver: cudaStatus().driverVersion } : {}) };
    } else {
      report.sourcesOnly = `NVRTC is not available here (${nvrtcStatus().reason}): the engine holds kernel sources only and compiles them on first run`;
      process.emitWarning(report.sourcesOnly, { code: 'CHIMERA_SOURCES_ONLY' });
    }
    writeEngine(engine, o.output, { chimeraVersion: o.version, build, plans });
    report.output = o.output;
  }
  report.ms = performance.now() - t0;
  engine.dispose();
  return report;
}

export function printBuild(r: BuildReport): string {
  const lines = [`model      ${r.model}`, `precision  ${r.precision}`];
  for (const p of r.plans) {
    const b = Object.entries(p.bindings).map(([k, v]) => `${k}=${v}`).join(' ') || '(static)';
    if (p.dynamic) lines.push(`plan ${b}: planned at run time (${p.dynamic})`);
    else {
      const dev = p.steps.filter((s) => s.kind === 'device').length;
      const host = p.steps.filter((s) => s.kind === 'host');
      lines.push(`plan ${b}: ${p.steps.length} steps (${dev} on the GPU, ${host.length} host fallbacks), memory ${(p.arenaBytes! / 2 ** 20).toFixed(2)} MiB planned vs ${(p.naiveBytes! / 2 ** 20).toFixed(2)} MiB naive`);
      for (const h of host) lines.push(`  host: ${h.label}: ${h.reason}`);
    }
  }
  lines.push(`kernels    ${r.kernels}${r.arch ? ` (${r.compiled} compiled for ${r.arch}, the rest from the cache; ${(r.compileMs / 1000).toFixed(1)} s)` : ''}`);
  if (r.sourcesOnly) lines.push(`note       ${r.sourcesOnly}`);
  if (r.emitted) lines.push(`sources    ${r.emitted}`);
  if (r.output) lines.push(`engine     ${r.output}`);
  lines.push(`time       ${(r.ms / 1000).toFixed(2)} s`);
  return lines.join('\n');
}
