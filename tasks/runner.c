/* runner.c — the batch runner: reads a window of records, tokenizes them in
 * parallel, sorts the window by length and cuts batches under a token budget,
 * runs the model on each right-padded batch and writes one JSON line per
 * record in input order.
 *
 * Invariants: a window's records are written only after all of them are
 * decoded, in the order they were read, so ordering never depends on the
 * batching; every record read gets exactly one line (result or error). */
#include <errno.h>
#include <stdarg.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/core.h"
#include "tasks.h"

/* ---- record sources ------------------------------------------------------ */

typedef struct rec {
    json_t *id;          /* owned */
    char *text, *pair;   /* owned, NUL-terminated; pair may be NULL */
    size_t len, pair_len;
    char *error;         /* owned; non-NULL: a bad record */
    senti_encoding *enc; /* owned */
    bool truncated;
    json_t *result;      /* owned: the decoded fields */
} rec;

static void rec_clear(rec *r) {
    json_decref(r->id);
    free(r->text);
    free(r->pair);
    free(r->error);
    senti_encoding_free(r->enc);
    json_decref(r->result);
    memset(r, 0, sizeof *r);
}

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
};

task_source *task_source_texts(const char *const *texts, int64_t n) {
    task_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->texts = texts;
    s->n = n;
    return s;
}

task_source *task_source_file(FILE *f, const char *name) {
    task_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->f = f;
    s->name = name ? name : "input";
    s->jsonl = -1;
    struct stat sb;
    long pos = ftell(f);
    s->size = pos >= 0 && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : -1;
    return s;
}

void task_source_free(task_source *s) {
    if (!s) return;
    free(s->buf);
    free(s);
}

/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or -1. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
static int64_t utf8_invalid_at(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else return (int64_t)i;
        if (i + k >= n) return (int64_t)i; /* cut short by the end */
        if (s[i + 1] < lo || s[i + 1] > hi) return (int64_t)i;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF) return (int64_t)i;
        i += k + 1;
    }
    return -1;
}

int64_t task_utf8_invalid_at(const char *s, size_t n) { return utf8_invalid_at(s, n); }

static char *dup_bytes(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static bool set_error(rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool set_error(rec *r, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(r->error);
    r->error = strdup(msg);
    return r->error != NULL;
}

/* Fill r from one JSONL line; false only on OOM (a bad record sets r->error). */
static bool parse_jsonl(rec *r, const char *line, size_t n) {
    json_error_t err;
    json_t *o = json_loadb(line, n, 0, &err);
    bool ok = true;
    if (!o) return set_error(r, "invalid JSON at column %d: %s", err.column, err.text);
    if (!json_is_object(o)) {
        ok = set_error(r, "record is not a JSON object");
        goto done;
    }
    json_t *id = json_object_get(o, "id");
    if (id && !json_is_null(id)) {
        if (!json_is_string(id) && !json_is_integer(id)) {
            ok = set_error(r, "field \"id\" must be a string or an integer");
            goto done;
        }
        json_decref(r->id);
        r->id = json_incref(id);
    }
    json_t *t = json_object_get(o, "text"), *p = json_object_get(o, "text_pair");
    if (!t) {
        ok = set_error(r, "missing field \"text\"");
        goto done;
    }
    if (!json_is_string(t)) {
        ok = set_error(r, "field \"text\" must be a string");
        goto done;
    }
    if (p && !json_is_null(p) && !json_is_string(p)) {
        ok = set_error(r, "field \"text_pair\" must be a string");
        goto done;
    }
    r->len = json_string_length(t);
    if (!(r->text = dup_bytes(json_string_value(t), r->len))) ok = false;
    if (ok && p && json_is_string(p)) {
        r->pair_len = json_string_length(p);
        if (!(r->pair = dup_bytes(json_string_value(p), r->pair_len))) ok = false;
    }
done:
    json_decref(o);
    return ok;
}

static bool only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

/* Next record into r (cleared first): 1 got one, 0 end of input, -1 error
 * (IO or OOM, senti_last_error() set). */
static int source_next(task_source *s, rec *r) {
    rec_clear(r);
    if (s->texts) {
        if (s->next >= s->n) return 0;
        const char *t = s->texts[s->next];
        r->id = json_integer(s->next++);
        r->len = strlen(t);
        if (!r->id || !(r->text = dup_bytes(t, r->len))) goto oom;
    } else {
        ssize_t got;
        for (;;) {
            errno = 0;
            got = getline(&s->buf, &s->cap, s->f);
            if (got < 0) {
                if (ferror(s->f)) {
                    senti_error(SENTI_ERR_IO, "%s: read failed at line %lld: %s", s->name, (long long)s->line + 1,
                                strerror(errno));
                    return -1;
                }
                return 0;
            }
            s->line++;
            size_t n = (size_t)got;
            while (n > 0 && (s->buf[n - 1] == '\n' || s->buf[n - 1] == '\r')) n--;
            if (only_space(s->buf, n)) continue;
            if (s->jsonl < 0) {
                size_t i = 0;
                while (i < n && (s->buf[i] == ' ' || s->buf[i] == '\t')) i++;
                s->jsonl = s->buf[i] == '{';
            }
            r->id = json_integer(s->line - 1);
            if (!r->id) goto oom;
            if (s->jsonl) {
                if (!parse_jsonl(r, s->buf, n)) goto oom;
            } else {
                r->len = n;
                if (!(r->text = dup_bytes(s->buf, n))) goto oom;
            }
            break;
        }
    }
    if (!r->error && r->text) {
        int64_t at = utf8_invalid_at(r->text, r->len);
        if (at >= 0 && !set_error(r, "invalid UTF-8 at byte %lld", (long long)at)) goto oom;
        at = r->pair ? utf8_invalid_at(r->pair, r->pair_len) : -1;
        if (!r->error && at >= 0 && !set_error(r, "invalid UTF-8 in text_pair at byte %lld", (long long)at))
            goto oom;
    }
    return 1;
oom:
    senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory reading a record");
    return -1;
}

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

/* Tokenize r (not bad) to at most max_len tokens: encode whole, and again
 * truncating longest-first when too long. A failure becomes r->error. */
static void rec_encode(rec *r, const senti_tokenizer *tok, int64_t max_len) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_status st = senti_tokenizer_encode(tok, r->text, r->len, r->pair, r->pair_len, &eo, &r->enc);
    if (st == SENTI_OK && senti_encoding_len(r->enc) > max_len) {
        senti_encoding_free(r->enc);
        r->enc = NULL;
        eo.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
        eo.max_length = max_len;
        st = senti_tokenizer_encode(tok, r->text, r->len, r->pair, r->pair_len, &eo, &r->enc);
        r->truncated = st == SENTI_OK;
    }
    if (st != SENTI_OK) {
        r->enc = NULL;
        set_error(r, "tokenizer: %s", senti_last_error());
        if (!r->error) r->error = strdup("tokenizer failed");
    }
}

typedef struct run_ctx {
    senti_model *m;
    task_decode_fn decode;
    void *dctx;
    int32_t *ids, *types, *mask; /* batch_size * max_len each */
    bool use_types;
    int64_t pad;
} run_ctx;

/* Run one batch of records (already tokenized, none bad). */
static senti_status run_batch(run_ctx *c, rec **b, int64_t nb, task_stats *st) {
    int64_t T = 0;
    for (int64_t i = 0; i < nb; i++)
        if (senti_encoding_len(b[i]->enc) > T) T = senti_encoding_len(b[i]->enc);
    for (int64_t i = 0; i < nb; i++) {
        int64_t n = senti_encoding_len(b[i]->enc);
        const int32_t *ids = senti_encoding_ids(b[i]->enc), *tt = senti_encoding_type_ids(b[i]->enc);
        for (int64_t t = 0; t < T; t++) {
            c->ids[i * T + t] = t < n ? ids[t] : (int32_t)c->pad;
            c->types[i * T + t] = t < n && tt ? tt[t] : 0;
            c->mask[i * T + t] = t < n;
        }
        st->tokens += n;
    }
    st->padded_tokens += nb * T;
    st->batches++;
    float *out = NULL;
    int64_t shape[3];
    int ndim = 0;
    senti_status s = senti_model_forward(c->m, c->ids, c->use_types ? c->types : NULL, c->mask, nb, T, &out,
                                         shape, &ndim);
    if (s != SENTI_OK) return s;
    if (ndim != 2 || shape[0] != nb) {
        senti_model_output_free(out);
        return senti_error(SENTI_ERR_UNSUPPORTED, "task runner: the model is not a sequence classifier");
    }
    for (int64_t i = 0; i < nb; i++) {
        b[i]->result = c->decode(c->dctx, out + i * shape[1], shape[1]);
        if (!b[i]->result) {
            senti_model_output_free(out);
            return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory decoding a result");
        }
    }
    senti_model_output_free(out);
    return SENTI_OK;
}

static int cmp_len(const void *a, const void *b) {
    const rec *x = *(rec *const *)a, *y = *(rec *const *)b;
    int64_t lx = senti_encoding_len(x->enc), ly = senti_encoding_len(y->enc);
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y; /* stable: input order within a length */
}

static senti_status write_rec(FILE *out, const rec *r) {
    json_t *o = json_object();
    if (!o) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory writing a result");
    json_object_set(o, "id", r->id);
    if (r->error) json_object_set_new(o, "error", json_string(r->error));
    else json_object_update(o, r->result);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!s) return senti_error(SENTI_ERR_NO_MEMORY, "task runner: out of memory writing a result");
    int bad = fputs(s, out) < 0 || fputc('\n', out) == EOF;
    free(s);
    if (bad) return senti_error(SENTI_ERR_IO, "task runner: writing the output failed: %s", strerror(errno));
    return SENTI_OK;
}

/* Tokenize, batch, run and write the n records of one window. With strict,
 * the window is cut at its first bad record, which is reported. */
static senti_status run_window(run_ctx *c, const senti_tokenizer *tok, rec *w, int64_t n, const task_runner_opts *o,
                               FILE *out, task_stats *st, rec ***sorted) {
    int64_t max_len = senti_model_max_length(c->m);
    int nt = o->n_threads > 0 ? o->n_threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 8) num_threads(nt)
    for (int64_t i = 0; i < n; i++)
        if (!w[i].error) rec_encode(&w[i], tok, max_len);
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (w[i].error && o->strict) bad = i;
    int64_t use = bad >= 0 ? bad : n, k = 0;
    for (int64_t i = 0; i < use; i++) {
        if (w[i].error) st->errors++;
        else {
            st->truncated += w[i].truncated;
            (*sorted)[k++] = &w[i];
        }
    }
    qsort(*sorted, (size_t)k, sizeof **sorted, cmp_len);
    for (int64_t i = 0; i < k;) {
        int64_t j = i + 1;
        /* ascending lengths: the batch's padded length is its last record's */
        while (j < k && j - i < o->batch_size &&
               (j - i + 1) * senti_encoding_len((*sorted)[j]->enc) <= o->max_batch_tokens)
            j++;
        senti_status s = run_batch(c, *sorted + i, j - i, st);
        if (s != SENTI_OK) return s;
        i = j;
    }
    for (int64_t i = 0; i < use; i++) {
        senti_status s = write_rec(out, &w[i]);
        if (s != SENTI_OK) return s;
    }
    if (bad >= 0) {
        char *id = json_dumps(w[bad].id, JSON_ENCODE_ANY | JSON_COMPACT);
        senti_status s = senti_error(SENTI_ERR_INVALID_ARG, "record %s: %s", id ? id : "?", w[bad].error);
        free(id);
        return s;
    }
    return SENTI_OK;
}

senti_status task_run(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                      const task_runner_opts *opts, task_decode_fn decode, void *dctx, task_stats *stats) {
    task_runner_opts o = opts ? *opts : task_runner_opts_defaults();
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!m || !tok || !src || !out || !decode)
        return senti_error(SENTI_ERR_INVALID_ARG, "task_run: NULL argument");
    if (o.batch_size < 1 || o.max_batch_tokens < 1 || o.window < 1)
        return senti_error(SENTI_ERR_INVALID_ARG, "task_run: batch size, token budget and window must be >= 1");
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION)
        return senti_error(SENTI_ERR_UNSUPPORTED, "task_run: the model (%s) is not a sequence classifier",
                           senti_model_architecture(m));
    double t0 = now_s();
    int64_t max_len = senti_model_max_length(m);
    run_ctx c = {.m = m, .decode = decode, .dctx = dctx, .use_types = senti_model_type_vocab_size(m) > 0,
                 .pad = senti_model_pad_token_id(m)};
    if (c.pad < 0 || c.pad >= senti_model_vocab_size(m)) c.pad = 0;
    senti_status s = SENTI_OK;
    rec *w = calloc((size_t)o.window, sizeof *w);
    rec **sorted = calloc((size_t)o.window, sizeof *sorted);
    /* a batch holds at most batch_size rows and max_batch_tokens tokens, except
     * one record over the budget, which runs alone */
    int64_t cap_tok = o.max_batch_tokens > max_len ? o.max_batch_tokens : max_len;
    if (o.batch_size <= cap_tok / max_len) cap_tok = o.batch_size * max_len;
    size_t nb = (size_t)cap_tok;
    c.ids = malloc(nb * sizeof *c.ids);
    c.types = malloc(nb * sizeof *c.types);
    c.mask = malloc(nb * sizeof *c.mask);
    if (!w || !sorted || !c.ids || !c.types || !c.mask) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "task_run: out of memory");
        goto done;
    }
    for (rec skip = {0}; st->skipped < o.skip;) {
        int got = source_next(src, &skip);
        rec_clear(&skip);
        if (got < 0) {
            s = SENTI_ERR_IO;
            goto done;
        }
        if (got == 0) break;
        st->skipped++;
    }
    for (bool eof = false; !eof && s == SENTI_OK;) {
        int64_t n = 0;
        while (n < o.window) {
            int got = source_next(src, &w[n]);
            if (got < 0) {
                s = SENTI_ERR_IO; /* message already set */
                break;
            }
            if (got == 0) {
                eof = true;
                break;
            }
            n++;
            if (o.strict && w[n - 1].error) break; /* nothing after it is read */
        }
        st->records += n;
        if (s == SENTI_OK && n > 0) s = run_window(&c, tok, w, n, &o, out, st, &sorted);
        for (int64_t i = 0; i < n; i++) rec_clear(&w[i]);
        if (s == SENTI_OK && n > 0 && fflush(out) != 0)
            s = senti_error(SENTI_ERR_IO, "task runner: flushing the output failed");
        if (s == SENTI_OK && n > 0 && o.checkpoint) s = o.checkpoint(o.checkpoint_ctx, st->skipped + st->records);
        if (o.progress && n > 0) print_progress(o.progress, src, st, now_s() - t0);
    }
done:
    if (o.progress && st->records > 0) fputc('\n', o.progress);
    if (w)
        for (int64_t i = 0; i < o.window; i++) rec_clear(&w[i]);
    free(w);
    free(sorted);
    free(c.ids);
    free(c.types);
    free(c.mask);
    st->seconds = now_s() - t0;
    return s;
}

void task_stats_print(const task_stats *st, FILE *f) {
    double eff = st->padded_tokens ? 100.0 * (double)st->tokens / (double)st->padded_tokens : 100.0;
    double rate = st->seconds > 0 ? (double)st->records / st->seconds : 0.0;
    if (st->skipped) fprintf(f, "senti: resumed after %lld records already answered\n", (long long)st->skipped);
    fprintf(f,
            "senti: %lld records (%lld errors, %lld truncated), %lld tokens in %lld batches, padding efficiency "
            "%.1f%%, %.1f records/s, %.2f s\n",
            (long long)st->records, (long long)st->errors, (long long)st->truncated, (long long)st->tokens,
            (long long)st->batches, eff, rate, st->seconds);
}
