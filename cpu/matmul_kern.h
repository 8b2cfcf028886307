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
 *  - int8 tile kernels for q8_0 / q4_0 weights (qgemm.c states the layouts
 *    and the order: an exact integer dot per 32-block, scaled in block order);
 *  - dot-product ("gemv") kernels for bf16 weights with vdpbf16ps:
 *    C[m, n] = A[m, :] · B[n, :] for all m < M and n in [n0, n1), B rows of
 *    K elements (trans_b, HF Linear layout); their order depends only on K,
 *    so they serve every M.
 * None of them allocates; all are thread-safe on disjoint C ranges. */
#ifndef SENTI_CPU_MATMUL_KERN_H
#define SENTI_CPU_MATMUL_KERN_H

#include "cpu.h"

#define CPU_MR_AVX512 14       /* tiles up to 14 x 32; AMD (Zen 4) runs them at full height */
#define CPU_MR_AVX512_INTEL 6  /* elsewhere 6 x 64 (two panels): measured faster on Ice Lake (gemm.c) */
#define CPU_NR_AVX512 32
#define CPU_MR_AVX2 6
#define CPU_NR_AVX2 16
#define CPU_MR_SCALAR 4
#define CPU_NR_SCALAR 8

/* Tile kernel for rm rows (1 <= rm <= MR): np <= cpu_mm_np_<isa>(rm) panels,
 * nc <= np*NR live columns. bias (the tile's first column) and res (its row
 * 0, column 0; row stride ldr), each NULL or not: added to the finished sums
 * in registers before the store, C = (C + bias) + res, each add rounded as
 * the separate add op rounds it (the fused epilogue's bytes are the unfused
 * graph's); only the call that ends the k chain passes them. */
typedef void (*cpu_mm_kern_fn)(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                               int64_t ldc, bool acc, int np, int64_t nc, const float *bias, const float *res,
                               int64_t ldr);
void cpu_mm_kern_avx512(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                        int64_t ldc, bool acc, int np, int64_t nc, const float *bias, const float *res, int64_t ldr);
void cpu_mm_kern_avx2(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                      int64_t ldc, bool acc, int np, int64_t nc, const float *bias, const float *res, int64_t ldr);
/* Pack n <= VW rows of A (row stride lda) into k-major order: dst[k*w + j] =
 * src[j*lda + k], j < n, k < kc; writes nothing else. */
void cpu_mm_pack_a_avx512(const float *src, int64_t lda, int n, int64_t kc, float *dst, int64_t w);
void cpu_mm_pack_a_avx2(const float *src, int64_t lda, int n, int64_t kc, float *dst, int64_t w);
/* Panels the rm-row kernel takes at once (its register budget). */
int cpu_mm_np_avx512(int rm);
int cpu_mm_np_avx2(int rm);

/* Few rows, bf16 weights with vdpbf16ps: Ab holds the M rows of A rounded to
 * bf16, row stride K. Columns [n0, n1) of C = (A B^T + bias) + res, each add
 * rounded as the separate add op (bias indexed by column, res [M, N] with row
 * stride ldr; either NULL). */
void cpu_gemv_bf16_avx512bf16(int64_t M, int64_t n0, int64_t n1, int64_t K, const senti_bf16 *Ab,
                              const void *B, size_t ldb, float *C, int64_t ldc, const float *bias,
                              const float *res, int64_t ldr);
/* Tile of the bf16 pairs GEMM (vdpbf16ps, panels of cpu_gemm_b.pairs): rows
 * [0, rm) (rm <= CPU_BF16P_MR) of Ab (bf16, row stride lda, kp2 pairs) against
 * np <= CPU_BF16P_NV panels (pointers past np clamped), columns [0, nc) of C
 * = (dot + bias) + res, each add rounded as the separate add op. Every
 * output is vdpbf16ps chains over 64 k pairs each, from 0, summed in k order:
 * fixed by K alone. */
enum { CPU_BF16P_MR = 8, CPU_BF16P_NV = 3 };
void cpu_bf16p_kern_avx512bf16(int rm, int64_t kp2, const senti_bf16 *Ab, int64_t lda, const senti_bf16 *const *pan,
                               int np, int64_t nc, float *C, int64_t ldc, const float *bias, const float *res,
                               int64_t ldr);
/* Tile kernel of the int8 GEMM (qgemm.c, qm_tile.inc) for rm rows (1 <= rm
 * <= MR): np <= cpu_qm_nv_<isa>(rm) panels of VW columns, nc <= np*VW live;
 * bias and res as for cpu_mm_kern_fn (added in registers before the store). */
typedef void (*cpu_qm_kern_fn)(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                               const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                               int64_t nc, const float *bias, const float *res, int64_t ldr);
void cpu_qm_kern_avx512vnni(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                            const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                            int64_t nc, const float *bias, const float *res, int64_t ldr);
void cpu_qm_kern_avx2(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                      const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                      int64_t nc, const float *bias, const float *res, int64_t ldr);
int cpu_qm_nv_avx512vnni(int rm);
int cpu_qm_nv_avx2(int rm);
/* The same for K-quant weights (q4_K, q6_K; kq_tile.inc): nb 256-blocks,
 * the activations' per-16 sums instead of the offset corrections. */
void cpu_kq_kern_avx512vnni(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                            const int32_t *as16, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                            int64_t nc, const float *bias, const float *res, int64_t ldr);
void cpu_kq_kern_avx2(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                      const int32_t *as16, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                      int64_t nc, const float *bias, const float *res, int64_t ldr);
int cpu_kq_nv_avx512vnni(int rm);
int cpu_kq_nv_avx2(int rm);
/* The same for row-scaled int8 weights (i8_tile.inc): ng groups of 4 k, aq
 * the tile's rm rows interleaved by group (group g of row i at aq + 4 (g rm
 * + i): 4 int8 values; AVX2: at aq + 8 (g rm + i), 4 int16 values), ad /
 * acen / ac one per row (the row scale, centre and offset
 * correction); C is final: ((float) idot * (ad * dw) + acen * ws) + bias[n] + res[i][n]
 * (bias: at the tile's column 0, res: at its row 0 and column 0 with row
 * stride ldr; either NULL for none), the fused epilogue's adds in registers. */
typedef void (*cpu_i8_kern_fn)(int rm, int64_t ng, const int8_t *aq, const float *ad, const float *acen,
                               const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                               int64_t nc, const float *bias, const float *res, int64_t ldr);
void cpu_i8_kern_avx512vnni(int rm, int64_t ng, const int8_t *aq, const float *ad, const float *acen, const int32_t *ac,
                            const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np, int64_t nc,
                            const float *bias, const float *res, int64_t ldr);
void cpu_i8_kern_avx2(int rm, int64_t ng, const int8_t *aq, const float *ad, const float *acen, const int32_t *ac,
                      const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np, int64_t nc,
                      const float *bias, const float *res, int64_t ldr);
/* AVX2: 4-row tiles (rm 4) on panels made by cpu_i8_widen_avx2 (wbytes: the
 * widened weights' bytes), for panels that several tiles share. */
void cpu_i8_kern16_avx2(int rm, int64_t ng, const int8_t *aq, const float *ad, const float *acen, const int32_t *ac,
                        const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np, int64_t nc,
                        const float *bias, const float *res, int64_t ldr);
void cpu_i8_widen_avx2(const char *src, size_t wb, size_t mb, char *dst);
int cpu_i8_nv_avx512vnni(int rm);
int cpu_i8_nv_avx2(int rm);
/* One row's nb blocks of 32 activations to int8 (o8) or int16 (o16), block
 * scales d and offset sums s (qgemm.c's rule, its bytes). */
void cpu_q32_quant_avx512vnni(const float *x, int64_t nb, int8_t *o8, int16_t *o16, float *d, int32_t *s, int off);
void cpu_q32_quant_avx2(const float *x, int64_t nb, int8_t *o8, int16_t *o16, float *d, int32_t *s, int off);
/* One activation row to int8 for the int8 GEMM: exactly the values, scale and
 * centre of senti_quantize_int8_centered, in groups of 4 values gs bytes
 * apart (int8; AVX2: int16 in the order 0, 2, 1, 3), zero-padded to Kp;
 * *sum = sum of q (AVX2: sum over even k of q[k] q[k + 1]). */
typedef void (*cpu_i8_quant_fn)(const float *x, int64_t K, int64_t Kp, int8_t *q, int64_t gs, float *d, float *c,
                                int32_t *sum);
void cpu_i8_quant_avx512vnni(const float *x, int64_t K, int64_t Kp, int8_t *q, int64_t gs, float *d, float *c,
                             int32_t *sum);
void cpu_i8_quant_avx2(const float *x, int64_t K, int64_t Kp, int8_t *q, int64_t gs, float *d, float *c, int32_t *sum);

/* Pack a 32-wide panel of f32 weight rows (trans_b) for the AVX-512 GEMM:
 * dst[k*32 + j] = B[j0 + j][k0 + k], zero for j >= nj; dst 64-byte aligned. */
void cpu_pack_bt_f32_avx512(const void *B, size_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nj, float *dst);

/* ---- fused epilogue ---------------------------------------------------------
 * After a tile's last k block, while it is in L1: C = act((C + bias) + res),
 * each step the same rounding as the separate add / activation ops, so a
 * fused graph gives the bytes of the unfused one (fuse.c). */
typedef struct cpu_epi {
    const float *bias; /* [N] or NULL */
    const float *res;  /* [M, N] with row stride ldr, or NULL */
    int64_t ldr;
    senti_op act;      /* SENTI_OP_GELU, _GELU_TANH, _RELU, _SILU, _TANH, or SENTI_OP_COUNT: none */
} cpu_epi;
/* The tile kernels' epilogue operands: e's bias from column c0 and residual
 * from row r, column c0 (NULL where e, or its bias / residual, is NULL); and
 * one output of a scalar kernel finished as the SIMD tiles finish theirs:
 * (v + bias[j]) + res[i ldr + j], each add rounded as the separate add op. */
static inline const float *cpu_epi_bias(const cpu_epi *e, int64_t c0) { return e && e->bias ? e->bias + c0 : NULL; }
static inline const float *cpu_epi_res(const cpu_epi *e, int64_t r, int64_t c0) {
    return e && e->res ? e->res + r * e->ldr + c0 : NULL;
}
static inline float cpu_epi_add(float v, const float *bias, const float *res, int64_t ldr, int64_t i, int64_t j) {
    if (bias) v = v + bias[j];
    if (res) v = v + res[i * ldr + j];
    return v;
}
/* Apply e to rows [r0, r0 + rm) x cols [c0, c0 + nc) of C (C points at row r0,
 * column c0; r0 indexes res). */
void cpu_epi_apply(const cpu_ctx *ctx, const cpu_epi *e, float *C, int64_t ldc, int64_t r0, int64_t rm, int64_t c0,
                   int64_t nc);

/* ---- the f32-family GEMM (gemm.c) -----------------------------------------
 * C[M,N] = A[M,K] · op(B) with B f32 / f16 / bf16 / K-quant (any type
 * senti_row_to_f32 reads; trans_b for the block types), or weights packed
 * once by cpu_gemm_prepack. ws: cpu_gemm_ws_size bytes, 64-byte aligned. */
typedef struct cpu_gemm_b {
    /* packed panels (pan != NULL): panel p at pan + p*pan_bytes, type pt
     * (q8_0 / q4_0: qgemm.c's layout, scales at pan_wbytes into a panel) */
    const char *pan;
    size_t pan_bytes, pan_wbytes;
    senti_type pt;
    /* else raw: */
    senti_type bt;
    const void *B;
    size_t ldb;
    bool trans_b;
    /* packed bf16 pairs for the vdpbf16ps tiles (pt bf16, AVX512_BF16): panel
     * p of 16 columns holds, for each k pair kp, the 16 x 2 values
     * w[16p + j][2kp + t] at (kp 16 + j) 2 + t; zero past N and K */
    bool pairs;
} cpu_gemm_b;

size_t cpu_gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b);
void cpu_gemm_f(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
                float *C, int64_t ldc, const cpu_epi *epi, char *ws);
/* Whether the f32-family GEMM takes weights of type bt (else the dot path). */
bool cpu_gemm_takes(const cpu_ctx *ctx, senti_type bt);
/* Packed panels for a weight [N, K] (trans_b rows, stride ldb) of type bt
 * (f32 / f16 / bf16), cached in ctx by (B, bt, N, K, ldb) for ctx's life:
 * only for data that never changes at that address (SENTI_TFLAG_CONST).
 * NULL on out-of-memory (the caller packs per call instead). */
const cpu_gemm_b *cpu_gemm_prepack(cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K);
void cpu_gemm_cache_free(cpu_ctx *ctx);

/* ---- the int8 GEMM (qgemm.c) -------------------------------------------------
 * C[M,N] = A[M,K] · B^T for q8_0 / q4_0 / K-quant / int8 weights B [N, K] (raw rows, or
 * packed by cpu_qgemm_pack into cpu_qgemm_pack_size bytes). */
size_t cpu_qgemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool packed);
void cpu_qgemm(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
               float *C, int64_t ldc, const cpu_epi *epi, char *ws);
size_t cpu_qgemm_pack_size(const cpu_ctx *ctx, senti_type bt, int64_t N, int64_t K, size_t *pan_bytes,
                           size_t *pan_wbytes);
void cpu_qgemm_pack(const cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K, char *dst);

#endif /* SENTI_CPU_MATMUL_KERN_H */
