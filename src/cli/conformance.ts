/** `chimera conformance <dir>`: runs backend test cases and reports pass/fail/excluded. */
import { ChimeraError } from '../errors.js';
import { cudaStatus } from '../runtime/cuda.js';
import { nvrtcStatus } from '../runtime/compile.js';
import { gpuCoverage } from '../conformance/suite.js';
import { loadExclusions } from '../conformance/exclusions.js';
import { renderMarkdown, runSuite } from '../conformance/suite.js';
import { writeFileAtomic } from '../util/atomic.js';
import { usage } from './common.js';
import { fusionRates, formatFusionRates } from '../conformance/fusion-rate.js';

export interface ConformanceCliOptions {
  json?: boolean; filter?: string; device: string; exclusions: string; report?: string; jobs?: number; timeout: number;
  /** optimize each model first: true (default level 2) or a level "0"-"3" */
  optimize?: boolean | string;
}

export async function conformanceCli(dir: string, o: ConformanceCliOptions): Promise<number> {
  if (o.device !== 'cpu' && o.device !== 'cuda' && o.device !== 'plan') usage(`--device must be cpu, cuda or plan, got '${o.device}'`);
  if (o.device === 'cuda' && !cudaStatus().available) throw new ChimeraError('E_DEVICE', `--device cuda: CUDA is not available here: ${cudaStatus().reason}`);
  if (o.device === 'cuda' && !nvrtcStatus().available) throw new ChimeraError('E_DEVICE', `--device cuda: NVRTC is not available here: ${nvrtcStatus().reason}`);
  let filter: RegExp | undefined;
  if (o.filter) {
    try { filter = new RegExp(o.filter); } catch (e) { usage(`--filter is not a valid regular expression: ${(e as Error).message}`); }
  }
  if (o.jobs !== undefined && (!Number.isInteger(o.jobs) || o.jobs < 0)) usage('--jobs must be a non-negative integer');
  if (!Number.isFinite(o.timeout) || o.timeout <= 0) usage('--timeout must be a positive number of seconds');
  let optimize: number | undefined;
  if (o.optimize !== undefined && o.optimize !== false) {
    optimize = o.optimize === true ? 2 : Number(o.optimize);
    if (!/^[0-3]$/.test(String(optimize))) usage(`--optimize level must be 0, 1, 2 or 3, got '${o.optimize}'`);
  }
  const exclusions = loadExclusions(o.exclusions);
  const tty = process.stderr.isTTY;
  const report = await runSuite(dir, {
    filter, exclusions, jobs: o.jobs, timeoutMs: o.timeout * 1000, optimize, device: o.device as 'cpu' | 'cuda' | 'plan',
    onResult: (r, done, total) => {
      if (o.json) return;
      if (r.status === 'fail') process.stderr.write(`${tty ? '\r\x1b[K' : ''}FAIL ${r.name}: ${r.reason}\n`);
      if (tty) process.stderr.write(`\r\x1b[K${done}/${total} ${r.name}`);
    },
  });
  if (tty && !o.json) process.stderr.write('\r\x1b[K');
  const fusion = optimize !== undefined ? fusionRates(report.results) : undefined;
  if (o.report) {
    const cmd = `chimera conformance ${dir}${o.device !== 'cpu' ? ` --device ${o.device}` : ''}${o.filter ? ` --filter '${o.filter}'` : ''}${optimize !== undefined ? ` --optimize ${optimize}` : ''} --report ${o.report}`;
    const fusionText = fusion && Object.keys(fusion).length ? `\n## Fusion of expanded cases (--optimize ${optimize})\n\n\`\`\`\n${formatFusionRates(fusion)}\n\`\`\`\n` : '';
    writeFileAtomic(o.report, renderMarkdown(report, cmd, optimize, o.device) + fusionText);
  }
  if (o.json) process.stdout.write(JSON.stringify(fusion ? { ...report, fusion } : report) + '\n');
  else {
    process.stdout.write(`${report.total} cases: ${report.passed} passed, ${report.failed} failed, ${report.excluded} excluded\n`);
    if (o.device !== 'cpu') process.stdout.write(gpuCoverage(report).filter((l) => l && !l.startsWith('#')).slice(0, 40).join('\n') + '\n');
    if (fusion && Object.keys(fusion).length) process.stdout.write(formatFusionRates(fusion) + '\n');
  }
  return 0;
}
