/* registry.c — config.json's architecture name looked up in the
 * architecture table (arch.c), the model loaded by that entry's family, and
 * the public senti_model API on top of it.
 *
 * Invariant: a senti_model handed out has passed its family's load, so its
 * config keys and every tensor it uses have been validated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../kernels/backend.h"
#include "arch.h"

/* Distinct stored dtypes of the checkpoint, sorted by senti_type, into m->dtypes;
 * and the parameter count (every tensor). Returns the dtypes as ST_TYPE_BIT bits. */
static unsigned scan_weights(senti_model *m) {
    unsigned seen = 0;
    m->n_params = 0;
    for (int64_t i = 0; i < st_weights_count(m->w); i++) {
        const st_tensor *t = st_weights_get(m->w, i);
        m->n_params += t->numel;
        if (t->type < SENTI_TYPE_COUNT) seen |= ST_TYPE_BIT(t->type);
    }
    m->dtypes[0] = '\0';
    for (int t = 0; t < SENTI_TYPE_COUNT; t++) {
        if (!(seen & ST_TYPE_BIT(t))) continue;
        size_t n = strlen(m->dtypes);
        snprintf(m->dtypes + n, sizeof m->dtypes - n, "%s%s", n ? "," : "", senti_type_name((senti_type)t));
    }
    return seen;
}

int senti_bf16_native(const char *device) { return exec_bf16_native(device); }
const char *senti_simd_level(const char *device) { return exec_simd_level(device); }

senti_type senti_model_linear_type(const senti_model *m) {
    return m->opts.weight_type;
}

senti_model_opts senti_model_opts_defaults(void) {
    return (senti_model_opts){.n_threads = 0, .weight_type = SENTI_TYPE_COUNT, .device = NULL, .prefer_bf16 = 0};
}

senti_model *senti_model_load(const char *dir, int n_threads) {
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = n_threads;
    return senti_model_load_opts(dir, &o);
}

senti_model *senti_model_load_opts(const char *dir, const senti_model_opts *opts) {
    const senti_model_opts o = opts ? *opts : senti_model_opts_defaults();
    if (!dir) {
        senti_error(SENTI_ERR_INVALID_ARG, "senti_model_load: dir is NULL");
        return NULL;
    }
    senti_model *m = senti_calloc(1, sizeof *m);
    const char **archs = NULL;
    int64_t n_archs = 0;
    char path[4096];
    if (!m || !(m->dir = senti_strdup(dir))) {
        senti_error(SENTI_ERR_NO_MEMORY, "out of memory loading %s", dir);
        goto fail;
    }
    if (exec_device_check(o.device) != SENTI_OK) {
        senti_error(SENTI_ERR_UNSUPPORTED, "%s: %s", dir, senti_last_error());
        goto fail;
    }
    if (o.weight_type != SENTI_TYPE_COUNT && (o.weight_type < 0 || o.weight_type > SENTI_TYPE_COUNT ||
                                              o.weight_type == SENTI_TYPE_I32 || senti_type_is_kquant(o.weight_type))) {
        senti_error(SENTI_ERR_INVALID_ARG, "%s: weight type %d cannot hold weights (%s)", dir, (int)o.weight_type,
                    o.weight_type < 0 || o.weight_type > SENTI_TYPE_COUNT ? "no such type"
                    : o.weight_type == SENTI_TYPE_I32                     ? "an integer type"
                                                                          : "no quantizer for K-quants");
        goto fail;
    }
    m->opts = o;
    m->opts.device = NULL;
    struct stat sb; /* one GGUF file (any other non-directory: its reader says why not), else an HF directory */
    const bool gguf = gguf_is_gguf_path(dir) || (stat(dir, &sb) == 0 && !S_ISDIR(sb.st_mode));
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (gguf) {
        if (gguf_model_open(dir, &m->cfg, &m->w) != SENTI_OK) goto fail;
        snprintf(path, sizeof path, "%s", dir);
    } else {
        m->cfg = cfg_load(path);
    }
    if (!m->cfg) goto fail;
    if (cfg_get_strs(m->cfg, "architectures", true, &archs, &n_archs) != SENTI_OK) goto fail;
    if (n_archs < 1) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: key 'architectures' is empty", path);
        goto fail;
    }
    m->desc = arch_find(archs[0], &m->head);
    m->arch_name = archs[0]; /* borrowed from m->cfg */
    if (!m->desc) {
        senti_error(SENTI_ERR_UNSUPPORTED, "%s: unknown architecture '%s' (key 'architectures')", path, archs[0]);
        goto fail;
    }
    if (!gguf) m->w = st_weights_load(dir);
    if (!m->w) goto fail;
    /* prefer_bf16: an encoder with no quantized weight runs its linear weights in bf16 where the device
     * multiplies bf16 natively (the accuracy gate of bench/dtype_gate.py holds for encoders), exactly as
     * weight_type SENTI_TYPE_BF16: every linear weight is then f32 / f16 / bf16 */
    const unsigned stored = scan_weights(m);
    if (o.weight_type == SENTI_TYPE_COUNT && o.prefer_bf16 && m->desc->kind == ARCH_ENCODER &&
        !(stored & ST_WEIGHT_TYPES & ~ST_FLOAT_TYPES) && exec_bf16_native(o.device))
        m->opts.weight_type = SENTI_TYPE_BF16;
    if (m->desc->family->load(m) != SENTI_OK || model_heads_load(m, gguf) != SENTI_OK) goto fail;
    m->be = exec_backend_init(o.device, o.n_threads, &m->fallback); /* the device by name (core/) */
    if (!m->be) goto fail;
    m->ex = exec_init(m->be, m->fallback);
    if (!m->ex) goto fail;
    senti_mfree(archs);
    return m;
fail:
    senti_mfree(archs);
    senti_model_free(m);
    return NULL;
}

/* One forward of a one-token input by an encoder on the CPU: the backend
 * packs every linear weight for its kernels on first use (cpu_gemm_prepack),
 * which then happens here rather than inside the first batch (2.7% of a
 * 400-text f32 BERT-base run, 2.9% at int8). The output is dropped; what the
 * forward leaves (packed weights, grown arenas) changes no result. */
senti_status senti_model_prepare(senti_model *m) {
    if (!m) return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_prepare: model is NULL");
    const char *wu = getenv("SENTI_WARMUP");
    if (m->desc->kind != ARCH_ENCODER || m->fallback || (wu && strcmp(wu, "0") == 0)) return SENTI_OK;
    const int32_t id = 0;
    float *y = NULL;
    int64_t shape[3];
    int nd = 0;
    const senti_status st = senti_model_forward(m, &id, NULL, NULL, 1, 1, &y, shape, &nd);
    senti_model_output_free(y);
    if (st != SENTI_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", senti_last_error());
        return senti_error(st, "%s: the one-token forward that packs the weights failed: %s", m->dir, why);
    }
    return SENTI_OK;
}

void senti_model_free(senti_model *m) {
    if (!m) return;
    if (m->desc && m->impl) m->desc->family->free(m->impl);
    model_heads_free(m);
    exec_free(m->ex);
    senti_backend_free(m->be);
    senti_backend_free(m->fallback);
    senti_mfree(m->labels);
    st_weights_free(m->w);
    cfg_free(m->cfg);
    senti_mfree(m->dir);
    senti_mfree(m);
}

senti_forward_opts senti_forward_opts_defaults(void) { return (senti_forward_opts){0}; }

senti_status senti_model_forward(senti_model *m, const int32_t *ids, const int32_t *type_ids,
                                 const int32_t *attention_mask, int64_t batch, int64_t seq_len, float **out,
                                 int64_t shape[3], int *ndim) {
    return senti_model_forward_opts(m, ids, type_ids, attention_mask, batch, seq_len, NULL, out, shape, ndim);
}

senti_status senti_model_forward_opts(senti_model *m, const int32_t *ids, const int32_t *type_ids,
                                      const int32_t *attention_mask, int64_t batch, int64_t seq_len,
                                      const senti_forward_opts *fo, float **out, int64_t shape[3], int *ndim) {
    if (!m || !ids || !out || !shape || !ndim)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_forward: NULL argument");
    *out = NULL;
    if (batch < 1 || seq_len < 1)
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_forward: empty batch (%lld x %lld)", (long long)batch,
                           (long long)seq_len);
    if (seq_len > senti_model_max_length(m))
        return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_forward: %lld tokens, the model takes at most %lld",
                           (long long)seq_len, (long long)senti_model_max_length(m));
    for (int64_t i = 0; i < batch * seq_len; i++) {
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_forward: id %d at [%lld,%lld] outside [0,%lld)",
                               ids[i], (long long)(i / seq_len), (long long)(i % seq_len), (long long)m->vocab);
        /* a model without token types ignores them (as transformers does) */
        if (type_ids && m->type_vocab > 0 && (type_ids[i] < 0 || type_ids[i] >= m->type_vocab))
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "senti_model_forward: token type %d at [%lld,%lld] outside [0,%lld)", type_ids[i],
                               (long long)(i / seq_len), (long long)(i % seq_len), (long long)m->type_vocab);
        if (attention_mask && attention_mask[i] != 0 && attention_mask[i] != 1)
            return senti_error(SENTI_ERR_INVALID_ARG, "senti_model_forward: attention mask value %d is not 0 or 1",
                               attention_mask[i]);
    }
    model_input in = {ids, type_ids, attention_mask, batch, seq_len, fo ? fo->emb_scale : NULL, fo ? fo->attn : NULL,
                      fo && m->n_xheads ? fo->heads : NULL};
    if ((in.emb_scale || in.attn) && !m->desc->family->extras)
        return senti_error(SENTI_ERR_UNSUPPORTED, "senti_model_forward: %s gives no attention probabilities and "
                           "takes no embedding scale (BERT, RoBERTa and DistilBERT do)", senti_model_architecture(m));
    return m->desc->family->forward(m, &in, out, shape, ndim);
}

void senti_model_output_free(float *p) { senti_mfree(p); }

void senti_pool(const float *hs, const int32_t *mask, int64_t B, int64_t T, int64_t H, senti_pooling mode,
                float *out) {
    for (int64_t b = 0; b < B; b++) {
        float *o = out + b * H;
        if (mode == SENTI_POOL_CLS) {
            memcpy(o, hs + b * T * H, (size_t)H * sizeof *o);
            continue;
        }
        if (mode == SENTI_POOL_MAX) { /* sentence-transformers: padding set to -1e9, then max */
            for (int64_t h = 0; h < H; h++) o[h] = -1e9f;
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++) {
                    const float v = mask && !mask[b * T + t] ? -1e9f : hs[(b * T + t) * H + h];
                    if (v > o[h]) o[h] = v;
                }
            continue;
        }
        double n = 0;
        for (int64_t h = 0; h < H; h++) o[h] = 0;
        for (int64_t t = 0; t < T; t++) {
            if (mask && !mask[b * T + t]) continue;
            n += 1;
            for (int64_t h = 0; h < H; h++) o[h] += hs[(b * T + t) * H + h];
        }
        /* as sentence-transformers: the count is clamped to avoid 0/0 */
        for (int64_t h = 0; h < H; h++) o[h] = (float)(o[h] / (n > 1e-9 ? n : 1e-9));
    }
}

const char *senti_model_architecture(const senti_model *m) { return m->arch_name; }
const char *senti_model_type(const senti_model *m) {
    const char *t = NULL;
    if (cfg_opt_str(m->cfg, "model_type", NULL, &t) != SENTI_OK || !t) t = m->desc->name;
    return t;
}
senti_model_head senti_model_get_head(const senti_model *m) { return m->head; }
int64_t senti_model_num_labels(const senti_model *m) { return m->num_labels; }
const char *senti_model_label(const senti_model *m, int64_t i) {
    return (m->labels && i >= 0 && i < m->n_labels_named) ? m->labels[i] : NULL;
}
int64_t senti_model_hidden_size(const senti_model *m) { return m->hidden; }
int64_t senti_model_num_layers(const senti_model *m) { return m->layers; }
int64_t senti_model_num_heads(const senti_model *m) { return m->heads; }
int64_t senti_model_vocab_size(const senti_model *m) { return m->vocab; }
int64_t senti_model_max_length(const senti_model *m) { return m->max_pos; }
int64_t senti_model_type_vocab_size(const senti_model *m) { return m->type_vocab; }
int64_t senti_model_pad_token_id(const senti_model *m) { return m->pad_id; }
int64_t senti_model_num_parameters(const senti_model *m) { return m->n_params; }
const char *senti_model_weight_dtypes(const senti_model *m) { return m->dtypes; }
const char *senti_model_problem_type(const senti_model *m) {
    const char *s = NULL;
    return cfg_opt_str(m->cfg, "problem_type", NULL, &s) == SENTI_OK ? s : NULL;
}

int senti_cuda_device_count(void) { return exec_cuda_device_count(); }
