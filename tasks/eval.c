/* eval.c — the standard metrics of senti eval, computed from gold records
 * (datasets.c) and a task's result objects, one per record, in order:
 *
 *   classify, zero-shot, aspect, dialogue   accuracy, macro / weighted P, R, F1,
 *        per-label P/R/F1/support and the confusion matrix, exactly as
 *        scikit-learn's accuracy_score, precision_recall_fscore_support
 *        (average=None / "macro" / "weighted", labels = the sorted union of
 *        gold and predicted labels, zero_division 0) and confusion_matrix
 *        compute them (F1 = 2 tp / (gold + predicted), sums in sorted-label order);
 *   ae, oe, aesc, pair, triplet             exact-match P/R/F1 over the set of
 *        (record, span…[, sentiment]) tuples, as GTS (Wu et al. 2020) scores
 *        ASTE-Data-V2 (duplicates count once);
 *   quad                                    ASQP (Zhang et al. 2021): exact string
 *        match of (aspect, category, sentiment, opinion), NULL for implicit terms,
 *        counted as lists (every predicted quad found in the record's gold list is
 *        a hit, duplicates included), as their compute_f1_scores does;
 *   ecpe                                    Xia & Ding (2019): pair, emotion-clause
 *        and cause-clause P/R/F1 over sets, with their 1e-8 terms:
 *        p = hits / (predicted + 1e-8), r = hits / (gold + 1e-8), f1 = 2pr / (p + r + 1e-8);
 *        cause is the same scorer (the name senti eval runs a model under); when the
 *        results carry their own clause lists ("emotions", "causes": senti cause's
 *        step 1), "emotion_clauses" / "cause_clauses" score those lists the same way;
 *   event                                   exact-tuple P/R/F1 over the set of
 *        (record, trigger, subject, object, time, location, polarity), each
 *        term compared after trimming, collapsing white space and lowercasing
 *        ASCII, a null / missing / "NULL" / "none" term matching only another
 *        such (duplicates count once); beside it the same over (record,
 *        trigger), (record, trigger, polarity) and, per non-null argument,
 *        (record, trigger, role, argument).
 *
 * A record whose gold is an error, or whose prediction is an error, is left
 * out and counted. A gold label that is not one of the model's label names
 * is read as the name differing only in ASCII case, else (an integer below
 * the label count) as a label id (GLUE's 0/1). Invariant: the
 * i-th prediction carries the i-th record's id, else nothing is scored. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/core.h"
#include "tasks.h"

static const char *const KIND_NAMES[TASK_EVAL_COUNT] = {"classify", "zero-shot", "aspect", "dialogue", "ae", "oe",
                                                         "aesc", "pair", "triplet", "quad", "ecpe", "cause", "event"};

task_eval_kind task_eval_kind_from_name(const char *name) {
    for (int i = 0; name && i < TASK_EVAL_COUNT; i++)
        if (!strcmp(name, KIND_NAMES[i])) return (task_eval_kind)i;
    return TASK_EVAL_COUNT;
}

const char *task_eval_kind_name(task_eval_kind k) { return (unsigned)k < TASK_EVAL_COUNT ? KIND_NAMES[k] : "?"; }

/* ---- label pairs -> classification metrics ---------------------------------------------- */

typedef struct labset {
    char **name;
    int64_t n, cap;
} labset;

static int64_t lab_find(const labset *l, const char *s) {
    for (int64_t i = 0; i < l->n; i++)
        if (!strcmp(l->name[i], s)) return i;
    return -1;
}

/* Index of s, added when new; -1 on OOM. */
static int64_t lab_add(labset *l, const char *s) {
    int64_t i = lab_find(l, s);
    if (i >= 0) return i;
    if (l->n == l->cap) {
        int64_t c = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->name, (size_t)c * sizeof *v);
        if (!v) return -1;
        l->name = v, l->cap = c;
    }
    if (!(l->name[l->n] = strdup(s))) return -1;
    return l->n++;
}

static void lab_free(labset *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->name[i]);
    free(l->name);
}

typedef struct cls_acc {
    labset L;
    int64_t *gold, *pred, n, cap; /* label indices of the scored items */
} cls_acc;

static bool cls_push(cls_acc *a, const char *g, const char *p) {
    if (a->n == a->cap) {
        int64_t c = a->cap ? 2 * a->cap : 1024;
        int64_t *x = realloc(a->gold, (size_t)c * sizeof *x);
        if (x) a->gold = x;
        int64_t *y = x ? realloc(a->pred, (size_t)c * sizeof *y) : NULL;
        if (y) a->pred = y;
        if (!y) return false;
        a->cap = c;
    }
    int64_t gi = lab_add(&a->L, g), pi = gi < 0 ? -1 : lab_add(&a->L, p);
    if (pi < 0) return false;
    a->gold[a->n] = gi, a->pred[a->n++] = pi;
    return true;
}

static const char *const *g_sort_names; /* qsort context (single-threaded use) */
static int cmp_lab(const void *a, const void *b) {
    return strcmp(g_sort_names[*(const int64_t *)a], g_sort_names[*(const int64_t *)b]);
}

static json_t *prf_obj(double p, double r, double f) { return json_pack("{sfsfsf}", "precision", p, "recall", r, "f1", f); }

/* The classification metrics of a's items, labels in a->L order. */
static json_t *cls_metrics(const cls_acc *a) {
    const int64_t L = a->L.n;
    int64_t *cm = calloc((size_t)(L * L + 1), sizeof *cm), *order = malloc((size_t)(L + 1) * sizeof *order);
    json_t *o = NULL;
    if (!cm || !order) goto done;
    int64_t correct = 0;
    for (int64_t i = 0; i < a->n; i++) {
        cm[a->gold[i] * L + a->pred[i]]++;
        correct += a->gold[i] == a->pred[i];
    }
    /* sklearn averages over the sorted union of the gold and predicted labels */
    int64_t np_ = 0;
    for (int64_t k = 0; k < L; k++) {
        int64_t t = 0, p = 0;
        for (int64_t j = 0; j < L; j++) t += cm[k * L + j], p += cm[j * L + k];
        if (t + p > 0) order[np_++] = k;
    }
    g_sort_names = (const char *const *)a->L.name;
    qsort(order, (size_t)np_, sizeof *order, cmp_lab);
    double sp = 0, sr = 0, sf = 0, wp = 0, wr = 0, wf = 0, wt = 0;
    o = json_object();
    json_t *per = json_object(), *labels = json_array(), *conf = json_array();
    if (!o || !per || !labels || !conf) {
        json_decref(per), json_decref(labels), json_decref(conf);
        goto fail;
    }
    json_object_set_new(o, "accuracy", json_real(a->n ? (double)correct / (double)a->n : 0.0));
    for (int64_t q = 0; q < np_; q++) {
        int64_t k = order[q], tp = cm[k * L + k], t = 0, p = 0;
        for (int64_t j = 0; j < L; j++) t += cm[k * L + j], p += cm[j * L + k];
        double pr = p ? (double)tp / (double)p : 0.0, rc = t ? (double)tp / (double)t : 0.0;
        double f1 = t + p ? 2.0 * (double)tp / (double)(t + p) : 0.0;
        sp += pr, sr += rc, sf += f1;
        wp += pr * (double)t, wr += rc * (double)t, wf += f1 * (double)t, wt += (double)t;
    }
    json_object_set_new(o, "macro_precision", json_real(np_ ? sp / (double)np_ : 0.0));
    json_object_set_new(o, "macro_recall", json_real(np_ ? sr / (double)np_ : 0.0));
    json_object_set_new(o, "macro_f1", json_real(np_ ? sf / (double)np_ : 0.0));
    json_object_set_new(o, "weighted_precision", json_real(wt > 0 ? wp / wt : 0.0));
    json_object_set_new(o, "weighted_recall", json_real(wt > 0 ? wr / wt : 0.0));
    json_object_set_new(o, "weighted_f1", json_real(wt > 0 ? wf / wt : 0.0));
    for (int64_t k = 0; k < L; k++) {
        int64_t tp = cm[k * L + k], t = 0, p = 0;
        json_t *row = json_array();
        for (int64_t j = 0; j < L; j++) {
            t += cm[k * L + j], p += cm[j * L + k];
            json_array_append_new(row, json_integer(cm[k * L + j]));
        }
        double pr = p ? (double)tp / (double)p : 0.0, rc = t ? (double)tp / (double)t : 0.0;
        json_t *e = prf_obj(pr, rc, t + p ? 2.0 * (double)tp / (double)(t + p) : 0.0);
        if (e) json_object_set_new(e, "support", json_integer(t)), json_object_set_new(e, "predicted", json_integer(p));
        json_object_set_new(per, a->L.name[k], e);
        json_array_append_new(labels, json_string(a->L.name[k]));
        json_array_append_new(conf, row);
    }
    json_object_set_new(o, "per_label", per);
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "confusion", conf); /* rows: gold, columns: predicted, in "labels" order */
    goto done;
fail:
    json_decref(o);
    o = NULL;
done:
    free(cm);
    free(order);
    return o;
}

/* ---- tuple sets / lists -> P/R/F1 --------------------------------------------------------- */

typedef struct keyset {
    char **k;
    int64_t n, cap;
} keyset;

static bool ks_add(keyset *s, char *key) { /* takes key */
    if (!key) return false;
    if (s->n == s->cap) {
        int64_t c = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->k, (size_t)c * sizeof *v);
        if (!v) {
            free(key);
            return false;
        }
        s->k = v, s->cap = c;
    }
    s->k[s->n++] = key;
    return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void ks_unique(keyset *s) {
    if (s->n == 0) return; /* qsort / bsearch take no NULL array, even empty */
    qsort(s->k, (size_t)s->n, sizeof *s->k, cmp_str);
    int64_t w = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (w && !strcmp(s->k[w - 1], s->k[i])) free(s->k[i]);
        else s->k[w++] = s->k[i];
    }
    s->n = w;
}

static bool ks_has(const keyset *s, const char *k) { /* s sorted */
    return s->n > 0 && bsearch(&k, s->k, (size_t)s->n, sizeof *s->k, cmp_str) != NULL;
}

static void ks_free(keyset *s) {
    for (int64_t i = 0; i < s->n; i++) free(s->k[i]);
    free(s->k);
    memset(s, 0, sizeof *s);
}

static json_t *prf_counts(int64_t hit, int64_t gold, int64_t pred, bool ecpe) {
    double p, r, f;
    if (ecpe) {
        p = (double)hit / ((double)pred + 1e-8);
        r = (double)hit / ((double)gold + 1e-8);
        f = 2 * p * r / (p + r + 1e-8);
    } else {
        p = pred ? (double)hit / (double)pred : 0.0;
        r = gold ? (double)hit / (double)gold : 0.0;
        f = p + r > 0 ? 2 * p * r / (p + r) : 0.0;
    }
    json_t *o = prf_obj(p, r, f);
    if (o) {
        json_object_set_new(o, "gold", json_integer(gold));
        json_object_set_new(o, "predicted", json_integer(pred));
        json_object_set_new(o, "correct", json_integer(hit));
    }
    return o;
}

/* Set semantics: both sides deduplicated (keys carry the record index). */
static json_t *set_metrics(keyset *g, keyset *p, bool ecpe) {
    ks_unique(g);
    ks_unique(p);
    int64_t hit = 0;
    for (int64_t i = 0; i < p->n; i++) hit += ks_has(g, p->k[i]);
    return prf_counts(hit, g->n, p->n, ecpe);
}

/* ---- keys of gold and predicted tuples ----------------------------------------------------- */

static char *keyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *keyf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* "start:end" of o's offsets under k0/k1, or "?text" (the whole text) when
 * they are null; malloc'd, NULL on OOM. */
static char *span_txt(json_t *o, const char *k0, const char *k1, const char *kt) {
    json_t *s = json_object_get(o, k0), *e = json_object_get(o, k1), *t = json_object_get(o, kt);
    if (json_is_integer(s) && json_is_integer(e))
        return keyf("%lld:%lld", (long long)json_integer_value(s), (long long)json_integer_value(e));
    return keyf("?%s", json_is_string(t) ? json_string_value(t) : "");
}

/* Record i's key of n parts: each part length-prefixed, so no text in a part
 * (a '|', a separator byte) can make two different tuples one key. NULL when a
 * part is NULL (OOM) or on OOM. */
static char *key_of(int64_t i, int n, const char *const *part) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    bool ok = fprintf(f, "%lld", (long long)i) > 0;
    for (int j = 0; j < n && ok; j++) ok = part[j] && fprintf(f, "|%zu:%s", strlen(part[j]), part[j]) >= 0;
    if (fclose(f) != 0 || !ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

static const char *str_or(json_t *o, const char *k, const char *def) {
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : def;
}

static bool opinion_type(const char *t) { return t && (t[0] == 'O' || t[0] == 'o') && (t[1] == 'P' || t[1] == 'p'); }

/* Keys of record i's tuples for kind k from a gold record (gold) or a result. */
static bool tuple_keys(task_eval_kind k, int64_t i, json_t *o, bool gold, keyset *out) {
    size_t j;
    json_t *v, *list;
    bool ok = true;
    switch (k) {
    case TASK_EVAL_AE:
    case TASK_EVAL_AESC:
        list = gold ? json_object_get(o, "aspect_spans") : json_object_get(o, "aspects");
        if (!gold && !list) list = json_object_get(o, "spans");
        json_array_foreach(list, j, v) {
            if (!gold && !json_object_get(o, "aspects") && opinion_type(str_or(v, "type", NULL))) continue;
            char *a = span_txt(v, "start", "end", !json_object_get(v, "aspect") && !gold ? "text" : "aspect");
            const char *part[2] = {a, str_or(v, "sentiment", "?")};
            ok = ks_add(out, key_of(i, k == TASK_EVAL_AE ? 1 : 2, part));
            free(a);
            if (!ok) return false;
        }
        return true;
    case TASK_EVAL_OE:
        list = json_object_get(o, gold ? "opinion_spans" : "spans");
        json_array_foreach(list, j, v) {
            const char *t = str_or(v, "type", NULL);
            if (!gold && t && (!strcmp(t, "POS") || !strcmp(t, "NEG") || !strcmp(t, "NEU") || !strcmp(t, "ASP")))
                continue;
            char *a = span_txt(v, "start", "end", gold ? "opinion" : "text");
            ok = ks_add(out, key_of(i, 1, (const char *const[]){a}));
            free(a);
            if (!ok) return false;
        }
        return true;
    case TASK_EVAL_PAIR:
    case TASK_EVAL_TRIPLET:
        list = json_object_get(o, gold ? (json_object_get(o, "triplets") ? "triplets" : "quads")
                                       : (k == TASK_EVAL_PAIR && json_object_get(o, "pairs") ? "pairs" : "triplets"));
        json_array_foreach(list, j, v) {
            if (gold && (json_is_null(json_object_get(v, "aspect")) || json_is_null(json_object_get(v, "opinion"))))
                continue; /* implicit terms have no span */
            char *a = span_txt(v, "aspect_start", "aspect_end", "aspect");
            char *b = span_txt(v, "opinion_start", "opinion_end", "opinion");
            const char *part[3] = {a, b, str_or(v, "sentiment", "?")};
            ok = ks_add(out, key_of(i, k == TASK_EVAL_PAIR ? 2 : 3, part));
            free(a), free(b);
            if (!ok) return false;
        }
        return true;
    case TASK_EVAL_QUAD:
        json_array_foreach(json_object_get(o, "quads"), j, v) {
            const char *part[4] = {str_or(v, "aspect", "NULL"), str_or(v, "category", "NULL"),
                                   str_or(v, "sentiment", "NULL"), str_or(v, "opinion", "NULL")};
            if (!ks_add(out, key_of(i, 4, part))) return false;
        }
        return true;
    default: return false;
    }
}

/* ASQP's list count: each predicted quad found in the gold list is a hit. */
static json_t *quad_metrics(json_t *gold, json_t *preds, const bool *use) {
    int64_t hit = 0, ng = 0, np_ = 0;
    for (size_t i = 0; i < json_array_size(gold); i++) {
        if (!use[i]) continue;
        keyset g = {0}, p = {0};
        if (!tuple_keys(TASK_EVAL_QUAD, (int64_t)i, json_array_get(gold, i), true, &g) ||
            !tuple_keys(TASK_EVAL_QUAD, (int64_t)i, json_array_get(preds, i), false, &p)) {
            ks_free(&g), ks_free(&p);
            return NULL;
        }
        ng += g.n, np_ += p.n;
        for (int64_t a = 0; a < p.n; a++)
            for (int64_t b = 0; b < g.n; b++)
                if (!strcmp(p.k[a], g.k[b])) {
                    hit++;
                    break;
                }
        ks_free(&g), ks_free(&p);
    }
    return prf_counts(hit, ng, np_, false);
}

/* A result's own clause lists ("emotions" / "causes": integers, senti cause's step 1) as set keys. */
static bool clause_keys(int64_t i, json_t *o, const char *field, keyset *out, char *why, size_t wn) {
    size_t j;
    json_t *v;
    json_array_foreach(json_object_get(o, field), j, v) {
        if (!json_is_integer(v)) return snprintf(why, wn, "\"%s\" item %zu is not a clause number", field, j), true;
        if (!ks_add(out, keyf("%lld|%lld", (long long)i, (long long)json_integer_value(v)))) return false;
    }
    return true;
}

/* ECPE: pairs [[e, c], …] (or [{"emotion","cause"}]) as set keys. */
static bool ecpe_keys(int64_t i, json_t *o, keyset *pairs, keyset *emo, keyset *cause, char *why, size_t wn) {
    size_t j;
    json_t *v;
    json_array_foreach(json_object_get(o, "pairs"), j, v) {
        json_t *e = json_is_array(v) ? json_array_get(v, 0) : json_object_get(v, "emotion");
        json_t *c = json_is_array(v) ? json_array_get(v, 1) : json_object_get(v, "cause");
        if (!json_is_integer(e) || !json_is_integer(c))
            return snprintf(why, wn, "pair %zu is not two clause numbers ([emotion, cause])", j), true;
        long long ev = (long long)json_integer_value(e), cv = (long long)json_integer_value(c);
        if (!ks_add(pairs, keyf("%lld|%lld|%lld", (long long)i, ev, cv)) ||
            !ks_add(emo, keyf("%lld|%lld", (long long)i, ev)) || !ks_add(cause, keyf("%lld|%lld", (long long)i, cv)))
            return false;
    }
    return true;
}

/* Events: a term as its key part (trimmed, white space collapsed, ASCII
 * lowercased; "\x01" for none). malloc'd; NULL on OOM. */
static char *event_term(json_t *v) {
    const char *s = json_string_value(v);
    if (!s) return strdup("\x01");
    size_t n = strlen(s), j = 0;
    char *o = malloc(n + 2);
    if (!o) return NULL;
    bool sp = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            if (!sp) o[j++] = ' ';
            sp = true;
            continue;
        }
        o[j++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        sp = false;
    }
    while (j && o[j - 1] == ' ') j--;
    o[j] = '\0';
    if (!j || !strcmp(o, "null") || !strcmp(o, "none")) strcpy(o, "\x01");
    return o;
}

/* Keys of record i's events: whole tuples, triggers, (trigger, polarity), (trigger, role, argument). */
static bool event_keys(int64_t i, json_t *o, keyset *ev, keyset *trig, keyset *tp, keyset *arg) {
    static const char *const F[6] = {"trigger", "subject", "object", "time", "location", "polarity"};
    size_t j;
    json_t *v;
    json_array_foreach(json_object_get(o, "events"), j, v) {
        char *t[6] = {0};
        bool ok = true;
        for (int k = 0; k < 6 && ok; k++) ok = (t[k] = event_term(json_object_get(v, F[k]))) != NULL;
        ok = ok && ks_add(ev, key_of(i, 6, (const char *const *)t)) && ks_add(trig, key_of(i, 1, (const char *const *)t)) &&
             ks_add(tp, key_of(i, 2, (const char *const[]){t[0], t[5]}));
        for (int k = 1; k < 5 && ok; k++)
            if (strcmp(t[k], "\x01")) ok = ks_add(arg, key_of(i, 3, (const char *const[]){t[0], F[k], t[k]}));
        for (int k = 0; k < 6; k++) free(t[k]);
        if (!ok) return false;
    }
    return true;
}

/* ---- classification items from gold + predictions -------------------------------------------- */

/* The gold label string as a model label: itself when the model has it, the
 * model's label that differs only in ASCII case, or label id g when g is an
 * integer below the label count (GLUE's 0/1); else g unchanged. */
static const char *map_label(const char *g, const char *const *labels, int64_t nl, bool *by_index) {
    for (int64_t k = 0; k < nl; k++)
        if (!strcmp(labels[k], g)) return g;
    for (int64_t k = 0; k < nl; k++)
        if (!strcasecmp(labels[k], g)) return labels[k];
    size_t d = strspn(g, "0123456789");
    if (d > 0 && d < 10 && !g[d]) {
        const long v = strtol(g, NULL, 10);
        if (v < nl) {
            *by_index = true;
            return labels[v];
        }
    }
    return g;
}

/* A gold label: a string, or an integer (a label id: as its decimal text, which map_label reads). */
static const char *gold_str(json_t *v, char *buf, size_t n) {
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return json_string_value(v);
}

/* Push record i's (gold, predicted) label pairs; false on OOM, *why on a
 * prediction that does not fit the gold (message). */
static bool cls_items(task_eval_kind k, json_t *g, json_t *p, const char *const *labels, int64_t nl, cls_acc *a,
                      bool *by_index, char *why, size_t wn) {
    if (k == TASK_EVAL_CLASSIFY || k == TASK_EVAL_ZERO_SHOT) {
        char gb[32];
        const char *gl = gold_str(json_object_get(g, "label"), gb, sizeof gb);
        const char *pl = k == TASK_EVAL_ZERO_SHOT ? json_string_value(json_array_get(json_object_get(p, "labels"), 0))
                                                  : str_or(p, "label", NULL);
        if (!gl) return snprintf(why, wn, "the record has no \"label\" (a string, or an integer label id)"), true;
        if (!pl) return snprintf(why, wn, "the prediction has no label"), true;
        return cls_push(a, map_label(gl, labels, nl, by_index), map_label(pl, labels, nl, by_index));
    }
    if (k == TASK_EVAL_DIALOGUE) {
        json_t *gl = json_object_get(g, "labels"), *pu = json_object_get(p, "utterances");
        if (!json_is_array(gl))
            return snprintf(why, wn, "the record has no \"labels\" list (a dialogue's: one per utterance)"), true;
        if (json_array_size(gl) != json_array_size(pu))
            return snprintf(why, wn, "%zu gold labels for %zu predicted utterances", json_array_size(gl),
                            json_array_size(pu)), true;
        for (size_t j = 0; j < json_array_size(gl); j++) {
            char gb[32];
            const char *gs = gold_str(json_array_get(gl, j), gb, sizeof gb);
            const char *ps = str_or(json_array_get(pu, j), "label", NULL);
            if (!gs || !ps) return snprintf(why, wn, "utterance %zu has no gold or predicted label", j), true;
            if (!cls_push(a, map_label(gs, labels, nl, by_index), map_label(ps, labels, nl, by_index))) return false;
        }
        return true;
    }
    /* aspect: the k-th result answers the k-th aspect */
    json_t *ga = json_object_get(g, "aspect"), *gs = json_object_get(g, "sentiments"), *pa = json_object_get(p, "aspects");
    if (json_is_string(ga)) {
        const char *s = str_or(g, "sentiment", NULL);
        const char *ps = str_or(json_array_get(pa, 0), "sentiment", NULL);
        if (!s) return snprintf(why, wn, "the record has no \"sentiment\" for its aspect"), true;
        if (!ps) return snprintf(why, wn, "the prediction has no sentiment"), true;
        return cls_push(a, map_label(s, labels, nl, by_index), map_label(ps, labels, nl, by_index));
    }
    if (!json_is_array(ga) || !json_is_array(gs) || json_array_size(ga) != json_array_size(gs))
        return snprintf(why, wn, "the record has no \"aspect\" list with a \"sentiments\" list beside it"), true;
    if (json_array_size(pa) != json_array_size(ga))
        return snprintf(why, wn, "%zu aspects predicted for %zu", json_array_size(pa), json_array_size(ga)), true;
    for (size_t j = 0; j < json_array_size(ga); j++) {
        json_t *s = json_array_get(gs, j), *r = json_array_get(pa, j);
        if (!json_is_string(s)) continue; /* ambiguous gold: not scored */
        if (!json_equal(json_object_get(r, "aspect"), json_array_get(ga, j)))
            return snprintf(why, wn, "prediction %zu is for another aspect", j), true;
        const char *ps = str_or(r, "sentiment", NULL);
        if (!ps) return snprintf(why, wn, "aspect %zu has no predicted sentiment", j), true;
        if (!cls_push(a, map_label(json_string_value(s), labels, nl, by_index), map_label(ps, labels, nl, by_index)))
            return false;
    }
    return true;
}

senti_status task_eval_score(task_eval_kind k, json_t *gold, json_t *preds, const char *const *labels,
                             int64_t n_labels, json_t **metrics) {
    *metrics = NULL;
    if ((unsigned)k >= TASK_EVAL_COUNT) return senti_error(SENTI_ERR_INVALID_ARG, "unknown eval task");
    if (!json_is_array(gold) || !json_is_array(preds) || json_array_size(gold) != json_array_size(preds))
        return senti_error(SENTI_ERR_INVALID_ARG, "%zu predictions for %zu records", json_array_size(preds),
                           json_array_size(gold));
    const size_t n = json_array_size(gold);
    if (n == 0) return senti_error(SENTI_ERR_INVALID_ARG, "the data holds no records to score");
    bool *use = calloc(n + 1, sizeof *use), by_index = false, clauses_given = false;
    int64_t gold_err = 0, pred_err = 0, scored = 0;
    cls_acc ca = {0};
    keyset ks[8] = {{0}};
    json_t *m = NULL;
    senti_status st = SENTI_OK;
    if (!use) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory scoring");
    for (int64_t i = 0; i < n_labels; i++)
        if (lab_add(&ca.L, labels[i]) < 0) goto oom;
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(gold, i), *p = json_array_get(preds, i);
        if (json_object_get(g, "error")) { /* the data's record could not be read: its id may be a guess */
            gold_err++;
            continue;
        }
        if (!json_equal(json_object_get(g, "id"), json_object_get(p, "id"))) {
            json_t *pid = json_object_get(p, "id");
            char *a = pid ? json_dumps(pid, JSON_ENCODE_ANY) : NULL, *b = json_dumps(json_object_get(g, "id"), JSON_ENCODE_ANY);
            st = senti_error(SENTI_ERR_INVALID_ARG, "prediction %zu (in order) has %s%s where the data has id %s", i + 1,
                             pid ? "id " : "no id", a ? a : "", b ? b : "?");
            free(a), free(b);
            goto done;
        }
        if (json_object_get(p, "error")) {
            pred_err++;
            continue;
        }
        char why[200] = "";
        bool gold_bad = false;
        switch (k) {
        case TASK_EVAL_CLASSIFY:
        case TASK_EVAL_ZERO_SHOT:
        case TASK_EVAL_ASPECT:
        case TASK_EVAL_DIALOGUE:
            if (!cls_items(k, g, p, labels, n_labels, &ca, &by_index, why, sizeof why)) goto oom;
            break;
        case TASK_EVAL_QUAD: break;
        case TASK_EVAL_ECPE:
        case TASK_EVAL_CAUSE:
            if (!ecpe_keys((int64_t)i, g, &ks[0], &ks[1], &ks[2], why, sizeof why)) goto oom;
            if (why[0]) { /* the gold record's pairs: the data's fault, not the prediction's */
                gold_bad = true;
                break;
            }
            if (!ecpe_keys((int64_t)i, p, &ks[3], &ks[4], &ks[5], why, sizeof why) ||
                !clause_keys((int64_t)i, p, "emotions", &ks[6], why, sizeof why) ||
                !clause_keys((int64_t)i, p, "causes", &ks[7], why, sizeof why))
                goto oom;
            clauses_given |= json_is_array(json_object_get(p, "emotions")) && json_is_array(json_object_get(p, "causes"));
            break;
        case TASK_EVAL_EVENT:
            if (!event_keys((int64_t)i, g, &ks[0], &ks[1], &ks[2], &ks[3]) ||
                !event_keys((int64_t)i, p, &ks[4], &ks[5], &ks[6], &ks[7]))
                goto oom;
            break;
        default:
            if (!tuple_keys(k, (int64_t)i, g, true, &ks[0]) || !tuple_keys(k, (int64_t)i, p, false, &ks[1])) goto oom;
        }
        if (why[0]) {
            char *id = json_dumps(json_object_get(g, "id"), JSON_ENCODE_ANY);
            st = senti_error(SENTI_ERR_INVALID_ARG, "%s record %s (number %zu in order): %s",
                             gold_bad ? "the data's" : "the prediction for", id ? id : "?", i + 1, why);
            free(id);
            goto done;
        }
        use[i] = true;
        scored++;
    }
    switch (k) {
    case TASK_EVAL_CLASSIFY:
    case TASK_EVAL_ZERO_SHOT:
    case TASK_EVAL_ASPECT:
    case TASK_EVAL_DIALOGUE: m = cls_metrics(&ca); break;
    case TASK_EVAL_QUAD: m = quad_metrics(gold, preds, use); break;
    case TASK_EVAL_EVENT:
        if ((m = json_object())) {
            json_object_set_new(m, "event", set_metrics(&ks[0], &ks[4], false));
            json_object_set_new(m, "trigger", set_metrics(&ks[1], &ks[5], false));
            json_object_set_new(m, "trigger_polarity", set_metrics(&ks[2], &ks[6], false));
            json_object_set_new(m, "argument", set_metrics(&ks[3], &ks[7], false));
        }
        break;
    case TASK_EVAL_ECPE:
    case TASK_EVAL_CAUSE:
        if ((m = json_object())) {
            json_object_set_new(m, "pair", set_metrics(&ks[0], &ks[3], true));
            json_object_set_new(m, "emotion", set_metrics(&ks[1], &ks[4], true));
            json_object_set_new(m, "cause", set_metrics(&ks[2], &ks[5], true));
            if (clauses_given) { /* the predicted clause lists themselves (step 1) against the gold pairs' clauses */
                json_object_set_new(m, "emotion_clauses", set_metrics(&ks[1], &ks[6], true));
                json_object_set_new(m, "cause_clauses", set_metrics(&ks[2], &ks[7], true));
            }
        }
        break;
    default: m = set_metrics(&ks[0], &ks[1], false);
    }
    if (!m) goto oom;
    json_object_set_new(m, "records", json_integer((json_int_t)n));
    json_object_set_new(m, "scored", json_integer(scored));
    if (k <= TASK_EVAL_DIALOGUE) json_object_set_new(m, "items", json_integer(ca.n));
    json_object_set_new(m, "gold_errors", json_integer(gold_err));
    json_object_set_new(m, "prediction_errors", json_integer(pred_err));
    if (by_index) json_object_set_new(m, "gold_labels", json_string("integer ids read as the model's label ids"));
    *metrics = m;
    m = NULL;
    goto done;
oom:
    st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory scoring");
done:
    json_decref(m);
    free(use);
    lab_free(&ca.L);
    free(ca.gold);
    free(ca.pred);
    for (int i = 0; i < 8; i++) ks_free(&ks[i]);
    return st;
}
