/* bench_model.c — `senti bench [model]`: a BERT-base-shaped encoder (12
 * layers, hidden 768, 12 heads, FFN 3072, 30522-token vocabulary) with
 * synthetic random weights, built as the same graph the BERT model file
 * builds, timed end to end: sequences/s, tokens/s and GFLOP/s. */
#include <math.h>
#include <stdlib.h>

#include "bench.h"

enum { HID = 768, HEADS = 12, FFN = 3072, VOCAB = 30522, MAXPOS = 512 };

typedef struct {
    senti_tensor *wq, *bq, *wk, *bk, *wv, *bv; /* [768, 768] (out, in), [768] */
    senti_tensor *wo, *bo, *ln1_w, *ln1_b;     /* attention output + LayerNorm */
    senti_tensor *w1, *b1, *w2, *b2;           /* [3072, 768], [768, 3072] */
    senti_tensor *ln2_w, *ln2_b;
} layer_w;

/* x [B, T, in] · W^T + b */
static senti_tensor *linear(senti_graph *g, senti_tensor *x, senti_tensor *w, senti_tensor *b) {
    return op_add(g, op_matmul(g, x, w, false, true), b);
}

static senti_tensor *weight(senti_graph *g, senti_type t, int64_t n0, int64_t n1) {
    return n0 ? graph_new_tensor_2d(g, t, n0, n1) : graph_new_tensor_1d(g, SENTI_TYPE_F32, n1);
}

typedef struct { senti_exec *ex; senti_graph *g; } model_run;
static bool model_forward(void *p) {
    model_run *r = p;
    return exec_compute(r->ex, r->g) == SENTI_OK;
}

int bench_model(const bench_opts *o) {
    const int64_t B = o->batch, T = o->seq_len, L = o->layers;
    const senti_type wt = o->wtype;
    int rc = 1;
    layer_w *lw = NULL;
    senti_backend *be = senti_backend_cpu_init(o->n_threads);
    senti_exec *ex = be ? exec_init(be, NULL) : NULL;
    senti_graph *g = graph_init();
    if (!be || !ex || !g) goto fail;

    senti_tensor *ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T);
    senti_tensor *tids = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T);
    senti_tensor *pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, T);
    senti_tensor *mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
    senti_tensor *wemb = weight(g, SENTI_TYPE_F32, VOCAB, HID), *pemb = weight(g, SENTI_TYPE_F32, MAXPOS, HID);
    senti_tensor *temb = weight(g, SENTI_TYPE_F32, 2, HID);
    senti_tensor *eln_w = weight(g, 0, 0, HID), *eln_b = weight(g, 0, 0, HID);
    lw = calloc((size_t)L, sizeof *lw);
    if (!lw) goto fail;

    /* embeddings: [B, T, 768] */
    senti_tensor *x = op_add(g, op_add(g, op_get_rows(g, wemb, ids), op_get_rows(g, pemb, pos)), op_get_rows(g, temb, tids));
    x = op_layer_norm(g, x, eln_w, eln_b, 1e-12f);
    for (int64_t l = 0; l < L; l++) {
        layer_w *w = &lw[l];
        w->wq = weight(g, wt, HID, HID), w->bq = weight(g, 0, 0, HID);
        w->wk = weight(g, wt, HID, HID), w->bk = weight(g, 0, 0, HID);
        w->wv = weight(g, wt, HID, HID), w->bv = weight(g, 0, 0, HID);
        w->wo = weight(g, wt, HID, HID), w->bo = weight(g, 0, 0, HID);
        w->ln1_w = weight(g, 0, 0, HID), w->ln1_b = weight(g, 0, 0, HID);
        w->w1 = weight(g, wt, FFN, HID), w->b1 = weight(g, 0, 0, FFN);
        w->w2 = weight(g, wt, HID, FFN), w->b2 = weight(g, 0, 0, HID);
        w->ln2_w = weight(g, 0, 0, HID), w->ln2_b = weight(g, 0, 0, HID);
        /* self-attention: q, k, v [B, T, 12, 64] */
        senti_tensor *q = op_reshape_4d(g, linear(g, x, w->wq, w->bq), B, T, HEADS, HID / HEADS);
        senti_tensor *k = op_reshape_4d(g, linear(g, x, w->wk, w->bk), B, T, HEADS, HID / HEADS);
        senti_tensor *v = op_reshape_4d(g, linear(g, x, w->wv, w->bv), B, T, HEADS, HID / HEADS);
        senti_tensor *a = op_attention(g, q, k, v, mask, 1.0f / sqrtf(HID / HEADS), false); /* [B, T, 12, 64] */
        a = linear(g, op_reshape_3d(g, a, B, T, HID), w->wo, w->bo);
        x = op_layer_norm(g, op_add(g, x, a), w->ln1_w, w->ln1_b, 1e-12f);
        /* feed-forward: [B, T, 3072] -> [B, T, 768] */
        senti_tensor *h = op_gelu(g, linear(g, x, w->w1, w->b1));
        x = op_layer_norm(g, op_add(g, x, linear(g, h, w->w2, w->b2)), w->ln2_w, w->ln2_b, 1e-12f);
    }
    /* pooler on [CLS]: tanh(W x0 + b) -> [B, 1, 768]; classifier -> [B, 1, 2] */
    senti_tensor *pw = weight(g, wt, HID, HID), *pb = weight(g, 0, 0, HID);
    senti_tensor *cw = weight(g, SENTI_TYPE_F32, 2, HID), *cb = weight(g, 0, 0, 2);
    senti_tensor *cls = op_slice(g, x, 1, 0, 1);
    senti_tensor *logits = linear(g, op_tanh(g, linear(g, cls, pw, pb)), cw, cb);
    graph_set_output(logits);
    if (!logits) goto fail;
    /* weights live outside the activation arena, as a loaded model's do;
     * small random values */
    for (int i = 0; i < g->n_leafs; i++) {
        senti_tensor *t = g->leafs[i];
        if (t == ids || t == tids || t == pos || t == mask) continue;
        t->data = senti_malloc(senti_nbytes(t));
        if (!t->data) goto fail;
        t->flags = SENTI_TFLAG_WEIGHT;
        bench_fill(t, 0.05f);
    }
    if (exec_prepare(ex, g) != SENTI_OK) goto fail;
    int32_t *pid = ids->data, *pt = tids->data, *pp = pos->data;
    float *pm = mask->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            pid[b * T + t] = (int32_t)((b * 7919 + t * 104729) % VOCAB);
            pt[b * T + t] = 0;
            pm[b * T + t] = 0.0f; /* no padding: every token computed */
        }
    for (int64_t t = 0; t < T; t++) pp[t] = (int32_t)t;

    const double flop_layer = 2.0 * (double)T * (4.0 * HID * HID + 2.0 * HID * FFN) + 4.0 * (double)T * T * HID;
    const double flop = (double)B * ((double)L * flop_layer + 2.0 * HID * HID);
    model_run r = {ex, g};
    bench_stat s;
    if (!bench_time(model_forward, &r, o->repeats, &s)) goto fail;
    const double sec = s.median * 1e-3;
    const float *out = logits->data;
    const bool finite = isfinite(out[0]) && isfinite(out[1]);
    if (o->json)
        printf("{\"bench\":\"model\",\"model\":\"bert-base-synthetic\",\"weights\":\"%s\",\"threads\":%d,"
               "\"batch\":%lld,\"seq_len\":%lld,\"layers\":%lld,\"median_ms\":%.3f,\"min_ms\":%.3f,"
               "\"max_ms\":%.3f,\"repeats\":%d,\"seq_per_s\":%.3f,\"tokens_per_s\":%.1f,\"gflops\":%.1f,"
               "\"arena_bytes\":%zu,\"unshared_bytes\":%zu,\"finite\":%s}\n",
               senti_type_name(wt), cpu_backend_ctx(be)->n_threads, (long long)B, (long long)T, (long long)L,
               s.median, s.min, s.max, s.n, (double)B / sec, (double)(B * T) / sec, flop / sec * 1e-9, g->arena_size,
               g->sum_size, finite ? "true" : "false");
    else
        printf("senti bench: BERT-base-shaped encoder (synthetic %s weights), %lld layers, batch %lld x %lld tokens, "
               "%d threads\n  forward %.1f ms median [%.1f .. %.1f] over %d runs\n"
               "  %.2f sequences/s, %.0f tokens/s, %.1f GFLOP/s\n"
               "  activation arena %.1f MiB (unshared %.1f MiB), logits %s\n",
               senti_type_name(wt), (long long)L, (long long)B, (long long)T, cpu_backend_ctx(be)->n_threads, s.median,
               s.min, s.max, s.n, (double)B / sec, (double)(B * T) / sec, flop / sec * 1e-9,
               (double)g->arena_size / 1048576.0, (double)g->sum_size / 1048576.0, finite ? "finite" : "NOT FINITE");
    if (!finite) {
        fprintf(stderr, "senti bench: the logits are not finite\n");
        rc = 1;
        goto done;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "senti bench: %s\n", senti_last_error());
done:
    free(lw);
    for (int i = 0; g && i < g->n_leafs; i++)
        if (g->leafs[i]->flags & SENTI_TFLAG_WEIGHT) senti_mfree(g->leafs[i]->data);
    graph_free(g);
    exec_free(ex);
    senti_backend_free(be);
    return rc;
}
