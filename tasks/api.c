/* api.c — the public task API of senti.h (senti_task_*, senti_result*): a
 * task owns a model, a tokenizer and the task's settings; a run sends the
 * inputs through the same batch runner as the senti command, into memory,
 * and the results keep each JSON line plus a parsed view of it (parts with
 * labels sorted best first, and spans).
 *
 * Invariants: results are immutable after senti_task_run returns; every
 * string a reader gets is owned by the results (the JSON objects and the
 * copies held here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

struct senti_task {
    senti_task_kind kind;
    senti_model *m;
    senti_tokenizer *tok;
    task_runner_opts ro;
    char **strs; /* owned copies of the option strings */
    int64_t n_strs;
    task_classify cls;
    task_aspect asp;
    task_tag tag;
    int64_t stride;
    task_zeroshot zs;
    task_dialogue dlg;
};

typedef struct part {
    int64_t nl;
    const char **labels;
    double *scores;
    bool has_span;
    senti_span span;
} part;

typedef struct res {
    char *json;
    json_t *obj;
    const char *error;
    part *parts;
    int64_t np;
} res;

struct senti_results {
    res *v;
    int64_t n;
};

senti_task_opts senti_task_opts_defaults(senti_task_kind kind) {
    return (senti_task_opts){.kind = kind, .model = senti_model_opts_defaults(), .batch_size = 32,
                             .max_batch_tokens = 8192, .threshold = 0.5, .aggregation = SENTI_AGG_SIMPLE};
}

void senti_task_free(senti_task *t) {
    if (!t) return;
    task_tag_free(&t->tag);
    for (int64_t i = 0; i < t->n_strs; i++) free(t->strs[i]);
    free(t->strs);
    senti_tokenizer_free(t->tok);
    senti_model_free(t->m);
    free(t);
}

/* Copies of n strings (owned by t); NULL on OOM (n == 0: a non-NULL dummy). */
static const char **copy_strs(senti_task *t, const char *const *v, int64_t n) {
    char **s = realloc(t->strs, (size_t)(t->n_strs + n + 1) * sizeof *s);
    if (!s) return NULL;
    t->strs = s;
    const char **out = calloc((size_t)n + 1, sizeof *out);
    if (!out) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (!v[i] || !(s[t->n_strs] = strdup(v[i]))) {
            free(out);
            return NULL;
        }
        out[i] = s[t->n_strs++];
    }
    s[t->n_strs++] = (char *)(void *)out; /* the array itself, freed with the strings */
    return out;
}

static const char *copy_str(senti_task *t, const char *v) {
    if (!v) return NULL;
    const char **c = copy_strs(t, &v, 1);
    return c ? c[0] : NULL;
}

senti_task *senti_task_load(const char *dir, const senti_task_opts *opts) {
    if (!dir && !(dir = senti_default_model())) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: no model given and the default model was not found "
                    "(set SENTI_DEFAULT_MODEL)");
        return NULL;
    }
    if (!opts) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: NULL argument");
        return NULL;
    }
    senti_task *t = calloc(1, sizeof *t);
    if (!t) {
        senti_error(SENTI_ERR_NO_MEMORY, "senti_task_load: out of memory");
        return NULL;
    }
    t->kind = opts->kind;
    t->ro = task_runner_opts_defaults();
    t->ro.batch_size = opts->batch_size;
    t->ro.max_batch_tokens = opts->max_batch_tokens;
    t->ro.n_threads = opts->model.n_threads;
    if (opts->batch_size < 1 || opts->max_batch_tokens < 1 || opts->stride < 0 || opts->context < 0 ||
        (unsigned)opts->aggregation > SENTI_AGG_MAX || (unsigned)opts->kind > SENTI_TASK_DIALOGUE) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: bad option (batch sizes >= 1, stride and context >= 0)");
        goto fail;
    }
    for (int64_t i = 0; i < opts->n_aspects || i < opts->n_labels; i++)
        if ((i < opts->n_aspects && opts->aspects && !opts->aspects[i]) ||
            (i < opts->n_labels && opts->labels && !opts->labels[i])) {
            senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: aspect or label %lld is NULL", (long long)i);
            goto fail;
        }
    if (!(t->m = senti_model_load_opts(dir, &opts->model)) ||
        !(t->tok = senti_tokenizer_load(opts->tokenizer ? opts->tokenizer : dir)))
        goto fail;
    senti_status s = SENTI_OK;
    switch (opts->kind) {
    case SENTI_TASK_CLASSIFY: s = task_classify_init(&t->cls, t->m, dir, opts->top_k, opts->threshold); break;
    case SENTI_TASK_DIALOGUE:
        s = task_classify_init(&t->dlg.cls, t->m, dir, opts->top_k, opts->threshold);
        t->dlg.context = opts->context;
        t->dlg.as_prefix = opts->context_as_prefix != 0;
        break;
    case SENTI_TASK_ASPECT:
        if (opts->n_aspects < 1 || !opts->aspects) {
            s = senti_error(SENTI_ERR_INVALID_ARG, "aspect: give at least one aspect");
            break;
        }
        if (!(t->asp.aspects = copy_strs(t, opts->aspects, opts->n_aspects)) ||
            (opts->aspect_template && !(t->asp.tmpl = copy_str(t, opts->aspect_template)))) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_load: out of memory");
            break;
        }
        t->asp.n_aspects = opts->n_aspects;
        break;
    case SENTI_TASK_TAG:
        s = task_tag_init(&t->tag, t->m, t->tok, (task_tag_agg)opts->aggregation);
        t->stride = opts->stride;
        break;
    case SENTI_TASK_ZERO_SHOT: {
        if (opts->n_labels < 1 || !opts->labels) {
            s = senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: give at least one candidate label");
            break;
        }
        const char **labels = copy_strs(t, opts->labels, opts->n_labels);
        const char *tmpl = copy_str(t, opts->hypothesis_template);
        if (!labels || (opts->hypothesis_template && !tmpl)) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_load: out of memory");
            break;
        }
        s = task_zeroshot_init(&t->zs, t->m, labels, opts->n_labels, tmpl, opts->multi_label != 0);
        break;
    }
    }
    if (s == SENTI_OK) return t;
fail:
    senti_task_free(t);
    return NULL;
}

void senti_results_free(senti_results *r) {
    if (!r) return;
    for (int64_t i = 0; i < r->n; i++) {
        for (int64_t j = 0; j < r->v[i].np; j++) {
            free(r->v[i].parts[j].labels);
            free(r->v[i].parts[j].scores);
        }
        free(r->v[i].parts);
        free(r->v[i].json);
        json_decref(r->v[i].obj);
    }
    free(r->v);
    free(r);
}

typedef struct lscore {
    const char *l;
    double s;
    size_t k;
} lscore;

static int cmp_lscore(const void *a, const void *b) {
    const lscore *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->k < y->k ? -1 : x->k > y->k;
}

/* p's labels from a {"label":score} object, best first. */
static bool labels_from_map(part *p, json_t *scores) {
    size_t n = json_object_size(scores), k = 0;
    lscore *v = calloc(n + 1, sizeof *v);
    p->labels = calloc(n + 1, sizeof *p->labels);
    p->scores = calloc(n + 1, sizeof *p->scores);
    if (!v || !p->labels || !p->scores) {
        free(v);
        return false;
    }
    const char *key;
    json_t *val;
    json_object_foreach(scores, key, val) {
        v[k] = (lscore){key, json_real_value(val), k};
        k++;
    }
    qsort(v, n, sizeof *v, cmp_lscore);
    for (size_t i = 0; i < n; i++) p->labels[i] = v[i].l, p->scores[i] = v[i].s;
    p->nl = (int64_t)n;
    free(v);
    return true;
}

static bool labels_one(part *p, const char *label, double score) {
    p->labels = calloc(1, sizeof *p->labels);
    p->scores = calloc(1, sizeof *p->scores);
    if (!p->labels || !p->scores) return false;
    p->labels[0] = label;
    p->scores[0] = score;
    p->nl = 1;
    return true;
}

static int64_t int_or(json_t *v, int64_t d) { return json_is_integer(v) ? (int64_t)json_integer_value(v) : d; }

/* The parsed view of one result. */
static bool parse_result(senti_task_kind kind, res *r) {
    json_t *o = r->obj;
    r->error = json_string_value(json_object_get(o, "error"));
    if (r->error) return true;
    json_t *list = kind == SENTI_TASK_ASPECT     ? json_object_get(o, "aspects")
                   : kind == SENTI_TASK_TAG      ? json_object_get(o, "spans")
                   : kind == SENTI_TASK_DIALOGUE ? json_object_get(o, "utterances")
                                                 : NULL;
    r->np = list ? (int64_t)json_array_size(list) : 1;
    if (!(r->parts = calloc((size_t)r->np + 1, sizeof *r->parts))) return false;
    for (int64_t j = 0; j < r->np; j++) {
        part *p = &r->parts[j];
        json_t *e = list ? json_array_get(list, (size_t)j) : o;
        bool ok = true;
        if (kind == SENTI_TASK_ZERO_SHOT) {
            json_t *ls = json_object_get(o, "labels"), *ss = json_object_get(o, "scores");
            size_t n = json_array_size(ls);
            p->labels = calloc(n + 1, sizeof *p->labels);
            p->scores = calloc(n + 1, sizeof *p->scores);
            ok = p->labels && p->scores;
            for (size_t k = 0; ok && k < n; k++) {
                p->labels[k] = json_string_value(json_array_get(ls, k));
                p->scores[k] = json_real_value(json_array_get(ss, k));
            }
            p->nl = (int64_t)n;
        } else if (kind == SENTI_TASK_TAG) {
            p->has_span = true;
            p->span = (senti_span){json_string_value(json_object_get(e, "type")),
                                   json_string_value(json_object_get(e, "text")),
                                   int_or(json_object_get(e, "start"), -1), int_or(json_object_get(e, "end"), -1),
                                   json_real_value(json_object_get(e, "score"))};
            ok = labels_one(p, p->span.type, p->span.score);
        } else {
            ok = labels_from_map(p, json_object_get(e, "scores"));
            if (kind == SENTI_TASK_ASPECT) {
                p->has_span = true;
                p->span = (senti_span){json_string_value(json_object_get(e, "sentiment")),
                                       json_string_value(json_object_get(e, "aspect")),
                                       int_or(json_object_get(e, "start"), -1), int_or(json_object_get(e, "end"), -1),
                                       json_real_value(json_object_get(e, "score"))};
            }
        }
        if (!ok) return false;
    }
    return true;
}

senti_status senti_task_run(senti_task *t, const char *const *inputs, int64_t n, senti_results **out) {
    if (!t || !out || (n > 0 && !inputs) || n < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run: NULL argument");
    *out = NULL;
    for (int64_t i = 0; i < n; i++)
        if (!inputs[i]) return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run: input %lld is NULL", (long long)i);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    task_source *src = task_source_texts(inputs, n);
    senti_results *r = calloc(1, sizeof *r);
    senti_status s = SENTI_OK;
    if (!f || !src || !r || !(r->v = calloc((size_t)n + 1, sizeof *r->v))) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
        goto done;
    }
    switch (t->kind) {
    case SENTI_TASK_CLASSIFY: s = task_run(t->m, t->tok, src, f, &t->ro, task_classify_decode, &t->cls, NULL); break;
    case SENTI_TASK_ASPECT: s = task_aspect_run_opts(t->m, t->tok, &t->asp, src, f, &t->ro, NULL); break;
    case SENTI_TASK_TAG:
        s = task_tag_run_opts(t->m, t->tok, t->tag.agg, t->stride, src, f, &t->ro, NULL);
        break;
    case SENTI_TASK_ZERO_SHOT: s = task_zeroshot_run(t->m, t->tok, &t->zs, src, f, &t->ro, NULL); break;
    case SENTI_TASK_DIALOGUE: s = task_dialogue_run(t->m, t->tok, &t->dlg, src, f, &t->ro, NULL); break;
    }
    if (fclose(f) != 0 && s == SENTI_OK) s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
    f = NULL;
    if (s != SENTI_OK) goto done;
    char *save = NULL;
    for (char *l = buf ? strtok_r(buf, "\n", &save) : NULL; l && r->n < n; l = strtok_r(NULL, "\n", &save)) {
        res *x = &r->v[r->n++];
        if (!(x->json = strdup(l)) || !(x->obj = json_loads(l, 0, NULL)) || !parse_result(t->kind, x)) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
            goto done;
        }
    }
    if (r->n != n) s = senti_error(SENTI_ERR_BACKEND, "senti_task_run: %lld results for %lld inputs", (long long)r->n,
                                   (long long)n);
done:
    if (f) fclose(f);
    free(buf);
    task_source_free(src);
    if (s == SENTI_OK) *out = r;
    else senti_results_free(r);
    return s;
}

static const res *at(const senti_results *r, int64_t i) { return r && i >= 0 && i < r->n ? &r->v[i] : NULL; }
static const part *part_at(const senti_results *r, int64_t i, int64_t j) {
    const res *x = at(r, i);
    return x && j >= 0 && j < x->np ? &x->parts[j] : NULL;
}

int64_t senti_results_count(const senti_results *r) { return r ? r->n : 0; }
const char *senti_result_json(const senti_results *r, int64_t i) { return at(r, i) ? at(r, i)->json : NULL; }
const char *senti_result_error(const senti_results *r, int64_t i) { return at(r, i) ? at(r, i)->error : NULL; }
int64_t senti_result_parts(const senti_results *r, int64_t i) { return at(r, i) ? at(r, i)->np : 0; }

int64_t senti_result_num_labels(const senti_results *r, int64_t i, int64_t j) {
    const part *p = part_at(r, i, j);
    return p ? p->nl : 0;
}

const char *senti_result_label(const senti_results *r, int64_t i, int64_t j, int64_t k) {
    const part *p = part_at(r, i, j);
    return p && k >= 0 && k < p->nl ? p->labels[k] : NULL;
}

double senti_result_score(const senti_results *r, int64_t i, int64_t j, int64_t k) {
    const part *p = part_at(r, i, j);
    return p && k >= 0 && k < p->nl ? p->scores[k] : NAN;
}

senti_status senti_result_span(const senti_results *r, int64_t i, int64_t j, senti_span *out) {
    const part *p = part_at(r, i, j);
    if (!p || !p->has_span || !out)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_result_span: no span %lld of result %lld", (long long)j,
                           (long long)i);
    *out = p->span;
    return SENTI_OK;
}
