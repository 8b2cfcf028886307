/* extract.c — generative extraction: InstructABSA-style prompts, a forgiving
 * parser of what LLMs really write, grounding of terms to code-point offsets,
 * and constrained decoding that makes the output parse by construction.
 *
 * Output format asked for (and forced by --constrained), per schema:
 *   aspect / opinion  [term, term]
 *   aesc              [(aspect, sentiment), …]
 *   pair              [(aspect, opinion), …]
 *   triplet           [(aspect, opinion, sentiment), …]
 *   quad              [(aspect, category, opinion, sentiment), …]
 * The parser also takes markdown fences, prose around the list, quotes of
 * either kind, JSON-style nested lists and {"aspect": …} objects, trailing
 * commas, missing closing brackets, NULL/none entries and sentiment synonyms.
 * It never fails: unparseable output is an empty list plus "raw" and "warning". */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <utf8proc.h>

#include "../core/core.h"
#include "llm.h"

static const char *SCHEMA_NAMES[LLM_SCHEMA_COUNT] = {"aspect", "opinion", "aesc", "pair", "triplet", "quad",
                                                     "cause-pair", "event"};

llm_schema llm_schema_from_name(const char *name) {
    for (int i = 0; i < LLM_SCHEMA_COUNT; i++)
        if (name && strcmp(name, SCHEMA_NAMES[i]) == 0) return (llm_schema)i;
    return LLM_SCHEMA_COUNT;
}

const char *llm_schema_name(llm_schema s) { return s < LLM_SCHEMA_COUNT ? SCHEMA_NAMES[s] : "?"; }

/* Field roles of each schema's tuple. */
enum { F_ASP = 'A', F_OPN = 'O', F_SEN = 'S', F_CAT = 'C', F_EMO = 'E', F_CAU = 'K', F_TRG = 'T', F_SUB = 'U',
       F_OBJ = 'J', F_TIM = 'M', F_LOC = 'L' };
static const char *ROLES[LLM_SCHEMA_COUNT] = {"A", "O", "AS", "AO", "AOS", "ACOS", "EK", "TUJMLS"};

/* ---- grounding ---------------------------------------------------------------------- */

/* Lowercased, whitespace-collapsed code points of s with, per code point, the
 * original code-point index. */
typedef struct normtext { int32_t *cp, *orig, *at; int64_t n; } normtext;

static bool norm_text(const char *s, size_t len, bool trim, normtext *o) {
    o->cp = senti_malloc((len + 1) * sizeof(int32_t));
    o->at = senti_malloc((len + 1) * sizeof(int32_t));
    o->orig = senti_malloc((len + 1) * sizeof(int32_t));
    o->n = 0;
    if (!o->cp || !o->at || !o->orig) return false;
    size_t i = 0;
    int32_t idx = 0;
    bool space = false;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0) { /* not valid UTF-8: take the byte as is */
            c = (unsigned char)s[i];
            k = 1;
        }
        bool ws = c == ' ' || c == '\t' || c == '\n' || c == '\r' || utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
        if (ws) {
            if (!space) o->cp[o->n] = o->orig[o->n] = ' ', o->at[o->n++] = idx;
            space = true;
        } else {
            o->cp[o->n] = utf8proc_tolower(c);
            o->orig[o->n] = c;
            o->at[o->n++] = idx;
            space = false;
        }
        i += (size_t)k;
        idx++;
    }
    if (trim) {
        int64_t a = 0;
        while (a < o->n && o->cp[a] == ' ') a++;
        memmove(o->cp, o->cp + a, (size_t)(o->n - a) * sizeof(int32_t));
        memmove(o->at, o->at + a, (size_t)(o->n - a) * sizeof(int32_t));
        memmove(o->orig, o->orig + a, (size_t)(o->n - a) * sizeof(int32_t));
        o->n -= a;
        while (o->n > 0 && o->cp[o->n - 1] == ' ') o->n--;
    }
    return true;
}

static void norm_free(normtext *t) {
    senti_mfree(t->orig);
    senti_mfree(t->cp);
    senti_mfree(t->at);
}

static bool is_word_cp(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) ||
           (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME);
}

/* Of all case-insensitive, whitespace-collapsed matches of term in text, the
 * best: a match on word boundaries before one inside a word, then the same
 * case before a different case, then the first. */
bool llm_ground(const char *text, size_t len, const char *term, size_t tlen, int64_t *start, int64_t *end) {
    normtext a = {0}, b = {0};
    int best = 4;
    if (norm_text(text, len, false, &a) && norm_text(term, tlen, true, &b) && b.n > 0) {
        for (int64_t i = 0; i + b.n <= a.n && best > 0; i++) {
            if (memcmp(a.cp + i, b.cp, (size_t)b.n * sizeof(int32_t)) != 0) continue;
            const bool exact = memcmp(a.orig + i, b.orig, (size_t)b.n * sizeof(int32_t)) == 0;
            const bool bound = (i == 0 || !is_word_cp(a.cp[i - 1]) || !is_word_cp(b.cp[0])) &&
                               (i + b.n == a.n || !is_word_cp(a.cp[i + b.n]) || !is_word_cp(b.cp[b.n - 1]));
            const int rank = (bound ? 0 : 2) + (exact ? 0 : 1);
            if (rank >= best) continue;
            best = rank;
            /* the term is trimmed: its first and last code points are not spaces,
             * and each of those stands for exactly one original code point */
            *start = a.at[i];
            *end = (int64_t)a.at[i + b.n - 1] + 1;
        }
    }
    norm_free(&a);
    norm_free(&b);
    return best < 4;
}

/* ---- sentiment words ------------------------------------------------------------------ */

/* positive / negative / neutral for a sentiment word or synonym, NULL if none. */
static const char *norm_sentiment(const char *s, size_t n) {
    char w[32];
    size_t k = 0;
    while (n && !isalnum((unsigned char)*s) && *s != '+' && *s != '-') s++, n--;
    while (n && !isalnum((unsigned char)s[n - 1]) && s[n - 1] != '+' && s[n - 1] != '-') n--;
    if (n == 0 || n >= sizeof w) return NULL;
    for (; k < n; k++) w[k] = (char)tolower((unsigned char)s[k]);
    w[k] = '\0';
    static const char *pos[] = {"positive", "pos", "positively", "+", "+1", "favorable", "favourable", "good", NULL};
    static const char *neg[] = {"negative", "neg", "negatively", "-", "-1", "unfavorable", "unfavourable", "bad", NULL};
    static const char *neu[] = {"neutral", "neu", "neut", "mixed", "conflict", "0", NULL};
    for (int i = 0; pos[i]; i++)
        if (strcmp(w, pos[i]) == 0) return "positive";
    for (int i = 0; neg[i]; i++)
        if (strcmp(w, neg[i]) == 0) return "negative";
    for (int i = 0; neu[i]; i++)
        if (strcmp(w, neu[i]) == 0) return "neutral";
    return NULL;
}

static bool is_null_word(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    static const char *w[] = {"null", "none", "n/a", "na", "nan", "nil", "-", "noaspectterm", "noaspectterm:none",
                              "no aspect", "no opinion", "", NULL};
    for (int i = 0; w[i]; i++)
        if (strlen(w[i]) == n && strncasecmp(s, w[i], n) == 0) return true;
    return false;
}

/* ---- the scanner: raw text -> tuples of fields ------------------------------------------ */

#define MAX_FIELDS 6

typedef struct tuple {
    char *f[MAX_FIELDS]; /* senti_malloc'd; NULL: a null entry */
    char key[MAX_FIELDS]; /* role letter from an object key, or 0 */
    int n;
} tuple;

typedef struct scan {
    const char *s;
    size_t n, i;
    tuple *t;
    int64_t nt, cap;
    bool oom;
    llm_schema schema; /* which keys name which roles */
} scan;

static void tuple_free(tuple *t) {
    for (int i = 0; i < t->n; i++) senti_mfree(t->f[i]);
}

static bool at_end(const scan *c) { return c->i >= c->n; }

static void skip_space(scan *c) {
    while (!at_end(c) && isspace((unsigned char)c->s[c->i])) c->i++;
}

/* Quote characters: ' " ` and the typographic ‘ ’ “ ”. Returns the byte
 * length of a quote at s[i] (0 if none). */
static size_t quote_at(const char *s, size_t n, size_t i) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\'' || c == '"' || c == '`') return 1;
    if (c == 0xE2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80) {
        unsigned char d = (unsigned char)s[i + 2];
        if (d == 0x98 || d == 0x99 || d == 0x9C || d == 0x9D) return 3;
    }
    return 0;
}

/* After position j (past a closing quote), is the next non-space char a
 * delimiter (or the end)? */
static bool delim_follows(const scan *c, size_t j, const char *delims) {
    while (j < c->n && (c->s[j] == ' ' || c->s[j] == '\t')) j++;
    return j >= c->n || strchr(delims, c->s[j]) || c->s[j] == '\n';
}

/* One field value: a quoted string (its closing quote is one followed by a
 * delimiter, so apostrophes inside survive) or bare text up to a delimiter. */
static char *read_value(scan *c, const char *delims) {
    skip_space(c);
    size_t q = at_end(c) ? 0 : quote_at(c->s, c->n, c->i);
    llm_buf b = {0};
    if (q) {
        size_t j = c->i + q;
        for (; j < c->n; j++) {
            if (c->s[j] == '\\' && j + 1 < c->n) {
                j++;
                char e = c->s[j] == 'n' ? ' ' : c->s[j];
                llm_buf_put(&b, &e, 1);
                continue;
            }
            size_t qq = quote_at(c->s, c->n, j);
            if (qq && delim_follows(c, j + qq, delims)) {
                j += qq;
                break;
            }
            if (c->s[j] == '\n') break; /* an unclosed quote ends with its line */
            llm_buf_put(&b, c->s + j, 1);
        }
        c->i = j;
    } else {
        size_t j = c->i;
        while (j < c->n && !strchr(delims, c->s[j]) && c->s[j] != '\n') j++;
        size_t e = j;
        while (e > c->i && isspace((unsigned char)c->s[e - 1])) e--;
        llm_buf_put(&b, c->s + c->i, e - c->i);
        c->i = j;
    }
    if (!b.p && !b.oom) llm_buf_put(&b, "", 0);
    if (b.oom) {
        senti_mfree(b.p);
        c->oom = true;
        return NULL;
    }
    /* trim */
    size_t a = 0, n = b.n;
    while (a < n && isspace((unsigned char)b.p[a])) a++;
    while (n > a && isspace((unsigned char)b.p[n - 1])) n--;
    memmove(b.p, b.p + a, n - a);
    b.p[n - a] = '\0';
    return b.p;
}

static tuple *new_tuple(scan *c) {
    if (c->nt == c->cap) {
        int64_t cap = c->cap * 2 + 8;
        tuple *t = senti_calloc((size_t)cap, sizeof *t);
        if (!t) {
            c->oom = true;
            return NULL;
        }
        if (c->t) memcpy(t, c->t, (size_t)c->nt * sizeof *t);
        senti_mfree(c->t);
        c->t = t;
        c->cap = cap;
    }
    tuple *t = &c->t[c->nt++];
    memset(t, 0, sizeof *t);
    return t;
}

static void add_field(scan *c, tuple *t, char *v, char key) {
    if (!v) return;
    if (t->n == MAX_FIELDS) {
        senti_mfree(v);
        return;
    }
    t->key[t->n] = key;
    t->f[t->n++] = v;
}

/* A tuple: ( or [ … up to the matching ) / ], a new '(' (missing close) or the end. */
static void read_tuple(scan *c, char close) {
    tuple *t = new_tuple(c);
    if (!t) return;
    c->i++; /* the opener */
    char delims[4] = {',', close, close == ')' ? ']' : ')', 0};
    for (;;) {
        skip_space(c);
        if (at_end(c)) return;
        char ch = c->s[c->i];
        if (ch == ']' && close != ']') return; /* the list ends an unclosed tuple: read_items stops there */
        if (ch == close || ch == ')') {
            c->i++;
            return;
        }
        if (ch == ',') {
            c->i++;
            continue;
        }
        if (ch == '(' && t->n > 0) return; /* the next tuple began: this one was not closed */
        size_t before = c->i;
        add_field(c, t, read_value(c, delims), 0);
        if (c->oom) return;
        if (c->i == before) c->i++; /* no progress: skip the char */
    }
}

/* Which role a JSON-ish key names. */
static char key_role(const char *k, llm_schema schema) {
    char w[32];
    size_t n = strlen(k), j = 0;
    for (size_t i = 0; i < n && j + 1 < sizeof w; i++)
        if (isalpha((unsigned char)k[i])) w[j++] = (char)tolower((unsigned char)k[i]);
    w[j] = '\0';
    if (schema == LLM_SCHEMA_CAUSE_PAIR) {
        if (strstr(w, "emotion")) return F_EMO;
        if (strstr(w, "cause")) return F_CAU;
        return 0;
    }
    if (schema == LLM_SCHEMA_EVENT) {
        if (strstr(w, "trigger") || strcmp(w, "event") == 0) return F_TRG;
        if (strstr(w, "subject") || strstr(w, "agent") || strstr(w, "holder")) return F_SUB;
        if (strstr(w, "object") || strstr(w, "target") || strstr(w, "patient")) return F_OBJ;
        if (strstr(w, "time") || strstr(w, "date") || strcmp(w, "when") == 0) return F_TIM;
        if (strstr(w, "location") || strstr(w, "place") || strcmp(w, "where") == 0) return F_LOC;
        if (strstr(w, "polarity") || strstr(w, "sentiment")) return F_SEN;
        return 0;
    }
    if (strstr(w, "aspect") || strstr(w, "target") || strcmp(w, "term") == 0 || strstr(w, "entity")) return F_ASP;
    if (strstr(w, "opinion")) return F_OPN;
    if (strstr(w, "sentiment") || strstr(w, "polarity") || strstr(w, "label")) return F_SEN;
    if (strstr(w, "categor")) return F_CAT;
    return 0;
}

/* An object {key: value, …}: values keep the role their key names. */
static void read_object(scan *c) {
    tuple *t = new_tuple(c);
    if (!t) return;
    c->i++;
    for (;;) {
        skip_space(c);
        if (at_end(c)) return;
        char ch = c->s[c->i];
        if (ch == '}' || ch == ']') {
            c->i += ch == '}';
            return;
        }
        if (ch == ',') {
            c->i++;
            continue;
        }
        size_t before = c->i;
        char *k = read_value(c, ":,}");
        if (c->oom) return;
        skip_space(c);
        if (!at_end(c) && c->s[c->i] == ':') {
            c->i++;
            char *v = read_value(c, ",}]");
            if (c->oom) {
                senti_mfree(k);
                return;
            }
            char r = key_role(k, c->schema);
            if (r) add_field(c, t, v, r);
            else senti_mfree(v);
        }
        senti_mfree(k);
        if (c->i == before) c->i++;
    }
}

/* Items of a list from c->i (just past '[': bracketed, or at the first '(' of
 * tuples written without a list, where text between them is prose) to its
 * ']' or the end. */
static void read_items(scan *c, bool bracketed) {
    for (;;) {
        skip_space(c);
        if (at_end(c) || c->oom) return;
        char ch = c->s[c->i];
        if (ch == ']' && bracketed) return;
        if (ch == ',' || ch == ';') {
            c->i++;
            continue;
        }
        if (ch == '(' || ch == '[') read_tuple(c, ch == '(' ? ')' : ']');
        else if (ch == '{') read_object(c);
        else if (!bracketed) c->i++;
        else {
            size_t before = c->i;
            tuple *t = new_tuple(c);
            if (t) add_field(c, t, read_value(c, ",]"), 0);
            if (c->i == before) c->i++;
        }
    }
}

/* The part of raw that holds the answer: inside a ``` fence when there is one. */
static void unfence(const char **s, size_t *n) {
    const char *p = *s, *e = p + *n;
    const char *f = NULL;
    for (const char *q = p; q + 3 <= e; q++)
        if (q[0] == '`' && q[1] == '`' && q[2] == '`') {
            f = q;
            break;
        }
    if (!f) return;
    const char *b = f + 3;
    while (b < e && *b != '\n' && (isalnum((unsigned char)*b) || *b == '_' || *b == '-')) b++; /* language tag */
    const char *end = e;
    for (const char *q = b; q + 3 <= e; q++)
        if (q[0] == '`' && q[1] == '`' && q[2] == '`') {
            end = q;
            break;
        }
    *s = b;
    *n = (size_t)(end - b);
}

/* ---- tuples -> result ------------------------------------------------------------------------- */

static void warn(llm_buf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(llm_buf *w, const char *fmt, ...) {
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (w->n) llm_buf_puts(w, "; ");
    llm_buf_puts(w, m);
}

/* Assign t's fields to the schema's roles: keyed fields go by key; else the
 * sentiment is whichever field reads as one (the last such), and the other
 * fields fill the remaining roles in order. out[r] borrowed from t (NULL: none). */
static void assign(const char *roles, const tuple *t, const char **out, llm_buf *w) {
    int nr = (int)strlen(roles);
    for (int r = 0; r < nr; r++) out[r] = NULL;
    bool keyed = false;
    for (int i = 0; i < t->n; i++) keyed |= t->key[i] != 0;
    if (keyed) {
        for (int i = 0; i < t->n; i++)
            for (int r = 0; r < nr; r++)
                if (roles[r] == t->key[i] && !out[r]) {
                    out[r] = t->f[i];
                    break;
                }
        return;
    }
    int s_role = -1, s_field = -1;
    for (int r = 0; r < nr; r++)
        if (roles[r] == F_SEN) s_role = r;
    if (s_role >= 0) {
        for (int i = t->n - 1; i >= 0 && s_field < 0; i--)
            if (norm_sentiment(t->f[i], strlen(t->f[i]))) s_field = i;
        if (s_field < 0 && t->n >= nr) s_field = s_role < t->n ? s_role : t->n - 1; /* an unknown word in its place */
        if (s_field >= 0) out[s_role] = t->f[s_field];
    }
    int r = 0;
    for (int i = 0; i < t->n; i++) {
        if (i == s_field) continue;
        while (r < nr && (r == s_role)) r++;
        if (r >= nr) {
            warn(w, "extra field '%s' ignored", t->f[i]);
            break;
        }
        out[r++] = t->f[i];
    }
}

/* {"<prefix>": term|null, "<prefix>_start", "<prefix>_end"} or the span keys.
 * A grounded term is written as the text has it (its span: the case and
 * spacing of the input, where the model's may differ), so text[start:end]
 * is the term. */
static void put_term(json_t *o, const char *key, const char *skey, const char *ekey, const char *term,
                     const char *text, size_t len, llm_buf *w) {
    int64_t a, b;
    bool null = !term || is_null_word(term, strlen(term));
    const bool found = !null && llm_ground(text, len, term, strlen(term), &a, &b);
    if (found) {
        const size_t x = task_cp_byte(NULL, text, len, a), y = task_cp_byte(NULL, text, len, b);
        json_object_set_new(o, key, json_stringn(text + x, y - x));
    } else {
        json_object_set_new(o, key, null ? json_null() : json_string(term));
    }
    if (found) {
        json_object_set_new(o, skey, json_integer(a));
        json_object_set_new(o, ekey, json_integer(b));
    } else {
        if (!null) warn(w, "'%s' is not in the text", term);
        json_object_set_new(o, skey, json_null());
        json_object_set_new(o, ekey, json_null());
    }
}

/* InstructABSA's flat answer: items split by ',' (or newlines), fields by ':'. */
static void read_flat(scan *c) {
    while (!at_end(c) && !c->oom) {
        const size_t before = c->i;
        tuple *t = new_tuple(c);
        if (!t) return;
        for (;;) {
            add_field(c, t, read_value(c, ":,"), 0);
            if (at_end(c) || c->s[c->i] != ':') break;
            c->i++;
        }
        if (!at_end(c) && (c->s[c->i] == ',' || c->s[c->i] == '\n')) c->i++;
        if (c->i == before) c->i++;
    }
}

/* Scan raw into c's tuples (each split and assigned to the schema's roles
 * by the caller; flat: InstructABSA's "a:b, c:d" answers too); false when no
 * list is found (a warning in w). */
static bool scan_output(llm_schema schema, const char *raw, size_t raw_len, scan *c, llm_buf *wb, bool flat) {
    const char *s = raw;
    size_t n = raw_len;
    unfence(&s, &n);
    *c = (scan){.s = s, .n = n, .schema = schema};
    bool parsed = true;
    const char *lb = memchr(s, '[', n), *lp = memchr(s, '(', n), *lc = memchr(s, '{', n);
    if (lb && (!lp || lb < lp) && (!lc || lb < lc)) {
        c->i = (size_t)(lb - s) + 1;
        read_items(c, true);
    } else if (lp || lc) {
        c->i = (size_t)((lp && (!lc || lp < lc) ? lp : lc) - s);
        read_items(c, false);
    } else if (flat && !is_null_word(s, n)) {
        read_flat(c);
    } else {
        /* no list at all: "none" and friends mean no terms; anything else does not parse */
        parsed = is_null_word(s, n) || (n >= 4 && n < 8 && strncasecmp(s, "none", 4) == 0);
        if (!parsed) warn(wb, "no list in the output");
    }
    return parsed;
}

/* Tuple t's fields as the schema's roles (f[r] borrowed from t; NULL: none),
 * a single string item holding "a, b, c" (or "aspect: sentiment") split
 * first. False on OOM. */
static bool tuple_roles(scan *c, tuple *t, const char *roles, const char **f, llm_buf *w) {
    const int nr = (int)strlen(roles);
    const char *sep = nr > 1 && t->n == 1 && !t->key[0] ? (strchr(t->f[0], ',') ? "," : strchr(t->f[0], ':') ? ":" : NULL) : NULL;
    if (sep) {
        scan sub = {.s = t->f[0], .n = strlen(t->f[0]), .i = 0, .schema = c->schema};
        tuple *st = new_tuple(&sub);
        if (!st) return false;
        while (!at_end(&sub)) {
            size_t before = sub.i;
            add_field(&sub, st, read_value(&sub, sep), 0);
            if (!at_end(&sub) && sub.s[sub.i] == *sep) sub.i++;
            if (sub.i == before) sub.i++;
        }
        if (sub.oom) {
            for (int64_t k = 0; k < sub.nt; k++) tuple_free(&sub.t[k]);
            senti_mfree(sub.t);
            return false;
        }
        tuple_free(t);
        *t = *st;
        senti_mfree(sub.t);
    }
    assign(roles, t, f, w);
    return true;
}

static json_t *parse_impl(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len, bool flat);
static json_t *parse_cause_impl(const char *raw, size_t raw_len, json_t *clauses, json_t *numbers, bool flat);

json_t *llm_extract_parse(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len) {
    return parse_impl(schema, raw, raw_len, text, len, false);
}

json_t *llm_extract_parse_flat(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len) {
    return parse_impl(schema, raw, raw_len, text, len, true);
}

static json_t *parse_impl(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len, bool flat) {
    if (schema >= LLM_SCHEMA_COUNT) return NULL;
    if (schema == LLM_SCHEMA_CAUSE_PAIR) {
        char err[256];
        json_t *nums = NULL, *cl = task_clauses_of(NULL, text, len, &nums, err, sizeof err);
        if (!cl && !err[0]) return NULL;
        json_t *empty = cl ? NULL : json_array();
        json_t *r = parse_cause_impl(raw, raw_len, cl ? cl : empty, cl ? nums : empty, flat);
        json_decref(cl), json_decref(nums), json_decref(empty);
        return r;
    }
    const char *roles = ROLES[schema];
    const int nr = (int)strlen(roles);
    scan c;
    llm_buf w = {0};
    bool parsed = scan_output(schema, raw, raw_len, &c, &w, flat);
    json_t *res = json_object(), *list = json_array();
    const char *lname = schema == LLM_SCHEMA_OPINION ? "spans"
                        : schema == LLM_SCHEMA_PAIR  ? "pairs"
                        : schema == LLM_SCHEMA_TRIPLET ? "triplets"
                        : schema == LLM_SCHEMA_QUAD    ? "quads"
                        : schema == LLM_SCHEMA_EVENT   ? "events"
                                                       : "aspects";
    if (!res || !list || c.oom) goto oom;
    for (int64_t k = 0; k < c.nt; k++) {
        tuple *t = &c.t[k];
        const char *f[MAX_FIELDS];
        if (!tuple_roles(&c, t, roles, f, &w)) goto oom;
        bool all_null = true; /* no term or category: nothing to report */
        for (int r = 0; r < nr; r++)
            if (roles[r] != F_SEN) all_null &= !f[r] || is_null_word(f[r], strlen(f[r]));
        if (all_null) continue;
        const char *sent = NULL;
        for (int r = 0; r < nr; r++)
            if (roles[r] == F_SEN) {
                sent = f[r] ? norm_sentiment(f[r], strlen(f[r])) : NULL;
                if (!sent) warn(&w, "unknown sentiment '%s'", f[r] ? f[r] : "");
            }
        json_t *o = json_object();
        if (!o) goto oom;
        const char *asp = NULL, *opn = NULL, *cat = NULL;
        for (int r = 0; r < nr; r++) {
            if (roles[r] == F_ASP) asp = f[r];
            if (roles[r] == F_OPN) opn = f[r];
            if (roles[r] == F_CAT) cat = f[r];
        }
        switch (schema) {
        case LLM_SCHEMA_ASPECT:
        case LLM_SCHEMA_AESC:
            put_term(o, "aspect", "start", "end", asp, text, len, &w);
            if (schema == LLM_SCHEMA_AESC) json_object_set_new(o, "sentiment", sent ? json_string(sent) : json_null());
            break;
        case LLM_SCHEMA_OPINION:
            json_object_set_new(o, "type", json_string("OPINION"));
            put_term(o, "text", "start", "end", opn, text, len, &w);
            break;
        case LLM_SCHEMA_EVENT: {
            static const char *const KEYS[5][3] = {{"trigger", "trigger_start", "trigger_end"},
                                                   {"subject", "subject_start", "subject_end"},
                                                   {"object", "object_start", "object_end"},
                                                   {"time", "time_start", "time_end"},
                                                   {"location", "location_start", "location_end"}};
            for (int r = 0; r < 5; r++) put_term(o, KEYS[r][0], KEYS[r][1], KEYS[r][2], f[r], text, len, &w);
            json_object_set_new(o, "polarity", sent ? json_string(sent) : json_null());
            break;
        }
        default:
            put_term(o, "aspect", "aspect_start", "aspect_end", asp, text, len, &w);
            if (schema == LLM_SCHEMA_QUAD)
                json_object_set_new(o, "category", cat && !is_null_word(cat, strlen(cat)) ? json_string(cat) : json_null());
            put_term(o, "opinion", "opinion_start", "opinion_end", opn, text, len, &w);
            if (schema != LLM_SCHEMA_PAIR) json_object_set_new(o, "sentiment", sent ? json_string(sent) : json_null());
        }
        bool seen = false; /* the same tuple twice (a model repeating a term): once (quads keep ASQP's list) */
        for (size_t q = 0; schema != LLM_SCHEMA_QUAD && q < json_array_size(list) && !seen; q++)
            seen = json_equal(json_array_get(list, q), o);
        if (seen) json_decref(o);
        else json_array_append_new(list, o);
    }
    json_object_set_new(res, lname, list);
    list = NULL;
    if (!parsed) json_object_set_new(res, "raw", json_stringn(raw, raw_len));
    if (w.n) json_object_set_new(res, "warning", json_string(w.p));
    if (w.oom) goto oom;
    goto done;
oom:
    json_decref(res);
    json_decref(list);
    res = NULL;
done:
    for (int64_t k = 0; k < c.nt; k++) tuple_free(&c.t[k]);
    senti_mfree(c.t);
    senti_mfree(w.p);
    return res;
}

/* ---- cause-pair: fields -> clauses ------------------------------------------------------------ */

/* The clause index (0-based) field v names: a number ("3", "(3)", "clause 3",
 * "c3", "#3") matched against numbers, else the first clause holding v's
 * text, else the first clause that v's text holds; -1 when none. */
static int64_t clause_of(const char *v, json_t *clauses, json_t *numbers) {
    const char *p = v;
    while (*p && (isspace((unsigned char)*p) || *p == '(' || *p == '[' || *p == '#')) p++;
    if (!strncasecmp(p, "clause", 6)) p += 6;
    else if (*p == 'c' || *p == 'C') p++;
    while (*p == ' ' || *p == '#') p++;
    char *end;
    long k = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
    if (k >= 0) {
        while (*end && (isspace((unsigned char)*end) || *end == ')' || *end == ']' || *end == '.')) end++;
        if (!*end) {
            for (size_t i = 0; i < json_array_size(numbers); i++)
                if (json_integer_value(json_array_get(numbers, i)) == k) return (int64_t)i;
            return -1;
        }
    }
    int64_t a, b;
    size_t vl = strlen(v);
    for (size_t i = 0; i < json_array_size(clauses); i++) {
        json_t *t = json_object_get(json_array_get(clauses, i), "text");
        if (llm_ground(json_string_value(t), json_string_length(t), v, vl, &a, &b)) return (int64_t)i;
    }
    for (size_t i = 0; i < json_array_size(clauses); i++) {
        json_t *t = json_object_get(json_array_get(clauses, i), "text");
        if (json_string_length(t) && llm_ground(v, vl, json_string_value(t), json_string_length(t), &a, &b)) return (int64_t)i;
    }
    return -1;
}

/* Append v to the array a unless it is there already. */
static bool add_unique(json_t *a, json_t *v) {
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_equal(json_array_get(a, i), v)) return true;
    return !json_array_append(a, v);
}

json_t *llm_extract_parse_cause(const char *raw, size_t raw_len, json_t *clauses, json_t *numbers) {
    return parse_cause_impl(raw, raw_len, clauses, numbers, false);
}

static json_t *parse_cause_impl(const char *raw, size_t raw_len, json_t *clauses, json_t *numbers, bool flat) {
    scan c;
    llm_buf w = {0};
    bool parsed = scan_output(LLM_SCHEMA_CAUSE_PAIR, raw, raw_len, &c, &w, flat);
    json_t *res = json_object(), *emo = json_array(), *cau = json_array(), *pairs = json_array();
    if (!res || !emo || !cau || !pairs || c.oom || json_object_set(res, "clauses", clauses)) goto oom;
    for (int64_t k = 0; k < c.nt; k++) {
        const char *f[MAX_FIELDS];
        if (!tuple_roles(&c, &c.t[k], ROLES[LLM_SCHEMA_CAUSE_PAIR], f, &w)) goto oom;
        if (!f[0] || !f[1] || is_null_word(f[0], strlen(f[0])) || is_null_word(f[1], strlen(f[1]))) {
            if (f[0] || f[1]) warn(&w, "a pair without both clauses");
            continue;
        }
        int64_t e = clause_of(f[0], clauses, numbers), j = clause_of(f[1], clauses, numbers);
        if (e < 0 || j < 0) {
            warn(&w, "'%s' is not a clause", e < 0 ? f[0] : f[1]);
            continue;
        }
        json_t *ne = json_array_get(numbers, (size_t)e), *nj = json_array_get(numbers, (size_t)j);
        json_t *p = json_pack("{s:O,s:O}", "emotion", ne, "cause", nj);
        bool dup = false;
        for (size_t q = 0; p && q < json_array_size(pairs); q++) dup |= json_equal(json_array_get(pairs, q), p);
        if (!p || (!dup && json_array_append(pairs, p)) || !add_unique(emo, ne) || !add_unique(cau, nj)) {
            json_decref(p);
            goto oom;
        }
        json_decref(p);
    }
    if (json_object_set_new(res, "emotions", emo) || json_object_set_new(res, "causes", cau) ||
        json_object_set_new(res, "pairs", pairs)) {
        emo = cau = pairs = NULL;
        goto oom;
    }
    emo = cau = pairs = NULL;
    if (!parsed) json_object_set_new(res, "raw", json_stringn(raw, raw_len));
    if (w.n) json_object_set_new(res, "warning", json_string(w.p));
    if (w.oom) goto oom;
    goto done;
oom:
    json_decref(res);
    res = NULL;
done:
    json_decref(emo), json_decref(cau), json_decref(pairs);
    for (int64_t k = 0; k < c.nt; k++) tuple_free(&c.t[k]);
    senti_mfree(c.t);
    senti_mfree(w.p);
    return res;
}

char *llm_cause_numbered(json_t *clauses, json_t *numbers) {
    llm_buf b = {0};
    for (size_t i = 0; i < json_array_size(clauses); i++) {
        char h[32];
        snprintf(h, sizeof h, "%s(%lld) ", i ? " " : "", (long long)json_integer_value(json_array_get(numbers, i)));
        llm_buf_puts(&b, h);
        json_t *t = json_object_get(json_array_get(clauses, i), "text");
        llm_buf_put(&b, json_string_value(t), json_string_length(t));
    }
    if (!b.p && !b.oom) llm_buf_put(&b, "", 0);
    if (b.oom) {
        senti_mfree(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- prompts ------------------------------------------------------------------------------------- */

static const char *DEFINITIONS[LLM_SCHEMA_COUNT] = {
    "Definition: The output will be the aspect terms in the given text. An aspect term is a word or phrase "
    "naming an entity or attribute that an opinion is expressed about. Copy each term exactly as it appears in "
    "the text and answer with a list: [aspect, aspect, ...]. If there are none, answer [].",
    "Definition: The output will be the opinion terms in the given text. An opinion term is a word or phrase "
    "that expresses a sentiment. Copy each term exactly as it appears in the text and answer with a list: "
    "[opinion, opinion, ...]. If there are none, answer [].",
    "Definition: The output will be the aspect terms in the given text and the sentiment polarity towards each "
    "(positive, negative or neutral). Copy each term exactly as it appears in the text and answer with a list: "
    "[(aspect, sentiment), ...]. If there are none, answer [].",
    "Definition: The output will be the pairs of an aspect term and the opinion term that describes it. Copy "
    "each term exactly as it appears in the text and answer with a list: [(aspect, opinion), ...]. If there "
    "are none, answer [].",
    "Definition: The output will be the triplets of an aspect term, the opinion term that describes it and the "
    "sentiment polarity (positive, negative or neutral). Copy each term exactly as it appears in the text and "
    "answer with a list: [(aspect, opinion, sentiment), ...]. If there are none, answer [].",
    "Definition: The output will be the quadruples of an aspect term (NULL when implicit), its aspect category "
    "(such as food quality or service general), the opinion term and the sentiment polarity (positive, "
    "negative or neutral). Copy each term exactly as it appears in the text and answer with a list: "
    "[(aspect, category, opinion, sentiment), ...]. If there are none, answer [].",
    "Definition: The input is a document cut into numbered clauses. The output will be the pairs of an emotion "
    "clause (a clause that expresses an emotion) and a cause clause (the clause that tells what caused that "
    "emotion; it can be the emotion clause itself). Answer with a list of clause numbers: "
    "[(emotion clause, cause clause), ...]. If there are none, answer [].",
    "Definition: The output will be the events in the given text with the sentiment towards each: the trigger "
    "(the word or phrase that names the event), its subject, its object, its time and its location (NULL when "
    "the text does not say), and the polarity (positive, negative or neutral). Copy each term exactly as it "
    "appears in the text and answer with a list: [(trigger, subject, object, time, location, polarity), ...]. "
    "If there are none, answer [].",
};

char *llm_extract_instruction(llm_schema schema, const char *const *shot_in, const char *const *shot_out,
                              int64_t n_shots, const char *text, size_t len) {
    if (schema >= LLM_SCHEMA_COUNT) return NULL;
    llm_buf b = {0};
    llm_buf_puts(&b, DEFINITIONS[schema]);
    llm_buf_puts(&b, "\n\n");
    for (int64_t i = 0; i < n_shots; i++) {
        char h[48];
        snprintf(h, sizeof h, "Example %lld-\ninput: ", (long long)i + 1);
        llm_buf_puts(&b, h);
        if (schema == LLM_SCHEMA_CAUSE_PAIR) { /* a raw document: shown with its clauses numbered */
            char err[200];
            json_t *nums = NULL, *cl = task_clauses_of(NULL, shot_in[i], strlen(shot_in[i]), &nums, err, sizeof err);
            char *nt = cl ? llm_cause_numbered(cl, nums) : NULL;
            llm_buf_puts(&b, nt ? nt : shot_in[i]);
            senti_mfree(nt);
            json_decref(cl), json_decref(nums);
        } else {
            llm_buf_puts(&b, shot_in[i]);
        }
        llm_buf_puts(&b, "\noutput: ");
        llm_buf_puts(&b, shot_out[i]);
        llm_buf_puts(&b, "\n\n");
    }
    llm_buf_puts(&b, n_shots ? "Now complete the following example-\ninput: " : "input: ");
    llm_buf_put(&b, text, len);
    llm_buf_puts(&b, "\noutput:");
    if (b.oom) {
        senti_mfree(b.p);
        return NULL;
    }
    return b.p;
}

/* InstructABSA-style definitions and two positive examples per schema
 * (tools/fixtures/make_encdec_fixtures.py holds the same text). */
static const struct {
    const char *def, *in[2], *out[2];
} S2S[LLM_SCHEMA_COUNT] = {
    {"The output will be the aspects (both implicit and explicit) which have an associated opinion that are "
     "extracted from the input text. In cases where there are no aspects the output should be noaspectterm.",
     {"With the great variety on the menu , I eat here often and never get bored.",
      "Great food, good size menu, great service and an unpretensious setting."},
     {"menu", "food, menu, service, setting"}},
    {"The output will be the opinion terms (the words that express a sentiment) which are extracted from the "
     "input text. In cases where there are no opinion terms the output should be none.",
     {"The food was great and the staff were rude.", "We arrived at noon."},
     {"great, rude", "none"}},
    {"The output will be the aspects (both implicit and explicit) and the aspects sentiment polarity. In cases "
     "where there are no aspects the output should be noaspectterm:none.",
     {"I charge it at night and skip taking the cord with me because of the good battery life.",
      "The cord was too short but the screen is bright."},
     {"battery life:positive", "cord:negative, screen:positive"}},
    {"The output will be the aspects and the opinion terms that describe them, as aspect:opinion. In cases where "
     "there are no aspects the output should be noaspectterm:none.",
     {"The food was great and the staff were rude.", "The screen is bright."},
     {"food:great, staff:rude", "screen:bright"}},
    {"The output will be the aspects, the opinion terms that describe them and the sentiment polarity, as "
     "aspect:opinion:polarity. In cases where there are no aspects the output should be noaspectterm:none:none.",
     {"The food was great and the staff were rude.", "The screen is bright."},
     {"food:great:positive, staff:rude:negative", "screen:bright:positive"}},
    {"The output will be the aspects, their category, the opinion terms that describe them and the sentiment "
     "polarity, as aspect:category:opinion:polarity. In cases where there are no aspects the output should be "
     "noaspectterm:none:none:none.",
     {"The food was great and the staff were rude.", "The screen is bright."},
     {"food:food quality:great:positive, staff:service general:rude:negative",
      "screen:display general:bright:positive"}},
    {"The input is a document cut into numbered clauses. The output will be the pairs of an emotion clause and "
     "the clause that causes that emotion, as emotion:cause by clause number. In cases where there are none the "
     "output should be none.",
     {"(1) I was so happy (2) because my friend came to see me", "(1) the bus was late again (2) we waited an hour "
      "(3) everyone was angry"},
     {"1:2", "3:1"}},
    {"The output will be the events and the sentiment towards each, as trigger:subject:object:time:location:"
     "polarity, none for an argument the text does not give. In cases where there are no events the output "
     "should be none.",
     {"Yesterday the students protested against the new fees in Paris.", "The team won the cup."},
     {"protested:the students:the new fees:Yesterday:Paris:negative", "won:The team:the cup:none:none:positive"}},
};

char *llm_extract_instruction_s2s(llm_schema schema, const char *text, size_t len) {
    if (schema >= LLM_SCHEMA_COUNT) return NULL;
    llm_buf b = {0};
    llm_buf_puts(&b, "Definition: ");
    llm_buf_puts(&b, S2S[schema].def);
    llm_buf_puts(&b, "\n");
    for (int i = 0; i < 2; i++) {
        char h[48];
        snprintf(h, sizeof h, "    Positive example %d-\n    input: ", i + 1);
        llm_buf_puts(&b, h);
        llm_buf_puts(&b, S2S[schema].in[i]);
        llm_buf_puts(&b, "\n    output: ");
        llm_buf_puts(&b, S2S[schema].out[i]);
        llm_buf_puts(&b, "\n");
    }
    llm_buf_puts(&b, "    Now complete the following example-\n    input: ");
    llm_buf_put(&b, text, len);
    llm_buf_puts(&b, " \noutput:");
    if (b.oom) {
        senti_mfree(b.p);
        return NULL;
    }
    return b.p;
}

/* A JSON value of a few-shot "output" as the list format. */
static void shot_format(llm_buf *b, json_t *v) {
    if (json_is_string(v)) {
        llm_buf_puts(b, json_string_value(v));
        return;
    }
    llm_buf_puts(b, "[");
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (i) llm_buf_puts(b, ", ");
        if (json_is_array(e)) {
            llm_buf_puts(b, "(");
            for (size_t j = 0; j < json_array_size(e); j++) {
                json_t *x = json_array_get(e, j);
                if (j) llm_buf_puts(b, ", ");
                llm_buf_puts(b, json_is_string(x) ? json_string_value(x) : "NULL");
            }
            llm_buf_puts(b, ")");
        } else llm_buf_puts(b, json_is_string(e) ? json_string_value(e) : "NULL");
    }
    llm_buf_puts(b, "]");
}

senti_status llm_extract_load_shots(const char *path, char ***ins, char ***outs, int64_t *n) {
    *ins = *outs = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return senti_error(SENTI_ERR_IO, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0;
    int64_t ln = 0, k = 0, kcap = 0;
    senti_status s = SENTI_OK;
    ssize_t got;
    while (s == SENTI_OK && (got = getline(&line, &cap, f)) >= 0) {
        ln++;
        size_t m = (size_t)got;
        while (m && (line[m - 1] == '\n' || line[m - 1] == '\r' || line[m - 1] == ' ')) m--;
        if (m == 0) continue;
        json_error_t je;
        json_t *o = json_loadb(line, m, 0, &je);
        json_t *t = json_object_get(o, "text"), *out = json_object_get(o, "output");
        if (!o || !json_is_string(t) || !(json_is_string(out) || json_is_array(out))) {
            s = senti_error(SENTI_ERR_BAD_FILE, "%s:%lld: expected {\"text\": string, \"output\": string or list}%s%s",
                            path, (long long)ln, o ? "" : ": ", o ? "" : je.text);
            json_decref(o);
            break;
        }
        if (k == kcap) {
            kcap = kcap * 2 + 4;
            char **a = senti_calloc((size_t)kcap, sizeof *a), **b = senti_calloc((size_t)kcap, sizeof *b);
            if (!a || !b) {
                senti_mfree(a);
                senti_mfree(b);
                json_decref(o);
                s = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
                break;
            }
            if (k) memcpy(a, *ins, (size_t)k * sizeof *a), memcpy(b, *outs, (size_t)k * sizeof *b);
            senti_mfree(*ins);
            senti_mfree(*outs);
            *ins = a;
            *outs = b;
        }
        llm_buf fb = {0};
        shot_format(&fb, out);
        (*ins)[k] = senti_strdup(json_string_value(t));
        (*outs)[k] = fb.p;
        k++;
        if (!(*ins)[k - 1] || !fb.p) s = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        json_decref(o);
    }
    if (s == SENTI_OK && ferror(f)) /* a directory opens, then fails to read */
        s = senti_error(SENTI_ERR_IO, "%s: cannot read it: %s", path, strerror(errno));
    free(line);
    fclose(f);
    *n = k;
    if (s != SENTI_OK) {
        for (int64_t i = 0; i < k; i++) senti_mfree((*ins)[i]), senti_mfree((*outs)[i]);
        senti_mfree(*ins);
        senti_mfree(*outs);
        *ins = *outs = NULL;
        *n = 0;
    }
    return s;
}

/* ---- constrained decoding ------------------------------------------------------------------------
 * A character-level automaton over the list format; a token is allowed when
 * every byte of its decoded string is accepted from the current state and
 * the list can still be closed within the remaining tokens (each needed
 * character at most one token: every vocabulary here has single-byte tokens).
 * Terms must stay substrings of the input (exact bytes) and contain none of
 * , ( ) [ ]; sentiments are prefixes of positive / negative / neutral;
 * categories are lowercase words. The state is recomputed from the decoded
 * continuation at every step, so it never drifts from the text. */

#define CON_MAX_ITEMS 8
#define CON_MAX_TERM 96
#define CON_MAX_CAT 32

enum { P_START, P_OPEN, P_FIELD, P_AFTER_FIELD, P_SEP, P_CLOSED, P_COMMA, P_DONE, P_DEAD };

typedef struct cstate {
    int phase;
    int field;       /* field index in the item */
    int items;       /* items begun */
    size_t start;    /* current field's first byte in the buffer */
    size_t len;      /* its bytes so far */
} cstate;

struct llm_constraint {
    llm_schema schema;
    const char *roles;
    int nr;
    int64_t V;
    char **tstr;     /* per token: its decoded string in a continuation ("" unusable) */
    size_t *tlen;
    int32_t eos[8];
    int64_t n_eos;
    const char **text; /* per sequence (borrowed) */
    size_t *tl;
    int64_t n_seq;
    char *buf;       /* continuation + candidate */
    size_t cap;
    /* the usable tokens sorted by their strings, with each one's common
     * prefix with the one before: the mask walks them as a trie */
    int32_t *order;
    size_t *lcp;
    int64_t n_order;
    size_t max_len;
    cstate *stack;   /* automaton state after each byte of the current token */
    uint8_t *allow;  /* per token, this step */
};

static const char *SENTS[3] = {"positive", "negative", "neutral"};

/* Bytes of words: ASCII letters and digits, and every byte of a non-ASCII
 * character (so terms never split one). */
static bool word_byte(unsigned char b) { return isalnum(b) || b >= 0x80; }

/* Characters term t[0..n) still needs to be a whole-word substring of text:
 * over its occurrences that start a word, the fewest bytes to the end of the
 * word it stops in (0: it already ends one; a term may also end just before
 * a non-ASCII character); -1 when it occurs nowhere at a word start. An empty term needs the shortest word. Terms that start
 * mid-word or end with a space never close. */
static int64_t con_term_need(const char *text, size_t tl, const char *t, size_t n) {
    int64_t best = -1;
    if (n > tl) return -1;
    for (size_t i = 0; i + n <= tl; i++) {
        if ((i > 0 && word_byte((unsigned char)text[i - 1])) || !word_byte((unsigned char)text[i])) continue;
        if (n && memcmp(text + i, t, n) != 0) continue;
        size_t e = i + (n ? n : 1);
        if (n && t[n - 1] == ' ') continue;
        /* the word ends at a non-word byte, or before a non-ASCII character: a
         * vocabulary may have no token that writes it whole */
        while (e < tl && word_byte((unsigned char)text[e]) && (unsigned char)text[e] < 0x80) e++;
        int64_t need = (int64_t)(e - i) - (int64_t)n;
        if (best < 0 || need < best) best = need;
    }
    return best;
}

/* May t[0..n) still grow into a term (it occurs at a word start)? */
static bool con_term_ok(const char *text, size_t tl, const char *t, size_t n) {
    if (n > tl) return false;
    for (size_t i = 0; i + n <= tl; i++)
        if (!(i > 0 && word_byte((unsigned char)text[i - 1])) && memcmp(text + i, t, n) == 0) return true;
    return false;
}

static int sent_prefix(const char *t, size_t n, bool *exact) {
    int k = 0;
    *exact = false;
    for (int i = 0; i < 3; i++)
        if (n <= strlen(SENTS[i]) && memcmp(SENTS[i], t, n) == 0) {
            k++;
            if (n == strlen(SENTS[i])) *exact = true;
        }
    return k;
}

/* Feed byte buf[pos] to st. false: not allowed. */
static bool con_step(const llm_constraint *c, const char *text, size_t tl, cstate *st, const char *buf, size_t pos) {
    const char ch = buf[pos];
    const bool tup = c->nr > 1;
    const char role = c->roles[st->field];
    switch (st->phase) {
    case P_START: /* a little leading whitespace, then the list */
        if ((ch == ' ' || ch == '\n') && pos < 4) return true;
        if (ch == '[') return st->phase = P_OPEN, true;
        return false;
    case P_OPEN: /* after '[' */
    case P_COMMA: /* after an item's ',' */
        if (ch == ' ') return true;
        if (ch == ']' && st->phase == P_OPEN) return st->phase = P_DONE, true;
        if (tup) {
            if (ch != '(') return false;
            st->items++;
            st->field = 0;
            st->phase = P_SEP;
            return true;
        }
        st->items++;
        st->field = 0;
        st->phase = P_FIELD;
        st->start = pos;
        st->len = 0;
        return con_step(c, text, tl, st, buf, pos);
    case P_SEP: /* after '(' or a field's ',' */
        if (ch == ' ') return true;
        st->phase = P_FIELD;
        st->start = pos;
        st->len = 0;
        return con_step(c, text, tl, st, buf, pos);
    case P_FIELD: {
        bool last = st->field == c->nr - 1, exact = false;
        bool can_end = st->len > 0;
        if (role == F_SEN) can_end = sent_prefix(buf + st->start, st->len, &exact) > 0 && exact;
        else if (role != F_CAT && can_end && strchr(",)]", ch)) can_end = con_term_need(text, tl, buf + st->start, st->len) == 0;
        if (can_end && (ch == ',' || (tup && last && ch == ')') || (!tup && ch == ']'))) {
            if (ch == ',' && !last) return st->field++, st->phase = P_SEP, true;
            if (ch == ',' && !tup) return st->items < CON_MAX_ITEMS && (st->phase = P_COMMA, true);
            if (ch == ',') return false;
            return st->phase = ch == ')' ? P_CLOSED : P_DONE, true;
        }
        if (ch == ',' || ch == '(' || ch == ')' || ch == '[' || ch == ']' || ch == '\n') return false;
        if (st->len == 0 && ch == ' ') return false; /* terms start with a character */
        st->len++;
        if (role == F_SEN) return sent_prefix(buf + st->start, st->len, &exact) > 0;
        if (role == F_CAT)
            return st->len <= CON_MAX_CAT && ((ch >= 'a' && ch <= 'z') || (ch == ' ' && st->len > 1) || ch == '#' || ch == '_');
        return st->len <= CON_MAX_TERM && con_term_ok(text, tl, buf + st->start, st->len);
    }
    case P_CLOSED: /* after ')' */
        if (ch == ' ') return true;
        if (ch == ']') return st->phase = P_DONE, true;
        if (ch == ',' && st->items < CON_MAX_ITEMS) return st->phase = P_COMMA, true;
        return false;
    default:
        return false;
    }
}

/* Characters still needed to close the list from st (an upper bound on
 * tokens); wmin: the shortest word of the text (an empty term's need). */
static int64_t con_min_close(const llm_constraint *c, const cstate *st, const char *buf, const char *text, size_t tl,
                             int64_t wmin) {
    const bool tup = c->nr > 1;
    int64_t need = 0;
    int from = 0;
    switch (st->phase) {
    case P_START: return 2;
    case P_OPEN: return 1;
    case P_CLOSED: return 1;
    case P_DONE: return 0;
    case P_COMMA: { /* a whole item: "(" fields with ", " between ")" "]" */
        int64_t item = tup ? 2 : 0;
        for (int f = 0; f < c->nr; f++) item += (f ? 1 : 0) + (c->roles[f] == F_SEN ? 8 : c->roles[f] == F_CAT ? 1 : wmin);
        return item + 1;
    }
    case P_SEP: from = st->field; break;
    case P_FIELD: {
        char role = c->roles[st->field];
        if (role == F_SEN) {
            int64_t best = 9;
            for (int i = 0; i < 3; i++)
                if (st->len <= strlen(SENTS[i]) && memcmp(SENTS[i], buf + st->start, st->len) == 0 &&
                    (int64_t)(strlen(SENTS[i]) - st->len) < best)
                    best = (int64_t)(strlen(SENTS[i]) - st->len);
            need += best;
        } else if (role == F_CAT) need += st->len == 0;
        else {
            int64_t t = con_term_need(text, tl, buf + st->start, st->len);
            if (t < 0) return 1 << 20;
            need += t;
        }
        from = st->field + 1;
        break;
    }
    default: return 1 << 20;
    }
#define FIELD_NEED(r) ((r) == F_SEN ? 7 : (r) == F_CAT ? 1 : wmin)
    if (st->phase == P_SEP) need += FIELD_NEED(c->roles[from]), from++;
    for (int f = from; f < c->nr; f++) need += 1 + FIELD_NEED(c->roles[f]);
#undef FIELD_NEED
    return need + (tup ? 1 : 0) + 1;
}

static const llm_constraint *g_con_sort; /* qsort context: construction is single-threaded */
static int cmp_token_str(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    size_t li = g_con_sort->tlen[i], lj = g_con_sort->tlen[j];
    int r = memcmp(g_con_sort->tstr[i], g_con_sort->tstr[j], li < lj ? li : lj);
    return r ? r : (li > lj) - (li < lj);
}

void llm_constraint_free(llm_constraint *c) {
    if (!c) return;
    for (int64_t i = 0; c->tstr && i < c->V; i++) senti_mfree(c->tstr[i]);
    senti_mfree(c->tstr);
    senti_mfree(c->tlen);
    senti_mfree(c->order);
    senti_mfree(c->lcp);
    senti_mfree(c->stack);
    senti_mfree(c->allow);
    senti_mfree(c->text);
    senti_mfree(c->tl);
    senti_mfree(c->buf);
    senti_mfree(c);
}

llm_constraint *llm_constraint_new(const senti_tokenizer *tok, int64_t V, llm_schema schema, const int32_t *eos,
                                   int64_t n_eos) {
    if (schema >= LLM_SCHEMA_COUNT || V <= 0) {
        senti_error(SENTI_ERR_INVALID_ARG, "constraint: bad schema or vocabulary");
        return NULL;
    }
    llm_constraint *c = senti_calloc(1, sizeof *c);
    if (!c) goto oom;
    c->schema = schema;
    c->roles = ROLES[schema];
    c->nr = (int)strlen(c->roles);
    c->V = V;
    c->n_eos = n_eos < 8 ? n_eos : 8;
    for (int64_t i = 0; i < c->n_eos; i++) c->eos[i] = eos[i];
    if (!(c->tstr = senti_calloc((size_t)V, sizeof *c->tstr)) || !(c->tlen = senti_calloc((size_t)V, sizeof *c->tlen)))
        goto oom;
    /* A token's string in a continuation: decode(anchor, t) minus decode(anchor),
     * so decoders that strip a leading space (Metaspace) keep it. */
    senti_encoding *e = NULL;
    int32_t anchor = -1;
    if (senti_tokenizer_encode(tok, "a", 1, NULL, 0, &(senti_encode_opts){.add_special_tokens = 0}, &e) == SENTI_OK &&
        senti_encoding_len(e) > 0)
        anchor = senti_encoding_ids(e)[senti_encoding_len(e) - 1];
    senti_encoding_free(e);
    size_t al = 0;
    char *a = anchor >= 0 ? senti_tokenizer_decode(tok, &anchor, 1, 1, &al) : NULL;
    for (int64_t t = 0; t < V; t++) {
        int32_t pair[2] = {anchor, (int32_t)t};
        size_t n = 0;
        char *d = anchor >= 0 ? senti_tokenizer_decode(tok, pair, 2, 1, &n) : senti_tokenizer_decode(tok, pair + 1, 1, 1, &n);
        const char *p = "";
        size_t pl = 0;
        if (d && anchor >= 0 && a && n >= al && memcmp(d, a, al) == 0) p = d + al, pl = n - al;
        else if (d && anchor < 0) p = d, pl = n;
        /* unusable: empty, or a partial UTF-8 sequence (decoded as U+FFFD) */
        if (pl && memmem(p, pl, "\xEF\xBF\xBD", 3)) pl = 0;
        c->tstr[t] = llm_strndup(p, pl);
        c->tlen[t] = pl;
        senti_string_free(d);
        if (!c->tstr[t]) {
            senti_string_free(a);
            goto oom;
        }
    }
    senti_string_free(a);
    if (!(c->order = senti_malloc((size_t)V * sizeof *c->order)) || !(c->lcp = senti_malloc((size_t)V * sizeof *c->lcp)) ||
        !(c->allow = senti_malloc((size_t)V)))
        goto oom;
    for (int64_t t = 0; t < V; t++)
        if (c->tlen[t] > 0) {
            c->order[c->n_order++] = (int32_t)t;
            if (c->tlen[t] > c->max_len) c->max_len = c->tlen[t];
        }
    g_con_sort = c;
    qsort(c->order, (size_t)c->n_order, sizeof *c->order, cmp_token_str);
    for (int64_t k = 0; k < c->n_order; k++) {
        size_t l = 0;
        if (k > 0) {
            const char *x = c->tstr[c->order[k - 1]], *y = c->tstr[c->order[k]];
            size_t m = c->tlen[c->order[k - 1]] < c->tlen[c->order[k]] ? c->tlen[c->order[k - 1]] : c->tlen[c->order[k]];
            while (l < m && x[l] == y[l]) l++;
        }
        c->lcp[k] = l;
    }
    if (!(c->stack = senti_malloc((c->max_len + 1) * sizeof *c->stack))) goto oom;
    return c;
oom:
    llm_constraint_free(c);
    senti_error(SENTI_ERR_NO_MEMORY, "constraint: out of memory");
    return NULL;
}

senti_status llm_constraint_set_text(llm_constraint *c, int64_t seq, const char *text, size_t len) {
    if (seq < 0) return senti_error(SENTI_ERR_INVALID_ARG, "constraint: bad sequence %lld", (long long)seq);
    if (seq >= c->n_seq) {
        int64_t n = seq + 8;
        const char **t = senti_calloc((size_t)n, sizeof *t);
        size_t *l = senti_calloc((size_t)n, sizeof *l);
        if (!t || !l) {
            senti_mfree(t);
            senti_mfree(l);
            return senti_error(SENTI_ERR_NO_MEMORY, "constraint: out of memory");
        }
        if (c->n_seq) memcpy(t, c->text, (size_t)c->n_seq * sizeof *t), memcpy(l, c->tl, (size_t)c->n_seq * sizeof *l);
        senti_mfree(c->text);
        senti_mfree(c->tl);
        c->text = t;
        c->tl = l;
        c->n_seq = n;
    }
    c->text[seq] = text;
    c->tl[seq] = len;
    return SENTI_OK;
}

senti_status llm_constraint_mask(void *ctx, int64_t seq, const int32_t *gen, int64_t n_gen, int64_t remaining,
                                 float *logits, int64_t V) {
    llm_constraint *c = ctx;
    if (seq < 0 || seq >= c->n_seq || !c->text[seq])
        return senti_error(SENTI_ERR_INVALID_ARG, "constraint: no text for sequence %lld", (long long)seq);
    const char *text = c->text[seq];
    size_t tl = c->tl[seq];
    /* the continuation so far, from the token strings (what the automaton saw) */
    size_t L = 0;
    for (int64_t i = 0; i < n_gen; i++) L += gen[i] >= 0 && gen[i] < c->V ? c->tlen[gen[i]] : 0;
    size_t need = L + c->max_len + 1;
    if (need > c->cap) {
        char *b = senti_malloc(need);
        if (!b) return senti_error(SENTI_ERR_NO_MEMORY, "constraint: out of memory");
        senti_mfree(c->buf);
        c->buf = b;
        c->cap = need;
    }
    L = 0;
    for (int64_t i = 0; i < n_gen; i++)
        if (gen[i] >= 0 && gen[i] < c->V) memcpy(c->buf + L, c->tstr[gen[i]], c->tlen[gen[i]]), L += c->tlen[gen[i]];
    cstate st = {.phase = P_START};
    for (size_t i = 0; i < L && st.phase != P_DEAD; i++)
        if (!con_step(c, text, tl, &st, c->buf, i)) st.phase = P_DEAD;
    bool done = st.phase == P_DONE || st.phase == P_DEAD;
    int64_t wmin = con_term_need(text, tl, "", 0); /* shortest word; -1: none, terms impossible */
    if (wmin < 0) wmin = 1 << 20;
    memset(c->allow, 0, (size_t)c->V);
    /* walk the sorted tokens as a trie: a token reuses the states of the
     * prefix it shares with the one before, and when a byte fails, every
     * following token with that same prefix is skipped */
    for (int64_t k = 0; k < c->n_order && !done; k++) {
        const int32_t t = c->order[k];
        const size_t len = c->tlen[t];
        size_t from = c->lcp[k];
        c->stack[0] = st;
        memcpy(c->buf + L + from, c->tstr[t] + from, len - from);
        bool ok = true;
        size_t i = from;
        for (; i < len; i++) {
            c->stack[i + 1] = c->stack[i];
            if (!con_step(c, text, tl, &c->stack[i + 1], c->buf, L + i)) {
                ok = false;
                break;
            }
        }
        if (!ok) {
            while (k + 1 < c->n_order && c->lcp[k + 1] > i) k++; /* same failing prefix */
            continue;
        }
        /* after this token: the closing characters, then the eos */
        c->allow[t] = con_min_close(c, &c->stack[len], c->buf, text, tl, wmin) + (c->n_eos > 0) <= remaining - 1;
    }
    for (int64_t t = 0; t < V; t++) {
        bool ok = t < c->V && c->allow[t];
        for (int64_t k = 0; k < c->n_eos; k++)
            if (c->eos[k] == t) ok = done;
        if (!ok) logits[t] = -INFINITY;
    }
    return SENTI_OK;
}

/* ---- the extract task ------------------------------------------------------------------------------ */

typedef struct ext_ctx {
    bool s2s; /* an encoder-decoder: InstructABSA-style prompts, flat answers */
    const senti_tokenizer *tok;
    const llm_chat *chat;
    const llm_extract_opts *o;
    llm_constraint *con;
    int64_t n_ok; /* prompts of this batch so far: the constraint's sequence index */
} ext_ctx;

static senti_status ext_prompt(void *ctx, int64_t i, const task_record *r, int32_t **ids, int64_t *n, char *err,
                               size_t errn) {
    ext_ctx *x = ctx;
    if (i == 0) x->n_ok = 0;
    const char *text = r->text;
    size_t len = r->len;
    char *numbered = NULL;
    if (x->o->schema == LLM_SCHEMA_CAUSE_PAIR) { /* the record's clauses (given, or cut), numbered */
        json_t *nums = NULL, *cl = task_clauses_of(r->obj, r->text, r->len, &nums, err, errn);
        if (!cl && err[0]) return SENTI_OK;
        numbered = cl ? llm_cause_numbered(cl, nums) : NULL;
        json_decref(cl), json_decref(nums);
        if (!numbered) return senti_error(SENTI_ERR_NO_MEMORY, "extract: out of memory");
        text = numbered, len = strlen(numbered);
    }
    if (!text) {
        snprintf(err, errn, "missing field \"text\"");
        return SENTI_OK;
    }
    char *instr = x->s2s && !x->o->n_shots
                      ? llm_extract_instruction_s2s(x->o->schema, text, len)
                      : llm_extract_instruction(x->o->schema, (const char *const *)x->o->shot_in,
                                                (const char *const *)x->o->shot_out, x->o->n_shots, text, len);
    senti_mfree(numbered);
    if (!instr) return senti_error(SENTI_ERR_NO_MEMORY, "extract: out of memory");
    senti_status s = llm_prompt_ids(x->tok, x->chat, x->o->use_chat, x->o->system, instr, strlen(instr), ids, n);
    senti_mfree(instr);
    if (s == SENTI_ERR_INVALID_ARG || s == SENTI_ERR_UNSUPPORTED) {
        snprintf(err, errn, "%s", senti_last_error());
        return SENTI_OK;
    }
    if (s == SENTI_OK && x->con) s = llm_constraint_set_text(x->con, x->n_ok, r->text, r->len);
    x->n_ok++;
    return s;
}

static json_t *ext_answer(void *ctx, int64_t i, const task_record *r, const llm_gen_result *g) {
    (void)i;
    ext_ctx *x = ctx;
    json_t *o;
    if (x->o->schema == LLM_SCHEMA_CAUSE_PAIR) {
        char err[256];
        json_t *nums = NULL, *cl = task_clauses_of(r->obj, r->text, r->len, &nums, err, sizeof err);
        o = cl ? parse_cause_impl(g->text, g->len, cl, nums, x->s2s) : NULL; /* the prompt had them */
        json_decref(cl), json_decref(nums);
    } else {
        o = (x->s2s ? llm_extract_parse_flat : llm_extract_parse)(x->o->schema, g->text, g->len, r->text ? r->text : "",
                                                                  r->text ? r->len : 0);
    }
    if (o && x->o->keep_raw && !json_object_get(o, "raw")) json_object_set_new(o, "raw", json_stringn(g->text, g->len));
    return o;
}

senti_status llm_extract_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                             const llm_extract_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                             task_stats *st) {
    ext_ctx x = {lm_is_encdec(m), tok, chat, o, NULL, 0};
    if (o->schema >= LLM_SCHEMA_COUNT) return senti_error(SENTI_ERR_INVALID_ARG, "extract: unknown schema");
    if (o->constrained && o->schema >= LLM_SCHEMA_CAUSE_PAIR)
        return senti_error(SENTI_ERR_UNSUPPORTED, "extract: --constrained has no grammar for --schema %s",
                           llm_schema_name(o->schema));
    if (o->constrained) {
        if (!lm_is_generative(m))
            return senti_error(SENTI_ERR_UNSUPPORTED, "the model (%s) is not a causal language model or an "
                               "encoder-decoder", senti_model_architecture(m));
        if (!(x.con = llm_constraint_new(tok, lm_vocab(m), o->schema, o->gen.eos, o->gen.n_eos))) return SENTI_ERR_NO_MEMORY;
    }
    senti_status s = llm_batch_run(m, tok, &o->gen, ro, src, out, st, ext_prompt, ext_answer, &x,
                                   x.con ? llm_constraint_mask : NULL, x.con);
    llm_constraint_free(x.con);
    return s;
}
