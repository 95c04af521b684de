/**
 * Structural proofs that a head-split Reshape keeps its input's first two dims when shape inference cannot
 * say so (TorchScript exports build the shape as Concat(Shape(t)[0], Shape(t)[1], H | -1, D) from some other
 * tensor t, and the sequence dim is often unknown symbolically).
 *
 * `sameLead(x, t)` holds when x's dims 0 and 1 equal t's in every run that does not fail: x is t, or x comes
 * from a value that has them through ops that keep dims 0 and 1 —
 *   MatMul with a 2-D right operand; LayerNormalization / Softmax over the last axis; elementwise unary ops;
 *   binary elementwise ops whose other operand is of rank ≤ 1 or has literal 1s in dims 0 and 1 (so it
 *   cannot broadcast them), or itself has them; Reshape of a value that has them whose target dims 0 and 1
 *   are t's own (Gather(Shape(u), 0|1) with sameLead(u, t)) or copied (0, allowzero 0); an Attention 3-D
 *   output (dims of Q).
 * Anything else is not proven (the caller leaves the graph alone).
 */
import type { Node } from '../../ir/graph.js';
import type { Rewriter } from '../api.js';
import { constInts, dimsOf, prodOf, scalarOf, src } from './attention-util.js';

const UNARY = new Set(['Relu', 'Gelu', 'Tanh', 'Erf', 'Sigmoid', 'Cast', 'Identity', 'Neg', 'Sqrt', 'Exp', 'Dropout', 'Abs', 'Softplus', 'HardSigmoid', 'LeakyRelu', 'Elu', 'Selu', 'Mish']);
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min']);

/** `piece` is Unsqueeze(Gather(Shape(u), k)) (axes [0]) or Slice-free Shape(u)[k]: returns [u, k] */
export function shapeDimOf(rw: Rewriter, piece: string): [string, number] | undefined {
  const un = prodOf(rw, piece, 'Unsqueeze');
  const g = prodOf(rw, un ? un.inputs[0] : piece, 'Gather');
  if (!g || (g.has('axis') && g.int('axis') !== 0)) return undefined;
  if (un) {
    const axes = un.inputs[1] ? constInts(rw, un.inputs[1]) : un.has('axes') ? un.ints('axes') : undefined;
    if (!axes || axes.length !== 1 || axes[0] !== 0) return undefined;
  }
  const sh = prodOf(rw, g.inputs[0], 'Shape');
  if (!sh || (sh.has('start') && sh.int('start') !== 0)) return undefined;
  const k = scalarOf(rw, g.inputs[1]);
  if (k === undefined || !Number.isInteger(k) || k < 0) return undefined;
  return [src(rw, sh.inputs[0]), k];
}

/** the 4 one-element pieces of a Reshape's target shape built by Concat (axis 0), or undefined */
export function concatPieces(rw: Rewriter, shape: string): string[] | undefined {
  const c = prodOf(rw, shape, 'Concat');
  if (!c || c.int('axis', 0) !== 0) return undefined;
  for (const p of c.inputs) {
    const d = dimsOf(rw, p);
    if (!d || d.length !== 1 || d[0] !== 1) return undefined;
  }
  return [...c.inputs];
}

/** whether value `x`'s dims 0 and 1 provably equal `t`'s (see the file comment) */
export function sameLead(rw: Rewriter, x: string, t: string, memo = new Map<string, boolean>(), depth = 0): boolean {
  x = src(rw, x);
  if (x === t) return true;
  const m = memo.get(x);
  if (m !== undefined) return m;
  if (depth > 2000) return false;
  memo.set(x, false); // cycles and repeated failures
  const p = rw.producer(x);
  const ok = !!p && p.domain === '' && leadThrough(rw, p, x, t, memo, depth + 1);
  memo.set(x, ok);
  return ok;
}

function leadThrough(rw: Rewriter, p: Node, x: string, t: string, memo: Map<string, boolean>, depth: number): boolean {
  const rank = dimsOf(rw, x)?.length;
  if (rank === undefined || rank < 2) return false;
  const same = (v: string) => sameLead(rw, v, t, memo, depth);
  switch (p.op) {
    case 'MatMul': {
      const b = dimsOf(rw, p.inputs[1]);
      return !!b && b.length === 2 && dimsOf(rw, p.inputs[0])?.length === rank && same(p.inputs[0]);
    }
    case 'LayerNormalization':
    case 'RMSNormalization':
    case 'Softmax':
      return dimsOf(rw, p.inputs[0])?.length === rank && p.outputs[0] === x && same(p.inputs[0]);
    case 'Reshape': {
      // a 0 in the target copies the input's dim (allowzero 0), so the data input must have them too
      if (!same(p.inputs[0])) return false;
      const fixed = constInts(rw, p.inputs[1]);
      if (fixed) return fixed.length === rank && p.int('allowzero', 0) === 0 && fixed[0] === 0 && fixed[1] === 0;
      const pieces = concatPieces(rw, p.inputs[1]);
      if (!pieces || pieces.length !== rank) return false;
      const a = shapeDimOf(rw, pieces[0]);
      const b = shapeDimOf(rw, pieces[1]);
      return !!a && !!b && a[1] === 0 && b[1] === 1 && same(a[0]) && same(b[0]);
    }
    case 'Attention': {
      if (p.outputs[0] !== x || rank !== 3 || dimsOf(rw, p.inputs[0])?.length !== 3) return false;
      return same(p.inputs[0]);
    }
    default:
      break;
  }
  if (UNARY.has(p.op)) return p.outputs[0] === x && dimsOf(rw, p.inputs[0])?.length === rank && same(p.inputs[0]);
  if (BINARY.has(p.op) && p.inputs.length === 2) {
    let anchored = false;
    for (const v of p.inputs) {
      const d = dimsOf(rw, v);
      if (!d) return false;
      if (d.length === rank && same(v)) {
        anchored = true;
        continue;
      }
      // cannot change dims 0 and 1 by broadcasting: lower rank with dims 0,1 absent, or literal 1s there
      const lead = d.length - rank; // index offset of operand dim for output dim k: k + lead
      const fits = [0, 1].every((k) => k + lead < 0 || d[k + lead] === 1);
      if (!fits) return false;
    }
    return anchored;
  }
  return false;
}
