#!/usr/bin/env python3
"""train_tweeteval.py — the TweetEval tasks of MAST: emotion, irony, offensive
and hate, one all-MiniLM-L6-v2 sequence classifier each, trained on the task's
train split, selected on its validation split by the task's official metric,
reported on its test split (Barbieri et al. 2020: macro-F1 for emotion, hate
and offensive; the F1 of the "irony" class for irony).

    python3 tools/train/train_tweeteval.py [--tasks emotion,irony,offensive,hate] [--senti-only]

Writes ../train-cache/tweeteval-TASK/ as described in common.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

EPOCHS = {"emotion": 3, "irony": 2, "offensive": 1, "hate": 1}
MAX_STEPS = {"offensive": 300}  # of 373 per epoch: the ~25-minute CPU budget


def official(task, y, p, names):
    """TweetEval's metric for task (y, p: label indices)."""
    if task == "irony":
        return f1_score(y, p, labels=[names.index("irony")], average="macro")
    return f1_score(y, p, average="macro")


def one(task, a):
    out = os.path.join(C.CACHE, f"tweeteval-{task}")
    os.makedirs(out, exist_ok=True)
    hf = os.path.join(out, "hf")
    test_p = os.path.join(C.DATA, "tweeteval", task, "test_text.txt")
    test, names = C.read_tweeteval(task, "test")
    if not a.senti_only:
        from transformers import BertForSequenceClassification
        C.seed_all()
        base = C.base_dir()
        tok = C.fast_tokenizer(base)
        train, _ = C.read_tweeteval(task, "train")
        val, _ = C.read_tweeteval(task, "val")
        model = BertForSequenceClassification.from_pretrained(
            base, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
        enc = [C.encode(tok, t) for t, _ in train]
        y = [names.index(l) for _, l in train]
        val_enc = [C.encode(tok, t) for t, _ in val]
        val_y = np.array([names.index(l) for _, l in val])

        def dev(m):
            return float(official(task, val_y, np.argmax(np.stack(C.predict(m, val_enc)), 1), names))

        info = C.train(model, enc, y, dev, epochs=a.epochs or EPOCHS[task], lr=a.lr, bs=32, evals_per_epoch=2,
                         max_steps=a.max_steps or MAX_STEPS.get(task, 0))
        C.save_hf(model, base, hf)
        test_enc = [C.encode(tok, t) for t, _ in test]
        rows = C.softmax_rows(np.stack(C.predict(model, test_enc)), names)
        C.write_jsonl(os.path.join(out, "pytorch-test.jsonl"), [dict(id=i, **r) for i, r in enumerate(rows)])
        ty = np.array([names.index(l) for _, l in test])
        tp = np.array([names.index(r["label"]) for r in rows])
        res = {"model": f"tweeteval-{task}", "task": "classify", "train": info,
               "data": {"train": f"tweeteval/{task}/train", "select": f"tweeteval/{task}/val",
                        "test": f"tweeteval/{task}/test"},
               "pytorch": {"accuracy": float(np.mean(ty == tp)), "macro_f1": float(f1_score(ty, tp, average="macro")),
                           "official": float(official(task, ty, tp, names)), "n": len(test)}}
        C.write_results(out, res)
    res = json.load(open(os.path.join(out, "results.json")))
    rows = C.read_jsonl(os.path.join(out, "pytorch-test.jsonl"))
    meta = C.provenance(f"tweeteval-{task}-minilm-l6", "train_tweeteval.py", f"TweetEval {task} train, selected on val",
                        res["train"])
    res["senti"] = C.senti_half(out, hf, meta, [{"name": "test", "task": "classify", "data": test_p, "torch_rows": rows}])
    C.write_results(out, res)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="emotion,irony,offensive,hate")
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--senti-only", action="store_true")
    a = ap.parse_args()
    for t in a.tasks.split(","):
        one(t, a)


if __name__ == "__main__":
    main()
