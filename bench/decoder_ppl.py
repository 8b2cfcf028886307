#!/usr/bin/env python3
"""Perplexity delta of reduced-precision decoder weights (issue 7).

A random-weight LLaMA (tools/fixtures/make_llamacpp_ggufs.py's llama-h256-l1: hidden 256,
1 layer, vocab 512, a BPE tokenizer trained on SST-2) in the GGUF files llama.cpp made from
it (f32, q8_0, Q4_K_M, Q6_K) and the ones `senti convert` makes from its HF directory
(f16, bf16, q8_0, q4_0). The text (SST-2 dev sentences) is tokenized by senti from the
f32 GGUF's embedded vocabulary, cut into windows of --ctx tokens, and every window is run
with `senti logits` several windows per call (a padded batch); perplexity =
exp(mean NLL of each next token). A random model's perplexity is meaningless in absolute
terms (about the vocabulary size): what is reported is the change against f32.

  python3 bench/decoder_ppl.py --senti build/senti --peers /work/peers/gguf-fixtures [--tokens 4096]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(os.path.dirname(ROOT), "shared", "assets")


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def ppl(senti, model, windows):
    nll, n = 0.0, 0
    for i in range(0, len(windows), 8):
        batch = windows[i:i + 8]
        args = [senti, "logits", "-m", model]
        for w in batch:
            args += ["--ids", ",".join(map(str, w))]
        out = json.loads(run(args))
        B, T, V = out["shape"] if len(out["shape"]) == 3 else [1] + out["shape"]
        data = out["data"]
        for b, w in enumerate(batch):
            for t in range(len(w) - 1):
                row = data[(b * T + t) * V:(b * T + t + 1) * V]
                m = max(row)
                lse = m + math.log(sum(math.exp(x - m) for x in row))
                nll += lse - row[w[t + 1]]
                n += 1
    return math.exp(nll / n), n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"))
    ap.add_argument("--peers", default="/work/peers/gguf-fixtures")
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--ctx", type=int, default=128)
    a = ap.parse_args()
    d = os.path.join(a.peers, "llama-h256-l1")
    f32 = os.path.join(d, "llama-h256-l1-f32.gguf")
    text = []
    with open(os.path.join(ASSETS, "data", "sst2", "dev.tsv")) as f:
        next(f)
        for line in f:
            text.append(line.split("\t")[0].strip())
    ids = []
    for i in range(0, len(text), 50):
        ids += json.loads(run([a.senti, "tokenize", "-m", f32, "--no-special", " ".join(text[i:i + 50])]))["ids"]
        if len(ids) >= a.tokens:
            break
    ids = ids[:a.tokens]
    windows = [ids[i:i + a.ctx] for i in range(0, len(ids) - 1, a.ctx) if len(ids[i:i + a.ctx]) > 1]
    files = [("f32 (llama.cpp)", f32)]
    for ty in ("q8_0", "Q6_K", "Q4_K_M"):
        files.append(("%s (llama.cpp)" % ty, os.path.join(d, "llama-h256-l1-%s.gguf" % ty)))
    with tempfile.TemporaryDirectory() as tmp:
        for ty in ("f16", "bf16", "q8_0", "q4_0"):
            out = os.path.join(tmp, "%s.gguf" % ty)
            run([a.senti, "convert", os.path.join(d, "hf"), out, "--type", ty])
            files.append(("%s (senti convert)" % ty, out))
        base = None
        print("tokens scored: %d in windows of %d (SST-2 dev text)" % (len(ids) - len(windows), a.ctx))
        print("| weights | perplexity | delta vs f32 |")
        print("|---|---|---|")
        for name, path in files:
            p, n = ppl(a.senti, path, windows)
            base = base or p
            print("| %s | %.4f | %+.4f (%+.3f%%) |" % (name, p, p - base, 100 * (p - base) / base))


if __name__ == "__main__":
    sys.exit(main())
