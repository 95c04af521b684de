/**
 * TensorProto ↔ Tensor: every ONNX data type, raw_data and the typed fields, and external data
 * (read by offset, only from inside the model's directory).
 */
import fs from 'node:fs';
import path from 'node:path';
import { allocStorage, dtypeBits, dtypeFromCode, isNarrowFloat, onnxCode, type DType, type TensorData } from '../ir/dtype.js';
import { decodeBFloat16Array, decodeBits, decodeFloat16Array, encodeBits } from '../ir/float.js';
import { Tensor } from '../ir/tensor.js';
import { checkedSize } from '../ir/limits.js';
import { ChimeraError, type ErrorLocation } from '../errors.js';
import { has, toBigInt, toLong, toNumber, type Int64, type TensorProto } from './proto.js';

export interface TensorReadOptions {
  /** directory external data is resolved against (the model's directory); absent: external data refused */
  baseDir?: string;
  file?: string;
  /** where in the model this tensor is, for messages ("initializer 'w'", "attribute 'value'") */
  field?: string;
  node?: string;
}

const textDecoder = new TextDecoder('utf-8');
const textEncoder = new TextEncoder();

export function dimsOf(dims: Int64[] | undefined, loc: ErrorLocation): number[] {
  return (dims ?? []).map((d) => {
    const b = toBigInt(d);
    if (b < 0n) throw new ChimeraError('E_INVALID_MODEL', `negative dimension ${b}`, loc);
    if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new ChimeraError('E_LIMIT', `dimension ${b} is absurdly large`, loc);
    return Number(b);
  });
}

/** Decodes a TensorProto into a Tensor. */
export function tensorFromProto(p: TensorProto, opts: TensorReadOptions = {}): Tensor {
  const loc: ErrorLocation = { file: opts.file, node: opts.node, field: opts.field ?? (p.name ? `tensor '${p.name}'` : undefined) };
  const code = p.data_type ?? 0;
  const dtype = dtypeFromCode(code);
  if (!dtype) throw new ChimeraError('E_INVALID_MODEL', `unknown or undefined tensor data_type ${code}`, loc);
  if (has(p, 'segment') && p.segment) throw new ChimeraError('E_UNSUPPORTED', 'segmented tensors are not supported', loc);
  const shape = dimsOf(p.dims, loc);
  const n = checkedSize(shape, loc);
  let raw: Uint8Array | undefined;
  let owned = false;
  if (p.data_location === 1 || (p.external_data && p.external_data.length > 0)) {
    raw = readExternal(p, dtype, n, opts, loc);
    owned = true;
  } else if (has(p, 'raw_data') && p.raw_data) {
    raw = p.raw_data;
  }
  const data = raw !== undefined ? decodeRaw(dtype, raw, n, loc, owned) : decodeTyped(dtype, p, n, loc);
  return new Tensor(dtype, shape, data);
}

function expectedRawBytes(dtype: DType, n: number): number {
  const elems = dtype === 'complex64' || dtype === 'complex128' ? n : n;
  return Math.ceil((elems * dtypeBits(dtype)) / 8);
}

function sizeError(what: string, got: number, want: number, loc: ErrorLocation): ChimeraError {
  return new ChimeraError('E_INVALID_MODEL', `${what} holds ${got} ${what === 'raw_data' ? 'bytes' : 'values'}, the shape needs ${want}`, loc);
}

/** `owned`: `raw` is a fresh buffer nobody else holds (external data), so it may be viewed without a copy. */
function decodeRaw(dtype: DType, raw: Uint8Array, n: number, loc: ErrorLocation, owned = false): TensorData {
  if (dtype === 'string') throw new ChimeraError('E_INVALID_MODEL', 'string tensors cannot use raw_data', loc);
  const want = expectedRawBytes(dtype, n);
  if (raw.length !== want) throw sizeError('raw_data', raw.length, want, loc);
  const bitsPer = dtypeBits(dtype);
  const viewOk = owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
  if (viewOk && bitsPer >= 8 && !isNarrowFloat(dtype) && dtype !== 'bool') {
    // a fresh buffer of the wire type: view it in place (no second copy of large external data)
    const Ctor = allocStorage(dtype, 0).constructor as unknown as new (b: ArrayBufferLike) => Exclude<TensorData, string[]>;
    return new Ctor(raw.buffer);
  }
  const out = allocStorage(dtype, n);
  const bits = dtypeBits(dtype);
  if (bits < 8) {
    // packed sub-byte types, low bits first
    const per = 8 / bits;
    const mask = (1 << bits) - 1;
    for (let i = 0; i < n; i++) {
      const v = (raw[(i / per) | 0] >> ((i % per) * bits)) & mask;
      (out as Int8Array | Uint8Array | Float32Array)[i] = unpackSmall(dtype, v, bits);
    }
    return out;
  }
  // copy into an aligned buffer then view it with the wire type
  const aligned = new Uint8Array(raw.length);
  aligned.set(raw);
  const buf = aligned.buffer;
  switch (dtype) {
    case 'float16': decodeFloat16Array(new Uint16Array(buf), out as Float32Array); return out;
    case 'bfloat16': decodeBFloat16Array(new Uint16Array(buf), out as Float32Array); return out;
    case 'float8e4m3fn': case 'float8e4m3fnuz': case 'float8e5m2': case 'float8e5m2fnuz': case 'float8e8m0': {
      const o = out as Float32Array;
      for (let i = 0; i < n; i++) o[i] = decodeBits(dtype, aligned[i]);
      return out;
    }
    case 'bool': {
      const o = out as Uint8Array;
      for (let i = 0; i < n; i++) o[i] = aligned[i] ? 1 : 0;
      return out;
    }
    default: {
      // the storage type is the wire type for everything else (little-endian hosts)
      const Ctor = (out as Exclude<TensorData, string[]>).constructor as unknown as new (b: ArrayBuffer) => Exclude<TensorData, string[]>;
      return new Ctor(buf);
    }
  }
}

function unpackSmall(dtype: DType, v: number, bits: number): number {
  if (dtype === 'float4e2m1') return decodeBits(dtype, v);
  if (dtype === 'int4' || dtype === 'int2') return v >= 1 << (bits - 1) ? v - (1 << bits) : v;
  return v;
}

/** The typed field that carries `dtype` and how many entries it must hold for `n` elements. */
function typedField(dtype: DType, p: TensorProto, n: number): [string, number, number] {
  const complex = dtype === 'complex64' || dtype === 'complex128' ? 2 : 1;
  switch (dtype) {
    case 'float32': case 'complex64': return ['float_data', (p.float_data ?? []).length, n * complex];
    case 'float64': case 'complex128': return ['double_data', (p.double_data ?? []).length, n * complex];
    case 'int64': return ['int64_data', (p.int64_data ?? []).length, n];
    case 'uint64': case 'uint32': return ['uint64_data', (p.uint64_data ?? []).length, n];
    case 'string': return ['string_data', (p.string_data ?? []).length, n];
    default: {
      const bits = dtypeBits(dtype);
      return ['int32_data', (p.int32_data ?? []).length, bits < 8 ? Math.ceil(n / (8 / bits)) : n];
    }
  }
}

function decodeTyped(dtype: DType, p: TensorProto, n: number, loc: ErrorLocation): TensorData {
  // check the count before allocating, so a tiny file cannot ask for a huge buffer
  const [field, have, want] = typedField(dtype, p, n);
  if (have !== want) throw sizeError(field, have, want, loc);
  const out = allocStorage(dtype, n);
  const check = (field: string, len: number, want: number) => {
    if (len !== want) throw sizeError(field, len, want, loc);
  };
  switch (dtype) {
    case 'float32': case 'complex64': {
      const src = p.float_data ?? [];
      check('float_data', src.length, out.length);
      (out as Float32Array).set(src);
      return out;
    }
    case 'float64': case 'complex128': {
      const src = p.double_data ?? [];
      check('double_data', src.length, out.length);
      (out as Float64Array).set(src);
      return out;
    }
    case 'int64': {
      const src = p.int64_data ?? [];
      check('int64_data', src.length, n);
      const o = out as BigInt64Array;
      for (let i = 0; i < n; i++) o[i] = BigInt.asIntN(64, toBigInt(src[i]));
      return out;
    }
    case 'uint64': case 'uint32': {
      const src = p.uint64_data ?? [];
      check('uint64_data', src.length, n);
      if (dtype === 'uint64') {
        const o = out as BigUint64Array;
        for (let i = 0; i < n; i++) o[i] = BigInt.asUintN(64, toBigInt(src[i]));
      } else {
        const o = out as Uint32Array;
        for (let i = 0; i < n; i++) o[i] = toNumber(src[i]);
      }
      return out;
    }
    case 'string': {
      const src = p.string_data ?? [];
      check('string_data', src.length, n);
      const o = out as string[];
      for (let i = 0; i < n; i++) o[i] = textDecoder.decode(src[i]);
      return out;
    }
    default: {
      // int32_data carries int32, int16, int8, uint16, uint8, bool, float16/bfloat16/float8 bits, and packed 4/2-bit types
      const src = p.int32_data ?? [];
      const bits = dtypeBits(dtype);
      if (bits < 8) {
        const per = 8 / bits;
        check('int32_data', src.length, Math.ceil(n / per));
        const mask = (1 << bits) - 1;
        for (let i = 0; i < n; i++) {
          const v = (src[(i / per) | 0] >> ((i % per) * bits)) & mask;
          (out as Int8Array)[i] = unpackSmall(dtype, v, bits);
        }
        return out;
      }
      check('int32_data', src.length, n);
      if (isNarrowFloat(dtype)) {
        const o = out as Float32Array;
        for (let i = 0; i < n; i++) o[i] = decodeBits(dtype, src[i] & 0xffff);
      } else if (dtype === 'bool') {
        const o = out as Uint8Array;
        for (let i = 0; i < n; i++) o[i] = src[i] ? 1 : 0;
      } else {
        (out as Int32Array).set(src);
      }
      return out;
    }
  }
}

/** Resolves an external-data location safely inside `baseDir`. */
export function resolveExternalPath(baseDir: string, location: string, loc: ErrorLocation): string {
  if (!location) throw new ChimeraError('E_EXTERNAL_DATA', 'external data has no location', loc);
  if (path.isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location) || location.startsWith('\\')) {
    throw new ChimeraError('E_EXTERNAL_DATA', `external data location '${location}' is absolute; only paths inside the model directory are allowed`, loc);
  }
  const parts = location.split(/[\\/]+/);
  if (parts.includes('..')) {
    throw new ChimeraError('E_EXTERNAL_DATA', `external data location '${location}' escapes the model directory with '..'`, loc);
  }
  const base = path.resolve(baseDir);
  const full = path.resolve(base, location);
  if (full !== base && !full.startsWith(base + path.sep)) {
    throw new ChimeraError('E_EXTERNAL_DATA', `external data location '${location}' is outside the model directory`, loc);
  }
  // refuse symbolic links that point outside
  try {
    const real = fs.realpathSync(full);
    const realBase = fs.realpathSync(base);
    if (real !== realBase && !real.startsWith(realBase + path.sep)) {
      throw new ChimeraError('E_EXTERNAL_DATA', `external data location '${location}' resolves outside the model directory`, loc);
    }
  } catch (e) {
    if (e instanceof ChimeraError) throw e;
    throw new ChimeraError('E_EXTERNAL_DATA', `external data file '${location}' cannot be opened: ${(e as Error).message}`, loc);
  }
  return full;
}

function readExternal(p: TensorProto, dtype: DType, n: number, opts: TensorReadOptions, loc: ErrorLocation): Uint8Array {
  const kv = new Map((p.external_data ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  if (opts.baseDir === undefined) throw new ChimeraError('E_EXTERNAL_DATA', 'tensor uses external data but the model was not loaded from a file', loc);
  const file = resolveExternalPath(opts.baseDir, kv.get('location') ?? '', loc);
  const parseNum = (key: string): number | undefined => {
    const s = kv.get(key);
    if (s === undefined || s === '') return undefined;
    if (!/^\d+$/.test(s.trim())) throw new ChimeraError('E_EXTERNAL_DATA', `external data ${key} '${s}' is not a non-negative integer`, loc);
    return Number(s);
  };
  const offset = parseNum('offset') ?? 0;
  const want = expectedRawBytes(dtype, n);
  const length = parseNum('length') ?? want;
  if (dtype === 'string') throw new ChimeraError('E_EXTERNAL_DATA', 'string tensors cannot use external data', loc);
  if (length !== want) throw new ChimeraError('E_INVALID_MODEL', `external data length ${length} does not match the ${want} bytes the shape needs`, loc);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ChimeraError('E_EXTERNAL_DATA', `cannot open external data '${kv.get('location')}': ${(e as Error).message}`, loc);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (offset + length > size) {
      throw new ChimeraError('E_EXTERNAL_DATA', `external data range [${offset}, ${offset + length}) is past the end of '${kv.get('location')}' (${size} bytes)`, loc);
    }
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const chunk = Math.min(length - done, 1 << 30);
      const got = fs.readSync(fd, buf, done, chunk, offset + done);
      if (got <= 0) throw new ChimeraError('E_EXTERNAL_DATA', `short read of external data '${kv.get('location')}'`, loc);
      done += got;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/** Little-endian bytes of a tensor's elements (the raw_data encoding). */
export function tensorToRaw(t: Tensor): Uint8Array {
  const dtype = t.dtype;
  if (dtype === 'string') throw new ChimeraError('E_INTERNAL', 'string tensors have no raw encoding');
  const bits = dtypeBits(dtype);
  const n = t.size;
  if (bits < 8) {
    const per = 8 / bits;
    const mask = (1 << bits) - 1;
    const out = new Uint8Array(Math.ceil(n / per));
    for (let i = 0; i < n; i++) {
      const v = dtype === 'float4e2m1' ? encodeBits(dtype, t.data[i] as number) : (t.data[i] as number) & mask;
      out[(i / per) | 0] |= (v & mask) << ((i % per) * bits);
    }
    return out;
  }
  if (isNarrowFloat(dtype)) {
    const src = t.data as Float32Array;
    if (bits === 16) {
      const u = new Uint16Array(n);
      for (let i = 0; i < n; i++) u[i] = encodeBits(dtype, src[i]);
      return new Uint8Array(u.buffer);
    }
    const u = new Uint8Array(n);
    for (let i = 0; i < n; i++) u[i] = encodeBits(dtype, src[i]);
    return u;
  }
  const d = t.data as Exclude<TensorData, string[]>;
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength).slice();
}

/** Encodes a Tensor as a TensorProto (raw_data for numbers, string_data for strings). */
export function tensorToProto(t: Tensor, name?: string): TensorProto {
  const p: TensorProto = { dims: t.shape.map((d) => toLong(BigInt(d))), data_type: onnxCode(t.dtype) };
  if (name !== undefined) p.name = name;
  if (t.dtype === 'string') p.string_data = (t.data as string[]).map((s) => textEncoder.encode(s));
  else p.raw_data = tensorToRaw(t);
  return p;
}

/** A tensor from little-endian raw bytes (the raw_data encoding; the device layout of chimera's kernels). */
export function tensorFromRaw(dtype: DType, shape: readonly number[], raw: Uint8Array): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return new Tensor(dtype, shape, decodeRaw(dtype, raw, n, {}, false));
}
