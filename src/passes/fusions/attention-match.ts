/**
 * Structural matching for the attention fusion (see attention.ts for the drawn pattern). Pure: reads the
 * graph through the Rewriter and returns a plan, or the reason it stopped and how far it got.
 */
import type { Dim, Node } from '../../ir/graph.js';
import type { Rewriter } from '../api.js';
import { analyzeMask, isRowMaskGuard, type MaskPlan, type Term } from './attention-mask.js';
import { constInts, dimEq, dimsOf, dtypeOfValue, foldsLater, intAttrs, isNegLarge, prodOf, realUses, scalarOf, src, symInts } from './attention-util.js';
import { isFloat, type DType } from '../../ir/dtype.js';
import { dimsDiffer, exactDivDim, mulDim, prodDims } from '../../ir/symbolic.js';

export interface AttentionPlan {
  /** Attention inputs Q, K, V (3-D [B,S,H*D] when threeD, else 4-D [B,H,S,D]) */
  q: string; k: string; v: string;
  threeD: boolean;
  qHeads?: number; kvHeads?: number;
  pastK?: string; pastV?: string;
  /** values the present_key / present_value outputs replace (the KV-cache Concat outputs) */
  presentK?: string; presentV?: string;
  scale: number;
  softcap: number;
  /** K is given as [B,S,H,D] (4-D form): the rewrite transposes it to [B,H,S,D] */
  kFromBSHD?: boolean;
  /** Softmax computed in this wider float type (softmax_precision) */
  softmaxPrecision?: DType;
  mask: MaskPlan;
  tap?: { value: string; mode: number };
  /** the value the Attention output replaces, and its producer */
  y: string;
  root: Node;
  /** the score-chain nodes (QK MatMul … PV MatMul), for reports */
  core: Node[];
}

export interface MatchFail { reason: string; depth: number }

const fail = (reason: string, depth: number): MatchFail => ({ reason, depth });

type Stage = 'none' | 'scaled' | 'softcapped' | 'biased' | 'probs';

/** a value of the score chain, with the consumer that continues the chain */
interface ChainVal { value: string; next: Node; stage: Stage }

/** scalar factor of Mul(x, c) / Div(x, c): [x, factor] */
function scaleStep(rw: Rewriter, v: string): [string, number, Node] | undefined {
  const p = prodOf(rw, v, 'Mul', 'Div');
  if (!p || p.inputs.length !== 2) return undefined;
  const c1 = scalarOf(rw, p.inputs[1]);
  if (c1 !== undefined && Number.isFinite(c1) && c1 !== 0) return [p.inputs[0], p.op === 'Mul' ? c1 : 1 / c1, p];
  if (p.op === 'Mul') {
    const c0 = scalarOf(rw, p.inputs[0]);
    if (c0 !== undefined && Number.isFinite(c0) && c0 !== 0) return [p.inputs[1], c0, p];
  }
  return undefined;
}

/** true when a MatMul is reachable backwards through score arithmetic (tells scores from masks) */
function reachesMatMul(rw: Rewriter, v: string, budget = 12): boolean {
  const p = rw.producer(src(rw, v));
  if (!p || p.domain !== '' || budget <= 0) return false;
  if (p.op === 'MatMul') return true;
  if (!['Add', 'Sub', 'Mul', 'Div', 'Tanh', 'Where', 'Cast'].includes(p.op)) return false;
  return p.inputs.some((i) => i && reachesMatMul(rw, i, budget - 1));
}

function perm(n: Node | undefined): number[] | undefined {
  return n ? intAttrs(n, 'perm') : undefined;
}
const samePerm = (a: number[] | undefined, b: number[]) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);

/** K or V repeated for GQA: Reshape(Expand|Tile(Unsqueeze(x, 2)) [B,Hkv,rep,T,D] → [B,Hkv*rep,T,D]). */
function unrepeat(rw: Rewriter, v: string): { base: string; rep: Dim } | string {
  const rs = prodOf(rw, v, 'Reshape');
  if (rs) {
    const di = dimsOf(rw, rs.inputs[0]);
    const dout = reshapeDims(rw, rs);
    // a Reshape that keeps the shape (what is left of a repetition by 1 after folding)
    if (di && dout && di.length === dout.length && di.every((d, k) => dimEq(d, dout[k]))) return unrepeat(rw, src(rw, rs.inputs[0]));
    let inner = src(rw, rs.inputs[0]);
    let rep: Dim | undefined;
    const ex = prodOf(rw, inner, 'Expand', 'Tile');
    if (ex) {
      const d = dimsOf(rw, ex.outputs[0]);
      if (d && d.length === 5) rep = d[2];
      else if (ex.op === 'Tile') rep = constInts(rw, ex.inputs[1])?.[2];
      else { const s = constInts(rw, ex.inputs[1]); rep = s && s.length === 5 ? s[2] : undefined; }
      if (ex.op === 'Tile') {
        const reps = constInts(rw, ex.inputs[1]);
        if (!reps || reps.length !== 5 || reps[0] !== 1 || reps[1] !== 1 || reps[3] !== 1 || reps[4] !== 1) return 'Tile repeats K/V along an axis other than the inserted head-group axis';
      }
      inner = src(rw, ex.inputs[0]);
    }
    const un = prodOf(rw, inner, 'Unsqueeze');
    if (!un) return ex ? 'K/V repetition does not start from Unsqueeze(axis 2)' : { base: v, rep: 1 };
    const axes = constInts(rw, un.inputs[1]);
    if (!axes || axes.length !== 1 || (axes[0] !== 2 && axes[0] !== -3)) return `K/V repetition unsqueezes axis ${axes?.join(',')}, expected 2 (head groups)`;
    const base = un.inputs[0];
    const bd = dimsOf(rw, base);
    const od = dimsOf(rw, v);
    if (!ex) rep = 1;
    if (!bd || !od || bd.length !== 4 || od.length !== 4 || rep === undefined) return 'K/V repetition has unknown shapes';
    if (!dimEq(od[0], bd[0]) || !dimEq(od[2], bd[2]) || !dimEq(od[3], bd[3]) || !dimEq(od[1], mulDim(bd[1], rep))) {
      return 'K/V repetition reshape does not merge the kv-head and group axes';
    }
    return { base, rep };
  }
  const tile = prodOf(rw, v, 'Tile');
  if (tile) {
    const reps = constInts(rw, tile.inputs[1]);
    const bd = dimsOf(rw, tile.inputs[0]);
    if (reps && reps.length === 4 && reps[0] === 1 && reps[2] === 1 && reps[3] === 1 && bd && bd[1] === 1) return { base: tile.inputs[0], rep: reps[1] };
    return 'K/V heads repeated block-wise (Tile on the head axis); Attention groups query heads contiguously';
  }
  return { base: v, rep: 1 };
}

/** Output dims of a Reshape: from its type, else from the (symbolically evaluated) shape input. */
export function reshapeDims(rw: Rewriter, rs: Node, inDims?: Dim[]): Dim[] | undefined {
  const known = dimsOf(rw, rs.outputs[0]);
  if (known && known.every((d) => d !== null)) return known;
  const shp = symInts(rw, rs.inputs[1]);
  const di = inDims ?? dimsOf(rw, rs.inputs[0]);
  if (!shp || !di || shp.some((d) => d === null)) return known;
  const out = shp.map((d, k) => (d === 0 ? (di[k] ?? null) : d));
  const neg = out.findIndex((d) => d === -1);
  if (neg >= 0) {
    const rest = prodDims(out.filter((_, k) => k !== neg));
    const q = exactDivDim(prodDims(di), rest);
    out[neg] = q === undefined ? null : q;
  }
  return out;
}

/** Reshape(x3 [B,S,X] → [B,S,H,D]): returns x3 and H */
function splitReshape(rw: Rewriter, x4: string): { x3: string; heads: number } | undefined {
  const rs = prodOf(rw, x4, 'Reshape');
  if (!rs) return undefined;
  const x3 = rs.inputs[0];
  const di = dimsOf(rw, x3);
  const dout = reshapeDims(rw, rs);
  if (!di || di.length !== 3 || !dout || dout.length !== 4 || typeof dout[2] !== 'number') return undefined;
  if (!dimEq(dout[0], di[0]) || !dimEq(dout[1], di[1])) return undefined;
  return { x3, heads: dout[2] };
}

/** Transpose(Reshape(x3 [B,S,X] → [B,S,H,D]), [0,2,1,3]): returns x3 and H */
function headSplit(rw: Rewriter, v4: string): { x3: string; heads: number } | undefined {
  const tr = prodOf(rw, v4, 'Transpose');
  if (!tr || !samePerm(perm(tr), [0, 2, 1, 3])) return undefined;
  return splitReshape(rw, tr.inputs[0]);
}

/** Reshape(Transpose(y4, [0,2,1,3]) → [B,S,H*Dv]): returns the 3-D value */
function headMerge(rw: Rewriter, y4: string, y4Dims: Dim[]): { y3: string; root: Node; tr: Node } | undefined {
  const tr = soleUse(rw, y4);
  if (!tr || tr.op !== 'Transpose' || !samePerm(perm(tr), [0, 2, 1, 3])) return undefined;
  const rs = soleUse(rw, tr.outputs[0]);
  if (!rs || rs.op !== 'Reshape' || src(rw, rs.inputs[0]) !== tr.outputs[0] && rs.inputs[0] !== tr.outputs[0]) return undefined;
  const d4 = y4Dims;
  const di = [d4[0], d4[2], d4[1], d4[3]];
  const dout = reshapeDims(rw, rs, di);
  if (!di || !dout || dout.length !== 3) return undefined;
  if (!dimEq(dout[0], di[0]) || !dimEq(dout[1], di[1]) || !dimEq(dout[2], mulDim(di[2], di[3]))) return undefined;
  return { y3: rs.outputs[0], root: rs, tr };
}

/**
 * Reshape(Transpose(Reshape(k4 [a,b,T,D] → [a*b,T,D]), [0,2,1]) → [a,b,D,T]): k4 with its last two axes
 * swapped, written through 3-D (how the dynamo exporter decomposes k.transpose(-2, -1)). Returns k4.
 */
function swapLastTwoByReshape(rw: Rewriter, kt: string): string | undefined {
  const outer = prodOf(rw, kt, 'Reshape');
  const tr = outer && prodOf(rw, outer.inputs[0], 'Transpose');
  if (!outer || !tr || !samePerm(perm(tr), [0, 2, 1])) return undefined;
  const inner = prodOf(rw, tr.inputs[0], 'Reshape');
  if (!inner) return undefined;
  const k4 = src(rw, inner.inputs[0]);
  const kd = dimsOf(rw, k4);
  const mid = reshapeDims(rw, inner);
  const od = reshapeDims(rw, outer);
  if (!kd || kd.length !== 4 || !mid || mid.length !== 3 || !od || od.length !== 4) return undefined;
  if (!dimEq(mid[1], kd[2]) || !dimEq(mid[2], kd[3])) return undefined;
  if (!dimEq(od[0], kd[0]) || !dimEq(od[1], kd[1]) || !dimEq(od[2], kd[3]) || !dimEq(od[3], kd[2])) return undefined;
  return k4;
}

/** the only real (non-copy) consumer of v, when v is not a graph output */
function soleUse(rw: Rewriter, v: string): Node | undefined {
  const u = realUses(rw, v);
  return !u.output && u.nodes.length === 1 ? u.nodes[0] : undefined;
}

/** KV cache: Concat(past, new, axis=2) */
function kvConcat(rw: Rewriter, v: string): { past: string; cur: string; out: string } | undefined {
  const c = prodOf(rw, v, 'Concat');
  if (!c || c.inputs.length !== 2) return undefined;
  const rank = dimsOf(rw, c.outputs[0])?.length ?? 4;
  const ax = c.int('axis', 0);
  if (rank !== 4 || (ax !== 2 && ax !== -2)) return undefined;
  return { past: c.inputs[0], cur: c.inputs[1], out: c.outputs[0] };
}

export function matchAttention(rw: Rewriter, sm: Node): AttentionPlan | MatchFail {
  const inDims = dimsOf(rw, sm.inputs[0]);
  const axis = sm.int('axis', -1);
  if (axis !== -1 && !(inDims && axis === inDims.length - 1)) return fail(`Softmax axis is ${axis}, expected -1`, 1);
  if (inDims && inDims.length !== 4) return fail(`scores have rank ${inDims.length}, expected 4 ([batch, heads, q_seq, kv_seq])`, 1);

  // ---- softmax computed in a wider float: Cast(up) → Softmax → Cast(back)
  const chain: ChainVal[] = [];
  let probs = sm.outputs[0];
  let softmaxPrecision: DType | undefined;
  let smIn = src(rw, sm.inputs[0]);
  const up0 = prodOf(rw, smIn, 'Cast');
  if (up0) {
    const from = dtypeOfValue(rw, up0.inputs[0]);
    const to = dtypeOfValue(rw, up0.outputs[0]);
    const back = realUses(rw, probs);
    const bc = back.nodes[0];
    if (from && to && from !== to && isFloat(from) && (to === 'float32' || to === 'float64') && !back.output && back.nodes.length === 1 &&
        bc.op === 'Cast' && dtypeOfValue(rw, bc.outputs[0]) === from) {
      softmaxPrecision = to;
      chain.push({ value: probs, next: bc, stage: 'none' }, { value: smIn, next: sm, stage: 'none' });
      smIn = src(rw, up0.inputs[0]);
      probs = bc.outputs[0];
    }
  }

  // ---- downward: Softmax → [fully-masked-row guard Where] → MatMul(probs, V)
  let guard: Node | undefined;
  const down = (v: string, accept: (n: Node) => boolean): Node | undefined => {
    const u = realUses(rw, v);
    const hits = u.nodes.filter(accept);
    return hits.length === 1 ? hits[0] : undefined;
  };
  const isPV = (n: Node) => n.op === 'MatMul' && n.domain === '' && src(rw, n.inputs[0]) === probs;
  let next = down(probs, (n) => isPV(n) || (n.op === 'Where' && src(rw, n.inputs[2]) === probs && scalarOf(rw, n.inputs[1]) === 0));
  if (!next) return fail('Softmax output does not feed MatMul(probs, V)', 1);
  if (next.op === 'Where') {
    guard = next;
    chain.push({ value: probs, next, stage: 'probs' });
    probs = next.outputs[0];
    next = down(probs, isPV);
    if (!next) return fail('masked-row guard does not feed MatMul(probs, V)', 2);
  }
  const pv = next;
  chain.push({ value: probs, next: pv, stage: 'probs' });

  // ---- upward: Softmax ← [bias adds / where-masks] ← [softcap] ← [scale] ← MatMul(Q, K^T)
  const terms: Term[] = [];
  let fullBias: string | undefined;
  let s = smIn;
  let consumer: Node = softmaxPrecision ? prodOf(rw, sm.inputs[0], 'Cast')! : sm;
  const up: ChainVal[] = [];
  let biasOps = 0;
  for (;;) {
    const p = rw.producer(s);
    if (!p || p.domain !== '') break;
    if ((p.op === 'Add' || p.op === 'Sum') && p.inputs.length === 2) {
      const sc = [0, 1].filter((i) => reachesMatMul(rw, p.inputs[i]));
      if (sc.length !== 1) break;
      const other = p.inputs[1 - sc[0]];
      terms.push({ kind: 'add', value: other });
      fullBias = biasOps === 0 ? other : undefined;
      up.push({ value: s, next: consumer, stage: biasOps === 0 ? 'biased' : 'none' });
    } else if (p.op === 'Where') {
      const xi = reachesMatMul(rw, p.inputs[1]) ? 1 : reachesMatMul(rw, p.inputs[2]) ? 2 : 0;
      const fill = xi ? scalarOf(rw, p.inputs[3 - xi]) : undefined;
      if (!xi || fill === undefined || !isNegLarge(fill)) break;
      terms.push({ kind: 'cond', value: p.inputs[0], visibleWhenTrue: xi === 1, exact: fill === -Infinity });
      fullBias = undefined;
      up.push({ value: s, next: consumer, stage: biasOps === 0 ? 'biased' : 'none' });
    } else break;
    biasOps++;
    consumer = p;
    s = src(rw, p.inputs[p.op === 'Where' ? (reachesMatMul(rw, p.inputs[1]) ? 1 : 2) : (reachesMatMul(rw, p.inputs[0]) ? 0 : 1)]);
  }
  // softcap: Mul(Tanh(s / c), c)
  let softcap = 0;
  {
    const m = prodOf(rw, s, 'Mul');
    if (m && m.inputs.length === 2) {
      for (const i of [0, 1]) {
        const c = scalarOf(rw, m.inputs[1 - i]);
        const th = prodOf(rw, m.inputs[i], 'Tanh');
        if (c === undefined || !th || c <= 0) continue;
        const st = scaleStep(rw, th.inputs[0]);
        if (!st || Math.abs(st[1] * c - 1) > 1e-6) continue;
        softcap = c;
        up.push({ value: s, next: consumer, stage: 'softcapped' });
        up.push({ value: src(rw, m.inputs[i]), next: m, stage: 'none' });
        up.push({ value: src(rw, th.inputs[0]), next: th, stage: 'none' });
        consumer = st[2];
        s = src(rw, st[0]);
        break;
      }
    }
  }
  let scale = 1;
  let firstScale = true;
  for (let st = scaleStep(rw, s); st; st = scaleStep(rw, s)) {
    up.push({ value: s, next: consumer, stage: firstScale ? 'scaled' : 'none' });
    firstScale = false;
    scale *= st[1];
    consumer = st[2];
    s = src(rw, st[0]);
  }
  const qk = prodOf(rw, s, 'MatMul');
  if (!qk) return fail('no MatMul(Q, K^T) before the scores (after scale, softcap and mask)', 2);
  // a scale factor that constant/shape folding has not produced yet: wait for it (a later round fuses)
  const pendingScale = (v: string) => {
    const m = prodOf(rw, v, 'Mul', 'Div');
    return !!m && m.inputs.length === 2 && m.inputs.some((i) => foldsLater(rw, src(rw, i)));
  };
  for (const v of [s, qk.inputs[0], qk.inputs[1], prodOf(rw, qk.inputs[1], 'Transpose')?.inputs[0]]) {
    if (v && pendingScale(v)) return fail('the scale factor is not folded into a constant yet', 0);
  }
  up.push({ value: s, next: consumer, stage: firstScale ? 'scaled' : 'none' });
  chain.push(...up);

  // ---- Q and K^T operands (scales folded into either)
  let qv = src(rw, qk.inputs[0]);
  for (let st = scaleStep(rw, qv); st; st = scaleStep(rw, qv)) { scale *= st[1]; qv = src(rw, st[0]); }
  let kt = src(rw, qk.inputs[1]);
  for (let st = scaleStep(rw, kt); st; st = scaleStep(rw, kt)) { scale *= st[1]; kt = src(rw, st[0]); }
  const ktr = prodOf(rw, kt, 'Transpose');
  // K^T: Transpose(k4, [0,1,3,2]), or Transpose(k [B,S,H,D], [0,2,3,1]) (head split and transpose merged),
  // or Reshape(Transpose(Reshape(k4, [-1,T,D]), [0,2,1]), [B,H,D,T]) (the dynamo exporter's k.transpose(-2,-1))
  const kBSHD = !!ktr && samePerm(perm(ktr), [0, 2, 3, 1]);
  let krep: string | undefined;
  if (ktr && (kBSHD || samePerm(perm(ktr), [0, 1, 3, 2]))) krep = src(rw, ktr.inputs[0]);
  else krep = swapLastTwoByReshape(rw, kt);
  if (!krep) return fail('second MatMul operand is not K transposed with perm [0,1,3,2]', 3);
  for (let st = scaleStep(rw, krep); st; st = scaleStep(rw, krep)) { scale *= st[1]; krep = src(rw, st[0]); }
  const vrep = src(rw, pv.inputs[1]);

  // ---- GQA repetition and KV cache
  const ku = kBSHD ? { base: krep, rep: 1 } : unrepeat(rw, krep);
  if (typeof ku === 'string') return fail(ku, 4);
  const vu = unrepeat(rw, vrep);
  if (typeof vu === 'string') return fail(vu, 4);
  if (!dimEq(ku.rep, vu.rep)) return fail('K and V are repeated a different number of times', 4);
  const kc = kBSHD ? undefined : kvConcat(rw, ku.base);
  const vc = kvConcat(rw, vu.base);
  if (!!kc !== !!vc) return fail('only one of K and V is concatenated with a past cache', 4);

  // ---- geometry
  const qd = dimsOf(rw, qv);
  const kd0 = dimsOf(rw, ku.base);
  const kd = kBSHD && kd0 && kd0.length === 4 ? [kd0[0], kd0[2], kd0[1], kd0[3]] : kd0;
  const vd = dimsOf(rw, vu.base);
  if (!qd || !kd || !vd || qd.length !== 4 || kd.length !== 4 || vd.length !== 4) return fail('Q, K or V is not a 4-D [batch, heads, seq, head_size] tensor of known rank', 4);
  // Attention needs one batch size for Q, K and V (no broadcasting of a shared K/V)
  const batchDiffers = (a: Dim, b: Dim) => dimsDiffer(a, b) || ((a === 1) !== (b === 1) && (typeof a === 'number' || typeof b === 'number'));
  if (batchDiffers(qd[0], kd[0]) || batchDiffers(qd[0], vd[0])) return fail('Q, K and V batch sizes differ (broadcast K/V)', 4);
  const P: Dim = kc ? (dimsOf(rw, kc.past)?.[2] ?? null) : 0;
  if (P === null) return fail('past key length is unknown', 4);
  const geo = { Sq: qd[2], T: kd[2], P, hasPast: !!kc, scores: dimsOf(rw, qk.outputs[0]) };

  // ---- mask
  const mask = analyzeMask(rw, terms, geo);
  if (typeof mask === 'string') return fail(mask, 5);
  if (guard && !isRowMaskGuard(rw, guard.inputs[0], fullBias, guard.inputs[2])) return fail('the Where after Softmax is not the fully-masked-row guard', 5);

  // the guard's own IsNaN(probs) is part of the match, not another use of the probabilities
  const guardNodes: Node[] = [];
  const nan = guard && prodOf(rw, guard.inputs[0], 'IsNaN');
  if (nan && soleUse(rw, nan.outputs[0]) === guard) guardNodes.push(nan);
  // ---- intermediate values used elsewhere: at most one, at a point Attention can output (qk_matmul_output)
  let tap: AttentionPlan['tap'];
  for (const cv of chain) {
    const u = realUses(rw, cv.value);
    const extra = u.output || u.nodes.some((n) => n !== cv.next && !guardNodes.includes(n));
    if (!extra) continue;
    const mode = cv.stage === 'probs' ? 3 : cv.stage === 'biased' ? 2 : cv.stage === 'softcapped' ? 1 : cv.stage === 'scaled' && softcap === 0 ? 0 : -1;
    if (mode < 0) return fail(`intermediate ${cv.value} has other consumers`, 5);
    if (tap && tap.value !== cv.value) return fail('more than one intermediate score value is used elsewhere', 5);
    if (mode === 2 && mask.finiteCausal) return fail('masked scores are used elsewhere and the causal mask is finite (not -inf)', 5);
    tap = { value: cv.value, mode };
  }
  if (mask.causal && mask.finiteCausal && tap?.mode === 2) return fail('masked scores are used elsewhere and the causal mask is finite', 5);

  // ---- form: 3-D when Q, K, V come from head splits and the output is merged back
  const kNew = kc ? kc.cur : ku.base;
  const vNew = vc ? vc.cur : vu.base;
  const qs = headSplit(rw, qv);
  const ks = kBSHD ? splitReshape(rw, kNew) : headSplit(rw, kNew);
  const vs = headSplit(rw, vNew);
  const merge = headMerge(rw, pv.outputs[0], [qd[0], qd[1], qd[2], vd[3]]);
  const threeD = !!(qs && ks && vs && merge && ks.heads === vs.heads);
  const core = [qk, sm, pv];
  const plan: AttentionPlan = {
    q: threeD ? qs!.x3 : qv, k: threeD ? ks!.x3 : kNew, v: threeD ? vs!.x3 : vNew, threeD,
    qHeads: threeD ? qs!.heads : undefined, kvHeads: threeD ? ks!.heads : undefined,
    pastK: kc?.past, pastV: vc?.past, presentK: kc?.out, presentV: vc?.out,
    scale, softcap, mask, tap, softmaxPrecision, kFromBSHD: !!kBSHD && !threeD,
    y: threeD ? merge!.y3 : pv.outputs[0], root: threeD ? merge!.root : pv, core,
  };
  // sanity: head counts
  if (typeof qd[1] === 'number' && typeof kd[1] === 'number' && typeof ku.rep === 'number' && qd[1] !== kd[1] * ku.rep) {
    return fail(`query heads ${qd[1]} != kv heads ${kd[1]} x repetition ${ku.rep}`, 5);
  }
  return plan;
}
