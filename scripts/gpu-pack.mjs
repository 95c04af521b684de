// npm run gpu:pack — packs everything a GPU run needs into .carry/ (ignored by git, < 64 MiB):
//   .carry/node.xz                      this machine's Node binary, xz-compressed (reused while the version matches)
//   .carry/dist/                        src/ and the GPU test runner compiled to JS (tsc)
//   .carry/native/build/Release/chimera_cuda.node   the addon (built first if missing)
//   .carry/fixtures/                    extra files given with --fixtures DIR (any number of times)
//   .carry/run-gpu.sh                   unpacks Node to /tmp and runs the GPU suite (args: results folder)
// Then on the GPU machine (the device tool's `run`, carry [".carry"]):  bash .carry/run-gpu.sh "$OUT"
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const carry = path.join(root, '.carry');
const LIMIT = 64 * 2 ** 20;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`gpu-pack: ${cmd} ${args.join(' ')} failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
}

const fixtures = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--fixtures') fixtures.push(path.resolve(process.argv[++i]));
  else {
    console.error(`usage: npm run gpu:pack [-- --fixtures DIR]...`);
    process.exit(2);
  }
}

fs.mkdirSync(carry, { recursive: true });

// 1. Node binary, compressed once per version
const nodeXz = path.join(carry, 'node.xz');
const stamp = path.join(carry, 'node.version');
if (!fs.existsSync(nodeXz) || !fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== process.version) {
  console.log(`gpu-pack: compressing ${process.execPath} (${process.version})`);
  const out = fs.openSync(nodeXz + '.tmp', 'w');
  run('xz', ['-T0', '-6', '-c', process.execPath], { stdio: ['ignore', out, 'inherit'] });
  fs.closeSync(out);
  fs.renameSync(nodeXz + '.tmp', nodeXz);
  fs.writeFileSync(stamp, process.version);
}

// 2. compiled JS (type errors elsewhere in the tree do not stop the emit; they are printed)
fs.rmSync(path.join(carry, 'dist'), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'scripts/tsconfig.gpu.json', '--outDir', '.carry/dist'], { cwd: root, encoding: 'utf8' });
if (tsc.stdout) console.log(tsc.stdout.trim().split('\n').slice(0, 20).join('\n'));
for (const f of ['src/runtime/index.js', 'test/gpu/run.js']) {
  if (!fs.existsSync(path.join(carry, 'dist', f))) {
    console.error(`gpu-pack: tsc did not emit ${f}`);
    process.exit(1);
  }
}
fs.writeFileSync(path.join(carry, 'package.json'), '{ "type": "module", "private": true }\n');

// 2b. runtime dependencies (the package's dependencies and theirs), for the compiled JS
fs.rmSync(path.join(carry, 'node_modules'), { recursive: true, force: true });
const pkgs = new Set();
const addPkg = (name) => {
  if (pkgs.has(name) || name === 'node-addon-api' || name.startsWith('@types/')) return;
  const dir = path.join(root, 'node_modules', name);
  if (!fs.existsSync(dir)) return;
  pkgs.add(name);
  const pj = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const d of Object.keys(pj.dependencies ?? {})) addPkg(d);
};
for (const d of Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).dependencies ?? {})) addPkg(d);
for (const name of pkgs) fs.cpSync(path.join(root, 'node_modules', name), path.join(carry, 'node_modules', name), { recursive: true });

// 3. the addon
const addon = path.join(root, 'native/build/Release/chimera_cuda.node');
if (!fs.existsSync(addon)) run(process.execPath, ['scripts/build-native.mjs']);
const addonDst = path.join(carry, 'native/build/Release/chimera_cuda.node');
fs.mkdirSync(path.dirname(addonDst), { recursive: true });
fs.copyFileSync(addon, addonDst);

// 4. fixtures
fs.rmSync(path.join(carry, 'fixtures'), { recursive: true, force: true });
for (const f of fixtures) fs.cpSync(f, path.join(carry, 'fixtures', path.basename(f)), { recursive: true });

// 4b. test data from ../shared (it does not travel): the node suite as one xz tarball, the light models
const shared = path.resolve(root, '..', 'shared', 'onnx-tests');
if (fs.existsSync(path.join(shared, 'node'))) {
  const tarball = path.join(carry, 'node-tests.tar.xz');
  if (!fs.existsSync(tarball)) {
    const out = fs.openSync(tarball + '.tmp', 'w');
    run('tar', ['-C', shared, '-cJf', '-', 'node'], { stdio: ['ignore', out, 'inherit'] });
    fs.closeSync(out);
    fs.renameSync(tarball + '.tmp', tarball);
  }
  fs.rmSync(path.join(carry, 'light'), { recursive: true, force: true });
  fs.cpSync(path.join(shared, 'light'), path.join(carry, 'light'), { recursive: true });
}

// 5. the one command
fs.writeFileSync(
  path.join(carry, 'run-gpu.sh'),
  `#!/usr/bin/env bash
# Generated by npm run gpu:pack. Usage (repository root on the GPU machine): bash .carry/run-gpu.sh [RESULTS_DIR]
set -euo pipefail
NODE=/tmp/chimera-node
if [ ! -x "$NODE" ]; then
  if command -v xz >/dev/null; then xz -dc .carry/node.xz > "$NODE.tmp"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(".carry/node.xz"), open(sys.argv[1], "wb"))' "$NODE.tmp"; fi
  chmod +x "$NODE.tmp" && mv "$NODE.tmp" "$NODE"
fi
export CHIMERA_CACHE_DIR="\${CHIMERA_CACHE_DIR:-/tmp/chimera-cuda-cache}"
if [ -f .carry/node-tests.tar.xz ] && [ ! -d /tmp/chimera-node-tests/node ]; then
  mkdir -p /tmp/chimera-node-tests && tar -C /tmp/chimera-node-tests -xJf .carry/node-tests.tar.xz
fi
export NODE_TESTS=/tmp/chimera-node-tests/node
if [ "\${1:-}" = "engine-check" ]; then shift; exec "$NODE" .carry/dist/test/gpu/engine-check.js "$@"; fi
if [ "\${1:-}" = "chimera" ]; then shift; exec "$NODE" .carry/dist/src/cli/main.js "$@"; fi
exec "$NODE" .carry/dist/test/gpu/run.js "$@"
`,
  { mode: 0o755 },
);

// size check
function du(p) {
  const st = fs.statSync(p);
  if (!st.isDirectory()) return st.size;
  return fs.readdirSync(p).reduce((s, e) => s + du(path.join(p, e)), 0);
}
const total = du(carry);
console.log(`gpu-pack: .carry is ${(total / 2 ** 20).toFixed(1)} MiB (limit 64 MiB)`);
if (total > LIMIT) {
  console.error('gpu-pack: .carry is over 64 MiB');
  process.exit(1);
}
