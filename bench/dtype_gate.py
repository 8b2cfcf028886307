#!/usr/bin/env python3
"""dtype_gate.py — the accuracy gate of the reduced-precision paths: labels of
`senti classify --dtype D` against `--dtype f32` on SST-2 dev (872, labelled)
and SST-2 test (1,821, unlabelled: agreement only), with dev accuracy against
the gold labels and the largest |score - f32 score|.

    bench/dtype_gate.py MODEL [--dtypes int8,q8_0,bf16] [--threads 2] [--md] [--input JSONL]

MODEL: an SST-2 sequence classifier (HF directory or GGUF) whose labels are
GLUE's (0 negative, 1 positive, in id2label order); or, with --input, any
classifier and that JSONL's records (one split, no gold labels; a
multi-label model's label sets are compared). SENTI (default build/senti)
and SENTI_SIMD pass through. --md prints the markdown table rows.
The gate: labels equal to f32 on >= 99.5% of each split.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "assets", "data", "sst2")


def splits():
    dev = [l.split("\t") for l in open(os.path.join(DATA, "dev.tsv"), encoding="utf-8").read().splitlines()[1:]]
    test = [l.split("\t", 1)[1] for l in open(os.path.join(DATA, "test.tsv"), encoding="utf-8").read().splitlines()[1:]]
    return {"dev": ([t for t, _ in dev], [int(y) for _, y in dev]), "test": (test, None)}


def classify(senti, model, dtype, texts, threads, tmp):
    inp = os.path.join(tmp, "in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            rec = dict(t, id=i) if isinstance(t, dict) else {"id": i, "text": t}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    out = os.path.join(tmp, f"out-{dtype}.jsonl")
    subprocess.run([senti, "classify", "-m", model, "--dtype", dtype, "--threads", str(threads), "--input", inp,
                    "--output", out], check=True, stderr=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    assert len(rows) == len(texts) and all("error" not in r for r in rows), out
    return rows


def lab(row):
    """The prediction compared: the label, or a multi-label model's label set."""
    return tuple(row["labels"]) if "labels" in row else row["label"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dtypes", default="int8,q8_0,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--md", action="store_true")
    ap.add_argument("--input", help="JSONL records {text[, text_pair]} instead of the SST-2 splits")
    a = ap.parse_args()
    senti = os.environ.get("SENTI", os.path.join(ROOT, "build", "senti"))
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        sp = splits()
        if a.input:
            recs = [json.loads(l) for l in open(a.input, encoding="utf-8") if l.strip()]
            sp = {os.path.basename(a.input): ([{k: r[k] for k in ("text", "text_pair") if k in r} for r in recs], None)}
        for name, (texts, gold) in sp.items():
            ref = classify(senti, a.model, "f32", texts, a.threads, tmp)
            names = list(ref[0]["scores"])
            rows = {"f32": ref}
            for dt in a.dtypes.split(","):
                rows[dt] = classify(senti, a.model, dt, texts, a.threads, tmp)
            for dt, rs in rows.items():
                same = sum(lab(r) == lab(q) for r, q in zip(rs, ref))
                diff = max(abs(r["scores"][k] - q["scores"][k]) for r, q in zip(rs, ref) for k in names)
                acc = None
                if gold is not None:
                    acc = sum(names.index(r["label"]) == y for r, y in zip(rs, gold)) / len(gold)
                res[(name, dt)] = {"n": len(rs), "same": same, "max_score_diff": diff, "accuracy": acc,
                                   "flips": [i for i, (r, q) in enumerate(zip(rs, ref)) if lab(r) != lab(q)]}
    ok = True
    for (name, dt), r in res.items():
        if dt == "f32":
            continue
        pct = 100.0 * r["same"] / r["n"]
        ok = ok and pct >= 99.5
        acc = f"{100 * r['accuracy']:.2f}%" if r["accuracy"] is not None else "—"
        if a.md:
            print(f"| {name} {r['n']:,} | {dt} | {r['same']:,} ({pct:.2f}%) | {r['max_score_diff']:.4f} | {acc} |")
        else:
            print(f"{name} {dt}: labels = f32 {r['same']}/{r['n']} ({pct:.2f}%), max |score diff| "
                  f"{r['max_score_diff']:.5f}, accuracy {acc}, flips {r['flips'][:12]}")
    for (name, dt), r in res.items():
        if dt == "f32" and r["accuracy"] is not None:
            print(f"{name} f32 accuracy {100 * r['accuracy']:.2f}%")
    print("gate (>= 99.5% of each split):", "holds" if ok else "FAILS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
