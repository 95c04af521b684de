import { describe, expect, it } from 'vitest';
import { Node, type AttrValue } from '../../src/ir/graph.js';
import type { DType } from '../../src/ir/dtype.js';
import type { KernelSource } from '../../src/codegen/kernel-ir.js';
import { checkLaunch, getLowering, Unsupported, type LowerContext, type Lowered, type TensorDesc } from '../../src/codegen/lowering.js';
import '../../src/codegen/ops/attention.js';
import '../../src/codegen/ops/rotary.js';
import { compileAllWithNvcc, nvccPath } from './nvcc.js';

const int = (v: number): AttrValue => ({ type: 'int', value: BigInt(v) });
const flt = (v: number): AttrValue => ({ type: 'float', value: v });

type Desc = [DType, number[]] | undefined;

interface Case {
  name: string;
  op: string;
  attrs?: Record<string, AttrValue>;
  /** two bindings of the same ranks: inputs and outputs */
  shapes: [{ ins: Desc[]; outs: Desc[] }, { ins: Desc[]; outs: Desc[] }];
}

function lower(c: Case, k: 0 | 1): { l: Lowered; ctx: LowerContext } {
  const { ins, outs } = c.shapes[k];
  const node = new Node({
    op: c.op,
    inputs: ins.map((d, i) => (d ? `in${i}` : '')),
    outputs: outs.map((d, i) => (d ? `out${i}` : '')),
    attrs: c.attrs ?? {},
  });
  const td = (d: Desc): TensorDesc | undefined => (d ? { dtype: d[0], shape: d[1] } : undefined);
  const ctx: LowerContext = {
    node,
    inputs: ins.map(td),
    outputs: outs.map((d) => td(d) ?? { dtype: 'float32', shape: [0] }),
    hostValue: () => undefined,
  };
  const lowering = getLowering(c.op);
  if (!lowering) throw new Error(`no lowering for ${c.op}`);
  return { l: lowering.lower(ctx), ctx };
}

const f32 = 'float32' as const;
const f16 = 'float16' as const;

// Attention: inputs Q, K, V, attn_mask, past_key, past_value, nonpad_kv_seqlen; outputs Y, present_key, present_value, qk
const cases: Case[] = [
  {
    name: 'attention 4-D plain', op: 'Attention',
    shapes: [
      { ins: [[f32, [2, 3, 4, 8]], [f32, [2, 3, 6, 8]], [f32, [2, 3, 6, 8]]], outs: [[f32, [2, 3, 4, 8]]] },
      { ins: [[f32, [1, 12, 128, 64]], [f32, [1, 12, 128, 64]], [f32, [1, 12, 128, 64]]], outs: [[f32, [1, 12, 128, 64]]] },
    ],
  },
  {
    name: 'attention 3-D GQA causal, diff head sizes', op: 'Attention',
    attrs: { q_num_heads: int(4), kv_num_heads: int(2), is_causal: int(1) },
    shapes: [
      { ins: [[f32, [2, 4, 32]], [f32, [2, 6, 16]], [f32, [2, 6, 20]]], outs: [[f32, [2, 4, 40]]] },
      { ins: [[f32, [1, 100, 256]], [f32, [1, 100, 128]], [f32, [1, 100, 64]]], outs: [[f32, [1, 100, 128]]] },
    ],
  },
  {
    name: 'attention 4-D float mask, past/present, qk mode 3', op: 'Attention',
    attrs: { qk_matmul_output_mode: int(3), scale: flt(0.1) },
    shapes: [
      {
        ins: [[f32, [2, 3, 4, 8]], [f32, [2, 3, 6, 8]], [f32, [2, 3, 6, 10]], [f32, [4, 11]], [f32, [2, 3, 5, 8]], [f32, [2, 3, 5, 10]]],
        outs: [[f32, [2, 3, 4, 10]], [f32, [2, 3, 11, 8]], [f32, [2, 3, 11, 10]], [f32, [2, 3, 4, 11]]],
      },
      {
        ins: [[f32, [1, 2, 1, 64]], [f32, [1, 2, 1, 64]], [f32, [1, 2, 1, 64]], [f32, [1, 33]], [f32, [1, 2, 32, 64]], [f32, [1, 2, 32, 64]]],
        outs: [[f32, [1, 2, 1, 64]], [f32, [1, 2, 33, 64]], [f32, [1, 2, 33, 64]], [f32, [1, 2, 1, 33]]],
      },
    ],
  },
  {
    name: 'attention 3-D past without present outputs, qk mode 0, softcap', op: 'Attention',
    attrs: { q_num_heads: int(2), kv_num_heads: int(2), softcap: flt(2), qk_matmul_output_mode: int(0) },
    shapes: [
      {
        ins: [[f32, [2, 4, 16]], [f32, [2, 6, 16]], [f32, [2, 6, 16]], undefined, [f32, [2, 2, 5, 8]], [f32, [2, 2, 5, 8]]],
        outs: [[f32, [2, 4, 16]], undefined, undefined, [f32, [2, 2, 4, 11]]],
      },
      {
        ins: [[f32, [1, 1, 16]], [f32, [1, 1, 16]], [f32, [1, 1, 16]], undefined, [f32, [1, 2, 9, 8]], [f32, [1, 2, 9, 8]]],
        outs: [[f32, [1, 1, 16]], undefined, undefined, [f32, [1, 2, 1, 10]]],
      },
    ],
  },
  {
    name: 'attention 3-D present without past (transposing copy)', op: 'Attention',
    attrs: { q_num_heads: int(4), kv_num_heads: int(4) },
    shapes: [
      { ins: [[f32, [2, 4, 32]], [f32, [2, 6, 32]], [f32, [2, 6, 32]]], outs: [[f32, [2, 4, 32]], [f32, [2, 4, 6, 8]], [f32, [2, 4, 6, 8]]] },
      { ins: [[f32, [1, 7, 32]], [f32, [1, 7, 32]], [f32, [1, 7, 32]]], outs: [[f32, [1, 7, 32]], [f32, [1, 4, 7, 8]], [f32, [1, 4, 7, 8]]] },
    ],
  },
  {
    name: 'attention fp16 bool mask 4-D, qk mode 2', op: 'Attention',
    attrs: { qk_matmul_output_mode: int(2) },
    shapes: [
      { ins: [[f16, [1, 2, 2, 8]], [f16, [1, 2, 2, 8]], [f16, [1, 2, 2, 8]], ['bool', [1, 2, 2, 2]]], outs: [[f16, [1, 2, 2, 8]], undefined, undefined, [f16, [1, 2, 2, 2]]] },
      { ins: [[f16, [3, 2, 9, 8]], [f16, [3, 2, 5, 8]], [f16, [3, 2, 5, 8]], ['bool', [3, 1, 9, 5]]], outs: [[f16, [3, 2, 9, 8]], undefined, undefined, [f16, [3, 2, 9, 5]]] },
    ],
  },
  {
    name: 'attention bf16 GQA causal nonpad', op: 'Attention',
    attrs: { is_causal: int(1) },
    shapes: [
      { ins: [['bfloat16', [2, 4, 1, 8]], ['bfloat16', [2, 2, 8, 8]], ['bfloat16', [2, 2, 8, 8]], undefined, undefined, undefined, ['int64', [2]]], outs: [['bfloat16', [2, 4, 1, 8]]] },
      { ins: [['bfloat16', [1, 8, 3, 128]], ['bfloat16', [1, 1, 40, 128]], ['bfloat16', [1, 1, 40, 128]], undefined, undefined, undefined, ['int64', [1]]], outs: [['bfloat16', [1, 8, 3, 128]]] },
    ],
  },
  {
    name: 'attention float64 causal with past and nonpad and qk mode 1', op: 'Attention',
    attrs: { is_causal: int(1), qk_matmul_output_mode: int(1) },
    shapes: [
      {
        ins: [['float64', [1, 2, 3, 4]], ['float64', [1, 2, 3, 4]], ['float64', [1, 2, 3, 4]], undefined, ['float64', [1, 2, 2, 4]], ['float64', [1, 2, 2, 4]], ['int64', [1]]],
        outs: [['float64', [1, 2, 3, 4]], ['float64', [1, 2, 5, 4]], ['float64', [1, 2, 5, 4]], ['float64', [1, 2, 3, 5]]],
      },
      {
        ins: [['float64', [2, 2, 1, 4]], ['float64', [2, 2, 1, 4]], ['float64', [2, 2, 1, 4]], undefined, ['float64', [2, 2, 7, 4]], ['float64', [2, 2, 7, 4]], ['int64', [2]]],
        outs: [['float64', [2, 2, 1, 4]], ['float64', [2, 2, 8, 4]], ['float64', [2, 2, 8, 4]], ['float64', [2, 2, 1, 8]]],
      },
    ],
  },
  {
    name: 'rotary 4-D position ids', op: 'RotaryEmbedding',
    shapes: [
      { ins: [[f32, [2, 4, 3, 8]], [f32, [50, 4]], [f32, [50, 4]], ['int64', [2, 3]]], outs: [[f32, [2, 4, 3, 8]]] },
      { ins: [[f32, [1, 32, 17, 128]], [f32, [4096, 64]], [f32, [4096, 64]], ['int64', [1, 17]]], outs: [[f32, [1, 32, 17, 128]]] },
    ],
  },
  {
    name: 'rotary 3-D interleaved rotary dim, no position ids, fp16', op: 'RotaryEmbedding',
    attrs: { interleaved: int(1), num_heads: int(2), rotary_embedding_dim: int(4) },
    shapes: [
      { ins: [[f16, [2, 3, 16]], [f16, [2, 3, 2]], [f16, [2, 3, 2]]], outs: [[f16, [2, 3, 16]]] },
      { ins: [[f16, [1, 5, 16]], [f16, [1, 5, 2]], [f16, [1, 5, 2]]], outs: [[f16, [1, 5, 16]]] },
    ],
  },
  {
    name: 'rotary 3-D non-interleaved float64', op: 'RotaryEmbedding',
    attrs: { num_heads: int(4) },
    shapes: [
      { ins: [['float64', [2, 3, 32]], ['float64', [10, 4]], ['float64', [10, 4]], ['int64', [2, 3]]], outs: [['float64', [2, 3, 32]]] },
      { ins: [['float64', [1, 0, 32]], ['float64', [10, 4]], ['float64', [10, 4]], ['int64', [1, 0]]], outs: [['float64', [1, 0, 32]]] },
    ],
  },
  // 3-D (head-split) layouts on the flash path: Q/K/V [B, S, H*D] read through strides, presents written 4-D
  ...([64, 80, 96, 128, 32] as const).map((D): Case => ({
    name: `attention 3-D fp16 KV cache, D=${D} (${D === 32 ? 'generic' : 'flash'} path), presents in one launch`, op: 'Attention',
    attrs: { q_num_heads: int(4), kv_num_heads: int(4), scale: flt(0.125) },
    shapes: [
      { ins: [[f16, [2, 5, 4 * D]], [f16, [2, 5, 4 * D]], [f16, [2, 5, 4 * D]], [f16, [2, 1, 5, 12]], [f16, [2, 4, 7, D]], [f16, [2, 4, 7, D]]], outs: [[f16, [2, 5, 4 * D]], [f16, [2, 4, 12, D]], [f16, [2, 4, 12, D]]] },
      { ins: [[f16, [8, 512, 4 * D]], [f16, [8, 512, 4 * D]], [f16, [8, 512, 4 * D]], [f16, [8, 1, 512, 512]], [f16, [8, 4, 0, D]], [f16, [8, 4, 0, D]]], outs: [[f16, [8, 512, 4 * D]], [f16, [8, 4, 512, D]], [f16, [8, 4, 512, D]]] },
    ],
  })),
  {
    name: 'attention 3-D bf16 GQA decode (S=1), bool mask, causal, presents', op: 'Attention',
    attrs: { q_num_heads: int(8), kv_num_heads: int(2), is_causal: int(1) },
    shapes: [
      { ins: [['bfloat16', [1, 1, 8 * 64]], ['bfloat16', [1, 1, 2 * 64]], ['bfloat16', [1, 1, 2 * 64]], ['bool', [1, 1, 1, 301]], ['bfloat16', [1, 2, 300, 64]], ['bfloat16', [1, 2, 300, 64]]], outs: [['bfloat16', [1, 1, 8 * 64]], ['bfloat16', [1, 2, 301, 64]], ['bfloat16', [1, 2, 301, 64]]] },
      { ins: [['bfloat16', [4, 1, 8 * 64]], ['bfloat16', [4, 1, 2 * 64]], ['bfloat16', [4, 1, 2 * 64]], ['bool', [4, 1, 1, 21]], ['bfloat16', [4, 2, 20, 64]], ['bfloat16', [4, 2, 20, 64]]], outs: [['bfloat16', [4, 1, 8 * 64]], ['bfloat16', [4, 2, 21, 64]], ['bfloat16', [4, 2, 21, 64]]] },
    ],
  },
  {
    name: 'attention 3-D fp16 no past, no presents (BERT/ViT), S < 64', op: 'Attention',
    attrs: { q_num_heads: int(4), kv_num_heads: int(4) },
    shapes: [
      { ins: [[f16, [2, 17, 256]], [f16, [2, 17, 256]], [f16, [2, 17, 256]], [f16, [2, 1, 1, 17]]], outs: [[f16, [2, 17, 256]]] },
      { ins: [[f16, [3, 200, 256]], [f16, [3, 200, 256]], [f16, [3, 200, 256]], [f16, [3, 1, 1, 200]]], outs: [[f16, [3, 200, 256]]] },
    ],
  },
  ...(['float32', 'float16', 'bfloat16', 'float64'] as const).map((d): Case => ({
    name: `swiglu ${d}`, op: 'SwiGLU', attrs: { alpha: flt(1.702) },
    shapes: [
      { ins: [[d, [2, 3, 4]], [d, [2, 3, 4]]], outs: [[d, [2, 3, 4]]] },
      { ins: [[d, [7, 1, 5]], [d, [7, 1, 5]]], outs: [[d, [7, 1, 5]]] },
    ],
  })),
];

const allKernels: KernelSource[] = [];

describe('attention family lowerings', () => {
  for (const c of cases) {
    it(c.name, () => {
      const sets: string[][] = [];
      for (const k of [0, 1] as const) {
        const { l, ctx } = lower(c, k);
        for (const launch of l.launches) {
          expect(checkLaunch(launch, { inputs: ctx.inputs.length, outputs: ctx.outputs.length, scratch: l.scratch?.length ?? 0 })).toEqual([]);
        }
        const ks = [...l.launches.map((x) => x.kernel), ...(l.variants ?? [])];
        allKernels.push(...ks);
        sets.push([...new Set(ks.map((x) => x.name))].sort());
      }
      expect(sets[1]).toEqual(sets[0]);
    });
  }

  it('4-D K/V without past make present a view; 3-D/past copy it', () => {
    const { l } = lower({
      name: '', op: 'Attention',
      shapes: [{ ins: [[f32, [1, 2, 3, 8]], [f32, [1, 2, 5, 8]], [f32, [1, 2, 5, 8]]], outs: [[f32, [1, 2, 3, 8]], [f32, [1, 2, 5, 8]], [f32, [1, 2, 5, 8]]] }, { ins: [], outs: [] }],
    }, 0);
    expect(l.aliases).toEqual([{ output: 1, input: 1 }, { output: 2, input: 2 }]);
    expect(l.launches.length).toBe(1);
  });

  it('3-D fp16 with a KV cache: one launch for both presents, then the flash kernel (no copy kernels)', () => {
    const c = cases.find((x) => x.name.startsWith('attention 3-D fp16 KV cache, D=64'))!;
    for (const k of [0, 1] as const) {
      const { l } = lower(c, k);
      expect(l.launches.map((x) => x.kernel.name.replace(/_[0-9a-f]+$/, ''))).toEqual(['chm_attn_cache2', 'chm_flash_fwd']);
      // the new K/V parts are read with the 3-D strides [S*H*D, D, H*D]
      const S = k === 0 ? 5 : 512;
      const nums = l.launches[0].args.slice(6).map((a) => Number((a as { value: bigint }).value));
      expect(nums.slice(5, 9)).toEqual([64, S * 256, 64, 256]);
      expect(nums.slice(9, 13)).toEqual([64, S * 256, 64, 256]);
    }
  });

  it('falls back for bad shapes and non-float dtypes', () => {
    const bad: Case = {
      name: '', op: 'Attention', attrs: { q_num_heads: int(3), kv_num_heads: int(2) },
      shapes: [{ ins: [[f32, [1, 4, 24]], [f32, [1, 4, 16]], [f32, [1, 4, 16]]], outs: [[f32, [1, 4, 24]]] }, { ins: [], outs: [] }],
    };
    expect(() => lower(bad, 0)).toThrow(Unsupported);
    const ints: Case = {
      name: '', op: 'SwiGLU',
      shapes: [{ ins: [['int32', [4]], ['int32', [4]]], outs: [['int32', [4]]] }, { ins: [], outs: [] }],
    };
    expect(() => lower(ints, 0)).toThrow(Unsupported);
  });

  it.skipIf(!nvccPath())('compiles every kernel with nvcc (skipped when nvcc is absent)', async () => {
    const failures = await compileAllWithNvcc(allKernels);
    expect(failures.map((f) => `${f.name}\n${f.log}`).join('\n')).toBe('');
  }, 300_000);
});

describe('Attention on sm_90a: the wgmma flash kernel for unmasked prefill', () => {
  const lowerAt = (S: number, arch: number | undefined, causal = 1) => {
    const node = new Node({ op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['y'], attrs: { is_causal: int(causal) } });
    const d = (s: number): TensorDesc => ({ dtype: f16, shape: [2, 16, s, 128] });
    const ctx: LowerContext = { node, inputs: [d(S), d(S), d(S)], outputs: [d(S)], hostValue: () => undefined, arch };
    return getLowering('Attention')!.lower(ctx);
  };
  const names = (l: Lowered) => new Set([...l.launches.map((x) => x.kernel.name), ...(l.variants ?? []).map((k) => k.name)]);
  it('launches it at S >= 64 and keeps FA2 for decode, with one kernel set', () => {
    const pre = lowerAt(512, 90);
    const dec = lowerAt(1, 90);
    expect(pre.launches.map((l) => l.kernel.family)).toEqual(['flash_wgmma']);
    expect(dec.launches.every((l) => l.kernel.family !== 'flash_wgmma')).toBe(true);
    expect([...names(pre)].sort()).toEqual([...names(dec)].sort());
    for (const l of pre.launches) expect(checkLaunch(l, { inputs: 3, outputs: 1, scratch: pre.scratch?.length ?? 0 })).toEqual([]);
  });
  it('takes a boolean key-padding mask (the exported GPT-2/BERT form)', () => {
    const node = new Node({ op: 'Attention', inputs: ['q', 'k', 'v', 'm'], outputs: ['y'], attrs: { is_causal: int(1) } });
    const d: TensorDesc = { dtype: f16, shape: [2, 12, 512, 64] };
    const l = getLowering('Attention')!.lower({ node, inputs: [d, d, d, { dtype: 'bool', shape: [2, 1, 1, 512] }], outputs: [d], hostValue: () => undefined, arch: 90 });
    expect(l.launches.map((x) => x.kernel.family)).toEqual(['flash_wgmma']);
    for (const x of l.launches) expect(checkLaunch(x, { inputs: 4, outputs: 1, scratch: l.scratch?.length ?? 0 })).toEqual([]);
  });
  it('never uses it without a known sm_90 target', () => {
    for (const arch of [undefined, 80, 100]) {
      const l = lowerAt(512, arch);
      expect([...names(l)].some((n) => n.startsWith('chm_flash_wgmma') || n.includes('wgmma'))).toBe(false);
    }
  });
});
