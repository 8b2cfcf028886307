#!/usr/bin/env python3
"""encdec_bench.py — encoder-decoder generation tokens/s, senti beside transformers, in one run.

A Flan-T5-base-shaped random model (d_model 768, 12 heads of 64, d_ff 2048, gated-GELU,
12 encoder + 12 decoder layers, vocabulary 32128, untied head) is saved with save_pretrained
outside the repository (--model-dir, default /tmp/senti-flan-t5-base-random; made once). The
prompts are the first sentences of tests/fixtures/tasks/golden.json through the t5-small
tokenizer. Each case generates greedily max_new_tokens per prompt:

  batch 1:  --prompts prompts one after another (senti --batch-size 1; transformers one
            generate() per prompt);
  batch 16: 16 prompts as one batch (senti --batch-size 16; transformers one padded generate()).

senti is timed by the CLI's own "model" seconds (`senti generate`, load excluded);
transformers by wall time around generate() (torch with the same thread count). tokens/s =
generated tokens / seconds (each system's own count: both stop at eos). Medians over --repeats
with min..max. Both must give the same ids (checked, reported).

The random weights (transformers' own init) make every greedy step pick the pad id, never eos, so
every run generates exactly max_new_tokens per prompt on both sides.

Usage (from the repository root, after building build/senti):
    python3 bench/encdec_bench.py [--threads 2] [--repeats 3] [--max-new-tokens 16] [--prompts 2]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

import torch
import transformers
from transformers import AutoTokenizer, T5Config, T5ForConditionalGeneration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOK = os.path.join(os.path.dirname(ROOT), "shared/assets/tokenizers/t5-small")


def make_model(d):
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return
    torch.manual_seed(0)
    cfg = T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_decoder_layers=12,
                   num_heads=12, feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.0,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    m = T5ForConditionalGeneration._from_config(cfg, dtype=torch.float32)
    m.save_pretrained(d)


def run_senti(senti, d, prompts, batch, max_new, threads):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for i, p in enumerate(prompts):
            f.write(json.dumps({"id": i, "text": p}) + "\n")
        path = f.name
    cmd = [senti, "generate", "-m", d, "--tokenizer", os.path.join(TOK, "tokenizer.json"), "--input", path,
           "--batch-size", str(batch), "--max-new-tokens", str(max_new), "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    os.unlink(path)
    if r.returncode:
        raise SystemExit(r.stderr)
    secs = float(re.search(r"model ([0-9.]+) s", r.stderr).group(1))
    ids = [json.loads(x)["ids"] for x in r.stdout.splitlines()]
    return secs, ids, cmd


@torch.no_grad()
def run_hf(model, tok, prompts, batch, max_new):
    ids = []
    t0 = time.perf_counter()
    for k in range(0, len(prompts), batch):
        enc = tok(prompts[k:k + batch], return_tensors="pt", padding=True)
        out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, num_beams=1)
        for row in out.tolist():
            row = row[1:]
            cut = []
            for t in row:
                cut.append(t)
                if t == 1:
                    break
            ids.append(cut)  # padding only follows an eos; a generated pad id is a token
    return time.perf_counter() - t0, ids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="/tmp/senti-flan-t5-base-random")
    ap.add_argument("--senti", default=os.path.join(ROOT, "build/senti"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=2, help="prompts of the batch-1 case")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    make_model(a.model_dir)
    tok = AutoTokenizer.from_pretrained(TOK)
    with open(os.path.join(ROOT, "tests/fixtures/tasks/golden.json")) as f:
        texts = json.load(f)["texts"]
    model = T5ForConditionalGeneration.from_pretrained(a.model_dir, dtype=torch.float32).eval()
    print(f"# load: {os.getloadavg()}  transformers {transformers.__version__} torch {torch.__version__} "
          f"threads {a.threads}")
    for batch, prompts in ((1, texts[:a.prompts]), (16, texts[:16])):
        res = {"senti": [], "transformers": []}
        same = True
        for _ in range(a.repeats):
            s_secs, s_ids, cmd = run_senti(a.senti, a.model_dir, prompts, batch, a.max_new_tokens, a.threads)
            h_secs, h_ids = run_hf(model, tok, prompts, batch, a.max_new_tokens)
            res["senti"].append(sum(map(len, s_ids)) / s_secs)
            res["transformers"].append(sum(map(len, h_ids)) / h_secs)
            same &= s_ids == h_ids
        for k, v in res.items():
            print(f"batch {batch:2d}  {k:12s} tokens/s median {statistics.median(v):8.1f}  "
                  f"min {min(v):8.1f}  max {max(v):8.1f}  (n={len(v)})")
        print(f"batch {batch:2d}  senti/transformers {statistics.median(res['senti']) / max(statistics.median(res['transformers']), 1e-9):.2f}x"
              f"  ids identical: {same}  senti: {' '.join(cmd[:2])} ... --batch-size {batch}")
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
