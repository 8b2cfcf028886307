/* tag.c — token classification into spans, as transformers'
 * TokenClassificationPipeline: softmax per token, special tokens dropped,
 * aggregation none | simple | first | average | max, then grouping of
 * consecutive entities of one type (B- starts a group, I- or a bare label
 * continues it; BIOES extension: S- is a group of its own, E- closes one);
 * groups of type "O" are dropped. Unified aspect-sentiment tags (POS, NEG,
 * NEU types, e.g. B-POS) also give "aspects" with their sentiment.
 *
 * Invariants: span offsets are the code-point offsets of the first and last
 * member token in the original text, text is that slice of it; a token
 * continues the previous token's word when both carry the same word id
 * (HF's subword test for WordPiece; for byte-level BPE HF also folds
 * punctuation glued to a word into it, which this does not). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

/* byte offset of code point cp in text */
static size_t cp_to_byte(const char *text, size_t len, int64_t cp) {
    size_t i = 0;
    for (int64_t c = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (c == cp) return i;
            c++;
        }
    }
    return len;
}

typedef struct ent {
    int64_t label; /* argmax label */
    double score;
    int64_t start, end;
} ent;

/* HF get_tag plus BIOES: *bi is 'B', 'I', 'E' or 'S'; the type is name + *skip */
static char get_tag(const char *name, size_t *skip) {
    *skip = 2;
    if (strncmp(name, "B-", 2) == 0) return 'B';
    if (strncmp(name, "I-", 2) == 0) return 'I';
    if (strncmp(name, "E-", 2) == 0) return 'E';
    if (strncmp(name, "S-", 2) == 0) return 'S';
    *skip = 0;
    return 'I';
}

static const char *sentiment_of(const char *type) {
    if (strcmp(type, "POS") == 0) return "positive";
    if (strcmp(type, "NEG") == 0) return "negative";
    if (strcmp(type, "NEU") == 0) return "neutral";
    return NULL;
}

static bool add_span(json_t *spans, json_t *aspects, const char *type, size_t tlen, const char *text, size_t len,
                     int64_t start, int64_t end, double score) {
    char t[128];
    snprintf(t, sizeof t, "%.*s", (int)(tlen < sizeof t - 1 ? tlen : sizeof t - 1), type);
    if (strcmp(t, "O") == 0) return true;
    size_t b0 = cp_to_byte(text, len, start), b1 = cp_to_byte(text, len, end);
    if (b1 < b0) b1 = b0;
    json_t *o = json_object();
    if (!o) return false;
    json_object_set_new(o, "type", json_string(t));
    json_object_set_new(o, "text", json_stringn(text + b0, b1 - b0));
    json_object_set_new(o, "start", json_integer(start));
    json_object_set_new(o, "end", json_integer(end));
    json_object_set_new(o, "score", json_real(score));
    if (json_array_append_new(spans, o) != 0) return false;
    const char *sent = aspects ? sentiment_of(t) : NULL;
    if (sent) {
        json_t *a = json_object();
        if (!a) return false;
        json_object_set_new(a, "aspect", json_stringn(text + b0, b1 - b0));
        json_object_set_new(a, "start", json_integer(start));
        json_object_set_new(a, "end", json_integer(end));
        json_object_set_new(a, "sentiment", json_string(sent));
        json_object_set_new(a, "score", json_real(score));
        if (json_array_append_new(aspects, a) != 0) return false;
    }
    return true;
}

json_t *task_tag_decode(const char *const *labels, int64_t L, const char *text, size_t len, const int32_t *offsets,
                        const int32_t *word_ids, const uint8_t *special, int64_t T, const float *logits,
                        task_tag_agg agg) {
    double *p = malloc((size_t)(T > 0 ? T * L : 1) * sizeof *p);
    ent *e = malloc((size_t)(T ? T : 1) * sizeof *e);
    double *acc = malloc((size_t)L * sizeof *acc);
    json_t *o = json_object(), *spans = json_array(), *aspects = json_array();
    if (!p || !e || !acc || !o || !spans || !aspects) goto fail;
    for (int64_t t = 0; t < T; t++) {
        const float *l = logits + t * L;
        double mx = l[0], z = 0;
        for (int64_t k = 1; k < L; k++) mx = l[k] > mx ? l[k] : mx;
        for (int64_t k = 0; k < L; k++) z += (p[t * L + k] = exp((double)l[k] - mx));
        for (int64_t k = 0; k < L; k++) p[t * L + k] /= z;
    }
    /* entities: one per kept token (none, simple) or per word (first, average, max) */
    int64_t ne = 0, prev_word = -1;
    bool have_prev = false;
    for (int64_t t = 0; t < T; t++) {
        if (special && special[t]) continue;
        bool sub = have_prev && word_ids && word_ids[t] >= 0 && word_ids[t] == prev_word;
        prev_word = word_ids ? word_ids[t] : -1;
        have_prev = true;
        const double *pt = p + t * L;
        int64_t best = 0;
        for (int64_t k = 1; k < L; k++) best = pt[k] > pt[best] ? k : best;
        if (agg == TASK_TAG_NONE || agg == TASK_TAG_SIMPLE || !sub) {
            e[ne++] = (ent){best, pt[best], offsets[2 * t], offsets[2 * t + 1]};
            continue;
        }
        ent *w = &e[ne - 1];
        w->end = offsets[2 * t + 1];
        if (agg == TASK_TAG_MAX && pt[best] > w->score) w->label = best, w->score = pt[best];
    }
    if (agg == TASK_TAG_AVERAGE) { /* second pass: mean of each word's score vectors */
        int64_t wi = -1, cnt = 0;
        prev_word = -1;
        have_prev = false;
        for (int64_t t = 0; t <= T; t++) {
            bool kept = t < T && !(special && special[t]);
            if (t < T && !kept) continue;
            bool sub = t < T && have_prev && word_ids && word_ids[t] >= 0 && word_ids[t] == prev_word;
            if (t == T || !sub) {
                if (wi >= 0) {
                    int64_t best = 0;
                    for (int64_t k = 1; k < L; k++) best = acc[k] > acc[best] ? k : best;
                    e[wi].label = best;
                    e[wi].score = acc[best] / (double)cnt;
                }
                if (t == T) break;
                wi++;
                cnt = 0;
                memset(acc, 0, (size_t)L * sizeof *acc);
            }
            prev_word = word_ids ? word_ids[t] : -1;
            have_prev = true;
            for (int64_t k = 0; k < L; k++) acc[k] += p[t * L + k];
            cnt++;
        }
    }
    if (agg == TASK_TAG_NONE) {
        for (int64_t i = 0; i < ne; i++) {
            const char *name = labels[e[i].label];
            if (!add_span(spans, NULL, name, strlen(name), text, len, e[i].start, e[i].end, e[i].score)) goto fail;
        }
    } else {
        for (int64_t i = 0; i < ne;) {
            size_t skip;
            char bi = get_tag(labels[e[i].label], &skip);
            const char *type = labels[e[i].label] + skip;
            size_t tlen = strlen(type);
            double sum = e[i].score;
            int64_t j = i + 1;
            if (bi != 'E' && bi != 'S')
                while (j < ne) {
                    size_t s2;
                    char b2 = get_tag(labels[e[j].label], &s2);
                    const char *t2 = labels[e[j].label] + s2;
                    if (b2 == 'B' || b2 == 'S' || strcmp(t2, type) != 0) break;
                    sum += e[j++].score;
                    if (b2 == 'E') break;
                }
            if (!add_span(spans, aspects, type, tlen, text, len, e[i].start, e[j - 1].end, sum / (double)(j - i)))
                goto fail;
            i = j;
        }
    }
    json_object_set_new(o, "spans", spans);
    if (json_array_size(aspects) > 0) json_object_set_new(o, "aspects", aspects);
    else json_decref(aspects);
    free(p);
    free(e);
    free(acc);
    return o;
fail:
    free(p);
    free(e);
    free(acc);
    json_decref(o);
    json_decref(spans);
    json_decref(aspects);
    return NULL;
}

/* ---- records ------------------------------------------------------------------ */

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* One text through the model: the result fields, or NULL with *err set for a
 * bad record; a fatal status otherwise. */
static senti_status tag_one(senti_model *m, const senti_tokenizer *tok, const char *const *labels,
                            task_tag_agg agg, const char *text, size_t len, json_t **res, char *err, size_t errn,
                            task_stats *st) {
    *res = NULL;
    int64_t at = task_utf8_invalid_at(text, len);
    if (at >= 0) {
        snprintf(err, errn, "invalid UTF-8 at byte %lld", (long long)at);
        return SENTI_OK;
    }
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_encoding *e = NULL;
    senti_status s = senti_tokenizer_encode(tok, text, len, NULL, 0, &eo, &e);
    if (s == SENTI_OK && senti_encoding_len(e) > senti_model_max_length(m)) {
        senti_encoding_free(e);
        e = NULL;
        eo.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
        eo.max_length = senti_model_max_length(m);
        s = senti_tokenizer_encode(tok, text, len, NULL, 0, &eo, &e);
        st->truncated += s == SENTI_OK;
    }
    if (s != SENTI_OK) {
        snprintf(err, errn, "tokenizer: %s", senti_last_error());
        return s == SENTI_ERR_NO_MEMORY ? s : SENTI_OK;
    }
    int64_t T = senti_encoding_len(e), shape[3];
    int nd = 0;
    float *out = NULL;
    s = senti_model_forward(m, senti_encoding_ids(e), senti_model_type_vocab_size(m) > 0 ? senti_encoding_type_ids(e) : NULL,
                            NULL, 1, T, &out, shape, &nd);
    if (s == SENTI_OK && (nd != 3 || shape[1] != T))
        s = senti_error(SENTI_ERR_UNSUPPORTED, "tag: the model is not a token classifier");
    if (s == SENTI_OK) {
        st->tokens += T;
        st->padded_tokens += T;
        st->batches++;
        *res = task_tag_decode(labels, shape[2], text, len, senti_encoding_offsets(e), senti_encoding_word_ids(e),
                               senti_encoding_special_mask(e), T, out, agg);
        if (!*res) s = senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
    }
    senti_model_output_free(out);
    senti_encoding_free(e);
    return s;
}

senti_status task_tag_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, bool strict, FILE *in,
                          const char *name, const char *const *texts, int64_t n_texts, FILE *out, task_stats *stats) {
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!m || !tok || !out || (!in && n_texts > 0 && !texts))
        return senti_error(SENTI_ERR_INVALID_ARG, "task_tag_run: NULL argument");
    int64_t L = senti_model_num_labels(m);
    if (senti_model_get_head(m) != SENTI_HEAD_TOKEN_CLASSIFICATION || L < 1)
        return senti_error(SENTI_ERR_UNSUPPORTED, "tag: the model (%s) is not a token classifier",
                           senti_model_architecture(m));
    char **names = calloc((size_t)L, sizeof *names);
    if (!names) return senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
    senti_status s = SENTI_OK;
    for (int64_t k = 0; k < L && s == SENTI_OK; k++) {
        const char *l = senti_model_label(m, k);
        char def[32];
        snprintf(def, sizeof def, "LABEL_%lld", (long long)k);
        if (!(names[k] = strdup(l ? l : def))) s = senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
    }
    char *buf = NULL;
    size_t cap = 0;
    int jsonl = -1;
    for (int64_t line = 0; s == SENTI_OK; line++) {
        const char *text;
        size_t n;
        if (in) {
            ssize_t got = getline(&buf, &cap, in);
            if (got < 0) {
                if (ferror(in)) s = senti_error(SENTI_ERR_IO, "%s: read failed at line %lld", name ? name : "input", (long long)line + 1);
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
        char err[512] = "";
        json_t *id = json_integer(line), *rec = NULL, *res = NULL;
        if (jsonl == 1 && in) {
            json_error_t je;
            rec = json_loadb(text, n, 0, &je);
            json_t *t = rec ? json_object_get(rec, "text") : NULL, *jid = rec ? json_object_get(rec, "id") : NULL;
            if (!rec) snprintf(err, sizeof err, "invalid JSON at column %d: %s", je.column, je.text);
            else if (!json_is_object(rec)) snprintf(err, sizeof err, "record is not a JSON object");
            else if (jid && !json_is_null(jid) && !json_is_string(jid) && !json_is_integer(jid))
                snprintf(err, sizeof err, "field \"id\" must be a string or an integer");
            else if (!t) snprintf(err, sizeof err, "missing field \"text\"");
            else if (!json_is_string(t)) snprintf(err, sizeof err, "field \"text\" must be a string");
            if (jid && !json_is_null(jid) && (json_is_string(jid) || json_is_integer(jid))) {
                json_decref(id);
                id = json_incref(jid);
            }
            if (!err[0]) text = json_string_value(t), n = json_string_length(t);
        }
        if (!err[0]) s = tag_one(m, tok, (const char *const *)names, agg, text, n, &res, err, sizeof err, st);
        json_t *o = json_object();
        if (s == SENTI_OK && !o) s = senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
        if (s == SENTI_OK) {
            st->records++;
            json_object_set(o, "id", id);
            if (err[0]) {
                st->errors++;
                json_object_set_new(o, "error", json_string(err));
                if (strict) {
                    char *ids = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
                    s = senti_error(SENTI_ERR_INVALID_ARG, "record %s: %s", ids ? ids : "?", err);
                    free(ids);
                }
            } else json_object_update(o, res);
        }
        if (s == SENTI_OK) {
            char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
            if (!js || fputs(js, out) < 0 || fputc('\n', out) == EOF)
                s = senti_error(js ? SENTI_ERR_IO : SENTI_ERR_NO_MEMORY, "tag: writing the output failed");
            free(js);
        }
        json_decref(o);
        json_decref(res);
        json_decref(rec);
        json_decref(id);
    }
    free(buf);
    for (int64_t k = 0; k < L; k++) free(names[k]);
    free(names);
    if (s == SENTI_OK && fflush(out) != 0) s = senti_error(SENTI_ERR_IO, "tag: flushing the output failed");
    return s;
}
