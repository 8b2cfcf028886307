#!/usr/bin/env python3
"""combine_heads.py — one model directory that runs several heads over one
encoder in a single senti pass, from fine-tuned HF checkpoints that share
that encoder (e.g. heads trained with the encoder frozen, or the same
checkpoint fine-tuned head-only for each task).

    python3 tools/train/combine_heads.py --primary DIR [--primary-name sentiment] \
        --head emotion=DIR2 --head aspects=DIR3 [--atol 0] --out OUT

The primary checkpoint is copied as it is (config.json, model.safetensors,
tokenizer files): it stays an ordinary HF directory, and its own head is the
"primary" head. Each --head NAME=DIR adds that checkpoint's head; its
encoder tensors must equal the primary's within --atol (default 0: bitwise),
else the script stops naming the first tensor that differs. Written beside
the HF files (the on-disk form senti reads, see README "Several heads"):

  heads.json         {"primary": NAME, "heads": [{"name", "type": "sequence" |
                     "token", "labels": [...], "problem_type"?}]}
  heads.safetensors  head.<name>.dense.weight [H, H] / .bias [H]   (sequence heads:
                                     the pooler / classifier.dense / pre_classifier)
                     head.<name>.out.weight [L, H] / .bias [L]     (the classifier)

Sequence heads run dense -> tanh (ReLU for DistilBERT) -> out on the first
token, as each family's *ForSequenceClassification does; token heads run out
on every token. Supported families: BERT, RoBERTa / XLM-R / CamemBERT,
DistilBERT. `senti convert` carries the heads into a GGUF (key senti.heads,
tensors head.<name>.*).
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

# family prefix -> (sequence dense, sequence out, token out), HF tensor stems
FAMILIES = {
    "bert.": ("bert.pooler.dense", "classifier", "classifier"),
    "roberta.": ("classifier.dense", "classifier.out_proj", "classifier"),
    "distilbert.": ("pre_classifier", "classifier", "classifier"),
}
COPY = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
        "special_tokens_map.json", "merges.txt", "vocab.json", "sentencepiece.bpe.model"]


def load(d):
    with open(os.path.join(d, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    return cfg, load_file(os.path.join(d, "model.safetensors"))


def family(cfg, w):
    arch = cfg["architectures"][0]
    kind = "sequence" if arch.endswith("ForSequenceClassification") else \
        "token" if arch.endswith("ForTokenClassification") else None
    if kind is None:
        sys.exit(f"combine_heads: {arch} is neither a sequence nor a token classifier")
    for p in FAMILIES:
        if any(k.startswith(p) for k in w):
            return p, kind
    sys.exit(f"combine_heads: {arch}: no BERT / RoBERTa / DistilBERT encoder tensors")


def encoder(w, prefix, dense):
    return {k: v for k, v in w.items() if k.startswith(prefix) and not k.startswith(dense + ".")
            and "position_ids" not in k}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--primary", required=True)
    ap.add_argument("--primary-name", default="main")
    ap.add_argument("--head", action="append", default=[], metavar="NAME=DIR")
    ap.add_argument("--atol", type=float, default=0.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    pcfg, pw = load(a.primary)
    prefix, _ = family(pcfg, pw)
    sdense, sout, tout = FAMILIES[prefix]
    penc = encoder(pw, prefix, sdense)
    os.makedirs(a.out, exist_ok=True)
    for f in COPY:
        if os.path.exists(os.path.join(a.primary, f)):
            shutil.copyfile(os.path.join(a.primary, f), os.path.join(a.out, f))
    heads, tensors, names = [], {}, {a.primary_name}
    for spec in a.head:
        name, _, d = spec.partition("=")
        if not name or not d or name in names or not name.replace("_", "").replace("-", "").isalnum():
            sys.exit(f"combine_heads: --head {spec!r}: want NAME=DIR with a new name of letters, digits, - and _")
        names.add(name)
        cfg, w = load(d)
        p2, kind = family(cfg, w)
        if p2 != prefix:
            sys.exit(f"combine_heads: {d} is a {p2[:-1]} checkpoint, the primary a {prefix[:-1]} one")
        enc = encoder(w, prefix, sdense)
        for k, v in penc.items():
            if k not in enc or enc[k].shape != v.shape:
                sys.exit(f"combine_heads: {d}: encoder tensor {k} missing or of another shape")
            diff = float(np.max(np.abs(enc[k].astype(np.float64) - v.astype(np.float64)))) if v.size else 0.0
            if diff > a.atol:
                sys.exit(f"combine_heads: {d}: encoder tensor {k} differs from the primary's by {diff:g} "
                         f"(> --atol {a.atol:g}): not the same encoder")
        n = len(cfg["id2label"])
        labels = [cfg["id2label"][str(i)] for i in range(n)]
        h = {"name": name, "type": kind, "labels": labels}
        if cfg.get("problem_type"):
            h["problem_type"] = cfg["problem_type"]
        heads.append(h)
        stems = [("dense", sdense), ("out", sout)] if kind == "sequence" else [("out", tout)]
        for short, stem in stems:
            for part in ("weight", "bias"):
                t = w.get(f"{stem}.{part}")
                if t is None:
                    sys.exit(f"combine_heads: {d}: tensor {stem}.{part} missing")
                tensors[f"head.{name}.{short}.{part}"] = np.ascontiguousarray(t.astype(np.float32))
    with open(os.path.join(a.out, "heads.json"), "w", encoding="utf-8") as f:
        json.dump({"primary": a.primary_name, "heads": heads}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    save_file(tensors, os.path.join(a.out, "heads.safetensors"))
    print(f"combine_heads: {a.out}: primary {a.primary_name!r} + {', '.join(h['name'] for h in heads)}")


if __name__ == "__main__":
    main()
