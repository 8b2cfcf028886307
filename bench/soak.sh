#!/usr/bin/env bash
# soak.sh — `senti classify --resume` killed with SIGKILL at random moments,
# then run to the end: every id exactly once and in order, every malformed
# record answered with its own error, the sidecar naming every record, no
# stray temp files; prints the peak RSS of the runs (VmHWM sampled every 50 ms).
#
#   bench/soak.sh [-n RECORDS] [-k KILLS] [-s SENTI] [-m MODEL] [-t TOKENIZER] [-d WORKDIR] [-r SEED]
#
# Defaults: 1,000,000 records, 20 kills, build/senti, the fixture model
# tests/fixtures/tasks/bert-sst2 with the bert-base-uncased tokenizer (small: the
# soak exercises the runner and the output, not the model; `-m
# models/sst2-minilm-l6-q8_0.gguf -t ''` runs the embedded model instead).
# 1% of the records are malformed, in turn: invalid JSON, invalid UTF-8, no
# "text", a non-string "text", a duplicate key, not an object, a non-string
# "text_pair", a bad "id"; 0.1% are longer than the model's 512 tokens.
# Each kill comes after a random delay spread over the estimated time left.
# Exit 0 when every check passes, 1 otherwise, 77 when the inputs are missing.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
N=1000000 KILLS=20 SENTI=$here/build/senti MODEL=$here/tests/fixtures/tasks/bert-sst2
TOK=$here/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json WORK= SEED=$$
while getopts "n:k:s:m:t:d:r:" o; do
  case $o in
    n) N=$OPTARG ;; k) KILLS=$OPTARG ;; s) SENTI=$OPTARG ;; m) MODEL=$OPTARG ;; t) TOK=$OPTARG ;;
    d) WORK=$OPTARG ;; r) SEED=$OPTARG ;; *) echo "usage: $0 [-n N] [-k KILLS] [-s SENTI] [-m MODEL] [-t TOK] [-d DIR] [-r SEED]" >&2; exit 2 ;;
  esac
done
for f in "$SENTI" "$MODEL" ${TOK:+"$TOK"}; do
  [ -e "$f" ] || { echo "soak: skipped, $f not found" >&2; exit 77; }
done
own_work=0
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/senti-soak-XXXXXX); own_work=1; fi
mkdir -p "$WORK"
in=$WORK/in.jsonl out=$WORK/out.jsonl log=$WORK/runs.log
rm -f "$out" "$out".progress* "$log"
RANDOM=$SEED

# ---- the input: ids 0..N-1 (the line index too), 1% malformed in 8 kinds ----------
awk -v n="$N" 'BEGIN {
  for (i = 0; i < n; i++) {
    if (i % 100 == 37) {
      k = int(i / 100) % 8
      if (k == 0) printf "{\"id\":%d,\"text\":\"unterminated\n", i
      else if (k == 1) printf "{\"id\":%d,\"text\":\"bad \377 byte\"}\n", i
      else if (k == 2) printf "{\"id\":%d,\"txt\":\"no text field\"}\n", i
      else if (k == 3) printf "{\"id\":%d,\"text\":%d}\n", i, i
      else if (k == 4) printf "{\"id\":%d,\"text\":\"a\",\"text\":\"b\"}\n", i
      else if (k == 5) printf "[%d,\"not an object\"]\n", i
      else if (k == 6) printf "{\"id\":%d,\"text\":\"x\",\"text_pair\":[1]}\n", i
      else printf "{\"id\":[%d],\"text\":\"bad id\"}\n", i
    } else if (i % 1000 == 503) {
      printf "{\"id\":%d,\"text\":\"", i
      for (w = 0; w < 700; w++) printf "long "
      printf "\"}\n"
    } else {
      printf "{\"id\":%d,\"text\":\"record %d: the film was %s and the cast %s\"}\n", i, i,
             (i % 3 ? "good" : "awful"), (i % 7 ? "fine" : "wooden")
    }
  }
}' > "$in"

run_args=(classify -m "$MODEL" ${TOK:+--tokenizer "$TOK"} --input "$in" --output "$out" --resume --threads 2)
peak=0
# Watch pid until it exits or `deadline` (seconds since the epoch, 0: none), keeping the
# peak VmHWM in $peak (KiB); kill -9 at the deadline. Returns 0 when killed, else 1
# with the run's exit status in $exit_rc.
exit_rc=0
watch_run() {
  local pid=$1 deadline=$2 hwm
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/^VmHWM/ {print $2}' /proc/"$pid"/status 2>/dev/null)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    if [ "$deadline" != 0 ] && [ "$(date +%s%N)" -ge "$deadline" ]; then
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      return 0
    fi
    sleep 0.05
  done
  wait "$pid"
  exit_rc=$?
  return 1
}
done_records() {
  local r
  r=$(grep -o '"records":[0-9]*' "$out.progress" 2>/dev/null | cut -d: -f2)
  echo "${r:-0}"
}

t0=$(date +%s.%N)
rate=0 # records/s seen so far (0: unknown yet)
kills=0 prev=0 prev_t=$t0
while [ "$kills" -lt "$KILLS" ]; do
  left=$((N - $(done_records)))
  # a random delay in (0, 2 x the time left / kills left]: kills spread over the run
  if [ "$rate" = 0 ]; then span_ms=3000; else span_ms=$(awk -v l="$left" -v r="$rate" -v k=$((KILLS - kills + 1)) 'BEGIN { printf "%d", 2000 * l / r / k }'); fi
  [ "$span_ms" -lt 200 ] && span_ms=200
  delay_ms=$(( (RANDOM * 32768 + RANDOM) % span_ms + 1 ))
  "$SENTI" "${run_args[@]}" >/dev/null 2>>"$log" &
  pid=$!
  start=$(date +%s%N)
  if watch_run "$pid" $((start + delay_ms * 1000000)); then
    kills=$((kills + 1))
    now=$(date +%s.%N) d=$(done_records)
    d=${d:-0}
    echo "soak: kill $kills after $delay_ms ms: $d records answered" >&2
    [ "$d" -gt 0 ] && rate=$(awk -v d="$d" -v t0="$t0" -v t="$now" 'BEGIN { r = (t - t0) > 0 ? d / (t - t0) : 0; printf "%d", (r > 1 ? r : 1) }')
  else
    echo "soak: the run ended before kill $((kills + 1)) (after $delay_ms ms)" >&2
    break
  fi
done
if [ "$(done_records)" != "$N" ] || [ ! -s "$out" ]; then
  "$SENTI" "${run_args[@]}" >/dev/null 2>>"$log" &
  watch_run $! 0
fi
t1=$(date +%s.%N)

# ---- the checks --------------------------------------------------------------
fail=0
[ "$exit_rc" = 0 ] || { echo "soak: FAIL the last run exited with $exit_rc" >&2; tail -3 "$log" >&2; fail=1; }
awk -v n="$N" '
  function bad(msg) { printf "soak: FAIL line %d: %s: %s\n", NR, msg, substr($0, 1, 120) > "/dev/stderr"; errs++ }
  {
    if (!match($0, /^\{"id":[0-9]+,/)) { bad("no integer id first"); next }
    id = substr($0, 7, RLENGTH - 7) + 0
    if (id != NR - 1) { bad("id " id " where " NR - 1 " was due"); next }
    if (id % 100 == 37) {
      k = int(id / 100) % 8
      want = k == 0 ? "invalid JSON" : k == 1 ? "invalid UTF-8" : k == 2 ? "missing field" : k == 3 ? "\\\"text\\\" must be a string" : k == 4 ? "duplicate object key" : k == 5 ? "not a JSON object" : k == 6 ? "\\\"text_pair\\\" must be a string" : "\\\"id\\\" must be a string or an integer"
      if (index($0, "\"error\":") == 0) bad("a malformed record without an error")
      else if (index($0, want) == 0) bad("error lacks " want)
      malformed++
    } else if (index($0, "\"label\":") == 0) bad("a good record without a label")
  }
  END {
    if (NR != n) { printf "soak: FAIL %d lines for %d records\n", NR, n > "/dev/stderr"; errs++ }
    printf "soak: %d lines, %d malformed records each with its own error, %d problems\n", NR, malformed, errs > "/dev/stderr"
    exit errs > 0
  }' "$out" || fail=1
[ "$(done_records)" = "$N" ] || { echo "soak: FAIL the sidecar names $(done_records) records" >&2; fail=1; }
stray=$(ls "$out".progress.* 2>/dev/null | wc -l)
[ "$stray" = 0 ] || { echo "soak: FAIL $stray stray sidecar temp files" >&2; fail=1; }
printf 'soak: %d records, %d kills, %.1f s in all, peak RSS %d KiB (%.1f MiB)\n' "$N" "$kills" \
  "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$peak" "$(awk -v p="$peak" 'BEGIN { print p / 1024 }')" >&2
[ "$fail" = 0 ] && echo "soak: PASS" >&2 || echo "soak: FAIL (work dir kept: $WORK)" >&2
[ "$fail" = 0 ] && [ "$own_work" = 1 ] && rm -rf "$WORK"
exit "$fail"
