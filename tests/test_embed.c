/* test_embed.c — sentence embeddings (tasks/embed.c, senti_model_sentence_config)
 * against sentence-transformers on a tiny sentence-transformers directory
 * (tests/fixtures/embed, made by tools/fixtures/make_embed_fixture.py) with the
 * real bert-base-uncased tokenizer: the directory's own settings (mean pooling,
 * Normalize, max_seq_length 12 so that long texts are truncated), then max and
 * cls pooling without normalisation; every embedding within 1e-5 (cosine >=
 * 0.99999 as well), records in order whatever the batching; a sequence
 * classifier or a text pair is refused. (The real all-MiniLM-L6-v2 is checked
 * by tools/fixtures/check_embed.py; figures in bench/RESULTS.md.) */
#include "task_helpers.h"

static char g_tok[2300], g_dir[2300];

typedef struct emb_ctx {
    senti_model *m;
    const senti_tokenizer *tok;
    const task_embed *e;
    const task_runner_opts *o;
} emb_ctx;

static senti_status emb_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    const emb_ctx *c = ctx;
    return task_embed_run(c->m, c->tok, c->e, src, out, c->o, st);
}

START_TEST(test_golden) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    char p[2400];
    snprintf(p, sizeof p, "%s/golden.json", g_dir);
    json_t *gold = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(gold);
    senti_model *m = senti_model_load(g_dir, 2);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_msg(m && tok, "%s", senti_last_error());
    senti_pooling pool;
    int norm;
    int64_t max_len;
    ck_assert_int_eq(senti_model_sentence_config(m, &pool, &norm, &max_len), 1);
    ck_assert_int_eq(pool, SENTI_POOL_MEAN);
    ck_assert_int_eq(norm, 1);
    ck_assert_int_eq(max_len, 12);
    json_t *texts = json_object_get(gold, "texts");
    const int64_t n = (int64_t)json_array_size(texts);
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
    double worst = 0, worst_cos = 1;
    json_array_foreach(json_object_get(gold, "cases"), ci, c) {
        task_embed e;
        const char *mode = json_string_value(json_object_get(c, "pooling"));
        const bool normalize = json_is_true(json_object_get(c, "normalize"));
        /* the first case is the directory's own settings; the others override them */
        ck_assert_int_eq(task_embed_init(&e, m, ci ? mode : NULL, ci ? normalize : -1), SENTI_OK);
        for (int small = 0; small < 2; small++) {
            task_runner_opts o = task_runner_opts_defaults();
            if (small) o.batch_size = 3, o.window = 5;
            emb_ctx x = {m, tok, &e, &o};
            senti_status st;
            task_stats stats;
            json_t *got = th_run_input(input, emb_fn, &x, &st, &stats);
            ck_assert_int_eq(st, SENTI_OK);
            ck_assert_int_eq(json_array_size(got), (size_t)n);
            ck_assert_int_gt(stats.truncated, 0);
            json_t *want = json_object_get(c, "embeddings");
            for (int64_t i = 0; i < n; i++) {
                json_t *g = json_object_get(json_array_get(got, (size_t)i), "embedding"), *w = json_array_get(want, i);
                ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(got, (size_t)i), "id")), i);
                ck_assert_int_eq(json_array_size(g), json_array_size(w));
                double dot = 0, ng = 0, nw = 0;
                for (size_t k = 0; k < json_array_size(w); k++) {
                    const double a = json_number_value(json_array_get(g, k)), b = json_number_value(json_array_get(w, k));
                    ck_assert_msg(fabs(a - b) <= 1e-5, "%s text %lld dim %zu: %.7g vs %.7g", mode, (long long)i, k, a, b);
                    worst = fmax(worst, fabs(a - b));
                    dot += a * b, ng += a * a, nw += b * b;
                }
                const double cos = dot / sqrt(ng * nw);
                ck_assert_msg(cos >= 0.99999, "%s text %lld: cosine %.8f", mode, (long long)i, cos);
                worst_cos = fmin(worst_cos, cos);
            }
            json_decref(got);
        }
    }
    printf("test_embed: %lld texts x 3 poolings vs sentence-transformers: max |diff| %.3g, min cosine %.8f\n",
           (long long)n, worst, worst_cos);
    free(input);
    json_decref(gold);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_refused) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    char d[2400];
    snprintf(d, sizeof d, "%s/tests/fixtures/tasks/bert-sst2", th_root);
    senti_model *cls = senti_model_load(d, 1), *m = senti_model_load(g_dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert(cls && m && tok);
    task_embed e;
    ck_assert_int_eq(task_embed_init(&e, cls, NULL, -1), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "base encoder"));
    ck_assert_int_eq(task_embed_init(&e, m, "median", -1), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(senti_model_sentence_config(cls, NULL, NULL, NULL), 0); /* no modules.json */
    ck_assert_int_eq(task_embed_init(&e, m, NULL, 0), SENTI_OK);
    ck_assert(!e.normalize);
    static const char input[] = "{\"id\":1,\"text\":\"fine\"}\n{\"id\":2,\"text\":\"a\",\"text_pair\":\"b\"}\n{\"id\":3}\n";
    task_runner_opts o = task_runner_opts_defaults();
    emb_ctx x = {m, tok, &e, &o};
    senti_status st;
    task_stats stats;
    json_t *got = th_run_input(input, emb_fn, &x, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 3);
    ck_assert_int_eq(json_array_size(json_object_get(json_array_get(got, 0), "embedding")), 8);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(got, 1), "error")), "text_pair"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(got, 2), "error"));
    json_decref(got);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    senti_model_free(cls);
}
END_TEST

int main(void) {
    th_init_root();
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/embed", th_root);
    Suite *s = suite_create("embed");
    TCase *tc = tcase_create("embed");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_golden);
    tcase_add_test(tc, test_refused);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
