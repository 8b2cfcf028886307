/* matmul_avx2.c — AVX2 + FMA matmul kernels: the 6x16 f32 GEMM micro-kernel
 * and the few-rows (M <= 16) kernels for f32 / f16 / bf16 weights and for
 * q8_0 / q4_0 weights (vpmaddubsw). Compiled with -mavx2 -mfma -mf16c; called
 * only when CPUID says so (also the fallback on AVX-512 parts without VNNI).
 *
 * Loads stay inside the given rows: K tails go through small zero-padded
 * stack copies, M / N tails clamp row pointers and store only valid lanes. */
#include <immintrin.h>

#include "matmul_kern.h"

#define MR CPU_MR_AVX2
#define NR CPU_NR_AVX2

/* 12 ymm accumulators (6 rows x 2 vectors of 8 columns). */
void cpu_ukr_f32_avx2(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc, int mr,
                      int nr) {
    __m256 c[MR][2];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int64_t k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(Bp);
        const __m256 b1 = _mm256_load_ps(Bp + 8);
        _mm_prefetch((const char *)(Bp + 8 * NR), _MM_HINT_T0);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_broadcast_ss(Ap + i);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
        Ap += MR;
        Bp += NR;
    }
    if (mr == MR && nr == NR) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            float *ci = C + i * ldc;
            if (acc) {
                c[i][0] = _mm256_add_ps(_mm256_loadu_ps(ci), c[i][0]);
                c[i][1] = _mm256_add_ps(_mm256_loadu_ps(ci + 8), c[i][1]);
            }
            _mm256_storeu_ps(ci, c[i][0]);
            _mm256_storeu_ps(ci + 8, c[i][1]);
        }
        return;
    }
    float tile[NR];
    for (int i = 0; i < mr; i++) {
        float *ci = C + i * ldc;
        _mm256_storeu_ps(tile, c[i][0]);
        _mm256_storeu_ps(tile + 8, c[i][1]);
        for (int j = 0; j < nr; j++) ci[j] = acc ? ci[j] + tile[j] : tile[j];
    }
}

/* ---- few rows, float weights ---------------------------------------------- */

static inline __attribute__((always_inline)) __m256 load_w8(senti_type bt, const void *row, int64_t k) {
    if (bt == SENTI_TYPE_F32) return _mm256_loadu_ps((const float *)row + k);
    const __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)row + k));
    if (bt == SENTI_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float hsum8(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

/* RA (<= 2) rows of A against 4 rows of B. */
static inline __attribute__((always_inline)) void gemv_tile(int RA, senti_type bt, int64_t K, const float *const *a,
                                                            const char *const *b, float out[2][4]) {
    __m256 acc[2][4];
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm256_setzero_ps();
    const int64_t K8 = K & ~(int64_t)7;
    for (int64_t k = 0; k < K8; k += 8) {
        __m256 w[4];
        for (int j = 0; j < 4; j++) w[j] = load_w8(bt, b[j], k);
        for (int i = 0; i < RA; i++) {
            const __m256 x = _mm256_loadu_ps(a[i] + k);
            for (int j = 0; j < 4; j++) acc[i][j] = _mm256_fmadd_ps(x, w[j], acc[i][j]);
        }
    }
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) out[i][j] = hsum8(acc[i][j]);
    if (K8 < K) { /* scalar tail: widen the remaining weights one by one */
        const size_t esz = bt == SENTI_TYPE_F32 ? 4 : 2;
        for (int j = 0; j < 4; j++)
            for (int64_t k = K8; k < K; k++) {
                float w;
                if (bt == SENTI_TYPE_F32) {
                    memcpy(&w, b[j] + k * esz, 4);
                } else {
                    uint16_t h;
                    memcpy(&h, b[j] + k * esz, 2);
                    w = bt == SENTI_TYPE_F16 ? _cvtsh_ss(h) : senti_bf16_to_f32(h);
                }
                for (int i = 0; i < RA; i++) out[i][j] += a[i][k] * w;
            }
    }
}

void cpu_gemv_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda, senti_type bt,
                   const void *B, size_t ldb, float *C, int64_t ldc) {
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = (int)(n1 - n < 4 ? n1 - n : 4);
        const char *b[4];
        for (int j = 0; j < 4; j++) b[j] = (const char *)B + (size_t)(n + (j < nr ? j : nr - 1)) * ldb;
        for (int64_t m = 0; m < M; m += 2) {
            const int ra = (int)(M - m < 2 ? M - m : 2);
            const float *a[2] = {A + m * lda, A + (m + ra - 1) * lda};
            float out[2][4];
            if (bt == SENTI_TYPE_F32) {
                if (ra == 1) gemv_tile(1, SENTI_TYPE_F32, K, a, b, out);
                else gemv_tile(2, SENTI_TYPE_F32, K, a, b, out);
            } else if (bt == SENTI_TYPE_F16) {
                if (ra == 1) gemv_tile(1, SENTI_TYPE_F16, K, a, b, out);
                else gemv_tile(2, SENTI_TYPE_F16, K, a, b, out);
            } else {
                if (ra == 1) gemv_tile(1, SENTI_TYPE_BF16, K, a, b, out);
                else gemv_tile(2, SENTI_TYPE_BF16, K, a, b, out);
            }
            for (int i = 0; i < ra; i++)
                for (int j = 0; j < nr; j++) C[(m + i) * ldc + n + j] = out[i][j];
        }
    }
}

/* ---- few rows, q8_0 / q4_0 weights with vpmaddubsw --------------------------
 * q8_0 (as ggml): maddubs(|a|, sign(w, a)) — |a|, |w| <= 127 so the int16 pair
 * sums (<= 2·127·127) never saturate. q4_0: maddubs(nibble q in [0,15], a),
 * then subtract 8·sum(a) for the (q - 8) offset. */
static inline __attribute__((always_inline)) __m256i dot_q(senti_type bt, const char *blk, __m256i x) {
    __m256i p;
    if (bt == SENTI_TYPE_Q8_0) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
        p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(w, x));
    } else {
        const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
        const __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
        p = _mm256_maddubs_epi16(w, x);
    }
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

void cpu_gemv_q_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_block_q8_0 *Aq, const int32_t *Asum,
                     senti_type bt, const void *B, size_t ldb, float *C, int64_t ldc) {
    const int64_t nb = K / SENTI_QK;
    const size_t bs = bt == SENTI_TYPE_Q8_0 ? sizeof(senti_block_q8_0) : sizeof(senti_block_q4_0);
    for (int64_t n = n0; n < n1; n += 2) {
        const int nr = (int)(n1 - n < 2 ? n1 - n : 2);
        const char *b[2] = {(const char *)B + (size_t)n * ldb, (const char *)B + (size_t)(n + nr - 1) * ldb};
        for (int64_t m = 0; m < M; m++) {
            const senti_block_q8_0 *a = Aq + m * nb;
            const int32_t *as = Asum + m * nb;
            __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
            for (int64_t ib = 0; ib < nb; ib++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)a[ib].qs);
                const float da = _cvtsh_ss(a[ib].d);
                for (int j = 0; j < 2; j++) {
                    const char *blk = b[j] + ib * bs;
                    uint16_t h;
                    memcpy(&h, blk, 2);
                    __m256i d;
                    if (bt == SENTI_TYPE_Q8_0) {
                        d = dot_q(SENTI_TYPE_Q8_0, blk, x);
                    } else {
                        d = dot_q(SENTI_TYPE_Q4_0, blk, x);
                        d = _mm256_add_epi32(d, _mm256_zextsi128_si256(_mm_cvtsi32_si128(-8 * as[ib])));
                    }
                    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(da * _cvtsh_ss(h)), acc[j]);
                }
            }
            for (int j = 0; j < nr; j++) C[m * ldc + n + j] = hsum8(acc[j]);
        }
    }
}
