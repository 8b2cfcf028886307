#!/usr/bin/env bash
# test.sh — the whole test suite: installs what is missing, builds the
# Release tree and the AddressSanitizer + UndefinedBehaviorSanitizer tree, and
# runs every CTest test in both. Exit status non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSENTI_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTI_SANITIZE=ON -DSENTI_WERROR=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j1)
