/* qgemm.c — the int8 GEMM for q8_0 / q4_0 weights: activations quantized to
 * int8 per row and 32-block at run time, exact integer block dots (AVX512_VNNI
 * vpdpbusd, AVX2 vpmaddwd / vpmaddubsw, or scalar), scales applied per block
 * in f32.
 *
 * Reduction order (batch invariance): every output element is
 *   s = 0; for each block b in order: s = fma((float) idot_b, da_b * dw_b, s)
 * (multiply then add on the scalar level), with idot_b the exact integer dot.
 * It depends on K alone: never on M, the tile, the threads.
 *
 * Activations: per row and block, da = amax / 127 (f32), q = round(x / da)
 * in [-127, 127] (int8, or int16 for the AVX2 q8_0 kernel; vectorised in
 * cpu_q32_quant_<isa>, the same bytes), and ac = -off * sum(q), the offset
 * correction for weights stored unsigned (off = 128 for q8_0 and 8 for q4_0 on VNNI; 8 for q4_0 on
 * AVX2 and scalar). A block holding NaN or inf gets da = NaN, so the outputs
 * it touches are NaN.
 *
 * Weights: panels of VW output columns (16 on AVX-512, 8 otherwise): first
 * the weight bytes of every block (64-byte aligned), then every block's VW
 * f16 scales (dw, as stored). Block b of a panel:
 *   q8_0: 8 groups kq of VW x 4 bytes: w[n][32b + 4kq + t] (VNNI: w ^ 0x80);
 *         AVX2: 16 pairs kp of VW x 2 bytes: w[n][32b + 2kp + t], for
 *         vpmaddwd on int16 (the activations stored as int16 too);
 *   q4_0: 4 groups g of VW x 4 bytes: byte t = the block's qs[4g + t]
 *         (low nibble element 4g + t, high nibble element 16 + 4g + t).
 * Rows past N are zero (scale 0). Constant weights are packed once
 * (cpu_gemm_prepack); others per call.
 *
 * K-quants (q4_K, q6_K; kq_tile.inc states their maths): activations per
 * 256-block (one scale, int8 values, and the sums of every 16), weights per
 * super-block as q4_K nibbles qs[32c + 4g + t] in groups (c, g) or q6_K
 * values (0..63) q[16i + 4g + t] in groups (i, g), VW x 4 bytes a group,
 * then per block a metadata record: q4_K sc[8][VW], m[8][VW] (u8), d[VW],
 * dmin[VW] (f16); q6_K sc[16][VW] (i8), d[VW] (f16).
 *
 * Row-scaled int8 weights (SENTI_TYPE_INT8, core.h: per output channel n a
 * scale dw[n] and int8 w[n][k] in [-127, 127]) — the real int8 path:
 *   activations per ROW (not per block), centred on the row's mid-range c
 *   (the resolution of u8 with an offset, kept signed so both levels share
 *   one kernel maths): da[m] = half range / 127, q = round((x - c) / da) in
 *   [-127, 127] (senti_quantize_int8_centered's rule and bytes, vectorised
 *   in cpu_i8_quant_<isa>), zero-padded to Kp = K rounded up to 4, the rows of
 *   each tile of MR (every tile starts at a multiple of MR) interleaved by
 *   groups of 4 bytes (group g of row i at 4 (g rt + i), rt the tile's
 *   rows): 4 int8 values, or on AVX2 groups of 8 bytes (group g of row i at
 *   8 (g rt + i)), the same values as int16 in the order a0, a2, a1, a3
 *   (Winograd's, i8_tile.inc), so a tile's broadcasts walk one pointer; a row holding NaN or inf
 *   gets da = NaN, so its outputs are NaN;
 *   C[m][n] = (float) idot * (da[m] * dw[n]) + c[m] * ws[n] (two products,
 *   then one sum), idot = sum_k q[m][k] w[n][k] in int32 over the whole K,
 *   ws[n] = dw[n] * sum_k w[n][k] made at packing. The integer sum is exact (K <= SENTI_INT8_MAX_K),
 *   so there is no reduction-order question: any tile, M, thread count or
 *   SIMD level gives the same integer, and the one f32 product after it is
 *   the same, so the bytes are the same on every level (batch invariance and
 *   cross-machine equality). Scales, then bias / activation (cpu_epi), are
 *   applied once per output.
 *   Panels of VW columns: Kp / 4 groups of VW x 4 bytes, w[n][4g + t] at
 *   (g VW + j) 4 + t (VNNI: w ^ 0x80 = w + 128, unsigned for vpdpbusd, and
 *   the activation row's correction ac = -128 sum_k q; scalar: s8 w, ac =
 *   0); AVX2: Kp / 4 groups of WX then WY, VW x 2 bytes each: WX holds
 *   w[n][4g + 1], w[n][4g + 3] at 2 j, 2 j + 1, WY w[n][4g], w[n][4g + 2]
 *   (s8, widened to int16 on load; ac = -sum over even k of q[k] q[k + 1]);
 *   then VW f32 scales dw, VW f32 ws and VW int32 cw = sum over even k of
 *   w[n][k] w[n][k + 1] (Winograd's column term; 0 on the other levels), 64-byte
 *   aligned.
 *   Every level keeps full 8-bit weights: vpdpbusd on offset weights and
 *   Winograd's vpmaddwd on int16 sums are exact without the 7-bit weights of ORT's
 *   reduce_range (vpmaddubsw pairs of u8 x s8 would saturate), so the
 *   weights, and the outputs, are the same on every machine. */
#include <math.h>
#include <stdlib.h>

#include "matmul_kern.h"

#define QM_ALIGN 64
static size_t align_up(size_t x) { return (x + QM_ALIGN - 1) & ~(size_t)(QM_ALIGN - 1); }
static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

typedef struct qm_isa {
    int vw, mr, kmr, imr;
    cpu_qm_kern_fn kern, kkern; /* q8_0 / q4_0, and the K-quants */
    int (*nv)(int rm), (*knv)(int rm), (*inv)(int rm);
    bool vnni, w16; /* w16: AVX2's activations as int16 (q8_0: panels of pairs; int8: Winograd's groups) */
    cpu_i8_kern_fn ikern; /* int8 */
    cpu_i8_quant_fn iquant;
    void (*bquant)(const float *x, int64_t nb, int8_t *o8, int16_t *o16, float *d, int32_t *s, int off); /* 32-blocks */
    cpu_i8_kern_fn ikern16; /* int8, full tiles on widened panels (AVX2), or NULL */
    void (*iwiden)(const char *src, size_t wb, size_t mb, char *dst); /* its panel widening */
} qm_isa;

static bool kquant(senti_type bt) { return bt == SENTI_TYPE_Q4_K || bt == SENTI_TYPE_Q6_K; }
static int64_t qblock(senti_type bt) { return kquant(bt) ? SENTI_QK_K : SENTI_QK; }
/* Blocks along K: 32 / 256 elements, or groups of 4 for int8 (K padded). */
static int64_t n_blocks(senti_type bt, int64_t K) { return bt == SENTI_TYPE_INT8 ? (K + 3) / 4 : K / qblock(bt); }

/* ---- scalar kernel (the AVX2 layout: VW 8, s8 q8_0 weights) ------------------------- */

static int qm_nv_scalar(int rm) { return rm == 1 ? 2 : 1; }

static void qm_kern_scalar(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                           const int32_t *ac, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                           int64_t nc, const float *bias, const float *res, int64_t ldr) {
    /* Per output the same arithmetic as the SIMD tiles' reference order:
     * s = s + (float) idot_b * (ad_b * dw_b) over the blocks in order. The
     * panel's f16 scales are converted once per CH blocks (not per row and
     * column), and each block's eight column dots run over contiguous bytes,
     * which the compiler vectorises with the baseline SSE2. */
    enum { VW = 8, CH = 64, RMAX = 4 };
    const bool q8 = bt == SENTI_TYPE_Q8_0;
    const size_t bw = q8 ? 32 * VW : 16 * VW;
    if (rm > RMAX) rm = RMAX; /* never: the scalar tile is one row */
    for (int v = 0; v < np; v++) {
        const int64_t j0 = (int64_t)v * VW, jn = nc - j0 < VW ? nc - j0 : VW;
        const char *w = bp[v], *sc = w + wbytes;
        float s[RMAX][VW] = {{0}};
        for (int64_t b0 = 0; b0 < nb; b0 += CH) {
            const int64_t bn = nb - b0 < CH ? nb - b0 : CH;
            float dw[CH][VW];
            for (int64_t b = 0; b < bn; b++)
                for (int j = 0; j < VW; j++) {
                    uint16_t h;
                    memcpy(&h, sc + ((size_t)(b0 + b) * VW + (size_t)j) * 2, 2);
                    dw[b][j] = senti_f16_to_f32(h);
                }
            for (int i = 0; i < rm; i++)
                for (int64_t b = b0; b < b0 + bn; b++) {
                    const int8_t *a = aq + i * K + b * 32;
                    const uint8_t *wb = (const uint8_t *)w + (size_t)b * bw;
                    int32_t d[VW];
                    for (int j = 0; j < VW; j++) d[j] = ac[i * nb + b];
                    if (q8) {
                        for (int kq = 0; kq < 8; kq++)
                            for (int j = 0; j < VW; j++)
                                for (int t = 0; t < 4; t++)
                                    d[j] += (int32_t)a[kq * 4 + t] * (int8_t)wb[(kq * VW + j) * 4 + t];
                    } else {
                        for (int g = 0; g < 4; g++)
                            for (int j = 0; j < VW; j++)
                                for (int t = 0; t < 4; t++) {
                                    const uint8_t byte = wb[(g * VW + j) * 4 + t];
                                    d[j] += (int32_t)a[g * 4 + t] * (byte & 0x0f) +
                                            (int32_t)a[16 + g * 4 + t] * (byte >> 4);
                                }
                    }
                    const float da = ad[i * nb + b];
                    for (int j = 0; j < VW; j++) s[i][j] = s[i][j] + (float)d[j] * (da * dw[b - b0][j]);
                }
        }
        for (int i = 0; i < rm; i++)
            for (int64_t j = 0; j < jn; j++) C[i * ldc + j0 + j] = cpu_epi_add(s[i][j], bias, res, ldr, i, j0 + j);
    }
}

static void kq_kern_scalar(int rm, senti_type bt, int64_t nb, const int8_t *aq, int64_t K, const float *ad,
                           const int32_t *as16, const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np,
                           int64_t nc, const float *bias, const float *res, int64_t ldr) {
    enum { VW = 8 };
    const bool q4 = bt == SENTI_TYPE_Q4_K;
    const size_t bw = (q4 ? 128 : 256) * VW, bm = (q4 ? 20 : 18) * VW;
    for (int v = 0; v < np; v++) {
        const int64_t j0 = (int64_t)v * VW, jn = nc - j0 < VW ? nc - j0 : VW;
        const char *w = bp[v], *mt = w + wbytes;
        for (int i = 0; i < rm; i++)
            for (int64_t n = 0; n < jn; n++) {
                float s = 0.0f;
                for (int64_t b = 0; b < nb; b++) {
                    const int8_t *a = aq + i * K + b * 256;
                    const int32_t *as = as16 + (i * nb + b) * 16;
                    const char *wb = w + (size_t)b * bw, *m = mt + (size_t)b * bm;
                    int32_t isum = 0, msum = 0;
                    for (int j = 0; j < (q4 ? 8 : 16); j++) {
                        int32_t d = q4 ? 0 : -32 * as[j];
                        for (int g = 0; g < (q4 ? 8 : 4); g++)
                            for (int t = 0; t < 4; t++) {
                                uint8_t byte;
                                if (q4) {
                                    byte = (uint8_t)wb[(((j / 2) * 8 + g) * VW + n) * 4 + t];
                                    byte = (j & 1) ? byte >> 4 : byte & 0x0f;
                                } else {
                                    byte = (uint8_t)wb[((j * 4 + g) * VW + n) * 4 + t];
                                }
                                d += (int32_t)byte * a[j * (q4 ? 32 : 16) + g * 4 + t];
                            }
                        isum += d * (q4 ? (int32_t)(uint8_t)m[j * VW + n] : (int32_t)(int8_t)m[j * VW + n]);
                        if (q4) msum += (int32_t)(uint8_t)m[(8 + j) * VW + n] * (as[2 * j] + as[2 * j + 1]);
                    }
                    uint16_t hd;
                    memcpy(&hd, m + 16 * VW + 2 * n, 2);
                    s = s + (float)isum * (ad[i * nb + b] * senti_f16_to_f32(hd));
                    if (q4) {
                        uint16_t hm;
                        memcpy(&hm, m + 18 * VW + 2 * n, 2);
                        s = s + (float)msum * (ad[i * nb + b] * -senti_f16_to_f32(hm));
                    }
                }
                C[i * ldc + j0 + n] = cpu_epi_add(s, bias, res, ldr, i, j0 + n);
            }
    }
}

static int kq_nv_scalar(int rm) { return rm == 1 ? 2 : 1; }

/* int8 weights, the scalar level (VW 8, groups of 4 s8 weights, ac 0):
 * the exact integer dot, then the one product of the SIMD kernels. */
static void i8_kern_scalar(int rm, int64_t ng, const int8_t *aq, const float *ad, const float *acen, const int32_t *ac,
                           const char *const *bp, size_t wbytes, float *C, int64_t ldc, int np, int64_t nc,
                           const float *bias, const float *res, int64_t ldr) {
    enum { VW = 8 };
    for (int v = 0; v < np; v++) {
        const int64_t j0 = (int64_t)v * VW, jn = nc - j0 < VW ? nc - j0 : VW;
        const int8_t *w = (const int8_t *)bp[v];
        const float *dw = (const float *)(bp[v] + wbytes), *ws = dw + VW;
        for (int i = 0; i < rm; i++)
            for (int64_t j = 0; j < jn; j++) {
                int32_t d = ac[i];
                for (int64_t g = 0; g < ng; g++)
                    for (int t = 0; t < 4; t++) d += (int32_t)aq[(g * rm + i) * 4 + t] * w[(g * VW + j) * 4 + t];
                float r = (float)d * (ad[i] * dw[j]) + acen[i] * ws[j];
                if (bias) r += bias[j0 + j];
                if (res) r += res[i * ldr + j0 + j];
                C[i * ldc + j0 + j] = r;
            }
    }
}

static int i8_nv_scalar(int rm) { return rm == 1 ? 2 : 1; }

static void i8_quant_scalar(const float *x, int64_t K, int64_t Kp, int8_t *q, int64_t gs, float *d, float *c,
                            int32_t *sum) {
    SENTI_ASSERT(gs == 4); /* the scalar tile has one row: rows are not interleaved */
    *d = senti_quantize_int8_centered(x, q, K, c);
    memset(q + K, 0, (size_t)(Kp - K));
    int32_t s = 0;
    for (int64_t k = 0; k < K; k++) s += q[k];
    *sum = s;
}

static qm_isa pick_isa(const cpu_ctx *ctx) {
    if (ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_vnni)
        return (qm_isa){16, 6, 4, 8, cpu_qm_kern_avx512vnni, cpu_kq_kern_avx512vnni, cpu_qm_nv_avx512vnni,
                        cpu_kq_nv_avx512vnni, cpu_i8_nv_avx512vnni, true, false, cpu_i8_kern_avx512vnni,
                        cpu_i8_quant_avx512vnni, cpu_q32_quant_avx512vnni, NULL, NULL};
    if (ctx->simd >= CPU_SIMD_AVX2)
        return (qm_isa){8, 4, 2, 4, cpu_qm_kern_avx2, cpu_kq_kern_avx2, cpu_qm_nv_avx2, cpu_kq_nv_avx2,
                        cpu_i8_nv_avx2, false, true, cpu_i8_kern_avx2, cpu_i8_quant_avx2,
                        cpu_q32_quant_avx2, cpu_i8_kern16_avx2, cpu_i8_widen_avx2};
    return (qm_isa){8, 1, 1, 1, qm_kern_scalar, kq_kern_scalar, qm_nv_scalar, kq_nv_scalar, i8_nv_scalar, false,
                    false, i8_kern_scalar, i8_quant_scalar, NULL, NULL, NULL};
}

/* ---- packing ------------------------------------------------------------------------- */

/* weight bytes and metadata bytes of one block of a panel, per column */
static size_t col_wbytes(senti_type bt) {
    return bt == SENTI_TYPE_Q8_0  ? 32
           : bt == SENTI_TYPE_Q4_0 ? 16
           : bt == SENTI_TYPE_Q4_K ? 128
           : bt == SENTI_TYPE_INT8 ? 4
                                   : 256;
}
static size_t col_mbytes(senti_type bt) { return bt == SENTI_TYPE_Q4_K ? 20 : bt == SENTI_TYPE_Q6_K ? 18 : 2; }
static size_t panel_wbytes(senti_type bt, int vw, int64_t nb) { return align_up((size_t)nb * (size_t)vw * col_wbytes(bt)); }
static size_t panel_bytes(senti_type bt, int vw, int64_t nb) {
    if (bt == SENTI_TYPE_INT8) return panel_wbytes(bt, vw, nb) + align_up((size_t)vw * 12); /* dw, ws, cw per column */
    return panel_wbytes(bt, vw, nb) + align_up((size_t)nb * (size_t)vw * col_mbytes(bt));
}

/* Panels [p0, p1) of weight B (rows of K, stride ldb) into dst (panel p at
 * dst + (p - p0) * panel_bytes). */
/* One row's K-quant block b into its panel column j (weights and metadata). */
static void pack_kblock(senti_type bt, int vw, const char *row, int64_t b, int j, char *pw, char *pm) {
    if (bt == SENTI_TYPE_Q4_K) {
        const senti_block_q4_K *blk = (const senti_block_q4_K *)row + b;
        char *o = pw + (size_t)b * 128 * vw, *m = pm + (size_t)b * 20 * vw;
        for (int c = 0; c < 4; c++)
            for (int g = 0; g < 8; g++)
                for (int t = 0; t < 4; t++) o[((size_t)(c * 8 + g) * vw + j) * 4 + t] = (char)blk->qs[32 * c + 4 * g + t];
        for (int s = 0; s < 8; s++) {
            uint8_t sc, mn;
            senti_q4_K_scale_min(blk->scales, s, &sc, &mn);
            m[s * vw + j] = (char)sc;
            m[(8 + s) * vw + j] = (char)mn;
        }
        memcpy(m + 16 * vw + 2 * j, &blk->d, 2);
        memcpy(m + 18 * vw + 2 * j, &blk->dmin, 2);
    } else {
        const senti_block_q6_K *blk = (const senti_block_q6_K *)row + b;
        char *o = pw + (size_t)b * 256 * vw, *m = pm + (size_t)b * 18 * vw;
        uint8_t q[SENTI_QK_K];
        senti_unpack_q6_K(blk, q);
        for (int i = 0; i < 16; i++)
            for (int g = 0; g < 4; g++)
                for (int t = 0; t < 4; t++) o[((size_t)(i * 4 + g) * vw + j) * 4 + t] = (char)q[16 * i + 4 * g + t];
        for (int i = 0; i < 16; i++) m[i * vw + j] = (char)blk->scales[i];
        memcpy(m + 16 * vw + 2 * j, &blk->d, 2);
    }
}

/* int8 rows (core.h layout) into panels: groups of 4 k (AVX2: pairs of k), then the f32 scales. */
static void pack_i8(const qm_isa *isa, const void *B, size_t ldb, int64_t N, int64_t K, int64_t p0, int64_t p1,
                    char *dst) {
    const int vw = isa->vw;
    const int64_t ng = n_blocks(SENTI_TYPE_INT8, K);
    const size_t wb = panel_wbytes(SENTI_TYPE_INT8, vw, ng), pb = panel_bytes(SENTI_TYPE_INT8, vw, ng);
    for (int64_t p = p0; p < p1; p++) {
        char *pw = dst + (size_t)(p - p0) * pb;
        memset(pw, 0, pb);
        for (int j = 0; j < vw && p * vw + j < N; j++) {
            const char *row = (const char *)B + (size_t)(p * vw + j) * ldb;
            float dw;
            memcpy(&dw, row, 4);
            const int8_t *q = (const int8_t *)row + 4;
            int32_t sum = 0, pairs = 0; /* exact, and sum exact in f32: |sum| <= 127 K < 2^24 */
            for (int64_t k = 0; k < 4 * ng; k++) {
                const int8_t w = k < K ? q[k] : 0;
                const size_t g = (size_t)(k / 4) * (size_t)vw * 4;
                const size_t at = isa->w16 ? g + (k % 2 ? 0 : 2 * (size_t)vw) + 2 * (size_t)j + (size_t)(k % 4) / 2
                                           : g + 4 * (size_t)j + (size_t)(k % 4); /* AVX2: WX, WY; else groups of 4 */
                pw[at] = (char)(isa->vnni ? (uint8_t)w ^ 0x80 : (uint8_t)w);
                sum += w;
                if (isa->w16 && k % 2) pairs += (k - 1 < K ? q[k - 1] : 0) * w; /* Winograd's term: AVX2 only */
            }
            const float ws = dw * (float)sum;
            memcpy(pw + wb + 4 * (size_t)j, &dw, 4);
            memcpy(pw + wb + 4 * ((size_t)vw + j), &ws, 4);
            memcpy(pw + wb + 4 * (2 * (size_t)vw + j), &pairs, 4);
        }
    }
}

static void pack_panels(const qm_isa *isa, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K, int64_t p0,
                        int64_t p1, char *dst) {
    const int vw = isa->vw;
    const int64_t nb = K / qblock(bt);
    if (bt == SENTI_TYPE_INT8) {
        pack_i8(isa, B, ldb, N, K, p0, p1, dst);
        return;
    }
    if (kquant(bt)) {
        const size_t wb = panel_wbytes(bt, vw, nb), pb = panel_bytes(bt, vw, nb);
        for (int64_t p = p0; p < p1; p++) {
            char *pw = dst + (size_t)(p - p0) * pb;
            memset(pw, 0, pb);
            for (int j = 0; j < vw && p * vw + j < N; j++)
                for (int64_t b = 0; b < nb; b++)
                    pack_kblock(bt, vw, (const char *)B + (size_t)(p * vw + j) * ldb, b, j, pw, pw + wb);
        }
        return;
    }
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
                if (q8 && isa->w16) {
                    const senti_block_q8_0 *blk = (const senti_block_q8_0 *)row + b;
                    for (int kp = 0; kp < 16; kp++)
                        for (int t = 0; t < 2; t++) o[((size_t)kp * vw + j) * 2 + t] = (char)blk->qs[kp * 2 + t];
                    memcpy(ps + ((size_t)b * vw + j) * 2, &blk->d, 2);
                } else if (q8) {
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
    const int64_t np = (N + isa.vw - 1) / isa.vw, nb = n_blocks(bt, K);
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
    const qm_isa *isa;
    senti_type bt;
    const float *A;
    int64_t lda, K, nb, qb; /* K: aq's row stride in bytes; blocks of qb values (32, or 256 for the
                               K-quants); int8: nb groups of 4 (Kp = 4 nb) and qb = the real K */
    int64_t M, mr; /* int8: rows, and the tile height rows are interleaved by */
    int off;
    bool w16; /* int16 activations (q8_0 and int8 on AVX2) */
    int8_t *aq;
    float *ad;
    int32_t *ac; /* per block -off * sum (qb 32), or the sums of every 16 (qb 256) */
} quant_par;

static void quant_range(void *arg, int64_t m0, int64_t m1, int ith) {
    const quant_par *q = arg;
    (void)ith;
    if (q->bt == SENTI_TYPE_INT8) { /* per row, into its tile of mr rows interleaved by groups of 4 */
        for (int64_t m = m0; m < m1; m++) {
            const int64_t t0 = m / q->mr * q->mr, rt = q->M - t0 < q->mr ? q->M - t0 : q->mr;
            int32_t sum;
            const int64_t gb = q->w16 ? 8 : 4; /* bytes of a group of 4 values */
            q->isa->iquant(q->A + m * q->lda, q->qb, 4 * q->nb, q->aq + t0 * q->K + gb * (m - t0), gb * rt, q->ad + m,
                           q->ad + q->M + m, &sum);
            q->ac[m] = q->w16 ? -sum : -q->off * sum; /* AVX2: minus the row's pair term */
        }
        return;
    }
    const int64_t qb = q->qb, nsum = qb == SENTI_QK ? 1 : qb / 16;
    if (qb == SENTI_QK && q->isa->bquant) {
        for (int64_t m = m0; m < m1; m++) {
            int8_t *o = q->aq + m * q->K;
            q->isa->bquant(q->A + m * q->lda, q->nb, q->w16 ? NULL : o, q->w16 ? (int16_t *)(void *)o : NULL,
                           q->ad + m * q->nb, q->ac + m * q->nb, q->off);
        }
        return;
    }
    for (int64_t m = m0; m < m1; m++)
        for (int64_t b = 0; b < q->nb; b++) {
            const float *x = q->A + m * q->lda + b * qb;
            int8_t *o = q->aq + m * q->K + b * qb;
            int16_t *o16 = (int16_t *)(void *)(q->aq + m * q->K) + b * qb;
            float amax = 0.0f;
            bool finite = true;
            for (int64_t j = 0; j < qb; j++) {
                const float ax = fabsf(x[j]);
                finite = finite && ax <= 3.4028235e38f;
                amax = ax > amax ? ax : amax;
            }
            const float d = finite ? amax / 127.0f : NAN, id = finite && d > 0.0f ? 1.0f / d : 0.0f;
            int32_t *sums = q->ac + (m * q->nb + b) * nsum;
            for (int64_t s = 0; s < nsum; s++) sums[s] = 0;
            for (int64_t j = 0; j < qb; j++) {
                const float r = roundf(x[j] * id);
                const int v = finite ? (int)(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r) : 0;
                if (q->w16) o16[j] = (int16_t)v;
                else o[j] = (int8_t)v;
                sums[nsum == 1 ? 0 : j / 16] += v;
            }
            if (nsum == 1) sums[0] *= -q->off;
            q->ad[m * q->nb + b] = d;
        }
}

/* ---- the driver -------------------------------------------------------------------------- */

typedef struct qm_job {
    const qm_isa *isa;
    senti_type bt;
    int64_t M, N, K, nb, np_all, mc, mr;
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
    const char *wide; /* int8 with ikern16: every panel widened (cpu_i8_widen), wpb bytes apart, or NULL */
    size_t wpb;
} qm_job;

/* Rows [m0, m1) against panels [p0, p1): row blocks of mc, then panel groups
 * outer and row tiles inner (a panel group's weights stay in L1 / L2). */
static void qm_block(const qm_job *j, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
    const qm_isa *isa = j->isa;
    const bool i8 = j->bt == SENTI_TYPE_INT8;
    const int64_t nb = j->nb, nsum = kquant(j->bt) ? 16 : 1, mr = j->mr, ds = i8 ? 1 : nb; /* ad / ac per row */
    const cpu_qm_kern_fn kern = kquant(j->bt) ? isa->kkern : isa->kern;
    const cpu_epi act = {NULL, NULL, 0, j->epi ? j->epi->act : SENTI_OP_COUNT}; /* what the tiles leave */
    for (int64_t ic = m0; ic < m1; ic += j->mc) {
        const int64_t ie = m1 - ic < j->mc ? m1 - ic : j->mc;
        const int64_t full = ie / mr, rem = ie % mr;
        for (int pass = 0; pass < 2; pass++) {
            const int rm = pass == 0 ? (int)mr : (int)rem;
            const int64_t tiles = pass == 0 ? full : (rem ? 1 : 0);
            if (!tiles) continue;
            const int nvk = i8 ? isa->inv(rm) : kquant(j->bt) ? isa->knv(rm) : isa->nv(rm);
            for (int64_t p = p0; p < p1; p += nvk) {
                const int nq = (int)(p1 - p < nvk ? p1 - p : nvk);
                /* int8: the full tiles on the widened panels (the same integers) */
                const bool wide = i8 && j->wide && pass == 0;
                const char *bp[16];
                for (int t = 0; t < nq; t++)
                    bp[t] = wide ? j->wide + (size_t)(p + t) * j->wpb : j->pan + (size_t)(p + t) * j->pb;
                const int64_t c0 = p * isa->vw, nc = j->N - c0 < (int64_t)nq * isa->vw ? j->N - c0 : nq * isa->vw;
                for (int64_t t = 0; t < tiles; t++) {
                    const int64_t r = ic + (pass == 0 ? t * mr : full * mr);
                    float *ct = j->C + r * j->ldc + c0;
                    /* every tile adds bias and residual in its registers; the activation after */
                    const float *tb = cpu_epi_bias(j->epi, c0), *tr = cpu_epi_res(j->epi, r, c0);
                    const int64_t ldr = j->epi ? j->epi->ldr : 0;
                    if (i8)
                        (wide ? isa->ikern16 : isa->ikern)(rm, nb, j->aq + r * j->K, j->ad + r, j->ad + j->M + r,
                                                           j->ac + r, bp, wide ? 2 * j->wb : j->wb, ct, j->ldc, nq,
                                                           nc, tb, tr, ldr);
                    else
                        kern(rm, j->bt, nb, j->aq + r * j->K, j->K, j->ad + r * ds, j->ac + r * ds * nsum, bp, j->wb,
                             ct, j->ldc, nq, nc, tb, tr, ldr);
                    if (act.act != SENTI_OP_COUNT) cpu_epi_apply(j->ctx, &act, ct, j->ldc, r, rm, c0, nc);
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
    return (bt == SENTI_TYPE_Q8_0 || bt == SENTI_TYPE_INT8) && isa->vnni ? 128 : 0;
}

/* Activations as int16 (q8_0 and int8 on AVX2: their vpmaddwd kernels) rather than int8. */
static bool act16(const qm_isa *isa, senti_type bt) {
    return isa->w16 && (bt == SENTI_TYPE_Q8_0 || bt == SENTI_TYPE_INT8);
}

/* Activation workspace: int8 (act16: int16) values (int8: rows of Kp), block
 * (int8: row) scales (int8: then the M row centres), block (row) sums. */
static size_t act_bytes(const qm_isa *isa, int64_t M, int64_t K, senti_type bt, size_t *ad_off, size_t *ac_off) {
    if (bt == SENTI_TYPE_INT8) {
        *ad_off = align_up((size_t)M * (size_t)(4 * n_blocks(bt, K)) * (act16(isa, bt) ? 2 : 1));
        *ac_off = *ad_off + align_up((size_t)M * 8); /* scales, then centres */
        return *ac_off + align_up((size_t)M * 4);
    }
    const int64_t nb = K / qblock(bt), nsum = kquant(bt) ? 16 : 1;
    *ad_off = align_up((size_t)M * (size_t)K * (act16(isa, bt) ? 2 : 1));
    *ac_off = *ad_off + align_up((size_t)M * (size_t)nb * 4);
    return *ac_off + align_up((size_t)M * (size_t)nb * (size_t)nsum * 4);
}

/* int8 with a widening tile (AVX2): the bytes of one widened panel, when M
 * has enough full tiles to share it (WIDE_TILES or more; else 0). */
enum { WIDE_TILES = 8 };
static size_t wide_panel(const qm_isa *isa, senti_type bt, int64_t M, size_t pb, size_t wb) {
    if (bt != SENTI_TYPE_INT8 || !isa->ikern16 || M / isa->imr < WIDE_TILES) return 0;
    return align_up(2 * wb + (pb - wb));
}

typedef struct widen_par {
    const qm_isa *isa;
    const char *pan;
    size_t pb, wb, wpb;
    char *wide;
} widen_par;

static void widen_range(void *arg, int64_t p0, int64_t p1, int ith) {
    const widen_par *w = arg;
    (void)ith;
    for (int64_t p = p0; p < p1; p++)
        w->isa->iwiden(w->pan + (size_t)p * w->pb, w->wb, w->pb - w->wb, w->wide + (size_t)p * w->wpb);
}

size_t cpu_qgemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, senti_type bt, bool packed) {
    const qm_isa isa = pick_isa(ctx);
    size_t ad_off, ac_off, s = act_bytes(&isa, M, K, bt, &ad_off, &ac_off), pb, wb;
    const size_t pack = cpu_qgemm_pack_size(ctx, bt, N, K, &pb, &wb);
    if (!packed) s += align_up(pack);
    return s + (size_t)((N + isa.vw - 1) / isa.vw) * wide_panel(&isa, bt, M, pb, wb);
}

void cpu_qgemm(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
               float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    if (M <= 0 || N <= 0) return;
    const qm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const senti_type bt = b->pan ? b->pt : b->bt;
    const bool i8 = bt == SENTI_TYPE_INT8;
    const int64_t nb = n_blocks(bt, K), Ka = (i8 ? 4 * nb : K) * (act16(&isa, bt) ? 2 : 1); /* aq's row stride, bytes */
    size_t ad_off, ac_off;
    char *rest = ws + act_bytes(&isa, M, K, bt, &ad_off, &ac_off);
    int8_t *aq = (int8_t *)ws;
    float *ad = (float *)(ws + ad_off);
    int32_t *ac = (int32_t *)(ws + ac_off);
    const int64_t mr = i8 ? isa.imr : kquant(bt) ? isa.kmr : isa.mr;
    quant_par qp = {&isa, bt, A, lda, Ka, nb, i8 ? K : qblock(bt), M, mr, act_offset(&isa, bt), act16(&isa, bt), aq, ad, ac};
    cpu_parallel_for(ctx, M * K >= 16384 ? nth : 1, M, 0, quant_range, &qp);
    const char *pan = b->pan;
    size_t pb = b->pan_bytes, wb = b->pan_wbytes;
    if (!pan) {
        const size_t pack = cpu_qgemm_pack_size(ctx, bt, N, K, &pb, &wb);
        cpu_qgemm_pack(ctx, bt, b->B, b->ldb, N, K, rest);
        pan = rest;
        rest += align_up(pack);
    }
    const int64_t np_all = (N + isa.vw - 1) / isa.vw, tiles = (M + mr - 1) / mr;
    const int64_t l2 = ctx->l2 > 0 ? ctx->l2 : 512 << 10;
    int64_t mc = (l2 / 2 / (Ka > 0 ? Ka : 1)) / mr * mr; /* the row block's activations in half of L2 */
    if (mc < mr) mc = mr;
    /* int8 on AVX2 with many full tiles: every panel to int16 once, for all of them */
    const size_t wpb = wide_panel(&isa, bt, M, pb, wb);
    if (wpb) {
        widen_par wp = {&isa, pan, pb, wb, wpb, rest};
        cpu_parallel_for(ctx, nth, np_all, 0, widen_range, &wp);
    }
    qm_job j = {&isa, bt, M, N, Ka, nb, np_all, mc, mr, aq, ad, ac, pan, pb, wb, C, ldc,
                nth <= 1 || tiles >= 4 * (int64_t)nth || np_all < nth, ctx, epi, 0, wpb ? rest : NULL, wpb};
    const int64_t per = j.rows ? M : np_all, quarter = (per + 8 * (int64_t)nth - 1) / (8 * (int64_t)nth);
    j.chunk = j.rows ? ((quarter + mr - 1) / mr * mr > mc ? mc : (quarter + mr - 1) / mr * mr)
                     : (quarter < 1 ? 1 : quarter);
    cpu_parallel_for(ctx, nth, (per + j.chunk - 1) / j.chunk, 1, qm_items, &j);
}
