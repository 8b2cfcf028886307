#!/usr/bin/env bash
# fetch_deps.sh — run HERE (the Debian 12 dev machine, which has apt), before a
# GPU session: downloads the .deb files of senti's build dependencies into
# <repo>/.debs so that run_h200.sh can unpack them on the H200 machine, which
# has nvcc, CMake and PyTorch but no registry access and maybe no OpenBLAS,
# jansson, utf8proc, PCRE2, Check or pkg-config. The folder must be ignored by
# git and carried:  echo /.debs/ >> .git/info/exclude
#                   run(command="bash bench/cuda/run_h200.sh", carry=[".debs"])
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs
cd .debs
apt-get download \
  libopenblas-openmp-dev libopenblas0-openmp libopenblas-dev libgfortran5 libquadmath0 \
  libjansson-dev libjansson4 libutf8proc-dev libutf8proc2 \
  libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 \
  check libsubunit-dev libsubunit0 pkgconf pkgconf-bin libpkgconf3
ls -la
du -sh .
