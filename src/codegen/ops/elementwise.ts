/**
 * Fused elementwise kernels: a group of elementwise/broadcast nodes (any length, a DAG) becomes one
 * kernel that reads each external input once per output element (through broadcast strides), computes
 * the chain in registers in the math types (fp16/bf16 → fp32) and writes every group output.
 *
 * Three variants per group, all built for every group so any shape runs without a new compile:
 * - generic: per-input strides over the output coordinates (any broadcast);
 * - flat:    every input is either the full tensor (stride 1) or a single element (stride 0);
 * - vec:     flat, with 16-byte loads and stores (n divisible by the vector width, 16-byte aligned).
 */
import type { Node } from '../../ir/graph.js';
import type { DType } from '../../ir/dtype.js';
import { deviceType, dt, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, broadcastStrides, elementCount, grid1d, type ArgRef, type Launch, type Lowered, type TensorDesc } from '../lowering.js';
import { EW_HELPERS, EW_TABLE, type EwContext } from './ew-table.js';

export interface ElementwiseGroup {
  /** member nodes in topological order */
  nodes: readonly Node[];
  /** values read from outside the group, in argument order */
  inputs: readonly string[];
  /** member values written to memory, in argument order */
  outputs: readonly string[];
}

/** Why `node` cannot be an elementwise kernel member with these operand/result dtypes (undefined = it can). */
export function elementwiseReject(node: Node, ins: readonly (DType | undefined)[], out: DType | undefined): string | undefined {
  if (node.domain !== '' || node.outputs.length !== 1) return 'not a single-output ONNX op';
  const rule = EW_TABLE[node.op];
  if (!rule) return `${node.op} is not an elementwise kernel op`;
  if (!out || !deviceType(out)) return `result dtype ${out ?? '?'} has no device type`;
  for (const d of ins) if (d !== undefined && !deviceType(d)) return `operand dtype ${d} has no device type`;
  return rule.reject?.(ctxOf(node, ins, out));
}

function ctxOf(node: Node, ins: readonly (DType | undefined)[], out: DType): EwContext {
  return { node, ins: ins.map((d) => (d ? dt(d) : undefined)), out: dt(out) };
}

type Variant = 'generic' | 'flat' | 'vec';

/** The three kernels of a group for these dtypes and output rank (text independent of dims). */
export function elementwiseKernels(g: ElementwiseGroup, types: ReadonlyMap<string, TensorDesc>, rank: number): Record<Variant, KernelSource> {
  return {
    generic: build(g, types, rank, 'generic'),
    flat: build(g, types, rank, 'flat'),
    vec: build(g, types, rank, 'vec'),
  };
}

/** vector width in elements: 16 bytes of the narrowest tensor the group touches */
function vecWidth(g: ElementwiseGroup, types: ReadonlyMap<string, TensorDesc>): number {
  const bytes = [...g.inputs, ...g.outputs].map((v) => dt(types.get(v)!.dtype).bytes);
  return 16 / Math.min(...bytes);
}

function build(g: ElementwiseGroup, types: ReadonlyMap<string, TensorDesc>, rank: number, variant: Variant): KernelSource {
  const b = new KernelBuilder('ew');
  b.helpers(EW_HELPERS);
  const inT = g.inputs.map((v) => dt(types.get(v)!.dtype));
  const outT = g.outputs.map((v) => dt(types.get(v)!.dtype));
  const ins = g.inputs.map((_, k) => b.input(`in${k}`, inT[k].storage));
  const outs = g.outputs.map((_, k) => b.output(`out${k}`, outT[k].storage));
  const n = b.i64('n');
  // the chain, as statements computing each member value from operand expressions
  const chain = (operand: (k: number) => string): string[] => {
    const lines: string[] = [];
    const local = new Map<string, string>();
    g.inputs.forEach((v, k) => local.set(v, operand(k)));
    g.nodes.forEach((node, j) => {
      const inTypes = node.inputs.map((v) => (v ? types.get(v)?.dtype : undefined));
      const outType = types.get(node.outputs[0])!.dtype;
      const c = ctxOf(node, inTypes, outType);
      const args = node.inputs.map((v) => (v ? local.get(v)! : ''));
      const name = `v${j}`;
      lines.push(`const ${c.out.math} ${name} = ${EW_TABLE[node.op].expr(args, c)};`);
      local.set(node.outputs[0], name);
    });
    return [...lines, ...g.outputs.map((v, k) => `@${k}=${local.get(v)!}`)];
  };
  const emit = (lines: string[], store: (k: number, e: string) => string) => {
    for (const l of lines) {
      const m = /^@(\d+)=(.*)$/.exec(l);
      b.line(m ? store(Number(m[1]), m[2]) : l);
    }
  };
  if (variant === 'generic') {
    const dims = b.i64s('d', rank);
    const strides = g.inputs.map((_, k) => b.i64s(`s${k}_`, rank));
    b.gridStride(n, () => {
      b.line('long long rem = i;');
      g.inputs.forEach((_, k) => b.line(`long long o${k} = 0;`));
      for (let d = rank - 1; d >= 0; d--) {
        b.line(d > 0 ? `{ long long c = rem % ${dims[d]}; rem /= ${dims[d]};` : '{ long long c = rem;');
        g.inputs.forEach((_, k) => b.line(`  o${k} += c * ${strides[k][d]};`));
        b.line('}');
      }
      emit(chain((k) => inT[k].load(`${ins[k]}[o${k}]`)), (k, e) => `${outs[k]}[i] = ${outT[k].store(e)};`);
    });
  } else if (variant === 'flat') {
    const strides = g.inputs.map((_, k) => b.i64(`s${k}`));
    b.gridStride(n, () => {
      emit(chain((k) => inT[k].load(`${ins[k]}[i * ${strides[k]}]`)), (k, e) => `${outs[k]}[i] = ${outT[k].store(e)};`);
    });
  } else {
    const V = vecWidth(g, types);
    const strides = g.inputs.map((_, k) => b.i64(`s${k}`));
    const copy16 = (dst: string, src: string, t: DeviceType) => {
      const per = 16 / t.bytes;
      const lines: string[] = [];
      for (let j = 0; j < V; j += per) lines.push(`*reinterpret_cast<uint4*>(${dst} + ${j}) = *reinterpret_cast<const uint4*>(${src} + ${j});`);
      return lines;
    };
    b.gridStride(`${n} / ${V}`, () => {
      b.line(`const long long base = i * ${V};`);
      g.inputs.forEach((_, k) => {
        b.line(`__align__(16) ${inT[k].storage} x${k}[${V}];`);
        b.block(`if (${strides[k]} != 0)`, () => b.line(...copy16(`x${k}`, `${ins[k]} + base`, inT[k])));
        b.block('else', () => b.line(`#pragma unroll`, `for (int j = 0; j < ${V}; j++) x${k}[j] = ${ins[k]}[0];`));
      });
      g.outputs.forEach((_, k) => b.line(`__align__(16) ${outT[k].storage} y${k}[${V}];`));
      b.line('#pragma unroll');
      b.block(`for (int j = 0; j < ${V}; j++)`, () => emit(chain((k) => inT[k].load(`x${k}[j]`)), (k, e) => `y${k}[j] = ${outT[k].store(e)};`));
      g.outputs.forEach((_, k) => b.line(...copy16(`${outs[k]} + base`, `y${k}`, outT[k])));
    });
  }
  return b.build();
}

/**
 * Lowers a group for concrete shapes. `types` holds the concrete type of every value the group touches;
 * all outputs share one shape (the group's), inputs broadcast to it. `aligned(k)` says whether external
 * input k's device address is 16-byte aligned (outputs always are: the planner aligns allocations).
 */
export function lowerElementwiseGroup(g: ElementwiseGroup, types: ReadonlyMap<string, TensorDesc>, aligned: (k: number) => boolean = () => true): Lowered & { variants: KernelSource[] } {
  const outShape = types.get(g.outputs[0])!.shape;
  const rank = outShape.length;
  const ks = elementwiseKernels(g, types, rank);
  const variants = [ks.generic, ks.flat, ks.vec];
  const n = elementCount(outShape);
  if (n === 0) return { launches: [], variants };
  const strides = g.inputs.map((v) => broadcastStrides(types.get(v)!.shape, outShape));
  const sizes = g.inputs.map((v) => elementCount(types.get(v)!.shape));
  const ptrs: ArgRef[] = [...g.inputs.map((_, k) => ({ in: k })), ...g.outputs.map((_, k) => ({ out: k }))];
  const flat = sizes.every((s) => s === n || s === 1);
  let launch: Launch;
  if (flat) {
    const V = vecWidth(g, types);
    const flatStrides = sizes.map((s) => a64(s === 1 ? 0 : 1));
    if (n % V === 0 && g.inputs.every((_, k) => sizes[k] === 1 || aligned(k))) {
      launch = { kernel: ks.vec, ...grid1d(n / V), args: [...ptrs, a64(n), ...flatStrides] };
    } else {
      launch = { kernel: ks.flat, ...grid1d(n), args: [...ptrs, a64(n), ...flatStrides] };
    }
  } else {
    launch = { kernel: ks.generic, ...grid1d(n), args: [...ptrs, a64(n), ...outShape.map(a64), ...strides.flatMap((s) => s.map(a64))] };
  }
  return { launches: [launch], variants };
}
