"""engines.py — each engine as load() then run(texts) -> (labels, probabilities, seconds).

Invariants: run() is timed from the raw strings to the labels, tokenization
included; the Python engines tokenize with HF tokenizers (the Rust fast
tokenizer, one encode_batch of all texts, no padding) and feed length-sorted
batches of `batch` rows padded to their longest; the transformers pipeline
gets the strings in input order; senti is its own process reading the same
strings as JSONL and its own reported time (which excludes loading the model)
is the time. Every engine runs on `threads` intra-op threads and one
inter-op thread. Labels are indices into models.LABELS, in input order.
"""
import json
import os
import re
import subprocess
import tempfile
import time

import numpy as np

from models import LABELS


def softmax(x):
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Batched:
    """Shared driver: tokenize all, sort by length, run fixed-size batches."""

    def __init__(self, tokenizer_file, batch):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(tokenizer_file)
        self.tok.no_padding()
        self.tok.enable_truncation(512)
        self.batch = batch

    def forward(self, ids, mask, lens):  # -> logits [b, labels]
        raise NotImplementedError

    def run(self, texts):
        t0 = time.perf_counter()
        enc = self.tok.encode_batch(texts)
        seqs = [e.ids for e in enc]
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        logits = np.zeros((len(seqs), len(LABELS)), dtype=np.float32)
        for b in range(0, len(order), self.batch):
            idx = order[b:b + self.batch]
            lens = [len(seqs[i]) for i in idx]
            ids = np.zeros((len(idx), max(lens)), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(idx):
                ids[r, :lens[r]] = seqs[i]
                mask[r, :lens[r]] = 1
            logits[idx] = self.forward(ids, mask, [seqs[i] for i in idx])
        labels = logits.argmax(axis=1)
        dt = time.perf_counter() - t0
        return labels.tolist(), softmax(logits), dt


class Torch(Batched):
    name = "PyTorch f32, sorted batches"

    def __init__(self, hf_dir, tokenizer_file, batch, threads):
        super().__init__(tokenizer_file, batch)
        import torch
        from transformers import AutoModelForSequenceClassification
        self.torch = torch
        self.model = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
        self.attn = getattr(self.model.config, "_attn_implementation", "?")

    def forward(self, ids, mask, seqs):
        t = self.torch
        with t.inference_mode():
            i = t.from_numpy(ids)
            out = self.model(input_ids=i, attention_mask=t.from_numpy(mask), token_type_ids=t.zeros_like(i))
        return out.logits.float().numpy()


class Pipeline:
    name = "transformers pipeline"

    def __init__(self, hf_dir, batch):
        from transformers import pipeline
        self.pipe = pipeline("text-classification", model=hf_dir, tokenizer=hf_dir, device="cpu")
        self.batch = batch
        self.label2id = {l: i for i, l in enumerate(LABELS)}

    def run(self, texts):
        t0 = time.perf_counter()
        out = self.pipe(list(texts), batch_size=self.batch, top_k=None, num_workers=0)
        dt = time.perf_counter() - t0
        probs = np.zeros((len(texts), len(LABELS)))
        for r, o in enumerate(out):
            for d in o:
                probs[r, self.label2id[d["label"]]] = d["score"]
        return probs.argmax(axis=1).tolist(), probs, dt


class Ort(Batched):
    def __init__(self, path, tokenizer_file, batch, threads, name):
        super().__init__(tokenizer_file, batch)
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: (np.int32 if "int32" in i.type else np.int64) for i in self.sess.get_inputs()}
        self.name = name

    def forward(self, ids, mask, seqs):
        feed = {}
        for n, dt in self.inputs.items():
            src = ids if n == "input_ids" else mask if n == "attention_mask" else np.zeros_like(ids)
            feed[n] = src.astype(dt, copy=False)
        return self.sess.run(["logits"], feed)[0]


class Ct2(Batched):
    def __init__(self, d, tokenizer_file, batch, threads, compute_type, name):
        super().__init__(tokenizer_file, batch)
        import ctranslate2
        self.enc = ctranslate2.Encoder(d, device="cpu", compute_type=compute_type, intra_threads=threads,
                                       inter_threads=1)
        h = np.load(os.path.join(d, "head.npz"))
        self.pw, self.pb, self.cw, self.cb = h["pooler_w"], h["pooler_b"], h["cls_w"], h["cls_b"]
        self.name = name
        self.pooled_by = None

    def forward(self, ids, mask, seqs):
        out = self.enc.forward_batch(seqs)
        if out.pooler_output is not None:  # CTranslate2 ran BERT's pooler (dense + tanh on [CLS])
            pooled = np.asarray(out.pooler_output, dtype=np.float32)
            self.pooled_by = "ctranslate2"
        else:  # the pooler in numpy, from the [CLS] row of the last hidden state
            cls = np.asarray(out.last_hidden_state, dtype=np.float32)[:, 0, :]
            pooled = np.tanh(cls @ self.pw.T + self.pb)
            self.pooled_by = "numpy"
        return pooled @ self.cw.T + self.cb


SUMMARY = re.compile(r"senti: (\d+) records \((\d+) errors.*?([\d.]+) records/s, ([\d.]+) s")


class Senti:
    """`senti classify` as a process; its summary line gives the time (model loading excluded)."""

    def __init__(self, senti, hf_dir, tokenizer_file, threads, dtype, name, workdir):
        self.cmd = [senti, "classify", "-m", hf_dir, "--tokenizer", tokenizer_file, "--threads", str(threads)]
        if dtype:
            self.cmd += ["--dtype", dtype]
        self.name = name
        self.workdir = workdir
        self.last = None

    def run(self, texts):
        fd, inp = tempfile.mkstemp(suffix=".jsonl", dir=self.workdir)
        out = inp[:-6] + ".out.jsonl"
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                for i, s in enumerate(texts):
                    f.write(json.dumps({"id": i, "text": s}, ensure_ascii=False) + "\n")
            t0 = time.perf_counter()
            p = subprocess.run(self.cmd + ["--input", inp, "--output", out], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(self.cmd)} exited {p.returncode}: {p.stderr.strip()[-600:]}")
            m = SUMMARY.search(p.stderr)
            if not m:
                raise RuntimeError(f"no summary line in senti's stderr: {p.stderr.strip()[-600:]}")
            if int(m.group(1)) != len(texts) or int(m.group(2)) != 0:
                raise RuntimeError(f"senti answered {m.group(1)} records with {m.group(2)} errors of {len(texts)}")
            probs = np.zeros((len(texts), len(LABELS)))
            with open(out, encoding="utf-8") as f:
                for line in f:
                    o = json.loads(line)
                    for l, s in o["scores"].items():
                        probs[o["id"], LABELS.index(l)] = s
            self.last = {"wall_s": wall, "summary": [l for l in p.stderr.splitlines() if l.startswith("senti: ")]}
            # seconds from the records/s figure (printed to 0.1 records/s; the seconds only to 0.01 s)
            return probs.argmax(axis=1).tolist(), probs, len(texts) / float(m.group(3))
        finally:
            for p in (inp, out, out + ".progress"):
                if os.path.exists(p):
                    os.unlink(p)
