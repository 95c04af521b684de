/**
 * Linear algebra lowerings: MatMul, Gemm, MatMulInteger.
 *
 * One tiled kernel family serves all three: C[M×N] = A[M×K] · B[K×N] with A and B addressed through
 * (row, column) strides (so Gemm's transposes are just strides), per-batch offsets from broadcast batch
 * strides (numpy matmul batching; the batch rank is compile-time, the dims and strides are arguments),
 * and an op-specific epilogue (plain store; alpha·AB + beta·C; zero points subtracted on load).
 *
 * Kernel: 64×64 output tile per block, K in steps of 16 through shared memory, 256 threads each
 * computing a 4×4 micro-tile (rows ty + 16i, columns tx + 16j, so output stores and shared reads are
 * conflict-free and coalesced). Tiles are loaded along the operand's contiguous axis (a compile-time
 * choice from the attributes: MatMul operands are row-major; Gemm's transA/transB flip it). Every load
 * and store is bounds-checked, so any M, N, K (K = 0 gives zeros, or beta·C) works. Batches run over
 * blockIdx.z with a grid-stride loop (as do the M and N tiles), so any batch count fits the grid limits.
 *
 * Few rows (M ≤ 4 per batch entry: matrix-vector products, batch-1 decoding) instead run a skinny kernel
 * that is bound by reading B once, coalesced: with B row-major each warp's lanes take 32 adjacent columns
 * and the block's 8 warps split K (reduced through shared memory); with B k-contiguous (Gemm transB) each
 * warp takes one column and its lanes split K (reduced with shuffles). Both variants share one signature
 * and argument list; both are built for every node (the one not launched is listed in `variants`).
 *
 * Accumulation: float for float32/float16/bfloat16, double for float64; integer MatMul/Gemm accumulate
 * in unsigned 32-bit (64-bit for int64/uint64) wrapping arithmetic, which matches the reference's
 * fixed-width wrap (results are stored truncated to the element width). MatMulInteger accumulates
 * (a - a_zp)·(b - b_zp) in wrapping 32-bit, stored as int32.
 */
import type { DType } from '../../ir/dtype.js';
import { deviceType, type DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  gemmTcVariants, heuristicGemmTile, launchTensorCoreGemm, tensorCoreGemmApplies, withLibraryForm,
  type GemmAct, type GemmEpilogue, type GemmTcDtype, type GemmTcLaunch, type GemmTcRefs, type GemmTcShape, type GemmTile,
} from './gemm-tc.js';
import { heuristicWgmmaConfig, launchWgmmaGemm, wgmmaGemmApplies, wgmmaVariants } from './gemm-wgmma.js';
import {
  a64, af32, af64, broadcastStrides, elementCount, registerLowerings, unsupported,
  type ArgRef, type LowerContext, type Lowered, type TensorDesc,
} from '../lowering.js';

const TM = 64; // rows of the output tile
const TN = 64; // columns of the output tile
const TK = 16; // K step
const THREADS = 256;
/** at most this many rows (per batch entry) run the skinny (matrix-vector) kernel */
const SKINNY_M = 4;

type AccType = 'float' | 'double' | 'unsigned int' | 'unsigned long long';

interface MmKernelConfig {
  a: DeviceType;
  b: DeviceType;
  y: DeviceType;
  acc: AccType;
  /** A tile loaded along k (A row-major in k) — else along m */
  aKContig: boolean;
  /** B tile loaded along n (B row-major in n) — else along k */
  bNContig: boolean;
  /** rank of the (broadcast) batch shape */
  batchRank: number;
  /** Gemm epilogue: y = alpha·acc (+ beta·C when `c` is given) */
  gemm?: { c?: DeviceType };
  /** MatMulInteger: which zero points are present */
  zp?: { a: boolean; b: boolean };
  /**
   * fused epilogue (float accumulators only; absent when it is the identity): v (+ bias[n]) → act → (+ R[m, n]),
   * applied after the MatMul value / Gemm's alpha·acc + beta·C. bias and R have the output's dtype; R is
   * contiguous like Y.
   */
  ep?: SimtEpilogue;
}

interface SimtEpilogue {
  bias: boolean;
  act: GemmAct;
  residual: boolean;
}

/** the activation of a fused epilogue applied to the accumulator-typed variable `v` (C statement) */
function actLine(act: GemmAct, acc: 'float' | 'double'): string | undefined {
  const f = acc === 'float' ? 'f' : '';
  const c = (x: string) => (acc === 'float' ? `${x}f` : x);
  switch (act) {
    case 'none': return undefined;
    case 'relu': return `v = v < ${c('0.0')} ? ${c('0.0')} : v;`;
    case 'gelu_erf': return `v = ${c('0.5')} * v * (${c('1.0')} + erf${f}(v * ${c('0.70710678118654752')}));`;
    case 'gelu_tanh': return `v = ${c('0.5')} * v * (${c('1.0')} + tanh${f}(${c('0.79788456080286536')} * (v + ${c('0.044715')} * v * v * v)));`;
  }
}

const isIntAcc = (acc: AccType): boolean => acc === 'unsigned int' || acc === 'unsigned long long';

/** Converts a stored operand (C expression `e` of type `t`) to the accumulator type. */
function toAcc(t: DeviceType, e: string, acc: AccType): string {
  if (isIntAcc(acc)) return `(${acc})(${e})`;
  const v = t.load(e);
  return t.math === acc ? v : `(${acc})(${v})`;
}

/** 'tiled': the 64×64 shared-memory kernel; 'skinny': few rows (M ≤ SKINNY_M), a bandwidth-bound matrix-vector kernel */
type Variant = 'tiled' | 'skinny';

/**
 * The kernel. Both variants take the same parameters, in order:
 *   A, B, [C], [a_zp], [b_zp], Y,
 *   M, N, K, ars, acs, brs, bcs, nbatch, bd0.., as0.., bs0..,
 *   [csm, csn] (Gemm with C), [alpha, beta] (Gemm)
 *   [azm] (a_zp present), [bzk, bzn] (b_zp present)   (MatMulInteger zero-point strides; 0 for a scalar)
 * Element (m, k) of A for batch entry z is A[aoff(z) + m*ars + k*acs]; (k, n) of B is B[boff(z) + k*brs + n*bcs];
 * Y is contiguous [nbatch, M, N].
 */
function buildKernel(cfg: MmKernelConfig, variant: Variant): KernelSource {
  const b = new KernelBuilder('matmul', THREADS);
  const { acc } = cfg;
  const A = b.input('A', cfg.a.storage);
  const B = b.input('B', cfg.b.storage);
  const C = cfg.gemm?.c ? b.input('C', cfg.gemm.c.storage) : undefined;
  const AZ = cfg.zp?.a ? b.input('AZ', cfg.a.storage) : undefined;
  const BZ = cfg.zp?.b ? b.input('BZ', cfg.b.storage) : undefined;
  const ep = cfg.ep;
  if (ep && isIntAcc(acc)) throw new Error('matmul: a fused epilogue needs a float accumulator');
  const BIAS = ep?.bias ? b.input('bias', cfg.y.storage) : undefined;
  const RES = ep?.residual ? b.input('R', cfg.y.storage) : undefined;
  const Y = b.output('Y', cfg.y.storage);
  const M = b.i64('M'), N = b.i64('N'), K = b.i64('K');
  const ars = b.i64('ars'), acs = b.i64('acs'), brs = b.i64('brs'), bcs = b.i64('bcs');
  const nbatch = b.i64('nbatch');
  const R = cfg.batchRank;
  const bd = b.i64s('bd', R), as = b.i64s('as', R), bs = b.i64s('bs', R);
  let alpha = '', beta = '', csm = '', csn = '';
  if (cfg.gemm) {
    if (C) { csm = b.i64('csm'); csn = b.i64('csn'); }
    if (acc === 'float') { alpha = b.f32('alpha'); beta = b.f32('beta'); }
    else if (acc === 'double') { alpha = b.f64('alpha'); beta = b.f64('beta'); }
    else { alpha = b.i64('alpha'); beta = b.i64('beta'); }
  }
  let azm = '', bzk = '', bzn = '';
  if (cfg.zp) {
    if (AZ) azm = b.i64('azm');
    if (BZ) { bzk = b.i64('bzk'); bzn = b.i64('bzn'); }
  }

  const loadA = (m: string, k: string): string => {
    const e = `${A}[aoff + ${m} * ${ars} + ${k} * ${acs}]`;
    if (cfg.zp) {
      const z = AZ ? `(int)${AZ}[${m} * ${azm}]` : '0';
      return `(${acc})((int)${e} - ${z})`;
    }
    return toAcc(cfg.a, e, acc);
  };
  const loadB = (k: string, n: string): string => {
    const e = `${B}[boff + ${k} * ${brs} + ${n} * ${bcs}]`;
    if (cfg.zp) {
      const z = BZ ? `(int)${BZ}[${k} * ${bzk} + ${n} * ${bzn}]` : '0';
      return `(${acc})((int)${e} - ${z})`;
    }
    return toAcc(cfg.b, e, acc);
  };
  /** the epilogue for output (m, n) (both in range) from the dot product `s` */
  const store = (s: string): void => {
    if (cfg.gemm) {
      if (isIntAcc(acc)) {
        b.line(`${acc} v = (${acc})${alpha} * ${s};`);
        if (C) b.line(`if (${beta} != 0) v += (${acc})${beta} * (${acc})${C}[m * ${csm} + n * ${csn}];`);
      } else {
        b.line(`${acc} v = ${alpha} * ${s};`);
        if (C) b.line(`if (${beta} != 0) v += ${beta} * ${toAcc(cfg.gemm.c!, `${C}[m * ${csm} + n * ${csn}]`, acc)};`);
      }
    } else {
      b.line(`${ep ? '' : 'const '}${acc} v = ${s};`);
    }
    if (ep) {
      if (BIAS) b.line(`v += ${toAcc(cfg.y, `${BIAS}[n]`, acc)};`);
      const a = actLine(ep.act, acc as 'float' | 'double');
      if (a) b.line(a);
      if (RES) b.line(`v += ${toAcc(cfg.y, `${RES}[yoff + m * ${N} + n]`, acc)};`);
    }
    const st = isIntAcc(acc) ? `(${cfg.y.storage})v` : cfg.y.store(cfg.y.math === acc ? 'v' : `(${cfg.y.math})v`);
    b.line(`${Y}[yoff + m * ${N} + n] = ${st};`);
  };
  /** the batch loop with this entry's operand offsets, around `body` */
  const batchLoop = (body: () => void): void => {
    b.block(`for (long long bz = blockIdx.z; bz < ${nbatch}; bz += gridDim.z)`, () => {
      b.line('long long aoff = 0, boff = 0;');
      if (R > 0) {
        b.line('long long rem = bz;');
        for (let d = R - 1; d >= 0; d--) {
          b.line(d > 0 ? `{ long long c = rem % ${bd[d]}; rem /= ${bd[d]};` : '{ long long c = rem;');
          b.line(`  aoff += c * ${as[d]}; boff += c * ${bs[d]}; }`);
        }
      }
      b.line(`const long long yoff = bz * ${M} * ${N};`);
      body();
    });
  };

  if (variant === 'skinny') {
    // SKINNY_M rows at a time; each output is a dot product over K split across threads and then reduced.
    // B n-contiguous: a warp's lanes take 32 adjacent columns, the 8 warps take every 8th k (reduced in shared).
    // B k-contiguous: each warp takes one column, its lanes every 32nd k (reduced with shuffles).
    const R4 = SKINNY_M;
    const nPer = cfg.bNContig ? 32 : THREADS / 32;
    const kStep = cfg.bNContig ? THREADS / 32 : 32;
    const U = 8; // loads of B in flight per thread
    if (cfg.bNContig) b.shared(`${acc} red[${THREADS / 32}][${R4}][32]`);
    b.line(
      'const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;',
      `const long long mTiles = (${M} + ${R4 - 1}) / ${R4}, nTiles = (${N} + ${nPer - 1}) / ${nPer};`,
    );
    batchLoop(() => {
      b.block('for (long long mt = blockIdx.y; mt < mTiles; mt += gridDim.y)', () => {
        b.block('for (long long nt = blockIdx.x; nt < nTiles; nt += gridDim.x)', () => {
          b.line(`const long long m0 = mt * ${R4};`);
          b.line(`const int rows = (int)(${M} - m0 < ${R4} ? ${M} - m0 : ${R4});`);
          b.line(cfg.bNContig ? `const long long n = nt * 32 + lane;` : `const long long n = nt * ${nPer} + w;`);
          b.line(`${acc} s[${R4}];`);
          b.line('#pragma unroll', `for (int i = 0; i < ${R4}; i++) s[i] = 0;`);
          b.block(`if (n < ${N})`, () => {
            b.line(`long long k = ${cfg.bNContig ? 'w' : 'lane'};`);
            b.block(`for (; k + ${(U - 1) * kStep} < ${K}; k += ${U * kStep})`, () => {
              b.line(`${acc} bv[${U}];`);
              b.line('#pragma unroll', `for (int u = 0; u < ${U}; u++) bv[u] = ${loadB(`(k + u * ${kStep})`, 'n')};`);
              b.line('#pragma unroll');
              b.block(`for (int i = 0; i < ${R4}; i++)`, () => {
                b.line('if (i >= rows) break;');
                b.line('#pragma unroll', `for (int u = 0; u < ${U}; u++) s[i] += ${loadA('(m0 + i)', `(k + u * ${kStep})`)} * bv[u];`);
              });
            });
            b.block(`for (; k < ${K}; k += ${kStep})`, () => {
              b.line(`const ${acc} bk = ${loadB('k', 'n')};`);
              b.line('#pragma unroll');
              b.block(`for (int i = 0; i < ${R4}; i++)`, () => {
                b.line('if (i >= rows) break;');
                b.line(`s[i] += ${loadA('(m0 + i)', 'k')} * bk;`);
              });
            });
          });
          if (cfg.bNContig) {
            b.line('#pragma unroll', `for (int i = 0; i < ${R4}; i++) red[w][i][lane] = s[i];`);
            b.line('__syncthreads();');
            // warp i (< rows) finishes row m0 + i for the 32 columns
            b.block(`if (w < rows && n < ${N})`, () => {
              b.line(`${acc} t = 0;`);
              b.line('#pragma unroll', `for (int j = 0; j < ${THREADS / 32}; j++) t += red[j][w][lane];`);
              b.line('const long long m = m0 + w;');
              store('t');
            });
            b.line('__syncthreads();');
          } else {
            b.line('#pragma unroll');
            b.block(`for (int i = 0; i < ${R4}; i++)`, () => {
              b.line('#pragma unroll', 'for (int o = 16; o > 0; o >>= 1) s[i] += __shfl_xor_sync(0xffffffffu, s[i], o);');
            });
            b.block(`if (lane == 0 && n < ${N})`, () => {
              b.block('for (int i = 0; i < rows; i++)', () => {
                b.line('const long long m = m0 + i;');
                store('s[i]');
              });
            });
          }
        });
      });
    });
    return b.build();
  }

  // shared tiles, [k][m] and [k][n], padded by one against bank conflicts when stored along k
  b.shared(`${acc} As[${TK}][${TM + 1}]`);
  b.shared(`${acc} Bs[${TK}][${TN + 1}]`);
  b.line(
    'const int tid = threadIdx.x;',
    'const int tx = tid & 15, ty = tid >> 4;',
    `const long long mTiles = (${M} + ${TM - 1}) / ${TM}, nTiles = (${N} + ${TN - 1}) / ${TN};`,
  );
  const perThread = (TM * TK) / THREADS; // 4 (also TN*TK/THREADS)
  batchLoop(() => {
    b.block('for (long long mt = blockIdx.y; mt < mTiles; mt += gridDim.y)', () => {
      b.block('for (long long nt = blockIdx.x; nt < nTiles; nt += gridDim.x)', () => {
        b.line(`const long long m0 = mt * ${TM}, n0 = nt * ${TN};`);
        b.line(`${acc} acc[4][4];`);
        b.line('#pragma unroll', 'for (int i = 0; i < 4; i++) {', '  #pragma unroll', '  for (int j = 0; j < 4; j++) acc[i][j] = 0;', '}');
        b.block(`for (long long k0 = 0; k0 < ${K}; k0 += ${TK})`, () => {
          b.line('#pragma unroll');
          b.block(`for (int l = 0; l < ${perThread}; l++)`, () => {
            b.line(`const int idx = tid + l * ${THREADS};`);
            if (cfg.aKContig) b.line(`const int mm = idx / ${TK}, kk = idx % ${TK};`);
            else b.line(`const int mm = idx % ${TM}, kk = idx / ${TM};`);
            b.line('const long long m = m0 + mm, k = k0 + kk;');
            b.line(`As[kk][mm] = (m < ${M} && k < ${K}) ? ${loadA('m', 'k')} : (${acc})0;`);
          });
          b.line('#pragma unroll');
          b.block(`for (int l = 0; l < ${perThread}; l++)`, () => {
            b.line(`const int idx = tid + l * ${THREADS};`);
            if (cfg.bNContig) b.line(`const int nn = idx % ${TN}, kk = idx / ${TN};`);
            else b.line(`const int nn = idx / ${TK}, kk = idx % ${TK};`);
            b.line('const long long n = n0 + nn, k = k0 + kk;');
            b.line(`Bs[kk][nn] = (n < ${N} && k < ${K}) ? ${loadB('k', 'n')} : (${acc})0;`);
          });
          b.line('__syncthreads();');
          b.line('#pragma unroll');
          b.block(`for (int kk = 0; kk < ${TK}; kk++)`, () => {
            b.line(`${acc} av[4], bv[4];`);
            b.line('#pragma unroll', 'for (int i = 0; i < 4; i++) av[i] = As[kk][ty + 16 * i];');
            b.line('#pragma unroll', 'for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];');
            b.line('#pragma unroll', 'for (int i = 0; i < 4; i++) {', '  #pragma unroll', '  for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];', '}');
          });
          b.line('__syncthreads();');
        });
        b.line('#pragma unroll');
        b.block('for (int i = 0; i < 4; i++)', () => {
          b.line('const long long m = m0 + ty + 16 * i;');
          b.line(`if (m >= ${M}) continue;`);
          b.line('#pragma unroll');
          b.block('for (int j = 0; j < 4; j++)', () => {
            b.line('const long long n = n0 + tx + 16 * j;');
            b.line(`if (n >= ${N}) continue;`);
            store('acc[i][j]');
          });
        });
      });
    });
  });
  return b.build();
}

// ---------------------------------------------------------------------------------------------------
// Shape helpers

function broadcastShape(a: readonly number[], c: readonly number[]): number[] | undefined {
  const r = Math.max(a.length, c.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
    const y = i - (r - c.length) >= 0 ? c[i - (r - c.length)] : 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

interface MatmulShapes {
  M: number; K: number; N: number;
  batchShape: number[];
  /** per batch dim, element strides of A / B (0 where broadcast) */
  aBatchStrides: number[];
  bBatchStrides: number[];
  outShape: number[];
  /** the batch can be folded into M: B shared by all entries and A's batches contiguous */
  foldable: boolean;
}

/** numpy matmul shape rules (as src/ref/kernels/matmul-plan.ts) */
function matmulShapes(aShape: readonly number[], bShape: readonly number[]): MatmulShapes {
  if (aShape.length === 0 || bShape.length === 0) unsupported('MatMul operands must have rank >= 1');
  const a2 = aShape.length === 1 ? [1, aShape[0]] : [...aShape];
  const b2 = bShape.length === 1 ? [bShape[0], 1] : [...bShape];
  const M = a2[a2.length - 2], K = a2[a2.length - 1];
  const K2 = b2[b2.length - 2], N = b2[b2.length - 1];
  if (K !== K2) unsupported(`inner dimensions differ: [${aShape.join(',')}] x [${bShape.join(',')}]`);
  const aBatch = a2.slice(0, -2), bBatch = b2.slice(0, -2);
  const batchShape = broadcastShape(aBatch, bBatch);
  if (!batchShape) return unsupported(`batch dimensions of [${aShape.join(',')}] and [${bShape.join(',')}] cannot be broadcast`);
  const outShape = [...batchShape];
  if (aShape.length > 1) outShape.push(M);
  if (bShape.length > 1) outShape.push(N);
  return {
    M, K, N, batchShape, outShape,
    aBatchStrides: broadcastStrides(aBatch, batchShape).map((s) => s * M * K),
    bBatchStrides: broadcastStrides(bBatch, batchShape).map((s) => s * K * N),
    foldable: aShape.length > 1 && elementCount(bBatch) === 1 && elementCount(aBatch) === elementCount(batchShape),
  };
}

/**
 * The size arguments of a batched product (M, N, lda = K, 1, ldb = N, 1, batches, batch dims, A and B
 * batch strides). With `fold` and a foldable batch (B shared, A's batch entries contiguous rows), the
 * batch is folded into M: one [batches*M, K] x [K, N] product.
 */
function batchedArgs(s: MatmulShapes, fold: boolean): { M: number; N: number; batches: number; sizeArgs: ArgRef[] } {
  let { M } = s;
  let batches = elementCount(s.batchShape);
  let bd = s.batchShape, as = s.aBatchStrides, bs = s.bBatchStrides;
  if (fold && s.foldable && batches > 1) {
    M = batches * M;
    batches = 1;
    bd = bd.map(() => 1);
    as = as.map(() => 0);
    bs = bs.map(() => 0);
  }
  const { K, N } = s;
  const sizeArgs = [
    a64(M), a64(N), a64(K), a64(K), a64(1), a64(N), a64(1),
    a64(batches), ...bd.map(a64), ...as.map(a64), ...bs.map(a64),
  ];
  return { M, N, batches, sizeArgs };
}

function accFor(t: DeviceType): AccType | undefined {
  if (t.kind === 'float') return t.math === 'double' ? 'double' : 'float';
  if (t.kind === 'int' || t.kind === 'uint') return t.bytes === 8 ? 'unsigned long long' : 'unsigned int';
  return undefined;
}

/** Both kernels for `cfg` (text independent of dims); launches the one that fits M (the other is a variant). */
function launchBoth(cfg: MmKernelConfig, M: number, N: number, batches: number, args: ArgRef[]): Lowered {
  const tiled = buildKernel(cfg, 'tiled');
  const skinny = buildKernel(cfg, 'skinny');
  const z = Math.max(1, Math.min(batches, 65535));
  if (M <= SKINNY_M) {
    const nPer = cfg.bNContig ? 32 : THREADS / 32;
    const grid: [number, number, number] = [Math.max(1, Math.min(Math.ceil(N / nPer), 2 ** 31 - 1)), Math.max(1, Math.min(Math.ceil(M / SKINNY_M), 65535)), z];
    return { launches: [{ kernel: skinny, grid, block: [THREADS, 1, 1], args }], variants: [tiled] };
  }
  const grid: [number, number, number] = [Math.max(1, Math.min(Math.ceil(N / TN), 2 ** 31 - 1)), Math.max(1, Math.min(Math.ceil(M / TM), 65535)), z];
  return { launches: [{ kernel: tiled, grid, block: [THREADS, 1, 1], args }], variants: [skinny] };
}

/** the kernels alone (for zero-element outputs: nothing to launch, but the engine still compiles them) */
function variantsOnly(cfg: MmKernelConfig): Lowered {
  return { launches: [], variants: [buildKernel(cfg, 'tiled'), buildKernel(cfg, 'skinny')] };
}

function input(ctx: LowerContext, i: number): TensorDesc {
  const t = ctx.inputs[i];
  if (!t) return unsupported(`input ${i} is missing`);
  return t;
}

function deviceOf(d: DType, what: string): DeviceType {
  const t = deviceType(d);
  if (!t) return unsupported(`${what} type ${d} has no device type`);
  return t;
}

// ---------------------------------------------------------------------------------------------------
// fused epilogues (engine partition: MatMul/Gemm → bias Add → activation → residual Add as one unit)

/**
 * An epilogue fused into a MatMul or Gemm by the engine: y = act(product (+ bias[n])) (+ residual).
 * `bias` and `residual` are indices into ctx.inputs (after the node's own inputs): bias holds one value per
 * output column (shape [N] or [1,..,1,N]), residual has the output's shape; both have the output's dtype.
 * The output (ctx.outputs[0]) is the product or a reshape of it that keeps the last (column) axis, e.g.
 * [B*S, N] viewed as [B, S, N]: the same elements in the same order.
 * A Gemm with C takes no second bias (its C, with beta, is applied first, as in a plain Gemm).
 */
export interface FusedGemmEpilogue {
  act: GemmAct;
  bias?: number;
  residual?: number;
}

/** the identity epilogue */
const NO_EP: GemmEpilogue = { bias: false, act: 'none', residual: false };

/** SIMT kernel epilogue (undefined for the identity, so plain nodes keep their kernels) */
function simtEp(ep: GemmEpilogue): SimtEpilogue | undefined {
  return ep.bias || ep.residual || ep.act !== 'none' ? { bias: ep.bias, act: ep.act, residual: ep.residual } : undefined;
}

const sameShape = (p: readonly number[], q: readonly number[]): boolean => p.length === q.length && p.every((d, i) => d === q[i]);

/** Validates a fused epilogue against the product's output shape and dtype; returns the kernel epilogue. */
function checkFused(ctx: LowerContext, f: FusedGemmEpilogue, acc: AccType, outShape: readonly number[], N: number, dtype: DType): GemmEpilogue {
  if (isIntAcc(acc)) unsupported('a fused epilogue needs a floating-point product');
  // the unit's output may be a reshape of the product that keeps the column axis (same elements, same order)
  const y = ctx.outputs[0].shape;
  if (y.length === 0 || y[y.length - 1] !== N || elementCount(y) !== elementCount(outShape)) {
    unsupported(`fused output [${y.join(',')}] is not the product [${outShape.join(',')}] with its column axis kept`);
  }
  if (f.bias !== undefined) {
    const bd = ctx.inputs[f.bias];
    if (!bd) return unsupported('the fused bias is missing');
    if (bd.dtype !== dtype) unsupported(`fused bias type ${bd.dtype} differs from the product's ${dtype}`);
    const r = bd.shape.length;
    if (r === 0 || bd.shape[r - 1] !== N || elementCount(bd.shape) !== N) {
      unsupported(`bias [${bd.shape.join(',')}] is not one value per output column (N = ${N})`);
    }
  }
  if (f.residual !== undefined) {
    const rd = ctx.inputs[f.residual];
    if (!rd) return unsupported('the fused residual is missing');
    if (rd.dtype !== dtype) unsupported(`fused residual type ${rd.dtype} differs from the product's ${dtype}`);
    if (!sameShape(rd.shape, y)) unsupported(`residual [${rd.shape.join(',')}] does not have the output shape [${y.join(',')}]`);
  }
  return { bias: f.bias !== undefined, act: f.act, residual: f.residual !== undefined };
}

/** the fused inputs' buffer references, in the kernels' parameter order (bias, then residual) */
function fusedRefs(f: FusedGemmEpilogue | undefined): { bias?: ArgRef; residual?: ArgRef } {
  const r: { bias?: ArgRef; residual?: ArgRef } = {};
  if (f?.bias !== undefined) r.bias = { in: f.bias };
  if (f?.residual !== undefined) r.residual = { in: f.residual };
  return r;
}

function fusedArgs(f: FusedGemmEpilogue | undefined): ArgRef[] {
  const r = fusedRefs(f);
  return [...(r.bias ? [r.bias] : []), ...(r.residual ? [r.residual] : [])];
}

/**
 * Lowers a MatMul or Gemm node (ctx.node) with a fused epilogue (see FusedGemmEpilogue): one tensor-core
 * launch (main + reduce for split-K) where the shape qualifies, else the SIMT kernel with the same epilogue.
 * ctx.outputs[0] is the fused unit's output (the product's shape). Throws Unsupported when the epilogue
 * does not fit the concrete shapes (the engine then runs the nodes one by one).
 */
export function lowerGemmWithEpilogue(ctx: LowerContext, ep: FusedGemmEpilogue): Lowered {
  if (ctx.node.domain !== '') return unsupported(`${ctx.node.op} (domain ${ctx.node.domain}) takes no fused epilogue`);
  if (ctx.node.op === 'MatMul') return lowerMatMulImpl(ctx, ep);
  if (ctx.node.op === 'Gemm') return lowerGemmImpl(ctx, ep);
  return unsupported(`${ctx.node.op} takes no fused epilogue`);
}

// ---------------------------------------------------------------------------------------------------
// MatMul

function lowerMatMulImpl(ctx: LowerContext, fused?: FusedGemmEpilogue): Lowered {
  const a = input(ctx, 0), bIn = input(ctx, 1);
  if (a.dtype !== bIn.dtype) unsupported(`operand types differ (${a.dtype}, ${bIn.dtype})`);
  const t = deviceOf(a.dtype, 'operand');
  const acc = accFor(t);
  if (!acc) return unsupported(`MatMul of ${a.dtype}`);
  const y = ctx.outputs[0];
  if (y.dtype !== a.dtype) unsupported(`output type ${y.dtype} differs from the operands' ${a.dtype}`);
  const s = matmulShapes(a.shape, bIn.shape);
  if (fused && bIn.shape.length < 2) unsupported('a fused epilogue needs a matrix B (the output has a column axis)');
  const ep = fused ? checkFused(ctx, fused, acc, s.outShape, s.N, a.dtype) : NO_EP;
  const R = s.batchShape.length;
  const cfg: MmKernelConfig = { a: t, b: t, y: t, acc, aKContig: true, bNContig: true, batchRank: R, ep: simtEp(ep) };
  if (elementCount(s.outShape) === 0) {
    const v = variantsOnly(cfg);
    if (a.dtype === 'float16' || a.dtype === 'bfloat16') v.variants!.push(...tcVariants(a.dtype, false, false, ep));
    return v;
  }
  const tc = tensorCoreMatMul(a.dtype, s, cfg, ep, fusedRefs(fused), ctx.arch);
  if (tc) return tc;
  const { M, N, batches, sizeArgs } = batchedArgs(s, true);
  const args: ArgRef[] = [{ in: 0 }, { in: 1 }, ...fusedArgs(fused), { out: 0 }, ...sizeArgs];
  return launchBoth(cfg, M, N, batches, args);
}

function lowerMatMul(ctx: LowerContext): Lowered {
  return lowerMatMulImpl(ctx);
}

// ---------------------------------------------------------------------------------------------------
// tensor cores (fp16/bf16): gemm-tc.ts, where the shape qualifies; the SIMT kernels stay as variants

/** tiles the heuristic may pick at any shape: every one is compiled with the engine (no run-time JIT) */
const TC_TILE_SHAPES: readonly [number, number, number][] = [[1, 4096, 4096], [128, 768, 768], [128, 768, 3072], [4096, 4096, 4096], [65536, 64, 4096]];

function tcVariants(dtype: GemmTcDtype, transA: boolean, transB: boolean, epilogue: GemmEpilogue): KernelSource[] {
  const tiles = new Map<string, { tile: GemmTile; splitK: boolean }>();
  for (const [m, n, k] of TC_TILE_SHAPES) {
    const h = heuristicGemmTile(m, n, k);
    for (const splitK of [false, true]) tiles.set(JSON.stringify([h.tile, splitK]), { tile: h.tile, splitK });
  }
  return gemmTcVariants({ dtype, transA, transB, epilogue }, [...tiles.values()]);
}

function tcLowered(dtype: GemmTcDtype, shape: GemmTcShape, transA: boolean, transB: boolean, epilogue: GemmEpilogue, alpha: number, simt: KernelSource[], refs: Partial<GemmTcRefs> | undefined, arch: number | undefined): Lowered | undefined {
  if (!tensorCoreGemmApplies(dtype, shape, transA, transB).ok) return undefined;
  // sm_90a: the wgmma kernels (TMA + warp specialization) for the large and medium shape classes; the
  // mma.sync kernels serve small shapes (where they measure as fast) and every other GPU
  const wgmma = arch === 90 ? wgmmaVariants({ dtype, transA, transB, epilogue }) : [];
  let l: GemmTcLaunch | undefined;
  if (wgmma.length && wgmmaGemmApplies(dtype, shape, transA, transB, arch).ok) {
    const w = heuristicWgmmaConfig(shape.M, shape.N, shape.K, shape.batch);
    if (w.shapeClass !== 'small') {
      const cfg = { dtype, transA, transB, tile: w.tile, splitK: w.splitK, tma: w.tma, epilogue };
      try {
        l = withLibraryForm(launchWgmmaGemm(shape, cfg, alpha, refs), shape, cfg, alpha);
      } catch {
        l = undefined; // an operand the TMA path cannot address (e.g. a 16-byte-misaligned view): mma.sync
      }
    }
  }
  if (!l) {
    const h = heuristicGemmTile(shape.M, shape.N, shape.K);
    l = launchTensorCoreGemm(shape, { dtype, transA, transB, tile: h.tile, splitK: h.splitK, epilogue }, alpha, refs);
  }
  const launched = new Set(l.launches.map((x) => x.kernel.name));
  const variants = [...tcVariants(dtype, transA, transB, epilogue), ...wgmma, ...simt].filter((k, i, all) => !launched.has(k.name) && all.findIndex((x) => x.name === k.name) === i);
  return { launches: l.launches, scratch: l.scratch, variants };
}

/** A batched MatMul on tensor cores, when its batch layout is one stride per operand and the shape qualifies. */
function tensorCoreMatMul(dtype: DType, s: MatmulShapes, simtCfg: MmKernelConfig, epilogue: GemmEpilogue, refs: Partial<GemmTcRefs>, arch: number | undefined): Lowered | undefined {
  if (dtype !== 'float16' && dtype !== 'bfloat16') return undefined;
  const batches = elementCount(s.batchShape);
  const simt = [buildKernel(simtCfg, 'tiled'), buildKernel(simtCfg, 'skinny')];
  // one stride per operand: the innermost batch dim's stride must describe every batch entry
  const single = (st: number[], per: number) => {
    const live = st.map((x, i) => [x, s.batchShape[i]] as const).filter(([, d]) => d > 1);
    if (live.length === 0) return 0;
    if (live.every(([x]) => x === 0)) return 0;
    // contiguous batches: strides are per*prod(later dims)
    let expect = per;
    for (let i = st.length - 1; i >= 0; i--) {
      if (s.batchShape[i] === 1) continue;
      if (st[i] !== expect) return undefined;
      expect *= s.batchShape[i];
    }
    return per;
  };
  let shape: GemmTcShape;
  if (s.foldable && batches > 1) {
    shape = { batch: 1, M: batches * s.M, N: s.N, K: s.K };
  } else {
    const sa = single(s.aBatchStrides, s.M * s.K);
    const sb = single(s.bBatchStrides, s.K * s.N);
    if (sa === undefined || sb === undefined) return undefined;
    shape = { batch: batches, M: s.M, N: s.N, K: s.K, strideA: sa, strideB: sb, strideC: s.M * s.N };
  }
  return tcLowered(dtype, shape, false, false, epilogue, 1, simt, refs, arch);
}

// ---------------------------------------------------------------------------------------------------
// Gemm

function lowerGemmImpl(ctx: LowerContext, fused?: FusedGemmEpilogue): Lowered {
  const a = input(ctx, 0), bIn = input(ctx, 1);
  const c = ctx.inputs[2];
  const dtype = a.dtype;
  if (bIn.dtype !== dtype || (c && c.dtype !== dtype)) unsupported('operand types differ');
  const t = deviceOf(dtype, 'operand');
  const acc = accFor(t);
  if (!acc) return unsupported(`Gemm of ${dtype}`);
  const y = ctx.outputs[0];
  if (y.dtype !== dtype) unsupported(`output type ${y.dtype} differs from the operands' ${dtype}`);
  if (a.shape.length !== 2 || bIn.shape.length !== 2) unsupported(`A and B must be matrices, got [${a.shape.join(',')}] and [${bIn.shape.join(',')}]`);
  const node = ctx.node;
  const transA = node.int('transA', 0) !== 0;
  const transB = node.int('transB', 0) !== 0;
  const alpha = node.float('alpha', 1);
  const beta = node.float('beta', 1);
  if (isIntAcc(acc) && (!Number.isInteger(alpha) || !Number.isInteger(beta))) unsupported(`integer Gemm needs integral alpha and beta, got ${alpha} and ${beta}`);
  const [M, K] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [K2, N] = transB ? [bIn.shape[1], bIn.shape[0]] : [bIn.shape[0], bIn.shape[1]];
  if (K !== K2) unsupported(`inner dimensions differ: A' is [${M},${K}], B' is [${K2},${N}]`);
  if (fused?.bias !== undefined && c) unsupported('a Gemm with C takes no second (fused) bias');
  const ep = fused ? checkFused(ctx, fused, acc, [M, N], N, dtype) : NO_EP;
  const cfg: MmKernelConfig = {
    a: t, b: t, y: t, acc, aKContig: !transA, bNContig: !transB, batchRank: 0,
    gemm: { c: c ? t : undefined }, ep: simtEp(ep),
  };
  let cStrides: number[] = [];
  if (c) {
    if (c.shape.length > 2 || c.shape.some((d, i) => d !== 1 && d !== [M, N][i + 2 - c.shape.length])) {
      unsupported(`C of shape [${c.shape.join(',')}] does not broadcast to [${M},${N}]`);
    }
    cStrides = broadcastStrides(c.shape, [M, N]);
  }
  if (M * N === 0) return variantsOnly(cfg);
  if ((dtype === 'float16' || dtype === 'bfloat16') && (!c || beta === 1)) {
    // C as a per-column bias ([N] or [1,N]) or a full [M,N] residual, both with beta = 1; a fused
    // activation/residual comes after C's bias (C as the residual only when nothing is fused after it)
    const cBias = !!c && elementCount(c.shape) === N && N > 1 && c.shape[c.shape.length - 1] === N;
    const cRes = !!c && !cBias && c.shape.length === 2 && c.shape[0] === M && c.shape[1] === N;
    const fr = fusedRefs(fused);
    let tcEp: GemmEpilogue | undefined;
    let refs: Partial<GemmTcRefs> | undefined;
    if (!c) {
      tcEp = ep;
      refs = fr;
    } else if (cBias) {
      tcEp = { bias: true, act: ep.act, residual: ep.residual };
      refs = { bias: { in: 2 }, ...(fr.residual ? { residual: fr.residual } : {}) };
    } else if (cRes && ep.act === 'none' && !ep.residual) {
      tcEp = { bias: false, act: 'none', residual: true };
      refs = { residual: { in: 2 } };
    }
    if (tcEp) {
      const tc = tcLowered(dtype, { batch: 1, M, N, K }, transA, transB, tcEp, alpha, [buildKernel(cfg, 'tiled'), buildKernel(cfg, 'skinny')], refs, ctx.arch);
      if (tc) return tc;
    }
  }
  const [ars, acs] = transA ? [1, M] : [K, 1];
  const [brs, bcs] = transB ? [1, K] : [N, 1];
  const scalar = (v: number) => (acc === 'float' ? af32(v) : acc === 'double' ? af64(v) : a64(v));
  const args: ArgRef[] = [
    { in: 0 }, { in: 1 }, ...(c ? [{ in: 2 }] : []), ...fusedArgs(fused), { out: 0 },
    a64(M), a64(N), a64(K), a64(ars), a64(acs), a64(brs), a64(bcs), a64(1),
    ...cStrides.map(a64), scalar(alpha), scalar(beta),
  ];
  return launchBoth(cfg, M, N, 1, args);
}

function lowerGemm(ctx: LowerContext): Lowered {
  return lowerGemmImpl(ctx);
}

// ---------------------------------------------------------------------------------------------------
// MatMulInteger

const SMALL_INTS: readonly DType[] = ['int8', 'uint8', 'int16', 'uint16'];

function lowerMatMulInteger(ctx: LowerContext): Lowered {
  const a = input(ctx, 0), bIn = input(ctx, 1);
  const azp = ctx.inputs[2], bzp = ctx.inputs[3];
  if (!SMALL_INTS.includes(a.dtype) || !SMALL_INTS.includes(bIn.dtype)) unsupported(`MatMulInteger of ${a.dtype} x ${bIn.dtype} (8/16-bit integers only)`);
  if (azp && azp.dtype !== a.dtype) unsupported(`zero point type ${azp.dtype} differs from its tensor's type ${a.dtype}`);
  if (bzp && bzp.dtype !== bIn.dtype) unsupported(`zero point type ${bzp.dtype} differs from its tensor's type ${bIn.dtype}`);
  const y = ctx.outputs[0];
  if (y.dtype !== 'int32') unsupported(`MatMulInteger output type ${y.dtype}`);
  const s = matmulShapes(a.shape, bIn.shape);
  const R = s.batchShape.length;
  const cfg: MmKernelConfig = {
    a: deviceOf(a.dtype, 'A'), b: deviceOf(bIn.dtype, 'B'), y: deviceOf('int32', 'Y'), acc: 'unsigned int',
    aKContig: true, bNContig: true, batchRank: R, zp: { a: azp !== undefined, b: bzp !== undefined },
  };
  // zero points: a scalar, or one value per index of A's row axis / B's last axis (as the reference)
  let azm = 0, bzk = 0, bzn = 0;
  if (azp && elementCount(azp.shape) !== 1) {
    if (azp.shape.length !== 1 || a.shape.length < 2 || azp.shape[0] !== a.shape[a.shape.length - 2]) {
      unsupported(`zero point of shape [${azp.shape.join(',')}] does not fit A [${a.shape.join(',')}]`);
    }
    azm = 1;
  }
  if (bzp && elementCount(bzp.shape) !== 1) {
    if (bzp.shape.length !== 1 || bzp.shape[0] !== bIn.shape[bIn.shape.length - 1]) {
      unsupported(`zero point of shape [${bzp.shape.join(',')}] does not fit B [${bIn.shape.join(',')}]`);
    }
    // per column of B; for a 1-D B its only axis is K
    if (bIn.shape.length === 1) bzk = 1;
    else bzn = 1;
  }
  if (elementCount(s.outShape) === 0) return variantsOnly(cfg);
  // folding would change the row index seen by a per-row zero point: only with a scalar one
  const { M, N, batches, sizeArgs } = batchedArgs(s, azm === 0);
  const args: ArgRef[] = [
    { in: 0 }, { in: 1 }, ...(azp ? [{ in: 2 }] : []), ...(bzp ? [{ in: 3 }] : []), { out: 0 },
    ...sizeArgs,
    ...(azp ? [a64(azm)] : []), ...(bzp ? [a64(bzk), a64(bzn)] : []),
  ];
  return launchBoth(cfg, M, N, batches, args);
}

registerLowerings({
  MatMul: { lower: lowerMatMul },
  Gemm: { lower: lowerGemm },
  MatMulInteger: { lower: lowerMatMulInteger },
});
