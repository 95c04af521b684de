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

const MIN_N = 64;

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
