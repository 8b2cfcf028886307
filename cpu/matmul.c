/* matmul.c — the CPU matmul: the graph kernel cpu_matmul (batch dims, the
 * divide-broadcast rule, transposes, strided views) and cpu_gemm, which picks
 * a path by weight type, never by M:
 *   - f32 / f16 weights, and bf16 where the CPU has no AVX512_BF16: the
 *     f32-accumulating GEMM of gemm.c (one multiply-add chain per output
 *     element in k order; constant weights packed once into panels);
 *   - bf16 with AVX512_BF16: A rounded to bf16, vdpbf16ps tiles over
 *     weights packed once in k pairs (constant weights), else dot products;
 *   - q8_0 / q4_0 / q4_K / q6_K: the int8 GEMM of qgemm.c (A quantized per
 *     row and block at run time, exact integer block dots, f32 scaling);
 *   - int8 (row-scaled): the same GEMM with A quantized per row and one exact
 *     int32 dot over all of K, scaled once per output;
 *   - BLAS mode (SENTI_MATMUL=blas, for comparison): cblas_sgemm, other
 *     weight types converted to f32 rows per call. OpenBLAS picks kernels by
 *     shape, so this mode is outside the batch-invariance contract.
 * Batch invariance: every native path computes each output element in an
 * order fixed by K alone (dot paths: SIMD lanes over k, then a fixed tree;
 * bf16 tiles: vdpbf16ps chains of 64 k pairs summed in k order),
 * so a row's result does not depend on the other rows, the threads or N.
 * Accuracy: f32 / f16 / bf16 (widened) exact products in f32 sums; bf16 dot
 * rounds A to bf16 (bound in matmul_avx512.c); the int8 GEMM moves each
 * element of A by at most half a step (block amax / 254; int8: row amax / 254). Scratch: one cpu_scratch call per cpu_gemm / cpu_matmul. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "cpu_vec.h"
#include "matmul_kern.h"

#define MM_ALIGN 64
#define MM_DOT_L2 (256u << 10) /* rows of A per dot pass: about this many bytes */

static size_t align_up(size_t x) { return (x + MM_ALIGN - 1) & ~(size_t)(MM_ALIGN - 1); }
static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

/* ---- the bf16 dot-product path (vdpbf16ps) ------------------------------------------- */

static size_t dot_ws_size(int64_t M, int64_t K) { return align_up((size_t)M * (size_t)K * 2); }

/* A's rows to bf16 (the vector rows' rounding: senti_f32_to_bf16's bytes),
 * rows of Kp >= K (a zero past an odd K where Kp = K + 1). */
typedef struct bf16_rows {
    const cpu_vec_ops *ops;
    const float *A;
    int64_t lda, K, Kp;
    senti_bf16 *Ab;
} bf16_rows;

static void bf16_rows_range(void *arg, int64_t m0, int64_t m1, int ith) {
    const bf16_rows *d = arg;
    (void)ith;
    for (int64_t m = m0; m < m1; m++) {
        d->ops->f32_to_bf16(d->Ab + m * d->Kp, d->A + m * d->lda, d->K);
        if (d->Kp > d->K) d->Ab[m * d->Kp + d->K] = 0;
    }
}

static void round_bf16(const cpu_ctx *ctx, int64_t M, int64_t K, int64_t Kp, const float *A, int64_t lda,
                       senti_bf16 *Ab) {
    bf16_rows rd = {cpu_vec_get(ctx->simd), A, lda, K, Kp, Ab};
    cpu_parallel_for(ctx, M * K >= 16384 ? n_threads(ctx) : 1, M, 0, bf16_rows_range, &rd);
}

/* A rows to bf16, then weight rows in chunks of 16 against passes of about
 * MM_DOT_L2 bytes of A; both as dynamic items. The tiles add the epilogue's
 * bias and residual as they store; an activation is a pass after (gemm_run). */
typedef struct dot_par {
    int64_t M, N, K, ldc, mb;
    const void *B;
    size_t ldb;
    float *C;
    senti_bf16 *Ab;
    const cpu_epi *epi;
} dot_par;

static void dot_rows(void *arg, int64_t c0, int64_t c1, int ith) {
    const dot_par *d = arg;
    (void)ith;
    const int64_t n0 = c0 * 16, n1 = c1 * 16 < d->N ? c1 * 16 : d->N;
    for (int64_t m0 = 0; m0 < d->M; m0 += d->mb) {
        const int64_t Mb = d->M - m0 < d->mb ? d->M - m0 : d->mb;
        cpu_gemv_bf16_avx512bf16(Mb, n0, n1, d->K, d->Ab + m0 * d->K, d->B, d->ldb, d->C + m0 * d->ldc, d->ldc,
                                 cpu_epi_bias(d->epi, 0), cpu_epi_res(d->epi, m0, 0), d->epi ? d->epi->ldr : 0);
    }
}

static void gemm_dot(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const void *B,
                     size_t ldb, float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    int64_t mb = (int64_t)(MM_DOT_L2 / ((size_t)K * 4 + 1)) & ~(int64_t)3;
    if (mb < 4) mb = 4;
    dot_par d = {M, N, K, ldc, mb, B, ldb, C, (senti_bf16 *)ws, epi};
    round_bf16(ctx, M, K, K, A, lda, d.Ab);
    cpu_parallel_for(ctx, n_threads(ctx), (N + 15) / 16, 0, dot_rows, &d);
}

/* ---- the bf16 pairs GEMM (vdpbf16ps tiles, weights packed once) ------------------ */

/* Items of rows of A (blocks of BP_MB, a multiple of the tile height) against
 * all panels, or, with few row blocks, against one group of panels: panel
 * groups outer, row tiles inner, each tile finishing its bias, residual and
 * activation. Ab: A's rows rounded to bf16, stride Kp (K rounded up to even,
 * a zero past K). */
enum { BP_MB = 64 };
typedef struct bp_par {
    const cpu_ctx *ctx;
    int64_t M, N, Kp, np, ngrp;
    const cpu_gemm_b *b;
    const senti_bf16 *Ab;
    float *C;
    int64_t ldc;
    const cpu_epi *epi;
    bool all_panels; /* an item: a row block x all panels, else x one panel group */
} bp_par;

static void bp_items(void *arg, int64_t i0, int64_t i1, int ith) {
    const bp_par *p = arg;
    (void)ith;
    const cpu_epi act = {NULL, NULL, 0, p->epi ? p->epi->act : SENTI_OP_COUNT};
    for (int64_t it = i0; it < i1; it++) {
        const int64_t rb = p->all_panels ? it : it / p->ngrp;
        const int64_t g0 = p->all_panels ? 0 : it % p->ngrp, g1 = p->all_panels ? p->ngrp : g0 + 1;
        const int64_t m0 = rb * BP_MB, m1 = m0 + BP_MB < p->M ? m0 + BP_MB : p->M;
        for (int64_t g = g0; g < g1; g++) {
            const int64_t q = g * CPU_BF16P_NV, nq = p->np - q < CPU_BF16P_NV ? p->np - q : CPU_BF16P_NV;
            const senti_bf16 *pan[CPU_BF16P_NV];
            for (int v = 0; v < nq; v++)
                pan[v] = (const senti_bf16 *)(const void *)(p->b->pan + (size_t)(q + v) * p->b->pan_bytes);
            const int64_t c0 = q * 16, nc = p->N - c0 < nq * 16 ? p->N - c0 : nq * 16;
            for (int64_t r = m0; r < m1; r += CPU_BF16P_MR) {
                const int rm = (int)(m1 - r < CPU_BF16P_MR ? m1 - r : CPU_BF16P_MR);
                float *ct = p->C + r * p->ldc + c0;
                cpu_bf16p_kern_avx512bf16(rm, p->Kp / 2, p->Ab + r * p->Kp, p->Kp, pan, (int)nq, nc, ct, p->ldc,
                                          cpu_epi_bias(p->epi, c0), cpu_epi_res(p->epi, r, c0),
                                          p->epi ? p->epi->ldr : 0);
                if (act.act != SENTI_OP_COUNT) cpu_epi_apply(p->ctx, &act, ct, p->ldc, r, rm, c0, nc);
            }
        }
    }
}

static void gemm_bf16_pairs(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                            const cpu_gemm_b *b, float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    const int64_t Kp = (K + 1) & ~(int64_t)1;
    round_bf16(ctx, M, K, Kp, A, lda, (senti_bf16 *)ws);
    const int nth = n_threads(ctx);
    const int64_t np = (N + 15) / 16, ngrp = (np + CPU_BF16P_NV - 1) / CPU_BF16P_NV, nrb = (M + BP_MB - 1) / BP_MB;
    bp_par p = {ctx, M, N, Kp, np, ngrp, b, (const senti_bf16 *)ws, C, ldc, epi, nrb >= 4 * (int64_t)nth};
    cpu_parallel_for(ctx, nth, p.all_panels ? nrb : nrb * ngrp, 1, bp_items, &p);
}

/* ---- BLAS ---------------------------------------------------------------------- */

/* Rows of non-f32 weights converted per call, in chunks of about 4 MiB. */
static int64_t blas_chunk_rows(int64_t N, int64_t K) {
    int64_t r = K > 0 ? (int64_t)((4u << 20) / ((size_t)K * 4)) : N;
    if (r < 16) r = 16;
    return r < N ? r : N;
}

static void blas_threads(const cpu_ctx *ctx) {
    static int current = -1; /* OpenBLAS keeps one global setting */
    const int nth = n_threads(ctx);
    if (current != nth) {
        openblas_set_num_threads(nth);
        current = nth;
    }
}

static void gemm_blas(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      senti_type bt, const void *B, size_t ldb, bool trans_b, float *C, int64_t ldc, char *ws) {
    blas_threads(ctx);
    if (bt == SENTI_TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
                    (blasint)K, 1.0f, A, (blasint)lda, (const float *)B, (blasint)(ldb / 4), 0.0f, C, (blasint)ldc);
        return;
    }
    /* trans_b: convert a chunk of weight rows to f32 [rows, K], sgemm, next.
     * (!trans_b non-f32 never gets here: cpu_gemm widens it first.) */
    float *Bf = (float *)ws;
    const int64_t chunk = blas_chunk_rows(N, K);
    for (int64_t n0 = 0; n0 < N; n0 += chunk) {
        const int64_t rows = N - n0 < chunk ? N - n0 : chunk;
        for (int64_t r = 0; r < rows; r++) /* comparison mode: converted on one thread */
            senti_row_to_f32(bt, (const char *)B + (size_t)(n0 + r) * ldb, Bf + r * K, K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)M, (blasint)rows, (blasint)K, 1.0f, A,
                    (blasint)lda, Bf, (blasint)K, 0.0f, C + n0, (blasint)ldc);
    }
}

/* ---- dispatch ------------------------------------------------------------------ */

/* Bytes of workspace gemm_run needs for this problem (b: the f32-family operand). */
static size_t gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b) {
    size_t pre = 0;
    senti_type bt = b->pan ? b->pt : b->bt;
    if (!b->pan && !b->trans_b && bt != SENTI_TYPE_F32) { /* f16 / bf16 [K, N]: widened to f32 first */
        pre = align_up((size_t)K * (size_t)N * 4);
        bt = SENTI_TYPE_F32;
    }
    if (ctx->matmul == CPU_MATMUL_BLAS)
        return pre + (bt == SENTI_TYPE_F32 ? 0 : align_up((size_t)blas_chunk_rows(N, K) * (size_t)K * 4));
    if (senti_type_is_quant(bt)) return pre + cpu_qgemm_ws_size(ctx, M, N, K, bt, b->pan != NULL);
    if (b->pan && b->pairs) return pre + dot_ws_size(M, (K + 1) & ~(int64_t)1);
    if (!b->pan && !cpu_gemm_takes(ctx, bt)) return pre + dot_ws_size(M, K);
    cpu_gemm_b f = *b;
    f.bt = bt;
    return pre + cpu_gemm_ws_size(ctx, M, N, K, &f);
}

static senti_status gemm_check(int64_t M, int64_t N, int64_t K, senti_type bt, bool trans_b) {
    if (M < 0 || N < 0 || K < 0) return senti_error(SENTI_ERR_INVALID_ARG, "matmul: negative size");
    if (bt == SENTI_TYPE_I32 || bt >= SENTI_TYPE_COUNT)
        return senti_error(SENTI_ERR_UNSUPPORTED, "matmul: weight type %d not supported", (int)bt);
    if (senti_type_is_quant(bt) && (!trans_b || K % senti_type_block(bt) != 0))
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul: %s weights need trans_b and K %% %lld == 0 (K=%lld)",
                           senti_type_name(bt), (long long)senti_type_block(bt), (long long)K);
    if (bt == SENTI_TYPE_INT8 && K > SENTI_INT8_MAX_K)
        return senti_error(SENTI_ERR_UNSUPPORTED, "matmul: int8 weights need K <= %d for an exact int32 dot (K=%lld)",
                           SENTI_INT8_MAX_K, (long long)K);
    return SENTI_OK;
}

typedef struct epi_par {
    const cpu_ctx *ctx;
    const cpu_epi *e;
    float *C;
    int64_t ldc, N;
} epi_par;

static void epi_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const epi_par *p = arg;
    (void)ith;
    cpu_epi_apply(p->ctx, p->e, p->C + r0 * p->ldc, p->ldc, r0, r1 - r0, 0, p->N);
}

/* The epilogue as a pass of its own, for the paths whose kernels lack one. */
static void epi_pass(const cpu_ctx *ctx, const cpu_epi *e, float *C, int64_t ldc, int64_t M, int64_t N) {
    if (!e) return;
    epi_par p = {ctx, e, C, ldc, N};
    cpu_parallel_for(ctx, (double)M * (double)N >= 32768.0 ? n_threads(ctx) : 1, M, 0, epi_range, &p);
}

static void gemm_run(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                     const cpu_gemm_b *b, float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * 4);
        epi_pass(ctx, epi, C, ldc, M, N);
        return;
    }
    if (b->pan && ctx->matmul == CPU_MATMUL_NATIVE) {
        if (senti_type_is_quant(b->pt)) cpu_qgemm(ctx, M, N, K, A, lda, b, C, ldc, epi, ws);
        else if (b->pairs) gemm_bf16_pairs(ctx, M, N, K, A, lda, b, C, ldc, epi, ws);
        else cpu_gemm_f(ctx, M, N, K, A, lda, b, C, ldc, epi, ws);
        return;
    }
    cpu_gemm_b r = *b;
    if (!r.trans_b && r.bt != SENTI_TYPE_F32) {
        float *Bf = (float *)ws;
        for (int64_t k = 0; k < K; k++) senti_row_to_f32(r.bt, (const char *)r.B + (size_t)k * r.ldb, Bf + k * N, N);
        r.B = Bf;
        r.ldb = (size_t)N * 4;
        r.bt = SENTI_TYPE_F32;
        ws += align_up((size_t)K * (size_t)N * 4);
    }
    if (ctx->matmul == CPU_MATMUL_BLAS) {
        gemm_blas(ctx, M, N, K, A, lda, r.bt, r.B, r.ldb, r.trans_b, C, ldc, ws);
        epi_pass(ctx, epi, C, ldc, M, N);
    } else if (senti_type_is_quant(r.bt)) {
        cpu_qgemm(ctx, M, N, K, A, lda, &r, C, ldc, epi, ws);
    } else if (cpu_gemm_takes(ctx, r.bt)) {
        cpu_gemm_f(ctx, M, N, K, A, lda, &r, C, ldc, epi, ws);
    } else {
        gemm_dot(ctx, M, N, K, A, lda, r.B, r.ldb, C, ldc, epi, ws);
        const cpu_epi act = {NULL, NULL, 0, epi ? epi->act : SENTI_OP_COUNT}; /* the tiles added bias and residual */
        epi_pass(ctx, act.act != SENTI_OP_COUNT ? &act : NULL, C, ldc, M, N);
    }
}

static cpu_gemm_b raw_b(senti_type bt, const void *B, size_t ldb, bool trans_b) {
    return (cpu_gemm_b){NULL, 0, 0, SENTI_TYPE_F32, bt, B, ldb, trans_b, false};
}

senti_status cpu_gemm(cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, senti_type bt,
                      const void *B, size_t ldb_bytes, bool trans_b, float *C, int64_t ldc) {
    senti_status st = gemm_check(M, N, K, bt, trans_b);
    if (st != SENTI_OK) return st;
    if (M == 0 || N == 0) return SENTI_OK;
    const cpu_gemm_b b = raw_b(bt, B, ldb_bytes, trans_b);
    const size_t wsz = gemm_ws_size(ctx, M, N, K, &b);
    char *ws = wsz ? cpu_scratch(ctx, wsz) : NULL;
    if (wsz && !ws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul: %zu bytes of scratch", wsz);
    gemm_run(ctx, M, N, K, A, lda, &b, C, ldc, NULL, ws);
    return SENTI_OK;
}

/* ---- the graph kernel ------------------------------------------------------------
 * a [a0, a1, M, K] (trans_a: [a0, a1, K, M]) f32, b [b0, b1, K, N] (trans_b:
 * [b0, b1, N, K]), dst [a0, a1, M, N] contiguous f32. Batch (i0, i1) uses b's
 * (i0 / (a0/b0), i1 / (a1/b1)). Operands whose rows are not contiguous f32
 * (or, for f16 / bf16, not contiguous) are copied densely into scratch. */

static float load_f(senti_type t, const char *p) {
    if (t == SENTI_TYPE_F32) {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return t == SENTI_TYPE_F16 ? senti_f16_to_f32(h) : senti_bf16_to_f32(h);
}

/* One batch entry of the graph kernel: operands located (or densely copied
 * into ws), then one gemm. */
typedef struct {
    const senti_tensor *a, *b, *dst;
    int64_t M, N, K;
    bool trans_a, trans_b, a_direct, b_direct;
    senti_type bt_run;
    const cpu_gemm_b *pk; /* the weight packed once, or NULL */
    size_t a_bytes, b_bytes, g_bytes; /* ws layout: A copy, B copy, gemm workspace */
    char *out;            /* where the result goes: dst's layout (dst->data, or a fused node's) */
    const cpu_epi *epi;   /* fused epilogue (one batch entry only), or NULL */
} mm_job;

typedef struct { int64_t j0, j1; } mm_cache; /* which b batch Bc holds */

static void mm_batch(const mm_job *jb, const cpu_ctx *ctx, int64_t bi, char *ws, mm_cache *cache) {
    const senti_tensor *a = jb->a, *b = jb->b, *dst = jb->dst;
    const int64_t M = jb->M, N = jb->N, K = jb->K;
    const senti_type bt = b->type;
    const int64_t i0 = bi / a->ne[1], i1 = bi % a->ne[1];
    float *Ac = (float *)ws, *Bc = (float *)(ws ? ws + jb->a_bytes : NULL);
    char *gws = ws ? ws + jb->a_bytes + jb->b_bytes : NULL;
    const char *ab = (const char *)a->data + i0 * a->nb[0] + i1 * a->nb[1];
    const float *A = (const float *)ab;
    /* a single row may carry any row stride; BLAS wants lda >= K */
    int64_t lda = jb->a_direct && M > 1 ? (int64_t)(a->nb[2] / 4) : K;
    if (!jb->a_direct) { /* element (m, k) at m*sm + k*sk */
        const size_t sm = jb->trans_a ? a->nb[3] : a->nb[2], sk = jb->trans_a ? a->nb[2] : a->nb[3];
        if (sk == 4)
            for (int64_t m = 0; m < M; m++) memcpy(&Ac[m * K], ab + m * sm, (size_t)K * 4);
        else
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) memcpy(&Ac[m * K + k], ab + m * sm + k * sk, 4);
        A = Ac;
    }
    const int64_t j0 = i0 / (a->ne[0] / b->ne[0]), j1 = i1 / (a->ne[1] / b->ne[1]);
    const char *bb = (const char *)b->data + j0 * b->nb[0] + j1 * b->nb[1];
    const void *B = bb;
    size_t ldb = b->nb[2];
    if (b->ne[2] == 1) ldb = senti_row_size(bt, b->ne[3]); /* one row: stride unused */
    if (!jb->b_direct) {
        const int64_t r = b->ne[2], c = b->ne[3];
        if (j0 != cache->j0 || j1 != cache->j1)
            for (int64_t i = 0; i < r; i++)
                for (int64_t j = 0; j < c; j++) Bc[i * c + j] = load_f(bt, bb + i * b->nb[2] + j * b->nb[3]);
        B = Bc;
        ldb = (size_t)c * 4;
        cache->j0 = j0;
        cache->j1 = j1;
    }
    float *C = (float *)(jb->out + i0 * dst->nb[0] + i1 * dst->nb[1]);
    const cpu_gemm_b rb = raw_b(jb->bt_run, B, ldb, jb->trans_b);
    gemm_run(ctx, M, N, K, A, lda, jb->pk ? jb->pk : &rb, C, (int64_t)(dst->nb[2] / 4), jb->epi, gws);
}

typedef struct batch_par {
    const mm_job *job;
    const cpu_ctx *gctx;
    char *ws;
    size_t per;
    int64_t n;
    _Atomic int64_t next;
} batch_par;

static void batch_task(void *arg, int ith, int nth) {
    batch_par *b = arg;
    mm_cache cache = {-1, -1};
    char *tws = b->ws ? b->ws + b->per * (size_t)ith : NULL;
    for (int64_t i0, i1; cpu_chunk_next(&b->next, b->n, 1, &i0, &i1);)
        mm_batch(b->job, b->gctx, i0, tws, &cache);
}

/* The matmul node dst, written to out (dst's layout) with the epilogue epi
 * applied. epi is taken only where one GEMM computes the whole node (a
 * Linear layer over [B, T, K], or a single product); elsewhere *fused is
 * false and nothing is computed. */
senti_status cpu_matmul_into(cpu_ctx *ctx, senti_tensor *dst, void *out, const cpu_epi *epi, bool *fused) {
    if (fused) *fused = false;
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const bool trans_a = dst->params[0] != 0, trans_b = dst->params[1] != 0;
    if (!a || !b || a->type != SENTI_TYPE_F32 || dst->type != SENTI_TYPE_F32)
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: a and dst must be f32", dst->name);
    const int64_t M = trans_a ? a->ne[3] : a->ne[2], K = trans_a ? a->ne[2] : a->ne[3];
    const int64_t N = trans_b ? b->ne[2] : b->ne[3], Kb = trans_b ? b->ne[3] : b->ne[2];
    if (Kb != K || b->ne[0] <= 0 || b->ne[1] <= 0 || a->ne[0] % b->ne[0] || a->ne[1] % b->ne[1] ||
        dst->ne[0] != a->ne[0] || dst->ne[1] != a->ne[1] || dst->ne[2] != M || dst->ne[3] != N)
        return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: shapes do not match", dst->name);
    const senti_type bt = b->type;
    senti_status st = gemm_check(M, N, K, bt, trans_b);
    if (st != SENTI_OK) return st;
    if (dst->nb[3] != 4) return senti_error(SENTI_ERR_INVALID_ARG, "matmul %s: dst not contiguous", dst->name);
    if (M == 0 || N == 0 || a->ne[0] == 0 || a->ne[1] == 0) return SENTI_OK;

    /* A is used in place when its rows are contiguous; B when its innermost
     * dim is (quantized b always is). Otherwise dense copies in scratch. */
    const bool a_direct = !trans_a && a->nb[3] == 4 && a->nb[2] % 4 == 0 && (M == 1 || a->nb[2] >= (size_t)K * 4);
    const bool b_quant = senti_type_is_quant(bt);
    const size_t esz = b_quant ? 0 : senti_type_size(bt);
    const bool b_direct = b_quant || (b->nb[3] == esz && (bt != SENTI_TYPE_F32 || b->nb[2] % 4 == 0) &&
                                      (b->ne[2] == 1 || b->nb[2] >= (size_t)b->ne[3] * esz));
    const senti_type bt_run = b_direct ? bt : SENTI_TYPE_F32; /* copies are widened to f32 */
    const int64_t n_batch = a->ne[0] * a->ne[1];
    /* A constant weight (one for the whole batch) is packed into panels once
     * and kept by the backend; everything else is packed per call. */
    const size_t ldb1 = b->ne[2] == 1 ? senti_row_size(bt, b->ne[3]) : b->nb[2];
    const cpu_gemm_b *pk = NULL;
    if ((b->flags & SENTI_TFLAG_CONST) && ctx->matmul == CPU_MATMUL_NATIVE && trans_b && b_direct &&
        b->ne[0] == 1 && b->ne[1] == 1)
        pk = cpu_gemm_prepack(ctx, bt, b->data, ldb1, N, K);
    const cpu_gemm_b rb1 = raw_b(bt_run, b->data, ldb1, trans_b);
    /* One weight for every batch entry (a Linear layer over [B, T, K], or
     * over [B, 1, K]: a head, a last layer kept to the first tokens) and rows
     * of a evenly spaced across the batch: one GEMM of B*T rows, not B*T
     * products that each read the whole weight. */
    const size_t rs = M > 1 ? a->nb[2] : a->ne[1] > 1 ? a->nb[1] : a->nb[0]; /* row stride */
    const bool rows_even = rs % 4 == 0 && rs >= (size_t)K * 4 && /* (a_direct holds for M > 1) */
                           (a->ne[1] == 1 || a->nb[1] == (size_t)M * rs) &&
                           (a->ne[0] == 1 || a->nb[0] == (size_t)a->ne[1] * (size_t)M * rs);
    if (n_batch > 1 && b->ne[0] == 1 && b->ne[1] == 1 && a_direct && b_direct && rows_even) {
        const cpu_gemm_b *gb = pk ? pk : &rb1;
        const size_t wsz = gemm_ws_size(ctx, M * n_batch, N, K, gb);
        char *gws = wsz ? cpu_scratch(ctx, wsz) : NULL;
        if (wsz && !gws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul %s: %zu bytes of scratch", dst->name, wsz);
        gemm_run(ctx, M * n_batch, N, K, (const float *)a->data, (int64_t)(rs / 4), gb, (float *)out, N, epi, gws);
        if (fused) *fused = epi != NULL;
        return SENTI_OK;
    }
    if (epi && n_batch != 1) return SENTI_OK; /* many products: the caller runs the nodes unfused */
    /* Many small products (attention heads): one thread per product beats
     * splitting each product, which would open a parallel region per head. */
    const int nth = n_threads(ctx);
    const bool per_batch = ctx->matmul == CPU_MATMUL_NATIVE && nth > 1 && n_batch >= nth &&
                           (double)M * (double)N * (double)K <= 8.0 * 1024 * 1024;
    cpu_ctx one = *ctx;
    one.n_threads = 1;
    const cpu_ctx *gctx = per_batch ? &one : ctx;
    mm_job job = {a, b, dst, M, N, K, trans_a, trans_b, a_direct, b_direct, bt_run, pk, 0, 0, 0, out, epi};
    job.a_bytes = a_direct ? 0 : align_up((size_t)M * (size_t)K * 4);
    job.b_bytes = b_direct ? 0 : align_up((size_t)b->ne[2] * (size_t)b->ne[3] * 4);
    job.g_bytes = gemm_ws_size(gctx, M, N, K, pk ? pk : &rb1);
    const size_t per = job.a_bytes + job.b_bytes + job.g_bytes, total = per * (size_t)(per_batch ? nth : 1);
    char *ws = total ? cpu_scratch(ctx, total) : NULL;
    if (total && !ws) return senti_error(SENTI_ERR_NO_MEMORY, "matmul %s: %zu bytes of scratch", dst->name, total);
    if (!per_batch) {
        mm_cache cache = {-1, -1};
        for (int64_t i = 0; i < n_batch; i++) mm_batch(&job, gctx, i, ws, &cache);
        if (fused) *fused = epi != NULL;
        return SENTI_OK;
    }
    batch_par bp = {&job, gctx, ws, per, n_batch, 0};
    cpu_pool_run_elastic(ctx->pool, nth, batch_task, &bp);
    return SENTI_OK;
}

CPU_KERNEL(matmul) { return cpu_matmul_into(ctx, dst, dst->data, NULL, NULL); }
