/* graph.c — the graph container: a pool of tensor structs, the node list in
 * execution order and the leaf list. Invariant: every src of a node is a leaf
 * or an earlier node of the same graph. */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"

#define POOL_CHUNK 128

typedef struct pool_chunk {
    struct pool_chunk *next;
    int used;
    senti_tensor t[POOL_CHUNK];
} pool_chunk;

senti_graph *graph_init(void) {
    senti_graph *g = senti_calloc(1, sizeof *g);
    if (!g) senti_error(SENTI_ERR_NO_MEMORY, "graph_init: out of memory");
    return g;
}

void graph_free(senti_graph *g) {
    if (!g) return;
    for (pool_chunk *c = g->pool, *next; c; c = next) {
        next = c->next;
        senti_mfree(c);
    }
    senti_mfree(g->nodes);
    senti_mfree(g->leafs);
    senti_mfree(g);
}

senti_tensor *graph_fail(senti_graph *g, senti_status st, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (g->status == SENTI_OK) {
        g->status = st;
        snprintf(g->err, sizeof g->err, "%s", msg);
    }
    senti_error(st, "%s", msg);
    return NULL;
}

static bool push(senti_graph *g, senti_tensor ***list, int *n, int *cap, senti_tensor *t) {
    if (*n == *cap) {
        int ncap = *cap ? *cap * 2 : 64;
        senti_tensor **nl = senti_malloc((size_t)ncap * sizeof *nl);
        if (!nl) return false;
        if (*n) memcpy(nl, *list, (size_t)*n * sizeof *nl);
        senti_mfree(*list);
        *list = nl;
        *cap = ncap;
    }
    (*list)[(*n)++] = t;
    return true;
}

static senti_tensor *tensor_new(senti_graph *g, senti_type type, int ndim, const int64_t *shape) {
    if ((unsigned)type >= SENTI_TYPE_COUNT)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "tensor: unknown type %d", (int)type);
    if (ndim < 1 || ndim > SENTI_MAX_DIMS)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "tensor: rank %d outside 1..%d", ndim, SENTI_MAX_DIMS);
    int64_t ne[SENTI_MAX_DIMS] = {1, 1, 1, 1};
    size_t total = senti_type_size(type);
    for (int i = 0; i < ndim; i++) {
        int64_t n = shape[i];
        if (n < 0) return graph_fail(g, SENTI_ERR_INVALID_ARG, "tensor: negative size %lld in dim %d", (long long)n, i);
        if (!senti_mul_ok(total, (size_t)n, &total) || total > ((size_t)1 << 48))
            return graph_fail(g, SENTI_ERR_INVALID_ARG, "tensor: size overflows");
        ne[SENTI_MAX_DIMS - ndim + i] = n;
    }
    if (senti_type_is_quant(type) && ne[3] % senti_type_block(type) != 0)
        return graph_fail(g, SENTI_ERR_INVALID_ARG, "tensor: %s innermost dim %lld is not a multiple of %lld",
                          senti_type_name(type), (long long)ne[3], (long long)senti_type_block(type));
    pool_chunk *c = g->pool;
    if (!c || c->used == POOL_CHUNK) {
        c = senti_calloc(1, sizeof *c);
        if (!c) return graph_fail(g, SENTI_ERR_NO_MEMORY, "graph: out of memory");
        c->next = g->pool;
        g->pool = c;
    }
    senti_tensor *t = &c->t[c->used++];
    memset(t, 0, sizeof *t);
    t->type = type;
    t->ndim = ndim;
    memcpy(t->ne, ne, sizeof ne);
    senti_set_dense_strides(t);
    t->id = -1;
    t->offs = SIZE_MAX;
    return t;
}

senti_tensor *graph_new_tensor(senti_graph *g, senti_type type, int ndim, const int64_t *shape) {
    if (!g) return NULL;
    senti_tensor *t = tensor_new(g, type, ndim, shape);
    if (!t) return NULL;
    t->op = SENTI_OP_NONE;
    t->flags = SENTI_TFLAG_INPUT;
    snprintf(t->name, sizeof t->name, "leaf_%d", g->n_leafs);
    if (!push(g, &g->leafs, &g->n_leafs, &g->cap_leafs, t))
        return graph_fail(g, SENTI_ERR_NO_MEMORY, "graph: out of memory");
    g->planned = false;
    return t;
}

senti_tensor *graph_new_tensor_1d(senti_graph *g, senti_type type, int64_t n0) {
    return graph_new_tensor(g, type, 1, (int64_t[]){n0});
}
senti_tensor *graph_new_tensor_2d(senti_graph *g, senti_type type, int64_t n0, int64_t n1) {
    return graph_new_tensor(g, type, 2, (int64_t[]){n0, n1});
}
senti_tensor *graph_new_tensor_3d(senti_graph *g, senti_type type, int64_t n0, int64_t n1, int64_t n2) {
    return graph_new_tensor(g, type, 3, (int64_t[]){n0, n1, n2});
}
senti_tensor *graph_new_tensor_4d(senti_graph *g, senti_type type, int64_t n0, int64_t n1, int64_t n2, int64_t n3) {
    return graph_new_tensor(g, type, 4, (int64_t[]){n0, n1, n2, n3});
}

senti_tensor *graph_new_node(senti_graph *g, senti_op op, senti_type type, int ndim, const int64_t *shape) {
    senti_tensor *t = tensor_new(g, type, ndim, shape);
    if (!t) return NULL;
    t->op = op;
    t->id = g->n_nodes;
    if (!push(g, &g->nodes, &g->n_nodes, &g->cap_nodes, t))
        return graph_fail(g, SENTI_ERR_NO_MEMORY, "graph: out of memory");
    snprintf(t->name, sizeof t->name, "%s_%d", senti_op_name(op), t->id);
    g->planned = false;
    return t;
}

void senti_tensor_set_name(senti_tensor *t, const char *fmt, ...) {
    if (!t) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
}

void graph_set_output(senti_tensor *t) {
    if (t) t->flags |= SENTI_TFLAG_OUTPUT;
}
