import { describe, expect, it } from 'vitest';
import { Graph, Node, type AttrValue, type Dim, type Model, type ValueType } from '../../src/ir/graph.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { DType } from '../../src/ir/dtype.js';
import { ChimeraError } from '../../src/errors.js';
import { formatShape, inferShapes } from '../../src/infer/index.js';

const tt = (dtype: DType, shape?: Dim[]): ValueType => ({ kind: 'tensor', dtype, shape });
const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const i64 = (v: number[]) => Tensor.from('int64', [v.length], v);

function model(g: Graph): Model {
  return { irVersion: 10n, opsets: new Map([['', 23]]), metadata: [], graph: g, functions: [] };
}

/** Small builder: g.add('MatMul', ['x', 'w'], 'y', {...}) */
function builder(name = 'g') {
  const g = new Graph(name);
  let k = 0;
  return {
    g,
    input(name: string, type: ValueType) { g.inputs.push({ name, type }); return name; },
    init(name: string, t: Tensor) { g.initializers.set(name, t); return name; },
    add(op: string, inputs: string[], outputs: string | string[], attrs: Record<string, AttrValue> = {}) {
      const outs = typeof outputs === 'string' ? [outputs] : outputs;
      g.nodes.push(new Node({ op, inputs, outputs: outs, attrs, name: `${op}_${k++}` }));
      return outs[0];
    },
    output(name: string, type?: ValueType) { g.outputs.push({ name, type }); },
  };
}

const shapeOf = (g: Graph, name: string): string => {
  const t = g.valueInfo.get(name)?.type ?? g.outputs.find((o) => o.name === name)?.type;
  return t?.kind === 'tensor' ? `${t.dtype}${formatShape(t.shape)}` : String(t?.kind);
};

describe('symbolic shape inference on hand-built graphs', () => {
  it('carries batch/seq through MatMul, Add, Reshape, Transpose and Concat with a past', () => {
    const b = builder();
    b.input('x', tt('float32', ['batch', 'seq', 64]));
    b.input('past', tt('float32', ['batch', 'past_seq', 64]));
    b.init('w', Tensor.zeros('float32', [64, 64]));
    b.init('bias', Tensor.zeros('float32', [64]));
    b.add('MatMul', ['x', 'w'], 'mm');
    b.add('Add', ['mm', 'bias'], 'y');
    b.add('Concat', ['past', 'y'], 'kv', { axis: int(1) });
    // Reshape to heads with a shape computed from Shape(kv): [batch, total, 4, 16]
    b.add('Shape', ['kv'], 'kv_shape');
    b.init('idx01', i64([0, 1]));
    b.add('Gather', ['kv_shape', 'idx01'], 'bt', { axis: int(0) });
    b.init('heads', i64([4, 16]));
    b.add('Concat', ['bt', 'heads'], 'new_shape', { axis: int(0) });
    b.add('Reshape', ['kv', 'new_shape'], 'split_heads');
    b.add('Transpose', ['split_heads'], 'bhsd', { perm: ints([0, 2, 1, 3]) });
    // back to [batch, total, 64] with 0 and -1
    b.add('Transpose', ['bhsd'], 'bshd', { perm: ints([0, 2, 1, 3]) });
    b.init('flat', i64([0, -1, 64]));
    b.add('Reshape', ['bshd', 'flat'], 'merged');
    b.output('merged');
    b.output('bhsd');
    const m = model(b.g);
    const r = inferShapes(m);
    expect(r.unknownOps).toEqual([]);
    expect(shapeOf(b.g, 'mm')).toBe('float32[batch, seq, 64]');
    expect(shapeOf(b.g, 'y')).toBe('float32[batch, seq, 64]');
    expect(shapeOf(b.g, 'kv')).toBe('float32[batch, past_seq+seq, 64]');
    expect(shapeOf(b.g, 'kv_shape')).toBe('int64[3]');
    expect(shapeOf(b.g, 'split_heads')).toBe('float32[batch, past_seq+seq, 4, 16]');
    expect(shapeOf(b.g, 'bhsd')).toBe('float32[batch, 4, past_seq+seq, 16]');
    expect(shapeOf(b.g, 'merged')).toBe('float32[batch, past_seq+seq, 64]');
    const out = b.g.outputs[0].type;
    expect(out?.kind === 'tensor' && out.shape).toEqual(['batch', 'past_seq+seq', 64]);
  });

  it('Reshape with 0 copies an unknown (null) input dim instead of failing', () => {
    const b = builder();
    b.input('x', tt('float32', ['batch', null, 64]));
    b.init('shape', i64([0, 0, 4, 16]));
    b.add('Reshape', ['x', 'shape'], 'y');
    b.output('y');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'y')).toBe('float32[batch, ?, 4, 16]');
  });
  it('keeps symbols through Reshape(x, Shape(y)) and Shape arithmetic', () => {
    const b = builder();
    b.input('x', tt('float32', ['batch', 'seq', 8]));
    b.input('y', tt('float32', ['seq', 'batch', 8]));
    b.add('Shape', ['y'], 's');
    b.add('Reshape', ['x', 's'], 'r');
    // [batch*seq, 8] via Shape → Slice → ReduceProd-free arithmetic: Mul of two gathered dims
    b.add('Shape', ['x'], 'sx');
    b.init('i0', i64([0]));
    b.init('i1', i64([1]));
    b.init('i2', i64([2]));
    b.init('i3', i64([3]));
    b.add('Slice', ['sx', 'i0', 'i1'], 'd0');
    b.add('Slice', ['sx', 'i1', 'i2'], 'd1');
    b.add('Mul', ['d0', 'd1'], 'bs');
    b.add('Slice', ['sx', 'i2', 'i3'], 'd2');
    b.add('Concat', ['bs', 'd2'], 'flat_shape', { axis: int(0) });
    b.add('Reshape', ['x', 'flat_shape'], 'flat');
    b.add('Unsqueeze', ['flat', 'i0'], 'u');
    b.add('Squeeze', ['u', 'i0'], 'sq');
    b.output('r');
    b.output('sq');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'r')).toBe('float32[seq, batch, 8]');
    expect(shapeOf(b.g, 'flat')).toBe('float32[batch*seq, 8]');
    expect(shapeOf(b.g, 'u')).toBe('float32[1, batch*seq, 8]');
    expect(shapeOf(b.g, 'sq')).toBe('float32[batch*seq, 8]');
  });

  it('gives data-dependent dims fresh symbols', () => {
    const b = builder();
    b.input('x', tt('float32', ['n', 3]));
    b.add('NonZero', ['x'], 'nz');
    b.add('NonZero', ['x'], 'nz2');
    b.add('Transpose', ['nz'], 'nzt');
    b.output('nzt');
    b.output('nz2');
    inferShapes(model(b.g));
    const t = b.g.valueInfo.get('nz')!.type!;
    expect(t.kind === 'tensor' && t.dtype).toBe('int64');
    const shape = (t as { shape: Dim[] }).shape;
    expect(shape[0]).toBe(2);
    expect(typeof shape[1]).toBe('string');
    const t2 = b.g.outputs[1].type as { shape: Dim[] };
    expect(t2.shape[1]).not.toBe(shape[1]); // two NonZero nodes: two different symbols
    expect(shapeOf(b.g, 'nzt')).toBe(`int64[${shape[1]}, 2]`);
  });

  it('computes conv/pool output sizes with symbolic spatial dims', () => {
    const b = builder();
    b.input('x', tt('float32', ['N', 3, 'H', 32]));
    b.init('w', Tensor.zeros('float32', [8, 3, 3, 3]));
    b.add('Conv', ['x', 'w'], 'c', { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) });
    b.add('MaxPool', ['c'], 'p', { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
    b.add('Conv', ['x', 'w'], 'c2', { kernel_shape: ints([3, 3]) });
    b.output('p');
    b.output('c2');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'c')).toBe('float32[N, 8, floor((H+1)/2), 16]');
    expect(shapeOf(b.g, 'p')).toBe('float32[N, 8, floor(floor((H+1)/2)/2), 8]');
    expect(shapeOf(b.g, 'c2')).toBe('float32[N, 8, H-2, 30]');
  });

  it('sums past and new sequence in Attention present_key', () => {
    const b = builder();
    b.input('q', tt('float16', ['B', 8, 'S', 64]));
    b.input('k', tt('float16', ['B', 2, 'S', 64]));
    b.input('v', tt('float16', ['B', 2, 'S', 32]));
    b.input('pk', tt('float16', ['B', 2, 'P', 64]));
    b.input('pv', tt('float16', ['B', 2, 'P', 32]));
    b.add('Attention', ['q', 'k', 'v', '', 'pk', 'pv'], ['y', 'present_k', 'present_v']);
    b.output('y');
    b.output('present_k');
    b.output('present_v');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'y')).toBe('float16[B, 8, S, 32]');
    expect(shapeOf(b.g, 'present_k')).toBe('float16[B, 2, P+S, 64]');
    expect(shapeOf(b.g, 'present_v')).toBe('float16[B, 2, P+S, 32]');
  });

  it('broadcasts symbolic dims and fails on static mismatches with E_SHAPE naming the node', () => {
    const b = builder();
    b.input('a', tt('float32', ['batch', 1, 5]));
    b.input('c', tt('float32', [7, 1]));
    b.add('Add', ['a', 'c'], 'sum');
    b.output('sum');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'sum')).toBe('float32[batch, 7, 5]');

    const bad = builder();
    bad.input('a', tt('float32', [2, 3]));
    bad.input('c', tt('float32', [4, 3]));
    bad.add('Mul', ['a', 'c'], 'prod');
    bad.output('prod');
    let err: unknown;
    try { inferShapes(model(bad.g)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ChimeraError);
    expect((err as ChimeraError).code).toBe('E_SHAPE');
    expect((err as ChimeraError).location.node).toBe('Mul_0');
    const rep = inferShapes(model(bad.g), { onError: 'report' });
    expect(rep.errors.length).toBe(1);
  });

  it('checks declared output types and fills missing ones', () => {
    const b = builder();
    b.input('x', tt('float32', [2, 3]));
    b.add('Transpose', ['x'], 't');
    b.output('t', tt('float32', [2, 3])); // wrong: transpose gives [3, 2]
    expect(() => inferShapes(model(b.g))).toThrow(/conflicts/);

    const ok = builder();
    ok.input('x', tt('float32', [2, 'n']));
    ok.add('Transpose', ['x'], 't');
    ok.output('t', tt('float32', [null, 'n_out']));
    inferShapes(model(ok.g));
    // declared unknown dim filled in; the declared name of an inferred symbolic dim is replaced by the relation
    expect(ok.g.outputs[0].type).toEqual(tt('float32', ['n', 2]));
  });

  it('reports ops without shape functions and leaves their outputs untyped', () => {
    const b = builder();
    b.input('x', tt('float32', [2]));
    b.g.nodes.push(new Node({ op: 'MysteryOp', domain: 'com.example', inputs: ['x'], outputs: ['y'], name: 'm' }));
    b.add('Relu', ['y'], 'z');
    b.output('z');
    const r = inferShapes(model(b.g));
    expect(r.unknownOps).toEqual([{ op: 'com.example::MysteryOp', node: 'm' }]);
    expect(r.untyped).toContain('y');
    expect(b.g.outputs[0].type).toBeUndefined();
  });

  it('recurses into If branches and Loop bodies', () => {
    const thenB = builder('then');
    thenB.add('Identity', ['x'], 'a');
    thenB.output('a');
    const elseB = builder('else');
    elseB.add('Neg', ['x'], 'b');
    elseB.output('b');
    const body = builder('body');
    body.input('i', tt('int64', []));
    body.input('cond', tt('bool', []));
    body.input('acc', undefined as unknown as ValueType);
    body.add('Identity', ['cond'], 'cond_out');
    body.add('Add', ['acc', 'x'], 'acc_out');
    body.add('Identity', ['acc_out'], 'scan_out');
    body.output('cond_out');
    body.output('acc_out');
    body.output('scan_out');
    const b = builder();
    b.input('x', tt('float32', ['n', 4]));
    b.input('c', tt('bool', []));
    b.init('trip', Tensor.scalar('int64', 5));
    b.init('true', Tensor.scalar('bool', true));
    b.add('If', ['c'], 'sel', { then_branch: { type: 'graph', value: thenB.g }, else_branch: { type: 'graph', value: elseB.g } });
    b.add('Loop', ['trip', 'true', 'sel'], ['final', 'scanned'], { body: { type: 'graph', value: body.g } });
    b.output('final');
    b.output('scanned');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'sel')).toBe('float32[n, 4]');
    expect(shapeOf(thenB.g, 'a')).toBe('float32[n, 4]');
    expect(shapeOf(body.g, 'acc_out')).toBe('float32[n, 4]');
    expect(shapeOf(b.g, 'final')).toBe('float32[n, 4]');
    expect(shapeOf(b.g, 'scanned')).toBe('float32[5, n, 4]');
  });

  it('names unknown input dims when asked', () => {
    const b = builder();
    b.input('x', tt('float32', [null, 3]));
    b.input('y', tt('float32', [null, 3]));
    b.add('Concat', ['x', 'y'], 'z', { axis: int(0) });
    b.output('z');
    inferShapes(model(b.g));
    expect(shapeOf(b.g, 'z')).toBe('float32[?, 3]');
    const b2 = builder();
    b2.input('x', tt('float32', [null, 3]));
    b2.input('y', tt('float32', [null, 3]));
    b2.add('Concat', ['x', 'y'], 'z', { axis: int(0) });
    b2.output('z');
    inferShapes(model(b2.g), { unknownDims: 'fresh' });
    expect(shapeOf(b2.g, 'z')).toBe('float32[unk_1+unk_2, 3]');
  });
});
