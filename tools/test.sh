#!/usr/bin/env bash
# test.sh — the whole test suite: installs what is missing, builds the
# Release tree and the AddressSanitizer + UndefinedBehaviorSanitizer tree, and
# runs every CTest test in both. Exit status non-zero if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
# each step's start, seconds since this script began (where CI's time goes)
phase() { echo "test.sh: [${SECONDS} s] $*"; }
phase "dependencies"
tools/deps.sh
jobs=$(nproc)
phase "Release build"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSENTI_WERROR=ON
cmake --build build -j"$jobs"
phase "Release tests"
(cd build && ctest --output-on-failure -j1)
# The same suite with the SIMD level forced lower, so an AVX-512 machine
# catches what breaks on AVX2-only and plain x86-64 CPUs (test_invariance
# already runs every level the CPU has, so it is not repeated; tests labelled
# nosimd — file formats, tokenizers, scorers — run no kernel whose
# result depends on the level).
# At the scalar level the real-model comparison (test_models: ~1,400 sentences
# through two MiniLM models, ~5 min of plain x86-64 integer dots) is left to
# the native and AVX2 passes; the scalar kernels are checked against the
# reference in test_ops and for batch invariance in test_invariance.
for simd in avx2 scalar; do
  skip='^test_invariance$'
  [ "$simd" = scalar ] && skip='^(test_invariance|test_models)$'
  phase "ctest with SENTI_SIMD=$simd"
  (cd build && SENTI_SIMD=$simd ctest --output-on-failure -j1 -E "$skip" -LE nosimd)
done

# (the CUDA backend is compiled once, in the Release tree: nothing runs it here)
phase "ASan + UBSan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTI_SANITIZE=ON -DSENTI_WERROR=ON -DSENTI_CUDA=OFF
cmake --build build-asan -j"$jobs"
phase "ASan + UBSan tests"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
   ctest --output-on-failure -j1)

# Bounded fuzzing of every parser (libFuzzer, clang only): each target in
# tests/fuzz runs 5 s from its committed seeds in tests/fuzz/seeds/<target>
# on a scratch copy of the corpus; a crash, leak, timeout or sanitizer report
# fails. Then a ThreadSanitizer build of the multi-threaded tests (tokenizer
# workers, the executor's thread pool, the batch runner through the CLI);
# OpenMP comes from libomp with its archer tool so TSan sees its barriers.
if command -v clang >/dev/null 2>&1; then
  phase "fuzzing"
  fuzz_targets=$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSENTI_FUZZ=ON -DSENTI_CUDA=OFF
  cmake --build build-fuzz -j"$jobs" --target $fuzz_targets
  for f in $fuzz_targets; do
    t=${f#fuzz_}
    corpus=$(mktemp -d)
    cp tests/fuzz/seeds/"$t"/* "$corpus"/
    # a UBSan report fails the step like a crash (libFuzzer keeps the input)
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      build-fuzz/"$f" -max_total_time=5 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/ "$corpus"
    rm -rf "$corpus"
  done

  phase "ThreadSanitizer"
  cmake -S . -B build-tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENTI_TSAN=ON -DSENTI_CUDA=OFF
  cmake --build build-tsan -j"$jobs" --target senti-cli test_tokenizer test_tasks
  # archer (LLVM's OpenMP tool) tells TSan about libomp's fork / join and
  # barriers; libomp itself is not instrumented (ignore_noninstrumented_modules);
  # CK_FORK=no: archer crashes at exit in Check's forked children. test_tasks
  # runs the batch runner with 2 tokenizer threads and the CLI with --threads 2
  # (the executor's pool); test_tokenizer's unit case encodes from 4 threads.
  archer=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | head -1)
  (cd build-tsan && export CK_FORK=no OMP_TOOL_LIBRARIES="$archer" \
     TSAN_OPTIONS=halt_on_error=1:ignore_noninstrumented_modules=1:second_deadlock_stack=1 &&
   tests/test_tasks && CK_RUN_CASE=unit tests/test_tokenizer)
else
  echo "test.sh: clang not found; fuzz and ThreadSanitizer steps skipped"
fi
phase "done"
