// Data movement part 2 lowerings (Gather*, Scatter*, OneHot, Resize, TopK, ReverseSequence, Range,
// ConstantOfShape, EyeLike): launch well-formedness, shape independence of the kernel text, argument
// values, fallbacks, and nvcc compilation of every kernel.
import { describe, expect, it } from 'vitest';
import type { AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import { Tensor } from '../../src/ir/tensor.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { Unsupported, type Lowered } from '../../src/codegen/lowering.js';
import '../../src/codegen/ops/movement-index.js';
import '../../src/codegen/ops/resize.js';
import '../../src/codegen/ops/topk.js';
import '../../src/codegen/ops/sources.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';
import { checkCase, flt, i64, int, ints, lowerCase, str, T, type LowerCase } from './helpers.js';

type Case = LowerCase;
const lower = lowerCase;
const check = checkCase;

const f32 = (v: number[]): Tensor => Tensor.from('float32', [v.length], v);

const kernelsOf = (r: Lowered): string[] => [...r.launches.map((l) => l.kernel.name), ...(r.variants ?? []).map((k) => k.name)].sort();
const scalars = (r: Lowered, li = 0): number[] => r.launches[li].args.flatMap((a) => ('kind' in a && a.kind === 'i64' ? [Number(a.value)] : []));

const DATA: DType[] = ['float32', 'float16', 'bfloat16', 'float64', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool'];
const NUM: DType[] = DATA.filter((d) => d !== 'bool');

function pairs(): [Case, Case][] {
  const out: [Case, Case][] = [];
  const two = (a: Case, b: Case) => out.push([a, b]);
  for (const dt of DATA) {
    for (const it of ['int32', 'int64'] as DType[]) {
      two(
        { op: 'Gather', ins: [T(dt, [5, 4]), T(it, [3])], outs: [T(dt, [3, 4])] },
        { op: 'Gather', ins: [T(dt, [50, 7]), T(it, [9])], outs: [T(dt, [9, 7])] },
      );
    }
    two(
      { op: 'Gather', ins: [T(dt, [2, 5, 4]), T('int64', [2, 3])], outs: [T(dt, [2, 2, 3, 4])], attrs: { axis: int(1) } },
      { op: 'Gather', ins: [T(dt, [3, 9, 2]), T('int64', [4, 1])], outs: [T(dt, [3, 4, 1, 2])], attrs: { axis: int(-2) } },
    );
    two(
      { op: 'GatherElements', ins: [T(dt, [3, 3]), T('int64', [2, 3])], outs: [T(dt, [2, 3])], attrs: { axis: int(1) } },
      { op: 'GatherElements', ins: [T(dt, [7, 9]), T('int64', [7, 2])], outs: [T(dt, [7, 2])], attrs: { axis: int(1) } },
    );
    two(
      { op: 'GatherND', ins: [T(dt, [2, 2, 2]), T('int64', [2, 1, 2])], outs: [T(dt, [2, 1, 2])] },
      { op: 'GatherND', ins: [T(dt, [4, 5, 6]), T('int64', [3, 3, 3])], outs: [T(dt, [3, 3])] },
    );
    two(
      { op: 'GatherND', ins: [T(dt, [2, 2, 2]), T('int32', [2, 1])], outs: [T(dt, [2, 2])], attrs: { batch_dims: int(1) } },
      { op: 'GatherND', ins: [T(dt, [3, 5, 2]), T('int32', [3, 2])], outs: [T(dt, [3])], attrs: { batch_dims: int(1) } },
    );
    for (const red of dt === 'bool' ? ['none'] : ['none', 'add', 'mul', 'max', 'min']) {
      two(
        { op: 'ScatterND', ins: [T(dt, [4, 4, 4]), T('int64', [2, 1]), T(dt, [2, 4, 4])], outs: [T(dt, [4, 4, 4])], attrs: { reduction: str(red) } },
        { op: 'ScatterND', ins: [T(dt, [8, 3, 5]), T('int64', [7, 2]), T(dt, [7, 5])], outs: [T(dt, [8, 3, 5])], attrs: { reduction: str(red) } },
      );
      two(
        { op: 'ScatterElements', ins: [T(dt, [3, 3]), T('int64', [2, 3]), T(dt, [2, 3])], outs: [T(dt, [3, 3])], attrs: { reduction: str(red) } },
        { op: 'ScatterElements', ins: [T(dt, [9, 5]), T('int64', [4, 2]), T(dt, [4, 2])], outs: [T(dt, [9, 5])], attrs: { reduction: str(red), axis: int(-2) } },
      );
    }
    two(
      { op: 'ReverseSequence', ins: [T(dt, [4, 4]), T('int64', [4])], outs: [T(dt, [4, 4])], attrs: { time_axis: int(0), batch_axis: int(1) } },
      { op: 'ReverseSequence', ins: [T(dt, [3, 9, 2]), T('int64', [3])], outs: [T(dt, [3, 9, 2])], attrs: { time_axis: int(1), batch_axis: int(0) } },
    );
    two(
      { op: 'TopK', ins: [T(dt, [3, 4]), T('int64', [1])], outs: [T(dt, [3, 2]), T('int64', [3, 2])], host: { 1: i64([2]) } },
      { op: 'TopK', ins: [T(dt, [30, 1000]), T('int64', [1])], outs: [T(dt, [30, 7]), T('int64', [30, 7])], host: { 1: i64([7]) } },
    );
    two(
      { op: 'TopK', ins: [T(dt, [3, 4, 5]), T('int64', [1])], outs: [T(dt, [3, 4, 5]), T('int64', [3, 4, 5])], attrs: { axis: int(2), largest: int(0) }, host: { 1: i64([5]) } },
      { op: 'TopK', ins: [T(dt, [1, 4, 1]), T('int64', [1])], outs: [T(dt, [1, 1, 1]), T('int64', [1, 1, 1])], attrs: { axis: int(2), largest: int(0) }, host: { 1: i64([1]) } },
    );
    two(
      { op: 'EyeLike', ins: [T(dt, [3, 4])], outs: [T(dt, [3, 4])], attrs: { k: int(1) } },
      { op: 'EyeLike', ins: [T(dt, [9, 2])], outs: [T(dt, [9, 2])], attrs: { k: int(1) } },
    );
    const v = Tensor.from(dt, [1], [1]);
    two(
      { op: 'ConstantOfShape', ins: [T('int64', [2])], outs: [T(dt, [3, 4])], attrs: { value: { type: 'tensor', value: v } }, host: { 0: i64([3, 4]) } },
      { op: 'ConstantOfShape', ins: [T('int64', [2])], outs: [T(dt, [30, 4])], attrs: { value: { type: 'tensor', value: v } }, host: { 0: i64([30, 4]) } },
    );
    for (const idt of ['int64', 'int32', 'float32', 'uint64'] as DType[]) {
      two(
        { op: 'OneHot', ins: [T(idt, [2, 3]), T('int64', []), T(dt, [2])], outs: [T(dt, [2, 3, 4])], host: { 1: Tensor.from('int64', [], [4]), 2: Tensor.from(dt, [2], [0, 1]) } },
        { op: 'OneHot', ins: [T(idt, [5, 1]), T('int64', []), T(dt, [2])], outs: [T(dt, [5, 1, 10])], host: { 1: Tensor.from('int64', [], [10]), 2: Tensor.from(dt, [2], [0, 1]) } },
      );
    }
  }
  for (const dt of NUM) {
    two(
      { op: 'Range', ins: [T(dt, []), T(dt, []), T(dt, [])], outs: [T(dt, [5])], host: { 0: Tensor.from(dt, [], [1]), 1: Tensor.from(dt, [], [11]), 2: Tensor.from(dt, [], [2]) } },
      { op: 'Range', ins: [T(dt, []), T(dt, []), T(dt, [])], outs: [T(dt, [100])], host: { 0: Tensor.from(dt, [], [0]), 1: Tensor.from(dt, [], [100]), 2: Tensor.from(dt, [], [1]) } },
    );
  }
  // Resize: every mode × coordinate mode, scales and sizes, axes
  const coords = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_crop_and_resize', 'tf_half_pixel_for_nn'];
  for (const dt of NUM) {
    for (const mode of ['nearest', 'linear', 'cubic']) {
      for (const coord of coords) {
        const attrs: Record<string, AttrValue> = { mode: str(mode), coordinate_transformation_mode: str(coord) };
        const roi = coord === 'tf_crop_and_resize' ? f32([0, 0, 0.4, 0.6, 1, 1, 0.6, 0.8]) : undefined;
        two(
          { op: 'Resize', ins: [T(dt, [1, 1, 4, 4]), roi ? T('float32', [8]) : undefined, T('float32', [4])], outs: [T(dt, [1, 1, 8, 6])], attrs, host: { ...(roi ? { 1: roi } : {}), 2: f32([1, 1, 2, 1.5]) } },
          { op: 'Resize', ins: [T(dt, [2, 3, 5, 9]), roi ? T('float32', [8]) : undefined, T('float32', [4])], outs: [T(dt, [2, 3, 2, 4])], attrs, host: { ...(roi ? { 1: roi } : {}), 2: f32([1, 1, 0.5, 0.5]) } },
        );
      }
    }
  }
  for (const mode of ['linear', 'cubic']) {
    const attrs = { mode: str(mode), antialias: int(1), exclude_outside: int(1), cubic_coeff_a: flt(-0.5) };
    two(
      { op: 'Resize', ins: [T('float32', [1, 1, 4, 4]), undefined, T('float32', [4])], outs: [T('float32', [1, 1, 3, 3])], attrs, host: { 2: f32([1, 1, 0.8, 0.8]) } },
      { op: 'Resize', ins: [T('float32', [1, 1, 40, 40]), undefined, T('float32', [4])], outs: [T('float32', [1, 1, 4, 8])], attrs, host: { 2: f32([1, 1, 0.1, 0.2]) } },
    );
  }
  for (const policy of ['stretch', 'not_larger', 'not_smaller']) {
    const attrs = { mode: str('nearest'), axes: ints([3, 2]), keep_aspect_ratio_policy: str(policy) };
    const size = (h: number, w: number, sh: number, sw: number): number[] => {
      if (policy === 'stretch') return [sh, sw];
      const s = policy === 'not_larger' ? Math.min(sh / h, sw / w) : Math.max(sh / h, sw / w);
      return [Math.floor(s * h + 0.5), Math.floor(s * w + 0.5)];
    };
    const [h1, w1] = size(4, 4, 7, 8), [h2, w2] = size(6, 3, 2, 2);
    two(
      { op: 'Resize', ins: [T('float32', [1, 1, 4, 4]), undefined, undefined, T('int64', [2])], outs: [T('float32', [1, 1, h1, w1])], attrs, host: { 3: i64([8, 7]) } },
      { op: 'Resize', ins: [T('float32', [1, 2, 6, 3]), undefined, undefined, T('int64', [2])], outs: [T('float32', [1, 2, h2, w2])], attrs, host: { 3: i64([2, 2]) } },
    );
  }
  return out;
}

describe('movement-index lowerings', () => {
  const all = pairs();

  it('produce well-formed launches whose kernels do not depend on concrete dims', () => {
    for (const [a, b] of all) {
      const ra = check(a);
      const rb = check(b);
      expect(ra.launches.length).toBeGreaterThan(0);
      expect(kernelsOf(ra), `${a.op} ${JSON.stringify(a.attrs ?? {}, (_k, v) => (typeof v === "bigint" ? Number(v) : v instanceof Tensor ? "tensor" : v))} ${a.ins.map((t) => t?.dtype).join(',')}`).toEqual(kernelsOf(rb));
    }
  });

  it('zero-element outputs launch nothing', () => {
    const r = check({ op: 'Gather', ins: [T('float32', [5, 4]), T('int64', [0])], outs: [T('float32', [0, 4])] });
    expect(r.launches).toEqual([]);
    const s = check({ op: 'ScatterND', ins: [T('float32', [4, 4]), T('int64', [0, 1]), T('float32', [0, 4])], outs: [T('float32', [4, 4])] });
    expect(s.launches.length).toBe(1); // the copy only
    const t = check({ op: 'TopK', ins: [T('float32', [3, 4]), T('int64', [1])], outs: [T('float32', [3, 0]), T('int64', [3, 0])], host: { 1: i64([0]) } });
    expect(t.launches).toEqual([]);
  });

  it('passes the expected scalars', () => {
    const g = check({ op: 'Gather', ins: [T('float32', [2, 5, 4]), T('int64', [2, 3])], outs: [T('float32', [2, 2, 3, 4])], attrs: { axis: int(1) } });
    expect(scalars(g)).toEqual([48, 4, 6, 5]);
    const oh = check({ op: 'OneHot', ins: [T('int64', [2, 3]), T('int64', []), T('float32', [2])], outs: [T('float32', [2, 4, 3])], attrs: { axis: int(1) }, host: { 1: Tensor.from('int64', [], [4]), 2: f32([2, 5]) } });
    // n, depth, inner, on bits (5.0f), off bits (2.0f)
    expect(scalars(oh)).toEqual([24, 4, 3, 0x40a00000, 0x40000000]);
    const c = check({ op: 'ConstantOfShape', ins: [T('int64', [1])], outs: [T('float16', [3])], attrs: { value: { type: 'tensor', value: Tensor.from('float16', [1], [1]) } }, host: { 0: i64([3]) } });
    expect(scalars(c)).toEqual([3, 0x3c00]);
    const e = check({ op: 'EyeLike', ins: [T('float32', [3, 4])], outs: [T('float64', [3, 4])], attrs: { dtype: int(11), k: int(-1) } });
    expect(scalars(e)).toEqual([12, 4, -1, Number(0x3ff0000000000000n)]);
    const tk = check({ op: 'TopK', ins: [T('float32', [30, 1000]), T('int64', [1])], outs: [T('float32', [30, 7]), T('int64', [30, 7])], host: { 1: i64([7]) } });
    expect(scalars(tk)).toEqual([30, 1000, 1, 7, 1024, 4096]);
    expect(tk.launches[0].sharedBytes).toBe(4096 + 1024 * 4);
  });

  it('falls back for unsupported cases', () => {
    const bad: Case[] = [
      { op: 'Gather', ins: [T('string', [5]), T('int64', [2])], outs: [T('string', [2])] },
      { op: 'Gather', ins: [T('float32', [5]), T('int16', [2])], outs: [T('float32', [2])] },
      { op: 'TopK', ins: [T('float32', [2, 100000]), T('int64', [1])], outs: [T('float32', [2, 5]), T('int64', [2, 5])], host: { 1: i64([5]) } },
      { op: 'Resize', ins: [T('float32', [1, 1, 400, 400]), undefined, T('float32', [4])], outs: [T('float32', [1, 1, 4, 4])], attrs: { mode: str('linear'), antialias: int(1) }, host: { 2: f32([1, 1, 0.01, 0.01]) } },
      { op: 'Resize', ins: [T('bool', [1, 1, 4, 4]), undefined, T('float32', [4])], outs: [T('bool', [1, 1, 8, 8])], host: { 2: f32([1, 1, 2, 2]) } },
    ];
    for (const c of bad) expect(() => lower(c), c.op).toThrow(Unsupported);
  });

  it.skipIf(!nvccPath())('every kernel compiles with nvcc (skipped when nvcc is absent)', async () => {
    const ks = new Map<string, KernelSource>();
    for (const [a] of all) {
      const r = lower(a);
      for (const l of r.launches) ks.set(l.kernel.name, l.kernel);
      for (const k of r.variants ?? []) ks.set(k.name, k);
    }
    const failures = await compileAllWithNvcc(ks.values());
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 600_000);
});
