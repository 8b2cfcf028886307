#!/usr/bin/env python3
"""bench_e2e.py — end-to-end `senti classify` throughput on a BERT-base-shaped model.

Builds (once, cached in --model-dir) a BertForSequenceClassification with the
bert-base-uncased shape (12 layers, hidden 768, 12 heads, FFN 3072, 30522-token
vocabulary, 2 labels) and random weights (transformers `_from_config`, seeded),
saved as safetensors; writes a file of real sentences of mixed length (SST-2
dev + test sentences and TweetEval sentiment tweets, shuffled with a fixed
seed) from ../shared/assets/data; then runs

    senti classify -m MODEL --tokenizer bert-base-uncased/tokenizer.json
                   --input FILE --output OUT --threads T [--no-bucketing]

with length bucketing (the default: a window of records sorted by length, cut
into batches under --max-batch-tokens) and without (batches in input order,
each padded to its longest), alternating the two, --repeats times each. It
reports records/s (median and min..max over repeats), the padding efficiency,
the time split between reading, tokenization, the model, and decoding +
writing (parsed from senti's summary lines), the model's executed GFLOP/s
(linear layers over padded tokens), and as the in-run reference `senti bench`
(BERT-base forward, 8 x 128 tokens) before and after.

Usage (from the repository root, after building):
    python3 bench/bench_e2e.py --senti build/senti [--records 2000] [--repeats 3]
        [--threads 2] [--batch-size 32] [--json]
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "assets")
TOKENIZER = os.path.join(SHARED, "tokenizers", "bert-base-uncased", "tokenizer.json")


def make_model(d):
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    torch.manual_seed(0)
    cfg = BertConfig(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                     label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model = BertForSequenceClassification(cfg).eval()
    model.save_pretrained(d)


def sentences(n, seed=7):
    out = []
    for split in ("dev.tsv", "test.tsv"):
        with open(os.path.join(SHARED, "data", "sst2", split), encoding="utf-8") as f:
            next(f)
            out += [l.rstrip("\n").split("\t")[0].strip() for l in f]
    with open(os.path.join(SHARED, "data", "tweeteval", "sentiment", "test_text.txt"), encoding="utf-8") as f:
        out += [l.strip() for l in f]
    out = [s for s in out if s]
    random.Random(seed).shuffle(out)
    return out[:n]


SUMMARY = re.compile(r"(\d+) records .*?, (\d+) tokens in (\d+) batches, padding efficiency ([\d.]+)%, "
                     r"([\d.]+) records/s, ([\d.]+) s")
SPLIT = re.compile(r"reading ([\d.]+) s, tokenizing ([\d.]+) s, model ([\d.]+) s, decoding and writing ([\d.]+) s")


def run(args, model, inp, bucketed):
    out = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
    cmd = [args.senti, "classify", "-m", model, "--tokenizer", TOKENIZER, "--input", inp, "--output", out,
           "--threads", str(args.threads), "--batch-size", str(args.batch_size)]
    if not bucketed:
        cmd.append("--no-bucketing")
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"senti failed: {p.stderr}")
    m, s = SUMMARY.search(p.stderr), SPLIT.search(p.stderr)
    with open(out, encoding="utf-8") as f:
        n = sum(1 for _ in f)
    os.remove(out)
    os.remove(out + ".progress")
    return dict(records=int(m[1]), lines=n, tokens=int(m[2]), batches=int(m[3]), efficiency=float(m[4]),
                rate=float(m[5]), seconds=float(m[6]), read=float(s[1]), tokenize=float(s[2]),
                model=float(s[3]), output=float(s[4]))


def flops(tokens, padded_tokens, batches):
    """FLOPs of BERT-base's linear layers (97% of the total at 128 tokens) over the padded tokens:
    2 * (4 * 768 * 768 + 2 * 768 * 3072) per token per layer, 12 layers."""
    lin = 2 * (4 * 768 * 768 + 2 * 768 * 3072) * 12
    return lin * padded_tokens


def reference(args):
    """`senti bench` in the same run: the engine's BERT-base forward at 8 x 128 tokens (GFLOP/s)."""
    p = subprocess.run([args.senti, "bench", "--batch", "8", "--seq-len", "128", "--repeats", "1", "--threads",
                        str(args.threads)], capture_output=True, text=True)
    m = re.search(r"([\d.]+) GFLOP/s", p.stdout + p.stderr)
    return float(m[1]) if m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"))
    ap.add_argument("--model-dir", default=os.path.join(tempfile.gettempdir(), "senti-bench-bert-base-seq"))
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    make_model(args.model_dir)
    texts = sentences(args.records)
    inp = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8")
    for t in texts:
        inp.write(t.replace("\n", " ") + "\n")
    inp.close()
    res = {True: [], False: []}
    ref = [reference(args)]
    for _ in range(args.repeats):
        for b in (True, False):
            r = run(args, args.model_dir, inp.name, b)
            assert r["lines"] == len(texts), r
            res[b].append(r)
    ref.append(reference(args))
    os.remove(inp.name)
    summary = {"reference_gflops": ref}
    for b, rs in res.items():
        key = "bucketed" if b else "padded"
        rates = [r["rate"] for r in rs]
        med = lambda k: statistics.median(r[k] for r in rs)
        summary[key] = dict(records_per_s=statistics.median(rates), min=min(rates), max=max(rates),
                            padding_efficiency=rs[0]["efficiency"], batches=rs[0]["batches"],
                            tokens=rs[0]["tokens"], seconds=med("seconds"), read_s=med("read"),
                            tokenize_s=med("tokenize"), model_s=med("model"), output_s=med("output"))
        padded = rs[0]["tokens"] / (rs[0]["efficiency"] / 100.0)
        summary[key]["model_gflops_executed"] = flops(rs[0]["tokens"], padded, rs[0]["batches"]) / med("model") / 1e9
    summary["speedup"] = summary["bucketed"]["records_per_s"] / summary["padded"]["records_per_s"]
    summary["records"] = len(texts)
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"{len(texts)} sentences (SST-2 + TweetEval), BERT-base shape, --threads {args.threads}, "
          f"--batch-size {args.batch_size}, {args.repeats} repeats (median, min..max)")
    print("| batching | records/s | padding efficiency | batches | tokenize s | model s | decode+write s | read s | total s | model GFLOP/s (linear layers, padded tokens) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in ("bucketed", "padded"):
        s = summary[key]
        print(f"| {key} | {s['records_per_s']:.1f} ({s['min']:.1f}..{s['max']:.1f}) | "
              f"{s['padding_efficiency']:.1f}% | {s['batches']} | {s['tokenize_s']:.3f} | {s['model_s']:.2f} | "
              f"{s['output_s']:.3f} | {s['read_s']:.3f} | {s['seconds']:.2f} | {s['model_gflops_executed']:.1f} |")
    print(f"bucketed / padded: {summary['speedup']:.2f}x")
    print(f"same run, `senti bench --batch 8 --seq-len 128` before / after: "
          f"{summary['reference_gflops'][0]:.1f} / {summary['reference_gflops'][1]:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
