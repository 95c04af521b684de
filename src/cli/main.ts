#!/usr/bin/env node
/** The `chimera` command. Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid or unsupported model, 4 runtime failure. */
import path from 'node:path';
import fs from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { setLimits } from '../ir/limits.js';
import { reportError, PACKAGE_ROOT } from './common.js';
import { inspectModel, printInspect } from './inspect.js';
import { runCli, printRun } from './run.js';
import { conformanceCli } from './conformance.js';
import { optimizeCli, printOptimize, type OptimizeCliOptions } from './optimize.js';
import { buildCli, printBuild, type BuildCliOptions } from './build.js';
import { addBenchCommand } from './bench.js';

const collect = (v: string, prev: string[]) => [...prev, v];

function wantsJson(argv: string[]): boolean {
  return argv.includes('--json');
}

/** Version from package.json: the installed layout (dist/src/cli) or, from sources/other builds, the nearest one up. */
function packageVersion(): string {
  const candidates = [path.join(PACKAGE_ROOT, 'package.json')];
  for (let d = path.dirname(new URL(import.meta.url).pathname); ; d = path.dirname(d)) {
    candidates.push(path.join(d, 'package.json'));
    if (path.dirname(d) === d) break;
  }
  for (const f of candidates) {
    try {
      const pkg = JSON.parse(fs.readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'chimera' && pkg.version) return pkg.version;
    } catch { /* try the next */ }
  }
  return '0.0.0';
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  const version = packageVersion();
  program
    .name('chimera')
    .description('ONNX model compiler for NVIDIA GPUs (reference interpreter, inspection, optimization, conformance)')
    .version(version)
    .option('--max-elements <n>', 'refuse tensors with more elements than this', (v) => Number(v))
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook('preAction', (cmd) => {
      const o = cmd.opts();
      if (o.maxElements !== undefined) {
        if (!Number.isFinite(o.maxElements) || o.maxElements <= 0) throw new CommanderError(2, 'chimera.usage', '--max-elements must be a positive number');
        setLimits({ maxTensorElements: o.maxElements });
      }
    });

  let code = 0;
  program
    .command('inspect')
    .description('show opsets, inputs/outputs with inferred shapes, op histogram, parameters and external data')
    .argument('<model>', 'ONNX model file')
    .option('--json', 'print one JSON object')
    .action((file: string, o: { json?: boolean }) => {
      const r = inspectModel(file);
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : printInspect(r)) + '\n');
    });

  program
    .command('run')
    .description('run a model on the reference interpreter or the GPU (random inputs with a printed seed when none given)')
    .argument('<model>', 'ONNX model file or engine file (chimera build)')
    .addOption(new Option('--device <device>', 'cpu: the reference interpreter; cuda: a GPU engine').choices(['cpu', 'cuda']))
    .addOption(new Option('--precision <p>', 'GPU precision (with --device cuda and an ONNX model)').choices(['fp32', 'fp16', 'bf16']).default('fp32'))
    .option('--compare', 'with --device cuda: also run the interpreter and print each output\'s relative L2 error')
    .option('--profile', 'with --device cuda: device time of each step (one profiled run), totals per op')
    .addOption(new Option('--gemm-library <mode>', 'with --device cuda: GEMMs through cuBLASLt where measured faster (auto), never (off), or wherever it accepts (cublaslt)').choices(['auto', 'off', 'cublaslt']).default('auto'))
    .option('--input <NAME=FILE>', 'input tensor from a .pb (TensorProto) or .npy file (repeatable)', collect, [])
    .option('--dim <SYMBOL=N>', 'value of a symbolic dimension for random inputs (repeatable; default 1)', collect, [])
    .option('--seed <n>', 'seed for random inputs', (v) => Number(v))
    .option('--output-dir <dir>', 'write each output as NAME.npy (or NAME.pb)')
    .option('--json', 'print one JSON object')
    .action((file: string, o: { input: string[]; dim: string[]; seed?: number; outputDir?: string; json?: boolean; device?: string; precision?: string; compare?: boolean; profile?: boolean; gemmLibrary?: string }) => {
      const r = runCli(file, { inputs: o.input, dims: o.dim, seed: o.seed, outputDir: o.outputDir, device: o.device, precision: o.precision, compare: o.compare, profile: o.profile, gemmLibrary: o.gemmLibrary });
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : printRun(r)) + '\n');
    });

  program
    .command('build')
    .description('compile a model into an engine file for the GPU (or only emit its CUDA sources)')
    .argument('<model>', 'ONNX model file')
    .option('-o, --output <file.engine>', 'where to write the engine')
    .addOption(new Option('--precision <p>', 'storage precision of the computation').choices(['fp32', 'fp16', 'bf16']).default('fp32'))
    .option('--max-dims <SYMBOL=N>', 'largest value of a symbolic dim a run may use (repeatable or comma-separated)', collect, [])
    .option('--dim <SYMBOL=N>', 'value of a symbolic dim to plan the representative binding with (repeatable)', collect, [])
    .option('--emit-source <dir>', 'write every generated kernel as a .cu file (no GPU needed)')
    .option('--arch <sm_XY>', 'GPU architecture to compile for (default: this GPU, or sm_90a without one)')
    .option('--no-fusion', 'do not fuse elementwise chains')
    .option('--json', 'print the build report as one JSON object')
    .action((file: string, o: Omit<BuildCliOptions, 'version'>) => {
      const r = buildCli(file, { ...o, version });
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : printBuild(r)) + '\n');
    });

  program
    .command('optimize')
    .description('optimize a model (canonicalize, fold, fuse) and write it as standard ONNX')
    .argument('<model>', 'ONNX model file')
    .option('-o, --output <file>', 'where to write the optimized model (required)')
    .option('--level <n>', 'optimization level 0-3 (default 2)')
    .option('--explain', 'print per-pass statistics, rules fired and near misses')
    .option('--json', 'print the optimization report as one JSON object')
    .option('--dump-ir <dir>', 'print the IR before the first pass and after each pass that changed it')
    .option('--passes <names>', 'run only these passes (comma-separated names from the default pipeline), in this order')
    .action((file: string, o: OptimizeCliOptions) => {
      const r = optimizeCli(file, o);
      process.stdout.write((o.json ? JSON.stringify({ input: r.input, output: r.output, ...r.report }, null, 2) : printOptimize(r, !!o.explain)) + '\n');
    });

  program
    .command('conformance')
    .description('run ONNX backend node tests (*/model.onnx with test_data_set_*) against expected outputs')
    .argument('<dir>', 'directory of test cases')
    .option('--json', 'print one JSON object {total, passed, failed, excluded, results}')
    .option('--filter <regex>', 'only cases whose name matches')
    .addOption(new Option('--device <device>', 'where to run').choices(['cpu', 'cuda', 'plan']).default('cpu'))
    .option('--exclusions <file>', 'exclusion list (name: reason per line)', path.join(PACKAGE_ROOT, 'conformance', 'exclusions.txt'))
    .option('--report <file.md>', 'also write a Markdown report')
    .option('--jobs <n>', 'worker threads (default: cores)', (v) => Number(v))
    .option('--timeout <seconds>', 'per-case time limit', (v) => Number(v), 120)
    .option('--optimize [level]', 'optimize each model (level 0-3, default 2) before running; JSON results carry op histograms before/after')
    .action(async (dir: string, o: Parameters<typeof conformanceCli>[1]) => {
      code = await conformanceCli(dir, o);
    });

  addBenchCommand(program);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    return reportError(e, wantsJson(argv));
  }
}

const isMain = process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname);
if (isMain) {
  main(process.argv.slice(2)).then((c) => { process.exitCode = c; }, (e) => { process.exitCode = reportError(e, false); });
}
