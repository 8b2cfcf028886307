/* cpu.h — the CPU backend: OpenMP-parallel SIMD kernels behind
 * kernels/backend.h, the hand-written and OpenBLAS matmul paths, and the
 * entry points the benchmarks call directly.
 *
 * Every kernel has the signature `senti_status cpu_<op>(cpu_ctx *, senti_tensor *dst)`:
 * it reads dst->src[..] and dst->params, writes dst (contiguous) and returns
 * SENTI_OK or an error. Kernels open their own OpenMP parallel region with
 * ctx->n_threads threads. */
#ifndef SENTI_CPU_H
#define SENTI_CPU_H

#include "../kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cpu_matmul_mode {
    CPU_MATMUL_NATIVE = 0, /* hand-written blocked kernel + few-rows path */
    CPU_MATMUL_BLAS,       /* OpenBLAS sgemm (other weight types: converted rows) */
} cpu_matmul_mode;

/* SIMD level picked at run time from CPUID (and SENTI_SIMD=scalar|avx2|avx512
 * to force a lower one for testing). */
typedef enum cpu_simd { CPU_SIMD_SCALAR = 0, CPU_SIMD_AVX2, CPU_SIMD_AVX512 } cpu_simd;

typedef struct cpu_features {
    bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512_bf16, avx512_vnni, avx_vnni;
} cpu_features;

typedef struct cpu_ctx {
    int n_threads;
    cpu_matmul_mode matmul;
    cpu_simd simd;
    cpu_features feat;
    void *scratch;        /* per-backend scratch, grown by cpu_scratch */
    size_t scratch_size;
} cpu_ctx;

/* Backend with n_threads (<= 0: OpenMP's default). SENTI_MATMUL=blas|native
 * sets the matmul mode (default native). */
senti_backend *senti_backend_cpu_init(int n_threads);
cpu_ctx *cpu_backend_ctx(senti_backend *be);

const cpu_features *cpu_get_features(void);
const char *cpu_simd_name(cpu_simd s);
/* Scratch memory of at least size bytes, 64-byte aligned; NULL on OOM.
 * Valid until the next call; grows only (no malloc once warm). */
void *cpu_scratch(cpu_ctx *ctx, size_t size);

/* ---- kernels, one per op --------------------------------------------------- */
#define CPU_KERNEL(name) senti_status cpu_##name(cpu_ctx *ctx, senti_tensor *dst)
CPU_KERNEL(get_rows);
CPU_KERNEL(add);
CPU_KERNEL(mul);
CPU_KERNEL(scale);
CPU_KERNEL(matmul);
CPU_KERNEL(layer_norm);
CPU_KERNEL(rms_norm);
CPU_KERNEL(softmax);
CPU_KERNEL(gelu);
CPU_KERNEL(gelu_tanh);
CPU_KERNEL(silu);
CPU_KERNEL(relu);
CPU_KERNEL(tanh);
CPU_KERNEL(attention);
CPU_KERNEL(rope);
CPU_KERNEL(cpy);
CPU_KERNEL(concat);
CPU_KERNEL(set_rows);
CPU_KERNEL(gather); /* gather.c */

/* ---- matmul entry points (bench and kernels) -------------------------------
 * C[M,N] = A[M,K] · op(B), A f32 row-major with row stride lda (elements);
 * B of type bt: trans_b ? rows of K (ldb in elements of bt, blocks for quant)
 * : f32 [K,N] with row stride ldb. C row stride ldc. Threads: ctx->n_threads.
 * cpu_gemm picks: few rows (M <= 16) -> bandwidth path; else native blocked
 * or BLAS by ctx->matmul. */
senti_status cpu_gemm(cpu_ctx *ctx, int64_t M, int64_t N, int64_t K,
                      const float *A, int64_t lda,
                      senti_type bt, const void *B, size_t ldb_bytes, bool trans_b,
                      float *C, int64_t ldc);

/* Unfused attention for benchmarks: scores = QK^T per head in a T x T
 * buffer, softmax, then ·V (same semantics as cpu_attention). */
senti_status cpu_attention_unfused(cpu_ctx *ctx, senti_tensor *dst);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CPU_H */
