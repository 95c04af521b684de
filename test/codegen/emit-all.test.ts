/**
 * Every kernel the GPU engine generates for the ONNX node suite, the light models and the exporter
 * fixtures compiles with `nvcc -arch=sm_90a -ptx` (no GPU needed), so a broken kernel fails CI.
 * Planning needs no GPU either: this also checks that planning never throws on those models.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/onnx/import.js';
import { Engine, sampleBindings } from '../../src/engine/engine.js';
import { listDataSets, readFeeds } from '../../src/conformance/test-data.js';
import { listCases } from '../../src/conformance/suite.js';
import { loadExclusions, exclusionFor } from '../../src/conformance/exclusions.js';
import { randomTensor } from '../../src/cli/run.js';
import { Rng } from '../../src/util/rng.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import type { RuntimeValue } from '../../src/ref/kernel.js';
import { HAVE_SHARED, LIGHT_MODELS, NODE_TESTS } from '../helpers.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'exporters');

function planModel(file: string, feedsList: Map<string, RuntimeValue>[], kernels: Map<string, KernelSource>, precision: 'fp32' | 'fp16' = 'fp32'): void {
  const engine = new Engine(loadModel(file), { precision });
  for (const f of feedsList) engine.planFor(f);
  for (const k of engine.kernels()) kernels.set(k.name, k);
}

function randomFeeds(file: string): Map<string, RuntimeValue>[] {
  const model = loadModel(file);
  return sampleBindings(model).map((b, i) => {
    const rng = new Rng(i + 1);
    const feeds = new Map<string, RuntimeValue>();
    for (const v of model.graph.feedInputs) {
      if (v.type?.kind !== 'tensor') continue;
      feeds.set(v.name, randomTensor(v.type.dtype, (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : b[String(d)] ?? 1)), rng));
    }
    return feeds;
  });
}

describe('generated CUDA compiles with nvcc', () => {
  const nvcc = nvccPath();
  it.skipIf(!HAVE_SHARED || !nvcc)(`node suite, light models and fixtures${!nvcc ? ' (skipped: nvcc not found)' : !HAVE_SHARED ? ' (skipped: ../shared not found)' : ''}`, async () => {
    const kernels = new Map<string, KernelSource>();
    const exclusions = loadExclusions(path.join(import.meta.dirname, '..', '..', 'conformance', 'exclusions.txt'));
    const planFailures: string[] = [];
    for (const name of listCases(NODE_TESTS)) {
      if (exclusionFor(name, exclusions)) continue;
      const dir = path.join(NODE_TESTS, name);
      try {
        const model = loadModel(path.join(dir, 'model.onnx'));
        planModel(path.join(dir, 'model.onnx'), listDataSets(dir).map((s) => readFeeds(s, model.graph)), kernels);
      } catch (e) {
        planFailures.push(`${name}: ${(e as Error).message.slice(0, 200)}`);
      }
    }
    for (const f of fs.readdirSync(LIGHT_MODELS).filter((f) => f.endsWith('.onnx'))) {
      const file = path.join(LIGHT_MODELS, f);
      planModel(file, randomFeeds(file), kernels);
      planModel(file, randomFeeds(file), kernels, 'fp16');
    }
    for (const d of fs.readdirSync(FIXTURES).filter((d) => fs.existsSync(path.join(FIXTURES, d, 'model.onnx')))) {
      const file = path.join(FIXTURES, d, 'model.onnx');
      planModel(file, randomFeeds(file), kernels);
      planModel(file, randomFeeds(file), kernels, 'fp16');
    }
    // planning errors are only those the interpreter also raises on bad data (none expected)
    expect(planFailures).toEqual([]);
    expect(kernels.size).toBeGreaterThan(100);
    const failures = await compileAllWithNvcc(kernels.values(), 2);
    expect(failures.map((f) => `${f.name}: ${f.log.slice(0, 600)}`)).toEqual([]);
  }, 1_800_000);
});
