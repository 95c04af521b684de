// Shared helpers of the codegen lowering tests: attribute and tensor builders, lowering a node case
// directly (no engine), and listing the kernels a lowering produced.
import { expect } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch, getLowering, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';

export const T = (dtype: DType, shape: number[]): TensorDesc => ({ dtype, shape });
export const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
export const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });
export const flt = (v: number): AttrValue => ({ type: 'float', value: v });
export const str = (v: string): AttrValue => ({ type: 'string', value: v });
export const i64 = (v: number[]): Tensor => Tensor.from('int64', [v.length], v);

/** One node to lower: its op, input and output descriptors (a missing optional input is undefined), attributes and host inputs. */
export interface LowerCase {
  op: string;
  ins: (TensorDesc | undefined)[];
  outs: TensorDesc[];
  attrs?: Record<string, AttrValue>;
  host?: Record<number, Tensor>;
}

/** Lowers the case's node (inputs x<i>, outputs y<i>) with its registered lowering. */
export function lowerCase(c: LowerCase): Lowered {
  const names = c.ins.map((t, i) => (t ? `x${i}` : ''));
  const node = new Node({ op: c.op, inputs: names, outputs: c.outs.map((_, i) => `y${i}`), attrs: c.attrs ?? {} });
  const l = getLowering(c.op);
  if (!l) throw new Error(`no lowering for ${c.op}`);
  return l.lower({ node, inputs: c.ins, outputs: c.outs, hostValue: (i) => c.host?.[i] });
}

/** lowerCase, expecting every launch to be well-formed. */
export function checkCase(c: LowerCase): Lowered {
  const r = lowerCase(c);
  for (const l of r.launches) expect(checkLaunch(l, { inputs: c.ins.length, outputs: c.outs.length, scratch: r.scratch?.length ?? 0 })).toEqual([]);
  return r;
}

/** Every kernel of a lowering: the launched ones, then the variants. */
export const kernelSources = (l: Lowered): KernelSource[] => [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];

/** The distinct kernel names of a lowering, sorted. */
export const kernelNameSet = (l: Lowered): string[] => [...new Set(kernelSources(l).map((k) => k.name))].sort();
