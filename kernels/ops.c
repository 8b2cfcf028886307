/* ops.c — op constructors: each checks its sources' shapes and dtypes, sets
 * the output shape and parameters, and appends a node. Meanings are in
 * kernels.h; definitions in ref.c. A NULL source yields NULL (the first
 * failure is kept in the graph and in senti_last_error()). */
#include <stdio.h>

#include "kernels.h"

#define PD(t, i) ((i) + SENTI_MAX_DIMS - (t)->ndim) /* logical dim -> padded dim */

static bool is_float_act(const senti_tensor *t) { return t->type == SENTI_TYPE_F32; }

static const char *shp(const senti_tensor *t, char *buf) { return senti_shape_str(t, buf, 64); }

static senti_tensor *node_like(senti_graph *g, senti_op op, senti_type type, const senti_tensor *t) {
    return graph_new_node(g, op, type, t->ndim, t->ne + SENTI_MAX_DIMS - t->ndim);
}

static senti_tensor *need_f32(senti_graph *g, const char *op, const senti_tensor *t, const char *what) {
    if (!is_float_act(t))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: %s '%s' must be f32, not %s", op, what, t->name,
                          senti_type_name(t->type));
    return (senti_tensor *)t;
}

/* ---- embedding ------------------------------------------------------------ */

senti_tensor *op_get_rows(senti_graph *g, senti_tensor *table, senti_tensor *ids) {
    if (!g || !table || !ids) return NULL;
    if (table->ndim != 2)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "get_rows: table '%s' must be 2-D [V, D]", table->name);
    if (table->type == SENTI_TYPE_I32 || !senti_rows_contiguous(table))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "get_rows: table '%s' must be a float or quantized matrix with contiguous rows", table->name);
    if (ids->type != SENTI_TYPE_I32 || ids->ndim > 3)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "get_rows: ids '%s' must be i32 of rank <= 3", ids->name);
    int64_t shape[4];
    for (int i = 0; i < ids->ndim; i++) shape[i] = ids->ne[PD(ids, i)];
    shape[ids->ndim] = table->ne[3];
    senti_tensor *t = graph_new_node(g, SENTI_OP_GET_ROWS, SENTI_TYPE_F32, ids->ndim + 1, shape);
    if (t) t->src[0] = table, t->src[1] = ids;
    return t;
}

/* ---- element-wise --------------------------------------------------------- */

static senti_tensor *binary(senti_graph *g, senti_op op, senti_tensor *a, senti_tensor *b) {
    if (!g || !a || !b) return NULL;
    const char *name = senti_op_name(op);
    if (!need_f32(g, name, a, "a") || !need_f32(g, name, b, "b")) return NULL;
    int ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[4];
    for (int i = 0; i < SENTI_MAX_DIMS; i++) {
        int64_t x = a->ne[i], y = b->ne[i];
        if (x != y && x != 1 && y != 1) {
            char sa[64], sb[64];
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: shapes %s ('%s') and %s ('%s') do not broadcast", name,
                              shp(a, sa), a->name, shp(b, sb), b->name);
        }
        if (i >= SENTI_MAX_DIMS - ndim) shape[i - (SENTI_MAX_DIMS - ndim)] = x == 1 ? y : x;
    }
    senti_tensor *t = graph_new_node(g, op, SENTI_TYPE_F32, ndim, shape);
    if (t) t->src[0] = a, t->src[1] = b;
    return t;
}

senti_tensor *op_add(senti_graph *g, senti_tensor *a, senti_tensor *b) { return binary(g, SENTI_OP_ADD, a, b); }
senti_tensor *op_mul(senti_graph *g, senti_tensor *a, senti_tensor *b) { return binary(g, SENTI_OP_MUL, a, b); }

static senti_tensor *unary(senti_graph *g, senti_op op, senti_tensor *x) {
    if (!g || !x) return NULL;
    if (!need_f32(g, senti_op_name(op), x, "x")) return NULL;
    senti_tensor *t = node_like(g, op, SENTI_TYPE_F32, x);
    if (t) t->src[0] = x;
    return t;
}

senti_tensor *op_scale(senti_graph *g, senti_tensor *a, float s) {
    senti_tensor *t = unary(g, SENTI_OP_SCALE, a);
    if (t) senti_set_param_f(t, 0, s);
    return t;
}
senti_tensor *op_gelu(senti_graph *g, senti_tensor *x) { return unary(g, SENTI_OP_GELU, x); }
senti_tensor *op_gelu_tanh(senti_graph *g, senti_tensor *x) { return unary(g, SENTI_OP_GELU_TANH, x); }
senti_tensor *op_silu(senti_graph *g, senti_tensor *x) { return unary(g, SENTI_OP_SILU, x); }
senti_tensor *op_relu(senti_graph *g, senti_tensor *x) { return unary(g, SENTI_OP_RELU, x); }
senti_tensor *op_tanh(senti_graph *g, senti_tensor *x) { return unary(g, SENTI_OP_TANH, x); }

/* ---- matmul --------------------------------------------------------------- */

senti_tensor *op_matmul(senti_graph *g, senti_tensor *a, senti_tensor *b, bool trans_a, bool trans_b) {
    if (!g || !a || !b) return NULL;
    char sa[64], sb[64];
    if (!need_f32(g, "matmul", a, "a")) return NULL;
    if (b->type == SENTI_TYPE_I32)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "matmul: b '%s' cannot be i32", b->name);
    if (a->ndim < 2 || b->ndim < 2)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "matmul: operands must be at least 2-D: a %s, b %s",
                          shp(a, sa), shp(b, sb));
    const int64_t M = trans_a ? a->ne[3] : a->ne[2], Ka = trans_a ? a->ne[2] : a->ne[3];
    const int64_t N = trans_b ? b->ne[2] : b->ne[3], Kb = trans_b ? b->ne[3] : b->ne[2];
    if (Ka != Kb)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "matmul: inner dims differ: a '%s' %s%s, b '%s' %s%s", a->name,
                          shp(a, sa), trans_a ? "^T" : "", b->name, shp(b, sb), trans_b ? "^T" : "");
    for (int i = 0; i < 2; i++) {
        bool ok = b->ne[i] == 0 ? a->ne[i] == 0 : a->ne[i] % b->ne[i] == 0;
        if (!ok)
            return graph_fail(g, SENTI_ERR_INVALID_ARG,
                              "matmul: batch dims of b '%s' %s must divide those of a '%s' %s", b->name,
                              shp(b, sb), a->name, shp(a, sa));
    }
    if (b->type != SENTI_TYPE_F32) {
        if (senti_type_is_quant(b->type) && !trans_b)
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "matmul: quantized b '%s' (%s) must be used transposed ([N, K])",
                              b->name, senti_type_name(b->type));
        if (!senti_rows_contiguous(b))
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "matmul: %s b '%s' must have contiguous rows", senti_type_name(b->type), b->name);
    }
    int ndim = a->ndim;
    int64_t shape[4];
    for (int i = 0; i < ndim - 2; i++) shape[i] = a->ne[PD(a, i)];
    shape[ndim - 2] = M;
    shape[ndim - 1] = N;
    senti_tensor *t = graph_new_node(g, SENTI_OP_MATMUL, SENTI_TYPE_F32, ndim, shape);
    if (!t) return NULL;
    t->src[0] = a;
    t->src[1] = b;
    t->params[0] = trans_a;
    t->params[1] = trans_b;
    return t;
}

/* ---- norms and softmax ---------------------------------------------------- */

static bool check_vec(senti_graph *g, const char *op, const senti_tensor *w, int64_t d, const char *what) {
    if (!w) return true;
    if (w->type != SENTI_TYPE_F32 || senti_nelements(w) != d || !senti_is_contiguous(w)) {
        char s[64];
        graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: %s '%s' must be a contiguous f32 vector of %lld, not %s %s", op,
                   what, w->name, (long long)d, senti_type_name(w->type), shp(w, s));
        return false;
    }
    return true;
}

senti_tensor *op_layer_norm(senti_graph *g, senti_tensor *x, senti_tensor *w, senti_tensor *b, float eps) {
    if (!g || !x) return NULL;
    if (!need_f32(g, "layer_norm", x, "x") || !check_vec(g, "layer_norm", w, x->ne[3], "weight") ||
        !check_vec(g, "layer_norm", b, x->ne[3], "bias"))
        return NULL;
    senti_tensor *t = node_like(g, SENTI_OP_LAYER_NORM, SENTI_TYPE_F32, x);
    if (!t) return NULL;
    t->src[0] = x, t->src[1] = w, t->src[2] = b;
    senti_set_param_f(t, 0, eps);
    return t;
}

senti_tensor *op_rms_norm(senti_graph *g, senti_tensor *x, senti_tensor *w, float eps) {
    if (!g || !x) return NULL;
    if (!need_f32(g, "rms_norm", x, "x") || !check_vec(g, "rms_norm", w, x->ne[3], "weight")) return NULL;
    senti_tensor *t = node_like(g, SENTI_OP_RMS_NORM, SENTI_TYPE_F32, x);
    if (!t) return NULL;
    t->src[0] = x, t->src[1] = w;
    senti_set_param_f(t, 0, eps);
    return t;
}

/* mask broadcastable to the padded 4-D shape ne */
static bool check_mask(senti_graph *g, const char *op, const senti_tensor *mask, const int64_t *ne) {
    if (!mask) return true;
    if (mask->type != SENTI_TYPE_F32) {
        graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: mask '%s' must be f32", op, mask->name);
        return false;
    }
    for (int i = 0; i < SENTI_MAX_DIMS; i++) {
        if (mask->ne[i] != ne[i] && mask->ne[i] != 1) {
            char s[64];
            graph_fail(g, SENTI_ERR_INVALID_ARG,
                       "%s: mask '%s' %s does not broadcast to [%lld,%lld,%lld,%lld]", op, mask->name,
                       shp(mask, s), (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3]);
            return false;
        }
    }
    return true;
}

senti_tensor *op_softmax(senti_graph *g, senti_tensor *x, senti_tensor *mask, float scale) {
    if (!g || !x) return NULL;
    if (!need_f32(g, "softmax", x, "x") || !check_mask(g, "softmax", mask, x->ne)) return NULL;
    senti_tensor *t = node_like(g, SENTI_OP_SOFTMAX, SENTI_TYPE_F32, x);
    if (!t) return NULL;
    t->src[0] = x, t->src[1] = mask;
    senti_set_param_f(t, 0, scale);
    return t;
}

/* ---- attention and rope --------------------------------------------------- */

senti_tensor *op_attention(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v, senti_tensor *mask,
                           float scale, bool causal) {
    if (!g || !q || !k || !v) return NULL;
    char sq[64], sk[64], sv[64];
    const char *op = "attention";
    if (!need_f32(g, op, q, "q") || !need_f32(g, op, k, "k") || !need_f32(g, op, v, "v")) return NULL;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "attention: q, k, v must be 4-D [B, T, H, D]: q %s, k %s, v %s",
                          shp(q, sq), shp(k, sk), shp(v, sv));
    if (!senti_rows_contiguous(q) || !senti_rows_contiguous(k) || !senti_rows_contiguous(v))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "attention: q, k, v need a contiguous innermost dim");
    const int64_t B = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], Tk = k->ne[1], Hkv = k->ne[2];
    if (k->ne[0] != B || v->ne[0] != B || v->ne[1] != Tk || v->ne[2] != Hkv || k->ne[3] != q->ne[3] ||
        Hkv == 0 || Hq % Hkv != 0)
        return graph_fail(g, SENTI_ERR_INVALID_ARG,
                          "attention: shapes do not fit: q %s, k %s, v %s (need same B, k/v same T and H, "
                          "q/k same D, Hq a multiple of Hkv)",
                          shp(q, sq), shp(k, sk), shp(v, sv));
    const int64_t sc[4] = {B, Hq, Tq, Tk};
    if (!check_mask(g, op, mask, sc)) return NULL;
    senti_tensor *t = graph_new_node(g, SENTI_OP_ATTENTION, SENTI_TYPE_F32, 4, (int64_t[]){B, Tq, Hq, v->ne[3]});
    if (!t) return NULL;
    t->src[0] = q, t->src[1] = k, t->src[2] = v, t->src[3] = mask;
    senti_set_param_f(t, 0, scale);
    t->params[1] = causal;
    return t;
}

/* op_attention_varlen (first: one query per sequence, q [1, S, ..]). */
static senti_tensor *attention_varlen(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                      senti_tensor *offs, float scale, bool causal, bool first, int64_t window) {
    if (!g || !q || !k || !v || !offs) return NULL;
    char sq[64], sk[64], sv[64];
    const char *op = first ? "attention_varlen_first" : "attention_varlen";
    if (!need_f32(g, op, q, "q") || !need_f32(g, op, k, "k") || !need_f32(g, op, v, "v")) return NULL;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4 || q->ne[0] != 1)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: q, k, v must be 4-D [1, T, H, D]: q %s, k %s, v %s", op,
                          shp(q, sq), shp(k, sk), shp(v, sv));
    if (!senti_rows_contiguous(q) || !senti_rows_contiguous(k) || !senti_rows_contiguous(v))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: q, k, v need a contiguous innermost dim", op);
    const int64_t Tq = q->ne[1], T = k->ne[1], Hq = q->ne[2], Hkv = k->ne[2];
    if (k->ne[0] != 1 || v->ne[0] != 1 || (!first && Tq != T) || v->ne[1] != T || v->ne[2] != Hkv ||
        k->ne[3] != q->ne[3] || Hkv == 0 || Hq % Hkv != 0)
        return graph_fail(g, SENTI_ERR_INVALID_ARG,
                          "%s: shapes do not fit: q %s, k %s, v %s (need %s, k/v the same T and H, q/k the same D, "
                          "Hq a multiple of Hkv)",
                          op, shp(q, sq), shp(k, sk), shp(v, sv), first ? "a q row per sequence" : "the same T");
    if (offs->type != SENTI_TYPE_I32 || offs->ndim != 1 || offs->ne[3] < 1 || offs->nb[3] != sizeof(int32_t))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: offs must be a contiguous i32 vector [S + 1]", op);
    if (first && offs->ne[3] != Tq + 1)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: %lld query rows for %lld sequences", op, (long long)Tq,
                          (long long)offs->ne[3] - 1);
    if (window < -1 || window >= INT32_MAX)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "%s: window %lld out of range", op, (long long)window);
    senti_tensor *t = graph_new_node(g, SENTI_OP_ATTENTION_VARLEN, SENTI_TYPE_F32, 4, (int64_t[]){1, Tq, Hq, v->ne[3]});
    if (!t) return NULL;
    t->src[0] = q, t->src[1] = k, t->src[2] = v, t->src[3] = offs;
    senti_set_param_f(t, 0, scale);
    t->params[1] = causal;
    t->params[2] = first;
    t->params[3] = (int32_t)(window + 1); /* 0: no window */
    return t;
}

senti_tensor *op_attention_varlen(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                  senti_tensor *offs, float scale, bool causal) {
    return attention_varlen(g, q, k, v, offs, scale, causal, false, -1);
}

senti_tensor *op_attention_varlen_local(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                        senti_tensor *offs, float scale, int64_t window, bool first) {
    if (g && window < 0)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "attention_varlen_local: window %lld < 0", (long long)window);
    return attention_varlen(g, q, k, v, offs, scale, false, first, window);
}

senti_tensor *op_attention_varlen_first(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                        senti_tensor *offs, float scale) {
    return attention_varlen(g, q, k, v, offs, scale, false, true, -1);
}

senti_tensor *op_rope(senti_graph *g, senti_tensor *x, senti_tensor *pos, senti_tensor *freq_factors, int n_rot,
                      bool interleaved, float theta, float freq_scale) {
    if (!g || !x || !pos) return NULL;
    char sx[64], sp[64];
    if (!need_f32(g, "rope", x, "x")) return NULL;
    if (x->ndim != 4)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "rope: x '%s' must be 4-D [B, T, H, D], not %s", x->name, shp(x, sx));
    if (n_rot <= 0 || n_rot % 2 || n_rot > x->ne[3])
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "rope: n_rot %d must be even and in 1..%lld", n_rot,
                          (long long)x->ne[3]);
    bool pos_ok = pos->type == SENTI_TYPE_I32 &&
                  ((pos->ndim == 1 && pos->ne[3] == x->ne[1]) ||
                   (pos->ndim == 2 && pos->ne[2] == x->ne[0] && pos->ne[3] == x->ne[1]));
    if (!pos_ok)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "rope: positions '%s' %s must be i32 [T] or [B, T] for x %s",
                          pos->name, shp(pos, sp), shp(x, sx));
    if (freq_factors && !check_vec(g, "rope", freq_factors, n_rot / 2, "freq_factors")) return NULL;
    senti_tensor *t = node_like(g, SENTI_OP_ROPE, SENTI_TYPE_F32, x);
    if (!t) return NULL;
    t->src[0] = x, t->src[1] = pos, t->src[2] = freq_factors;
    t->params[0] = n_rot;
    t->params[1] = interleaved;
    senti_set_param_f(t, 2, theta);
    senti_set_param_f(t, 3, freq_scale);
    return t;
}

/* ---- copy, concat --------------------------------------------------------- */

senti_tensor *op_cpy(senti_graph *g, senti_tensor *x, senti_type type) {
    if (!g || !x) return NULL;
    bool ok = (x->type == SENTI_TYPE_I32) ? type == SENTI_TYPE_I32
                                          : (x->type == SENTI_TYPE_F32 || x->type == SENTI_TYPE_F16 ||
                                             x->type == SENTI_TYPE_BF16) &&
                                                type != SENTI_TYPE_I32 && (unsigned)type < SENTI_TYPE_COUNT &&
                                                !senti_type_is_kquant(type); /* no K-quant quantizer */
    if (!ok)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "cpy: cannot cast '%s' from %s to %s", x->name,
                          senti_type_name(x->type), senti_type_name(type));
    senti_tensor *t = node_like(g, SENTI_OP_CPY, type, x);
    if (t) t->src[0] = x;
    return t;
}

senti_tensor *op_concat(senti_graph *g, senti_tensor *a, senti_tensor *b, int dim) {
    if (!g || !a || !b) return NULL;
    char sa[64], sb[64];
    if (a->type != b->type || senti_type_is_quant(a->type))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "concat: '%s' (%s) and '%s' (%s) must share a non-quantized type",
                          a->name, senti_type_name(a->type), b->name, senti_type_name(b->type));
    if (a->ndim != b->ndim || dim < 0 || dim >= a->ndim)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "concat: bad dim %d for %s and %s", dim, shp(a, sa), shp(b, sb));
    const int pd = PD(a, dim);
    int64_t shape[4];
    for (int i = 0; i < SENTI_MAX_DIMS; i++) {
        if (i != pd && a->ne[i] != b->ne[i])
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "concat: %s and %s differ outside dim %d", shp(a, sa),
                              shp(b, sb), dim);
    }
    for (int i = 0; i < a->ndim; i++) shape[i] = a->ne[PD(a, i)] + (i == dim ? b->ne[pd] : 0);
    senti_tensor *t = graph_new_node(g, SENTI_OP_CONCAT, a->type, a->ndim, shape);
    if (!t) return NULL;
    t->src[0] = a, t->src[1] = b;
    t->params[0] = pd;
    return t;
}

senti_tensor *op_set_rows(senti_graph *g, senti_tensor *dst, senti_tensor *src, senti_tensor *idx) {
    if (!g || !dst || !src || !idx) return NULL;
    char sd[64], ss[64], si[64];
    if (dst->type != SENTI_TYPE_F32 || src->type != SENTI_TYPE_F32 || idx->type != SENTI_TYPE_I32 ||
        dst->ndim != 2 || src->ndim != 2 || idx->ndim != 1 || src->ne[3] != dst->ne[3] || idx->ne[3] != src->ne[2] ||
        !senti_is_contiguous(dst) || !senti_rows_contiguous(src))
        return graph_fail(g, SENTI_ERR_INVALID_ARG,
                          "set_rows: need contiguous f32 dst [R, D] ('%s' %s %s), f32 src [N, D] ('%s' %s %s) with "
                          "contiguous rows and i32 idx [N] ('%s' %s %s)",
                          dst->name, senti_type_name(dst->type), shp(dst, sd), src->name, senti_type_name(src->type),
                          shp(src, ss), idx->name, senti_type_name(idx->type), shp(idx, si));
    senti_tensor *t = node_like(g, SENTI_OP_SET_ROWS, SENTI_TYPE_F32, dst);
    if (!t) return NULL;
    t->src[0] = dst, t->src[1] = src, t->src[2] = idx;
    memcpy(t->nb, dst->nb, sizeof t->nb);
    t->view_src = dst->view_src ? dst->view_src : dst; /* in place: no storage of its own */
    t->view_offs = dst->view_src ? dst->view_offs : 0;
    return t;
}

senti_tensor *op_gather(senti_graph *g, senti_tensor *x, senti_tensor *idx) {
    if (!g || !x || !idx) return NULL;
    char sx[64], si[64];
    if (x->type != SENTI_TYPE_F32 || idx->type != SENTI_TYPE_I32 || idx->ndim > x->ndim ||
        x->nb[3] != sizeof(float) || idx->nb[3] != sizeof(int32_t))
        return graph_fail(g, SENTI_ERR_INVALID_ARG,
                          "gather: need f32 x ('%s' %s %s) and i32 idx ('%s' %s %s) of no higher rank, both with "
                          "contiguous rows",
                          x->name, senti_type_name(x->type), shp(x, sx), idx->name, senti_type_name(idx->type),
                          shp(idx, si));
    for (int i = 0; i < SENTI_MAX_DIMS - 1; i++)
        if (idx->ne[i] != 1 && idx->ne[i] != x->ne[i])
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "gather: idx %s ('%s') does not broadcast over x %s ('%s')",
                              shp(idx, si), idx->name, shp(x, sx), x->name);
    int64_t shape[4];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->ne[PD(x, i)];
    shape[x->ndim - 1] = idx->ne[3];
    senti_tensor *t = graph_new_node(g, SENTI_OP_GATHER, SENTI_TYPE_F32, x->ndim, shape);
    if (t) t->src[0] = x, t->src[1] = idx;
    return t;
}

/* ---- views ---------------------------------------------------------------- */

static senti_tensor *view_of(senti_graph *g, senti_op op, senti_tensor *x, int ndim, const int64_t *shape) {
    senti_tensor *t = graph_new_node(g, op, x->type, ndim, shape);
    if (!t) return NULL;
    t->src[0] = x;
    t->view_src = x->view_src ? x->view_src : x;
    t->view_offs = x->view_src ? x->view_offs : 0;
    return t;
}

senti_tensor *op_reshape(senti_graph *g, senti_tensor *x, int ndim, const int64_t *shape) {
    if (!g || !x) return NULL;
    char sx[64];
    if (!senti_is_contiguous(x))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "reshape: '%s' %s is not contiguous (copy it first)", x->name,
                          shp(x, sx));
    if (ndim < 1 || ndim > SENTI_MAX_DIMS)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "reshape: rank %d outside 1..4", ndim);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i] < 0 ? 0 : shape[i];
    if (n != senti_nelements(x) || (senti_type_is_quant(x->type) && shape[ndim - 1] != x->ne[3]))
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "reshape: '%s' %s cannot take a shape of %lld elements%s", x->name,
                          shp(x, sx), (long long)n, senti_type_is_quant(x->type) ? " (quantized: same innermost dim)" : "");
    return view_of(g, SENTI_OP_RESHAPE, x, ndim, shape);
}

senti_tensor *op_reshape_2d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1) {
    return op_reshape(g, x, 2, (int64_t[]){n0, n1});
}
senti_tensor *op_reshape_3d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1, int64_t n2) {
    return op_reshape(g, x, 3, (int64_t[]){n0, n1, n2});
}
senti_tensor *op_reshape_4d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    return op_reshape(g, x, 4, (int64_t[]){n0, n1, n2, n3});
}

senti_tensor *op_permute(senti_graph *g, senti_tensor *x, const int *axes) {
    if (!g || !x) return NULL;
    const int nd = x->ndim;
    bool seen[SENTI_MAX_DIMS] = {false};
    for (int i = 0; i < nd; i++) {
        if (axes[i] < 0 || axes[i] >= nd || seen[axes[i]])
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "permute: axes of '%s' are not a permutation of 0..%d", x->name,
                              nd - 1);
        seen[axes[i]] = true;
    }
    if (senti_type_is_quant(x->type) && axes[nd - 1] != nd - 1)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "permute: quantized '%s' must keep its innermost dim", x->name);
    int64_t shape[4];
    for (int i = 0; i < nd; i++) shape[i] = x->ne[PD(x, axes[i])];
    senti_tensor *t = view_of(g, SENTI_OP_PERMUTE, x, nd, shape);
    if (!t) return NULL;
    for (int i = 0; i < nd; i++) t->nb[PD(t, i)] = x->nb[PD(x, axes[i])];
    for (int i = 0; i < nd; i++) t->params[i] = axes[i];
    return t;
}

senti_tensor *op_slice(senti_graph *g, senti_tensor *x, int dim, int64_t start, int64_t end) {
    if (!g || !x) return NULL;
    char sx[64];
    if (dim < 0 || dim >= x->ndim || start < 0 || start > end || end > x->ne[PD(x, dim)])
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "slice: [%lld, %lld) of dim %d is outside '%s' %s",
                          (long long)start, (long long)end, dim, x->name, shp(x, sx));
    const int pd = PD(x, dim);
    if (senti_type_is_quant(x->type) && pd == 3)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "slice: cannot slice the innermost dim of quantized '%s'", x->name);
    int64_t shape[4];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->ne[PD(x, i)];
    shape[dim] = end - start;
    senti_tensor *t = view_of(g, SENTI_OP_SLICE, x, x->ndim, shape);
    if (!t) return NULL;
    memcpy(t->nb, x->nb, sizeof t->nb);
    t->view_offs += (size_t)start * x->nb[pd];
    t->params[0] = dim, t->params[1] = (int32_t)start, t->params[2] = (int32_t)end;
    return t;
}
