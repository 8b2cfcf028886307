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

#include <stdatomic.h>

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
    bool amd; /* CPUID vendor AuthenticAMD: the f32 GEMM's AVX-512 tile height differs (gemm.c) */
} cpu_features;

/* The backend's thread pool (pool.c): cpu_pool_run runs fn(arg, ith, nth) on
 * nth threads (the caller is ith 0) and returns when all are done; nth <= 1
 * or a call from inside a job runs fn(arg, 0, 1) inline. Waits spin briefly
 * (SENTI_SPIN_US, default 50), then sleep. cpu_pool_barrier: all nth threads
 * of the current (static) job meet. cpu_pool_run_elastic: fn must share its
 * work dynamically (cpu_chunk_next) and never wait for other threads; workers
 * that have not joined when the caller runs out of work are not waited for. */
typedef struct cpu_pool cpu_pool;
typedef void (*cpu_task_fn)(void *arg, int ith, int nth);
cpu_pool *cpu_pool_init(int n);
void cpu_pool_free(cpu_pool *p); /* accepts NULL */
void cpu_pool_run(cpu_pool *p, int nth, cpu_task_fn fn, void *arg);
void cpu_pool_run_elastic(cpu_pool *p, int nth, cpu_task_fn fn, void *arg);
void cpu_pool_barrier(cpu_pool *p, int nth);

/* Dynamic chunks of [0, n): threads of a job loop on
 *   for (int64_t i0, i1; cpu_chunk_next(&a->next, n, chunk, &i0, &i1);) …
 * where next (in the job's argument) was 0 when the job started. */
static inline bool cpu_chunk_next(_Atomic int64_t *next, int64_t n, int64_t chunk, int64_t *i0, int64_t *i1) {
    const int64_t i = atomic_fetch_add(next, chunk);
    if (i >= n) return false;
    *i0 = i;
    *i1 = i + chunk < n ? i + chunk : n;
    return true;
}

struct cpu_ctx;
/* fn(arg, i0, i1, ith) over [0, n) in chunks handed out dynamically (chunk <= 0:
 * about 4 per thread), so a thread that loses its core holds up one chunk, not
 * a share; ith < nth indexes per-thread scratch. nth <= 1 runs [0, n) inline. */
typedef void (*cpu_range_fn)(void *arg, int64_t i0, int64_t i1, int ith);
void cpu_parallel_for(const struct cpu_ctx *ctx, int nth, int64_t n, int64_t chunk, cpu_range_fn fn, void *arg);

typedef struct cpu_ctx {
    int n_threads;
    cpu_pool *pool;       /* owned; workers started on first use */
    cpu_matmul_mode matmul;
    cpu_simd simd;
    cpu_features feat;
    void *scratch;        /* per-backend scratch, grown by cpu_scratch */
    size_t scratch_size;
    int64_t l1d, l2;      /* data cache sizes in bytes (0: unknown), for blocking */
    bool prepack;         /* pack constant weights once (SENTI_PACK=0: per call) */
    void *wcache;         /* packed constant weights (gemm.c), owned */
    int n_wcache, cap_wcache;
    size_t wcache_bytes;
    int64_t n_fused;      /* node chains run fused so far (fuse.c; for tests) */
} cpu_ctx;

/* Threads when none are asked for: OMP_NUM_THREADS when set, else the CPUs
 * in this process's affinity mask (sched_getaffinity), not the machine's. */
int cpu_default_threads(void);

/* Backend with n_threads (<= 0: cpu_default_threads()). SENTI_MATMUL=blas|native
 * sets the matmul mode (default native). */
senti_backend *senti_backend_cpu_init(int n_threads);
cpu_ctx *cpu_backend_ctx(senti_backend *be);

const cpu_features *cpu_get_features(void);
const char *cpu_simd_name(cpu_simd s);
/* True when a backend made now multiplies bf16 weights with vdpbf16ps: the
 * SIMD level (after SENTI_SIMD) is AVX-512 and the CPU has AVX512_BF16 (the
 * test gemm.c makes per call); elsewhere bf16 weights are widened to f32. */
bool cpu_bf16_native(void);
/* The level the CPU backend runs at (detected, lowered by SENTI_SIMD): cpu_simd_name's string. */
const char *cpu_simd_level(void);
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
CPU_KERNEL(attention_varlen);
CPU_KERNEL(rope);
CPU_KERNEL(cpy);
CPU_KERNEL(concat);
CPU_KERNEL(set_rows);
CPU_KERNEL(gather); /* gather.c */

/* ---- matmul entry points (bench and kernels) -------------------------------
 * C[M,N] = A[M,K] · op(B), A f32 row-major with row stride lda (elements);
 * B of type bt: trans_b ? rows of K (ldb in elements of bt, blocks for quant)
 * : f32 [K,N] with row stride ldb. C row stride ldc. Threads: ctx->n_threads.
 * The path depends on the weight type and ctx->matmul, never on M (see
 * matmul.c); B is packed per call (the graph kernel packs constant weights
 * once). */
senti_status cpu_gemm(cpu_ctx *ctx, int64_t M, int64_t N, int64_t K,
                      const float *A, int64_t lda,
                      senti_type bt, const void *B, size_t ldb_bytes, bool trans_b,
                      float *C, int64_t ldc);

/* Fusion (fuse.c): nodes [i, i + r) of g computed as one, r returned (0:
 * nothing fused at i); *st holds the status. Only within [i, i1). */
int cpu_fuse(cpu_ctx *ctx, senti_graph *g, int i, int i1, senti_status *st);

/* Unfused attention for benchmarks: scores = QK^T per head in a T x T
 * buffer, softmax, then ·V (same semantics as cpu_attention). */
senti_status cpu_attention_unfused(cpu_ctx *ctx, senti_tensor *dst);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CPU_H */
