/* matmul_avx512.c — AVX-512 matmul kernels: the f32 GEMM tile kernels
 * (mm_body.inc, 14 x 32 at full height), the int8 GEMM tile kernels for
 * q8_0 / q4_0 weights (qm_body.inc, vpdpbusd), the bf16 dot-product kernels
 * (vdpbf16ps) and the f32 panel packer. Compiled with
 * -mavx512{f,bw,vl,dq,bf16,vnni}; called only when CPUID says so.
 *
 * Every load of A, B and C stays inside the rows it was given: K tails use
 * masked loads, M / N tails are handled by clamping row pointers (extra
 * lanes compute duplicates that are never stored). */
#include <immintrin.h>
#include <string.h>

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
                              size_t ldb, float *C, int64_t ldc, const float *bias, const float *res, int64_t ldr) {
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
            /* the 4 x nr block: (out + bias) + res, one masked store a row */
            const __mmask8 mk = (__mmask8)((1u << nr) - 1);
            const __m128 bv = bias ? _mm_maskz_loadu_ps(mk, bias + n) : _mm_setzero_ps();
            for (int i = 0; i < ra; i++) {
                __m128 v = _mm_loadu_ps(out[i]);
                if (bias) v = _mm_add_ps(v, bv);
                if (res) v = _mm_add_ps(v, _mm_maskz_loadu_ps(mk, res + (m + i) * ldr + n));
                _mm_mask_storeu_ps(C + (m + i) * ldc + n, mk, v);
            }
        }
    }
}

/* ---- many rows, bf16 weights packed in pairs with vdpbf16ps ----------------
 * acc[i][v] = vdpbf16ps(acc[i][v], the pair (a[i][2kp], a[i][2kp+1])
 * broadcast, panel v's 16 x 2 pair at kp): 16 columns x 2 k per instruction,
 * RM x NV accumulators in registers (8 x 3 = 24 of 32); per output, chains of
 * BF16P_KCH k pairs from 0, each added in k order to the running total, so
 * the order is fixed by K alone, whatever the tile, M or thread. The chains
 * keep the summation error near the dot path's (16 lanes, then a tree):
 * RMS 7.2e-9 against 6.1e-9 of sum |a b| at K = 1536, 2.7e-8 for one chain
 * over all of K; A's rounding to bf16 (2^-9 relative) dominates both and
 * carries the error bound of the dot path above. */
enum { BF16P_KCH = 64 }; /* k pairs per chain */
static inline __attribute__((always_inline)) void bf16p_tile(const int RM, int64_t kp2, const senti_bf16 *Ab,
                                                             int64_t lda, const senti_bf16 *const *pan, int np,
                                                             int64_t nc, float *C, int64_t ldc, const float *bias,
                                                             const float *res, int64_t ldr) {
    enum { NV = CPU_BF16P_NV };
    const uint16_t *w[NV];
    for (int v = 0; v < NV; v++) w[v] = (const uint16_t *)pan[v < np ? v : np - 1];
    __m512 acc[CPU_BF16P_MR][NV], tot[CPU_BF16P_MR][NV];
    for (int64_t k0 = 0; k0 < kp2 || k0 == 0; k0 += BF16P_KCH) {
        const int64_t k1 = kp2 - k0 < BF16P_KCH ? kp2 : k0 + BF16P_KCH;
        for (int i = 0; i < RM; i++)
            for (int v = 0; v < NV; v++) acc[i][v] = _mm512_setzero_ps();
        for (int64_t kp = k0; kp < k1; kp++) {
            __m512bh wv[NV];
            for (int v = 0; v < NV; v++) {
                _mm_prefetch((const char *)(w[v] + (kp + 8) * 32), _MM_HINT_T0);
                wv[v] = (__m512bh)_mm512_load_si512(w[v] + kp * 32);
            }
            for (int i = 0; i < RM; i++) {
                int32_t a2;
                memcpy(&a2, Ab + i * lda + 2 * kp, 4);
                const __m512bh a = (__m512bh)_mm512_set1_epi32(a2);
                for (int v = 0; v < NV; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a, wv[v]);
            }
        }
        for (int i = 0; i < RM; i++)
            for (int v = 0; v < NV; v++) tot[i][v] = k0 == 0 ? acc[i][v] : _mm512_add_ps(tot[i][v], acc[i][v]);
    }
    for (int v = 0; v < NV; v++) {
        const int64_t n = nc - 16 * (int64_t)v;
        if (n <= 0) break;
        const __mmask16 mk = tail_mask16(n);
        const __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + 16 * v) : _mm512_setzero_ps();
        for (int i = 0; i < RM; i++) {
            __m512 c = tot[i][v];
            if (bias) c = _mm512_add_ps(c, bv);
            if (res) c = _mm512_add_ps(c, _mm512_maskz_loadu_ps(mk, res + i * ldr + 16 * v));
            _mm512_mask_storeu_ps(C + i * ldc + 16 * v, mk, c);
        }
    }
}

void cpu_bf16p_kern_avx512bf16(int rm, int64_t kp2, const senti_bf16 *Ab, int64_t lda, const senti_bf16 *const *pan,
                               int np, int64_t nc, float *C, int64_t ldc, const float *bias, const float *res,
                               int64_t ldr) {
    switch (rm) {
    case 1: bf16p_tile(1, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 2: bf16p_tile(2, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 3: bf16p_tile(3, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 4: bf16p_tile(4, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 5: bf16p_tile(5, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 6: bf16p_tile(6, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    case 7: bf16p_tile(7, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    default: bf16p_tile(8, kp2, Ab, lda, pan, np, nc, C, ldc, bias, res, ldr); break;
    }
}

#define QM_VW 16
#define QM_SFX avx512vnni
#include "qm_body.inc"

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
