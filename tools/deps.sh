#!/usr/bin/env bash
# deps.sh — install the Debian 12 packages senti builds, tests and benchmarks
# with. Idempotent: skips apt when everything is already installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libopenblas-openmp-dev check libsubunit-dev
      libjansson-dev libutf8proc-dev libpcre2-dev clang libclang-rt-14-dev
      libmicrohttpd-dev curl libopenmpi-dev openmpi-bin
      python3 python3-venv python3-numpy python3-pytest python3-setuptools python3-wheel)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
