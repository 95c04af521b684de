// Implicit-GEMM tensor-core Conv (conv-igemm.ts): launch well-formedness and path choice on ResNet-50
// shapes, kernel sets independent of dims, the fused-epilogue entry point, a CPU emulation of the kernel's
// index math (a TS mirror of the generated loaders, swizzles, pipeline indexing and epilogue addressing,
// run on random geometries against a naive conv), and nvcc compiles every kernel.
import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { checkLaunch, getLowering, Unsupported, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import '../../src/codegen/ops/conv.js';
import {
  CONV_IGEMM_TILES, IG_BK, chooseIgemmTile, convIgemmKernels, igRowsPerThread, igThreads, igTile, lowerConvIgemm, planConvIgemm,
  type ConvIgemmEpilogue, type ConvIgemmGeometry, type ConvIgemmMode, type ConvIgemmPlanInfo,
} from '../../src/codegen/ops/conv-igemm.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const ints = (v: number[]): AttrValue => ({ type: 'ints', value: v.map(BigInt) });

// ResNet-50 convs: [Cin, H (= W), Cout, kernel, stride, pad]
const RESNET50: [number, number, number, number, number, number][] = [
  [3, 224, 64, 7, 2, 3],
  [64, 56, 64, 1, 1, 0], [64, 56, 64, 3, 1, 1], [64, 56, 256, 1, 1, 0], [256, 56, 64, 1, 1, 0],
  [256, 56, 128, 1, 1, 0], [128, 56, 128, 3, 2, 1], [128, 28, 512, 1, 1, 0], [256, 56, 512, 1, 2, 0], [512, 28, 128, 1, 1, 0], [128, 28, 128, 3, 1, 1],
  [512, 28, 256, 1, 1, 0], [256, 28, 256, 3, 2, 1], [256, 14, 1024, 1, 1, 0], [512, 28, 1024, 1, 2, 0], [1024, 14, 256, 1, 1, 0], [256, 14, 256, 3, 1, 1],
  [1024, 14, 512, 1, 1, 0], [512, 14, 512, 3, 2, 1], [512, 7, 2048, 1, 1, 0], [1024, 14, 2048, 1, 2, 0], [2048, 7, 512, 1, 1, 0], [512, 7, 512, 3, 1, 1],
];

function geomOf(n: number, [c, h, m, k, s, p]: (typeof RESNET50)[number]): ConvIgemmGeometry {
  const o = Math.floor((h + 2 * p - k) / s) + 1;
  return { N: n, C: c, H: h, W: h, M: m, P: o, Q: o, R: k, S: k, sh: s, sw: s, dh: 1, dw: 1, ph: p, pw: p };
}

function lowerConvNode(dtype: DType, x: number[], w: number[], bias: boolean, attrs: Record<string, AttrValue>, out: number[]): Lowered {
  const ins: TensorDesc[] = [{ dtype, shape: x }, { dtype, shape: w }];
  if (bias) ins.push({ dtype, shape: [w[0]] });
  const node = new Node({ op: 'Conv', inputs: bias ? ['x', 'w', 'b'] : ['x', 'w'], outputs: ['y'], attrs });
  return getLowering('Conv')!.lower({ node, inputs: ins, outputs: [{ dtype, shape: out }], hostValue: () => undefined });
}

const kernelNames = (l: Lowered): string[] => [...new Set([...l.launches.map((x) => x.kernel.name), ...(l.variants ?? []).map((k) => k.name)])].sort();
const families = (l: Lowered): string[] => l.launches.map((x) => x.kernel.family);
function checkAll(l: Lowered, inputs: number): void {
  for (const x of l.launches) expect(checkLaunch(x, { inputs, outputs: 1, scratch: l.scratch?.length ?? 0 })).toEqual([]);
  const launched = new Set(l.launches.map((x) => x.kernel.name));
  for (const k of l.variants ?? []) expect(launched.has(k.name)).toBe(false);
}

const EP_BIAS: ConvIgemmEpilogue = { bias: true, act: 'none', residual: false, actAfterResidual: false };
const REFS = { x: { in: 0 }, w: { in: 1 }, bias: { in: 2 }, residual: { in: 3 }, y: { out: 0 } };

function info(g: ConvIgemmGeometry, ep = EP_BIAS): ConvIgemmPlanInfo {
  const r = planConvIgemm('float16', g, ep, REFS);
  if ('reason' in r) throw new Error(r.reason);
  return r.info;
}

describe('conv-igemm plans', () => {
  it('ResNet-50 convs at batch 1 and 32 run on the implicit GEMM; one kernel set per dtype and bias presence', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) for (const bias of [true, false]) {
      let set: string[] | undefined;
      for (const n of [1, 32]) for (const L of RESNET50) {
        const g = geomOf(n, L);
        const l = lowerConvNode(dtype, [n, g.C, g.H, g.W], [g.M, g.C, g.R, g.S], bias,
          { kernel_shape: ints([g.R, g.S]), strides: ints([g.sh, g.sw]), pads: ints([g.ph, g.pw, g.ph, g.pw]) }, [n, g.M, g.P, g.Q]);
        checkAll(l, bias ? 3 : 2);
        expect(families(l).some((f) => f.startsWith('conv_igemm'))).toBe(true);
        expect(families(l).some((f) => f.startsWith('gemm_tc') || f === 'conv' || f === 'conv_im2col')).toBe(false);
        const names = kernelNames(l);
        if (!set) set = names;
        expect(names).toEqual(set);
      }
    }
  });

  it('modes, weight padding and split-K as documented', () => {
    // 1×1 stride 1 on 56² / 28² maps: vec (cp.async B); 14² and 7² (H·W % 8 != 0) gather
    expect(info(geomOf(32, RESNET50[1]))).toMatchObject({ mode: 'vec', prepW: false, splits: 1 });
    expect(info(geomOf(32, RESNET50[7]))).toMatchObject({ mode: 'vec' });
    expect(info(geomOf(32, RESNET50[13]))).toMatchObject({ mode: 'gather' });
    expect(info(geomOf(32, RESNET50[19]))).toMatchObject({ mode: 'gather' });
    // 3×3 and strided 1×1: gather
    expect(info(geomOf(32, RESNET50[2]))).toMatchObject({ mode: 'gather', Kred: 576, lda: 576 });
    expect(info(geomOf(32, RESNET50[8]))).toMatchObject({ mode: 'gather' });
    // stem: Kred 147 → weights padded to 152
    expect(info(geomOf(32, RESNET50[0]))).toMatchObject({ mode: 'gather', Kred: 147, lda: 152, prepW: true });
    const stem = planConvIgemm('float16', geomOf(32, RESNET50[0]), EP_BIAS, REFS);
    if ('reason' in stem) throw new Error(stem.reason);
    expect(families(stem.lowered)).toEqual(['conv_wprep', 'conv_igemm']);
    // batch 1, last stage: too few tiles → split-K on the small tile + reduce
    const i1 = info(geomOf(1, RESNET50[22]));
    expect(i1.splits).toBeGreaterThan(1);
    expect(i1.tile).toBe('small');
    const p1 = planConvIgemm('float16', geomOf(1, RESNET50[22]), EP_BIAS, REFS);
    if ('reason' in p1) throw new Error(p1.reason);
    expect(families(p1.lowered)).toEqual(['conv_igemm_splitk', 'conv_igemm_reduce']);
    expect(info(geomOf(32, RESNET50[22])).splits).toBe(1);
    // big GEMMs take the big tile
    expect(chooseIgemmTile(256, 100352, 64).tile.name).toBe('big');
  });

  it('tile table is consistent with the kernels\' thread mappings', () => {
    for (const t of CONV_IGEMM_TILES) {
      const T = igThreads(t);
      expect(T % t.bn).toBe(0);
      expect(igRowsPerThread(t) % 8).toBe(0);
      expect((t.bm * 4) % T).toBe(0);
      expect((IG_BK * t.bn / 8) % T).toBe(0);
    }
  });

  it('leaves grouped, float32 and 3-D convs to the other kernels (no implicit-GEMM kernels in their sets)', () => {
    const dw = lowerConvNode('float16', [1, 8, 9, 9], [8, 1, 3, 3], false, { group: int(8), pads: ints([1, 1, 1, 1]) }, [1, 8, 9, 9]);
    expect(kernelNames(dw).some((n) => n.includes('igemm'))).toBe(false);
    const f32 = lowerConvNode('float32', [1, 8, 9, 9], [16, 8, 1, 1], false, {}, [1, 16, 9, 9]);
    expect(kernelNames(f32).some((n) => n.includes('igemm'))).toBe(false);
    const c3 = lowerConvNode('float16', [1, 8, 4, 4, 4], [16, 8, 1, 1, 1], false, {}, [1, 16, 4, 4, 4]);
    expect(kernelNames(c3).some((n) => n.includes('igemm'))).toBe(false);
    // empty batch and 1-D convs keep the same set as a 2-D/1-D conv of the same dtype/bias
    const e = lowerConvNode('float16', [0, 64, 15, 15], [64, 64, 3, 3], true, { pads: ints([1, 1, 1, 1]) }, [0, 64, 15, 15]);
    const s = lowerConvNode('float16', [2, 64, 15, 15], [64, 64, 3, 3], true, { pads: ints([1, 1, 1, 1]) }, [2, 64, 15, 15]);
    expect(e.launches).toEqual([]);
    expect(kernelNames(e)).toEqual(kernelNames(s));
    const c1 = lowerConvNode('bfloat16', [2, 6, 20], [12, 6, 5], true, { strides: ints([2]), pads: ints([2, 1]) }, [2, 12, 10]);
    checkAll(c1, 3);
    expect(families(c1)).toContain('conv_igemm');
  });

  it('lowerConvIgemm: fused relu / residual epilogues, stable kernel sets, Unsupported where it does not apply', () => {
    const mk = (n: number, L: (typeof RESNET50)[number], opts: Parameters<typeof lowerConvIgemm>[1], resShape?: number[]) => {
      const g = geomOf(n, L);
      const out = [n, g.M, g.P, g.Q];
      const node = new Node({ op: 'Conv', inputs: ['x', 'w', 'b'], outputs: ['y'], attrs: { kernel_shape: ints([g.R, g.S]), strides: ints([g.sh, g.sw]), pads: ints([g.ph, g.pw, g.ph, g.pw]) } });
      const ins: TensorDesc[] = [{ dtype: 'float16', shape: [n, g.C, g.H, g.W] }, { dtype: 'float16', shape: [g.M, g.C, g.R, g.S] }, { dtype: 'float16', shape: [g.M] }];
      if (opts.residualInput !== undefined) ins.push({ dtype: 'float16', shape: resShape ?? out });
      return lowerConvIgemm({ node, inputs: ins, outputs: [{ dtype: 'float16', shape: out }], hostValue: () => undefined }, opts);
    };
    const opts = { act: 'relu' as const, residualInput: 3, actAfterResidual: true };
    let set: string[] | undefined;
    for (const n of [1, 32]) for (const L of RESNET50) {
      const l = mk(n, L, opts);
      checkAll(l, 4);
      // the residual is an argument of the launch that writes Y
      const last = l.launches[l.launches.length - 1];
      expect(last.args.some((a) => 'in' in a && a.in === 3)).toBe(true);
      const names = kernelNames(l);
      if (!set) set = names;
      expect(names).toEqual(set);
    }
    // relu only: another kernel set, no residual argument
    const r = mk(32, RESNET50[2], { act: 'relu', actAfterResidual: false });
    checkAll(r, 3);
    expect(kernelNames(r)).not.toEqual(set);
    expect(() => mk(32, RESNET50[2], opts, [32, 64, 56, 1])).toThrow(Unsupported);
  });
});

// ---------------------------------------------------------------------------------------------------
// CPU emulation of the kernel (a mirror of conv-igemm.ts's generated code, statement by statement, for the
// index math: tile/CTA decomposition, A loader + swizzle, gather state machine + tap table, vec loader,
// B swizzle, pipeline stage indexing, epilogue column → (n, pq) addressing and the split-K workspace).

interface Emu { y: Float64Array; writes: Uint8Array; reads: number }

function emulate(g: ConvIgemmGeometry, inf: ConvIgemmPlanInfo, ep: ConvIgemmEpilogue, x: Float64Array, w: Float64Array, bias: Float64Array | undefined, res: Float64Array | undefined): Emu {
  const tile = igTile(inf.tile), mode: ConvIgemmMode = inf.mode;
  const { bm: BM, bn: BN, warpsM, warpsN, stages: ST } = tile;
  const BK = IG_BK, T = igThreads(tile), WM = BM / warpsM, WN = BN / warpsN, MI = WM / 16, NI = WN / 8, RPT = igRowsPerThread(tile), CPRB = BN / 8;
  const { N: Nimg, C, H, W, M, P, Q, R, S, sh, sw, dh, dw, ph, pw } = g;
  const Kred = inf.Kred, lda = inf.lda, kPer = inf.kPer, splits = inf.splits;
  // the padded weights (conv_wprep): [M, lda], zeros past Kred
  const wp = new Float64Array(M * lda);
  for (let m = 0; m < M; m++) for (let k = 0; k < Kred; k++) wp[m * lda + k] = w[m * Kred + k];
  const PQ = P * Q, HW = H * W, Ncols = Nimg * PQ, ytot = Nimg * M * PQ;
  const tilesM = Math.ceil(M / BM), tilesN = Math.ceil(Ncols / BN);
  const y = new Float64Array(ytot).fill(NaN);
  const writes = new Uint8Array(ytot);
  const ws = splits > 1 ? new Float64Array(splits * ytot).fill(NaN) : undefined;
  const wsWrites = splits > 1 ? new Uint8Array(splits * ytot) : undefined;
  let reads = 0;
  const xAt = (i: number): number => { if (!(i >= 0 && i < x.length)) throw new Error(`x read out of range: ${i}`); reads++; return x[i]; };
  const trunc = (a: number, b: number): number => Math.trunc(a / b);
  for (let z = 0; z < splits; z++) for (let pid = 0; pid < tilesM * tilesN; pid++) {
    const tm = pid % tilesM, tn = trunc(pid, tilesM);
    const m0 = tm * BM, n0 = tn * BN;
    const kBeg = z * kPer, kEnd = Math.min(kBeg + kPer, Kred);
    const kTiles = kEnd > kBeg ? trunc(kEnd - kBeg + BK - 1, BK) : 0;
    const As = new Float64Array(ST * BM * BK).fill(NaN);
    const Bs = new Float64Array((mode === 'vec' ? ST : 2) * BK * BN).fill(NaN);
    const acc = new Float64Array(BM * BN);
    const loadA = (kt: number, st: number) => {
      const k0 = kBeg + kt * BK;
      for (let tid = 0; tid < T; tid++) for (let it = 0; it < (BM * 4) / T; it++) {
        const ch = tid + it * T, r = ch >> 2, c = ch & 3;
        const gr = m0 + r, gk = k0 + c * 8;
        const rem = gr < M ? kEnd - gk : 0;
        const bytes = rem <= 0 ? 0 : rem >= 8 ? 16 : rem * 2;
        const dst = st * BM * BK + r * BK + ((c ^ ((r >> 1) & 3)) << 3);
        for (let e = 0; e < 8; e++) {
          if (2 * e < bytes) {
            const si = gr * lda + gk + e;
            if (!(si < M * lda)) throw new Error('A read out of range');
            As[dst + e] = wp[si];
          } else As[dst + e] = 0;
        }
      }
    };
    // B loaders
    let loadB: ((kt: number, st: number) => void) | undefined;
    let gatherB: ((kt: number) => void) | undefined;
    let storeB: ((buf: number) => void) | undefined;
    if (mode === 'vec') {
      loadB = (kt, st) => {
        const k0 = kBeg + kt * BK;
        for (let tid = 0; tid < T; tid++) {
          const vc = tid % CPRB, jv = n0 + vc * 8, cvalid = jv < Ncols;
          let xcol = 0;
          if (cvalid) { const n = trunc(jv, PQ), pq = jv - n * PQ; xcol = n * C * HW + pq; }
          for (let it = 0; it < (BK * CPRB) / T; it++) {
            const r = trunc(tid, CPRB) + it * (T / CPRB), gk = k0 + r;
            const ok = cvalid && gk < kEnd;
            const dst = st * BK * BN + r * BN + ((vc ^ (r & 7)) << 3);
            for (let e = 0; e < 8; e++) Bs[dst + e] = ok ? xAt(xcol + gk * HW + e) : 0;
          }
        }
      };
    } else {
      const RS = R * S;
      const tab: [number, number, number][] = [];
      for (let i = 0; i < RS; i++) { const r = trunc(i, S), s = i - r * S, dr = r * dh, ds = s * dw; tab.push([dr * W + ds, dr, ds]); }
      const st8 = Array.from({ length: T }, (_, tid) => {
        const bj = tid % BN, bh = trunc(tid, BN), jg = n0 + bj;
        let ih0 = -(2 ** 30), iw0 = -(2 ** 30), colOff = 0, xc = 0;
        if (jg < Ncols) {
          const n = trunc(jg, PQ), pq = jg - n * PQ, p = trunc(pq, Q), q = pq - p * Q;
          ih0 = p * sh - ph; iw0 = q * sw - pw; colOff = ih0 * W + iw0; xc = n * C * HW;
        }
        const kA0 = kBeg + bh * RPT;
        return { bj, bh, ih0, iw0, colOff, xc, kA0, grs: kA0 % RS, gco: trunc(kA0, RS) * HW, vb: new Float64Array(RPT) };
      });
      const bkQ = trunc(BK, RS), bkR = BK - bkQ * RS;
      gatherB = (kt) => {
        for (const t of st8) {
          const kRem = kEnd - (t.kA0 + kt * BK);
          let rr = t.grs, co = t.gco;
          for (let i = 0; i < RPT; i++) {
            const [off, dr, ds] = tab[rr];
            const ih = t.ih0 + dr, iw = t.iw0 + ds;
            let v = 0;
            if (i < kRem && ih >= 0 && ih < H && iw >= 0 && iw < W) v = xAt(t.xc + co + t.colOff + off);
            t.vb[i] = v;
            if (++rr === RS) { rr = 0; co += HW; }
          }
          t.grs += bkR; t.gco += bkQ * HW;
          if (t.grs >= RS) { t.grs -= RS; t.gco += HW; }
        }
      };
      storeB = (buf) => {
        for (const t of st8) for (let i = 0; i < RPT; i++) {
          const r = t.bh * RPT + i;
          Bs[buf * BK * BN + r * BN + (((t.bj >> 3) ^ (r & 7)) << 3) + (t.bj & 7)] = t.vb[i];
        }
      };
    }
    const compute = (stA: number, stB: number) => {
      // what the ldmatrix addresses read: A (r, k) at r*32 + swzA(r, k/8)*8 + k%8; B (k, j) at k*BN + swzB(k, j/8)*8 + j%8
      for (let r = 0; r < BM; r++) {
        if (m0 + r >= M) continue;
        for (let k = 0; k < BK; k++) {
          const a = As[stA * BM * BK + r * BK + (((k >> 3) ^ ((r >> 1) & 3)) << 3) + (k & 7)];
          if (a === 0) continue;
          if (Number.isNaN(a)) throw new Error('A element never loaded');
          for (let j = 0; j < BN; j++) {
            if (n0 + j >= Ncols) continue;
            const bv = Bs[stB * BK * BN + k * BN + (((j >> 3) ^ (k & 7)) << 3) + (j & 7)];
            if (Number.isNaN(bv)) throw new Error('B element never loaded');
            acc[r * BN + j] += a * bv;
          }
        }
      }
    };
    if (mode === 'vec') {
      for (let s = 0; s < ST - 1; s++) if (s < kTiles) { loadA(s, s); loadB!(s, s); }
      for (let kt = 0; kt < kTiles; kt++) {
        const nk = kt + ST - 1;
        // the kernel's order: after the barrier, stage nk % ST (it held tile kt - 1) is refilled, then tile kt is used
        if (nk < kTiles) { loadA(nk, nk % ST); loadB!(nk, nk % ST); }
        compute(kt % ST, kt % ST);
      }
    } else {
      for (let s = 0; s < ST - 1; s++) if (s < kTiles) loadA(s, s);
      if (kTiles > 0) { gatherB!(0); storeB!(0); }
      for (let kt = 0; kt < kTiles; kt++) {
        const more = kt + 1 < kTiles;
        if (more) gatherB!(kt + 1);
        const nk = kt + ST - 1;
        if (nk < kTiles) loadA(nk, nk % ST);
        compute(kt % ST, kt & 1);
        if (more) storeB!((kt + 1) & 1);
      }
    }
    // epilogue, per warp / lane / fragment as the kernel
    for (let warp = 0; warp < warpsM * warpsN; warp++) for (let lane = 0; lane < 32; lane++) {
      const wm = trunc(warp, warpsN), wn = warp % warpsN;
      for (let ni = 0; ni < NI; ni++) {
        const col = n0 + wn * WN + ni * 8 + (lane & 3) * 2;
        if (col >= Ncols) continue;
        const nI = trunc(col, PQ), pq = col - nI * PQ;
        const has1 = col + 1 < Ncols, same = pq + 1 < PQ;
        for (let mi = 0; mi < MI; mi++) for (let h = 0; h < 2; h++) {
          const row = m0 + wm * WM + mi * 16 + (lane >> 2) + h * 8;
          if (row >= M) continue;
          const off0 = (nI * M + row) * PQ + pq;
          const off1 = same ? off0 + 1 : ((nI + 1) * M + row) * PQ;
          const lr = row - m0, lc = col - n0;
          const vals: [number, number][] = [[off0, acc[lr * BN + lc]]];
          if (has1) vals.push([off1, acc[lr * BN + lc + 1]]);
          for (const [off, v0] of vals) {
            if (ws) { ws[z * ytot + off] = v0; wsWrites![z * ytot + off]++; continue; }
            y[off] = epi(ep, v0, bias?.[row] ?? 0, res?.[off] ?? 0);
            writes[off]++;
          }
        }
      }
    }
  }
  if (ws) {
    for (let i = 0; i < ytot; i++) {
      let v = 0;
      for (let s = 0; s < splits; s++) {
        if (wsWrites![s * ytot + i] !== 1) throw new Error(`workspace element ${s}/${i} written ${wsWrites![s * ytot + i]} times`);
        v += ws[s * ytot + i];
      }
      y[i] = epi(ep, v, bias?.[trunc(i, PQ) % M] ?? 0, res?.[i] ?? 0);
      writes[i]++;
    }
  }
  return { y, writes, reads };
}

function epi(ep: ConvIgemmEpilogue, v0: number, b: number, r: number): number {
  let v = v0;
  if (ep.bias) v += b;
  const act = (u: number) => (ep.act === 'relu' ? Math.max(u, 0) : u);
  if (ep.residual && ep.actAfterResidual) v = act(v + r);
  else { v = act(v); if (ep.residual) v += r; }
  return v;
}

function naive(g: ConvIgemmGeometry, x: Float64Array, w: Float64Array): Float64Array {
  const { N, C, H, W, M, P, Q, R, S, sh, sw, dh, dw, ph, pw } = g;
  const y = new Float64Array(N * M * P * Q);
  for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) {
    let a = 0;
    for (let c = 0; c < C; c++) for (let r = 0; r < R; r++) for (let s = 0; s < S; s++) {
      const ih = p * sh - ph + r * dh, iw = q * sw - pw + s * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      a += x[((n * C + c) * H + ih) * W + iw] * w[((m * C + c) * R + r) * S + s];
    }
    y[((n * M + m) * P + p) * Q + q] = a;
  }
  return y;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

describe('conv-igemm index math (CPU emulation of the kernel)', () => {
  it('matches a naive conv on random geometries, every output written once, every tile and mode', () => {
    const rnd = rng(12345);
    const ri = (a: number, b: number) => a + Math.floor(rnd() * (b - a + 1));
    const fails: string[] = [];
    let cases = 0;
    const run = (g: ConvIgemmGeometry, ep: ConvIgemmEpilogue, force: { tile?: string; splits?: number; mode?: ConvIgemmMode }) => {
      const plan = planConvIgemm('float16', g, ep, REFS, force);
      if ('reason' in plan) { fails.push(`${JSON.stringify(g)}: ${plan.reason}`); return; }
      const x = Float64Array.from({ length: g.N * g.C * g.H * g.W }, () => ri(-8, 8));
      const w = Float64Array.from({ length: g.M * g.C * g.R * g.S }, () => ri(-8, 8));
      const bias = Float64Array.from({ length: g.M }, () => ri(-8, 8));
      const ytot = g.N * g.M * g.P * g.Q;
      const res = Float64Array.from({ length: ytot }, () => ri(-8, 8));
      const ref = naive(g, x, w);
      const e = emulate(g, plan.info, ep, x, w, ep.bias ? bias : undefined, ep.residual ? res : undefined);
      cases++;
      for (let i = 0; i < ytot; i++) {
        const m = Math.floor(i / (g.P * g.Q)) % g.M;
        const want = epi(ep, ref[i], bias[m], res[i]);
        if (e.writes[i] !== 1 || e.y[i] !== want) {
          fails.push(`${JSON.stringify(g)} ${JSON.stringify(plan.info)}: element ${i} = ${e.y[i]} (written ${e.writes[i]}x), want ${want}`);
          return;
        }
      }
    };
    const eps: ConvIgemmEpilogue[] = [
      EP_BIAS, { bias: false, act: 'none', residual: false, actAfterResidual: false },
      { bias: true, act: 'relu', residual: true, actAfterResidual: true }, { bias: true, act: 'relu', residual: true, actAfterResidual: false },
    ];
    for (let t = 0; t < 40; t++) {
      const R = ri(1, 4), S = ri(1, 4), dh = ri(1, 3), dw = ri(1, 3), sh = ri(1, 3), sw = ri(1, 3);
      const H = ri(1, 11), W = ri(1, 11);
      const ph = ri(0, 3), pw = ri(0, 3), phe = ri(0, 3), pwe = ri(0, 3);
      const P = Math.floor((H + ph + phe - ((R - 1) * dh + 1)) / sh) + 1, Q = Math.floor((W + pw + pwe - ((S - 1) * dw + 1)) / sw) + 1;
      if (P < 1 || Q < 1) { t--; continue; }
      const g: ConvIgemmGeometry = { N: ri(1, 3), C: ri(1, 9), H, W, M: ri(1, 70), P, Q, R, S, sh, sw, dh, dw, ph, pw };
      const tile = CONV_IGEMM_TILES[t % CONV_IGEMM_TILES.length].name;
      run(g, eps[t % eps.length], { tile });
      if (t % 4 === 0) run(g, eps[(t + 1) % eps.length], { tile: 'small', splits: ri(2, 3) });
      if (t % 5 === 0) run(g, eps[t % eps.length], {});
    }
    // 1×1 unpadded stride-1 convs, H·W % 8 == 0: the vec mode, every tile, with and without splits
    for (let t = 0; t < 12; t++) {
      const H = [2, 4, 8][t % 3], W = [4, 2, 3][t % 3];
      const g: ConvIgemmGeometry = { N: ri(1, 4), C: ri(1, 40), H, W, M: ri(1, 140), P: H, Q: W, R: 1, S: 1, sh: 1, sw: 1, dh: ri(1, 2), dw: 1, ph: 0, pw: 0 };
      const tile = CONV_IGEMM_TILES[t % CONV_IGEMM_TILES.length].name;
      run(g, eps[t % eps.length], { tile, mode: 'vec' });
      if (t % 3 === 0) run(g, eps[(t + 2) % eps.length], { tile: 'small', splits: 2, mode: 'vec' });
    }
    // the stem's shape class (Cin 3, 7×7 s2 p3: Kred 147 → lda 152) and a long reduction (several k-tiles, RS = 9)
    run({ N: 2, C: 3, H: 13, W: 11, M: 20, P: 7, Q: 6, R: 7, S: 7, sh: 2, sw: 2, dh: 1, dw: 1, ph: 3, pw: 3 }, EP_BIAS, {});
    run({ N: 2, C: 37, H: 5, W: 6, M: 66, P: 5, Q: 6, R: 3, S: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1 }, eps[2], { tile: 'big' });
    run({ N: 1, C: 37, H: 5, W: 6, M: 66, P: 5, Q: 6, R: 3, S: 3, sh: 1, sw: 1, dh: 1, dw: 1, ph: 1, pw: 1 }, eps[3], { tile: 'small', splits: 4 });
    expect(fails.slice(0, 5)).toEqual([]);
    expect(cases).toBeGreaterThan(60);
  });
});

describe('conv-igemm kernels compile', () => {
  it.skipIf(!nvccPath())(`nvcc -arch=sm_90a compiles every variant${nvccPath() ? '' : ' (skipped: nvcc not found)'}`, async () => {
    const ks = new Map<string, ReturnType<typeof convIgemmKernels>[number]>();
    for (const dtype of ['float16', 'bfloat16'] as const) {
      for (const ep of [EP_BIAS, { bias: false, act: 'none', residual: false, actAfterResidual: false }, { bias: true, act: 'relu', residual: true, actAfterResidual: true }, { bias: false, act: 'relu', residual: true, actAfterResidual: false }] as ConvIgemmEpilogue[]) {
        for (const k of convIgemmKernels(dtype, ep)) ks.set(k.name, k);
      }
    }
    const failures = await compileAllWithNvcc(ks.values());
    expect(failures.map((f) => `${f.name}\n${f.log.slice(0, 3000)}`)).toEqual([]);
  }, 600_000);
});
