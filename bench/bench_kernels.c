/* bench_kernels.c — `senti bench kernels`: matmul GFLOP/s hand-written vs
 * OpenBLAS for every weight type at the BERT-base and decode shapes, GB/s of
 * the memory-bound ops, fused vs unfused attention, and the machine's
 * measured memory bandwidth as the roofline beside them. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "bench.h"

typedef struct {
    senti_backend *be;
    cpu_ctx *ctx;
    senti_exec *ex;
    const bench_opts *o;
    int n_out;
    double read_gbps; /* measured roofline, for the % column */
} kb;

static void report(kb *k, const char *name, const char *impl, bench_stat s, double flop, double bytes) {
    const double sec = s.median * 1e-3;
    const double gflops = flop > 0 ? flop / sec * 1e-9 : 0, gbps = bytes > 0 ? bytes / sec * 1e-9 : 0;
    if (k->o->json) {
        printf("%s    {\"name\":\"%s\",\"impl\":\"%s\",\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"n\":%d",
               k->n_out++ ? ",\n" : "", name, impl, s.median, s.min, s.max, s.n);
        if (flop > 0) printf(",\"gflops\":%.2f", gflops);
        if (bytes > 0) printf(",\"gbps\":%.2f", gbps);
        printf("}");
    } else {
        printf("%-34s %-8s %10.3f ms  [%8.3f .. %8.3f]", name, impl, s.median, s.min, s.max);
        if (flop > 0) printf("  %8.1f GFLOP/s", gflops);
        if (bytes > 0) printf("  %7.1f GB/s", gbps);
        if (bytes > 0 && k->read_gbps > 0) printf(" (%3.0f%% of read bw)", 100.0 * gbps / k->read_gbps);
        printf("\n");
    }
    fflush(stdout);
}

static bool wanted(const kb *k, const char *name) { return !k->o->filter || strstr(name, k->o->filter); }

/* ---- memory roofline ------------------------------------------------------ */

typedef struct { float *a, *b; size_t n; int nth; double sink; } mem_arg;

static bool mem_read(void *p) {
    mem_arg *m = p;
    double total = 0;
#pragma omp parallel for num_threads(m->nth) reduction(+ : total) schedule(static)
    for (size_t blk = 0; blk < m->n / 4096; blk++) {
        float acc[16] = {0};
        const float *x = m->a + blk * 4096;
        for (int i = 0; i < 4096; i += 16)
            for (int j = 0; j < 16; j++) acc[j] += x[i + j];
        for (int j = 0; j < 16; j++) total += acc[j];
    }
    m->sink += total;
    return true;
}

static bool mem_copy(void *p) {
    mem_arg *m = p;
#pragma omp parallel for num_threads(m->nth) schedule(static)
    for (size_t blk = 0; blk < m->n / 4096; blk++) memcpy(m->b + blk * 4096, m->a + blk * 4096, 4096 * sizeof(float));
    return true;
}

static void bench_memory(kb *k) {
    mem_arg m = {0};
    m.n = (size_t)64 << 20; /* 256 MiB of f32 */
    m.nth = k->ctx->n_threads;
    m.a = senti_malloc(m.n * sizeof(float));
    m.b = senti_malloc(m.n * sizeof(float));
    if (!m.a || !m.b) goto done;
    for (size_t i = 0; i < m.n; i++) m.a[i] = 1.0f, m.b[i] = 0.0f;
    bench_stat s;
    if (bench_time(mem_read, &m, k->o->repeats, &s)) {
        k->read_gbps = 0;
        report(k, "mem_read_256MiB", "roofline", s, 0, (double)m.n * 4);
        k->read_gbps = (double)m.n * 4 / (s.median * 1e-3) * 1e-9;
    }
    if (bench_time(mem_copy, &m, k->o->repeats, &s)) report(k, "mem_copy_256MiB", "roofline", s, 0, (double)m.n * 8);
done:
    senti_mfree(m.a);
    senti_mfree(m.b);
}

double bench_read_gbps(int n_threads, int repeats, bench_stat *st) {
    mem_arg m = {0};
    m.n = (size_t)64 << 20; /* 256 MiB of f32 */
    m.nth = n_threads;
    double gbps = 0;
    m.a = senti_malloc(m.n * sizeof(float));
    if (m.a) {
        for (size_t i = 0; i < m.n; i++) m.a[i] = 1.0f;
        if (bench_time(mem_read, &m, repeats, st)) gbps = (double)m.n * 4 / (st->median * 1e-3) * 1e-9;
    }
    senti_mfree(m.a);
    return gbps;
}

/* ---- graph cases ---------------------------------------------------------- */

typedef struct { senti_exec *ex; senti_graph *g; } run_arg;
static bool run_graph(void *p) {
    run_arg *r = p;
    if (exec_compute(r->ex, r->g) != SENTI_OK) {
        fprintf(stderr, "bench: %s\n", senti_last_error());
        return false;
    }
    return true;
}

static bool prepare(senti_exec *ex, senti_graph *g) {
    if (exec_prepare(ex, g) != SENTI_OK) {
        fprintf(stderr, "bench: %s\n", senti_last_error());
        return false;
    }
    for (int i = 0; i < g->n_leafs; i++) bench_fill(g->leafs[i], 1.0f);
    return true;
}

/* Decode shapes stream their weight: one graph holds enough independent
 * copies (>= 256 MiB in all) that no copy is still in the last-level cache
 * when its turn comes again; the time per product is the graph's / copies. */
static void bench_matmul(kb *k, const char *label, int64_t batch, int64_t M, int64_t N, int64_t K, senti_type wt,
                         bool trans_b, bool weight_2d) {
    char name[96];
    snprintf(name, sizeof name, "matmul_%s_%lldx%lldx%lld_%s", label, (long long)M, (long long)N, (long long)K,
             senti_type_name(wt));
    if (!wanted(k, name)) return;
    const bool decode = M <= 16;
    const size_t wbytes = senti_row_size(wt, K) * (size_t)N * (size_t)(weight_2d ? 1 : batch);
    const int copies = decode ? (int)(((size_t)256 << 20) / (wbytes ? wbytes : 1)) + 1 : 1;
    senti_graph *g = graph_init();
    senti_tensor *a = graph_new_tensor_3d(g, SENTI_TYPE_F32, batch, M, K), *c = a;
    for (int i = 0; i < copies && c; i++) {
        senti_tensor *b = weight_2d ? graph_new_tensor_2d(g, wt, N, K)
                                    : (trans_b ? graph_new_tensor_3d(g, wt, batch, N, K) : graph_new_tensor_3d(g, wt, batch, K, N));
        if (b && weight_2d) b->flags |= SENTI_TFLAG_CONST; /* a model's weight: packed once (SENTI_PACK=0: per call) */
        c = op_matmul(g, a, b, false, trans_b);
        graph_set_output(c);
    }
    if (!c || !prepare(k->ex, g)) {
        fprintf(stderr, "bench %s: %s\n", name, senti_last_error());
        graph_free(g);
        return;
    }
    const double flop = 2.0 * (double)batch * (double)M * (double)N * (double)K;
    const cpu_matmul_mode modes[2] = {CPU_MATMUL_NATIVE, CPU_MATMUL_BLAS};
    const char *names[2] = {"native", "openblas"};
    for (int m = 0; m < 2; m++) {
        k->ctx->matmul = modes[m];
        run_arg r = {k->ex, g};
        bench_stat s;
        if (!bench_time(run_graph, &r, k->o->repeats, &s)) continue;
        s.median /= copies, s.min /= copies, s.max /= copies;
        report(k, name, names[m], s, flop, decode ? (double)wbytes : 0);
    }
    k->ctx->matmul = CPU_MATMUL_NATIVE;
    graph_free(g);
}

static void bench_unary(kb *k, const char *name, senti_op op, int64_t rows, int64_t n) {
    if (!wanted(k, name)) return;
    senti_graph *g = graph_init();
    senti_tensor *x = graph_new_tensor_2d(g, SENTI_TYPE_F32, rows, n), *y = NULL;
    if (op == SENTI_OP_LAYER_NORM) {
        senti_tensor *w = graph_new_tensor_1d(g, SENTI_TYPE_F32, n), *b = graph_new_tensor_1d(g, SENTI_TYPE_F32, n);
        y = op_layer_norm(g, x, w, b, 1e-12f);
    } else if (op == SENTI_OP_SOFTMAX) {
        y = op_softmax(g, x, NULL, 0.125f);
    } else {
        y = op_gelu(g, x);
    }
    graph_set_output(y);
    if (y && prepare(k->ex, g)) {
        run_arg r = {k->ex, g};
        bench_stat s;
        if (bench_time(run_graph, &r, k->o->repeats, &s)) report(k, name, "native", s, 0, 8.0 * (double)(rows * n));
    }
    graph_free(g);
}

typedef struct { kb *k; senti_graph *g; senti_tensor *node; } unfused_arg;
static bool run_unfused(void *p) {
    unfused_arg *u = p;
    return cpu_attention_unfused(u->k->ctx, u->node) == SENTI_OK;
}

/* Fused attention against the unfused graph a framework would run with the
 * same kernels (Q·K^T batched matmul -> [B, H, T, T] scores -> softmax with
 * scale and mask -> ·V), and against the naive per-head loops. */
static void bench_attention(kb *k, int64_t B, int64_t T, int64_t H, int64_t D) {
    char name[96];
    snprintf(name, sizeof name, "attention_%lldx%lld_h%lld_d%lld", (long long)B, (long long)T, (long long)H, (long long)D);
    if (!wanted(k, name)) return;
    senti_graph *g = graph_init();
    senti_tensor *q = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *kk = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *v = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *mask = graph_new_tensor_4d(g, SENTI_TYPE_F32, B, 1, 1, T);
    const float scale = 1.0f / sqrtf((float)D);
    senti_tensor *o = op_attention(g, q, kk, v, mask, scale, false);
    graph_set_output(o);
    /* unfused: [B, H, T, D] views, scores [B, H, T, T], output [B, T, H, D] */
    senti_graph *gu = graph_init();
    senti_tensor *uq = graph_new_tensor_4d(gu, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *uk = graph_new_tensor_4d(gu, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *uv = graph_new_tensor_4d(gu, SENTI_TYPE_F32, B, T, H, D);
    senti_tensor *umask = graph_new_tensor_4d(gu, SENTI_TYPE_F32, B, 1, 1, T);
    const int bhtd[4] = {0, 2, 1, 3};
    senti_tensor *sc = op_matmul(gu, op_permute(gu, uq, bhtd), op_permute(gu, uk, bhtd), false, true);
    senti_tensor *p = op_softmax(gu, sc, umask, scale);
    senti_tensor *uo = op_cpy(gu, op_permute(gu, op_matmul(gu, p, op_permute(gu, uv, bhtd), false, false), bhtd),
                              SENTI_TYPE_F32);
    graph_set_output(uo);
    senti_exec *exu = exec_init(k->be, NULL); /* own arena: inputs stay intact */
    if (o && uo && exu && prepare(k->ex, g) && prepare(exu, gu)) {
        float *mk = mask->data; /* padding: sequence b keeps T - b % 8 tokens */
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < T; j++) mk[b * T + j] = j < T - b % 8 ? 0.0f : -INFINITY;
        memcpy(umask->data, mask->data, senti_nbytes(mask));
        const double flop = 4.0 * (double)(B * H * T * T * D);
        bench_stat s;
        run_arg r = {k->ex, g}, ru = {exu, gu};
        if (bench_time(run_graph, &r, k->o->repeats, &s)) report(k, name, "fused", s, flop, 0);
        if (bench_time(run_graph, &ru, k->o->repeats, &s)) report(k, name, "unfused", s, flop, 0);
        unfused_arg u = {k, g, o};
        if (bench_time(run_unfused, &u, k->o->repeats > 3 ? 3 : k->o->repeats, &s)) report(k, name, "naive", s, flop, 0);
    }
    exec_free(exu);
    graph_free(g);
    graph_free(gu);
}

int bench_kernels(const bench_opts *o) {
    kb k = {0};
    k.o = o;
    k.be = senti_backend_cpu_init(o->n_threads);
    if (!k.be) return fprintf(stderr, "bench: %s\n", senti_last_error()), 1;
    k.ctx = cpu_backend_ctx(k.be);
    k.ex = exec_init(k.be, NULL);
    if (!k.ex) return fprintf(stderr, "bench: %s\n", senti_last_error()), 1;
    exec_set_profile(k.ex, false);
    const cpu_features *f = &k.ctx->feat;
    if (o->json)
        printf("{\n  \"bench\":\"kernels\",\"threads\":%d,\"simd\":\"%s\",\"avx512_bf16\":%s,\"avx512_vnni\":%s,"
               "\"repeats\":%d,\n  \"results\":[\n",
               k.ctx->n_threads, cpu_simd_name(k.ctx->simd), f->avx512_bf16 ? "true" : "false",
               f->avx512_vnni ? "true" : "false", o->repeats);
    else
        printf("senti bench kernels: %d threads, simd %s%s%s, %d repeats (median [min .. max])\n", k.ctx->n_threads,
               cpu_simd_name(k.ctx->simd), f->avx512_bf16 ? " +bf16" : "", f->avx512_vnni ? " +vnni" : "",
               o->repeats);

    bench_memory(&k);
    /* BERT-base, 32 sequences x 128 tokens: QKV/out, FFN up, FFN down */
    const senti_type wts[] = {SENTI_TYPE_F32,  SENTI_TYPE_F16,  SENTI_TYPE_BF16,
                              SENTI_TYPE_Q8_0, SENTI_TYPE_Q4_0, SENTI_TYPE_INT8};
    for (int t = 0; t < 6; t++) {
        bench_matmul(&k, "bert", 1, 4096, 768, 768, wts[t], true, true);
        bench_matmul(&k, "bert", 1, 4096, 3072, 768, wts[t], true, true);
        bench_matmul(&k, "bert", 1, 4096, 768, 3072, wts[t], true, true);
    }
    /* BERT-base on a batch of 32 sentences (27 tokens each, padding-free: M 864), f32, bf16 and int8 */
    for (int t = 0; t < 6; t += t == 0 ? 2 : 3) {
        bench_matmul(&k, "bert", 1, 864, 2304, 768, wts[t], true, true);
        bench_matmul(&k, "bert", 1, 864, 768, 768, wts[t], true, true);
        bench_matmul(&k, "bert", 1, 864, 3072, 768, wts[t], true, true);
        bench_matmul(&k, "bert", 1, 864, 768, 3072, wts[t], true, true);
    }
    /* MiniLM-L6 shape (hidden 384, FFN 1536): a large batch and a small one; f32, q8_0, int8 */
    for (int t = 0; t < 6; t += t == 0 ? 3 : 2) {
        for (int m = 4096; m >= 256; m /= 16) {
            bench_matmul(&k, "minilm", 1, m, 384, 384, wts[t], true, true);
            bench_matmul(&k, "minilm", 1, m, 1536, 384, wts[t], true, true);
            bench_matmul(&k, "minilm", 1, m, 384, 1536, wts[t], true, true);
        }
    }
    /* attention matmuls per sequence: 12 heads x (128x128x64 QK^T, 128x64x128 PV) x 32 */
    bench_matmul(&k, "qk_b384", 384, 128, 128, 64, SENTI_TYPE_F32, true, false);
    bench_matmul(&k, "pv_b384", 384, 128, 64, 128, SENTI_TYPE_F32, false, false);
    /* decode: one and eight rows through a 4096x4096 weight */
    for (int t = 0; t < 6; t++) {
        bench_matmul(&k, "decode", 1, 1, 4096, 4096, wts[t], true, true);
        bench_matmul(&k, "decode", 1, 8, 4096, 4096, wts[t], true, true);
    }
    /* K-quant weights from GGUF files (the int8 GEMM with 256-value activation blocks) */
    for (int t = 0; t < 2; t++) {
        const senti_type kt = t ? SENTI_TYPE_Q6_K : SENTI_TYPE_Q4_K;
        bench_matmul(&k, "decode", 1, 1, 4096, 4096, kt, true, true);
        bench_matmul(&k, "decode", 1, 8, 4096, 4096, kt, true, true);
        bench_matmul(&k, "bert", 1, 4096, 768, 768, kt, true, true);
    }
    bench_unary(&k, "layer_norm_4096x768", SENTI_OP_LAYER_NORM, 4096, 768);
    bench_unary(&k, "softmax_49152x128", SENTI_OP_SOFTMAX, 32 * 12 * 128, 128);
    bench_unary(&k, "gelu_4096x3072", SENTI_OP_GELU, 4096, 3072);
    bench_attention(&k, 32, 128, 12, 64);
    bench_attention(&k, 4, 512, 12, 64);
    /* short texts (sentences: 25-32 tokens after the padding mask), MiniLM's and BERT-base's heads */
    bench_attention(&k, 64, 32, 12, 32);
    bench_attention(&k, 64, 32, 12, 64);
    if (o->json) printf("\n  ]\n}\n");
    exec_free(k.ex);
    senti_backend_free(k.be);
    return 0;
}
