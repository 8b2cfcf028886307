/* deberta.c — DeBERTa-v2 / v3 encoders (disentangled attention) with their
 * base, sequence-classification (ContextPooler), token-classification and
 * (legacy) masked-LM heads, as HF transformers' modeling_deberta_v2 computes
 * them.
 *
 * Attention: scores = (q k^T + c2p + p2c^T) / sqrt(D * (1 + #pos types)) +
 * padding mask, where c2p[i, j] = q_i · pos_k[c2p_idx(i, j)] and
 * p2c[j, i] = k_j · pos_q[p2c_idx(j, i)] with pos_k / pos_q the key / query
 * projections (shared ones with share_att_key, else pos_key_proj /
 * pos_query_proj) of the (layer-normed) relative embeddings, and the
 * indices relative position buckets (log buckets past position_buckets / 2)
 * shifted by the span and clamped to [0, 2 span). The bias goes to the fused
 * attention op as its additive mask; the column picks are op_gather.
 *
 * Invariants: everything validated at load (config options refused with a
 * message when not supported: conv layers, an attention_head_size other than
 * hidden / heads, a non-legacy MLM head); weights held as bert.c holds them.
 * The relative indices depend only on T, so a padded row computes what it
 * computes alone; batches run padding-free (deb_build), a row's bytes those
 * of the padded batch. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"

typedef struct deb_layer {
    model_w wq, bq, wk, bk, wv, bv, wo, bo; /* [H, H], [H] (q, k, v fused into wqkv at load) */
    model_w wqkv, bqkv;                     /* [3H, H], [3H]: q | k | v */
    model_w wpk, bpk, wpq, bpq;             /* pos_key_proj / pos_query_proj (not shared) */
    model_w ln1_w, ln1_b, w1, b1, w2, b2, ln2_w, ln2_b;
} deb_layer;

typedef struct deb_model {
    blk_enc_hp hp;
    int64_t emb;                /* embedding_size E (default hidden) */
    bool pos_biased;            /* position_biased_input: absolute positions added */
    bool rel;                   /* relative_attention */
    bool c2p, p2c;              /* pos_att_type */
    bool share_key;             /* share_att_key */
    bool rel_norm;              /* norm_rel_ebd has "layer_norm" */
    int64_t buckets, max_rel;   /* position_buckets (<= 0: none), max_relative_positions */
    int64_t span;               /* attention span: buckets, else max_rel */
    blk_act pooler_act;         /* pooler_hidden_act */
    model_w tok_emb, pos_emb, type_emb, emb_proj, emb_ln_w, emb_ln_b, rel_emb, rel_ln_w, rel_ln_b;
    deb_layer *layer;
    model_w head_w, head_b, head_ln_w, head_ln_b, out_w, out_b;
} deb_model;

static void deb_free(void *impl) {
    deb_model *e = impl;
    if (!e) return;
    model_w *top[] = {&e->tok_emb, &e->pos_emb, &e->type_emb, &e->emb_proj,  &e->emb_ln_w,  &e->emb_ln_b,
                      &e->rel_emb, &e->rel_ln_w, &e->rel_ln_b, &e->head_w,   &e->head_b,    &e->head_ln_w,
                      &e->head_ln_b, &e->out_w,  &e->out_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int64_t l = 0; e->layer && l < e->hp.layers; l++) {
        model_w *f = (model_w *)&e->layer[l];
        for (size_t i = 0; i < sizeof(deb_layer) / sizeof(model_w); i++) model_w_free(&f[i]);
    }
    senti_mfree(e->layer);
    senti_mfree(e);
}

/* pos_att_type: a list of strings or "p2c|c2p". */
static senti_status read_pos_att(const cfg_file *c, deb_model *e) {
    json_t *v = json_object_get(cfg_root(c), "pos_att_type");
    e->c2p = e->p2c = false;
    if (!v || json_is_null(v)) return SENTI_OK;
    char buf[64];
    const size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_string(s))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'pos_att_type' must be strings", cfg_path(c));
        snprintf(buf, sizeof buf, "%s", json_string_value(s));
        for (char *save = NULL, *t = strtok_r(buf, "|", &save); t; t = strtok_r(NULL, "|", &save)) {
            while (*t == ' ') t++;
            size_t k = strlen(t);
            while (k && t[k - 1] == ' ') t[--k] = '\0';
            for (char *q = t; *q; q++) *q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
            if (!strcmp(t, "c2p")) e->c2p = true;
            else if (!strcmp(t, "p2c")) e->p2c = true;
            else
                return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'pos_att_type' names '%s' (c2p and p2c are "
                                   "supported)", cfg_path(c), t);
        }
    }
    return SENTI_OK;
}

static senti_status read_options(const senti_model *m, deb_model *e) {
    const cfg_file *c = m->cfg;
    const char *path = cfg_path(c), *nre, *pact;
    senti_status st;
    int64_t conv = 0, ahs = 0;
    bool legacy = true;
    BLK_TRY(cfg_opt_int(c, "embedding_size", e->hp.hidden, &e->emb));
    BLK_TRY(cfg_opt_bool(c, "position_biased_input", true, &e->pos_biased));
    BLK_TRY(cfg_opt_bool(c, "relative_attention", false, &e->rel));
    BLK_TRY(cfg_opt_bool(c, "share_att_key", false, &e->share_key));
    BLK_TRY(cfg_opt_int(c, "position_buckets", -1, &e->buckets));
    BLK_TRY(cfg_opt_int(c, "max_relative_positions", -1, &e->max_rel));
    BLK_TRY(cfg_opt_str(c, "norm_rel_ebd", "none", &nre));
    BLK_TRY(cfg_opt_str(c, "pooler_hidden_act", "gelu", &pact));
    BLK_TRY(blk_parse_act(c, "pooler_hidden_act", "gelu", &e->pooler_act));
    BLK_TRY(cfg_opt_int(c, "conv_kernel_size", 0, &conv));
    BLK_TRY(cfg_opt_int(c, "attention_head_size", e->hp.hidden / e->hp.heads, &ahs));
    BLK_TRY(cfg_opt_bool(c, "legacy", true, &legacy));
    BLK_TRY(read_pos_att(c, e));
    if (conv > 0)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'conv_kernel_size' = %lld (DeBERTa's convolution layer) "
                           "is not supported", path, (long long)conv);
    if (ahs != e->hp.hidden / e->hp.heads)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'attention_head_size' = %lld differs from hidden / heads",
                           path, (long long)ahs);
    if (!legacy && m->head == SENTI_HEAD_MASKED_LM)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'legacy' = false (the non-legacy MLM head) is not "
                           "supported", path);
    if (e->emb < 1 || e->emb > (1 << 20))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'embedding_size' = %lld is out of range", path,
                           (long long)e->emb);
    if (e->max_rel < 1) e->max_rel = e->hp.max_pos;
    e->span = e->buckets > 0 ? e->buckets : e->max_rel;
    if (e->rel && (e->span > (1 << 20) || (e->buckets > 0 && e->buckets < 4)))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: relative position span %lld (position_buckets %lld) is out of "
                           "range", path, (long long)e->span, (long long)e->buckets);
    e->rel_norm = strstr(nre, "layer_norm") != NULL;
    if (!e->rel) e->c2p = e->p2c = false;
    return SENTI_OK;
fail:
    return st;
}

static senti_status load_head(const blk_loader *ld, deb_model *e, senti_model_head head) {
    const int64_t H = e->hp.hidden, L = e->hp.num_labels, V = e->hp.vocab, E = e->emb;
    senti_status st = SENTI_OK;
    switch (head) {
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: break;
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: /* ContextPooler: dense -> pooler_hidden_act; classifier */
        BLK_TRY(blk_load_linear(ld, &e->head_w, &e->head_b, AR_SEQ_DENSE, 0, true, H, H));
        BLK_TRY(blk_load(ld, &e->out_w, AR_SEQ_OUT, 0, ".weight", false, false, L, H));
        BLK_TRY(blk_load(ld, &e->out_b, AR_SEQ_OUT, 0, ".bias", false, false, L, 0));
        break;
    case SENTI_HEAD_TOKEN_CLASSIFICATION:
        BLK_TRY(blk_load(ld, &e->out_w, AR_TOK_OUT, 0, ".weight", false, false, L, H));
        BLK_TRY(blk_load(ld, &e->out_b, AR_TOK_OUT, 0, ".bias", false, false, L, 0));
        break;
    case SENTI_HEAD_MASKED_LM: /* legacy: dense H -> E, act, LN, decoder (tied) + bias */
        BLK_TRY(blk_load_linear(ld, &e->head_w, &e->head_b, AR_MLM_DENSE, 0, true, E, H));
        BLK_TRY(blk_load_norm(ld, &e->head_ln_w, &e->head_ln_b, AR_MLM_NORM, 0, true, E));
        BLK_TRY(blk_load(ld, &e->out_w, AR_MLM_DECODER, 0, ".weight", false, true, V, E));
        if (!e->out_w.data) e->out_w = (model_w){e->tok_emb.data, NULL, SENTI_TYPE_F32, 2, {V, E}};
        BLK_TRY(blk_load(ld, &e->out_b, AR_MLM_BIAS, 0, ".bias", false, false, V, 0));
        break;
    }
fail:
    return st;
}

static senti_status deb_load(senti_model *m) {
    senti_status st;
    deb_model *e = senti_calloc(1, sizeof *e);
    if (!e) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
    m->impl = e;
    BLK_TRY(cfg_labels(m->cfg, &m->labels, &m->n_labels_named));
    BLK_TRY(blk_enc_read_hp(m, &e->hp));
    BLK_TRY(read_options(m, e));
    const blk_enc_hp *hp = &e->hp;
    const int64_t H = hp->hidden, I = hp->inter, E = e->emb;
    const blk_loader ld = blk_loader_init(m, false);
    BLK_TRY(blk_load(&ld, &e->tok_emb, AR_TOK_EMB, 0, ".weight", false, false, hp->vocab, E));
    if (e->pos_biased) BLK_TRY(blk_load(&ld, &e->pos_emb, AR_POS_EMB, 0, ".weight", false, false, hp->max_pos, E));
    if (hp->type_vocab) BLK_TRY(blk_load(&ld, &e->type_emb, AR_TYPE_EMB, 0, ".weight", false, false, hp->type_vocab, E));
    else BLK_TRY(blk_absent(&ld, AR_TYPE_EMB, ".weight", "type_vocab_size"));
    if (E != H) BLK_TRY(blk_load(&ld, &e->emb_proj, AR_EMB_PROJ, 0, ".weight", true, false, H, E));
    BLK_TRY(blk_load_norm(&ld, &e->emb_ln_w, &e->emb_ln_b, AR_EMB_NORM, 0, true, H));
    if (e->rel) {
        BLK_TRY(blk_load(&ld, &e->rel_emb, AR_REL_EMB, 0, ".weight", false, false, 2 * e->span, H));
        if (e->rel_norm) BLK_TRY(blk_load_norm(&ld, &e->rel_ln_w, &e->rel_ln_b, AR_REL_NORM, 0, true, H));
    }
    if (!(e->layer = senti_calloc((size_t)hp->layers, sizeof *e->layer))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
        goto fail;
    }
    for (int64_t l = 0; l < hp->layers; l++) {
        deb_layer *w = &e->layer[l];
        BLK_TRY(blk_load_linear(&ld, &w->wq, &w->bq, AR_Q, l, true, H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wk, &w->bk, AR_K, l, true, H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wv, &w->bv, AR_V, l, true, H, H));
        BLK_TRY(blk_fuse_rows(m, (model_w *const[]){&w->wq, &w->wk, &w->wv}, (model_w *const[]){&w->bq, &w->bk, &w->bv},
                              3, &w->wqkv, &w->bqkv));
        if (e->c2p && !e->share_key) BLK_TRY(blk_load_linear(&ld, &w->wpk, &w->bpk, AR_POS_K, l, true, H, H));
        if (e->p2c && !e->share_key) BLK_TRY(blk_load_linear(&ld, &w->wpq, &w->bpq, AR_POS_Q, l, true, H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wo, &w->bo, AR_O, l, true, H, H));
        BLK_TRY(blk_load_norm(&ld, &w->ln1_w, &w->ln1_b, AR_ATTN_POST_NORM, l, true, H));
        BLK_TRY(blk_load_linear(&ld, &w->w1, &w->b1, AR_UP, l, true, I, H));
        BLK_TRY(blk_load_linear(&ld, &w->w2, &w->b2, AR_DOWN, l, true, H, I));
        BLK_TRY(blk_load_norm(&ld, &w->ln2_w, &w->ln2_b, AR_FFN_POST_NORM, l, true, H));
    }
    BLK_TRY(load_head(&ld, e, m->head));
    blk_enc_set_model(m, hp, hp->max_pos);
    return SENTI_OK;
fail:
    return st;
}

/* ---- relative positions ------------------------------------------------------------------ */

/* transformers' make_log_bucket_position for one distance, in f32 as torch
 * computes it: distances within (-mid, mid) stay; beyond, log-spaced buckets
 * up to max_position. */
static int32_t log_bucket(int64_t rel, int64_t bucket_size, int64_t max_position) {
    const int64_t mid = bucket_size / 2;
    const int64_t sign = rel > 0 ? 1 : rel < 0 ? -1 : 0;
    const int64_t abs_pos = (rel < mid && rel > -mid) ? mid - 1 : (rel < 0 ? -rel : rel);
    if (abs_pos <= mid) return (int32_t)rel;
    const float num = logf((float)abs_pos / (float)mid);
    const float den = logf((float)((double)(max_position - 1) / (double)mid));
    const float log_pos = ceilf(num / den * (float)(mid - 1)) + (float)mid;
    return (int32_t)(log_pos * (float)sign);
}

/* Relative position of query i to key j (i - j, bucketed when position_buckets > 0). */
static int64_t rel_pos(const deb_model *e, int64_t i, int64_t j) {
    return e->buckets > 0 && e->max_rel > 0 ? log_bucket(i - j, e->buckets, e->max_rel) : i - j;
}

static int32_t clamp_span(int64_t v, int64_t span) {
    return (int32_t)(v < 0 ? 0 : v > 2 * span - 1 ? 2 * span - 1 : v);
}

/* ---- graph ------------------------------------------------------------------------------------ */

typedef struct deb_inputs {
    const deb_model *e;
    const model_input *x;
    const blk_packed *pk;            /* padding-free: the real tokens; NULL: padded */
    senti_tensor *ids, *types, *pos; /* i32 [B, T]; packed [1, N] */
    senti_tensor *keep;              /* f32 [B, T, 1]: 1 real, 0 padding (padded) */
    senti_tensor *slot, *row;        /* packed: i32 [B, T] each slot's packed row, [1, N] each row's slot */
    senti_tensor *first;             /* packed: i32 [B, 1] the first tokens' rows */
    senti_tensor *c2p_idx0, *p2c_idx0; /* first-token queries: c2p_idx's row 0 [1, 1, 1, T], p2c_idx's column 0 [1, 1, T, 1] */
    bool first_only;                 /* packed sequence head: the last layer for the first tokens only */
    senti_tensor *mask;              /* f32 [B, 1, 1, T] additive */
    senti_tensor *c2p_idx, *p2c_idx; /* i32 [1, 1, T, T]: columns of the rows [rlo, rhi] of the relative table */
    int64_t rlo, rhi;                /* the relative embeddings' rows that a length of T reaches */
} deb_inputs;

/* The rows of the relative table (clamped span offsets, both directions)
 * that some (i, j) of a length-T batch picks: the projections and the
 * c2p / p2c products run on these alone (a short batch reaches 2T - 1 of the
 * 2 span rows), each element the bytes it has in the whole table's product
 * (a row's dot products depend on that row only). */
static void rel_rows(const deb_model *e, int64_t T, int64_t *lo, int64_t *hi) {
    *lo = 2 * e->span - 1, *hi = 0;
    for (int64_t d = -(T - 1); d <= T - 1; d++) {
        const int64_t r = rel_pos(e, d, 0);
        for (int s = -1; s <= 1; s += 2) {
            const int64_t c = clamp_span(s * r + e->span, e->span);
            *lo = c < *lo ? c : *lo;
            *hi = c > *hi ? c : *hi;
        }
    }
    if (*lo > *hi) *lo = *hi = 0; /* T = 0 */
}

#define W model_w_leaf

/* Positions projected for one layer: [1, NH, 2S, D] from the relative embeddings. */
static senti_tensor *pos_proj(senti_graph *g, senti_tensor *rel, const model_w *w, const model_w *b, int64_t NH,
                              int64_t D) {
    senti_tensor *p = blk_linear(g, rel, w, b); /* [2S, H] */
    if (!p) return NULL;
    const int64_t S2 = p->ne[2];
    p = op_permute(g, op_reshape_3d(g, p, S2, NH, D), (int[]){1, 0, 2}); /* [NH, 2S, D] */
    return op_reshape_4d(g, op_cpy(g, p, SENTI_TYPE_F32), 1, NH, S2, D);
}

/* The disentangled bias (c2p + p2c^T) * scale + padding mask -> [B, NH, T, T]
 * (first: q [B, 1, NH, D] the first tokens' queries -> [B, NH, 1, T], row 0
 * of the whole bias byte for byte: the same products and picks of them). */
static senti_tensor *rel_bias(senti_graph *g, const deb_model *e, const deb_layer *w, senti_tensor *rel,
                              senti_tensor *q, senti_tensor *k, deb_inputs *in, float scale, bool first) {
    const int64_t NH = e->hp.heads, D = e->hp.hidden / NH;
    const int perm[4] = {0, 2, 1, 3};
    senti_tensor *score = NULL;
    const int64_t H = e->hp.hidden;
    if (e->c2p) { /* c2p[b,h,i,r] = q_i · pos_k_r, column c2p_idx[i, j] */
        const model_w wk = blk_w_rows(&w->wqkv, H, 2 * H), bk = blk_w_rows(&w->bqkv, H, 2 * H);
        senti_tensor *pk = pos_proj(g, rel, e->share_key ? &wk : &w->wpk, e->share_key ? &bk : &w->bpk, NH, D);
        senti_tensor *c = op_matmul(g, op_permute(g, q, perm), pk, false, true); /* [B, NH, T, 2S] */
        score = op_gather(g, c, first ? in->c2p_idx0 : in->c2p_idx);            /* [B, NH, T, T] */
    }
    if (e->p2c) { /* p2c[b,h,j,r] = k_j · pos_q_r, column p2c_idx[j, i], transposed to [i, j] */
        const model_w wq = blk_w_rows(&w->wqkv, 0, H), bq = blk_w_rows(&w->bqkv, 0, H);
        senti_tensor *pq = pos_proj(g, rel, e->share_key ? &wq : &w->wpq, e->share_key ? &bq : &w->bpq, NH, D);
        senti_tensor *c = op_matmul(g, op_permute(g, k, perm), pq, false, true); /* [B, NH, T(j), 2S] */
        c = op_permute(g, op_gather(g, c, first ? in->p2c_idx0 : in->p2c_idx), (int[]){0, 1, 3, 2}); /* [B, NH, T(i), T(j)] */
        score = score ? op_add(g, score, c) : c;
    }
    return op_add(g, op_scale(g, score, scale), in->mask);
}

/* The whole forward for a [B, T] batch, or for its N real tokens packed
 * ([1, N], in->pk): every GEMM, norm and activation on the real rows only;
 * each layer's q | k | v rows go to their [B, T] slots for the disentangled
 * bias and attention (a padding slot gets a copy of its sequence's first
 * row: masked, it contributes nothing, as the padded batch's pad rows) and
 * the real rows of the attention come back. Every real row's bytes are the
 * padded batch's. */
static senti_tensor *deb_build(const deb_model *e, senti_model_head head, senti_graph *g, int64_t B, int64_t T,
                               deb_inputs *in) {
    const blk_enc_hp *hp = &e->hp;
    const int64_t H = hp->hidden, NH = hp->heads, D = H / NH;
    const int64_t R = in->pk ? 1 : B, C = in->pk ? in->pk->n : T; /* the token grid */
    in->ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C);
    in->pos = e->pos_biased ? graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C) : NULL;
    in->types = hp->type_vocab ? graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C) : NULL;
    if (in->pk) {
        in->slot = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T);
        in->row = graph_new_tensor_2d(g, SENTI_TYPE_I32, 1, C);
        in->first = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, 1);
    } else {
        in->keep = graph_new_tensor_3d(g, SENTI_TYPE_F32, B, T, 1);
    }
    in->mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
    in->c2p_idx = e->c2p ? graph_new_tensor_4d(g, SENTI_TYPE_I32, 1, 1, T, T) : NULL;
    in->p2c_idx = e->p2c ? graph_new_tensor_4d(g, SENTI_TYPE_I32, 1, 1, T, T) : NULL;
    in->c2p_idx0 = e->c2p && in->first_only ? graph_new_tensor_4d(g, SENTI_TYPE_I32, 1, 1, 1, T) : NULL;
    in->p2c_idx0 = e->p2c && in->first_only ? graph_new_tensor_4d(g, SENTI_TYPE_I32, 1, 1, T, 1) : NULL;

    /* embeddings: word (+ position) (+ type) [B, T, E] -> (proj) -> LN -> * mask */
    senti_tensor *x = op_get_rows(g, W(g, &e->tok_emb), in->ids);
    if (in->pos) x = op_add(g, x, op_get_rows(g, W(g, &e->pos_emb), in->pos));
    if (in->types) x = op_add(g, x, op_get_rows(g, W(g, &e->type_emb), in->types));
    if (e->emb != H) x = blk_linear(g, x, &e->emb_proj, NULL);
    x = blk_norm(g, ARCH_NORM_LAYER, x, &e->emb_ln_w, &e->emb_ln_b, hp->eps);
    if (in->keep) x = op_mul(g, x, in->keep); /* padded: zero the padding (packed: every row is real) */
    /* relative embeddings: the rows [rlo, rhi] of [2S, H] this T reaches, layer-normed once for all layers */
    rel_rows(e, T, &in->rlo, &in->rhi);
    senti_tensor *rel = e->rel ? op_slice(g, W(g, &e->rel_emb), 0, in->rlo, in->rhi + 1) : NULL;
    if (rel && e->rel_norm) rel = blk_norm(g, ARCH_NORM_LAYER, rel, &e->rel_ln_w, &e->rel_ln_b, hp->eps);
    const float scale = 1.0f / sqrtf((float)D * (float)(1 + e->c2p + e->p2c));

    for (int64_t l = 0; l < hp->layers; l++) {
        const deb_layer *w = &e->layer[l];
        /* a: the attention output, xr: the rows it adds to ([B, 1, H] in a pruned last layer) */
        senti_tensor *a, *xr = x;
        if (in->first_only && l == hp->layers - 1) {
            /* k | v of every token in their slots, q of the first tokens: their rows of the whole layer, byte for
             * byte (a GEMM row's reduction depends only on K; attention computes each query row alone) */
            const model_w wq = blk_w_rows(&w->wqkv, 0, H), wkv = blk_w_rows(&w->wqkv, H, 3 * H);
            const model_w bq = blk_w_rows(&w->bqkv, 0, H), bkv = blk_w_rows(&w->bqkv, H, 3 * H);
            senti_tensor *kv = op_get_rows(g, op_reshape_2d(g, blk_linear(g, x, &wkv, &bkv), C, 2 * H), in->slot);
            kv = op_reshape_4d(g, kv, B, T, 2 * NH, D);
            senti_tensor *k = op_slice(g, kv, 2, 0, NH), *v = op_slice(g, kv, 2, NH, 2 * NH);
            senti_tensor *q = op_reshape_4d(g, blk_linear(g, blk_rows(g, x, in->first), &wq, &bq), B, 1, NH, D);
            senti_tensor *mask = e->c2p || e->p2c ? rel_bias(g, e, w, rel, q, k, in, scale, true) : in->mask;
            a = op_reshape_3d(g, op_attention(g, q, k, v, mask, scale, false), B, 1, H);
            xr = blk_rows(g, x, in->first);
        } else {
            /* [B, T, 3 NH, D]: q, k, v are strided slices of one product (packed: its rows in their slots) */
            senti_tensor *qkv = blk_linear(g, x, &w->wqkv, &w->bqkv);
            if (in->pk) qkv = op_get_rows(g, op_reshape_2d(g, qkv, C, 3 * H), in->slot);
            qkv = op_reshape_4d(g, qkv, B, T, 3 * NH, D);
            senti_tensor *q = op_slice(g, qkv, 2, 0, NH), *k = op_slice(g, qkv, 2, NH, 2 * NH);
            senti_tensor *v = op_slice(g, qkv, 2, 2 * NH, 3 * NH);
            senti_tensor *mask = e->c2p || e->p2c ? rel_bias(g, e, w, rel, q, k, in, scale, false) : in->mask;
            a = op_attention(g, q, k, v, mask, scale, false); /* [B, T, NH, D] */
            a = in->pk ? op_get_rows(g, op_reshape_2d(g, a, B * T, H), in->row) : op_reshape_3d(g, a, B, T, H);
        }
        x = blk_norm(g, ARCH_NORM_LAYER, op_add(g, xr, blk_linear(g, a, &w->wo, &w->bo)), &w->ln1_w, &w->ln1_b, hp->eps);
        senti_tensor *f = blk_mlp(g, ARCH_MLP_PLAIN, hp->act, x, hp->inter, &w->w1, &w->b1, &w->w2, &w->b2);
        x = blk_norm(g, ARCH_NORM_LAYER, op_add(g, x, f), &w->ln2_w, &w->ln2_b, hp->eps);
    }

    switch (head) {
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: return x;
    case SENTI_HEAD_TOKEN_CLASSIFICATION: return blk_linear(g, x, &e->out_w, &e->out_b);
    case SENTI_HEAD_MASKED_LM: {
        senti_tensor *h = blk_act_apply(g, blk_linear(g, x, &e->head_w, &e->head_b), hp->act);
        h = blk_norm(g, ARCH_NORM_LAYER, h, &e->head_ln_w, &e->head_ln_b, hp->eps);
        return blk_linear(g, h, &e->out_w, &e->out_b);
    }
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: break;
    }
    /* ContextPooler: first token -> dense -> pooler_hidden_act -> classifier */
    senti_tensor *cls = in->first_only ? x : in->pk ? blk_rows(g, x, in->first) : blk_first_token(g, x);
    senti_tensor *h = blk_act_apply(g, blk_linear(g, cls, &e->head_w, &e->head_b), e->pooler_act);
    return blk_linear(g, h, &e->out_w, &e->out_b);
}

static void deb_fill(void *arg) {
    const deb_inputs *in = arg;
    const deb_model *e = in->e;
    const model_input *x = in->x;
    const blk_packed *pk = in->pk;
    const int64_t B = x->B, T = x->T, n = pk ? pk->n : B * T;
    int32_t *ids = in->ids->data, *ty = in->types ? in->types->data : NULL, *pos = in->pos ? in->pos->data : NULL;
    for (int64_t j = 0; j < n; j++) { /* token j of the grid: slot i of the padded batch */
        const int64_t i = pk ? pk->keep[j] : j;
        ids[j] = x->ids[i];
        if (ty) ty[j] = x->type_ids ? x->type_ids[i] : 0;
        if (pos) pos[j] = (int32_t)(i % T);
        if (pk) ((int32_t *)in->row->data)[j] = (int32_t)i;
    }
    float *keep = in->keep ? in->keep->data : NULL, *mask = in->mask->data;
    int32_t *slot = pk ? in->slot->data : NULL;
    for (int64_t b = 0, j = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            const int64_t i = b * T + t;
            const bool real = !x->mask || x->mask[i];
            if (keep) keep[i] = real ? 1.0f : 0.0f;
            mask[i] = real ? 0.0f : -INFINITY;
            if (slot) slot[i] = real ? (int32_t)j++ : pk->offs[b]; /* padding: its sequence's first row */
        }
    if (pk) memcpy(in->first->data, pk->offs, (size_t)B * sizeof *pk->offs);
    int32_t *c2p = in->c2p_idx ? in->c2p_idx->data : NULL, *p2c = in->p2c_idx ? in->p2c_idx->data : NULL;
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < T; j++) {
            const int64_t r = rel_pos(e, i, j);
            if (c2p) c2p[i * T + j] = (int32_t)(clamp_span(r + e->span, e->span) - in->rlo); /* row i (query), column j (key) */
            if (p2c) p2c[i * T + j] = (int32_t)(clamp_span(-r + e->span, e->span) - in->rlo); /* row i (key), column j (query) */
        }
    for (int64_t j = 0; j < T; j++) { /* the first query's picks */
        if (in->c2p_idx0) ((int32_t *)in->c2p_idx0->data)[j] = c2p[j];
        if (in->p2c_idx0) ((int32_t *)in->p2c_idx0->data)[j] = p2c[j * T];
    }
}

/* Padding-free whenever every sequence has a token (blk_pack); token-level
 * outputs go back to [B, T, ..] with zeros at the padding. */
static senti_status deb_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const deb_model *e = m->impl;
    blk_packed pk;
    senti_status st = blk_pack(x->mask, x->B, x->T, &pk);
    if (st != SENTI_OK) return st;
    deb_inputs in = {.e = e, .x = x, .pk = pk.n ? &pk : NULL};
    in.first_only = in.pk && m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION && blk_first_only();
    senti_graph *g = graph_init();
    if (!g) {
        blk_packed_free(&pk);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory building the graph");
    }
    senti_tensor *y = deb_build(e, m->head, g, x->B, x->T, &in);
    st = blk_run_packed(m, g, y, deb_fill, &in, in.pk, x->B, x->T, out, shape, ndim);
    graph_free(g);
    blk_packed_free(&pk);
    return st;
}

const model_family model_family_deberta = {"deberta", deb_load, deb_forward, deb_free, NULL, false};
