"""The senti package: pipeline-shaped outputs, numpy arrays, and the same results as the senti command."""
import json
import threading

import numpy as np
import pytest

import senti
from conftest import BERT_TOK, FIX, SHARED, SST2, TAGGER, jl, need

TEXTS = ["I loved this movie, it was wonderful.", "Dull, slow and far too long.", "ok",
         "Ünïcödé façade — not bad at all", ""]


@pytest.fixture(scope="module")
def sst2():
    with senti.Model(need(SST2), threads=2) as m:
        yield m


def test_version_and_default_model():
    assert senti.version() == "0.1.0"
    assert senti.default_model() and senti.default_model().endswith(".gguf")


def test_classify_shapes(sst2):
    one = sst2.classify("a great film")
    assert isinstance(one, list) and len(one) == 1 and set(one[0]) == {"label", "score"}
    assert one[0]["label"] == "positive"
    many = sst2.classify(TEXTS)
    assert len(many) == len(TEXTS) and all(set(d) == {"label", "score"} for d in many)
    full = sst2.classify(TEXTS, top_k=None)
    assert all(len(r) == 2 and r[0]["score"] >= r[1]["score"] for r in full)
    assert all(abs(sum(d["score"] for d in r) - 1) < 1e-6 for r in full)
    assert [r[0] for r in full] == many
    pair = sst2.classify({"text": "the food", "text_pair": "was great"})
    assert pair[0]["label"] in ("positive", "negative")


def test_default_model_is_sst2():
    m = senti.Model()
    assert m.labels == ["negative", "positive"]
    assert m.classify("terrible, boring, awful")[0]["label"] == "negative"
    m.close()


def test_classify_equals_cli(sst2, cli, tmp_path):
    inp = tmp_path / "in.txt"
    inp.write_text("\n".join(t for t in TEXTS if t) + "\n")
    texts = [t for t in TEXTS if t]
    lines = cli("classify", "-m", SST2, "--input", str(inp))
    assert sst2.json_lines(texts) == lines  # byte for byte
    ranked = sst2.classify(texts, top_k=None)
    for r, c in zip(ranked, jl(lines)):
        assert {d["label"]: d["score"] for d in r} == c["scores"]
        assert r[0]["label"] == c["label"] and r[0]["score"] == c["score"]


def test_logits_numpy(sst2):
    lg = sst2.logits(TEXTS)
    assert isinstance(lg, np.ndarray) and lg.dtype == np.float32 and lg.shape == (len(TEXTS), 2)
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref = np.array([[d["score"] for d in sorted(r, key=lambda d: sst2.labels.index(d["label"]))]
                    for r in sst2.classify(TEXTS, top_k=None)])
    assert np.allclose(p, ref, atol=1e-6)
    assert sst2.logits("x").shape == (2,)


def test_batch_invariance(sst2):
    alone = [sst2.classify(t, top_k=None) for t in TEXTS]
    assert sst2.classify(TEXTS, top_k=None) == alone
    assert sst2.classify(list(reversed(TEXTS)), top_k=None) == list(reversed(alone))


def test_threads_and_gil(sst2):
    """Four threads classify at once (calls on one task are serialised; results unchanged), and the
    main thread keeps running Python while the engine works (the GIL is released)."""
    texts = TEXTS * 10
    want = sst2.classify(texts, top_k=None)
    got = [None] * 4

    def work(i):
        got[i] = sst2.classify(texts, top_k=None)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    spins = 0
    while any(t.is_alive() for t in ts):
        spins += 1
    for t in ts:
        t.join()
    assert all(g == want for g in got)
    assert spins > 1000, spins


def test_aspect_equals_cli(sst2, cli):
    text = "The food was great but the service was slow."
    res = sst2.aspect(text, ["food", "service", "price"])
    c = jl(cli("aspect", "-m", SST2, "--aspect", "food", "--aspect", "service", "--aspect", "price", text))[0]
    assert res == c["aspects"]
    assert res[2]["start"] is None


def test_tag(cli):
    m = senti.Model(need(TAGGER), threads=2)
    text = "The battery life is great but the screen is dim."
    spans = m.tag(text)
    c = jl(cli("tag", "-m", TAGGER, text))[0]
    assert [(s["entity_group"], s["word"], s["start"], s["end"], s["score"]) for s in spans] == \
        [(s["type"], s["text"], s["start"], s["end"], s["score"]) for s in c["spans"]]
    assert all(text[s["start"]:s["end"]] == s["word"] for s in spans)
    assert m.json_lines([text], task="tag") == cli("tag", "-m", TAGGER, text)


def test_zero_shot_equals_cli(cli):
    nli = need(FIX + "/tasks/bert-nli")
    m = senti.Model(nli, tokenizer=need(BERT_TOK), threads=2)
    out = m.zero_shot(["I love it", "so sad"], ["joy", "anger", "sadness"])
    assert [o["sequence"] for o in out] == ["I love it", "so sad"]
    # the binding holds float weights as stored (f32); the command's default is bf16 on AVX512_BF16 CPUs
    c = jl(cli("zero-shot", "-m", nli, "--dtype", "f32", "--tokenizer", BERT_TOK, "--labels", "joy,anger,sadness", "I love it",
               "so sad"))
    assert [{"labels": o["labels"], "scores": o["scores"]} for o in out] == \
        [{"labels": x["labels"], "scores": x["scores"]} for x in c]
    assert abs(sum(out[0]["scores"]) - 1) < 1e-6


def test_embed_equals_cli(cli):
    d = need(FIX + "/embed")
    m = senti.Model(d, tokenizer=need(BERT_TOK), threads=2)
    e = m.embed(TEXTS[:3])
    assert e.dtype == np.float32 and e.shape[0] == 3 and e.ndim == 2
    c = jl(cli("embed", "-m", d, "--dtype", "f32", "--tokenizer", BERT_TOK, *TEXTS[:3]))
    assert np.array_equal(e, np.array([x["embedding"] for x in c], dtype=np.float32))
    assert m.embed(TEXTS[0]).shape == (e.shape[1],)


def test_generate_equals_cli(cli):
    d = need(FIX + "/llm/llama")
    m = senti.Model(d, threads=2)
    prompts = ["The movie was", "I did not like"]
    out = m.generate(prompts, max_new_tokens=6, temperature=0)
    c = jl(cli("generate", "-m", d, "--max-new-tokens", "6", "--temperature", "0", *prompts))
    assert [o[0]["generated_text"] for o in out] == [p + x["text"] for p, x in zip(prompts, c)]
    assert [o[0]["ids"] for o in out] == [x["ids"] for x in c]
    assert m.generate("The movie was", max_new_tokens=6, temperature=0, return_full_text=False)[0][
        "generated_text"] == c[0]["text"]


def test_eval_equals_cli(sst2, cli, tmp_path):
    dev = need(SHARED + "/data/sst2/dev.tsv")
    small = tmp_path / "dev.tsv"
    small.write_text("".join(open(dev).readlines()[:41]))
    got = sst2.eval(str(small), task="classify", format="tsv")
    c = json.loads(cli("eval", "-m", SST2, "--task", "classify", "--data", str(small), "--format", "tsv")[0])
    assert got == c["metrics"]
    assert got["items"] == 40 and 0.5 < got["accuracy"] <= 1


def test_errors():
    with pytest.raises(senti.Error, match="no-such-model"):
        senti.Model("/no-such-model").classify("x")
    m = senti.Model(need(SST2))
    with pytest.raises(senti.Error):
        m.embed("x")  # a classifier is not a base encoder
    with pytest.raises(TypeError):
        m.classify([1])


def test_probe_findings(tmp_path):
    """An outside probe's findings (2026-12-07): each refused clearly, or as the command does."""
    m = senti.Model(need(SST2), threads=2)
    # close() while another thread runs the model: the call finishes (or raises), the process lives
    big = ["a great movie " * 20] * 300
    box = {}

    def run():
        try:
            box["out"] = m.classify(big)
        except senti.Error as e:
            box["err"] = e

    th = threading.Thread(target=run)
    th.start()
    while not m._tasks:  # the task is loaded, the call under way
        pass
    m.close()
    th.join()
    assert len(box.get("out", [])) == 300 or "err" in box
    with pytest.raises(senti.Error, match="closed"):
        m.classify("x")
    # aspect lists do not each load a model copy; distinct option sets are bounded
    m = senti.Model(need(SST2))
    for i in range(6):
        m.aspect("The food was great", ["food", "x%d" % i])
    assert len(m._tasks) == 1
    for i in range(6):
        m.aspect("The food was great", ["food"], template="the {aspect} %d" % i)
    assert len(m._tasks) == senti.Model.MAX_TASKS
    # bad options and inputs are refused in Python, not wrapped, cut or sliced
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            m.classify("great", top_k=bad)
    with pytest.raises(ValueError, match="NUL"):
        m.classify("a\0b")
    with pytest.raises(ValueError, match="NUL"):
        senti.Model(need(SST2) + "\0junk").classify("x")
    with pytest.raises(ValueError, match="Unicode"):
        m.classify("\ud800")
    with pytest.raises(TypeError, match="bytes"):
        m.classify(b"great")
    with pytest.raises(ValueError, match="threads"):
        senti.Model(need(SST2), threads=2 ** 40).classify("x")
    with pytest.raises(ValueError, match="dtype"):
        senti.Model(need(SST2), dtype="f64").classify("x")
    with pytest.raises(TypeError, match="unknown option"):
        m.eval(str(tmp_path / "x.tsv"), task="dialogue", bogus=1)
    with pytest.raises(senti.Error):
        senti.Model("").classify("x")  # an empty path is a path, not the default model
    assert m.logits([]).shape == (0, 2)
    emb = senti.Model(need(FIX + "/embed"), tokenizer=need(BERT_TOK))
    assert emb.embed([]).shape == (0, emb.embed("x").shape[0])
