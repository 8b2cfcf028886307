/* norm.c — CPU layer norm, RMS norm and softmax: one row of the innermost dim
 * at a time, rows split across threads, the row maths in cpu_vec.h routines.
 *
 * Invariants: dst contiguous; x any strided view (a strided innermost dim is
 * gathered into the dst row and normalised in place); weights and bias f32 [D]
 * (gathered once if strided); the softmax mask broadcasts numpy-style and a
 * row that is all -inf gives zeros. */
#include <math.h>

#include "cpu_vec.h"

/* Row `row` of x as a contiguous pointer: x itself, or gathered into y. */
static inline const float *src_row(const senti_tensor *x, const senti_tensor *dst, int64_t row, float *y) {
    int64_t i2 = row % dst->ne[2], r = row / dst->ne[2];
    int64_t i1 = r % dst->ne[1], i0 = r / dst->ne[1];
    const char *p = (const char *)senti_row_ptr(x, i0, i1, i2);
    if (x->nb[3] == sizeof(float) || x->ne[3] <= 1) return (const float *)p;
    for (int64_t i = 0; i < x->ne[3]; i++) y[i] = *(const float *)(p + (size_t)i * x->nb[3]);
    return y;
}

/* A contiguous copy of a 1-D parameter (w or b) in scratch when it is strided. */
static const float *param_vec(const senti_tensor *t, float *buf) {
    if (!t) return NULL;
    if (t->nb[3] == sizeof(float) || t->ne[3] <= 1) return (const float *)senti_row_ptr(t, 0, 0, 0);
    for (int64_t i = 0; i < t->ne[3]; i++) buf[i] = *(const float *)((const char *)t->data + (size_t)i * t->nb[3]);
    return buf;
}

typedef struct {
    const cpu_vec_ops *ops;
    const senti_tensor *x, *dst;
    const float *w, *b;
    int64_t n;
    float eps;
    bool layer;
} norm_par;

static void norm_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const norm_par *a = arg;
    (void)ith;
    for (int64_t row = r0; row < r1; row++) {
        float *y = (float *)a->dst->data + row * a->n;
        const float *xr = src_row(a->x, a->dst, row, y);
        if (a->layer)
            a->ops->layer_norm(y, xr, a->w, a->b, a->n, a->eps);
        else
            a->ops->rms_norm(y, xr, a->w, a->n, a->eps);
    }
}

static senti_status norm(cpu_ctx *ctx, senti_tensor *dst, bool layer) {
    const senti_tensor *x = dst->src[0], *wt = dst->src[1], *bt = layer ? dst->src[2] : NULL;
    const int64_t n = dst->ne[3], nrows = senti_nrows(dst);
    const float eps = senti_param_f(dst, 0);
    if (n == 0 || nrows == 0) return SENTI_OK;
    float *buf = NULL;
    bool need = (wt && wt->nb[3] != sizeof(float)) || (bt && bt->nb[3] != sizeof(float));
    if (need) {
        buf = cpu_scratch(ctx, 2 * (size_t)n * sizeof(float));
        if (!buf) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for %lld floats", dst->name, (long long)(2 * n));
    }
    const float *w = param_vec(wt, buf), *b = param_vec(bt, buf ? buf + n : NULL);
    norm_par a = {cpu_vec_get(ctx->simd), x, dst, w, b, n, eps, layer};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, nrows, 12.0 * (double)n), nrows, 0, norm_range, &a);
    return SENTI_OK;
}

CPU_KERNEL(layer_norm) { return norm(ctx, dst, true); }
CPU_KERNEL(rms_norm) { return norm(ctx, dst, false); }

typedef struct {
    const cpu_vec_ops *ops;
    const senti_tensor *x, *mask, *dst;
    int64_t n;
    float scale;
    size_t ms;
    float *mbuf;
    size_t slice;
} softmax_par;

static void softmax_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const softmax_par *a = arg;
    const senti_tensor *dst = a->dst, *mask = a->mask;
    const int64_t n = a->n;
    float *mrow = a->mbuf ? (float *)cpu_vec_slice(a->mbuf, a->slice, ith) : NULL;
    for (int64_t row = r0; row < r1; row++) {
        float *y = (float *)dst->data + row * n;
        const float *xr = src_row(a->x, dst, row, y);
        const float *m = NULL;
        if (mask) {
            int64_t i2 = row % dst->ne[2], r = row / dst->ne[2];
            int64_t i1 = r % dst->ne[1], i0 = r / dst->ne[1];
            const char *mp = (const char *)mask->data + senti_bcast_offs(mask, i0, i1, i2, 0);
            if (mrow) {
                for (int64_t i = 0; i < n; i++) mrow[i] = *(const float *)(mp + (size_t)i * a->ms);
                m = mrow;
            } else {
                m = (const float *)mp;
            }
        }
        a->ops->softmax(y, xr, m, n, a->scale);
    }
}

CPU_KERNEL(softmax) {
    const senti_tensor *x = dst->src[0], *mask = dst->src[1];
    const int64_t n = dst->ne[3], nrows = senti_nrows(dst);
    const float scale = senti_param_f(dst, 0);
    if (n == 0 || nrows == 0) return SENTI_OK;
    const cpu_vec_ops *ops = cpu_vec_get(ctx->simd);
    int nth = cpu_vec_threads(ctx, nrows, 16.0 * (double)n);
    /* a mask whose innermost dim is broadcast or strided is gathered per row */
    const size_t ms = mask ? (mask->ne[3] == 1 ? 0 : mask->nb[3]) : sizeof(float);
    float *mbuf = NULL;
    size_t slice = cpu_vec_round64((size_t)n * sizeof(float));
    if (ms != sizeof(float)) {
        mbuf = cpu_scratch(ctx, slice * (size_t)nth);
        if (!mbuf) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for the softmax mask", dst->name);
    }
    softmax_par a = {ops, x, mask, dst, n, scale, ms, mbuf, slice};
    cpu_parallel_for(ctx, nth, nrows, 0, softmax_range, &a);
    return SENTI_OK;
}
