/* encdec.c — the encoder-decoder family: the table entries T5 / mT5 / Flan-T5
 * (RMS norms without mean subtraction, relative position buckets shared per
 * stack, unscaled attention scores, ReLU or gated-GELU FFN, the tied head's
 * d_model^-0.5 rescale) and BART / mBART (learned positions offset by 2,
 * layernorm_embedding, post-norm (BART) or pre-norm with final norms
 * (mBART), GELU, final_logits_bias, the eos-pooled classification head), as
 * HF transformers computes them; the lm.h contract with lm_encode on top of
 * the graph executor.
 *
 * Runtime: the encoder runs once per input (its tokens packed with the
 * batch's for the linear layers, attention per input over exactly its own
 * tokens, so no padding enters any reduction); one fused matmul then gives
 * every decoder layer's cross-attention K | V of that output, kept per
 * source slot in the lm_cache (x[slot], rows of L * 2 * Hx floats) and
 * shared by reference with slots copied from it (beams). The decoder's
 * self-attention K/V live in the lm_cache rows as for decoder.c; a forward
 * writes its new rows (op_set_rows) before reading the cache.
 *
 * Invariants: every weight is checked for name, dtype and shape at load;
 * linear weights are held as [out, in] rows in m->opts.weight_type when
 * given, else f32 (f16 / bf16 checkpoints are converted once); norms,
 * biases, embeddings and position-bias tables are f32. A slot's output
 * depends only on its own tokens and its source's encoder input. */
#include <math.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"
#include "lm.h"

/* Hyperparameters of one stack. */
typedef struct ed_stack {
    const arch_desc *d; /* the stack's descriptor (names, keys) */
    int64_t layers, heads, head_dim, inter;
} ed_stack;

typedef struct ed_hparams {
    ed_stack enc, dec;
    int64_t vocab, hidden, max_pos;
    float eps;
    blk_act act;
    arch_mlp mlp;          /* plain, or gated (T5 v1.1 / Flan-T5: wi_0 | wi_1 fused) */
    bool pre_norm;         /* norms before each sublayer (T5, mBART), else after the residual (BART) */
    int64_t n_buckets, max_distance; /* T5 relative_attention_num_buckets / max_distance */
    float emb_scale;       /* BART scale_embedding: sqrt(d_model), else 1 */
    float out_scale;       /* T5 with tied embeddings: d_model^-0.5 before the LM head, else 1 */
    int64_t eos_id, start_id; /* eos_token_id, decoder_start_token_id */
} ed_hparams;

/* One block. Hx = heads * head_dim; checkpoint names in the descriptors. */
typedef struct ed_layer {
    model_w ln1_w, ln1_b; /* [H]  self-attention norm (T5 layer.0.layer_norm / BART self_attn_layer_norm) */
    model_w wqkv, bqkv;   /* [3Hx, H]  q | k | v fused */
    model_w wo, bo;       /* [H, Hx] */
    model_w lnx_w, lnx_b; /* [H]  cross-attention norm (decoder) */
    model_w wxq, bxq;     /* [Hx, H]  cross-attention queries (decoder; keys / values: ed_model.wxkv) */
    model_w wxo, bxo;     /* [H, Hx] */
    model_w ln2_w, ln2_b; /* [H]  FFN norm */
    model_w wup, bup;     /* [I, H] wi / fc1, or [2I, H] wi_0 | wi_1 */
    model_w wdown, bdown; /* [H, I] wo / fc2 */
} ed_layer;

typedef struct ed_model {
    ed_hparams hp;
    model_w tok_emb;                /* [V, H]  shared */
    model_w pos[2];                 /* [P + 2, H]  encoder / decoder embed_positions (BART) */
    model_w emb_ln_w[2], emb_ln_b[2]; /* [H]  layernorm_embedding (BART) */
    model_w rel[2];                 /* [buckets, heads]  relative_attention_bias of block 0 (T5) */
    model_w norm_w[2], norm_b[2];   /* [H]  final norms (T5, mBART) */
    model_w wxkv, bxkv;             /* [Ld * 2Hx, H]  every decoder layer's cross k | v, layer-major */
    model_w lm_head;                /* [V, H]  lm_head, or shared when absent */
    model_w lm_bias;                /* [1, V]  final_logits_bias (BART) */
    model_w cls_w, cls_b, out_w, out_b; /* classification_head.dense / out_proj (BART) */
    ed_layer *layer[2];             /* encoder, decoder */
} ed_model;

enum { ENC = 0, DEC = 1 };

/* ---- loading ------------------------------------------------------------------- */

static senti_status oom(const senti_model *m, const char *what) {
    return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory loading %s", m->dir, what);
}

/* An activation name as transformers' ACT2FN knows it. */
static senti_status parse_act_name(const char *path, const char *key, const char *s, blk_act *out) {
    if (!strcmp(s, "gelu") || !strcmp(s, "gelu_python")) *out = BLK_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) *out = BLK_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = BLK_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = BLK_SILU;
    else if (!strcmp(s, "tanh")) *out = BLK_TANH;
    else return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key '%s' names an unsupported activation '%s'", path, key, s);
    return SENTI_OK;
}

static senti_status read_stack(const senti_model *m, const arch_desc *d, const ed_stack *def, ed_stack *s) {
    const cfg_file *c = m->cfg;
    senti_status st;
    s->d = d;
    if ((st = arch_hp_int(d, c, AH_LAYERS, !def, def ? def->layers : 0, &s->layers)) ||
        (st = arch_hp_int(d, c, AH_HEADS, !def, def ? def->heads : 0, &s->heads)) ||
        (st = arch_hp_int(d, c, AH_INTER, !def, def ? def->inter : 0, &s->inter)))
        return st;
    /* cfg_opt_int treats null as absent: T5's num_decoder_layers may be null */
    int64_t hidden;
    if ((st = arch_hp_int(d, c, AH_HIDDEN, true, 0, &hidden))) return st;
    if (s->heads < 1 || s->heads > 4096 || s->layers < 1 || s->layers > 1024 || s->inter < 1 || s->inter > (1 << 22))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s', '%s' or '%s' is out of range", cfg_path(c),
                           arch_hp_key(d, AH_LAYERS), arch_hp_key(d, AH_HEADS), arch_hp_key(d, AH_INTER));
    s->head_dim = hidden % s->heads == 0 ? hidden / s->heads : 0;
    if (d->hp[AH_HEAD_DIM] && (st = cfg_opt_int(c, d->hp[AH_HEAD_DIM], s->head_dim, &s->head_dim))) return st;
    if (s->head_dim < 1 || s->head_dim > 4096)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: head dimension %lld (key '%s' or %s / heads) is out of range",
                           cfg_path(c), (long long)s->head_dim, arch_hp_key(d, AH_HEAD_DIM), arch_hp_key(d, AH_HIDDEN));
    return SENTI_OK;
}

static senti_status read_hparams(senti_model *m, ed_hparams *hp) {
    const cfg_file *c = m->cfg;
    const arch_desc *d = m->desc;
    const char *path = cfg_path(c);
    senti_status st;
    double eps;
    if ((st = arch_hp_int(d, c, AH_VOCAB, true, 0, &hp->vocab)) || (st = arch_hp_int(d, c, AH_HIDDEN, true, 0, &hp->hidden)))
        return st;
    if (hp->vocab < 1 || hp->vocab > INT32_MAX || hp->hidden < 1 || hp->hidden > (1 << 20))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' or '%s' is out of range", path, arch_hp_key(d, AH_VOCAB),
                           arch_hp_key(d, AH_HIDDEN));
    if ((st = read_stack(m, d, NULL, &hp->enc)) || (st = read_stack(m, d->decoder, &hp->enc, &hp->dec))) return st;
    if ((st = arch_hp_eps(d, c, &eps))) return st;
    hp->eps = (float)eps;
    hp->mlp = ARCH_MLP_PLAIN;
    if (d->pos == ARCH_POS_BUCKETS) { /* T5: feed_forward_proj "relu" / "gated-gelu" / "gated-ACT" */
        const char *ffp, *act_def;
        if ((st = cfg_opt_str(c, "feed_forward_proj", "relu", &ffp))) return st;
        const char *dash = strrchr(ffp, '-');
        act_def = !strcmp(ffp, "gated-gelu") ? "gelu_new" : dash ? dash + 1 : ffp;
        if (dash && strncmp(ffp, "gated-", 6) != 0)
            return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'feed_forward_proj' = '%s' is not supported", path, ffp);
        if (dash) hp->mlp = ARCH_MLP_GATED_FUSED;
        const char *act;
        if ((st = cfg_opt_str(c, arch_hp_key(d, AH_ACT), act_def, &act)) ||
            (st = parse_act_name(path, arch_hp_key(d, AH_ACT), act, &hp->act)))
            return st;
        if ((st = cfg_opt_int(c, "relative_attention_num_buckets", 32, &hp->n_buckets)) ||
            (st = cfg_opt_int(c, "relative_attention_max_distance", 128, &hp->max_distance)))
            return st;
        if (hp->n_buckets < 4 || hp->n_buckets > 4096 || hp->max_distance < hp->n_buckets / 4 + 1 ||
            hp->max_distance > (1 << 24))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'relative_attention_num_buckets' or "
                               "'relative_attention_max_distance' is out of range", path);
        /* relative positions: no table limits the length, but the position-bias mask [heads, T, T] of an
         * input is materialised, so inputs stop at 2048 tokens (T5's own n_positions is 512) */
        hp->max_pos = 2048;
    } else {
        if ((st = blk_parse_act(c, arch_hp_key(d, AH_ACT), d->act_default, &hp->act)) ||
            (st = arch_hp_int(d, c, AH_MAX_POS, true, 0, &hp->max_pos)))
            return st;
        if (hp->max_pos < 1 || hp->max_pos > (1 << 24))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'max_position_embeddings' is out of range", path);
    }
    hp->pre_norm = d->names[AR_ATTN_NORM].hf != NULL;
    bool scale_emb = false, tied = true;
    if ((st = cfg_opt_bool(c, "scale_embedding", false, &scale_emb)) ||
        (st = cfg_opt_bool(c, "tie_word_embeddings", true, &tied)))
        return st;
    /* transformers 5 writes the rescale as its own key (and tie_word_embeddings always true) */
    if ((st = cfg_opt_bool(c, "scale_decoder_outputs", tied, &tied))) return st;
    hp->emb_scale = scale_emb ? sqrtf((float)hp->hidden) : 1.0f;
    /* T5ForConditionalGeneration rescales unless the config says the embeddings are untied (v1.1) */
    hp->out_scale = d->pos == ARCH_POS_BUCKETS && tied ? (float)pow((double)hp->hidden, -0.5) : 1.0f;
    if ((st = cfg_opt_int(c, "eos_token_id", 1, &hp->eos_id)) ||
        (st = cfg_opt_int(c, "decoder_start_token_id", d->pad_default, &hp->start_id)))
        return st;
    return SENTI_OK;
}

/* Weight and optional bias of linear role r (layer l) of stack ld. */
static senti_status lin(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, int64_t out, int64_t in) {
    return blk_load_linear(ld, w, b, r, l, (ld->d->flags & ARCH_F_BIAS) != 0, out, in);
}

static senti_status norm_w(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, int64_t n) {
    return blk_load_norm(ld, w, b, r, l, ld->d->norm == ARCH_NORM_LAYER, n);
}

/* One block of stack s (cross-attention queries / output only in the decoder;
 * its keys / values are loaded into xk, xv for fusing across layers). */
static senti_status load_layer(const senti_model *m, const blk_loader *ld, const ed_hparams *hp, const ed_stack *s,
                               int64_t l, ed_layer *w, model_w *xk, model_w *xkb, model_w *xv, model_w *xvb) {
    const int64_t H = hp->hidden, Hx = s->heads * s->head_dim, I = s->inter;
    senti_status st;
    model_w q = {0}, qb = {0}, k = {0}, kb = {0}, v = {0}, vb = {0}, g = {0}, gb = {0}, u = {0}, ub = {0};
    BLK_TRY(norm_w(ld, &w->ln1_w, &w->ln1_b, hp->pre_norm ? AR_ATTN_NORM : AR_ATTN_POST_NORM, l, H));
    BLK_TRY(lin(ld, &q, &qb, AR_Q, l, Hx, H));
    BLK_TRY(lin(ld, &k, &kb, AR_K, l, Hx, H));
    BLK_TRY(lin(ld, &v, &vb, AR_V, l, Hx, H));
    {
        model_w *ws[3] = {&q, &k, &v}, *bs[3] = {&qb, &kb, &vb};
        BLK_TRY(blk_fuse_rows(m, ws, bs, 3, &w->wqkv, &w->bqkv));
    }
    BLK_TRY(lin(ld, &w->wo, &w->bo, AR_O, l, H, Hx));
    if (xk) {
        BLK_TRY(norm_w(ld, &w->lnx_w, &w->lnx_b, AR_XATTN_NORM, l, H));
        BLK_TRY(lin(ld, &w->wxq, &w->bxq, AR_XQ, l, Hx, H));
        BLK_TRY(lin(ld, xk, xkb, AR_XK, l, Hx, H));
        BLK_TRY(lin(ld, xv, xvb, AR_XV, l, Hx, H));
        BLK_TRY(lin(ld, &w->wxo, &w->bxo, AR_XO, l, H, Hx));
    }
    BLK_TRY(norm_w(ld, &w->ln2_w, &w->ln2_b, hp->pre_norm ? AR_FFN_NORM : AR_FFN_POST_NORM, l, H));
    if (hp->mlp == ARCH_MLP_GATED_FUSED) { /* [gate | up]: down(act(wi_0 x) * wi_1 x) */
        BLK_TRY(lin(ld, &g, &gb, AR_GATE, l, I, H));
        BLK_TRY(lin(ld, &u, &ub, AR_UP, l, I, H));
        model_w *ws[2] = {&g, &u}, *bs[2] = {&gb, &ub};
        BLK_TRY(blk_fuse_rows(m, ws, bs, 2, &w->wup, &w->bup));
    } else {
        BLK_TRY(lin(ld, &w->wup, &w->bup, ld->d->names[AR_FFN_IN].hf ? AR_FFN_IN : AR_UP, l, I, H));
    }
    BLK_TRY(lin(ld, &w->wdown, &w->bdown, AR_DOWN, l, H, I));
    return SENTI_OK;
fail:;
    model_w *tmp[] = {&q, &qb, &k, &kb, &v, &vb, &g, &gb, &u, &ub};
    for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) model_w_free(tmp[i]);
    return st;
}

static void ed_free(void *impl) {
    ed_model *e = impl;
    if (!e) return;
    model_w *top[] = {&e->tok_emb, &e->pos[0], &e->pos[1], &e->emb_ln_w[0], &e->emb_ln_w[1], &e->emb_ln_b[0],
                      &e->emb_ln_b[1], &e->rel[0], &e->rel[1], &e->norm_w[0], &e->norm_w[1], &e->norm_b[0],
                      &e->norm_b[1], &e->wxkv, &e->bxkv, &e->lm_head, &e->lm_bias, &e->cls_w, &e->cls_b, &e->out_w,
                      &e->out_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int s = 0; s < 2; s++) {
        const int64_t L = s == ENC ? e->hp.enc.layers : e->hp.dec.layers;
        for (int64_t l = 0; e->layer[s] && l < L; l++) {
            model_w *f = (model_w *)&e->layer[s][l];
            for (size_t i = 0; i < sizeof(ed_layer) / sizeof(model_w); i++) model_w_free(&f[i]);
        }
        senti_mfree(e->layer[s]);
    }
    senti_mfree(e);
}

/* The whole-stack tensors of stack s: positions, embedding norm, position
 * bias table, final norm. */
static senti_status load_stack_top(const blk_loader *ld, ed_model *e, int s) {
    const ed_hparams *hp = &e->hp;
    const ed_stack *st_hp = s == ENC ? &hp->enc : &hp->dec;
    const arch_desc *d = ld->d;
    senti_status st;
    if (d->names[AR_POS_EMB].hf)
        BLK_TRY(blk_load(ld, &e->pos[s], AR_POS_EMB, 0, ".weight", false, false, hp->max_pos + d->pos_offset,
                         hp->hidden));
    if (d->names[AR_EMB_NORM].hf) BLK_TRY(norm_w(ld, &e->emb_ln_w[s], &e->emb_ln_b[s], AR_EMB_NORM, 0, hp->hidden));
    if (d->pos == ARCH_POS_BUCKETS)
        BLK_TRY(blk_load(ld, &e->rel[s], AR_REL_EMB, 0, ".weight", false, false, hp->n_buckets, st_hp->heads));
    if (d->names[AR_OUT_NORM].hf) BLK_TRY(norm_w(ld, &e->norm_w[s], &e->norm_b[s], AR_OUT_NORM, 0, hp->hidden));
    return SENTI_OK;
fail:
    return st;
}

static senti_status ed_load(senti_model *m) {
    senti_status st;
    ed_model *e = senti_calloc(1, sizeof *e);
    model_w *xw = NULL; /* the decoder layers' cross k, v (and biases) before fusing */
    if (!e) return oom(m, "the model");
    m->impl = e;
    ed_hparams *hp = &e->hp;
    BLK_TRY(read_hparams(m, hp));
    const int64_t H = hp->hidden, V = hp->vocab, Ld = hp->dec.layers;
    blk_loader ld = blk_loader_init(m, false), ldd = ld;
    ldd.d = m->desc->decoder;
    BLK_TRY(blk_load(&ld, &e->tok_emb, AR_TOK_EMB, 0, ".weight", false, false, V, H));
    BLK_TRY(load_stack_top(&ld, e, ENC));
    const bool decoder = m->head != SENTI_HEAD_BASE;
    e->layer[ENC] = senti_calloc((size_t)hp->enc.layers, sizeof(ed_layer));
    e->layer[DEC] = decoder ? senti_calloc((size_t)Ld, sizeof(ed_layer)) : NULL;
    xw = decoder ? senti_calloc((size_t)(4 * Ld), sizeof *xw) : NULL;
    if (!e->layer[ENC] || (decoder && (!e->layer[DEC] || !xw))) {
        st = oom(m, "the layers");
        goto fail;
    }
    for (int64_t l = 0; l < hp->enc.layers; l++)
        BLK_TRY(load_layer(m, &ld, hp, &hp->enc, l, &e->layer[ENC][l], NULL, NULL, NULL, NULL));
    if (decoder) {
        BLK_TRY(load_stack_top(&ldd, e, DEC));
        for (int64_t l = 0; l < Ld; l++)
            BLK_TRY(load_layer(m, &ldd, hp, &hp->dec, l, &e->layer[DEC][l], &xw[4 * l], &xw[4 * l + 1],
                               &xw[4 * l + 2], &xw[4 * l + 3]));
        model_w **ws = senti_calloc((size_t)(4 * Ld), sizeof *ws), **bs = ws ? ws + 2 * Ld : NULL;
        if (!ws) {
            st = oom(m, "the cross-attention weights");
            goto fail;
        }
        for (int64_t l = 0; l < Ld; l++) { /* layer-major: k_l | v_l */
            ws[2 * l] = &xw[4 * l], bs[2 * l] = &xw[4 * l + 1];
            ws[2 * l + 1] = &xw[4 * l + 2], bs[2 * l + 1] = &xw[4 * l + 3];
        }
        st = blk_fuse_rows(m, ws, bs, (int)(2 * Ld), &e->wxkv, &e->bxkv);
        senti_mfree(ws);
        if (st != SENTI_OK) goto fail;
    }
    if (m->head == SENTI_HEAD_SEQ2SEQ_LM) {
        char name[160];
        if (arch_tensor_name(ldd.d, "", AR_LM_HEAD, 0, ".weight", name, sizeof name) && st_weights_find(m->w, name)) {
            BLK_TRY(blk_load(&ldd, &e->lm_head, AR_LM_HEAD, 0, ".weight", true, false, V, H));
        } else { /* tied: the shared embeddings */
            e->lm_head = e->tok_emb;
            e->lm_head.own = NULL;
        }
        if (ldd.d->names[AR_LM_BIAS].hf) BLK_TRY(blk_load(&ldd, &e->lm_bias, AR_LM_BIAS, 0, "", false, true, 1, V));
    } else if (m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
        BLK_TRY(cfg_labels(m->cfg, &m->labels, &m->n_labels_named));
        m->num_labels = m->n_labels_named;
        if (!m->num_labels) BLK_TRY(cfg_opt_int(m->cfg, "num_labels", 2, &m->num_labels));
        if (m->num_labels < 1 || m->num_labels > (1 << 20)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'num_labels' is out of range", cfg_path(m->cfg));
            goto fail;
        }
        if (!ldd.d->names[AR_SEQ_DENSE].hf) {
            st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: %s has no sequence-classification head", m->dir,
                             m->desc->name);
            goto fail;
        }
        BLK_TRY(blk_load_linear(&ldd, &e->cls_w, &e->cls_b, AR_SEQ_DENSE, 0, true, H, H));
        BLK_TRY(blk_load_linear(&ldd, &e->out_w, &e->out_b, AR_SEQ_OUT, 0, true, m->num_labels, H));
    }
    m->hidden = H, m->layers = hp->enc.layers, m->heads = hp->enc.heads, m->vocab = V;
    m->type_vocab = 0, m->max_pos = hp->max_pos;
    if (m->head != SENTI_HEAD_SEQUENCE_CLASSIFICATION) m->num_labels = 0;
    BLK_TRY(cfg_opt_int(m->cfg, "pad_token_id", m->desc->pad_default, &m->pad_id));
    st = SENTI_OK;
fail:
    for (int64_t i = 0; xw && i < 4 * Ld; i++) model_w_free(&xw[i]);
    senti_mfree(xw);
    return st;
}

/* ---- position bias (T5) ------------------------------------------------------------- */

/* transformers' T5Attention._relative_position_bucket, in its float32 maths.
 * rel = key position - query position. */
static int64_t t5_bucket(int64_t rel, bool bidirectional, int64_t n_buckets, int64_t max_distance) {
    int64_t ret = 0, n = n_buckets;
    if (bidirectional) {
        n /= 2;
        if (rel > 0) ret += n;
        rel = rel < 0 ? -rel : rel;
    } else {
        rel = rel < 0 ? -rel : 0;
    }
    const int64_t max_exact = n / 2;
    if (rel < max_exact) return ret + rel;
    const float f = logf((float)rel / (float)max_exact) / (float)log((double)max_distance / (double)max_exact) *
                    (float)(n - max_exact);
    int64_t large = max_exact + (int64_t)f;
    if (large > n - 1) large = n - 1;
    return ret + large;
}

/* The additive mask [nh, nq, nk] of queries at positions q0 + i over keys
 * 0..nk-1: T5's bias (table rel [buckets, nh]) when given, plus -inf past
 * the query when causal. */
static void fill_bias(float *p, const ed_hparams *hp, const model_w *rel, int64_t nh, int64_t nq, int64_t nk,
                      int64_t q0, bool causal) {
    const float *tab = rel && rel->data ? rel->data : NULL;
    for (int64_t h = 0; h < nh; h++)
        for (int64_t i = 0; i < nq; i++)
            for (int64_t j = 0; j < nk; j++) {
                const int64_t at = q0 + i;
                float v = 0.0f;
                if (tab) v = tab[t5_bucket(j - at, !causal, hp->n_buckets, hp->max_distance) * nh + h];
                if (causal && j > at) v = -INFINITY;
                *p++ = v;
            }
}

/* ---- graph pieces ------------------------------------------------------------------- */

#define W model_w_leaf

static senti_tensor *nrm(senti_graph *g, const ed_model *e, senti_tensor *x, const model_w *w, const model_w *b,
                         const arch_desc *d) {
    return blk_norm(g, d->norm, x, w, b, e->hp.eps);
}

/* A residual sublayer: pre-norm x + f(norm x), or post-norm norm(x + f(x)).
 * The caller computes f on the returned input and closes it with sub_close. */
static senti_tensor *sub_open(senti_graph *g, const ed_model *e, senti_tensor *x, const model_w *w, const model_w *b,
                              const arch_desc *d) {
    return e->hp.pre_norm ? nrm(g, e, x, w, b, d) : x;
}
static senti_tensor *sub_close(senti_graph *g, const ed_model *e, senti_tensor *x, senti_tensor *f, const model_w *w,
                               const model_w *b, const arch_desc *d) {
    return e->hp.pre_norm ? op_add(g, x, f) : nrm(g, e, op_add(g, x, f), w, b, d);
}

static float attn_scale(const ed_stack *s) {
    return s->d->flags & ARCH_F_NO_QK_SCALE ? 1.0f : 1.0f / sqrtf((float)s->head_dim);
}

/* Embeddings of packed ids [N] at positions pos [N] (already offset) -> [N, H]. */
static senti_tensor *embed(senti_graph *g, const ed_model *e, int s, senti_tensor *ids, senti_tensor *pos,
                           const arch_desc *d) {
    senti_tensor *x = op_get_rows(g, W(g, &e->tok_emb), ids);
    if (e->hp.emb_scale != 1.0f) x = op_scale(g, x, e->hp.emb_scale);
    if (e->pos[s].data) x = op_add(g, x, op_get_rows(g, W(g, &e->pos[s]), pos));
    if (e->emb_ln_w[s].data) x = nrm(g, e, x, &e->emb_ln_w[s], &e->emb_ln_b[s], d);
    return x;
}

static senti_tensor *ffn(senti_graph *g, const ed_model *e, const ed_layer *w, senti_tensor *x, const ed_stack *s) {
    senti_tensor *h = sub_open(g, e, x, &w->ln2_w, &w->ln2_b, s->d);
    senti_tensor *f = blk_mlp(g, e->hp.mlp, e->hp.act, h, s->inter, &w->wup, &w->bup, &w->wdown, &w->bdown);
    return sub_close(g, e, x, f, &w->ln2_w, &w->ln2_b, s->d);
}

/* A built graph with output y planned on m's executor (its inputs not yet written). */
static senti_status prepare(senti_model *m, senti_graph *g, senti_tensor *y) {
    if (!y || g->status != SENTI_OK)
        return senti_error(g->status != SENTI_OK ? g->status : SENTI_ERR_NO_MEMORY, "%s: building the graph: %s",
                           m->dir, g->err);
    graph_set_output(y);
    return exec_prepare(m->ex, g);
}

/* ---- the encoder ----------------------------------------------------------------------- */

typedef struct ed_enc_batch {
    int64_t n, N;
    const int64_t *len;
    int64_t *off;            /* [n + 1] */
    senti_tensor *ids, *pos; /* i32 [N] */
    senti_tensor **mask;     /* [n]: f32 [1, nh, T_i, T_i] position bias (T5), else NULL */
} ed_enc_batch;

/* Encoder over the packed inputs -> [N, H] (with_cross: [N, H + Ld * 2Hx],
 * the decoder layers' cross K | V appended to each row). */
static senti_tensor *enc_build(senti_graph *g, const ed_model *e, ed_enc_batch *b, bool with_cross) {
    const ed_stack *s = &e->hp.enc;
    const arch_desc *d = s->d;
    const int64_t N = b->N, nh = s->heads, D = s->head_dim, Hx = nh * D;
    b->ids = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    for (int64_t i = 0; i < b->n; i++)
        b->mask[i] = e->rel[ENC].data ? graph_new_tensor_4d(g, SENTI_TYPE_F32, 1, nh, b->len[i], b->len[i]) : NULL;
    senti_tensor *x = embed(g, e, ENC, b->ids, b->pos, d);
    const float scale = attn_scale(s);
    for (int64_t l = 0; l < s->layers; l++) {
        const ed_layer *w = &e->layer[ENC][l];
        senti_tensor *h = sub_open(g, e, x, &w->ln1_w, &w->ln1_b, d);
        senti_tensor *qkv = blk_linear(g, h, &w->wqkv, &w->bqkv), *a = NULL; /* [N, 3Hx] */
        for (int64_t i = 0; i < b->n; i++) { /* each input attends over exactly its own tokens */
            const int64_t T = b->len[i];
            senti_tensor *r = op_reshape_4d(g, op_slice(g, qkv, 0, b->off[i], b->off[i] + T), 1, T, 3 * nh, D);
            senti_tensor *o = op_attention(g, op_slice(g, r, 2, 0, nh), op_slice(g, r, 2, nh, 2 * nh),
                                           op_slice(g, r, 2, 2 * nh, 3 * nh), b->mask[i], scale, false);
            o = op_reshape_2d(g, o, T, Hx);
            a = a ? op_concat(g, a, o, 0) : o;
        }
        x = sub_close(g, e, x, blk_linear(g, a, &w->wo, &w->bo), &w->ln1_w, &w->ln1_b, d);
        x = ffn(g, e, w, x, s);
    }
    if (e->norm_w[ENC].data) x = nrm(g, e, x, &e->norm_w[ENC], &e->norm_b[ENC], d);
    if (with_cross) x = op_concat(g, x, blk_linear(g, x, &e->wxkv, &e->bxkv), 1);
    return x;
}

/* Run the encoder over n inputs ids[i][0..len[i]) -> *out (senti_malloc) of
 * [sum len, C] rows; C = H, or H + Ld * 2Hx with_cross. */
static senti_status ed_encode(senti_model *m, int64_t n, const int32_t *const *ids, const int64_t *len, bool with_cross,
                              float **out, int64_t *C) {
    const ed_model *e = m->impl;
    const ed_hparams *hp = &e->hp;
    ed_enc_batch b = {.n = n, .len = len};
    senti_graph *g = NULL;
    senti_status st;
    *out = NULL;
    b.off = senti_calloc((size_t)n + 1, sizeof *b.off);
    b.mask = senti_calloc((size_t)n, sizeof *b.mask);
    if (!b.off || !b.mask || !(g = graph_init())) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory encoding", m->dir);
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) b.off[i + 1] = b.off[i] + len[i];
    b.N = b.off[n];
    senti_tensor *y = enc_build(g, e, &b, with_cross);
    BLK_TRY(prepare(m, g, y));
    int32_t *pid = b.ids->data, *ppos = b.pos->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < len[i]; t++) {
            pid[b.off[i] + t] = ids[i][t];
            ppos[b.off[i] + t] = (int32_t)(t + m->desc->pos_offset);
        }
    for (int64_t i = 0; i < n; i++)
        if (b.mask[i]) fill_bias(b.mask[i]->data, hp, &e->rel[ENC], hp->enc.heads, len[i], len[i], 0, false);
    BLK_TRY(exec_compute(m->ex, g));
    *C = y->ne[3];
    const size_t bytes = (size_t)(b.N * *C) * sizeof(float);
    if (!(*out = senti_malloc(bytes + 1))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory for the encoder output", m->dir);
        goto fail;
    }
    memcpy(*out, y->data, bytes);
    st = SENTI_OK;
fail:
    graph_free(g);
    senti_mfree(b.off);
    senti_mfree(b.mask);
    return st;
}

/* ---- the decoder --------------------------------------------------------------------------- */

/* Self-attention groups: consecutive entries of consecutive slots with the
 * same cache length and token count attend in one op; cross-attention
 * groups: consecutive entries bound to the same source. */
typedef struct ed_group {
    int64_t first, nb, s0, n, row0, len, rows; /* self: n tokens per slot; cross: rows in all */
    senti_tensor *mask;                        /* self: f32 [1, nh, n, len + n] bias + causal (T5), else NULL */
    senti_tensor *kv;                          /* cross: the source's rows [1, T, Ld * 2nh, D] */
} ed_group;

typedef struct ed_dec_batch {
    int64_t N, n_out;
    ed_group *self, *cross;
    int64_t n_self, n_cross;
    senti_tensor *ids, *pos, *rows, *out_rows; /* i32 [N], [N], [N], [n_out] */
} ed_dec_batch;

typedef enum ed_out { ED_OUT_LOGITS, ED_OUT_CLASSES } ed_out;

static senti_tensor *dec_build(senti_graph *g, const ed_model *e, const lm_cache *c, ed_dec_batch *b, ed_out what) {
    const ed_hparams *hp = &e->hp;
    const ed_stack *s = &hp->dec;
    const arch_desc *d = s->d;
    const int64_t N = b->N, nh = s->heads, D = s->head_dim, Hx = nh * D, Ld = s->layers;
    b->ids = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->rows = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->out_rows = graph_new_tensor_1d(g, SENTI_TYPE_I32, b->n_out);
    for (int64_t i = 0; i < b->n_self; i++) {
        ed_group *gr = &b->self[i];
        gr->mask = e->rel[DEC].data ? graph_new_tensor_4d(g, SENTI_TYPE_F32, 1, nh, gr->n, gr->len + gr->n) : NULL;
    }
    for (int64_t i = 0; i < b->n_cross; i++) {
        ed_group *gr = &b->cross[i];
        gr->kv = graph_new_tensor_4d(g, SENTI_TYPE_F32, 1, gr->len, Ld * 2 * nh, D);
        if (!gr->kv) return NULL;
        gr->kv->data = c->x[gr->s0];
        gr->kv->flags = SENTI_TFLAG_WEIGHT | SENTI_TFLAG_CONST;
    }
    senti_tensor *x = embed(g, e, DEC, b->ids, b->pos, d);
    const float scale = attn_scale(s);
    for (int64_t l = 0; l < Ld; l++) {
        const ed_layer *w = &e->layer[DEC][l];
        /* self-attention over the cache */
        senti_tensor *h = sub_open(g, e, x, &w->ln1_w, &w->ln1_b, d);
        senti_tensor *qkv = blk_linear(g, h, &w->wqkv, &w->bqkv); /* [N, 3Hx] */
        senti_tensor *kc = graph_new_tensor_2d(g, SENTI_TYPE_F32, c->n_slot * c->n_ctx, Hx);
        senti_tensor *vc = graph_new_tensor_2d(g, SENTI_TYPE_F32, c->n_slot * c->n_ctx, Hx);
        if (!kc || !vc) return NULL;
        kc->data = c->k[l], vc->data = c->v[l];
        kc->flags = vc->flags = SENTI_TFLAG_WEIGHT;
        kc = op_reshape_4d(g, op_set_rows(g, kc, op_slice(g, qkv, 1, Hx, 2 * Hx), b->rows), c->n_slot, c->n_ctx, nh, D);
        vc = op_reshape_4d(g, op_set_rows(g, vc, op_slice(g, qkv, 1, 2 * Hx, 3 * Hx), b->rows), c->n_slot, c->n_ctx,
                           nh, D);
        senti_tensor *a = NULL;
        for (int64_t i = 0; i < b->n_self; i++) {
            const ed_group *gr = &b->self[i];
            const int64_t tk = gr->len + gr->n;
            senti_tensor *qg = op_reshape_4d(g, op_slice(g, qkv, 0, gr->row0, gr->row0 + gr->nb * gr->n), gr->nb,
                                             gr->n, 3 * nh, D);
            qg = op_slice(g, qg, 2, 0, nh);
            senti_tensor *kg = op_slice(g, op_slice(g, kc, 0, gr->s0, gr->s0 + gr->nb), 1, 0, tk);
            senti_tensor *vg = op_slice(g, op_slice(g, vc, 0, gr->s0, gr->s0 + gr->nb), 1, 0, tk);
            senti_tensor *o = op_attention(g, qg, kg, vg, gr->mask, scale, true); /* [nb, n, nh, D] */
            o = op_reshape_2d(g, o, gr->nb * gr->n, Hx);
            a = a ? op_concat(g, a, o, 0) : o;
        }
        x = sub_close(g, e, x, blk_linear(g, a, &w->wo, &w->bo), &w->ln1_w, &w->ln1_b, d);
        /* cross-attention over the source's encoder output */
        h = sub_open(g, e, x, &w->lnx_w, &w->lnx_b, d);
        senti_tensor *q = blk_linear(g, h, &w->wxq, &w->bxq); /* [N, Hx] */
        a = NULL;
        for (int64_t i = 0; i < b->n_cross; i++) {
            const ed_group *gr = &b->cross[i];
            senti_tensor *qg = op_reshape_4d(g, op_slice(g, q, 0, gr->row0, gr->row0 + gr->rows), 1, gr->rows, nh, D);
            senti_tensor *kg = op_slice(g, gr->kv, 2, 2 * nh * l, 2 * nh * l + nh);
            senti_tensor *vg = op_slice(g, gr->kv, 2, 2 * nh * l + nh, 2 * nh * (l + 1));
            senti_tensor *o = op_reshape_2d(g, op_attention(g, qg, kg, vg, NULL, scale, false), gr->rows, Hx);
            a = a ? op_concat(g, a, o, 0) : o;
        }
        x = sub_close(g, e, x, blk_linear(g, a, &w->wxo, &w->bxo), &w->lnx_w, &w->lnx_b, d);
        x = ffn(g, e, w, x, s);
    }
    if (b->n_out < N) x = op_get_rows(g, x, b->out_rows);
    if (e->norm_w[DEC].data) x = nrm(g, e, x, &e->norm_w[DEC], &e->norm_b[DEC], d);
    if (what == ED_OUT_CLASSES) { /* BART classification head: dense -> tanh -> out_proj */
        x = op_tanh(g, blk_linear(g, x, &e->cls_w, &e->cls_b));
        return blk_linear(g, x, &e->out_w, &e->out_b);
    }
    if (hp->out_scale != 1.0f) x = op_scale(g, x, hp->out_scale);
    x = op_matmul(g, x, W(g, &e->lm_head), false, true); /* [n_out, V] */
    if (e->lm_bias.data) x = op_add(g, x, W(g, &e->lm_bias));
    return x;
}

/* Check lm_forward's arguments for an encoder-decoder cache (beyond
 * decoder.c's common checks): every entry with tokens has a source. */
static senti_status check_sources(const lm_cache *c, int64_t n, const int64_t *slot, const int64_t *n_tok) {
    for (int64_t i = 0; i < n; i++)
        if (n_tok[i] > 0 && c->xsrc[slot[i]] < 0)
            return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: slot %lld has no encoded input (lm_encode first)",
                               (long long)slot[i]);
    return SENTI_OK;
}

/* Decode n entries; rows of out = the packed rows orow[0..n_out). */
static senti_status ed_decode(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot, const int32_t *const *tokens,
                              const int64_t *n_tok, const int32_t *orow, int64_t n_out, ed_out what, float *out) {
    const ed_model *e = m->impl;
    const ed_hparams *hp = &e->hp;
    senti_status st = check_sources(c, n, slot, n_tok);
    if (st != SENTI_OK) return st;
    ed_dec_batch b = {0};
    for (int64_t i = 0; i < n; i++) b.N += n_tok[i];
    if (b.N == 0 || n_out == 0) return SENTI_OK;
    if (b.N > INT32_MAX) return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: %lld tokens in one batch", (long long)b.N);
    b.n_out = n_out;
    senti_graph *g = NULL;
    b.self = senti_calloc((size_t)n, sizeof *b.self);
    b.cross = senti_calloc((size_t)n, sizeof *b.cross);
    if (!b.self || !b.cross || !(g = graph_init())) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "lm_forward: out of memory");
        goto fail;
    }
    for (int64_t i = 0, row = 0; i < n; row += n_tok[i], i++) {
        if (n_tok[i] == 0) continue;
        ed_group *gs = b.n_self ? &b.self[b.n_self - 1] : NULL, *gx = b.n_cross ? &b.cross[b.n_cross - 1] : NULL;
        const int64_t len = c->len[slot[i]], src = c->xsrc[slot[i]];
        if (gs && gs->n == n_tok[i] && gs->len == len && gs->first + gs->nb == i && gs->s0 + gs->nb == slot[i]) gs->nb++;
        else b.self[b.n_self++] = (ed_group){.first = i, .nb = 1, .s0 = slot[i], .n = n_tok[i], .row0 = row, .len = len};
        if (gx && gx->s0 == src && gx->row0 + gx->rows == row) gx->rows += n_tok[i];
        else b.cross[b.n_cross++] = (ed_group){.first = i, .s0 = src, .row0 = row, .rows = n_tok[i], .len = c->xlen[src]};
    }
    senti_tensor *y = dec_build(g, e, c, &b, what);
    BLK_TRY(prepare(m, g, y));
    int32_t *ids = b.ids->data, *pos = b.pos->data, *rows = b.rows->data;
    for (int64_t i = 0, r = 0; i < n; i++) {
        const int64_t len = c->len[slot[i]];
        for (int64_t t = 0; t < n_tok[i]; t++, r++) {
            ids[r] = tokens[i][t];
            pos[r] = (int32_t)(len + t + hp->dec.d->pos_offset);
            rows[r] = (int32_t)(slot[i] * c->n_ctx + len + t);
        }
    }
    memcpy(b.out_rows->data, orow, (size_t)n_out * sizeof *orow);
    for (int64_t i = 0; i < b.n_self; i++)
        if (b.self[i].mask)
            fill_bias(b.self[i].mask->data, hp, &e->rel[DEC], hp->dec.heads, b.self[i].n, b.self[i].len + b.self[i].n,
                      b.self[i].len, true);
    BLK_TRY(exec_compute(m->ex, g));
    for (int64_t i = 0; i < n; i++) c->len[slot[i]] += n_tok[i];
    if (out) memcpy(out, y->data, (size_t)senti_nelements(y) * sizeof(float));
    st = SENTI_OK;
fail:
    graph_free(g);
    senti_mfree(b.self);
    senti_mfree(b.cross);
    return st;
}

/* ---- lm.h for encoder-decoders ------------------------------------------------------------ */

bool lm_is_encdec(const senti_model *m) { return m && m->desc && m->desc->family == &model_family_encdec; }

void encdec_cache_dims(const senti_model *m, int64_t *layers, int64_t *row) {
    const ed_model *e = m->impl;
    *layers = e->hp.dec.layers;
    *row = e->hp.dec.heads * e->hp.dec.head_dim;
}

senti_status encdec_lm_forward(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot,
                               const int32_t *const *tokens, const int64_t *n_tok, bool all_logits, float *logits) {
    if (m->head != SENTI_HEAD_SEQ2SEQ_LM)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: %s has no language-model head", m->dir, m->arch_name);
    int64_t N = 0, n_out = 0;
    for (int64_t i = 0; i < n; i++) N += n_tok[i], n_out += all_logits ? n_tok[i] : n_tok[i] > 0;
    int32_t *orow = senti_malloc((size_t)(n_out ? n_out : 1) * sizeof *orow);
    float *y = !logits || !all_logits ? senti_malloc((size_t)(n_out * m->vocab) * sizeof *y + 1) : NULL;
    senti_status st;
    if (!orow || ((!logits || !all_logits) && !y)) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "lm_forward: out of memory");
        goto done;
    }
    for (int64_t i = 0, r = 0, o = 0; i < n; i++) {
        if (all_logits)
            for (int64_t t = 0; t < n_tok[i]; t++) orow[o++] = (int32_t)(r + t);
        else if (n_tok[i] > 0)
            orow[o++] = (int32_t)(r + n_tok[i] - 1);
        r += n_tok[i];
    }
    (void)N;
    st = ed_decode(m, c, n, slot, tokens, n_tok, orow, n_out, ED_OUT_LOGITS, logits && all_logits ? logits : y);
    if (st == SENTI_OK && logits && !all_logits)
        for (int64_t i = 0, o = 0; i < n; i++)
            if (n_tok[i] > 0) memcpy(logits + i * m->vocab, y + (o++) * m->vocab, (size_t)m->vocab * sizeof *y);
done:
    senti_mfree(orow);
    senti_mfree(y);
    return st;
}

senti_status lm_encode(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot, const int32_t *const *ids,
                       const int64_t *len, float *hidden) {
    if (!lm_is_encdec(m) || !c || c->m != m || n < 0 || (n > 0 && (!slot || !ids || !len)))
        return senti_error(SENTI_ERR_INVALID_ARG, "lm_encode: bad arguments (an encoder-decoder, a cache of it)");
    if (m->head == SENTI_HEAD_BASE)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: %s has no decoder", m->dir, m->arch_name);
    for (int64_t i = 0; i < n; i++) {
        if (slot[i] < 0 || slot[i] >= c->n_slot)
            return senti_error(SENTI_ERR_INVALID_ARG, "lm_encode: slot %lld outside [0, %lld)", (long long)slot[i],
                               (long long)c->n_slot);
        for (int64_t j = 0; j < i; j++)
            if (slot[j] == slot[i])
                return senti_error(SENTI_ERR_INVALID_ARG, "lm_encode: slot %lld given twice", (long long)slot[i]);
        if (len[i] < 1 || len[i] > m->max_pos || !ids[i])
            return senti_error(SENTI_ERR_INVALID_ARG, "lm_encode: input %lld has %lld tokens (the model takes 1..%lld)",
                               (long long)i, (long long)len[i], (long long)m->max_pos);
        for (int64_t t = 0; t < len[i]; t++)
            if (ids[i][t] < 0 || ids[i][t] >= m->vocab)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "lm_encode: token id %d at position %lld of input %lld is outside the vocabulary "
                                   "[0, %lld)", ids[i][t], (long long)t, (long long)i, (long long)m->vocab);
    }
    if (n == 0) return SENTI_OK;
    float *y = NULL;
    int64_t C = 0;
    senti_status st = ed_encode(m, n, ids, len, true, &y, &C);
    if (st != SENTI_OK) return st;
    const int64_t H = m->hidden, X = C - H;
    for (int64_t i = 0, r = 0; i < n; r += len[i], i++) {
        const int64_t s = slot[i];
        float *p = senti_malloc((size_t)(len[i] * X) * sizeof *p + 1);
        if (!p) {
            st = senti_error(SENTI_ERR_NO_MEMORY, "lm_encode: out of memory for the cross-attention keys");
            break;
        }
        senti_mfree(c->x[s]);
        c->x[s] = p;
        for (int64_t t = 0; t < len[i]; t++) {
            memcpy(p + t * X, y + (r + t) * C + H, (size_t)X * sizeof *p);
            if (hidden) memcpy(hidden + (r + t) * H, y + (r + t) * C, (size_t)H * sizeof *p);
        }
        for (int64_t k = 0; k < c->n_slot; k++) /* slots copied from s no longer see its old input */
            if (c->xsrc[k] == s && k != s) c->xsrc[k] = -1;
        c->xsrc[s] = s;
        c->xlen[s] = len[i];
        c->len[s] = 0;
    }
    senti_mfree(y);
    return st;
}

/* ---- senti_model_forward ------------------------------------------------------------------------ */

/* Base / seq2seq heads: the encoder's last hidden state [B, T, H] (zeros at
 * padding); the classification head: BartForSequenceClassification's logits
 * [B, L] — the decoder runs on the input shifted right (decoder start
 * first), and the hidden state at each row's last eos feeds the head. */
static senti_status ed_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const ed_model *e = m->impl;
    const int64_t B = x->B, T = x->T, H = m->hidden;
    blk_packed p = {0};
    senti_status st = blk_pack(x->mask, B, T, &p);
    int32_t **rows = senti_calloc((size_t)B, sizeof *rows), *orow = NULL;
    int64_t *len = senti_calloc((size_t)B, sizeof *len), *slot = NULL;
    float *y = NULL;
    lm_cache *c = NULL;
    *out = NULL;
    if (st != SENTI_OK) goto fail;
    if (!rows || !len) goto oom;
    if (p.n == 0) {
        st = senti_error(SENTI_ERR_INVALID_ARG, "%s: a row of the batch has no token", m->dir);
        goto fail;
    }
    for (int64_t b = 0; b < B; b++) { /* each row's real tokens, in order */
        len[b] = p.offs[b + 1] - p.offs[b];
        if (!(rows[b] = senti_malloc((size_t)len[b] * sizeof **rows))) goto oom;
        for (int64_t t = 0; t < len[b]; t++) rows[b][t] = x->ids[p.keep[p.offs[b] + t]];
    }
    if (m->head != SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
        int64_t C;
        BLK_TRY(ed_encode(m, B, (const int32_t *const *)rows, len, false, &y, &C));
        if (!(*out = senti_malloc((size_t)(B * T * H) * sizeof **out + 1))) goto oom;
        blk_unpack_rows(&p, y, B, T, H, *out);
        *ndim = 3, shape[0] = B, shape[1] = T, shape[2] = H;
        st = SENTI_OK;
        goto fail;
    }
    /* classification: decoder input [start, ids[0..len-2]], pooled at the last eos */
    if (!(slot = senti_calloc((size_t)B, sizeof *slot)) || !(orow = senti_calloc((size_t)B, sizeof *orow))) goto oom;
    if (!(c = lm_cache_new(m, B, T))) {
        st = SENTI_ERR_NO_MEMORY;
        goto fail;
    }
    int32_t **dec = senti_calloc((size_t)B, sizeof *dec);
    if (!dec) goto oom;
    for (int64_t b = 0, r = 0; b < B && st == SENTI_OK; r += len[b], b++) {
        slot[b] = b;
        int64_t at = -1;
        for (int64_t t = 0; t < len[b]; t++)
            if (rows[b][t] == e->hp.eos_id) at = t;
        if (at < 0) st = senti_error(SENTI_ERR_INVALID_ARG, "%s: row %lld has no eos token (id %lld) to pool", m->dir,
                                     (long long)b, (long long)e->hp.eos_id);
        if (!(dec[b] = senti_malloc((size_t)len[b] * sizeof **dec))) st = SENTI_ERR_NO_MEMORY;
        if (st != SENTI_OK) break;
        dec[b][0] = (int32_t)e->hp.start_id;
        memcpy(dec[b] + 1, rows[b], (size_t)(len[b] - 1) * sizeof **dec);
        orow[b] = (int32_t)(r + at);
    }
    if (st == SENTI_OK) st = lm_encode(m, c, B, slot, (const int32_t *const *)rows, len, NULL);
    if (st == SENTI_OK && !(*out = senti_malloc((size_t)(B * m->num_labels) * sizeof **out + 1)))
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    if (st == SENTI_OK)
        st = ed_decode(m, c, B, slot, (const int32_t *const *)dec, len, orow, B, ED_OUT_CLASSES, *out);
    for (int64_t b = 0; b < B; b++) senti_mfree(dec[b]);
    senti_mfree(dec);
    *ndim = 2, shape[0] = B, shape[1] = m->num_labels;
    goto fail;
oom:
    st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", m->dir);
fail:
    if (st != SENTI_OK) {
        senti_mfree(*out);
        *out = NULL;
    }
    for (int64_t b = 0; rows && b < B; b++) senti_mfree(rows[b]);
    senti_mfree(rows);
    senti_mfree(len);
    senti_mfree(slot);
    senti_mfree(orow);
    senti_mfree(y);
    lm_cache_free(c);
    blk_packed_free(&p);
    return st;
}

const model_family model_family_encdec = {"encdec", ed_load, ed_forward, ed_free, NULL, false};
