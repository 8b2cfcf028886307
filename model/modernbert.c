/* modernbert.c — ModernBERT encoders: pre-LayerNorm (no biases by default),
 * rotary positions with a global and a local base, alternating global and
 * sliding-window (local) attention, GeGLU feed-forward, a final norm; base,
 * sequence-classification (CLS or mean pooling, then dense + act + norm),
 * token-classification and masked-LM heads, as HF transformers'
 * modeling_modernbert computes them (eager attention).
 *
 * Invariants: weights held as bert.c holds them; a layer's attention sees
 * keys within local_attention / 2 positions when its layer type is
 * "sliding_attention"; batches run padding-free (the real tokens packed,
 * attention per sequence, positions restarting at each), a row's bytes those
 * of the padded batch, where masks and positions depend on T and the row's
 * own padding only, so a padded row computes what it computes alone. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"

typedef struct mb_layer {
    model_w ln1_w, ln1_b; /* attn_norm (absent in layer 0: identity) */
    model_w wqkv, bqkv;   /* [3H, H] */
    model_w wo, bo;       /* [H, H] */
    model_w ln2_w, ln2_b; /* mlp_norm */
    model_w wi, bi;       /* [2I, H]: input | gate */
    model_w w2, b2;       /* [H, I] */
} mb_layer;

typedef struct mb_model {
    blk_enc_hp hp;
    bool norm_bias, attn_bias, mlp_bias, cls_bias, mean_pool;
    int64_t window;       /* local_attention / 2 */
    bool *local;          /* [layers]: sliding-window attention */
    blk_rope rope_global, rope_local;
    blk_act cls_act;      /* classifier_activation */
    model_w tok_emb, emb_ln_w, emb_ln_b, out_ln_w, out_ln_b;
    mb_layer *layer;
    model_w head_w, head_b, head_ln_w, head_ln_b, out_w, out_b;
} mb_model;

static void mb_free(void *impl) {
    mb_model *e = impl;
    if (!e) return;
    model_w *top[] = {&e->tok_emb, &e->emb_ln_w, &e->emb_ln_b, &e->out_ln_w,  &e->out_ln_b, &e->head_w,
                      &e->head_b,  &e->head_ln_w, &e->head_ln_b, &e->out_w, &e->out_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int64_t l = 0; e->layer && l < e->hp.layers; l++) {
        model_w *f = (model_w *)&e->layer[l];
        for (size_t i = 0; i < sizeof(mb_layer) / sizeof(model_w); i++) model_w_free(&f[i]);
    }
    senti_mfree(e->layer);
    senti_mfree(e->local);
    senti_mfree(e);
}

/* layer_types, else every global_attn_every_n_layers-th layer global (from 0). */
static senti_status read_layer_types(const senti_model *m, mb_model *e) {
    const char **types = NULL;
    int64_t n = 0, every = 3;
    senti_status st = cfg_get_strs(m->cfg, "layer_types", false, &types, &n);
    if (st == SENTI_OK) st = cfg_opt_int(m->cfg, "global_attn_every_n_layers", 3, &every);
    if (st == SENTI_OK && !(e->local = senti_calloc((size_t)e->hp.layers, sizeof *e->local)))
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
    if (st == SENTI_OK && ((n && n != e->hp.layers) || every < 1))
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'layer_types' (%lld entries) or 'global_attn_every_n_layers' "
                         "(%lld) does not fit %lld layers", cfg_path(m->cfg), (long long)n, (long long)every,
                         (long long)e->hp.layers);
    for (int64_t l = 0; l < e->hp.layers && st == SENTI_OK; l++) {
        if (!n) e->local[l] = l % every != 0;
        else if (!strcmp(types[l], "sliding_attention")) e->local[l] = true;
        else if (strcmp(types[l], "full_attention") != 0)
            st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: layer type '%s' (key 'layer_types', layer %lld) is not "
                             "supported", cfg_path(m->cfg), types[l], (long long)l);
    }
    senti_mfree(types);
    return st;
}

static senti_status read_options(const senti_model *m, mb_model *e) {
    const cfg_file *c = m->cfg;
    senti_status st;
    const char *pool;
    int64_t local_attention;
    const int64_t D = e->hp.hidden / e->hp.heads;
    BLK_TRY(cfg_opt_bool(c, "norm_bias", false, &e->norm_bias));
    BLK_TRY(cfg_opt_bool(c, "attention_bias", false, &e->attn_bias));
    BLK_TRY(cfg_opt_bool(c, "mlp_bias", false, &e->mlp_bias));
    BLK_TRY(cfg_opt_bool(c, "classifier_bias", false, &e->cls_bias));
    BLK_TRY(cfg_opt_str(c, "classifier_pooling", "cls", &pool));
    BLK_TRY(blk_parse_act(c, "classifier_activation", "gelu", &e->cls_act));
    BLK_TRY(cfg_opt_int(c, "local_attention", 128, &local_attention));
    BLK_TRY(blk_read_rope(c, "full_attention", "global_rope_theta", 160000.0, false, D, e->hp.max_pos,
                          &e->rope_global));
    BLK_TRY(blk_read_rope(c, "sliding_attention", "local_rope_theta", 10000.0, false, D, e->hp.max_pos,
                          &e->rope_local));
    if (strcmp(pool, "cls") != 0 && strcmp(pool, "mean") != 0)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'classifier_pooling' = '%s' (cls or mean)", cfg_path(c),
                           pool);
    if (e->rope_global.kind != BLK_ROPE_DEFAULT || e->rope_local.kind != BLK_ROPE_DEFAULT)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: only the default rope type is supported for ModernBERT",
                           cfg_path(c));
    if (local_attention < 0 || local_attention > INT32_MAX)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'local_attention' = %lld is out of range", cfg_path(c),
                           (long long)local_attention);
    e->mean_pool = pool[0] == 'm';
    e->window = local_attention / 2;
    return read_layer_types(m, e);
fail:
    return st;
}

static senti_status load_head(const blk_loader *ld, mb_model *e, senti_model_head head) {
    const int64_t H = e->hp.hidden, L = e->hp.num_labels, V = e->hp.vocab;
    senti_status st = SENTI_OK;
    arch_role dense = AR_SEQ_DENSE, norm = AR_SEQ_NORM, out = AR_SEQ_OUT;
    switch (head) {
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: return SENTI_OK;
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: break;
    case SENTI_HEAD_TOKEN_CLASSIFICATION: dense = AR_TOK_DENSE, norm = AR_TOK_NORM, out = AR_TOK_OUT; break;
    case SENTI_HEAD_MASKED_LM: dense = AR_MLM_DENSE, norm = AR_MLM_NORM, out = AR_MLM_DECODER; break;
    }
    /* the prediction head: dense (+ classifier_bias) -> classifier_activation -> norm */
    BLK_TRY(blk_load_linear(ld, &e->head_w, &e->head_b, dense, 0, e->cls_bias, H, H));
    BLK_TRY(blk_load_norm(ld, &e->head_ln_w, &e->head_ln_b, norm, 0, e->norm_bias, H));
    if (head == SENTI_HEAD_MASKED_LM) { /* decoder tied to the embeddings, bias decoder_bias */
        bool bias;
        BLK_TRY(cfg_opt_bool(ld->m->cfg, "decoder_bias", true, &bias));
        BLK_TRY(blk_load(ld, &e->out_w, out, 0, ".weight", false, true, V, H));
        if (!e->out_w.data) e->out_w = (model_w){e->tok_emb.data, NULL, SENTI_TYPE_F32, 2, {V, H}};
        if (bias) BLK_TRY(blk_load(ld, &e->out_b, out, 0, ".bias", false, false, V, 0));
    } else {
        BLK_TRY(blk_load(ld, &e->out_w, out, 0, ".weight", false, false, L, H));
        BLK_TRY(blk_load(ld, &e->out_b, out, 0, ".bias", false, false, L, 0));
    }
fail:
    return st;
}

static senti_status mb_load(senti_model *m) {
    senti_status st;
    mb_model *e = senti_calloc(1, sizeof *e);
    if (!e) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
    m->impl = e;
    BLK_TRY(cfg_labels(m->cfg, &m->labels, &m->n_labels_named));
    BLK_TRY(blk_enc_read_hp(m, &e->hp));
    BLK_TRY(read_options(m, e));
    const blk_enc_hp *hp = &e->hp;
    const int64_t H = hp->hidden, I = hp->inter;
    const blk_loader ld = blk_loader_init(m, false);
    BLK_TRY(blk_load(&ld, &e->tok_emb, AR_TOK_EMB, 0, ".weight", false, false, hp->vocab, H));
    BLK_TRY(blk_load_norm(&ld, &e->emb_ln_w, &e->emb_ln_b, AR_EMB_NORM, 0, e->norm_bias, H));
    BLK_TRY(blk_load_norm(&ld, &e->out_ln_w, &e->out_ln_b, AR_OUT_NORM, 0, e->norm_bias, H));
    if (!(e->layer = senti_calloc((size_t)hp->layers, sizeof *e->layer))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
        goto fail;
    }
    for (int64_t l = 0; l < hp->layers; l++) {
        mb_layer *w = &e->layer[l];
        if (l > 0) BLK_TRY(blk_load_norm(&ld, &w->ln1_w, &w->ln1_b, AR_ATTN_NORM, l, e->norm_bias, H));
        BLK_TRY(blk_load_linear(&ld, &w->wqkv, &w->bqkv, AR_QKV, l, e->attn_bias, 3 * H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wo, &w->bo, AR_O, l, e->attn_bias, H, H));
        BLK_TRY(blk_load_norm(&ld, &w->ln2_w, &w->ln2_b, AR_FFN_NORM, l, e->norm_bias, H));
        BLK_TRY(blk_load_linear(&ld, &w->wi, &w->bi, AR_UP, l, e->mlp_bias, 2 * I, H));
        BLK_TRY(blk_load_linear(&ld, &w->w2, &w->b2, AR_DOWN, l, e->mlp_bias, H, I));
    }
    BLK_TRY(load_head(&ld, e, m->head));
    blk_enc_set_model(m, hp, hp->max_pos);
    return SENTI_OK;
fail:
    return st;
}

/* ---- graph ------------------------------------------------------------------------------ */

typedef struct mb_inputs {
    const mb_model *e;
    const model_input *x;
    const blk_packed *pk;     /* padding-free: the real tokens; NULL: padded */
    senti_tensor *ids, *pos;  /* i32 [B, T], [T]; packed [1, N], [N] (each token's place in its sequence) */
    senti_tensor *mask;       /* f32 [B, 1, 1, T] padding (padded) */
    senti_tensor *mask_local; /* f32 [B, 1, T, T] padding + window, or NULL (padded) */
    senti_tensor *offs, *first, *pos0; /* i32 [B + 1] sequence starts, [B, 1] their first tokens, [B] zeros (packed) */
    senti_tensor *pool;       /* f32 mean-pooling weights [B, 1, T] (packed [1, 1, N]), or NULL */
    bool first_only;          /* packed CLS head alone: the last layer for the first tokens only */
} mb_inputs;

#define W model_w_leaf

/* Attention of layer l over q, k, v: padded with its mask, packed per
 * sequence (the local layers' window in the kernel); first: one query per
 * sequence (the first tokens'). */
static senti_tensor *mb_attend(const mb_model *e, senti_graph *g, const mb_inputs *in, int64_t l, senti_tensor *q,
                               senti_tensor *k, senti_tensor *v, float scale, bool first) {
    if (!in->pk) return op_attention(g, q, k, v, e->local[l] ? in->mask_local : in->mask, scale, false);
    if (e->local[l]) return op_attention_varlen_local(g, q, k, v, in->offs, scale, e->window, first);
    return first ? op_attention_varlen_first(g, q, k, v, in->offs, scale)
                 : op_attention_varlen(g, q, k, v, in->offs, scale, false);
}

/* The masked mean of each packed sequence -> [B, 1, H]: one product per
 * sequence (its weights 1 / n times its own rows), so a record's
 * non-finite row reaches no other record's mean; the padded batch's product
 * runs the same chain over the same rows, then adds 0 x pad rows. */
static senti_tensor *mb_mean_packed(senti_graph *g, const mb_inputs *in, senti_tensor *x) {
    const int32_t *o = in->pk->offs;
    const int64_t B = in->x->B;
    senti_tensor **part = senti_malloc((size_t)B * sizeof *part);
    if (!part) return graph_fail(g, SENTI_ERR_NO_MEMORY, "out of memory building the mean pool of %lld sequences",
                                 (long long)B);
    for (int64_t b = 0; b < B; b++) /* [1, 1, H] */
        part[b] = op_matmul(g, op_slice(g, in->pool, 2, o[b], o[b + 1]), op_slice(g, x, 1, o[b], o[b + 1]), false, false);
    for (int64_t step = 1; step < B; step *= 2) /* joined pairwise, in order: O(B log B) rows copied */
        for (int64_t b = 0; b + step < B; b += 2 * step) part[b] = op_concat(g, part[b], part[b + step], 0);
    senti_tensor *y = part[0];
    senti_mfree(part);
    return y;
}

/* The whole forward for a [B, T] batch, or for its N real tokens packed
 * ([1, N], in->pk): rotary positions restart at each sequence, attention
 * sees only its sequence (and window), so every row computes what it
 * computes padded. A CLS head alone (in->first_only) runs the last layer's
 * attention output and feed-forward for the first tokens only, k and v for
 * every token. */
static senti_tensor *mb_build(const mb_model *e, senti_model_head head, senti_graph *g, int64_t B, int64_t T,
                              mb_inputs *in) {
    const blk_enc_hp *hp = &e->hp;
    const int64_t H = hp->hidden, NH = hp->heads, D = H / NH;
    const int64_t R = in->pk ? 1 : B, C = in->pk ? in->pk->n : T; /* the token grid */
    bool any_local = false;
    for (int64_t l = 0; l < hp->layers; l++) any_local |= e->local[l];
    in->ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C);
    in->pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, C);
    if (in->pk) {
        in->offs = graph_new_tensor_1d(g, SENTI_TYPE_I32, B + 1);
        in->first = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, 1);
        in->pos0 = in->first_only ? graph_new_tensor_1d(g, SENTI_TYPE_I32, B) : NULL;
    } else {
        in->mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
        in->mask_local = any_local ? graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, T, T) : NULL;
    }
    in->pool = head == SENTI_HEAD_SEQUENCE_CLASSIFICATION && e->mean_pool ? graph_new_tensor_3d(g, SENTI_TYPE_F32, R, 1, C)
                                                                           : NULL;
    const float scale = 1.0f / sqrtf((float)D);
    senti_tensor *x = op_get_rows(g, W(g, &e->tok_emb), in->ids); /* [R, C, H] */
    x = blk_norm(g, ARCH_NORM_LAYER, x, &e->emb_ln_w, &e->emb_ln_b, hp->eps);
    for (int64_t l = 0; l < hp->layers; l++) {
        const mb_layer *w = &e->layer[l];
        const blk_rope *r = e->local[l] ? &e->rope_local : &e->rope_global;
        senti_tensor *h = l > 0 ? blk_norm(g, ARCH_NORM_LAYER, x, &w->ln1_w, &w->ln1_b, hp->eps) : x;
        if (in->first_only && l == hp->layers - 1) {
            /* k | v for every token, q for the first tokens (rotated at position 0); each row's bytes are
             * those of the whole layer's (a GEMM row's reduction depends only on K, rope only on the row) */
            const model_w wq = blk_w_rows(&w->wqkv, 0, H), wkv = blk_w_rows(&w->wqkv, H, 3 * H);
            const model_w bq = blk_w_rows(&w->bqkv, 0, H), bkv = blk_w_rows(&w->bqkv, H, 3 * H);
            senti_tensor *kv = op_reshape_4d(g, blk_linear(g, h, &wkv, &bkv), 1, C, 2 * NH, D);
            senti_tensor *k = op_rope(g, op_slice(g, kv, 2, 0, NH), in->pos, NULL, r->n_rot, false, (float)r->theta, 1.0f);
            senti_tensor *q = op_reshape_4d(g, blk_linear(g, blk_rows(g, h, in->first), &wq, &bq), 1, B, NH, D);
            q = op_rope(g, q, in->pos0, NULL, r->n_rot, false, (float)r->theta, 1.0f);
            senti_tensor *a = mb_attend(e, g, in, l, q, k, op_slice(g, kv, 2, NH, 2 * NH), scale, true); /* [1, B, NH, D] */
            x = op_add(g, blk_rows(g, x, in->first), blk_linear(g, op_reshape_3d(g, a, B, 1, H), &w->wo, &w->bo));
        } else {
            /* [R, C, 3 NH, D]: q | k | v heads; q and k rotated together */
            senti_tensor *qkv = op_reshape_4d(g, blk_linear(g, h, &w->wqkv, &w->bqkv), R, C, 3 * NH, D);
            senti_tensor *qk = op_rope(g, op_slice(g, qkv, 2, 0, 2 * NH), in->pos, NULL, r->n_rot, false,
                                       (float)r->theta, 1.0f);
            senti_tensor *a = mb_attend(e, g, in, l, op_slice(g, qk, 2, 0, NH), op_slice(g, qk, 2, NH, 2 * NH),
                                        op_slice(g, qkv, 2, 2 * NH, 3 * NH), scale, false); /* [R, C, NH, D] */
            x = op_add(g, x, blk_linear(g, op_reshape_3d(g, a, R, C, H), &w->wo, &w->bo));
        }
        h = blk_norm(g, ARCH_NORM_LAYER, x, &w->ln2_w, &w->ln2_b, hp->eps);
        x = op_add(g, x, blk_mlp(g, ARCH_MLP_GATED_FUSED, hp->act, h, hp->inter, &w->wi, &w->bi, &w->w2, &w->b2));
    }
    x = blk_norm(g, ARCH_NORM_LAYER, x, &e->out_ln_w, &e->out_ln_b, hp->eps);
    if (head == SENTI_HEAD_BASE || head == SENTI_HEAD_CAUSAL_LM) return x;
    if (head == SENTI_HEAD_SEQUENCE_CLASSIFICATION && !in->first_only) /* [B, 1, H]: first token, or the masked mean */
        x = in->pool && in->pk ? mb_mean_packed(g, in, x)
            : in->pool         ? op_matmul(g, in->pool, x, false, false)
            : in->pk           ? blk_rows(g, x, in->first)
                               : blk_first_token(g, x);
    senti_tensor *p = blk_act_apply(g, blk_linear(g, x, &e->head_w, &e->head_b), e->cls_act);
    p = blk_norm(g, ARCH_NORM_LAYER, p, &e->head_ln_w, &e->head_ln_b, hp->eps);
    return blk_linear(g, p, &e->out_w, &e->out_b);
}

static void mb_fill(void *arg) {
    const mb_inputs *in = arg;
    const model_input *x = in->x;
    const blk_packed *pk = in->pk;
    const int64_t B = x->B, T = x->T, win = in->e->window;
    int32_t *ids = in->ids->data, *pos = in->pos->data;
    float *pool = in->pool ? in->pool->data : NULL;
    if (pk) {
        const int32_t *o = pk->offs;
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = o[b]; j < o[b + 1]; j++) {
                ids[j] = x->ids[pk->keep[j]];
                pos[j] = (int32_t)(j - o[b]);
            }
        for (int64_t b = 0; pool && b < B; b++)
            for (int64_t j = o[b]; j < o[b + 1]; j++) pool[j] = 1.0f / (float)(o[b + 1] - o[b]); /* the padded mean's */
        memcpy(in->offs->data, o, (size_t)(B + 1) * sizeof *o);
        memcpy(in->first->data, o, (size_t)B * sizeof *o);
        if (in->pos0) memset(in->pos0->data, 0, (size_t)B * sizeof(int32_t));
        return;
    }
    memcpy(ids, x->ids, (size_t)(B * T) * sizeof(int32_t));
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)t;
    float *mask = in->mask->data, *ml = in->mask_local ? in->mask_local->data : NULL;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = 0;
        for (int64_t t = 0; t < T; t++) {
            const bool real = !x->mask || x->mask[b * T + t];
            mask[b * T + t] = real ? 0.0f : -INFINITY;
            n += real;
        }
        for (int64_t i = 0; ml && i < T; i++)
            for (int64_t j = 0; j < T; j++)
                ml[(b * T + i) * T + j] = mask[b * T + j] == 0.0f && (i > j ? i - j : j - i) <= win ? 0.0f : -INFINITY;
        for (int64_t t = 0; pool && t < T; t++) pool[b * T + t] = mask[b * T + t] == 0.0f ? 1.0f / (float)n : 0.0f; /* n >= 1 */
    }
}

/* Padding-free whenever every sequence has a token (blk_pack); the padded
 * graph otherwise. Token-level outputs go back to [B, T, ..] with zeros at
 * the padding. */
static senti_status mb_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const mb_model *e = m->impl;
    blk_packed pk;
    senti_status st = blk_pack(x->mask, x->B, x->T, &pk);
    if (st != SENTI_OK) return st;
    const bool seq = m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION;
    mb_inputs in = {.e = e, .x = x, .pk = pk.n ? &pk : NULL};
    in.first_only = in.pk && seq && !e->mean_pool && blk_first_only();
    senti_graph *g = graph_init();
    if (!g) {
        blk_packed_free(&pk);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory building the graph");
    }
    senti_tensor *y = mb_build(e, m->head, g, x->B, x->T, &in);
    st = blk_run_packed(m, g, y, mb_fill, &in, in.pk, x->B, x->T, out, shape, ndim);
    graph_free(g);
    blk_packed_free(&pk);
    return st;
}

const model_family model_family_modernbert = {"modernbert", mb_load, mb_forward, mb_free, NULL, false};
