/**
 * Runs a directory of ONNX backend-test cases in a pool of worker threads, with a per-case time limit
 * (a case that hangs is killed and reported as failed), and the exclusion list applied.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { ChimeraError } from '../errors.js';
import type { CaseOptions, CaseResult } from './run-case.js';
import { runCase } from './run-case.js';
import { exclusionFor, type Exclusion } from './exclusions.js';

export interface SuiteOptions {
  filter?: RegExp;
  exclusions?: Exclusion[];
  /** worker threads (default: available cores); 0 runs in-process without a time limit */
  jobs?: number;
  /** per-case limit in ms (default 120 s) */
  timeoutMs?: number;
  onResult?: (r: CaseResult, done: number, total: number) => void;
  /** optimize each model at this level (0-3) before running it; results then carry op histograms */
  optimize?: number;
  /** cpu (default), cuda (GPU engine) or plan (plan the GPU engine only) */
  device?: CaseOptions['device'];
}

export interface SuiteReport { total: number; passed: number; failed: number; excluded: number; results: CaseResult[] }

export function listCases(dir: string): string[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (e) {
    throw new ChimeraError('E_IO', `cannot read test directory: ${(e as Error).message}`, { file: dir });
  }
  return entries.filter((d) => fs.existsSync(path.join(dir, d, 'model.onnx'))).sort();
}

export async function runSuite(dir: string, opts: SuiteOptions = {}): Promise<SuiteReport> {
  const names = listCases(dir).filter((n) => !opts.filter || opts.filter.test(n));
  const results = new Map<string, CaseResult>();
  const todo: string[] = [];
  for (const n of names) {
    const ex = exclusionFor(n, opts.exclusions ?? []);
    if (ex) results.set(n, { name: n, status: 'excluded', reason: ex.reason });
    else todo.push(n);
  }
  let done = results.size;
  const report = (r: CaseResult) => {
    results.set(r.name, r);
    done++;
    opts.onResult?.(r, done, names.length);
  };
  const caseOpts: CaseOptions = { ...(opts.optimize !== undefined ? { optimize: opts.optimize } : {}), ...(opts.device && opts.device !== 'cpu' ? { device: opts.device } : {}) };
  const jobs = opts.jobs ?? Math.max(1, Math.min(os.availableParallelism?.() ?? os.cpus().length, 8));
  if (jobs === 0) {
    for (const n of todo) report(runCase(path.join(dir, n), undefined, caseOpts));
  } else {
    await runPool(dir, todo, jobs, opts.timeoutMs ?? 120_000, report, caseOpts);
  }
  const ordered = names.map((n) => results.get(n)!);
  return {
    total: ordered.length,
    passed: ordered.filter((r) => r.status === 'pass').length,
    failed: ordered.filter((r) => r.status === 'fail').length,
    excluded: ordered.filter((r) => r.status === 'excluded').length,
    results: ordered,
  };
}

function runPool(dir: string, todo: string[], jobs: number, timeoutMs: number, report: (r: CaseResult) => void, caseOpts: CaseOptions = {}): Promise<void> {
  const workerFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.js');
  if (!fs.existsSync(workerFile)) throw new ChimeraError('E_INTERNAL', `conformance worker not found at ${workerFile} (run npm run build)`);
  let next = 0;
  let active = 0;
  return new Promise((resolve) => {
    const start = () => {
      if (next >= todo.length) {
        if (active === 0) resolve();
        return;
      }
      active++;
      const w = new Worker(workerFile);
      let timer: NodeJS.Timeout | undefined;
      let current: string | undefined;
      const feed = () => {
        if (next >= todo.length) {
          clearTimeout(timer);
          void w.terminate();
          active--;
          if (active === 0) resolve();
          return;
        }
        current = todo[next++];
        const began = Date.now();
        timer = setTimeout(() => {
          report({ name: current!, status: 'fail', reason: `timeout: over ${timeoutMs} ms`, ms: Date.now() - began });
          current = undefined;
          void w.terminate();
          active--;
          start();
        }, timeoutMs);
        w.postMessage({ id: 0, dir: path.join(dir, current), options: caseOpts });
      };
      w.on('message', (m: { result: CaseResult }) => {
        clearTimeout(timer);
        current = undefined;
        report(m.result);
        feed();
      });
      w.on('error', (e) => {
        clearTimeout(timer);
        if (current) report({ name: current, status: 'fail', reason: `worker crashed: ${e.message}` });
        current = undefined;
        active--;
        start();
      });
      feed();
    };
    for (let i = 0; i < Math.min(jobs, todo.length); i++) start();
    if (todo.length === 0) resolve();
  });
}

/** Markdown report (docs/CONFORMANCE.md). */
export function renderMarkdown(r: SuiteReport, command: string, optimizeLevel?: number, device = 'cpu'): string {
  const lines = [
    `# ONNX backend node-test conformance (${device === 'cuda' ? 'CUDA engines' : 'reference interpreter'}${optimizeLevel !== undefined ? `, models optimized at level ${optimizeLevel}` : ''})`,
    '',
    `Generated by \`${command}\`. Tolerances: rtol 1e-3, atol 1e-7.`,
    '',
    `| total | passed | failed | excluded |`,
    `| ---: | ---: | ---: | ---: |`,
    `| ${r.total} | ${r.passed} | ${r.failed} | ${r.excluded} |`,
    '',
    ...(device === 'cuda' ? gpuCoverage(r) : []),
    '## Failed',
    '',
    ...r.results.filter((x) => x.status === 'fail').map((x) => `- \`${x.name}\`: ${(x.reason ?? '').replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 240)}`),
    '',
    '## Excluded',
    '',
    ...r.results.filter((x) => x.status === 'excluded').map((x) => `- \`${x.name}\`: ${x.reason}`),
    '',
    '## Passed',
    '',
    r.results.filter((x) => x.status === 'pass').map((x) => `\`${x.name}\``).join(' '),
    '',
  ];
  return lines.join('\n');
}

/** GPU coverage lines: cases run entirely by generated kernels vs with host fallbacks, and the fallbacks. */
export function gpuCoverage(r: SuiteReport): string[] {
  const ran = r.results.filter((x) => x.gpu);
  const passed = ran.filter((x) => x.status === 'pass');
  const allGpu = passed.filter((x) => x.gpu!.hostOps.length === 0 && !x.gpu!.eager);
  const byOp = new Map<string, number>();
  for (const x of ran) for (const h of x.gpu!.hostOps) byOp.set(h, (byOp.get(h) ?? 0) + 1);
  const eager = ran.filter((x) => x.gpu!.eager).map((x) => x.name);
  return [
    '## GPU coverage',
    '',
    `Of ${passed.length} passing cases, ${allGpu.length} ran every node as generated CUDA kernels (or views); ${passed.length - allGpu.length} used the documented host fallback (the reference kernel) for some node, or ran eagerly because shapes depended on data (${eager.length} cases).`,
    '',
    '| host fallback (op: reason) | cases |',
    '| --- | ---: |',
    ...[...byOp].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k, n]) => `| ${k.replace(/\|/g, '\\|')} | ${n} |`),
    '',
  ];
}
