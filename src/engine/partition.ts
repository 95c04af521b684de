/**
 * Partitions a graph into execution units: fused elementwise groups (codegen/ops/elementwise.ts) and
 * single nodes. Decided once per engine from the symbolic types (so every binding of the symbolic dims
 * shares it). A node joins the group of one of its producers when it is an elementwise kernel op, its
 * result has the group's shape (symbolically equal), and none of its other operands is produced after
 * the group began (which could make the group depend on itself). A group runs where its last member was.
 *
 * Before that, epilogue.ts picks GEMM epilogues (MatMul/Gemm → bias Add → activation → residual Add) and
 * residual Adds fused into the normalization after them; their members take no part in the elementwise
 * groups, and such a unit also runs where its last member was (its intermediate values have no other
 * readers; a norm-add's sum is read only after the normalization).
 */
import type { Graph, Node } from '../ir/graph.js';
import { dimEquals } from '../ir/symbolic.js';
import { nodeReads } from '../ref/interpreter.js';
import { elementwiseReject, type ElementwiseGroup } from '../codegen/ops/elementwise.js';
import { findFusions, type FusionNote, type GemmEpilogueFusion, type NormAddFusion } from './epilogue.js';

export type { FusionNote, GemmEpilogueFusion, NormAddFusion } from './epilogue.js';

export type Unit =
  | { kind: 'node'; node: Node }
  | { kind: 'ew'; group: ElementwiseGroup }
  | { kind: 'gemm-epilogue'; fused: GemmEpilogueFusion }
  | { kind: 'norm-add'; fused: NormAddFusion };

export function unitNodes(u: Unit): readonly Node[] {
  switch (u.kind) {
    case 'node': return [u.node];
    case 'ew': return u.group.nodes;
    case 'gemm-epilogue': return u.fused.nodes;
    case 'norm-add': return u.fused.nodes;
  }
}

export interface PartitionOptions {
  /** values that must be computed on the host at plan time (their producers are never fused) */
  hostValues: ReadonlySet<string>;
  /** disable fusion: every elementwise node is its own group, no GEMM epilogues or norm-adds */
  noFusion?: boolean;
  /** receives the GEMM-epilogue / norm-add candidates that were not fused, with the reasons */
  notes?: FusionNote[];
}

interface Building {
  nodes: Node[];
  first: number;
  /** a node outside the group already read one of its values: the group may not grow past it */
  sealed?: boolean;
  shape: readonly (number | string | null)[];
}

export function partition(g: Graph, opts: PartitionOptions): Unit[] {
  const producerIndex = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producerIndex.set(o, i)));
  const groupOf = new Map<string, Building>(); // value → group producing it
  const groups: Building[] = [];
  const unitAt: (Building | Node)[] = [];
  const shapeOf = (v: string) => {
    const t = g.typeOf(v);
    return t?.kind === 'tensor' ? t.shape : undefined;
  };
  const dtypeOf = (v: string) => {
    const t = g.typeOf(v);
    return t?.kind === 'tensor' ? t.dtype : undefined;
  };
  // GEMM epilogues and norm-adds: a member runs in its unit, which is placed at its last member
  const fusedOf = new Map<Node, { unit: Unit; last: Node }>();
  if (!opts.noFusion) {
    const f = findFusions(g, opts.hostValues);
    opts.notes?.push(...f.notes);
    const add = (unit: Unit, nodes: readonly Node[]) => {
      for (const m of nodes) fusedOf.set(m, { unit, last: nodes[nodes.length - 1] });
    };
    for (const fused of f.gemm) add({ kind: 'gemm-epilogue', fused }, fused.nodes);
    for (const fused of f.norm) add({ kind: 'norm-add', fused }, fused.nodes);
  }
  const fusedUnits = new Map<number, Unit>();
  g.nodes.forEach((n, i) => {
    const fu = fusedOf.get(n);
    const ew = !fu && !opts.hostValues.has(n.outputs[0] ?? '') && n.outputs.length === 1 &&
      [...n.subgraphs()].length === 0 &&
      elementwiseReject(n, n.inputs.map((v) => (v ? dtypeOf(v) : undefined)), dtypeOf(n.outputs[0])) === undefined;
    const seal = (except?: Building) => {
      for (const v of nodeReads(n)) {
        const b = v ? groupOf.get(v) : undefined;
        if (b && b !== except) b.sealed = true;
      }
    };
    if (fu) {
      seal();
      if (fu.last === n) fusedUnits.set(unitAt.length, fu.unit);
      unitAt.push(n);
      return;
    }
    if (!ew) {
      seal();
      unitAt.push(n);
      return;
    }
    const shape = shapeOf(n.outputs[0]);
    let joined: Building | undefined;
    if (!opts.noFusion && shape && shape.every((d) => d !== null)) {
      for (const v of n.inputs) {
        const b = v ? groupOf.get(v) : undefined;
        if (!b || b.sealed || b.shape.length !== shape.length || !b.shape.every((d, k) => dimEquals(d, shape[k]))) continue;
        const ok = n.inputs.every((w) => !w || groupOf.get(w) === b || (producerIndex.get(w) ?? -1) < b.first);
        if (ok) {
          joined = b;
          break;
        }
      }
    }
    seal(joined);
    if (joined) {
      joined.nodes.push(n);
    } else {
      joined = { nodes: [n], first: i, shape: shape ?? [] };
      groups.push(joined);
    }
    groupOf.set(n.outputs[0], joined);
    unitAt.push(joined);
  });
  // a group runs at its last member's position
  const lastIndex = new Map<Building, number>();
  unitAt.forEach((u, i) => {
    if (!(u instanceof Object && 'nodes' in u)) return;
    lastIndex.set(u as Building, i);
  });
  const consumers = new Map<string, Node[]>();
  for (const n of g.nodes) for (const v of new Set(nodeReads(n))) consumers.set(v, [...(consumers.get(v) ?? []), n]);
  const graphOutputs = new Set(g.outputs.map((o) => o.name));
  const units: Unit[] = [];
  unitAt.forEach((u, i) => {
    if (!('nodes' in u)) {
      const fu = fusedOf.get(u as Node);
      if (!fu) units.push({ kind: 'node', node: u as Node });
      else if (fusedUnits.has(i)) units.push(fusedUnits.get(i)!);
      return;
    }
    const b = u as Building;
    if (lastIndex.get(b) !== i) return;
    const members = new Set(b.nodes);
    const produced = new Set(b.nodes.map((m) => m.outputs[0]));
    const inputs: string[] = [];
    for (const m of b.nodes) for (const v of m.inputs) if (v && !produced.has(v) && !inputs.includes(v)) inputs.push(v);
    const outputs = b.nodes.map((m) => m.outputs[0]).filter((v) => graphOutputs.has(v) || (consumers.get(v) ?? []).some((c) => !members.has(c)));
    units.push({ kind: 'ew', group: { nodes: b.nodes, inputs, outputs } });
  });
  return units;
}
