/**
 * Engine: a model compiled for the GPU. Build: optimize (level 2 by default) → shape inference →
 * precision transform → partition into units (fused elementwise groups and single nodes). Run: the feeds'
 * shapes (and the contents of shape-like feeds) form a signature; each new signature is planned once
 * (plan.ts; no compile: kernels are shape-generic) and memory-planned (memory.ts), then executed by the
 * device executor, replaying a CUDA graph from the second run of a signature on. Symbolic dims are
 * therefore free to vary between runs — up to the maxima declared at build, with no profiles and no rebuild.
 */
import type { Dim, Model, ValueType } from '../ir/graph.js';
import { Tensor } from '../ir/tensor.js';
import { ChimeraError } from '../errors.js';
import { inferShapes } from '../infer/index.js';
import { optimizeModel, type OptimizeReport } from '../passes/optimize.js';
import type { RuntimeValue } from '../ref/kernel.js';
import { nodeReads } from '../ref/interpreter.js';
import { dimSymbols } from '../ir/symbolic.js';
import { getLowering } from '../codegen/lowering.js';
import type { KernelSource } from '../codegen/kernel-ir.js';
import { partition, type Unit } from './partition.js';
import { DynamicShapes, MAX_PLANS, Planner, type Plan } from './plan.js';
import { planMemory, type MemoryPlan } from './memory.js';
import { applyPrecision, type Precision } from './precision.js';
import { gemmForTransposedWeights, padGemmWeights } from './weight-layout.js';
import { KernelLibrary, archNumber, type Progress } from './kernels.js';
import { cudaStatus, deviceArch } from '../runtime/cuda.js';
import { DeviceExecutor, type RunStats } from './executor.js';
import type { GemmLibraryMode, Implementation } from './gemm-library.js';

export interface EngineOptions {
  precision?: Precision;
  /** optimizer level (0-3, default 2) */
  optimize?: number;
  /** largest value of each symbolic dim a run may use, e.g. { seq: 2048 } */
  maxDims?: Record<string, number>;
  /** fuse elementwise chains (default true) */
  fusion?: boolean;
  /**
   * compute capability (major*10+minor, e.g. 90) the plans may use architecture-specific kernels for;
   * default: none (portable kernels only). `chimera build`/`run` set it from --arch or the device.
   */
  arch?: number;
  /**
   * GEMMs that cuBLASLt can compute exactly: 'auto' (default) measures the generated kernel and cuBLASLt
   * per node on the first run of a signature and keeps the faster; 'off' uses the kernels only; 'cublaslt'
   * uses the library wherever it accepts. Without libcublasLt (or with CHIMERA_CUBLASLT=0) kernels serve all.
   */
  gemmLibrary?: GemmLibraryMode;
}

interface PlanEntry {
  plan?: Plan;
  mem?: MemoryPlan;
  dynamic?: string;
}

export interface EngineStats {
  plans: number;
  dynamicSignatures: number;
  lastRun?: RunStats;
  kernelsCompiled: number;
  compileMs: number;
}

/** Shape-like values: inputs lowerings need on the host, and everything they are computed from. */
export function hostValueClosure(model: Model): Set<string> {
  const g = model.graph;
  const producer = new Map<string, (typeof g.nodes)[number]>();
  for (const n of g.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  const set = new Set<string>();
  const stack: string[] = [];
  for (const n of g.nodes) {
    const l = getLowering(n.op, n.domain);
    for (const i of l?.hostInputs ?? []) if (n.inputs[i]) stack.push(n.inputs[i]);
  }
  while (stack.length) {
    const v = stack.pop()!;
    if (set.has(v)) continue;
    set.add(v);
    const p = producer.get(v);
    if (!p || ((p.op === 'Shape' || p.op === 'Size') && p.domain === '')) continue;
    for (const r of nodeReads(p)) stack.push(r);
  }
  return set;
}

export class Engine {
  readonly units: Unit[];
  readonly hostValues: Set<string>;
  readonly library = new KernelLibrary();
  private readonly plans = new Map<string, PlanEntry>();
  private executor?: DeviceExecutor;
  readonly optimizeReport?: OptimizeReport;

  /** Compiles `model` (which the engine takes over and transforms). */
  constructor(readonly model: Model, readonly options: EngineOptions = {}, prepared = false) {
    if (!prepared) {
      const level = options.optimize ?? 2;
      if (level > 0) this.optimizeReport = optimizeModel(model, { level });
      inferShapes(model, { onError: 'report' });
      const closure = hostValueClosure(model);
      applyPrecision(model, options.precision ?? 'fp32', closure);
      gemmForTransposedWeights(model);
      padGemmWeights(model);
    } else {
      inferShapes(model, { onError: 'report' });
    }
    this.hostValues = hostValueClosure(model);
    this.units = partition(model.graph, { hostValues: this.hostValues, noFusion: options.fusion === false });
  }

  get precision(): Precision {
    return this.options.precision ?? 'fp32';
  }

  /** The signature of a run: feed types, contents of shape-like feeds, and its cache key. */
  signature(feeds: ReadonlyMap<string, RuntimeValue>): { key: string; feedTypes: Map<string, ValueType>; feedValues: Map<string, RuntimeValue> } {
    const g = this.model.graph;
    const feedTypes = new Map<string, ValueType>();
    const feedValues = new Map<string, RuntimeValue>();
    const bound = new Map<string, number>();
    const parts: string[] = [];
    for (const name of feeds.keys()) {
      if (!g.feedInputs.some((v) => v.name === name)) {
        throw new ChimeraError('E_USAGE', `'${name}' is not an input of the model (inputs: ${g.feedInputs.map((v) => v.name).join(', ')})`, { file: this.model.path });
      }
    }
    for (const v of g.feedInputs) {
      const value = feeds.get(v.name);
      if (value === undefined) throw new ChimeraError('E_USAGE', `input '${v.name}' was not given`, { file: this.model.path });
      if (!(value instanceof Tensor)) {
        feedTypes.set(v.name, v.type ?? { kind: 'sequence' });
        feedValues.set(v.name, value);
        parts.push(`${v.name}:host`);
        continue;
      }
      const decl = v.type?.kind === 'tensor' ? v.type : undefined;
      if (decl && decl.dtype !== value.dtype) {
        throw new ChimeraError('E_USAGE', `input '${v.name}' must be ${decl.dtype}, got ${value.dtype}`, { file: this.model.path, field: `input '${v.name}'` });
      }
      if (decl?.shape) this.checkDims(v.name, decl.shape, value.shape, bound);
      feedTypes.set(v.name, { kind: 'tensor', dtype: value.dtype, shape: [...value.shape] });
      parts.push(`${v.name}:${value.dtype}[${value.shape.join(',')}]`);
      if (this.hostValues.has(v.name)) {
        feedValues.set(v.name, value);
        parts.push(`=${Array.from(value.data as ArrayLike<unknown>, String).join(',')}`);
      }
    }
    return { key: parts.join(';'), feedTypes, feedValues };
  }

  private checkDims(name: string, decl: readonly Dim[], got: readonly number[], bound: Map<string, number>): void {
    const field = `input '${name}'`;
    if (decl.length !== got.length) throw new ChimeraError('E_USAGE', `input '${name}' must have rank ${decl.length}, got shape [${got.join(',')}]`, { file: this.model.path, field });
    decl.forEach((d, i) => {
      if (typeof d === 'number' && d !== got[i]) throw new ChimeraError('E_USAGE', `input '${name}' dim ${i} must be ${d}, got ${got[i]}`, { file: this.model.path, field });
      if (typeof d === 'string' && dimSymbols(d).length === 1 && dimSymbols(d)[0] === d) {
        const prev = bound.get(d);
        if (prev !== undefined && prev !== got[i]) throw new ChimeraError('E_USAGE', `dim '${d}' is ${prev} in one input and ${got[i]} in '${name}'`, { file: this.model.path, field });
        bound.set(d, got[i]);
        const max = this.options.maxDims?.[d];
        if (max !== undefined && got[i] > max) throw new ChimeraError('E_USAGE', `dim '${d}' = ${got[i]} exceeds the engine's declared maximum ${max} (build with --max-dims ${d}=N)`, { file: this.model.path, field });
      }
    });
  }

  /** The static plan of a signature (no GPU needed), or undefined when its shapes depend on data. */
  planFor(feeds: ReadonlyMap<string, RuntimeValue>): { plan?: Plan; mem?: MemoryPlan; dynamic?: string; key: string; sig: ReturnType<Engine['signature']> } {
    const sig = this.signature(feeds);
    let e = this.plans.get(sig.key);
    if (e) {
      // most recently used last (the cache is LRU-capped: a long decode loop makes one signature per step)
      this.plans.delete(sig.key);
      this.plans.set(sig.key, e);
    } else {
      if (this.plans.size >= MAX_PLANS) this.plans.delete(this.plans.keys().next().value!);
      try {
        const plan = new Planner({ model: this.model, units: this.units, hostValues: this.hostValues, ...sig, arch: this.targetArch() }).run();
        e = { plan, mem: planMemory(plan) };
        for (const k of plan.kernels.values()) this.library.add(k);
      } catch (err) {
        if (!(err instanceof DynamicShapes)) throw err;
        e = { dynamic: err.message };
      }
      this.plans.set(sig.key, e);
    }
    return { ...e, key: sig.key, sig };
  }

  /** Runs on the GPU. Feeds by input name; returns outputs by name. */
  run(feeds: ReadonlyMap<string, RuntimeValue> | Record<string, RuntimeValue>): Map<string, RuntimeValue> {
    const map = feeds instanceof Map ? feeds : new Map(Object.entries(feeds));
    const p = this.planFor(map);
    this.executor ??= this.newExecutor();
    if (p.plan && p.mem) return this.executor.runStatic(p.plan, p.mem, map);
    const run = this.executor.eagerRun(map);
    const planner = new Planner({ model: this.model, units: this.units, hostValues: this.hostValues, ...p.sig, feedValues: new Map(map), arch: this.targetArch() }, (s, plan) => {
      if (s.kind === 'device') for (const l of s.launches) this.library.add(l.kernel);
      return run.step(s, plan);
    });
    const plan = planner.run();
    return run.finish(plan);
  }

  /**
   * Device time per run of a signature (CUDA events around graph replays, inputs in place, median of
   * `repeats` batches of `iters`). For benchmarks; `run` first checks outputs.
   */
  time(feeds: ReadonlyMap<string, RuntimeValue> | Record<string, RuntimeValue>, iters = 20, repeats = 7): { medianMs: number; samplesMs: number[]; mode: 'graph' | 'launches' } {
    const map = feeds instanceof Map ? feeds : new Map(Object.entries(feeds));
    const p = this.planFor(map);
    if (!p.plan || !p.mem) throw new ChimeraError('E_USAGE', `this signature runs eagerly (${p.dynamic}); only static plans are timed`);
    this.executor ??= this.newExecutor();
    return this.executor.timeStatic(p.plan, p.mem, map, iters, repeats);
  }

  /** Device time of each step of a signature's plan (one profiled run after a warm-up run). */
  profile(feeds: ReadonlyMap<string, RuntimeValue> | Record<string, RuntimeValue>): { label: string; ops: string[]; kernels: string[]; ms: number; host: boolean }[] {
    const map = feeds instanceof Map ? feeds : new Map(Object.entries(feeds));
    const p = this.planFor(map);
    if (!p.plan || !p.mem) throw new ChimeraError('E_USAGE', `this signature runs eagerly (${p.dynamic}); only static plans are profiled`);
    this.executor ??= this.newExecutor();
    return this.executor.profileStatic(p.plan, p.mem, map);
  }

  /** Compiles every kernel the plans made so far need (NVRTC, disk-cached). */
  compile(arch: string, progress?: Progress): void {
    this.library.compileMissing(arch, progress);
  }

  /** Kernels of all plans made so far (and their variants), sorted by name. */
  kernels(): KernelSource[] {
    return [...this.library.sources.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Plans made so far: signature key → plan, memory plan or why it is dynamic. */
  planned(): ReadonlyMap<string, PlanEntry> {
    return this.plans;
  }

  stats(): EngineStats {
    let dyn = 0;
    for (const e of this.plans.values()) if (e.dynamic) dyn++;
    return { plans: this.plans.size, dynamicSignatures: dyn, lastRun: this.executor?.lastRun, kernelsCompiled: this.library.compiledCount, compileMs: this.library.compileMs };
  }

  /**
   * The compute capability plans may specialize for: the GPU this process runs on when there is one
   * (an engine file built elsewhere re-plans for the GPU it meets), else EngineOptions.arch.
   */
  private targetArch(): number | undefined {
    if (this.arch === null) {
      const st = cudaStatus();
      this.arch = st.available ? archNumber(deviceArch()) : this.options.arch;
    }
    return this.arch;
  }
  private arch: number | undefined | null = null;

  private newExecutor(): DeviceExecutor {
    const x = new DeviceExecutor(this.model, this.library);
    x.gemmLibrary = this.options.gemmLibrary ?? 'auto';
    return x;
  }

  /**
   * What serves each GEMM launch that has a library form, in the last static run: the generated kernel
   * or cuBLASLt, with the times measured to decide (see EngineOptions.gemmLibrary).
   */
  implementations(): Implementation[] {
    return this.executor?.lastImplementations ?? [];
  }

  /** Changes how GEMMs with a library form are served (plans already run are decided again). */
  setGemmLibrary(mode: GemmLibraryMode): void {
    (this.options as EngineOptions).gemmLibrary = mode;
    this.executor?.dispose();
    this.executor = undefined;
  }

  /** Direct launches instead of CUDA graphs (for comparisons). */
  setUseGraphs(on: boolean): void {
    this.executor ??= this.newExecutor();
    this.executor.useGraphs = on;
  }

  dispose(): void {
    this.executor?.dispose();
    this.executor = undefined;
    this.library.dispose();
  }
}

/** Representative bindings of a model's symbolic input dims, for planning without data (build, emit-source). */
export function sampleBindings(model: Model, maxDims: Record<string, number> = {}, explicit: Record<string, number> = {}): Record<string, number>[] {
  const syms = new Set<string>();
  for (const v of model.graph.feedInputs) {
    if (v.type?.kind !== 'tensor' || !v.type.shape) continue;
    for (const d of v.type.shape) if (typeof d === 'string') for (const s of dimSymbols(d)) syms.add(s);
  }
  const small: Record<string, number> = {};
  const large: Record<string, number> = {};
  for (const s of syms) {
    small[s] = explicit[s] ?? Math.min(maxDims[s] ?? 7, 7);
    large[s] = explicit[s] ?? Math.min(maxDims[s] ?? 17, 17);
  }
  return syms.size ? [small, large] : [{}];
}
