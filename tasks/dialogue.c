/* dialogue.c — per-utterance emotion in conversations: each utterance of a
 * {"dialogue":[{"speaker":…,"text":…},…]} record is classified with up to
 * `context` previous turns as context, formatted "speaker: text" (just the
 * text for a turn without a speaker) and joined by single spaces:
 *   pair mode (default):  the sentence pair (utterance text, context turns),
 *                         so with no context it is the utterance alone;
 *   prefix mode:          one text "context turns speaker: utterance".
 * When an input is too long the oldest context turns go first, then the
 * runner truncates (the text first, then longest-first), or with --stride
 * runs the utterance (prefix mode: the whole text) as windows.
 *
 * Invariants: the utterances of many dialogues share the runner's
 * length-sorted batches; each utterance's result is the classify result of
 * exactly that input run alone. Output: {"utterances":[{"speaker","text",
 * "label","score","scores"}…]} (multi-label models: "labels" instead of
 * "label"/"score"), one per input utterance, in order. */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

/* Growable byte string. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static bool put(buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 64;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return false;
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

/* "speaker: text" or text */
static bool put_turn(buf *b, json_t *turn) {
    json_t *sp = json_object_get(turn, "speaker"), *t = json_object_get(turn, "text");
    if (json_is_string(sp) && json_string_length(sp) > 0 &&
        (!put(b, json_string_value(sp), json_string_length(sp)) || !put(b, ": ", 2)))
        return false;
    return put(b, json_string_value(t), json_string_length(t));
}

/* The dialogue array of r (parsing an argument / plain line as JSON when
 * needed), checked; NULL with r failed on a bad record. */
static json_t *dialogue_of(task_record *r) {
    if (!r->obj && r->text) {
        json_error_t je;
        r->obj = json_loadb(r->text, r->len, 0, &je);
        if (!r->obj) {
            task_record_fail(r, "invalid JSON at column %d: %s (dialogue records are JSON)", je.column, je.text);
            return NULL;
        }
        if (!json_is_object(r->obj)) {
            task_record_fail(r, "record is not a JSON object");
            return NULL;
        }
    }
    json_t *d = r->obj ? json_object_get(r->obj, "dialogue") : NULL;
    if (!d) {
        task_record_fail(r, "missing field \"dialogue\"");
        return NULL;
    }
    if (!json_is_array(d) || json_array_size(d) == 0) {
        task_record_fail(r, "field \"dialogue\" must be a non-empty array of {\"speaker\",\"text\"} objects");
        return NULL;
    }
    size_t i;
    json_t *u;
    json_array_foreach(d, i, u) {
        json_t *sp = json_is_object(u) ? json_object_get(u, "speaker") : NULL,
               *t = json_is_object(u) ? json_object_get(u, "text") : NULL;
        if (!json_is_string(t) || (sp && !json_is_null(sp) && !json_is_string(sp))) {
            task_record_fail(r, "dialogue turn %zu: needs a string \"text\" (and \"speaker\" a string if given)", i);
            return NULL;
        }
        int64_t at = task_utf8_invalid_at(json_string_value(t), json_string_length(t));
        if (at < 0 && sp && json_is_string(sp)) at = task_utf8_invalid_at(json_string_value(sp), json_string_length(sp));
        if (at >= 0) {
            task_record_fail(r, "dialogue turn %zu: invalid UTF-8 at byte %lld", i, (long long)at);
            return NULL;
        }
    }
    return d;
}

static bool dlg_expand(void *ctx, task_record *r) {
    const task_dialogue *dc = ctx;
    json_t *d = dialogue_of(r);
    if (!d) return r->error != NULL;
    buf b = {0};
    size_t *cuts = NULL;
    bool ok = true;
    size_t n = json_array_size(d);
    for (size_t i = 0; i < n && ok; i++) {
        size_t first = dc->context > 0 && (size_t)dc->context < i ? i - (size_t)dc->context : 0;
        if (dc->context <= 0) first = i;
        int64_t nc = (int64_t)(i - first);
        b.n = 0;
        if (!(cuts = malloc((size_t)(nc + 1) * sizeof *cuts))) {
            ok = false;
            break;
        }
        for (size_t j = first; j < i && ok; j++) { /* context: "speaker: text" turns */
            if (j > first) ok = put(&b, " ", 1);
            if (j > first) cuts[j - first - 1] = b.n; /* cutting here drops turns first..j-1 */
            ok = ok && put_turn(&b, json_array_get(d, j));
        }
        json_t *u = json_array_get(d, i), *t = json_object_get(u, "text");
        task_item *it = NULL;
        if (!ok) break;
        if (dc->as_prefix) {
            if (nc > 0) {
                ok = put(&b, " ", 1);
                cuts[nc - 1] = b.n; /* drop every context turn */
            }
            ok = ok && put_turn(&b, u) && (it = task_record_add(r, b.p, b.n, NULL, 0));
            if (ok && nc > 0) it->turns_in_pair = false;
        } else {
            if (nc > 0) cuts[nc - 1] = b.n; /* all of the context gone */
            ok = (it = task_record_add(r, json_string_value(t), json_string_length(t), nc > 0 ? b.p : NULL,
                                       nc > 0 ? b.n : 0)) != NULL;
            if (ok && nc > 0) it->turns_in_pair = true;
        }
        if (ok && nc > 0) {
            it->turns = cuts;
            it->n_turns = nc;
            cuts = NULL;
        }
        free(cuts);
        cuts = NULL;
    }
    free(cuts);
    free(b.p);
    return ok;
}

static json_t *dlg_decode(void *ctx, task_record *r) {
    const task_dialogue *dc = ctx;
    json_t *d = json_object_get(r->obj, "dialogue"), *o = json_object(), *list = json_array();
    if (!o || !list || json_object_set_new(o, "utterances", list) != 0) {
        json_decref(o);
        return NULL;
    }
    for (int64_t i = 0; i < r->n_items; i++) {
        json_t *u = json_array_get(d, (size_t)i), *e = json_object(), *sp = json_object_get(u, "speaker");
        const task_seg *g = &r->items[i].segs[0];
        json_t *res = task_classify_decode((void *)&dc->cls, g->out, g->n_out);
        if (!e || !res || json_array_append_new(list, e) != 0) {
            json_decref(e);
            json_decref(res);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(e, "speaker", sp && json_is_string(sp) ? json_incref(sp) : json_null());
        json_object_set(e, "text", json_object_get(u, "text"));
        json_object_update(e, res);
        json_decref(res);
    }
    return o;
}

senti_status task_dialogue_run(senti_model *m, const senti_tokenizer *tok, const task_dialogue *d, task_source *src,
                               FILE *out, const task_runner_opts *o, task_stats *st) {
    if (st) memset(st, 0, sizeof *st);
    if (!d || d->context < 0) return senti_error(SENTI_ERR_INVALID_ARG, "task_dialogue_run: bad argument");
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .text_optional = true, .stride = d->cls.lng.stride,
                    .aggregate = d->cls.lng.aggregate, .no_truncate = d->cls.lng.no_truncate, .expand = dlg_expand,
                    .decode = dlg_decode};
    return task_run_ops(m, tok, src, out, o, &ops, (void *)d, st);
}
