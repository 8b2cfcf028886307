/* encoder.c — the BERT family of post-LayerNorm encoders: BERT, RoBERTa /
 * XLM-R / CamemBERT and DistilBERT, with their sequence-classification,
 * token-classification and base-model heads, as HF transformers computes them.
 *
 * Invariants: every weight is checked for name, dtype and shape at load and
 * held as f32 (in place in the mapping when stored as aligned f32, else
 * converted once into an owned buffer), except the 2-D linear weights of the
 * layers and the head's dense layer: those run in the load option's weight
 * type when one is given (converted once), else stay in place when stored
 * block-quantized (a GGUF file's q8_0 / q4_0 ...), else f32. A forward builds
 * one graph for the batch shape and runs it on the model's executor. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "model.h"

enum { ENC_BERT = 0, ENC_ROBERTA = 1, ENC_DISTILBERT = 2 }; /* model_arch.variant */
typedef enum { ACT_GELU, ACT_GELU_TANH, ACT_RELU, ACT_SILU } enc_act;

/* Hyperparameters from config.json (DistilBERT's own key names in brackets). */
typedef struct enc_hparams {
    int variant;
    int64_t vocab;      /* vocab_size */
    int64_t hidden;     /* hidden_size [dim] */
    int64_t layers;     /* num_hidden_layers [n_layers] */
    int64_t heads;      /* num_attention_heads [n_heads] */
    int64_t inter;      /* intermediate_size [hidden_dim] */
    int64_t max_pos;    /* max_position_embeddings */
    int64_t type_vocab; /* type_vocab_size; 0 for DistilBERT */
    int64_t pad_id;     /* pad_token_id; RoBERTa's padding_idx */
    int64_t num_labels; /* classifiers: id2label count, else num_labels */
    float eps;          /* layer_norm_eps [1e-12 hard-coded] */
    enc_act act;        /* hidden_act [activation] */
} enc_hparams;

typedef model_w enc_w;

/* One encoder layer. Checkpoint names after "encoder.layer.N." (BERT,
 * RoBERTa) / "transformer.layer.N." (DistilBERT); H = hidden, I = inter. */
typedef struct enc_layer {
    enc_w wq, bq;       /* [H, H], [H]  attention.self.query  / attention.q_lin */
    enc_w wk, bk;       /* [H, H], [H]  attention.self.key    / attention.k_lin */
    enc_w wv, bv;       /* [H, H], [H]  attention.self.value  / attention.v_lin */
    enc_w wo, bo;       /* [H, H], [H]  attention.output.dense / attention.out_lin */
    enc_w ln1_w, ln1_b; /* [H]          attention.output.LayerNorm / sa_layer_norm */
    enc_w w1, b1;       /* [I, H], [I]  intermediate.dense / ffn.lin1 */
    enc_w w2, b2;       /* [H, I], [H]  output.dense / ffn.lin2 */
    enc_w ln2_w, ln2_b; /* [H]          output.LayerNorm / output_layer_norm */
} enc_layer;

typedef struct enc_model {
    enc_hparams hp;
    enc_w tok_emb;        /* [V, H]  embeddings.word_embeddings */
    enc_w pos_emb;        /* [P, H]  embeddings.position_embeddings */
    enc_w type_emb;       /* [TV, H] embeddings.token_type_embeddings (not DistilBERT) */
    enc_w emb_ln_w, emb_ln_b; /* [H] embeddings.LayerNorm */
    enc_layer *layer;     /* [layers] */
    /* sequence head: BERT pooler.dense (prefixed), RoBERTa classifier.dense,
     * DistilBERT pre_classifier: [H, H], [H] */
    enc_w head_w, head_b;
    /* classifier / classifier.out_proj: [L, H], [L] */
    enc_w out_w, out_b;
} enc_model;

/* ---- loading ------------------------------------------------------------------- */

typedef struct enc_loader {
    const st_weights *w;
    const char *prefix; /* "bert." or "" for the base-model tensors */
    senti_type wtype;   /* load option for linear weights; SENTI_TYPE_COUNT: as stored */
} enc_loader;

/* The type a linear weight [d0, d1] stored as `stored` runs in. */
static senti_type linear_type(const enc_loader *ld, senti_type stored, int64_t d1) {
    return model_linear_type(ld->wtype, stored, d1, false);
}

static senti_status load_w(const enc_loader *ld, bool base, bool linear, enc_w *out, int64_t d0, int64_t d1,
                           const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Fetch the tensor named by fmt (base: after the base-model prefix) of shape
 * [d0] (d1 == 0) or [d0, d1], as f32; a linear weight [out, in] in the type
 * linear_type picks. */
static senti_status load_w(const enc_loader *ld, bool base, bool linear, enc_w *out, int64_t d0, int64_t d1,
                           const char *fmt, ...) {
    char name[256];
    size_t n = (size_t)snprintf(name, sizeof name, "%s", base ? ld->prefix : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name + n, sizeof name - n, fmt, ap);
    va_end(ap);
    const int64_t shape[2] = {d0, d1};
    const st_tensor *t;
    linear = linear && d1;
    senti_status st = st_weights_expect(ld->w, name, d1 ? 2 : 1, shape, ST_WEIGHT_TYPES, &t);
    if (st != SENTI_OK) return st;
    out->ndim = d1 ? 2 : 1;
    out->shape[0] = d0, out->shape[1] = d1;
    const senti_type want = linear ? linear_type(ld, t->type, d1) : SENTI_TYPE_F32;
    out->type = want;
    if (t->type == want && st_tensor_is_aligned(t, senti_type_is_quant(want) ? 2 : senti_type_size(want))) {
        out->data = t->data;
        return SENTI_OK;
    }
    float *f = senti_malloc((size_t)t->numel * sizeof(float));
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", t->file, name);
    st = st_tensor_read_f32(t, f);
    if (st != SENTI_OK || want == SENTI_TYPE_F32) {
        out->own = f;
        out->data = f;
        return st;
    }
    const int64_t rows = d0, cols = d1;
    const size_t rs = senti_row_size(want, cols);
    out->own = senti_malloc(rs * (size_t)rows);
    if (!out->own) {
        senti_mfree(f);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", t->file, name);
    }
    for (int64_t r = 0; r < rows; r++) senti_row_from_f32(want, f + r * cols, (char *)out->own + (size_t)r * rs, cols);
    senti_mfree(f);
    out->data = out->own;
    return SENTI_OK;
}

static senti_status parse_act(const cfg_file *c, const char *key, const char *def, enc_act *out) {
    const char *s;
    senti_status st = cfg_opt_str(c, key, def, &s);
    if (st != SENTI_OK) return st;
    if (!strcmp(s, "gelu") || !strcmp(s, "gelu_python")) *out = ACT_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) *out = ACT_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = ACT_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = ACT_SILU;
    else
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key '%s' names an unsupported activation '%s'", cfg_path(c),
                           key, s);
    return SENTI_OK;
}

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if ((st = (x)) != SENTI_OK) goto fail;                                                                         \
    } while (0)

static senti_status read_hparams(const senti_model *m, enc_hparams *hp) {
    const cfg_file *c = m->cfg;
    senti_status st;
    double eps = 1e-12;
    const bool distil = m->arch->variant == ENC_DISTILBERT;
    hp->variant = m->arch->variant;
    TRY(cfg_get_int(c, "vocab_size", &hp->vocab));
    TRY(cfg_get_int(c, "max_position_embeddings", &hp->max_pos));
    TRY(cfg_opt_int(c, "pad_token_id", distil ? 0 : (hp->variant == ENC_ROBERTA ? 1 : 0), &hp->pad_id));
    if (distil) {
        TRY(cfg_get_int(c, "dim", &hp->hidden));
        TRY(cfg_get_int(c, "n_layers", &hp->layers));
        TRY(cfg_get_int(c, "n_heads", &hp->heads));
        TRY(cfg_get_int(c, "hidden_dim", &hp->inter));
        TRY(parse_act(c, "activation", "gelu", &hp->act));
        hp->type_vocab = 0; /* HF hard-codes eps 1e-12 */
    } else {
        TRY(cfg_get_int(c, "hidden_size", &hp->hidden));
        TRY(cfg_get_int(c, "num_hidden_layers", &hp->layers));
        TRY(cfg_get_int(c, "num_attention_heads", &hp->heads));
        TRY(cfg_get_int(c, "intermediate_size", &hp->inter));
        TRY(cfg_opt_int(c, "type_vocab_size", 2, &hp->type_vocab));
        TRY(cfg_opt_float(c, "layer_norm_eps", 1e-12, &eps));
        TRY(parse_act(c, "hidden_act", "gelu", &hp->act));
        const char *pet;
        TRY(cfg_opt_str(c, "position_embedding_type", "absolute", &pet));
        if (strcmp(pet, "absolute") != 0)
            return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'position_embedding_type' = '%s' is not supported "
                               "(only absolute)", cfg_path(c), pet);
    }
    hp->eps = (float)eps;
    const char *path = cfg_path(c);
#define POSITIVE(v, key, hi)                                                                                           \
    if ((v) < 1 || (v) > (hi))                                                                                         \
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' = %lld is out of range", path, key, (long long)(v));
    POSITIVE(hp->vocab, "vocab_size", INT32_MAX);
    POSITIVE(hp->hidden, distil ? "dim" : "hidden_size", 1 << 20);
    POSITIVE(hp->layers, distil ? "n_layers" : "num_hidden_layers", 1024);
    POSITIVE(hp->heads, distil ? "n_heads" : "num_attention_heads", 4096);
    POSITIVE(hp->inter, distil ? "hidden_dim" : "intermediate_size", 1 << 22);
    POSITIVE(hp->max_pos, "max_position_embeddings", 1 << 24);
    if (!distil) POSITIVE(hp->type_vocab, "type_vocab_size", 1 << 20);
#undef POSITIVE
    if (hp->hidden % hp->heads)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: hidden size %lld is not a multiple of the %lld attention heads",
                           path, (long long)hp->hidden, (long long)hp->heads);
    if (hp->variant == ENC_ROBERTA && (hp->pad_id < 0 || hp->pad_id + 2 > hp->max_pos))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'pad_token_id' = %lld leaves no positions", path,
                           (long long)hp->pad_id);
    hp->num_labels = 0;
    if (m->arch->head != SENTI_HEAD_BASE) {
        hp->num_labels = m->n_labels_named;
        if (!hp->num_labels) TRY(cfg_opt_int(c, "num_labels", 2, &hp->num_labels));
        if (hp->num_labels < 1 || hp->num_labels > (1 << 20))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'num_labels' is out of range", path);
    }
    return SENTI_OK;
fail:
    return st;
}

static void enc_free(void *impl) {
    enc_model *e = impl;
    if (!e) return;
    model_w *top[] = {&e->tok_emb, &e->pos_emb, &e->type_emb, &e->emb_ln_w, &e->emb_ln_b,
                      &e->head_w,  &e->head_b,  &e->out_w,    &e->out_b};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int64_t l = 0; e->layer && l < e->hp.layers; l++) {
        enc_w *f = (enc_w *)&e->layer[l];
        for (size_t i = 0; i < sizeof(enc_layer) / sizeof(enc_w); i++) model_w_free(&f[i]);
    }
    senti_mfree(e->layer);
    senti_mfree(e);
}

static senti_status enc_load(senti_model *m) {
    senti_status st;
    enc_model *e = senti_calloc(1, sizeof *e);
    if (!e) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
    m->impl = e;
    TRY(cfg_labels(m->cfg, &m->labels, &m->n_labels_named));
    enc_hparams *hp = &e->hp;
    TRY(read_hparams(m, hp));
    const int v = hp->variant;
    const int64_t H = hp->hidden, I = hp->inter, L = hp->num_labels;
    static const char *const PREFIX[] = {"bert.", "roberta.", "distilbert."};
    enc_loader ld = {m->w, PREFIX[v], m->opts.weight_type};
    char probe[64];
    snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", PREFIX[v]);
    if (!st_weights_find(m->w, probe)) ld.prefix = ""; /* base models are saved without it */

    TRY(load_w(&ld, true, false, &e->tok_emb, hp->vocab, H, "embeddings.word_embeddings.weight"));
    TRY(load_w(&ld, true, false, &e->pos_emb, hp->max_pos, H, "embeddings.position_embeddings.weight"));
    if (v != ENC_DISTILBERT)
        TRY(load_w(&ld, true, false, &e->type_emb, hp->type_vocab, H, "embeddings.token_type_embeddings.weight"));
    TRY(load_w(&ld, true, false, &e->emb_ln_w, H, 0, "embeddings.LayerNorm.weight"));
    TRY(load_w(&ld, true, false, &e->emb_ln_b, H, 0, "embeddings.LayerNorm.bias"));

    /* per-layer names: q, k, v, o, ln1, ffn in, ffn out, ln2 */
    static const char *const BERT_NAMES[8] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                              "attention.output.dense", "attention.output.LayerNorm",
                                              "intermediate.dense", "output.dense", "output.LayerNorm"};
    static const char *const DISTIL_NAMES[8] = {"attention.q_lin", "attention.k_lin", "attention.v_lin",
                                                "attention.out_lin", "sa_layer_norm", "ffn.lin1",
                                                "ffn.lin2", "output_layer_norm"};
    const char *const *nm = v == ENC_DISTILBERT ? DISTIL_NAMES : BERT_NAMES;
    const char *stack = v == ENC_DISTILBERT ? "transformer.layer" : "encoder.layer";
    e->layer = senti_calloc((size_t)hp->layers, sizeof *e->layer);
    if (!e->layer) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", m->dir);
        goto fail;
    }
    for (int64_t l = 0; l < hp->layers; l++) {
        enc_layer *w = &e->layer[l];
        const long long n = (long long)l;
        TRY(load_w(&ld, true, true, &w->wq, H, H, "%s.%lld.%s.weight", stack, n, nm[0]));
        TRY(load_w(&ld, true, false, &w->bq, H, 0, "%s.%lld.%s.bias", stack, n, nm[0]));
        TRY(load_w(&ld, true, true, &w->wk, H, H, "%s.%lld.%s.weight", stack, n, nm[1]));
        TRY(load_w(&ld, true, false, &w->bk, H, 0, "%s.%lld.%s.bias", stack, n, nm[1]));
        TRY(load_w(&ld, true, true, &w->wv, H, H, "%s.%lld.%s.weight", stack, n, nm[2]));
        TRY(load_w(&ld, true, false, &w->bv, H, 0, "%s.%lld.%s.bias", stack, n, nm[2]));
        TRY(load_w(&ld, true, true, &w->wo, H, H, "%s.%lld.%s.weight", stack, n, nm[3]));
        TRY(load_w(&ld, true, false, &w->bo, H, 0, "%s.%lld.%s.bias", stack, n, nm[3]));
        TRY(load_w(&ld, true, false, &w->ln1_w, H, 0, "%s.%lld.%s.weight", stack, n, nm[4]));
        TRY(load_w(&ld, true, false, &w->ln1_b, H, 0, "%s.%lld.%s.bias", stack, n, nm[4]));
        TRY(load_w(&ld, true, true, &w->w1, I, H, "%s.%lld.%s.weight", stack, n, nm[5]));
        TRY(load_w(&ld, true, false, &w->b1, I, 0, "%s.%lld.%s.bias", stack, n, nm[5]));
        TRY(load_w(&ld, true, true, &w->w2, H, I, "%s.%lld.%s.weight", stack, n, nm[6]));
        TRY(load_w(&ld, true, false, &w->b2, H, 0, "%s.%lld.%s.bias", stack, n, nm[6]));
        TRY(load_w(&ld, true, false, &w->ln2_w, H, 0, "%s.%lld.%s.weight", stack, n, nm[7]));
        TRY(load_w(&ld, true, false, &w->ln2_b, H, 0, "%s.%lld.%s.bias", stack, n, nm[7]));
    }

    if (m->arch->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
        if (v == ENC_BERT) {
            TRY(load_w(&ld, true, true, &e->head_w, H, H, "pooler.dense.weight"));
            TRY(load_w(&ld, true, false, &e->head_b, H, 0, "pooler.dense.bias"));
            TRY(load_w(&ld, false, false, &e->out_w, L, H, "classifier.weight"));
            TRY(load_w(&ld, false, false, &e->out_b, L, 0, "classifier.bias"));
        } else if (v == ENC_ROBERTA) {
            TRY(load_w(&ld, false, true, &e->head_w, H, H, "classifier.dense.weight"));
            TRY(load_w(&ld, false, false, &e->head_b, H, 0, "classifier.dense.bias"));
            TRY(load_w(&ld, false, false, &e->out_w, L, H, "classifier.out_proj.weight"));
            TRY(load_w(&ld, false, false, &e->out_b, L, 0, "classifier.out_proj.bias"));
        } else {
            TRY(load_w(&ld, false, true, &e->head_w, H, H, "pre_classifier.weight"));
            TRY(load_w(&ld, false, false, &e->head_b, H, 0, "pre_classifier.bias"));
            TRY(load_w(&ld, false, false, &e->out_w, L, H, "classifier.weight"));
            TRY(load_w(&ld, false, false, &e->out_b, L, 0, "classifier.bias"));
        }
    } else if (m->arch->head == SENTI_HEAD_TOKEN_CLASSIFICATION) {
        TRY(load_w(&ld, false, false, &e->out_w, L, H, "classifier.weight"));
        TRY(load_w(&ld, false, false, &e->out_b, L, 0, "classifier.bias"));
    }

    m->hidden = H, m->layers = hp->layers, m->heads = hp->heads, m->vocab = hp->vocab;
    m->type_vocab = hp->type_vocab, m->num_labels = L, m->pad_id = hp->pad_id;
    /* RoBERTa positions run from padding_idx + 1 */
    m->max_pos = v == ENC_ROBERTA ? hp->max_pos - hp->pad_id - 1 : hp->max_pos;
    return SENTI_OK;
fail:
    return st;
}

/* ---- graph ------------------------------------------------------------------------- */

#define W model_w_leaf

/* x [.., in] · W^T + b -> [.., out] */
static senti_tensor *linear(senti_graph *g, senti_tensor *x, const enc_w *w, const enc_w *b) {
    return op_add(g, op_matmul(g, x, W(g, w), false, true), W(g, b));
}

static senti_tensor *act(senti_graph *g, senti_tensor *x, enc_act a) {
    switch (a) {
    case ACT_GELU: return op_gelu(g, x);
    case ACT_GELU_TANH: return op_gelu_tanh(g, x);
    case ACT_RELU: return op_relu(g, x);
    case ACT_SILU: return op_silu(g, x);
    }
    return NULL;
}

typedef struct enc_inputs {
    senti_tensor *ids, *types, *pos; /* i32 [B, T] */
    senti_tensor *mask;              /* f32 [B, 1, 1, T] additive */
} enc_inputs;

/* The whole forward for a [B, T] batch; returns the head's output. */
static senti_tensor *enc_build(const enc_model *e, senti_model_head head, senti_graph *g, int64_t B, int64_t T,
                               enc_inputs *in) {
    const enc_hparams *hp = &e->hp;
    const int64_t H = hp->hidden, NH = hp->heads, D = H / NH;
    in->ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T);
    in->pos = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T);
    in->types = hp->type_vocab ? graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T) : NULL;
    in->mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);

    /* embeddings: LN(word[ids] + pos[pos] (+ type[types])) -> [B, T, H] */
    senti_tensor *x = op_add(g, op_get_rows(g, W(g, &e->tok_emb), in->ids), op_get_rows(g, W(g, &e->pos_emb), in->pos));
    if (in->types) x = op_add(g, x, op_get_rows(g, W(g, &e->type_emb), in->types));
    x = op_layer_norm(g, x, W(g, &e->emb_ln_w), W(g, &e->emb_ln_b), hp->eps);

    for (int64_t l = 0; l < hp->layers; l++) {
        const enc_layer *w = &e->layer[l];
        /* self-attention: q, k, v [B, T, NH, D]; softmax(q k^T / sqrt(D) + mask) v */
        senti_tensor *q = op_reshape_4d(g, linear(g, x, &w->wq, &w->bq), B, T, NH, D);
        senti_tensor *k = op_reshape_4d(g, linear(g, x, &w->wk, &w->bk), B, T, NH, D);
        senti_tensor *v = op_reshape_4d(g, linear(g, x, &w->wv, &w->bv), B, T, NH, D);
        senti_tensor *a = op_attention(g, q, k, v, in->mask, 1.0f / sqrtf((float)D), false); /* [B, T, NH, D] */
        a = linear(g, op_reshape_3d(g, a, B, T, H), &w->wo, &w->bo);                          /* [B, T, H] */
        x = op_layer_norm(g, op_add(g, x, a), W(g, &w->ln1_w), W(g, &w->ln1_b), hp->eps);
        /* feed-forward: [B, T, I] -> [B, T, H], post-LN residual */
        senti_tensor *f = act(g, linear(g, x, &w->w1, &w->b1), hp->act);
        x = op_layer_norm(g, op_add(g, x, linear(g, f, &w->w2, &w->b2)), W(g, &w->ln2_w), W(g, &w->ln2_b), hp->eps);
    }

    switch (head) {
    case SENTI_HEAD_BASE: return x; /* [B, T, H] */
    case SENTI_HEAD_TOKEN_CLASSIFICATION: return linear(g, x, &e->out_w, &e->out_b); /* [B, T, L] */
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: break;
    }
    /* first token ([CLS] / <s>) [B, 1, H] -> dense -> tanh (ReLU for DistilBERT) -> [B, 1, L] */
    senti_tensor *cls = op_slice(g, x, 1, 0, 1);
    senti_tensor *h = linear(g, cls, &e->head_w, &e->head_b);
    h = hp->variant == ENC_DISTILBERT ? op_relu(g, h) : op_tanh(g, h);
    return linear(g, h, &e->out_w, &e->out_b);
}

/* Fill the inputs: positions are 0..T-1 (BERT, DistilBERT) or, for RoBERTa,
 * padding_idx + the running count of non-pad ids (padding_idx at pad ids), as
 * HF's create_position_ids_from_input_ids. */
static void enc_fill(const enc_model *e, const model_input *x, const enc_inputs *in) {
    const int64_t B = x->B, T = x->T;
    int32_t *ids = in->ids->data, *pos = in->pos->data;
    float *mask = in->mask->data;
    memcpy(ids, x->ids, (size_t)(B * T) * sizeof *ids);
    if (in->types) {
        int32_t *ty = in->types->data;
        if (x->type_ids) memcpy(ty, x->type_ids, (size_t)(B * T) * sizeof *ty);
        else memset(ty, 0, (size_t)(B * T) * sizeof *ty);
    }
    for (int64_t b = 0; b < B; b++) {
        int32_t count = 0;
        for (int64_t t = 0; t < T; t++) {
            const int64_t i = b * T + t;
            mask[i] = (!x->mask || x->mask[i]) ? 0.0f : -INFINITY;
            if (e->hp.variant == ENC_ROBERTA) {
                const int32_t pad = (int32_t)e->hp.pad_id;
                pos[i] = x->ids[i] != pad ? pad + ++count : pad;
            } else {
                pos[i] = (int32_t)t;
            }
        }
    }
}

static senti_status enc_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const enc_model *e = m->impl;
    senti_status st;
    enc_inputs in = {0};
    senti_graph *g = graph_init();
    if (!g) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory building the graph");
    senti_tensor *y = enc_build(e, m->arch->head, g, x->B, x->T, &in);
    if (!y || g->status != SENTI_OK) {
        st = senti_error(g->status != SENTI_OK ? g->status : SENTI_ERR_NO_MEMORY, "%s: building the graph: %s",
                         m->dir, g->err);
        goto fail;
    }
    graph_set_output(y);
    TRY(exec_prepare(m->ex, g));
    enc_fill(e, x, &in);
    TRY(exec_compute(m->ex, g));
    const int64_t n = senti_nelements(y);
    *out = senti_malloc((size_t)n * sizeof(float));
    if (!*out) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory for the model output");
        goto fail;
    }
    memcpy(*out, y->data, (size_t)n * sizeof(float));
    if (m->arch->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
        *ndim = 2, shape[0] = x->B, shape[1] = m->num_labels, shape[2] = 0;
    } else {
        *ndim = 3, shape[0] = x->B, shape[1] = x->T;
        shape[2] = m->arch->head == SENTI_HEAD_BASE ? m->hidden : m->num_labels;
    }
    st = SENTI_OK;
fail:
    graph_free(g);
    return st;
}

const model_family model_family_encoder = {"encoder", enc_load, enc_forward, enc_free};
