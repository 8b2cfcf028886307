/* cause.c — emotion cause extraction (ECE) and emotion-cause pair extraction
 * (ECPE) with encoder classifiers, the two-step method of Xia & Ding (2019)
 * (see task_cause in tasks.h): each step is one pass of the batch runner,
 * step k reading step k-1's intermediate JSONL from a temporary file, so the
 * clauses of many documents share batches and nothing is held per run but
 * one window of records.
 *
 *   step 1   records -> {"id","clauses":[{"text","start","end"}],"numbers","pe","pc"}
 *   (1b)     with a separate cause model: the same with "pc" from it
 *   step 2   -> {"id","clauses","emotions","causes","pairs"} (the output)
 *
 * Invariants: every record yields one line in input order; an error of an
 * earlier step travels as the record's {"id","error"}; a clause's inputs
 * depend only on its document, so results never depend on batching. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/core.h"
#include "tasks.h"

static const char SEP[] = "\xEF\xBC\x8C"; /* "，" between neighbouring clauses */

/* The index of the label named name (ASCII case-insensitive), or -1. */
static int64_t label_index(const senti_model *m, const char *name) {
    for (int64_t i = 0; i < senti_model_num_labels(m); i++) {
        const char *l = senti_model_label(m, i);
        if (l && !strcasecmp(l, name)) return i;
    }
    return -1;
}

/* P(label k) from one row of logits: sigmoid (multi-label) or softmax. */
static double prob(const task_classify *c, const float *z, int64_t n, int64_t k) {
    if (c->multi_label) return 1.0 / (1.0 + exp(-(double)z[k]));
    double mx = z[0], s = 0;
    for (int64_t i = 1; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    for (int64_t i = 0; i < n; i++) s += exp((double)z[i] - mx);
    return exp((double)z[k] - mx) / s;
}

/* ---- step 1: clauses -> P(emotion), P(cause) ---------------------------------------------------- */

typedef struct step1 {
    const task_cause *c;
    const task_cause_model *cm;
    int64_t ie, ic;    /* label indices read (-1: not from this model) */
    bool again;        /* step 1b: records are step 1's output (clauses as objects, "pe" kept) */
} step1;

json_t *task_clauses_of(json_t *obj, const char *text, size_t len, json_t **numbers, char *err, size_t errn) {
    json_t *cl = obj ? json_object_get(obj, "clauses") : NULL, *ids = obj ? json_object_get(obj, "clause_ids") : NULL;
    if (!ids && obj) ids = json_object_get(obj, "numbers"); /* step 1b reads step 1's output */
    json_t *out = json_array(), *nums = json_array();
    err[0] = '\0';
    *numbers = NULL;
    if (!out || !nums) goto fail;
    if (cl) {
        if (!json_is_array(cl) || json_array_size(cl) == 0) {
            snprintf(err, errn, "field \"clauses\" must be a non-empty array of strings");
            goto fail;
        }
        if (ids && (!json_is_array(ids) || json_array_size(ids) != json_array_size(cl))) {
            snprintf(err, errn, "field \"clause_ids\" must be an array as long as \"clauses\"");
            goto fail;
        }
        size_t at = 0, i;
        int64_t cp = 0; /* code points of text[0, at) */
        json_t *v;
        json_array_foreach(cl, i, v) {
            json_t *t = json_is_object(v) ? json_object_get(v, "text") : v;
            json_t *id = ids ? json_array_get(ids, i) : NULL;
            if (!json_is_string(t) || (id && !json_is_integer(id))) {
                snprintf(err, errn, "clause %zu: not a string (or its id not an integer)", i);
                goto fail;
            }
            int64_t bad = task_utf8_invalid_at(json_string_value(t), json_string_length(t));
            if (bad >= 0) {
                snprintf(err, errn, "clause %zu: invalid UTF-8 at byte %lld", i, (long long)bad);
                goto fail;
            }
            json_t *o = json_object(), *s = NULL, *e = NULL;
            if (json_is_object(v)) { /* step 1's own output: offsets kept */
                s = json_incref(json_object_get(v, "start")), e = json_incref(json_object_get(v, "end"));
            } else if (text) { /* find it in the text, after the previous one */
                const char *p = json_string_length(t) ? memmem(text + at, len - at, json_string_value(t),
                                                               json_string_length(t)) : NULL;
                if (p) {
                    for (const char *q = text + at; q < p; q++) cp += ((unsigned char)*q & 0xC0) != 0x80;
                    int64_t n = 0;
                    for (size_t k = 0; k < json_string_length(t); k++) n += ((unsigned char)json_string_value(t)[k] & 0xC0) != 0x80;
                    s = json_integer(cp), e = json_integer(cp + n);
                    cp += n;
                    at = (size_t)(p - text) + json_string_length(t);
                }
            }
            if (!o || json_object_set(o, "text", t) || json_object_set_new(o, "start", s ? s : json_null()) ||
                json_object_set_new(o, "end", e ? e : json_null()) || json_array_append_new(out, o) ||
                json_array_append_new(nums, id ? json_incref(id) : json_integer((json_int_t)i + 1)))
                goto fail;
        }
    } else {
        if (!text) {
            snprintf(err, errn, "the record has neither \"text\" nor \"clauses\"");
            goto fail;
        }
        task_clause *v = NULL;
        int64_t n = 0;
        senti_status st = task_clauses_split(text, len, &v, &n);
        if (st == SENTI_ERR_NO_MEMORY) goto fail;
        if (st != SENTI_OK || n == 0) {
            snprintf(err, errn, "%s", st != SENTI_OK ? senti_last_error() : "no clause in the text");
            free(v);
            goto fail;
        }
        bool oom = false;
        for (int64_t i = 0; i < n && !oom; i++) {
            json_t *o = json_pack("{s:s%,s:I,s:I}", "text", text + v[i].b0, v[i].b1 - v[i].b0, "start",
                                  (json_int_t)v[i].start, "end", (json_int_t)v[i].end);
            oom = !o || json_array_append_new(out, o) || json_array_append_new(nums, json_integer((json_int_t)i + 1));
        }
        free(v);
        if (oom) goto fail;
    }
    *numbers = nums;
    return out;
fail:
    json_decref(out);
    json_decref(nums);
    return NULL;
}

/* r's clauses (task_clauses_of); NULL with r failed, or on OOM (*oom). */
/* A document's clauses at most: each runs as an item (~4 KB beside its text),
 * so this bounds one record's memory (~0.3 GB); ECPE documents hold ~15. */
#define MAX_CLAUSES 65536

static json_t *clauses_of(task_record *r, json_t **numbers, bool *oom) {
    char err[256];
    json_t *cl = task_clauses_of(r->obj, r->text, r->len, numbers, err, sizeof err);
    *oom = !cl && !err[0];
    if (!cl && err[0]) *oom = !task_record_fail(r, "%s", err);
    if (cl && json_array_size(cl) > MAX_CLAUSES) {
        char msg[160];
        snprintf(msg, sizeof msg, "%zu clauses, more than the %d a document may hold: split it", json_array_size(cl),
                 MAX_CLAUSES);
        json_decref(cl);
        json_decref(*numbers);
        *numbers = NULL;
        *oom = !task_record_fail(r, "%s", msg);
        return NULL;
    }
    return cl;
}

static const char *ctext(json_t *clauses, size_t i, size_t *n) {
    json_t *t = json_object_get(json_array_get(clauses, i), "text");
    *n = json_string_length(t);
    return json_string_value(t);
}

/* A step's input record that carries an error from the step before: fail r with it. */
static bool carried_error(task_record *r, bool *ok) {
    json_t *e = r->obj ? json_object_get(r->obj, "error") : NULL;
    if (!e) return false;
    *ok = task_record_fail(r, "%s", json_is_string(e) ? json_string_value(e) : "error");
    return true;
}

static bool s1_expand(void *ctx, task_record *r) {
    const step1 *s = ctx;
    bool ok = true, oom = false;
    if (carried_error(r, &ok)) return ok;
    json_t *nums = NULL, *cl = clauses_of(r, &nums, &oom);
    if (!cl) return !oom;
    /* the clauses travel in r->result until decode */
    json_decref(r->result);
    r->result = json_pack("{s:o,s:o}", "clauses", cl, "numbers", nums);
    if (!r->result) return false;
    size_t n = json_array_size(cl);
    char *b = NULL;
    size_t bn = 0;
    FILE *mb = NULL;
    for (size_t i = 0; i < n && ok; i++) {
        size_t tl, k0 = i > (size_t)s->c->context ? i - (size_t)s->c->context : 0;
        size_t k1 = i + (size_t)s->c->context < n - 1 ? i + (size_t)s->c->context : n - 1;
        const char *t = ctext(cl, i, &tl);
        if (!(mb = open_memstream(&b, &bn))) return false;
        bool first = true;
        for (size_t k = k0; k <= k1 && s->c->context > 0; k++) {
            if (k == i) continue;
            size_t ql;
            const char *q = ctext(cl, k, &ql);
            if (!first) fputs(SEP, mb);
            fwrite(q, 1, ql, mb);
            first = false;
        }
        ok = fclose(mb) == 0 && task_record_add(r, t, tl, first ? NULL : b, first ? 0 : bn) != NULL;
        free(b);
        b = NULL;
    }
    return ok;
}

static json_t *s1_decode(void *ctx, task_record *r) {
    const step1 *s = ctx;
    json_t *o = r->result;
    r->result = NULL;
    json_t *pe = s->again ? json_incref(json_object_get(r->obj, "pe")) : json_array(), *pc = json_array();
    if (!o || !pe || !pc) goto oom;
    for (int64_t i = 0; i < r->n_items; i++) {
        const task_seg *g = &r->items[i].segs[0];
        if (s->ie >= 0 && json_array_append_new(pe, json_real(prob(&s->cm->cls, g->out, g->n_out, s->ie)))) goto oom;
        if (s->ic >= 0 && json_array_append_new(pc, json_real(prob(&s->cm->cls, g->out, g->n_out, s->ic)))) goto oom;
    }
    if (json_object_set_new(o, "pe", pe) || json_object_set_new(o, "pc", pc)) return json_decref(o), NULL;
    return o;
oom:
    json_decref(o), json_decref(pe), json_decref(pc);
    return NULL;
}

/* ---- step 2: candidates -> pairs ------------------------------------------------------------------ */

typedef struct step2 {
    const task_cause *c;
    int64_t ip; /* the pair label */
} step2;

/* The candidates (emotion, cause) in clause positions, emotion-major: a
 * malloc'd array of 2 * *n entries (NULL with *n = 0 when none, or on OOM
 * with *n = -1). */
static size_t *candidates(const task_cause *c, json_t *pe, json_t *pc, int64_t *n_out) {
    size_t n = json_array_size(pe), *v = NULL;
    int64_t k = 0, cap = 0;
    for (size_t a = 0; a < n; a++) {
        if (json_number_value(json_array_get(pe, a)) < c->threshold) continue;
        size_t lo = a > (size_t)c->window ? a - (size_t)c->window : 0;
        for (size_t b = lo; b < n && b <= a + (size_t)c->window; b++) {
            if (json_number_value(json_array_get(pc, b)) < c->threshold) continue;
            if (k == cap) {
                cap = cap ? 2 * cap : 16;
                size_t *w = realloc(v, (size_t)cap * 2 * sizeof *v);
                if (!w) {
                    free(v);
                    *n_out = -1;
                    return NULL;
                }
                v = w;
            }
            v[2 * k] = a, v[2 * k + 1] = b, k++;
        }
    }
    *n_out = k;
    return v;
}

static bool s2_expand(void *ctx, task_record *r) {
    const step2 *s = ctx;
    bool ok = true;
    if (carried_error(r, &ok)) return ok;
    json_t *cl = json_object_get(r->obj, "clauses"), *pe = json_object_get(r->obj, "pe"), *pc = json_object_get(r->obj, "pc");
    if (!json_is_array(cl) || !json_is_array(pe) || !json_is_array(pc) || json_array_size(pe) != json_array_size(cl) ||
        json_array_size(pc) != json_array_size(cl))
        return task_record_fail(r, "cause: a malformed intermediate record");
    int64_t nc = 0;
    size_t *cand = s->c->pair.model ? candidates(s->c, pe, pc, &nc) : NULL;
    if (nc < 0) return false;
    for (int64_t k = 0; k < nc; k++) {
        size_t e = cand[2 * k], j = cand[2 * k + 1], el, jl;
        const char *et = ctext(cl, e, &el), *jt = ctext(cl, j, &jl);
        char d[32];
        int dn = snprintf(d, sizeof d, "%lld ", (long long)j - (long long)e);
        char *p = malloc((size_t)dn + jl + 1);
        if (!p) return free(cand), false;
        memcpy(p, d, (size_t)dn);
        memcpy(p + dn, jt, jl);
        p[(size_t)dn + jl] = '\0';
        ok = task_record_add(r, et, el, p, (size_t)dn + jl) != NULL;
        free(p);
        if (!ok) return free(cand), false;
    }
    free(cand);
    return true;
}

static json_t *s2_decode(void *ctx, task_record *r) {
    const step2 *s = ctx;
    const task_cause *c = s->c;
    json_t *cl = json_object_get(r->obj, "clauses"), *nums = json_object_get(r->obj, "numbers");
    json_t *pe = json_object_get(r->obj, "pe"), *pc = json_object_get(r->obj, "pc");
    json_t *o = json_object(), *emo = json_array(), *cau = json_array(), *pairs = json_array();
    if (!o || !emo || !cau || !pairs || json_object_set(o, "clauses", cl)) goto oom;
    for (size_t i = 0; i < json_array_size(cl); i++) {
        json_t *num = json_array_get(nums, i);
        if (json_number_value(json_array_get(pe, i)) >= c->threshold && json_array_append(emo, num)) goto oom;
        if (json_number_value(json_array_get(pc, i)) >= c->threshold && json_array_append(cau, num)) goto oom;
    }
    int64_t nc = 0;
    size_t *cand = candidates(c, pe, pc, &nc);
    if (nc < 0) goto oom;
    for (int64_t k = 0; k < nc; k++) {
        size_t e = cand[2 * k], j = cand[2 * k + 1];
        double sc;
        if (c->pair.model) {
            const task_seg *g = &r->items[k].segs[0];
            sc = prob(&c->pair.cls, g->out, g->n_out, s->ip);
        } else {
            sc = json_number_value(json_array_get(pe, e)) * json_number_value(json_array_get(pc, j));
        }
        if (c->pair.model && sc < c->threshold) continue;
        json_t *p = json_pack("{s:O,s:O,s:f}", "emotion", json_array_get(nums, e), "cause", json_array_get(nums, j),
                              "score", sc);
        if (!p || json_array_append_new(pairs, p)) {
            free(cand);
            goto oom;
        }
    }
    free(cand);
    if (json_object_set_new(o, "emotions", emo) || json_object_set_new(o, "causes", cau) ||
        json_object_set_new(o, "pairs", pairs))
        return json_decref(o), NULL;
    return o;
oom:
    json_decref(o), json_decref(emo), json_decref(cau), json_decref(pairs);
    return NULL;
}

/* ---- the run ----------------------------------------------------------------------------------------- */

static senti_status ck_offset(void *ctx, int64_t done) {
    const task_runner_opts *o = ctx;
    return o->checkpoint(o->checkpoint_ctx, done + o->skip);
}

task_runner_opts task_chain_opts(const task_runner_opts *o, bool last) {
    task_runner_opts l = *o;
    l.skip = 0;
    l.strict = false; /* the first step already stopped at a bad record when strict */
    l.checkpoint = last && o->checkpoint ? ck_offset : NULL;
    l.checkpoint_ctx = (void *)o;
    if (!last) l.progress = NULL;
    return l;
}

FILE *task_chain_rewind(FILE *f) {
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0) {
        senti_error(SENTI_ERR_IO, "a temporary file failed");
        return NULL;
    }
    return f;
}

static void add_stats(task_stats *a, const task_stats *b) {
    a->tokens += b->tokens, a->padded_tokens += b->padded_tokens, a->batches += b->batches, a->units += b->units;
    a->truncated += b->truncated, a->t_read += b->t_read, a->t_tokenize += b->t_tokenize, a->t_model += b->t_model;
    a->t_output += b->t_output;
}

/* Run one step from src into a rewound temporary file (*tmp) or out. */
static senti_status step(senti_model *m, const senti_tokenizer *tok, task_source *src, FILE *out,
                         const task_runner_opts *o, const task_ops *ops, void *ctx, task_stats *sum, bool first,
                         int64_t *errors) {
    task_stats st = {0};
    senti_status s = task_run_ops(m, tok, src, out, o, ops, ctx, &st);
    if (first) {
        *sum = st;
    } else {
        add_stats(sum, &st);
        sum->seconds += st.seconds;
    }
    if (errors) *errors = st.errors; /* the step's error lines: the last step's carry every earlier one */
    return s;
}

senti_status task_cause_run(const task_cause *c, task_source *src, FILE *out, const task_runner_opts *opts,
                            task_stats *st) {
    task_runner_opts o = opts ? *opts : task_runner_opts_defaults();
    task_stats local = {0}, *sum = st ? st : &local;
    memset(sum, 0, sizeof *sum);
    if (!c || !c->clause.model || !src || !out || c->context < 0 || c->window < 0 ||
        !(c->threshold >= 0 && c->threshold <= 1))
        return senti_error(SENTI_ERR_INVALID_ARG, "cause: bad argument");
    step1 s1 = {.c = c, .cm = &c->clause, .ie = label_index(c->clause.model, "emotion"),
                .ic = c->cause.model ? -1 : label_index(c->clause.model, "cause")};
    step1 s1b = {.c = c, .cm = &c->cause, .ie = -1, .ic = c->cause.model ? label_index(c->cause.model, "cause") : -1,
                 .again = true};
    step2 s2 = {.c = c, .ip = -1};
    if (s1.ie < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "cause: the clause model has no label \"emotion\"");
    if (c->cause.model ? s1b.ic < 0 : s1.ic < 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "cause: no model has the label \"cause\" (%s)",
                           c->cause.model ? "the cause model" : "the clause model");
    if (c->pair.model) {
        s2.ip = label_index(c->pair.model, "pair");
        if (s2.ip < 0) s2.ip = senti_model_num_labels(c->pair.model) - 1;
        if (s2.ip < 0) return senti_error(SENTI_ERR_INVALID_ARG, "cause: the pair model has no labels");
    }
    task_ops ops1 = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .text_optional = true, .expand = s1_expand,
                     .decode = s1_decode};
    task_ops ops2 = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .text_optional = true, .allow_empty = true,
                     .expand = s2_expand, .decode = s2_decode};
    task_runner_opts later = task_chain_opts(&o, true), inner = task_chain_opts(&o, false);
    FILE *t1 = tmpfile(), *t2 = c->cause.model ? tmpfile() : NULL;
    task_source *r1 = NULL, *r2 = NULL;
    senti_status s;
    if (!t1 || (c->cause.model && !t2)) {
        s = senti_error(SENTI_ERR_IO, "cause: cannot create a temporary file");
        goto done;
    }
    o.checkpoint = NULL;
    if ((s = step(c->clause.model, c->clause.tok, src, t1, &o, &ops1, &s1, sum, true, NULL)) != SENTI_OK) goto done;
    int64_t records = sum->records, errors = sum->errors, skipped = sum->skipped;
    if (!task_chain_rewind(t1)) {
        s = SENTI_ERR_IO;
        goto done;
    }
    if (!(r1 = task_source_file(t1, "cause step 1"))) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "cause: out of memory");
        goto done;
    }
    task_source_internal(r1);
    if (c->cause.model) {
        if ((s = step(c->cause.model, c->cause.tok, r1, t2, &inner, &ops1, &s1b, sum, false, NULL)) != SENTI_OK)
            goto done;
        if (!task_chain_rewind(t2) || !(r2 = task_source_file(t2, "cause step 1b"))) {
            s = SENTI_ERR_IO;
            goto done;
        }
        task_source_internal(r2);
    }
    /* step 2 runs on the pair model, or (no pair model: no item is run) on the clause model */
    senti_model *pm = c->pair.model ? c->pair.model : c->clause.model;
    const senti_tokenizer *pt = c->pair.model ? c->pair.tok : c->clause.tok;
    int64_t last_errors = errors;
    s = step(pm, pt, r2 ? r2 : r1, out, &later, &ops2, &s2, sum, false, &last_errors);
    sum->records = records, sum->errors = last_errors > errors ? last_errors : errors, sum->skipped = skipped;
done:
    task_source_free(r1);
    task_source_free(r2);
    if (t1) fclose(t1);
    if (t2) fclose(t2);
    return s;
}
