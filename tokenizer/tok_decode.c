/* tok_decode.c — decoders (WordPiece, ByteLevel, Metaspace, ByteFallback,
 * Fuse, Strip, Replace, BPEDecoder, Sequence) as HF's decode_chain: each maps
 * a list of strings to a list of strings; decode joins the final list.
 * Invariant: every string in a tok_strlist is owned by the list. */
#include "tokenizer.h"

void tok_decoder_free(tok_decoder *d) {
    if (!d) return;
    senti_mfree(d->prefix);
    senti_mfree(d->content);
    senti_mfree(d->pattern);
    senti_mfree(d->with);
    for (int i = 0; i < d->nseq; i++) tok_decoder_free(&d->seq[i]);
    senti_mfree(d->seq);
    memset(d, 0, sizeof *d);
}

/* A growable byte buffer used to build one output string. */
typedef struct sbuf { char *s; size_t n, cap; } sbuf;

static senti_status sb_add(sbuf *b, const char *s, size_t n) {
    if (tok_grow((void **)&b->s, &b->cap, b->n + n + 1, 1)) return SENTI_ERR_NO_MEMORY;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
    return SENTI_OK;
}

static senti_status sb_cp(sbuf *b, uint32_t c) {
    char u[4];
    return sb_add(b, u, (size_t)tok_utf8_encode(c, u));
}

/* Replace list item i by the buffer's content (takes the buffer). */
static senti_status set_item(tok_strlist *l, size_t i, sbuf *b) {
    if (!b->s && sb_add(b, "", 0)) return SENTI_ERR_NO_MEMORY;
    senti_mfree(l->v[i]);
    l->v[i] = b->s;
    l->len[i] = b->n;
    *b = (sbuf){0};
    return SENTI_OK;
}

/* Replace every occurrence of `from` by `to` in b (in place via a copy). */
static senti_status sb_replace_all(sbuf *b, const char *from, const char *to) {
    size_t fl = strlen(from), tl = strlen(to);
    if (!b->s || fl == 0) return SENTI_OK;
    sbuf o = {0};
    for (size_t i = 0; i < b->n;) {
        if (i + fl <= b->n && memcmp(b->s + i, from, fl) == 0) {
            if (sb_add(&o, to, tl)) goto oom;
            i += fl;
        } else {
            if (sb_add(&o, b->s + i, 1)) goto oom;
            i++;
        }
    }
    if (!o.s && sb_add(&o, "", 0)) goto oom;
    senti_mfree(b->s);
    *b = o;
    return SENTI_OK;
oom:
    senti_mfree(o.s);
    return SENTI_ERR_NO_MEMORY;
}

static senti_status wordpiece_cleanup(sbuf *b) {
    static const char *pairs[][2] = {{" .", "."},     {" ?", "?"},     {" !", "!"},       {" ,", ","},
                                     {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"},     {" do not", " don't"},
                                     {" 's", "'s"},   {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t k = 0; k < sizeof pairs / sizeof pairs[0]; k++)
        if (sb_replace_all(b, pairs[k][0], pairs[k][1])) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

static senti_status join_all(tok_strlist *l) {
    sbuf b = {0};
    for (size_t i = 0; i < l->n; i++)
        if (sb_add(&b, l->v[i], l->len[i])) {
            senti_mfree(b.s);
            return SENTI_ERR_NO_MEMORY;
        }
    if (!b.s && sb_add(&b, "", 0)) return SENTI_ERR_NO_MEMORY;
    for (size_t i = 0; i < l->n; i++) senti_mfree(l->v[i]);
    l->n = 0;
    if (tok_grow((void **)&l->v, &l->cap, 1, sizeof(char *)) || tok_grow((void **)&l->len, &l->len_cap, 1, sizeof(size_t))) {
        senti_mfree(b.s);
        return SENTI_ERR_NO_MEMORY;
    }
    l->v[0] = b.s;
    l->len[0] = b.n;
    l->n = 1;
    return SENTI_OK;
}

/* Python-style lossy UTF-8: maximal invalid subsequences become U+FFFD. */
static senti_status lossy(const char *s, size_t n, sbuf *out) {
    tok_str t = {0};
    int32_t nc;
    senti_status st = tok_utf8_repair(s, n, &t, &nc);
    if (!st) st = sb_add(out, t.s ? t.s : "", t.len);
    tok_str_free(&t);
    return st;
}

senti_status tok_decode_chain(const tok_decoder *d, tok_strlist *l) {
    sbuf b = {0};
    senti_status st = SENTI_OK;
    switch (d->type) {
    case TOK_DEC_WORDPIECE: {
        size_t pl = strlen(d->prefix ? d->prefix : "");
        for (size_t i = 0; i < l->n && !st; i++) {
            const char *s = l->v[i];
            size_t sl = l->len[i];
            if (i != 0) {
                if (pl && sl >= pl && strncmp(s, d->prefix, pl) == 0) s += pl, sl -= pl;
                else st = sb_add(&b, " ", 1);
            }
            if (!st) st = sb_add(&b, s, sl);
            if (!st && d->cleanup) st = wordpiece_cleanup(&b);
            if (!st) st = set_item(l, i, &b);
        }
        break;
    }
    case TOK_DEC_BYTELEVEL: {
        sbuf bytes = {0};
        for (size_t i = 0; i < l->n && !st; i++) {
            const char *s = l->v[i];
            size_t n = l->len[i], start = bytes.n;
            bool ok = true;
            for (size_t k = 0; k < n && ok && !st;) {
                uint32_t c;
                k += tok_utf8_next(s + k, n - k, &c);
                int by = tok_char_byte(c);
                if (by < 0) ok = false;
                else {
                    char ch = (char)by;
                    st = sb_add(&bytes, &ch, 1);
                }
            }
            if (!ok) {
                bytes.n = start;
                st = sb_add(&bytes, s, n);
            }
        }
        if (!st) st = lossy(bytes.s ? bytes.s : "", bytes.n, &b);
        senti_mfree(bytes.s);
        if (!st) {
            for (size_t i = 0; i < l->n; i++) senti_mfree(l->v[i]);
            l->n = 0;
            st = tok_strlist_push(l, b.s ? b.s : "", b.n);
        }
        break;
    }
    case TOK_DEC_METASPACE:
        for (size_t i = 0; i < l->n && !st; i++) {
            const char *s = l->v[i];
            size_t n = l->len[i];
            for (size_t k = 0; k < n && !st;) {
                uint32_t c;
                k += tok_utf8_next(s + k, n - k, &c);
                if (c == d->replacement) {
                    if (!(i == 0 && d->scheme != TOK_PREPEND_NEVER)) st = sb_add(&b, " ", 1);
                } else {
                    st = sb_cp(&b, c);
                }
            }
            if (!st) st = set_item(l, i, &b);
        }
        break;
    case TOK_DEC_BYTE_FALLBACK: {
        tok_strlist o = {0};
        sbuf bytes = {0};
        for (size_t i = 0; i <= l->n && !st; i++) {
            const char *s = i < l->n ? l->v[i] : NULL;
            int byte = -1;
            if (s && l->len[i] == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>') {
                unsigned v = 0;
                bool ok = true;
                for (int k = 3; k < 5; k++) {
                    char c = s[k];
                    if (c >= '0' && c <= '9') v = v * 16 + (unsigned)(c - '0');
                    else if (c >= 'A' && c <= 'F') v = v * 16 + (unsigned)(c - 'A' + 10);
                    else if (c >= 'a' && c <= 'f') v = v * 16 + (unsigned)(c - 'a' + 10);
                    else ok = false;
                }
                if (ok) byte = (int)v;
            }
            if (byte >= 0) {
                char ch = (char)byte;
                st = sb_add(&bytes, &ch, 1);
                continue;
            }
            if (bytes.n) {
                tok_str t = {0};
                int32_t nc;
                st = tok_utf8_repair(bytes.s, bytes.n, &t, &nc);
                bool valid = !st && t.len == bytes.n && memcmp(t.s, bytes.s, bytes.n) == 0;
                tok_str_free(&t);
                if (valid) st = tok_strlist_push(&o, bytes.s, bytes.n);
                else
                    for (size_t k = 0; k < bytes.n && !st; k++) st = tok_strlist_push(&o, "\xef\xbf\xbd", 3);
                bytes.n = 0;
            }
            if (s && !st) st = tok_strlist_push(&o, s, l->len[i]);
        }
        senti_mfree(bytes.s);
        if (!st) {
            tok_strlist_free(l);
            *l = o;
        } else {
            tok_strlist_free(&o);
        }
        break;
    }
    case TOK_DEC_FUSE: st = join_all(l); break;
    case TOK_DEC_STRIP: {
        uint32_t cc = 0;
        if (d->content && d->content[0]) tok_utf8_next(d->content, strlen(d->content), &cc);
        for (size_t i = 0; i < l->n && !st; i++) {
            const char *s = l->v[i];
            size_t n = l->len[i], start = 0, end = n;
            for (int k = 0; k < d->start && start < n; k++) {
                uint32_t c;
                int cl = tok_utf8_next(s + start, n - start, &c);
                if (c != cc) break;
                start += (size_t)cl;
            }
            for (int k = 0; k < d->stop && end > start; k++) {
                size_t bb = end - 1;
                while (bb > start && ((unsigned char)s[bb] & 0xc0) == 0x80) bb--;
                uint32_t c;
                tok_utf8_next(s + bb, end - bb, &c);
                if (c != cc) break;
                end = bb;
            }
            st = sb_add(&b, s + start, end - start);
            if (!st) st = set_item(l, i, &b);
        }
        break;
    }
    case TOK_DEC_REPLACE:
        for (size_t i = 0; i < l->n && !st; i++) {
            st = sb_add(&b, l->v[i], l->len[i]);
            if (!st) st = sb_replace_all(&b, d->pattern, d->with);
            if (!st) st = set_item(l, i, &b);
        }
        break;
    case TOK_DEC_BPE: /* suffix (in prefix) becomes a space, except on the last token */
        for (size_t i = 0; i < l->n && !st; i++) {
            st = sb_add(&b, l->v[i], l->len[i]);
            if (!st) st = sb_replace_all(&b, d->prefix, i + 1 == l->n ? "" : " ");
            if (!st) st = set_item(l, i, &b);
        }
        break;
    case TOK_DEC_SEQUENCE:
        for (int i = 0; i < d->nseq && !st; i++) st = tok_decode_chain(&d->seq[i], l);
        break;
    }
    senti_mfree(b.s);
    if (st == SENTI_ERR_NO_MEMORY) return senti_error(st, "decode: out of memory");
    return st;
}
