/* classify.c — `senti classify -m DIR [--input FILE|-] [--output FILE]
 * [--top-k K] [--threshold X] [--batch-size N] [--max-batch-tokens N]
 * [--threads N] [--strict] [--tokenizer PATH] [--resume] [--window N] [--progress] [TEXT…]`: one JSON line per
 * input, in input order, and a summary line on stderr. Exit 2 on bad
 * arguments, 1 when the model cannot load or run or a --strict run meets a
 * bad record. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tasks/tasks.h"
#include "senti.h"

int cmd_classify(int argc, char **argv);

static void classify_usage(FILE *f) {
    fprintf(f, "usage: senti classify -m DIR [--input FILE|-] [--output FILE] [--top-k K] [--threshold X]\n"
               "                      [--batch-size N] [--max-batch-tokens N] [--threads N] [--strict]\n"
               "                      [--tokenizer PATH] [--resume] [--window N] [--progress] [TEXT...]\n"
               "  --resume: continue a killed run that wrote --output FILE (progress in FILE.progress)\n"
               "  --window N: records tokenized and length-sorted together (default 1024)\n"
               "  --progress: records/s, tokens/s and ETA on stderr after each window (default when a terminal)\n"
               "  inputs: TEXT arguments, or --input JSONL ({\"id\",\"text\",\"text_pair\"}) or plain text lines\n");
}

static bool parse_i64(const char *flag, const char *s, long long lo, long long hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "senti classify: %s expects an integer in %lld..%lld, got '%s'\n", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

int cmd_classify(int argc, char **argv) {
    enum { O_INPUT = 1, O_OUTPUT, O_TOPK, O_THRESH, O_BATCH, O_TOKENS, O_THREADS, O_STRICT, O_TOK, O_RESUME, O_WINDOW, O_PROGRESS };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},        {"input", required_argument, 0, O_INPUT},
        {"output", required_argument, 0, O_OUTPUT},  {"top-k", required_argument, 0, O_TOPK},
        {"threshold", required_argument, 0, O_THRESH}, {"batch-size", required_argument, 0, O_BATCH},
        {"max-batch-tokens", required_argument, 0, O_TOKENS}, {"threads", required_argument, 0, O_THREADS},
        {"strict", no_argument, 0, O_STRICT},        {"tokenizer", required_argument, 0, O_TOK},
        {"resume", no_argument, 0, O_RESUME},        {"window", required_argument, 0, O_WINDOW},
        {"progress", no_argument, 0, O_PROGRESS},
        {"help", no_argument, 0, 'h'},               {0, 0, 0, 0}};
    const char *dir = NULL, *input = NULL, *output = NULL, *tok_path = NULL;
    int64_t top_k = 0, threads = 0;
    double threshold = 0.5;
    bool resume = false;
    task_runner_opts ro = task_runner_opts_defaults();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': dir = optarg; break;
        case O_INPUT: input = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_TOK: tok_path = optarg; break;
        case O_TOPK: ok = parse_i64("--top-k", optarg, 1, 1000000, &top_k); break;
        case O_BATCH: ok = parse_i64("--batch-size", optarg, 1, 65536, &ro.batch_size); break;
        case O_TOKENS: ok = parse_i64("--max-batch-tokens", optarg, 1, 1LL << 30, &ro.max_batch_tokens); break;
        case O_THREADS: ok = parse_i64("--threads", optarg, 1, 1024, &threads); break;
        case O_STRICT: ro.strict = true; break;
        case O_RESUME: resume = true; break;
        case O_PROGRESS: ro.progress = stderr; break;
        case O_WINDOW: ok = parse_i64("--window", optarg, 1, 1 << 24, &ro.window); break;
        case O_THRESH: {
            char *end;
            threshold = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(threshold >= 0.0 && threshold <= 1.0)) {
                fprintf(stderr, "senti classify: --threshold expects a number in [0, 1], got '%s'\n", optarg);
                ok = false;
            }
            break;
        }
        case 'h': classify_usage(stdout); return 0;
        default: ok = false;
        }
        if (!ok) {
            if (c == '?' || c == ':') classify_usage(stderr); /* value errors are already explained */
            return 2;
        }
    }
    if (resume && !output) {
        fprintf(stderr, "senti classify: --resume needs --output FILE\n");
        return 2;
    }
    if (!dir || (input && optind < argc) || (!input && optind >= argc)) {
        fprintf(stderr, "senti classify: %s\n",
                !dir ? "-m DIR is required" : input ? "give --input or TEXT arguments, not both"
                                                    : "no input: give TEXT arguments or --input FILE|-");
        classify_usage(stderr);
        return 2;
    }
    ro.n_threads = (int)threads;
    if (isatty(STDERR_FILENO)) ro.progress = stderr;
    int rc = 1;
    senti_model *m = NULL;
    senti_tokenizer *tok = NULL;
    task_source *src = NULL;
    FILE *in = NULL, *out = stdout;
    task_classify cls;
    task_stats st;
    task_resume *res = NULL;
    if (!(m = senti_model_load(dir, (int)threads)) || !(tok = senti_tokenizer_load(tok_path ? tok_path : dir)) ||
        task_classify_init(&cls, m, dir, top_k, threshold) != SENTI_OK) {
        fprintf(stderr, "senti classify: %s\n", senti_last_error());
        goto done;
    }
    if (input) {
        in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
        if (!in) {
            fprintf(stderr, "senti classify: cannot open %s: %s\n", input, strerror(errno));
            goto done;
        }
        src = task_source_file(in, strcmp(input, "-") == 0 ? "<stdin>" : input);
    } else {
        src = task_source_texts((const char *const *)argv + optind, argc - optind);
    }
    if (output) {
        if (!(res = task_resume_open(output, resume, &ro.skip))) {
            fprintf(stderr, "senti classify: %s\n", senti_last_error());
            goto done;
        }
        out = task_resume_file(res);
        ro.checkpoint = task_resume_checkpoint;
        ro.checkpoint_ctx = res;
    }
    if (!src) {
        fprintf(stderr, "senti classify: out of memory\n");
        goto done;
    }
    senti_status s = task_run(m, tok, src, out, &ro, task_classify_decode, &cls, &st);
    task_stats_print(&st, stderr);
    if (s != SENTI_OK) fprintf(stderr, "senti classify: %s\n", senti_last_error());
    else rc = 0;
done:
    if (res && task_resume_close(res) != SENTI_OK && rc == 0) {
        fprintf(stderr, "senti classify: %s\n", senti_last_error());
        rc = 1;
    }
    task_resume_free(res);
    if (in && in != stdin) fclose(in);
    task_source_free(src);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    return rc;
}
