/* bench_kernels.cu — kernel benchmarks behind `senti bench cuda`: the
 * hand-written GEMM against cuBLAS on the same operands, flash attention
 * against a naive path (scores through cuBLAS, a softmax kernel), packed
 * variable-length attention, and device copy bandwidth. Each checks its result
 * against the other path before timing; timing is CUDA events around each
 * call, median over repeats after warm-up, on random (never zero) data. */
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda.h"
#include "cuda_int.cuh"

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) {                                                               \
            fprintf(stderr, "cuda bench: %s: %s (line %d)\n", #x, cudaGetErrorString(e_), __LINE__); \
            goto fail;                                                                         \
        }                                                                                      \
    } while (0)

__global__ void k_fill(float *p, int64_t n, uint64_t seed) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + seed;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        p[i] = (float)((double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0);
    }
}

/* [rows, K] f32 -> [rows, Kp] 16-bit, zero padded */
__global__ void k_to16(bool bf, const float *x, uint16_t *y, int64_t rows, int64_t K, int64_t Kp) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < rows * Kp;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / Kp, k = i % Kp;
        const float v = k < K ? x[r * K + k] : 0.0f;
        y[i] = bf ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : __half_as_ushort(__float2half_rn(v));
    }
}

static void fill(float *p, int64_t n, uint64_t seed) { k_fill<<<1024, 256>>>(p, n, seed); }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* max |x - y| / max |y| over n device floats */
static double rel_err(const float *x, const float *y, int64_t n) {
    float *hx = (float *)malloc((size_t)n * 4), *hy = (float *)malloc((size_t)n * 4);
    double m = 0, d = 0;
    if (!hx || !hy || cudaMemcpy(hx, x, (size_t)n * 4, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(hy, y, (size_t)n * 4, cudaMemcpyDeviceToHost) != cudaSuccess) {
        free(hx), free(hy);
        return INFINITY;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(hx[i] == hx[i])) d = INFINITY;
        const double e = fabs((double)hx[i] - hy[i]);
        if (e > d) d = e;
        if (fabs(hy[i]) > m) m = fabs(hy[i]);
    }
    free(hx), free(hy);
    return d / (m > 0 ? m : 1);
}

typedef int (*run_fn)(void *arg);

/* warm up, then `repeats` timed calls; the median and spread in ms */
static int time_it(run_fn fn, void *arg, int repeats, cuda_bench_result *out) {
    cudaEvent_t e0, e1;
    double *ms = (double *)calloc((size_t)repeats, sizeof *ms);
    if (!ms || cudaEventCreate(&e0) != cudaSuccess || cudaEventCreate(&e1) != cudaSuccess) {
        free(ms);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) rc = fn(arg);
    for (int i = 0; i < repeats && rc == 0; i++) {
        cudaEventRecord(e0);
        rc = fn(arg);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float t = 0;
        cudaEventElapsedTime(&t, e0, e1);
        ms[i] = t;
    }
    if (rc == 0 && cudaDeviceSynchronize() != cudaSuccess) rc = -1;
    if (rc == 0) {
        qsort(ms, (size_t)repeats, sizeof *ms, cmp_d);
        out->ms_min = ms[0], out->ms_max = ms[repeats - 1];
        out->ms_median = repeats % 2 ? ms[repeats / 2] : 0.5 * (ms[repeats / 2 - 1] + ms[repeats / 2]);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    free(ms);
    return rc;
}

/* ---- GEMM ------------------------------------------------------------------------ */

typedef struct gemm_arg {
    int impl, t16;
    int64_t M, N, K, Kp;
    const void *A, *B;
    float *C;
    cublasHandle_t h;
} gemm_arg;

static int gemm_run(void *p) {
    gemm_arg *g = (gemm_arg *)p;
    const float one = 1.0f, zero = 0.0f;
    if (g->impl == 0) {
        const cu_gemm_epi epi = {NULL, ACT_NONE};
        cudaError_t e = g->t16 ? cu_gemm_tc(0, g->t16, g->A, g->B, g->C, g->M, g->N, g->Kp, 1, epi)
                               : cu_gemm_f32_tn(0, (const float *)g->A, (const float *)g->B, g->C, g->M, g->N, g->K);
        return e == cudaSuccess ? 0 : -1;
    }
    cublasStatus_t s;
    if (!g->t16)
        s = cublasSgemm(g->h, CUBLAS_OP_T, CUBLAS_OP_N, (int)g->N, (int)g->M, (int)g->K, &one, (const float *)g->B,
                        (int)g->K, (const float *)g->A, (int)g->K, &zero, g->C, (int)g->N);
    else {
        const cudaDataType dt = g->t16 == SENTI_TYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
        s = cublasGemmEx(g->h, CUBLAS_OP_T, CUBLAS_OP_N, (int)g->N, (int)g->M, (int)g->Kp, &one, g->B, dt, (int)g->Kp,
                         g->A, dt, (int)g->Kp, &zero, g->C, CUDA_R_32F, (int)g->N, CUBLAS_COMPUTE_32F,
                         CUBLAS_GEMM_DEFAULT);
    }
    return s == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

extern "C" int cuda_bench_gemm(int impl, senti_type dtype, int64_t M, int64_t N, int64_t K, int repeats,
                               cuda_bench_result *out) {
    int rc = -1;
    const int t16 = dtype == SENTI_TYPE_F32 ? 0 : (int)dtype;
    const int64_t Kp = t16 ? cu_mm_kpad(K) : K;
    float *fa = NULL, *fb = NULL, *c0 = NULL, *c1 = NULL;
    void *a16 = NULL, *b16 = NULL;
    cublasHandle_t h = NULL;
    gemm_arg g = {impl, t16, M, N, K, Kp, NULL, NULL, NULL, NULL};
    memset(out, 0, sizeof *out);
    CK(cudaMalloc((void **)&fa, (size_t)(M * K) * 4));
    CK(cudaMalloc((void **)&fb, (size_t)(N * K) * 4));
    CK(cudaMalloc((void **)&c0, (size_t)(M * N) * 4));
    CK(cudaMalloc((void **)&c1, (size_t)(M * N) * 4));
    fill(fa, M * K, 1), fill(fb, N * K, 2);
    g.A = fa, g.B = fb;
    if (t16) {
        CK(cudaMalloc(&a16, (size_t)(M * Kp) * 2));
        CK(cudaMalloc(&b16, (size_t)(N * Kp) * 2));
        k_to16<<<1024, 256>>>(t16 == SENTI_TYPE_BF16, fa, (uint16_t *)a16, M, K, Kp);
        k_to16<<<1024, 256>>>(t16 == SENTI_TYPE_BF16, fb, (uint16_t *)b16, N, K, Kp);
        g.A = a16, g.B = b16;
    }
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) goto fail;
    g.h = h;
    /* both paths once, compared: impl against the other */
    g.C = c0, g.impl = impl;
    CK(cudaMemset(c0, 0xff, (size_t)(M * N) * 4));
    if (gemm_run(&g)) goto fail;
    g.C = c1, g.impl = 1 - impl;
    if (gemm_run(&g)) goto fail;
    CK(cudaDeviceSynchronize());
    out->max_rel_err = rel_err(c0, c1, M * N);
    g.C = c0, g.impl = impl;
    if (time_it(gemm_run, &g, repeats, out)) goto fail;
    out->tflops = 2.0 * (double)M * (double)N * (double)K / (out->ms_median * 1e-3) / 1e12;
    rc = 0;
fail:
    if (h) cublasDestroy(h);
    cudaFree(fa), cudaFree(fb), cudaFree(c0), cudaFree(c1), cudaFree(a16), cudaFree(b16);
    return rc;
}

/* ---- attention --------------------------------------------------------------------- */

typedef struct attn_arg {
    int impl;
    int64_t B, T, H, D;
    ctens q, k, v, mask, out, qp, kp, vp, outp, S;
    int *cu;
    int64_t total;
    cublasHandle_t h;
} attn_arg;

static ctens dense4(void *p, int64_t a, int64_t b, int64_t c, int64_t d) {
    ctens t = {};
    t.data = (char *)p, t.type = SENTI_TYPE_F32;
    t.ne[0] = a, t.ne[1] = b, t.ne[2] = c, t.ne[3] = d;
    t.nb[3] = 4, t.nb[2] = 4 * d, t.nb[1] = 4 * d * c, t.nb[0] = 4 * d * c * b;
    return t;
}

static int attn_run(void *p) {
    attn_arg *a = (attn_arg *)p;
    const float scale = 1.0f / sqrtf((float)a->D);
    if (a->impl == 0) return cu_attention(0, a->out, a->q, a->k, a->v, &a->mask, scale, false, NULL, NULL, 0, 0) ? -1 : 0;
    if (a->impl == 2)
        return cu_attention(0, a->outp, a->qp, a->kp, a->vp, NULL, scale, false, a->cu, a->cu, a->B, a->T) ? -1 : 0;
    /* naive: S[b,h] = Q_h K_h^T (T x T), softmax with the mask, O_h = P V_h */
    const float one = 1.0f, zero = 0.0f;
    const int T = (int)a->T, D = (int)a->D, HD = (int)(a->H * a->D);
    for (int64_t b = 0; b < a->B; b++) {
        const float *q = (const float *)a->q.data + b * a->T * HD, *k = (const float *)a->k.data + b * a->T * HD;
        float *s = (float *)a->S.data + b * a->H * a->T * a->T;
        if (cublasSgemmStridedBatched(a->h, CUBLAS_OP_T, CUBLAS_OP_N, T, T, D, &one, k, HD, D, q, HD, D, &zero, s, T,
                                      (long long)T * T, (int)a->H) != CUBLAS_STATUS_SUCCESS)
            return -1;
    }
    if (cu_softmax(0, scale, a->S, a->S, &a->mask) != cudaSuccess) return -1;
    for (int64_t b = 0; b < a->B; b++) {
        const float *v = (const float *)a->v.data + b * a->T * HD, *s = (const float *)a->S.data + b * a->H * a->T * a->T;
        float *o = (float *)a->out.data + b * a->T * HD;
        if (cublasSgemmStridedBatched(a->h, CUBLAS_OP_N, CUBLAS_OP_N, D, T, T, &one, v, HD, D, s, T, (long long)T * T,
                                      &zero, o, HD, D, (int)a->H) != CUBLAS_STATUS_SUCCESS)
            return -1;
    }
    return 0;
}

__global__ void k_mask(float *m, const int *len, int64_t B, int64_t T) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < B * T; i += (int64_t)gridDim.x * blockDim.x)
        m[i] = (i % T) < len[i / T] ? 0.0f : -INFINITY;
}

/* packed rows <- padded rows (b, i < len_b) */
__global__ void k_pack_rows(const float *x, float *y, const int *cu, int64_t B, int64_t T, int64_t HD) {
    const int64_t b = blockIdx.y;
    for (int64_t i = blockIdx.x; i < cu[b + 1] - cu[b]; i += gridDim.x)
        for (int64_t d = threadIdx.x; d < HD; d += blockDim.x) y[(cu[b] + i) * HD + d] = x[(b * T + i) * HD + d];
}

extern "C" int cuda_bench_attention(int impl, int64_t B, int64_t T, int64_t H, int64_t D, int repeats,
                                    cuda_bench_result *out) {
    int rc = -1;
    const int64_t n = B * T * H * D;
    float *q = NULL, *k = NULL, *v = NULL, *o0 = NULL, *o1 = NULL, *mask = NULL, *S = NULL;
    float *qp = NULL, *kp = NULL, *vp = NULL, *op = NULL, *ref = NULL;
    int *len = NULL, *cu = NULL, *hlen = (int *)malloc((size_t)B * sizeof(int)), *hcu = (int *)malloc((size_t)(B + 1) * sizeof(int));
    cublasHandle_t h = NULL;
    attn_arg a = {};
    memset(out, 0, sizeof *out);
    if (!hlen || !hcu) goto fail;
    hcu[0] = 0;
    for (int64_t b = 0; b < B; b++) { /* lengths T, and shorter every other sequence */
        hlen[b] = (int)(b % 2 ? T - (b * 7) % (T / 2 > 0 ? T / 2 : 1) : T);
        hcu[b + 1] = hcu[b] + hlen[b];
    }
    CK(cudaMalloc((void **)&q, (size_t)n * 4));
    CK(cudaMalloc((void **)&k, (size_t)n * 4));
    CK(cudaMalloc((void **)&v, (size_t)n * 4));
    CK(cudaMalloc((void **)&o0, (size_t)n * 4));
    CK(cudaMalloc((void **)&o1, (size_t)n * 4));
    CK(cudaMalloc((void **)&mask, (size_t)(B * T) * 4));
    CK(cudaMalloc((void **)&len, (size_t)B * sizeof(int)));
    CK(cudaMalloc((void **)&cu, (size_t)(B + 1) * sizeof(int)));
    CK(cudaMemcpy(len, hlen, (size_t)B * sizeof(int), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(cu, hcu, (size_t)(B + 1) * sizeof(int), cudaMemcpyHostToDevice));
    fill(q, n, 11), fill(k, n, 12), fill(v, n, 13);
    k_mask<<<256, 256>>>(mask, len, B, T);
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) goto fail;
    a.B = B, a.T = T, a.H = H, a.D = D, a.h = h, a.cu = cu, a.total = hcu[B];
    a.q = dense4(q, B, T, H, D), a.k = dense4(k, B, T, H, D), a.v = dense4(v, B, T, H, D);
    a.mask = dense4(mask, B, 1, 1, T);
    if (impl == 1) {
        CK(cudaMalloc((void **)&S, (size_t)(B * H * T * T) * 4));
        a.S = dense4(S, B, H, T, T);
    }
    if (impl == 2) {
        const int64_t tot = hcu[B];
        CK(cudaMalloc((void **)&qp, (size_t)(tot * H * D) * 4));
        CK(cudaMalloc((void **)&kp, (size_t)(tot * H * D) * 4));
        CK(cudaMalloc((void **)&vp, (size_t)(tot * H * D) * 4));
        CK(cudaMalloc((void **)&op, (size_t)(tot * H * D) * 4));
        CK(cudaMalloc((void **)&ref, (size_t)(tot * H * D) * 4));
        k_pack_rows<<<dim3(64, (unsigned)B), 256>>>(q, qp, cu, B, T, H * D);
        k_pack_rows<<<dim3(64, (unsigned)B), 256>>>(k, kp, cu, B, T, H * D);
        k_pack_rows<<<dim3(64, (unsigned)B), 256>>>(v, vp, cu, B, T, H * D);
        a.qp = dense4(qp, 1, tot, H, D), a.kp = dense4(kp, 1, tot, H, D), a.vp = dense4(vp, 1, tot, H, D);
        a.outp = dense4(op, 1, tot, H, D);
    }
    /* check: impl's output against flash (or, for flash, against naive) */
    a.out = dense4(o0, B, T, H, D);
    a.impl = impl;
    if (impl == 1 && !S) goto fail;
    if (attn_run(&a)) goto fail;
    if (impl == 0) { /* the naive path needs S */
        CK(cudaMalloc((void **)&S, (size_t)(B * H * T * T) * 4));
        a.S = dense4(S, B, H, T, T);
    }
    a.out = dense4(o1, B, T, H, D);
    a.impl = impl == 0 ? 1 : 0;
    if (attn_run(&a)) goto fail;
    CK(cudaDeviceSynchronize());
    if (impl == 2) { /* packed rows vs the padded flash output's real rows */
        k_pack_rows<<<dim3(64, (unsigned)B), 256>>>(o1, ref, cu, B, T, H * D);
        CK(cudaDeviceSynchronize());
        out->max_rel_err = rel_err(op, ref, hcu[B] * H * D);
    } else {
        /* rows of padded queries are compared too: both paths attend over the real keys */
        out->max_rel_err = rel_err(o0, o1, n);
    }
    a.out = dense4(o0, B, T, H, D);
    a.impl = impl;
    if (time_it(attn_run, &a, repeats, out)) goto fail;
    {
        const double keys = impl == 2 ? 0 : (double)B * T * T;
        double flops = 4.0 * H * D * keys;
        if (impl == 2)
            for (int64_t b = 0; b < B; b++) flops += 4.0 * H * D * (double)hlen[b] * hlen[b];
        out->tflops = flops / (out->ms_median * 1e-3) / 1e12;
    }
    rc = 0;
fail:
    if (h) cublasDestroy(h);
    cudaFree(q), cudaFree(k), cudaFree(v), cudaFree(o0), cudaFree(o1), cudaFree(mask), cudaFree(S);
    cudaFree(qp), cudaFree(kp), cudaFree(vp), cudaFree(op), cudaFree(ref), cudaFree(len), cudaFree(cu);
    free(hlen), free(hcu);
    return rc;
}

/* ---- copy bandwidth ------------------------------------------------------------------ */

typedef struct copy_arg {
    void *a, *b;
    size_t n;
} copy_arg;

static int copy_run(void *p) {
    copy_arg *c = (copy_arg *)p;
    return cudaMemcpyAsync(c->b, c->a, c->n, cudaMemcpyDeviceToDevice, 0) == cudaSuccess ? 0 : -1;
}

extern "C" int cuda_bench_copy(size_t bytes, int repeats, cuda_bench_result *out) {
    int rc = -1;
    copy_arg c = {NULL, NULL, bytes};
    memset(out, 0, sizeof *out);
    CK(cudaMalloc(&c.a, bytes));
    CK(cudaMalloc(&c.b, bytes));
    fill((float *)c.a, (int64_t)(bytes / 4), 3);
    if (time_it(copy_run, &c, repeats, out)) goto fail;
    out->tflops = 2.0 * (double)bytes / (out->ms_median * 1e-3) / 1e9; /* GB/s, read + write */
    rc = 0;
fail:
    cudaFree(c.a), cudaFree(c.b);
    return rc;
}

extern "C" void cuda_device_info(char *name, size_t n, int *sms) {
    cudaDeviceProp p;
    int dev = 0;
    cudaGetDevice(&dev);
    if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        snprintf(name, n, "unknown");
        *sms = 0;
        return;
    }
    snprintf(name, n, "%s", p.name);
    *sms = p.multiProcessorCount;
}
