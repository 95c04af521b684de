/**
 * Tensor-core Conv (fp16 / bf16, group 1, 1-D and 2-D) on the GEMM of gemm-tc.ts, NCHW as the graph has it.
 *
 * Per image n:  Y[n] (Cout × OH·OW) = W (Cout × Cin·KH·KW) · col[n] (Cin·KH·KW × OH·OW)
 *
 * Two paths (chosen per shape; every kernel of both is listed in `variants`):
 * - direct: a 1×1 kernel, stride 1, no padding, Cin % 8 == 0 and H·W % 8 == 0 (the GEMM's 16-byte row
 *   rule): col[n] is X[n] itself. One batched GEMM over all images (A = W shared, strideA = 0; B = X[n],
 *   strideB = Cin·H·W; C = Y[n], strideC = Cout·H·W). A bias (one value per output channel, i.e. per GEMM
 *   row, which the GEMM's per-column bias epilogue cannot express) is added by `conv_bias` afterwards —
 *   only when Cout ≤ Cin (that pass moves 2·Cout·H·W elements); otherwise the im2col path is cheaper.
 * - im2col: `conv_im2col` writes col for a chunk of images into scratch, rows k = c·KH·KW + ky·KW + kx,
 *   leading dimension ldb = roundup(OH·OW, 8); out-of-image taps, the padding columns and the padding rows
 *   K..Kp-1 are zeros. With a bias, row K is all ones and the GEMM's A is W' = [W | bias | 0] (built by
 *   `conv_wprep` into scratch, Cout × Kp), so the bias comes out of the GEMM in fp32 with no extra pass.
 *   Kp = roundup(Cin·KH·KW + (bias ? 1 : 0), 8); when Kp == Cin·KH·KW (no bias, K % 8 == 0) W is used in
 *   place. Images are chunked so col stays ≤ 256 MiB; one batched GEMM per chunk.
 *
 * The GEMM tile comes from a small cost model over a fixed tile list (the heuristic tiles of gemm-tc.ts
 * plus 128×128), with split-K for problems under a third of a wave (see `chooseConvTile`).
 *
 * Everything that is not handled here (other dtypes, groups, 3-D, shapes whose scratch would exceed the
 * budget, dims beyond 32-bit index math) goes to the existing kernels of conv.ts, which are always
 * listed as variants (and this module's kernels are listed when those run), so kernel sets depend only on
 * dtype, rank, group and bias presence.
 */
import type { DType } from '../../ir/dtype.js';
import type { KernelContext } from '../../ref/kernel.js';
import { kernelShape, windowGeometry } from '../../ref/kernels/conv-geom.js';
import { dt } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import { a64, elementCount, unsupported, type Launch, type LowerContext, type Lowered } from '../lowering.js';
import {
  gemmSplits, gemmTcVariants, heuristicGemmTile, launchTensorCoreGemm,
  tensorCoreGemmApplies, type GemmEpilogue, type GemmTcConfig, type GemmTcDtype, type GemmTcShape, type GemmTile,
} from './gemm-tc.js';

/** col scratch budget per chunk of images */
export const CONV_TC_SCRATCH_BUDGET = 256 * 1024 * 1024;
const SMS = 132;
const I32 = 2 ** 31 - 1;
const NO_EPILOGUE: GemmEpilogue = { bias: false, act: 'none', residual: false };

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;
const pow2ceil = (v: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, v)));

// ---------------------------------------------------------------------------------------------------
// kernels (text depends only on the dtype for conv_bias and on bias presence for conv_wprep)

/**
 * im2col into a padded column buffer, 16-bit elements (dtype-agnostic: copies bit patterns).
 * Thread (threadIdx.x, threadIdx.y) of block (bx, by, bz): row k = bx·blockDim.y + ty, 16-byte chunk
 * cj = bz·blockDim.x + tx (pixels 8·cj .. 8·cj+7); images by blockIdx.y with a grid-stride loop.
 * Row K (when `one` ≠ 0) holds the bit pattern `one` for every real pixel; rows ≥ K otherwise zeros.
 * 32-bit index math inside an image (the lowering checks the bounds), 64-bit image offsets.
 */
export function im2colKernel(): KernelSource {
  const b = new KernelBuilder('conv_im2col', 256);
  b.input('x', 'unsigned short');
  b.output('col', 'unsigned short');
  for (const n of ['nImg', 'C', 'H', 'W', 'OH', 'OW', 'KH', 'KW', 'sh', 'sw', 'dh', 'dw', 'ph', 'pw', 'K', 'Kp', 'ldb', 'one']) b.i64(n);
  b.line(
    'const unsigned k = blockIdx.x * blockDim.y + threadIdx.y;',
    'const unsigned cj = blockIdx.z * blockDim.x + threadIdx.x;',
    'if (k >= (unsigned)Kp || cj >= (unsigned)(ldb >> 3)) return;',
    'const unsigned OWu = (unsigned)OW, OHWu = (unsigned)(OH * OW), p0 = cj * 8u;',
    'const long long HW = H * W, imgX = C * HW, imgCol = Kp * ldb;',
    'const bool real = k < (unsigned)K;',
    'int iy0 = 0, ix0 = 0, ixRow = 0;',
    'unsigned ox0 = 0;',
    'const unsigned short* xc = x;',
  );
  b.block('if (real)', () => {
    b.line(
      'const unsigned KHW = (unsigned)(KH * KW), KWu = (unsigned)KW;',
      'const unsigned c = k / KHW, r = k - c * KHW;',
      'const unsigned ky = r / KWu, kx = r - ky * KWu;',
      'const unsigned oy = p0 / OWu;',
      'ox0 = p0 - oy * OWu;',
      'ixRow = (int)kx * (int)dw - (int)pw;',
      'iy0 = (int)oy * (int)sh - (int)ph + (int)ky * (int)dh;',
      'ix0 = (int)ox0 * (int)sw + ixRow;',
      'xc = x + (long long)c * HW;',
    );
  });
  b.line('const unsigned short oneBits = (unsigned short)one;');
  b.block('for (long long n = blockIdx.y; n < nImg; n += gridDim.y)', () => {
    b.line('unsigned w0 = 0u, w1 = 0u, w2 = 0u, w3 = 0u;');
    b.block('if (real)', () => {
      b.line(
        'const unsigned short* xn = xc + n * imgX;',
        'const int Hi = (int)H, Wi = (int)W, shi = (int)sh, swi = (int)sw;',
        'int iy = iy0, ix = ix0;',
        'unsigned ox = ox0;',
        'const unsigned short* xr = xn + (long long)iy * W;',
        'unsigned v[8];',
        '#pragma unroll',
      );
      b.block('for (int j = 0; j < 8; j++)', () => {
        b.line(
          'v[j] = (p0 + (unsigned)j < OHWu && (unsigned)iy < (unsigned)Hi && (unsigned)ix < (unsigned)Wi) ? (unsigned)xr[ix] : 0u;',
          'ix += swi;',
          'if (++ox == OWu) { ox = 0u; iy += shi; ix = ixRow; xr += sh * W; }',
        );
      });
      b.line('w0 = v[0] | (v[1] << 16); w1 = v[2] | (v[3] << 16); w2 = v[4] | (v[5] << 16); w3 = v[6] | (v[7] << 16);');
    });
    b.block('else if (k == (unsigned)K && oneBits != 0)', () => {
      b.line(
        'unsigned v[8];',
        '#pragma unroll',
        'for (int j = 0; j < 8; j++) v[j] = p0 + (unsigned)j < OHWu ? (unsigned)oneBits : 0u;',
        'w0 = v[0] | (v[1] << 16); w1 = v[2] | (v[3] << 16); w2 = v[4] | (v[5] << 16); w3 = v[6] | (v[7] << 16);',
      );
    });
    b.line(
      'uint4 u; u.x = w0; u.y = w1; u.z = w2; u.w = w3;',
      '*reinterpret_cast<uint4*>(col + n * imgCol + (long long)k * ldb + p0) = u;',
    );
  });
  return b.build();
}

/**
 * W' [Cout × Kp] = [W (Cout × K) | bias | 0], 16-bit bit copies (dtype-agnostic). One thread per 16-byte
 * chunk of W'. Without `bias` the columns ≥ K are zeros (K padding only).
 */
export function wprepKernel(bias: boolean): KernelSource {
  const b = new KernelBuilder('conv_wprep', 256);
  b.input('w', 'unsigned short');
  if (bias) b.input('bias', 'unsigned short');
  b.output('wp', 'unsigned short');
  b.i64('M'); b.i64('K'); b.i64('Kp');
  b.line('const long long cpr = Kp >> 3, total = M * cpr;');
  b.gridStride('total', () => {
    b.line(
      'const long long m = i / cpr, k0 = (i - m * cpr) * 8;',
      'unsigned v[8];',
      '#pragma unroll',
      `for (int j = 0; j < 8; j++) { const long long k = k0 + j; v[j] = k < K ? (unsigned)w[m * K + k] : ${bias ? '(k == K ? (unsigned)bias[m] : 0u)' : '0u'}; }`,
      'uint4 u; u.x = v[0] | (v[1] << 16); u.y = v[2] | (v[3] << 16); u.z = v[4] | (v[5] << 16); u.w = v[6] | (v[7] << 16);',
      '*reinterpret_cast<uint4*>(wp + m * Kp + k0) = u;',
    );
  });
  return b.build();
}

/**
 * y[r, :] += bias[r % Cout] for rows r of 8·hw8 elements (the direct path; H·W % 8 == 0 there, so rows are
 * 16-byte aligned). Rows by blockIdx.y (grid-stride), 16-byte chunks by x.
 */
export function biasKernel(dtype: GemmTcDtype): KernelSource {
  const t = dt(dtype);
  const b = new KernelBuilder('conv_bias', 256);
  b.helpers(`__device__ __forceinline__ unsigned chm_convb_add2(unsigned p, float bv) {
  const float lo = ${t.load('(unsigned short)(p & 0xffffu)')} + bv, hi = ${t.load('(unsigned short)(p >> 16)')} + bv;
  return (unsigned)${t.store('lo')} | ((unsigned)${t.store('hi')} << 16);
}`);
  b.input('bias', 'unsigned short');
  b.output('y', 'unsigned short');
  b.i64('rows'); b.i64('Cout'); b.i64('hw8');
  b.block('for (long long r = blockIdx.y; r < rows; r += gridDim.y)', () => {
    b.line(
      `const float bv = ${t.load('bias[r % Cout]')};`,
      'uint4* yr = reinterpret_cast<uint4*>(y + r * hw8 * 8);',
    );
    b.block('for (long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x; j < hw8; j += (long long)gridDim.x * blockDim.x)', () => {
      b.line(
        'uint4 u = yr[j];',
        'u.x = chm_convb_add2(u.x, bv); u.y = chm_convb_add2(u.y, bv); u.z = chm_convb_add2(u.z, bv); u.w = chm_convb_add2(u.w, bv);',
        'yr[j] = u;',
      );
    });
  });
  return b.build();
}

// ---------------------------------------------------------------------------------------------------
// GEMM tile choice

interface TileOption { name: string; tile: GemmTile; rate: number }

/**
 * The tiles the conv may pick, and a guessed relative throughput of a full SM for each (NOT measured for
 * convs; the large tile's 225 TFLOP/s at 4096³ is the only anchor — tune on the GPU).
 */
function tileOptions(): { options: TileOption[]; small: GemmTile; decode: GemmTile } {
  const large = heuristicGemmTile(4096, 4096, 4096).tile;
  const small = heuristicGemmTile(128, 768, 768).tile;
  const tall = heuristicGemmTile(65536, 64, 4096).tile;
  const decode = heuristicGemmTile(1, 4096, 4096).tile;
  const wide: GemmTile = { bm: 128, bn: 128, bk: 32, warpsM: 2, warpsN: 2, stages: 4 };
  return {
    options: [
      { name: 'large', tile: large, rate: 1.0 },
      { name: 'wide', tile: wide, rate: 0.8 },
      { name: 'tall', tile: tall, rate: 0.6 },
      { name: 'small', tile: small, rate: 0.45 },
    ],
    small,
    decode,
  };
}

/** every (tile, splitK) `chooseConvTile` may return */
export function convTileSet(): { tile: GemmTile; splitK: boolean }[] {
  const { options, small, decode } = tileOptions();
  return [...options.map((o) => ({ tile: o.tile, splitK: false })), { tile: small, splitK: true }, { tile: decode, splitK: false }, { tile: decode, splitK: true }];
}

/**
 * Tile for a batched GEMM of `batch` × (M × N × K):
 * - M ≤ 16: the decode tile, split-K when gemmSplits gives more than one split;
 * - fewer than 44 (a third of a wave) 64×64 tiles over the whole batch: the small tile with split-K
 *   (when gemmSplits gives ≥ 2 splits and the fp32 workspace fits the budget);
 * - otherwise the option minimizing ceil(tiles / SMs) · bm·bn·K / rate (padded work, quantized to waves
 *   of one block per SM, divided by the tile's guessed throughput).
 */
export function chooseConvTile(batch: number, M: number, N: number, K: number): { tile: GemmTile; splitK: boolean; name: string } {
  const { options, small, decode } = tileOptions();
  const s = { batch, M, N, K };
  const wsOk = (tile: GemmTile) => batch * gemmSplits(s, tile) * M * N * 4 <= CONV_TC_SCRATCH_BUDGET;
  if (M <= 16) return { tile: decode, splitK: gemmSplits(s, decode) > 1 && wsOk(decode), name: 'decode' };
  const tiles = (t: GemmTile) => Math.ceil(M / t.bm) * Math.ceil(N / t.bn) * batch;
  if (tiles(small) < SMS / 3 && gemmSplits(s, small) >= 2 && wsOk(small)) return { tile: small, splitK: true, name: 'small-splitk' };
  let best = options[0];
  let bestCost = Infinity;
  for (const o of options) {
    const cost = Math.ceil(tiles(o.tile) / SMS) * o.tile.bm * o.tile.bn * K / o.rate;
    if (cost < bestCost) { best = o; bestCost = cost; }
  }
  return { tile: best.tile, splitK: false, name: best.name };
}

// ---------------------------------------------------------------------------------------------------
// plan

export interface ConvTcGeometry {
  N: number; C: number; H: number; W: number;
  M: number; OH: number; OW: number;
  KH: number; KW: number; sh: number; sw: number; dh: number; dw: number; ph: number; pw: number;
  bias: boolean;
}

export interface ConvTcPlanInfo {
  path: 'direct' | 'im2col';
  K: number; Kp: number; ldb: number; chunk: number; chunks: number;
  prepW: boolean; ones: boolean; biasPass: boolean;
  tile: GemmTile; splitK: boolean; tileName: string;
}

/** All kernels this module may launch for a node of this dtype and bias presence. */
export function convTcKernels(dtype: GemmTcDtype, bias: boolean): KernelSource[] {
  const ks = [im2colKernel(), wprepKernel(bias), ...gemmTcVariants({ dtype, transA: false, transB: false, epilogue: NO_EPILOGUE }, convTileSet())];
  if (bias) ks.push(biasKernel(dtype));
  return ks;
}

/**
 * The launches of one conv (geometry lifted to 2-D), or the reason it is not handled. `budget` bounds the
 * col scratch of one chunk (tests lower it to exercise chunking).
 */
export function planConvTc(dtype: GemmTcDtype, g: ConvTcGeometry, budget = CONV_TC_SCRATCH_BUDGET): { lowered: Lowered; info: ConvTcPlanInfo } | { reason: string } {
  const { N, C, H, W, M, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, bias } = g;
  const OHW = OH * OW, HW = H * W;
  const K = C * KH * KW;
  if (N < 1 || M < 1 || OHW < 1 || K < 1) return { reason: 'empty' };
  // 32-bit index math inside an image (im2col), int coordinates with padding and dilation
  // (every int coordinate the im2col walk reaches, 8 pixels past the end included, stays below 2^30)
  const big = Math.max(H, W, (OH + 1) * sh + (KH - 1) * dh + ph, (OW + 8) * sw + (KW - 1) * dw + pw) > 2 ** 30;
  if (big || HW > I32 || OHW > I32 || K > I32 - 16) return { reason: 'dims beyond 32-bit index math' };
  const direct = KH === 1 && KW === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && OH === H && OW === W &&
    C % 8 === 0 && HW % 8 === 0 && (!bias || M <= C);
  const ones = !direct && bias;
  const Kp = direct ? K : roundUp(K + (ones ? 1 : 0), 8);
  const prepW = Kp !== K;
  const ldb = direct ? HW : roundUp(OHW, 8);
  const colImg = Kp * ldb * 2;
  if (!direct && colImg > budget) return { reason: `one image's col (${colImg} B) exceeds the scratch budget` };
  if (!direct && Kp * (ldb / 8) > I32) return { reason: 'col too large for 32-bit index math' };
  const chunk = direct ? N : Math.min(N, Math.floor(budget / colImg), 65535);
  const chunks = Math.ceil(N / chunk);
  const choice = chooseConvTile(chunk, M, OHW, Kp);
  const cfg: GemmTcConfig = { dtype, transA: false, transB: false, tile: choice.tile, splitK: choice.splitK, epilogue: NO_EPILOGUE };

  // scratch layout
  const scratch: number[] = [];
  const colIdx = direct ? -1 : scratch.push(chunk * colImg) - 1;
  const wIdx = prepW ? scratch.push(M * Kp * 2) - 1 : -1;
  const wsIdx = choice.splitK ? scratch.push(0) - 1 : -1;

  const launches: Launch[] = [];
  if (prepW) {
    const total = M * (Kp / 8);
    launches.push({
      kernel: wprepKernel(bias),
      grid: [Math.max(1, Math.min(Math.ceil(total / 256), 65535 * 8)), 1, 1], block: [256, 1, 1],
      args: [{ in: 1 }, ...(bias ? [{ in: 2 }] : []), { scratch: wIdx }, a64(M), a64(K), a64(Kp)],
    });
  }
  const im2col = im2colKernel();
  const cpr = ldb / 8;
  const bx = Math.min(256, pow2ceil(cpr)), by = 256 / bx;
  const gz = Math.ceil(cpr / bx);
  if (gz > 65535) return { reason: 'too many pixels for the im2col grid' };
  const one = dtype === 'float16' ? 0x3c00 : 0x3f80;
  for (let ci = 0; ci < chunks; ci++) {
    const n0 = ci * chunk, nb = Math.min(chunk, N - n0);
    if (!direct) {
      launches.push({
        kernel: im2col,
        grid: [Math.ceil(Kp / by), Math.min(nb, 65535), gz], block: [bx, by, 1],
        args: [{ in: 0, byteOffset: n0 * C * HW * 2 }, { scratch: colIdx },
          ...[nb, C, H, W, OH, OW, KH, KW, sh, sw, dh, dw, ph, pw, K, Kp, ldb, ones ? one : 0].map(a64)],
      });
    }
    const shape: GemmTcShape = {
      batch: nb, M, N: OHW, K: Kp, lda: Kp, ldb, ldc: OHW,
      strideA: 0, strideB: direct ? C * HW : Kp * ldb, strideC: M * OHW,
    };
    const ok = tensorCoreGemmApplies(dtype, shape);
    if (!ok.ok) return { reason: `GEMM does not qualify (${ok.reason})` };
    const gl = launchTensorCoreGemm(shape, cfg, 1, {
      A: prepW ? { scratch: wIdx } : { in: 1 },
      B: direct ? { in: 0, byteOffset: n0 * C * HW * 2 } : { scratch: colIdx },
      C: { out: 0, byteOffset: n0 * M * OHW * 2 },
      workspace: { scratch: wsIdx >= 0 ? wsIdx : 0 },
    });
    if (wsIdx >= 0) scratch[wsIdx] = Math.max(scratch[wsIdx], gl.scratch[0] ?? 0);
    launches.push(...gl.launches);
  }
  const biasPass = direct && bias;
  if (biasPass) {
    const rows = N * M, hw8 = HW / 8;
    launches.push({
      kernel: biasKernel(dtype),
      grid: [Math.max(1, Math.min(Math.ceil(hw8 / 256), 1024)), Math.min(rows, 65535), 1], block: [256, 1, 1],
      args: [{ in: 2 }, { out: 0 }, a64(rows), a64(M), a64(hw8)],
    });
  }
  if (wsIdx >= 0 && scratch[wsIdx] === 0) scratch[wsIdx] = 4;
  const info: ConvTcPlanInfo = { path: direct ? 'direct' : 'im2col', K, Kp, ldb, chunk, chunks, prepW, ones, biasPass, tile: choice.tile, splitK: choice.splitK, tileName: choice.name };
  return { lowered: { launches, scratch }, info };
}

// ---------------------------------------------------------------------------------------------------
// the Conv entry point (called first by conv.ts)

/** 2-D conv geometry of a Conv node (1-D convs lifted with H = P = R = 1; pads: the beginning ones) */
export interface ConvGeometry2d {
  N: number; C: number; H: number; W: number;
  M: number; P: number; Q: number; R: number; S: number;
  sh: number; sw: number; dh: number; dw: number; ph: number; pw: number;
}

/** the geometry of ctx.node (a 1-D or 2-D Conv: X = ctx.inputs[0], W = ctx.inputs[1]) from the ref's window rules */
export function convGeometry2d(ctx: LowerContext): ConvGeometry2d {
  const node = ctx.node;
  const X = ctx.inputs[0]!, Wt = ctx.inputs[1]!;
  const fail = (message: string, field?: string): never => unsupported(`${node.op}: ${message}${field ? ` (${field})` : ''}`);
  const kctx: KernelContext = {
    node, opset: 0, inputs: [],
    input: () => fail('no tensors at plan time'),
    optionalInput: () => undefined,
    runSubgraph: () => fail('no subgraphs at plan time'),
    fail,
  };
  const inSp = X.shape.slice(2);
  const geom = windowGeometry(kctx, inSp, kernelShape(kctx, Wt.shape.slice(2)));
  const one = X.shape.length === 3;
  const lift = (v: readonly number[], o: number): [number, number] => (one ? [o, v[0]] : [v[0], v[1]]);
  const [H, W] = lift(inSp, 1), [P, Q] = lift(geom.out, 1), [R, S] = lift(geom.kernel, 1);
  const [sh, sw] = lift(geom.strides, 1), [dh, dw] = lift(geom.dilations, 1), [ph, pw] = lift(geom.padsBegin, 0);
  return { N: X.shape[0], C: X.shape[1], H, W, M: Wt.shape[0], P, Q, R, S, sh, sw, dh, dw, ph, pw };
}

/** the kernels of several lists, each name once (first occurrence's position) */
export const unionKernels = (...lists: readonly KernelSource[][]): KernelSource[] => {
  const m = new Map<string, KernelSource>();
  for (const l of lists) for (const k of l) m.set(k.name, k);
  return [...m.values()];
};

/**
 * Conv on tensor cores when the attributes qualify (fp16/bf16, 3-D or 4-D input, group 1); `simt` is the
 * existing lowering (conv.ts), which validates the node and is used for the shapes not handled here.
 * Returns undefined when the attributes do not qualify (the caller then lowers with `simt` alone).
 */
export function tensorCoreConv(ctx: LowerContext, simt: (ctx: LowerContext) => Lowered): Lowered | undefined {
  const X = ctx.inputs[0], Wt = ctx.inputs[1], B = ctx.inputs[2];
  if (!X || !Wt) return undefined;
  const dtype: DType = X.dtype;
  if (dtype !== 'float16' && dtype !== 'bfloat16') return undefined;
  if (Wt.dtype !== dtype || (B && B.dtype !== dtype) || ctx.outputs[0]?.dtype !== dtype) return undefined;
  const rank = X.shape.length;
  if ((rank !== 3 && rank !== 4) || Wt.shape.length !== rank) return undefined;
  if (ctx.node.int('group', 1) !== 1) return undefined;
  // the existing lowering validates the node (and throws `unsupported` exactly as before)
  const fallback = simt(ctx);
  const fallbackKernels = unionKernels(fallback.launches.map((l) => l.kernel), fallback.variants ?? []);
  const bias = B !== undefined;
  const tc = convTcKernels(dtype, bias);
  const useFallback = (): Lowered => {
    const launched = new Set(fallback.launches.map((l) => l.kernel.name));
    return { ...fallback, variants: unionKernels(fallback.variants ?? [], tc.filter((k) => !launched.has(k.name))) };
  };
  if (elementCount(ctx.outputs[0].shape) === 0) return useFallback();
  const g = convGeometry2d(ctx);
  const plan = planConvTc(dtype, { ...g, OH: g.P, OW: g.Q, KH: g.R, KW: g.S, bias });
  if ('reason' in plan) return useFallback();
  const launched = new Set(plan.lowered.launches.map((l) => l.kernel.name));
  return { ...plan.lowered, variants: unionKernels(tc, fallbackKernels).filter((k) => !launched.has(k.name)) };
}
