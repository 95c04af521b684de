/**
 * Resize (opset 19/23 semantics): each output element computed directly as the separable weighted sum of the
 * reference, in float64 with the same operation order and no contraction (bit-exact coordinates and sums).
 */
import type { DeviceType } from '../dtypes.js';
import { KernelBuilder, type KernelSource } from '../kernel-ir.js';
import {
  a64, af64, contiguousStrides, elementCount, registerLowerings, unsupported,
  type LowerContext, type Lowered } from '../lowering.js';
import { devType, launch1d, need } from './index-util.js';

// ---------------------------------------------------------------------------------------------------
// Resize

interface ResizeAttrs {
  mode: string;
  coord: string;
  nearestMode: string;
  exclude: boolean;
  antialias: boolean;
}

/** largest sample window for antialias kernels (window of the fixed kernels: 2 or 4) */
const AA_MAX = 64;

const RESIZE_HELPERS = `__device__ __forceinline__ double chm_rs_cubic(double x, double A) {
  const double a = fabs(x);
  if (a <= 1.0) return __dadd_rn(__dmul_rn(__dmul_rn(__dsub_rn(__dmul_rn(__dadd_rn(A, 2.0), a), __dadd_rn(A, 3.0)), a), a), 1.0);
  if (a < 2.0) return __dsub_rn(__dmul_rn(__dadd_rn(__dmul_rn(__dsub_rn(__dmul_rn(A, a), __dmul_rn(5.0, A)), a), __dmul_rn(8.0, A)), a), __dmul_rn(4.0, A));
  return 0.0;
}`;

/** C statements computing the input coordinate `xr` of output position xo (doubles: sc, inL, outL, outF, rs, re) */
function coordCode(coord: string): string[] {
  const hp = '__dsub_rn(__ddiv_rn(__dadd_rn(xo, 0.5), sc), 0.5)';
  switch (coord) {
    case 'align_corners': return ['xr = outF == 1.0 ? 0.0 : __ddiv_rn(__dmul_rn(xo, __dsub_rn(inL, 1.0)), __dsub_rn(outF, 1.0));'];
    case 'asymmetric': return ['xr = __ddiv_rn(xo, sc);'];
    case 'tf_half_pixel_for_nn': return ['xr = __ddiv_rn(__dadd_rn(xo, 0.5), sc);'];
    case 'tf_crop_and_resize': return [
      'const double rel = outF == 1.0 ? __ddiv_rn(__dmul_rn(__dsub_rn(re, rs), __dsub_rn(inL, 1.0)), 2.0)',
      '  : __ddiv_rn(__dmul_rn(__dmul_rn(xo, __dsub_rn(re, rs)), __dsub_rn(inL, 1.0)), __dsub_rn(outF, 1.0));',
      'xr = __dadd_rn(rel, __dmul_rn(rs, __dsub_rn(inL, 1.0)));',
    ];
    case 'pytorch_half_pixel': return [`xr = outF == 1.0 ? -0.5 : ${hp};`];
    case 'half_pixel_symmetric': return [
      'const double adj = __ddiv_rn(outL, outF);',
      'const double offs = __dmul_rn(__ddiv_rn(inL, 2.0), __dsub_rn(1.0, adj));',
      'xr = __dsub_rn(__dadd_rn(offs, __ddiv_rn(__dadd_rn(xo, 0.5), sc)), 0.5);',
    ];
    default: return [`xr = ${hp};`];
  }
}

/** C statements filling w[0..nn) with the coefficients for `ratio` (and setting nn) */
function coeffCode(at: ResizeAttrs): string[] {
  if (at.mode === 'nearest') {
    const pick: Record<string, string> = {
      round_prefer_ceil: 'ratio < 0.5',
      floor: 'true',
      ceil: 'false',
      round_prefer_floor: 'ratio <= 0.5',
    };
    return ['nn = 2;', `if (ratio == 1.0 || !(${pick[at.nearestMode]})) { w[0] = 0.0; w[1] = 1.0; } else { w[0] = 1.0; w[1] = 0.0; }`];
  }
  if (!at.antialias) {
    if (at.mode === 'linear') return ['nn = 2;', 'w[0] = __dsub_rn(1.0, ratio);', 'w[1] = ratio;'];
    return [
      'nn = 4;',
      'w[0] = chm_rs_cubic(__dadd_rn(ratio, 1.0), cuba);',
      'w[1] = chm_rs_cubic(ratio, cuba);',
      'w[2] = chm_rs_cubic(__dsub_rn(1.0, ratio), cuba);',
      'w[3] = chm_rs_cubic(__dsub_rn(2.0, ratio), cuba);',
    ];
  }
  const lin = at.mode === 'linear';
  return [
    'const double s = fmin(sc, 1.0);',
    `const double st = floor(__ddiv_rn(${lin ? '-1.0' : '-2.0'}, s)) + 1.0;`,
    'nn = (int)(2.0 - 2.0 * st);',
    'double sum = 0.0;',
    'for (int q = 0; q < nn; q++) {',
    '  const double ii = __dadd_rn(st, (double)q);',
    lin
      ? '  const double c = fmin(1.0, fmax(0.0, __dsub_rn(1.0, fabs(__dmul_rn(__dsub_rn(ii, ratio), s)))));'
      : '  const double c = chm_rs_cubic(__dmul_rn(s, __dsub_rn(ii, ratio)), cuba);',
    '  w[q] = c;',
    '  sum = __dadd_rn(sum, c);',
    '}',
    'for (int q = 0; q < nn; q++) w[q] = __ddiv_rn(w[q], sum);',
  ];
}

function resizeKernel(at: ResizeAttrs, rank: number, axes: readonly number[], t: DeviceType): KernelSource {
  const b = new KernelBuilder('resize');
  b.helpers(RESIZE_HELPERS);
  b.input('x', t.storage);
  b.output('out', t.storage);
  const n = b.i64('n');
  const od = b.i64s('od', rank);
  const id = b.i64s('id', rank);
  const xs = b.i64s('xs', rank);
  const sc = axes.map((_, k) => b.f64(`sc${k}`));
  const rs = axes.map((_, k) => b.f64(`rs${k}`));
  const re = axes.map((_, k) => b.f64(`re${k}`));
  b.f64('cuba');
  b.f64('extrap');
  const NM = at.mode === 'cubic' && !at.antialias ? 4 : at.antialias ? AA_MAX : 2;
  const crop = at.coord === 'tf_crop_and_resize';
  b.gridStride(n, () => {
    b.line('long long chm_rem = i;');
    for (let d = rank - 1; d >= 0; d--) {
      b.line(d > 0 ? `const long long c${d} = chm_rem % ${od[d]}; chm_rem /= ${od[d]};` : `const long long c${d} = chm_rem;`);
    }
    const fixed = [...Array(rank).keys()].filter((d) => !axes.includes(d));
    b.line(`const long long base = 0${fixed.map((d) => ` + c${d} * ${xs[d]}`).join('')};`);
    b.line('bool outside = false;');
    axes.forEach((a, k) => {
      b.line(`double w${k}[${NM}];`, `long long o${k}[${NM}];`, `int n${k} = 0;`);
      b.block('', () => {
        b.line(
          `const double sc = ${sc[k]}, rs = ${rs[k]}, re = ${re[k]};`,
          `const double inL = (double)${id[a]}, outL = (double)${od[a]};`,
          'const double outF = __dmul_rn(sc, inL);',
          `const double xo = (double)c${a};`,
          'double xr;',
          ...coordCode(at.coord),
        );
        const body = () => {
          b.line(
            'const double bs = ceil(xr) - 1.0;',
            'const double ratio = __dsub_rn(xr, bs);',
            `double* w = w${k};`,
            'int nn;',
            ...coeffCode(at),
            'const long long pad = nn / 2;',
            `long long start = (long long)bs - nn / 2 + 1;`,
            'if (start < -pad) start = -pad;',
            `if (start > ${id[a]} + pad - nn) start = ${id[a]} + pad - nn;`,
          );
          if (at.exclude) {
            b.line(
              'double esum = 0.0;',
              `for (int q = 0; q < nn; q++) { const long long ii = start + q; if (ii < 0 || ii >= ${id[a]}) w[q] = 0.0; esum = __dadd_rn(esum, w[q]); }`,
              'for (int q = 0; q < nn; q++) w[q] = __ddiv_rn(w[q], esum);',
            );
          }
          b.line(
            `for (int q = 0; q < nn; q++) { long long ii = start + q; if (ii < 0) ii = 0; if (ii > ${id[a]} - 1) ii = ${id[a]} - 1; o${k}[q] = ii * ${xs[a]}; }`,
            `n${k} = nn;`,
          );
        };
        if (crop) {
          b.block('if (xr < 0.0 || xr > __dsub_rn(inL, 1.0))', () => b.line('outside = true;'));
          b.block('else', body);
        } else body();
      });
    });
    b.line('double acc;');
    b.block('if (outside)', () => b.line('acc = extrap;'));
    b.block('else', () => {
      // innermost loop: the first resized axis (the reference resamples axes in `axes` order)
      const K = axes.length;
      const open = (k: number, off: string, into: string) => {
        b.block(`for (int j${k} = 0; j${k} < n${k}; j${k}++)`, () => {
          b.line(`if (w${k}[j${k}] == 0.0) continue;`, `const long long p${k} = ${off} + o${k}[j${k}];`);
          if (k === 0) b.line(`${into} = __dadd_rn(${into}, __dmul_rn(w0[j0], (double)(${t.load(`x[p0]`)})));`);
          else {
            b.line(`double s${k - 1} = 0.0;`);
            open(k - 1, `p${k}`, `s${k - 1}`);
            b.line(`${into} = __dadd_rn(${into}, __dmul_rn(w${k}[j${k}], s${k - 1}));`);
          }
        });
      };
      b.line('acc = 0.0;');
      if (K === 0) b.line(`acc = (double)(${t.load('x[base]')});`);
      else open(K - 1, 'base', 'acc');
    });
    b.line(...resizeStore(t));
  });
  return b.build();
}

/** statements storing double `acc` into out[i] the way the reference stores its float64 result */
function resizeStore(t: DeviceType): string[] {
  if (t.kind === 'float') {
    if (t.math === 'double') return ['out[i] = acc;'];
    return [`out[i] = ${t.store('(float)acc')};`];
  }
  const ranges: Record<string, [string, string, string, string]> = {
    // storage: [lo as double, hi as double, lo literal, hi literal]
    'signed char': ['-128.0', '127.0', '-128', '127'],
    'unsigned char': ['0.0', '255.0', '0', '255'],
    'short': ['-32768.0', '32767.0', '-32768', '32767'],
    'unsigned short': ['0.0', '65535.0', '0', '65535'],
    'int': ['-2147483648.0', '2147483647.0', '(-2147483647 - 1)', '2147483647'],
    'unsigned int': ['0.0', '4294967295.0', '0u', '4294967295u'],
    'long long': ['-9223372036854775808.0', '9223372036854775807.0', '(-9223372036854775807LL - 1)', '9223372036854775807LL'],
    'unsigned long long': ['0.0', '18446744073709551615.0', '0ULL', '18446744073709551615ULL'],
  };
  const [lo, hi, loL, hiL] = ranges[t.storage];
  return [
    'double rr = floor(acc);',
    'if (acc - rr >= 0.5) rr += 1.0;',
    `out[i] = rr != rr ? (${t.storage})0 : rr <= ${lo} ? (${t.storage})${loL} : rr >= ${hi} ? (${t.storage})${hiL} : (${t.storage})rr;`,
  ];
}

function lowerResize(ctx: LowerContext): Lowered {
  const x = need(ctx, 0, 'X');
  const node = ctx.node;
  const at: ResizeAttrs = {
    mode: node.string('mode', 'nearest'),
    coord: node.string('coordinate_transformation_mode', 'half_pixel'),
    nearestMode: node.string('nearest_mode', 'round_prefer_floor'),
    exclude: node.int('exclude_outside', 0) !== 0,
    antialias: node.int('antialias', 0) !== 0,
  };
  if (!['nearest', 'linear', 'cubic'].includes(at.mode)) unsupported(`unknown mode '${at.mode}'`);
  const coords = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_crop_and_resize', 'tf_half_pixel_for_nn'];
  if (!coords.includes(at.coord)) unsupported(`unknown coordinate_transformation_mode '${at.coord}'`);
  if (!['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'].includes(at.nearestMode)) unsupported(`unknown nearest_mode '${at.nearestMode}'`);
  if (at.mode === 'nearest' && at.antialias) unsupported('antialias is not supported with mode nearest');
  if (x.dtype === 'bool') unsupported('Resize is not defined for bool');
  const t = devType(x.dtype, 'X');
  const cubicA = node.float('cubic_coeff_a', -0.75);
  const extrapolation = node.float('extrapolation_value', 0);
  const policy = node.string('keep_aspect_ratio_policy', 'stretch');
  const rank = x.shape.length;
  const axes = node.has('axes') ? node.ints('axes').map((a) => (a < 0 ? a + rank : a)) : [...Array(rank).keys()];
  if (axes.some((a) => a < 0 || a >= rank) || new Set(axes).size !== axes.length) unsupported(`invalid axes for rank ${rank}`);

  const host = (i: number): number[] | undefined => {
    if (!ctx.inputs[i]) return undefined;
    const v = ctx.hostValue(i);
    if (!v) unsupported(`input ${i} must be known at plan time`);
    return v.size > 0 ? v.toNumbers() : undefined;
  };
  const roiV = host(1);
  const scalesV = host(2);
  const sizesV = host(3);
  if (scalesV && sizesV) unsupported('only one of scales and sizes may be given');
  if (!scalesV && !sizesV) unsupported('one of scales and sizes must be given');
  const given = (scalesV ?? sizesV)!;
  if (given.length !== axes.length) unsupported(`scales/sizes has ${given.length} values, expected ${axes.length}`);
  if (at.coord === 'tf_crop_and_resize' && (!roiV || roiV.length !== 2 * axes.length)) unsupported('roi must have 2 values per axis for tf_crop_and_resize');
  const scale = new Array<number>(rank).fill(1);
  const outShape = [...x.shape];
  if (scalesV) {
    axes.forEach((a, i) => {
      if (!(scalesV[i] > 0)) unsupported(`scale ${scalesV[i]} must be positive`);
      scale[a] = scalesV[i];
      outShape[a] = Math.floor(scalesV[i] * x.shape[a]);
    });
  } else {
    axes.forEach((a, i) => {
      if (!Number.isInteger(sizesV![i]) || sizesV![i] < 0) unsupported(`invalid size ${sizesV![i]}`);
      scale[a] = sizesV![i] / x.shape[a];
      outShape[a] = sizesV![i];
    });
    if (policy !== 'stretch') {
      if (policy !== 'not_larger' && policy !== 'not_smaller') unsupported(`unknown keep_aspect_ratio_policy '${policy}'`);
      const ss = axes.map((a) => scale[a]);
      const s = policy === 'not_larger' ? Math.min(...ss) : Math.max(...ss);
      for (const a of axes) { scale[a] = s; outShape[a] = Math.floor(s * x.shape[a] + 0.5); }
    }
  }
  const out = ctx.outputs[0];
  if (out.shape.length !== rank || out.shape.some((d, i) => d !== outShape[i])) unsupported(`output shape [${out.shape.join(',')}] differs from the computed [${outShape.join(',')}]`);
  if (at.antialias) {
    for (const a of axes) {
      const s = Math.min(scale[a], 1);
      const st = Math.floor((at.mode === 'linear' ? -1 : -2) / s) + 1;
      if (2 - 2 * st > AA_MAX) unsupported(`antialias window of ${2 - 2 * st} samples exceeds ${AA_MAX}`);
    }
  }
  const kernel = resizeKernel(at, rank, axes, t);
  const total = elementCount(outShape);
  if (total > 0 && elementCount(x.shape) === 0) unsupported('cannot resize an empty input to a non-empty output');
  const K = axes.length;
  return launch1d(kernel, total, [
    { in: 0 }, { out: 0 }, a64(total), ...outShape.map(a64), ...x.shape.map(a64), ...contiguousStrides(x.shape).map(a64),
    ...axes.map((a) => af64(scale[a])),
    ...axes.map((_, i) => af64(roiV?.[i] ?? 0)),
    ...axes.map((_, i) => af64(roiV?.[K + i] ?? 1)),
    af64(cubicA), af64(extrapolation),
  ]);
}

registerLowerings({
  Resize: { hostInputs: [1, 2, 3], lower: lowerResize },
});
