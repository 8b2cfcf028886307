/* tok_util.c — tokenizer building blocks: growable arrays, aligned strings,
 * UTF-8 decoding and repair, Unicode properties (via utf8proc), the vocab
 * hash table, regexes (PCRE2) and file reading.
 * Invariant: a tok_str's a0/a1 arrays always have the capacity of s. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tokenizer.h"

senti_status tok_grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return SENTI_OK;
    size_t ncap = *cap ? *cap : 16, bytes;
    while (ncap < need) ncap *= 2;
    if (!senti_mul_ok(ncap, elem, &bytes)) return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: size overflow");
    void *q = senti_aligned_alloc(bytes, 16);
    if (!q) return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory (%zu bytes)", bytes);
    if (*p && *cap) memcpy(q, *p, *cap * elem);
    senti_mfree(*p);
    *p = q;
    *cap = ncap;
    return SENTI_OK;
}

void tok_str_free(tok_str *t) {
    senti_mfree(t->s);
    senti_mfree(t->a0);
    senti_mfree(t->a1);
    memset(t, 0, sizeof *t);
}

senti_status tok_str_reserve(tok_str *t, size_t need) {
    if (need <= t->cap) return SENTI_OK;
    size_t c0 = t->cap, c1 = t->cap, c2 = t->cap;
    if (tok_grow((void **)&t->s, &c0, need, 1) || tok_grow((void **)&t->a0, &c1, need, 4) ||
        tok_grow((void **)&t->a1, &c2, need, 4))
        return SENTI_ERR_NO_MEMORY;
    /* keep the three capacities equal (smallest successful one) */
    t->cap = c0 < c1 ? (c0 < c2 ? c0 : c2) : (c1 < c2 ? c1 : c2);
    return SENTI_OK;
}

senti_status tok_str_push(tok_str *t, uint32_t c, int32_t a0, int32_t a1) {
    if (t->len + 4 > t->cap && tok_str_reserve(t, t->len + 4)) return SENTI_ERR_NO_MEMORY;
    int n = tok_utf8_encode(c, t->s + t->len);
    for (int i = 0; i < n; i++) {
        t->a0[t->len + i] = a0;
        t->a1[t->len + i] = a1;
    }
    t->len += n;
    return SENTI_OK;
}

senti_status tok_str_append(tok_str *t, const tok_str *src, size_t off, size_t len) {
    if (len == 0) return SENTI_OK;
    if (tok_str_reserve(t, t->len + len)) return SENTI_ERR_NO_MEMORY;
    memcpy(t->s + t->len, src->s + off, len);
    memcpy(t->a0 + t->len, src->a0 + off, len * 4);
    memcpy(t->a1 + t->len, src->a1 + off, len * 4);
    t->len += len;
    return SENTI_OK;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

int tok_utf8_next(const char *s, size_t n, uint32_t *c) {
    const unsigned char *u = (const unsigned char *)s;
    int l = tok_utf8_len(u[0]);
    if ((size_t)l > n) l = 1;
    switch (l) {
    case 1: *c = u[0]; break;
    case 2: *c = ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f); break;
    case 3: *c = ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f); break;
    default:
        *c = ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
             ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
    }
    return l;
}

int tok_utf8_encode(uint32_t c, char out[4]) {
    if (c < 0x80) { out[0] = (char)c; return 1; }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Decoder following the Unicode "maximal subpart" rule (as Python does). */
senti_status tok_utf8_repair(const char *s, size_t n, tok_str *out, int32_t *n_chars) {
    const unsigned char *u = (const unsigned char *)s;
    out->len = 0;
    if (tok_str_reserve(out, n + 16)) return SENTI_ERR_NO_MEMORY;
    int32_t ci = 0;
    size_t i = 0;
    while (i < n) {
        unsigned char b = u[i];
        int need;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b < 0x80) need = 0;
        else if (b >= 0xc2 && b <= 0xdf) need = 1;
        else if (b >= 0xe0 && b <= 0xef) {
            need = 2;
            if (b == 0xe0) lo = 0xa0;
            if (b == 0xed) hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            need = 3;
            if (b == 0xf0) lo = 0x90;
            if (b == 0xf4) hi = 0x8f;
        } else need = -1;
        size_t j = i + 1;
        bool ok = need >= 0;
        for (int k = 0; ok && k < need; k++) {
            unsigned char lo_k = k == 0 ? lo : 0x80, hi_k = k == 0 ? hi : 0xbf;
            if (j >= n || u[j] < lo_k || u[j] > hi_k) ok = false;
            else j++;
        }
        if (!ok) {
            /* j is the first byte not part of the maximal subpart */
            if (need < 0) j = i + 1;
            if (out->len + 3 > out->cap && tok_str_reserve(out, out->len + 3 + (n - i)))
                return SENTI_ERR_NO_MEMORY;
            tok_str_push(out, 0xfffd, ci, ci + 1);
        } else {
            if (out->len + (j - i) > out->cap && tok_str_reserve(out, out->len + (j - i) + (n - i)))
                return SENTI_ERR_NO_MEMORY;
            for (size_t k = i; k < j; k++) {
                out->s[out->len] = (char)u[k];
                out->a0[out->len] = ci;
                out->a1[out->len] = ci + 1;
                out->len++;
            }
        }
        ci++;
        i = j;
    }
    *n_chars = ci;
    return SENTI_OK;
}

/* ---- Unicode properties --------------------------------------------------- */

int tok_category(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c); }

bool tok_is_whitespace(uint32_t c) {
    if (c == ' ' || (c >= 9 && c <= 13)) return true;
    if (c < 0x80) return false;
    if (c == 0x85) return true;
    int cat = tok_category(c);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

bool tok_is_punct(uint32_t c) {
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
    int cat = tok_category(c);
    return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool tok_is_numeric(uint32_t c) {
    if (c < 0x80) return c >= '0' && c <= '9';
    int cat = tok_category(c);
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool tok_is_alnum(uint32_t c) {
    if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    int cat = tok_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) || tok_is_numeric(c);
}

/* ---- vocab ---------------------------------------------------------------- */

/* FNV-1a over prefix then s. */
uint64_t tok_hash(const char *p, size_t plen, const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < plen; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

void tok_vocab_free(tok_vocab *v) {
    senti_mfree(v->pool);
    senti_mfree(v->off);
    senti_mfree(v->len);
    senti_mfree(v->slots);
    senti_mfree(v->ent);
    memset(v, 0, sizeof *v);
}

senti_status tok_vocab_add(tok_vocab *v, const char *s, size_t len, int32_t id) {
    if (id < 0 || len >= UINT32_MAX) return senti_error(SENTI_ERR_BAD_FILE, "tokenizer: bad vocab id %d", id);
    if (v->pool_len + len + 1 > UINT32_MAX) return senti_error(SENTI_ERR_BAD_FILE, "tokenizer: vocab strings exceed 4 GB");
    if (tok_grow((void **)&v->ent, &v->ent_cap, v->nent + 1, sizeof *v->ent) ||
        tok_grow((void **)&v->pool, &v->pool_cap, v->pool_len + len + 1, 1))
        return SENTI_ERR_NO_MEMORY;
    memcpy(v->pool + v->pool_len, s, len);
    v->pool[v->pool_len + len] = 0;
    v->ent[v->nent++] = (tok_vocab_ent){id, (uint32_t)v->pool_len, (uint32_t)len};
    v->pool_len += len + 1;
    return SENTI_OK;
}

/* Lay the entries out by id: the tables are sized by the largest id, so an id
 * far beyond the entry count (a hostile or corrupt file) is refused here,
 * before anything that large is allocated. */
static senti_status vocab_layout(tok_vocab *v, const char *what) {
    int64_t max_id = -1;
    size_t at = 0;
    for (size_t i = 0; i < v->nent; i++)
        if (v->ent[i].id > max_id) max_id = v->ent[i].id, at = i;
    int64_t limit = tok_id_limit((int64_t)v->nent);
    if (max_id >= limit)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: token '%.40s' has id %lld, but the vocabulary has only %zu entries "
                           "(ids must stay below %lld)", what, v->pool + v->ent[at].off, (long long)max_id, v->nent,
                           (long long)limit);
    size_t n = (size_t)(max_id + 1);
    uint32_t *o = senti_malloc((n ? n : 1) * 4), *l = senti_malloc((n ? n : 1) * 4);
    if (!o || !l) {
        senti_mfree(o);
        senti_mfree(l);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory for the vocabulary", what);
    }
    for (size_t i = 0; i < n; i++) l[i] = UINT32_MAX;
    for (size_t i = 0; i < v->nent; i++) { /* a duplicate id keeps its first string */
        const tok_vocab_ent *e = &v->ent[i];
        if (l[e->id] != UINT32_MAX) continue;
        o[e->id] = e->off;
        l[e->id] = e->len;
    }
    senti_mfree(v->off);
    senti_mfree(v->len);
    senti_mfree(v->ent);
    v->ent = NULL;
    v->nent = v->ent_cap = 0;
    v->off = o;
    v->len = l;
    v->n = (int32_t)n;
    return SENTI_OK;
}

senti_status tok_vocab_build(tok_vocab *v, const char *what) { return tok_vocab_build_dup(v, what, false); }

senti_status tok_vocab_build_dup(tok_vocab *v, const char *what, bool last) {
    senti_status st;
    if (v->ent && (st = vocab_layout(v, what))) return st;
    uint32_t ns = 64;
    while (ns < (uint32_t)v->n * 2u + 16) ns *= 2;
    senti_mfree(v->slots);
    v->slots = senti_malloc((size_t)ns * 4);
    if (!v->slots) return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory for vocab hash");
    memset(v->slots, 0xff, (size_t)ns * 4);
    v->nslots = ns;
    for (int32_t k = 0; k < v->n; k++) {
        const int32_t id = last ? v->n - 1 - k : k;
        if (v->len[id] == UINT32_MAX) continue;
        const char *s = v->pool + v->off[id];
        if (tok_vocab_find(v, s, v->len[id]) >= 0) continue; /* duplicate string: the first (last) id wins */
        uint32_t h = (uint32_t)tok_hash(NULL, 0, s, v->len[id]) & (ns - 1);
        while (v->slots[h] >= 0) h = (h + 1) & (ns - 1);
        v->slots[h] = id;
    }
    return SENTI_OK;
}

int32_t tok_vocab_find2(const tok_vocab *v, const char *p, size_t plen, const char *s, size_t len) {
    if (!v->nslots) return -1;
    uint32_t h = (uint32_t)tok_hash(p, plen, s, len) & (v->nslots - 1);
    for (;;) {
        int32_t id = v->slots[h];
        if (id < 0) return -1;
        if (v->len[id] == plen + len) {
            const char *t = v->pool + v->off[id];
            if ((plen == 0 || memcmp(t, p, plen) == 0) && memcmp(t + plen, s, len) == 0) return id;
        }
        h = (h + 1) & (v->nslots - 1);
    }
}

int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len) {
    return tok_vocab_find2(v, NULL, 0, s, len);
}

/* ---- splits, tokens, lists -------------------------------------------------- */

senti_status tok_splits_push(tok_splits *s, size_t off, size_t len, int32_t id) {
    if (tok_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(tok_split))) return SENTI_ERR_NO_MEMORY;
    s->v[s->n++] = (tok_split){off, len, id, 0};
    return SENTI_OK;
}

senti_status tok_tokens_push(tok_tokens *t, int32_t id, size_t off, size_t len) {
    if (tok_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(tok_token))) return SENTI_ERR_NO_MEMORY;
    t->v[t->n++] = (tok_token){id, (uint32_t)off, (uint32_t)len, false};
    return SENTI_OK;
}

senti_status tok_tokens_push_raw(tok_tokens *t, int32_t id, size_t off, size_t len) {
    if (tok_tokens_push(t, id, off, len)) return SENTI_ERR_NO_MEMORY;
    t->v[t->n - 1].raw = true;
    return SENTI_OK;
}

void tok_strlist_free(tok_strlist *l) {
    for (size_t i = 0; i < l->n; i++) senti_mfree(l->v[i]);
    senti_mfree(l->v);
    senti_mfree(l->len);
    memset(l, 0, sizeof *l);
}

senti_status tok_strlist_push(tok_strlist *l, const char *s, size_t n) {
    if (tok_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(char *)) ||
        tok_grow((void **)&l->len, &l->len_cap, l->n + 1, sizeof(size_t)))
        return SENTI_ERR_NO_MEMORY;
    char *c = senti_aligned_alloc(n + 1, 8);
    if (!c) return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory");
    memcpy(c, s, n);
    c[n] = 0;
    l->len[l->n] = n;
    l->v[l->n++] = c;
    return SENTI_OK;
}

void tok_ctx_free(tok_ctx *c) {
    for (int i = 0; i < 2; i++) tok_str_free(&c->str[i]);
    for (int i = 0; i < 2; i++) senti_mfree(c->sp[i].v);
    senti_mfree(c->toks.v);
    senti_mfree(c->mt.v);
    if (c->md) pcre2_match_data_free(c->md);
    senti_mfree(c->sym);
    senti_mfree(c->heap);
    senti_mfree(c->lattice);
    senti_mfree(c->buf);
    memset(c, 0, sizeof *c);
}

/* ---- regex ------------------------------------------------------------------ */

senti_status tok_regex_compile(tok_regex *r, const char *pattern, size_t len, bool literal) {
    int err;
    PCRE2_SIZE eoff;
    uint32_t opts = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    r->code = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &eoff, NULL);
    if (!r->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return senti_error(SENTI_ERR_BAD_FILE, "tokenizer: regex '%.*s' does not compile at %zu: %s",
                           (int)(len > 200 ? 200 : len), pattern, (size_t)eoff, (const char *)msg);
    }
    pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
    char *z = senti_malloc(len + 1);
    if (z) {
        memcpy(z, pattern, len);
        z[len] = '\0';
        r->cut_ok = literal ? (!memchr(pattern, ' ', len) || (len == 1 && pattern[0] == ' '))
                            : strcmp(z, " {2,}") == 0 || tok_pre_regex_name(z) != NULL;
        senti_mfree(z);
    }
    return SENTI_OK;
}

senti_status tok_regex_failed(const char *where, int rc) {
    PCRE2_UCHAR msg[256];
    if (pcre2_get_error_message(rc, msg, sizeof msg) < 0) snprintf((char *)msg, sizeof msg, "unknown");
    return senti_error(rc == PCRE2_ERROR_NOMEMORY ? SENTI_ERR_NO_MEMORY : SENTI_ERR_INVALID_ARG,
                       "the %s regex failed on this text (PCRE2 error %d: %s)", where, rc,
                       (const char *)msg);
}

void tok_regex_free(tok_regex *r) {
    if (r->code) pcre2_code_free(r->code);
    r->code = NULL;
}

/* ---- files ------------------------------------------------------------------ */

senti_status tok_load_optional_json(const char *path, size_t flags, json_t **out) {
    *out = NULL;
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return SENTI_OK;
    json_error_t err;
    json_t *j = senti_json_load(path, flags, &err);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %s (the tokenizer's options come from it)", path,
                           j ? "not a JSON object" : err.text[0] ? err.text : "cannot be read");
    }
    *out = j;
    return SENTI_OK;
}

senti_status tok_read_file(const char *path, char **data, size_t *n) {
    FILE *f = senti_fopen_regular(path);
    char *buf = NULL;
    if (!f) return SENTI_ERR_IO;
    if (fseek(f, 0, SEEK_END) != 0) goto io;
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0) goto io;
    buf = senti_aligned_alloc((size_t)sz + 1, 16);
    if (!buf) {
        fclose(f);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory (%ld bytes)", path, sz);
    }
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) goto io;
    buf[sz] = 0;
    fclose(f);
    *data = buf;
    *n = (size_t)sz;
    return SENTI_OK;
io:
    senti_mfree(buf);
    fclose(f);
    return senti_error(SENTI_ERR_IO, "%s: read failed: %s", path, strerror(errno));
}

int tok_b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
