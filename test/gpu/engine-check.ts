// The GPU engine check, run on the GPU machine (packed by `npm run gpu:pack`, run by `.carry/run-gpu.sh
// engine-check OUT`). Parts (CHECK_PARTS, comma-separated; default all):
//   conformance  the ONNX node suite through CUDA engines (report + JSON under OUT)
//   models       light models and exporter fixtures: GPU vs interpreter, relative L2, fp32 and fp16,
//                planned peak memory vs naive (random seeded inputs, never zeros)
//   dynamic      the GPT fixture built once with symbolic seq: seq 1,7,63,64,65,500 and a KV-cache decode loop
//   rejit        an engine whose CUBINs are built for another arch re-JITs and runs; tampered file refused
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cuda } from '../../src/runtime/index.js';
import { loadModel } from '../../src/onnx/import.js';
import { runModel } from '../../src/ref/interpreter.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { Engine } from '../../src/engine/engine.js';
import { loadEngine, writeEngine } from '../../src/engine/engine-file.js';
import { runSuite, renderMarkdown, gpuCoverage } from '../../src/conformance/suite.js';
import { loadExclusions } from '../../src/conformance/exclusions.js';
import { listDataSets, readFeeds } from '../../src/conformance/test-data.js';
import { randomTensor, relativeL2 } from '../../src/cli/run.js';
import { Rng } from '../../src/util/rng.js';
import type { Precision } from '../../src/engine/precision.js';

const OUT = process.argv[2] ?? process.env.OUT ?? '/tmp/chimera-out';
const CARRY = process.env.CARRY ?? '.carry';
const FIXTURES = process.env.FIXTURES ?? path.join('test', 'fixtures', 'exporters');
const parts = new Set((process.env.CHECK_PARTS ?? 'conformance,models,dynamic,rejit,timing').split(','));
fs.mkdirSync(OUT, { recursive: true });
const log: string[] = [];
const say = (s: string) => {
  console.log(s);
  log.push(s);
};

function feedsFor(model: ReturnType<typeof loadModel>, dims: Record<string, number>, seed: number): Map<string, RuntimeValue> {
  const rng = new Rng(seed);
  const feeds = new Map<string, RuntimeValue>();
  for (const v of model.graph.feedInputs) {
    if (v.type?.kind !== 'tensor') throw new Error(`input ${v.name} is not a tensor`);
    const shape = (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : dims[String(d)] ?? 1));
    feeds.set(v.name, randomTensor(v.type.dtype, shape, rng));
  }
  return feeds;
}

function worstRelL2(a: Map<string, RuntimeValue>, b: Map<string, RuntimeValue>): { worst: number; name: string } {
  let worst = 0;
  let name = '';
  for (const [k, v] of b) {
    const g = a.get(k);
    if (!(v instanceof Tensor) || !(g instanceof Tensor)) continue;
    if (v.dtype === 'bool' || v.dtype.startsWith('int') || v.dtype.startsWith('uint')) {
      const same = (v.toNumbers() as number[]).every((x, i) => Number(x) === Number((g.toNumbers() as number[])[i]));
      if (!same && worst < 1) ({ worst, name } = { worst: 1, name: k });
      continue;
    }
    const r = relativeL2(g, v);
    if (!(r <= worst)) {
      worst = r;
      name = k;
    }
  }
  return { worst, name };
}

async function conformance(): Promise<void> {
  const dir = process.env.NODE_TESTS ?? path.join(CARRY, 'node');
  const t0 = performance.now();
  const report = await runSuite(dir, {
    device: 'cuda', jobs: Number(process.env.JOBS ?? 12), timeoutMs: 120_000,
    exclusions: loadExclusions(path.join('conformance', 'exclusions.txt')),
    filter: process.env.CASES ? new RegExp(process.env.CASES) : undefined,
  });
  fs.writeFileSync(path.join(OUT, 'conformance-cuda.json'), JSON.stringify(report));
  fs.writeFileSync(path.join(OUT, 'CONFORMANCE-CUDA.md'), renderMarkdown(report, 'chimera conformance ../shared/onnx-tests/node --device cuda', undefined, 'cuda'));
  say(`conformance --device cuda: ${report.total} cases: ${report.passed} passed, ${report.failed} failed, ${report.excluded} excluded (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  for (const l of gpuCoverage(report).slice(2, 3)) say(l);
  const byOp = new Map<string, string[]>();
  for (const r of report.results) if (r.status === 'fail') {
    const op = r.name.replace(/^test_/, '').split('_')[0];
    byOp.set(op, [...(byOp.get(op) ?? []), `${r.name}: ${(r.reason ?? '').slice(0, 200)}`]);
  }
  for (const [op, list] of [...byOp].sort((a, b) => b[1].length - a[1].length)) {
    say(`FAIL ${op} (${list.length}): ${list[0]}`);
  }
}

function modelRows(): void {
  const rows: string[] = ['| model | precision | rel L2 (worst output) | GPU steps | host steps | planned peak | naive sum | ms (2nd run) |', '|---|---|---:|---:|---:|---:|---:|---:|'];
  const files: { name: string; file: string; dims: Record<string, number>; data?: string }[] = [];
  const light = path.join(CARRY, 'light');
  const only = process.env.MODELS ? new RegExp(process.env.MODELS) : undefined;
  if (fs.existsSync(light)) for (const f of fs.readdirSync(light).filter((f) => f.endsWith('.onnx') && (!only || only.test(f))).sort()) files.push({ name: f.replace('.onnx', ''), file: path.join(light, f), dims: {} });
  const fx = FIXTURES;
  if (fs.existsSync(fx)) for (const d of fs.readdirSync(fx).sort()) if (fs.existsSync(path.join(fx, d, 'model.onnx')) && (!only || only.test(d))) files.push({ name: d, file: path.join(fx, d, 'model.onnx'), dims: {}, data: path.join(fx, d) });
  for (const m of files) {
    for (const precision of (process.env.PRECISIONS ?? 'fp32,fp16').split(',') as Precision[]) {
      try {
        const model = loadModel(m.file);
        let feeds: Map<string, RuntimeValue>;
        if (m.data) {
          const sets = listDataSets(m.data);
          feeds = readFeeds(sets[0], model.graph);
          // fresh random floats of the same shapes (never zeros); integer inputs (ids, masks) kept
          const rng = new Rng(7);
          for (const [k, v] of feeds) if (v instanceof Tensor && v.dtype === 'float32') feeds.set(k, randomTensor('float32', [...v.shape], rng));
        } else {
          feeds = feedsFor(model, m.dims, 7);
        }
        const ref = runModel(loadModel(m.file), feeds);
        const engine = new Engine(model, { precision });
        engine.run(feeds);
        const t0 = performance.now();
        const outs = engine.run(feeds);
        const ms = performance.now() - t0;
        const p = [...engine.planned().values()][0];
        const dev = p.plan?.steps.filter((s) => s.kind === 'device').length ?? 0;
        const host = p.plan?.steps.filter((s) => s.kind === 'host') ?? [];
        const { worst, name } = worstRelL2(outs, ref);
        const limit = precision === 'fp32' ? 1e-4 : 1e-2;
        rows.push(`| ${m.name} | ${precision} | ${worst.toExponential(2)}${worst <= limit ? '' : ` ✗ (${name})`} | ${dev} | ${host.length} | ${p.mem ? (p.mem.arenaBytes / 2 ** 20).toFixed(2) + ' MiB' : 'eager'} | ${p.mem ? (p.mem.naiveBytes / 2 ** 20).toFixed(2) + ' MiB' : '-'} | ${ms.toFixed(2)} |`);
        if (host.length) say(`  ${m.name} ${precision} host steps: ${[...new Set(host.map((h) => `${h.node.op}: ${h.reason}`))].join('; ')}`);
        engine.dispose();
      } catch (e) {
        rows.push(`| ${m.name} | ${precision} | ERROR ${(e as Error).message.slice(0, 200).replace(/\|/g, '/')} | | | | | |`);
      }
    }
  }
  for (const r of rows) say(r);
}

function dynamic(): void {
  for (const name of ['gpt2_dynamo', 'gpt2_torchscript', 'llama_dynamo']) {
    const file = path.join(FIXTURES, name, 'model.onnx');
    if (!fs.existsSync(file)) continue;
    const engine = new Engine(loadModel(file), { maxDims: { seq: 1024, past_seq: 1024 } });
    const ref = loadModel(file);
    const inputs = engine.model.graph.feedInputs.map((v) => v.name);
    const results: string[] = [];
    const mk = (batch: number, seq: number, past: number, seed: number, pastKV?: Map<string, Tensor>) => {
      const rng = new Rng(seed);
      const feeds = new Map<string, RuntimeValue>();
      for (const v of engine.model.graph.feedInputs) {
        const t = v.type!.kind === 'tensor' ? v.type! : undefined;
        const shape = (t!.shape ?? []).map((d) => (typeof d === 'number' ? d : /past/.test(String(d)) ? past : /seq|s\d+|sequence/.test(String(d)) && !/\+/.test(String(d)) ? seq : batch));
        if (/mask/.test(v.name)) shape[shape.length - 1] = past + seq;
        let x: Tensor;
        if (/past/.test(v.name) && pastKV) x = pastKV.get(v.name)!;
        else if (/input_ids/.test(v.name)) x = Tensor.from('int64', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => BigInt(rng.int(0, 200))));
        else if (/mask/.test(v.name)) x = Tensor.from(t!.dtype, shape, new Array(shape.reduce((a, b) => a * b, 1)).fill(1));
        else if (/position/.test(v.name)) x = Tensor.from('int64', shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => BigInt(past + (i % seq))));
        else x = randomTensor(t!.dtype, shape, rng);
        feeds.set(v.name, x);
      }
      return feeds;
    };
    let ok = true;
    for (const seq of [1, 7, 63, 64, 65, 500]) {
      try {
        const feeds = mk(1, seq, 0, seq);
        const g = engine.run(feeds);
        const r = runModel(ref, feeds);
        const { worst } = worstRelL2(g, r);
        ok &&= worst < 1e-4;
        results.push(`seq=${seq}: rel L2 ${worst.toExponential(2)} (${engine.stats().lastRun?.mode})`);
      } catch (e) {
        ok = false;
        results.push(`seq=${seq}: ERROR ${(e as Error).message.slice(0, 300)}`);
      }
    }
    // decode loop: prefill 5 tokens, then 6 steps of one token, feeding present_* back as past_*
    try {
      let past = 0;
      let kv: Map<string, Tensor> | undefined;
      let worstDecode = 0;
      for (let step = 0; step < 7; step++) {
        const seq = step === 0 ? 5 : 1;
        const feeds = mk(2, seq, past, 100 + step, kv);
        const g = engine.run(feeds);
        const r = runModel(ref, feeds);
        worstDecode = Math.max(worstDecode, worstRelL2(g, r).worst);
        kv = new Map();
        for (const n of inputs.filter((x) => /past/.test(x))) {
          const pres = n.replace('past', 'present');
          const v = g.get(pres) ?? g.get([...g.keys()].find((k) => k.includes(pres.replace(/_/g, '.')) || k.includes(pres))!);
          if (!(v instanceof Tensor)) throw new Error(`no output for ${pres} (outputs: ${[...g.keys()].join(', ')})`);
          kv.set(n, v);
        }
        past += seq;
      }
      ok &&= worstDecode < 1e-4;
      results.push(`decode (batch 2, prefill 5 + 6 steps): worst rel L2 ${worstDecode.toExponential(2)}`);
    } catch (e) {
      ok = false;
      results.push(`decode: ERROR ${(e as Error).message.slice(0, 300)}`);
    }
    say(`dynamic ${name} (one engine, ${engine.stats().plans} signatures planned, ${engine.stats().kernelsCompiled} kernels compiled): ${ok ? 'OK' : 'FAILED'}\n  ${results.join('\n  ')}`);
    engine.dispose();
  }
}

function rejit(): void {
  const file = path.join(FIXTURES, 'gpt2_dynamo', 'model.onnx');
  const engine = new Engine(loadModel(file), { maxDims: { seq: 64 } });
  const feeds = feedsFor(engine.model, { batch: 1, seq: 8, past_seq: 0, s53: 8 }, 3);
  engine.planFor(feeds);
  engine.compile('sm_80'); // deliberately another arch: its CUBINs cannot run on sm_90
  const f = path.join(os.tmpdir(), 'rejit.engine');
  writeEngine(engine, f, { chimeraVersion: 'check', build: { arch: 'sm_80' }, plans: [] });
  engine.dispose();
  const warnings: string[] = [];
  process.on('warning', (w) => warnings.push(w.message));
  const { engine: loaded } = loadEngine(f);
  const out = loaded.run(feeds);
  const ref = runModel(loadModel(file), feeds);
  const { worst } = worstRelL2(out, ref);
  say(`rejit: engine built for sm_80, run on ${cuda.arch()}: rel L2 ${worst.toExponential(2)}; warnings: ${loaded.library.warnings.join(' | ') || 'none'}`);
  loaded.dispose();
  // tampered
  const buf = fs.readFileSync(f);
  buf[buf.length - 10] ^= 0xff;
  fs.writeFileSync(f + '.bad', buf);
  try {
    loadEngine(f + '.bad');
    say('tamper: NOT detected');
  } catch (e) {
    say(`tamper: refused: ${(e as Error).message}`);
  }
}

/** End-to-end time per run (host to host, inputs uploaded, outputs downloaded): CUDA graph vs launches. */
function timing(): void {
  const rows = ['| model | shape | CUDA graph: median ms | direct launches: median ms | launches per run |', '|---|---|---:|---:|---:|'];
  const cases: [string, Record<string, number>][] = [['gpt2_dynamo', { batch: 1, seq: 128, past_seq: 0, s53: 128 }], ['bert_dynamo', { batch: 1, seq: 64 }], ['resnet18_dynamo', { batch: 1 }]];
  for (const [name, dims] of cases) {
    const file = path.join(FIXTURES, name, 'model.onnx');
    if (!fs.existsSync(file)) continue;
    const engine = new Engine(loadModel(file));
    const feeds = feedsFor(engine.model, dims, 11);
    for (const [k, v] of feeds) if (/mask/.test(k) && v instanceof Tensor) feeds.set(k, Tensor.from(v.dtype, [...v.shape], new Array(v.size).fill(1)));
    const med = (graphs: boolean) => {
      engine.setUseGraphs(graphs);
      for (let i = 0; i < 5; i++) engine.run(feeds);
      const ts: number[] = [];
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        engine.run(feeds);
        ts.push(performance.now() - t0);
      }
      ts.sort((a, b) => a - b);
      return ts[25];
    };
    const g = med(true);
    const l = med(false);
    rows.push(`| ${name} | ${Object.entries(dims).map(([k, v]) => `${k}=${v}`).join(' ')} | ${g.toFixed(3)} | ${l.toFixed(3)} | ${engine.stats().lastRun?.launches} |`);
    engine.dispose();
  }
  for (const r of rows) say(r);
}

async function main(): Promise<void> {
  if (!cuda.available()) {
    console.log(`CUDA unavailable: ${cuda.reason()}`);
    process.exit(2);
  }
  say(`GPU: ${cuda.device().name} (${cuda.arch()}), NVRTC ${cuda.nvrtc().version}`);
  const run = async (name: string, f: () => void | Promise<void>) => {
    if (!parts.has(name)) return;
    const t0 = performance.now();
    try {
      await f();
    } catch (e) {
      say(`${name}: ERROR ${(e as Error).stack}`);
    }
    say(`[${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s]`);
  };
  await run('models', modelRows);
  await run('dynamic', dynamic);
  await run('rejit', rejit);
  await run('timing', timing);
  await run('conformance', conformance);
  fs.writeFileSync(path.join(OUT, 'engine-check.log'), log.join('\n') + '\n');
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
