/* test_explain.c — `classify --explain` against transformers
 * (tools/fixtures/make_explain_fixtures.py on tests/fixtures/explain): each
 * word's occlusion score and the attention rollout within 1e-4 of the
 * Python reference, integrated gradients by finite differences within 1e-4
 * of torch autograd IG at the same 16 steps (and their sum within 2e-3 of
 * f(x) - f(baseline)); code-point offsets and texts of every unit; the same
 * bytes whatever the batch and the batch mates; the extras of the forward
 * (embedding scale 1 = the plain forward, attention rows summing to 1);
 * UNSUPPORTED for rollout / ig on a family without them; the HTML view. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "senti.h"
#include "tasks/tasks.h"
#include "task_helpers.h"

static char g_root[2048], g_dir[2300], g_tok[2300];
static json_t *g_gold;

static void setup(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/explain/bert-explain", g_root);
    snprintf(g_tok, sizeof g_tok, "%s/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json", g_root);
    char p[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/explain/golden.json", g_root);
    json_error_t err;
    g_gold = json_load_file(p, 0, &err);
    if (!g_gold) fprintf(stderr, "golden.json: %s\n", err.text);
}

/* classify texts with explanations x into memory; the output (caller frees). */
static char *run(senti_model *m, const senti_tokenizer *tok, const task_explain *x, const char *const *texts,
                 int64_t n, int64_t batch) {
    task_classify c;
    ck_assert_int_eq(task_classify_init(&c, m, NULL, 0, 0.5), SENTI_OK);
    c.explain = x;
    task_runner_opts o = task_runner_opts_defaults();
    o.batch_size = batch;
    return th_classify_texts(m, tok, &c, texts, n, &o, NULL);
}

static const char *TEXTS[8];
static int64_t n_texts(void) {
    json_t *ts = json_object_get(g_gold, "texts");
    for (size_t i = 0; i < json_array_size(ts); i++)
        TEXTS[i] = json_string_value(json_object_get(json_array_get(ts, i), "text"));
    return (int64_t)json_array_size(ts);
}

/* Compare method's units of every record with the golden key (spans from spans_key). */
static void compare(const char *method, const char *key, const char *spans_key, double tol) {
    senti_model *m = senti_model_load(g_dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    task_explain x;
    ck_assert_int_eq(task_explain_init(&x, m, tok, task_explain_method_from_name(method)), SENTI_OK);
    const int64_t n = n_texts();
    char *base = run(m, tok, &x, TEXTS, n, 1);
    json_t *res = th_lines_copy(base);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        json_t *g = json_array_get(json_object_get(g_gold, "texts"), (size_t)i);
        json_t *ex = json_object_get(json_array_get(res, (size_t)i), "explain");
        ck_assert_str_eq(json_string_value(json_object_get(ex, "method")), method);
        ck_assert_str_eq(json_string_value(json_object_get(ex, "label")), json_string_value(json_object_get(g, "label")));
        ck_assert(fabs(json_real_value(json_object_get(ex, "score")) - json_real_value(json_object_get(g, "score"))) < 1e-5);
        json_t *units = json_object_get(ex, "tokens"), *want = json_object_get(g, key), *spans = json_object_get(g, spans_key);
        ck_assert_int_eq(json_array_size(units), json_array_size(want));
        const char *text = TEXTS[i];
        for (size_t k = 0; k < json_array_size(units); k++) {
            json_t *u = json_array_get(units, k), *sp = json_array_get(spans, k), *w = json_array_get(want, k);
            const double ws = json_is_object(w) ? json_real_value(json_object_get(w, "score")) : json_real_value(w);
            const int64_t s0 = json_integer_value(json_object_get(u, "start")), s1 = json_integer_value(json_object_get(u, "end"));
            ck_assert_int_eq(s0, json_integer_value(json_object_get(sp, "start")));
            ck_assert_int_eq(s1, json_integer_value(json_object_get(sp, "end")));
            /* the unit's text is the code points [start, end) of the input */
            size_t b = 0, b0 = 0, b1 = 0;
            for (int64_t cp = 0; text[b]; cp++) {
                if (cp == s0) b0 = b;
                do b++;
                while (((unsigned char)text[b] & 0xC0) == 0x80);
                if (cp + 1 == s1) b1 = b;
            }
            ck_assert_int_eq(strlen(json_string_value(json_object_get(u, "text"))), b1 - b0);
            ck_assert(strncmp(json_string_value(json_object_get(u, "text")), text + b0, b1 - b0) == 0);
            const double d = fabs(json_real_value(json_object_get(u, "score")) - ws);
            worst = fmax(worst, d);
            ck_assert_msg(d <= tol, "%s text %lld unit %zu: %.9g vs %.9g", method, (long long)i, k,
                          json_real_value(json_object_get(u, "score")), ws);
        }
    }
    fprintf(stderr, "explain %s: max |senti - reference| = %.3g (bound %.g)\n", method, worst, tol);
    /* the same bytes with every record in one batch, and a record alone */
    char *together = run(m, tok, &x, TEXTS, n, 32);
    ck_assert_str_eq(together, base);
    char *alone = run(m, tok, &x, TEXTS + 1, 1, 1);
    json_t *a = th_lines_copy(alone);
    ck_assert(json_equal(json_object_get(json_array_get(a, 0), "explain"), json_object_get(json_array_get(res, 1), "explain")));
    json_decref(a);
    free(alone);
    free(together);
    free(base);
    json_decref(res);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}

START_TEST(test_occlusion) { compare("occlusion", "occlusion", "occlusion", 1e-4); }
END_TEST

START_TEST(test_rollout) { compare("rollout", "rollout", "tokens", 1e-4); }
END_TEST

START_TEST(test_ig) {
    compare("ig", "ig", "tokens", 1e-4);
    /* completeness: the attributions add up to f(x) - f(baseline) (the Riemann sum's error aside) */
    json_t *ts = json_object_get(g_gold, "texts");
    for (size_t i = 0; i < json_array_size(ts); i++) {
        json_t *g = json_array_get(ts, i), *ig = json_object_get(g, "ig_fine");
        double sum = 0;
        for (size_t k = 0; k < json_array_size(ig); k++) sum += json_real_value(json_array_get(ig, k));
        const double delta = json_real_value(json_object_get(g, "score")) - json_real_value(json_object_get(g, "ig_baseline_score"));
        ck_assert_msg(fabs(sum - delta) < 2e-3, "text %zu: sum IG %g vs f(x) - f(0) %g", i, sum, delta);
    }
}
END_TEST

/* the forward's extras: scale 1 is the plain forward; attention rows sum to 1 */
START_TEST(test_forward_extras) {
    senti_model *m = senti_model_load(g_dir, 1);
    ck_assert_ptr_nonnull(m);
    const int32_t ids[2][6] = {{101, 1996, 3185, 2001, 2204, 102}, {101, 6659, 102, 0, 0, 0}};
    const int32_t mask[2][6] = {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0}};
    float scale[12], *plain = NULL, *ext = NULL;
    for (int i = 0; i < 12; i++) scale[i] = 1.0f;
    const int64_t NL = senti_model_num_layers(m), NH = senti_model_num_heads(m);
    float *attn = malloc((size_t)(NL * 2 * NH * 36) * sizeof *attn);
    senti_forward_opts fo = {.emb_scale = scale, .attn = attn};
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, &ids[0][0], NULL, &mask[0][0], 2, 6, &plain, shape, &nd), SENTI_OK);
    ck_assert_int_eq(senti_model_forward_opts(m, &ids[0][0], NULL, &mask[0][0], 2, 6, &fo, &ext, shape, &nd), SENTI_OK);
    for (int i = 0; i < 2 * shape[1]; i++) ck_assert(fabsf(plain[i] - ext[i]) < 1e-5f);
    for (int64_t l = 0; l < NL; l++)
        for (int64_t b = 0; b < 2; b++)
            for (int64_t h = 0; h < NH; h++)
                for (int64_t i = 0; i < (b ? 3 : 6); i++) {
                    double z = 0;
                    for (int64_t j = 0; j < 6; j++) {
                        const float p = attn[(((l * 2 + b) * NH + h) * 6 + i) * 6 + j];
                        if (b == 1 && j >= 3) ck_assert(p == 0.0f); /* padding keys masked out */
                        z += p;
                    }
                    ck_assert(fabs(z - 1.0) < 1e-5);
                }
    /* scale 0 on a content token changes the logits */
    scale[2] = 0.0f;
    senti_model_output_free(ext);
    ck_assert_int_eq(senti_model_forward_opts(m, &ids[0][0], NULL, &mask[0][0], 2, 6, &fo, &ext, shape, &nd), SENTI_OK);
    ck_assert(fabsf(plain[0] - ext[0]) > 1e-4f || fabsf(plain[1] - ext[1]) > 1e-4f);
    senti_model_output_free(ext);
    senti_model_output_free(plain);
    free(attn);
    senti_model_free(m);
    /* a family without the extras says so */
    char dir[2400];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/deberta-v3-seq-h24-a3-l2-gelu", g_root);
    m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(m);
    task_explain x;
    ck_assert_int_eq(task_explain_init(&x, m, tok, TASK_EXPLAIN_ROLLOUT), SENTI_ERR_UNSUPPORTED);
    ck_assert_int_eq(task_explain_init(&x, m, tok, TASK_EXPLAIN_IG), SENTI_ERR_UNSUPPORTED);
    ck_assert_int_eq(task_explain_init(&x, m, tok, TASK_EXPLAIN_OCCLUSION), SENTI_OK);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_html) {
    senti_model *m = senti_model_load(g_dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    task_explain x;
    ck_assert_int_eq(task_explain_init(&x, m, tok, TASK_EXPLAIN_OCCLUSION), SENTI_OK);
    char *page = NULL;
    size_t len = 0;
    x.html = open_memstream(&page, &len);
    task_explain_html_begin(x.html);
    const char *texts[] = {"a <b> & \"c\" film", "Café au lait wasn't great!!"};
    free(run(m, tok, &x, texts, 2, 4));
    ck_assert_int_eq(task_explain_html_end(x.html), SENTI_OK);
    fclose(x.html);
    ck_assert_ptr_nonnull(strstr(page, "<!DOCTYPE html>"));
    ck_assert_ptr_nonnull(strstr(page, "&lt;"));     /* escaped */
    ck_assert_ptr_null(strstr(page, "<b>"));
    ck_assert_ptr_nonnull(strstr(page, ">Café</span>")); /* a word's span, whole code points */
    ck_assert_ptr_nonnull(strstr(page, "</body></html>"));
    free(page);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("explain");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_occlusion);
    tcase_add_test(tc, test_rollout);
    tcase_add_test(tc, test_ig);
    tcase_add_test(tc, test_forward_extras);
    tcase_add_test(tc, test_html);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    setup();
    if (!g_gold || access(g_tok, R_OK) != 0) {
        fprintf(stderr, "test_explain: fixtures or ../shared tokenizer missing\n");
        return 1;
    }
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    json_decref(g_gold);
    return nf == 0 ? 0 : 1;
}
