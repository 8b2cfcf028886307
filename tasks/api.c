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
#include "llm.h"
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
    task_embed emb;
    bool llm;               /* zero-shot on a causal LM: labels scored as the answer (llm_zs) */
    llm_score_opts llm_zs;
    llm_generate_opts gen;
    llm_chat chat;          /* generate, LLM zero-shot: the model's chat template (family NONE: unused) */
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

size_t senti_task_opts_size(void) { return sizeof(senti_task_opts); }
size_t senti_model_opts_size(void) { return sizeof(senti_model_opts); }

senti_task_opts senti_task_opts_defaults(senti_task_kind kind) {
    return (senti_task_opts){.kind = kind, .model = senti_model_opts_defaults(), .batch_size = 32,
                             .max_batch_tokens = 8192, .threshold = 0.5, .aggregation = SENTI_AGG_SIMPLE,
                             .normalize = -1, .max_new_tokens = -1, .temperature = -1, .sample_top_k = -1,
                             .top_p = -1, .seed = -1, .chat = -1};
}

void senti_task_free(senti_task *t) {
    if (!t) return;
    task_tag_free(&t->tag);
    llm_chat_free(&t->chat);
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

/* Generation settings as `senti generate`: the model's generation_config.json,
 * then what opts sets (a sampling setting turns sampling on; temperature 0 is
 * greedy), and the chat template when opts->chat is 1. */
static senti_status load_generate(senti_task *t, const char *dir, const senti_task_opts *opts) {
    if (!lm_is_causal(t->m))
        return senti_error(SENTI_ERR_UNSUPPORTED, "generate: the model (%s) is not a causal language model",
                           senti_model_architecture(t->m));
    llm_gen_opts *o = &t->gen.gen;
    *o = llm_gen_opts_defaults();
    senti_status s = llm_gen_opts_load(o, dir);
    if (s != SENTI_OK) return s;
    if (opts->max_new_tokens >= 0) o->max_new_tokens = opts->max_new_tokens, o->max_length = 0;
    if (opts->sample_top_k >= 0) o->top_k = opts->sample_top_k, o->do_sample = true;
    if (opts->top_p >= 0) o->top_p = opts->top_p, o->do_sample = true;
    if (opts->seed >= 0) o->seed = (uint64_t)opts->seed;
    if (opts->temperature >= 0) {
        o->temperature = opts->temperature > 0 ? opts->temperature : 1.0;
        o->do_sample = opts->temperature > 0;
    }
    if (opts->n_stop > 0) {
        if (!(o->stop = copy_strs(t, opts->stop, opts->n_stop)))
            return senti_error(SENTI_ERR_NO_MEMORY, "senti_task_load: out of memory");
        o->n_stop = opts->n_stop;
    }
    t->gen.use_chat = opts->chat == 1;
    if (!t->gen.use_chat) return SENTI_OK;
    if ((s = llm_chat_load(&t->chat, dir)) != SENTI_OK) return s;
    return t->chat.family == LLM_CHAT_NONE
               ? senti_error(SENTI_ERR_INVALID_ARG, "generate: chat: %s has no chat template", dir)
               : SENTI_OK;
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
    const char *bad = (unsigned)opts->kind > SENTI_TASK_GENERATE            ? "kind is not a senti_task_kind"
                      : opts->batch_size < 1                                ? "batch_size must be >= 1"
                      : opts->max_batch_tokens < 1                          ? "max_batch_tokens must be >= 1"
                      : opts->stride < 0                                    ? "stride must be >= 0"
                      : opts->context < 0                                   ? "context must be >= 0"
                      : (unsigned)opts->aggregation > SENTI_AGG_MAX         ? "aggregation is not a senti_tag_aggregation"
                      : opts->n_stop < 0 || (opts->n_stop > 0 && !opts->stop) ? "n_stop stop strings but stop is NULL"
                      : opts->n_aspects < 0 || opts->n_labels < 0           ? "n_aspects and n_labels must be >= 0"
                                                                            : NULL;
    if (bad) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: bad option: %s", bad);
        goto fail;
    }
    for (int64_t i = 0; i < opts->n_aspects || i < opts->n_labels; i++)
        if ((i < opts->n_aspects && opts->aspects && !opts->aspects[i]) ||
            (i < opts->n_labels && opts->labels && !opts->labels[i])) {
            senti_error(SENTI_ERR_INVALID_ARG, "senti_task_load: aspect or label %lld is NULL", (long long)i);
            goto fail;
        }
    if (!(t->m = senti_model_load_opts(dir, &opts->model)) || senti_model_prepare(t->m) != SENTI_OK ||
        !(t->tok = senti_tokenizer_load(opts->tokenizer ? opts->tokenizer : dir)))
        goto fail;
    senti_status s = SENTI_OK;
    switch (opts->kind) {
    case SENTI_TASK_CLASSIFY:
        s = task_classify_init(&t->cls, t->m, dir, opts->top_k, opts->threshold);
        t->cls.logits = opts->logits != 0;
        break;
    case SENTI_TASK_EMBED: s = task_embed_init(&t->emb, t->m, opts->pooling, opts->normalize); break;
    case SENTI_TASK_GENERATE: s = load_generate(t, dir, opts); break;
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
        if ((t->llm = lm_is_causal(t->m))) { /* as `senti zero-shot -m DECODER` */
            t->llm_zs = (llm_score_opts){.labels = labels, .n_labels = opts->n_labels, .tmpl = tmpl,
                                         .use_chat = opts->chat != 0};
            s = t->llm_zs.use_chat ? llm_chat_load(&t->chat, dir) : SENTI_OK;
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
static bool parse_result(senti_task_kind kind, bool llm, res *r) {
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
        if (kind == SENTI_TASK_ZERO_SHOT && !llm) {
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

/* Run t over src into out (one JSON line per record). */
static senti_status run_src(senti_task *t, task_source *src, FILE *f) {
    switch (t->kind) {
    case SENTI_TASK_CLASSIFY: return task_run(t->m, t->tok, src, f, &t->ro, task_classify_decode, &t->cls, NULL);
    case SENTI_TASK_ASPECT: return task_aspect_run_opts(t->m, t->tok, &t->asp, src, f, &t->ro, NULL);
    case SENTI_TASK_TAG: return task_tag_run_opts(t->m, t->tok, t->tag.agg, t->stride, src, f, &t->ro, NULL);
    case SENTI_TASK_ZERO_SHOT:
        return t->llm ? llm_zero_shot_run(t->m, t->tok, &t->chat, &t->llm_zs, &t->ro, src, f, NULL)
                      : task_zeroshot_run(t->m, t->tok, &t->zs, src, f, &t->ro, NULL);
    case SENTI_TASK_DIALOGUE: return task_dialogue_run(t->m, t->tok, &t->dlg, src, f, &t->ro, NULL);
    case SENTI_TASK_EMBED: return task_embed_run(t->m, t->tok, &t->emb, src, f, &t->ro, NULL);
    case SENTI_TASK_GENERATE: return llm_generate_run(t->m, t->tok, &t->chat, &t->gen, &t->ro, src, f, NULL);
    }
    return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run: unknown task kind %d", (int)t->kind);
}

/* Run t over src into new results (n >= 0: exactly n of them expected). */
static senti_status run_results(senti_task *t, task_source *src, int64_t n, senti_results **out) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    senti_results *r = calloc(1, sizeof *r);
    senti_status s = SENTI_OK;
    if (!f || !src || !r) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
        goto done;
    }
    s = run_src(t, src, f);
    if (fclose(f) != 0 && s == SENTI_OK) s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
    f = NULL;
    if (s != SENTI_OK) goto done;
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (n >= 0 && lines != n) {
        s = senti_error(SENTI_ERR_BACKEND, "senti_task_run: %lld results for %lld inputs", (long long)lines,
                        (long long)n);
        goto done;
    }
    if (!(r->v = calloc((size_t)lines + 1, sizeof *r->v))) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
        goto done;
    }
    char *save = NULL;
    for (char *l = buf ? strtok_r(buf, "\n", &save) : NULL; l && r->n < lines; l = strtok_r(NULL, "\n", &save)) {
        res *x = &r->v[r->n++];
        if (!(x->json = strdup(l)) || !(x->obj = json_loads(l, 0, NULL)) || !parse_result(t->kind, t->llm, x)) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run: out of memory");
            goto done;
        }
    }
done:
    if (f) fclose(f);
    free(buf);
    if (s == SENTI_OK) *out = r;
    else senti_results_free(r);
    return s;
}

senti_status senti_task_run(senti_task *t, const char *const *inputs, int64_t n, senti_results **out) {
    if (!t || !out || (n > 0 && !inputs) || n < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run: NULL argument");
    *out = NULL;
    for (int64_t i = 0; i < n; i++)
        if (!inputs[i]) return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run: input %lld is NULL", (long long)i);
    task_source *src = task_source_texts(inputs, n);
    senti_status s = run_results(t, src, n, out);
    task_source_free(src);
    return s;
}

senti_status senti_task_run_records(senti_task *t, const char *const *records, int64_t n, senti_results **out) {
    if (!t || !out || (n > 0 && !records) || n < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run_records: NULL argument");
    *out = NULL;
    if (n == 0) {
        task_source *none = task_source_texts(records, 0);
        senti_status s = run_results(t, none, 0, out);
        task_source_free(none);
        return s;
    }
    /* The records as JSONL: each on one line (a record spanning lines is
     * re-dumped compact; one that is blank or not an object still gets its
     * own line, which the runner answers with an error). */
    char *buf = NULL;
    size_t len = 0;
    FILE *w = open_memstream(&buf, &len);
    bool ok = w != NULL;
    for (int64_t i = 0; ok && i < n; i++) {
        const char *rec = records[i];
        if (!rec) {
            fclose(w);
            free(buf);
            return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_run_records: record %lld is NULL", (long long)i);
        }
        while (*rec == ' ' || *rec == '\t') rec++;
        char *flat = NULL;
        if (strpbrk(rec, "\r\n")) {
            json_t *o = json_loads(rec, 0, NULL);
            flat = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
            json_decref(o);
            if (!flat && (flat = strdup(rec)))
                for (char *c = flat; *c; c++) *c = *c == '\n' || *c == '\r' ? ' ' : *c;
            if (!flat) ok = false;
        }
        const char *line = flat ? flat : rec;
        if (ok && (line[0] != '{' ? fputc('{', w) == EOF : false)) ok = false; /* never blank, never plain text */
        if (ok && fprintf(w, "%s\n", line) < 0) ok = false;
        free(flat);
    }
    if (w && fclose(w) != 0) ok = false;
    FILE *in = ok ? fmemopen(buf, len ? len : 1, "r") : NULL;
    task_source *src = in ? task_source_file(in, "<records>") : NULL;
    senti_status s = src ? run_results(t, src, n, out) : senti_error(SENTI_ERR_NO_MEMORY, "senti_task_run_records: out of memory");
    task_source_free(src);
    if (in) fclose(in);
    free(buf);
    return s;
}

senti_status senti_task_eval(senti_task *t, const char *data, const char *format, const char *metric,
                             char **metrics_json) {
    if (!t || !data || !metrics_json) return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_eval: NULL argument");
    *metrics_json = NULL;
    static const task_eval_kind KIND[] = {[SENTI_TASK_CLASSIFY] = TASK_EVAL_CLASSIFY,
                                          [SENTI_TASK_ASPECT] = TASK_EVAL_ASPECT,
                                          [SENTI_TASK_TAG] = TASK_EVAL_AESC,
                                          [SENTI_TASK_ZERO_SHOT] = TASK_EVAL_ZERO_SHOT,
                                          [SENTI_TASK_DIALOGUE] = TASK_EVAL_DIALOGUE,
                                          [SENTI_TASK_EMBED] = TASK_EVAL_COUNT,
                                          [SENTI_TASK_GENERATE] = TASK_EVAL_COUNT};
    task_eval_kind k = KIND[t->kind];
    if (metric) {
        task_eval_kind mk = task_eval_kind_from_name(metric);
        if (t->kind == SENTI_TASK_TAG && (mk == TASK_EVAL_AE || mk == TASK_EVAL_OE || mk == TASK_EVAL_AESC)) k = mk;
        else if (mk != k) k = TASK_EVAL_COUNT;
    }
    if (k == TASK_EVAL_COUNT)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_eval: this task cannot be scored%s%s",
                           metric ? " as " : "", metric ? metric : "");
    task_format fmt = format ? task_format_from_name(format) : TASK_FORMAT_AUTO;
    if (fmt == TASK_FORMAT_COUNT) return senti_error(SENTI_ERR_INVALID_ARG, "senti_task_eval: unknown format '%s'", format);
    json_t *gold = NULL, *preds = json_array(), *metrics = NULL;
    senti_results *r = NULL;
    task_source *src = NULL;
    const char **labels = NULL;
    int64_t nl = 0;
    FILE *in = NULL;
    senti_status s = task_dataset_read(data, fmt, &gold, &fmt);
    if (s != SENTI_OK) goto done;
    if (!(in = fopen(data, "rb"))) {
        s = senti_error(SENTI_ERR_IO, "cannot open %s", data);
        goto done;
    }
    if (!(src = task_source_dataset(in, data, fmt))) {
        s = SENTI_ERR_BAD_FILE;
        goto done;
    }
    if ((s = run_results(t, src, -1, &r)) != SENTI_OK) goto done;
    for (int64_t i = 0; preds && i < r->n; i++) json_array_append(preds, r->v[i].obj);
    if (k == TASK_EVAL_ZERO_SHOT) {
        labels = (const char **)(t->llm ? t->llm_zs.labels : t->zs.labels);
        nl = t->llm ? t->llm_zs.n_labels : t->zs.n_labels;
    } else {
        nl = senti_model_num_labels(t->m);
        if ((labels = calloc((size_t)nl + 1, sizeof *labels)))
            for (int64_t i = 0; i < nl; i++) labels[i] = senti_model_label(t->m, i);
    }
    if (!preds || !labels) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_eval: out of memory");
        goto done;
    }
    if ((s = task_eval_score(k, gold, preds, labels, nl, &metrics)) != SENTI_OK) goto done;
    char *txt = json_dumps(metrics, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (!txt || !(*metrics_json = senti_strdup(txt))) s = senti_error(SENTI_ERR_NO_MEMORY, "senti_task_eval: out of memory");
    free(txt);
done:
    if (k != TASK_EVAL_ZERO_SHOT) free(labels);
    senti_results_free(r);
    task_source_free(src);
    if (in) fclose(in);
    json_decref(gold);
    json_decref(preds);
    json_decref(metrics);
    return s;
}

senti_model *senti_task_model(senti_task *t) { return t ? t->m : NULL; }
const senti_tokenizer *senti_task_tokenizer(const senti_task *t) { return t ? t->tok : NULL; }

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
