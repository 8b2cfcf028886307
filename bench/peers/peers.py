#!/usr/bin/env python3
"""peers.py — senti beside PyTorch, the transformers pipeline, ONNX Runtime and CTranslate2: same texts, one run.

Invariants: every engine gets the same strings (real sentences from
../shared/assets/data) and the same random-weight model (models.py), runs on
the same number of threads, and is timed from strings to labels with its
tokenization included; engines take turns within each repeat (round robin,
a short pause between runs) so a change of machine load hits them all; the
figures are medians over repeats with min and max; label agreement is
measured against PyTorch f32 on the same texts and, for int8 / bf16 paths,
against the engine's own fp32. Markdown, JSON and an SVG chart come from the
same run. Run through bench/peers/run.sh, which makes the venv.
"""
import argparse
import os
import platform
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "assets")
TOKENIZER_DIR = os.path.join(SHARED, "tokenizers", "bert-base-uncased")
TOKENIZER = os.path.join(TOKENIZER_DIR, "tokenizer.json")
DEFAULT_TEXTS = {"minilm-l6": 1000, "bert-base": 400}
ENGINES = ["pipeline", "torch", "ort-fp32", "ort-int8", "ct2-fp32", "ct2-int8",
           "senti", "senti-f32", "senti-bf16", "senti-q8_0", "senti-int8"]
TITLES = {
    "pipeline": "transformers pipeline, batch {b}",
    "torch": "PyTorch f32, sorted batches of {b}",
    "ort-fp32": "ONNX Runtime fp32 (transformer-optimized)",
    "ort-int8": "ONNX Runtime int8 (dynamic quantization)",
    "ct2-fp32": "CTranslate2 float32",
    "ct2-int8": "CTranslate2 int8",
    "senti": "senti (defaults)",
    "senti-f32": "senti --dtype f32",
    "senti-bf16": "senti --dtype bf16",
    "senti-q8_0": "senti --dtype q8_0",
    "senti-int8": "senti --dtype int8",
}
PAIR = {"ort-int8": "ort-fp32", "ct2-int8": "ct2-fp32", "senti-bf16": "senti-f32", "senti-q8_0": "senti-f32",
        "senti-int8": "senti-f32"}
REF = "torch"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--senti", default=os.path.join(ROOT, "build", "senti"), help="the senti binary (default build/senti)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per engine (default 5)")
    ap.add_argument("--texts", type=int, default=0,
                    help="texts per shape (default: 1000 for minilm-l6, 400 for bert-base)")
    ap.add_argument("--shapes", default="minilm-l6,bert-base", help="comma list of minilm-l6, bert-base")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list of " + ", ".join(ENGINES))
    ap.add_argument("--batch", type=int, default=32, help="batch size of the batched engines (default 32)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--isa", default="native", choices=("native", "avx2"),
                    help="avx2: every engine keeps to AVX2 + FMA (an AVX2-only machine's kernels on an AVX-512 "
                         "one): senti, PyTorch and CTranslate2 by their environment variables, ONNX Runtime by "
                         "the CPUID shim cpuid_avx2.c (the run is re-executed with it preloaded)")
    ap.add_argument("--pause", type=float, default=0.5, help="seconds between two engines' runs (default 0.5)")
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "peers"), help="models cache (default build/peers)")
    ap.add_argument("--out", default="", help="where results.{md,json} and chart.svg go (default WORK/results)")
    a = ap.parse_args()
    a.shapes = [s for s in a.shapes.split(",") if s]
    a.engines = [e for e in a.engines.split(",") if e]
    from models import SHAPES
    for s in a.shapes:
        if s not in SHAPES:
            ap.error(f"unknown shape '{s}' (known: {', '.join(SHAPES)})")
    for e in a.engines:
        if e not in ENGINES:
            ap.error(f"unknown engine '{e}' (known: {', '.join(ENGINES)})")
    if a.threads < 1 or a.repeats < 1 or a.batch < 1 or a.texts < 0:
        ap.error("--threads, --repeats and --batch must be >= 1, --texts >= 0")
    a.out = a.out or os.path.join(a.work, "results")
    return a


def set_threads_env(n):
    """Before torch / onnxruntime / ctranslate2 / tokenizers load: their thread pools read these."""
    for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_RS_NUM_CPUS", "RAYON_NUM_THREADS"):
        os.environ[v] = str(n)
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")


# What each engine reads to keep to AVX2 (before it loads): senti, OpenBLAS (senti's BLAS fallback),
# PyTorch's ATen kernels and its oneDNN / MKL, CTranslate2. ONNX Runtime's MLAS has no such switch: it reads
# CPUID, which cpuid_shim() masks.
ISA_ENV = {"avx2": {"SENTI_SIMD": "avx2", "OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2",
                    "ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                    "CT2_FORCE_CPU_ISA": "AVX2"}}


def cpuid_shim(a):
    """--isa avx2: build cpuid_avx2.c into the work dir and run this script again with it in LD_PRELOAD, before
    any engine loads, so that CPUID shows no AVX-512 / VNNI / BF16 to every library in the process (and to the
    senti processes, which inherit LD_PRELOAD). Returns, in the re-executed run, the entry for the JSON."""
    so = os.environ.get("PEERS_CPUID_SHIM")
    if not so:
        so = os.path.join(os.path.abspath(a.work), "cpuid_avx2.so")
        os.makedirs(a.work, exist_ok=True)
        cmd = ["cc", "-O2", "-shared", "-fPIC", "-o", so, os.path.join(HERE, "cpuid_avx2.c")]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True)
            err = (p.stderr.strip() or f"exit status {p.returncode}") if p.returncode else ""
        except OSError as e:
            err = str(e)
        if err:
            print(f"peers: building the CPUID shim failed, ONNX Runtime is NOT kept to AVX2: {err}", file=sys.stderr)
            return {"library": so, "active": False, "error": f"{' '.join(cmd)}: {err}"}
        preload = " ".join(filter(None, (so, os.environ.get("LD_PRELOAD"))))
        env = dict(os.environ, PEERS_CPUID_SHIM=so, LD_PRELOAD=preload)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    import ctypes
    try:
        lib = ctypes.CDLL(so, mode=os.RTLD_NOLOAD)  # fails unless ld.so preloaded it
    except OSError:
        return {"library": so, "active": False, "error": "LD_PRELOAD did not load it (see ld.so's message above)"}
    lib.cpuid_avx2_trapped.restype = ctypes.c_long
    return {"library": so, "lib": lib}


def cpuid_shim_state(shim):
    """The shim's state for the JSON, at the end of the run: active only if CPUID was masked from the start and
    its SIGSEGV handler was still in place (no library replaced it)."""
    lib = shim.pop("lib", None)
    if lib is not None:
        st = lib.cpuid_avx2_status()
        shim["active"] = st == 0
        shim["cpuids_answered"] = lib.cpuid_avx2_trapped()
        if st < 0:
            shim["error"] = f"arch_prctl(ARCH_SET_CPUID, 0): {os.strerror(-st)} (no cpuid_fault on this CPU or kernel)"
        elif st > 0:
            shim["error"] = "a library replaced its SIGSEGV handler during the run"
    if not shim["active"]:
        print(f"peers: ONNX Runtime was NOT kept to AVX2: {shim['error']}", file=sys.stderr, flush=True)
    return shim


def sentences(seed=7):
    """SST-2 dev + test and TweetEval sentiment validation, shuffled with a fixed seed."""
    out = []
    for split, col in (("dev.tsv", 0), ("test.tsv", 1)):  # dev: text<TAB>label; test: index<TAB>text
        with open(os.path.join(SHARED, "data", "sst2", split), encoding="utf-8") as f:
            next(f)
            out += [l.rstrip("\n").split("\t")[col].strip() for l in f]
    with open(os.path.join(SHARED, "data", "tweeteval", "sentiment", "val_text.txt"), encoding="utf-8") as f:
        out += [l.strip() for l in f]
    out = [s for s in out if s]
    random.Random(seed).shuffle(out)
    return out


def calibration_texts(n=512):
    """The first n SST-2 train sentences: only to center the random head's bias (models.py), never timed."""
    with open(os.path.join(SHARED, "data", "sst2", "train.tsv"), encoding="utf-8") as f:
        next(f)
        return [l.rstrip("\n").split("\t")[1].strip() for _, l in zip(range(n), f)]


def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        for line in txt.splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in txt.splitlines():
            if line.startswith("flags"):
                fl = set(line.split(":", 1)[1].split())
                info["simd"] = [x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                                            "amx_bf16", "amx_int8") if x in fl]
                break
    except OSError:
        pass
    return info


def versions(senti):
    v = {}
    for mod in ("torch", "transformers", "tokenizers", "onnx", "onnxruntime", "ctranslate2", "numpy"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001 — reported, not fatal
            v[mod] = f"unavailable: {e}"
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True).stdout.strip()
        v["senti"] = head + ("+dirty" if dirty else "")
    except OSError:
        v["senti"] = "?"
    v["senti_binary"] = os.path.abspath(senti)
    return v


def load_engine(key, a, shape, d, texts_dir):
    import engines as E
    hf, onnx_dir, ct2_dir = d["hf"], d["onnx"], d["ct2"]
    title = TITLES[key].format(b=a.batch)
    if key == "pipeline":
        return E.Pipeline(hf, a.batch)
    if key == "torch":
        return E.Torch(hf, TOKENIZER, a.batch, a.threads)
    if key == "ort-fp32":
        return E.Ort(os.path.join(onnx_dir, "model-opt.onnx"), TOKENIZER, a.batch, a.threads, title)
    if key == "ort-int8":
        return E.Ort(os.path.join(onnx_dir, "model-int8.onnx"), TOKENIZER, a.batch, a.threads, title)
    if key == "ct2-fp32":
        return E.Ct2(ct2_dir, TOKENIZER, a.batch, a.threads, "float32", title)
    if key == "ct2-int8":
        return E.Ct2(ct2_dir, TOKENIZER, a.batch, a.threads, "int8", title)
    dtype = None if key == "senti" else key.split("-", 1)[1]
    if not os.access(a.senti, os.X_OK):
        raise RuntimeError(f"{a.senti} is not an executable (build senti first, or give --senti)")
    return E.Senti(a.senti, hf, TOKENIZER, a.threads, dtype, title, texts_dir)


def build_models(a, shape):
    import models as M
    base = os.path.join(a.work, f"{shape}-seed{a.seed}")
    d = {"hf": os.path.join(base, "hf"), "onnx": os.path.join(base, "onnx"), "ct2": os.path.join(base, "ct2")}
    notes, errors = {}, {}
    t0 = time.perf_counter()
    notes["hf"] = M.make_hf(d["hf"], shape, a.seed, TOKENIZER_DIR, calibration_texts())
    if any(e.startswith("ort") for e in a.engines):
        try:
            notes["onnx"] = M.make_onnx(d["hf"], d["onnx"], shape)
        except Exception as e:  # noqa: BLE001 — the engine is reported as failed, the others go on
            errors["onnx"] = f"{type(e).__name__}: {e}"
    if any(e.startswith("ct2") for e in a.engines):
        try:
            notes["ct2"] = M.make_ct2(d["hf"], d["ct2"])
        except Exception as e:  # noqa: BLE001
            errors["ct2"] = f"{type(e).__name__}: {e}"
    print(f"peers: {shape} models ready in {time.perf_counter() - t0:.1f} s under {base}", flush=True)
    return d, notes, errors


def token_stats(texts, batch):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(TOKENIZER)
    tok.no_padding()
    tok.enable_truncation(512)
    lens = sorted(len(e.ids) for e in tok.encode_batch(texts))
    padded = sum(max(lens[b:b + batch]) * len(lens[b:b + batch]) for b in range(0, len(lens), batch))
    return {"texts": len(texts), "tokens": sum(lens), "mean_tokens": sum(lens) / len(lens), "max_tokens": lens[-1],
            "sorted_batch_padding_efficiency": sum(lens) / padded}


def cpu_seconds():
    import resource
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def agreement(a, b):
    return sum(x == y for x, y in zip(a, b)) / len(a)


def run_shape(a, shape, pool):
    import numpy as np
    n = a.texts or DEFAULT_TEXTS[shape]
    texts = pool[:n]
    d, notes, build_errors = build_models(a, shape)
    res = {"texts": token_stats(texts, a.batch), "build": notes, "engines": {}}
    live = {}
    for key in a.engines:
        r = res["engines"][key] = {"title": TITLES[key].format(b=a.batch), "seconds": [], "rates": []}
        need = "onnx" if key.startswith("ort") else "ct2" if key.startswith("ct2") else None
        if need in build_errors:
            r["error"] = f"building the {need} model failed: {build_errors[need]}"
            continue
        try:
            live[key] = load_engine(key, a, shape, d, a.work)
            live[key].run(texts[:2 * a.batch])  # warm-up, untimed (first-call allocations, page cache)
        except Exception as e:  # noqa: BLE001 — reported in the table
            r["error"] = f"{type(e).__name__}: {e}"
            live.pop(key, None)
        if "error" in r:
            print(f"peers: {shape} {key}: FAILED: {r['error']}", flush=True)
    labels, probs = {}, {}
    for rep in range(a.repeats):
        for key in list(live):
            r = res["engines"][key]
            c0, w0 = cpu_seconds(), time.perf_counter()
            try:
                lab, pr, dt = live[key].run(texts)
            except Exception as e:  # noqa: BLE001
                r["error"] = f"repeat {rep + 1}: {type(e).__name__}: {e}"
                print(f"peers: {shape} {key}: FAILED: {r['error']}", flush=True)
                del live[key]
                continue
            r["seconds"].append(dt)
            # CPU seconds (this process and its children) per second of the run: at most --threads if
            # the engine kept to them (tokenizer pools and spinning workers count too)
            # (the whole call: for senti that includes loading the model)
            r.setdefault("cpu_per_wall", []).append((cpu_seconds() - c0) / (time.perf_counter() - w0))
            r["rates"].append(n / dt)
            if key not in labels:
                labels[key], probs[key] = lab, pr
            elif lab != labels[key]:
                r["labels_changed_between_repeats"] = True
            print(f"peers: {shape} repeat {rep + 1}/{a.repeats} {key:10s} {n / dt:8.1f} records/s", flush=True)
            time.sleep(a.pause)
    for key, r in res["engines"].items():
        if key in live:
            extra = getattr(live[key], "last", None)
            if extra:
                r["senti_last_run"] = extra
            if getattr(live[key], "pooled_by", None):
                r["pooler_run_by"] = live[key].pooled_by
            if getattr(live[key], "attn", None):
                r["attn_implementation"] = live[key].attn
        if not r["rates"]:
            continue
        r["median"] = float(np.median(r["rates"]))
        r["min"], r["max"] = min(r["rates"]), max(r["rates"])
        r["label_counts"] = [labels[key].count(i) for i in range(3)]
        if REF in labels:
            r["agree_torch"] = agreement(labels[key], labels[REF])
            r["max_abs_dprob_torch"] = float(np.abs(probs[key] - probs[REF]).max())
        if key in PAIR and PAIR[key] in labels:
            r["pair"] = PAIR[key]
            r["agree_pair"] = agreement(labels[key], labels[PAIR[key]])
    return res


def main():
    a = parse_args()
    shim = cpuid_shim(a) if a.isa == "avx2" else None  # re-executes this script the first time
    set_threads_env(a.threads)
    os.environ.update(ISA_ENV.get(a.isa, {}))
    sys.path.insert(0, HERE)
    import torch
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    import report
    os.makedirs(a.work, exist_ok=True)
    os.makedirs(a.out, exist_ok=True)
    out = {"machine": machine(), "versions": versions(a.senti),
           "settings": {"threads": a.threads, "repeats": a.repeats, "batch": a.batch, "seed": a.seed, "isa": a.isa,
                        "shapes": a.shapes, "engines": a.engines, "texts": a.texts or DEFAULT_TEXTS,
                        "env": {k: os.environ[k] for k in sorted(os.environ)
                                if k.startswith("SENTI_") or k in ISA_ENV["avx2"]}},
           "load_before": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "shapes": {}}
    print(f"peers: load average before {out['load_before'][0]:.2f} {out['load_before'][1]:.2f} "
          f"{out['load_before'][2]:.2f} ({out['machine'].get('cpu', '?')}, {out['machine']['affinity']} CPUs)",
          flush=True)
    pool = sentences()
    for shape in a.shapes:
        out["shapes"][shape] = run_shape(a, shape, pool)
    if shim:
        out["settings"]["cpuid_shim"] = cpuid_shim_state(shim)
    out["load_after"] = os.getloadavg()
    print(f"peers: load average after {out['load_after'][0]:.2f} {out['load_after'][1]:.2f} "
          f"{out['load_after'][2]:.2f}", flush=True)
    paths = report.write(out, a.out)
    with open(paths["md"]) as f:
        print(f.read())
    print("peers: wrote " + ", ".join(paths.values()))


if __name__ == "__main__":
    main()
