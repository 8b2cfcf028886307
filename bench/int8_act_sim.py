#!/usr/bin/env python3
"""int8_act_sim.py — where int8's label flips come from: a float64 PyTorch
simulation of senti's int8 arithmetic on a real sequence classifier, with
the activations quantized per row (senti's int8) or per block of K values,
against the same model unquantized, on SST-2 dev (872) and test (1,821).

    /work/venv/bin/python bench/int8_act_sim.py HF_DIR [--blocks 64,128] [--levels 63] [--threads 2]

The rules are senti's (cpu/qgemm.c): weights int8 per output channel
(dw = max|w| / 127, round, clamp to [-127, 127]); activations centred on the
mid-range c of the row (or block), da = half range / 127, q = round((x - c) / da).
Every nn.Linear of the encoder and pooler is quantized; the classification head
stays float (one 384 x 2 product). "weights only" keeps float activations;
--levels L adds per-row runs with activations in [-L, L] (63: 7 bits, what
u7 x s8 vpmaddubsw pairs need to stay exact). Each
flipped record is printed with the float model's P(positive).
Not senti's bytes (float64, PyTorch's kernels): a model of its error, run in
one process so the rows compare like with like.
"""
import argparse
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SST2 = os.path.join(ROOT, "..", "shared", "assets", "data", "sst2")


def sst2(split):
    with open(os.path.join(SST2, f"{split}.tsv"), encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f][1:]
    return [r[0] for r in rows] if split == "dev" else [r[1] for r in rows]  # dev: text, label; test: id, text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="HF directory of a 2-label SST-2 classifier")
    ap.add_argument("--blocks", default="64,128", help="activation block sizes to try (must divide every K)")
    ap.add_argument("--levels", default="", help="activation levels to try per row besides 127 (e.g. 63)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    torch.set_num_threads(a.threads)
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(a.model).eval().double()
    mode = {"on": False, "block": None, "levels": 127}

    def quant_act(x):
        k, b = x.shape[-1], mode["block"]
        xb = x.reshape(-1, 1, k) if b is None else x.reshape(-1, k // b, b)
        hi, lo = xb.amax(-1, keepdim=True), xb.amin(-1, keepdim=True)
        lv = mode["levels"]
        c, da = (hi + lo) / 2, (hi - lo) / 2 / lv
        da = torch.where(da == 0, torch.ones_like(da), da)
        return (torch.clamp(torch.round((xb - c) / da), -lv, lv) * da + c).reshape(x.shape)

    lin = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and "classifier" not in n}
    w32 = {n: m.weight.data.clone() for n, m in lin.items()}
    w8 = {}
    for n, w in w32.items():
        dw = w.abs().amax(1, keepdim=True) / 127
        w8[n] = torch.clamp(torch.round(w / torch.where(dw == 0, torch.ones_like(dw), dw)), -127, 127) * dw
    for m in lin.values():
        m.register_forward_pre_hook(lambda mod, inp: (quant_act(inp[0]),) if mode["on"] else None)

    def labels(texts, weights, act, block=None, probs=None, levels=127):
        for n, m in lin.items():
            m.weight.data = weights[n]
        mode.update(on=act, block=block, levels=levels)
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 64):
                enc = tok(texts[i:i + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
                logits = model(**enc).logits
                out += logits.argmax(-1).tolist()
                if probs is not None:
                    probs += torch.softmax(logits, -1)[:, 1].tolist()
        return np.array(out)

    blocks = [int(b) for b in a.blocks.split(",") if b]
    for split in ("dev", "test"):
        texts = sst2(split)
        p = []
        ref = labels(texts, w32, False, probs=p)
        runs = [("weights only", w8, False, None), ("per row (senti int8)", w8, True, None)]
        runs += [(f"per block of {b}", w8, True, b) for b in blocks]
        runs = [r + (127,) for r in runs]
        runs += [(f"per row, levels +-{v}", w8, True, None, int(v)) for v in a.levels.split(",") if v]
        for name, w, act, b, lv in runs:
            l = labels(texts, w, act, b, levels=lv)
            same, flips = int((l == ref).sum()), np.flatnonzero(l != ref)
            print(f"{split} {len(ref)} | {name} | {same} ({100 * same / len(ref):.2f}%) | "
                  + ", ".join(f"{i} ({p[i]:.3f})" for i in flips), flush=True)
        near = sum(abs(x - 0.5) < 0.01 for x in p)
        print(f"{split}: {near} of {len(p)} sentences have the float model's P(positive) within 0.01 of 0.5", flush=True)


if __name__ == "__main__":
    main()
