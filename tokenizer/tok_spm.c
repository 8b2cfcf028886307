/* tok_spm.c — SentencePiece .model files: a hand-written reader of the
 * ModelProto protobuf (pieces, trainer_spec, normalizer_spec) and the
 * pipeline transformers' converters build from it:
 * - BPE with byte_fallback (Llama): LlamaConverter, legacy: Prepend "▁" +
 *   Replace " "->"▁", BPE(fuse_unk, byte_fallback), <s> template,
 *   Replace/ByteFallback/Fuse/Strip decoder;
 * - otherwise (Unigram, plain BPE): SpmConverter: Precompiled charsmap +
 *   Strip(right) + Replace(" {2,}"->"▁"), Metaspace, Metaspace decoder;
 *   the Strip takes spaces only, as sentencepiece's remove_extra_whitespaces
 *   (transformers' Strip would also drop a trailing tab or newline).
 * BPE merges follow SentencePieceExtractor: every split of a piece into two
 * pieces, ordered by the merged piece's score (stable), then by the ids.
 * Invariant: every read is bounds-checked against the file size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer.h"

typedef struct pb { const unsigned char *p, *end; } pb;

static bool pb_varint(pb *b, uint64_t *v) {
    uint64_t x = 0;
    for (int s = 0; s < 64 && b->p < b->end; s += 7) {
        unsigned char c = *b->p++;
        x |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* Read one field: number, wire type and, for length-delimited, the payload. */
static bool pb_field(pb *b, uint32_t *num, int *wt, uint64_t *val, pb *sub) {
    uint64_t key;
    if (!pb_varint(b, &key)) return false;
    *num = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0: return pb_varint(b, val);
    case 1:
        if (b->end - b->p < 8) return false;
        memcpy(val, b->p, 8);
        b->p += 8;
        return true;
    case 5: {
        if (b->end - b->p < 4) return false;
        uint32_t v32;
        memcpy(&v32, b->p, 4);
        *val = v32;
        b->p += 4;
        return true;
    }
    case 2: {
        uint64_t len;
        if (!pb_varint(b, &len) || len > (uint64_t)(b->end - b->p)) return false;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return true;
    }
    default: return false;
    }
}

static senti_status parse(const char *path, const unsigned char *data, size_t n, spm *m) {
    pb b = {data, data + n}, sub;
    uint32_t num;
    int wt;
    uint64_t v;
    m->model_type = 1;
    m->add_dummy_prefix = true;
    while (b.p < b.end) {
        if (!pb_field(&b, &num, &wt, &v, &sub))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed protobuf at byte %zu", path, (size_t)(b.p - data));
        if (num == 1 && wt == 2) { /* SentencePiece */
            spm_piece pc = {"", 0, 0.0f, 1};
            pb q = sub, s2;
            while (q.p < q.end) {
                if (!pb_field(&q, &num, &wt, &v, &s2))
                    return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed piece %zu", path, m->n);
                if (num == 1 && wt == 2) pc.s = (const char *)s2.p, pc.len = (size_t)(s2.end - s2.p);
                else if (num == 2 && wt == 5) {
                    uint32_t u = (uint32_t)v;
                    memcpy(&pc.score, &u, 4);
                } else if (num == 3 && wt == 0) pc.type = (int)v;
            }
            if (isnan(pc.score)) /* the merge order and the lattice compare scores */
                return senti_error(SENTI_ERR_BAD_FILE, "%s: piece %zu has score NaN", path, m->n);
            if (tok_grow((void **)&m->pieces, &m->cap, m->n + 1, sizeof(spm_piece))) return SENTI_ERR_NO_MEMORY;
            m->pieces[m->n++] = pc;
        } else if (num == 2 && wt == 2) { /* TrainerSpec */
            pb q = sub, s2;
            while (q.p < q.end) {
                if (!pb_field(&q, &num, &wt, &v, &s2)) return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed trainer_spec", path);
                if (num == 3 && wt == 0) m->model_type = (int)v;
                else if (num == 40 && wt == 0) m->unk_id = (int32_t)v;
                else if (num == 35 && wt == 0) m->byte_fallback = v != 0;
            }
        } else if (num == 3 && wt == 2) { /* NormalizerSpec */
            pb q = sub, s2;
            while (q.p < q.end) {
                if (!pb_field(&q, &num, &wt, &v, &s2))
                    return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed normalizer_spec", path);
                if (num == 2 && wt == 2) m->charsmap = s2.p, m->charsmap_len = (size_t)(s2.end - s2.p);
                else if (num == 3 && wt == 0) m->add_dummy_prefix = v != 0;
            }
        }
    }
    if (m->n == 0) return senti_error(SENTI_ERR_BAD_FILE, "%s: no pieces (not a SentencePiece model?)", path);
    if (m->model_type != 1 && m->model_type != 2)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: SentencePiece model type %d (only UNIGRAM and BPE)", path,
                           m->model_type);
    return SENTI_OK;
}

/* ---- BPE merges from pieces (transformers' SentencePieceExtractor) ---- */

typedef struct cand { int32_t l, r, merged; float score; } cand;

static int cmp_cand(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1; /* score descending */
    if (a->merged != b->merged) return a->merged < b->merged ? -1 : 1; /* then dict order */
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

static senti_status bpe_merges(const char *path, tok_model *m, const spm *sp) {
    cand *c = NULL;
    size_t nc = 0, cap = 0;
    senti_status st = SENTI_OK;
    for (size_t i = 0; i < sp->n; i++) {
        const spm_piece *p = &sp->pieces[i];
        /* dict(vocab_scores) keeps the first position of a duplicate piece */
        int32_t id = tok_vocab_find(&m->vocab, p->s, p->len);
        if (id != (int32_t)i) continue;
        for (size_t k = 1; k < p->len; k++) {
            if (((unsigned char)p->s[k] & 0xc0) == 0x80) continue;
            int32_t l = tok_vocab_find(&m->vocab, p->s, k), r = tok_vocab_find(&m->vocab, p->s + k, p->len - k);
            if (l < 0 || r < 0) continue;
            if (tok_grow((void **)&c, &cap, nc + 1, sizeof(cand))) {
                st = SENTI_ERR_NO_MEMORY;
                goto done;
            }
            /* the score used is that of the last duplicate (dict assignment) */
            c[nc++] = (cand){l, r, id, p->score};
        }
    }
    if (nc) qsort(c, nc, sizeof(cand), cmp_cand); /* c is NULL when no candidate */
    if ((st = tok_merges_build(m, nc))) goto done;
    for (size_t i = 0; i < nc; i++)
        if ((st = tok_merges_add(m, c[i].l, c[i].r, (int32_t)i, c[i].merged))) goto done;
done:
    senti_mfree(c);
    if (st == SENTI_ERR_NO_MEMORY) return senti_error(st, "%s: out of memory building merges", path);
    return st;
}

static tok_normalizer *new_norm(tok_norm_type ty) {
    tok_normalizer *n = senti_calloc(1, sizeof *n);
    if (n) n->type = ty;
    return n;
}

senti_status tok_spm_parse(const char *path, const unsigned char *data, size_t n, spm *out) {
    return parse(path, data, n, out);
}

senti_status tok_load_spm(senti_tokenizer *t, const char *path) {
    char *data = NULL;
    size_t n;
    senti_status st = tok_read_file(path, &data, &n);
    if (st) return st;
    if (tok_is_tiktoken(data, n)) { /* e.g. Llama-3's tokenizer.model */
        senti_mfree(data);
        return tok_load_tiktoken(t, path);
    }
    st = tok_load_spm_buf(t, path, (const unsigned char *)data, n);
    senti_mfree(data);
    return st;
}

senti_status tok_load_spm_buf(senti_tokenizer *t, const char *path, const unsigned char *data, size_t n) {
    spm sp = {0};
    senti_status st = parse(path, data, n, &sp);
    if (st == SENTI_OK) st = tok_spm_build(t, path, &sp);
    senti_mfree(sp.pieces);
    return st;
}

senti_status tok_spm_build(senti_tokenizer *t, const char *path, const spm *psp) {
    const spm sp = *psp;
    senti_status st = SENTI_OK;
    tok_model *m = &t->model;
    m->type = sp.model_type == 2 ? TOK_MODEL_BPE : TOK_MODEL_UNIGRAM;
    bool llama = sp.model_type == 2 && sp.byte_fallback;
    if (!(m->scores = senti_malloc(sp.n * sizeof(double)))) goto oom;
    for (size_t i = 0; i < sp.n; i++) {
        if ((st = tok_vocab_add(&m->vocab, sp.pieces[i].s, sp.pieces[i].len, (int32_t)i))) goto done;
        m->scores[i] = sp.pieces[i].score;
    }
    /* duplicates: HF's vocab dict keeps the last score but the first id (dict order) */
    if ((st = tok_vocab_build(&m->vocab, path))) goto done;
    m->byte_fallback = llama;
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        m->byte_ids[b] = llama ? tok_vocab_find(&m->vocab, s, 6) : -1;
    }
    if (m->type == TOK_MODEL_UNIGRAM) {
        m->unk_id = sp.unk_id;
        if ((st = tok_unigram_build(m))) goto done;
    } else {
        m->unk_id = tok_vocab_find(&m->vocab, "<unk>", 5);
        m->fuse_unk = true;
        if ((st = bpe_merges(path, m, &sp))) goto done;
    }
    /* added tokens: control pieces are special, user-defined are not */
    for (size_t i = 0; i < sp.n; i++) {
        int ty = sp.pieces[i].type;
        bool special = ty == 3 || (llama && ty == 2);
        if ((ty == 3 || ty == 4 || (llama && ty == 2)) &&
            (st = tok_added_push(&t->added, sp.pieces[i].s, sp.pieces[i].len, (int32_t)i, false, false, false, false,
                                 special)))
            goto done;
    }
    if (!(t->normalizer = new_norm(TOK_NORM_SEQUENCE)) || !(t->decoder = senti_calloc(1, sizeof *t->decoder))) goto oom;
    tok_normalizer *nz = t->normalizer;
    if (llama) {
        const int k = sp.no_space_prefix ? 0 : 1; /* Gemma: no Prepend, no Strip when decoding */
        nz->nseq = 1 + k;
        if (!(nz->seq = senti_calloc(2, sizeof *nz->seq))) goto oom;
        if (k) {
            nz->seq[0].type = TOK_NORM_PREPEND;
            if (!(nz->seq[0].prepend = senti_strdup("\xe2\x96\x81"))) goto oom;
        }
        nz->seq[k].type = TOK_NORM_REPLACE;
        if (!(nz->seq[k].content = senti_strdup("\xe2\x96\x81"))) goto oom;
        if ((st = tok_regex_compile(&nz->seq[k].re, " ", 1, true))) goto done;
        /* post-processor: <s> $A / <s> $A <s>:1 $B:1 */
        tok_post *p = t->post = senti_calloc(1, sizeof *t->post);
        if (!p) goto oom;
        p->type = TOK_POST_TEMPLATE;
        p->nsingle = 2;
        p->npair = 4;
        p->nspecials = 1;
        if (!(p->single = senti_calloc(2, sizeof *p->single)) || !(p->pair = senti_calloc(4, sizeof *p->pair)) ||
            !(p->specials = senti_calloc(1, sizeof *p->specials)))
            goto oom;
        p->single[0] = (tok_piece){true, 0, senti_strdup("<s>"), 0};
        p->single[1] = (tok_piece){false, 0, NULL, 0};
        p->pair[0] = (tok_piece){true, 0, senti_strdup("<s>"), 0};
        p->pair[1] = (tok_piece){false, 0, NULL, 0};
        p->pair[2] = (tok_piece){true, 0, senti_strdup("<s>"), 1};
        p->pair[3] = (tok_piece){false, 1, NULL, 1};
        tok_special *s = &p->specials[0];
        s->n = 1;
        if (!(s->name = senti_strdup("<s>")) || !(s->ids = senti_calloc(1, 4)) ||
            !(s->tokens = senti_calloc(1, sizeof(char *))) || !(s->tokens[0] = senti_strdup("<s>")) ||
            !p->single[0].name || !p->pair[0].name || !p->pair[2].name)
            goto oom;
        s->ids[0] = tok_vocab_find(&m->vocab, "<s>", 3);
        /* decoder: Replace ▁ -> ' ', ByteFallback, Fuse, Strip(' ', 1, 0) */
        tok_decoder *d = t->decoder;
        d->type = TOK_DEC_SEQUENCE;
        d->nseq = sp.no_space_prefix ? 3 : 4;
        if (!(d->seq = senti_calloc(4, sizeof *d->seq))) goto oom;
        d->seq[0].type = TOK_DEC_REPLACE;
        d->seq[0].pattern = senti_strdup("\xe2\x96\x81");
        d->seq[0].with = senti_strdup(" ");
        d->seq[1].type = TOK_DEC_BYTE_FALLBACK;
        d->seq[2].type = TOK_DEC_FUSE;
        if (d->nseq == 4) { /* (without the prefix space, nothing to strip) */
            d->seq[3].type = TOK_DEC_STRIP;
            d->seq[3].content = senti_strdup(" ");
            d->seq[3].start = 1;
        }
        if (!d->seq[0].pattern || !d->seq[0].with || (d->nseq == 4 && !d->seq[3].content)) goto oom;
    } else {
        int k = 0;
        nz->nseq = sp.charsmap_len ? 3 : 2;
        if (!(nz->seq = senti_calloc(3, sizeof *nz->seq))) goto oom;
        if (sp.charsmap_len) {
            nz->seq[k].type = TOK_NORM_PRECOMPILED;
            if ((st = tok_precompiled_parse(&nz->seq[k].pc, sp.charsmap, sp.charsmap_len))) goto done;
            k++;
        }
        nz->seq[k].type = TOK_NORM_STRIP;
        nz->seq[k].right = true;
        nz->seq[k].spaces_only = true; /* SentencePiece drops trailing spaces only, not tabs or newlines */
        k++;
        nz->seq[k].type = TOK_NORM_REPLACE;
        if (!(nz->seq[k].content = senti_strdup("\xe2\x96\x81"))) goto oom;
        if ((st = tok_regex_compile(&nz->seq[k].re, " {2,}", 5, false))) goto done;
        if (!(t->pretok = senti_calloc(1, sizeof *t->pretok))) goto oom;
        t->pretok->type = TOK_PRE_METASPACE;
        t->pretok->replacement = 0x2581;
        t->pretok->scheme = TOK_PREPEND_ALWAYS;
        t->pretok->split = true;
        t->decoder->type = TOK_DEC_METASPACE;
        t->decoder->replacement = 0x2581;
        t->decoder->scheme = TOK_PREPEND_ALWAYS;
    }
    goto done;
oom:
    st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
done:
    return st;
}
