/* cuda_int.cuh — what the CUDA files share: the device view of a tensor
 * (device address, shape, byte strides, type), element loaders for every
 * storage type, and the launchers each kernel file exports to the backend.
 *
 * Invariant: a ctens's data is a device address; ne/nb are the host tensor's
 * (4 padded dims, outermost first, byte strides), so views work unchanged. */
#ifndef SENTI_CUDA_INT_CUH
#define SENTI_CUDA_INT_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

/* core.h is C17: its _Noreturn reads as the C++ attribute here */
#if defined(__cplusplus) && !defined(_Noreturn)
#define _Noreturn [[noreturn]]
#endif
extern "C" {
#include "../kernels/kernels.h"
}

/* a tensor as kernels see it */
struct ctens {
    char *data;
    int64_t ne[4];
    int64_t nb[4];
    int type; /* senti_type */
};

static inline ctens ctens_make(const senti_tensor *t, void *dev) {
    ctens c;
    c.data = (char *)dev;
    for (int i = 0; i < 4; i++) c.ne[i] = t->ne[i], c.nb[i] = (int64_t)t->nb[i];
    c.type = (int)t->type;
    return c;
}

/* q8_0 / q4_0 blocks as on the host (34 and 18 bytes, unaligned f16 scale) */
struct cq8 { uint16_t d; int8_t qs[32]; };
struct cq4 { uint16_t d; uint8_t qs[16]; };

__device__ __forceinline__ float c_h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float c_bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

/* element i (innermost index) of a row starting at p, for any type */
__device__ __forceinline__ float c_row_elem(int type, const char *p, int64_t i) {
    switch (type) {
    case SENTI_TYPE_F32: return ((const float *)p)[i];
    case SENTI_TYPE_F16: return c_h2f(((const uint16_t *)p)[i]);
    case SENTI_TYPE_BF16: return c_bf2f(((const uint16_t *)p)[i]);
    case SENTI_TYPE_I32: return (float)((const int32_t *)p)[i];
    case SENTI_TYPE_Q8_0: {
        const char *b = p + (i / 32) * 34;
        uint16_t d = (uint16_t)((unsigned char)b[0] | ((unsigned char)b[1] << 8));
        return c_h2f(d) * (float)(int8_t)b[2 + i % 32];
    }
    case SENTI_TYPE_Q4_0: {
        const char *b = p + (i / 32) * 18;
        uint16_t d = (uint16_t)((unsigned char)b[0] | ((unsigned char)b[1] << 8));
        const int j = (int)(i % 32);
        const unsigned char q = (unsigned char)b[2 + (j & 15)];
        const int v = (j < 16 ? (q & 15) : (q >> 4)) - 8;
        return c_h2f(d) * (float)v;
    }
    }
    return 0.0f;
}

/* element (i0,i1,i2,i3) of a non-quantized tensor through its strides */
__device__ __forceinline__ float c_get(const ctens &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const char *p = t.data + i0 * t.nb[0] + i1 * t.nb[1] + i2 * t.nb[2];
    if (t.type == SENTI_TYPE_Q8_0 || t.type == SENTI_TYPE_Q4_0) return c_row_elem(t.type, p, i3);
    return c_row_elem(t.type, p + i3 * t.nb[3], 0);
}

/* byte offset of a broadcast source (dims of size 1 repeat) */
__device__ __forceinline__ int64_t c_bcast(const ctens &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (t.ne[0] == 1 ? 0 : i0) * t.nb[0] + (t.ne[1] == 1 ? 0 : i1) * t.nb[1] + (t.ne[2] == 1 ? 0 : i2) * t.nb[2] +
           (t.ne[3] == 1 ? 0 : i3) * t.nb[3];
}

/* flat index of a contiguous dst -> 4 indices */
__device__ __forceinline__ void c_unflat(const int64_t *ne, int64_t i, int64_t *i0, int64_t *i1, int64_t *i2,
                                         int64_t *i3) {
    *i3 = i % ne[3];
    i /= ne[3];
    *i2 = i % ne[2];
    i /= ne[2];
    *i1 = i % ne[1];
    *i0 = i / ne[1];
}

__device__ __forceinline__ float c_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float c_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

static inline unsigned c_blocks(int64_t n, int per) {
    int64_t b = (n + per - 1) / per;
    return (unsigned)(b < 1 ? 1 : (b > 0x7fffffff ? 0x7fffffff : b));
}

/* activation codes for fused epilogues and the unary kernel */
enum { ACT_NONE = 0, ACT_GELU, ACT_GELU_TANH, ACT_SILU, ACT_RELU, ACT_TANH };

__device__ __forceinline__ float c_act(int act, float x) {
    switch (act) {
    case ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ACT_GELU_TANH: return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    case ACT_SILU: return x / (1.0f + expf(-x));
    case ACT_RELU: return x > 0.0f ? x : 0.0f;
    case ACT_TANH: return tanhf(x);
    }
    return x;
}

/* ---- launchers (all enqueue on `st`, return a cudaError_t) ------------------ */

/* kern_elem.cu: dst is contiguous f32 (or dst->type for cpy/concat) */
cudaError_t cu_binary(cudaStream_t st, int op, ctens dst, ctens a, ctens b);      /* op: SENTI_OP_ADD / MUL */
cudaError_t cu_unary(cudaStream_t st, int act, float scale, ctens dst, ctens x);  /* act ACT_*, or scale if ACT_NONE */
cudaError_t cu_layer_norm(cudaStream_t st, bool rms, float eps, ctens dst, ctens x, const ctens *w, const ctens *b);
cudaError_t cu_softmax(cudaStream_t st, float scale, ctens dst, ctens x, const ctens *mask);
cudaError_t cu_rope(cudaStream_t st, ctens dst, ctens x, ctens pos, const ctens *ff, int n_rot, bool interleaved,
                    float theta, float freq_scale);
cudaError_t cu_get_rows(cudaStream_t st, ctens dst, ctens table, ctens ids, int *err_flag);
cudaError_t cu_cpy(cudaStream_t st, ctens dst, ctens x);
cudaError_t cu_concat(cudaStream_t st, ctens dst, ctens a, ctens b, int dim);

/* kern_gemm.cu */
struct cu_gemm_epi {
    const float *bias; /* [N] or NULL */
    int act;           /* ACT_* */
};
/* the MATMUL op with its semantics (kernels.h), any b type, hand-written
 * kernels: SIMT f32 tiles, a GEMV for M == 1, or tensor cores (pack16 != 0:
 * SENTI_TYPE_BF16 / F16, A packed on the fly, B from packed_b if given). */
struct cu_mm_args {
    ctens dst, a, b;
    bool trans_a, trans_b;
    int pack16;             /* 0: f32 SIMT; SENTI_TYPE_BF16 / SENTI_TYPE_F16: tensor cores */
    const void *packed_b;   /* [B0*B1, N, Kp] 16-bit, or NULL to pack b now */
    void *scratch;          /* device scratch of cu_mm_scratch() bytes */
    cu_gemm_epi epi;
};
size_t cu_mm_scratch(const cu_mm_args *m, bool need_b);
int64_t cu_mm_kpad(int64_t K);
cudaError_t cu_matmul(cudaStream_t st, const cu_mm_args *m);
/* pack a (dst batch z = (i0, i1), A1 = dst dim 1) into [Z, M, Kp] 16-bit */
cudaError_t cu_pack_a(cudaStream_t st, int type16, ctens a, bool trans_a, int64_t A1, int64_t Z, int64_t M, int64_t K,
                      void *out);
/* pack b (any type, trans_b or not) into [B0*B1, N, Kp] 16-bit K-major */
cudaError_t cu_pack_b(cudaStream_t st, int type16, ctens b, bool trans_b, int64_t K, int64_t N, void *out);
/* the tensor-core kernel alone: C[z][M,N] (ldc) = A[z][M,Kp] B[z'][N,Kp]^T */
cudaError_t cu_gemm_tc(cudaStream_t st, int type16, const void *A, const void *B, float *C, int64_t M, int64_t N,
                       int64_t Kp, int64_t batch, cu_gemm_epi epi);
/* the SIMT f32 kernel alone on dense row-major A [M,K], B [N,K] */
cudaError_t cu_gemm_f32_tn(cudaStream_t st, const float *A, const float *B, float *C, int64_t M, int64_t N, int64_t K);

/* kern_attn.cu: the ATTENTION op; cu_q / cu_k (int32 [B+1]) select packed
 * variable-length mode: n_seq sequences, sequence b's rows are cu[b]..cu[b+1]
 * of batch 0 (q.ne[0] == 1), max_tq the longest; otherwise pass NULL, 0, 0. */
cudaError_t cu_attention(cudaStream_t st, ctens dst, ctens q, ctens k, ctens v, const ctens *mask, float scale,
                         bool causal, const int *cu_q, const int *cu_k, int64_t n_seq, int64_t max_tq);

/* Why cuBLAS could not be opened (cublas_dl.cu: it is opened on first use),
 * or NULL when it is loaded. */
extern "C" const char *senti_cublas_error(void);

#endif /* SENTI_CUDA_INT_CUH */
