/* cli.h — helpers shared by the `senti` subcommands: integer flags and the
 * model + tokenizer + input/output setup of the per-record task commands. */
#ifndef SENTI_CLI_H
#define SENTI_CLI_H

#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>

#include "../tasks/tasks.h"
#include "senti.h"

/* Parse flag's value s as an integer in [lo, hi]; on failure print
 * "senti CMD: FLAG expects …" and return false. */
bool cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);

/* Parse flag's value s as a number in [0, 1]; on failure explain and return false. */
bool cli_parse_unit(const char *cmd, const char *flag, const char *s, double *out);


/* ---- the per-record task commands (classify, aspect, tag, zero-shot, dialogue) ----
 * One set of flags and one setup for every command that runs the batch
 * runner: -m DIR, --input FILE|-, --output FILE, --tokenizer PATH,
 * --threads N, --device D, --dtype T, --batch-size N, --max-batch-tokens N,
 * --window N, --strict, --resume, --progress. */
enum {
    CLI_O_INPUT = 1000, CLI_O_OUTPUT, CLI_O_TOK, CLI_O_THREADS, CLI_O_BATCH, CLI_O_TOKENS, CLI_O_WINDOW,
    CLI_O_STRICT, CLI_O_RESUME, CLI_O_PROGRESS, CLI_O_DEVICE, CLI_O_DTYPE, CLI_O_NO_BUCKETING, CLI_O_FORMAT,
    CLI_O_OVERWRITE, CLI_O_NO_WEIGHT_CHECK, CLI_O_FIRST_FREE
};
#define CLI_TASK_OPTIONS                                                                                         \
    {"model", required_argument, 0, 'm'}, {"input", required_argument, 0, CLI_O_INPUT},                          \
        {"output", required_argument, 0, CLI_O_OUTPUT}, {"tokenizer", required_argument, 0, CLI_O_TOK},          \
        {"threads", required_argument, 0, CLI_O_THREADS}, {"batch-size", required_argument, 0, CLI_O_BATCH},     \
        {"max-batch-tokens", required_argument, 0, CLI_O_TOKENS}, {"window", required_argument, 0, CLI_O_WINDOW}, \
        {"strict", no_argument, 0, CLI_O_STRICT}, {"resume", no_argument, 0, CLI_O_RESUME},                      \
        {"progress", no_argument, 0, CLI_O_PROGRESS}, {"device", required_argument, 0, CLI_O_DEVICE},            \
        {"dtype", required_argument, 0, CLI_O_DTYPE}, {"no-bucketing", no_argument, 0, CLI_O_NO_BUCKETING},     \
        {"format", required_argument, 0, CLI_O_FORMAT}, {"overwrite", no_argument, 0, CLI_O_OVERWRITE},        \
        {"no-weight-check", no_argument, 0, CLI_O_NO_WEIGHT_CHECK},                                            \
        {"help", no_argument, 0, 'h'}

/* Usage lines for the common flags. */
#define CLI_TASK_USAGE                                                                                           \
    "  common: -m DIR [--input FILE|-] [--output FILE] [--tokenizer PATH] [--threads N] [--device cpu]\n"      \
    "          [--dtype f32|f16|bf16|q8_0|q4_0|int8] [--batch-size N] [--max-batch-tokens N] [--window N]\n"   \
    "          [--strict] [--resume [--overwrite]] [--progress] [--no-bucketing] [--format F] [--no-weight-check]\n"\
    "  --dtype: linear weights' type (default: bf16 for float encoders where the CPU has AVX512_BF16,\n"    \
    "          else as stored; f32: exact)\n"                                                                   \
    "  --no-weight-check: skip the load-time scan refusing NaN / inf in norm and head weights\n"             \
    "  --format F: --input as lines|jsonl|tsv|tweeteval|meld|aste|asqp|ecpe|ecpe-csv (default: detected)\n"    \
    "  --resume: continue a killed run that wrote --output FILE (progress in FILE.progress); refused when\n"   \
    "          the input, model, tokenizer or options differ, or FILE has no progress file\n"                   \
    "  --overwrite: with --resume, start over when FILE has no (readable) progress file (default: refuse)\n"  \
    "  --window N: records tokenized and length-sorted together (default 1024)\n"                              \
    "  --progress: records/s, tokens/s and ETA on stderr (default when stderr is a terminal)\n"                \
    "  --no-bucketing: batches in input order padded to their longest (for comparison; default: length-sorted)\n"

/* How many argv entries arg starts when it is a flag that sets only how
 * records are batched, threaded or reported (--threads, --batch-size,
 * --max-batch-tokens, --window, --progress, --no-bucketing: no output byte
 * depends on them): 2 for "--flag VALUE", 1 for "--flag=VALUE" or a flag
 * without a value; 0 for any other argument. */
int cli_batching_args(const char *arg);

/* True (with a line on stderr) when a run answered records and every one of
 * them failed: the whole job failed, exit 1, its error lines written. */
bool cli_all_failed(const char *cmd, double records, double errors);

typedef struct cli_task {
    const char *cmd, *dir, *input, *output, *tok_path, *device;
    /* other files or directories the command reads (--pair-model, --aspect-model, --few-shot): --output is
     * refused when it is one of them (cli_task_reads before cli_task_open) */
    const char *reads[4], *reads_what[4];
    int n_reads;
    const char *default_model; /* used when -m is not given (classify: senti_default_model()); NULL: -m required */
    task_format format;        /* --format (TASK_FORMAT_AUTO: detected from a file) */
    long threads;
    senti_type dtype;
    bool resume, overwrite, no_weight_check;
    task_runner_opts ro;
    senti_model *model;
    senti_tokenizer *tok;
    FILE *in, *out;
    task_source *src;
    task_resume *res;
    task_stats st;
    bool explained; /* a failure already printed */
    bool shard;     /* under MPI: this rank's byte range into its partial output (mpi.c) */
    char *part;     /* that partial output's path (owned) */
    bool gather;    /* eval: under MPI, ranks split the records by index (cli_shard_records) instead */
} cli_task;

void cli_task_init(cli_task *t, const char *cmd);
/* The load options of t's flags: --threads, --device, --dtype (none given:
 * prefer_bf16, bf16 for float encoders where the CPU has AVX512_BF16),
 * --no-weight-check. */
senti_model_opts cli_model_opts(const cli_task *t);
/* One line on f: the type m's linear weights run in and why (--dtype, the
 * AVX512_BF16 default, or as stored). */
void cli_print_dtype(const cli_task *t, const senti_model *m, FILE *f);
/* Parse argv with opts (common flags go to t, the others to extra(ctx, c,
 * optarg): 1 handled, 0 unknown, -1 a bad value already explained), then
 * check the inputs. Returns -1 to go on (TEXT arguments start at optind), or
 * the exit code: 0 after -h (usage on stdout), 2 on bad arguments (usage on
 * stderr unless only a value was bad). */
int cli_task_args(cli_task *t, int argc, char **argv, const struct option *opts,
                  int (*extra)(void *ctx, int c, const char *arg), void *ctx, void (*usage)(FILE *f));
/* Handle getopt code c (value arg): 1 handled, 0 not a common flag, -1 a bad
 * value (explained on stderr). */
int cli_task_opt(cli_task *t, int c, const char *arg);
/* After getopt: check the common flags and inputs (TEXT arguments from
 * argv[first..argc), or --input); prints why and returns false (exit 2). */
bool cli_task_check(cli_task *t, int argc, int first);
/* Load the model and tokenizer, open the source and the (resumable) output;
 * prints why and returns false (then cli_task_close(t, SENTI_ERR_IO) gives 1). */
bool cli_task_open(cli_task *t, int argc, char **argv, int first);
/* Record that the command also reads path (what: "--pair-model", ...; NULL path: nothing). */
void cli_task_reads(cli_task *t, const char *what, const char *path);
/* Load another model of the run (dir; its own tokenizer, or --tokenizer's
 * when given: it applies to every model) with t's device, dtype and threads;
 * prints why and returns false. The caller frees both. */
bool cli_task_load_more(cli_task *t, const char *dir, senti_model **m, senti_tokenizer **tok);

/* ---- senti cause (cause.c), also run by senti eval --task cause ---- */
typedef struct cli_cause {
    const char *cause_dir, *pair_dir; /* --cause-model, --pair-model (NULL: none) */
    long context, window;             /* --context, --pair-window */
    double threshold;                 /* --threshold */
    senti_model *cm, *pm;             /* owned: the extra models */
    senti_tokenizer *ct, *pt;
} cli_cause;
void cli_cause_init(cli_cause *c);
/* Handle cause's own flags (see cause_usage): 1 handled, 0 not one, -1 bad value. */
int cli_cause_opt(cli_cause *c, const char *cmd, int code, const char *arg);
/* The cause flags as getopt entries (codes from CLI_O_FIRST_FREE + 40) and usage lines. */
#define CLI_CAUSE_OPTIONS                                                                                        \
    {"cause-model", required_argument, 0, CLI_O_FIRST_FREE + 40},                                              \
        {"pair-model", required_argument, 0, CLI_O_FIRST_FREE + 41},                                           \
        {"context", required_argument, 0, CLI_O_FIRST_FREE + 42},                                              \
        {"pair-window", required_argument, 0, CLI_O_FIRST_FREE + 43},                                          \
        {"threshold", required_argument, 0, CLI_O_FIRST_FREE + 44}
#define CLI_CAUSE_USAGE                                                                                          \
    "  -m DIR: the clause classifier (labels \"emotion\" and / or \"cause\"; sigmoid when multi-label)\n"       \
    "  --cause-model DIR: a classifier of its own for \"cause\"\n"                                                \
    "  --pair-model DIR: the pair classifier (label \"pair\", else its last); without it every candidate\n"       \
    "                    pair is kept, scored P(emotion) * P(cause)\n"                                           \
    "  --context N: neighbouring clauses each side as the clause's context (default 1)\n"                       \
    "  --pair-window N: candidates at most N clauses apart (default 3)\n"                                       \
    "  --threshold X: probability for an emotion, a cause and a pair (default 0.5)\n"
/* Load the extra models and run the pipeline on t (open) into out. */
senti_status cli_cause_run(cli_cause *c, cli_task *t, FILE *out);
void cli_cause_free(cli_cause *c);

/* Print the summary line (and s's message when not OK), release everything;
 * returns the exit code: 0 when s is OK and closing worked, else 1. */
int cli_task_close(cli_task *t, senti_status s);

/* ---- long inputs (classify, aspect, dialogue) ----------------------------------
 * --stride N (windows overlapping by N tokens), --aggregate mean|max|first,
 * --no-truncate (an over-long input is an error line instead of truncated). */
enum { CLI_O_STRIDE = 1900, CLI_O_AGGREGATE, CLI_O_NO_TRUNCATE };
#define CLI_LONG_OPTIONS                                                                                         \
    {"stride", required_argument, 0, CLI_O_STRIDE}, {"aggregate", required_argument, 0, CLI_O_AGGREGATE},       \
        {"no-truncate", no_argument, 0, CLI_O_NO_TRUNCATE}
#define CLI_LONG_USAGE                                                                                           \
    "  --stride N: inputs longer than the model's max length run as windows overlapping by N tokens\n"         \
    "              (a pair's second text in every window), their logits aggregated; the record says\n"       \
    "              \"windows\":k. Default: truncated, and the record says \"truncated\":true\n"                \
    "  --aggregate mean|max|first: the windows' logits averaged, their element-wise max, or the\n"           \
    "              first window's (default mean)\n"                                                            \
    "  --no-truncate: an over-long input without --stride is an error line\n"
/* Handle a long-input flag c (value arg) for cmd into l: 1 handled, 0 not
 * one, -1 a bad value (explained on stderr). */
int cli_long_opt(const char *cmd, int c, const char *arg, task_long *l);

/* ---- explanations (classify, aspect) ---------------------------------------------
 * --explain occlusion|rollout|ig, --explain-html FILE, --ig-steps N. */
enum { CLI_O_EXPLAIN = 1910, CLI_O_EXPLAIN_HTML, CLI_O_IG_STEPS };
#define CLI_EXPLAIN_OPTIONS                                                                                      \
    {"explain", required_argument, 0, CLI_O_EXPLAIN}, {"explain-html", required_argument, 0, CLI_O_EXPLAIN_HTML}, \
        {"ig-steps", required_argument, 0, CLI_O_IG_STEPS}
#define CLI_EXPLAIN_USAGE                                                                                        \
    "  --explain occlusion|rollout|ig: \"explain\":{\"method\",\"label\",\"score\",\"tokens\":[{\"text\",\"start\",\"end\",\n" \
    "              \"score\"}]} for the predicted label: each word's occlusion by [MASK], attention rollout\n"    \
    "              (BERT family), or integrated gradients by finite differences (BERT family)\n"              \
    "  --explain-html FILE: also a page of the texts coloured by attribution\n"                               \
    "  --ig-steps N: integration points for --explain ig (default 16)\n"
typedef struct cli_explain {
    task_explain_method method;
    const char *html_path;
    long ig_steps;
    task_explain x;
    FILE *html;
} cli_explain;
/* Handle an explanation flag c (value arg): 1 handled, 0 not one, -1 bad (explained). */
int cli_explain_opt(const char *cmd, int c, const char *arg, cli_explain *e);
/* Before anything loads: the flags agree (--explain-html needs --explain, is
 * not resumable: the page would hold only the resumed records, and is not
 * t's --output, existing or not); false (explained) otherwise. */
bool cli_explain_check(const char *cmd, const cli_explain *e, const cli_task *t);
/* After cli_task_open: set up e->x for t's model and tokenizer (and open the
 * HTML file, refused when it is t's input, output, model or tokenizer); false
 * (explained) on failure. */
bool cli_explain_open(cli_explain *e, const cli_task *t);
/* Finish the HTML page and close it; returns rc, or 1 if that failed. */
int cli_explain_close(const char *cmd, cli_explain *e, int rc);

/* ---- MPI ranks (mpi.c; one rank of one without SENTI_MPI) ------------------------ */

/* Start MPI when a launcher (mpirun, srun) started this process; false
 * (explained) when that fails. cli_mpi_finalize ends it. */
bool cli_mpi_init(int *argc, char ***argv);
void cli_mpi_finalize(void);
int cli_mpi_rank(void);
int cli_mpi_size(void);
/* Under several ranks: check that t can be sharded (--input FILE, --output
 * FILE; false, explained by rank 0, when not), mark it, and find this rank's
 * byte range and the index of its first line (each rank counts its own
 * range's lines; a collective, before anything that can fail on one rank). */
bool cli_shard_begin(cli_task *t);
/* Open t->src over this rank's byte range of t->in (format fmt: one record
 * per line) and name its partial output t->part; false (explained). */
bool cli_shard_source(cli_task *t, task_format fmt);
/* Close this rank's partial output; when every rank succeeded, rank 0 merges
 * the partials into t->output and prints the job's summary. A collective:
 * every rank of a sharded run calls it. Returns the job's exit code. */
int cli_shard_close(cli_task *t, senti_status s);
/* senti eval: this rank answers records [n*r/N, n*(r+1)/N) of the source. */
void cli_shard_records(cli_task *t, int64_t n);
/* senti eval: rank 0's buf (malloc'd, n bytes) becomes every rank's output in
 * rank order, st->records their sum and st->seconds the job's wall time. A
 * collective; s is this rank's status; returns the job's (not OK on every
 * rank when one failed). */
senti_status cli_mpi_gather_output(senti_status s, char **buf, size_t *n, task_stats *st);

#endif
