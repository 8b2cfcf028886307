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
#include <time.h>

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
        json_t *r = task_classify_decode(&cls, out + i * shape[1], shape[1]), *o = json_object();
        if (!r || !o) {
            json_decref(r);
            json_decref(o);
            goto oom;
        }
        int64_t st0, en0;
        bool found = task_aspect_find(text, len, aspects[i], alens[i], &st0, &en0);
        json_object_set_new(o, "aspect", json_stringn(aspects[i], alens[i]));
        json_object_set_new(o, "start", found ? json_integer(st0) : json_null());
        json_object_set_new(o, "end", found ? json_integer(en0) : json_null());
        json_object_set(o, "sentiment", json_object_get(r, "label"));
        json_object_set(o, "score", json_object_get(r, "score"));
        json_object_set(o, "scores", json_object_get(r, "scores"));
        json_decref(r);
        if (json_array_append_new(list, o) != 0) goto oom;
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

/* ---- records ------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Answer one record; *line is the output object (id first). Returns the
 * error message for a bad record in err (NULL: fine), or a status on a
 * fatal failure. jsonl: parse line as a record; else line is the text. */
static senti_status answer(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, const char *line,
                           size_t n, bool jsonl, json_t *id, json_t **res_out, char *err, size_t errn,
                           task_stats *st) {
    err[0] = '\0';
    *res_out = NULL;
    json_t *rec = NULL, *ids_j = json_incref(id);
    const char *text = line;
    size_t len = n;
    const char **asp = NULL;
    size_t *alen = NULL;
    int64_t na = 0;
    senti_status s = SENTI_OK;
    if (jsonl) {
        json_error_t je;
        rec = json_loadb(line, n, 0, &je);
        if (!rec) {
            snprintf(err, errn, "invalid JSON at column %d: %s", je.column, je.text);
            goto done;
        }
        if (!json_is_object(rec)) {
            snprintf(err, errn, "record is not a JSON object");
            goto done;
        }
        json_t *jid = json_object_get(rec, "id");
        if (jid && !json_is_null(jid)) {
            if (!json_is_string(jid) && !json_is_integer(jid)) {
                snprintf(err, errn, "field \"id\" must be a string or an integer");
                goto done;
            }
            json_decref(ids_j);
            ids_j = json_incref(jid);
        }
        json_t *t = json_object_get(rec, "text"), *ja = json_object_get(rec, "aspect");
        if (!t || !json_is_string(t)) {
            snprintf(err, errn, t ? "field \"text\" must be a string" : "missing field \"text\"");
            goto done;
        }
        text = json_string_value(t);
        len = json_string_length(t);
        if (ja && !json_is_null(ja)) {
            size_t k = json_is_array(ja) ? json_array_size(ja) : 1;
            asp = calloc(k + 1, sizeof *asp);
            alen = calloc(k + 1, sizeof *alen);
            if (!asp || !alen) goto oom;
            for (size_t i = 0; i < k; i++) {
                json_t *v = json_is_array(ja) ? json_array_get(ja, i) : ja;
                if (!json_is_string(v)) {
                    snprintf(err, errn, "field \"aspect\" must be a string or an array of strings");
                    goto done;
                }
                asp[na] = json_string_value(v);
                alen[na++] = json_string_length(v);
            }
        }
    }
    if (!asp && a->n_aspects > 0) {
        asp = calloc((size_t)a->n_aspects, sizeof *asp);
        alen = calloc((size_t)a->n_aspects, sizeof *alen);
        if (!asp || !alen) goto oom;
        for (int64_t i = 0; i < a->n_aspects; i++) asp[i] = a->aspects[i], alen[i] = strlen(a->aspects[i]);
        na = a->n_aspects;
    }
    if (na == 0) {
        snprintf(err, errn, "no aspect: give the record an \"aspect\" or use --aspect");
        goto done;
    }
    int64_t at = task_utf8_invalid_at(text, len);
    if (at >= 0) {
        snprintf(err, errn, "invalid UTF-8 at byte %lld", (long long)at);
        goto done;
    }
    for (int64_t i = 0; i < na; i++) {
        if (alen[i] == 0 || blank(asp[i], alen[i])) {
            snprintf(err, errn, "empty aspect");
            goto done;
        }
        if (task_utf8_invalid_at(asp[i], alen[i]) >= 0 || memchr(asp[i], '\0', alen[i])) {
            snprintf(err, errn, "invalid aspect %lld (bad UTF-8 or NUL)", (long long)i);
            goto done;
        }
    }
    json_t *r = NULL;
    s = task_aspect_one(m, tok, a, text, len, asp, alen, na, &r, &st->truncated);
    if (s == SENTI_ERR_INVALID_ARG) { /* the tokenizer or model refused this record */
        snprintf(err, errn, "%s", senti_last_error());
        s = SENTI_OK;
        goto done;
    }
    if (s != SENTI_OK) goto done;
    st->batches++;
    *res_out = json_object();
    if (!*res_out) {
        json_decref(r);
        goto oom;
    }
    json_object_set(*res_out, "id", ids_j);
    json_object_update(*res_out, r);
    json_decref(r);
    goto done;
oom:
    s = senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
done:
    if (err[0] && s == SENTI_OK) {
        *res_out = json_object();
        if (!*res_out) s = senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
        else {
            json_object_set(*res_out, "id", ids_j);
            json_object_set_new(*res_out, "error", json_string(err));
        }
    }
    free(asp);
    free(alen);
    json_decref(rec);
    json_decref(ids_j);
    return s;
}

senti_status task_aspect_run(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, FILE *in,
                             const char *name, const char *const *texts, int64_t n_texts, FILE *out,
                             task_stats *stats) {
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!m || !tok || !a || !out || (!in && n_texts > 0 && !texts))
        return senti_error(SENTI_ERR_INVALID_ARG, "task_aspect_run: NULL argument");
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION || senti_model_num_labels(m) < 1)
        return senti_error(SENTI_ERR_UNSUPPORTED, "aspect: the model (%s) is not a sequence classifier",
                           senti_model_architecture(m));
    double t0 = now_s();
    char *buf = NULL;
    size_t cap = 0;
    int jsonl = -1;
    senti_status s = SENTI_OK;
    for (int64_t line = 0;; line++) {
        const char *text;
        size_t n;
        if (in) {
            errno = 0;
            ssize_t got = getline(&buf, &cap, in);
            if (got < 0) {
                if (ferror(in))
                    s = senti_error(SENTI_ERR_IO, "%s: read failed at line %lld: %s", name ? name : "input",
                                    (long long)line + 1, strerror(errno));
                break;
            }
            n = (size_t)got;
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
            if (blank(buf, n)) continue;
            if (jsonl < 0) {
                size_t i = 0;
                while (i < n && (buf[i] == ' ' || buf[i] == '\t')) i++;
                jsonl = buf[i] == '{';
            }
            text = buf;
        } else {
            if (line >= n_texts) break;
            text = texts[line];
            n = strlen(text);
        }
        json_t *id = json_integer(line), *res = NULL;
        char err[512];
        if (!id) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
            break;
        }
        s = answer(m, tok, a, text, n, in && jsonl == 1, id, &res, err, sizeof err, st);
        json_decref(id);
        if (s != SENTI_OK) break;
        st->records++;
        if (err[0]) {
            st->errors++;
            if (a->strict) {
                char *ids = json_dumps(json_object_get(res, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
                s = senti_error(SENTI_ERR_INVALID_ARG, "record %s: %s", ids ? ids : "?", err);
                free(ids);
                json_decref(res);
                break;
            }
        }
        char *js = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        json_decref(res);
        if (!js) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "aspect: out of memory");
            break;
        }
        int bad = fputs(js, out) < 0 || fputc('\n', out) == EOF;
        free(js);
        if (bad) {
            s = senti_error(SENTI_ERR_IO, "aspect: writing the output failed: %s", strerror(errno));
            break;
        }
    }
    free(buf);
    if (s == SENTI_OK && fflush(out) != 0) s = senti_error(SENTI_ERR_IO, "aspect: flushing the output failed");
    st->seconds = now_s() - t0;
    return s;
}
