// `chimera build` and `chimera run --device cuda` as a user runs them, on a machine without a GPU:
// emitting CUDA sources, writing a sources-only engine, and clear errors when the GPU is absent.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/onnx/export.js';
import { gptDecoder } from '../../examples/models.js';
import { cuda } from '../../src/runtime/index.js';
import { CLI, HAVE_BUILD } from '../helpers.js';

let dir = '';
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000 });

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chimera-build-'));
  saveModel(gptDecoder(), path.join(dir, 'gpt.onnx'));
});

describe.skipIf(!HAVE_BUILD)('chimera build', () => {
  it('--emit-source writes every kernel as .cu with an index, deterministically', () => {
    const a = path.join(dir, 'src-a');
    const b = path.join(dir, 'src-b');
    const r = cli('build', path.join(dir, 'gpt.onnx'), '--emit-source', a, '--json');
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.kernels).toBeGreaterThan(5);
    const index = JSON.parse(fs.readFileSync(path.join(a, 'kernels.json'), 'utf8')) as { name: string; file: string }[];
    expect(index).toHaveLength(rep.kernels);
    for (const k of index) expect(fs.readFileSync(path.join(a, k.file), 'utf8')).toContain(`extern "C" __global__`);
    expect(cli('build', path.join(dir, 'gpt.onnx'), '--emit-source', b).status).toBe(0);
    for (const k of index) expect(fs.readFileSync(path.join(b, k.file), 'utf8')).toBe(fs.readFileSync(path.join(a, k.file), 'utf8'));
    // symbolic dims were planned at two bindings, all on the GPU
    expect(rep.plans).toHaveLength(2);
    for (const p of rep.plans) expect(p.steps.filter((s: { kind: string }) => s.kind === 'host')).toEqual([]);
  });

  it('writes an engine file (sources only without NVRTC) that the run command recognizes', () => {
    const out = path.join(dir, 'gpt.engine');
    const r = cli('build', path.join(dir, 'gpt.onnx'), '-o', out, '--precision', 'fp16', '--max-dims', 'seq=64,past_seq=64');
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(out).subarray(0, 8).toString('ascii')).toBe('CHMENG01');
    const run = cli('run', out, '--dim', 'seq=3', '--dim', 'past_seq=2', '--seed', '1');
    if (cuda.available()) {
      expect(run.status, run.stderr).toBe(0);
    } else {
      expect(run.status).toBe(4);
      expect(run.stderr).toMatch(/E_DEVICE.*CUDA is not available here/);
    }
  });

  it('refuses bad usage with exit code 2', () => {
    expect(cli('build', path.join(dir, 'gpt.onnx')).status).toBe(2);
    expect(cli('build', path.join(dir, 'gpt.onnx'), '--emit-source', path.join(dir, 'x'), '--max-dims', 'seq').status).toBe(2);
    expect(cli('run', path.join(dir, 'gpt.onnx'), '--device', 'tpu').status).toBe(2);
  });

  it.skipIf(cuda.available())('run --device cuda without a GPU says why (E_DEVICE, exit 4)', () => {
    const r = cli('run', path.join(dir, 'gpt.onnx'), '--device', 'cuda', '--dim', 'seq=2', '--dim', 'past_seq=1');
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/CUDA is not available here/);
  });
});
