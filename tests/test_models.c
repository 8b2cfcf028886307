/* test_models.c — the real models: the embedded default model
 * (models/sst2-minilm-l6-q8_0.gguf, made by tools/train/train_sst2.py) is a
 * small self-contained GGUF with its labels, tokenizer and provenance, and on
 * SST-2 dev it gives PyTorch's predictions (the f32 probabilities stored in
 * tests/fixtures/models/sst2-dev-pytorch.jsonl): labels identical on >= 99.5%
 * of the 872 sentences and the probabilities within 1e-2 on average (each
 * within 0.1) for the q8_0 file;
 * the f32 GGUF, where the training cache holds it (../train-cache/sst2/ or
 * SENTI_TEST_SST2_F32), within 1e-4 with every label identical. The ABSA
 * tagger, where committed, against the transformers pipeline's spans. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "tasks/tasks.h"
#include "tests/testutil.h"

static char g_root[2048];

/* The share of 14res test sentences whose q8_0 span set must equal PyTorch's
 * (f32): set below what was measured (484, 482 and 482 of 492 at the
 * AVX-512, AVX2 and scalar levels; bench/MODELS.md), since q8_0 token
 * embeddings and activations move a borderline token's tag. */
#define TAGGER_MIN_AGREE 0.96

START_TEST(test_default_model_file) {
    const char *path = senti_default_model();
    ck_assert_msg(path != NULL, "the default model is missing (models/sst2-minilm-l6-q8_0.gguf)");
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_le(sb.st_size, 30 * 1000 * 1000);
    gguf_file *f = gguf_file_load(path);
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    static const char *const keys[] = {"general.description", "general.base_model.0.name", "general.source.url",
                                       "general.license", "senti.train.seed", "senti.hf.config",
                                       "tokenizer.huggingface.json", "bert.classifier.output_labels"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(gguf_file_find_kv(f, keys[i]) != NULL, "%s lacks %s", path, keys[i]);
    const gguf_tensor *te = gguf_file_find_tensor(f, "token_embd.weight");
    ck_assert_ptr_nonnull(te);
    ck_assert_int_eq(te->type, SENTI_TYPE_Q8_0);
    gguf_file_free(f);
    senti_model *m = senti_model_load(path, 0);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_model_num_labels(m), 2);
    ck_assert_str_eq(senti_model_label(m, 0), "negative");
    ck_assert_str_eq(senti_model_label(m, 1), "positive");
    senti_model_free(m);
}
END_TEST

/* Run the model at path over SST-2 dev and compare with PyTorch's rows: the
 * share of labels that agree, the mean and the largest probability difference. */
static void compare_dev(const char *path, double min_agree, double max_mean, double max_diff) {
    char data[2300], fx[2300];
    snprintf(data, sizeof data, "%s/../shared/assets/data/sst2/dev.tsv", g_root);
    snprintf(fx, sizeof fx, "%s/tests/fixtures/models/sst2-dev-pytorch.jsonl", g_root);
    json_t *gold = NULL;
    ck_assert_msg(task_dataset_read(data, TASK_FORMAT_AUTO, &gold, NULL) == SENTI_OK, "%s", senti_last_error());
    const size_t n = json_array_size(gold);
    ck_assert_int_eq(n, 872);
    const char **texts = calloc(n, sizeof *texts);
    for (size_t i = 0; i < n; i++) texts[i] = json_string_value(json_object_get(json_array_get(gold, i), "text"));
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    senti_task *t = senti_task_load(path, &o);
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    senti_results *r = NULL;
    ck_assert_msg(senti_task_run(t, texts, (int64_t)n, &r) == SENTI_OK, "%s", senti_last_error());
    FILE *f = fopen(fx, "rb");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    size_t i = 0, same = 0;
    double worst = 0, sum = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *p = json_loads(line, 0, &je);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_lt(i, n);
        ck_assert_ptr_null(senti_result_error(r, (int64_t)i));
        same += !strcmp(senti_result_label(r, (int64_t)i, 0, 0), json_string_value(json_object_get(p, "label")));
        for (int64_t k = 0; k < senti_result_num_labels(r, (int64_t)i, 0); k++) {
            double want = json_number_value(json_object_get(json_object_get(p, "scores"),
                                                            senti_result_label(r, (int64_t)i, 0, k)));
            double d = fabs(senti_result_score(r, (int64_t)i, 0, k) - want);
            worst = d > worst ? d : worst;
            if (k == 0) sum += d; /* two labels: both differ by the same amount */
        }
        json_decref(p);
        i++;
    }
    fclose(f);
    ck_assert_int_eq(i, n);
    const double mean = sum / (double)n;
    fprintf(stderr, "test_models: %s: labels as PyTorch on %zu of %zu, probability difference mean %.2e, largest %.2e\n",
            path, same, n, mean, worst);
    ck_assert_msg((double)same >= min_agree * (double)n, "%s: %zu of %zu labels as PyTorch", path, same, n);
    ck_assert_msg(mean <= max_mean, "%s: the probabilities differ from PyTorch's by %g on average", path, mean);
    ck_assert_msg(worst <= max_diff, "%s: a probability differs from PyTorch's by %g", path, worst);
    senti_results_free(r);
    senti_task_free(t);
    free(texts);
    json_decref(gold);
}

START_TEST(test_sst2_dev_q8_0) {
    char data[2300];
    snprintf(data, sizeof data, "%s/../shared/assets/data/sst2/dev.tsv", g_root);
    if (access(data, R_OK) != 0) {
        fprintf(stderr, "test_models: %s not found: SST-2 dev comparison skipped\n", data);
        return;
    }
    /* q8_0 weights (activations rounded to q8_0 too, as ggml does) move a
     * borderline sentence's probability by up to ~0.06 (bench/MODELS.md: mean
     * 2e-3, 94% of sentences within 1e-2), so 1e-2 bounds the mean; the
     * largest difference is held under 0.1. */
    compare_dev(senti_default_model(), 0.995, 1e-2, 0.1);
}
END_TEST

START_TEST(test_sst2_dev_f32) {
    char path[2300], data[2300];
    const char *env = getenv("SENTI_TEST_SST2_F32");
    snprintf(path, sizeof path, "%s", env && *env ? env : "");
    if (!path[0]) snprintf(path, sizeof path, "%s/../train-cache/sst2/model-f32.gguf", g_root);
    snprintf(data, sizeof data, "%s/../shared/assets/data/sst2/dev.tsv", g_root);
    if (access(path, R_OK) != 0 || access(data, R_OK) != 0) {
        fprintf(stderr, "test_models: no f32 weights at %s (tools/train/train_sst2.py makes them; or set "
                        "SENTI_TEST_SST2_F32): the f32 comparison is skipped\n", path);
        return;
    }
    compare_dev(path, 1.0, 1e-4, 1e-4);
}
END_TEST

/* The ABSA tagger (models/absa-tagger-minilm-l6-q8_0.gguf, tools/train/train_tagger.py)
 * on the ASTE-Data-V2 14res test set: the span set of each sentence (type,
 * start, end with --aggregation first) as transformers' pipeline gives it
 * with the f32 weights, stored in tests/fixtures/models. */
START_TEST(test_tagger_14res) {
    char path[2300], data[2300], fx[2300];
    snprintf(path, sizeof path, "%s/models/absa-tagger-minilm-l6-q8_0.gguf", g_root);
    snprintf(data, sizeof data, "%s/../shared/assets/data/aste-data-v2/14res/test_triplets.txt", g_root);
    snprintf(fx, sizeof fx, "%s/tests/fixtures/models/tagger-14res-test-pytorch.jsonl", g_root);
    if (access(path, R_OK) != 0 || access(data, R_OK) != 0) {
        fprintf(stderr, "test_models: %s or %s not found: the tagger comparison is skipped\n", path, data);
        return;
    }
    json_t *gold = NULL;
    ck_assert_int_eq(task_dataset_read(data, TASK_FORMAT_AUTO, &gold, NULL), SENTI_OK);
    const size_t n = json_array_size(gold);
    const char **texts = calloc(n, sizeof *texts);
    for (size_t i = 0; i < n; i++) texts[i] = json_string_value(json_object_get(json_array_get(gold, i), "text"));
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_TAG);
    o.aggregation = SENTI_AGG_FIRST;
    senti_task *t = senti_task_load(path, &o);
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    senti_results *r = NULL;
    ck_assert_msg(senti_task_run(t, texts, (int64_t)n, &r) == SENTI_OK, "%s", senti_last_error());
    FILE *f = fopen(fx, "rb");
    ck_assert_ptr_nonnull(f);
    char line[65536];
    size_t i = 0, same = 0;
    while (fgets(line, sizeof line, f) && i < n) {
        json_t *p = json_loads(line, 0, NULL), *got = json_loads(senti_result_json(r, (int64_t)i), 0, NULL);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(got);
        json_t *a = json_object_get(p, "spans"), *b = json_object_get(got, "spans");
        bool eq = json_array_size(a) == json_array_size(b);
        for (size_t k = 0; eq && k < json_array_size(a); k++) { /* both in text order */
            json_t *x = json_array_get(a, k), *y = json_array_get(b, k);
            eq = json_equal(json_object_get(x, "type"), json_object_get(y, "type")) &&
                 json_equal(json_object_get(x, "start"), json_object_get(y, "start")) &&
                 json_equal(json_object_get(x, "end"), json_object_get(y, "end"));
        }
        same += eq;
        json_decref(p);
        json_decref(got);
        i++;
    }
    fclose(f);
    ck_assert_int_eq(i, n);
    fprintf(stderr, "test_models: tagger: the span set as PyTorch's on %zu of %zu sentences\n", same, n);
    ck_assert_msg((double)same >= TAGGER_MIN_AGREE * (double)n, "tagger: %zu of %zu sentences as PyTorch", same, n);
    senti_results_free(r);
    senti_task_free(t);
    free(texts);
    json_decref(gold);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("sst2");
    tcase_add_test(tc, test_default_model_file);
    tcase_add_test(tc, test_sst2_dev_q8_0);
    tcase_add_test(tc, test_sst2_dev_f32);
    tcase_add_test(tc, test_tagger_14res);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf == 0 ? 0 : 1;
}
