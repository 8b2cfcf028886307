#!/usr/bin/env python3
"""encoder_shapes.py — random-weight sequence classifiers of the real base
shapes of the encoder families that are not in the peers harness, for
timing senti's encoders end to end (no hub: transformers from_config).

    /work/venv/bin/python bench/encoder_shapes.py OUT_DIR [--only modernbert,deberta]

Writes OUT_DIR/modernbert-base/hf (ModernBERT-base: hidden 768, 22 layers,
FFN 1152 GeGLU, local window 128, global every 3rd layer, CLS head) and
OUT_DIR/deberta-v3-base/hf (hidden 768, 12 layers, FFN 3072, 128,100
vocabulary, relative attention with 256 log buckets, c2p + p2c, shared keys),
3 labels, seed 0. Pad id 0 and [CLS] 101 / [SEP] 102, so the
bert-base-uncased tokenizer in ../shared feeds them (`senti classify
--tokenizer`). Time them with, e.g.:

    build/senti classify -m OUT_DIR/deberta-v3-base/hf \\
        --tokenizer ../shared/assets/tokenizers/bert-base-uncased/tokenizer.json --input texts.jsonl
"""
import argparse
import os

LABELS = {"id2label": {0: "negative", 1: "neutral", 2: "positive"},
          "label2id": {"negative": 0, "neutral": 1, "positive": 2}, "num_labels": 3}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--only", default="modernbert,deberta")
    a = ap.parse_args()
    import torch
    import transformers as tf
    want = set(a.only.split(","))
    if "modernbert" in want:
        torch.manual_seed(0)
        c = tf.ModernBertConfig(pad_token_id=0, cls_token_id=101, sep_token_id=102, bos_token_id=101,
                                eos_token_id=102, **LABELS)
        tf.ModernBertForSequenceClassification(c).eval().save_pretrained(os.path.join(a.out, "modernbert-base", "hf"))
    if "deberta" in want:
        torch.manual_seed(0)
        c = tf.DebertaV2Config(vocab_size=128100, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                               intermediate_size=3072, max_position_embeddings=512, relative_attention=True,
                               position_buckets=256, norm_rel_ebd="layer_norm", share_att_key=True,
                               pos_att_type=["p2c", "c2p"], position_biased_input=False, max_relative_positions=-1,
                               type_vocab_size=0, layer_norm_eps=1e-7, pad_token_id=0, **LABELS)
        tf.DebertaV2ForSequenceClassification(c).eval().save_pretrained(os.path.join(a.out, "deberta-v3-base", "hf"))


if __name__ == "__main__":
    main()
