/* gguf_convert.c — an HF model directory (config.json, safetensors, tokenizer
 * files) written as one GGUF file that llama.cpp's tools and the Python gguf
 * package read and that senti runs with the same outputs.
 *
 * What is written (llama.cpp's keys and tensor names, see gguf_model.c for
 * the name tables). Encoders, architecture "bert":
 *   general.architecture "bert", general.name, general.file_type,
 *   bert.context_length / embedding_length / feed_forward_length /
 *   block_count / attention.head_count / attention.layer_norm_epsilon /
 *   attention.causal (false) / pooling_type (CLS for sequence classifiers),
 *   bert.classifier.output_labels (id2label in id order, when present),
 *   tokenizer.ggml.token_type_count,
 *   senti.hf.config            the config.json text (senti reads the model from it)
 *   tokenizer.huggingface.json the tokenizer.json text, when the directory has one
 *   senti.hf.tokenizer_config  tokenizer_config.json text, when present
 *   senti.hf.vocab_txt         vocab.txt text, when there is no tokenizer.json
 * Decoders, architecture "llama" (LLaMA, Mistral), "qwen2" or "gpt2":
 *   {arch}.context_length / embedding_length / feed_forward_length /
 *   block_count / attention.head_count / attention.head_count_kv /
 *   attention.key_length / attention.layer_norm_rms_epsilon (gpt2:
 *   layer_norm_epsilon) / rope.freq_base / rope.scaling.type + factor
 *   (linear scaling only; other rope types live in senti.hf.config alone),
 *   plus senti.hf.config, senti.hf.generation_config and the tokenizer keys.
 *   LLaMA / Mistral q and k rows are permuted as llama.cpp's converter does;
 *   GPT-2's Conv1D weights are stored transposed ([out, in]), as llama.cpp's.
 * Encoder heads: a sequence classifier's dense layer is "cls" and its output
 * projection "cls.output" (llama.cpp's rank-pooling head, same maths for BERT
 * and RoBERTa); a base BERT / RoBERTa's pooler is "cls" (optional in
 * llama.cpp); token classifiers keep "classifier.*" (llama.cpp has no such head).
 * Tensors: the layers' 2-D linear weights, the encoders' sequence-head dense
 * layer ("cls") and the decoders' output projection in the requested type;
 * everything else (embeddings, norms, biases, the classifier's output
 * projection) in f32. Names: llama.cpp's where one exists, else (encoders'
 * token-classification heads) the HF name without the base-model prefix;
 * decoder tensors without a llama.cpp name (rotary buffers, GPT-2's causal
 * mask buffers) are left out.
 *
 * Invariant: tensor buffers live until the writer has written the file. */
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#include "model.h"

/* Whole file as a NUL-terminated string; NULL (no error) when absent. */
static senti_status read_text(const char *path, char **out, bool *present) {
    *out = NULL;
    *present = false;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return SENTI_OK;
    FILE *fp = fopen(path, "rb");
    if (!fp) return senti_error(SENTI_ERR_IO, "%s: cannot open", path);
    char *b = senti_malloc((size_t)sb.st_size + 1);
    if (!b) {
        fclose(fp);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    size_t n = fread(b, 1, (size_t)sb.st_size, fp);
    fclose(fp);
    if (n != (size_t)sb.st_size) {
        senti_mfree(b);
        return senti_error(SENTI_ERR_IO, "%s: short read", path);
    }
    b[n] = '\0';
    *out = b;
    *present = true;
    return SENTI_OK;
}

/* llama.cpp's general.file_type for the linear weights' type. */
static uint32_t file_type(senti_type t) {
    switch (t) {
    case SENTI_TYPE_F16: return 1;
    case SENTI_TYPE_Q4_0: return 2;
    case SENTI_TYPE_Q8_0: return 7;
    case SENTI_TYPE_BF16: return 32;
    default: return 0;
    }
}

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if ((st = (x)) != SENTI_OK) goto done;                                                                         \
    } while (0)

typedef struct conv {
    gguf_writer *w;
    void **bufs; /* tensor data and strings kept until the write */
    int64_t nbufs, cap;
} conv;

static void *keep(conv *c, void *p) {
    if (!p) return NULL;
    if (c->nbufs == c->cap) {
        int64_t cap = c->cap ? c->cap * 2 : 64;
        void **nb = senti_malloc((size_t)cap * sizeof *nb);
        if (!nb) {
            senti_mfree(p);
            return NULL;
        }
        if (c->nbufs) memcpy(nb, c->bufs, (size_t)c->nbufs * sizeof *nb);
        senti_mfree(c->bufs);
        c->bufs = nb, c->cap = cap;
    }
    c->bufs[c->nbufs++] = p;
    return p;
}

static senti_status kv_u32(conv *c, const char *k, uint64_t v) { return gguf_writer_add_kv(c->w, k, gguf_val_uint(GGUF_VT_U32, v)); }

/* Layout changes on the way to llama.cpp's form (see gguf_model.c). */
typedef struct xform {
    int64_t n_head;  /* > 0: LLaMA rope row permutation with this many heads */
    bool transpose;  /* GPT-2 Conv1D [in, out] -> [out, in] */
} xform;

/* One tensor: read as f32, rearranged by x, stored as `type` (rows of the innermost dim). */
static senti_status add_tensor(conv *c, const char *src, const st_tensor *t, const char *name, senti_type type,
                               const xform *x) {
    float *f = keep(c, senti_malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float)));
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", src, t->name);
    senti_status st = st_tensor_read_f32(t, f);
    if (st != SENTI_OK) return st;
    int64_t ne[GGUF_MAX_DIMS] = {1, 1, 1, 1};
    int nd = t->ndim ? t->ndim : 1;
    if (nd > GGUF_MAX_DIMS) return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims", src, t->name, nd);
    for (int d = 0; d < t->ndim; d++) ne[d] = t->shape[t->ndim - 1 - d];
    if (x->n_head || x->transpose) {
        const int64_t rows = t->ndim == 2 ? t->shape[0] : t->numel, cols = t->ndim == 2 ? t->shape[1] : 1;
        float *g = keep(c, senti_malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float)));
        if (!g) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", src, t->name);
        if (x->n_head) {
            if (x->n_head < 1 || rows % (2 * x->n_head))
                return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %lld rows do not split into %lld heads", src,
                                   t->name, (long long)rows, (long long)x->n_head);
            gguf_rope_permute(f, g, rows, (size_t)cols * sizeof(float), x->n_head, true);
        } else {
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < cols; k++) g[k * rows + r] = f[r * cols + k];
            ne[0] = rows, ne[1] = cols;
        }
        f = g;
    }
    const void *data = f;
    if (type != SENTI_TYPE_F32) {
        const int64_t cols = ne[0], rows = cols ? t->numel / cols : 0;
        const size_t rs = senti_row_size(type, cols);
        char *q = keep(c, senti_malloc(rs * (size_t)(rows ? rows : 1)));
        if (!q) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", src, t->name);
        for (int64_t r = 0; r < rows; r++) senti_row_from_f32(type, f + r * cols, q + (size_t)r * rs, cols);
        data = q;
    }
    return gguf_writer_add_tensor(c->w, name, type, nd, ne, data);
}

/* The encoder's hyperparameters under llama.cpp's bert.* keys. */
static senti_status encoder_kvs(conv *c, const cfg_file *cfg, gm_family fam, bool seq) {
    senti_status st;
    const bool distil = fam == GM_DISTILBERT;
    int64_t H, L, NH, I, P, TV = 0;
    double eps = 1e-12;
    TRY(cfg_get_int(cfg, distil ? "dim" : "hidden_size", &H));
    TRY(cfg_get_int(cfg, distil ? "n_layers" : "num_hidden_layers", &L));
    TRY(cfg_get_int(cfg, distil ? "n_heads" : "num_attention_heads", &NH));
    TRY(cfg_get_int(cfg, distil ? "hidden_dim" : "intermediate_size", &I));
    TRY(cfg_get_int(cfg, "max_position_embeddings", &P));
    if (!distil) {
        TRY(cfg_opt_int(cfg, "type_vocab_size", 2, &TV));
        TRY(cfg_opt_float(cfg, "layer_norm_eps", 1e-12, &eps));
    }
    TRY(kv_u32(c, "bert.context_length", (uint64_t)P));
    TRY(kv_u32(c, "bert.embedding_length", (uint64_t)H));
    TRY(kv_u32(c, "bert.feed_forward_length", (uint64_t)I));
    TRY(kv_u32(c, "bert.block_count", (uint64_t)L));
    TRY(kv_u32(c, "bert.attention.head_count", (uint64_t)NH));
    TRY(gguf_writer_add_kv(c->w, "bert.attention.layer_norm_epsilon", gguf_val_float(GGUF_VT_F32, eps)));
    TRY(gguf_writer_add_kv(c->w, "bert.attention.causal", gguf_val_bool(false)));
    if (seq) TRY(kv_u32(c, "bert.pooling_type", 2)); /* llama.cpp's CLS pooling */
    TRY(kv_u32(c, "tokenizer.ggml.token_type_count", (uint64_t)(TV ? TV : 1)));
    const char **labels;
    int64_t nl;
    TRY(cfg_labels(cfg, &labels, &nl));
    if (nl) {
        gguf_value *items = keep(c, senti_calloc((size_t)nl, sizeof *items));
        if (!items) {
            senti_mfree(labels);
            return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        }
        for (int64_t i = 0; i < nl; i++) items[i] = gguf_val_str(labels[i]);
        st = gguf_writer_add_kv(c->w, "bert.classifier.output_labels",
                                gguf_val_arr(GGUF_VT_STRING, (uint64_t)nl, NULL, items));
        senti_mfree(labels); /* the strings belong to cfg, alive until the write */
    }
done:
    return st;
}

/* rope_theta and the rope parameters object (rope_parameters, else rope_scaling) of a decoder config. */
static senti_status rope_kvs(conv *c, const cfg_file *cfg, const char *arch) {
    char k[96];
    double theta;
    senti_status st = cfg_opt_float(cfg, "rope_theta", 10000.0, &theta);
    if (st != SENTI_OK) return st;
    json_t *root = cfg_json(cfg), *p = json_object_get(root, "rope_parameters");
    if (!json_is_object(p)) p = json_object_get(root, "rope_scaling");
    if (json_is_object(p)) {
        json_t *t = json_object_get(p, "rope_theta");
        if (json_is_number(t)) theta = json_number_value(t);
        json_t *ty = json_object_get(p, "rope_type");
        if (!json_is_string(ty)) ty = json_object_get(p, "type");
        json_t *fa = json_object_get(p, "factor");
        if (json_is_string(ty) && strcmp(json_string_value(ty), "linear") == 0 && json_is_number(fa)) {
            snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
            if ((st = gguf_writer_add_kv(c->w, k, gguf_val_str("linear")))) return st;
            snprintf(k, sizeof k, "%s.rope.scaling.factor", arch);
            if ((st = gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, json_number_value(fa))))) return st;
        }
    }
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    return gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, theta));
}

/* A decoder's hyperparameters under llama.cpp's {arch}.* keys. */
static senti_status decoder_kvs(conv *c, const cfg_file *cfg, gm_family fam) {
    senti_status st;
    const char *arch = gguf_family_arch(fam);
    const bool gpt2 = fam == GM_GPT2;
    int64_t H, L, NH, NKV, I, P, hd = 0;
    double eps;
    char k[96];
    TRY(cfg_get_int(cfg, gpt2 ? "n_embd" : "hidden_size", &H));
    TRY(cfg_get_int(cfg, gpt2 ? "n_layer" : "num_hidden_layers", &L));
    TRY(cfg_get_int(cfg, gpt2 ? "n_head" : "num_attention_heads", &NH));
    TRY(cfg_opt_int(cfg, "num_key_value_heads", NH, &NKV));
    TRY(cfg_opt_int(cfg, gpt2 ? "n_inner" : "intermediate_size", 4 * H, &I));
    if (gpt2 && !cfg_has(cfg, "n_inner")) I = 4 * H;
    TRY(cfg_get_int(cfg, gpt2 ? "n_positions" : "max_position_embeddings", &P));
    TRY(cfg_opt_float(cfg, gpt2 ? "layer_norm_epsilon" : "rms_norm_eps", gpt2 ? 1e-5 : 1e-6, &eps));
    TRY(cfg_opt_int(cfg, "head_dim", 0, &hd));
#define KV_U32(key, v) (snprintf(k, sizeof k, "%s." key, arch), kv_u32(c, k, (uint64_t)(v)))
    TRY(KV_U32("context_length", P));
    TRY(KV_U32("embedding_length", H));
    TRY(KV_U32("feed_forward_length", I));
    TRY(KV_U32("block_count", L));
    TRY(KV_U32("attention.head_count", NH));
    TRY(KV_U32("attention.head_count_kv", NKV));
    if (hd > 0) {
        TRY(KV_U32("attention.key_length", hd));
        TRY(KV_U32("attention.value_length", hd));
    }
#undef KV_U32
    snprintf(k, sizeof k, "%s.attention.%s", arch, gpt2 ? "layer_norm_epsilon" : "layer_norm_rms_epsilon");
    TRY(gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, eps)));
    if (!gpt2) TRY(rope_kvs(c, cfg, arch));
done:
    return st;
}

/* Embed file dir/name as a string key when present. */
static senti_status embed_text(conv *c, const char *dir, const char *name, const char *key, bool *present) {
    char p[4096];
    char *text;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    senti_status st = read_text(p, &text, present);
    if (st != SENTI_OK || !*present) return st;
    if (!keep(c, text)) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", p);
    return gguf_writer_add_kv(c->w, key, gguf_val_str(text));
}

senti_status gguf_convert(const char *dir, const char *out, senti_type type) {
    senti_status st = SENTI_OK;
    conv c = {0};
    cfg_file *cfg = NULL;
    st_weights *w = NULL;
    const char **archs = NULL;
    int64_t n_archs = 0;
    char path[4096];
    if (type != SENTI_TYPE_F32 && type != SENTI_TYPE_F16 && type != SENTI_TYPE_BF16 && type != SENTI_TYPE_Q8_0 &&
        type != SENTI_TYPE_Q4_0)
        return senti_error(SENTI_ERR_INVALID_ARG, "convert: type %s cannot be written (f32, f16, bf16, q8_0, q4_0)",
                           (unsigned)type < SENTI_TYPE_COUNT ? senti_type_name(type) : "?");
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(cfg = cfg_load(path)) || !(w = st_weights_load(dir))) {
        st = SENTI_ERR_BAD_FILE;
        goto done;
    }
    TRY(cfg_get_strs(cfg, "architectures", true, &archs, &n_archs));
    if (n_archs < 1) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'architectures' is empty", path);
        goto done;
    }
    const gm_family fam = gguf_family(archs[0]);
    const bool decoder = fam == GM_LLAMA || fam == GM_QWEN2 || fam == GM_GPT2;
    if (fam == GM_COUNT) {
        st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: convert: architecture '%s' is not supported", path, archs[0]);
        goto done;
    }
    const bool seq = strstr(archs[0], "ForSequenceClassification") != NULL;
    if (!(c.w = gguf_writer_init())) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    TRY(gguf_writer_add_kv(c.w, "general.architecture", gguf_val_str(gguf_family_arch(fam))));
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    TRY(gguf_writer_add_kv(c.w, "general.name", gguf_val_str(base)));
    TRY(kv_u32(&c, "general.file_type", file_type(type)));
    TRY(decoder ? decoder_kvs(&c, cfg, fam) : encoder_kvs(&c, cfg, fam, seq));
    bool present, has_json;
    TRY(embed_text(&c, dir, "config.json", "senti.hf.config", &present));
    TRY(embed_text(&c, dir, "tokenizer.json", "tokenizer.huggingface.json", &has_json));
    TRY(embed_text(&c, dir, "tokenizer_config.json", "senti.hf.tokenizer_config", &present));
    if (!has_json) TRY(embed_text(&c, dir, "vocab.txt", "senti.hf.vocab_txt", &present));
    TRY(embed_text(&c, dir, "generation_config.json", "senti.hf.generation_config", &present));

    for (int64_t i = 0; i < st_weights_count(w); i++) {
        const st_tensor *t = st_weights_get(w, i);
        if (t->type == SENTI_TYPE_COUNT || t->type == SENTI_TYPE_I32) continue; /* position_ids buffers and the like */
        char name[256];
        if (!gguf_name_from_hf(fam, seq, t->name, name, sizeof name)) {
            if (decoder) continue; /* buffers llama.cpp has no name for */
            size_t p = strlen(t->name), k = 0;
            static const char *const PFX[] = {"bert.", "roberta.", "distilbert."};
            if (strncmp(t->name, PFX[fam], strlen(PFX[fam])) == 0) k = strlen(PFX[fam]);
            if (p - k >= sizeof name) {
                st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor name '%s' is too long", st_weights_source(w), t->name);
                goto done;
            }
            snprintf(name, sizeof name, "%s", t->name + k);
        }
        const bool linear = t->ndim == 2 && (strncmp(name, "blk.", 4) == 0 || strcmp(name, "cls.weight") == 0 ||
                                             strcmp(name, "output.weight") == 0);
        xform x = {0};
        if (fam == GM_LLAMA && (strstr(name, ".attn_q.") || strstr(name, ".attn_k."))) {
            int64_t nh, nkv;
            TRY(cfg_get_int(cfg, "num_attention_heads", &nh));
            TRY(cfg_opt_int(cfg, "num_key_value_heads", nh, &nkv));
            x.n_head = strstr(name, ".attn_q.") ? nh : nkv;
        }
        x.transpose = fam == GM_GPT2 && t->ndim == 2 &&
                      (strstr(name, ".attn_qkv.") || strstr(name, ".attn_output.") || strstr(name, ".ffn_up.") ||
                       strstr(name, ".ffn_down."));
        const int64_t inner = x.transpose ? t->shape[0] : t->ndim == 2 ? t->shape[1] : 0;
        senti_type tt = SENTI_TYPE_F32;
        if (linear && (!senti_type_is_quant(type) || inner % senti_type_block(type) == 0)) tt = type;
        TRY(add_tensor(&c, st_weights_source(w), t, name, tt, &x));
    }
    TRY(gguf_writer_write(c.w, out));
done:
    for (int64_t i = 0; i < c.nbufs; i++) senti_mfree(c.bufs[i]);
    senti_mfree(c.bufs);
    gguf_writer_free(c.w);
    senti_mfree(archs);
    st_weights_free(w);
    cfg_free(cfg);
    return st;
}
