/* classify.c — sequence classification results: softmax (single-label), a
 * sigmoid per label (multi-label, from config.json's problem_type) or the
 * raw outputs (problem_type regression, as transformers' pipeline), label
 * names from the model's id2label, --top-k and --threshold.
 *
 * Invariants: single-label scores sum to 1 over all labels (top-k only
 * selects which are written); names are never invented beyond HF's default
 * "LABEL_i" for a label the config leaves unnamed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

senti_status task_classify_init(task_classify *c, const senti_model *m, const char *model_dir, int64_t top_k,
                                double threshold) {
    if (!c || !m) return senti_error(SENTI_ERR_INVALID_ARG, "task_classify_init: NULL argument");
    if (senti_model_num_labels(m) < 1)
        return senti_error(SENTI_ERR_INVALID_ARG, "classify: the model (%s) has no labels",
                           senti_model_architecture(m));
    if (!(threshold >= 0.0 && threshold <= 1.0))
        return senti_error(SENTI_ERR_INVALID_ARG, "classify: threshold %g outside [0, 1]", threshold);
    *c = (task_classify){.model = m, .multi_label = senti_model_num_labels(m) == 1, .top_k = top_k,
                         .threshold = threshold};
    (void)model_dir; /* the model's own config (a directory's config.json or a GGUF's embedded one) */
    const char *pt = senti_model_problem_type(m);
    if (pt && strcmp(pt, "multi_label_classification") == 0) c->multi_label = true;
    if (pt && strcmp(pt, "regression") == 0) c->regression = true, c->multi_label = false;
    return SENTI_OK;
}

typedef struct scored {
    int64_t i;
    double p;
} scored;

static int cmp_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i; /* ties: lower label id first */
}

static json_t *label_json(const task_classify *c, int64_t i) {
    const char *l = c->names ? (i < c->n_names ? c->names[i] : NULL) : senti_model_label(c->model, i);
    if (l) return json_string(l);
    char def[32];
    snprintf(def, sizeof def, "LABEL_%lld", (long long)i);
    return json_string(def);
}

static const char *label_name(const task_classify *c, int64_t i, char def[32]) {
    const char *l = c->names ? (i < c->n_names ? c->names[i] : NULL) : senti_model_label(c->model, i);
    if (l) return l;
    snprintf(def, 32, "LABEL_%lld", (long long)i);
    return def;
}

json_t *task_classify_decode(void *ctx, const float *logits, int64_t n) {
    const task_classify *c = ctx;
    scored *s = malloc((size_t)n * sizeof *s);
    json_t *o = json_object(), *scores = json_object();
    if (!s || !o || !scores) goto fail;
    if (c->regression) {
        for (int64_t i = 0; i < n; i++) s[i] = (scored){i, (double)logits[i]};
    } else if (c->multi_label) {
        for (int64_t i = 0; i < n; i++) s[i] = (scored){i, 1.0 / (1.0 + exp(-(double)logits[i]))};
    } else {
        double mx = logits[0], sum = 0.0;
        for (int64_t i = 1; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
        for (int64_t i = 0; i < n; i++) sum += (s[i] = (scored){i, exp((double)logits[i] - mx)}).p;
        for (int64_t i = 0; i < n; i++) s[i].p /= sum;
    }
    int64_t k = c->top_k > 0 && c->top_k < n ? c->top_k : n;
    scored *best = malloc((size_t)n * sizeof *best);
    if (!best) goto fail;
    memcpy(best, s, (size_t)n * sizeof *s);
    qsort(best, (size_t)n, sizeof *best, cmp_desc);
    char def[32];
    const scored *list = c->top_k > 0 ? best : s; /* top-k: best first; else label order */
    for (int64_t j = 0; j < k; j++)
        json_object_set_new(scores, label_name(c, list[j].i, def), json_real(list[j].p));
    if (c->multi_label) {
        json_t *labels = json_array();
        for (int64_t j = 0; labels && j < k; j++)
            if (best[j].p >= c->threshold) json_array_append_new(labels, label_json(c, best[j].i));
        json_object_set_new(o, "labels", labels);
    } else {
        json_object_set_new(o, "label", label_json(c, best[0].i));
        json_object_set_new(o, "score", json_real(best[0].p));
    }
    json_object_set_new(o, "scores", scores);
    if (c->logits) {
        json_t *raw = json_object();
        for (int64_t i = 0; raw && i < n; i++)
            json_object_set_new(raw, label_name(c, i, def), json_real((double)logits[i]));
        if (!raw || json_object_set_new(o, "logits", raw) != 0) {
            free(best);
            free(s);
            json_decref(o);
            return NULL;
        }
    }
    free(best);
    free(s);
    return o;
fail:
    free(s);
    json_decref(o);
    json_decref(scores);
    return NULL;
}

/* Add "explain" (x's attributions for the best label of logits [n]) to o, the
 * result for item it; a view to x->html with note what. false on OOM. */
bool task_classify_explain(const task_explain *x, const senti_model *m, bool multi, const task_item *it,
                           const json_t *id, const char *what, const float *logits, int64_t n, json_t *o) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++) best = logits[i] > logits[best] ? i : best;
    char def[32];
    json_t *ex = NULL;
    const task_classify names = {.model = m};
    senti_status s = task_explain_one(x, it->enc, it->text, it->len, best, label_name(&names, best, def), multi, &ex);
    if (s == SENTI_ERR_NO_MEMORY) return false;
    if (s != SENTI_OK) {
        ex = json_object();
        if (!ex || json_object_set_new(ex, "error", json_string(senti_last_error()))) {
            json_decref(ex);
            return false;
        }
    } else if (x->html) {
        task_explain_html_record(x->html, id, it->text, it->len, what, ex);
    }
    return json_object_set_new(o, "explain", ex) == 0;
}

typedef struct classify_ctx {
    const task_classify *c;
    const senti_tokenizer *tok;
} classify_ctx;

/* The record's one item: its (window-aggregated) logits row, every head's
 * result (a model with extra heads) and its explanation. */
static json_t *classify_row(void *ctx, task_record *r) {
    const task_classify *c = ((const classify_ctx *)ctx)->c;
    const task_seg *g = &r->items[0].segs[0];
    json_t *o = task_classify_decode((void *)c, g->out, g->n_out);
    json_t *heads = o && g->xout ? task_heads_result(c->model, ((const classify_ctx *)ctx)->tok, c, TASK_TAG_SIMPLE,
                                                     &r->items[0], o)
                                 : NULL;
    if (o && g->xout && (!heads || json_object_set_new(o, "heads", heads))) {
        json_decref(o);
        return NULL;
    }
    if (o && c->explain && c->explain->method != TASK_EXPLAIN_NONE &&
        !task_classify_explain(c->explain, c->model, c->multi_label, &r->items[0], r->id, NULL, g->out, g->n_out, o)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

senti_status task_classify_run(senti_model *m, const senti_tokenizer *tok, const task_classify *c, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st) {
    if (!c) return senti_error(SENTI_ERR_INVALID_ARG, "task_classify_run: NULL argument");
    if (c->explain && c->explain->method != TASK_EXPLAIN_NONE && c->lng.stride > 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "--explain does not combine with --stride windows");
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .stride = c->lng.stride,
                    .aggregate = c->lng.aggregate, .no_truncate = c->lng.no_truncate,
                    .heads = senti_model_extra_heads(m) > 0, .decode = classify_row};
    classify_ctx cc = {c, tok};
    return task_run_ops(m, tok, src, out, o, &ops, &cc, st);
}
