#!/usr/bin/env bash
# run.sh — make (once) the peers' venv from PyPI and run the side-by-side benchmark; arguments go to peers.py.
# The venv lives outside the repository (PEERS_VENV, default /work/peers-venv) and is rebuilt when
# requirements.txt changes; CI never runs this. Build senti first (build/senti, or give --senti).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-/work/peers-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.peers-requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    echo "peers: making the venv $venv from PyPI (torch, transformers, onnxruntime, ctranslate2, ...)" >&2
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
