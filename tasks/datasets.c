/* datasets.c — readers for the labelled sentiment datasets (the formats of
 * ../shared/assets/data), each record turned into one JSON object that every
 * task command reads like a JSONL record ("text", "text_pair", "aspect",
 * "dialogue") and that senti eval reads its gold fields from:
 *
 *   tsv        GLUE / SST-2 TSV with a header naming the columns (sentence|text,
 *              sentence2, label, idx|index): {"id": row (0-based, header excluded)
 *              or the idx column, "text", ["text_pair"], "label": the column's string}
 *   tweeteval  X_text.txt beside X_labels.txt and mapping.txt (same or parent
 *              folder): {"id": line, "text", "label": the mapped name}
 *   meld       MELD CSV (RFC 4180 quoting): one record per dialogue (rows grouped
 *              by Dialogue_ID, contiguous; ordered by Utterance_ID):
 *              {"id": Dialogue_ID, "dialogue": [{"speaker","text"}], "labels": [Emotion],
 *               "sentiments": [Sentiment], "utterance_ids": [..]}
 *   aste       ASTE-Data-V2 `sentence####[([a idx], [o idx], 'POS'), …]` (word indices
 *              into sentence.split()): {"id": line, "text", "aspect": [aspect strings],
 *              "sentiments": [per aspect string; null when its triplets disagree],
 *              "aspect_spans": [{"aspect","start","end","sentiment"}] (unique),
 *              "opinion_spans": [{"opinion","start","end"}] (unique),
 *              "triplets": [{"aspect","aspect_start","aspect_end","opinion",
 *              "opinion_start","opinion_end","sentiment"}] (as in the file)}
 *   asqp       ASQP `sentence####[[aspect, category, polarity, opinion], …]` (NULL:
 *              implicit): "aspect"/"sentiments"/"aspect_spans"/"opinion_spans" of the
 *              explicit terms and "quads": [{"aspect" (null for NULL), "aspect_start",
 *              "aspect_end", "category", "sentiment", "opinion", "opinion_start",
 *              "opinion_end"}] (offsets: the term's first whole-word occurrence, else null)
 *   ecpe       Xia & Ding's ECPE documents (`doc_id n`, the pair list, n lines
 *              `k,emotion,keyword,clause`): {"id": doc_id, "text": the clauses joined
 *              by "，", "clauses", "emotions" (null for "null"), "keywords", "pairs": [[e, c]]}
 *   ecpe-csv   clause_keywords.csv (doc,clause,keyword,relative position,yes|no,text;
 *              no header): the same shape, "pairs" from the emotion clause (position 0)
 *              to each "yes" clause
 * plus "lines" (one text per line) and "jsonl", which the runner reads itself.
 * Offsets are Unicode code points, end-exclusive; sentiments are positive /
 * negative / neutral.
 *
 * Invariants: a header is never a record; every other record of the file
 * gives exactly one object, and a malformed one gives {"id": …} plus an
 * error naming its line (1-based) and what is wrong; invalid UTF-8 is such
 * an error, never passed on. Memory is bounded by one record (TweetEval's
 * labels file is read whole). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/core.h"
#include "tasks.h"

static const char *const FORMAT_NAMES[TASK_FORMAT_COUNT] = {"auto", "lines", "jsonl", "tsv", "tweeteval",
                                                              "meld", "aste", "asqp", "ecpe", "ecpe-csv"};

task_format task_format_from_name(const char *name) {
    if (!name) return TASK_FORMAT_COUNT;
    if (!strcmp(name, "sst2") || !strcmp(name, "glue")) return TASK_FORMAT_TSV;
    if (!strcmp(name, "text")) return TASK_FORMAT_LINES;
    for (int i = 0; i < TASK_FORMAT_COUNT; i++)
        if (!strcmp(name, FORMAT_NAMES[i])) return (task_format)i;
    return TASK_FORMAT_COUNT;
}

const char *task_format_name(task_format f) { return (unsigned)f < TASK_FORMAT_COUNT ? FORMAT_NAMES[f] : "?"; }

/* ---- small helpers ---------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suf) {
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static size_t chomp(const char *s, size_t n) {
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    return n;
}

/* Parse s[0..n) as a whole decimal integer (optional sign); false if it is not one. */
static bool parse_int(const char *s, size_t n, int64_t *out) {
    while (n && (*s == ' ')) s++, n--;
    while (n && s[n - 1] == ' ') n--;
    if (n == 0 || n > 19) return false;
    size_t i = s[0] == '-' || s[0] == '+';
    if (i == n) return false;
    int64_t v = 0;
    for (size_t k = i; k < n; k++) {
        if (s[k] < '0' || s[k] > '9') return false;
        v = v * 10 + (s[k] - '0');
    }
    *out = s[0] == '-' ? -v : v;
    return true;
}

static const char *sentiment_name(const char *s) {
    static const char *const T[][2] = {{"POS", "positive"}, {"NEG", "negative"}, {"NEU", "neutral"},
                                       {"positive", "positive"}, {"negative", "negative"}, {"neutral", "neutral"}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(s, T[i][0])) return T[i][1];
    return NULL;
}

/* ---- a Python literal (lists, tuples, ints, strings, None) as JSON -------------------- */

typedef struct pylit {
    const char *s;
    size_t n, i;
    const char *why;
} pylit;

static void py_ws(pylit *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t')) p->i++;
}

static json_t *py_value(pylit *p, int depth);

static json_t *py_string(pylit *p) {
    const char q = p->s[p->i++];
    char *b = malloc(p->n - p->i + 1);
    size_t k = 0;
    if (!b) return p->why = "out of memory", NULL;
    while (p->i < p->n && p->s[p->i] != q) {
        char c = p->s[p->i++];
        if (c == '\\' && p->i < p->n) { /* Python's escapes; an unknown one keeps its backslash */
            char e = p->s[p->i++];
            switch (e) {
            case '\\': case '\'': case '"': c = e; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            default: b[k++] = '\\'; c = e;
            }
        }
        b[k++] = c;
    }
    if (p->i >= p->n) {
        free(b);
        return p->why = "unterminated string", NULL;
    }
    p->i++;
    json_t *v = task_utf8_invalid_at(b, k) < 0 ? json_stringn(b, k) : NULL;
    if (!v) p->why = "a string is not valid UTF-8 after its escapes";
    free(b);
    return v;
}

static json_t *py_seq(pylit *p, int depth) {
    const char close = p->s[p->i++] == '[' ? ']' : ')';
    json_t *a = json_array();
    if (!a) return p->why = "out of memory", NULL;
    for (bool first = true;; first = false) {
        py_ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return a;
        }
        if (!first) {
            if (p->i >= p->n || p->s[p->i] != ',') break;
            p->i++;
            py_ws(p);
            if (p->i < p->n && p->s[p->i] == close) {
                p->i++;
                return a;
            }
        }
        json_t *v = py_value(p, depth + 1);
        if (!v || json_array_append_new(a, v) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    json_decref(a);
    if (!p->why) p->why = close == ']' ? "expected ',' or ']'" : "expected ',' or ')'";
    return NULL;
}

static json_t *py_value(pylit *p, int depth) {
    py_ws(p);
    if (depth > 16) return p->why = "nested too deeply", NULL;
    if (p->i >= p->n) return p->why = "unexpected end", NULL;
    char c = p->s[p->i];
    if (c == '[' || c == '(') return py_seq(p, depth);
    if (c == '\'' || c == '"') return py_string(p);
    if (p->n - p->i >= 4 && !strncmp(p->s + p->i, "None", 4)) {
        p->i += 4;
        return json_null();
    }
    size_t j = p->i + (c == '-');
    while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
    int64_t v;
    if (j > p->i && parse_int(p->s + p->i, j - p->i, &v)) {
        p->i = j;
        return json_integer(v);
    }
    return p->why = "expected a list, tuple, string or integer", NULL;
}

/* The literal s[0..n); NULL with *why set when it is not a whole literal. */
static json_t *py_parse(const char *s, size_t n, const char **why) {
    pylit p = {s, n, 0, NULL};
    json_t *v = py_value(&p, 0);
    py_ws(&p);
    if (v && p.i != n) {
        json_decref(v);
        v = NULL;
        p.why = "text after the list";
    }
    *why = p.why ? p.why : "out of memory";
    return v;
}

/* ---- the reader ------------------------------------------------------------------------ */

enum { MAX_COLS = 64 };

typedef struct csv_row {
    char *b;
    size_t n, cap;
    size_t off[MAX_COLS], len[MAX_COLS];
    int nf;
    int64_t line; /* its first line */
} csv_row;

typedef struct ds_reader {
    task_format fmt;
    FILE *f;
    char *path;
    char *buf;
    size_t cap;
    char *held;          /* a line read ahead (ECPE resync, MELD's next dialogue), owned */
    size_t held_len;
    int64_t held_line;
    int64_t line;        /* 1-based number of the last line read */
    int64_t rec;         /* records given so far */
    bool eof;
    /* tsv */
    int ncols, c_text, c_pair, c_label, c_id;
    /* tweeteval */
    char **labels, **names;
    int64_t n_labels, n_names;
    /* meld */
    int m_utt, m_spk, m_emo, m_sent, m_dia, m_uid, m_ncols;
    json_t *seen;        /* finished dialogue ids (object keyed by the decimal id) */
    struct csv_row *row; /* the last CSV row read (owned) */
    int row_got;         /* its csv_next result */
    const char *row_why;
    bool row_held;       /* it belongs to the next record: read it again */
} ds_reader;

static void ds_free(void *ctx) {
    ds_reader *r = ctx;
    if (!r) return;
    free(r->path);
    free(r->buf);
    free(r->held);
    for (int64_t i = 0; i < r->n_labels; i++) free(r->labels[i]);
    for (int64_t i = 0; i < r->n_names; i++) free(r->names[i]);
    free(r->labels);
    free(r->names);
    json_decref(r->seen);
    if (r->row) free(r->row->b);
    free(r->row);
    free(r);
}

/* Next line (chomped) into *s / *n: 1, 0 at the end, -1 on a read error (set). */
static int next_line(ds_reader *r, const char **s, size_t *n) {
    if (r->held) {
        free(r->buf);
        r->buf = r->held;
        r->cap = r->held_len + 1;
        r->held = NULL;
        r->line = r->held_line;
        *s = r->buf;
        *n = r->held_len;
        return 1;
    }
    errno = 0;
    ssize_t got = getline(&r->buf, &r->cap, r->f);
    if (got < 0) {
        if (ferror(r->f)) {
            senti_error(SENTI_ERR_IO, "%s: read failed after line %lld: %s", r->path, (long long)r->line, strerror(errno));
            return -1;
        }
        return 0;
    }
    r->line++;
    size_t k = chomp(r->buf, (size_t)got);
    if (r->line == 1 && k >= 3 && !memcmp(r->buf, "\xEF\xBB\xBF", 3)) { /* a UTF-8 byte-order mark */
        memmove(r->buf, r->buf + 3, k - 3);
        k -= 3;
    }
    r->buf[k] = '\0';
    *s = r->buf;
    *n = k;
    return 1;
}

/* Keep the current line to be read again. */
static bool hold_line(ds_reader *r, const char *s, size_t n) {
    if (!(r->held = malloc(n + 1))) return false;
    memcpy(r->held, s, n);
    r->held[n] = '\0';
    r->held_len = n;
    r->held_line = r->line;
    return true;
}

static bool blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return false;
    return true;
}

/* A malformed record: *rec = {"id": id} (id stolen), *err = "line N: …". */
static int bad(json_t **rec, char **err, json_t *id, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(json_t **rec, char **err, json_t *id, int64_t line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* quoted file bytes may be invalid UTF-8, or cut inside a character by a
     * precision or by msg's size: '?' for each such byte (the message goes into JSON) */
    senti_utf8_scrub(msg, strlen(msg));
    *rec = json_object();
    size_t n = strlen(msg) + 32;
    *err = malloc(n);
    if (!*rec || !*err || json_object_set_new(*rec, "id", id ? id : json_null()) != 0) {
        json_decref(*rec);
        free(*err);
        *rec = NULL, *err = NULL;
        senti_error(SENTI_ERR_NO_MEMORY, "dataset reader: out of memory");
        return -1;
    }
    snprintf(*err, n, "line %lld: %s", (long long)line, msg);
    return 1;
}

static int oom(void) {
    senti_error(SENTI_ERR_NO_MEMORY, "dataset reader: out of memory");
    return -1;
}

/* Split s[0..n) at sep into at most max fields (pointers into s, lengths). */
static int split(const char *s, size_t n, char sep, const char **f, size_t *fl, int max) {
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == sep) {
            if (k < max) f[k] = s + start, fl[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k;
}

/* ---- tsv ----------------------------------------------------------------------------- */


static senti_status tsv_open(ds_reader *r) {
    const char *s;
    size_t n;
    int got;
    while ((got = next_line(r, &s, &n)) == 1 && blank(s, n)) {}
    if (got < 0) return SENTI_ERR_IO;
    if (got == 0) return senti_error(SENTI_ERR_BAD_FILE, "%s: empty file: a TSV needs a header line", r->path);
    const char *f[MAX_COLS];
    size_t fl[MAX_COLS];
    r->ncols = split(s, n, '\t', f, fl, MAX_COLS);
    if (r->ncols > MAX_COLS) return senti_error(SENTI_ERR_BAD_FILE, "%s: header has more than %d columns", r->path, MAX_COLS);
    r->c_text = r->c_pair = r->c_label = r->c_id = -1;
    for (int i = 0; i < r->ncols; i++) {
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)(fl[i] < 31 ? fl[i] : 31), f[i]);
        if ((!strcmp(name, "sentence") || !strcmp(name, "text") || !strcmp(name, "sentence1") ||
             !strcmp(name, "question") || !strcmp(name, "question1")) && r->c_text < 0)
            r->c_text = i;
        else if (!strcmp(name, "sentence2") || !strcmp(name, "question2")) r->c_pair = i;
        else if (!strcmp(name, "label")) r->c_label = i;
        else if (!strcmp(name, "idx") || !strcmp(name, "index") || !strcmp(name, "id")) r->c_id = i;
    }
    if (r->c_text < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: line %lld: the header names no text column (sentence, text, "
                           "sentence1 or question)", r->path, (long long)r->line);
    return SENTI_OK;
}

static int tsv_next(ds_reader *r, json_t **rec, char **err) {
    const char *s;
    size_t n;
    int got;
    while ((got = next_line(r, &s, &n)) == 1 && blank(s, n)) {}
    if (got <= 0) return got;
    json_t *id = json_integer(r->rec++);
    if (!id) return oom();
    int64_t at = task_utf8_invalid_at(s, n);
    if (at >= 0) return bad(rec, err, id, r->line, "invalid UTF-8 at byte %lld", (long long)at);
    const char *f[MAX_COLS];
    size_t fl[MAX_COLS];
    int k = split(s, n, '\t', f, fl, MAX_COLS);
    if (k != r->ncols)
        return bad(rec, err, id, r->line, "%d tab-separated fields where the header has %d", k, r->ncols);
    if (r->c_id >= 0) {
        int64_t v;
        json_decref(id);
        id = parse_int(f[r->c_id], fl[r->c_id], &v) ? json_integer(v) : json_stringn(f[r->c_id], fl[r->c_id]);
        if (!id) return oom();
    }
    if (r->c_label >= 0) {
        size_t L = fl[r->c_label];
        if (L == 0 || memchr(f[r->c_label], ' ', L))
            return bad(rec, err, id, r->line, "label column holds '%.*s', not a label (does the header name the "
                       "columns in their order?)", (int)(L < 40 ? L : 40), f[r->c_label]);
    }
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", id) || json_object_set_new(o, "text", json_stringn(f[r->c_text], fl[r->c_text])) ||
        (r->c_pair >= 0 && json_object_set_new(o, "text_pair", json_stringn(f[r->c_pair], fl[r->c_pair]))) ||
        (r->c_label >= 0 && json_object_set_new(o, "label", json_stringn(f[r->c_label], fl[r->c_label])))) {
        json_decref(o);
        return oom();
    }
    *rec = o;
    return 1;
}

/* ---- tweeteval --------------------------------------------------------------------------- */

/* Lines of a small file (the chomped lines, a trailing empty one dropped). */
static senti_status read_lines(const char *path, char ***out, int64_t *n, bool *present) {
    *out = NULL;
    *n = 0;
    *present = false;
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? SENTI_OK : senti_error(SENTI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    *present = true;
    char *b = NULL, **v = NULL;
    size_t cap = 0;
    int64_t cv = 0;
    ssize_t got;
    senti_status st = SENTI_OK;
    while ((got = getline(&b, &cap, f)) >= 0) {
        if (*n == cv) {
            cv = cv ? 2 * cv : 256;
            char **nv = realloc(v, (size_t)cv * sizeof *nv);
            if (!nv) { st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path); break; }
            v = nv;
        }
        size_t k = chomp(b, (size_t)got);
        if (!(v[*n] = malloc(k + 1))) { st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path); break; }
        memcpy(v[*n], b, k);
        v[(*n)++][k] = '\0';
    }
    if (st == SENTI_OK && ferror(f)) st = senti_error(SENTI_ERR_IO, "%s: read failed", path);
    free(b);
    fclose(f);
    *out = v;
    return st;
}

static senti_status tweeteval_open(ds_reader *r) {
    size_t n = strlen(r->path);
    if (!ends_with(r->path, "_text.txt"))
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: a TweetEval file is named SPLIT_text.txt (beside SPLIT_labels.txt)",
                           r->path);
    char *p = malloc(n + 32);
    if (!p) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    snprintf(p, n + 32, "%.*s_labels.txt", (int)(n - 9), r->path);
    bool present;
    senti_status st = read_lines(p, &r->labels, &r->n_labels, &present);
    /* mapping.txt beside the files, else one folder up (stance/<target>/) */
    const char *slash = strrchr(r->path, '/');
    size_t dir = slash ? (size_t)(slash - r->path) : 0;
    for (int up = 0; st == SENTI_OK && up < 2 && !r->n_names; up++) {
        size_t d = dir;
        if (up) {
            while (d > 0 && r->path[d - 1] != '/') d--;
            if (d == 0) break;
            d--;
        }
        snprintf(p, n + 32, "%.*s%smapping.txt", (int)d, r->path, d || slash ? "/" : "");
        bool have;
        char **lines;
        int64_t nl;
        st = read_lines(p, &lines, &nl, &have);
        for (int64_t i = 0; st == SENTI_OK && i < nl; i++) {
            const char *tab = strchr(lines[i], '\t');
            int64_t k;
            if (blank(lines[i], strlen(lines[i]))) continue;
            if (!tab || !parse_int(lines[i], (size_t)(tab - lines[i]), &k) || k != r->n_names)
                st = senti_error(SENTI_ERR_BAD_FILE, "%s: line %lld: expected '%lld<TAB>name'", p, (long long)i + 1,
                                 (long long)r->n_names);
            else {
                char **nv = realloc(r->names, (size_t)(r->n_names + 1) * sizeof *nv);
                if (!nv || !(nv[r->n_names] = strdup(tab + 1))) {
                    if (nv) r->names = nv;
                    st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
                } else {
                    r->names = nv;
                    r->n_names++;
                }
            }
        }
        for (int64_t i = 0; i < nl; i++) free(lines[i]);
        free(lines);
    }
    if (st == SENTI_OK && present) { /* the two files must line up */
        int64_t lines = 0;
        long pos = ftell(r->f);
        if (pos >= 0) {
            int c, last = '\n';
            while ((c = getc(r->f)) != EOF) {
                lines += c == '\n';
                last = c;
            }
            lines += last != '\n';
            if (ferror(r->f) || fseek(r->f, pos, SEEK_SET) != 0)
                st = senti_error(SENTI_ERR_IO, "%s: cannot read it twice (TweetEval files must be seekable)", r->path);
            else if (lines != r->n_labels) {
                snprintf(p, n + 32, "%.*s_labels.txt", (int)(n - 9), r->path);
                st = senti_error(SENTI_ERR_BAD_FILE, "%s has %lld lines but %s has %lld", r->path, (long long)lines, p,
                                 (long long)r->n_labels);
            }
        }
    }
    free(p);
    return st;
}

static int tweeteval_next(ds_reader *r, json_t **rec, char **err) {
    const char *s;
    size_t n;
    int got = next_line(r, &s, &n);
    if (got <= 0) return got;
    int64_t i = r->rec++;
    json_t *id = json_integer(i);
    if (!id) return oom();
    int64_t at = task_utf8_invalid_at(s, n);
    if (at >= 0) return bad(rec, err, id, r->line, "invalid UTF-8 at byte %lld", (long long)at);
    json_t *label = NULL;
    if (r->labels) {
        int64_t k;
        if (i >= r->n_labels) return bad(rec, err, id, r->line, "no label (the labels file is shorter)");
        const char *l = r->labels[i];
        if (!r->n_names) label = json_string(l);
        else if (!parse_int(l, strlen(l), &k) || k < 0 || k >= r->n_names)
            return bad(rec, err, id, r->line, "label '%.20s' is not in mapping.txt (0..%lld)", l,
                       (long long)r->n_names - 1);
        else label = json_string(r->names[k]);
        if (!label) return bad(rec, err, id, r->line, "the label is not valid UTF-8");
    }
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", id) || json_object_set_new(o, "text", json_stringn(s, n)) ||
        (label && json_object_set_new(o, "label", label))) {
        json_decref(o);
        return oom();
    }
    *rec = o;
    return 1;
}

/* ---- meld (CSV) ------------------------------------------------------------------------ */

/* One CSV record (RFC 4180: "…" quoting with "" for a quote, fields may hold
 * newlines) into fields; the text is kept in *row (owned, NUL-separated).
 * 1, 0 at the end, -1 on IO/OOM, 2 on a malformed record (*why). */

static bool row_put(csv_row *w, char c) {
    if (w->n + 1 >= w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 256;
        char *b = realloc(w->b, cap);
        if (!b) return false;
        w->b = b, w->cap = cap;
    }
    w->b[w->n++] = c;
    return true;
}

static int csv_bad(const char **why, const char *msg) {
    *why = msg;
    return 2;
}

static int csv_next(ds_reader *r, csv_row *w, const char **why) {
    const char *s;
    size_t n;
    int got;
    while ((got = next_line(r, &s, &n)) == 1 && n == 0) {}
    if (got <= 0) return got;
    w->n = 0;
    w->nf = 0;
    w->line = r->line;
    bool quoted = false, was_quoted = false;
    size_t start = 0;
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            char c = s[i];
            if (quoted) {
                if (c == '"' && i + 1 < n && s[i + 1] == '"') i++;
                else if (c == '"') { quoted = false; continue; }
            } else if (c == '"' && w->n == start && !was_quoted) {
                quoted = was_quoted = true;
                continue;
            } else if (c == ',') {
                if (w->nf >= MAX_COLS) return csv_bad(why, "too many fields");
                w->off[w->nf] = start, w->len[w->nf++] = w->n - start;
                if (!row_put(w, '\0')) return oom();
                start = w->n;
                was_quoted = false;
                continue;
            } else if (was_quoted) {
                return csv_bad(why, "text after a closing quote");
            }
            if (!row_put(w, c)) return oom();
        }
        if (!quoted) break;
        if (!row_put(w, '\n')) return oom(); /* a quoted newline: the field goes on */
        if ((got = next_line(r, &s, &n)) < 0) return -1;
        if (got == 0) return csv_bad(why, "unterminated quoted field");
    }
    if (w->nf >= MAX_COLS) return csv_bad(why, "too many fields");
    w->off[w->nf] = start, w->len[w->nf++] = w->n - start;
    if (!row_put(w, '\0')) return oom();
    return 1;
}

static const char *field(const csv_row *w, int i) { return w->b + w->off[i]; }

static senti_status meld_open(ds_reader *r) {
    csv_row w = {0};
    const char *why = NULL;
    int got = csv_next(r, &w, &why);
    senti_status st = SENTI_OK;
    if (got < 0) st = SENTI_ERR_IO;
    else if (got == 0) st = senti_error(SENTI_ERR_BAD_FILE, "%s: empty file: a MELD CSV needs a header line", r->path);
    else if (got == 2) st = senti_error(SENTI_ERR_BAD_FILE, "%s: line 1: %s", r->path, why);
    if (st != SENTI_OK) {
        free(w.b);
        return st;
    }
    int *cols[] = {&r->m_utt, &r->m_spk, &r->m_emo, &r->m_sent, &r->m_dia, &r->m_uid};
    static const char *const names[] = {"Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"};
    for (int k = 0; k < 6; k++) {
        *cols[k] = -1;
        for (int i = 0; i < w.nf; i++)
            if (!strcmp(field(&w, i), names[k])) *cols[k] = i;
    }
    r->m_ncols = w.nf;
    free(w.b);
    if (!(r->row = calloc(1, sizeof *r->row))) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    if (r->m_utt < 0 || r->m_dia < 0 || r->m_uid < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: the header lacks Utterance, Dialogue_ID or Utterance_ID", r->path);
    if (!(r->seen = json_object())) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    return SENTI_OK;
}

typedef struct meld_utt {
    int64_t uid;
    json_t *turn, *label, *sentiment;
} meld_utt;

static int cmp_uid(const void *a, const void *b) {
    const meld_utt *x = a, *y = b;
    return (x->uid > y->uid) - (x->uid < y->uid);
}

static int meld_row(ds_reader *r) {
    if (r->row_held) {
        r->row_held = false;
        return r->row_got;
    }
    return r->row_got = csv_next(r, r->row, &r->row_why);
}

static void utts_free(meld_utt *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        json_decref(u[i].turn);
        json_decref(u[i].label);
        json_decref(u[i].sentiment);
    }
    free(u);
}

/* Append row w of dialogue dia to u; false on OOM. */
static bool meld_add(ds_reader *r, const csv_row *w, int64_t uid, meld_utt **u, int64_t *nu, int64_t *cu) {
    if (*nu == *cu) {
        int64_t c = *cu ? 2 * *cu : 16;
        meld_utt *v = realloc(*u, (size_t)c * sizeof *v);
        if (!v) return false;
        *u = v, *cu = c;
    }
    meld_utt *m = &(*u)[*nu];
    m->uid = uid;
    m->turn = json_object();
    m->label = r->m_emo >= 0 ? json_stringn(field(w, r->m_emo), w->len[r->m_emo]) : json_null();
    m->sentiment = r->m_sent >= 0 ? json_stringn(field(w, r->m_sent), w->len[r->m_sent]) : json_null();
    (*nu)++;
    return m->turn && m->label && m->sentiment &&
           !json_object_set_new(m->turn, "speaker",
                                r->m_spk >= 0 ? json_stringn(field(w, r->m_spk), w->len[r->m_spk]) : json_null()) &&
           !json_object_set_new(m->turn, "text", json_stringn(field(w, r->m_utt), w->len[r->m_utt]));
}

/* One dialogue: the rows up to the next Dialogue_ID, ordered by Utterance_ID.
 * A row whose Dialogue_ID cannot be read is a record of its own (id "line N"). */
static int meld_next(ds_reader *r, json_t **rec, char **err) {
    meld_utt *u = NULL;
    int64_t nu = 0, cu = 0, dia = -1, first = 0, msg_line = 0;
    char msg[300] = "";
    int got;
    while ((got = meld_row(r)) != 0) {
        if (got < 0) goto fail;
        const csv_row *w = r->row;
        int64_t d = -1, uid = 0;
        bool shape = got == 1 && w->nf == r->m_ncols;
        bool have_d = shape && parse_int(field(w, r->m_dia), w->len[r->m_dia], &d);
        if (first && (!have_d || d != dia)) { /* the next dialogue (or a broken row) starts */
            r->row_held = true;
            break;
        }
        if (!have_d) {
            char id[40];
            snprintf(id, sizeof id, "line %lld", (long long)w->line);
            json_t *jid = json_string(id);
            if (!jid) goto oom;
            return bad(rec, err, jid, w->line, "%s", got == 2 ? r->row_why
                                                     : !shape  ? "wrong number of fields for the header"
                                                               : "Dialogue_ID is not an integer");
        }
        if (!first) first = w->line, dia = d;
        if (msg[0]) continue;
        msg_line = w->line;
        if (!parse_int(field(w, r->m_uid), w->len[r->m_uid], &uid))
            snprintf(msg, sizeof msg, "Utterance_ID is not an integer");
        for (int k = 0; k < w->nf && !msg[0]; k++) {
            int64_t at = task_utf8_invalid_at(field(w, k), w->len[k]);
            if (at >= 0) snprintf(msg, sizeof msg, "invalid UTF-8 at byte %lld of field %d", (long long)at, k + 1);
        }
        if (!msg[0] && !meld_add(r, w, uid, &u, &nu, &cu)) goto oom;
    }
    if (!first) return 0;
    char key[32];
    snprintf(key, sizeof key, "%lld", (long long)dia);
    if (!msg[0] && json_object_get(r->seen, key)) {
        msg_line = first;
        snprintf(msg, sizeof msg, "dialogue %lld continues after other dialogues (its rows must be contiguous)",
                 (long long)dia);
    }
    if (json_object_set_new(r->seen, key, json_true())) goto oom;
    if (!msg[0]) {
        qsort(u, (size_t)nu, sizeof *u, cmp_uid);
        for (int64_t i = 1; i < nu && !msg[0]; i++)
            if (u[i].uid == u[i - 1].uid) {
                msg_line = first;
                snprintf(msg, sizeof msg, "dialogue %lld has Utterance_ID %lld twice", (long long)dia,
                         (long long)u[i].uid);
            }
    }
    json_t *id = json_integer(dia);
    if (!id) goto oom;
    if (msg[0]) {
        utts_free(u, nu);
        return bad(rec, err, id, msg_line, "%s", msg);
    }
    json_t *o = json_object(), *dl = json_array(), *ls = json_array(), *ss = json_array(), *us = json_array();
    bool ok = o && dl && ls && ss && us;
    for (int64_t i = 0; ok && i < nu; i++)
        ok = !json_array_append(dl, u[i].turn) && !json_array_append(ls, u[i].label) &&
             !json_array_append(ss, u[i].sentiment) && !json_array_append_new(us, json_integer(u[i].uid));
    utts_free(u, nu);
    if (!ok || json_object_set_new(o, "id", id) || json_object_set_new(o, "dialogue", json_incref(dl)) ||
        json_object_set_new(o, "labels", json_incref(ls)) || json_object_set_new(o, "sentiments", json_incref(ss)) ||
        json_object_set_new(o, "utterance_ids", json_incref(us))) {
        if (!o) json_decref(id);
        json_decref(o), json_decref(dl), json_decref(ls), json_decref(ss), json_decref(us);
        return oom();
    }
    json_decref(dl), json_decref(ls), json_decref(ss), json_decref(us);
    r->rec++;
    *rec = o;
    return 1;
oom:
    oom();
fail:
    utts_free(u, nu);
    return -1;
}

/* ---- aste / asqp ------------------------------------------------------------------------- */

/* The words of a sentence as Python's str.split() finds them: byte ranges and
 * code-point offsets. */
typedef struct words {
    int64_t n, cap;
    size_t *b0, *b1;  /* byte range of word i */
    int64_t *c0, *c1; /* code-point range */
} words;

static void words_free(words *w) {
    free(w->b0), free(w->b1), free(w->c0), free(w->c1);
    memset(w, 0, sizeof *w);
}

static bool words_split(const char *s, size_t n, words *w) {
    int64_t cp = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i])) i++, cp++;
        if (i >= n) break;
        if (w->n == w->cap) {
            int64_t c = w->cap ? 2 * w->cap : 32;
            size_t *a = realloc(w->b0, (size_t)c * sizeof *a);
            if (a) w->b0 = a;
            size_t *b = a ? realloc(w->b1, (size_t)c * sizeof *b) : NULL;
            if (b) w->b1 = b;
            int64_t *d = b ? realloc(w->c0, (size_t)c * sizeof *d) : NULL;
            if (d) w->c0 = d;
            int64_t *e = d ? realloc(w->c1, (size_t)c * sizeof *e) : NULL;
            if (e) w->c1 = e;
            if (!e) return false;
            w->cap = c;
        }
        w->b0[w->n] = i;
        w->c0[w->n] = cp;
        while (i < n && !isspace((unsigned char)s[i])) cp += ((unsigned char)s[i++] & 0xC0) != 0x80;
        w->b1[w->n] = i;
        w->c1[w->n++] = cp;
    }
    return true;
}

/* The first whole-word occurrence of the words of term in the sentence's words:
 * its first and last word index; false when absent. */
static bool words_find(const char *s, const words *w, const char *term, size_t tn, int64_t *first, int64_t *last) {
    words t = {0};
    bool found = false;
    if (!words_split(term, tn, &t)) return false;
    for (int64_t i = 0; t.n && i + t.n <= w->n && !found; i++) {
        found = true;
        for (int64_t k = 0; k < t.n && found; k++) {
            size_t a = w->b1[i + k] - w->b0[i + k], b = t.b1[k] - t.b0[k];
            found = a == b && !memcmp(s + w->b0[i + k], term + t.b0[k], a);
        }
        if (found) *first = i, *last = i + t.n - 1;
    }
    words_free(&t);
    return found;
}

/* Gold built while reading one ABSA line. */
typedef struct absa_gold {
    json_t *aspects, *sentiments, *aspect_spans, *opinion_spans, *tuples;
} absa_gold;

/* The same span: equal offsets, or (both unlocated: a < 0) the same text under key. */
static bool same_span(json_t *o, int64_t a, int64_t b, json_t *text, const char *key) {
    json_t *s = json_object_get(o, "start"), *e = json_object_get(o, "end");
    if (a < 0) return json_is_null(s) && json_equal(json_object_get(o, key), text);
    return json_is_integer(s) && json_integer_value(s) == a && json_integer_value(e) == b;
}

/* A code-point offset, or null for an unlocated term (a < 0). */
static json_t *off(int64_t a) { return a >= 0 ? json_integer(a) : json_null(); }

/* Record an aspect term (text, sentiment; span a..b, or unlocated when a < 0)
 * and, below, an opinion term: the spans are kept once each. */
static bool gold_aspect(absa_gold *g, json_t *text, const char *sent, int64_t a, int64_t b) {
    size_t i;
    json_t *v;
    bool known = false;
    json_array_foreach(g->aspects, i, v) if (json_equal(v, text)) {
        known = true;
        json_t *s = json_array_get(g->sentiments, i);
        if (json_is_string(s) && strcmp(json_string_value(s), sent) && json_array_set_new(g->sentiments, i, json_null()))
            return false;
        break;
    }
    if (!known && (json_array_append(g->aspects, text) || json_array_append_new(g->sentiments, json_string(sent))))
        return false;
    json_array_foreach(g->aspect_spans, i, v) if (same_span(v, a, b, text, "aspect") &&
                                                  !strcmp(json_string_value(json_object_get(v, "sentiment")), sent)) return true;
    return !json_array_append_new(g->aspect_spans, json_pack("{sOsososs}", "aspect", text, "start", off(a), "end",
                                                             off(b), "sentiment", sent));
}

static bool gold_opinion(absa_gold *g, json_t *text, int64_t a, int64_t b) {
    size_t i;
    json_t *v;
    json_array_foreach(g->opinion_spans, i, v) if (same_span(v, a, b, text, "opinion")) return true;
    return !json_array_append_new(g->opinion_spans, json_pack("{sOsoso}", "opinion", text, "start", off(a), "end", off(b)));
}

/* The span of an index list [i, i+1, …] (contiguous, ascending, inside the
 * sentence) as word indices; a message when it is not one. */
static const char *index_span(json_t *l, int64_t nw, int64_t *first, int64_t *last) {
    if (!json_is_array(l) || json_array_size(l) == 0) return "an index list is empty or not a list";
    size_t i;
    json_t *v;
    json_array_foreach(l, i, v) {
        if (!json_is_integer(v)) return "an index is not an integer";
        int64_t k = json_integer_value(v);
        if (k < 0 || k >= nw) return "an index lies outside the sentence";
        if (i == 0) *first = k;
        else if (k != *last + 1) return "an index list is not contiguous and ascending";
        *last = k;
    }
    return NULL;
}

static int absa_next(ds_reader *r, json_t **rec, char **err) {
    const char *s;
    size_t n;
    int got;
    while ((got = next_line(r, &s, &n)) == 1 && blank(s, n)) {}
    if (got <= 0) return got;
    const bool quad = r->fmt == TASK_FORMAT_ASQP;
    json_t *id = json_integer(r->rec++), *lit = NULL;
    if (!id) return oom();
    int64_t at = task_utf8_invalid_at(s, n);
    if (at >= 0) return bad(rec, err, id, r->line, "invalid UTF-8 at byte %lld", (long long)at);
    const char *sep = NULL;
    for (const char *p = s; (p = strstr(p, "####")) != NULL; p++) sep = p; /* the last "####" */
    if (!sep) return bad(rec, err, id, r->line, "no '####' between the sentence and its %s", quad ? "quads" : "triplets");
    const size_t sn = (size_t)(sep - s);
    const char *why;
    if (!(lit = py_parse(sep + 4, n - sn - 4, &why)) || !json_is_array(lit)) {
        json_decref(lit);
        return bad(rec, err, id, r->line, "the %s list does not parse: %s", quad ? "quad" : "triplet",
                   lit ? "not a list" : why);
    }
    words w = {0};
    absa_gold g = {json_array(), json_array(), json_array(), json_array(), json_array()};
    json_t *o = json_object();
    int ret = -1;
    char msg[200] = "";
    if (!o || !g.aspects || !g.sentiments || !g.aspect_spans || !g.opinion_spans || !g.tuples || !words_split(s, sn, &w))
        goto oom;
    size_t k;
    json_t *t;
    json_array_foreach(lit, k, t) {
        if (!json_is_array(t) || json_array_size(t) != (quad ? 4u : 3u)) {
            snprintf(msg, sizeof msg, "%s %zu is not a %s", quad ? "quad" : "triplet", k + 1,
                     quad ? "[aspect, category, sentiment, opinion] list" : "([aspect], [opinion], 'POS') tuple");
            break;
        }
        int64_t a0 = -1, a1 = -1, o0 = -1, o1 = -1;
        json_t *at_, *ot_, *tup;
        const char *sent;
        if (!quad) {
            const char *bad_a = index_span(json_array_get(t, 0), w.n, &a0, &a1);
            const char *bad_o = bad_a ? NULL : index_span(json_array_get(t, 1), w.n, &o0, &o1);
            json_t *sv = json_array_get(t, 2);
            sent = json_is_string(sv) ? sentiment_name(json_string_value(sv)) : NULL;
            if (bad_a || bad_o || !sent) {
                snprintf(msg, sizeof msg, "triplet %zu: %s", k + 1,
                         bad_a ? bad_a : bad_o ? bad_o : "the sentiment is not POS, NEG or NEU");
                break;
            }
            at_ = json_stringn(s + w.b0[a0], w.b1[a1] - w.b0[a0]);
            ot_ = json_stringn(s + w.b0[o0], w.b1[o1] - w.b0[o0]);
        } else {
            json_t *av = json_array_get(t, 0), *cv = json_array_get(t, 1), *sv = json_array_get(t, 2),
                   *ov = json_array_get(t, 3);
            sent = json_is_string(sv) ? sentiment_name(json_string_value(sv)) : NULL;
            if (!json_is_string(av) || !json_is_string(cv) || !json_is_string(ov) || !sent) {
                snprintf(msg, sizeof msg, "quad %zu: %s", k + 1,
                         !sent ? "the sentiment is not positive, negative or neutral" : "a field is not a string");
                break;
            }
            const bool a_null = !strcmp(json_string_value(av), "NULL"), o_null = !strcmp(json_string_value(ov), "NULL");
            if (!a_null) words_find(s, &w, json_string_value(av), json_string_length(av), &a0, &a1);
            if (!o_null) words_find(s, &w, json_string_value(ov), json_string_length(ov), &o0, &o1);
            at_ = a_null ? json_null() : json_incref(av);
            ot_ = o_null ? json_null() : json_incref(ov);
        }
        if (!at_ || !ot_) {
            json_decref(at_), json_decref(ot_);
            goto oom;
        }
        json_t *as = a0 >= 0 ? json_integer(w.c0[a0]) : json_null(), *ae = a0 >= 0 ? json_integer(w.c1[a1]) : json_null(),
               *os = o0 >= 0 ? json_integer(w.c0[o0]) : json_null(), *oe = o0 >= 0 ? json_integer(w.c1[o1]) : json_null();
        if (quad)
            tup = json_pack("{sOsososOsssOsoso}", "aspect", at_, "aspect_start", as, "aspect_end", ae, "category",
                            json_array_get(t, 1), "sentiment", sent, "opinion", ot_, "opinion_start", os, "opinion_end", oe);
        else
            tup = json_pack("{sOsososOsososs}", "aspect", at_, "aspect_start", as, "aspect_end", ae, "opinion", ot_,
                            "opinion_start", os, "opinion_end", oe, "sentiment", sent);
        bool ok = tup && !json_array_append_new(g.tuples, tup) &&
                  (json_is_null(at_) || gold_aspect(&g, at_, sent, a0 >= 0 ? w.c0[a0] : -1, a0 >= 0 ? w.c1[a1] : -1)) &&
                  (json_is_null(ot_) || gold_opinion(&g, ot_, o0 >= 0 ? w.c0[o0] : -1, o0 >= 0 ? w.c1[o1] : -1));
        json_decref(at_), json_decref(ot_);
        if (!ok) goto oom;
    }
    if (msg[0]) {
        ret = bad(rec, err, id, r->line, "%s", msg);
        id = NULL;
        goto done;
    }
    if (json_object_set_new(o, "id", id) || json_object_set_new(o, "text", json_stringn(s, sn)) ||
        json_object_set(o, "aspect", g.aspects) || json_object_set(o, "sentiments", g.sentiments) ||
        json_object_set(o, "aspect_spans", g.aspect_spans) || json_object_set(o, "opinion_spans", g.opinion_spans) ||
        json_object_set(o, quad ? "quads" : "triplets", g.tuples)) {
        id = NULL;
        goto oom;
    }
    id = NULL;
    *rec = o;
    o = NULL;
    ret = 1;
    goto done;
oom:
    ret = oom();
done:
    json_decref(id);
    json_decref(o);
    json_decref(lit);
    json_decref(g.aspects), json_decref(g.sentiments), json_decref(g.aspect_spans), json_decref(g.opinion_spans);
    json_decref(g.tuples);
    words_free(&w);
    return ret;
}

/* ---- ecpe ------------------------------------------------------------------------------------ */

/* "D N": a document header. */
static bool ecpe_header(const char *s, size_t n, int64_t *doc, int64_t *nc) {
    const char *sp = memchr(s, ' ', n);
    return sp && parse_int(s, (size_t)(sp - s), doc) && parse_int(sp + 1, n - (size_t)(sp + 1 - s), nc);
}

static const char CLAUSE_SEP[] = "\xEF\xBC\x8C"; /* "，" between clauses in "text" */

/* One document being read: its fields, the joined text, the first problem. */
typedef struct ecpe_doc {
    json_t *clauses, *emotions, *keywords, *pairs, *ids; /* ids: clause ids (the CSV's; NULL for ecpe) */
    char *text;
    size_t tn, tc;
    char msg[200];
    int64_t msg_line;
} ecpe_doc;

static bool doc_init(ecpe_doc *d, bool ids) {
    memset(d, 0, sizeof *d);
    d->clauses = json_array(), d->emotions = json_array(), d->keywords = json_array();
    d->ids = ids ? json_array() : NULL;
    return d->clauses && d->emotions && d->keywords && (!ids || d->ids);
}

static void doc_free(ecpe_doc *d) {
    json_decref(d->clauses), json_decref(d->emotions), json_decref(d->keywords), json_decref(d->pairs);
    json_decref(d->ids);
    free(d->text);
}

static void doc_fail(ecpe_doc *d, int64_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void doc_fail(ecpe_doc *d, int64_t line, const char *fmt, ...) {
    if (d->msg[0]) return; /* the first problem is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    d->msg_line = line;
}

/* Append a clause (emotion and keyword: the file's fields, "null" meaning none). */
static bool doc_clause(ecpe_doc *d, const char *t, size_t tl, const char *e, size_t el, const char *k, size_t kl) {
    const bool none_e = !e || (el == 4 && !memcmp(e, "null", 4)), none_k = !k || (kl == 4 && !memcmp(k, "null", 4));
    size_t need = d->tn + tl + sizeof CLAUSE_SEP;
    if (need > d->tc) {
        size_t c = d->tc ? d->tc : 256;
        while (c < need) c *= 2;
        char *v = realloc(d->text, c);
        if (!v) return false;
        d->text = v, d->tc = c;
    }
    if (json_array_size(d->clauses)) memcpy(d->text + d->tn, CLAUSE_SEP, sizeof CLAUSE_SEP - 1), d->tn += sizeof CLAUSE_SEP - 1;
    memcpy(d->text + d->tn, t, tl);
    d->tn += tl;
    d->text[d->tn] = '\0';
    return !json_array_append_new(d->clauses, json_stringn(t, tl)) &&
           !json_array_append_new(d->emotions, none_e ? json_null() : json_stringn(e, el)) &&
           !json_array_append_new(d->keywords, none_k ? json_null() : json_stringn(k, kl));
}

/* The record of document id (or its error record): 1, or -1 on OOM. */
static int doc_finish(ds_reader *r, ecpe_doc *d, int64_t id, json_t **rec, char **err) {
    json_t *jid = json_integer(id);
    if (!jid) return oom();
    if (d->msg[0]) return bad(rec, err, jid, d->msg_line, "%s", d->msg);
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", jid) || json_object_set_new(o, "text", json_stringn(d->text ? d->text : "", d->tn)) ||
        json_object_set(o, "clauses", d->clauses) || json_object_set(o, "emotions", d->emotions) ||
        json_object_set(o, "keywords", d->keywords) || json_object_set(o, "pairs", d->pairs) ||
        (d->ids && json_object_set(o, "clause_ids", d->ids))) {
        if (!o) json_decref(jid);
        json_decref(o);
        return oom();
    }
    r->rec++;
    *rec = o;
    return 1;
}

/* Skip to the next document header after a broken one (one error for it all). */
static int ecpe_resync(ds_reader *r, int64_t hl, const char *s, json_t **rec, char **err) {
    char why[120], id[40];
    size_t n;
    int got;
    int64_t d2, n2;
    snprintf(why, sizeof why, "'%.40s' is not a document header 'doc_id n_clauses'", s);
    while ((got = next_line(r, &s, &n)) == 1)
        if (ecpe_header(s, n, &d2, &n2)) {
            if (!hold_line(r, s, n)) return oom();
            break;
        }
    if (got < 0) return -1;
    snprintf(id, sizeof id, "line %lld", (long long)hl);
    json_t *jid = json_string(id);
    return jid ? bad(rec, err, jid, hl, "%s", why) : oom();
}

static int ecpe_next(ds_reader *r, json_t **rec, char **err) {
    const char *s;
    size_t n;
    int got;
    while ((got = next_line(r, &s, &n)) == 1 && blank(s, n)) {}
    if (got <= 0) return got;
    int64_t doc, nc, hl = r->line;
    if (!ecpe_header(s, n, &doc, &nc) || nc < 1 || nc > 100000) return ecpe_resync(r, hl, s, rec, err);
    ecpe_doc d;
    int ret = -1;
    if (!doc_init(&d, false)) goto oom;
    if ((got = next_line(r, &s, &n)) < 0) goto done;
    if (got == 0) {
        doc_fail(&d, hl, "the file ends before the pair list");
    } else {
        const char *why;
        char *lit = malloc(n + 3);
        if (!lit) goto oom;
        snprintf(lit, n + 3, "[%.*s]", (int)n, s);
        d.pairs = py_parse(lit, n + 2, &why);
        free(lit);
        size_t k;
        json_t *p;
        if (!d.pairs) doc_fail(&d, r->line, "the pair list does not parse: %s", why);
        else json_array_foreach(d.pairs, k, p) {
            json_t *e = json_array_get(p, 0), *c = json_array_get(p, 1);
            if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_integer(e) || !json_is_integer(c) ||
                json_integer_value(e) < 1 || json_integer_value(e) > nc || json_integer_value(c) < 1 ||
                json_integer_value(c) > nc) {
                doc_fail(&d, r->line, "pair %zu is not (emotion clause, cause clause) within 1..%lld", k + 1, (long long)nc);
                break;
            }
        }
    }
    for (int64_t i = 0; i < nc && got == 1; i++) {
        if ((got = next_line(r, &s, &n)) < 0) goto done;
        if (got == 0) {
            doc_fail(&d, r->line, "the file ends after %lld of %lld clauses", (long long)i, (long long)nc);
            break;
        }
        const char *f[4];
        size_t fl[4];
        int k = split(s, n, ',', f, fl, 4);
        int64_t no, d2, n2;
        if (ecpe_header(s, n, &d2, &n2)) { /* the next document already: stop here */
            if (!hold_line(r, s, n)) goto oom;
            doc_fail(&d, r->line, "document %lld has %lld of its %lld clauses", (long long)doc, (long long)i, (long long)nc);
            break;
        }
        int64_t at = task_utf8_invalid_at(s, n);
        if (at >= 0) doc_fail(&d, r->line, "invalid UTF-8 at byte %lld", (long long)at);
        else if (k < 4 || !parse_int(f[0], fl[0], &no) || no != i + 1)
            doc_fail(&d, r->line, "expected clause %lld as 'k,emotion,keyword,text'", (long long)i + 1);
        else if (!doc_clause(&d, f[3], n - (size_t)(f[3] - s), f[1], fl[1], f[2], fl[2])) /* the text keeps its commas */
            goto oom;
    }
    ret = doc_finish(r, &d, doc, rec, err);
    goto done;
oom:
    ret = oom();
done:
    doc_free(&d);
    return ret;
}

/* clause_keywords.csv: "doc,clause,keyword,position,yes|no,text" rows, one
 * document's rows contiguous, clause ids ascending (the corpus skips some). */
static int ecpe_csv_next(ds_reader *r, json_t **rec, char **err) {
    const char *s;
    size_t n;
    int got, ret = -1;
    int64_t doc = -1, first = 0, emo = 0, c0 = 0, prev = 0;
    ecpe_doc d;
    if (!doc_init(&d, true) || !(d.pairs = json_array())) goto oom;
    while ((got = next_line(r, &s, &n)) == 1) {
        if (blank(s, n)) continue;
        const char *f[6];
        size_t fl[6];
        int k = split(s, n, ',', f, fl, 6);
        int64_t dd, c, pos;
        bool ok = k >= 6 && parse_int(f[0], fl[0], &dd) && parse_int(f[1], fl[1], &c) && parse_int(f[3], fl[3], &pos) &&
                  ((fl[4] == 3 && !memcmp(f[4], "yes", 3)) || (fl[4] == 2 && !memcmp(f[4], "no", 2)));
        if (first && (!ok || dd != doc)) {
            if (!hold_line(r, s, n)) goto oom;
            break;
        }
        if (!ok) {
            char idb[40];
            snprintf(idb, sizeof idb, "line %lld", (long long)r->line);
            json_t *jid = json_string(idb);
            ret = jid ? bad(rec, err, jid, r->line, "expected 'doc,clause,keyword,position,yes|no,text'") : oom();
            goto done;
        }
        if (!first) first = r->line, doc = dd, c0 = c;
        int64_t at = task_utf8_invalid_at(s, n);
        if (at >= 0) doc_fail(&d, r->line, "invalid UTF-8 at byte %lld", (long long)at);
        else if (c <= prev) doc_fail(&d, r->line, "clause %lld after clause %lld (ids must ascend)", (long long)c, (long long)prev);
        else if ((emo && emo != c - pos) || c - pos < 1)
            doc_fail(&d, r->line, "position %lld disagrees with the document's emotion clause", (long long)pos);
        if (d.msg[0]) continue;
        emo = c - pos;
        prev = c;
        if (!doc_clause(&d, f[5], n - (size_t)(f[5] - s), NULL, 0, pos == 0 ? f[2] : NULL, fl[2]) ||
            json_array_append_new(d.ids, json_integer(c)) ||
            (fl[4] == 3 && json_array_append_new(d.pairs, json_pack("[II]", (json_int_t)0, (json_int_t)c))))
            goto oom;
    }
    if (got < 0) goto done;
    if (!first) {
        ret = 0;
        goto done;
    }
    if (emo < c0 || emo > prev)
        doc_fail(&d, first, "the emotion clause %lld lies outside the document's clauses %lld..%lld", (long long)emo,
                 (long long)c0, (long long)prev);
    size_t i;
    json_t *p;
    json_array_foreach(d.pairs, i, p) json_array_set_new(p, 0, json_integer(emo)); /* known once all rows are read */
    ret = doc_finish(r, &d, doc, rec, err);
    goto done;
oom:
    ret = oom();
done:
    doc_free(&d);
    return ret;
}

/* ---- opening, detection, the record source --------------------------------------------------- */

static int ds_next(void *ctx, json_t **rec, char **err) {
    ds_reader *r = ctx;
    *rec = NULL;
    *err = NULL;
    switch (r->fmt) {
    case TASK_FORMAT_TSV: return tsv_next(r, rec, err);
    case TASK_FORMAT_TWEETEVAL: return tweeteval_next(r, rec, err);
    case TASK_FORMAT_MELD: return meld_next(r, rec, err);
    case TASK_FORMAT_ASTE:
    case TASK_FORMAT_ASQP: return absa_next(r, rec, err);
    case TASK_FORMAT_ECPE: return ecpe_next(r, rec, err);
    case TASK_FORMAT_ECPE_CSV: return ecpe_csv_next(r, rec, err);
    default: senti_error(SENTI_ERR_INVALID_ARG, "dataset reader: format %s has no reader", task_format_name(r->fmt));
        return -1;
    }
}

static ds_reader *ds_open(FILE *f, const char *path, task_format fmt) {
    ds_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path ? path : "input"))) {
        free(r);
        senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    r->f = f;
    r->fmt = fmt;
    senti_status st = SENTI_OK;
    if (fmt == TASK_FORMAT_TSV) st = tsv_open(r);
    else if (fmt == TASK_FORMAT_TWEETEVAL) st = tweeteval_open(r);
    else if (fmt == TASK_FORMAT_MELD) st = meld_open(r);
    else if (fmt < TASK_FORMAT_TSV || fmt >= TASK_FORMAT_COUNT)
        st = senti_error(SENTI_ERR_INVALID_ARG, "%s: format %s has no dataset reader", r->path, task_format_name(fmt));
    if (st != SENTI_OK) {
        ds_free(r);
        return NULL;
    }
    return r;
}

task_source *task_source_dataset(FILE *f, const char *path, task_format fmt) {
    if (fmt == TASK_FORMAT_LINES || fmt == TASK_FORMAT_JSONL || fmt == TASK_FORMAT_AUTO) {
        task_source *s = task_source_file(f, path);
        if (!s) senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        else if (fmt != TASK_FORMAT_AUTO) task_source_jsonl(s, fmt == TASK_FORMAT_JSONL); /* as asked, not detected */
        return s;
    }
    ds_reader *r = ds_open(f, path, fmt);
    if (!r) return NULL;
    task_source *s = task_source_reader(ds_next, ds_free, r, r->path);
    if (!s) {
        ds_free(r);
        senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    }
    return s;
}

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static task_format detect_lines(const char *l1, size_t n1, const char *l2, size_t n2) {
    size_t i = 0;
    while (i < n1 && (l1[i] == ' ' || l1[i] == '\t')) i++;
    if (i < n1 && l1[i] == '{') return TASK_FORMAT_JSONL;
    const char *sep = NULL;
    for (const char *p = l1; (p = memmem(p, n1 - (size_t)(p - l1), "####", 4)) != NULL; p++) sep = p;
    if (sep) {
        const char *q = sep + 4;
        while (q < l1 + n1 && *q == ' ') q++;
        if (l1 + n1 - q >= 2 && q[0] == '[') {
            const char *c = q + 1;
            while (c < l1 + n1 && *c == ' ') c++;
            if (c < l1 + n1 && *c == '(') return TASK_FORMAT_ASTE;
            if (c < l1 + n1 && *c == '[') return TASK_FORMAT_ASQP;
        }
    }
    const char *f[MAX_COLS];
    size_t fl[MAX_COLS];
    int k = memchr(l1, '\t', n1) ? split(l1, n1, '\t', f, fl, MAX_COLS) : 0;
    bool label = false, text = false;
    for (int c = 0; c < k && c < MAX_COLS; c++) {
        label |= fl[c] == 5 && !memcmp(f[c], "label", 5);
        text |= (fl[c] == 8 && !memcmp(f[c], "sentence", 8)) || (fl[c] == 4 && !memcmp(f[c], "text", 4)) ||
                (fl[c] == 9 && !memcmp(f[c], "sentence1", 9));
    }
    if (label && text) return TASK_FORMAT_TSV;
    if (memmem(l1, n1, "Dialogue_ID", 11) && memmem(l1, n1, "Utterance", 9)) return TASK_FORMAT_MELD;
    int64_t a, b;
    if (ecpe_header(l1, n1, &a, &b) && l2) {
        size_t j = 0;
        while (j < n2 && l2[j] == ' ') j++;
        if (j < n2 && l2[j] == '(') return TASK_FORMAT_ECPE;
    }
    k = split(l1, n1, ',', f, fl, 6);
    if (k >= 6 && parse_int(f[0], fl[0], &a) && parse_int(f[1], fl[1], &a) && parse_int(f[3], fl[3], &a) &&
        ((fl[4] == 3 && !memcmp(f[4], "yes", 3)) || (fl[4] == 2 && !memcmp(f[4], "no", 2))))
        return TASK_FORMAT_ECPE_CSV;
    return TASK_FORMAT_LINES;
}

/* The next line of f, like getline, but keeping at most its first max bytes
 * (the rest is read through): detection looks at a line's start only, and a
 * first "line" of gigabytes must not be held. */
static ssize_t getline_head(char **buf, size_t *cap, FILE *f, size_t max, bool *cut) {
    if (!*buf || *cap < max + 1) {
        char *b = realloc(*buf, max + 1);
        if (!b) return -1;
        *buf = b;
        *cap = max + 1;
    }
    size_t n = 0;
    int64_t total = 0;
    int c;
    *cut = false;
    flockfile(f);
    while ((c = getc_unlocked(f)) != EOF) {
        total++;
        if (n == max) { /* its head is all that is looked at: the rest is not read (it may never end) */
            *cut = true;
            break;
        }
        (*buf)[n++] = (char)c;
        if (c == '\n') break;
    }
    funlockfile(f);
    (*buf)[n] = '\0';
    return total > 0 ? (ssize_t)n : -1;
}

senti_status task_format_detect(const char *path, FILE *f, task_format *out) {
    *out = TASK_FORMAT_LINES;
    if (path && ends_with(path, "_text.txt")) {
        size_t n = strlen(path);
        char *p = malloc(n + 8);
        if (!p) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        snprintf(p, n + 8, "%.*s_labels.txt", (int)(n - 9), path);
        bool tw = file_exists(p);
        free(p);
        if (tw) {
            *out = TASK_FORMAT_TWEETEVAL;
            return SENTI_OK;
        }
    }
    long pos = ftell(f);
    if (pos < 0) { /* a pipe (a FIFO, /dev/stdin, <(…)): plain text or JSONL, as the runner finds from its first line */
        *out = TASK_FORMAT_AUTO;
        return SENTI_OK;
    }
    char *l[2] = {NULL, NULL};
    size_t cap[2] = {0, 0}, len[2] = {0, 0};
    int have = 0;
    for (bool cut = false; have < 2 && !cut;) { /* (a line longer than the head: it alone decides) */
        ssize_t got = getline_head(&l[have], &cap[have], f, 1 << 16, &cut);
        if (got < 0) break;
        size_t k = chomp(l[have], (size_t)got);
        if (have == 0 && k >= 3 && !memcmp(l[0], "\xEF\xBB\xBF", 3)) memmove(l[0], l[0] + 3, k -= 3);
        if (blank(l[have], k)) continue;
        len[have++] = k;
    }
    senti_status st = SENTI_OK;
    if (ferror(f)) st = senti_error(SENTI_ERR_IO, "%s: read failed: %s", path ? path : "input", strerror(errno));
    else if (have > 0) *out = detect_lines(l[0], len[0], have > 1 ? l[1] : NULL, len[1]);
    clearerr(f);
    if (st == SENTI_OK && fseek(f, pos, SEEK_SET) != 0)
        st = senti_error(SENTI_ERR_IO, "%s: cannot seek back: %s", path ? path : "input", strerror(errno));
    free(l[0]);
    free(l[1]);
    return st;
}

/* ---- whole files, for senti eval -------------------------------------------------------------- */

senti_status task_dataset_read(const char *path, task_format fmt, json_t **records, task_format *used) {
    *records = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return senti_error(SENTI_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    senti_status st = fmt == TASK_FORMAT_AUTO ? task_format_detect(path, f, &fmt) : SENTI_OK;
    json_t *all = json_array();
    ds_reader *r = NULL;
    char *line = NULL;
    size_t cap = 0;
    if (used) *used = fmt;
    if (st != SENTI_OK) goto done;
    if (fmt == TASK_FORMAT_AUTO) {
        st = senti_error(SENTI_ERR_INVALID_ARG, "%s: a pipe's format cannot be detected before reading it: give "
                         "--format", path);
        goto done;
    }
    if (!all) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if (fmt == TASK_FORMAT_LINES) {
        st = senti_error(SENTI_ERR_INVALID_ARG, "%s: plain text lines carry no gold labels: give a labelled format "
                         "(--format tsv|tweeteval|meld|aste|asqp|ecpe|ecpe-csv|jsonl)", path);
        goto done;
    }
    if (fmt == TASK_FORMAT_JSONL) {
        ssize_t got;
        for (int64_t ln = 0; (got = getline(&line, &cap, f)) >= 0; ln++) {
            size_t n = chomp(line, (size_t)got);
            if (blank(line, n)) continue;
            json_error_t je;
            const int64_t bad_at = task_utf8_invalid_at(line, n);
            json_t *o = bad_at < 0 ? json_loadb(line, n, JSON_REJECT_DUPLICATES, &je) : NULL;
            if (!json_is_object(o)) {
                char msg[240];
                if (bad_at >= 0) snprintf(msg, sizeof msg, "line %lld: invalid UTF-8 at byte %lld", (long long)ln + 1,
                                          (long long)bad_at + 1);
                else snprintf(msg, sizeof msg, "line %lld: %s", (long long)ln + 1, o ? "not a JSON object" : je.text);
                senti_utf8_scrub(msg, strlen(msg));
                json_decref(o);
                o = json_pack("{sIss}", "id", (json_int_t)ln, "error", msg);
            } else if (!json_object_get(o, "id") && json_object_set_new(o, "id", json_integer(ln))) {
                json_decref(o);
                o = NULL;
            }
            if (!o || json_array_append_new(all, o)) {
                st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
                goto done;
            }
        }
        if (ferror(f)) st = senti_error(SENTI_ERR_IO, "%s: read failed", path);
        goto done;
    }
    if (!(r = ds_open(f, path, fmt))) {
        st = SENTI_ERR_BAD_FILE;
        goto done;
    }
    for (;;) {
        json_t *o;
        char *err;
        int got = ds_next(r, &o, &err);
        if (got < 0) {
            st = SENTI_ERR_IO;
            break;
        }
        if (got == 0) break;
        if (err && json_object_set_new(o, "error", json_string(err))) got = -1;
        free(err);
        if (got < 0) json_decref(o);
        if (got < 0 || json_array_append_new(all, o)) {
            st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
            break;
        }
    }
done:
    ds_free(r);
    free(line);
    fclose(f);
    if (st != SENTI_OK) json_decref(all);
    else *records = all;
    return st;
}
