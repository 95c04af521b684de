/**
 * Test helper: compiles generated kernels with `nvcc -arch=sm_90a -ptx` (no GPU needed), in one batch.
 * When nvcc is absent the helper says so (tests skip with that reason); CI has nvcc.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileUnit, type KernelSource } from '../../src/codegen/kernel-ir.js';

export function nvccPath(): string | undefined {
  for (const c of [process.env.NVCC, 'nvcc', '/usr/local/cuda/bin/nvcc']) {
    if (!c) continue;
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return c;
  }
  return undefined;
}

/** Compiles each distinct kernel to PTX; returns the failures with nvcc's log. Runs `jobs` nvcc at once. */
export async function compileAllWithNvcc(kernels: Iterable<KernelSource>, jobs = Math.max(1, Math.min(4, os.cpus().length))): Promise<{ name: string; log: string }[]> {
  const nvcc = nvccPath();
  if (!nvcc) throw new Error('nvcc not found');
  const uniq = new Map<string, KernelSource>();
  for (const k of kernels) uniq.set(k.name, k);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-nvcc-'));
  // batch kernels into a few translation units (one nvcc call each): much faster than one per kernel
  const list = [...uniq.values()];
  const per = Math.max(1, Math.ceil(list.length / (jobs * 4)));
  const batches: KernelSource[][] = [];
  for (let i = 0; i < list.length; i += per) batches.push(list.slice(i, i + per));
  const failures: { name: string; log: string }[] = [];
  const { spawn } = await import('node:child_process');
  const runOne = (file: string) => new Promise<{ code: number; log: string }>((resolve) => {
    const p = spawn(nvcc, ['-arch=sm_90a', '-ptx', '-o', file.replace(/\.cu$/, '.ptx'), file]);
    let log = '';
    p.stderr.on('data', (d) => (log += d));
    p.stdout.on('data', (d) => (log += d));
    p.on('close', (code) => resolve({ code: code ?? 1, log }));
  });
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const bi = next++;
      const batch = batches[bi];
      // each kernel in its own namespace-free unit part: the prelude once, helpers guarded by name
      const file = path.join(dir, `batch${bi}.cu`);
      fs.writeFileSync(file, batchSource(batch));
      const r = await runOne(file);
      if (r.code !== 0) {
        // find which kernels fail, one by one
        for (const k of batch) {
          const f1 = path.join(dir, `${k.name}.cu`);
          fs.writeFileSync(f1, compileUnit(k));
          const r1 = await runOne(f1);
          if (r1.code !== 0) failures.push({ name: k.name, log: r1.log });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  fs.rmSync(dir, { recursive: true, force: true });
  return failures;
}

/** One translation unit holding several kernels: each wrapped so their helpers do not collide. */
function batchSource(ks: KernelSource[]): string {
  // kernels are compiled separately by NVRTC; for a batch, put each in its own file-scope namespace
  // (extern "C" kernels inside a namespace keep their names, which are unique by hash)
  return compileUnit({ name: 'prelude', family: 'x', params: [], code: '', maxThreads: 1 }) +
    ks.map((k, i) => `namespace chm_unit${i} {\n${k.code}\n}\n`).join('\n');
}

export function nvccVersion(): string {
  const nvcc = nvccPath();
  return nvcc ? execFileSync(nvcc, ['--version'], { encoding: 'utf8' }).trim().split('\n').pop() ?? '' : '';
}
