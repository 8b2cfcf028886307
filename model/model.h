/* model.h — model/'s internal header: the weights a family holds
 * (model_w), the senti_model handle, the architecture families and the GGUF
 * model view; the file readers it builds on are core/formats.h.
 *
 * Invariants: a loaded model's config keys and every tensor it uses were
 * validated at load; weights are read-only after load. */
#ifndef SENTI_MODEL_H
#define SENTI_MODEL_H

#include "../core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A weight as a family's graph sees it, outermost dim first: f32, or for
 * linear weights f16 / bf16 / quantized ([out, in] rows of blocks). data
 * points into the mapping or at own (a converted copy, or NULL). */
typedef struct model_w {
    const void *data;
    void *own;
    senti_type type;
    int ndim;
    int64_t shape[2];
} model_w;

static inline void model_w_free(model_w *w) {
    senti_mfree(w->own);
    w->own = NULL;
}

/* A weight leaf of g over w's data; NULL when w has none (an absent bias) or
 * on failure (the graph records it). */
static inline senti_tensor *model_w_leaf(senti_graph *g, const model_w *w) {
    if (!w->data) return NULL;
    senti_tensor *t = graph_new_tensor(g, w->type, w->ndim, w->shape);
    if (!t) return NULL;
    t->data = (void *)w->data;
    t->flags = SENTI_TFLAG_WEIGHT | SENTI_TFLAG_CONST;
    return t;
}

/* The type a linear weight [N, K] stored as `stored` runs in: the load
 * option `opt` when given (not SENTI_TYPE_COUNT), else as stored when
 * block-quantized (or f16 / bf16 with keep_half), else f32; f32 too for
 * I32, for a quantized type when K is not a whole number of its blocks, and
 * for int8 past SENTI_INT8_MAX_K. */
static inline senti_type model_linear_type(senti_type opt, senti_type stored, int64_t K, bool keep_half) {
    const bool half = stored == SENTI_TYPE_F16 || stored == SENTI_TYPE_BF16;
    senti_type t = opt != SENTI_TYPE_COUNT                           ? opt
                   : senti_type_is_quant(stored) || (keep_half && half) ? stored
                                                                        : SENTI_TYPE_F32;
    if (t == SENTI_TYPE_I32 || (senti_type_is_quant(t) && K % senti_type_block(t) != 0) ||
        (t == SENTI_TYPE_INT8 && K > SENTI_INT8_MAX_K))
        t = SENTI_TYPE_F32;
    return t;
}

/* ---- models: the registry and the architecture families ----------------------
 * registry.c finds config.json's "architectures"[0] in the architecture
 * table (arch.h) and loads it with that entry's family; nothing else
 * switches on the architecture. A family's load fills the common fields of
 * senti_model and its private `impl`; forward runs one padded batch (inputs
 * already validated against the sizes by the caller). */

typedef struct model_family model_family;
typedef struct arch_desc arch_desc;

/* An extra head over the encoder (heads.c). */
typedef struct model_xhead {
    const char *name;           /* borrowed from senti_model.xroot */
    senti_model_head kind;      /* SEQUENCE_ or TOKEN_CLASSIFICATION */
    bool multi_label;
    int64_t n_labels;
    const char **labels;        /* owned array of borrowed strings */
    model_w dense_w, dense_b;   /* [H, H], [H] (sequence heads; may be empty) */
    model_w out_w, out_b;       /* [L, H], [L] */
} model_xhead;

struct senti_model {
    const arch_desc *desc;       /* the architecture table entry */
    const char *arch_name;       /* "BertForSequenceClassification": borrowed from cfg */
    senti_model_head head;
    char *dir;                   /* owned */
    int64_t hidden, layers, heads, vocab, type_vocab, num_labels, pad_id;
    int64_t max_pos;             /* longest input (RoBERTa: max_position_embeddings - pad - 1) */
    int64_t n_params;            /* every tensor in the checkpoint */
    senti_model_opts opts;       /* as given to senti_model_load_opts (device string not kept), but
                                  * weight_type SENTI_TYPE_BF16 where prefer_bf16 chose bf16 */
    const char **labels;         /* id2label: n_labels_named strings borrowed from cfg; array owned */
    int64_t n_labels_named;      /* 0 when config.json has no id2label */
    char dtypes[64];             /* distinct stored dtypes, "f16,f32" */
    cfg_file *cfg;               /* owned */
    st_weights *w;               /* owned */
    struct senti_backend *be;    /* owned */
    struct senti_backend *fallback; /* owned: the CPU under a device backend, else NULL */
    senti_exec *ex;              /* owned */
    void *impl;                  /* owned by the family */
    model_xhead *xheads;         /* owned: extra heads (heads.c), n_xheads of them */
    int64_t n_xheads;
    const char *primary_name;    /* the model's own head's name (heads.json "primary"); borrowed */
    struct json_t *xroot;        /* owned: the heads spec */
    st_weights *xw;              /* owned: heads.safetensors */
};

/* One padded batch: ids / type_ids / mask are [B, T] row-major; type_ids and
 * mask may be NULL (zeros / all ones). */
typedef struct model_input {
    const int32_t *ids, *type_ids, *mask;
    int64_t B, T;
    const float *emb_scale; /* NULL, or [B, T]: each word embedding scaled (families with extras) */
    float *attn;            /* NULL, or [layers, B, heads, T, T]: attention probabilities out */
    float *const *heads;    /* NULL, or per extra head [B, L] / [B, T, L] outputs */
} model_input;

/* Extra heads (heads.c): read heads.json + heads.safetensors of m->dir (or a
 * GGUF's "senti_heads" config key and head.* tensors) after the family's
 * load; nothing when absent. BAD_FILE / UNSUPPORTED naming the file. */
senti_status model_heads_load(senti_model *m, bool gguf);
void model_heads_free(senti_model *m);

struct model_family {
    const char *name;
    /* read hyperparameters from m->cfg and weights from m->w; set m->impl */
    senti_status (*load)(senti_model *m);
    /* build the graph for in's [B, T], run it; *out (senti_malloc) gets
     * the head's output of shape shape[0..*ndim). Not thread-safe per model. */
    senti_status (*forward)(senti_model *m, const model_input *in, float **out, int64_t shape[3], int *ndim);
    void (*free)(void *impl); /* accepts NULL */
    /* Optional: complete the HF config (a json_t object) synthesized for a
     * llama.cpp file of d from the table's keys, with what only the family
     * knows (derived keys, another class); *d may be replaced. */
    senti_status (*gguf_config)(const arch_desc **d, const gguf_file *f, void *cfg);
    bool extras; /* forward honours model_input's emb_scale, attn and heads */
};

extern const model_family model_family_bert; /* bert.c: BERT, RoBERTa / XLM-R / CamemBERT, DistilBERT */
extern const model_family model_family_deberta; /* deberta.c: DeBERTa-v2 / v3 */
extern const model_family model_family_modernbert; /* modernbert.c: ModernBERT */
/* decoder.c: LLaMA, Qwen2, Mistral, GPT-2 causal LMs (the lm.h API; forward
 * gives last-layer logits [B, T, vocab] of a right-padded batch) */
extern const model_family model_family_decoder;
/* encdec.c: T5 / mT5 / Flan-T5, BART, mBART encoder-decoders (the lm.h API
 * with lm_encode; forward gives the encoder's last hidden state [B, T, H],
 * or BartForSequenceClassification's logits [B, L]) */
extern const model_family model_family_encdec;


/* ---- the lm.h KV cache (decoder.c), shared with the encoder-decoder family ----
 * Per layer K and V are f32 rows of `row` floats, [n_slot * n_ctx] of them,
 * slot-major then position. Encoder-decoders add per slot the slot whose
 * encoded input it attends to (xsrc, -1: none) and, for a slot that was
 * encoded, that input's cross-attention rows x[slot] ([xlen, Ld * 2 * row]:
 * layer l's keys at columns [2l row, (2l+1) row), its values after them). */
struct lm_cache {
    senti_model *m;
    int64_t n_slot, n_ctx, row, layers;
    int64_t *len;               /* [n_slot] */
    float **k, **v;             /* [layers] each [n_slot * n_ctx, row] */
    int64_t *xsrc, *xlen;       /* [n_slot] (encoder-decoders), else NULL */
    float **x;                  /* [n_slot] owned, NULL where not encoded */
};
void encdec_cache_dims(const senti_model *m, int64_t *layers, int64_t *row);
senti_status encdec_lm_forward(senti_model *m, struct lm_cache *c, int64_t n, const int64_t *slot,
                               const int32_t *const *tokens, const int64_t *n_tok, bool all_logits, float *logits);

/* ---- GGUF models (gguf_model.c) and conversion (gguf_convert.c) -----------------
 * A GGUF file read as a model directory: gguf_model_open gives the config
 * (senti.hf.config as written by senti convert, or synthesized from a
 * llama.cpp file's metadata) and the tensors under their HF names and shapes
 * (outermost first), in the type the file stores them. */
senti_status gguf_model_open(const char *path, cfg_file **cfg, st_weights **w);
/* The converter (HF directory -> GGUF) is tools/convert/convert.h. */

#ifdef __cplusplus
}
#endif
#endif /* SENTI_MODEL_H */
