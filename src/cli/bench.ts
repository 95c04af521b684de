#!/usr/bin/env node
/**
 * `chimera bench <dir>`: times chimera against torch on the GPU, row by row, from the folder that
 * scripts/bench_peers.py wrote (peers.json, one ONNX file per model, each row's inputs and torch's fp16
 * outputs, torch eager and torch.compile timings, bytes and FLOPs). For each row: build the model's engine
 * (fp16, once per model), run it on the saved inputs, check every saved output against torch's (relative L2;
 * above the limit the row is failed and not timed), time it with Engine.time (CUDA events around CUDA-graph
 * replays), and report a Markdown table and an SVG chart (both written atomically), or JSON.
 *
 * Kernel microbenchmarks (src/bench/kernels.ts): when DIR/kernels.json exists (bench_peers.py's kernel part:
 * torch.matmul and scaled_dot_product_attention times), each case is built as a single-node engine, checked
 * against the interpreter on fresh random inputs, timed, and reported in TFLOP/s next to torch's ("Kernels"
 * section). `--kernels` runs only those; `--no-kernels` only the models.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { ChimeraError } from '../errors.js';
import { Tensor } from '../ir/tensor.js';
import { isFloat } from '../ir/dtype.js';
import type { RuntimeValue } from '../ref/kernel.js';
import { loadModel } from '../onnx/import.js';
import { readNpy } from '../util/npy.js';
import { writeFileAtomic } from '../util/atomic.js';
import { cudaStatus, device } from '../runtime/cuda.js';
import type { Model } from '../ir/graph.js';
import { implementationLine } from './run.js';
import { Engine } from '../engine/engine.js';
import { readPeers, type PeerRow } from '../bench/peers.js';
import { floorOf, H100_CEILINGS } from '../bench/floors.js';
import { checkOutputs } from '../bench/compare.js';
import { fmtErr, fmtMs, fmtRatio, type BenchReport, type BenchRowResult } from '../bench/report.js';
import { renderMarkdown } from '../bench/table.js';
import { renderChart } from '../bench/svg.js';
import { KERNEL_DEFAULTS, KERNELS_FILE, readKernels, runKernelBench, type KernelEngineFactory, type KernelsFile } from '../bench/kernels.js';
import { reportError, usage } from './common.js';

export interface BenchCliOptions {
  /** comma-separated models (gpt2,bert,resnet50) */
  only?: string;
  /** only rows whose id matches this regular expression */
  rows?: string;
  /** Markdown report file */
  report?: string;
  /** SVG chart file */
  chart?: string;
  /** relative L2 above which a row fails (default 5e-2) */
  maxRelL2?: number;
  /** most timed runs per batch (default 20; fewer for slow rows, to keep each row near --row-ms) */
  iters?: number;
  /** timed batches per row (default 5) */
  repeats?: number;
  /** timed work per row, ms (default 400) */
  rowMs?: number;
  /** start no row after this many seconds (later rows are skipped) */
  deadline?: number;
  /** true: only the kernel microbenchmarks; false: none; default: with the models when DIR/kernels.json exists */
  kernels?: boolean;
  /** only kernel cases whose id matches this regular expression */
  cases?: string;
  /** relative L2 above which a kernel case fails (default 1e-2) */
  kernelMaxRelL2?: number;
  /** the command line, for the report */
  command?: string;
}

/** What the bench needs of an engine (tests give a stand-in; the default is the CUDA Engine). */
export interface BenchEngine {
  run(feeds: ReadonlyMap<string, RuntimeValue>): Map<string, RuntimeValue>;
  time(feeds: ReadonlyMap<string, RuntimeValue>, iters: number, repeats: number): { medianMs: number; samplesMs: number[]; mode: string };
  /** declared input dtypes, to convert .npy data to */
  inputDtypes(): Map<string, string>;
  /** one line on what served the GEMMs (generated kernels or cuBLASLt), after a run */
  gemms?(): string;
  dispose(): void;
}
export type EngineFactory = (onnxFile: string) => BenchEngine;

/** The GPU's compute capability as major*10+minor (engines may then use architecture-specific kernels). */
function deviceArchNumber(): number {
  const [major, minor] = device().computeCapability;
  return major * 10 + minor;
}

export const cudaEngineFactory: EngineFactory = (file) => {
  const engine = new Engine(loadModel(file), { precision: 'fp16', arch: deviceArchNumber() });
  return {
    run: (f) => engine.run(f),
    time: (f, iters, repeats) => engine.time(f, iters, repeats),
    inputDtypes: () => new Map(engine.model.graph.feedInputs.map((v) => [v.name, v.type?.kind === 'tensor' ? v.type.dtype : ''])),
    gemms: () => implementationLine(engine.implementations()),
    dispose: () => engine.dispose(),
  };
};

/**
 * A single-node engine of a kernel case (fp16, no optimizer passes, this GPU's arch). The generated
 * kernels only (no cuBLASLt): the microbenchmarks measure chimera's kernels against the libraries.
 */
export const cudaKernelEngineFactory: KernelEngineFactory = (model: Model) => {
  const engine = new Engine(model, { precision: 'fp16', optimize: 0, arch: deviceArchNumber(), gemmLibrary: 'off' });
  return {
    run: (f) => engine.run(f),
    time: (f, iters, repeats) => engine.time(f, iters, repeats),
    launched: (f) => {
      const p = engine.planFor(f);
      if (!p.plan) return [`(runs eagerly: ${p.dynamic ?? 'no static plan'})`];
      return p.plan.steps.flatMap((s) => (s.kind === 'device' ? s.launches.map((l) => l.kernel.name) : [`host ${s.label}`]));
    },
    dispose: () => engine.dispose(),
  };
};

const say = (s: string) => process.stderr.write(`bench: ${s}\n`);

function positive(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isFinite(v) && v > 0)) usage(`${name} must be a positive number, got ${String(v)}`);
}

function readTensor(dir: string, rel: string, row: string): Tensor {
  const file = path.resolve(dir, rel);
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new ChimeraError('E_IO', `row ${row}: cannot read ${rel}: ${(e as Error).message}`, { file });
  }
  return readNpy(bytes, file);
}

/** The feeds of a row, converted to the model's declared input dtypes where both are floats. */
function loadFeeds(dir: string, row: PeerRow, dtypes: Map<string, string>): Map<string, RuntimeValue> {
  const feeds = new Map<string, RuntimeValue>();
  for (const [name, rel] of Object.entries(row.inputs ?? {})) {
    let t = readTensor(dir, rel, row.id);
    const want = dtypes.get(name);
    if (want && want !== t.dtype && isFloat(t.dtype) && isFloat(want as Tensor['dtype'])) {
      const c = Tensor.zeros(want as Tensor['dtype'], t.shape);
      (c.data as Float32Array).set(t.data as Float32Array);
      t = c;
    }
    feeds.set(name, t);
  }
  return feeds;
}

function baseRow(r: PeerRow): BenchRowResult {
  const out: BenchRowResult = { id: r.id, model: r.model, kind: r.kind, shape: r.shape, status: 'ok' };
  if (r.bytes !== undefined && r.flops !== undefined) {
    const f = floorOf(r.bytes, r.flops, H100_CEILINGS);
    Object.assign(out, { floorMs: f.ms, floorMemoryMs: f.memoryMs, floorComputeMs: f.computeMs });
  } else if (r.floor_ms !== undefined) out.floorMs = r.floor_ms;
  if (r.torch?.eager_ms !== undefined) out.torchEagerMs = r.torch.eager_ms;
  if (r.torch?.compile_ms !== undefined) out.torchCompileMs = r.torch.compile_ms;
  else if (r.torch?.compile_note) out.torchCompileNote = r.torch.compile_note;
  if (r.kind === 'decode') out.tokensPerRun = r.tokens_per_run ?? r.batch;
  return out;
}

export function benchCli(dir: string, opts: BenchCliOptions = {}, factory?: EngineFactory, kernelFactory?: KernelEngineFactory): BenchReport {
  const t0 = performance.now();
  const maxRelL2 = opts.maxRelL2 ?? 5e-2;
  positive('--max-rel-l2', opts.maxRelL2);
  positive('--kernel-max-rel-l2', opts.kernelMaxRelL2);
  positive('--iters', opts.iters);
  positive('--repeats', opts.repeats);
  positive('--row-ms', opts.rowMs);
  positive('--deadline', opts.deadline);
  for (const f of [opts.report, opts.chart]) {
    if (f !== undefined && !fs.existsSync(path.dirname(path.resolve(f)))) usage(`the folder of ${f} does not exist`);
  }
  let rowFilter: RegExp | undefined;
  if (opts.rows !== undefined) {
    try {
      rowFilter = new RegExp(opts.rows);
    } catch (e) {
      usage(`--rows is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  let caseFilter: RegExp | undefined;
  if (opts.cases !== undefined) {
    try {
      caseFilter = new RegExp(opts.cases);
    } catch (e) {
      usage(`--cases is not a valid regular expression: ${(e as Error).message}`);
    }
  }
  // which parts run: the models (peers.json) and/or the kernel microbenchmarks (kernels.json)
  if (opts.kernels === true && (opts.only !== undefined || opts.rows !== undefined)) usage('--kernels runs only the kernel microbenchmarks: --only and --rows select models');
  if (opts.kernels === false && opts.cases !== undefined) usage('--cases selects kernel cases, but --no-kernels runs none');
  const haveDir = fs.existsSync(dir) && fs.statSync(dir).isDirectory();
  const havePeers = haveDir && fs.existsSync(path.join(dir, 'peers.json'));
  const haveKernels = haveDir && fs.existsSync(path.join(dir, KERNELS_FILE));
  const runKernels = opts.kernels === true || (opts.kernels === undefined && (haveKernels || opts.cases !== undefined));
  const runModels = opts.kernels !== true && !(opts.kernels === undefined && runKernels && !havePeers && opts.only === undefined && opts.rows === undefined);
  const peers = runModels ? readPeers(dir) : undefined;
  const kfile: KernelsFile | undefined = runKernels ? readKernels(dir) : undefined;
  const peerRows = peers?.rows ?? [];
  const models = [...new Set(peerRows.map((r) => r.model))];
  const only = opts.only?.split(',').map((s) => s.trim()).filter(Boolean);
  if (only) {
    const unknown = only.filter((m) => !models.includes(m));
    if (unknown.length) usage(`--only: no rows for ${unknown.join(', ')} in ${path.join(dir, 'peers.json')} (models there: ${models.join(', ') || 'none'})`);
  }
  const rows = peerRows.filter((r) => (!only || only.includes(r.model)) && (!rowFilter || rowFilter.test(r.id)));
  if (((!factory && rows.length) || (!kernelFactory && kfile)) && !cudaStatus().available) {
    throw new ChimeraError('E_DEVICE', `chimera bench needs a GPU: CUDA is not available here: ${cudaStatus().reason}`);
  }
  const make = factory ?? cudaEngineFactory;

  const report: BenchReport = {
    dir, device: peers?.device ?? kfile?.device, peersCreated: peers?.created ?? kfile?.created, precision: 'fp16', maxRelL2, buildMs: {}, rows: [], totalS: 0,
    versions: peers?.versions ?? kfile?.versions,
  };
  const expired = () => opts.deadline !== undefined && (performance.now() - t0) / 1000 > opts.deadline;
  const engines = new Map<string, BenchEngine | Error>();
  const engineFor = (row: PeerRow): BenchEngine => {
    const file = path.resolve(dir, row.onnx);
    let e = engines.get(file);
    if (!e) {
      say(`${row.model}: building the engine (fp16) from ${row.onnx}`);
      const b0 = performance.now();
      try {
        e = make(file);
        report.buildMs[row.model] = Math.round(performance.now() - b0);
        say(`${row.model}: built in ${(report.buildMs[row.model] / 1000).toFixed(1)} s`);
      } catch (err) {
        e = err as Error;
      }
      engines.set(file, e);
    }
    if (e instanceof Error) throw e;
    return e;
  };

  try {
    for (const row of rows) {
      const res = baseRow(row);
      report.rows.push(res);
      if (expired()) {
        Object.assign(res, { status: 'skipped', note: `deadline (${opts.deadline} s) passed` });
        say(`${row.id}: skipped (deadline)`);
        continue;
      }
      if (row.error || !row.inputs || !row.outputs || !Object.keys(row.outputs).length) {
        Object.assign(res, { status: 'error', note: `peer: ${row.error ?? 'no inputs/outputs saved'}` });
        say(`${row.id}: no reference (${res.note})`);
        continue;
      }
      try {
        const engine = engineFor(row);
        const feeds = loadFeeds(dir, row, engine.inputDtypes());
        const want = new Map(Object.entries(row.outputs).map(([n, rel]) => [n, readTensor(dir, rel, row.id)] as const));
        const r0 = performance.now();
        const got = engine.run(feeds);
        const runMs = performance.now() - r0;
        const chk = checkOutputs(got, want);
        got.clear();
        res.relL2 = chk.worst;
        res.relL2ByOutput = chk.byName;
        if (!(chk.worst <= maxRelL2)) {
          Object.assign(res, { status: 'failed', note: `worst output ${chk.worstName}: rel L2 ${fmtErr(chk.worst)}` });
          say(`${row.id}: FAILED check: ${res.note} (first run ${runMs.toFixed(0)} ms)`);
          continue;
        }
        // a probe sizes the timed batches: about --row-ms of timed work per row, at most --iters per batch
        const repeats = Math.round(opts.repeats ?? 5);
        const probe = engine.time(feeds, 1, 1).medianMs;
        const iters = Math.max(1, Math.min(Math.round(opts.iters ?? 20), Math.floor((opts.rowMs ?? 400) / repeats / Math.max(probe, 1e-3))));
        const t = engine.time(feeds, iters, repeats);
        res.chimeraMs = t.medianMs;
        res.chimeraTiming = { mode: t.mode, iters, repeats, samplesMs: t.samplesMs };
        if (res.torchCompileMs) res.ratio = t.medianMs / res.torchCompileMs;
        if (engine.gemms) say(`${row.id}: ${engine.gemms()}`);
        say(`${row.id}: rel L2 ${fmtErr(chk.worst)}; chimera ${fmtMs(t.medianMs)} ms (${t.mode}, ${iters}×${repeats}), torch.compile ${fmtMs(res.torchCompileMs)} ms, ratio ${fmtRatio(res.ratio)}, floor ${fmtMs(res.floorMs)} ms`);
      } catch (err) {
        Object.assign(res, { status: 'error', note: `chimera: ${(err as Error).message.split('\n')[0].slice(0, 300)}` });
        say(`${row.id}: ERROR ${res.note}`);
      }
    }
  } finally {
    for (const e of engines.values()) if (!(e instanceof Error)) e.dispose();
  }
  if (kfile) {
    report.kernelMaxRelL2 = opts.kernelMaxRelL2 ?? KERNEL_DEFAULTS.maxRelL2;
    report.kernelsCreated = kfile.created;
    if (kfile.device && peers?.device && kfile.device !== peers.device) say(`warning: kernels.json was measured on ${kfile.device}, peers.json on ${peers.device}`);
    report.kernels = runKernelBench(kfile, kernelFactory ?? cudaKernelEngineFactory, {
      cases: caseFilter, maxRelL2: report.kernelMaxRelL2, expired, say: (s) => say(`kernel ${s}`),
    });
  }
  report.totalS = Math.round((performance.now() - t0) / 100) / 10;
  if (opts.report) writeFileAtomic(opts.report, renderMarkdown(report, opts.command));
  if (opts.chart) writeFileAtomic(opts.chart, renderChart(report));
  return report;
}

export function printBench(rep: BenchReport): string {
  const md = renderMarkdown(rep);
  const count = (xs: readonly { status: string }[]) => (['ok', 'failed', 'error', 'skipped'] as const).map((s) => `${xs.filter((r) => r.status === s).length} ${s}`).join(', ');
  const parts = [`${rep.rows.length} rows: ${count(rep.rows)}`];
  if (rep.kernels) parts.push(`${rep.kernels.length} kernel cases: ${count(rep.kernels)}`);
  return `${md}\n${parts.join('; ')} (${rep.totalS} s)`;
}

/** Adds `bench` to a commander program (main.ts uses this; so does the stand-alone entry below). */
export function addBenchCommand(program: Command): Command {
  return program
    .command('bench')
    .description('time chimera (fp16) against torch eager and torch.compile on the GPU, from the folder scripts/bench_peers.py wrote')
    .argument('<dir>', 'folder with peers.json, the ONNX files, inputs and torch outputs, and/or kernels.json')
    .option('--only <models>', 'only these models (comma-separated, e.g. gpt2,bert)')
    .option('--rows <regex>', 'only rows whose id matches')
    .option('--report <file.md>', 'write the Markdown table here')
    .option('--chart <file.svg>', 'write the SVG bar chart here')
    .option('--max-rel-l2 <x>', 'relative L2 error above which a row fails and is not timed (default 5e-2)', (v) => Number(v))
    .option('--iters <n>', 'most timed runs per batch (default 20)', (v) => Number(v))
    .option('--repeats <n>', 'timed batches per row, median taken (default 5)', (v) => Number(v))
    .option('--row-ms <ms>', 'timed work per row (default 400 ms)', (v) => Number(v))
    .option('--deadline <s>', 'start no row after this many seconds', (v) => Number(v))
    .option('--kernels', 'only the kernel microbenchmarks of DIR/kernels.json (GEMM vs torch.matmul, attention vs SDPA)')
    .option('--no-kernels', 'only the models, even when DIR/kernels.json exists')
    .option('--cases <regex>', 'only kernel cases whose id matches')
    .option('--kernel-max-rel-l2 <x>', 'relative L2 error above which a kernel case fails and is not timed (default 1e-2)', (v) => Number(v))
    .option('--json', 'print one JSON object')
    .action((dir: string, o: BenchCliOptions & { json?: boolean }) => {
      const args = process.argv.slice(2);
      const r = benchCli(dir, { ...o, command: `chimera ${args[0] === 'bench' ? '' : 'bench '}${args.join(' ')}` });
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : printBench(r)) + '\n');
    });
}

/** Stand-alone: `node dist/src/cli/bench.js <dir> [options]` (same options as `chimera bench`). */
export async function benchMain(argv: string[]): Promise<number> {
  const program = new Command().name('chimera').exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) });
  addBenchCommand(program);
  try {
    await program.parseAsync(['bench', ...argv], { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.code === 'commander.helpDisplayed' || e.code === 'commander.help' ? 0 : 2;
    return reportError(e, argv.includes('--json'));
  }
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) benchMain(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { process.exitCode = reportError(e, false); });
