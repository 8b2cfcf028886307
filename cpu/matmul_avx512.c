/* matmul_avx512.c — AVX-512 matmul kernels: the f32 GEMM tile kernels
 * (mm_body.inc, 14 x 32 at full height), the dot-product kernels for bf16
 * (vdpbf16ps) and q8_0 / q4_0 (vpdpbusd) weights, and the f32 panel packer. Compiled with
 * -mavx512{f,bw,vl,dq,bf16,vnni}; called only when CPUID says so.
 *
 * Every load of A, B and C stays inside the rows it was given: K tails use
 * masked loads, M / N tails are handled by clamping row pointers (extra
 * lanes compute duplicates that are never stored). */
#include <immintrin.h>

#include "matmul_kern.h"

#define MM_VW 16
#define MM_SFX avx512
#include "mm_body.inc"

/* ---- dot-product helpers ---------------------------------------------------- */

/* o[j] = horizontal sum of v[j], j < 4: 13 shuffles/adds for all four. */
static inline __attribute__((always_inline)) void reduce4(const __m512 *v, float *o) {
    const __m512 s01 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44), _mm512_shuffle_f32x4(v[0], v[1], 0xee));
    const __m512 s23 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44), _mm512_shuffle_f32x4(v[2], v[3], 0xee));
    /* 128-bit lane q of s: 4 partial sums of v[q] */
    const __m512 s = _mm512_add_ps(_mm512_shuffle_f32x4(s01, s23, 0x88), _mm512_shuffle_f32x4(s01, s23, 0xdd));
    const __m512 h = _mm512_add_ps(s, _mm512_permute_ps(s, 0x4e));
    const __m512 h2 = _mm512_add_ps(h, _mm512_permute_ps(h, 0xb1));
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    _mm_storeu_ps(o, _mm512_castps512_ps128(_mm512_permutexvar_ps(idx, h2)));
}

static inline __mmask16 tail_mask16(int64_t n) { return (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1); }

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
    for (int i = 0; i < RA; i++) reduce4(acc[i], out[i]);
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
 * unsigned: q8_0 as w + 128 (w ^ 0x80; exact for every int8 w), q4_0 as its
 * raw nibble q in [0, 15] (value q - 8). The offset comes back out through
 * the per-block sum of the activations: sum (w + o) a = sum w a + o · sum a,
 * so each block's integer dot starts from -o · Asum. Two blocks per zmm; each
 * int32 lane is scaled by d_a · d_w of its block into f32 accumulators.
 *
 * The activations are re-laid once per call (cpu_q_prep_avx512vnni) into
 * pairs of blocks in the lane order the weights unpack to:
 *   q8_0: x = [a0[0..31] | a1[0..31]]             (int32 lanes 0-7: block 0)
 *   q4_0: x = [a0[0..15] | a1[0..15] | a0[16..31] | a1[16..31]]
 *         (lanes 0-3 and 8-11: block 0; 4-7 and 12-15: block 1)
 * plus the matching -o·Asum start vector and d_a vector: 192 bytes a pair. */
typedef struct {
    int8_t x[64];
    int32_t init[16];
    float da[16];
} q_pair;

size_t cpu_q_prep_size_avx512vnni(int64_t M, int64_t K) { return (size_t)M * (size_t)(K / 64) * sizeof(q_pair); }

void cpu_q_prep_avx512vnni(int64_t M, int64_t K, const senti_block_q8_0 *Aq, const int32_t *Asum, senti_type bt,
                           void *pack) {
    const int64_t nb = K / SENTI_QK, np = nb / 2;
    q_pair *out = (q_pair *)pack;
    const bool q8 = bt == SENTI_TYPE_Q8_0;
    const int32_t off = q8 ? -128 : -8;
    for (int64_t m = 0; m < M; m++)
        for (int64_t p = 0; p < np; p++) {
            const senti_block_q8_0 *b0 = Aq + m * nb + 2 * p, *b1 = b0 + 1;
            const int32_t s0 = Asum[m * nb + 2 * p], s1 = Asum[m * nb + 2 * p + 1];
            const float d0 = _cvtsh_ss(b0->d), d1 = _cvtsh_ss(b1->d);
            q_pair *o = out + m * np + p;
            memset(o->init, 0, sizeof o->init);
            if (q8) {
                memcpy(o->x, b0->qs, 32);
                memcpy(o->x + 32, b1->qs, 32);
                o->init[0] = off * s0;
                o->init[8] = off * s1;
                for (int l = 0; l < 16; l++) o->da[l] = l < 8 ? d0 : d1;
            } else {
                memcpy(o->x, b0->qs, 16);
                memcpy(o->x + 16, b1->qs, 16);
                memcpy(o->x + 32, b0->qs + 16, 16);
                memcpy(o->x + 48, b1->qs + 16, 16);
                o->init[0] = off * s0;
                o->init[4] = off * s1;
                for (int l = 0; l < 16; l++) o->da[l] = (l & 4) ? d1 : d0;
            }
        }
}

/* Weights of blocks ib, ib+1 in the lane order above, made unsigned. */
static inline __attribute__((always_inline)) __m512i load_wq2(senti_type bt, const char *blk, size_t bs) {
    if (bt == SENTI_TYPE_Q8_0) {
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)(blk + 2));
        const __m256i q1 = _mm256_loadu_si256((const __m256i *)(blk + bs + 2));
        return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(q0), q1, 1), _mm512_set1_epi8((char)0x80));
    }
    const __m128i q0 = _mm_loadu_si128((const __m128i *)(blk + 2));
    const __m128i q1 = _mm_loadu_si128((const __m128i *)(blk + bs + 2));
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(q0), q1, 1);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
}

/* d_w of blocks ib, ib+1 spread over the lanes of each block. */
static inline __attribute__((always_inline)) __m512 load_dw2(senti_type bt, const char *blk, size_t bs) {
    uint16_t h0, h1;
    memcpy(&h0, blk, 2);
    memcpy(&h1, blk + bs, 2);
    const __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)h0 | (uint32_t)h1 << 16)));
    const __m512i idx = bt == SENTI_TYPE_Q8_0 ? _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
                                              : _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(d));
}

static inline __attribute__((always_inline)) void gemv_q_tile(int RA, senti_type bt, int64_t nb,
                                                              const q_pair *const *ap,
                                                              const senti_block_q8_0 *const *a,
                                                              const int32_t *const *as, const char *const *b,
                                                              float out[4][4]) {
    const size_t bs = bt == SENTI_TYPE_Q8_0 ? sizeof(senti_block_q8_0) : sizeof(senti_block_q4_0);
    const int32_t off = bt == SENTI_TYPE_Q8_0 ? -128 : -8;
    __m512 acc[4][4];
    for (int i = 0; i < RA; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    const int64_t np = nb / 2;
    for (int64_t p = 0; p < np; p++) {
        __m512i w[4];
        __m512 dw[4];
        for (int j = 0; j < 4; j++) {
            const char *blk = b[j] + 2 * p * bs;
            _mm_prefetch(blk + 8 * bs, _MM_HINT_T0);
            _mm_prefetch(blk + 8 * bs + 64, _MM_HINT_T0);
            w[j] = load_wq2(bt, blk, bs);
            dw[j] = load_dw2(bt, blk, bs);
        }
        for (int i = 0; i < RA; i++) {
            const q_pair *q = ap[i] + p;
            const __m512i x = _mm512_loadu_si512(q->x);
            const __m512i init = _mm512_loadu_si512(q->init);
            const __m512 da = _mm512_loadu_ps(q->da);
            for (int j = 0; j < 4; j++) {
                const __m512i d = _mm512_dpbusd_epi32(init, w[j], x);
                acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), _mm512_mul_ps(da, dw[j]), acc[i][j]);
            }
        }
    }
    for (int i = 0; i < RA; i++) reduce4(acc[i], out[i]);
    if (nb & 1) { /* the odd last block, one ymm: natural order from Aq */
        const int64_t ib = nb - 1;
        for (int j = 0; j < 4; j++) {
            const char *blk = b[j] + ib * bs;
            __m256i wv;
            if (bt == SENTI_TYPE_Q8_0) {
                wv = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
            } else {
                const __m128i q = _mm_loadu_si128((const __m128i *)(blk + 2));
                wv = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
            }
            uint16_t h;
            memcpy(&h, blk, 2);
            const float dwj = _cvtsh_ss(h);
            for (int i = 0; i < RA; i++) {
                const __m256i x = _mm256_loadu_si256((const __m256i *)a[i][ib].qs);
                const __m256i init = _mm256_zextsi128_si256(_mm_cvtsi32_si128(off * as[i][ib]));
                const __m256i d = _mm256_dpbusd_epi32(init, wv, x);
                const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(d), _mm256_set1_ps(_cvtsh_ss(a[i][ib].d) * dwj));
                const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
                const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
                out[i][j] += _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
            }
        }
    }
}

void cpu_gemv_q_avx512vnni(int64_t M, int64_t n0, int64_t n1, int64_t K, const void *pack,
                           const senti_block_q8_0 *Aq, const int32_t *Asum, senti_type bt, const void *B, size_t ldb,
                           float *C, int64_t ldc) {
    const int64_t nb = K / SENTI_QK, np = nb / 2;
    const q_pair *P = (const q_pair *)pack;
    for (int64_t n = n0; n < n1; n += 4) {
        const int nr = (int)(n1 - n < 4 ? n1 - n : 4);
        const char *b[4];
        for (int j = 0; j < 4; j++) b[j] = (const char *)B + (size_t)(n + (j < nr ? j : nr - 1)) * ldb;
        for (int64_t m = 0; m < M; m += 4) {
            const int ra = (int)(M - m < 4 ? M - m : 4);
            const q_pair *ap[4];
            const senti_block_q8_0 *a[4];
            const int32_t *as[4];
            for (int i = 0; i < 4; i++) {
                const int64_t r = m + (i < ra ? i : ra - 1);
                ap[i] = P + r * np;
                a[i] = Aq + r * nb;
                as[i] = Asum + r * nb;
            }
            float out[4][4];
            if (bt == SENTI_TYPE_Q8_0) {
                switch (ra) {
                case 1: gemv_q_tile(1, SENTI_TYPE_Q8_0, nb, ap, a, as, b, out); break;
                case 2: gemv_q_tile(2, SENTI_TYPE_Q8_0, nb, ap, a, as, b, out); break;
                case 3: gemv_q_tile(3, SENTI_TYPE_Q8_0, nb, ap, a, as, b, out); break;
                default: gemv_q_tile(4, SENTI_TYPE_Q8_0, nb, ap, a, as, b, out); break;
                }
            } else {
                switch (ra) {
                case 1: gemv_q_tile(1, SENTI_TYPE_Q4_0, nb, ap, a, as, b, out); break;
                case 2: gemv_q_tile(2, SENTI_TYPE_Q4_0, nb, ap, a, as, b, out); break;
                case 3: gemv_q_tile(3, SENTI_TYPE_Q4_0, nb, ap, a, as, b, out); break;
                default: gemv_q_tile(4, SENTI_TYPE_Q4_0, nb, ap, a, as, b, out); break;
                }
            }
            for (int i = 0; i < ra; i++)
                for (int j = 0; j < nr; j++) C[(m + i) * ldc + n + j] = out[i][j];
        }
    }
}

/* ---- packing: a 32-wide panel of f32 weight rows, transposed ---------------
 * dst[k*32 + j] = row (j0 + j)[k0 + k] for j < nj, 0 for nj <= j < 32, all
 * k < kc: 16 x 16 blocks transposed in registers (unpack, shuffle, then a
 * 4 x 4 transpose of 128-bit lanes). K tails use masked loads. */
void cpu_pack_bt_f32_avx512(const void *B, size_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nj, float *dst) {
    for (int64_t kk = 0; kk < kc; kk += 16) {
        const __mmask16 m = tail_mask16(kc - kk);
        const int64_t ncol = kc - kk < 16 ? kc - kk : 16;
        for (int h = 0; h < 2; h++) {
            __m512 r[16], a[16], b[16];
            for (int i = 0; i < 16; i++) {
                const int64_t j = h * 16 + i;
                r[i] = j < nj ? _mm512_maskz_loadu_ps(m, (const float *)((const char *)B + (size_t)(j0 + j) * ldb) + k0 + kk)
                              : _mm512_setzero_ps();
            }
            for (int i = 0; i < 8; i++) {
                a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            for (int g = 0; g < 4; g++) {
                b[4 * g + 0] = _mm512_shuffle_ps(a[4 * g], a[4 * g + 2], 0x44);
                b[4 * g + 1] = _mm512_shuffle_ps(a[4 * g], a[4 * g + 2], 0xee);
                b[4 * g + 2] = _mm512_shuffle_ps(a[4 * g + 1], a[4 * g + 3], 0x44);
                b[4 * g + 3] = _mm512_shuffle_ps(a[4 * g + 1], a[4 * g + 3], 0xee);
            }
            for (int c = 0; c < 4; c++) { /* b[4g + c], lane L: column 4L + c of rows 4g..4g+3 */
                const __m512 p0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44);
                const __m512 p1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xee);
                const __m512 p2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44);
                const __m512 p3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xee);
                const __m512 o[4] = {_mm512_shuffle_f32x4(p0, p2, 0x88), _mm512_shuffle_f32x4(p0, p2, 0xdd),
                                     _mm512_shuffle_f32x4(p1, p3, 0x88), _mm512_shuffle_f32x4(p1, p3, 0xdd)};
                for (int L = 0; L < 4; L++) {
                    const int64_t col = 4 * L + c;
                    if (col < ncol) _mm512_store_ps(dst + (kk + col) * 32 + h * 16, o[L]);
                }
            }
        }
    }
}
