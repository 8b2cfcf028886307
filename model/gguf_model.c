/* gguf_model.c — a GGUF file presented as a HuggingFace model directory: a
 * config (embedded by senti convert, or synthesized from llama.cpp's
 * metadata keys) and a weights set whose tensors carry the HF names and
 * shapes the architecture families load. Nothing outside this file and
 * gguf_convert.c knows GGUF tensor names.
 *
 * Keys senti writes and reads besides llama.cpp's (see gguf_convert.c):
 *   senti.hf.config        string  the checkpoint's config.json text
 *   tokenizer.huggingface.json  string  tokenizer.json text (llama.cpp's key)
 * Files without senti.hf.config are llama.cpp files: architecture "bert"
 * (read as BertModel, or DistilBertModel without token_types: llama.cpp's
 * converter drops BERT's pooler, so its sequence classifiers cannot be
 * rebuilt), "llama" (LlamaForCausalLM; q/k rows un-permuted), "qwen2" and
 * "gpt2" (Conv1D weights transposed back); quantized decoder linear weights
 * stay quantized (the decoder computes with them) except GPT-2's transposed
 * ones, which like every other quantized tensor are dequantized to f32 here.
 *
 * Invariant: the weights set keeps the gguf_file alive (its owner), so every
 * st_tensor's name and data stay valid until st_weights_free. */
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "model.h"

/* ---- name mapping: GGUF (llama.cpp) <-> HF ------------------------------------------ */

typedef struct name_pair { const char *gguf, *hf; } name_pair;

/* One architecture's names: per-layer parts after "blk.N." / after the HF
 * layer stack; whole-model parts; the sequence head (encoders, only for
 * ...ForSequenceClassification: llama.cpp's rank-pooling head "cls" = dense +
 * tanh, "cls.output" = the output projection; a base model's pooler is "cls"
 * too, which llama.cpp loads as optional). */
typedef struct name_table {
    const char *prefix;           /* HF base-model prefix dropped on write ("bert.") or NULL */
    const char *stack;            /* HF layer stack "encoder.layer." */
    const name_pair *layer;
    size_t nlayer;
    const name_pair *global;
    size_t nglobal;
    const name_pair *head;
    size_t nhead;
} name_table;

#define N(a) a, sizeof a / sizeof a[0]
static const name_pair BERT_LAYER[] = {
    {"attn_q", "attention.self.query"}, {"attn_k", "attention.self.key"}, {"attn_v", "attention.self.value"},
    {"attn_output", "attention.output.dense"}, {"attn_output_norm", "attention.output.LayerNorm"},
    {"ffn_up", "intermediate.dense"}, {"ffn_down", "output.dense"}, {"layer_output_norm", "output.LayerNorm"},
};
static const name_pair DISTIL_LAYER[] = {
    {"attn_q", "attention.q_lin"}, {"attn_k", "attention.k_lin"}, {"attn_v", "attention.v_lin"},
    {"attn_output", "attention.out_lin"}, {"attn_output_norm", "sa_layer_norm"}, {"ffn_up", "ffn.lin1"},
    {"ffn_down", "ffn.lin2"}, {"layer_output_norm", "output_layer_norm"},
};
static const name_pair ENC_GLOBAL[] = {
    {"token_embd", "embeddings.word_embeddings"}, {"token_types", "embeddings.token_type_embeddings"},
    {"position_embd", "embeddings.position_embeddings"}, {"token_embd_norm", "embeddings.LayerNorm"},
};
static const name_pair BERT_HEAD[] = {{"cls", "pooler.dense"}, {"cls.output", "classifier"}};
static const name_pair ROBERTA_HEAD[] = {{"cls", "classifier.dense"}, {"cls.output", "classifier.out_proj"}};
static const name_pair DISTIL_HEAD[] = {{"cls", "pre_classifier"}, {"cls.output", "classifier"}};
static const name_pair LLAMA_LAYER[] = {
    {"attn_norm", "input_layernorm"}, {"ffn_norm", "post_attention_layernorm"}, {"attn_q", "self_attn.q_proj"},
    {"attn_k", "self_attn.k_proj"}, {"attn_v", "self_attn.v_proj"}, {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"}, {"ffn_up", "mlp.up_proj"}, {"ffn_down", "mlp.down_proj"},
};
static const name_pair LLAMA_GLOBAL[] = {
    {"token_embd", "model.embed_tokens"}, {"output_norm", "model.norm"}, {"output", "lm_head"},
};
static const name_pair GPT2_LAYER[] = {
    {"attn_norm", "ln_1"}, {"attn_qkv", "attn.c_attn"}, {"attn_output", "attn.c_proj"},
    {"ffn_norm", "ln_2"}, {"ffn_up", "mlp.c_fc"}, {"ffn_down", "mlp.c_proj"},
};
static const name_pair GPT2_GLOBAL[] = {
    {"token_embd", "transformer.wte"}, {"position_embd", "transformer.wpe"}, {"output_norm", "transformer.ln_f"},
};
static const name_table TABLES[GM_COUNT] = {
    [GM_BERT] = {"bert.", "encoder.layer.", N(BERT_LAYER), N(ENC_GLOBAL), N(BERT_HEAD)},
    [GM_ROBERTA] = {"roberta.", "encoder.layer.", N(BERT_LAYER), N(ENC_GLOBAL), N(ROBERTA_HEAD)},
    [GM_DISTILBERT] = {"distilbert.", "transformer.layer.", N(DISTIL_LAYER), N(ENC_GLOBAL), N(DISTIL_HEAD)},
    [GM_LLAMA] = {NULL, "model.layers.", N(LLAMA_LAYER), N(LLAMA_GLOBAL), NULL, 0},
    [GM_QWEN2] = {NULL, "model.layers.", N(LLAMA_LAYER), N(LLAMA_GLOBAL), NULL, 0},
    [GM_GPT2] = {NULL, "transformer.h.", N(GPT2_LAYER), N(GPT2_GLOBAL), NULL, 0},
};
#undef N

gm_family gguf_family(const char *hf_arch) {
    static const struct { const char *prefix; gm_family f; } A[] = {
        {"DistilBert", GM_DISTILBERT}, {"XLMRoberta", GM_ROBERTA}, {"Roberta", GM_ROBERTA}, {"Camembert", GM_ROBERTA},
        {"Bert", GM_BERT}, {"LlamaForCausalLM", GM_LLAMA}, {"MistralForCausalLM", GM_LLAMA},
        {"Qwen2ForCausalLM", GM_QWEN2}, {"GPT2LMHeadModel", GM_GPT2},
    };
    for (size_t i = 0; i < sizeof A / sizeof A[0]; i++)
        if (strncmp(hf_arch, A[i].prefix, strlen(A[i].prefix)) == 0) return A[i].f;
    return GM_COUNT;
}

const char *gguf_family_arch(gm_family f) {
    static const char *const ARCH[GM_COUNT] = {"bert", "bert", "bert", "llama", "qwen2", "gpt2"};
    return (unsigned)f < GM_COUNT ? ARCH[f] : NULL;
}

/* Split "base.weight" / "base.bias" into base length and suffix; false otherwise. */
static bool split_suffix(const char *name, size_t *blen, const char **suffix) {
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0) *blen = n - 7, *suffix = ".weight";
    else if (n > 5 && strcmp(name + n - 5, ".bias") == 0) *blen = n - 5, *suffix = ".bias";
    else return false;
    return true;
}

/* Parse a decimal layer index at s, followed by '.'; returns chars used or 0. */
static size_t parse_layer(const char *s, long *l) {
    size_t i = 0;
    long v = 0;
    while (s[i] >= '0' && s[i] <= '9' && i < 6) v = v * 10 + (s[i++] - '0');
    if (i == 0 || s[i] != '.') return 0;
    *l = v;
    return i + 1;
}

/* The pair of `pairs` whose `from` side (gguf or hf) equals s[0..len). */
static const name_pair *find_pair(const name_pair *pairs, size_t n, bool from_gguf, const char *s, size_t len) {
    for (size_t i = 0; i < n; i++) {
        const char *k = from_gguf ? pairs[i].gguf : pairs[i].hf;
        if (strlen(k) == len && strncmp(s, k, len) == 0) return &pairs[i];
    }
    return NULL;
}

/* name (GGUF when to_hf, else HF) in the other naming into out. */
static bool map_name(gm_family f, bool seq_head, bool to_hf, const char *name, char *out, size_t n) {
    const name_table *t = &TABLES[f];
    if (!to_hf && t->prefix && strncmp(name, t->prefix, strlen(t->prefix)) == 0) name += strlen(t->prefix);
    const char *stack = to_hf ? "blk." : t->stack;
    size_t blen, k, sl = strlen(stack);
    const char *suf;
    long l;
    if (!split_suffix(name, &blen, &suf)) return false;
    const name_pair *p;
    if (strncmp(name, stack, sl) == 0 && (k = parse_layer(name + sl, &l))) {
        if (!(p = find_pair(t->layer, t->nlayer, to_hf, name + sl + k, blen - sl - k))) return false;
        snprintf(out, n, "%s%ld.%s%s", to_hf ? t->stack : "blk.", l, to_hf ? p->hf : p->gguf, suf);
        return true;
    }
    static const name_pair POOLER[] = {{"cls", "pooler.dense"}}; /* base BERT / RoBERTa: optional in llama.cpp */
    if (!(p = find_pair(t->global, t->nglobal, to_hf, name, blen)) &&
        !(seq_head && (p = find_pair(t->head, t->nhead, to_hf, name, blen))) &&
        !(!seq_head && (f == GM_BERT || f == GM_ROBERTA) && (p = find_pair(POOLER, 1, to_hf, name, blen))))
        return false;
    snprintf(out, n, "%s%s", to_hf ? p->hf : p->gguf, suf);
    return true;
}

bool gguf_name_to_hf(gm_family f, bool seq_head, const char *name, char *out, size_t n) {
    return map_name(f, seq_head, true, name, out, n);
}

bool gguf_name_from_hf(gm_family f, bool seq_head, const char *hf, char *out, size_t n) {
    return map_name(f, seq_head, false, hf, out, n);
}

/* ---- tensor transforms between the layouts --------------------------------------------
 * llama.cpp permutes LLaMA / Mistral q and k projection rows for its rope
 * (convert_hf_to_gguf's LlamaModel.permute): within each head of D rows, HF
 * row (j * D/2 + i), j in {0, 1}, goes to GGUF row (2i + j). GPT-2's Conv1D
 * weights are stored transposed ([in, out] in HF, [out, in] in GGUF). */

void gguf_rope_permute(const void *src, void *dst, int64_t rows, size_t row_bytes, int64_t n_head, bool to_gguf) {
    const int64_t D = rows / n_head, half = D / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t i = 0; i < half; i++) {
                const int64_t hf = h * D + j * half + i, gg = h * D + 2 * i + j;
                const int64_t from = to_gguf ? hf : gg, to = to_gguf ? gg : hf;
                memcpy((char *)dst + (size_t)to * row_bytes, (const char *)src + (size_t)from * row_bytes, row_bytes);
            }
}

/* ---- detection ------------------------------------------------------------------- */

bool gguf_is_gguf_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char magic[4];
    bool ok = read(fd, magic, 4) == 4 && memcmp(magic, "GGUF", 4) == 0;
    close(fd);
    return ok;
}

/* ---- metadata helpers --------------------------------------------------------------- */

/* Integer value of key (any integer type), or def when absent; BAD_FILE if of another type. */
static senti_status kv_int(const gguf_file *f, const char *key, bool required, int64_t def, int64_t *out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = def;
    if (!v) return required ? senti_error(SENTI_ERR_BAD_FILE, "%s: missing key '%s'", gguf_file_path(f), key) : SENTI_OK;
    switch (v->type) {
    case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
        if (v->v.u > (uint64_t)INT64_MAX) break;
        *out = (int64_t)v->v.u;
        return SENTI_OK;
    case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64: *out = v->v.i; return SENTI_OK;
    default: break;
    }
    return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be an integer (is %s)", gguf_file_path(f), key,
                       gguf_vtype_name(v->type));
}

static senti_status kv_float(const gguf_file *f, const char *key, double def, double *out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = def;
    if (!v) return SENTI_OK;
    if (v->type == GGUF_VT_F32 || v->type == GGUF_VT_F64) {
        *out = v->v.f;
        return SENTI_OK;
    }
    return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be a float (is %s)", gguf_file_path(f), key,
                       gguf_vtype_name(v->type));
}

/* String value of key or NULL when absent; a present key of another type is an error. */
static senti_status kv_str(const gguf_file *f, const char *key, const char **out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = NULL;
    if (!v) return SENTI_OK;
    if (v->type != GGUF_VT_STRING)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be a string (is %s)", gguf_file_path(f), key,
                           gguf_vtype_name(v->type));
    *out = v->v.str.s;
    return SENTI_OK;
}

/* ---- configs --------------------------------------------------------------------------- */

#define JSET(obj, key, val)                                                                                         \
    do {                                                                                                             \
        if (json_object_set_new(obj, key, val) != 0) goto oom;                                                       \
    } while (0)

/* A llama.cpp "bert" file as the HF config of BertModel (DistilBertModel when
 * there is no token_types tensor). */
static json_t *bert_config(const gguf_file *f, senti_status *st) {
    int64_t H, L, NH, I, P;
    double eps;
    const char *path = gguf_file_path(f);
    if ((*st = kv_int(f, "bert.embedding_length", true, 0, &H)) || (*st = kv_int(f, "bert.block_count", true, 0, &L)) ||
        (*st = kv_int(f, "bert.attention.head_count", true, 0, &NH)) ||
        (*st = kv_int(f, "bert.feed_forward_length", true, 0, &I)) ||
        (*st = kv_int(f, "bert.context_length", true, 0, &P)) ||
        (*st = kv_float(f, "bert.attention.layer_norm_epsilon", 1e-12, &eps)))
        return NULL;
    const gguf_tensor *te = gguf_file_find_tensor(f, "token_embd.weight");
    const gguf_tensor *tt = gguf_file_find_tensor(f, "token_types.weight");
    const gguf_tensor *pe = gguf_file_find_tensor(f, "position_embd.weight");
    if (!te) {
        *st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor 'token_embd.weight' is missing", path);
        return NULL;
    }
    /* llama.cpp may shorten the position table (RoBERTa: rows from pad + 1 on): its rows decide */
    if (pe && pe->n_dims == 2) P = pe->ne[1];
    const bool distil = tt == NULL;
    int64_t pad;
    if ((*st = kv_int(f, "tokenizer.ggml.padding_token_id", false, 0, &pad))) return NULL;
    json_t *c = json_object(), *archs = json_array();
    if (!c || !archs) {
        json_decref(archs);
        goto oom;
    }
    JSET(c, "architectures", archs);
    if (json_array_append_new(archs, json_string(distil ? "DistilBertModel" : "BertModel"))) goto oom;
    JSET(c, "model_type", json_string(distil ? "distilbert" : "bert"));
    JSET(c, "vocab_size", json_integer(te->ne[1]));
    JSET(c, "max_position_embeddings", json_integer(P));
    JSET(c, "pad_token_id", json_integer(pad));
    JSET(c, distil ? "dim" : "hidden_size", json_integer(H));
    JSET(c, distil ? "n_layers" : "num_hidden_layers", json_integer(L));
    JSET(c, distil ? "n_heads" : "num_attention_heads", json_integer(NH));
    JSET(c, distil ? "hidden_dim" : "intermediate_size", json_integer(I));
    JSET(c, distil ? "activation" : "hidden_act", json_string("gelu"));
    if (!distil) {
        JSET(c, "type_vocab_size", json_integer(tt->n_dims == 2 ? tt->ne[1] : 1));
        JSET(c, "layer_norm_eps", json_real(eps));
    }
    return c;
oom:
    json_decref(c);
    *st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    return NULL;
}

/* A llama.cpp decoder file ("llama", "qwen2", "gpt2") as its HF config. */
static json_t *decoder_config(const gguf_file *f, const char *arch, senti_status *st) {
    const char *path = gguf_file_path(f);
    char k[96];
    int64_t H, L, NH, NKV, I, P, hd;
    double eps, theta, factor;
    const bool gpt2 = strcmp(arch, "gpt2") == 0;
#define KEY(s) (snprintf(k, sizeof k, "%s." s, arch), k)
    if ((*st = kv_int(f, KEY("embedding_length"), true, 0, &H)) || (*st = kv_int(f, KEY("block_count"), true, 0, &L)) ||
        (*st = kv_int(f, KEY("attention.head_count"), true, 0, &NH)) ||
        (*st = kv_int(f, KEY("attention.head_count_kv"), false, NH, &NKV)) ||
        (*st = kv_int(f, KEY("feed_forward_length"), !gpt2, 4 * H, &I)) ||
        (*st = kv_int(f, KEY("context_length"), true, 0, &P)) ||
        (*st = kv_int(f, KEY("attention.key_length"), false, NH > 0 ? H / NH : 0, &hd)) ||
        (*st = kv_float(f, gpt2 ? KEY("attention.layer_norm_epsilon") : KEY("attention.layer_norm_rms_epsilon"),
                        gpt2 ? 1e-5 : 1e-6, &eps)) ||
        (*st = kv_float(f, KEY("rope.freq_base"), 10000.0, &theta)) ||
        (*st = kv_float(f, KEY("rope.scaling.factor"), 1.0, &factor)))
        return NULL;
    const char *scaling;
    if ((*st = kv_str(f, KEY("rope.scaling.type"), &scaling))) return NULL;
#undef KEY
    if (gguf_file_find_tensor(f, "rope_freqs.weight")) {
        *st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor 'rope_freqs.weight' (llama3 rope) is not supported in "
                          "llama.cpp files; convert the HF checkpoint with senti convert", path);
        return NULL;
    }
    if (scaling && strcmp(scaling, "none") != 0 && strcmp(scaling, "linear") != 0) {
        *st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: rope scaling '%s' is not supported in llama.cpp files", path,
                          scaling);
        return NULL;
    }
    const gguf_tensor *te = gguf_file_find_tensor(f, "token_embd.weight");
    if (!te || te->n_dims != 2) {
        *st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor 'token_embd.weight' is missing or not 2-D", path);
        return NULL;
    }
    const bool tied = gguf_file_find_tensor(f, "output.weight") == NULL;
    json_t *c = json_object(), *archs = json_array();
    if (!c || !archs) {
        json_decref(archs);
        goto oom;
    }
    JSET(c, "architectures", archs);
    const char *hf = gpt2 ? "GPT2LMHeadModel" : strcmp(arch, "qwen2") == 0 ? "Qwen2ForCausalLM" : "LlamaForCausalLM";
    if (json_array_append_new(archs, json_string(hf))) goto oom;
    JSET(c, "model_type", json_string(gpt2 ? "gpt2" : arch));
    JSET(c, "vocab_size", json_integer(te->ne[1]));
    if (gpt2) {
        JSET(c, "n_embd", json_integer(H));
        JSET(c, "n_layer", json_integer(L));
        JSET(c, "n_head", json_integer(NH));
        JSET(c, "n_inner", json_integer(I));
        JSET(c, "n_positions", json_integer(P));
        JSET(c, "layer_norm_epsilon", json_real(eps));
    } else {
        JSET(c, "hidden_size", json_integer(H));
        JSET(c, "num_hidden_layers", json_integer(L));
        JSET(c, "num_attention_heads", json_integer(NH));
        JSET(c, "num_key_value_heads", json_integer(NKV));
        JSET(c, "intermediate_size", json_integer(I));
        JSET(c, "max_position_embeddings", json_integer(P));
        JSET(c, "head_dim", json_integer(hd));
        JSET(c, "rms_norm_eps", json_real(eps));
        JSET(c, "rope_theta", json_real(theta));
        JSET(c, "tie_word_embeddings", json_boolean(tied));
        JSET(c, "attention_bias", json_boolean(gguf_file_find_tensor(f, "blk.0.attn_output.bias") != NULL));
        if (scaling && strcmp(scaling, "linear") == 0) {
            json_t *rs = json_object();
            if (!rs) goto oom;
            JSET(c, "rope_scaling", rs);
            JSET(rs, "rope_type", json_string("linear"));
            JSET(rs, "factor", json_real(factor));
        }
    }
    return c;
oom:
    json_decref(c);
    *st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    return NULL;
}

/* ---- the model view ------------------------------------------------------------------ */

static void free_gguf(void *p) { gguf_file_free(p); }

/* What a GGUF weights set keeps alive: the file, the block of HF names and
 * the tensors rewritten into HF's layout. */
typedef struct gguf_owner {
    gguf_file *f;
    char *names;
    void **bufs;
    int64_t nbufs;
} gguf_owner;

static void owner_free(void *p) {
    gguf_owner *o = p;
    if (!o) return;
    gguf_file_free(o->f);
    senti_mfree(o->names);
    for (int64_t i = 0; i < o->nbufs; i++) senti_mfree(o->bufs[i]);
    senti_mfree(o->bufs);
    senti_mfree(o);
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Rewrite t (a decoder tensor, HF name already set) into HF's layout where
 * llama.cpp's differs: LLaMA q/k rows un-permuted, GPT-2 Conv1D weights
 * transposed back to [in, out]. A quantized LLaMA-family linear weight
 * (*_proj, lm_head) stays in its type (rows permuted as they are), for the
 * decoder to compute with directly; any other quantized tensor (embeddings,
 * GPT-2's transposed weights) is dequantized to f32 on the way. *buf gets
 * the new data (or NULL). */
static senti_status to_hf_layout(gm_family fam, json_t *root, st_tensor *t, void **buf) {
    *buf = NULL;
    const bool quant = senti_type_is_quant(t->type);
    int64_t n_head = 0;
    if (fam == GM_LLAMA && (ends_with(t->name, "self_attn.q_proj.weight") || ends_with(t->name, "self_attn.q_proj.bias")))
        n_head = json_integer_value(json_object_get(root, "num_attention_heads"));
    if (fam == GM_LLAMA && (ends_with(t->name, "self_attn.k_proj.weight") || ends_with(t->name, "self_attn.k_proj.bias"))) {
        json_t *kv = json_object_get(root, "num_key_value_heads");
        n_head = json_integer_value(json_is_integer(kv) ? kv : json_object_get(root, "num_attention_heads"));
    }
    const bool transpose = fam == GM_GPT2 && t->ndim == 2 &&
                           (ends_with(t->name, "attn.c_attn.weight") || ends_with(t->name, "attn.c_proj.weight") ||
                            ends_with(t->name, "mlp.c_fc.weight") || ends_with(t->name, "mlp.c_proj.weight"));
    const bool keep = quant && !transpose && t->ndim == 2 && (ends_with(t->name, "_proj.weight") ||
                                                               !strcmp(t->name, "lm_head.weight"));
    if (!n_head && !transpose && (!quant || keep)) return SENTI_OK;
    const int64_t rows = t->ndim == 2 ? t->shape[0] : t->numel, cols = t->ndim == 2 ? t->shape[1] : 1;
    if (n_head && (n_head < 1 || rows % (2 * n_head)))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %lld rows do not split into %lld heads", t->file,
                           t->name, (long long)rows, (long long)n_head);
    if (keep) { /* quantized q / k: permute whole rows of blocks */
        const size_t rs = senti_row_size(t->type, cols);
        if (!(*buf = senti_malloc((size_t)rows * rs + 1)))
            return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", t->file);
        gguf_rope_permute(t->data, *buf, rows, rs, n_head, false);
        t->data = *buf;
        return SENTI_OK;
    }
    float *f = senti_malloc((size_t)t->numel * sizeof(float) + 1), *g = NULL;
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", t->file);
    senti_status st = st_tensor_read_f32(t, f);
    if (st == SENTI_OK && (n_head || transpose) && !(g = senti_malloc((size_t)t->numel * sizeof(float) + 1)))
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", t->file);
    if (st != SENTI_OK) {
        senti_mfree(f);
        return st;
    }
    if (n_head) {
        gguf_rope_permute(f, g, rows, (size_t)cols * sizeof(float), n_head, false);
    } else if (transpose) { /* GGUF [out, in] -> HF [in, out] */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) g[c * rows + r] = f[r * cols + c];
        t->shape[0] = cols, t->shape[1] = rows;
    }
    if (g) senti_mfree(f), f = g;
    t->type = SENTI_TYPE_F32;
    t->dtype = "F32";
    t->data = f;
    t->nbytes = (size_t)t->numel * sizeof(float);
    *buf = f;
    return SENTI_OK;
}

senti_status gguf_model_open(const char *path, cfg_file **cfg_out, st_weights **w_out) {
    *cfg_out = NULL;
    *w_out = NULL;
    senti_status st = SENTI_OK;
    st_tensor *ts = NULL;
    gguf_owner *own = NULL;
    json_t *root = NULL;
    gguf_file *f = gguf_file_load(path);
    if (!f) return SENTI_ERR_BAD_FILE; /* message set by the reader */
    const char *arch, *embedded;
    if ((st = kv_str(f, "general.architecture", &arch)) || (st = kv_str(f, "senti.hf.config", &embedded))) goto fail;
    if (embedded) {
        json_error_t jerr;
        root = json_loads(embedded, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'senti.hf.config': malformed JSON at %d:%d: %s", path,
                             jerr.line, jerr.column, jerr.text);
            goto fail;
        }
    } else if (arch && strcmp(arch, "bert") == 0) {
        if (!(root = bert_config(f, &st))) goto fail;
    } else if (arch && (!strcmp(arch, "llama") || !strcmp(arch, "qwen2") || !strcmp(arch, "gpt2"))) {
        if (!(root = decoder_config(f, arch, &st))) goto fail;
    } else {
        st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: architecture '%s' (key 'general.architecture') is not supported",
                         path, arch ? arch : "(missing)");
        goto fail;
    }
    /* which name table: the HF architecture */
    json_t *a0 = json_array_get(json_object_get(root, "architectures"), 0);
    const char *hf_arch = json_is_string(a0) ? json_string_value(a0) : "";
    const gm_family fam = gguf_family(hf_arch);
    const bool seq = strstr(hf_arch, "ForSequenceClassification") != NULL;
    const bool decoder = fam == GM_LLAMA || fam == GM_QWEN2 || fam == GM_GPT2;

    const int64_t n = gguf_file_tensor_count(f);
    ts = senti_calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    own = senti_calloc(1, sizeof *own);
    if (!ts || !own || !(own->names = senti_malloc((size_t)(n > 0 ? n : 1) * 160)) ||
        !(own->bufs = senti_calloc(n > 0 ? (size_t)n : 1, sizeof *own->bufs))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor *g = gguf_file_tensor(f, i);
        st_tensor *t = &ts[i];
        char *nm = own->names + i * 160;
        if (fam == GM_COUNT || !gguf_name_to_hf(fam, seq, g->name, nm, 160)) snprintf(nm, 160, "%s", g->name);
        t->name = nm;
        t->file = gguf_file_path(f);
        t->type = g->type;
        t->dtype = senti_type_name(g->type);
        t->ndim = g->n_dims;
        for (int d = 0; d < g->n_dims; d++) t->shape[d] = g->ne[g->n_dims - 1 - d];
        t->numel = g->numel;
        t->data = g->data;
        t->nbytes = g->nbytes;
        if (decoder) {
            void *buf;
            if ((st = to_hf_layout(fam, root, t, &buf)) != SENTI_OK) goto fail;
            if (buf) own->bufs[own->nbufs++] = buf;
        }
    }
    own->f = f;
    f = NULL;
    *w_out = st_weights_from_tensors(path, ts, n, own, owner_free);
    ts = NULL, own = NULL;
    if (!*w_out) {
        st = SENTI_ERR_BAD_FILE;
        goto fail;
    }
    *cfg_out = cfg_from_json(path, root);
    root = NULL;
    if (!*cfg_out) {
        st = SENTI_ERR_BAD_FILE;
        st_weights_free(*w_out);
        *w_out = NULL;
        goto fail;
    }
    return SENTI_OK;
fail:
    json_decref(root);
    senti_mfree(ts);
    owner_free(own);
    free_gguf(f);
    return st;
}
