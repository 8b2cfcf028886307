/* test_ops.c — every op on the CPU backend against the reference backend
 * (kernels/ref.c), in the spirit of ggml's test-backend-ops.
 *
 * Each case builds one small graph with fresh random inputs, computes it on
 * the reference backend and then on the CPU backend under every SIMD level
 * the machine has (and both matmul modes for matmul graphs), and compares
 * every computed node. The seed is printed ("test_ops seed=N") and
 * SENTI_TEST_SEED=N replays a run; each case's stream is derived from the
 * seed and the case name, so a case replays alone too.
 *
 * Memory checks: every input and output lives in a buffer of ours with guard
 * bytes before and after (written over = failure); outputs are poisoned with
 * 0xFF bytes (NaN for float types) before each run, so an element left
 * unwritten shows up in the NaN check that runs on every output; the parts of
 * a parent tensor outside a slice view are NaN, so reading outside a view
 * shows up too; inputs are hashed before and after (a kernel must not write
 * its sources). Empty tensors get zero-byte buffers between guards.
 *
 * Tolerances:
 *  - f32 arithmetic: err = max_i |got_i - ref_i| / (|ref_i| + rms(ref) + 1e-6)
 *    <= 1e-5 and nmse = sum (got - ref)^2 / sum (ref^2 + 1e-12) <= 1e-9 (summation order
 *    and vectorised exp/erf/tanh differ from the double-precision reference by
 *    a few f32 ulps; measured: <= 1.3e-6);
 *  - matmul with f16 / bf16 / q8_0 / q4_0 weights: a rigorous per-element
 *    bound computed from the data (matmul_allowance): |got - ref| <= 2^-7
 *    sum_k |a_k b_k| for f16/bf16 (twice what rounding both operands to bf16
 *    can cost), and <= sum_k |b_k| amax_blk(a)/127 for q8_0/q4_0 (twice what
 *    quantizing activations to q8_0 can cost; int8 weights: amax of the whole
 *    row of A, as it is quantized per row). The reference runs on the SAME
 *    quantized weights, so the bound only covers activation rounding;
 *  - matmul with int8 weights, besides: bit-exact against the test's own
 *    exact computation from the same quantized rows (the integer dot is
 *    exact, then one f32 product), at every SIMD level (matmul_int8_exact);
 *  - casts (cpy to f16/bf16), copies, concat, views and i32: exact;
 *    cpy to q8_0/q4_0/int8: same scale per block or row (1e-3 relative) and
 *    every value within one quantization step (a rounding tie may break
 *    differently).
 * A node the CPU backend declines (supports_op false) is a SKIP, printed and
 * counted, never a pass. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cpu/cpu.h"
#include "cpu/cpu_vec.h"
#include "cpu/matmul_kern.h" /* cpu_gemm_cache_free: a prepacked test weight dies with its case */
#ifdef SENTI_HAVE_CUDA
#include "cuda/cuda.h"
#endif

#define F32 SENTI_TYPE_F32
#define F16 SENTI_TYPE_F16
#define BF16 SENTI_TYPE_BF16
#define I32 SENTI_TYPE_I32
#define Q8 SENTI_TYPE_Q8_0
#define Q4 SENTI_TYPE_Q4_0
#define I8 SENTI_TYPE_INT8

static uint64_t g_seed;
static senti_backend *g_ref, *g_cpu;

/* Every other backend this build and machine have (the CUDA variants where a
 * GPU exists): each case runs on each of them too, with the same inputs,
 * guard bytes, NaN poisoning and comparison as the CPU (as ggml's
 * test-backend-ops). `half`: its matmuls round f32 operands to 16 bits, so
 * f32-weight matmuls get the bf16 bound. Declined ops count as skips. */
#define MAX_EXTRA 8
static struct {
    const char *name;
    senti_backend *be;
    bool half;
} g_extra[MAX_EXTRA];
static int g_n_extra, n_extra_skip;
static cpu_simd g_simd_max;                  /* highest level the backend picked */
static int n_pass, n_fail, n_skip;           /* cases, over the whole program */
static int t_fails;                          /* failed cases in the current test */
static bool g_verbose;
static bool g_quiet;                         /* harness self-test: failures expected, not printed */

/* ---- random numbers (splitmix64) ------------------------------------------ */

typedef struct { uint64_t s; } rng_t;

static uint64_t rng_u64(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }
static float rng_range(rng_t *r, double lo, double hi) { return (float)(lo + (hi - lo) * rng_unif(r)); }
static int64_t rng_int(rng_t *r, int64_t lo, int64_t hi) { /* [lo, hi) */
    return hi <= lo ? lo : lo + (int64_t)(rng_u64(r) % (uint64_t)(hi - lo));
}
static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001B3ull;
    return h;
}

/* ---- guarded buffers --------------------------------------------------------
 * [GUARD bytes of 0xA5][size bytes of data][0xA5 up to the allocation end]. */
#define GUARD 64
#define GUARD_BYTE 0xA5

typedef struct gbuf {
    unsigned char *base;
    size_t size, alloc;
} gbuf;

static bool gbuf_init(gbuf *b, size_t size) {
    b->size = size;
    b->alloc = (size + 2 * GUARD + 63) & ~(size_t)63;
    b->base = aligned_alloc(64, b->alloc);
    if (!b->base) return false;
    memset(b->base, GUARD_BYTE, b->alloc);
    return true;
}
static void gbuf_free(gbuf *b) {
    free(b->base);
    b->base = NULL;
}
static void *gbuf_data(const gbuf *b) { return b->base + GUARD; }
/* offset of the first damaged guard byte relative to the data, or 0 if intact */
static long gbuf_damage(const gbuf *b) {
    for (size_t i = 0; i < GUARD; i++)
        if (b->base[i] != GUARD_BYTE) return (long)i - GUARD;
    for (size_t i = GUARD + b->size; i < b->alloc; i++)
        if (b->base[i] != GUARD_BYTE) return (long)(i - GUARD);
    return 0;
}

static size_t dense_bytes(const senti_tensor *t) {
    return (size_t)senti_nrows(t) * senti_row_size(t->type, t->ne[3]);
}

/* ---- a test case: one graph, its leafs, its verdict ------------------------ */

#define MAX_LEAFS 16

typedef struct tc {
    char name[256];
    senti_graph *g;
    rng_t rng;
    senti_tensor *leaf[MAX_LEAFS];
    gbuf leaf_buf[MAX_LEAFS];
    uint64_t leaf_hash[MAX_LEAFS];
    int n_leaf;
    int n_msgs;
    bool failed, skipped;
} tc;

static void tc_fail(tc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tc_fail(tc *c, const char *fmt, ...) {
    c->failed = true;
    if (g_quiet || c->n_msgs++ >= 6) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    printf("FAIL %s: %s (SENTI_TEST_SEED=%llu)\n", c->name, msg, (unsigned long long)g_seed);
}

static void tc_begin(tc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tc_begin(tc *c, const char *fmt, ...) {
    memset(c, 0, sizeof *c);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->name, sizeof c->name, fmt, ap);
    va_end(ap);
    c->rng.s = fnv(c->name, strlen(c->name), 0xCBF29CE484222325ull) ^ g_seed;
    c->g = graph_init();
    senti_clear_error();
}

/* Count the verdict and free everything. */
static void tc_end(tc *c) {
    if (c->failed) n_fail++, t_fails++;
    else if (c->skipped) n_skip++;
    else n_pass++;
    if (g_verbose && !c->failed) printf("%s %s\n", c->skipped ? "skip" : "ok  ", c->name);
    for (int i = 0; i < c->n_leaf; i++) gbuf_free(&c->leaf_buf[i]);
    graph_free(c->g);
}

/* Write NaN (in t's type) at a pointer to one element; i32 stays as is. */
static void put_nan(senti_type type, void *p) {
    if (type == F32) *(float *)p = NAN;
    else if (type == F16) *(uint16_t *)p = 0x7E00;
    else if (type == BF16) *(uint16_t *)p = 0x7FC0;
}

/* A leaf of `type` and shape in a guarded buffer: f32/f16/bf16 uniform in
 * [lo, hi), quantized rows quantized from such rows, i32 integers in [lo, hi). */
static senti_tensor *leaf(tc *c, senti_type type, int nd, const int64_t *shape, double lo, double hi) {
    senti_tensor *t = graph_new_tensor(c->g, type, nd, shape);
    if (!t) return NULL;
    if (c->n_leaf == MAX_LEAFS) {
        tc_fail(c, "test bug: more than %d leafs", MAX_LEAFS);
        return NULL;
    }
    gbuf *b = &c->leaf_buf[c->n_leaf];
    if (!gbuf_init(b, dense_bytes(t))) return NULL;
    c->leaf[c->n_leaf++] = t;
    t->data = gbuf_data(b);
    senti_tensor_set_name(t, "leaf%d", c->n_leaf - 1);
    const int64_t n = t->ne[3];
    float *row = malloc((size_t)(n + 1) * sizeof *row);
    for (int64_t r = 0; r < senti_nrows(t); r++) {
        char *dst = (char *)t->data + (size_t)r * senti_row_size(type, n);
        if (type == I32) {
            for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)rng_int(&c->rng, (int64_t)lo, (int64_t)hi);
            continue;
        }
        if (senti_type_is_kquant(type)) { /* no K-quant quantizer: random valid blocks (finite f16 scales) */
            const size_t bs = senti_type_size(type);
            for (size_t i = 0; i < senti_row_size(type, n); i++) dst[i] = (char)rng_int(&c->rng, 0, 256);
            for (int64_t kb = 0; kb < n / SENTI_QK_K; kb++) {
                char *blk = dst + (size_t)kb * bs;
                const senti_f16 d = senti_f32_to_f16((float)rng_range(&c->rng, -0.02, 0.02));
                const senti_f16 m = senti_f32_to_f16((float)rng_range(&c->rng, 0.0, 0.02));
                if (type == SENTI_TYPE_Q4_K) memcpy(blk, &d, 2), memcpy(blk + 2, &m, 2);
                else memcpy(blk + bs - 2, &d, 2);
            }
            continue;
        }
        for (int64_t i = 0; i < n; i++) row[i] = rng_range(&c->rng, lo, hi);
        if (type == Q8) senti_quantize_row_q8_0(row, (senti_block_q8_0 *)dst, n);
        else if (type == Q4) senti_quantize_row_q4_0(row, (senti_block_q4_0 *)dst, n);
        else senti_row_from_f32(type, row, dst, n);
    }
    free(row);
    return t;
}

static senti_tensor *leaf_f32(tc *c, int nd, const int64_t *shape) { return leaf(c, F32, nd, shape, -1, 1); }

/* Sources as views of a bigger or differently ordered leaf. */
enum view_mode {
    V_NONE,      /* the leaf itself */
    V_TRANS,     /* last two dims swapped in storage, permuted back: innermost strided */
    V_PERM,      /* a random storage order, permuted back (quantized: innermost kept) */
    V_SLICE_IN,  /* slice of a leaf 3 wider in the innermost dim: rows strided (quantized: V_SLICE_OUT) */
    V_SLICE_OUT, /* slice [1, 1+n) of a leaf 2 longer in the outermost dim */
};
static const char *view_name[] = {"", " view=trans", " view=perm", " view=slice_in", " view=slice_out"};

/* Make the elements of x outside [start, end) of padded dim pd NaN, so a
 * kernel that reads past a slice view sees it. Quantized: NaN block scales. */
static void poison_outside(senti_tensor *x, int pd, int64_t start, int64_t end) {
    for (int64_t i0 = 0; i0 < x->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < x->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < x->ne[2]; i2++) {
                const int64_t idx[3] = {i0, i1, i2};
                char *row = senti_row_ptr(x, i0, i1, i2);
                if (senti_type_is_quant(x->type)) {
                    if (pd < 3 && (idx[pd] < start || idx[pd] >= end))
                        for (int64_t b = 0; b < x->ne[3] / SENTI_QK; b++)
                            *(uint16_t *)(row + (size_t)b * senti_type_size(x->type)) = 0x7E00;
                    continue;
                }
                for (int64_t i3 = 0; i3 < x->ne[3]; i3++) {
                    const int64_t k = pd == 3 ? i3 : idx[pd];
                    if (k < start || k >= end) put_nan(x->type, row + i3 * (int64_t)x->nb[3]);
                }
            }
}

static senti_tensor *src_view(tc *c, senti_type type, int nd, const int64_t *shape, int view, double lo, double hi) {
    int64_t ls[4];
    memcpy(ls, shape, (size_t)nd * sizeof *ls);
    const bool quant = senti_type_is_quant(type);
    if (view == V_SLICE_IN && quant) view = V_SLICE_OUT;
    if (view == V_SLICE_OUT && quant && nd < 2) view = V_NONE; /* never the innermost dim */
    if ((view == V_TRANS || view == V_PERM) && (nd < 2 || (quant && nd < 3))) view = V_NONE;
    if (view == V_TRANS && quant) view = V_PERM;
    switch (view) {
    case V_TRANS:
    case V_PERM: {
        int axes[4] = {0, 1, 2, 3};
        if (view == V_TRANS) {
            axes[nd - 2] = nd - 1, axes[nd - 1] = nd - 2;
        } else {
            const int np = quant ? nd - 1 : nd; /* positions that may move */
            for (int i = np - 1; i > 0; i--) {
                int j = (int)rng_int(&c->rng, 0, i + 1), tmp = axes[i];
                axes[i] = axes[j], axes[j] = tmp;
            }
            bool ident = true;
            for (int i = 0; i < nd; i++) ident &= axes[i] == i;
            if (ident) axes[0] = 1, axes[1] = 0;
        }
        for (int i = 0; i < nd; i++) ls[axes[i]] = shape[i];
        senti_tensor *x = leaf(c, type, nd, ls, lo, hi);
        return op_permute(c->g, x, axes);
    }
    case V_SLICE_IN:
    case V_SLICE_OUT: {
        const int dim = view == V_SLICE_IN ? nd - 1 : 0;
        ls[dim] += view == V_SLICE_IN ? 3 : 2;
        senti_tensor *x = leaf(c, type, nd, ls, lo, hi);
        if (!x) return NULL;
        poison_outside(x, 4 - nd + dim, 1, 1 + shape[dim]);
        return op_slice(c->g, x, dim, 1, 1 + shape[dim]);
    }
    default: return leaf(c, type, nd, shape, lo, hi);
    }
}

/* ---- running and comparing -------------------------------------------------- */

typedef struct tol {
    double err, nmse;
} tol;
static const tol TOL_F32 = {1e-5, 1e-9};

typedef struct run_opts {
    tol tl;              /* for f32 outputs */
    bool mm_modes;       /* also run under both matmul modes */
    const void *expect;  /* exact bytes the last node must hold, or NULL */
    const senti_tensor *same_as; /* f32 node the last node must match on the reference, or NULL */
} run_opts;

static void bind(senti_graph *g, gbuf *bufs) {
    for (int i = 0; i < g->n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) t->data = (char *)t->view_src->data + t->view_offs;
        else t->data = gbuf_data(&bufs[i]);
    }
}

/* Index of the first NaN in a dense tensor of t's shape at p, or -1. */
static int64_t first_nan(const senti_tensor *t, const void *p) {
    if (t->type == I32) return -1;
    const int64_t n = t->ne[3];
    float *row = malloc((size_t)(n + 1) * sizeof *row);
    int64_t bad = -1;
    for (int64_t r = 0; r < senti_nrows(t) && bad < 0; r++) {
        senti_row_to_f32(t->type, (const char *)p + (size_t)r * senti_row_size(t->type, n), row, n);
        for (int64_t i = 0; i < n; i++)
            if (isnan(row[i])) {
                bad = r * n + i;
                break;
            }
    }
    free(row);
    return bad;
}

static void check_memory(tc *c, gbuf *bufs, const char *who) {
    senti_graph *g = c->g;
    for (int i = 0; i < c->n_leaf; i++) {
        long d = gbuf_damage(&c->leaf_buf[i]);
        if (d) tc_fail(c, "%s: guard bytes of input %s damaged at byte %ld", who, c->leaf[i]->name, d);
        if (fnv(gbuf_data(&c->leaf_buf[i]), c->leaf_buf[i].size, 1) != c->leaf_hash[i])
            tc_fail(c, "%s: input %s was modified", who, c->leaf[i]->name);
    }
    for (int i = 0; i < g->n_nodes; i++) {
        if (senti_op_is_view(g->nodes[i]->op)) continue;
        long d = gbuf_damage(&bufs[i]);
        if (d) tc_fail(c, "%s: guard bytes of output %s (%s) damaged at byte %ld of %zu", who, g->nodes[i]->name,
                       senti_op_name(g->nodes[i]->op), d, bufs[i].size);
    }
}

/* Compute every node on be into bufs (poisoned first). False on error. */
static bool run_on(tc *c, senti_backend *be, gbuf *bufs, const char *who, bool expect_error) {
    senti_graph *g = c->g;
    bind(g, bufs);
    for (int i = 0; i < g->n_nodes; i++)
        if (!senti_op_is_view(g->nodes[i]->op)) memset(gbuf_data(&bufs[i]), 0xFF, bufs[i].size);
    senti_status st = SENTI_OK;
    senti_tensor *bad = NULL;
    senti_clear_error();
    for (int i = 0; i < g->n_nodes && st == SENTI_OK; i++) {
        if (senti_op_is_view(g->nodes[i]->op)) continue;
        st = be->iface->compute(be, g, i, i + 1);
        if (st != SENTI_OK) bad = g->nodes[i];
    }
    check_memory(c, bufs, who);
    if (expect_error) {
        if (st == SENTI_OK) tc_fail(c, "%s: expected an error, got success", who);
        else if (!senti_last_error()[0]) tc_fail(c, "%s: error %s without a message", who, senti_status_name(st));
        else if (be == g_ref && !strstr(senti_last_error(), bad->name))
            tc_fail(c, "%s: error message does not name node '%s': %s", who, bad->name, senti_last_error());
        return false;
    }
    if (st != SENTI_OK) {
        tc_fail(c, "%s: %s '%s' failed: %s (%s)", who, senti_op_name(bad->op), bad->name, senti_status_name(st),
                senti_last_error());
        return false;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) continue;
        int64_t k = first_nan(t, t->data);
        if (k >= 0) tc_fail(c, "%s: %s '%s' output has NaN (or was not written) at element %lld", who,
                            senti_op_name(t->op), t->name, (long long)k);
    }
    return !c->failed;
}

/* Element (i0,i1,i2,i3) of a non-quantized tensor, through its strides. */
static float tget(const senti_tensor *t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    float f;
    senti_row_to_f32(t->type, (const char *)senti_row_ptr(t, i0, i1, i2) + i3 * (int64_t)t->nb[3], &f, 1);
    return f;
}

/* Per-element error bound for a matmul whose b is not f32, from the data:
 *   S = sum_k |A[m,k] B[k,n]|,  Q = sum_k |B[k,n]| * amax(32-block of A[m,:] holding k) / 127.
 * Rounding both operands to bf16 moves each product by at most 2^-8 of its
 * size, so a half kernel must stay within 2^-8 S: we allow 2^-7 S. A kernel
 * that quantizes activations to int8 per block (32 values; 256 for K-quant
 * weights) moves each by at most half a step (amax/254), so within Q/2: we
 * allow Q. Both plus 1e-5 S for f32 accumulation. A wrong block, scale or row
 * gives errors of order S, far outside either. */
static double *matmul_allowance(const senti_tensor *t) {
    const senti_tensor *a = t->src[0], *b = t->src[1];
    const bool ta = t->params[0], tb = t->params[1], quant = senti_type_is_quant(b->type);
    const int64_t M = t->ne[2], N = t->ne[3], K = ta ? a->ne[2] : a->ne[3];
    /* activations are quantized per 32 values (q8_0 / q4_0), per 256 (K-quants) or per row (int8) */
    const int64_t QB = b->type == I8 ? (K > 0 ? K : 1) : senti_type_is_kquant(b->type) ? SENTI_QK_K : SENTI_QK;
    double *allow = malloc((size_t)(senti_nelements(t) + 1) * sizeof *allow);
    float *A = malloc((size_t)(M * K + 1) * sizeof *A), *Bn = malloc((size_t)(K + 1) * sizeof *Bn);
    float *amax = malloc((size_t)(M * (K / QB + 1) + 1) * sizeof *amax);
    for (int64_t i0 = 0; i0 < t->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < t->ne[1]; i1++) {
            const int64_t j0 = i0 / (t->ne[0] / b->ne[0]), j1 = i1 / (t->ne[1] / b->ne[1]);
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) A[m * K + k] = ta ? tget(a, i0, i1, k, m) : tget(a, i0, i1, m, k);
            for (int64_t m = 0; quant && m < M; m++)
                for (int64_t blk = 0; blk < K / QB; blk++) {
                    float mx = 0;
                    for (int64_t k = blk * QB; k < (blk + 1) * QB; k++) mx = fmaxf(mx, fabsf(A[m * K + k]));
                    amax[m * (K / QB) + blk] = mx;
                }
            for (int64_t n = 0; n < N; n++) {
                if (quant) senti_row_to_f32(b->type, senti_row_ptr(b, j0, j1, n), Bn, K);
                else
                    for (int64_t k = 0; k < K; k++) Bn[k] = tb ? tget(b, j0, j1, n, k) : tget(b, j0, j1, k, n);
                for (int64_t m = 0; m < M; m++) {
                    double S = 0, Q = 0;
                    for (int64_t k = 0; k < K; k++) {
                        S += fabs((double)A[m * K + k] * Bn[k]);
                        if (quant) Q += fabs((double)Bn[k]) * amax[m * (K / QB) + k / QB] / 127.0;
                    }
                    allow[((i0 * t->ne[1] + i1) * M + m) * N + n] = (quant ? Q : 0x1.0p-7 * S) + 1e-5 * S + 1e-30;
                }
            }
        }
    free(A);
    free(Bn);
    free(amax);
    return allow;
}

/* f32 outputs: err_i = |got - ref| / (|ref| + rms(ref) + 1e-6) (the 1e-6 keeps
 * outputs like gelu(-12) ~ 1e-33 from asking for relative accuracy below
 * f32's reach) and nmse; matmuls with non-f32 weights: the bound above. */
static bool g_half_matmul; /* the backend being compared rounds matmul operands to 16 bits */

static void compare_f32(tc *c, const senti_tensor *t, const float *ref, const float *got, tol tl, const char *who) {
    const int64_t n = senti_nelements(t);
    if (t->op == SENTI_OP_MATMUL && (t->src[1]->type != F32 || g_half_matmul)) {
        double *allow = matmul_allowance(t), worst = 0;
        int64_t wi = -1;
        for (int64_t i = 0; i < n; i++) {
            double e = fabs((double)got[i] - ref[i]) / allow[i];
            if (!(e <= worst)) worst = e, wi = i;
        }
        if (!(worst <= 1.0))
            tc_fail(c, "%s: %s '%s' differs: |got - ref| is %.3g times the allowed %.3g at %lld (ref %.9g, got %.9g)",
                    who, senti_op_name(t->op), t->name, worst, allow[wi], (long long)wi, ref[wi], got[wi]);
        else if (g_verbose)
            printf("     %s: %s within %.3g of its bound\n", who, t->name, worst);
        free(allow);
        return;
    }
    double ss_ref = 0, ss_diff = 0;
    int64_t n_fin = 0, wi = -1;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isinf(ref[i])) { /* infinities (masks) must match exactly */
            if (got[i] != ref[i]) worst = INFINITY, wi = i;
            continue;
        }
        n_fin++;
        ss_ref += (double)ref[i] * ref[i];
        ss_diff += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
    }
    const double rms = n_fin ? sqrt(ss_ref / (double)n_fin) : 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (isinf(ref[i])) continue;
        double e = fabs((double)got[i] - ref[i]) / (fabs(ref[i]) + rms + 1e-6);
        if (!(e <= worst)) worst = e, wi = i;
    }
    const double nmse = ss_diff / (ss_ref + (double)n_fin * 1e-12 + 1e-300); /* same 1e-6 floor */
    if (!(worst <= tl.err) || !(nmse <= tl.nmse))
        tc_fail(c, "%s: %s '%s' differs: err %.3g at %lld (ref %.9g, got %.9g), nmse %.3g; tolerance %.1g / %.1g",
                who, senti_op_name(t->op), t->name, worst, (long long)wi, wi >= 0 ? ref[wi] : 0.0,
                wi >= 0 ? got[wi] : 0.0, nmse, tl.err, tl.nmse);
}

/* Quantized outputs: block scales equal to 1e-3, values within one step. */
static void compare_quant(tc *c, const senti_tensor *t, const void *ref, const void *got, const char *who) {
    const bool i8 = t->type == I8; /* one f32 scale leading each row */
    const int64_t n = t->ne[3], qb = i8 ? n : SENTI_QK, nblk = i8 ? (n > 0) : n / SENTI_QK;
    const size_t bsize = senti_type_size(t->type);
    float *fr = malloc((size_t)(n + 1) * sizeof *fr), *fg = malloc((size_t)(n + 1) * sizeof *fg);
    for (int64_t r = 0; r < senti_nrows(t); r++) {
        const char *pr = (const char *)ref + (size_t)r * senti_row_size(t->type, n);
        const char *pg = (const char *)got + (size_t)r * senti_row_size(t->type, n);
        senti_row_to_f32(t->type, pr, fr, n);
        senti_row_to_f32(t->type, pg, fg, n);
        for (int64_t b = 0; b < nblk; b++) {
            float sr, sg;
            if (i8) {
                memcpy(&sr, pr, 4);
                memcpy(&sg, pg, 4);
            } else {
                sr = senti_f16_to_f32(*(const uint16_t *)(pr + b * bsize));
                sg = senti_f16_to_f32(*(const uint16_t *)(pg + b * bsize));
            }
            const double dr = fabs(sr), dg = fabs(sg);
            const double step = dr > dg ? dr : dg;
            if (fabs(dr - dg) > 1e-3 * step) {
                tc_fail(c, "%s: %s '%s' row %lld block %lld: scale %.8g, reference %.8g", who, senti_op_name(t->op),
                        t->name, (long long)r, (long long)b, dg, dr);
                goto done;
            }
            for (int64_t j = b * qb; j < (b + 1) * qb; j++)
                if (fabs((double)fg[j] - fr[j]) > step * 1.0001 + 1e-30) {
                    tc_fail(c, "%s: %s '%s' row %lld element %lld: %.8g, reference %.8g (step %.3g)", who,
                            senti_op_name(t->op), t->name, (long long)r, (long long)j, fg[j], fr[j], step);
                    goto done;
                }
        }
    }
done:
    free(fr);
    free(fg);
}

static void compare_node(tc *c, const senti_tensor *t, const void *ref, const void *got, tol tl, const char *who) {
    if (t->type == F32) compare_f32(c, t, ref, got, tl, who);
    else if (senti_type_is_quant(t->type)) compare_quant(c, t, ref, got, who);
    else if (memcmp(ref, got, dense_bytes(t)) != 0) { /* f16, bf16, i32: exact */
        const size_t es = senti_type_size(t->type);
        int64_t i = 0;
        while (memcmp((const char *)ref + i * es, (const char *)got + i * es, es) == 0) i++;
        float r, v;
        senti_row_to_f32(t->type, (const char *)ref + i * es, &r, 1);
        senti_row_to_f32(t->type, (const char *)got + i * es, &v, 1);
        tc_fail(c, "%s: %s '%s' (%s) differs at element %lld: %.9g, reference %.9g", who, senti_op_name(t->op),
                t->name, senti_type_name(t->type), (long long)i, v, r);
    }
}

/* Run the case's graph (last node `out`) on the reference, then on the CPU
 * under every configuration, comparing every computed node. */
static void tc_run_opts(tc *c, senti_tensor *out, run_opts o, bool expect_error) {
    senti_graph *g = c->g;
    if (c->failed) return;
    if (!out || g->status != SENTI_OK) {
        tc_fail(c, "graph construction failed: %s", g->status != SENTI_OK ? g->err : senti_last_error());
        return;
    }
    const int n = g->n_nodes;
    gbuf *rb = calloc((size_t)n, sizeof *rb), *cb = calloc((size_t)n, sizeof *cb);
    for (int i = 0; i < n; i++) {
        if (senti_op_is_view(g->nodes[i]->op)) continue;
        gbuf_init(&rb[i], dense_bytes(g->nodes[i]));
        gbuf_init(&cb[i], dense_bytes(g->nodes[i]));
    }
    for (int i = 0; i < c->n_leaf; i++) c->leaf_hash[i] = fnv(gbuf_data(&c->leaf_buf[i]), c->leaf_buf[i].size, 1);

    bool ref_ok = run_on(c, g_ref, rb, "ref", expect_error);
    if (ref_ok && o.expect && memcmp(gbuf_data(&rb[n - 1]), o.expect, rb[n - 1].size) != 0)
        tc_fail(c, "ref: %s '%s' differs from the index computation of the test", senti_op_name(out->op), out->name);
    if (ref_ok && o.same_as)
        compare_f32(c, out, o.same_as->data, out->data, o.tl, "ref self-consistency");

    for (int i = 0; i < n && !c->skipped; i++) {
        const senti_tensor *t = g->nodes[i];
        if (!senti_op_is_view(t->op) && !g_cpu->iface->supports_op(g_cpu, t)) {
            if (!g_quiet)
                printf("SKIP %s: the cpu backend does not support %s '%s'\n", c->name, senti_op_name(t->op), t->name);
            c->skipped = true;
        }
    }
    if ((ref_ok || expect_error) && !c->skipped) {
        cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
        const cpu_simd simd0 = ctx->simd;
        const cpu_matmul_mode mode0 = ctx->matmul;
        for (int s = CPU_SIMD_SCALAR; s <= (int)g_simd_max; s++) {
            for (int m = 0; m < (o.mm_modes ? 2 : 1); m++) {
                ctx->simd = (cpu_simd)s;
                ctx->matmul = o.mm_modes ? (cpu_matmul_mode)m : mode0;
                char who[64];
                snprintf(who, sizeof who, "cpu simd=%s%s", cpu_simd_name(ctx->simd),
                         o.mm_modes ? (ctx->matmul == CPU_MATMUL_BLAS ? " matmul=blas" : " matmul=native") : "");
                if (!run_on(c, g_cpu, cb, who, expect_error)) continue;
                for (int i = 0; i < n; i++)
                    if (!senti_op_is_view(g->nodes[i]->op))
                        compare_node(c, g->nodes[i], gbuf_data(&rb[i]), gbuf_data(&cb[i]), o.tl, who);
            }
        }
        ctx->simd = simd0;
        ctx->matmul = mode0;
        for (int e = 0; e < g_n_extra; e++) { /* the same case on every other backend */
            senti_backend *be = g_extra[e].be;
            bool ok = true;
            for (int i = 0; i < n && ok; i++)
                if (!senti_op_is_view(g->nodes[i]->op) && !be->iface->supports_op(be, g->nodes[i])) ok = false;
            if (!ok) {
                n_extra_skip++;
                if (g_verbose) printf("skip %s on %s: an op is declined\n", c->name, g_extra[e].name);
                continue;
            }
            g_half_matmul = g_extra[e].half;
            if (run_on(c, be, cb, g_extra[e].name, expect_error))
                for (int i = 0; i < n; i++)
                    if (!senti_op_is_view(g->nodes[i]->op))
                        compare_node(c, g->nodes[i], gbuf_data(&rb[i]), gbuf_data(&cb[i]), o.tl, g_extra[e].name);
            g_half_matmul = false;
        }
    }
    for (int i = 0; i < n; i++) {
        gbuf_free(&rb[i]);
        gbuf_free(&cb[i]);
    }
    free(rb);
    free(cb);
}

static void tc_run(tc *c, senti_tensor *out, tol tl) { tc_run_opts(c, out, (run_opts){tl, false, NULL, NULL}, false); }

#define TEST_BEGIN() t_fails = 0
#define TEST_END() ck_assert_msg(t_fails == 0, "%d case(s) failed; replay with SENTI_TEST_SEED=%llu", t_fails, \
                                 (unsigned long long)g_seed)

static const char *shape_s(int nd, const int64_t *s, char *buf) {
    int k = sprintf(buf, "[");
    for (int i = 0; i < nd; i++) k += sprintf(buf + k, "%s%lld", i ? "," : "", (long long)s[i]);
    sprintf(buf + k, "]");
    return buf;
}

/* ---- get_rows ------------------------------------------------------------- */

START_TEST(test_get_rows) {
    TEST_BEGIN();
    static const senti_type types[] = {F32, F16, BF16, Q8, Q4};
    static const int64_t vd[][2] = {{1, 32}, {7, 64}, {13, 32}, {5, 1}, {11, 7}};
    static const struct {
        int nd;
        int64_t s[3];
    } ids[] = {{1, {1}}, {1, {9}}, {2, {2, 5}}, {3, {2, 3, 4}}, {1, {0}}, {2, {3, 0}}};
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t vi = 0; vi < 5; vi++)
            for (size_t ii = 0; ii < 6; ii++) {
                const senti_type type = types[ti];
                if (senti_type_is_quant(type) && vd[vi][1] % 32) continue;
                const int view = (int)((ti + vi + ii) % 3) == 0 ? V_NONE : (ii % 2 ? V_SLICE_OUT : V_SLICE_IN);
                char s[64];
                tc c;
                tc_begin(&c, "get_rows table=%s[%lld,%lld] ids=%s%s", senti_type_name(type), (long long)vd[vi][0],
                         (long long)vd[vi][1], shape_s(ids[ii].nd, ids[ii].s, s), view_name[view]);
                senti_tensor *table = src_view(&c, type, 2, vd[vi], view, -1, 1);
                senti_tensor *id = leaf(&c, I32, ids[ii].nd, ids[ii].s, 0, (double)vd[vi][0]);
                tc_run(&c, op_get_rows(c.g, table, id), TOL_F32);
                tc_end(&c);
            }
    for (int ti = 0; ti < 5; ti++) { /* big enough for the threads to split rows */
        tc c;
        tc_begin(&c, "get_rows table=%s[1000,256] ids=[4,64] (threaded)", senti_type_name(types[ti]));
        senti_tensor *table = leaf(&c, types[ti], 2, (int64_t[]){1000, 256}, -1, 1);
        senti_tensor *id = leaf(&c, I32, 2, (int64_t[]){4, 64}, 0, 1000);
        tc_run(&c, op_get_rows(c.g, table, id), TOL_F32);
        tc_end(&c);
    }
    /* an id out of range is a compute error on every backend, never a crash */
    for (int bad = 0; bad < 2; bad++) {
        tc c;
        tc_begin(&c, "get_rows id out of range (%s)", bad ? "-1" : "V");
        senti_tensor *table = leaf_f32(&c, 2, (int64_t[]){7, 16});
        senti_tensor *id = leaf(&c, I32, 1, (int64_t[]){5}, 0, 7);
        if (id) ((int32_t *)id->data)[3] = bad ? -1 : 7;
        tc_run_opts(&c, op_get_rows(c.g, table, id), (run_opts){TOL_F32, false, NULL, NULL}, true);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- add, mul, scale --------------------------------------------------------- */

static const struct {
    int na;
    int64_t a[4];
    int nb;
    int64_t b[4];
    const char *what;
} bin_cases[] = {
    {2, {7, 13}, 2, {7, 13}, "same shape"},
    {3, {2, 5, 33}, 1, {33}, "bias row"},
    {3, {3, 17, 5}, 2, {17, 1}, "column"},
    {2, {4, 5}, 1, {1}, "scalar b"},
    {1, {1}, 2, {4, 5}, "scalar a"},
    {3, {3, 1, 5}, 3, {1, 4, 1}, "both ways"},
    {4, {2, 1, 3, 1}, 4, {1, 5, 1, 7}, "both ways 4-D"},
    {2, {1, 131}, 1, {131}, "prime"},
    {1, {1}, 1, {1}, "size 1"},
    {4, {2, 3, 4, 67}, 4, {2, 3, 4, 67}, "4-D"},
    {4, {2, 3, 4, 67}, 4, {2, 1, 4, 1}, "4-D broadcast"},
    {2, {0, 5}, 1, {5}, "empty"},
    {2, {3, 0}, 1, {1}, "empty row"},
    {2, {3, 1}, 2, {1, 0}, "empty by broadcast"},
    {2, {64, 1031}, 1, {1031}, "large bias row"},
    {3, {8, 64, 130}, 3, {8, 64, 1}, "large column"},
    {4, {2, 8, 40, 130}, 4, {2, 1, 40, 130}, "large outer broadcast"},
};

START_TEST(test_add_mul) {
    TEST_BEGIN();
    for (size_t i = 0; i < sizeof bin_cases / sizeof bin_cases[0]; i++)
        for (int op = 0; op < 2; op++)
            for (int v = 0; v < 3; v++) {
                const int va = v == 1 ? V_PERM : v == 2 ? V_SLICE_IN : V_NONE;
                const int vb = v == 1 ? V_SLICE_IN : v == 2 ? V_TRANS : V_NONE;
                char sa[64], sb[64];
                tc c;
                tc_begin(&c, "%s %s a=%s%s b=%s%s", op ? "mul" : "add", bin_cases[i].what,
                         shape_s(bin_cases[i].na, bin_cases[i].a, sa), view_name[va],
                         shape_s(bin_cases[i].nb, bin_cases[i].b, sb), view_name[vb]);
                senti_tensor *a = src_view(&c, F32, bin_cases[i].na, bin_cases[i].a, va, -2, 2);
                senti_tensor *b = src_view(&c, F32, bin_cases[i].nb, bin_cases[i].b, vb, -2, 2);
                tc_run(&c, op ? op_mul(c.g, a, b) : op_add(c.g, a, b), TOL_F32);
                tc_end(&c);
            }
    for (int k = 0; k < 30; k++) { /* random shapes: each dim equal, or 1 on either side, ranks 1..4 */
        tc c;
        tc_begin(&c, "add/mul random broadcast #%d", k);
        int64_t sa[4], sb[4], full[4];
        const int na = (int)rng_int(&c.rng, 1, 5), nb = (int)rng_int(&c.rng, 1, 5);
        for (int i = 0; i < 4; i++) full[i] = rng_int(&c.rng, 1, 9) * (rng_unif(&c.rng) < 0.1 ? 0 : 1) + (i == 3) * 30;
        for (int i = 0; i < na; i++) sa[i] = rng_unif(&c.rng) < 0.3 ? 1 : full[4 - na + i];
        for (int i = 0; i < nb; i++) sb[i] = rng_unif(&c.rng) < 0.3 ? 1 : full[4 - nb + i];
        const int va = (int)rng_int(&c.rng, 0, 5), vb = (int)rng_int(&c.rng, 0, 5);
        char s1[64], s2[64];
        snprintf(c.name + strlen(c.name), sizeof c.name - strlen(c.name), ": a=%s%s b=%s%s", shape_s(na, sa, s1),
                 view_name[va], shape_s(nb, sb, s2), view_name[vb]);
        senti_tensor *a = src_view(&c, F32, na, sa, va, -2, 2), *b = src_view(&c, F32, nb, sb, vb, -2, 2);
        tc_run(&c, k % 2 ? op_mul(c.g, a, b) : op_add(c.g, a, b), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

static const struct {
    int nd;
    int64_t s[4];
} un_shapes[] = {{1, {1}},       {1, {17}},     {2, {7, 13}},    {3, {3, 5, 67}},
                  {4, {2, 3, 4, 33}}, {2, {0, 3}}, {1, {1031}},    {2, {64, 1031}}};

START_TEST(test_scale) {
    TEST_BEGIN();
    static const float scales[] = {0.37f, -2.5f, 0.0f};
    for (size_t i = 0; i < sizeof un_shapes / sizeof un_shapes[0]; i++)
        for (int v = 0; v < 3; v++) {
            const int view = v == 0 ? V_NONE : v == 1 ? V_PERM : V_SLICE_IN;
            char s[64];
            tc c;
            tc_begin(&c, "scale %s%s s=%g", shape_s(un_shapes[i].nd, un_shapes[i].s, s), view_name[view], scales[v]);
            senti_tensor *x = src_view(&c, F32, un_shapes[i].nd, un_shapes[i].s, view, -3, 3);
            tc_run(&c, op_scale(c.g, x, scales[v]), TOL_F32);
            tc_end(&c);
        }
    TEST_END();
}
END_TEST

/* ---- activations ------------------------------------------------------------ */

START_TEST(test_activations) {
    TEST_BEGIN();
    static const char *names[] = {"gelu", "gelu_tanh", "silu", "relu", "tanh"};
    senti_tensor *(*const fns[])(senti_graph *, senti_tensor *) = {op_gelu, op_gelu_tanh, op_silu, op_relu, op_tanh};
    for (int f = 0; f < 5; f++)
        for (size_t i = 0; i < sizeof un_shapes / sizeof un_shapes[0]; i++)
            for (int v = 0; v < 3; v++) {
                const int view = v == 0 ? V_NONE : v == 1 ? V_PERM : V_SLICE_IN;
                const double range = v == 2 ? 12.0 : v == 1 ? 1.0 : 5.0; /* saturation and the middle */
                char s[64];
                tc c;
                tc_begin(&c, "%s %s%s range=%g", names[f], shape_s(un_shapes[i].nd, un_shapes[i].s, s),
                         view_name[view], range);
                senti_tensor *x = src_view(&c, F32, un_shapes[i].nd, un_shapes[i].s, view, -range, range);
                tc_run(&c, fns[f](c.g, x), TOL_F32);
                tc_end(&c);
            }
    TEST_END();
}
END_TEST

/* An element's activation bytes do not depend on where in a row it sits
 * (vector-block interior, the interleaved GELU blocks, the tail, a row of
 * one) at any SIMD level: tiles and row chunks put the same element at
 * different positions for different batches. */
START_TEST(test_activations_position) {
    enum { N = 203 };
    float x[N], y[N], one;
    unsigned seed = 11;
    for (int i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = ((float)(seed >> 8) / 16777216.0f - 0.5f) * (i % 3 ? 12.0f : 40.0f);
    }
    x[5] = NAN, x[40] = -INFINITY, x[41] = INFINITY, x[77] = -0.0f;
    for (int s = CPU_SIMD_SCALAR; s <= (int)g_simd_max; s++) {
        const cpu_vec_ops *ops = cpu_vec_get((cpu_simd)s);
        void (*const fns[])(float *, const float *, int64_t) = {ops->gelu, ops->gelu_tanh, ops->silu, ops->relu,
                                                                ops->tanh};
        for (int f = 0; f < 5; f++)
            for (int off = 0; off < 3; off++) { /* rows starting at 0, 1, 2: every element at three positions */
                fns[f](y, x + off, N - off);
                for (int i = 0; i < N - off; i++) {
                    fns[f](&one, x + off + i, 1);
                    ck_assert_msg(memcmp(&one, y + i, 4) == 0,
                                  "simd=%s activation %d: element %d of a row from %d is %.9g, alone %.9g",
                                  cpu_simd_name((cpu_simd)s), f, i, off, y[i], one);
                }
            }
    }
}
END_TEST

/* ---- norms ------------------------------------------------------------------ */

START_TEST(test_norms) {
    TEST_BEGIN();
    static const char *norm_names[] = {"layer_norm w,b", "layer_norm w", "layer_norm", "rms_norm w", "rms_norm"};
    static const struct {
        int nd;
        int64_t s[4];
    } shapes[] = {{2, {1, 1}},    {2, {3, 7}},   {3, {2, 5, 64}}, {2, {4, 257}}, {3, {2, 3, 768}},
                  {2, {0, 16}},   {1, {33}},     {2, {128, 768}}, {2, {64, 257}}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int kind = 0; kind < 5; kind++) {
            const int view = (int)(i + kind) % 3 == 0 ? V_NONE : (i + kind) % 3 == 1 ? V_SLICE_IN : V_PERM;
            const float eps = kind % 2 ? 1e-5f : 1e-12f;
            const int64_t D = shapes[i].s[shapes[i].nd - 1];
            char s[64];
            tc c;
            tc_begin(&c, "%s %s%s eps=%g", norm_names[kind], shape_s(shapes[i].nd, shapes[i].s, s), view_name[view],
                     eps);
            /* a mean of 2 puts the variance under a cancellation test */
            senti_tensor *x = src_view(&c, F32, shapes[i].nd, shapes[i].s, view, kind < 3 ? 1 : -1, 3);
            senti_tensor *w = kind == 0 || kind == 1 || kind == 3 ? leaf(&c, F32, 1, &D, 0.5, 1.5) : NULL;
            senti_tensor *b = kind == 0 ? leaf(&c, F32, 1, &D, -1, 1) : NULL;
            tc_run(&c, kind < 3 ? op_layer_norm(c.g, x, w, b, eps) : op_rms_norm(c.g, x, w, eps), TOL_F32);
            tc_end(&c);
        }
    TEST_END();
}
END_TEST

/* ---- softmax ---------------------------------------------------------------- */

enum { M_NONE, M_PAD, M_ROWS, M_FULL, M_2D };
static const char *mask_name[] = {"none", "[B,1,1,Tk] padding", "[1,1,Tq,Tk] with masked rows",
                                  "[B,H,Tq,Tk]", "[Tq,Tk]"};

/* A mask for scores [B, H, Tq, Tk]: padding masks the last keys of each batch
 * (the last batch entirely); row masks hide keys at random and row 0 wholly;
 * full masks add random values and hide at random. */
static senti_tensor *make_mask(tc *c, int kind, int64_t B, int64_t H, int64_t Tq, int64_t Tk) {
    int64_t shape[4] = {kind == M_PAD || kind == M_FULL ? B : 1, kind == M_FULL ? H : 1,
                        kind == M_PAD ? 1 : Tq, Tk};
    senti_tensor *m = kind == M_2D ? leaf(c, F32, 2, shape + 2, -1, 1) : leaf(c, F32, 4, shape, -1, 1);
    if (!m) return NULL;
    float *d = m->data;
    const int64_t rows = senti_nrows(m);
    for (int64_t r = 0; r < rows; r++) {
        const int64_t pad = kind == M_PAD ? (r == rows - 1 ? Tk : rng_int(&c->rng, 0, Tk / 2 + 1)) : 0;
        for (int64_t j = 0; j < Tk; j++) {
            float *p = &d[r * Tk + j];
            if (kind == M_PAD) *p = j >= Tk - pad ? -INFINITY : 0.0f;
            else if (kind == M_ROWS && (r % Tq == 0 || rng_unif(&c->rng) < 0.3)) *p = -INFINITY;
            else if ((kind == M_FULL || kind == M_2D) && (rng_unif(&c->rng) < 0.2 || (r == rows - 1 && kind == M_FULL)))
                *p = -INFINITY;
        }
    }
    return m;
}

START_TEST(test_softmax) {
    TEST_BEGIN();
    static const struct {
        int64_t B, H, Tq, Tk;
        int mask, view;
        float scale, range;
    } cases[] = {
        {2, 3, 5, 7, M_NONE, V_NONE, 1.0f, 1},     {1, 1, 1, 1, M_NONE, V_NONE, 1.0f, 1},
        {2, 3, 5, 7, M_NONE, V_PERM, 0.125f, 8},   {2, 2, 4, 131, M_PAD, V_NONE, 0.5f, 4},
        {1, 2, 6, 9, M_ROWS, V_SLICE_IN, 1.0f, 2}, {2, 3, 4, 17, M_FULL, V_NONE, 0.3f, 20},
        {1, 1, 3, 1000, M_NONE, V_NONE, 1.0f, 20}, {2, 2, 5, 33, M_2D, V_TRANS, 1.0f, 3},
        {3, 1, 1, 16, M_PAD, V_SLICE_OUT, 1.0f, 1}, {1, 2, 8, 64, M_ROWS, V_NONE, 0.125f, 30},
        {0, 2, 3, 5, M_NONE, V_NONE, 1.0f, 1},     {2, 1, 3, 0, M_NONE, V_NONE, 1.0f, 1},
        {2, 2, 3, 5, M_FULL, V_NONE, 1.0f, 1},
        {2, 4, 64, 200, M_PAD, V_NONE, 0.125f, 4},   {2, 4, 64, 130, M_ROWS, V_PERM, 1.0f, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t shape[4] = {cases[i].B, cases[i].H, cases[i].Tq, cases[i].Tk};
        char s[64];
        tc c;
        tc_begin(&c, "softmax x=%s%s mask=%s scale=%g", shape_s(4, shape, s), view_name[cases[i].view],
                 mask_name[cases[i].mask], cases[i].scale);
        senti_tensor *x = src_view(&c, F32, 4, shape, cases[i].view, -cases[i].range, cases[i].range);
        senti_tensor *m = cases[i].mask ? make_mask(&c, cases[i].mask, shape[0], shape[1], shape[2], shape[3]) : NULL;
        tc_run(&c, op_softmax(c.g, x, m, cases[i].scale), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- matmul ----------------------------------------------------------------- */

typedef struct mm_spec {
    int64_t M, N, K;
    bool ta, tb;
    int64_t a0, a1, b0, b1; /* batch dims; 0,0 = plain 2-D */
    int av, bv;             /* view modes of a and b */
} mm_spec;

static bool g_mm_const; /* run_matmul's weight flagged constant: packed once by the CPU backend */

static void run_matmul(senti_type bt, const mm_spec *p, bool cpy_weights) {
    const bool batched = p->a0 || p->a1;
    const int nd = batched ? 4 : 2;
    int64_t sa[4] = {p->a0, p->a1, 0, 0}, sb[4] = {p->b0, p->b1, 0, 0};
    int64_t *ma = sa + (batched ? 2 : 0), *mb = sb + (batched ? 2 : 0);
    ma[0] = p->ta ? p->K : p->M, ma[1] = p->ta ? p->M : p->K;
    mb[0] = p->tb ? p->N : p->K, mb[1] = p->tb ? p->K : p->N;
    char s1[64], s2[64];
    tc c;
    tc_begin(&c, "matmul %s M=%lld N=%lld K=%lld a=%s%s%s b=%s%s%s%s%s", senti_type_name(bt), (long long)p->M,
             (long long)p->N, (long long)p->K, shape_s(nd, sa, s1), p->ta ? "^T" : "", view_name[p->av],
             shape_s(nd, sb, s2), p->tb ? "^T" : "", view_name[p->bv], cpy_weights ? " (weights by op_cpy)" : "",
             g_mm_const ? " (constant)" : "");
    senti_tensor *a = src_view(&c, F32, nd, sa, p->av, -1, 1);
    senti_tensor *b;
    if (cpy_weights) b = op_cpy(c.g, src_view(&c, F32, nd, sb, p->bv, -1, 1), bt);
    else b = src_view(&c, bt, nd, sb, p->bv, -1, 1);
    if (g_mm_const && b && !cpy_weights) b->flags |= SENTI_TFLAG_CONST;
    /* non-f32 weights: compare_f32 switches to the per-element bound */
    tc_run_opts(&c, op_matmul(c.g, a, b, p->ta, p->tb), (run_opts){TOL_F32, true, NULL, NULL}, false);
    tc_end(&c);
    if (g_mm_const) cpu_gemm_cache_free(cpu_backend_ctx(g_cpu)); /* the weight's buffer is freed with the case */
}

/* Each spec with the weight as given, then flagged constant (packed once). */
static void run_matmul_specs(senti_type bt, const mm_spec *specs, size_t n) {
    for (int k = 0; k < 2; k++) {
        g_mm_const = k == 1;
        for (size_t i = 0; i < n; i++) run_matmul(bt, &specs[i], false);
    }
    g_mm_const = false;
}

START_TEST(test_matmul_f32) {
    TEST_BEGIN();
    static const mm_spec specs[] = {
        {1, 1, 1, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {1, 33, 67, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {5, 7, 13, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {16, 65, 67, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {17, 31, 29, 1, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 33, 67, 1, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {64, 129, 96, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {130, 17, 257, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {9, 11, 13, 0, 0, 2, 3, 1, 1, V_NONE, V_NONE},
        {5, 7, 16, 0, 1, 2, 6, 2, 2, V_NONE, V_NONE},    /* grouped-query: b batch 3x smaller */
        {70, 9, 20, 0, 0, 2, 3, 2, 3, V_NONE, V_NONE},
        {4, 5, 8, 1, 0, 2, 3, 1, 3, V_NONE, V_NONE},
        {19, 23, 31, 0, 0, 0, 0, 0, 0, V_TRANS, V_TRANS}, /* transposed operands as views */
        {67, 13, 33, 0, 1, 0, 0, 0, 0, V_SLICE_IN, V_SLICE_IN},
        {5, 7, 9, 0, 1, 3, 2, 3, 2, V_PERM, V_PERM},
        {66, 35, 40, 1, 0, 2, 2, 2, 1, V_PERM, V_SLICE_OUT},
        {3, 5, 7, 0, 0, 2, 2, 1, 1, V_SLICE_OUT, V_NONE},
        {0, 5, 7, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* empty */
        {3, 0, 7, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 5, 0, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE}, /* K = 0: zeros */
        {70, 5, 0, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 5, 7, 0, 1, 2, 0, 1, 1, V_NONE, V_NONE}, /* empty batch */
        {20, 777, 40, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* crosses the 768-wide n block */
        {9, 777, 40, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {33, 70, 513, 0, 0, 0, 0, 0, 0, V_NONE, V_SLICE_IN}, /* crosses 256-deep k blocks twice */
        {150, 100, 64, 1, 1, 0, 0, 0, 0, V_NONE, V_NONE},   /* threads split M */
        {1, 9, 40, 0, 1, 0, 0, 0, 0, V_TRANS, V_NONE}, /* size-1 dims have arbitrary strides: */
        {1, 9, 40, 0, 0, 2, 2, 1, 1, V_PERM, V_NONE},  /* a [1, K] whose row stride is < K */
        {70, 1, 40, 0, 1, 0, 0, 0, 0, V_NONE, V_TRANS}, /* b [1, K] whose row stride is < K */
        {1, 33, 67, 0, 1, 3, 2, 1, 1, V_NONE, V_NONE},     /* [B, 1, K] rows: one GEMM of 6 rows */
        {1, 40, 67, 0, 1, 5, 1, 1, 1, V_SLICE_IN, V_NONE}, /* the same, rows strided by the slice */
    };
    /* every row tile height of the level (the default is the CPU's: 14 on AMD
     * at AVX-512, 6 elsewhere), with the weight as given and prepacked */
    static const char *const heights[] = {NULL, "14", "6", "1"};
    for (size_t h = 0; h < sizeof heights / sizeof heights[0]; h++) {
        if (heights[h]) setenv("SENTI_MM_MR", heights[h], 1);
        run_matmul_specs(F32, specs, sizeof specs / sizeof specs[0]);
        unsetenv("SENTI_MM_MR");
    }
    TEST_END();
}
END_TEST

/* Random matmuls: any weight type, sizes around the path limits (M <= 16 few
 * rows / blocked; K around the 256 k block), random transposes, views and
 * divide-broadcast batches. */
START_TEST(test_matmul_random) {
    TEST_BEGIN();
    rng_t r = {g_seed ^ 0x6D6D72616E64ull};
    static const senti_type types[] = {F32, F16, BF16, Q8, Q4};
    for (int k = 0; k < 40; k++) {
        const senti_type bt = types[k % 5];
        const bool quant = senti_type_is_quant(bt);
        mm_spec p = {0};
        p.M = rng_unif(&r) < 0.5 ? rng_int(&r, 1, 17) : rng_int(&r, 17, 90);
        p.N = rng_int(&r, 1, 80);
        p.K = quant ? 32 * rng_int(&r, 1, 11) : rng_int(&r, 1, 300);
        p.tb = quant || rng_unif(&r) < 0.6;
        p.ta = rng_unif(&r) < 0.25;
        if (rng_unif(&r) < 0.4) {
            p.b0 = rng_int(&r, 1, 3), p.b1 = rng_int(&r, 1, 3);
            p.a0 = p.b0 * rng_int(&r, 1, 3), p.a1 = p.b1 * rng_int(&r, 1, 3);
        }
        p.av = (int)rng_int(&r, 0, 5);
        p.bv = bt == F32 ? (int)rng_int(&r, 0, 5) : rng_unif(&r) < 0.5 ? V_NONE : V_SLICE_OUT;
        run_matmul(bt, &p, false);
    }
    TEST_END();
}
END_TEST

START_TEST(test_matmul_half) {
    TEST_BEGIN();
    static const mm_spec specs[] = {
        {1, 33, 67, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {7, 65, 13, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {16, 31, 128, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {17, 33, 67, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 65, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 17, 33, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 17, 29, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {9, 10, 24, 0, 1, 2, 4, 1, 1, V_NONE, V_NONE},
        {5, 7, 24, 0, 1, 2, 6, 2, 3, V_NONE, V_NONE},
        {11, 13, 40, 0, 1, 0, 0, 0, 0, V_SLICE_IN, V_SLICE_OUT},
        {70, 9, 33, 1, 1, 0, 0, 0, 0, V_TRANS, V_NONE},
        {1, 1, 1, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {0, 3, 5, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {33, 800, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* crosses the n block */
        {5, 40, 300, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},  /* few rows, K past 256 */
        {40, 30, 300, 0, 0, 0, 0, 0, 0, V_NONE, V_NONE},
        {1, 9, 40, 0, 1, 0, 0, 0, 0, V_TRANS, V_NONE},
    };
    /* then each weight flagged constant: packed once (f16 panels; bf16 in k pairs for the vdpbf16ps tiles) */
    for (int t = 0; t < 2; t++) run_matmul_specs(t ? BF16 : F16, specs, sizeof specs / sizeof specs[0]);
    mm_spec p = {17, 33, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE};
    run_matmul(F16, &p, true);
    run_matmul(BF16, &p, true);
    TEST_END();
}
END_TEST

/* K-quant weights (q4_K, q6_K; from GGUF files): few rows (dequantize a row,
 * f32 dot), moderate M on long rows, and many rows (dequantize + sgemm). */
START_TEST(test_matmul_kquant) {
    TEST_BEGIN();
    static const mm_spec specs[] = {
        {1, 1, 256, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {1, 33, 512, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {7, 17, 768, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {16, 65, 256, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 31, 512, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {300, 40, 256, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {5, 9, 256, 0, 1, 2, 3, 1, 1, V_NONE, V_NONE},
        {3, 0, 256, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
    };
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
            run_matmul(t ? SENTI_TYPE_Q6_K : SENTI_TYPE_Q4_K, &specs[i], false);
    TEST_END();
}
END_TEST

START_TEST(test_matmul_quant) {
    TEST_BEGIN();
    static const mm_spec specs[] = {
        {1, 1, 32, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {1, 33, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 7, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {16, 65, 160, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {17, 31, 32, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 33, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {70, 129, 256, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {5, 17, 64, 0, 1, 2, 3, 1, 1, V_NONE, V_NONE},
        {4, 9, 32, 0, 1, 2, 6, 2, 2, V_NONE, V_NONE},
        {13, 11, 64, 0, 1, 0, 0, 0, 0, V_SLICE_IN, V_SLICE_OUT},
        {66, 7, 96, 1, 1, 0, 0, 0, 0, V_TRANS, V_NONE},
        {3, 5, 64, 0, 1, 2, 3, 2, 3, V_NONE, V_PERM}, /* b stored in another order, rows contiguous */
        {0, 5, 32, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {20, 40, 288, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* k blocks of 256 + 32 */
        {7, 40, 544, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {24, 780, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* crosses the n block */
        {1, 33, 96, 0, 1, 4, 2, 1, 1, V_NONE, V_NONE},   /* [B, 1, K] rows: one GEMM */
    };
    for (int t = 0; t < 2; t++)
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) run_matmul(t ? Q4 : Q8, &specs[i], false);
    mm_spec p1 = {5, 33, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, p2 = {67, 17, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_PERM};
    run_matmul(Q8, &p1, true);
    run_matmul(Q4, &p1, true);
    run_matmul(Q8, &p2, true);
    run_matmul(Q4, &p2, true);
    TEST_END();
}
END_TEST

/* int8 weights: odd / prime sizes, M from 1 to beyond a tile and a row block,
 * K not a multiple of 4, views; against the reference's bound (run_matmul). */
START_TEST(test_matmul_int8) {
    TEST_BEGIN();
    static const mm_spec specs[] = {
        {1, 1, 1, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {1, 37, 97, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {2, 7, 3, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 17, 13, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {5, 53, 31, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {7, 101, 64, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {8, 48, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {9, 49, 257, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {13, 67, 389, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {67, 33, 96, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {131, 23, 127, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {5, 17, 61, 0, 1, 2, 3, 1, 1, V_NONE, V_NONE},
        {4, 9, 29, 0, 1, 2, 6, 2, 2, V_NONE, V_NONE},
        {13, 11, 43, 0, 1, 0, 0, 0, 0, V_SLICE_IN, V_SLICE_OUT},
        {66, 7, 41, 1, 1, 0, 0, 0, 0, V_TRANS, V_NONE},
        {3, 5, 19, 0, 1, 2, 3, 2, 3, V_NONE, V_PERM},
        {0, 5, 32, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {3, 0, 32, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {70, 5, 0, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* K = 0: zeros */
        {24, 780, 67, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE},
        {300, 41, 771, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, /* threads split rows; several row blocks */
        {1, 37, 97, 0, 1, 3, 3, 1, 1, V_NONE, V_NONE},    /* [B, 1, K] rows: one GEMM */
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) run_matmul(I8, &specs[i], false);
    mm_spec p1 = {5, 33, 95, 0, 1, 0, 0, 0, 0, V_NONE, V_NONE}, p2 = {67, 17, 61, 0, 1, 0, 0, 0, 0, V_NONE, V_PERM};
    run_matmul(I8, &p1, true);
    run_matmul(I8, &p2, true);
    TEST_END();
}
END_TEST

/* int8 weights, bit-exact: out[m][n] = (float) idot * (da[m] * dw[n]) +
 * c[m] * ws[n] with idot the exact dot of senti_quantize_int8_centered(A row)
 * (scale da, centre c) and the weight row (int64 here), ws[n] = dw[n] * sum_k
 * w[n][k], at every SIMD level, packed once (constant weight) or per call,
 * with a row of zeros, a constant row, rows shifted off centre (a GELU output
 * is), a row of rounding ties and a wide range of magnitudes. */
static void run_int8_exact(int64_t M, int64_t N, int64_t K, bool constant) {
    tc c;
    tc_begin(&c, "matmul int8 exact M=%lld N=%lld K=%lld%s", (long long)M, (long long)N, (long long)K,
             constant ? " (prepacked)" : "");
    const int64_t as[2] = {M, K}, bs[2] = {N, K};
    senti_tensor *a = leaf(&c, F32, 2, as, -2, 2), *b = leaf(&c, I8, 2, bs, -1, 1);
    float *A = a->data;
    for (int64_t m = 0; m < M; m++) { /* rows of very different scales; row 1 all zero, row 2 constant */
        const float s = m == 1 ? 0.0f : ldexpf(1.0f, (int)rng_int(&c.rng, -20, 20));
        const float shift = m % 3 == 0 ? 0.0f : (float)rng_range(&c.rng, -3, 3) * s;
        for (int64_t k = 0; k < K; k++) A[m * K + k] = (m == 2 ? 1.0f : A[m * K + k]) * s + shift;
    }
    if (M > 3 && K > 2) { /* row 3: centre 0 and scale 1, so q = roundf(x): halves and the floats beside them */
        static const float ties[] = {0.5f,   -0.5f,  1.5f,       -2.5f,       0.49999997f, -0.49999997f, 126.5f,
                                     -126.5f, 63.5f, 2.5000002f, 3.4999998f, -0.0f,       -64.5f,       100.49999f};
        A[3 * K] = -127.0f;
        A[3 * K + 1] = 127.0f;
        for (int64_t k = 2; k < K; k++) A[3 * K + k] = ties[(k - 2) % (int64_t)(sizeof ties / sizeof ties[0])];
    }
    if (constant) b->flags |= SENTI_TFLAG_CONST;
    senti_tensor *out = op_matmul(c.g, a, b, false, true);
    float *want = malloc((size_t)(M * N + 1) * 4), *got = malloc((size_t)(M * N + 1) * 4);
    int8_t *qa = malloc((size_t)K + 1);
    for (int64_t m = 0; m < M; m++) {
        float cen;
        const float da = senti_quantize_int8_centered(A + m * K, qa, K, &cen);
        for (int64_t n = 0; n < N; n++) {
            const char *row = (const char *)b->data + (size_t)n * senti_row_size(I8, K);
            float dw;
            memcpy(&dw, row, 4);
            int64_t d = 0, sw = 0;
            for (int64_t k = 0; k < K; k++) d += (int64_t)qa[k] * ((const int8_t *)row)[4 + k];
            for (int64_t k = 0; k < K; k++) sw += ((const int8_t *)row)[4 + k];
            want[m * N + n] = (float)(int32_t)d * (da * dw) + cen * (dw * (float)sw);
        }
    }
    if (!out || c.g->status != SENTI_OK) tc_fail(&c, "graph construction failed");
    cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
    const cpu_simd simd0 = ctx->simd;
    const cpu_matmul_mode mode0 = ctx->matmul;
    ctx->matmul = CPU_MATMUL_NATIVE;
    out->data = got;
    for (int s = CPU_SIMD_SCALAR; s <= (int)g_simd_max && !c.failed; s++) {
        ctx->simd = (cpu_simd)s;
        memset(got, 0xff, (size_t)(M * N) * 4);
        if (g_cpu->iface->compute(g_cpu, c.g, c.g->n_nodes - 1, c.g->n_nodes) != SENTI_OK) {
            tc_fail(&c, "cpu simd=%s: %s", cpu_simd_name(ctx->simd), senti_last_error());
            break;
        }
        for (int64_t i = 0; i < M * N; i++)
            if (memcmp(&got[i], &want[i], 4) != 0) {
                tc_fail(&c, "cpu simd=%s: element (%lld, %lld) is %.9g, the exact int8 product %.9g",
                        cpu_simd_name(ctx->simd), (long long)(i / N), (long long)(i % N), got[i], want[i]);
                break;
            }
    }
    ctx->simd = simd0;
    ctx->matmul = mode0;
    if (constant) cpu_gemm_cache_free(ctx); /* the weight's buffer is freed with the case: forget its panels */
    out->data = NULL;
    free(want);
    free(got);
    free(qa);
    tc_end(&c);
}

START_TEST(test_matmul_int8_exact) {
    TEST_BEGIN();
    static const int64_t shapes[][3] = {{1, 1, 1},    {1, 49, 3},   {2, 17, 5},     {3, 50, 33},   {7, 97, 127},
                                        {8, 48, 256}, {9, 53, 389}, {11, 129, 771}, {67, 33, 96}, {150, 70, 1031}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int k = 0; k < 2; k++) run_int8_exact(shapes[i][0], shapes[i][1], shapes[i][2], k == 1);
    TEST_END();
}
END_TEST

/* Batch invariance of matmul, op by op: at every SIMD level, every weight
 * type, packed once (constant weight) or per call, each output row's bytes
 * are those of the same row computed alone, inside another slice of rows
 * (the few-rows split by panels as well as the many-rows split by rows) and
 * with one thread. K spans several k blocks of every GEMM. */
static void run_rows(senti_type wt, bool constant, int64_t M, int64_t N, int64_t K) {
    tc c;
    tc_begin(&c, "matmul rows %s M=%lld N=%lld K=%lld%s", senti_type_name(wt), (long long)M, (long long)N,
             (long long)K, constant ? " (prepacked)" : "");
    const int64_t as[2] = {M, K}, bs[2] = {N, K};
    senti_tensor *a = leaf(&c, F32, 2, as, -2, 2), *b = leaf(&c, wt, 2, bs, -1, 1);
    if (constant && b) b->flags |= SENTI_TFLAG_CONST;
    senti_tensor *out = a && b ? op_matmul(c.g, a, b, false, true) : NULL;
    if (!out || c.g->status != SENTI_OK) {
        tc_fail(&c, "graph construction failed");
        tc_end(&c);
        return;
    }
    float *full = malloc((size_t)(M * N) * 4), *part = malloc((size_t)(M * N) * 4);
    cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
    const cpu_simd simd0 = ctx->simd;
    const cpu_matmul_mode mode0 = ctx->matmul;
    const int nth0 = ctx->n_threads;
    ctx->matmul = CPU_MATMUL_NATIVE;
    /* (first row, rows): alone at both ends and inside, few rows, a middle slice, all on one thread */
    const int64_t subs[][2] = {{0, 1}, {M / 2, 1}, {M - 1, 1}, {1, 2}, {3, 7}, {M / 3, M / 2}, {0, M}};
    for (int s = CPU_SIMD_SCALAR; s <= (int)g_simd_max && !c.failed; s++) {
        ctx->simd = (cpu_simd)s;
        ctx->n_threads = nth0;
        out->data = full;
        if (g_cpu->iface->compute(g_cpu, c.g, c.g->n_nodes - 1, c.g->n_nodes) != SENTI_OK) {
            tc_fail(&c, "cpu simd=%s: %s", cpu_simd_name(ctx->simd), senti_last_error());
            break;
        }
        for (size_t u = 0; u < sizeof subs / sizeof subs[0] && !c.failed; u++) {
            const int64_t r0 = subs[u][0], m = subs[u][1];
            ctx->n_threads = u + 1 == sizeof subs / sizeof subs[0] ? 1 : nth0;
            senti_graph *g2 = graph_init();
            senti_tensor *a2 = graph_new_tensor_2d(g2, F32, m, K), *b2 = graph_new_tensor_2d(g2, wt, N, K);
            a2->data = (float *)a->data + r0 * K;
            b2->data = b->data;
            b2->flags = b->flags;
            senti_tensor *o2 = op_matmul(g2, a2, b2, false, true);
            o2->data = part;
            memset(part, 0xff, (size_t)(m * N) * 4);
            if (g_cpu->iface->compute(g_cpu, g2, g2->n_nodes - 1, g2->n_nodes) != SENTI_OK)
                tc_fail(&c, "cpu simd=%s: %s", cpu_simd_name(ctx->simd), senti_last_error());
            for (int64_t i = 0; i < m * N && !c.failed; i++)
                if (memcmp(&part[i], &full[r0 * N + i], 4) != 0)
                    tc_fail(&c, "cpu simd=%s: row %lld computed in rows [%lld, %lld)%s is %.9g at column %lld, %.9g with all %lld rows",
                            cpu_simd_name(ctx->simd), (long long)(r0 + i / N), (long long)r0, (long long)(r0 + m),
                            ctx->n_threads == 1 ? " on one thread" : "", part[i], (long long)(i % N), full[r0 * N + i],
                            (long long)M);
            graph_free(g2);
        }
    }
    ctx->simd = simd0;
    ctx->matmul = mode0;
    ctx->n_threads = nth0;
    if (constant) cpu_gemm_cache_free(ctx); /* the weight's buffer is freed with the case: forget its panels */
    out->data = NULL;
    free(full);
    free(part);
    tc_end(&c);
}

START_TEST(test_matmul_rows) {
    TEST_BEGIN();
    /* 101 rows: enough MR-row tiles for the split by rows at every level; K over several k blocks */
    static const struct { senti_type t; int64_t K; } cases[] = {
        {F32, 1700}, {SENTI_TYPE_F16, 900}, {SENTI_TYPE_BF16, 900}, {Q8, 800}, {Q4, 800},
        {SENTI_TYPE_Q4_K, 512}, {SENTI_TYPE_Q6_K, 512}, {I8, 803},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int k = 0; k < 2; k++) run_rows(cases[i].t, k == 1, 101, 70, cases[i].K);
    TEST_END();
}
END_TEST

/* ---- attention -------------------------------------------------------------- */

enum { L_SEPARATE, L_FUSED, L_CACHE };
static const char *layout_name[] = {"separate", "fused qkv slices", "kv-cache slices"};

typedef struct at_spec {
    int64_t B, Tq, Tk, Hq, Hkv, D, Dv;
    bool causal;
    int mask, layout;
    float range; /* of q and k */
} at_spec;

START_TEST(test_attention) {
    TEST_BEGIN();
    static const at_spec specs[] = {
        {1, 7, 7, 2, 2, 16, 16, false, M_NONE, L_SEPARATE, 1},
        {2, 5, 5, 6, 2, 20, 20, true, M_NONE, L_SEPARATE, 1},
        {2, 3, 11, 6, 3, 20, 20, true, M_NONE, L_SEPARATE, 1},
        {1, 1, 13, 4, 1, 64, 64, true, M_NONE, L_SEPARATE, 2},
        {2, 9, 9, 3, 3, 5, 5, false, M_PAD, L_SEPARATE, 1},
        {2, 6, 10, 6, 2, 24, 24, false, M_ROWS, L_SEPARATE, 2},
        {2, 4, 7, 2, 1, 16, 8, true, M_FULL, L_SEPARATE, 1},
        {2, 8, 8, 4, 4, 16, 16, true, M_NONE, L_FUSED, 1},
        {2, 7, 7, 6, 2, 20, 20, false, M_PAD, L_FUSED, 1},
        {2, 2, 9, 4, 2, 32, 32, true, M_NONE, L_CACHE, 1},
        {2, 3, 12, 6, 3, 36, 36, true, M_ROWS, L_CACHE, 1},
        {1, 5, 3, 2, 2, 8, 8, true, M_NONE, L_SEPARATE, 1}, /* Tq > Tk: early queries see nothing */
        {3, 1, 1, 2, 1, 4, 4, false, M_NONE, L_SEPARATE, 1},
        {2, 33, 33, 4, 4, 64, 64, true, M_NONE, L_SEPARATE, 1},
        {1, 64, 64, 2, 2, 64, 64, false, M_PAD, L_FUSED, 1},
        {1, 3, 5, 2, 2, 1, 3, false, M_NONE, L_SEPARATE, 1},
        {2, 6, 6, 3, 1, 12, 12, false, M_FULL, L_SEPARATE, 6}, /* peaky softmax */
        {2, 5, 5, 2, 2, 8, 8, false, M_2D, L_SEPARATE, 1},
        {0, 3, 3, 2, 2, 8, 8, true, M_NONE, L_SEPARATE, 1},
        {1, 0, 3, 2, 2, 8, 8, true, M_NONE, L_SEPARATE, 1},
        {1, 3, 0, 2, 2, 8, 8, false, M_NONE, L_SEPARATE, 1}, /* no keys: zeros */
        {1, 70, 200, 2, 1, 64, 64, true, M_ROWS, L_SEPARATE, 1}, /* past the 64 x 128 blocks */
        {2, 130, 130, 2, 2, 32, 32, true, M_PAD, L_FUSED, 1},
        {1, 1, 300, 4, 2, 64, 64, false, M_PAD, L_SEPARATE, 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const at_spec *p = &specs[i];
        tc c;
        tc_begin(&c, "attention B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld Dv=%lld%s mask=%s layout=%s",
                 (long long)p->B, (long long)p->Tq, (long long)p->Tk, (long long)p->Hq, (long long)p->Hkv,
                 (long long)p->D, (long long)p->Dv, p->causal ? " causal" : "", mask_name[p->mask],
                 layout_name[p->layout]);
        senti_tensor *q, *k, *v;
        senti_graph *g = c.g;
        if (p->layout == L_FUSED) { /* [B, T, Hq + 2 Hkv, D] */
            senti_tensor *qkv =
                leaf(&c, F32, 4, (int64_t[]){p->B, p->Tq, p->Hq + 2 * p->Hkv, p->D}, -p->range, p->range);
            q = op_slice(g, qkv, 2, 0, p->Hq);
            k = op_slice(g, qkv, 2, p->Hq, p->Hq + p->Hkv);
            v = op_slice(g, qkv, 2, p->Hq + p->Hkv, p->Hq + 2 * p->Hkv);
        } else {
            q = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tq, p->Hq, p->D}, -p->range, p->range);
            if (p->layout == L_CACHE) { /* the first Tk of a 16-long cache */
                senti_tensor *kc = leaf(&c, F32, 4, (int64_t[]){p->B, 16, p->Hkv, p->D}, -p->range, p->range);
                senti_tensor *vc = leaf(&c, F32, 4, (int64_t[]){p->B, 16, p->Hkv, p->Dv}, -1, 1);
                if (kc) poison_outside(kc, 1, 0, p->Tk);
                if (vc) poison_outside(vc, 1, 0, p->Tk);
                k = op_slice(g, kc, 1, 0, p->Tk);
                v = op_slice(g, vc, 1, 0, p->Tk);
            } else {
                k = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tk, p->Hkv, p->D}, -p->range, p->range);
                v = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tk, p->Hkv, p->Dv}, -1, 1);
            }
        }
        senti_tensor *m = p->mask ? make_mask(&c, p->mask, p->B, p->Hq, p->Tq, p->Tk) : NULL;
        const float scale = 1.0f / sqrtf((float)(p->D ? p->D : 1));
        tc_run(&c, op_attention(g, q, k, v, m, scale, p->causal), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* The reference checked against itself: attention equals the unfused
 * composition permute -> matmul(q, k^T) -> softmax(scale, mask + causal) ->
 * matmul(., v) -> permute, all on the reference backend (and on the CPU). */
START_TEST(test_attention_unfused) {
    TEST_BEGIN();
    static const at_spec specs[] = {
        {2, 5, 5, 6, 2, 20, 12, true, M_NONE, L_SEPARATE, 1},  {2, 3, 11, 6, 3, 16, 16, true, M_PAD, L_SEPARATE, 1},
        {1, 6, 10, 4, 4, 8, 8, false, M_ROWS, L_SEPARATE, 2}, {1, 5, 3, 2, 1, 8, 8, true, M_FULL, L_SEPARATE, 1},
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const at_spec *p = &specs[i];
        tc c;
        tc_begin(&c,
                 "attention = unfused composition, B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld Dv=%lld%s mask=%s",
                 (long long)p->B, (long long)p->Tq, (long long)p->Tk, (long long)p->Hq, (long long)p->Hkv,
                 (long long)p->D, (long long)p->Dv, p->causal ? " causal" : "", mask_name[p->mask]);
        senti_graph *g = c.g;
        senti_tensor *q = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tq, p->Hq, p->D}, -p->range, p->range);
        senti_tensor *k = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tk, p->Hkv, p->D}, -p->range, p->range);
        senti_tensor *v = leaf(&c, F32, 4, (int64_t[]){p->B, p->Tk, p->Hkv, p->Dv}, -1, 1);
        senti_tensor *m = make_mask(&c, p->mask ? p->mask : M_FULL, p->B, p->Hq, p->Tq, p->Tk);
        if (m && !p->mask) /* no mask: zeros */
            memset(m->data, 0, dense_bytes(m));
        const float scale = 1.0f / sqrtf((float)p->D);
        senti_tensor *fused = op_attention(g, q, k, v, p->mask ? m : NULL, scale, p->causal);
        /* mask + causal as one [B or 1, Hq or 1, Tq, Tk] tensor for the softmax */
        senti_tensor *mc = m;
        if (p->causal) {
            senti_tensor *cm = leaf(&c, F32, 2, (int64_t[]){p->Tq, p->Tk}, 0, 0);
            for (int64_t r = 0; cm && r < p->Tq; r++)
                for (int64_t j = 0; j < p->Tk; j++)
                    ((float *)cm->data)[r * p->Tk + j] = j > p->Tk - p->Tq + r ? -INFINITY : 0.0f;
            mc = op_add(g, m, cm);
        }
        const int to_heads[4] = {0, 2, 1, 3};
        senti_tensor *qh = op_permute(g, q, to_heads), *kh = op_permute(g, k, to_heads),
                     *vh = op_permute(g, v, to_heads);
        senti_tensor *pr = op_softmax(g, op_matmul(g, qh, kh, false, true), mc, scale);
        senti_tensor *o = op_cpy(g, op_permute(g, op_matmul(g, pr, vh, false, false), to_heads), F32);
        tc_run_opts(&c, o, (run_opts){TOL_F32, false, NULL, fused}, false);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

START_TEST(test_attention_random) {
    TEST_BEGIN();
    rng_t r = {g_seed ^ 0x617474ull};
    for (int n = 0; n < 20; n++) {
        const int64_t B = rng_int(&r, 1, 3), Tk = rng_int(&r, 1, 40),
                      Tq = rng_unif(&r) < 0.3 ? 1 : rng_int(&r, 1, Tk + 1);
        const int64_t Hkv = rng_int(&r, 1, 4), Hq = Hkv * rng_int(&r, 1, 4), D = rng_int(&r, 1, 70);
        const int64_t Dv = rng_unif(&r) < 0.7 ? D : rng_int(&r, 1, 70);
        const bool causal = rng_unif(&r) < 0.5;
        const int mask = (int)rng_int(&r, 0, 5);
        tc c;
        tc_begin(&c, "attention random #%d B=%lld Tq=%lld Tk=%lld Hq=%lld Hkv=%lld D=%lld Dv=%lld%s mask=%s", n,
                 (long long)B, (long long)Tq, (long long)Tk, (long long)Hq, (long long)Hkv, (long long)D,
                 (long long)Dv, causal ? " causal" : "", mask_name[mask]);
        senti_tensor *q =
            src_view(&c, F32, 4, (int64_t[]){B, Tq, Hq, D}, rng_unif(&r) < 0.5 ? V_SLICE_OUT : V_NONE, -2, 2);
        senti_tensor *k =
            src_view(&c, F32, 4, (int64_t[]){B, Tk, Hkv, D}, rng_unif(&r) < 0.5 ? V_SLICE_IN : V_NONE, -2, 2);
        senti_tensor *v =
            src_view(&c, F32, 4, (int64_t[]){B, Tk, Hkv, Dv}, rng_unif(&r) < 0.5 ? V_SLICE_IN : V_NONE, -1, 1);
        senti_tensor *m = mask ? make_mask(&c, mask, B, Hq, Tq, Tk) : NULL;
        tc_run(&c, op_attention(c.g, q, k, v, m, 1.0f / sqrtf((float)D), causal), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- rope ------------------------------------------------------------------- */

START_TEST(test_rope) {
    TEST_BEGIN();
    static const struct {
        int64_t B, T, H, D;
        int n_rot;
        bool inter, pos2d, ff;
        float theta, fscale;
        int view, pos_max;
    } cases[] = {
        {1, 5, 2, 8, 8, true, false, false, 10000, 1, V_NONE, 50},
        {1, 5, 2, 8, 8, false, false, false, 10000, 1, V_NONE, 50},
        {2, 7, 3, 64, 64, false, true, false, 10000, 1, V_NONE, 50},
        {2, 7, 3, 64, 32, true, true, true, 10000, 1, V_NONE, 50},
        {2, 3, 2, 10, 6, false, false, true, 1e6f, 0.25f, V_NONE, 50},
        {2, 4, 3, 7, 4, true, true, false, 10000, 1, V_NONE, 50},
        {2, 6, 4, 32, 32, false, true, false, 10000, 1, V_SLICE_OUT, 50}, /* q slice of a fused qkv: see below */
        {1, 9, 2, 16, 16, false, false, false, 10000, 1, V_PERM, 50},
        {1, 4, 2, 16, 12, true, false, false, 10000, 1, V_TRANS, 50},
        {1, 3, 2, 128, 128, false, false, false, 500000, 1, V_NONE, 50},
        {2, 1, 4, 128, 128, false, true, true, 10000, 1, V_NONE, 4096},
        {0, 3, 2, 8, 8, false, false, false, 10000, 1, V_NONE, 50},
        {2, 0, 2, 8, 8, false, true, false, 10000, 1, V_NONE, 50},
        {2, 64, 8, 128, 128, false, true, false, 10000, 1, V_NONE, 50},  /* threaded */
        {2, 64, 8, 64, 64, true, false, true, 10000, 1, V_SLICE_OUT, 50},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int64_t shape[4] = {cases[i].B, cases[i].T, cases[i].H, cases[i].D};
        char s[64];
        tc c;
        tc_begin(&c, "rope x=%s%s n_rot=%d %s pos=%s%s theta=%g freq_scale=%g pos<%d", shape_s(4, shape, s),
                 cases[i].view == V_SLICE_OUT ? " view=fused qkv slice" : view_name[cases[i].view], cases[i].n_rot,
                 cases[i].inter ? "interleaved" : "half-split", cases[i].pos2d ? "[B,T]" : "[T]",
                 cases[i].ff ? " freq_factors" : "", cases[i].theta, cases[i].fscale, cases[i].pos_max);
        senti_tensor *x;
        if (cases[i].view == V_SLICE_OUT) { /* the k part of [B, T, 3H, D] */
            senti_tensor *qkv = leaf(&c, F32, 4, (int64_t[]){shape[0], shape[1], 3 * shape[2], shape[3]}, -1, 1);
            x = op_slice(c.g, qkv, 2, shape[2], 2 * shape[2]);
        } else {
            x = src_view(&c, F32, 4, shape, cases[i].view, -1, 1);
        }
        senti_tensor *pos = cases[i].pos2d ? leaf(&c, I32, 2, shape, 0, cases[i].pos_max)
                                           : leaf(&c, I32, 1, shape + 1, 0, cases[i].pos_max);
        const int64_t nff = cases[i].n_rot / 2;
        senti_tensor *ff = cases[i].ff ? leaf(&c, F32, 1, &nff, 1, 8) : NULL;
        /* f32 angles pos * inv_freq carry an absolute rounding error of about
         * pos * 2^-24 rad, which is what the larger bound for far positions allows */
        tol tl = cases[i].pos_max > 100 ? (tol){1e-3, 1e-6} : TOL_F32;
        tc_run(&c, op_rope(c.g, x, pos, ff, cases[i].n_rot, cases[i].inter, cases[i].theta, cases[i].fscale), tl);
        tc_end(&c);
    }
    { /* positions that repeat (B x T >= 2 (max + 1)) take their angles from a table: batch row 0's bytes equal
       * those of the same row alone (B = 1, every position once at most twice: angles per row) at every level */
        tc c;
        tc_begin(&c, "rope angle table: bytes of a row with and without it");
        const int64_t T = 64, H = 3, D = 32;
        senti_tensor *x = leaf(&c, F32, 4, (int64_t[]){2, T, H, D}, -1, 1);
        senti_tensor *pos = leaf(&c, I32, 1, &T, 0, 40);
        ((int32_t *)pos->data)[5] = 49; /* max 49: 2 x 64 >= 100 > 64 */
        senti_tensor *out = op_rope(c.g, x, pos, NULL, (int)D, false, 10000, 1);
        tc_run(&c, out, TOL_F32);
        cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
        const cpu_simd simd0 = ctx->simd;
        for (int lv = CPU_SIMD_SCALAR; lv <= (int)g_simd_max && !c.failed; lv++) {
            ctx->simd = (cpu_simd)lv;
            float *both = malloc((size_t)(2 * T * H * D) * 4);
            out->data = both;
            ck_assert_int_eq(g_cpu->iface->compute(g_cpu, c.g, c.g->n_nodes - 1, c.g->n_nodes), SENTI_OK);
            senti_graph *g2 = graph_init();
            senti_tensor *x2 = graph_new_tensor_4d(g2, F32, 1, T, H, D), *p2 = graph_new_tensor_1d(g2, I32, T);
            x2->data = x->data, p2->data = pos->data;
            senti_tensor *o2 = op_rope(g2, x2, p2, NULL, (int)D, false, 10000, 1);
            o2->data = malloc((size_t)(T * H * D) * 4);
            ck_assert_int_eq(g_cpu->iface->compute(g_cpu, g2, g2->n_nodes - 1, g2->n_nodes), SENTI_OK);
            if (memcmp(o2->data, both, (size_t)(T * H * D) * 4) != 0)
                tc_fail(&c, "cpu simd=%s: row 0 with the angle table differs from it alone", cpu_simd_name(ctx->simd));
            free(o2->data);
            graph_free(g2);
            free(both);
        }
        ctx->simd = simd0;
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- cpy -------------------------------------------------------------------- */

START_TEST(test_cpy) {
    TEST_BEGIN();
    static const struct {
        senti_type from, to;
        int nd;
        int64_t s[4];
        int view;
        double range;
    } cases[] = {
        {F32, F32, 3, {3, 5, 7}, V_PERM, 1},       {F32, F16, 2, {7, 13}, V_NONE, 1},
        {F32, F16, 3, {3, 5, 7}, V_PERM, 1},       {F32, F16, 2, {5, 33}, V_SLICE_IN, 1e5},
        {F32, F16, 2, {4, 40}, V_TRANS, 1e-4},     {F32, BF16, 2, {7, 13}, V_NONE, 1},
        {F32, BF16, 4, {2, 3, 4, 5}, V_PERM, 3},   {F32, BF16, 2, {6, 17}, V_SLICE_IN, 1e30},
        {F32, Q8, 2, {4, 64}, V_NONE, 1},          {F32, Q8, 3, {3, 2, 96}, V_SLICE_OUT, 2},
        {F32, Q8, 2, {5, 64}, V_TRANS, 1},         {F32, Q4, 2, {4, 64}, V_NONE, 1},
        {F32, Q4, 3, {2, 3, 32}, V_PERM, 5},       {F32, Q4, 2, {3, 128}, V_TRANS, 1},
        {F16, F32, 3, {3, 5, 7}, V_PERM, 1},       {BF16, F32, 3, {3, 5, 7}, V_PERM, 1},
        {F16, F32, 2, {4, 9}, V_SLICE_IN, 100},    {BF16, F32, 2, {4, 9}, V_TRANS, 1},
        {F16, BF16, 2, {6, 11}, V_PERM, 1},        {BF16, F16, 2, {6, 11}, V_NONE, 1},
        {F16, F16, 3, {2, 7, 3}, V_PERM, 1},       {F16, Q8, 2, {3, 64}, V_NONE, 1},
        {BF16, Q4, 2, {3, 32}, V_SLICE_OUT, 1},    {I32, I32, 3, {3, 4, 5}, V_PERM, 1000},
        {F32, Q8, 2, {0, 32}, V_NONE, 1},          {F32, F16, 2, {5, 0}, V_NONE, 1},
        {F32, F32, 1, {1}, V_NONE, 1},             {F32, F32, 4, {2, 3, 5, 67}, V_SLICE_IN, 1},
        {F32, Q8, 2, {64, 1024}, V_TRANS, 1},      {F32, Q4, 2, {64, 512}, V_NONE, 1},
        {F32, F16, 2, {128, 513}, V_PERM, 1},      {BF16, F32, 2, {128, 513}, V_SLICE_IN, 1},
        {I32, I32, 2, {128, 300}, V_TRANS, 1000},
        {F32, I8, 2, {4, 37}, V_NONE, 1},          {F32, I8, 3, {3, 2, 5}, V_SLICE_OUT, 2},
        {F32, I8, 2, {5, 64}, V_TRANS, 1},         {BF16, I8, 2, {3, 1}, V_NONE, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[64];
        tc c;
        tc_begin(&c, "cpy %s->%s %s%s range=%g", senti_type_name(cases[i].from), senti_type_name(cases[i].to),
                 shape_s(cases[i].nd, cases[i].s, s), view_name[cases[i].view], cases[i].range);
        senti_tensor *x = src_view(&c, cases[i].from, cases[i].nd, cases[i].s, cases[i].view, -cases[i].range,
                                   cases[i].range);
        tc_run(&c, op_cpy(c.g, x, cases[i].to), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- concat ----------------------------------------------------------------- */

START_TEST(test_concat) {
    TEST_BEGIN();
    static const senti_type types[] = {F32, F16, BF16, I32};
    static const int64_t base[4] = {2, 3, 4, 5};
    for (int ti = 0; ti < 4; ti++)
        for (int nd = 1; nd <= 4; nd++)
            for (int dim = 0; dim < nd; dim++)
                for (int var = 0; var < 3; var++) { /* b's size along dim: 3, 1, 0; views on var 1 */
                    int64_t sa[4], sb[4];
                    memcpy(sa, base + 4 - nd, (size_t)nd * sizeof *sa);
                    memcpy(sb, sa, sizeof sb);
                    sb[dim] = var == 0 ? 3 : var == 1 ? 1 : 0;
                    const int va = var == 1 ? V_PERM : V_NONE, vb = var == 1 ? V_SLICE_IN : V_NONE;
                    char s1[64], s2[64];
                    tc c;
                    tc_begin(&c, "concat %s dim=%d a=%s%s b=%s%s", senti_type_name(types[ti]), dim, shape_s(nd, sa, s1),
                             view_name[va], shape_s(nd, sb, s2), view_name[vb]);
                    senti_tensor *a = src_view(&c, types[ti], nd, sa, va, -100, 100);
                    senti_tensor *b = src_view(&c, types[ti], nd, sb, vb, -100, 100);
                    tc_run(&c, op_concat(c.g, a, b, dim), TOL_F32);
                    tc_end(&c);
                }
    for (int dim = 0; dim < 2; dim++) { /* threaded */
        tc c;
        tc_begin(&c, "concat f32 dim=%d a=[64,512] b=[64,512] view=perm (threaded)", dim);
        senti_tensor *a = src_view(&c, F32, 2, (int64_t[]){64, 512}, V_PERM, -1, 1);
        senti_tensor *b = leaf_f32(&c, 2, (int64_t[]){64, 512});
        tc_run(&c, op_concat(c.g, a, b, dim), TOL_F32);
        tc_end(&c);
    }
    {   /* empty a */
        tc c;
        tc_begin(&c, "concat f32 dim=0 a=[0,5] b=[3,5]");
        senti_tensor *a = leaf_f32(&c, 2, (int64_t[]){0, 5}), *b = leaf_f32(&c, 2, (int64_t[]){3, 5});
        tc_run(&c, op_concat(c.g, a, b, 0), TOL_F32);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- set_rows (the KV-cache write) ------------------------------------------------
 * The harness gives the node its own buffer, so the kernels take their
 * out-of-place path (copy dst, then store rows); the in-place path (the
 * executor's) is covered in test_graph.c and test_decoders.c. */

/* idx leaf of n distinct rows of [0, R) (a random permutation's prefix), or, when
 * bad >= 0, with entry bad set to R (out of range). */
static senti_tensor *rows_idx(tc *c, int64_t n, int64_t R, int64_t bad) {
    senti_tensor *t = leaf(c, I32, 1, (int64_t[]){n}, 0, 1);
    if (!t) return NULL;
    int32_t *perm = malloc((size_t)(R + 1) * sizeof *perm), *d = t->data;
    for (int64_t i = 0; i < R; i++) perm[i] = (int32_t)i;
    for (int64_t i = R - 1; i > 0; i--) {
        int64_t j = rng_int(&c->rng, 0, i + 1);
        int32_t x = perm[i];
        perm[i] = perm[j], perm[j] = x;
    }
    for (int64_t i = 0; i < n; i++) d[i] = i == bad ? (int32_t)R : perm[i];
    free(perm);
    return t;
}

START_TEST(test_set_rows) {
    TEST_BEGIN();
    static const int64_t rnd[][3] = {{1, 1, 1}, {8, 3, 16}, {37, 37, 5}, {64, 13, 128}, {9, 0, 7}, {512, 200, 96}};
    for (size_t k = 0; k < sizeof rnd / sizeof rnd[0]; k++)
        for (int view = 0; view < 2; view++) { /* src as a leaf / a row-strided slice (a fused-QKV part) */
            const int64_t R = rnd[k][0], N = rnd[k][1], D = rnd[k][2];
            tc c;
            tc_begin(&c, "set_rows f32 dst=[%lld,%lld] src=[%lld,%lld]%s", (long long)R, (long long)D, (long long)N,
                     (long long)D, view ? view_name[V_SLICE_IN] : "");
            senti_tensor *dst = leaf_f32(&c, 2, (int64_t[]){R, D});
            senti_tensor *src = src_view(&c, F32, 2, (int64_t[]){N, D}, view ? V_SLICE_IN : V_NONE, -1, 1);
            senti_tensor *idx = rows_idx(&c, N, R, -1);
            tc_run(&c, op_set_rows(c.g, dst, src, idx), TOL_F32);
            tc_end(&c);
        }
    {   /* an index out of range: an error naming the node, nothing written past the buffer */
        tc c;
        tc_begin(&c, "set_rows f32 dst=[6,8] src=[3,8] index out of range");
        senti_tensor *dst = leaf_f32(&c, 2, (int64_t[]){6, 8}), *src = leaf_f32(&c, 2, (int64_t[]){3, 8});
        tc_run_opts(&c, op_set_rows(c.g, dst, src, rows_idx(&c, 3, 6, 2)), (run_opts){TOL_F32, false, NULL, NULL},
                    true);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- gather (DeBERTa's relative-position columns) --------------------------------- */

/* idx leaf of shape nd/s with entries in [0, N), or entry `bad` set to N. */
static senti_tensor *gather_idx(tc *c, int nd, const int64_t *s, int64_t N, int64_t bad) {
    senti_tensor *t = leaf(c, I32, nd, s, 0, (double)N);
    if (t && bad >= 0) ((int32_t *)t->data)[bad] = (int32_t)N;
    return t;
}

START_TEST(test_gather) {
    TEST_BEGIN();
    static const struct {
        int nx;
        int64_t x[4];
        int ni;
        int64_t i[4];
        const char *what;
    } cases[] = {
        {2, {5, 9}, 2, {5, 4}, "rows"},
        {4, {2, 3, 7, 16}, 4, {1, 1, 7, 7}, "relative positions (idx broadcast over B, H)"},
        {4, {2, 3, 7, 16}, 2, {7, 7}, "lower-rank idx"},
        {4, {3, 2, 5, 31}, 4, {3, 1, 5, 11}, "partial broadcast"},
        {3, {4, 6, 1}, 3, {4, 6, 3}, "one column"},
        {2, {3, 8}, 2, {3, 0}, "empty"},
        {4, {2, 12, 128, 256}, 4, {1, 1, 128, 128}, "large (threaded)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int view = 0; view < 2; view++) { /* x as a leaf / a slice with strided rows */
            tc c;
            char sx[64], si[64];
            tc_begin(&c, "gather x=%s idx=%s %s%s", shape_s(cases[k].nx, cases[k].x, sx),
                     shape_s(cases[k].ni, cases[k].i, si), cases[k].what, view ? view_name[V_SLICE_IN] : "");
            senti_tensor *x = src_view(&c, F32, cases[k].nx, cases[k].x, view ? V_SLICE_IN : V_NONE, -1, 1);
            senti_tensor *idx = gather_idx(&c, cases[k].ni, cases[k].i, cases[k].x[cases[k].nx - 1], -1);
            tc_run(&c, op_gather(c.g, x, idx), TOL_F32);
            tc_end(&c);
        }
    {   /* an index out of range: an error naming the node, dst untouched */
        tc c;
        tc_begin(&c, "gather index out of range");
        senti_tensor *x = leaf_f32(&c, 2, (int64_t[]){4, 6});
        tc_run_opts(&c, op_gather(c.g, x, gather_idx(&c, 2, (int64_t[]){4, 3}, 6, 7)),
                    (run_opts){TOL_F32, false, NULL, NULL}, true);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- views: reshape / permute / slice, checked through cpy ---------------------
 * The test keeps its own description of each view (shape, strides in
 * elements, offset) and gathers the expected values with it, independently
 * of core's byte strides. */

typedef struct vdesc {
    int nd;
    int64_t sh[4], st[4], off;
} vdesc;

/* Dense layout; like senti_is_contiguous, the innermost stride must be 1
 * even when that dim has size 1. */
static bool vd_contiguous(const vdesc *v) {
    if (v->st[v->nd - 1] != 1) return false;
    int64_t want = 1;
    for (int i = v->nd - 1; i >= 0; i--) {
        if (v->sh[i] != 1 && v->st[i] != want) return false;
        want *= v->sh[i];
    }
    return true;
}
static int64_t vd_numel(const vdesc *v) {
    int64_t n = 1;
    for (int i = 0; i < v->nd; i++) n *= v->sh[i];
    return n;
}
static void vd_dense(vdesc *v) {
    int64_t s = 1;
    for (int i = v->nd - 1; i >= 0; i--) v->st[i] = s, s *= v->sh[i];
}

/* out[flat] = src[off + sum idx_i st_i], elements of esize bytes */
static void vd_gather(const vdesc *v, const void *src, size_t esize, void *out) {
    int64_t idx[4] = {0}, n = vd_numel(v);
    for (int64_t k = 0; k < n; k++) {
        int64_t rem = k, e = v->off;
        for (int i = v->nd - 1; i >= 0; i--) {
            idx[i] = rem % v->sh[i];
            rem /= v->sh[i];
            e += idx[i] * v->st[i];
        }
        memcpy((char *)out + k * (int64_t)esize, (const char *)src + e * (int64_t)esize, esize);
    }
}

static void random_shape(rng_t *r, int64_t n, int *nd, int64_t *sh) {
    *nd = (int)rng_int(r, 1, 5);
    for (int i = 0; i < *nd - 1; i++) {
        int64_t divs[64], nd_ = 0;
        for (int64_t d = 1; d <= n && nd_ < 64; d++)
            if (n % d == 0) divs[nd_++] = d;
        sh[i] = divs[rng_int(r, 0, nd_)];
        n /= sh[i];
    }
    sh[*nd - 1] = n;
}

static void run_view_chain(int chain, senti_type type, int n_ops) {
    tc c;
    tc_begin(&c, "views chain %d %s (%d ops)", chain, senti_type_name(type), n_ops);
    const int64_t shape[4] = {2, 3, 4, 5};
    senti_tensor *x = leaf(&c, type, 4, shape, -1000, 1000);
    vdesc v = {4, {2, 3, 4, 5}, {0}, 0};
    vd_dense(&v);
    senti_tensor *t = x;
    char desc[200] = "";
    size_t dl = 0;
    for (int s = 0; s < n_ops && t; s++) {
        int kind = (int)rng_int(&c.rng, 0, 3);
        if (kind == 0 && !(vd_contiguous(&v) && vd_numel(&v) > 0)) kind = 1;
        if (kind == 0) { /* reshape */
            int nd;
            int64_t sh[4];
            random_shape(&c.rng, vd_numel(&v), &nd, sh);
            t = op_reshape(c.g, t, nd, sh);
            v.nd = nd;
            memcpy(v.sh, sh, sizeof sh);
            vd_dense(&v);
            dl += (size_t)snprintf(desc + dl, sizeof desc - dl, " reshape%s", shape_s(nd, sh, (char[64]){0}));
        } else if (kind == 1) { /* permute */
            int axes[4] = {0, 1, 2, 3};
            for (int i = v.nd - 1; i > 0; i--) {
                int j = (int)rng_int(&c.rng, 0, i + 1), tmp = axes[i];
                axes[i] = axes[j], axes[j] = tmp;
            }
            t = op_permute(c.g, t, axes);
            vdesc w = v;
            for (int i = 0; i < v.nd; i++) w.sh[i] = v.sh[axes[i]], w.st[i] = v.st[axes[i]];
            v = w;
            dl += (size_t)snprintf(desc + dl, sizeof desc - dl, " permute(%d%d%d%d)", axes[0], axes[1], axes[2],
                                   axes[3]);
        } else { /* slice */
            const int dim = (int)rng_int(&c.rng, 0, v.nd);
            const int64_t start = rng_int(&c.rng, 0, v.sh[dim] + 1);
            const int64_t end = rng_int(&c.rng, start, v.sh[dim] + 1);
            t = op_slice(c.g, t, dim, start, end);
            v.off += start * v.st[dim];
            v.sh[dim] = end - start;
            dl += (size_t)snprintf(desc + dl, sizeof desc - dl, " slice(%d,%lld,%lld)", dim, (long long)start,
                                   (long long)end);
        }
    }
    snprintf(c.name + strlen(c.name), sizeof c.name - strlen(c.name), ":%s", desc);
    senti_tensor *y = t ? op_cpy(c.g, t, type) : NULL;
    void *expect = NULL;
    if (y) {
        expect = malloc((size_t)vd_numel(&v) * senti_type_size(type) + 1);
        vd_gather(&v, x->data, senti_type_size(type), expect);
    }
    tc_run_opts(&c, y, (run_opts){TOL_F32, false, expect, NULL}, false);
    free(expect);
    tc_end(&c);
}

START_TEST(test_views) {
    TEST_BEGIN();
    /* every permutation of 4 dims alone, then every single slice, then chains */
    int chain = 0;
    int perm[4] = {0, 1, 2, 3};
    for (int p = 0; p < 24; p++) {
        tc c;
        tc_begin(&c, "permute(%d,%d,%d,%d) of [2,3,4,5] f32", perm[0], perm[1], perm[2], perm[3]);
        senti_tensor *x = leaf_f32(&c, 4, (int64_t[]){2, 3, 4, 5});
        vdesc v = {4, {2, 3, 4, 5}, {0}, 0};
        vd_dense(&v);
        vdesc w = v;
        for (int i = 0; i < 4; i++) w.sh[i] = v.sh[perm[i]], w.st[i] = v.st[perm[i]];
        float expect[120];
        if (x) vd_gather(&w, x->data, 4, expect);
        tc_run_opts(&c, op_cpy(c.g, op_permute(c.g, x, perm), F32), (run_opts){TOL_F32, false, expect, NULL}, false);
        tc_end(&c);
        /* next permutation in lexicographic order */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1]) i--;
        if (i < 0) break;
        int j = 3;
        while (perm[j] < perm[i]) j--;
        int tmp = perm[i];
        perm[i] = perm[j], perm[j] = tmp;
        for (int a = i + 1, b = 3; a < b; a++, b--) tmp = perm[a], perm[a] = perm[b], perm[b] = tmp;
    }
    for (int dim = 0; dim < 4; dim++) {
        const int64_t full = (int64_t[]){2, 3, 4, 5}[dim];
        const int64_t se[][2] = {{0, full}, {1, full}, {0, full - 1}, {1, 1}, {full - 1, full}};
        for (int k = 0; k < 5; k++) {
            tc c;
            tc_begin(&c, "slice dim=%d [%lld,%lld) of [2,3,4,5] f32", dim, (long long)se[k][0], (long long)se[k][1]);
            senti_tensor *x = leaf_f32(&c, 4, (int64_t[]){2, 3, 4, 5});
            vdesc v = {4, {2, 3, 4, 5}, {0}, 0};
            vd_dense(&v);
            v.off = se[k][0] * v.st[dim];
            v.sh[dim] = se[k][1] - se[k][0];
            float expect[120];
            if (x) vd_gather(&v, x->data, 4, expect);
            tc_run_opts(&c, op_cpy(c.g, op_slice(c.g, x, dim, se[k][0], se[k][1]), F32),
                        (run_opts){TOL_F32, false, expect, NULL}, false);
            tc_end(&c);
        }
    }
    for (int k = 0; k < 40; k++) run_view_chain(chain++, F32, 1 + k % 4);
    for (int k = 0; k < 8; k++) run_view_chain(chain++, k % 2 ? I32 : F16, 1 + k % 4);
    TEST_END();
}
END_TEST

/* ---- constructor errors ------------------------------------------------------ */

static senti_tensor *T(senti_graph *g, senti_type t, int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t s[4] = {a, b, c, d};
    return graph_new_tensor(g, t, nd, s);
}
/* leafs of the current error case's graph g */
#define T1(t, a) T(g, t, 1, a, 0, 0, 0)
#define T2(t, a, b) T(g, t, 2, a, b, 0, 0)
#define T3(t, a, b, c) T(g, t, 3, a, b, c, 0)
#define T4(t, a, b, c, d) T(g, t, 4, a, b, c, d)

static int err_fails;
static void expect_null(senti_graph *g, senti_tensor *r, const char *what) {
    if (r != NULL) {
        printf("FAIL constructor error case '%s': got a tensor instead of NULL\n", what);
        err_fails++;
    } else if (!senti_last_error()[0] || g->status == SENTI_OK) {
        printf("FAIL constructor error case '%s': NULL without a message (last_error \"%s\", graph status %d)\n",
               what, senti_last_error(), (int)g->status);
        err_fails++;
    } else if (g_verbose) {
        printf("ok   error '%s': %s\n", what, senti_last_error());
    }
}
/* Each case on a fresh graph g (a local of the test, visible there). */
#define ERR(what, expr)                                                                                          \
    do {                                                                                                         \
        graph_free(g);                                                                                           \
        g = graph_init();                                                                                        \
        senti_clear_error();                                                                                     \
        expect_null(g, (expr), what);                                                                            \
    } while (0)

START_TEST(test_constructor_errors) {
    err_fails = 0;
    senti_graph *g = NULL;
    ERR("matmul K mismatch", op_matmul(g, T2(F32, 3, 4), T2(F32, 5, 6), false, false));
    ERR("matmul K mismatch trans_b", op_matmul(g, T2(F32, 3, 4), T2(F32, 6, 5), false, true));
    ERR("matmul quantized b without trans_b", op_matmul(g, T2(F32, 3, 32), T2(Q8, 32, 32), false, false));
    ERR("matmul q4_0 b without trans_b", op_matmul(g, T2(F32, 3, 32), T2(Q4, 32, 64), false, false));
    ERR("matmul batch not dividing", op_matmul(g, T4(F32, 2, 3, 4, 5), T4(F32, 2, 2, 5, 6), false, false));
    ERR("matmul b batch larger", op_matmul(g, T4(F32, 1, 2, 4, 5), T4(F32, 2, 2, 5, 6), false, false));
    ERR("matmul a i32", op_matmul(g, T2(I32, 3, 4), T2(F32, 4, 6), false, false));
    ERR("matmul b i32", op_matmul(g, T2(F32, 3, 4), T2(I32, 4, 6), false, false));
    ERR("matmul 1-D", op_matmul(g, T1(F32, 4), T2(F32, 4, 6), false, false));
    ERR("matmul f16 b with strided rows",
        op_matmul(g, T2(F32, 3, 4), op_permute(g, T2(F16, 6, 4), (int[]){1, 0}), false, false));
    ERR("quantized innermost not a multiple of 32", T2(Q8, 3, 48));
    ERR("permute repeated axis", op_permute(g, T2(F32, 3, 4), (int[]){0, 0}));
    ERR("permute axis out of range", op_permute(g, T2(F32, 3, 4), (int[]){0, 2}));
    ERR("permute negative axis", op_permute(g, T3(F32, 2, 3, 4), (int[]){0, -1, 1}));
    ERR("permute quantized innermost", op_permute(g, T2(Q8, 3, 32), (int[]){1, 0}));
    ERR("slice end past size", op_slice(g, T2(F32, 3, 4), 1, 0, 5));
    ERR("slice start after end", op_slice(g, T2(F32, 3, 4), 0, 2, 1));
    ERR("slice negative start", op_slice(g, T2(F32, 3, 4), 0, -1, 1));
    ERR("slice dim out of range", op_slice(g, T2(F32, 3, 4), 2, 0, 1));
    ERR("slice quantized innermost", op_slice(g, T2(Q8, 3, 64), 1, 0, 32));
    ERR("reshape numel mismatch", op_reshape_2d(g, T2(F32, 3, 4), 5, 2));
    ERR("reshape non-contiguous", op_reshape_2d(g, op_permute(g, T2(F32, 3, 4), (int[]){1, 0}), 2, 6));
    ERR("reshape rank 5", op_reshape(g, T1(F32, 4), 5, (int64_t[]){1, 1, 1, 2, 2}));
    ERR("concat other dim differs", op_concat(g, T2(F32, 3, 4), T2(F32, 3, 5), 0));
    ERR("concat type differs", op_concat(g, T2(F32, 3, 4), T2(F16, 3, 4), 0));
    ERR("concat rank differs", op_concat(g, T2(F32, 3, 4), T1(F32, 4), 0));
    ERR("concat dim out of range", op_concat(g, T2(F32, 3, 4), T2(F32, 3, 4), 2));
    ERR("concat quantized", op_concat(g, T2(Q8, 3, 32), T2(Q8, 3, 32), 0));
    ERR("add not broadcastable", op_add(g, T2(F32, 3, 4), T2(F32, 2, 4)));
    ERR("mul not broadcastable", op_mul(g, T2(F32, 3, 4), T1(F32, 3)));
    ERR("add f16", op_add(g, T2(F16, 3, 4), T2(F32, 3, 4)));
    ERR("gelu i32", op_gelu(g, T1(I32, 4)));
    ERR("attention Hq not a multiple of Hkv",
        op_attention(g, T4(F32, 1, 3, 6, 8), T4(F32, 1, 3, 4, 8), T4(F32, 1, 3, 4, 8), NULL, 1.0f, false));
    ERR("attention D mismatch",
        op_attention(g, T4(F32, 1, 3, 2, 8), T4(F32, 1, 3, 2, 6), T4(F32, 1, 3, 2, 8), NULL, 1.0f, false));
    ERR("attention k/v T mismatch",
        op_attention(g, T4(F32, 1, 3, 2, 8), T4(F32, 1, 4, 2, 8), T4(F32, 1, 5, 2, 8), NULL, 1.0f, false));
    ERR("attention B mismatch",
        op_attention(g, T4(F32, 2, 3, 2, 8), T4(F32, 1, 3, 2, 8), T4(F32, 1, 3, 2, 8), NULL, 1.0f, false));
    ERR("attention 3-D q", op_attention(g, T3(F32, 3, 2, 8), T3(F32, 3, 2, 8), T3(F32, 3, 2, 8), NULL, 1.0f, false));
    ERR("attention mask not broadcastable",
        op_attention(g, T4(F32, 1, 3, 2, 8), T4(F32, 1, 5, 2, 8), T4(F32, 1, 5, 2, 8), T4(F32, 1, 1, 3, 4), 1.0f,
                     false));
    ERR("attention strided q rows",
        op_attention(g, op_permute(g, T4(F32, 1, 3, 8, 2), (int[]){0, 1, 3, 2}), T4(F32, 1, 3, 2, 8),
                     T4(F32, 1, 3, 2, 8), NULL, 1.0f, false));
    ERR("rope odd n_rot", op_rope(g, T4(F32, 1, 3, 2, 8), T1(I32, 3), NULL, 5, false, 10000, 1));
    ERR("rope n_rot > D", op_rope(g, T4(F32, 1, 3, 2, 8), T1(I32, 3), NULL, 10, false, 10000, 1));
    ERR("rope n_rot 0", op_rope(g, T4(F32, 1, 3, 2, 8), T1(I32, 3), NULL, 0, false, 10000, 1));
    ERR("rope pos wrong length", op_rope(g, T4(F32, 1, 3, 2, 8), T1(I32, 4), NULL, 8, false, 10000, 1));
    ERR("rope pos f32", op_rope(g, T4(F32, 1, 3, 2, 8), T1(F32, 3), NULL, 8, false, 10000, 1));
    ERR("rope freq_factors wrong size", op_rope(g, T4(F32, 1, 3, 2, 8), T1(I32, 3), T1(F32, 3), 8, false, 10000, 1));
    ERR("rope 3-D x", op_rope(g, T3(F32, 3, 2, 8), T1(I32, 3), NULL, 8, false, 10000, 1));
    ERR("layer_norm weight size", op_layer_norm(g, T2(F32, 3, 8), T1(F32, 7), NULL, 1e-5f));
    ERR("layer_norm bias type", op_layer_norm(g, T2(F32, 3, 8), NULL, T1(F16, 8), 1e-5f));
    ERR("rms_norm weight size", op_rms_norm(g, T2(F32, 3, 8), T1(F32, 9), 1e-5f));
    ERR("softmax mask not broadcastable", op_softmax(g, T2(F32, 3, 8), T2(F32, 2, 8), 1.0f));
    ERR("get_rows ids f32", op_get_rows(g, T2(F32, 5, 8), T1(F32, 3)));
    ERR("get_rows ids rank 4", op_get_rows(g, T2(F32, 5, 8), T4(I32, 1, 2, 3, 4)));
    ERR("get_rows table 3-D", op_get_rows(g, T3(F32, 2, 5, 8), T1(I32, 3)));
    ERR("cpy f32 to q8_0 innermost 33", op_cpy(g, T2(F32, 3, 33), Q8));
    ERR("cpy f32 to i32", op_cpy(g, T2(F32, 3, 4), I32));
    ERR("cpy i32 to f32", op_cpy(g, T2(I32, 3, 4), F32));
    ERR("gather idx f32", op_gather(g, T2(F32, 3, 8), T2(F32, 3, 2)));
    ERR("gather x f16", op_gather(g, T2(F16, 3, 8), T2(I32, 3, 2)));
    ERR("gather idx rank", op_gather(g, T1(F32, 8), T2(I32, 3, 2)));
    ERR("gather no broadcast", op_gather(g, T3(F32, 2, 3, 8), T3(I32, 3, 3, 2)));
    ERR("set_rows D mismatch", op_set_rows(g, T2(F32, 6, 8), T2(F32, 2, 7), T1(I32, 2)));
    ERR("set_rows idx length", op_set_rows(g, T2(F32, 6, 8), T2(F32, 2, 8), T1(I32, 3)));
    ERR("set_rows idx f32", op_set_rows(g, T2(F32, 6, 8), T2(F32, 2, 8), T1(F32, 2)));
    ERR("set_rows dst f16", op_set_rows(g, T2(F16, 6, 8), T2(F32, 2, 8), T1(I32, 2)));
    ERR("set_rows dst 3-D", op_set_rows(g, T3(F32, 2, 3, 8), T2(F32, 2, 8), T1(I32, 2)));
    ERR("set_rows dst not contiguous",
        op_set_rows(g, op_permute(g, T2(F32, 8, 8), (int[]){1, 0}), T2(F32, 2, 8), T1(I32, 2)));
    { /* a NULL source gives NULL (a chain is checked once at its end), no crash */
        graph_free(g);
        g = graph_init();
        if (op_add(g, NULL, T1(F32, 3)) || op_matmul(g, T2(F32, 3, 4), NULL, false, false) ||
            op_attention(g, NULL, NULL, NULL, NULL, 1.0f, false) || op_cpy(g, NULL, F32)) {
            printf("FAIL constructor error case 'NULL source': got a tensor\n");
            err_fails++;
        }
        graph_free(g);
    }
    ck_assert_msg(err_fails == 0, "%d constructor error case(s) failed", err_fails);
}
END_TEST

/* ---- the executor: a small chain through the arena on both backends --------- */

static bool exec_chain(senti_backend *be, uint64_t seed, float *out, int64_t n_out) {
    rng_t r = {seed};
    senti_graph *g = graph_init();
    const int64_t T = 5, D = 33, H = 17;
    senti_tensor *x = graph_new_tensor_2d(g, F32, T, D);   /* input: placed in the arena */
    senti_tensor *w = graph_new_tensor_2d(g, F32, H, D);   /* weight: our buffer */
    senti_tensor *bias = graph_new_tensor_1d(g, F32, H);
    float *wd = malloc((size_t)(H * D + H) * sizeof *wd);
    for (int64_t i = 0; i < H * D + H; i++) wd[i] = rng_range(&r, -1, 1);
    w->data = wd, w->flags = SENTI_TFLAG_WEIGHT;
    bias->data = wd + H * D, bias->flags = SENTI_TFLAG_WEIGHT;
    senti_tensor *h = op_gelu(g, op_add(g, op_matmul(g, x, w, false, true), bias));
    senti_tensor *y = op_layer_norm(g, op_scale(g, h, 0.5f), NULL, NULL, 1e-5f);
    graph_set_output(y);
    senti_exec *ex = exec_init(be, NULL);
    bool ok = y && ex && exec_prepare(ex, g) == SENTI_OK && x->data;
    if (ok) {
        for (int64_t i = 0; i < T * D; i++) ((float *)x->data)[i] = rng_range(&r, -1, 1);
        ok = exec_compute(ex, g) == SENTI_OK && senti_nelements(y) == n_out;
        if (ok) memcpy(out, y->data, (size_t)n_out * sizeof *out);
    }
    if (!ok) printf("FAIL exec chain on %s: %s\n", be->iface->name, senti_last_error());
    exec_free(ex);
    graph_free(g);
    free(wd);
    return ok;
}

START_TEST(test_exec) {
    float ref[5 * 17], got[5 * 17];
    ck_assert(exec_chain(g_ref, g_seed, ref, 5 * 17));
    ck_assert(exec_chain(g_cpu, g_seed, got, 5 * 17));
    double worst = 0;
    for (int i = 0; i < 5 * 17; i++) {
        double e = fabs((double)got[i] - ref[i]) / (fabs(ref[i]) + 1.0);
        if (!(e <= worst)) worst = e;
    }
    ck_assert_msg(worst <= 1e-5, "executor chain: cpu differs from ref by %g (seed=%llu)", worst,
                  (unsigned long long)g_seed);
}
END_TEST

/* ---- the harness checks itself ------------------------------------------------
 * A backend that declines gelu must give a SKIP, not a pass; a backend that
 * writes one byte past an output, leaves an element unwritten or writes into
 * its input must be caught. The wrapper runs the real CPU kernels first. */

static senti_backend *g_inner;
static int g_sabotage; /* 0 decline gelu, 1 byte past the end, 2 last element unwritten, 3 write into src0 */

static bool wrap_supports(senti_backend *be, const senti_tensor *node) {
    return node->op != SENTI_OP_GELU && g_inner->iface->supports_op(g_inner, node);
}

static senti_status wrap_compute(senti_backend *be, senti_graph *g, int i0, int i1) {
    senti_status st = g_inner->iface->compute(g_inner, g, i0, i1);
    for (int i = i0; i < i1; i++) {
        senti_tensor *t = g->nodes[i];
        const size_t size = dense_bytes(t);
        if (senti_op_is_view(t->op) || size == 0) continue;
        if (g_sabotage == 1) ((unsigned char *)t->data)[size] ^= 1;
        if (g_sabotage == 2) memset((char *)t->data + size - 4, 0xFF, 4);
        if (g_sabotage == 3) ((float *)t->src[0]->data)[0] += 1.0f;
    }
    return st;
}

START_TEST(test_harness) {
    senti_backend_i iface = *g_cpu->iface;
    iface.supports_op = wrap_supports;
    iface.compute = wrap_compute;
    senti_backend wrap = {&iface, g_cpu->ctx};
    g_inner = g_cpu;
    g_cpu = &wrap;
    const int p0 = n_pass, f0 = n_fail, s0 = n_skip, t0 = t_fails;
    bool caught[4] = {false};
    g_quiet = true;
    for (g_sabotage = 0; g_sabotage < 4; g_sabotage++) {
        tc c;
        tc_begin(&c, "harness self-test %d (expected to be caught)", g_sabotage);
        senti_tensor *x = leaf_f32(&c, 2, (int64_t[]){3, 7});
        tc_run(&c, g_sabotage == 0 ? op_gelu(c.g, x) : op_silu(c.g, x), TOL_F32);
        caught[g_sabotage] = g_sabotage == 0 ? c.skipped && !c.failed : c.failed;
        tc_end(&c);
    }
    g_quiet = false;
    g_cpu = g_inner;
    n_pass = p0, n_fail = f0, n_skip = s0, t_fails = t0;
    ck_assert_msg(caught[0], "a declined op was not reported as a skip");
    ck_assert_msg(caught[1], "a write past the end of an output was not caught");
    ck_assert_msg(caught[2], "an unwritten output element was not caught");
    ck_assert_msg(caught[3], "a write into an input was not caught");
}
END_TEST

/* ---- packed sequences ----------------------------------------------------------
 * attention_varlen against the reference, and on the CPU byte for byte the
 * op_attention of each sequence run alone (slices of the same q, k, v): the
 * padding-free batch gives the padded batch's bytes. Lengths 0, 1, over one
 * query block (ATT_BQ 128), GQA, causal, and a sliding window
 * (op_attention_varlen_local) against op_attention with the window as its
 * mask. */
/* q [1, T, Hq, D], k, v [1, T, Hkv, D] random, offs [S + 1] the bounds of sequences of lens. */
static void varlen_leaves(tc *c, const int64_t *lens, int64_t S, int64_t T, int64_t Hq, int64_t Hkv, int64_t D,
                          senti_tensor **q, senti_tensor **k, senti_tensor **v, senti_tensor **offs) {
    *q = leaf(c, F32, 4, (int64_t[]){1, T, Hq, D}, -2, 2);
    *k = leaf(c, F32, 4, (int64_t[]){1, T, Hkv, D}, -2, 2);
    *v = leaf(c, F32, 4, (int64_t[]){1, T, Hkv, D}, -1, 1);
    const int64_t on = S + 1;
    *offs = leaf(c, I32, 1, &on, 0, 1);
    int32_t *o = (*offs)->data;
    o[0] = 0;
    for (int64_t s = 0; s < S; s++) o[s + 1] = o[s] + (int32_t)lens[s];
}

START_TEST(test_attention_varlen) {
    TEST_BEGIN();
    static const int64_t lens[][6] = {{5, 0, 17, 1, 3, -1}, {130, 7, -1}, {1, -1}, {33, 64, 2, 40, -1}};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (int mode = 0; mode < 3; mode++) {
            const bool causal = mode == 1;
            const int64_t win = mode == 2 ? (li % 2 ? 40 : 3) : -1; /* window 40 crosses a 128-key tile at 130 */
            int64_t S = 0, T = 0;
            while (lens[li][S] >= 0) T += lens[li][S++];
            const int64_t Hkv = 1 + (int64_t)li % 2, Hq = 3 * Hkv, D = 24 + (int64_t)li * 8;
            tc c;
            tc_begin(&c, "attention_varlen S=%lld T=%lld Hq=%lld Hkv=%lld D=%lld%s window %lld", (long long)S,
                     (long long)T, (long long)Hq, (long long)Hkv, (long long)D, causal ? " causal" : "", (long long)win);
            senti_tensor *q, *k, *v, *offs;
            varlen_leaves(&c, lens[li], S, T, Hq, Hkv, D, &q, &k, &v, &offs);
            const int32_t *o = offs->data;
            const float scale = 1.0f / sqrtf((float)D);
            senti_tensor *out = win >= 0 ? op_attention_varlen_local(c.g, q, k, v, offs, scale, win, false)
                                         : op_attention_varlen(c.g, q, k, v, offs, scale, causal);
            tc_run(&c, out, TOL_F32);
            /* the CPU: each sequence alone through op_attention, same bytes */
            cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
            const cpu_simd simd0 = ctx->simd;
            for (int lv = CPU_SIMD_SCALAR; lv <= (int)g_simd_max && !c.failed; lv++) {
                ctx->simd = (cpu_simd)lv;
                float *packed = malloc((size_t)(T * Hq * D + 1) * 4);
                out->data = packed;
                ck_assert_int_eq(g_cpu->iface->compute(g_cpu, c.g, c.g->n_nodes - 1, c.g->n_nodes), SENTI_OK);
                for (int64_t s2 = 0; s2 < S && !c.failed; s2++) {
                    const int64_t a = o[s2], n = o[s2 + 1] - o[s2];
                    if (n == 0) continue;
                    senti_graph *g2 = graph_init();
                    senti_tensor *q2 = graph_new_tensor_4d(g2, F32, 1, n, Hq, D), *k2 = graph_new_tensor_4d(g2, F32, 1, n, Hkv, D),
                                 *v2 = graph_new_tensor_4d(g2, F32, 1, n, Hkv, D);
                    q2->data = (float *)q->data + a * Hq * D;
                    k2->data = (float *)k->data + a * Hkv * D;
                    v2->data = (float *)v->data + a * Hkv * D;
                    senti_tensor *m2 = NULL; /* the window as an additive mask [1, 1, n, n] */
                    if (win >= 0) {
                        m2 = graph_new_tensor_4d(g2, F32, 1, 1, n, n);
                        m2->data = malloc((size_t)(n * n) * 4);
                        for (int64_t i = 0; i < n; i++)
                            for (int64_t j = 0; j < n; j++)
                                ((float *)m2->data)[i * n + j] = (i > j ? i - j : j - i) <= win ? 0.0f : -INFINITY;
                    }
                    senti_tensor *o2 = op_attention(g2, q2, k2, v2, m2, scale, causal);
                    o2->data = malloc((size_t)(n * Hq * D) * 4);
                    ck_assert_int_eq(g_cpu->iface->compute(g_cpu, g2, g2->n_nodes - 1, g2->n_nodes), SENTI_OK);
                    if (memcmp(o2->data, packed + a * Hq * D, (size_t)(n * Hq * D) * 4) != 0)
                        tc_fail(&c, "cpu simd=%s: sequence %lld differs from its own op_attention",
                                cpu_simd_name(ctx->simd), (long long)s2);
                    free(o2->data);
                    if (m2) free(m2->data);
                    graph_free(g2);
                }
                free(packed);
            }
            ctx->simd = simd0;
            tc_end(&c);
        }
    { /* bad offsets: an error naming the node, not a read out of bounds */
        tc c;
        tc_begin(&c, "attention_varlen bad offsets");
        senti_tensor *q = leaf(&c, F32, 4, (int64_t[]){1, 6, 2, 8}, -1, 1);
        const int64_t on = 3;
        senti_tensor *offs = leaf(&c, I32, 1, &on, 0, 1);
        int32_t *o = offs->data;
        o[0] = 0, o[1] = 9, o[2] = 6; /* decreasing, past T */
        tc_run_opts(&c, op_attention_varlen(c.g, q, q, q, offs, 0.3f, false), (run_opts){TOL_F32, false, NULL, NULL},
                    true);
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* attention_varlen_first (a last layer for the first tokens only) against the
 * reference, and on the CPU at every level byte for byte the rows offs[s] of
 * attention_varlen over all queries; an empty sequence gives zeros. The same
 * for op_attention_varlen_local's first-token queries (window 3 / 40). */
START_TEST(test_attention_varlen_first) {
    TEST_BEGIN();
    static const int64_t lens[][6] = {{5, 0, 17, 1, 3, -1}, {130, 7, -1}, {1, -1}, {33, 64, 2, 40, -1}};
    for (size_t li = 0; li < 2 * sizeof lens / sizeof lens[0]; li++) {
        const int64_t win = li < sizeof lens / sizeof lens[0] ? -1 : li % 2 ? 40 : 3;
        int64_t S = 0, T = 0;
        while (lens[li % 4][S] >= 0) T += lens[li % 4][S++];
        const int64_t Hkv = 1 + (int64_t)li % 2, Hq = 3 * Hkv, D = 24 + (int64_t)(li % 4) * 8;
        tc c;
        tc_begin(&c, "attention_varlen_first S=%lld T=%lld Hq=%lld Hkv=%lld D=%lld window %lld", (long long)S,
                 (long long)T, (long long)Hq, (long long)Hkv, (long long)D, (long long)win);
        senti_tensor *q, *k, *v, *offs;
        varlen_leaves(&c, lens[li % 4], S, T, Hq, Hkv, D, &q, &k, &v, &offs);
        senti_tensor *qf = leaf(&c, F32, 4, (int64_t[]){1, S, Hq, D}, -2, 2);
        int32_t *o = offs->data;
        const int64_t on = S + 1;
        for (int64_t s2 = 0; s2 < S; s2++) /* q of each sequence's first token (any values for an empty one) */
            if (o[s2 + 1] > o[s2])
                memcpy((float *)qf->data + s2 * Hq * D, (float *)q->data + o[s2] * Hq * D, (size_t)(Hq * D) * 4);
        const float scale = 1.0f / sqrtf((float)D);
        senti_tensor *out = win >= 0 ? op_attention_varlen_local(c.g, qf, k, v, offs, scale, win, true)
                                     : op_attention_varlen_first(c.g, qf, k, v, offs, scale);
        tc_run(&c, out, TOL_F32);
        cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
        const cpu_simd simd0 = ctx->simd;
        for (int lv = CPU_SIMD_SCALAR; lv <= (int)g_simd_max && !c.failed; lv++) {
            ctx->simd = (cpu_simd)lv;
            float *first = malloc((size_t)(S * Hq * D + 1) * 4);
            memset(first, 0x7f, (size_t)(S * Hq * D) * 4); /* not zeros: an empty sequence's zeros are written */
            out->data = first;
            ck_assert_int_eq(g_cpu->iface->compute(g_cpu, c.g, c.g->n_nodes - 1, c.g->n_nodes), SENTI_OK);
            senti_graph *g2 = graph_init();
            senti_tensor *q2 = graph_new_tensor_4d(g2, F32, 1, T, Hq, D), *k2 = graph_new_tensor_4d(g2, F32, 1, T, Hkv, D),
                         *v2 = graph_new_tensor_4d(g2, F32, 1, T, Hkv, D);
            senti_tensor *o2t = graph_new_tensor(g2, I32, 1, &on);
            q2->data = q->data, k2->data = k->data, v2->data = v->data, o2t->data = o;
            senti_tensor *full = win >= 0 ? op_attention_varlen_local(g2, q2, k2, v2, o2t, scale, win, false)
                                          : op_attention_varlen(g2, q2, k2, v2, o2t, scale, false);
            full->data = malloc((size_t)(T * Hq * D + 1) * 4);
            ck_assert_int_eq(g_cpu->iface->compute(g_cpu, g2, g2->n_nodes - 1, g2->n_nodes), SENTI_OK);
            for (int64_t s2 = 0; s2 < S && !c.failed; s2++) {
                const float *got = first + s2 * Hq * D;
                if (o[s2 + 1] == o[s2]) {
                    for (int64_t i = 0; i < Hq * D; i++)
                        if (got[i] != 0.0f) {
                            tc_fail(&c, "cpu simd=%s: empty sequence %lld not zeros", cpu_simd_name(ctx->simd),
                                    (long long)s2);
                            break;
                        }
                } else if (memcmp(got, (float *)full->data + o[s2] * Hq * D, (size_t)(Hq * D) * 4) != 0) {
                    tc_fail(&c, "cpu simd=%s: sequence %lld's first row differs from attention_varlen's",
                            cpu_simd_name(ctx->simd), (long long)s2);
                }
            }
            free(full->data);
            graph_free(g2);
            free(first);
        }
        ctx->simd = simd0;
        tc_end(&c);
    }
    { /* one query row per sequence: a q of the wrong rows is refused when the graph is built */
        tc c;
        tc_begin(&c, "attention_varlen_first shape check");
        senti_tensor *q = leaf(&c, F32, 4, (int64_t[]){1, 6, 2, 8}, -1, 1);
        const int64_t on = 3;
        senti_tensor *offs = leaf(&c, I32, 1, &on, 0, 1);
        ck_assert_ptr_null(op_attention_varlen_first(c.g, q, q, q, offs, 0.3f));
        ck_assert_ptr_null(op_attention_varlen_local(c.g, q, q, q, offs, 0.3f, -1, false)); /* a negative window */
        tc_end(&c);
    }
    TEST_END();
}
END_TEST

/* ---- non-finite values ------------------------------------------------------
 * NaN and inf in, the same NaN and inf out on every SIMD level as in the
 * reference: no clamp, max or quantizer may turn them into numbers. Every
 * output element's class (NaN, +inf, -inf, finite) must equal the
 * reference's. */

static int fclass(float x) { return isnan(x) ? 1 : isinf(x) ? (x > 0 ? 2 : 3) : 0; }

static void run_nonfinite(tc *c, senti_tensor *out) {
    senti_graph *g = c->g;
    if (!out || g->status != SENTI_OK) {
        tc_fail(c, "graph construction failed: %s", g->err);
        return;
    }
    const int n = g->n_nodes;
    const int64_t ne = senti_nelements(out);
    float *ref = malloc((size_t)(ne + 1) * 4);
    void **bufs = calloc((size_t)n, sizeof *bufs);
    for (int i = 0; i < n; i++)
        if (!senti_op_is_view(g->nodes[i]->op)) bufs[i] = calloc(1, dense_bytes(g->nodes[i]) + 64);
    cpu_ctx *ctx = cpu_backend_ctx(g_cpu);
    const cpu_simd simd0 = ctx->simd;
    for (int s = -1; s <= (int)g_simd_max; s++) { /* -1: the reference */
        senti_backend *be = s < 0 ? g_ref : g_cpu;
        if (s >= 0) ctx->simd = (cpu_simd)s;
        for (int i = 0; i < n; i++) {
            senti_tensor *t = g->nodes[i];
            t->data = senti_op_is_view(t->op) ? (char *)t->view_src->data + t->view_offs : bufs[i];
        }
        senti_status st = SENTI_OK;
        for (int i = 0; i < n && st == SENTI_OK; i++)
            if (!senti_op_is_view(g->nodes[i]->op)) st = be->iface->compute(be, g, i, i + 1);
        const char *who = s < 0 ? "ref" : cpu_simd_name((cpu_simd)s);
        if (st != SENTI_OK) {
            tc_fail(c, "%s: %s", who, senti_last_error());
            break;
        }
        const float *got = out->data;
        if (s < 0) {
            memcpy(ref, got, (size_t)ne * 4);
            int64_t nan = 0;
            for (int64_t k = 0; k < ne; k++) nan += isnan(ref[k]);
            if (nan == 0) tc_fail(c, "test bug: the reference output holds no NaN");
            continue;
        }
        /* activations quantized to q8_0 cannot hold an inf: the block turns NaN */
        const bool qa = out->op == SENTI_OP_MATMUL && senti_type_is_quant(out->src[1]->type);
        for (int64_t k = 0; k < ne; k++)
            if (fclass(got[k]) != fclass(ref[k]) && !(qa && isinf(ref[k]) && isnan(got[k]))) {
                tc_fail(c, "cpu simd=%s: element %lld is %g, the reference %g", who, (long long)k, got[k], ref[k]);
                break;
            }
    }
    ctx->simd = simd0;
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(ref);
}

/* Poison element k of a leaf (f32) with v. */
static void poke(senti_tensor *t, int64_t k, float v) { ((float *)t->data)[k] = v; }

START_TEST(test_nonfinite) {
    TEST_BEGIN();
    static const char *names[] = {"gelu", "gelu_tanh", "silu", "relu", "tanh"};
    senti_tensor *(*const fns[])(senti_graph *, senti_tensor *) = {op_gelu, op_gelu_tanh, op_silu, op_relu, op_tanh};
    const int64_t sh[2] = {3, 37};
    for (int f = 0; f < 5; f++) {
        tc c;
        tc_begin(&c, "nonfinite %s", names[f]);
        senti_tensor *x = leaf(&c, F32, 2, sh, -20, 20);
        poke(x, 0, NAN), poke(x, 17, NAN), poke(x, 36, NAN), poke(x, 40, -NAN), poke(x, 5, INFINITY);
        poke(x, 6, -INFINITY);
        run_nonfinite(&c, fns[f](c.g, x));
        tc_end(&c);
    }
    for (int kind = 0; kind < 3; kind++) { /* softmax (a NaN row, an all-NaN row), layer norm, rms norm */
        tc c;
        tc_begin(&c, "nonfinite %s", kind == 0 ? "softmax" : kind == 1 ? "layer_norm" : "rms_norm");
        const int64_t s4[2] = {4, 70}, D = 70;
        senti_tensor *x = leaf(&c, F32, 2, s4, -3, 3);
        poke(x, 3, NAN), poke(x, 70 + 69, NAN);
        for (int64_t k = 140; k < 210; k++) poke(x, k, NAN);
        senti_tensor *w = leaf(&c, F32, 1, &D, 0.5, 1.5);
        senti_tensor *o = kind == 0 ? op_softmax(c.g, x, NULL, 1.0f)
                          : kind == 1 ? op_layer_norm(c.g, x, w, NULL, 1e-5f)
                                      : op_rms_norm(c.g, x, w, 1e-5f);
        run_nonfinite(&c, o);
        tc_end(&c);
    }
    { /* attention: a NaN in one query row and in one key */
        tc c;
        tc_begin(&c, "nonfinite attention");
        const int64_t qs[4] = {2, 9, 2, 16}, ks[4] = {2, 9, 2, 16};
        senti_tensor *q = leaf(&c, F32, 4, qs, -1, 1), *k = leaf(&c, F32, 4, ks, -1, 1), *v = leaf(&c, F32, 4, ks, -1, 1);
        poke(q, 16 * 3, NAN);          /* batch 0, query 1, head 1 */
        poke(k, 9 * 2 * 16 + 40, NAN); /* batch 1, key 1 */
        run_nonfinite(&c, op_attention(c.g, q, k, v, NULL, 0.25f, false));
        tc_end(&c);
    }
    static const senti_type wts[] = {F32, F16, BF16, Q8, Q4, I8};
    for (size_t t = 0; t < sizeof wts / sizeof wts[0]; t++)
        for (int M = 1; M <= 40; M += 39) { /* a NaN and an inf in rows of A (int8: the whole row turns NaN) */
            tc c;
            tc_begin(&c, "nonfinite matmul %s M=%d", senti_type_name(wts[t]), M);
            const int64_t as[2] = {M, 96}, bs[2] = {50, 96};
            senti_tensor *a = leaf(&c, F32, 2, as, -1, 1), *b = leaf(&c, wts[t], 2, bs, -1, 1);
            poke(a, 5, NAN);
            if (M > 1) poke(a, 96 * 7 + 70, INFINITY);
            run_nonfinite(&c, op_matmul(c.g, a, b, false, true));
            tc_end(&c);
        }
    TEST_END();
}
END_TEST

/* ---- main ------------------------------------------------------------------- */

static Suite *ops_suite(void) {
    Suite *s = suite_create("ops");
    struct {
        const char *name;
        const TTest *fn;
    } tests[] = {
        {"get_rows", test_get_rows},
        {"add_mul", test_add_mul},
        {"scale", test_scale},
        {"activations", test_activations},
        {"activations_position", test_activations_position},
        {"norms", test_norms},
        {"softmax", test_softmax},
        {"matmul_f32", test_matmul_f32},
        {"matmul_half", test_matmul_half},
        {"matmul_quant", test_matmul_quant},
        {"matmul_kquant", test_matmul_kquant},
        {"matmul_int8", test_matmul_int8},
        {"matmul_int8_exact", test_matmul_int8_exact},
        {"matmul_rows", test_matmul_rows},
        {"matmul_random", test_matmul_random},
        {"attention", test_attention},
        {"attention_random", test_attention_random},
        {"attention_unfused", test_attention_unfused},
        {"attention_varlen", test_attention_varlen},
        {"attention_varlen_first", test_attention_varlen_first},
        {"rope", test_rope},
        {"cpy", test_cpy},
        {"concat", test_concat},
        {"set_rows", test_set_rows},
        {"gather", test_gather},
        {"views", test_views},
        {"errors", test_constructor_errors},
        {"exec", test_exec},
        {"harness", test_harness},
        {"nonfinite", test_nonfinite},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc_ = tcase_create(tests[i].name);
        tcase_set_timeout(tc_, 600);
        tcase_add_test(tc_, tests[i].fn);
        suite_add_tcase(s, tc_);
    }
    return s;
}

int main(void) {
    const char *env = getenv("SENTI_TEST_SEED");
    g_seed = env && *env ? strtoull(env, NULL, 10) : ((uint64_t)time(NULL) * 2654435761u) ^ (uint64_t)getpid();
    const char *verb = getenv("SENTI_TEST_VERBOSE");
    g_verbose = verb && *verb && strcmp(verb, "0") != 0;
    printf("test_ops seed=%llu (replay: SENTI_TEST_SEED=%llu)\n", (unsigned long long)g_seed,
           (unsigned long long)g_seed);
    g_ref = senti_backend_ref_init();
    g_cpu = senti_backend_cpu_init(2);
    if (!g_ref || !g_cpu) {
        printf("test_ops: cannot create the backends: %s\n", senti_last_error());
        return EXIT_FAILURE;
    }
    g_simd_max = cpu_backend_ctx(g_cpu)->simd;
    printf("test_ops: cpu simd levels scalar..%s, matmul modes native+blas\n", cpu_simd_name(g_simd_max));
#ifdef SENTI_HAVE_CUDA
    {
        static const struct {
            const char *name, *matmul, *dtype;
            bool half;
        } V[] = {{"cuda native-f32", "native", "f32", false}, {"cuda native-bf16", "native", "bf16", true},
                 {"cuda native-f16", "native", "f16", true},  {"cuda cublas-f32", "cublas", "f32", false},
                 {"cuda cublas-bf16", "cublas", "bf16", true}};
        char why[256] = "";
        if (cuda_device_count(why, sizeof why) > 0) {
            for (size_t v = 0; v < sizeof V / sizeof V[0] && g_n_extra < MAX_EXTRA; v++) {
                setenv("SENTI_MATMUL", V[v].matmul, 1);
                setenv("SENTI_CUDA_DTYPE", V[v].dtype, 1);
                senti_backend *be = senti_backend_cuda_init("cuda");
                unsetenv("SENTI_MATMUL");
                unsetenv("SENTI_CUDA_DTYPE");
                if (!be) {
                    printf("test_ops: %s: %s\n", V[v].name, senti_last_error());
                    return EXIT_FAILURE;
                }
                g_extra[g_n_extra].name = V[v].name;
                g_extra[g_n_extra].be = be;
                g_extra[g_n_extra++].half = V[v].half;
            }
            printf("test_ops: every case also on %d CUDA backend variants\n", g_n_extra);
        } else {
            printf("test_ops: CUDA built, no device (%s): the CUDA variants are skipped\n", why);
        }
    }
#else
    printf("test_ops: built without CUDA: only the CPU runs\n");
#endif
    fflush(stdout);

    SRunner *sr = srunner_create(ops_suite());
    srunner_set_fork_status(sr, CK_NOFORK); /* counters and backends are shared across tests */
    const double t0 = senti_time_ms();
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("test_ops: %d cases passed, %d failed, %d skipped (unsupported on cpu) in %.1f s; seed=%llu\n", n_pass,
           n_fail, n_skip, (senti_time_ms() - t0) / 1000.0, (unsigned long long)g_seed);
    if (g_n_extra) printf("test_ops: %d case runs skipped on other backends (an op declined)\n", n_extra_skip);
    for (int e = 0; e < g_n_extra; e++) senti_backend_free(g_extra[e].be);
    senti_backend_free(g_cpu);
    senti_backend_free(g_ref);
    return failed == 0 && n_fail == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
