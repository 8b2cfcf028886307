/* aspect.c — `senti aspect -m DIR [--aspect A]... [--template T] [common
 * flags] [TEXT…]`: the sentiment of each (text, aspect) pair, one JSON line
 * per input in input order ({"id","aspects":[…]}), and a summary line on
 * stderr. Exit 2 on bad arguments, 1 when the model cannot load or run or a
 * --strict run meets a bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_aspect(int argc, char **argv);

static void aspect_usage(FILE *f) {
    fprintf(f, "usage: senti aspect -m DIR [--aspect A]... [--template T] [--stride N [--aggregate A]]\n"
               "                    [--no-truncate] [--explain M [--explain-html FILE]] [common flags] [TEXT...]\n"
               "  --aspect A: an aspect of every text (repeatable); a JSONL record's \"aspect\"\n"
               "              (a string or an array of strings) takes precedence\n"
               "  --template T: second sentence built from T, e.g. \"what do you think of the {aspect} of it ?\"\n"
               "                (default: the aspect itself, as the sentence pair)\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\",\"aspect\"}) or plain text lines\n"
               CLI_LONG_USAGE CLI_EXPLAIN_USAGE CLI_TASK_USAGE);
}

typedef struct aspect_args {
    const char **aspects; /* argv strings */
    int64_t n;
    const char *tmpl;
    task_long lng;
    cli_explain ex;
} aspect_args;

enum { O_ASPECT = CLI_O_FIRST_FREE, O_TEMPLATE };

static int aspect_opt(void *ctx, int c, const char *arg) {
    aspect_args *a = ctx;
    const int lr = cli_long_opt("aspect", c, arg, &a->lng);
    if (lr != 0) return lr;
    const int er = cli_explain_opt("aspect", c, arg, &a->ex);
    if (er != 0) return er;
    if (c == O_ASPECT) {
        if (!*arg) {
            fprintf(stderr, "senti aspect: --aspect must not be empty\n");
            return -1;
        }
        a->aspects[a->n++] = arg;
        return 1;
    }
    if (c != O_TEMPLATE) return 0;
    if (!strstr(arg, "{aspect}")) {
        fprintf(stderr, "senti aspect: --template must contain {aspect}\n");
        return -1;
    }
    a->tmpl = arg;
    return 1;
}

int cmd_aspect(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"aspect", required_argument, 0, O_ASPECT},
                                         {"template", required_argument, 0, O_TEMPLATE},
                                         CLI_LONG_OPTIONS,
                                         CLI_EXPLAIN_OPTIONS,
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "aspect");
    aspect_args a = {.aspects = calloc((size_t)argc + 1, sizeof *a.aspects)};
    if (!a.aspects) {
        fprintf(stderr, "senti aspect: out of memory\n");
        return 1;
    }
    int rc = cli_task_args(&t, argc, argv, opts, aspect_opt, &a, aspect_usage);
    if (rc < 0 && !cli_explain_check("aspect", &a.ex, &t)) rc = 2;
    if (rc < 0 && !t.input && a.n == 0) {
        fprintf(stderr, "senti aspect: TEXT arguments need --aspect A\n");
        aspect_usage(stderr);
        rc = 2;
    }
    if (rc < 0) {
        task_aspect asp = {.aspects = a.aspects, .n_aspects = a.n, .tmpl = a.tmpl, .strict = t.ro.strict,
                           .lng = a.lng, .explain = &a.ex.x};
        senti_status s = SENTI_ERR_IO;
        if (cli_task_open(&t, argc, argv, optind))
            s = cli_explain_open(&a.ex, &t)
                    ? task_aspect_run_opts(t.model, t.tok, &asp, t.src, t.out, &t.ro, &t.st)
                    : (t.explained = true, SENTI_ERR_INVALID_ARG);
        rc = cli_explain_close("aspect", &a.ex, cli_task_close(&t, s));
    }
    free(a.aspects);
    return rc;
}
