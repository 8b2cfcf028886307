/* gguf_model.c — a GGUF file presented as a HuggingFace model directory: a
 * config (embedded by senti convert, or synthesized from llama.cpp's
 * metadata keys) and a weights set whose tensors carry the HF names and
 * shapes the architecture families load. GGUF names, keys and layouts come
 * from the architecture table (arch.c); this file applies them.
 *
 * Keys senti writes and reads besides llama.cpp's (see gguf_convert.c):
 *   senti.hf.config        string  the checkpoint's config.json text
 *   tokenizer.huggingface.json  string  tokenizer.json text (llama.cpp's key)
 * Files without senti.hf.config are llama.cpp files: the table entry whose
 * gguf_class answers general.architecture gives the HF class and keys, its
 * family's hook the rest (bert.c: "bert" read as BertModel, or
 * DistilBertModel without token_types — llama.cpp's converter drops BERT's
 * pooler, so its sequence classifiers cannot be rebuilt; decoder.c: tied
 * output, biases, rope scaling). Layouts llama.cpp stores differently are
 * undone by the entry's flags (q/k rows un-permuted, Conv1D weights
 * transposed back); quantized decoder linear weights stay quantized (the
 * decoder computes with them) except transposed ones, which like every other
 * quantized tensor are dequantized to f32 here.
 *
 * Invariant: the weights set keeps the gguf_file alive (its owner), so every
 * st_tensor's name and data stay valid until st_weights_free. */
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "arch.h"

/* ---- configs ---------------------------------------------------------------------------
 * A llama.cpp file's metadata as the HF config of the table entry that
 * reads general.architecture: the class, every hyperparameter key the entry
 * names under llama.cpp's {arch}.* key, the entry's further keys, the
 * vocabulary from the embeddings' rows; then the family's own hook. */

/* v (read from the file's key gk) as config key `key`: a float must be
 * finite (JSON has no NaN or inf; the config's own checks name the range). */
static senti_status set_num(json_t *c, const char *key, char kind, double v, const char *path, const char *gk) {
    if (kind == 'f' && !isfinite(v))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' is %g: must be finite", path, gk, v);
    json_t *j = kind == 'f' ? json_real(v) : kind == 'b' ? json_boolean(v != 0) : json_integer((json_int_t)v);
    return j && json_object_set_new(c, key, j) == 0 ? SENTI_OK : senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
}

senti_status gguf_config_generic(const arch_desc *d, const char *hf_class, const gguf_file *f, void *cfg) {
    json_t *c = cfg, *archs = json_array();
    const char *path = gguf_file_path(f);
    senti_status st = SENTI_OK;
    char k[128];
    json_object_clear(c);
    if (!archs || json_object_set_new(c, "architectures", archs) != 0 ||
        json_array_append_new(archs, json_string(hf_class)) != 0 ||
        json_object_set_new(c, "model_type", json_string(d->name)) != 0)
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int h = 0; h < AH_COUNT; h++) {
        const char *sfx = arch_hp_gguf(d, (arch_hp)h);
        if (!sfx || !d->hp[h]) continue;
        snprintf(k, sizeof k, "%s.%s", d->gguf_arch, sfx);
        if (!gguf_file_find_kv(f, k)) {
            const bool required = h == AH_HIDDEN || h == AH_LAYERS || h == AH_HEADS || h == AH_MAX_POS ||
                                  (h == AH_INTER && !d->inter_default_mult);
            if (required) return senti_error(SENTI_ERR_BAD_FILE, "%s: missing key '%s'", path, k);
            continue;
        }
        if (h == AH_EPS) {
            double v;
            if ((st = gguf_kv_float(f, k, d->eps_default, &v)) || (st = set_num(c, d->hp[h], 'f', v, path, k))) return st;
        } else {
            int64_t v;
            if ((st = gguf_kv_int(f, k, true, 0, &v)) || (st = set_num(c, d->hp[h], 'i', (double)v, path, k))) return st;
        }
    }
    for (const arch_gguf_key *x = d->gguf_keys; x && x->hf; x++) {
        double v = x->value;
        if (x->gguf) {
            snprintf(k, sizeof k, "%s.%s", d->gguf_arch, x->gguf);
            int64_t i;
            if (x->kind == 'f') st = gguf_kv_float(f, k, x->value, &v);
            else if ((st = gguf_kv_int(f, k, false, (int64_t)x->value, &i)) == SENTI_OK) v = (double)i;
            if (st) return st;
        }
        if ((st = set_num(c, x->hf, x->kind, v, path, x->gguf ? k : x->hf))) return st;
    }
    const gguf_tensor *te = gguf_file_find_tensor(f, "token_embd.weight");
    if (!te || te->n_dims != 2)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor 'token_embd.weight' is missing or not 2-D", path);
    if ((st = set_num(c, arch_hp_key(d, AH_VOCAB), 'i', (double)te->ne[1], path, "token_embd.weight"))) return st;
    return SENTI_OK;
}

/* The config of a llama.cpp file: its general.architecture looked up in the table. */
static json_t *llamacpp_config(const gguf_file *f, const char *arch, senti_status *st) {
    const arch_desc *d = arch_find_gguf(arch);
    if (!d) {
        *st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: architecture '%s' (key 'general.architecture') is not supported",
                          gguf_file_path(f), arch ? arch : "(missing)");
        return NULL;
    }
    json_t *c = json_object();
    if (!c) {
        *st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", gguf_file_path(f));
        return NULL;
    }
    if (!(*st = gguf_config_generic(d, d->gguf_class, f, c)) && d->family->gguf_config)
        *st = d->family->gguf_config(&d, f, c);
    if (*st) {
        json_decref(c);
        return NULL;
    }
    return c;
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
 * llama.cpp's differs, as the table's flags say: q / k rows un-permuted
 * (ARCH_F_GGUF_PERMUTE), Conv1D weights transposed back to [in, out]
 * (ARCH_F_CONV1D). A quantized linear weight (a layer projection or the LM
 * head) stays in its type (rows permuted as they are), for the decoder to
 * compute with directly; any other quantized tensor (embeddings, transposed
 * weights) is dequantized to f32 on the way. *buf gets the new data (or NULL). */
static senti_status to_hf_layout(const arch_desc *d, json_t *root, st_tensor *t, void **buf) {
    *buf = NULL;
    const bool quant = senti_type_is_quant(t->type);
    int64_t layer;
    const arch_role r = arch_role_of(d, t->name, &layer);
    int64_t n_head = 0;
    if ((d->flags & ARCH_F_GGUF_PERMUTE) && (r == AR_Q || r == AR_K)) {
        json_t *kv = json_object_get(root, arch_hp_key(d, AH_KV_HEADS));
        json_t *nh = json_object_get(root, arch_hp_key(d, AH_HEADS));
        n_head = json_integer_value(r == AR_K && json_is_integer(kv) ? kv : nh);
        if (n_head < 1) n_head = -1;
    }
    const bool linear_role = r == AR_Q || r == AR_K || r == AR_V || r == AR_QKV || r == AR_O || r == AR_GATE ||
                             r == AR_UP || r == AR_DOWN || r == AR_LM_HEAD;
    const bool transpose = (d->flags & ARCH_F_CONV1D) && t->ndim == 2 && linear_role && r != AR_LM_HEAD;
    /* quantized linear weights and token tables stay as stored (get_rows reads any type) */
    const bool keep = quant && !transpose && t->ndim == 2 && (linear_role || r == AR_TOK_EMB) &&
                      ends_with(t->name, ".weight");
    /* llama.cpp stores Gemma's norm weights as 1 + w */
    const bool unshift = (d->flags & ARCH_F_NORM_SHIFT) && t->ndim == 1 && ends_with(t->name, ".weight") &&
                         (r == AR_ATTN_NORM || r == AR_FFN_NORM || r == AR_ATTN_POST_NORM || r == AR_FFN_POST_NORM ||
                          r == AR_Q_NORM || r == AR_K_NORM || r == AR_OUT_NORM || r == AR_EMB_NORM);
    if (!n_head && !transpose && !unshift && (!quant || keep)) return SENTI_OK;
    const int64_t rows = t->ndim == 2 ? t->shape[0] : t->numel, cols = t->ndim == 2 ? t->shape[1] : 1;
    if (n_head && (n_head < 1 || rows % (2 * n_head)))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %lld rows do not split into %lld heads", t->file,
                           t->name, (long long)rows, (long long)n_head);
    if (keep) { /* quantized q / k: permute whole rows of blocks */
        const size_t rs = senti_row_size(t->type, cols);
        if (!(*buf = senti_malloc((size_t)rows * rs + 1)))
            return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", t->file);
        arch_rope_permute(t->data, *buf, rows, rs, n_head, false);
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
        arch_rope_permute(f, g, rows, (size_t)cols * sizeof(float), n_head, false);
    } else if (transpose) { /* GGUF [out, in] -> HF [in, out] */
        for (int64_t r2 = 0; r2 < rows; r2++)
            for (int64_t c = 0; c < cols; c++) g[c * rows + r2] = f[r2 * cols + c];
        t->shape[0] = cols, t->shape[1] = rows;
    }
    if (g) senti_mfree(f), f = g;
    for (int64_t i = 0; unshift && i < t->numel; i++) f[i] = (float)((double)f[i] - 1.0);
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
    if ((st = gguf_kv_str(f, "general.architecture", &arch)) || (st = gguf_kv_str(f, "senti.hf.config", &embedded)))
        goto fail;
    if (embedded) {
        json_error_t jerr;
        root = json_loads(embedded, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'senti.hf.config': malformed JSON at %d:%d: %s", path,
                             jerr.line, jerr.column, jerr.text);
            goto fail;
        }
    } else if (!(root = llamacpp_config(f, arch, &st))) {
        goto fail;
    }
    const char *heads; /* extra heads (senti convert of a directory with heads.json): into the config */
    if ((st = gguf_kv_str(f, "senti.heads", &heads))) goto fail;
    if (heads) {
        json_error_t jerr;
        json_t *h = json_loads(heads, JSON_REJECT_DUPLICATES, &jerr);
        if (!h || json_object_set_new(root, "senti_heads", h)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'senti.heads': malformed JSON at %d:%d: %s", path, jerr.line,
                             jerr.column, jerr.text);
            goto fail;
        }
    }
    /* which name table: the HF architecture */
    json_t *a0 = json_array_get(json_object_get(root, "architectures"), 0);
    const char *hf_arch = json_is_string(a0) ? json_string_value(a0) : "";
    senti_model_head head = SENTI_HEAD_BASE;
    const arch_desc *d = arch_find(hf_arch, &head);
    const bool decoder = d && d->kind == ARCH_DECODER;

    const int64_t n = gguf_file_tensor_count(f);
    ts = senti_calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    own = senti_calloc(1, sizeof *own);
    if (!ts || !own || !(own->names = senti_malloc((size_t)(n > 0 ? n : 1) * 160)) ||
        !(own->bufs = senti_calloc(n > 0 ? 2 * (size_t)n : 1, sizeof *own->bufs))) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor *g = gguf_file_tensor(f, i);
        st_tensor *t = &ts[i];
        char *nm = own->names + i * 160;
        if (!d || !arch_gguf_to_hf(d, head, g->name, nm, 160)) snprintf(nm, 160, "%s", g->name);
        t->name = nm;
        t->file = gguf_file_path(f);
        t->type = g->type;
        t->dtype = senti_type_name(g->type);
        t->ndim = g->n_dims;
        for (int k = 0; k < g->n_dims; k++) t->shape[k] = g->ne[g->n_dims - 1 - k];
        t->numel = g->numel;
        t->data = g->data;
        t->nbytes = g->nbytes;
        if (gguf_tensor_q8_0_exact(g)) { /* q5_0: held as q8_0, the same values */
            const size_t nb = (size_t)(g->numel / 32) * sizeof(senti_block_q8_0);
            void *qb = senti_malloc(nb + 1);
            if (!qb) {
                st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", path, g->name);
                goto fail;
            }
            own->bufs[own->nbufs++] = qb;
            if ((st = gguf_tensor_read_q8_0(g, qb)) != SENTI_OK) goto fail;
            t->type = SENTI_TYPE_Q8_0, t->dtype = senti_type_name(SENTI_TYPE_Q8_0), t->data = qb, t->nbytes = nb;
        } else if (gguf_tensor_is_foreign(g)) { /* q4_1 / q5_1: held as f32 */
            float *fb = senti_malloc((size_t)g->numel * sizeof(float) + 1);
            if (!fb) {
                st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory dequantizing tensor '%s'", path, g->name);
                goto fail;
            }
            own->bufs[own->nbufs++] = fb;
            if ((st = gguf_tensor_read_f32(g, fb)) != SENTI_OK) goto fail;
            t->type = SENTI_TYPE_F32, t->dtype = "F32", t->data = fb, t->nbytes = (size_t)g->numel * sizeof(float);
        }
        if (decoder) {
            void *buf;
            if ((st = to_hf_layout(d, root, t, &buf)) != SENTI_OK) goto fail;
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
