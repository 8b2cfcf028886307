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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

/* "speaker: text" (just text for a turn without a speaker) into p (NULL:
 * only measure); its length. */
static size_t put_turn(char *p, json_t *turn) {
    json_t *sp = json_object_get(turn, "speaker"), *t = json_object_get(turn, "text");
    size_t n = 0, ns = json_is_string(sp) ? json_string_length(sp) : 0, nt = json_string_length(t);
    if (ns > 0) {
        if (p) memcpy(p, json_string_value(sp), ns), memcpy(p + ns, ": ", 2);
        n = ns + 2;
    }
    if (p) memcpy(p + n, json_string_value(t), nt);
    return n + nt;
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

/* The record's turns once, joined by single spaces, after the offsets where
 * each starts: at[j] for turn j (at[n]: one past the joined text's end plus
 * one, as if a space followed), so turn j is text[at[j], at[j + 1] - 1) and
 * every utterance's context (pair mode) or whole input (prefix mode) is one
 * substring, and the cuts that drop its oldest turns are a run of at[]: the
 * items borrow them (task_record_add_borrowed), so memory is the record's
 * size, not --context copies of it. */
static bool dlg_expand(void *ctx, task_record *r) {
    const task_dialogue *dc = ctx;
    json_t *d = dialogue_of(r);
    if (!d) return r->error != NULL;
    const size_t n = json_array_size(d);
    const bool joined = dc->context > 0 || dc->as_prefix;
    size_t *at = NULL;
    const char *text = NULL;
    if (joined) {
        size_t len = 0;
        for (size_t j = 0; j < n; j++) len += put_turn(NULL, json_array_get(d, j)) + 1;
        if (n > SIZE_MAX / sizeof *at - 2 || !(r->aux = malloc((n + 1) * sizeof *at + len))) return false;
        at = r->aux;
        char *p = (char *)(at + n + 1);
        size_t o = 0;
        for (size_t j = 0; j < n; j++) {
            at[j] = o;
            o += put_turn(p + o, json_array_get(d, j));
            p[o++] = ' '; /* the last one is never read */
        }
        at[n] = o;
        text = p;
    }
    for (size_t i = 0; i < n; i++) {
        const size_t first = dc->context > 0 && (size_t)dc->context < i ? i - (size_t)dc->context : dc->context > 0 ? 0 : i;
        const int64_t nc = (int64_t)(i - first);
        json_t *t = json_object_get(json_array_get(d, i), "text");
        task_item *it = dc->as_prefix /* "context turns speaker: utterance" */
                            ? task_record_add_borrowed(r, text + at[first], at[i + 1] - 1 - at[first], NULL, 0)
                            : task_record_add_borrowed(r, json_string_value(t), json_string_length(t),
                                                       nc > 0 ? text + at[first] : NULL, nc > 0 ? at[i] - 1 - at[first] : 0);
        if (!it) return false;
        if (nc > 0) { /* cut k drops turns first..first+k: the context from turn first+k+1 (k = nc - 1: all of it) */
            it->turns = at + first + 1;
            it->turns_base = at[first];
            it->n_turns = nc;
            it->turns_in_pair = !dc->as_prefix;
        }
    }
    return true;
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
