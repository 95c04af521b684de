/**
 * Typed errors. Every failure a user can cause carries a code, the file, and where known the node
 * and field, so that tools and people can tell what went wrong without a stack trace.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command-line usage
  | 'E_IO' // file could not be read or written
  | 'E_PROTOBUF' // bytes are not a valid ONNX protobuf message
  | 'E_INVALID_MODEL' // structurally invalid model (cycles, undefined values, duplicates, bad sizes)
  | 'E_UNSUPPORTED' // valid ONNX that chimera does not support (yet)
  | 'E_EXTERNAL_DATA' // external data missing, out of bounds, or outside the model directory
  | 'E_SHAPE' // shape or type inference found an inconsistency
  | 'E_LIMIT' // a configured resource cap would be exceeded
  | 'E_RUNTIME' // the interpreter failed while executing a node
  | 'E_ENGINE' // an engine file is truncated, tampered with, or from an incompatible chimera
  | 'E_DEVICE' // the GPU or its driver/compiler failed or is absent
  | 'E_INTERNAL'; // a bug in chimera

export interface ErrorLocation {
  file?: string;
  node?: string; // node name, or op_type#index when unnamed
  field?: string; // e.g. "attribute 'axis'", "input 2", "initializer 'w'"
}

/** Exit codes of the CLI, by error code. */
export const EXIT_CODES: Record<ErrorCode, number> = {
  E_USAGE: 2,
  E_IO: 3,
  E_PROTOBUF: 3,
  E_INVALID_MODEL: 3,
  E_UNSUPPORTED: 3,
  E_EXTERNAL_DATA: 3,
  E_SHAPE: 3,
  E_LIMIT: 3,
  E_RUNTIME: 4,
  E_ENGINE: 3,
  E_DEVICE: 4,
  E_INTERNAL: 1,
};

export class ChimeraError extends Error {
  readonly code: ErrorCode;
  readonly location: ErrorLocation;
  /** the message without the location suffix */
  readonly detail: string;
  constructor(code: ErrorCode, message: string, location: ErrorLocation = {}, options?: { cause?: unknown }) {
    const where = [
      location.file ? `file ${location.file}` : '',
      location.node ? `node ${location.node}` : '',
      location.field ? location.field : '',
    ].filter(Boolean);
    super(where.length ? `${message} (${where.join(', ')})` : message, options);
    this.name = 'ChimeraError';
    this.detail = message;
    this.code = code;
    this.location = location;
  }

  /** Same error with missing location parts filled in (used as errors travel outward). */
  withLocation(loc: ErrorLocation): ChimeraError {
    const merged = { ...loc, ...stripUndefined(this.location) };
    if (merged.file === this.location.file && merged.node === this.location.node && merged.field === this.location.field) return this;
    return new ChimeraError(this.code, this.detail, merged, { cause: this.cause });
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.location };
  }
}

function stripUndefined(loc: ErrorLocation): ErrorLocation {
  const out: ErrorLocation = {};
  if (loc.file !== undefined) out.file = loc.file;
  if (loc.node !== undefined) out.node = loc.node;
  if (loc.field !== undefined) out.field = loc.field;
  return out;
}

export function fail(code: ErrorCode, message: string, location: ErrorLocation = {}): never {
  throw new ChimeraError(code, message, location);
}

/** Wraps any thrown value as a ChimeraError (unknown exceptions become E_INTERNAL). */
export function asChimeraError(e: unknown, fallback: ErrorCode = 'E_INTERNAL', loc: ErrorLocation = {}): ChimeraError {
  if (e instanceof ChimeraError) return e.withLocation(loc);
  if (e instanceof RangeError && /Array buffer allocation|Invalid typed array length|Invalid array length/.test(e.message)) {
    return new ChimeraError('E_LIMIT', `allocation failed: ${e.message}`, loc, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new ChimeraError(fallback, msg, loc, { cause: e });
}
