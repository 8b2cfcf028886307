/* runner.c — the batch runner: reads a window of records, expands each into
 * model inputs (items) with the task's expand, tokenizes them in parallel,
 * splits over-long token-classifier inputs into --stride windows (or
 * truncates), sorts the window's inputs by length and cuts batches under a
 * token budget, runs the model on each right-padded batch, decodes each
 * record from its inputs' logits and writes one JSON line per record in
 * input order.
 *
 * Invariants: a window's records are written only after all of them are
 * decoded, in the order they were read, so ordering never depends on the
 * batching; every record read gets exactly one line (result or error); a
 * model input's logits equal that input run alone (the model's padding
 * guarantee), so batching never changes a result. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/core.h"
#include "tasks.h"

typedef task_record rec;

/* A window ends early once its records' bytes reach this (--window is a
 * record count; this bounds the memory a window takes): each record counts its
 * text (times the windows --stride runs a token in) plus RECORD_BYTES, about
 * what its items, encodings and result take beside the text (3.9 KB for a
 * one-word record, measured), so a huge --window of short records stays
 * bounded too (at ~16k records). */
#define WINDOW_BYTES ((size_t)64 << 20)
#define RECORD_BYTES ((size_t)4096)
/* --stride repeats a token in up to w / (w - stride) windows (w: the window's
 * content tokens): one record's windows may hold at most this many tokens in
 * all (else its own error line), and the window's byte budget above shrinks by
 * that factor, so the memory of a window stays bounded at any stride. */
#define RECORD_WINDOW_TOKENS ((int64_t)1 << 24)

static void item_clear(task_item *it) {
    if (!it->borrowed) {
        free(it->text);
        free(it->pair);
        free(it->turns);
    }
    senti_encoding_free(it->enc);
    free(it->err);
    for (int64_t k = 0; k < it->n_segs; k++) {
        free(it->segs[k].own);
        free(it->segs[k].out);
        free(it->segs[k].xout);
    }
    free(it->segs);
    memset(it, 0, sizeof *it);
}

static void rec_clear(rec *r) {
    json_decref(r->id);
    json_decref(r->obj);
    free(r->text);
    free(r->pair);
    free(r->error);
    for (int64_t i = 0; i < r->n_items; i++) item_clear(&r->items[i]);
    free(r->items);
    json_decref(r->result);
    free(r->aux);
    memset(r, 0, sizeof *r);
}

/* ---- record sources ------------------------------------------------------ */

struct task_source {
    const char *const *texts; /* argument source */
    int64_t n, next;
    FILE *f;                  /* file source */
    const char *name;
    int jsonl;                /* -1 not yet known, 0 plain, 1 JSONL */
    int64_t size;             /* bytes in a regular file, else -1 (for the ETA) */
    int64_t line;             /* 0-based index of the next line */
    char *buf;
    size_t cap;
    task_record_fn next_rec;  /* record-reader source (datasets.c); owns rd_ctx */
    void (*rd_free)(void *);
    void *rd_ctx;
    int64_t count;            /* records returned */
    uint64_t hash;            /* of the records returned (task_source_hash) */
    int64_t expect_n;         /* > 0: record expect_n must bring hash to expect_hash (resume) */
    uint64_t expect_hash;
    char *expect_name;        /* the earlier run's input name (for the message) */
    size_t raw_n;             /* file source: the last line's length in buf */
    int64_t left;             /* bytes left in a file range (task_source_range); -1: to the end */
    int64_t limit, given;     /* records given at most (task_source_limit; -1: all) and so far */
    bool internal;            /* a chained task's own intermediate lines (task_source_internal) */
};

/* A chained task's intermediate line is its record's results (one input
 * record of at most TASK_MAX_RECORD_BYTES, grown by its JSON): it may be
 * longer than a record, up to this. */
#define INTERNAL_LINE_BYTES ((size_t)256 << 20)

void task_source_internal(task_source *s) {
    if (s) s->internal = true;
}

#define HASH_SEED 0xcbf29ce484222325ULL

int64_t task_source_count(const task_source *s) { return s ? s->count : 0; }
uint64_t task_source_hash(const task_source *s) { return s ? s->hash : HASH_SEED; }

void task_source_expect(task_source *s, int64_t n, uint64_t hash, const char *what_name) {
    s->expect_n = n;
    s->expect_hash = hash;
    free(s->expect_name);
    s->expect_name = what_name ? strdup(what_name) : NULL;
}

senti_status task_batch_written(FILE *out, const task_runner_opts *ro, int64_t records_done) {
    errno = 0;
    if (fflush(out) != 0 || ferror(out))
        return senti_error(SENTI_ERR_IO, "writing %s failed: %s", ro->out_name ? ro->out_name : "the output",
                           errno ? strerror(errno) : "an earlier write failed");
    return ro->checkpoint ? ro->checkpoint(ro->checkpoint_ctx, records_done) : SENTI_OK;
}

senti_status task_strict_error(const task_source *src, const json_t *id, const char *why) {
    char *is = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
    const bool named = src && !src->texts && src->name;
    senti_status s = senti_error(SENTI_ERR_INVALID_ARG, "%s%srecord %s: %s", named ? src->name : "", named ? ": " : "",
                                 is ? is : "?", why);
    free(is);
    return s;
}

task_source *task_source_texts(const char *const *texts, int64_t n) {
    task_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    static const char *const none[1] = {NULL};
    s->texts = texts ? texts : none; /* a texts source even when empty (NULL would read as a file) */
    s->n = n;
    s->hash = HASH_SEED;
    s->left = s->limit = -1;
    return s;
}

task_source *task_source_file(FILE *f, const char *name) {
    task_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->f = f;
    s->name = name ? name : "input";
    s->jsonl = -1;
    s->hash = HASH_SEED;
    s->left = s->limit = -1;
    struct stat sb;
    long pos = ftell(f);
    s->size = pos >= 0 && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
    return s;
}

task_source *task_source_reader(task_record_fn next, void (*free_ctx)(void *), void *ctx, const char *name) {
    task_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->next_rec = next;
    s->rd_free = free_ctx;
    s->rd_ctx = ctx;
    s->name = name ? name : "input";
    s->size = -1;
    s->hash = HASH_SEED;
    s->left = s->limit = -1;
    return s;
}

void task_source_range(task_source *s, int64_t bytes, int64_t first_line, bool jsonl) {
    s->left = bytes;
    s->line = first_line;
    s->jsonl = jsonl;
    s->size = -1; /* the ETA would measure the whole file */
}

void task_source_limit(task_source *s, int64_t n) { s->limit = n; }

void task_source_jsonl(task_source *s, bool jsonl) { s->jsonl = jsonl; }

int task_source_jsonl_state(const task_source *s) { return s ? s->jsonl : -1; }

void task_source_free(task_source *s) {
    if (!s) return;
    if (s->rd_free) s->rd_free(s->rd_ctx);
    free(s->expect_name);
    free(s->buf);
    free(s);
}

int64_t task_utf8_invalid_at(const char *s, size_t n) { return senti_utf8_invalid_at(s, n); }

size_t task_cp_byte(task_cp_cursor *c, const char *s, size_t n, int64_t cp) {
    task_cp_cursor from_start = {0, 0};
    if (cp <= 0) return 0;
    if (!c) c = &from_start;
    else if (cp < c->cp) *c = from_start;
    while (c->cp < cp && c->byte < n) {
        c->byte++;
        while (c->byte < n && ((unsigned char)s[c->byte] & 0xC0) == 0x80) c->byte++;
        c->cp++;
    }
    return c->cp == cp ? c->byte : n;
}

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

bool task_record_fail(rec *r, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->error);
    r->error = strdup(msg);
    return r->error != NULL;
}
#define set_error task_record_fail

static task_item *record_add(rec *r, const char *text, size_t len, const char *pair, size_t pair_len, bool borrow) {
    if (r->n_items == r->cap_items) {
        int64_t cap = r->cap_items ? 2 * r->cap_items : 4;
        task_item *v = realloc(r->items, (size_t)cap * sizeof *v);
        if (!v) return NULL;
        r->items = v;
        r->cap_items = cap;
    }
    task_item *it = &r->items[r->n_items];
    memset(it, 0, sizeof *it);
    it->cut = SENTI_TRUNCATE_LONGEST_FIRST;
    if (borrow) {
        it->borrowed = true;
        it->text = (char *)text, it->pair = (char *)pair;
    } else if (!(it->text = dup_bytes(text, len)) || (pair && !(it->pair = dup_bytes(pair, pair_len)))) {
        item_clear(it);
        return NULL;
    }
    it->len = len;
    it->pair_len = pair ? pair_len : 0;
    r->n_items++;
    return it;
}

task_item *task_record_add(rec *r, const char *text, size_t len, const char *pair, size_t pair_len) {
    return record_add(r, text, len, pair, pair_len, false);
}

task_item *task_record_add_borrowed(rec *r, const char *text, size_t len, const char *pair, size_t pair_len) {
    return record_add(r, text, len, pair, pair_len, true);
}

static bool take_obj(rec *r, json_t *o, bool text_optional);

/* Fill r from one JSONL line; false only on OOM (a bad record sets r->error). */
static bool parse_jsonl(rec *r, const char *line, size_t n, bool text_optional, bool allow_nul) {
    json_error_t err;
    const int64_t bad = senti_utf8_invalid_at(line, n);
    if (bad >= 0) {
        /* jansson refuses the line; parse a copy with the bad bytes made '?'
         * to report the error under the record's own id */
        char *copy = dup_bytes(line, n);
        if (!copy) return false;
        senti_utf8_scrub(copy, n);
        json_t *o = json_loadb(copy, n, 0, &err);
        free(copy);
        json_t *id = json_is_object(o) ? json_object_get(o, "id") : NULL;
        if (id && (json_is_string(id) || json_is_integer(id))) {
            json_decref(r->id);
            r->id = json_incref(id);
        }
        json_decref(o);
        return set_error(r, "invalid UTF-8 at byte %lld of the line", (long long)bad);
    }
    json_t *o = json_loadb(line, n, JSON_REJECT_DUPLICATES | (allow_nul ? JSON_ALLOW_NUL : 0), &err);
    if (!o) { /* the error line carries the record's own id when the line parses leniently (a duplicate key) */
        const long long ln = json_is_integer(r->id) ? (long long)json_integer_value(r->id) + 1 : 0;
        json_t *lo = json_loadb(line, n, allow_nul ? JSON_ALLOW_NUL : 0, NULL);
        json_t *id = json_is_object(lo) ? json_object_get(lo, "id") : NULL;
        if (id && (json_is_string(id) || json_is_integer(id))) {
            json_decref(r->id);
            r->id = json_incref(id);
        }
        json_decref(lo);
        const char *why = strstr(err.text, "JSON_ALLOW_NUL") ? "\\u0000 (NUL) is not allowed in a record" : err.text;
        return set_error(r, "line %lld: invalid JSON at column %d: %s", ln, err.column, why);
    }
    return take_obj(r, o, text_optional);
}

/* Fill r from a parsed record object (owned from here on); false only on OOM. */
static bool take_obj(rec *r, json_t *o, bool text_optional) {
    r->obj = o;
    if (!json_is_object(o)) return set_error(r, "record is not a JSON object");
    json_t *id = json_object_get(o, "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) && !json_is_integer(id)) return set_error(r, "field \"id\" must be a string or an integer");
        json_decref(r->id);
        r->id = json_incref(id);
    }
    json_t *t = json_object_get(o, "text"), *p = json_object_get(o, "text_pair");
    if (!t && !text_optional) return set_error(r, "missing field \"text\"");
    if (t && !json_is_string(t)) return set_error(r, "field \"text\" must be a string");
    if (p && !json_is_null(p) && !json_is_string(p)) return set_error(r, "field \"text_pair\" must be a string");
    if (t) {
        r->len = json_string_length(t);
        if (!(r->text = dup_bytes(json_string_value(t), r->len))) return false;
    }
    if (p && json_is_string(p)) {
        r->pair_len = json_string_length(p);
        if (!(r->pair = dup_bytes(json_string_value(p), r->pair_len))) return false;
    }
    return true;
}

static bool only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* A line that runs past this without a '\n' ends the run (binary input, /dev/zero): reading it through to an
 * end of line that may never come would hang. */
#define ENDLESS_LINE_BYTES ((int64_t)1 << 30)

/* The next line of s->f into s->buf (its '\n' kept, NUL-terminated; *kept
 * bytes), like getline, but holding at most TASK_MAX_RECORD_BYTES of it (its
 * end of line, "\n" or "\r\n", not counted): a longer line is read through,
 * not kept, and *over set, *content its length without the end of line; one
 * still without an end at ENDLESS_LINE_BYTES stops there with *endless set.
 * Returns the line's whole length, -1 at the end or on a read error. Memory
 * stays bounded whatever the input. */
static ssize_t read_line(task_source *s, bool *over, bool *endless, size_t *kept, int64_t *content) {
    *over = *endless = false;
    size_t n = 0;
    int64_t total = 0;
    int c = EOF, prev = EOF;
    const size_t lim = (s->internal ? INTERNAL_LINE_BYTES : TASK_MAX_RECORD_BYTES) + 2; /* + "\r\n" */
    flockfile(s->f);
    while ((c = getc_unlocked(s->f)) != EOF) {
        total++;
        if (n + 2 > s->cap && !*over) {
            size_t cap = s->cap ? 2 * s->cap : 256;
            if (cap > lim + 1) cap = lim + 1;
            char *b = n + 1 >= lim ? NULL : realloc(s->buf, cap);
            if (!b) {
                *over = true; /* over the limit (or no memory for it): read through to the '\n' */
            } else {
                s->buf = b;
                s->cap = cap;
            }
        }
        if (!*over) s->buf[n++] = (char)c;
        if (c == '\n') break;
        if (*over && total >= ENDLESS_LINE_BYTES) {
            *endless = true;
            break;
        }
        prev = c;
    }
    funlockfile(s->f);
    if (s->buf) s->buf[n] = '\0';
    *kept = n;
    *content = total - (c == '\n') - (c == '\n' && prev == '\r');
    const int64_t max = (int64_t)lim - 2;
    if (*content > max) *over = true;
    return total > 0 ? (ssize_t)total : -1;
}

/* Next record into r (cleared first): 1 got one, 0 end of input, -1 error
 * (IO or OOM, senti_last_error() set). A file source leaves the line in
 * s->buf[0..s->raw_n). */
static int source_read(task_source *s, rec *r, bool text_optional) {
    rec_clear(r);
    if (s->limit >= 0 && s->given >= s->limit) return 0;
    s->given++; /* an error return ends the run, so counting it early is harmless */
    if (s->next_rec) {
        json_t *o = NULL;
        char *err = NULL;
        int got = s->next_rec(s->rd_ctx, &o, &err);
        if (got <= 0) return got;
        r->id = json_integer(s->line++);
        bool ok = r->id != NULL;
        if (ok && err) { /* a malformed record: its id (when the reader knows it) and the message */
            json_t *id = json_object_get(o, "id");
            if (id && !json_is_null(id)) json_decref(r->id), r->id = json_incref(id);
            json_decref(o);
            ok = set_error(r, "%s", err);
        } else if (ok) {
            ok = take_obj(r, o, text_optional);
        } else {
            json_decref(o);
        }
        free(err);
        if (!ok) goto oom;
    } else if (s->texts) {
        if (s->next >= s->n) return 0;
        const char *t = s->texts[s->next];
        r->id = json_integer(s->next++);
        r->len = strlen(t);
        if (!r->id || !(r->text = dup_bytes(t, r->len))) goto oom;
    } else {
        ssize_t got;
        for (;;) {
            if (s->left == 0) return 0; /* the end of the range */
            errno = 0;
            bool over, endless;
            size_t kept;
            int64_t content;
            got = read_line(s, &over, &endless, &kept, &content);
            if (endless) {
                senti_error(SENTI_ERR_BAD_FILE, "%s: line %lld runs past %lld MiB without an end of line: is it a "
                            "text file?", s->name, (long long)s->line + 1, (long long)(ENDLESS_LINE_BYTES >> 20));
                return -1;
            }
            if (got < 0) {
                if (ferror(s->f)) {
                    senti_error(SENTI_ERR_IO, "%s: read failed at line %lld: %s", s->name, (long long)s->line + 1,
                                strerror(errno));
                    return -1;
                }
                return 0;
            }
            s->line++;
            if (s->left > 0) s->left = got < s->left ? s->left - got : 0; /* ranges end at a line's end */
            if (over) {
                s->raw_n = kept;
                r->id = json_integer(s->line - 1);
                if (!r->id || !set_error(r, "line %lld holds %lld bytes, more than the %d MiB (%d bytes) a record may "
                                         "hold", (long long)s->line, (long long)content, TASK_MAX_RECORD_BYTES >> 20,
                                         TASK_MAX_RECORD_BYTES))
                    goto oom;
                break;
            }
            size_t n = (size_t)got;
            while (n > 0 && (s->buf[n - 1] == '\n' || s->buf[n - 1] == '\r')) n--;
            if (s->line == 1 && n >= 3 && memcmp(s->buf, "\xef\xbb\xbf", 3) == 0) { /* the file's UTF-8 BOM */
                memmove(s->buf, s->buf + 3, n - 3);
                n -= 3;
            }
            if (only_space(s->buf, n)) continue;
            if (s->jsonl < 0) {
                size_t i = 0;
                while (i < n && (s->buf[i] == ' ' || s->buf[i] == '\t')) i++;
                s->jsonl = s->buf[i] == '{';
            }
            r->id = json_integer(s->line - 1);
            if (!r->id) goto oom;
            s->raw_n = n;
            if (s->jsonl) {
                if (!parse_jsonl(r, s->buf, n, text_optional, s->internal)) goto oom;
            } else {
                r->len = n;
                if (!(r->text = dup_bytes(s->buf, n))) goto oom;
            }
            break;
        }
    }
    if (!r->error && r->text) {
        int64_t at = senti_utf8_invalid_at(r->text, r->len);
        if (at >= 0 && !set_error(r, "invalid UTF-8 at byte %lld", (long long)at)) goto oom;
        at = r->pair ? senti_utf8_invalid_at(r->pair, r->pair_len) : -1;
        if (!r->error && at >= 0 && !set_error(r, "invalid UTF-8 in text_pair at byte %lld", (long long)at))
            goto oom;
    }
    return 1;
oom:
    senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory reading a record");
    return -1;
}

/* Fold r (its id, then the raw line, the reader's object or the text) into s->hash. */
static bool hash_record(task_source *s, const rec *r) {
    uint64_t h = s->hash;
    if (json_is_integer(r->id)) {
        json_int_t v = json_integer_value(r->id);
        h = task_hash_bytes(h, "i", 1);
        h = task_hash_bytes(h, &v, sizeof v);
    } else if (json_is_string(r->id)) {
        h = task_hash_bytes(h, "s", 1);
        h = task_hash_bytes(h, json_string_value(r->id), json_string_length(r->id));
    }
    if (s->f) {
        h = task_hash_bytes(h, s->buf, s->raw_n);
    } else if (r->obj) {
        char *d = json_dumps(r->obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!d) return false;
        h = task_hash_bytes(h, d, strlen(d));
        free(d);
    } else {
        if (r->text) h = task_hash_bytes(h, r->text, r->len);
        if (r->error) h = task_hash_bytes(h, r->error, strlen(r->error));
    }
    s->hash = task_hash_bytes(h, "\n", 1);
    return true;
}

/* source_read, plus the running hash and the resume check (task_source_expect). */
static int source_next(task_source *s, rec *r, bool text_optional) {
    int got = source_read(s, r, text_optional);
    if (got == 0 && s->count < s->expect_n) {
        senti_error(SENTI_ERR_INVALID_ARG,
                    "--resume: %s has %lld records but the output already answers %lld (of %s): another input?",
                    s->name, (long long)s->count, (long long)s->expect_n, s->expect_name ? s->expect_name : "?");
        return -1;
    }
    if (got <= 0) return got;
    if (!hash_record(s, r)) {
        senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory reading a record");
        return -1;
    }
    if (++s->count == s->expect_n && s->hash != s->expect_hash) {
        senti_error(SENTI_ERR_INVALID_ARG,
                    "--resume: the first %lld records of %s differ from those the output answers (of %s): "
                    "another input? rerun without --resume to start over",
                    (long long)s->expect_n, s->name, s->expect_name ? s->expect_name : "?");
        return -1;
    }
    return 1;
}

int task_source_read(task_source *s, task_record *r) { return source_next(s, r, false); }

void task_record_clear(task_record *r) { rec_clear(r); }

/* ---- the runner ------------------------------------------------------------ */

task_runner_opts task_runner_opts_defaults(void) {
    return (task_runner_opts){.batch_size = 32, .max_batch_tokens = 8192, .window = 1024};
}

/* Fraction of the source read so far, or -1 when unknown. */
static double source_fraction(const task_source *s) {
    if (s->texts) return s->n ? (double)s->next / (double)s->n : 1.0;
    long pos = s->size > 0 ? ftell(s->f) : -1;
    return pos >= 0 ? (double)pos / (double)s->size : -1.0;
}

static void print_progress(FILE *f, const task_source *src, const task_stats *st, double elapsed) {
    double rate = elapsed > 0 ? (double)st->records / elapsed : 0.0;
    double trate = elapsed > 0 ? (double)st->tokens / elapsed : 0.0;
    double frac = source_fraction(src);
    fprintf(f, "\rsenti: %lld records, %.1f records/s, %.0f tokens/s", (long long)st->records, rate, trate);
    if (frac > 0) fprintf(f, ", %.0f%%, ETA %.0f s  ", 100.0 * frac, elapsed * (1.0 - frac) / frac);
    fflush(f);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Where cut k starts it's context: turns[k] - turns_base, at most the context's length (a cut past its end
 * drops all of it). */
static size_t turn_at(const task_item *it, int64_t k) {
    const size_t off = it->turns[k] - it->turns_base, n = it->turns_in_pair ? it->pair_len : it->len;
    return off < n ? off : n;
}

/* it encoded with its context cut at turns[k] (the context's first turns dropped). */
static senti_status encode_from(const task_item *it, const senti_tokenizer *tok, const senti_encode_opts *eo,
                                int64_t k, senti_encoding **e) {
    const size_t off = turn_at(it, k);
    const char *t = it->turns_in_pair ? it->text : it->text + off, *p = it->turns_in_pair ? it->pair + off : it->pair;
    const size_t tl = it->turns_in_pair ? it->len : it->len - off;
    const size_t pl = it->turns_in_pair ? it->pair_len - off : it->pair_len;
    *e = NULL;
    return senti_tokenizer_encode(tok, t, tl, p && pl ? p : NULL, pl, eo, e);
}

/* A context of more bytes than this many per token of max_len is not
 * encoded whole first: its newest turns are (see item_encode). Speed only:
 * the turns kept are the same either way. */
#define CONTEXT_BYTES_PER_TOKEN 16

/* Encode it whole; when longer than max_len: with windows allowed keep it
 * whole (the caller splits it), else cut the context's oldest turns, then
 * truncate with it->cut, then longest-first. */
static senti_status item_encode(task_item *it, const senti_tokenizer *tok, int64_t max_len, bool windows) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_status st;
    /* the whole context first, unless it is long: then it is found not to fit from its newest turns on */
    const bool whole = it->n_turns == 0 || turn_at(it, it->n_turns - 1) <= (size_t)max_len * CONTEXT_BYTES_PER_TOKEN;
    if (whole) {
        st = senti_tokenizer_encode(tok, it->text, it->len, it->pair, it->pair_len, &eo, &it->enc);
        if (st != SENTI_OK || senti_encoding_len(it->enc) <= max_len || (windows && it->n_turns == 0)) return st;
    }
    /* drop the oldest context turns first: the fewest cut (the smallest k, the context from turns[k]; k = -1:
     * all of it) that fits. Fewer turns never take more tokens, so from the newest turn the context doubles
     * while it fits, then the last doubling is bisected: encodings of about the kept context's size, a few
     * per doubling, however many turns --context gives; with windows and no k fitting, the shortest
     * context, windowed */
    if (it->n_turns > 0) {
        int64_t k = it->n_turns - 1, bad = whole ? -1 : -2; /* bad: the largest k known not to fit */
        senti_encoding *best = NULL, *e = NULL;
        if ((st = encode_from(it, tok, &eo, k, &best)) != SENTI_OK) return st;
        if (senti_encoding_len(best) > max_len) { /* not even the shortest context fits */
            if (!windows) senti_encoding_free(best), best = NULL; /* truncate below */
            bad = k;
        }
        for (int64_t step = 1; bad < k - 1; step *= 2) {
            const int64_t mid = k - step > bad + 1 && step < INT64_MAX / 2 ? k - step : bad + 1;
            st = mid < 0 ? senti_tokenizer_encode(tok, it->text, it->len, it->pair, it->pair_len, &eo, &e)
                         : encode_from(it, tok, &eo, mid, &e);
            if (st != SENTI_OK) {
                senti_encoding_free(best);
                return st;
            }
            if (senti_encoding_len(e) > max_len) {
                senti_encoding_free(e);
                bad = mid;
                break;
            }
            senti_encoding_free(best), best = e, k = mid;
        }
        if (k < 0) { /* all of it fits (a long context of few tokens) */
            it->enc = best;
            return SENTI_OK;
        }
        for (int64_t lo = bad + 1, hi = k - 1; lo <= hi;) {
            const int64_t mid = lo + (hi - lo) / 2;
            if ((st = encode_from(it, tok, &eo, mid, &e)) != SENTI_OK) {
                senti_encoding_free(best);
                return st;
            }
            if (senti_encoding_len(e) <= max_len) senti_encoding_free(best), best = e, k = mid, hi = mid - 1;
            else senti_encoding_free(e), lo = mid + 1;
        }
        it->truncated = true;
        if (best) { /* keep what runs: offsets refer to it */
            const size_t off = turn_at(it, k);
            char **ctx = it->turns_in_pair ? &it->pair : &it->text;
            size_t *n = it->turns_in_pair ? &it->pair_len : &it->len;
            *n -= off;
            if (it->borrowed) { /* the record's buffer: look at less of it */
                *ctx += off;
            } else {
                memmove(*ctx, *ctx + off, *n);
                (*ctx)[*n] = '\0';
            }
            senti_encoding_free(it->enc);
            it->enc = best;
            return SENTI_OK;
        }
    }
    it->truncated = true;
    senti_truncation cuts[2] = {it->cut, SENTI_TRUNCATE_LONGEST_FIRST};
    for (int k = 0; k < 2; k++) {
        senti_encoding_free(it->enc);
        it->enc = NULL;
        eo.truncation = cuts[k];
        eo.max_length = max_len;
        st = senti_tokenizer_encode(tok, it->text, it->len, it->pair, it->pair_len, &eo, &it->enc);
        if (st == SENTI_OK && senti_encoding_len(it->enc) <= max_len) return st;
        if (st == SENTI_ERR_NO_MEMORY) return st;
    }
    return st == SENTI_OK ? senti_error(SENTI_ERR_INVALID_ARG, "cannot truncate to %lld tokens", (long long)max_len) : st;
}

/* Cut it's encoding into segs: one holding it all, or (windows) overlapping
 * windows of at most max_len tokens over the first sequence's content, each
 * with the encoding's leading and trailing special tokens; for a pair, the
 * whole tail from the first special token after the first sequence (its
 * second sequence with its specials: an aspect or a dialogue context rides
 * along in every window). false on OOM, or with *bad set when the stride leaves no
 * room. */
static bool item_segs(task_item *it, int64_t max_len, int64_t stride, const char **bad) {
    int64_t n = senti_encoding_len(it->enc);
    const int32_t *ids = senti_encoding_ids(it->enc), *tt = senti_encoding_type_ids(it->enc);
    const uint8_t *sp = senti_encoding_special_mask(it->enc);
    if (n <= max_len) {
        if (!(it->segs = calloc(1, sizeof *it->segs))) return false;
        it->n_segs = 1;
        it->segs[0] = (task_seg){.item = it, .ids = ids, .types = tt, .len = n};
        return true;
    }
    int64_t lead = 0, trail = 0;
    while (lead < n && sp && sp[lead]) lead++;
    if (sp && it->pair) { /* a pair's tail: from the first special token after the first sequence */
        int64_t t = lead;
        while (t < n && !sp[t]) t++;
        trail = n - t;
    }
    while (!it->pair && trail < n - lead && sp && sp[n - 1 - trail]) trail++;
    int64_t inner = n - lead - trail, w = max_len - lead - trail;
    if (w < 1 || stride >= w) {
        *bad = "--stride leaves no room: it must be below the model's max length minus the special tokens";
        return true;
    }
    int64_t step = w - stride, nw = inner <= w ? 1 : 1 + (inner - w + step - 1) / step;
    if (nw > RECORD_WINDOW_TOKENS / (lead + w + trail)) {
        *bad = "--stride would run this input as more than 16,777,216 window tokens (each token in about w / "
               "(w - stride) windows, w the window's content): use a smaller --stride";
        return true;
    }
    if (!(it->segs = calloc((size_t)nw, sizeof *it->segs))) return false;
    for (int64_t k = 0; k < nw; k++) {
        int64_t s0 = k * step, len = inner - s0 < w ? inner - s0 : w, L = lead + len + trail;
        int32_t *o = malloc((size_t)(2 * L) * sizeof *o);
        if (!o) return false;
        for (int64_t t = 0; t < L; t++) {
            int64_t src = t < lead ? t : t < lead + len ? lead + s0 + (t - lead) : n - trail + (t - lead - len);
            o[t] = ids[src];
            o[L + t] = tt ? tt[src] : 0;
        }
        it->segs[k] = (task_seg){.item = it, .ids = o, .types = o + L, .own = o, .len = L, .start = lead + s0,
                                 .n_lead = lead, .n_content = len};
        it->n_segs = k + 1;
    }
    return true;
}

static const float *seg_out(const task_seg *g, const void *ctx) {
    (void)ctx;
    return g->out;
}

float *task_item_token_logits(const task_item *it, int64_t *n_out) {
    *n_out = it->segs[0].n_out;
    return task_item_token_rows(it, *n_out, seg_out, NULL);
}

float *task_item_token_rows(const task_item *it, int64_t L, const float *(*src)(const task_seg *g, const void *ctx),
                            const void *ctx) {
    int64_t n = senti_encoding_len(it->enc);
    float *o = malloc((size_t)(n * L > 0 ? n * L : 1) * sizeof *o);
    if (!o) return NULL;
    const task_seg *f = &it->segs[0], *l = &it->segs[it->n_segs - 1];
    if (it->n_segs == 1 && f->len == n) {
        memcpy(o, src(f, ctx), (size_t)(n * L) * sizeof *o);
        return o;
    }
    int64_t lead = f->n_lead, trail = f->len - lead - f->n_content;
    for (int64_t t = 0; t < n; t++) {
        const task_seg *g = t < lead ? f : l;
        int64_t row = t < lead ? t : l->len - (n - t);
        if (t >= lead && t < n - trail) { /* content: the window where t is farthest from an edge */
            int64_t bd = -1;
            for (int64_t k = 0; k < it->n_segs; k++) {
                const task_seg *c = &it->segs[k];
                if (t < c->start || t >= c->start + c->n_content) continue;
                int64_t a = t - c->start, b = c->start + c->n_content - 1 - t, d = a < b ? a : b;
                if (d > bd) bd = d, g = c, row = c->n_lead + (t - c->start);
            }
        }
        memcpy(o + t * L, src(g, ctx) + row * L, (size_t)L * sizeof *o);
    }
    return o;
}

void task_item_aggregate_rows(const task_item *it, int64_t L, const float *(*src)(const task_seg *g, const void *ctx),
                              const void *ctx, task_aggregate agg, float *out) {
    const int64_t n = agg == TASK_AGGREGATE_FIRST ? 1 : it->n_segs;
    for (int64_t l = 0; l < L; l++) {
        double a = src(&it->segs[0], ctx)[l]; /* windows in order: never depends on the batching */
        for (int64_t k = 1; k < n; k++) {
            const double v = src(&it->segs[k], ctx)[l];
            a = agg == TASK_AGGREGATE_MAX ? (v > a ? v : a) : a + v;
        }
        out[l] = (float)(agg == TASK_AGGREGATE_MEAN ? a / (double)n : a);
    }
}

void task_item_aggregate(task_item *it, task_aggregate agg) {
    if (it->n_segs < 2 || agg == TASK_AGGREGATE_FIRST) return;
    task_item_aggregate_rows(it, it->segs[0].n_out, seg_out, NULL, agg, it->segs[0].out); /* row 0 read first */
}

typedef struct run_ctx {
    senti_model *m;
    const task_ops *ops;
    void *dctx;
    int32_t *ids, *types, *mask; /* cap tokens each */
    int64_t cap;
    bool use_types, token_head;
    int64_t pad;
    const task_source *src; /* (its name in --strict's error) */
} run_ctx;

/* Each seg's rows of the extra heads' batch outputs xb [nx] into its xout. */
static senti_status split_heads(const senti_model *m, task_seg **b, int64_t nb, int64_t T, float *const *xb,
                                int64_t nx) {
    for (int64_t i = 0; i < nb; i++) {
        int64_t n = 0;
        for (int64_t k = 0; k < nx; k++) {
            senti_head_info h;
            senti_model_extra_head(m, k, &h);
            n += h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION ? b[i]->len * h.num_labels : h.num_labels;
        }
        if (!(b[i]->xout = malloc((size_t)(n > 0 ? n : 1) * sizeof *b[i]->xout)))
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
        float *o = b[i]->xout;
        for (int64_t k = 0; k < nx; k++) {
            senti_head_info h;
            senti_model_extra_head(m, k, &h);
            const bool tok = h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION;
            const int64_t rows = tok ? b[i]->len : 1, stride = (tok ? T : 1) * h.num_labels;
            memcpy(o, xb[k] + i * stride, (size_t)(rows * h.num_labels) * sizeof *o);
            o += rows * h.num_labels;
        }
    }
    return SENTI_OK;
}

/* Whether every token id of e is below the model's vocabulary size and every
 * type id below its type vocabulary; else *why ("id" / "type id"), the token
 * index *at and its value *id. */
static bool ids_fit(const run_ctx *c, const senti_encoding *e, const char **why, int64_t *at, int64_t *id) {
    const int64_t n = senti_encoding_len(e), V = senti_model_vocab_size(c->m), TV = senti_model_type_vocab_size(c->m);
    const int32_t *ids = senti_encoding_ids(e), *tt = senti_encoding_type_ids(e);
    for (int64_t t = 0; t < n; t++) {
        if (ids[t] < 0 || ids[t] >= V) {
            *why = "id", *at = t, *id = ids[t];
            return false;
        }
        if (c->use_types && tt && (tt[t] < 0 || tt[t] >= TV)) {
            *why = "type id", *at = t, *id = tt[t];
            return false;
        }
    }
    return true;
}

/* Whether every logit of r's model inputs is finite. */
static bool rec_finite(const rec *r) {
    for (int64_t k = 0; k < r->n_items; k++)
        for (int64_t q = 0; q < r->items[k].n_segs; q++)
            if (r->items[k].segs[q].nonfinite) return false;
    return true;
}

/* Run one batch of segs and copy each one's logits into it. */
static senti_status run_batch(run_ctx *c, task_seg **b, int64_t nb, task_stats *st) {
    int64_t T = 0;
    for (int64_t i = 0; i < nb; i++) T = b[i]->len > T ? b[i]->len : T;
    if (nb * T > c->cap) { /* a budget above the preallocated one cannot happen; guard anyway */
        size_t n = (size_t)(nb * T);
        int32_t *a = realloc(c->ids, n * sizeof *a), *t = a ? realloc(c->types, n * sizeof *t) : NULL,
                *mk = t ? realloc(c->mask, n * sizeof *mk) : NULL;
        if (a) c->ids = a;
        if (t) c->types = t;
        if (mk) c->mask = mk;
        if (!a || !t || !mk) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
        c->cap = nb * T;
    }
    for (int64_t i = 0; i < nb; i++) {
        int64_t n = b[i]->len;
        for (int64_t t = 0; t < T; t++) {
            c->ids[i * T + t] = t < n ? b[i]->ids[t] : (int32_t)c->pad;
            c->types[i * T + t] = t < n && b[i]->types ? b[i]->types[t] : 0;
            c->mask[i * T + t] = t < n;
        }
        st->tokens += n;
    }
    st->padded_tokens += nb * T;
    st->batches++;
    st->units += nb;
    float *out = NULL;
    int64_t shape[3];
    int ndim = 0;
    float *xb[64] = {0}; /* the extra heads' batch outputs */
    const int64_t nx = c->ops->heads ? senti_model_extra_heads(c->m) : 0;
    senti_status s = SENTI_OK;
    for (int64_t k = 0; k < nx && s == SENTI_OK; k++) {
        senti_head_info h;
        senti_model_extra_head(c->m, k, &h);
        const int64_t per = h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION ? T * h.num_labels : h.num_labels;
        if (!(xb[k] = malloc((size_t)(nb * per) * sizeof *xb[k])))
            s = senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
    }
    senti_forward_opts fo = {.heads = nx ? xb : NULL};
    if (s == SENTI_OK)
        s = senti_model_forward_opts(c->m, c->ids, c->use_types ? c->types : NULL, c->mask, nb, T, &fo, &out, shape,
                                     &ndim);
    if (s == SENTI_OK && nx) s = split_heads(c->m, b, nb, T, xb, nx);
    for (int64_t k = 0; k < nx; k++) free(xb[k]);
    if (s != SENTI_OK) {
        senti_model_output_free(out);
        return s;
    }
    if (ndim != (c->token_head ? 3 : 2) || shape[0] != nb || (c->token_head && shape[1] != T)) {
        senti_model_output_free(out);
        return senti_error(SENTI_ERR_UNSUPPORTED, "task runner: unexpected model output shape");
    }
    int64_t L = shape[ndim - 1], row = c->token_head ? T * L : L;
    for (int64_t i = 0; i < nb; i++) {
        int64_t n = c->token_head ? b[i]->len * L : L;
        if (!(b[i]->out = malloc((size_t)n * sizeof *b[i]->out))) {
            senti_model_output_free(out);
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
        }
        memcpy(b[i]->out, out + i * row, (size_t)n * sizeof *out);
        b[i]->n_out = L;
        for (int64_t j = 0; j < n && !b[i]->nonfinite; j++) b[i]->nonfinite = !isfinite(b[i]->out[j]);
    }
    senti_model_output_free(out);
    return SENTI_OK;
}

static int cmp_len(const void *a, const void *b) {
    const task_seg *x = *(task_seg *const *)a, *y = *(task_seg *const *)b;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord; /* input order within a length: batches are reproducible */
}

/* Write r's line: {"id", the result's fields, "windows":k (with --stride: the
 * most windows one of its inputs ran as), "truncated":true (an input was
 * cut)} or {"id","error"}. */
static senti_status write_rec(FILE *out, const char *name, const rec *r, bool windows) {
    json_t *o = json_object();
    if (!o) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory writing a result");
    json_object_set(o, "id", r->id);
    if (r->error) json_object_set_new(o, "error", json_string(r->error));
    else json_object_update(o, r->result);
    int64_t nw = 0;
    bool cut = false;
    for (int64_t j = 0; !r->error && j < r->n_items; j++) {
        nw = r->items[j].n_segs > nw ? r->items[j].n_segs : nw;
        cut |= r->items[j].truncated;
    }
    if (!r->error && windows) json_object_set_new(o, "windows", json_integer(nw));
    if (!r->error && cut) json_object_set_new(o, "truncated", json_true());
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!s) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory writing a result");
    int bad = fputs(s, out) < 0 || fputc('\n', out) == EOF;
    free(s);
    if (bad) return senti_error(SENTI_ERR_IO, "task runner: writing %s failed: %s", name ? name : "the output",
                               strerror(errno));
    return SENTI_OK;
}

/* Grow a pointer array to hold n entries. */
static bool grow(void *pp, int64_t *cap, int64_t n, size_t elem) {
    if (n <= *cap) return true;
    int64_t c = *cap ? *cap : 256;
    while (c < n) c *= 2;
    void *v = realloc(*(void **)pp, (size_t)c * elem);
    if (!v) return false;
    *(void **)pp = v;
    *cap = c;
    return true;
}

typedef struct window_bufs {
    task_item **items;
    senti_status *ist;
    int64_t cap_items;
    task_seg **segs;
    int64_t cap_segs;
    int64_t *cuts; /* batch b is sorted[cuts[b] .. cuts[b + 1]) */
    int64_t cap_cuts;
} window_bufs;

/* Expand, tokenize, batch, run, decode and write the n records of one
 * window. With strict, the window is cut at its first bad record, which is
 * reported. */
static senti_status run_window(run_ctx *c, const senti_tokenizer *tok, rec *w, int64_t n, const task_runner_opts *o,
                               FILE *out, task_stats *st, window_bufs *wb) {
    const task_ops *ops = c->ops;
    int64_t max_len = senti_model_max_length(c->m);
    if (ops->max_length > 0 && ops->max_length < max_len) max_len = ops->max_length;
    bool windows = ops->stride > 0;
    double t0 = now_s();
    int64_t ni = 0;
    for (int64_t i = 0; i < n; i++) {
        if (w[i].error) continue;
        if (ops->expand ? !ops->expand(c->dctx, &w[i])
                        : (w[i].text && !task_record_add(&w[i], w[i].text, w[i].len, w[i].pair, w[i].pair_len)))
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory expanding a record");
        if (!w[i].error && w[i].n_items == 0 && !ops->allow_empty && !set_error(&w[i], "nothing to run"))
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
        if (w[i].error || w[i].n_items == 0) continue; /* (allow_empty: nothing to run, decoded all the same) */
        if (!grow(&wb->items, &wb->cap_items, ni + w[i].n_items, sizeof *wb->items) ||
            !(wb->ist = realloc(wb->ist, (size_t)wb->cap_items * sizeof *wb->ist)))
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
        for (int64_t k = 0; k < w[i].n_items; k++) wb->items[ni++] = &w[i].items[k];
    }
    double t1 = now_s();
    st->t_read += t1 - t0;
    int nt = o->n_threads > 0 ? o->n_threads : omp_get_max_threads();
    task_item **items = wb->items;
    senti_status *ist = wb->ist;
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int64_t i = 0; i < ni; i++) {
        ist[i] = item_encode(items[i], tok, max_len, windows);
        /* the message is thread-local: copy it here, on the thread that set it */
        if (ist[i] != SENTI_OK && ist[i] != SENTI_ERR_NO_MEMORY) items[i]->err = strdup(senti_last_error());
    }
    st->t_tokenize += now_s() - t1;
    ni = 0;
    int64_t ns = 0;
    for (int64_t i = 0; i < n; i++) {
        if (w[i].error) continue;
        bool cut = false, win = false;
        for (int64_t k = 0; k < w[i].n_items; k++, ni++) {
            task_item *it = &w[i].items[k];
            if (ist[ni] == SENTI_ERR_NO_MEMORY) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory tokenizing");
            if (ist[ni] != SENTI_OK) {
                if (!it->err) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory tokenizing");
                if (!w[i].error && !set_error(&w[i], "tokenizer: %s", it->err))
                    return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
                continue;
            }
            const char *why = NULL;
            int64_t at = -1, id = 0;
            if (!w[i].error && !ids_fit(c, it->enc, &why, &at, &id)) {
                if (!set_error(&w[i], "token %lld has %s %lld, outside the model's vocabulary of %lld: is the tokenizer the model's?",
                               (long long)at, why, (long long)id,
                               (long long)(strcmp(why, "id") == 0 ? senti_model_vocab_size(c->m)
                                                                  : senti_model_type_vocab_size(c->m))))
                    return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
                continue;
            }
            const char *bad = NULL;
            if (!item_segs(it, max_len, ops->stride, &bad)) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
            if (bad && !w[i].error && !set_error(&w[i], "%s", bad)) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
            if (it->truncated && ops->no_truncate && !w[i].error &&
                !set_error(&w[i], "the input is longer than the model's %lld tokens (--stride N runs it as windows)",
                           (long long)max_len))
                return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
            cut |= it->truncated;
            win |= it->n_segs > 1;
            ns += it->n_segs;
        }
        if (!w[i].error) {
            st->truncated += cut;
            st->windowed += win;
        }
    }
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (w[i].error && o->strict) bad = i;
    int64_t use = bad >= 0 ? bad : n, k = 0;
    if (!grow(&wb->segs, &wb->cap_segs, ns, sizeof *wb->segs))
        return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
    for (int64_t i = 0; i < use; i++) {
        if (w[i].error) {
            st->errors++;
            continue;
        }
        for (int64_t j = 0; j < w[i].n_items; j++)
            for (int64_t q = 0; q < w[i].items[j].n_segs; q++) {
                w[i].items[j].segs[q].ord = k;
                wb->segs[k++] = &w[i].items[j].segs[q];
            }
    }
    task_seg **sorted = wb->segs;
    if (!o->no_sort && k > 1) qsort(sorted, (size_t)k, sizeof *sorted, cmp_len);
    double t2 = now_s();
    if (!grow(&wb->cuts, &wb->cap_cuts, k + 1, sizeof *wb->cuts))
        return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
    int64_t nb = 0;
    for (int64_t i = 0; i < k;) {
        int64_t j = i + 1, T = sorted[i]->len;
        /* the batch's padded length is its longest input's (the last one when sorted) */
        while (j < k && j - i < o->batch_size &&
               (j - i + 1) * (sorted[j]->len > T ? sorted[j]->len : T) <= o->max_batch_tokens) {
            T = sorted[j]->len > T ? sorted[j]->len : T;
            j++;
        }
        wb->cuts[nb++] = i;
        i = j;
    }
    wb->cuts[nb] = k;
    /* Sorted batches run longest first: the backend's arena and scratch grow
     * to the window's largest batch once, not at every batch (ascending, each
     * batch reallocated them and touched fresh pages: 82,000 page faults in
     * 32 MiniLM batches). A record's bytes do not depend on its batch or on
     * the order batches run (the batch-invariance contract); the cuts are
     * the ascending ones, so the batches are the same. */
    for (int64_t b = 0; b < nb; b++) {
        const int64_t x = o->no_sort ? b : nb - 1 - b;
        senti_status s = run_batch(c, sorted + wb->cuts[x], wb->cuts[x + 1] - wb->cuts[x], st);
        if (s != SENTI_OK) return s;
    }
    double t3 = now_s();
    st->t_model += t3 - t2;
    for (int64_t i = 0; i < use; i++) {
        if (!w[i].error && !rec_finite(&w[i])) {
            if (!set_error(&w[i], "non-finite logits")) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory");
            if (o->strict) { /* --strict stops at it as at a bad input (below) */
                bad = i;
                break;
            }
            st->errors++;
        }
        if (!c->token_head)
            for (int64_t j = 0; !w[i].error && j < w[i].n_items; j++) task_item_aggregate(&w[i].items[j], ops->aggregate);
        if (!w[i].error && !(w[i].result = ops->decode(c->dctx, &w[i])))
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory decoding a result");
        senti_status s = write_rec(out, o->out_name, &w[i], windows);
        if (s != SENTI_OK) return s;
    }
    st->t_output += now_s() - t3;
    if (bad >= 0) { /* --strict: the run ends here; the records after it were read but not answered */
        st->errors++;
        st->records -= n - bad - 1;
        return task_strict_error(c->src, w[bad].id, w[bad].error);
    }
    return SENTI_OK;
}

senti_status task_run_ops(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                          const task_runner_opts *opts, const task_ops *ops, void *dctx, task_stats *stats) {
    task_runner_opts o = opts ? *opts : task_runner_opts_defaults();
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!m || !tok || !src || !out || !ops || !ops->decode)
        return senti_error(SENTI_ERR_INVALID_ARG, "task_run: NULL argument");
    if (o.batch_size < 1 || o.max_batch_tokens < 1 || o.window < 1 || ops->stride < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "task_run: batch size, token budget and window must be >= 1");
    if (senti_model_get_head(m) != ops->head || (ops->head != SENTI_HEAD_BASE && senti_model_num_labels(m) < 1))
        return senti_error(SENTI_ERR_UNSUPPORTED, "task_run: the model (%s) is not a %s", senti_model_architecture(m),
                           ops->head == SENTI_HEAD_TOKEN_CLASSIFICATION ? "token classifier with labels"
                           : ops->head == SENTI_HEAD_BASE               ? "base encoder (*Model)"
                                                                        : "sequence classifier with labels");
    double t0 = now_s();
    int64_t max_len = senti_model_max_length(m);
    if (ops->max_length > 0 && ops->max_length < max_len) max_len = ops->max_length;
    /* per-token outputs: token classifiers' logits, base encoders' hidden states */
    run_ctx c = {.m = m, .ops = ops, .dctx = dctx, .use_types = senti_model_type_vocab_size(m) > 0,
                 .token_head = ops->head != SENTI_HEAD_SEQUENCE_CLASSIFICATION, .pad = senti_model_pad_token_id(m),
                 .src = src};
    if (c.pad < 0 || c.pad >= senti_model_vocab_size(m)) c.pad = 0;
    senti_status s = SENTI_OK;
    /* the window grows as records come (no preallocation sized by --window) and
     * ends early once its records pass WINDOW_BYTES, so memory follows the data */
    int64_t cap_w = o.window < 256 ? o.window : 256;
    size_t rep = 1; /* what a text byte costs: 1, or with --stride the windows a token runs in */
    if (ops->stride > 0) { /* a token in up to w / (w - stride) windows, w at most max_len - 2 (two specials) */
        const int64_t wmax = max_len - 2 > 1 ? max_len - 2 : 1;
        rep = (size_t)(ops->stride < wmax ? (wmax + (wmax - ops->stride) - 1) / (wmax - ops->stride) : wmax);
    }
    rec *w = calloc((size_t)cap_w, sizeof *w);
    window_bufs wb = {0};
    /* a batch holds at most batch_size rows and max_batch_tokens tokens, except
     * one input over the budget, which runs alone */
    int64_t cap_tok = o.max_batch_tokens > max_len ? o.max_batch_tokens : max_len;
    if (o.batch_size <= cap_tok / max_len) cap_tok = o.batch_size * max_len;
    c.cap = cap_tok;
    size_t nb = (size_t)cap_tok;
    c.ids = malloc(nb * sizeof *c.ids);
    c.types = malloc(nb * sizeof *c.types);
    c.mask = malloc(nb * sizeof *c.mask);
    if (!w || !c.ids || !c.types || !c.mask) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "task_run: out of memory");
        goto done;
    }
    for (rec skip = {0}; st->skipped < o.skip;) {
        int got = source_next(src, &skip, ops->text_optional);
        rec_clear(&skip);
        if (got < 0) {
            s = SENTI_ERR_IO;
            st->skipped = 0; /* nothing was resumed */
            goto done;
        }
        if (got == 0) break;
        st->skipped++;
    }
    char read_err[4352] = ""; /* a read failure's message, raised once the records before it are written */
    for (bool eof = false; !eof && s == SENTI_OK;) {
        int64_t n = 0;
        size_t bytes = 0;
        double tr = now_s();
        while (n < o.window && bytes * rep + (size_t)n * RECORD_BYTES < WINDOW_BYTES) {
            if (n == cap_w) {
                int64_t nc = cap_w * 2 < o.window ? cap_w * 2 : o.window;
                rec *v = realloc(w, (size_t)nc * sizeof *v);
                if (!v) {
                    s = senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory growing the window");
                    break;
                }
                memset(v + cap_w, 0, (size_t)(nc - cap_w) * sizeof *v);
                w = v;
                cap_w = nc;
            }
            int got = source_next(src, &w[n], ops->text_optional);
            if (got < 0) { /* the records read before it still run and are written; then the run fails */
                snprintf(read_err, sizeof read_err, "%s", senti_last_error());
                eof = true;
                break;
            }
            if (got == 0) {
                eof = true;
                break;
            }
            bytes += w[n].len + w[n].pair_len + (src->f ? src->raw_n : 0);
            n++;
            if (o.strict && w[n - 1].error) break; /* nothing after it is read */
        }
        st->t_read += now_s() - tr;
        st->records += n;
        if (s == SENTI_OK && n > 0) s = run_window(&c, tok, w, n, &o, out, st, &wb);
        for (int64_t i = 0; i < n; i++) rec_clear(&w[i]);
        if (s == SENTI_OK && n > 0) s = task_batch_written(out, &o, st->skipped + st->records);
        if (o.progress && n > 0) print_progress(o.progress, src, st, now_s() - t0);
    }
    if (s == SENTI_OK && read_err[0]) s = senti_error(SENTI_ERR_IO, "%s", read_err);
done:
    if (o.progress && st->records > 0) fputc('\n', o.progress);
    if (w)
        for (int64_t i = 0; i < cap_w; i++) rec_clear(&w[i]);
    free(w);
    free(wb.items);
    free(wb.ist);
    free(wb.segs);
    free(wb.cuts);
    free(c.ids);
    free(c.types);
    free(c.mask);
    st->seconds = now_s() - t0;
    return s;
}

/* task_run: one item per record, decoded from its one row of logits. */
typedef struct row_ctx {
    task_decode_fn decode;
    void *ctx;
} row_ctx;

static json_t *row_decode(void *ctx, rec *r) {
    const row_ctx *rc = ctx;
    const task_seg *g = &r->items[0].segs[0];
    return rc->decode(rc->ctx, g->out, g->n_out);
}

senti_status task_run(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                      const task_runner_opts *o, task_decode_fn decode, void *dctx, task_stats *st) {
    if (!decode) return senti_error(SENTI_ERR_INVALID_ARG, "task_run: NULL argument");
    row_ctx rc = {decode, dctx};
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .decode = row_decode};
    return task_run_ops(m, tok, src, out, o, &ops, &rc, st);
}

void task_stats_print(const task_stats *st, FILE *f) {
    double eff = st->padded_tokens ? 100.0 * (double)st->tokens / (double)st->padded_tokens : 100.0;
    double rate = st->seconds > 0 ? (double)st->records / st->seconds : 0.0;
    if (st->skipped) fprintf(f, "senti: resumed after %lld records already answered\n", (long long)st->skipped);
    fprintf(f,
            "senti: %lld records (%lld errors, %lld truncated", (long long)st->records, (long long)st->errors,
            (long long)st->truncated);
    if (st->windowed) fprintf(f, ", %lld split into windows", (long long)st->windowed);
    fprintf(f, "), %lld tokens in %lld batches, padding efficiency %.1f%%, %.1f records/s, %.2f s\n",
            (long long)st->tokens, (long long)st->batches, eff, rate, st->seconds);
    fprintf(f, "senti: time in reading %.3f s, tokenizing %.3f s, model %.3f s, decoding and writing %.3f s\n",
            st->t_read, st->t_tokenize, st->t_model, st->t_output);
}
