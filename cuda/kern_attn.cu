/* kern_attn.cu — flash attention on the GPU: online softmax over key tiles in
 * shared memory, never a Tq x Tk matrix; additive mask (broadcast like the
 * reference), causal mask, grouped-query heads, f32 / f16 / bf16 q, k, v with
 * f32 accumulation; packed variable-length sequences (cu_seqlens); and a
 * decode kernel for one query row against a long KV cache.
 *
 * Semantics: kernels/ref.c ref_attention. A query that sees no key gives
 * zeros. Layout: q [B,Tq,Hq,D], k [B,Tk,Hkv,D], v [B,Tk,Hkv,Dv], innermost
 * dim contiguous, other strides free; dst [B,Tq,Hq,Dv] contiguous. D, Dv <= 256. */
#include "cuda_int.cuh"

#define FA_WARPS 8   /* queries per block, one warp each */
#define FA_KT 32     /* keys per tile, one lane each when scoring */
#define FA_MAXR 8    /* Dv / 32 output registers per lane */

__device__ __forceinline__ float fa_load(const ctens &t, int64_t b, int64_t j, int64_t h, int64_t d) {
    return c_row_elem(t.type, t.data + b * t.nb[0] + j * t.nb[1] + h * t.nb[2] + d * t.nb[3], 0);
}

/* grid (ceil(Tq/8), Hq, B); block 256. smem: Q [8][D], K [32][ks], V [32][Dv] */
__global__ void __launch_bounds__(FA_WARPS * 32)
    k_flash(ctens dst, ctens q, ctens k, ctens v, ctens mask, bool has_mask, float scale, bool causal,
            const int *cu_q, const int *cu_k) {
    extern __shared__ float fa_sh[];
    const int64_t D = q.ne[3], Dv = v.ne[3], Hq = q.ne[2], Hkv = k.ne[2];
    const int64_t ks = (D % 2 == 0) ? D + 1 : D;
    float *Qs = fa_sh, *Ks = Qs + FA_WARPS * D, *Vs = Ks + FA_KT * ks;
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int64_t b = blockIdx.z, h = blockIdx.y, hk = h / (Hq / Hkv);
    /* this sequence's rows: padded batch b, or a packed run of batch 0 */
    int64_t qb = b, q0 = 0, Tq = q.ne[1], k0 = 0, Tk = k.ne[1];
    if (cu_q) {
        qb = 0, q0 = cu_q[b], Tq = cu_q[b + 1] - cu_q[b];
        k0 = cu_k[b], Tk = cu_k[b + 1] - cu_k[b];
    }
    const int64_t kb = cu_q ? 0 : b;
    const int64_t i = (int64_t)blockIdx.x * FA_WARPS + w; /* this warp's query */
    if ((int64_t)blockIdx.x * FA_WARPS >= Tq) return;   /* whole block idle (varlen) */
    const bool active = i < Tq;
    if (active)
        for (int64_t d = lane; d < D; d += 32) Qs[w * D + d] = fa_load(q, qb, q0 + i, h, d);
    float o[FA_MAXR];
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) o[r] = 0.0f;
    float m = -INFINITY, l = 0.0f;
    /* keys this block needs: causal rows see j <= Tk - Tq + i */
    int64_t kend = Tk;
    if (causal) {
        int64_t last = (int64_t)blockIdx.x * FA_WARPS + FA_WARPS - 1;
        if (last >= Tq) last = Tq - 1;
        kend = Tk - Tq + last + 1;
        if (kend > Tk) kend = Tk;
        if (kend < 0) kend = 0;
    }
    for (int64_t j0 = 0; j0 < kend; j0 += FA_KT) {
        const int64_t nt = kend - j0 < FA_KT ? kend - j0 : FA_KT;
        __syncthreads(); /* previous tile consumed; Qs written */
        for (int64_t e = threadIdx.x; e < nt * D; e += blockDim.x) {
            const int64_t jj = e / D, d = e % D;
            Ks[jj * ks + d] = fa_load(k, kb, k0 + j0 + jj, hk, d);
        }
        for (int64_t e = threadIdx.x; e < nt * Dv; e += blockDim.x) {
            const int64_t jj = e / Dv, d = e % Dv;
            Vs[jj * Dv + d] = fa_load(v, kb, k0 + j0 + jj, hk, d);
        }
        __syncthreads();
        if (!active) continue;
        /* lane = key j0 + lane */
        const int64_t j = j0 + lane;
        float s = -INFINITY;
        if (lane < nt && !(causal && j > Tk - Tq + i)) {
            float dot = 0.0f;
            const float *qr = Qs + w * D, *kr = Ks + lane * ks;
            for (int64_t d = 0; d < D; d++) dot = fmaf(qr[d], kr[d], dot);
            s = dot * scale;
            if (has_mask) s += *(const float *)(mask.data + c_bcast(mask, b, h, i, j));
        }
        const float tmax = c_warp_max(s);
        const float mnew = fmaxf(m, tmax);
        if (mnew == -INFINITY) continue; /* nothing visible yet */
        const float p = s == -INFINITY ? 0.0f : expf(s - mnew);
        const float corr = m == -INFINITY ? 0.0f : expf(m - mnew);
        l = l * corr + c_warp_sum(p);
        m = mnew;
#pragma unroll
        for (int r = 0; r < FA_MAXR; r++) o[r] *= corr;
        for (int jj = 0; jj < nt; jj++) {
            const float pj = __shfl_sync(0xffffffffu, p, jj);
            const float *vr = Vs + jj * Dv;
#pragma unroll
            for (int r = 0; r < FA_MAXR; r++) {
                const int64_t d = lane + 32 * r;
                if (d < Dv) o[r] = fmaf(pj, vr[d], o[r]);
            }
        }
    }
    if (!active) return;
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    float *out = (float *)dst.data + (((qb * dst.ne[1]) + q0 + i) * Hq + h) * Dv;
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) {
        const int64_t d = lane + 32 * r;
        if (d < Dv) out[d] = o[r] * inv;
    }
}

/* decode: one block per (query row, head, batch), 8 warps split the keys,
 * lanes over the head dims; the warps' partial softmax states are merged */
__global__ void __launch_bounds__(FA_WARPS * 32)
    k_flash_decode(ctens dst, ctens q, ctens k, ctens v, ctens mask, bool has_mask, float scale, bool causal) {
    __shared__ float sm_m[FA_WARPS], sm_l[FA_WARPS];
    __shared__ float sm_o[FA_WARPS][FA_MAXR * 32];
    const int64_t D = q.ne[3], Dv = v.ne[3], Hq = q.ne[2], Hkv = k.ne[2], Tq = q.ne[1], Tk = k.ne[1];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int64_t i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, hk = h / (Hq / Hkv);
    float qv[FA_MAXR], o[FA_MAXR];
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) {
        const int64_t d = lane + 32 * r;
        qv[r] = d < D ? fa_load(q, b, i, h, d) : 0.0f;
        o[r] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const int64_t kend = causal ? (Tk - Tq + i + 1 < Tk ? Tk - Tq + i + 1 : Tk) : Tk;
    for (int64_t j = w; j < kend; j += FA_WARPS) {
        float dot = 0.0f;
#pragma unroll
        for (int r = 0; r < FA_MAXR; r++) {
            const int64_t d = lane + 32 * r;
            if (d < D) dot = fmaf(qv[r], fa_load(k, b, j, hk, d), dot);
        }
        float s = c_warp_sum(dot) * scale;
        if (has_mask) s += *(const float *)(mask.data + c_bcast(mask, b, h, i, j));
        if (s == -INFINITY) continue;
        const float mnew = fmaxf(m, s);
        const float corr = m == -INFINITY ? 0.0f : expf(m - mnew), p = expf(s - mnew);
        l = l * corr + p;
        m = mnew;
#pragma unroll
        for (int r = 0; r < FA_MAXR; r++) {
            const int64_t d = lane + 32 * r;
            if (d < Dv) o[r] = o[r] * corr + p * fa_load(v, b, j, hk, d);
        }
    }
    if (lane == 0) sm_m[w] = m, sm_l[w] = l;
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) sm_o[w][lane + 32 * r] = o[r];
    __syncthreads();
    if (w != 0) return;
    float M = -INFINITY;
    for (int x = 0; x < FA_WARPS; x++) M = fmaxf(M, sm_m[x]);
    float L = 0.0f, acc[FA_MAXR];
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) acc[r] = 0.0f;
    if (M != -INFINITY) {
        for (int x = 0; x < FA_WARPS; x++) {
            if (sm_m[x] == -INFINITY) continue;
            const float c = expf(sm_m[x] - M);
            L += sm_l[x] * c;
#pragma unroll
            for (int r = 0; r < FA_MAXR; r++) acc[r] += sm_o[x][lane + 32 * r] * c;
        }
    }
    const float inv = L > 0.0f ? 1.0f / L : 0.0f;
    float *out = (float *)dst.data + ((b * Tq + i) * Hq + h) * Dv;
#pragma unroll
    for (int r = 0; r < FA_MAXR; r++) {
        const int64_t d = lane + 32 * r;
        if (d < Dv) out[d] = acc[r] * inv;
    }
}

cudaError_t cu_attention(cudaStream_t st, ctens dst, ctens q, ctens k, ctens v, const ctens *mask, float scale,
                         bool causal, const int *cu_q, const int *cu_k, int64_t n_seq, int64_t max_tq) {
    const int64_t Tq = cu_q ? max_tq : q.ne[1], nseq = cu_q ? n_seq : q.ne[0];
    const int64_t Hq = q.ne[2], D = q.ne[3], Dv = v.ne[3];
    if (D > 32 * FA_MAXR || Dv > 32 * FA_MAXR) return cudaErrorInvalidValue;
    if (Tq <= 0 || Hq == 0 || nseq == 0) return cudaSuccess;
    const ctens mk = mask ? *mask : q;
    if (!cu_q && Tq == 1 && k.ne[1] >= 64) {
        k_flash_decode<<<dim3((unsigned)Tq, (unsigned)Hq, (unsigned)nseq), FA_WARPS * 32, 0, st>>>(
            dst, q, k, v, mk, mask != NULL, scale, causal);
        return cudaGetLastError();
    }
    const int64_t ks = (D % 2 == 0) ? D + 1 : D;
    const size_t smem = (size_t)(FA_WARPS * D + FA_KT * ks + FA_KT * Dv) * sizeof(float);
    if (smem > 48 * 1024) {
        cudaError_t e = cudaFuncSetAttribute(k_flash, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    k_flash<<<dim3(c_blocks(Tq, FA_WARPS), (unsigned)Hq, (unsigned)nseq), FA_WARPS * 32, smem, st>>>(
        dst, q, k, v, mk, mask != NULL, scale, causal, cu_q, cu_k);
    return cudaGetLastError();
}
