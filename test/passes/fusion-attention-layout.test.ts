// The attention layout pass (src/passes/fusions/attention-layout.ts): 4-D Attention fed by head splits
// (Reshape [B,S,H,D] + Transpose(0,2,1,3), optionally a 4-D RotaryEmbedding) and merged back by a
// Transpose → the 3-D form (q_num_heads / kv_num_heads, RotaryEmbedding num_heads). checkRewrite runs the
// model before and after on the reference interpreter with random inputs (symbolic batch / seq / past).
import { describe, expect, it } from 'vitest';
import { GraphBuilder, type Value } from '../../src/builder/graph-builder.js';
import type { Model } from '../../src/ir/graph.js';
import { attentionLayoutFusion } from '../../src/passes/fusions/attention-layout.js';
import { checkRewrite } from './oracle.js';

const HQ = 4, HKV = 2, D = 8;

interface Opts {
  /** a 4-D RotaryEmbedding on Q and K between the split and the Attention */
  rotary?: boolean;
  /** the merge Transpose is read by an Add instead of a Reshape */
  mergeToAdd?: boolean;
  /** the Q head-split Transpose is also a graph output */
  leakQ?: boolean;
  /** Q's head split reshapes a 2-D [B*S, H*D] value (not a split of the last dim of a 3-D value) */
  badSplit?: boolean;
  /** a Shape of the rotary input (as the rotary fusion builds the caches' shape) */
  shapeReader?: boolean;
}

function model(o: Opts = {}): Model {
  const b = new GraphBuilder('attn_layout', { opset: 23 });
  const x = b.input('x', 'float32', ['batch', 'seq', 16]);
  const lin = (n: number, name: string) => b.op('MatMul', [x, b.input(name, 'float32', [16, n])]);
  const split = (x3: Value, h: number) => b.op('Transpose', [b.op('Reshape', [x3, b.ints([0, 0, h, D])])], { perm: [0, 2, 1, 3] });
  let q: Value;
  if (o.badSplit) {
    const q2 = b.op('Reshape', [lin(HQ * D, 'wq'), b.ints([-1, HQ * D])]);
    const shape = b.op('Concat', [b.op('Shape', [x], { end: 2 }), b.ints([HQ, D])], { axis: 0 });
    q = b.op('Transpose', [b.op('Reshape', [q2, shape])], { perm: [0, 2, 1, 3] });
  } else q = split(lin(HQ * D, 'wq'), HQ);
  let k = split(lin(HKV * D, 'wk'), HKV);
  const v = split(lin(HKV * D, 'wv'), HKV);
  if (o.leakQ) b.output(q, 'q4');
  if (o.rotary) {
    const cos = b.input('cos', 'float32', ['batch', 'seq', D / 2]);
    const sin = b.input('sin', 'float32', ['batch', 'seq', D / 2]);
    if (o.shapeReader) b.output(b.op('Shape', [q], { start: 2, end: 3 }), 'q_seq');
    q = b.op('RotaryEmbedding', [q, cos, sin]);
    k = b.op('RotaryEmbedding', [k, cos, sin], { interleaved: 1 });
  }
  const [y, pk, pv] = b.opMulti('Attention', [q, k, v, b.input('mask', 'float32', ['batch', 1, 'seq', 'total']), b.input('past_k', 'float32', ['batch', HKV, 'past', D]), b.input('past_v', 'float32', ['batch', HKV, 'past', D])], 3, { is_causal: 1, scale: 0.3 });
  b.output(pk, 'present_k');
  b.output(pv, 'present_v');
  const merged = b.op('Transpose', [y], { perm: [0, 2, 1, 3] });
  if (o.mergeToAdd) b.output(b.op('Add', [merged, b.scalar(1)]), 'y');
  else b.output(b.op('Reshape', [merged, b.ints([0, 0, -1])]), 'y');
  return b.build();
}

const dims = { batch: 2, seq: 3, past: 2, total: 5 };

function attentionOf(m: Model) {
  return m.graph.nodes.find((n) => n.op === 'Attention')!;
}

describe('attention layout: 4-D Attention between head splits → 3-D form', () => {
  it('GQA with a KV cache: 3-D Q/K/V, heads as attributes, no Transpose left, same outputs', () => {
    const r = checkRewrite(model(), [attentionLayoutFusion], { seed: 1, dims });
    expect(r.after.ops.Transpose).toBeUndefined();
    const at = attentionOf(r.after.model);
    expect(at.int('q_num_heads')).toBe(HQ);
    expect(at.int('kv_num_heads')).toBe(HKV);
    expect(at.int('is_causal')).toBe(1);
    expect(r.report.passes.find((p) => p.pass === 'fuse-attention-layout')?.fired).toEqual({ 'attention-3d': 1 });
  });

  it('4-D RotaryEmbedding moves to the 3-D side with num_heads (and a Shape reader is re-pointed)', () => {
    const r = checkRewrite(model({ rotary: true, shapeReader: true }), [attentionLayoutFusion], { seed: 2, dims });
    expect(r.after.ops.Transpose).toBeUndefined();
    const rots = r.after.model.graph.nodes.filter((n) => n.op === 'RotaryEmbedding');
    expect(rots.map((n) => n.int('num_heads'))).toEqual([HQ, HKV]);
    expect(rots.map((n) => n.int('interleaved', 0))).toEqual([0, 1]);
  });

  it('a merge Transpose read by something other than a Reshape becomes a Reshape of the 3-D output', () => {
    const r = checkRewrite(model({ mergeToAdd: true }), [attentionLayoutFusion], { seed: 3, dims });
    expect(r.after.ops.Transpose).toBeUndefined();
    expect(attentionOf(r.after.model).int('q_num_heads')).toBe(HQ);
  });

  it('a head split read elsewhere: left alone, near miss', () => {
    const r = checkRewrite(model({ leakQ: true }), [attentionLayoutFusion], { seed: 4, dims });
    expect(attentionOf(r.after.model).has('q_num_heads')).toBe(false);
    expect(r.report.nearMisses.map((m) => m.reason).join('\n')).toMatch(/Q: the head-split Transpose is read elsewhere/);
  });

  it('a Reshape that does not split exactly the last dim: left alone, near miss', () => {
    const r = checkRewrite(model({ badSplit: true }), [attentionLayoutFusion], { seed: 5, dims });
    expect(attentionOf(r.after.model).has('q_num_heads')).toBe(false);
    expect(r.report.nearMisses.map((m) => m.reason).join('\n')).toMatch(/Q: the head split is not a Reshape of a 3-D value/);
  });
});

// TorchScript-style head splits: the target shape is Concat(Shape(t)[0], Shape(t)[1], -1, D) and the
// sequence dim is lost by inference (a position table sliced to the sequence length and added)
function tsModel(shapeSource: 'same' | 'before-broadcast'): Model {
  const b = new GraphBuilder('attn_layout_ts', { opset: 23 });
  const x = b.input('x', 'float32', ['batch', 'seq', 16]);
  const table = b.input('pos', 'float32', [1, 8, 16]);
  const seqLen = b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [x]), b.scalar(1, 'int64')]), b.ints([0])]);
  const pos = b.op('Slice', [table, b.ints([0]), seqLen, b.ints([1])]);
  const t = b.op('Add', [x, pos]);
  const src = shapeSource === 'same' ? t : x;
  const dim = (k: number) => b.op('Unsqueeze', [b.op('Gather', [b.op('Shape', [src]), b.scalar(k, 'int64')]), b.ints([0])]);
  const split = (w: string, h: number) => {
    const x3 = b.op('MatMul', [t, b.input(w, 'float32', [16, h * D])]);
    const shape = b.op('Concat', [dim(0), dim(1), b.ints([-1]), b.ints([D])], { axis: 0 });
    return b.op('Transpose', [b.op('Reshape', [x3, shape])], { perm: [0, 2, 1, 3] });
  };
  const y = b.op('Attention', [split('wq', HQ), split('wk', HKV), split('wv', HKV)]);
  const merged = b.op('Transpose', [y], { perm: [0, 2, 1, 3] });
  b.output(b.op('Reshape', [merged, b.op('Concat', [dim(0), dim(1), b.ints([-1])], { axis: 0 })]), 'y');
  return b.build();
}

describe('attention layout: head splits proven structurally', () => {
  it('the target shape copies dims 0 and 1 of the value the projections read: 3-D form, same outputs', () => {
    const r = checkRewrite(tsModel('same'), [attentionLayoutFusion], { seed: 6, dims: { batch: 2, seq: 5 } });
    expect(r.after.ops.Transpose).toBeUndefined();
    expect(attentionOf(r.after.model).int('q_num_heads')).toBe(HQ);
    expect(attentionOf(r.after.model).int('kv_num_heads')).toBe(HKV);
  });
  it('copied from a value a broadcast Add may change: left alone, near miss', () => {
    const r = checkRewrite(tsModel('before-broadcast'), [attentionLayoutFusion], { seed: 7, dims: { batch: 2, seq: 5 } });
    expect(attentionOf(r.after.model).has('q_num_heads')).toBe(false);
    expect(r.report.nearMisses.map((m) => m.reason).join('\n')).toMatch(/not provably of the same batch and sequence/);
  });
});
