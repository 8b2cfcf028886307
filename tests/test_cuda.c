/* test_cuda.c — the CUDA backend against the reference (kernels/ref.c) and
 * against HuggingFace golden outputs. CTest label `cuda`; where no CUDA
 * device exists (or the build has no CUDA) it prints "SKIP: ..." and exits
 * 77, which CTest reports as skipped, never as passed.
 *
 * With a device:
 *  - every op, on fresh random inputs (odd and prime sizes, broadcasts, views,
 *    f32 / f16 / bf16 / q8_0 / q4_0 weights), on each backend variant: native
 *    f32, native bf16 and f16 matmuls (SENTI_CUDA_DTYPE), cuBLAS f32 and bf16
 *    (SENTI_MATMUL=cublas); every computed node is compared (outputs poisoned
 *    with NaN before each run, so an unwritten element fails). Tolerance:
 *    err = max |got - ref| / (|ref| + rms(ref) + 1e-6) <= 1e-5 for f32
 *    arithmetic, <= 2e-2 where a matmul rounds operands to bf16 / f16, exact
 *    bytes for casts, copies, concat and i32;
 *  - the executor with the CPU as fallback (a declined node in the middle:
 *    transfers both ways) and a fully supported graph run three times with new
 *    inputs (eager, CUDA-graph capture, replay), each against the reference;
 *  - every encoder fixture through the public API with device "cuda": the
 *    padded batch within 1e-4 of transformers in f32 (as test_encoders), three
 *    runs; with bf16 / f16 matmuls max |got - want| / max |want| <= 2e-2 and
 *    the same argmax wherever the golden top two are further apart than that.
 * Without a device it still checks that "cuda" is refused with a message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/cpu.h"
#include "kernels/backend.h"
#include "senti.h"
#include "testutil.h"
#ifdef SENTI_HAVE_CUDA
#include "cuda/cuda.h"
#endif

#ifndef SENTI_HAVE_CUDA
int main(void) {
    senti_model_opts o = senti_model_opts_defaults();
    o.device = "cuda";
    if (senti_model_load_opts(".", &o) || !strstr(senti_last_error(), "not available")) {
        printf("FAIL: a build without CUDA accepted device 'cuda' (%s)\n", senti_last_error());
        return 1;
    }
    printf("SKIP: no CUDA device (built with SENTI_CUDA=OFF)\n");
    return 77;
}
#else
#include <jansson.h>

#define F32 SENTI_TYPE_F32
#define F16 SENTI_TYPE_F16
#define BF16 SENTI_TYPE_BF16
#define I32 SENTI_TYPE_I32
#define Q8 SENTI_TYPE_Q8_0
#define Q4 SENTI_TYPE_Q4_0

/* ---- backends --------------------------------------------------------------------- */

#define N_BE 5
static const struct {
    const char *name, *matmul, *dtype;
    bool half; /* matmuls round operands to 16 bits */
} BE[N_BE] = {
    {"native-f32", "native", "f32", false}, {"native-bf16", "native", "bf16", true},
    {"native-f16", "native", "f16", true},  {"cublas-f32", "cublas", "f32", false},
    {"cublas-bf16", "cublas", "bf16", true},
};
static senti_backend *g_ref, *g_be[N_BE];
static uint64_t g_seed;

static senti_backend *cuda_with(const char *matmul, const char *dtype) {
    setenv("SENTI_MATMUL", matmul, 1);
    setenv("SENTI_CUDA_DTYPE", dtype, 1);
    senti_backend *be = senti_backend_cuda_init("cuda");
    unsetenv("SENTI_MATMUL");
    unsetenv("SENTI_CUDA_DTYPE");
    return be;
}

/* ---- random data (splitmix64) ------------------------------------------------------ */

typedef struct { uint64_t s; } rng_t;
static uint64_t rng_u64(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unif(rng_t *r) { return (double)(rng_u64(r) >> 11) * 0x1.0p-53; }

/* ---- a case: one graph, host buffers for every leaf and node ------------------------- */

#define MAX_BUF 64
typedef struct tc {
    char name[200];
    senti_graph *g;
    rng_t r;
    void *buf[MAX_BUF];
    int n_buf;
    bool half_mm; /* a matmul in the graph has f16 / bf16 weights */
} tc;

static void tc_begin(tc *c, const char *name) {
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->g = graph_init();
    uint64_t h = g_seed;
    for (const char *p = name; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001B3ull;
    c->r.s = h;
}

static void *tc_alloc(tc *c, size_t n) {
    ck_assert_int_lt(c->n_buf, MAX_BUF);
    void *p = calloc(1, n + 64);
    ck_assert_ptr_nonnull(p);
    return c->buf[c->n_buf++] = p;
}

/* Weights come from a pool whose addresses are never reused: the backend
 * caches a weight by its host address for its whole life. */
static char *g_wpool;
static size_t g_wused, g_wcap = (size_t)256 << 20;
static void *weight_alloc(size_t n) {
    n = (n + 64 + 63) & ~(size_t)63;
    if (!g_wpool) g_wpool = calloc(1, g_wcap);
    ck_assert_msg(g_wpool && g_wused + n <= g_wcap, "weight pool exhausted");
    void *p = g_wpool + g_wused;
    g_wused += n;
    return p;
}

static size_t dense_bytes(const senti_tensor *t) { return (size_t)senti_nrows(t) * senti_row_size(t->type, t->ne[3]); }

/* a leaf of random values in [lo, hi) (ids: integers in [lo, hi)) */
static senti_tensor *leaf(tc *c, senti_type type, int nd, const int64_t *shape, double lo, double hi, bool weight) {
    senti_tensor *t = graph_new_tensor(c->g, type, nd, shape);
    ck_assert_ptr_nonnull(t);
    t->data = weight ? weight_alloc(dense_bytes(t)) : tc_alloc(c, dense_bytes(t));
    const int64_t n = t->ne[3];
    float *row = malloc((size_t)(n + 1) * sizeof *row);
    for (int64_t r = 0; r < senti_nrows(t); r++) {
        char *dst = (char *)t->data + (size_t)r * senti_row_size(type, n);
        for (int64_t i = 0; i < n; i++) row[i] = (float)(lo + (hi - lo) * rng_unif(&c->r));
        if (type == I32)
            for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i] = (int32_t)floor(row[i]);
        else if (type == Q8) senti_quantize_row_q8_0(row, (senti_block_q8_0 *)dst, n);
        else if (type == Q4) senti_quantize_row_q4_0(row, (senti_block_q4_0 *)dst, n);
        else senti_row_from_f32(type, row, dst, n);
    }
    free(row);
    if (weight) t->flags |= SENTI_TFLAG_WEIGHT;
    return t;
}
/* an f32 input of the last nd of (a, b, d, e) */
static senti_tensor *lf(tc *c, int nd, int64_t a, int64_t b, int64_t d, int64_t e) {
    const int64_t all[4] = {a, b, d, e};
    return leaf(c, F32, nd, all + 4 - nd, -1, 1, false);
}

static double node_err(const senti_tensor *t, const float *got, const float *want) {
    const int64_t n = senti_nelements(t);
    double ss = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)want[i] * want[i];
    const double rms = n ? sqrt(ss / (double)n) : 0;
    for (int64_t i = 0; i < n; i++) {
        const double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + rms + 1e-6);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static bool has_matmul(const senti_graph *g) {
    for (int i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->op == SENTI_OP_MATMUL) return true;
    return false;
}

static int n_fail, n_skip, n_pass;

/* bind, run the reference, then each backend (only native-f32 unless the
 * graph has a matmul), compare every computed node */
static void tc_run(tc *c, double tol) {
    senti_graph *g = c->g;
    ck_assert_msg(g->status == SENTI_OK, "%s: %s", c->name, g->err);
    void **want = calloc((size_t)g->n_nodes, sizeof *want);
    for (int i = 0; i < g->n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) t->data = (char *)t->view_src->data + t->view_offs;
        else if (t->view_src) t->data = (char *)t->view_src->data + t->view_offs; /* in place */
        else t->data = tc_alloc(c, dense_bytes(t));
    }
    ck_assert_msg(g_ref->iface->compute(g_ref, g, 0, g->n_nodes) == SENTI_OK, "%s: ref: %s", c->name,
                  senti_last_error());
    for (int i = 0; i < g->n_nodes; i++) {
        const senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) continue;
        want[i] = malloc(dense_bytes(t) + 1);
        memcpy(want[i], t->data, dense_bytes(t));
    }
    const bool mm = has_matmul(g);
    for (int b = 0; b < N_BE; b++) {
        if (b > 0 && !mm) break;
        senti_backend *be = g_be[b];
        bool ok = true;
        for (int i = 0; i < g->n_nodes && ok; i++)
            if (!be->iface->supports_op(be, g->nodes[i])) {
                printf("SKIP %s on %s: node %s declined\n", c->name, BE[b].name, senti_op_name(g->nodes[i]->op));
                n_skip++;
                ok = false;
            }
        if (!ok) continue;
        for (int i = 0; i < g->n_nodes; i++)
            if (!senti_op_is_view(g->nodes[i]->op) && !g->nodes[i]->view_src)
                memset(g->nodes[i]->data, 0xff, dense_bytes(g->nodes[i]));
        senti_status st = be->iface->compute(be, g, 0, g->n_nodes);
        if (st != SENTI_OK) {
            printf("FAIL %s on %s: %s\n", c->name, BE[b].name, senti_last_error());
            n_fail++;
            continue;
        }
        const double tl = (BE[b].half || c->half_mm) && mm ? fmax(tol, 2e-2) : tol;
        bool bad = false;
        for (int i = 0; i < g->n_nodes; i++) {
            const senti_tensor *t = g->nodes[i];
            if (senti_op_is_view(t->op)) continue;
            if (t->type == F32 && t->op != SENTI_OP_CPY && t->op != SENTI_OP_CONCAT) {
                const double e = node_err(t, t->data, want[i]);
                if (!(e <= tl)) {
                    printf("FAIL %s on %s: node %d %s err %.3g > %.3g\n", c->name, BE[b].name, i,
                           senti_op_name(t->op), e, tl);
                    bad = true;
                }
            } else if (memcmp(t->data, want[i], dense_bytes(t)) != 0) {
                printf("FAIL %s on %s: node %d %s differs bytewise\n", c->name, BE[b].name, i, senti_op_name(t->op));
                bad = true;
            }
        }
        if (bad) n_fail++;
        else n_pass++;
    }
    for (int i = 0; i < g->n_nodes; i++) free(want[i]);
    free(want);
    graph_free(g);
    for (int i = 0; i < c->n_buf; i++) free(c->buf[i]);
}

/* ---- op cases ------------------------------------------------------------------------------ */

START_TEST(test_elementwise) {
    tc c;
    static const int64_t bs[][4] = {{2, 3, 5, 7}, {1, 3, 1, 7}, {1, 1, 1, 7}, {2, 1, 5, 1}, {1, 1, 1, 1}};
    for (int k = 0; k < 5; k++)
        for (int op = 0; op < 2; op++) {
            char n[64];
            snprintf(n, sizeof n, "%s b[%lld,%lld,%lld,%lld]", op ? "mul" : "add", (long long)bs[k][0],
                     (long long)bs[k][1], (long long)bs[k][2], (long long)bs[k][3]);
            tc_begin(&c, n);
            senti_tensor *a = lf(&c, 4, 2, 3, 5, 7), *b = leaf(&c, F32, 4, bs[k], -1, 1, k == 2);
            graph_set_output(op ? op_mul(c.g, a, b) : op_add(c.g, b, a));
            tc_run(&c, 1e-5);
        }
    senti_tensor *(*un[])(senti_graph *, senti_tensor *) = {op_gelu, op_gelu_tanh, op_silu, op_relu, op_tanh};
    for (int k = 0; k < 6; k++) {
        char n[64];
        snprintf(n, sizeof n, "unary %d on a permuted view", k);
        tc_begin(&c, n);
        senti_tensor *x = leaf(&c, F32, 3, (const int64_t[]){3, 33, 5}, -4, 4, false);
        x = op_permute(c.g, x, (const int[]){0, 2, 1});
        graph_set_output(k < 5 ? un[k](c.g, x) : op_scale(c.g, x, -0.37f));
        tc_run(&c, 1e-5);
    }
}
END_TEST

START_TEST(test_norms_softmax) {
    tc c;
    static const int64_t D[] = {1, 7, 130, 768, 1031};
    for (int k = 0; k < 5; k++)
        for (int kind = 0; kind < 4; kind++) {
            char n[64];
            snprintf(n, sizeof n, "norm %d D=%lld", kind, (long long)D[k]);
            tc_begin(&c, n);
            senti_tensor *x = lf(&c, 3, 0, 2, 3, D[k]);
            x = op_reshape_3d(c.g, x, 2, 3, D[k]);
            senti_tensor *w = leaf(&c, F32, 1, &D[k], 0.5, 1.5, true), *b = leaf(&c, F32, 1, &D[k], -1, 1, true);
            senti_tensor *y = kind == 0 ? op_layer_norm(c.g, x, w, b, 1e-5f)
                              : kind == 1 ? op_layer_norm(c.g, x, NULL, NULL, 1e-12f)
                              : kind == 2 ? op_rms_norm(c.g, x, w, 1e-6f)
                                          : op_rms_norm(c.g, x, NULL, 1e-6f);
            graph_set_output(y);
            tc_run(&c, 1e-5);
        }
    for (int mk = 0; mk < 3; mk++) {
        char n[64];
        snprintf(n, sizeof n, "softmax mask %d", mk);
        tc_begin(&c, n);
        senti_tensor *x = leaf(&c, F32, 4, (const int64_t[]){2, 3, 5, 67}, -5, 5, false), *m = NULL;
        if (mk == 1) { /* padding: the last keys of batch 1 */
            m = leaf(&c, F32, 4, (const int64_t[]){2, 1, 1, 67}, 0, 0, false);
            for (int j = 50; j < 67; j++) ((float *)m->data)[67 + j] = -INFINITY;
        } else if (mk == 2) { /* [1,1,Tq,Tk], row 2 fully masked */
            m = leaf(&c, F32, 4, (const int64_t[]){1, 1, 5, 67}, -1, 1, false);
            for (int j = 0; j < 67; j++) ((float *)m->data)[2 * 67 + j] = -INFINITY;
        }
        graph_set_output(op_softmax(c.g, x, m, 0.125f));
        tc_run(&c, 1e-5);
    }
}
END_TEST

static void matmul_case(senti_type bt, int64_t A0, int64_t A1, int64_t B0, int64_t B1, int64_t M, int64_t N, int64_t K,
                        bool ta, bool tb, bool weight) {
    tc c;
    char n[160];
    snprintf(n, sizeof n, "matmul b=%s a[%lld,%lld] b[%lld,%lld] M=%lld N=%lld K=%lld ta=%d tb=%d w=%d",
             senti_type_name(bt), (long long)A0, (long long)A1, (long long)B0, (long long)B1, (long long)M,
             (long long)N, (long long)K, ta, tb, weight);
    tc_begin(&c, n);
    c.half_mm = bt == F16 || bt == BF16;
    senti_tensor *a = leaf(&c, F32, 4, (const int64_t[]){A0, A1, ta ? K : M, ta ? M : K}, -1, 1, false);
    senti_tensor *b = leaf(&c, bt, 4, (const int64_t[]){B0, B1, tb ? N : K, tb ? K : N}, -1, 1, weight);
    graph_set_output(op_matmul(c.g, a, b, ta, tb));
    tc_run(&c, 1e-5);
}

START_TEST(test_matmul) {
    static const int64_t mnk[][3] = {{1, 37, 64}, {17, 33, 64}, {130, 70, 96}, {5, 129, 160}, {257, 300, 128}};
    const senti_type types[] = {F32, F16, BF16, Q8, Q4};
    for (int s = 0; s < 5; s++)
        for (int t = 0; t < 5; t++) {
            matmul_case(types[t], 1, 1, 1, 1, mnk[s][0], mnk[s][1], mnk[s][2], false, true, true);
            if (t < 3) { /* float b: every transposition, batches, grouped heads */
                matmul_case(types[t], 1, 1, 1, 1, mnk[s][0], mnk[s][1], mnk[s][2] + 3, true, false, false);
                matmul_case(types[t], 2, 3, 1, 1, mnk[s][0], mnk[s][1], mnk[s][2], false, false, true);
                matmul_case(types[t], 2, 4, 2, 2, mnk[s][0], mnk[s][1], mnk[s][2] + 1, true, true, false);
            }
        }
}
END_TEST

START_TEST(test_attention) {
    static const struct { int64_t B, Tq, Tk, Hq, Hkv, D; bool causal; int mask; } A[] = {
        {2, 7, 7, 4, 4, 32, false, 1}, {2, 5, 9, 4, 2, 64, true, 0},   {1, 33, 33, 2, 1, 80, true, 2},
        {3, 1, 100, 8, 2, 64, true, 1}, {2, 1, 130, 4, 4, 128, false, 0}, {1, 70, 70, 3, 3, 256, false, 1},
        {2, 128, 128, 12, 12, 64, false, 1},
    };
    for (size_t k = 0; k < sizeof A / sizeof A[0]; k++)
        for (int layout = 0; layout < 2; layout++) {
            tc c;
            char n[128];
            snprintf(n, sizeof n, "attention #%zu layout %d", k, layout);
            tc_begin(&c, n);
            const int64_t B = A[k].B, Tq = A[k].Tq, Tk = A[k].Tk, Hq = A[k].Hq, Hkv = A[k].Hkv, D = A[k].D;
            senti_tensor *q, *kk, *v;
            if (layout == 0) {
                q = leaf(&c, F32, 4, (const int64_t[]){B, Tq, Hq, D}, -1, 1, false);
                kk = leaf(&c, F32, 4, (const int64_t[]){B, Tk, Hkv, D}, -1, 1, false);
                v = leaf(&c, F32, 4, (const int64_t[]){B, Tk, Hkv, D}, -1, 1, false);
            } else { /* slices of a fused [B, Tk, Hq + 2 Hkv, D] (self-attention shapes only) */
                senti_tensor *qkv = leaf(&c, F32, 4, (const int64_t[]){B, Tk, Hq + 2 * Hkv, D}, -1, 1, false);
                q = op_slice(c.g, op_slice(c.g, qkv, 2, 0, Hq), 1, Tk - Tq, Tk);
                kk = op_slice(c.g, qkv, 2, Hq, Hq + Hkv);
                v = op_slice(c.g, qkv, 2, Hq + Hkv, Hq + 2 * Hkv);
            }
            senti_tensor *m = NULL;
            if (A[k].mask == 1) {
                m = leaf(&c, F32, 4, (const int64_t[]){B, 1, 1, Tk}, 0, 0, false);
                for (int64_t j = Tk - Tk / 3; j < Tk; j++) ((float *)m->data)[(B - 1) * Tk + j] = -INFINITY;
            } else if (A[k].mask == 2) {
                m = leaf(&c, F32, 4, (const int64_t[]){1, 1, Tq, Tk}, -1, 1, false);
                for (int64_t j = 0; j < Tk; j++) ((float *)m->data)[3 * Tk + j] = -INFINITY;
            }
            graph_set_output(op_attention(c.g, q, kk, v, m, 1.0f / sqrtf((float)D), A[k].causal));
            tc_run(&c, 1e-5);
        }
}
END_TEST

START_TEST(test_rope_cpy_concat_rows) {
    tc c;
    for (int k = 0; k < 8; k++) {
        char n[64];
        snprintf(n, sizeof n, "rope %d", k);
        tc_begin(&c, n);
        const int n_rot = k & 1 ? 8 : 16;
        senti_tensor *x = leaf(&c, F32, 4, (const int64_t[]){2, 5, 3, 16}, -1, 1, false);
        senti_tensor *pos = k & 2 ? leaf(&c, I32, 2, (const int64_t[]){2, 5}, 0, 4000, false)
                                  : leaf(&c, I32, 1, (const int64_t[]){5}, 0, 4000, false);
        senti_tensor *ff = k & 4 ? leaf(&c, F32, 1, (const int64_t[]){n_rot / 2}, 1, 8, true) : NULL;
        graph_set_output(op_rope(c.g, x, pos, ff, n_rot, k & 1, 10000.0f, k & 4 ? 0.5f : 1.0f));
        tc_run(&c, 1e-5);
    }
    const senti_type ct[][2] = {{F32, F16}, {F32, BF16}, {F16, F32}, {BF16, F32}, {I32, I32}, {F16, BF16}};
    for (int k = 0; k < 6; k++) {
        char n[64];
        snprintf(n, sizeof n, "cpy %s -> %s (permuted)", senti_type_name(ct[k][0]), senti_type_name(ct[k][1]));
        tc_begin(&c, n);
        senti_tensor *x = leaf(&c, ct[k][0], 3, (const int64_t[]){3, 7, 5}, -100, 100, false);
        graph_set_output(op_cpy(c.g, op_permute(c.g, x, (const int[]){2, 0, 1}), ct[k][1]));
        tc_run(&c, 0);
    }
    for (int dim = 0; dim < 3; dim++)
        for (int t = 0; t < 2; t++) {
            char n[64];
            snprintf(n, sizeof n, "concat dim %d %s", dim, t ? "f16" : "f32");
            tc_begin(&c, n);
            const senti_type ty = t ? F16 : F32;
            int64_t sa[3] = {2, 3, 5}, sb[3] = {2, 3, 5};
            sb[dim] = 4;
            senti_tensor *a = leaf(&c, ty, 3, sa, -1, 1, false), *b = leaf(&c, ty, 3, sb, -1, 1, false);
            graph_set_output(op_concat(c.g, a, b, dim));
            tc_run(&c, 0);
        }
    const senti_type tt[] = {F32, F16, BF16, Q8, Q4};
    for (int k = 0; k < 5; k++) {
        char n[64];
        snprintf(n, sizeof n, "get_rows %s", senti_type_name(tt[k]));
        tc_begin(&c, n);
        senti_tensor *tab = leaf(&c, tt[k], 2, (const int64_t[]){37, 64}, -1, 1, true);
        senti_tensor *ids = leaf(&c, I32, 2, (const int64_t[]){3, 5}, 0, 37, false);
        graph_set_output(op_get_rows(c.g, tab, ids));
        tc_run(&c, 1e-6);
    }
    ck_assert_msg(n_fail == 0, "%d failures so far", n_fail);
}
END_TEST

START_TEST(test_all_passed) { ck_assert_msg(n_fail == 0, "%d op cases failed (%d passed, %d skipped)", n_fail, n_pass, n_skip); }
END_TEST

/* ---- the executor: fallback transfers, capture and replay ----------------------------------- */

/* y = gelu(x W^T + b) [5, 64]; declined: q = cpy(y, q8_0); out = softmax(x2 q^T) [5, 5] */
static senti_tensor *build_mixed(senti_graph *g, senti_tensor **x, const float *w, const float *bias, bool declined) {
    *x = graph_new_tensor_2d(g, F32, 5, 64);
    senti_tensor *W = graph_new_tensor_2d(g, F32, 64, 64), *B = graph_new_tensor_1d(g, F32, 64);
    W->data = (void *)w, B->data = (void *)bias;
    W->flags = B->flags = SENTI_TFLAG_WEIGHT;
    senti_tensor *y = op_gelu(g, op_add(g, op_matmul(g, *x, W, false, true), B));
    senti_tensor *q = declined ? op_cpy(g, y, Q8) : y;
    senti_tensor *o = op_softmax(g, op_matmul(g, *x, q, false, true), NULL, 0.5f);
    graph_set_output(o);
    return o;
}

START_TEST(test_exec) {
    rng_t r = {g_seed ^ 77};
    float *w = malloc(64 * 64 * 4), *bias = malloc(64 * 4);
    for (int i = 0; i < 64 * 64; i++) w[i] = (float)(rng_unif(&r) - 0.5) * 0.3f;
    for (int i = 0; i < 64; i++) bias[i] = (float)(rng_unif(&r) - 0.5);
    senti_backend *cpu = senti_backend_cpu_init(2);
    for (int declined = 0; declined < 2; declined++) {
        senti_exec *ex = exec_init(g_be[0], cpu), *er = exec_init(g_ref, NULL);
        for (int run = 0; run < 3; run++) {
            senti_graph *g1 = graph_init(), *g2 = graph_init();
            senti_tensor *x1, *x2;
            senti_tensor *o1 = build_mixed(g1, &x1, w, bias, declined), *o2 = build_mixed(g2, &x2, w, bias, declined);
            ck_assert(exec_prepare(ex, g1) == SENTI_OK && exec_prepare(er, g2) == SENTI_OK);
            for (int i = 0; i < 5 * 64; i++) ((float *)x1->data)[i] = ((float *)x2->data)[i] = (float)rng_unif(&r) - 0.5f;
            ck_assert_msg(exec_compute(ex, g1) == SENTI_OK, "%s", senti_last_error());
            ck_assert_msg(exec_compute(er, g2) == SENTI_OK, "%s", senti_last_error());
            const double e = node_err(o2, o1->data, o2->data);
            ck_assert_msg(e <= (declined ? 1e-2 : 1e-5), "declined=%d run %d: err %g", declined, run, e);
            graph_free(g1), graph_free(g2);
        }
        exec_free(ex), exec_free(er);
    }
    senti_backend_free(cpu);
    free(w), free(bias);
}
END_TEST

/* ---- golden encoders on the device ------------------------------------------------------------ */

static char g_root[2048];

static int32_t *ints_2d(json_t *rows, int64_t B, int64_t T) {
    int32_t *v = calloc((size_t)(B * T), sizeof *v);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            v[b * T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(rows, (size_t)b), (size_t)t));
    return v;
}

static int64_t argmax(const float *x, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return k;
}

/* as test_encoders: max |a - b| / max(|b|, 1e-2 max|b|) over kept rows */
static double gold_err(const float *a, const float *b, int64_t n, const int32_t *keep, int64_t row) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (!keep || keep[i / row]) mx = fmax(mx, fabs(b[i]));
    const double fl = fmax(1e-2 * mx, 1e-30);
    for (int64_t i = 0; i < n; i++) {
        if (keep && !keep[i / row]) continue;
        const double e = fabs((double)a[i] - b[i]) / fmax(fabs(b[i]), fl);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

/* max |a - b| / max |b| over kept rows: the bound for 16-bit matmuls */
static double gold_err_norm(const float *a, const float *b, int64_t n, const int32_t *keep, int64_t row) {
    double mx = 0, worst = 0;
    for (int64_t i = 0; i < n; i++)
        if (!keep || keep[i / row]) mx = fmax(mx, fabs(b[i])), worst = fmax(worst, fabs((double)a[i] - b[i]));
    return isnan(worst) ? INFINITY : worst / fmax(mx, 1e-30);
}

/* the argmax of a row agrees wherever the golden top two differ by more than
 * twice the allowed error */
static void check_argmax(const char *name, const float *got, const float *want, int64_t row, double slack) {
    const int64_t k = argmax(want, row);
    double second = -INFINITY;
    for (int64_t i = 0; i < row; i++)
        if (i != k) second = fmax(second, want[i]);
    if (want[k] - second > 2 * slack) ck_assert_msg(argmax(got, row) == k, "%s: argmax differs", name);
}

static void golden_dir(const char *name, const char *dtype, double tol) {
    char dir[2400], p[2500];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/%s", g_root, name);
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_error_t jerr;
    json_t *gold = json_load_file(p, 0, &jerr);
    ck_assert_msg(gold != NULL, "%s: %s", p, jerr.text);
    setenv("SENTI_CUDA_DTYPE", dtype, 1);
    senti_model_opts o = senti_model_opts_defaults();
    o.device = "cuda", o.n_threads = 2;
    senti_model *m = senti_model_load_opts(dir, &o);
    unsetenv("SENTI_CUDA_DTYPE");
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    const senti_model_head head = senti_model_get_head(m);
    json_t *batch = json_object_get(gold, "batch"), *bids = json_object_get(batch, "input_ids");
    const int64_t B = (int64_t)json_array_size(bids), T = (int64_t)json_array_size(json_array_get(bids, 0));
    int32_t *ids = ints_2d(bids, B, T), *mask = ints_2d(json_object_get(batch, "attention_mask"), B, T);
    json_t *bt = json_object_get(batch, "token_type_ids");
    int32_t *types = bt ? ints_2d(bt, B, T) : NULL;
    json_t *want = json_object_get(json_object_get(gold, "outputs"),
                                   head == SENTI_HEAD_BASE ? "last_hidden_state" : "logits");
    json_t *wd = json_object_get(want, "data");
    const int64_t n = (int64_t)json_array_size(wd);
    float *wv = malloc((size_t)n * sizeof *wv);
    for (int64_t i = 0; i < n; i++) wv[i] = (float)json_number_value(json_array_get(wd, (size_t)i));
    json_t *ws = json_object_get(want, "shape");
    const int64_t row = json_integer_value(json_array_get(ws, json_array_size(ws) - 1));
    const bool per_token = head != SENTI_HEAD_SEQUENCE_CLASSIFICATION;
    for (int run = 0; run < 3; run++) { /* eager, captured, replayed */
        float *out = NULL;
        int64_t shape[3];
        int nd;
        ck_assert_msg(senti_model_forward(m, ids, types, mask, B, T, &out, shape, &nd) == SENTI_OK, "%s: %s", name,
                      senti_last_error());
        const bool f32 = strcmp(dtype, "f32") == 0;
        const double e = f32 ? gold_err(out, wv, n, per_token ? mask : NULL, row)
                             : gold_err_norm(out, wv, n, per_token ? mask : NULL, row);
        printf("golden %s %s run %d: %s %.3g\n", name, dtype, run, f32 ? "max relative error" : "max error / max", e);
        ck_assert_msg(e <= tol, "%s (%s, run %d): error %g > %g", name, dtype, run, e, tol);
        if (!f32 && head != SENTI_HEAD_BASE) {
            double mx = 0;
            for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(wv[i]));
            for (int64_t r = 0; r < n / row; r++)
                if (!per_token || mask[r]) check_argmax(name, out + r * row, wv + r * row, row, tol * mx);
        }
        senti_model_output_free(out);
    }
    senti_model_free(m);
    free(ids), free(mask), free(types), free(wv);
    json_decref(gold);
}

#define MAX_FIX 64
static char g_names[MAX_FIX][256];
static int g_nfix;

START_TEST(test_golden_f32) { golden_dir(g_names[_i], "f32", 1e-4); }
END_TEST
START_TEST(test_golden_half) {
    golden_dir(g_names[_i], "bf16", 2e-2);
    golden_dir(g_names[_i], "f16", 2e-2);
}
END_TEST

static void list_fixtures(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    char p[2200];
    snprintf(p, sizeof p, "%s/tests/fixtures/encoders", g_root);
    g_nfix = test_list_dir(p, "", g_names[0], MAX_FIX, sizeof g_names[0]);
}

int main(void) {
    char why[200] = "";
    /* without a device: "cuda" must be refused with a message */
    const int count = cuda_device_count(why, sizeof why);
    if (count == 0) {
        senti_backend *be = senti_backend_cuda_init("cuda");
        if (be || !strstr(senti_last_error(), "does not exist") || senti_cuda_device_count() != 0) {
            printf("FAIL: no device, yet senti_backend_cuda_init(\"cuda\") gave %p (%s)\n", (void *)be,
                   senti_last_error());
            return 1;
        }
        printf("SKIP: no CUDA device (%s)\n", why);
        return 77;
    }
    if (senti_backend_cuda_init("gpu:0") || senti_backend_cuda_init("cuda:9999")) {
        printf("FAIL: bad device strings accepted\n");
        return 1;
    }
    const char *s = getenv("SENTI_TEST_SEED");
    g_seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    printf("test_cuda seed=%llu devices=%d\n", (unsigned long long)g_seed, count);
    g_ref = senti_backend_ref_init();
    for (int b = 0; b < N_BE; b++) {
        g_be[b] = cuda_with(BE[b].matmul, BE[b].dtype);
        if (!g_be[b]) {
            printf("FAIL: cuda backend %s: %s\n", BE[b].name, senti_last_error());
            return 1;
        }
    }
    list_fixtures();
    Suite *su = suite_create("cuda");
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 600);
    tcase_add_test(ops, test_elementwise);
    tcase_add_test(ops, test_norms_softmax);
    tcase_add_test(ops, test_matmul);
    tcase_add_test(ops, test_attention);
    tcase_add_test(ops, test_rope_cpy_concat_rows);
    tcase_add_test(ops, test_all_passed);
    tcase_add_test(ops, test_exec);
    suite_add_tcase(su, ops);
    TCase *gold = tcase_create("golden");
    tcase_set_timeout(gold, 600);
    tcase_add_loop_test(gold, test_golden_f32, 0, g_nfix);
    tcase_add_loop_test(gold, test_golden_half, 0, g_nfix);
    suite_add_tcase(su, gold);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK); /* one process: CUDA contexts do not survive fork */
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("test_cuda: op cases %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    for (int b = 0; b < N_BE; b++) senti_backend_free(g_be[b]);
    senti_backend_free(g_ref);
    free(g_wpool);
    return failed ? 1 : 0;
}
#endif /* SENTI_HAVE_CUDA */
