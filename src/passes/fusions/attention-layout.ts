/**
 * Attention layout: an `Attention` in the 4-D form whose Q, K, V are head splits of 3-D values and whose
 * output is merged back → the ONNX Attention 3-D form (opset 23: q/k/v [B, S, H*D] with q_num_heads /
 * kv_num_heads, Y [B, Sq, Hq*Dv]). The head-split and head-merge Transposes are data-movement copies on a
 * GPU; the 3-D form reads and writes the same memory through strides instead.
 *
 *   x3 [B,S,H*D] ─Reshape[B,S,H,D]─Transpose(0,2,1,3)─[RotaryEmbedding (4-D)]─► Attention(q|k|v)
 *   Attention ─► Y [B,Hq,Sq,Dv] ─Transpose(0,2,1,3)─► [B,Sq,Hq,Dv] (─Reshape ...)
 *
 * becomes
 *
 *   x3 ─[RotaryEmbedding(num_heads = H) (3-D)]─► Attention(q_num_heads, kv_num_heads) ─► Y3 [B,Sq,Hq*Dv]
 *   Y3 ─Reshape[0,0,Hq,Dv]─► [B,Sq,Hq,Dv]   (or the merge's own Reshape reads Y3 directly)
 *
 * Exact: Reshape(x3, [B,S,H,D]) then Transpose(0,2,1,3) is [B,H,S,D] with element (b,h,s,d) =
 * x3[b, s, h*D + d], which is how the 3-D form reads its input; RotaryEmbedding's 3-D form rotates the
 * same (b, s, h) rows with the same cos/sin row (position_ids[b, s] or b*S + s); the 3-D output
 * Y3[b, s, h*Dv + e] = Y[b, h, s, e] is Transpose(Y, 0,2,1,3) in row-major order, so any Reshape of that
 * Transpose reads Y3 unchanged. present_key / present_value / qk_matmul_output are 4-D in both forms.
 *
 * Conditions (else the graph is left alone, with a near miss once a head split was found): all of Q, K, V
 * are head splits (the spec gives them one rank); the split Reshape keeps the first two dims and splits the
 * last one exactly into a static head count H times D (symbolic shapes allowed; or, where inference loses
 * a dim, the target shape copies dims 0 and 1 from a value provably of the same batch and sequence —
 * attention-lead.ts); the split values (and the
 * rotary outputs) are read only by this Attention; Y is read only by the merge Transpose.
 */
import type { AttrValue, Dim, Graph, Node } from '../../ir/graph.js';
import type { Pass, PassContext, Rewriter } from '../api.js';
import { Tensor } from '../../ir/tensor.js';
import { mulDim } from '../../ir/symbolic.js';
import { constInts, dimEq, dimsOf, intAttrs, prodOf, realUses } from './attention-util.js';
import { concatPieces, sameLead, shapeDimOf } from './attention-lead.js';
import { reshapeDims } from './attention-match.js';

const RULE = 'attention-3d';

interface Side {
  /** the 3-D value the Attention reads */
  x3: string;
  heads: number;
  /** a 4-D RotaryEmbedding between the split and the Attention (moved to the 3-D side) */
  rotary?: Node;
  /** the split Reshape's output [B,S,H,D] (a view) */
  split4: string;
  /** Shape readers of the [B,H,S,D] values, re-pointed to split4 with axes 1 and 2 swapped: [node, start, end] */
  shapes: [Node, number, number][];
}

const samePerm = (a: number[] | undefined, b: number[]) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);

const isShape = (n: Node) => n.op === 'Shape' && n.domain === '';

/**
 * true when `v` is read by `at` alone (in one input slot; Shape readers aside, collected in `shapes`) and
 * is not a graph output
 */
function onlyFeeds(rw: Rewriter, v: string, at: Node, shapes: Node[]): boolean {
  const u = realUses(rw, v);
  const data = u.nodes.filter((n) => !(isShape(n) && n.inputs[0] === v));
  if (u.output || data.length !== 1 || data[0] !== at || at.inputs.filter((x) => x === v).length > 1) return false;
  shapes.push(...u.nodes.filter((n) => isShape(n) && n.inputs[0] === v));
  return true;
}

/**
 * Shape(x4 [B,H,S,D], start, end) as a Shape of the [B,S,H,D] split: the axes [start, end) mapped through
 * the perm (0,2,1,3) must stay one ascending run; [start', end') or undefined.
 */
function remapShape(n: Node): [number, number] | undefined {
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + 4 : x, 0), 4);
  const st = clamp(n.has('start') ? n.int('start') : 0);
  const en = clamp(n.has('end') ? n.int('end') : 4);
  if (en <= st) return [0, 0];
  const axes: number[] = [];
  for (let k = st; k < en; k++) axes.push([0, 2, 1, 3][k]);
  if (!axes.every((a, i) => i === 0 || a === axes[i - 1] + 1)) return undefined;
  return [axes[0], axes[axes.length - 1] + 1];
}

/**
 * The 3-D source of a 4-D Attention input: [RotaryEmbedding(] Transpose(Reshape(x3 [B,S,H*D] → [B,S,H,D]),
 * [0,2,1,3]) [)]. Undefined when the input is not a head split at all; a string says why a split is not usable.
 */
function headSplit3d(rw: Rewriter, v: string, at: Node): Side | string | undefined {
  const d4 = dimsOf(rw, v);
  if (!d4 || d4.length !== 4) return undefined;
  let cur = v;
  let consumer = at;
  const shapeReaders: Node[] = [];
  const rot = prodOf(rw, cur, 'RotaryEmbedding');
  if (rot) {
    const rd = dimsOf(rw, rot.inputs[0]);
    if (!rd || rd.length !== 4) return undefined;
    if (!onlyFeeds(rw, cur, at, shapeReaders)) return 'the rotary output is read elsewhere too';
    consumer = rot;
    cur = rot.inputs[0];
  }
  const tr = prodOf(rw, cur, 'Transpose');
  if (!tr || !samePerm(intAttrs(tr, 'perm'), [0, 2, 1, 3])) return undefined;
  const rs = prodOf(rw, tr.inputs[0], 'Reshape');
  if (!rs) return undefined;
  if (!onlyFeeds(rw, cur, consumer, shapeReaders)) return 'the head-split Transpose is read elsewhere too';
  const shapes: [Node, number, number][] = [];
  for (const n of shapeReaders) {
    const r = remapShape(n);
    if (!r) return 'a Shape of the head-split value reads axes that are not one run of the 3-D split';
    shapes.push([n, r[0], r[1]]);
  }
  const x3 = rs.inputs[0];
  const di = dimsOf(rw, x3);
  const dout = reshapeDims(rw, rs);
  if (!di || di.length !== 3) return 'the head split is not a Reshape of a 3-D value into 4-D (or its shapes are unknown)';
  const inferred = dout && dout.length === 4 && typeof dout[2] === 'number' && dout[2] > 0 &&
    dimEq(dout[0], di[0]) && dimEq(dout[1], di[1]) && dimEq(mulDim(dout[2], dout[3]), di[2]) ? dout[2] : undefined;
  const H = inferred ?? structuralHeads(rw, rs, x3, di);
  if (typeof H === 'string') {
    if (!dout || dout.length !== 4) return `the head split's output shape is unknown and ${H}`;
    if (typeof dout[2] !== 'number' || dout[2] <= 0) return `the split Reshape has no static head count (its output shape is not known) and ${H}`;
    return `the Reshape does not split exactly the last dim into heads x head_size (${H})`;
  }
  return { x3, heads: H, rotary: rot, split4: rs.outputs[0], shapes };
}

/**
 * The head count of Reshape(x3 [B,S,X], Concat(Shape(t)[0], Shape(t)[1], H | -1, D)) when t's dims 0 and 1
 * are provably x3's (attention-lead.ts) and X is static: then the output is [B, S, X/D, D] exactly.
 * Otherwise why not (a string).
 */
function structuralHeads(rw: Rewriter, rs: Node, x3: string, di: Dim[]): number | string {
  const pieces = concatPieces(rw, rs.inputs[1]);
  if (!pieces || pieces.length !== 4) return 'its target shape is not a Concat of 4 dims';
  const a = shapeDimOf(rw, pieces[0]);
  const b = shapeDimOf(rw, pieces[1]);
  if (!a || !b || a[1] !== 0 || b[1] !== 1) return 'its first two target dims are not dims 0 and 1 of a Shape';
  if (!sameLead(rw, x3, a[0]) || !sameLead(rw, x3, b[0])) return 'the Shape it copies dims 0 and 1 from is not provably of the same batch and sequence';
  const h = constInts(rw, pieces[2]);
  const d = constInts(rw, pieces[3]);
  const X = di[2];
  if (!h || !d || h.length !== 1 || d.length !== 1 || d[0] <= 0 || typeof X !== 'number') return 'its head count or head size is not a constant (or the hidden size is not static)';
  const H = h[0] === -1 ? X / d[0] : h[0];
  if (!Number.isInteger(H) || H <= 0 || H * d[0] !== X) return `${X} does not split into heads of ${d[0]}`;
  return H;
}

interface Plan {
  sides: [Side, Side, Side];
  merge: Node;
  /** value head size when static (else the merge Reshape infers it) */
  dv: number | undefined;
}

function matchLayout(rw: Rewriter, at: Node): Plan | string | undefined {
  if (at.inputs.length < 3 || !at.inputs[0] || !at.inputs[1] || !at.inputs[2]) return undefined;
  const found = [0, 1, 2].map((i) => headSplit3d(rw, at.inputs[i], at));
  if (found.every((s) => s === undefined)) return undefined;
  for (const [i, s] of found.entries()) {
    if (typeof s === 'string') return `${'QKV'[i]}: ${s}`;
    if (s === undefined) return `${'QKV'[i]} is not a head split of a 3-D value (the 3-D form needs Q, K and V 3-D)`;
  }
  const [q, k, v] = found as [Side, Side, Side];
  if (k.heads !== v.heads) return `K and V have different head counts (${k.heads}, ${v.heads})`;
  const y = at.outputs[0];
  if (!y || rw.isGraphOutput(y)) return 'the output Y is a graph output';
  const cs = rw.consumers(y);
  const tr = cs.length === 1 ? cs[0] : undefined;
  if (!tr || tr.op !== 'Transpose' || tr.domain !== '' || !samePerm(intAttrs(tr, 'perm'), [0, 2, 1, 3])) return 'the output Y is not merged back by one Transpose(0,2,1,3)';
  const yd = dimsOf(rw, y);
  const vd = dimsOf(rw, at.inputs[2]);
  const dvDim: Dim | undefined = yd?.[3] ?? vd?.[3];
  const dv = typeof dvDim === 'number' && dvDim > 0 ? dvDim : undefined;
  return { sides: [q, k, v], merge: tr, dv };
}

/** a Reshape whose shape has no 0 copying a dim at index >= 2 (so it reads [B,S,H,Dv] and [B,S,H*Dv] alike) */
function reshapeIndifferent(rw: Rewriter, n: Node): boolean {
  if (n.op !== 'Reshape' || n.domain !== '') return false;
  const shp = constInts(rw, n.inputs[1]);
  if (!shp) return false;
  return n.int('allowzero', 0) !== 0 || shp.every((d, i) => i < 2 || d !== 0);
}

function apply(rw: Rewriter, at: Node, p: Plan): void {
  for (const s of p.sides) {
    for (const [n, st, en] of s.shapes) {
      rw.setInput(n, 0, s.split4);
      rw.setAttr(n, 'start', { type: 'int', value: BigInt(st) });
      rw.setAttr(n, 'end', { type: 'int', value: BigInt(en) });
    }
  }
  const xs = p.sides.map((s) => {
    if (!s.rotary) return s.x3;
    const r = s.rotary;
    const attrs = new Map<string, AttrValue>(r.attrs);
    attrs.set('num_heads', { type: 'int', value: BigInt(s.heads) });
    const out = rw.freshName(`${r.outputs[0]}_3d`);
    rw.insertNode({ op: 'RotaryEmbedding', name: rw.freshName(`${r.name || 'RotaryEmbedding'}_3d`), inputs: [s.x3, ...r.inputs.slice(1)], outputs: [out], attrs }, r);
    return out;
  });
  const attrs = new Map<string, AttrValue>(at.attrs);
  attrs.set('q_num_heads', { type: 'int', value: BigInt(p.sides[0].heads) });
  attrs.set('kv_num_heads', { type: 'int', value: BigInt(p.sides[1].heads) });
  const outputs = at.outputs.map((o, i) => (o ? rw.freshName(i === 0 ? 'attention_out_3d' : `${o}_3d`) : ''));
  const inputs = [...xs, ...at.inputs.slice(3)];
  while (inputs.length > 3 && inputs[inputs.length - 1] === '') inputs.pop();
  rw.insertNode({ op: 'Attention', name: rw.freshName(`${at.name || 'Attention'}_3d`), inputs, outputs, attrs }, at);
  for (let i = 1; i < at.outputs.length; i++) if (at.outputs[i]) rw.replaceAllUses(at.outputs[i], outputs[i]);
  // the merge: Reshapes of the Transpose read Y3 directly; other readers get Reshape(Y3, [0,0,Hq,Dv])
  const y3 = outputs[0];
  const m = p.merge.outputs[0];
  const readers = rw.consumers(m);
  if (!rw.isGraphOutput(m) && readers.length > 0 && readers.every((n) => reshapeIndifferent(rw, n) && n.inputs[0] === m)) {
    for (const n of readers) rw.setInput(n, 0, y3);
  } else {
    const shape = rw.addInitializer('attention_merge_shape', new Tensor('int64', [4], BigInt64Array.from([0n, 0n, BigInt(p.sides[0].heads), BigInt(p.dv ?? -1)])));
    const out = rw.freshName(`${m}_3d`);
    rw.insertNode({ op: 'Reshape', inputs: [y3, shape], outputs: [out] }, p.merge);
    rw.replaceAllUses(m, out);
  }
}

export const attentionLayoutFusion: Pass = {
  name: 'fuse-attention-layout',
  kind: 'fusion',
  idempotent: true,
  minLevel: 2,
  requires: ['fuse-attention'],
  run(graph: Graph, rw: Rewriter, ctx: PassContext): void {
    let fired = 0;
    for (const at of [...graph.nodes]) {
      if (at.op !== 'Attention' || at.domain !== '' || !graph.nodes.includes(at)) continue;
      const r = matchLayout(rw, at);
      if (r === undefined) continue;
      if (typeof r === 'string') { ctx.nearMiss(RULE, at, r); continue; }
      rw.rule = RULE;
      apply(rw, at, r);
      ctx.fired?.(RULE, at);
      fired++;
    }
    if (fired) rw.removeDead();
  },
};
