// Dumps every launch (kernel name, grid, block, shared bytes, scalar args) the GPU engine plans for the
// ONNX node suite, the light models and the exporter fixtures, one line per launch, sorted — for checking
// that a refactor of the lowerings changes no generated kernel and no launch. No GPU needed.
// Usage: node scripts/dump-plans.mjs OUT.txt   (after npm run build)
import fs from 'node:fs';
import path from 'node:path';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const { loadModel } = await import(path.join(root, 'dist/src/onnx/import.js'));
const { Engine, sampleBindings } = await import(path.join(root, 'dist/src/engine/engine.js'));
const { listDataSets, readFeeds } = await import(path.join(root, 'dist/src/conformance/test-data.js'));
const { listCases } = await import(path.join(root, 'dist/src/conformance/suite.js'));
const { randomTensor } = await import(path.join(root, 'dist/src/cli/run.js'));
const { Rng } = await import(path.join(root, 'dist/src/util/rng.js'));
const shared = path.resolve(root, '..', 'shared', 'onnx-tests');
const lines = [];
const dump = (label, engine, feedsList) => {
  for (const feeds of feedsList) {
    let p;
    try { p = engine.planFor(feeds); } catch (e) { lines.push(`${label} ERROR ${e.message.slice(0, 100)}`); continue; }
    if (!p.plan) { lines.push(`${label} dynamic`); continue; }
    p.plan.steps.forEach((s, i) => {
      if (s.kind === 'host') lines.push(`${label} #${i} host ${s.node.op}: ${s.reason}`);
      else for (const l of s.launches) lines.push(`${label} #${i} ${l.kernel.name} g${l.grid} b${l.block} s${l.sharedBytes} ${l.args.map((a) => ('buf' in a ? `@${a.buf}+${a.byteOffset}` : 'tmap' in a ? `tmap@${a.tmap.buf}+${a.tmap.byteOffset}[${a.tmap.dims}|${a.tmap.box}|${a.tmap.swizzle}]` : `${a.kind}:${a.value ?? a.bits}`)).join(' ')}`);
    });
    lines.push(`${label} kernels ${[...p.plan.kernels.keys()].sort().join(',')}`);
  }
};
for (const name of listCases(path.join(shared, 'node'))) {
  const dir = path.join(shared, 'node', name);
  try {
    const model = loadModel(path.join(dir, 'model.onnx'));
    const feeds = listDataSets(dir).map((s) => readFeeds(s, model.graph));
    dump(name, new Engine(model), feeds);
  } catch (e) { lines.push(`${name} ERROR ${e.message.slice(0, 100)}`); }
}
const models = [
  ...fs.readdirSync(path.join(shared, 'light')).filter((f) => f.endsWith('.onnx')).map((f) => path.join(shared, 'light', f)),
  ...fs.readdirSync(path.join(root, 'test/fixtures/exporters')).filter((d) => fs.existsSync(path.join(root, 'test/fixtures/exporters', d, 'model.onnx'))).map((d) => path.join(root, 'test/fixtures/exporters', d, 'model.onnx')),
];
for (const file of models) for (const precision of ['fp32', 'fp16']) {
  const engine = new Engine(loadModel(file), { precision });
  const feeds = sampleBindings(engine.model).map((b, i) => {
    const rng = new Rng(i + 1);
    return new Map(engine.model.graph.feedInputs.map((v) => [v.name, randomTensor(v.type.dtype, (v.type.shape ?? []).map((d) => (typeof d === 'number' ? d : b[d] ?? 1)), rng)]));
  });
  dump(`${path.basename(path.dirname(file))}/${path.basename(file)}:${precision}`, engine, feeds);
}
fs.writeFileSync(process.argv[2] ?? 'plans.txt', lines.join('\n') + '\n');
console.log(`${lines.length} lines`);
