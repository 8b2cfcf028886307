/* bert.c — the BERT family of post-LayerNorm encoders (BERT, RoBERTa / XLM-R /
 * CamemBERT, DistilBERT: the table entries of this family) with their base,
 * sequence-classification, token-classification and masked-LM heads, as HF
 * transformers computes them.
 *
 * Invariants: every weight is checked for name, dtype and shape at load and
 * held as f32 (in place when stored as aligned f32), except the 2-D linear
 * weights of the layers and the heads' dense layers: those run in the load
 * option's weight type when one is given, else stay in place when stored
 * block-quantized, else f32 (blocks.c). A forward builds one graph for the
 * batch shape and runs it on the model's executor. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"

/* One layer (names in the table; H = hidden, I = inter). */
typedef struct bert_layer {
    model_w wq, bq, wk, bk, wv, bv; /* [H, H], [H]: read, then fused into wqkv and emptied */
    model_w wqkv, bqkv;             /* [3H, H], [3H]: q | k | v */
    model_w wo, bo;                 /* [H, H], [H] */
    model_w ln1_w, ln1_b;           /* [H] after attention */
    model_w w1, b1;                 /* [I, H], [I] */
    model_w w2, b2;                 /* [H, I], [H] */
    model_w ln2_w, ln2_b;           /* [H] after the FFN */
} bert_layer;

typedef struct bert_model {
    blk_enc_hp hp;
    const arch_desc *d;
    model_w tok_emb;          /* [V, H] */
    model_w pos_emb;          /* [P, H] */
    model_w type_emb;         /* [TV, H] (not DistilBERT) */
    model_w emb_ln_w, emb_ln_b;
    bert_layer *layer;        /* [layers] */
    model_w head_w, head_b;   /* sequence head dense / MLM transform dense [H, H] */
    model_w head_ln_w, head_ln_b; /* MLM transform norm [H] */
    model_w out_w, out_b;     /* classifier [L, H] / MLM decoder [V, H] (tied: tok_emb) + bias */
} bert_model;

static void bert_free(void *impl) {
    bert_model *e = impl;
    if (!e) return;
    model_w *top[] = {&e->tok_emb, &e->pos_emb, &e->type_emb, &e->emb_ln_w,  &e->emb_ln_b, &e->head_w,
                      &e->head_b,  &e->head_ln_w, &e->head_ln_b, &e->out_w, &e->out_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int64_t l = 0; e->layer && l < e->hp.layers; l++) {
        model_w *f = (model_w *)&e->layer[l];
        for (size_t i = 0; i < sizeof(bert_layer) / sizeof(model_w); i++) model_w_free(&f[i]);
    }
    senti_mfree(e->layer);
    senti_mfree(e);
}

/* The head's weights: sequence (dense + act + out), token (out), masked LM
 * (dense + act + norm + vocabulary projection, tied to the embeddings when
 * the checkpoint has none of its own). */
static senti_status load_head(const blk_loader *ld, bert_model *e, senti_model_head head) {
    const arch_desc *d = ld->d;
    const int64_t H = e->hp.hidden, L = e->hp.num_labels, V = e->hp.vocab;
    senti_status st = SENTI_OK;
    switch (head) {
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: break;
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: {
        const arch_role dense = d->names[AR_SEQ_DENSE].hf ? AR_SEQ_DENSE : AR_POOLER;
        BLK_TRY(blk_load_linear(ld, &e->head_w, &e->head_b, dense, 0, true, H, H));
        BLK_TRY(blk_load(ld, &e->out_w, AR_SEQ_OUT, 0, ".weight", false, false, L, H));
        BLK_TRY(blk_load(ld, &e->out_b, AR_SEQ_OUT, 0, ".bias", false, false, L, 0));
        break;
    }
    case SENTI_HEAD_TOKEN_CLASSIFICATION:
        BLK_TRY(blk_load(ld, &e->out_w, AR_TOK_OUT, 0, ".weight", false, false, L, H));
        BLK_TRY(blk_load(ld, &e->out_b, AR_TOK_OUT, 0, ".bias", false, false, L, 0));
        break;
    case SENTI_HEAD_MASKED_LM:
        BLK_TRY(blk_load_linear(ld, &e->head_w, &e->head_b, AR_MLM_DENSE, 0, true, H, H));
        BLK_TRY(blk_load_norm(ld, &e->head_ln_w, &e->head_ln_b, AR_MLM_NORM, 0, true, H));
        BLK_TRY(blk_load(ld, &e->out_w, AR_MLM_DECODER, 0, ".weight", false, true, V, H));
        if (!e->out_w.data) e->out_w = (model_w){e->tok_emb.data, NULL, SENTI_TYPE_F32, 2, {V, H}}; /* tied */
        BLK_TRY(blk_load(ld, &e->out_b, d->names[AR_MLM_BIAS].hf ? AR_MLM_BIAS : AR_MLM_DECODER, 0, ".bias", false,
                         false, V, 0));
        break;
    }
fail:
    return st;
}

static senti_status bert_load(senti_model *m) {
    senti_status st;
    bert_model *e = senti_calloc(1, sizeof *e);
    if (!e) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
    m->impl = e;
    const arch_desc *d = e->d = m->desc;
    BLK_TRY(cfg_labels(m->cfg, &m->labels, &m->n_labels_named));
    blk_enc_hp *hp = &e->hp;
    BLK_TRY(blk_enc_read_hp(m, hp));
    const char *pet;
    BLK_TRY(cfg_opt_str(m->cfg, "position_embedding_type", "absolute", &pet));
    if (strcmp(pet, "absolute") != 0)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'position_embedding_type' = '%s' is not supported "
                           "(only absolute)", cfg_path(m->cfg), pet);
    if (d->pos == ARCH_POS_PAD_OFFSET && (hp->pad_id < 0 || hp->pad_id + 2 > hp->max_pos))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'pad_token_id' = %lld leaves no positions", cfg_path(m->cfg),
                           (long long)hp->pad_id);
    const int64_t H = hp->hidden, I = hp->inter;
    const blk_loader ld = blk_loader_init(m, false);

    BLK_TRY(blk_load(&ld, &e->tok_emb, AR_TOK_EMB, 0, ".weight", false, false, hp->vocab, H));
    BLK_TRY(blk_load(&ld, &e->pos_emb, AR_POS_EMB, 0, ".weight", false, false, hp->max_pos, H));
    if (hp->type_vocab) BLK_TRY(blk_load(&ld, &e->type_emb, AR_TYPE_EMB, 0, ".weight", false, false, hp->type_vocab, H));
    else BLK_TRY(blk_absent(&ld, AR_TYPE_EMB, ".weight", "type_vocab_size"));
    BLK_TRY(blk_load_norm(&ld, &e->emb_ln_w, &e->emb_ln_b, AR_EMB_NORM, 0, true, H));
    if (!(e->layer = senti_calloc((size_t)hp->layers, sizeof *e->layer))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
        goto fail;
    }
    for (int64_t l = 0; l < hp->layers; l++) {
        bert_layer *w = &e->layer[l];
        BLK_TRY(blk_load_linear(&ld, &w->wq, &w->bq, AR_Q, l, true, H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wk, &w->bk, AR_K, l, true, H, H));
        BLK_TRY(blk_load_linear(&ld, &w->wv, &w->bv, AR_V, l, true, H, H));
        BLK_TRY(blk_fuse_rows(m, (model_w *const[]){&w->wq, &w->wk, &w->wv}, (model_w *const[]){&w->bq, &w->bk, &w->bv},
                              3, &w->wqkv, &w->bqkv));
        BLK_TRY(blk_load_linear(&ld, &w->wo, &w->bo, AR_O, l, true, H, H));
        BLK_TRY(blk_load_norm(&ld, &w->ln1_w, &w->ln1_b, AR_ATTN_POST_NORM, l, true, H));
        BLK_TRY(blk_load_linear(&ld, &w->w1, &w->b1, AR_UP, l, true, I, H));
        BLK_TRY(blk_load_linear(&ld, &w->w2, &w->b2, AR_DOWN, l, true, H, I));
        BLK_TRY(blk_load_norm(&ld, &w->ln2_w, &w->ln2_b, AR_FFN_POST_NORM, l, true, H));
    }
    BLK_TRY(load_head(&ld, e, m->head));
    /* RoBERTa positions run from padding_idx + 1 */
    blk_enc_set_model(m, hp, d->pos == ARCH_POS_PAD_OFFSET ? hp->max_pos - hp->pad_id - 1 : hp->max_pos);
    return SENTI_OK;
fail:
    return st;
}

/* ---- graph ------------------------------------------------------------------------------ */

typedef struct bert_inputs {
    const bert_model *e;
    const model_input *x;
    const blk_packed *pk;            /* padding-free: the real tokens; NULL: padded */
    senti_tensor *ids, *types, *pos; /* i32 [B, T] / packed [1, N] */
    senti_tensor *mask;              /* f32 [B, 1, 1, T] additive (padded) */
    senti_tensor *offs, *first;      /* i32 [B + 1] sequence starts, [B, 1] their first tokens (packed) */
    senti_tensor *scale;             /* f32 [B, T, 1] word-embedding scale (x->emb_scale), or NULL */
    senti_tensor **probs;            /* [layers]: attention probabilities [B, nh, T, T] (x->attn), or NULL */
    senti_tensor *hidden;            /* the last hidden state [R, C, H] */
    bool first_only;                 /* packed sequence head alone: the last layer for the first tokens only */
} bert_inputs;

#define W model_w_leaf

/* The whole forward for a [B, T] batch, or for its N real tokens packed
 * ([1, N], in->pk) where only attention sees the sequence bounds; returns
 * the head's output ([B, 1, L] for the sequence head either way). */
static senti_tensor *bert_build(const bert_model *e, senti_model_head head, senti_graph *g, int64_t B, int64_t T,
                                bert_inputs *in) {
    const blk_enc_hp *hp = &e->hp;
    const int64_t NH = hp->heads, D = hp->hidden / NH;
    const int64_t R = in->pk ? 1 : B, C = in->pk ? in->pk->n : T; /* the token grid */
    in->ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C);
    in->pos = graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C);
    in->types = hp->type_vocab ? graph_new_tensor_2d(g, SENTI_TYPE_I32, R, C) : NULL;
    if (in->pk) {
        in->offs = graph_new_tensor(g, SENTI_TYPE_I32, 1, (int64_t[]){B + 1});
        in->first = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, 1);
    } else {
        in->mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
    }

    /* embeddings: LN(word[ids] (* scale) + pos[pos] (+ type[types])) -> [R, C, H] */
    senti_tensor *word = op_get_rows(g, W(g, &e->tok_emb), in->ids);
    if (in->x->emb_scale) word = op_mul(g, word, in->scale = graph_new_tensor_3d(g, SENTI_TYPE_F32, B, T, 1));
    senti_tensor *x = op_add(g, word, op_get_rows(g, W(g, &e->pos_emb), in->pos));
    if (in->types) x = op_add(g, x, op_get_rows(g, W(g, &e->type_emb), in->types));
    x = blk_norm(g, ARCH_NORM_LAYER, x, &e->emb_ln_w, &e->emb_ln_b, hp->eps);

    for (int64_t l = 0; l < hp->layers; l++) {
        const bert_layer *w = &e->layer[l];
        /* softmax(q k^T / sqrt(D) + mask) v, post-LN residual; a last layer that only the head's first tokens
         * leave computes their rows alone from its attention on (each row's bytes are the same either way) */
        const bool first = in->first_only && l == hp->layers - 1;
        senti_tensor *a = first ? blk_self_attention_first(g, x, &w->wqkv, &w->bqkv, &w->wo, &w->bo, in->offs,
                                                           in->first, NH, 1.0f / sqrtf((float)D))
                                : blk_self_attention(g, x, &w->wqkv, &w->bqkv, &w->wo, &w->bo, in->mask, in->offs, NH,
                                                     1.0f / sqrtf((float)D));
        if (first) x = blk_rows(g, x, in->first); /* [B, 1, H] */
        if (in->probs) in->probs[l] = blk_attention_probs(g, x, &w->wqkv, &w->bqkv, in->mask, NH, 1.0f / sqrtf((float)D));
        x = blk_norm(g, ARCH_NORM_LAYER, op_add(g, x, a), &w->ln1_w, &w->ln1_b, hp->eps);
        /* feed-forward: [R, C, I] -> [R, C, H], post-LN residual */
        senti_tensor *f = blk_mlp(g, ARCH_MLP_PLAIN, hp->act, x, hp->inter, &w->w1, &w->b1, &w->w2, &w->b2);
        x = blk_norm(g, ARCH_NORM_LAYER, op_add(g, x, f), &w->ln2_w, &w->ln2_b, hp->eps);
    }

    in->hidden = x;
    switch (head) {
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: return x; /* [R, C, H] */
    case SENTI_HEAD_TOKEN_CLASSIFICATION: return blk_linear(g, x, &e->out_w, &e->out_b); /* [R, C, L] */
    case SENTI_HEAD_MASKED_LM: { /* dense -> act -> LN -> vocabulary [R, C, V] */
        const blk_act act = e->d->flags & ARCH_F_MLM_GELU ? BLK_GELU : hp->act;
        senti_tensor *h = blk_act_apply(g, blk_linear(g, x, &e->head_w, &e->head_b), act);
        h = blk_norm(g, ARCH_NORM_LAYER, h, &e->head_ln_w, &e->head_ln_b, hp->eps);
        return blk_linear(g, h, &e->out_w, &e->out_b);
    }
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: break;
    }
    /* first token ([CLS] / <s>) [B, 1, H] -> dense -> tanh (ReLU for DistilBERT) -> [B, 1, L] */
    senti_tensor *cls = in->first_only ? x : in->pk ? blk_rows(g, x, in->first) : blk_first_token(g, x);
    senti_tensor *h = blk_linear(g, cls, &e->head_w, &e->head_b);
    h = blk_act_apply(g, h, e->d->flags & ARCH_F_SEQ_RELU ? BLK_RELU : BLK_TANH);
    return blk_linear(g, h, &e->out_w, &e->out_b);
}

/* Fill the inputs: positions are 0..T-1 or, with pad-offset positions
 * (RoBERTa), padding_idx + the running count of non-pad ids (padding_idx at
 * pad ids), as HF's create_position_ids_from_input_ids; packed, the real
 * tokens' ids, types and positions in order. */
static void bert_fill(void *arg) {
    const bert_inputs *in = arg;
    const model_input *x = in->x;
    const int64_t B = x->B, T = x->T;
    const bool offset = in->e->d->pos == ARCH_POS_PAD_OFFSET;
    const int32_t pad = (int32_t)in->e->hp.pad_id;
    const blk_packed *pk = in->pk;
    int32_t *ids = in->ids->data, *pos = in->pos->data, *ty = in->types ? in->types->data : NULL;
    float *mask = pk ? NULL : in->mask->data;
    for (int64_t b = 0, j = 0; b < B; b++) {
        int32_t count = 0;
        for (int64_t t = 0; t < T; t++) {
            const int64_t i = b * T + t;
            const int32_t p = !offset ? (int32_t)t : x->ids[i] != pad ? pad + ++count : pad;
            if (pk) {
                if (j == pk->n || pk->keep[j] != i) continue;
            } else {
                mask[i] = (!x->mask || x->mask[i]) ? 0.0f : -INFINITY;
            }
            const int64_t o = pk ? j++ : i;
            ids[o] = x->ids[i];
            pos[o] = p;
            if (ty) ty[o] = x->type_ids ? x->type_ids[i] : 0;
        }
    }
    if (in->scale) memcpy(in->scale->data, x->emb_scale, (size_t)(B * T) * sizeof *x->emb_scale);
    if (pk) {
        memcpy(in->offs->data, pk->offs, (size_t)(B + 1) * sizeof *pk->offs);
        memcpy(in->first->data, pk->offs, (size_t)B * sizeof *pk->offs);
    }
}

/* Padding-free whenever every sequence has a token: the GEMMs, norms and
 * activations run on the N real tokens only, attention per sequence
 * (op_attention_varlen gives the bytes op_attention gives that sequence
 * alone, so each record's output is the same either way). Token-level
 * outputs go back to [B, T, ..] with zeros at the padding. */
static senti_status bert_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const bert_model *e = m->impl;
    blk_packed pk;
    senti_status st = blk_pack(x->mask, x->B, x->T, &pk);
    if (st != SENTI_OK) return st;
    const bool extras = x->emb_scale || x->attn; /* explanations run the padded graph */
    bert_inputs in = {.e = e, .x = x, .pk = pk.n && !extras ? &pk : NULL};
    in.first_only = in.pk && m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION && !(x->heads && m->n_xheads) &&
                    blk_first_only();
    senti_graph *g = graph_init();
    if (!g || (x->attn && !(in.probs = senti_calloc((size_t)e->hp.layers, sizeof *in.probs)))) {
        graph_free(g);
        blk_packed_free(&pk);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory building the graph");
    }
    senti_tensor *y = bert_build(e, m->head, g, x->B, x->T, &in);
    senti_tensor *xo[64] = {0}; /* the extra heads' outputs (model_heads_load allows 64) */
    const blk_act pool_act = e->d->flags & ARCH_F_SEQ_RELU ? BLK_RELU : BLK_TANH;
    for (int64_t k = 0; x->heads && k < m->n_xheads; k++)
        if ((xo[k] = model_head_build(g, &m->xheads[k], in.hidden, in.pk ? in.first : NULL, in.pk ? pk.n : 0,
                                      pool_act)))
            graph_set_output(xo[k]);
    st = blk_run_packed(m, g, y, bert_fill, &in, in.pk, x->B, x->T, out, shape, ndim);
    const size_t per = (size_t)(x->B * e->hp.heads * x->T * x->T); /* one layer's probabilities (padded) */
    for (int64_t l = 0; st == SENTI_OK && in.probs && l < e->hp.layers; l++)
        memcpy(x->attn + (size_t)l * per, in.probs[l]->data, per * sizeof(float));
    for (int64_t k = 0; st == SENTI_OK && x->heads && k < m->n_xheads; k++) {
        const model_xhead *h = &m->xheads[k];
        if (h->kind == SENTI_HEAD_SEQUENCE_CLASSIFICATION || !in.pk)
            memcpy(x->heads[k], xo[k]->data, (size_t)senti_nelements(xo[k]) * sizeof(float));
        else
            blk_unpack_rows(&pk, xo[k]->data, x->B, x->T, h->n_labels, x->heads[k]);
    }
    senti_mfree(in.probs);
    graph_free(g);
    blk_packed_free(&pk);
    return st;
}

/* ---- llama.cpp files --------------------------------------------------------------------
 * A llama.cpp "bert" file: BertModel, or DistilBertModel when it has no
 * token_types tensor; the position table's rows decide the length (llama.cpp
 * may shorten it), the padding id comes from the tokenizer keys. */
static senti_status bert_gguf_config(const arch_desc **d, const gguf_file *f, void *cfg) {
    json_t *c = cfg;
    senti_status st;
    const gguf_tensor *tt = gguf_file_find_tensor(f, "token_types.weight");
    const gguf_tensor *pe = gguf_file_find_tensor(f, "position_embd.weight");
    if (!tt) {
        senti_model_head head;
        const arch_desc *distil = arch_find("DistilBertModel", &head);
        if (!distil) return senti_error(SENTI_ERR_UNSUPPORTED, "DistilBertModel is not in the architecture table");
        if ((st = gguf_config_generic(distil, "DistilBertModel", f, c))) return st;
        *d = distil;
    }
    int64_t pad;
    if ((st = gguf_kv_int(f, "tokenizer.ggml.padding_token_id", false, 0, &pad))) return st;
    if (json_object_set_new(c, "pad_token_id", json_integer(pad)) ||
        (pe && pe->n_dims == 2 &&
         json_object_set_new(c, arch_hp_key(*d, AH_MAX_POS), json_integer(pe->ne[1]))) ||
        (tt && json_object_set_new(c, "type_vocab_size", json_integer(tt->n_dims == 2 ? tt->ne[1] : 1))) ||
        json_object_set_new(c, arch_hp_key(*d, AH_ACT), json_string("gelu")))
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", gguf_file_path(f));
    return SENTI_OK;
}

const model_family model_family_bert = {"bert", bert_load, bert_forward, bert_free, bert_gguf_config, true};
