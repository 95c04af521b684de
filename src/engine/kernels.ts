/**
 * The kernel library of an engine: compiled images (PTX and CUBIN) of its kernels, keyed by kernel
 * name, and the loaded functions. Images come from an engine file or from NVRTC (through the on-disk
 * compile cache). A CUBIN is used only when it was built for this GPU's architecture by this NVRTC;
 * otherwise the kernel is re-JIT-compiled (from its PTX by the driver when the PTX targets an architecture
 * this GPU can run, else from its source by NVRTC), with one warning per engine, never a failure.
 */
import { compileUnit, type KernelSource } from '../codegen/kernel-ir.js';
import { compileCuda, nvrtcStatus } from '../runtime/compile.js';
import { Module, deviceArch, device, type Kernel } from '../runtime/cuda.js';
import { ChimeraError } from '../errors.js';

export interface KernelImage {
  /** architecture the CUBIN was built for, e.g. sm_90a */
  arch: string;
  nvrtcVersion: string;
  ptx: string;
  cubin: Uint8Array | null;
}

export const NVRTC_OPTIONS: readonly string[] = ['-std=c++17'];

export interface Progress {
  (done: number, total: number, what: string): void;
}

/** major*10+minor of an sm_XY[a] / compute_XY[a] architecture (90 for sm_90a) */
export function archNumber(arch: string): number {
  const m = /_(\d+)(\d)a?$/.exec(arch);
  return m ? Number(m[1]) * 10 + Number(m[2]) : 0;
}

export class KernelLibrary {
  readonly sources = new Map<string, KernelSource>();
  readonly images = new Map<string, KernelImage>();
  private readonly loaded = new Map<string, { module: Module; kernel: Kernel }>();
  /** what happened when images did not fit this GPU (one line per reason) */
  readonly warnings: string[] = [];
  compiledCount = 0;
  compileMs = 0;

  add(k: KernelSource): void {
    this.sources.set(k.name, k);
  }

  /** Compiles (NVRTC, cached on disk) every known kernel that has no image yet, for `arch`. */
  compileMissing(arch: string, progress?: Progress): void {
    const todo = [...this.sources.values()].filter((k) => !this.images.has(k.name));
    todo.sort((a, b) => (a.name < b.name ? -1 : 1));
    todo.forEach((k, i) => {
      progress?.(i, todo.length, k.name);
      const c = compileCuda(compileUnit(k), { arch, options: [...NVRTC_OPTIONS], name: `${k.name}.cu` });
      this.images.set(k.name, { arch, nvrtcVersion: c.nvrtcVersion, ptx: c.ptx, cubin: c.cubin });
      if (!c.fromCache) this.compiledCount++;
      this.compileMs += c.ms;
    });
    if (todo.length) progress?.(todo.length, todo.length, 'done');
  }

  /** The loaded function for a kernel, loading (and if needed re-JIT-compiling) its image first. */
  get(name: string): Kernel {
    const l = this.loaded.get(name);
    if (l) return l.kernel;
    const src = this.sources.get(name);
    let img = this.images.get(name);
    const arch = deviceArch();
    const nvrtc = nvrtcStatus();
    if (img && img.cubin && (img.arch !== arch || (nvrtc.available && img.nvrtcVersion !== nvrtc.version))) {
      const ccNum = device().computeCapability[0] * 10 + device().computeCapability[1];
      const ptxRuns = img.ptx && archNumber(img.arch) <= ccNum && !(img.arch.endsWith('a') && archNumber(img.arch) !== ccNum);
      this.warn(`kernels were built for ${img.arch} with NVRTC ${img.nvrtcVersion}; this GPU is ${arch}${nvrtc.available ? ` with NVRTC ${nvrtc.version}` : ''}: re-JIT-compiling from ${ptxRuns ? 'PTX' : 'source'}`);
      img = ptxRuns ? { ...img, cubin: null } : undefined;
      if (!img) this.images.delete(name);
    }
    if (img && !img.cubin && !img.ptx) img = undefined;
    if (!img) {
      if (!src) throw new ChimeraError('E_ENGINE', `kernel ${name} has neither a usable image nor its source`);
      const c = compileCuda(compileUnit(src), { arch, options: [...NVRTC_OPTIONS], name: `${name}.cu` });
      img = { arch, nvrtcVersion: c.nvrtcVersion, ptx: c.ptx, cubin: c.cubin };
      this.images.set(name, img);
      if (!c.fromCache) this.compiledCount++;
      this.compileMs += c.ms;
    }
    const module = Module.load(img.cubin ? { cubin: img.cubin } : { ptx: img.ptx });
    const kernel = module.kernel(name);
    this.loaded.set(name, { module, kernel });
    return kernel;
  }

  private warn(msg: string): void {
    if (this.warnings.includes(msg)) return;
    this.warnings.push(msg);
    process.emitWarning(msg, { code: 'CHIMERA_REJIT' });
  }

  dispose(): void {
    for (const { module } of this.loaded.values()) if (!module.disposed) module.dispose();
    this.loaded.clear();
  }
}
