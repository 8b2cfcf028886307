/* attention.c — CPU fused attention (flash-attention style, online softmax)
 * and the unfused baseline the benchmarks compare it with.
 *
 * Layout: q [B,Tq,Hq,D], k [B,Tk,Hkv,D], v [B,Tk,Hkv,Dv] (innermost dims
 * contiguous, other strides free), mask NULL or 4-D broadcastable to
 * [B,Hq,Tq,Tk], out [B,Tq,Hq,Dv] contiguous; head h reads kv head h/(Hq/Hkv);
 * query i sits at position Tk-Tq+i under causal. A query that sees no key
 * gives zeros.
 *
 * Fused: work items are (batch, head, block of ATT_BQ queries), spread over
 * threads. Each item walks the visible keys in blocks of ATT_BK: it packs the
 * block of K transposed ([D][ATT_BK]) in per-thread scratch, computes the
 * ATT_BQ x ATT_BK score tile with SIMD outer products, and folds it into the
 * running max m, sum l and output accumulator o (o = o * e^{m_old-m_new} +
 * P V). Per thread: one score tile, one K tile, one o tile — nothing of size
 * Tq x Tk exists. */
#include <math.h>

#include "cpu_vec.h"

#ifndef ATT_BQ
#define ATT_BQ 128
#endif
#ifndef ATT_BK
#define ATT_BK 128
#endif

typedef struct att_args {
    const senti_tensor *q, *k, *v, *mask;
    senti_tensor *dst;
    int64_t B, Tq, Tk, Hq, Hkv, D, Dv;
    int64_t t0;  /* packed sequences: the sequence's first token (k, v rows) */
    int64_t tq0; /* its first query (q, dst rows): t0, or s with first-token queries */
    int64_t window; /* packed sequences: keys within window - 1 of the query (0: all) */
    float scale;
    bool causal;
} att_args;

static senti_status att_setup(senti_tensor *dst, att_args *a) {
    a->q = dst->src[0];
    a->k = dst->src[1];
    a->v = dst->src[2];
    a->mask = dst->src[3];
    a->dst = dst;
    a->B = a->q->ne[0];
    a->Tq = a->q->ne[1];
    a->Hq = a->q->ne[2];
    a->D = a->q->ne[3];
    a->Tk = a->k->ne[1];
    a->Hkv = a->k->ne[2];
    a->Dv = a->v->ne[3];
    a->t0 = a->tq0 = a->window = 0;
    a->scale = senti_param_f(dst, 0);
    a->causal = dst->params[1] != 0;
    if (a->q->type != SENTI_TYPE_F32 || a->k->type != SENTI_TYPE_F32 || a->v->type != SENTI_TYPE_F32 ||
        (a->mask && a->mask->type != SENTI_TYPE_F32))
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: attention needs f32 q, k, v and mask", dst->name);
    if ((a->D > 1 && (a->q->nb[3] != 4 || a->k->nb[3] != 4)) || (a->Dv > 1 && a->v->nb[3] != 4))
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: attention needs contiguous innermost dims", dst->name);
    if (a->Hkv <= 0 || a->Hq % a->Hkv != 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: %lld query heads not a multiple of %lld kv heads", dst->name,
                           (long long)a->Hq, (long long)a->Hkv);
    return SENTI_OK;
}

static inline const float *q_row(const att_args *a, int64_t b, int64_t i, int64_t h) {
    return (const float *)senti_row_ptr(a->q, b, a->tq0 + i, h);
}
static inline const float *k_row(const att_args *a, int64_t b, int64_t j, int64_t h) {
    return (const float *)senti_row_ptr(a->k, b, a->t0 + j, h);
}
static inline const float *v_row(const att_args *a, int64_t b, int64_t j, int64_t h) {
    return (const float *)senti_row_ptr(a->v, b, a->t0 + j, h);
}
/* mask row (b, h, i) from key 0, and its key stride in bytes (0: broadcast) */
static inline const char *mask_row(const att_args *a, int64_t b, int64_t h, int64_t i, size_t *ms) {
    const senti_tensor *m = a->mask;
    *ms = m->ne[3] == 1 ? 0 : m->nb[3];
    return (const char *)m->data + senti_bcast_offs(m, b, h, i, 0);
}
/* keys visible to query i: j < n_visible (all Tk without causal) */
static inline int64_t n_visible(const att_args *a, int64_t i) {
    if (!a->causal) return a->Tk;
    int64_t n = a->Tk - a->Tq + i + 1;
    return n < 0 ? 0 : (n > a->Tk ? a->Tk : n);
}

/* ---- fused ------------------------------------------------------------------ */

typedef struct att_scratch {
    float *kt; /* [D][ATT_BK] */
    float *s;  /* [ATT_BQ][ATT_BK] */
    float *o;  /* [ATT_BQ][dvp] */
    float *m, *l;
} att_scratch;

static size_t att_slice_bytes(int64_t D, int64_t dvp) {
    return cpu_vec_round64((size_t)D * ATT_BK * 4) + cpu_vec_round64((size_t)ATT_BQ * ATT_BK * 4) +
           cpu_vec_round64((size_t)ATT_BQ * (size_t)dvp * 4) + 2 * cpu_vec_round64(ATT_BQ * 4);
}

static void att_block(const cpu_vec_ops *ops, const att_args *a, att_scratch *sc, int64_t dvp, int64_t b,
                      int64_t h, int64_t i0) {
    const int64_t nq = a->Tq - i0 < ATT_BQ ? a->Tq - i0 : ATT_BQ, D = a->D, Dv = a->Dv;
    const int64_t hk = h / (a->Hq / a->Hkv);
    const int64_t kend = n_visible(a, i0 + nq - 1); /* keys any row of the block sees */
    for (int64_t r = 0; r < nq; r++) {
        sc->m[r] = -INFINITY;
        sc->l[r] = 0.0f;
    }
    for (int64_t r = 0; r < nq * dvp; r++) sc->o[r] = 0.0f;

    for (int64_t j0 = 0; j0 < kend; j0 += ATT_BK) {
        const int64_t nk = kend - j0 < ATT_BK ? kend - j0 : ATT_BK, nkp = (nk + 15) & ~(int64_t)15;
        ops->pack_kt(sc->kt, nkp, k_row(a, b, j0, hk), a->k->nb[1], nk, D); /* K^T: kt[d][j] */
        ops->attn_scores(sc->s, nkp, q_row(a, b, i0, h), a->q->nb[1], nq, sc->kt, nkp, nkp, D, a->scale);

        for (int64_t r = 0; r < nq; r++) {
            float *s = sc->s + r * nkp;
            if (a->mask) {
                size_t ms;
                const char *mp = mask_row(a, b, h, i0 + r, &ms) + (size_t)j0 * ms;
                if (ms == sizeof(float))
                    ops->add(s, s, (const float *)mp, nk);
                else if (ms == 0)
                    ops->adds(s, s, *(const float *)mp, nk);
                else
                    for (int64_t j = 0; j < nk; j++) s[j] += *(const float *)(mp + (size_t)j * ms);
            }
            int64_t vis = n_visible(a, i0 + r) - j0;
            for (int64_t j = vis < 0 ? 0 : vis; j < nk; j++) s[j] = -INFINITY;
            if (a->window > 0) { /* keys farther than the window: + -inf, as the padded batch's mask adds */
                const int64_t w = a->window - 1, lo = i0 + r - w - j0, hi = i0 + r + w - j0; /* visible: [lo, hi] */
                for (int64_t j = 0; j < nk && j < lo; j++) s[j] += -INFINITY;
                for (int64_t j = hi < 0 ? 0 : hi + 1; j < nk; j++) s[j] += -INFINITY;
            }
            float mx = ops->max(s, nk), mold = sc->m[r];
            float mnew = mx > mold || mx != mx ? mx : mold; /* NaN sticks */
            if (mnew == -INFINITY) { /* nothing visible yet: contributes nothing */
                for (int64_t j = 0; j < nk; j++) s[j] = 0.0f;
                continue;
            }
            float sum = ops->exp_sum(s, nk, mnew);
            float alpha = expf(mold - mnew); /* 0 when mold is -inf */
            if (alpha != 1.0f && mold != -INFINITY) ops->muls(sc->o + r * dvp, sc->o + r * dvp, alpha, dvp);
            sc->l[r] = sc->l[r] * alpha + sum;
            sc->m[r] = mnew;
        }
        ops->attn_pv(sc->o, dvp, sc->s, nkp, nq, v_row(a, b, j0, hk), a->v->nb[1], nk, Dv);
    }
    for (int64_t r = 0; r < nq; r++) {
        float *out = (float *)senti_row_ptr(a->dst, b, a->tq0 + i0 + r, h);
        float l = sc->l[r];
        if (l > 0.0f || l != l) /* NaN scores give NaN, as the reference */
            ops->muls(out, sc->o + r * dvp, 1.0f / l, Dv);
        else
            for (int64_t c = 0; c < Dv; c++) out[c] = 0.0f;
    }
}

typedef struct {
    const cpu_vec_ops *ops;
    const att_args *a;
    char *base;
    size_t slice;
    int64_t dvp, nqb;
} att_par;

static void att_range(void *arg, int64_t it0, int64_t it1, int ith) {
    const att_par *ap = arg;
    const att_args *a = ap->a;
    char *p = cpu_vec_slice(ap->base, ap->slice, ith);
    att_scratch sc;
    sc.kt = (float *)p;
    p += cpu_vec_round64((size_t)a->D * ATT_BK * 4);
    sc.s = (float *)p;
    p += cpu_vec_round64((size_t)ATT_BQ * ATT_BK * 4);
    sc.o = (float *)p;
    p += cpu_vec_round64((size_t)ATT_BQ * (size_t)ap->dvp * 4);
    sc.m = (float *)p;
    p += cpu_vec_round64(ATT_BQ * 4);
    sc.l = (float *)p;
    for (int64_t it = it0; it < it1; it++) {
        const int64_t qb = it % ap->nqb, bh = it / ap->nqb;
        att_block(ap->ops, a, &sc, ap->dvp, bh / a->Hq, bh % a->Hq, qb * ATT_BQ);
    }
}

CPU_KERNEL(attention) {
    att_args a;
    senti_status st = att_setup(dst, &a);
    if (st != SENTI_OK) return st;
    const int64_t nqb = (a.Tq + ATT_BQ - 1) / ATT_BQ, items = a.B * a.Hq * nqb;
    if (items == 0 || a.Dv == 0) return SENTI_OK;
    const int64_t dvp = (a.Dv + 15) & ~(int64_t)15;
    const cpu_vec_ops *ops = cpu_vec_get(ctx->simd);
    int nth = cpu_vec_threads(ctx, items, 4.0 * (double)(a.Tk + 1) * (double)(a.D + a.Dv) * (double)(a.Tq < ATT_BQ ? a.Tq : ATT_BQ));
    const size_t slice = att_slice_bytes(a.D, dvp);
    char *base = cpu_scratch(ctx, slice * (size_t)nth);
    if (!base) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for attention (%zu bytes)", dst->name, slice * (size_t)nth);
    att_par ap = {ops, &a, base, slice, dvp, nqb};
    cpu_parallel_for(ctx, nth, items, 1, att_range, &ap);
    return SENTI_OK;
}

/* ---- packed sequences ---------------------------------------------------------
 * Each sequence runs as op_attention on that sequence alone (att_block with
 * the sequence's first token as t0): key tiles start at the sequence's first
 * key, so the bytes equal the padded batch's. Items: (sequence, head, block
 * of queries), spread dynamically. First-token queries (params[2]) are the
 * block of one query row s: every kernel computes a query row the same way
 * whichever rows share its block (the score and PV tiles accumulate each row
 * alone, over D and the keys in order), so row s's bytes equal row offs[s]
 * of the full op's. */

typedef struct {
    const cpu_vec_ops *ops;
    const att_args *base;
    const int32_t *offs;
    const int64_t *item0; /* first item of each sequence, [S + 1] */
    int64_t S, dvp;
    char *scratch;
    size_t slice;
    bool first; /* one query per sequence (q / dst row s) */
} varlen_par;

static void varlen_range(void *arg, int64_t it0, int64_t it1, int ith) {
    const varlen_par *vp = arg;
    char *p = cpu_vec_slice(vp->scratch, vp->slice, ith);
    att_scratch sc;
    sc.kt = (float *)p;
    p += cpu_vec_round64((size_t)vp->base->D * ATT_BK * 4);
    sc.s = (float *)p;
    p += cpu_vec_round64((size_t)ATT_BQ * ATT_BK * 4);
    sc.o = (float *)p;
    p += cpu_vec_round64((size_t)ATT_BQ * (size_t)vp->dvp * 4);
    sc.m = (float *)p;
    p += cpu_vec_round64(ATT_BQ * 4);
    sc.l = (float *)p;
    int64_t s = 0;
    for (int64_t it = it0; it < it1; it++) {
        while (vp->item0[s + 1] <= it) s++;
        att_args a = *vp->base;
        a.t0 = vp->offs[s];
        a.tq0 = vp->first ? s : a.t0;
        a.Tk = vp->offs[s + 1] - vp->offs[s];
        a.Tq = vp->first ? 1 : a.Tk;
        const int64_t nqb = (a.Tq + ATT_BQ - 1) / ATT_BQ, local = it - vp->item0[s];
        att_block(vp->ops, &a, &sc, vp->dvp, 0, local / nqb, local % nqb * ATT_BQ);
    }
}

CPU_KERNEL(attention_varlen) {
    att_args a;
    const senti_tensor *offs = dst->src[3];
    dst->src[3] = NULL; /* att_setup reads src[3] as a mask */
    senti_status st = att_setup(dst, &a);
    dst->src[3] = (senti_tensor *)offs;
    if (st != SENTI_OK) return st;
    const bool first = dst->params[2] != 0;
    a.window = dst->params[3];
    const int64_t S = offs->ne[3] - 1, T = a.Tk;
    const int32_t *o = offs->data;
    if (o[0] != 0 || o[S] != T)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: sequence offsets must run from 0 to %lld", dst->name, (long long)T);
    int64_t tq_max = 0, tk_max = 0, items = 0;
    for (int64_t s = 0; s < S; s++) {
        if (o[s + 1] < o[s])
            return senti_error(SENTI_ERR_INVALID_ARG, "%s: sequence offset %lld decreases", dst->name, (long long)s + 1);
        const int64_t n = o[s + 1] - o[s], nq = first ? n > 0 : n;
        items += a.Hq * ((nq + ATT_BQ - 1) / ATT_BQ);
        if (nq > tq_max) tq_max = nq;
        if (n > tk_max) tk_max = n;
        if (first && !n) /* no first token: zeros, as a query that sees no key */
            for (int64_t h = 0; h < a.Hq; h++)
                for (int64_t c = 0; c < a.Dv; c++) ((float *)senti_row_ptr(dst, 0, s, h))[c] = 0.0f;
    }
    if (items == 0 || a.Dv == 0) return SENTI_OK;
    const int64_t dvp = (a.Dv + 15) & ~(int64_t)15;
    const cpu_vec_ops *ops = cpu_vec_get(ctx->simd);
    const int nth = cpu_vec_threads(ctx, items, 4.0 * (double)(tk_max + 1) * (double)(a.D + a.Dv) *
                                                    (double)(tq_max < ATT_BQ ? tq_max : ATT_BQ));
    const size_t slice = att_slice_bytes(a.D, dvp), head = cpu_vec_round64((size_t)(S + 2) * sizeof(int64_t));
    char *base = cpu_scratch(ctx, head + slice * (size_t)nth); /* item0, then the per-thread slices */
    if (!base) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for attention", dst->name);
    int64_t *item0 = (int64_t *)base;
    item0[0] = 0;
    for (int64_t s = 0; s < S; s++) {
        const int64_t n = o[s + 1] - o[s], nq = first ? n > 0 : n;
        item0[s + 1] = item0[s] + a.Hq * ((nq + ATT_BQ - 1) / ATT_BQ);
    }
    varlen_par vp = {ops, &a, o, item0, S, dvp, base + head, slice, first};
    cpu_parallel_for(ctx, nth, items, 1, varlen_range, &vp);
    return SENTI_OK;
}

/* ---- unfused baseline --------------------------------------------------------
 * Per (batch, head): the full Tq x Tk score matrix in per-thread scratch, a
 * softmax over each row, then scores · V; plain loops. */

typedef struct {
    const att_args *a;
    senti_tensor *dst;
    char *base;
    size_t slice;
} unf_par;

static void unfused_range(void *arg, int64_t it0, int64_t it1, int ith) {
    const unf_par *up = arg;
    const att_args *ap = up->a;
    senti_tensor *dst = up->dst;
    const int64_t Tq = ap->Tq, Tk = ap->Tk, D = ap->D, Dv = ap->Dv;
    float *s = (float *)cpu_vec_slice(up->base, up->slice, ith);
    for (int64_t it = it0; it < it1; it++) {
        const int64_t b = it / ap->Hq, h = it % ap->Hq, hk = h / (ap->Hq / ap->Hkv);
        for (int64_t i = 0; i < Tq; i++) {
            const float *q = q_row(ap, b, i, h);
            float *si = s + i * Tk;
            size_t ms = 0;
            const char *mp = ap->mask ? mask_row(ap, b, h, i, &ms) : NULL;
            int64_t vis = n_visible(ap, i);
            float mx = -INFINITY;
            for (int64_t j = 0; j < Tk; j++) {
                float acc = 0.0f;
                const float *k = k_row(ap, b, j, hk);
                for (int64_t d = 0; d < D; d++) acc += q[d] * k[d];
                float v = acc * ap->scale + (mp ? *(const float *)(mp + (size_t)j * ms) : 0.0f);
                si[j] = j < vis ? v : -INFINITY;
                mx = si[j] > mx ? si[j] : mx;
            }
            float sum = 0.0f;
            for (int64_t j = 0; j < Tk; j++) {
                si[j] = mx == -INFINITY ? 0.0f : expf(si[j] - mx);
                sum += si[j];
            }
            float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
            for (int64_t j = 0; j < Tk; j++) si[j] *= inv;
        }
        for (int64_t i = 0; i < Tq; i++) {
            float *out = (float *)dst->data + ((b * Tq + i) * ap->Hq + h) * Dv;
            for (int64_t c = 0; c < Dv; c++) out[c] = 0.0f;
            for (int64_t j = 0; j < Tk; j++) {
                const float *v = v_row(ap, b, j, hk);
                float p = s[i * Tk + j];
                for (int64_t c = 0; c < Dv; c++) out[c] += p * v[c];
            }
        }
    }
}

senti_status cpu_attention_unfused(cpu_ctx *ctx, senti_tensor *dst) {
    att_args a;
    senti_status st = att_setup(dst, &a);
    if (st != SENTI_OK) return st;
    const int64_t items = a.B * a.Hq, Tq = a.Tq, Tk = a.Tk, D = a.D, Dv = a.Dv;
    if (items == 0 || Tq == 0 || Dv == 0) return SENTI_OK;
    int nth = cpu_vec_threads(ctx, items, 4.0 * (double)Tq * (double)(Tk + 1) * (double)(D + Dv));
    const size_t slice = cpu_vec_round64((size_t)Tq * (size_t)Tk * 4);
    char *base = cpu_scratch(ctx, slice * (size_t)nth + 64);
    if (!base) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for %lld x %lld scores", dst->name, (long long)Tq, (long long)Tk);
    unf_par up = {&a, dst, base, slice};
    cpu_parallel_for(ctx, nth, items, 1, unfused_range, &up);
    return SENTI_OK;
}
