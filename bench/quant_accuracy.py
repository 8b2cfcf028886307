#!/usr/bin/env python3
"""Accuracy cost of reduced-precision weights (issue 7), encoders.

A BERT-base-shaped BertForSequenceClassification (vocab 30522, hidden 768, 12
layers, 12 heads, intermediate 3072, 2 labels) with transformers' default
random init (seeded), the real bert-base-uncased tokenizer from
../shared/assets/tokenizers, converted with `senti convert` at f32 / f16 /
bf16 / q8_0 / q4_0, each run by `senti classify` over the same sentences
(SST-2 dev + TweetEval sentiment test, first N in total). Reported per type,
against the f32 GGUF: the share of argmax labels unchanged, and the largest
error of the logit difference (log p1 - log p0 = logit1 - logit0, the
quantity the argmax depends on), with the f32 spread of that difference for
scale. A random classifier puts nearly every sentence on one side of its
bias, so labels are compared at the median f32 margin (as if the classifier
bias were re-centred, which a trained model's is in effect): label =
margin > median, half the sentences each way. With --check-hf the f32 GGUF is
also compared with the HF directory (must be equal; test_convert asserts it).

Usage (from the repository root, after building build/senti):
  python3 bench/quant_accuracy.py --senti build/senti [--n 2000] [--threads 2] [--work /tmp/senti-acc]
Needs torch + transformers to make the checkpoint once.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(os.path.dirname(ROOT), "shared", "assets")


def make_model(d):
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512, num_labels=2,
                     id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(cfg).save_pretrained(d)
    tok = os.path.join(ASSETS, "tokenizers", "bert-base-uncased")
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        shutil.copy(os.path.join(tok, f), d)


def texts(n):
    out = []
    with open(os.path.join(ASSETS, "data", "sst2", "dev.tsv")) as f:
        next(f)
        out += [line.split("\t")[0].strip() for line in f if line.strip()]
    with open(os.path.join(ASSETS, "data", "tweeteval", "sentiment", "test_text.txt")) as f:
        out += [line.strip() for line in f if line.strip()]
    return out[:n]


def classify(senti, model, inp, out, threads, dtype=()):
    """dtype ["--dtype", "f32"] for the float files: the command's default would run them in bf16 on an
    AVX512_BF16 CPU, and this compares storage types computed in f32."""
    t0 = time.time()
    subprocess.run([senti, "classify", "-m", model, "--input", inp, "--output", out, "--threads", str(threads)]
                   + list(dtype), check=True)
    dt = time.time() - t0
    rows = [json.loads(line) for line in open(out)]
    rows.sort(key=lambda r: r["id"])
    return rows, dt


def margin(r):
    s = r["scores"]
    return math.log(max(s["positive"], 1e-30)) - math.log(max(s["negative"], 1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"))
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", default="/tmp/senti-acc")
    ap.add_argument("--check-hf", action="store_true")
    a = ap.parse_args()
    d = os.path.join(a.work, "bert-base-random")
    os.makedirs(d, exist_ok=True)
    make_model(d)
    ts = texts(a.n)
    inp = os.path.join(a.work, "texts.txt")
    with open(inp, "w") as f:
        f.write("\n".join(t.replace("\n", " ") for t in ts) + "\n")
    f32 = ["--dtype", "f32"]
    ref = classify(a.senti, d, inp, os.path.join(a.work, "hf.jsonl"), a.threads, f32)[0] if a.check_hf else None
    res = {}
    for ty in ("f32", "f16", "bf16", "q8_0", "q4_0"):
        g = os.path.join(a.work, "model-%s.gguf" % ty)
        if not os.path.exists(g):
            subprocess.run([a.senti, "convert", d, g, "--type", ty], check=True)
        rows, dt = classify(a.senti, g, inp, os.path.join(a.work, "%s.jsonl" % ty), a.threads,
                            f32 if ty in ("f32", "f16", "bf16") else ())
        res[ty] = (rows, dt, os.path.getsize(g))
    base = res["f32"][0]
    m0 = [margin(r) for r in base]
    med = sorted(m0)[len(m0) // 2]
    spread = (min(m0), max(m0), sum(abs(x) for x in m0) / len(m0))
    print("texts: %d (SST-2 dev %d + TweetEval sentiment test)" % (len(ts), min(len(ts), 872)))
    if ref:
        print("f32 GGUF == HF directory (scores bit-identical): %s" % all(r["scores"] == s["scores"] for r, s in zip(base, ref)))
    print("f32 logit margin: min %.4f max %.4f mean|.| %.4f; median (label threshold) %.4f" % (spread + (med,)))
    print("| weights | file MB | argmax unchanged | max margin error | mean margin error | classify s |")
    print("|---|---|---|---|---|---|")
    for ty, (rows, dt, size) in res.items():
        agree = sum((margin(r) > med) == (m > med) for r, m in zip(rows, m0))
        errs = [abs(margin(r) - m) for r, m in zip(rows, m0)]
        print("| %s | %.1f | %d/%d (%.2f%%) | %.4f | %.5f | %.1f |" % (
            ty, size / 1e6, agree, len(rows), 100.0 * agree / len(rows), max(errs), sum(errs) / len(errs), dt))


if __name__ == "__main__":
    sys.exit(main())
