#!/usr/bin/env python3
"""sst2_llm_eval.py — LLM label-scoring sentiment on SST-2 dev with `senti zero-shot`.

A causal LM scores the labels " negative" and " positive" as the continuation of
a few-shot prompt (4 examples from SST-2 train, the first two of each class of
at most 12 words, then the dev sentence); `senti zero-shot -m MODEL
--no-chat-template --template T` does the scoring (length-normalised log
likelihood of each label's tokens, the prompt's KV cache shared), this script
builds the input and computes accuracy against the dev labels. (`senti eval
--task zero-shot`, issue 14, was not on main when this was measured.)

Usage: python3 bench/sst2_llm_eval.py MODEL.gguf [--senti build/senti] [--n N] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "assets", "data", "sst2")


def rows(name):
    """(text, label) rows of a split; train.tsv is "label<TAB>sentence" (CRLF), dev.tsv "text<TAB>label"."""
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        out = [l.rstrip("\r\n").split("\t") for l in f][1:]
    return [(b.strip(), int(a)) if a.strip().isdigit() else (a.strip(), int(b)) for a, b in out]


def template():
    shots, need = [], {1: 2, 0: 2}
    for t, y in rows("train.tsv"):
        if need[y] and len(t.split()) <= 12:
            shots.append((t, y))
            need[y] -= 1
        if not any(need.values()):
            break
    shots.sort(key=lambda s: -s[1])  # positive, positive, negative, negative ... interleave
    shots = [shots[0], shots[2], shots[1], shots[3]]
    lab = {1: "positive", 0: "negative"}
    p = "".join(f"Review: {t}\nSentiment: {lab[y]}\n\n" for t, y in shots)
    return p + "Review: {text}\nSentiment:"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"))
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    dev = rows("dev.tsv")
    if a.n:
        dev = dev[: a.n]
    tmpl = template()
    with tempfile.TemporaryDirectory() as tmp:
        inp = os.path.join(tmp, "in.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for i, (t, _) in enumerate(dev):
                f.write(json.dumps({"id": i, "text": t, "labels": [" negative", " positive"]}) + "\n")
        cmd = [a.senti, "zero-shot", "-m", a.model, "--labels", "negative,positive", "--no-chat-template",
               "--template", tmpl, "--input", inp, "--threads", str(a.threads)]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.time() - t0
        if r.returncode:
            sys.exit(f"senti zero-shot failed: {r.stderr}")
    got = [json.loads(l) for l in r.stdout.splitlines()]
    pred = [1 if g["label"].strip() == "positive" else 0 for g in got]
    acc = sum(p == y for p, (_, y) in zip(pred, dev)) / len(dev)
    pos = sum(pred) / len(pred)
    print(json.dumps({"records": len(dev), "accuracy": round(acc, 4), "predicted_positive": round(pos, 4),
                      "seconds": round(secs, 1), "template": tmpl}))
    print(r.stderr.strip().splitlines()[0] if r.stderr.strip() else "", file=sys.stderr)


if __name__ == "__main__":
    main()
