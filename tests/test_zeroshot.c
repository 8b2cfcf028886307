/* test_zeroshot.c — zero-shot classification with the NLI-shaped fixture
 * (tests/fixtures/tasks/bert-nli, labels ENTAILMENT / NEUTRAL / CONTRADICTION)
 * and the real bert-base-uncased tokenizer: entailment / contradiction ids
 * from id2label, hypothesis templates, every record's scores equal to its
 * (text, hypothesis) pairs run alone (single-label: softmax over the
 * entailment logits; multi-label: per label over [contradiction,
 * entailment]), per-record "labels", order under small batches, bad records
 * and --strict. The comparison with transformers' pipeline itself is in
 * test_pipelines.c, and here for a DeBERTa-v3 NLI model with its SentencePiece
 * tokenizer (tests/fixtures/deberta-nli, tools/fixtures/make_deberta_nli_fixture.py)
 * and a BART-MNLI-shaped encoder-decoder with the roberta-base BPE
 * (tests/fixtures/bart-mnli, tools/fixtures/make_encdec_fixtures.py). */
#include "task_helpers.h"

static char g_tok[2300], g_nli[2300], g_sst[2300];

static json_t *run_zs(senti_model *m, const senti_tokenizer *tok, const task_zeroshot *z, const char *input,
                      const task_runner_opts *o, senti_status *st, task_stats *stats) {
    th_task t = {.m = m, .tok = tok, .o = o, .zs = z};
    return th_run_input(input, th_task_fn, &t, st, stats);
}

START_TEST(test_init) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    senti_model *nli = senti_model_load(g_nli, 1), *sst = senti_model_load(g_sst, 1);
    ck_assert_ptr_nonnull(nli);
    ck_assert_ptr_nonnull(sst);
    const char *labels[] = {"joy", "anger"};
    task_zeroshot z;
    ck_assert_int_eq(task_zeroshot_init(&z, nli, labels, 2, NULL, false), SENTI_OK);
    ck_assert_int_eq(z.entail_id, 0);
    ck_assert_int_eq(z.contra_id, 2);
    ck_assert_str_eq(z.tmpl, "This example is {}.");
    ck_assert_int_eq(task_zeroshot_init(&z, sst, labels, 2, NULL, false), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "entail"));
    ck_assert_int_eq(task_zeroshot_init(&z, nli, labels, 2, "no placeholder", false), SENTI_ERR_INVALID_ARG);
    const char *empty[] = {"joy", ""};
    ck_assert_int_eq(task_zeroshot_init(&z, nli, empty, 2, NULL, false), SENTI_ERR_INVALID_ARG);
    size_t n;
    char *h = task_zeroshot_hypothesis("{} or {}? {", "joy", 3, &n);
    ck_assert_str_eq(h, "joy or joy? {");
    ck_assert_int_eq(n, strlen(h));
    free(h);
    senti_model_free(nli);
    senti_model_free(sst);
}
END_TEST

/* Every record's labels/scores equal its pairs run alone; order kept. */
START_TEST(test_alone_and_order) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    senti_model *m = senti_model_load(g_nli, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    static const char *TEXTS[] = {"a charming and often affecting journey .", "it 's slow -- very , very slow .",
                                  "@user what a day!! 😍", "ok", "the acting , costumes , music , cinematography and "
                                  "sound are all astounding given the production 's austere locales ."};
    const char *labels[] = {"positive", "negative", "neutral", "sarcasm"};
    for (int multi = 0; multi < 2; multi++) {
        task_zeroshot z;
        ck_assert_int_eq(task_zeroshot_init(&z, m, labels, 4, "Overall it is {} .", multi), SENTI_OK);
        char input[4096] = "";
        for (int i = 0; i < 15; i++) { /* every 3rd record brings its own labels */
            char rec[512];
            if (i % 3 == 2) snprintf(rec, sizeof rec, "{\"id\":\"r%d\",\"text\":\"%s\",\"labels\":[\"good\",\"bad\"]}\n", i, TEXTS[i % 5]);
            else snprintf(rec, sizeof rec, "{\"id\":\"r%d\",\"text\":\"%s\"}\n", i, TEXTS[i % 5]);
            strcat(input, rec);
        }
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 3;
        o.window = 4;
        senti_status st;
        task_stats stats;
        json_t *got = run_zs(m, tok, &z, input, &o, &st, &stats);
        ck_assert_int_eq(st, SENTI_OK);
        ck_assert_int_eq(json_array_size(got), 15);
        ck_assert_int_eq(stats.units, 10 * 4 + 5 * 2);
        ck_assert_int_gt(stats.batches, 10);
        for (int i = 0; i < 15; i++) {
            json_t *g = json_array_get(got, (size_t)i);
            char id[16];
            snprintf(id, sizeof id, "r%d", i);
            ck_assert_str_eq(json_string_value(json_object_get(g, "id")), id);
            const char *own[] = {"good", "bad"};
            const char *const *ls = i % 3 == 2 ? own : labels;
            int nl = i % 3 == 2 ? 2 : 4;
            double want[4];
            float lg[4][3];
            for (int k = 0; k < nl; k++) {
                char hyp[64];
                snprintf(hyp, sizeof hyp, "Overall it is %s .", ls[k]);
                th_alone(m, tok, TEXTS[i % 5], hyp, lg[k]);
            }
            if (multi) {
                for (int k = 0; k < nl; k++) {
                    float ec[2] = {lg[k][2], lg[k][0]}; /* contradiction, entailment */
                    double p[2];
                    th_softmax(ec, 2, p);
                    want[k] = p[1];
                }
            } else {
                float e[4];
                for (int k = 0; k < nl; k++) e[k] = lg[k][0];
                th_softmax(e, nl, want);
            }
            json_t *gl = json_object_get(g, "labels"), *gs = json_object_get(g, "scores");
            ck_assert_int_eq(json_array_size(gl), (size_t)nl);
            double prev = 2, sum = 0;
            for (int k = 0; k < nl; k++) {
                const char *name = json_string_value(json_array_get(gl, (size_t)k));
                double s = json_real_value(json_array_get(gs, (size_t)k));
                int idx = 0;
                while (idx < nl && strcmp(ls[idx], name) != 0) idx++;
                ck_assert_int_lt(idx, nl);
                ck_assert_msg(fabs(s - want[idx]) < 1e-5, "record %d label %s: %g vs alone %g", i, name, s, want[idx]);
                ck_assert(s <= prev); /* best first */
                prev = s;
                sum += s;
            }
            if (!multi) ck_assert(fabs(sum - 1) < 1e-6);
        }
        json_decref(got);
    }
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_bad_records) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    senti_model *m = senti_model_load(g_nli, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    const char *labels[] = {"positive", "negative"};
    task_zeroshot z;
    ck_assert_int_eq(task_zeroshot_init(&z, m, labels, 2, NULL, false), SENTI_OK);
    static const char input[] = "{\"id\":1,\"text\":\"fine\"}\n"
                                "{\"id\":2,\"text\":\"x\",\"labels\":\"a,b\"}\n"
                                "{\"id\":3,\"text\":\"x\",\"labels\":[\"a\",7]}\n"
                                "{\"id\":4}\n"
                                "{\"id\":5,\"text\":\"bad \xc3\x28\"}\n"
                                "{\"id\":6,\"text\":\"x\",\"labels\":[]}\n"
                                "{\"id\":7,\"text\":\"also fine\"}\n";
    task_runner_opts o = task_runner_opts_defaults();
    senti_status st;
    task_stats stats;
    json_t *got = run_zs(m, tok, &z, input, &o, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 7);
    ck_assert_int_eq(stats.errors, 5);
    /* record 5's invalid UTF-8 is reported under its own id, with the byte of the line */
    static const char *why[] = {NULL, "labels", "labels", "text", "invalid UTF-8 at byte 20 of the line", "candidate labels", NULL};
    for (int i = 0; i < 7; i++) {
        json_t *g = json_array_get(got, (size_t)i), *e = json_object_get(g, "error");
        ck_assert_int_eq(json_integer_value(json_object_get(g, "id")), i + 1);
        if (!why[i]) ck_assert_int_eq(json_array_size(json_object_get(g, "labels")), 2);
        else ck_assert_msg(e && strstr(json_string_value(e), why[i]), "record %d: %s", i + 1, json_string_value(e));
    }
    json_decref(got);
    o.strict = true; /* stops at record 2 with the first one written */
    got = run_zs(m, tok, &z, input, &o, &st, &stats);
    ck_assert_int_eq(st, SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "record 2"));
    ck_assert_int_eq(json_array_size(got), 1);
    json_decref(got);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* An NLI fixture against transformers' zero-shot pipeline: labels as the
 * pipeline ranked them, scores within 1e-4, single- and multi-label. */
static void nli_vs_pipeline(const char *fixture, const char *arch, int64_t entail, int64_t contra, const char *what) {
    char dir[2300], tp[2400], p[2400];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", th_root, fixture);
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_t *gold = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(gold);
    const char *tk = json_string_value(json_object_get(gold, "tokenizer"));
    snprintf(tp, sizeof tp, "%s/%s%s", th_root, tk, strstr(tk, "assets/tokenizers") ? "/tokenizer.json" : "");
    senti_model *m = senti_model_load(dir, 2);
    senti_tokenizer *tok = senti_tokenizer_load(tp);
    ck_assert_msg(m && tok, "%s", senti_last_error());
    ck_assert_str_eq(senti_model_architecture(m), arch);
    json_t *texts = json_object_get(gold, "texts");
    const int64_t n = (int64_t)json_array_size(texts);
    /* JSONL input: one record per text */
    size_t cap = 1 << 16, len = 0;
    char *input = malloc(cap);
    for (int64_t i = 0; i < n; i++) {
        json_t *r = json_pack("{s:I,s:s}", "id", (json_int_t)i, "text", json_string_value(json_array_get(texts, i)));
        char *line = json_dumps(r, JSON_COMPACT);
        const size_t k = strlen(line);
        while (len + k + 2 > cap) input = realloc(input, cap *= 2);
        memcpy(input + len, line, k), len += k, input[len++] = '\n', input[len] = '\0';
        free(line), json_decref(r);
    }
    size_t ci;
    json_t *c;
    double worst = 0;
    json_array_foreach(json_object_get(gold, "zero_shot"), ci, c) {
        json_t *cands = json_object_get(c, "candidate_labels");
        const char *labels[8];
        const int64_t nl = (int64_t)json_array_size(cands);
        for (int64_t k = 0; k < nl; k++) labels[k] = json_string_value(json_array_get(cands, (size_t)k));
        task_zeroshot z;
        ck_assert_int_eq(task_zeroshot_init(&z, m, labels, nl, json_string_value(json_object_get(c, "template")),
                                            json_is_true(json_object_get(c, "multi_label"))),
                         SENTI_OK);
        ck_assert_int_eq(z.entail_id, entail);
        ck_assert_int_eq(z.contra_id, contra);
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 4;
        senti_status st;
        task_stats stats;
        json_t *got = run_zs(m, tok, &z, input, &o, &st, &stats);
        ck_assert_int_eq(st, SENTI_OK);
        ck_assert_int_eq(json_array_size(got), (size_t)n);
        json_t *res = json_object_get(c, "results");
        for (int64_t i = 0; i < n; i++) {
            json_t *g = json_array_get(got, (size_t)i), *w = json_array_get(res, (size_t)i);
            for (int64_t k = 0; k < nl; k++) {
                ck_assert_str_eq(json_string_value(json_array_get(json_object_get(g, "labels"), (size_t)k)),
                                 json_string_value(json_array_get(json_object_get(w, "labels"), (size_t)k)));
                const double e = fabs(json_real_value(json_array_get(json_object_get(g, "scores"), (size_t)k)) -
                                      json_real_value(json_array_get(json_object_get(w, "scores"), (size_t)k)));
                ck_assert_msg(e <= 1e-4, "text %lld label %lld: score off by %g", (long long)i, (long long)k, e);
                worst = fmax(worst, e);
            }
        }
        json_decref(got);
    }
    printf("test_zeroshot: %s vs transformers' pipeline, worst score difference %.3g\n", what, worst);
    free(input);
    json_decref(gold);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}

/* A DeBERTa-v3-shaped NLI model (entailment / neutral / contradiction) with
 * the DeBERTa-v3 spm.model tokenizer. */
START_TEST(test_deberta_nli) {
    nli_vs_pipeline("deberta-nli", "DebertaV2ForSequenceClassification", 0, 2, "DeBERTa-v3 NLI");
}
END_TEST

/* A BART-MNLI-shaped model (contradiction / neutral / entailment: the
 * entailment column from label2id) with the roberta-base BPE
 * (tools/fixtures/make_encdec_fixtures.py). */
START_TEST(test_bart_mnli) {
    if (!th_shared_tokenizer("roberta-base", g_tok, sizeof g_tok)) return;
    nli_vs_pipeline("bart-mnli", "BartForSequenceClassification", 2, 0, "BART-MNLI");
}
END_TEST

int main(void) {
    th_init_root();
    snprintf(g_nli, sizeof g_nli, "%s/tests/fixtures/tasks/bert-nli", th_root);
    snprintf(g_sst, sizeof g_sst, "%s/tests/fixtures/tasks/bert-sst2", th_root);
    Suite *s = suite_create("zeroshot");
    TCase *tc = tcase_create("nli");
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_alone_and_order);
    tcase_add_test(tc, test_bad_records);
    tcase_add_test(tc, test_deberta_nli);
    tcase_add_test(tc, test_bart_mnli);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
