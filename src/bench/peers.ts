/**
 * peers.json, written by scripts/bench_peers.py on the GPU machine: per benchmark row the ONNX file, the
 * inputs and torch's fp16 outputs (.npy, paths relative to the folder), torch eager and torch.compile
 * timings, and the bytes/FLOPs the floors are computed from.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ChimeraError } from '../errors.js';

export interface PeerTorch {
  iters?: number;
  repeats?: number;
  eager_ms?: number;
  compile_ms?: number;
  compile_s?: number;
  /** why torch.compile has no time (skipped or failed) */
  compile_note?: string;
  compile_rel_l2_vs_eager?: number;
}

export interface PeerRow {
  id: string;
  model: string;
  kind: 'prefill' | 'decode' | 'forward';
  shape: string;
  batch: number;
  seq: number;
  past: number;
  onnx: string;
  inputs?: Record<string, string>;
  outputs?: Record<string, string>;
  /** decode rows: tokens produced per run (= batch) */
  tokens_per_run?: number;
  flops?: number;
  bytes?: number;
  floor_ms?: number;
  torch?: PeerTorch;
  /** the peer side of this row failed */
  error?: string;
}

export interface PeersFile {
  version: number;
  device?: string;
  created?: string;
  argv?: string[];
  ceilings?: { bytes_per_s: number; flops_per_s: number };
  versions?: Record<string, string>;
  models: Record<string, { onnx?: string; exporter?: string; weights?: string; export_s?: number }>;
  rows: PeerRow[];
  failures?: { model: string; reason: string }[];
}

const bad = (file: string, msg: string): never => {
  throw new ChimeraError('E_USAGE', `${file}: ${msg}`, { file });
};

/** Reads and checks DIR/peers.json (the fields the bench uses; extra fields are kept). */
export function readPeers(dir: string): PeersFile {
  const file = path.join(dir, 'peers.json');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ChimeraError('E_USAGE', `${dir} is not a folder (give the folder scripts/bench_peers.py wrote)`, { file: dir });
  }
  if (!fs.existsSync(file)) {
    throw new ChimeraError('E_USAGE', `no peers.json in ${dir}: run \`python3 scripts/bench_peers.py ${dir}\` on the GPU machine first`, { file });
  }
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    return bad(file, `not valid JSON (${(e as Error).message})`);
  }
  const p = data as PeersFile;
  if (typeof p !== 'object' || p === null || !Array.isArray(p.rows)) return bad(file, 'has no "rows" list');
  if (p.version !== 1) bad(file, `version ${String(p.version)} is not supported (expected 1)`);
  p.models ??= {};
  p.rows.forEach((r, i) => {
    const where = `row ${i}`;
    if (typeof r !== 'object' || r === null) bad(file, `${where} is not an object`);
    for (const k of ['id', 'model', 'shape', 'onnx'] as const) if (typeof r[k] !== 'string') bad(file, `${where}: "${k}" must be a string`);
    for (const k of ['inputs', 'outputs'] as const) {
      if (r[k] !== undefined && (typeof r[k] !== 'object' || Object.values(r[k]!).some((v) => typeof v !== 'string'))) bad(file, `${where} (${r.id}): "${k}" must map names to .npy paths`);
    }
  });
  return p;
}
