#!/usr/bin/env python3
"""train_sst2.py — SST-2 sentence sentiment: all-MiniLM-L6-v2 fine-tuned on
SST-2 train (67,349 sentences and phrases), selected on SST-2 dev (872),
reported on dev (GLUE's SST-2 test labels are not public; the shared test.tsv
is unlabelled). Labels: 0 negative, 1 positive (GLUE's names).

    python3 tools/train/train_sst2.py [--out DIR] [--epochs N] [--senti-only]

Writes DIR (default ../train-cache/sst2) as described in common.py; its
model-q8_0.gguf has q8_0 token embeddings too (25 MB): --commit-model copies
it to models/sst2-minilm-l6-q8_0.gguf, the embedded default model, and writes
tests/fixtures/models/sst2-dev-pytorch.jsonl (PyTorch's f32 probabilities on
SST-2 dev, for tests/test_models.c). --max-steps N ends training after N
steps (the schedule spans them). A run that is not the committed model goes
to another --out: test_models compares ../train-cache/sst2/model-f32.gguf,
where it exists, with the committed model's PyTorch fixture. --senti-only redoes the senti half
(convert, eval, fixture) on a trained DIR.
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402

NAMES = ["negative", "positive"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(C.CACHE, "sst2"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-steps", type=int, default=0, help="end training after N steps (0: all epochs)")
    ap.add_argument("--senti-only", action="store_true")
    ap.add_argument("--commit-model", action="store_true", help="copy the q8_0 GGUF to models/ (the embedded model)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    train_p = os.path.join(C.DATA, "sst2", "train.tsv")
    dev_p = os.path.join(C.DATA, "sst2", "dev.tsv")
    train = C.read_glue_tsv(train_p)
    dev = C.read_glue_tsv(dev_p)
    hf = os.path.join(a.out, "hf")
    res_path = os.path.join(a.out, "results.json")
    if not a.senti_only:
        from transformers import BertForSequenceClassification
        C.seed_all()
        base = C.base_dir()
        tok = C.fast_tokenizer(base)
        model = BertForSequenceClassification.from_pretrained(
            base, num_labels=2, id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)})
        enc = [C.encode(tok, t) for t, _ in train]
        y = [int(l) for _, l in train]
        dev_enc = [C.encode(tok, t) for t, _ in dev]
        dev_y = np.array([int(l) for _, l in dev])

        def dev_acc(m):
            return float(np.mean(np.argmax(np.stack(C.predict(m, dev_enc)), 1) == dev_y))

        info = C.train(model, enc, y, dev_acc, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=4,
                       max_steps=a.max_steps)
        C.save_hf(model, base, hf)
        logits = np.stack(C.predict(model, dev_enc))
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        pred = p.argmax(1)
        C.write_jsonl(os.path.join(a.out, "pytorch-test.jsonl"),
                      [{"id": i, "label": NAMES[pred[i]], "score": float(p[i, pred[i]]),
                        "scores": {n: float(p[i, k]) for k, n in enumerate(NAMES)}} for i in range(len(dev))])
        res = {"model": "sst2", "task": "classify", "train": info,
               "data": {"train": "sst2/train.tsv", "select": "sst2/dev.tsv", "test": "sst2/dev.tsv"},
               "pytorch": {"accuracy": accuracy_score(dev_y, pred), "macro_f1": f1_score(dev_y, pred, average="macro"),
                           "n": len(dev)}}
        C.write_results(a.out, res)
    res = json.load(open(res_path))
    meta = C.provenance("sst2-minilm-l6", "train_sst2.py", "SST-2 train (GLUE), selected on SST-2 dev", res["train"])
    meta["senti.labels.source"] = "GLUE SST-2: 0 negative, 1 positive"
    rows = C.read_jsonl(os.path.join(a.out, "pytorch-test.jsonl"))
    res["senti"] = C.senti_half(a.out, hf, meta, [{"name": "dev", "task": "classify", "data": dev_p, "torch_rows": rows}],
                                q8_embed=True)
    C.write_results(a.out, res)
    if a.commit_model:
        fx = os.path.join(C.ROOT, "tests", "fixtures", "models")
        os.makedirs(fx, exist_ok=True)
        C.write_jsonl(os.path.join(fx, "sst2-dev-pytorch.jsonl"), rows)
        dst = os.path.join(C.ROOT, "models", "sst2-minilm-l6-q8_0.gguf")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(a.out, "model-q8_0.gguf"), dst)
        print(f"copied the q8_0 GGUF to {dst}")


if __name__ == "__main__":
    main()
