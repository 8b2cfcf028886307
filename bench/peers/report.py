"""report.py — one run's results as results.json, results.md (Markdown tables) and chart.svg.

Invariants: the three files are drawn from the same results object, never
from separate runs; a failed engine shows its error in the table and no bar.
"""
import json
import os

from models import SHAPES

SENTI_COLOR, PEER_COLORS = "#d62728", {"pipeline": "#9467bd", "torch": "#8c564b", "ort": "#1f77b4", "ct2": "#2ca02c"}


def _pct(x):
    return "—" if x is None else f"{100 * x:.1f}%"


def _shape_title(shape, res):
    h = SHAPES[shape]
    t = res["texts"]
    return (f"{shape} (hidden {h['hidden_size']}, {h['num_hidden_layers']} layers, FFN {h['intermediate_size']}): "
            f"{t['texts']} texts, {t['tokens']} tokens (mean {t['mean_tokens']:.1f}, max {t['max_tokens']}), "
            f"padding efficiency of sorted batches {100 * t['sorted_batch_padding_efficiency']:.1f}%")


def _isa_line(s):
    line = ("--isa avx2: senti, PyTorch (ATen, oneDNN, MKL) and CTranslate2 kept to AVX2 + FMA by their environment "
            "variables; ")
    shim = s.get("cpuid_shim", {})
    if shim.get("active"):
        return line + (f"ONNX Runtime by the CPUID shim (bench/peers/cpuid_avx2.c, preloaded: CPUID showed no "
                       f"AVX-512, VNNI, BF16 or GFNI to every engine; {shim['cpuids_answered']} CPUIDs answered "
                       f"in the Python process).")
    return line + f"ONNX Runtime was NOT, and ran its AVX-512 kernels ({shim.get('error', 'no CPUID shim')})."


def markdown(out):
    s = out["settings"]
    m = out["machine"]
    lb, la = out["load_before"], out["load_after"]
    lines = [
        f"# senti and its peers: records/s including tokenization",
        "",
        f"{m.get('cpu', '?')} ({', '.join(m.get('simd', []))}), {m['affinity']} CPUs; {s['threads']} threads for every "
        f"engine; median of {s['repeats']} run(s) (min–max); {out['started']}. CPU/wall: the largest of the runs' "
        f"CPU seconds per second (at most {s['threads']} when an engine keeps to its threads).",
        *([_isa_line(s)] if s.get("isa") == "avx2" else []),
        f"Load average before {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f}, after {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f} "
        f"(1 / 5 / 15 min).",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in out["versions"].items() if k != "senti_binary") + ".",
        "",
    ]
    shapes = list(out["shapes"])
    # the summary: one row per engine, one column per shape
    lines += ["| engine | " + " | ".join(f"{sh}, {out['shapes'][sh]['texts']['texts']} texts" for sh in shapes) + " |",
              "|---|" + "---:|" * len(shapes)]
    keys = list(next(iter(out["shapes"].values()))["engines"]) if shapes else []
    for k in keys:
        row = []
        for sh in shapes:
            r = out["shapes"][sh]["engines"].get(k, {})
            row.append(f"{r['median']:.1f}" if "median" in r else "failed" if "error" in r else "—")
        lines.append(f"| {out['shapes'][shapes[0]]['engines'][k]['title']} | " + " | ".join(row) + " |")
    for sh in shapes:
        res = out["shapes"][sh]
        lines += ["", f"## {_shape_title(sh, res)}", "",
                  "| engine | records/s | min–max | labels = PyTorch f32 | labels = own fp32 | max abs Δp vs PyTorch "
                  "| CPU/wall | labels (neg/neu/pos) |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for k, r in res["engines"].items():
            if "median" not in r:
                lines.append(f"| {r['title']} | failed | | | | | | {r.get('error', 'no run')[:300]} |")
                continue
            pair = f"{_pct(r['agree_pair'])} (vs {r['pair']})" if "agree_pair" in r else "—"
            dp = f"{r['max_abs_dprob_torch']:.2g}" if "max_abs_dprob_torch" in r else "—"
            note = "/".join(map(str, r["label_counts"]))
            if "error" in r:
                note += f"; later failed: {r['error'][:200]}"
            if r.get("labels_changed_between_repeats"):
                note += "; labels changed between repeats"
            lines.append(f"| {r['title']} | {r['median']:.1f} | {r['min']:.1f}–{r['max']:.1f} | "
                         f"{_pct(r.get('agree_torch'))} | {pair} | {dp} | {max(r['cpu_per_wall']):.2f} | {note} |")
        b = res.get("build", {})
        if "onnx" in b:
            lines += ["", f"ONNX export: {b['onnx'].get('exporter')}; fused by the transformer optimizer: "
                      + ", ".join(f"{k} {v}" for k, v in b["onnx"].get("fused_ops", {}).items()) + "; int8 graph: "
                      + ", ".join(f"{k} {v}" for k, v in b["onnx"].get("int8_ops", {}).items()) + "."]
    return "\n".join(lines) + "\n"


def chart(out, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shapes = list(out["shapes"])
    keys = list(next(iter(out["shapes"].values()))["engines"]) if shapes else []
    fig, axes = plt.subplots(1, len(shapes), figsize=(6.2 * len(shapes), 0.42 * len(keys) + 1.8), squeeze=False)
    for ax, sh in zip(axes[0], shapes):
        res = out["shapes"][sh]["engines"]
        ys = list(range(len(keys)))[::-1]
        for y, k in zip(ys, keys):
            r = res[k]
            if "median" not in r:
                ax.text(0, y, "  failed", va="center", fontsize=8, color="#777")
                continue
            c = SENTI_COLOR if k.startswith("senti") else PEER_COLORS[k.split("-")[0]]
            ax.barh(y, r["median"], color=c, alpha=0.85 if "int8" in k or "q8" in k or "bf16" in k else 1.0,
                    hatch="//" if "int8" in k or "q8" in k else None, edgecolor="white")
            ax.errorbar(r["median"], y, xerr=[[r["median"] - r["min"]], [r["max"] - r["median"]]], fmt="none",
                        ecolor="black", capsize=2, lw=0.8)
            ax.text(r["max"], y, f"  {r['median']:.1f}", va="center", fontsize=8)
        ax.set_yticks(ys)
        ax.set_yticklabels([res[k]["title"] for k in keys], fontsize=8)
        t = out["shapes"][sh]["texts"]
        ax.set_title(f"{sh}: {t['texts']} texts, mean {t['mean_tokens']:.0f} tokens", fontsize=10)
        ax.set_xlabel("records/s incl. tokenization (median, min–max)", fontsize=8)
        ax.margins(x=0.18)
        ax.grid(axis="x", alpha=0.3)
    m, s, lb = out["machine"], out["settings"], out["load_before"]
    fig.suptitle(f"{m.get('cpu', '?')}, {s['threads']} threads, median of {s['repeats']} run(s), load {lb[0]:.1f} → "
                 f"{out['load_after'][0]:.1f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="svg")
    plt.close(fig)


def write(out, d):
    paths = {"json": os.path.join(d, "results.json"), "md": os.path.join(d, "results.md"),
             "svg": os.path.join(d, "chart.svg")}
    with open(paths["json"], "w") as f:
        json.dump(out, f, indent=1)
    with open(paths["md"], "w") as f:
        f.write(markdown(out))
    chart(out, paths["svg"])
    return paths
