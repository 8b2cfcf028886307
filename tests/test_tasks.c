/* test_tasks.c — the batch runner and classify on the tiny encoder fixtures,
 * paired with a small WordPiece vocab.txt written to a temp dir: output in
 * input order across length-sorted batches and windows, each result equal to
 * the model run on that text alone (softmax / sigmoid of
 * senti_model_forward's logits), bad records as error lines, --strict,
 * multi-label sigmoid with threshold and top-k, progress lines, `senti classify --resume`
 * (and aspect, tag, dialogue) killed with SIGKILL at random points giving the
 * uninterrupted run's bytes, and the command's default weight type (bf16 where
 * the CPU has AVX512_BF16). */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/core.h"
#include "cpu/cpu.h"
#include "model/model.h"
#include "senti.h"
#include "tasks/tasks.h"
#include "testutil.h"

static char g_root[2048];
static char g_tmp[64] = "/tmp/senti-tasks-XXXXXX";
static char g_vocab[128];

static const char *WORDS[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",   "a",    "good",  "bad",
                              "movie", "was",   "is",    "not",   "very",   "great", "awful", "i",   "it",
                              "and",   "film",  "really", "love", "hate",   ",",     ".",     "!",   "##s"};

static void init_paths(void) {
    const char *f = __FILE__; /* <root>/tests/test_tasks.c */
    const char *e = strstr(f, "/tests/test_tasks.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
    if (!mkdtemp(g_tmp)) abort();
    snprintf(g_vocab, sizeof g_vocab, "%s/vocab.txt", g_tmp);
    FILE *v = fopen(g_vocab, "w");
    if (!v) abort();
    for (size_t i = 0; i < sizeof WORDS / sizeof *WORDS; i++) fprintf(v, "%s\n", WORDS[i]);
    fclose(v);
}

static void fixture(char *dir, size_t n, const char *name) {
    snprintf(dir, n, "%s/tests/fixtures/encoders/%s", g_root, name);
}

/* Logits of text (and pair) run alone, truncated to the model's max length. */
static void alone(senti_model *m, const senti_tokenizer *tok, const char *text, const char *pair, float *logits,
                  int64_t nl) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    eo.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
    eo.max_length = senti_model_max_length(m);
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), pair, pair ? strlen(pair) : 0, &eo, &e),
                     SENTI_OK);
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, senti_encoding_ids(e), senti_encoding_type_ids(e), NULL, 1,
                                         senti_encoding_len(e), &out, shape, &nd),
                     SENTI_OK);
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(shape[1], nl);
    memcpy(logits, out, (size_t)nl * sizeof *out);
    senti_model_output_free(out);
    senti_encoding_free(e);
}

/* Run src through m with classify settings c; returns the output lines parsed
 * as a JSON array (caller decrefs) and the status in *st. */
static json_t *run(senti_model *m, const senti_tokenizer *tok, task_source *src, const task_runner_opts *o,
                   task_classify *c, senti_status *st, task_stats *stats) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(out);
    *st = task_run(m, tok, src, out, o, task_classify_decode, c, stats);
    fclose(out);
    json_t *arr = json_array();
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *j = json_loads(line, 0, &err);
        ck_assert_msg(j != NULL, "output line is not JSON: %s", line);
        json_array_append_new(arr, j);
    }
    free(buf);
    return arr;
}

static double score_of(json_t *rec, const char *label) {
    json_t *v = json_object_get(json_object_get(rec, "scores"), label);
    ck_assert_msg(json_is_real(v), "no score for %s", label);
    return json_real_value(v);
}

START_TEST(test_order_and_alone) {
    char dir[2200];
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    senti_model *m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    /* mixed lengths, one longer than max_position_embeddings (40) */
    enum { N = 23 };
    static char texts[N][512];
    unsigned seed = 7;
    for (int i = 0; i < N; i++) {
        int words = i == 11 ? 60 : 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 14;
        texts[i][0] = '\0';
        for (int w = 0; w < words; w++) {
            seed = seed * 1103515245u + 12345u;
            strcat(texts[i], WORDS[5 + (seed >> 16) % 22]);
            strcat(texts[i], " ");
        }
    }
    const char *ptrs[N];
    for (int i = 0; i < N; i++) ptrs[i] = texts[i];
    task_classify c;
    ck_assert_int_eq(task_classify_init(&c, m, dir, 0, 0.5), SENTI_OK);
    ck_assert(!c.multi_label);
    task_runner_opts o = task_runner_opts_defaults();
    o.batch_size = 3;
    o.max_batch_tokens = 48;
    o.window = 7;
    o.n_threads = 2;
    task_source *src = task_source_texts(ptrs, N);
    senti_status st;
    task_stats stats;
    char *pbuf = NULL;
    size_t plen = 0;
    o.progress = open_memstream(&pbuf, &plen);
    json_t *res = run(m, tok, src, &o, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    fclose(o.progress);
    o.progress = NULL;
    /* one progress line per window (7 records each), the last at 100% */
    ck_assert_ptr_nonnull(strstr(pbuf, "\rsenti: 7 records"));
    ck_assert_ptr_nonnull(strstr(pbuf, "\rsenti: 23 records"));
    ck_assert_ptr_nonnull(strstr(pbuf, ", 100%, ETA 0 s"));
    ck_assert(plen > 0 && pbuf[plen - 1] == '\n');
    free(pbuf);
    ck_assert_int_eq(json_array_size(res), N);
    ck_assert_int_eq(stats.records, N);
    ck_assert_int_eq(stats.errors, 0);
    ck_assert_int_eq(stats.truncated, 1);
    ck_assert_int_ge(stats.batches, N / 3);
    ck_assert_int_ge(stats.padded_tokens, stats.tokens);
    for (int i = 0; i < N; i++) {
        json_t *r = json_array_get(res, (size_t)i);
        ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), i);
        float lg[3];
        alone(m, tok, texts[i], NULL, lg, 3);
        double mx = fmax(lg[0], fmax(lg[1], lg[2])), z = 0, sum = 0;
        for (int k = 0; k < 3; k++) z += exp(lg[k] - mx);
        int best = 0;
        for (int k = 0; k < 3; k++) {
            double p = exp(lg[k] - mx) / z, got = score_of(r, senti_model_label(m, k));
            ck_assert_msg(fabs(p - got) < 1e-5, "record %d label %d: %g vs %g alone", i, k, got, p);
            sum += got;
            if (lg[k] > lg[best]) best = k;
        }
        ck_assert_msg(fabs(sum - 1.0) < 1e-6, "record %d: scores sum to %g", i, sum);
        ck_assert_str_eq(json_string_value(json_object_get(r, "label")), senti_model_label(m, best));
        ck_assert(fabs(json_real_value(json_object_get(r, "score")) - score_of(r, senti_model_label(m, best))) <
                  1e-12);
    }
    json_decref(res);
    task_source_free(src);

    /* top-k: the k best, best first */
    ck_assert_int_eq(task_classify_init(&c, m, dir, 2, 0.5), SENTI_OK);
    src = task_source_texts(ptrs, 3);
    res = run(m, tok, src, &o, &c, &st, NULL);
    ck_assert_int_eq(st, SENTI_OK);
    for (size_t i = 0; i < 3; i++) {
        json_t *sc = json_object_get(json_array_get(res, i), "scores");
        ck_assert_int_eq(json_object_size(sc), 2);
        void *it = json_object_iter(sc);
        double first = json_real_value(json_object_iter_value(it));
        double second = json_real_value(json_object_iter_value(json_object_iter_next(sc, it)));
        ck_assert(first >= second);
        ck_assert_str_eq(json_object_iter_key(it), json_string_value(json_object_get(json_array_get(res, i), "label")));
    }
    json_decref(res);
    task_source_free(src);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* Sorted batches run longest first, so a window's activation arena grows
 * once, to its largest batch; run ascending (what --no-sort gives on inputs
 * of ascending length), every batch grew it: a fresh allocation whose pages
 * the kernels then fault in. Same batches, same bytes. */
START_TEST(test_longest_batch_first) {
    char dir[2200];
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(tok);
    enum { N = 24 };
    static char texts[N][512];
    const char *ptrs[N];
    for (int i = 0; i < N; i++) { /* 1 .. 24 words, ascending */
        texts[i][0] = '\0';
        for (int w = 0; w <= i; w++) strcat(texts[i], WORDS[5 + (i + w) % 22]), strcat(texts[i], " ");
        ptrs[i] = texts[i];
    }
    int64_t allocs[2];
    char *lines[2];
    for (int pass = 0; pass < 2; pass++) {
        senti_model *m = senti_model_load(dir, 1);
        ck_assert_ptr_nonnull(m);
        task_classify c;
        ck_assert_int_eq(task_classify_init(&c, m, dir, 0, 0.5), SENTI_OK);
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 4; /* 6 batches in one window, each longer than the last */
        o.no_sort = pass == 1;
        task_source *src = task_source_texts(ptrs, N);
        size_t len = 0;
        FILE *out = open_memstream(&lines[pass], &len);
        ck_assert_ptr_nonnull(out);
        task_stats stats;
        const int64_t before = exec_arena_allocs(m->ex);
        ck_assert_int_eq(task_run(m, tok, src, out, &o, task_classify_decode, &c, &stats), SENTI_OK);
        allocs[pass] = exec_arena_allocs(m->ex) - before;
        fclose(out);
        ck_assert_int_eq(stats.batches, 6);
        task_source_free(src);
        senti_model_free(m);
    }
    ck_assert_str_eq(lines[0], lines[1]);
    ck_assert_msg(allocs[0] == 1, "sorted: the arena was allocated %lld times in one window", (long long)allocs[0]);
    ck_assert_msg(allocs[1] == 6, "ascending: the arena was allocated %lld times", (long long)allocs[1]);
    free(lines[0]);
    free(lines[1]);
    senti_tokenizer_free(tok);
}
END_TEST

/* The fixture classifier at dir, the test vocab, and classify settings (top-k 0, threshold 0.5). */
static void open_classifier(const char *dir, senti_model **m, senti_tokenizer **tok, task_classify *c) {
    *m = senti_model_load(dir, 1);
    *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(*m);
    ck_assert_ptr_nonnull(*tok);
    ck_assert_int_eq(task_classify_init(c, *m, dir, 0, 0.5), SENTI_OK);
}

START_TEST(test_bad_records) {
    char dir[2200];
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    senti_model *m;
    senti_tokenizer *tok;
    task_classify c;
    open_classifier(dir, &m, &tok, &c);
    static const char jsonl[] = "{\"id\":\"a\",\"text\":\"good movie\"}\n"
                                "{\"id\":\"b\",\"text\":5}\n"
                                "not json\n"
                                "\n"
                                "{\"id\":\"d\"}\n"
                                "[1,2]\n"
                                "{\"text\":\"the film\",\"text_pair\":\"was awful\"}\n"
                                "{\"id\":\"e\",\"text\":\"bad\",\"text_pair\":7}\n"
                                "{\"id\":\"f\",\"text\":\"bad \xff\"}\n"
                                "{\"id\":{},\"text\":\"bad\"}\n"
                                "{\"id\":42,\"text\":\"i love it\"}\n";
    FILE *in = fmemopen((void *)jsonl, sizeof jsonl - 1, "r");
    task_source *src = task_source_file(in, "mem.jsonl");
    task_runner_opts o = task_runner_opts_defaults();
    senti_status st;
    task_stats stats;
    json_t *res = run(m, tok, src, &o, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(res), 10);
    ck_assert_int_eq(stats.errors, 7);
    /* expected: id, error substring or NULL for a result */
    static const struct { const char *id; int line; const char *err; } want[] = {
        {"a", -1, NULL},       {"b", -1, "\"text\" must be a string"},
        {NULL, 2, "invalid JSON"}, {"d", -1, "missing field \"text\""},
        {NULL, 5, "not a JSON object"}, {NULL, 6, NULL},
        {"e", -1, "\"text_pair\" must be a string"}, {"f", -1, "invalid UTF-8 at byte 22 of the line"},
        {NULL, 9, "\"id\""},   {NULL, -2, NULL}};
    for (size_t i = 0; i < 10; i++) {
        json_t *r = json_array_get(res, i), *id = json_object_get(r, "id");
        if (want[i].id) ck_assert_str_eq(json_string_value(id), want[i].id);
        else if (want[i].line >= 0) ck_assert_int_eq(json_integer_value(id), want[i].line);
        else ck_assert_int_eq(json_integer_value(id), 42);
        json_t *e = json_object_get(r, "error");
        if (want[i].err) {
            ck_assert_msg(json_is_string(e) && strstr(json_string_value(e), want[i].err),
                          "record %zu: error '%s', want '%s'", i, json_string_value(e), want[i].err);
            ck_assert_int_eq(json_object_size(r), 2);
        } else {
            ck_assert_ptr_null(e);
            ck_assert(json_is_string(json_object_get(r, "label")));
        }
    }
    /* the pair record equals the pair run alone */
    float lg[3];
    alone(m, tok, "the film", "was awful", lg, 3);
    double mx = fmax(lg[0], fmax(lg[1], lg[2])), z = 0;
    for (int k = 0; k < 3; k++) z += exp(lg[k] - mx);
    for (int k = 0; k < 3; k++)
        ck_assert(fabs(exp(lg[k] - mx) / z - score_of(json_array_get(res, 5), senti_model_label(m, k))) < 1e-5);
    json_decref(res);
    task_source_free(src);
    fclose(in);

    /* plain text: invalid UTF-8 is an error line; blank lines keep their index */
    static const char plain[] = "good movie\nbad \xc3\x28 film\n\n  \nawful\n\xe2\x82";
    in = fmemopen((void *)plain, sizeof plain - 1, "r");
    src = task_source_file(in, "mem.txt");
    res = run(m, tok, src, &o, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(res), 4);
    static const int ids[] = {0, 1, 4, 5};
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(res, i), "id")), ids[i]);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 1), "error")), "invalid UTF-8 at byte 4");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 3), "error")), "invalid UTF-8 at byte 0");
    ck_assert_ptr_null(json_object_get(json_array_get(res, 2), "error"));
    json_decref(res);
    task_source_free(src);
    fclose(in);

    /* strict: the records before the bad one are written, then it fails */
    in = fmemopen((void *)plain, sizeof plain - 1, "r");
    src = task_source_file(in, "mem.txt");
    o.strict = true;
    res = run(m, tok, src, &o, &c, &st, &stats);
    ck_assert_int_eq(st, SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "record 1: invalid UTF-8"));
    ck_assert_int_eq(json_array_size(res), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(res, 0), "id")), 0);
    ck_assert_ptr_null(json_object_get(json_array_get(res, 0), "error"));
    json_decref(res);
    task_source_free(src);
    fclose(in);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_multilabel) {
    char dir[2200];
    fixture(dir, sizeof dir, "bert-seq-h30-a5-l2-gelunew-multilabel");
    senti_model *m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    const char *texts[] = {"i love it", "awful film , i hate it", "the movie was not very good but great !", "a"};
    enum { N = 4, L = 4 };
    for (int pass = 0; pass < 3; pass++) {
        double thr = pass == 0 ? 0.5 : pass == 1 ? 0.0 : 0.5;
        task_classify c;
        ck_assert_int_eq(task_classify_init(&c, m, dir, pass == 2 ? 1 : 0, thr), SENTI_OK);
        ck_assert(c.multi_label);
        task_source *src = task_source_texts(texts, N);
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 2;
        senti_status st;
        json_t *res = run(m, tok, src, &o, &c, &st, NULL);
        ck_assert_int_eq(st, SENTI_OK);
        ck_assert_int_eq(json_array_size(res), N);
        for (int i = 0; i < N; i++) {
            json_t *r = json_array_get(res, (size_t)i), *labels = json_object_get(r, "labels");
            ck_assert(json_is_array(labels));
            ck_assert_ptr_null(json_object_get(r, "label"));
            float lg[L];
            alone(m, tok, texts[i], NULL, lg, L);
            int above = 0, best = 0;
            for (int k = 0; k < L; k++) {
                double p = 1.0 / (1.0 + exp(-(double)lg[k]));
                above += p >= thr;
                if (lg[k] > lg[best]) best = k;
                if (pass < 2) ck_assert(fabs(p - score_of(r, senti_model_label(m, k))) < 1e-5);
            }
            if (pass == 2) {
                ck_assert_int_eq(json_object_size(json_object_get(r, "scores")), 1);
                score_of(r, senti_model_label(m, best));
                ck_assert_int_le(json_array_size(labels), 1);
            } else {
                ck_assert_int_eq(json_array_size(labels), above);
            }
            if (pass == 1) ck_assert_int_eq(json_array_size(labels), L);
            if (json_array_size(labels) > 0)
                ck_assert_str_eq(json_string_value(json_array_get(labels, 0)), senti_model_label(m, best));
        }
        json_decref(res);
        task_source_free(src);
    }
    task_classify c;
    ck_assert_int_eq(task_classify_init(&c, m, dir, 0, 1.5), SENTI_ERR_INVALID_ARG);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_not_a_classifier) {
    char dir[2200];
    fixture(dir, sizeof dir, "bert-tok-h24-a3-l2-gelunew");
    senti_model *m = senti_model_load(dir, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    const char *texts[] = {"good"};
    task_source *src = task_source_texts(texts, 1);
    task_classify c = {.model = m};
    FILE *out = tmpfile();
    ck_assert_int_eq(task_run(m, tok, src, out, NULL, task_classify_decode, &c, NULL), SENTI_ERR_UNSUPPORTED);
    fclose(out);
    task_source_free(src);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* ---- kill -9 and --resume, through the senti command ------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Start `senti CMD -m DIR --tokenizer VOCAB EXTRA… --input in --output out`
 * (with --resume when resume, else --strict); returns its pid. */
static pid_t start_cmd(const char *cli, const char *cmd, const char *dir, const char *const *extra, const char *in,
                       const char *out, bool resume) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) dup2(null, 2);
        const char *argv[32] = {"senti", cmd, "-m", dir, "--tokenizer", g_vocab, "--input", in, "--output", out,
                                "--window", "16", "--batch-size", "4", "--threads", "1"};
        int n = 16;
        for (int i = 0; extra && extra[i] && n < 29; i++) argv[n++] = extra[i];
        argv[n++] = resume ? "--resume" : "--strict";
        argv[n] = NULL;
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t start_cli(const char *cli, const char *dir, const char *in, const char *out, bool resume) {
    return start_cmd(cli, "classify", dir, NULL, in, out, resume);
}

static int wait_cli(pid_t pid) {
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return status;
}

START_TEST(test_kill_resume) {
    char cli[4096], dir[2200], in[128], ref[128], out[128], prog[160];
    if (!test_cli_path("test_kill_resume", cli, sizeof cli)) return;
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    snprintf(in, sizeof in, "%s/in.jsonl", g_tmp);
    snprintf(ref, sizeof ref, "%s/ref.jsonl", g_tmp);
    snprintf(out, sizeof out, "%s/out.jsonl", g_tmp);
    snprintf(prog, sizeof prog, "%s/out.jsonl.progress", g_tmp);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    unsigned seed = 11;
    enum { N = 1500 };
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        if (i % 97 == 5) {
            fprintf(f, "{\"id\":\"r%d\",\"text\":null}\n", i); /* a bad record */
            continue;
        }
        fprintf(f, "{\"id\":\"r%d\",\"text\":\"", i);
        int words = 1 + (int)((seed >> 16) % 50);
        for (int w = 0; w < words; w++) {
            seed = seed * 1103515245u + 12345u;
            fprintf(f, "%s%s", w ? " " : "", WORDS[5 + (seed >> 16) % 21]);
        }
        fprintf(f, "\"}\n");
    }
    fclose(f);
    double t0 = now_s();
    int status = wait_cli(start_cli(cli, dir, in, ref, true));
    double full = now_s() - t0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reference run failed: status %d", status);
    size_t nref, nout;
    char *want = test_slurp(ref, &nref);
    int lines = 0;
    for (size_t i = 0; i < nref; i++) lines += want[i] == '\n';
    ck_assert_int_eq(lines, N);

    /* a strict run stops at the first bad record, having written those before it */
    status = wait_cli(start_cli(cli, dir, in, out, false));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    char *got = test_slurp(out, &nout);
    lines = 0;
    for (size_t i = 0; i < nout; i++) lines += got[i] == '\n';
    ck_assert_int_eq(lines, 5);
    ck_assert(nout <= nref && memcmp(got, want, nout) == 0);
    free(got);
    unlink(out);
    unlink(prog);

    int interrupted = 0;
    for (int k = 0; k < 8; k++) {
        seed = seed * 1103515245u + 12345u;
        double delay = full * 0.4 * (double)((seed >> 16) % 1000) / 1000.0; /* runs resume, so later ones are shorter */
        pid_t pid = start_cli(cli, dir, in, out, true);
        usleep((useconds_t)(delay * 1e6));
        kill(pid, SIGKILL);
        status = wait_cli(pid);
        interrupted += WIFSIGNALED(status);
    }
    status = wait_cli(start_cli(cli, dir, in, out, true));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    got = test_slurp(out, &nout);
    ck_assert_int_eq(nout, nref);
    ck_assert_msg(memcmp(got, want, nref) == 0, "resumed output differs from the uninterrupted run");
    fprintf(stderr, "test_kill_resume: %d of 8 runs killed mid-way, output identical\n", interrupted);
    free(got);
    free(want);
    unlink(in);
    unlink(ref);
    unlink(out);
    unlink(prog);
    char p2[160];
    snprintf(p2, sizeof p2, "%s/ref.jsonl.progress", g_tmp);
    unlink(p2);
}
END_TEST

/* The same kill -9 / --resume check for aspect, tag and dialogue: random
 * kills, then a final resumed run, must give the uninterrupted run's bytes. */
static void kill_resume_cmd(const char *cli, const char *cmd, const char *model, const char *const *extra, int kind) {
    char dir[2200], in[128], ref[160], out[160], prog[200];
    fixture(dir, sizeof dir, model);
    snprintf(in, sizeof in, "%s/in-%s.jsonl", g_tmp, cmd);
    snprintf(ref, sizeof ref, "%s/ref-%s.jsonl", g_tmp, cmd);
    snprintf(out, sizeof out, "%s/out-%s.jsonl", g_tmp, cmd);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    unsigned seed = 23;
    enum { N = 600 };
    for (int i = 0; i < N; i++) {
        if (i % 89 == 7) {
            fprintf(f, "{\"id\":\"r%d\",\"text\":7,\"dialogue\":7}\n", i); /* a bad record */
            continue;
        }
        char words[4][400];
        for (int p = 0; p < 4; p++) {
            words[p][0] = '\0';
            seed = seed * 1103515245u + 12345u;
            int nw = 1 + (int)((seed >> 16) % 12);
            for (int w = 0; w < nw; w++) {
                seed = seed * 1103515245u + 12345u;
                strcat(words[p], w ? " " : "");
                strcat(words[p], WORDS[5 + (seed >> 16) % 21]);
            }
        }
        if (kind == 0) fprintf(f, "{\"id\":\"r%d\",\"text\":\"%s\"}\n", i, words[0]);
        else if (kind == 1) fprintf(f, "{\"id\":\"r%d\",\"text\":\"%s\",\"aspect\":[\"%s\",\"%s\"]}\n", i, words[0], words[1], words[2]);
        else
            fprintf(f, "{\"id\":\"r%d\",\"dialogue\":[{\"speaker\":\"a\",\"text\":\"%s\"},{\"speaker\":\"b\",\"text\":\"%s\"},"
                       "{\"text\":\"%s\"}]}\n", i, words[0], words[1], words[2]);
    }
    fclose(f);
    double t0 = now_s();
    int status = wait_cli(start_cmd(cli, cmd, dir, extra, in, ref, true));
    double full = now_s() - t0;
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s reference run failed: status %d", cmd, status);
    size_t nref, nout;
    char *want = test_slurp(ref, &nref);
    int lines = 0, errors = 0;
    for (size_t i = 0; i < nref; i++) lines += want[i] == '\n';
    for (const char *p = want; (p = strstr(p, "\"error\"")); p++) errors++;
    ck_assert_int_eq(lines, N);
    ck_assert_int_eq(errors, (N + 81) / 89);
    int interrupted = 0;
    for (int k = 0; k < 5; k++) {
        seed = seed * 1103515245u + 12345u;
        double delay = full * 0.5 * (double)((seed >> 16) % 1000) / 1000.0;
        pid_t pid = start_cmd(cli, cmd, dir, extra, in, out, true);
        usleep((useconds_t)(delay * 1e6));
        kill(pid, SIGKILL);
        status = wait_cli(pid);
        interrupted += WIFSIGNALED(status);
    }
    status = wait_cli(start_cmd(cli, cmd, dir, extra, in, out, true));
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *got = test_slurp(out, &nout);
    ck_assert_int_eq(nout, nref);
    ck_assert_msg(memcmp(got, want, nref) == 0, "%s: resumed output differs from the uninterrupted run", cmd);
    fprintf(stderr, "kill/resume %s: %d of 5 runs killed mid-way, output identical\n", cmd, interrupted);
    free(got);
    free(want);
    unlink(in);
    unlink(ref);
    unlink(out);
    snprintf(prog, sizeof prog, "%s.progress", ref);
    unlink(prog);
    snprintf(prog, sizeof prog, "%s.progress", out);
    unlink(prog);
}

START_TEST(test_kill_resume_tasks) {
    char cli[4096];
    if (!test_cli_path("test_kill_resume_tasks", cli, sizeof cli)) return;
    const char *tag_args[] = {"--aggregation", "first", NULL};
    kill_resume_cmd(cli, "tag", "bert-tok-h24-a3-l2-gelunew", tag_args, 0);
    kill_resume_cmd(cli, "aspect", "bert-seq-h24-a3-l2-gelu", NULL, 1);
    const char *dlg_args[] = {"--context", "2", NULL};
    kill_resume_cmd(cli, "dialogue", "bert-seq-h24-a3-l2-gelu", dlg_args, 2);
}
END_TEST

/* ---- the default weight type: bf16 where the CPU multiplies it natively ------- */

/* Whether /proc/cpuinfo's flags list avx512_bf16 (-1: unreadable): the kernel's
 * word, independent of senti's CPUID probe. */
static int cpuinfo_has_bf16(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return -1;
    char line[8192];
    int has = -1;
    while (has < 0 && fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0) has = strstr(line, " avx512_bf16") != NULL;
    fclose(f);
    return has;
}

/* The bytes of one forward of ids through m. */
static float *forward_ids(senti_model *m, int64_t *n) {
    static const int32_t ids[] = {2, 5, 7, 9, 10, 13, 14, 3};
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, ids, NULL, NULL, 1, 8, &out, shape, &nd), SENTI_OK);
    *n = shape[0] * shape[1];
    return out;
}

static senti_model *load_as(const char *dir, senti_type wt, int prefer_bf16) {
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = 1;
    o.weight_type = wt;
    o.prefer_bf16 = prefer_bf16;
    senti_model *m = senti_model_load_opts(dir, &o);
    ck_assert_msg(m != NULL, "%s: %s", dir, senti_last_error());
    return m;
}

/* `senti classify` with extra flags on one text: stdout (malloc), stderr into *err (malloc). */
static char *classify_cli(const char *cli, const char *dir, const char *flags, char **err) {
    char cmd[8192], errf[128];
    snprintf(errf, sizeof errf, "%s/stderr.txt", g_tmp);
    snprintf(cmd, sizeof cmd, "'%s' classify -m '%s' --tokenizer '%s' --threads 1 %s 'the movie was not very good' 2>'%s'",
             cli, dir, g_vocab, flags, errf);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char *out = calloc(1, 65536);
    ck_assert_ptr_nonnull(out);
    size_t n = fread(out, 1, 65535, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", cmd);
    size_t en;
    *err = test_slurp(errf, &en);
    unlink(errf);
    return out;
}

/* With no --dtype the senti command (prefer_bf16) runs a float encoder's linear
 * weights in bf16 exactly when the CPU backend multiplies bf16 natively: the
 * AVX-512 level with AVX512_BF16 (so not under SENTI_SIMD=avx2 / scalar, nor on
 * an AVX2-only CPU), giving --dtype bf16's bytes there and --dtype f32's
 * elsewhere; quantized files and decoders stay as stored; the library's
 * default stays f32; --resume refuses to continue a default bf16 run in f32. */
START_TEST(test_default_dtype) {
    senti_backend *be = senti_backend_cpu_init(1);
    ck_assert_ptr_nonnull(be);
    const cpu_ctx *c = cpu_backend_ctx(be);
    const bool native = c->simd >= CPU_SIMD_AVX512 && c->feat.avx512_bf16; /* gemm.c's test for vdpbf16ps */
    const char *lvl = getenv("SENTI_SIMD");
    const bool lowered = lvl && (strcmp(lvl, "avx2") == 0 || strcmp(lvl, "scalar") == 0);
    const int flag = cpuinfo_has_bf16();
    fprintf(stderr, "test_default_dtype: level %s, AVX512_BF16 %s (cpuinfo %d): default %s\n", cpu_simd_name(c->simd),
            c->feat.avx512_bf16 ? "yes" : "no", flag, native ? "bf16" : "f32");
    senti_backend_free(be);
    ck_assert_int_eq(senti_bf16_native(NULL), native);
    ck_assert_int_eq(senti_bf16_native("cpu"), native);
    ck_assert_int_eq(senti_bf16_native("cuda"), 0);
    if (lowered) ck_assert(!native);
    if (flag >= 0 && !lowered) ck_assert_int_eq(native, flag); /* a native run on a Zen 4 (or later) is bf16 */

    char dir[2200];
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    senti_model *def = load_as(dir, SENTI_TYPE_COUNT, 0), *bf = load_as(dir, SENTI_TYPE_BF16, 0),
                *pref = load_as(dir, SENTI_TYPE_COUNT, 1);
    ck_assert_int_eq(senti_model_linear_type(def), SENTI_TYPE_COUNT);
    ck_assert_int_eq(senti_model_linear_type(bf), SENTI_TYPE_BF16);
    ck_assert_int_eq(senti_model_linear_type(pref), native ? SENTI_TYPE_BF16 : SENTI_TYPE_COUNT);
    int64_t n0, n1, n2;
    float *y0 = forward_ids(def, &n0), *y1 = forward_ids(bf, &n1), *y2 = forward_ids(pref, &n2);
    ck_assert(n0 == n1 && n0 == n2);
    ck_assert_msg(memcmp(y0, y1, (size_t)n0 * sizeof *y0) != 0, "bf16 weights gave f32's bytes: the check is void");
    ck_assert_msg(memcmp(y2, native ? y1 : y0, (size_t)n0 * sizeof *y0) == 0, "prefer_bf16 is not %s",
                  native ? "bf16" : "f32");
    senti_model_output_free(y0), senti_model_output_free(y1), senti_model_output_free(y2);
    senti_model_free(def), senti_model_free(bf), senti_model_free(pref);

    /* f16 and bf16 checkpoints too; decoders and quantized files as stored */
    const struct { const char *dir; senti_type want; } cases[] = {
        {"tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu-f16", native ? SENTI_TYPE_BF16 : SENTI_TYPE_COUNT},
        {"tests/fixtures/encoders/roberta-seq-h24-a6-l2-gelu-bf16", native ? SENTI_TYPE_BF16 : SENTI_TYPE_COUNT},
        {"tests/fixtures/decoders/qwen2-tied", SENTI_TYPE_COUNT},
        {"models/sst2-minilm-l6-q8_0.gguf", SENTI_TYPE_COUNT},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char p[2300];
        snprintf(p, sizeof p, "%s/%s", g_root, cases[k].dir);
        senti_model *m = load_as(p, SENTI_TYPE_COUNT, 1);
        ck_assert_msg(senti_model_linear_type(m) == cases[k].want, "%s: linear type %d", cases[k].dir,
                      (int)senti_model_linear_type(m));
        senti_model_free(m);
    }

    /* the command: no --dtype gives --dtype bf16's bytes where native, else --dtype f32's, and says which */
    char cli[4096];
    if (!test_cli_path("test_default_dtype (the command part)", cli, sizeof cli)) return;
    char *e0, *e1, *e2;
    char *o0 = classify_cli(cli, dir, "", &e0), *o1 = classify_cli(cli, dir, "--dtype bf16", &e1),
         *o2 = classify_cli(cli, dir, "--dtype f32", &e2);
    ck_assert_str_ne(o1, o2);
    ck_assert_str_eq(o0, native ? o1 : o2);
    ck_assert_msg(strstr(e0, native ? "linear weights bf16 (the default" : "linear weights as stored (f32)"), "%s", e0);
    ck_assert_msg(strstr(e1, "linear weights bf16 (--dtype)") && strstr(e2, "linear weights f32 (--dtype)"), "%s%s", e1,
                  e2);
    free(o0), free(o1), free(o2), free(e0), free(e1), free(e2);
    char cmd[8192], out[128];
    snprintf(out, sizeof out, "%s/dflt.jsonl", g_tmp);
    /* the kernel level is recorded too: bytes are the same only at one level, so a resume at another is refused */
    if (strcmp(senti_simd_level(NULL), "scalar") != 0) {
        snprintf(cmd, sizeof cmd, "'%s' classify -m '%s' --tokenizer '%s' --threads 1 --dtype f32 --output '%s' good "
                 "2>/dev/null", cli, dir, g_vocab, out);
        ck_assert_int_eq(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "SENTI_SIMD=scalar '%s' classify -m '%s' --tokenizer '%s' --threads 1 --dtype f32 "
                 "--output '%s' --resume good 2>&1 | grep -q 'then: SENTI_SIMD=%s; now: SENTI_SIMD=scalar'", cli, dir,
                 g_vocab, out, senti_simd_level(NULL));
        ck_assert_msg(system(cmd) == 0, "%s", cmd);
    }
    if (!native) return;
    /* the default's bf16 is recorded for --resume: resuming at a level that would pick f32 is refused */
    snprintf(cmd, sizeof cmd, "'%s' classify -m '%s' --tokenizer '%s' --threads 1 --output '%s' good 2>/dev/null", cli,
             dir, g_vocab, out);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "SENTI_SIMD=avx2 '%s' classify -m '%s' --tokenizer '%s' --threads 1 --output '%s' --resume "
             "good 2>&1 | grep -q 'then: .*--dtype=bf16.*; now: SENTI_SIMD=avx2)'", cli, dir, g_vocab, out);
    ck_assert_int_eq(system(cmd), 0);
    unlink(out);
    snprintf(out, sizeof out, "%s/dflt.jsonl.progress", g_tmp);
    unlink(out);
}
END_TEST

/* ---- bounded reading: over-long lines, byte ranges, shards, limits ---------- */

/* The next record's id (an integer) and text / error, read from src. */
static void expect_rec(task_source *src, long long id, const char *text, const char *error_has) {
    task_record r = {0};
    ck_assert_int_eq(task_source_read(src, &r), 1);
    ck_assert_int_eq(json_integer_value(r.id), id);
    if (text) ck_assert_str_eq(r.text, text);
    if (error_has) ck_assert_msg(r.error && strstr(r.error, error_has), "record %lld: error %s", id, r.error);
    else ck_assert_ptr_null(r.error);
    task_record_clear(&r);
}

START_TEST(test_bounded_lines) {
    char path[128];
    snprintf(path, sizeof path, "%s/long.txt", g_tmp);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("good movie\n", f);
    for (int i = 0; i < (9 << 20) / 64; i++) fputs("0123456789012345678901234567890123456789012345678901234567890123", f);
    fputs("\nbad movie\n\nthe end", f); /* a 9 MiB line, a blank line, no final newline */
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(path, "rb");
    task_source *src = task_source_file(f, "long.txt");
    expect_rec(src, 0, "good movie", NULL);
    expect_rec(src, 1, NULL, "more than the 8 MiB");
    expect_rec(src, 2, "bad movie", NULL);
    expect_rec(src, 4, "the end", NULL);
    task_record r = {0};
    ck_assert_int_eq(task_source_read(src, &r), 0);
    task_source_free(src);

    /* shards tile the file at line starts; ids continue from the lines before */
    const int n = 3;
    int64_t prev_end = 0, before = 0;
    long long want[] = {0, 1, 2, 4};
    int next = 0;
    for (int rank = 0; rank < n; rank++) {
        int64_t start, end, lines;
        ck_assert_int_eq(task_shard_range(f, "long.txt", rank, n, &start, &end), SENTI_OK);
        ck_assert_int_eq(start, prev_end);
        ck_assert_int_eq(task_shard_count_lines(f, "long.txt", start, end, &lines), SENTI_OK);
        ck_assert_int_eq(fseeko(f, start, SEEK_SET), 0);
        src = task_source_file(f, "long.txt");
        task_source_range(src, end - start, before, false);
        for (int got; (got = task_source_read(src, &r)) == 1; next++) {
            ck_assert_int_lt(next, 4);
            ck_assert_int_eq(json_integer_value(r.id), want[next]);
            task_record_clear(&r);
        }
        task_source_free(src);
        prev_end = end;
        before += lines; /* what MPI_Exscan gives the next rank */
    }
    ck_assert_int_eq(next, 4);
    ck_assert_int_eq(before, 4); /* four '\n' bytes: the last line has none */
    ck_assert_int_eq(prev_end, (9 << 20) + 11 + 10 + 1 + 7 + 1);

    /* a limit ends any source after its first n records */
    ck_assert_int_eq(fseeko(f, 0, SEEK_SET), 0);
    src = task_source_file(f, "long.txt");
    task_source_limit(src, 2);
    expect_rec(src, 0, "good movie", NULL);
    expect_rec(src, 1, NULL, "more than the 8 MiB");
    ck_assert_int_eq(task_source_read(src, &r), 0);
    task_source_free(src);
    fclose(f);
    unlink(path);
}
END_TEST

/* What an outside probe found (2026-12-07): a JSONL file's BOM, --format
 * honoured, outputs that are the model or tokenizer refused, and --stride's
 * windows bounded per record. */
/* content as the temp file name (its path in path), opened for reading. */
static FILE *tmp_file(char *path, size_t n, const char *name, const char *content) {
    snprintf(path, n, "%s/%s", g_tmp, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    ck_assert_int_eq(fclose(f), 0);
    f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    return f;
}

START_TEST(test_input_edges) {
    char path[128];
    FILE *f = tmp_file(path, sizeof path, "bom.jsonl", "\xef\xbb\xbf{\"text\":\"good\"}\n{\"txt\":\"bad\"}\n");
    task_source *src = task_source_file(f, "bom.jsonl");
    expect_rec(src, 0, "good", NULL); /* read as JSON, not as the text {"text":"good"} */
    expect_rec(src, 1, NULL, "missing field");
    task_source_free(src);
    fclose(f);

    /* --format jsonl / lines as asked, not by the first line */
    for (int k = 0; k < 2; k++) {
        f = tmp_file(path, sizeof path, "mixed.txt", "good\n{\"text\":\"bad\"}\n");
        src = task_source_dataset(f, path, k ? TASK_FORMAT_LINES : TASK_FORMAT_JSONL);
        ck_assert_ptr_nonnull(src);
        expect_rec(src, 0, k ? "good" : NULL, k ? NULL : "invalid JSON");
        expect_rec(src, 1, k ? "{\"text\":\"bad\"}" : "bad", NULL);
        task_source_free(src);
        fclose(f);
    }

    /* an output that is the model's file, or one inside a model directory, is refused */
    char dir[2200], file[2400];
    fixture(dir, sizeof dir, "bert-seq-h24-a3-l2-gelu");
    snprintf(file, sizeof file, "%s/config.json", dir);
    ck_assert_int_eq(task_output_clash("--output", file, "the model", dir), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "config.json"));
    ck_assert_int_eq(task_output_clash("--output", file, "the tokenizer", file), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(task_output_clash("--output", g_vocab, "the model", dir), SENTI_OK);
    ck_assert_int_eq(task_output_clash("--output", "/nonexistent/out.jsonl", "the model", dir), SENTI_OK);
    snprintf(file, sizeof file, "%s/../%s/new.jsonl", g_tmp, strrchr(g_tmp, '/') + 1);
    snprintf(path, sizeof path, "%s/new.jsonl", g_tmp);
    ck_assert(task_same_path(file, path)); /* neither exists: the same directory and name */
    ck_assert(!task_same_path(path, g_vocab));

    /* --stride: a record whose windows would pass the per-record token bound gets its own error line;
     * the others run (max length 40: w = 38, stride 37 puts each token in 38 windows) */
    senti_model *m;
    senti_tokenizer *tok;
    task_classify c;
    open_classifier(dir, &m, &tok, &c);
    c.lng.stride = 37;
    const size_t words = 500000;
    char *big = malloc(words * 5 + 1);
    for (size_t i = 0; i < words; i++) memcpy(big + 5 * i, "good ", 5);
    big[words * 5] = '\0';
    const char *texts[] = {"a good movie", big, "good movie but a bad end and a good film and a bad film"};
    src = task_source_texts(texts, 3);
    senti_status st;
    task_stats stats;
    task_runner_opts o = task_runner_opts_defaults();
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(mem);
    st = task_classify_run(m, tok, &c, src, mem, &o, &stats);
    fclose(mem);
    ck_assert_int_eq(st, SENTI_OK);
    json_t *out = json_array();
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        json_array_append_new(out, json_loads(line, 0, NULL));
    free(buf);
    ck_assert_int_eq(json_array_size(out), 3);
    ck_assert_ptr_nonnull(json_object_get(json_array_get(out, 0), "label"));
    const char *err = json_string_value(json_object_get(json_array_get(out, 1), "error"));
    ck_assert_msg(err && strstr(err, "--stride"), "the huge windowed record: %s", err ? err : "(no error)");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(out, 2), "label"));
    json_decref(out);
    task_source_free(src);
    free(big);

    /* a window of short records is bounded by memory too, not only by --window: 20,000 one-word records with
     * --window 100000 come in more than one window (each record counts ~4 KB beside its text) */
    enum { NSHORT = 20000 };
    const char **shorts = malloc(NSHORT * sizeof *shorts);
    for (int i = 0; i < NSHORT; i++) shorts[i] = i % 2 ? "good" : "bad";
    src = task_source_texts(shorts, NSHORT);
    c.lng.stride = 0;
    o.window = 100000;
    buf = NULL;
    len = 0;
    char *pbuf = NULL;
    size_t plen = 0;
    mem = open_memstream(&buf, &len);
    o.progress = open_memstream(&pbuf, &plen);
    st = task_classify_run(m, tok, &c, src, mem, &o, &stats);
    fclose(mem);
    fclose(o.progress);
    o.progress = NULL;
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(stats.records, NSHORT);
    const char *first = strstr(pbuf, "senti: ");
    ck_assert_ptr_nonnull(first);
    const long first_n = strtol(first + 7, NULL, 10);
    ck_assert_msg(first_n > 1000 && first_n < NSHORT, "the first window held %ld of %d records", first_n, NSHORT);
    free(pbuf);
    free(buf);
    free(shorts);
    task_source_free(src);
    senti_tokenizer_free(tok);
    senti_model_free(m);

    /* --explain-html that cannot be written, or that is --output: refused before --output is created */
    char cli[4096];
    if (!test_cli_path("test_input_edges (the command part)", cli, sizeof cli)) return;
    const char *bad[] = {"/nonexistent/x.html", NULL /* the --output path */};
    for (int k = 0; k < 2; k++) {
        char cmd[8192], op[256];
        snprintf(op, sizeof op, "%s/eh%d.jsonl", g_tmp, k);
        snprintf(cmd, sizeof cmd, "'%s' classify -m '%s' --tokenizer '%s' --threads 1 --explain occlusion --output '%s' "
                 "--explain-html '%s' good 2>/dev/null", cli, dir, g_vocab, op, k ? op : bad[k]);
        const int rc = system(cmd);
        ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s: rc %d", cmd, rc);
        ck_assert_msg(access(op, F_OK) != 0, "%s left %s", cmd, op);
    }
    /* --output that is a file of a second model (cause --pair-model): refused, the model's file untouched */
    char cmd[8192], more[256], cfg[300];
    snprintf(more, sizeof more, "%s/more", g_tmp);
    snprintf(cfg, sizeof cfg, "%s/config.json", more);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", more, dir, more);
    ck_assert_int_eq(system(cmd), 0);
    struct stat before, after;
    ck_assert_int_eq(stat(cfg, &before), 0);
    snprintf(cmd, sizeof cmd, "'%s' cause -m '%s' --pair-model '%s' --tokenizer '%s' --threads 1 --output '%s' "
             "'good, bad' 2>/dev/null", cli, dir, more, g_vocab, cfg);
    const int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) != 0, "%s: rc %d", cmd, rc);
    ck_assert_int_eq(stat(cfg, &after), 0);
    ck_assert_msg(after.st_size == before.st_size && after.st_size > 0, "%s: %s is %lld bytes", cmd, cfg,
                  (long long)after.st_size);
    /* eval --score with -m maps integer gold labels through the model's names: its own --predictions score
     * what the run scored (without -m the names cannot meet: 0, with a warning) */
    char data[256], pred[256];
    snprintf(data, sizeof data, "%s/ev.tsv", g_tmp);
    snprintf(pred, sizeof pred, "%s/ev-pred.jsonl", g_tmp);
    static const char *const TX[] = {"good movie", "bad film", "not good", "a good one"};
    FILE *d = fopen(data, "w");
    fputs("sentence\tlabel\n", d);
    for (int k = 0; k < 4; k++) { /* gold = the model's own label id: the run scores 1 */
        snprintf(cmd, sizeof cmd, "'%s' classify -m '%s' --tokenizer '%s' --threads 1 '%s' 2>/dev/null", cli, dir,
                 g_vocab, TX[k]);
        FILE *p = popen(cmd, "r");
        char line[4096] = "";
        ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
        pclose(p);
        json_t *j = json_loads(line, 0, NULL);
        const char *lab = json_string_value(json_object_get(j, "label"));
        ck_assert_ptr_nonnull(lab);
        fprintf(d, "%s\t%d\n", TX[k], !strcmp(lab, "negative") ? 0 : !strcmp(lab, "neutral") ? 1 : 2);
        json_decref(j);
    }
    fclose(d);
    double acc[3];
    for (int k = 0; k < 3; k++) {
        snprintf(cmd, sizeof cmd, "'%s' eval %s%s%s --tokenizer '%s' --threads 1 --task classify --data '%s' %s '%s' "
                 "2>/dev/null", cli, k < 2 ? "-m '" : "", k < 2 ? dir : "", k < 2 ? "'" : "", g_vocab, data,
                 k ? "--score" : "--predictions", pred);
        FILE *p = popen(cmd, "r");
        char line[8192] = "";
        ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
        ck_assert_int_eq(pclose(p), 0);
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(j, "%s: %s", cmd, line);
        acc[k] = json_real_value(json_object_get(json_object_get(j, "metrics"), "accuracy"));
        json_decref(j);
    }
    ck_assert_msg(acc[0] == 1.0 && acc[1] == 1.0 && acc[2] == 0.0, "accuracy: run %g, --score -m %g, --score %g",
                  acc[0], acc[1], acc[2]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("classify");
    tcase_add_test(tc, test_order_and_alone);
    tcase_add_test(tc, test_bad_records);
    tcase_add_test(tc, test_longest_batch_first);
    tcase_add_test(tc, test_multilabel);
    tcase_add_test(tc, test_not_a_classifier);
    tcase_add_test(tc, test_bounded_lines);
    tcase_add_test(tc, test_input_edges);
    tcase_add_test(tc, test_kill_resume);
    tcase_add_test(tc, test_kill_resume_tasks);
    suite_add_tcase(s, tc);
    tc = tcase_create("default_dtype");
    tcase_add_test(tc, test_default_dtype);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    init_paths();
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    unlink(g_vocab);
    rmdir(g_tmp);
    return nf == 0 ? 0 : 1;
}
