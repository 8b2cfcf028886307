/* test_long.c — long inputs through the batch runner (classify, aspect):
 * --stride windows built as documented (the first sequence's content cut
 * into windows of max_len minus the specials, stepping by that minus the
 * stride; a pair's second sequence in every window), each window's logits
 * equal to that window run alone, aggregated by mean / max / first, the
 * record marked "windows":k; the bytes of every record the same whatever the
 * batch size, token budget and window (a record's windows spread over
 * several batches); dialogue's long utterances windowed the same way;
 * without --stride over-long records marked
 * "truncated":true, and with no_truncate answered with an error line. */
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

static char g_root[2048];
static char g_tmp[64] = "/tmp/senti-long-XXXXXX";
static char g_vocab[128];
static char g_model[2200]; /* the small sequence classifier (max length 40) */

static const char *WORDS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",   "a",    "good",  "bad",
                              "movie", "was",   "is",    "not",   "very",   "great", "awful", "i",   "it",
                              "and",   "film",  "really", "love", "hate",   ",",     ".",     "!",   "##s"};

static void init_paths(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    if (!mkdtemp(g_tmp)) abort();
    snprintf(g_vocab, sizeof g_vocab, "%s/vocab.txt", g_tmp);
    snprintf(g_model, sizeof g_model, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    th_write_vocab(g_vocab, WORDS, sizeof WORDS / sizeof *WORDS);
}

/* g_model and the test's vocabulary. */
static void load_fixture(senti_model **m, senti_tokenizer **tok) {
    *m = senti_model_load(g_model, 1);
    *tok = senti_tokenizer_load(g_vocab);
    ck_assert_msg(*m != NULL, "%s", senti_last_error());
    ck_assert_ptr_nonnull(*tok);
}

/* n pseudo-random words from WORDS (no specials) into buf. */
static void words(char *buf, size_t cap, int n, unsigned seed) {
    buf[0] = '\0';
    for (int w = 0; w < n; w++) {
        seed = seed * 1103515245u + 12345u;
        const char *x = WORDS[5 + (seed >> 16) % 21];
        if (strlen(buf) + strlen(x) + 2 >= cap) break;
        strcat(buf, x);
        strcat(buf, " ");
    }
}

/* Logits [L] of ids run alone. */
static void forward1(senti_model *m, const int32_t *ids, const int32_t *types, int64_t n, float *lg, int64_t L) {
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, ids, types, NULL, 1, n, &out, shape, &nd), SENTI_OK);
    ck_assert_int_eq(shape[1], L);
    memcpy(lg, out, (size_t)L * sizeof *lg);
    senti_model_output_free(out);
}

/* The documented windows of text (+ pair) run alone and aggregated: returns
 * the window count and the aggregate logits in agg[3][L] (mean, max, first). */
static int64_t reference(senti_model *m, const senti_tokenizer *tok, const char *text, const char *pair,
                         int64_t stride, double agg[3][8], int64_t L) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), pair, pair ? strlen(pair) : 0, &eo, &e),
                     SENTI_OK);
    const int64_t n = senti_encoding_len(e), max_len = senti_model_max_length(m);
    const int32_t *ids = senti_encoding_ids(e), *tt = senti_encoding_type_ids(e);
    const uint8_t *sp = senti_encoding_special_mask(e);
    int64_t lead = 0, tail = n;
    while (sp[lead]) lead++;
    for (tail = lead; !sp[tail]; tail++) {} /* the first special after the content: [SEP] */
    const int64_t inner = tail - lead, trail = n - tail, w = max_len - lead - trail, step = w - stride;
    int64_t nw = n <= max_len ? 1 : inner <= w ? 1 : 1 + (inner - w + step - 1) / step;
    for (int a = 0; a < 3; a++)
        for (int64_t l = 0; l < L; l++) agg[a][l] = a == 1 ? -INFINITY : 0.0;
    int32_t wi[64], wt[64];
    for (int64_t k = 0; k < nw; k++) {
        int64_t s0 = k * step, len = n <= max_len ? inner : (inner - s0 < w ? inner - s0 : w), c = 0;
        for (int64_t t = 0; t < lead; t++, c++) wi[c] = ids[t], wt[c] = tt[t];
        for (int64_t t = 0; t < len; t++, c++) wi[c] = ids[lead + s0 + t], wt[c] = tt[lead + s0 + t];
        for (int64_t t = tail; t < n; t++, c++) wi[c] = ids[t], wt[c] = tt[t];
        ck_assert_int_le(c, max_len);
        float lg[8];
        forward1(m, wi, wt, c, lg, L);
        for (int64_t l = 0; l < L; l++) {
            agg[0][l] += lg[l] / (double)nw;
            agg[1][l] = fmax(agg[1][l], lg[l]);
            if (k == 0) agg[2][l] = lg[l];
        }
    }
    senti_encoding_free(e);
    return nw;
}

static void check_scores(json_t *scores, const senti_model *m, const double *lg, int64_t L, const char *what) {
    double mx = lg[0], z = 0;
    for (int64_t l = 1; l < L; l++) mx = fmax(mx, lg[l]);
    for (int64_t l = 0; l < L; l++) z += exp(lg[l] - mx);
    for (int64_t l = 0; l < L; l++) {
        double want = exp(lg[l] - mx) / z, got = json_real_value(json_object_get(scores, senti_model_label(m, l)));
        ck_assert_msg(fabs(want - got) < 1e-5, "%s label %lld: %g vs %g", what, (long long)l, got, want);
    }
}


enum { N = 9 };
static char g_texts[N][1200];

START_TEST(test_windows_classify) {
    senti_model *m;
    senti_tokenizer *tok;
    load_fixture(&m, &tok);
    ck_assert_int_eq(senti_model_max_length(m), 40);
    static const int NW[N] = {5, 120, 38, 39, 3, 71, 200, 12, 90};
    const char *ptrs[N];
    for (int i = 0; i < N; i++) words(g_texts[i], sizeof g_texts[i], NW[i], 17u + (unsigned)i), ptrs[i] = g_texts[i];
    const int64_t L = senti_model_num_labels(m), stride = 7;
    task_classify c;
    ck_assert_int_eq(task_classify_init(&c, m, g_model, 0, 0.5), SENTI_OK);
    c.lng.stride = stride;
    for (int a = 0; a < 3; a++) {
        c.lng.aggregate = (task_aggregate)a;
        /* the reference run: one record per batch */
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 1;
        o.window = 1;
        task_stats st;
        char *base = th_classify_texts(m, tok, &c, ptrs, N, &o, &st);
        json_t *res = th_lines_copy(base);
        ck_assert_int_eq(json_array_size(res), N);
        int64_t windowed = 0;
        for (int i = 0; i < N; i++) {
            double agg[3][8];
            const int64_t nw = reference(m, tok, g_texts[i], NULL, stride, agg, L);
            json_t *r = json_array_get(res, (size_t)i);
            ck_assert_int_eq(json_integer_value(json_object_get(r, "windows")), nw);
            ck_assert_ptr_null(json_object_get(r, "truncated"));
            char what[64];
            snprintf(what, sizeof what, "aggregate %d record %d", a, i);
            check_scores(json_object_get(r, "scores"), m, agg[a], L, what);
            windowed += nw > 1;
        }
        ck_assert_int_ge(windowed, 4);
        ck_assert_int_eq(st.windowed, windowed);
        json_decref(res);
        /* batch invariance: windows spread over batches and windows of records */
        const int64_t cfg[][3] = {{3, 100, 4}, {2, 80, 1}, {32, 8192, 1024}, {5, 45, 2}};
        for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
            o.batch_size = cfg[k][0];
            o.max_batch_tokens = cfg[k][1];
            o.window = cfg[k][2];
            char *got = th_classify_texts(m, tok, &c, ptrs, N, &o, &st);
            ck_assert_msg(strcmp(got, base) == 0, "aggregate %d, config %zu: bytes differ", a, k);
            free(got);
        }
        free(base);
    }
    /* without stride: truncated and marked; no_truncate: an error line */
    c.lng = (task_long){0};
    task_runner_opts o = task_runner_opts_defaults();
    task_stats st;
    char *buf = th_classify_texts(m, tok, &c, ptrs, N, &o, &st);
    json_t *res = th_lines_copy(buf);
    int64_t cut = 0;
    for (int i = 0; i < N; i++) {
        json_t *r = json_array_get(res, (size_t)i);
        const bool long_in = NW[i] > 38;
        ck_assert_int_eq(json_is_true(json_object_get(r, "truncated")), long_in);
        ck_assert_ptr_null(json_object_get(r, "windows"));
        cut += long_in;
    }
    ck_assert_int_eq(st.truncated, cut);
    json_decref(res);
    free(buf);
    c.lng.no_truncate = true;
    buf = th_classify_texts(m, tok, &c, ptrs, N, &o, &st);
    res = th_lines_copy(buf);
    for (int i = 0; i < N; i++) {
        json_t *r = json_array_get(res, (size_t)i);
        ck_assert_int_eq(json_object_get(r, "error") != NULL, NW[i] > 38);
    }
    ck_assert_int_eq(st.errors, cut);
    json_decref(res);
    free(buf);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* aspect: the aspect rides in every window as the second sequence */

START_TEST(test_windows_aspect) {
    senti_model *m;
    senti_tokenizer *tok;
    load_fixture(&m, &tok);
    const int64_t L = senti_model_num_labels(m);
    char text[1200];
    words(text, sizeof text, 100, 99u);
    const char *aspects[] = {"movie", "the film"};
    const char *texts[] = {text};
    for (int a = 0; a < 3; a++) {
        task_aspect asp = {.aspects = aspects, .n_aspects = 2, .lng = {.stride = 4, .aggregate = (task_aggregate)a}};
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_source *src = task_source_texts(texts, 1);
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 2;
        ck_assert_int_eq(task_aspect_run_opts(m, tok, &asp, src, out, &o, NULL), SENTI_OK);
        task_source_free(src);
        fclose(out);
        json_t *res = th_lines_copy(buf);
        json_t *r = json_array_get(res, 0);
        int64_t most = 0;
        for (int k = 0; k < 2; k++) {
            double agg[3][8];
            const int64_t nw = reference(m, tok, text, aspects[k], 4, agg, L);
            most = nw > most ? nw : most;
            check_scores(json_object_get(json_array_get(json_object_get(r, "aspects"), (size_t)k), "scores"), m,
                         agg[a], L, aspects[k]);
        }
        ck_assert_int_ge(most, 3);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "windows")), most);
        json_decref(res);
        free(buf);
    }
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* dialogue: a long utterance (no context) runs as windows like classify */
START_TEST(test_windows_dialogue) {
    senti_model *m;
    senti_tokenizer *tok;
    load_fixture(&m, &tok);
    const int64_t L = senti_model_num_labels(m);
    char text[1200], line[1400];
    words(text, sizeof text, 90, 5u);
    snprintf(line, sizeof line, "{\"id\":1,\"dialogue\":[{\"speaker\":\"A\",\"text\":\"%s\"},"
             "{\"speaker\":\"B\",\"text\":\"good\"}]}\n", text);
    task_dialogue d = {.context = 0};
    ck_assert_int_eq(task_classify_init(&d.cls, m, NULL, 0, 0.5), SENTI_OK);
    d.cls.lng = (task_long){.stride = 6, .aggregate = TASK_AGGREGATE_MAX};
    FILE *in = fmemopen(line, strlen(line), "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    task_source *src = task_source_file(in, "dialogue");
    task_runner_opts o = task_runner_opts_defaults();
    ck_assert_int_eq(task_dialogue_run(m, tok, &d, src, out, &o, NULL), SENTI_OK);
    task_source_free(src);
    fclose(in);
    fclose(out);
    json_t *res = th_lines_copy(buf), *r = json_array_get(res, 0);
    double agg[3][8];
    const int64_t nw = reference(m, tok, text, NULL, 6, agg, L);
    ck_assert_int_ge(nw, 3);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "windows")), nw);
    check_scores(json_object_get(json_array_get(json_object_get(r, "utterances"), 0), "scores"), m, agg[1], L,
                 "dialogue");
    json_decref(res);
    free(buf);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("long");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_windows_classify);
    tcase_add_test(tc, test_windows_aspect);
    tcase_add_test(tc, test_windows_dialogue);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    init_paths();
    const int rc = th_run_suite(suite());
    unlink(g_vocab);
    rmdir(g_tmp);
    return rc;
}
