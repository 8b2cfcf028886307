#!/usr/bin/env python3
"""train_tagger.py — unified aspect-sentiment (AESC) and opinion tagging: one
all-MiniLM-L6-v2 token classifier with BIO tags B-/I-POS, B-/I-NEG, B-/I-NEU
(aspect spans carrying their polarity) and B-/I-OP (opinion spans), trained on
the four ASTE-Data-V2 train sets together, selected on the four dev sets
(mean of AESC and opinion F1), reported per test set with the ABSA literature's
exact-span scoring (AE, OE, AESC). Every sub-token of a span is tagged (B on
the span's first token, I after), so `senti tag` decodes it with any
aggregation; the reported figures use --aggregation first. Where an aspect and
an opinion share words (54 of 5,989 sentences) the aspect's tags win.

    python3 tools/train/train_tagger.py [--epochs N] [--senti-only]

Writes ../train-cache/tagger/ as described in common.py (its model-q8_0.gguf
with q8_0 token embeddings too: --commit-model copies it to
models/absa-tagger-minilm-l6-q8_0.gguf) and
tests/fixtures/models/tagger-14res-test-pytorch.jsonl (the pipeline's spans on
the 14res test set, for tests/test_models.c).
"""
import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402

NAMES = ["O", "B-POS", "I-POS", "B-NEG", "I-NEG", "B-NEU", "I-NEU", "B-OP", "I-OP"]
TYPE = {"positive": "POS", "negative": "NEG", "neutral": "NEU"}


def word_starts(words):
    """Character offset of each word of the single-space joined sentence."""
    out, c = [], 0
    for w in words:
        out.append(c)
        c += len(w) + 1
    return out


def examples(path, tok):
    """[(ids, types, token labels, words, gold)] for one ASTE file."""
    out = []
    for words, trips in C.read_aste(path):
        sent = " ".join(words)
        wl = ["O"] * len(words)
        spans = []
        for kind, idx in [("OP", o) for _, o, _ in trips] + [(TYPE[s], a) for a, _, s in trips]:
            for k, w in enumerate(range(idx[0], idx[-1] + 1)):  # aspects last: they win on overlap
                wl[w] = ("B-" if k == 0 else "I-") + kind
        e = tok.encode(sent)
        starts = word_starts(words)
        labels, first_of = [], {}
        for t, ((a, b), sp) in enumerate(zip(e.offsets, e.special_tokens_mask)):
            if sp:
                labels.append(-100)
                continue
            w = max(i for i, s in enumerate(starts) if s <= a)
            lab = wl[w]
            if lab != "O" and w in first_of:
                lab = "I-" + lab[2:]  # not the word's first token
            first_of.setdefault(w, t)
            labels.append(NAMES.index(lab))
        gold = {"aesc": {(a[0], a[-1], TYPE[s]) for a, _, s in trips}, "oe": {(o[0], o[-1]) for _, o, _ in trips}}
        out.append((e.ids, e.type_ids, labels, words, gold, first_of))
    return out


def decode_words(logits, first_of, n_words):
    """Word-level spans from each word's first-token label, grouped by B-/I- as
    transformers' pipeline groups them: (first word, last word, type)."""
    spans, cur = [], None
    for w in range(n_words):
        lab = NAMES[int(np.argmax(logits[first_of[w]]))] if w in first_of else "O"
        if lab == "O":
            cur = None
            continue
        bi, ty = lab.split("-")
        if bi == "I" and cur is not None and cur[2] == ty:
            cur[1] = w
        else:
            cur = [w, w, ty]
            spans.append(cur)
    return [tuple(s) for s in spans]


def prf(gold, pred):
    c = len(gold & pred)
    p = c / len(pred) if pred else 0.0
    r = c / len(gold) if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


def score_words(exs, logits):
    g_a, p_a, g_o, p_o = set(), set(), set(), set()
    for i, (ex, lg) in enumerate(zip(exs, logits)):
        spans = decode_words(lg, ex[5], len(ex[3]))
        g_a |= {(i,) + t for t in ex[4]["aesc"]}
        g_o |= {(i,) + t for t in ex[4]["oe"]}
        p_a |= {(i, a, b, t) for a, b, t in spans if t != "OP"}
        p_o |= {(i, a, b) for a, b, t in spans if t == "OP"}
    return prf(g_a, p_a), prf(g_o, p_o)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--senti-only", action="store_true")
    ap.add_argument("--commit-model", action="store_true", help="copy the q8_0 GGUF to models/")
    a = ap.parse_args()
    out = os.path.join(C.CACHE, "tagger")
    os.makedirs(out, exist_ok=True)
    hf = os.path.join(out, "hf")
    tests = {p.split("/")[-2]: p for p in C.aste_files("test")}
    if not a.senti_only:
        from transformers import BertForTokenClassification, pipeline
        C.seed_all()
        base = C.base_dir()
        tok = C.fast_tokenizer(base)
        train = [x for p in C.aste_files("train") for x in examples(p, tok)]
        dev = [x for p in C.aste_files("dev") for x in examples(p, tok)]
        model = BertForTokenClassification.from_pretrained(
            base, num_labels=len(NAMES), id2label=dict(enumerate(NAMES)), label2id={n: i for i, n in enumerate(NAMES)})
        enc = [(x[0], x[1]) for x in train]
        y = [x[2] for x in train]
        dev_enc = [(x[0], x[1]) for x in dev]

        def dev_score(m):
            aesc, oe = score_words(dev, C.predict(m, dev_enc))
            return (aesc["f1"] + oe["f1"]) / 2

        info = C.train(model, enc, y, dev_score, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=1, token_level=True,
                       max_steps=a.max_steps)
        C.save_hf(model, base, hf)
        res = {"model": "tagger", "task": "tag", "train": info,
               "data": {"train": "aste-data-v2/*/train_triplets.txt", "select": "aste-data-v2/*/dev_triplets.txt",
                        "test": "aste-data-v2/*/test_triplets.txt"}, "pytorch": {}}
        pipe = pipeline("token-classification", model=hf, aggregation_strategy="first", device="cpu")
        for name, p in tests.items():
            rows, g = [], {"ae": set(), "aesc": set(), "oe": set()}
            pr = {"ae": set(), "aesc": set(), "oe": set()}
            for i, (words, trips) in enumerate(C.read_aste(p)):
                sent = " ".join(words)
                st = word_starts(words)
                ents = pipe(sent)
                rows.append({"id": i, "spans": [{"type": e["entity_group"], "start": int(e["start"]), "end": int(e["end"])}
                                                for e in ents]})
                for a_, o_, s in trips:
                    sp = (st[a_[0]], st[a_[-1]] + len(words[a_[-1]]))
                    g["ae"].add((i,) + sp)
                    g["aesc"].add((i,) + sp + (TYPE[s],))
                    g["oe"].add((i, st[o_[0]], st[o_[-1]] + len(words[o_[-1]])))
                for e in ents:
                    sp = (i, int(e["start"]), int(e["end"]))
                    if e["entity_group"] == "OP":
                        pr["oe"].add(sp)
                    else:
                        pr["ae"].add(sp)
                        pr["aesc"].add(sp + (e["entity_group"],))
            C.write_jsonl(os.path.join(out, f"pytorch-{name}.jsonl"), rows)
            res["pytorch"][name] = {k: prf(g[k], pr[k]) for k in ("ae", "oe", "aesc")}
        C.write_results(out, res)
    res = json.load(open(os.path.join(out, "results.json")))
    meta = C.provenance("absa-tagger-minilm-l6", "train_tagger.py",
                        "ASTE-Data-V2 train (14lap, 14res, 15res, 16res) as BIO aspect-polarity and opinion tags, "
                        "selected on dev", res["train"])
    runs = []
    for name, p in tests.items():
        rows = C.read_jsonl(os.path.join(out, f"pytorch-{name}.jsonl"))
        for task in ("aesc", "oe", "ae"):
            runs.append({"name": f"{name}-{task}", "task": task, "data": p, "torch_rows": rows,
                         "extra": ["--aggregation", "first"]})
    res["senti"] = C.senti_half(out, hf, meta, runs, q8_embed=True)
    C.write_results(out, res)
    fx = os.path.join(C.ROOT, "tests", "fixtures", "models")
    os.makedirs(fx, exist_ok=True)
    C.write_jsonl(os.path.join(fx, "tagger-14res-test-pytorch.jsonl"), C.read_jsonl(os.path.join(out, "pytorch-14res.jsonl")))
    if a.commit_model:
        dst = os.path.join(C.ROOT, "models", "absa-tagger-minilm-l6-q8_0.gguf")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(os.path.join(out, "model-q8_0.gguf"), dst)
        print(f"copied the q8_0 GGUF to {dst}")


if __name__ == "__main__":
    main()
