/**
 * Concrete shape propagation for one node at plan time: runs the node's registered shape function
 * (src/infer) with the concrete types of its inputs and the contents of the inputs known on the host.
 * Returns concrete output types, or undefined for an output whose shape depends on data (NonZero,
 * Unique, ...) or whose op has no shape function: the planner then runs the node eagerly.
 */
import type { Dim, Node, ValueType } from '../ir/graph.js';
import type { DType } from '../ir/dtype.js';
import type { Tensor } from '../ir/tensor.js';
import { getShapeFn, knownFromTensor, type KnownValue, type ShapeContext } from '../infer/registry.js';
import { ChimeraError } from '../errors.js';

export interface ConcreteType {
  dtype: DType;
  shape: number[];
}

export interface NodeInputInfo {
  type?: ValueType;
  host?: Tensor;
}

const concrete = (shape: readonly Dim[] | undefined): shape is number[] =>
  shape !== undefined && shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0);

/** Output types of `node` given its inputs, or undefined per output that is not concrete. */
export function concreteOutputTypes(node: Node, opset: number, ins: readonly (NodeInputInfo | undefined)[], file?: string): (ValueType | undefined)[] {
  const fn = getShapeFn(node.op, node.domain);
  if (!fn) return node.outputs.map(() => undefined);
  const values = new Map<number, KnownValue>();
  const known = (i: number): KnownValue | undefined => {
    const h = ins[i]?.host;
    return h ? knownFromTensor(h) : undefined;
  };
  let freshCount = 0;
  const ctx: ShapeContext = {
    node,
    opset,
    inputCount: node.inputs.length,
    has: (i) => (node.inputs[i] ?? '') !== '',
    type: (i) => ins[i]?.type,
    tensor(i) {
      const t = ctx.type(i);
      return t && t.kind === 'tensor' ? { dtype: t.dtype, shape: t.shape } : undefined;
    },
    dtype: (i) => ctx.tensor(i)?.dtype,
    shape: (i) => ctx.tensor(i)?.shape,
    rank: (i) => ctx.shape(i)?.length,
    value: (i) => known(i),
    ints(i) {
      const v = known(i);
      if (!v || !v.elems.every((e) => typeof e === 'number')) return undefined;
      return v.elems as number[];
    },
    dims: (i) => known(i)?.elems,
    setValue: (i, v) => void values.set(i, v),
    fresh: (prefix) => `${prefix}_plan_${++freshCount}`,
    inferSubgraph: () => {
      throw new ChimeraError('E_UNSUPPORTED', 'subgraphs are not shape-planned', { node: node.label });
    },
    subgraphValues: () => [],
    fail(message, field) {
      throw new ChimeraError('E_SHAPE', `${node.op}: ${message}`, { file, node: node.label, field });
    },
  };
  let out: (ValueType | undefined)[];
  try {
    out = fn(ctx);
  } catch (e) {
    if (e instanceof ChimeraError && e.code === 'E_UNSUPPORTED') return node.outputs.map(() => undefined);
    throw e;
  }
  return node.outputs.map((_, i) => {
    const t = out[i];
    if (!t) return undefined;
    if (t.kind === 'tensor') return concrete(t.shape) ? t : undefined;
    return t; // sequences, optionals, maps: host-only values, no size needed
  });
}
