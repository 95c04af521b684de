/** Runs one backend-test case (a folder with model.onnx and test_data_set_*) on the interpreter. */
import path from 'node:path';
import { loadModel } from '../onnx/import.js';
import { runModel } from '../ref/interpreter.js';
import { asChimeraError } from '../errors.js';
import { optimizeModel } from '../passes/optimize.js';
import { opHistogram } from '../passes/manager.js';
import { compareValues, ONNX_TOLERANCE, type Tolerance } from './compare.js';
import { listDataSets, readFeeds, readValueFile } from './test-data.js';
import { Engine } from '../engine/engine.js';

function gpuInfo(e: Engine): GpuCaseInfo {
  const info: GpuCaseInfo = { deviceSteps: 0, hostOps: [], eager: false, kernels: e.kernels().length };
  for (const p of e.planned().values()) {
    if (p.dynamic) info.eager = true;
    for (const s of p.plan?.steps ?? []) {
      if (s.kind === 'device') info.deviceSteps++;
      else if (!info.hostOps.includes(`${s.node.op}: ${s.reason}`)) info.hostOps.push(`${s.node.op}: ${s.reason}`);
    }
  }
  return info;
}

export interface CaseResult {
  name: string; status: 'pass' | 'fail' | 'excluded'; reason?: string; ms?: number;
  /** with `optimize`: op histograms of the model before and after optimization */
  opsBefore?: Record<string, number>;
  opsAfter?: Record<string, number>;
  /** with `optimize`: near misses of the optimizer ("rule at node: reason") */
  nearMisses?: string[];
  /** with device 'cuda' or 'plan': how the case ran on the GPU engine */
  gpu?: GpuCaseInfo;
}

export interface GpuCaseInfo {
  /** device steps (kernels launched or views) over all plans */
  deviceSteps: number;
  /** ops that ran on the host, with the reason ("op: reason") */
  hostOps: string[];
  /** some data set's shapes depended on data (eager execution) */
  eager: boolean;
  kernels: number;
}

export interface CaseOptions {
  /** optimize the model at this level (0-3) before running the data sets */
  optimize?: number;
  /** cpu: the interpreter (default); cuda: a GPU engine; plan: only plan the GPU engine (no GPU needed) */
  device?: 'cpu' | 'cuda' | 'plan';
}

export function runCase(caseDir: string, tol: Tolerance = ONNX_TOLERANCE, opts: CaseOptions = {}): CaseResult {
  const name = path.basename(caseDir);
  const start = performance.now();
  const extra: Partial<CaseResult> = {};
  try {
    const model = loadModel(path.join(caseDir, 'model.onnx'));
    if (opts.optimize !== undefined) {
      extra.opsBefore = opHistogram(model.graph);
      try {
        const rep = optimizeModel(model, { level: opts.optimize });
        extra.nearMisses = rep.nearMisses.slice(0, 20).map((m) => `${m.rule} at ${m.op} ${m.node}: ${m.reason}`);
      } finally {
        extra.opsAfter = opHistogram(model.graph);
      }
    }
    const g = model.graph;
    const engine = opts.device === 'cuda' || opts.device === 'plan' ? new Engine(model, { optimize: opts.optimize !== undefined ? 0 : 2 }) : undefined;
    try {
    for (const set of listDataSets(caseDir)) {
      const feeds = readFeeds(set, g);
      if (engine && opts.device === 'plan') {
        engine.planFor(feeds instanceof Map ? feeds : new Map(Object.entries(feeds)));
        extra.gpu = gpuInfo(engine);
        continue;
      }
      const outs = engine ? engine.run(feeds) : runModel(model, feeds);
      if (engine) extra.gpu = gpuInfo(engine);
      for (let i = 0; i < set.outputs.length; i++) {
        const info = g.outputs[i];
        const expected = readValueFile(set.outputs[i], info?.type);
        const r = compareValues(outs.get(info?.name ?? ''), expected, tol);
        if (r) return { name, status: 'fail', reason: `${path.basename(set.dir)} output '${info?.name}': ${r}`, ms: performance.now() - start, ...extra };
      }
    }
    return { name, status: 'pass', ms: performance.now() - start, ...extra };
    } finally {
      engine?.dispose();
    }
  } catch (e) {
    const err = asChimeraError(e);
    return { name, status: 'fail', reason: `${err.code}: ${err.message}`, ms: performance.now() - start, ...extra };
  }
}
