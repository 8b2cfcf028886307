/* tokenizer.c — the public tokenizer API and the encode pipeline:
 * repair UTF-8 -> split raw added tokens -> normalize each piece -> split
 * normalized added tokens -> pre-tokenize -> model -> truncate -> post-process.
 * Invariant: encode touches the tokenizer read-only; all scratch lives in a
 * tok_ctx local to the call (thread-safe on a shared tokenizer). */
#include <stdio.h>
#include <sys/stat.h>

#include "tokenizer.h"

senti_encode_opts senti_encode_opts_defaults(void) {
    return (senti_encode_opts){.add_special_tokens = 1, .truncation = SENTI_TRUNCATE_NONE, .max_length = 0};
}

/* ---- one sequence --------------------------------------------------------------- */

static senti_status run_model(const tok_model *m, tok_ctx *ctx, const char *w, size_t n) {
    switch (m->type) {
    case TOK_MODEL_WORDPIECE: return tok_wordpiece_tokenize(m, ctx, w, n);
    case TOK_MODEL_BPE: return tok_bpe_tokenize(m, ctx, w, n);
    case TOK_MODEL_UNIGRAM: return tok_unigram_tokenize(m, ctx, w, n);
    }
    return senti_error(SENTI_ERR_UNSUPPORTED, "tokenizer: unknown model type %d", (int)m->type);
}

static senti_status encode_seq(const senti_tokenizer *t, tok_ctx *ctx, const char *text, size_t len, int32_t type_id,
                               senti_encoding *enc) {
    senti_status st;
    int32_t nchars;
    tok_str *orig = &ctx->str[0], *norm = &ctx->str[1];
    tok_splits *sp = &ctx->sp[0], *sp2 = &ctx->sp[1];
    if ((st = tok_utf8_repair(text, len, orig, &nchars))) return st;
    /* 1. raw (normalized=false) added tokens on the original text */
    sp->n = 0;
    if ((st = tok_added_split(&t->added, false, orig, 0, orig->len, sp))) return st;
    /* 2. normalize every text piece, then split normalized added tokens */
    norm->len = 0;
    sp2->n = 0;
    for (size_t i = 0; i < sp->n; i++) {
        tok_split s = sp->v[i];
        size_t at = norm->len;
        if (s.id >= 0) {
            if ((st = tok_str_append(norm, orig, s.off, s.len)) || (st = tok_splits_push(sp2, at, s.len, s.id)))
                return st;
            continue;
        }
        st = t->normalizer ? tok_normalize(t->normalizer, ctx, orig, s.off, s.len, norm)
                           : tok_str_append(norm, orig, s.off, s.len);
        if (st || (st = tok_added_split(&t->added, true, norm, at, norm->len - at, sp2))) return st;
    }
    /* make str[0] / sp[0] the current ones */
    tok_str ts = ctx->str[0];
    ctx->str[0] = ctx->str[1];
    ctx->str[1] = ts;
    tok_splits tsp = ctx->sp[0];
    ctx->sp[0] = ctx->sp[1];
    ctx->sp[1] = tsp;
    tok_str *cur = &ctx->str[0];
    sp = &ctx->sp[0];
    /* 3. pre-tokenize */
    if (t->pretok && (st = tok_pretokenize(t->pretok, ctx, &cur, &sp))) return st;
    /* 4. model, word by word */
    for (size_t i = 0; i < sp->n; i++) {
        tok_split s = sp->v[i];
        if (s.len == 0) continue;
        if (s.id >= 0) {
            /* HF: an added token's value is the matched text (with any lstrip/rstrip spaces) */
            if ((st = tok_enc_push(enc, s.id, cur->s + s.off, s.len, cur->a0[s.off], cur->a1[s.off + s.len - 1], type_id, (int32_t)i,
                                   false)))
                return st;
            continue;
        }
        ctx->toks.n = 0;
        if ((st = run_model(&t->model, ctx, cur->s + s.off, s.len))) return st;
        for (size_t k = 0; k < ctx->toks.n; k++) {
            tok_token tk = ctx->toks.v[k];
            size_t tl = 0;
            const char *ts2 = tk.raw ? cur->s + s.off + tk.off : tok_vocab_str(&t->model.vocab, tk.id, &tl);
            if (tk.raw) tl = tk.len;
            if (!ts2) ts2 = "", tl = 0;
            size_t b = s.off + tk.off, e = b + (tk.len ? tk.len : 1) - 1;
            if (e >= cur->len) e = cur->len - 1;
            int32_t o0 = cur->a0[b], o1 = tk.len ? cur->a1[e] : cur->a0[b];
            if ((st = tok_enc_push(enc, tk.id, ts2, tl, o0, o1, type_id, (int32_t)i, false))) return st;
        }
    }
    return SENTI_OK;
}

/* ---- truncation while tokenizing ----------------------------------------------------
 * With truncation only the first max_length tokens of a sequence survive, so
 * a long text need not be tokenized whole: a prefix ending at a cut gives
 * exactly the full text's first tokens when no stage of the pipeline looks
 * across the cut. A cut is a position p with text[p] == ' ' between ASCII
 * letters / digits; the pipeline allows it (cut_safe, decided once at load)
 * when every normalizer is character-local there (Replace / a charsmap whose
 * patterns hold no space), the pre-tokenizer splits at that space (BERT,
 * Whitespace, Metaspace, ByteLevel's or a named Split regex) and no added
 * token could span or strip across it. Then memory follows max_length, not
 * the text: the prefix doubles until it yields max_length + 1 tokens. */

static bool norm_cut_safe(const tok_normalizer *n) {
    switch (n->type) {
    case TOK_NORM_REPLACE: return n->re.cut_ok;
    case TOK_NORM_PRECOMPILED: /* no trie unit is labelled ' ': no pattern holds a space */
        for (size_t i = 0; i < n->pc.trie_n; i++)
            if ((n->pc.trie[i] & ((1u << 31) | 0xFFu)) == ' ') return false;
        return true;
    case TOK_NORM_SEQUENCE:
        for (int i = 0; i < n->nseq; i++)
            if (!norm_cut_safe(&n->seq[i])) return false;
        return true;
    default: return true; /* per character, or only at the ends (Strip, Prepend) */
    }
}

/* 1: splits at the cut; 0: neither splits nor joins across it; -1: may join across it */
static int pretok_cut(const tok_pretok *p) {
    switch (p->type) {
    case TOK_PRE_BERT: case TOK_PRE_WHITESPACE: case TOK_PRE_WHITESPACE_SPLIT: return 1;
    case TOK_PRE_METASPACE: return p->split ? 1 : 0;
    case TOK_PRE_BYTELEVEL: return p->use_regex ? (p->re.cut_ok ? 1 : -1) : 0;
    case TOK_PRE_SPLIT:
        return p->re.cut_ok && !p->invert && (p->behavior == TOK_SPLIT_ISOLATED || p->behavior == TOK_SPLIT_REMOVED)
                   ? 1 : -1;
    case TOK_PRE_DIGITS: case TOK_PRE_PUNCTUATION: return 0;
    case TOK_PRE_SEQUENCE: {
        int r = 0;
        for (int i = 0; i < p->nseq; i++) {
            int k = pretok_cut(&p->seq[i]);
            if (k < 0) return -1;
            if (k > 0) r = 1;
        }
        return r;
    }
    }
    return -1;
}

static bool is_alnum_ascii(unsigned char c) { return (unsigned)((c | 32) - 'a') < 26u || (unsigned)(c - '0') < 10u; }

static bool tokenizer_cut_safe(const senti_tokenizer *t) {
    if (!t->pretok || pretok_cut(t->pretok) != 1) return false; /* without a split the text is one word */
    if (t->normalizer && !norm_cut_safe(t->normalizer)) return false;
    for (int i = 0; i < t->added.n; i++) {
        const tok_added *a = &t->added.v[i];
        const char *c[2] = {a->content, a->ncontent};
        const size_t l[2] = {a->len, a->nlen};
        for (int k = 0; k < 2; k++) {
            if (!c[k] || l[k] == 0) continue;
            if (memchr(c[k], ' ', l[k])) return false;
            if (a->lstrip && is_alnum_ascii((unsigned char)c[k][0])) return false;
            if (a->rstrip && is_alnum_ascii((unsigned char)c[k][l[k] - 1])) return false;
        }
    }
    return true;
}

/* The first cut at or after `from` (0: none). */
static size_t cut_at(const char *s, size_t len, size_t from) {
    for (size_t p = from > 0 ? from : 1; p + 1 < len; p++)
        if (s[p] == ' ' && is_alnum_ascii((unsigned char)s[p - 1]) && is_alnum_ascii((unsigned char)s[p + 1])) return p;
    return 0;
}

/* encode_seq, but when keep >= 0 and the pipeline allows cuts, only a prefix:
 * enc gets the text's first tokens, at least keep + 1 of them when the text
 * has more (all of them when it has no more). *cut: whether a prefix was used. */
static senti_status encode_seq_upto(const senti_tokenizer *t, tok_ctx *ctx, const char *text, size_t len,
                                    int32_t type_id, int64_t keep, senti_encoding *enc, bool *cut) {
    *cut = false;
    if (keep >= 0 && t->cut_safe) {
        for (size_t want = 16 * (size_t)keep + 256; want < len / 2; want *= 2) {
            const size_t p = cut_at(text, len, want);
            if (p == 0) break;
            senti_status st = encode_seq(t, ctx, text, p, type_id, enc);
            if (st != SENTI_OK) return st;
            if (enc->n > keep) {
                *cut = true;
                return SENTI_OK;
            }
            enc->n = enc->pool_len = 0; /* too few tokens: a longer prefix */
        }
    }
    return encode_seq(t, ctx, text, len, type_id, enc);
}

static void enc_truncate(senti_encoding *e, int64_t n) {
    if (n < e->n) e->n = n;
}

static senti_status truncate_pair(senti_encoding *a, senti_encoding *b, senti_truncation strat, int64_t max_len) {
    int64_t total = a->n + (b ? b->n : 0);
    if (total <= max_len) return SENTI_OK;
    int64_t to_remove = total - max_len;
    if (strat == SENTI_TRUNCATE_LONGEST_FIRST) {
        if (!b) {
            enc_truncate(a, total - to_remove);
            return SENTI_OK;
        }
        int64_t n1 = a->n, n2 = b->n;
        bool swap = n1 > n2;
        if (swap) {
            int64_t x = n1;
            n1 = n2;
            n2 = x;
        }
        if (n1 > max_len) n2 = n1;
        else n2 = n1 > max_len - n1 ? n1 : max_len - n1;
        if (n1 + n2 > max_len) {
            n1 = max_len / 2;
            n2 = n1 + max_len % 2;
        }
        if (swap) {
            int64_t x = n1;
            n1 = n2;
            n2 = x;
        }
        enc_truncate(a, n1);
        enc_truncate(b, n2);
        return SENTI_OK;
    }
    senti_encoding *target = strat == SENTI_TRUNCATE_ONLY_FIRST ? a : b;
    if (!target) return senti_error(SENTI_ERR_INVALID_ARG, "truncation only_second needs a pair of sequences");
    if (target->n <= to_remove)
        return senti_error(SENTI_ERR_INVALID_ARG,
                           "truncation %s: the sequence (%lld tokens) is too short to remove %lld tokens",
                           strat == SENTI_TRUNCATE_ONLY_FIRST ? "only_first" : "only_second", (long long)target->n,
                           (long long)to_remove);
    enc_truncate(target, target->n - to_remove);
    return SENTI_OK;
}

static void enc_release(senti_encoding *e) {
    senti_mfree(e->ids);
    senti_mfree(e->type_ids);
    senti_mfree(e->offsets);
    senti_mfree(e->word_ids);
    senti_mfree(e->special);
    senti_mfree(e->tok_off);
    senti_mfree(e->pool);
}

senti_status senti_tokenizer_encode(const senti_tokenizer *t, const char *text, size_t len, const char *pair,
                                    size_t pair_len, const senti_encode_opts *opts, senti_encoding **out) {
    senti_encode_opts o = opts ? *opts : senti_encode_opts_defaults();
    *out = NULL;
    if (!t || (!text && len)) return senti_error(SENTI_ERR_INVALID_ARG, "senti_tokenizer_encode: NULL argument");
    if (o.truncation < SENTI_TRUNCATE_NONE || o.truncation > SENTI_TRUNCATE_ONLY_SECOND)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_tokenizer_encode: bad truncation strategy %d", (int)o.truncation);
    tok_ctx ctx = {0};
    senti_encoding a = {0}, b = {0};
    senti_encoding *res = senti_calloc(1, sizeof *res);
    senti_status st = SENTI_OK;
    if (!res) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "senti_tokenizer_encode: out of memory");
        goto fail;
    }
    /* truncating: each sequence only as far as the truncation can keep of it
     * (a single one, or longest_first: max_length tokens + 1; only_first /
     * only_second: the truncated one; the other whole) */
    const int added = o.add_special_tokens ? tok_post_added(t->post, pair != NULL) : 0;
    const int64_t room = o.truncation != SENTI_TRUNCATE_NONE && o.max_length >= added ? o.max_length - added : -1;
    const bool lf = o.truncation == SENTI_TRUNCATE_LONGEST_FIRST || !pair;
    bool cut_a, cut_b = false;
    if ((st = encode_seq_upto(t, &ctx, text ? text : "", len, 0,
                              lf || o.truncation == SENTI_TRUNCATE_ONLY_FIRST ? room : -1, &a, &cut_a)))
        goto fail;
    if (pair && (st = encode_seq_upto(t, &ctx, pair, pair_len, 1,
                                      lf || o.truncation == SENTI_TRUNCATE_ONLY_SECOND ? room : -1, &b, &cut_b)))
        goto fail;
    /* longest_first with both sequences over the room and an odd room: the
     * longer one keeps the extra token, so their whole lengths are needed */
    if (pair && lf && (cut_a || cut_b) && a.n > room && b.n > room && room % 2 == 1) {
        enc_release(&a), enc_release(&b);
        memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
        cut_a = cut_b = false;
        if ((st = encode_seq(t, &ctx, text ? text : "", len, 0, &a)) || (st = encode_seq(t, &ctx, pair, pair_len, 1, &b)))
            goto fail;
    }
    /* as tokenizers does: max_length below the special tokens truncates nothing (its unsigned max_length -
     * added wraps), equal to them empties both sequences whatever the strategy (its max_length 0 case) */
    if (o.truncation != SENTI_TRUNCATE_NONE && o.max_length >= added) {
        int64_t max_len = o.max_length;
        st = truncate_pair(&a, pair ? &b : NULL, max_len == added ? SENTI_TRUNCATE_LONGEST_FIRST : o.truncation,
                           max_len - added);
        if (st != SENTI_OK && (cut_a || cut_b)) { /* the refusal names whole lengths: tokenize whole to say it */
            enc_release(&a), enc_release(&b);
            memset(&a, 0, sizeof a), memset(&b, 0, sizeof b);
            if ((st = encode_seq(t, &ctx, text ? text : "", len, 0, &a)) ||
                (pair && (st = encode_seq(t, &ctx, pair, pair_len, 1, &b))))
                goto fail;
            st = truncate_pair(&a, pair ? &b : NULL, o.truncation, max_len - added);
        }
        if (st != SENTI_OK) goto fail;
    }
    if ((st = tok_post_process(t->post, &a, pair ? &b : NULL, o.add_special_tokens != 0, res))) goto fail;
    enc_release(&a);
    enc_release(&b);
    tok_ctx_free(&ctx);
    *out = res;
    return SENTI_OK;
fail:
    enc_release(&a);
    enc_release(&b);
    tok_ctx_free(&ctx);
    senti_encoding_free(res);
    return st;
}

/* ---- accessors ------------------------------------------------------------------------ */

int64_t senti_encoding_len(const senti_encoding *e) { return e ? e->n : 0; }
const int32_t *senti_encoding_ids(const senti_encoding *e) { return e->ids; }
const int32_t *senti_encoding_type_ids(const senti_encoding *e) { return e->type_ids; }
const int32_t *senti_encoding_offsets(const senti_encoding *e) { return e->offsets; }
const int32_t *senti_encoding_word_ids(const senti_encoding *e) { return e->word_ids; }
const uint8_t *senti_encoding_special_mask(const senti_encoding *e) { return e->special; }
const char *senti_encoding_token(const senti_encoding *e, int64_t i) {
    if (!e || i < 0 || i >= e->n) return NULL;
    return e->pool + e->tok_off[i];
}
void senti_encoding_free(senti_encoding *e) {
    if (!e) return;
    enc_release(e);
    senti_mfree(e);
}

/* ---- vocabulary ------------------------------------------------------------------------- */

int64_t senti_tokenizer_vocab_size(const senti_tokenizer *t) {
    int64_t n = t->model.vocab.n;
    for (int i = 0; i < t->added.n; i++)
        if (t->added.v[i].id >= n) n = t->added.v[i].id + 1;
    return n;
}

int32_t senti_tokenizer_token_to_id(const senti_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->added.n; i++)
        if (t->added.v[i].len == n && memcmp(t->added.v[i].content, token, n) == 0) return t->added.v[i].id;
    return tok_vocab_find(&t->model.vocab, token, n);
}

const char *senti_tokenizer_id_to_token(const senti_tokenizer *t, int32_t id) {
    const tok_added *a = tok_added_by_id(&t->added, id);
    if (a) return a->ncontent;
    return tok_vocab_str(&t->model.vocab, id, NULL);
}

/* ---- decode --------------------------------------------------------------------------- */

static bool is_special_content(const senti_tokenizer *t, const char *s, size_t n) {
    for (int i = 0; i < t->added.n; i++)
        if (t->added.v[i].special && t->added.v[i].len == n && memcmp(t->added.v[i].content, s, n) == 0) return true;
    return false;
}

char *senti_tokenizer_decode(const senti_tokenizer *t, const int32_t *ids, int64_t n, int skip_special,
                             size_t *len_out) {
    tok_strlist l = {0};
    char *res = NULL;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s;
        const tok_added *a = tok_added_by_id(&t->added, ids[i]);
        if (a) { /* HF returns the normalized content of normalized added tokens */
            s = a->ncontent;
            len = a->nlen;
        } else if (!(s = tok_vocab_str(&t->model.vocab, ids[i], &len))) {
            continue;
        }
        if (skip_special && is_special_content(t, s, len)) continue;
        if (tok_strlist_push(&l, s, len)) goto done;
    }
    if (t->decoder && tok_decode_chain(t->decoder, &l)) goto done;
    size_t total = 1;
    for (size_t i = 0; i < l.n; i++) total += l.len[i] + (t->decoder ? 0 : 1);
    res = senti_aligned_alloc(total, 8);
    if (!res) {
        senti_error(SENTI_ERR_NO_MEMORY, "decode: out of memory");
        goto done;
    }
    size_t at = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!t->decoder && i > 0) res[at++] = ' ';
        memcpy(res + at, l.v[i], l.len[i]);
        at += l.len[i];
    }
    res[at] = 0;
    if (len_out) *len_out = at;
done:
    tok_strlist_free(&l);
    return res;
}

void senti_string_free(char *s) { senti_mfree(s); }

/* ---- load / free ------------------------------------------------------------------------- */

void senti_tokenizer_free(senti_tokenizer *t) {
    if (!t) return;
    tok_model_free(&t->model);
    tok_normalizer_free(t->normalizer);
    senti_mfree(t->normalizer);
    tok_pretok_free(t->pretok);
    senti_mfree(t->pretok);
    tok_post_free(t->post);
    senti_mfree(t->post);
    tok_decoder_free(t->decoder);
    senti_mfree(t->decoder);
    tok_added_free(&t->added);
    senti_mfree(t->source);
    senti_mfree(t);
}

/* Present as anything but a directory: a FIFO or device is then refused by
 * its reader, naming it, instead of being skipped as absent. */
static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && !S_ISDIR(sb.st_mode);
}

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* tokenizer_config.json: do_lower_case, tokenize_chinese_chars, strip_accents.
 * Absent: the defaults; present but unreadable or malformed: an error (it
 * decides how text is cut, so it is not skipped silently). */
static senti_status read_bert_config(const char *dir, bool *lower, bool *chinese, int *strip) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    json_t *j;
    senti_status st = tok_load_optional_json(p, 0, &j);
    if (st != SENTI_OK || !j) return st;
    json_t *v;
    if ((v = json_object_get(j, "do_lower_case")) && json_is_boolean(v)) *lower = json_is_true(v);
    if ((v = json_object_get(j, "tokenize_chinese_chars")) && json_is_boolean(v)) *chinese = json_is_true(v);
    if ((v = json_object_get(j, "strip_accents")) && json_is_boolean(v)) *strip = json_is_true(v);
    json_decref(j);
    return SENTI_OK;
}

senti_tokenizer *senti_tokenizer_load(const char *path) {
    if (!path) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_tokenizer_load: NULL path");
        return NULL;
    }
    tok_bytelevel_init();
    senti_tokenizer *t = senti_calloc(1, sizeof *t);
    char p[4096], q[4096];
    senti_status st = SENTI_OK;
    if (!t || !(t->source = senti_strdup(path))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        senti_error(SENTI_ERR_IO, "%s: no such file or directory", path);
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        bool lower = true, chinese = true;
        int strip = -1;
        snprintf(p, sizeof p, "%s/tokenizer.json", path);
        if (file_exists(p)) {
            st = tok_load_json(t, p);
        } else if (snprintf(p, sizeof p, "%s/vocab.txt", path), file_exists(p)) {
            if ((st = read_bert_config(path, &lower, &chinese, &strip)) == SENTI_OK)
                st = tok_load_vocab_txt(t, p, lower, chinese, strip);
        } else if (snprintf(p, sizeof p, "%s/vocab.json", path), snprintf(q, sizeof q, "%s/merges.txt", path),
                   file_exists(p) && file_exists(q)) {
            st = tok_load_vocab_json(t, p, q);
        } else if (snprintf(p, sizeof p, "%s/tokenizer.model", path), file_exists(p)) {
            st = tok_load_spm(t, p);
        } else if (snprintf(p, sizeof p, "%s/spiece.model", path), file_exists(p)) {
            st = tok_load_spm(t, p);
        } else if (snprintf(p, sizeof p, "%s/spm.model", path), file_exists(p)) { /* DeBERTa-v2 / v3 */
            st = tok_load_deberta_spm(t, path, p);
        } else {
            senti_error(SENTI_ERR_IO,
                        "%s: no tokenizer.json, vocab.txt, vocab.json + merges.txt or SentencePiece model (tokenizer.model, "
                        "spiece.model, spm.model) found", path);
            goto fail;
        }
    } else if (tok_is_gguf(path)) {
        st = tok_load_gguf(t, path);
    } else if (ends_with(path, ".txt")) {
        st = tok_load_vocab_txt(t, path, true, true, -1);
    } else if (ends_with(path, ".tiktoken")) {
        st = tok_load_tiktoken(t, path);
    } else if (ends_with(path, ".model")) {
        st = tok_load_spm(t, path);
    } else {
        st = tok_load_json(t, path);
    }
    if (st || (st = tok_added_build(t))) goto fail;
    t->cut_safe = tokenizer_cut_safe(t);
    return t;
fail:
    senti_tokenizer_free(t);
    return NULL;
}
