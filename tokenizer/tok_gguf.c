/* tok_gguf.c — the tokenizer embedded in a GGUF file.
 *
 * In order of preference:
 *   tokenizer.huggingface.json  the tokenizer.json text (senti convert writes
 *                               it): loaded exactly as the file would be;
 *   senti.hf.vocab_txt          a BERT vocab.txt (with senti.hf.tokenizer_config
 *                               for do_lower_case / tokenize_chinese_chars /
 *                               strip_accents);
 *   senti.hf.vocab_json + senti.hf.merges_txt  a GPT-2 vocab.json + merges.txt;
 *   senti.hf.tokenizer_model    a SentencePiece tokenizer.model (u8 array);
 *   tokenizer.ggml.model "bert" llama.cpp's WordPiece vocabulary in its
 *                               "phantom space" spelling (word-initial pieces
 *                               prefixed with U+2581, continuations without
 *                               "##", control tokens as they are), turned back
 *                               into a vocab.txt and loaded as BERT uncased;
 *   tokenizer.ggml.model "gpt2" byte-level BPE: tokens, merges, token types
 *                               (control = special added tokens, user-defined =
 *                               added tokens), the pre-tokenizer regex named by
 *                               tokenizer.ggml.pre ("gpt-2" and "default": GPT-2's;
 *                               "llama-bpe": Llama 3's, with ignore_merges;
 *                               "qwen2": Qwen2's, after NFC), the BOS token first
 *                               when tokenizer.ggml.add_bos_token;
 *   tokenizer.ggml.model "llama" SentencePiece BPE (tokens, scores, token types
 *                               as sentencepiece numbers them: 2 unknown, 3
 *                               control, 4 user-defined, 6 byte), built as from a
 *                               tokenizer.model (tok_spm.c: merges ordered by the
 *                               merged piece's score, byte fallback when there are
 *                               byte pieces, "\u2581" prepended, "<s>" first
 *                               unless tokenizer.ggml.add_bos_token is false).
 * Other tokenizer.ggml.model / pre values are refused, naming them.
 *
 * The GGUF reader is core/formats.h (below model/ and tokenizer/); this is
 * the one place the tokenizer uses it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer.h"

bool tok_is_gguf(const char *path) { return gguf_is_gguf_path(path); }

static const gguf_value *str_kv(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    return v && v->type == GGUF_VT_STRING ? v : NULL;
}

/* do_lower_case, tokenize_chinese_chars, strip_accents from tokenizer_config.json text. */
static void bert_flags(const char *cfg, bool *lower, bool *chinese, int *strip) {
    if (!cfg) return;
    json_t *j = json_loads(cfg, 0, NULL), *v;
    if (!j) return;
    if ((v = json_object_get(j, "do_lower_case")) && json_is_boolean(v)) *lower = json_is_true(v);
    if ((v = json_object_get(j, "tokenize_chinese_chars")) && json_is_boolean(v)) *chinese = json_is_true(v);
    if ((v = json_object_get(j, "strip_accents")) && json_is_boolean(v)) *strip = json_is_true(v);
    json_decref(j);
}

/* llama.cpp "bert" vocabulary -> vocab.txt text. */
static senti_status ggml_bert(senti_tokenizer *t, const gguf_file *f, const char *path) {
    const gguf_value *toks = gguf_file_find_kv(f, "tokenizer.ggml.tokens");
    const gguf_value *types = gguf_file_find_kv(f, "tokenizer.ggml.token_type");
    if (!toks || toks->type != GGUF_VT_ARRAY || toks->v.arr.type != GGUF_VT_STRING)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.tokens' missing or not an array of strings", path);
    const uint64_t n = toks->v.arr.n;
    if (types && (types->type != GGUF_VT_ARRAY || types->v.arr.n != n || !gguf_vtype_size(types->v.arr.type) ||
                  types->v.arr.items))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.token_type' must be %llu integers", path,
                           (unsigned long long)n);
    size_t bytes = 1;
    for (uint64_t i = 0; i < n; i++) {
        const gguf_value *s = &toks->v.arr.items[i];
        if (s->v.str.len > 4096 || memchr(s->v.str.s, '\n', s->v.str.len))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: token %llu is too long or holds a newline", path,
                               (unsigned long long)i);
        bytes += s->v.str.len + 3;
    }
    char *buf = senti_malloc(bytes), *p = buf;
    if (!buf) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    for (uint64_t i = 0; i < n; i++) {
        const char *s = toks->v.arr.items[i].v.str.s;
        size_t len = toks->v.arr.items[i].v.str.len;
        int64_t ty = 1;
        if (types) {
            gguf_value tv = gguf_arr_get(types, i);
            ty = (tv.type == GGUF_VT_I8 || tv.type == GGUF_VT_I16 || tv.type == GGUF_VT_I32 || tv.type == GGUF_VT_I64)
                     ? tv.v.i : (int64_t)tv.v.u;
        }
        /* control and unknown tokens, and any "[...]", as they are: llama.cpp's converter marks a
         * word start with U+2581, drops "##" and leaves "[...]" unmarked */
        if (ty == 2 || ty == 3 || (len >= 2 && s[0] == '[' && s[len - 1] == ']')) {
        } else if (len >= 3 && memcmp(s, "\xe2\x96\x81", 3) == 0) {
            s += 3, len -= 3;
        } else {
            memcpy(p, "##", 2);
            p += 2;
        }
        memcpy(p, s, len);
        p += len;
        if (i + 1 < n) *p++ = '\n';
    }
    senti_status st = tok_load_vocab_txt_buf(t, path, buf, (size_t)(p - buf), true, true, -1);
    senti_mfree(buf);
    return st;
}

/* Integer value of element i of a fixed-size integer array. */
static int64_t arr_int(const gguf_value *a, uint64_t i) {
    gguf_value v = gguf_arr_get(a, i);
    return (v.type == GGUF_VT_I8 || v.type == GGUF_VT_I16 || v.type == GGUF_VT_I32 || v.type == GGUF_VT_I64)
               ? v.v.i : (int64_t)v.v.u;
}

static const gguf_value *str_array(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    return v && v->type == GGUF_VT_ARRAY && v->v.arr.type == GGUF_VT_STRING ? v : NULL;
}

static bool kv_true(const gguf_file *f, const char *key) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    return v && v->type == GGUF_VT_BOOL && v->v.b;
}

/* "<bos> $A" / "<bos> $A <bos> $B" template (HF's for Llama 3), bos = token id. */
static senti_status bos_template(senti_tokenizer *t, int32_t bos) {
    size_t len;
    const char *s = tok_vocab_str(&t->model.vocab, bos, &len);
    if (!s) return senti_error(SENTI_ERR_BAD_FILE, "%s: BOS id %d is not a token", t->source, bos);
    tok_post *p = t->post = senti_calloc(1, sizeof *t->post);
    if (!p) return SENTI_ERR_NO_MEMORY;
    p->type = TOK_POST_TEMPLATE;
    p->nsingle = 2, p->npair = 4, p->nspecials = 1;
    if (!(p->single = senti_calloc(2, sizeof *p->single)) || !(p->pair = senti_calloc(4, sizeof *p->pair)) ||
        !(p->specials = senti_calloc(1, sizeof *p->specials)))
        return SENTI_ERR_NO_MEMORY;
    char *name = senti_malloc(len + 1);
    if (!name) return SENTI_ERR_NO_MEMORY;
    memcpy(name, s, len);
    name[len] = '\0';
    p->single[0] = (tok_piece){true, 0, name, 0};
    p->single[1] = (tok_piece){false, 0, NULL, 0};
    p->pair[0] = (tok_piece){true, 0, senti_strdup(name), 0};
    p->pair[1] = (tok_piece){false, 0, NULL, 0};
    p->pair[2] = (tok_piece){true, 0, senti_strdup(name), 1};
    p->pair[3] = (tok_piece){false, 1, NULL, 1};
    tok_special *sp = &p->specials[0];
    sp->n = 1;
    if (!p->pair[0].name || !p->pair[2].name || !(sp->name = senti_strdup(name)) || !(sp->ids = senti_calloc(1, 4)) ||
        !(sp->tokens = senti_calloc(1, sizeof(char *))) || !(sp->tokens[0] = senti_strdup(name)))
        return SENTI_ERR_NO_MEMORY;
    sp->ids[0] = bos;
    return SENTI_OK;
}

/* llama.cpp "gpt2" vocabulary: byte-level BPE. */
static senti_status ggml_gpt2(senti_tokenizer *t, const gguf_file *f, const char *path) {
    const gguf_value *toks = str_array(f, "tokenizer.ggml.tokens"), *merges = str_array(f, "tokenizer.ggml.merges");
    const gguf_value *types = gguf_file_find_kv(f, "tokenizer.ggml.token_type"), *pv = str_kv(f, "tokenizer.ggml.pre");
    if (!toks || !merges)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: 'tokenizer.ggml.tokens' or 'tokenizer.ggml.merges' missing or not "
                           "an array of strings", path);
    const uint64_t n = toks->v.arr.n;
    if (n > INT32_MAX) return senti_error(SENTI_ERR_BAD_FILE, "%s: %llu tokens", path, (unsigned long long)n);
    if (types && (types->type != GGUF_VT_ARRAY || types->v.arr.n != n || types->v.arr.items))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.token_type' must be %llu integers", path,
                           (unsigned long long)n);
    const char *pre = pv ? pv->v.str.s : "default", *re = tok_pre_regex(pre); /* the one table */
    if (!re)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre '%s' is not supported (gpt-2, default, "
                           "llama-bpe, qwen2)", path, pre);
    tok_model *m = &t->model;
    senti_status st;
    m->type = TOK_MODEL_BPE;
    m->unk_id = -1;
    m->ignore_merges = re == tok_pre_regex("llama-bpe");
    for (uint64_t i = 0; i < n; i++)
        if ((st = tok_vocab_add(&m->vocab, toks->v.arr.items[i].v.str.s, (size_t)toks->v.arr.items[i].v.str.len,
                                (int32_t)i)))
            return st;
    if ((st = tok_vocab_build(&m->vocab, path))) return st;
    for (int b = 0; b < 256; b++) m->byte_ids[b] = -1;
    if ((st = tok_merges_build(m, (size_t)merges->v.arr.n))) return st;
    for (uint64_t i = 0; i < merges->v.arr.n; i++) {
        const char *ms = merges->v.arr.items[i].v.str.s;
        const size_t ml = (size_t)merges->v.arr.items[i].v.str.len;
        const char *sp = memchr(ms, ' ', ml);
        if (!sp || memchr(sp + 1, ' ', ml - (size_t)(sp + 1 - ms)))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: merge %llu is not two tokens separated by one space", path,
                               (unsigned long long)i);
        if ((st = tok_bpe_add_merge(m, path, (size_t)i + 1, ms, (size_t)(sp - ms), sp + 1, ml - (size_t)(sp + 1 - ms),
                                    (int32_t)i)))
            return st;
    }
    for (uint64_t i = 0; types && i < n; i++) { /* control and user-defined tokens are added tokens */
        const int64_t ty = arr_int(types, i);
        if ((ty == 3 || ty == 4) &&
            (st = tok_added_push(&t->added, toks->v.arr.items[i].v.str.s, (size_t)toks->v.arr.items[i].v.str.len,
                                 (int32_t)i, false, false, false, false, ty == 3)))
            return st;
    }
    if (!(t->pretok = senti_calloc(1, sizeof *t->pretok)) || !(t->decoder = senti_calloc(1, sizeof *t->decoder)))
        return SENTI_ERR_NO_MEMORY;
    t->pretok->type = TOK_PRE_BYTELEVEL;
    t->pretok->use_regex = true;
    if ((st = tok_regex_compile(&t->pretok->re, re, strlen(re), false))) return st;
    t->decoder->type = TOK_DEC_BYTELEVEL;
    if (re == tok_pre_regex("qwen2")) {
        if (!(t->normalizer = senti_calloc(1, sizeof *t->normalizer))) return SENTI_ERR_NO_MEMORY;
        t->normalizer->type = TOK_NORM_NFC;
    }
    int64_t bos = -1;
    const gguf_value *bv = gguf_file_find_kv(f, "tokenizer.ggml.bos_token_id");
    if (bv && (bv->type == GGUF_VT_U32 || bv->type == GGUF_VT_I32 || bv->type == GGUF_VT_U64))
        bos = bv->type == GGUF_VT_I32 ? bv->v.i : (int64_t)bv->v.u;
    if (kv_true(f, "tokenizer.ggml.add_bos_token") && bos >= 0 && bos < (int64_t)n) return bos_template(t, (int32_t)bos);
    if (!(t->post = senti_calloc(1, sizeof *t->post))) return SENTI_ERR_NO_MEMORY;
    t->post->type = TOK_POST_BYTELEVEL;
    t->post->trim_offsets = false;
    return SENTI_OK;
}

/* llama.cpp "llama" vocabulary: SentencePiece BPE (tokens with their scores
 * and piece types), built as transformers' LlamaConverter builds it from a
 * tokenizer.model: merges from the scores, byte fallback to "<0xNN>" pieces,
 * "\u2581" prepended and for spaces, "<s>" first. */
static senti_status ggml_llama(senti_tokenizer *t, const gguf_file *f, const char *path) {
    const gguf_value *toks = str_array(f, "tokenizer.ggml.tokens");
    const gguf_value *scores = gguf_file_find_kv(f, "tokenizer.ggml.scores");
    const gguf_value *types = gguf_file_find_kv(f, "tokenizer.ggml.token_type");
    if (!toks) return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.tokens' missing or not an array of "
                                  "strings", path);
    const uint64_t n = toks->v.arr.n;
    if (n == 0 || n > INT32_MAX) return senti_error(SENTI_ERR_BAD_FILE, "%s: %llu tokens", path, (unsigned long long)n);
    if (!scores || scores->type != GGUF_VT_ARRAY || scores->v.arr.n != n || scores->v.arr.type != GGUF_VT_F32)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.scores' must be %llu f32 values", path,
                           (unsigned long long)n);
    if (types && (types->type != GGUF_VT_ARRAY || types->v.arr.n != n || types->v.arr.items ||
                  !gguf_vtype_size(types->v.arr.type)))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'tokenizer.ggml.token_type' must be %llu integers", path,
                           (unsigned long long)n);
    const gguf_value *asp = gguf_file_find_kv(f, "tokenizer.ggml.add_space_prefix");
    spm sp = {.model_type = 2, .unk_id = 0, .add_dummy_prefix = true,
              .no_space_prefix = asp && asp->type == GGUF_VT_BOOL && !asp->v.b};
    if (!(sp.pieces = senti_malloc((size_t)n * sizeof *sp.pieces)))
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    sp.n = sp.cap = (size_t)n;
    for (uint64_t i = 0; i < n; i++) {
        const int64_t ty = types ? arr_int(types, i) : 1;
        sp.pieces[i] = (spm_piece){toks->v.arr.items[i].v.str.s, (size_t)toks->v.arr.items[i].v.str.len,
                                   (float)gguf_arr_get(scores, i).v.f, ty >= 1 && ty <= 6 ? (int)ty : 1};
        if (ty == 6) sp.byte_fallback = true;
        if (ty == 2) sp.unk_id = (int32_t)i;
    }
    senti_status st = tok_spm_build(t, path, &sp);
    senti_mfree(sp.pieces);
    const gguf_value *ab = gguf_file_find_kv(f, "tokenizer.ggml.add_bos_token");
    const bool add_bos = !(ab && ab->type == GGUF_VT_BOOL && !ab->v.b);
    const gguf_value *bv = gguf_file_find_kv(f, "tokenizer.ggml.bos_token_id");
    const int64_t bos = bv && (bv->type == GGUF_VT_U32 || bv->type == GGUF_VT_U64) ? (int64_t)bv->v.u
                        : bv && bv->type == GGUF_VT_I32                          ? bv->v.i
                                                                                 : -1;
    size_t bl = 0;
    const char *bs = bos >= 0 && bos < (int64_t)n ? tok_vocab_str(&t->model.vocab, (int32_t)bos, &bl) : NULL;
    const bool other_bos = bs && !(bl == 3 && memcmp(bs, "<s>", 3) == 0); /* Gemma's <bos> */
    if (st == SENTI_OK && (!add_bos || other_bos)) { /* no "<s>" template, or one with the file's BOS */
        tok_post_free(t->post);
        senti_mfree(t->post);
        t->post = NULL;
        if (add_bos) st = bos_template(t, (int32_t)bos);
    }
    return st;
}

senti_status tok_load_gguf(senti_tokenizer *t, const char *path) {
    gguf_file *f = gguf_file_load(path);
    if (!f) return SENTI_ERR_BAD_FILE; /* message set by the reader */
    senti_status st;
    const gguf_value *v;
    if ((v = str_kv(f, "tokenizer.huggingface.json"))) {
        st = tok_load_json_text(t, path, v->v.str.s, (size_t)v->v.str.len);
    } else if ((v = str_kv(f, "senti.hf.vocab_txt"))) {
        bool lower = true, chinese = true;
        int strip = -1;
        const gguf_value *c = str_kv(f, "senti.hf.tokenizer_config");
        bert_flags(c ? c->v.str.s : NULL, &lower, &chinese, &strip);
        st = tok_load_vocab_txt_buf(t, path, v->v.str.s, (size_t)v->v.str.len, lower, chinese, strip);
    } else if ((v = str_kv(f, "senti.hf.vocab_json")) && str_kv(f, "senti.hf.merges_txt")) {
        const gguf_value *mg = str_kv(f, "senti.hf.merges_txt");
        st = tok_load_vocab_json_buf(t, path, v->v.str.s, (size_t)v->v.str.len, path, mg->v.str.s, (size_t)mg->v.str.len);
    } else if ((v = gguf_file_find_kv(f, "senti.hf.tokenizer_model")) && v->type == GGUF_VT_ARRAY &&
               v->v.arr.type == GGUF_VT_U8 && v->v.arr.raw) {
        st = tok_load_spm_buf(t, path, v->v.arr.raw, (size_t)v->v.arr.n);
    } else if ((v = str_kv(f, "tokenizer.ggml.model"))) {
        if (strcmp(v->v.str.s, "bert") == 0) st = ggml_bert(t, f, path);
        else if (strcmp(v->v.str.s, "gpt2") == 0) st = ggml_gpt2(t, f, path);
        else if (strcmp(v->v.str.s, "llama") == 0) st = ggml_llama(t, f, path);
        else
            st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%s' is not supported (bert, gpt2, llama, "
                             "or an embedded tokenizer.huggingface.json)", path, v->v.str.s);
    } else {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: no tokenizer in the file (tokenizer.huggingface.json, "
                         "tokenizer.ggml.model)", path);
    }
    gguf_file_free(f);
    if (st == SENTI_ERR_NO_MEMORY && !strstr(senti_last_error(), "memory"))
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory building the tokenizer", path);
    return st;
}
