"""plot.py — senti's benchmark figures as SVG (plain Python, no plotting library).

    python3 bench/plot.py sweep [--senti build/senti] [--layers 2] [--repeats 3] [--out bench/charts/sweep.json]
        runs `senti bench model` (BERT-base-shaped, synthetic weights) over batch sizes at 128 tokens and
        sequence lengths at batch 8, with the hand-written matmul and with OpenBLAS (SENTI_MATMUL=blas), and
        keeps the figures (with the load average) as JSON
    python3 bench/plot.py charts [--sweep bench/charts/sweep.json] [--results bench/RESULTS.md]
        [--scaling FILE] [--out bench/charts]
        draws throughput.svg (records/s vs batch size and vs sequence length, hand-written vs BLAS),
        kernels-vs-blas.svg (hand-written GEMM speed / OpenBLAS per shape, AVX-512 and AVX2: the table of
        RESULTS.md), peers.svg (senti vs PyTorch / ONNX Runtime / CTranslate2: the peers table of
        RESULTS.md) and, with --scaling (the output of bench/mpi_scaling.sh), mpi-scaling.svg

Check a chart by rendering it: `rsvg-convert -o x.png bench/charts/throughput.svg` (librsvg2-bin) or
`python3 -c "import cairosvg; cairosvg.svg2png(url='...svg', write_to='x.png')"`.
"""
import argparse
import json
import os
import re
import subprocess
import sys
from xml.sax.saxutils import escape

COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
FONT = 'font-family="DejaVu Sans, Arial, sans-serif"'


# ---- a tiny SVG writer ---------------------------------------------------------------------------

class Svg:
    def __init__(self, w, h):
        self.w, self.h, self.parts = w, h, []

    def text(self, x, y, s, size=11, anchor="start", weight="normal", rotate=None, color="#222"):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'font-weight="{weight}" fill="{color}" {FONT}{tr}>{escape(str(s))}</text>')

    def line(self, x1, y1, x2, y2, color="#000", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                          f'stroke-width="{width}"{d}/>')

    def rect(self, x, y, w, h, color, opacity=1.0):
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                          f'fill="{color}" fill-opacity="{opacity}"/>')

    def polyline(self, pts, color, width=2):
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.parts.append(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="{width}"/>')
        for x, y in pts:
            self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>')

    def save(self, path):
        with open(path, "w") as f:
            f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                    f'viewBox="0 0 {self.w} {self.h}">\n<rect width="100%" height="100%" fill="white"/>\n')
            f.write("\n".join(self.parts))
            f.write("\n</svg>\n")


def nice_max(v):
    """A round axis maximum at or above v."""
    if v <= 0:
        return 1.0
    e = 10 ** int(f"{v:e}".split("e")[1])
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def line_panel(svg, x0, y0, w, h, title, xlabel, ylabel, xs, series):
    """series: [(name, [y per x])]; x positions evenly spaced (log-2 sweeps), labelled by xs."""
    ymax = nice_max(max(max(v for v in ys if v is not None) for _, ys in series))
    svg.text(x0 + w / 2, y0 - 10, title, 12, "middle", "bold")
    svg.line(x0, y0 + h, x0 + w, y0 + h)
    svg.line(x0, y0, x0, y0 + h)
    for k in range(6):
        v = ymax * k / 5
        y = y0 + h - h * k / 5
        svg.line(x0, y, x0 + w, y, "#ddd", 0.5)
        svg.text(x0 - 6, y + 4, f"{v:g}", 10, "end")
    px = [x0 + w * (i + 0.5) / len(xs) for i in range(len(xs))]
    for x, lab in zip(px, xs):
        svg.text(x, y0 + h + 15, lab, 10, "middle")
    svg.text(x0 + w / 2, y0 + h + 32, xlabel, 11, "middle")
    svg.text(x0 - 42, y0 + h / 2, ylabel, 11, "middle", rotate=-90)
    for i, (name, ys) in enumerate(series):
        pts = [(px[j], y0 + h - h * ys[j] / ymax) for j in range(len(xs)) if ys[j] is not None]
        svg.polyline(pts, COLORS[i % len(COLORS)])
        svg.rect(x0 + 10, y0 + 8 + 16 * i, 12, 3, COLORS[i % len(COLORS)])
        svg.text(x0 + 28, y0 + 13 + 16 * i, name, 10)


def bar_chart(path, title, subtitle, labels, series, xlabel, ref=None, fmt="{:.0f}"):
    """Horizontal grouped bars: labels (one group each), series [(name, [value or None])]."""
    ng, ns = len(labels), len(series)
    bh, gap = 11, 8
    left, top, plot_w = 250, 70, 520
    h = top + ng * (ns * bh + gap) + 60
    svg = Svg(left + plot_w + 60, h)
    svg.text(20, 24, title, 14, weight="bold")
    svg.text(20, 42, subtitle, 10, color="#555")
    vmax = nice_max(max(v for _, vs in series for v in vs if v is not None))
    y = top
    for k in range(6):
        x = left + plot_w * k / 5
        svg.line(x, top - 4, x, top + ng * (ns * bh + gap), "#ddd", 0.5)
        svg.text(x, top + ng * (ns * bh + gap) + 14, fmt.format(vmax * k / 5), 10, "middle")
    if ref is not None:
        x = left + plot_w * ref / vmax
        svg.line(x, top - 6, x, top + ng * (ns * bh + gap), "#d62728", 1.2, "4,3")
    for g, lab in enumerate(labels):
        svg.text(left - 8, y + ns * bh / 2 + 4, lab, 10, "end")
        for s, (_, vs) in enumerate(series):
            v = vs[g]
            if v is not None:
                svg.rect(left, y + s * bh, plot_w * v / vmax, bh - 2, COLORS[s % len(COLORS)])
                svg.text(left + plot_w * v / vmax + 3, y + s * bh + bh - 3, fmt.format(v), 8)
        y += ns * bh + gap
    svg.text(left + plot_w / 2, y + 30, xlabel, 11, "middle")
    for s, (name, _) in enumerate(series):
        svg.rect(left + 260 * s, 50, 12, 10, COLORS[s % len(COLORS)])
        svg.text(left + 260 * s + 16, 59, name, 10)
    svg.save(path)


# ---- the sweep -------------------------------------------------------------------------------------

def bench_model(senti, batch, seq, layers, repeats, blas):
    env = dict(os.environ)
    if blas:
        env["SENTI_MATMUL"] = "blas"
    out = subprocess.run([senti, "bench", "model", "--batch", str(batch), "--seq-len", str(seq), "--layers",
                          str(layers), "--repeats", str(repeats), "--json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def sweep(a):
    load0 = open("/proc/loadavg").read().split()[:3]
    res = {"layers": a.layers, "repeats": a.repeats, "batch_at_seq": 128, "seq_at_batch": 8,
           "batches": [1, 2, 4, 8, 16, 32], "seqs": [16, 32, 64, 128, 256, 512], "runs": {}}
    for blas in (False, True):
        key = "blas" if blas else "senti"
        res["runs"][key] = {"batch": [], "seq": []}
        for b in res["batches"]:
            r = bench_model(a.senti, b, 128, a.layers, a.repeats, blas)
            res["runs"][key]["batch"].append(r)
            print(f"{key} batch {b} x 128: {r['seq_per_s']:.2f} seq/s", file=sys.stderr)
        for s in res["seqs"]:
            r = bench_model(a.senti, 8, s, a.layers, a.repeats, blas)
            res["runs"][key]["seq"].append(r)
            print(f"{key} batch 8 x {s}: {r['seq_per_s']:.2f} seq/s", file=sys.stderr)
    res["load_before"], res["load_after"] = load0, open("/proc/loadavg").read().split()[:3]
    res["threads"] = res["runs"]["senti"]["batch"][0]["threads"]
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {a.out}", file=sys.stderr)


# ---- reading RESULTS.md ----------------------------------------------------------------------------

def md_table_after(text, heading):
    """Rows (lists of cells) of the first Markdown table after the line containing heading."""
    i = text.find(heading)
    if i < 0:
        sys.exit(f"plot.py: '{heading}' not found in RESULTS.md")
    rows = []
    for line in text[i:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows


def num(s):
    m = re.match(r"[-\d.]+", s.replace(",", ""))
    return float(m.group(0)) if m else None


def charts(a):
    os.makedirs(a.out, exist_ok=True)
    text = open(a.results, encoding="utf-8").read()

    # kernels: hand-written vs OpenBLAS per shape
    rows = md_table_after(text, "### Kernels: senti vs OpenBLAS, AVX-512 and AVX2")[2:]
    rows = [r for r in rows if r[0].endswith("_f32") or r[0].endswith("_q8_0") or r[0].endswith("_bf16")]
    bar_chart(os.path.join(a.out, "kernels-vs-blas.svg"), "Hand-written GEMM vs OpenBLAS, per shape",
              "speed of senti's kernel / cblas_sgemm (OpenBLAS converts non-f32 weights to f32 per call); "
              "bench/RESULTS.md, issues 12 and 16, Zen 4, 2 threads (first AVX-512 row: a cold start)",
              [r[0] for r in rows], [("AVX-512", [num(r[3]) for r in rows]), ("AVX2", [num(r[6]) for r in rows])],
              "senti speed / OpenBLAS speed (%); dashed: parity", ref=100, fmt="{:.0f}")

    # peers
    rows = md_table_after(text, "**AVX-512 (native)")[2:]
    bar_chart(os.path.join(a.out, "peers.svg"), "senti vs its peers: records/s, 2 threads",
              "bench/peers/run.sh --repeats 3 (AVX-512, Zen 4, random-weight models; medians); bench/RESULTS.md",
              [r[0] for r in rows], [("minilm-l6, 1000 texts", [num(r[1]) for r in rows]),
                                     ("bert-base, 400 texts", [num(r[2]) for r in rows])],
              "records/s (tokenization included)", fmt="{:.1f}")

    # throughput sweep
    if a.sweep and os.path.exists(a.sweep):
        sw = json.load(open(a.sweep))
        svg = Svg(900, 400)
        svg.text(20, 24, "Throughput of a BERT-base-shaped encoder: hand-written matmul vs OpenBLAS", 14,
                 weight="bold")
        svg.text(20, 42, f"senti bench model --layers {sw['layers']} (synthetic f32 weights), {sw['threads']} "
                 f"threads, median of {sw['repeats']}; load {sw['load_before'][0]} -> {sw['load_after'][0]}; "
                 f"12 layers run ~{12 // sw['layers']}x slower", 10, color="#555")
        names = {"senti": "hand-written", "blas": "OpenBLAS (SENTI_MATMUL=blas)"}
        line_panel(svg, 80, 80, 340, 250, f"vs batch size ({sw['batch_at_seq']} tokens)", "batch size",
                   "sequences / s", [str(b) for b in sw["batches"]],
                   [(names[k], [r["seq_per_s"] for r in sw["runs"][k]["batch"]]) for k in ("senti", "blas")])
        line_panel(svg, 530, 80, 340, 250, f"vs sequence length (batch {sw['seq_at_batch']})", "tokens per sequence",
                   "tokens / s", [str(s) for s in sw["seqs"]],
                   [(names[k], [r["tokens_per_s"] for r in sw["runs"][k]["seq"]]) for k in ("senti", "blas")])
        svg.save(os.path.join(a.out, "throughput.svg"))

    # MPI scaling (bench/mpi_scaling.sh's table)
    if a.scaling:
        rows = md_table_after(open(a.scaling).read(), "| configuration")[1:]
        sub = ("bench/mpi_scaling.sh: senti classify, embedded SST-2 MiniLM-L6 q8_0, SST-2 train sentences; "
               "wall rates depend on the machine's load (bench/RESULTS.md)")
        series = [("records/s of the whole command (wall)", [num(r[2]) for r in rows])]
        if len(rows[0]) >= 5:
            series.append(("records per CPU-second (all processes)", [num(r[4]) for r in rows]))
        bar_chart(os.path.join(a.out, "mpi-scaling.svg"), "MPI ranks vs threads", sub, [r[0] for r in rows], series,
                  "records/s", fmt="{:.1f}")
    print(f"charts in {a.out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sweep")
    s.add_argument("--senti", default="build/senti")
    s.add_argument("--layers", type=int, default=2)
    s.add_argument("--repeats", type=int, default=3)
    s.add_argument("--out", default="bench/charts/sweep.json")
    c = sub.add_parser("charts")
    c.add_argument("--sweep", default="bench/charts/sweep.json")
    c.add_argument("--results", default="bench/RESULTS.md")
    c.add_argument("--scaling", default="")
    c.add_argument("--out", default="bench/charts")
    a = ap.parse_args()
    sweep(a) if a.cmd == "sweep" else charts(a)


if __name__ == "__main__":
    main()
