#!/usr/bin/env python3
"""train_meld.py — emotion in conversation on MELD: an all-MiniLM-L6-v2
sequence classifier over the sentence pair (utterance, its previous N turns as
"speaker: text" joined by spaces), exactly as `senti dialogue --context N`
builds it (pair mode; the oldest turns dropped first when too long), trained
on MELD train, selected on dev by weighted F1 (the figure MELD papers report),
reported on test. Labels: MELD's seven emotions.

    python3 tools/train/train_meld.py [--context N] [--epochs N] [--senti-only]

Writes ../train-cache/meld/ as described in common.py.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

NAMES = ["neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear"]


def inputs(dialogues, n_ctx, tok, max_len=512):
    """Encoded (utterance, context) pairs and gold labels, utterance by utterance."""
    enc, y = [], []
    for _, turns in dialogues:
        for i, (spk, utt, emo) in enumerate(turns):
            first = max(0, i - n_ctx)
            ctx = [f"{s}: {u}" if s else u for s, u, _ in turns[first:i]]
            while True:
                e = tok.encode(utt, " ".join(ctx)) if ctx else tok.encode(utt)
                if len(e.ids) <= max_len or not ctx:
                    break
                ctx = ctx[1:]
            enc.append((e.ids, e.type_ids))
            y.append(NAMES.index(emo))
    return enc, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--context", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--max-steps", type=int, default=250, help="of 313 per epoch: the ~25-minute CPU budget")
    ap.add_argument("--senti-only", action="store_true")
    a = ap.parse_args()
    out = os.path.join(C.CACHE, "meld")
    os.makedirs(out, exist_ok=True)
    hf = os.path.join(out, "hf")
    test_p = os.path.join(C.DATA, "meld", "test_sent_emo.csv")
    if not a.senti_only:
        from transformers import BertForSequenceClassification
        C.seed_all()
        base = C.base_dir()
        tok = C.fast_tokenizer(base, max_length=100000)  # the context is cut turn by turn, as senti does
        train = C.read_meld(os.path.join(C.DATA, "meld", "train_sent_emo.csv"))
        dev = C.read_meld(os.path.join(C.DATA, "meld", "dev_sent_emo.csv"))
        test = C.read_meld(test_p)
        model = BertForSequenceClassification.from_pretrained(
            base, num_labels=len(NAMES), id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)})
        enc, y = inputs(train, a.context, tok)
        dev_enc, dev_y = inputs(dev, a.context, tok)

        def wf1(m):
            return float(f1_score(dev_y, np.argmax(np.stack(C.predict(m, dev_enc)), 1), average="weighted"))

        info = C.train(model, enc, y, wf1, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=2, max_steps=a.max_steps)
        info["context"] = a.context
        C.save_hf(model, base, hf)
        t_enc, t_y = inputs(test, a.context, tok)
        rows = C.softmax_rows(np.stack(C.predict(model, t_enc)), NAMES)
        k, recs = 0, []
        for d, turns in test:
            recs.append({"id": d, "utterances": rows[k:k + len(turns)]})
            k += len(turns)
        C.write_jsonl(os.path.join(out, "pytorch-test.jsonl"), recs)
        p = [NAMES.index(r["label"]) for r in rows]
        res = {"model": "meld", "task": "dialogue", "train": info,
               "data": {"train": "meld/train_sent_emo.csv", "select": "meld/dev_sent_emo.csv",
                        "test": "meld/test_sent_emo.csv"},
               "pytorch": {"weighted_f1": float(f1_score(t_y, p, average="weighted")),
                           "accuracy": float(np.mean(np.array(t_y) == np.array(p))),
                           "macro_f1": float(f1_score(t_y, p, average="macro")), "n": len(t_y)}}
        C.write_results(out, res)
    res = json.load(open(os.path.join(out, "results.json")))
    meta = C.provenance("meld-minilm-l6", "train_meld.py", f"MELD train with {res['train']['context']} turns of context, "
                        "selected on dev", res["train"])
    meta["senti.dialogue.context"] = str(res["train"]["context"])
    runs = [{"name": "test", "task": "dialogue", "data": test_p, "torch_rows": C.read_jsonl(os.path.join(out, "pytorch-test.jsonl")),
             "extra": ["--context", str(res["train"]["context"])]}]
    res["senti"] = C.senti_half(out, hf, meta, runs)
    C.write_results(out, res)


if __name__ == "__main__":
    main()
