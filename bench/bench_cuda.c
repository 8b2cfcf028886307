/* bench_cuda.c — `senti bench cuda`: the CUDA backend on the current GPU.
 * Ceilings first (device copy bandwidth, cuBLAS bf16 matmul rate at
 * 8192^3), then the hand-written GEMM against cuBLAS at the BERT-base
 * shapes and decode shapes in bf16 / f16 / f32, flash attention against a
 * naive path and the packed variable-length kernel, and a BERT-base-shaped
 * encoder (synthetic weights, 128 tokens) at batch 1 / 32 / 256 with f32,
 * f16 and bf16 matmuls: sequences/s. Medians over --repeats after warm-up;
 * every kernel figure comes with its check against the other path.
 * Compiled to a stub without SENTI_CUDA. */
#include <math.h>
#include <stdlib.h>

#include "bench.h"

#ifndef SENTI_HAVE_CUDA
int bench_cuda(const bench_opts *o) {
    (void)o;
    fprintf(stderr, "senti bench cuda: this build has no CUDA backend (configure with -DSENTI_CUDA=ON)\n");
    return 2;
}
#else
#include "../cuda/cuda.h"

static bool want(const bench_opts *o, const char *name) { return !o->filter || strstr(name, o->filter); }

static void report(const bench_opts *o, const char *kind, const char *name, const cuda_bench_result *r,
                   const char *unit, double ratio) {
    if (o->json)
        printf("{\"bench\":\"cuda\",\"kind\":\"%s\",\"case\":\"%s\",\"median_ms\":%.5f,\"min_ms\":%.5f,\"max_ms\":%.5f,"
               "\"rate\":%.3f,\"unit\":\"%s\",\"max_rel_err\":%.3g,\"vs_cublas\":%.3f}\n",
               kind, name, r->ms_median, r->ms_min, r->ms_max, r->tflops, unit, r->max_rel_err, ratio);
    else
        printf("  %-44s %9.4f ms [%.4f .. %.4f]  %9.2f %-7s err %.2g%s%.2f\n", name, r->ms_median, r->ms_min,
               r->ms_max, r->tflops, unit, r->max_rel_err, ratio > 0 ? "  native/cuBLAS " : "", ratio > 0 ? ratio : 0.0);
}

static int bench_ceilings(const bench_opts *o) {
    cuda_bench_result r;
    if (want(o, "copy")) {
        if (cuda_bench_copy((size_t)2 << 30, o->repeats, &r)) return 1;
        report(o, "ceiling", "copy 2 GiB device-to-device (read+write)", &r, "GB/s", 0);
    }
    if (want(o, "ceiling")) {
        if (cuda_bench_gemm(1, SENTI_TYPE_BF16, 8192, 8192, 8192, o->repeats, &r)) return 1;
        report(o, "ceiling", "cuBLAS bf16 8192x8192x8192", &r, "TFLOP/s", 0);
    }
    return 0;
}

static int bench_gemms(const bench_opts *o) {
    static const int64_t S[][3] = {{4096, 768, 768}, {4096, 3072, 768}, {4096, 768, 3072},
                                   {1, 4096, 4096},  {16, 4096, 4096},  {1, 11008, 4096}};
    static const senti_type T[] = {SENTI_TYPE_BF16, SENTI_TYPE_F16, SENTI_TYPE_F32};
    for (int t = 0; t < 3; t++)
        for (int s = 0; s < 6; s++) {
            char name[96];
            cuda_bench_result nat, blas;
            snprintf(name, sizeof name, "gemm %s M=%lld N=%lld K=%lld", senti_type_name(T[t]), (long long)S[s][0],
                     (long long)S[s][1], (long long)S[s][2]);
            if (!want(o, name)) continue;
            if (cuda_bench_gemm(1, T[t], S[s][0], S[s][1], S[s][2], o->repeats, &blas) ||
                cuda_bench_gemm(0, T[t], S[s][0], S[s][1], S[s][2], o->repeats, &nat))
                return 1;
            char nb[128];
            snprintf(nb, sizeof nb, "%s cuBLAS", name);
            report(o, "gemm", nb, &blas, "TFLOP/s", 0);
            snprintf(nb, sizeof nb, "%s native", name);
            report(o, "gemm", nb, &nat, "TFLOP/s", blas.ms_median / nat.ms_median);
        }
    return 0;
}

static int bench_attn(const bench_opts *o) {
    static const char *impl[] = {"flash", "naive", "flash-varlen"};
    static const int64_t Bs[] = {1, 32, 256};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 3; i++) {
            char name[96];
            cuda_bench_result r;
            snprintf(name, sizeof name, "attention %s B=%lld T=128 H=12 D=64", impl[i], (long long)Bs[b]);
            if (!want(o, name)) continue;
            if (cuda_bench_attention(i, Bs[b], 128, 12, 64, o->repeats, &r)) return 1;
            report(o, "attention", name, &r, "TFLOP/s", 0);
        }
    return 0;
}

/* ---- the encoder: BERT-base shapes, synthetic weights ----------------------------------- */

enum { HID = 768, HEADS = 12, FFN = 3072, VOCAB = 30522, NW = 16 };

typedef struct enc_run {
    senti_exec *ex;
    senti_graph *g;
} enc_run;

static bool enc_forward(void *p) {
    enc_run *r = p;
    return exec_compute(r->ex, r->g) == SENTI_OK;
}

/* a weight leaf [n0, n1] (n0 == 0: a vector [n1]) with random data, owned by *keep */
static senti_tensor *wleaf(senti_graph *g, int64_t n0, int64_t n1, float scale, void **keep, int *n_keep) {
    senti_tensor *t = n0 ? graph_new_tensor_2d(g, SENTI_TYPE_F32, n0, n1) : graph_new_tensor_1d(g, SENTI_TYPE_F32, n1);
    if (!t || !(t->data = senti_malloc(senti_nbytes(t)))) return NULL;
    keep[(*n_keep)++] = t->data;
    t->flags = SENTI_TFLAG_WEIGHT;
    bench_fill(t, scale);
    return t;
}

/* one post-LN encoder layer on x [B, T, 768] */
static senti_tensor *enc_layer(senti_graph *g, senti_tensor *x, senti_tensor *mask, int64_t B, int64_t T, void **keep,
                               int *nk) {
    senti_tensor *w[NW];
    static const int64_t shp[NW][2] = {{HID, HID}, {0, HID}, {HID, HID}, {0, HID}, {HID, HID}, {0, HID},
                                       {HID, HID}, {0, HID}, {0, HID},   {0, HID}, {FFN, HID}, {0, FFN},
                                       {HID, FFN}, {0, HID}, {0, HID},   {0, HID}};
    for (int i = 0; i < NW; i++)
        if (!(w[i] = wleaf(g, shp[i][0], shp[i][1], 0.05f, keep, nk))) return NULL;
    senti_tensor *qkv[3];
    for (int i = 0; i < 3; i++)
        qkv[i] = op_reshape_4d(g, op_add(g, op_matmul(g, x, w[2 * i], false, true), w[2 * i + 1]), B, T, HEADS,
                               HID / HEADS);
    senti_tensor *a = op_attention(g, qkv[0], qkv[1], qkv[2], mask, 0.125f, false);
    a = op_add(g, op_matmul(g, op_reshape_3d(g, a, B, T, HID), w[6], false, true), w[7]);
    x = op_layer_norm(g, op_add(g, x, a), w[8], w[9], 1e-12f);
    senti_tensor *h = op_gelu(g, op_add(g, op_matmul(g, x, w[10], false, true), w[11]));
    h = op_add(g, op_matmul(g, h, w[12], false, true), w[13]);
    return op_layer_norm(g, op_add(g, x, h), w[14], w[15], 1e-12f);
}

static int bench_encoder(const bench_opts *o, const char *dtype, int64_t B) {
    const int64_t T = o->seq_len, L = o->layers;
    char name[96];
    snprintf(name, sizeof name, "encoder bert-base %s batch %lld x %lld", dtype, (long long)B, (long long)T);
    if (!want(o, name)) return 0;
    int rc = 1, nk = 0;
    void **keep = calloc((size_t)(NW * L + 8), sizeof *keep);
    setenv("SENTI_CUDA_DTYPE", dtype, 1);
    senti_backend *be = senti_backend_cuda_init("cuda"), *cpu = senti_backend_cpu_init(o->n_threads);
    unsetenv("SENTI_CUDA_DTYPE");
    senti_exec *ex = be && cpu ? exec_init(be, cpu) : NULL;
    senti_graph *g = graph_init();
    if (!keep || !ex || !g) goto fail;
    senti_tensor *ids = graph_new_tensor_2d(g, SENTI_TYPE_I32, B, T), *pos = graph_new_tensor_1d(g, SENTI_TYPE_I32, T);
    senti_tensor *mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
    senti_tensor *wemb = wleaf(g, VOCAB, HID, 0.05f, keep, &nk), *pemb = wleaf(g, 512, HID, 0.05f, keep, &nk);
    senti_tensor *lw = wleaf(g, 0, HID, 0.05f, keep, &nk), *lb = wleaf(g, 0, HID, 0.05f, keep, &nk);
    senti_tensor *x = op_layer_norm(g, op_add(g, op_get_rows(g, wemb, ids), op_get_rows(g, pemb, pos)), lw, lb, 1e-12f);
    for (int64_t l = 0; l < L && x; l++) x = enc_layer(g, x, mask, B, T, keep, &nk);
    if (!x) goto fail;
    senti_tensor *cls = op_slice(g, x, 1, 0, 1); /* [B, 1, 768]: what a classifier head reads */
    senti_tensor *out = op_cpy(g, cls, SENTI_TYPE_F32);
    graph_set_output(out);
    if (!out || exec_prepare(ex, g) != SENTI_OK) goto fail;
    for (int64_t i = 0; i < B * T; i++) {
        ((int32_t *)ids->data)[i] = (int32_t)((i * 104729) % VOCAB);
        ((float *)mask->data)[i] = 0.0f;
    }
    for (int64_t t = 0; t < T; t++) ((int32_t *)pos->data)[t] = (int32_t)t;
    enc_run r = {ex, g};
    bench_stat s;
    if (!bench_time(enc_forward, &r, o->repeats, &s)) goto fail;
    const double flop = (double)B * L * (2.0 * T * (4.0 * HID * HID + 2.0 * HID * FFN) + 4.0 * (double)T * T * HID);
    const float *y = out->data;
    const bool finite = isfinite(y[0]) && isfinite(y[HID - 1]);
    if (o->json)
        printf("{\"bench\":\"cuda\",\"kind\":\"encoder\",\"case\":\"%s\",\"dtype\":\"%s\",\"batch\":%lld,"
               "\"seq_len\":%lld,\"layers\":%lld,\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"repeats\":%d,"
               "\"seq_per_s\":%.2f,\"tflops\":%.2f,\"finite\":%s}\n",
               name, dtype, (long long)B, (long long)T, (long long)L, s.median, s.min, s.max, s.n,
               (double)B / (s.median * 1e-3), flop / (s.median * 1e-3) * 1e-12, finite ? "true" : "false");
    else
        printf("  %-44s %9.3f ms [%.3f .. %.3f]  %9.1f seq/s  %.1f TFLOP/s  output %s\n", name, s.median, s.min, s.max,
               (double)B / (s.median * 1e-3), flop / (s.median * 1e-3) * 1e-12, finite ? "finite" : "NOT FINITE");
    rc = finite ? 0 : 1;
fail:
    if (rc) fprintf(stderr, "senti bench cuda: %s: %s\n", name, senti_last_error());
    graph_free(g);
    exec_free(ex);
    senti_backend_free(be);
    senti_backend_free(cpu);
    for (int i = 0; i < nk; i++) senti_mfree(keep[i]);
    free(keep);
    return rc;
}

int bench_cuda(const bench_opts *o) {
    char why[200] = "", dev[128];
    if (cuda_device_count(why, sizeof why) == 0) {
        fprintf(stderr, "senti bench cuda: no CUDA device (%s)\n", why);
        return 2;
    }
    int sms = 0;
    cuda_device_info(dev, sizeof dev, &sms);
    if (!o->json)
        printf("senti bench cuda: %s, %d SMs; medians over %d runs; SENTI_MATMUL=%s\n", dev, sms, o->repeats,
               getenv("SENTI_MATMUL") ? getenv("SENTI_MATMUL") : "native");
    if (bench_ceilings(o) || bench_gemms(o) || bench_attn(o)) return 1;
    static const char *dt[] = {"f32", "f16", "bf16"};
    static const int64_t Bs[] = {1, 32, 256};
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 3; b++)
            if (bench_encoder(o, dt[d], Bs[b])) return 1;
    return 0;
}
#endif /* SENTI_HAVE_CUDA */
