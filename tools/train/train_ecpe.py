#!/usr/bin/env python3
"""train_ecpe.py — emotion-cause pair extraction on Xia & Ding's (2019) ECPE
corpus with the two-step pipeline that `senti cause` runs: (1) one clause
classifier, multi-label over {"emotion", "cause"}, on the sentence pair
(clause, its neighbouring clauses within --context joined by "，"); (2) a pair
classifier, labels {"no", "pair"}, on the sentence pair (emotion clause,
"<j-i> " + cause clause) for every (emotion, cause) candidate of step 1 within
--window clauses. Both are all-MiniLM-L6-v2 fine-tuned per fold; the folds are
the corpus's own (fold K tested on foldK_test.txt, trained on the other
documents of all_data_pair.txt), scored as the paper does (pair / emotion /
cause P/R/F1 over sets, emotion and cause read off the pairs).

CPU budget: each step trains on every positive input and a seeded --keep share
of the negatives (default 0.3), one epoch; log(keep) then goes into the
positive logits' bias, which undoes the subsampling's shift of the odds.

MiniLM's vocabulary is bert-base-uncased's, which holds only 244 CJK
characters: 70.9% of the corpus's tokens are [UNK]. So the vocabulary is
extended with every CJK character of the corpus text (no labels used), each
new row starting as the [UNK] vector and trained with its own learning rate
(--embed-lr); the HF directory carries the extended vocab.txt /
tokenizer.json, which senti reads like any other.

    python3 tools/train/train_ecpe.py [--folds 1,2,…] [--epochs N] [--max-steps N] [--keep X]
                                      [--only clause|pair|eval|senti]

--only runs one part for each fold: train the clause model, train the pair
model (the two can run side by side), test both with PyTorch, or run senti
(senti eval --task cause on the HF directories and their f32 / q8_0 GGUFs, and
senti classify on the clause inputs against PyTorch's probabilities). What
bench/MODELS.md reports ran as: fold 1 only, `--only clause --max-steps 120`
beside `--only pair`, then `--only eval`, then `--only senti`.

Writes ../train-cache/ecpe/foldK/{clause,pair}/hf, foldK/pytorch-test.jsonl
(the pipeline's predictions in senti cause's shape) and results.json.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ECPE = os.path.join(C.DATA, "ecpe")
SEP = "，"


def read_docs(path):
    """[(doc_id, [clause text], [(e, c)] 1-based)] as tasks/datasets.c reads them."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        d, n = map(int, lines[i].split())
        pairs = [tuple(p) for p in eval("[" + lines[i + 1].strip() + "]")]  # noqa: S307 (the corpus's literal)
        clauses = [l.rstrip("\r").split(",", 3)[3] for l in lines[i + 2:i + 2 + n]]
        out.append((d, clauses, pairs))
        i += 2 + n
    return out


def clause_input(clauses, i, k):
    """(text, pair or None) of clause i (0-based): as senti cause builds it."""
    ctx = [clauses[j] for j in range(max(0, i - k), min(len(clauses), i + k + 1)) if j != i]
    return clauses[i], (SEP.join(ctx) if ctx else None)


def pair_input(clauses, e, c):
    """(text, pair) of candidate (emotion e, cause c), 0-based."""
    return clauses[e], f"{c - e} {clauses[c]}"


def extend_vocab(base, out, docs):
    """A copy of base with every CJK character of docs appended to the vocabulary."""
    from transformers import AutoModel
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    vocab = [l.rstrip("\n") for l in open(os.path.join(base, "vocab.txt"), encoding="utf-8")]
    have = set(vocab)
    new = sorted({ch for _, cl, _ in docs for t in cl for ch in t
                  if ("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf") and ch not in have})
    os.makedirs(out, exist_ok=True)
    m = AutoModel.from_pretrained(base)
    unk = vocab.index("[UNK]")
    old = m.embeddings.word_embeddings.weight.data.clone()
    m.resize_token_embeddings(len(vocab) + len(new))
    w = m.embeddings.word_embeddings.weight.data
    w[:len(vocab)] = old
    w[len(vocab):] = old[unk]
    m.save_pretrained(out)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab + new) + "\n")
    tj = json.load(open(os.path.join(base, "tokenizer.json"), encoding="utf-8"))
    for k, ch in enumerate(new):
        tj["model"]["vocab"][ch] = len(vocab) + k
    tj["truncation"] = None
    tj["padding"] = None
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        with open(os.path.join(base, name), encoding="utf-8") as src, open(os.path.join(out, name), "w",
                                                                            encoding="utf-8") as dst:
            dst.write(src.read())
    print(f"vocabulary: {len(vocab)} + {len(new)} CJK characters", flush=True)
    return out


def unk_rate(tok, docs):
    n = u = 0
    for _, cl, _ in docs:
        for t in cl:
            toks = tok.encode(t, add_special_tokens=False).tokens
            n += len(toks)
            u += sum(1 for x in toks if x == "[UNK]")
    return u / max(1, n), n


def clause_data(docs, tok, k, keep, rng):
    """Every clause with a positive label, and each other clause with probability keep."""
    enc, y = [], []
    for _, cl, pairs in docs:
        emo = {e for e, _ in pairs}
        cau = {c for _, c in pairs}
        for i in range(len(cl)):
            t = [float(i + 1 in emo), float(i + 1 in cau)]
            if max(t) == 0 and rng.random() >= keep:
                continue
            enc.append(C.encode(tok, *clause_input(cl, i, k)))
            y.append(t)
    return enc, y


def pair_data(docs, tok, window, keep, rng):
    """Gold emotion clauses x every clause within the window (the candidates step 2 sees);
    the negatives kept with probability keep."""
    enc, y = [], []
    for _, cl, pairs in docs:
        gold = set(pairs)
        for e in sorted({e for e, _ in pairs}):
            for c in range(max(1, e - window), min(len(cl), e + window) + 1):
                if (e, c) not in gold and rng.random() >= keep:
                    continue
                enc.append(C.encode(tok, *pair_input(cl, e - 1, c - 1)))
                y.append(int((e, c) in gold))
    return enc, y


def prior_correct(model, keep, multi):
    """Undo the negative subsampling in the logits: the odds of a positive were
    raised by 1/keep, so log(keep) goes into the positive logit's bias (each
    sigmoid label's; the "pair" logit of the softmax)."""
    with torch.no_grad():
        b = model.classifier.bias
        if multi:
            b += float(np.log(keep))
        else:
            b[1] += float(np.log(keep))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def pipeline(docs, tok, cm, pm, k, window):
    """senti cause's results (1-based clause numbers) for docs, from PyTorch."""
    enc = [C.encode(tok, *clause_input(cl, i, k)) for _, cl, _ in docs for i in range(len(cl))]
    probs = [sigmoid(z) for z in C.predict(cm, enc)]
    pipeline.probs = probs  # step 1's probabilities, for clause_ranking
    rows, cand, at = [], [], 0
    for d, cl, _ in docs:
        p = probs[at:at + len(cl)]
        at += len(cl)
        emo = [i + 1 for i in range(len(cl)) if p[i][0] >= 0.5]
        cau = [i + 1 for i in range(len(cl)) if p[i][1] >= 0.5]
        rows.append({"id": d, "emotions": emo, "causes": cau, "pairs": []})
        cand += [(len(rows) - 1, e, c) for e in emo for c in cau if abs(c - e) <= window]
    if cand:
        penc = [C.encode(tok, *pair_input(docs[r][1], e - 1, c - 1)) for r, e, c in cand]
        for (r, e, c), z in zip(cand, C.predict(pm, penc)):
            q = np.exp(z - z.max())
            q /= q.sum()
            if q[1] >= 0.5:
                rows[r]["pairs"].append({"emotion": e, "cause": c, "score": float(q[1])})
    return rows


def clause_ranking(docs, probs):
    """How well step 1's probabilities rank the gold emotion / cause clauses, whatever the threshold: ROC AUC,
    and the probabilities' range."""
    from sklearn.metrics import roc_auc_score
    out = {}
    for name, pos in (("emotion", 0), ("cause", 1)):
        y = [any(p[pos] == i + 1 for p in ps) for _, cl, ps in docs for i in range(len(cl))]
        q = [float(p[pos]) for p in probs]
        out[name] = {"auc": float(roc_auc_score(y, q)), "min": min(q), "max": max(q),
                     "mean_gold": float(np.mean([x for x, t in zip(q, y) if t])),
                     "mean_other": float(np.mean([x for x, t in zip(q, y) if not t]))}
    return out


def prf(hit, gold, pred):
    p = hit / (pred + 1e-8)
    r = hit / (gold + 1e-8)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r + 1e-8), "gold": gold, "predicted": pred,
            "correct": hit}


def score(docs, rows):
    """Xia & Ding's pair / emotion / cause P/R/F1 (emotion and cause read off the pairs)."""
    res = {}
    for name, key in (("pair", lambda p: (p[0], p[1])), ("emotion", lambda p: p[0]), ("cause", lambda p: p[1])):
        g = {(k, key(p)) for k, (_, _, ps) in enumerate(docs) for p in ps}
        q = {(k, key((p["emotion"], p["cause"]))) for k, r in enumerate(rows) for p in r["pairs"]}
        res[name] = prf(len(g & q), len(g), len(q))
    for name, field, pos in (("emotion_clauses", "emotions", 0), ("cause_clauses", "causes", 1)):  # step 1 alone
        g = {(k, p[pos]) for k, (_, _, ps) in enumerate(docs) for p in ps}
        q = {(k, c) for k, r in enumerate(rows) for c in r[field]}
        res[name] = prf(len(g & q), len(g), len(q))
    return res


def train_fold(fold, a, base, tok, docs):
    out = os.path.join(C.CACHE, "ecpe", f"fold{fold}")
    os.makedirs(out, exist_ok=True)
    test = read_docs(os.path.join(ECPE, f"fold{fold}_test.txt"))  # in the file's order, as senti eval reads it
    test_ids = {d for d, _, _ in test}
    train = [x for x in docs if x[0] not in test_ids]
    from transformers import BertForSequenceClassification
    import random
    last = lambda m: 0.0  # noqa: E731 (no dev split in the paper's protocol: the last state is kept)
    info = {}
    rpath = os.path.join(out, "train-info.json")
    if os.path.exists(rpath):
        info = json.load(open(rpath))
    if a.only in ("", "clause"):
        C.seed_all()
        cm = BertForSequenceClassification.from_pretrained(
            base, num_labels=2, id2label={0: "emotion", 1: "cause"}, label2id={"emotion": 0, "cause": 1},
            problem_type="multi_label_classification")
        enc, y = clause_data(train, tok, a.context, a.keep, random.Random(C.SEED))
        info["clause"] = C.train(cm, enc, y, last, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=1,
                                 max_steps=a.max_steps, freeze_embeddings=False, embed_lr=a.embed_lr)
        prior_correct(cm, a.keep, True)
        info["clause"]["negatives_kept"] = a.keep
        C.save_hf(cm, base, os.path.join(out, "clause", "hf"))
        info2 = json.load(open(rpath)) if os.path.exists(rpath) else {}  # the pair part may run beside this one
        info2["clause"] = info["clause"]
        info = info2
        json.dump(info, open(rpath, "w"), indent=1)
    if a.only in ("", "pair"):
        C.seed_all()
        pm = BertForSequenceClassification.from_pretrained(
            base, num_labels=2, id2label={0: "no", 1: "pair"}, label2id={"no": 0, "pair": 1})
        enc, y = pair_data(train, tok, a.window, a.keep, random.Random(C.SEED))
        info["pair"] = C.train(pm, enc, y, last, epochs=a.epochs, lr=a.lr, bs=32, evals_per_epoch=1,
                               max_steps=a.max_steps, freeze_embeddings=False, embed_lr=a.embed_lr)
        prior_correct(pm, a.keep, False)
        info["pair"]["negatives_kept"] = a.keep
        C.save_hf(pm, base, os.path.join(out, "pair", "hf"))
        info2 = json.load(open(rpath)) if os.path.exists(rpath) else {}
        info2["pair"] = info["pair"]
        info = info2
        json.dump(info, open(rpath, "w"), indent=1)
    if a.only not in ("", "eval"):
        return None
    cm = BertForSequenceClassification.from_pretrained(os.path.join(out, "clause", "hf"))
    pm = BertForSequenceClassification.from_pretrained(os.path.join(out, "pair", "hf"))
    rows = pipeline(test, tok, cm, pm, a.context, a.window)
    C.write_jsonl(os.path.join(out, "pytorch-test.jsonl"), rows)
    with open(os.path.join(out, "pytorch-clause-probs.json"), "w") as f:
        json.dump([[float(x) for x in p] for p in pipeline.probs], f)
    res = {"fold": fold, "train_docs": len(train), "test_docs": len(test), "clause": info.get("clause"),
           "pair": info.get("pair"),
           "pytorch": score(test, rows), "clause_ranking": clause_ranking(test, pipeline.probs)}
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res["pytorch"]), flush=True)
    return res


def senti_fold(fold, a):
    """senti cause on fold's test documents through senti eval --task cause, on the HF directories and
    their f32 / q8_0 GGUFs: the metrics and the agreement with PyTorch's pairs, emotions and causes."""
    out = os.path.join(C.CACHE, "ecpe", f"fold{fold}")
    data = os.path.join(ECPE, f"fold{fold}_test.txt")
    torch_rows = C.read_jsonl(os.path.join(out, "pytorch-test.jsonl"))
    res = {}
    for variant in a.senti_variants.split(","):
        paths = {}
        for part in ("clause", "pair"):
            hf = os.path.join(out, part, "hf")
            if variant == "hf":
                paths[part] = hf
            else:
                paths[part] = os.path.join(out, part, f"model-{variant}.gguf")
                if not os.path.exists(paths[part]):
                    C.convert(hf, paths[part], variant, {"general.name": f"ecpe-{part}-fold{fold}-minilm-l6"})
        # step 1 alone: senti classify on the clause inputs against PyTorch's probabilities
        test = read_docs(data)
        cin = os.path.join(out, "clause-inputs.jsonl")
        C.write_jsonl(cin, [dict({"id": k, "text": t}, **({"text_pair": p} if p is not None else {}))
                            for k, (t, p) in enumerate(clause_input(cl, i, a.context) for _, cl, _ in test
                                                       for i in range(len(cl)))])
        cout = subprocess.run([C.senti_bin(), "classify", "-m", paths["clause"], "--input", cin, "--threads", "1"],
                              stdout=subprocess.PIPE, text=True, check=True).stdout
        q = np.array([[r["scores"]["emotion"], r["scores"]["cause"]] for r in map(json.loads, cout.splitlines())])
        pt = np.array(json.load(open(os.path.join(out, "pytorch-clause-probs.json"))))
        pdiff = np.abs(q - pt)
        pf = os.path.join(out, f"senti-test-{variant}.jsonl")
        m = C.senti_eval(paths["clause"], "cause", data, predictions=pf,
                         extra=["--pair-model", paths["pair"], "--context", str(a.context), "--pair-window",
                                str(a.window)])
        rows = C.read_jsonl(pf)
        assert len(rows) == len(torch_rows) and all(x["id"] == y["id"] for x, y in zip(rows, torch_rows))
        same = {k: sum(1 for x, y in zip(rows, torch_rows) if sorted(x.get(k, [])) == sorted(y.get(k, [])))
                for k in ("emotions", "causes")}
        key = lambda r: sorted((p["emotion"], p["cause"]) for p in r.get("pairs", []))  # noqa: E731
        same["pairs"] = sum(1 for x, y in zip(rows, torch_rows) if key(x) == key(y))
        d = [abs(p["score"] - q["score"]) for x, y in zip(rows, torch_rows) if key(x) == key(y)
             for p, q in zip(sorted(x["pairs"], key=lambda z: (z["emotion"], z["cause"])),
                             sorted(y["pairs"], key=lambda z: (z["emotion"], z["cause"])))]
        res[variant] = {"metrics": m["metrics"], "seconds": m.get("seconds"),
                        "documents_agreeing_with_pytorch": {k: v / len(rows) for k, v in same.items()},
                        "pair_score_diff_max": max(d) if d else 0.0,
                        "clause_prob_diff": {"mean": float(pdiff.mean()), "max": float(pdiff.max()), "n": int(len(q))},
                        "clause_decisions_agreeing": float(np.mean((q >= 0.5) == (pt >= 0.5))),
                        "file_bytes": sum(os.path.getsize(p) for p in paths.values()) if variant != "hf" else None}
        print(f"  senti {variant}: pair F1 {m['metrics']['pair']['f1']:.4f}, agreement {res[variant]['documents_agreeing_with_pytorch']}",
              flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--context", type=int, default=1)
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--embed-lr", type=float, default=1e-3)
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--only", default="", choices=["", "clause", "pair", "eval", "senti"],
                    help="one part of each fold (train the clause or the pair model, test both with PyTorch, "
                         "or with senti)")
    ap.add_argument("--senti-variants", default="hf,f32,q8_0", help="what --only senti runs: hf, f32, q8_0")
    ap.add_argument("--keep", type=float, default=0.3, help="share of the negative inputs trained on (CPU budget)")
    a = ap.parse_args()
    docs = read_docs(os.path.join(ECPE, "all_data_pair.txt"))
    base0 = C.base_dir()
    base = extend_vocab(base0, os.path.join(C.CACHE, "ecpe", "base-zh"), docs)
    tok0 = C.fast_tokenizer(base0, max_length=512)
    tok = C.fast_tokenizer(base, max_length=512)
    summary = {"unk_rate_minilm": unk_rate(tok0, docs), "unk_rate_extended": unk_rate(tok, docs),
               "context": a.context, "window": a.window, "folds": {}}
    print(json.dumps(summary), flush=True)
    path = os.path.join(C.CACHE, "ecpe", "results.json")
    if os.path.exists(path):
        old = json.load(open(path))
        summary["folds"] = old.get("folds", {})
    for f in [int(x) for x in a.folds.split(",")]:
        if a.only == "senti":
            summary["folds"][str(f)]["senti"] = senti_fold(f, a)
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(summary, fh, indent=1)
            continue
        r = train_fold(f, a, base, tok, docs)
        if r is None:
            continue
        summary["folds"][str(f)] = r
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(summary, fh, indent=1)


if __name__ == "__main__":
    main()
