/* matmul_kern.h — private to cpu/matmul*.c and cpu/gemm.c: the per-ISA matmul
 * kernels that the drivers dispatch to at run time (AVX-512 in
 * matmul_avx512.c, AVX2 in matmul_avx2.c, both from mm_body.inc; scalar in
 * gemm.c and matmul.c).
 *
 * Two kernel families:
 *  - tile kernels of the f32-accumulating GEMM (gemm.c): C[rm, nc] (+)= Ap · B
 *    where Ap is a packed rm x kc block of A (element (i, k) at Ap[k*rm + i])
 *    and B is np panels of NR columns (NR = 2 vectors), panel q's row k at
 *    bp[q] + k*NR elements of the panel type (f32, or f16 / bf16 widened
 *    exactly on load). Reduction order: one multiply-add chain per output
 *    element over k in order, from 0; `acc` continues the chain from C. So
 *    results never depend on M, N, tile shape, blocking or threads.
 *  - dot-product ("gemv") kernels for bf16 weights with vdpbf16ps and for
 *    q8_0 / q4_0 weights: C[m, n] = A[m, :] · B[n, :] for all m < M and n in
 *    [n0, n1), B rows of K elements (trans_b, HF Linear layout); their order
 *    depends only on K, so they serve every M.
 * None of them allocates; all are thread-safe on disjoint C ranges. */
#ifndef SENTI_CPU_MATMUL_KERN_H
#define SENTI_CPU_MATMUL_KERN_H

#include "cpu.h"

#define CPU_MR_AVX512 14
#define CPU_NR_AVX512 32
#define CPU_MR_AVX2 6
#define CPU_NR_AVX2 16
#define CPU_MR_SCALAR 4
#define CPU_NR_SCALAR 8

/* Tile kernel for rm rows (1 <= rm <= MR): np <= cpu_mm_np_<isa>(rm) panels,
 * nc <= np*NR live columns. */
typedef void (*cpu_mm_kern_fn)(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                               int64_t ldc, bool acc, int np, int64_t nc);
void cpu_mm_kern_avx512(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                        int64_t ldc, bool acc, int np, int64_t nc);
void cpu_mm_kern_avx2(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                      int64_t ldc, bool acc, int np, int64_t nc);
/* Panels the rm-row kernel takes at once (its register budget). */
int cpu_mm_np_avx512(int rm);
int cpu_mm_np_avx2(int rm);

/* Few rows, bf16 weights with vdpbf16ps: Ab holds the M rows of A rounded to
 * bf16, row stride K. */
void cpu_gemv_bf16_avx512bf16(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_bf16 *Ab,
                              const void *B, size_t ldb, float *C, int64_t ldc);
/* q8_0 / q4_0 weights: Aq holds the M rows of A quantized to q8_0
 * (K/32 blocks per row) and Asum the sum of each block's 32 int8 values. */
void cpu_gemv_q_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_block_q8_0 *Aq,
                     const int32_t *Asum, senti_type bt, const void *B, size_t ldb, float *C, int64_t ldc);
/* The VNNI kernel also reads `pack`: A re-laid by cpu_q_prep_avx512vnni (for
 * weight type bt) into cpu_q_prep_size_avx512vnni(M, K) bytes. */
size_t cpu_q_prep_size_avx512vnni(int64_t M, int64_t K);
void cpu_q_prep_avx512vnni(int64_t M, int64_t K, const senti_block_q8_0 *Aq, const int32_t *Asum, senti_type bt,
                           void *pack);
void cpu_gemv_q_avx512vnni(int64_t M, int64_t n0, int64_t n1, int64_t K, const void *pack,
                           const senti_block_q8_0 *Aq, const int32_t *Asum, senti_type bt, const void *B, size_t ldb,
                           float *C, int64_t ldc);

/* Pack a 32-wide panel of f32 weight rows (trans_b) for the AVX-512 GEMM:
 * dst[k*32 + j] = B[j0 + j][k0 + k], zero for j >= nj; dst 64-byte aligned. */
void cpu_pack_bt_f32_avx512(const void *B, size_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nj, float *dst);

/* ---- the f32-family GEMM (gemm.c) -----------------------------------------
 * C[M,N] = A[M,K] · op(B) with B f32 / f16 / bf16 / K-quant (any type
 * senti_row_to_f32 reads; trans_b for the block types), or weights packed
 * once by cpu_gemm_prepack. ws: cpu_gemm_ws_size bytes, 64-byte aligned. */
typedef struct cpu_gemm_b {
    /* packed panels (pan != NULL): panel p at pan + p*pan_bytes, type pt */
    const char *pan;
    size_t pan_bytes;
    senti_type pt;
    /* else raw: */
    senti_type bt;
    const void *B;
    size_t ldb;
    bool trans_b;
} cpu_gemm_b;

size_t cpu_gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b);
void cpu_gemm_f(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
                float *C, int64_t ldc, char *ws);
/* Whether the f32-family GEMM takes weights of type bt (else the dot path). */
bool cpu_gemm_takes(const cpu_ctx *ctx, senti_type bt);
/* Packed panels for a weight [N, K] (trans_b rows, stride ldb) of type bt
 * (f32 / f16 / bf16), cached in ctx by (B, bt, N, K, ldb) for ctx's life:
 * only for data that never changes at that address (SENTI_TFLAG_CONST).
 * NULL on out-of-memory (the caller packs per call instead). */
const cpu_gemm_b *cpu_gemm_prepack(cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K);
void cpu_gemm_cache_free(cpu_ctx *ctx);

#endif /* SENTI_CPU_MATMUL_KERN_H */
