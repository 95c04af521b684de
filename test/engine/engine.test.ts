/**
 * The GPU engine's host side, without a GPU: partitioning and fusion, planning with symbolic dims,
 * the memory planner, the precision transform and the engine file (round trip, truncation, tampering).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/import.js';
import { Engine, sampleBindings } from '../../src/engine/engine.js';
import { planMemory } from '../../src/engine/memory.js';
import { loadEngine, readEngineFile, writeEngine } from '../../src/engine/engine-file.js';
import { GraphBuilder } from '../../src/builder/graph-builder.js';
import { Tensor } from '../../src/ir/tensor.js';
import { randomTensor } from '../../src/cli/run.js';
import { Rng } from '../../src/util/rng.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { ChimeraError } from '../../src/errors.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'exporters');
const gpt = path.join(FIXTURES, 'gpt2_dynamo', 'model.onnx');

function feedsAt(e: Engine, b: Record<string, number>, seed = 1): Map<string, RuntimeValue> {
  const rng = new Rng(seed);
  const feeds = new Map<string, RuntimeValue>();
  for (const v of e.model.graph.feedInputs) {
    if (v.type?.kind !== 'tensor') continue;
    feeds.set(v.name, randomTensor(v.type.dtype, (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : b[String(d)] ?? 1)), rng));
  }
  return feeds;
}

describe('engine planning (no GPU)', () => {
  it('plans the GPT fixture at several seq lengths with the same kernels and no host fallbacks', () => {
    const e = new Engine(loadModel(gpt));
    const sets: string[][] = [];
    for (const seq of [1, 7, 33]) {
      const p = e.planFor(feedsAt(e, { batch: 2, seq, past_seq: 3, s53: seq }));
      expect(p.dynamic).toBeUndefined();
      expect(p.plan!.steps.filter((s) => s.kind === 'host').map((s) => s.label)).toEqual([]);
      sets.push([...p.plan!.kernels.keys()].sort());
      // planned peak never exceeds the naive sum, and overlapping lifetimes never share bytes
      expect(p.mem!.arenaBytes).toBeLessThanOrEqual(p.mem!.naiveBytes);
    }
    expect(sets[1]).toEqual(sets[0]);
    expect(sets[2]).toEqual(sets[0]);
  });

  it('the memory planner never overlaps values that are alive at the same time', () => {
    const e = new Engine(loadModel(gpt));
    const { plan } = e.planFor(feedsAt(e, { batch: 2, seq: 9, past_seq: 4, s53: 9 }));
    const mem = planMemory(plan!);
    const live = new Map<string, [number, number]>();
    plan!.steps.forEach((s, i) => {
      for (const v of [...s.reads, ...s.writes]) {
        const root = plan!.values.get(v)?.aliasOf ?? v;
        if (!mem.offsets.has(root)) continue;
        const cur = live.get(root);
        live.set(root, cur ? [Math.min(cur[0], i), Math.max(cur[1], i)] : [i, i]);
      }
    });
    const items = [...live].map(([n, [s, t]]) => ({ n, s, t, off: mem.offsets.get(n)!, bytes: plan!.values.get(n)!.bytes }));
    for (const a of items) for (const b of items) {
      if (a.n >= b.n || a.t < b.s || b.t < a.s) continue;
      const disjoint = a.off + a.bytes <= b.off || b.off + b.bytes <= a.off;
      expect(disjoint, `${a.n} and ${b.n} overlap`).toBe(true);
    }
  });

  it('fuses an elementwise chain into one kernel and keeps intermediate values out of memory', () => {
    const b = new GraphBuilder('chain');
    const x = b.input('x', 'float32', ['n', 8]);
    const bias = b.constant(Tensor.from('float32', [8], [1, 2, 3, 4, 5, 6, 7, 8]), 'bias');
    const y = b.op('Tanh', [b.op('Mul', [b.op('Add', [x, bias]), x])]);
    b.output(b.op('Relu', [y]), 'out');
    const e = new Engine(b.build(), { optimize: 0 });
    expect(e.units.filter((u) => u.kind === 'ew').map((u) => (u.kind === 'ew' ? u.group.nodes.length : 0))).toEqual([4]);
    const { plan } = e.planFor(new Map([['x', randomTensor('float32', [5, 8], new Rng(3))]]));
    expect(plan!.steps).toHaveLength(1);
    expect(plan!.steps[0].kind === 'device' && plan!.steps[0].launches).toHaveLength(1);
  });

  it('checks feeds: dtype, rank, static dims, consistent symbols, declared maxima', () => {
    const e = new Engine(loadModel(gpt), { maxDims: { seq: 16 } });
    const good = feedsAt(e, { batch: 1, seq: 4, past_seq: 2, s53: 4 });
    expect(() => e.signature(good)).not.toThrow();
    const long = feedsAt(e, { batch: 1, seq: 20, past_seq: 2, s53: 20 });
    expect(() => e.signature(long)).toThrow(/exceeds the engine's declared maximum 16/);
    const bad = new Map(good);
    bad.set('input_ids', Tensor.zeros('int32', [1, 4]));
    expect(() => e.signature(bad)).toThrow(/must be int64/);
    const missing = new Map(good);
    missing.delete('input_ids');
    expect(() => e.signature(missing)).toThrow(/was not given/);
  });

  it('fp16 precision stores the computation in float16 and keeps float32 at the boundary', () => {
    const e = new Engine(loadModel(gpt), { precision: 'fp16' });
    const g = e.model.graph;
    for (const v of g.feedInputs) expect(v.type?.kind === 'tensor' && v.type.dtype).not.toBe('float16');
    const floatInits = [...g.initializers.values()].filter((t) => t.dtype === 'float32' || t.dtype === 'float16');
    expect(floatInits.length).toBeGreaterThan(0);
    expect(floatInits.every((t) => t.dtype === 'float16')).toBe(true);
    for (const o of g.outputs) {
      const t = g.typeOf(o.name);
      if (t?.kind === 'tensor' && o.name.startsWith('logits')) expect(t.dtype).toBe('float32');
    }
    const p = e.planFor(feedsAt(e, { batch: 1, seq: 5, past_seq: 0, s53: 5 }));
    expect(p.plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
  });
});

describe('engine file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-engine-'));
  const file = path.join(dir, 'm.engine');
  const e = new Engine(loadModel(gpt));
  for (const b of sampleBindings(e.model)) e.planFor(feedsAt(e, b));
  writeEngine(e, file, { chimeraVersion: 'test', build: {}, plans: [] });

  it('round-trips: the loaded engine plans the same kernels', () => {
    const { engine, manifest } = loadEngine(file);
    expect(manifest.kernels.map((k) => k.name)).toEqual(e.kernels().map((k) => k.name));
    const p = engine.planFor(feedsAt(engine, { batch: 1, seq: 7, past_seq: 7, s53: 7 }));
    expect([...p.plan!.kernels.keys()].every((k) => manifest.kernels.some((m) => m.name === k))).toBe(true);
  });

  it('a truncated file is a typed E_ENGINE error', () => {
    const bytes = fs.readFileSync(file);
    const t = path.join(dir, 'trunc.engine');
    fs.writeFileSync(t, bytes.subarray(0, bytes.length - 100));
    expect(() => readEngineFile(t)).toThrow(ChimeraError);
    expect(() => readEngineFile(t)).toThrow(/truncated/);
    fs.writeFileSync(t, bytes.subarray(0, 30));
    expect(() => readEngineFile(t)).toThrow(/truncated|not an engine/);
  });

  it('a tampered file is refused, naming the section', () => {
    const bytes = Buffer.from(fs.readFileSync(file));
    bytes[bytes.length - 5] ^= 0x55;
    const t = path.join(dir, 'bad.engine');
    fs.writeFileSync(t, bytes);
    let err: unknown;
    try {
      loadEngine(t);
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(ChimeraError);
    expect((err as ChimeraError).code).toBe('E_ENGINE');
    expect((err as Error).message).toMatch(/checksum mismatch/);
  });

  it('an ONNX file is not an engine', () => {
    expect(() => readEngineFile(gpt)).toThrow(/not a chimera engine/);
  });
});

describe('plan cache', () => {
  it('keeps at most MAX_PLANS signatures (a long decode loop does not grow without bound)', async () => {
    const { MAX_PLANS } = await import('../../src/engine/plan.js');
    const e = new Engine(loadModel(gpt));
    for (let past = 0; past < MAX_PLANS + 5; past++) e.planFor(feedsAt(e, { batch: 1, seq: 1, past_seq: past, s53: past + 1 }));
    expect(e.planned().size).toBe(MAX_PLANS);
    // the most recent signature is kept
    const last = e.signature(feedsAt(e, { batch: 1, seq: 1, past_seq: MAX_PLANS + 4, s53: MAX_PLANS + 5 })).key;
    expect(e.planned().has(last)).toBe(true);
  });
});

describe('weight layout for tensor cores', () => {
  it('pads a constant fp16 MatMul weight with N % 8 != 0 and slices the product back (same result)', async () => {
    const { runModel } = await import('../../src/ref/interpreter.js');
    const b = new GraphBuilder('lmhead');
    const x = b.input('x', 'float32', [2, 3, 16]);
    const rng = new Rng(5);
    const w = randomTensor('float32', [16, 67], rng);
    b.output(b.op('MatMul', [x, b.initializer('w', w)]), 'logits');
    const e = new Engine(b.build(), { precision: 'fp16', optimize: 0 });
    const mm = e.model.graph.nodes.find((n) => n.op === 'MatMul')!;
    expect(e.model.graph.initializers.get(mm.inputs[1])!.shape).toEqual([16, 72]);
    expect(e.model.graph.nodes.some((n) => n.op === 'Slice')).toBe(true);
    const feeds = new Map([['x', randomTensor('float32', [2, 3, 16], rng)]]);
    const { plan } = e.planFor(feeds);
    expect(plan!.values.get('logits')!.shape).toEqual([2, 3, 67]);
    const out = runModel(e.model, feeds).get('logits') as Tensor;
    const b2 = new GraphBuilder('lmhead');
    const x2 = b2.input('x', 'float32', [2, 3, 16]);
    b2.output(b2.op('MatMul', [x2, b2.initializer('w', w)]), 'logits');
    const direct = runModel(b2.build(), feeds).get('logits') as Tensor;
    const { relativeL2 } = await import('../../src/cli/run.js');
    expect(out.shape).toEqual([2, 3, 67]);
    expect(relativeL2(out, direct)).toBeLessThan(1e-2);
  });
});

describe('transposed constant weights', () => {
  it('MatMul(A, Transpose(W)) becomes Gemm(transB) on tensor cores, same result, no per-run transpose', async () => {
    const { runModel } = await import('../../src/ref/interpreter.js');
    const { relativeL2 } = await import('../../src/cli/run.js');
    const build = () => {
      const b = new GraphBuilder('tied');
      const x = b.input('x', 'float32', ['batch', 'seq', 16]);
      const w = b.initializer('wte', randomTensor('float32', [67, 16], new Rng(9)));
      b.output(b.op('MatMul', [x, b.op('Transpose', [w], { perm: [1, 0] })]), 'logits');
      return b.build();
    };
    const e = new Engine(build(), { precision: 'fp16', optimize: 0 });
    const ops = e.model.graph.nodes.map((n) => n.op);
    expect(ops).toContain('Gemm');
    expect(ops).not.toContain('Transpose');
    expect(ops).not.toContain('MatMul');
    const feeds = new Map([['x', randomTensor('float32', [2, 5, 16], new Rng(4))]]);
    const { plan } = e.planFor(feeds);
    expect(plan!.values.get('logits')!.shape).toEqual([2, 5, 67]);
    const gemm = plan!.steps.find((s) => s.kind === 'device' && s.nodes.some((n) => n.op === 'Gemm'));
    expect(gemm && gemm.kind === 'device' && gemm.launches[0].kernel.family).toMatch(/^gemm_tc/);
    const out = runModel(e.model, feeds).get('logits') as Tensor;
    const ref = runModel(build(), feeds).get('logits') as Tensor;
    expect(out.shape).toEqual([2, 5, 67]);
    expect(relativeL2(out, ref)).toBeLessThan(1e-2);
  });
});
