/* matmul_avx2.c — AVX2 + FMA matmul kernels: the f32 GEMM tile kernels
 * (mm_body.inc, 6 x 16 at full height) and the q8_0 / q4_0 dot-product
 * kernels (vpmaddubsw). Compiled with -mavx2 -mfma -mf16c; called
 * only when CPUID says so (also the fallback on AVX-512 parts without VNNI).
 *
 * Loads stay inside the given rows: K tails go through small zero-padded
 * stack copies, M / N tails clamp row pointers and store only valid lanes. */
#include <immintrin.h>

#include "matmul_kern.h"

#define MM_VW 8
#define MM_SFX avx2
#include "mm_body.inc"

static inline float hsum8(__m256 v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 s2 = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
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
