/**
 * Softmax, LogSoftmax and Hardmax (opset-13 semantics: along one axis), matching
 * src/ref/kernels/nn-softmax.ts. The tensor is viewed as [outer, n, inner] around the axis.
 *
 * Softmax/LogSoftmax, two variants (both always built):
 * - row:  inner == 1; one block per row (32..256 threads), max-subtract, statistics in float (double for
 *         float64), block reductions by warp shuffles + shared memory. The max propagates NaN like the ref.
 * - lane: one thread per lane (any inner; consecutive threads read consecutive inner positions), three
 *         sequential passes.
 * Hardmax: the first maximum (the first NaN wins) gets 1, the rest 0; thread-per-lane, or one 256-thread
 * block per lane for long contiguous rows.
 */
import { deviceType, literal, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, grid1d, registerLowerings, unsupported, type LowerContext, type Lowered } from '../lowering.js';
import { blockReduceHelpers } from './common.js';
import { argHelpers, around, emitArgSearch } from './reduce.js';

const MAXT = 256;
const MAX_BLOCKS = 65535 * 8;

function floatType(ctx: LowerContext): DeviceType {
  const x = ctx.inputs[0];
  if (!x) unsupported(`${ctx.node.op}: missing input`);
  const t = deviceType(x.dtype);
  if (!t || t.kind !== 'float') unsupported(`${ctx.node.op} on ${x.dtype} is not generated (float types only)`);
  return t;
}

function axisOf(ctx: LowerContext): number {
  const rank = ctx.inputs[0]!.shape.length;
  const a0 = ctx.node.int('axis', -1);
  const a = a0 < 0 ? a0 + rank : a0;
  if (!Number.isInteger(a) || a < 0 || a >= Math.max(rank, 1)) unsupported(`${ctx.node.op}: axis ${a0} is out of range for rank ${rank} (the reference reports it)`);
  return a;
}

function buildSoftmax(t: DeviceType, log: boolean, variant: 'row' | 'lane'): KernelSource {
  const M = t.math; // float, or double for float64
  const f = (name: string, e: string) => `${name}${M === 'double' ? '' : 'f'}(${e})`;
  const b = new KernelBuilder('softmax', MAXT);
  b.helpers(blockReduceHelpers(M, { max: 'chm_smax', blockMax: 'chm_block_max', blockSum: 'chm_block_sum' }));
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const lanes = b.i64('lanes');
  const n = b.i64('n');
  const inner = b.i64('inner');
  const ninf = literal(t, -Infinity);
  const out = (v: string, m: string, s: string) => (log ? `${v} - ${m} - ${s}` : `${f('exp', `${v} - ${m}`)} / ${s}`);
  if (variant === 'lane') {
    b.gridStride(lanes, () => {
      b.line(`const long long base = (i / ${inner}) * ${n} * ${inner} + i % ${inner};`);
      b.line(`${M} m = ${ninf};`);
      b.line(`for (long long k = 0; k < ${n}; k++) m = chm_smax(m, ${t.load(`${x}[base + k * ${inner}]`)});`);
      b.line(`${M} s = 0;`);
      b.line(`for (long long k = 0; k < ${n}; k++) s += ${f('exp', `${t.load(`${x}[base + k * ${inner}]`)} - m`)};`);
      if (log) b.line(`s = ${f('log', 's')};`);
      b.line(`for (long long k = 0; k < ${n}; k++) { const long long p = base + k * ${inner}; ${y}[p] = ${t.store(out(t.load(`${x}[p]`), 'm', 's'))}; }`);
    });
    return b.build();
  }
  // row: inner == 1, one block per row
  b.shared(`${M} chm_red[32]`);
  b.block(`for (long long row = blockIdx.x; row < ${lanes}; row += gridDim.x)`, () => {
    b.line(`const long long base = row * ${n};`);
    b.line(`${M} m = ${ninf};`);
    b.line(`for (long long k = threadIdx.x; k < ${n}; k += blockDim.x) m = chm_smax(m, ${t.load(`${x}[base + k]`)});`);
    b.line('m = chm_block_max(m, chm_red);');
    b.line(`${M} s = 0;`);
    b.line(`for (long long k = threadIdx.x; k < ${n}; k += blockDim.x) s += ${f('exp', `${t.load(`${x}[base + k]`)} - m`)};`);
    b.line('s = chm_block_sum(s, chm_red);');
    if (log) b.line(`s = ${f('log', 's')};`);
    b.line(`for (long long k = threadIdx.x; k < ${n}; k += blockDim.x) ${y}[base + k] = ${t.store(out(t.load(`${x}[base + k]`), 'm', 's'))};`);
  });
  return b.build();
}

function lowerSoftmax(log: boolean, ctx: LowerContext): Lowered {
  const t = floatType(ctx);
  const axis = axisOf(ctx);
  const kernels = { row: buildSoftmax(t, log, 'row'), lane: buildSoftmax(t, log, 'lane') };
  const { outer, n, inner } = around(ctx.inputs[0]!.shape, axis);
  const lanes = outer * inner;
  if (lanes === 0 || n === 0) return { launches: [], variants: [kernels.row, kernels.lane] };
  const args = [{ in: 0 }, { out: 0 }, a64(lanes), a64(n), a64(inner)];
  if (inner === 1 && n >= 32) {
    let threads = 32;
    while (threads < MAXT && threads * 4 < n) threads *= 2;
    return { launches: [{ kernel: kernels.row, grid: [Math.min(lanes, MAX_BLOCKS), 1, 1], block: [threads, 1, 1], args }], variants: [kernels.lane] };
  }
  return { launches: [{ kernel: kernels.lane, ...grid1d(lanes), args }], variants: [kernels.row] };
}

function buildHardmax(t: DeviceType, variant: 'thread' | 'block'): KernelSource {
  const b = new KernelBuilder('hardmax', MAXT);
  const tag = 'chm_hm';
  b.helpers(argHelpers(t, true, false, tag));
  const x = b.input('x', t.storage);
  const y = b.output('y', t.storage);
  const lanes = b.i64('lanes');
  const n = b.i64('n');
  const inner = b.i64('inner');
  const one = t.store(literal(t, 1));
  const zero = t.store(literal(t, 0));
  if (variant === 'thread') {
    b.gridStride(lanes, () => {
      b.line(`const long long base = (i / ${inner}) * ${n} * ${inner} + i % ${inner};`);
      emitArgSearch(b, t, tag, x, n, inner, 'thread');
      b.line(`for (long long k = 0; k < ${n}; k++) ${y}[base + k * ${inner}] = k == best ? ${one} : ${zero};`);
    });
    return b.build();
  }
  b.shared(`${t.math} chm_sv[${MAXT}]`).shared(`long long chm_si[${MAXT}]`);
  b.block(`for (long long o = blockIdx.x; o < ${lanes}; o += gridDim.x)`, () => {
    b.line(`const long long base = (o / ${inner}) * ${n} * ${inner} + o % ${inner};`);
    emitArgSearch(b, t, tag, x, n, inner, 'block');
    b.line(`for (long long k = threadIdx.x; k < ${n}; k += blockDim.x) ${y}[base + k * ${inner}] = k == best ? ${one} : ${zero};`);
  });
  return b.build();
}

function lowerHardmax(ctx: LowerContext): Lowered {
  const t = floatType(ctx);
  const axis = axisOf(ctx);
  const kernels = { block: buildHardmax(t, 'block'), thread: buildHardmax(t, 'thread') };
  const { outer, n, inner } = around(ctx.inputs[0]!.shape, axis);
  const lanes = outer * inner;
  if (lanes === 0 || n === 0) return { launches: [], variants: [kernels.block, kernels.thread] };
  const args = [{ in: 0 }, { out: 0 }, a64(lanes), a64(n), a64(inner)];
  if (inner === 1 && n >= 64) {
    return { launches: [{ kernel: kernels.block, grid: [Math.min(lanes, MAX_BLOCKS), 1, 1], block: [MAXT, 1, 1], args }], variants: [kernels.thread] };
  }
  return { launches: [{ kernel: kernels.thread, ...grid1d(lanes), args }], variants: [kernels.block] };
}

registerLowerings({
  Softmax: { lower: (ctx) => lowerSoftmax(false, ctx) },
  LogSoftmax: { lower: (ctx) => lowerSoftmax(true, ctx) },
  Hardmax: { lower: lowerHardmax },
});
