/* test_encoders.c — every encoder fixture (tests/fixtures/encoders/NAME, made
 * by tools/fixtures/make_encoder_fixtures.py with HF transformers) loaded and
 * run through the public model API: the padded batch and each input alone
 * match transformers at max relative error 1e-4 (with an error floor of 1% of
 * the tensor's max |value| for near-zero entries); each input's row of the
 * padded batch is byte-identical to the input run alone (batch invariance:
 * packed or padded, a row's sums run in one order) and, for a sequence head,
 * to the batch whose last layer computes every row (SENTI_PRUNE=0);
 * f16 / bf16 checkpoints also match their f32 originals within 1e-2 with the
 * same argmax; and broken copies of a fixture fail with a message naming the
 * file and the culprit. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h" /* senti_clear_error */
#include "senti.h"
#include "testutil.h"

#define MAX_FIX 64
static char g_root[2048];
static char g_names[MAX_FIX][256];
static int g_n;
static double g_worst; /* worst relative error over all fixtures, printed at the end */

static void init_paths(void) { test_repo_root(__FILE__, g_root, sizeof g_root); }

static void list_fixtures(void) {
    char p[2300];
    snprintf(p, sizeof p, "%s/tests/fixtures/encoders", g_root);
    g_n = test_list_dir(p, "", g_names[0], MAX_FIX, sizeof g_names[0]);
}

/* ---- comparing ------------------------------------------------------------------ */

typedef struct ref {
    int ndim;
    int64_t shape[3];
    int64_t n;
    float *data; /* malloc */
} ref;

static ref ref_get(json_t *obj, const char *what) {
    ref r = {0};
    json_t *shape = json_object_get(obj, "shape"), *data = json_object_get(obj, "data");
    ck_assert_msg(json_is_array(shape) && json_is_array(data), "golden: %s lacks shape/data", what);
    r.ndim = (int)json_array_size(shape);
    r.n = 1;
    for (int i = 0; i < r.ndim; i++) r.n *= r.shape[i] = json_integer_value(json_array_get(shape, (size_t)i));
    ck_assert_int_eq(r.n, (int64_t)json_array_size(data));
    r.data = malloc((size_t)r.n * sizeof(float));
    for (int64_t i = 0; i < r.n; i++) r.data[i] = (float)json_number_value(json_array_get(data, (size_t)i));
    return r;
}

/* max over i with keep(i) of |a - b| / max(|b|, 1e-2 * max|b|) */
static double rel_err(const float *a, const float *b, int64_t n, const int32_t *keep_rows, int64_t row) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (!keep_rows || keep_rows[i / row]) mx = fmax(mx, fabs(b[i]));
    const double floor = fmax(1e-2 * mx, 1e-30);
    for (int64_t i = 0; i < n; i++) {
        if (keep_rows && !keep_rows[i / row]) continue;
        double e = fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), floor);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static const char *main_key(senti_model_head h) {
    return h == SENTI_HEAD_BASE ? "last_hidden_state" : "logits";
}

static json_t *load_golden(const char *dir) {
    char p[2400];
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_error_t err;
    json_t *g = json_load_file(p, 0, &err);
    ck_assert_msg(g != NULL, "%s: %s", p, err.text);
    return g;
}

static int32_t *ints_2d(json_t *rows, int64_t B, int64_t T) {
    int32_t *v = calloc((size_t)(B * T), sizeof *v);
    for (int64_t b = 0; b < B; b++) {
        json_t *r = json_array_get(rows, (size_t)b);
        for (int64_t t = 0; t < T; t++) v[b * T + t] = (int32_t)json_integer_value(json_array_get(r, (size_t)t));
    }
    return v;
}

static int32_t *ints_1d(json_t *a, int64_t n) {
    int32_t *v = calloc((size_t)n, sizeof *v);
    for (int64_t t = 0; t < n; t++) v[t] = (int32_t)json_integer_value(json_array_get(a, (size_t)t));
    return v;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

START_TEST(test_fixture) {
    const char *name = g_names[_i];
    char dir[2300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/%s", g_root, name);
    json_t *gold = load_golden(dir);
    senti_model *m = senti_model_load(dir, 2);
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    const senti_model_head head = senti_model_get_head(m);

    /* info */
    ck_assert_str_eq(senti_model_architecture(m), json_string_value(json_object_get(gold, "architecture")));
    ck_assert_int_eq(senti_model_num_parameters(m), json_integer_value(json_object_get(gold, "num_parameters")));
    ck_assert_int_eq(senti_model_max_length(m), json_integer_value(json_object_get(gold, "max_len")));
    json_t *labels = json_object_get(gold, "id2label");
    if (json_is_array(labels)) {
        ck_assert_int_eq(senti_model_num_labels(m), (int64_t)json_array_size(labels));
        for (size_t i = 0; i < json_array_size(labels); i++)
            ck_assert_str_eq(senti_model_label(m, (int64_t)i), json_string_value(json_array_get(labels, i)));
    }

    /* the padded batch */
    json_t *batch = json_object_get(gold, "batch");
    json_t *bids = json_object_get(batch, "input_ids");
    const int64_t B = (int64_t)json_array_size(bids), T = (int64_t)json_array_size(json_array_get(bids, 0));
    int32_t *ids = ints_2d(bids, B, T), *mask = ints_2d(json_object_get(batch, "attention_mask"), B, T);
    json_t *btypes = json_object_get(batch, "token_type_ids");
    int32_t *types = btypes ? ints_2d(btypes, B, T) : NULL;
    float *out = NULL;
    int64_t shape[3];
    int ndim;
    ck_assert_msg(senti_model_forward(m, ids, types, mask, B, T, &out, shape, &ndim) == SENTI_OK, "%s: %s", name,
                  senti_last_error());
    ref want = ref_get(json_object_get(json_object_get(gold, "outputs"), main_key(head)), "outputs");
    ck_assert_int_eq(ndim, want.ndim);
    for (int i = 0; i < ndim; i++) ck_assert_int_eq(shape[i], want.shape[i]);
    const bool per_token = head != SENTI_HEAD_SEQUENCE_CLASSIFICATION;
    const int64_t row = want.shape[want.ndim - 1];
    double e = rel_err(out, want.data, want.n, per_token ? mask : NULL, row);
    ck_assert_msg(e <= 1e-4, "%s: batch max relative error %g", name, e);
    g_worst = fmax(g_worst, e);

    if (!per_token) { /* a sequence head's last layer for the first tokens only (the default) or for every row */
        float *full = NULL;
        setenv("SENTI_PRUNE", "0", 1);
        ck_assert_msg(senti_model_forward(m, ids, types, mask, B, T, &full, shape, &ndim) == SENTI_OK, "%s: %s", name,
                      senti_last_error());
        unsetenv("SENTI_PRUNE");
        ck_assert_msg(memcmp(full, out, (size_t)want.n * sizeof *out) == 0,
                      "%s: the batch with every row of the last layer (SENTI_PRUNE=0) is not byte-identical", name);
        senti_model_output_free(full);
    }

    { /* the same model readied by senti_model_prepare (weights packed by a one-token forward): the same bytes */
        senti_model *m2 = senti_model_load(dir, 2);
        ck_assert_msg(m2 && senti_model_prepare(m2) == SENTI_OK, "%s: %s", name, senti_last_error());
        float *o2 = NULL;
        ck_assert_msg(senti_model_forward(m2, ids, types, mask, B, T, &o2, shape, &ndim) == SENTI_OK, "%s: %s", name,
                      senti_last_error());
        ck_assert_msg(memcmp(o2, out, (size_t)want.n * sizeof *out) == 0,
                      "%s: the batch after senti_model_prepare is not byte-identical", name);
        senti_model_output_free(o2);
        senti_model_free(m2);
        ck_assert_int_ne(senti_model_prepare(NULL), SENTI_OK);
    }

    if (head == SENTI_HEAD_BASE) { /* mean pooling over real tokens */
        ref mp = ref_get(json_object_get(json_object_get(gold, "outputs"), "mean_pooled"), "mean_pooled");
        float *pooled = malloc((size_t)mp.n * sizeof(float));
        senti_pool(out, mask, B, T, row, SENTI_POOL_MEAN, pooled);
        double ep = rel_err(pooled, mp.data, mp.n, NULL, 1);
        ck_assert_msg(ep <= 1e-4, "%s: mean pooling max relative error %g", name, ep);
        free(pooled), free(mp.data);
    }

    /* f16 / bf16: against the unrounded f32 original */
    json_t *rf = json_object_get(gold, "reference_f32");
    if (rf) {
        ref r32 = ref_get(json_object_get(json_object_get(rf, "outputs"), main_key(head)), "reference_f32");
        for (int64_t i = 0; i < r32.n; i++)
            if (!per_token || mask[i / row])
                ck_assert_msg(fabs(out[i] - r32.data[i]) < 1e-2, "%s: [%lld] %g vs f32 original %g", name,
                              (long long)i, out[i], r32.data[i]);
        for (int64_t i = 0; i < r32.n / row; i++)
            if (!per_token || mask[i])
                ck_assert_int_eq(argmax(out + i * row, row), argmax(r32.data + i * row, row));
        free(r32.data);
    }

    /* each input alone equals its golden row, and its row of the padded batch byte for byte */
    json_t *inputs = json_object_get(gold, "inputs"), *alone = json_object_get(gold, "alone");
    double worst_alone = 0;
    for (int64_t b = 0; b < B; b++) {
        json_t *inp = json_array_get(inputs, (size_t)b);
        json_t *ai = json_object_get(inp, "input_ids"), *at = json_object_get(inp, "token_type_ids");
        const int64_t n = (int64_t)json_array_size(ai);
        int32_t *id1 = ints_1d(ai, n), *ty1 = at ? ints_1d(at, n) : NULL;
        float *o1 = NULL;
        int64_t s1[3];
        int nd1;
        ck_assert_msg(senti_model_forward(m, id1, ty1, NULL, 1, n, &o1, s1, &nd1) == SENTI_OK, "%s: %s", name,
                      senti_last_error());
        ref w1 = ref_get(json_object_get(json_array_get(alone, (size_t)b), main_key(head)), "alone");
        ck_assert_int_eq(nd1 - 1, w1.ndim);
        for (int i = 0; i < w1.ndim; i++) ck_assert_int_eq(s1[i + 1], w1.shape[i]);
        double e1 = rel_err(o1, w1.data, w1.n, NULL, 1);
        ck_assert_msg(e1 <= 1e-4, "%s: input %lld alone: max relative error %g", name, (long long)b, e1);
        g_worst = fmax(g_worst, e1);
        worst_alone = fmax(worst_alone, e1);
        const float *prow = out + b * (per_token ? T * row : row);
        /* batch invariance: the batch's row is the alone run's, byte for byte */
        ck_assert_msg(memcmp(prow, o1, (size_t)w1.n * sizeof *o1) == 0,
                      "%s: input %lld: its row of the padded batch is not byte-identical to it alone (max relative "
                      "difference %g)", name, (long long)b, rel_err(prow, o1, w1.n, NULL, 1));
        free(w1.data), free(id1), free(ty1);
        senti_model_output_free(o1);
    }
    printf("test_encoders: %-45s max relative error vs transformers: batch %.2e, alone %.2e\n", name, e, worst_alone);
    free(want.data), free(ids), free(mask), free(types);
    senti_model_output_free(out);
    senti_model_free(m);
    json_decref(gold);
}
END_TEST

/* ---- bad models: a copy of a fixture, then broken ---------------------------------- */

static char g_tmp[256];


static char *read_all(const char *p, size_t *n) {
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", p);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc(*n + 1);
    ck_assert(fread(b, 1, *n, f) == *n);
    b[*n] = '\0';
    fclose(f);
    return b;
}

static void write_all(const char *p, const char *b, size_t n) {
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", p);
    ck_assert(fwrite(b, 1, n, f) == n);
    fclose(f);
}

/* Copy fixture `name`'s config.json and model.safetensors into g_tmp,
 * replacing the first `from` by `to` in config.json (cfg_from) and in the
 * safetensors file (st_from; same length). */
static void copy_broken(const char *name, const char *cfg_from, const char *cfg_to, const char *st_from,
                        const char *st_to) {
    const char *files[2] = {"config.json", "model.safetensors"};
    for (int k = 0; k < 2; k++) {
        char src[2400], dst[512];
        snprintf(src, sizeof src, "%s/tests/fixtures/encoders/%s/%s", g_root, name, files[k]);
        snprintf(dst, sizeof dst, "%s/%s", g_tmp, files[k]);
        size_t n;
        char *b = read_all(src, &n);
        const char *from = k ? st_from : cfg_from, *to = k ? st_to : cfg_to;
        if (from) {
            char *at = memmem(b, n, from, strlen(from));
            ck_assert_msg(at != NULL, "%s lacks '%s'", src, from);
            size_t fl = strlen(from), tl = strlen(to);
            char *nb = malloc(n - fl + tl + 1);
            size_t pre = (size_t)(at - b);
            memcpy(nb, b, pre), memcpy(nb + pre, to, tl), memcpy(nb + pre + tl, at + fl, n - pre - fl);
            free(b);
            b = nb, n = n - fl + tl;
        }
        write_all(dst, b, n);
        free(b);
    }
}

static void expect_fail(const char *what, const char *s1, const char *s2) {
    senti_model *m = senti_model_load(g_tmp, 1);
    ck_assert_msg(m == NULL, "%s: loaded", what);
    const char *msg = senti_last_error();
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: %s\n", what, msg);
    ck_assert_msg(strstr(msg, s1) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s1);
    ck_assert_msg(!s2 || strstr(msg, s2) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s2);
}

static void setup(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s/senti-enc-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert(mkdtemp(g_tmp) != NULL);
}
static void teardown(void) { test_rm_tree(g_tmp); }

START_TEST(test_bad_unknown_arch) {
    copy_broken("bert-seq-h24-a3-l2-gelu", "\"BertForSequenceClassification\"", "\"BertForMagic\"", NULL, NULL);
    expect_fail("unknown architecture", "config.json", "BertForMagic");
}
END_TEST

START_TEST(test_bad_config_json) {
    copy_broken("bert-seq-h24-a3-l2-gelu", "\"hidden_act\": \"gelu\",", "\"hidden_act\": gelu,", NULL, NULL);
    expect_fail("malformed config.json", "config.json", NULL);
}
END_TEST

START_TEST(test_bad_config_key) {
    copy_broken("roberta-seq-h24-a6-l2-gelu", "\"vocab_size\"", "\"vocab_sizes\"", NULL, NULL);
    expect_fail("missing key", "config.json", "vocab_size");
    copy_broken("distilbert-seq-h24-a3-l2-gelu", "\"activation\": \"gelu\"", "\"activation\": \"swiglu\"", NULL, NULL);
    expect_fail("unknown activation", "config.json", "swiglu");
    copy_broken("bert-seq-h24-a3-l2-gelu", "\"num_attention_heads\": 3", "\"num_attention_heads\": 5", NULL, NULL);
    expect_fail("heads do not divide", "config.json", "attention heads");
    copy_broken("deberta-v3-seq-h24-a3-l2-gelu", "\"hidden_act\"", "\"conv_kernel_size\": 3, \"hidden_act\"", NULL, NULL);
    expect_fail("deberta conv layer", "config.json", "conv_kernel_size");
    copy_broken("deberta-v3-seq-h24-a3-l2-gelu", "\"pos_att_type\": [", "\"pos_att_type\": [\"p2p\", ", NULL, NULL);
    expect_fail("deberta p2p", "config.json", "p2p");
}
END_TEST

START_TEST(test_bad_missing_tensor) {
    copy_broken("bert-seq-h24-a3-l2-gelu", NULL, NULL, "\"classifier.bias\"", "\"classifier.biaz\"");
    expect_fail("missing tensor", "model.safetensors", "classifier.bias");
    copy_broken("distilbert-seq-h24-a3-l2-gelu", "\"n_layers\": 2", "\"n_layers\": 3", NULL, NULL);
    expect_fail("missing layer", "model.safetensors", "distilbert.transformer.layer.2.");
}
END_TEST

START_TEST(test_bad_shape) {
    copy_broken("bert-seq-h24-a3-l2-gelu", "\"intermediate_size\": 32", "\"intermediate_size\": 33", NULL, NULL);
    expect_fail("wrong shape", "model.safetensors", "bert.encoder.layer.0.intermediate.dense.weight");
    copy_broken("roberta-seq-h24-a6-l2-gelu", "\"2\": \"positive\"", "\"2\": \"positive\", \"3\": \"x\"", NULL, NULL);
    expect_fail("wrong label count", "model.safetensors", "classifier.out_proj.weight");
}
END_TEST

START_TEST(test_bad_dtype) {
    copy_broken("bert-seq-h24-a3-l2-gelu", NULL, NULL, "\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"F32\"",
                "\"bert.embeddings.LayerNorm.bias\":{\"dtype\":\"I32\"");
    expect_fail("wrong dtype", "model.safetensors", "bert.embeddings.LayerNorm.bias");
}
END_TEST

START_TEST(test_bad_truncated) {
    copy_broken("roberta-seq-h24-a6-l2-gelu", NULL, NULL, NULL, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors", g_tmp);
    struct stat sb;
    ck_assert(stat(p, &sb) == 0);
    ck_assert(truncate(p, sb.st_size - 100) == 0);
    expect_fail("truncated", "model.safetensors", NULL);
    ck_assert(remove(p) == 0);
    expect_fail("no weights", "model.safetensors", NULL);
}
END_TEST

START_TEST(test_bad_inputs) {
    char dir[2300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    senti_model *m = senti_model_load(dir, 1);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    float *out = NULL;
    int64_t shape[3];
    int nd;
    const int32_t bad_id[3] = {1, 120, 2}, ok[3] = {1, 2, 3}, bad_type[3] = {0, 2, 0};
    ck_assert_int_eq(senti_model_forward(m, bad_id, NULL, NULL, 1, 3, &out, shape, &nd), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(senti_model_forward(m, ok, bad_type, NULL, 1, 3, &out, shape, &nd), SENTI_ERR_INVALID_ARG);
    int32_t *longer = calloc(41, sizeof *longer);
    ck_assert_int_eq(senti_model_forward(m, longer, NULL, NULL, 1, 41, &out, shape, &nd), SENTI_ERR_INVALID_ARG);
    free(longer);
    senti_model_free(m);
    senti_model_free(NULL);
}
END_TEST

/* ---- allocation failures: every failure reported, nothing leaked ----------------- */


START_TEST(test_alloc_failures) {
    char dir[2300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu-f16", g_root);
    const int32_t ids[2 * 3] = {5, 17, 3, 4, 0, 0}, mask[2 * 3] = {1, 1, 1, 1, 0, 0};
    senti_set_allocator(&(senti_allocator){count_alloc, count_free, NULL});
    bool done = false;
    for (g_fail_at = 0; !done && g_fail_at < 100000; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        senti_clear_error();
        senti_model *m = senti_model_load(dir, 1);
        float *out = NULL;
        int64_t shape[3];
        int nd;
        senti_status st = m ? senti_model_forward(m, ids, NULL, mask, 2, 3, &out, shape, &nd) : SENTI_ERR_NO_MEMORY;
        done = st == SENTI_OK;
        if (!done) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        else ck_assert_int_eq(shape[1], 3);
        senti_model_output_free(out);
        senti_model_free(m);
        ck_assert_msg(g_live == 0, "failing allocation %ld leaked %ld blocks", g_fail_at, g_live);
    }
    senti_set_allocator(NULL);
    ck_assert(done);
    ck_assert_int_gt(g_fail_at, 20);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("encoders");
    TCase *tc = tcase_create("fixtures");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, test_fixture, 0, g_n);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("bad");
    tcase_add_checked_fixture(bad, setup, teardown);
    tcase_add_test(bad, test_bad_unknown_arch);
    tcase_add_test(bad, test_bad_config_json);
    tcase_add_test(bad, test_bad_config_key);
    tcase_add_test(bad, test_bad_missing_tensor);
    tcase_add_test(bad, test_bad_shape);
    tcase_add_test(bad, test_bad_dtype);
    tcase_add_test(bad, test_bad_truncated);
    tcase_add_test(bad, test_bad_inputs);
    tcase_add_test(bad, test_alloc_failures);
    suite_add_tcase(s, bad);
    return s;
}

int main(void) {
    init_paths();
    list_fixtures();
    if (g_n < 22) fprintf(stderr, "test_encoders: only %d fixtures found\n", g_n);
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    printf("test_encoders: %d fixtures, worst relative error vs transformers %.3g\n", g_n, g_worst);
    return (nf == 0 && g_n >= 22) ? EXIT_SUCCESS : EXIT_FAILURE;
}
