/* convert.c — `senti convert` (tools/convert/, its own library on top of
 * model/ and tokenizer/): an HF model directory (config.json, safetensors,
 * tokenizer files) written as one GGUF file that llama.cpp's tools and the
 * Python gguf package read and that senti runs with the same outputs. The
 * names, keys and layouts come from the architecture table (model/arch.h);
 * the tokenizer keys from tokenizer/ (tok_gguf_keys).
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
 *   senti.heads                heads.json text, when present, with the
 *                              head.<name>.* tensors of heads.safetensors (f32)
 * Decoders, architecture "llama" (LLaMA, Mistral), "qwen2" or "gpt2":
 *   {arch}.context_length / embedding_length / feed_forward_length /
 *   block_count / attention.head_count / attention.head_count_kv /
 *   attention.key_length / attention.layer_norm_rms_epsilon (gpt2:
 *   layer_norm_epsilon) / rope.freq_base / rope.scaling.type + factor
 *   (linear scaling only; other rope types live in senti.hf.config alone),
 *   plus senti.hf.config, senti.hf.generation_config and the tokenizer keys.
 * Both: llama.cpp's tokenizer.ggml.* keys built from tokenizer.json (model,
 *   pre, tokens, token_type, scores / merges, special ids, add_bos / add_eos;
 *   see tokenizer/tok_gguf_keys.c) so llama.cpp's tools load the file; senti
 *   itself reads tokenizer.huggingface.json when present.
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
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/arch.h"
#include "../../tokenizer/tokenizer.h"
#include "convert.h"

/* Whole file as a NUL-terminated string; NULL (no error) when absent. */
static senti_status read_text(const char *path, char **out, bool *present) {
    *out = NULL;
    *present = false;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return SENTI_OK;
    FILE *fp = senti_fopen_regular(path);
    if (!fp) return SENTI_ERR_IO;
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

/* Under HF names (an architecture llama.cpp does not know), the roles whose
 * weights the family's loader reads as linear layers (blk_load_linear): they
 * take the requested type, as `--dtype` gives them from the HF directory. */
static bool hf_linear_role(const arch_desc *d, arch_role r) {
    switch (r) {
    case AR_Q: case AR_K: case AR_V: case AR_QKV: case AR_O: case AR_POS_Q: case AR_POS_K:
    case AR_GATE: case AR_UP: case AR_DOWN: case AR_FFN_IN:
    case AR_XQ: case AR_XK: case AR_XV: case AR_XO:
    case AR_SEQ_DENSE: case AR_MLM_DENSE: return true;
    case AR_SEQ_OUT: return d->kind == ARCH_ENCODER_DECODER; /* BART's head reads its out_proj as one */
    default: return false;
    }
}

/* A GGUF metadata key as the spec writes them: lower_snake_case parts
 * separated by dots, ASCII only. */
static bool gguf_key_ok(const char *k, size_t n) {
    if (n == 0 || k[0] == '.' || k[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        const char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              (c == '.' && k[i + 1] != '.')))
            return false;
    }
    return true;
}

/* s is valid UTF-8 (GGUF strings are). */
static bool utf8_ok(const char *s) { return senti_utf8_invalid_at(s, strlen(s)) < 0; }

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
    tok_gguf_bufs *tok; /* what the tokenizer keys borrow until the write */
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

/* Layout changes on the way to llama.cpp's form (the table's flags). */
typedef struct xform {
    int64_t n_head;  /* > 0: LLaMA rope row permutation with this many heads */
    bool transpose;  /* GPT-2 Conv1D [in, out] -> [out, in] */
    bool shift;      /* norm weight w stored as 1 + w (Gemma) */
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
            arch_rope_permute(f, g, rows, (size_t)cols * sizeof(float), x->n_head, true);
        } else {
            for (int64_t r = 0; r < rows; r++)
                for (int64_t k = 0; k < cols; k++) g[k * rows + r] = f[r * cols + k];
            ne[0] = rows, ne[1] = cols;
        }
        f = g;
    }
    if (x->shift)
        for (int64_t i = 0; i < t->numel; i++) f[i] += 1.0f;
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

/* A number: inside "rope_parameters" (transformers 5) or "rope_scaling" when
 * there, else at the top level, else def. */
static double cfg_nested_num(const cfg_file *cfg, const char *key, double def) {
    json_t *root = cfg_json(cfg), *v = NULL;
    static const char *const OBJ[] = {"rope_parameters", "rope_scaling"};
    for (int i = 0; i < 2 && !json_is_number(v); i++) v = json_object_get(json_object_get(root, OBJ[i]), key);
    if (!json_is_number(v)) v = json_object_get(root, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

/* Every hyperparameter the table entry names, under llama.cpp's {arch}.* key. */
static senti_status hp_kvs(conv *c, const arch_desc *d, const char *arch, const cfg_file *cfg) {
    senti_status st = SENTI_OK;
    char k[128];
    int64_t H = 0, NH = 0;
    if ((st = arch_hp_int(d, cfg, AH_HIDDEN, true, 0, &H)) || (st = arch_hp_int(d, cfg, AH_HEADS, true, 0, &NH)))
        return st;
    for (int h = 0; h < AH_COUNT && st == SENTI_OK; h++) {
        const char *sfx = arch_hp_gguf(d, (arch_hp)h);
        if (!sfx || (h == AH_HEAD_DIM && !(d->hp[h] && cfg_has(cfg, d->hp[h])))) continue;
        if (h == AH_KV_HEADS && d->kind != ARCH_DECODER) continue;
        snprintf(k, sizeof k, "%s.%s", arch, sfx);
        if (h == AH_EPS) {
            double eps;
            if ((st = arch_hp_eps(d, cfg, &eps))) return st;
            st = gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, eps));
            continue;
        }
        int64_t v;
        const bool req = h == AH_HIDDEN || h == AH_LAYERS || h == AH_HEADS || h == AH_MAX_POS ||
                         (h == AH_INTER && !d->inter_default_mult);
        const int64_t def = h == AH_KV_HEADS ? NH : h == AH_INTER ? d->inter_default_mult * H : 0;
        if ((st = arch_hp_int(d, cfg, (arch_hp)h, req, def, &v))) return st;
        if (!d->hp[h] && h != AH_KV_HEADS) continue;
        st = kv_u32(c, k, (uint64_t)v);
        if (st == SENTI_OK && h == AH_HEAD_DIM) {
            snprintf(k, sizeof k, "%s.attention.value_length", arch);
            st = kv_u32(c, k, (uint64_t)v);
        }
    }
    for (const arch_gguf_key *x = d->gguf_keys; x && x->hf && st == SENTI_OK; x++) {
        bool written = !x->gguf; /* constants llama.cpp implies; keys a hyperparameter already wrote */
        for (int h = 0; h < AH_COUNT && !written; h++)
            written = arch_hp_gguf(d, (arch_hp)h) && !strcmp(arch_hp_gguf(d, (arch_hp)h), x->gguf);
        if (written) continue;
        snprintf(k, sizeof k, "%s.%s", arch, x->gguf);
        if (x->kind == 'f') {
            double v = cfg_nested_num(cfg, x->hf, x->value);
            st = gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, v));
        } else if (cfg_has(cfg, x->hf)) {
            int64_t v;
            if ((st = cfg_get_int(cfg, x->hf, &v)) == SENTI_OK) st = kv_u32(c, k, (uint64_t)v);
        }
    }
    return st;
}

/* Encoder keys llama.cpp reads besides the hyperparameters. */
static senti_status encoder_kvs(conv *c, const arch_desc *d, const char *arch, const cfg_file *cfg, bool seq) {
    senti_status st;
    int64_t TV = 0;
    char k[128];
    TRY(arch_hp_int(d, cfg, AH_TYPE_VOCAB, false, d->type_vocab_default, &TV));
    snprintf(k, sizeof k, "%s.attention.causal", arch);
    TRY(gguf_writer_add_kv(c->w, k, gguf_val_bool(false)));
    snprintf(k, sizeof k, "%s.pooling_type", arch);
    if (seq) TRY(kv_u32(c, k, 2)); /* llama.cpp's CLS pooling */
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
        snprintf(k, sizeof k, "%s.classifier.output_labels", arch);
        st = gguf_writer_add_kv(c->w, k, gguf_val_arr(GGUF_VT_STRING, (uint64_t)nl, NULL, items));
        senti_mfree(labels); /* the strings belong to cfg, alive until the write */
    }
done:
    return st;
}

/* A decoder's rope scaling (linear only; other rope types live in senti.hf.config alone). */
static senti_status rope_kvs(conv *c, const cfg_file *cfg, const char *arch) {
    char k[96];
    senti_status st = SENTI_OK;
    json_t *root = cfg_json(cfg), *p = json_object_get(root, "rope_parameters");
    if (!json_is_object(p)) p = json_object_get(root, "rope_scaling");
    if (!json_is_object(p)) return SENTI_OK;
    json_t *ty = json_object_get(p, "rope_type");
    if (!json_is_string(ty)) ty = json_object_get(p, "type");
    json_t *fa = json_object_get(p, "factor");
    if (json_is_string(ty) && strcmp(json_string_value(ty), "linear") == 0 && json_is_number(fa)) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
        if ((st = gguf_writer_add_kv(c->w, k, gguf_val_str("linear")))) return st;
        snprintf(k, sizeof k, "%s.rope.scaling.factor", arch);
        st = gguf_writer_add_kv(c->w, k, gguf_val_float(GGUF_VT_F32, json_number_value(fa)));
    }
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

static bool has_file(const char *dir, const char *name) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A file's bytes as a u8 array key (a SentencePiece model is binary). */
static senti_status embed_bytes(conv *c, const char *dir, const char *name, const char *key) {
    char p[4096];
    char *b;
    bool present;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    senti_status st = read_text(p, &b, &present);
    if (st != SENTI_OK || !present) return st;
    if (!keep(c, b)) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", p);
    struct stat sb;
    if (stat(p, &sb) != 0) return senti_error(SENTI_ERR_IO, "%s: cannot stat", p);
    return gguf_writer_add_kv(c->w, key, gguf_val_arr(GGUF_VT_U8, (uint64_t)sb.st_size, b, NULL));
}

/* Without a tokenizer.json: the other files senti reads, embedded as they are
 * (tok_gguf.c loads them back): vocab.txt, vocab.json + merges.txt, or a
 * SentencePiece tokenizer.model / spiece.model. */
static senti_status embed_other_tokenizer(conv *c, const char *dir) {
    bool present;
    senti_status st;
    if (has_file(dir, "vocab.txt")) return embed_text(c, dir, "vocab.txt", "senti.hf.vocab_txt", &present);
    if (has_file(dir, "vocab.json") && has_file(dir, "merges.txt")) {
        if ((st = embed_text(c, dir, "vocab.json", "senti.hf.vocab_json", &present)) != SENTI_OK) return st;
        return embed_text(c, dir, "merges.txt", "senti.hf.merges_txt", &present);
    }
    if (has_file(dir, "tokenizer.model")) return embed_bytes(c, dir, "tokenizer.model", "senti.hf.tokenizer_model");
    if (has_file(dir, "spiece.model")) return embed_bytes(c, dir, "spiece.model", "senti.hf.tokenizer_model");
    return SENTI_OK;
}

/* The written file (at tmp) must run: when dir has a tokenizer senti reads,
 * the file's embedded one loads and encodes a probe text to the same ids. */
static senti_status check_tokenizer(const char *dir, const char *tmp, const char *out) {
    senti_tokenizer *a = senti_tokenizer_load(dir), *b = NULL;
    if (!a) return SENTI_OK; /* no tokenizer to carry: the file runs with --tokenizer */
    senti_status st = SENTI_OK;
    senti_encoding *ea = NULL, *eb = NULL;
    static const char probe[] = "Hello, world! The caf\xc3\xa9's menu:\t12 items  ok?";
    if (!(b = senti_tokenizer_load(tmp))) {
        char why[512];
        snprintf(why, sizeof why, "%s", senti_last_error()); /* the message buffer is about to be rewritten */
        st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: convert: the tokenizer of %s cannot be embedded (%s); add a "
                         "tokenizer.json, or pass --tokenizer when running", out, dir, why);
        goto done;
    }
    if (senti_tokenizer_encode(a, probe, sizeof probe - 1, NULL, 0, NULL, &ea) != SENTI_OK ||
        senti_tokenizer_encode(b, probe, sizeof probe - 1, NULL, 0, NULL, &eb) != SENTI_OK ||
        senti_encoding_len(ea) != senti_encoding_len(eb) ||
        memcmp(senti_encoding_ids(ea), senti_encoding_ids(eb), (size_t)senti_encoding_len(ea) * 4) != 0)
        st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: convert: the embedded tokenizer encodes differently from %s's",
                         out, dir);
done:
    senti_encoding_free(ea);
    senti_encoding_free(eb);
    senti_tokenizer_free(a);
    senti_tokenizer_free(b);
    return st;
}

/* The written file (at tmp) must load as a model, as a run would (its config
 * checked, non-finite norms / heads refused): else no file is left at out. */
static senti_status check_model(const char *tmp, const char *out) {
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = 1;
    senti_model *m = senti_model_load_opts(tmp, &o);
    if (!m) return senti_error(SENTI_ERR_BAD_FILE, "%s: convert: the written file does not load: %s", out, senti_last_error());
    senti_model_free(m);
    return SENTI_OK;
}

senti_status gguf_convert(const char *dir, const char *out, senti_type type) {
    const gguf_convert_opts o = {.type = type, .embed_type = SENTI_TYPE_F32};
    return gguf_convert_with(dir, out, &o);
}

static bool writable_type(senti_type t) {
    return t == SENTI_TYPE_F32 || t == SENTI_TYPE_F16 || t == SENTI_TYPE_BF16 || t == SENTI_TYPE_Q8_0 ||
           t == SENTI_TYPE_Q4_0;
}

/* out may be new or a regular file that is not one of dir's files (the
 * rename would replace a device, FIFO or directory entry, or the model being
 * read): checked before anything is read. */
static senti_status check_out(const char *dir, const char *out) {
    struct stat so;
    if (stat(out, &so) != 0) return SENTI_OK; /* new (a bad directory fails at the write) */
    if (!S_ISREG(so.st_mode))
        return senti_error(SENTI_ERR_INVALID_ARG, "%s exists and is not a regular file: refusing to replace it", out);
    char hit[4352];
    if (senti_file_in(out, dir, hit, sizeof hit))
        return senti_error(SENTI_ERR_INVALID_ARG, "%s is the model's own %s: refusing to overwrite it", out, hit);
    return SENTI_OK;
}

senti_status gguf_convert_with(const char *dir, const char *out, const gguf_convert_opts *opts) {
    const senti_type type = opts->type, etype = opts->embed_type;
    senti_status st = SENTI_OK;
    conv c = {0};
    char tmp[4200];
    cfg_file *cfg = NULL;
    st_weights *w = NULL, *hw = NULL;
    const char **archs = NULL;
    int64_t n_archs = 0;
    char path[4096];
    if (!writable_type(type) || !writable_type(etype)) {
        const senti_type bad = writable_type(type) ? etype : type;
        return senti_error(SENTI_ERR_INVALID_ARG, "convert: type %s cannot be written (f32, f16, bf16, q8_0, q4_0)",
                           (unsigned)bad < SENTI_TYPE_COUNT ? senti_type_name(bad) : "?");
    }
    if ((st = check_out(dir, out)) != SENTI_OK) return st;
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
    senti_model_head head = SENTI_HEAD_BASE;
    const arch_desc *d = arch_find(archs[0], &head);
    if (!d) {
        st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: convert: architecture '%s' is not supported", path, archs[0]);
        goto done;
    }
    /* an architecture llama.cpp does not know is written under its own name
     * with HF tensor names; senti reads it back from senti.hf.config */
    const char *gguf_arch = d->gguf_arch ? d->gguf_arch : d->name;
    const bool decoder = d->kind == ARCH_DECODER;
    if (!(c.w = gguf_writer_init())) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    TRY(gguf_writer_add_kv(c.w, "general.architecture", gguf_val_str(gguf_arch)));
    /* the folder's own name (trailing slashes ignored), unless a --meta general.name=… gives one */
    size_t dn = strlen(dir);
    while (dn > 1 && dir[dn - 1] == '/') dn--;
    size_t b0 = dn;
    while (b0 > 0 && dir[b0 - 1] != '/') b0--;
    char *folder = keep(&c, senti_malloc(dn - b0 + 1));
    if (!folder) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    memcpy(folder, dir + b0, dn - b0);
    folder[dn - b0] = '\0';
    const char *base = folder;
    for (int64_t i = 0; i < opts->n_meta; i++)
        if (!strncmp(opts->meta[i], "general.name=", 13)) base = opts->meta[i] + 13;
    if (!utf8_ok(base)) {
        st = senti_error(SENTI_ERR_INVALID_ARG, "general.name '%s' is not valid UTF-8 (give --meta general.name=…)",
                         base);
        goto done;
    }
    TRY(gguf_writer_add_kv(c.w, "general.name", gguf_val_str(base)));
    /* general.file_type is written after the tensors: it names the type the linear weights got, f32 when none
     * could take the asked one (an inner size that is not a multiple of its block) */
    TRY(hp_kvs(&c, d, gguf_arch, cfg));
    if (decoder && d->pos == ARCH_POS_ROPE) TRY(rope_kvs(&c, cfg, gguf_arch));
    if (!decoder) TRY(encoder_kvs(&c, d, gguf_arch, cfg, head == SENTI_HEAD_SEQUENCE_CLASSIFICATION));
    bool present, has_json;
    TRY(embed_text(&c, dir, "config.json", "senti.hf.config", &present));
    TRY(embed_text(&c, dir, "tokenizer.json", "tokenizer.huggingface.json", &has_json));
    int64_t vocab = 0;
    TRY(arch_hp_int(d, cfg, AH_VOCAB, false, 0, &vocab));
    TRY(tok_gguf_keys(dir, vocab, c.w, &c.tok));
    TRY(embed_text(&c, dir, "tokenizer_config.json", "senti.hf.tokenizer_config", &present));
    if (!has_json) TRY(embed_other_tokenizer(&c, dir));
    TRY(embed_text(&c, dir, "generation_config.json", "senti.hf.generation_config", &present));
    bool has_heads; /* extra heads: heads.json as senti.heads, heads.safetensors' head.* tensors as f32 */
    TRY(embed_text(&c, dir, "heads.json", "senti.heads", &has_heads));
    for (int64_t i = 0; i < opts->n_meta; i++) {
        const char *kv = opts->meta[i], *eq = strchr(kv, '=');
        if (!strncmp(kv, "general.name=", 13)) continue; /* written above */
        if (!eq || eq == kv) {
            st = senti_error(SENTI_ERR_INVALID_ARG, "convert: metadata '%s' is not key=value", kv);
            goto done;
        }
        if (!gguf_key_ok(kv, (size_t)(eq - kv)) || !utf8_ok(eq + 1)) {
            st = senti_error(SENTI_ERR_INVALID_ARG, "metadata '%.*s': a key is lower_snake_case parts joined by dots, "
                             "a value valid UTF-8", (int)(eq - kv), kv);
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

    bool any_linear = false; /* a linear weight took the asked type (general.file_type then names it) */
    int64_t nh = 0, nkv = 0;
    if (d->flags & ARCH_F_GGUF_PERMUTE) {
        TRY(arch_hp_int(d, cfg, AH_HEADS, true, 0, &nh));
        TRY(arch_hp_int(d, cfg, AH_KV_HEADS, false, nh, &nkv));
    }
    const size_t plen = d->prefix ? strlen(d->prefix) : 0;
    for (int64_t i = 0; i < st_weights_count(w); i++) {
        const st_tensor *t = st_weights_get(w, i);
        if (t->type == SENTI_TYPE_COUNT || t->type == SENTI_TYPE_I32) continue; /* position_ids buffers and the like */
        char name[256];
        if (!arch_hf_to_gguf(d, head, t->name, name, sizeof name)) {
            if (decoder) continue; /* buffers llama.cpp has no name for */
            const size_t k = plen && strncmp(t->name, d->prefix, plen) == 0 ? plen : 0;
            if (strlen(t->name) - k >= sizeof name) {
                st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor name '%s' is too long", st_weights_source(w), t->name);
                goto done;
            }
            snprintf(name, sizeof name, "%s", t->name + k);
        }
        const char *hf = plen && strncmp(t->name, d->prefix, plen) == 0 ? t->name + plen : t->name;
        int64_t layer;
        const arch_role r = arch_role_of(d, hf, &layer);
        const bool hf_named = !d->gguf_arch; /* written under its HF names: the roles say what is linear */
        const bool linear = t->ndim == 2 && (hf_named ? hf_linear_role(d, r)
                                                      : strncmp(name, "blk.", 4) == 0 || strcmp(name, "cls.weight") == 0 ||
                                                            strcmp(name, "output.weight") == 0);
        xform x = {0};
        if ((d->flags & ARCH_F_GGUF_PERMUTE) && (r == AR_Q || r == AR_K)) x.n_head = r == AR_Q ? nh : nkv;
        x.transpose = (d->flags & ARCH_F_CONV1D) && t->ndim == 2 &&
                      (r == AR_QKV || r == AR_O || r == AR_UP || r == AR_DOWN || r == AR_GATE);
        x.shift = (d->flags & ARCH_F_NORM_SHIFT) && t->ndim == 1 && strstr(name, "norm.weight") != NULL;
        const int64_t inner = x.transpose ? t->shape[0] : t->ndim == 2 ? t->shape[1] : 0;
        senti_type tt = SENTI_TYPE_F32;
        if (linear && (!senti_type_is_quant(type) || inner % senti_type_block(type) == 0)) tt = type;
        if (linear && tt == type) any_linear = true;
        if (!decoder && !strcmp(name, "token_embd.weight") && t->ndim == 2 &&
            (!senti_type_is_quant(etype) || t->shape[1] % senti_type_block(etype) == 0))
            tt = etype;
        TRY(add_tensor(&c, st_weights_source(w), t, name, tt, &x));
    }
    if (has_heads) {
        snprintf(path, sizeof path, "%s/heads.safetensors", dir);
        if (!(hw = st_weights_load(path))) {
            st = SENTI_ERR_BAD_FILE;
            goto done;
        }
        const xform none = {0};
        for (int64_t i = 0; i < st_weights_count(hw); i++) {
            const st_tensor *t = st_weights_get(hw, i);
            if (strncmp(t->name, "head.", 5) != 0) {
                st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' is not a head.<name>.* tensor", path, t->name);
                goto done;
            }
            TRY(add_tensor(&c, path, t, t->name, SENTI_TYPE_F32, &none));
        }
    }
    TRY(kv_u32(&c, "general.file_type", file_type(any_linear ? type : SENTI_TYPE_F32)));
    /* written beside out under a temporary name, checked, then renamed: a
     * failed write or check leaves no file at out */
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", out, (long)getpid()) >= (int)sizeof tmp) {
        st = senti_error(SENTI_ERR_INVALID_ARG, "%s: path too long", out);
        goto done;
    }
    if ((st = gguf_writer_write(c.w, tmp)) == SENTI_OK && (st = check_model(tmp, out)) == SENTI_OK)
        st = check_tokenizer(dir, tmp, out);
    if (st == SENTI_OK && rename(tmp, out) != 0)
        st = senti_error(SENTI_ERR_IO, "%s: cannot rename %s into place: %s", out, tmp, strerror(errno));
    if (st != SENTI_OK) unlink(tmp);
done:
    st_weights_free(hw);
    for (int64_t i = 0; i < c.nbufs; i++) senti_mfree(c.bufs[i]);
    senti_mfree(c.bufs);
    tok_gguf_bufs_free(c.tok);
    gguf_writer_free(c.w);
    senti_mfree(archs);
    st_weights_free(w);
    cfg_free(cfg);
    return st;
}
