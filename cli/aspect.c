/* aspect.c — `senti aspect -m DIR [--aspect A]... [--template T] [--input FILE|-]
 * [--output FILE] [--strict] [--tokenizer PATH] [--threads N] [TEXT…]`: the
 * sentiment of each (text, aspect) pair, one JSON line per input in input
 * order ({"id","aspects":[…]}), and a summary line on stderr. Exit 2 on bad
 * arguments, 1 when the model cannot load or run or a --strict run meets a
 * bad record. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tasks/tasks.h"
#include "cli.h"

int cmd_aspect(int argc, char **argv);

static void aspect_usage(FILE *f) {
    fprintf(f, "usage: senti aspect -m DIR [--aspect A]... [--template T] [--input FILE|-] [--output FILE]\n"
               "                    [--strict] [--tokenizer PATH] [--threads N] [TEXT...]\n"
               "  --aspect A: an aspect of every text (repeatable); a JSONL record's \"aspect\"\n"
               "              (a string or an array of strings) takes precedence\n"
               "  --template T: second sentence built from T, e.g. \"what do you think of the {aspect} of it ?\"\n"
               "                (default: the aspect itself, as the sentence pair)\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\",\"aspect\"}) or plain text lines\n");
}

int cmd_aspect(int argc, char **argv) {
    enum { O_INPUT = 1, O_OUTPUT, O_ASPECT, O_TEMPLATE, O_STRICT, O_TOK, O_THREADS };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},         {"input", required_argument, 0, O_INPUT},
        {"output", required_argument, 0, O_OUTPUT},   {"aspect", required_argument, 0, O_ASPECT},
        {"template", required_argument, 0, O_TEMPLATE}, {"strict", no_argument, 0, O_STRICT},
        {"tokenizer", required_argument, 0, O_TOK},   {"threads", required_argument, 0, O_THREADS},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    const char *dir = NULL, *input = NULL, *output = NULL, *tok_path = NULL;
    const char **aspects = calloc((size_t)argc + 1, sizeof *aspects);
    int64_t na = 0;
    long threads = 0;
    task_aspect a = {0};
    if (!aspects) {
        fprintf(stderr, "senti aspect: out of memory\n");
        return 1;
    }
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': dir = optarg; break;
        case O_INPUT: input = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_ASPECT:
            if (!*optarg) {
                fprintf(stderr, "senti aspect: --aspect must not be empty\n");
                ok = false;
            }
            aspects[na++] = optarg;
            break;
        case O_TEMPLATE:
            if (!strstr(optarg, "{aspect}")) {
                fprintf(stderr, "senti aspect: --template must contain {aspect}\n");
                ok = false;
            }
            a.tmpl = optarg;
            break;
        case O_STRICT: a.strict = true; break;
        case O_THREADS: ok = cli_parse_long("aspect", "--threads", optarg, 1, 1024, &threads); break;
        case 'h': aspect_usage(stdout); free(aspects); return 0;
        default: ok = false;
        }
        if (!ok) {
            if (c == '?' || c == ':') aspect_usage(stderr);
            free(aspects);
            return 2;
        }
    }
    if (!dir || (input && optind < argc) || (!input && optind >= argc) || (!input && na == 0)) {
        fprintf(stderr, "senti aspect: %s\n",
                !dir ? "-m DIR is required"
                : input ? "give --input or TEXT arguments, not both"
                : optind >= argc ? "no input: give TEXT arguments or --input FILE|-"
                                 : "TEXT arguments need --aspect A");
        aspect_usage(stderr);
        free(aspects);
        return 2;
    }
    a.aspects = aspects;
    a.n_aspects = na;
    int rc = 1;
    cli_io io;
    task_stats st = {0};
    if (cli_io_open("aspect", &io, dir, tok_path, (int)threads, input, output)) {
        senti_status s = task_aspect_run(io.model, io.tok, &a, io.in, io.in_name, (const char *const *)argv + optind,
                                         io.in ? 0 : argc - optind, io.out, &st);
        fprintf(stderr, "senti: %lld records (%lld errors, %lld truncated), %.2f s\n", (long long)st.records,
                (long long)st.errors, (long long)st.truncated, st.seconds);
        if (s != SENTI_OK) fprintf(stderr, "senti aspect: %s\n", senti_last_error());
        else rc = 0;
    }
    rc = cli_io_close("aspect", &io, output, rc);
    free(aspects);
    return rc;
}
