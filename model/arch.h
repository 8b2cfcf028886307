/* arch.h — one descriptor per architecture (arch.c holds the table) and the
 * shared blocks the family builders are made of (blocks.c).
 *
 * A descriptor says everything about an architecture that is data rather
 * than maths: the HF class names it answers to and their heads, the
 * config.json key of each common hyperparameter, the name of every tensor
 * in the HF checkpoint and in a llama.cpp GGUF file, and its feature flags
 * (norm kind and placement, position scheme, MLP kind, tied embeddings, the
 * layouts llama.cpp stores differently). The family builders (bert.c,
 * deberta.c, modernbert.c, decoder.c), the HF loader, the GGUF reader
 * (gguf_model.c) and the converter (tools/convert/) all read it; nothing
 * switches on an architecture's name.
 *
 * Invariants: the table is constant; a tensor name with a NULL HF side does
 * not exist in that architecture; per-layer names are relative to
 * `stack` + N + "."; base names are relative to the base-model prefix (which
 * ...For* checkpoints have and bare base models may lack); head names are
 * absolute. Names carry no ".weight" / ".bias" suffix. */
#ifndef SENTI_ARCH_H
#define SENTI_ARCH_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tensor roles ------------------------------------------------------------------ */

typedef enum arch_role {
    /* base model, whole-model tensors (after the base prefix) */
    AR_TOK_EMB,       /* token embeddings [V, E] */
    AR_POS_EMB,       /* learned absolute positions [P, H] */
    AR_TYPE_EMB,      /* token types [TV, H] */
    AR_EMB_NORM,      /* norm over the embeddings */
    AR_EMB_PROJ,      /* embedding size E -> hidden H (DeBERTa's embed_proj) */
    AR_REL_EMB,       /* relative position embeddings (DeBERTa) */
    AR_REL_NORM,      /* their norm */
    AR_OUT_NORM,      /* final norm (pre-norm stacks) */
    AR_POOLER,        /* BERT-style pooler dense (tanh) */
    /* per layer (after stack N.) */
    AR_ATTN_NORM,     /* pre-attention norm */
    AR_Q, AR_K, AR_V, /* projections */
    AR_QKV,           /* fused q|k|v projection */
    AR_O,             /* attention output projection */
    AR_Q_NORM, AR_K_NORM, /* per-head query / key norms */
    AR_ATTN_POST_NORM,    /* norm after attention (post-LN encoders: of x + attn) */
    AR_POS_Q, AR_POS_K,   /* DeBERTa's separate position projections (share_att_key false) */
    AR_FFN_NORM,      /* pre-FFN norm */
    AR_GATE, AR_UP, AR_DOWN, /* FFN; a fused up holds [gate | up] or [input | gate] */
    AR_FFN_POST_NORM, /* norm after the FFN (post-LN encoders: of x + ffn) */
    AR_FFN_IN,        /* the input projection of a plain FFN where the gated variant's are AR_GATE / AR_UP (T5's wi) */
    AR_XATTN_NORM,    /* cross-attention norm (encoder-decoders; pre or post as the self-attention's) */
    AR_XQ, AR_XK, AR_XV, AR_XO, /* cross-attention projections (queries from the decoder, keys / values
                                 * from the encoder output) */
    /* heads (absolute names) */
    AR_LM_HEAD,       /* causal LM output projection */
    AR_LM_BIAS,       /* vocabulary bias of the LM head (BART's final_logits_bias, a bare name) */
    AR_SEQ_DENSE,     /* sequence head dense (RoBERTa classifier.dense, DistilBERT pre_classifier) */
    AR_SEQ_NORM,      /* sequence head norm (ModernBERT) */
    AR_SEQ_OUT,       /* sequence classifier output projection */
    AR_TOK_DENSE,     /* token head dense (ModernBERT) */
    AR_TOK_NORM,
    AR_TOK_OUT,       /* token classifier output projection */
    AR_MLM_DENSE,     /* masked-LM transform dense */
    AR_MLM_NORM,      /* its norm */
    AR_MLM_DECODER,   /* vocabulary projection (usually tied to AR_TOK_EMB) */
    AR_MLM_BIAS,      /* vocabulary bias as "<name>.bias" (NULL: the decoder's own bias) */
    AR_COUNT
} arch_role;

#define AR_FIRST_LAYER AR_ATTN_NORM
#define AR_FIRST_HEAD AR_LM_HEAD

typedef struct arch_name {
    const char *hf;   /* HF name without suffix; NULL: no such tensor */
    const char *gguf; /* llama.cpp name without suffix (per layer: after "blk.N."); NULL: none */
} arch_name;

/* ---- hyperparameters ------------------------------------------------------------------ */

typedef enum arch_hp {
    AH_VOCAB, AH_HIDDEN, AH_LAYERS, AH_HEADS, AH_KV_HEADS, AH_INTER, AH_MAX_POS, AH_EPS, AH_ACT, AH_HEAD_DIM,
    AH_TYPE_VOCAB,
    AH_COUNT
} arch_hp;

/* A config key read from / written to llama.cpp metadata ({gguf_arch}.{gguf}),
 * or a constant (gguf NULL) that a llama.cpp file implies. */
typedef struct arch_gguf_key {
    const char *hf;   /* config.json key */
    const char *gguf; /* key after "{arch}."; NULL: `value` always */
    char kind;        /* 'i' integer, 'f' float, 'b' boolean */
    double value;     /* the constant, or the default when the key is absent */
} arch_gguf_key;

/* ---- features --------------------------------------------------------------------------- */

typedef enum arch_kind { ARCH_ENCODER, ARCH_DECODER, ARCH_ENCODER_DECODER } arch_kind;
typedef enum arch_norm { ARCH_NORM_LAYER, ARCH_NORM_RMS } arch_norm;
typedef enum arch_pos {
    ARCH_POS_ABSOLUTE,   /* learned, positions 0..T-1 */
    ARCH_POS_PAD_OFFSET, /* learned, positions from padding_idx + 1 over non-pad ids (RoBERTa) */
    ARCH_POS_ROPE,       /* rotary */
    ARCH_POS_RELATIVE,   /* disentangled relative positions (DeBERTa) */
    ARCH_POS_BUCKETS,    /* T5's relative position buckets: a learned bias per head added to the scores */
} arch_pos;
typedef enum arch_mlp {
    ARCH_MLP_PLAIN,       /* down(act(up x)) */
    ARCH_MLP_GATED,       /* down(act(gate x) * up x), gate and up separate */
    ARCH_MLP_GATED_FUSED, /* down(act(a) * b) with [a | b] = up x (one fused matrix) */
} arch_mlp;

enum {
    ARCH_F_TIED = 1u << 0,         /* tie_word_embeddings defaults to true */
    ARCH_F_TIED_ALWAYS = 1u << 1,  /* the LM head always is the embeddings (GPT-2) */
    ARCH_F_QKV_BIAS = 1u << 2,     /* q/k/v biases whatever attention_bias says (Qwen2) */
    ARCH_F_BIAS = 1u << 3,         /* every linear and norm has a bias (GPT-2, encoders) */
    ARCH_F_CONV1D = 1u << 4,       /* HF stores linear weights [in, out] (GPT-2 Conv1D) */
    ARCH_F_GGUF_PERMUTE = 1u << 5, /* llama.cpp permutes q / k rows for its rope (LLaMA) */
    ARCH_F_NORM_SHIFT = 1u << 6,   /* norms scale by 1 + w (Gemma); llama.cpp stores 1 + w */
    ARCH_F_EMB_SCALE = 1u << 7,    /* embeddings times sqrt(hidden) (Gemma) */
    ARCH_F_SWA = 1u << 8,          /* config 'sliding_window' applies (Mistral, Gemma 3) */
    ARCH_F_SWA_OPT_IN = 1u << 9,   /* ... only with 'use_sliding_window' from 'max_window_layers' on (Qwen2) */
    ARCH_F_SEQ_RELU = 1u << 10,    /* the sequence head's dense is followed by ReLU, not tanh (DistilBERT) */
    ARCH_F_MLM_GELU = 1u << 11,    /* the MLM transform always uses erf GELU (RoBERTa), not hidden_act */
    ARCH_F_LAYER_SCALE = 1u << 12, /* GPT-2's scale_attn_by_inverse_layer_idx is honoured */
    ARCH_F_NO_QK_SCALE = 1u << 13, /* attention scores are not scaled by 1/sqrt(head_dim) (T5) */
};

/* A head an architecture offers: its HF class-name suffix and kind. */
typedef struct arch_head {
    const char *suffix; /* "ForSequenceClassification" */
    senti_model_head head;
} arch_head;

typedef struct arch_desc arch_desc;

struct arch_desc {
    const char *name;               /* model_type when config.json has none ("bert") */
    arch_kind kind;
    const model_family *family;     /* the builder */
    const char *const *stems;       /* HF class stems ("Bert", "XLMRoberta"), NULL-terminated */
    const arch_head *heads;         /* the heads, NULL-terminated by suffix */
    const char *prefix;             /* base-model prefix of ...For* checkpoints ("bert.") or NULL */
    const char *stack;              /* layer stack ("encoder.layer.") */
    arch_name names[AR_COUNT];
    const char *hp[AH_COUNT];       /* config.json key of each hyperparameter; NULL: fixed / absent */
    const char *act_default;        /* hidden_act when absent */
    double eps_default;             /* eps when absent (or fixed: DistilBERT) */
    int64_t pad_default;            /* pad_token_id when absent */
    int64_t type_vocab_default;     /* type_vocab_size when absent */
    int64_t inter_default_mult;     /* > 0: the FFN width defaults to this times hidden (GPT-2) */
    arch_norm norm;
    arch_pos pos;
    arch_mlp mlp;
    unsigned flags;                 /* ARCH_F_* */
    /* GGUF */
    const char *gguf_arch;          /* general.architecture, NULL: not written / read */
    const char *gguf_class;         /* HF class of a llama.cpp file of gguf_arch (NULL: another entry) */
    const arch_gguf_key *gguf_keys; /* further keys, terminated by hf == NULL */
    /* encoder-decoders: the decoder stack, described by a second entry (not in
     * the table) whose stack, names and hyperparameter keys are the
     * decoder's; `pos_offset` rows of learned positions precede position 0
     * (BART: 2). NULL / 0 elsewhere. */
    const arch_desc *decoder;
    int64_t pos_offset;
};

/* The descriptor and head for an HF class name ("RobertaForTokenClassification");
 * NULL when no entry answers to it. */
const arch_desc *arch_find(const char *hf_class, senti_model_head *head);
/* The descriptor a llama.cpp file of general.architecture `gguf_arch` is read
 * as (the entry with a gguf_class); NULL: none. */
const arch_desc *arch_find_gguf(const char *gguf_arch);
/* Every descriptor (for tests and listings): i-th, NULL past the end. */
const arch_desc *arch_get(size_t i);

/* The HF name of role r ("bert." prefix + stack + l + "." + name + suffix)
 * into buf. prefix: the base-model prefix in use ("" or d->prefix) for base
 * and layer roles; l: the layer (ignored for other roles). NULL when the
 * architecture has no such tensor or it does not fit. */
const char *arch_tensor_name(const arch_desc *d, const char *prefix, arch_role r, int64_t l, const char *suffix,
                             char *buf, size_t n);
bool arch_role_is_layer(arch_role r);
bool arch_role_is_head(arch_role r);

/* The GGUF suffix of a common hyperparameter after "{arch}." (AH_EPS depends
 * on the norm kind); NULL when llama.cpp has none. */
const char *arch_hp_gguf(const arch_desc *d, arch_hp h);

/* GGUF <-> HF tensor names of d used with `head`: per-layer "blk.N.x" <->
 * stack + "N." + hf, whole-model and head names as in the table (the base
 * prefix dropped); ".weight" / ".bias" kept. false: no mapping. */
bool arch_gguf_to_hf(const arch_desc *d, senti_model_head head, const char *gguf, char *out, size_t n);
bool arch_hf_to_gguf(const arch_desc *d, senti_model_head head, const char *hf, char *out, size_t n);
/* The role an HF name (without the base prefix) has in d, and its layer;
 * AR_COUNT when none. */
arch_role arch_role_of(const arch_desc *d, const char *hf, int64_t *layer);

/* The HF config (a json_t object, cleared first) of a llama.cpp file read as
 * class hf_class of d: architectures, model_type, every hyperparameter d
 * names under its llama.cpp key, d's further keys, vocab_size from the
 * embeddings' rows (gguf_model.c; families' gguf_config hooks build on it). */
senti_status gguf_config_generic(const arch_desc *d, const char *hf_class, const gguf_file *f, void *cfg);

/* llama.cpp's rope row permutation of a LLaMA q / k projection ([rows =
 * n_head * D] rows of row_bytes), HF -> GGUF (to_gguf) or back; src != dst. */
void arch_rope_permute(const void *src, void *dst, int64_t rows, size_t row_bytes, int64_t n_head, bool to_gguf);

/* ---- reading hyperparameters ------------------------------------------------------------- */

/* Integer hyperparameter h from the config through d's key: `required` (a
 * "missing key" error when absent), else def when absent; def also when d
 * has no key for h. */
senti_status arch_hp_int(const arch_desc *d, const cfg_file *c, arch_hp h, bool required, int64_t def, int64_t *out);
/* eps (d->eps_default when absent or fixed). */
senti_status arch_hp_eps(const arch_desc *d, const cfg_file *c, double *out);
/* A hyperparameter's config key for messages ("hidden_size", "dim"). */
const char *arch_hp_key(const arch_desc *d, arch_hp h);

/* ---- shared blocks (blocks.c) ---------------------------------------------------------------- */

typedef enum blk_act { BLK_GELU, BLK_GELU_TANH, BLK_RELU, BLK_SILU, BLK_TANH } blk_act;

/* Activation named by config key (def when absent): gelu / gelu_python (erf),
 * gelu_new / gelu_pytorch_tanh / gelu_fast (tanh), relu, silu / swish, tanh.
 * UNSUPPORTED naming the key and value otherwise. */
senti_status blk_parse_act(const cfg_file *c, const char *key, const char *def, blk_act *out);

/* Where a family's weights come from and what type they are held in. */
typedef struct blk_loader {
    const senti_model *m;
    const arch_desc *d;
    const char *prefix;  /* base-model prefix in use: d->prefix or "" */
    senti_type wtype;    /* load option for linear weights (SENTI_TYPE_COUNT: as stored) */
    bool keep_half;      /* linear weights stored f16 / bf16 stay so (decoders) */
} blk_loader;

/* The loader for m: the base prefix is used when the checkpoint has the
 * token embeddings under it, else none (bare base models). */
blk_loader blk_loader_init(const senti_model *m, bool keep_half);

/* Tensor `name` of shape [d0] (d1 == 0) or [d0, d1]: a linear weight [out,
 * in] in the type model_linear_type picks, anything else f32; in place in
 * the mapping when stored so and aligned, else converted into w->own. */
senti_status blk_load_named(const blk_loader *ld, model_w *w, const char *name, bool linear, int64_t d0, int64_t d1);
/* The same for role r (layer l) + suffix; `optional`: an absent tensor (or a
 * role the architecture lacks) leaves w empty and is no error. */
senti_status blk_load(const blk_loader *ld, model_w *w, arch_role r, int64_t l, const char *suffix, bool linear,
                      bool optional, int64_t d0, int64_t d1);
/* BAD_FILE when the tensor of role r + suffix (layer 0) is present although
 * config key `key` (its size) is 0, so the model would run without it
 * (type_vocab_size 0 beside token_type_embeddings). */
senti_status blk_absent(const blk_loader *ld, arch_role r, const char *suffix, const char *key);
/* Weight and bias of a linear layer / norm (bias optional or required). */
senti_status blk_load_linear(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, bool bias,
                             int64_t out, int64_t in);
senti_status blk_load_norm(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, bool bias,
                           int64_t n);
/* Refuse a weight holding NaN or inf (unless m->opts.no_weight_check): a
 * poisoned norm or head turns every input into the same answer or NaN. Any
 * stored type (rows converted to f32 a row at a time); the error names the
 * tensor and the element. blk_load scans the norm and head roles itself. */
senti_status blk_check_finite(const senti_model *m, const model_w *w, const char *name);
/* Add 1 to an f32 norm weight (ARCH_F_NORM_SHIFT), copying it when it is
 * borrowed from the mapping. */
senti_status blk_shift_norm(const senti_model *m, model_w *w);

/* x [.., in] · W^T (+ b) -> [.., out]; b may be NULL or empty. */
senti_tensor *blk_linear(senti_graph *g, senti_tensor *x, const model_w *w, const model_w *b);
senti_tensor *blk_act_apply(senti_graph *g, senti_tensor *x, blk_act a);
/* Layer norm (w, b optional) or RMS norm (w optional) over the innermost dim. */
senti_tensor *blk_norm(senti_graph *g, arch_norm kind, senti_tensor *x, const model_w *w, const model_w *b,
                       float eps);
/* The feed-forward block by kind: plain down(act(up x + bu)) + bd; gated
 * (fused up = [a | b], inter columns each): down(act(a) * b). */
senti_tensor *blk_mlp(senti_graph *g, arch_mlp kind, blk_act act, senti_tensor *x, int64_t inter, const model_w *wup,
                      const model_w *bup, const model_w *wdown, const model_w *bdown);
/* Encoder self-attention over x [B, T, H] with nh heads of D: one fused
 * q|k|v projection wqkv [3H, H] (bias optional, blk_fuse_rows),
 * softmax(q k^T * scale + mask) v, output projection -> [B, T, H].
 * mask: f32 additive, broadcastable to [B, nh, T, T]. With offs (i32 [S + 1],
 * padding-free batches) x is [1, N, H]: the tokens of S sequences one after
 * another, each attending to its own (op_attention_varlen); mask is unused. */
/* The attention probabilities of that self-attention (padded form only):
 * softmax(q k^T * scale + mask) -> f32 [B, nh, T, T], marked as a graph
 * output. Extra nodes (q|k|v projected again) for explanations; the fused
 * attention is untouched. */
senti_tensor *blk_attention_probs(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                  senti_tensor *mask, int64_t nh, float scale);
senti_tensor *blk_self_attention(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                 const model_w *wo, const model_w *bo, senti_tensor *mask, senti_tensor *offs,
                                 int64_t nh, float scale);
/* The same self-attention, packed ([1, N, H]), for the first token of each
 * sequence only: k and v from every token (the k | v rows of wqkv), q only
 * for the tokens at first (i32 [S, 1], = offs[0..S-1]; the q rows) -> [S, 1,
 * H], byte for byte the rows first of blk_self_attention's output (each GEMM
 * element's reduction depends only on K; op_attention_varlen_first). For a
 * last layer whose every other row nothing reads (a sequence head). */
senti_tensor *blk_self_attention_first(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                       const model_w *wo, const model_w *bo, senti_tensor *offs, senti_tensor *first,
                                       int64_t nh, float scale);
/* A view of rows [r0, r1) of a linear weight [out, in] or of its f32 bias
 * [out] (ndim 1); empty for an empty one. The view owns nothing. */
model_w blk_w_rows(const model_w *w, int64_t r0, int64_t r1);
/* Whether a sequence head's encoder may run its last layer for the first
 * tokens only (the default; SENTI_PRUNE=0 runs every row, for comparison). */
bool blk_first_only(void);
/* The rows first (i32 [S, 1]) of a packed [1, N, H] -> [S, 1, H]. */
senti_tensor *blk_rows(senti_graph *g, senti_tensor *x, senti_tensor *first);
/* The rows of the n linear weights w[i] (one type, one row length) one after
 * another in *fw, their biases likewise in *fb (f32; zeros for an absent
 * one; *fb empty when all are absent); the parts are released and emptied.
 * One GEMM over the fused weight gives, per output element, the bytes the
 * separate ones give (each element's reduction depends only on K). */
senti_status blk_fuse_rows(const senti_model *m, model_w *const *w, model_w *const *b, int n, model_w *fw, model_w *fb);

/* Rotary settings from config.json: "rope_parameters" (transformers 5; when
 * keyed by layer type, `layer_type` picks "full_attention" /
 * "sliding_attention") or the top-level theta_key (default theta_def) +
 * "rope_scaling" when use_scaling (older files). Types default, linear,
 * dynamic, llama3. n_rot = head_dim * partial_rotary_factor. */
typedef enum blk_rope_kind { BLK_ROPE_DEFAULT, BLK_ROPE_LINEAR, BLK_ROPE_DYNAMIC, BLK_ROPE_LLAMA3 } blk_rope_kind;
typedef struct blk_rope {
    blk_rope_kind kind;
    int n_rot;
    double theta, factor, low_freq, high_freq;
    int64_t orig_max; /* original_max_position_embeddings (llama3) */
} blk_rope;
senti_status blk_read_rope(const cfg_file *c, const char *layer_type, const char *theta_key, double theta_def,
                           bool use_scaling, int64_t head_dim, int64_t max_pos, blk_rope *out);
/* llama3 per-pair divisors [n_rot/2] (transformers' _compute_llama3_parameters). */
senti_status blk_llama3_factors(const senti_model *m, const blk_rope *r, model_w *out);

/* Sequence-classifier / pooling and masked-LM heads shared by the encoders.
 * seq: first token -> dense -> act -> out (dense absent: straight to out). */
senti_tensor *blk_first_token(senti_graph *g, senti_tensor *x); /* [B, T, H] -> [B, 1, H] */
/* Extra head x over the last hidden state (heads.c): [R, C, H] -> token
 * [R, C, L]; sequence [B, 1, L] from the first tokens (first: i32 [B, 1]
 * their rows in a packed [1, n_tok, H], or NULL for padded [B, T, H]), the
 * dense step activated by act. */
senti_tensor *model_head_build(senti_graph *g, const model_xhead *x, senti_tensor *hidden, senti_tensor *first,
                               int64_t n_tok, blk_act act);

/* Padding-free batches: the real tokens (mask != 0; all when mask is NULL)
 * of a padded [B, T] batch in order. keep[0..n): their flat indices
 * b * T + t; offs[0..B]: where each sequence starts (offs[B] = n). p->n = 0
 * (nothing allocated) when some sequence has no real token: the caller runs
 * the padded batch. */
typedef struct blk_packed {
    int64_t n;
    int32_t *keep, *offs;
} blk_packed;
senti_status blk_pack(const int32_t *mask, int64_t B, int64_t T, blk_packed *p);
void blk_packed_free(blk_packed *p);
/* Rows of a packed output y [n, C] back to [B, T, C] (zeros at padding). */
void blk_unpack_rows(const blk_packed *p, const float *y, int64_t B, int64_t T, int64_t C, float *out);

/* Encoder output for a head: [B, L] / [B, T, L] / [B, T, H] / [B, T, V]. */
void blk_out_shape(const senti_model *m, int64_t B, int64_t T, int64_t shape[3], int *ndim);
/* Run g (output y) on m's executor after `fill` wrote the inputs; copy y into
 * *out (senti_malloc) with the head's shape. */
senti_status blk_run(senti_model *m, senti_graph *g, senti_tensor *y, void (*fill)(void *), void *fill_arg,
                     int64_t B, int64_t T, float **out, int64_t shape[3], int *ndim);

/* blk_run for a graph built padded (pk NULL) or padding-free over pk's
 * tokens: a sequence head's [B, L] as blk_run gives it; other heads' packed
 * rows [n, C] back to [B, T, C] (blk_unpack_rows). */
senti_status blk_run_packed(senti_model *m, senti_graph *g, senti_tensor *y, void (*fill)(void *), void *fill_arg,
                            const blk_packed *pk, int64_t B, int64_t T, float **out, int64_t shape[3], int *ndim);

/* Common encoder hyperparameters and the model fields they set. */
typedef struct blk_enc_hp {
    int64_t vocab, hidden, layers, heads, inter, max_pos, type_vocab, pad_id, num_labels;
    float eps;
    blk_act act;
} blk_enc_hp;
/* Read the common keys through d, check their ranges, and count the labels
 * (id2label, else num_labels, default 2) for classifier heads. */
senti_status blk_enc_read_hp(senti_model *m, blk_enc_hp *hp);
/* Fill m's sizes from hp (max_pos as given). */
void blk_enc_set_model(senti_model *m, const blk_enc_hp *hp, int64_t max_pos);

#define BLK_TRY(x)                                                                                                     \
    do {                                                                                                               \
        if ((st = (x)) != SENTI_OK) goto fail;                                                                         \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif /* SENTI_ARCH_H */
