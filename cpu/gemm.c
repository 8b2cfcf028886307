/* gemm.c — the f32-accumulating GEMM of the CPU backend (f32, f16 and bf16
 * weights; bf16 only where the CPU lacks AVX512_BF16): packing, the cache of
 * weights packed once (it also holds the int8 GEMM's panels, qgemm.c, and
 * the bf16 pairs of matmul.c's vdpbf16ps tiles), cache
 * blocking, the work split and the scalar tile kernel.
 *
 * Reduction order (the batch-invariance contract, DESIGN.md): every output
 * element is ONE multiply-add chain over k = 0 … K-1 from 0 — fused on AVX2
 * and AVX-512, multiply then add on the scalar level. Tiles continue a chain
 * by loading C as their accumulators, so the result never depends on M (how
 * many rows share the call), on the row's tile or position, on the k / n
 * blocking or on the thread split. Every path of every M goes through the same
 * tile kernels: there is no separate few-rows path with its own order.
 *
 * Layout: B becomes panels of NR columns (NR = 2 SIMD vectors; 16 on AVX2,
 * 32 on AVX-512, 8 scalar), k-major: element (k, j) of panel p at
 * panel_p[k*NR + j], columns past N zero. Weights flagged constant are packed
 * once (cpu_gemm_prepack, f16 / bf16 kept half size and widened exactly in the
 * kernel); other operands are packed per call: whole up to MM_PACK_ALL,
 * else a group of panels and a k block at a time.
 * Blocking (BLIS order): k blocks of KC (a B micro-panel KC x NR stays in L1),
 * row blocks of MC (the packed A block MC x KC stays in L2), NCP panels per B
 * block; row tiles of near-equal height up to MR. Work goes out in dynamic
 * items: row blocks of equal height, a multiple of the thread count, when
 * there are enough MR-row tiles, else panel groups. */
#include <stdlib.h>

#include "matmul_kern.h"

#define MM_ALIGN 64
static size_t align_up(size_t x) { return (x + MM_ALIGN - 1) & ~(size_t)(MM_ALIGN - 1); }

/* ---- the scalar tile kernel ------------------------------------------------------ */

static int mm_np_scalar(int rm) { return rm == 1 ? 4 : rm == 2 ? 2 : 1; }

static inline float panel_f(senti_type pt, const void *p, int64_t i) {
    if (pt == SENTI_TYPE_F32) return ((const float *)p)[i];
    const uint16_t h = ((const uint16_t *)p)[i];
    return pt == SENTI_TYPE_F16 ? senti_f16_to_f32(h) : senti_bf16_to_f32(h);
}

/* c = c + a*b with two roundings (-ffp-contract=off keeps it unfused); then
 * (c + bias) + res as the AVX kernels do. */
static void mm_kern_scalar(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                           int64_t ldc, bool acc, int np, int64_t nc, const float *bias, const float *res,
                           int64_t ldr) {
    enum { NR = CPU_NR_SCALAR };
    for (int q = 0; q < np; q++) {
        const int64_t j0 = (int64_t)q * NR, jn = nc - j0 < NR ? nc - j0 : NR;
        if (jn <= 0) break;
        float c[CPU_MR_SCALAR][NR];
        for (int i = 0; i < rm; i++)
            for (int j = 0; j < NR; j++) c[i][j] = acc && j < jn ? C[i * ldc + j0 + j] : 0.0f;
        for (int64_t k = 0; k < kc; k++) {
            float w[NR];
            for (int j = 0; j < NR; j++) w[j] = panel_f(pt, bp[q], k * NR + j);
            for (int i = 0; i < rm; i++) {
                const float a = Ap[k * rm + i];
                for (int j = 0; j < NR; j++) c[i][j] = c[i][j] + a * w[j];
            }
        }
        for (int i = 0; i < rm; i++)
            for (int j = 0; j < jn; j++) C[i * ldc + j0 + j] = cpu_epi_add(c[i][j], bias, res, ldr, i, j0 + j);
    }
}

/* ---- per-ISA parameters ------------------------------------------------------------ */

typedef struct mm_isa {
    int mr, nr;
    int64_t kc, mc, ncp; /* k block, rows per A block (multiple of mr), panels per B block */
    cpu_mm_kern_fn kern;
    int (*np)(int rm);
    void (*pack_a)(const float *src, int64_t lda, int n, int64_t kc, float *dst, int64_t w); /* NULL: scalar */
} mm_isa;

static int64_t env_int(const char *name, int64_t def) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : def;
}

/* Blocking from the cache sizes: KC = 3/4 of L1d in bytes / 64 (384 for a
 * 32 KiB L1d: long enough that the C tile's loads and stores per k block
 * cost little; measured best on Zen 4 at both widths), the A block MC x KC in
 * half of L2 (SENTI_MM_KC / _MC / _NC, and _IR for row_items, override, for tuning).
 * Row tiles: at AVX-512, 14 x 32 on AMD (Zen 4, where they were tuned) and
 * 6 x 64 elsewhere (Ice Lake, two 512-bit FMA ports: 10-20% faster at every
 * listed shape on one thread, bench/RESULTS.md); SENTI_MM_MR sets the
 * height (1 to the level's tallest) for tuning and tests. The tile shape never
 * changes a result (mm_body.inc). */
static mm_isa pick_isa(const cpu_ctx *ctx) {
    mm_isa s;
    if (ctx->simd >= CPU_SIMD_AVX512)
        s = (mm_isa){CPU_MR_AVX512, CPU_NR_AVX512, 0, 0, 0, cpu_mm_kern_avx512, cpu_mm_np_avx512, cpu_mm_pack_a_avx512};
    else if (ctx->simd >= CPU_SIMD_AVX2)
        s = (mm_isa){CPU_MR_AVX2, CPU_NR_AVX2, 0, 0, 0, cpu_mm_kern_avx2, cpu_mm_np_avx2, cpu_mm_pack_a_avx2};
    else
        s = (mm_isa){CPU_MR_SCALAR, CPU_NR_SCALAR, 0, 0, 0, mm_kern_scalar, mm_np_scalar, NULL};
    /* s.mr: the level's tallest tile */
    const int mr = ctx->simd >= CPU_SIMD_AVX512 && !ctx->feat.amd ? CPU_MR_AVX512_INTEL : s.mr;
    const int64_t mr_env = env_int("SENTI_MM_MR", mr);
    s.mr = mr_env < s.mr ? (int)mr_env : s.mr;
    const int64_t l1 = ctx->l1d > 0 ? ctx->l1d : 32 << 10, l2 = ctx->l2 > 0 ? ctx->l2 : 512 << 10;
    int64_t kc = l1 * 3 / 4 / 64;
    kc = kc < 128 ? 128 : kc > 768 ? 768 : kc;
    kc = env_int("SENTI_MM_KC", kc);
    int64_t mc = l2 / 2 / (kc * 4) / s.mr * s.mr;
    if (mc < s.mr) mc = s.mr;
    mc = env_int("SENTI_MM_MC", mc);
    mc = (mc + s.mr - 1) / s.mr * s.mr;
    s.kc = kc;
    s.mc = mc;
    s.ncp = (env_int("SENTI_MM_NC", 4096) + s.nr - 1) / s.nr;
    return s;
}

bool cpu_gemm_takes(const cpu_ctx *ctx, senti_type bt) {
    if (bt == SENTI_TYPE_F32 || bt == SENTI_TYPE_F16) return true;
    /* bf16 runs as vdpbf16ps dot products where the CPU has them */
    return bt == SENTI_TYPE_BF16 && !(ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_bf16);
}

/* ---- packing ------------------------------------------------------------------------ */

/* k block of a call (the blocked types' blocks would need whole blocks; only
 * float types reach this GEMM). */
static int64_t kblock(const mm_isa *isa, senti_type bt) {
    const int64_t q = senti_type_is_quant(bt) ? senti_type_block(bt) : 1;
    int64_t kc = isa->kc / q * q;
    return kc < q ? q : kc;
}

/* Raw B, rows k0..k0+kc and panels p0..p0+np of op(B), into f32 panels at dst
 * (panel q at dst + q*kc*NR). tmp: kc floats for widening a row segment. */
static void pack_b(const mm_isa *isa, const cpu_ctx *ctx, int64_t N, const cpu_gemm_b *b, int64_t k0, int64_t kc,
                   int64_t p0, int64_t np, float *dst, float *tmp) {
    const int nr = isa->nr;
    for (int64_t q = 0; q < np; q++) {
        float *d = dst + q * kc * nr;
        const int64_t j0 = (p0 + q) * nr, nj = N - j0 < nr ? N - j0 : nr;
        if (!b->trans_b) { /* f32 [K, N] */
            for (int64_t k = 0; k < kc; k++) {
                const float *src = (const float *)((const char *)b->B + (size_t)(k0 + k) * b->ldb) + j0;
                int64_t j = 0;
                for (; j < nj; j++) d[k * nr + j] = src[j];
                for (; j < nr; j++) d[k * nr + j] = 0.0f;
            }
            continue;
        }
        if (b->bt == SENTI_TYPE_F32 && nr == 32 && ctx->simd >= CPU_SIMD_AVX512) {
            cpu_pack_bt_f32_avx512(b->B, b->ldb, k0, kc, j0, nj, d);
            continue;
        }
        for (int64_t j = 0; j < nj; j++) {
            const char *row = (const char *)b->B + (size_t)(j0 + j) * b->ldb;
            const float *src;
            if (b->bt == SENTI_TYPE_F32) {
                src = (const float *)row + k0;
            } else {
                senti_row_to_f32(b->bt, row + senti_row_size(b->bt, k0), tmp, kc);
                src = tmp;
            }
            for (int64_t k = 0; k < kc; k++) d[k * nr + j] = src[k];
        }
        for (int64_t j = nj; j < nr; j++)
            for (int64_t k = 0; k < kc; k++) d[k * nr + j] = 0.0f;
    }
}

/* Row tiles of a block of n rows: ceil(n / MR) tiles of near-equal height
 * (hb + 1 for the first ex tiles, hb for the rest), so a block never ends in
 * a small remainder tile. Tile t starts at row tile_off(&rt, t). */
typedef struct mm_rtiles { int64_t nt, hb, ex; } mm_rtiles;
static mm_rtiles rtiles(const mm_isa *isa, int64_t n) {
    const int64_t nt = (n + isa->mr - 1) / isa->mr;
    return (mm_rtiles){nt, n / nt, n % nt};
}
static inline int64_t tile_off(const mm_rtiles *rt, int64_t t) { return t * rt->hb + (t < rt->ex ? t : rt->ex); }
static inline int tile_h(const mm_rtiles *rt, int64_t t) { return (int)(rt->hb + (t < rt->ex)); }

/* A rows [0, rows) from A, cols k0..k0+kc, as the row tiles rt (element
 * (i, k) of tile t at Ap[o*kc + k*h + i], o its first row, h its height). */
static void pack_a(const mm_isa *isa, const float *A, int64_t lda, const mm_rtiles *rt, int64_t k0, int64_t kc,
                   float *Ap) {
    for (int64_t t = 0; t < rt->nt; t++) {
        const int64_t r0 = tile_off(rt, t), rm = tile_h(rt, t);
        float *d = Ap + r0 * kc;
        if (isa->pack_a) {
            isa->pack_a(A + r0 * lda + k0, lda, (int)rm, kc, d, rm);
            continue;
        }
        for (int64_t i = 0; i < rm; i++) {
            const float *src = A + (r0 + i) * lda + k0;
            for (int64_t k = 0; k < kc; k++) d[k * rm + i] = src[k];
        }
    }
}

/* ---- the driver ---------------------------------------------------------------------- */

typedef struct mm_job {
    const mm_isa *isa;
    const cpu_ctx *ctx;
    int64_t M, N, K, kc_blk, np_all;
    const float *A;
    int64_t lda;
    const cpu_gemm_b *b;
    float *C;
    int64_t ldc;
    const cpu_epi *epi;
} mm_job;

/* Panel pointers of panels p0.. at k offset k0: from the prepacked weight, or
 * from the block packed per call (panel q of a kc-row block at blk + q*kc*NR). */
static inline const void *panel_at(const mm_job *j, const float *blk, int64_t p0, int64_t q, int64_t k0, int64_t kc) {
    const cpu_gemm_b *b = j->b;
    if (b->pan) {
        const size_t esz = b->pt == SENTI_TYPE_F32 ? 4 : 2;
        return b->pan + (size_t)(p0 + q) * b->pan_bytes + (size_t)k0 * (size_t)j->isa->nr * esz;
    }
    return blk + q * kc * j->isa->nr;
}

/* Rows [m0, m1) against panels [p0, p0+np) over k in [k0, k0+kc): A packed per
 * block of at most MC rows into Ap (blocks of near-equal height), then BLIS
 * order (panels outer, row tiles inner). */
static void mm_block(const mm_job *j, int64_t m0, int64_t m1, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                     const float *blk, float *Ap) {
    const mm_isa *isa = j->isa;
    const senti_type pt = j->b->pan ? j->b->pt : SENTI_TYPE_F32;
    const bool acc = k0 > 0, last = j->epi && k0 + kc == j->K;
    /* the last k block adds the bias and residual in the tile's registers;
     * the activation follows per tile (cpu_epi_apply) */
    const cpu_epi *e = last ? j->epi : NULL;
    const cpu_epi act = {NULL, NULL, 0, e ? e->act : SENTI_OP_COUNT};
    /* while the tiles run, the next panel group's k block of a prepacked
     * weight larger than L2 (so in L3 or memory) is prefetched into L2, a
     * share per tile */
    const int64_t l2 = j->ctx->l2 > 0 ? j->ctx->l2 : 512 << 10;
    const bool far = j->b->pan && (double)j->np_all * (double)j->b->pan_bytes > (double)l2; /* else it stays in L2 */
    const size_t pf_lines = far ? (size_t)kc * (size_t)isa->nr * (pt == SENTI_TYPE_F32 ? 4 : 2) / 64 : 0;
    const int64_t n = m1 - m0, nblk = (n + isa->mc - 1) / isa->mc;
    for (int64_t bk = 0; bk < nblk; bk++) {
        const int64_t ic = m0 + n * bk / nblk, rows = m0 + n * (bk + 1) / nblk - ic;
        const mm_rtiles rt = rtiles(isa, rows);
        pack_a(isa, j->A + ic * j->lda, j->lda, &rt, k0, kc, Ap);
        /* the tallest tile's panel count; lower tiles take at least as many */
        const int npf = isa->np(tile_h(&rt, 0));
        const size_t pf_per = (pf_lines + (size_t)rt.nt - 1) / (size_t)rt.nt;
        for (int64_t q = 0; q < np; q += npf) {
            const int nq = (int)(np - q < npf ? np - q : npf);
            const void *bp[16];
            for (int t = 0; t < nq; t++) bp[t] = panel_at(j, blk, p0, q + t, k0, kc);
            const int64_t c0 = (p0 + q) * isa->nr, nc = j->N - c0 < (int64_t)nq * isa->nr ? j->N - c0 : nq * isa->nr;
            const int npn = pf_lines && q + npf < np ? (int)(np - q - npf < npf ? np - q - npf : npf) : 0;
            for (int64_t t = 0; t < rt.nt; t++) {
                const int64_t r = tile_off(&rt, t);
                const int h = tile_h(&rt, t);
                float *ct = j->C + (ic + r) * j->ldc + c0;
                for (int u = 0; u < npn; u++) {
                    const char *nb = panel_at(j, blk, p0, q + npf + u, k0, kc);
                    for (size_t l = (size_t)t * pf_per; l < (size_t)(t + 1) * pf_per && l < pf_lines; l++)
                        __builtin_prefetch(nb + l * 64, 0, 2);
                }
                isa->kern(h, pt, kc, Ap + r * kc, bp, ct, j->ldc, acc, nq, nc, cpu_epi_bias(e, c0),
                          cpu_epi_res(e, ic + r, c0), e ? e->ldr : 0);
                if (act.act != SENTI_OP_COUNT) cpu_epi_apply(j->ctx, &act, ct, j->ldc, ic + r, h, c0, nc);
            }
        }
    }
}

static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

/* Work is handed out in items (cpu_parallel_for: a thread that loses its
 * core holds up one item): blocks of rows when there are many MR-row tiles
 * (B panels shared, read from the weight's packing or packed for the whole
 * call), else groups of panels with every row (small M: decode, few texts). */
static bool split_rows(const mm_isa *isa, int nth, int64_t M, int64_t np_all) {
    const int64_t tiles = (M + isa->mr - 1) / isa->mr;
    return nth <= 1 || tiles >= 4 * (int64_t)nth || np_all < nth;
}

/* Items of the row split: a multiple of the thread count, of equal rows
 * (± 1), so every thread gets the same work when all run (whole MR-row
 * items left a thread up to MR rows more: 9% at M = 256). About 8 a
 * thread, each at least MM_ITEM_ROWS rows (every item reads all of B: taller
 * items read it less often; measured at M = 256, 2 threads: 16-row items
 * cost 10% more CPU time than 64-row ones on AVX2) and at most MC rows. One
 * thread: MC-row blocks. */
#define MM_ITEM_ROWS 64
static int64_t row_items(const mm_isa *isa, int nth, int64_t M) {
    if (nth <= 1) return (M + isa->mc - 1) / isa->mc;
    int64_t per = M / ((int64_t)nth * env_int("SENTI_MM_IR", MM_ITEM_ROWS));
    per = per < 1 ? 1 : per > 8 ? 8 : per;
    const int64_t need = (M + (int64_t)nth * isa->mc - 1) / ((int64_t)nth * isa->mc); /* items of <= MC rows */
    return (per > need ? per : need) * nth;
}

#define MM_PACK_ALL ((size_t)64 << 20) /* raw B packed whole per call up to this size */
#define MM_ITEM_PANELS 16              /* panels per item when panels are split */

static size_t ws_a(const mm_isa *isa) { return align_up((size_t)isa->mc * (size_t)isa->kc * 4); }

/* How a call runs: B packed whole up front (raw B that fits), or per item. */
typedef struct mm_plan {
    bool rows, pack_all;
    int64_t kcb, np_all;
    size_t all_bytes, per; /* B packed whole; per-thread scratch */
} mm_plan;

static mm_plan plan(const mm_isa *isa, int nth, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b) {
    mm_plan pl;
    pl.np_all = (N + isa->nr - 1) / isa->nr;
    pl.kcb = kblock(isa, b->pan ? SENTI_TYPE_F32 : b->bt);
    const size_t whole = (size_t)pl.np_all * align_up((size_t)K * (size_t)isa->nr * 4);
    pl.pack_all = !b->pan && whole <= MM_PACK_ALL;
    pl.all_bytes = pl.pack_all ? whole : 0;
    /* rows need shared panels: the weight's, or the whole-call packing */
    pl.rows = (b->pan || pl.pack_all) && split_rows(isa, nth, M, pl.np_all);
    pl.per = ws_a(isa) + align_up((size_t)pl.kcb * 4);
    if (!b->pan && !pl.pack_all) pl.per += align_up((size_t)pl.kcb * MM_ITEM_PANELS * (size_t)isa->nr * 4);
    return pl;
}

size_t cpu_gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b) {
    const mm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const mm_plan pl = plan(&isa, nth, M, N, K, b);
    return pl.all_bytes + pl.per * (size_t)nth;
}

typedef struct gemm_par {
    const mm_job *j;
    const mm_plan *pl;
    char *ws; /* per-thread scratch slices */
    int64_t ritems, pchunk; /* rows: ritems items of M / ritems rows; panels: pchunk per item */
} gemm_par;

static void gemm_items(void *arg, int64_t i0, int64_t i1, int ith) {
    const gemm_par *g = arg;
    const mm_job *j = g->j;
    const mm_isa *isa = j->isa;
    const int64_t K = j->K, kcb = g->pl->kcb;
    char *mine = g->ws + (size_t)ith * g->pl->per;
    float *Ap = (float *)mine, *tmp = (float *)(mine + ws_a(isa));
    float *blk = (float *)(mine + ws_a(isa) + align_up((size_t)kcb * 4));
    for (int64_t it = i0; it < i1; it++) {
        if (g->pl->rows) {
            const int64_t r0 = j->M * it / g->ritems, r1 = j->M * (it + 1) / g->ritems;
            for (int64_t p0 = 0; p0 < j->np_all; p0 += isa->ncp) {
                const int64_t np = j->np_all - p0 < isa->ncp ? j->np_all - p0 : isa->ncp;
                for (int64_t k0 = 0; k0 < K; k0 += kcb)
                    mm_block(j, r0, r1, p0, np, k0, K - k0 < kcb ? K - k0 : kcb, NULL, Ap);
            }
        } else {
            const int64_t p0 = it * g->pchunk, np = j->np_all - p0 < g->pchunk ? j->np_all - p0 : g->pchunk;
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {
                const int64_t kc = K - k0 < kcb ? K - k0 : kcb;
                if (!j->b->pan) pack_b(isa, j->ctx, j->N, j->b, k0, kc, p0, np, blk, tmp);
                mm_block(j, 0, j->M, p0, np, k0, kc, blk, Ap);
            }
        }
    }
}

/* Raw B packed whole into the panel layout of a prepacked weight (f32). */
typedef struct packall_par {
    const mm_isa *isa;
    const cpu_ctx *ctx;
    int64_t N, K, kcb;
    const cpu_gemm_b *b;
    char *dst, *tmps;
    size_t pan_bytes, per;
} packall_par;

static void packall_range(void *arg, int64_t p0, int64_t p1, int ith) {
    const packall_par *a = arg;
    float *tmp = (float *)(a->tmps + (size_t)ith * a->per + ws_a(a->isa));
    for (int64_t p = p0; p < p1; p++) /* k block by k block: tmp holds kcb floats */
        for (int64_t k0 = 0; k0 < a->K; k0 += a->kcb)
            pack_b(a->isa, a->ctx, a->N, a->b, k0, a->K - k0 < a->kcb ? a->K - k0 : a->kcb, p, 1,
                   (float *)(a->dst + (size_t)p * a->pan_bytes) + k0 * a->isa->nr, tmp);
}

void cpu_gemm_f(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
                float *C, int64_t ldc, const cpu_epi *epi, char *ws) {
    if (M <= 0 || N <= 0) return;
    const mm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const mm_plan pl = plan(&isa, nth, M, N, K, b);
    if (K == 0) {
        for (int64_t m = 0; m < M; m++) {
            memset(C + m * ldc, 0, (size_t)N * 4);
            if (epi) cpu_epi_apply(ctx, epi, C + m * ldc, ldc, m, 1, 0, N);
        }
        return;
    }
    char *slices = ws + pl.all_bytes;
    cpu_gemm_b whole;
    if (pl.pack_all) { /* a per-call B packed once for all rows */
        whole = (cpu_gemm_b){ws, align_up((size_t)K * (size_t)isa.nr * 4), 0, SENTI_TYPE_F32, SENTI_TYPE_F32,
                             NULL, 0, true, false};
        packall_par pa = {&isa, ctx, N, K, pl.kcb, b, ws, slices, whole.pan_bytes, pl.per};
        cpu_parallel_for(ctx, nth, pl.np_all, 0, packall_range, &pa);
        b = &whole;
    }
    mm_job j = {&isa, ctx, M, N, K, pl.kcb, pl.np_all, A, lda, b, C, ldc, epi};
    gemm_par g = {&j, &pl, slices, row_items(&isa, nth, M), 0};
    int64_t pchunk = (pl.np_all + 8 * (int64_t)nth - 1) / (8 * (int64_t)nth);
    g.pchunk = pchunk < 1 ? 1 : pchunk > MM_ITEM_PANELS ? MM_ITEM_PANELS : pchunk;
    const int64_t items = pl.rows ? g.ritems : (pl.np_all + g.pchunk - 1) / g.pchunk;
    cpu_parallel_for(ctx, nth, items, 1, gemm_items, &g);
}

/* ---- prepacked weights ------------------------------------------------------------------ */

typedef struct cpu_wpack {
    const void *src;
    int simd; /* the level whose panel width it was packed for */
    senti_type bt;
    int64_t N, K;
    size_t ldb;
    cpu_gemm_b packed;
    void *mem;
} cpu_wpack;

typedef struct prepack_par {
    const void *B;
    size_t ldb;
    int64_t N, K;
    int nr;
    size_t esz, pan_bytes;
    char *mem;
    int64_t np;
    _Atomic int64_t next;
} prepack_par;

/* Panel p: element (k, j) = weight row p*nr + j, element k (zero past N). */
static void prepack_task(void *arg, int ith, int nth) {
    prepack_par *a = arg;
    const int nr = a->nr;
    const size_t esz = a->esz;
    for (int64_t p0, p1; cpu_chunk_next(&a->next, a->np, 1, &p0, &p1);)
        for (int64_t p = p0; p < p1; p++) {
            char *dst = a->mem + (size_t)p * a->pan_bytes;
            const int64_t j0 = p * nr, nj = a->N - j0 < nr ? a->N - j0 : nr;
            for (int64_t j = 0; j < nr; j++) {
                const char *row = (const char *)a->B + (size_t)(j0 + j) * a->ldb;
                for (int64_t k = 0; k < a->K; k++) {
                    char *d = dst + ((size_t)k * nr + (size_t)j) * esz;
                    if (j < nj) memcpy(d, row + (size_t)k * esz, esz);
                    else memset(d, 0, esz);
                }
            }
        }
}

/* Panel p of bf16 pairs (cpu_gemm_b.pairs): w[16p + j][2kp + t] at (kp 16 + j) 2 + t, zero past N and K. */
static void prepack_pairs_task(void *arg, int ith, int nth) {
    prepack_par *a = arg;
    (void)ith, (void)nth;
    const int64_t kp2 = (a->K + 1) / 2;
    for (int64_t p0, p1; cpu_chunk_next(&a->next, a->np, 1, &p0, &p1);)
        for (int64_t p = p0; p < p1; p++) {
            uint16_t *dst = (uint16_t *)(void *)(a->mem + (size_t)p * a->pan_bytes);
            for (int64_t j = 0; j < 16; j++) {
                const int64_t n = p * 16 + j;
                const char *rb = n < a->N ? (const char *)a->B + (size_t)n * a->ldb : NULL;
                const uint16_t *row = (const uint16_t *)(const void *)rb;
                for (int64_t k = 0; k < 2 * kp2; k++) dst[(k / 2 * 16 + j) * 2 + k % 2] = row && k < a->K ? row[k] : 0;
            }
        }
}

const cpu_gemm_b *cpu_gemm_prepack(cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K) {
    const bool quant = senti_type_is_quant(bt); /* q8_0, q4_0, q4_K, q6_K: the int8 GEMM's panels */
    const bool pairs = bt == SENTI_TYPE_BF16 && !cpu_gemm_takes(ctx, bt); /* AVX512_BF16: vdpbf16ps tiles */
    if (!ctx->prepack || N <= 0 || K <= 0 ||
        !(quant || pairs ||
          ((bt == SENTI_TYPE_F32 || bt == SENTI_TYPE_F16 || bt == SENTI_TYPE_BF16) && cpu_gemm_takes(ctx, bt))))
        return NULL;
    cpu_wpack *c = ctx->wcache;
    for (int i = 0; i < ctx->n_wcache; i++)
        if (c[i].src == B && c[i].simd == (int)ctx->simd && c[i].bt == bt && c[i].N == N && c[i].K == K &&
            c[i].ldb == ldb)
            return &c[i].packed;
    if (ctx->n_wcache == ctx->cap_wcache) {
        const int cap = ctx->cap_wcache ? 2 * ctx->cap_wcache : 64;
        cpu_wpack *n = senti_calloc((size_t)cap, sizeof *n);
        if (!n) return NULL;
        if (ctx->n_wcache) memcpy(n, c, (size_t)ctx->n_wcache * sizeof *n);
        senti_mfree(c);
        ctx->wcache = c = n;
        ctx->cap_wcache = cap;
    }
    const mm_isa isa = pick_isa(ctx);
    const int nr = pairs ? 16 : isa.nr;
    const size_t esz = bt == SENTI_TYPE_F32 ? 4 : 2;
    const int64_t np = (N + nr - 1) / nr;
    size_t pan_bytes = align_up((size_t)(pairs ? K + 1 : K) * (size_t)nr * esz), pan_wbytes = 0, total;
    if (quant) total = cpu_qgemm_pack_size(ctx, bt, N, K, &pan_bytes, &pan_wbytes);
    else if (!senti_mul_ok(pan_bytes, (size_t)np, &total)) return NULL;
    if (total == SIZE_MAX) return NULL;
    char *mem = senti_aligned_alloc(total, MM_ALIGN);
    if (!mem) {
        senti_clear_error();
        return NULL;
    }
    if (quant) {
        cpu_qgemm_pack(ctx, bt, B, ldb, N, K, mem);
    } else {
        prepack_par pp = {B, ldb, N, K, nr, esz, pan_bytes, mem, np, 0};
        cpu_pool_run_elastic(ctx->pool, n_threads(ctx), pairs ? prepack_pairs_task : prepack_task, &pp);
    }
    cpu_wpack *w = &c[ctx->n_wcache++];
    *w = (cpu_wpack){B, (int)ctx->simd, bt, N, K, ldb, {mem, pan_bytes, pan_wbytes, bt, bt, NULL, 0, true, pairs}, mem};
    ctx->wcache_bytes += total;
    return &w->packed;
}

void cpu_gemm_cache_free(cpu_ctx *ctx) {
    cpu_wpack *c = ctx->wcache;
    for (int i = 0; i < ctx->n_wcache; i++) senti_mfree(c[i].mem);
    senti_mfree(c);
    ctx->wcache = NULL;
    ctx->n_wcache = ctx->cap_wcache = 0;
    ctx->wcache_bytes = 0;
}
