/* tokenize.c — `senti tokenize -m DIR|tokenizer.json [--pair TEXT2] [--no-special] TEXT`:
 * prints {"ids":[…],"tokens":[…],"offsets":[[s,e],…]} (offsets in code points). */
#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "senti.h"

int cmd_tokenize(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f, "usage: senti tokenize -m DIR|tokenizer.json|vocab.txt [--pair TEXT2] [--no-special]\n"
               "                      [--max-length N [--truncation longest_first|only_first|only_second]] TEXT\n"
               "       senti tokenize -m M --input FILE|-   one text per line, or JSONL {\"id\",\"text\",\"text_pair\"}\n"
               "       senti tokenize -m M --bench FILE [--threads N]   tokens/s over FILE's lines (JSON)\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Encode every line of `file` (repeated until >= 1 s), on n_threads threads
 * sharing one tokenizer; prints {"texts":…,"tokens":…,"seconds":…,"tokens_per_s":…}. */
static int bench(const senti_tokenizer *tok, const char *file, int n_threads, const senti_encode_opts *eo) {
    FILE *f = fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "senti tokenize: cannot open %s\n", file);
        return 1;
    }
    size_t cap = 1024, n = 0;
    char **lines = malloc(cap * sizeof *lines);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while (lines && (len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (n == cap) {
            char **nl = realloc(lines, (cap *= 2) * sizeof *lines);
            if (!nl) break;
            lines = nl;
        }
        lines[n++] = strdup(line);
    }
    free(line);
    fclose(f);
    if (!lines || n == 0) {
        fprintf(stderr, "senti tokenize: %s has no lines\n", file);
        free(lines);
        return 1;
    }
    long long tokens = 0, texts = 0, errors = 0;
    double t0 = now_s(), dt = 0;
    do {
#pragma omp parallel for num_threads(n_threads) schedule(dynamic, 64) reduction(+ : tokens, errors)
        for (size_t i = 0; i < n; i++) {
            senti_encoding *e = NULL;
            if (senti_tokenizer_encode(tok, lines[i], strlen(lines[i]), NULL, 0, eo, &e)) errors++;
            else tokens += senti_encoding_len(e);
            senti_encoding_free(e);
        }
        texts += (long long)n;
        dt = now_s() - t0;
    } while (dt < 1.0);
    printf("{\"texts\":%lld,\"tokens\":%lld,\"errors\":%lld,\"threads\":%d,\"seconds\":%.3f,"
           "\"tokens_per_s\":%.0f}\n",
           texts, tokens, errors, n_threads, dt, (double)tokens / dt);
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
    return errors ? 1 : 0;
}

/* Encode one text (and pair) and print {"id"?,"ids","tokens","offsets"}, or
 * {"id","error"} when in_batch (the run goes on); returns 0 or 1. */
static int encode_print(const senti_tokenizer *tok, json_t *id, const char *text, size_t len, const char *pair,
                        size_t pair_len, const senti_encode_opts *eo, bool in_batch) {
    senti_encoding *enc = NULL;
    json_t *out = json_object();
    int rc = 1;
    if (id) json_object_set(out, "id", id);
    /* as the task commands: invalid UTF-8 is the input's error, named by its byte */
    int64_t bad = task_utf8_invalid_at(text, len), bad_pair = pair ? task_utf8_invalid_at(pair, pair_len) : -1;
    if (bad >= 0 || bad_pair >= 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "invalid UTF-8 %sat byte %lld", bad >= 0 ? "" : "in the pair ",
                 (long long)(bad >= 0 ? bad : bad_pair));
        if (!in_batch) {
            fprintf(stderr, "senti tokenize: %s\n", msg);
            json_decref(out);
            return 1;
        }
        json_object_set_new(out, "error", json_string(msg));
    } else if (senti_tokenizer_encode(tok, text, len, pair, pair_len, eo, &enc)) {
        if (!in_batch) {
            fprintf(stderr, "senti tokenize: %s\n", senti_last_error());
            json_decref(out);
            return 1;
        }
        json_object_set_new(out, "error", json_string(senti_last_error()));
    } else {
        int64_t n = senti_encoding_len(enc);
        const int32_t *ids = senti_encoding_ids(enc), *offs = senti_encoding_offsets(enc);
        json_t *jids = json_array(), *jtoks = json_array(), *joffs = json_array();
        for (int64_t i = 0; i < n; i++) {
            json_array_append_new(jids, json_integer(ids[i]));
            json_array_append_new(jtoks, json_string(senti_encoding_token(enc, i)));
            json_array_append_new(joffs, json_pack("[ii]", offs[2 * i], offs[2 * i + 1]));
        }
        json_object_set_new(out, "ids", jids);
        json_object_set_new(out, "tokens", jtoks);
        json_object_set_new(out, "offsets", joffs);
        rc = 0;
    }
    char *s = json_dumps(out, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) printf("%s\n", s);
    else rc = 1, fprintf(stderr, "senti tokenize: out of memory\n");
    free(s);
    json_decref(out);
    senti_encoding_free(enc);
    return in_batch ? 0 : rc;
}

/* --input FILE|-: one text per line (id = 0-based line index), or JSONL
 * {"id":…,"text":…,"text_pair":…} (as the task commands read: JSONL when the
 * first line that is not blank, after a UTF-8 byte order mark, starts with
 * '{'; then every line is a record, a blank one skipped, anything else its
 * own error line); one JSON object per input, in order. */
static int run_input(const senti_tokenizer *tok, const char *file, const senti_encode_opts *eo) {
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "rb");
    if (!f) {
        fprintf(stderr, "senti tokenize: cannot open %s\n", file);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long long idx = 0;
    int jsonl = -1; /* not yet known */
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *l = line;
        if (idx == 0 && len >= 3 && memcmp(l, "\xef\xbb\xbf", 3) == 0) l += 3, len -= 3; /* a byte order mark */
        while (len > 0 && (l[len - 1] == '\n' || l[len - 1] == '\r')) l[--len] = 0;
        json_t *id = json_integer(idx++);
        if (jsonl < 0 && len > 0 && strspn(l, " \t") < (size_t)len) jsonl = l[strspn(l, " \t")] == '{';
        if (jsonl == 1 && strspn(l, " \t") == (size_t)len) { /* a blank line between records */
            json_decref(id);
            continue;
        }
        if (jsonl == 1) {
            json_error_t err;
            json_t *rec = json_loadb(l, (size_t)len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
            json_t *t = json_is_object(rec) ? json_object_get(rec, "text") : NULL;
            json_t *p = json_is_object(rec) ? json_object_get(rec, "text_pair") : NULL;
            if (json_is_object(rec) && json_object_get(rec, "id")) {
                json_decref(id);
                id = json_incref(json_object_get(rec, "id"));
            }
            char why[256];
            snprintf(why, sizeof why, "%s", err.text);
            if (rec && !json_is_object(rec)) snprintf(why, sizeof why, "record is not a JSON object");
            else if (rec && !json_is_string(t)) snprintf(why, sizeof why, "no \"text\" string");
            else if (rec && p && !json_is_null(p) && !json_is_string(p))
                snprintf(why, sizeof why, "field \"text_pair\" must be a string");
            if (!rec || !json_is_string(t) || (p && !json_is_null(p) && !json_is_string(p))) {
                json_t *o = json_pack("{s:O,s:s}", "id", id, "error", why);
                char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
                if (s) printf("%s\n", s);
                free(s);
                json_decref(o);
            } else {
                encode_print(tok, id, json_string_value(t), json_string_length(t),
                             json_is_string(p) ? json_string_value(p) : NULL, json_is_string(p) ? json_string_length(p) : 0,
                             eo, true);
            }
            json_decref(rec);
        } else {
            encode_print(tok, id, l, (size_t)len, NULL, 0, eo, true);
        }
        json_decref(id);
    }
    free(line);
    if (f != stdin) fclose(f);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    enum { O_PAIR = 1, O_NOSPECIAL, O_MAXLEN, O_TRUNC, O_BENCH, O_THREADS, O_INPUT };
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"pair", required_argument, 0, O_PAIR},
                                         {"no-special", no_argument, 0, O_NOSPECIAL},
                                         {"max-length", required_argument, 0, O_MAXLEN},
                                         {"truncation", required_argument, 0, O_TRUNC},
                                         {"bench", required_argument, 0, O_BENCH},
                                         {"input", required_argument, 0, O_INPUT},
                                         {"threads", required_argument, 0, O_THREADS},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *pair = NULL, *bench_file = NULL, *input = NULL;
    int n_threads = 1;
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_truncation strat = SENTI_TRUNCATE_LONGEST_FIRST;
    long max_len = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case O_PAIR: pair = optarg; break;
        case O_NOSPECIAL: eo.add_special_tokens = 0; break;
        case O_MAXLEN: {
            char *end;
            max_len = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || max_len < 0) {
                fprintf(stderr, "senti tokenize: --max-length expects a non-negative integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        }
        case O_TRUNC:
            if (!strcmp(optarg, "longest_first")) strat = SENTI_TRUNCATE_LONGEST_FIRST;
            else if (!strcmp(optarg, "only_first")) strat = SENTI_TRUNCATE_ONLY_FIRST;
            else if (!strcmp(optarg, "only_second")) strat = SENTI_TRUNCATE_ONLY_SECOND;
            else {
                fprintf(stderr, "senti tokenize: unknown --truncation '%s'\n", optarg);
                return 2;
            }
            break;
        case O_BENCH: bench_file = optarg; break;
        case O_INPUT: input = optarg; break;
        case O_THREADS:
            n_threads = atoi(optarg);
            if (n_threads < 1 || n_threads > 1024) {
                fprintf(stderr, "senti tokenize: --threads expects 1..1024, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!model || optind + (bench_file || input ? 0 : 1) != argc) {
        usage(stderr);
        return 2;
    }
    if (max_len >= 0) {
        eo.truncation = strat;
        eo.max_length = max_len;
    }
    senti_tokenizer *tok = senti_tokenizer_load(model);
    if (!tok) {
        fprintf(stderr, "senti tokenize: %s\n", senti_last_error());
        return 1;
    }
    if (bench_file) {
        int brc = bench(tok, bench_file, n_threads, &eo);
        senti_tokenizer_free(tok);
        return brc;
    }
    int rc = input ? run_input(tok, input, &eo) : encode_print(tok, NULL, argv[optind], strlen(argv[optind]), pair,
                                                              pair ? strlen(pair) : 0, &eo, false);
    senti_tokenizer_free(tok);
    return rc;
}
