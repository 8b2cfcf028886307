#!/bin/bash
# decoder_vs_llamacpp.sh — senti and llama.cpp back to back on the same
# Qwen2-0.5B shapes (run on an otherwise idle machine; compare the ratios).
#   bench/decoder_vs_llamacpp.sh LLAMA_CPP_BIN_DIR QWEN05B_GGUF_DIR OUT_DIR
# The GGUFs (qwen05b-{f32,bf16,q8_0}.gguf) come from
#   python3 tools/fixtures/make_llamacpp_ggufs.py LLAMA_CPP_DIR --no-fixtures --qwen05b DIR
set -euo pipefail
B=${1:?llama.cpp bin dir}; Q=${2:?gguf dir}; O=${3:?output dir}
cd "$(dirname "$0")/.."
mkdir -p "$O"
echo "start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
build/senti bench decoder --repeats 5 --threads 2 > "$O/senti_dec.txt" 2>&1
for T in f32 bf16 q8_0; do
  "$B/llama-bench" -m "$Q/qwen05b-$T.gguf" -p 128 -n 64 -t 2 -r 3 -o md > "$O/lb_$T.txt" 2>&1
  "$B/llama-batched-bench" -m "$Q/qwen05b-$T.gguf" -c 4096 -b 2048 -ub 512 -npp 128 -ntg 32 -npl 1,16 -t 2 \
    > "$O/lbb_$T.txt" 2>&1
done
echo "end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
