/* explain.c — which tokens drive a sequence classifier's prediction
 * (`classify --explain`, `aspect --explain`): per-token attributions for one
 * label, with code-point offsets, and an HTML view of them.
 *
 * f(x) is the label's probability: softmax over the logits (sigmoid for a
 * multi-label model). Only the first sequence's content tokens are
 * attributed (never [CLS] / [SEP], nor an aspect's tokens):
 *   occlusion  per word (the tokens sharing a word id): f(x) - f(x with every
 *              token of the word replaced by the mask token: [MASK] / <mask>,
 *              else [UNK] / <unk>); the words' variants run in batches of
 *              x->batch rows, each row a full-length copy (no padding).
 *   rollout    Abnar & Zuidema 2020: per layer the attention probabilities
 *              averaged over heads, A' = 0.5 A + 0.5 I with rows renormalised,
 *              R = A'_L ... A'_1 (double); a token's score is R[0, token], the
 *              first token's ([CLS]) row. One forward.
 *   ig         integrated gradients on the word embeddings, baseline zero for
 *              the content tokens (specials keep theirs): with s_t the scale of
 *              content token t's word embedding, IG_t = integral over a in
 *              [0, 1] of df/ds_t at s = a, by the midpoint rule at
 *              a_k = (k + 1/2) / steps, each derivative a central finite
 *              difference (f(s_t = a_k + h) - f(s_t = a_k - h)) / 2h. No
 *              autograd: 2 * steps * tokens forwards. Against torch autograd IG
 *              with the same steps the difference is the finite difference's
 *              (O(h^2) plus rounding / h), and sum_t IG_t approaches
 *              f(x) - f(baseline) as steps grow (completeness).
 *
 * Invariants: a record's attributions depend only on that record (its
 * variants batch among themselves, every row of one length, and the model
 * gives each row what it gives that row alone). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

static const char *const METHODS[] = {"none", "occlusion", "rollout", "ig"};

task_explain_method task_explain_method_from_name(const char *name) {
    for (int k = 1; k < 4; k++)
        if (name && strcmp(name, METHODS[k]) == 0) return (task_explain_method)k;
    return TASK_EXPLAIN_NONE;
}

senti_status task_explain_init(task_explain *x, senti_model *m, const senti_tokenizer *tok,
                               task_explain_method method) {
    if (!x || !m || !tok) return senti_error(SENTI_ERR_INVALID_ARG, "task_explain_init: NULL argument");
    *x = (task_explain){.model = m, .method = method, .ig_steps = 16, .ig_h = 1e-2, .batch = 32, .mask_id = -1};
    if (method == TASK_EXPLAIN_NONE) return SENTI_OK;
    if (senti_model_get_head(m) != SENTI_HEAD_SEQUENCE_CLASSIFICATION)
        return senti_error(SENTI_ERR_UNSUPPORTED, "--explain: the model (%s) is not a sequence classifier",
                           senti_model_architecture(m));
    static const char *const MASKS[] = {"[MASK]", "<mask>", "[UNK]", "<unk>"};
    for (int k = 0; k < 4 && x->mask_id < 0; k++) x->mask_id = senti_tokenizer_token_to_id(tok, MASKS[k]);
    if (method == TASK_EXPLAIN_OCCLUSION && (x->mask_id < 0 || x->mask_id >= senti_model_vocab_size(m)))
        return senti_error(SENTI_ERR_UNSUPPORTED, "--explain occlusion: the tokenizer has no mask or unknown token");
    if (method == TASK_EXPLAIN_OCCLUSION) return SENTI_OK;
    /* rollout and ig need the model's extras: probe with one token */
    const int64_t nl = senti_model_num_layers(m), nh = senti_model_num_heads(m);
    float *attn = malloc((size_t)(nl * nh) * sizeof *attn), *out = NULL, one = 1.0f;
    if (!attn) return senti_error(SENTI_ERR_NO_MEMORY, "--explain: out of memory");
    senti_forward_opts fo = {.emb_scale = &one, .attn = attn};
    int32_t id = (int32_t)(senti_model_pad_token_id(m) >= 0 ? senti_model_pad_token_id(m) : 0);
    int64_t shape[3];
    int nd;
    senti_status s = senti_model_forward_opts(m, &id, NULL, NULL, 1, 1, &fo, &out, shape, &nd);
    senti_model_output_free(out);
    free(attn);
    if (s == SENTI_OK) return SENTI_OK;
    char why[512];
    snprintf(why, sizeof why, "%s", senti_last_error()); /* the message buffer is rewritten below */
    return senti_error(s, "--explain %s: %s", METHODS[method], why);
}

/* f of one logits row for label. */
static double label_prob(const float *lg, int64_t L, int64_t label, bool multi) {
    if (multi) return 1.0 / (1.0 + exp(-(double)lg[label]));
    double mx = lg[0], z = 0;
    for (int64_t l = 1; l < L; l++) mx = lg[l] > mx ? lg[l] : mx;
    for (int64_t l = 0; l < L; l++) z += exp((double)lg[l] - mx);
    return exp((double)lg[label] - mx) / z;
}

/* f of n rows of T tokens (ids, types [n, T]; scale [n, T] or NULL) into f[n], in batches of x->batch. */
static senti_status run_rows(const task_explain *x, const int32_t *ids, const int32_t *types, const float *scale,
                             int64_t n, int64_t T, int64_t label, bool multi, double *f) {
    for (int64_t i = 0; i < n; i += x->batch) {
        const int64_t nb = n - i < x->batch ? n - i : x->batch;
        senti_forward_opts fo = {.emb_scale = scale ? scale + i * T : NULL};
        float *out = NULL;
        int64_t shape[3];
        int nd;
        senti_status s = senti_model_forward_opts(x->model, ids + i * T, types ? types + i * T : NULL, NULL, nb, T,
                                                  &fo, &out, shape, &nd);
        if (s != SENTI_OK) return s;
        for (int64_t b = 0; b < nb; b++) f[i + b] = label_prob(out + b * shape[1], shape[1], label, multi);
        senti_model_output_free(out);
    }
    return SENTI_OK;
}

static json_t *unit_json(const char *text, size_t len, int64_t start, int64_t end, double score) {
    const size_t b0 = task_cp_byte(NULL, text, len, start), b1 = task_cp_byte(NULL, text, len, end);
    json_t *o = json_object();
    if (o && (json_object_set_new(o, "text", json_stringn(text + b0, b1 - b0)) ||
              json_object_set_new(o, "start", json_integer(start)) || json_object_set_new(o, "end", json_integer(end)) ||
              json_object_set_new(o, "score", json_real(score)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

senti_status task_explain_one(const task_explain *x, const senti_encoding *e, const char *text, size_t len,
                              int64_t label, const char *label_name, bool multi, json_t **result) {
    *result = NULL;
    const int64_t T = senti_encoding_len(e), NL = senti_model_num_layers(x->model),
                  NH = senti_model_num_heads(x->model);
    const int32_t *ids = senti_encoding_ids(e), *tt = senti_encoding_type_ids(e), *off = senti_encoding_offsets(e),
                  *wid = senti_encoding_word_ids(e);
    const uint8_t *sp = senti_encoding_special_mask(e);
    const int32_t *types = senti_model_type_vocab_size(x->model) > 0 ? tt : NULL;
    /* the first sequence's content tokens: after the leading specials, before the next special */
    int64_t c0 = 0, c1;
    while (c0 < T && sp && sp[c0]) c0++;
    for (c1 = c0; c1 < T && !(sp && sp[c1]); c1++) {}
    const int64_t nc = c1 - c0, steps = x->ig_steps;
    senti_status s = SENTI_ERR_NO_MEMORY;
    /* rows held at once: occlusion every word's variant, ig one step's 2 * nc variants (+ the input) */
    int64_t rows = x->method == TASK_EXPLAIN_IG ? 2 * nc + 1 : x->method == TASK_EXPLAIN_OCCLUSION ? nc + 1 : 1;
    int32_t *bi = malloc((size_t)(rows * T) * sizeof *bi), *bt = types ? malloc((size_t)(rows * T) * sizeof *bt) : NULL;
    float *sc = x->method == TASK_EXPLAIN_IG ? malloc((size_t)(rows * T) * sizeof *sc) : NULL;
    double *grad = x->method == TASK_EXPLAIN_IG ? calloc((size_t)(nc + 1), sizeof *grad) : NULL;
    float *attn = x->method == TASK_EXPLAIN_ROLLOUT ? malloc((size_t)(NL * NH * T * T) * sizeof *attn) : NULL;
    double *f = malloc((size_t)rows * sizeof *f), *R = NULL, *A = NULL, *tmp = NULL;
    int64_t *wstart = malloc((size_t)(nc + 1) * sizeof *wstart), nw = 0;
    json_t *o = json_object(), *units = json_array();
    if (!bi || (types && !bt) || (x->method == TASK_EXPLAIN_IG && (!sc || !grad)) || (x->method == TASK_EXPLAIN_ROLLOUT && !attn) ||
        !f || !wstart || !o || !units)
        goto fail;
    for (int64_t r = 0; r < rows; r++) {
        memcpy(bi + r * T, ids, (size_t)T * sizeof *bi);
        if (bt) memcpy(bt + r * T, tt, (size_t)T * sizeof *bt);
    }
    if (x->method == TASK_EXPLAIN_OCCLUSION) {
        /* words: runs of content tokens with one word id (no word ids: each token) */
        for (int64_t t = c0; t < c1; t++)
            if (t == c0 || !wid || wid[t] != wid[t - 1] || wid[t] < 0) wstart[nw++] = t;
        wstart[nw] = c1;
        rows = nw + 1; /* row 0: the input itself */
        for (int64_t w = 0; w < nw; w++)
            for (int64_t t = wstart[w]; t < wstart[w + 1]; t++) bi[(w + 1) * T + t] = x->mask_id;
        if ((s = run_rows(x, bi, bt, NULL, rows, T, label, multi, f)) != SENTI_OK) goto fail;
        for (int64_t w = 0; w < nw; w++) {
            json_t *u = unit_json(text, len, off[2 * wstart[w]], off[2 * (wstart[w + 1] - 1) + 1], f[0] - f[w + 1]);
            if (!u || json_array_append_new(units, u)) goto oom;
        }
    } else if (x->method == TASK_EXPLAIN_ROLLOUT) {
        senti_forward_opts fo = {.attn = attn};
        float *out = NULL;
        int64_t shape[3];
        int nd;
        if ((s = senti_model_forward_opts(x->model, ids, types, NULL, 1, T, &fo, &out, shape, &nd)) != SENTI_OK)
            goto fail;
        f[0] = label_prob(out, shape[1], label, multi);
        senti_model_output_free(out);
        R = malloc((size_t)(T * T) * sizeof *R);
        A = malloc((size_t)(T * T) * sizeof *A);
        tmp = malloc((size_t)(T * T) * sizeof *tmp);
        if (!R || !A || !tmp) goto oom;
        for (int64_t i = 0; i < T * T; i++) R[i] = i / T == i % T;
        for (int64_t l = 0; l < NL; l++) {
            for (int64_t i = 0; i < T; i++) {
                double z = 0;
                for (int64_t j = 0; j < T; j++) {
                    double a = 0;
                    for (int64_t h = 0; h < NH; h++) a += attn[((l * NH + h) * T + i) * T + j];
                    A[i * T + j] = 0.5 * a / (double)NH + 0.5 * (i == j);
                    z += A[i * T + j];
                }
                for (int64_t j = 0; j < T; j++) A[i * T + j] /= z;
            }
            for (int64_t i = 0; i < T; i++) /* R = A' R */
                for (int64_t j = 0; j < T; j++) {
                    double a = 0;
                    for (int64_t k = 0; k < T; k++) a += A[i * T + k] * R[k * T + j];
                    tmp[i * T + j] = a;
                }
            memcpy(R, tmp, (size_t)(T * T) * sizeof *R);
        }
        for (int64_t t = c0; t < c1; t++) {
            json_t *u = unit_json(text, len, off[2 * t], off[2 * t + 1], R[t]);
            if (!u || json_array_append_new(units, u)) goto oom;
        }
    } else {
        /* row 0: the input (scale 1), run once; then per step k the pairs a_k +- h of each content token */
        for (int64_t t = 0; t < T; t++) sc[t] = 1.0f;
        if ((s = run_rows(x, bi, bt, sc, 1, T, label, multi, f)) != SENTI_OK) goto fail;
        for (int64_t k = 0; k < steps; k++) {
            const double a = ((double)k + 0.5) / (double)steps;
            for (int64_t j = 0; j < nc; j++)
                for (int sgn = 0; sgn < 2; sgn++) {
                    float *row = sc + (1 + j * 2 + sgn) * T;
                    for (int64_t t = 0; t < T; t++) row[t] = t >= c0 && t < c1 ? (float)a : 1.0f;
                    row[c0 + j] = (float)(sgn == 0 ? a + x->ig_h : a - x->ig_h);
                }
            if ((s = run_rows(x, bi + T, bt ? bt + T : NULL, sc + T, 2 * nc, T, label, multi, f + 1)) != SENTI_OK)
                goto fail;
            for (int64_t j = 0; j < nc; j++) grad[j] += (f[1 + 2 * j] - f[2 + 2 * j]) / (2.0 * x->ig_h);
        }
        for (int64_t j = 0; j < nc; j++) {
            json_t *u = unit_json(text, len, off[2 * (c0 + j)], off[2 * (c0 + j) + 1], grad[j] / (double)steps);
            if (!u || json_array_append_new(units, u)) goto oom;
        }
    }
    if (json_object_set_new(o, "method", json_string(METHODS[x->method])) ||
        json_object_set_new(o, "label", json_string(label_name)) || json_object_set_new(o, "score", json_real(f[0])) ||
        (x->method == TASK_EXPLAIN_IG && json_object_set_new(o, "steps", json_integer(steps))) ||
        json_object_set(o, "tokens", units))
        goto oom;
    *result = o;
    o = NULL;
    s = SENTI_OK;
    goto done;
oom:
    s = senti_error(SENTI_ERR_NO_MEMORY, "--explain: out of memory");
fail:
    if (s == SENTI_ERR_NO_MEMORY) senti_error(SENTI_ERR_NO_MEMORY, "--explain: out of memory");
done:
    json_decref(o);
    json_decref(units);
    free(bi);
    free(bt);
    free(sc);
    free(grad);
    free(attn);
    free(f);
    free(R);
    free(A);
    free(tmp);
    free(wstart);
    return s;
}

/* ---- the HTML view ---------------------------------------------------------------- */

static void html_text(FILE *h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': fputs("&lt;", h); break;
        case '>': fputs("&gt;", h); break;
        case '&': fputs("&amp;", h); break;
        case '"': fputs("&quot;", h); break;
        case '\n': fputs("<br>", h); break;
        default: fputc(s[i], h);
        }
    }
}

void task_explain_html_begin(FILE *h) {
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>senti explanations</title>\n"
          "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:2}"
          ".rec{border-bottom:1px solid #ccc;padding:.5em 0}.meta{font-size:80%;color:#555}"
          "span.u{padding:.15em .1em;border-radius:3px}</style></head><body>\n"
          "<h1>senti explanations</h1>\n<p class=\"meta\">Red: the token raises the predicted label's "
          "probability (occlusion, integrated gradients) or draws the first token's attention (rollout); blue: "
          "lowers it. Colour strength relative to the record's largest |score|; hover for the value.</p>\n",
          h);
}

void task_explain_html_record(FILE *h, const json_t *id, const char *text, size_t len, const char *what,
                              const json_t *ex) {
    char *ids = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
    const json_t *units = json_object_get(ex, "tokens");
    double mx = 0;
    for (size_t i = 0; i < json_array_size(units); i++)
        mx = fmax(mx, fabs(json_real_value(json_object_get(json_array_get(units, i), "score"))));
    fprintf(h, "<div class=\"rec\"><div class=\"meta\">id %s%s%s &middot; %s &middot; %s %.4f</div>\n<div>",
            ids ? ids : "?", what ? " &middot; " : "", what ? what : "",
            json_string_value(json_object_get(ex, "method")), json_string_value(json_object_get(ex, "label")),
            json_real_value(json_object_get(ex, "score")));
    free(ids);
    size_t at = 0; /* bytes of text written */
    for (size_t i = 0; i < json_array_size(units); i++) {
        const json_t *u = json_array_get(units, i);
        const size_t b0 = task_cp_byte(NULL, text, len, json_integer_value(json_object_get(u, "start"))),
                     b1 = task_cp_byte(NULL, text, len, json_integer_value(json_object_get(u, "end")));
        if (b0 < at || b1 < b0) continue;
        html_text(h, text + at, b0 - at);
        const double v = json_real_value(json_object_get(u, "score")), a = mx > 0 ? fabs(v) / mx : 0;
        fprintf(h, "<span class=\"u\" title=\"%.6g\" style=\"background:rgba(%s,%.3f)\">", v,
                v >= 0 ? "220,40,40" : "40,90,220", 0.85 * a);
        html_text(h, text + b0, b1 - b0);
        fputs("</span>", h);
        at = b1;
    }
    html_text(h, text + at, len - at);
    fputs("</div></div>\n", h);
}

senti_status task_explain_html_end(FILE *h) {
    errno = 0;
    fputs("</body></html>\n", h);
    if (fflush(h) != 0 || ferror(h))
        return senti_error(SENTI_ERR_IO, "%s", errno ? strerror(errno) : "an earlier write failed");
    return SENTI_OK;
}
