/**
 * Losses: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, matching src/ref/kernels/loss.ts.
 *
 * Input [N, C, d1, ...] is viewed as [N, C, D] (D = prod(d1, ...)), target [N, d1, ...] as N*D elements
 * (int32 or int64), optional weight [C]. For element k = n*D + d with class t = target[k]:
 *   ignored (ignore_index given and t == ignore_index): loss 0, weight 0;
 *   t outside [0, C) (the reference reports an error; a kernel cannot): loss NaN, weight NaN;
 *   otherwise wt = weight[t] (1 without weight), loss = -wt * logp[n, t, d].
 * reduction none: loss per element ([N, d1, ...]); sum: sum of losses; mean: sum(loss) / sum(wt), a scalar.
 * Math in float (double for float64); fp16/bf16 load to float and round once on store.
 *
 * NegativeLogLikelihoodLoss (logp = input):
 * - none:     one thread per element;
 * - sum/mean: ONE 256-thread block reading the inputs directly: strided partial sums of loss and weight,
 *             then a fixed shared-memory tree (deterministic; no atomics).
 * SoftmaxCrossEntropyLoss (logp = log-softmax of the input over axis 1, computed per (n, d) lane as
 * x - max - log(sum(exp(x - max))), max NaN-propagating like the reference; log_prob written when wanted):
 * - lane kernel, two variants (both always built): `thread` (one thread per lane; consecutive threads read
 *   consecutive d) and `row` (one block per lane, block-wide max/sum; used when D == 1 and C >= 32).
 *   For none it writes the loss; for sum/mean it writes per-lane loss and weight to two scratch buffers
 *   (math type), which one 256-thread block then reduces in a fixed order, as above.
 */
import { deviceType, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, grid1d, registerLowerings, unsupported, type ArgRef, type LowerContext, type Lowered } from '../lowering.js';
import { blockReduceHelpers } from './common.js';

const MAXT = 256;
/** the single reduction block: fixed size (power of two), so the summation order depends on the shape only */
const RED_T = 256;
const MAX_BLOCKS = 65535 * 8;

type Reduction = 'none' | 'sum' | 'mean';

interface Spec {
  /** input/output (and log_prob) element type */
  t: DeviceType;
  /** target element type (int32 or int64) */
  tg: DeviceType;
  /** weight element type when the weight input is present */
  w?: DeviceType;
  hasIgnore: boolean;
  reduction: Reduction;
  /** SoftmaxCrossEntropyLoss: log_prob output wanted */
  logProb: boolean;
}

interface Shape {
  N: number;
  C: number;
  D: number;
  ignore: bigint;
}

function analyze(ctx: LowerContext, sce: boolean): { spec: Spec; shape: Shape } {
  const op = ctx.node.op;
  const x = ctx.inputs[0];
  const target = ctx.inputs[1];
  if (!x || !target) unsupported(`${op}: missing input or target`);
  const t = deviceType(x.dtype);
  if (!t || t.kind !== 'float') unsupported(`${op} on ${x.dtype} is not generated (float types only)`);
  if (x.shape.length < 2) unsupported(`${op}: input must have rank >= 2, got [${x.shape.join(',')}] (the reference reports it)`);
  const [N, C] = x.shape;
  const D = x.shape.slice(2).reduce((a, b) => a * b, 1);
  const expectT = [N, ...x.shape.slice(2)];
  if (target.shape.length !== expectT.length || target.shape.some((d, i) => d !== expectT[i])) {
    unsupported(`${op}: target shape [${target.shape.join(',')}] must be [${expectT.join(',')}] (the reference reports it)`);
  }
  if (target.dtype !== 'int32' && target.dtype !== 'int64') unsupported(`${op}: target must be int32 or int64, got ${target.dtype}`);
  const tg = deviceType(target.dtype)!;
  const wd = ctx.inputs[2];
  let w: DeviceType | undefined;
  if (wd) {
    const wt = deviceType(wd.dtype);
    if (!wt || wt.kind !== 'float') unsupported(`${op}: weight must be a float tensor, got ${wd.dtype}`);
    if (wd.shape.reduce((a, b) => a * b, 1) !== C) unsupported(`${op}: weight must have ${C} elements, got [${wd.shape.join(',')}] (the reference reports it)`);
    w = wt;
  }
  const reduction = ctx.node.string('reduction', 'mean');
  if (reduction !== 'none' && reduction !== 'sum' && reduction !== 'mean') unsupported(`${op}: unknown reduction '${reduction}'`);
  const hasIgnore = ctx.node.has('ignore_index');
  const ignore = hasIgnore ? ctx.node.intBig('ignore_index') : 0n;
  const out = ctx.outputs[0];
  if (!out) unsupported(`${op}: missing output`);
  if (out.dtype !== x.dtype) unsupported(`${op}: output dtype ${out.dtype} differs from the input's ${x.dtype}`);
  const logProb = sce && ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '' && ctx.outputs[1] !== undefined;
  if (logProb && ctx.outputs[1].dtype !== x.dtype) unsupported(`${op}: log_prob dtype ${ctx.outputs[1].dtype} differs from the input's ${x.dtype}`);
  return { spec: { t, tg, w, hasIgnore, reduction, logProb }, shape: { N, C, D, ignore } };
}

const fm = (M: string, name: string, e: string) => `${name}${M === 'double' ? '' : 'f'}(${e})`;

/** math-type literal */
const lit = (s: Spec, v: number) => literal(s.t, v);

/**
 * Emits the per-element loss for element `i` with class pointer `tgp`: declares `wt` and `l` (math type).
 * `logp(tc)` is the log-probability expression of class `tc` (a long long in range).
 */
function emitElement(b: KernelBuilder, s: Spec, names: { tg: string; w?: string; C: string; ign?: string }, i: string, logp: (tc: string) => string): void {
  const M = s.t.math;
  b.line(`const long long tc = (long long)${names.tg}[${i}];`);
  b.line(`${M} wt, l;`);
  const ignored = s.hasIgnore ? `tc == ${names.ign}` : 'false';
  b.block(`if (${ignored})`, () => b.line(`wt = ${lit(s, 0)}; l = ${lit(s, 0)};`));
  b.block(`else if (tc < 0 || tc >= ${names.C})`, () => b.line(`wt = ${lit(s, NaN)}; l = ${lit(s, NaN)};`));
  b.block('else', () => {
    b.line(`wt = ${s.w && names.w ? `(${M})(${s.w.load(`${names.w}[tc]`)})` : lit(s, 1)};`);
    b.line(`l = -wt * (${logp('tc')});`);
  });
}

/** params shared by the kernels that read the inputs: x, target, [weight] */
function declareInputs(b: KernelBuilder, s: Spec): { x: string; tg: string; w?: string } {
  const x = b.input('x', s.t.storage);
  const tg = b.input('tg', s.tg.storage);
  const w = s.w ? b.input('w', s.w.storage) : undefined;
  return { x, tg, w };
}

/** fixed-order tree over RED_T partial sums of loss and weight; thread 0 stores the result */
function emitFinalReduce(b: KernelBuilder, s: Spec, y: string): void {
  const M = s.t.math;
  b.line(`chm_ls[threadIdx.x] = sl; chm_ws[threadIdx.x] = sw;`);
  b.line('__syncthreads();');
  b.block(`for (int o = ${RED_T / 2}; o > 0; o >>= 1)`, () => {
    b.line('if (threadIdx.x < o) { chm_ls[threadIdx.x] += chm_ls[threadIdx.x + o]; chm_ws[threadIdx.x] += chm_ws[threadIdx.x + o]; }');
    b.line('__syncthreads();');
  });
  const res = s.reduction === 'mean' ? `chm_ls[0] / chm_ws[0]` : 'chm_ls[0]';
  b.line(`if (threadIdx.x == 0) { const ${M} r = ${res}; ${y}[0] = ${s.t.store('r')}; }`);
}

// ---------------------------------------------------------------------------------------------------
// NegativeLogLikelihoodLoss

function buildNll(s: Spec): KernelSource {
  const M = s.t.math;
  const red = s.reduction !== 'none';
  const b = new KernelBuilder('loss', red ? RED_T : MAXT);
  const { x, tg, w } = declareInputs(b, s);
  const y = b.output('y', s.t.storage);
  const nd = b.i64('nd');
  const C = b.i64('C');
  const D = b.i64('D');
  const ign = s.hasIgnore ? b.i64('ignore_index') : undefined;
  const logp = (tc: string) => `(${M})(${s.t.load(`${x}[(n * ${C} + ${tc}) * ${D} + d]`)})`;
  if (!red) {
    b.gridStride(nd, () => {
      b.line(`const long long n = i / ${D}, d = i % ${D};`);
      emitElement(b, s, { tg, w, C, ign }, 'i', logp);
      b.line(`${y}[i] = ${s.t.store('l')};`);
    });
    return b.build();
  }
  b.shared(`${M} chm_ls[${RED_T}]`).shared(`${M} chm_ws[${RED_T}]`);
  b.line(`${M} sl = ${lit(s, 0)}, sw = ${lit(s, 0)};`);
  b.block(`for (long long i = threadIdx.x; i < ${nd}; i += blockDim.x)`, () => {
    b.line(`const long long n = i / ${D}, d = i % ${D};`);
    emitElement(b, s, { tg, w, C, ign }, 'i', logp);
    b.line('sl += l; sw += wt;');
  });
  emitFinalReduce(b, s, y);
  return b.build();
}

function lowerNll(ctx: LowerContext): Lowered {
  const { spec, shape } = analyze(ctx, false);
  const { N, C, D, ignore } = shape;
  const k = buildNll(spec);
  const nd = N * D;
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }];
  if (spec.w) args.push({ in: 2 });
  args.push({ out: 0 }, a64(nd), a64(C), a64(D));
  if (spec.hasIgnore) args.push(a64(ignore));
  if (spec.reduction === 'none') {
    if (nd === 0) return { launches: [], variants: [k] };
    return { launches: [{ kernel: k, ...grid1d(nd), args }] };
  }
  // the scalar output exists even for empty inputs (sum 0, mean 0/0 = NaN, like the reference)
  return { launches: [{ kernel: k, grid: [1, 1, 1], block: [RED_T, 1, 1], args }] };
}

// ---------------------------------------------------------------------------------------------------
// SoftmaxCrossEntropyLoss

type SceVariant = 'thread' | 'row';

/** params: x, tg, [w], then y (none) or sl, sw (scratch), then [lp], lanes, C, D, [ignore_index] */
function buildSceLane(s: Spec, variant: SceVariant): KernelSource {
  const M = s.t.math;
  const t = s.t;
  const red = s.reduction !== 'none';
  const b = new KernelBuilder('loss', MAXT);
  b.helpers(blockReduceHelpers(M, { max: 'chm_lmax', blockMax: 'chm_lblock_max', blockSum: 'chm_lblock_sum' }));
  const { x, tg, w } = declareInputs(b, s);
  const y = red ? undefined : b.output('y', t.storage);
  const sl = red ? b.output('sl', M) : undefined;
  const sw = red ? b.output('sw', M) : undefined;
  const lp = s.logProb ? b.output('lp', t.storage) : undefined;
  const lanes = b.i64('lanes');
  const C = b.i64('C');
  const D = b.i64('D');
  const ign = s.hasIgnore ? b.i64('ignore_index') : undefined;
  const xv = (k: string) => `(${M})(${t.load(`${x}[base + ${k} * ${D}]`)})`;
  const logp = (tc: string) => `${xv(tc)} - m - ls`;
  const finish = () => {
    emitElement(b, s, { tg, w, C, ign }, 'i', logp);
    if (y) b.line(`${y}[i] = ${t.store('l')};`);
    else b.line(`${sl}[i] = l; ${sw}[i] = wt;`);
  };
  const head = () => {
    b.line(`const long long n = i / ${D}, d = i % ${D};`);
    b.line(`const long long base = n * ${C} * ${D} + d;`);
  };
  if (variant === 'thread') {
    b.gridStride(lanes, () => {
      head();
      b.line(`${M} m = ${literal(t, -Infinity)};`);
      b.line(`for (long long k = 0; k < ${C}; k++) m = chm_lmax(m, ${xv('k')});`);
      b.line(`${M} s = ${lit(s, 0)};`);
      b.line(`for (long long k = 0; k < ${C}; k++) s += ${fm(M, 'exp', `${xv('k')} - m`)};`);
      b.line(`const ${M} ls = ${fm(M, 'log', 's')};`);
      if (lp) b.line(`for (long long k = 0; k < ${C}; k++) ${lp}[base + k * ${D}] = ${t.store(`${xv('k')} - m - ls`)};`);
      finish();
    });
    return b.build();
  }
  // row: one block per lane (block-uniform loop, so the block reductions are reached by every thread)
  b.shared(`${M} chm_red[32]`);
  b.block(`for (long long i = blockIdx.x; i < ${lanes}; i += gridDim.x)`, () => {
    head();
    b.line(`${M} m = ${literal(t, -Infinity)};`);
    b.line(`for (long long k = threadIdx.x; k < ${C}; k += blockDim.x) m = chm_lmax(m, ${xv('k')});`);
    b.line('m = chm_lblock_max(m, chm_red);');
    b.line(`${M} s = ${lit(s, 0)};`);
    b.line(`for (long long k = threadIdx.x; k < ${C}; k += blockDim.x) s += ${fm(M, 'exp', `${xv('k')} - m`)};`);
    b.line('s = chm_lblock_sum(s, chm_red);');
    b.line(`const ${M} ls = ${fm(M, 'log', 's')};`);
    if (lp) b.line(`for (long long k = threadIdx.x; k < ${C}; k += blockDim.x) ${lp}[base + k * ${D}] = ${t.store(`${xv('k')} - m - ls`)};`);
    b.block('if (threadIdx.x == 0)', finish);
  });
  return b.build();
}

/** params: sl, sw (scratch), y, nd */
function buildSceReduce(s: Spec): KernelSource {
  const M = s.t.math;
  const b = new KernelBuilder('loss', RED_T);
  const sl = b.input('sl_in', M);
  const sw = b.input('sw_in', M);
  const y = b.output('y', s.t.storage);
  const nd = b.i64('nd');
  b.shared(`${M} chm_ls[${RED_T}]`).shared(`${M} chm_ws[${RED_T}]`);
  b.line(`${M} sl = ${lit(s, 0)}, sw = ${lit(s, 0)};`);
  b.line(`for (long long i = threadIdx.x; i < ${nd}; i += blockDim.x) { sl += ${sl}[i]; sw += ${sw}[i]; }`);
  emitFinalReduce(b, s, y);
  return b.build();
}

function lowerSce(ctx: LowerContext): Lowered {
  const { spec, shape } = analyze(ctx, true);
  const { N, C, D, ignore } = shape;
  const red = spec.reduction !== 'none';
  const kernels = { thread: buildSceLane(spec, 'thread'), row: buildSceLane(spec, 'row') };
  const reduceK = red ? buildSceReduce(spec) : undefined;
  const lanes = N * D;
  const bytes = spec.t.math === 'double' ? 8 : 4;
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }];
  if (spec.w) args.push({ in: 2 });
  if (red) args.push({ scratch: 0 }, { scratch: 1 });
  else args.push({ out: 0 });
  if (spec.logProb) args.push({ out: 1 });
  args.push(a64(lanes), a64(C), a64(D));
  if (spec.hasIgnore) args.push(a64(ignore));
  const useRow = D === 1 && C >= 32;
  const chosen = useRow ? kernels.row : kernels.thread;
  const other = useRow ? kernels.thread : kernels.row;
  const launches: Lowered['launches'] = [];
  const variants: KernelSource[] = [other];
  if (lanes > 0) {
    if (useRow) {
      let threads = 32;
      while (threads < MAXT && threads * 4 < C) threads *= 2;
      launches.push({ kernel: chosen, grid: [Math.min(lanes, MAX_BLOCKS), 1, 1], block: [threads, 1, 1], args });
    } else {
      launches.push({ kernel: chosen, ...grid1d(lanes, MAXT), args });
    }
  } else {
    variants.unshift(chosen);
  }
  if (!red) return launches.length ? { launches, variants } : { launches: [], variants };
  // the scalar output exists even for empty inputs (sum 0, mean 0/0 = NaN, like the reference)
  launches.push({ kernel: reduceK!, grid: [1, 1, 1], block: [RED_T, 1, 1], args: [{ scratch: 0 }, { scratch: 1 }, { out: 0 }, a64(lanes)] });
  const sz = Math.max(1, lanes) * bytes;
  return { launches, variants, scratch: [sz, sz] };
}

registerLowerings({
  NegativeLogLikelihoodLoss: { lower: lowerNll },
  SoftmaxCrossEntropyLoss: { lower: lowerSce },
});
