/**
 * Engine fusions beyond elementwise groups (src/engine/epilogue.ts, partition.ts, plan.ts), without a GPU:
 * GEMM epilogues (MatMul/Gemm → bias Add → activation → residual Add) and residual Adds fused into the
 * normalization after them. Checks the units, the reasons when a fusion does not apply, the plans (one
 * device step per fused unit, kernel sets stable across shapes, no host fallbacks) and nvcc compilation.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/import.js';
import { Engine } from '../../src/engine/engine.js';
import { partition, type FusionNote, type Unit } from '../../src/engine/partition.js';
import type { DeviceStep } from '../../src/engine/plan.js';
import { GraphBuilder } from '../../src/builder/graph-builder.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { DType } from '../../src/ir/dtype.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { randomTensor } from '../../src/cli/run.js';
import { Rng } from '../../src/util/rng.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { compileAllWithNvcc, nvccPath } from '../codegen/nvcc.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'exporters');

function feedsAt(e: Engine, b: Record<string, number>, seed = 1): Map<string, RuntimeValue> {
  const rng = new Rng(seed);
  const feeds = new Map<string, RuntimeValue>();
  for (const v of e.model.graph.feedInputs) {
    if (v.type?.kind !== 'tensor') continue;
    feeds.set(v.name, randomTensor(v.type.dtype, (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : b[String(d)] ?? 1)), rng));
  }
  return feeds;
}

const rand = (shape: number[], seed: number): Tensor => randomTensor('float32', shape, new Rng(seed));
const fusedUnits = (e: Engine, kind: Unit['kind']) => e.units.filter((u) => u.kind === kind);
const opsOf = (u: Unit): string[] => (u.kind === 'gemm-epilogue' || u.kind === 'norm-add' ? u.fused.nodes.map((n) => n.op) : []);
const deviceSteps = (steps: readonly { kind: string }[]) => steps.filter((s): s is DeviceStep => s.kind === 'device');
const kernelSet = (e: Engine, feeds: Map<string, RuntimeValue>) => [...e.planFor(feeds).plan!.kernels.keys()].sort();

/** x[n,64] → MatMul → +b1 → Gelu → MatMul → +b2 → +x (a transformer MLP with its residual) */
function mlp(opts: { extraReader?: boolean; act?: 'Gelu' | 'Relu' } = {}) {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', ['n', 64]);
  const h = b.op('Add', [b.op('MatMul', [x, b.constant(rand([64, 128], 1))]), b.constant(rand([128], 2))]);
  const a = b.op(opts.act ?? 'Gelu', [h], opts.act === 'Relu' ? {} : { approximate: 'tanh' });
  const y = b.op('Add', [b.op('Add', [b.op('MatMul', [a, b.constant(rand([128, 64], 3))]), b.constant(rand([64], 4))]), x]);
  b.output(y, 'y');
  if (opts.extraReader) b.output(b.op('Neg', [h]), 'h');
  return b.build();
}

describe('GEMM epilogue fusion', () => {
  for (const precision of ['fp16', 'bf16', 'fp32'] as const) {
    it(`fuses bias, activation and residual into the GEMMs of an MLP (${precision})`, () => {
      const e = new Engine(mlp(), { optimize: 0, precision });
      const units = fusedUnits(e, 'gemm-epilogue');
      expect(units.map(opsOf)).toEqual([['MatMul', 'Add', 'Gelu'], ['MatMul', 'Add', 'Add']]);
      const u0 = units[0].kind === 'gemm-epilogue' ? units[0].fused : undefined;
      expect(u0?.act).toBe('gelu_tanh');
      const sets: string[][] = [];
      for (const n of [3, 300]) {
        const { plan } = e.planFor(new Map([['x', randomTensor('float32', [n, 64], new Rng(n))]]));
        expect(plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
        const fused = deviceSteps(plan!.steps).filter((s) => s.nodes.length > 1);
        expect(fused.map((s) => s.label)).toEqual([expect.stringMatching(/\(3 fused\)$/), expect.stringMatching(/\(3 fused\)$/)]);
        // one GEMM launch each (main + reduce when split-K)
        for (const s of fused) expect(s.launches.length).toBeLessThanOrEqual(2);
        // the intermediate values never reach memory
        for (const s of fused) expect(s.writes).toEqual([s.nodes[s.nodes.length - 1].outputs[0]]);
        sets.push([...plan!.kernels.keys()].sort());
      }
      expect(sets[1]).toEqual(sets[0]);
    });
  }

  it('stops where an intermediate value has another reader, and says why', () => {
    const model = mlp({ extraReader: true, act: 'Relu' });
    const e = new Engine(model, { optimize: 0, precision: 'fp16' });
    // h = MatMul + b1 is read by Relu and Neg: only MatMul + bias fuse; Relu runs on its own
    expect(fusedUnits(e, 'gemm-epilogue').map(opsOf)).toEqual([['MatMul', 'Add'], ['MatMul', 'Add', 'Add']]);
    const notes: FusionNote[] = [];
    partition(e.model.graph, { hostValues: e.hostValues, notes });
    expect(notes).toEqual([]); // both chains fused something: no "nothing to fuse" notes
    const { plan } = e.planFor(new Map([['x', randomTensor('float32', [5, 64], new Rng(1))]]));
    expect(plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
  });

  it('leaves a GEMM whose product has two readers alone (with a reason), and broadcast residuals to the elementwise groups', () => {
    const b = new GraphBuilder('two');
    const x = b.input('x', 'float32', ['n', 64]);
    const p = b.op('MatMul', [x, b.constant(rand([64, 64], 1))]);
    b.output(b.op('Relu', [p]), 'r');
    b.output(b.op('Neg', [p]), 'q');
    // residual [1, 64] is a broadcast: not a residual, and a bias only before an activation
    const g = b.op('Relu', [b.op('MatMul', [x, b.constant(rand([64, 64], 2))])]);
    b.output(b.op('Add', [g, b.constant(rand([1, 64], 3))]), 's');
    const e = new Engine(b.build(), { optimize: 0, precision: 'fp16' });
    const notes: FusionNote[] = [];
    partition(e.model.graph, { hostValues: e.hostValues, notes });
    expect(notes.map((n) => n.reason)).toEqual([expect.stringMatching(/has 2 readers/)]);
    expect(fusedUnits(e, 'gemm-epilogue').map(opsOf)).toEqual([['MatMul', 'Relu']]);
    const { plan } = e.planFor(new Map([['x', randomTensor('float32', [5, 64], new Rng(1))]]));
    expect(plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
  });

  it('fusion: false turns it off', () => {
    const e = new Engine(mlp(), { optimize: 0, precision: 'fp16', fusion: false });
    expect(e.units.every((u) => u.kind === 'node' || u.kind === 'ew')).toBe(true);
  });

  it('falls back to the members one by one when the concrete shapes do not fit (residual broadcast at run time)', () => {
    const b = new GraphBuilder('late');
    const x = b.input('x', 'float32', ['n', 64]);
    const r = b.input('r', 'float32', ['m', 64]);
    b.output(b.op('Add', [b.op('MatMul', [x, b.constant(rand([64, 64], 1))]), r]), 'y');
    const e = new Engine(b.build(), { optimize: 0, precision: 'fp16' });
    expect(fusedUnits(e, 'gemm-epilogue').map(opsOf)).toEqual([['MatMul', 'Add']]);
    const ok = e.planFor(new Map([['x', randomTensor('float32', [4, 64], new Rng(1))], ['r', randomTensor('float32', [4, 64], new Rng(2))]]));
    expect(deviceSteps(ok.plan!.steps).some((s) => s.label.endsWith('(2 fused)'))).toBe(true);
    const bc = e.planFor(new Map([['x', randomTensor('float32', [4, 64], new Rng(1))], ['r', randomTensor('float32', [1, 64], new Rng(2))]]));
    expect(bc.plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
    expect(deviceSteps(bc.plan!.steps).some((s) => s.label.includes('fused'))).toBe(false);
  });
});

describe('residual Add + normalization fusion', () => {
  function block(readBefore: boolean, rms = false) {
    const b = new GraphBuilder('ln');
    const x = b.input('x', 'float32', ['b', 's', 32]);
    const r = b.input('r', 'float32', ['b', 's', 32]);
    const s = b.op('Add', [x, r]);
    const early = readBefore ? b.op('Neg', [s]) : undefined;
    const y = rms
      ? b.op('RMSNormalization', [s, b.constant(rand([32], 1))], { axis: -1 })
      : b.op('LayerNormalization', [s, b.constant(rand([32], 1)), b.constant(rand([32], 2))], { axis: -1 });
    // the residual stream: s is read again after the normalization
    b.output(b.op('Add', [b.op('Tanh', [y]), s]), 'out');
    if (early) b.output(early, 'early');
    return b.build();
  }
  const feeds = (B: number, S: number) => new Map<string, RuntimeValue>([['x', randomTensor('float32', [B, S, 32], new Rng(1))], ['r', randomTensor('float32', [B, S, 32], new Rng(2))]]);

  for (const [precision, rms] of [['fp16', false], ['bf16', true], ['fp32', false]] as const) {
    it(`computes the sum inside the ${rms ? 'RMS' : 'layer'} norm launch and writes it for later readers (${precision})`, () => {
      const e = new Engine(block(false, rms), { optimize: 0, precision });
      const units = fusedUnits(e, 'norm-add');
      expect(units.map(opsOf)).toEqual([['Add', rms ? 'RMSNormalization' : 'LayerNormalization']]);
      const u = units[0].kind === 'norm-add' ? units[0].fused : undefined;
      expect(u?.sum).toBe(u?.add.outputs[0]);
      const { plan } = e.planFor(feeds(2, 5));
      const step = deviceSteps(plan!.steps).find((s) => s.label.endsWith('(2 fused)'))!;
      expect(step.launches).toHaveLength(1);
      expect(step.writes.sort()).toEqual([u!.norm.outputs[0], u!.sum!].sort());
      expect(plan!.steps.filter((s) => s.kind === 'host')).toEqual([]);
      expect(kernelSet(e, feeds(3, 70))).toEqual(kernelSet(e, feeds(2, 5)));
    });
  }

  it('does not fuse when the sum is read before the normalization', () => {
    const e = new Engine(block(true), { optimize: 0, precision: 'fp16' });
    expect(fusedUnits(e, 'norm-add')).toEqual([]);
    const notes: FusionNote[] = [];
    partition(e.model.graph, { hostValues: e.hostValues, notes });
    expect(notes.filter((n) => n.kind === 'norm-add').map((n) => n.reason)).toEqual([expect.stringMatching(/before the normalization/)]);
  });
});

describe('exporter fixtures (fp16)', () => {
  // per model: GEMM epilogue units and their op lists, norm-add units, bindings of the symbolic dims
  const cases: { name: string; gemm: string[][]; norm: number; bind: Record<string, number>[] }[] = [
    {
      name: 'gpt2_dynamo',
      gemm: [['Gemm', 'Reshape', 'Add'], ['Gemm', 'Reshape', 'Gelu'], ['Gemm', 'Reshape', 'Add']],
      norm: 1,
      bind: [{ batch: 2, seq: 7, past_seq: 3, s53: 10 }, { batch: 1, seq: 1, past_seq: 9, s53: 10 }],
    },
    { name: 'bert_dynamo', gemm: [['MatMul', 'Add'], ['MatMul', 'Gelu'], ['MatMul', 'Add']], norm: 1, bind: [{ batch: 2, seq: 7 }, { batch: 1, seq: 33 }] },
    { name: 'bert_torchscript', gemm: [['MatMul', 'Add'], ['MatMul', 'Gelu'], ['MatMul', 'Add']], norm: 1, bind: [{ batch: 2, seq: 7 }, { batch: 1, seq: 33 }] },
    { name: 'vit_dynamo', gemm: [['MatMul', 'Add'], ['MatMul', 'Gelu'], ['MatMul', 'Add']], norm: 1, bind: [{ batch: 1 }, { batch: 3 }] },
    {
      name: 'llama_dynamo',
      gemm: [['MatMul', 'Add'], ['MatMul', 'Add']],
      norm: 0,
      bind: [{ batch: 2, seq: 7, past_seq: 3, s53: 10 }, { batch: 1, seq: 1, past_seq: 9, s53: 10 }],
    },
  ];
  for (const c of cases) {
    it(`${c.name}: the layers' GEMM epilogues and norm-adds fuse; plans keep their kernels across shapes`, () => {
      const e = new Engine(loadModel(path.join(FIXTURES, c.name, 'model.onnx')), { precision: 'fp16' });
      const gemm = fusedUnits(e, 'gemm-epilogue').map(opsOf);
      // two layers of the same pattern
      expect(gemm).toEqual([...c.gemm, ...c.gemm]);
      expect(fusedUnits(e, 'norm-add')).toHaveLength(c.norm);
      const sets = c.bind.map((b) => {
        const p = e.planFor(feedsAt(e, b));
        expect(p.dynamic).toBeUndefined();
        expect(p.plan!.steps.filter((s) => s.kind === 'host').map((s) => s.label)).toEqual([]);
        const fused = deviceSteps(p.plan!.steps).filter((s) => /\(\d+ fused\)$/.test(s.label) && s.launches.some((l) => l.kernel.family.startsWith('gemm') || l.kernel.family === 'norm'));
        expect(fused.length).toBe(gemm.length + c.norm);
        return [...p.plan!.kernels.keys()].sort();
      });
      expect(sets[1]).toEqual(sets[0]);
    });
  }
});

describe('Conv epilogues (fp16 ResNet-18 fixture)', () => {
  it('takes Relu, the residual Add, and Add then Relu into the implicit-GEMM convolutions; fp32 keeps them apart', () => {
    const file = path.join(FIXTURES, 'resnet18_dynamo', 'model.onnx');
    const e = new Engine(loadModel(file), { precision: 'fp16' });
    const conv = fusedUnits(e, 'gemm-epilogue').filter((u) => u.kind === 'gemm-epilogue' && u.fused.anchor.op === 'Conv');
    const shapes = conv.map((u) => opsOf(u).join('+'));
    expect(shapes).toContain('Conv+Relu');
    expect(shapes).toContain('Conv+Add+Relu');
    const withRes = conv.find((u) => u.kind === 'gemm-epilogue' && u.fused.residual);
    expect(withRes && withRes.kind === 'gemm-epilogue' && withRes.fused.actAfterResidual).toBe(true);
    const sets = [1, 3].map((batch) => {
      const p = e.planFor(feedsAt(e, { batch }));
      const fused = deviceSteps(p.plan!.steps).filter((st) => /\(\d+ fused\)$/.test(st.label));
      expect(fused.length).toBe(conv.length);
      for (const st of fused) expect(st.launches.some((l) => l.kernel.family === 'conv_igemm' || l.kernel.family === 'conv_igemm_splitk')).toBe(true);
      return kernelSet(e, feedsAt(e, { batch }));
    });
    expect(sets[1]).toEqual(sets[0]);
    const e32 = new Engine(loadModel(file), { precision: 'fp32' });
    expect(fusedUnits(e32, 'gemm-epilogue').filter((u) => u.kind === 'gemm-epilogue' && u.fused.anchor.op === 'Conv')).toEqual([]);
  });
});

describe('nvcc', () => {
  it.skipIf(!nvccPath())('the kernels of fused steps compile', async () => {
    const ks = new Map<string, KernelSource>();
    const add = (e: Engine, feeds: Map<string, RuntimeValue>) => {
      for (const s of deviceSteps(e.planFor(feeds).plan!.steps)) if (s.nodes.length > 1) for (const l of s.launches) ks.set(l.kernel.name, l.kernel);
    };
    for (const precision of ['fp16', 'bf16', 'fp32'] as const) {
      const e = new Engine(mlp(), { optimize: 0, precision });
      for (const n of [3, 300]) add(e, new Map([['x', randomTensor('float32' as DType, [n, 64], new Rng(n))]]));
    }
    const g = new Engine(loadModel(path.join(FIXTURES, 'gpt2_dynamo', 'model.onnx')), { precision: 'fp16' });
    add(g, feedsAt(g, { batch: 2, seq: 7, past_seq: 3, s53: 10 }));
    expect(ks.size).toBeGreaterThan(4);
    const failures = await compileAllWithNvcc(ks.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});
