/* aspect.c — aspect-level sentiment: (text, aspect) pairs through a sequence
 * classifier as the sentence pair (or text + a templated auxiliary sentence),
 * softmax over the model's labels, and the aspect's first occurrence in the
 * text as code-point offsets.
 *
 * Invariants: one output line per input record, in input order, with its id;
 * the aspects of one record run together as one right-padded batch, and each
 * row equals that pair run alone (the model's padding guarantee). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

static unsigned char lower_ascii(unsigned char c) { return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c; }

bool task_aspect_find(const char *text, size_t len, const char *aspect, size_t alen, int64_t *start, int64_t *end) {
    if (alen == 0 || alen > len) return false;
    const unsigned char *t = (const unsigned char *)text, *a = (const unsigned char *)aspect;
    for (size_t i = 0; i + alen <= len; i++) {
        if ((t[i] & 0xC0) == 0x80) continue; /* only at code-point starts */
        size_t j = 0;
        while (j < alen && lower_ascii(t[i + j]) == lower_ascii(a[j])) j++;
        if (j < alen) continue;
        int64_t cp = 0, cpa = 0;
        for (size_t k = 0; k < i; k++) cp += (t[k] & 0xC0) != 0x80;
        for (size_t k = 0; k < alen; k++) cpa += (a[k] & 0xC0) != 0x80;
        *start = cp;
        *end = cp + cpa;
        return true;
    }
    return false;
}

char *task_aspect_second(const char *tmpl, const char *aspect, size_t alen, size_t *out_len) {
    static const char key[] = "{aspect}";
    const size_t klen = sizeof key - 1;
    size_t n = 0;
    if (!tmpl) n = alen;
    else
        for (const char *p = tmpl; *p;) {
            if (strncmp(p, key, klen) == 0) n += alen, p += klen;
            else n++, p++;
        }
    char *s = malloc(n + 1), *o = s;
    if (!s) return NULL;
    if (!tmpl) memcpy(o, aspect, alen), o += alen;
    else
        for (const char *p = tmpl; *p;) {
            if (strncmp(p, key, klen) == 0) memcpy(o, aspect, alen), o += alen, p += klen;
            else *o++ = *p++;
        }
    *o = '\0';
    if (out_len) *out_len = n;
    return s;
}

/* Encode (text, second) to at most max_len tokens: the text is cut first so
 * the aspect survives; longest-first when that cannot fit. */
static senti_status encode_pair(const senti_tokenizer *tok, const char *text, size_t len, const char *second,
                                size_t slen, int64_t max_len, senti_encoding **e, bool *truncated) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    *truncated = false;
    senti_status s = senti_tokenizer_encode(tok, text, len, second, slen, &eo, e);
    if (s != SENTI_OK || senti_encoding_len(*e) <= max_len) return s;
    senti_encoding_free(*e);
    *e = NULL;
    *truncated = true;
    eo.max_length = max_len;
    eo.truncation = SENTI_TRUNCATE_ONLY_FIRST;
    s = senti_tokenizer_encode(tok, text, len, second, slen, &eo, e);
    if (s == SENTI_OK && senti_encoding_len(*e) <= max_len) return s;
    senti_encoding_free(*e);
    *e = NULL;
    eo.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
    return senti_tokenizer_encode(tok, text, len, second, slen, &eo, e);
}

/* {"aspect","start","end","sentiment","score","scores"} of one pair's logits. NULL on OOM. */
static json_t *aspect_entry(const task_classify *cls, const char *text, size_t len, const char *aspect, size_t alen,
                            const float *logits, int64_t nl) {
    json_t *r = task_classify_decode((void *)cls, logits, nl), *o = json_object();
    if (!r || !o) {
        json_decref(r);
        json_decref(o);
        return NULL;
    }
    int64_t st0, en0;
    bool found = task_aspect_find(text, len, aspect, alen, &st0, &en0);
    json_object_set_new(o, "aspect", json_stringn(aspect, alen));
    json_object_set_new(o, "start", found ? json_integer(st0) : json_null());
    json_object_set_new(o, "end", found ? json_integer(en0) : json_null());
    json_object_set(o, "sentiment", json_object_get(r, "label"));
    json_object_set(o, "score", json_object_get(r, "score"));
    json_object_set(o, "scores", json_object_get(r, "scores"));
    json_decref(r);
    return o;
}

senti_status task_aspect_one(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, const char *text,
                             size_t len, const char *const *aspects, const size_t *alens, int64_t n,
                             json_t **result, int64_t *truncated) {
    *result = NULL;
    if (n < 1) return senti_error(SENTI_ERR_INVALID_ARG, "aspect: no aspect given");
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION || senti_model_num_labels(m) < 1)
        return senti_error(SENTI_ERR_UNSUPPORTED, "aspect: the model (%s) is not a sequence classifier",
                           senti_model_architecture(m));
    task_classify cls;
    senti_status s = task_classify_init(&cls, m, NULL, 0, 0.5);
    if (s != SENTI_OK) return s;
    cls.multi_label = false; /* a sentiment distribution over the labels */
    int64_t max_len = senti_model_max_length(m), T = 0;
    senti_encoding **enc = calloc((size_t)n, sizeof *enc);
    int32_t *ids = NULL, *types = NULL, *mask = NULL;
    float *out = NULL;
    json_t *list = json_array();
    if (!enc || !list) goto oom;
    for (int64_t i = 0; i < n; i++) {
        size_t slen;
        char *second = task_aspect_second(a ? a->tmpl : NULL, aspects[i], alens[i], &slen);
        if (!second) goto oom;
        bool cut;
        s = encode_pair(tok, text, len, second, slen, max_len, &enc[i], &cut);
        free(second);
        if (s != SENTI_OK) goto done;
        if (cut && truncated) (*truncated)++;
        if (senti_encoding_len(enc[i]) > T) T = senti_encoding_len(enc[i]);
    }
    ids = malloc((size_t)(n * T) * sizeof *ids);
    types = malloc((size_t)(n * T) * sizeof *types);
    mask = malloc((size_t)(n * T) * sizeof *mask);
    if (!ids || !types || !mask) goto oom;
    int64_t pad = senti_model_pad_token_id(m);
    if (pad < 0 || pad >= senti_model_vocab_size(m)) pad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t L = senti_encoding_len(enc[i]);
        const int32_t *ei = senti_encoding_ids(enc[i]), *et = senti_encoding_type_ids(enc[i]);
        for (int64_t t = 0; t < T; t++) {
            ids[i * T + t] = t < L ? ei[t] : (int32_t)pad;
            types[i * T + t] = t < L && et ? et[t] : 0;
            mask[i * T + t] = t < L;
        }
    }
    int64_t shape[3];
    int nd = 0;
    s = senti_model_forward(m, ids, senti_model_type_vocab_size(m) > 0 ? types : NULL, mask, n, T, &out, shape,
                            &nd);
    if (s != SENTI_OK) goto done;
    if (nd != 2 || shape[0] != n) {
        s = senti_error(SENTI_ERR_UNSUPPORTED, "aspect: the model is not a sequence classifier");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        json_t *o = aspect_entry(&cls, text, len, aspects[i], alens[i], out + i * shape[1], shape[1]);
        if (!o || json_array_append_new(list, o) != 0) goto oom;
    }
    *result = json_object();
    if (!*result || json_object_set(*result, "aspects", list) != 0) goto oom;
    s = SENTI_OK;
    goto done;
oom:
    json_decref(*result);
    *result = NULL;
    s = senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
done:
    if (s != SENTI_OK) {
        json_decref(*result);
        *result = NULL;
    }
    if (enc)
        for (int64_t i = 0; i < n; i++) senti_encoding_free(enc[i]);
    free(enc);
    free(ids);
    free(types);
    free(mask);
    senti_model_output_free(out);
    json_decref(list);
    return s;
}

/* ---- records through the batch runner ------------------------------------------ */

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

typedef struct aspect_ctx {
    const task_aspect *a;
    task_classify cls;
} aspect_ctx;

/* Add the pair (text, aspect's second sentence); false on OOM; a bad aspect fails r. */
static bool add_aspect(const task_aspect *a, task_record *r, const char *asp, size_t alen) {
    if (alen == 0 || blank(asp, alen)) return task_record_fail(r, "empty aspect");
    if (task_utf8_invalid_at(asp, alen) >= 0 || memchr(asp, '\0', alen))
        return task_record_fail(r, "invalid aspect (bad UTF-8 or NUL)");
    size_t slen;
    char *second = task_aspect_second(a->tmpl, asp, alen, &slen);
    task_item *it = second ? task_record_add(r, r->text, r->len, second, slen) : NULL;
    free(second);
    if (it) it->cut = SENTI_TRUNCATE_ONLY_FIRST; /* the text is cut first so the aspect survives */
    return it != NULL;
}

static bool aspect_expand(void *ctx, task_record *r) {
    const aspect_ctx *c = ctx;
    json_t *ja = r->obj ? json_object_get(r->obj, "aspect") : NULL;
    if (ja && !json_is_null(ja)) {
        size_t k = json_is_array(ja) ? json_array_size(ja) : 1;
        for (size_t i = 0; i < k && !r->error; i++) {
            json_t *v = json_is_array(ja) ? json_array_get(ja, i) : ja;
            if (!json_is_string(v))
                return task_record_fail(r, "field \"aspect\" must be a string or an array of strings");
            if (!add_aspect(c->a, r, json_string_value(v), json_string_length(v))) return false;
        }
        if (k == 0) return task_record_fail(r, "field \"aspect\" is an empty array");
        return true;
    }
    if (c->a->n_aspects == 0) return task_record_fail(r, "no aspect: give the record an \"aspect\" or use --aspect");
    for (int64_t i = 0; i < c->a->n_aspects && !r->error; i++)
        if (!add_aspect(c->a, r, c->a->aspects[i], strlen(c->a->aspects[i]))) return false;
    return true;
}

/* The aspect of item i: its pair, or (template) the source string, recovered
 * from the record. */
static void item_aspect(const aspect_ctx *c, const task_record *r, int64_t i, const char **asp, size_t *alen) {
    json_t *ja = r->obj ? json_object_get(r->obj, "aspect") : NULL;
    if (ja && !json_is_null(ja)) {
        json_t *v = json_is_array(ja) ? json_array_get(ja, (size_t)i) : ja;
        *asp = json_string_value(v);
        *alen = json_string_length(v);
    } else {
        *asp = c->a->aspects[i];
        *alen = strlen(*asp);
    }
}

static json_t *aspect_decode(void *ctx, task_record *r) {
    const aspect_ctx *c = ctx;
    json_t *o = json_object(), *list = json_array();
    if (!o || !list || json_object_set_new(o, "aspects", list) != 0) {
        json_decref(o);
        return NULL;
    }
    for (int64_t i = 0; i < r->n_items; i++) {
        const char *asp;
        size_t alen;
        item_aspect(c, r, i, &asp, &alen);
        const task_seg *g = &r->items[i].segs[0];
        json_t *e = aspect_entry(&c->cls, r->text, r->len, asp, alen, g->out, g->n_out);
        char what[160];
        size_t cut = alen < 120 ? alen : 120;
        while (cut > 0 && cut < alen && ((unsigned char)asp[cut] & 0xC0) == 0x80) cut--; /* whole characters */
        snprintf(what, sizeof what, "aspect: %.*s", (int)cut, asp);
        if (e && c->a->explain && c->a->explain->method != TASK_EXPLAIN_NONE &&
            !task_classify_explain(c->a->explain, c->cls.model, false, &r->items[i], r->id, what, g->out, g->n_out, e)) {
            json_decref(e);
            e = NULL;
        }
        if (!e || json_array_append_new(list, e) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

senti_status task_aspect_run_opts(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, task_source *src,
                                  FILE *out, const task_runner_opts *o, task_stats *st) {
    if (st) memset(st, 0, sizeof *st);
    if (!m || !tok || !a) return senti_error(SENTI_ERR_INVALID_ARG, "task_aspect_run: NULL argument");
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION || senti_model_num_labels(m) < 1)
        return senti_error(SENTI_ERR_UNSUPPORTED, "aspect: the model (%s) is not a sequence classifier",
                           senti_model_architecture(m));
    if (a->explain && a->explain->method != TASK_EXPLAIN_NONE && a->lng.stride > 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "--explain does not combine with --stride windows");
    aspect_ctx c = {.a = a};
    senti_status s = task_classify_init(&c.cls, m, NULL, 0, 0.5);
    if (s != SENTI_OK) return s;
    c.cls.multi_label = false; /* a sentiment distribution over the labels */
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .stride = a->lng.stride,
                    .aggregate = a->lng.aggregate, .no_truncate = a->lng.no_truncate, .expand = aspect_expand,
                    .decode = aspect_decode};
    return task_run_ops(m, tok, src, out, o, &ops, &c, st);
}

senti_status task_aspect_run(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, FILE *in,
                             const char *name, const char *const *texts, int64_t n_texts, FILE *out,
                             task_stats *st) {
    if (!m || !tok || !a || !out || (!in && n_texts > 0 && !texts))
        return senti_error(SENTI_ERR_INVALID_ARG, "task_aspect_run: NULL argument");
    task_source *src = in ? task_source_file(in, name) : task_source_texts(texts, n_texts);
    if (!src) return senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
    task_runner_opts o = task_runner_opts_defaults();
    o.strict = a->strict;
    senti_status s = task_aspect_run_opts(m, tok, a, src, out, &o, st);
    task_source_free(src);
    return s;
}
