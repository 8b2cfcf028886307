#!/usr/bin/env bash
# test_python.sh — the Python package as a person installs it: a venv over
# Debian's python3 (system site packages: numpy, pytest), `pip install` of
# the checkout (no network, no build isolation; setup.py links this build
# tree's libsenti.so), then pytest python/tests, whose tests compare against
# the senti command built here. Usage: test_python.sh SOURCE_DIR BUILD_DIR
# SENTI_BINARY. Exit 77 (skipped) when python3 lacks venv, numpy, pytest,
# setuptools or wheel (tools/deps.sh installs them).
set -uo pipefail
root=$1
build=$2
senti=$3
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if ! "$py" -c 'import ensurepip, venv, numpy, pytest, setuptools, wheel' 2>/dev/null; then
  echo "skipped: $py needs venv, numpy, pytest, setuptools and wheel (tools/deps.sh)"
  exit 77
fi
venv=$build/python-venv
t0=$(date +%s.%N)
if [ ! -x "$venv/bin/python" ]; then
  "$py" -m venv --system-site-packages "$venv" || exit 1
fi
SENTI_BUILD_DIR=$build "$venv/bin/pip" install -q --no-build-isolation --no-deps --no-index "$root" || exit 1
t1=$(date +%s.%N)
echo "test_python: venv + pip install: $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s"
cd "$build" || exit 1
SENTI_CLI=$senti SENTI_ROOT=$root OMP_NUM_THREADS=2 "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider \
  "$root/python/tests"
