/* classify.c — `senti classify -m DIR [--top-k K] [--threshold X] [common
 * flags] [TEXT…]`: one JSON line per input, in input order, and a summary
 * line on stderr. Exit 2 on bad arguments, 1 when the model cannot load or
 * run or a --strict run meets a bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_classify(int argc, char **argv);

static void classify_usage(FILE *f) {
    fprintf(f, "usage: senti classify [-m DIR] [--top-k K] [--threshold X] [--stride N [--aggregate A]] [--no-truncate]\n"
               "                      [--explain M [--explain-html FILE] [--ig-steps N]] [common flags] [TEXT...]\n"
               "  without -m: the embedded SST-2 sentiment model (negative / positive)\n"
               "  --top-k K: the K best labels, best first (default: all, in label order)\n"
               "  --threshold X: multi-label models (config problem_type): labels with sigmoid >= X (0.5)\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\",\"text_pair\"}) or plain text lines\n"
               CLI_LONG_USAGE CLI_EXPLAIN_USAGE CLI_TASK_USAGE);
}

typedef struct classify_args {
    long top_k;
    double threshold;
    task_long lng;
    cli_explain ex;
} classify_args;

enum { O_TOPK = CLI_O_FIRST_FREE, O_THRESH };

static int classify_opt(void *ctx, int c, const char *arg) {
    classify_args *a = ctx;
    const int lr = cli_long_opt("classify", c, arg, &a->lng);
    if (lr != 0) return lr;
    const int er = cli_explain_opt("classify", c, arg, &a->ex);
    if (er != 0) return er;
    if (c == O_TOPK) return cli_parse_long("classify", "--top-k", arg, 1, 1000000, &a->top_k) ? 1 : -1;
    if (c == O_THRESH) return cli_parse_unit("classify", "--threshold", arg, &a->threshold) ? 1 : -1;
    return 0;
}

int cmd_classify(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"top-k", required_argument, 0, O_TOPK},
                                         {"threshold", required_argument, 0, O_THRESH},
                                         CLI_LONG_OPTIONS,
                                         CLI_EXPLAIN_OPTIONS,
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "classify");
    t.default_model = senti_default_model(); /* -m may be left out */
    classify_args a = {.threshold = 0.5};
    int rc = cli_task_args(&t, argc, argv, opts, classify_opt, &a, classify_usage);
    if (rc < 0 && !cli_explain_check("classify", &a.ex, &t)) rc = 2;
    if (rc >= 0) return rc;
    task_classify cls;
    senti_status s = SENTI_ERR_IO;
    if (cli_task_open(&t, argc, argv, optind) &&
        (s = task_classify_init(&cls, t.model, t.dir, a.top_k, a.threshold)) == SENTI_OK) {
        cls.lng = a.lng;
        cls.explain = &a.ex.x;
        s = cli_explain_open(&a.ex, &t)
                ? task_classify_run(t.model, t.tok, &cls, t.src, t.out, &t.ro, &t.st)
                : (t.explained = true, SENTI_ERR_INVALID_ARG);
    }
    return cli_explain_close("classify", &a.ex, cli_task_close(&t, s));
}
