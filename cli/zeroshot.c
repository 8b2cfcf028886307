/* zeroshot.c — `senti zero-shot -m DIR --labels a,b,c [--template T]
 * [--multi-label] [common flags] [TEXT…]`: NLI zero-shot classification as
 * transformers' zero-shot-classification pipeline, one JSON line per input
 * ({"id","labels":[best first],"scores":[…]}), and a summary line on stderr.
 * A JSONL record's "labels" array overrides --labels. Exit 2 on bad
 * arguments, 1 when the model cannot load or run or a --strict run meets a
 * bad record.
 *
 * A decoder LLM (-m a causal LM) goes to cli_zero_shot_llm (generate.c),
 * the one dispatch point being at the top of cmd_zero_shot. */
#include <ctype.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_cli.h"

int cmd_zero_shot(int argc, char **argv);

static void zs_usage(FILE *f) {
    fprintf(f, "usage: senti zero-shot -m DIR --labels A,B,... [--template T] [--multi-label] [common flags] [TEXT...]\n"
               "  --labels: candidate labels, comma-separated (a JSONL record's \"labels\" array overrides)\n"
               "  --template T: hypothesis with {} for the label (default \"" TASK_ZEROSHOT_TEMPLATE "\")\n"
               "  --multi-label: score each label on its own (softmax over contradiction/entailment)\n"
               "                 instead of a softmax over the labels' entailment logits\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\",\"labels\"}) or plain text lines\n"
               CLI_TASK_USAGE);
}

/* Does -m name a decoder (causal LM): a directory whose config.json's
 * architectures[0] ends in ForCausalLM / LMHeadModel, or a .gguf file
 * holding a decoder family (loaded to find out: weights are mapped, not read)? */
static bool is_causal_lm(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) {
        senti_model *m = senti_model_load(path, 1);
        bool lm = m && lm_is_causal(m);
        senti_model_free(m);
        return lm;
    }
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    json_t *j = json_load_file(cfg, 0, NULL);
    const char *a = json_string_value(json_array_get(json_object_get(j, "architectures"), 0));
    bool lm = a && (strstr(a, "ForCausalLM") || strstr(a, "LMHeadModel"));
    json_decref(j);
    return lm;
}

/* The value of -m / --model in argv, or NULL. */
static const char *model_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--model=", 8) == 0) return argv[i] + 8;
        if (strncmp(argv[i], "-m", 2) == 0 && argv[i][2]) return argv[i] + 2;
        if (strcmp(argv[i], "--") == 0) break;
    }
    return NULL;
}

/* Split s on commas into trimmed, non-empty labels (HF's rule), in place. */
static int64_t split_labels(char *s, const char **out) {
    int64_t n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        while (isspace((unsigned char)*tok)) tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
        if (*tok) out[n++] = tok;
    }
    return n;
}

typedef struct zs_args {
    char *labels; /* owned copy of --labels */
    const char *tmpl;
    bool multi;
} zs_args;

enum { O_LABELS = CLI_O_FIRST_FREE, O_TEMPLATE, O_MULTI };

static int zs_opt(void *ctx, int c, const char *arg) {
    zs_args *a = ctx;
    switch (c) {
    case O_LABELS:
        free(a->labels);
        if (!(a->labels = strdup(arg))) fprintf(stderr, "senti zero-shot: out of memory\n");
        return a->labels ? 1 : -1;
    case O_TEMPLATE:
        if (!strstr(arg, "{}")) {
            fprintf(stderr, "senti zero-shot: --template must contain {} for the label\n");
            return -1;
        }
        a->tmpl = arg;
        return 1;
    case O_MULTI: a->multi = true; return 1;
    default: return 0;
    }
}

int cmd_zero_shot(int argc, char **argv) {
    const char *mpath = model_arg(argc, argv);
    if (mpath && is_causal_lm(mpath)) {
        /* ---- the one dispatch point: a causal LM scores the labels itself --------- */
        return cli_zero_shot_llm(argc, argv);
    }
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"labels", required_argument, 0, O_LABELS},
                                         {"template", required_argument, 0, O_TEMPLATE},
                                         {"multi-label", no_argument, 0, O_MULTI},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "zero-shot");
    zs_args a = {0};
    const char **labels = NULL;
    int64_t nl = 0;
    int rc = cli_task_args(&t, argc, argv, opts, zs_opt, &a, zs_usage);
    if (rc < 0 && a.labels) {
        if (!(labels = calloc(strlen(a.labels) / 2 + 2, sizeof *labels))) {
            fprintf(stderr, "senti zero-shot: out of memory\n");
            rc = 1;
        } else nl = split_labels(a.labels, labels);
    }
    if (rc < 0 && task_labels_distinct(labels, nl, "senti zero-shot") != SENTI_OK) {
        fprintf(stderr, "%s\n", senti_last_error());
        rc = 2;
    }
    if (rc < 0 && nl == 0 && !t.input) {
        fprintf(stderr, "senti zero-shot: --labels A,B,... is required (or \"labels\" in JSONL records)\n");
        zs_usage(stderr);
        rc = 2;
    }
    if (rc < 0) {
        task_zeroshot z;
        senti_status s = SENTI_ERR_IO;
        if (cli_task_open(&t, argc, argv, optind) &&
            (s = task_zeroshot_init(&z, t.model, labels, nl, a.tmpl, a.multi)) == SENTI_OK)
            s = task_zeroshot_run(t.model, t.tok, &z, t.src, t.out, &t.ro, &t.st);
        rc = cli_task_close(&t, s);
    }
    free(labels);
    free(a.labels);
    return rc;
}
