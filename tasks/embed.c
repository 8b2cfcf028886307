/* embed.c — sentence embeddings: a base encoder's per-token hidden states
 * (from the batch runner) pooled over each text's tokens and optionally
 * L2-normalised, as sentence-transformers' Pooling and Normalize modules do.
 *
 * Invariants: a record's embedding depends only on its own tokens (each
 * input's rows come from its own segment; padding never enters the pool);
 * normalisation divides by max(||v||, 1e-12), as torch's F.normalize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

senti_status task_embed_init(task_embed *e, const senti_model *m, const char *pooling, int normalize) {
    if (!e || !m) return senti_error(SENTI_ERR_INVALID_ARG, "task_embed_init: NULL argument");
    if (senti_model_get_head(m) != SENTI_HEAD_BASE)
        return senti_error(SENTI_ERR_INVALID_ARG, "embed: the model (%s) is not a base encoder (*Model)",
                           senti_model_architecture(m));
    *e = (task_embed){.pooling = SENTI_POOL_MEAN, .normalize = false, .max_length = 0};
    senti_pooling p = SENTI_POOL_MEAN;
    int norm = 0;
    int64_t max_len = 0;
    const int rc = senti_model_sentence_config(m, &p, &norm, &max_len);
    if (rc < 0) return SENTI_ERR_BAD_FILE;
    if (rc > 0) *e = (task_embed){.pooling = p, .normalize = norm != 0, .max_length = max_len};
    if (pooling) {
        if (!strcmp(pooling, "cls")) e->pooling = SENTI_POOL_CLS;
        else if (!strcmp(pooling, "mean")) e->pooling = SENTI_POOL_MEAN;
        else if (!strcmp(pooling, "max")) e->pooling = SENTI_POOL_MAX;
        else return senti_error(SENTI_ERR_INVALID_ARG, "embed: pooling '%s' (cls, mean or max)", pooling);
    }
    if (normalize >= 0) e->normalize = normalize != 0;
    return SENTI_OK;
}

static bool embed_expand(void *ctx, task_record *r) {
    (void)ctx;
    if (r->pair) return task_record_fail(r, "embed takes one text per record (no \"text_pair\")");
    return r->text ? task_record_add(r, r->text, r->len, NULL, 0) != NULL : task_record_fail(r, "no \"text\"");
}

/* The record's one item: [len, H] hidden states -> pooled [H] -> JSON. */
static json_t *embed_decode(void *ctx, task_record *r) {
    const task_embed *e = ctx;
    const task_seg *g = &r->items[0].segs[0];
    const int64_t H = g->n_out, T = g->len;
    float *v = malloc((size_t)(H > 0 ? H : 1) * sizeof *v);
    json_t *o = json_object(), *arr = json_array();
    if (!v || !o || !arr) goto fail;
    senti_pool(g->out, NULL, 1, T, H, e->pooling, v);
    if (e->normalize) {
        double ss = 0;
        for (int64_t h = 0; h < H; h++) ss += (double)v[h] * v[h];
        const float nrm = (float)fmax(sqrt(ss), 1e-12);
        for (int64_t h = 0; h < H; h++) v[h] /= nrm;
    }
    for (int64_t h = 0; h < H; h++)
        if (json_array_append_new(arr, json_real(v[h])) != 0) goto fail;
    if (json_object_set_new(o, "embedding", arr) != 0) {
        arr = NULL;
        goto fail;
    }
    free(v);
    return o;
fail:
    free(v);
    json_decref(arr);
    json_decref(o);
    return NULL;
}

senti_status task_embed_run(senti_model *m, const senti_tokenizer *tok, const task_embed *e, task_source *src,
                            FILE *out, const task_runner_opts *o, task_stats *st) {
    if (!e) return senti_error(SENTI_ERR_INVALID_ARG, "task_embed_run: NULL settings");
    const task_ops ops = {.head = SENTI_HEAD_BASE, .max_length = e->max_length, .expand = embed_expand,
                          .decode = embed_decode};
    return task_run_ops(m, tok, src, out, o, &ops, (void *)e, st);
}
