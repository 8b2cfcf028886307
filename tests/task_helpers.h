/* task_helpers.h — helpers for the task test programs (static: include in
 * one .c file per program): locate the repository and ../shared, run a task
 * into memory and parse its JSONL lines, run one input alone through a model
 * and turn logits into probabilities. */
#ifndef SENTI_TASK_HELPERS_H
#define SENTI_TASK_HELPERS_H

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "senti.h"
#include "tasks/tasks.h"
#include "testutil.h"

static char th_root[2048];

/* th_root = the repository (from this header's path). */
__attribute__((unused)) static void th_init_root(void) { test_repo_root(__FILE__, th_root, sizeof th_root); }

/* The real tokenizer.json of name in ../shared/assets/tokenizers into path;
 * false (with a note) when absent. */
__attribute__((unused)) static bool th_shared_tokenizer(const char *name, char *path, size_t n) {
    snprintf(path, n, "%s/../shared/assets/tokenizers/%s/tokenizer.json", th_root, name);
    if (access(path, R_OK) == 0) return true;
    fprintf(stderr, "skipped: %s not found\n", path);
    return false;
}

/* A WordPiece vocab.txt of the n words (one per line, id = index) at path;
 * aborts when it cannot be written. */
__attribute__((unused)) static void th_write_vocab(const char *path, const char *const *words, size_t n) {
    FILE *v = fopen(path, "w");
    if (!v) abort();
    for (size_t i = 0; i < n; i++) fprintf(v, "%s\n", words[i]);
    if (fclose(v) != 0) abort();
}

/* Parse buf's JSONL lines into a new array (buf is modified). */
__attribute__((unused)) static json_t *th_lines(char *buf) {
    json_t *arr = json_array();
    char *save = NULL;
    for (char *l = buf ? strtok_r(buf, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, JSON_ALLOW_NUL, NULL); /* a text's NUL is \u0000 in the output */
        ck_assert_msg(j != NULL, "output line is not JSON: %s", l);
        json_array_append_new(arr, j);
    }
    return arr;
}

/* th_lines of a copy of buf (buf unchanged). */
__attribute__((unused)) static json_t *th_lines_copy(const char *buf) {
    char *copy = buf ? strdup(buf) : NULL;
    json_t *arr = th_lines(copy);
    free(copy);
    return arr;
}

/* Classify texts with settings c and runner options o into memory; the
 * output text (caller frees). */
__attribute__((unused)) static char *th_classify_texts(senti_model *m, const senti_tokenizer *tok,
                                                       const task_classify *c, const char *const *texts, int64_t n,
                                                       const task_runner_opts *o, task_stats *st) {
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    task_source *src = task_source_texts(texts, n);
    ck_assert_msg(task_classify_run(m, tok, c, src, out, o, st) == SENTI_OK, "%s", senti_last_error());
    task_source_free(src);
    fclose(out);
    return buf;
}

/* Run fn over the JSONL text input (a file source; n bytes) into memory;
 * returns the output lines parsed (caller decrefs) and fn's status in *st. */
typedef senti_status (*th_run_fn)(void *ctx, task_source *src, FILE *out, task_stats *stats);
__attribute__((unused)) static json_t *th_run_input_n(const char *input, size_t n, th_run_fn fn, void *ctx,
                                                      senti_status *st, task_stats *stats) {
    FILE *in = fmemopen((void *)input, n, "r");
    ck_assert_ptr_nonnull(in);
    task_source *src = task_source_file(in, "mem");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    *st = fn(ctx, src, out, stats);
    fclose(out);
    fclose(in);
    task_source_free(src);
    json_t *r = th_lines(buf);
    free(buf);
    return r;
}
__attribute__((unused)) static json_t *th_run_input(const char *input, th_run_fn fn, void *ctx, senti_status *st,
                                                    task_stats *stats) {
    return th_run_input_n(input, strlen(input), fn, ctx, st, stats);
}

/* A zero-shot or dialogue run as a th_run_fn (exactly one of zs, dlg set). */
typedef struct th_task {
    senti_model *m;
    const senti_tokenizer *tok;
    const task_runner_opts *o;
    const task_zeroshot *zs;
    const task_dialogue *dlg;
} th_task;

__attribute__((unused)) static senti_status th_task_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    const th_task *t = ctx;
    return t->zs ? task_zeroshot_run(t->m, t->tok, t->zs, src, out, t->o, st)
                 : task_dialogue_run(t->m, t->tok, t->dlg, src, out, t->o, st);
}

/* Run the suite without forking; 0 when every test passed. */
__attribute__((unused)) static int th_run_suite(Suite *s) {
    SRunner *r = srunner_create(s);
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf == 0 ? 0 : 1;
}

/* Logits row of (text, pair) run alone through sequence classifier m, into
 * out [num_labels]; the encoding is not truncated. */
__attribute__((unused)) static void th_alone(senti_model *m, const senti_tokenizer *tok, const char *text,
                                             const char *pair, float *out) {
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), pair, pair ? strlen(pair) : 0, NULL, &e),
                     SENTI_OK);
    ck_assert_int_le(senti_encoding_len(e), senti_model_max_length(m));
    float *lg = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, senti_encoding_ids(e),
                                         senti_model_type_vocab_size(m) > 0 ? senti_encoding_type_ids(e) : NULL, NULL,
                                         1, senti_encoding_len(e), &lg, shape, &nd),
                     SENTI_OK);
    ck_assert_int_eq(nd, 2);
    memcpy(out, lg, (size_t)shape[1] * sizeof *out);
    senti_model_output_free(lg);
    senti_encoding_free(e);
}

/* Softmax of n logits into p. */
__attribute__((unused)) static void th_softmax(const float *l, int64_t n, double *p) {
    double mx = l[0], z = 0;
    for (int64_t i = 1; i < n; i++) mx = l[i] > mx ? l[i] : mx;
    for (int64_t i = 0; i < n; i++) z += p[i] = exp((double)l[i] - mx);
    for (int64_t i = 0; i < n; i++) p[i] /= z;
}

#endif
