/* matmul_avx512.c — AVX-512 matmul kernels: the 14x32 f32 GEMM micro-kernel,
 * and the few-rows (M <= 16) weight-streaming kernels for f32 / f16 / bf16
 * (vdpbf16ps) and q8_0 / q4_0 (vpdpbusd) weights. Compiled with
 * -mavx512{f,bw,vl,dq,bf16,vnni}; called only when CPUID says so.
 *
 * Every load of A, B and C stays inside the rows it was given: K tails use
 * masked loads, M / N tails are handled by clamping row pointers (extra
 * lanes compute duplicates that are never stored). */
#include <immintrin.h>

#include "matmul_kern.h"

#define MR CPU_MR_AVX512
#define NR CPU_NR_AVX512

/* ---- GEMM micro-kernel ----------------------------------------------------
 * 28 zmm accumulators (14 rows x 2 vectors of 16 columns), 2 B loads and 14
 * A broadcasts per k: 28 FMAs per 16 loads keeps Zen 4's single 512-bit FMA
 * pipe busy with 7 independent chains per 4-cycle latency. */
void cpu_ukr_f32_avx512(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc, int mr,
                        int nr) {
    __m512 c[MR][2];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    /* prefetch the C tile we will write */
    for (int i = 0; i < mr; i++) _mm_prefetch((const char *)(C + i * ldc), _MM_HINT_T0);
    for (int64_t k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(Bp);
        const __m512 b1 = _mm512_load_ps(Bp + 16);
        _mm_prefetch((const char *)(Bp + 8 * NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(Bp + 8 * NR + 16), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            const __m512 a = _mm512_set1_ps(Ap[i]);
            c[i][0] = _mm512_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a, b1, c[i][1]);
        }
        Ap += MR;
        Bp += NR;
    }
    if (mr == MR && nr == NR) {
        if (acc) {
#pragma GCC unroll 14
            for (int i = 0; i < MR; i++) {
                float *ci = C + i * ldc;
                _mm512_storeu_ps(ci, _mm512_add_ps(_mm512_loadu_ps(ci), c[i][0]));
                _mm512_storeu_ps(ci + 16, _mm512_add_ps(_mm512_loadu_ps(ci + 16), c[i][1]));
            }
        } else {
#pragma GCC unroll 14
            for (int i = 0; i < MR; i++) {
                _mm512_storeu_ps(C + i * ldc, c[i][0]);
                _mm512_storeu_ps(C + i * ldc + 16, c[i][1]);
            }
        }
        return;
    }
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xffff : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xffff : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = C + i * ldc;
        __m512 v0 = c[i][0], v1 = c[i][1];
        if (acc) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, ci), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, ci + 16), v1);
        }
        _mm512_mask_storeu_ps(ci, m0, v0);
        _mm512_mask_storeu_ps(ci + 16, m1, v1);
    }
}

/* ---- few rows, float weights ---------------------------------------------- */

static inline __mmask16 tail_mask16(int64_t n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

/* 16 weights from element k of a row of type bt, widened to f32 (exact). */
static inline __attribute__((always_inline)) __m512 load_w16(senti_type bt, const void *row, int64_t k,
                                                             __mmask16 m) {
    if (bt == SENTI_TYPE_F32) return _mm512_maskz_loadu_ps(m, (const float *)row + k);
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    if (bt == SENTI_TYPE_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* RA rows of A against 4 rows of B (pointers clamped by the caller). */
static inline __attribute__((always_inline)) void gemv_tile(int RA, senti_type bt, int64_t K, const float *const *a,
                                                            const char *const *b, float out[4][4]) {
    __m512 acc[4][4];
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    const size_t esz = bt == SENTI_TYPE_F32 ? 4 : 2;
    for (; k + 16 <= K; k += 16) {
        __m512 w[4];
        for (int j = 0; j < 4; j++) {
            _mm_prefetch(b[j] + (k + 256) * esz, _MM_HINT_T0);
            w[j] = load_w16(bt, b[j], k, 0xffff);
        }
        for (int i = 0; i < RA; i++) {
            const __m512 x = _mm512_loadu_ps(a[i] + k);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(x, w[j], acc[i][j]);
        }
    }
    if (k < K) {
        const __mmask16 m = tail_mask16(K - k);
        __m512 w[4];
        for (int j = 0; j < 4; j++) w[j] = load_w16(bt, b[j], k, m);
        for (int i = 0; i < RA; i++) {
            const __m512 x = _mm512_maskz_loadu_ps(m, a[i] + k);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_fmadd_ps(x, w[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}

#define GEMV_LOOP(BT)                                                                                              \
    do {                                                                                                           \
        for (int64_t n = n0; n < n1; n += 4) {                                                                     \
            const int nr = (int)(n1 - n < 4 ? n1 - n : 4);                                                         \
            const char *b[4];                                                                                      \
            for (int j = 0; j < 4; j++) b[j] = (const char *)B + (size_t)(n + (j < nr ? j : nr - 1)) * ldb;       \
            for (int64_t m = 0; m < M; m += 4) {                                                                   \
                const int ra = (int)(M - m < 4 ? M - m : 4);                                                       \
                const float *a[4];                                                                                 \
                for (int i = 0; i < 4; i++) a[i] = A + (m + (i < ra ? i : ra - 1)) * lda;                          \
                float out[4][4];                                                                                   \
                switch (ra) {                                                                                      \
                case 1: gemv_tile(1, BT, K, a, b, out); break;                                                     \
                case 2: gemv_tile(2, BT, K, a, b, out); break;                                                     \
                case 3: gemv_tile(3, BT, K, a, b, out); break;                                                     \
                default: gemv_tile(4, BT, K, a, b, out); break;                                                    \
                }                                                                                                  \
                for (int i = 0; i < ra; i++)                                                                       \
                    for (int j = 0; j < nr; j++) C[(m + i) * ldc + n + j] = out[i][j];                             \
            }                                                                                                      \
        }                                                                                                          \
    } while (0)

void cpu_gemv_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda, senti_type bt,
                     const void *B, size_t ldb, float *C, int64_t ldc) {
    if (bt == SENTI_TYPE_F32)
        GEMV_LOOP(SENTI_TYPE_F32);
    else if (bt == SENTI_TYPE_F16)
        GEMV_LOOP(SENTI_TYPE_F16);
    else
        GEMV_LOOP(SENTI_TYPE_BF16);
}

/* ---- few rows, bf16 weights with vdpbf16ps ----------------------------------
 * acc[i] += a[2i]·b[2i] + a[2i+1]·b[2i+1] in f32. A is rounded to bf16 (8
 * significant bits), so each product carries a relative error <= 2^-8 and
 * |C - C_exact| <= 2^-8 · sum_k |a_k b_k| (+ f32 rounding): about 4e-3
 * relative for sums without heavy cancellation. */
static inline __attribute__((always_inline)) void gemv_bf16_tile(int RA, int64_t K, const senti_bf16 *const *a,
                                                                 const char *const *b, float out[4][4]) {
    __m512 acc[4][4];
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        __m512bh w[4];
        for (int j = 0; j < 4; j++) {
            _mm_prefetch(b[j] + (k + 256) * 2, _MM_HINT_T0);
            w[j] = (__m512bh)_mm512_loadu_si512((const uint16_t *)b[j] + k);
        }
        for (int i = 0; i < RA; i++) {
            const __m512bh x = (__m512bh)_mm512_loadu_si512(a[i] + k);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x, w[j]);
        }
    }
    if (k < K) {
        const int64_t r = K - k;
        const __mmask32 m = (__mmask32)(r >= 32 ? 0xffffffffu : (1u << r) - 1);
        __m512bh w[4];
        for (int j = 0; j < 4; j++) w[j] = (__m512bh)_mm512_maskz_loadu_epi16(m, (const uint16_t *)b[j] + k);
        for (int i = 0; i < RA; i++) {
            const __m512bh x = (__m512bh)_mm512_maskz_loadu_epi16(m, a[i] + k);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], x, w[j]);
        }
    }
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) out[i][j] = _mm512_reduce_add_ps(acc[i][j]);
}

void cpu_gemv_bf16_avx512bf16(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_bf16 *Ab, const void *B,
                              size_t ldb, float *C, int64_t ldc) {
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = (int)(n1 - n < 4 ? n1 - n : 4);
        const char *b[4];
        for (int j = 0; j < 4; j++) b[j] = (const char *)B + (size_t)(n + (j < nr ? j : nr - 1)) * ldb;
        for (int64_t m = 0; m < M; m += 4) {
            const int ra = (int)(M - m < 4 ? M - m : 4);
            const senti_bf16 *a[4];
            for (int i = 0; i < 4; i++) a[i] = Ab + (m + (i < ra ? i : ra - 1)) * K;
            float out[4][4];
            switch (ra) {
            case 1: gemv_bf16_tile(1, K, a, b, out); break;
            case 2: gemv_bf16_tile(2, K, a, b, out); break;
            case 3: gemv_bf16_tile(3, K, a, b, out); break;
            default: gemv_bf16_tile(4, K, a, b, out); break;
            }
            for (int i = 0; i < ra; i++)
                for (int j = 0; j < nr; j++) C[(m + i) * ldc + n + j] = out[i][j];
        }
    }
}

/* ---- few rows, q8_0 / q4_0 weights with vpdpbusd ---------------------------
 * vpdpbusd multiplies unsigned by signed bytes, so the weight side is made
 * unsigned: q8_0 as w + 128 (w in [-127, 127] -> [1, 255]), q4_0 as its raw
 * nibble q in [0, 15] (value q - 8). The offset comes back out through the
 * per-block sum of the activations: sum (w + o) a = sum w a + o · sum a, so
 * each block's dot starts from -o · Asum. One block (32 bytes) per ymm; each
 * block's 8 int32 lanes are scaled by d_a · d_w into f32 accumulators. */
static inline __attribute__((always_inline)) __m256i load_wq(senti_type bt, const char *blk) {
    if (bt == SENTI_TYPE_Q8_0) {
        const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        return _mm256_xor_si256(q, _mm256_set1_epi8((char)0x80));
    }
    const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(q, 4), q);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

static inline __attribute__((always_inline)) void gemv_q_tile(int RA, senti_type bt, int64_t nb,
                                                              const senti_block_q8_0 *const *a,
                                                              const int32_t *const *as, const char *const *b,
                                                              float out[4][4]) {
    const size_t bs = bt == SENTI_TYPE_Q8_0 ? sizeof(senti_block_q8_0) : sizeof(senti_block_q4_0);
    const int32_t off = bt == SENTI_TYPE_Q8_0 ? -128 : -8;
    __m256 acc[4][4];
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t ib = 0; ib < nb; ib++) {
        __m256i w[4];
        float dw[4];
        for (int j = 0; j < 4; j++) {
            const char *blk = b[j] + ib * bs;
            _mm_prefetch(blk + 8 * bs, _MM_HINT_T0);
            w[j] = load_wq(bt, blk);
            uint16_t h;
            memcpy(&h, blk, 2);
            dw[j] = _cvtsh_ss(h);
        }
        for (int i = 0; i < RA; i++) {
            const senti_block_q8_0 *ab = a[i] + ib;
            const __m256i x = _mm256_loadu_si256((const __m256i *)ab->qs);
            const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(off * as[i][ib]));
            const float da = _cvtsh_ss(ab->d);
            for (int j = 0; j < 4; j++) {
                const __m256i d = _mm256_dpbusd_epi32(init, w[j], x);
                acc[i][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(da * dw[j]), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) {
            const __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i][j]), _mm256_extractf128_ps(acc[i][j], 1));
            const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
            out[i][j] = _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
        }
}

void cpu_gemv_q_avx512vnni(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_block_q8_0 *Aq,
                           const int32_t *Asum, senti_type bt, const void *B, size_t ldb, float *C, int64_t ldc) {
    const int64_t nb = K / SENTI_QK;
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = (int)(n1 - n < 4 ? n1 - n : 4);
        const char *b[4];
        for (int j = 0; j < 4; j++) b[j] = (const char *)B + (size_t)(n + (j < nr ? j : nr - 1)) * ldb;
        for (int64_t m = 0; m < M; m += 4) {
            const int ra = (int)(M - m < 4 ? M - m : 4);
            const senti_block_q8_0 *a[4];
            const int32_t *as[4];
            for (int i = 0; i < 4; i++) {
                const int64_t r = m + (i < ra ? i : ra - 1);
                a[i] = Aq + r * nb;
                as[i] = Asum + r * nb;
            }
            float out[4][4];
            if (bt == SENTI_TYPE_Q8_0) {
                switch (ra) {
                case 1: gemv_q_tile(1, SENTI_TYPE_Q8_0, nb, a, as, b, out); break;
                case 2: gemv_q_tile(2, SENTI_TYPE_Q8_0, nb, a, as, b, out); break;
                case 3: gemv_q_tile(3, SENTI_TYPE_Q8_0, nb, a, as, b, out); break;
                default: gemv_q_tile(4, SENTI_TYPE_Q8_0, nb, a, as, b, out); break;
                }
            } else {
                switch (ra) {
                case 1: gemv_q_tile(1, SENTI_TYPE_Q4_0, nb, a, as, b, out); break;
                case 2: gemv_q_tile(2, SENTI_TYPE_Q4_0, nb, a, as, b, out); break;
                case 3: gemv_q_tile(3, SENTI_TYPE_Q4_0, nb, a, as, b, out); break;
                default: gemv_q_tile(4, SENTI_TYPE_Q4_0, nb, a, as, b, out); break;
                }
            }
            for (int i = 0; i < ra; i++)
                for (int j = 0; j < nr; j++) C[(m + i) * ldc + n + j] = out[i][j];
        }
    }
}
