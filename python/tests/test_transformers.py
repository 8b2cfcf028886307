"""Drop-in comparison with transformers' pipeline("text-classification") on the same model (a BERT
sequence classifier with the real bert-base-uncased tokenizer). Needs torch + transformers: skipped,
saying so, where they are not importable (CI); run locally with /work/venv."""
import os
import shutil

import pytest

import senti
from conftest import BERT_TOK, FIX, need

transformers = pytest.importorskip("transformers", reason="transformers (and torch) not installed: comparison "
                                   "with pipeline('text-classification') skipped")
torch = pytest.importorskip("torch")

TEXTS = ["I loved this movie, it was wonderful.", "Dull, slow and far too long.", "ok",
         "Ünïcödé façade — not bad at all", "the plot , the acting and the music are all " * 8]


def test_text_classification_pipeline(tmp_path):
    src = need(FIX + "/tasks/bert-sst2")
    d = tmp_path / "model"
    shutil.copytree(src, d)
    shutil.copy(need(BERT_TOK), d / "tokenizer.json")
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=str(d / "tokenizer.json"), unk_token="[UNK]",
                                               pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                                               mask_token="[MASK]")
    model = transformers.AutoModelForSequenceClassification.from_pretrained(str(d), dtype=torch.float32)
    pipe = transformers.pipeline("text-classification", model=model, tokenizer=tok, device="cpu")
    m = senti.Model(str(d), threads=2)
    for top_k in (1, None):
        ref = pipe(TEXTS, top_k=top_k) if top_k is None else pipe(TEXTS)
        got = m.classify(TEXTS, top_k=top_k)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            g, r = (g, r) if isinstance(g, list) else ([g], [r])
            assert [x["label"] for x in g] == [x["label"] for x in r]
            assert all(abs(a["score"] - b["score"]) < 1e-5 for a, b in zip(g, r)), (g, r)
    one_ref, one = pipe(TEXTS[0]), m.classify(TEXTS[0])
    assert one[0]["label"] == one_ref[0]["label"] and abs(one[0]["score"] - one_ref[0]["score"]) < 1e-5
