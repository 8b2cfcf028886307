"""models.py — one random-weight BertForSequenceClassification per shape, exported for every engine.

Invariants: every engine's model comes from the one HF directory saved here
(seeded weights, `save_pretrained`), so all engines compute the same function;
ONNX through `torch.onnx.export` then onnxruntime's transformer optimizer
(fp32) and onnxruntime dynamic int8 quantization of the optimized graph;
CTranslate2 through its transformers converter (float32 weights, int8 chosen
at load time by compute_type) with the classification head kept as numpy
arrays, applied after the encoder. Each artifact is built once and reused
(a `.done` file marks a finished one, with the RECIPE it was built by),
keyed by shape and seed.

The weights are transformers' own random init, except the classifier's bias:
a random encoder maps every text to nearly the same pooled vector, so with a
zero bias one label wins almost everywhere (all 50 of 50 texts on the
BERT-base shape) and label agreement would say nothing. The bias is set to
minus the mean logit over calibration sentences (SST-2 train, disjoint from
the benchmark's texts), so the labels spread over the three classes and an
engine's numerical error shows in its agreement.
"""
import json
import os
import shutil
import time

SHAPES = {
    # all-MiniLM-L6 / MiniLM-L6-H384 shape
    "minilm-l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    # bert-base-uncased shape
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
LABELS = ["negative", "neutral", "positive"]
VOCAB = 30522  # bert-base-uncased


RECIPE = 2  # bump when an artifact's recipe changes: older caches are rebuilt


def _done(d, source=None):
    """d was built by this RECIPE (and from this source model's stamp, for derived artifacts)."""
    try:
        info = _info(d)
    except (OSError, ValueError):
        return False
    return info.get("recipe") == RECIPE and (source is None or info.get("source") == source)


def _mark(d, info=None):
    with open(os.path.join(d, ".done"), "w") as f:
        json.dump(dict(info or {}, recipe=RECIPE), f)


def _info(d):
    with open(os.path.join(d, ".done")) as f:
        return json.load(f)


def center_bias(model, tokenizer_file, calib, batch=64):
    """classifier.bias := -mean(classifier(pooled)) over the calibration texts."""
    import torch
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_file)
    tok.no_padding()
    tok.enable_truncation(512)
    seqs = [e.ids for e in tok.encode_batch(calib)]
    total = torch.zeros(model.config.num_labels, dtype=torch.float64)
    with torch.inference_mode():
        model.classifier.bias.zero_()
        for b in range(0, len(seqs), batch):
            part = seqs[b:b + batch]
            ids = torch.zeros(len(part), max(map(len, part)), dtype=torch.long)
            for r, x in enumerate(part):
                ids[r, :len(x)] = torch.tensor(x)
            total += model(input_ids=ids, attention_mask=(ids != 0).long()).logits.double().sum(0)
        model.classifier.bias.copy_(-(total / len(seqs)).float())


def make_hf(d, shape, seed, tokenizer_dir, calib):
    """The reference model: random weights (transformers' own init, seeded), centered head bias, safetensors."""
    if _done(d):
        return _info(d)
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    shutil.rmtree(d, ignore_errors=True)
    torch.manual_seed(seed)
    # position_embedding_type as in bert-base-uncased's config.json (CTranslate2's converter reads it;
    # transformers 5 no longer writes it by default)
    cfg = BertConfig(vocab_size=VOCAB, max_position_embeddings=512, type_vocab_size=2, num_labels=len(LABELS),
                     position_embedding_type="absolute",
                     id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)},
                     **SHAPES[shape])
    model = BertForSequenceClassification(cfg).eval()
    center_bias(model, os.path.join(tokenizer_dir, "tokenizer.json"), calib)
    model.save_pretrained(d)
    # the tokenizer files beside the weights, so transformers' pipeline / AutoTokenizer load the directory
    for name in os.listdir(tokenizer_dir):
        p = os.path.join(tokenizer_dir, name)
        if os.path.isfile(p) and name.endswith(".json"):
            shutil.copyfile(p, os.path.join(d, name))
    info = {"classifier_bias": [round(float(x), 6) for x in model.classifier.bias], "calibration_texts": len(calib),
            "stamp": f"{shape}-{seed}-{time.time_ns()}"}
    _mark(d, info)
    return info


def make_onnx(hf_dir, d, shape):
    """model.onnx (torch.onnx.export), model-opt.onnx (transformer optimizer, fp32), model-int8.onnx."""
    source = _info(hf_dir)["stamp"]
    if _done(d, source):
        return _info(d)
    import torch
    from transformers import BertForSequenceClassification
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    # eager attention: the subgraph pattern onnxruntime's BERT fusions (Attention op) are written for
    model = BertForSequenceClassification.from_pretrained(hf_dir, attn_implementation="eager").eval()
    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 2307, 102, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    types = torch.zeros_like(ids)
    raw = os.path.join(d, "model.onnx")
    axes = {"batch": 0, "seq": 1}
    dyn = {n: {0: "batch", 1: "seq"} for n in ("input_ids", "attention_mask", "token_type_ids")}
    dyn["logits"] = {0: "batch"}
    exporter = "torchscript"
    with torch.no_grad():
        try:
            torch.onnx.export(model, (ids, mask, types), raw, input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logits"], dynamic_axes=dyn, opset_version=17, dynamo=False)
        except Exception as e:  # a torch without the TorchScript exporter: the dynamo one
            print(f"peers: torch.onnx.export(dynamo=False) failed ({e}); using dynamo=True", flush=True)
            exporter = "dynamo"
            torch.onnx.export(model, (ids, mask, types), raw, input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["logits"], dynamic_shapes={"input_ids": axes, "attention_mask": axes,
                                                                       "token_type_ids": axes},
                              opset_version=18, dynamo=True, external_data=False)
    from onnxruntime.transformers import optimizer
    h = SHAPES[shape]
    opt = optimizer.optimize_model(raw, model_type="bert", num_heads=h["num_attention_heads"],
                                   hidden_size=h["hidden_size"], opt_level=1)
    fused = {k: int(v) for k, v in opt.get_fused_operator_statistics().items() if v}
    opt_path = os.path.join(d, "model-opt.onnx")
    opt.save_model_to_file(opt_path)
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    # the optimizer's contrib ops (SkipLayerNormalization, ...) defeat ONNX shape inference: their outputs are
    # float32, said with DefaultTensorType; MatMul and the fused Attention get int8 weights (u8 activations)
    quantize_dynamic(opt_path, os.path.join(d, "model-int8.onnx"), op_types_to_quantize=["MatMul", "Attention"],
                     weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    import collections
    q = onnx.load(os.path.join(d, "model-int8.onnx"), load_external_data=False)
    ops = collections.Counter(n.op_type for n in q.graph.node)
    info = {"source": source, "exporter": exporter, "fused_ops": fused,
            "int8_ops": {k: ops[k] for k in ("QAttention", "MatMulInteger", "DynamicQuantizeLinear", "MatMul") if ops[k]}}
    _mark(d, info)
    return info


def make_ct2(hf_dir, d):
    """A CTranslate2 encoder (float32 weights) + head.npz (pooler if CT2 drops it, classifier)."""
    source = _info(hf_dir)["stamp"]
    if _done(d, source):
        return _info(d)
    import numpy as np
    import ctranslate2
    from safetensors.torch import load_file
    shutil.rmtree(d, ignore_errors=True)
    # CTranslate2's loader for BertConfig loads the directory as BertModel ("bert." prefix stripped,
    # the classifier left out); its spec keeps BERT's pooler (dense + tanh), the classifier stays here
    ctranslate2.converters.TransformersConverter(hf_dir).convert(d, force=True)
    sd = load_file(os.path.join(hf_dir, "model.safetensors"))
    np.savez(os.path.join(d, "head.npz"),
             pooler_w=sd["bert.pooler.dense.weight"].float().numpy(), pooler_b=sd["bert.pooler.dense.bias"].float().numpy(),
             cls_w=sd["classifier.weight"].float().numpy(), cls_b=sd["classifier.bias"].float().numpy())
    info = {"source": source, "converter": "ctranslate2.converters.TransformersConverter",
            "ctranslate2": ctranslate2.__version__}
    _mark(d, info)
    return info
