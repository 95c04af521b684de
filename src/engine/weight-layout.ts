/**
 * Weight layouts for the tensor-core GEMM. Its operands need 16-byte rows (a leading dimension that is a
 * multiple of 8 halves). A MatMul whose constant right operand B is [K, N] with N not a multiple of 8
 * (a vocabulary of 50257, say) would fall back to the SIMT kernel; instead B is zero-padded to
 * [K, roundup(N, 8)] once, at engine build, and a Slice takes the first N columns of the product.
 * Runs on the engine's own copy of the model, after the precision transform, before types are re-inferred.
 */
import { Node, type Model } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { inferShapes } from '../infer/index.js';
import { nodeReads } from '../ref/interpreter.js';

const MIN_N = 64;

/**
 * MatMul(A, Transpose(W)) with W a constant fp16/bf16 [N, K] (a tied LM head, for instance): the
 * transposed copy would be made on every run (38 M elements for GPT-2's vocabulary), and the product would
 * miss the tensor cores when N % 8 != 0. Rewritten as Gemm(Reshape(A, [-1, K]), W, transB=1) and a Reshape
 * back to A's leading dims + [N] (shape arithmetic the planner folds); the Transpose goes when unused.
 */
export function gemmForTransposedWeights(model: Model): number {
  const g = model.graph;
  const producer = new Map<string, Node>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const rankOf = (v: string) => {
    const t = g.typeOf(v);
    return t?.kind === 'tensor' ? t.shape?.length : undefined;
  };
  const out: Node[] = [];
  let count = 0;
  for (const n of g.nodes) {
    const t = n.op === 'MatMul' && n.domain === '' ? producer.get(n.inputs[1]) : undefined;
    const w = t && t.op === 'Transpose' && t.domain === '' ? g.initializers.get(t.inputs[0]) : undefined;
    const perm = t?.has('perm') ? t.ints('perm') : [1, 0];
    const rank = rankOf(n.inputs[0]);
    if (!t || !w || w.rank !== 2 || (w.dtype !== 'float16' && w.dtype !== 'bfloat16') || perm[0] !== 1 || perm[1] !== 0 || rank === undefined || rank < 2 || w.shape[1] % 8 !== 0) {
      out.push(n);
      continue;
    }
    const [N, K] = w.shape;
    const y = n.outputs[0];
    const base = `${y}::gemm`;
    const init = (name: string, vals: number[]) => {
      g.initializers.set(name, Tensor.from('int64', [vals.length], vals.map((v) => BigInt(v))));
      return name;
    };
    out.push(
      new Node({ op: 'Reshape', name: `${base}_a2`, inputs: [n.inputs[0], init(`${base}::a2shape`, [-1, K])], outputs: [`${base}::a2`] }),
      new Node({ op: 'Gemm', name: `${base}`, inputs: [`${base}::a2`, t.inputs[0]], outputs: [`${base}::y2`], attrs: { transB: { type: 'int', value: 1n } } }),
      new Node({ op: 'Shape', name: `${base}_shape`, inputs: [n.inputs[0]], outputs: [`${base}::ashape`] }),
      new Node({ op: 'Slice', name: `${base}_lead`, inputs: [`${base}::ashape`, init(`${base}::s0`, [0]), init(`${base}::s1`, [-1]), init(`${base}::s2`, [0])], outputs: [`${base}::lead`] }),
      new Node({ op: 'Concat', name: `${base}_yshape`, inputs: [`${base}::lead`, init(`${base}::n`, [N])], outputs: [`${base}::yshape`], attrs: { axis: { type: 'int', value: 0n } } }),
      new Node({ op: 'Reshape', name: `${base}_y`, inputs: [`${base}::y2`, `${base}::yshape`], outputs: [y] }),
    );
    count++;
  }
  if (!count) return 0;
  // drop Transposes nobody reads any more
  const read = new Set<string>(g.outputs.map((o) => o.name));
  for (const n of out) for (const i of nodeReads(n)) read.add(i);
  g.nodes = out.filter((n) => !(n.op === 'Transpose' && n.outputs.every((o) => !read.has(o))));
  g.valueInfo.clear();
  inferShapes(model, { onError: 'report' });
  return count;
}

export function padGemmWeights(model: Model): number {
  const g = model.graph;
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
  let count = 0;
  const out: Node[] = [];
  for (const n of g.nodes) {
    out.push(n);
    if (n.op !== 'MatMul' || n.domain !== '') continue;
    const b = g.initializers.get(n.inputs[1]);
    if (!b || (b.dtype !== 'float16' && b.dtype !== 'bfloat16') || b.rank !== 2) continue;
    const [K, N] = b.shape;
    if (N % 8 === 0 || K % 8 !== 0 || N < MIN_N) continue;
    const Np = Math.ceil(N / 8) * 8;
    const data = new Float32Array(K * Np);
    const src = b.data as Float32Array;
    for (let k = 0; k < K; k++) data.set(src.subarray(k * N, k * N + N), k * Np);
    const padded = `${n.inputs[1]}::padded${Np}`;
    g.initializers.set(padded, new Tensor(b.dtype, [K, Np], data));
    if ((uses.get(n.inputs[1]) ?? 0) <= 1 && !g.outputs.some((o) => o.name === n.inputs[1])) g.initializers.delete(n.inputs[1]);
    const y = n.outputs[0];
    const wide = `${y}::padded${Np}`;
    n.inputs = [n.inputs[0], padded];
    n.outputs = [wide];
    const mk = (name: string, v: number) => {
      g.initializers.set(name, Tensor.from('int64', [1], [BigInt(v)]));
      return name;
    };
    out.push(new Node({
      op: 'Slice', name: `${n.name || 'MatMul'}_unpad`,
      inputs: [wide, mk(`${wide}::starts`, 0), mk(`${wide}::ends`, N), mk(`${wide}::axes`, -1)],
      outputs: [y],
    }));
    count++;
  }
  if (count) {
    g.nodes = out;
    g.valueInfo.clear();
    inferShapes(model, { onError: 'report' });
  }
  return count;
}
