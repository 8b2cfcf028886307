/* ref.c — the reference implementation of every op: plain C loops that
 * accumulate in double, read every source through its byte strides (so views
 * work everywhere) and write the contiguous destination. This file is the
 * definition of what each op means (kernels.h states it in words); it is meant
 * to be obviously right, not fast.
 *
 * Invariants: dst->data points at a contiguous buffer of dst's shape and type;
 * sources are whatever the constructors in ops.c accepted. Nothing here
 * aborts on data: an embedding id out of range is returned as an error. */
#include <math.h>
#include <stdio.h>

#include "kernels.h"

/* ---- access helpers ------------------------------------------------------- */

/* Address of element (i0,i1,i2,i3) of a non-quantized tensor. */
static inline char *elem_ptr(const senti_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)senti_row_ptr(t, i0, i1, i2) + i3 * (int64_t)t->nb[3];
}

/* Element (i0,i1,i2,i3) of a non-quantized float tensor (f32, f16, bf16) as a
 * float. */
static inline float get_f(const senti_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    float f;
    senti_row_to_f32(t->type, elem_ptr(t, i0, i1, i2, i3), &f, 1);
    return f;
}

/* Write element (i0,i1,i2,i3) of an f32 tensor (in practice: dst). */
static inline void set_f32(senti_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3, double v) {
    *(float *)elem_ptr(t, i0, i1, i2, i3) = (float)v;
}

/* Row (i0,i1,i2) of any tensor as ne[3] floats: a quantized row is a
 * contiguous run of blocks (int8: its f32 scale, then ne[3] int8 values);
 * other types are read element by element. */
static void load_row(const senti_tensor *t, int64_t i0, int64_t i1, int64_t i2, float *y) {
    if (senti_type_is_quant(t->type)) {
        senti_row_to_f32(t->type, senti_row_ptr(t, i0, i1, i2), y, t->ne[3]);
        return;
    }
    for (int64_t i3 = 0; i3 < t->ne[3]; i3++) y[i3] = get_f(t, i0, i1, i2, i3);
}

/* Scratch of n values (n may be 0); NULL means out of memory. */
static void *scratch(size_t n, size_t elem) { return senti_malloc((n + 1) * elem); }

static senti_status no_memory(const senti_tensor *node) {
    return senti_error(SENTI_ERR_NO_MEMORY, "ref %s '%s': out of memory", senti_op_name(node->op), node->name);
}

/* Every row (i0, i1, i2) of t; the caller names the indices. */
#define FOR_ROWS(t, i0, i1, i2)                                                                               \
    for (int64_t i0 = 0; i0 < (t)->ne[0]; i0++)                                                               \
        for (int64_t i1 = 0; i1 < (t)->ne[1]; i1++)                                                           \
            for (int64_t i2 = 0; i2 < (t)->ne[2]; i2++)

/* ---- embedding ------------------------------------------------------------ */

/* dst[ids..., :] = table[id, :]; ids has rank <= 3, so dst row (i0,i1,i2)
 * takes the id at ids index (0,i0,i1,i2) in padded numbering. */
static senti_status ref_get_rows(senti_tensor *dst) {
    const senti_tensor *table = dst->src[0], *ids = dst->src[1];
    const int64_t V = table->ne[2];
    FOR_ROWS(dst, i0, i1, i2) {
        const int32_t id = *(const int32_t *)elem_ptr(ids, 0, i0, i1, i2);
        if (id < 0 || id >= V) {
            /* the index in ids' own rank: the last ndim of (i0, i1, i2) */
            const int64_t idx[3] = {i0, i1, i2};
            char where[80];
            int k = snprintf(where, sizeof where, "[");
            for (int d = 3 - ids->ndim; d < 3; d++)
                k += snprintf(where + k, sizeof where - (size_t)k, "%s%lld", d > 3 - ids->ndim ? "," : "",
                              (long long)idx[d]);
            snprintf(where + k, sizeof where - (size_t)k, "]");
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "get_rows '%s': id %d at %s of ids '%s' is outside [0, %lld) of table '%s'", dst->name,
                               id, where, ids->name, (long long)V, table->name);
        }
        load_row(table, 0, 0, id, (float *)senti_row_ptr(dst, i0, i1, i2));
    }
    return SENTI_OK;
}

/* ---- element-wise --------------------------------------------------------- */

static inline double get_bcast(const senti_tensor *src, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return *(const float *)((const char *)src->data + senti_bcast_offs(src, i0, i1, i2, i3));
}

/* a + b with numpy broadcasting: dims of size 1 repeat. */
static senti_status ref_add(senti_tensor *dst) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    FOR_ROWS(dst, i0, i1, i2) for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        set_f32(dst, i0, i1, i2, i3, get_bcast(a, i0, i1, i2, i3) + get_bcast(b, i0, i1, i2, i3));
    return SENTI_OK;
}

/* a * b with numpy broadcasting. */
static senti_status ref_mul(senti_tensor *dst) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    FOR_ROWS(dst, i0, i1, i2) for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        set_f32(dst, i0, i1, i2, i3, get_bcast(a, i0, i1, i2, i3) * get_bcast(b, i0, i1, i2, i3));
    return SENTI_OK;
}

/* y = f(x) element by element, x of dst's shape. */
static senti_status unary(senti_tensor *dst, double (*f)(double x, const senti_tensor *dst)) {
    const senti_tensor *x = dst->src[0];
    FOR_ROWS(dst, i0, i1, i2) for (int64_t i3 = 0; i3 < dst->ne[3]; i3++)
        set_f32(dst, i0, i1, i2, i3, f(get_f(x, i0, i1, i2, i3), dst));
    return SENTI_OK;
}

static double f_scale(double x, const senti_tensor *dst) { return x * senti_param_f(dst, 0); }
static double f_gelu(double x, const senti_tensor *dst) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static double f_gelu_tanh(double x, const senti_tensor *dst) {
    const double sqrt_2_over_pi = 0.79788456080286535588;
    return 0.5 * x * (1.0 + tanh(sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
}
static double f_silu(double x, const senti_tensor *dst) { return x / (1.0 + exp(-x)); }
static double f_relu(double x, const senti_tensor *dst) { return x > 0.0 || x != x ? x : 0.0; }
static double f_tanh(double x, const senti_tensor *dst) { return tanh(x); }

static senti_status ref_scale(senti_tensor *dst) { return unary(dst, f_scale); }
static senti_status ref_gelu(senti_tensor *dst) { return unary(dst, f_gelu); }
static senti_status ref_gelu_tanh(senti_tensor *dst) { return unary(dst, f_gelu_tanh); }
static senti_status ref_silu(senti_tensor *dst) { return unary(dst, f_silu); }
static senti_status ref_relu(senti_tensor *dst) { return unary(dst, f_relu); }
static senti_status ref_tanh(senti_tensor *dst) { return unary(dst, f_tanh); }

/* ---- matmul --------------------------------------------------------------- */

/* C[m,n] = sum_k A[m,k] B[k,n] for every batch (i0,i1) of a;
 * A[m,k] = trans_a ? a[k,m] : a[m,k], B[k,n] = trans_b ? b[n,k] : b[k,n];
 * batch (i0,i1) of a reads batch (i0 / (A0/B0), i1 / (A1/B1)) of b.
 * Quantized weights (q8_0, q4_0, K-quants, int8) are dequantized and the
 * product is the f32 one: the definition, against which a backend that also
 * quantizes A (the CPU's int8 GEMM: per block, or per row for int8) is held
 * to a bound from the data (tests/test_ops.c matmul_allowance). */
static senti_status ref_matmul(senti_tensor *dst) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const bool trans_a = dst->params[0], trans_b = dst->params[1];
    const int64_t M = dst->ne[2], N = dst->ne[3], K = trans_a ? a->ne[2] : a->ne[3];
    float *A = scratch((size_t)(M * K), sizeof *A); /* one batch of op(a), [M, K] */
    float *Bn = scratch((size_t)K, sizeof *Bn);      /* column n of op(b), [K] */
    if (!A || !Bn) {
        senti_mfree(A);
        senti_mfree(Bn);
        return no_memory(dst);
    }
    for (int64_t i0 = 0; i0 < dst->ne[0]; i0++) {
        for (int64_t i1 = 0; i1 < dst->ne[1]; i1++) {
            const int64_t j0 = i0 / (dst->ne[0] / b->ne[0]), j1 = i1 / (dst->ne[1] / b->ne[1]);
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++)
                    A[m * K + k] = trans_a ? get_f(a, i0, i1, k, m) : get_f(a, i0, i1, m, k);
            for (int64_t n = 0; n < N; n++) {
                if (trans_b) load_row(b, j0, j1, n, Bn); /* b row n is [K]; quantized rows too */
                else
                    for (int64_t k = 0; k < K; k++) Bn[k] = get_f(b, j0, j1, k, n);
                for (int64_t m = 0; m < M; m++) {
                    double s = 0.0;
                    for (int64_t k = 0; k < K; k++) s += (double)A[m * K + k] * (double)Bn[k];
                    set_f32(dst, i0, i1, m, n, s);
                }
            }
        }
    }
    senti_mfree(A);
    senti_mfree(Bn);
    return SENTI_OK;
}

/* ---- norms and softmax ---------------------------------------------------- */

/* y = (x - mean) / sqrt(var + eps) * w + b over the innermost dim, var the
 * biased variance; w and b optional [D]. */
static senti_status ref_layer_norm(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0], *w = dst->src[1], *b = dst->src[2];
    const double eps = senti_param_f(dst, 0);
    const int64_t D = dst->ne[3];
    FOR_ROWS(dst, i0, i1, i2) {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < D; i++) mean += get_f(x, i0, i1, i2, i);
        mean /= (double)D;
        for (int64_t i = 0; i < D; i++) {
            const double d = get_f(x, i0, i1, i2, i) - mean;
            var += d * d;
        }
        var /= (double)D;
        const double inv = 1.0 / sqrt(var + eps);
        for (int64_t i = 0; i < D; i++) {
            double y = (get_f(x, i0, i1, i2, i) - mean) * inv;
            if (w) y *= get_f(w, 0, 0, 0, i);
            if (b) y += get_f(b, 0, 0, 0, i);
            set_f32(dst, i0, i1, i2, i, y);
        }
    }
    return SENTI_OK;
}

/* y = x / sqrt(mean(x^2) + eps) * w over the innermost dim; w optional [D]. */
static senti_status ref_rms_norm(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0], *w = dst->src[1];
    const double eps = senti_param_f(dst, 0);
    const int64_t D = dst->ne[3];
    FOR_ROWS(dst, i0, i1, i2) {
        double ss = 0.0;
        for (int64_t i = 0; i < D; i++) {
            const double v = get_f(x, i0, i1, i2, i);
            ss += v * v;
        }
        const double inv = 1.0 / sqrt(ss / (double)D + eps);
        for (int64_t i = 0; i < D; i++) {
            double y = get_f(x, i0, i1, i2, i) * inv;
            if (w) y *= get_f(w, 0, 0, 0, i);
            set_f32(dst, i0, i1, i2, i, y);
        }
    }
    return SENTI_OK;
}

/* In place over s[0..n): s = softmax(s); a row that is all -inf becomes zeros. */
static void softmax_row(double *s, int64_t n) {
    double max = -INFINITY;
    for (int64_t j = 0; j < n; j++) max = s[j] > max || s[j] != s[j] ? s[j] : max; /* NaN sticks */
    if (max == -INFINITY) { /* every entry masked out: zeros (NaN inputs give NaN) */
        for (int64_t j = 0; j < n; j++) s[j] = 0.0;
        return;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        s[j] = exp(s[j] - max);
        sum += s[j];
    }
    for (int64_t j = 0; j < n; j++) s[j] /= sum;
}

/* y = softmax(x * scale + mask) over the innermost dim; mask broadcasts. */
static senti_status ref_softmax(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0], *mask = dst->src[1];
    const double scale = senti_param_f(dst, 0);
    const int64_t n = dst->ne[3];
    double *s = scratch((size_t)n, sizeof *s);
    if (!s) return no_memory(dst);
    FOR_ROWS(dst, i0, i1, i2) {
        for (int64_t j = 0; j < n; j++)
            s[j] = get_f(x, i0, i1, i2, j) * scale + (mask ? get_bcast(mask, i0, i1, i2, j) : 0.0);
        softmax_row(s, n);
        for (int64_t j = 0; j < n; j++) set_f32(dst, i0, i1, i2, j, s[j]);
    }
    senti_mfree(s);
    return SENTI_OK;
}

/* ---- attention ------------------------------------------------------------ */

/* out[b,i,h,:] = sum_j p_j v[b,j,h',:], p = softmax_j(q[b,i,h,:]·k[b,j,h',:] *
 * scale + mask[b,h,i,j] + causal(i,j)), h' = h / (Hq / Hkv); causal hides key
 * j > Tk - Tq + i. q [B,Tq,Hq,D], k [B,Tk,Hkv,D], v [B,Tk,Hkv,Dv]. */
static senti_status ref_attention(senti_tensor *dst) {
    const senti_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2], *mask = dst->src[3];
    const double scale = senti_param_f(dst, 0);
    const bool causal = dst->params[1];
    const int64_t B = q->ne[0], Tq = q->ne[1], Hq = q->ne[2], D = q->ne[3];
    const int64_t Tk = k->ne[1], Hkv = k->ne[2], Dv = v->ne[3];
    double *s = scratch((size_t)Tk, sizeof *s);
    double *o = scratch((size_t)Dv, sizeof *o);
    if (!s || !o) {
        senti_mfree(s);
        senti_mfree(o);
        return no_memory(dst);
    }
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < Tq; i++) {
            for (int64_t h = 0; h < Hq; h++) {
                const int64_t hk = h / (Hq / Hkv);
                for (int64_t j = 0; j < Tk; j++) {
                    if (causal && j > Tk - Tq + i) {
                        s[j] = -INFINITY;
                        continue;
                    }
                    double dot = 0.0;
                    for (int64_t d = 0; d < D; d++) dot += (double)get_f(q, b, i, h, d) * get_f(k, b, j, hk, d);
                    s[j] = dot * scale + (mask ? get_bcast(mask, b, h, i, j) : 0.0);
                }
                softmax_row(s, Tk); /* a query that sees no key gets all-zero weights */
                for (int64_t d = 0; d < Dv; d++) o[d] = 0.0;
                for (int64_t j = 0; j < Tk; j++)
                    for (int64_t d = 0; d < Dv; d++) o[d] += s[j] * get_f(v, b, j, hk, d);
                for (int64_t d = 0; d < Dv; d++) set_f32(dst, b, i, h, d, o[d]);
            }
        }
    }
    senti_mfree(s);
    senti_mfree(o);
    return SENTI_OK;
}

/* Packed sequences: each sequence of offs as its own attention (ref_attention's
 * maths with B = 1 and keys limited to the sequence); first-token queries
 * (params[2]): q / dst row s is token offs[s] of sequence s, zeros when s is
 * empty; a sliding window (params[3] = window + 1 > 0): keys farther than it from the
 * query score -inf. */
static senti_status ref_attention_varlen(senti_tensor *dst) {
    const senti_tensor *q = dst->src[0], *k = dst->src[1], *v = dst->src[2], *offs = dst->src[3];
    const double scale = senti_param_f(dst, 0);
    const bool causal = dst->params[1], first = dst->params[2];
    const int64_t window = (int64_t)dst->params[3] - 1; /* sliding window half-width, -1: none */
    const int64_t T = k->ne[1], Hq = q->ne[2], D = q->ne[3], Hkv = k->ne[2], Dv = v->ne[3], S = offs->ne[3] - 1;
    const int32_t *o = offs->data;
    if (o[0] != 0 || o[S] != T)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: sequence offsets must run from 0 to %lld", dst->name, (long long)T);
    for (int64_t s = 0; s < S; s++)
        if (o[s + 1] < o[s])
            return senti_error(SENTI_ERR_INVALID_ARG, "%s: sequence offset %lld decreases", dst->name, (long long)s + 1);
    double *sc = scratch((size_t)T + 1, sizeof *sc), *acc = scratch((size_t)Dv + 1, sizeof *acc);
    if (!sc || !acc) {
        senti_mfree(sc);
        senti_mfree(acc);
        return no_memory(dst);
    }
    for (int64_t s = 0; s < S; s++) {
        const int64_t a = o[s], n = o[s + 1] - o[s], qa = first ? s : a; /* q / dst row of token i: qa + i */
        if (first && n == 0)
            for (int64_t h = 0; h < Hq; h++)
                for (int64_t d = 0; d < Dv; d++) set_f32(dst, 0, s, h, d, 0.0);
        for (int64_t i = 0; i < (first && n ? 1 : n); i++)
            for (int64_t h = 0; h < Hq; h++) {
                const int64_t hk = h / (Hq / Hkv);
                for (int64_t j = 0; j < n; j++) {
                    if ((causal && j > i) || (window >= 0 && (i > j ? i - j : j - i) > window)) {
                        sc[j] = -INFINITY;
                        continue;
                    }
                    double dot = 0.0;
                    for (int64_t d = 0; d < D; d++) dot += (double)get_f(q, 0, qa + i, h, d) * get_f(k, 0, a + j, hk, d);
                    sc[j] = dot * scale;
                }
                softmax_row(sc, n);
                for (int64_t d = 0; d < Dv; d++) acc[d] = 0.0;
                for (int64_t j = 0; j < n; j++)
                    for (int64_t d = 0; d < Dv; d++) acc[d] += sc[j] * get_f(v, 0, a + j, hk, d);
                for (int64_t d = 0; d < Dv; d++) set_f32(dst, 0, qa + i, h, d, acc[d]);
            }
    }
    senti_mfree(sc);
    senti_mfree(acc);
    return SENTI_OK;
}

/* ---- rope ----------------------------------------------------------------- */

/* x [B,T,H,D], pos [T] or [B,T]. Pair i < n_rot/2 turns by angle
 * pos * freq_scale * theta^(-2i/n_rot) / ff[i]:
 *   (y0, y1) = (x0 cos - x1 sin, x0 sin + x1 cos),
 * pair (2i, 2i+1) interleaved, (i, i + n_rot/2) half-split; dims >= n_rot
 * are copied. */
static senti_status ref_rope(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0], *pos = dst->src[1], *ff = dst->src[2];
    const int n_rot = dst->params[0];
    const bool interleaved = dst->params[1];
    const double theta = senti_param_f(dst, 2), freq_scale = senti_param_f(dst, 3);
    const int64_t D = dst->ne[3], half = n_rot / 2;
    FOR_ROWS(dst, i0, i1, i2) {
        /* padded pos index: [T] -> (0,0,0,t) ignores b; [B,T] -> (0,0,b,t) */
        const int32_t p = *(const int32_t *)((const char *)pos->data + senti_bcast_offs(pos, 0, 0, i0, i1));
        for (int64_t i = n_rot; i < D; i++) set_f32(dst, i0, i1, i2, i, get_f(x, i0, i1, i2, i));
        for (int64_t i = 0; i < half; i++) {
            double angle = (double)p * freq_scale * pow(theta, -2.0 * (double)i / (double)n_rot);
            if (ff) angle /= get_f(ff, 0, 0, 0, i);
            const int64_t k0 = interleaved ? 2 * i : i, k1 = interleaved ? 2 * i + 1 : i + half;
            const double x0 = get_f(x, i0, i1, i2, k0), x1 = get_f(x, i0, i1, i2, k1);
            const double c = cos(angle), s = sin(angle);
            set_f32(dst, i0, i1, i2, k0, x0 * c - x1 * s);
            set_f32(dst, i0, i1, i2, k1, x0 * s + x1 * c);
        }
    }
    return SENTI_OK;
}

/* ---- copy and concat ------------------------------------------------------ */

/* dst (contiguous, dst->type) = x (any layout): each row goes through f32
 * (exact for f32/f16/bf16 sources) and is rounded once to the target type;
 * quantized targets use the reference quantizers; i32 is copied as is. */
static senti_status ref_cpy(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0];
    const int64_t n = dst->ne[3];
    float *row = scratch((size_t)n, sizeof *row);
    if (!row) return no_memory(dst);
    FOR_ROWS(dst, i0, i1, i2) {
        void *out = senti_row_ptr(dst, i0, i1, i2);
        if (x->type == SENTI_TYPE_I32) {
            for (int64_t i = 0; i < n; i++) ((int32_t *)out)[i] = *(const int32_t *)elem_ptr(x, i0, i1, i2, i);
            continue;
        }
        load_row(x, i0, i1, i2, row);
        switch (dst->type) {
        case SENTI_TYPE_Q8_0: senti_quantize_row_q8_0(row, out, n); break;
        case SENTI_TYPE_Q4_0: senti_quantize_row_q4_0(row, out, n); break;
        default: senti_row_from_f32(dst->type, row, out, n); break;
        }
    }
    senti_mfree(row);
    return SENTI_OK;
}

/* dst = [a | b] along padded dim params[0]; elements are copied bytewise. */
static senti_status ref_concat(senti_tensor *dst) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const int dim = dst->params[0];
    const int64_t na = a->ne[dim];
    const size_t esize = senti_type_size(dst->type);
    FOR_ROWS(dst, i0, i1, i2) for (int64_t i3 = 0; i3 < dst->ne[3]; i3++) {
        int64_t idx[4] = {i0, i1, i2, i3};
        const senti_tensor *src = a;
        if (idx[dim] >= na) {
            idx[dim] -= na;
            src = b;
        }
        memcpy(elem_ptr(dst, i0, i1, i2, i3), elem_ptr(src, idx[0], idx[1], idx[2], idx[3]), esize);
    }
    return SENTI_OK;
}

/* dst = src0 with row idx[i] replaced by row i of src1; in place when dst
 * shares src0's storage. Indices are checked before anything is written. */
static senti_status ref_set_rows(senti_tensor *dst) {
    const senti_tensor *base = dst->src[0], *src = dst->src[1], *idx = dst->src[2];
    const int64_t R = dst->ne[2], N = src->ne[2], D = dst->ne[3];
    for (int64_t i = 0; i < N; i++) {
        const int32_t r = *(const int32_t *)elem_ptr(idx, 0, 0, 0, i);
        if (r < 0 || r >= R)
            return senti_error(SENTI_ERR_INVALID_ARG, "ref set_rows '%s': index %d at %lld of '%s' is outside [0, %lld)",
                               dst->name, (int)r, (long long)i, idx->name, (long long)R);
    }
    if (dst->data != base->data)
        for (int64_t r = 0; r < R; r++)
            for (int64_t d = 0; d < D; d++) set_f32(dst, 0, 0, r, d, get_f(base, 0, 0, r, d));
    for (int64_t i = 0; i < N; i++) {
        const int32_t r = *(const int32_t *)elem_ptr(idx, 0, 0, 0, i);
        for (int64_t d = 0; d < D; d++) set_f32(dst, 0, 0, r, d, get_f(src, 0, 0, i, d));
    }
    return SENTI_OK;
}

/* ---- gather --------------------------------------------------------------- */

/* dst[i0,i1,i2,j] = x[i0,i1,i2, idx[i0',i1',i2',j]]; every index checked first. */
static senti_status ref_gather(senti_tensor *dst) {
    const senti_tensor *x = dst->src[0], *idx = dst->src[1];
    const int64_t N = x->ne[3];
    FOR_ROWS(idx, i0, i1, i2)
        for (int64_t j = 0; j < idx->ne[3]; j++) {
            const int32_t k = *(const int32_t *)elem_ptr(idx, i0, i1, i2, j);
            if (k < 0 || k >= N)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "gather '%s': index %d at [%lld,%lld,%lld,%lld] of '%s' is outside [0, %lld)",
                                   dst->name, k, (long long)i0, (long long)i1, (long long)i2, (long long)j, idx->name,
                                   (long long)N);
        }
    FOR_ROWS(dst, i0, i1, i2)
        for (int64_t j = 0; j < dst->ne[3]; j++) {
            const int32_t k = *(const int32_t *)((const char *)idx->data + senti_bcast_offs(idx, i0, i1, i2, j));
            set_f32(dst, i0, i1, i2, j, get_f(x, i0, i1, i2, k));
        }
    return SENTI_OK;
}

/* ---- dispatch ------------------------------------------------------------- */

senti_status ref_compute(senti_tensor *node) {
    switch (node->op) {
    case SENTI_OP_NONE:
    case SENTI_OP_RESHAPE:
    case SENTI_OP_PERMUTE:
    case SENTI_OP_SLICE: return SENTI_OK; /* views: no compute */
    case SENTI_OP_GET_ROWS: return ref_get_rows(node);
    case SENTI_OP_ADD: return ref_add(node);
    case SENTI_OP_MUL: return ref_mul(node);
    case SENTI_OP_SCALE: return ref_scale(node);
    case SENTI_OP_MATMUL: return ref_matmul(node);
    case SENTI_OP_LAYER_NORM: return ref_layer_norm(node);
    case SENTI_OP_RMS_NORM: return ref_rms_norm(node);
    case SENTI_OP_SOFTMAX: return ref_softmax(node);
    case SENTI_OP_GELU: return ref_gelu(node);
    case SENTI_OP_GELU_TANH: return ref_gelu_tanh(node);
    case SENTI_OP_SILU: return ref_silu(node);
    case SENTI_OP_RELU: return ref_relu(node);
    case SENTI_OP_TANH: return ref_tanh(node);
    case SENTI_OP_ATTENTION: return ref_attention(node);
    case SENTI_OP_ATTENTION_VARLEN: return ref_attention_varlen(node);
    case SENTI_OP_ROPE: return ref_rope(node);
    case SENTI_OP_CPY: return ref_cpy(node);
    case SENTI_OP_CONCAT: return ref_concat(node);
    case SENTI_OP_SET_ROWS: return ref_set_rows(node);
    case SENTI_OP_GATHER: return ref_gather(node);
    case SENTI_OP_COUNT: break;
    }
    return senti_error(SENTI_ERR_UNSUPPORTED, "ref: unknown op %d for '%s'", (int)node->op, node->name);
}
