/* zeroshot.c — zero-shot classification with an NLI model, as transformers'
 * ZeroShotClassificationPipeline: each candidate label becomes the
 * hypothesis template with "{}" replaced by the label, the pair (text,
 * hypothesis) runs through the model (the text truncated first), and
 *   single-label: softmax over the candidates' entailment logits;
 *   multi-label (or a single candidate): per candidate, softmax over its
 *   [contradiction, entailment] logits, the entailment probability.
 * The entailment id is the first label (by id) whose name starts with
 * "entail" (case-insensitive: HF's rule); the contradiction id is HF's
 * positional choice — 0, or the last label when entailment is 0 — whatever
 * its name, so multi-label scores equal the pipeline's on every model (the
 * usual MNLI heads put contradiction at 0 or last anyway).
 *
 * Invariants: all (text, hypothesis) pairs of a window share the runner's
 * length-sorted batches; labels come out sorted by score, best first (ties:
 * candidate order), each with its score: {"labels":[…],"scores":[…]}. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

static bool starts_nocase(const char *s, const char *prefix) {
    for (; *prefix; s++, prefix++)
        if (tolower((unsigned char)*s) != *prefix) return false;
    return true;
}

senti_status task_zeroshot_init(task_zeroshot *z, const senti_model *m, const char *const *labels, int64_t n_labels,
                                const char *tmpl, bool multi_label) {
    if (!z || !m) return senti_error(SENTI_ERR_INVALID_ARG, "task_zeroshot_init: NULL argument");
    *z = (task_zeroshot){.labels = labels, .n_labels = n_labels, .tmpl = tmpl ? tmpl : TASK_ZEROSHOT_TEMPLATE,
                         .multi_label = multi_label, .entail_id = -1, .contra_id = -1};
    if (!strstr(z->tmpl, "{}"))
        return senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: the template \"%s\" has no {} for the label", z->tmpl);
    int64_t L = senti_model_num_labels(m);
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION || L < 2)
        return senti_error(SENTI_ERR_UNSUPPORTED, "zero-shot: the model (%s) is not an NLI sequence classifier",
                           senti_model_architecture(m));
    for (int64_t i = 0; i < L; i++) {
        const char *l = senti_model_label(m, i);
        if (!l) continue;
        if (z->entail_id < 0 && starts_nocase(l, "entail")) z->entail_id = i;
    }
    if (z->entail_id < 0)
        return senti_error(SENTI_ERR_INVALID_ARG,
                           "zero-shot: the model's id2label has no label starting with \"entail\" (not an NLI model?)");
    z->contra_id = z->entail_id == 0 ? L - 1 : 0;
    for (int64_t i = 0; i < n_labels; i++)
        if (!labels[i] || !labels[i][0] || task_utf8_invalid_at(labels[i], strlen(labels[i])) >= 0)
            return senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: candidate label %lld is empty or not UTF-8",
                               (long long)i);
    return task_labels_distinct(labels, n_labels, "zero-shot");
}

senti_status task_labels_distinct(const char *const *labels, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++) /* few labels: quadratic is fine */
        for (int64_t j = 0; j < i; j++)
            if (labels[i] && labels[j] && strcmp(labels[i], labels[j]) == 0)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "%s: label '%.64s' is given twice (results are keyed by label)", what, labels[i]);
    return SENTI_OK;
}

char *task_zeroshot_hypothesis(const char *tmpl, const char *label, size_t llen, size_t *out_len) {
    size_t n = 0, tl = strlen(tmpl);
    for (size_t i = 0; i < tl; i++) {
        if (tmpl[i] == '{' && tmpl[i + 1] == '}') n += llen, i++;
        else n++;
    }
    char *s = malloc(n + 1), *o = s;
    if (!s) return NULL;
    for (size_t i = 0; i < tl; i++) {
        if (tmpl[i] == '{' && tmpl[i + 1] == '}') memcpy(o, label, llen), o += llen, i++;
        else *o++ = tmpl[i];
    }
    *o = '\0';
    if (out_len) *out_len = n;
    return s;
}

/* The candidate labels of r: its "labels" field (an array of strings, or one
 * string of comma-separated labels) or the defaults. *arr is the JSON array
 * when the field gives them, else NULL. Returns the count; -1 on a bad field
 * (r failed). */
static int64_t record_labels(const task_zeroshot *z, task_record *r, json_t **arr) {
    *arr = NULL;
    json_t *jl = r->obj ? json_object_get(r->obj, "labels") : NULL;
    if (!jl || json_is_null(jl)) return z->n_labels;
    if (!json_is_array(jl)) {
        task_record_fail(r, "field \"labels\" must be an array of strings");
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(jl, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            task_utf8_invalid_at(json_string_value(v), json_string_length(v)) >= 0) {
            task_record_fail(r, "field \"labels\" must hold non-empty strings");
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(v, json_array_get(jl, j))) {
                task_record_fail(r, "field \"labels\": '%.64s' is given twice", json_string_value(v));
                return -1;
            }
    }
    *arr = jl;
    return (int64_t)json_array_size(jl);
}

static const char *label_at(const task_zeroshot *z, json_t *arr, int64_t i, size_t *len) {
    if (arr) {
        json_t *v = json_array_get(arr, (size_t)i);
        *len = json_string_length(v);
        return json_string_value(v);
    }
    *len = strlen(z->labels[i]);
    return z->labels[i];
}

static bool zs_expand(void *ctx, task_record *r) {
    const task_zeroshot *z = ctx;
    if (!r->text) return task_record_fail(r, "missing field \"text\"");
    json_t *arr;
    int64_t n = record_labels(z, r, &arr);
    if (n < 0) return r->error != NULL;
    if (n == 0) return task_record_fail(r, "no candidate labels: give --labels or a record's \"labels\"");
    for (int64_t i = 0; i < n; i++) {
        size_t ll, hl;
        const char *l = label_at(z, arr, i, &ll);
        char *h = task_zeroshot_hypothesis(z->tmpl, l, ll, &hl);
        task_item *it = h ? task_record_add(r, r->text, r->len, h, hl) : NULL;
        free(h);
        if (!it) return false;
        it->cut = SENTI_TRUNCATE_ONLY_FIRST; /* HF truncates the sequence, never the hypothesis */
    }
    return true;
}

typedef struct zs_score {
    int64_t i;
    double p;
} zs_score;

static int cmp_desc(const void *a, const void *b) {
    const zs_score *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

void task_zeroshot_scores(const task_zeroshot *z, const float *const *logits, int64_t n, double *scores) {
    if (z->multi_label || n == 1) {
        for (int64_t i = 0; i < n; i++) {
            double e = logits[i][z->entail_id], c = logits[i][z->contra_id], mx = e > c ? e : c;
            scores[i] = exp(e - mx) / (exp(e - mx) + exp(c - mx));
        }
    } else {
        double mx = logits[0][z->entail_id], sum = 0;
        for (int64_t i = 1; i < n; i++) mx = logits[i][z->entail_id] > mx ? logits[i][z->entail_id] : mx;
        for (int64_t i = 0; i < n; i++) sum += scores[i] = exp((double)logits[i][z->entail_id] - mx);
        for (int64_t i = 0; i < n; i++) scores[i] /= sum;
    }
}

static json_t *zs_decode(void *ctx, task_record *r) {
    const task_zeroshot *z = ctx;
    json_t *arr;
    int64_t n = record_labels(z, r, &arr);
    const float **lg = calloc((size_t)(n > 0 ? n : 1), sizeof *lg);
    double *p = malloc((size_t)n * sizeof *p);
    zs_score *s = malloc((size_t)n * sizeof *s);
    json_t *o = json_object(), *labels = json_array(), *scores = json_array();
    if (!lg || !p || !s || !o || !labels || !scores) goto fail;
    for (int64_t i = 0; i < n && i < r->n_items; i++) lg[i] = r->items[i].segs[0].out;
    if (n != r->n_items) goto fail;
    task_zeroshot_scores(z, lg, n, p);
    for (int64_t i = 0; i < n; i++) s[i] = (zs_score){i, p[i]};
    qsort(s, (size_t)n, sizeof *s, cmp_desc);
    for (int64_t i = 0; i < n; i++) {
        size_t ll;
        const char *l = label_at(z, arr, s[i].i, &ll);
        if (json_array_append_new(labels, json_stringn(l, ll)) != 0 ||
            json_array_append_new(scores, json_real(s[i].p)) != 0)
            goto fail;
    }
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "scores", scores);
    free(lg);
    free(p);
    free(s);
    return o;
fail:
    free(lg);
    free(p);
    free(s);
    json_decref(o);
    json_decref(labels);
    json_decref(scores);
    return NULL;
}

senti_status task_zeroshot_run(senti_model *m, const senti_tokenizer *tok, const task_zeroshot *z, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st) {
    if (st) memset(st, 0, sizeof *st);
    if (!z) return senti_error(SENTI_ERR_INVALID_ARG, "task_zeroshot_run: NULL argument");
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .expand = zs_expand, .decode = zs_decode};
    return task_run_ops(m, tok, src, out, o, &ops, (void *)z, st);
}
