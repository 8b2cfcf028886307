/* test_tag.c — token classification decoding against hand-computed spans:
 * logits are log-probabilities, so each token's softmax is the hand-written
 * distribution. Aggregation none / simple / first / average / max on BIO tags
 * with a subword, AESC types giving aspects, BIOES and IO grouping; then
 * task_tag_run on the tiny BERT token-classification fixture (records, ids,
 * bad records) equal to decoding that text's forward alone, `senti tag`
 * printing the same lines, and --stride windows merged as documented. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "senti.h"
#include "tasks/tasks.h"

static void set_row(float *lg, int64_t L, const double *p) {
    for (int64_t k = 0; k < L; k++) lg[k] = (float)log(p[k]);
}

/* a row with p on label best and the rest spread evenly */
static void set_best(float *lg, int64_t L, int64_t best, double p) {
    for (int64_t k = 0; k < L; k++) lg[k] = (float)log(k == best ? p : (1.0 - p) / (double)(L - 1));
}

static void check_span(json_t *s, const char *type, const char *text, int64_t start, int64_t end, double score) {
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(json_string_value(json_object_get(s, "type")), type);
    ck_assert_str_eq(json_string_value(json_object_get(s, "text")), text);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "start")), start);
    ck_assert_int_eq(json_integer_value(json_object_get(s, "end")), end);
    double got = json_real_value(json_object_get(s, "score"));
    ck_assert_msg(fabs(got - score) < 1e-5, "%s '%s': score %g, want %g", type, text, got, score);
}

/* "the pizzas were bad": [CLS] the pizza ##s were bad [SEP] */
static const char *BIO[] = {"O", "B-POS", "I-POS", "B-NEG", "I-NEG"};
static const char TEXT[] = "the pizzas were bad";
static const int32_t OFFS[] = {0, 0, 0, 3, 4, 9, 9, 10, 11, 15, 16, 19, 0, 0};
static const int32_t WORDS[] = {-1, 0, 1, 1, 2, 3, -1};
static const uint8_t SPECIAL[] = {1, 0, 0, 0, 0, 0, 1};
static const double P[7][5] = {{0.1, 0.6, 0.1, 0.1, 0.1},    {0.7, 0.1, 0.1, 0.05, 0.05}, {0.1, 0.6, 0.2, 0.05, 0.05},
                               {0.05, 0.1, 0.1, 0.7, 0.05},  {0.8, 0.05, 0.05, 0.05, 0.05},
                               {0.1, 0.1, 0.1, 0.3, 0.4},    {0.1, 0.1, 0.1, 0.1, 0.6}};

static json_t *decode_bio(task_tag_agg agg) {
    float lg[7 * 5];
    for (int t = 0; t < 7; t++) set_row(lg + t * 5, 5, P[t]);
    json_t *r = task_tag_decode(BIO, 5, TEXT, strlen(TEXT), OFFS, WORDS, SPECIAL, 7, lg, agg);
    ck_assert_ptr_nonnull(r);
    return r;
}

START_TEST(test_aggregations) {
    json_t *r = decode_bio(TASK_TAG_NONE), *s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 3); /* specials and O tokens dropped */
    check_span(json_array_get(s, 0), "B-POS", "pizza", 4, 9, 0.6);
    check_span(json_array_get(s, 1), "B-NEG", "s", 9, 10, 0.7);
    check_span(json_array_get(s, 2), "I-NEG", "bad", 16, 19, 0.4);
    ck_assert_ptr_null(json_object_get(r, "aspects"));
    json_decref(r);

    r = decode_bio(TASK_TAG_SIMPLE), s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 3); /* B-NEG starts a group; O between cuts one */
    check_span(json_array_get(s, 0), "POS", "pizza", 4, 9, 0.6);
    check_span(json_array_get(s, 1), "NEG", "s", 9, 10, 0.7);
    check_span(json_array_get(s, 2), "NEG", "bad", 16, 19, 0.4);
    json_t *a = json_object_get(r, "aspects");
    ck_assert_int_eq(json_array_size(a), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "aspect")), "pizza");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "sentiment")), "positive");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 2), "sentiment")), "negative");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(a, 2), "start")), 16);
    json_decref(r);

    r = decode_bio(TASK_TAG_FIRST), s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 2); /* pizzas takes pizza's B-POS */
    check_span(json_array_get(s, 0), "POS", "pizzas", 4, 10, 0.6);
    check_span(json_array_get(s, 1), "NEG", "bad", 16, 19, 0.4);
    json_decref(r);

    r = decode_bio(TASK_TAG_MAX), s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 2); /* ##s (0.7) beats pizza (0.6) */
    check_span(json_array_get(s, 0), "NEG", "pizzas", 4, 10, 0.7);
    check_span(json_array_get(s, 1), "NEG", "bad", 16, 19, 0.4);
    json_decref(r);

    /* mean of pizza and ##s: [0.075, 0.35, 0.15, 0.375, 0.05] -> B-NEG 0.375 */
    r = decode_bio(TASK_TAG_AVERAGE), s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 2);
    check_span(json_array_get(s, 0), "NEG", "pizzas", 4, 10, 0.375);
    check_span(json_array_get(s, 1), "NEG", "bad", 16, 19, 0.4);
    json_decref(r);
}
END_TEST

START_TEST(test_grouping) {
    /* BIO continuation: B I I is one span, score the mean */
    const char *text = "great pizza crust";
    int32_t offs[] = {0, 5, 6, 11, 12, 17}, words[] = {0, 1, 2};
    float lg[3 * 5];
    set_best(lg, 5, 1, 0.6);
    set_best(lg + 5, 5, 2, 0.8);
    set_best(lg + 10, 5, 2, 0.7);
    json_t *r = task_tag_decode(BIO, 5, text, strlen(text), offs, words, NULL, 3, lg, TASK_TAG_SIMPLE);
    json_t *s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 1);
    check_span(json_array_get(s, 0), "POS", "great pizza crust", 0, 17, 0.7);
    json_decref(r);

    /* BIOES: S alone, B..E closed, then I starts anew */
    static const char *BIOES[] = {"O", "B-ASP", "I-ASP", "E-ASP", "S-ASP"};
    const char *t2 = "a b c d";
    int32_t o2[] = {0, 1, 2, 3, 4, 5, 6, 7}, w2[] = {0, 1, 2, 3};
    float l2[4 * 5];
    set_best(l2, 5, 4, 0.9);
    set_best(l2 + 5, 5, 1, 0.6);
    set_best(l2 + 10, 5, 3, 0.8);
    set_best(l2 + 15, 5, 2, 0.5);
    r = task_tag_decode(BIOES, 5, t2, strlen(t2), o2, w2, NULL, 4, l2, TASK_TAG_FIRST);
    s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 3);
    check_span(json_array_get(s, 0), "ASP", "a", 0, 1, 0.9);
    check_span(json_array_get(s, 1), "ASP", "b c", 2, 5, 0.7);
    check_span(json_array_get(s, 2), "ASP", "d", 6, 7, 0.5);
    ck_assert_ptr_null(json_object_get(r, "aspects"));
    json_decref(r);

    /* IO with bare labels; code-point offsets past a 2-byte character */
    static const char *IO[] = {"O", "ASP"};
    const char *t3 = "\xc3\xa9 y z w";
    float l3[4 * 2];
    set_best(l3, 2, 1, 0.6);
    set_best(l3 + 2, 2, 1, 0.8);
    set_best(l3 + 4, 2, 0, 0.9);
    set_best(l3 + 6, 2, 1, 0.7);
    r = task_tag_decode(IO, 2, t3, strlen(t3), o2, w2, NULL, 4, l3, TASK_TAG_SIMPLE);
    s = json_object_get(r, "spans");
    ck_assert_int_eq(json_array_size(s), 2);
    check_span(json_array_get(s, 0), "ASP", "\xc3\xa9 y", 0, 3, 0.7);
    check_span(json_array_get(s, 1), "ASP", "w", 6, 7, 0.7);
    json_decref(r);
}
END_TEST

static char g_root[2048];
static char g_tmp[64] = "/tmp/senti-tag-XXXXXX";
static char g_vocab[128];

START_TEST(test_run_fixture) {
    static const char *W[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "good", "bad", "movie", "film",
                              "was", "##s", "i", "love", "it"};
    FILE *v = fopen(g_vocab, "w");
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < sizeof W / sizeof *W; i++) fprintf(v, "%s\n", W[i]);
    fclose(v);
    char dir[2200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-tok-h24-a3-l2-gelunew", g_root);
    senti_model *m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    static const char in_text[] = "{\"id\":\"a\",\"text\":\"the films was good\"}\n\nnot json\n{\"text\":\"i love it\"}\n";
    const char *texts[] = {"the films was good", "i love it"};
    for (int agg = TASK_TAG_NONE; agg <= TASK_TAG_MAX; agg++) {
        FILE *in = fmemopen((void *)in_text, sizeof in_text - 1, "r");
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_stats st;
        ck_assert_int_eq(task_tag_run(m, tok, (task_tag_agg)agg, false, in, "mem", NULL, 0, out, &st), SENTI_OK);
        fclose(out);
        fclose(in);
        ck_assert_int_eq(st.records, 3);
        ck_assert_int_eq(st.errors, 1);
        char *save = NULL, *line[3];
        int nl = 0;
        for (char *l = strtok_r(buf, "\n", &save); l && nl < 3; l = strtok_r(NULL, "\n", &save)) line[nl++] = l;
        ck_assert_int_eq(nl, 3);
        ck_assert_ptr_nonnull(strstr(line[1], "{\"id\":2,\"error\":\"line 3: invalid JSON"));
        for (int k = 0; k < 2; k++) { /* each result equals decoding that text's forward alone */
            senti_encoding *e = NULL;
            ck_assert_int_eq(senti_tokenizer_encode(tok, texts[k], strlen(texts[k]), NULL, 0, NULL, &e), SENTI_OK);
            float *lg = NULL;
            int64_t shape[3];
            int nd;
            ck_assert_int_eq(senti_model_forward(m, senti_encoding_ids(e), senti_encoding_type_ids(e), NULL, 1,
                                                 senti_encoding_len(e), &lg, shape, &nd),
                             SENTI_OK);
            const char *labels[3] = {senti_model_label(m, 0), senti_model_label(m, 1), senti_model_label(m, 2)};
            json_t *want = task_tag_decode(labels, 3, texts[k], strlen(texts[k]), senti_encoding_offsets(e),
                                           senti_encoding_word_ids(e), senti_encoding_special_mask(e),
                                           senti_encoding_len(e), lg, (task_tag_agg)agg);
            json_t *got = json_loads(line[k == 0 ? 0 : 2], 0, NULL);
            ck_assert_ptr_nonnull(got);
            json_t *gs = json_object_get(got, "spans"), *ws = json_object_get(want, "spans");
            ck_assert_int_eq(json_array_size(gs), json_array_size(ws));
            for (size_t i = 0; i < json_array_size(ws); i++) { /* output scores carry 8 digits */
                json_t *w = json_array_get(ws, i);
                check_span(json_array_get(gs, i), json_string_value(json_object_get(w, "type")),
                           json_string_value(json_object_get(w, "text")),
                           json_integer_value(json_object_get(w, "start")),
                           json_integer_value(json_object_get(w, "end")), json_real_value(json_object_get(w, "score")));
            }
            if (k == 0) ck_assert_str_eq(json_string_value(json_object_get(got, "id")), "a");
            else ck_assert_int_eq(json_integer_value(json_object_get(got, "id")), 3);
            if (agg != TASK_TAG_NONE) ck_assert_int_ge(json_array_size(json_object_get(got, "spans")), 1); /* no O label */
            json_decref(got);
            json_decref(want);
            senti_model_output_free(lg);
            senti_encoding_free(e);
        }
        free(buf);
    }
    /* `senti tag` prints what task_tag_run writes */
    char cli[4096];
    ssize_t n = readlink("/proc/self/exe", cli, sizeof cli - 16);
    ck_assert_int_gt(n, 0);
    cli[n] = '\0';
    strcpy(strrchr(cli, '/'), "/../senti");
    if (access(cli, X_OK) == 0) {
        char *want = NULL;
        size_t wlen = 0;
        FILE *out = open_memstream(&want, &wlen);
        ck_assert_int_eq(task_tag_run(m, tok, TASK_TAG_AVERAGE, false, NULL, NULL, texts, 2, out, NULL), SENTI_OK);
        fclose(out);
        char cmd[8192], got[8192];
        snprintf(cmd, sizeof cmd, "'%s' tag -m '%s' --dtype f32 --tokenizer '%s' --aggregation average '%s' '%s' 2>/dev/null", cli,
                 dir, g_vocab, texts[0], texts[1]);
        FILE *p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        size_t glen = fread(got, 1, sizeof got - 1, p);
        got[glen] = '\0';
        int status = pclose(p);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_str_eq(got, want);
        free(want);
        snprintf(cmd, sizeof cmd, "'%s' tag -m '%s' --aggregation mean x 2>/dev/null", cli, dir);
        status = system(cmd);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    } else fprintf(stderr, "test_run_fixture: CLI part skipped, %s not built\n", cli);

    /* a sequence classifier is refused */
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    senti_model *sm = senti_model_load(dir, 1);
    ck_assert_ptr_nonnull(sm);
    ck_assert_int_eq(task_tag_run(sm, tok, TASK_TAG_SIMPLE, false, NULL, NULL, texts, 1, stdout, NULL),
                     SENTI_ERR_UNSUPPORTED);
    senti_model_free(sm);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* --stride: a text over the model's max length (20) runs as windows; each
 * token's logits come from the window where it is most central (recomputed
 * here window by window), and the merged decode covers the whole text. */
START_TEST(test_stride) {
    static const char *W[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "good", "bad", "movie", "film",
                              "was", "##s", "i", "love", "it"};
    FILE *v = fopen(g_vocab, "w");
    ck_assert_ptr_nonnull(v);
    for (size_t i = 0; i < sizeof W / sizeof *W; i++) fprintf(v, "%s\n", W[i]);
    fclose(v);
    char dir[2200], text[2048] = "";
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-tok-h24-a3-l2-gelunew", g_root);
    senti_model *m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    int64_t max_len = senti_model_max_length(m);
    ck_assert_int_eq(max_len, 20);
    for (int i = 0; i < 57; i++) {
        strcat(text, i ? " " : "");
        strcat(text, W[5 + (i * 7) % 10 == 11 ? 6 : 5 + (i * 7) % 10]);
        if (i % 5 == 1) strcat(text, "s"); /* "films", "goods": subwords */
    }
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &e), SENTI_OK);
    int64_t n = senti_encoding_len(e), L = 3, inner = n - 2, w = max_len - 2;
    ck_assert_int_gt(n, 3 * max_len);
    const char *labels[3] = {senti_model_label(m, 0), senti_model_label(m, 1), senti_model_label(m, 2)};
    for (int64_t stride = 3; stride <= 9; stride += 6) {
        int64_t step = w - stride, nw = 1 + (inner - w + step - 1) / step;
        float *win = calloc((size_t)(nw * max_len * L), sizeof *win), *merged = calloc((size_t)(n * L), sizeof *merged);
        int64_t *wlen = calloc((size_t)nw, sizeof *wlen);
        for (int64_t k = 0; k < nw; k++) { /* each window alone: [CLS] content [SEP] */
            int64_t s0 = k * step, len = inner - s0 < w ? inner - s0 : w;
            int32_t ids[20];
            ids[0] = senti_encoding_ids(e)[0];
            memcpy(ids + 1, senti_encoding_ids(e) + 1 + s0, (size_t)len * sizeof *ids);
            ids[len + 1] = senti_encoding_ids(e)[n - 1];
            wlen[k] = len;
            float *lg = NULL;
            int64_t shape[3];
            int nd;
            ck_assert_int_eq(senti_model_forward(m, ids, NULL, NULL, 1, len + 2, &lg, shape, &nd), SENTI_OK);
            memcpy(win + k * max_len * L, lg, (size_t)((len + 2) * L) * sizeof *lg);
            senti_model_output_free(lg);
        }
        memcpy(merged, win, (size_t)L * sizeof *merged); /* [CLS] from the first window */
        memcpy(merged + (n - 1) * L, win + ((nw - 1) * max_len + wlen[nw - 1] + 1) * L, (size_t)L * sizeof *merged);
        for (int64_t t = 0; t < inner; t++) {
            int64_t best = -1, bd = -1;
            for (int64_t k = 0; k < nw; k++) {
                int64_t a = t - k * step, b = k * step + wlen[k] - 1 - t;
                if (a < 0 || b < 0) continue;
                if ((a < b ? a : b) > bd) bd = a < b ? a : b, best = k;
            }
            memcpy(merged + (t + 1) * L, win + (best * max_len + 1 + t - best * step) * L, (size_t)L * sizeof *merged);
        }
        uint8_t *sub = calloc((size_t)n, 1);
        task_tag_subwords(tok, e, text, strlen(text), sub);
        for (int agg = TASK_TAG_NONE; agg <= TASK_TAG_MAX; agg++) {
            json_t *want = task_tag_decode_sub(labels, L, text, strlen(text), senti_encoding_offsets(e),
                                               senti_encoding_word_ids(e), sub, senti_encoding_special_mask(e), n,
                                               merged, (task_tag_agg)agg);
            task_source *src = task_source_texts((const char *const[]){text, "the film"}, 2);
            char *buf = NULL;
            size_t len = 0;
            FILE *out = open_memstream(&buf, &len);
            task_stats st;
            task_runner_opts o = task_runner_opts_defaults();
            ck_assert_int_eq(task_tag_run_opts(m, tok, (task_tag_agg)agg, stride, src, out, &o, &st), SENTI_OK);
            fclose(out);
            task_source_free(src);
            ck_assert_int_eq(st.windowed, 1);
            ck_assert_int_eq(st.truncated, 0);
            ck_assert_int_eq(st.units, nw + 1);
            json_t *got = json_loadb(buf, strcspn(buf, "\n"), 0, NULL);
            ck_assert_ptr_nonnull(got);
            json_t *gs = json_object_get(got, "spans"), *ws = json_object_get(want, "spans");
            ck_assert_int_eq(json_array_size(gs), json_array_size(ws));
            for (size_t i = 0; i < json_array_size(ws); i++) {
                json_t *x = json_array_get(ws, i);
                check_span(json_array_get(gs, i), json_string_value(json_object_get(x, "type")),
                           json_string_value(json_object_get(x, "text")), json_integer_value(json_object_get(x, "start")),
                           json_integer_value(json_object_get(x, "end")), json_real_value(json_object_get(x, "score")));
            }
            json_t *last = json_array_get(gs, json_array_size(gs) - 1); /* the tail of the text is tagged */
            ck_assert_int_eq(json_integer_value(json_object_get(last, "end")), (json_int_t)strlen(text));
            json_decref(got);
            json_decref(want);
            free(buf);
        }
        free(sub);
        free(win);
        free(merged);
        free(wlen);
    }
    /* a stride that leaves no room is a bad record, not a crash */
    task_source *src = task_source_texts((const char *const[]){text}, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_int_eq(task_tag_run_opts(m, tok, TASK_TAG_SIMPLE, 18, src, out, NULL, NULL), SENTI_OK);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "\"error\":\"--stride leaves no room"));
    free(buf);
    task_source_free(src);
    senti_encoding_free(e);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

int main(void) {
    const char *f = __FILE__;
    const char *e = strstr(f, "/tests/test_tag.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
    if (!mkdtemp(g_tmp)) abort();
    snprintf(g_vocab, sizeof g_vocab, "%s/vocab.txt", g_tmp);
    Suite *s = suite_create("tag");
    TCase *tc = tcase_create("tag");
    tcase_add_test(tc, test_aggregations);
    tcase_add_test(tc, test_grouping);
    tcase_add_test(tc, test_run_fixture);
    tcase_add_test(tc, test_stride);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return failed ? 1 : 0;
}
