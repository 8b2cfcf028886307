"""senti — sentiment analysis with the senti inference engine, from Python.

A thin ctypes binding over the public C API (include/senti.h): a Model
loads a task per kind on first use and runs texts through the same batch
runner as the `senti` command, so every number equals the command's output
for the same text. Results are shaped like transformers' pipelines' outputs;
embeddings and logits are numpy arrays. The GIL is released while the engine
runs (ctypes releases it around every foreign call); one Model may be used
from several threads (calls on one task are serialised).
"""
import ctypes
import json
import os
import threading

import numpy as np

__all__ = ["Model", "Error", "version", "default_model"]
__version__ = "0.1.0"

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_library():
    env = os.environ.get("SENTI_LIBRARY")
    names = [env] if env else []
    names += [os.path.join(_HERE, "libsenti.so")]
    for n in names:
        if n and os.path.exists(n):
            return ctypes.CDLL(n)
    raise ImportError("senti: libsenti.so not found in %s (install with `pip install .` from the senti "
                      "checkout, or set SENTI_LIBRARY)" % _HERE)


_lib = _load_library()

# ---- the C structs and functions (include/senti.h) -------------------------------------

(KIND_CLASSIFY, KIND_ASPECT, KIND_TAG, KIND_ZERO_SHOT, KIND_DIALOGUE, KIND_EMBED, KIND_GENERATE) = range(7)
_AGG = {"none": 0, "simple": 1, "first": 2, "average": 3, "max": 4}
_TYPES = {"f32": 0, "f16": 1, "bf16": 2, "q8_0": 4, "q4_0": 5, "int8": 8}  # senti_type (include/senti.h)
_TYPE_AS_STORED = 9  # SENTI_TYPE_COUNT


class _ModelOpts(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int), ("weight_type", ctypes.c_int), ("device", ctypes.c_char_p),
                ("no_weight_check", ctypes.c_int), ("prefer_bf16", ctypes.c_int)]


class _TaskOpts(ctypes.Structure):
    _fields_ = [
        ("kind", ctypes.c_int),
        ("model", _ModelOpts),
        ("tokenizer", ctypes.c_char_p),
        ("batch_size", ctypes.c_int64),
        ("max_batch_tokens", ctypes.c_int64),
        ("top_k", ctypes.c_int64),
        ("threshold", ctypes.c_double),
        ("aspects", ctypes.POINTER(ctypes.c_char_p)),
        ("n_aspects", ctypes.c_int64),
        ("aspect_template", ctypes.c_char_p),
        ("aggregation", ctypes.c_int),
        ("stride", ctypes.c_int64),
        ("labels", ctypes.POINTER(ctypes.c_char_p)),
        ("n_labels", ctypes.c_int64),
        ("hypothesis_template", ctypes.c_char_p),
        ("multi_label", ctypes.c_int),
        ("context", ctypes.c_int64),
        ("context_as_prefix", ctypes.c_int),
        ("logits", ctypes.c_int),
        ("pooling", ctypes.c_char_p),
        ("normalize", ctypes.c_int),
        ("max_new_tokens", ctypes.c_int64),
        ("temperature", ctypes.c_double),
        ("sample_top_k", ctypes.c_int64),
        ("top_p", ctypes.c_double),
        ("seed", ctypes.c_int64),
        ("stop", ctypes.POINTER(ctypes.c_char_p)),
        ("n_stop", ctypes.c_int64),
        ("chat", ctypes.c_int),
    ]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_vp, _cp, _i64 = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64
_version = _fn("senti_version", _cp)
_last_error = _fn("senti_last_error", _cp)
_default_model = _fn("senti_default_model", _cp)
_opts_defaults = _fn("senti_task_opts_defaults", _TaskOpts, ctypes.c_int)
# The structs above mirror include/senti.h: refuse a library whose layout differs.
for _name, _cls in (("senti_model_opts_size", _ModelOpts), ("senti_task_opts_size", _TaskOpts)):
    _n = _fn(_name, ctypes.c_size_t)()
    if _n != ctypes.sizeof(_cls):
        raise ImportError("senti: %s is %d bytes in libsenti but %d in this package: rebuild both from one checkout"
                          % (_name[:-5], _n, ctypes.sizeof(_cls)))
_task_load = _fn("senti_task_load", _vp, _cp, ctypes.POINTER(_TaskOpts))
_task_free = _fn("senti_task_free", None, _vp)
_task_run = _fn("senti_task_run_records", ctypes.c_int, _vp, ctypes.POINTER(_cp), _i64, ctypes.POINTER(_vp))
_task_eval = _fn("senti_task_eval", ctypes.c_int, _vp, _cp, _cp, _cp, ctypes.POINTER(ctypes.c_void_p))
_task_model = _fn("senti_task_model", _vp, _vp)
_results_free = _fn("senti_results_free", None, _vp)
_results_count = _fn("senti_results_count", _i64, _vp)
_result_json = _fn("senti_result_json", _cp, _vp, _i64)
_string_free = _fn("senti_string_free", None, _vp)
_model_num_labels = _fn("senti_model_num_labels", _i64, _vp)
_model_label = _fn("senti_model_label", _cp, _vp, _i64)
_model_arch = _fn("senti_model_architecture", _cp, _vp)
_model_hidden = _fn("senti_model_hidden_size", _i64, _vp)


class Error(RuntimeError):
    """A failure of the engine (the message names the culprit) or of one input."""


def _err(what):
    return Error("%s: %s" % (what, _last_error().decode("utf-8", "replace")))


def version():
    """The engine's version ("MAJOR.MINOR.PATCH")."""
    return _version().decode()


def default_model():
    """The embedded SST-2 sentiment model: the packaged copy, else the engine's default; None when absent."""
    packaged = os.path.join(_HERE, "models", "sst2-minilm-l6-q8_0.gguf")
    if os.path.exists(packaged) and not os.environ.get("SENTI_DEFAULT_MODEL"):
        return packaged
    p = _default_model()
    return p.decode() if p else None


def _cstr(v, what):
    """A str option as C bytes: refused when it is not a str or holds a NUL (C would cut it there)."""
    if not isinstance(v, str):
        raise TypeError("senti: %s must be a str, not %s" % (what, type(v).__name__))
    if "\0" in v:
        raise ValueError("senti: %s holds a NUL character" % what)
    return v.encode("utf-8")


def _cstrs(strs, what="a string"):
    enc = [_cstr(s, what) for s in strs]
    arr = (ctypes.c_char_p * (len(enc) + 1))(*enc)
    return arr, enc


def _cpath(v, what):
    """A path as the file system's bytes (os.fsencode: any str the OS gave, surrogate-escaped bytes included)."""
    b = os.fsencode(v)
    if b"\0" in b:
        raise ValueError("senti: %s holds a NUL character" % what)
    return b


_FIELDS = {name: typ for name, typ in _TaskOpts._fields_}
_INT_BITS = {ctypes.c_int: 32, ctypes.c_int64: 64}


class _Task:
    """One loaded senti_task (a model + tokenizer + settings) and its lock."""

    def __init__(self, path, kind, threads, device, dtype, batch_size, max_batch_tokens, **kw):
        self._h = None
        self.lock = threading.Lock()
        o = _opts_defaults(kind)
        o.model.n_threads = _int_opt("threads", threads, 0, 2 ** 31 - 1)
        o.model.device = _cstr(device, "device") if device else None
        if dtype is not None and dtype not in _TYPES:
            raise ValueError("senti: dtype %r is not one of %s" % (dtype, ", ".join(_TYPES)))
        o.model.weight_type = _TYPES[dtype] if dtype else _TYPE_AS_STORED
        o.batch_size = _int_opt("batch_size", batch_size, 1, 2 ** 63 - 1)
        o.max_batch_tokens = _int_opt("max_batch_tokens", max_batch_tokens, 1, 2 ** 63 - 1)
        keep = []  # the C strings the options point to, alive while loading
        for k, v in kw.items():
            if v is None:
                continue
            if k not in _FIELDS or k.startswith("n_") or k in ("kind", "model"):
                raise TypeError("senti: unknown option %r" % k)
            if k in ("aspects", "labels", "stop"):
                arr, enc = _cstrs(v, k)
                keep += [arr, enc]
                setattr(o, k, arr)
                setattr(o, "n_" + k, len(v))
            elif _FIELDS[k] is ctypes.c_char_p:
                b = _cpath(v, k) if k == "tokenizer" else _cstr(v, k)
                keep.append(b)
                setattr(o, k, b)
            elif _FIELDS[k] is ctypes.c_double:
                setattr(o, k, float(v))
            else:
                bits = _INT_BITS[_FIELDS[k]]
                setattr(o, k, _int_opt(k, v, -2 ** (bits - 1), 2 ** (bits - 1) - 1))
        self._h = _task_load(_cpath(path, "the model path") if path is not None else None, ctypes.byref(o))
        del keep
        if not self._h:
            raise _err("senti: cannot load %s" % (path if path is not None else "the default model"))
        self.kind = kind

    def run(self, records):
        """Each record (a dict) through the task: the result objects, in order (JSON as the command prints)."""
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        arr, enc = _cstrs(lines)
        res = ctypes.c_void_p()
        with self.lock:
            if not self._h:
                raise Error("senti: the model was closed")
            st = _task_run(self._h, arr, len(lines), ctypes.byref(res))
            if st != 0:
                raise _err("senti")
        try:
            return [_result_json(res, i).decode("utf-8") for i in range(_results_count(res))]
        finally:
            _results_free(res)

    def eval(self, data, fmt, metric):
        out = ctypes.c_void_p()
        with self.lock:
            if not self._h:
                raise Error("senti: the model was closed")
            st = _task_eval(self._h, os.fsencode(data), fmt.encode() if fmt else None,
                            metric.encode() if metric else None, ctypes.byref(out))
            if st != 0:
                raise _err("senti eval")
        try:
            return json.loads(ctypes.string_at(out.value).decode())
        finally:
            _string_free(out)

    def labels(self):
        """The model's label names (read under the lock: close() cannot free the model meanwhile)."""
        with self.lock:
            if not self._h:
                raise Error("senti: the model was closed")
            m = _task_model(self._h)
            return [(_model_label(m, i) or b"LABEL_%d" % i).decode() for i in range(_model_num_labels(m))]

    def hidden_size(self):
        with self.lock:
            if not self._h:
                raise Error("senti: the model was closed")
            return _model_hidden(_task_model(self._h))

    def close(self):
        """Free the task, after a call running on it on another thread has finished."""
        lock = getattr(self, "lock", None)
        if lock is None:
            return
        with lock:
            if self._h:
                _task_free(self._h)
                self._h = None

    def __del__(self):
        self.close()


def _int_opt(name, v, lo, hi):
    """An integer option within [lo, hi] (a bool or a float is refused: ctypes would wrap or truncate it)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError("senti: %s must be an int, not %s" % (name, type(v).__name__))
    if not lo <= v <= hi:
        raise ValueError("senti: %s = %d is outside [%d, %d]" % (name, v, lo, hi))
    return v


def _as_list(inputs):
    if isinstance(inputs, (bytes, bytearray)):
        raise TypeError("senti: inputs are str (or dicts, or a list of them), not bytes: decode them first")
    single = isinstance(inputs, (str, dict))
    return ([inputs] if single else list(inputs)), single


def _record(x):
    if isinstance(x, str):
        r = {"text": x}
    elif isinstance(x, dict):
        r = dict(x)
    else:
        raise TypeError("senti: an input is a str or a dict {\"text\", \"text_pair\"}, not %r" % type(x).__name__)
    for k, v in r.items():
        if isinstance(v, str) and "\0" in v:
            raise ValueError("senti: input %r holds a NUL character (the engine's texts are C strings)" % k)
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError as e:
                raise ValueError("senti: input %r is not valid Unicode at character %d (%s)" % (k, e.start, e.reason))
    return r


def _parse(lines, what):
    out = []
    for i, line in enumerate(lines):
        o = json.loads(line)
        if "error" in o:
            raise Error("%s: input %d: %s" % (what, i, o["error"]))
        out.append(o)
    return out


class Model:
    """A senti model (a HuggingFace directory or a GGUF file; None: the embedded SST-2 classifier).

    threads: CPU threads (0: all cores); device: "cpu" or "cuda[:N]"; dtype: linear weights as
    f32 | f16 | bf16 | q8_0 | q4_0 | int8 (None: as stored, floats in f32 — the senti command's own default
    is bf16 for float encoders on AVX512_BF16 CPUs); batch_size / max_batch_tokens: the runner's
    batches. Each task kind loads the model once, on first use (a classifier classifies, a token
    classifier tags, a base encoder embeds, a causal LM generates).
    """

    def __init__(self, path=None, tokenizer=None, threads=0, device=None, dtype=None, batch_size=32,
                 max_batch_tokens=8192):
        self.path = os.fsdecode(path) if path is not None else default_model()
        self._cfg = dict(threads=threads, device=device, dtype=dtype, batch_size=batch_size,
                         max_batch_tokens=max_batch_tokens)
        self._tok = os.fsdecode(tokenizer) if tokenizer is not None else None
        self._tasks = {}  # key -> _Task, least recently used first
        self._mu = threading.Lock()
        self._closed = False

    # Each distinct set of task options is a loaded copy of the model: keep the
    # MAX_TASKS used last. An evicted task is freed once no call runs on it
    # (the running call holds a reference; __del__ frees it after).
    MAX_TASKS = 4

    def _task(self, kind, **kw):
        key = (kind,) + tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kw.items()))
        with self._mu:
            if self._closed:
                raise Error("senti: the Model was closed")
            t = self._tasks.pop(key, None)
            if t is None:
                t = _Task(self.path, kind, **self._cfg, tokenizer=self._tok, **kw)
            self._tasks[key] = t  # now the most recently used
            while len(self._tasks) > self.MAX_TASKS:
                del self._tasks[next(iter(self._tasks))]
            return t

    def close(self):
        """Release every loaded task, each after a call running on it has finished; later calls raise
        Error (also done when the Model is collected)."""
        with self._mu:
            self._closed = True
            tasks = list(self._tasks.values())
            self._tasks.clear()
        for t in tasks:
            t.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- sequence classification -----------------------------------------------------

    def json_lines(self, inputs, task="classify"):
        """The command's output lines for the inputs (one JSON string per input, ids 0..n-1, byte for
        byte what `senti <task>` prints with default flags): task classify | tag | embed | generate."""
        kind = {"classify": KIND_CLASSIFY, "tag": KIND_TAG, "embed": KIND_EMBED, "generate": KIND_GENERATE}[task]
        items, _ = _as_list(inputs)
        return self._task(kind).run([_record(x) for x in items])

    @property
    def labels(self):
        """The classifier's label names, in label-id order."""
        return self._task(KIND_CLASSIFY, logits=1).labels()

    def classify(self, inputs, top_k=1):
        """Labels and scores (softmax; sigmoid for multi-label models), as transformers'
        pipeline("text-classification"): a str gives [{"label","score"}] (top_k of them, best first;
        top_k=None: all); a list gives one dict per input with top_k=1, else one list per input.
        An input may be {"text", "text_pair"}."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError("senti: top_k must be None (every label) or an int >= 1, not %r" % (top_k,))
        items, single = _as_list(inputs)
        res = _parse(self._task(KIND_CLASSIFY, logits=1).run([_record(x) for x in items]), "classify")
        out = []
        for r in res:
            ranked = sorted(r["scores"].items(), key=lambda kv: -kv[1])  # stable: label order on ties
            ranked = [{"label": k, "score": v} for k, v in ranked]
            out.append(ranked if top_k is None else ranked[:top_k])
        if single:
            return out[0]
        return [o[0] for o in out] if top_k == 1 else out

    def logits(self, inputs):
        """The classifier's raw logits, numpy float32 [n, num_labels] (a str: [num_labels])."""
        items, single = _as_list(inputs)
        t = self._task(KIND_CLASSIFY, logits=1)
        res = _parse(t.run([_record(x) for x in items]), "classify")
        a = np.array([list(r["logits"].values()) for r in res], dtype=np.float32)
        if not res:
            a = a.reshape(0, len(t.labels()))
        return a[0] if single else a

    # ---- the other tasks ---------------------------------------------------------------

    def tag(self, inputs, aggregation_strategy="simple", stride=0):
        """Spans of a token classifier, as transformers' token-classification pipeline:
        [{"entity_group" (or "entity" without aggregation), "score", "word", "start", "end"}]
        per input (code-point offsets); a str gives its list, a list one list per input."""
        items, single = _as_list(inputs)
        if aggregation_strategy not in _AGG:
            raise ValueError("senti: aggregation_strategy %r is not one of %s" % (aggregation_strategy, ", ".join(_AGG)))
        t = self._task(KIND_TAG, aggregation=_AGG[aggregation_strategy], stride=stride)
        res = _parse(t.run([_record(x) for x in items]), "tag")
        key = "entity" if aggregation_strategy == "none" else "entity_group"
        out = [[{key: s["type"], "score": s["score"], "word": s["text"], "start": s["start"], "end": s["end"]}
                for s in r.get("spans", [])] for r in res]
        return out[0] if single else out

    def aspect(self, inputs, aspects, template=None):
        """Each aspect's sentiment in each text: per input, [{"aspect","start","end","sentiment","score",
        "scores"}] (start / end None when the aspect is not in the text)."""
        items, single = _as_list(inputs)
        aspects = [aspects] if isinstance(aspects, str) else list(aspects)
        for a in aspects:
            _cstr(a, "an aspect")
        # each record carries its aspects: the task is loaded once per template, not once per aspect list
        t = self._task(KIND_ASPECT, aspects=["aspect"], aspect_template=template)
        res = _parse(t.run([dict(_record(x), aspect=aspects) for x in items]), "aspect")
        out = [r["aspects"] for r in res]
        return out[0] if single else out

    def zero_shot(self, inputs, candidate_labels, hypothesis_template=None, multi_label=False):
        """transformers' zero-shot-classification output {"sequence","labels","scores"} (best first),
        from an NLI classifier, or from a causal LM scoring each label as the answer."""
        items, single = _as_list(inputs)
        labels = [candidate_labels] if isinstance(candidate_labels, str) else list(candidate_labels)
        if not isinstance(multi_label, bool):
            raise TypeError("senti: multi_label must be a bool, not %r" % (multi_label,))
        t = self._task(KIND_ZERO_SHOT, labels=labels, hypothesis_template=hypothesis_template,
                       multi_label=int(multi_label))
        res = _parse(t.run([dict(_record(x), labels=labels) for x in items]), "zero-shot")
        out = []
        for x, r in zip(items, res):
            if "labels" not in r:  # a causal LM: {"label","score","scores":{label: p}}
                ranked = sorted(r["scores"].items(), key=lambda kv: -kv[1])
                r = {"labels": [k for k, _ in ranked], "scores": [v for _, v in ranked]}
            out.append({"sequence": x if isinstance(x, str) else x.get("text"), "labels": r["labels"],
                        "scores": r["scores"]})
        return out[0] if single else out

    def embed(self, inputs, pooling=None, normalize=None):
        """Sentence embeddings of a base encoder (sentence-transformers pooling and normalisation from
        the model's files unless given): numpy float32 [n, hidden] (a str: [hidden])."""
        items, single = _as_list(inputs)
        t = self._task(KIND_EMBED, pooling=pooling, normalize=-1 if normalize is None else int(bool(normalize)))
        res = _parse(t.run([_record(x) for x in items]), "embed")
        a = np.array([r["embedding"] for r in res], dtype=np.float32)
        if not res:
            a = a.reshape(0, t.hidden_size())
        return a[0] if single else a

    def generate(self, inputs, max_new_tokens=None, temperature=None, top_k=None, top_p=None, seed=None,
                 stop=None, chat=None, return_full_text=True):
        """Text generation with a causal LM, as transformers' text-generation pipeline:
        [{"generated_text"}] per prompt (the prompt plus its continuation unless return_full_text=False),
        plus "finish_reason" and the continuation's "ids". Settings not given come from the model's
        generation_config.json (greedy when it has none)."""
        items, single = _as_list(inputs)
        if max_new_tokens is not None and (isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int)
                                           or max_new_tokens < 0):
            raise ValueError("senti: max_new_tokens must be None (the model's) or an int >= 0")
        for name, v, hi in (("temperature", temperature, float("inf")), ("top_p", top_p, 1.0)):
            if v is not None and not (0.0 <= float(v) <= hi):  # NaN fails too
                raise ValueError("senti: %s must be None (the model's) or in [0, %g], not %r" % (name, hi, v))
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0):
            raise ValueError("senti: top_k must be None (the model's) or an int >= 0")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2 ** 63):
            raise ValueError("senti: seed must be None (the model's) or an int in [0, 2**63)")
        t = self._task(KIND_GENERATE, max_new_tokens=-1 if max_new_tokens is None else max_new_tokens,
                       temperature=-1.0 if temperature is None else float(temperature),
                       sample_top_k=-1 if top_k is None else top_k, top_p=-1.0 if top_p is None else float(top_p),
                       seed=-1 if seed is None else seed, stop=[stop] if isinstance(stop, str) else stop,
                       chat=-1 if chat is None else int(bool(chat)))
        res = _parse(t.run([_record(x) for x in items]), "generate")
        out = []
        for x, r in zip(items, res):
            prompt = x if isinstance(x, str) else x.get("text", "")
            out.append([{"generated_text": (prompt if return_full_text else "") + r["text"],
                         "finish_reason": r["finish_reason"], "ids": r["ids"]}])
        return out[0] if single else out

    def eval(self, data, task="classify", format=None, candidate_labels=None, **kw):
        """Run a task over a labelled file and score it as `senti eval` does; a dict of metrics.
        task: classify | zero-shot (candidate_labels) | aspect | dialogue | ae | oe | aesc (a token
        classifier); format: as senti eval's --format (None: detected)."""
        metric = None
        if task == "classify":
            t = self._task(KIND_CLASSIFY, logits=1)
        elif task == "zero-shot":
            if not candidate_labels:
                raise ValueError("senti: eval zero-shot needs candidate_labels")
            labels = [candidate_labels] if isinstance(candidate_labels, str) else list(candidate_labels)
            t = self._task(KIND_ZERO_SHOT, labels=labels, **kw)
        elif task == "aspect":
            t = self._task(KIND_ASPECT, aspects=["aspect"], **kw)  # each record names its aspects
        elif task == "dialogue":
            t = self._task(KIND_DIALOGUE, **kw)
        elif task in ("ae", "oe", "aesc"):
            t, metric = self._task(KIND_TAG, **kw), task
        else:
            raise ValueError("senti: eval task %r (classify, zero-shot, aspect, dialogue, ae, oe, aesc)" % task)
        return t.eval(os.fspath(data), format, metric)
