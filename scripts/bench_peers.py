#!/usr/bin/env python3
"""The peers of `chimera bench`: torch eager and torch.compile on the GPU, plus the ONNX files, inputs and
reference outputs chimera is checked against. Runs on the GPU machine (torch, transformers, torchvision,
onnx; no network): models are built from their default configs with seeded random weights, never downloaded.

Usage:  python3 scripts/bench_peers.py OUT_DIR [--only gpt2,bert,resnet50,kernels] [--rows REGEX] [--iters N]
                                       [--repeats N] [--no-compile] [--budget-s S]
                                       [--kernels] [--cases REGEX]

Rows (fp16 on CUDA):
    gpt2      GPT-2 124M (GPT2Config defaults): prefill B1 S128, B8 S512; decode B1, B8 with a KV cache of 128
    bert      BERT-base (BertConfig defaults): B1 S128, B32 S128
    resnet50  ResNet-50 (torchvision, random init): B1, B32 (3x224x224)
    kernels   kernel microbenchmarks (no ONNX files, no saved tensors): torch.matmul fp16 at 4096^3, at the
              model shapes M in {128, 4096, 16384} x (N, K) in {(2304, 768), (768, 768), (3072, 768), (768, 3072)}
              and the GPT-2 LM head 128x50257x768 (B transposed); F.scaled_dot_product_attention fp16,
              B = 16384/S, H16 D128, S in {128, 512, 1024, 2048, 4096, 8192}, causal and not. Written to
              OUT_DIR/kernels.json; `chimera bench OUT_DIR` builds the same single-node cases itself, checks
              them against the interpreter on its own random inputs and times them the same way.
              --kernels runs only these (same as --only kernels); --cases REGEX selects cases by id.

It writes
    OUT_DIR/<model>/model.onnx         one ONNX file per model, fp32 weights (chimera builds it with
                                       precision fp16), dynamic batch/seq/past axes, serving all its rows
    OUT_DIR/rows/<row>/in_<name>.npy   the inputs (floats rounded to fp16, stored as float32 like the ONNX inputs)
    OUT_DIR/rows/<row>/out_<name>.npy  torch's fp16 outputs (eager)
    OUT_DIR/peers.json                 everything: rows, timings, floors, versions, errors and skips
                                       (only written when a model is selected)
    OUT_DIR/kernels.json               the kernel cases and torch's times (only written when kernels are
                                       selected)

GPT-2 is exported once, with past_key_i/past_value_i inputs (the decoder wrapper of export_fixtures.py with
all 12 layers, dynamo exporter: the TorchScript one fails on decoder LMs with this transformers): prefill
rows feed an empty past (past_seq = 0), decode rows a past of 128 and one new token per sequence. torch's
decode peer runs the model's own past_key_values path (a DynamicCache built from the same tensors).

Timing (same method as chimera's Engine.time): after warm-up, `repeats` batches of `iters` back-to-back
calls between two torch.cuda.Event records; the median of the per-call batch means. torch.compile uses
mode="reduce-overhead" (CUDA graphs), dynamic=False; its compile time is recorded, and compiles are skipped
(with a note) once --budget-s seconds have passed. Floors: bytes / 2.97 TB/s and FLOPs / 758 TFLOP/s
(GPU.md ceilings); bytes = fp16 weights + the row's inputs and outputs as torch moves them (a lower bound:
intermediates could in principle stay on chip); FLOPs from torch.utils.flop_counter on the eager run.

Kernel timing (the same method as chimera's Engine.time on a single-node engine): one call captured in a
CUDA graph (eager calls if the capture fails; "mode" says which), 3 warm-up replays, a probe sizes the
batches to about KERNEL_BATCH_MS of work (1 to KERNEL_MAX_ITERS replays), then KERNEL_REPEATS batches of
back-to-back replays between two CUDA events; the median of the per-call batch means. FLOPs: GEMM 2*M*N*K;
attention 4*B*H*S*S*D (QK^T and PV), half of that when causal.
"""
import argparse
import json
import os
import re
import sys
import time
import traceback
import zlib

import numpy as np
import torch

SEED = 20261124
BYTES_PER_S = 2.97e12
FLOPS_PER_S = 758e12
CONTEXT = 128  # decode rows: KV cache length

# row id, kind, batch, seq, past
ROWS = {
    "gpt2": [("gpt2-prefill-b1-s128", "prefill", 1, 128, 0), ("gpt2-prefill-b8-s512", "prefill", 8, 512, 0),
             ("gpt2-decode-b1-ctx128", "decode", 1, 1, CONTEXT), ("gpt2-decode-b8-ctx128", "decode", 8, 1, CONTEXT)],
    "bert": [("bert-b1-s128", "forward", 1, 128, 0), ("bert-b32-s128", "forward", 32, 128, 0)],
    "resnet50": [("resnet50-b1", "forward", 1, 0, 0), ("resnet50-b32", "forward", 32, 0, 0)],
}


def log(msg):
    print(f"[bench_peers {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------------------------------------------
# models (the cache helpers follow scripts/export_fixtures.py)


def make_cache(pairs):
    from transformers import DynamicCache

    if hasattr(DynamicCache, "from_legacy_cache"):
        try:
            return DynamicCache.from_legacy_cache(tuple(pairs))
        except Exception:  # noqa: BLE001 - fall through to the next form
            pass
    cache = DynamicCache()
    for i, (k, v) in enumerate(pairs):
        cache.update(k, v, i)
    return cache


def cache_pairs(cache):
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    if hasattr(cache, "key_cache"):
        return list(zip(cache.key_cache, cache.value_cache))
    return [tuple(p) for p in cache]


class DecoderBase(torch.nn.Module):
    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def step(self, input_ids, attention_mask, pairs):
        cache = make_cache(pairs)
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        flat = [t for pair in cache_pairs(out.past_key_values) for t in pair]
        return (out.logits, *flat)


def decoder_with_past(lm, n_layer):
    """A module with explicit inputs input_ids, attention_mask, past_key_0, past_value_0, ... (one per
    layer: exporters bind inputs by the forward's signature) -> logits, present_key_0, present_value_0, ..."""
    params = ", ".join(f"past_key_{i}, past_value_{i}" for i in range(n_layer))
    pairs = ", ".join(f"(past_key_{i}, past_value_{i})" for i in range(n_layer))
    src = (f"def forward(self, input_ids, attention_mask, {params}):\n"
           f"    return self.step(input_ids, attention_mask, [{pairs}])\n")
    ns = {}
    exec(src, ns)  # noqa: S102 - generated from integers only
    cls = type("DecoderWithPast", (DecoderBase,), {"forward": ns["forward"]})
    return cls(lm)


class Prefill(torch.nn.Module):
    """torch's prefill peer: the model's own path without a past (it returns the new cache)."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=True)
        flat = [t for pair in cache_pairs(out.past_key_values) for t in pair]
        return (out.logits, *flat)


class BertOutputs(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return (out.last_hidden_state, out.pooler_output)


def perturb_norms(module, gen):
    """Random-init norms are identities (weight 1, bias 0, BN stats 0/1): make them non-trivial."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                if m.weight is not None:
                    m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def build_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config()
    lm = GPT2LMHeadModel(cfg).eval()
    n_layer, heads, hd = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head
    in_names = ["input_ids", "attention_mask"] + [f"past_{kv}_{i}" for i in range(n_layer) for kv in ("key", "value")]
    out_names = ["logits"] + [f"present_{kv}_{i}" for i in range(n_layer) for kv in ("key", "value")]

    def inputs(rng, batch, seq, past):
        ids = rng.integers(0, cfg.vocab_size, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, past + seq), dtype=np.int64)
        kv = [fp16_normal(rng, (batch, heads, past, hd)) for _ in range(2 * n_layer)]
        return [ids, mask, *kv]

    kv_axes = {0: "batch", 2: "past_seq"}
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "total_seq"},
            **{n: kv_axes for n in in_names[2:]}}
    # what the check compares (all 25 outputs of B8 S512 would be 0.6 GB of npy): logits, first and last layer
    checked = ["logits", "present_key_0", f"present_value_{n_layer - 1}"]
    return dict(module=lm, export_module=decoder_with_past(lm, n_layer), exporter="dynamo",
                input_names=in_names, output_names=out_names, dynamic_axes=axes, checked=checked,
                example=lambda rng: inputs(rng, 2, 5, 3), inputs=inputs,
                peer=lambda kind: (Prefill(lm) if kind == "prefill" else decoder_with_past(lm, n_layer)),
                peer_inputs=lambda kind, arrays: arrays[:2] if kind == "prefill" else arrays,
                config=dict(name="GPT2Config()", n_layer=n_layer, n_embd=cfg.n_embd, n_head=heads,
                            vocab_size=cfg.vocab_size, n_positions=cfg.n_positions))


def build_bert():
    from transformers import BertConfig, BertModel

    cfg = BertConfig()
    model = BertModel(cfg).eval()
    wrapped = BertOutputs(model)

    def inputs(rng, batch, seq, past):
        ids = rng.integers(0, cfg.vocab_size, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        types = rng.integers(0, cfg.type_vocab_size, size=(batch, seq), dtype=np.int64)
        return [ids, mask, types]

    bs = {0: "batch", 1: "seq"}
    return dict(module=model, export_module=wrapped, exporter="torchscript",
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state", "pooler_output"],
                dynamic_axes={"input_ids": bs, "attention_mask": bs, "token_type_ids": bs,
                              "last_hidden_state": bs, "pooler_output": {0: "batch"}},
                checked=["last_hidden_state", "pooler_output"],
                example=lambda rng: inputs(rng, 2, 16, 0), inputs=inputs,
                peer=lambda kind: wrapped, peer_inputs=lambda kind, arrays: arrays,
                config=dict(name="BertConfig()", num_hidden_layers=cfg.num_hidden_layers, hidden_size=cfg.hidden_size,
                            vocab_size=cfg.vocab_size))


def build_resnet50():
    import torchvision

    model = torchvision.models.resnet50(weights=None).eval()

    def inputs(rng, batch, seq, past):
        return [fp16_normal(rng, (batch, 3, 224, 224))]

    return dict(module=model, export_module=model, exporter="torchscript",
                input_names=["input"], output_names=["logits"],
                dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, checked=["logits"],
                example=lambda rng: inputs(rng, 2, 0, 0), inputs=inputs,
                peer=lambda kind: model, peer_inputs=lambda kind, arrays: arrays,
                config=dict(name="torchvision.models.resnet50(weights=None)", num_classes=1000, input="Nx3x224x224"))


BUILDERS = {"gpt2": build_gpt2, "bert": build_bert, "resnet50": build_resnet50}


def fp16_normal(rng, shape):
    """Seeded normal floats that fp16 represents exactly, stored as float32 (the ONNX inputs are float32)."""
    return rng.standard_normal(shape, dtype=np.float32).astype(np.float16).astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# export


def export_onnx(spec, path):
    module = spec["export_module"].eval()
    rng = np.random.default_rng(SEED + 99)
    args = tuple(torch.from_numpy(a) for a in spec["example"](rng))
    names, outs = spec["input_names"], spec["output_names"]
    if spec["exporter"] == "torchscript":
        torch.onnx.export(module, args, path, dynamo=False, opset_version=17, input_names=names,
                          output_names=outs, dynamic_axes=spec["dynamic_axes"], do_constant_folding=True)
        return "torchscript, opset 17, dynamic axes"
    auto = torch.export.Dim.AUTO
    dims = {}
    bounds = {"batch": 64, "seq": 1024, "past_seq": 1024}

    def named(axis_name):
        if axis_name == "total_seq":
            return auto  # past + seq: torch.export cannot name a sum of two dims
        if axis_name not in dims:
            dims[axis_name] = torch.export.Dim(axis_name, min=1, max=bounds.get(axis_name, 1024))
        return dims[axis_name]

    attempts = [
        ("dynamo, named dynamic dims", tuple({ax: named(n) for ax, n in spec["dynamic_axes"].get(i, {}).items()} or None
                                             for i in names)),
        ("dynamo, AUTO dynamic dims", tuple({ax: auto for ax in spec["dynamic_axes"].get(i, {})} or None for i in names)),
    ]
    notes = []
    for mode, dyn in attempts:
        try:
            prog = torch.onnx.export(module, args, dynamo=True, input_names=names, output_names=outs,
                                     dynamic_shapes=dyn, external_data=False, verbose=False)
            prog.save(path, external_data=False)
            return mode + (f" ({'; '.join(notes)})" if notes else "")
        except Exception as e:  # noqa: BLE001
            notes.append(f"{mode} failed: {type(e).__name__}: {str(e).strip()[:200]}")
            log(f"  {notes[-1]}")
    raise RuntimeError("; ".join(notes))


# ----------------------------------------------------------------------------------------------------
# measuring


def time_cuda(fn, iters, repeats, warmup=3):
    """Median over `repeats` of (CUDA-event time of `iters` back-to-back calls) / iters, in ms."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / iters)
    return float(sorted(samples)[len(samples) // 2]), samples


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    n = np.linalg.norm(b)
    d = np.linalg.norm(a - b)
    return float(d / n) if n > 0 else float(d)


def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def to_device(arrays):
    ts = []
    for a in arrays:
        t = torch.from_numpy(a).cuda()
        ts.append(t.half() if t.is_floating_point() else t)
    return ts


def weight_bytes(module):
    n = sum(p.numel() for p in module.parameters())
    n += sum(b.numel() for name, b in module.named_buffers() if b.is_floating_point() and "running_" in name)
    return 2 * n


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def run_model(name, spec, out_dir, a, start, peers):
    info = dict(name=name, config=spec["config"], weights="fp32 (chimera builds with precision fp16)")
    peers["models"][name] = info
    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    info["onnx"] = os.path.relpath(path, out_dir)
    t0 = time.time()
    log(f"{name}: export ({spec['exporter']})")
    info["exporter"] = export_onnx(spec, path)
    info["export_s"] = round(time.time() - t0, 1)
    info["onnx_bytes"] = os.path.getsize(path)
    log(f"{name}: exported in {info['export_s']} s, {info['onnx_bytes'] / 2**20:.0f} MiB")
    write_json(os.path.join(out_dir, "peers.json"), peers)

    lm = spec["module"].half().cuda()
    wbytes = weight_bytes(lm)
    info["weight_bytes_fp16"] = wbytes
    rows = [r for r in ROWS[name] if not a.rows or re.search(a.rows, r[0])]
    for row_id, kind, batch, seq, past in rows:
        row = dict(id=row_id, model=name, kind=kind, batch=batch, seq=seq, past=past, onnx=info["onnx"])
        row["shape"] = (f"B{batch} S{seq}" if name != "resnet50" else f"B{batch}") if kind != "decode" \
            else f"decode B{batch} ctx{past}"
        if kind == "decode":
            row["tokens_per_run"] = batch
        peers["rows"].append(row)
        try:
            measure_row(spec, row, lm, wbytes, out_dir, a, start)
        except Exception as e:  # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e).strip()[:400]}"
            row["traceback_tail"] = traceback.format_exc().strip().splitlines()[-6:]
            log(f"{row_id}: FAILED {row['error']}")
        write_json(os.path.join(out_dir, "peers.json"), peers)
    lm.cpu()
    del lm
    torch.cuda.empty_cache()


def measure_row(spec, row, lm, wbytes, out_dir, a, start):
    from torch.utils.flop_counter import FlopCounterMode

    rid, kind = row["id"], row["kind"]
    rng = np.random.default_rng(SEED + zlib.crc32(rid.encode()) % 1000)
    arrays = spec["inputs"](rng, row["batch"], row["seq"], row["past"])
    folder = os.path.join(out_dir, "rows", rid)
    os.makedirs(folder, exist_ok=True)
    row["inputs"] = {}
    for n, arr in zip(spec["input_names"], arrays):
        f = os.path.join(folder, f"in_{n}.npy")
        np.save(f, np.ascontiguousarray(arr))
        row["inputs"][n] = os.path.relpath(f, out_dir)

    peer = spec["peer"](kind).eval()
    feeds = to_device(spec["peer_inputs"](kind, arrays))
    with torch.no_grad():
        outs = as_tuple(peer(*feeds))
        torch.cuda.synchronize()
        names = spec["output_names"]
        row["outputs"] = {}
        for n, o in zip(names, outs):
            if n not in spec["checked"]:
                continue
            f = os.path.join(folder, f"out_{n}.npy")
            np.save(f, o.detach().float().cpu().numpy().astype(np.float16))
            row["outputs"][n] = os.path.relpath(f, out_dir)
        in_bytes = sum(t.numel() * t.element_size() for t in feeds)
        out_bytes = sum(o.numel() * o.element_size() for o in outs)
        with FlopCounterMode(display=False) as fc:
            peer(*feeds)
        flops = int(fc.get_total_flops())
        row["flops"] = flops
        row["bytes"] = int(wbytes + in_bytes + out_bytes)
        row["bytes_detail"] = dict(weights_fp16=wbytes, inputs=in_bytes, outputs=out_bytes)
        row["floor_memory_ms"] = row["bytes"] / BYTES_PER_S * 1e3
        row["floor_compute_ms"] = flops / FLOPS_PER_S * 1e3
        row["floor_ms"] = max(row["floor_memory_ms"], row["floor_compute_ms"])
        del outs

        torch_res = dict(iters=a.iters, repeats=a.repeats)
        row["torch"] = torch_res
        ms, samples = time_cuda(lambda: peer(*feeds), a.iters, a.repeats)
        torch_res["eager_ms"] = ms
        torch_res["eager_samples_ms"] = samples
        log(f"{rid}: eager {ms:.3f} ms; floor {row['floor_ms']:.4f} ms "
            f"({flops / 1e9:.1f} GFLOP, {row['bytes'] / 2**20:.0f} MiB)")

        if a.no_compile:
            torch_res["compile_note"] = "skipped: --no-compile"
        elif time.time() - start > a.budget_s:
            torch_res["compile_note"] = f"skipped: time budget ({a.budget_s:.0f} s) spent"
        else:
            try:
                t0 = time.time()
                compiled = torch.compile(peer, mode="reduce-overhead", dynamic=False)

                def call():
                    torch.compiler.cudagraph_mark_step_begin()
                    return compiled(*feeds)

                for _ in range(3):  # compile, then CUDA-graph warm-up and record
                    res = call()
                torch.cuda.synchronize()
                torch_res["compile_s"] = round(time.time() - t0, 1)
                ref = np.load(os.path.join(out_dir, row["outputs"][spec["checked"][0]])).astype(np.float32)
                torch_res["compile_rel_l2_vs_eager"] = rel_l2(as_tuple(res)[0].float().cpu().numpy(), ref)
                del res
                ms, samples = time_cuda(call, a.iters, a.repeats)
                torch_res["compile_ms"] = ms
                torch_res["compile_samples_ms"] = samples
                log(f"{rid}: torch.compile {ms:.3f} ms (compile {torch_res['compile_s']} s)")
            except Exception as e:  # noqa: BLE001
                torch_res["compile_note"] = f"failed: {type(e).__name__}: {str(e).strip()[:300]}"
                log(f"{rid}: torch.compile {torch_res['compile_note']}")
    if kind == "decode":
        for k in ("eager", "compile"):
            if torch_res.get(f"{k}_ms"):
                torch_res[f"{k}_tokens_per_s"] = row["batch"] / torch_res[f"{k}_ms"] * 1e3


# ----------------------------------------------------------------------------------------------------
# kernel microbenchmarks (kernels.json)

KERNEL_REPEATS = 21
KERNEL_BATCH_MS = 2.0
KERNEL_MAX_ITERS = 100
KERNEL_WARMUP = 3
GEMM_MS = (128, 4096, 16384)
GEMM_NK = ((2304, 768), (768, 768), (3072, 768), (768, 3072))
ATTN_TOKENS, ATTN_H, ATTN_D = 16384, 16, 128  # batch x seq = 16,384 tokens, as GPU.md's SDPA anchors
ATTN_S = (128, 512, 1024, 2048, 4096, 8192)


def kernel_cases():
    """The cases, in report order (chimera bench reads their parameters from kernels.json)."""
    cases = []

    def gemm(m, n, k, trans_b=False, note=""):
        cid = f"gemm-m{m}-n{n}-k{k}" + ("-tb" if trans_b else "")
        shape = f"{m}x{n}x{k}" + (" (B transposed)" if trans_b else "")
        c = dict(id=cid, family="gemm", shape=shape, dtype="float16", m=m, n=n, k=k, trans_b=trans_b,
                 flops=2 * m * n * k)
        if note:
            c["note"] = note
        cases.append(c)

    gemm(4096, 4096, 4096, note="square")
    for m in GEMM_MS:
        for n, k in GEMM_NK:
            gemm(m, n, k)
    gemm(128, 50257, 768, trans_b=True, note="GPT-2 LM head")
    for s in ATTN_S:
        b = max(1, ATTN_TOKENS // s)
        for causal in (False, True):
            flops = 4 * b * ATTN_H * s * s * ATTN_D
            cases.append(dict(id=f"attn-b{b}-h{ATTN_H}-s{s}-d{ATTN_D}" + ("-causal" if causal else ""),
                              family="attention", shape=f"B{b} H{ATTN_H} S{s} D{ATTN_D}" + (" causal" if causal else ""),
                              dtype="float16", batch=b, heads=ATTN_H, seq=s, head_dim=ATTN_D, causal=causal,
                              flops=flops // 2 if causal else flops))
    return cases


def time_kernel(fn):
    """(median ms per call, samples, iters, mode) with the method described at the top."""
    for _ in range(KERNEL_WARMUP):
        fn()
    torch.cuda.synchronize()
    mode = "graph"
    call = fn
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream before capture, as torch's docs do
            for _ in range(KERNEL_WARMUP):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        torch.cuda.synchronize()
        call = graph.replay
    except Exception as e:  # noqa: BLE001
        mode = f"eager (graph capture failed: {type(e).__name__})"
        torch.cuda.synchronize()
    for _ in range(KERNEL_WARMUP):
        call()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    call()
    end.record()
    end.synchronize()
    probe = max(start.elapsed_time(end), 1e-3)
    iters = int(max(1, min(KERNEL_MAX_ITERS, KERNEL_BATCH_MS // probe)))
    samples = []
    for _ in range(KERNEL_REPEATS):
        start.record()
        for _ in range(iters):
            call()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) / iters)
    return float(sorted(samples)[len(samples) // 2]), samples, iters, mode


def measure_kernel(case, gen):
    import torch.nn.functional as F

    dev = "cuda"
    half = torch.float16
    if case["family"] == "gemm":
        m, n, k = case["m"], case["n"], case["k"]
        a = torch.randn((m, k), generator=gen, device=dev, dtype=half)
        if case["trans_b"]:
            w = torch.randn((n, k), generator=gen, device=dev, dtype=half)
            b = w.t()  # a transposed view, as nn.Linear / the tied LM head use it
        else:
            b = torch.randn((k, n), generator=gen, device=dev, dtype=half)
        out = torch.empty((m, n), device=dev, dtype=half)
        op = "torch.matmul" + (" (B.t() view)" if case["trans_b"] else "")

        def fn():
            return torch.matmul(a, b, out=out)
    else:
        shp = (case["batch"], case["heads"], case["seq"], case["head_dim"])
        q, k, v = (torch.randn(shp, generator=gen, device=dev, dtype=half) for _ in range(3))
        causal = case["causal"]
        op = "torch.nn.functional.scaled_dot_product_attention"

        def fn():
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    with torch.no_grad():
        res = fn()
        torch.cuda.synchronize()
        if res is not None and not torch.isfinite(res.float()).all().item():
            raise RuntimeError("torch produced non-finite outputs")
        del res
        ms, samples, iters, mode = time_kernel(fn)
    return dict(op=op, mode=mode, ms=ms, samples_ms=samples, iters=iters, repeats=KERNEL_REPEATS,
                tflops=case["flops"] / (ms * 1e-3) / 1e12)


def run_kernels(out_dir, a, meta):
    """Times every selected kernel case with torch; writes OUT_DIR/kernels.json after each case."""
    doc = dict(meta, timing=("one call captured in a CUDA graph, replayed: median over repeats of (CUDA-event time "
                             "of iters back-to-back replays)/iters, after warm-up; see scripts/bench_peers.py"),
               kernel_repeats=KERNEL_REPEATS, kernel_batch_ms=KERNEL_BATCH_MS, cases=[])
    path = os.path.join(out_dir, "kernels.json")
    sdpa = {}
    for name in ("flash_sdp_enabled", "mem_efficient_sdp_enabled", "math_sdp_enabled", "cudnn_sdp_enabled"):
        f = getattr(torch.backends.cuda, name, None)
        if f is not None:
            sdpa[name] = bool(f())
    doc["sdpa_backends_enabled"] = sdpa
    doc["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
    cases = [c for c in kernel_cases() if not a.cases or re.search(a.cases, c["id"])]
    for case in cases:
        doc["cases"].append(case)
        gen = torch.Generator(device="cuda").manual_seed(SEED + zlib.crc32(case["id"].encode()) % 1000)
        try:
            case["torch"] = measure_kernel(case, gen)
            t = case["torch"]
            log(f"{case['id']}: {t['op']} {t['ms']:.4f} ms, {t['tflops']:.1f} TFLOP/s ({t['mode']}, "
                f"{t['iters']}x{t['repeats']})")
        except Exception as e:  # noqa: BLE001
            case["error"] = f"{type(e).__name__}: {str(e).strip()[:400]}"
            log(f"{case['id']}: FAILED {case['error']}")
        torch.cuda.empty_cache()
        write_json(path, doc)
    write_json(path, doc)
    return doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--only", default="", help="comma-separated parts: gpt2,bert,resnet50,kernels (default: all)")
    ap.add_argument("--rows", default="", help="only model rows whose id matches this regex")
    ap.add_argument("--kernels", action="store_true", help="only the kernel microbenchmarks (same as --only kernels)")
    ap.add_argument("--cases", default="", help="only kernel cases whose id matches this regex")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--budget-s", type=float, default=1e9, help="start no torch.compile after this many seconds")
    a = ap.parse_args()
    only = [m for m in a.only.split(",") if m]
    unknown = [m for m in only if m not in BUILDERS and m != "kernels"]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {','.join(BUILDERS)},kernels")
    if a.kernels:
        if any(m != "kernels" for m in only):
            ap.error("--kernels runs only the kernel microbenchmarks: leave the models out of --only")
        only = ["kernels"]
    models = [n for n in BUILDERS if not only or n in only]
    with_kernels = not only or "kernels" in only
    if a.cases:
        try:
            re.compile(a.cases)
        except re.error as e:
            ap.error(f"--cases is not a valid regular expression: {e}")
    if not torch.cuda.is_available():
        sys.exit("bench_peers: CUDA is not available")
    start = time.time()
    os.makedirs(a.out_dir, exist_ok=True)
    import transformers
    import torchvision
    import onnx

    meta = dict(
        version=1, script="scripts/bench_peers.py", argv=sys.argv[1:],
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        device=torch.cuda.get_device_name(0), seed=SEED,
        versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                      torchvision=torchvision.__version__, onnx=onnx.__version__, numpy=np.__version__,
                      python=sys.version.split()[0], cuda=torch.version.cuda),
    )
    peers = dict(
        meta,
        ceilings=dict(bytes_per_s=BYTES_PER_S, flops_per_s=FLOPS_PER_S),
        timing=("median over repeats of (CUDA-event time of iters back-to-back calls)/iters, after warm-up; "
                "torch.compile mode=reduce-overhead dynamic=False"),
        models={}, rows=[], failures=[],
    )
    for name in models:
        torch.manual_seed(SEED)
        gen = torch.Generator().manual_seed(SEED + 1)
        try:
            spec = BUILDERS[name]()
            perturb_norms(spec["module"], gen)
            run_model(name, spec, a.out_dir, a, start, peers)
        except Exception as e:  # noqa: BLE001
            reason = f"{type(e).__name__}: {str(e).strip()[:400]}"
            peers["failures"].append(dict(model=name, reason=reason,
                                          traceback_tail=traceback.format_exc().strip().splitlines()[-6:]))
            log(f"{name}: FAILED {reason}")
        write_json(os.path.join(a.out_dir, "peers.json"), peers)
    if models:
        peers["total_s"] = round(time.time() - start, 1)
        write_json(os.path.join(a.out_dir, "peers.json"), peers)
        log(f"models done in {peers['total_s']} s: {len(peers['rows'])} rows, {len(peers['failures'])} model failures")
    if with_kernels:
        k0 = time.time()
        doc = run_kernels(a.out_dir, a, meta)
        doc["total_s"] = round(time.time() - k0, 1)
        write_json(os.path.join(a.out_dir, "kernels.json"), doc)
        failed = sum(1 for c in doc["cases"] if "error" in c)
        log(f"kernels done in {doc['total_s']} s: {len(doc['cases'])} cases, {failed} failed")
    log(f"done in {round(time.time() - start, 1)} s")


if __name__ == "__main__":
    main()
