/* tag.c — `senti tag -m DIR [--aggregation none|simple|first|average|max]
 * [--stride N] [common flags] [TEXT…]`: token classification into spans
 * (and aspects for unified B-POS/I-NEG/… tags), one JSON line per input in
 * input order, and a summary line on stderr. Exit 2 on bad arguments, 1 when
 * the model cannot load or run or a --strict run meets a bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_tag(int argc, char **argv);

static void tag_usage(FILE *f) {
    fprintf(f, "usage: senti tag -m DIR [--aggregation none|simple|first|average|max] [--stride N]\n"
               "                 [common flags] [TEXT...]\n"
               "  --aggregation: as transformers' token-classification pipeline (default simple);\n"
               "                 B-/I- (BIO), E-/S- (BIOES) and bare (IO) labels are grouped into spans\n"
               "  --stride N: texts longer than the model's max length run as windows overlapping by N\n"
               "              tokens, merged into one result (each token from the window where it is most\n"
               "              central); default: truncate\n"
               "  --aspect A: aspect-oriented opinions (AOE): each text runs once per aspect as the pair\n"
               "              (text, A) (repeatable); a JSONL record's \"aspect\" (string or array) or\n"
               "              \"aspect_spans\" takes precedence; output {\"opinions\":[…],\"pairs\":[…]}\n"
               "  --aoe: AOE with each record's own aspects (no default)\n"
               "  --aspect-model DIR: AE + AOE: the aspects of each text from the tagger DIR (its spans\n"
               "              other than OP), then -m's opinions of each; the pairs they make\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\"}; a \"text_pair\" is an aspect:\n"
               "          {\"spans\",\"aspect\"} for it) or plain text lines\n"
               CLI_TASK_USAGE);
}

typedef struct tag_args {
    task_tag_agg agg;
    long stride;
    const char **aspects; /* argv strings */
    int64_t n;
    bool aoe;
    const char *ae_dir;
} tag_args;

enum { O_AGG = CLI_O_FIRST_FREE, O_STRIDE, O_ASPECT, O_AOE, O_AE };

static int tag_opt(void *ctx, int c, const char *arg) {
    static const char *const AGG[] = {"none", "simple", "first", "average", "max"};
    tag_args *a = ctx;
    if (c == O_STRIDE) return cli_parse_long("tag", "--stride", arg, 1, 1 << 20, &a->stride) ? 1 : -1;
    if (c == O_AOE) return a->aoe = true, 1;
    if (c == O_AE) return a->ae_dir = arg, a->aoe = true, 1;
    if (c == O_ASPECT) {
        if (!*arg) return fprintf(stderr, "senti tag: --aspect must not be empty\n"), -1;
        a->aspects[a->n++] = arg;
        a->aoe = true;
        return 1;
    }
    if (c != O_AGG) return 0;
    for (int k = 0; k < 5; k++)
        if (strcmp(arg, AGG[k]) == 0) {
            a->agg = (task_tag_agg)k;
            return 1;
        }
    fprintf(stderr, "senti tag: --aggregation expects none|simple|first|average|max, got '%s'\n", arg);
    return -1;
}

int cmd_tag(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"aggregation", required_argument, 0, O_AGG},
                                         {"stride", required_argument, 0, O_STRIDE},
                                         {"aspect", required_argument, 0, O_ASPECT},
                                         {"aoe", no_argument, 0, O_AOE},
                                         {"aspect-model", required_argument, 0, O_AE},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "tag");
    tag_args a = {.agg = TASK_TAG_SIMPLE, .aspects = calloc((size_t)argc + 1, sizeof *a.aspects)};
    if (!a.aspects) return fprintf(stderr, "senti tag: out of memory\n"), 1;
    int rc = cli_task_args(&t, argc, argv, opts, tag_opt, &a, tag_usage);
    if (rc < 0 && a.aoe && a.stride > 0) {
        fprintf(stderr, "senti tag: --stride does not combine with --aspect / --aoe\n");
        rc = 2;
    }
    if (rc >= 0) {
        free(a.aspects);
        return rc;
    }
    senti_status s = SENTI_ERR_IO;
    senti_model *ae = NULL;
    senti_tokenizer *ae_tok = NULL;
    cli_task_reads(&t, "the --aspect-model", a.ae_dir);
    if (cli_task_open(&t, argc, argv, optind) && (!a.ae_dir || cli_task_load_more(&t, a.ae_dir, &ae, &ae_tok)))
        s = a.ae_dir ? task_tag_ae_aoe_run(ae, ae_tok, t.model, t.tok, a.agg, t.src, t.out, &t.ro, &t.st)
                     : task_tag_aoe_run(t.model, t.tok, a.agg, a.stride, a.aoe, a.aspects, a.n, t.src, t.out, &t.ro,
                                        &t.st);
    free(a.aspects);
    senti_model_free(ae);
    senti_tokenizer_free(ae_tok);
    return cli_task_close(&t, s);
}
