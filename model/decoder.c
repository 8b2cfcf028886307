/* decoder.c — the pre-norm causal decoder family with a KV cache: the table
 * entries LLaMA, Qwen2, Mistral (RMSNorm, rotary, grouped-query attention,
 * SwiGLU), GPT-2 (LayerNorm, learned positions, gelu_new MLP) and Gemma 3
 * (norms scaling by 1 + w, query / key norms, norms after attention and FFN,
 * scaled embeddings, local rope base and sliding window on its local layers,
 * GeGLU), their differences read from the descriptors' flags and tensor
 * names, as HF transformers computes them; the lm.h contract on top of the
 * graph executor.
 *
 * Invariants: every weight is checked for name, dtype and shape at load.
 * Linear-layer weights are held as [out, in] rows (GPT-2's Conv1D [in, out]
 * is transposed at load) in m->opts.weight_type when given (f32 / f16 /
 * bf16 / q8_0 / q4_0 / any quantized type senti_row_from_f32 makes; it falls
 * back to f32 for a matrix whose input width is not a whole number of the
 * type's blocks), else as stored (f32 / f16 / bf16 / a GGUF file's
 * block-quantized types, in place in the mapping when aligned; GPT-2's
 * transposed ones arrive as f32); q/k/v (and LLaMA's gate/up) are fused
 * into one matrix each at load (stored rows copied as they are when the
 * parts share the held type; parts in different K-quants are made q8_0).
 * lm_weight_types names the held types. Norms, biases and embeddings are f32.
 * The KV cache is f32, per layer K and V of [n_slot * n_ctx, Hkv * D] rows
 * (slot-major, then position); rows at or beyond a slot's length are never
 * read unmasked. A forward builds one graph for the batch, writes the new
 * K/V rows in place (op_set_rows) and only then reads the cache. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"
#include "lm.h"

/* Hyperparameters from config.json (GPT-2's own key names in brackets). */
typedef struct dec_hparams {
    const arch_desc *d;
    int64_t vocab;     /* vocab_size */
    int64_t hidden;    /* hidden_size [n_embd] */
    int64_t layers;    /* num_hidden_layers [n_layer] */
    int64_t heads;     /* num_attention_heads [n_head] */
    int64_t kv_heads;  /* num_key_value_heads (default heads) */
    int64_t head_dim;  /* head_dim (default hidden / heads) */
    int64_t inter;     /* intermediate_size [n_inner, default 4 * n_embd] */
    int64_t max_pos;   /* max_position_embeddings [n_positions] */
    int64_t window;    /* sliding_window (Mistral; Qwen2 with use_sliding_window); 0: none */
    int64_t n_window_layers; /* layers from this index on use the window (Qwen2 max_window_layers) */
    float eps;         /* rms_norm_eps [layer_norm_epsilon] */
    bool tied;         /* tie_word_embeddings */
    bool qkv_bias;     /* attention_bias (Qwen2: always) */
    bool o_bias;       /* attention_bias (GPT-2: always) */
    bool mlp_bias;     /* mlp_bias (GPT-2: always) */
    bool scale_by_layer; /* GPT-2 scale_attn_by_inverse_layer_idx */
    blk_act act;       /* hidden_act [activation_function] */
    /* rotary (d->pos == ARCH_POS_ROPE): angle(pos, i) = pos * freq_scale * theta^(-2i/n_rot) / ff[i] */
    blk_rope rope;
    blk_rope rope_local; /* the sliding-window layers' (Gemma 3: rope_local_base_freq), else = rope */
    float attn_scale;  /* 1 / sqrt(query_pre_attn_scalar, default head_dim) */
    float softcap;     /* final_logit_softcapping: logits = cap * tanh(logits / cap); 0: none */
} dec_hparams;

typedef model_w dec_w;

/* One block. Checkpoint names after "model.layers.N." (LLaMA family) /
 * "transformer.h.N." (GPT-2); H hidden, Q = heads*D, KV = kv_heads*D, I inter. */
typedef struct dec_layer {
    dec_w ln1_w, ln1_b; /* [H]  input_layernorm / ln_1 (bias: GPT-2) */
    dec_w wqkv, bqkv;   /* [Q+2KV, H], [Q+2KV]  self_attn.{q,k,v}_proj fused / attn.c_attn^T */
    dec_w wo, bo;       /* [H, Q], [H]  self_attn.o_proj / attn.c_proj^T */
    dec_w ln2_w, ln2_b; /* [H]  post_attention_layernorm / ln_2 */
    dec_w wup, bup;     /* [2I, H] gate_proj;up_proj fused (LLaMA) / [I, H] mlp.c_fc^T (GPT-2) */
    dec_w wdown, bdown; /* [H, I]  mlp.down_proj / mlp.c_proj^T */
    dec_w q_norm, k_norm; /* [D]  self_attn.q_norm / k_norm (Gemma 3), else empty */
    dec_w post_attn, post_ffn; /* [H]  post_attention_layernorm / post_feedforward_layernorm (Gemma 3) */
} dec_layer;

typedef struct dec_model {
    dec_hparams hp;
    dec_w tok_emb;      /* [V, H] f32 (a GGUF file's quantized table as stored)  model.embed_tokens / transformer.wte */
    dec_w pos_emb;      /* [P, H] f32  transformer.wpe (GPT-2) */
    dec_w norm_w, norm_b; /* [H]       model.norm / transformer.ln_f */
    dec_w lm_head;      /* [V, H]      lm_head (tied: tok_emb, or its converted copy) */
    dec_w freq_factors; /* [n_rot/2] f32 (llama3), else data NULL */
    dec_layer *layer;
    bool *swa;          /* [layers]: the layer attends through the sliding window */
    char wtypes[64];    /* distinct types the matmul weights are held in, "f32,q8_0" */
} dec_model;


/* ---- loading ------------------------------------------------------------------- */

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if ((st = (x)) != SENTI_OK) goto fail;                                                                         \
    } while (0)


static senti_status oom(const senti_model *m, const char *what) {
    return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory loading %s", m->dir, what);
}

/* Fetch `name` of shape [d0] (d1 == 0) or [d0, d1] as f32 (embeddings, norms, biases). */
static senti_status load_f32(const senti_model *m, dec_w *out, int64_t d0, int64_t d1, const char *name) {
    const int64_t shape[2] = {d0, d1};
    const st_tensor *t;
    senti_status st = st_weights_expect(m->w, name, d1 ? 2 : 1, shape, ST_FLOAT_TYPES, &t);
    if (st != SENTI_OK) return st;
    out->type = SENTI_TYPE_F32;
    out->ndim = d1 ? 2 : 1;
    out->shape[0] = d0, out->shape[1] = d1;
    if (t->type == SENTI_TYPE_F32 && st_tensor_is_aligned(t, sizeof(float))) {
        out->data = t->data;
    } else {
        out->own = senti_malloc((size_t)t->numel * sizeof(float));
        if (!out->own) return oom(m, name);
        out->data = out->own;
        if ((st = st_tensor_read_f32(t, out->own)) != SENTI_OK) return st;
    }
    return d1 ? SENTI_OK : blk_check_finite(m, out, name); /* the 1-D weights are the norms */
}

/* The type a [N, K] matmul weight is held in. */
static senti_type matmul_type(const senti_model *m, senti_type stored, int64_t K) {
    return model_linear_type(m->opts.weight_type, stored, K, true);
}

/* Whether t's data can be used in place as a matrix of `type`. */
static bool in_place(const st_tensor *t, senti_type type) {
    return t->type == type && st_tensor_is_aligned(t, senti_type_is_quant(type) ? 2 : senti_type_size(type));
}

/* A matmul weight [N, K] of `type` from up to 3 f32 row blocks (fusion):
 * parts[i] holds rows[i] rows of K floats. */
static senti_status pack_matmul(const senti_model *m, dec_w *out, senti_type type, int64_t K, int nparts,
                                float *const *parts, const int64_t *rows, const char *name) {
    int64_t N = 0;
    for (int i = 0; i < nparts; i++) N += rows[i];
    const size_t rs = senti_row_size(type, K);
    out->own = senti_malloc((size_t)N * rs + 1);
    if (!out->own) return oom(m, name);
    out->data = out->own;
    out->type = type;
    out->ndim = 2;
    out->shape[0] = N, out->shape[1] = K;
    char *dst = out->own;
    for (int i = 0; i < nparts; i++)
        for (int64_t r = 0; r < rows[i]; r++, dst += rs) senti_row_from_f32(type, parts[i] + r * K, dst, K);
    return SENTI_OK;
}

/* Read tensor `name` of shape [d0, d1] (or [d0]) into a new f32 buffer. */
static senti_status read_f32(const senti_model *m, const char *name, int64_t d0, int64_t d1, float **out,
                             senti_type *stored) {
    const int64_t shape[2] = {d0, d1};
    const st_tensor *t;
    *out = NULL;
    senti_status st = st_weights_expect(m->w, name, d1 ? 2 : 1, shape, ST_WEIGHT_TYPES, &t);
    if (st != SENTI_OK) return st;
    if (stored) *stored = t->type;
    *out = senti_malloc((size_t)t->numel * sizeof(float) + 1);
    if (!*out) return oom(m, name);
    return st_tensor_read_f32(t, *out);
}

/* [rows, cols] -> [cols, rows] in place of *p (GPT-2 Conv1D weights). */
static senti_status transpose(const senti_model *m, float **p, int64_t rows, int64_t cols, const char *name) {
    float *t = senti_malloc((size_t)(rows * cols) * sizeof(float) + 1);
    if (!t) return oom(m, name);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) t[c * rows + r] = (*p)[r * cols + c];
    senti_mfree(*p);
    *p = t;
    return SENTI_OK;
}

/* A single (unfused) matmul weight `name` [N, K]: in place when it is held as
 * stored, else converted. */
static senti_status load_matmul(const senti_model *m, dec_w *out, int64_t N, int64_t K, const char *name) {
    const int64_t shape[2] = {N, K};
    const st_tensor *t;
    senti_status st = st_weights_expect(m->w, name, 2, shape, ST_WEIGHT_TYPES, &t);
    if (st != SENTI_OK) return st;
    const senti_type type = matmul_type(m, t->type, K);
    if (in_place(t, type)) {
        out->data = t->data, out->type = type, out->ndim = 2, out->shape[0] = N, out->shape[1] = K;
        return SENTI_OK;
    }
    float *f;
    if ((st = read_f32(m, name, N, K, &f, NULL)) == SENTI_OK) st = pack_matmul(m, out, type, K, 1, &f, &N, name);
    senti_mfree(f);
    return st;
}

/* n matmul weights names[i] [rows[i], K] fused into one [sum rows, K]: their
 * rows copied as they are when all are stored in the type it is held in
 * (a GGUF file's quantized blocks stay as written), else via f32. */
static senti_status load_fused(const senti_model *m, dec_w *out, int n, char (*names)[160], const int64_t *rows,
                               int64_t K) {
    const st_tensor *t[3];
    senti_status st;
    for (int i = 0; i < n; i++) {
        const int64_t shape[2] = {rows[i], K};
        if ((st = st_weights_expect(m->w, names[i], 2, shape, ST_WEIGHT_TYPES, &t[i])) != SENTI_OK) return st;
    }
    const senti_type type = matmul_type(m, t[0]->type, K);
    bool raw = true;
    for (int i = 0; i < n; i++) raw = raw && t[i]->type == type;
    if (raw) {
        int64_t N = 0;
        for (int i = 0; i < n; i++) N += rows[i];
        const size_t rs = senti_row_size(type, K);
        char *dst = senti_malloc((size_t)N * rs + 1);
        if (!dst) return oom(m, names[0]);
        *out = (dec_w){dst, dst, type, 2, {N, K}};
        for (int i = 0; i < n; dst += (size_t)rows[i] * rs, i++) memcpy(dst, t[i]->data, (size_t)rows[i] * rs);
        return SENTI_OK;
    }
    float *p[3] = {NULL, NULL, NULL};
    st = SENTI_OK;
    for (int i = 0; i < n && st == SENTI_OK; i++) st = read_f32(m, names[i], rows[i], K, &p[i], NULL);
    /* parts in different K-quants (llama.cpp's *_K_M mixes): q8_0, which senti makes */
    const senti_type made = type == SENTI_TYPE_Q4_K || type == SENTI_TYPE_Q6_K ? SENTI_TYPE_Q8_0 : type;
    if (st == SENTI_OK) st = pack_matmul(m, out, made, K, n, p, rows, names[0]);
    for (int i = 0; i < n; i++) senti_mfree(p[i]);
    return st;
}

static senti_status read_hparams(const senti_model *m, dec_hparams *hp) {
    const cfg_file *c = m->cfg;
    const arch_desc *d = m->desc;
    const char *path = cfg_path(c);
    senti_status st;
    double eps;
    hp->d = d;
    TRY(arch_hp_int(d, c, AH_VOCAB, true, 0, &hp->vocab));
    TRY(cfg_opt_bool(c, "tie_word_embeddings", (d->flags & ARCH_F_TIED) != 0, &hp->tied));
    if (d->flags & ARCH_F_TIED_ALWAYS) hp->tied = true; /* GPT2LMHeadModel always ties lm_head to wte */
    TRY(arch_hp_int(d, c, AH_HIDDEN, true, 0, &hp->hidden));
    TRY(arch_hp_int(d, c, AH_LAYERS, true, 0, &hp->layers));
    TRY(arch_hp_int(d, c, AH_HEADS, true, 0, &hp->heads));
    TRY(arch_hp_int(d, c, AH_KV_HEADS, false, hp->heads, &hp->kv_heads));
    TRY(arch_hp_int(d, c, AH_INTER, d->inter_default_mult == 0, d->inter_default_mult * hp->hidden, &hp->inter));
    TRY(arch_hp_int(d, c, AH_MAX_POS, true, 0, &hp->max_pos));
    TRY(arch_hp_eps(d, c, &eps));
    TRY(blk_parse_act(c, arch_hp_key(d, AH_ACT), d->act_default, &hp->act));
    if (d->flags & ARCH_F_BIAS) {
        hp->qkv_bias = hp->o_bias = hp->mlp_bias = true;
    } else {
        bool ab = false;
        TRY(cfg_opt_bool(c, "attention_bias", false, &ab));
        hp->qkv_bias = ab || (d->flags & ARCH_F_QKV_BIAS);
        hp->o_bias = ab;
        TRY(cfg_opt_bool(c, "mlp_bias", false, &hp->mlp_bias));
    }
    if (d->flags & ARCH_F_LAYER_SCALE) {
        TRY(cfg_opt_bool(c, "scale_attn_by_inverse_layer_idx", false, &hp->scale_by_layer));
        bool b;
        TRY(cfg_opt_bool(c, "reorder_and_upcast_attn", false, &b)); /* same maths in f32 */
        TRY(cfg_opt_bool(c, "scale_attn_weights", true, &b));
        if (!b) return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'scale_attn_weights' = false is not supported", path);
    }
    hp->head_dim = 0;
    if (hp->heads > 0 && hp->hidden % hp->heads == 0) hp->head_dim = hp->hidden / hp->heads;
    if (d->hp[AH_HEAD_DIM]) TRY(cfg_opt_int(c, d->hp[AH_HEAD_DIM], hp->head_dim, &hp->head_dim));
    hp->window = 0;
    hp->n_window_layers = 0;
    bool use_window = (d->flags & ARCH_F_SWA) != 0;
    if (use_window && (d->flags & ARCH_F_SWA_OPT_IN)) TRY(cfg_opt_bool(c, "use_sliding_window", false, &use_window));
    if (use_window) {
        TRY(cfg_opt_int(c, "sliding_window", 0, &hp->window));
        if (d->flags & ARCH_F_SWA_OPT_IN) TRY(cfg_opt_int(c, "max_window_layers", hp->layers, &hp->n_window_layers));
    }
    hp->eps = (float)eps;
#define RANGE(v, h, lo, hi)                                                                                            \
    if ((v) < (lo) || (v) > (hi))                                                                                      \
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' = %lld is out of range", path, arch_hp_key(d, h),         \
                           (long long)(v));
    RANGE(hp->vocab, AH_VOCAB, 1, INT32_MAX);
    RANGE(hp->hidden, AH_HIDDEN, 1, 1 << 20);
    RANGE(hp->layers, AH_LAYERS, 1, 1024);
    RANGE(hp->heads, AH_HEADS, 1, 4096);
    RANGE(hp->kv_heads, AH_KV_HEADS, 1, hp->heads);
    RANGE(hp->inter, AH_INTER, 1, 1 << 22);
    RANGE(hp->max_pos, AH_MAX_POS, 1, 1 << 24);
#undef RANGE
    if (hp->window < 0 || hp->window > INT32_MAX)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'sliding_window' = %lld is out of range", path,
                           (long long)hp->window);
    if (!d->hp[AH_HEAD_DIM] && hp->hidden % hp->heads)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %s %lld is not a multiple of the %lld heads", path,
                           arch_hp_key(d, AH_HIDDEN), (long long)hp->hidden, (long long)hp->heads);
    if (hp->head_dim < 1 || hp->head_dim > 4096)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: head dimension %lld (key 'head_dim' or hidden / heads) is out of "
                           "range", path, (long long)hp->head_dim);
    if (hp->heads % hp->kv_heads)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %lld attention heads are not a multiple of %lld kv heads", path,
                           (long long)hp->heads, (long long)hp->kv_heads);
    double qpas, cap, attn_cap;
    TRY(cfg_opt_float(c, "query_pre_attn_scalar", (double)hp->head_dim, &qpas));
    TRY(cfg_opt_float(c, "final_logit_softcapping", 0.0, &cap));
    TRY(cfg_opt_float(c, "attn_logit_softcapping", 0.0, &attn_cap));
    bool bidi = false;
    TRY(cfg_opt_bool(c, "use_bidirectional_attention", false, &bidi));
    if (bidi)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'use_bidirectional_attention' (an embedding model) is not "
                           "supported by the causal decoder", path);
    if (attn_cap > 0)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key 'attn_logit_softcapping' (soft-capped attention scores) is "
                           "not supported", path);
    if (!(qpas > 0) || !(cap >= 0))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'query_pre_attn_scalar' or 'final_logit_softcapping' is out "
                           "of range", path);
    hp->attn_scale = 1.0f / sqrtf((float)qpas);
    hp->softcap = (float)cap;
    if (d->pos != ARCH_POS_ROPE) return SENTI_OK;
    TRY(blk_read_rope(c, "full_attention", "rope_theta", 10000.0, true, hp->head_dim, hp->max_pos, &hp->rope));
    hp->rope_local = hp->rope;
    json_t *rp = json_object_get(cfg_root(c), "rope_parameters");
    if (cfg_has(c, "rope_local_base_freq") || json_is_object(json_object_get(rp, "sliding_attention")))
        TRY(blk_read_rope(c, "sliding_attention", "rope_local_base_freq", 10000.0, false, hp->head_dim, hp->max_pos,
                          &hp->rope_local));
    return SENTI_OK;
fail:
    return st;
}

static void dec_free(void *impl) {
    dec_model *d = impl;
    if (!d) return;
    model_w *top[] = {&d->tok_emb, &d->pos_emb, &d->norm_w, &d->norm_b, &d->lm_head, &d->freq_factors};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) model_w_free(top[i]);
    for (int64_t l = 0; d->layer && l < d->hp.layers; l++) {
        dec_w *f = (dec_w *)&d->layer[l];
        for (size_t i = 0; i < sizeof(dec_layer) / sizeof(dec_w); i++) model_w_free(&f[i]);
    }
    senti_mfree(d->layer);
    senti_mfree(d->swa);
    senti_mfree(d);
}

/* Which layers use the sliding window: config "layer_types" ("full_attention" /
 * "sliding_attention", transformers 5) when present, else every layer from
 * max_window_layers on (Mistral: all) when a window is set. */
static senti_status window_layers(const senti_model *m, dec_model *d) {
    const dec_hparams *hp = &d->hp;
    const char **types = NULL;
    int64_t n = 0;
    senti_status st = cfg_get_strs(m->cfg, "layer_types", false, &types, &n);
    if (st != SENTI_OK) return st;
    if (!(d->swa = senti_calloc((size_t)hp->layers, sizeof *d->swa))) {
        senti_mfree(types);
        return oom(m, "the layer types");
    }
    if (n && n != hp->layers)
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'layer_types' has %lld entries for %lld layers", cfg_path(m->cfg),
                         (long long)n, (long long)hp->layers);
    int64_t pattern = 0; /* Gemma 3 before transformers 5: every pattern-th layer global */
    if (st == SENTI_OK) st = cfg_opt_int(m->cfg, "sliding_window_pattern", 0, &pattern);
    for (int64_t l = 0; l < hp->layers && st == SENTI_OK; l++) {
        if (!n && pattern > 0) {
            d->swa[l] = hp->window > 0 && (l + 1) % pattern != 0;
        } else if (!n) {
            d->swa[l] = hp->window > 0 && l >= hp->n_window_layers;
        } else if (!strcmp(types[l], "sliding_attention")) {
            d->swa[l] = hp->window > 0;
        } else if (strcmp(types[l], "full_attention") != 0) {
            st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: layer type '%s' (key 'layer_types', layer %lld) is not "
                             "supported", cfg_path(m->cfg), types[l], (long long)l);
        }
    }
    senti_mfree(types);
    return st;
}

/* Concatenate f32 vectors (fused biases). */
static senti_status cat_vec(const senti_model *m, dec_w *out, int n, float *const *parts, const int64_t *len,
                            const char *name) {
    int64_t tot = 0;
    for (int i = 0; i < n; i++) tot += len[i];
    float *v = senti_malloc((size_t)tot * sizeof *v + 1);
    if (!v) return oom(m, name);
    for (int i = 0, o = 0; i < n; o += (int)len[i], i++) memcpy(v + o, parts[i], (size_t)len[i] * sizeof *v);
    *out = (dec_w){v, v, SENTI_TYPE_F32, 1, {tot, 0}};
    return SENTI_OK;
}

/* The HF name of role r (layer l) into buf[160]; a role the table lacks
 * becomes a name no checkpoint has, so the load reports it missing. */
static void name_of(const arch_desc *d, arch_role r, int64_t l, const char *suffix, char *buf) {
    if (!arch_tensor_name(d, "", r, l, suffix, buf, 160)) snprintf(buf, 160, "(%s has no tensor role %d)", d->name, (int)r);
}

/* GPT-2 Conv1D weight [in, out] -> matmul weight [out, in]. */
static senti_status load_conv1d(const senti_model *m, dec_w *out, int64_t in, int64_t outn, const char *name) {
    float *f = NULL;
    senti_type stored;
    senti_status st = read_f32(m, name, in, outn, &f, &stored);
    if (st == SENTI_OK) st = transpose(m, &f, in, outn, name);
    if (st == SENTI_OK) st = pack_matmul(m, out, matmul_type(m, stored, in), in, 1, &f, &outn, name);
    senti_mfree(f);
    return st;
}

/* A single linear weight [N, K] (Conv1D-stored when the architecture says so). */
static senti_status load_linear(const senti_model *m, dec_w *out, int64_t N, int64_t K, const char *name) {
    return m->desc->flags & ARCH_F_CONV1D ? load_conv1d(m, out, K, N, name) : load_matmul(m, out, N, K, name);
}

/* One layer by the table: the two norms; q | k | v as one matrix (stored
 * fused, or fused here from q, k, v); the output projection; the FFN (gated:
 * gate | up fused; plain: up) and down. */
static senti_status load_layer(const senti_model *m, const dec_hparams *hp, int64_t l, dec_layer *w) {
    const arch_desc *d = hp->d;
    const int64_t H = hp->hidden, Q = hp->heads * hp->head_dim, KV = hp->kv_heads * hp->head_dim, I = hp->inter;
    const bool ln_bias = d->norm == ARCH_NORM_LAYER && (d->flags & ARCH_F_BIAS);
    char n[3][160];
    float *p[3] = {NULL, NULL, NULL};
    senti_status st;
#define NAME(i, role, suf) name_of(d, role, l, suf, n[i])
    NAME(0, AR_ATTN_NORM, ".weight");
    TRY(load_f32(m, &w->ln1_w, H, 0, n[0]));
    if (ln_bias) {
        NAME(0, AR_ATTN_NORM, ".bias");
        TRY(load_f32(m, &w->ln1_b, H, 0, n[0]));
    }
    const int64_t qkv_rows[3] = {Q, KV, KV};
    if (d->names[AR_QKV].hf) { /* stored fused: rows [Q | KV | KV] */
        NAME(0, AR_QKV, ".weight");
        TRY(load_linear(m, &w->wqkv, Q + 2 * KV, H, n[0]));
        if (hp->qkv_bias) {
        NAME(0, AR_QKV, ".bias");
        TRY(load_f32(m, &w->bqkv, Q + 2 * KV, 0, n[0]));
    }
    } else { /* q, k, v fused: rows [Q | KV | KV] */
        NAME(0, AR_Q, ".weight"), NAME(1, AR_K, ".weight"), NAME(2, AR_V, ".weight");
        TRY(load_fused(m, &w->wqkv, 3, n, qkv_rows, H));
        if (hp->qkv_bias) {
            NAME(0, AR_Q, ".bias"), NAME(1, AR_K, ".bias"), NAME(2, AR_V, ".bias");
            for (int i = 0; i < 3; i++) TRY(read_f32(m, n[i], qkv_rows[i], 0, &p[i], NULL));
            TRY(cat_vec(m, &w->bqkv, 3, p, qkv_rows, n[0]));
            for (int i = 0; i < 3; i++) senti_mfree(p[i]), p[i] = NULL;
        }
    }
    NAME(0, AR_O, ".weight");
    TRY(load_linear(m, &w->wo, H, Q, n[0]));
    if (hp->o_bias) {
        NAME(0, AR_O, ".bias");
        TRY(load_f32(m, &w->bo, H, 0, n[0]));
    }
    if (d->names[AR_Q_NORM].hf) { /* per-head query / key norms over D */
        NAME(0, AR_Q_NORM, ".weight");
        TRY(load_f32(m, &w->q_norm, hp->head_dim, 0, n[0]));
        NAME(0, AR_K_NORM, ".weight");
        TRY(load_f32(m, &w->k_norm, hp->head_dim, 0, n[0]));
    }
    if (d->names[AR_ATTN_POST_NORM].hf) { /* norms of the attention and FFN outputs (Gemma 3) */
        NAME(0, AR_ATTN_POST_NORM, ".weight");
        TRY(load_f32(m, &w->post_attn, H, 0, n[0]));
        NAME(0, AR_FFN_POST_NORM, ".weight");
        TRY(load_f32(m, &w->post_ffn, H, 0, n[0]));
    }
    NAME(0, AR_FFN_NORM, ".weight");
    TRY(load_f32(m, &w->ln2_w, H, 0, n[0]));
    if (ln_bias) {
        NAME(0, AR_FFN_NORM, ".bias");
        TRY(load_f32(m, &w->ln2_b, H, 0, n[0]));
    }
    if (d->mlp == ARCH_MLP_GATED) { /* gate, up fused: rows [I | I] */
        NAME(0, AR_GATE, ".weight"), NAME(1, AR_UP, ".weight");
        const int64_t gu_rows[2] = {I, I};
        TRY(load_fused(m, &w->wup, 2, n, gu_rows, H));
        if (hp->mlp_bias) {
            NAME(0, AR_GATE, ".bias"), NAME(1, AR_UP, ".bias");
            for (int i = 0; i < 2; i++) TRY(read_f32(m, n[i], I, 0, &p[i], NULL));
            TRY(cat_vec(m, &w->bup, 2, p, gu_rows, n[0]));
        }
    } else {
        NAME(0, AR_UP, ".weight");
        TRY(load_linear(m, &w->wup, I, H, n[0]));
        if (hp->mlp_bias) {
        NAME(0, AR_UP, ".bias");
        TRY(load_f32(m, &w->bup, I, 0, n[0]));
    }
    }
    NAME(0, AR_DOWN, ".weight");
    TRY(load_linear(m, &w->wdown, H, I, n[0]));
    if (hp->mlp_bias) {
        NAME(0, AR_DOWN, ".bias");
        TRY(load_f32(m, &w->bdown, H, 0, n[0]));
    }
#undef NAME
    if (d->flags & ARCH_F_NORM_SHIFT) { /* the norms scale by 1 + w */
        dec_w *norms[] = {&w->ln1_w, &w->ln2_w, &w->q_norm, &w->k_norm, &w->post_attn, &w->post_ffn};
        for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) TRY(blk_shift_norm(m, norms[i]));
    }
    st = SENTI_OK;
fail:
    for (int i = 0; i < 3; i++) senti_mfree(p[i]);
    return st;
}

/* The output projection: lm_head.weight, or the token embeddings when tied
 * (converted to the weight type when one is asked for). */
static senti_status load_lm_head_w(senti_model *m, dec_model *d) {
    const dec_hparams *hp = &d->hp;
    char name[160];
    if (!hp->tied) {
        if (!arch_tensor_name(hp->d, "", AR_LM_HEAD, 0, ".weight", name, sizeof name))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: the model has no output projection", m->dir);
        return load_matmul(m, &d->lm_head, hp->vocab, hp->hidden, name);
    }
    const senti_type type = matmul_type(m, d->tok_emb.type, hp->hidden);
    if (type == d->tok_emb.type) {
        d->lm_head = d->tok_emb;
        d->lm_head.own = NULL; /* borrowed from tok_emb */
        return SENTI_OK;
    }
    float *f = (float *)d->tok_emb.data;
    if (d->tok_emb.type != SENTI_TYPE_F32) { /* a quantized table: dequantized for another type */
        const size_t rs = senti_row_size(d->tok_emb.type, hp->hidden);
        if (!(f = senti_malloc((size_t)(hp->vocab * hp->hidden) * sizeof *f + 1))) return oom(m, "the tied lm_head");
        for (int64_t r = 0; r < hp->vocab; r++)
            senti_row_to_f32(d->tok_emb.type, (const char *)d->tok_emb.data + (size_t)r * rs, f + r * hp->hidden,
                             hp->hidden);
    }
    senti_status st = pack_matmul(m, &d->lm_head, type, hp->hidden, 1, &f, &hp->vocab, "tied lm_head");
    if (f != d->tok_emb.data) senti_mfree(f);
    return st;
}

static senti_status load_lm_head(senti_model *m, dec_model *d) {
    senti_status st = load_lm_head_w(m, d);
    return st == SENTI_OK ? blk_check_finite(m, &d->lm_head, d->hp.tied ? "lm_head (tied to the token embeddings)"
                                                                         : "lm_head.weight") : st;
}

/* The token embeddings [V, H]: f32, or a GGUF file's quantized table kept as
 * stored (get_rows and a tied LM head read it as it is). */
static senti_status load_embeddings(const senti_model *m, dec_w *out, int64_t V, int64_t H, const char *name) {
    const st_tensor *t = st_weights_find(m->w, name);
    if (!t || !senti_type_is_quant(t->type) || t->ndim != 2 || t->shape[0] != V || t->shape[1] != H ||
        H % senti_type_block(t->type) || !st_tensor_is_aligned(t, 2))
        return load_f32(m, out, V, H, name);
    *out = (dec_w){t->data, NULL, t->type, 2, {V, H}};
    return SENTI_OK;
}

static senti_status dec_load(senti_model *m) {
    senti_status st;
    dec_model *d = senti_calloc(1, sizeof *d);
    if (!d) return oom(m, "the model");
    m->impl = d;
    dec_hparams *hp = &d->hp;
    TRY(read_hparams(m, hp));
    const arch_desc *ad = hp->d;
    const int64_t H = hp->hidden;
    const bool ln_bias = ad->norm == ARCH_NORM_LAYER && (ad->flags & ARCH_F_BIAS);
    char n[160];
#define NAME(role, suf) name_of(ad, role, 0, suf, n)
    NAME(AR_TOK_EMB, ".weight");
    TRY(load_embeddings(m, &d->tok_emb, hp->vocab, H, n));
    if (ad->pos == ARCH_POS_ABSOLUTE) {
        NAME(AR_POS_EMB, ".weight");
        TRY(load_f32(m, &d->pos_emb, hp->max_pos, H, n));
    }
    NAME(AR_OUT_NORM, ".weight");
    TRY(load_f32(m, &d->norm_w, H, 0, n));
    if (ad->flags & ARCH_F_NORM_SHIFT) TRY(blk_shift_norm(m, &d->norm_w));
    if (ln_bias) {
        NAME(AR_OUT_NORM, ".bias");
        TRY(load_f32(m, &d->norm_b, H, 0, n));
    }
#undef NAME
    d->layer = senti_calloc((size_t)hp->layers, sizeof *d->layer);
    if (!d->layer) {
        st = oom(m, "the layers");
        goto fail;
    }
    for (int64_t l = 0; l < hp->layers; l++) TRY(load_layer(m, hp, l, &d->layer[l]));
    TRY(load_lm_head(m, d));
    unsigned held = ST_TYPE_BIT(d->lm_head.type);
    for (int64_t l = 0; l < hp->layers; l++) {
        const dec_layer *y = &d->layer[l];
        held |= ST_TYPE_BIT(y->wqkv.type) | ST_TYPE_BIT(y->wo.type) | ST_TYPE_BIT(y->wup.type) |
                ST_TYPE_BIT(y->wdown.type);
    }
    for (int t = 0; t < SENTI_TYPE_COUNT; t++)
        if (held & ST_TYPE_BIT(t)) {
            const size_t k = strlen(d->wtypes);
            snprintf(d->wtypes + k, sizeof d->wtypes - k, "%s%s", k ? "," : "", senti_type_name((senti_type)t));
        }
    TRY(window_layers(m, d));
    if (ad->pos == ARCH_POS_ROPE && hp->rope.kind == BLK_ROPE_LLAMA3)
        TRY(blk_llama3_factors(m, &hp->rope, &d->freq_factors));

    m->hidden = H, m->layers = hp->layers, m->heads = hp->heads, m->vocab = hp->vocab;
    m->type_vocab = 0, m->num_labels = 0;
    TRY(cfg_opt_int(m->cfg, "pad_token_id", ad->pad_default, &m->pad_id));
    /* dynamic NTK rope exists to run past max_position_embeddings */
    m->max_pos = ad->pos == ARCH_POS_ROPE && hp->rope.kind == BLK_ROPE_DYNAMIC
                     ? (int64_t)((double)hp->max_pos * hp->rope.factor)
                     : hp->max_pos;
    return SENTI_OK;
fail:
    return st;
}

/* ---- graph --------------------------------------------------------------------------- */

#define W model_w_leaf

#define linear blk_linear

static senti_tensor *norm(senti_graph *g, const dec_hparams *hp, senti_tensor *x, const dec_w *w, const dec_w *b) {
    return blk_norm(g, hp->d->norm, x, w, b, hp->eps);
}

/* A run of batch entries attended together: slots s0 .. s0+nb-1 (consecutive
 * in the cache), each with n new tokens, packed rows [row0, row0 + nb*n). */
typedef struct dec_group {
    int64_t first;        /* index into the lm_forward arrays */
    int64_t s0, nb, n, row0;
    int64_t tk;           /* keys: max over the group of len + n */
    bool ragged;          /* the slots hold different lengths */
    senti_tensor *mask;   /* f32 [nb, 1, n, tk] causal + padding of shorter slots; NULL when
                           * not ragged (the op's causal rule is then exact) or unused */
    senti_tensor *mask_w; /* the same with the sliding window, or NULL */
} dec_group;

typedef struct dec_batch {
    int64_t N, n_out;
    dec_group *grp;
    int64_t n_grp;
    senti_tensor *ids, *pos, *rows, *out_rows; /* i32 [N], [N], [N], [n_out] (NULL: all rows) */
} dec_batch;

/* One layer's attention over the cache: new K/V rows stored at `rows`, then
 * every group attends over its slots' first tk cache rows. */
/* Rotary angle settings of one call: the global layers' and the local ones'. */
typedef struct dec_rope_call {
    float theta, freq_scale, theta_local, freq_scale_local;
} dec_rope_call;

static senti_tensor *attention(senti_graph *g, const dec_model *d, const lm_cache *c, dec_batch *b, int64_t l,
                               senti_tensor *h, const dec_rope_call *rc) {
    const dec_hparams *hp = &d->hp;
    const dec_layer *w = &d->layer[l];
    const int64_t N = b->N, D = hp->head_dim, HQ = hp->heads, HKV = hp->kv_heads;
    const int64_t HQK = HQ + HKV;
    senti_tensor *qkv = linear(g, h, &w->wqkv, &w->bqkv); /* [N, (HQ + 2 HKV) D]: q | k | v heads */
    senti_tensor *v2 = op_slice(g, qkv, 1, HQK * D, (HQK + HKV) * D); /* [N, HKV D] */
    /* q and k rotate together (adjacent heads, same positions): one rope over
     * the first HQK heads -> [N, HQK D]; without rope they stay in qkv */
    senti_tensor *qk = qkv;
    int64_t width = HQK + HKV; /* heads per row of qk */
    if (hp->d->pos == ARCH_POS_ROPE) {
        const bool local = d->swa[l] && hp->rope_local.theta != hp->rope.theta;
        qk = op_slice(g, op_reshape_4d(g, qkv, 1, N, HQK + HKV, D), 2, 0, HQK);
        if (w->q_norm.data) /* per-head RMS norms of q and k (Gemma 3), before the rotation */
            qk = op_concat(g, op_rms_norm(g, op_slice(g, qk, 2, 0, HQ), W(g, &w->q_norm), hp->eps),
                           op_rms_norm(g, op_slice(g, qk, 2, HQ, HQK), W(g, &w->k_norm), hp->eps), 2);
        qk = op_rope(g, qk, b->pos, local ? NULL : W(g, &d->freq_factors), hp->rope.n_rot, false,
                     local ? rc->theta_local : rc->theta, local ? rc->freq_scale_local : rc->freq_scale);
        qk = op_reshape_2d(g, qk, N, HQK * D);
        width = HQK;
    }
    senti_tensor *k2 = op_slice(g, qk, 1, HQ * D, HQK * D); /* [N, HKV D], rows strided */
    senti_tensor *kc = graph_new_tensor_2d(g, SENTI_TYPE_F32, c->n_slot * c->n_ctx, HKV * D);
    senti_tensor *vc = graph_new_tensor_2d(g, SENTI_TYPE_F32, c->n_slot * c->n_ctx, HKV * D);
    if (!kc || !vc) return NULL;
    kc->data = c->k[l], vc->data = c->v[l];
    kc->flags = vc->flags = SENTI_TFLAG_WEIGHT;
    /* write first; read the cache only through the results */
    kc = op_reshape_4d(g, op_set_rows(g, kc, k2, b->rows), c->n_slot, c->n_ctx, HKV, D);
    vc = op_reshape_4d(g, op_set_rows(g, vc, v2, b->rows), c->n_slot, c->n_ctx, HKV, D);
    float scale = hp->attn_scale; /* 1 / sqrt(query_pre_attn_scalar, default D) */
    if (hp->scale_by_layer) scale /= (float)(l + 1);
    senti_tensor *out = NULL;
    for (int64_t i = 0; i < b->n_grp; i++) {
        const dec_group *gr = &b->grp[i];
        /* the group's rows [nb, n, width, D], its query heads [nb, n, HQ, D] (strided) */
        senti_tensor *qg = op_reshape_4d(g, op_slice(g, qk, 0, gr->row0, gr->row0 + gr->nb * gr->n), gr->nb, gr->n,
                                         width, D);
        qg = op_slice(g, qg, 2, 0, HQ);
        senti_tensor *kg = op_slice(g, op_slice(g, kc, 0, gr->s0, gr->s0 + gr->nb), 1, 0, gr->tk);
        senti_tensor *vg = op_slice(g, op_slice(g, vc, 0, gr->s0, gr->s0 + gr->nb), 1, 0, gr->tk);
        senti_tensor *mask = d->swa[l] ? gr->mask_w : gr->mask;
        senti_tensor *a = op_attention(g, qg, kg, vg, mask, scale, mask == NULL); /* [nb, n, HQ, D] */
        a = op_reshape_2d(g, a, gr->nb * gr->n, HQ * D);
        out = out ? op_concat(g, out, a, 0) : a;
    }
    return linear(g, out, &w->wo, &w->bo); /* [N, H] */
}

static senti_tensor *mlp(senti_graph *g, const dec_model *d, int64_t l, senti_tensor *h) {
    const dec_hparams *hp = &d->hp;
    const dec_layer *w = &d->layer[l];
    /* plain: down(act(up h)); gated: [N, 2I] = gate | up -> down(act(gate) * up) */
    return blk_mlp(g, hp->d->mlp, hp->act, h, hp->inter, &w->wup, &w->bup, &w->wdown, &w->bdown);
}

/* The whole forward for the packed batch -> logits [n_out, V]. */
static senti_tensor *dec_build(const dec_model *d, const lm_cache *c, senti_graph *g, dec_batch *b,
                               const dec_rope_call *rc) {
    const dec_hparams *hp = &d->hp;
    const int64_t N = b->N;
    b->ids = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->rows = graph_new_tensor_1d(g, SENTI_TYPE_I32, N);
    b->out_rows = b->n_out < N ? graph_new_tensor_1d(g, SENTI_TYPE_I32, b->n_out) : NULL;
    bool any_full = false, any_swa = false;
    for (int64_t l = 0; l < hp->layers; l++) any_swa |= d->swa[l], any_full |= !d->swa[l];
    for (int64_t i = 0; i < b->n_grp; i++) {
        dec_group *gr = &b->grp[i];
        gr->mask = gr->ragged && any_full ? graph_new_tensor_4d(g, SENTI_TYPE_F32, gr->nb, 1, gr->n, gr->tk) : NULL;
        gr->mask_w = any_swa ? graph_new_tensor_4d(g, SENTI_TYPE_F32, gr->nb, 1, gr->n, gr->tk) : NULL;
    }
    senti_tensor *x = op_get_rows(g, W(g, &d->tok_emb), b->ids); /* [N, H] */
    if (hp->d->pos == ARCH_POS_ABSOLUTE) x = op_add(g, x, op_get_rows(g, W(g, &d->pos_emb), b->pos));
    if (hp->d->flags & ARCH_F_EMB_SCALE) x = op_scale(g, x, (float)sqrt((double)hp->hidden)); /* Gemma: * sqrt(H) */
    for (int64_t l = 0; l < hp->layers; l++) {
        const dec_layer *w = &d->layer[l];
        senti_tensor *a = attention(g, d, c, b, l, norm(g, hp, x, &w->ln1_w, &w->ln1_b), rc);
        if (w->post_attn.data) a = norm(g, hp, a, &w->post_attn, NULL); /* Gemma: norm before the residual */
        x = op_add(g, x, a);
        senti_tensor *f = mlp(g, d, l, norm(g, hp, x, &w->ln2_w, &w->ln2_b));
        if (w->post_ffn.data) f = norm(g, hp, f, &w->post_ffn, NULL);
        x = op_add(g, x, f);
    }
    if (b->out_rows) x = op_get_rows(g, x, b->out_rows); /* only the rows whose logits are wanted */
    x = norm(g, hp, x, &d->norm_w, &d->norm_b);
    x = op_matmul(g, x, W(g, &d->lm_head), false, true); /* [n_out, V] */
    if (hp->softcap > 0) x = op_scale(g, op_tanh(g, op_scale(g, x, 1.0f / hp->softcap)), hp->softcap);
    return x;
}

/* ---- lm.h ------------------------------------------------------------------------------ */

bool lm_is_causal(const senti_model *m) { return m && m->desc && m->desc->family == &model_family_decoder; }
bool lm_is_generative(const senti_model *m) { return lm_is_causal(m) || lm_is_encdec(m); }
int64_t lm_vocab(const senti_model *m) { return m->vocab; }
int64_t lm_max_ctx(const senti_model *m) { return m->max_pos; }
const char *lm_weight_types(const senti_model *m) {
    return lm_is_encdec(m) ? senti_model_weight_dtypes(m) : ((const dec_model *)m->impl)->wtypes;
}

lm_cache *lm_cache_new(senti_model *m, int64_t n_slot, int64_t n_ctx) {
    if (!lm_is_generative(m)) {
        senti_error(SENTI_ERR_INVALID_ARG, "lm_cache_new: %s is not a generative language model",
                    m ? m->dir : "(null)");
        return NULL;
    }
    if (n_slot < 1 || n_ctx < 1 || n_ctx > lm_max_ctx(m) || n_slot > (1 << 20)) {
        senti_error(SENTI_ERR_INVALID_ARG, "lm_cache_new: %lld slots of %lld tokens (the model takes 1..%lld)",
                    (long long)n_slot, (long long)n_ctx, (long long)lm_max_ctx(m));
        return NULL;
    }
    lm_cache *c = senti_calloc(1, sizeof *c);
    size_t bytes;
    if (!c) goto oom;
    c->m = m, c->n_slot = n_slot, c->n_ctx = n_ctx;
    if (lm_is_encdec(m)) { /* the decoder stack's self-attention, plus each slot's encoded input */
        encdec_cache_dims(m, &c->layers, &c->row);
        c->xsrc = senti_malloc((size_t)n_slot * sizeof *c->xsrc);
        c->xlen = senti_calloc((size_t)n_slot, sizeof *c->xlen);
        c->x = senti_calloc((size_t)n_slot, sizeof *c->x);
        if (!c->xsrc || !c->xlen || !c->x) goto oom;
        for (int64_t s = 0; s < n_slot; s++) c->xsrc[s] = -1;
    } else {
        const dec_model *d = m->impl;
        c->layers = d->hp.layers, c->row = d->hp.kv_heads * d->hp.head_dim;
    }
    c->len = senti_calloc((size_t)n_slot, sizeof *c->len);
    c->k = senti_calloc((size_t)c->layers, sizeof *c->k);
    c->v = senti_calloc((size_t)c->layers, sizeof *c->v);
    if (!c->len || !c->k || !c->v) goto oom;
    if (!senti_mul_ok((size_t)(n_slot * n_ctx), (size_t)c->row * sizeof(float), &bytes) || n_slot * n_ctx > INT32_MAX)
        goto oom;
    for (int64_t l = 0; l < c->layers; l++) {
        /* zeroed: rows never written stay finite (a masked key times 0 is 0) */
        c->k[l] = senti_calloc(1, bytes);
        c->v[l] = senti_calloc(1, bytes);
        if (!c->k[l] || !c->v[l]) goto oom;
    }
    return c;
oom:
    lm_cache_free(c);
    senti_error(SENTI_ERR_NO_MEMORY, "lm_cache_new: out of memory for %lld slots of %lld tokens", (long long)n_slot,
                (long long)n_ctx);
    return NULL;
}

void lm_cache_free(lm_cache *c) {
    if (!c) return;
    for (int64_t l = 0; l < c->layers; l++) {
        if (c->k) senti_mfree(c->k[l]);
        if (c->v) senti_mfree(c->v[l]);
    }
    for (int64_t s = 0; c->x && s < c->n_slot; s++) senti_mfree(c->x[s]);
    senti_mfree(c->x);
    senti_mfree(c->xsrc);
    senti_mfree(c->xlen);
    senti_mfree(c->k);
    senti_mfree(c->v);
    senti_mfree(c->len);
    senti_mfree(c);
}

int64_t lm_cache_slots(const lm_cache *c) { return c->n_slot; }
int64_t lm_cache_ctx(const lm_cache *c) { return c->n_ctx; }
int64_t lm_cache_len(const lm_cache *c, int64_t slot) {
    return slot >= 0 && slot < c->n_slot ? c->len[slot] : -1;
}

senti_status lm_cache_truncate(lm_cache *c, int64_t slot, int64_t len) {
    if (!c || slot < 0 || slot >= c->n_slot)
        return senti_error(SENTI_ERR_INVALID_ARG, "lm_cache_truncate: slot %lld outside [0, %lld)", (long long)slot,
                           (long long)(c ? c->n_slot : 0));
    if (len < 0 || len > c->len[slot])
        return senti_error(SENTI_ERR_INVALID_ARG, "lm_cache_truncate: length %lld outside [0, %lld] of slot %lld",
                           (long long)len, (long long)c->len[slot], (long long)slot);
    c->len[slot] = len;
    return SENTI_OK;
}

senti_status lm_cache_copy(lm_cache *c, int64_t dst, int64_t src) {
    if (!c || dst < 0 || dst >= c->n_slot || src < 0 || src >= c->n_slot)
        return senti_error(SENTI_ERR_INVALID_ARG, "lm_cache_copy: slots %lld <- %lld outside [0, %lld)",
                           (long long)dst, (long long)src, (long long)(c ? c->n_slot : 0));
    if (dst == src) return SENTI_OK;
    const size_t slot_floats = (size_t)(c->n_ctx * c->row), n = (size_t)(c->len[src] * c->row) * sizeof(float);
    if (c->xsrc) c->xsrc[dst] = c->xsrc[src]; /* shares src's encoded input */
    for (int64_t l = 0; l < c->layers; l++) {
        memcpy(c->k[l] + (size_t)dst * slot_floats, c->k[l] + (size_t)src * slot_floats, n);
        memcpy(c->v[l] + (size_t)dst * slot_floats, c->v[l] + (size_t)src * slot_floats, n);
    }
    c->len[dst] = c->len[src];
    return SENTI_OK;
}

/* Check everything lm_forward is given before anything runs. */
static senti_status check_args(const senti_model *m, const lm_cache *c, int64_t n, const int64_t *slot,
                               const int32_t *const *tokens, const int64_t *n_tok) {
    if (!lm_is_generative(m) || !c || c->m != m || n < 0 || (n > 0 && (!slot || !tokens || !n_tok)))
        return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: bad arguments (model, cache of this model, %lld slots)",
                           (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (slot[i] < 0 || slot[i] >= c->n_slot)
            return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: slot %lld (entry %lld) outside [0, %lld)",
                               (long long)slot[i], (long long)i, (long long)c->n_slot);
        for (int64_t j = 0; j < i; j++)
            if (slot[j] == slot[i])
                return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: slot %lld given twice (entries %lld and %lld)",
                                   (long long)slot[i], (long long)j, (long long)i);
        if (n_tok[i] < 0 || (n_tok[i] > 0 && !tokens[i]))
            return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: entry %lld has %lld tokens%s", (long long)i,
                               (long long)n_tok[i], n_tok[i] > 0 ? " and no token array" : "");
        if (n_tok[i] > c->n_ctx - c->len[slot[i]])
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "lm_forward: slot %lld holds %lld tokens; %lld more exceed its context of %lld",
                               (long long)slot[i], (long long)c->len[slot[i]], (long long)n_tok[i], (long long)c->n_ctx);
        for (int64_t t = 0; t < n_tok[i]; t++)
            if (tokens[i][t] < 0 || tokens[i][t] >= m->vocab)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "lm_forward: token id %d at position %lld of slot %lld is outside the vocabulary "
                                   "[0, %lld)",
                                   tokens[i][t], (long long)t, (long long)slot[i], (long long)m->vocab);
    }
    return SENTI_OK;
}

/* Group the entries: consecutive entries with consecutive slots and the same
 * token count attend in one op. grp needs n entries. */
static void make_groups(const lm_cache *c, int64_t n, const int64_t *slot, const int64_t *n_tok, dec_batch *b) {
    int64_t row = 0;
    b->n_grp = 0;
    for (int64_t i = 0; i < n; i++) {
        if (n_tok[i] == 0) continue;
        dec_group *gr = b->n_grp ? &b->grp[b->n_grp - 1] : NULL;
        const int64_t tk = c->len[slot[i]] + n_tok[i];
        if (gr && gr->n == n_tok[i] && gr->first + gr->nb == i && gr->s0 + gr->nb == slot[i]) {
            gr->nb++;
            gr->ragged |= tk != gr->tk;
            if (tk > gr->tk) gr->tk = tk;
        } else {
            b->grp[b->n_grp++] = (dec_group){.first = i, .s0 = slot[i], .nb = 1, .n = n_tok[i], .row0 = row, .tk = tk};
        }
        row += n_tok[i];
    }
}

/* Query t of a slot holding len tokens sits at len + t and sees keys j <= it
 * (and, with a window W, j > it - W, as HF's sliding-window mask). */
static void fill_mask(senti_tensor *mask, const lm_cache *c, const dec_group *gr, const int64_t *slot, int64_t window) {
    float *p = mask->data;
    for (int64_t b = 0; b < gr->nb; b++) {
        const int64_t len = c->len[slot[gr->first + b]];
        for (int64_t t = 0; t < gr->n; t++) {
            const int64_t at = len + t;
            for (int64_t j = 0; j < gr->tk; j++)
                *p++ = (j <= at && (window <= 0 || j > at - window)) ? 0.0f : -INFINITY;
        }
    }
}

/* Rotary theta for this call: dynamic NTK rescales the base when the longest
 * sequence in the batch runs past max_position_embeddings (HF recomputes it
 * from max(position_ids) + 1 at every forward). */
static void rope_params(const dec_hparams *hp, const blk_rope *r, int64_t seq_len, float *theta, float *freq_scale) {
    double th = r->theta;
    *freq_scale = r->kind == BLK_ROPE_LINEAR ? (float)(1.0 / r->factor) : 1.0f;
    if (r->kind == BLK_ROPE_DYNAMIC && seq_len > hp->max_pos) {
        const double dim = r->n_rot;
        th *= pow(r->factor * (double)seq_len / (double)hp->max_pos - (r->factor - 1), dim / (dim - 2));
    }
    *theta = (float)th;
}

senti_status lm_forward(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot, const int32_t *const *tokens,
                        const int64_t *n_tok, bool all_logits, float *logits) {
    senti_status st = check_args(m, c, n, slot, tokens, n_tok);
    if (st != SENTI_OK) return st;
    if (lm_is_encdec(m)) return encdec_lm_forward(m, c, n, slot, tokens, n_tok, all_logits, logits);
    const dec_model *d = m->impl;
    dec_batch b = {0};
    int64_t seq_len = 0;
    for (int64_t i = 0; i < n; i++) {
        b.N += n_tok[i];
        if (n_tok[i] > 0) {
            b.n_out += all_logits ? n_tok[i] : 1;
            if (c->len[slot[i]] + n_tok[i] > seq_len) seq_len = c->len[slot[i]] + n_tok[i];
        }
    }
    if (b.N == 0) return SENTI_OK;
    if (b.N > INT32_MAX) return senti_error(SENTI_ERR_INVALID_ARG, "lm_forward: %lld tokens in one batch", (long long)b.N);
    senti_graph *g = NULL;
    b.grp = senti_calloc((size_t)n, sizeof *b.grp);
    if (!b.grp || !(g = graph_init())) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "lm_forward: out of memory");
        goto fail;
    }
    make_groups(c, n, slot, n_tok, &b);
    dec_rope_call rc;
    rope_params(&d->hp, &d->hp.rope, seq_len, &rc.theta, &rc.freq_scale);
    rope_params(&d->hp, &d->hp.rope_local, seq_len, &rc.theta_local, &rc.freq_scale_local);
    senti_tensor *y = dec_build(d, c, g, &b, &rc);
    if (!y || g->status != SENTI_OK) {
        st = senti_error(g->status != SENTI_OK ? g->status : SENTI_ERR_NO_MEMORY, "%s: building the graph: %s",
                         m->dir, g->err);
        goto fail;
    }
    graph_set_output(y);
    TRY(exec_prepare(m->ex, g));
    /* inputs: packed ids, positions, cache rows; the rows whose logits are kept */
    int32_t *ids = b.ids->data, *pos = b.pos->data, *rows = b.rows->data;
    int32_t *orow = b.out_rows ? b.out_rows->data : NULL;
    for (int64_t i = 0, r = 0, o = 0; i < n; i++) {
        const int64_t len = c->len[slot[i]];
        for (int64_t t = 0; t < n_tok[i]; t++, r++) {
            ids[r] = tokens[i][t];
            pos[r] = (int32_t)(len + t);
            rows[r] = (int32_t)(slot[i] * c->n_ctx + len + t);
        }
        if (orow && n_tok[i] > 0) orow[o++] = (int32_t)(r - 1);
    }
    for (int64_t i = 0; i < b.n_grp; i++) {
        if (b.grp[i].mask) fill_mask(b.grp[i].mask, c, &b.grp[i], slot, 0);
        if (b.grp[i].mask_w) fill_mask(b.grp[i].mask_w, c, &b.grp[i], slot, d->hp.window);
    }
    TRY(exec_compute(m->ex, g));
    for (int64_t i = 0; i < n; i++) c->len[slot[i]] += n_tok[i];
    if (logits) {
        const size_t rs = (size_t)m->vocab * sizeof(float);
        const float *yd = y->data;
        if (all_logits) {
            memcpy(logits, yd, (size_t)b.n_out * rs);
        } else {
            for (int64_t i = 0, o = 0; i < n; i++)
                if (n_tok[i] > 0) memcpy(logits + i * m->vocab, yd + (o++) * m->vocab, rs);
        }
    }
    st = SENTI_OK;
fail:
    graph_free(g);
    senti_mfree(b.grp);
    return st;
}

/* ---- senti_model_forward: logits [B, T, V] of a right-padded batch --------------------------- */

static senti_status dec_forward(senti_model *m, const model_input *x, float **out, int64_t shape[3], int *ndim) {
    const int64_t B = x->B, T = x->T, V = m->vocab;
    senti_status st;
    int64_t *slot = senti_calloc((size_t)B, sizeof *slot), *n_tok = senti_calloc((size_t)B, sizeof *n_tok), total = 0;
    const int32_t **tok = senti_calloc((size_t)B, sizeof *tok);
    float *all = NULL;
    lm_cache *c = NULL;
    *out = NULL;
    if (!slot || !n_tok || !tok) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    for (int64_t b = 0; b < B; b++) {
        slot[b] = b, tok[b] = x->ids + b * T;
        while (n_tok[b] < T && (!x->mask || x->mask[b * T + n_tok[b]])) n_tok[b]++;
        for (int64_t t = n_tok[b]; x->mask && t < T; t++)
            if (x->mask[b * T + t]) {
                st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: a decoder batch must be right-padded (row %lld)", m->dir,
                                 (long long)b);
                goto fail;
            }
        total += n_tok[b];
    }
    if (!(c = lm_cache_new(m, B, T))) {
        st = T > lm_max_ctx(m) ? SENTI_ERR_INVALID_ARG : SENTI_ERR_NO_MEMORY;
        goto fail;
    }
    *out = senti_calloc((size_t)(B * T * V), sizeof **out);
    all = senti_malloc((size_t)(total * V) * sizeof *all + 1);
    if (!*out || !all) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory for the logits");
        goto fail;
    }
    TRY(lm_forward(m, c, B, slot, tok, n_tok, true, all));
    for (int64_t b = 0, r = 0; b < B; r += n_tok[b], b++)
        memcpy(*out + b * T * V, all + r * V, (size_t)(n_tok[b] * V) * sizeof **out);
    *ndim = 3, shape[0] = B, shape[1] = T, shape[2] = V;
    st = SENTI_OK;
fail:
    if (st != SENTI_OK) {
        senti_mfree(*out);
        *out = NULL;
    }
    lm_cache_free(c);
    senti_mfree(all);
    senti_mfree(slot);
    senti_mfree(n_tok);
    senti_mfree(tok);
    return st;
}

/* ---- llama.cpp files ---------------------------------------------------------------------
 * What a llama.cpp decoder file says beyond the table's keys: a tied output
 * (no output.weight), attention biases, linear rope scaling; llama3 rope
 * factors (rope_freqs) and other scalings are refused. */
static senti_status dec_gguf_config(const arch_desc **dp, const gguf_file *f, void *cfg) {
    const arch_desc *d = *dp;
    json_t *c = cfg;
    const char *path = gguf_file_path(f), *scaling = NULL;
    char k[128];
    double factor = 1.0;
    senti_status st;
    if (d->flags & ARCH_F_BIAS) return SENTI_OK; /* GPT-2: tied, biased by definition */
    snprintf(k, sizeof k, "%s.rope.scaling.type", d->gguf_arch);
    if ((st = gguf_kv_str(f, k, &scaling))) return st;
    snprintf(k, sizeof k, "%s.rope.scaling.factor", d->gguf_arch);
    if ((st = gguf_kv_float(f, k, 1.0, &factor))) return st;
    if (gguf_file_find_tensor(f, "rope_freqs.weight"))
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor 'rope_freqs.weight' (llama3 rope) is not supported in "
                           "llama.cpp files; convert the HF checkpoint with senti convert", path);
    if (scaling && strcmp(scaling, "none") != 0 && strcmp(scaling, "linear") != 0)
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported in llama.cpp files", path,
                           scaling);
    const bool tied = gguf_file_find_tensor(f, "output.weight") == NULL;
    if (json_object_set_new(c, "tie_word_embeddings", json_boolean(tied)) ||
        json_object_set_new(c, "attention_bias",
                            json_boolean(gguf_file_find_tensor(f, "blk.0.attn_output.bias") != NULL)))
        goto oom;
    if (scaling && strcmp(scaling, "linear") == 0) {
        if (!isfinite(factor) || factor <= 0.0)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' is %g: must be finite > 0", path, k, factor);
        json_t *rs = json_object();
        if (!rs || json_object_set_new(c, "rope_scaling", rs) ||
            json_object_set_new(rs, "rope_type", json_string("linear")) ||
            json_object_set_new(rs, "factor", json_real(factor)))
            goto oom;
    }
    return SENTI_OK;
oom:
    return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
}

const model_family model_family_decoder = {"decoder", dec_load, dec_forward, dec_free, dec_gguf_config, false};
