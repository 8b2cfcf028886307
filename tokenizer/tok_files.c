/* tok_files.c — tokenizers without a tokenizer.json: a BERT vocab.txt (the
 * pipeline transformers' BertConverter builds) and a GPT-2 vocab.json +
 * merges.txt (GPT2Converter: byte-level BPE, no prefix space).
 * Invariant: the result is indistinguishable from loading the tokenizer.json
 * transformers would write for the same files. */
#include <stdio.h>

#include "tokenizer.h"

static senti_status add_special(senti_tokenizer *t, const char *s) {
    int32_t id = tok_vocab_find(&t->model.vocab, s, strlen(s));
    if (id < 0) return SENTI_OK;
    return tok_added_push(&t->added, s, strlen(s), id, false, false, false, false, true);
}

senti_status tok_setup_bert(senti_tokenizer *t, bool lowercase, bool chinese, int strip_accents) {
    t->normalizer = senti_calloc(1, sizeof *t->normalizer);
    t->pretok = senti_calloc(1, sizeof *t->pretok);
    t->post = senti_calloc(1, sizeof *t->post);
    t->decoder = senti_calloc(1, sizeof *t->decoder);
    if (!t->normalizer || !t->pretok || !t->post || !t->decoder) return senti_error(SENTI_ERR_NO_MEMORY, "BERT: out of memory");
    *t->normalizer = (tok_normalizer){.type = TOK_NORM_BERT, .clean_text = true, .handle_chinese = chinese,
                                      .lowercase = lowercase,
                                      .strip_accents = strip_accents < 0 ? lowercase : strip_accents != 0};
    t->pretok->type = TOK_PRE_BERT;
    t->decoder->type = TOK_DEC_WORDPIECE;
    t->decoder->cleanup = true;
    if (!(t->decoder->prefix = senti_strdup("##"))) return senti_error(SENTI_ERR_NO_MEMORY, "BERT: out of memory");
    tok_post *p = t->post;
    p->type = TOK_POST_BERT;
    p->cls = senti_strdup("[CLS]");
    p->sep = senti_strdup("[SEP]");
    if (!p->cls || !p->sep) return senti_error(SENTI_ERR_NO_MEMORY, "BERT: out of memory");
    p->cls_id = tok_vocab_find(&t->model.vocab, "[CLS]", 5);
    p->sep_id = tok_vocab_find(&t->model.vocab, "[SEP]", 5);
    if (p->cls_id < 0 || p->sep_id < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: [CLS] or [SEP] is not in the vocab", t->source ? t->source : "vocab");
    static const char *specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        if (add_special(t, specials[i])) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

senti_status tok_load_vocab_txt(senti_tokenizer *t, const char *path, bool lowercase, bool chinese, int strip_accents) {
    char *data;
    size_t n;
    senti_status st = tok_read_file(path, &data, &n);
    if (st) return st;
    st = tok_load_vocab_txt_buf(t, path, data, n, lowercase, chinese, strip_accents);
    senti_mfree(data);
    return st;
}

senti_status tok_load_vocab_txt_buf(senti_tokenizer *t, const char *path, const char *data, size_t n, bool lowercase,
                                    bool chinese, int strip_accents) {
    senti_status st = SENTI_OK;
    tok_model *m = &t->model;
    m->type = TOK_MODEL_WORDPIECE;
    m->max_input_chars = 100;
    m->unk_id = -1;
    int32_t id = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && data[e] != '\n') e++;
        size_t l = e - i;
        if (l && data[i + l - 1] == '\r') l--; /* Python's rstrip("\n") keeps \r; vocab.txt files have none */
        if ((st = tok_vocab_add(&m->vocab, data + i, l, id++))) goto done;
        i = e + 1;
    }
    /* a repeated line: the last id, as HF's load_vocab (a dict) and the tokenizers crate (a map) */
    if ((st = tok_vocab_build_dup(&m->vocab, path, true))) goto done;
    m->unk_id = tok_vocab_find(&m->vocab, "[UNK]", 5);
    if (m->unk_id < 0) { /* as tokenizer.json's WordPiece (tok_json.c) */
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: the vocab has no [UNK] token (a WordPiece vocab needs it)", path);
        goto done;
    }
    if (!(m->prefix = senti_strdup("##"))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto done;
    }
    st = tok_setup_bert(t, lowercase, chinese, strip_accents);
done:
    return st;
}

senti_status tok_load_vocab_json(senti_tokenizer *t, const char *vocab, const char *merges) {
    char *vt = NULL, *mt = NULL;
    size_t vn = 0, mn = 0;
    senti_status st = tok_read_file(vocab, &vt, &vn);
    if (st == SENTI_OK) st = tok_read_file(merges, &mt, &mn);
    if (st == SENTI_OK) st = tok_load_vocab_json_buf(t, vocab, vt, vn, merges, mt, mn);
    senti_mfree(vt);
    senti_mfree(mt);
    return st;
}

senti_status tok_load_vocab_json_buf(senti_tokenizer *t, const char *vocab, const char *vtext, size_t vlen,
                                     const char *merges, const char *data, size_t n) {
    json_error_t err;
    senti_status st = SENTI_OK;
    tok_model *m = &t->model;
    json_t *root = json_loadb(vtext, vlen, 0, &err);
    if (!root) return senti_error(SENTI_ERR_BAD_FILE, "%s:%d: invalid JSON: %s", vocab, err.line, err.text);
    if (!json_is_object(root)) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: expected an object {token: id}", vocab);
        goto done;
    }
    m->type = TOK_MODEL_BPE;
    m->unk_id = -1;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: id of '%s' is not a valid integer", vocab, k);
            goto done;
        }
        if ((st = tok_vocab_add(&m->vocab, k, strlen(k), (int32_t)json_integer_value(v)))) goto done;
    }
    if ((st = tok_vocab_build(&m->vocab, vocab))) goto done;
    for (int b = 0; b < 256; b++) m->byte_ids[b] = -1;
    size_t lines = 1;
    for (size_t i = 0; i < n; i++) lines += data[i] == '\n';
    if ((st = tok_merges_build(m, lines))) goto done;
    int32_t rank = 0;
    size_t lineno = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && data[e] != '\n') e++;
        lineno++;
        size_t l = e - i;
        if (l && data[i + l - 1] == '\r') l--;
        const char *s = data + i;
        i = e + 1;
        if (l == 0 || (l >= 8 && memcmp(s, "#version", 8) == 0)) continue;
        const char *sp = memchr(s, ' ', l);
        if (!sp || memchr(sp + 1, ' ', l - (size_t)(sp + 1 - s))) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s:%zu: a merge must be two tokens separated by one space", merges, lineno);
            goto done;
        }
        if ((st = tok_bpe_add_merge(m, merges, lineno, s, (size_t)(sp - s), sp + 1, l - (size_t)(sp + 1 - s), rank++)))
            goto done;
    }
    t->pretok = senti_calloc(1, sizeof *t->pretok);
    t->post = senti_calloc(1, sizeof *t->post);
    t->decoder = senti_calloc(1, sizeof *t->decoder);
    if (!t->pretok || !t->post || !t->decoder) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", vocab);
        goto done;
    }
    t->pretok->type = TOK_PRE_BYTELEVEL;
    t->pretok->use_regex = true;
    const char *re = tok_pre_regex("gpt-2");
    if ((st = tok_regex_compile(&t->pretok->re, re, strlen(re), false))) goto done;
    t->post->type = TOK_POST_BYTELEVEL;
    t->post->trim_offsets = false;
    t->decoder->type = TOK_DEC_BYTELEVEL;
    int32_t eot = tok_vocab_find(&m->vocab, "<|endoftext|>", 13);
    if (eot >= 0) st = tok_added_push(&t->added, "<|endoftext|>", 13, eot, false, false, false, false, true);
done:
    json_decref(root);
    return st;
}
