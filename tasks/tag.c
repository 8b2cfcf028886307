/* tag.c — token classification into spans, as transformers'
 * TokenClassificationPipeline: softmax per token, special tokens dropped,
 * aggregation none | simple | first | average | max, then grouping of
 * consecutive entities of one type (B- starts a group, I- or a bare label
 * continues it; BIOES extension: S- is a group of its own, E- closes one);
 * groups of type "O" are dropped. Unified aspect-sentiment tags (POS, NEG,
 * NEU types, e.g. B-POS) also give "aspects" with their sentiment.
 *
 * Invariants: span offsets are the code-point offsets of the first and last
 * member token in the original text, text is that slice of it. Which token
 * continues the previous one's word (first / average / max) follows HF's
 * gather_pre_entities: for a tokenizer whose model has a
 * continuing_subword_prefix (WordPiece "##") a token is a subword when its
 * vocabulary string and its slice of the text differ in length; for the
 * others (byte-level BPE, Unigram) when neither the character before it nor
 * its first character is a space; the unknown token never is. Long inputs
 * with --stride: each token's logits come from the window where it is most
 * central (task_item_token_logits), then the whole text decodes at once.
 * (HF's pipeline instead decodes each window and drops overlapping
 * entities; the two agree wherever a token's context is the same.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../tokenizer/tokenizer.h"
#include "tasks.h"

/* byte offset of code point cp in text */

typedef struct ent {
    int64_t label; /* argmax label */
    double score;
    int64_t start, end;
} ent;

/* HF get_tag plus BIOES: *bi is 'B', 'I', 'E' or 'S'; the type is name + *skip */
static char get_tag(const char *name, size_t *skip) {
    *skip = 2;
    if (strncmp(name, "B-", 2) == 0) return 'B';
    if (strncmp(name, "I-", 2) == 0) return 'I';
    if (strncmp(name, "E-", 2) == 0) return 'E';
    if (strncmp(name, "S-", 2) == 0) return 'S';
    *skip = 0;
    return 'I';
}

static const char *sentiment_of(const char *type) {
    if (strcmp(type, "POS") == 0) return "positive";
    if (strcmp(type, "NEG") == 0) return "negative";
    if (strcmp(type, "NEU") == 0) return "neutral";
    return NULL;
}

static bool add_span(json_t *spans, json_t *aspects, const char *type, size_t tlen, const char *text, size_t len,
                     task_cp_cursor *cur, int64_t start, int64_t end, double score) {
    char t[128];
    snprintf(t, sizeof t, "%.*s", (int)(tlen < sizeof t - 1 ? tlen : sizeof t - 1), type);
    if (strcmp(t, "O") == 0) return true;
    size_t b0 = task_cp_byte(cur, text, len, start), b1 = task_cp_byte(cur, text, len, end);
    if (b1 < b0) b1 = b0;
    json_t *o = json_object();
    if (!o) return false;
    json_object_set_new(o, "type", json_string(t));
    json_object_set_new(o, "text", json_stringn(text + b0, b1 - b0));
    json_object_set_new(o, "start", json_integer(start));
    json_object_set_new(o, "end", json_integer(end));
    json_object_set_new(o, "score", json_real(score));
    if (json_array_append_new(spans, o) != 0) return false;
    const char *sent = aspects ? sentiment_of(t) : NULL;
    if (sent) {
        json_t *a = json_object();
        if (!a) return false;
        json_object_set_new(a, "aspect", json_stringn(text + b0, b1 - b0));
        json_object_set_new(a, "start", json_integer(start));
        json_object_set_new(a, "end", json_integer(end));
        json_object_set_new(a, "sentiment", json_string(sent));
        json_object_set_new(a, "score", json_real(score));
        if (json_array_append_new(aspects, a) != 0) return false;
    }
    return true;
}

json_t *task_tag_decode(const char *const *labels, int64_t L, const char *text, size_t len, const int32_t *offsets,
                        const int32_t *word_ids, const uint8_t *special, int64_t T, const float *logits,
                        task_tag_agg agg) {
    return task_tag_decode_sub(labels, L, text, len, offsets, word_ids, NULL, special, T, logits, agg);
}

json_t *task_tag_decode_sub(const char *const *labels, int64_t L, const char *text, size_t len,
                            const int32_t *offsets, const int32_t *word_ids, const uint8_t *subword,
                            const uint8_t *special, int64_t T, const float *logits, task_tag_agg agg) {
    double *p = malloc((size_t)(T > 0 ? T * L : 1) * sizeof *p);
    ent *e = malloc((size_t)(T ? T : 1) * sizeof *e);
    double *acc = malloc((size_t)L * sizeof *acc);
    json_t *o = json_object(), *spans = json_array(), *aspects = json_array();
    if (!p || !e || !acc || !o || !spans || !aspects) goto fail;
    for (int64_t t = 0; t < T; t++) {
        const float *l = logits + t * L;
        double mx = l[0], z = 0;
        for (int64_t k = 1; k < L; k++) mx = l[k] > mx ? l[k] : mx;
        for (int64_t k = 0; k < L; k++) z += (p[t * L + k] = exp((double)l[k] - mx));
        for (int64_t k = 0; k < L; k++) p[t * L + k] /= z;
    }
    /* entities: one per kept token (none, simple) or per word (first, average, max) */
    int64_t ne = 0, prev_word = -1;
    bool have_prev = false;
    for (int64_t t = 0; t < T; t++) {
        if (special && special[t]) continue;
        bool sub = have_prev && (subword ? subword[t] : word_ids && word_ids[t] >= 0 && word_ids[t] == prev_word);
        prev_word = word_ids ? word_ids[t] : -1;
        have_prev = true;
        const double *pt = p + t * L;
        int64_t best = 0;
        for (int64_t k = 1; k < L; k++) best = pt[k] > pt[best] ? k : best;
        if (agg == TASK_TAG_NONE || agg == TASK_TAG_SIMPLE || !sub) {
            e[ne++] = (ent){best, pt[best], offsets[2 * t], offsets[2 * t + 1]};
            continue;
        }
        ent *w = &e[ne - 1];
        w->end = offsets[2 * t + 1];
        if (agg == TASK_TAG_MAX && pt[best] > w->score) w->label = best, w->score = pt[best];
    }
    if (agg == TASK_TAG_AVERAGE) { /* second pass: mean of each word's score vectors */
        int64_t wi = -1, cnt = 0;
        prev_word = -1;
        have_prev = false;
        for (int64_t t = 0; t <= T; t++) {
            bool kept = t < T && !(special && special[t]);
            if (t < T && !kept) continue;
            bool sub = t < T && have_prev &&
                       (subword ? subword[t] : word_ids && word_ids[t] >= 0 && word_ids[t] == prev_word);
            if (t == T || !sub) {
                if (wi >= 0) {
                    int64_t best = 0;
                    for (int64_t k = 1; k < L; k++) best = acc[k] > acc[best] ? k : best;
                    e[wi].label = best;
                    e[wi].score = acc[best] / (double)cnt;
                }
                if (t == T) break;
                wi++;
                cnt = 0;
                memset(acc, 0, (size_t)L * sizeof *acc);
            }
            prev_word = word_ids ? word_ids[t] : -1;
            have_prev = true;
            for (int64_t k = 0; k < L; k++) acc[k] += p[t * L + k];
            cnt++;
        }
    }
    task_cp_cursor cur = {0, 0}; /* offsets come in order: one pass over the text */
    if (agg == TASK_TAG_NONE) {
        for (int64_t i = 0; i < ne; i++) {
            const char *name = labels[e[i].label];
            if (!add_span(spans, NULL, name, strlen(name), text, len, &cur, e[i].start, e[i].end, e[i].score)) goto fail;
        }
    } else {
        for (int64_t i = 0; i < ne;) {
            size_t skip;
            char bi = get_tag(labels[e[i].label], &skip);
            const char *type = labels[e[i].label] + skip;
            size_t tlen = strlen(type);
            double sum = e[i].score;
            int64_t j = i + 1;
            if (bi != 'E' && bi != 'S')
                while (j < ne) {
                    size_t s2;
                    char b2 = get_tag(labels[e[j].label], &s2);
                    const char *t2 = labels[e[j].label] + s2;
                    if (b2 == 'B' || b2 == 'S' || strcmp(t2, type) != 0) break;
                    sum += e[j++].score;
                    if (b2 == 'E') break;
                }
            if (!add_span(spans, aspects, type, tlen, text, len, &cur, e[i].start, e[j - 1].end, sum / (double)(j - i)))
                goto fail;
            i = j;
        }
    }
    json_object_set_new(o, "spans", spans);
    if (json_array_size(aspects) > 0) json_object_set_new(o, "aspects", aspects);
    else json_decref(aspects);
    free(p);
    free(e);
    free(acc);
    return o;
fail:
    free(p);
    free(e);
    free(acc);
    json_decref(o);
    json_decref(spans);
    json_decref(aspects);
    return NULL;
}

/* ---- subwords and records ------------------------------------------------------ */

static int64_t cp_len(const char *s, size_t n) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

void task_tag_subwords(const senti_tokenizer *tok, const senti_encoding *e, const char *text, size_t len,
                       uint8_t *sub) {
    int64_t T = senti_encoding_len(e);
    const int32_t *ids = senti_encoding_ids(e), *off = senti_encoding_offsets(e);
    const uint8_t *sp = senti_encoding_special_mask(e);
    bool word_aware = tok->model.prefix && tok->model.prefix[0];
    task_cp_cursor cur = {0, 0}; /* offsets come in order: one pass over the text */
    for (int64_t t = 0; t < T; t++) {
        sub[t] = 0;
        if (sp[t] || ids[t] == tok->model.unk_id) continue;
        int64_t s0 = off[2 * t], s1 = off[2 * t + 1];
        if (word_aware) {
            const char *w = senti_tokenizer_id_to_token(tok, ids[t]);
            sub[t] = w && cp_len(w, strlen(w)) != s1 - s0;
        } else if (s0 > 0) {
            size_t b0 = task_cp_byte(&cur, text, len, s0 - 1), b1 = task_cp_byte(&cur, text, len, s0);
            sub[t] = b0 < len && text[b0] != ' ' && (b1 >= len || text[b1] != ' ');
        }
    }
}

senti_status task_tag_init(task_tag *t, const senti_model *m, const senti_tokenizer *tok, task_tag_agg agg) {
    memset(t, 0, sizeof *t);
    int64_t L = senti_model_num_labels(m);
    if (senti_model_get_head(m) != SENTI_HEAD_TOKEN_CLASSIFICATION || L < 1)
        return senti_error(SENTI_ERR_UNSUPPORTED, "tag: the model (%s) is not a token classifier",
                           senti_model_architecture(m));
    t->tok = tok;
    t->model = m;
    t->agg = agg;
    t->L = L;
    if (!(t->labels = calloc((size_t)L, sizeof *t->labels))) return senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
    for (int64_t k = 0; k < L; k++) {
        const char *l = senti_model_label(m, k);
        char def[32];
        snprintf(def, sizeof def, "LABEL_%lld", (long long)k);
        if (!(t->labels[k] = strdup(l ? l : def))) {
            task_tag_free(t);
            return senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
        }
    }
    return SENTI_OK;
}

void task_tag_free(task_tag *t) {
    if (!t) return;
    for (int64_t k = 0; t->labels && k < t->L; k++) free(t->labels[k]);
    free(t->labels);
    memset(t, 0, sizeof *t);
}

json_t *task_tag_item(const task_tag *t, const task_item *it) {
    int64_t T = senti_encoding_len(it->enc), L;
    float *lg = task_item_token_logits(it, &L);
    uint8_t *sub = malloc((size_t)(T ? T : 1));
    json_t *o = NULL;
    if (lg && sub && L == t->L) {
        task_tag_subwords(t->tok, it->enc, it->text, it->len, sub);
        o = task_tag_decode_sub((const char *const *)t->labels, L, it->text, it->len, senti_encoding_offsets(it->enc),
                                senti_encoding_word_ids(it->enc), sub, senti_encoding_special_mask(it->enc), T, lg,
                                t->agg);
    }
    free(lg);
    free(sub);
    return o;
}

/* ---- aspect-oriented opinions (AOE): the item is the pair (text, aspect) ---------------------- */

/* The spans of a pair item: only the text's tokens (the first run of
 * non-special tokens, at most as many as the text alone encodes to) make
 * spans; the aspect's tokens are treated as special, as when transformers'
 * pipeline is given the pair with them masked. NULL on OOM. */
json_t *task_tag_pair_item(const task_tag *t, const task_item *it) {
    int64_t T = senti_encoding_len(it->enc), L, n0 = 0;
    senti_encoding *alone = NULL;
    senti_encode_opts eo = senti_encode_opts_defaults();
    eo.add_special_tokens = 0;
    if (senti_tokenizer_encode(t->tok, it->text, it->len, NULL, 0, &eo, &alone) == SENTI_OK)
        n0 = senti_encoding_len(alone);
    senti_encoding_free(alone);
    float *lg = task_item_token_logits(it, &L);
    uint8_t *sub = malloc((size_t)(T ? T : 1)), *sp = malloc((size_t)(T ? T : 1));
    json_t *o = NULL;
    if (lg && sub && sp && L == t->L) {
        const uint8_t *sp0 = senti_encoding_special_mask(it->enc);
        int64_t k = 0;
        while (k < T && sp0[k]) k++; /* the leading specials */
        for (int64_t i = 0; i < T; i++) sp[i] = 1;
        for (int64_t i = k; i < T && i < k + n0 && !sp0[i]; i++) sp[i] = 0;
        task_tag_subwords(t->tok, it->enc, it->text, it->len, sub);
        for (int64_t i = 0; i < T; i++) sub[i] &= !sp[i];
        o = task_tag_decode_sub((const char *const *)t->labels, L, it->text, it->len, senti_encoding_offsets(it->enc),
                                senti_encoding_word_ids(it->enc), sub, sp, T, lg, t->agg);
    }
    free(lg);
    free(sub);
    free(sp);
    return o;
}

/* A record's aspects in AOE mode: "aspect_spans" [{"aspect","start","end"}] (a
 * dataset's gold spans), else "aspect" (a string or an array), else the
 * defaults. The aspects' texts become the items' pairs. */
static bool aoe_expand(const task_tag *t, task_record *r) {
    json_t *spans = r->obj ? json_object_get(r->obj, "aspect_spans") : NULL;
    json_t *a = r->obj ? json_object_get(r->obj, "aspect") : NULL;
    if (spans && json_is_array(spans)) {
        size_t i;
        json_t *v;
        json_array_foreach(spans, i, v) {
            json_t *x = json_object_get(v, "aspect");
            if (!json_is_string(x) || !json_string_length(x))
                return task_record_fail(r, "aspect_spans[%zu] has no \"aspect\" string", i);
            if (!task_record_add(r, r->text, r->len, json_string_value(x), json_string_length(x))) return false;
        }
        return true;
    }
    if (a && !json_is_null(a)) {
        if (json_is_string(a)) a = json_pack("[O]", a);
        else json_incref(a);
        bool ok = a != NULL;
        size_t i;
        json_t *v;
        if (ok && (!json_is_array(a) || !json_array_size(a))) {
            ok = task_record_fail(r, "field \"aspect\" must be a string or a non-empty array of strings");
            json_decref(a);
            return ok;
        }
        json_array_foreach(a, i, v) {
            if (!ok) break;
            if (!json_is_string(v) || !json_string_length(v) ||
                task_utf8_invalid_at(json_string_value(v), json_string_length(v)) >= 0)
                ok = task_record_fail(r, "aspect %zu is not a non-empty UTF-8 string", i), ok = false;
            else ok = task_record_add(r, r->text, r->len, json_string_value(v), json_string_length(v)) != NULL;
        }
        json_decref(a);
        return ok || r->error;
    }
    if (t->n_aspects == 0) return task_record_fail(r, "no aspect: give --aspect, a \"aspect\" field or a text_pair");
    for (int64_t i = 0; i < t->n_aspects; i++)
        if (!task_record_add(r, r->text, r->len, t->aspects[i], strlen(t->aspects[i]))) return false;
    return true;
}

/* {"opinions":[{"aspect","start","end","spans"}],"pairs":[{aspect…, opinion…, "score"}]} */
static json_t *aoe_decode(const task_tag *t, task_record *r) {
    json_t *o = json_object(), *ops = json_array(), *pairs = json_array();
    json_t *spans = r->obj ? json_object_get(r->obj, "aspect_spans") : NULL;
    if (!o || !ops || !pairs) goto oom;
    for (int64_t i = 0; i < r->n_items; i++) {
        const task_item *it = &r->items[i];
        json_t *res = task_tag_pair_item(t, it), *sp = json_array_get(spans, (size_t)i), *st, *en;
        if (!res) goto oom;
        int64_t a0, a1;
        if (json_is_integer(json_object_get(sp, "start")) && json_is_integer(json_object_get(sp, "end")))
            st = json_incref(json_object_get(sp, "start")), en = json_incref(json_object_get(sp, "end"));
        else if (task_aspect_find(it->text, it->len, it->pair, it->pair_len, &a0, &a1))
            st = json_integer(a0), en = json_integer(a1);
        else st = json_null(), en = json_null();
        json_t *e = json_pack("{s:s%,s:o,s:o,s:O}", "aspect", it->pair, it->pair_len, "start", st, "end", en, "spans",
                              json_object_get(res, "spans"));
        if (!e || json_array_append_new(ops, e)) {
            json_decref(res);
            goto oom;
        }
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(res, "spans"), k, v) {
            json_t *p = json_pack("{s:s%,s:O,s:O,s:O,s:O,s:O,s:O}", "aspect", it->pair, it->pair_len, "aspect_start",
                                  json_object_get(e, "start"), "aspect_end", json_object_get(e, "end"), "opinion",
                                  json_object_get(v, "text"), "opinion_start", json_object_get(v, "start"),
                                  "opinion_end", json_object_get(v, "end"), "score", json_object_get(v, "score"));
            if (!p || json_array_append_new(pairs, p)) {
                json_decref(res);
                goto oom;
            }
        }
        json_decref(res);
    }
    if (json_object_set_new(o, "opinions", ops) || json_object_set_new(o, "pairs", pairs)) return json_decref(o), NULL;
    return o;
oom:
    json_decref(o), json_decref(ops), json_decref(pairs);
    return NULL;
}

static json_t *tag_decode(void *ctx, task_record *r) {
    const task_tag *t = ctx;
    if (t->aoe && !r->pair) return aoe_decode(t, r);
    if (!r->pair) { /* a plain text: its spans, and every extra head's result (a model with several) */
        const task_item *it = &r->items[0];
        json_t *o = task_tag_item(t, it);
        if (!o || !it->segs[0].xout) return o;
        json_t *heads = task_heads_result(t->model, t->tok, NULL, t->agg, it, o);
        if (!heads || json_object_set_new(o, "heads", heads)) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    json_t *o = task_tag_pair_item(t, &r->items[0]);
    if (o && json_object_set_new(o, "aspect", json_stringn(r->pair, r->pair_len))) return json_decref(o), NULL;
    return o;
}

static bool tag_expand(void *ctx, task_record *r) {
    const task_tag *t = ctx;
    if (r->error) return true;
    json_t *err = t->aoe && r->obj ? json_object_get(r->obj, "error") : NULL; /* from the AE step */
    if (err) return task_record_fail(r, "%s", json_is_string(err) ? json_string_value(err) : "error");
    if (!r->text) return task_record_fail(r, "missing field \"text\"");
    if (r->pair && t->stride > 0) return task_record_fail(r, "tag --stride does not take a text_pair (aspect)");
    if (r->pair) return task_record_add(r, r->text, r->len, r->pair, r->pair_len) != NULL;
    if (t->aoe) return aoe_expand(t, r);
    return task_record_add(r, r->text, r->len, NULL, 0) != NULL;
}

senti_status task_tag_run_opts(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, int64_t stride,
                               task_source *src, FILE *out, const task_runner_opts *o, task_stats *st) {
    return task_tag_aoe_run(m, tok, agg, stride, false, NULL, 0, src, out, o, st);
}

senti_status task_tag_aoe_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, int64_t stride, bool aoe,
                              const char *const *aspects, int64_t n_aspects, task_source *src, FILE *out,
                              const task_runner_opts *o, task_stats *st) {
    task_tag t;
    if (st) memset(st, 0, sizeof *st);
    if (!m || !tok) return senti_error(SENTI_ERR_INVALID_ARG, "task_tag_run: NULL argument");
    senti_status s = task_tag_init(&t, m, tok, agg);
    if (s != SENTI_OK) return s;
    t.aoe = aoe, t.aspects = aspects, t.n_aspects = n_aspects, t.stride = stride;
    if (aoe && stride > 0) {
        task_tag_free(&t);
        return senti_error(SENTI_ERR_INVALID_ARG, "tag: --stride does not combine with aspects (AOE)");
    }
    task_ops ops = {.head = SENTI_HEAD_TOKEN_CLASSIFICATION, .stride = stride, .heads = senti_model_extra_heads(m) > 0,
                    .expand = tag_expand, .decode = tag_decode, .text_optional = aoe, .allow_empty = aoe};
    s = task_run_ops(m, tok, src, out, o, &ops, &t, st);
    task_tag_free(&t);
    return s;
}

/* The AE step: {"text","aspect_spans":[{"aspect","start","end"}]} from a tagger's spans. */
static json_t *ae_decode(void *ctx, task_record *r) {
    json_t *res = task_tag_item(ctx, &r->items[0]), *o = json_object(), *a = json_array();
    bool ok = res && o && a && !json_object_set_new(o, "text", json_stringn(r->text, r->len)) &&
              !json_object_set_new(o, "aspect_spans", a);
    if (!ok) json_decref(a);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "spans"), i, v) {
        const char *ty = json_string_value(json_object_get(v, "type"));
        if (!ok) break;
        if (ty && (ty[0] == 'O' || ty[0] == 'o') && (ty[1] == 'P' || ty[1] == 'p')) continue;
        ok = !json_array_append_new(a, json_pack("{s:O,s:O,s:O}", "aspect", json_object_get(v, "text"), "start",
                                                 json_object_get(v, "start"), "end", json_object_get(v, "end")));
    }
    json_decref(res);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

senti_status task_tag_ae_aoe_run(senti_model *ae, const senti_tokenizer *ae_tok, senti_model *m,
                                 const senti_tokenizer *tok, task_tag_agg agg, task_source *src, FILE *out,
                                 const task_runner_opts *opts, task_stats *st) {
    task_runner_opts o = opts ? *opts : task_runner_opts_defaults();
    task_stats st1 = {0};
    if (st) memset(st, 0, sizeof *st);
    if (!ae || !ae_tok || !m || !tok) return senti_error(SENTI_ERR_INVALID_ARG, "task_tag_ae_aoe_run: NULL argument");
    task_tag t;
    senti_status s = task_tag_init(&t, ae, ae_tok, agg);
    if (s != SENTI_OK) return s;
    FILE *tmp = tmpfile();
    task_source *s2 = NULL;
    task_ops ops = {.head = SENTI_HEAD_TOKEN_CLASSIFICATION, .expand = tag_expand, .decode = ae_decode};
    task_runner_opts first = o, last = task_chain_opts(&o, true);
    first.checkpoint = NULL;
    if (!tmp) s = senti_error(SENTI_ERR_IO, "tag: cannot create a temporary file");
    else if ((s = task_run_ops(ae, ae_tok, src, tmp, &first, &ops, &t, &st1)) == SENTI_OK) {
        if (!task_chain_rewind(tmp)) s = SENTI_ERR_IO;
        else if (!(s2 = task_source_file(tmp, "tag AE step"))) s = senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
        else s = task_tag_aoe_run(m, tok, agg, 0, true, NULL, 0, s2, out, &last, st);
    }
    if (st) { /* the records as the first step read them; the work of both */
        st->records = st1.records, st->errors = st1.errors, st->skipped = st1.skipped;
        st->tokens += st1.tokens, st->padded_tokens += st1.padded_tokens, st->batches += st1.batches;
        st->units += st1.units, st->truncated += st1.truncated, st->seconds += st1.seconds;
        st->t_model += st1.t_model, st->t_tokenize += st1.t_tokenize;
    }
    task_source_free(s2);
    if (tmp) fclose(tmp);
    task_tag_free(&t);
    return s;
}

senti_status task_tag_run(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, bool strict, FILE *in,
                          const char *name, const char *const *texts, int64_t n_texts, FILE *out, task_stats *st) {
    if (!m || !tok || !out || (!in && n_texts > 0 && !texts))
        return senti_error(SENTI_ERR_INVALID_ARG, "task_tag_run: NULL argument");
    task_source *src = in ? task_source_file(in, name) : task_source_texts(texts, n_texts);
    if (!src) return senti_error(SENTI_ERR_NO_MEMORY, "tag: out of memory");
    task_runner_opts o = task_runner_opts_defaults();
    o.strict = strict;
    senti_status s = task_tag_run_opts(m, tok, agg, 0, src, out, &o, st);
    task_source_free(src);
    return s;
}
