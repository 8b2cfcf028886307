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
# The same suite with the SIMD level forced lower, so an AVX-512 machine
# catches what breaks on AVX2-only and plain x86-64 CPUs (test_invariance
# already runs every level the CPU has, so it is not repeated; tests labelled
# nosimd — file formats, tokenizers, scorers — run no kernel whose
# result depends on the level).
for simd in avx2 scalar; do
  echo "test.sh: ctest with SENTI_SIMD=$simd"
  (cd build && SENTI_SIMD=$simd ctest --output-on-failure -j1 -E '^test_invariance$' -LE nosimd)
done

# (the CUDA backend is compiled once, in the Release tree: nothing runs it here)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTI_SANITIZE=ON -DSENTI_WERROR=ON -DSENTI_CUDA=OFF
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j1)

# Bounded fuzzing of the GGUF and safetensors header parsers (libFuzzer, clang
# only): each target runs ~30 s from the committed seeds in tests/fuzz/seeds
# on a scratch copy of the corpus; a crash, leak or sanitizer report fails.
if command -v clang >/dev/null 2>&1; then
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSENTI_FUZZ=ON -DSENTI_CUDA=OFF
  cmake --build build-fuzz -j"$jobs" --target fuzz_gguf fuzz_safetensors
  for t in gguf safetensors; do
    corpus=$(mktemp -d)
    cp tests/fuzz/seeds/"$t"/* "$corpus"/
    build-fuzz/fuzz_"$t" -max_total_time=30 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/ "$corpus"
    rm -rf "$corpus"
  done
else
  echo "test.sh: clang not found; fuzz step skipped"
fi
