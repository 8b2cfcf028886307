/* tok_pretok.c — pre-tokenizers (BERT, ByteLevel, Whitespace, WhitespaceSplit,
 * Metaspace, Split, Digits, Punctuation, Sequence), following HF's
 * Pattern::find_matches + SplitDelimiterBehavior semantics.
 * Invariant: splits with id >= 0 (added tokens) pass through untouched, and
 * empty splits are dropped, as HF's PreTokenizedString::split does. */
#include <pthread.h>

#include "tokenizer.h"

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    tok_regex_free(&p->re);
    for (int i = 0; i < p->nseq; i++) tok_pretok_free(&p->seq[i]);
    senti_mfree(p->seq);
    memset(p, 0, sizeof *p);
}

/* ---- the GPT-2 byte <-> char table ---------------------------------------- */

uint32_t tok_byte_char[256];
static int16_t char_byte[324]; /* byte chars are all < 324 */

static void bytelevel_fill(void) {
    uint32_t n = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        tok_byte_char[b] = keep ? (uint32_t)b : 256 + n++;
    }
    for (int c = 0; c < 324; c++) char_byte[c] = -1;
    for (int b = 0; b < 256; b++) char_byte[tok_byte_char[b]] = (int16_t)b;
}

void tok_bytelevel_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, bytelevel_fill);
}

int tok_char_byte(uint32_t c) { return c < 324 ? char_byte[c] : -1; }

/* ---- find_matches ------------------------------------------------------------- */

static senti_status mpush(tok_matches *m, size_t s, size_t e, bool is_match) {
    if (tok_grow((void **)&m->v, &m->cap, m->n + 1, sizeof(tok_match))) return SENTI_ERR_NO_MEMORY;
    m->v[m->n++] = (tok_match){s, e, is_match};
    return SENTI_OK;
}

typedef bool (*char_pred)(uint32_t c);

static bool pred_meta_dummy(uint32_t c) { return c == 0x2581; }

/* Every char satisfying pred is its own match. Offsets relative to s. */
static senti_status find_pred(tok_matches *m, const char *s, size_t n, char_pred pred, uint32_t only) {
    m->n = 0;
    if (n == 0) return mpush(m, 0, 0, false);
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        int l = tok_utf8_next(s + i, n - i, &c);
        if (pred ? pred(c) : c == only) {
            if (last < i && mpush(m, last, i, false)) return SENTI_ERR_NO_MEMORY;
            if (mpush(m, i, i + l, true)) return SENTI_ERR_NO_MEMORY;
            last = i + l;
        }
        i += l;
    }
    if (last < n && mpush(m, last, n, false)) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

static senti_status find_regex(tok_ctx *ctx, const tok_regex *re, const char *s, size_t n, bool invert) {
    tok_matches *m = &ctx->mt;
    m->n = 0;
    if (n == 0) return mpush(m, 0, 0, false);
    if (!ctx->md && !(ctx->md = pcre2_match_data_create(4, NULL)))
        return senti_error(SENTI_ERR_NO_MEMORY, "tokenizer: out of memory");
    size_t prev = 0, pos = 0;
    while (pos <= n) {
        int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, ctx->md, NULL);
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH) return tok_regex_failed("pre-tokenizer", rc);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(ctx->md);
        size_t ms = ov[0], me = ov[1];
        if (prev != ms && mpush(m, prev, ms, invert)) return SENTI_ERR_NO_MEMORY;
        if (mpush(m, ms, me, !invert)) return SENTI_ERR_NO_MEMORY;
        prev = me;
        if (me == ms) {
            if (ms >= n) break;
            pos = ms + (size_t)tok_utf8_len((unsigned char)s[ms]);
        } else {
            pos = me;
        }
    }
    if (prev != n && mpush(m, prev, n, invert)) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

/* Apply the behavior to ctx->mt (offsets relative to base) and push splits. */
static senti_status apply_behavior(tok_matches *m, tok_split_behavior b, size_t base, tok_splits *out) {
    size_t k = 0; /* compact in place into (s, e, keep) */
    bool prev = false;
    if (b == TOK_SPLIT_MERGED_NEXT) {
        /* walk backwards, merging a match into the split that follows it */
        size_t w = m->n;
        for (size_t i = m->n; i-- > 0;) {
            tok_match x = m->v[i];
            if (x.is_match && !prev && w < m->n) m->v[w].s = x.s;
            else m->v[--w] = (tok_match){x.s, x.e, false};
            prev = x.is_match;
        }
        for (size_t i = w; i < m->n; i++)
            if (m->v[i].e > m->v[i].s && tok_splits_push(out, base + m->v[i].s, m->v[i].e - m->v[i].s, -1))
                return SENTI_ERR_NO_MEMORY;
        return SENTI_OK;
    }
    for (size_t i = 0; i < m->n; i++) {
        tok_match x = m->v[i];
        switch (b) {
        case TOK_SPLIT_REMOVED: m->v[k++] = x; break;
        case TOK_SPLIT_ISOLATED: m->v[k++] = (tok_match){x.s, x.e, false}; break;
        case TOK_SPLIT_CONTIGUOUS:
            if (k > 0 && x.is_match == prev) m->v[k - 1].e = x.e;
            else m->v[k++] = (tok_match){x.s, x.e, false};
            break;
        case TOK_SPLIT_MERGED_PREV:
            if (x.is_match && !prev && k > 0) m->v[k - 1].e = x.e;
            else m->v[k++] = (tok_match){x.s, x.e, false};
            break;
        default: break;
        }
        prev = x.is_match;
    }
    for (size_t i = 0; i < k; i++) {
        tok_match x = m->v[i];
        if (x.is_match || x.e == x.s) continue; /* removed, or empty */
        if (tok_splits_push(out, base + x.s, x.e - x.s, -1)) return SENTI_ERR_NO_MEMORY;
    }
    return SENTI_OK;
}

/* ---- splitting pre-tokenizers ----------------------------------------------- */

static bool pred_ws(uint32_t c) { return tok_is_whitespace(c); }
static bool pred_punct(uint32_t c) { return tok_is_punct(c); }
static bool pred_num(uint32_t c) { return tok_is_numeric(c); }

/* BertPreTokenizer: whitespace removed, punctuation isolated, in one pass. */
static senti_status bert_split(const tok_str *cur, const tok_split *sp, tok_splits *out) {
    size_t end = sp->off + sp->len, word = sp->off;
    for (size_t i = sp->off; i < end;) {
        uint32_t c;
        int l = tok_utf8_next(cur->s + i, end - i, &c);
        bool ws = tok_is_whitespace(c);
        if (ws || tok_is_punct(c)) {
            if (i > word && tok_splits_push(out, word, i - word, -1)) return SENTI_ERR_NO_MEMORY;
            if (!ws && tok_splits_push(out, i, (size_t)l, -1)) return SENTI_ERR_NO_MEMORY;
            word = i + l;
        }
        i += l;
    }
    if (end > word && tok_splits_push(out, word, end - word, -1)) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}

typedef enum { SPLIT_PRED, SPLIT_REGEX } split_kind;

static senti_status split_all(tok_ctx *ctx, const tok_str *cur, tok_splits **sp, tok_splits *tmp,
                              split_kind kind, char_pred pred, uint32_t only, const tok_regex *re, bool invert,
                              tok_split_behavior b) {
    tmp->n = 0;
    tok_splits *in = *sp;
    for (size_t i = 0; i < in->n; i++) {
        tok_split *s = &in->v[i];
        if (s->id >= 0) {
            if (tok_splits_push(tmp, s->off, s->len, s->id)) return SENTI_ERR_NO_MEMORY;
            continue;
        }
        senti_status st;
        if (kind == SPLIT_REGEX) st = find_regex(ctx, re, cur->s + s->off, s->len, invert);
        else {
            st = find_pred(&ctx->mt, cur->s + s->off, s->len, pred, only);
            if (!st && invert)
                for (size_t k = 0; k < ctx->mt.n; k++) ctx->mt.v[k].is_match = !ctx->mt.v[k].is_match;
        }
        if (st) return st; /* the regex's own error (find_pred fails only for memory) */
        if (apply_behavior(&ctx->mt, b, s->off, tmp)) return SENTI_ERR_NO_MEMORY;
    }
    /* swap the two split lists */
    tok_splits t = *in;
    *in = *tmp;
    *tmp = t;
    return SENTI_OK;
}

/* ---- transforming pre-tokenizers --------------------------------------------- */

/* ByteLevel step 1: per split, prepend a space when asked. */
static senti_status bytelevel_prefix(tok_str *cur, tok_str *nxt, tok_splits *sp) {
    nxt->len = 0;
    for (size_t i = 0; i < sp->n; i++) {
        tok_split *s = &sp->v[i];
        size_t noff = nxt->len;
        if (s->id < 0 && s->len > 0 && cur->s[s->off] != ' ' &&
            tok_str_push(nxt, ' ', cur->a0[s->off], cur->a1[s->off]))
            return SENTI_ERR_NO_MEMORY;
        if (tok_str_append(nxt, cur, s->off, s->len)) return SENTI_ERR_NO_MEMORY;
        s->off = noff;
        s->len = nxt->len - noff;
    }
    tok_str t = *cur;
    *cur = *nxt;
    *nxt = t;
    return SENTI_OK;
}

/* ByteLevel step 2: every byte becomes its printable char (same alignment). */
static senti_status bytelevel_map(tok_str *cur, tok_str *nxt, tok_splits *sp) {
    nxt->len = 0;
    for (size_t i = 0; i < sp->n; i++) {
        tok_split *s = &sp->v[i];
        size_t noff = nxt->len;
        if (s->id >= 0) {
            if (tok_str_append(nxt, cur, s->off, s->len)) return SENTI_ERR_NO_MEMORY;
        } else {
            if (tok_str_reserve(nxt, nxt->len + 2 * s->len)) return SENTI_ERR_NO_MEMORY;
            for (size_t k = s->off; k < s->off + s->len; k++)
                tok_str_push(nxt, tok_byte_char[(unsigned char)cur->s[k]], cur->a0[k], cur->a1[k]);
        }
        s->off = noff;
        s->len = nxt->len - noff;
    }
    tok_str t = *cur;
    *cur = *nxt;
    *nxt = t;
    return SENTI_OK;
}

/* Metaspace: ' ' -> replacement, then prepend per scheme. */
static senti_status metaspace_map(const tok_pretok *p, tok_str *cur, tok_str *nxt, tok_splits *sp) {
    nxt->len = 0;
    char rep[4];
    int rl = tok_utf8_encode(p->replacement, rep);
    for (size_t i = 0; i < sp->n; i++) {
        tok_split *s = &sp->v[i];
        size_t noff = nxt->len;
        if (s->id >= 0 || s->len == 0) {
            if (tok_str_append(nxt, cur, s->off, s->len)) return SENTI_ERR_NO_MEMORY;
        } else {
            bool starts = (cur->s[s->off] == ' ') ||
                          ((size_t)rl <= s->len && memcmp(cur->s + s->off, rep, (size_t)rl) == 0);
            bool pre = !starts && (p->scheme == TOK_PREPEND_ALWAYS ||
                                   (p->scheme == TOK_PREPEND_FIRST && cur->a0[s->off] == 0));
            if (pre && tok_str_push(nxt, p->replacement, cur->a0[s->off], cur->a1[s->off])) return SENTI_ERR_NO_MEMORY;
            for (size_t k = s->off; k < s->off + s->len; k++) {
                if (cur->s[k] == ' ') {
                    if (tok_str_push(nxt, p->replacement, cur->a0[k], cur->a1[k])) return SENTI_ERR_NO_MEMORY;
                } else if (tok_str_append(nxt, cur, k, 1)) {
                    return SENTI_ERR_NO_MEMORY;
                }
            }
        }
        s->off = noff;
        s->len = nxt->len - noff;
    }
    tok_str t = *cur;
    *cur = *nxt;
    *nxt = t;
    return SENTI_OK;
}

senti_status tok_pretokenize(const tok_pretok *p, tok_ctx *ctx, tok_str **curp, tok_splits **sp) {
    tok_str *cur = *curp;
    tok_str *nxt = cur == &ctx->str[0] ? &ctx->str[1] : &ctx->str[0];
    tok_splits *tmp = *sp == &ctx->sp[0] ? &ctx->sp[1] : &ctx->sp[0];
    senti_status st = SENTI_OK;
    switch (p->type) {
    case TOK_PRE_BERT: {
        tmp->n = 0;
        for (size_t i = 0; i < (*sp)->n && !st; i++) {
            tok_split *s = &(*sp)->v[i];
            st = s->id >= 0 ? tok_splits_push(tmp, s->off, s->len, s->id) : bert_split(cur, s, tmp);
        }
        if (!st) {
            tok_splits t = **sp;
            **sp = *tmp;
            *tmp = t;
        }
        break;
    }
    case TOK_PRE_WHITESPACE_SPLIT:
        st = split_all(ctx, cur, sp, tmp, SPLIT_PRED, pred_ws, 0, NULL, false, TOK_SPLIT_REMOVED);
        break;
    case TOK_PRE_WHITESPACE:
        st = split_all(ctx, cur, sp, tmp, SPLIT_REGEX, NULL, 0, &p->re, true, TOK_SPLIT_REMOVED);
        break;
    case TOK_PRE_PUNCTUATION:
        st = split_all(ctx, cur, sp, tmp, SPLIT_PRED, pred_punct, 0, NULL, false, p->behavior);
        break;
    case TOK_PRE_DIGITS:
        st = split_all(ctx, cur, sp, tmp, SPLIT_PRED, pred_num, 0, NULL, false,
                       p->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS);
        break;
    case TOK_PRE_SPLIT:
        st = split_all(ctx, cur, sp, tmp, SPLIT_REGEX, NULL, 0, &p->re, p->invert, p->behavior);
        break;
    case TOK_PRE_BYTELEVEL:
        if (p->add_prefix_space && (st = bytelevel_prefix(cur, nxt, *sp))) break;
        if (p->use_regex &&
            (st = split_all(ctx, cur, sp, tmp, SPLIT_REGEX, NULL, 0, &p->re, false, TOK_SPLIT_ISOLATED)))
            break;
        st = bytelevel_map(cur, nxt, *sp);
        break;
    case TOK_PRE_METASPACE:
        if ((st = metaspace_map(p, cur, nxt, *sp))) break;
        if (p->split)
            st = split_all(ctx, cur, sp, tmp, SPLIT_PRED, p->replacement == 0x2581 ? pred_meta_dummy : NULL,
                           p->replacement, NULL, false, TOK_SPLIT_MERGED_NEXT);
        break;
    case TOK_PRE_SEQUENCE:
        for (int i = 0; i < p->nseq && !st; i++) st = tok_pretokenize(&p->seq[i], ctx, curp, sp);
        return st;
    }
    return st;
}

/* ---- named pre-tokenizer regexes ---------------------------------------------------
 * The one table of the splitting regexes senti knows by name: llama.cpp's
 * tokenizer.ggml.pre names (the first name of a regex is the one written). */

#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3                                                                                                      \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"                 \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                                                       \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"                     \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const struct {
    const char *name, *re;
} PRE_REGEX[] = {
    {"gpt-2", RE_GPT2},    {"default", RE_GPT2}, {"llama-bpe", RE_LLAMA3},
    {"llama3", RE_LLAMA3}, {"qwen2", RE_QWEN2},
};

const char *tok_pre_regex(const char *name) {
    for (size_t i = 0; name && i < sizeof PRE_REGEX / sizeof PRE_REGEX[0]; i++)
        if (strcmp(PRE_REGEX[i].name, name) == 0) return PRE_REGEX[i].re;
    return NULL;
}

const char *tok_pre_regex_name(const char *re) {
    for (size_t i = 0; re && i < sizeof PRE_REGEX / sizeof PRE_REGEX[0]; i++)
        if (strcmp(PRE_REGEX[i].re, re) == 0) return PRE_REGEX[i].name;
    return NULL;
}
