/* cpu_vec.h — the row-level vector routines behind the CPU element-wise,
 * normalisation, softmax and attention kernels, one table per SIMD level.
 *
 * Invariants: every routine works on contiguous f32 rows of any length n >= 0
 * (tails are masked, never read or written past n); y may alias x (in place)
 * wherever both appear; routines are thread-safe and allocate nothing. The
 * scalar table lives in elementwise.c, the SIMD ones in elementwise_avx2.c and
 * elementwise_avx512.c (one body, cpu/vec_body.inc, compiled per ISA). */
#ifndef SENTI_CPU_VEC_H
#define SENTI_CPU_VEC_H

#include "cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cpu_vec_ops {
    /* y = a + b, a * b; y = a + s, a * s */
    void (*add)(float *y, const float *a, const float *b, int64_t n);
    void (*mul)(float *y, const float *a, const float *b, int64_t n);
    void (*adds)(float *y, const float *a, float s, int64_t n);
    void (*muls)(float *y, const float *a, float s, int64_t n);
    /* activations, y = f(x) */
    void (*gelu)(float *y, const float *x, int64_t n);
    void (*gelu_tanh)(float *y, const float *x, int64_t n);
    void (*silu)(float *y, const float *x, int64_t n);
    void (*relu)(float *y, const float *x, int64_t n);
    void (*tanh)(float *y, const float *x, int64_t n);
    /* one row of layer norm / RMS norm; w, b may be NULL */
    void (*layer_norm)(float *y, const float *x, const float *w, const float *b, int64_t n, float eps);
    void (*rms_norm)(float *y, const float *x, const float *w, int64_t n, float eps);
    /* y = softmax(x * scale + mask) (mask NULL: none); an all -inf row -> 0 */
    void (*softmax)(float *y, const float *x, const float *mask, int64_t n, float scale);
    /* max of x[0..n) (-inf for n == 0) */
    float (*max)(const float *x, int64_t n);
    /* s[j] = exp(s[j] - m) for j < n; returns the sum (m finite) */
    float (*exp_sum)(float *s, int64_t n, float m);
    /* attention tile, scores: s[r*lds + j] = scale * q_r · kt[:, j] for
     * r < nr, j < nkp (nkp % 16 == 0); q_r at (char *)q + r*q_stride (bytes);
     * kt is [D][ldk] (keys transposed, ldk >= nkp). */
    void (*attn_scores)(float *s, int64_t lds, const float *q, size_t q_stride, int64_t nr,
                        const float *kt, int64_t ldk, int64_t nkp, int64_t D, float scale);
    /* attention tile, P·V: o[r*ldo + c] += sum_{j<nk} p[r*ldp + j] * v_j[c] for
     * r < nr, c < dv; v_j at (char *)v + j*v_stride; ldo >= dv rounded up to 16
     * (columns dv..ldo may be written with zeros' sums). */
    void (*attn_pv)(float *o, int64_t ldo, const float *p, int64_t ldp, int64_t nr,
                    const float *v, size_t v_stride, int64_t nk, int64_t dv);
    /* keys transposed for attn_scores: kt[d*ldk + j] = k_j[d] for j < nk,
     * d < D, zeros for j in [nk, nk rounded up to 16); k_j at
     * (char *)k + j*k_stride; ldk >= nk rounded up to 16. */
    void (*pack_kt)(float *kt, int64_t ldk, const float *k, size_t k_stride, int64_t nk, int64_t D);
    /* half-precision rows, same rounding as core.h (round to nearest even) */
    void (*f16_to_f32)(float *y, const uint16_t *x, int64_t n);
    void (*f32_to_f16)(uint16_t *y, const float *x, int64_t n);
    void (*bf16_to_f32)(float *y, const uint16_t *x, int64_t n);
    void (*f32_to_bf16)(uint16_t *y, const float *x, int64_t n);
} cpu_vec_ops;

extern const cpu_vec_ops cpu_vec_ops_scalar;
extern const cpu_vec_ops cpu_vec_ops_avx2;
extern const cpu_vec_ops cpu_vec_ops_avx512;

/* The table for a SIMD level (falls back to scalar for unknown levels). */
const cpu_vec_ops *cpu_vec_get(cpu_simd s);

/* Threads to use for `work` units of roughly `cost` bytes each: 1 when the
 * whole job is too small to pay for a parallel region. */
int cpu_vec_threads(const cpu_ctx *ctx, int64_t work, double cost);

/* Per-thread slice i of a scratch block carved in 64-byte-aligned pieces. */
static inline void *cpu_vec_slice(void *base, size_t slice_bytes, int i) {
    return (char *)base + (size_t)i * slice_bytes;
}
static inline size_t cpu_vec_round64(size_t n) { return (n + 63) & ~(size_t)63; }

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CPU_VEC_H */
