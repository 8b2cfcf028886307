#!/usr/bin/env bash
# dtypes.sh — records/s of `senti classify` over real sentences with the
# linear weights in each --dtype, the variants interleaved within every repeat
# (f32, q8_0, int8, f32, q8_0, int8, …) so a shared machine's load falls on
# all of them alike; medians over repeats with the range, and the load.
#
#   bench/dtypes.sh [MODEL] [REPEATS] [DTYPES] [RECORDS]
#
# MODEL: a sequence classifier (default: the embedded SST-2 MiniLM-L6,
# models/sst2-minilm-l6-q8_0.gguf: its f32 and int8 are made from the q8_0
# weights at load). DTYPES: comma-separated (default f32,q8_0,int8). The
# sentences are the first RECORDS (default 1,000) of SST-2 dev + test and TweetEval sentiment
# validation from ../shared/assets/data. SENTI_SIMD passes through.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/sst2-minilm-l6-q8_0.gguf}
reps=${2:-5}
IFS=, read -r -a dtypes <<< "${3:-f32,q8_0,int8}"
records=${4:-1000}
senti=${SENTI:-build/senti}
data=../shared/assets/data
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$data" "$records" > "$tmp/in.jsonl" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
texts = [l.split("\t")[0] for l in open(f"{d}/sst2/dev.tsv", encoding="utf-8").read().splitlines()[1:]]
texts += [l.split("\t", 1)[1] for l in open(f"{d}/sst2/test.tsv", encoding="utf-8").read().splitlines()[1:]]
texts += open(f"{d}/tweeteval/sentiment/val_text.txt", encoding="utf-8").read().splitlines()
for i, t in enumerate(texts[:n]):
    print(json.dumps({"id": i, "text": t}))
PY
n=$(wc -l < "$tmp/in.jsonl")

run() { # dtype -> records/s of one run (wall clock, including load and tokenization)
  local t0 t1
  t0=$(date +%s.%N)
  "$senti" classify -m "$model" --dtype "$1" --input "$tmp/in.jsonl" --output "$tmp/out-$1.jsonl" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$n / ($t1 - $t0):.1f}')"
}

stats() { # values... -> "median [min .. max]"
  python3 -c 'import sys, statistics as s
v = sorted(float(x) for x in sys.argv[1:]); print(f"{s.median(v):7.1f} [{v[0]:.1f} .. {v[-1]:.1f}]")' "$@"
}

echo "dtypes.sh: $n records, $reps repeats, $(nproc) CPUs, model $model, SENTI_SIMD=${SENTI_SIMD:-native}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A vals
for dt in "${dtypes[@]}"; do run "$dt" > /dev/null; done # warm the page cache
for _ in $(seq "$reps"); do
  for dt in "${dtypes[@]}"; do vals[$dt]+="$(run "$dt") "; done
done
printf '| dtype | records/s median [min .. max] | labels equal to %s |\n|---|---|---|\n' "${dtypes[0]}"
for dt in "${dtypes[@]}"; do
  same=$(python3 -c 'import json, sys
a = [json.loads(l)["label"] for l in open(sys.argv[1])]; b = [json.loads(l)["label"] for l in open(sys.argv[2])]
print(f"{sum(x == y for x, y in zip(a, b))}/{len(a)}")' "$tmp/out-${dtypes[0]}.jsonl" "$tmp/out-$dt.jsonl")
  # shellcheck disable=SC2086
  printf '| %s | %s | %s |\n' "$dt" "$(stats ${vals[$dt]})" "$same"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
