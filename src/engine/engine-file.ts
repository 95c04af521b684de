/**
 * The engine file: one versioned, checksummed file holding everything an engine needs.
 *
 *   "CHMENG01" | u32 manifest length | SHA-256 of the manifest (32 bytes) | manifest JSON | data
 *
 * The manifest records the chimera version, the format, the IR hash, the precision and options, the GPU
 * (name, arch), driver and NVRTC versions it was built with, and a table of sections (offset and length
 * in the data region, SHA-256 each): the compiled model (weights included, as ONNX), and per kernel its
 * CUDA source, PTX and CUBIN. It also keeps the launch plan of each representative binding (for
 * inspection; plans are re-derived on load, deterministically). A truncated or altered file gives a
 * typed E_ENGINE error naming what is wrong. Writes are atomic.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ChimeraError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic.js';
import { exportModel } from '../onnx/export.js';
import { encodeModelProto } from '../onnx/proto.js';
import { loadModelFromBytes } from '../onnx/import.js';
import type { KernelParam, KernelSource } from '../codegen/kernel-ir.js';
import { Engine, type EngineOptions } from './engine.js';
import type { KernelImage } from './kernels.js';

export const ENGINE_MAGIC = 'CHMENG01';
export const ENGINE_FORMAT = 1;

interface SectionRef {
  offset: number;
  bytes: number;
  sha256: string;
}

export interface EngineManifest {
  format: number;
  chimera: string;
  created: string;
  irHash: string;
  precision: string;
  options: EngineOptions;
  build: { gpu?: string; arch?: string; driver?: number; nvrtc?: string };
  model: SectionRef;
  kernels: {
    name: string;
    family: string;
    params: KernelParam[];
    maxThreads: number;
    source: SectionRef;
    image?: { arch: string; nvrtc: string; ptx: SectionRef; cubin?: SectionRef };
  }[];
  plans: { bindings: Record<string, number>; steps: { label: string; kind: string; kernels?: string[]; reason?: string }[]; arenaBytes?: number; naiveBytes?: number; dynamic?: string }[];
}

class SectionWriter {
  readonly chunks: Buffer[] = [];
  size = 0;
  add(data: Uint8Array | string): SectionRef {
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const ref = { offset: this.size, bytes: b.length, sha256: crypto.createHash('sha256').update(b).digest('hex') };
    this.chunks.push(b);
    this.size += b.length;
    return ref;
  }
}

export interface WriteEngineInfo {
  chimeraVersion: string;
  build: EngineManifest['build'];
  plans: EngineManifest['plans'];
}

/** Writes `engine` (its model, kernels and images) to `file`, atomically. */
export function writeEngine(engine: Engine, file: string, info: WriteEngineInfo): EngineManifest {
  const w = new SectionWriter();
  const modelBytes = encodeModelProto(exportModel(engine.model));
  const model = w.add(modelBytes);
  const kernels = engine.kernels().map((k) => {
    const img = engine.library.images.get(k.name);
    return {
      name: k.name, family: k.family, params: [...k.params], maxThreads: k.maxThreads,
      source: w.add(k.code),
      image: img ? { arch: img.arch, nvrtc: img.nvrtcVersion, ptx: w.add(img.ptx), cubin: img.cubin ? w.add(img.cubin) : undefined } : undefined,
    };
  });
  const manifest: EngineManifest = {
    format: ENGINE_FORMAT, chimera: info.chimeraVersion, created: new Date().toISOString(), irHash: model.sha256,
    precision: engine.precision, options: engine.options, build: info.build, model, kernels, plans: info.plans,
  };
  const json = Buffer.from(JSON.stringify(manifest), 'utf8');
  const head = Buffer.alloc(8 + 4 + 32);
  head.write(ENGINE_MAGIC, 0, 'ascii');
  head.writeUInt32LE(json.length, 8);
  crypto.createHash('sha256').update(json).digest().copy(head, 12);
  writeFileAtomic(file, [head, json, ...w.chunks]);
  return manifest;
}

function fail(file: string, msg: string): never {
  throw new ChimeraError('E_ENGINE', msg, { file });
}

/** Reads and checks an engine file's manifest and sections. */
export function readEngineFile(file: string): { manifest: EngineManifest; section: (r: SectionRef, what: string) => Buffer } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ChimeraError('E_IO', `cannot read the engine: ${(e as Error).message}`, { file });
  }
  if (buf.length < 44 || buf.toString('ascii', 0, 8) !== ENGINE_MAGIC) {
    if (buf.length >= 8 && buf.toString('ascii', 0, 6) === 'CHMENG' && buf.toString('ascii', 0, 8) !== ENGINE_MAGIC) fail(file, `engine format ${buf.toString('ascii', 6, 8)} is not supported by this chimera (it reads ${ENGINE_MAGIC.slice(6)})`);
    fail(file, buf.length < 44 ? `not an engine file or truncated (${buf.length} bytes)` : 'not a chimera engine file (bad magic)');
  }
  const len = buf.readUInt32LE(8);
  if (44 + len > buf.length) fail(file, `truncated: the manifest needs ${len} bytes, the file has ${buf.length - 44}`);
  const json = buf.subarray(44, 44 + len);
  if (!crypto.createHash('sha256').update(json).digest().equals(buf.subarray(12, 44))) fail(file, 'the manifest checksum does not match (the file was altered)');
  let manifest: EngineManifest;
  try {
    manifest = JSON.parse(json.toString('utf8')) as EngineManifest;
  } catch {
    fail(file, 'the manifest is not valid JSON');
  }
  if (manifest.format !== ENGINE_FORMAT) fail(file, `engine format ${manifest.format} is not supported (this chimera reads ${ENGINE_FORMAT})`);
  const data = 44 + len;
  const refs: SectionRef[] = [manifest.model];
  for (const k of manifest.kernels ?? []) refs.push(k.source, ...(k.image ? [k.image.ptx, ...(k.image.cubin ? [k.image.cubin] : [])] : []));
  const end = data + refs.reduce((m, r) => Math.max(m, (r?.offset ?? 0) + (r?.bytes ?? 0)), 0);
  if (end > buf.length) fail(file, `truncated: the sections end at byte ${end}, the file has ${buf.length}`);
  if (end < buf.length) fail(file, `${buf.length - end} unexpected bytes after the last section (the file was altered)`);
  const section = (r: SectionRef, what: string): Buffer => {
    if (!r || !Number.isInteger(r.offset) || !Number.isInteger(r.bytes) || r.offset < 0 || r.bytes < 0) fail(file, `bad section reference for ${what}`);
    if (data + r.offset + r.bytes > buf.length) fail(file, `truncated: ${what} ends at byte ${data + r.offset + r.bytes}, the file has ${buf.length}`);
    const b = buf.subarray(data + r.offset, data + r.offset + r.bytes);
    if (crypto.createHash('sha256').update(b).digest('hex') !== r.sha256) fail(file, `checksum mismatch in ${what} (the file was altered)`);
    return b;
  };
  return { manifest, section };
}

/** Loads an engine file: the model, kernel sources and images (checked); plans are re-made on first use. */
export function loadEngine(file: string): { engine: Engine; manifest: EngineManifest } {
  const { manifest, section } = readEngineFile(file);
  const model = loadModelFromBytes(section(manifest.model, 'the model'), file);
  const engine = new Engine(model, manifest.options, true);
  for (const k of manifest.kernels) {
    const src: KernelSource = { name: k.name, family: k.family, params: k.params, maxThreads: k.maxThreads, code: section(k.source, `the source of ${k.name}`).toString('utf8') };
    engine.library.add(src);
    if (k.image) {
      const img: KernelImage = {
        arch: k.image.arch, nvrtcVersion: k.image.nvrtc,
        ptx: section(k.image.ptx, `the PTX of ${k.name}`).toString('utf8'),
        cubin: k.image.cubin ? new Uint8Array(section(k.image.cubin, `the CUBIN of ${k.name}`)) : null,
      };
      engine.library.images.set(k.name, img);
    }
  }
  return { engine, manifest };
}
