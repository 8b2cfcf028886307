/* tasks.h — tasks/' internal header: the batch runner (record sources,
 * parallel tokenization, length-bucketed batches, JSONL output in input
 * order) and the classify task that turns sequence-classifier logits into
 * {"label","score","scores"} / {"labels","scores"} records.
 *
 * Invariants: every input record yields exactly one output line, in input
 * order, carrying the input's id; a record that cannot be processed yields
 * {"id":…,"error":"…"} and the run goes on (unless strict). Errors are
 * returned as a senti_status with senti_last_error() set; nothing aborts. */
#ifndef SENTI_TASKS_H
#define SENTI_TASKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "senti.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- record sources ------------------------------------------------------ */

typedef struct task_source task_source;

/* n texts (borrowed; must outlive the source), ids 0..n-1. NULL on OOM. */
task_source *task_source_texts(const char *const *texts, int64_t n);
/* Lines of f (borrowed; not closed): JSONL records {"id","text","text_pair"}
 * when the first non-blank line starts with '{', else one text per line. The
 * id defaults to the 0-based line index; blank lines are skipped (they keep
 * their index). name is used in messages (borrowed). NULL on OOM. */
task_source *task_source_file(FILE *f, const char *name);
void task_source_free(task_source *s); /* accepts NULL */

/* ---- the runner ------------------------------------------------------------ */

typedef struct task_runner_opts {
    int64_t batch_size;       /* records per batch at most (default 32) */
    int64_t max_batch_tokens; /* batch * padded length at most (default 8192); a longer record runs alone */
    int64_t window;           /* records read, tokenized and length-sorted together (default 1024) */
    int n_threads;            /* tokenizer threads (<= 0: OpenMP's default) */
    bool strict;              /* stop at the first bad record with an error */
    int64_t skip;             /* records at the start of the source already answered (resume) */
    /* Called after each window's lines are written, with the number of source
     * records answered so far (skip included); NULL: none. A failure stops
     * the run with that status. */
    senti_status (*checkpoint)(void *ctx, int64_t records_done);
    void *checkpoint_ctx;
    FILE *progress;           /* borrowed; non-NULL: after each window, a "\r…" line of records,
                                 records/s, tokens/s and (seekable file input) ETA; "\n" at the end */
} task_runner_opts;
task_runner_opts task_runner_opts_defaults(void);

typedef struct task_stats {
    int64_t records;       /* records read and answered (errors included; skipped ones not) */
    int64_t skipped;       /* records skipped as already answered (resume) */
    int64_t errors;        /* records answered with an error line */
    int64_t truncated;     /* records truncated to the model's max length */
    int64_t tokens;        /* real tokens run through the model */
    int64_t padded_tokens; /* batch * seq_len summed over batches (>= tokens) */
    int64_t batches;
    double seconds;        /* wall time of the run */
} task_stats;

/* Decodes one row of sequence-classification logits (n of them) into a new
 * JSON object holding the result's fields (the runner puts "id" first).
 * Returns NULL on OOM. Called from the runner's thread only. */
typedef json_t *(*task_decode_fn)(void *ctx, const float *logits, int64_t n);

/* Run every record of src through tok and m (a sequence classifier), in
 * batches, decoding each row with decode(ctx, …), and write one compact JSON
 * line per record to out, in input order. Records longer than the model's max
 * length are truncated (longest first) and counted. A bad record (invalid
 * JSON or UTF-8, missing or mistyped field, a tokenizer failure) becomes an
 * error line; with o->strict the run instead writes the records before it and
 * returns INVALID_ARG naming the record. IO on read/write failure, BACKEND /
 * NO_MEMORY from the model. st (may be NULL) receives the figures, also on
 * failure. m, tok, src, out are borrowed; not thread-safe on one model. */
senti_status task_run(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                      const task_runner_opts *o, task_decode_fn decode, void *ctx, task_stats *st);

/* One summary line: records, errors, truncated, tokens, padding efficiency,
 * records/s. */
void task_stats_print(const task_stats *st, FILE *f);

/* ---- resumable output ---------------------------------------------------------
 * OUTPUT plus a sidecar OUTPUT.progress naming how many records its first bytes
 * answer; see resume.c for the crash-safety argument. */

typedef struct task_resume task_resume;

/* Open path for writing. resume false: start over (truncate, drop a stale
 * sidecar). resume true: cut path back to the sidecar's byte count and set
 * *skip to its record count (no sidecar: start over). NULL with
 * senti_last_error() set on IO failure or a sidecar that disagrees with the file. */
task_resume *task_resume_open(const char *path, bool resume, int64_t *skip);
FILE *task_resume_file(task_resume *r); /* the output stream; borrowed */
/* A checkpoint for task_runner_opts (ctx is the task_resume *): fsync the
 * output, then atomically replace the sidecar. */
senti_status task_resume_checkpoint(void *ctx, int64_t records_done);
/* Close the output (the sidecar stays: a resumed finished run does nothing). */
senti_status task_resume_close(task_resume *r);
void task_resume_free(task_resume *r); /* accepts NULL; closes the output if still open */

/* ---- classify ---------------------------------------------------------------- */

typedef struct task_classify {
    const senti_model *model; /* borrowed: label names */
    bool multi_label;         /* sigmoid per label instead of softmax */
    int64_t top_k;            /* <= 0: every label in label order; else the k best, best first */
    double threshold;         /* multi-label: labels whose sigmoid >= threshold (default 0.5) */
} task_classify;

/* Settings for m, whose directory is model_dir (NULL: assume single-label):
 * multi-label when config.json's problem_type is "multi_label_classification"
 * or the model has a single label (as transformers' pipeline does). top_k and
 * threshold as in task_classify. INVALID_ARG when m has no labels or a bad
 * argument, BAD_FILE when config.json cannot be read. */
senti_status task_classify_init(task_classify *c, const senti_model *m, const char *model_dir, int64_t top_k,
                                double threshold);
/* task_decode_fn for classify; ctx is a task_classify *. Single-label:
 * {"label","score","scores":{…}} (softmax); multi-label: {"labels":[…],
 * "scores":{…}} (sigmoid, labels at or above threshold, best first). */
json_t *task_classify_decode(void *ctx, const float *logits, int64_t n);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_TASKS_H */
