/**
 * Fusion matching for the engine's partition (partition.ts): where a GEMM takes its elementwise tail as an
 * epilogue, and where a residual Add runs inside the normalization that reads it. Decided once per engine
 * from the symbolic types; what the symbolic types cannot settle (a dim that is unknown) is checked again
 * with the concrete shapes by the lowering (matmul.ts / norm.ts), and the planner runs the members one by
 * one when that check fails.
 *
 * 1. GEMM epilogue: MatMul | Gemm, followed by any prefix of
 *      Add(bias)   one value per output column ([N], [1,..,1,N]); MatMul, or a Gemm without C
 *      act         Relu | Gelu (approximate none | tanh); decomposed GELUs are canonicalized to Gelu by
 *                  the optimizer (passes/fusions/gelu.ts) before this runs
 *      Add(res)    an operand of the product's shape (no broadcasting)
 *    with Reshapes that keep the last (column) axis anywhere between them (the [B*S, N] → [B, S, N] views
 *    of exported linear layers; the data order is the same, so the epilogue indexes it as [M, N]).
 *    → one unit: y = act(A·B (+ bias)) (+ res), one GEMM launch (main + reduce for split-K) whose epilogue does
 *    the rest (gemm-tc.ts on tensor cores; matmul.ts's SIMT kernels take the same epilogue).
 *    Conv (fp16/bf16, group 1) likewise takes Relu, Add(residual) or Add(residual) then Relu into its
 *    implicit-GEMM epilogue (conv-igemm.ts).
 * 2. Add + normalization: s = Add(x, r); y = LayerNormalization | RMSNormalization(s) → one norm launch
 *    that computes s on the fly and writes y and, when s is read later (the residual stream), s too.
 *
 * Every fused value in between has no other reader, is no graph output and no host value. A candidate that
 * does not qualify gets a note with the reason (`FusionNote`), so "why was this not fused" has an answer.
 */
import type { Dim, Graph, Node } from '../ir/graph.js';
import type { DType } from '../ir/dtype.js';
import { dimEquals } from '../ir/symbolic.js';
import { nodeReads } from '../ref/interpreter.js';
import type { GemmAct } from '../codegen/ops/gemm-tc.js';

/** A GEMM and the epilogue nodes it absorbs (in graph order, anchor first). */
export interface GemmEpilogueFusion {
  anchor: Node;
  nodes: Node[];
  act: GemmAct;
  /** the bias operand (one value per output column) and its Add */
  bias?: { node: Node; value: string };
  /** the activation node */
  actNode?: Node;
  /** the residual operand (the product's shape) and its Add */
  residual?: { node: Node; value: string };
  /** the unit's inputs: the anchor's inputs (Gemm: A, B, C or '' when absent), then bias, residual */
  inputs: string[];
  /** index into `inputs` of the bias / residual */
  biasIndex?: number;
  residualIndex?: number;
  /** the unit's output (the last member's) */
  output: string;
  /** Conv anchors: the activation comes after the residual Add (relu(conv + bias + residual)) */
  actAfterResidual?: boolean;
}

/** A residual Add and the normalization reading it. */
export interface NormAddFusion {
  add: Node;
  norm: Node;
  nodes: [Node, Node];
  /** the norm's inputs, X (the sum; not read) and scale, bias ('' when absent), then the Add's two operands */
  inputs: string[];
  /** the sum is also written out (read later, or a graph output) */
  sum?: string;
  /** the norm's outputs (Y, Mean, InvStdDev; '' when absent), then the sum when written */
  outputs: string[];
}

export interface FusionNote {
  /** the node the fusion would have started from (the GEMM, or the normalization) */
  node: Node;
  kind: 'gemm-epilogue' | 'norm-add';
  /** why the fusion stopped here (or did not apply) */
  reason: string;
}

export interface FusionPlan {
  gemm: GemmEpilogueFusion[];
  norm: NormAddFusion[];
  notes: FusionNote[];
}

const FLOATS: ReadonlySet<DType> = new Set<DType>(['float16', 'bfloat16', 'float32', 'float64']);

interface Ctx {
  g: Graph;
  index: Map<Node, number>;
  consumers: Map<string, Node[]>;
  graphOutputs: Set<string>;
  hostValues: ReadonlySet<string>;
  claimed: Set<Node>;
}

function tensorType(g: Graph, v: string): { dtype: DType; shape?: readonly Dim[] } | undefined {
  const t = g.typeOf(v);
  return t?.kind === 'tensor' ? { dtype: t.dtype, shape: t.shape } : undefined;
}

/** why value `v` (produced by a fused member) cannot stay inside the unit, or undefined when it can */
function internalReject(c: Ctx, v: string): string | undefined {
  if (c.graphOutputs.has(v)) return `'${v}' is a graph output`;
  if (c.hostValues.has(v)) return `'${v}' is needed on the host`;
  const readers = c.consumers.get(v) ?? [];
  if (readers.length !== 1) return readers.length === 0 ? `'${v}' has no reader` : `'${v}' has ${readers.length} readers`;
  return undefined;
}

const isAdd = (n: Node): boolean => n.op === 'Add' && n.domain === '' && n.inputs.length === 2 && n.outputs.length === 1;

function actOf(n: Node): GemmAct | string {
  if (n.domain !== '') return `${n.op} (domain ${n.domain}) is not a fusable activation`;
  if (n.op === 'Relu') return 'relu';
  if (n.op === 'Gelu') {
    const a = n.string('approximate', 'none');
    return a === 'tanh' ? 'gelu_tanh' : a === 'none' ? 'gelu_erf' : `Gelu approximate '${a}'`;
  }
  return `${n.op} is not a fusable activation (Relu, Gelu)`;
}

const isLiteralOne = (d: Dim): boolean => d === 1;

/** the operand is one value per column of `out` (whose last dim is N), without changing out's shape */
function biasLike(shape: readonly Dim[] | undefined, out: readonly Dim[]): boolean {
  if (!shape || shape.length === 0 || shape.length > out.length) return false;
  const last = shape[shape.length - 1];
  const n = out[out.length - 1];
  return shape.slice(0, -1).every(isLiteralOne) && (dimEquals(last, n) || (typeof last === 'number' && last === n));
}

/**
 * Whether the operand may have the output's shape: same rank and no dim that is provably different or a
 * broadcast (unknown dims are checked with the concrete shapes when planning). A reason when it may not.
 */
function residualReject(shape: readonly Dim[] | undefined, out: readonly Dim[]): string | undefined {
  if (!shape) return 'the operand has an unknown shape';
  if (shape.length !== out.length) return `the operand has rank ${shape.length}, the product ${out.length} (broadcast)`;
  for (let i = 0; i < shape.length; i++) {
    const a = shape[i], b = out[i];
    if (a === null || b === null || dimEquals(a, b)) continue;
    if (typeof a === 'number' && typeof b === 'number') return `dim ${i} differs (${a} vs ${b})`;
    if (a === 1 || b === 1) return `dim ${i} broadcasts (${a} vs ${b})`;
    // two different symbols: may still be equal at run time; checked when planning
  }
  return undefined;
}

/**
 * The single reader of `cur` when it may join the chain ending at `last` (not fused elsewhere, after it in
 * graph order, of the product's dtype, not needed on the host), or why the chain stops.
 */
function nextMember(c: Ctx, cur: string, last: Node, dtype: DType): { next: Node; nt: { dtype: DType; shape?: readonly Dim[] } } | string {
  const why = internalReject(c, cur);
  if (why) return why;
  const next = c.consumers.get(cur)![0];
  if (c.claimed.has(next)) return `${next.label} is already fused`;
  if ((c.index.get(next) ?? -1) < (c.index.get(last) ?? 0)) return `${next.label} comes before its operand`;
  const nt = tensorType(c.g, next.outputs[0] ?? '');
  if (!nt || nt.dtype !== dtype) return `${next.label}'s output type differs`;
  if (c.hostValues.has(next.outputs[0])) return `'${next.outputs[0]}' is needed on the host`;
  return { next, nt };
}

/** the epilogue chain from `anchor`, or a reason when nothing follows it that can be fused */
function matchGemm(c: Ctx, anchor: Node): GemmEpilogueFusion | string {
  const out = anchor.outputs[0];
  const ot = out ? tensorType(c.g, out) : undefined;
  if (!ot || !ot.shape) return 'the product has no known type';
  if (!FLOATS.has(ot.dtype)) return `dtype ${ot.dtype} (the epilogue runs in floating point)`;
  if (ot.shape.length < 1) return 'the product is a scalar';
  if (anchor.op === 'MatMul') {
    const bt = tensorType(c.g, anchor.inputs[1]);
    if (!bt?.shape || bt.shape.length < 2) return "MatMul's B is not a matrix (the product has no column axis)";
  }
  const gemmC = anchor.op === 'Gemm' && !!anchor.inputs[2];
  if (gemmC) {
    const ct = tensorType(c.g, anchor.inputs[2]);
    if (anchor.float('beta', 1) !== 1) return "Gemm's beta is not 1";
    if (!biasLike(ct?.shape, ot.shape)) return "Gemm's C is not a per-column bias";
  }
  const f: GemmEpilogueFusion = { anchor, nodes: [anchor], act: 'none', inputs: [...anchor.inputs], output: out };
  if (anchor.op === 'Gemm') while (f.inputs.length < 3) f.inputs.push('');
  let cur = out;
  let curShape: readonly Dim[] = ot.shape;
  const N = ot.shape[ot.shape.length - 1];
  let stop = '';
  for (;;) {
    const m = nextMember(c, cur, f.nodes[f.nodes.length - 1], ot.dtype);
    if (typeof m === 'string') { stop = m; break; }
    const { next, nt } = m;
    if (next.op === 'Reshape' && next.domain === '') {
      const rs = nt.shape;
      const last = rs?.[rs.length - 1];
      if (!rs || rs.length === 0 || last === undefined || !(dimEquals(last, N) || (typeof last === 'number' && last === N))) {
        stop = `${next.label} changes the column axis`;
        break;
      }
      f.nodes.push(next);
      cur = next.outputs[0];
      curShape = rs;
      continue;
    }
    if (isAdd(next)) {
      const k = next.inputs[0] === cur ? 1 : 0;
      const other = next.inputs[k];
      if (!other || other === cur) { stop = `${next.label} adds the product to itself`; break; }
      const os = tensorType(c.g, other)?.shape;
      if (!nt.shape || nt.shape.length !== curShape.length) { stop = `${next.label} changes the rank`; break; }
      if (!f.bias && f.act === 'none' && !gemmC && biasLike(os, curShape)) {
        f.bias = { node: next, value: other };
      } else {
        const r = residualReject(os, curShape);
        if (r) {
          stop = biasLike(os, curShape) ? `${next.label}: a bias after ${gemmC ? "Gemm's C" : f.act !== 'none' ? 'the activation' : 'a bias'}` : `${next.label}: ${r}`;
          break;
        }
        f.residual = { node: next, value: other };
      }
      f.nodes.push(next);
      cur = next.outputs[0];
      if (f.residual) break;
      continue;
    }
    const act = actOf(next);
    if (act !== 'relu' && act !== 'gelu_erf' && act !== 'gelu_tanh') { stop = `${next.label}: ${act}`; break; }
    if (f.act !== 'none') { stop = `${next.label}: a second activation`; break; }
    f.act = act;
    f.actNode = next;
    f.nodes.push(next);
    cur = next.outputs[0];
  }
  // Reshapes after the last fused op stay outside (views, no launch)
  while (f.nodes.length > 1 && f.nodes[f.nodes.length - 1].op === 'Reshape') f.nodes.pop();
  if (f.nodes.length === 1) return `nothing to fuse after it: ${stop}`;
  cur = f.nodes[f.nodes.length - 1].outputs[0];
  if (f.bias) { f.biasIndex = f.inputs.length; f.inputs.push(f.bias.value); }
  if (f.residual) { f.residualIndex = f.inputs.length; f.inputs.push(f.residual.value); }
  f.output = cur;
  return f;
}

/**
 * The epilogue chain of an fp16/bf16 Conv (implicit GEMM, conv-igemm.ts): Relu, Add(residual), or
 * Add(residual) then Relu (the ResNet block ending), the residual of the output's shape. A reason when
 * nothing follows it that can be fused.
 */
function matchConv(c: Ctx, anchor: Node): GemmEpilogueFusion | string {
  const out = anchor.outputs[0];
  const ot = out ? tensorType(c.g, out) : undefined;
  if (!ot || !ot.shape) return 'the convolution has no known type';
  if (ot.dtype !== 'float16' && ot.dtype !== 'bfloat16') return `dtype ${ot.dtype} (the fused convolution is fp16/bf16)`;
  if (anchor.int('group', 1) !== 1) return 'a grouped convolution';
  const f: GemmEpilogueFusion = { anchor, nodes: [anchor], act: 'none', inputs: [...anchor.inputs], output: out };
  while (f.inputs.length < 3) f.inputs.push('');
  let cur = out;
  let stop = '';
  for (;;) {
    const m = nextMember(c, cur, f.nodes[f.nodes.length - 1], ot.dtype);
    if (typeof m === 'string') { stop = m; break; }
    const { next } = m;
    if (isAdd(next) && !f.residual && f.act === 'none') {
      const other = next.inputs[next.inputs[0] === cur ? 1 : 0];
      if (!other || other === cur) { stop = `${next.label} adds the convolution to itself`; break; }
      const r = residualReject(tensorType(c.g, other)?.shape, ot.shape);
      if (r) { stop = `${next.label}: ${r}`; break; }
      f.residual = { node: next, value: other };
    } else if (next.op === 'Relu' && next.domain === '' && f.act === 'none') {
      f.act = 'relu';
      f.actNode = next;
      if (f.residual) f.actAfterResidual = true;
    } else {
      stop = `${next.label}: ${next.op} is not a fusable convolution epilogue (Relu, Add of a residual)`;
      break;
    }
    f.nodes.push(next);
    cur = next.outputs[0];
    if (f.act !== 'none') break;
  }
  if (f.nodes.length === 1) return `nothing to fuse after it: ${stop}`;
  if (f.residual) { f.residualIndex = f.inputs.length; f.inputs.push(f.residual.value); }
  f.output = cur;
  return f;
}

/** the Add feeding normalization `norm`, fused into it, or a reason */
function matchNorm(c: Ctx, norm: Node, producer: Map<string, Node>): NormAddFusion | string {
  const s = norm.inputs[0];
  const add = s ? producer.get(s) : undefined;
  if (!add || !isAdd(add)) return 'X is not produced by an Add';
  if (c.claimed.has(add)) return `${add.label} is fused into a GEMM epilogue`;
  const st = tensorType(c.g, s);
  if (!st || !FLOATS.has(st.dtype)) return `X has dtype ${st?.dtype ?? 'unknown'}`;
  if (c.hostValues.has(s)) return `'${s}' is needed on the host`;
  if (!add.inputs[0] || !add.inputs[1]) return 'the Add has a missing operand';
  for (const v of add.inputs) {
    const t = tensorType(c.g, v);
    if (!t || t.dtype !== st.dtype) return `Add operand '${v}' has another dtype`;
    if (t.shape && st.shape && t.shape.length > st.shape.length) return `Add operand '${v}' has a higher rank than X`;
  }
  const at = c.index.get(norm)!;
  const others = (c.consumers.get(s) ?? []).filter((n) => n !== norm);
  const early = others.find((n) => (c.index.get(n) ?? -1) < at);
  if (early) return `'${s}' is read by ${early.label} before the normalization`;
  const written = others.length > 0 || c.graphOutputs.has(s);
  const inputs = [s, norm.inputs[1] ?? '', norm.inputs[2] ?? '', add.inputs[0], add.inputs[1]];
  const outputs = [norm.outputs[0] ?? '', norm.outputs[1] ?? '', norm.outputs[2] ?? ''];
  if (written) outputs.push(s);
  return { add, norm, nodes: [add, norm], inputs, sum: written ? s : undefined, outputs };
}

/** Finds the fusions of graph `g` (see the file comment). */
export function findFusions(g: Graph, hostValues: ReadonlySet<string>): FusionPlan {
  const index = new Map<Node, number>();
  g.nodes.forEach((n, i) => index.set(n, i));
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const v of new Set(nodeReads(n))) consumers.set(v, [...(consumers.get(v) ?? []), n]);
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const c: Ctx = { g, index, consumers, graphOutputs: new Set(g.outputs.map((o) => o.name)), hostValues, claimed: new Set() };
  const plan: FusionPlan = { gemm: [], norm: [], notes: [] };
  for (const n of g.nodes) {
    if (c.claimed.has(n) || n.domain !== '' || (n.op !== 'MatMul' && n.op !== 'Gemm' && n.op !== 'Conv')) continue;
    if (n.outputs.length !== 1 || c.hostValues.has(n.outputs[0])) continue;
    const m = n.op === 'Conv' ? matchConv(c, n) : matchGemm(c, n);
    if (typeof m === 'string') {
      plan.notes.push({ node: n, kind: 'gemm-epilogue', reason: m });
      continue;
    }
    for (const x of m.nodes) c.claimed.add(x);
    plan.gemm.push(m);
  }
  for (const n of g.nodes) {
    if (n.domain !== '' || (n.op !== 'LayerNormalization' && n.op !== 'RMSNormalization')) continue;
    if (n.outputs.some((o) => o && c.hostValues.has(o))) continue;
    const m = matchNorm(c, n, producer);
    if (typeof m === 'string') {
      plan.notes.push({ node: n, kind: 'norm-add', reason: m });
      continue;
    }
    c.claimed.add(m.add);
    c.claimed.add(m.norm);
    plan.norm.push(m);
  }
  return plan;
}
