#!/usr/bin/env python3
"""train_aspect.py — aspect-level sentiment: an all-MiniLM-L6-v2 sequence
classifier over the sentence pair (sentence, aspect term), as `senti aspect`
feeds it, trained on the (sentence, aspect, polarity) pairs of the four
ASTE-Data-V2 train sets together (14lap, 14res, 15res, 16res; an aspect
string whose triplets disagree on polarity is left out, as senti eval does),
selected on the four dev sets together (accuracy), reported on each test set.
Labels: negative, neutral, positive.

    python3 tools/train/train_aspect.py [--epochs N] [--senti-only]

Writes ../train-cache/aspect/ as described in common.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

NAMES = ["negative", "neutral", "positive"]


def pairs(path):
    """[(record index, sentence, aspect, sentiment or None)] in senti's order: per
    sentence its distinct aspect strings in order of first appearance."""
    out = []
    for i, (words, trips) in enumerate(C.read_aste(path)):
        sent = " ".join(words)
        asp, pol = [], []
        for a, _, s in trips:
            t = " ".join(words[a[0]:a[-1] + 1])
            if t not in asp:
                asp.append(t)
                pol.append(s)
            elif pol[asp.index(t)] != s:
                pol[asp.index(t)] = None
        out += [(i, sent, t, s) for t, s in zip(asp, pol)]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--senti-only", action="store_true")
    a = ap.parse_args()
    out = os.path.join(C.CACHE, "aspect")
    os.makedirs(out, exist_ok=True)
    hf = os.path.join(out, "hf")
    tests = {p.split("/")[-2]: p for p in C.aste_files("test")}
    if not a.senti_only:
        from transformers import BertForSequenceClassification
        C.seed_all()
        base = C.base_dir()
        tok = C.fast_tokenizer(base)
        train = [x for p in C.aste_files("train") for x in pairs(p) if x[3]]
        dev = [x for p in C.aste_files("dev") for x in pairs(p) if x[3]]
        model = BertForSequenceClassification.from_pretrained(
            base, num_labels=3, id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)})
        enc = [C.encode(tok, s, t) for _, s, t, _ in train]
        y = [NAMES.index(p) for *_, p in train]
        dev_enc = [C.encode(tok, s, t) for _, s, t, _ in dev]
        dev_y = np.array([NAMES.index(p) for *_, p in dev])

        def acc(m):
            return float(np.mean(np.argmax(np.stack(C.predict(m, dev_enc)), 1) == dev_y))

        info = C.train(model, enc, y, acc, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=2, max_steps=a.max_steps)
        info["train_pairs"], info["dev_pairs"] = len(train), len(dev)
        C.save_hf(model, base, hf)
        res = {"model": "aspect", "task": "aspect", "train": info,
               "data": {"train": "aste-data-v2/*/train_triplets.txt", "select": "aste-data-v2/*/dev_triplets.txt",
                        "test": "aste-data-v2/*/test_triplets.txt"}, "pytorch": {}}
        for name, p in tests.items():
            ps = pairs(p)
            logits = np.stack(C.predict(model, [C.encode(tok, s, t) for _, s, t, _ in ps]))
            rows = C.softmax_rows(logits, NAMES)
            recs = {}
            for (i, s, t, g), r in zip(ps, rows):
                recs.setdefault(i, []).append({"aspect": t, "sentiment": r["label"], "score": r["score"], "scores": r["scores"]})
            C.write_jsonl(os.path.join(out, f"pytorch-{name}.jsonl"),
                          [{"id": i, "aspects": recs[i]} for i in sorted(recs)])
            y_t = [g for (_, _, _, g) in ps if g]
            y_p = [r["label"] for (_, _, _, g), r in zip(ps, rows) if g]
            res["pytorch"][name] = {"accuracy": float(np.mean(np.array(y_t) == np.array(y_p))),
                                    "macro_f1": float(f1_score(y_t, y_p, average="macro")), "n": len(y_t)}
        C.write_results(out, res)
    res = json.load(open(os.path.join(out, "results.json")))
    meta = C.provenance("aspect-minilm-l6", "train_aspect.py",
                        "(sentence, aspect) pairs of ASTE-Data-V2 train (14lap, 14res, 15res, 16res), selected on dev",
                        res["train"])
    runs = [{"name": name, "task": "aspect", "data": p, "torch_rows": C.read_jsonl(os.path.join(out, f"pytorch-{name}.jsonl"))}
            for name, p in tests.items()]
    res["senti"] = C.senti_half(out, hf, meta, runs)
    C.write_results(out, res)


if __name__ == "__main__":
    main()
