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
static size_t cp_to_byte(const char *text, size_t len, int64_t cp) {
    size_t i = 0;
    for (int64_t c = 0; i < len; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (c == cp) return i;
            c++;
        }
    }
    return len;
}

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
                     int64_t start, int64_t end, double score) {
    char t[128];
    snprintf(t, sizeof t, "%.*s", (int)(tlen < sizeof t - 1 ? tlen : sizeof t - 1), type);
    if (strcmp(t, "O") == 0) return true;
    size_t b0 = cp_to_byte(text, len, start), b1 = cp_to_byte(text, len, end);
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
    if (agg == TASK_TAG_NONE) {
        for (int64_t i = 0; i < ne; i++) {
            const char *name = labels[e[i].label];
            if (!add_span(spans, NULL, name, strlen(name), text, len, e[i].start, e[i].end, e[i].score)) goto fail;
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
            if (!add_span(spans, aspects, type, tlen, text, len, e[i].start, e[j - 1].end, sum / (double)(j - i)))
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
    for (int64_t t = 0; t < T; t++) {
        sub[t] = 0;
        if (sp[t] || ids[t] == tok->model.unk_id) continue;
        int64_t s0 = off[2 * t], s1 = off[2 * t + 1];
        if (word_aware) {
            const char *w = senti_tokenizer_id_to_token(tok, ids[t]);
            sub[t] = w && cp_len(w, strlen(w)) != s1 - s0;
        } else if (s0 > 0) {
            size_t b0 = cp_to_byte(text, len, s0 - 1), b1 = cp_to_byte(text, len, s0);
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

static json_t *tag_decode(void *ctx, task_record *r) {
    const task_tag *t = ctx;
    json_t *o = task_tag_item(t, &r->items[0]);
    const task_item *it = &r->items[0];
    if (!o || !it->segs[0].xout) return o;
    json_t *heads = task_heads_result(t->model, t->tok, NULL, t->agg, it, o);
    if (!heads || json_object_set_new(o, "heads", heads)) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool tag_expand(void *ctx, task_record *r) {
    (void)ctx;
    if (r->pair && !task_record_fail(r, "tag takes no \"text_pair\"")) return false;
    return r->error || task_record_add(r, r->text, r->len, NULL, 0);
}

senti_status task_tag_run_opts(senti_model *m, const senti_tokenizer *tok, task_tag_agg agg, int64_t stride,
                               task_source *src, FILE *out, const task_runner_opts *o, task_stats *st) {
    task_tag t;
    if (st) memset(st, 0, sizeof *st);
    if (!m || !tok) return senti_error(SENTI_ERR_INVALID_ARG, "task_tag_run: NULL argument");
    senti_status s = task_tag_init(&t, m, tok, agg);
    if (s != SENTI_OK) return s;
    task_ops ops = {.head = SENTI_HEAD_TOKEN_CLASSIFICATION, .stride = stride, .heads = senti_model_extra_heads(m) > 0,
                    .expand = tag_expand, .decode = tag_decode};
    s = task_run_ops(m, tok, src, out, o, &ops, &t, st);
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
