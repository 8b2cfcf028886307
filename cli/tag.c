/* tag.c — `senti tag -m DIR [--aggregation none|simple|first|average|max]
 * [--input FILE|-] [--output FILE] [--strict] [--tokenizer PATH] [--threads N]
 * [TEXT…]`: token classification into spans (and aspects for unified
 * B-POS/I-NEG/… tags), one JSON line per input in input order, and a summary
 * line on stderr. Exit 2 on bad arguments, 1 when the model cannot load or
 * run or a --strict run meets a bad record. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tasks/tasks.h"
#include "senti.h"

int cmd_tag(int argc, char **argv);

static void tag_usage(FILE *f) {
    fprintf(f, "usage: senti tag -m DIR [--aggregation none|simple|first|average|max] [--input FILE|-]\n"
               "                 [--output FILE] [--strict] [--tokenizer PATH] [--threads N] [TEXT...]\n"
               "  --aggregation: as transformers' token-classification pipeline (default simple);\n"
               "                 B-/I- (BIO), E-/S- (BIOES) and bare (IO) labels are grouped into spans\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\"}) or plain text lines\n");
}

int cmd_tag(int argc, char **argv) {
    enum { O_INPUT = 1, O_OUTPUT, O_AGG, O_STRICT, O_TOK, O_THREADS };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},          {"input", required_argument, 0, O_INPUT},
        {"output", required_argument, 0, O_OUTPUT},    {"aggregation", required_argument, 0, O_AGG},
        {"strict", no_argument, 0, O_STRICT},          {"tokenizer", required_argument, 0, O_TOK},
        {"threads", required_argument, 0, O_THREADS},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    static const char *const AGG[] = {"none", "simple", "first", "average", "max"};
    const char *dir = NULL, *input = NULL, *output = NULL, *tok_path = NULL;
    task_tag_agg agg = TASK_TAG_SIMPLE;
    bool strict = false;
    long threads = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': dir = optarg; break;
        case O_INPUT: input = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_STRICT: strict = true; break;
        case O_AGG: {
            int k = 0;
            while (k < 5 && strcmp(optarg, AGG[k]) != 0) k++;
            if (k == 5) {
                fprintf(stderr, "senti tag: --aggregation expects none|simple|first|average|max, got '%s'\n", optarg);
                ok = false;
            } else agg = (task_tag_agg)k;
            break;
        }
        case O_THREADS: {
            char *end;
            threads = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || threads < 1 || threads > 1024) {
                fprintf(stderr, "senti tag: --threads expects an integer in 1..1024, got '%s'\n", optarg);
                ok = false;
            }
            break;
        }
        case 'h': tag_usage(stdout); return 0;
        default: ok = false;
        }
        if (!ok) {
            if (c == '?' || c == ':') tag_usage(stderr);
            return 2;
        }
    }
    if (!dir || (input && optind < argc) || (!input && optind >= argc)) {
        fprintf(stderr, "senti tag: %s\n",
                !dir ? "-m DIR is required" : input ? "give --input or TEXT arguments, not both"
                                                    : "no input: give TEXT arguments or --input FILE|-");
        tag_usage(stderr);
        return 2;
    }
    int rc = 1;
    senti_model *m = NULL;
    senti_tokenizer *tok = NULL;
    FILE *in = NULL, *out = stdout;
    task_stats st = {0};
    if (!(m = senti_model_load(dir, (int)threads)) || !(tok = senti_tokenizer_load(tok_path ? tok_path : dir))) {
        fprintf(stderr, "senti tag: %s\n", senti_last_error());
        goto done;
    }
    if (input && !(in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb"))) {
        fprintf(stderr, "senti tag: cannot open %s: %s\n", input, strerror(errno));
        goto done;
    }
    if (output && !(out = fopen(output, "wb"))) {
        fprintf(stderr, "senti tag: cannot open %s: %s\n", output, strerror(errno));
        out = stdout;
        goto done;
    }
    senti_status s = task_tag_run(m, tok, agg, strict, in, input && strcmp(input, "-") == 0 ? "<stdin>" : input,
                                  (const char *const *)argv + optind, in ? 0 : argc - optind, out, &st);
    fprintf(stderr, "senti: %lld records (%lld errors, %lld truncated), %lld tokens\n", (long long)st.records,
            (long long)st.errors, (long long)st.truncated, (long long)st.tokens);
    if (s != SENTI_OK) fprintf(stderr, "senti tag: %s\n", senti_last_error());
    else rc = 0;
done:
    if (out != stdout && fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "senti tag: closing %s failed: %s\n", output, strerror(errno));
        rc = 1;
    }
    if (in && in != stdin) fclose(in);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    return rc;
}
