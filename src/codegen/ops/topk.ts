/** TopK: one block per row, bitonic sort of (key, index) pairs in shared memory; ties keep the lower index. */
import type { DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, registerLowerings, unsupported,
  type LowerContext, type Lowered } from '../lowering.js';
import { devType, need, normAxis, prod } from './index-util.js';

// ---------------------------------------------------------------------------------------------------
// TopK: one block per row, bitonic sort of (key, index) pairs in shared memory

const TOPK_THREADS = 512;
const TOPK_SMEM = 48 * 1024;

function topkKernel(t: DeviceType, largest: boolean): KernelSource {
  const b = new KernelBuilder('topk', TOPK_THREADS);
  b.input('x', t.storage);
  b.output('vals', t.storage);
  b.output('inds', 'long long');
  b.i64('rows');
  b.i64('n');
  b.i64('inner');
  b.i64('k');
  b.i64('P');
  b.i64('keyoff');
  b.dynamicShared('int', 'ids');
  const M = t.math;
  const gt = (p: string, q: string) => (t.kind === 'float' ? `(${p} != ${p} ? ${q} == ${q} : (${q} == ${q} && ${p} > ${q}))` : `(${p} > ${q})`);
  const eq = (p: string, q: string) => (t.kind === 'float' ? `((${p} != ${p} && ${q} != ${q}) || ${p} == ${q})` : `(${p} == ${q})`);
  const better = largest ? gt('kp', 'kq') : gt('kq', 'kp');
  b.line(`${M}* keys = reinterpret_cast<${M}*>(chm_dyn_smem + keyoff);`);
  b.block('for (long long row = blockIdx.x; row < rows; row += gridDim.x)', () => {
    b.line(
      'const long long o = row / inner;',
      'const long long j = row % inner;',
      'const long long base = o * n * inner + j;',
    );
    b.block('for (long long p = threadIdx.x; p < P; p += blockDim.x)', () => {
      b.block('if (p < n)', () => b.line(`keys[p] = ${t.load('x[base + p * inner]')};`, 'ids[p] = (int)p;'));
      b.block('else', () => b.line('ids[p] = -1;'));
    });
    b.line('__syncthreads();');
    b.block('for (long long size = 2; size <= P; size <<= 1)', () => {
      b.block('for (long long stride = size >> 1; stride > 0; stride >>= 1)', () => {
        b.block('for (long long h = threadIdx.x; h < (P >> 1); h += blockDim.x)', () => {
          b.line(
            'const long long lo = 2 * stride * (h / stride) + (h % stride);',
            'const long long hi = lo + stride;',
            'const bool asc = (lo & size) == 0;',
            // before(a, b): a sorts ahead of b (padding sorts last; ties by lower index)
            'const long long fa = asc ? hi : lo, fb = asc ? lo : hi;',
            'const int ia = ids[fa], ib = ids[fb];',
            'bool swap;',
          );
          b.block('if (ia < 0) swap = false; else if (ib < 0) swap = true; else', () => {
            b.line(
              `const ${M} kp = keys[fa], kq = keys[fb];`,
              `swap = ${better} || (${eq('kp', 'kq')} && ia < ib);`,
            );
          });
          b.block('if (swap)', () => {
            b.line(
              `const ${M} tk = keys[lo]; keys[lo] = keys[hi]; keys[hi] = tk;`,
              'const int ti = ids[lo]; ids[lo] = ids[hi]; ids[hi] = ti;',
            );
          });
        });
        b.line('__syncthreads();');
      });
    });
    b.block('for (long long p = threadIdx.x; p < k; p += blockDim.x)', () => {
      b.line(
        'const long long dst = o * k * inner + p * inner + j;',
        'vals[dst] = x[base + (long long)ids[p] * inner];',
        'inds[dst] = ids[p];',
      );
    });
    b.line('__syncthreads();');
  });
  return b.build();
}

function lowerTopK(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'X');
  const kT = ctx.hostValue(1);
  if (!kT) unsupported('K must be known at plan time');
  if (kT.size !== 1) unsupported('K must hold exactly one value');
  const t = devType(x.dtype, 'X');
  const rank = x.shape.length;
  if (rank === 0) unsupported('input must have rank >= 1');
  const axis = normAxis(ctx.node.int('axis', -1), rank);
  const largest = ctx.node.int('largest', 1) !== 0;
  const n = x.shape[axis];
  const k = kT.getNumber(0);
  if (!Number.isInteger(k) || k < 0 || k > n) unsupported(`K = ${k} is out of range for an axis of ${n}`);
  const kernel = topkKernel(t, largest);
  const inner = prod(x.shape, axis + 1);
  const rows = prod(x.shape, 0, axis) * inner;
  if (rows * k === 0) return { launches: [], variants: [kernel] };
  let P = 1;
  while (P < n) P *= 2;
  const mathBytes = t.math === 'float' || t.math === 'int' ? 4 : t.math === 'double' ? 8 : t.bytes;
  const keyOff = Math.ceil((P * 4) / 16) * 16;
  const shared = keyOff + P * mathBytes;
  if (shared > TOPK_SMEM) unsupported(`TopK rows of ${n} elements do not fit shared memory`);
  const threads = Math.min(TOPK_THREADS, Math.max(32, P / 2));
  return {
    launches: [{
      kernel, grid: [Math.min(rows, 2 ** 31 - 1), 1, 1], block: [threads, 1, 1], sharedBytes: shared,
      args: [{ in: 0 }, { out: 0 }, { out: 1 }, a64(rows), a64(n), a64(inner), a64(k), a64(P), a64(keyOff)],
    }],
  };
}

registerLowerings({
  TopK: { hostInputs: [1], lower: lowerTopK },
});
