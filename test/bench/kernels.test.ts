// Kernel microbenchmarks of `chimera bench` without a GPU: FLOP counting, the float64 sampled-row checks
// (right outputs pass, wrong ones fail), the whole-output interpreter check, kernels.json parsing, the
// Markdown tables, and the run loop / CLI wiring with a stand-in engine (the reference interpreter).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/ir/tensor.js';
import { runModel } from '../../src/ref/interpreter.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { Rng } from '../../src/util/rng.js';
import { ChimeraError } from '../../src/errors.js';
import {
  checkAttentionRows, checkGemmRows, checkKernel, countNonFinite, fillRandom, kernelFlops, kernelProblem, kernelTarget, readKernels,
  renderKernelTable, renderKernelsSection, runKernelBench, sampleRows, tflops, type KernelCase, type KernelEngineFactory, type KernelResult, type KernelsFile,
} from '../../src/bench/kernels.js';
import { renderMarkdown } from '../../src/bench/table.js';
import { benchCli, benchMain, printBench } from '../../src/cli/bench.js';
import { cuda } from '../../src/runtime/index.js';

const gemm = (m: number, n: number, k: number, trans_b = false): KernelCase => ({ id: `gemm-m${m}-n${n}-k${k}${trans_b ? '-tb' : ''}`, family: 'gemm', shape: `${m}x${n}x${k}`, m, n, k, trans_b });
const attn = (batch: number, heads: number, seq: number, head_dim: number, causal: boolean): KernelCase => ({
  id: `attn-b${batch}-h${heads}-s${seq}-d${head_dim}${causal ? '-causal' : ''}`, family: 'attention', shape: `B${batch} H${heads} S${seq} D${head_dim}${causal ? ' causal' : ''}`, batch, heads, seq, head_dim, causal,
});

/** The interpreter's output of a case's model on its own feeds. */
function reference(c: KernelCase): { p: ReturnType<typeof kernelProblem>; y: Tensor } {
  const p = kernelProblem(c);
  const y = runModel(p.build(), new Map<string, RuntimeValue>(p.feeds)).get('Y') as Tensor;
  return { p, y };
}

const fdata = (t: Tensor) => t.data as Float32Array;

describe('FLOPs and targets', () => {
  it('GEMM 2·M·N·K; attention 4·B·H·S²·D, causal half', () => {
    expect(kernelFlops(gemm(4096, 4096, 4096))).toBe(2 * 4096 ** 3);
    expect(kernelFlops(gemm(128, 50257, 768, true))).toBe(2 * 128 * 50257 * 768);
    expect(kernelFlops(attn(4, 16, 2048, 128, false))).toBe(4 * 4 * 16 * 2048 * 2048 * 128);
    expect(kernelFlops(attn(4, 16, 2048, 128, true))).toBe(2 * 4 * 16 * 2048 * 2048 * 128);
    expect(tflops(2e12, 10)).toBeCloseTo(200, 9);
    expect(tflops(1, 0)).toBeUndefined();
    expect(kernelTarget(gemm(4096, 4096, 4096))).toBe(0.7);
    expect(kernelTarget(gemm(4096, 768, 3072))).toBeUndefined();
    expect(kernelTarget(attn(4, 16, 2048, 128, true))).toBe(0.6);
    expect(kernelTarget(attn(4, 16, 2048, 128, false))).toBe(0.6);
    expect(kernelTarget(attn(4, 16, 4096, 128, false))).toBeUndefined();
  });
});

describe('inputs', () => {
  it('fresh seeded fp16 normals: deterministic per case, different across cases, never zeros', () => {
    const a = kernelProblem(gemm(8, 8, 8)).feeds.get('A')!;
    const b = kernelProblem(gemm(8, 8, 8)).feeds.get('A')!;
    const c = kernelProblem(gemm(8, 8, 16)).feeds.get('A')!;
    expect(a.dtype).toBe('float16');
    expect([...fdata(a)]).toEqual([...fdata(b)]);
    expect([...fdata(a)]).not.toEqual([...fdata(c)].slice(0, 64));
    const t = fillRandom(Tensor.zeros('float16', [1001]), new Rng(3));
    const d = fdata(t);
    expect(d.every((x) => Number.isFinite(x))).toBe(true);
    expect(d.filter((x) => x !== 0).length).toBeGreaterThan(990);
    const mean = d.reduce((s, x) => s + x, 0) / d.length;
    const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / d.length);
    expect(Math.abs(mean)).toBeLessThan(0.15);
    expect(sd).toBeGreaterThan(0.85);
    expect(sd).toBeLessThan(1.15);
    for (const x of d) expect(Math.fround(x)).toBe(x); // fp16 values, stored as float32
  });

  it('sampleRows: distinct, sorted, first and last included, all rows when few', () => {
    const r = sampleRows(10000, 64, new Rng(1));
    expect(r).toHaveLength(64);
    expect(new Set(r).size).toBe(64);
    expect(r[0]).toBe(0);
    expect(r[63]).toBe(9999);
    expect([...r].sort((a, b) => a - b)).toEqual(r);
    expect(sampleRows(5, 64, new Rng(1))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('the float64 sampled-row checks', () => {
  it('GEMM: the interpreter output passes; a wrong output fails (both B layouts)', () => {
    for (const tb of [false, true]) {
      const c = gemm(40, 24, 33, tb);
      const { p, y } = reference(c);
      const A = fdata(p.feeds.get('A')!);
      const B = fdata((tb ? p.consts.get('W') : p.feeds.get('B'))!);
      const rows = sampleRows(40, 8, new Rng(2));
      const ok = checkGemmRows(A, B, 40, 24, 33, tb, fdata(y), rows);
      expect(ok.rows).toBe(8);
      expect(ok.relL2).toBeLessThan(2e-3); // fp16 output rounding only
      // one wrong element in a sampled row (the last row is always sampled)
      const bad = Float32Array.from(fdata(y));
      bad[39 * 24 + 5] += 40;
      expect(checkGemmRows(A, B, 40, 24, 33, tb, bad, rows).relL2).toBeGreaterThan(1e-2);
      // B used in the wrong layout fails too
      if (!tb) expect(checkGemmRows(A, B, 40, 24, 33, true, fdata(y), rows).relL2).toBeGreaterThan(0.5);
      const nan = Float32Array.from(fdata(y));
      nan[0] = NaN;
      expect(checkGemmRows(A, B, 40, 24, 33, tb, nan, rows).relL2).toBeNaN();
      expect(countNonFinite(nan)).toBe(1);
    }
    expect(() => checkGemmRows(new Float32Array(4), new Float32Array(4), 2, 2, 3, false, new Float32Array(4), [0])).toThrow(ChimeraError);
  });

  it('attention: matches the interpreter (default scale, causal and not); a wrong output fails', () => {
    for (const causal of [false, true]) {
      const c = attn(2, 3, 17, 8, causal);
      const { p, y } = reference(c);
      const [q, k, v] = ['Q', 'K', 'V'].map((n) => fdata(p.feeds.get(n)!));
      const all = sampleRows(2 * 3 * 17, 1000, new Rng(1));
      expect(checkAttentionRows(q, k, v, 6, 17, 8, causal, fdata(y), all).relL2).toBeLessThan(2e-3);
      // the other masking is a different answer
      expect(checkAttentionRows(q, k, v, 6, 17, 8, !causal, fdata(y), all).relL2).toBeGreaterThan(1e-2);
      const bad = Float32Array.from(fdata(y));
      for (let e = 0; e < 8; e++) bad[(5 * 17 + 16) * 8 + e] *= 1.5; // the last row of the last head
      expect(checkAttentionRows(q, k, v, 6, 17, 8, causal, bad, sampleRows(102, 10, new Rng(4))).relL2).toBeGreaterThan(1e-2);
    }
  });

  it('checkKernel: whole output against the interpreter when small, sampled rows when large', () => {
    const c = gemm(64, 16, 32);
    const { p, y } = reference(c);
    const small = checkKernel(p, y);
    expect(small.method).toMatch(/interpreter/);
    expect(small.relL2).toBe(0);
    const sampled = checkKernel(p, y, { fullCheckFlops: 0, sampleRows: 10 });
    expect(sampled.method).toBe('10 rows vs float64');
    expect(sampled.relL2).toBeLessThan(2e-3);
    const wrong = new Tensor('float16', y.shape, fdata(y).map((x, i) => (i % 16 === 3 ? x + 5 : x)));
    expect(checkKernel(p, wrong).relL2).toBeGreaterThan(1e-2);
    expect(checkKernel(p, wrong, { fullCheckFlops: 0 }).relL2).toBeGreaterThan(1e-2);
    const nan = new Tensor('float16', y.shape, fdata(y).map((x, i) => (i === 100 ? NaN : x)));
    expect(checkKernel(p, nan, { fullCheckFlops: 0 }).nonFinite).toBe(1);
    expect(checkKernel(p, new Tensor('float16', [16, 64], fdata(y)), { fullCheckFlops: 0 }).relL2).toBe(Infinity);
    const a = attn(1, 2, 9, 4, true);
    const r = reference(a);
    const s = checkKernel(r.p, r.y, { fullCheckFlops: 0, sampleRows: 64 });
    expect(s.method).toBe('18 query rows vs float64');
    expect(s.relL2).toBeLessThan(2e-3);
  });
});

describe('kernels.json', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-kbench-'));
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

  it('reads the cases; missing or garbled files are clear errors naming the file', () => {
    const dir = tmp();
    const file = path.join(dir, 'kernels.json');
    usageError(() => readKernels(path.join(dir, 'nope')), /is not a folder/);
    usageError(() => readKernels(dir), /no kernels\.json in .*bench_peers\.py .* --kernels/);
    fs.writeFileSync(file, '{ "version": 1, "cases": [');
    usageError(() => readKernels(dir), new RegExp(`${file.replace(/[.\\/]/g, '\\$&')}: not valid JSON`));
    const write = (o: unknown) => fs.writeFileSync(file, JSON.stringify(o));
    write({ version: 1 });
    usageError(() => readKernels(dir), /kernels\.json: has no "cases" list/);
    write({ version: 3, cases: [] });
    usageError(() => readKernels(dir), /version 3 is not supported/);
    write({ version: 1, cases: [{ id: 'g', family: 'gemm', shape: 's', m: 1, n: 0, k: 2 }] });
    usageError(() => readKernels(dir), /kernels\.json: case 0 \(g\): "n" must be a positive integer/);
    write({ version: 1, cases: [{ id: 'a', family: 'attention', shape: 's', batch: 1, heads: 1, seq: 4, head_dim: 8, causal: 1 }] });
    usageError(() => readKernels(dir), /"causal" must be true or false/);
    write({ version: 1, cases: [{ id: 'x', family: 'conv', shape: 's' }] });
    usageError(() => readKernels(dir), /"family" must be "gemm" or "attention"/);
    write({ version: 1, cases: [gemm(2, 2, 2), gemm(2, 2, 2)] });
    usageError(() => readKernels(dir), /appears twice/);
    write({ version: 1, cases: [{ ...gemm(2, 2, 2), torch: { ms: -1 } }] });
    usageError(() => readKernels(dir), /"torch\.ms" must be a positive number/);
    write({ version: 1, device: 'H100', cases: [{ ...gemm(2, 3, 4), torch: { op: 'torch.matmul', ms: 0.5, mode: 'graph' }, extra: 1 }, attn(1, 2, 8, 4, true)] });
    const k0 = readKernels(dir);
    expect(k0.device).toBe('H100');
    // two cases exactly as scripts/bench_peers.py writes them (its FLOP count is the same as ours)
    const py = [
      { id: 'gemm-m4096-n4096-k4096', family: 'gemm', shape: '4096x4096x4096', dtype: 'float16', m: 4096, n: 4096, k: 4096, trans_b: false, flops: 137438953472, note: 'square', torch: { op: 'torch.matmul', mode: 'graph', ms: 0.2, samples_ms: [0.2], iters: 10, repeats: 21, tflops: 687.2 } },
      { id: 'attn-b4-h16-s2048-d128-causal', family: 'attention', shape: 'B4 H16 S2048 D128 causal', dtype: 'float16', batch: 4, heads: 16, seq: 2048, head_dim: 128, causal: true, flops: 68719476736, error: 'RuntimeError: x' },
    ];
    write({ version: 1, script: 'scripts/bench_peers.py', device: 'NVIDIA H100', kernel_repeats: 21, cases: py });
    for (const c of readKernels(dir).cases) expect(kernelFlops(c)).toBe(c.flops);
    write({ version: 1, device: 'H100', cases: [{ ...gemm(2, 3, 4), torch: { op: 'torch.matmul', ms: 0.5, mode: 'graph' }, extra: 1 }, attn(1, 2, 8, 4, true)] });
    const k = readKernels(dir);
    expect(k.device).toBe('H100');
    expect(k.cases.map((c) => c.id)).toEqual(['gemm-m2-n3-k4', 'attn-b1-h2-s8-d4-causal']);
  });
});

/** The interpreter behind the KernelEngine interface; every run "takes" `ms`. A `wrong` engine adds 1 to every output. */
const interpreterCache = new Map<string, Map<string, RuntimeValue>>();
function interpreterKernels(log: string[], opts: { ms?: number; wrong?: RegExp; cache?: boolean } = {}): KernelEngineFactory {
  return (model) => {
    log.push(`build ${model.graph.name}`);
    const wrong = opts.wrong?.test(model.graph.name) ?? false;
    return {
      run: (feeds) => {
        // (the seeded inputs of a case are the same every time: a cached answer is the same answer)
        const ref = (opts.cache && interpreterCache.get(model.graph.name)) || (runModel(model, new Map(feeds)) as Map<string, RuntimeValue>);
        if (opts.cache) interpreterCache.set(model.graph.name, ref);
        const out = new Map([...ref].map(([k, t]) => [k, t instanceof Tensor ? new Tensor(t.dtype, t.shape, Float32Array.from(t.data as Float32Array)) : t] as const));
        if (wrong) for (const t of out.values()) if (t instanceof Tensor) (t.data as Float32Array).forEach((x, i, a) => { a[i] = x + 1; });
        return out;
      },
      time: (_f, iters, repeats) => {
        log.push(`time ${iters}x${repeats}`);
        return { medianMs: opts.ms ?? 0.5, samplesMs: new Array(repeats).fill(opts.ms ?? 0.5), mode: 'graph' };
      },
      launched: () => model.graph.nodes.map((n) => `ref_${n.op}`),
      dispose: () => log.push('dispose'),
    };
  };
}

const smallFile = (): KernelsFile => ({
  version: 1, device: 'test device', created: 'today',
  cases: [
    { ...gemm(32, 24, 16), torch: { op: 'torch.matmul', ms: 0.25, mode: 'graph' } },
    { ...gemm(16, 40, 8, true), torch: { op: 'torch.matmul', ms: 1 } },
    { ...attn(1, 2, 12, 8, false), torch: { op: 'sdpa', ms: 0.4 } },
    { ...attn(1, 2, 12, 8, true), error: 'OutOfMemoryError: boom' },
  ],
});

describe('runKernelBench with a stand-in engine', () => {
  it('checks every case, times only the correct ones, reports TFLOP/s and the fraction of torch', () => {
    const log: string[] = [];
    const res = runKernelBench(smallFile(), interpreterKernels(log, { wrong: /-tb$/ }), { batchMs: 5, repeats: 3 });
    expect(res.map((r) => [r.id, r.status])).toEqual([
      ['gemm-m32-n24-k16', 'ok'], ['gemm-m16-n40-k8-tb', 'failed'], ['attn-b1-h2-s12-d8', 'ok'], ['attn-b1-h2-s12-d8-causal', 'ok'],
    ]);
    const [g, tb, a, ac] = res;
    expect(g.relL2).toBe(0);
    expect(g.check).toMatch(/interpreter/);
    expect(g.chimeraMs).toBe(0.5);
    expect(g.chimeraTflops).toBeCloseTo((2 * 32 * 24 * 16) / 0.5e-3 / 1e12, 12);
    expect(g.torchTflops).toBeCloseTo((2 * 32 * 24 * 16) / 0.25e-3 / 1e12, 12);
    expect(g.ofTorch).toBeCloseTo(0.5, 12);
    expect(g.kernels).toEqual(['ref_MatMul']);
    expect(g.chimeraTiming).toMatchObject({ iters: 10, repeats: 3 });
    expect(tb.chimeraMs).toBeUndefined();
    expect(tb.note).toMatch(/rel L2 .* > 0\.01/);
    expect(tb.kernels).toEqual(['ref_Transpose', 'ref_MatMul']);
    expect(a.ofTorch).toBeCloseTo(0.8, 12);
    expect(ac.flops).toBe(2 * 2 * 12 * 12 * 8);
    expect(ac.ofTorch).toBeUndefined();
    expect(ac.note).toBe('torch: OutOfMemoryError: boom');
    // probe + timed batch per correct case, one engine per case, always disposed
    expect(log.filter((l) => l.startsWith('time'))).toEqual(['time 1x1', 'time 10x3', 'time 1x1', 'time 10x3', 'time 1x1', 'time 10x3']);
    expect(log.filter((l) => l === 'dispose')).toHaveLength(4);
  });

  it('an engine that cannot be built or run is an error, not a crash; a passed deadline skips', () => {
    const res = runKernelBench(smallFile(), () => { throw new ChimeraError('E_UNSUPPORTED', 'op Attention is not supported'); }, { cases: /attn/ });
    expect(res.map((r) => r.status)).toEqual(['error', 'error']);
    expect(res[0].note).toBe('chimera: op Attention is not supported');
    const late = runKernelBench(smallFile(), interpreterKernels([]), { expired: () => true });
    expect(late.every((r) => r.status === 'skipped')).toBe(true);
  });

  it('targets: met only when checked, timed and fast enough', () => {
    const file: KernelsFile = { version: 1, cases: [{ ...attn(1, 1, 2048, 128, false), torch: { ms: 1 } }] };
    const fast = runKernelBench(file, interpreterKernels([], { ms: 1.5, cache: true }), { fullCheckFlops: 0 });
    expect(fast[0].target).toEqual({ min: 0.6, met: true });
    const slow = runKernelBench(file, interpreterKernels([], { ms: 2, cache: true }), { fullCheckFlops: 0 });
    expect(slow[0].target).toEqual({ min: 0.6, met: false });
    const wrong = runKernelBench(file, interpreterKernels([], { ms: 1, wrong: /./, cache: true }), { fullCheckFlops: 0 });
    expect(wrong[0].status).toBe('failed');
    expect(wrong[0].target).toEqual({ min: 0.6, met: false });
  });
});

describe('tables', () => {
  const rows: KernelResult[] = [
    { id: 'gemm-m4096-n4096-k4096', family: 'gemm', shape: '4096x4096x4096', flops: 2 * 4096 ** 3, status: 'ok', torchMs: 0.2, torchTflops: 687.2, chimeraMs: 0.25, chimeraTflops: 549.8, ofTorch: 0.8, relL2: 4.1e-4, check: '64 rows vs float64', kernels: ['gemm_tc_abc', 'gemm_tc_abc'], chimeraTiming: { mode: 'graph', iters: 8, repeats: 21, samplesMs: [] }, target: { min: 0.7, met: true } },
    { id: 'gemm-m128-n768-k768', family: 'gemm', shape: '128x768x768', flops: 1, status: 'failed', torchMs: 0.01, torchTflops: 15.1, relL2: 0.3, check: 'interpreter (whole output)', kernels: ['gemm|x'], note: 'rel L2 3.00e-1 > 0.01' },
    { id: 'attn-b4-h16-s2048-d128-causal', family: 'attention', shape: 'B4 H16 S2048 D128 causal', flops: 1, status: 'error', note: 'chimera: E_UNSUPPORTED', target: { min: 0.6, met: false } },
  ];

  it('one table per family with TFLOP/s, the fraction of torch, the check and the kernels', () => {
    const g = renderKernelTable(rows, 'gemm')!.split('\n');
    expect(g[0]).toBe('| case | shape | torch.matmul ms | torch.matmul TFLOP/s | chimera ms | chimera TFLOP/s | chimera / torch.matmul | rel L2 | check | chimera kernels | notes |');
    expect(g).toHaveLength(4);
    expect(g[2]).toBe('| gemm-m4096-n4096-k4096 | 4096x4096x4096 | 0.200 | 687 | 0.250 | 550 | 80.0 % | 4.10e-4 | 64 rows vs float64 | `gemm_tc_abc` | target ≥ 70 %: met; graph, 8×21 |');
    expect(g[3]).toContain('FAIL (not timed)');
    expect(g[3]).toContain('`gemm\\|x`');
    const a = renderKernelTable(rows, 'attention')!.split('\n');
    expect(a[0]).toContain('SDPA TFLOP/s');
    expect(a[2]).toContain('| error |');
    expect(a[2]).toContain('target ≥ 60 %: NOT met; chimera: E_UNSUPPORTED');
    expect(renderKernelTable(rows.slice(0, 2), 'attention')).toBeUndefined();
    const sec = renderKernelsSection(rows, 1e-2);
    expect(sec.startsWith('## Kernels\n')).toBe(true);
    expect(sec).toContain('- 4096x4096x4096: chimera 80.0 % of torch (target ≥ 70 %): met');
    expect(sec).toContain('- B4 H16 S2048 D128 causal: chimera – of torch (target ≥ 60 %): NOT met (error)');
    expect(sec).toContain('### GEMM (fp16) vs torch.matmul');
    expect(sec).toContain('### Attention (fp16) vs scaled_dot_product_attention');
  });

  it('the report: kernels only, or after the model tables', () => {
    const base = { dir: '/x', device: 'H100', precision: 'fp16' as const, maxRelL2: 5e-2, buildMs: {}, totalS: 1, rows: [] };
    const only = renderMarkdown({ ...base, kernels: rows });
    expect(only).toContain('## Kernels');
    expect(only).not.toContain('| model | shape |');
    const both = renderMarkdown({ ...base, rows: [{ id: 'r', model: 'm', kind: 'forward', shape: 'B1', status: 'ok', chimeraMs: 1 }], kernels: rows });
    expect(both.indexOf('| model | shape |')).toBeLessThan(both.indexOf('## Kernels'));
    expect(renderMarkdown({ ...base, rows: [] })).not.toContain('Kernels');
  });
});

describe('chimera bench with kernels.json', () => {
  it('runs the kernel cases alone when the folder has only kernels.json, and with --kernels', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-kbench-cli-'));
    fs.writeFileSync(path.join(dir, 'kernels.json'), JSON.stringify(smallFile()));
    const report = path.join(dir, 'BENCH.md');
    const rep = benchCli(dir, { report, cases: 'gemm' }, undefined, interpreterKernels([]));
    expect(rep.rows).toEqual([]);
    expect(rep.device).toBe('test device');
    expect(rep.kernels!.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(fs.readFileSync(report, 'utf8')).toBe(renderMarkdown(rep));
    expect(printBench(rep)).toMatch(/0 rows: .*; 2 kernel cases: 2 ok, 0 failed/);
    const k = benchCli(dir, { kernels: true }, undefined, interpreterKernels([]));
    expect(k.kernels).toHaveLength(4);
    expect(JSON.parse(JSON.stringify(k)).kernels[0].id).toBe('gemm-m32-n24-k16');
  });

  it('argument errors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-kbench-cli-'));
    const f = interpreterKernels([]);
    const err = (o: Parameters<typeof benchCli>[1], re: RegExp) => expect(() => benchCli(dir, o, undefined, f)).toThrow(re);
    err({ kernels: true }, /no kernels\.json in/);
    err({}, /no peers\.json in/);
    fs.writeFileSync(path.join(dir, 'kernels.json'), '[garbled');
    err({}, /kernels\.json: not valid JSON/);
    err({ kernels: true, only: 'gpt2' }, /--kernels runs only the kernel microbenchmarks/);
    err({ kernels: false, cases: 'x' }, /--no-kernels runs none/);
    err({ cases: '(' }, /--cases is not a valid regular expression/);
    err({ kernelMaxRelL2: -1 }, /--kernel-max-rel-l2 must be a positive number/);
    err({ kernels: false }, /no peers\.json in/);
  });

  it('the command line: --kernels / --no-kernels / --cases reach benchCli (exit 2 on usage, 4 without a GPU)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-kbench-cli-'));
    fs.writeFileSync(path.join(dir, 'kernels.json'), JSON.stringify(smallFile()));
    expect(await benchMain([dir, '--kernels', '--only', 'gpt2'])).toBe(2);
    expect(await benchMain([dir, '--no-kernels', '--cases', 'gemm'])).toBe(2);
    expect(await benchMain([dir, '--no-kernels'])).toBe(2); // no peers.json
    expect(await benchMain([dir, '--cases', '('])).toBe(2);
    if (!cuda.available()) {
      expect(await benchMain([dir])).toBe(4); // kernels.json alone: the kernel part runs, and needs the GPU
      expect(await benchMain([dir, '--kernels', '--cases', 'attn'])).toBe(4);
    }
  });
});
