/**
 * The lowering contract: how one graph node (with concrete shapes) becomes kernel launches.
 *
 * A lowering is registered per op (registry below) and is called by the engine planner with the node,
 * its input and output tensor types (dtype + concrete shape) and the host values of the inputs it declared
 * in `hostInputs` (shape-like inputs: Reshape's shape, Slice's starts, Resize's scales, ...). It returns
 * the launches: each names a KernelSource (kernel-ir.ts), a grid, a block, optional dynamic shared memory
 * and its arguments, given as references to the node's inputs/outputs/scratch buffers or as scalars.
 *
 * Rules every lowering keeps:
 * - Kernel text depends only on dtypes, ranks, attributes and host-input *presence*, never on concrete
 *   dims: dims go in as arguments. So an engine built for one binding of symbolic dims serves all others
 *   with no new compile (tested by comparing kernel sets across bindings).
 * - A case the lowering does not handle throws `unsupported(reason)`: the node then runs on the host
 *   through the reference interpreter (a documented fallback), and the reason is reported.
 * - An output may instead be declared a view (alias) of an input: Reshape, Squeeze, Identity, ...
 * - Zero-element outputs need no launch; lowerings may return no launches for them.
 */
import type { Node } from '../ir/graph.js';
import type { DType } from '../ir/dtype.js';
import type { Tensor } from '../ir/tensor.js';
import type { KernelArg } from '../runtime/args.js';
import { opKey, opTraits } from '../ir/ops.js';
import type { KernelSource } from './kernel-ir.js';

export interface TensorDesc {
  dtype: DType;
  shape: readonly number[];
}

export type ArgRef =
  | { in: number; byteOffset?: number }
  | { out: number; byteOffset?: number }
  | { scratch: number; byteOffset?: number }
  | { tmap: TensorMapSpec }
  | KernelArg;

/**
 * A TMA descriptor (CUtensorMap) over a buffer operand. The executor encodes it once the operand's address
 * is known, keeps it in device memory (128-byte aligned) and passes the kernel a pointer to it: the
 * kernel's parameter is a pointer, used as the tensor-map operand of cp.async.bulk.tensor.
 * Out-of-bounds elements of a box read as zero.
 */
export interface TensorMapSpec {
  of: { in: number; byteOffset?: number } | { out: number; byteOffset?: number } | { scratch: number; byteOffset?: number };
  dtype: 'float16' | 'bfloat16';
  /** extents in elements, innermost first (rank 1..5) */
  dims: number[];
  /** byte strides of dims 1..rank-1 (multiples of 16) */
  strides: number[];
  /** box extents in elements, innermost first (each 1..256; the innermost row a multiple of 16 bytes) */
  box: number[];
  /** shared-memory swizzle of the box, bytes */
  swizzle: 0 | 32 | 64 | 128;
}

/** Problems of a tensor-map spec (empty when it is well-formed). */
export function checkTensorMap(t: TensorMapSpec): string[] {
  const errs: string[] = [];
  const r = t.dims.length;
  if (r < 1 || r > 5) errs.push(`rank ${r} (1..5)`);
  if (t.strides.length !== r - 1) errs.push(`${t.strides.length} strides for rank ${r}`);
  if (t.box.length !== r) errs.push(`${t.box.length} box dims for rank ${r}`);
  if (t.dims.some((d) => !Number.isInteger(d) || d < 1 || d > 2 ** 32)) errs.push(`dims ${t.dims.join('x')}`);
  if (t.strides.some((x) => !Number.isInteger(x) || x % 16 !== 0 || x <= 0 || x >= 2 ** 40)) errs.push(`strides ${t.strides.join(',')} (multiples of 16 bytes)`);
  if (t.box.some((b) => !Number.isInteger(b) || b < 1 || b > 256)) errs.push(`box ${t.box.join('x')} (1..256)`);
  if ((t.box[0] * 2) % 16 !== 0) errs.push(`inner box of ${t.box[0] * 2} bytes (a multiple of 16)`);
  if (t.swizzle && t.box[0] * 2 > t.swizzle) errs.push(`inner box of ${t.box[0] * 2} bytes exceeds the ${t.swizzle}-byte swizzle`);
  if (((t.of.byteOffset ?? 0) % 16) !== 0) errs.push(`byte offset ${t.of.byteOffset} (16-byte aligned)`);
  return errs;
}

export interface Launch {
  kernel: KernelSource;
  grid: [number, number, number];
  block: [number, number, number];
  sharedBytes?: number;
  args: ArgRef[];
  /**
   * A library call that computes the same thing as this launch and the `replaces - 1` launches after it.
   * The executor may use it instead where the library is present and measures faster; the kernels stay
   * the portable default.
   */
  library?: LibraryGemm;
}

/** An operand of a library call: [launch offset from the launch that carries it, argument index]. */
export type LibraryOperand = readonly [number, number];

/**
 * A row-major GEMM for cuBLASLt: C = act(alpha * op(A) op(B) + bias[n]) + residual, batched by strides
 * (stride 0 broadcasts). `act` is what cuBLASLt can apply exactly (its GELU is the tanh form).
 */
export interface LibraryGemm {
  op: 'gemm';
  dtype: 'float16' | 'bfloat16';
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  lda: number;
  ldb: number;
  ldc: number;
  batch: number;
  strideA: number;
  strideB: number;
  strideC: number;
  alpha: number;
  act: 'none' | 'relu' | 'gelu_tanh';
  a: LibraryOperand;
  b: LibraryOperand;
  c: LibraryOperand;
  bias?: LibraryOperand;
  /** added after the activation: only with act 'none' (cuBLASLt adds beta*C before it) */
  residual?: LibraryOperand;
  replaces: number;
}

export interface Lowered {
  launches: Launch[];
  /** byte sizes of temporary device buffers, referenced as { scratch: k } */
  scratch?: number[];
  /** outputs that are views of inputs (no copy, no launch) */
  aliases?: { output: number; input: number }[];
  /** other kernels this node may launch at other shapes (compiled with the engine, so no run-time JIT) */
  variants?: KernelSource[];
}

export interface LowerContext {
  readonly node: Node;
  /** input types; undefined for an omitted optional input */
  readonly inputs: readonly (TensorDesc | undefined)[];
  readonly outputs: readonly TensorDesc[];
  /** the host value of input i, when it is known at plan time (always for declared hostInputs) */
  hostValue(i: number): Tensor | undefined;
  /**
   * compute capability of the target GPU as major*10+minor (90 for sm_90a), when the engine knows it.
   * Architecture-specific kernels (wgmma on sm_90a) may be chosen only when it matches; undefined means
   * "any GPU": portable kernels only.
   */
  readonly arch?: number;
}

export interface OpLowering {
  /** inputs whose values must be known on the host at plan time */
  hostInputs?: readonly number[];
  lower(ctx: LowerContext): Lowered;
}

/** Thrown by a lowering for a case it does not handle: the node falls back to the host interpreter. */
export class Unsupported extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export function unsupported(reason: string): never {
  throw new Unsupported(reason);
}

const LOWERINGS = new Map<string, OpLowering>();

/** Registers lowerings by op name (and domain); names are checked against the op table. */
export function registerLowerings(lowerings: Record<string, OpLowering>, domain = ''): void {
  for (const [op, l] of Object.entries(lowerings)) {
    if (!opTraits(op, domain)) throw new Error(`registerLowerings: '${opKey(op, domain)}' is not in the op table (src/ir/ops.ts)`);
    if (LOWERINGS.has(opKey(op, domain))) throw new Error(`registerLowerings: '${opKey(op, domain)}' registered twice`);
    LOWERINGS.set(opKey(op, domain), l);
  }
}

export function getLowering(op: string, domain = ''): OpLowering | undefined {
  return LOWERINGS.get(opKey(op, domain));
}

export function loweredOps(): string[] {
  return [...LOWERINGS.keys()].sort();
}

// ---------------------------------------------------------------------------------------------------
// Launch geometry helpers (one place, so every family agrees)

export const BLOCK = 256;
/** a 1-D launch covering n elements with a grid-stride loop (grid capped; the loop covers the rest) */
export function grid1d(n: number, block = BLOCK): { grid: [number, number, number]; block: [number, number, number] } {
  const blocks = Math.max(1, Math.min(Math.ceil(n / block), 65535 * 8));
  return { grid: [blocks, 1, 1], block: [block, 1, 1] };
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** row-major strides of a shape */
export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

/** strides that read `shape` broadcast to `out` (numpy rules; 0 for broadcast dims) */
export function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const r = out.length;
  const off = r - shape.length;
  return out.map((_, d) => {
    const k = d - off;
    if (k < 0) return 0;
    return shape[k] === 1 && out[d] !== 1 ? 0 : own[k];
  });
}

export const a64 = (v: number | bigint): KernelArg => ({ kind: 'i64', value: BigInt(v) });
export const a32 = (v: number): KernelArg => ({ kind: 'i32', value: v });
export const af32 = (v: number): KernelArg => ({ kind: 'f32', value: v });
export const af64 = (v: number): KernelArg => ({ kind: 'f64', value: v });

/**
 * Checks a launch against its kernel's signature: argument count, pointer/scalar kinds, block size.
 * Returns a list of problems (empty when the launch is well-formed). The planner refuses bad launches.
 */
export function checkLaunch(l: Launch, io: { inputs: number; outputs: number; scratch: number }): string[] {
  const errs: string[] = [];
  const ps = l.kernel.params;
  if (l.args.length !== ps.length) errs.push(`${l.kernel.name}: ${l.args.length} arguments for ${ps.length} parameters`);
  l.args.forEach((a, i) => {
    const p = ps[i];
    if (!p) return;
    if ('tmap' in a) {
      if (p.kind !== 'ptr') errs.push(`${l.kernel.name}: parameter ${p.name} is ${p.kind}, argument ${i} is a tensor map`);
      for (const e of checkTensorMap(a.tmap)) errs.push(`${l.kernel.name}: tensor map argument ${i}: ${e}`);
      const o = a.tmap.of;
      if ('in' in o && (o.in < 0 || o.in >= io.inputs)) errs.push(`${l.kernel.name}: tensor map ${i} refers to input ${o.in} of ${io.inputs}`);
      if ('out' in o && (o.out < 0 || o.out >= io.outputs)) errs.push(`${l.kernel.name}: tensor map ${i} refers to output ${o.out} of ${io.outputs}`);
      if ('scratch' in o && (o.scratch < 0 || o.scratch >= io.scratch)) errs.push(`${l.kernel.name}: tensor map ${i} refers to scratch ${o.scratch} of ${io.scratch}`);
      return;
    }
    const isRef = 'in' in a || 'out' in a || 'scratch' in a;
    if (p.kind === 'ptr') {
      if (!isRef && (a as KernelArg).kind !== 'ptr') errs.push(`${l.kernel.name}: parameter ${p.name} is a pointer, argument ${i} is ${(a as KernelArg).kind}`);
      if ('in' in a && (a.in < 0 || a.in >= io.inputs)) errs.push(`${l.kernel.name}: argument ${i} refers to input ${a.in} of ${io.inputs}`);
      if ('out' in a && (a.out < 0 || a.out >= io.outputs)) errs.push(`${l.kernel.name}: argument ${i} refers to output ${a.out} of ${io.outputs}`);
      if ('scratch' in a && (a.scratch < 0 || a.scratch >= io.scratch)) errs.push(`${l.kernel.name}: argument ${i} refers to scratch ${a.scratch} of ${io.scratch}`);
    } else if (isRef || (a as KernelArg).kind !== p.kind) {
      errs.push(`${l.kernel.name}: parameter ${p.name} is ${p.kind}, argument ${i} is ${isRef ? 'a buffer' : (a as KernelArg).kind}`);
    }
  });
  const threads = l.block[0] * l.block[1] * l.block[2];
  if (threads < 1 || threads > l.kernel.maxThreads) errs.push(`${l.kernel.name}: block of ${threads} threads, kernel written for at most ${l.kernel.maxThreads}`);
  if (l.grid.some((g) => !Number.isInteger(g) || g < 1) || l.grid[1] > 65535 || l.grid[2] > 65535 || l.grid[0] > 2 ** 31 - 1) errs.push(`${l.kernel.name}: bad grid ${l.grid.join('x')}`);
  return errs;
}
