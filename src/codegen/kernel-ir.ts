/**
 * The kernel IR: what lowering produces and what the runtime compiles and launches. A KernelSource is a
 * typed signature (its parameters, in order) plus a CUDA body; the launch side (lowering.ts) refers to
 * parameters by position and is checked against the signature before any launch.
 *
 * Kernels are built with KernelBuilder: typed calls for parameters (pointers with their element types,
 * 64-bit extents, per-dimension arrays), shared memory and the body; emit() prints deterministic text.
 * A kernel's name is derived from a hash of its text, so equal kernels dedupe across nodes and models,
 * and its compile-time key is exactly its text (dtypes, ranks, attributes — never run-time shapes, which
 * travel as arguments).
 */
import { createHash } from 'node:crypto';
import { PRELUDE } from './prelude.js';

export type ParamKind = 'ptr' | 'i64' | 'i32' | 'f32' | 'f64';

export interface KernelParam {
  name: string;
  kind: ParamKind;
  /** element C type for pointers */
  elem?: string;
  /** read-only pointer */
  readonly?: boolean;
}

export interface KernelSource {
  /** unique: family + hash of the text */
  name: string;
  family: string;
  params: readonly KernelParam[];
  /** the full `extern "C" __global__` definition (without the prelude) */
  code: string;
  /** largest block size the kernel is written for (used for __launch_bounds__ and checked at launch) */
  maxThreads: number;
}

/** The source text a kernel is compiled from: the prelude, then the kernel. */
export function compileUnit(k: KernelSource): string {
  return `${PRELUDE}\n${k.code}\n`;
}

export function shortHash(text: string, n = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, n);
}

function ctypeOf(p: KernelParam): string {
  switch (p.kind) {
    case 'ptr': return `${p.readonly ? 'const ' : ''}${p.elem ?? 'void'}* __restrict__`;
    case 'i64': return 'long long';
    case 'i32': return 'int';
    case 'f32': return 'float';
    case 'f64': return 'double';
  }
}

/** Builds one kernel. Parameter names must be unique C identifiers. */
export class KernelBuilder {
  private readonly params: KernelParam[] = [];
  private readonly lines: string[] = [];
  private sharedDecls: string[] = [];
  private preamble: string[] = [];
  private indent = 1;

  constructor(readonly family: string, readonly maxThreads = 256) {
    if (!/^[a-z][a-z0-9_]*$/.test(family)) throw new Error(`kernel family '${family}' must be a lower-case identifier`);
  }

  private add(p: KernelParam): string {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(p.name)) throw new Error(`kernel parameter '${p.name}' is not an identifier`);
    if (this.params.some((q) => q.name === p.name)) throw new Error(`kernel parameter '${p.name}' declared twice`);
    this.params.push(p);
    return p.name;
  }
  /** a read-only input pointer with element type `elem` */
  input(name: string, elem: string): string { return this.add({ name, kind: 'ptr', elem, readonly: true }); }
  /** a writable pointer */
  output(name: string, elem: string): string { return this.add({ name, kind: 'ptr', elem }); }
  i64(name: string): string { return this.add({ name, kind: 'i64' }); }
  i32(name: string): string { return this.add({ name, kind: 'i32' }); }
  f32(name: string): string { return this.add({ name, kind: 'f32' }); }
  f64(name: string): string { return this.add({ name, kind: 'f64' }); }
  /** `count` 64-bit parameters name0..name{count-1}; returns their names */
  i64s(name: string, count: number): string[] {
    return Array.from({ length: count }, (_, i) => this.i64(`${name}${i}`));
  }
  /** device helper definitions placed before the kernel (part of its text and cache key) */
  helpers(text: string): this {
    if (!this.preamble.includes(text)) this.preamble.push(text);
    return this;
  }
  /** a static shared-memory array */
  shared(decl: string): this {
    this.sharedDecls.push(`__shared__ ${decl};`);
    return this;
  }
  /** dynamic shared memory, typed */
  dynamicShared(elem: string, name: string): this {
    this.sharedDecls.push(`extern __shared__ __align__(16) unsigned char chm_dyn_smem[];`, `${elem}* ${name} = reinterpret_cast<${elem}*>(chm_dyn_smem);`);
    return this;
  }
  /** one or more body lines (each is indented at the current depth) */
  line(...text: string[]): this {
    for (const t of text) for (const l of t.split('\n')) this.lines.push(l.length ? '  '.repeat(this.indent) + l : '');
    return this;
  }
  /** `head {` body `}` */
  block(head: string, body: () => void): this {
    this.line(`${head} {`);
    this.indent++;
    body();
    this.indent--;
    this.line('}');
    return this;
  }
  /** the grid-stride loop over `n` elements with a 64-bit index named `i` */
  gridStride(n: string, body: () => void, i = 'i'): this {
    return this.block(`for (long long ${i} = (long long)blockIdx.x * blockDim.x + threadIdx.x; ${i} < ${n}; ${i} += (long long)gridDim.x * blockDim.x)`, body);
  }

  build(): KernelSource {
    const sig = this.params.map((p) => `${ctypeOf(p)} ${p.name}`).join(', ');
    const body = [...this.sharedDecls.map((d) => `  ${d}`), ...this.lines].join('\n');
    const text = `(${sig}) {\n${body}\n}`;
    const pre = this.preamble.join('\n');
    const name = `chm_${this.family}_${shortHash(`${this.maxThreads}|${pre}|${text}`)}`;
    const code = `${pre}${pre ? '\n' : ''}extern "C" __global__ void __launch_bounds__(${this.maxThreads}) ${name}${text}`;
    return { name, family: this.family, params: [...this.params], code, maxThreads: this.maxThreads };
  }
}

/**
 * C expression converting a linear index `i` over `shape` (names of extents, row-major) into an offset
 * with `strides` (names or literals; "0" for broadcast dims). Emitted as a loop-free expression chain.
 */
export function offsetFromLinear(b: KernelBuilder, i: string, shape: readonly string[], strides: readonly string[][], outs: readonly string[]): void {
  const r = shape.length;
  for (const o of outs) b.line(`long long ${o} = 0;`);
  if (r === 0) return;
  b.line(`long long chm_rem = ${i};`);
  for (let d = r - 1; d >= 0; d--) {
    const c = `chm_c${d}`;
    if (d > 0) b.line(`long long ${c} = chm_rem % ${shape[d]}; chm_rem /= ${shape[d]};`);
    else b.line(`long long ${c} = chm_rem;`);
    outs.forEach((o, k) => {
      const s = strides[k][d];
      if (s !== '0') b.line(`${o} += ${c} * ${s};`);
    });
  }
}
