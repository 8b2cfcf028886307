/* kern_elem.cu — the memory-bound ops on the GPU: broadcasting add / mul,
 * scale and activations, layer / RMS norm, softmax, rope, get_rows, cpy,
 * concat. Each follows kernels/ref.c exactly (same broadcasting, same
 * parameters), accumulating in f32 (rope's angle in f64, as the reference).
 *
 * Invariant: dst is contiguous; sources are read through their byte strides,
 * so views need no copies. One thread per element for the element-wise ops,
 * one block per row for the row reductions. */
#include "cuda_int.cuh"

/* ---- element-wise ----------------------------------------------------------- */

__global__ void k_binary(int op, ctens dst, ctens a, ctens b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t i0, i1, i2, i3;
        c_unflat(dst.ne, i, &i0, &i1, &i2, &i3);
        const float x = *(const float *)(a.data + c_bcast(a, i0, i1, i2, i3));
        const float y = *(const float *)(b.data + c_bcast(b, i0, i1, i2, i3));
        ((float *)dst.data)[i] = op == SENTI_OP_ADD ? x + y : x * y;
    }
}

/* both sources dense with dst's shape, or b a [N] row broadcast: the fast path */
__global__ void k_binary_rows(int op, float *dst, const float *a, const float *b, int64_t n, int64_t nb_row) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float y = b[nb_row ? i % nb_row : i];
        dst[i] = op == SENTI_OP_ADD ? a[i] + y : a[i] * y;
    }
}

static bool dense_f32(const ctens &t) {
    return t.type == SENTI_TYPE_F32 && t.nb[3] == 4 && t.nb[2] == 4 * t.ne[3] && t.nb[1] == t.nb[2] * t.ne[2] &&
           t.nb[0] == t.nb[1] * t.ne[1];
}
static bool same_shape(const ctens &x, const ctens &y) {
    return x.ne[0] == y.ne[0] && x.ne[1] == y.ne[1] && x.ne[2] == y.ne[2] && x.ne[3] == y.ne[3];
}

cudaError_t cu_binary(cudaStream_t st, int op, ctens dst, ctens a, ctens b) {
    const int64_t n = dst.ne[0] * dst.ne[1] * dst.ne[2] * dst.ne[3];
    if (n == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n, 256) > 65536 ? 65536 : c_blocks(n, 256);
    if (dense_f32(a) && same_shape(a, dst)) {
        if (dense_f32(b) && same_shape(b, dst)) {
            k_binary_rows<<<grid, 256, 0, st>>>(op, (float *)dst.data, (const float *)a.data, (const float *)b.data, n, 0);
            return cudaGetLastError();
        }
        if (b.ne[0] == 1 && b.ne[1] == 1 && b.ne[2] == 1 && b.ne[3] == dst.ne[3] && b.nb[3] == 4) {
            k_binary_rows<<<grid, 256, 0, st>>>(op, (float *)dst.data, (const float *)a.data, (const float *)b.data, n,
                                                dst.ne[3]);
            return cudaGetLastError();
        }
    }
    k_binary<<<grid, 256, 0, st>>>(op, dst, a, b, n);
    return cudaGetLastError();
}

__global__ void k_unary(int act, float scale, ctens dst, ctens x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t i0, i1, i2, i3;
        c_unflat(dst.ne, i, &i0, &i1, &i2, &i3);
        const float v = c_get(x, i0, i1, i2, i3);
        ((float *)dst.data)[i] = act == ACT_NONE ? v * scale : c_act(act, v);
    }
}

cudaError_t cu_unary(cudaStream_t st, int act, float scale, ctens dst, ctens x) {
    const int64_t n = dst.ne[0] * dst.ne[1] * dst.ne[2] * dst.ne[3];
    if (n == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n, 256) > 65536 ? 65536 : c_blocks(n, 256);
    k_unary<<<grid, 256, 0, st>>>(act, scale, dst, x, n);
    return cudaGetLastError();
}

/* ---- block reductions ------------------------------------------------------- */

/* sum (or max) over the block; every thread gets the result. sh: 32 floats */
__device__ float block_reduce(float v, bool is_max, float *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = is_max ? c_warp_max(v) : c_warp_sum(v);
    __syncthreads(); /* sh may still be read from a previous call */
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float r = lane < nw ? sh[lane] : (is_max ? -INFINITY : 0.0f);
    r = is_max ? c_warp_max(r) : c_warp_sum(r);
    return r;
}

/* ---- norms ------------------------------------------------------------------ */

/* one block per row (i0,i1,i2); two passes: mean, then the centred variance */
__global__ void k_norm(bool rms, float eps, ctens dst, ctens x, ctens w, ctens b, bool has_w, bool has_b) {
    __shared__ float sh[32];
    const int64_t row = blockIdx.x, D = dst.ne[3];
    const int64_t i2 = row % dst.ne[2], i1 = (row / dst.ne[2]) % dst.ne[1], i0 = row / (dst.ne[2] * dst.ne[1]);
    const char *xr = x.data + i0 * x.nb[0] + i1 * x.nb[1] + i2 * x.nb[2];
    float *y = (float *)dst.data + row * D;
    float mean = 0.0f;
    if (!rms) {
        float s = 0.0f;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += c_row_elem(x.type, xr + i * x.nb[3], 0);
        mean = block_reduce(s, false, sh) / (float)D;
    }
    float ss = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        const float d = c_row_elem(x.type, xr + i * x.nb[3], 0) - mean;
        ss += d * d;
    }
    const float inv = rsqrtf(block_reduce(ss, false, sh) / (float)D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        float v = (c_row_elem(x.type, xr + i * x.nb[3], 0) - mean) * inv;
        if (has_w) v *= c_row_elem(w.type, w.data + i * w.nb[3], 0);
        if (has_b) v += c_row_elem(b.type, b.data + i * b.nb[3], 0);
        y[i] = v;
    }
}

cudaError_t cu_layer_norm(cudaStream_t st, bool rms, float eps, ctens dst, ctens x, const ctens *w, const ctens *b) {
    const int64_t rows = dst.ne[0] * dst.ne[1] * dst.ne[2];
    if (rows == 0 || dst.ne[3] == 0) return cudaSuccess;
    const int threads = dst.ne[3] >= 1024 ? 512 : dst.ne[3] >= 256 ? 256 : 128;
    ctens none = x;
    k_norm<<<(unsigned)rows, threads, 0, st>>>(rms, eps, dst, x, w ? *w : none, b ? *b : none, w != NULL, b != NULL);
    return cudaGetLastError();
}

/* ---- softmax ---------------------------------------------------------------- */

__global__ void k_softmax(float scale, ctens dst, ctens x, ctens mask, bool has_mask) {
    __shared__ float sh[32];
    const int64_t row = blockIdx.x, n = dst.ne[3];
    const int64_t i2 = row % dst.ne[2], i1 = (row / dst.ne[2]) % dst.ne[1], i0 = row / (dst.ne[2] * dst.ne[1]);
    const char *xr = x.data + i0 * x.nb[0] + i1 * x.nb[1] + i2 * x.nb[2];
    float *y = (float *)dst.data + row * n;
    /* pass 1: s = x*scale + mask into y, and the max */
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        float s = c_row_elem(x.type, xr + j * x.nb[3], 0) * scale;
        if (has_mask) s += *(const float *)(mask.data + c_bcast(mask, i0, i1, i2, j));
        y[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = block_reduce(mx, true, sh);
    if (mx == -INFINITY) { /* every entry masked: zeros */
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) y[j] = 0.0f;
        return;
    }
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        const float e = expf(y[j] - mx);
        y[j] = e;
        sum += e;
    }
    const float inv = 1.0f / block_reduce(sum, false, sh);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) y[j] *= inv;
}

cudaError_t cu_softmax(cudaStream_t st, float scale, ctens dst, ctens x, const ctens *mask) {
    const int64_t rows = dst.ne[0] * dst.ne[1] * dst.ne[2];
    if (rows == 0 || dst.ne[3] == 0) return cudaSuccess;
    const int threads = dst.ne[3] >= 1024 ? 512 : dst.ne[3] >= 256 ? 256 : 128;
    k_softmax<<<(unsigned)rows, threads, 0, st>>>(scale, dst, x, mask ? *mask : x, mask != NULL);
    return cudaGetLastError();
}

/* ---- rope ------------------------------------------------------------------- */

/* one thread per (row, pair); rows (i0=b, i1=t, i2=h); pass-through dims by
 * the threads of pairs >= n_rot/2 */
__global__ void k_rope(ctens dst, ctens x, ctens pos, ctens ff, bool has_ff, int n_rot, bool inter, double theta,
                       double freq_scale, int64_t n) {
    const int64_t D = dst.ne[3], half = n_rot / 2, per_row = (D + 1) / 2 > half ? (D + 1) / 2 : half;
    for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < n;
         idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t row = idx / per_row, i = idx % per_row;
        const int64_t i2 = row % dst.ne[2], i1 = (row / dst.ne[2]) % dst.ne[1], i0 = row / (dst.ne[2] * dst.ne[1]);
        float *y = (float *)dst.data + row * D;
        if (i < half) {
            const int32_t p = *(const int32_t *)(pos.data + c_bcast(pos, 0, 0, i0, i1));
            double angle = (double)p * freq_scale * pow(theta, -2.0 * (double)i / (double)n_rot);
            if (has_ff) angle /= (double)c_row_elem(ff.type, ff.data + i * ff.nb[3], 0);
            const int64_t k0 = inter ? 2 * i : i, k1 = inter ? 2 * i + 1 : i + half;
            const double x0 = c_get(x, i0, i1, i2, k0), x1 = c_get(x, i0, i1, i2, k1);
            double s, c;
            sincos(angle, &s, &c);
            y[k0] = (float)(x0 * c - x1 * s);
            y[k1] = (float)(x0 * s + x1 * c);
        }
        /* pass-through dims n_rot..D-1: two per thread */
        for (int64_t k = n_rot + 2 * i; k < D && k < n_rot + 2 * i + 2; k++) y[k] = c_get(x, i0, i1, i2, k);
    }
}

cudaError_t cu_rope(cudaStream_t st, ctens dst, ctens x, ctens pos, const ctens *ff, int n_rot, bool interleaved,
                    float theta, float freq_scale) {
    const int64_t rows = dst.ne[0] * dst.ne[1] * dst.ne[2], D = dst.ne[3], half = n_rot / 2;
    const int64_t per_row = (D + 1) / 2 > half ? (D + 1) / 2 : half;
    const int64_t n = rows * per_row;
    if (n == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n, 256) > 65536 ? 65536 : c_blocks(n, 256);
    k_rope<<<grid, 256, 0, st>>>(dst, x, pos, ff ? *ff : x, ff != NULL, n_rot, interleaved, (double)theta,
                                 (double)freq_scale, n);
    return cudaGetLastError();
}

/* ---- get_rows --------------------------------------------------------------- */

/* one block per output row; a bad id sets *err to id+1 (first writer wins
 * is not guaranteed: any bad id) and writes zeros */
__global__ void k_get_rows(ctens dst, ctens table, ctens ids, int *err) {
    const int64_t row = blockIdx.x, D = dst.ne[3], V = table.ne[2];
    const int64_t i2 = row % dst.ne[2], i1 = (row / dst.ne[2]) % dst.ne[1], i0 = row / (dst.ne[2] * dst.ne[1]);
    const int32_t id = *(const int32_t *)(ids.data + i0 * ids.nb[1] + i1 * ids.nb[2] + i2 * ids.nb[3]);
    float *y = (float *)dst.data + row * D;
    if (id < 0 || id >= V) {
        if (threadIdx.x == 0) atomicCAS(err, 0, 1);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) y[i] = 0.0f;
        return;
    }
    const char *src = table.data + (int64_t)id * table.nb[2];
    const bool quant = table.type == SENTI_TYPE_Q8_0 || table.type == SENTI_TYPE_Q4_0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
        y[i] = quant ? c_row_elem(table.type, src, i) : c_row_elem(table.type, src + i * table.nb[3], 0);
}

cudaError_t cu_get_rows(cudaStream_t st, ctens dst, ctens table, ctens ids, int *err_flag) {
    const int64_t rows = dst.ne[0] * dst.ne[1] * dst.ne[2];
    if (rows == 0 || dst.ne[3] == 0) return cudaSuccess;
    k_get_rows<<<(unsigned)rows, dst.ne[3] >= 256 ? 256 : 128, 0, st>>>(dst, table, ids, err_flag);
    return cudaGetLastError();
}

/* ---- cpy and concat --------------------------------------------------------- */

__device__ __forceinline__ void c_store(int type, char *p, int64_t i, float v) {
    switch (type) {
    case SENTI_TYPE_F32: ((float *)p)[i] = v; break;
    case SENTI_TYPE_F16: ((__half *)p)[i] = __float2half_rn(v); break;
    case SENTI_TYPE_BF16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v); break;
    case SENTI_TYPE_I32: ((int32_t *)p)[i] = (int32_t)rintf(v); break;
    }
}

/* f32/f16/bf16 -> f32/f16/bf16 (one rounding), i32 -> i32 bit copy */
__global__ void k_cpy(ctens dst, ctens x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t i0, i1, i2, i3;
        c_unflat(dst.ne, i, &i0, &i1, &i2, &i3);
        const char *s = x.data + i0 * x.nb[0] + i1 * x.nb[1] + i2 * x.nb[2] + i3 * x.nb[3];
        if (x.type == SENTI_TYPE_I32) ((int32_t *)dst.data)[i] = *(const int32_t *)s;
        else c_store(dst.type, dst.data, i, c_row_elem(x.type, s, 0));
    }
}

cudaError_t cu_cpy(cudaStream_t st, ctens dst, ctens x) {
    const int64_t n = dst.ne[0] * dst.ne[1] * dst.ne[2] * dst.ne[3];
    if (n == 0) return cudaSuccess;
    const unsigned grid = c_blocks(n, 256) > 65536 ? 65536 : c_blocks(n, 256);
    k_cpy<<<grid, 256, 0, st>>>(dst, x, n);
    return cudaGetLastError();
}

/* bytewise, element size es */
__global__ void k_concat(ctens dst, ctens a, ctens b, int dim, int es, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t idx[4];
        c_unflat(dst.ne, i, &idx[0], &idx[1], &idx[2], &idx[3]);
        const ctens *s = &a;
        if (idx[dim] >= a.ne[dim]) {
            idx[dim] -= a.ne[dim];
            s = &b;
        }
        const char *p = s->data + idx[0] * s->nb[0] + idx[1] * s->nb[1] + idx[2] * s->nb[2] + idx[3] * s->nb[3];
        char *q = dst.data + i * es;
        if (es == 4) *(uint32_t *)q = *(const uint32_t *)p;
        else *(uint16_t *)q = *(const uint16_t *)p;
    }
}

cudaError_t cu_concat(cudaStream_t st, ctens dst, ctens a, ctens b, int dim) {
    const int64_t n = dst.ne[0] * dst.ne[1] * dst.ne[2] * dst.ne[3];
    if (n == 0) return cudaSuccess;
    const int es = dst.type == SENTI_TYPE_F16 || dst.type == SENTI_TYPE_BF16 ? 2 : 4;
    const unsigned grid = c_blocks(n, 256) > 65536 ? 65536 : c_blocks(n, 256);
    k_concat<<<grid, 256, 0, st>>>(dst, a, b, dim, es, n);
    return cudaGetLastError();
}
