// `chimera bench` without a GPU: floors, the output check, the Markdown table and SVG chart, the whole row
// loop with a stand-in engine (the reference interpreter, fixed timings), and argument errors.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/onnx/export.js';
import { loadModel } from '../../src/onnx/import.js';
import { runModel } from '../../src/ref/interpreter.js';
import { Tensor } from '../../src/ir/tensor.js';
import { roundToDtype } from '../../src/ir/float.js';
import { writeNpy } from '../../src/util/npy.js';
import { Rng } from '../../src/util/rng.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { ChimeraError } from '../../src/errors.js';
import { cuda } from '../../src/runtime/index.js';
import { smallCnn } from '../../examples/models.js';
import { floorOf, H100_CEILINGS } from '../../src/bench/floors.js';
import { checkOutputs, relL2 } from '../../src/bench/compare.js';
import { renderMarkdown, renderTable } from '../../src/bench/table.js';
import { renderChart, escapeXml } from '../../src/bench/svg.js';
import type { BenchReport } from '../../src/bench/report.js';
import { benchCli, benchMain, type BenchEngine, type EngineFactory } from '../../src/cli/bench.js';

const sample: BenchReport = {
  dir: '/x', device: 'NVIDIA H100 80GB HBM3', peersCreated: '2026-11-24T00:00:00Z', precision: 'fp16', maxRelL2: 5e-2, buildMs: {}, totalS: 1,
  rows: [
    { id: 'gpt2-prefill-b1-s128', model: 'gpt2', kind: 'prefill', shape: 'B1 S128', floorMs: 0.0921, torchEagerMs: 8.1, torchCompileMs: 0.752, chimeraMs: 3.2, ratio: 3.2 / 0.752, relL2: 1.5e-3, status: 'ok', chimeraTiming: { mode: 'graph', iters: 20, repeats: 5, samplesMs: [3.2] } },
    { id: 'gpt2-decode-b8-ctx128', model: 'gpt2', kind: 'decode', shape: 'decode B8 ctx128', floorMs: 0.09, torchEagerMs: 7.5, torchCompileNote: 'failed: Unsupported: <cache>', relL2: 0.2, status: 'failed', tokensPerRun: 8, note: 'worst output logits: rel L2 2.00e-1' },
    { id: 'resnet50-b32', model: 'res<net>&50', kind: 'forward', shape: 'B32', floorMs: 0.6, torchEagerMs: 4.4, torchCompileMs: 1.98, status: 'error', note: 'chimera: E_UNSUPPORTED | op' },
  ],
};

describe('floors', () => {
  it('bytes / 2.97 TB/s and FLOPs / 758 TFLOP/s, the larger one wins', () => {
    const f = floorOf(2.97e9, 758e9 * 2);
    expect(f.memoryMs).toBeCloseTo(1, 12);
    expect(f.computeMs).toBeCloseTo(2, 12);
    expect(f.ms).toBe(f.computeMs);
    expect(f.bound).toBe('compute');
    expect(floorOf(2.97e12, 0).bound).toBe('memory');
    expect(H100_CEILINGS).toEqual({ bytesPerS: 2.97e12, flopsPerS: 758e12 });
  });
});

describe('output check', () => {
  it('relative L2 over whole tensors, NaN and shape mismatches counted', () => {
    const a = Tensor.from('float32', [2, 2], [1, 2, 3, 4]);
    expect(relL2(a, a)).toBe(0);
    const b = Tensor.from('float16', [2, 2], [1, 2, 3, 5]);
    expect(relL2(a, b)).toBeCloseTo(1 / Math.sqrt(1 + 4 + 9 + 25), 12);
    expect(relL2(a, Tensor.from('float32', [4], [1, 2, 3, 4]))).toBe(Infinity);
    expect(relL2(Tensor.from('float32', [1], [NaN]), Tensor.from('float32', [1], [1]))).toBeNaN();
    expect(relL2(Tensor.from('int64', [2], [1n, 2n]), Tensor.from('int64', [2], [1n, 2n]))).toBe(0);
    const chk = checkOutputs(new Map([['x', a], ['y', Tensor.from('float32', [1], [NaN])]]), new Map([['x', b], ['y', Tensor.from('float32', [1], [1])], ['z', a]]));
    expect(chk.worstName).toBe('y');
    expect(chk.worst).toBeNaN();
    expect(chk.byName.z).toBe(Infinity); // missing output
  });
});

describe('table and chart', () => {
  it('the Markdown table has the asked columns, one line per row, and says why numbers are missing', () => {
    const t = renderTable(sample).split('\n');
    expect(t[0]).toBe('| model | shape | floor ms | torch eager ms | torch.compile ms | chimera ms | chimera / torch.compile | rel L2 | notes |');
    expect(t).toHaveLength(2 + sample.rows.length);
    expect(t[2]).toBe('| gpt2 | B1 S128 | 0.0921 | 8.100 | 0.752 | 3.200 | 4.26× | 1.50e-3 | graph, 20×5 |');
    expect(t[3]).toContain('not timed (wrong outputs)');
    expect(t[3]).toContain('– (failed)');
    expect(t[3]).toContain('FAILED: rel L2 > 0.05');
    expect(t[4]).toContain('E_UNSUPPORTED \\| op'); // pipes escaped
    const md = renderMarkdown(sample, 'chimera bench /x');
    expect(md).toContain('Device: NVIDIA H100 80GB HBM3');
    expect(md).toContain('| gpt2 | decode B8 ctx128 | 88889 | 1067 | – | – |'); // tokens/s of the decode row
  });

  it('the SVG chart is well formed, escaped, log-scaled and deterministic', () => {
    const svg = renderChart(sample);
    expect(svg).toBe(renderChart(sample));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('res&lt;net&gt;&amp;50');
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
    // every opened element is closed
    const open = (svg.match(/<(rect|text|line|title)\b[^>]*>/g) ?? []).length - (svg.match(/<(rect|text|line|title)\b[^>]*\/>/g) ?? []).length;
    const close = (svg.match(/<\/(rect|text|line|title)>/g) ?? []).length;
    expect(open).toBe(close);
    // bars: one per shown value (floor, eager, compile, chimera for row 0; 2 for row 1; 3 for row 2)
    expect((svg.match(/<rect [^>]*><title>/g) ?? []).length).toBe(4 + 2 + 3);
    expect(svg).toContain('chimera: failed (outputs wrong)');
    // decades from 0.01 to 10 ms on the axis
    for (const tick of ['>0.0100<', '>0.100<', '>1.000<', '>10.00<']) expect(svg).toContain(tick);
    expect(escapeXml(`a<"b">&'`)).toBe('a&lt;&quot;b&quot;&gt;&amp;&apos;');
  });
});

// A peers folder in the format scripts/bench_peers.py writes, around a small CNN: its reference outputs
// come from the interpreter (rounded to fp16 like torch's), one row's from a perturbed copy.
let dir = '';
const npy = (rel: string, t: Tensor) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), writeNpy(t));
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-bench-'));
  fs.mkdirSync(path.join(dir, 'cnn'));
  saveModel(smallCnn(), path.join(dir, 'cnn/model.onnx'));
  const rows = [];
  for (const [i, batch] of [1, 2, 3].entries()) {
    const rng = new Rng(10 + i);
    const x = Tensor.zeros('float32', [batch, 3, 32, 32]);
    for (let k = 0; k < x.size; k++) (x.data as Float32Array)[k] = roundToDtype('float16', rng.normal());
    const out = runModel(loadModel(path.join(dir, 'cnn/model.onnx')), new Map([['image', x]])).get('probs') as Tensor;
    const ref = Tensor.zeros('float16', out.shape);
    for (let k = 0; k < out.size; k++) (ref.data as Float32Array)[k] = roundToDtype('float16', (out.data as Float32Array)[k] * (i === 1 ? 1.5 : 1));
    const id = `cnn-b${batch}`;
    npy(`rows/${id}/in_image.npy`, x);
    npy(`rows/${id}/out_probs.npy`, ref);
    rows.push({
      id, model: 'cnn', kind: 'forward', shape: `B${batch}`, batch, seq: 0, past: 0, onnx: 'cnn/model.onnx',
      inputs: { image: `rows/${id}/in_image.npy` }, outputs: { probs: `rows/${id}/out_probs.npy` },
      flops: 1e9 * batch, bytes: 1e6 * batch, torch: { eager_ms: 0.5, compile_ms: 0.1 * batch },
    });
  }
  rows.push({ id: 'cnn-b64', model: 'cnn', kind: 'forward', shape: 'B64', batch: 64, seq: 0, past: 0, onnx: 'cnn/model.onnx', error: 'OutOfMemoryError: CUDA out of memory' });
  fs.writeFileSync(path.join(dir, 'peers.json'), JSON.stringify({ version: 1, device: 'test device', created: 'today', models: { cnn: { onnx: 'cnn/model.onnx' } }, rows }));
});

/** The interpreter behind the BenchEngine interface; every run "takes" 0.25 ms. */
function interpreterEngines(log: string[]): EngineFactory {
  return (file) => {
    log.push(`build ${path.basename(path.dirname(file))}`);
    const model = loadModel(file);
    const e: BenchEngine = {
      run: (feeds) => runModel(model, new Map(feeds)) as Map<string, RuntimeValue>,
      time: (_f, iters, repeats) => {
        log.push(`time ${iters}x${repeats}`);
        return { medianMs: 0.25, samplesMs: new Array(repeats).fill(0.25), mode: 'graph' };
      },
      inputDtypes: () => new Map(model.graph.feedInputs.map((v) => [v.name, v.type?.kind === 'tensor' ? v.type.dtype : ''])),
      dispose: () => log.push('dispose'),
    };
    return e;
  };
}

describe('benchCli with a stand-in engine', () => {
  it('checks every row, times only the correct ones, and writes the report and chart atomically', () => {
    const log: string[] = [];
    const report = path.join(dir, 'BENCH.md');
    const chart = path.join(dir, 'bench.svg');
    const rep = benchCli(dir, { report, chart, rowMs: 10 }, interpreterEngines(log));
    expect(rep.rows.map((r) => [r.id, r.status])).toEqual([['cnn-b1', 'ok'], ['cnn-b2', 'failed'], ['cnn-b3', 'ok'], ['cnn-b64', 'error']]);
    const [b1, b2, b3, b64] = rep.rows;
    expect(b1.relL2!).toBeLessThan(1e-3);
    expect(b1.chimeraMs).toBe(0.25);
    expect(b3.ratio).toBeCloseTo(0.25 / 0.3, 12);
    expect(b1.floorMs).toBeCloseTo(floorOf(1e6, 1e9).ms, 12);
    expect(b2.relL2!).toBeGreaterThan(0.3);
    expect(b2.chimeraMs).toBeUndefined();
    expect(b2.note).toMatch(/probs: rel L2/);
    expect(b64.note).toMatch(/peer: OutOfMemoryError/);
    // one engine for the model's rows; a probe plus one timed batch per correct row (10 ms / 5 / 0.25 ms = 8 iters)
    expect(log).toEqual(['build cnn', 'time 1x1', 'time 8x5', 'time 1x1', 'time 8x5', 'dispose']);
    expect(fs.readFileSync(report, 'utf8')).toBe(renderMarkdown(rep));
    expect(fs.readFileSync(chart, 'utf8')).toBe(renderChart(rep));
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(JSON.parse(JSON.stringify(rep)).rows).toHaveLength(4);
  });

  it('--only, --rows, --deadline and --max-rel-l2 select and limit rows', () => {
    const rep = benchCli(dir, { rows: 'b[12]$', maxRelL2: 1 }, interpreterEngines([]));
    expect(rep.rows.map((r) => [r.id, r.status])).toEqual([['cnn-b1', 'ok'], ['cnn-b2', 'ok']]);
    const late = benchCli(dir, { only: 'cnn', deadline: 1e-9 }, interpreterEngines([]));
    expect(late.rows.every((r) => r.status === 'skipped')).toBe(true);
  });

  it('an engine that cannot be built makes its rows errors, not a crash', () => {
    const rep = benchCli(dir, { rows: 'b[13]$' }, () => { throw new ChimeraError('E_UNSUPPORTED', 'op Foo is not supported'); });
    expect(rep.rows.map((r) => r.status)).toEqual(['error', 'error']);
    expect(rep.rows[0].note).toBe('chimera: op Foo is not supported');
  });
});

describe('argument errors', () => {
  const usageError = (f: () => unknown, re: RegExp) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ChimeraError);
      expect((e as ChimeraError).code).toBe('E_USAGE');
      expect((e as Error).message).toMatch(re);
      return;
    }
    throw new Error('expected a usage error');
  };
  const fake = interpreterEngines([]);

  it('are usage errors with a clear message', () => {
    usageError(() => benchCli(path.join(dir, 'nope'), {}, fake), /is not a folder/);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-bench-empty-'));
    usageError(() => benchCli(empty, {}, fake), /no peers\.json .*bench_peers\.py/);
    fs.writeFileSync(path.join(empty, 'peers.json'), '{ not json');
    usageError(() => benchCli(empty, {}, fake), /not valid JSON/);
    fs.writeFileSync(path.join(empty, 'peers.json'), JSON.stringify({ version: 1, rows: [{ id: 'x', model: 'm', shape: 's' }] }));
    usageError(() => benchCli(empty, {}, fake), /"onnx" must be a string/);
    fs.writeFileSync(path.join(empty, 'peers.json'), JSON.stringify({ version: 2, rows: [] }));
    usageError(() => benchCli(empty, {}, fake), /version 2/);
    usageError(() => benchCli(dir, { only: 'gpt2,cnn' }, fake), /--only: no rows for gpt2 .*models there: cnn/);
    usageError(() => benchCli(dir, { iters: 0 }, fake), /--iters must be a positive number/);
    usageError(() => benchCli(dir, { maxRelL2: Number('x') }, fake), /--max-rel-l2/);
    usageError(() => benchCli(dir, { rows: '(' }, fake), /--rows is not a valid regular expression/);
    usageError(() => benchCli(dir, { report: path.join(dir, 'no/such/dir/r.md') }, fake), /does not exist/);
  });

  it('exit codes of the stand-alone entry: 2 for usage, 4 without a GPU', async () => {
    expect(await benchMain([path.join(dir, 'nope')])).toBe(2);
    expect(await benchMain([dir, '--iters', 'abc'])).toBe(2);
    expect(await benchMain([])).toBe(2); // missing <dir>
    if (!cuda.available()) expect(await benchMain([dir])).toBe(4);
  });
});
