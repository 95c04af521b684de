/** The Markdown report of `chimera bench`: one table of all rows (ms per run), one of decode throughput. */
import { fmtErr, fmtMs, fmtRatio, tokensPerS, type BenchReport, type BenchRowResult } from './report.js';
import { KERNEL_DEFAULTS, renderKernelsSection } from './kernels.js';

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function chimeraCell(r: BenchRowResult): string {
  if (r.status === 'ok') return fmtMs(r.chimeraMs);
  return r.status === 'failed' ? 'not timed (wrong outputs)' : r.status;
}

function torchCompileCell(r: BenchRowResult): string {
  if (r.torchCompileMs !== undefined) return fmtMs(r.torchCompileMs);
  return r.torchCompileNote ? `– (${r.torchCompileNote.split(':')[0]})` : '–';
}

function noteCell(r: BenchRowResult, limit: number): string {
  const parts: string[] = [];
  if (r.status === 'failed') parts.push(`FAILED: rel L2 > ${limit}`);
  if (r.note) parts.push(r.note);
  if (r.chimeraTiming) parts.push(`${r.chimeraTiming.mode}, ${r.chimeraTiming.iters}×${r.chimeraTiming.repeats}`);
  return cell(parts.join('; '));
}

export function renderTable(rep: BenchReport): string {
  const lines = [
    '| model | shape | floor ms | torch eager ms | torch.compile ms | chimera ms | chimera / torch.compile | rel L2 | notes |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rep.rows) {
    lines.push(`| ${cell(r.model)} | ${cell(r.shape)} | ${fmtMs(r.floorMs)} | ${fmtMs(r.torchEagerMs)} | ${cell(torchCompileCell(r))} | ${cell(chimeraCell(r))} | ${fmtRatio(r.ratio)} | ${fmtErr(r.relL2)} | ${noteCell(r, rep.maxRelL2)} |`);
  }
  return lines.join('\n');
}

export function renderDecodeTable(rep: BenchReport): string | undefined {
  const rows = rep.rows.filter((r) => r.tokensPerRun !== undefined);
  if (!rows.length) return undefined;
  const tps = (ms: number | undefined, r: BenchRowResult) => {
    const v = tokensPerS(ms, r.tokensPerRun);
    return v === undefined ? '–' : v >= 100 ? v.toFixed(0) : v.toPrecision(3);
  };
  const lines = ['| model | shape | floor tok/s | torch eager tok/s | torch.compile tok/s | chimera tok/s |', '|---|---|---:|---:|---:|---:|'];
  for (const r of rows) lines.push(`| ${cell(r.model)} | ${cell(r.shape)} | ${tps(r.floorMs, r)} | ${tps(r.torchEagerMs, r)} | ${tps(r.torchCompileMs, r)} | ${r.status === 'ok' ? tps(r.chimeraMs, r) : '–'} |`);
  return lines.join('\n');
}

/** The whole Markdown report: what was measured, how, and the tables. */
export function renderMarkdown(rep: BenchReport, command?: string): string {
  const out = ['# chimera bench', ''];
  out.push(`Device: ${rep.device ?? 'unknown'}; peers measured ${rep.peersCreated ?? '(date unknown)'}; chimera precision ${rep.precision}.`);
  if (command) out.push('', `Command: \`${command}\``);
  const kernelsOnly = rep.rows.length === 0 && rep.kernels !== undefined;
  if (!kernelsOnly) {
    out.push(
      '',
      'All times are device time per run (CUDA events around back-to-back runs after warm-up, median of repeats):',
      'torch eager, torch.compile(mode="reduce-overhead") (CUDA graphs), chimera `Engine.time` (CUDA-graph replays).',
      'Floor: max(bytes / 2.97 TB/s, FLOPs / 758 TFLOP/s) with bytes = fp16 weights + inputs + outputs.',
      `A row whose outputs differ from torch's fp16 outputs by more than rel L2 ${rep.maxRelL2} is failed and not timed.`,
      '',
      renderTable(rep),
    );
    const dec = renderDecodeTable(rep);
    if (dec) out.push('', 'Decode (one new token per sequence, KV cache given as inputs):', '', dec);
  }
  if (rep.kernels) {
    out.push('', renderKernelsSection(rep.kernels, rep.kernelMaxRelL2 ?? KERNEL_DEFAULTS.maxRelL2));
    if (rep.kernelsCreated && rep.kernelsCreated !== rep.peersCreated) out.push('', `Torch kernel times measured ${rep.kernelsCreated}.`);
  }
  if (rep.versions) out.push('', `Peer versions: ${Object.entries(rep.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  return out.join('\n') + '\n';
}
