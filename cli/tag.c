/* tag.c — `senti tag -m DIR [--aggregation none|simple|first|average|max]
 * [--input FILE|-] [--output FILE] [--strict] [--tokenizer PATH] [--threads N]
 * [TEXT…]`: token classification into spans (and aspects for unified
 * B-POS/I-NEG/… tags), one JSON line per input in input order, and a summary
 * line on stderr. Exit 2 on bad arguments, 1 when the model cannot load or
 * run or a --strict run meets a bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tasks/tasks.h"
#include "cli.h"

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
        case O_THREADS: ok = cli_parse_long("tag", "--threads", optarg, 1, 1024, &threads); break;
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
    cli_io io;
    task_stats st = {0};
    if (cli_io_open("tag", &io, dir, tok_path, (int)threads, input, output)) {
        senti_status s = task_tag_run(io.model, io.tok, agg, strict, io.in, io.in_name,
                                      (const char *const *)argv + optind, io.in ? 0 : argc - optind, io.out, &st);
        fprintf(stderr, "senti: %lld records (%lld errors, %lld truncated), %lld tokens\n", (long long)st.records,
                (long long)st.errors, (long long)st.truncated, (long long)st.tokens);
        if (s != SENTI_OK) fprintf(stderr, "senti tag: %s\n", senti_last_error());
        else rc = 0;
    }
    rc = cli_io_close("tag", &io, output, rc);
    return rc;
}
