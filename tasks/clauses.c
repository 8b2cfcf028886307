/* clauses.c — a document cut into clauses at Chinese and English clause
 * punctuation, with byte and code-point offsets (what ECE / ECPE work on).
 *
 * Rules (see task_clauses_split in tasks.h):
 *   - a clause ends at any of ，。！？；：… , . ! ? ; : and at a line break;
 *     a run of them (「！！」, "?!", "……", "...") is one boundary;
 *   - '.', ',' and ':' between two ASCII digits are part of a number or a
 *     time ("3.5", "1,000", "10:30"), not a boundary;
 *   - a clause's text is trimmed of white space (ASCII, U+3000, U+00A0) and,
 *     at its start, of the closing quotes and brackets that end the
 *     previous sentence (” ’ 」 』 ） 】 》 ) ] });
 *   - a clause with nothing left is dropped.
 * Invariant: clauses are in text order, non-empty, non-overlapping, and
 * text[b0, b1) is the clause's bytes, [start, end) its code points. */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

/* The code point at s[i..n) (valid UTF-8) and its length. */
static int32_t cp_at(const char *s, size_t n, size_t i, size_t *len) {
    const unsigned char *u = (const unsigned char *)s + i;
    if (u[0] < 0x80) return *len = 1, u[0];
    if (u[0] < 0xE0 && i + 1 < n) return *len = 2, ((u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if (u[0] < 0xF0 && i + 2 < n) return *len = 3, ((u[0] & 0x0F) << 12) | ((u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    if (i + 3 < n) return *len = 4, ((u[0] & 0x07) << 18) | ((u[1] & 0x3F) << 12) | ((u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    return *len = 1, u[0];
}

static bool is_delim(int32_t c) {
    switch (c) {
    case 0xFF0C: case 0x3002: case 0xFF01: case 0xFF1F: case 0xFF1B: case 0xFF1A: case 0x2026: /* ，。！？；：… */
    case ',': case '.': case '!': case '?': case ';': case ':': case '\n': case '\r':
        return true;
    default: return false;
    }
}

static bool is_space(int32_t c) { return c == ' ' || c == '\t' || c == '\f' || c == '\v' || c == 0x3000 || c == 0xA0; }

static bool is_closer(int32_t c) {
    return c == 0x201D || c == 0x2019 || c == 0x300D || c == 0x300F || c == 0xFF09 || c == 0x3011 || c == 0x300B ||
           c == ')' || c == ']' || c == '}';
}

static bool is_digit(int32_t c) { return c >= '0' && c <= '9'; }

senti_status task_clauses_split(const char *text, size_t len, task_clause **out, int64_t *n_out) {
    *out = NULL;
    *n_out = 0;
    int64_t bad = task_utf8_invalid_at(text, len);
    if (bad >= 0) return senti_error(SENTI_ERR_INVALID_ARG, "clauses: invalid UTF-8 at byte %lld", (long long)bad);
    task_clause *v = NULL;
    int64_t n = 0, cap = 0, cp = 0;
    size_t i = 0;
    int32_t prev = 0;
    bool lead = true; /* at a clause's start: closers of the previous sentence are skipped */
    task_clause cur = {0};
    bool open = false;
    while (i <= len) {
        size_t l = 0;
        int32_t c = i < len ? cp_at(text, len, i, &l) : -1;
        bool boundary = c < 0 || is_delim(c);
        if (c == '.' || c == ',' || c == ':') { /* inside a number: "3.5", "1,000", "10:30" */
            size_t l2;
            if (is_digit(prev) && i + 1 < len && is_digit(cp_at(text, len, i + 1, &l2))) boundary = false;
        }
        if (boundary) {
            if (open) {
                if (n == cap) {
                    int64_t c2 = cap ? 2 * cap : 16;
                    task_clause *w = realloc(v, (size_t)c2 * sizeof *v);
                    if (!w) {
                        free(v);
                        return senti_error(SENTI_ERR_NO_MEMORY, "clauses: out of memory");
                    }
                    v = w, cap = c2;
                }
                v[n++] = cur;
                open = false;
            }
            lead = true;
        } else if (!is_space(c) && !(lead && is_closer(c))) {
            if (!open) cur.b0 = i, cur.start = cp, open = true;
            cur.b1 = i + l, cur.end = cp + 1; /* the last non-space code point so far */
            lead = false;
        }
        if (c < 0) break;
        prev = c;
        i += l;
        cp++;
    }
    *out = v;
    *n_out = n;
    return SENTI_OK;
}
