#!/usr/bin/env python3
"""quant_table.py — accuracy of a trained model in every weight type senti
writes: the HF directory converted with `senti convert --type T --embed-type T`
for T in f32, f16, bf16, q8_0, q4_0 (the layers' linear weights and the token
embeddings both in T; norms, biases and the classifier's output layer f32),
each run through `senti eval` on the model's test split, with the file size,
the share of predictions equal to the f32 file's and (classifiers) the
probability difference from PyTorch's f32 predictions; then q8_0 split in its
two halves (linear weights only, token embeddings only).

    python3 tools/train/quant_table.py [sst2 tagger ...]

Writes ../train-cache/NAME/quant.json (read by models_md.py).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0"]
# (label, linear type, embedding type): the five types, then the two halves of q8_0 apart
VARIANTS = [(t, t, t) for t in TYPES] + [("q8_0 linear, f32 embeddings", "q8_0", "f32"),
                                           ("f32 linear, q8_0 embeddings", "f32", "q8_0")]
D = C.DATA
SPECS = {
    "sst2": {"task": "classify", "data": f"{D}/sst2/dev.tsv", "metric": "accuracy", "torch": "pytorch-test.jsonl"},
    "tweeteval-emotion": {"task": "classify", "data": f"{D}/tweeteval/emotion/test_text.txt", "metric": "macro_f1",
                          "torch": "pytorch-test.jsonl"},
    "tweeteval-irony": {"task": "classify", "data": f"{D}/tweeteval/irony/test_text.txt", "metric": "accuracy"},
    "tweeteval-offensive": {"task": "classify", "data": f"{D}/tweeteval/offensive/test_text.txt", "metric": "macro_f1"},
    "tweeteval-hate": {"task": "classify", "data": f"{D}/tweeteval/hate/test_text.txt", "metric": "macro_f1"},
    "aspect": {"task": "aspect", "data": f"{D}/aste-data-v2/14res/test_triplets.txt", "metric": "accuracy"},
    "tagger": {"task": "aesc", "data": f"{D}/aste-data-v2/14res/test_triplets.txt", "metric": "f1",
               "extra": ["--aggregation", "first"]},
    "meld": {"task": "dialogue", "data": f"{D}/meld/test_sent_emo.csv", "metric": "weighted_f1",
             "extra": ["--context", "2"], "torch": "pytorch-test.jsonl"},
}


def main():
    names = sys.argv[1:] or ["sst2"]
    for name in names:
        spec = SPECS[name]
        out = os.path.join(C.CACHE, name)
        hf = os.path.join(out, "hf")
        rows, base = [], None
        torch_rows = spec.get("torch")
        tp = os.path.join(out, torch_rows) if torch_rows else None
        for k, (label, t, e) in enumerate(VARIANTS):
            g = os.path.join(out, f"quant-{k}.gguf")
            C.convert(hf, g, t, embed_type=e)
            pf = os.path.join(out, f"quant-{k}.jsonl")
            m = C.senti_eval(g, spec["task"], spec["data"], predictions=pf, extra=spec.get("extra", ()),
                             dtype=C.float_dtype(e if e == t else "mixed"))
            rows_k = C.read_jsonl(pf)
            items = [x for row in rows_k for x in C.items_of(spec["task"], row)]
            if base is None:
                base = items
            d = C.score_diffs(spec["task"], rows_k, C.read_jsonl(tp)) if tp and os.path.exists(tp) else []
            rows.append({"type": label, "bytes": os.path.getsize(g), "metric": spec["metric"],
                         "value": m["metrics"][spec["metric"]],
                         "agreement_with_f32": sum(a == b for a, b in zip(items, base)) / len(base),
                         "score_diff_vs_pytorch": {"mean": sum(d) / len(d), "max": max(d)} if d else None})
            os.remove(g)
            print(name, rows[-1], flush=True)
        with open(os.path.join(out, "quant.json"), "w") as f:
            json.dump({"model": name, "data": spec["data"].replace(D + "/", ""), "task": spec["task"], "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
