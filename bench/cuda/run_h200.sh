#!/usr/bin/env bash
# run_h200.sh — everything the CUDA backend needs checked and measured on a
# lent H200, in one `run` call (about 10 minutes; pass a stage to split it):
#   run(command="bash bench/cuda/run_h200.sh [all|test|bench|torch|memcheck]", carry=[".debs"], timeout_s=600)
# Stages: deps (unpack carried .debs when pkg-config cannot find a library),
# build (Release, SENTI_CUDA=ON, ptxas resource report), test (ctest -L cuda
# and a few CPU tests), memcheck (only when asked: test_cuda's op cases under
# compute-sanitizer, slow), bench
# (`senti bench cuda --json`: ceilings, GEMM native vs cuBLAS, attention,
# BERT-base encoder f32/f16/bf16 at batch 1/32/256, native and cuBLAS
# matmuls), torch (bench/cuda/torch_bert.py: the same encoder in PyTorch eager
# with SDPA). Everything lands in $OUT (logs, JSON); a summary prints last.
set -uo pipefail
cd "$(dirname "$0")/../.."
STAGE=${1:-all}
OUT=${OUT:-/tmp/senti-h200}
mkdir -p "$OUT"
JOBS=$(nproc)
B=build-h200
t0=$(date +%s)
say() { echo "== [$(($(date +%s) - t0))s] $*"; }

# ---- deps ---------------------------------------------------------------------------------
need_debs=0
for m in openblas jansson libutf8proc libpcre2-8 check; do
  pkg-config --exists "$m" 2>/dev/null || need_debs=1
done
if [ "$need_debs" = 1 ]; then
  if [ ! -d .debs ]; then
    echo "missing build dependencies and no .debs carried: run bench/cuda/fetch_deps.sh here first" >&2
    exit 2
  fi
  say "unpacking carried .debs into /tmp/deps"
  mkdir -p /tmp/deps
  for f in .debs/*.deb; do dpkg -x "$f" /tmp/deps; done
  L=/tmp/deps/usr/lib/x86_64-linux-gnu
  export PKG_CONFIG_SYSROOT_DIR=/tmp/deps
  export PKG_CONFIG_PATH=$L/pkgconfig:$L/openblas-openmp/pkgconfig:/tmp/deps/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$L:$L/openblas-openmp:${LD_LIBRARY_PATH:-}
  export LIBRARY_PATH=$L:$L/openblas-openmp:${LIBRARY_PATH:-}
  command -v pkg-config >/dev/null || { ln -sf /tmp/deps/usr/bin/pkgconf /tmp/deps/usr/bin/pkg-config; export PATH=/tmp/deps/usr/bin:$PATH; }
fi

# ---- build --------------------------------------------------------------------------------
say "device"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,driver_version --format=csv | tee "$OUT/device.txt"
nvcc --version | tail -2 | tee -a "$OUT/device.txt"
say "configure + build ($JOBS jobs)"
cmake -S . -B $B -DCMAKE_BUILD_TYPE=Release -DSENTI_CUDA=ON >"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
bstart=$(date +%s)
cmake --build $B -j"$JOBS" >>"$OUT/build.log" 2>&1 || { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
echo "build seconds: $(($(date +%s) - bstart))" | tee -a "$OUT/build.log"
# registers / spills of every kernel for sm_90a (no device time)
nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xptxas -v -c cuda/kern_gemm.cu -o /tmp/kg.o -Iinclude \
  >"$OUT/ptxas.txt" 2>&1 || true
nvcc -std=c++17 -gencode=arch=compute_90a,code=sm_90a -Xptxas -v -c cuda/kern_attn.cu -o /tmp/ka.o -Iinclude \
  >>"$OUT/ptxas.txt" 2>&1 || true
cuobjdump --dump-sass /tmp/kg.o 2>/dev/null | grep -cE "HMMA" | sed 's/^/HMMA instructions in kern_gemm: /' | tee -a "$OUT/ptxas.txt"

# ---- tests --------------------------------------------------------------------------------
if [ "$STAGE" = all ] || [ "$STAGE" = test ]; then
  say "ctest -L cuda"
  (cd $B && ctest -L cuda --output-on-failure --timeout 400) 2>&1 | tee "$OUT/ctest_cuda.log" | tail -40
  say "the CPU suite still passes with CUDA linked (quick subset)"
  (cd $B && ctest -R 'test_ops|test_encoders|test_graph' --timeout 300) 2>&1 | tail -6 | tee "$OUT/ctest_cpu.log"
fi
if [ "$STAGE" = memcheck ]; then
  say "compute-sanitizer memcheck on test_cuda (ops only)"
  (cd $B/tests && CK_RUN_CASE=ops timeout 480 compute-sanitizer --tool memcheck --print-limit 20 ./test_cuda) \
    >"$OUT/memcheck.log" 2>&1
  grep -E "ERROR SUMMARY|Invalid|passed|failed" "$OUT/memcheck.log" | tail -8
fi

# ---- benches ------------------------------------------------------------------------------
if [ "$STAGE" = all ] || [ "$STAGE" = bench ]; then
  say "senti bench cuda (native matmuls)"
  $B/senti bench cuda --json --repeats 20 >"$OUT/bench_cuda_native.jsonl" 2>"$OUT/bench_cuda_native.err"
  say "senti bench cuda --filter encoder (cuBLAS matmuls)"
  SENTI_MATMUL=cublas $B/senti bench cuda --json --repeats 20 --filter encoder >"$OUT/bench_cuda_cublas.jsonl" \
    2>"$OUT/bench_cuda_cublas.err"
  tail -3 "$OUT"/bench_cuda_*.err
fi
if [ "$STAGE" = all ] || [ "$STAGE" = torch ]; then
  say "PyTorch eager + SDPA, same shapes"
  PYTHONUNBUFFERED=1 timeout 300 python3 bench/cuda/torch_bert.py --repeats 20 --out "$OUT/torch_bert.json" \
    2>&1 | tail -20
fi

# ---- summary ------------------------------------------------------------------------------
say "summary"
python3 - "$OUT" <<'PY'
import json, sys, glob, os
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "bench_cuda_*.jsonl"))):
    mm = "cublas" if "cublas" in f else "native"
    for line in open(f):
        try: r = json.loads(line)
        except ValueError: continue
        r["matmul"] = mm
        rows.append(r)
for r in rows:
    if r["kind"] in ("ceiling", "gemm", "attention"):
        print(f'{r["case"]:<52} {r["median_ms"]:9.4f} ms {r["rate"]:9.2f} {r["unit"]:<8} err {r["max_rel_err"]:.2g}'
              + (f'  native/cuBLAS {r["vs_cublas"]:.2f}' if r.get("vs_cublas", 0) > 0 else ""))
torch = {}
tf = os.path.join(out, "torch_bert.json")
if os.path.exists(tf):
    for r in json.load(open(tf))["results"]:
        torch[(r["dtype"], r["batch"])] = r["seq_per_s"]
print(f'{"encoder (BERT-base, 128 tokens)":<40} {"senti native":>14} {"senti cuBLAS":>14} {"torch SDPA":>12}')
for dt in ("f32", "f16", "bf16"):
    for b in (1, 32, 256):
        v = {r["matmul"]: r["seq_per_s"] for r in rows if r["kind"] == "encoder" and r["dtype"] == dt and r["batch"] == b}
        t = torch.get((dt, b))
        print(f'{dt + " batch " + str(b):<40} {v.get("native", float("nan")):14.1f} {v.get("cublas", float("nan")):14.1f} '
              f'{(t if t else float("nan")):12.1f}')
PY
say "done; files in $OUT"
