/* tok_post.c — encodings (growable token lists), truncation and the
 * post-processors (BertProcessing, RobertaProcessing, TemplateProcessing,
 * ByteLevel, Sequence) with HF's type-id and offset-trimming rules.
 * Invariant: an encoding's arrays all have capacity `cap`; token strings are
 * NUL-terminated in `pool` at tok_off[i]. */
#include "tokenizer.h"

void tok_post_free(tok_post *p) {
    if (!p) return;
    senti_mfree(p->cls);
    senti_mfree(p->sep);
    for (int i = 0; i < p->nsingle; i++) senti_mfree(p->single[i].name);
    for (int i = 0; i < p->npair; i++) senti_mfree(p->pair[i].name);
    senti_mfree(p->single);
    senti_mfree(p->pair);
    for (int i = 0; i < p->nspecials; i++) {
        tok_special *s = &p->specials[i];
        senti_mfree(s->name);
        for (int k = 0; k < s->n; k++) senti_mfree(s->tokens[k]);
        senti_mfree(s->tokens);
        senti_mfree(s->ids);
    }
    senti_mfree(p->specials);
    for (int i = 0; i < p->nseq; i++) tok_post_free(&p->seq[i]);
    senti_mfree(p->seq);
    memset(p, 0, sizeof *p);
}

/* ---- encodings --------------------------------------------------------------- */

static senti_status enc_reserve(senti_encoding *e, int64_t need) {
    if (need <= e->cap) return SENTI_OK;
    int64_t nc = e->cap ? e->cap : 64;
    while (nc < need) nc *= 2;
    size_t n = (size_t)nc;
    int32_t *ids = senti_malloc(n * 4), *ty = senti_malloc(n * 4), *of = senti_malloc(n * 8), *wd = senti_malloc(n * 4);
    uint8_t *sp = senti_malloc(n);
    uint32_t *to = senti_malloc(n * 4);
    if (!ids || !ty || !of || !wd || !sp || !to) {
        senti_mfree(ids), senti_mfree(ty), senti_mfree(of), senti_mfree(wd), senti_mfree(sp), senti_mfree(to);
        return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory for %lld tokens", (long long)nc);
    }
    size_t m = (size_t)e->n;
    if (m) {
        memcpy(ids, e->ids, m * 4), memcpy(ty, e->type_ids, m * 4), memcpy(of, e->offsets, m * 8);
        memcpy(wd, e->word_ids, m * 4), memcpy(sp, e->special, m), memcpy(to, e->tok_off, m * 4);
    }
    senti_mfree(e->ids), senti_mfree(e->type_ids), senti_mfree(e->offsets), senti_mfree(e->word_ids);
    senti_mfree(e->special), senti_mfree(e->tok_off);
    e->ids = ids, e->type_ids = ty, e->offsets = of, e->word_ids = wd, e->special = sp, e->tok_off = to;
    e->cap = nc;
    return SENTI_OK;
}

senti_status tok_enc_push(senti_encoding *e, int32_t id, const char *tok, size_t toklen, int32_t s, int32_t end,
                          int32_t type_id, int32_t word, bool special) {
    if (e->n + 1 > e->cap && enc_reserve(e, e->n + 1)) return SENTI_ERR_NO_MEMORY;
    if (tok_grow((void **)&e->pool, &e->pool_cap, e->pool_len + toklen + 1, 1)) return SENTI_ERR_NO_MEMORY;
    int64_t i = e->n++;
    e->ids[i] = id;
    e->type_ids[i] = type_id;
    e->offsets[2 * i] = s;
    e->offsets[2 * i + 1] = end;
    e->word_ids[i] = word;
    e->special[i] = special;
    e->tok_off[i] = (uint32_t)e->pool_len;
    memcpy(e->pool + e->pool_len, tok, toklen);
    e->pool[e->pool_len + toklen] = 0;
    e->pool_len += toklen + 1;
    return SENTI_OK;
}

static senti_status enc_append(senti_encoding *dst, const senti_encoding *src, int type_id /* -1: keep */) {
    for (int64_t i = 0; i < src->n; i++) {
        const char *t = src->pool + src->tok_off[i];
        if (tok_enc_push(dst, src->ids[i], t, strlen(t), src->offsets[2 * i], src->offsets[2 * i + 1],
                         type_id >= 0 ? type_id : src->type_ids[i], src->word_ids[i], src->special[i]))
            return SENTI_ERR_NO_MEMORY;
    }
    return SENTI_OK;
}

static senti_status push_special(senti_encoding *e, const char *tok, int32_t id, int32_t type_id) {
    return tok_enc_push(e, id, tok, strlen(tok), 0, 0, type_id, -1, true);
}

/* ---- ByteLevel offset trimming (HF process_offsets) ------------------------------ */

static void trim_offsets(senti_encoding *e, bool add_prefix_space) {
    for (int64_t i = 0; i < e->n; i++) {
        const char *t = e->pool + e->tok_off[i];
        size_t len = strlen(t);
        /* count leading / trailing 'Ġ' (U+0120) or whitespace chars */
        size_t lead = 0, trail = 0;
        for (size_t k = 0; k < len;) {
            uint32_t c;
            int l = tok_utf8_next(t + k, len - k, &c);
            if (c != 0x120 && !tok_is_whitespace(c)) break;
            lead++;
            k += l;
        }
        for (size_t k = len; k > 0;) {
            size_t b = k - 1;
            while (b > 0 && ((unsigned char)t[b] & 0xc0) == 0x80) b--;
            uint32_t c;
            tok_utf8_next(t + b, k - b, &c);
            if (c != 0x120 && !tok_is_whitespace(c)) break;
            trail++;
            k = b;
        }
        int32_t *o = &e->offsets[2 * i];
        if (lead > 0) {
            bool first = i == 0 || o[0] == 0;
            if (first && add_prefix_space && lead == 1) lead = 0;
            int32_t ns = o[0] + (int32_t)lead;
            o[0] = ns < o[1] ? ns : o[1];
        }
        if (trail > 0 && o[1] >= (int32_t)trail) {
            int32_t ne = o[1] - (int32_t)trail;
            o[1] = ne > o[0] ? ne : o[0];
        }
    }
}

/* ---- post-processors -------------------------------------------------------------- */

int tok_post_added(const tok_post *p, bool pair) {
    if (!p) return 0;
    switch (p->type) {
    case TOK_POST_BERT: return pair ? 3 : 2;
    case TOK_POST_ROBERTA: return pair ? 4 : 2;
    case TOK_POST_BYTELEVEL: return 0;
    case TOK_POST_TEMPLATE: {
        int n = 0;
        const tok_piece *v = pair ? p->pair : p->single;
        int nv = pair ? p->npair : p->nsingle;
        for (int i = 0; i < nv; i++) {
            if (!v[i].special) continue;
            for (int k = 0; k < p->nspecials; k++)
                if (strcmp(p->specials[k].name, v[i].name) == 0) n += p->specials[k].n;
        }
        return n;
    }
    case TOK_POST_SEQUENCE: {
        int n = 0;
        for (int i = 0; i < p->nseq; i++) n += tok_post_added(&p->seq[i], pair);
        return n;
    }
    }
    return 0;
}

static senti_status template(const tok_post *p, senti_encoding *a, senti_encoding *b, bool add_special,
                             senti_encoding *out) {
    const tok_piece *v = b ? p->pair : p->single;
    int nv = b ? p->npair : p->nsingle;
    for (int i = 0; i < nv; i++) {
        if (!v[i].special) {
            senti_encoding *src = v[i].seq == 0 ? a : b;
            if (src && enc_append(out, src, v[i].type_id)) return SENTI_ERR_NO_MEMORY;
            continue;
        }
        if (!add_special) continue;
        const tok_special *sp = NULL;
        for (int k = 0; k < p->nspecials; k++)
            if (strcmp(p->specials[k].name, v[i].name) == 0) sp = &p->specials[k];
        if (!sp) return senti_error(SENTI_ERR_BAD_FILE, "TemplateProcessing: special token '%s' is not defined", v[i].name);
        for (int k = 0; k < sp->n; k++)
            if (push_special(out, sp->tokens[k], sp->ids[k], v[i].type_id)) return SENTI_ERR_NO_MEMORY;
    }
    return SENTI_OK;
}

senti_status tok_post_process(const tok_post *p, senti_encoding *a, senti_encoding *b, bool add_special,
                              senti_encoding *out) {
    if (!p) {
        if (enc_append(out, a, -1)) return SENTI_ERR_NO_MEMORY;
        return b ? enc_append(out, b, -1) : SENTI_OK;
    }
    switch (p->type) {
    case TOK_POST_TEMPLATE: return template(p, a, b, add_special, out);
    case TOK_POST_BERT:
        if (!add_special) {
            if (enc_append(out, a, -1)) return SENTI_ERR_NO_MEMORY;
            return b ? enc_append(out, b, -1) : SENTI_OK;
        }
        if (push_special(out, p->cls, p->cls_id, 0) || enc_append(out, a, 0) || push_special(out, p->sep, p->sep_id, 0))
            return SENTI_ERR_NO_MEMORY;
        if (b && (enc_append(out, b, 1) || push_special(out, p->sep, p->sep_id, 1))) return SENTI_ERR_NO_MEMORY;
        return SENTI_OK;
    case TOK_POST_ROBERTA:
        if (p->trim_offsets) {
            trim_offsets(a, p->add_prefix_space);
            if (b) trim_offsets(b, p->add_prefix_space);
        }
        if (!add_special) {
            if (enc_append(out, a, 0)) return SENTI_ERR_NO_MEMORY;
            return b ? enc_append(out, b, 0) : SENTI_OK;
        }
        if (push_special(out, p->cls, p->cls_id, 0) || enc_append(out, a, 0) || push_special(out, p->sep, p->sep_id, 0))
            return SENTI_ERR_NO_MEMORY;
        if (b && (push_special(out, p->sep, p->sep_id, 0) || enc_append(out, b, 0) ||
                  push_special(out, p->sep, p->sep_id, 0)))
            return SENTI_ERR_NO_MEMORY;
        return SENTI_OK;
    case TOK_POST_BYTELEVEL:
        if (p->trim_offsets) {
            trim_offsets(a, p->add_prefix_space);
            if (b) trim_offsets(b, p->add_prefix_space);
        }
        if (enc_append(out, a, -1)) return SENTI_ERR_NO_MEMORY;
        return b ? enc_append(out, b, -1) : SENTI_OK;
    case TOK_POST_SEQUENCE: {
        /* each processor sees the previous one's output as a single sequence;
         * HF applies them to the list of encodings: approximate by chaining on
         * (a, b) for offset-only processors and letting the last one merge. */
        for (int i = 0; i + 1 < p->nseq; i++) {
            const tok_post *q = &p->seq[i];
            if (q->type == TOK_POST_BYTELEVEL && q->trim_offsets) {
                trim_offsets(a, q->add_prefix_space);
                if (b) trim_offsets(b, q->add_prefix_space);
            } else if (q->type != TOK_POST_BYTELEVEL) {
                return senti_error(SENTI_ERR_UNSUPPORTED,
                                   "post_processor Sequence: only ByteLevel may precede the last processor");
            }
        }
        if (p->nseq == 0) return tok_post_process(NULL, a, b, add_special, out);
        return tok_post_process(&p->seq[p->nseq - 1], a, b, add_special, out);
    }
    }
    return senti_error(SENTI_ERR_UNSUPPORTED, "tokenizer: unknown post-processor %d", (int)p->type);
}
