/* test_graph.c — graph builder, memory planner, executor, profiler, error
 * paths and allocation-failure handling. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/cpu.h"

static uint64_t seed_state;
static uint64_t next_u64(void) {
    seed_state ^= seed_state << 13;
    seed_state ^= seed_state >> 7;
    seed_state ^= seed_state << 17;
    return seed_state;
}
static float frand(void) { return (float)((double)(next_u64() >> 40) / 16777216.0 * 2.0 - 1.0); }

static senti_tensor *storage(senti_tensor *t) { return t->view_src ? t->view_src : t; }

/* Independently derive lifetimes and check that no two tensors alive at the
 * same time share a byte of the arena. */
static void check_no_overlap(senti_graph *g) {
    const int n = g->n_nodes;
    int *last = malloc(sizeof(int) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) last[i] = i;
    for (int i = 0; i < n; i++) {
        senti_tensor *t = g->nodes[i];
        for (int s = 0; s < SENTI_MAX_SRC; s++)
            if (t->src[s] && storage(t->src[s])->id >= 0 && last[storage(t->src[s])->id] < i) last[storage(t->src[s])->id] = i;
        if (t->flags & SENTI_TFLAG_OUTPUT && storage(t)->id >= 0) last[storage(t)->id] = n;
    }
    for (int i = 0; i < n; i++) {
        senti_tensor *a = g->nodes[i];
        if (senti_op_is_view(a->op)) continue;
        ck_assert_msg(a->offs != SIZE_MAX, "node %d not placed", i);
        ck_assert(a->offs + senti_nbytes(a) <= g->arena_size);
        for (int j = i + 1; j < n; j++) {
            senti_tensor *b = g->nodes[j];
            if (senti_op_is_view(b->op) || senti_nbytes(a) == 0 || senti_nbytes(b) == 0) continue;
            bool live_together = j <= last[i];
            bool overlap = a->offs < b->offs + senti_nbytes(b) && b->offs < a->offs + senti_nbytes(a);
            ck_assert_msg(!(live_together && overlap), "nodes %d [%zu,+%zu) and %d [%zu,+%zu) overlap while alive", i,
                          a->offs, senti_nbytes(a), j, b->offs, senti_nbytes(b));
        }
        /* leafs placed in the arena live throughout */
        for (int l = 0; l < g->n_leafs; l++) {
            senti_tensor *b = g->leafs[l];
            if (b->offs == SIZE_MAX || senti_nbytes(b) == 0) continue;
            bool overlap = a->offs < b->offs + senti_nbytes(b) && b->offs < a->offs + senti_nbytes(a);
            ck_assert_msg(!overlap, "node %d overlaps input leaf %d", i, l);
        }
    }
    free(last);
}

/* A random DAG of element-wise ops, matmuls and views over a few inputs. */
static senti_graph *random_graph(int n_ops, senti_tensor **outs, int *n_outs) {
    senti_graph *g = graph_init();
    senti_tensor *pool[256];
    int np = 0;
    const int64_t R = 1 + (int64_t)(next_u64() % 7), C = 1 + (int64_t)(next_u64() % 37);
    for (int i = 0; i < 3; i++) pool[np++] = graph_new_tensor_2d(g, SENTI_TYPE_F32, R, C);
    senti_tensor *w = graph_new_tensor_2d(g, SENTI_TYPE_F32, C, C);
    for (int k = 0; k < n_ops && np < 256; k++) {
        senti_tensor *a = pool[next_u64() % (uint64_t)np], *b = pool[next_u64() % (uint64_t)np], *t = NULL;
        switch (next_u64() % 7) {
        case 0: t = op_add(g, a, b); break;
        case 1: t = op_mul(g, a, b); break;
        case 2: t = op_gelu(g, a); break;
        case 3: t = op_scale(g, a, 0.5f); break;
        case 4: t = op_matmul(g, a, w, false, true); break;
        case 5: t = op_layer_norm(g, a, NULL, NULL, 1e-5f); break;
        case 6: t = op_cpy(g, op_reshape_2d(g, a, C, R), SENTI_TYPE_F32); t = op_reshape_2d(g, t, R, C); break;
        }
        ck_assert_msg(t != NULL, "%s", senti_last_error());
        pool[np++] = t;
        if (next_u64() % 5 == 0) {
            graph_set_output(t);
            outs[(*n_outs)++] = t;
        }
    }
    graph_set_output(pool[np - 1]);
    outs[(*n_outs)++] = pool[np - 1];
    return g;
}

START_TEST(test_planner_random) {
    for (int trial = 0; trial < 50; trial++) {
        senti_tensor *outs[256];
        int n_outs = 0;
        senti_graph *g = random_graph(10 + trial, outs, &n_outs);
        ck_assert_int_eq(graph_plan(g), SENTI_OK);
        check_no_overlap(g);
        ck_assert_msg(g->arena_size <= g->sum_size, "peak %zu above the sum %zu", g->arena_size, g->sum_size);
        graph_free(g);
    }
}
END_TEST

/* A long chain: memory must be reused, so the peak is well below the sum. */
START_TEST(test_planner_chain_reuses) {
    senti_graph *g = graph_init();
    senti_tensor *x = graph_new_tensor_2d(g, SENTI_TYPE_F32, 64, 64);
    for (int i = 0; i < 40; i++) x = op_gelu(g, x);
    graph_set_output(x);
    ck_assert_int_eq(graph_plan(g), SENTI_OK);
    check_no_overlap(g);
    /* input + two alternating buffers */
    ck_assert_uint_le(g->arena_size, 3 * 64 * 64 * 4);
    ck_assert_uint_lt(g->arena_size, g->sum_size / 4);
    graph_free(g);
}
END_TEST

/* Executing with the shared arena gives what each node computes in its own
 * buffer with the reference (sharing never corrupts a live tensor). */
START_TEST(test_exec_matches_unshared_reference) {
    senti_backend *cpu = senti_backend_cpu_init(2);
    senti_exec *ex = exec_init(cpu, NULL);
    for (int trial = 0; trial < 20; trial++) {
        senti_tensor *outs[256];
        int n_outs = 0;
        senti_graph *g = random_graph(25, outs, &n_outs);
        /* unshared: every leaf and node in its own buffer, computed by the reference */
        void **bufs = calloc((size_t)(g->n_nodes + g->n_leafs), sizeof *bufs);
        for (int i = 0; i < g->n_leafs; i++) {
            senti_tensor *t = g->leafs[i];
            bufs[i] = malloc(senti_nbytes(t) + 1);
            t->data = bufs[i];
            float *p = t->data;
            for (int64_t k = 0; k < senti_nelements(t); k++) p[k] = frand();
        }
        for (int i = 0; i < g->n_nodes; i++) {
            senti_tensor *t = g->nodes[i];
            if (senti_op_is_view(t->op)) {
                t->data = (char *)storage(t)->data + t->view_offs;
                continue;
            }
            bufs[g->n_leafs + i] = malloc(senti_nbytes(t) + 1);
            t->data = bufs[g->n_leafs + i];
            ck_assert_int_eq(ref_compute(t), SENTI_OK);
        }
        float **want = malloc(sizeof(float *) * (size_t)n_outs);
        for (int o = 0; o < n_outs; o++) {
            want[o] = malloc(senti_nbytes(outs[o]) + 1);
            memcpy(want[o], outs[o]->data, senti_nbytes(outs[o]));
        }
        /* planned: leafs keep their (caller-owned) data, nodes share the arena */
        ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
        check_no_overlap(g);
        for (int o = 0; o < n_outs; o++) {
            const float *got = outs[o]->data;
            for (int64_t k = 0; k < senti_nelements(outs[o]); k++) {
                float tol = 1e-4f * (1.0f + fabsf(want[o][k]));
                ck_assert_msg(fabsf(got[k] - want[o][k]) <= tol, "trial %d output %d [%lld]: %g vs %g", trial, o,
                              (long long)k, got[k], want[o][k]);
            }
            free(want[o]);
        }
        free(want);
        for (int i = 0; i < g->n_nodes + g->n_leafs; i++) free(bufs[i]);
        free(bufs);
        graph_free(g);
    }
    exec_free(ex);
    senti_backend_free(cpu);
}
END_TEST

/* Fusion (cpu/fuse.c): a BERT-like layer with every fusable chain — matmul +
 * bias (+ residual either side) (+ activation), add + layer / RMS norm, also
 * on 37 columns (a partial last vector in every tile) — and
 * chains that must not fuse (an intermediate that is an output or read twice)
 * gives the same bytes run whole (fused) as node by node (the profiler's
 * way, never fused), for every weight type. */
static senti_tensor *wleaf(senti_graph *g, senti_type t, int64_t n, int64_t k) {
    senti_tensor *w = graph_new_tensor_2d(g, t, n, k);
    const size_t row = senti_row_size(t, k);
    w->data = malloc(row * (size_t)n);
    float *f = malloc((size_t)k * sizeof *f);
    for (int64_t r = 0; r < n; r++) {
        for (int64_t c = 0; c < k; c++) f[c] = 0.2f * frand();
        senti_row_from_f32(t, f, (char *)w->data + (size_t)r * row, k);
    }
    free(f);
    w->flags = SENTI_TFLAG_WEIGHT | SENTI_TFLAG_CONST;
    return w;
}
static senti_tensor *vleaf(senti_graph *g, int64_t n, float base) {
    senti_tensor *v = graph_new_tensor_1d(g, SENTI_TYPE_F32, n);
    v->data = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) ((float *)v->data)[i] = base + 0.1f * frand();
    v->flags = SENTI_TFLAG_WEIGHT | SENTI_TFLAG_CONST;
    return v;
}

static void end_pass(senti_exec *ex, senti_backend *cpu) {
    exec_set_profile(ex, false);
    exec_free(ex);
    senti_backend_free(cpu);
}
static void free_weights(senti_graph *g) {
    for (int l = 0; l < g->n_leafs; l++)
        if (g->leafs[l]->flags & SENTI_TFLAG_WEIGHT) free(g->leafs[l]->data);
    graph_free(g);
}

START_TEST(test_fusion_bytes) {
    static const senti_type types[] = {SENTI_TYPE_F32, SENTI_TYPE_F16, SENTI_TYPE_BF16, SENTI_TYPE_Q8_0,
                                       SENTI_TYPE_Q4_0, SENTI_TYPE_INT8};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const senti_type wt = types[ti];
        const int64_t B = 3, T = 7, H = 64, I = 160;
        senti_graph *g = graph_init();
        senti_tensor *x = graph_new_tensor_3d(g, SENTI_TYPE_F32, B, T, H);
        senti_tensor *W1 = wleaf(g, wt, I, H), *W2 = wleaf(g, wt, H, I), *W3 = wleaf(g, wt, H, H);
        senti_tensor *b1 = vleaf(g, I, 0), *b2 = vleaf(g, H, 0), *b3 = vleaf(g, H, 0), *lw = vleaf(g, H, 1);
        senti_tensor *f = op_gelu(g, op_add(g, op_matmul(g, x, W1, false, true), b1));      /* mm + bias + act */
        senti_tensor *y = op_add(g, x, op_add(g, op_matmul(g, f, W2, false, true), b2));    /* + residual (src0) */
        senti_tensor *n1 = op_layer_norm(g, y, lw, b3, 1e-5f);
        senti_tensor *z = op_add(g, op_add(g, op_matmul(g, n1, W3, false, true), b3), n1);  /* residual (src1) */
        senti_tensor *n2 = op_rms_norm(g, op_add(g, z, x), lw, 1e-6f);                      /* add + norm */
        senti_tensor *m = op_matmul(g, n2, W3, false, true);                                /* an output: */
        graph_set_output(m);                                                                /* no fusion */
        senti_tensor *r = op_tanh(g, op_add(g, m, b2));
        senti_tensor *u = op_matmul(g, r, W3, false, true); /* read twice: no fusion */
        senti_tensor *o = op_add(g, op_relu(g, u), u);
        graph_set_output(o);
        /* 37 columns: the tiles' last vector is partial (masked bias / residual loads and stores) */
        senti_tensor *W4 = wleaf(g, wt, 37, H), *b4 = vleaf(g, 37, 0);
        senti_tensor *h = op_gelu(g, op_add(g, op_matmul(g, x, W4, false, true), b4));   /* mm + bias + act */
        senti_tensor *h2 = op_add(g, op_add(g, op_matmul(g, x, W4, false, true), b4), h); /* + residual */
        graph_set_output(h); /* its memory is not h2's (an exact alias fuses for quantized weights only) */
        graph_set_output(h2);
        ck_assert_ptr_nonnull(h2);
        senti_tensor *outs[] = {m, o, h, h2};
        enum { NOUT = sizeof outs / sizeof outs[0] };
        float *want[NOUT];
        for (int pass = 0; pass < 2; pass++) {
            senti_backend *cpu = senti_backend_cpu_init(2);
            senti_exec *ex = exec_init(cpu, NULL);
            exec_set_profile(ex, pass == 0); /* pass 0: node by node */
            ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
            seed_state = 77;
            for (int64_t k = 0; k < senti_nelements(x); k++) ((float *)x->data)[k] = frand();
            ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
            const int64_t fused = cpu_backend_ctx(cpu)->n_fused;
            if (pass == 0) {
                ck_assert_int_eq(fused, 0);
                for (int k = 0; k < NOUT; k++) {
                    want[k] = malloc(senti_nbytes(outs[k]));
                    memcpy(want[k], outs[k]->data, senti_nbytes(outs[k]));
                }
            } else {
                ck_assert_msg(fused == 6, "%s: %lld chains fused, expected 6", senti_type_name(wt), (long long)fused);
                for (int k = 0; k < NOUT; k++) {
                    ck_assert_msg(memcmp(want[k], outs[k]->data, senti_nbytes(outs[k])) == 0,
                                  "%s: output %d differs fused vs unfused", senti_type_name(wt), k);
                    free(want[k]);
                }
            }
            end_pass(ex, cpu);
        }
        free_weights(g);
    }
}
END_TEST

/* A residual whose memory the planner hands to the chain's output (it dies
 * at the residual add, the activation after it is born there): matmul (K =
 * 800, more than one k block of the float GEMM) + bias + residual + GELU,
 * fused, gives the bytes of the node-by-node run for every weight type. */
START_TEST(test_fusion_residual_alias) {
    static const senti_type types[] = {SENTI_TYPE_F32, SENTI_TYPE_F16, SENTI_TYPE_BF16, SENTI_TYPE_Q8_0,
                                       SENTI_TYPE_Q4_0, SENTI_TYPE_INT8};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const senti_type wt = types[ti];
        const int64_t B = 2, T = 5, H = 32, K = 800, N = 1024;
        senti_graph *g = graph_init();
        senti_tensor *x = graph_new_tensor_3d(g, SENTI_TYPE_F32, B, T, H);
        senti_tensor *W0 = wleaf(g, SENTI_TYPE_F32, N, H), *W1 = wleaf(g, SENTI_TYPE_F32, K, H), *W2 = wleaf(g, wt, N, K);
        senti_tensor *b = vleaf(g, N, 0);
        senti_tensor *r = op_tanh(g, op_matmul(g, x, W0, false, true));    /* the residual, read once below */
        senti_tensor *a = op_matmul(g, x, W1, false, true);               /* [B, T, K] */
        senti_tensor *o = op_gelu(g, op_add(g, op_add(g, op_matmul(g, a, W2, false, true), b), r));
        graph_set_output(o);
        for (int pass = 0; pass < 2; pass++) {
            senti_backend *cpu = senti_backend_cpu_init(2);
            senti_exec *ex = exec_init(cpu, NULL);
            exec_set_profile(ex, pass == 0); /* pass 0: node by node */
            ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
            ck_assert_msg(storage(o)->offs == storage(r)->offs, "the planner no longer gives o the residual's memory");
            seed_state = 91;
            for (int64_t k = 0; k < senti_nelements(x); k++) ((float *)x->data)[k] = frand();
            ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
            static float want[2 * 5 * 1024];
            if (pass == 0)
                memcpy(want, o->data, sizeof want);
            else
                ck_assert_msg(memcmp(want, o->data, sizeof want) == 0, "%s: fused output differs from node by node",
                              senti_type_name(wt));
            end_pass(ex, cpu);
        }
        free_weights(g);
    }
}
END_TEST

/* The executor falls back for ops the main backend declines. */
static bool decline_gelu(senti_backend *be, const senti_tensor *t) { return t->op != SENTI_OP_GELU; }
static int fallback_calls;
static senti_status counting_compute(senti_backend *be, senti_graph *g, int i0, int i1) {
    fallback_calls += i1 - i0;
    for (int i = i0; i < i1; i++)
        if (!senti_op_is_view(g->nodes[i]->op)) ck_assert_int_eq(ref_compute(g->nodes[i]), SENTI_OK);
    return SENTI_OK;
}

START_TEST(test_exec_fallback) {
    senti_backend *cpu = senti_backend_cpu_init(1);
    senti_backend *ref = senti_backend_ref_init();
    senti_backend_i picky = *cpu->iface, fb = *ref->iface;
    picky.supports_op = decline_gelu;
    fb.compute = counting_compute;
    senti_backend main_be = {&picky, cpu->ctx}, fb_be = {&fb, ref->ctx};
    senti_exec *ex = exec_init(&main_be, &fb_be);
    senti_graph *g = graph_init();
    senti_tensor *x = graph_new_tensor_1d(g, SENTI_TYPE_F32, 5);
    senti_tensor *y = op_scale(g, op_gelu(g, op_scale(g, x, 2.0f)), 3.0f);
    graph_set_output(y);
    ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
    float *xi = x->data;
    for (int i = 0; i < 5; i++) xi[i] = (float)i - 2.0f;
    fallback_calls = 0;
    ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
    ck_assert_int_eq(fallback_calls, 1);
    const float *yo = y->data;
    for (int i = 0; i < 5; i++) {
        double v = 2.0 * (i - 2.0);
        double want = 3.0 * 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
        ck_assert_msg(fabs(yo[i] - want) < 1e-5, "%d: %g vs %g", i, yo[i], want);
    }
    graph_free(g);
    exec_free(ex);
    senti_backend_free(ref);
    senti_backend_free(cpu);
}
END_TEST

/* set_rows through the planner and executor: the write lands in the caller's
 * buffer in place (nothing of the node is placed in the arena), readers of
 * the result see the new rows, the stored rows' producer stays alive until
 * the write, and later nodes do not clobber it first. */
START_TEST(test_set_rows_in_place) {
    senti_backend *cpu = senti_backend_cpu_init(1);
    senti_exec *ex = exec_init(cpu, NULL);
    senti_graph *g = graph_init();
    float cache[6 * 4];
    for (int i = 0; i < 24; i++) cache[i] = (float)i;
    senti_tensor *c = graph_new_tensor_2d(g, SENTI_TYPE_F32, 6, 4);
    c->data = cache;
    c->flags = SENTI_TFLAG_WEIGHT;
    senti_tensor *x = graph_new_tensor_2d(g, SENTI_TYPE_F32, 2, 4);
    senti_tensor *idx = graph_new_tensor_1d(g, SENTI_TYPE_I32, 2);
    senti_tensor *y = op_scale(g, x, 2.0f);                               /* stored rows */
    senti_tensor *s = op_set_rows(g, c, y, idx);
    senti_tensor *z = op_scale(g, op_scale(g, x, 5.0f), 1.0f);            /* unrelated, after */
    senti_tensor *r = op_add(g, op_slice(g, op_reshape_3d(g, s, 2, 3, 4), 1, 0, 2), op_slice(g, z, 0, 0, 1));
    graph_set_output(r);
    ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
    ck_assert(s->offs == SIZE_MAX && s->data == cache);
    float *xi = x->data;
    for (int i = 0; i < 8; i++) xi[i] = 100.0f + (float)i;
    ((int32_t *)idx->data)[0] = 4, ((int32_t *)idx->data)[1] = 1;
    ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
    float want[24];
    for (int i = 0; i < 24; i++) want[i] = (float)i;
    for (int d = 0; d < 4; d++) want[4 * 4 + d] = 2.0f * xi[d], want[1 * 4 + d] = 2.0f * xi[4 + d];
    for (int i = 0; i < 24; i++) ck_assert_msg(cache[i] == want[i], "cache[%d] = %g, want %g", i, cache[i], want[i]);
    /* r[b, t] = cache rows (3b + t) for t < 2, plus 5 x[0] */
    const float *ro = r->data;
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 2; t++)
            for (int d = 0; d < 4; d++)
                ck_assert_float_eq(ro[(b * 2 + t) * 4 + d], want[(3 * b + t) * 4 + d] + 5.0f * xi[d]);
    graph_free(g);
    exec_free(ex);
    senti_backend_free(cpu);
}
END_TEST

START_TEST(test_profile_output) {
    senti_backend *cpu = senti_backend_cpu_init(1);
    senti_exec *ex = exec_init(cpu, NULL);
    exec_set_profile(ex, true);
    senti_graph *g = graph_init();
    senti_tensor *x = graph_new_tensor_2d(g, SENTI_TYPE_F32, 4, 8);
    senti_tensor_set_name(x, "input");
    senti_tensor *y = op_softmax(g, op_gelu(g, x), NULL, 1.0f);
    senti_tensor_set_name(y, "probs");
    graph_set_output(y);
    ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
    memset(x->data, 0, senti_nbytes(x));
    ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
    ck_assert_int_eq(exec_compute(ex, g), SENTI_OK);
    FILE *f = tmpfile();
    exec_print_profile(ex, f);
    rewind(f);
    char buf[4096] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    ck_assert_ptr_nonnull(strstr(buf, "gelu"));
    ck_assert_ptr_nonnull(strstr(buf, "softmax"));
    ck_assert_ptr_nonnull(strstr(buf, "probs"));
    exec_set_profile(ex, false);
    graph_free(g);
    exec_free(ex);
    senti_backend_free(cpu);
}
END_TEST

/* Bad shapes and dtypes are refused with a message, and a failure inside a
 * chain propagates as NULL to the end and into exec_compute. */
START_TEST(test_errors) {
    senti_graph *g = graph_init();
    senti_clear_error();
    ck_assert_ptr_null(graph_new_tensor(g, SENTI_TYPE_F32, 5, (int64_t[]){1, 1, 1, 1, 1}));
    ck_assert_str_ne(senti_last_error(), "");
    ck_assert_ptr_null(graph_new_tensor_1d(g, SENTI_TYPE_F32, -3));
    ck_assert_ptr_null(graph_new_tensor_2d(g, SENTI_TYPE_Q8_0, 4, 33));
    ck_assert_ptr_null(graph_new_tensor_2d(g, (senti_type)99, 4, 4));
    ck_assert_ptr_null(graph_new_tensor_2d(g, SENTI_TYPE_F32, INT64_C(1) << 40, INT64_C(1) << 30));
    ck_assert_int_ne(g->status, SENTI_OK);
    graph_free(g);

    g = graph_init();
    senti_tensor *a = graph_new_tensor_2d(g, SENTI_TYPE_F32, 3, 4), *b = graph_new_tensor_2d(g, SENTI_TYPE_F32, 5, 6);
    senti_tensor *i = graph_new_tensor_1d(g, SENTI_TYPE_I32, 4);
    senti_clear_error();
    senti_tensor *bad = op_add(g, a, b);
    ck_assert_ptr_null(bad);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "broadcast"));
    ck_assert_ptr_null(op_gelu(g, bad));          /* NULL propagates */
    ck_assert_ptr_null(op_gelu(g, i));            /* i32 activation */
    ck_assert_ptr_null(op_matmul(g, a, b, false, false)); /* K mismatch */
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "inner dims"));
    ck_assert_ptr_null(op_reshape_2d(g, a, 5, 5));
    ck_assert_ptr_null(op_slice(g, a, 1, 2, 9));
    ck_assert_ptr_null(op_permute(g, a, (int[]){0, 0}));
    ck_assert_ptr_null(op_concat(g, a, b, 0));
    ck_assert_ptr_null(op_layer_norm(g, a, b, NULL, 1e-5f));
    senti_backend *cpu = senti_backend_cpu_init(1);
    senti_exec *ex = exec_init(cpu, NULL);
    ck_assert_int_eq(exec_compute(ex, g), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "broadcast")); /* the first failure is reported */
    graph_free(g);

    /* an embedding id out of range is a compute error, not a crash */
    g = graph_init();
    senti_tensor *table = graph_new_tensor_2d(g, SENTI_TYPE_F32, 10, 4);
    senti_tensor *ids = graph_new_tensor_1d(g, SENTI_TYPE_I32, 3);
    senti_tensor *e = op_get_rows(g, table, ids);
    graph_set_output(e);
    ck_assert_int_eq(exec_prepare(ex, g), SENTI_OK);
    memset(table->data, 0, senti_nbytes(table));
    ((int32_t *)ids->data)[0] = 1, ((int32_t *)ids->data)[1] = 10, ((int32_t *)ids->data)[2] = 2;
    senti_clear_error();
    ck_assert_int_ne(exec_compute(ex, g), SENTI_OK);
    ck_assert_str_ne(senti_last_error(), "");
    ((int32_t *)ids->data)[1] = -1;
    ck_assert_int_ne(exec_compute(ex, g), SENTI_OK);
    graph_free(g);
    exec_free(ex);
    senti_backend_free(cpu);
}
END_TEST

/* Fail the n-th allocation for every n: each failure is reported cleanly and
 * nothing leaks (the sanitizer build checks leaks). */
static int alloc_countdown;
static void *failing_alloc(size_t size, size_t align, void *user) {
    if (alloc_countdown-- == 0) return NULL;
    void *p = NULL;
    return posix_memalign(&p, align, size ? size : align) == 0 ? p : NULL;
}
static void plain_free(void *p, void *user) { free(p); }

static senti_status build_and_run(void) {
    senti_status st = SENTI_ERR_NO_MEMORY;
    senti_backend *cpu = senti_backend_cpu_init(1);
    senti_exec *ex = cpu ? exec_init(cpu, NULL) : NULL;
    senti_graph *g = graph_init();
    if (cpu && ex && g) {
        senti_tensor *x = graph_new_tensor_2d(g, SENTI_TYPE_F32, 8, 16);
        senti_tensor *w = graph_new_tensor_2d(g, SENTI_TYPE_F32, 16, 16);
        senti_tensor *y = x;
        for (int k = 0; k < 150; k++) y = op_gelu(g, op_matmul(g, y, w, false, true)); /* several pool chunks */
        graph_set_output(y);
        st = exec_prepare(ex, g);
        if (st == SENTI_OK) {
            memset(x->data, 0, senti_nbytes(x));
            memset(w->data, 0, senti_nbytes(w));
            st = exec_compute(ex, g);
        }
    }
    graph_free(g);
    exec_free(ex);
    senti_backend_free(cpu);
    return st;
}

START_TEST(test_alloc_failures) {
    senti_allocator a = {failing_alloc, plain_free, NULL};
    int failures = 0;
    for (int n = 0;; n++) {
        alloc_countdown = n;
        senti_set_allocator(&a);
        senti_clear_error();
        senti_status st = build_and_run();
        senti_set_allocator(NULL);
        if (alloc_countdown >= 0) { /* the n-th allocation was never reached: done */
            ck_assert_int_eq(st, SENTI_OK);
            break;
        }
        ck_assert_int_ne(st, SENTI_OK);
        failures++;
    }
    ck_assert_int_gt(failures, 3);
}
END_TEST

int main(void) {
    const char *s = getenv("SENTI_TEST_SEED");
    seed_state = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL);
    if (!seed_state) seed_state = 1;
    printf("test_graph seed=%llu (SENTI_TEST_SEED to replay)\n", (unsigned long long)seed_state);
    Suite *su = suite_create("graph");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_planner_random);
    tcase_add_test(tc, test_planner_chain_reuses);
    tcase_add_test(tc, test_exec_matches_unshared_reference);
    tcase_add_test(tc, test_exec_fallback);
    tcase_add_test(tc, test_set_rows_in_place);
    tcase_add_test(tc, test_profile_output);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_fusion_bytes);
    tcase_add_test(tc, test_fusion_residual_alias);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
