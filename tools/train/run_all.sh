#!/usr/bin/env bash
# run_all.sh — train every model of tools/train/ one after the other, niced,
# logging to ../train-cache/NAME.log (see bench/MODELS.md for the times each took).
# SENTI_BIN: the senti binary for the senti half (default build/senti).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-/work/venv/bin/python}
mkdir -p ../train-cache
for s in ${@:-sst2 tweeteval aspect tagger meld}; do
  echo "== $s $(date -u +%FT%TZ)"
  nice -n 10 "$PY" tools/train/train_"$s".py > ../train-cache/"$s".log 2>&1
done
echo "== done $(date -u +%FT%TZ)"
