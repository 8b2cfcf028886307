/* dialogue.c — `senti dialogue -m DIR [--context N] [--context-as
 * pair|prefix] [--top-k K] [--threshold X] [common flags] [JSON…]`:
 * per-utterance emotion for {"id","dialogue":[{"speaker","text"},…]}
 * records, each utterance classified with up to N previous turns as context
 * (see tasks/dialogue.c), one JSON line per dialogue
 * ({"id","utterances":[…]}), and a summary line on stderr. Exit 2 on bad
 * arguments, 1 when the model cannot load or run or a --strict run meets a
 * bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_dialogue(int argc, char **argv);

static void dialogue_usage(FILE *f) {
    fprintf(f, "usage: senti dialogue -m DIR [--context N] [--context-as pair|prefix] [--top-k K]\n"
               "                      [--threshold X] [--stride N [--aggregate A]] [--no-truncate] [common flags] [JSON...]\n"
               "  --context N: previous turns given with each utterance (default 0: the utterance alone)\n"
               "  --context-as pair: the sentence pair (utterance, \"speaker: text\" of the previous turns)\n"
               "               prefix: one text \"speaker: text ... speaker: utterance\" (default pair)\n"
               "  --top-k, --threshold: as in senti classify\n"
               "  inputs: --input JSONL ({\"id\",\"dialogue\":[{\"speaker\",\"text\"},...]}) or such JSON arguments\n"
               CLI_LONG_USAGE CLI_TASK_USAGE);
}

typedef struct dialogue_args {
    long context, top_k;
    double threshold;
    bool prefix;
    task_long lng;
} dialogue_args;

enum { O_CONTEXT = CLI_O_FIRST_FREE, O_AS, O_TOPK, O_THRESH };

static int dialogue_opt(void *ctx, int c, const char *arg) {
    dialogue_args *a = ctx;
    const int lr = cli_long_opt("dialogue", c, arg, &a->lng);
    if (lr != 0) return lr;
    bool ok;
    switch (c) {
    case O_CONTEXT: ok = cli_parse_long("dialogue", "--context", arg, 0, 1000, &a->context); break;
    case O_TOPK: ok = cli_parse_long("dialogue", "--top-k", arg, 1, 1000000, &a->top_k); break;
    case O_THRESH: ok = cli_parse_unit("dialogue", "--threshold", arg, &a->threshold); break;
    case O_AS:
        ok = strcmp(arg, "pair") == 0 || strcmp(arg, "prefix") == 0;
        if (!ok) fprintf(stderr, "senti dialogue: --context-as expects pair|prefix, got '%s'\n", arg);
        a->prefix = strcmp(arg, "prefix") == 0;
        break;
    default: return 0;
    }
    return ok ? 1 : -1;
}

int cmd_dialogue(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"context", required_argument, 0, O_CONTEXT},
                                         {"context-as", required_argument, 0, O_AS},
                                         {"top-k", required_argument, 0, O_TOPK},
                                         {"threshold", required_argument, 0, O_THRESH},
                                         CLI_LONG_OPTIONS,
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "dialogue");
    dialogue_args a = {.threshold = 0.5};
    int rc = cli_task_args(&t, argc, argv, opts, dialogue_opt, &a, dialogue_usage);
    if (rc >= 0) return rc;
    task_dialogue d = {.context = a.context, .as_prefix = a.prefix};
    senti_status s = SENTI_ERR_IO;
    if (cli_task_open(&t, argc, argv, optind) &&
        (s = task_classify_init(&d.cls, t.model, t.dir, a.top_k, a.threshold)) == SENTI_OK) {
        d.cls.lng = a.lng;
        s = task_dialogue_run(t.model, t.tok, &d, t.src, t.out, &t.ro, &t.st);
    }
    return cli_task_close(&t, s);
}
