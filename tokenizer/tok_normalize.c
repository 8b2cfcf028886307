/* tok_normalize.c — normalizers (BERT, NFC/NFD/NFKC/NFKD, Lowercase, Strip,
 * StripAccents, Replace, Prepend, Precompiled, Sequence) with HF's alignment
 * rules: a char that becomes several chars gives all of them its alignment;
 * a composed char takes the alignment of its first source char; a Replace
 * gives its content the alignment of the last matched char. */
#include <utf8proc.h>

#include "tokenizer.h"

void tok_normalizer_free(tok_normalizer *n) {
    if (!n) return;
    tok_regex_free(&n->re);
    senti_mfree(n->content);
    senti_mfree(n->prepend);
    senti_mfree(n->pc.blob);
    for (int i = 0; i < n->nseq; i++) tok_normalizer_free(&n->seq[i]);
    senti_mfree(n->seq);
    memset(n, 0, sizeof *n);
}

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* What HF's BertNormalizer (the tokenizers crate) drops with clean_text:
 * Cc (but tab, newline, return), Cf and Co by its own tables, which predate
 * Unicode 9 — so it keeps unassigned code points (Cn) and the format
 * characters assigned since (U+0890-0891, U+08E2, U+110CD, U+13430-1343F,
 * Cf in utf8proc's tables). Checked against tokenizers 0.23.3 over every
 * code point of those categories (Python's Unicode 14 names them). */
static bool is_bert_control(uint32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return false;
    int cat = tok_category(c);
    if (cat == UTF8PROC_CATEGORY_CF)
        return !(c == 0x890 || c == 0x891 || c == 0x8E2 || c == 0x110CD || (c >= 0x13430 && c <= 0x1343F));
    return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO;
}

/* Rust char::to_lowercase: simple mapping plus U+0130's two-char mapping. */
static senti_status push_lower(tok_str *out, uint32_t c, int32_t a0, int32_t a1) {
    if (c == 0x130) {
        if (tok_str_push(out, 'i', a0, a1)) return SENTI_ERR_NO_MEMORY;
        return tok_str_push(out, 0x307, a0, a1);
    }
    uint32_t l = c < 0x80 ? ((c >= 'A' && c <= 'Z') ? c + 32 : c) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    return tok_str_push(out, l, a0, a1);
}

/* Canonical (or compatibility) decomposition of one char, no reordering. */
static int decompose(uint32_t c, bool compat, utf8proc_int32_t *buf, int cap) {
    if (c < 0xc0) {
        if (!compat || c < 0xa0) {
            buf[0] = (utf8proc_int32_t)c;
            return 1;
        }
    }
    int last = 0;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf, cap,
                                                 compat ? UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT : UTF8PROC_DECOMPOSE,
                                                 &last);
    if (n < 1 || n > cap) {
        buf[0] = (utf8proc_int32_t)c;
        return 1;
    }
    return (int)n;
}

static senti_status bert(const tok_normalizer *n, const tok_str *in, size_t off, size_t len, tok_str *out) {
    size_t end = off + len;
    utf8proc_int32_t d[32];
    for (size_t i = off; i < end;) {
        uint32_t c;
        int l = tok_utf8_next(in->s + i, end - i, &c);
        int32_t a0 = in->a0[i], a1 = in->a1[i];
        i += l;
        if (n->clean_text) {
            if (c == 0 || c == 0xfffd || is_bert_control(c)) continue;
            if (tok_is_whitespace(c)) c = ' ';
        }
        bool chinese = n->handle_chinese && is_chinese(c);
        if (chinese && tok_str_push(out, ' ', a0, a1)) return SENTI_ERR_NO_MEMORY;
        if (n->strip_accents && c >= 0x80) {
            int k = decompose(c, false, d, 32);
            for (int j = 0; j < k; j++) {
                uint32_t e = (uint32_t)d[j];
                if (tok_category(e) == UTF8PROC_CATEGORY_MN) continue;
                if (n->lowercase ? push_lower(out, e, a0, a1) : tok_str_push(out, e, a0, a1)) return SENTI_ERR_NO_MEMORY;
            }
        } else if (n->lowercase ? push_lower(out, c, a0, a1) : tok_str_push(out, c, a0, a1)) {
            return SENTI_ERR_NO_MEMORY;
        }
        if (chinese && tok_str_push(out, ' ', a0, a1)) return SENTI_ERR_NO_MEMORY;
    }
    return SENTI_OK;
}

/* NF(K)D / NF(K)C of one range: decompose every char keeping its alignment,
 * order combining marks canonically, then compose if asked. */
typedef struct ucp { utf8proc_int32_t c; int32_t a0, a1; } ucp;

static senti_status unicode_nf(const tok_str *in, size_t off, size_t len, tok_str *out, bool compat, bool compose) {
    size_t end = off + len, n = 0, cap = len + 16;
    ucp *v = senti_malloc(cap * sizeof *v);
    utf8proc_int32_t *w = NULL;
    senti_status st = SENTI_ERR_NO_MEMORY;
    if (!v) goto fail;
    utf8proc_int32_t d[32];
    for (size_t i = off; i < end;) {
        uint32_t c;
        int l = tok_utf8_next(in->s + i, end - i, &c);
        int k = decompose(c, compat, d, 32);
        if (n + (size_t)k > cap) {
            size_t ncap = cap * 2 + (size_t)k;
            ucp *nv = senti_malloc(ncap * sizeof *nv);
            if (!nv) goto fail;
            memcpy(nv, v, n * sizeof *v);
            senti_mfree(v);
            v = nv;
            cap = ncap;
        }
        for (int j = 0; j < k; j++) v[n++] = (ucp){d[j], in->a0[i], in->a1[i]};
        i += l;
    }
    /* canonical ordering: stable insertion sort inside runs of non-starters */
    for (size_t i = 1; i < n; i++) {
        int cc = utf8proc_get_property(v[i].c)->combining_class;
        if (!cc) continue;
        size_t j = i;
        ucp x = v[i];
        while (j > 0) {
            int pc = utf8proc_get_property(v[j - 1].c)->combining_class;
            if (pc <= cc) break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    if (!compose) {
        for (size_t i = 0; i < n; i++)
            if (tok_str_push(out, (uint32_t)v[i].c, v[i].a0, v[i].a1)) goto fail;
        st = SENTI_OK;
        goto fail;
    }
    w = senti_malloc((n + 1) * sizeof *w);
    if (!w) goto fail;
    for (size_t i = 0; i < n; i++) w[i] = v[i].c;
    utf8proc_ssize_t m = n ? utf8proc_normalize_utf32(w, (utf8proc_ssize_t)n, UTF8PROC_COMPOSE) : 0;
    if (m < 0) m = 0;
    /* align: each output char consumes as many decomposed chars as its own decomposition has */
    size_t p = 0;
    for (utf8proc_ssize_t i = 0; i < m; i++) {
        size_t src = p < n ? p : (n ? n - 1 : 0);
        if (tok_str_push(out, (uint32_t)w[i], v[src].a0, v[src].a1)) goto fail;
        p += (size_t)decompose((uint32_t)w[i], false, d, 32);
    }
    st = SENTI_OK;
fail:
    senti_mfree(v);
    senti_mfree(w);
    if (st) return senti_error(st, "tokenizer: out of memory in Unicode normalization");
    return st;
}

static senti_status replace(const tok_normalizer *n, tok_ctx *ctx, const tok_str *in, size_t off, size_t len,
                            tok_str *out) {
    if (!ctx->md && !(ctx->md = pcre2_match_data_create(4, NULL)))
        return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory");
    size_t pos = off, end = off + len, clen = strlen(n->content);
    while (pos <= end) {
        int rc = pcre2_match(n->re.code, (PCRE2_SPTR)in->s, end, pos, PCRE2_NO_UTF_CHECK, ctx->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) return tok_regex_failed("normalizer's Replace", rc);
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
        size_t ms = ov[0], me = ov[1];
        if (me == ms) { /* empty match: HF inserts nothing useful; skip one char */
            if (ms >= end) break;
            size_t l = (size_t)tok_utf8_len((unsigned char)in->s[ms]);
            if (tok_str_append(out, in, pos, ms + l - pos)) return SENTI_ERR_NO_MEMORY;
            pos = ms + l;
            continue;
        }
        if (tok_str_append(out, in, pos, ms - pos)) return SENTI_ERR_NO_MEMORY;
        int32_t a0 = in->a0[me - 1], a1 = in->a1[me - 1];
        for (size_t k = 0; k < clen;) {
            uint32_t c;
            k += tok_utf8_next(n->content + k, clen - k, &c);
            if (tok_str_push(out, c, a0, a1)) return SENTI_ERR_NO_MEMORY;
        }
        pos = me;
    }
    if (pos < end && tok_str_append(out, in, pos, end - pos)) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

/* SentencePiece precompiled charsmap: a darts-clone double array mapping
 * UTF-8 prefixes to offsets of NUL-terminated replacement strings. Like
 * spm_precompiled's transform(), the FIRST (shortest) prefix match wins. */
static bool pc_lookup(const tok_precompiled *pc, const unsigned char *s, size_t n, uint32_t *val) {
    const uint32_t *u = pc->trie;
    if (!pc->trie_n) return false;
    size_t node = 0;
    uint32_t unit = u[0];
    node ^= ((unit >> 10) << ((unit & (1u << 9)) >> 6));
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 0) break;
        node ^= s[i];
        if (node >= pc->trie_n) return false;
        unit = u[node];
        if ((unit & ((1u << 31) | 0xff)) != s[i]) return false;
        node ^= ((unit >> 10) << ((unit & (1u << 9)) >> 6));
        if (node >= pc->trie_n) return false;
        if ((unit >> 8) & 1) {
            *val = u[node] & ((1u << 31) - 1);
            return true;
        }
    }
    return false;
}

senti_status tok_precompiled_parse(tok_precompiled *pc, const unsigned char *data, size_t n) {
    if (n < 4) return senti_error(SENTI_ERR_BAD_FILE, "precompiled_charsmap: %zu bytes is too short", n);
    uint32_t tsize = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    if (tsize % 4 || (size_t)tsize > n - 4)
        return senti_error(SENTI_ERR_BAD_FILE, "precompiled_charsmap: trie size %u exceeds the blob (%zu)", tsize, n);
    pc->blob = senti_malloc(n + 1);
    if (!pc->blob) return senti_error(SENTI_ERR_NO_MEMORY, "precompiled_charsmap: out of memory");
    memcpy(pc->blob, data, n);
    pc->blob[n] = 0;
    pc->trie = (const uint32_t *)(pc->blob + 4); /* blob is 64-byte aligned: +4 keeps 4-byte alignment */
    pc->trie_n = tsize / 4;
    pc->norm = (const char *)pc->blob + 4 + tsize;
    pc->norm_len = n - 4 - tsize;
    return SENTI_OK;
}

/* HF's Precompiled computes alignments by a list of (char, change) for
 * NormalizedString::transform: 0 replaces the next original char, > 0 is an
 * inserted char, -N replaces the next char and drops N more. Its `replace`
 * helper makes that list per mapped chunk: the new chars with 0, the last
 * (new - old) of them 1 when the chunk grows, and when it shrinks the
 * difference added to the last entry of the list so far — the previous
 * chunk's when the chunk is removed whole, and lost at a segment's start. So
 * next to a removed char HF's offsets shift or stretch; built the same way
 * here (checked against tokenizers 0.23.3: tests/test_tokenizer.c). */
typedef struct pc_list {
    uint32_t *c;
    int32_t *change;
    size_t n, cap;
} pc_list;

static bool pc_push(pc_list *l, uint32_t c, int32_t change) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        uint32_t *nc = senti_malloc(cap * sizeof *nc);
        int32_t *nch = senti_malloc(cap * sizeof *nch);
        if (!nc || !nch) {
            senti_mfree(nc), senti_mfree(nch);
            return false;
        }
        if (l->n) memcpy(nc, l->c, l->n * sizeof *nc), memcpy(nch, l->change, l->n * sizeof *nch);
        senti_mfree(l->c), senti_mfree(l->change);
        l->c = nc, l->change = nch, l->cap = cap;
    }
    l->c[l->n] = c, l->change[l->n++] = change;
    return true;
}

/* `replace`: chunk [b, e) of in (old chars) mapped to norm string val. */
static bool pc_replace(pc_list *l, const tok_precompiled *pc, uint32_t val, const tok_str *in, size_t b, size_t e) {
    const char *r = pc->norm + val;
    const size_t rl = strnlen(r, pc->norm_len - val);
    int64_t old = 0, added = 0;
    for (size_t i = b; i < e; i += (size_t)tok_utf8_len((unsigned char)in->s[i])) old++;
    for (size_t k = 0; k < rl; added++) {
        uint32_t c;
        k += (size_t)tok_utf8_next(r + k, rl - k, &c);
        if (!pc_push(l, c, 0)) return false;
    }
    const int64_t diff = added - old;
    for (int64_t k = 0; k < diff; k++) l->change[l->n - 1 - (size_t)k] = 1; /* diff < added: the chunk's own */
    if (diff < 0 && l->n > 0) l->change[l->n - 1] += (int32_t)diff;
    return true;
}

/* NormalizedString::transform over in's bytes [off, end): each entry's
 * alignment is that of the original char it replaces (the next one not yet
 * taken), or for an inserted char that of the byte before (the segment's
 * start, empty, for the first byte). */
static senti_status pc_transform(const pc_list *l, const tok_str *in, size_t off, size_t end, tok_str *out) {
    size_t at = off;
    for (size_t k = 0; k < l->n; k++) {
        const int32_t ch = l->change[k];
        int32_t a0, a1;
        if (ch > 0) {
            a0 = at > off ? in->a0[at - 1] : in->a0[off];
            a1 = at > off ? in->a1[at - 1] : in->a0[off];
        } else if (at < end) {
            a0 = in->a0[at], a1 = in->a1[at];
        } else { /* (not reached: no more entries take a char than the segment holds) */
            a0 = a1 = in->a1[end - 1];
        }
        for (int64_t take = ch > 0 ? 0 : 1 - (int64_t)ch; take > 0 && at < end; take--)
            at += (size_t)tok_utf8_len((unsigned char)in->s[at]);
        if (tok_str_push(out, l->c[k], a0, a1)) return SENTI_ERR_NO_MEMORY;
    }
    return SENTI_OK;
}

/* HF Precompiled: graphemes shorter than 6 bytes are transformed whole;
 * otherwise (or when the grapheme has no mapping) char by char. */
static senti_status precompiled(const tok_precompiled *pc, const tok_str *in, size_t off, size_t len, tok_str *out) {
    size_t end = off + len;
    pc_list l = {0};
    bool modified = false, ok = true;
    for (size_t g = off; g < end && ok;) {
        /* grapheme [g, ge) */
        uint32_t c;
        size_t ge = g + (size_t)tok_utf8_next(in->s + g, end - g, &c);
        utf8proc_int32_t state = 0;
        while (ge < end) {
            uint32_t d;
            int dl = tok_utf8_next(in->s + ge, end - ge, &d);
            if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)c, (utf8proc_int32_t)d, &state)) break;
            c = d;
            ge += (size_t)dl;
        }
        uint32_t val;
        if (ge - g < 6 && pc_lookup(pc, (const unsigned char *)in->s + g, ge - g, &val) && val < pc->norm_len) {
            modified = true;
            ok = pc_replace(&l, pc, val, in, g, ge);
        } else {
            for (size_t i = g; i < ge && ok;) {
                size_t n = (size_t)tok_utf8_len((unsigned char)in->s[i]);
                if (n > ge - i) n = ge - i;
                if (pc_lookup(pc, (const unsigned char *)in->s + i, n, &val) && val < pc->norm_len) {
                    modified = true;
                    ok = pc_replace(&l, pc, val, in, i, i + n);
                } else {
                    uint32_t d;
                    tok_utf8_next(in->s + i, n, &d);
                    ok = pc_push(&l, d, 0);
                }
                i += n;
            }
        }
        g = ge;
    }
    senti_status st = !ok ? SENTI_ERR_NO_MEMORY : modified ? pc_transform(&l, in, off, end, out) : tok_str_append(out, in, off, len);
    senti_mfree(l.c), senti_mfree(l.change);
    return st;
}

senti_status tok_normalize(const tok_normalizer *n, tok_ctx *ctx, const tok_str *in, size_t off, size_t len,
                           tok_str *out) {
    size_t end = off + len;
    switch (n->type) {
    case TOK_NORM_BERT: return bert(n, in, off, len, out);
    case TOK_NORM_NFD: return unicode_nf(in, off, len, out, false, false);
    case TOK_NORM_NFKD: return unicode_nf(in, off, len, out, true, false);
    case TOK_NORM_NFC: return unicode_nf(in, off, len, out, false, true);
    case TOK_NORM_NFKC: return unicode_nf(in, off, len, out, true, true);
    case TOK_NORM_LOWERCASE:
        for (size_t i = off; i < end;) {
            uint32_t c;
            int l = tok_utf8_next(in->s + i, end - i, &c);
            if (push_lower(out, c, in->a0[i], in->a1[i])) return SENTI_ERR_NO_MEMORY;
            i += l;
        }
        return SENTI_OK;
    case TOK_NORM_STRIP_ACCENTS:
        for (size_t i = off; i < end;) {
            uint32_t c;
            int l = tok_utf8_next(in->s + i, end - i, &c);
            int cat = tok_category(c);
            if (!(cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME) &&
                tok_str_append(out, in, i, (size_t)l))
                return SENTI_ERR_NO_MEMORY;
            i += l;
        }
        return SENTI_OK;
    case TOK_NORM_STRIP: {
        size_t s = off, e = end;
        uint32_t c;
        while (n->left && s < e) {
            int l = tok_utf8_next(in->s + s, e - s, &c);
            if (n->spaces_only ? c != ' ' : !tok_is_whitespace(c)) break;
            s += l;
        }
        while (n->right && e > s) {
            size_t b = e - 1;
            while (b > s && ((unsigned char)in->s[b] & 0xc0) == 0x80) b--;
            tok_utf8_next(in->s + b, e - b, &c);
            if (n->spaces_only ? c != ' ' : !tok_is_whitespace(c)) break;
            e = b;
        }
        return tok_str_append(out, in, s, e - s);
    }
    case TOK_NORM_REPLACE: return replace(n, ctx, in, off, len, out);
    case TOK_NORM_PREPEND:
        if (len > 0) {
            size_t pl = strlen(n->prepend);
            for (size_t k = 0; k < pl;) {
                uint32_t c;
                k += tok_utf8_next(n->prepend + k, pl - k, &c);
                if (tok_str_push(out, c, in->a0[off], in->a1[off])) return SENTI_ERR_NO_MEMORY;
            }
        }
        return tok_str_append(out, in, off, len);
    case TOK_NORM_PRECOMPILED: return precompiled(&n->pc, in, off, len, out);
    case TOK_NORM_SEQUENCE: {
        if (n->nseq == 0) return tok_str_append(out, in, off, len);
        tok_str t[2] = {{0}, {0}};
        senti_status st = SENTI_OK;
        const tok_str *src = in;
        size_t so = off, sl = len;
        for (int i = 0; i < n->nseq && !st; i++) {
            tok_str *dst = i == n->nseq - 1 ? out : &t[i & 1];
            if (dst != out) dst->len = 0;
            st = tok_normalize(&n->seq[i], ctx, src, so, sl, dst);
            if (dst != out) {
                src = dst;
                so = 0;
                sl = dst->len;
            }
        }
        tok_str_free(&t[0]);
        tok_str_free(&t[1]);
        return st;
    }
    }
    return senti_error(SENTI_ERR_UNSUPPORTED, "tokenizer: unknown normalizer %d", (int)n->type);
}
