/* tasks.h — tasks/' internal header: the batch runner (record sources,
 * expansion of records into model inputs, parallel tokenization,
 * length-bucketed batches, --stride windows, JSONL output in input order,
 * resume) and the tasks on it: classify, aspect, tag, zero-shot, dialogue, embed.
 * The public face of the same is the task section of senti.h (api.c).
 *
 * Invariants: every input record yields exactly one output line, in input
 * order, carrying the input's id; a record that cannot be processed yields
 * {"id":…,"error":"…"} and the run goes on (unless strict); results never
 * depend on how inputs were batched. Errors are returned as a senti_status
 * with senti_last_error() set; nothing aborts. */
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
/* A file source of a chained task's own intermediate lines (senti cause's
 * steps): a line may be longer than a record (256 MiB) and hold NUL
 * characters (a plain-text record's, as \u0000). */
void task_source_internal(task_source *s);
/* Confine a file source to the next bytes bytes of its file (the caller has
 * put f at the start of a line, and bytes ends at a line's end), numbering
 * lines (the default ids) from first_line, and reading them as JSONL when
 * jsonl, else as plain text (no detection: a range's first line is not the
 * file's). For MPI shards (shard.c). */
void task_source_range(task_source *s, int64_t bytes, int64_t first_line, bool jsonl);
/* Read a file source's lines as JSONL (jsonl) or plain text, not by its first
 * line (the default): --format jsonl / lines. */
void task_source_jsonl(task_source *s, bool jsonl);
/* A file source's format as read so far: 1 JSONL, 0 plain lines, -1 not yet
 * known (no line read, or only lines over the record limit). */
int task_source_jsonl_state(const task_source *s);
/* End any source after its first n records (those a resume skips included). */
void task_source_limit(task_source *s, int64_t n);
void task_source_free(task_source *s); /* accepts NULL */
/* Records a source returned so far, and a hash of them (ids and raw bytes: a
 * file's lines, a reader's record objects, argument texts; s NULL: the hash
 * of nothing). */
int64_t task_source_count(const task_source *s);
uint64_t task_source_hash(const task_source *s);
/* Make s check its first n records against hash: reading record n with
 * another hash, or meeting the end before it, fails the read (-1) with a
 * message naming the input and what_name (the earlier run's input). */
void task_source_expect(task_source *s, int64_t n, uint64_t hash, const char *what_name);
/* --strict's stop at a bad record: INVALID_ARG "FILE: record ID: why" (the
 * source's file name; none for texts given as arguments). */
senti_status task_strict_error(const task_source *src, const json_t *id, const char *why);

/* A record reader (datasets.c): 1 with *rec a new record object (its "id"
 * included; the runner reads it like a JSONL record), or with *rec = {"id"}
 * and *err a malloc'd message for a malformed record; 0 at the end; -1 on
 * IO / OOM (senti_last_error() set). */
typedef int (*task_record_fn)(void *ctx, json_t **rec, char **err);
/* A source over next (ctx owned: free_ctx(ctx) when the source is freed;
 * name borrowed). NULL on OOM. */
task_source *task_source_reader(task_record_fn next, void (*free_ctx)(void *), void *ctx, const char *name);

/* Byte offset of the first invalid UTF-8 sequence in s[0..n) (overlong forms,
 * surrogates and code points above U+10FFFF included), or -1 when valid. */
int64_t task_utf8_invalid_at(const char *s, size_t n);
/* The byte offset of code point cp of s[0..n) (n when past its end). With a
 * cursor (NULL: from the start), found from where the last call left it, so
 * offsets asked in order cost one pass over s; an earlier cp starts over. */
typedef struct task_cp_cursor { int64_t cp; size_t byte; } task_cp_cursor;
size_t task_cp_byte(task_cp_cursor *c, const char *s, size_t n, int64_t cp);

/* One record read from a source: id, text (valid UTF-8, NUL-terminated) or
 * error, all owned; the batch runner also fills obj, pair, items and result.
 * task_source_read (for tasks that batch on their own, e.g. generation): 1
 * got one, 0 end of input, -1 IO / OOM (senti_last_error() set); a JSONL
 * record must have a string "text"; its "text_pair" is kept in pair. */
typedef struct task_item task_item;
typedef struct task_record {
    json_t *id;                 /* owned */
    json_t *obj;                /* owned: the parsed JSONL object; NULL for plain text and arguments */
    char *text, *pair;          /* owned: "text" / "text_pair" (valid UTF-8), or the plain line; may be NULL */
    size_t len, pair_len;
    char *error;                /* owned; non-NULL: a bad record (answered with an error line) */
    task_item *items;           /* owned */
    int64_t n_items, cap_items;
    json_t *result;             /* owned: the decoded fields */
    void *aux;                  /* owned (free()d with the record): what a task's expand builds once for
                                   its items to borrow (task_record_add_borrowed) */
} task_record;
int task_source_read(task_source *s, task_record *r);
void task_record_clear(task_record *r); /* frees the fields; the struct can be reused */

/* ---- the runner ------------------------------------------------------------ */

/* A line over TASK_MAX_RECORD_BYTES is read through without being held and
 * answered with an error line naming it, so memory stays bounded whatever the
 * input (a window also stops at 64 MiB of text: runner.c). */
#define TASK_MAX_RECORD_BYTES (8 << 20)

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
    bool no_sort;             /* batches in input order, each padded to its longest (no length bucketing;
                                 for comparisons) */
    FILE *progress;           /* borrowed; non-NULL: after each window, a "\r…" line of records,
                                 records/s, tokens/s and (seekable file input) ETA; "\n" at the end */
    const char *out_name;     /* borrowed; the output's name in write errors (NULL: "the output") */
} task_runner_opts;
/* After a batch's output lines: flush out (a failed write, this one or an
 * earlier one stdio kept quiet, ends the run: IO naming ro->out_name and
 * errno), then ro's checkpoint of records_done when it has one. */
senti_status task_batch_written(FILE *out, const task_runner_opts *ro, int64_t records_done);
task_runner_opts task_runner_opts_defaults(void);

typedef struct task_stats {
    int64_t records;       /* records read and answered (errors included; skipped ones not) */
    int64_t skipped;       /* records skipped as already answered (resume) */
    int64_t errors;        /* records answered with an error line */
    int64_t truncated;     /* records with an input truncated to the model's max length */
    int64_t windowed;      /* records split into --stride windows */
    int64_t tokens;        /* real tokens run through the model */
    int64_t padded_tokens; /* batch * seq_len summed over batches (>= tokens) */
    int64_t batches;
    int64_t units;         /* model inputs (pairs, windows) run */
    double seconds;        /* wall time of the run */
    double t_read, t_tokenize, t_model, t_output; /* seconds in: reading + expanding records, tokenizing,
                                                     the forward passes, decoding + writing */
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

/* ---- the generic runner: records -> model inputs -> one result each ----------
 * A task turns each record into one or more items (a text and optional pair
 * that run through the model: an aspect pair, a zero-shot hypothesis, a
 * dialogue turn with its context). The runner tokenizes every item of a window
 * in parallel, splits over-long items into --stride windows (token
 * classifiers) or truncates them, sorts all model inputs of the window by
 * length, cuts batches under the token budget, runs them, and hands each
 * record with its items' logits to the task's decode. So items of many
 * records share batches, and the output never depends on the batching. */

/* One model input: an item's encoding, or a window of it. */
typedef struct task_seg {
    task_item *item;
    const int32_t *ids, *types; /* len tokens; borrowed from item->enc or owned by the seg */
    int32_t *own;               /* owned ids + types of a window (NULL: borrowed) */
    int64_t len;
    int64_t start;              /* a window: index in item->enc of its first non-special token */
    int64_t n_lead;             /* a window: special tokens before its content (item->enc's) */
    int64_t n_content;          /* a window: content (non-special) tokens */
    float *out;                 /* owned logits: [n_out] (sequence) or [len * n_out] (token) */
    int64_t n_out;              /* labels per row */
    bool nonfinite;             /* out holds a NaN or an infinity (the record gets an error line) */
    int64_t ord;                /* position in the window's input order (set by the runner) */
    float *xout;                /* owned (task_ops.heads): the model's extra heads' logits, head after head:
                                   [L_k] (sequence head) or [len * L_k] (token head) */
} task_seg;

struct task_item {
    char *text, *pair;          /* owned (or borrowed), valid UTF-8; pair may be NULL; owned ones NUL-terminated */
    size_t len, pair_len;
    senti_truncation cut;       /* tried first when too long (default: longest first) */
    size_t *turns;              /* optional: byte offsets where the context may be cut from the front
                                   (ascending; turns[k] - turns_base, capped at the context's length);
                                   the context is pair when turns_in_pair, else text */
    size_t turns_base;
    int64_t n_turns;
    bool turns_in_pair;
    bool borrowed;              /* text, pair and turns are the record's (its obj or aux): not freed or written */
    senti_encoding *enc;        /* set by the runner */
    char *err;                  /* owned: the tokenizer's message when encoding failed (set by the worker
                                   thread that ran it, so it travels with the item) */
    bool truncated;
    task_seg *segs;             /* set by the runner: 1, or the windows of a long input (--stride) */
    int64_t n_segs;
};


/* Append an item (copies text and pair); NULL on OOM. */
task_item *task_record_add(task_record *r, const char *text, size_t len, const char *pair, size_t pair_len);
/* Append an item that borrows text and pair (and turns, set by the caller)
 * from memory r owns until it is cleared (r->obj's strings, r->aux): a
 * dialogue's contexts are substrings of one buffer, not a copy each; NULL on OOM. */
task_item *task_record_add_borrowed(task_record *r, const char *text, size_t len, const char *pair, size_t pair_len);
/* Mark r bad with a message; false only on OOM. */
bool task_record_fail(task_record *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How the logits of a sequence classifier's windows (--stride) become one
 * row: MEAN the element-wise mean of the windows' logits, MAX their
 * element-wise maximum, FIRST the first window's (the start of the text). */
typedef enum task_aggregate { TASK_AGGREGATE_MEAN = 0, TASK_AGGREGATE_MAX, TASK_AGGREGATE_FIRST } task_aggregate;

/* Aggregate a sequence-classifier item's windows into its segs[0].out (in
 * window order, in double; nothing to do for one window). The runner calls
 * it before decode, so decode reads segs[0].out either way. */
void task_item_aggregate(task_item *it, task_aggregate agg);

typedef struct task_ops {
    senti_model_head head;      /* the head the model must have (BASE: hidden states per token) */
    int64_t max_length;         /* > 0: inputs truncated to this many tokens when the model takes more */
    bool text_optional;         /* JSONL records need no "text" field (dialogue) */
    bool allow_empty;           /* a record that expands to no item is decoded (else "nothing to run") */
    int64_t stride;             /* > 0: long inputs run as windows overlapping by this many tokens instead
                                   of being truncated (a pair's second sequence rides in every window) */
    task_aggregate aggregate;   /* sequence heads with windows: how segs[0].out becomes the item's logits */
    bool no_truncate;           /* an input over the max length (without stride) is an error line */
    bool heads;                 /* also run the model's extra heads (senti_model_extra_heads) into seg->xout */
    /* Build r's items from r->obj / r->text with task_record_add. A bad
     * record: task_record_fail. Returns false only on OOM. NULL: one item
     * (r->text, r->pair). Runs on the runner's thread. */
    bool (*expand)(void *ctx, task_record *r);
    /* The result fields of r (a new object) from its items' segs; NULL on OOM. */
    json_t *(*decode)(void *ctx, task_record *r);
} task_ops;

/* Run every record of src through tok and m with ops (see above), writing
 * one compact JSON line per record to out in input order. Same contract as
 * task_run otherwise. */
senti_status task_run_ops(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                          const task_runner_opts *o, const task_ops *ops, void *ctx, task_stats *st);

/* A token classifier's logits [item->enc length, n_out] for one item, merged
 * from its windows: each token's row comes from the window where it lies
 * farthest from an edge (the first such window on a tie). malloc'd; NULL on
 * OOM. */
float *task_item_token_logits(const task_item *it, int64_t *n_out);
/* The same merge over rows of L values that src(seg, ctx) gives per window
 * token (e.g. an extra head's block of seg->xout). malloc'd; NULL on OOM. */
float *task_item_token_rows(const task_item *it, int64_t L, const float *(*src)(const task_seg *g, const void *ctx),
                            const void *ctx);
/* The windows' rows of L values src(seg, ctx) aggregated by agg into out [L]
 * (in window order, in double). */
void task_item_aggregate_rows(const task_item *it, int64_t L, const float *(*src)(const task_seg *g, const void *ctx),
                              const void *ctx, task_aggregate agg, float *out);

/* One summary line: records, errors, truncated, tokens, padding efficiency,
 * records/s. */
void task_stats_print(const task_stats *st, FILE *f);

/* ---- resumable output ---------------------------------------------------------
 * OUTPUT plus a sidecar OUTPUT.progress naming how many records its first bytes
 * answer and fingerprinting the run; see resume.c for the safety argument. */

typedef struct task_resume task_resume;

typedef struct task_resume_opts {
    bool resume;                 /* continue from the sidecar (else start over) */
    bool overwrite;              /* resume: an output without a (readable) sidecar is started over, not refused */
    const char *input;           /* borrowed: the input path ("-": stdin; NULL: arguments) */
    const char *model_path;      /* borrowed: model file or directory (hashed); may be NULL */
    const char *tokenizer_path;  /* borrowed: tokenizer file or directory (hashed); NULL: the model's */
    const json_t *options;       /* borrowed: array of strings, every option that changes the output's bytes */
    const char *const *reads;    /* borrowed: other files or directories the run reads (a second model, …) */
    const char *const *reads_what; /* what each is, for the message ("the --pair-model") */
    int n_reads;
    bool no_sidecar;             /* task_output_checks: the output gets no OUTPUT.progress (eval's --predictions) */
} task_resume_opts;

/* Refuse (INVALID_ARG, message naming flag and it) an output that is a
 * regular file with the input's device and inode (symlinks followed; input
 * NULL or "-": stdin). Opens nothing. */
senti_status task_output_check(const char *flag, const char *input, const char *output);
/* Every refusal of an output (flag: "--output", "--predictions") that would
 * overwrite what the run reads: task_output_check against o->input, then
 * task_output_clash against the model, the tokenizer and o->reads. What
 * task_resume_open checks first. */
senti_status task_output_checks(const char *flag, const char *output, const task_resume_opts *o);
/* The same for an output (`flag` names it: "--output", "--explain-html")
 * against another file the command reads (`what`: "the model", ...): the
 * file at path, or when path is a directory any regular file directly in it.
 * OK when the output does not exist yet or path is NULL / absent. */
senti_status task_output_clash(const char *flag, const char *output, const char *what, const char *path);
/* Whether paths a and b name the same file, existing or not: the same inode
 * when both exist, else the same canonical directory and final name. */
bool task_same_path(const char *a, const char *b);

/* Open path for writing: refuse the input itself; a regular file is flock'ed
 * (a second writer fails at once). resume false: start over (truncate, drop a
 * stale sidecar, write a fresh one). resume true: check the sidecar's
 * fingerprint against this run (INVALID_ARG naming what changed) and the
 * file's lines against its counts, cut path back to its byte count, set
 * *skip to its record count and make src check that its first *skip records
 * hash as recorded (no sidecar, or an unreadable one: start over when path
 * is empty or o->overwrite, else refuse). A non-regular path (/dev/null, a pipe) is opened
 * plainly; resume on it is refused. src (borrowed, may be NULL) is read for
 * the checkpoints' input hash. NULL with senti_last_error() set on failure. */
task_resume *task_resume_open(const char *path, const task_resume_opts *o, task_source *src, int64_t *skip);
FILE *task_resume_file(task_resume *r); /* the output stream; borrowed */
/* A checkpoint for task_runner_opts (ctx is the task_resume *): fsync the
 * output, then atomically replace the sidecar (records, bytes, input hash). */
senti_status task_resume_checkpoint(void *ctx, int64_t records_done);
/* Close the output (the sidecar stays: a resumed finished run does nothing). */
senti_status task_resume_close(task_resume *r);
/* Close after a failed run: a regular output keeps its whole lines and loses
 * a torn last one (a failed write's part; never below what the sidecar
 * vouches for, and a --resume still goes on from there). */
senti_status task_resume_abort(task_resume *r);
/* After task_resume_abort: the records its output holds as whole lines (-1:
 * not known, or not a regular file) and *checkpoint, those of the last
 * checkpoint (where a --resume goes on from). */
int64_t task_resume_kept(const task_resume *r, int64_t *checkpoint);
void task_resume_free(task_resume *r); /* accepts NULL; closes the output if still open */

/* ---- explanations (explain.c) ------------------------------------------------------
 * Per-token attributions of a sequence classifier's prediction (see explain.c
 * for the exact definitions): occlusion of each word, attention rollout,
 * integrated gradients by finite differences on the word-embedding scale. */

typedef enum task_explain_method {
    TASK_EXPLAIN_NONE = 0,
    TASK_EXPLAIN_OCCLUSION,
    TASK_EXPLAIN_ROLLOUT,
    TASK_EXPLAIN_IG,
} task_explain_method;
/* "occlusion", "rollout", "ig"; NONE for anything else. */
task_explain_method task_explain_method_from_name(const char *name);

typedef struct task_explain {
    senti_model *model;         /* borrowed; forwards run on it (between the runner's batches) */
    task_explain_method method;
    int64_t ig_steps;           /* midpoint-rule points on the path (default 16) */
    double ig_h;                /* central-difference step on the embedding scale (default 1e-2) */
    int64_t batch;              /* variants per forward (default 32) */
    int32_t mask_id;            /* the token occlusion puts in a word's place */
    FILE *html;                 /* borrowed; non-NULL: each record's view appended (task_explain_html_*) */
} task_explain;

/* Defaults for method on m (a sequence classifier) and tok. UNSUPPORTED when
 * m is not one, occlusion finds no mask / unknown token, or rollout / ig meet
 * a model without attention probabilities and embedding scale. */
senti_status task_explain_init(task_explain *x, senti_model *m, const senti_tokenizer *tok,
                               task_explain_method method);
/* Attributions for label (label_name; multi: sigmoid, else softmax) of the
 * encoding e of text (len bytes; a pair's second sequence is not
 * attributed): *result = {"method","label","score","tokens":[{"text","start",
 * "end","score"}…]} ("steps" too for ig), one entry per word (occlusion) or
 * per content token. Errors from the model, NO_MEMORY. */
senti_status task_explain_one(const task_explain *x, const senti_encoding *e, const char *text, size_t len,
                              int64_t label, const char *label_name, bool multi, json_t **result);
/* The HTML view: a header, one block per record (the text with its units
 * coloured by score; what: an optional note such as the aspect), the end
 * (IO when a write failed). */
void task_explain_html_begin(FILE *h);
void task_explain_html_record(FILE *h, const json_t *id, const char *text, size_t len, const char *what,
                              const json_t *ex);
senti_status task_explain_html_end(FILE *h);

/* FNV-1a over n bytes, continuing h (start: task_source_hash(NULL)). */
uint64_t task_hash_bytes(uint64_t h, const void *p, size_t n);
/* A 16-hex-digit hash of a file (size, first and last MiB) or of a
 * directory's files (names, sizes, first and last MiB each) into hex; false
 * (hex "") when it cannot be read. */
bool task_fingerprint_path(const char *path, char hex[17]);

/* INVALID_ARG naming the first label of labels[0..n) given twice (what
 * prefixes the message), else SENTI_OK. */
senti_status task_labels_distinct(const char *const *labels, int64_t n, const char *what);

/* ---- shards: one input split over MPI ranks (shard.c) -------------------------
 * Each rank runs [start, end) of the input into its own resumable partial
 * output; rank 0 appends the partials in rank order into the output. */

/* This rank's byte range of the regular file f (borrowed; its position is
 * moved): the cuts size*k/n moved forward to the next line start, so ranges
 * tile the file and each holds whole lines (possibly none). INVALID_ARG when
 * f is not a regular file, IO on a read failure. */
senti_status task_shard_range(FILE *f, const char *name, int rank, int n, int64_t *start, int64_t *end);
/* *lines = the '\n' bytes in bytes [start, end) of f (summed over the ranges
 * before one: the default id of the record starting it); one fixed buffer. */
senti_status task_shard_count_lines(FILE *f, const char *name, int64_t start, int64_t end, int64_t *lines);
/* "OUTPUT.partR-of-N", malloc'd; NULL on OOM (message set). */
char *task_shard_part_name(const char *output, int rank, int n);
/* Append the file part to dst (borrowed; dst_name for messages). */
senti_status task_shard_append(FILE *dst, const char *dst_name, const char *part);
/* The files beside output that belong to a split run over another number of
 * ranks than n: "OUTPUT.partR-of-M" and their ".progress" sidecars (and a kill's
 * ".progress.tmp-XXXXXX"), M != n. *found = how many, *m = the M of the one
 * named first (sorted), *first = its name (malloc'd; NULL when none); with
 * remove, each is unlinked instead (*found counts those removed) — none when
 * one is among keep[0..n_keep) (what the run reads) or a part a running job
 * holds locked (INVALID_ARG). An unreadable directory (EACCES) lists none; IO
 * when reading it fails otherwise or a file cannot be removed. */
senti_status task_shard_other_parts(const char *output, int n, bool remove, const char *const *keep, int n_keep,
                                    int64_t *found, int *m, char **first);

/* ---- classify ---------------------------------------------------------------- */

/* What happens to an input longer than the model's max length (classify,
 * aspect, dialogue): stride > 0 runs it as windows overlapping by stride
 * tokens, their logits aggregated (task_aggregate) and the record marked
 * "windows":k; else it is truncated and marked "truncated":true, or with
 * no_truncate answered with an error line. All zero: truncate. */
typedef struct task_long {
    int64_t stride;
    task_aggregate aggregate;
    bool no_truncate;
} task_long;

typedef struct task_classify {
    const senti_model *model; /* borrowed: label names */
    bool multi_label;         /* sigmoid per label instead of softmax */
    bool regression;          /* problem_type "regression": the raw outputs (as the pipeline's function "none") */
    int64_t top_k;            /* <= 0: every label in label order; else the k best, best first */
    double threshold;         /* multi-label: labels whose sigmoid >= threshold (default 0.5) */
    task_long lng;            /* long inputs (classify, dialogue) */
    const task_explain *explain; /* borrowed; NULL or method NONE: no "explain" field (task_classify_run) */
    const char *const *names;    /* borrowed; NULL: the model's label names; else n_names of them (an extra head's) */
    int64_t n_names;
    bool logits;              /* also "logits":{label: raw logit}, every label in label order */
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
/* Add "explain" to o: x's attributions for the best of logits [n] on runner
 * item it (record id, note what for the HTML view, NULL: none); an
 * explanation that fails becomes {"error"}. false on OOM. */
bool task_classify_explain(const task_explain *x, const senti_model *m, bool multi, const task_item *it,
                           const json_t *id, const char *what, const float *logits, int64_t n, json_t *o);
/* task_run with task_classify_decode, c->lng's long-input handling and
 * (c->explain) an "explain" field for the best label (explain failure:
 * "explain":{"error"}). Explanations refuse --stride windows (INVALID_ARG). */
senti_status task_classify_run(senti_model *m, const senti_tokenizer *tok, const task_classify *c, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st);

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
    task_long lng;              /* long texts: windows (the aspect in each) or truncation */
    const task_explain *explain; /* borrowed; NULL: none; else each aspect entry gets "explain" */
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

/* Every record of src through m with the batch runner (the pairs of many
 * records share batches), one JSON line each in input order: JSONL
 * {"id","text","aspect"} where "aspect" is a string or an array of strings,
 * absent or null meaning a->aspects; text lines and arguments use
 * a->aspects. A bad record (invalid JSON or UTF-8, missing or mistyped
 * field, no aspect) becomes {"id","error"} unless o->strict. m must be a
 * sequence classifier with labels. */
senti_status task_aspect_run_opts(senti_model *m, const senti_tokenizer *tok, const task_aspect *a, task_source *src,
                                  FILE *out, const task_runner_opts *o, task_stats *st);
/* task_aspect_run_opts on in (when not NULL; name for messages) or the
 * n_texts texts (ids 0..n-1), with default runner options and a->strict. */
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

/* task_tag_decode with an explicit subword mask (1: the token continues the
 * previous kept token's word; NULL: same word id, as task_tag_decode). */
json_t *task_tag_decode_sub(const char *const *labels, int64_t L, const char *text, size_t len,
                            const int32_t *offsets, const int32_t *word_ids, const uint8_t *subword,
                            const uint8_t *special, int64_t T, const float *logits, task_tag_agg agg);

/* HF's subword rule (see tag.c) for each token of e, an encoding of text
 * (len bytes, valid UTF-8), into sub [senti_encoding_len(e)]. */
void task_tag_subwords(const senti_tokenizer *tok, const senti_encoding *e, const char *text, size_t len,
                       uint8_t *sub);

typedef struct task_tag {
    const senti_tokenizer *tok; /* borrowed */
    const senti_model *model;   /* borrowed: its extra heads */
    char **labels;              /* owned: the model's label names (LABEL_i when unnamed) */
    int64_t L;
    task_tag_agg agg;
    bool aoe;                   /* every record runs once per aspect (see task_tag_aoe_run) */
    const char *const *aspects; /* AOE: default aspects, borrowed */
    int64_t n_aspects;
    int64_t stride;
} task_tag;
/* Settings for token classifier m; UNSUPPORTED when m is not one. */
senti_status task_tag_init(task_tag *t, const senti_model *m, const senti_tokenizer *tok, task_tag_agg agg);
void task_tag_free(task_tag *t); /* accepts NULL */
/* The result fields {"spans",…} of one runner item (its windows merged). NULL on OOM. */
json_t *task_tag_item(const task_tag *t, const task_item *it);

/* Every record of src (JSONL {"id","text"}, text lines or arguments) through
 * m (a token classifier) with the batch runner: one line each in input
 * order, {"id","spans",…} or {"id","error"}. stride > 0: inputs longer than
 * the model's max length run as windows overlapping by stride tokens, merged
 * into one result (st->windowed); else they are truncated (st->truncated). */
senti_status task_tag_run_opts(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, int64_t stride,
                               task_source *src, FILE *out, const task_runner_opts *o, task_stats *st);
/* Aspect-oriented opinion extraction (AOE, the aspect-conditioned tagger of
 * TOWE, Fan et al. 2019): a record with a "text_pair" runs as the pair (text,
 * aspect) and gives {"id","spans","aspect"}: spans from the text's tokens
 * only (task_tag_pair_item). With aoe, every record runs once per aspect —
 * its "aspect_spans" ([{"aspect","start","end"}], a dataset's gold), its
 * "aspect" (string or array), else aspects[0..n_aspects) — and gives
 * {"id","opinions":[{"aspect","start","end","spans"}],"pairs":[{"aspect",
 * "aspect_start","aspect_end","opinion","opinion_start","opinion_end",
 * "score"}]} (aspect offsets from "aspect_spans", else the first occurrence,
 * else null). Pairs and --stride exclude each other. Otherwise as
 * task_tag_run_opts. */
senti_status task_tag_aoe_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, int64_t stride, bool aoe,
                              const char *const *aspects, int64_t n_aspects, task_source *src, FILE *out,
                              const task_runner_opts *o, task_stats *st);
/* The spans of a (text, aspect) pair item (see task_tag_aoe_run). NULL on OOM. */
json_t *task_tag_pair_item(const task_tag *t, const task_item *it);

/* task_tag_run_opts on in (when not NULL) or the n_texts texts, with default
 * runner options and strict. */
senti_status task_tag_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, bool strict, FILE *in,
                          const char *name, const char *const *texts, int64_t n_texts, FILE *out, task_stats *st);

/* ---- several heads (multihead.c) ---------------------------------------------------------
 * A model with extra heads (senti_model_extra_heads) answers every head from
 * one forward: the runner fills each seg's xout (task_ops.heads) and the
 * record gets "heads":{PRIMARY: primary's fields, NAME: that head's result}. */

/* The "heads" object of runner item it (its windows merged): primary (the record's
 * own fields, copied) under the primary head's name, then each extra head:
 * sequence heads decoded as classify with c's top-k / threshold / aggregate
 * (c NULL: defaults, mean) and the head's labels, token heads into spans
 * with agg (HF's subword rule when tok is given). NULL on OOM. */
json_t *task_heads_result(const senti_model *m, const senti_tokenizer *tok, const task_classify *c, task_tag_agg agg,
                          const task_item *it, const json_t *primary);

/* ---- clauses and emotion causes (clauses.c, cause.c) --------------------------------
 * A document cut into clauses (see clauses.c for the rules), and ECE / ECPE
 * over them with encoder classifiers: the two-step method of Xia & Ding
 * (2019). Step 1: a clause classifier on the sentence pair (clause, its
 * neighbours within `context` joined by "，") gives each clause P(emotion)
 * and P(cause); step 2: a pair classifier on (emotion clause, "<d> " + cause
 * clause), d = the cause's position minus the emotion's, scores every
 * (emotion, cause) candidate of step 1 at most `window` clauses apart. */

typedef struct task_clause {
    size_t b0, b1;      /* bytes [b0, b1) of the text */
    int64_t start, end; /* code points [start, end) */
} task_clause;

/* The clauses of text (len bytes) into *out (malloc'd; NULL when none) and
 * *n. INVALID_ARG naming the byte of invalid UTF-8, NO_MEMORY. Thread-safe. */
senti_status task_clauses_split(const char *text, size_t len, task_clause **out, int64_t *n);

/* The clauses of a record as a new array of {"text","start","end"} and their
 * numbers (*numbers, new): obj's "clauses" (strings, or objects with "text",
 * "start", "end") when present — authoritative; offsets found in text in
 * order, else null — numbered by "clause_ids" (or "numbers"), else 1-based;
 * else text cut by task_clauses_split. NULL with err set (a bad record) or,
 * err empty, on OOM. obj and text may be NULL. */
json_t *task_clauses_of(json_t *obj, const char *text, size_t len, json_t **numbers, char *err, size_t errn);

/* One model of the pipeline and the label it reads. */
typedef struct task_cause_model {
    senti_model *model;         /* borrowed; NULL: not used */
    const senti_tokenizer *tok; /* borrowed */
    task_classify cls;          /* softmax or sigmoid (task_classify_init) */
} task_cause_model;

typedef struct task_cause {
    task_cause_model clause;    /* labels "emotion" and / or "cause" */
    task_cause_model cause;     /* optional: a model of its own for "cause" (clause's then only gives "emotion") */
    task_cause_model pair;      /* optional: label "pair" (else the last label); without it every candidate is a
                                   pair, scored P(emotion) * P(cause) */
    int64_t context;            /* neighbouring clauses each side in step 1's pair (default 1; 0: none) */
    int64_t window;             /* step 2's candidates: |d| <= window (default 3) */
    double threshold;           /* emotion, cause and pair decisions: probability >= threshold (default 0.5) */
} task_cause;

/* Every record of src through the pipeline, one line each in input order:
 * {"id","clauses":[{"text","start","end"}],"emotions":[i…],"causes":[j…],
 * "pairs":[{"emotion":i,"cause":j,"score"}]} where i, j are clause numbers:
 * the record's "clause_ids" when it has them (the ECPE CSV), else 1-based
 * positions. A record is a text (cut by task_clauses_split) or JSONL with
 * "clauses" (an array of strings, authoritative: the ECPE corpus; offsets
 * found in "text" when it holds them in order, else null) or "text". Resume:
 * o->skip records are skipped and o->checkpoint counts them. Errors as
 * task_run_ops. */
senti_status task_cause_run(const task_cause *c, task_source *src, FILE *out, const task_runner_opts *o,
                            task_stats *st);

/* ---- chained runs (cause.c): a step's output is the next step's input -----------------
 * Runner options for a later step of a chain whose first step ran with o:
 * no skip (the first step skipped the answered records), not strict, o's
 * checkpoint (counting o->skip) only on the last step, progress only there.
 * The result points into o: o must outlive it. */
task_runner_opts task_chain_opts(const task_runner_opts *o, bool last);
/* f flushed and rewound for reading, or NULL (IO, senti_last_error() set). */
FILE *task_chain_rewind(FILE *f);

/* AE + AOE: aspects from the token classifier ae (every span whose type does
 * not start with "OP"; unified tags' POS / NEG / NEU spans too), then the
 * opinions of each from the aspect-conditioned tagger m (task_tag_aoe_run on
 * {"text","aspect_spans"}). One line per record, in input order; a record
 * without aspects gives empty "opinions" and "pairs". */
senti_status task_tag_ae_aoe_run(senti_model *ae, const senti_tokenizer *ae_tok, senti_model *m,
                                 const senti_tokenizer *tok, task_tag_agg agg, task_source *src, FILE *out,
                                 const task_runner_opts *o, task_stats *st);

/* ---- zero-shot (NLI) --------------------------------------------------------------
 * See zeroshot.c: candidate labels through a hypothesis template, scored by
 * an NLI sequence classifier as transformers' zero-shot pipeline does. */

#define TASK_ZEROSHOT_TEMPLATE "This example is {}."

typedef struct task_zeroshot {
    const char *const *labels; /* default candidate labels (borrowed); a JSONL record's "labels" array overrides */
    int64_t n_labels;
    const char *tmpl;          /* hypothesis template; each "{}" becomes the label */
    bool multi_label;          /* independent [contradiction, entailment] softmax per label */
    int64_t entail_id, contra_id;
} task_zeroshot;

/* Settings for m (an NLI sequence classifier); tmpl NULL: HF's default
 * TASK_ZEROSHOT_TEMPLATE. INVALID_ARG when no label name starts with
 * "entail", the template has no "{}" or a label is empty; UNSUPPORTED when
 * m is not a sequence classifier with >= 2 labels. */
senti_status task_zeroshot_init(task_zeroshot *z, const senti_model *m, const char *const *labels, int64_t n_labels,
                                const char *tmpl, bool multi_label);
/* tmpl with each "{}" replaced by label[0..llen). malloc'd; NULL on OOM. */
char *task_zeroshot_hypothesis(const char *tmpl, const char *label, size_t llen, size_t *out_len);
/* Scores of n candidates from their pairs' logits rows (in candidate order). */
void task_zeroshot_scores(const task_zeroshot *z, const float *const *logits, int64_t n, double *scores);
/* Every record of src (JSONL {"id","text","labels"}, text lines, arguments)
 * with the batch runner: {"id","labels":[best first],"scores":[…]} per
 * record, in input order (HF's output without "sequence"). */
senti_status task_zeroshot_run(senti_model *m, const senti_tokenizer *tok, const task_zeroshot *z, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st);

/* ---- dialogue ----------------------------------------------------------------------
 * Per-utterance emotion for {"dialogue":[{"speaker","text"},…]} records (see
 * dialogue.c for how the context is built). */

typedef struct task_dialogue {
    int64_t context;    /* previous turns given as context (0: each utterance alone) */
    bool as_prefix;     /* context before the utterance in one text; else the sentence pair (utterance, context) */
    task_classify cls;  /* how logits become labels (softmax / sigmoid, top-k, threshold) */
} task_dialogue;

/* Every record of src ({"id","dialogue":[…]} JSONL lines, or arguments
 * holding such JSON) with the batch runner: {"id","utterances":[…]} per
 * record in input order; a bad record (no or mistyped "dialogue", a turn
 * without a string "text", invalid UTF-8) becomes {"id","error"}. */
senti_status task_dialogue_run(senti_model *m, const senti_tokenizer *tok, const task_dialogue *d, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st);

/* ---- dataset formats (datasets.c) --------------------------------------------------
 * The labelled files of ../shared/assets/data read as records (see datasets.c
 * for each format's record shape and gold fields). */

typedef enum task_format {
    TASK_FORMAT_AUTO = 0,  /* detect (task_format_detect) */
    TASK_FORMAT_LINES,     /* one text per line ("text") */
    TASK_FORMAT_JSONL,
    TASK_FORMAT_TSV,       /* GLUE / SST-2 ("sst2", "glue") */
    TASK_FORMAT_TWEETEVAL,
    TASK_FORMAT_MELD,
    TASK_FORMAT_ASTE,
    TASK_FORMAT_ASQP,
    TASK_FORMAT_ECPE,
    TASK_FORMAT_ECPE_CSV,
    TASK_FORMAT_COUNT
} task_format;
task_format task_format_from_name(const char *name); /* TASK_FORMAT_COUNT when unknown */
const char *task_format_name(task_format f);
/* The format of f (open on path at its start): a TweetEval *_text.txt by its
 * sibling *_labels.txt, else from the first two non-blank lines; LINES when
 * nothing matches; AUTO when f cannot seek (a pipe: task_source_file finds
 * plain text or JSONL from its first line, as for stdin). f is left where it
 * was. IO on a read or seek failure. */
senti_status task_format_detect(const char *path, FILE *f, task_format *out);
/* A record source over f (borrowed, not closed) in format fmt: AUTO, LINES
 * and JSONL are task_source_file; the others read the dataset (path names
 * the sibling files and messages). NULL with senti_last_error() set (a file
 * without its header, TweetEval text and labels of different lengths, OOM). */
task_source *task_source_dataset(FILE *f, const char *path, task_format fmt);
/* Every record of the file at path (fmt AUTO: detected; *used gets the
 * format) as a new JSON array: the records, malformed ones as {"id","error"}.
 * INVALID_ARG for plain text (no gold), IO, BAD_FILE, NO_MEMORY. */
senti_status task_dataset_read(const char *path, task_format fmt, json_t **records, task_format *used);

/* ---- evaluation (eval.c) --------------------------------------------------------------
 * Standard metrics from gold records (task_dataset_read) and a task's result
 * objects (see eval.c for each scoring rule and its source). */

typedef enum task_eval_kind {
    TASK_EVAL_CLASSIFY = 0, /* "label" vs the result's "label" */
    TASK_EVAL_ZERO_SHOT,    /* "label" vs the result's "labels"[0] */
    TASK_EVAL_ASPECT,       /* "aspect" + "sentiments" vs the result's "aspects"[k].sentiment */
    TASK_EVAL_DIALOGUE,     /* "labels" vs the result's "utterances"[k].label */
    TASK_EVAL_AE,           /* aspect spans */
    TASK_EVAL_OE,           /* opinion spans */
    TASK_EVAL_AESC,         /* aspect spans with their sentiment */
    TASK_EVAL_PAIR,         /* (aspect span, opinion span) */
    TASK_EVAL_TRIPLET,      /* (aspect span, opinion span, sentiment) */
    TASK_EVAL_QUAD,         /* (aspect, category, sentiment, opinion) strings */
    TASK_EVAL_ECPE,         /* (emotion clause, cause clause) pairs */
    TASK_EVAL_CAUSE,        /* the same, from a model run by eval (senti cause or extract --schema cause-pair) */
    TASK_EVAL_EVENT,        /* (trigger, subject, object, time, location, polarity) events */
    TASK_EVAL_COUNT
} task_eval_kind;
task_eval_kind task_eval_kind_from_name(const char *name); /* TASK_EVAL_COUNT when unknown */
const char *task_eval_kind_name(task_eval_kind k);
/* Score preds (result objects, the i-th for gold's i-th record, ids equal)
 * against gold. labels (n_labels, borrowed; may be NULL): the model's label
 * names, which order the classification output and resolve integer gold
 * labels. *metrics: a new object. INVALID_ARG when the arrays do not line up
 * or a prediction does not fit its record (named), NO_MEMORY. */
senti_status task_eval_score(task_eval_kind k, json_t *gold, json_t *preds, const char *const *labels,
                             int64_t n_labels, json_t **metrics);

/* ---- embed ---------------------------------------------------------------------
 * Sentence embeddings from a base encoder (*Model): the last hidden state of
 * each text pooled (CLS, mean or max over its tokens, special tokens
 * included, as sentence-transformers pools) and optionally L2-normalised;
 * {"id","embedding":[…]} per record. Defaults come from the model's
 * sentence-transformers files (senti_model_sentence_config), else mean
 * pooling without normalisation; inputs longer than max_seq_length (or the
 * model's limit) are truncated. */

typedef struct task_embed {
    senti_pooling pooling;
    bool normalize;
    int64_t max_length; /* 0: the model's */
} task_embed;

/* Settings for m: pooling "cls" / "mean" / "max" or NULL (the model's
 * config), normalize 1 / 0 or -1 (the model's config). INVALID_ARG for a
 * model that is not a base encoder or an unknown pooling name; the config's
 * errors otherwise. */
senti_status task_embed_init(task_embed *e, const senti_model *m, const char *pooling, int normalize);
/* Every record of src (a text each; a text pair is refused) -> one line. */
senti_status task_embed_run(senti_model *m, const senti_tokenizer *tok, const task_embed *e, task_source *src,
                            FILE *out, const task_runner_opts *o, task_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_TASKS_H */
