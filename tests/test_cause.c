/* test_cause.c — clauses, emotion causes, aspect-oriented opinions and events:
 *  - the clause segmenter's code-point and byte offsets on Chinese and English
 *    (number punctuation, runs of delimiters, closing quotes, blanks, invalid
 *    UTF-8), and on tools/fixtures/make_cause_fixtures.py's documents against
 *    its Python twin;
 *  - the two-step ECPE pipeline (tasks/cause.c) on the tiny clause / pair
 *    classifiers of tests/fixtures/cause against the Python reference
 *    (emotions, causes, pairs and their scores), with clauses given and
 *    clause ids, without a pair model, errors carried through the steps,
 *    batch invariance;
 *  - the ECPE scorer on cause's output;
 *  - `tag` with an aspect as the pair (AOE) against transformers'
 *    token-classification pipeline on the same pair;
 *  - the cause-pair and event schemas' parsers, on well-formed and malformed
 *    LLM output, grounding to clauses and offsets, and the event scorer. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "senti.h"
#include "task_helpers.h"
#include "tasks/llm.h"
#include "tasks/tasks.h"

static char g_tok[2400], g_dir[2400];
static json_t *g_gold;

static void setup(void) {
    th_init_root();
    if (!g_gold) {
        char p[2600];
        snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/cause", th_root);
        snprintf(p, sizeof p, "%s/golden.json", g_dir);
        json_error_t e;
        g_gold = json_load_file(p, 0, &e);
        ck_assert_msg(g_gold != NULL, "%s: %s", p, e.text);
    }
}

/* ---- clauses ---------------------------------------------------------------------------- */

/* The clauses of text are want[0..n) (texts), each at its code-point offsets. */
static void check_split(const char *text, int64_t n, const char *const *want, const int64_t *starts) {
    task_clause *v = NULL;
    int64_t got = -1;
    ck_assert_int_eq(task_clauses_split(text, strlen(text), &v, &got), SENTI_OK);
    ck_assert_int_eq(got, n);
    for (int64_t i = 0; i < n; i++) {
        ck_assert_int_eq((int64_t)(v[i].b1 - v[i].b0), (int64_t)strlen(want[i]));
        ck_assert_msg(!memcmp(text + v[i].b0, want[i], strlen(want[i])), "clause %lld of '%s'", (long long)i, text);
        ck_assert_int_eq(v[i].start, starts[i]);
        int64_t cps = 0;
        for (const char *q = want[i]; *q; q++) cps += ((unsigned char)*q & 0xC0) != 0x80;
        ck_assert_int_eq(v[i].end - v[i].start, cps);
    }
    free(v);
}

START_TEST(clauses_chinese_english) {
    check_split("我很高兴，因为今天下雨了。", 2, (const char *[]){"我很高兴", "因为今天下雨了"}, (int64_t[]){0, 5});
    check_split("I was happy, because it rained.", 2, (const char *[]){"I was happy", "because it rained"},
                (int64_t[]){0, 13});
    /* numbers keep their punctuation; "..." and "……" are one boundary each */
    check_split("It cost 3.50, about 1,000 yen... at 10:30 we left", 3,
                (const char *[]){"It cost 3.50", "about 1,000 yen", "at 10:30 we left"}, (int64_t[]){0, 14, 33});
    check_split("等等……然后！！好？!", 3, (const char *[]){"等等", "然后", "好"}, (int64_t[]){0, 4, 8});
    /* closing quotes after a delimiter stay out of the next clause; a full-width space is trimmed */
    check_split("他说：“好。”然后走了\u3000；", 3, (const char *[]){"他说", "“好", "然后走了"}, (int64_t[]){0, 3, 7});
    /* semicolons and colons, a line break, leading blanks */
    check_split("  a; b: c\nd", 4, (const char *[]){"a", "b", "c", "d"}, (int64_t[]){2, 5, 8, 10});
    check_split("", 0, NULL, NULL);
    check_split(" ，。!? ... ", 0, NULL, NULL);
    check_split("one clause", 1, (const char *[]){"one clause"}, (int64_t[]){0});
    check_split("1.5", 1, (const char *[]){"1.5"}, (int64_t[]){0});
    check_split(".5,", 1, (const char *[]){"5"}, (int64_t[]){1});
    task_clause *v = NULL;
    int64_t n = 0;
    ck_assert_int_eq(task_clauses_split("ok\xC3(", 4, &v, &n), SENTI_ERR_INVALID_ARG);
    assert_msg_has("invalid UTF-8", "byte 2", NULL);
    ck_assert_ptr_null(v);
}
END_TEST

START_TEST(clauses_match_python) {
    json_t *docs = json_object_get(g_gold, "docs"), *segs = json_object_get(g_gold, "segments");
    for (size_t d = 0; d < json_array_size(docs); d++) {
        const char *text = json_string_value(json_array_get(docs, d));
        json_t *want = json_array_get(segs, d);
        task_clause *v = NULL;
        int64_t n = 0;
        ck_assert_int_eq(task_clauses_split(text, strlen(text), &v, &n), SENTI_OK);
        ck_assert_int_eq(n, (int64_t)json_array_size(want));
        for (int64_t i = 0; i < n; i++) {
            json_t *w = json_array_get(want, (size_t)i);
            ck_assert_int_eq(v[i].start, json_integer_value(json_object_get(w, "start")));
            ck_assert_int_eq(v[i].end, json_integer_value(json_object_get(w, "end")));
            ck_assert_int_eq((int64_t)(v[i].b1 - v[i].b0), (int64_t)json_string_length(json_object_get(w, "text")));
            ck_assert(!memcmp(text + v[i].b0, json_string_value(json_object_get(w, "text")), v[i].b1 - v[i].b0));
        }
        free(v);
    }
}
END_TEST

/* ---- the ECPE pipeline ------------------------------------------------------------------------ */

typedef struct models {
    senti_model *cm, *pm;
    senti_tokenizer *tok;
} models;

static void load(models *m) {
    char p[2600];
    ck_assert(th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok));
    ck_assert_ptr_nonnull(m->tok = senti_tokenizer_load(g_tok));
    snprintf(p, sizeof p, "%s/clause", g_dir);
    ck_assert_ptr_nonnull(m->cm = senti_model_load(p, 1));
    snprintf(p, sizeof p, "%s/pair", g_dir);
    ck_assert_ptr_nonnull(m->pm = senti_model_load(p, 1));
}

static void unload(models *m) {
    senti_model_free(m->cm);
    senti_model_free(m->pm);
    senti_tokenizer_free(m->tok);
}

static task_cause cause_of(const models *m, bool pair) {
    task_cause c = {.clause = {m->cm, m->tok, {0}}, .context = 1, .window = 3, .threshold = 0.5};
    ck_assert_int_eq(task_classify_init(&c.clause.cls, m->cm, NULL, 0, 0.5), SENTI_OK);
    if (pair) {
        c.pair = (task_cause_model){m->pm, m->tok, {0}};
        ck_assert_int_eq(task_classify_init(&c.pair.cls, m->pm, NULL, 0, 0.5), SENTI_OK);
    }
    return c;
}

static senti_status cause_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    const void **a = ctx;
    return task_cause_run(a[0], src, out, a[1], st);
}

/* Run c over input (JSONL or lines) with runner options o. */
static json_t *run_cause(const task_cause *c, const char *input, const task_runner_opts *o, senti_status *s) {
    const void *ctx[2] = {c, o};
    task_stats st;
    return th_run_input(input, cause_fn, ctx, s, &st);
}

/* got's fields equal the reference's: clauses, emotions, causes, pairs (scores within 1e-4). */
static void check_cause(json_t *got, json_t *want) {
    ck_assert_msg(json_equal(json_object_get(got, "clauses"), json_object_get(want, "clauses")), "clauses differ");
    ck_assert(json_equal(json_object_get(got, "emotions"), json_object_get(want, "emotions")));
    ck_assert(json_equal(json_object_get(got, "causes"), json_object_get(want, "causes")));
    json_t *gp = json_object_get(got, "pairs"), *wp = json_object_get(want, "pairs");
    ck_assert_int_eq(json_array_size(gp), json_array_size(wp));
    for (size_t k = 0; k < json_array_size(gp); k++) {
        json_t *a = json_array_get(gp, k), *b = json_array_get(wp, k);
        ck_assert(json_equal(json_object_get(a, "emotion"), json_object_get(b, "emotion")));
        ck_assert(json_equal(json_object_get(a, "cause"), json_object_get(b, "cause")));
        ck_assert_double_eq_tol(json_real_value(json_object_get(a, "score")),
                                json_real_value(json_object_get(b, "score")), 1e-4);
    }
}

/* The fixture's documents as JSONL (the empty one included), then the ECPE-style record. */
static char *inputs(void) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    json_t *docs = json_object_get(g_gold, "docs");
    for (size_t d = 0; d < json_array_size(docs); d++) {
        json_t *r = json_pack("{s:I,s:O}", "id", (json_int_t)d, "text", json_array_get(docs, d));
        char *s = json_dumps(r, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(r);
    }
    char *s = json_dumps(json_object_get(g_gold, "given"), JSON_COMPACT);
    fprintf(f, "%s\n", s);
    free(s);
    fclose(f);
    return buf;
}

START_TEST(cause_matches_python) {
    models m = {0};
    load(&m);
    task_cause c = cause_of(&m, true);
    char *in = inputs();
    task_runner_opts o = task_runner_opts_defaults();
    senti_status s;
    json_t *got = run_cause(&c, in, &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    json_t *want = json_object_get(g_gold, "cause");
    ck_assert_int_eq(json_array_size(got), json_array_size(want) + 1);
    int64_t pairs = 0;
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *g = json_array_get(got, i), *w = json_array_get(want, i);
        ck_assert_int_eq(json_integer_value(json_object_get(g, "id")), (json_int_t)i);
        if (json_is_null(w)) { /* no clause: an error line, the run goes on */
            ck_assert_str_eq(json_string_value(json_object_get(g, "error")), "no clause in the text");
            continue;
        }
        check_cause(g, w);
        pairs += (int64_t)json_array_size(json_object_get(w, "pairs"));
    }
    ck_assert_int_gt(pairs, 0); /* the fixture exercises step 2 */
    json_t *last = json_array_get(got, json_array_size(got) - 1);
    check_cause(last, json_object_get(g_gold, "cause_given")); /* clause ids are the numbers */
    /* batch invariance: one record per batch, a window of one, no bucketing */
    o.batch_size = 1, o.window = 1, o.no_sort = true;
    json_t *again = run_cause(&c, in, &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert(json_equal(got, again));
    json_decref(again);
    /* a cause model of its own (step 1b; here the same model): the same results */
    c.cause = (task_cause_model){m.cm, m.tok, c.clause.cls};
    o = task_runner_opts_defaults();
    again = run_cause(&c, in, &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert(json_equal(got, again));
    json_decref(again);
    json_decref(got);
    free(in);
    unload(&m);
}
END_TEST

START_TEST(cause_without_pair_model_and_errors) {
    models m = {0};
    load(&m);
    task_cause c = cause_of(&m, false);
    task_runner_opts o = task_runner_opts_defaults();
    senti_status s;
    json_t *got = run_cause(&c,
                            "{\"id\":\"a\",\"text\":\"我今天很高兴，因为我的朋友来看我了。她带来了礼物！\"}\n"
                            "{\"id\":\"b\",\"clauses\":[\"x\", 3]}\n"
                            "{\"id\":\"c\",\"text\":\"bad \\udfff\"}\n"
                            "{\"id\":\"d\"}\n",
                            &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 4);
    /* every candidate is a pair, scored P(emotion) * P(cause) */
    json_t *a = json_array_get(got, 0), *w = json_array_get(json_object_get(g_gold, "cause"), 0);
    ck_assert(json_equal(json_object_get(a, "emotions"), json_object_get(w, "emotions")));
    size_t ne = json_array_size(json_object_get(w, "emotions"));
    ck_assert_int_gt(json_array_size(json_object_get(a, "pairs")), 0);
    ck_assert_int_le(json_array_size(json_object_get(a, "pairs")), ne * json_array_size(json_object_get(w, "causes")));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(got, 1), "error")),
                     "clause 1: not a string (or its id not an integer)");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(got, 2), "error"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(got, 3), "error")),
                     "the record has neither \"text\" nor \"clauses\"");
    json_decref(got);
    /* a window whose records all expand to no item (threshold 1: no emotion, so no candidate; AOE without
     * aspects): each is decoded, none is an error */
    task_cause none = cause_of(&m, true);
    none.threshold = 1.0;
    got = run_cause(&none, "a, b\nc; d\ne\n", &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ptr_null(json_object_get(json_array_get(got, i), "error"));
        ck_assert_int_eq(json_array_size(json_object_get(json_array_get(got, i), "pairs")), 0);
    }
    json_decref(got);
    /* a plain-text record holding a NUL, and a document whose step-1 line passes 8 MiB (1,500 clauses of
     * 1,000 control characters, each \u00XX in JSON), are answered like any other (they were errors:
     * jansson's NUL message, "over the 8 MiB") */
    const size_t nc = 1500, cl = 1000, head = 25, nb = head + nc * (cl + 2) + 1;
    char *big = malloc(nb + 1);
    memcpy(big, "nul \0 food here, but ok\n", head);
    for (size_t i = 0; i < nc; i++) {
        memset(big + head + i * (cl + 2), '\x01', cl);
        memcpy(big + head + i * (cl + 2) + cl, ", ", 2);
    }
    big[nb - 1] = '\n';
    task_stats bst;
    got = th_run_input_n(big, nb, cause_fn, (const void *[2]){&none, &o}, &s, &bst);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 2);
    for (size_t i = 0; i < 2; i++)
        ck_assert_msg(!json_object_get(json_array_get(got, i), "error"), "record %zu: %s", i,
                      json_string_value(json_object_get(json_array_get(got, i), "error")));
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(got, 1), "clauses")), nc);
    json_decref(got);
    /* more than 65,536 clauses: that record's own error */
    const size_t nm = 70000;
    big = realloc(big, nm * 3 + 2);
    for (size_t i = 0; i < nm; i++) memcpy(big + 3 * i, "a, ", 3);
    memcpy(big + 3 * nm, "\n", 2);
    got = th_run_input_n(big, 3 * nm + 1, cause_fn, (const void *[2]){&none, &o}, &s, &bst);
    ck_assert_int_eq(s, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 1);
    const char *e = json_string_value(json_object_get(json_array_get(got, 0), "error"));
    ck_assert_msg(e && strstr(e, "split it"), "%s", e ? e : "(no error)");
    json_decref(got);
    free(big);
    /* a model without the labels is refused */
    task_cause bad = cause_of(&m, false);
    bad.clause.model = m.pm;
    got = run_cause(&bad, "x\n", &o, &s);
    ck_assert_int_eq(s, SENTI_ERR_INVALID_ARG);
    assert_msg_has("cause", "\"emotion\"", NULL);
    json_decref(got);
    unload(&m);
}
END_TEST

/* cause's output scores with the ECPE scorer: gold pairs are the pipeline's own → F1 1. */
START_TEST(cause_scored_as_ecpe) {
    json_t *gold = json_array(), *pred = json_array();
    json_t *g = json_pack("{s:i,s:[[i,i],[i,i]]}", "id", 1, "pairs", 2, 3, 5, 5);
    json_t *p = json_pack("{s:i,s:[{s:i,s:i,s:f}],s:[i,i],s:[i]}", "id", 1, "pairs", "emotion", 2, "cause", 3, "score",
                          0.9, "emotions", 2, 4, "causes", 3);
    json_array_append_new(gold, g);
    json_array_append_new(pred, p);
    json_t *m = NULL;
    ck_assert_int_eq(task_eval_score(TASK_EVAL_ECPE, gold, pred, NULL, 0, &m), SENTI_OK);
    json_t *pair = json_object_get(m, "pair");
    ck_assert_double_eq_tol(json_real_value(json_object_get(pair, "precision")), 1.0, 1e-6);
    ck_assert_double_eq_tol(json_real_value(json_object_get(pair, "recall")), 0.5, 1e-6);
    /* the step-1 lists: emotions {2, 4} against the gold pairs' {2, 5}; causes {3} against {3, 5} */
    json_t *ec = json_object_get(m, "emotion_clauses"), *cc = json_object_get(m, "cause_clauses");
    ck_assert_int_eq(json_integer_value(json_object_get(ec, "correct")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(ec, "predicted")), 2);
    ck_assert_double_eq_tol(json_real_value(json_object_get(cc, "precision")), 1.0, 1e-6);
    ck_assert_double_eq_tol(json_real_value(json_object_get(cc, "recall")), 0.5, 1e-6);
    json_decref(m);
    json_decref(gold);
    json_decref(pred);
}
END_TEST

/* ---- AOE: tag with an aspect as the pair ------------------------------------------------------- */

typedef struct aoe_ctx {
    senti_model *m;
    const senti_tokenizer *tok;
    task_tag_agg agg;
    bool aoe;
} aoe_ctx;

static senti_status aoe_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    const aoe_ctx *a = ctx;
    task_runner_opts o = task_runner_opts_defaults();
    return task_tag_aoe_run(a->m, a->tok, a->agg, 0, a->aoe, NULL, 0, src, out, &o, st);
}

static void check_spans(json_t *got, json_t *want, const char *text) {
    ck_assert_msg(json_array_size(got) == json_array_size(want), "%s: %zu spans for %zu", text, json_array_size(got),
                  json_array_size(want));
    for (size_t k = 0; k < json_array_size(got); k++) {
        json_t *a = json_array_get(got, k), *b = json_array_get(want, k);
        ck_assert_str_eq(json_string_value(json_object_get(a, "type")), json_string_value(json_object_get(b, "type")));
        ck_assert_int_eq(json_integer_value(json_object_get(a, "start")), json_integer_value(json_object_get(b, "start")));
        ck_assert_int_eq(json_integer_value(json_object_get(a, "end")), json_integer_value(json_object_get(b, "end")));
        ck_assert_double_eq_tol(json_real_value(json_object_get(a, "score")), json_real_value(json_object_get(b, "score")),
                                1e-4);
    }
}

START_TEST(aoe_matches_transformers) {
    senti_tokenizer *tok = NULL;
    char p[2600];
    ck_assert(th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok));
    ck_assert_ptr_nonnull(tok = senti_tokenizer_load(g_tok));
    snprintf(p, sizeof p, "%s/aoe", g_dir);
    senti_model *m = senti_model_load(p, 1);
    ck_assert_ptr_nonnull(m);
    static const char *const AGG[] = {"none", "simple", "first"};
    json_t *cases = json_object_get(g_gold, "aoe");
    int64_t spans = 0;
    for (int a = 0; a < 3; a++) {
        /* every case of this aggregation as one JSONL input (they share batches) */
        char *in = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&in, &n);
        size_t i;
        json_t *c;
        json_array_foreach(cases, i, c) {
            if (strcmp(json_string_value(json_object_get(c, "aggregation")), AGG[a])) continue;
            json_t *r = json_pack("{s:O,s:O}", "text", json_object_get(c, "text"), "text_pair", json_object_get(c, "aspect"));
            char *s = json_dumps(r, JSON_COMPACT);
            fprintf(f, "%s\n", s);
            free(s);
            json_decref(r);
        }
        fclose(f);
        aoe_ctx x = {m, tok, (task_tag_agg)(a == 0 ? TASK_TAG_NONE : a == 1 ? TASK_TAG_SIMPLE : TASK_TAG_FIRST), false};
        senti_status st;
        task_stats stats;
        json_t *got = th_run_input(in, aoe_fn, &x, &st, &stats);
        ck_assert_int_eq(st, SENTI_OK);
        size_t k = 0;
        json_array_foreach(cases, i, c) {
            if (strcmp(json_string_value(json_object_get(c, "aggregation")), AGG[a])) continue;
            json_t *g = json_array_get(got, k++);
            ck_assert_str_eq(json_string_value(json_object_get(g, "aspect")), json_string_value(json_object_get(c, "aspect")));
            check_spans(json_object_get(g, "spans"), json_object_get(c, "spans"), json_string_value(json_object_get(c, "text")));
            spans += (int64_t)json_array_size(json_object_get(c, "spans"));
        }
        json_decref(got);
        free(in);
    }
    ck_assert_int_gt(spans, 0);
    /* AOE mode: one run per aspect; the same spans per aspect, and pairs with the aspect's offsets */
    aoe_ctx x = {m, tok, TASK_TAG_SIMPLE, true};
    senti_status st;
    task_stats stats;
    json_t *got = th_run_input("{\"id\":1,\"text\":\"the food was great but the service was awful\","
                               "\"aspect\":[\"service\",\"food\"]}\n{\"id\":2,\"text\":\"no aspect here\"}\n",
                               aoe_fn, &x, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    json_t *r = json_array_get(got, 0), *ops = json_object_get(r, "opinions");
    ck_assert_int_eq(json_array_size(ops), 2);
    json_t *o0 = json_array_get(ops, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o0, "start")), 27);
    ck_assert_int_eq(json_integer_value(json_object_get(o0, "end")), 34);
    check_spans(json_object_get(o0, "spans"), json_object_get(json_array_get(cases, 1), "spans"), "service");
    size_t np = json_array_size(json_object_get(json_array_get(ops, 0), "spans")) +
                json_array_size(json_object_get(json_array_get(ops, 1), "spans"));
    ck_assert_int_eq(json_array_size(json_object_get(r, "pairs")), np);
    json_t *p0 = json_array_get(json_object_get(r, "pairs"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(p0, "aspect_start")), 27);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(got, 1), "error")),
                     "no aspect: give --aspect, a \"aspect\" field or a text_pair");
    json_decref(got);
    /* a dataset's gold aspect spans (senti eval --task pair): their offsets, not the first occurrence */
    got = th_run_input("{\"id\":3,\"text\":\"the food was great but the service was awful\",\"aspect\":[\"x\"],"
                       "\"aspect_spans\":[{\"aspect\":\"the\",\"start\":23,\"end\":26}]}\n",
                       aoe_fn, &x, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    json_t *p1 = json_array_get(json_object_get(json_array_get(got, 0), "pairs"), 0);
    ck_assert_ptr_nonnull(p1);
    ck_assert_str_eq(json_string_value(json_object_get(p1, "aspect")), "the");
    ck_assert_int_eq(json_integer_value(json_object_get(p1, "aspect_start")), 23);
    json_decref(got);
    senti_model_free(m);
    senti_tokenizer_free(tok);
}
END_TEST

/* ---- generative schemas: cause-pair and event ----------------------------------------------------- */

static json_t *clauses3(json_t **nums) {
    *nums = json_pack("[i,i,i]", 1, 2, 4);
    return json_pack("[{s:s,s:i,s:i},{s:s,s:i,s:i},{s:s,s:i,s:i}]", "text", "当我看到建议被采纳", "start", 0, "end", 9,
                     "text", "部委领导写给我的回信时", "start", 10, "end", 21, "text", "我很激动", "start", 22, "end", 26);
}

static json_t *parse_cause(const char *raw) {
    json_t *nums, *cl = clauses3(&nums);
    json_t *r = llm_extract_parse_cause(raw, strlen(raw), cl, nums);
    ck_assert_ptr_nonnull(r);
    ck_assert(json_equal(json_object_get(r, "clauses"), cl));
    json_decref(cl);
    json_decref(nums);
    return r;
}

/* r's pairs are want (n pairs of (emotion, cause) numbers), emotions / causes their distinct values. */
static void check_pairs(json_t *r, int n, const int *want) {
    json_t *p = json_object_get(r, "pairs");
    ck_assert_msg(json_array_size(p) == (size_t)n, "%zu pairs, want %d (%s)", json_array_size(p), n,
                  json_string_value(json_object_get(r, "warning")));
    for (int k = 0; k < n; k++) {
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(p, (size_t)k), "emotion")), want[2 * k]);
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(p, (size_t)k), "cause")), want[2 * k + 1]);
    }
}

START_TEST(cause_pair_parser) {
    json_t *r = parse_cause("[(4, 1), (4, 2)]");
    check_pairs(r, 2, (int[]){4, 1, 4, 2});
    ck_assert_int_eq(json_array_size(json_object_get(r, "emotions")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(r, "causes")), 2);
    ck_assert_ptr_null(json_object_get(r, "warning"));
    json_decref(r);
    /* keyed objects, "clause N" and "(N)" forms, a fence and prose, a duplicate */
    r = parse_cause("Sure! ```json\n[{\"cause\": \"clause 1\", \"emotion\": \"(4)\"}, {\"emotion\": 4, \"cause\": 1}]\n```");
    check_pairs(r, 1, (int[]){4, 1});
    json_decref(r);
    /* clause texts instead of numbers: the clause holding the text, or the one it holds */
    r = parse_cause("[('很激动', '当我看到建议被采纳，部委'), (\"我很激动\", \"写给我的回信\")]");
    check_pairs(r, 2, (int[]){4, 1, 4, 2});
    json_decref(r);
    /* numbers that are no clause (3 is not one: the ids are 1, 2, 4), a half pair, an unclosed list */
    r = parse_cause("[(4, 3), (2,), (4, 4), (1, 2");
    check_pairs(r, 2, (int[]){4, 4, 1, 2});
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "warning")), "'3' is not a clause"));
    json_decref(r);
    /* no list: "none" is an empty answer, prose is not */
    r = parse_cause("None");
    check_pairs(r, 0, NULL);
    ck_assert_ptr_null(json_object_get(r, "raw"));
    json_decref(r);
    r = parse_cause("I cannot tell which clause causes the emotion.");
    check_pairs(r, 0, NULL);
    ck_assert_ptr_nonnull(json_object_get(r, "raw"));
    ck_assert_ptr_nonnull(json_object_get(r, "warning"));
    json_decref(r);
    /* llm_extract_parse cuts the text into clauses itself */
    const char *text = "我很难过，因为他走了。";
    r = llm_extract_parse(LLM_SCHEMA_CAUSE_PAIR, "[(1, 2)]", 8, text, strlen(text));
    check_pairs(r, 1, (int[]){1, 2});
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(r, "clauses"), 1), "start")), 5);
    json_decref(r);
    /* T5 / BART's flat answers ("emotion:cause, …") and their InstructABSA-style prompt */
    r = llm_extract_parse_flat(LLM_SCHEMA_CAUSE_PAIR, "1:2, 2:2", 8, text, strlen(text));
    check_pairs(r, 2, (int[]){1, 2, 2, 2});
    json_decref(r);
    char *s2s = llm_extract_instruction_s2s(LLM_SCHEMA_CAUSE_PAIR, "(1) a (2) b", 11);
    ck_assert_ptr_nonnull(strstr(s2s, "emotion:cause"));
    senti_mfree(s2s);
    /* the prompt numbers the clauses; so do the few-shot inputs */
    json_t *nums, *cl = clauses3(&nums);
    char *num = llm_cause_numbered(cl, nums);
    ck_assert_str_eq(num, "(1) 当我看到建议被采纳 (2) 部委领导写给我的回信时 (4) 我很激动");
    const char *shot_in[1] = {"I was sad, because it rained."}, *shot_out[1] = {"[(1, 2)]"};
    char *instr = llm_extract_instruction(LLM_SCHEMA_CAUSE_PAIR, shot_in, shot_out, 1, num, strlen(num));
    ck_assert_ptr_nonnull(strstr(instr, "input: (1) I was sad (2) because it rained\noutput: [(1, 2)]"));
    ck_assert_ptr_nonnull(strstr(instr, "input: (1) 当我看到建议被采纳 (2) 部委领导写给我的回信时 (4) 我很激动\noutput:"));
    senti_mfree(instr);
    senti_mfree(num);
    json_decref(cl);
    json_decref(nums);
}
END_TEST

static json_t *parse_event(const char *raw, const char *text) {
    json_t *r = llm_extract_parse(LLM_SCHEMA_EVENT, raw, strlen(raw), text, strlen(text));
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(event_parser) {
    const char *text = "Yesterday the students protested against the new fees in Paris.";
    json_t *r = parse_event("[(protested, the students, the new fees, Yesterday, Paris, negative)]", text);
    json_t *e = json_array_get(json_object_get(r, "events"), 0);
    ck_assert_int_eq(json_array_size(json_object_get(r, "events")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "trigger")), "protested");
    ck_assert_int_eq(json_integer_value(json_object_get(e, "trigger_start")), 23);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "trigger_end")), 32);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "subject_start")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "object_end")), 53);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "time_start")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "location_start")), 57);
    ck_assert_str_eq(json_string_value(json_object_get(e, "polarity")), "negative");
    ck_assert_ptr_null(json_object_get(r, "warning"));
    json_decref(r);
    /* keyed objects in any order, NULL arguments, a synonym polarity, a term not in the text */
    r = parse_event("```json\n[{\"polarity\": \"neg\", \"location\": null, \"trigger\": \"protested\", \"time\": \"NULL\","
                    " \"subject\": \"students\", \"object\": \"tuition\"}]\n```",
                    text);
    e = json_array_get(json_object_get(r, "events"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "subject")), "students");
    ck_assert(json_is_null(json_object_get(e, "time")) && json_is_null(json_object_get(e, "location_start")));
    ck_assert_str_eq(json_string_value(json_object_get(e, "object")), "tuition");
    ck_assert(json_is_null(json_object_get(e, "object_start")));
    ck_assert_str_eq(json_string_value(json_object_get(e, "polarity")), "negative");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "warning")), "'tuition' is not in the text"));
    json_decref(r);
    /* short tuples: the polarity found wherever it is, the rest null; an unknown polarity word */
    r = parse_event("[(protested, students, positive), (protested, students, Paris, x, y, angry)", text);
    json_t *ev = json_object_get(r, "events");
    ck_assert_int_eq(json_array_size(ev), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "polarity")), "positive");
    ck_assert(json_is_null(json_object_get(json_array_get(ev, 0), "object")));
    ck_assert(json_is_null(json_object_get(json_array_get(ev, 1), "polarity")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(r, "warning")), "unknown sentiment"));
    json_decref(r);
    r = llm_extract_parse_flat(LLM_SCHEMA_EVENT, "protested:the students:the new fees:Yesterday:none:negative", 59,
                               text, strlen(text));
    e = json_array_get(json_object_get(r, "events"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(e, "object_start")), 41);
    ck_assert(json_is_null(json_object_get(e, "location")));
    ck_assert_str_eq(json_string_value(json_object_get(e, "polarity")), "negative");
    json_decref(r);
    char *s2s = llm_extract_instruction_s2s(LLM_SCHEMA_EVENT, text, strlen(text));
    ck_assert_ptr_nonnull(strstr(s2s, "trigger:subject:object:time:location:polarity"));
    senti_mfree(s2s);
    r = parse_event("no events here", text);
    ck_assert_int_eq(json_array_size(json_object_get(r, "events")), 0);
    ck_assert_ptr_nonnull(json_object_get(r, "raw"));
    json_decref(r);
}
END_TEST

START_TEST(event_scorer) {
    json_t *gold = json_pack("[{s:i,s:[{s:s,s:s,s:n,s:s,s:n,s:s},{s:s,s:s,s:s,s:n,s:n,s:s}]}]", "id", 1, "events",
                             "trigger", "protested", "subject", "students", "object", "time", "Yesterday", "location",
                             "polarity", "negative", "trigger", "won", "subject", "team", "object", "cup", "time",
                             "location", "polarity", "positive");
    /* one exact (case and spacing differ), one with the wrong object, one spurious */
    json_t *pred = json_pack("[{s:i,s:[{s:s,s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:n,s:n,s:s},{s:s,s:n,s:n,s:n,s:n,s:s}]}]",
                             "id", 1, "events", "trigger", " Protested", "subject", "students ", "object", "NULL", "time",
                             "yesterday", "location", "none", "polarity", "negative", "trigger", "won", "subject", "team",
                             "object", "match", "time", "location", "polarity", "positive", "trigger", "lost", "subject",
                             "object", "time", "location", "polarity", "negative");
    json_t *m = NULL;
    ck_assert_int_eq(task_eval_score(TASK_EVAL_EVENT, gold, pred, NULL, 0, &m), SENTI_OK);
    json_t *ev = json_object_get(m, "event"), *tr = json_object_get(m, "trigger"), *ar = json_object_get(m, "argument");
    ck_assert_int_eq(json_integer_value(json_object_get(ev, "correct")), 1);
    ck_assert_double_eq_tol(json_real_value(json_object_get(ev, "precision")), 1.0 / 3, 1e-9);
    ck_assert_double_eq_tol(json_real_value(json_object_get(ev, "recall")), 0.5, 1e-9);
    ck_assert_double_eq_tol(json_real_value(json_object_get(ev, "f1")), 0.4, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(tr, "correct")), 2);
    /* arguments: gold 4 (students, Yesterday, team, cup), predicted 4 (students, yesterday, team, match), 3 right */
    ck_assert_int_eq(json_integer_value(json_object_get(ar, "gold")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(ar, "predicted")), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(ar, "correct")), 3);
    ck_assert_str_eq(task_eval_kind_name(task_eval_kind_from_name("event")), "event");
    ck_assert_int_eq(task_eval_kind_from_name("cause"), TASK_EVAL_CAUSE);
    json_decref(m);
    json_decref(gold);
    json_decref(pred);
}
END_TEST

/* AE + AOE: the chain equals AOE run on the AE tagger's own aspect spans. */
typedef struct chain_ctx {
    senti_model *ae, *m;
    const senti_tokenizer *tok;
    int mode; /* 0: AE alone, 1: AOE on given spans, 2: the chain */
} chain_ctx;

static senti_status chain_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    const chain_ctx *c = ctx;
    task_runner_opts o = task_runner_opts_defaults();
    if (c->mode == 0) return task_tag_run_opts(c->ae, c->tok, TASK_TAG_SIMPLE, 0, src, out, &o, st);
    if (c->mode == 1) return task_tag_aoe_run(c->m, c->tok, TASK_TAG_SIMPLE, 0, true, NULL, 0, src, out, &o, st);
    return task_tag_ae_aoe_run(c->ae, c->tok, c->m, c->tok, TASK_TAG_SIMPLE, src, out, &o, st);
}

START_TEST(ae_then_aoe) {
    char p[2600];
    ck_assert(th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok));
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    snprintf(p, sizeof p, "%s/aoe", g_dir);
    senti_model *m = senti_model_load(p, 1);
    snprintf(p, sizeof p, "%s/tests/fixtures/tasks/bert-tagger", th_root);
    senti_model *ae = senti_model_load(p, 1);
    ck_assert(tok && m && ae);
    const char *in = "the food was great but the service was awful\nok\ni love this place , the staff is friendly\n";
    chain_ctx c = {ae, m, tok, 0};
    senti_status st;
    task_stats stats;
    json_t *spans = th_run_input(in, chain_fn, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    /* the AE spans (not OP) as each record's aspect_spans */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    const char *texts[3] = {"the food was great but the service was awful", "ok", "i love this place , the staff is friendly"};
    int64_t aspects = 0;
    for (int i = 0; i < 3; i++) {
        json_t *a = json_array(), *v;
        size_t k;
        json_array_foreach(json_object_get(json_array_get(spans, (size_t)i), "spans"), k, v) {
            if (!strncmp(json_string_value(json_object_get(v, "type")), "OP", 2)) continue;
            json_array_append_new(a, json_pack("{s:O,s:O,s:O}", "aspect", json_object_get(v, "text"), "start",
                                               json_object_get(v, "start"), "end", json_object_get(v, "end")));
        }
        aspects += (int64_t)json_array_size(a);
        json_t *r = json_pack("{s:i,s:s,s:o}", "id", i, "text", texts[i], "aspect_spans", a);
        char *s = json_dumps(r, JSON_COMPACT);
        fprintf(f, "%s\n", s);
        free(s);
        json_decref(r);
    }
    fclose(f);
    ck_assert_int_gt(aspects, 0);
    c.mode = 1;
    json_t *want = th_run_input(buf, chain_fn, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    c.mode = 2;
    json_t *got = th_run_input(in, chain_fn, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(stats.records, 3);
    ck_assert(json_equal(got, want));
    json_decref(spans), json_decref(want), json_decref(got);
    free(buf);
    senti_model_free(m), senti_model_free(ae), senti_tokenizer_free(tok);
}
END_TEST

/* ---- the commands ------------------------------------------------------------------------------ */

/* The output of cmd (its exit status in *status), malloc'd. */
static char *run_cmd(const char *cmd, int *status) {
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, p);
    buf[n] = '\0';
    *status = pclose(p);
    return buf;
}

/* `senti cause` prints what task_cause_run writes; `senti tag --aspect` what task_tag_aoe_run does; exit 2 on bad flags. */
START_TEST(commands) {
    char cli[4096];
    ssize_t n = readlink("/proc/self/exe", cli, sizeof cli - 16);
    ck_assert_int_gt(n, 0);
    cli[n] = '\0';
    strcpy(strrchr(cli, '/'), "/../senti"); /* <build>/tests/test_cause -> <build>/senti */
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "commands: skipped, %s not built\n", cli);
        return;
    }
    models m = {0};
    load(&m);
    task_cause c = cause_of(&m, true);
    task_runner_opts o = task_runner_opts_defaults();
    senti_status s;
    json_t *want = run_cause(&c, "我今天很高兴，因为我的朋友来看我了。她带来了礼物！\nThe service was slow, the food was cold. I was angry!\n",
                             &o, &s);
    ck_assert_int_eq(s, SENTI_OK);
    char cmd[12000];
    int status;
    snprintf(cmd, sizeof cmd,
             "'%s' cause -m '%s/clause' --pair-model '%s/pair' --dtype f32 --tokenizer '%s' --context 1 --pair-window 3 "
             "'我今天很高兴，因为我的朋友来看我了。她带来了礼物！' 'The service was slow, the food was cold. I was angry!' "
             "2>/dev/null",
             cli, g_dir, g_dir, g_tok);
    char *out = run_cmd(cmd, &status);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    json_t *got = th_lines(out);
    ck_assert(json_equal(got, want));
    json_decref(got), json_decref(want);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' cause -m '%s/clause' --threshold 2 x 2>/dev/null", cli, g_dir);
    free(run_cmd(cmd, &status));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    /* tag --aspect: one run per aspect */
    snprintf(cmd, sizeof cmd,
             "'%s' tag -m '%s/aoe' --dtype f32 --tokenizer '%s' --aspect service --aspect food "
             "'the food was great but the service was awful' 2>/dev/null",
             cli, g_dir, g_tok);
    out = run_cmd(cmd, &status);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    got = th_lines(out);
    json_t *ops = json_object_get(json_array_get(got, 0), "opinions");
    ck_assert_int_eq(json_array_size(ops), 2);
    check_spans(json_object_get(json_array_get(ops, 0), "spans"), json_object_get(json_array_get(json_object_get(g_gold, "aoe"), 1), "spans"),
                "cli");
    json_decref(got);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' tag -m '%s/aoe' --aspect x --stride 4 t 2>/dev/null", cli, g_dir);
    free(run_cmd(cmd, &status));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    unload(&m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("cause");
    TCase *c = tcase_create("clauses");
    tcase_add_unchecked_fixture(c, setup, NULL);
    tcase_add_test(c, clauses_chinese_english);
    tcase_add_test(c, clauses_match_python);
    suite_add_tcase(s, c);
    c = tcase_create("ecpe");
    tcase_add_unchecked_fixture(c, setup, NULL);
    tcase_add_test(c, cause_matches_python);
    tcase_add_test(c, cause_without_pair_model_and_errors);
    tcase_add_test(c, cause_scored_as_ecpe);
    suite_add_tcase(s, c);
    c = tcase_create("schemas");
    tcase_add_test(c, cause_pair_parser);
    tcase_add_test(c, event_parser);
    tcase_add_test(c, event_scorer);
    suite_add_tcase(s, c);
    c = tcase_create("aoe");
    tcase_add_unchecked_fixture(c, setup, NULL);
    tcase_add_test(c, aoe_matches_transformers);
    tcase_add_test(c, ae_then_aoe);
    tcase_add_test(c, commands);
    suite_add_tcase(s, c);
    return s;
}

int main(void) {
    int rc = th_run_suite(suite());
    json_decref(g_gold);
    return rc;
}
