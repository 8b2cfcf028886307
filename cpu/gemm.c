/* gemm.c — the f32-accumulating GEMM of the CPU backend (f32, f16, bf16 and
 * dequantized K-quant weights): packing, the prepacked-weight cache, cache
 * blocking, the thread split and the scalar tile kernel.
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
 * kernel); other operands are packed per call, a k-block at a time.
 * Blocking (BLIS order): k blocks of KC (a B micro-panel KC x NR stays in L1),
 * row blocks of MC (the packed A block MC x KC stays in L2), NCP panels per B
 * block. Threads split rows when there are enough MR-row tiles, else panels. */
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

/* c = c + a*b with two roundings (-ffp-contract=off keeps it unfused). */
static void mm_kern_scalar(int rm, senti_type pt, int64_t kc, const float *Ap, const void *const *bp, float *C,
                           int64_t ldc, bool acc, int np, int64_t nc) {
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
            for (int j = 0; j < jn; j++) C[i * ldc + j0 + j] = c[i][j];
    }
}

/* ---- per-ISA parameters ------------------------------------------------------------ */

typedef struct mm_isa {
    int mr, nr;
    int64_t kc, mc, ncp; /* k block, rows per A block (multiple of mr), panels per B block */
    cpu_mm_kern_fn kern;
    int (*np)(int rm);
} mm_isa;

static int64_t env_int(const char *name, int64_t def) {
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    long long v = strtoll(s, &end, 10);
    return *end == '\0' && v > 0 ? (int64_t)v : def;
}

/* Blocking from the cache sizes: B micro-panel KC x NR f32 in half of L1d, the
 * A block MC x KC in half of L2 (SENTI_MM_KC / _MC / _NC override, for tuning). */
static mm_isa pick_isa(const cpu_ctx *ctx) {
    mm_isa s;
    if (ctx->simd >= CPU_SIMD_AVX512)
        s = (mm_isa){CPU_MR_AVX512, CPU_NR_AVX512, 0, 0, 0, cpu_mm_kern_avx512, cpu_mm_np_avx512};
    else if (ctx->simd >= CPU_SIMD_AVX2)
        s = (mm_isa){CPU_MR_AVX2, CPU_NR_AVX2, 0, 0, 0, cpu_mm_kern_avx2, cpu_mm_np_avx2};
    else
        s = (mm_isa){CPU_MR_SCALAR, CPU_NR_SCALAR, 0, 0, 0, mm_kern_scalar, mm_np_scalar};
    const int64_t l1 = ctx->l1d > 0 ? ctx->l1d : 32 << 10, l2 = ctx->l2 > 0 ? ctx->l2 : 512 << 10;
    int64_t kc = l1 / 2 / (s.nr * 4);
    kc = kc < 128 ? 128 : kc > 512 ? 512 : kc;
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
    if (bt == SENTI_TYPE_F32 || bt == SENTI_TYPE_F16 || senti_type_is_kquant(bt)) return true;
    /* bf16 runs as vdpbf16ps dot products where the CPU has them */
    return bt == SENTI_TYPE_BF16 && !(ctx->simd >= CPU_SIMD_AVX512 && ctx->feat.avx512_bf16);
}

/* ---- packing ------------------------------------------------------------------------ */

/* k block granularity: whole blocks for the K-quants' 256-element blocks. */
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

/* A rows [0, rows) from A, cols k0..k0+kc, as tiles of MR rows (element (i, k)
 * of tile t at Ap[t*MR*kc + k*MR + i]) and a last tile of rows % MR rows in
 * the same form with its own row count. */
static void pack_a(const mm_isa *isa, const float *A, int64_t lda, int64_t rows, int64_t k0, int64_t kc, float *Ap) {
    for (int64_t r0 = 0; r0 < rows; r0 += isa->mr) {
        const int64_t rm = rows - r0 < isa->mr ? rows - r0 : isa->mr;
        float *d = Ap + r0 * kc;
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
 * MC rows into Ap, then BLIS order (panels outer, row tiles inner). */
static void mm_block(const mm_job *j, int64_t m0, int64_t m1, int64_t p0, int64_t np, int64_t k0, int64_t kc,
                     const float *blk, float *Ap) {
    const mm_isa *isa = j->isa;
    const senti_type pt = j->b->pan ? j->b->pt : SENTI_TYPE_F32;
    const bool acc = k0 > 0;
    for (int64_t ic = m0; ic < m1; ic += isa->mc) {
        const int64_t rows = m1 - ic < isa->mc ? m1 - ic : isa->mc;
        pack_a(isa, j->A + ic * j->lda, j->lda, rows, k0, kc, Ap);
        const int64_t full = rows / isa->mr, rem = rows % isa->mr;
        /* full tiles: np_full panels at a time */
        const int npf = isa->np(isa->mr);
        for (int64_t q = 0; q < np && full; q += npf) {
            const int nq = (int)(np - q < npf ? np - q : npf);
            const void *bp[16];
            for (int t = 0; t < nq; t++) bp[t] = panel_at(j, blk, p0, q + t, k0, kc);
            const int64_t c0 = (p0 + q) * isa->nr, nc = j->N - c0 < (int64_t)nq * isa->nr ? j->N - c0 : nq * isa->nr;
            for (int64_t t = 0; t < full; t++)
                isa->kern(isa->mr, pt, kc, Ap + t * isa->mr * kc, bp, j->C + (ic + t * isa->mr) * j->ldc + c0, j->ldc,
                          acc, nq, nc);
        }
        if (rem) { /* the last tile: its own kernel and panel count */
            const int npr = isa->np((int)rem);
            const float *ar = Ap + full * isa->mr * kc;
            float *cr = j->C + (ic + full * isa->mr) * j->ldc;
            for (int64_t q = 0; q < np; q += npr) {
                const int nq = (int)(np - q < npr ? np - q : npr);
                const void *bp[16];
                for (int t = 0; t < nq; t++) bp[t] = panel_at(j, blk, p0, q + t, k0, kc);
                const int64_t c0 = (p0 + q) * isa->nr, nc = j->N - c0 < (int64_t)nq * isa->nr ? j->N - c0 : nq * isa->nr;
                isa->kern((int)rem, pt, kc, ar, bp, cr + c0, j->ldc, acc, nq, nc);
            }
        }
    }
}

static int n_threads(const cpu_ctx *ctx) { return ctx->n_threads > 0 ? ctx->n_threads : 1; }

/* Threads split rows when each gets several MR tiles (B shared: packed once per
 * block by all threads together), else panels (each thread packs its own). */
static bool split_rows(const mm_isa *isa, int nth, int64_t M, int64_t np_all) {
    const int64_t tiles = (M + isa->mr - 1) / isa->mr;
    return nth <= 1 || tiles >= 4 * (int64_t)nth || np_all < nth;
}

/* Panels of a per-call B block: a whole NCP block when rows are split (shared),
 * fewer when each thread packs its own slice (small M: keep it in L2). */
static int64_t block_panels(const mm_isa *isa, bool rows) {
    return rows ? isa->ncp : (isa->ncp < 16 ? isa->ncp : 16);
}

static size_t ws_a(const mm_isa *isa) { return align_up((size_t)isa->mc * (size_t)isa->kc * 4); }
static size_t ws_tmp(const mm_job *j) { return align_up((size_t)j->kc_blk * 4); }

size_t cpu_gemm_ws_size(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const cpu_gemm_b *b) {
    const mm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    const int64_t np_all = (N + isa.nr - 1) / isa.nr;
    const bool rows = split_rows(&isa, nth, M, np_all);
    const int64_t kc = kblock(&isa, b->pan ? SENTI_TYPE_F32 : b->bt);
    size_t per = ws_a(&isa) + align_up((size_t)kc * 4);
    size_t shared = 0;
    if (!b->pan) {
        const size_t blk = align_up((size_t)kc * (size_t)block_panels(&isa, rows) * (size_t)isa.nr * 4);
        if (rows) shared = blk;
        else per += blk;
    }
    return shared + per * (size_t)nth;
}

typedef struct gemm_par {
    const mm_job *j;
    const mm_isa *isa;
    bool rows;
    int64_t ncp, kcb;
    size_t shared, per;
    char *ws;
    cpu_pool *pool;
} gemm_par;

static void gemm_task(void *arg, int ith, int nt) {
    const gemm_par *g = arg;
    const mm_job *j = g->j;
    const mm_isa *isa = g->isa;
    const cpu_gemm_b *b = j->b;
    const int64_t M = j->M, K = j->K, ncp = g->ncp, kcb = g->kcb;
    char *mine = g->ws + g->shared + (size_t)ith * g->per;
    float *Ap = (float *)mine, *tmp = (float *)(mine + ws_a(isa));
    if (g->rows) {
        const int64_t tiles = (M + isa->mr - 1) / isa->mr;
        const int64_t m0 = tiles * ith / nt * isa->mr;
        int64_t m1 = tiles * (ith + 1) / nt * isa->mr;
        if (m1 > M) m1 = M;
        float *blk = (float *)g->ws;
        for (int64_t p0 = 0; p0 < j->np_all; p0 += ncp) {
            const int64_t np = j->np_all - p0 < ncp ? j->np_all - p0 : ncp;
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {
                const int64_t kc = K - k0 < kcb ? K - k0 : kcb;
                if (!b->pan) { /* all threads pack the block together */
                    const int64_t q0 = np * ith / nt, q1 = np * (ith + 1) / nt;
                    if (q1 > q0) pack_b(isa, j->ctx, j->N, b, k0, kc, p0 + q0, q1 - q0, blk + q0 * kc * isa->nr, tmp);
                    cpu_pool_barrier(g->pool, nt);
                }
                if (m0 < m1) mm_block(j, m0, m1, p0, np, k0, kc, blk, Ap);
                if (!b->pan) cpu_pool_barrier(g->pool, nt);
            }
        }
    } else {
        const int64_t pa = j->np_all * ith / nt, pb = j->np_all * (ith + 1) / nt;
        float *blk = (float *)(mine + ws_a(isa) + ws_tmp(j));
        for (int64_t p0 = pa; p0 < pb; p0 += ncp) {
            const int64_t np = pb - p0 < ncp ? pb - p0 : ncp;
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {
                const int64_t kc = K - k0 < kcb ? K - k0 : kcb;
                if (!b->pan) pack_b(isa, j->ctx, j->N, b, k0, kc, p0, np, blk, tmp);
                mm_block(j, 0, M, p0, np, k0, kc, blk, Ap);
            }
        }
    }
}

void cpu_gemm_f(const cpu_ctx *ctx, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const cpu_gemm_b *b,
                float *C, int64_t ldc, char *ws) {
    if (M <= 0 || N <= 0) return;
    const mm_isa isa = pick_isa(ctx);
    const int nth = n_threads(ctx);
    mm_job j = {&isa, ctx, M, N, K, kblock(&isa, b->pan ? SENTI_TYPE_F32 : b->bt), (N + isa.nr - 1) / isa.nr,
                A, lda, b, C, ldc};
    if (K == 0) {
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * 4);
        return;
    }
    const bool rows = split_rows(&isa, nth, M, j.np_all);
    const int64_t ncp = block_panels(&isa, rows);
    const size_t blk_bytes = b->pan ? 0 : align_up((size_t)j.kc_blk * (size_t)ncp * (size_t)isa.nr * 4);
    gemm_par g = {&j, &isa, rows, ncp, j.kc_blk, rows ? blk_bytes : 0, ws_a(&isa) + ws_tmp(&j) + (rows ? 0 : blk_bytes),
                  ws, ctx->pool};
    cpu_pool_run(ctx->pool, nth, gemm_task, &g);
}

/* ---- prepacked weights ------------------------------------------------------------------ */

typedef struct cpu_wpack {
    const void *src;
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

const cpu_gemm_b *cpu_gemm_prepack(cpu_ctx *ctx, senti_type bt, const void *B, size_t ldb, int64_t N, int64_t K) {
    if (!ctx->prepack || !(bt == SENTI_TYPE_F32 || bt == SENTI_TYPE_F16 || bt == SENTI_TYPE_BF16) ||
        !cpu_gemm_takes(ctx, bt) || N <= 0 || K <= 0)
        return NULL;
    cpu_wpack *c = ctx->wcache;
    for (int i = 0; i < ctx->n_wcache; i++)
        if (c[i].src == B && c[i].bt == bt && c[i].N == N && c[i].K == K && c[i].ldb == ldb) return &c[i].packed;
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
    const int nr = isa.nr;
    const size_t esz = bt == SENTI_TYPE_F32 ? 4 : 2;
    const int64_t np = (N + nr - 1) / nr;
    const size_t pan_bytes = align_up((size_t)K * (size_t)nr * esz);
    size_t total;
    if (!senti_mul_ok(pan_bytes, (size_t)np, &total)) return NULL;
    char *mem = senti_aligned_alloc(total, MM_ALIGN);
    if (!mem) {
        senti_clear_error();
        return NULL;
    }
    prepack_par pp = {B, ldb, N, K, nr, esz, pan_bytes, mem, np, 0};
    cpu_pool_run(ctx->pool, n_threads(ctx), prepack_task, &pp);
    cpu_wpack *w = &c[ctx->n_wcache++];
    *w = (cpu_wpack){B, bt, N, K, ldb, {mem, pan_bytes, bt, bt, NULL, 0, true}, mem};
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
