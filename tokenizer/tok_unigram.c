/* tok_unigram.c — the Unigram model (SentencePiece) as HF's encode_optimized:
 * Viterbi over byte positions, candidates = vocab pieces that prefix the rest
 * of the word (shortest first, ties keep the first), a char without any
 * single-char piece costs min_score - 10 as unk; consecutive unks fuse.
 * Token strings are the text itself; unknown pieces use byte fallback if on. */
#include <math.h>

#include "tokenizer.h"

senti_status tok_unigram_build(tok_model *m) {
    m->min_score = INFINITY;
    int32_t maxlen = 0;
    for (int32_t i = 0; i < m->vocab.n; i++) {
        if (m->vocab.len[i] == UINT32_MAX) continue;
        if (m->scores[i] < m->min_score) m->min_score = m->scores[i];
        if ((int32_t)m->vocab.len[i] > maxlen) maxlen = (int32_t)m->vocab.len[i];
    }
    if (m->min_score == INFINITY) m->min_score = 0;
    m->max_input_chars = maxlen; /* longest piece in bytes */
    m->fuse_unk = true;
    return SENTI_OK;
}

typedef struct node { double score; int32_t id, start; } node;

senti_status tok_unigram_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n) {
    if (n == 0) return SENTI_OK;
    if (tok_grow(&ctx->lattice, &ctx->lattice_cap, n + 1, sizeof(node))) return SENTI_ERR_NO_MEMORY;
    node *b = ctx->lattice;
    for (size_t i = 0; i <= n; i++) b[i] = (node){0, -1, -1};
    double unk_score = m->min_score - 10.0;
    for (size_t s = 0; s < n;) {
        double here = b[s].score;
        size_t mblen = (size_t)tok_utf8_len((unsigned char)w[s]);
        if (mblen > n - s) mblen = n - s;
        bool single = false;
        size_t maxl = n - s < (size_t)m->max_input_chars ? n - s : (size_t)m->max_input_chars;
        for (size_t l = 1; l <= maxl; l++) {
            if (s + l < n && ((unsigned char)w[s + l] & 0xc0) == 0x80) continue; /* not a char boundary */
            int32_t id = tok_vocab_find(&m->vocab, w + s, l);
            if (id < 0) continue;
            double cand = here + m->scores[id];
            node *t = &b[s + l];
            if (t->start < 0 || cand > t->score) *t = (node){cand, id, (int32_t)s};
            if (l == mblen) single = true;
        }
        if (!single) {
            if (m->unk_id < 0) return senti_error(SENTI_ERR_BAD_FILE, "Unigram: a char is not in the vocab and there is no unk_id");
            double cand = here + unk_score;
            node *t = &b[s + mblen];
            if (t->start < 0 || cand > t->score) *t = (node){cand, m->unk_id, (int32_t)s};
        }
        s += mblen;
    }
    /* backtrack into ctx->toks (reversed), fusing consecutive unks */
    size_t first = ctx->toks.n;
    for (size_t e = n; e > 0;) {
        node *x = &b[e];
        size_t s = (size_t)x->start;
        if (m->fuse_unk && x->id == m->unk_id && ctx->toks.n > first && ctx->toks.v[ctx->toks.n - 1].id == m->unk_id &&
            ctx->toks.v[ctx->toks.n - 1].raw) {
            tok_token *p = &ctx->toks.v[ctx->toks.n - 1];
            p->len += p->off - (uint32_t)s;
            p->off = (uint32_t)s;
        } else if (tok_tokens_push_raw(&ctx->toks, x->id, s, e - s)) {
            return SENTI_ERR_NO_MEMORY;
        }
        e = s;
    }
    for (size_t i = first, j = ctx->toks.n - 1; i < j; i++, j--) {
        tok_token t = ctx->toks.v[i];
        ctx->toks.v[i] = ctx->toks.v[j];
        ctx->toks.v[j] = t;
    }
    /* the piece strings map to ids; unk pieces may use byte fallback */
    if (m->byte_fallback) {
        size_t end = ctx->toks.n;
        for (size_t i = first; i < end; i++) {
            tok_token t = ctx->toks.v[i];
            if (t.id != m->unk_id) continue;
            bool all = true;
            for (uint32_t k = 0; k < t.len && all; k++) all = m->byte_ids[(unsigned char)w[t.off + k]] >= 0;
            if (!all) continue;
            /* replace token i by one token per byte, all with the piece's offsets */
            size_t extra = t.len - 1;
            if (tok_grow((void **)&ctx->toks.v, &ctx->toks.cap, ctx->toks.n + extra, sizeof(tok_token)))
                return SENTI_ERR_NO_MEMORY;
            memmove(&ctx->toks.v[i + t.len], &ctx->toks.v[i + 1], (ctx->toks.n - i - 1) * sizeof(tok_token));
            for (uint32_t k = 0; k < t.len; k++)
                ctx->toks.v[i + k] = (tok_token){m->byte_ids[(unsigned char)w[t.off + k]], t.off, t.len, false};
            ctx->toks.n += extra;
            end += extra;
            i += extra;
        }
    }
    return SENTI_OK;
}
