/* cause.c — `senti cause -m CLAUSE_MODEL [--cause-model DIR] [--pair-model
 * DIR] [--context N] [--pair-window N] [--threshold X] [common flags]
 * [TEXT…]`: emotion clauses, cause clauses and emotion-cause pairs of each
 * document with the two-step encoder pipeline (tasks/cause.c), one JSON line
 * per input in input order. Exit 2 on bad arguments, 1 when a model cannot
 * load or run or a --strict run meets a bad record. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_cause(int argc, char **argv);

static void cause_usage(FILE *f) {
    fprintf(f, "usage: senti cause -m DIR [--cause-model DIR] [--pair-model DIR] [--context N] [--pair-window N]\n"
               "                   [--threshold X] [common flags] [TEXT...]\n" CLI_CAUSE_USAGE
               "  inputs: documents as TEXT arguments or lines (cut into clauses at ，。！？；：… , . ! ? ; :),\n"
               "          or JSONL {\"id\",\"text\"} / {\"id\",\"clauses\":[…]} (the ECPE corpus: --format ecpe)\n"
               "  output: {\"id\",\"clauses\":[{\"text\",\"start\",\"end\"}],\"emotions\":[i],\"causes\":[j],\n"
               "           \"pairs\":[{\"emotion\":i,\"cause\":j,\"score\"}]}, i and j clause numbers (1-based)\n"
               CLI_TASK_USAGE);
}

void cli_cause_init(cli_cause *c) {
    memset(c, 0, sizeof *c);
    c->context = 1;
    c->window = 3;
    c->threshold = 0.5;
}

int cli_cause_opt(cli_cause *c, const char *cmd, int code, const char *arg) {
    switch (code - CLI_O_FIRST_FREE) {
    case 40: c->cause_dir = arg; return 1;
    case 41: c->pair_dir = arg; return 1;
    case 42: return cli_parse_long(cmd, "--context", arg, 0, 1000, &c->context) ? 1 : -1;
    case 43: return cli_parse_long(cmd, "--pair-window", arg, 0, 100000, &c->window) ? 1 : -1;
    case 44: return cli_parse_unit(cmd, "--threshold", arg, &c->threshold) ? 1 : -1;
    default: return 0;
    }
}

senti_status cli_cause_run(cli_cause *c, cli_task *t, FILE *out) {
    task_cause tc = {.clause = {t->model, t->tok, {0}}, .context = c->context, .window = c->window,
                     .threshold = c->threshold};
    senti_status s;
    if ((c->cause_dir && !cli_task_load_more(t, c->cause_dir, &c->cm, &c->ct)) ||
        (c->pair_dir && !cli_task_load_more(t, c->pair_dir, &c->pm, &c->pt)))
        return SENTI_ERR_BAD_FILE;
    tc.cause = (task_cause_model){c->cm, c->ct, {0}};
    tc.pair = (task_cause_model){c->pm, c->pt, {0}};
    if ((s = task_classify_init(&tc.clause.cls, t->model, t->dir, 0, 0.5)) != SENTI_OK ||
        (c->cm && (s = task_classify_init(&tc.cause.cls, c->cm, c->cause_dir, 0, 0.5)) != SENTI_OK) ||
        (c->pm && (s = task_classify_init(&tc.pair.cls, c->pm, c->pair_dir, 0, 0.5)) != SENTI_OK))
        return s;
    return task_cause_run(&tc, t->src, out, &t->ro, &t->st);
}

void cli_cause_free(cli_cause *c) {
    senti_model_free(c->cm);
    senti_model_free(c->pm);
    senti_tokenizer_free(c->ct);
    senti_tokenizer_free(c->pt);
    c->cm = c->pm = NULL;
    c->ct = c->pt = NULL;
}

static int cause_opt(void *ctx, int c, const char *arg) { return cli_cause_opt(ctx, "cause", c, arg); }

int cmd_cause(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS, CLI_CAUSE_OPTIONS, {0, 0, 0, 0}};
    cli_task t;
    cli_cause c;
    cli_task_init(&t, "cause");
    cli_cause_init(&c);
    int rc = cli_task_args(&t, argc, argv, opts, cause_opt, &c, cause_usage);
    if (rc < 0) {
        senti_status s = SENTI_ERR_IO;
        cli_task_reads(&t, "the --cause-model", c.cause_dir);
        cli_task_reads(&t, "the --pair-model", c.pair_dir);
        if (cli_task_open(&t, argc, argv, optind)) s = cli_cause_run(&c, &t, t.out);
        rc = cli_task_close(&t, s);
    }
    cli_cause_free(&c);
    return rc;
}
