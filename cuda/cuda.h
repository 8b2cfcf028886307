/* cuda.h — the CUDA backend's C interface: create the backend for a device,
 * count devices, and the kernel entry points the benchmarks time on their own
 * (hand-written GEMM vs cuBLAS, flash attention vs a naive path, copy
 * bandwidth). Compiled only with SENTI_CUDA; callers test SENTI_HAVE_CUDA.
 *
 * Memory model (see backend_cuda.cu): the executor's arena is a pinned host
 * "shadow" mirrored by device memory of the same size; tensors keep host
 * addresses, the backend translates them, uploads what the host or the CPU
 * fallback wrote and downloads what they will read. Weights (leafs flagged
 * SENTI_TFLAG_WEIGHT) are uploaded once and cached by host address for the
 * backend's lifetime, so a weight's host storage must outlive the backend and
 * must not change. */
#ifndef SENTI_CUDA_H
#define SENTI_CUDA_H

/* core.h is C17: its _Noreturn reads as the C++ attribute here */
#if defined(__cplusplus) && !defined(_Noreturn)
#define _Noreturn [[noreturn]]
#endif
#include "../kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when there is none or no driver. If why
 * is not NULL it gets a one-line reason when the count is 0. */
int cuda_device_count(char *why, size_t why_size);

/* The CUDA backend on device "cuda" (device 0) or "cuda:N". NULL with a
 * message (senti_last_error) when the device does not exist or CUDA fails.
 * Environment: SENTI_MATMUL=native|cublas (default native), SENTI_CUDA_DTYPE
 * =f32|f16|bf16 (matmul precision for f32 weights: bf16/f16 stores weights
 * in that type and runs tensor cores; default f32), SENTI_CUDA_GRAPHS=0 turns
 * off CUDA-graph capture. */
senti_backend *senti_backend_cuda_init(const char *device);

/* ---- benchmark entry points (cuda/bench_kernels.cu) -------------------------
 * Each runs on the current device, checks its result against a second path,
 * times with CUDA events (median of `repeats` after warm-up) and fills the
 * figures; returns 0 on success, -1 with a message on stderr. */
typedef struct cuda_bench_result {
    double ms_median, ms_min, ms_max; /* per call */
    double tflops;                    /* or GB/s for copies */
    double max_rel_err;               /* against the comparison path */
} cuda_bench_result;

/* C[M,N] = A[M,K] B[N,K]^T with A, B of `dtype` (f32, f16, bf16) and f32 C:
 * impl 0 = hand-written kernel, 1 = cuBLAS. */
int cuda_bench_gemm(int impl, senti_type dtype, int64_t M, int64_t N, int64_t K, int repeats,
                    cuda_bench_result *out);
/* Attention [B, T, H, D] f32 with a padding mask: impl 0 = flash kernel,
 * 1 = naive (scores matrix through cuBLAS + softmax kernel), 2 = flash with
 * packed variable-length sequences (cu_seqlens, lengths T, T-1, ...). */
int cuda_bench_attention(int impl, int64_t B, int64_t T, int64_t H, int64_t D, int repeats, cuda_bench_result *out);
/* Device-to-device copy of `bytes`; tflops holds GB/s (read + write). */
int cuda_bench_copy(size_t bytes, int repeats, cuda_bench_result *out);
/* Name of the current device ("NVIDIA H200"), SM count. */
void cuda_device_info(char *name, size_t n, int *sms);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CUDA_H */
