/* tok_models.c — the WordPiece and BPE models (HF semantics: greedy longest
 * match first for WordPiece; rank-ordered merges with a binary heap for BPE,
 * ties broken by leftmost position; byte fallback, unk fusing, ignore_merges).
 * Invariant: no allocation per token: symbols and heap live in the tok_ctx. */
#include <stdio.h>

#include "tokenizer.h"

void tok_model_free(tok_model *m) {
    tok_vocab_free(&m->vocab);
    senti_mfree(m->prefix);
    senti_mfree(m->suffix);
    senti_mfree(m->merges);
    senti_mfree(m->scores);
    senti_mfree(m->trie);
    memset(m, 0, sizeof *m);
}

/* ---- WordPiece ------------------------------------------------------------- */

senti_status tok_wordpiece_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n) {
    size_t nchars = 0;
    for (size_t i = 0; i < n; i++) nchars += ((unsigned char)w[i] & 0xc0) != 0x80;
    size_t first = ctx->toks.n;
    const char *pre = m->prefix ? m->prefix : "";
    size_t plen = strlen(pre);
    if (nchars > (size_t)m->max_input_chars) goto unk;
    for (size_t start = 0; start < n;) {
        size_t end = n;
        int32_t id = -1;
        while (start < end) {
            id = start > 0 ? tok_vocab_find2(&m->vocab, pre, plen, w + start, end - start)
                           : tok_vocab_find(&m->vocab, w, end);
            if (id >= 0) break;
            end--; /* back to the previous char boundary */
            while (end > start && ((unsigned char)w[end] & 0xc0) == 0x80) end--;
        }
        if (id < 0) goto unk;
        if (tok_tokens_push(&ctx->toks, id, start, end - start)) return SENTI_ERR_NO_MEMORY;
        start = end;
    }
    return SENTI_OK;
unk:
    ctx->toks.n = first;
    if (m->unk_id < 0) return senti_error(SENTI_ERR_BAD_FILE, "WordPiece: the unk token is not in the vocab");
    return tok_tokens_push(&ctx->toks, m->unk_id, 0, n);
}

/* ---- BPE merges table ---------------------------------------------------------- */

static inline uint32_t merge_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

senti_status tok_merges_build(tok_model *m, size_t n) {
    uint32_t ns = 64;
    while (ns < n * 2 + 16) ns *= 2;
    m->merges = senti_malloc((size_t)ns * sizeof *m->merges);
    if (!m->merges) return senti_error(SENTI_ERR_NO_MEMORY, "BPE: out of memory for %zu merges", n);
    for (uint32_t i = 0; i < ns; i++) m->merges[i] = (tok_merge_entry){UINT64_MAX, 0, 0};
    m->merges_nslots = ns;
    return SENTI_OK;
}

senti_status tok_merges_add(tok_model *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = merge_hash(k) & (m->merges_nslots - 1);
    while (m->merges[h].key != UINT64_MAX) {
        if (m->merges[h].key == k) return SENTI_OK; /* first (lowest rank) wins */
        h = (h + 1) & (m->merges_nslots - 1);
    }
    m->merges[h] = (tok_merge_entry){k, rank, id};
    return SENTI_OK;
}

static inline const tok_merge_entry *merge_find(const tok_model *m, int32_t a, int32_t b) {
    if (!m->merges_nslots) return NULL;
    uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = merge_hash(k) & (m->merges_nslots - 1);
    for (;;) {
        const tok_merge_entry *e = &m->merges[h];
        if (e->key == k) return e;
        if (e->key == UINT64_MAX) return NULL;
        h = (h + 1) & (m->merges_nslots - 1);
    }
}

/* ---- BPE ------------------------------------------------------------------------- */

typedef struct sym { int32_t id, prev, next; uint32_t off, len; } sym;
typedef struct hent { int32_t rank, pos, id; } hent;

static inline bool hless(hent a, hent b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void hpush(hent *h, size_t *n, hent x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(x, h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static hent hpop(hent *h, size_t *n) {
    hent top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hless(h[c + 1], h[c])) c++;
        if (!hless(h[c], x)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
    return top;
}

static senti_status sym_add(tok_ctx *ctx, size_t *ns, int32_t id, size_t off, size_t len) {
    if (tok_grow(&ctx->sym, &ctx->sym_cap, *ns + 1, sizeof(sym))) return SENTI_ERR_NO_MEMORY;
    sym *s = ctx->sym;
    s[*ns] = (sym){id, (int32_t)*ns - 1, (int32_t)*ns + 1, (uint32_t)off, (uint32_t)len};
    (*ns)++;
    return SENTI_OK;
}

senti_status tok_bpe_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n) {
    if (n == 0) return SENTI_OK;
    if (m->ignore_merges) {
        int32_t id = tok_vocab_find(&m->vocab, w, n);
        if (id >= 0) return tok_tokens_push(&ctx->toks, id, 0, n);
    }
    const char *pre = m->prefix ? m->prefix : "", *suf = m->suffix ? m->suffix : "";
    size_t plen = strlen(pre), slen = strlen(suf);
    size_t ns = 0;
    int32_t unk_len = -1; /* pending unk: length, or -1 */
    size_t unk_off = 0;
    /* 1. one symbol per char (prefix on non-first, suffix on last) */
    for (size_t i = 0; i < n;) {
        size_t l = (size_t)tok_utf8_len((unsigned char)w[i]);
        if (l > n - i) l = n - i;
        bool first = i == 0, last = i + l == n;
        int32_t id;
        const char *p = first ? "" : pre;
        size_t pl = first ? 0 : plen;
        if (last && slen) {
            /* prefix + char + suffix: build in the scratch buffer */
            if (tok_grow((void **)&ctx->buf, &ctx->buf_cap, pl + l + slen, 1)) return SENTI_ERR_NO_MEMORY;
            memcpy(ctx->buf, p, pl);
            memcpy(ctx->buf + pl, w + i, l);
            memcpy(ctx->buf + pl + l, suf, slen);
            id = tok_vocab_find(&m->vocab, ctx->buf, pl + l + slen);
        } else {
            id = tok_vocab_find2(&m->vocab, p, pl, w + i, l);
        }
        if (id >= 0) {
            if (unk_len >= 0) {
                if (sym_add(ctx, &ns, m->unk_id, unk_off, (size_t)unk_len)) return SENTI_ERR_NO_MEMORY;
                unk_len = -1;
            }
            if (sym_add(ctx, &ns, id, i, l)) return SENTI_ERR_NO_MEMORY;
        } else {
            bool done = false;
            if (m->byte_fallback) {
                bool all = true;
                for (size_t k = 0; k < pl && all; k++) all = m->byte_ids[(unsigned char)p[k]] >= 0;
                for (size_t k = 0; k < l && all; k++) all = m->byte_ids[(unsigned char)w[i + k]] >= 0;
                if (all && slen == 0) {
                    /* every byte of the (prefixed) char is its own symbol of length 1 */
                    for (size_t k = 0; k < pl; k++)
                        if (sym_add(ctx, &ns, m->byte_ids[(unsigned char)p[k]], i, 1))
                            return SENTI_ERR_NO_MEMORY;
                    for (size_t k = 0; k < l; k++)
                        if (sym_add(ctx, &ns, m->byte_ids[(unsigned char)w[i + k]], i + k, 1))
                            return SENTI_ERR_NO_MEMORY;
                    done = true;
                }
            }
            if (!done && m->unk_id >= 0) {
                if (unk_len >= 0 && m->fuse_unk) {
                    unk_len += (int32_t)l;
                } else {
                    if (unk_len >= 0 && sym_add(ctx, &ns, m->unk_id, unk_off, (size_t)unk_len))
                        return SENTI_ERR_NO_MEMORY;
                    unk_off = i;
                    unk_len = (int32_t)l;
                }
            }
        }
        i += l;
    }
    if (unk_len >= 0 && sym_add(ctx, &ns, m->unk_id, unk_off, (size_t)unk_len)) return SENTI_ERR_NO_MEMORY;
    if (ns == 0) return SENTI_OK;
    sym *s = ctx->sym;
    s[ns - 1].next = -1;
    /* 2. merges, lowest rank first (leftmost on ties) */
    if (tok_grow(&ctx->heap, &ctx->heap_cap, 2 * ns + 8, sizeof(hent))) return SENTI_ERR_NO_MEMORY;
    hent *h = ctx->heap;
    size_t hn = 0;
    for (size_t i = 0; i + 1 < ns; i++) {
        const tok_merge_entry *e = merge_find(m, s[i].id, s[i + 1].id);
        if (e) hpush(h, &hn, (hent){e->rank, (int32_t)i, e->id});
    }
    while (hn > 0) {
        if (hn + 2 > ctx->heap_cap) {
            if (tok_grow(&ctx->heap, &ctx->heap_cap, hn + 2, sizeof(hent))) return SENTI_ERR_NO_MEMORY;
            h = ctx->heap;
        }
        hent top = hpop(h, &hn);
        sym *a = &s[top.pos];
        if (a->len == 0 || a->next < 0) continue;
        sym *b = &s[a->next];
        const tok_merge_entry *e = merge_find(m, a->id, b->id);
        if (!e || e->id != top.id) continue; /* stale entry */
        a->id = top.id;
        a->len += b->len;
        b->len = 0;
        a->next = b->next;
        if (a->next >= 0) s[a->next].prev = top.pos;
        if (a->prev >= 0) {
            const tok_merge_entry *f = merge_find(m, s[a->prev].id, a->id);
            if (f) hpush(h, &hn, (hent){f->rank, a->prev, f->id});
        }
        if (a->next >= 0) {
            const tok_merge_entry *f = merge_find(m, a->id, s[a->next].id);
            if (f) hpush(h, &hn, (hent){f->rank, top.pos, f->id});
        }
    }
    /* offsets are cumulative symbol lengths, as HF's Word computes them */
    size_t at = 0;
    for (int32_t i = 0; i >= 0; i = s[i].next) {
        if (tok_tokens_push(&ctx->toks, s[i].id, at, s[i].len)) return SENTI_ERR_NO_MEMORY;
        at += s[i].len;
    }
    return SENTI_OK;
}
