#!/usr/bin/env bash
# threads.sh — records/s of `senti classify` over 1,000 real sentences with 1
# and 2 threads, on the machine as it is ("quiet") and with one competing
# CPU-bound process per core (`yes > /dev/null`), medians over repeats with the
# range. The thread pool must make 2 threads at least as fast as 1 in both.
#
#   bench/threads.sh MODEL [TOKENIZER] [REPEATS]
#
# MODEL: a sequence classifier (HF directory or GGUF). The sentences are the
# first 1,000 of SST-2 dev + test and TweetEval sentiment validation from
# ../shared/assets/data. Prints one table row per case, and the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: bench/threads.sh MODEL [TOKENIZER] [REPEATS]}
tok=${2:-}
reps=${3:-5}
senti=build/senti
data=../shared/assets/data
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

python3 - "$data" > "$tmp/in.jsonl" <<'PY'
import json, sys
d = sys.argv[1]
texts = [l.split("\t")[0] for l in open(f"{d}/sst2/dev.tsv", encoding="utf-8").read().splitlines()[1:]]
texts += [l.split("\t", 1)[1] for l in open(f"{d}/sst2/test.tsv", encoding="utf-8").read().splitlines()[1:]]
texts += open(f"{d}/tweeteval/sentiment/val_text.txt", encoding="utf-8").read().splitlines()
for i, t in enumerate(texts[:1000]):
    print(json.dumps({"id": i, "text": t}))
PY
n=$(wc -l < "$tmp/in.jsonl")

run() { # threads -> records/s of one run
  local args=(classify -m "$model" --input "$tmp/in.jsonl" --output "$tmp/out.jsonl" --threads "$1")
  [ -n "$tok" ] && args+=(--tokenizer "$tok")
  local t0 t1
  t0=$(date +%s.%N)
  "$senti" "${args[@]}" 2>/dev/null
  t1=$(date +%s.%N)
  python3 -c "print(f'{$n / ($t1 - $t0):.1f}')"
}

stats() { # values... -> "median [min .. max]"
  python3 -c 'import sys, statistics as s
v = sorted(float(x) for x in sys.argv[1:]); print(f"{s.median(v):7.1f} [{v[0]:.1f} .. {v[-1]:.1f}]")' "$@"
}

echo "threads.sh: $n records, $reps repeats, $(nproc) CPUs, model $model"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '| machine | threads | records/s median [min .. max] |\n|---|---|---|\n'
for load in quiet loaded; do
  pids=()
  if [ "$load" = loaded ]; then
    for _ in $(seq "$(nproc)"); do yes > /dev/null & pids+=($!); done
    sleep 1
  fi
  run 1 > /dev/null # warm the page cache
  for th in 1 2; do
    vals=()
    for _ in $(seq "$reps"); do vals+=("$(run "$th")"); done
    printf '| %s | %d | %s |\n' "$load" "$th" "$(stats "${vals[@]}")"
  done
  [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null && wait "${pids[@]}" 2>/dev/null || true
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
