/* matmul_kern.h — private to cpu/matmul*.c: the per-ISA matmul kernels that
 * cpu/matmul.c dispatches to at run time (AVX-512 in matmul_avx512.c, AVX2 in
 * matmul_avx2.c, scalar in matmul.c).
 *
 * Two kernel families:
 *  - micro-kernels of the cache-blocked GEMM: C[mr, nr] (+)= Ap · Bp where Ap
 *    is a packed MR x kc panel (element (i, k) at Ap[k*MR + i]) and Bp a
 *    packed kc x NR panel (element (k, j) at Bp[k*NR + j]), both zero-padded
 *    to full MR / NR; only the mr x nr corner of C is read or written;
 *  - few-rows ("gemv") kernels: C[m, n] = A[m, :] · B[n, :] for all m < M and
 *    n in [n0, n1), B rows of K elements (trans_b, HF Linear layout), each
 *    weight byte read once per call; M <= 16.
 * None of them allocates; all are thread-safe on disjoint C ranges. */
#ifndef SENTI_CPU_MATMUL_KERN_H
#define SENTI_CPU_MATMUL_KERN_H

#include "cpu.h"

/* C[mr, nr] = (acc ? C : 0) + Ap · Bp over kc. */
typedef void (*cpu_ukr_fn)(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc,
                           int mr, int nr);

#define CPU_MR_AVX512 14
#define CPU_NR_AVX512 32
#define CPU_MR_AVX2 6
#define CPU_NR_AVX2 16
#define CPU_MR_SCALAR 4
#define CPU_NR_SCALAR 8

void cpu_ukr_f32_avx512(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc, int mr,
                        int nr);
void cpu_ukr_f32_avx2(int64_t kc, const float *Ap, const float *Bp, float *C, int64_t ldc, bool acc, int mr,
                      int nr);

/* Few rows, float weights: bt is f32, f16 or bf16 (bf16 widened exactly). */
void cpu_gemv_avx512(int64_t M, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda, senti_type bt,
                     const void *B, size_t ldb, float *C, int64_t ldc);
void cpu_gemv_avx2(int64_t M, int64_t n0, int64_t n1, int64_t K, const float *A, int64_t lda, senti_type bt,
                   const void *B, size_t ldb, float *C, int64_t ldc);
/* Few rows, bf16 weights with vdpbf16ps: Ab holds the M rows of A rounded to
 * bf16, row stride K. */
void cpu_gemv_bf16_avx512bf16(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_bf16 *Ab,
                              const void *B, size_t ldb, float *C, int64_t ldc);
/* Few rows, q8_0 / q4_0 weights: Aq holds the M rows of A quantized to q8_0
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

#endif /* SENTI_CPU_MATMUL_KERN_H */
