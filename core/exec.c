/* exec.c — the executor: plan, bind to one arena, run the nodes on a backend
 * (declined nodes on the fallback), and the per-op profiler.
 *
 * Invariant: the arena belongs to the executor and is only grown, never
 * shrunk, so a graph rebuilt per batch shape allocates nothing once warm. */
#include <stdio.h>
#include <stdlib.h>

#include "../kernels/backend.h"
#include "core.h"

typedef struct {
    char name[48];
    senti_op op;
    char shape[64];
    double ms;
    int64_t runs;
} node_prof;

struct senti_exec {
    senti_backend *be, *fallback;
    void *arena;
    size_t arena_cap;
    int64_t arena_allocs;
    bool profile;
    double op_ms[SENTI_OP_COUNT];
    int64_t op_runs[SENTI_OP_COUNT];
    node_prof *nodes;
    int n_nodes, cap_nodes;
};

void senti_backend_free(senti_backend *be) {
    if (be && be->iface->free) be->iface->free(be);
}

senti_exec *exec_init(senti_backend *be, senti_backend *fallback) {
    senti_exec *ex = senti_calloc(1, sizeof *ex);
    if (!ex) {
        senti_error(SENTI_ERR_NO_MEMORY, "exec_init: out of memory");
        return NULL;
    }
    ex->be = be;
    ex->fallback = fallback;
    const char *p = getenv("SENTI_PROFILE");
    ex->profile = p && *p && strcmp(p, "0") != 0;
    return ex;
}

void exec_free(senti_exec *ex) {
    if (!ex) return;
    if (ex->profile && ex->n_nodes) exec_print_profile(ex, stderr);
    if (ex->arena) ex->be->iface->buffer_free(ex->be, ex->arena);
    senti_mfree(ex->nodes);
    senti_mfree(ex);
}

void exec_set_profile(senti_exec *ex, bool on) { ex->profile = on; }

senti_status exec_prepare(senti_exec *ex, senti_graph *g) {
    if (g->status != SENTI_OK) return senti_error(g->status, "graph: %s", g->err);
    if (!g->planned) {
        senti_status st = graph_plan(g);
        if (st != SENTI_OK) return st;
    }
    if (g->arena_size > ex->arena_cap || !ex->arena) {
        if (ex->arena) ex->be->iface->buffer_free(ex->be, ex->arena);
        ex->arena_cap = 0;
        ex->arena = ex->be->iface->buffer_alloc(ex->be, g->arena_size ? g->arena_size : SENTI_ARENA_ALIGN);
        if (!ex->arena)
            return senti_error(SENTI_ERR_NO_MEMORY, "executor: cannot allocate a %zu-byte arena on %s",
                               g->arena_size, ex->be->iface->name);
        ex->arena_cap = g->arena_size;
        ex->arena_allocs++;
    }
    graph_bind(g, ex->arena);
    return SENTI_OK;
}

int64_t exec_arena_allocs(const senti_exec *ex) { return ex->arena_allocs; }

static senti_status run(senti_backend *be, senti_graph *g, int i0, int i1) {
    senti_status st = be->iface->compute(be, g, i0, i1);
    if (st != SENTI_OK && !senti_last_error()[0])
        senti_error(st, "%s backend failed on nodes %d..%d", be->iface->name, i0, i1 - 1);
    return st;
}

static bool on_main(senti_exec *ex, const senti_tensor *t) {
    return senti_op_is_view(t->op) || !ex->fallback || ex->be->iface->supports_op(ex->be, t);
}

static senti_status compute_profiled(senti_exec *ex, senti_graph *g) {
    if (ex->cap_nodes < g->n_nodes) {
        node_prof *np = senti_calloc((size_t)g->n_nodes, sizeof *np);
        if (!np) return senti_error(SENTI_ERR_NO_MEMORY, "profiler: out of memory");
        senti_mfree(ex->nodes);
        ex->nodes = np;
        ex->cap_nodes = g->n_nodes;
        ex->n_nodes = 0;
    }
    if (ex->n_nodes != g->n_nodes) memset(ex->nodes, 0, (size_t)ex->cap_nodes * sizeof *ex->nodes);
    ex->n_nodes = g->n_nodes;
    for (int i = 0; i < g->n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) continue;
        senti_backend *be = on_main(ex, t) ? ex->be : ex->fallback;
        double t0 = senti_time_ms();
        senti_status st = run(be, g, i, i + 1);
        if (be->iface->synchronize) be->iface->synchronize(be);
        double ms = senti_time_ms() - t0;
        if (st != SENTI_OK) return st;
        node_prof *np = &ex->nodes[i];
        snprintf(np->name, sizeof np->name, "%s", t->name);
        senti_shape_str(t, np->shape, sizeof np->shape);
        np->op = t->op;
        np->ms += ms;
        np->runs++;
        ex->op_ms[t->op] += ms;
        ex->op_runs[t->op]++;
    }
    return SENTI_OK;
}

senti_status exec_compute(senti_exec *ex, senti_graph *g) {
    senti_status st = exec_prepare(ex, g);
    if (st != SENTI_OK) return st;
    if (ex->profile) return compute_profiled(ex, g);
    /* runs of consecutive nodes on the same backend */
    int i0 = 0;
    while (i0 < g->n_nodes) {
        bool main = on_main(ex, g->nodes[i0]);
        int i1 = i0 + 1;
        while (i1 < g->n_nodes && on_main(ex, g->nodes[i1]) == main) i1++;
        st = run(main ? ex->be : ex->fallback, g, i0, i1);
        if (st != SENTI_OK) return st;
        i0 = i1;
    }
    if (ex->be->iface->synchronize) ex->be->iface->synchronize(ex->be);
    return SENTI_OK;
}

void exec_print_profile(senti_exec *ex, void *file) {
    FILE *f = file;
    double total = 0;
    for (int op = 0; op < SENTI_OP_COUNT; op++) total += ex->op_ms[op];
    fprintf(f, "senti profile (%s backend): %.3f ms in ops\n", ex->be->iface->name, total);
    fprintf(f, "  %-12s %8s %12s %7s\n", "op", "runs", "ms", "%");
    for (int op = 0; op < SENTI_OP_COUNT; op++) {
        if (!ex->op_runs[op]) continue;
        fprintf(f, "  %-12s %8lld %12.3f %6.1f%%\n", senti_op_name((senti_op)op), (long long)ex->op_runs[op],
                ex->op_ms[op], total > 0 ? 100.0 * ex->op_ms[op] / total : 0.0);
    }
    fprintf(f, "  per node (last graph shape):\n  %5s %-24s %-12s %-20s %10s\n", "id", "name", "op", "shape", "ms/run");
    for (int i = 0; i < ex->n_nodes; i++) {
        node_prof *np = &ex->nodes[i];
        if (!np->runs) continue;
        fprintf(f, "  %5d %-24s %-12s %-20s %10.4f\n", i, np->name, senti_op_name(np->op), np->shape,
                np->ms / (double)np->runs);
    }
}
