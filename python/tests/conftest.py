"""Shared fixtures of the senti Python tests: the repository root, the senti command (SENTI_CLI, set by
tests/test_python.sh; tests that compare against it skip without it) and the shared assets."""
import json
import os
import subprocess

import pytest

ROOT = os.environ.get("SENTI_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.path.join(ROOT, "..", "shared", "assets")
SST2 = os.path.join(ROOT, "models", "sst2-minilm-l6-q8_0.gguf")
TAGGER = os.path.join(ROOT, "models", "absa-tagger-minilm-l6-q8_0.gguf")
BERT_TOK = os.path.join(SHARED, "tokenizers", "bert-base-uncased", "tokenizer.json")
FIX = os.path.join(ROOT, "tests", "fixtures")


def need(path):
    if not os.path.exists(path):
        pytest.skip("%s not found" % path)
    return path


@pytest.fixture(scope="session")
def cli():
    """Run `senti ARGS...`: its stdout lines."""
    exe = os.environ.get("SENTI_CLI")
    if not exe or not os.access(exe, os.X_OK):
        pytest.skip("SENTI_CLI (the senti binary) not set")

    def run(*args):
        out = subprocess.run([exe, *args], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, OMP_NUM_THREADS="2"))
        return out.stdout.decode().splitlines()
    return run


def jl(lines):
    return [json.loads(x) for x in lines]
