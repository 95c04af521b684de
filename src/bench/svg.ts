/**
 * The bar chart of `chimera bench`, as hand-written SVG (no dependency): one group per row, bars for the
 * floor, torch eager, torch.compile and chimera, on a log-scale time axis (the values span decades).
 * Byte-deterministic for a given report.
 */
import { fmtMs, type BenchReport } from './report.js';

export const SERIES = [
  { key: 'floorMs', label: 'floor', color: '#9e9e9e' },
  { key: 'torchEagerMs', label: 'torch eager', color: '#f2a541' },
  { key: 'torchCompileMs', label: 'torch.compile', color: '#4c8c6b' },
  { key: 'chimeraMs', label: 'chimera', color: '#b23a48' },
] as const;

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

export function renderChart(rep: BenchReport, title = 'chimera bench: device time per run (ms, log scale)'): string {
  const W = 960;
  const left = 230;
  const right = 90;
  const top = 64;
  const barH = 11;
  const groupGap = 16;
  const groupH = SERIES.length * barH + groupGap;
  const plotW = W - left - right;
  const H = top + Math.max(1, rep.rows.length) * groupH + 40;

  const values: number[] = [];
  for (const r of rep.rows) for (const s of SERIES) {
    const v = r[s.key];
    if (v !== undefined && Number.isFinite(v) && v > 0 && (s.key !== 'chimeraMs' || r.status === 'ok')) values.push(v);
  }
  const lo = values.length ? Math.floor(Math.log10(Math.min(...values))) : -2;
  let hi = values.length ? Math.ceil(Math.log10(Math.max(...values))) : 2;
  if (hi <= lo) hi = lo + 1;
  const x = (v: number) => left + ((Math.log10(v) - lo) / (hi - lo)) * plotW;

  const o: string[] = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(`<text x="${left}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`);
  if (rep.device) o.push(`<text x="${left}" y="36" fill="#555555">${escapeXml(`${rep.device}; chimera ${rep.precision}`)}</text>`);
  SERIES.forEach((s, i) => {
    const lx = left + i * 150;
    o.push(`<rect x="${lx}" y="44" width="12" height="10" fill="${s.color}"/>`);
    o.push(`<text x="${lx + 16}" y="53">${escapeXml(s.label)}</text>`);
  });
  const axisBottom = top + rep.rows.length * groupH;
  for (let e = lo; e <= hi; e++) {
    const gx = num(x(10 ** e));
    o.push(`<line x1="${gx}" y1="${top - 4}" x2="${gx}" y2="${axisBottom}" stroke="#dddddd"/>`);
    o.push(`<text x="${gx}" y="${axisBottom + 14}" text-anchor="middle" fill="#555555">${escapeXml(fmtMs(10 ** e))}</text>`);
  }
  o.push(`<text x="${left + plotW / 2}" y="${axisBottom + 30}" text-anchor="middle" fill="#555555">ms per run</text>`);

  rep.rows.forEach((r, gi) => {
    const gy = top + gi * groupH;
    o.push(`<text x="${left - 8}" y="${num(gy + barH * 1.6)}" text-anchor="end" font-weight="bold">${escapeXml(r.model)}</text>`);
    o.push(`<text x="${left - 8}" y="${num(gy + barH * 3)}" text-anchor="end" fill="#333333">${escapeXml(r.shape)}</text>`);
    SERIES.forEach((s, si) => {
      const y = gy + si * barH;
      const v = r[s.key];
      const shown = v !== undefined && Number.isFinite(v) && v > 0 && (s.key !== 'chimeraMs' || r.status === 'ok');
      if (!shown) {
        const why = s.key === 'chimeraMs' ? (r.status === 'failed' ? 'failed (outputs wrong)' : r.status) : s.key === 'torchCompileMs' ? r.torchCompileNote?.split(':')[0] ?? 'n/a' : 'n/a';
        o.push(`<text x="${left + 4}" y="${num(y + barH - 2)}" fill="${s.color}" font-style="italic">${escapeXml(`${s.label}: ${why}`)}</text>`);
        return;
      }
      const w = Math.max(1, x(v!) - left);
      o.push(`<rect x="${left}" y="${num(y + 1)}" width="${num(w)}" height="${barH - 2}" fill="${s.color}"><title>${escapeXml(`${r.model} ${r.shape} ${s.label}: ${fmtMs(v)} ms`)}</title></rect>`);
      o.push(`<text x="${num(left + w + 4)}" y="${num(y + barH - 2)}" fill="#333333">${escapeXml(fmtMs(v))}</text>`);
    });
  });
  o.push('</svg>');
  return o.join('\n') + '\n';
}
