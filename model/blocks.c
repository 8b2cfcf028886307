/* blocks.c — the shared pieces of the family builders: loading a weight by
 * its table role, activations, linear layers, norms, the feed-forward kinds,
 * encoder self-attention, rotary settings, the encoders' common
 * hyperparameters and running a built graph.
 *
 * Invariants: a loaded weight is f32 unless it is a linear weight held in
 * the type model_linear_type picks; it points into the mapping only when
 * stored in that type and aligned, else into w->own (freed with
 * model_w_free). Blocks add nodes in the order the maths reads, so a family
 * built on them computes exactly what a hand-written graph would. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>

#include "../kernels/kernels.h"
#include "arch.h"

/* ---- loading --------------------------------------------------------------------------- */

blk_loader blk_loader_init(const senti_model *m, bool keep_half) {
    blk_loader ld = {m, m->desc, "", m->opts.weight_type, keep_half};
    char probe[256];
    if (m->desc->prefix && arch_tensor_name(m->desc, m->desc->prefix, AR_TOK_EMB, 0, ".weight", probe, sizeof probe) &&
        st_weights_find(m->w, probe))
        ld.prefix = m->desc->prefix;
    return ld;
}

senti_status blk_load_named(const blk_loader *ld, model_w *out, const char *name, bool linear, int64_t d0, int64_t d1) {
    const int64_t shape[2] = {d0, d1};
    const st_tensor *t;
    linear = linear && d1;
    senti_status st = st_weights_expect(ld->m->w, name, d1 ? 2 : 1, shape, ST_WEIGHT_TYPES, &t);
    if (st != SENTI_OK) return st;
    out->ndim = d1 ? 2 : 1;
    out->shape[0] = d0, out->shape[1] = d1;
    const senti_type want = linear ? model_linear_type(ld->wtype, t->type, d1, ld->keep_half) : SENTI_TYPE_F32;
    out->type = want;
    if (t->type == want && st_tensor_is_aligned(t, senti_type_is_quant(want) ? 2 : senti_type_size(want))) {
        out->data = t->data;
        return SENTI_OK;
    }
    float *f = senti_malloc((size_t)t->numel * sizeof(float) + 1);
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", t->file, name);
    st = st_tensor_read_f32(t, f);
    if (st != SENTI_OK || want == SENTI_TYPE_F32) {
        out->own = f;
        out->data = f;
        return st;
    }
    const size_t rs = senti_row_size(want, d1);
    out->own = senti_malloc(rs * (size_t)d0 + 1);
    if (!out->own) {
        senti_mfree(f);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory converting tensor '%s'", t->file, name);
    }
    for (int64_t r = 0; r < d0; r++) senti_row_from_f32(want, f + r * d1, (char *)out->own + (size_t)r * rs, d1);
    senti_mfree(f);
    out->data = out->own;
    return SENTI_OK;
}

senti_status blk_check_finite(const senti_model *m, const model_w *w, const char *name) {
    if (m->opts.no_weight_check || !w->data) return SENTI_OK;
    const int64_t cols = w->ndim == 2 ? w->shape[1] : w->shape[0], rows = w->ndim == 2 ? w->shape[0] : 1;
    const size_t rs = senti_row_size(w->type, cols);
    float *buf = w->type == SENTI_TYPE_F32 ? NULL : senti_malloc((size_t)cols * sizeof *buf + 1);
    if (w->type != SENTI_TYPE_F32 && !buf)
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory checking tensor '%s'", m->dir, name);
    senti_status st = SENTI_OK;
    for (int64_t r = 0; r < rows && st == SENTI_OK; r++) {
        const float *x = (const float *)((const char *)w->data + (size_t)r * rs);
        if (buf) senti_row_to_f32(w->type, x, buf, cols), x = buf;
        for (int64_t i = 0; i < cols; i++)
            if (!isfinite(x[i])) {
                st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' holds %s at element %lld; a poisoned weight "
                                 "gives every input the same answer (--no-weight-check skips this scan)", m->dir, name,
                                 isnan(x[i]) ? "NaN" : "inf", (long long)(r * cols + i));
                break;
            }
    }
    senti_mfree(buf);
    return st;
}

/* Roles scanned at load: every norm and the heads (small next to the stack,
 * and where a NaN or inf decides the answer for every input). */
static bool role_scanned(arch_role r) {
    switch (r) {
    case AR_EMB_NORM: case AR_REL_NORM: case AR_OUT_NORM: case AR_POOLER: case AR_ATTN_NORM: case AR_Q_NORM:
    case AR_K_NORM: case AR_ATTN_POST_NORM: case AR_FFN_NORM: case AR_FFN_POST_NORM: case AR_LM_HEAD:
    case AR_SEQ_DENSE: case AR_SEQ_NORM: case AR_SEQ_OUT: case AR_TOK_DENSE: case AR_TOK_NORM: case AR_TOK_OUT:
    case AR_MLM_DENSE: case AR_MLM_NORM: case AR_MLM_BIAS: return true;
    default: return false;
    }
}

senti_status blk_load(const blk_loader *ld, model_w *w, arch_role r, int64_t l, const char *suffix, bool linear,
                      bool optional, int64_t d0, int64_t d1) {
    char name[320];
    if (!arch_tensor_name(ld->d, ld->prefix, r, l, suffix, name, sizeof name)) {
        if (optional) return SENTI_OK;
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: architecture '%s' has no tensor for role %d", ld->m->dir,
                           ld->d->name, (int)r);
    }
    if (optional && !st_weights_find(ld->m->w, name)) return SENTI_OK;
    senti_status st = blk_load_named(ld, w, name, linear, d0, d1);
    if (st == SENTI_OK && role_scanned(r)) st = blk_check_finite(ld->m, w, name);
    return st;
}

senti_status blk_absent(const blk_loader *ld, arch_role r, const char *suffix, const char *key) {
    char name[320];
    if (arch_tensor_name(ld->d, ld->prefix, r, 0, suffix, name, sizeof name) && st_weights_find(ld->m->w, name))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' is present but key '%s' is 0: the model would ignore it",
                           cfg_path(ld->m->cfg), name, key);
    return SENTI_OK;
}

senti_status blk_load_linear(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, bool bias,
                             int64_t out, int64_t in) {
    senti_status st = blk_load(ld, w, r, l, ".weight", true, false, out, in);
    if (st == SENTI_OK && bias) st = blk_load(ld, b, r, l, ".bias", false, false, out, 0);
    return st;
}

senti_status blk_load_norm(const blk_loader *ld, model_w *w, model_w *b, arch_role r, int64_t l, bool bias,
                           int64_t n) {
    senti_status st = blk_load(ld, w, r, l, ".weight", false, false, n, 0);
    if (st == SENTI_OK && bias) st = blk_load(ld, b, r, l, ".bias", false, false, n, 0);
    return st;
}

senti_status blk_shift_norm(const senti_model *m, model_w *w) {
    if (!w->data) return SENTI_OK;
    const int64_t n = w->shape[0];
    float *f = w->own ? w->own : senti_malloc((size_t)n * sizeof *f + 1);
    if (!f) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory loading a norm", m->dir);
    if (f != w->data) memcpy(f, w->data, (size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] += 1.0f;
    w->own = f;
    w->data = f;
    return SENTI_OK;
}

senti_status blk_parse_act(const cfg_file *c, const char *key, const char *def, blk_act *out) {
    const char *s;
    senti_status st = cfg_opt_str(c, key, def, &s);
    if (st != SENTI_OK) return st;
    if (!strcmp(s, "gelu") || !strcmp(s, "gelu_python")) *out = BLK_GELU;
    else if (!strcmp(s, "gelu_new") || !strcmp(s, "gelu_pytorch_tanh") || !strcmp(s, "gelu_fast")) *out = BLK_GELU_TANH;
    else if (!strcmp(s, "relu")) *out = BLK_RELU;
    else if (!strcmp(s, "silu") || !strcmp(s, "swish")) *out = BLK_SILU;
    else if (!strcmp(s, "tanh")) *out = BLK_TANH;
    else
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: key '%s' names an unsupported activation '%s'", cfg_path(c),
                           key, s);
    return SENTI_OK;
}

/* ---- graph blocks ------------------------------------------------------------------------ */

senti_tensor *blk_linear(senti_graph *g, senti_tensor *x, const model_w *w, const model_w *b) {
    senti_tensor *y = op_matmul(g, x, model_w_leaf(g, w), false, true);
    return b && b->data ? op_add(g, y, model_w_leaf(g, b)) : y;
}

senti_tensor *blk_act_apply(senti_graph *g, senti_tensor *x, blk_act a) {
    switch (a) {
    case BLK_GELU: return op_gelu(g, x);
    case BLK_GELU_TANH: return op_gelu_tanh(g, x);
    case BLK_RELU: return op_relu(g, x);
    case BLK_SILU: return op_silu(g, x);
    case BLK_TANH: return op_tanh(g, x);
    }
    return NULL;
}

senti_tensor *blk_norm(senti_graph *g, arch_norm kind, senti_tensor *x, const model_w *w, const model_w *b,
                       float eps) {
    if (kind == ARCH_NORM_RMS) return op_rms_norm(g, x, model_w_leaf(g, w), eps);
    return op_layer_norm(g, x, model_w_leaf(g, w), b ? model_w_leaf(g, b) : NULL, eps);
}

senti_tensor *blk_mlp(senti_graph *g, arch_mlp kind, blk_act act, senti_tensor *x, int64_t inter, const model_w *wup,
                      const model_w *bup, const model_w *wdown, const model_w *bdown) {
    senti_tensor *u = blk_linear(g, x, wup, bup);
    if (kind == ARCH_MLP_PLAIN) return blk_linear(g, blk_act_apply(g, u, act), wdown, bdown);
    const int d = u ? u->ndim - 1 : 0; /* [.., 2I]: a | b */
    senti_tensor *f = op_mul(g, blk_act_apply(g, op_slice(g, u, d, 0, inter), act), op_slice(g, u, d, inter, 2 * inter));
    return blk_linear(g, f, wdown, bdown);
}

senti_tensor *blk_self_attention(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                 const model_w *wo, const model_w *bo, senti_tensor *mask, senti_tensor *offs,
                                 int64_t nh, float scale) {
    if (!x) return NULL;
    const int64_t B = x->ne[1], T = x->ne[2], H = x->ne[3], D = H / nh;
    /* [B, T, 3H] seen as [B, T, 3 nh, D]: q, k, v are strided slices of it */
    senti_tensor *qkv = op_reshape_4d(g, blk_linear(g, x, wqkv, bqkv), B, T, 3 * nh, D);
    senti_tensor *q = op_slice(g, qkv, 2, 0, nh), *k = op_slice(g, qkv, 2, nh, 2 * nh);
    senti_tensor *v = op_slice(g, qkv, 2, 2 * nh, 3 * nh);
    senti_tensor *a = offs ? op_attention_varlen(g, q, k, v, offs, scale, false)
                           : op_attention(g, q, k, v, mask, scale, false); /* [B, T, nh, D] */
    return blk_linear(g, op_reshape_3d(g, a, B, T, H), wo, bo);           /* [B, T, H] */
}

bool blk_first_only(void) {
    const char *e = getenv("SENTI_PRUNE");
    return !e || strcmp(e, "0") != 0;
}

senti_tensor *blk_rows(senti_graph *g, senti_tensor *x, senti_tensor *first) {
    if (!x) return NULL;
    return op_get_rows(g, op_reshape_2d(g, x, x->ne[2], x->ne[3]), first);
}

model_w blk_w_rows(const model_w *w, int64_t r0, int64_t r1) {
    if (!w || !w->data) return (model_w){0};
    if (w->ndim == 1) return (model_w){(const float *)w->data + r0, NULL, SENTI_TYPE_F32, 1, {r1 - r0, 0}};
    const size_t row = senti_row_size(w->type, w->shape[1]);
    return (model_w){(const char *)w->data + (size_t)r0 * row, NULL, w->type, 2, {r1 - r0, w->shape[1]}};
}

senti_tensor *blk_self_attention_first(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                       const model_w *wo, const model_w *bo, senti_tensor *offs, senti_tensor *first,
                                       int64_t nh, float scale) {
    if (!x || !first || !wqkv->data) return NULL;
    const int64_t N = x->ne[2], H = x->ne[3], D = H / nh, S = first->ne[2];
    /* views of the fused q | k | v rows: q for the first tokens, k | v for every token */
    const model_w wq = blk_w_rows(wqkv, 0, H), wkv = blk_w_rows(wqkv, H, 3 * H);
    const model_w bq = blk_w_rows(bqkv, 0, H), bkv = blk_w_rows(bqkv, H, 3 * H);
    senti_tensor *kv = op_reshape_4d(g, blk_linear(g, x, &wkv, &bkv), 1, N, 2 * nh, D);       /* [1, N, 2nh, D] */
    senti_tensor *q = op_reshape_4d(g, blk_linear(g, blk_rows(g, x, first), &wq, &bq), 1, S, nh, D); /* [1, S, nh, D] */
    senti_tensor *a = op_attention_varlen_first(g, q, op_slice(g, kv, 2, 0, nh), op_slice(g, kv, 2, nh, 2 * nh), offs,
                                                scale); /* [1, S, nh, D] */
    return blk_linear(g, op_reshape_3d(g, a, S, 1, H), wo, bo); /* [S, 1, H] */
}

senti_tensor *blk_attention_probs(senti_graph *g, senti_tensor *x, const model_w *wqkv, const model_w *bqkv,
                                  senti_tensor *mask, int64_t nh, float scale) {
    if (!x) return NULL;
    const int64_t B = x->ne[1], T = x->ne[2], H = x->ne[3], D = H / nh;
    senti_tensor *qkv = op_reshape_4d(g, blk_linear(g, x, wqkv, bqkv), B, T, 3 * nh, D);
    static const int heads_first[] = {0, 2, 1, 3}; /* [B, T, nh, D] -> [B, nh, T, D] */
    senti_tensor *q = op_cpy(g, op_permute(g, op_slice(g, qkv, 2, 0, nh), heads_first), SENTI_TYPE_F32);
    senti_tensor *k = op_cpy(g, op_permute(g, op_slice(g, qkv, 2, nh, 2 * nh), heads_first), SENTI_TYPE_F32);
    senti_tensor *p = op_softmax(g, op_matmul(g, q, k, false, true), mask, scale); /* [B, nh, T, T] */
    if (p) graph_set_output(p);
    return p;
}

senti_status blk_fuse_rows(const senti_model *m, model_w *const *w, model_w *const *b, int n, model_w *fw,
                           model_w *fb) {
    int64_t rows = 0;
    bool any_bias = false;
    for (int i = 0; i < n; i++) {
        if (!w[i]->data || w[i]->ndim != 2 || w[i]->type != w[0]->type || w[i]->shape[1] != w[0]->shape[1])
            return senti_error(SENTI_ERR_INVALID_ARG, "%s: fusing linear weights of different types or widths", m->dir);
        if (b[i]->data && (b[i]->type != SENTI_TYPE_F32 || b[i]->shape[0] != w[i]->shape[0]))
            return senti_error(SENTI_ERR_INVALID_ARG, "%s: fusing a bias that is not f32 [out]", m->dir);
        rows += w[i]->shape[0];
        any_bias |= b[i]->data != NULL;
    }
    const size_t row = senti_row_size(w[0]->type, w[0]->shape[1]);
    char *fwd = senti_malloc((size_t)rows * row);
    float *fbd = any_bias ? senti_calloc((size_t)rows, sizeof *fbd) : NULL;
    if (!fwd || (any_bias && !fbd)) {
        senti_mfree(fwd);
        senti_mfree(fbd);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory fusing linear weights of %s", m->dir);
    }
    *fw = (model_w){fwd, fwd, w[0]->type, 2, {rows, w[0]->shape[1]}};
    *fb = any_bias ? (model_w){fbd, fbd, SENTI_TYPE_F32, 1, {rows, 0}} : (model_w){0};
    for (int64_t r0 = 0, i = 0; i < n; i++) {
        const int64_t r = w[i]->shape[0];
        memcpy(fwd + (size_t)r0 * row, w[i]->data, (size_t)r * row);
        if (b[i]->data) memcpy(fbd + r0, b[i]->data, (size_t)r * sizeof *fbd);
        r0 += r;
        model_w_free(w[i]);
        model_w_free(b[i]);
        *w[i] = *b[i] = (model_w){0};
    }
    return SENTI_OK;
}

senti_tensor *blk_first_token(senti_graph *g, senti_tensor *x) { return op_slice(g, x, 1, 0, 1); }

senti_status blk_pack(const int32_t *mask, int64_t B, int64_t T, blk_packed *p) {
    *p = (blk_packed){0};
    if (B * T > INT32_MAX)
        return senti_error(SENTI_ERR_INVALID_ARG, "a batch of %lld x %lld tokens", (long long)B, (long long)T);
    int64_t n = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t len = 0;
        for (int64_t t = 0; t < T; t++) len += !mask || mask[b * T + t];
        if (!len) return SENTI_OK;
        n += len;
    }
    p->keep = senti_malloc((size_t)n * sizeof *p->keep);
    p->offs = senti_malloc((size_t)(B + 1) * sizeof *p->offs);
    if (!p->keep || !p->offs) {
        blk_packed_free(p);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory packing a batch of %lld x %lld", (long long)B,
                           (long long)T);
    }
    for (int64_t b = 0, j = 0; b < B; b++) {
        p->offs[b] = (int32_t)j;
        for (int64_t t = 0; t < T; t++)
            if (!mask || mask[b * T + t]) p->keep[j++] = (int32_t)(b * T + t);
    }
    p->offs[B] = (int32_t)n;
    p->n = n;
    return SENTI_OK;
}

void blk_packed_free(blk_packed *p) {
    senti_mfree(p->keep);
    senti_mfree(p->offs);
    *p = (blk_packed){0};
}

void blk_unpack_rows(const blk_packed *p, const float *y, int64_t B, int64_t T, int64_t C, float *out) {
    memset(out, 0, (size_t)(B * T * C) * sizeof *out);
    for (int64_t j = 0; j < p->n; j++) memcpy(out + (size_t)p->keep[j] * C, y + j * C, (size_t)C * sizeof *out);
}

/* ---- rotary settings ------------------------------------------------------------------------ */

/* A number from a JSON object (rope parameters); def when absent or null. */
static senti_status json_num(const char *path, const char *obj, json_t *o, const char *key, double def, bool required,
                             double *out) {
    json_t *v = o ? json_object_get(o, key) : NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s.%s' is required for this rope type", path, obj, key);
        *out = def;
        return SENTI_OK;
    }
    if (!json_is_number(v)) return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s.%s' must be a number", path, obj, key);
    *out = json_number_value(v);
    return SENTI_OK;
}

senti_status blk_read_rope(const cfg_file *c, const char *layer_type, const char *theta_key, double theta_def,
                           bool use_scaling, int64_t head_dim, int64_t max_pos, blk_rope *r) {
    const char *path = cfg_path(c);
    json_t *root = cfg_root(c), *p = json_object_get(root, "rope_parameters");
    senti_status st;
    char obj[96] = "rope_parameters";
    if (p && !json_is_null(p)) {
        json_t *per = layer_type && json_is_object(p) ? json_object_get(p, layer_type) : NULL;
        if (per && !json_is_null(per)) { /* keyed by layer type */
            p = per;
            snprintf(obj, sizeof obj, "rope_parameters.%s", layer_type);
        }
    } else {
        snprintf(obj, sizeof obj, "rope_scaling");
        p = use_scaling ? json_object_get(root, obj) : NULL;
    }
    if (p && json_is_null(p)) p = NULL;
    if (p && !json_is_object(p)) return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be an object", path, obj);
    double theta_top, prf_top, prf = 1.0;
    if ((st = cfg_opt_float(c, theta_key, theta_def, &theta_top)) != SENTI_OK) return st;
    if ((st = cfg_opt_float(c, "partial_rotary_factor", 1.0, &prf_top)) != SENTI_OK) return st;
    if ((st = json_num(path, obj, p, "rope_theta", theta_top, false, &r->theta)) != SENTI_OK) return st;
    if ((st = json_num(path, obj, p, "partial_rotary_factor", prf_top, false, &prf)) != SENTI_OK) return st;
    const char *type = "default";
    json_t *ty = p ? json_object_get(p, "rope_type") : NULL;
    if (!ty || json_is_null(ty)) ty = p ? json_object_get(p, "type") : NULL;
    if (ty && !json_is_null(ty)) {
        if (!json_is_string(ty))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s.rope_type' must be a string", path, obj);
        type = json_string_value(ty);
    }
    r->factor = 1.0;
    if (!strcmp(type, "default")) {
        r->kind = BLK_ROPE_DEFAULT;
    } else if (!strcmp(type, "linear") || !strcmp(type, "dynamic")) {
        r->kind = type[0] == 'l' ? BLK_ROPE_LINEAR : BLK_ROPE_DYNAMIC;
        if ((st = json_num(path, obj, p, "factor", 0, true, &r->factor)) != SENTI_OK) return st;
    } else if (!strcmp(type, "llama3")) {
        r->kind = BLK_ROPE_LLAMA3;
        double om = 0;
        if ((st = json_num(path, obj, p, "factor", 0, true, &r->factor)) != SENTI_OK ||
            (st = json_num(path, obj, p, "low_freq_factor", 0, true, &r->low_freq)) != SENTI_OK ||
            (st = json_num(path, obj, p, "high_freq_factor", 0, true, &r->high_freq)) != SENTI_OK ||
            (st = json_num(path, obj, p, "original_max_position_embeddings", (double)max_pos, false, &om)) != SENTI_OK)
            return st;
        r->orig_max = (int64_t)om;
        if (!(r->high_freq != r->low_freq) || !(r->low_freq > 0) || !(om >= 1))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: llama3 rope parameters in '%s' are degenerate", path, obj);
    } else {
        return senti_error(SENTI_ERR_UNSUPPORTED,
                           "%s: rope type '%s' (key '%s') is not supported (default, linear, dynamic, llama3)", path,
                           type, obj);
    }
    if (!(r->factor > 0) || !(r->theta > 1))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: rope factor %g / theta %g in '%s' out of range", path, r->factor,
                           r->theta, obj);
    r->n_rot = (int)((double)head_dim * prf);
    if (r->n_rot < 2 || r->n_rot % 2 || r->n_rot > head_dim)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: partial_rotary_factor %g gives %d rotary dims of %lld", path, prf,
                           r->n_rot, (long long)head_dim);
    return SENTI_OK;
}

senti_status blk_llama3_factors(const senti_model *m, const blk_rope *r, model_w *out) {
    const int half = r->n_rot / 2;
    float *ff = senti_malloc((size_t)half * sizeof *ff + 1);
    if (!ff) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory loading rope factors", m->dir);
    const double lo_wl = (double)r->orig_max / r->low_freq, hi_wl = (double)r->orig_max / r->high_freq;
    for (int i = 0; i < half; i++) {
        const double inv = 1.0 / pow(r->theta, 2.0 * i / r->n_rot), wl = 2 * 3.14159265358979323846 / inv;
        double f = inv;
        if (wl > lo_wl) f = inv / r->factor;
        if (!(wl < hi_wl) && !(wl > lo_wl)) {
            const double s = ((double)r->orig_max / wl - r->low_freq) / (r->high_freq - r->low_freq);
            f = (1 - s) * inv / r->factor + s * inv;
        }
        ff[i] = (float)(inv / f);
    }
    *out = (model_w){ff, ff, SENTI_TYPE_F32, 1, {half, 0}};
    return SENTI_OK;
}

/* ---- encoders: hyperparameters, output, running ------------------------------------------- */

senti_status blk_enc_read_hp(senti_model *m, blk_enc_hp *hp) {
    const arch_desc *d = m->desc;
    const cfg_file *c = m->cfg;
    const char *path = cfg_path(c);
    senti_status st;
    double eps;
    if ((st = arch_hp_int(d, c, AH_VOCAB, true, 0, &hp->vocab)) || (st = arch_hp_int(d, c, AH_MAX_POS, true, 0, &hp->max_pos)) ||
        (st = cfg_opt_int(c, "pad_token_id", d->pad_default, &hp->pad_id)) ||
        (st = arch_hp_int(d, c, AH_HIDDEN, true, 0, &hp->hidden)) ||
        (st = arch_hp_int(d, c, AH_LAYERS, true, 0, &hp->layers)) ||
        (st = arch_hp_int(d, c, AH_HEADS, true, 0, &hp->heads)) ||
        (st = arch_hp_int(d, c, AH_INTER, true, 0, &hp->inter)) ||
        (st = arch_hp_int(d, c, AH_TYPE_VOCAB, false, d->type_vocab_default, &hp->type_vocab)) ||
        (st = arch_hp_eps(d, c, &eps)) || (st = blk_parse_act(c, arch_hp_key(d, AH_ACT), d->act_default, &hp->act)))
        return st;
    hp->eps = (float)eps;
#define POSITIVE(v, h, hi)                                                                                             \
    if ((v) < 1 || (v) > (hi))                                                                                         \
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' = %lld is out of range", path, arch_hp_key(d, h),         \
                           (long long)(v));
    POSITIVE(hp->vocab, AH_VOCAB, INT32_MAX);
    POSITIVE(hp->hidden, AH_HIDDEN, 1 << 20);
    POSITIVE(hp->layers, AH_LAYERS, 1024);
    POSITIVE(hp->heads, AH_HEADS, 4096);
    POSITIVE(hp->inter, AH_INTER, 1 << 22);
    POSITIVE(hp->max_pos, AH_MAX_POS, 1 << 24);
#undef POSITIVE
    if (hp->type_vocab < 0 || hp->type_vocab > (1 << 20))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'type_vocab_size' = %lld is out of range", path,
                           (long long)hp->type_vocab);
    if (hp->hidden % hp->heads)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: hidden size %lld is not a multiple of the %lld attention heads",
                           path, (long long)hp->hidden, (long long)hp->heads);
    hp->num_labels = 0;
    if (m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION || m->head == SENTI_HEAD_TOKEN_CLASSIFICATION) {
        hp->num_labels = m->n_labels_named;
        if (!hp->num_labels && (st = cfg_opt_int(c, "num_labels", 2, &hp->num_labels)) != SENTI_OK) return st;
        if (hp->num_labels < 1 || hp->num_labels > (1 << 20))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: key 'num_labels' is out of range", path);
    }
    return SENTI_OK;
}

void blk_enc_set_model(senti_model *m, const blk_enc_hp *hp, int64_t max_pos) {
    m->hidden = hp->hidden, m->layers = hp->layers, m->heads = hp->heads, m->vocab = hp->vocab;
    m->type_vocab = hp->type_vocab, m->num_labels = hp->num_labels, m->pad_id = hp->pad_id;
    m->max_pos = max_pos;
}

void blk_out_shape(const senti_model *m, int64_t B, int64_t T, int64_t shape[3], int *ndim) {
    shape[0] = B, shape[1] = T, shape[2] = 0;
    switch (m->head) {
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: *ndim = 2, shape[1] = m->num_labels; return;
    case SENTI_HEAD_TOKEN_CLASSIFICATION: *ndim = 3, shape[2] = m->num_labels; return;
    case SENTI_HEAD_BASE:
    case SENTI_HEAD_SEQ2SEQ_LM: *ndim = 3, shape[2] = m->hidden; return;
    case SENTI_HEAD_MASKED_LM:
    case SENTI_HEAD_CAUSAL_LM: *ndim = 3, shape[2] = m->vocab; return;
    }
}

senti_status blk_run(senti_model *m, senti_graph *g, senti_tensor *y, void (*fill)(void *), void *fill_arg,
                     int64_t B, int64_t T, float **out, int64_t shape[3], int *ndim) {
    senti_status st;
    *out = NULL;
    if (!y || g->status != SENTI_OK)
        return senti_error(g->status != SENTI_OK ? g->status : SENTI_ERR_NO_MEMORY, "%s: building the graph: %s",
                           m->dir, g->err);
    graph_set_output(y);
    if ((st = exec_prepare(m->ex, g)) != SENTI_OK) return st;
    fill(fill_arg);
    if ((st = exec_compute(m->ex, g)) != SENTI_OK) return st;
    const int64_t n = senti_nelements(y);
    *out = senti_malloc((size_t)n * sizeof(float) + 1);
    if (!*out) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory for the model output");
    memcpy(*out, y->data, (size_t)n * sizeof(float));
    blk_out_shape(m, B, T, shape, ndim);
    return SENTI_OK;
}

senti_status blk_run_packed(senti_model *m, senti_graph *g, senti_tensor *y, void (*fill)(void *), void *fill_arg,
                            const blk_packed *pk, int64_t B, int64_t T, float **out, int64_t shape[3], int *ndim) {
    if (!pk || m->head == SENTI_HEAD_SEQUENCE_CLASSIFICATION) return blk_run(m, g, y, fill, fill_arg, B, T, out, shape, ndim);
    float *packed = NULL;
    senti_status st = blk_run(m, g, y, fill, fill_arg, 1, pk->n, &packed, shape, ndim);
    const int64_t C = st == SENTI_OK ? shape[*ndim - 1] : 0; /* shape and ndim are set only on success */
    *out = NULL;
    if (st == SENTI_OK && !(*out = senti_malloc((size_t)(B * T * C) * sizeof(float) + 1)))
        st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory for the model output");
    if (st == SENTI_OK) {
        blk_unpack_rows(pk, packed, B, T, C, *out);
        blk_out_shape(m, B, T, shape, ndim);
    }
    senti_mfree(packed);
    return st;
}
