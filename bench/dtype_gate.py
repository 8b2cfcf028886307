#!/usr/bin/env python3
"""dtype_gate.py — the accuracy gate of the reduced-precision paths: labels of
`senti classify --dtype D` against `--dtype f32` on SST-2 dev (872, labelled)
and SST-2 test (1,821, unlabelled: agreement only), with dev accuracy against
the gold labels and the largest |score - f32 score|.

    bench/dtype_gate.py MODEL [--dtypes int8,q8_0,bf16] [--threads 2] [--md] [--input JSONL]
    bench/dtype_gate.py TAGGER --tag [--dtypes bf16] [--threads 2] [--md]

MODEL: an SST-2 sequence classifier (HF directory or GGUF) whose labels are
GLUE's (0 negative, 1 positive, in id2label order); or, with --input, any
classifier and that JSONL's records (one split, no gold labels; a
multi-label model's label sets are compared). SENTI (default build/senti)
and SENTI_SIMD pass through. --md prints the markdown table rows.
The gate: labels equal to f32 on >= 99.5% of each split.

--tag: TAGGER is a BIO token classifier over aspect-polarity and opinion spans
(tools/train/train_tagger.py: B-/I-POS, NEG, NEU, OP) run by `senti tag` on
each ASTE-Data-V2 test split (14lap, 14res, 15res, 16res). Compared with
f32: each token's label (--aggregation none; a token left out is O; the
special tokens are not counted), the spans of --aggregation first (the
evaluation's setting; agreement = spans in both / spans in either) and whole
sentences (the span set identical); with the exact-span F1 of each dtype
against the gold triplets (AESC: aspect span and polarity; OE: opinion span).
The gate holds on token labels and spans. A dtype "default" runs the command
without --dtype.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "assets", "data", "sst2")
ASTE = os.path.join(os.path.dirname(ROOT), "shared", "assets", "data", "aste-data-v2")
POLARITY = {"POS": "POS", "NEG": "NEG", "NEU": "NEU"}


def splits():
    dev = [l.split("\t") for l in open(os.path.join(DATA, "dev.tsv"), encoding="utf-8").read().splitlines()[1:]]
    test = [l.split("\t", 1)[1] for l in open(os.path.join(DATA, "test.tsv"), encoding="utf-8").read().splitlines()[1:]]
    return {"dev": ([t for t, _ in dev], [int(y) for _, y in dev]), "test": (test, None)}


def dtype_flag(dtype):
    """--dtype D; "default": none (the command's own choice: bf16 where the CPU has AVX512_BF16)."""
    return [] if dtype == "default" else ["--dtype", dtype]


def classify(senti, model, dtype, texts, threads, tmp):
    inp = os.path.join(tmp, "in.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            rec = dict(t, id=i) if isinstance(t, dict) else {"id": i, "text": t}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    out = os.path.join(tmp, f"out-{dtype}.jsonl")
    subprocess.run([senti, "classify", "-m", model] + dtype_flag(dtype) + ["--threads", str(threads), "--input", inp,
                    "--output", out], check=True, stderr=subprocess.DEVNULL)
    rows = [json.loads(l) for l in open(out, encoding="utf-8")]
    assert len(rows) == len(texts) and all("error" not in r for r in rows), out
    return rows


def lab(row):
    """The prediction compared: the label, or a multi-label model's label set."""
    return tuple(row["labels"]) if "labels" in row else row["label"]


def senti_jsonl(args, out):
    subprocess.run(args + ["--output", out], check=True, stderr=subprocess.DEVNULL)
    return [json.loads(l) for l in open(out, encoding="utf-8")]


def aste_split(path):
    """[(sentence, gold aesc {(start, end, POS|NEG|NEU)}, gold oe {(start, end)})] with code-point offsets."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "train"))
    import aste
    out = []
    for words, trips in aste.read_lines(path):
        st, c = [], 0
        for w in words:
            st.append(c)
            c += len(w) + 1
        span = lambda ix: (st[ix[0]], st[ix[-1]] + len(words[ix[-1]]))  # noqa: E731
        out.append((" ".join(words), {span(a) + (p,) for a, _, p in trips}, {span(o) for _, o, _ in trips}))
    return out


def prf1(gold, pred):
    c = len(gold & pred)
    p, r = (c / len(pred) if pred else 0.0), (c / len(gold) if gold else 0.0)
    return 2 * p * r / (p + r) if p + r else 0.0


def tag_gate(a, senti, tmp):
    """Per split and dtype: token, span and sentence agreement with f32, and F1 against the gold triplets."""
    res = {}
    for split in ("14lap", "14res", "15res", "16res"):
        rows = aste_split(os.path.join(ASTE, split, "test_triplets.txt"))
        inp = os.path.join(tmp, f"{split}.jsonl")
        with open(inp, "w", encoding="utf-8") as f:
            for i, (sent, _, _) in enumerate(rows):
                f.write(json.dumps({"id": i, "text": sent}, ensure_ascii=False) + "\n")
        p = subprocess.run([senti, "tokenize", "-m", a.model, "--no-special", "--input", inp], check=True,
                           stdout=subprocess.PIPE, text=True)
        toks = [json.loads(l) for l in p.stdout.splitlines()]
        assert len(toks) == len(rows)
        run = {}
        for dt in ["f32"] + a.dtypes.split(","):
            base = [senti, "tag", "-m", a.model] + dtype_flag(dt) + ["--threads", str(a.threads), "--input", inp]
            none = senti_jsonl(base + ["--aggregation", "none"], os.path.join(tmp, f"none-{dt}.jsonl"))
            first = senti_jsonl(base + ["--aggregation", "first"], os.path.join(tmp, f"first-{dt}.jsonl"))
            assert len(none) == len(first) == len(rows) and all("error" not in r for r in none + first)
            labels = [{(s["start"], s["end"]): s["type"] for s in r["spans"]} for r in none]
            spans = [{(s["start"], s["end"], s["type"]): s["score"] for s in r["spans"]} for r in first]
            run[dt] = (labels, spans)
        ref_l, ref_s = run["f32"]
        for dt, (labels, spans) in run.items():
            n_tok = same_tok = inter = union = same_sent = 0
            diff = 0.0
            flips = []
            for i, t in enumerate(toks):
                for s, e in t["offsets"]:
                    n_tok += 1
                    same_tok += labels[i].get((s, e), "O") == ref_l[i].get((s, e), "O")
                both = spans[i].keys() & ref_s[i].keys()
                inter += len(both)
                union += len(spans[i].keys() | ref_s[i].keys())
                diff = max([diff] + [abs(spans[i][k] - ref_s[i][k]) for k in both])
                if spans[i].keys() == ref_s[i].keys():
                    same_sent += 1
                else:
                    flips.append(i)
            aesc = prf1({(i,) + g for i, (_, ga, _) in enumerate(rows) for g in ga},
                        {(i,) + k for i, sp in enumerate(spans) for k in sp if k[2] in POLARITY})
            oe = prf1({(i,) + g for i, (_, _, go) in enumerate(rows) for g in go},
                      {(i, k[0], k[1]) for i, sp in enumerate(spans) for k in sp if k[2] == "OP"})
            res[(split, dt)] = {"n": len(rows), "tokens": n_tok, "same_tok": same_tok, "spans": union,
                                "same_spans": inter, "same_sent": same_sent, "max_score_diff": diff,
                                "aesc_f1": aesc, "oe_f1": oe, "flips": flips}
    ok = True
    for (split, dt), r in res.items():
        if dt == "f32":
            continue
        pt, ps, pn = (100.0 * r["same_tok"] / r["tokens"], 100.0 * r["same_spans"] / max(1, r["spans"]),
                      100.0 * r["same_sent"] / r["n"])
        ok = ok and pt >= 99.5 and ps >= 99.5
        f = res[(split, "f32")]
        if a.md:
            print(f"| {split} {r['n']} | {dt} | {r['same_tok']:,} / {r['tokens']:,} ({pt:.2f}%) | {r['same_spans']} / "
                  f"{r['spans']} ({ps:.2f}%) | {r['same_sent']} ({pn:.2f}%) | {r['max_score_diff']:.4f} | "
                  f"{100 * f['aesc_f1']:.2f} / {100 * r['aesc_f1']:.2f} | "
                  f"{100 * f['oe_f1']:.2f} / {100 * r['oe_f1']:.2f} |")
        else:
            print(f"{split} {dt}: token labels = f32 {r['same_tok']}/{r['tokens']} ({pt:.2f}%), spans "
                  f"{r['same_spans']}/{r['spans']} ({ps:.2f}%), sentences {r['same_sent']}/{r['n']} ({pn:.2f}%), "
                  f"max |span score diff| {r['max_score_diff']:.5f}, AESC F1 f32 {100 * f['aesc_f1']:.2f} / "
                  f"{100 * r['aesc_f1']:.2f}, OE F1 {100 * f['oe_f1']:.2f} / {100 * r['oe_f1']:.2f}, "
                  f"sentences that differ {r['flips'][:12]}")
    print("gate (token labels and spans >= 99.5% of each split):", "holds" if ok else "FAILS")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--dtypes", default="int8,q8_0,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--md", action="store_true")
    ap.add_argument("--input", help="JSONL records {text[, text_pair]} instead of the SST-2 splits")
    ap.add_argument("--tag", action="store_true", help="TAGGER on the ASTE-Data-V2 test splits (see above)")
    a = ap.parse_args()
    senti = os.environ.get("SENTI", os.path.join(ROOT, "build", "senti"))
    if a.tag:
        if a.dtypes == ap.get_default("dtypes"):
            a.dtypes = "bf16"
        with tempfile.TemporaryDirectory() as tmp:
            return tag_gate(a, senti, tmp)
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
