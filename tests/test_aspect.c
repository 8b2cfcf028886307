/* test_aspect.c — aspect-level sentiment on the tiny BERT sequence-classifier
 * fixture with a small WordPiece vocab.txt in a temp dir: the aspects of one
 * text batched together equal each (text, aspect) pair run alone through
 * senti_model_forward (softmax), the QA-M template's auxiliary sentence,
 * code-point offsets of the aspect's first case-insensitive occurrence, JSONL
 * records with string / array / default aspects, bad records and --strict,
 * and `senti aspect` printing the same lines. */
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

static char g_root[2048];
static char g_tmp[64] = "/tmp/senti-aspect-XXXXXX";
static char g_vocab[128];

static const char *WORDS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a",   "good",  "bad",
                              "movie", "was",   "is",    "not",   "very",   "great", "awful", "i", "it",
                              "and",   "film",  "really", "love", "hate",   ",",     ".",   "!",   "##s",
                              "what",  "do",    "you",   "think", "of",     "?",     "service", "food"};

static void init_paths(void) {
    const char *f = __FILE__;
    const char *e = strstr(f, "/tests/test_aspect.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
    if (!mkdtemp(g_tmp)) abort();
    snprintf(g_vocab, sizeof g_vocab, "%s/vocab.txt", g_tmp);
    FILE *v = fopen(g_vocab, "w");
    if (!v) abort();
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++) fprintf(v, "%s\n", WORDS[i]);
    fclose(v);
}

static senti_model *load(char *dir, size_t n) {
    snprintf(dir, n, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    senti_model *m = senti_model_load(dir, 1);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    return m;
}

/* softmax of the pair (text, second) run alone, truncating the text first */
static void alone(senti_model *m, const senti_tokenizer *tok, const char *text, const char *second, double *p) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    eo.truncation = SENTI_TRUNCATE_ONLY_FIRST;
    eo.max_length = senti_model_max_length(m);
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), second, strlen(second), &eo, &e), SENTI_OK);
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, senti_encoding_ids(e), senti_encoding_type_ids(e), NULL, 1,
                                         senti_encoding_len(e), &out, shape, &nd),
                     SENTI_OK);
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(shape[1], 3);
    double mx = fmax(out[0], fmax(out[1], out[2])), z = 0;
    for (int k = 0; k < 3; k++) z += exp(out[k] - mx);
    for (int k = 0; k < 3; k++) p[k] = exp(out[k] - mx) / z;
    senti_model_output_free(out);
    senti_encoding_free(e);
}

/* the aspect entry r equals the pair run alone */
static void check_entry(senti_model *m, const senti_tokenizer *tok, json_t *r, const char *text, const char *second,
                        const char *aspect) {
    ck_assert_str_eq(json_string_value(json_object_get(r, "aspect")), aspect);
    double p[3];
    alone(m, tok, text, second, p);
    int best = 0;
    for (int k = 0; k < 3; k++) {
        double got = json_real_value(json_object_get(json_object_get(r, "scores"), senti_model_label(m, k)));
        ck_assert_msg(fabs(got - p[k]) < 1e-5, "%s / %s label %d: %g vs %g alone", text, second, k, got, p[k]);
        if (p[k] > p[best]) best = k;
    }
    ck_assert_str_eq(json_string_value(json_object_get(r, "sentiment")), senti_model_label(m, best));
    ck_assert(fabs(json_real_value(json_object_get(r, "score")) - p[best]) < 1e-5);
}

static void check_span(json_t *r, int64_t start, int64_t end) {
    json_t *s = json_object_get(r, "start"), *e = json_object_get(r, "end");
    if (start < 0) {
        ck_assert(json_is_null(s) && json_is_null(e));
    } else {
        ck_assert_int_eq(json_integer_value(s), start);
        ck_assert_int_eq(json_integer_value(e), end);
    }
}

START_TEST(test_find_and_second) {
    int64_t s = -1, e = -1;
    ck_assert(task_aspect_find("The Film was good", 17, "film", 4, &s, &e));
    ck_assert(s == 4 && e == 8);
    ck_assert(task_aspect_find("\xc3\xa9 good MOVIE movie", 19, "movie", 5, &s, &e)); /* é is 1 code point */
    ck_assert(s == 7 && e == 12);
    ck_assert(task_aspect_find("\xe6\x97\xa5\xe6\x9c\xac film", 11, "FILM", 4, &s, &e));
    ck_assert(s == 3 && e == 7);
    ck_assert(task_aspect_find("caf\xc3\xa9 food", 10, "caf\xc3\xa9", 5, &s, &e)); /* non-ASCII aspect */
    ck_assert(s == 0 && e == 4);
    ck_assert(!task_aspect_find("good movie", 10, "film", 4, &s, &e));
    ck_assert(!task_aspect_find("good movie", 10, "", 0, &s, &e));
    ck_assert(!task_aspect_find("film", 4, "films", 5, &s, &e));
    size_t n;
    char *t = task_aspect_second("what do you think of the {aspect} of it ?", "food", 4, &n);
    ck_assert_str_eq(t, "what do you think of the food of it ?");
    ck_assert_uint_eq(n, strlen(t));
    free(t);
    t = task_aspect_second("{aspect} and {aspect}", "x", 1, &n);
    ck_assert_str_eq(t, "x and x");
    free(t);
    t = task_aspect_second(NULL, "service", 7, &n);
    ck_assert_str_eq(t, "service");
    ck_assert_uint_eq(n, 7);
    free(t);
}
END_TEST

START_TEST(test_pair_equals_forward) {
    char dir[2200];
    senti_model *m = load(dir, sizeof dir);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(tok);
    const char *text = "the food was great but the service was really awful !";
    const char *asp[] = {"service", "food", "the very good movie and film"}; /* lengths differ: padding */
    size_t al[] = {7, 4, strlen(asp[2])};
    task_aspect a = {0};
    json_t *r = NULL;
    int64_t trunc = 0;
    ck_assert_int_eq(task_aspect_one(m, tok, &a, text, strlen(text), asp, al, 3, &r, &trunc), SENTI_OK);
    ck_assert_int_eq(trunc, 0);
    json_t *list = json_object_get(r, "aspects");
    ck_assert_int_eq(json_array_size(list), 3);
    for (int i = 0; i < 3; i++) check_entry(m, tok, json_array_get(list, i), text, asp[i], asp[i]);
    check_span(json_array_get(list, 0), 27, 34);
    check_span(json_array_get(list, 1), 4, 8);
    check_span(json_array_get(list, 2), -1, -1);
    json_decref(r);

    /* QA-M: the auxiliary sentence replaces the aspect as second sentence */
    a.tmpl = "what do you think of the {aspect} of it ?";
    ck_assert_int_eq(task_aspect_one(m, tok, &a, text, strlen(text), asp, al, 2, &r, NULL), SENTI_OK);
    list = json_object_get(r, "aspects");
    ck_assert_int_eq(json_array_size(list), 2);
    check_entry(m, tok, json_array_get(list, 0), text, "what do you think of the service of it ?", "service");
    check_entry(m, tok, json_array_get(list, 1), text, "what do you think of the food of it ?", "food");
    check_span(json_array_get(list, 0), 27, 34);
    json_decref(r);

    /* longer than max_position_embeddings (40): the text is cut, the aspect kept */
    char longt[1024] = "";
    for (int i = 0; i < 50; i++) strcat(longt, i % 7 == 3 ? "service " : "good ");
    a.tmpl = NULL;
    ck_assert_int_eq(task_aspect_one(m, tok, &a, longt, strlen(longt), asp, al, 1, &r, &trunc), SENTI_OK);
    ck_assert_int_eq(trunc, 1);
    list = json_object_get(r, "aspects");
    check_entry(m, tok, json_array_get(list, 0), longt, "service", "service");
    check_span(json_array_get(list, 0), 15, 22);
    json_decref(r);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

static json_t *run_lines(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, FILE *in,
                         const char *const *texts, int64_t n, senti_status *st, task_stats *stats) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    *st = task_aspect_run(m, tok, a, in, "mem", texts, n, out, stats);
    fclose(out);
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, JSON_PRESERVE_ORDER, &err);
        ck_assert_msg(j != NULL, "output line is not JSON: %s", line);
        json_array_append_new(arr, j);
    }
    free(buf);
    return arr;
}

START_TEST(test_records) {
    char dir[2200];
    senti_model *m = load(dir, sizeof dir);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(tok);
    const char *defaults[] = {"film", "movie"};
    task_aspect a = {.aspects = defaults, .n_aspects = 2};
    static const char jsonl[] = "{\"id\":\"a\",\"text\":\"the Film was bad\",\"aspect\":\"film\"}\n"
                                "\n"
                                "{\"text\":\"good movie , bad film\"}\n"
                                "{\"id\":7,\"text\":\"i love it\",\"aspect\":[\"it\",\"i\"]}\n"
                                "not json\n"
                                "{\"id\":\"b\",\"text\":\"x\",\"aspect\":5}\n"
                                "{\"id\":\"c\",\"aspect\":\"film\"}\n"
                                "{\"id\":\"d\",\"text\":\"bad \xff\",\"aspect\":\"film\"}\n"
                                "{\"id\":\"e\",\"text\":\"bad\",\"aspect\":\"\"}\n";
    FILE *in = fmemopen((void *)jsonl, sizeof jsonl - 1, "r");
    senti_status st;
    task_stats stats;
    json_t *res = run_lines(m, tok, &a, in, NULL, 0, &st, &stats);
    fclose(in);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(res), 8);
    ck_assert_int_eq(stats.records, 8);
    ck_assert_int_eq(stats.errors, 5);
    json_t *r = json_array_get(res, 0);
    ck_assert_str_eq(json_object_iter_key(json_object_iter(r)), "id"); /* id first */
    ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "a");
    ck_assert_int_eq(json_array_size(json_object_get(r, "aspects")), 1);
    check_entry(m, tok, json_array_get(json_object_get(r, "aspects"), 0), "the Film was bad", "film", "film");
    check_span(json_array_get(json_object_get(r, "aspects"), 0), 4, 8);
    r = json_array_get(res, 1); /* defaults; id = line index 2 (blank line kept its index) */
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 2);
    json_t *l = json_object_get(r, "aspects");
    ck_assert_int_eq(json_array_size(l), 2);
    check_entry(m, tok, json_array_get(l, 0), "good movie , bad film", "film", "film");
    check_entry(m, tok, json_array_get(l, 1), "good movie , bad film", "movie", "movie");
    check_span(json_array_get(l, 0), 17, 21);
    check_span(json_array_get(l, 1), 5, 10);
    r = json_array_get(res, 2);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), 7);
    l = json_object_get(r, "aspects");
    ck_assert_int_eq(json_array_size(l), 2);
    check_entry(m, tok, json_array_get(l, 0), "i love it", "it", "it");
    check_span(json_array_get(l, 0), 7, 9);
    check_span(json_array_get(l, 1), 0, 1);
    static const struct { int line; const char *id, *err; } bad[] = {
        {4, NULL, "invalid JSON"},
        {-1, "b", "\"aspect\" must be"},
        {-1, "c", "missing field \"text\""},
        {-1, "d", "invalid UTF-8 at byte 22 of the line"},
        {-1, "e", "empty aspect"}};
    for (int i = 0; i < 5; i++) {
        r = json_array_get(res, 3 + (size_t)i);
        if (bad[i].id) ck_assert_str_eq(json_string_value(json_object_get(r, "id")), bad[i].id);
        else ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), bad[i].line);
        const char *e = json_string_value(json_object_get(r, "error"));
        ck_assert_msg(e && strstr(e, bad[i].err), "record %d: error '%s', want '%s'", i, e, bad[i].err);
        ck_assert_int_eq(json_object_size(r), 2);
    }
    json_decref(res);

    /* strict: the lines before the first bad record, then INVALID_ARG naming it */
    a.strict = true;
    in = fmemopen((void *)jsonl, sizeof jsonl - 1, "r");
    res = run_lines(m, tok, &a, in, NULL, 0, &st, &stats);
    fclose(in);
    ck_assert_int_eq(st, SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(json_array_size(res), 3);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "record 4"));
    json_decref(res);
    a.strict = false;

    /* text arguments with the default aspects; no aspect at all is an error line */
    const char *texts[] = {"a great film", "the movie"};
    res = run_lines(m, tok, &a, NULL, texts, 2, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(res), 2);
    l = json_object_get(json_array_get(res, 1), "aspects");
    check_entry(m, tok, json_array_get(l, 1), "the movie", "movie", "movie");
    check_span(json_array_get(l, 1), 4, 9);
    check_span(json_array_get(l, 0), -1, -1);
    json_decref(res);
    a.n_aspects = 0;
    res = run_lines(m, tok, &a, NULL, texts, 1, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(res, 0), "error")), "no aspect"));
    json_decref(res);

    /* invalid UTF-8 in a plain text */
    const char *badt[] = {"bad \xff film"};
    a.n_aspects = 1;
    res = run_lines(m, tok, &a, NULL, badt, 1, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(res, 0), "error")), "invalid UTF-8 at byte 4"));
    json_decref(res);

    /* a token classifier is refused */
    char tdir[2200];
    snprintf(tdir, sizeof tdir, "%s/tests/fixtures/encoders/bert-tok-h24-a3-l2-gelunew", g_root);
    senti_model *tm = senti_model_load(tdir, 1);
    ck_assert_ptr_nonnull(tm);
    a.n_aspects = 2;
    res = run_lines(tm, tok, &a, NULL, texts, 1, &st, &stats);
    ck_assert_int_eq(st, SENTI_ERR_UNSUPPORTED);
    ck_assert_int_eq(json_array_size(res), 0);
    json_decref(res);
    senti_model_free(tm);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* `senti aspect` prints what task_aspect_run writes, exit 2 on bad arguments */
START_TEST(test_cli) {
    char cli[4096], dir[2200];
    ssize_t n = readlink("/proc/self/exe", cli, sizeof cli - 16);
    ck_assert_int_gt(n, 0);
    cli[n] = '\0';
    char *slash = strrchr(cli, '/');
    ck_assert_ptr_nonnull(slash);
    strcpy(slash, "/../senti"); /* <build>/tests/test_aspect -> <build>/senti */
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "test_cli: skipped, %s not built\n", cli);
        return;
    }
    senti_model *m = load(dir, sizeof dir);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    const char *asp[] = {"food", "service"}, *texts[] = {"the food was great", "bad service !"};
    task_aspect a = {.aspects = asp, .n_aspects = 2, .tmpl = "what do you think of the {aspect} of it ?"};
    char *want = NULL;
    size_t wlen = 0;
    FILE *out = open_memstream(&want, &wlen);
    ck_assert_int_eq(task_aspect_run(m, tok, &a, NULL, NULL, texts, 2, out, NULL), SENTI_OK);
    fclose(out);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "'%s' aspect -m '%s' --dtype f32 --tokenizer '%s' --aspect food --aspect service --template "
             "'what do you think of the {aspect} of it ?' 'the food was great' 'bad service !' 2>/dev/null",
             cli, dir, g_vocab);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char got[8192];
    size_t glen = fread(got, 1, sizeof got - 1, p);
    got[glen] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_str_eq(got, want);
    free(want);
    snprintf(cmd, sizeof cmd, "'%s' aspect -m '%s' 'no aspect given' 2>/dev/null", cli, dir);
    status = system(cmd);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    snprintf(cmd, sizeof cmd, "'%s' aspect -m '%s' --aspect x --template 'no key' t 2>/dev/null", cli, dir);
    status = system(cmd);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

int main(void) {
    init_paths();
    Suite *s = suite_create("aspect");
    TCase *tc = tcase_create("aspect");
    tcase_add_test(tc, test_find_and_second);
    tcase_add_test(tc, test_pair_equals_forward);
    tcase_add_test(tc, test_records);
    tcase_add_test(tc, test_cli);
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
