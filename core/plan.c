/* plan.c — the memory planner: one arena, offsets by lifetime.
 *
 * A storage tensor (a computed node that is neither a view nor in place, i.e.
 * has no view_src, or a leaf without data) lives
 * from the node that makes it (leafs: from the start) to the last node that
 * reads it directly or through any chain of views; outputs and leafs live to
 * the end. Tensors are placed largest first at the lowest offset that does
 * not overlap any already placed tensor whose lifetime intersects theirs
 * (intervals are inclusive, so a node's output never aliases its inputs). */
#include <stdlib.h>

#include "core.h"

typedef struct {
    senti_tensor *t;
    size_t size;
    int first, last;
    size_t offs;
} slot;

static senti_tensor *storage_of(senti_tensor *t) { return t->view_src ? t->view_src : t; }

static size_t align_up(size_t n) { return (n + SENTI_ARENA_ALIGN - 1) & ~(size_t)(SENTI_ARENA_ALIGN - 1); }

static int by_size_desc(const void *pa, const void *pb) {
    const slot *a = pa, *b = pb;
    if (a->size != b->size) return a->size < b->size ? 1 : -1;
    return a->first - b->first;
}

static int by_offs(const void *pa, const void *pb) {
    const slot *a = *(slot *const *)pa, *b = *(slot *const *)pb;
    return a->offs < b->offs ? -1 : a->offs > b->offs;
}

senti_status graph_plan(senti_graph *g) {
    if (g->status != SENTI_OK) return senti_error(g->status, "graph: %s", g->err);
    const int n_nodes = g->n_nodes;
    int n = 0;
    slot *slots = senti_calloc((size_t)(g->n_nodes + g->n_leafs) + 1, sizeof *slots);
    slot **placed = senti_calloc(2 * (size_t)(g->n_nodes + g->n_leafs) + 1, sizeof *placed); /* placed, then scratch */
    int *slot_of_node = senti_calloc((size_t)n_nodes + 1, sizeof *slot_of_node);
    if (!slots || !placed || !slot_of_node) {
        senti_mfree(slots);
        senti_mfree(placed);
        senti_mfree(slot_of_node);
        return senti_error(SENTI_ERR_NO_MEMORY, "graph_plan: out of memory");
    }

    /* leafs without caller data: live for the whole graph */
    for (int i = 0; i < g->n_leafs; i++) {
        senti_tensor *t = g->leafs[i];
        if (t->offs != SIZE_MAX) t->data = NULL; /* placed by an earlier plan */
        t->offs = SIZE_MAX;
        if (t->data) continue;
        slots[n++] = (slot){t, align_up(senti_nbytes(t)), 0, n_nodes, 0};
    }
    /* computed tensors; views map to their storage */
    for (int i = 0; i < n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        slot_of_node[i] = -1;
        t->offs = SIZE_MAX;
        if (senti_op_is_view(t->op) || t->view_src) continue; /* views and in-place ops (set_rows) */
        slot_of_node[i] = n;
        slots[n++] = (slot){t, align_up(senti_nbytes(t)), i, i, 0};
    }
    /* uses: how many node sources name each tensor (backends fuse a node
     * into its one consumer only when nothing else reads it) */
    for (int i = 0; i < g->n_leafs; i++) g->leafs[i]->n_uses = 0;
    for (int i = 0; i < n_nodes; i++) g->nodes[i]->n_uses = (g->nodes[i]->flags & SENTI_TFLAG_OUTPUT) ? 1 : 0;
    for (int i = 0; i < n_nodes; i++)
        for (int s = 0; s < SENTI_MAX_SRC; s++)
            if (g->nodes[i]->src[s]) g->nodes[i]->src[s]->n_uses++;
    /* lifetimes: each read extends the storage it reads */
    for (int i = 0; i < n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        for (int s = 0; s < SENTI_MAX_SRC; s++) {
            if (!t->src[s]) continue;
            senti_tensor *st = storage_of(t->src[s]);
            if (st->id >= 0 && slot_of_node[st->id] >= 0) {
                slot *sl = &slots[slot_of_node[st->id]];
                if (sl->last < i) sl->last = i;
            }
        }
        if (t->flags & SENTI_TFLAG_OUTPUT) {
            senti_tensor *st = storage_of(t);
            if (st->id >= 0 && slot_of_node[st->id] >= 0) slots[slot_of_node[st->id]].last = n_nodes;
        }
    }

    qsort(slots, (size_t)n, sizeof *slots, by_size_desc);
    size_t peak = 0, sum = 0;
    int n_placed = 0;
    for (int i = 0; i < n; i++) {
        slot *s = &slots[i];
        sum += s->size;
        /* conflicting placed slots, by offset; take the first gap that fits */
        int nc = 0;
        for (int j = 0; j < n_placed; j++)
            if (placed[j]->first <= s->last && s->first <= placed[j]->last) placed[n_placed + nc++] = placed[j];
        qsort(placed + n_placed, (size_t)nc, sizeof *placed, by_offs);
        size_t offs = 0;
        for (int j = 0; j < nc; j++) {
            slot *c = placed[n_placed + j];
            if (s->size == 0 || c->size == 0) continue;
            if (offs + s->size <= c->offs) break;
            if (c->offs + c->size > offs) offs = c->offs + c->size;
        }
        s->offs = offs;
        s->t->offs = offs;
        placed[n_placed++] = s;
        if (offs + s->size > peak) peak = offs + s->size;
    }
    g->arena_size = peak;
    g->sum_size = sum;
    g->planned = true;
    senti_mfree(slots);
    senti_mfree(placed);
    senti_mfree(slot_of_node);
    return SENTI_OK;
}

void graph_bind(senti_graph *g, void *arena) {
    for (int i = 0; i < g->n_leafs; i++)
        if (g->leafs[i]->offs != SIZE_MAX) g->leafs[i]->data = (char *)arena + g->leafs[i]->offs;
    for (int i = 0; i < g->n_nodes; i++) {
        senti_tensor *t = g->nodes[i];
        if (t->offs != SIZE_MAX) t->data = (char *)arena + t->offs;
        else if (t->view_src) t->data = t->view_src->data ? (char *)t->view_src->data + t->view_offs : NULL;
    }
}
