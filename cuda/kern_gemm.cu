/* kern_gemm.cu — the hand-written matmul kernels: a tensor-core GEMM
 * (mma.sync m16n8k16 bf16 / f16, f32 accumulation, ldmatrix from swizzled
 * shared memory filled by a 4-stage cp.async pipeline), a SIMT f32 GEMM that
 * reads any layout and any weight type (f32 / f16 / bf16 / q8_0 / q4_0,
 * dequantized on load), a GEMV for one-row (decode) products, and the packing
 * kernels that turn operands into the tensor-core layout. Epilogue: + bias[n],
 * then an activation (fused bias + GELU).
 *
 * Layout of the tensor-core operands ("TN"): A [Z, M, Kp] and B [Zb, N, Kp],
 * both K-major 16-bit, Kp = K rounded up to 32 with zeros; C [Z, M, N] f32.
 * Batch z = (i0, i1) of dst reads B batch (i0 / r0, i1 / r1) (the MATMUL
 * op's broadcast rule, which covers grouped-query attention).
 * Not here: a wgmma (sm_90a) path — the mma.sync kernel runs on Hopper too. */
#include "cuda_int.cuh"

struct bmap {
    int64_t A1, r0, r1, B1; /* dst dim 1, batch ratios, b dim 1 */
};

__device__ __forceinline__ int64_t bmap_b(const bmap &m, int64_t z) {
    const int64_t i0 = z / m.A1, i1 = z % m.A1;
    return (i0 / m.r0) * m.B1 + i1 / m.r1;
}

int64_t cu_mm_kpad(int64_t K) { return (K + 31) / 32 * 32; }

/* ---- packing ---------------------------------------------------------------- */

__device__ __forceinline__ uint16_t to16(bool bf, float v) {
    return bf ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : __half_as_ushort(__float2half_rn(v));
}

/* 8 consecutive 16-bit values as one 16-byte store */
__device__ __forceinline__ void store8(uint16_t *dst, const uint16_t *v) {
    uint4 w;
    w.x = v[0] | ((uint32_t)v[1] << 16), w.y = v[2] | ((uint32_t)v[3] << 16);
    w.z = v[4] | ((uint32_t)v[5] << 16), w.w = v[6] | ((uint32_t)v[7] << 16);
    *(uint4 *)dst = w;
}

/* A (dst batch z = (i0,i1), element (m,k)) -> out [Z, M, Kp]; 8 k per thread */
__global__ void k_pack_a(bool bf, ctens a, bool ta, int64_t A1, int64_t M, int64_t K, int64_t Kp, int64_t n8,
                         uint16_t *out) {
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n8; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t kc = e % (Kp / 8), row = e / (Kp / 8); /* row = z*M + m */
        const int64_t m = row % M, z = row / M, i0 = z / A1, i1 = z % A1;
        const char *base = a.data + i0 * a.nb[0] + i1 * a.nb[1];
        uint16_t v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int64_t k = kc * 8 + j;
            float x = 0.0f;
            if (k < K) x = c_row_elem(a.type, base + (ta ? k * a.nb[2] + m * a.nb[3] : m * a.nb[2] + k * a.nb[3]), 0);
            v[j] = to16(bf, x);
        }
        store8(out + row * Kp + kc * 8, v);
    }
}

/* b (batch zb = (j0,j1), element (k,n)) -> out [Zb, N, Kp] */
__global__ void k_pack_b(bool bf, ctens b, bool tb, int64_t N, int64_t K, int64_t Kp, int64_t n8, uint16_t *out) {
    const bool quant = b.type == SENTI_TYPE_Q8_0 || b.type == SENTI_TYPE_Q4_0;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n8; e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t kc = e % (Kp / 8), row = e / (Kp / 8); /* row = zb*N + n */
        const int64_t n = row % N, zb = row / N, j0 = zb / b.ne[1], j1 = zb % b.ne[1];
        const char *base = b.data + j0 * b.nb[0] + j1 * b.nb[1];
        uint16_t v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int64_t k = kc * 8 + j;
            float x = 0.0f;
            if (k < K) {
                if (tb) x = quant ? c_row_elem(b.type, base + n * b.nb[2], k)
                                  : c_row_elem(b.type, base + n * b.nb[2] + k * b.nb[3], 0);
                else x = c_row_elem(b.type, base + k * b.nb[2] + n * b.nb[3], 0);
            }
            v[j] = to16(bf, x);
        }
        store8(out + row * Kp + kc * 8, v);
    }
}

cudaError_t cu_pack_a(cudaStream_t st, int type16, ctens a, bool trans_a, int64_t A1, int64_t Z, int64_t M, int64_t K,
                      void *out) {
    const int64_t Kp = cu_mm_kpad(K), n8 = Z * M * (Kp / 8);
    if (n8 == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n8, 256) > 65536 ? 65536 : c_blocks(n8, 256);
    k_pack_a<<<grid, 256, 0, st>>>(type16 == SENTI_TYPE_BF16, a, trans_a, A1, M, K, Kp, n8, (uint16_t *)out);
    return cudaGetLastError();
}

cudaError_t cu_pack_b(cudaStream_t st, int type16, ctens b, bool trans_b, int64_t K, int64_t N, void *out) {
    const int64_t Kp = cu_mm_kpad(K), n8 = b.ne[0] * b.ne[1] * N * (Kp / 8);
    if (n8 == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n8, 256) > 65536 ? 65536 : c_blocks(n8, 256);
    k_pack_b<<<grid, 256, 0, st>>>(type16 == SENTI_TYPE_BF16, b, trans_b, N, K, Kp, n8, (uint16_t *)out);
    return cudaGetLastError();
}

/* ---- tensor-core GEMM --------------------------------------------------------- */

#define TC_BM 128
#define TC_BN 128
#define TC_BK 32
#define TC_ST 4
#define TC_SMEM (TC_ST * (TC_BM + TC_BN) * TC_BK * 2)

__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t *r, uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

template <bool BF>
__device__ __forceinline__ void mma16816(float *c, const uint32_t *a, const uint32_t *b) {
    if (BF)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

/* smem tile [rows][32] 16-bit: 4 chunks of 16 bytes per row, chunk c of row r
 * stored at c ^ ((r >> 1) & 3) so ldmatrix's 8 rows hit 8 distinct bank groups */
__device__ __forceinline__ int swz(int r, int c) { return r * TC_BK + ((c ^ ((r >> 1) & 3)) << 3); }

/* 256 threads = 8 warps as 2 (M) x 4 (N); warp tile 64 x 32 */
template <bool BF>
__global__ void __launch_bounds__(256) k_gemm_tc(const uint16_t *__restrict__ A, const uint16_t *__restrict__ B,
                                                 float *__restrict__ C, int M, int N, int Kp, bmap bm,
                                                 cu_gemm_epi epi) {
    extern __shared__ uint4 tc_sh4[];
    uint16_t *As = (uint16_t *)tc_sh4, *Bs = As + TC_ST * TC_BM * TC_BK;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, wm = warp >> 2, wn = warp & 3;
    const int64_t z = blockIdx.z;
    A += z * (int64_t)M * Kp;
    B += bmap_b(bm, z) * (int64_t)N * Kp;
    C += z * (int64_t)M * N;
    const int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN, KT = Kp / TC_BK;

    auto load = [&](int stage, int kt) {
        uint16_t *as = As + stage * TC_BM * TC_BK, *bs = Bs + stage * TC_BN * TC_BK;
#pragma unroll
        for (int it = 0; it < 2; it++) {
            const int id = tid + it * 256, r = id >> 2, c = id & 3;
            const int gm = m0 + r, gn = n0 + r;
            const uint16_t *sa = A + (int64_t)(gm < M ? gm : 0) * Kp + kt * TC_BK + c * 8;
            const uint16_t *sb = B + (int64_t)(gn < N ? gn : 0) * Kp + kt * TC_BK + c * 8;
            cp_async16(smem_u32(as + swz(r, c)), sa, gm < M ? 16 : 0);
            cp_async16(smem_u32(bs + swz(r, c)), sb, gn < N ? 16 : 0);
        }
    };

    float acc[4][4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < TC_ST - 1; s++) {
        if (s < KT) load(s, s);
        cp_async_commit();
    }
    for (int kt = 0; kt < KT; kt++) {
        cp_async_wait<TC_ST - 2>();
        __syncthreads();
        const int nk = kt + TC_ST - 1;
        if (nk < KT) load(nk % TC_ST, nk);
        cp_async_commit();
        const uint16_t *as = As + (kt % TC_ST) * TC_BM * TC_BK, *bs = Bs + (kt % TC_ST) * TC_BN * TC_BK;
#pragma unroll
        for (int kk = 0; kk < TC_BK; kk += 16) {
            uint32_t af[4][4], bf[4][2];
#pragma unroll
            for (int mi = 0; mi < 4; mi++) {
                const int r = wm * 64 + mi * 16 + (lane & 15), c = (kk >> 3) + (lane >> 4);
                ldmatrix_x4(af[mi], smem_u32(as + swz(r, c)));
            }
#pragma unroll
            for (int nj = 0; nj < 2; nj++) {
                const int r = wn * 32 + nj * 16 + (lane & 7) + ((lane >> 4) << 3);
                const int c = (kk >> 3) + ((lane >> 3) & 1);
                uint32_t t4[4];
                ldmatrix_x4(t4, smem_u32(bs + swz(r, c)));
                bf[nj * 2][0] = t4[0], bf[nj * 2][1] = t4[1], bf[nj * 2 + 1][0] = t4[2], bf[nj * 2 + 1][1] = t4[3];
            }
#pragma unroll
            for (int mi = 0; mi < 4; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) mma16816<BF>(acc[mi][ni], af[mi], bf[ni]);
        }
    }
    cp_async_wait<0>();

    /* epilogue: c0,c1 at (lane/4, 2*(lane%4) + {0,1}); c2,c3 eight rows down */
#pragma unroll
    for (int mi = 0; mi < 4; mi++) {
#pragma unroll
        for (int ni = 0; ni < 4; ni++) {
            const int col = n0 + wn * 32 + ni * 8 + (lane & 3) * 2;
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int row = m0 + wm * 64 + mi * 16 + (lane >> 2) + h * 8;
                if (row >= M) continue;
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int n = col + e;
                    if (n >= N) continue;
                    float v = acc[mi][ni][h * 2 + e];
                    if (epi.bias) v += epi.bias[n];
                    C[(int64_t)row * N + n] = c_act(epi.act, v);
                }
            }
        }
    }
}

static cudaError_t gemm_tc(cudaStream_t st, bool bf, const void *A, const void *B, float *C, int64_t M, int64_t N,
                           int64_t Kp, int64_t Z, bmap bm, cu_gemm_epi epi) {
    if (M == 0 || N == 0 || Z == 0) return cudaSuccess;
    if (M > INT32_MAX || N > INT32_MAX || Kp > INT32_MAX || Z > 65535) return cudaErrorInvalidValue;
    /* per device, so set on every launch (a host-side call) */
    cudaError_t e = bf ? cudaFuncSetAttribute(k_gemm_tc<true>, cudaFuncAttributeMaxDynamicSharedMemorySize, TC_SMEM)
                       : cudaFuncSetAttribute(k_gemm_tc<false>, cudaFuncAttributeMaxDynamicSharedMemorySize, TC_SMEM);
    if (e != cudaSuccess) return e;
    const dim3 grid(c_blocks(N, TC_BN), c_blocks(M, TC_BM), (unsigned)Z);
    if (bf)
        k_gemm_tc<true><<<grid, 256, TC_SMEM, st>>>((const uint16_t *)A, (const uint16_t *)B, C, (int)M, (int)N,
                                                    (int)Kp, bm, epi);
    else
        k_gemm_tc<false><<<grid, 256, TC_SMEM, st>>>((const uint16_t *)A, (const uint16_t *)B, C, (int)M, (int)N,
                                                     (int)Kp, bm, epi);
    return cudaGetLastError();
}

cudaError_t cu_gemm_tc(cudaStream_t st, int type16, const void *A, const void *B, float *C, int64_t M, int64_t N,
                       int64_t Kp, int64_t batch, cu_gemm_epi epi) {
    const bmap bm = {batch, 1, 1, batch};
    return gemm_tc(st, type16 == SENTI_TYPE_BF16, A, B, C, M, N, Kp, batch, bm, epi);
}

/* ---- SIMT f32 GEMM: any layout, any b type -------------------------------------- */

#define SG_BM 64
#define SG_BN 64
#define SG_BK 16

/* 256 threads, 4 x 4 outputs each; A tile As[k][m], B tile Bs[k][n] */
__global__ void __launch_bounds__(256) k_gemm_simt(ctens dst, ctens a, ctens b, bool ta, bool tb, int64_t M,
                                                   int64_t N, int64_t K, bmap bm, cu_gemm_epi epi) {
    __shared__ float As[SG_BK][SG_BM + 4], Bs[SG_BK][SG_BN + 4];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int64_t z = blockIdx.z, i0 = z / bm.A1, i1 = z % bm.A1, zb = bmap_b(bm, z);
    const int64_t j0 = zb / bm.B1, j1 = zb % bm.B1;
    const char *ab = a.data + i0 * a.nb[0] + i1 * a.nb[1], *bb = b.data + j0 * b.nb[0] + j1 * b.nb[1];
    const bool quant = b.type == SENTI_TYPE_Q8_0 || b.type == SENTI_TYPE_Q4_0;
    const int64_t m0 = (int64_t)blockIdx.y * SG_BM, n0 = (int64_t)blockIdx.x * SG_BN;
    float acc[4][4] = {};
    for (int64_t k0 = 0; k0 < K; k0 += SG_BK) {
        for (int e = tid; e < SG_BM * SG_BK; e += 256) {
            /* k fastest when a's rows are contiguous in k (not transposed) */
            const int mm = ta ? e % SG_BM : e / SG_BK, kk = ta ? e / SG_BM : e % SG_BK;
            const int64_t gm = m0 + mm, gk = k0 + kk;
            float v = 0.0f;
            if (gm < M && gk < K)
                v = c_row_elem(a.type, ab + (ta ? gk * a.nb[2] + gm * a.nb[3] : gm * a.nb[2] + gk * a.nb[3]), 0);
            As[kk][mm] = v;
        }
        for (int e = tid; e < SG_BN * SG_BK; e += 256) {
            const int nn = tb ? e / SG_BK : e % SG_BN, kk = tb ? e % SG_BK : e / SG_BN;
            const int64_t gn = n0 + nn, gk = k0 + kk;
            float v = 0.0f;
            if (gn < N && gk < K) {
                if (tb) v = quant ? c_row_elem(b.type, bb + gn * b.nb[2], gk)
                                  : c_row_elem(b.type, bb + gn * b.nb[2] + gk * b.nb[3], 0);
                else v = c_row_elem(b.type, bb + gk * b.nb[2] + gn * b.nb[3], 0);
            }
            Bs[kk][nn] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < SG_BK; kk++) {
            float ra[4], rb[4];
#pragma unroll
            for (int i = 0; i < 4; i++) ra[i] = As[kk][ty * 4 + i], rb[i] = Bs[kk][tx * 4 + i];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(ra[i], rb[j], acc[i][j]);
        }
        __syncthreads();
    }
    float *C = (float *)dst.data + z * M * N;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t n = n0 + tx * 4 + j;
            if (n >= N) continue;
            float v = acc[i][j];
            if (epi.bias) v += epi.bias[n];
            C[m * N + n] = c_act(epi.act, v);
        }
    }
}

/* ---- GEMV: one row of A, b rows contiguous (trans_b) ------------------------------ */

/* a warp per output column n, lanes over k; grid (ceil(N/8), 1, Z) */
__global__ void __launch_bounds__(256) k_gemv(ctens dst, ctens a, ctens b, bool ta, int64_t N, int64_t K, bmap bm,
                                              cu_gemm_epi epi) {
    const int lane = threadIdx.x & 31;
    const int64_t n = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    if (n >= N) return;
    const int64_t z = blockIdx.z, i0 = z / bm.A1, i1 = z % bm.A1, zb = bmap_b(bm, z);
    const int64_t j0 = zb / bm.B1, j1 = zb % bm.B1;
    const char *ab = a.data + i0 * a.nb[0] + i1 * a.nb[1];
    const char *br = b.data + j0 * b.nb[0] + j1 * b.nb[1] + n * b.nb[2];
    const int64_t sa = ta ? a.nb[2] : a.nb[3];
    float s = 0.0f;
    if (b.type == SENTI_TYPE_Q8_0) { /* lane per block of 32, whole blocks */
        for (int64_t blk = lane; blk < K / 32; blk += 32) {
            const char *q = br + blk * 34;
            const float d = c_h2f((uint16_t)((unsigned char)q[0] | ((unsigned char)q[1] << 8)));
            float t = 0.0f;
#pragma unroll 8
            for (int j = 0; j < 32; j++)
                t = fmaf(c_row_elem(a.type, ab + (blk * 32 + j) * sa, 0), (float)(int8_t)q[2 + j], t);
            s = fmaf(d, t, s);
        }
    } else {
        const bool quant = b.type == SENTI_TYPE_Q4_0;
        for (int64_t k = lane; k < K; k += 32)
            s = fmaf(c_row_elem(a.type, ab + k * sa, 0),
                     quant ? c_row_elem(b.type, br, k) : c_row_elem(b.type, br + k * b.nb[3], 0), s);
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
        if (epi.bias) s += epi.bias[n];
        ((float *)dst.data)[z * N + n] = c_act(epi.act, s);
    }
}

/* ---- the MATMUL op ------------------------------------------------------------------- */

static void mm_dims(const cu_mm_args *m, int64_t *M, int64_t *N, int64_t *K, int64_t *Z, bmap *bm) {
    *M = m->dst.ne[2], *N = m->dst.ne[3], *K = m->trans_a ? m->a.ne[2] : m->a.ne[3];
    *Z = m->dst.ne[0] * m->dst.ne[1];
    bm->A1 = m->dst.ne[1], bm->r0 = m->dst.ne[0] / m->b.ne[0], bm->r1 = m->dst.ne[1] / m->b.ne[1];
    bm->B1 = m->b.ne[1];
}

size_t cu_mm_scratch(const cu_mm_args *m, bool need_b) {
    if (!m->pack16) return 0;
    int64_t M, N, K, Z;
    bmap bm;
    mm_dims(m, &M, &N, &K, &Z, &bm);
    const int64_t Kp = cu_mm_kpad(K);
    size_t s = ((size_t)(Z * M * Kp) * 2 + 255) & ~(size_t)255;
    if (need_b) s += (size_t)(m->b.ne[0] * m->b.ne[1] * N * Kp) * 2;
    return s;
}

cudaError_t cu_matmul(cudaStream_t st, const cu_mm_args *m) {
    int64_t M, N, K, Z;
    bmap bm;
    mm_dims(m, &M, &N, &K, &Z, &bm);
    if (M == 0 || N == 0 || Z == 0) return cudaSuccess;
    if (Z > 65535) return cudaErrorInvalidValue;
    if (m->pack16) {
        const bool bf = m->pack16 == SENTI_TYPE_BF16;
        const int64_t Kp = cu_mm_kpad(K);
        uint16_t *Ap = (uint16_t *)m->scratch;
        cudaError_t e = cu_pack_a(st, m->pack16, m->a, m->trans_a, m->dst.ne[1], Z, M, K, Ap);
        if (e != cudaSuccess) return e;
        const void *Bp = m->packed_b;
        if (!Bp) {
            void *bp = (char *)m->scratch + (((size_t)(Z * M * Kp) * 2 + 255) & ~(size_t)255);
            e = cu_pack_b(st, m->pack16, m->b, m->trans_b, K, N, bp);
            if (e != cudaSuccess) return e;
            Bp = bp;
        }
        return gemm_tc(st, bf, Ap, Bp, (float *)m->dst.data, M, N, Kp, Z, bm, m->epi);
    }
    const bool rows_ok = m->b.type == SENTI_TYPE_Q8_0 || m->b.type == SENTI_TYPE_Q4_0 ||
                         m->b.nb[3] == (int64_t)senti_type_size((senti_type)m->b.type);
    if (M == 1 && m->trans_b && rows_ok && (m->b.type != SENTI_TYPE_Q8_0 || K % 32 == 0)) {
        k_gemv<<<dim3(c_blocks(N, 8), 1, (unsigned)Z), 256, 0, st>>>(m->dst, m->a, m->b, m->trans_a, N, K, bm, m->epi);
        return cudaGetLastError();
    }
    if (M > 65535LL * SG_BM) return cudaErrorInvalidValue;
    k_gemm_simt<<<dim3(c_blocks(N, SG_BN), c_blocks(M, SG_BM), (unsigned)Z), 256, 0, st>>>(
        m->dst, m->a, m->b, m->trans_a, m->trans_b, M, N, K, bm, m->epi);
    return cudaGetLastError();
}

cudaError_t cu_gemm_f32_tn(cudaStream_t st, const float *A, const float *B, float *C, int64_t M, int64_t N,
                           int64_t K) {
    ctens a = {}, b = {}, d = {};
    a.data = (char *)A, a.type = SENTI_TYPE_F32, a.ne[0] = a.ne[1] = 1, a.ne[2] = M, a.ne[3] = K;
    a.nb[3] = 4, a.nb[2] = 4 * K, a.nb[1] = a.nb[0] = 4 * K * M;
    b = a, b.data = (char *)B, b.ne[2] = N, b.nb[1] = b.nb[0] = 4 * K * N;
    d = a, d.data = (char *)C, d.ne[3] = N, d.nb[2] = 4 * N, d.nb[1] = d.nb[0] = 4 * N * M;
    cu_mm_args m = {};
    m.dst = d, m.a = a, m.b = b, m.trans_b = true;
    return cu_matmul(st, &m);
}
