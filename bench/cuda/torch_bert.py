#!/usr/bin/env python3
"""torch_bert.py — the PyTorch side of `senti bench cuda`'s encoder rows: a
BERT-base-shaped encoder (transformers BertConfig defaults: 12 layers, hidden
768, 12 heads, FFN 3072, vocabulary 30522) with random weights, PyTorch eager
with SDPA attention, 128 tokens, batch 1 / 32 / 256, in f32 / f16 / bf16, no
padding (as the senti bench). Timed with CUDA events around each forward, the
median over --repeats after warm-up; writes JSON to --out. TF32 stays off
(PyTorch's default for matmuls), so f32 is true f32 as in senti."""
import argparse
import json
import statistics

import torch
import transformers
from transformers import BertConfig, BertModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--out", default="torch_bert.json")
    a = ap.parse_args()
    torch.manual_seed(0)
    dev = torch.device("cuda")
    cfg = BertConfig()  # BERT-base shapes
    cfg._attn_implementation = "sdpa"
    res = []
    for name, dt in (("f32", torch.float32), ("f16", torch.float16), ("bf16", torch.bfloat16)):
        model = BertModel(cfg, add_pooling_layer=False).to(dev, dt).eval()
        for B in (1, 32, 256):
            ids = torch.randint(0, cfg.vocab_size, (B, a.seq_len), device=dev)
            mask = torch.ones_like(ids)
            with torch.inference_mode():
                for _ in range(3):
                    model(input_ids=ids, attention_mask=mask)
                torch.cuda.synchronize()
                ms = []
                for _ in range(a.repeats):
                    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    e0.record()
                    y = model(input_ids=ids, attention_mask=mask).last_hidden_state
                    e1.record()
                    e1.synchronize()
                    ms.append(e0.elapsed_time(e1))
            med = statistics.median(ms)
            r = {"dtype": name, "batch": B, "seq_len": a.seq_len, "median_ms": med, "min_ms": min(ms),
                 "max_ms": max(ms), "repeats": a.repeats, "seq_per_s": B / (med * 1e-3),
                 "finite": bool(torch.isfinite(y).all())}
            print(json.dumps(r), flush=True)
            res.append(r)
        del model
        torch.cuda.empty_cache()
    meta = {"torch": torch.__version__, "transformers": transformers.__version__,
            "device": torch.cuda.get_device_name(), "attn_implementation": cfg._attn_implementation, "mode": "eager",
            "allow_tf32": torch.backends.cuda.matmul.allow_tf32}
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "results": res}, f, indent=1)


if __name__ == "__main__":
    main()
