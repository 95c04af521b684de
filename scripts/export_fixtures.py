#!/usr/bin/env python3
"""Export small random-weight models with torch.onnx.export as chimera test fixtures.

Runs on the GPU machine (python3 with torch, transformers, torchvision, onnx, onnxruntime; no network):
models are built from configs with seeded random weights, never downloaded. For every model and both
exporters (TorchScript: dynamo=False, dynamo: dynamo=True) it writes

    OUT/<model>_<exporter>/model.onnx                   weights inline
    OUT/<model>_<exporter>/test_data_set_0/input_K.pb   seeded random inputs (TensorProto)
    OUT/<model>_<exporter>/test_data_set_0/output_K.pb  expected outputs, computed with onnxruntime (CPU)
    OUT/<model>_<exporter>/test_data_set_1/...          other batch/sequence sizes, if the dynamic axes allow
    OUT/manifest.json                                   what was exported, with failures and their reasons

Usage:  python3 scripts/export_fixtures.py OUT_DIR [--only gpt2,bert] [--budget-s 420]
Export failures are recorded in the manifest, never fatal. Everything runs on CPU in float32.
"""
import argparse
import collections
import json
import os
import sys
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

SEED = 1234


# ----------------------------------------------------------------------------------------------------
# models


def perturb_norms(module: torch.nn.Module, gen: torch.Generator) -> None:
    """Random-init norms have weight 1, bias 0 and BN stats 0/1: make them non-trivial (folding tests)."""
    with torch.no_grad():
        for m in module.modules():
            name = type(m).__name__
            if isinstance(m, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)) or name.endswith("RMSNorm"):
                w = getattr(m, "weight", None)
                if w is not None:
                    w.copy_(1 + 0.2 * torch.randn(w.shape, generator=gen))
                b = getattr(m, "bias", None)
                if b is not None:
                    b.copy_(0.2 * torch.randn(b.shape, generator=gen))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))


def make_cache(pairs):
    """A transformers DynamicCache holding the given (key, value) pairs, across transformers versions."""
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


class DecoderWithPast(torch.nn.Module):
    """Flat tensors in and out: input_ids, attention_mask, past k/v per layer -> logits, present k/v."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask, past_key_0, past_value_0, past_key_1, past_value_1):
        cache = make_cache([(past_key_0, past_value_0), (past_key_1, past_value_1)])
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, past_key_values=cache, use_cache=True)
        flat = [t for pair in cache_pairs(out.past_key_values) for t in pair]
        return (out.logits, *flat)


class BertOutputs(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return (out.last_hidden_state, out.pooler_output)


class ViTOutputs(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixel_values):
        out = self.model(pixel_values=pixel_values)
        return (out.last_hidden_state, out.pooler_output)


def decoder_spec(lm, kv_heads, head_dim, vocab):
    names = ["input_ids", "attention_mask", "past_key_0", "past_value_0", "past_key_1", "past_value_1"]
    outs = ["logits", "present_key_0", "present_value_0", "present_key_1", "present_value_1"]

    def inputs(rng, batch, seq, past):
        ids = rng.integers(0, vocab, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, past + seq), dtype=np.int64)
        if batch > 1:
            mask[1, 0] = 0  # a left-padded row: a padding mask next to the causal one
        kv = [rng.standard_normal((batch, kv_heads, past, head_dim)).astype(np.float32) for _ in range(4)]
        return [ids, mask, *kv]

    kv_axes = {0: "batch", 2: "past_seq"}
    out_kv_axes = {0: "batch", 2: "total_seq"}
    axes = {
        "input_ids": {0: "batch", 1: "seq"},
        "attention_mask": {0: "batch", 1: "total_seq"},
        **{n: kv_axes for n in names[2:]},
        "logits": {0: "batch", 1: "seq"},
        **{n: out_kv_axes for n in outs[1:]},
    }
    return dict(
        module=DecoderWithPast(lm),
        input_names=names,
        output_names=outs,
        dynamic_axes=axes,
        sets=[lambda r: inputs(r, 2, 5, 3), lambda r: inputs(r, 1, 1, 6)],
    )


def build_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=1024,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    lm = GPT2LMHeadModel(cfg)
    spec = decoder_spec(lm, 4, 16, 256)
    spec["config"] = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=256, n_positions=1024)
    return spec


def build_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    kw = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=256, max_position_embeddings=1024)
    lm = LlamaForCausalLM(LlamaConfig(**kw))
    spec = decoder_spec(lm, 2, 16, 256)
    spec["config"] = kw
    return spec


def build_bert():
    from transformers import BertConfig, BertModel

    kw = dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, intermediate_size=128,
              vocab_size=256, max_position_embeddings=64, type_vocab_size=2,
              hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(BertConfig(**kw))

    def inputs(rng, batch, seq):
        ids = rng.integers(0, 256, size=(batch, seq), dtype=np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        if batch > 1:
            mask[1, seq - 2:] = 0  # a right-padded row
        types = rng.integers(0, 2, size=(batch, seq), dtype=np.int64)
        return [ids, mask, types]

    bs = {0: "batch", 1: "seq"}
    return dict(
        module=BertOutputs(model),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_axes={"input_ids": bs, "attention_mask": bs, "token_type_ids": bs,
                      "last_hidden_state": bs, "pooler_output": {0: "batch"}},
        sets=[lambda r: inputs(r, 2, 7), lambda r: inputs(r, 1, 4)],
        config=kw,
    )


def build_vit():
    from transformers import ViTConfig, ViTModel

    kw = dict(image_size=32, patch_size=8, num_channels=3, hidden_size=64, num_hidden_layers=2,
              num_attention_heads=4, intermediate_size=128, hidden_dropout_prob=0.0,
              attention_probs_dropout_prob=0.0)
    model = ViTModel(ViTConfig(**kw))

    def inputs(rng, batch):
        return [rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)]

    return dict(
        module=ViTOutputs(model),
        input_names=["pixel_values"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_axes={"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"},
                      "pooler_output": {0: "batch"}},
        sets=[lambda r: inputs(r, 2), lambda r: inputs(r, 1)],
        config=kw,
    )


def build_resnet18():
    from torchvision.models.resnet import BasicBlock, ResNet

    class NarrowResNet18(ResNet):
        """torchvision's ResNet-18 topology ([2, 2, 2, 2] BasicBlocks) with every width divided by 8."""

        div = 8

        def __init__(self):
            self.__dict__["_first"] = True  # read by _make_layer during ResNet.__init__
            super().__init__(BasicBlock, [2, 2, 2, 2], num_classes=10)
            w = 64 // self.div
            self.conv1 = torch.nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = torch.nn.BatchNorm2d(w)
            self.fc = torch.nn.Linear(512 // self.div, 10)

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            if self._first:
                self._first = False
                self.inplanes = 64 // self.div
            return super()._make_layer(block, planes // self.div, blocks, stride, dilate)

    model = NarrowResNet18()

    def inputs(rng, batch):
        return [rng.standard_normal((batch, 3, 64, 64)).astype(np.float32)]

    return dict(
        module=model,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        sets=[lambda r: inputs(r, 2), lambda r: inputs(r, 1)],
        config=dict(topology="resnet18", width_divisor=8, num_classes=10, input="Nx3x64x64"),
    )


BUILDERS = {
    "gpt2": build_gpt2,
    "bert": build_bert,
    "llama": build_llama,
    "vit": build_vit,
    "resnet18": build_resnet18,
}


# ----------------------------------------------------------------------------------------------------
# export and expected outputs


def export(spec, example, path, exporter):
    args = tuple(torch.from_numpy(a) for a in example)
    names, outs = spec["input_names"], spec["output_names"]
    if exporter == "torchscript":
        torch.onnx.export(spec["module"], args, path, dynamo=False, opset_version=17,
                          input_names=names, output_names=outs, dynamic_axes=spec["dynamic_axes"],
                          do_constant_folding=True)
        return "dynamic-named"
    # dynamo: named dims first (one symbol per axis name, shared across inputs; the attention mask's
    # past+seq length stays AUTO, since torch.export cannot name a sum of two dims), then every axis AUTO,
    # then static shapes
    auto = torch.export.Dim.AUTO
    dims = {}

    def named(axis_name):
        if axis_name == "total_seq":
            return auto
        if axis_name not in dims:
            dims[axis_name] = torch.export.Dim(axis_name, min=1, max=32)
        return dims[axis_name]

    attempts = [
        ("dynamic-named", tuple({ax: named(n) for ax, n in spec["dynamic_axes"].get(i, {}).items()} or None
                                for i in names)),
        ("dynamic-auto", tuple({ax: auto for ax in spec["dynamic_axes"].get(i, {})} or None for i in names)),
        ("static", None),
    ]
    for mode, dyn in attempts:
        try:
            prog = torch.onnx.export(spec["module"], args, dynamo=True, input_names=names, output_names=outs,
                                     dynamic_shapes=dyn, external_data=False, verbose=False)
            break
        except Exception as e:  # noqa: BLE001
            if mode == "static":
                raise
            note = f"{mode} dynamo export failed ({type(e).__name__}: {str(e).strip()[:300]})"
            spec.setdefault("export_notes", []).append(note)
            print(f"  {note}; next", flush=True)
    prog.save(path, external_data=False)
    return mode


def rel_l2(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = np.linalg.norm((a - b).ravel())
    n = np.linalg.norm(b.ravel())
    return float(d / n) if n > 0 else float(d)


def value_info(vi):
    t = vi.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else (d.dim_value if d.HasField("dim_value") else "?")
            for d in t.shape.dim]
    return dict(name=vi.name, elem_type=onnx.TensorProto.DataType.Name(t.elem_type), shape=dims)


def ops_histogram(graph, hist):
    for n in graph.node:
        hist[n.op_type if not n.domain or n.domain == "ai.onnx" else f"{n.domain}::{n.op_type}"] += 1
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                ops_histogram(a.g, hist)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    ops_histogram(g, hist)


def write_set(folder, k, in_names, arrays, out_names, outputs):
    os.makedirs(folder, exist_ok=True)
    for i, (n, a) in enumerate(zip(in_names, arrays)):
        with open(os.path.join(folder, f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.ascontiguousarray(a), name=n).SerializeToString())
    for i, (n, a) in enumerate(zip(out_names, outputs)):
        with open(os.path.join(folder, f"output_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(np.ascontiguousarray(a), name=n).SerializeToString())


def run_one(name, exporter, out_dir):
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    spec = BUILDERS[name]()
    module = spec["module"].eval()
    perturb_norms(module, gen)
    case = f"{name}_{exporter}"
    folder = os.path.join(out_dir, case)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    rng = np.random.default_rng(SEED)
    sets = [make(rng) for make in spec["sets"]]
    t0 = time.time()
    mode = export(spec, sets[0], path, exporter)
    export_s = time.time() - t0
    # one self-contained file: fold any external data back in
    model = onnx.load(path, load_external_data=True)
    for f in os.listdir(folder):
        if f != "model.onnx" and os.path.isfile(os.path.join(folder, f)):
            os.remove(os.path.join(folder, f))
    onnx.save_model(model, path, save_as_external_data=False)
    onnx.checker.check_model(model)

    in_names = [i.name for i in model.graph.input]
    out_names = [o.name for o in model.graph.output]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    sess_in = [i.name for i in sess.get_inputs()]
    data_sets = []
    for k, arrays in enumerate(sets):
        entry = dict(index=k, input_shapes=[list(a.shape) for a in arrays])
        try:
            if len(sess_in) != len(arrays):
                raise RuntimeError(f"model has {len(sess_in)} inputs, spec {len(arrays)}")
            outputs = sess.run(None, dict(zip(sess_in, arrays)))
            with torch.no_grad():
                ref = module(*[torch.from_numpy(a) for a in arrays])
            ref = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else (ref,))]
            entry["rel_l2_vs_torch"] = [rel_l2(o, r) for o, r in zip(outputs, ref)] if len(ref) == len(outputs) else None
            entry["output_shapes"] = [list(o.shape) for o in outputs]
            write_set(os.path.join(folder, f"test_data_set_{k}"), k, in_names, arrays, out_names, outputs)
            entry["ok"] = True
        except Exception as e:  # noqa: BLE001
            entry["ok"] = False
            entry["error"] = f"{type(e).__name__}: {str(e)[:300]}"
            if k == 0:
                raise
        data_sets.append(entry)

    hist = collections.Counter()
    ops_histogram(model.graph, hist)
    return dict(
        case=case, model=name, exporter=exporter, ok=True, shapes=mode,
        export_seconds=round(export_s, 2),
        file_bytes=os.path.getsize(path),
        opset_import=[dict(domain=o.domain, version=o.version) for o in model.opset_import],
        ir_version=model.ir_version,
        producer=f"{model.producer_name} {model.producer_version}",
        inputs=[value_info(v) for v in model.graph.input],
        outputs=[value_info(v) for v in model.graph.output],
        node_count=len(model.graph.node),
        functions=len(model.functions),
        initializers=len(model.graph.initializer),
        ops=dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0]))),
        config=spec.get("config"),
        export_notes=spec.get("export_notes", []),
        data_sets=data_sets,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--only", default="")
    ap.add_argument("--exporters", default="torchscript,dynamo")
    ap.add_argument("--budget-s", type=float, default=420.0)
    a = ap.parse_args()
    torch.set_num_threads(4)
    os.makedirs(a.out_dir, exist_ok=True)
    import transformers
    import torchvision

    manifest = dict(
        seed=SEED,
        versions=dict(torch=torch.__version__, transformers=transformers.__version__,
                      torchvision=torchvision.__version__, onnx=onnx.__version__,
                      onnxruntime=ort.__version__, numpy=np.__version__, python=sys.version.split()[0]),
        script="scripts/export_fixtures.py",
        cases=[], failures=[],
    )
    start = time.time()
    names = [n for n in BUILDERS if not a.only or n in a.only.split(",")]
    for name in names:
        for exporter in a.exporters.split(","):
            if time.time() - start > a.budget_s:
                manifest["failures"].append(dict(case=f"{name}_{exporter}", model=name, exporter=exporter,
                                                 reason="skipped: time budget spent"))
                continue
            print(f"== {name} / {exporter}", flush=True)
            try:
                info = run_one(name, exporter, a.out_dir)
                manifest["cases"].append(info)
                print(f"   ok: {info['node_count']} nodes, {info['file_bytes']} bytes, {info['shapes']} shapes, "
                      f"rel_l2 vs torch {info['data_sets'][0].get('rel_l2_vs_torch')}", flush=True)
            except Exception as e:  # noqa: BLE001
                tb = traceback.format_exc().strip().splitlines()
                reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:400] if str(e).strip() else ''}"
                manifest["failures"].append(dict(case=f"{name}_{exporter}", model=name, exporter=exporter,
                                                 reason=reason, traceback_tail=tb[-6:]))
                print(f"   FAILED: {reason}", flush=True)
                import shutil
                shutil.rmtree(os.path.join(a.out_dir, f"{name}_{exporter}"), ignore_errors=True)
    manifest["total_seconds"] = round(time.time() - start, 1)
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"done: {len(manifest['cases'])} exported, {len(manifest['failures'])} failed", flush=True)


if __name__ == "__main__":
    main()
