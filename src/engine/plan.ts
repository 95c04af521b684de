/**
 * The planner: turns a model plus the concrete shapes of one run (a "signature") into a Plan, the
 * ordered list of device steps (kernel launches) and host steps (reference-interpreter fallbacks).
 *
 * Walking the units in order (partition.ts), each unit becomes one of:
 * - folded: every input is known on the host at plan time (initializers, Shape of anything, shape-like
 *   feeds) and the node is deterministic and small → evaluated now; its outputs are plan constants.
 * - device: a registered lowering (src/codegen) produced launches for the concrete shapes;
 * - host: anything else (no lowering, `unsupported(...)`, non-device dtypes, sequences) → the reference
 *   kernel at run time, inputs downloaded and outputs uploaded. Its reason is recorded.
 *
 * Shapes come from the registered shape functions, run with concrete types (node-shapes.ts). When an
 * output's shape depends on data (NonZero, Unique, a Loop's trip count, ...) the plan cannot be made
 * ahead of the data: planning throws DynamicShapes and the engine runs that signature eagerly, planning
 * each unit with the data at hand (the same decisions, executed as they are made).
 */
import type { Graph, Model, Node, ValueType } from '../ir/graph.js';
import type { DType } from '../ir/dtype.js';
import { Tensor } from '../ir/tensor.js';
import { opTraits, canonicalDomain } from '../ir/ops.js';
import { ChimeraError, asChimeraError } from '../errors.js';
import type { RuntimeValue } from '../ref/kernel.js';
import { nodeReads } from '../ref/interpreter.js';
import type { KernelArg } from '../runtime/args.js';
import { deviceType } from '../codegen/dtypes.js';
import type { KernelSource } from '../codegen/kernel-ir.js';
import { checkLaunch, getLowering, Unsupported, type ArgRef, type LibraryGemm, type LowerContext, type Lowered, type TensorDesc, type TensorMapSpec } from '../codegen/lowering.js';
import { elementwiseReject, lowerElementwiseGroup, type ElementwiseGroup } from '../codegen/ops/elementwise.js';
import { lowerGemmWithEpilogue } from '../codegen/ops/matmul.js';
import { lowerConvIgemm } from '../codegen/ops/conv-igemm.js';
import { lowerNormWithPreAdd } from '../codegen/ops/norm.js';
import '../codegen/ops/index.js';
import { EW_TABLE } from '../codegen/ops/ew-table.js';
import { concreteOutputTypes, type NodeInputInfo } from './node-shapes.js';
import { runNodeOnHost } from './host-node.js';
import type { GemmEpilogueFusion, NormAddFusion, Unit } from './partition.js';

/** Signatures whose plans (and CUDA graphs) an engine keeps; older ones are re-planned when they recur. */
export const MAX_PLANS = 64;

/** Outputs larger than this are not folded at plan time (they are computed on the device). */
const FOLD_LIMIT = 1 << 20;

export interface PlanValue {
  name: string;
  type?: ValueType;
  /** tensor dtype and concrete shape (undefined for sequences and other host-only values) */
  dtype?: DType;
  shape?: number[];
  bytes: number;
  /** const: known when planning; device: produced on the device or fed; host: produced by a host step */
  place: 'const' | 'device' | 'host';
  /** the value at plan time (const values) */
  host?: RuntimeValue;
  /** a view of another value's device memory (the root) */
  aliasOf?: string;
  /** some device step reads it: it needs a device copy */
  onDevice: boolean;
  /** it is a graph input fed by the caller */
  feed?: boolean;
}

export type PlanArg = KernelArg | { buf: string; byteOffset: number } | { tmap: PlanTensorMap };
/** A tensor-map argument with its operand resolved to a plan value (encoded by the executor). */
export type PlanTensorMap = Omit<TensorMapSpec, 'of'> & { buf: string; byteOffset: number };

export interface PlannedLaunch {
  kernel: KernelSource;
  grid: [number, number, number];
  block: [number, number, number];
  sharedBytes: number;
  args: PlanArg[];
  /** a library call the executor may use instead of this launch and the next library.replaces - 1 */
  library?: LibraryGemm;
}

export interface DeviceStep {
  kind: 'device';
  label: string;
  nodes: readonly Node[];
  launches: PlannedLaunch[];
  reads: string[];
  writes: string[];
}

export interface HostStep {
  kind: 'host';
  label: string;
  node: Node;
  reads: string[];
  writes: string[];
  reason: string;
}

export type Step = DeviceStep | HostStep;

export interface Plan {
  key: string;
  steps: Step[];
  values: Map<string, PlanValue>;
  outputs: string[];
  /** every kernel the plan launches, plus the variants its lowerings declared */
  kernels: Map<string, KernelSource>;
}

export class DynamicShapes extends Error {
  constructor(readonly node: string, readonly detail: string) {
    super(`the shapes after ${node} depend on data (${detail})`);
  }
}

export interface PlanInput {
  model: Model;
  units: readonly Unit[];
  /** values whose contents must be known on the host (shape-like inputs and what they are computed from) */
  hostValues: ReadonlySet<string>;
  /** concrete types of the feeds */
  feedTypes: Map<string, ValueType>;
  /** contents of feeds that are host values (part of the signature) */
  feedValues: Map<string, RuntimeValue>;
  key: string;
  /** target compute capability (major*10+minor) for architecture-specific kernels; undefined: portable only */
  arch?: number;
}

/** Called in eager mode after each step is decided: executes it and returns host-step results. */
export type EagerHook = (step: Step, plan: Plan) => RuntimeValue[] | void;

const bytesOf = (dtype: DType | undefined, shape: number[] | undefined): number => {
  if (!dtype || !shape) return 0;
  const t = deviceType(dtype);
  return t ? t.bytes * shape.reduce((a, b) => a * b, 1) : 0;
};

function tensorInfo(t: ValueType | undefined): { dtype?: DType; shape?: number[] } {
  if (t?.kind !== 'tensor' || !t.shape || !t.shape.every((d) => typeof d === 'number')) return {};
  return { dtype: t.dtype, shape: t.shape as number[] };
}

function typeOfRuntime(v: RuntimeValue | undefined): ValueType | undefined {
  if (v instanceof Tensor) return { kind: 'tensor', dtype: v.dtype, shape: [...v.shape] };
  if (v === null) return { kind: 'optional' };
  if (v) return { kind: 'sequence' };
  return undefined;
}

export class Planner {
  readonly plan: Plan;
  private readonly g: Graph;

  constructor(private readonly input: PlanInput, private readonly eager?: EagerHook) {
    this.g = input.model.graph;
    this.plan = { key: input.key, steps: [], values: new Map(), outputs: this.g.outputs.map((o) => o.name), kernels: new Map() };
  }

  run(): Plan {
    const { g } = this;
    for (const [name, t] of g.initializers) this.define({ name, ...this.tensorFields(t), place: 'const', host: t, onDevice: false });
    for (const v of g.inputs) {
      if (g.initializers.has(v.name)) continue;
      const type = this.input.feedTypes.get(v.name);
      if (!type) throw new ChimeraError('E_USAGE', `input '${v.name}' was not given`, { file: this.input.model.path });
      const host = this.input.feedValues.get(v.name);
      const info = tensorInfo(type);
      const hostOnly = !info.dtype || !deviceType(info.dtype);
      this.define({ name: v.name, type, ...info, bytes: bytesOf(info.dtype, info.shape), place: host !== undefined ? 'const' : hostOnly ? 'host' : 'device', host, onDevice: false, feed: true });
    }
    for (const u of this.input.units) {
      if (u.kind === 'ew') this.group(u.group);
      else if (u.kind === 'gemm-epilogue') this.gemmEpilogue(u.fused);
      else if (u.kind === 'norm-add') this.normAdd(u.fused);
      else this.node(u.node);
    }
    for (const o of this.plan.outputs) if (!this.plan.values.has(o)) throw new ChimeraError('E_INVALID_MODEL', `graph output '${o}' is never produced`, { file: this.input.model.path });
    return this.plan;
  }

  private tensorFields(t: Tensor): Pick<PlanValue, 'type' | 'dtype' | 'shape' | 'bytes'> {
    const shape = [...t.shape];
    return { type: { kind: 'tensor', dtype: t.dtype, shape }, dtype: t.dtype, shape, bytes: bytesOf(t.dtype, shape) };
  }

  private define(v: PlanValue): void {
    this.plan.values.set(v.name, v);
  }

  private value(name: string, node: Node): PlanValue {
    const v = this.plan.values.get(name);
    if (!v) throw new ChimeraError('E_INVALID_MODEL', `input '${name}' is not defined before use`, { file: this.input.model.path, node: node.label });
    return v;
  }

  private opset(node: Node): number {
    return this.input.model.opsets.get(canonicalDomain(node.domain)) ?? (node.domain ? 1 : 23);
  }

  private inputInfo(node: Node): (NodeInputInfo | undefined)[] {
    return node.inputs.map((name) => {
      if (!name) return undefined;
      const v = this.value(name, node);
      return { type: v.type, host: v.host instanceof Tensor ? v.host : undefined };
    });
  }

  private node(node: Node): void {
    const reads = [...new Set(nodeReads(node))].map((r) => this.value(r, node));
    // 1. fold: everything it reads is known now
    const traits = opTraits(node.op, node.domain);
    if (reads.every((v) => v.place === 'const') && !traits?.random && traits?.fusion !== 'control') {
      const types = concreteOutputTypes(node, this.opset(node), this.inputInfo(node), this.input.model.path);
      const small = types.every((t) => t?.kind !== "tensor" || t.shape!.reduce((a: number, d) => a * (d as number), 1) <= FOLD_LIMIT);
      if (small || node.outputs.some((o) => this.input.hostValues.has(o))) {
        const outs = this.hostRun(node);
        node.outputs.forEach((o, i) => {
          if (!o) return;
          const t = outs[i];
          const fields = t instanceof Tensor ? this.tensorFields(t) : { type: typeOfRuntime(t ?? undefined), bytes: 0 };
          this.define({ name: o, ...fields, place: 'const', host: t ?? null, onDevice: false });
        });
        return;
      }
    }
    // Shape and Size need only the shape
    if ((node.op === 'Shape' || node.op === 'Size') && node.domain === '' && reads[0]?.shape) {
      const t = node.op === 'Shape' ? shapeTensor(node, reads[0].shape) : Tensor.from('int64', [], [reads[0].shape.reduce((a, b) => a * b, 1)]);
      this.define({ name: node.outputs[0], ...this.tensorFields(t), place: 'const', host: t, onDevice: false });
      return;
    }
    const types = concreteOutputTypes(node, this.opset(node), this.inputInfo(node), this.input.model.path);
    // 2. device lowering
    const reason = this.tryDevice(node, types);
    if (reason === undefined) return;
    // 3. host fallback
    this.hostStep(node, types, reason);
  }

  /** Runs `node` on the host now with plan-time values (fold). */
  private hostRun(node: Node): RuntimeValue[] {
    try {
      return runNodeOnHost(this.input.model, node, (name) => this.plan.values.get(name)?.host);
    } catch (e) {
      throw asChimeraError(e, 'E_RUNTIME', { file: this.input.model.path, node: node.label });
    }
  }

  private tryDevice(node: Node, types: (ValueType | undefined)[]): string | undefined {
    const lowering = getLowering(node.op, node.domain);
    if (!lowering) {
      const dtypeOf = (v: string) => (v ? this.plan.values.get(v)?.dtype : undefined);
      const why = node.domain === '' && node.outputs.length === 1 && EW_TABLE[node.op] ? elementwiseReject(node, node.inputs.map(dtypeOf), dtypeOf(node.outputs[0]) ?? tensorInfo(types[0]).dtype) : undefined;
      return why && !why.startsWith(`${node.op} is not an elementwise`) ? why : `no GPU lowering for ${node.op}`;
    }
    if ([...node.subgraphs()].length) return 'has subgraphs';
    const host = new Set(lowering.hostInputs ?? []);
    const inputs: (TensorDesc | undefined)[] = [];
    for (let i = 0; i < node.inputs.length; i++) {
      const name = node.inputs[i];
      if (!name) {
        inputs.push(undefined);
        continue;
      }
      const v = this.value(name, node);
      if (host.has(i) && !(v.host instanceof Tensor)) return `input ${i} (${name}) must be known on the host when planning`;
      if (!v.dtype || !v.shape) return `input ${i} (${name}) is not a tensor of known shape`;
      if (!host.has(i) && !deviceType(v.dtype)) return `input ${i} has dtype ${v.dtype}, which has no device type`;
      inputs.push({ dtype: v.dtype, shape: v.shape });
    }
    const outputs: TensorDesc[] = [];
    for (let i = 0; i < node.outputs.length; i++) {
      const t = types[i];
      if (!node.outputs[i]) {
        outputs.push({ dtype: 'float32', shape: [] });
        continue;
      }
      const info = tensorInfo(t);
      if (!info.dtype || !info.shape) {
        if ((!t || t.kind === 'tensor') && !this.eager) this.dynamic(node, `output ${i} has no concrete shape`);
        return t && t.kind !== 'tensor' ? `output ${i} is not a tensor` : `output ${i}'s shape depends on data`;
      }
      if (!deviceType(info.dtype)) return `output ${i} has dtype ${info.dtype}, which has no device type`;
      outputs.push({ dtype: info.dtype, shape: info.shape });
    }
    let lowered: Lowered;
    try {
      lowered = lowering.lower({
        node, inputs, outputs, arch: this.input.arch,
        hostValue: (i) => {
          const v = node.inputs[i] ? this.plan.values.get(node.inputs[i]) : undefined;
          return v?.host instanceof Tensor ? v.host : undefined;
        },
      });
    } catch (e) {
      if (e instanceof Unsupported) return e.reason;
      throw asChimeraError(e, 'E_INTERNAL', { file: this.input.model.path, node: node.label, field: 'GPU lowering' });
    }
    const inNames = node.inputs;
    const outNames = node.outputs;
    this.emitDevice(node.label, [node], lowered, inNames, outNames, outputs);
    return undefined;
  }

  private group(group: ElementwiseGroup): void {
    if (group.outputs.length === 0) return;
    const label = group.nodes.length === 1 ? group.nodes[0].label : `${group.nodes[0].label}..${group.nodes[group.nodes.length - 1].label} (${group.nodes.length} fused)`;
    // all operands const → fold node by node
    const types = new Map<string, TensorDesc>();
    const allConst = group.inputs.every((v) => this.value(v, group.nodes[0]).place === 'const');
    for (const v of group.inputs) {
      const pv = this.value(v, group.nodes[0]);
      if (pv.dtype && pv.shape) types.set(v, { dtype: pv.dtype, shape: pv.shape });
    }
    let split = allConst || group.inputs.some((v) => !types.has(v) || this.plan.values.get(v)!.place === 'host' && !deviceType(types.get(v)!.dtype));
    const memberTypes = new Map<Node, ValueType | undefined>();
    if (!split) {
      // concrete member types, computed in order
      const local = new Map<string, ValueType>();
      for (const n of group.nodes) {
        const ins = n.inputs.map((name) => {
          if (!name) return undefined;
          const t = local.get(name) ?? this.value(name, n).type;
          const pv = this.plan.values.get(name);
          return { type: t, host: pv?.host instanceof Tensor ? pv.host : undefined };
        });
        const t = concreteOutputTypes(n, this.opset(n), ins, this.input.model.path)[0];
        const info = tensorInfo(t);
        if (!info.dtype || !info.shape) {
          split = true;
          break;
        }
        local.set(n.outputs[0], t!);
        memberTypes.set(n, t);
        types.set(n.outputs[0], { dtype: info.dtype, shape: info.shape });
      }
      if (!split) {
        const out = types.get(group.outputs[0])!.shape;
        const sameShape = (s: readonly number[]) => s.length === out.length && s.every((d, k) => d === out[k]);
        split = !group.nodes.every((n) => sameShape(types.get(n.outputs[0])!.shape));
      }
    }
    if (split) {
      // run member by member (each a group of one, or folded / host)
      for (const n of group.nodes) {
        const reads = n.inputs.filter((x) => x).map((x) => this.value(x, n));
        if (reads.every((v) => v.place === 'const')) {
          this.node(n);
          continue;
        }
        const single: ElementwiseGroup = { nodes: [n], inputs: [...new Set(n.inputs.filter((x) => x))], outputs: [n.outputs[0]] };
        if (group.nodes.length > 1) this.group(single);
        else this.node(n);
      }
      return;
    }
    const lowered = lowerElementwiseGroup(group, types);
    const outDescs = group.outputs.map((v) => types.get(v)!);
    this.emitDevice(label, group.nodes, lowered, group.inputs, group.outputs, outDescs);
  }

  /** label of a fused step: the first and last member (as the elementwise groups) */
  private fusedLabel(nodes: readonly Node[]): string {
    return nodes.length === 1 ? nodes[0].label : `${nodes[0].label}..${nodes[nodes.length - 1].label} (${nodes.length} fused)`;
  }

  /** runs the members of a fused unit one by one (elementwise members as groups of one) */
  private splitUnit(nodes: readonly Node[]): void {
    for (const n of nodes) {
      const reads = n.inputs.filter((x) => x).map((x) => this.value(x, n));
      const dt = (v: string) => (v ? this.plan.values.get(v)?.dtype : undefined);
      const ew = n.outputs.length === 1 && !this.input.hostValues.has(n.outputs[0]) &&
        elementwiseReject(n, n.inputs.map(dt), tensorInfo(n.outputs[0] ? this.g.typeOf(n.outputs[0]) : undefined).dtype ?? dt(n.inputs[0])) === undefined;
      if (!ew || reads.every((v) => v.place === 'const')) this.node(n);
      else this.group({ nodes: [n], inputs: [...new Set(n.inputs.filter((x) => x))], outputs: [n.outputs[0]] });
    }
  }

  /**
   * Concrete output types of `nodes` run in order (local values feed later members), or undefined when an
   * input is not a device tensor of known shape or a member's shape is not concrete.
   */
  private memberTypes(nodes: readonly Node[], inputs: readonly string[]): Map<string, TensorDesc> | undefined {
    const types = new Map<string, TensorDesc>();
    for (const v of inputs) {
      if (!v) continue;
      const pv = this.value(v, nodes[0]);
      if (!pv.dtype || !pv.shape || !deviceType(pv.dtype) || pv.place === 'host') return undefined;
      types.set(v, { dtype: pv.dtype, shape: pv.shape });
    }
    const local = new Map<string, ValueType>();
    for (const n of nodes) {
      const ins = n.inputs.map((name) => {
        if (!name) return undefined;
        const pv = this.plan.values.get(name);
        return { type: local.get(name) ?? pv?.type, host: pv?.host instanceof Tensor ? pv.host : undefined };
      });
      const ts = concreteOutputTypes(n, this.opset(n), ins, this.input.model.path);
      for (let k = 0; k < n.outputs.length; k++) {
        if (!n.outputs[k]) continue;
        const info = tensorInfo(ts[k]);
        if (!info.dtype || !info.shape || !deviceType(info.dtype)) return undefined;
        local.set(n.outputs[k], ts[k]!);
        types.set(n.outputs[k], { dtype: info.dtype, shape: info.shape });
      }
    }
    return types;
  }

  /** A GEMM with its fused epilogue (epilogue.ts): one lowering, or the members one by one when it does not fit. */
  private gemmEpilogue(f: GemmEpilogueFusion): void {
    const inputs = f.inputs.filter((v) => v);
    const allConst = inputs.every((v) => this.value(v, f.anchor).place === 'const');
    const types = allConst ? undefined : this.memberTypes(f.nodes, inputs);
    const product = types?.get(f.anchor.outputs[0]);
    const out = types?.get(f.output);
    // every member keeps the product's elements (dtype, count and column axis; Reshapes may regroup the rows)
    const count = (t: TensorDesc) => t.shape.reduce((x, y) => x * y, 1);
    const last = (t: TensorDesc) => (t.shape.length ? t.shape[t.shape.length - 1] : 1);
    const same = (a: TensorDesc, b: TensorDesc) => a.dtype === b.dtype && count(a) === count(b) && last(a) === last(b);
    if (!types || !product || !out || !f.nodes.every((n) => same(types.get(n.outputs[0])!, product))) {
      this.splitUnit(f.nodes);
      return;
    }
    let lowered: Lowered;
    try {
      const ctx: LowerContext = {
        node: f.anchor, arch: this.input.arch,
        inputs: f.inputs.map((v) => (v ? types.get(v) : undefined)),
        outputs: [out],
        hostValue: (i) => {
          const v = f.inputs[i] ? this.plan.values.get(f.inputs[i]) : undefined;
          return v?.host instanceof Tensor ? v.host : undefined;
        },
      };
      lowered = f.anchor.op === 'Conv'
        ? lowerConvIgemm(ctx, { act: f.act === 'relu' ? 'relu' : 'none', residualInput: f.residualIndex, actAfterResidual: !!f.actAfterResidual })
        : lowerGemmWithEpilogue(ctx, { act: f.act, bias: f.biasIndex, residual: f.residualIndex });
    } catch (e) {
      if (e instanceof Unsupported) {
        this.splitUnit(f.nodes);
        return;
      }
      throw asChimeraError(e, 'E_INTERNAL', { file: this.input.model.path, node: f.anchor.label, field: 'GPU lowering (fused epilogue)' });
    }
    this.emitDevice(this.fusedLabel(f.nodes), f.nodes, lowered, f.inputs, [f.output], [out]);
  }

  /** A residual Add fused into the normalization reading it (epilogue.ts), or the two nodes when it does not fit. */
  private normAdd(f: NormAddFusion): void {
    const [, , , a, b] = f.inputs;
    const ins = [a, b, f.inputs[1], f.inputs[2]].filter((v) => v);
    const allConst = ins.every((v) => this.value(v, f.add).place === 'const');
    const types = allConst ? undefined : this.memberTypes(f.nodes, ins);
    const outputs: TensorDesc[] = f.outputs.map((v) => (v ? types?.get(v) : undefined) ?? { dtype: 'float32', shape: [] });
    if (!types || !f.outputs.every((v) => !v || types.has(v))) {
      this.splitUnit(f.nodes);
      return;
    }
    let lowered: Lowered;
    try {
      lowered = lowerNormWithPreAdd({
        node: f.norm, arch: this.input.arch,
        inputs: f.inputs.map((v) => (v ? types.get(v) : undefined)),
        outputs,
        hostValue: (i) => {
          const v = i > 0 && f.inputs[i] ? this.plan.values.get(f.inputs[i]) : undefined;
          return v?.host instanceof Tensor ? v.host : undefined;
        },
      }, { a: 3, b: 4, sum: f.sum ? 3 : undefined });
    } catch (e) {
      if (e instanceof Unsupported) {
        this.splitUnit(f.nodes);
        return;
      }
      throw asChimeraError(e, 'E_INTERNAL', { file: this.input.model.path, node: f.norm.label, field: 'GPU lowering (fused pre-add)' });
    }
    this.emitDevice(this.fusedLabel(f.nodes), f.nodes, lowered, f.inputs, f.outputs, outputs);
  }

  private emitDevice(label: string, nodes: readonly Node[], lowered: Lowered, inNames: readonly string[], outNames: readonly string[], outDescs: readonly TensorDesc[]): void {
    const stepIndex = this.plan.steps.length;
    const scratchNames = (lowered.scratch ?? []).map((bytes, k) => {
      const name = `%scratch${stepIndex}_${k}`;
      this.define({ name, bytes, place: 'device', onDevice: true });
      return name;
    });
    const aliasOut = new Map((lowered.aliases ?? []).map((a) => [a.output, a.input]));
    // outputs
    outNames.forEach((name, i) => {
      if (!name) return;
      const d = outDescs[i];
      const src = aliasOut.get(i);
      if (src !== undefined) {
        const root = this.value(inNames[src], nodes[0]);
        if (root.place === 'const' && root.host instanceof Tensor) {
          const t = new Tensor(root.host.dtype, d.shape, root.host.data);
          this.define({ name, ...this.tensorFields(t), place: 'const', host: t, onDevice: false });
        } else {
          this.define({ name, type: { kind: 'tensor', dtype: d.dtype, shape: [...d.shape] }, dtype: d.dtype, shape: [...d.shape], bytes: bytesOf(d.dtype, [...d.shape]), place: root.place, aliasOf: root.aliasOf ?? root.name, onDevice: false });
        }
      } else {
        this.define({ name, type: { kind: 'tensor', dtype: d.dtype, shape: [...d.shape] }, dtype: d.dtype, shape: [...d.shape], bytes: bytesOf(d.dtype, [...d.shape]), place: 'device', onDevice: true });
      }
    });
    if (lowered.launches.length === 0) return;
    const reads = new Set<string>();
    const writes = new Set<string>();
    const launches: PlannedLaunch[] = lowered.launches.map((l) => {
      const problems = checkLaunch(l, { inputs: inNames.length, outputs: outNames.length, scratch: scratchNames.length });
      if (problems.length) throw new ChimeraError('E_INTERNAL', `bad launch from the GPU lowering: ${problems.join('; ')}`, { file: this.input.model.path, node: label });
      this.plan.kernels.set(l.kernel.name, l.kernel);
      const resolve = (a: ArgRef): PlanArg => {
        if ('tmap' in a) {
          const { of, ...rest } = a.tmap;
          const r = resolve(of) as { buf: string; byteOffset: number };
          return { tmap: { ...rest, buf: r.buf, byteOffset: r.byteOffset } };
        }
        if ('in' in a) {
          const v = this.value(inNames[a.in], nodes[0]);
          const root = v.aliasOf ? this.plan.values.get(v.aliasOf)! : v;
          root.onDevice = true;
          v.onDevice = true;
          reads.add(v.name);
          return { buf: v.name, byteOffset: a.byteOffset ?? 0 };
        }
        if ('out' in a) {
          writes.add(outNames[a.out]);
          return { buf: outNames[a.out], byteOffset: a.byteOffset ?? 0 };
        }
        if ('scratch' in a) {
          reads.add(scratchNames[a.scratch]);
          return { buf: scratchNames[a.scratch], byteOffset: a.byteOffset ?? 0 };
        }
        return a;
      };
      const args = l.args.map(resolve);
      return { kernel: l.kernel, grid: l.grid, block: l.block, sharedBytes: l.sharedBytes ?? 0, args, ...(l.library ? { library: l.library } : {}) };
    });
    for (const k of lowered.variants ?? []) this.plan.kernels.set(k.name, k);
    const step: DeviceStep = { kind: 'device', label, nodes, launches, reads: [...reads], writes: [...writes] };
    this.plan.steps.push(step);
    this.eager?.(step, this.plan);
  }

  private hostStep(node: Node, types: (ValueType | undefined)[], reason: string): void {
    const reads = [...new Set(nodeReads(node))];
    const step: HostStep = { kind: 'host', label: node.label, node, reads, writes: node.outputs.filter((o) => o), reason };
    if (!this.eager) {
      node.outputs.forEach((o, i) => {
        if (!o) return;
        const t = types[i];
        if (!t) this.dynamic(node, `output ${i} has no concrete type`);
        const info = tensorInfo(t);
        const dev = info.dtype !== undefined && deviceType(info.dtype) !== undefined;
        this.define({ name: o, type: t, ...info, bytes: bytesOf(info.dtype, info.shape), place: dev ? 'device' : 'host', onDevice: false });
      });
      this.plan.steps.push(step);
      return;
    }
    this.plan.steps.push(step);
    const outs = this.eager(step, this.plan) ?? [];
    node.outputs.forEach((o, i) => {
      if (!o) return;
      const t = outs[i];
      const fields = t instanceof Tensor ? this.tensorFields(t) : { type: typeOfRuntime(t ?? undefined), bytes: 0 };
      const dev = t instanceof Tensor && deviceType(t.dtype) !== undefined;
      // in eager mode the result is known now: later shape functions may read it
      this.define({ name: o, ...fields, place: dev ? 'device' : 'host', host: t ?? null, onDevice: false });
    });
  }

  private dynamic(node: Node, detail: string): never {
    throw new DynamicShapes(node.label, detail);
  }
}

/** Shape's output: the dims from `start` to `end` (negative counts from the back, both clamped). */
function shapeTensor(node: Node, shape: readonly number[]): Tensor {
  const r = shape.length;
  const clamp = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const start = clamp(node.int('start', 0));
  const end = clamp(node.has('end') ? node.int('end') : r);
  const dims = shape.slice(start, Math.max(start, end));
  return Tensor.from('int64', [dims.length], dims);
}
