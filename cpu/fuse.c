/* fuse.c — node fusion at compute time: a matmul and the bias add, residual
 * add and activation that follow it become one GEMM whose tiles finish the
 * work in their epilogue (matmul_kern.h), and a residual add feeding a layer
 * or RMS norm is folded into the norm's row pass. Like ggml's backend fusion,
 * the graph is not rewritten: the CPU backend looks ahead from a node,
 * computes the chain into the last node's buffer and skips the rest.
 *
 * Invariants: a node is fused into its consumer only when that consumer is
 * its only reader (the planner's n_uses) and it is not a graph output; the
 * last node's buffer must not overlap any input of the chain (the planner may
 * reuse the memory of a tensor that died inside the chain); every fused step
 * rounds exactly as the separate op does, so the bytes equal the unfused
 * graph's (test_graph checks it). SENTI_FUSE=0 turns fusion off. */
#include <stdlib.h>

#include "cpu_vec.h"
#include "matmul_kern.h"

senti_status cpu_matmul_into(cpu_ctx *ctx, senti_tensor *dst, void *out, const cpu_epi *epi, bool *fused);

void cpu_epi_apply(const cpu_ctx *ctx, const cpu_epi *e, float *C, int64_t ldc, int64_t r0, int64_t rm, int64_t c0,
                   int64_t nc) {
    if (!e || rm <= 0 || nc <= 0) return;
    const cpu_vec_ops *ops = cpu_vec_get(ctx->simd);
    void (*act)(float *, const float *, int64_t) = e->act == SENTI_OP_GELU        ? ops->gelu
                                                   : e->act == SENTI_OP_GELU_TANH ? ops->gelu_tanh
                                                   : e->act == SENTI_OP_RELU      ? ops->relu
                                                   : e->act == SENTI_OP_SILU      ? ops->silu
                                                   : e->act == SENTI_OP_TANH      ? ops->tanh
                                                                                  : NULL;
    for (int64_t i = 0; i < rm; i++) {
        float *c = C + i * ldc;
        if (e->bias) ops->add(c, c, e->bias + c0, nc);
        if (e->res) ops->add(c, c, e->res + (r0 + i) * e->ldr + c0, nc);
        if (act) act(c, c, nc);
    }
}

/* ---- pattern helpers ------------------------------------------------------------- */

/* Only this node reads t (through no view), and t is not an output. */
static bool single_use(const senti_tensor *t) { return t->n_uses == 1 && !(t->flags & SENTI_TFLAG_OUTPUT); }

static bool dense_f32(const senti_tensor *t) { return t->type == SENTI_TYPE_F32 && senti_is_contiguous(t) && t->data; }

/* x a 1-D f32 vector of n along the innermost dim, broadcast over the rest. */
static bool is_bias(const senti_tensor *x, int64_t n) {
    return x->type == SENTI_TYPE_F32 && x->ne[0] == 1 && x->ne[1] == 1 && x->ne[2] == 1 && x->ne[3] == n &&
           (n == 1 || x->nb[3] == sizeof(float)) && x->data;
}

/* The other source of a two-source node whose one source is `cur`, or NULL. */
static senti_tensor *other_src(const senti_tensor *node, const senti_tensor *cur) {
    if (node->src[0] == cur && node->src[1] != cur) return node->src[1];
    if (node->src[1] == cur && node->src[0] != cur) return node->src[0];
    return NULL;
}

static bool overlaps(const senti_tensor *a, const void *p, size_t n) {
    if (!a || !a->data || !p) return false;
    const char *s = a->data, *q = p;
    const size_t m = senti_nbytes(a);
    return s < q + n && q < s + m;
}

static bool fuse_on(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("SENTI_FUSE");
        on = !(e && strcmp(e, "0") == 0);
    }
    return on;
}

/* ---- matmul + bias + residual + activation ------------------------------------------ */

static int fuse_matmul(cpu_ctx *ctx, senti_graph *g, int i, int i1, senti_status *st) {
    senti_tensor *mm = g->nodes[i], *cur = mm;
    const int64_t N = mm->ne[3];
    cpu_epi e = {NULL, NULL, 0, SENTI_OP_COUNT};
    const senti_tensor *bias = NULL, *res = NULL;
    int j = i + 1;
    if (j < i1 && g->nodes[j]->op == SENTI_OP_ADD && single_use(cur)) {
        const senti_tensor *o = other_src(g->nodes[j], cur);
        if (o && is_bias(o, N) && senti_same_shape(g->nodes[j], cur)) {
            bias = o;
            e.bias = o->data;
            cur = g->nodes[j++];
        }
    }
    if (j < i1 && g->nodes[j]->op == SENTI_OP_ADD && single_use(cur)) {
        const senti_tensor *o = other_src(g->nodes[j], cur);
        if (o && senti_same_shape(o, cur) && dense_f32(o) && senti_same_shape(g->nodes[j], cur)) {
            res = o;
            e.res = o->data;
            e.ldr = N;
            cur = g->nodes[j++];
        }
    }
    if (j < i1 && single_use(cur) && g->nodes[j]->src[0] == cur && !g->nodes[j]->src[1]) {
        const senti_op op = g->nodes[j]->op;
        if (op == SENTI_OP_GELU || op == SENTI_OP_GELU_TANH || op == SENTI_OP_RELU || op == SENTI_OP_SILU ||
            op == SENTI_OP_TANH) {
            e.act = op;
            cur = g->nodes[j++];
        }
    }
    if (cur == mm || !dense_f32(cur)) return 0;
    /* the chain's output must not overlap what the chain reads. An exact
     * alias of the residual (the planner gives a residual that dies in the
     * chain's add to the activation after it) is fine only where each tile
     * reads its residual before its one store: the quantized and int8 tiles,
     * one pass over K. The float GEMM stores partial sums per k block, which
     * would overwrite the residual before it is read: not fused (nor on the
     * bf16 dot path, whose tiles read it as they store, kept to the rule). */
    const size_t nbytes = senti_nbytes(cur);
    for (int s = 0; s < 2; s++) {
        const senti_tensor *x = mm->src[s];
        if (overlaps(x->view_src ? x->view_src : x, cur->data, nbytes)) return 0;
    }
    if (bias && overlaps(bias, cur->data, nbytes)) return 0;
    const bool one_pass = senti_type_is_quant(mm->src[1]->type); /* matmuls fuse on the native path only */
    if (res && (res->data != cur->data || !one_pass) && overlaps(res, cur->data, nbytes)) return 0;
    bool done = false;
    *st = cpu_matmul_into(ctx, mm, cur->data, &e, &done);
    if (*st != SENTI_OK) return 1;
    if (!done) return 0;
    ctx->n_fused++;
    return j - i;
}

/* ---- residual add + norm -------------------------------------------------------------- */

typedef struct addnorm_par {
    const cpu_vec_ops *ops;
    const float *a, *b, *w, *bb;
    float *y;
    int64_t n;
    float eps;
    bool layer;
} addnorm_par;

static void addnorm_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const addnorm_par *p = arg;
    (void)ith;
    for (int64_t r = r0; r < r1; r++) {
        float *y = p->y + r * p->n;
        p->ops->add(y, p->a + r * p->n, p->b + r * p->n, p->n);
        if (p->layer) p->ops->layer_norm(y, y, p->w, p->bb, p->n, p->eps);
        else p->ops->rms_norm(y, y, p->w, p->n, p->eps);
    }
}

/* add(a, b) -> layer_norm / rms_norm, both dense and the same shape: each row
 * summed into the norm's output, then normalised in place. */
static int fuse_add_norm(cpu_ctx *ctx, senti_graph *g, int i, int i1) {
    senti_tensor *ad = g->nodes[i];
    if (i + 1 >= i1 || !single_use(ad)) return 0;
    senti_tensor *nm = g->nodes[i + 1];
    if ((nm->op != SENTI_OP_LAYER_NORM && nm->op != SENTI_OP_RMS_NORM) || nm->src[0] != ad) return 0;
    const senti_tensor *a = ad->src[0], *b = ad->src[1];
    const bool layer = nm->op == SENTI_OP_LAYER_NORM;
    const senti_tensor *w = nm->src[1], *bb = layer ? nm->src[2] : NULL;
    const int64_t n = nm->ne[3];
    if (!dense_f32(a) || !dense_f32(b) || !dense_f32(nm) || !senti_same_shape(a, b) || !senti_same_shape(a, nm) ||
        (w && !is_bias(w, n)) || (bb && !is_bias(bb, n)) || n == 0)
        return 0;
    const size_t nbytes = senti_nbytes(nm); /* rows are read then written: exact aliases are fine */
    if ((a->data != nm->data && overlaps(a, nm->data, nbytes)) || (b->data != nm->data && overlaps(b, nm->data, nbytes)))
        return 0;
    const int64_t rows = senti_nrows(nm);
    addnorm_par p = {cpu_vec_get(ctx->simd), a->data, b->data, w ? w->data : NULL, bb ? bb->data : NULL,
                     nm->data, n, senti_param_f(nm, 0), layer};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, rows, 14.0 * (double)n), rows, 0, addnorm_range, &p);
    ctx->n_fused++;
    return 2;
}

int cpu_fuse(cpu_ctx *ctx, senti_graph *g, int i, int i1, senti_status *st) {
    *st = SENTI_OK;
    if (!fuse_on() || !g->planned) return 0;
    const senti_tensor *t = g->nodes[i];
    if (t->op == SENTI_OP_MATMUL && ctx->matmul == CPU_MATMUL_NATIVE) return fuse_matmul(ctx, g, i, i1, st);
    if (t->op == SENTI_OP_ADD) return fuse_add_norm(ctx, g, i, i1);
    return 0;
}
