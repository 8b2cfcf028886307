/* elementwise.c — CPU add / mul (numpy broadcasting), scale and the
 * activations, plus the scalar table of row routines (cpu_vec.h) and its
 * run-time selection.
 *
 * Invariants: dst is contiguous and has the broadcast shape; sources may be
 * any strided or broadcast view (a size-1 dim repeats). Work is split over the
 * flattened output so a single long row is parallel too; tiny tensors run on
 * the calling thread. */
#include <math.h>

#include "cpu_vec.h"

/* ---- scalar row routines -------------------------------------------------- */

static void s_add(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}
static void s_mul(float *y, const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}
static void s_adds(float *y, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + s;
}
static void s_muls(float *y, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * s;
}
static void s_gelu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(0.5 * v * erfc(-v * 0.70710678118654752440));
    }
}
static void s_gelu_tanh(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        y[i] = v / (1.0f + expf(-2.0f * u));
    }
}
static void s_silu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}
static void s_relu(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f || x[i] != x[i] ? x[i] : 0.0f; /* NaN stays NaN */
}
static void s_tanh(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}
static void s_layer_norm(float *y, const float *x, const float *w, const float *b, int64_t n, float eps) {
    if (n <= 0) return;
    double sum = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i];
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++) sq += (x[i] - mean) * (x[i] - mean);
    double rstd = 1.0 / sqrt(sq / (double)n + (double)eps);
    for (int64_t i = 0; i < n; i++) {
        double v = (x[i] - mean) * rstd;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = (float)v;
    }
}
static void s_rms_norm(float *y, const float *x, const float *w, int64_t n, float eps) {
    if (n <= 0) return;
    double sq = 0.0;
    for (int64_t i = 0; i < n; i++) sq += (double)x[i] * x[i];
    double r = 1.0 / sqrt(sq / (double)n + (double)eps);
    for (int64_t i = 0; i < n; i++) y[i] = (float)(x[i] * r * (w ? w[i] : 1.0f));
}
static float s_max(const float *x, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m || x[i] != x[i] ? x[i] : m; /* NaN sticks */
    return m;
}
static float s_exp_sum(float *s, int64_t n, float m) {
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        s[i] = expf(s[i] - m);
        sum += s[i];
    }
    return sum;
}
static void s_softmax(float *y, const float *x, const float *mask, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * scale + (mask ? mask[i] : 0.0f);
    float m = s_max(y, n);
    if (m == -INFINITY) {
        for (int64_t i = 0; i < n; i++) y[i] = 0.0f;
        return;
    }
    float inv = 1.0f / s_exp_sum(y, n, m);
    for (int64_t i = 0; i < n; i++) y[i] *= inv;
}
static void s_attn_scores(float *s, int64_t lds, const float *q, size_t q_stride, int64_t nr, const float *kt,
                          int64_t ldk, int64_t nkp, int64_t D, float scale) {
    for (int64_t r = 0; r < nr; r++) {
        const float *qr = (const float *)((const char *)q + (size_t)r * q_stride);
        float *sr = s + r * lds;
        for (int64_t j = 0; j < nkp; j++) sr[j] = 0.0f;
        for (int64_t d = 0; d < D; d++) {
            const float *kd = kt + d * ldk;
            float qv = qr[d];
            for (int64_t j = 0; j < nkp; j++) sr[j] += qv * kd[j];
        }
        for (int64_t j = 0; j < nkp; j++) sr[j] *= scale;
    }
}
static void s_attn_pv(float *o, int64_t ldo, const float *p, int64_t ldp, int64_t nr, const float *v,
                      size_t v_stride, int64_t nk, int64_t dv) {
    for (int64_t r = 0; r < nr; r++) {
        float *orow = o + r * ldo;
        for (int64_t j = 0; j < nk; j++) {
            const float *vj = (const float *)((const char *)v + (size_t)j * v_stride);
            float pj = p[r * ldp + j];
            for (int64_t c = 0; c < dv; c++) orow[c] += pj * vj[c];
        }
    }
}

static void s_pack_kt(float *kt, int64_t ldk, const float *k, size_t k_stride, int64_t nk, int64_t D) {
    const int64_t nkp = (nk + 15) & ~(int64_t)15;
    for (int64_t j = 0; j < nk; j++) {
        const float *kr = (const float *)((const char *)k + (size_t)j * k_stride);
        for (int64_t d = 0; d < D; d++) kt[d * ldk + j] = kr[d];
    }
    for (int64_t d = 0; d < D; d++)
        for (int64_t j = nk; j < nkp; j++) kt[d * ldk + j] = 0.0f;
}

static void s_f16_to_f32(float *y, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = senti_f16_to_f32(x[i]);
}
static void s_f32_to_f16(uint16_t *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = senti_f32_to_f16(x[i]);
}
static void s_bf16_to_f32(float *y, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = senti_bf16_to_f32(x[i]);
}
static void s_f32_to_bf16(uint16_t *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = senti_f32_to_bf16(x[i]);
}

const cpu_vec_ops cpu_vec_ops_scalar = {
    .add = s_add, .mul = s_mul, .adds = s_adds, .muls = s_muls,
    .gelu = s_gelu, .gelu_tanh = s_gelu_tanh, .silu = s_silu, .relu = s_relu, .tanh = s_tanh,
    .layer_norm = s_layer_norm, .rms_norm = s_rms_norm, .softmax = s_softmax,
    .max = s_max, .exp_sum = s_exp_sum, .attn_scores = s_attn_scores, .attn_pv = s_attn_pv,
    .pack_kt = s_pack_kt,
    .f16_to_f32 = s_f16_to_f32, .f32_to_f16 = s_f32_to_f16, .bf16_to_f32 = s_bf16_to_f32, .f32_to_bf16 = s_f32_to_bf16,
};

const cpu_vec_ops *cpu_vec_get(cpu_simd s) {
    switch (s) {
    case CPU_SIMD_AVX512: return &cpu_vec_ops_avx512;
    case CPU_SIMD_AVX2: return &cpu_vec_ops_avx2;
    default: return &cpu_vec_ops_scalar;
    }
}

int cpu_vec_threads(const cpu_ctx *ctx, int64_t work, double cost) {
    int nth = ctx->n_threads > 0 ? ctx->n_threads : 1;
    if (nth < 1) nth = 1;
    if ((double)work * cost < 32768.0) return 1; /* a parallel region costs more than the job */
    if (work < nth) nth = (int)(work > 0 ? work : 1);
    return nth;
}

/* ---- the walk over a flattened contiguous output -------------------------- */

/* Padded index of output row `row` of t (rows of ne[3] elements). */
static inline void row_index(const senti_tensor *t, int64_t row, int64_t *i0, int64_t *i1, int64_t *i2) {
    *i2 = row % t->ne[2];
    row /= t->ne[2];
    *i1 = row % t->ne[1];
    *i0 = row / t->ne[1];
}

/* Elements per chunk of the flattened output: about 4 chunks a thread, a
 * multiple of 16. */
static inline int64_t elem_chunk(int64_t nel, int nth) {
    int64_t c = (nel + 4 * (int64_t)nth - 1) / (4 * (int64_t)nth);
    return (c + 15) & ~(int64_t)15;
}

enum { BIN_ADD, BIN_MUL };
typedef void (*unary_fn_t)(float *y, const float *x, int64_t n);

static void binary_range(const cpu_vec_ops *ops, senti_tensor *dst, int op, int64_t e0, int64_t e1) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const int64_t n3 = dst->ne[3];
    const size_t sa = a->ne[3] == 1 ? 0 : a->nb[3], sb = b->ne[3] == 1 ? 0 : b->nb[3];
    int64_t row = e0 / n3, col = e0 % n3;
    while (e0 < e1) {
        int64_t len = n3 - col < e1 - e0 ? n3 - col : e1 - e0, i0, i1, i2;
        row_index(dst, row, &i0, &i1, &i2);
        const char *pa = (const char *)a->data + senti_bcast_offs(a, i0, i1, i2, 0) + (size_t)col * sa;
        const char *pb = (const char *)b->data + senti_bcast_offs(b, i0, i1, i2, 0) + (size_t)col * sb;
        float *y = (float *)dst->data + row * n3 + col;
        if (sa == 4 && sb == 4) {
            (op == BIN_ADD ? ops->add : ops->mul)(y, (const float *)pa, (const float *)pb, len);
        } else if (sa == 4 && sb == 0) { /* bias-like: b a broadcast scalar along the row */
            (op == BIN_ADD ? ops->adds : ops->muls)(y, (const float *)pa, *(const float *)pb, len);
        } else if (sa == 0 && sb == 4) {
            (op == BIN_ADD ? ops->adds : ops->muls)(y, (const float *)pb, *(const float *)pa, len);
        } else {
            for (int64_t i = 0; i < len; i++) {
                float x = *(const float *)(pa + (size_t)i * sa), z = *(const float *)(pb + (size_t)i * sb);
                y[i] = op == BIN_ADD ? x + z : x * z;
            }
        }
        e0 += len;
        row++;
        col = 0;
    }
}

typedef struct {
    const cpu_vec_ops *ops;
    senti_tensor *dst;
    int op;
    unary_fn_t f;
    float s;
} elem_par;

static void binary_task(void *arg, int64_t e0, int64_t e1, int ith) {
    const elem_par *a = arg;
    (void)ith;
    binary_range(a->ops, a->dst, a->op, e0, e1);
}

static senti_status binary(cpu_ctx *ctx, senti_tensor *dst, int op) {
    const int64_t nel = senti_nelements(dst);
    if (nel == 0) return SENTI_OK;
    const int nth = cpu_vec_threads(ctx, nel, 8.0);
    elem_par a = {cpu_vec_get(ctx->simd), dst, op, NULL, 0.0f};
    cpu_parallel_for(ctx, nth, nel, elem_chunk(nel, nth), binary_task, &a);
    return SENTI_OK;
}

CPU_KERNEL(add) { return binary(ctx, dst, BIN_ADD); }
CPU_KERNEL(mul) { return binary(ctx, dst, BIN_MUL); }

/* ---- unary ops -------------------------------------------------------------- */

typedef unary_fn_t unary_fn;

/* y = f(x) (f NULL: y = x * s); x any strided view of dst's shape. */
static void unary_range(senti_tensor *dst, unary_fn f, const cpu_vec_ops *ops, float s, int64_t e0, int64_t e1) {
    const senti_tensor *x = dst->src[0];
    const int64_t n3 = dst->ne[3];
    const size_t sx = x->nb[3];
    int64_t row = e0 / n3, col = e0 % n3;
    while (e0 < e1) {
        int64_t len = n3 - col < e1 - e0 ? n3 - col : e1 - e0, i0, i1, i2;
        row_index(dst, row, &i0, &i1, &i2);
        const char *px = (const char *)senti_row_ptr(x, i0, i1, i2) + (size_t)col * sx;
        float *y = (float *)dst->data + row * n3 + col;
        const float *src = (const float *)px;
        if (sx != sizeof(float)) { /* strided innermost dim: gather into y, then in place */
            for (int64_t i = 0; i < len; i++) y[i] = *(const float *)(px + (size_t)i * sx);
            src = y;
        }
        if (f)
            f(y, src, len);
        else
            ops->muls(y, src, s, len);
        e0 += len;
        row++;
        col = 0;
    }
}

static void unary_task(void *arg, int64_t e0, int64_t e1, int ith) {
    const elem_par *a = arg;
    (void)ith;
    unary_range(a->dst, a->f, a->ops, a->s, e0, e1);
}

static senti_status unary(cpu_ctx *ctx, senti_tensor *dst, unary_fn f, float s, double cost) {
    const int64_t nel = senti_nelements(dst);
    if (nel == 0) return SENTI_OK;
    const int nth = cpu_vec_threads(ctx, nel, cost);
    elem_par a = {cpu_vec_get(ctx->simd), dst, 0, f, s};
    cpu_parallel_for(ctx, nth, nel, elem_chunk(nel, nth), unary_task, &a);
    return SENTI_OK;
}

CPU_KERNEL(scale) { return unary(ctx, dst, NULL, senti_param_f(dst, 0), 8.0); }
CPU_KERNEL(gelu) { return unary(ctx, dst, cpu_vec_get(ctx->simd)->gelu, 0.0f, 40.0); }
CPU_KERNEL(gelu_tanh) { return unary(ctx, dst, cpu_vec_get(ctx->simd)->gelu_tanh, 0.0f, 30.0); }
CPU_KERNEL(silu) { return unary(ctx, dst, cpu_vec_get(ctx->simd)->silu, 0.0f, 30.0); }
CPU_KERNEL(relu) { return unary(ctx, dst, cpu_vec_get(ctx->simd)->relu, 0.0f, 8.0); }
CPU_KERNEL(tanh) { return unary(ctx, dst, cpu_vec_get(ctx->simd)->tanh, 0.0f, 30.0); }
