/* qgemm.c — the int8 GEMM for q8_0 / q4_0 weights: activations quantized to
 * int8 per row and 32-block at run time, exact integer block dots (AVX512_VNNI
 * vpdpbusd, AVX2 vpmaddubsw, or scalar), scales applied per block in f32.
 *
 * Reduction order (batch invariance): every output element is
 *   s = 0; for each block b in order: s = fma((float) idot_b, da_b * dw_b, s)
 * (multiply then add on the scalar level), with idot_b the exact integer dot.
 * It depends on K alone: never on M, the tile, the threads.
 *
 * Activations: per row and block, da = amax / 127 (f32), q = round(x / da)
 * in [-127, 127], and ac = -off * sum(q), the offset correction for weights
 * stored unsigned (off = 128 for q8_0 and 8 for q4_0 on VNNI; 8 for q4_0 on
 * AVX2 and scalar). A block holding NaN or inf gets da = NaN, so the outputs
 * it touches are NaN.
 *
 * Weights: panels of VW output columns (16 on AVX-512, 8 otherwise): first
 * the weight bytes of every block (64-byte aligned), then every block's VW
 * f16 scales (dw, as stored). Block b of a panel:
 *   q8_0: 8 groups kq of VW x 4 bytes: w[n][32b + 4kq + t] (VNNI: w ^ 0x80);
 *   q4_0: 4 groups g of VW x 4 bytes: byte t = the block's qs[4g + t]
 *         (low nibble element 4g + t, high nibble element 16 + 4g + t).
 * Rows past N are zero (scale 0). Constant weights are packed once
 * (cpu_gemm_prepack); others per call. */
#include <math.h>
#include <stdlib.h>

#include "matmul_kern.h"

#define QM_ALIGN 64
static size_t align_up(size_t x) { return (x + QM_ALIGN - 1) & ~(size_t)(QM_ALIGN - 1); }
static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

typedef struct qm_isa {
    int vw, mr;
    cpu_qm_kern_fn kern;
    int (*nv)(int rm);
    bool vnni;
} qm_isa;

/* ---- scalar kernel (the AVX2 layout: VW 8, s8 q8_0 weights) ------------------------- */

static int qm_nv_scalar(int rm) { return rm == 1 ? 2 : 1; }

static void qm_kern_scalar(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                           const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                           int64_t nc) {
    enum { VW = 8 };
    const bool q8 = bt == SENTI_TYPE_Q8_0;
    const size_t bw = q8 ? 32 * VW : 16 * VW;
    for (int v = 0; v < np; v++) {
        const int64_t j0 = (int64_t)v * VW, jn = nc - j0 < VW ? nc - j0 : VW;
        const char *w = bp[v], *sc = w + wbytes;
        for (int i = 0; i < rm; i++)
            for (int64_t j = 0; j < jn; j++) {
                float s = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const int8_t *a = aq + i * K + b * 32;
                    const char *wb = w + (size_t)b * bw;
                    int32_t d = ac[i * nb + b];
                    if (q8) {
                        for (int kq = 0; kq < 8; kq++)
                            for (int t = 0; t < 4; t++) d += (int32_t)a[kq * 4 + t] * (int8_t)wb[(kq * VW + j) * 4 + t];
                    } else {
                        for (int g = 0; g < 4; g++)
                            for (int t = 0; t < 4; t++) {
                                const uint8_t byte = (uint8_t)wb[(g * VW + j) * 4 + t];
                                d += (int32_t)a[g * 4 + t] * (byte & 0x0f) + (int32_t)a[16 + g * 4 + t] * (byte >> 4);
                            }
                    }
                    uint16_t h;
                    memcpy(&h, sc + ((size_t)b * VW + (size_t)j) * 2, 2);
                    s = s + (float)d * (ad[i * nb + b] * senti_f16_to_f32(h));
                }
                C[i * ldc + j0 + j] = s;
            }
    }
}

static qm_isa pick_isa(const cpu_ctx *ctx) {
    if (ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_vnni)
        return (qm_isa){16, 6, cpu_qm_kern_avx512vnni, cpu_qm_nv_avx512vnni, true};
    if (ctx->simd >= CPU_SIMD_AVX2) return (qm_isa){8, 2, cpu_qm_kern_avx2, cpu_qm_nv_avx2, false};
    return (qm_isa){8, 1, qm_kern_scalar, qm_nv_scalar, false};
}

/* ---- packing ------------------------------------------------------------------------- */

static size_t panel_wbytes(senti_type bt, int vw, int64_t nb) {
    return align_up((size_t)nb * (size_t)vw * (bt == SENTI_TYPE_Q8_0 ? 32 : 16));
}
static size_t panel_bytes(senti_type bt, int vw, int64_t nb) {
    return panel_wbytes(bt, vw, nb) + align_up((size_t)nb * (size_t)vw * 2);
}

/* Panels [p0, p1) of weight B (rows of K, stride ldb) into dst (panel p at
 * dst + (p - p0) * panel_bytes). */
static void pack_panels(const qm_isa *isa, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K, int64_t p0,
                        int64_t p1, char *dst) {
    const int vw = isa->vw;
    const int64_t nb = K / SENTI_QK;
    const bool q8 = bt == SENTI_TYPE_Q8_0;
    const size_t wb = panel_wbytes(bt, vw, nb), pb = panel_bytes(bt, vw, nb), bw = (size_t)vw * (q8 ? 32 : 16);
    for (int64_t p = p0; p < p1; p++) {
        char *pw = dst + (size_t)(p - p0) * pb, *ps = pw + wb;
        memset(pw, 0, pb);
        for (int j = 0; j < vw; j++) {
            const int64_t n = p * vw + j;
            if (n >= N) break;
            const char *row = (const char *)B + (size_t)n * ldb;
            for (int64_t b = 0; b < nb; b++) {
                char *o = pw + (size_t)b * bw;
                if (q8) {
                    const senti_block_q8_0 *blk = (const senti_block_q8_0 *)row + b;
                    for (int kq = 0; kq < 8; kq++)
                        for (int t = 0; t < 4; t++) {
                            const int8_t w = blk->qs[kq * 4 + t];
                            o[((size_t)kq * vw + j) * 4 + t] = (char)(isa->vnni ? (uint8_t)w ^ 0x80 : (uint8_t)w);
                        }
                    memcpy(ps + ((size_t)b * vw + j) * 2, &blk->d, 2);
                } else {
                    const senti_block_q4_0 *blk = (const senti_block_q4_0 *)row + b;
                    for (int g = 0; g < 4; g++)
                        for (int t = 0; t < 4; t++) o[((size_t)g * vw + j) * 4 + t] = (char)blk->qs[g * 4 + t];
                    memcpy(ps + ((size_t)b * vw + j) * 2, &blk->d, 2);
                }
            }
        }
    }
}

size_t cpu_qgemm_pack_size(const cpu_ctx *ctx, senti_type bt, int64_t N, int64_t K, size_t *pan_bytes,
                           size_t *pan_wbytes) {
    const qm_isa isa = pick_isa(ctx);
    const int64_t np = (N + isa.vw - 1) / isa.vw, nb = K / SENTI_QK;
    *pan_bytes = panel_bytes(bt, isa.vw, nb);
    *pan_wbytes = panel_wbytes(bt, isa.vw, nb);
    size_t total;
    return senti_mul_ok(*pan_bytes, (size_t)np, &total) ? total : SIZE_MAX;
}

typedef struct pack_par {
    const qm_isa *isa;
    senti_type bt;
    const void *B;
    size_t ldb, pb;
    int64_t N, K;
    char *dst;
} pack_par;

static void pack_range(void *arg, int64_t p0, int64_t p1, int ith) {
    const pack_par *a = arg;
    (void)ith;
    pack_panels(a->isa, a->bt, a->B, a->ldb, a->N, a->K, p0, p1, a->dst + (size_t)p0 * a->pb);
}

void cpu_qgemm_pack(const cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K, char *dst) {
    const qm_isa isa = pick_isa(ctx);
    size_t pb, wb;
    cpu_qgemm_pack_size(ctx, bt, N, K, &pb, &wb);
    pack_par a = {&isa, bt, B, ldb, pb, N, K, dst};
    cpu_parallel_for(ctx, n_threads(ctx), (N + isa.vw - 1) / isa.vw, 0, pack_range, &a);
}

/* ---- activations ------------------------------------------------------------------------- */

typedef struct quant_par {
    const float *A;
    int64_t lda, K, nb;
    int off;
    int8_t *aq;
    float *ad;
    int32_t *ac;
} quant_par;

static void quant_range(void *arg, int64_t m0, int64_t m1, int ith) {
    const quant_par *q = arg;
    (void)ith;
    for (int64_t m = m0; m < m1; m++)
        for (int64_t b = 0; b < q->nb; b++) {
            const float *x = q->A + m * q->lda + b * SENTI_QK;
            int8_t *o = q->aq + m * q->K + b * SENTI_QK;
            float amax = 0.0f;
            bool finite = true;
            for (int j = 0; j < SENTI_QK; j++) {
                const float ax = fabsf(x[j]);
                finite = finite && ax <= 3.4028235e38f;
                amax = ax > amax ? ax : amax;
            }
            const float d = finite ? amax / 127.0f : NAN, id = finite && d > 0.0f ? 1.0f / d : 0.0f;
            int32_t sum = 0;
            for (int j = 0; j < SENTI_QK; j++) {
                const float r = roundf(x[j] * id);
                const int v = finite ? (int)(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r) : 0;
                o[j] = (int8_t)v;
                sum += v;
            }
            q->ad[m * q->nb + b] = d;
            q->ac[m * q->nb + b] = -q->off * sum;
        }
}

/* ---- the driver -------------------------------------------------------------------------- */

typedef struct qm_job {
    const qm_isa *isa;
    senti_type bt;
    int64_t M, N, K, nb, np_all, mc;
    const int8_t *aq;
    const float *ad;
    const int32_t *ac;
    const char *pan;
    size_t pb, wb;
    float *C;
    int64_t ldc;
    bool rows;
    const cpu_ctx *ctx;
    const cpu_epi *epi;
    int64_t chunk; /* rows or panels per item */
} qm_job;

/* Rows [m0, m1) against panels [p0, p1): row blocks of mc, then panel groups
 * outer and row tiles inner (a panel group's weights stay in L1 / L2). */
static void qm_block(const qm_job *j, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
    const qm_isa *isa = j->isa;
    const int64_t nb = j->nb;
    for (int64_t ic = m0; ic < m1; ic += j->mc) {
        const int64_t ie = m1 - ic < j->mc ? m1 - ic : j->mc;
        const int64_t full = ie / isa->mr, rem = ie % isa->mr;
        for (int pass = 0; pass < 2; pass++) {
            const int rm = pass == 0 ? isa->mr : (int)rem;
            const int64_t tiles = pass == 0 ? full : (rem ? 1 : 0);
            if (!tiles) continue;
            const int nvk = isa->nv(rm);
            for (int64_t p = p0; p < p1; p += nvk) {
                const int nq = (int)(p1 - p < nvk ? p1 - p : nvk);
                const char *bp[16];
                for (int t = 0; t < nq; t++) bp[t] = j->pan + (size_t)(p + t) * j->pb;
                const int64_t c0 = p * isa->vw, nc = j->N - c0 < (int64_t)nq * isa->vw ? j->N - c0 : nq * isa->vw;
                for (int64_t t = 0; t < tiles; t++) {
                    const int64_t r = ic + (pass == 0 ? t * isa->mr : full * isa->mr);
                    float *ct = j->C + r * j->ldc + c0;
                    isa->kern(rm, j->bt, nb, j->aq + r * j->K, j->K, j->ad + r * nb, j->ac + r * nb, bp, j->wb, ct,
                              j->ldc, nq, nc);
                    if (j->epi) cpu_epi_apply(j->ctx, j->epi, ct, j->ldc, r, rm, c0, nc);
                }
            }
        }
    }
}

/* Items of rows (many MR-row tiles) or of panel groups (few rows), handed
 * out dynamically (cpu_parallel_for). */
static void qm_items(void *arg, int64_t i0, int64_t i1, int ith) {
    const qm_job *j = arg;
    (void)ith;
    for (int64_t it = i0; it < i1; it++) {
        if (j->rows) {
            const int64_t r0 = it * j->chunk, r1 = r0 + j->chunk < j->M ? r0 + j->chunk : j->M;
            qm_block(j, r0, r1, 0, j->np_all);
        } else {
            const int64_t p0 = it * j->chunk, p1 = p0 + j->chunk < j->np_all ? p0 + j->chunk : j->np_all;
            qm_block(j, 0, j->M, p0, p1);
        }
    }
}

static int act_offset(const qm_isa *isa, senti_type bt) {
    if (bt == SENTI_TYPE_Q4_0) return 8;
    return isa->vnni ? 128 : 0;
}

size_t cpu_qgemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool packed) {
    const int64_t nb = K / SENTI_QK;
    size_t s = align_up((size_t)M * (size_t)K) + 2 * align_up((size_t)M * (size_t)nb * 4);
    if (!packed) {
        size_t pb, wb;
        s += align_up(cpu_qgemm_pack_size(ctx, bt, N, K, &pb, &wb));
    }
    return s;
}

void cpu_qgemm(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
               float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    if (M <= 0 || N <= 0) return;
    const qm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const senti_type bt = b->pan ? b->pt : b->bt;
    const int64_t nb = K / SENTI_QK;
    int8_t *aq = (int8_t *)ws;
    float *ad = (float *)(ws + align_up((size_t)M * (size_t)K));
    int32_t *ac = (int32_t *)((char *)ad + align_up((size_t)M * (size_t)nb * 4));
    char *rest = (char *)ac + align_up((size_t)M * (size_t)nb * 4);
    quant_par qp = {A, lda, K, nb, act_offset(&isa, bt), aq, ad, ac};
    cpu_parallel_for(ctx, M * K >= 16384 ? nth : 1, M, 0, quant_range, &qp);
    const char *pan = b->pan;
    size_t pb = b->pan_bytes, wb = b->pan_wbytes;
    if (!pan) {
        cpu_qgemm_pack_size(ctx, bt, N, K, &pb, &wb);
        cpu_qgemm_pack(ctx, bt, b->B, b->ldb, N, K, rest);
        pan = rest;
    }
    const int64_t np_all = (N + isa.vw - 1) / isa.vw, tiles = (M + isa.mr - 1) / isa.mr;
    const int64_t l2 = ctx->l2 > 0 ? ctx->l2 : 512 << 10;
    int64_t mc = (l2 / 2 / (K > 0 ? K : 1)) / isa.mr * isa.mr;
    if (mc < isa.mr) mc = isa.mr;
    qm_job j = {&isa, bt, M, N, K, nb, np_all, mc, aq, ad, ac, pan, pb, wb, C, ldc,
                nth <= 1 || tiles >= 4 * (int64_t)nth || np_all < nth, ctx, epi, 0};
    const int64_t per = j.rows ? M : np_all, quarter = (per + 4 * (int64_t)nth - 1) / (4 * (int64_t)nth);
    j.chunk = j.rows ? ((quarter + isa.mr - 1) / isa.mr * isa.mr > mc ? mc : (quarter + isa.mr - 1) / isa.mr * isa.mr)
                     : (quarter < 1 ? 1 : quarter);
    cpu_parallel_for(ctx, nth, (per + j.chunk - 1) / j.chunk, 1, qm_items, &j);
}
