/* test_pipelines.c — the tasks end to end against transformers' pipelines:
 * tiny random-weight models with the real bert-base-uncased and roberta-base
 * vocabularies (tests/fixtures/tasks, made by
 * tools/fixtures/make_task_fixtures.py), driven by the real tokenizers from
 * ../shared/assets/tokenizers, on SST-2 / TweetEval texts; golden.json holds
 * what text-classification (single- and multi-label), token-classification
 * (every aggregation strategy, WordPiece and byte-level BPE) and
 * zero-shot-classification (single- and multi-label) answered. Labels and
 * span offsets must match exactly, scores within 1e-4. The texts run through
 * the batch runner with small batches and windows, so bucketing is part of
 * what is checked; so is the public task API of senti.h. Skipped (with a
 * note) when ../shared is not there. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "senti.h"
#include "tasks/tasks.h"

static char g_root[2048], g_fix[2200], g_toks[2200];
static json_t *g_golden;
static const char **g_texts;
static int64_t g_n;

static void init(void) {
    const char *f = __FILE__, *e = strstr(f, "/tests/test_pipelines.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
    snprintf(g_fix, sizeof g_fix, "%s/tests/fixtures/tasks", g_root);
    snprintf(g_toks, sizeof g_toks, "%s/../shared/assets/tokenizers", g_root);
    char p[2300];
    snprintf(p, sizeof p, "%s/golden.json", g_fix);
    json_error_t err;
    g_golden = json_load_file(p, 0, &err);
    if (!g_golden) {
        fprintf(stderr, "%s: %s\n", p, err.text);
        abort();
    }
    json_t *t = json_object_get(g_golden, "texts");
    g_n = (int64_t)json_array_size(t);
    g_texts = calloc((size_t)g_n, sizeof *g_texts);
    for (int64_t i = 0; i < g_n; i++) g_texts[i] = json_string_value(json_array_get(t, (size_t)i));
}

static bool have_shared(void) {
    char p[2300];
    snprintf(p, sizeof p, "%s/bert-base-uncased/tokenizer.json", g_toks);
    if (access(p, R_OK) == 0) return true;
    fprintf(stderr, "test_pipelines: skipped, %s not found\n", p);
    return false;
}

typedef struct loaded {
    senti_model *m;
    senti_tokenizer *tok;
    char dir[2300];
} loaded;

static void load(loaded *l, const char *model) {
    const char *tk = json_string_value(
        json_object_get(json_object_get(json_object_get(g_golden, "models"), model), "tokenizer"));
    ck_assert_ptr_nonnull(tk);
    snprintf(l->dir, sizeof l->dir, "%s/%s", g_fix, model);
    char tp[2400];
    snprintf(tp, sizeof tp, "%s/%s/tokenizer.json", g_toks, tk);
    l->m = senti_model_load(l->dir, 1);
    ck_assert_msg(l->m != NULL, "%s: %s", l->dir, senti_last_error());
    l->tok = senti_tokenizer_load(tp);
    ck_assert_msg(l->tok != NULL, "%s: %s", tp, senti_last_error());
}

static void unload(loaded *l) {
    senti_model_free(l->m);
    senti_tokenizer_free(l->tok);
}

/* Small batches and windows so that bucketing and ordering are exercised. */
static task_runner_opts small_batches(void) {
    task_runner_opts o = task_runner_opts_defaults();
    o.batch_size = 3;
    o.max_batch_tokens = 120;
    o.window = 7;
    o.n_threads = 2;
    return o;
}

/* Parse an output buffer's lines into an array of n objects (ids 0..n-1 in order). */
static json_t *lines(char *buf, int64_t n) {
    json_t *arr = json_array();
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        ck_assert_msg(j != NULL, "not JSON: %s", l);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), (json_int_t)json_array_size(arr));
        ck_assert_msg(!json_object_get(j, "error"), "error line: %s", l);
        json_array_append_new(arr, j);
    }
    ck_assert_int_eq((int64_t)json_array_size(arr), n);
    return arr;
}

#define TOL 1e-4

static void near(double got, double want, const char *what, int64_t i) {
    ck_assert_msg(fabs(got - want) <= TOL, "%s, text %lld: %.7f vs transformers %.7f", what, (long long)i, got, want);
}

START_TEST(test_text_classification) {
    if (!have_shared()) return;
    json_t *cases = json_object_get(g_golden, "text_classification");
    ck_assert_int_ge(json_array_size(cases), 2);
    size_t ci;
    json_t *c;
    json_array_foreach(cases, ci, c) {
        loaded l;
        load(&l, json_string_value(json_object_get(c, "model")));
        bool multi = json_is_true(json_object_get(c, "multi_label"));
        task_classify cls;
        ck_assert_int_eq(task_classify_init(&cls, l.m, l.dir, 0, 0.5), SENTI_OK);
        ck_assert(cls.multi_label == multi); /* read from config.json's problem_type */
        for (int bucket = 0; bucket < 2; bucket++) { /* length-bucketed batches, then input order */
        task_source *src = task_source_texts(g_texts, g_n);
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_runner_opts o = small_batches();
        o.no_sort = bucket == 1;
        task_stats st;
        ck_assert_int_eq(task_run(l.m, l.tok, src, out, &o, task_classify_decode, &cls, &st), SENTI_OK);
        fclose(out);
        ck_assert_int_gt(st.batches, 3);
        json_t *got = lines(buf, g_n), *res = json_object_get(c, "results");
        for (int64_t i = 0; i < g_n; i++) {
            json_t *g = json_array_get(got, (size_t)i), *want = json_array_get(res, (size_t)i);
            json_t *scores = json_object_get(g, "scores");
            ck_assert_int_eq(json_object_size(scores), json_array_size(want));
            size_t k;
            json_t *w;
            json_t *labels = json_object_get(g, "labels");
            size_t nabove = 0;
            json_array_foreach(want, k, w) { /* HF: sorted best first */
                const char *name = json_string_value(json_object_get(w, "label"));
                double ws = json_real_value(json_object_get(w, "score"));
                json_t *gs = json_object_get(scores, name);
                ck_assert_msg(gs != NULL, "no score for %s", name);
                near(json_real_value(gs), ws, name, i);
                if (multi && ws >= 0.5) { /* labels at or above the threshold, in HF's order */
                    ck_assert_str_eq(json_string_value(json_array_get(labels, nabove)), name);
                    nabove++;
                }
            }
            if (multi) ck_assert_int_eq(json_array_size(labels), nabove);
            else
                ck_assert_str_eq(json_string_value(json_object_get(g, "label")),
                                 json_string_value(json_object_get(json_array_get(want, 0), "label")));
        }
        json_decref(got);
        free(buf);
        task_source_free(src);
        }
        unload(&l);
    }
}
END_TEST

/* Python's text[start:end] for code-point offsets. */
static char *cp_slice(const char *t, int64_t start, int64_t end) {
    size_t n = strlen(t), b0 = n, b1 = n;
    int64_t cp = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || ((unsigned char)t[i] & 0xC0) != 0x80) {
            if (cp == start && b0 == n) b0 = i;
            if (cp == end) {
                b1 = i;
                break;
            }
            cp++;
        }
    }
    return strndup(t + b0, b1 >= b0 ? b1 - b0 : 0);
}

START_TEST(test_token_classification) {
    if (!have_shared()) return;
    static const char *AGG[] = {"none", "simple", "first", "average", "max"};
    json_t *cases = json_object_get(g_golden, "token_classification");
    ck_assert_int_eq(json_array_size(cases), 10);
    size_t ci;
    json_t *c;
    int64_t spans_checked = 0;
    json_array_foreach(cases, ci, c) {
        loaded l;
        load(&l, json_string_value(json_object_get(c, "model")));
        const char *agg_s = json_string_value(json_object_get(c, "aggregation"));
        int agg = 0;
        while (agg < 5 && strcmp(AGG[agg], agg_s) != 0) agg++;
        ck_assert_int_lt(agg, 5);
        task_source *src = task_source_texts(g_texts, g_n);
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_runner_opts o = small_batches();
        ck_assert_int_eq(task_tag_run_opts(l.m, l.tok, (task_tag_agg)agg, 0, src, out, &o, NULL), SENTI_OK);
        fclose(out);
        json_t *got = lines(buf, g_n), *res = json_object_get(c, "results");
        for (int64_t i = 0; i < g_n; i++) {
            json_t *gs = json_object_get(json_array_get(got, (size_t)i), "spans"),
                   *want = json_array_get(res, (size_t)i);
            ck_assert_msg(json_array_size(gs) == json_array_size(want), "%s %s text %lld: %zu spans vs %zu",
                          json_string_value(json_object_get(c, "model")), agg_s, (long long)i, json_array_size(gs),
                          json_array_size(want));
            size_t k;
            json_t *w;
            json_array_foreach(want, k, w) {
                json_t *g = json_array_get(gs, k);
                const char *wt = json_string_value(json_object_get(w, agg == 0 ? "entity" : "entity_group"));
                int64_t s0 = json_integer_value(json_object_get(w, "start")),
                        s1 = json_integer_value(json_object_get(w, "end"));
                ck_assert_str_eq(json_string_value(json_object_get(g, "type")), wt);
                ck_assert_int_eq(json_integer_value(json_object_get(g, "start")), s0);
                ck_assert_int_eq(json_integer_value(json_object_get(g, "end")), s1);
                near(json_real_value(json_object_get(g, "score")), json_real_value(json_object_get(w, "score")),
                     agg_s, i);
                char *slice = cp_slice(g_texts[i], s0, s1);
                ck_assert_str_eq(json_string_value(json_object_get(g, "text")), slice);
                free(slice);
                spans_checked++;
            }
        }
        json_decref(got);
        free(buf);
        task_source_free(src);
        unload(&l);
    }
    ck_assert_int_gt(spans_checked, 1000);
}
END_TEST

START_TEST(test_zero_shot) {
    if (!have_shared()) return;
    json_t *cases = json_object_get(g_golden, "zero_shot");
    ck_assert_int_ge(json_array_size(cases), 2);
    size_t ci;
    json_t *c;
    json_array_foreach(cases, ci, c) {
        loaded l;
        load(&l, json_string_value(json_object_get(c, "model")));
        json_t *cands = json_object_get(c, "candidate_labels");
        const char *labels[16];
        int64_t nl = (int64_t)json_array_size(cands);
        ck_assert_int_le(nl, 16);
        for (int64_t k = 0; k < nl; k++) labels[k] = json_string_value(json_array_get(cands, (size_t)k));
        task_zeroshot z;
        ck_assert_int_eq(task_zeroshot_init(&z, l.m, labels, nl, json_string_value(json_object_get(c, "template")),
                                            json_is_true(json_object_get(c, "multi_label"))),
                         SENTI_OK);
        ck_assert_int_eq(z.entail_id, 0); /* ENTAILMENT, NEUTRAL, CONTRADICTION */
        ck_assert_int_eq(z.contra_id, 2);
        task_source *src = task_source_texts(g_texts, g_n);
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_runner_opts o = small_batches();
        task_stats st;
        ck_assert_int_eq(task_zeroshot_run(l.m, l.tok, &z, src, out, &o, &st), SENTI_OK);
        fclose(out);
        ck_assert_int_eq(st.units, g_n * nl); /* every (text, hypothesis) pair ran */
        json_t *got = lines(buf, g_n), *res = json_object_get(c, "results");
        for (int64_t i = 0; i < g_n; i++) {
            json_t *g = json_array_get(got, (size_t)i), *w = json_array_get(res, (size_t)i);
            json_t *gl = json_object_get(g, "labels"), *gs = json_object_get(g, "scores"),
                   *wl = json_object_get(w, "labels"), *ws = json_object_get(w, "scores");
            ck_assert_int_eq(json_array_size(gl), (size_t)nl);
            for (int64_t k = 0; k < nl; k++) {
                ck_assert_str_eq(json_string_value(json_array_get(gl, (size_t)k)),
                                 json_string_value(json_array_get(wl, (size_t)k)));
                near(json_real_value(json_array_get(gs, (size_t)k)), json_real_value(json_array_get(ws, (size_t)k)),
                     "zero-shot", i);
            }
        }
        json_decref(got);
        free(buf);
        task_source_free(src);
        unload(&l);
    }
}
END_TEST

/* The public task API (senti.h) gives what the pipelines gave, as labels
 * best first and spans; a bad input is an error result. */
START_TEST(test_c_api) {
    if (!have_shared()) return;
    char tp[2400], dir[2300];
    snprintf(tp, sizeof tp, "%s/bert-base-uncased/tokenizer.json", g_toks);
    /* classify: every label, best first, as HF's top_k=None */
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    o.tokenizer = tp;
    o.model.n_threads = 1;
    o.batch_size = 4;
    snprintf(dir, sizeof dir, "%s/bert-sst2", g_fix);
    senti_task *t = senti_task_load(dir, &o);
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    senti_results *r = NULL;
    ck_assert_int_eq(senti_task_run(t, g_texts, g_n, &r), SENTI_OK);
    ck_assert_int_eq(senti_results_count(r), g_n);
    json_t *want = json_object_get(json_array_get(json_object_get(g_golden, "text_classification"), 0), "results");
    for (int64_t i = 0; i < g_n; i++) {
        ck_assert_ptr_null(senti_result_error(r, i));
        ck_assert_int_eq(senti_result_parts(r, i), 1);
        json_t *w = json_array_get(want, (size_t)i);
        ck_assert_int_eq(senti_result_num_labels(r, i, 0), (int64_t)json_array_size(w));
        for (int64_t k = 0; k < senti_result_num_labels(r, i, 0); k++) {
            json_t *wk = json_array_get(w, (size_t)k);
            ck_assert_str_eq(senti_result_label(r, i, 0, k), json_string_value(json_object_get(wk, "label")));
            near(senti_result_score(r, i, 0, k), json_real_value(json_object_get(wk, "score")), "api classify", i);
        }
    }
    ck_assert(isnan(senti_result_score(r, 0, 0, 99)));
    ck_assert_ptr_null(senti_result_label(r, g_n, 0, 0));
    senti_span sp;
    ck_assert_int_eq(senti_result_span(r, 0, 0, &sp), SENTI_ERR_INVALID_ARG);
    senti_results_free(r);
    const char *bad[] = {"fine", "bad \xff"};
    ck_assert_int_eq(senti_task_run(t, bad, 2, &r), SENTI_OK);
    ck_assert_ptr_null(senti_result_error(r, 0));
    ck_assert_ptr_nonnull(strstr(senti_result_error(r, 1), "UTF-8"));
    ck_assert_int_eq(senti_result_parts(r, 1), 0);
    ck_assert_ptr_nonnull(strstr(senti_result_json(r, 1), "\"error\""));
    senti_results_free(r);
    /* no inputs, given as NULL: no results (it read a NULL file: SIGSEGV) */
    ck_assert_int_eq(senti_task_run(t, NULL, 0, &r), SENTI_OK);
    ck_assert_int_eq(senti_results_count(r), 0);
    senti_results_free(r);
    ck_assert_int_eq(senti_task_run_records(t, NULL, 0, &r), SENTI_OK);
    ck_assert_int_eq(senti_results_count(r), 0);
    senti_results_free(r);
    senti_task_free(t);
    /* a bad option is named */
    senti_task_opts ob = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    ob.n_stop = 2;
    ck_assert_ptr_null(senti_task_load(NULL, &ob));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "stop is NULL"));
    ob = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    ob.aggregation = 99;
    ck_assert_ptr_null(senti_task_load(NULL, &ob));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "aggregation"));

    /* tag: spans with offsets */
    o = senti_task_opts_defaults(SENTI_TASK_TAG);
    o.tokenizer = tp;
    o.aggregation = SENTI_AGG_FIRST;
    snprintf(dir, sizeof dir, "%s/bert-tagger", g_fix);
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    ck_assert_int_eq(senti_task_run(t, g_texts, g_n, &r), SENTI_OK);
    json_t *cases = json_object_get(g_golden, "token_classification");
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        if (strcmp(json_string_value(json_object_get(cs, "model")), "bert-tagger") != 0 ||
            strcmp(json_string_value(json_object_get(cs, "aggregation")), "first") != 0)
            continue;
        for (int64_t i = 0; i < g_n; i++) {
            json_t *w = json_array_get(json_object_get(cs, "results"), (size_t)i);
            ck_assert_int_eq(senti_result_parts(r, i), (int64_t)json_array_size(w));
            for (int64_t k = 0; k < senti_result_parts(r, i); k++) {
                json_t *wk = json_array_get(w, (size_t)k);
                ck_assert_int_eq(senti_result_span(r, i, k, &sp), SENTI_OK);
                ck_assert_str_eq(sp.type, json_string_value(json_object_get(wk, "entity_group")));
                ck_assert_int_eq(sp.start, json_integer_value(json_object_get(wk, "start")));
                ck_assert_int_eq(sp.end, json_integer_value(json_object_get(wk, "end")));
                near(sp.score, json_real_value(json_object_get(wk, "score")), "api tag", i);
                ck_assert_str_eq(senti_result_label(r, i, k, 0), sp.type);
            }
        }
    }
    senti_results_free(r);
    senti_task_free(t);

    /* zero-shot: the model must be NLI-shaped */
    o = senti_task_opts_defaults(SENTI_TASK_ZERO_SHOT);
    o.tokenizer = tp;
    const char *labels[] = {"positive", "negative", "neutral"};
    o.labels = labels;
    o.n_labels = 3;
    snprintf(dir, sizeof dir, "%s/bert-sst2", g_fix);
    ck_assert_ptr_null(senti_task_load(dir, &o));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "entail"));
    snprintf(dir, sizeof dir, "%s/bert-nli", g_fix);
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    ck_assert_int_eq(senti_task_run(t, g_texts, g_n, &r), SENTI_OK);
    want = json_object_get(json_array_get(json_object_get(g_golden, "zero_shot"), 0), "results");
    for (int64_t i = 0; i < g_n; i++) {
        json_t *w = json_array_get(want, (size_t)i);
        for (int64_t k = 0; k < 3; k++) {
            ck_assert_str_eq(senti_result_label(r, i, 0, k), json_string_value(json_array_get(json_object_get(w, "labels"), (size_t)k)));
            near(senti_result_score(r, i, 0, k), json_real_value(json_array_get(json_object_get(w, "scores"), (size_t)k)),
                 "api zero-shot", i);
        }
    }
    senti_results_free(r);
    senti_task_free(t);

    /* aspect and dialogue through the API: shapes and offsets */
    o = senti_task_opts_defaults(SENTI_TASK_ASPECT);
    o.tokenizer = tp;
    const char *aspects[] = {"food", "service"};
    o.aspects = aspects;
    o.n_aspects = 2;
    snprintf(dir, sizeof dir, "%s/bert-sst2", g_fix);
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    const char *rev[] = {"Great food but the service was slow."};
    ck_assert_int_eq(senti_task_run(t, rev, 1, &r), SENTI_OK);
    ck_assert_int_eq(senti_result_parts(r, 0), 2);
    ck_assert_int_eq(senti_result_span(r, 0, 1, &sp), SENTI_OK);
    ck_assert_str_eq(sp.text, "service");
    ck_assert_int_eq(sp.start, 19);
    ck_assert_int_eq(sp.end, 26);
    ck_assert_str_eq(sp.type, senti_result_label(r, 0, 1, 0));
    ck_assert(fabs(senti_result_score(r, 0, 1, 0) + senti_result_score(r, 0, 1, 1) - 1) < 1e-6);
    senti_results_free(r);
    senti_task_free(t);
    o = senti_task_opts_defaults(SENTI_TASK_DIALOGUE);
    o.tokenizer = tp;
    o.context = 1;
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    const char *dlg[] = {"{\"dialogue\":[{\"speaker\":\"A\",\"text\":\"hi\"},{\"speaker\":\"B\",\"text\":\"go away\"}]}",
                         "not json"};
    ck_assert_int_eq(senti_task_run(t, dlg, 2, &r), SENTI_OK);
    ck_assert_int_eq(senti_result_parts(r, 0), 2);
    ck_assert_int_eq(senti_result_num_labels(r, 0, 1), 2);
    ck_assert_ptr_nonnull(senti_result_error(r, 1));
    senti_results_free(r);
    senti_task_free(t);
}
END_TEST

/* The rest of the task API: JSONL records, the classify logits, embed,
 * generate, eval, the accessors. */
START_TEST(test_c_api_records_embed_generate_eval) {
    if (!have_shared()) return;
    char tp[2400], dir[2300];
    snprintf(tp, sizeof tp, "%s/bert-base-uncased/tokenizer.json", g_toks);
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    o.tokenizer = tp;
    o.model.n_threads = 1;
    o.logits = 1;
    snprintf(dir, sizeof dir, "%s/bert-sst2", g_fix);
    senti_task *t = senti_task_load(dir, &o);
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    ck_assert_ptr_nonnull(senti_task_model(t));
    ck_assert_ptr_nonnull(senti_task_tokenizer(t));
    const char *texts[] = {"a fine film", "dull"};
    const char *recs[] = {"{\"text\": \"a fine film\"}", "{\n \"text\": \"dull\"\n}", "not json", "",
                          "{\"text\": \"the food\", \"text_pair\": \"was great\"}"};
    senti_results *a = NULL, *b = NULL;
    ck_assert_int_eq(senti_task_run(t, texts, 2, &a), SENTI_OK);
    ck_assert_int_eq(senti_task_run_records(t, recs, 5, &b), SENTI_OK);
    ck_assert_int_eq(senti_results_count(b), 5);
    for (int i = 0; i < 2; i++) ck_assert_str_eq(senti_result_json(a, i), senti_result_json(b, i));
    ck_assert_ptr_nonnull(strstr(senti_result_json(a, 0), "\"logits\":{\"NEGATIVE\":"));
    ck_assert_ptr_nonnull(senti_result_error(b, 2));
    ck_assert_ptr_nonnull(senti_result_error(b, 3));
    ck_assert_ptr_null(senti_result_error(b, 4));
    senti_results_free(a);
    senti_results_free(b);
    ck_assert_int_eq(senti_task_run_records(t, recs, 0, &b), SENTI_OK);
    ck_assert_int_eq(senti_results_count(b), 0);
    senti_results_free(b);
    /* eval: 20 SST-2 dev sentences */
    char data[2400], line[4096];
    snprintf(data, sizeof data, "%s/../shared/assets/data/sst2/dev.tsv", g_root);
    FILE *in = fopen(data, "r"), *out = NULL;
    ck_assert_ptr_nonnull(in);
    char tmp[] = "/tmp/senti-eval-XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    out = fdopen(fd, "w");
    for (int i = 0; i < 21 && fgets(line, sizeof line, in); i++) fputs(line, out);
    fclose(in);
    fclose(out);
    char *metrics = NULL;
    ck_assert_int_eq(senti_task_eval(t, tmp, "tsv", NULL, &metrics), SENTI_OK);
    json_t *m = json_loads(metrics, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "items")), 20);
    ck_assert(json_real_value(json_object_get(m, "accuracy")) >= 0);
    json_decref(m);
    senti_string_free(metrics);
    ck_assert_int_eq(senti_task_eval(t, tmp, "tsv", "ae", &metrics), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(senti_task_eval(t, tmp, "no-such-format", NULL, &metrics), SENTI_ERR_INVALID_ARG);
    unlink(tmp);
    senti_task_free(t);
    /* embed: a base encoder's pooled vectors; a classifier is refused */
    o = senti_task_opts_defaults(SENTI_TASK_EMBED);
    o.tokenizer = tp;
    ck_assert_ptr_null(senti_task_load(dir, &o));
    snprintf(dir, sizeof dir, "%s/tests/fixtures/embed", g_root);
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    ck_assert_int_eq(senti_task_run(t, texts, 2, &a), SENTI_OK);
    ck_assert_int_eq(senti_result_parts(a, 0), 1);
    ck_assert_int_eq(senti_result_num_labels(a, 0, 0), 0);
    ck_assert_ptr_nonnull(strstr(senti_result_json(a, 1), "\"embedding\":["));
    senti_results_free(a);
    senti_task_free(t);
    /* generate: greedy is deterministic and stops at max_new_tokens */
    o = senti_task_opts_defaults(SENTI_TASK_GENERATE);
    o.max_new_tokens = 4;
    o.temperature = 0;
    ck_assert_ptr_null(senti_task_load(dir, &o)); /* not a causal LM */
    snprintf(dir, sizeof dir, "%s/tests/fixtures/llm/llama", g_root);
    ck_assert_ptr_nonnull(t = senti_task_load(dir, &o));
    const char *prompts[] = {"The movie was", "I did not"};
    ck_assert_int_eq(senti_task_run(t, prompts, 2, &a), SENTI_OK);
    ck_assert_int_eq(senti_task_run(t, prompts + 1, 1, &b), SENTI_OK);
    json_t *g0 = json_loads(senti_result_json(a, 1), 0, NULL), *g1 = json_loads(senti_result_json(b, 0), 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(g0, "ids")), 4);
    ck_assert(json_equal(json_object_get(g0, "ids"), json_object_get(g1, "ids")));
    ck_assert_str_eq(json_string_value(json_object_get(g0, "finish_reason")), "length");
    json_decref(g0);
    json_decref(g1);
    senti_results_free(a);
    senti_results_free(b);
    senti_task_free(t);
}
END_TEST

int main(void) {
    init();
    Suite *s = suite_create("pipelines");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_text_classification);
    tcase_add_test(tc, test_c_api_records_embed_generate_eval);
    tcase_add_test(tc, test_token_classification);
    tcase_add_test(tc, test_zero_shot);
    tcase_add_test(tc, test_c_api);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    json_decref(g_golden);
    free(g_texts);
    return nf == 0 ? 0 : 1;
}
