/* embed.c — `senti embed -m DIR [--pooling cls|mean|max] [--normalize |
 * --no-normalize] [common flags] [TEXT…]`: one {"id","embedding":[…]} line per
 * input, in input order, from a base encoder; pooling and normalisation
 * default to the model's sentence-transformers files (modules.json,
 * 1_Pooling/config.json), else mean pooling without normalisation. Exit 2 on
 * bad arguments, 1 when the model cannot load or run. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_embed(int argc, char **argv);

static void embed_usage(FILE *f) {
    fprintf(f, "usage: senti embed -m DIR [--pooling cls|mean|max] [--normalize|--no-normalize] [common flags] [TEXT...]\n"
               "  --pooling: how token states become one vector (default: the model's 1_Pooling/config.json, else mean)\n"
               "  --normalize / --no-normalize: L2-normalise (default: when modules.json has a Normalize module)\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\"}) or plain text lines\n"
               CLI_TASK_USAGE);
}

typedef struct embed_args {
    const char *pooling;
    int normalize; /* -1: the model's */
} embed_args;

enum { O_POOL = CLI_O_FIRST_FREE, O_NORM, O_NO_NORM };

static int embed_opt(void *ctx, int c, const char *arg) {
    embed_args *a = ctx;
    if (c == O_POOL) {
        if (strcmp(arg, "cls") && strcmp(arg, "mean") && strcmp(arg, "max")) {
            fprintf(stderr, "senti embed: --pooling expects cls, mean or max, got '%s'\n", arg);
            return -1;
        }
        a->pooling = arg;
        return 1;
    }
    if (c == O_NORM || c == O_NO_NORM) {
        a->normalize = c == O_NORM;
        return 1;
    }
    return 0;
}

int cmd_embed(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"pooling", required_argument, 0, O_POOL},
                                         {"normalize", no_argument, 0, O_NORM},
                                         {"no-normalize", no_argument, 0, O_NO_NORM},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "embed");
    embed_args a = {.pooling = NULL, .normalize = -1};
    int rc = cli_task_args(&t, argc, argv, opts, embed_opt, &a, embed_usage);
    if (rc >= 0) return rc;
    task_embed e;
    senti_status s = SENTI_ERR_IO;
    if (cli_task_open(&t, argc, argv, optind) && (s = task_embed_init(&e, t.model, a.pooling, a.normalize)) == SENTI_OK)
        s = task_embed_run(t.model, t.tok, &e, t.src, t.out, &t.ro, &t.st);
    return cli_task_close(&t, s);
}
