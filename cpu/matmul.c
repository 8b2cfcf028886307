/* matmul.c — the CPU matmul: the graph kernel cpu_matmul (batch dims, the
 * divide-broadcast rule, transposes, strided views) and cpu_gemm, which picks
 * a path at run time:
 *   - BLAS mode: cblas_sgemm (non-f32 weights converted to f32 rows first);
 *   - native, trans_b, M <= 16 (decode): the dot-product ("few rows") path,
 *     which streams each weight row once (f32 / f16 / bf16 / q8_0 / q4_0)
 *     against all M rows of A held in cache, N split over threads; the same
 *     path serves moderate M with long rows (see use_small);
 *   - native otherwise: a cache-blocked GEMM (B packed per kc x nc block into
 *     NR-wide panels, converted to f32 on the way; A packed per MR-row micro-
 *     panel) around a per-ISA micro-kernel.
 * Accuracy: f32 / f16 weights accumulate in f32 (f16 widened exactly); bf16
 * with AVX512_BF16 rounds A to bf16 (bound in matmul_avx512.c), otherwise
 * exact widening; q8_0 / q4_0 quantize A rows to q8_0 as ggml does (one f16
 * scale per 32 values, |error| <= d/2 per element) on the dot-product path,
 * and use exact f32 weights with f32 A on the blocked path.
 * ISA: ctx->simd (AVX-512 / AVX2 / scalar), plus ctx->feat for AVX512_BF16
 * and AVX512_VNNI. Scratch: one cpu_scratch call per cpu_gemm / cpu_matmul,
 * carved into per-thread buffers before the parallel region. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "matmul_kern.h"

/* Blocking (tuned on Zen 4: 32 KiB L1d, 1 MiB L2, 32 MiB L3): the A micro-
 * panel (MR x KC f32, 21 KiB) stays in L1 while the packed B block (KC x NC)
 * streams from L2/L3 — 128 bytes per 28 FMAs, far below L3 bandwidth — so NC
 * is large and each A panel is packed once per KC block, not once per NC. */
#ifndef MM_KC
#define MM_KC 384      /* k block: multiple of 32 (quant blocks) */
#endif
#ifndef MM_NC
#define MM_NC 4096     /* n block */
#endif
#ifndef MM_SMALL_M
#define MM_SMALL_M 16  /* few-rows path up to this many rows, any K */
#endif
#ifndef MM_DOT_M
#define MM_DOT_M 256   /* ... and up to this many when K >= MM_DOT_K: with no */
#endif                 /* B packing it beats the blocked GEMM there */
#define MM_DOT_K 192
#define MM_DOT_L2 (256u << 10) /* rows of A per pass: about this many bytes */
#define MM_ALIGN 64

static size_t align_up(size_t x) { return (x + MM_ALIGN - 1) & ~(size_t)(MM_ALIGN - 1); }

typedef struct gemm_isa {
    int mr, nr;
    cpu_ukr_fn ukr;
} gemm_isa;

/* ---- scalar fallbacks ------------------------------------------------------ */

static void ukr_f32_scalar(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc, int mr,
                           int nr) {
    enum { R = CPU_MR_SCALAR, S = CPU_NR_SCALAR };
    float c[R][S] = {{0}};
    for (int64_t k = 0; k < kc; k++) {
        for (int i = 0; i < R; i++)
            for (int j = 0; j < S; j++) c[i][j] += Ap[i] * Bp[j];
        Ap += R;
        Bp += S;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) C[i * ldc + j] = acc ? C[i * ldc + j] + c[i][j] : c[i][j];
}

/* Few rows, float weights: each weight row widened into tmp (K floats). */
static void gemv_scalar(int64_t M, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda, senti_type bt,
                        const void *B, size_t ldb, float *C, int64_t ldc, float *tmp) {
    for (int64_t n = n0; n < n1; n++) {
        const void *row = (const char *)B + (size_t)n * ldb;
        const float *w = (const float *)row;
        if (bt != SENTI_TYPE_F32) {
            senti_row_to_f32(bt, row, tmp, K);
            w = tmp;
        }
        for (int64_t m = 0; m < M; m++) {
            const float *a = A + m * lda;
            float s[4] = {0, 0, 0, 0};
            int64_t k = 0;
            for (; k + 4 <= K; k += 4)
                for (int u = 0; u < 4; u++) s[u] += a[k + u] * w[k + u];
            for (; k < K; k++) s[0] += a[k] * w[k];
            C[m * ldc + n] = (s[0] + s[1]) + (s[2] + s[3]);
        }
    }
}

/* Few rows, quantized weights against q8_0 activations: per block the exact
 * integer dot, scaled by d_a · d_w. */
static void gemv_q_scalar(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_block_q8_0 *Aq, senti_type bt,
                          const void *B, size_t ldb, float *C, int64_t ldc) {
    const int64_t nb = K / SENTI_QK;
    for (int64_t n = n0; n < n1; n++) {
        const char *row = (const char *)B + (size_t)n * ldb;
        for (int64_t m = 0; m < M; m++) {
            const senti_block_q8_0 *a = Aq + m * nb;
            float s = 0;
            for (int64_t ib = 0; ib < nb; ib++) {
                int32_t d = 0;
                float dw;
                if (bt == SENTI_TYPE_Q8_0) {
                    const senti_block_q8_0 *w = (const senti_block_q8_0 *)row + ib;
                    for (int i = 0; i < SENTI_QK; i++) d += (int32_t)a[ib].qs[i] * w->qs[i];
                    dw = senti_f16_to_f32(w->d);
                } else {
                    const senti_block_q4_0 *w = (const senti_block_q4_0 *)row + ib;
                    for (int i = 0; i < SENTI_QK / 2; i++) {
                        d += (int32_t)a[ib].qs[i] * ((w->qs[i] & 0x0f) - 8);
                        d += (int32_t)a[ib].qs[i + SENTI_QK / 2] * ((w->qs[i] >> 4) - 8);
                    }
                    dw = senti_f16_to_f32(w->d);
                }
                s += (float)d * senti_f16_to_f32(a[ib].d) * dw;
            }
            C[m * ldc + n] = s;
        }
    }
}

/* ---- packing ----------------------------------------------------------------
 * B block (rows k0..k0+kc, cols n0..n0+nc of op(B)) into ceil(nc/NR) panels:
 * panel p holds element (k, j) at Bp[p*kc*NR + k*NR + j], zero past nc.
 * tmp: kc floats for widening one non-f32 row segment. */
static void pack_b(int nr_, bool simd512, senti_type bt, const void *B, size_t ldb, bool trans_b, int64_t k0, int64_t kc,
                   int64_t n0, int64_t nc, float *Bp, float *tmp) {
    for (int64_t p = 0; p * nr_ < nc; p++) {
        float *dst = Bp + p * kc * nr_;
        const int64_t j0 = n0 + p * nr_;
        const int64_t nj = nc - p * nr_ < nr_ ? nc - p * nr_ : nr_;
        if (!trans_b) { /* f32 [K, N]: NR contiguous columns per k */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = (const float *)((const char *)B + (size_t)(k0 + k) * ldb) + j0;
                float *d = dst + k * nr_;
                int64_t j = 0;
                for (; j < nj; j++) d[j] = src[j];
                for (; j < nr_; j++) d[j] = 0.0f;
            }
            continue;
        }
        if (bt == SENTI_TYPE_F32 && simd512 && nr_ == 32) {
            cpu_pack_bt_f32_avx512(B, ldb, k0, kc, j0, nj, dst);
            continue;
        }
        for (int64_t j = 0; j < nj; j++) { /* rows of K: transpose into the panel */
            const char *row = (const char *)B + (size_t)(j0 + j) * ldb;
            const float *src;
            if (bt == SENTI_TYPE_F32) {
                src = (const float *)row + k0;
            } else {
                senti_row_to_f32(bt, row + senti_row_size(bt, k0), tmp, kc);
                src = tmp;
            }
            for (int64_t k = 0; k < kc; k++) dst[k * nr_ + j] = src[k];
        }
        for (int64_t j = nj; j < nr_; j++)
            for (int64_t k = 0; k < kc; k++) dst[k * nr_ + j] = 0.0f;
    }
}

/* A rows m0..m0+mr (mr <= MR), cols k0..k0+kc into Ap[k*MR + i], zero past mr. */
static void pack_a(int mr_, const float *A, int64_t lda, int64_t mr, int64_t k0, int64_t kc, float *Ap) {
    for (int64_t i = 0; i < mr; i++) {
        const float *src = A + i * lda + k0;
        for (int64_t k = 0; k < kc; k++) Ap[k * mr_ + i] = src[k];
    }
    for (int64_t i = mr; i < mr_; i++)
        for (int64_t k = 0; k < kc; k++) Ap[k * mr_ + i] = 0.0f;
}

/* ---- the blocked GEMM --------------------------------------------------------- */

static gemm_isa pick_isa(const cpu_ctx *ctx) {
    if (ctx->simd >= CPU_SIMD_AVX512) return (gemm_isa){CPU_MR_AVX512, CPU_NR_AVX512, cpu_ukr_f32_avx512};
    if (ctx->simd >= CPU_SIMD_AVX2) return (gemm_isa){CPU_MR_AVX2, CPU_NR_AVX2, cpu_ukr_f32_avx2};
    return (gemm_isa){CPU_MR_SCALAR, CPU_NR_SCALAR, ukr_f32_scalar};
}

static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

/* Packed B block columns for N: min(NC, N) rounded up to NR. */
static size_t blocked_ncr(gemm_isa isa, int64_t N) {
    const int64_t nc = N < MM_NC ? N : MM_NC;
    return (size_t)((nc + isa.nr - 1) / isa.nr) * isa.nr;
}

static size_t blocked_ws_per_thread(gemm_isa isa, int64_t N) {
    const size_t ncr = blocked_ncr(isa, N);
    return align_up((size_t)MM_KC * ncr * 4) + align_up((size_t)isa.mr * MM_KC * 4) + align_up((size_t)MM_KC * 4);
}

/* One thread's share: rows [m0, m1) x cols [n0, n1) of C. */
static void blocked_thread(gemm_isa isa, int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const float *A,
                           int64_t lda, senti_type bt, const void *B, size_t ldb, bool trans_b, float *C, int64_t ldc,
                           char *ws) {
    const size_t ncr = blocked_ncr(isa, n1 - n0);
    float *Bp = (float *)ws;
    float *Ap = (float *)(ws + align_up((size_t)MM_KC * ncr * 4));
    float *tmp = (float *)((char *)Ap + align_up((size_t)isa.mr * MM_KC * 4));
    for (int64_t jc = n0; jc < n1; jc += MM_NC) {
        const int64_t nc = n1 - jc < MM_NC ? n1 - jc : MM_NC;
        for (int64_t pc = 0; pc < K; pc += MM_KC) {
            const int64_t kc = K - pc < MM_KC ? K - pc : MM_KC;
            pack_b(isa.nr, isa.ukr == cpu_ukr_f32_avx512, bt, B, ldb, trans_b, pc, kc, jc, nc, Bp, tmp);
            for (int64_t ir = m0; ir < m1; ir += isa.mr) {
                const int64_t mr = m1 - ir < isa.mr ? m1 - ir : isa.mr;
                pack_a(isa.mr, A + ir * lda, lda, mr, pc, kc, Ap);
                for (int64_t jr = 0; jr < nc; jr += isa.nr) {
                    const int64_t nr = nc - jr < isa.nr ? nc - jr : isa.nr;
                    isa.ukr(kc, Ap, Bp + (jr / isa.nr) * kc * isa.nr, C + ir * ldc + jc + jr, ldc, pc > 0, (int)mr,
                            (int)nr);
                }
            }
        }
    }
}

/* Threads split M (in MR multiples) when there are enough rows, else N (in NR
 * multiples); every thread packs its own B and A panels, so no barriers. */
static void gemm_blocked(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                         senti_type bt, const void *B, size_t ldb, bool trans_b, float *C, int64_t ldc, char *ws) {
    const gemm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const size_t per = blocked_ws_per_thread(isa, N);
    const int64_t mblocks = (M + isa.mr - 1) / isa.mr, nblocks = (N + isa.nr - 1) / isa.nr;
    const bool split_m = mblocks >= 4 * (int64_t)nth || mblocks >= nblocks;
#pragma omp parallel num_threads(nth)
    {
        const int ith = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t m0 = 0, m1 = M, n0 = 0, n1 = N;
        if (split_m) {
            m0 = mblocks * ith / nt * isa.mr;
            m1 = mblocks * (ith + 1) / nt * isa.mr;
            if (m1 > M) m1 = M;
        } else {
            n0 = nblocks * ith / nt * isa.nr;
            n1 = nblocks * (ith + 1) / nt * isa.nr;
            if (n1 > N) n1 = N;
        }
        if (m0 < m1 && n0 < n1 && ith < nth)
            blocked_thread(isa, m0, m1, n0, n1, K, A, lda, bt, B, ldb, trans_b, C, ldc, ws + (size_t)ith * per);
    }
}

/* ---- the few-rows path -------------------------------------------------------- */

/* The dot-product path: rows of weights read once per pass over up to
 * MM_DOT_L2 bytes of A, each C element one dot product of two K-contiguous
 * rows, no packing. Taken for few rows, and for longer rows (K >= MM_DOT_K)
 * when M is moderate or the whole weight stays in L3 across the passes
 * (4096 x 768 x 768 f32 ran at 92% of FMA peak this way, 1 thread). */
#ifndef MM_DOT_L3
#define MM_DOT_L3 (4u << 20)
#endif
/* SMALL_DEQUANT: K-quant weights (q4_K, q6_K), each row dequantized once into a
 * per-thread f32 buffer and dotted with the activations by the f32 kernel. */
typedef enum { SMALL_FLOAT, SMALL_BF16DOT, SMALL_QUANT, SMALL_DEQUANT } small_kind;

static small_kind small_kind_of(const cpu_ctx *ctx, senti_type bt) {
    if (bt == SENTI_TYPE_Q8_0 || bt == SENTI_TYPE_Q4_0) return SMALL_QUANT;
    if (senti_type_is_kquant(bt)) return SMALL_DEQUANT;
    if (bt == SENTI_TYPE_BF16 && ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_bf16) return SMALL_BF16DOT;
    return SMALL_FLOAT;
}

/* The dot-product path: always for few rows; for long rows when the weight
 * stays in cache, or at any size when it computes in bf16 (vdpbf16ps: twice
 * the f32 FMA rate; measured 1.6-1.8x the blocked GEMM at the BERT shapes).
 * The int8 dot path is not preferred for large M: its per-block scaling made
 * q4_0 slower than dequantizing into the blocked GEMM there. */
static bool use_small(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool trans_b) {
    if (!trans_b) return false;
    if (M <= MM_SMALL_M) return true;
    if (K < MM_DOT_K) return false;
    const small_kind kind = small_kind_of(ctx, bt);
    if (kind == SMALL_BF16DOT) return true;
    /* K-quants re-dequantize every weight row once per pass over A: only for few rows
     * (4096 x 768 x 768 q4_K ran 3x slower this way than dequantize-once + sgemm) */
    if (kind == SMALL_DEQUANT) return false;
    return M <= MM_DOT_M || senti_row_size(bt, K) * (size_t)N <= MM_DOT_L3;
}

static bool use_vnni(const cpu_ctx *ctx) { return ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_vnni; }

static size_t small_ws_size(const cpu_ctx *ctx, int64_t M, int64_t K, senti_type bt) {
    switch (small_kind_of(ctx, bt)) {
    case SMALL_BF16DOT: return align_up((size_t)M * (size_t)K * 2);
    case SMALL_QUANT:
        return align_up((size_t)M * (size_t)(K / SENTI_QK) * sizeof(senti_block_q8_0)) +
               align_up((size_t)M * (size_t)(K / SENTI_QK) * 4) +
               (use_vnni(ctx) ? align_up(cpu_q_prep_size_avx512vnni(M, K)) : 0);
    case SMALL_DEQUANT: return (size_t)n_threads(ctx) * align_up((size_t)K * 4);
    default: return ctx->simd == CPU_SIMD_SCALAR ? (size_t)n_threads(ctx) * align_up((size_t)K * 4) : 0;
    }
}

/* Rows [m0, m0 + Mb) of A (and of its bf16 / q8_0 forms) against weight rows
 * [n0, n1), on the kernel for ctx's ISA. */
static void gemv_part(const cpu_ctx *ctx, small_kind kind, int64_t m0, int64_t Mb, int64_t n0, int64_t n1, int64_t K,
                      const float *A, int64_t lda, const senti_bf16 *Ab, const void *Apack,
                      const senti_block_q8_0 *Aq, const int32_t *Asum, senti_type bt, const void *B, size_t ldb,
                      float *C, int64_t ldc, float *tmp) {
    const int64_t nb = K / SENTI_QK;
    C += m0 * ldc;
    if (kind == SMALL_BF16DOT) {
        cpu_gemv_bf16_avx512bf16(Mb, n0, n1, K, Ab + m0 * K, B, ldb, C, ldc);
    } else if (kind == SMALL_QUANT) {
        if (use_vnni(ctx))
            cpu_gemv_q_avx512vnni(Mb, n0, n1, K, (const char *)Apack + cpu_q_prep_size_avx512vnni(m0, K),
                                  Aq + m0 * nb, Asum + m0 * nb, bt, B, ldb, C, ldc);
        else if (ctx->simd >= CPU_SIMD_AVX2)
            cpu_gemv_q_avx2(Mb, n0, n1, K, Aq + m0 * nb, Asum + m0 * nb, bt, B, ldb, C, ldc);
        else
            gemv_q_scalar(Mb, n0, n1, K, Aq + m0 * nb, bt, B, ldb, C, ldc);
    } else if (kind == SMALL_DEQUANT) {
        for (int64_t n = n0; n < n1; n++) { /* one weight row at a time, as f32 */
            senti_row_to_f32(bt, (const char *)B + (size_t)n * ldb, tmp, K);
            if (ctx->simd >= CPU_SIMD_AVX512)
                cpu_gemv_avx512(Mb, 0, 1, K, A + m0 * lda, lda, SENTI_TYPE_F32, tmp, (size_t)K * 4, C + n, ldc);
            else if (ctx->simd >= CPU_SIMD_AVX2)
                cpu_gemv_avx2(Mb, 0, 1, K, A + m0 * lda, lda, SENTI_TYPE_F32, tmp, (size_t)K * 4, C + n, ldc);
            else
                gemv_scalar(Mb, 0, 1, K, A + m0 * lda, lda, SENTI_TYPE_F32, tmp, (size_t)K * 4, C + n, ldc, NULL);
        }
    } else if (ctx->simd >= CPU_SIMD_AVX512) {
        cpu_gemv_avx512(Mb, n0, n1, K, A + m0 * lda, lda, bt, B, ldb, C, ldc);
    } else if (ctx->simd >= CPU_SIMD_AVX2) {
        cpu_gemv_avx2(Mb, n0, n1, K, A + m0 * lda, lda, bt, B, ldb, C, ldc);
    } else {
        gemv_scalar(Mb, n0, n1, K, A + m0 * lda, lda, bt, B, ldb, C, ldc, tmp);
    }
}

static void gemm_small(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                       senti_type bt, const void *B, size_t ldb, float *C, int64_t ldc, char *ws) {
    const small_kind kind = small_kind_of(ctx, bt);
    const int64_t nb = K / SENTI_QK;
    senti_bf16 *Ab = (senti_bf16 *)ws;
    senti_block_q8_0 *Aq = (senti_block_q8_0 *)ws;
    int32_t *Asum = (int32_t *)(ws + align_up((size_t)M * (size_t)nb * sizeof(senti_block_q8_0)));
    void *Apack = (char *)Asum + align_up((size_t)M * (size_t)nb * 4);
    const int nth = n_threads(ctx);
    const int64_t chunks = (N + 15) / 16; /* 16 rows: whole cache lines of C */
    int64_t mb = (int64_t)(MM_DOT_L2 / ((size_t)K * 4 + 1)) & ~(int64_t)3;
    if (mb < 4) mb = 4;
#pragma omp parallel num_threads(nth)
    {
        const int ith = omp_get_thread_num(), nt = omp_get_num_threads();
        if (kind == SMALL_BF16DOT || kind == SMALL_QUANT) { /* A to bf16 / q8_0, rows split over threads */
            const int64_t r0 = M * ith / nt, r1 = M * (ith + 1) / nt;
            if (kind == SMALL_BF16DOT) {
                for (int64_t m = r0; m < r1; m++)
                    for (int64_t k = 0; k < K; k++) Ab[m * K + k] = senti_f32_to_bf16(A[m * lda + k]);
            } else {
                for (int64_t m = r0; m < r1; m++) {
                    senti_quantize_row_q8_0(A + m * lda, Aq + m * nb, K);
                    for (int64_t ib = 0; ib < nb; ib++) {
                        int32_t sum = 0;
                        for (int i = 0; i < SENTI_QK; i++) sum += Aq[m * nb + ib].qs[i];
                        Asum[m * nb + ib] = sum;
                    }
                }
                if (use_vnni(ctx) && r1 > r0)
                    cpu_q_prep_avx512vnni(r1 - r0, K, Aq + r0 * nb, Asum + r0 * nb, bt,
                                          (char *)Apack + cpu_q_prep_size_avx512vnni(r0, K));
            }
#pragma omp barrier
        }
        int64_t n0 = chunks * ith / nt * 16, n1 = chunks * (ith + 1) / nt * 16;
        if (n1 > N) n1 = N;
        for (int64_t m0 = 0; m0 < M && n0 < n1 && ith < nth; m0 += mb) {
            const int64_t Mb = M - m0 < mb ? M - m0 : mb;
            /* only the scalar float and the dequantizing kernels use ws, as per-thread row buffers */
            float *tmp = kind == SMALL_FLOAT || kind == SMALL_DEQUANT ? (float *)(ws + (size_t)ith * align_up((size_t)K * 4))
                                                                      : NULL;
            gemv_part(ctx, kind, m0, Mb, n0, n1, K, A, lda, Ab, Apack, Aq, Asum, bt, B, ldb, C, ldc, tmp);
        }
    }
}

/* ---- BLAS ---------------------------------------------------------------------- */

/* Rows of non-f32 weights converted per call, in chunks of about 4 MiB. */
static int64_t blas_chunk_rows(int64_t N, int64_t K) {
    int64_t r = K > 0 ? (int64_t)((4u << 20) / ((size_t)K * 4)) : N;
    if (r < 16) r = 16;
    return r < N ? r : N;
}

static void blas_threads(const cpu_ctx *ctx) {
    static int current = -1; /* OpenBLAS keeps one global setting */
    const int nth = n_threads(ctx);
    if (current != nth) {
        openblas_set_num_threads(nth);
        current = nth;
    }
}

static void gemm_blas(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      senti_type bt, const void *B, size_t ldb, bool trans_b, float *C, int64_t ldc, char *ws) {
    blas_threads(ctx);
    if (bt == SENTI_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
                    (blasint)K, 1.0f, A, (blasint)lda, (const float *)B, (blasint)(ldb / 4), 0.0f, C, (blasint)ldc);
        return;
    }
    /* trans_b: convert a chunk of weight rows to f32 [rows, K], sgemm, next.
     * (!trans_b non-f32 never gets here: cpu_gemm widens it first.) */
    float *Bf = (float *)ws;
    const int64_t chunk = blas_chunk_rows(N, K);
    const int nth = n_threads(ctx);
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t rows = N - n0 < chunk ? N - n0 : chunk;
#pragma omp parallel for num_threads(nth) schedule(static)
        for (int64_t r = 0; r < rows; r++)
            senti_row_to_f32(bt, (const char *)B + (size_t)(n0 + r) * ldb, Bf + r * K, K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)M, (blasint)rows, (blasint)K, 1.0f, A,
                    (blasint)lda, Bf, (blasint)K, 0.0f, C + n0, (blasint)ldc);
    }
}

/* ---- dispatch ------------------------------------------------------------------ */

/* BLAS when chosen; K-quant weights also beyond the few-rows path (their
 * 256-element blocks do not fit the blocked GEMM's k blocks): rows
 * dequantized in chunks, then sgemm. */
static bool via_blas(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool trans_b) {
    return ctx->matmul == CPU_MATMUL_BLAS || (senti_type_is_kquant(bt) && !use_small(ctx, M, N, K, bt, trans_b));
}

/* Bytes of workspace gemm_run needs for this problem. */
static size_t gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool trans_b) {
    size_t pre = 0;
    if (!trans_b && bt != SENTI_TYPE_F32) { /* f16 / bf16 [K, N]: widened to f32 first */
        pre = align_up((size_t)K * (size_t)N * 4);
        bt = SENTI_TYPE_F32;
    }
    if (via_blas(ctx, M, N, K, bt, trans_b))
        return pre + (bt == SENTI_TYPE_F32 ? 0 : align_up((size_t)blas_chunk_rows(N, K) * (size_t)K * 4));
    if (use_small(ctx, M, N, K, bt, trans_b)) return pre + small_ws_size(ctx, M, K, bt);
    return pre + (size_t)n_threads(ctx) * blocked_ws_per_thread(pick_isa(ctx), N);
}

static senti_status gemm_check(int64_t M, int64_t N, int64_t K, senti_type bt, bool trans_b) {
    if (M < 0 || N < 0 || K < 0) return senti_error(SENTI_ERR_INVALID_ARG, "matmul: negative size");
    if (bt == SENTI_TYPE_I32 || bt >= SENTI_TYPE_COUNT)
        return senti_error(SENTI_ERR_UNSUPPORTED, "matmul: weight type %d not supported", (int)bt);
    if (senti_type_is_quant(bt) && (!trans_b || K % senti_type_block(bt) != 0))
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul: %s weights need trans_b and K %% %lld == 0 (K=%lld)",
                           senti_type_name(bt), (long long)senti_type_block(bt), (long long)K);
    return SENTI_OK;
}

static void gemm_run(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, senti_type bt,
                     const void *B, size_t ldb, bool trans_b, float *C, int64_t ldc, char *ws) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * 4);
        return;
    }
    if (!trans_b && bt != SENTI_TYPE_F32) {
        float *Bf = (float *)ws;
        for (int64_t k = 0; k < K; k++) senti_row_to_f32(bt, (const char *)B + (size_t)k * ldb, Bf + k * N, N);
        B = Bf;
        ldb = (size_t)N * 4;
        bt = SENTI_TYPE_F32;
        ws += align_up((size_t)K * (size_t)N * 4);
    }
    if (via_blas(ctx, M, N, K, bt, trans_b))
        gemm_blas(ctx, M, N, K, A, lda, bt, B, ldb, trans_b, C, ldc, ws);
    else if (use_small(ctx, M, N, K, bt, trans_b))
        gemm_small(ctx, M, N, K, A, lda, bt, B, ldb, C, ldc, ws);
    else
        gemm_blocked(ctx, M, N, K, A, lda, bt, B, ldb, trans_b, C, ldc, ws);
}

senti_status cpu_gemm(cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, senti_type bt,
                      const void *B, size_t ldb_bytes, bool trans_b, float *C, int64_t ldc) {
    senti_status st = gemm_check(M, N, K, bt, trans_b);
    if (st != SENTI_OK) return st;
    if (M == 0 || N == 0) return SENTI_OK;
    const size_t wsz = gemm_ws_size(ctx, M, N, K, bt, trans_b);
    char *ws = wsz ? cpu_scratch(ctx, wsz) : NULL;
    if (wsz && !ws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul: %zu bytes of scratch", wsz);
    gemm_run(ctx, M, N, K, A, lda, bt, B, ldb_bytes, trans_b, C, ldc, ws);
    return SENTI_OK;
}

/* ---- the graph kernel ------------------------------------------------------------
 * a [a0, a1, M, K] (trans_a: [a0, a1, K, M]) f32, b [b0, b1, K, N] (trans_b:
 * [b0, b1, N, K]), dst [a0, a1, M, N] contiguous f32. Batch (i0, i1) uses b's
 * (i0 / (a0/b0), i1 / (a1/b1)). Operands whose rows are not contiguous f32
 * (or, for f16 / bf16, not contiguous) are copied densely into scratch. */

static float load_f(senti_type t, const char *p) {
    if (t == SENTI_TYPE_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t == SENTI_TYPE_F16 ? senti_f16_to_f32(h) : senti_bf16_to_f32(h);
}

/* One batch entry of the graph kernel: operands located (or densely copied
 * into ws), then one gemm. */
typedef struct {
    const senti_tensor *a, *b, *dst;
    int64_t M, N, K;
    bool trans_a, trans_b, a_direct, b_direct;
    senti_type bt_run;
    size_t a_bytes, b_bytes, g_bytes; /* ws layout: A copy, B copy, gemm workspace */
} mm_job;

typedef struct { int64_t j0, j1; } mm_cache; /* which b batch Bc holds */

static void mm_batch(const mm_job *jb, const cpu_ctx *ctx, int64_t bi, char *ws, mm_cache *cache) {
    const senti_tensor *a = jb->a, *b = jb->b, *dst = jb->dst;
    const int64_t M = jb->M, N = jb->N, K = jb->K;
    const senti_type bt = b->type;
    const int64_t i0 = bi / a->ne[1], i1 = bi % a->ne[1];
    float *Ac = (float *)ws, *Bc = (float *)(ws ? ws + jb->a_bytes : NULL);
    char *gws = ws ? ws + jb->a_bytes + jb->b_bytes : NULL;
    const char *ab = (const char *)a->data + i0 * a->nb[0] + i1 * a->nb[1];
    const float *A = (const float *)ab;
    /* a single row may carry any row stride; BLAS wants lda >= K */
    int64_t lda = jb->a_direct && M > 1 ? (int64_t)(a->nb[2] / 4) : K;
    if (!jb->a_direct) { /* element (m, k) at m*sm + k*sk */
        const size_t sm = jb->trans_a ? a->nb[3] : a->nb[2], sk = jb->trans_a ? a->nb[2] : a->nb[3];
        if (sk == 4)
            for (int64_t m = 0; m < M; m++) memcpy(&Ac[m * K], ab + m * sm, (size_t)K * 4);
        else
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) memcpy(&Ac[m * K + k], ab + m * sm + k * sk, 4);
        A = Ac;
    }
    const int64_t j0 = i0 / (a->ne[0] / b->ne[0]), j1 = i1 / (a->ne[1] / b->ne[1]);
    const char *bb = (const char *)b->data + j0 * b->nb[0] + j1 * b->nb[1];
    const void *B = bb;
    size_t ldb = b->nb[2];
    if (b->ne[2] == 1) ldb = senti_row_size(bt, b->ne[3]); /* one row: stride unused */
    if (!jb->b_direct) {
        const int64_t r = b->ne[2], c = b->ne[3];
        if (j0 != cache->j0 || j1 != cache->j1)
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < c; j++) Bc[i * c + j] = load_f(bt, bb + i * b->nb[2] + j * b->nb[3]);
        B = Bc;
        ldb = (size_t)c * 4;
        cache->j0 = j0;
        cache->j1 = j1;
    }
    float *C = (float *)((char *)dst->data + i0 * dst->nb[0] + i1 * dst->nb[1]);
    gemm_run(ctx, M, N, K, A, lda, jb->bt_run, B, ldb, jb->trans_b, C, (int64_t)(dst->nb[2] / 4), gws);
}

CPU_KERNEL(matmul) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const bool trans_a = dst->params[0] != 0, trans_b = dst->params[1] != 0;
    if (!a || !b || a->type != SENTI_TYPE_F32 || dst->type != SENTI_TYPE_F32)
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: a and dst must be f32", dst->name);
    const int64_t M = trans_a ? a->ne[3] : a->ne[2], K = trans_a ? a->ne[2] : a->ne[3];
    const int64_t N = trans_b ? b->ne[2] : b->ne[3], Kb = trans_b ? b->ne[3] : b->ne[2];
    if (Kb != K || b->ne[0] <= 0 || b->ne[1] <= 0 || a->ne[0] % b->ne[0] || a->ne[1] % b->ne[1] ||
        dst->ne[0] != a->ne[0] || dst->ne[1] != a->ne[1] || dst->ne[2] != M || dst->ne[3] != N)
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: shapes do not match", dst->name);
    const senti_type bt = b->type;
    senti_status st = gemm_check(M, N, K, bt, trans_b);
    if (st != SENTI_OK) return st;
    if (dst->nb[3] != 4) return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: dst not contiguous", dst->name);
    if (M == 0 || N == 0 || a->ne[0] == 0 || a->ne[1] == 0) return SENTI_OK;

    /* A is used in place when its rows are contiguous; B when its innermost
     * dim is (quantized b always is). Otherwise dense copies in scratch. */
    const bool a_direct = !trans_a && a->nb[3] == 4 && a->nb[2] % 4 == 0 && (M == 1 || a->nb[2] >= (size_t)K * 4);
    const bool b_quant = senti_type_is_quant(bt);
    const size_t esz = b_quant ? 0 : senti_type_size(bt);
    const bool b_direct = b_quant || (b->nb[3] == esz && (bt != SENTI_TYPE_F32 || b->nb[2] % 4 == 0) &&
                                      (b->ne[2] == 1 || b->nb[2] >= (size_t)b->ne[3] * esz));
    const senti_type bt_run = b_direct ? bt : SENTI_TYPE_F32; /* copies are widened to f32 */
    const int64_t n_batch = a->ne[0] * a->ne[1];
    /* One weight for every batch entry (a Linear layer over [B, T, K]) and
     * rows of a evenly spaced across the batch: one GEMM of B*T rows. */
    const bool rows_even = (a->ne[1] == 1 || a->nb[1] == (size_t)M * a->nb[2]) &&
                           (a->ne[0] == 1 || a->nb[0] == (size_t)a->ne[1] * (size_t)M * a->nb[2]);
    if (n_batch > 1 && b->ne[0] == 1 && b->ne[1] == 1 && a_direct && b_direct && M > 1 && rows_even) {
        const size_t wsz = gemm_ws_size(ctx, M * n_batch, N, K, bt_run, trans_b);
        char *gws = wsz ? cpu_scratch(ctx, wsz) : NULL;
        if (wsz && !gws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul %s: %zu bytes of scratch", dst->name, wsz);
        size_t ldb = b->ne[2] == 1 ? senti_row_size(bt, b->ne[3]) : b->nb[2];
        gemm_run(ctx, M * n_batch, N, K, (const float *)a->data, (int64_t)(a->nb[2] / 4), bt_run, b->data, ldb, trans_b,
                 (float *)dst->data, N, gws);
        return SENTI_OK;
    }
    /* Many small products (attention heads): one thread per product beats
     * splitting each product, which would open a parallel region per head. */
    const int nth = n_threads(ctx);
    const bool per_batch = ctx->matmul == CPU_MATMUL_NATIVE && nth > 1 && n_batch >= nth &&
                           (double)M * (double)N * (double)K <= 8.0 * 1024 * 1024;
    cpu_ctx one = *ctx;
    one.n_threads = 1;
    const cpu_ctx *gctx = per_batch ? &one : ctx;
    mm_job job = {a, b, dst, M, N, K, trans_a, trans_b, a_direct, b_direct, bt_run, 0, 0, 0};
    job.a_bytes = a_direct ? 0 : align_up((size_t)M * (size_t)K * 4);
    job.b_bytes = b_direct ? 0 : align_up((size_t)b->ne[2] * (size_t)b->ne[3] * 4);
    job.g_bytes = gemm_ws_size(gctx, M, N, K, bt_run, trans_b);
    const size_t per = job.a_bytes + job.b_bytes + job.g_bytes, total = per * (size_t)(per_batch ? nth : 1);
    char *ws = total ? cpu_scratch(ctx, total) : NULL;
    if (total && !ws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul %s: %zu bytes of scratch", dst->name, total);
    if (!per_batch) {
        mm_cache cache = {-1, -1};
        for (int64_t i = 0; i < n_batch; i++) mm_batch(&job, gctx, i, ws, &cache);
        return SENTI_OK;
    }
#pragma omp parallel num_threads(nth)
    {
        const int ith = omp_get_thread_num();
        mm_cache cache = {-1, -1};
        char *tws = ws ? ws + per * (size_t)ith : NULL;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n_batch; i++) mm_batch(&job, gctx, i, tws, &cache);
    }
    return SENTI_OK;
}
