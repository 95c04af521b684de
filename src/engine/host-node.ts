/**
 * Runs one node on the host with the reference interpreter's kernel: the engine's fallback for ops and
 * cases no GPU lowering handles, and its plan-time constant folding (shape computations). Subgraph free
 * variables are passed in like inputs.
 */
import { Graph, type Model, type Node } from '../ir/graph.js';
import { Interpreter, nodeReads } from '../ref/interpreter.js';
import type { RuntimeValue } from '../ref/kernel.js';

export function runNodeOnHost(model: Model, node: Node, value: (name: string) => RuntimeValue | undefined): RuntimeValue[] {
  const g = new Graph(`host:${node.label}`);
  const reads = [...new Set(nodeReads(node))];
  g.inputs = reads.map((name) => ({ name }));
  g.nodes = [node];
  g.outputs = node.outputs.filter((o) => o !== '').map((name) => ({ name }));
  const outs = new Interpreter(model).runGraph(g, reads.map((r) => value(r) ?? null), undefined);
  const byName = new Map(g.outputs.map((o, i) => [o.name, outs[i]]));
  return node.outputs.map((o) => (o ? byName.get(o) ?? null : null));
}
