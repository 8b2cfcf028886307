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

/* Byte offset of the first invalid UTF-8 sequence in s[0..n) (overlong forms,
 * surrogates and code points above U+10FFFF included), or -1 when valid. */
int64_t task_utf8_invalid_at(const char *s, size_t n);

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

/* ---- aspect ------------------------------------------------------------------
 * Aspect-level sentiment: each (text, aspect) pair goes through a sequence
 * classifier as the sentence pair (text, aspect), or (text, auxiliary
 * sentence) when a template is given (every "{aspect}" in it replaced by the
 * aspect, as in QA-M: "what do you think of the {aspect} of it ?"). The
 * aspects of one text run together in one batch. */

typedef struct task_aspect {
    const char *const *aspects; /* default aspects (--aspect), borrowed; used when a record names none */
    int64_t n_aspects;
    const char *tmpl;           /* NULL: the aspect itself is the second sentence */
    bool strict;                /* stop at the first bad record (INVALID_ARG naming it) */
} task_aspect;

/* Code-point offsets [*start, *end) of the first occurrence of aspect in text
 * (ASCII letters compared case-insensitively, other bytes exactly); false when
 * absent or aspect is empty. text and aspect must be valid UTF-8. */
bool task_aspect_find(const char *text, size_t len, const char *aspect, size_t alen, int64_t *start, int64_t *end);

/* The second sentence for aspect: a copy of aspect, or tmpl with each
 * "{aspect}" replaced. malloc'd, NULL on OOM. */
char *task_aspect_second(const char *tmpl, const char *aspect, size_t alen, size_t *out_len);

/* Results for one text and its n aspects (valid UTF-8, n >= 1): a new object
 * {"aspects":[{"aspect","start","end","sentiment","score","scores"},…]},
 * start/end null when the aspect is absent from the text. A pair longer than
 * the model's max length is truncated (the text first) and counted in
 * *truncated (may be NULL). BACKEND/NO_MEMORY/INVALID_ARG from the tokenizer
 * or model, with senti_last_error() set. */
senti_status task_aspect_one(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, const char *text,
                             size_t len, const char *const *aspects, const size_t *alens, int64_t n,
                             json_t **result, int64_t *truncated);

/* Every record through task_aspect_one, one JSON line each in input order to
 * out: from in (JSONL {"id","text","aspect"} where "aspect" is a string or an
 * array of strings, absent or null meaning a->aspects; or one text per line
 * with a->aspects) when in is not NULL, else the n_texts texts with ids
 * 0..n-1. Ids default to the 0-based line index. A bad record (invalid JSON
 * or UTF-8, missing or mistyped field, no aspect) becomes {"id","error"}
 * unless a->strict. st (may be NULL): records, errors, truncated, batches
 * (one per answered record), seconds; tokens are not counted. m must be a sequence classifier with labels. */
senti_status task_aspect_run(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, FILE *in,
                             const char *name, const char *const *texts, int64_t n_texts, FILE *out,
                             task_stats *st);

/* ---- tag -----------------------------------------------------------------------
 * Token classification into spans (see tag.c for the rules, which follow
 * transformers' TokenClassificationPipeline). */

typedef enum task_tag_agg {
    TASK_TAG_NONE = 0, /* one span per token whose argmax label is not "O"; type = the full label */
    TASK_TAG_SIMPLE,   /* tokens grouped by B-/I- (and BIOES E-/S-) tags */
    TASK_TAG_FIRST,    /* per word: its first token's label and score, then grouped */
    TASK_TAG_AVERAGE,  /* per word: argmax of its tokens' mean scores, then grouped */
    TASK_TAG_MAX,      /* per word: the label of its most confident token, then grouped */
} task_tag_agg;

/* Decode T tokens' logits [T, L] (labels: L names) of text (len bytes, valid
 * UTF-8) with code-point offsets [2*T], word ids [T] (-1 special; NULL: each
 * token its own word) and special mask [T] (NULL: none) into a new object
 * {"spans":[{"type","text","start","end","score"}]} plus, when some span's
 * type is POS, NEG or NEU, "aspects":[{"aspect","start","end","sentiment",
 * "score"}]. NULL on OOM. */
json_t *task_tag_decode(const char *const *labels, int64_t L, const char *text, size_t len, const int32_t *offsets,
                        const int32_t *word_ids, const uint8_t *special, int64_t T, const float *logits,
                        task_tag_agg agg);

/* Every record (JSONL {"id","text"} or text lines from in; else the n_texts
 * texts, ids 0..n-1) through m (a token classifier), one JSON line each in
 * input order: {"id","spans",…} or {"id","error"} (strict: INVALID_ARG naming
 * the first bad record). Texts over the model's max length are truncated
 * (no --stride windows yet) and counted in st (may be NULL): records, errors,
 * truncated, tokens, batches (one text each). */
senti_status task_tag_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, bool strict, FILE *in,
                          const char *name, const char *const *texts, int64_t n_texts, FILE *out, task_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_TASKS_H */
