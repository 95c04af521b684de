/**
 * Executes plans on the GPU.
 *
 * Static plans (shapes known ahead of the data) run in one arena laid out by the memory planner. Their
 * kernel arguments are packed once per plan; when a plan has no host steps, its launches are captured
 * into a CUDA graph on the first run and every later run replays the graph (inputs are copied into their
 * arena slots before, outputs copied out after). A plan with host steps launches directly and
 * synchronizes around each host step.
 *
 * Eager runs (shapes that depend on data) execute each step as the planner decides it, with one device
 * buffer per value, freed at the end of the run.
 *
 * Constants (initializers and plan-time folded values) are uploaded once and kept per tensor.
 */
import { Tensor } from '../ir/tensor.js';
import type { RuntimeValue } from '../ref/kernel.js';
import type { Model } from '../ir/graph.js';
import { packArgs, type KernelArg, type PackedArgs } from '../runtime/args.js';
import { DeviceBuffer, Event, Stream, type GraphExec } from '../runtime/cuda.js';
import { tensorFromRaw, tensorToRaw } from '../onnx/tensor-io.js';
import { ChimeraError, asChimeraError } from '../errors.js';
import { deviceType } from '../codegen/dtypes.js';
import type { KernelLibrary } from './kernels.js';
import type { MemoryPlan } from './memory.js';
import { MAX_PLANS, type PlanArg, type PlannedLaunch, type DeviceStep, type HostStep, type Plan, type PlanValue, type Step } from './plan.js';
import { runNodeOnHost } from './host-node.js';
import { encodeTensorMap, TENSOR_MAP_BYTES } from '../runtime/tensormap.js';
import { chooseImplementations, LT_WORKSPACE_BYTES, type GemmLibraryMode, type Implementation } from './gemm-library.js';
import { ltMatmul } from '../runtime/cublaslt.js';
import type { NativeLtMatmul } from '../runtime/native.js';

interface PreparedPlan {
  plan: Plan;
  mem: MemoryPlan;
  /** the arena address the packed arguments were made for */
  arenaPtr?: bigint;
  packed?: PackedArgs[][];
  graph?: GraphExec;
  graphFailed?: string;
  runs: number;
  /** per device step, per launch: the library call that replaces it (and the next replaces-1), if chosen */
  lt?: (NativeLtMatmul | undefined)[][];
  implementations?: Implementation[];
  /** the encoded tensor maps its packed arguments point into */
  tmaps?: DeviceBuffer;
}

/**
 * Tensor maps of a set of launches: encoded as the arguments are packed, then uploaded into one device
 * buffer (128-byte slots); the packed pointers are fixed up front since the buffer is allocated first.
 */
class TensorMaps {
  private readonly maps: Uint8Array[] = [];
  private readonly args: { kind: 'ptr'; value: bigint }[] = [];
  add(map: Uint8Array): KernelArg {
    const a = { kind: 'ptr' as const, value: 0n };
    this.maps.push(map);
    this.args.push(a);
    return a;
  }
  /** Allocates and uploads the maps and points the arguments at them; undefined when there are none. */
  upload(): DeviceBuffer | undefined {
    if (this.maps.length === 0) return undefined;
    const buf = DeviceBuffer.alloc(this.maps.length * TENSOR_MAP_BYTES);
    const all = new Uint8Array(this.maps.length * TENSOR_MAP_BYTES);
    this.maps.forEach((m, i) => {
      all.set(m, i * TENSOR_MAP_BYTES);
      this.args[i].value = buf.ptr + BigInt(i * TENSOR_MAP_BYTES);
    });
    buf.upload(all);
    return buf;
  }
}

export interface RunStats {
  mode: 'graph' | 'launches' | 'eager';
  launches: number;
  hostSteps: number;
}

export class DeviceExecutor {
  private arena?: DeviceBuffer;
  private readonly consts = new Map<Tensor, DeviceBuffer>();
  private readonly prepared = new Map<string, PreparedPlan>();
  readonly stream: Stream;
  lastRun?: RunStats;
  /** capture CUDA graphs for plans without host steps (default true) */
  useGraphs = true;
  /** GEMMs with a library form: measure kernel vs cuBLASLt per node ('auto'), kernels only, or cuBLASLt */
  gemmLibrary: GemmLibraryMode = 'auto';
  /** the implementation of each GEMM launch of the last static plan run */
  lastImplementations: Implementation[] = [];
  private ltWorkspace?: DeviceBuffer;

  constructor(private readonly model: Model, private readonly kernels: KernelLibrary) {
    this.stream = Stream.create();
  }

  // ---- constants ----------------------------------------------------------------------------------

  private constPtr(t: Tensor): bigint {
    let b = this.consts.get(t);
    if (!b) {
      const raw = tensorToRaw(t);
      b = DeviceBuffer.alloc(Math.max(256, raw.byteLength));
      if (raw.byteLength) b.upload(raw);
      this.consts.set(t, b);
    }
    return b.ptr;
  }

  // ---- static plans -------------------------------------------------------------------------------

  /** Runs a static plan. `feeds` are the caller's inputs (already checked against the plan's types). */
  runStatic(plan: Plan, mem: MemoryPlan, feeds: ReadonlyMap<string, RuntimeValue>): Map<string, RuntimeValue> {
    let p = this.prepared.get(plan.key);
    if (p) this.prepared.delete(plan.key);
    if (!p || p.plan !== plan) {
      p?.graph?.dispose();
      p?.tmaps?.dispose();
      p = { plan, mem, runs: 0 };
      // LRU: keep the graphs of the most recent signatures only
      while (this.prepared.size >= MAX_PLANS) {
        const [k, old] = this.prepared.entries().next().value!;
        old.graph?.dispose();
        old.tmaps?.dispose();
        this.prepared.delete(k);
      }
    }
    this.prepared.set(plan.key, p);
    if (!this.arena || this.arena.size < mem.arenaBytes) {
      const old = this.arena;
      this.arena = undefined;
      old?.dispose();
      this.arena = DeviceBuffer.alloc(Math.max(mem.arenaBytes, 256));
    }
    const arena = this.arena;
    const ptrOf = (name: string): bigint => {
      const v = plan.values.get(name)!;
      const root = v.aliasOf ? plan.values.get(v.aliasOf)! : v;
      if (root.place === 'const') {
        if (!(root.host instanceof Tensor)) throw new ChimeraError('E_INTERNAL', `constant '${name}' has no tensor`);
        return this.constPtr(root.host);
      }
      const off = mem.offsets.get(root.name);
      return off === undefined ? arena.ptr : arena.ptr + BigInt(off);
    };
    const deviceSteps = plan.steps.filter((s): s is DeviceStep => s.kind === 'device');
    if (!p.packed || p.arenaPtr !== arena.ptr) {
      p.tmaps?.dispose();
      const tm = new TensorMaps();
      const argLists = deviceSteps.map((s) => s.launches.map((l) => l.args.map((a) => this.kernelArg(a, ptrOf, tm))));
      p.tmaps = tm.upload(); // fills in the tensor-map pointers before packing
      p.packed = argLists.map((ls) => ls.map((args) => packArgs(args)));
      p.arenaPtr = arena.ptr;
      p.graph?.dispose();
      p.graph = undefined;
      p.lt = undefined; // library calls hold addresses: decide again
    }
    // feeds into their slots
    const uploadFeeds = () => {
      for (const [name, value] of feeds) {
        const v = plan.values.get(name);
        if (!v || v.place !== 'device' || !v.onDevice || !(value instanceof Tensor) || v.bytes === 0) continue;
        arena.upload(tensorToRaw(value), mem.offsets.get(name)!);
      }
    };
    uploadFeeds();
    const hostValues = new Map<string, RuntimeValue>(feeds);
    const hostSteps = plan.steps.filter((s) => s.kind === 'host').length;
    const launchAll = (from: number, to: number, packedBySteps: PackedArgs[][], stepIdx: Map<Step, number>) => {
      for (let i = from; i < to; i++) {
        const s = plan.steps[i];
        if (s.kind !== 'device') continue;
        const k = stepIdx.get(s)!;
        this.issue(s, packedBySteps[k], p!.lt?.[k]);
      }
    };
    const stepIdx = new Map<Step, number>(deviceSteps.map((s, i) => [s, i]));
    if (!p.lt) {
      p.lt = deviceSteps.map((s) => s.launches.map(() => undefined));
      if (hostSteps === 0) {
        p.implementations = chooseImplementations({
          stream: this.stream, mode: this.gemmLibrary, ptrOf,
          launch: (l, args) => this.launchOne(l, args),
          sample: (ptr, bytes, dtype) => this.sample(ptr, bytes, dtype),
          workspace: () => (this.ltWorkspace ??= DeviceBuffer.alloc(LT_WORKSPACE_BYTES)),
        }, deviceSteps, p.packed, p.lt);
        // that run (and the re-run GEMMs) may have reused the feeds' slots: put the feeds back
        if (p.implementations.some((i) => i.kernelMs !== undefined)) uploadFeeds();
      }
    }
    this.lastImplementations = p.implementations ?? [];
    const launches = deviceSteps.reduce((a, s) => a + s.launches.length, 0);
    if (hostSteps === 0 && this.useGraphs && !p.graphFailed) {
      if (!p.graph) {
        // load every kernel before capturing (module loads are not capturable)
        for (const s of deviceSteps) for (const l of s.launches) this.kernels.get(l.kernel.name);
        try {
          const g = this.stream.capture(() => launchAll(0, plan.steps.length, p!.packed!, stepIdx));
          p.graph = g.instantiate();
          g.dispose();
        } catch (e) {
          p.graphFailed = (e as Error).message;
        }
      }
      if (p.graph) {
        p.graph.launch(this.stream);
        this.stream.synchronize();
        this.lastRun = { mode: 'graph', launches, hostSteps: 0 };
        p.runs++;
        return this.collect(plan, hostValues, ptrOf);
      }
    }
    let from = 0;
    plan.steps.forEach((s, i) => {
      if (s.kind !== 'host') return;
      launchAll(from, i, p!.packed!, stepIdx);
      from = i + 1;
      this.stream.synchronize();
      this.hostStep(s, plan, hostValues, ptrOf, (name, t) => {
        const v = plan.values.get(name)!;
        if (v.onDevice && t instanceof Tensor && v.bytes > 0) arena.upload(tensorToRaw(t), mem.offsets.get(name)!);
      });
    });
    launchAll(from, plan.steps.length, p.packed, stepIdx);
    this.stream.synchronize();
    this.lastRun = { mode: 'launches', launches, hostSteps };
    p.runs++;
    return this.collect(plan, hostValues, ptrOf);
  }

  /**
   * Device time of a static plan: after one full run (which captures the graph), `iters` replays are
   * timed with CUDA events on the engine's stream, in `repeats` batches; returns the median ms per run.
   * Inputs stay in place (no host copies are timed). Plans with host steps are not timed here.
   */
  timeStatic(plan: Plan, mem: MemoryPlan, feeds: ReadonlyMap<string, RuntimeValue>, iters = 20, repeats = 7): { medianMs: number; samplesMs: number[]; mode: 'graph' | 'launches' } {
    this.runStatic(plan, mem, feeds);
    const p = this.prepared.get(plan.key)!;
    if (plan.steps.some((s) => s.kind === 'host')) throw new ChimeraError('E_USAGE', 'a plan with host steps cannot be timed on the device alone');
    const deviceSteps = plan.steps.filter((s): s is DeviceStep => s.kind === 'device');
    const once = () => {
      if (p.graph) p.graph.launch(this.stream);
      else deviceSteps.forEach((s, i) => this.issue(s, p.packed![i], p.lt?.[i]));
    };
    for (let i = 0; i < 3; i++) once();
    const start = Event.create();
    const end = Event.create();
    const samples: number[] = [];
    try {
      for (let r = 0; r < repeats; r++) {
        start.record(this.stream);
        for (let i = 0; i < iters; i++) once();
        end.record(this.stream);
        end.synchronize();
        samples.push(Event.elapsedMs(start, end) / iters);
      }
    } finally {
      start.dispose();
      end.dispose();
    }
    const sorted = [...samples].sort((a, b) => a - b);
    return { medianMs: sorted[Math.floor(sorted.length / 2)], samplesMs: samples, mode: p.graph ? 'graph' : 'launches' };
  }

  /**
   * Device time of each device step of a static plan: one run with a CUDA event between consecutive
   * steps (after a full warm-up run). Host steps are run as usual and reported with their wall time.
   */
  profileStatic(plan: Plan, mem: MemoryPlan, feeds: ReadonlyMap<string, RuntimeValue>): { label: string; ops: string[]; kernels: string[]; ms: number; host: boolean }[] {
    if (plan.steps.some((s) => s.kind === 'host')) throw new ChimeraError('E_USAGE', 'a plan with host steps cannot be profiled on the device alone');
    this.runStatic(plan, mem, feeds);
    const p = this.prepared.get(plan.key)!;
    const deviceSteps = plan.steps.filter((s): s is DeviceStep => s.kind === 'device');
    const idx = new Map<Step, number>(deviceSteps.map((s, i) => [s, i]));
    const events = plan.steps.map(() => Event.create());
    const first = Event.create();
    try {
      first.record(this.stream);
      plan.steps.forEach((s, i) => {
        if (s.kind === 'device') this.issue(s, p.packed![idx.get(s)!], p.lt?.[idx.get(s)!]);
        events[i].record(this.stream);
      });
      this.stream.synchronize();
      return plan.steps.map((s, i) => ({
        label: s.label,
        ops: s.kind === 'device' ? s.nodes.map((n) => n.op) : [s.node.op],
        kernels: s.kind === 'device' ? s.launches.map((l) => l.kernel.family) : [],
        ms: Event.elapsedMs(i === 0 ? first : events[i - 1], events[i]),
        host: s.kind === 'host',
      }));
    } finally {
      for (const e of [first, ...events]) e.dispose();
    }
  }

  /** A planned argument as a kernel argument: buffers by address, tensor maps encoded into `tm`. */
  private kernelArg(a: PlanArg, ptrOf: (n: string) => bigint, tm: TensorMaps): KernelArg {
    if ('buf' in a) return { kind: 'ptr', value: ptrOf(a.buf) + BigInt(a.byteOffset) };
    if ('tmap' in a) {
      const { buf, byteOffset, ...t } = a.tmap;
      return tm.add(encodeTensorMap({ ...t, address: ptrOf(buf) + BigInt(byteOffset) }));
    }
    return a;
  }

  /** Issues one device step: its kernels, or the library calls chosen for some of them. */
  private issue(s: DeviceStep, packed: PackedArgs[], lt?: (NativeLtMatmul | undefined)[]): void {
    for (let j = 0; j < s.launches.length; j++) {
      const call = lt?.[j];
      if (call) {
        ltMatmul(this.stream, call);
        j += s.launches[j].library!.replaces - 1;
        continue;
      }
      this.launchOne(s.launches[j], packed[j]);
    }
  }

  private launchOne(l: PlannedLaunch, args: PackedArgs | KernelArg[]): void {
    this.kernels.get(l.kernel.name).launch({ grid: l.grid, block: l.block, sharedBytes: l.sharedBytes, stream: this.stream, args });
  }

  /** The first `bytes` of a device buffer region as floats (fp16/bf16 data). */
  private sample(ptr: bigint, bytes: number, dtype: 'float16' | 'bfloat16'): Tensor {
    this.stream.synchronize();
    const raw = new Uint8Array(bytes - (bytes % 2));
    const { buffer, base } = this.bufferAt(ptr);
    const avail = Number(base + BigInt(buffer.size) - ptr);
    const n = Math.min(raw.byteLength, avail - (avail % 2));
    buffer.download(raw.subarray(0, n), Number(ptr - base));
    return tensorFromRaw(dtype, [n / 2], raw.subarray(0, n));
  }

  /** Downloads a device value as a tensor. */
  private download(v: PlanValue, ptr: bigint): Tensor {
    const bytes = new Uint8Array(v.bytes);
    if (v.bytes > 0) {
      const { buffer, base } = this.bufferAt(ptr);
      buffer.download(bytes, Number(ptr - base));
    }
    return tensorFromRaw(v.dtype!, v.shape!, bytes);
  }

  private readonly eagerBuffers: DeviceBuffer[] = [];

  /** The buffer holding a device address (the arena, a constant, or an eager buffer). */
  private bufferAt(ptr: bigint): { buffer: DeviceBuffer; base: bigint } {
    const all = [this.arena, ...this.consts.values(), ...this.eagerBuffers].filter((b): b is DeviceBuffer => !!b && !b.disposed);
    for (const b of all) if (ptr >= b.ptr && ptr < b.ptr + BigInt(Math.max(b.size, 1))) return { buffer: b, base: b.ptr };
    throw new ChimeraError('E_INTERNAL', `no device buffer holds address 0x${ptr.toString(16)}`);
  }

  /**
   * The value of `name` on the host: already there (a feed, a host-step result, a download), a view of
   * such a value, a constant, or downloaded now from the device.
   */
  private hostValue(name: string, plan: Plan, hostValues: Map<string, RuntimeValue>, ptrOf: (n: string) => bigint): RuntimeValue | undefined {
    if (hostValues.has(name)) return hostValues.get(name);
    const v = plan.values.get(name);
    if (!v) return undefined;
    const root = v.aliasOf ? plan.values.get(v.aliasOf) ?? v : v;
    const rootHost = hostValues.get(root.name) ?? (root.place === 'const' ? root.host : undefined);
    if (rootHost instanceof Tensor) {
      const t = root === v ? rootHost : new Tensor(rootHost.dtype, v.shape ?? rootHost.shape, rootHost.data);
      hostValues.set(name, t);
      return t;
    }
    if (v.place === 'const' || v.place === 'host' || !v.dtype || !v.shape) return v.host ?? rootHost ?? undefined;
    if (v.host !== undefined && !v.onDevice && root === v) return v.host;
    const t = this.download(v, ptrOf(name));
    hostValues.set(name, t);
    return t;
  }

  private hostStep(s: HostStep, plan: Plan, hostValues: Map<string, RuntimeValue>, ptrOf: (n: string) => bigint, put: (name: string, t: RuntimeValue) => void): void {
    let outs: RuntimeValue[];
    try {
      outs = runNodeOnHost(this.model, s.node, (name) => this.hostValue(name, plan, hostValues, ptrOf));
    } catch (e) {
      throw asChimeraError(e, 'E_RUNTIME', { file: this.model.path, node: s.label });
    }
    s.node.outputs.forEach((o, i) => {
      if (!o) return;
      hostValues.set(o, outs[i]);
      put(o, outs[i]);
    });
  }

  private collect(plan: Plan, hostValues: Map<string, RuntimeValue>, ptrOf: (n: string) => bigint): Map<string, RuntimeValue> {
    const out = new Map<string, RuntimeValue>();
    for (const name of plan.outputs) out.set(name, this.hostValue(name, plan, hostValues, ptrOf) ?? null);
    return out;
  }

  // ---- eager runs ---------------------------------------------------------------------------------

  /** State of one eager run: the planner calls `step` for each decided step (plan.ts EagerHook). */
  eagerRun(feeds: ReadonlyMap<string, RuntimeValue>): { step: (s: Step, plan: Plan) => RuntimeValue[] | void; finish: (plan: Plan) => Map<string, RuntimeValue> } {
    const bufs = new Map<string, DeviceBuffer>();
    const hostValues = new Map<string, RuntimeValue>(feeds);
    let launches = 0;
    let hostSteps = 0;
    const alloc = (bytes: number) => {
      const b = DeviceBuffer.alloc(Math.max(256, bytes));
      this.eagerBuffers.push(b);
      return b;
    };
    let planRef: Plan | undefined;
    const ptrOf = (name: string): bigint => {
      const plan = planRef!;
      const v = plan.values.get(name)!;
      const root = v.aliasOf ? plan.values.get(v.aliasOf)! : v;
      if (root.place === 'const') return this.constPtr(root.host as Tensor);
      let b = bufs.get(root.name);
      if (!b) {
        b = alloc(root.bytes);
        bufs.set(root.name, b);
        const hv = hostValues.get(root.name) ?? root.host;
        if (hv instanceof Tensor && deviceType(hv.dtype) && root.bytes > 0) b.upload(tensorToRaw(hv));
      }
      return b.ptr;
    };
    const step = (s: Step, plan: Plan): RuntimeValue[] | void => {
      planRef = plan;
      if (s.kind === 'device') {
        for (const l of s.launches) {
          const tm = new TensorMaps();
          const args = l.args.map((a) => this.kernelArg(a, ptrOf, tm));
          const maps = tm.upload(); // fills in the tensor-map pointers before the launch packs them
          if (maps) this.eagerBuffers.push(maps);
          this.launchOne(l, args);
          launches++;
        }
        return;
      }
      hostSteps++;
      this.stream.synchronize();
      const outs: RuntimeValue[] = [];
      this.hostStep(s, plan, hostValues, ptrOf, () => undefined);
      s.node.outputs.forEach((o) => outs.push(o ? hostValues.get(o) ?? null : null));
      return outs;
    };
    const finish = (plan: Plan): Map<string, RuntimeValue> => {
      planRef = plan;
      this.stream.synchronize();
      const out = this.collect(plan, hostValues, ptrOf);
      for (const b of bufs.values()) {
        b.dispose();
        this.eagerBuffers.splice(this.eagerBuffers.indexOf(b), 1);
      }
      this.lastRun = { mode: 'eager', launches, hostSteps };
      return out;
    };
    return { step, finish };
  }

  dispose(): void {
    if (this.ltWorkspace && !this.ltWorkspace.disposed) this.ltWorkspace.dispose();
    this.ltWorkspace = undefined;
    for (const p of this.prepared.values()) {
      p.graph?.dispose();
      p.tmaps?.dispose();
    }
    this.prepared.clear();
    for (const b of this.consts.values()) if (!b.disposed) b.dispose();
    this.consts.clear();
    if (this.arena && !this.arena.disposed) this.arena.dispose();
    this.arena = undefined;
    if (!this.stream.disposed) this.stream.dispose();
  }
}

