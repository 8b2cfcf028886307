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
 * Both: llama.cpp's tokenizer.ggml.* keys built from tokenizer.json (model,
 *   pre, tokens, token_type, scores / merges, special ids, add_bos / add_eos;
 *   see tokenizer_kvs) so llama.cpp's tools load the file; senti itself reads
 *   tokenizer.huggingface.json when present.
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
    json_t *tok, *tok_cfg; /* tokenizer.json / tokenizer_config.json: their strings are written */
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

/* ---- llama.cpp's tokenizer keys (tokenizer.ggml.*) from tokenizer.json ----------------
 * model: "bert" (WordPiece; tokens as llama.cpp's converter writes them: a
 * word-initial token gets "\u2581" prepended, a "##" continuation loses it),
 * "gpt2" (BPE with a ByteLevel pre-tokenizer), "llama" (BPE without one:
 * Metaspace / byte_fallback, SentencePiece style); other models (Unigram,
 * WordLevel) get no tokenizer.ggml keys (senti reads tokenizer.huggingface.json).
 * pre (BPE only; llama.cpp picks it by hashing the tokenizer's output, senti by
 * the pre-tokenizer's regex): GPT-2's ByteLevel regex "gpt-2", Llama-3's Split
 * regex "llama-bpe", Qwen2's "qwen2", anything else "default" (llama.cpp then
 * splits on its default regex, which may tokenize some text differently).
 * tokens: the vocabulary by id, padded to config vocab_size with "[PADn]".
 * token_type: 1 normal, 2 unknown, 3 control (special added tokens), 4
 * user-defined (other added tokens), 5 unused (padding), 6 byte ("<0xNN>"
 * in a "llama" vocabulary). scores ("llama"): -rank of the merge that makes
 * the token, else 0 for one-character / byte tokens and -1e9 for others, so
 * llama.cpp's score-ordered SentencePiece merging follows the BPE ranks.
 * merges ("gpt2"): "a b" in rank order. Special ids from
 * tokenizer_config.json's bos/eos/unk/pad/sep/cls/mask tokens (bos falling
 * back to cls and eos to sep, as gguf-py's SpecialVocab); add_bos_token /
 * add_eos_token from tokenizer_config.json, else from the post-processor's
 * single template (a special token first / last). */

static const char *tok_str(json_t *v) { /* "tok" or {"content": "tok"} */
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The pre-tokenizer name llama.cpp knows for the tokenizer's splitting. */
static const char *bpe_pre_name(json_t *pre) {
    static const struct { const char *re, *name; } RE[] = {
        {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "gpt-2"},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "llama-bpe"},
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
         "qwen2"},
    };
    json_t *seq = json_object_get(pre, "pretokenizers");
    const size_t n = json_is_array(seq) ? json_array_size(seq) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_is_array(seq) ? json_array_get(seq, i) : pre;
        const char *ty = json_string_value(json_object_get(p, "type"));
        if (!ty) continue;
        if (!strcmp(ty, "Split")) {
            const char *re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
            for (size_t k = 0; re && k < sizeof RE / sizeof RE[0]; k++)
                if (!strcmp(re, RE[k].re)) return RE[k].name;
            return "default";
        }
        json_t *ur = json_object_get(p, "use_regex");
        if (!strcmp(ty, "ByteLevel") && (!ur || json_is_true(ur))) return "gpt-2";
    }
    return "default";
}

static bool has_type(json_t *x, const char *type) { /* x or a member of its Sequence */
    const char *ty = json_string_value(json_object_get(x, "type"));
    if (ty && !strcmp(ty, type)) return true;
    json_t *seq = json_object_get(x, "pretokenizers");
    size_t i;
    json_t *e;
    json_array_foreach(seq, i, e) if (has_type(e, type)) return true;
    return false;
}

static senti_status tokenizer_kvs(conv *c, const cfg_file *cfg, const char *dir) {
    char p[4096], *text;
    bool present;
    senti_status st;
    json_error_t jerr;
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if ((st = read_text(p, &text, &present)) || !present) return st;
    c->tok = json_loads(text, 0, &jerr);
    senti_mfree(text);
    if (!c->tok)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed JSON at %d:%d: %s", p, jerr.line, jerr.column, jerr.text);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    if ((st = read_text(p, &text, &present))) return st;
    if (present) {
        c->tok_cfg = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr); /* model_max_length overflows int64 */
        senti_mfree(text);
    }
    json_t *model = json_object_get(c->tok, "model"), *vocab = json_object_get(model, "vocab");
    const char *mt = json_string_value(json_object_get(model, "type"));
    json_t *pre = json_object_get(c->tok, "pre_tokenizer");
    const bool bert = mt && !strcmp(mt, "WordPiece"), bpe = mt && !strcmp(mt, "BPE");
    const bool byte_level =
        bpe && (has_type(pre, "ByteLevel") || has_type(json_object_get(c->tok, "decoder"), "ByteLevel"));
    if ((!bert && !bpe) || !json_is_object(vocab)) return SENTI_OK;
    const char *gmodel = bert ? "bert" : byte_level ? "gpt2" : "llama";
    /* ids: the vocabulary and the added tokens, padded to the embeddings' rows */
    int64_t n = 0, vs = 0;
    const char *k;
    json_t *v, *added = json_object_get(c->tok, "added_tokens");
    json_object_foreach(vocab, k, v) {
        if (json_is_integer(v) && json_integer_value(v) >= n) n = json_integer_value(v) + 1;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (json_is_integer(id) && json_integer_value(id) >= n) n = json_integer_value(id) + 1;
    }
    if (cfg_opt_int(cfg, "vocab_size", 0, &vs) == SENTI_OK && vs > n) n = vs;
    if (n <= 0 || n > (int64_t)1 << 24) return SENTI_OK;
    gguf_value *tokens = keep(c, senti_calloc((size_t)n, sizeof *tokens));
    int32_t *types = keep(c, senti_calloc((size_t)n, sizeof *types));
    float *scores = keep(c, senti_calloc((size_t)n, sizeof *scores));
    char *names = keep(c, senti_malloc((size_t)n * 16)); /* "[PADn]" and bert's rewritten tokens */
    if (!tokens || !types || !scores || !names) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
    json_object_foreach(vocab, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) continue;
        const int64_t id = json_integer_value(v);
        tokens[id] = gguf_val_str(k), types[id] = 1;
        if (bert) { /* llama.cpp's WordPiece: "##x" -> "x", "x" -> "\u2581x" ([CLS]-style tokens keep their form) */
            if (!strncmp(k, "##", 2)) tokens[id] = gguf_val_str(k + 2);
            else if (k[0] != '[' || k[strlen(k) - 1] != ']') {
                char *t = keep(c, senti_malloc(strlen(k) + 4));
                if (!t) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
                snprintf(t, strlen(k) + 4, "\xe2\x96\x81%s", k);
                tokens[id] = gguf_val_str(t);
            }
        }
        if (!bert && !byte_level && strlen(k) == 6 && !strncmp(k, "<0x", 3) && k[5] == '>') types[id] = 6;
    }
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        const char *content = json_string_value(json_object_get(v, "content"));
        if (!json_is_integer(id) || !content || json_integer_value(id) < 0) continue;
        tokens[json_integer_value(id)] = gguf_val_str(content);
        types[json_integer_value(id)] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
    }
    for (int64_t t = 0; t < n; t++)
        if (!types[t]) {
            snprintf(names + t * 16, 16, "[PAD%lld]", (long long)t);
            tokens[t] = gguf_val_str(names + t * 16), types[t] = 5;
        }
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    json_t *unk_id = unk ? json_object_get(vocab, unk) : NULL;
    if (json_is_integer(unk_id)) types[json_integer_value(unk_id)] = 2;

    TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.model", gguf_val_str(gmodel)));
    if (!bert)
        TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.pre", gguf_val_str(byte_level ? bpe_pre_name(pre) : "default")));
    TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.tokens", gguf_val_arr(GGUF_VT_STRING, (uint64_t)n, NULL, tokens)));
    TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.token_type", gguf_val_arr(GGUF_VT_I32, (uint64_t)n, types, NULL)));
    if (bpe) { /* merges: "a b" strings or [a, b] pairs, in rank order */
        json_t *merges = json_object_get(model, "merges");
        const size_t nm = json_array_size(merges);
        gguf_value *ms = keep(c, senti_calloc(nm ? nm : 1, sizeof *ms));
        if (!ms) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
        size_t good = 0;
        json_array_foreach(merges, i, v) {
            const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
            char *m = NULL;
            if (json_is_string(v)) {
                ms[good] = gguf_val_str(json_string_value(v));
            } else if (a && b && (m = keep(c, senti_malloc(strlen(a) + strlen(b) + 2)))) {
                snprintf(m, strlen(a) + strlen(b) + 2, "%s %s", a, b);
                ms[good] = gguf_val_str(m);
            } else {
                continue;
            }
            const char *s = ms[good++].v.str.s, *sp = strchr(s + 1, ' ');
            if (!sp || bert || byte_level) continue;
            /* "llama": score the merged token by its rank */
            char merged[512];
            const size_t la = (size_t)(sp - s);
            if (la + strlen(sp + 1) >= sizeof merged) continue;
            memcpy(merged, s, la);
            snprintf(merged + la, sizeof merged - la, "%s", sp + 1);
            json_t *id = json_object_get(vocab, merged);
            if (json_is_integer(id) && json_integer_value(id) < n && scores[json_integer_value(id)] == 0)
                scores[json_integer_value(id)] = -(float)good;
        }
        if (byte_level)
            TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.merges", gguf_val_arr(GGUF_VT_STRING, good, NULL, ms)));
        if (!byte_level) {
            for (int64_t t = 0; t < n; t++) {
                const char *s = tokens[t].v.str.s;
                size_t len = strlen(s), cp = 0;
                for (size_t b = 0; b < len; b++) cp += ((unsigned char)s[b] & 0xc0) != 0x80;
                if (scores[t] == 0 && cp > 1 && types[t] == 1) scores[t] = -1e9f;
            }
            TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.scores",
                                   gguf_val_arr(GGUF_VT_F32, (uint64_t)n, scores, NULL)));
        }
    }
    /* special ids */
    static const char *const SPECIAL[][2] = {{"bos_token", "bos"},     {"eos_token", "eos"},
                                             {"unk_token", "unknown"}, {"pad_token", "padding"},
                                             {"sep_token", "seperator"}, {"cls_token", "cls"},
                                             {"mask_token", "mask"}};
    int64_t ids[7];
    for (int s2 = 0; s2 < 7; s2++) {
        ids[s2] = -1;
        const char *name = tok_str(json_object_get(c->tok_cfg, SPECIAL[s2][0]));
        if (!name && s2 == 2) name = unk;
        /* as gguf-py's SpecialVocab: no bos -> cls, no eos -> sep (llama.cpp's WordPiece starts with "bos") */
        if (!name && s2 <= 1) name = tok_str(json_object_get(c->tok_cfg, s2 == 0 ? "cls_token" : "sep_token"));
        if (!name) continue;
        for (int64_t t = 0; t < n && ids[s2] < 0; t++)
            if (types[t] != 5 && !strcmp(tokens[t].v.str.s, name)) ids[s2] = t;
        if (bert && ids[s2] < 0) { /* the original form of a rewritten token */
            json_t *id = json_object_get(vocab, name);
            if (json_is_integer(id)) ids[s2] = json_integer_value(id);
        }
        if (ids[s2] < 0) continue;
        snprintf(p, sizeof p, "tokenizer.ggml.%s_token_id", SPECIAL[s2][1]);
        TRY(kv_u32(c, p, (uint64_t)ids[s2]));
    }
    /* add_bos / add_eos: tokenizer_config.json, else the single template */
    json_t *ab = json_object_get(c->tok_cfg, "add_bos_token"), *ae = json_object_get(c->tok_cfg, "add_eos_token");
    json_t *single = json_object_get(json_object_get(c->tok, "post_processor"), "single");
    const size_t ns = json_array_size(single);
    json_t *first = json_array_get(single, 0), *last = json_array_get(single, ns ? ns - 1 : 0);
    const bool add_bos = json_is_boolean(ab) ? json_is_true(ab) : ns > 1 && json_object_get(first, "SpecialToken");
    const bool add_eos = json_is_boolean(ae) ? json_is_true(ae) : ns > 1 && json_object_get(last, "SpecialToken");
    TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.add_bos_token", gguf_val_bool(add_bos)));
    TRY(gguf_writer_add_kv(c->w, "tokenizer.ggml.add_eos_token", gguf_val_bool(add_eos)));
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
    const gguf_convert_opts o = {.type = type, .embed_type = SENTI_TYPE_F32};
    return gguf_convert_with(dir, out, &o);
}

static bool writable_type(senti_type t) {
    return t == SENTI_TYPE_F32 || t == SENTI_TYPE_F16 || t == SENTI_TYPE_BF16 || t == SENTI_TYPE_Q8_0 ||
           t == SENTI_TYPE_Q4_0;
}

senti_status gguf_convert_with(const char *dir, const char *out, const gguf_convert_opts *opts) {
    const senti_type type = opts->type, etype = opts->embed_type;
    senti_status st = SENTI_OK;
    conv c = {0};
    cfg_file *cfg = NULL;
    st_weights *w = NULL;
    const char **archs = NULL;
    int64_t n_archs = 0;
    char path[4096];
    if (!writable_type(type) || !writable_type(etype))
        return senti_error(SENTI_ERR_INVALID_ARG, "convert: type %s cannot be written (f32, f16, bf16, q8_0, q4_0)",
                           (unsigned)(writable_type(type) ? etype : type) < SENTI_TYPE_COUNT
                               ? senti_type_name(writable_type(type) ? etype : type)
                               : "?");
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
    for (int64_t i = 0; i < opts->n_meta; i++) /* a --meta general.name=… names the model instead of the folder */
        if (!strncmp(opts->meta[i], "general.name=", 13)) base = opts->meta[i] + 13;
    TRY(gguf_writer_add_kv(c.w, "general.name", gguf_val_str(base)));
    TRY(kv_u32(&c, "general.file_type", file_type(type)));
    TRY(decoder ? decoder_kvs(&c, cfg, fam) : encoder_kvs(&c, cfg, fam, seq));
    bool present, has_json;
    TRY(embed_text(&c, dir, "config.json", "senti.hf.config", &present));
    TRY(embed_text(&c, dir, "tokenizer.json", "tokenizer.huggingface.json", &has_json));
    TRY(tokenizer_kvs(&c, cfg, dir));
    TRY(embed_text(&c, dir, "tokenizer_config.json", "senti.hf.tokenizer_config", &present));
    if (!has_json) TRY(embed_text(&c, dir, "vocab.txt", "senti.hf.vocab_txt", &present));
    TRY(embed_text(&c, dir, "generation_config.json", "senti.hf.generation_config", &present));
    for (int64_t i = 0; i < opts->n_meta; i++) {
        const char *kv = opts->meta[i], *eq = strchr(kv, '=');
        if (!strncmp(kv, "general.name=", 13)) continue; /* written above */
        if (!eq || eq == kv) {
            st = senti_error(SENTI_ERR_INVALID_ARG, "convert: metadata '%s' is not key=value", kv);
            goto done;
        }
        char *key = keep(&c, senti_malloc((size_t)(eq - kv) + 1));
        if (!key) {
            st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        memcpy(key, kv, (size_t)(eq - kv));
        key[eq - kv] = '\0';
        TRY(gguf_writer_add_kv(c.w, key, gguf_val_str(eq + 1)));
    }

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
        if (!decoder && !strcmp(name, "token_embd.weight") && t->ndim == 2 &&
            (!senti_type_is_quant(etype) || t->shape[1] % senti_type_block(etype) == 0))
            tt = etype;
        TRY(add_tensor(&c, st_weights_source(w), t, name, tt, &x));
    }
    TRY(gguf_writer_write(c.w, out));
done:
    for (int64_t i = 0; i < c.nbufs; i++) senti_mfree(c.bufs[i]);
    senti_mfree(c.bufs);
    json_decref(c.tok);
    json_decref(c.tok_cfg);
    gguf_writer_free(c.w);
    senti_mfree(archs);
    st_weights_free(w);
    cfg_free(cfg);
    return st;
}
