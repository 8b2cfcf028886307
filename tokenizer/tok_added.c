/* tok_added.c — added / special tokens: HF AddedVocabulary matching
 * (leftmost-longest, non-overlapping; single_word, lstrip, rstrip), first on
 * the raw text for normalized=false tokens, then on each normalized piece for
 * normalized=true tokens (whose content is normalized at load).
 * Invariant: idx[k][b] lists tokens whose matched content starts with byte b,
 * longest first, so the first hit at a position is the longest one. */
#include "tokenizer.h"

void tok_added_free(tok_added_set *s) {
    for (int i = 0; i < s->n; i++) {
        if (s->v[i].ncontent != s->v[i].content) senti_mfree(s->v[i].ncontent);
        senti_mfree(s->v[i].content);
    }
    senti_mfree(s->v);
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 256; b++) senti_mfree(s->idx[k][b]);
    senti_mfree(s->by_id);
    memset(s, 0, sizeof *s);
}

senti_status tok_added_push(tok_added_set *s, const char *content, size_t len, int32_t id, bool single_word,
                            bool lstrip, bool rstrip, bool normalized, bool special) {
    if (len == 0) return senti_error(SENTI_ERR_BAD_FILE, "added token %d has empty content", id);
    for (int i = 0; i < s->n; i++)
        if (s->v[i].len == len && memcmp(s->v[i].content, content, len) == 0) return SENTI_OK;
    size_t cap = (size_t)s->n;
    if (tok_grow((void **)&s->v, &cap, (size_t)s->n + 1, sizeof(tok_added))) return SENTI_ERR_NO_MEMORY;
    /* tok_grow used n as the capacity: it reallocates on every push, fine for a few hundred tokens */
    char *c = senti_aligned_alloc(len + 1, 8);
    if (!c) return senti_error(SENTI_ERR_NO_MEMORY, "added tokens: out of memory");
    memcpy(c, content, len);
    c[len] = 0;
    s->v[s->n++] = (tok_added){c, len, c, len, id, single_word, lstrip, rstrip, normalized, special};
    return SENTI_OK;
}

/* Insertion sorts (a few hundred tokens at most; no global state, so loads
 * may run concurrently). */
static bool before_len(const tok_added_set *s, int32_t x, int32_t y) {
    const tok_added *a = &s->v[x], *b = &s->v[y];
    return a->nlen != b->nlen ? a->nlen > b->nlen : x < y;
}
static bool before_id(const tok_added_set *s, int32_t x, int32_t y) { return s->v[x].id < s->v[y].id; }

static void isort(const tok_added_set *s, int32_t *v, int n, bool (*before)(const tok_added_set *, int32_t, int32_t)) {
    for (int i = 1; i < n; i++) {
        int32_t x = v[i];
        int j = i;
        while (j > 0 && before(s, x, v[j - 1])) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* Normalize the content of normalized tokens and build the match index. */
senti_status tok_added_build(senti_tokenizer *t) {
    tok_added_set *s = &t->added;
    /* an added id far past the vocabulary would size every id table (the model's embedding
     * check, logits masks) by it: refused like a vocabulary id */
    int64_t limit = tok_id_limit((int64_t)t->model.vocab.n + s->n);
    for (int i = 0; i < s->n; i++)
        if (s->v[i].id >= limit)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: added token '%.40s' has id %d, but the vocabulary has only "
                               "%lld entries (ids must stay below %lld)", t->source ? t->source : "tokenizer",
                               s->v[i].content, s->v[i].id, (long long)t->model.vocab.n + s->n, (long long)limit);
    tok_ctx ctx = {0};
    senti_status st = SENTI_OK;
    for (int i = 0; i < s->n && !st; i++) {
        tok_added *a = &s->v[i];
        if (!a->normalized || !t->normalizer) continue;
        int32_t nc;
        if ((st = tok_utf8_repair(a->content, a->len, &ctx.str[0], &nc))) break;
        ctx.str[1].len = 0;
        if ((st = tok_normalize(t->normalizer, &ctx, &ctx.str[0], 0, ctx.str[0].len, &ctx.str[1]))) break;
        if (ctx.str[1].len == 0) continue; /* normalizes to nothing: keep the raw content */
        char *c = senti_aligned_alloc(ctx.str[1].len + 1, 8);
        if (!c) {
            st = senti_error(SENTI_ERR_NO_MEMORY, "added tokens: out of memory");
            break;
        }
        memcpy(c, ctx.str[1].s, ctx.str[1].len);
        c[ctx.str[1].len] = 0;
        a->ncontent = c;
        a->nlen = ctx.str[1].len;
    }
    tok_ctx_free(&ctx);
    if (st) return st;
    for (int i = 0; i < s->n; i++) {
        tok_added *a = &s->v[i];
        int k = a->normalized ? 1 : 0;
        unsigned char b = (unsigned char)a->ncontent[0];
        size_t cap = (size_t)s->cnt[k][b];
        if (tok_grow((void **)&s->idx[k][b], &cap, cap + 1, 4)) return SENTI_ERR_NO_MEMORY;
        s->idx[k][b][s->cnt[k][b]++] = i;
    }
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 256; b++) isort(s, s->idx[k][b], s->cnt[k][b], before_len);
    s->by_id = senti_malloc((size_t)(s->n ? s->n : 1) * 4);
    if (!s->by_id) return senti_error(SENTI_ERR_NO_MEMORY, "added tokens: out of memory");
    for (int i = 0; i < s->n; i++) s->by_id[i] = i;
    isort(s, s->by_id, s->n, before_id);
    return SENTI_OK;
}

const tok_added *tok_added_by_id(const tok_added_set *s, int32_t id) {
    int lo = 0, hi = s->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int32_t m = s->v[s->by_id[mid]].id;
        if (m == id) return &s->v[s->by_id[mid]];
        if (m < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static bool is_word_char(uint32_t c) { return tok_is_alnum(c) || c == '_'; }

/* Last char before byte i (i > 0). */
static uint32_t char_before(const char *s, size_t lo, size_t i) {
    size_t b = i - 1;
    while (b > lo && ((unsigned char)s[b] & 0xc0) == 0x80) b--;
    uint32_t c;
    tok_utf8_next(s + b, i - b, &c);
    return c;
}

/* Split str[off, off+len) on added tokens of kind `normalized`, appending to out. */
senti_status tok_added_split(const tok_added_set *set, bool normalized, const tok_str *str, size_t off, size_t len,
                             tok_splits *out) {
    int k = normalized ? 1 : 0;
    const char *s = str->s;
    size_t end = off + len, start_off = off;
    for (size_t i = off; i < end;) {
        unsigned char b = (unsigned char)s[i];
        const tok_added *hit = NULL;
        for (int j = 0; j < set->cnt[k][b]; j++) {
            const tok_added *a = &set->v[set->idx[k][b][j]];
            if (a->nlen <= end - i && memcmp(s + i, a->ncontent, a->nlen) == 0) {
                hit = a;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t ms = i, me = i + hit->nlen;
        i = me; /* the matcher resumes after this match whatever happens to it */
        if (hit->single_word) {
            bool start_space = ms == off || !is_word_char(char_before(s, off, ms));
            bool stop_space = true;
            if (me < end) {
                uint32_t c;
                tok_utf8_next(s + me, end - me, &c);
                stop_space = !is_word_char(c);
            }
            if (!start_space || !stop_space) continue;
        }
        if (ms < start_off) continue; /* overlaps a previous token's rstrip */
        if (hit->lstrip) {
            size_t ns = ms;
            while (ns > off) {
                size_t bb = ns - 1;
                while (bb > off && ((unsigned char)s[bb] & 0xc0) == 0x80) bb--;
                uint32_t c;
                tok_utf8_next(s + bb, ns - bb, &c);
                if (!tok_is_whitespace(c)) break;
                ns = bb;
            }
            ms = ns > start_off ? ns : start_off;
        }
        if (hit->rstrip) {
            while (me < end) {
                uint32_t c;
                int l = tok_utf8_next(s + me, end - me, &c);
                if (!tok_is_whitespace(c)) break;
                me += l;
            }
            i = me > i ? me : i;
        }
        if (start_off < ms && tok_splits_push(out, start_off, ms - start_off, -1)) return SENTI_ERR_NO_MEMORY;
        if (tok_splits_push(out, ms, me - ms, hit->id)) return SENTI_ERR_NO_MEMORY;
        start_off = me;
    }
    if (start_off < end && tok_splits_push(out, start_off, end - start_off, -1)) return SENTI_ERR_NO_MEMORY;
    return SENTI_OK;
}
