/* copy.c — CPU data movement: get_rows (embedding lookup), cpy (copy / cast
 * into a contiguous tensor, quantizing if asked) and concat.
 *
 * Invariants: dst contiguous; sources any strided view (quantized sources have
 * contiguous rows); rows are split across threads. get_rows checks every id
 * before it copies anything, so a bad id leaves an error and no half-work
 * races. */
#include "cpu_vec.h"

/* Element e of a row at p with byte stride s, of type t (f32/f16/bf16/i32), as f32. */
static inline float elem_f32(senti_type t, const char *p, size_t s, int64_t e) {
    const char *q = p + (size_t)e * s;
    switch (t) {
    case SENTI_TYPE_F16: return senti_f16_to_f32(*(const senti_f16 *)q);
    case SENTI_TYPE_BF16: return senti_bf16_to_f32(*(const senti_bf16 *)q);
    case SENTI_TYPE_I32: return (float)*(const int32_t *)q;
    default: return *(const float *)q;
    }
}

/* Row of n elements at p (type t, element stride s) into f32 y. */
static void row_f32(const cpu_vec_ops *ops, senti_type t, const char *p, size_t s, float *y, int64_t n) {
    if (senti_type_is_quant(t) || s == senti_type_size(t)) {
        if (t == SENTI_TYPE_F32)
            memcpy(y, p, (size_t)n * sizeof(float));
        else if (t == SENTI_TYPE_F16)
            ops->f16_to_f32(y, (const uint16_t *)p, n);
        else if (t == SENTI_TYPE_BF16)
            ops->bf16_to_f32(y, (const uint16_t *)p, n);
        else
            senti_row_to_f32(t, p, y, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = elem_f32(t, p, s, i);
}

/* ---- get_rows ----------------------------------------------------------------- */

static inline int32_t id_at(const senti_tensor *ids, int64_t k) {
    int64_t i3 = k % ids->ne[3];
    k /= ids->ne[3];
    int64_t i2 = k % ids->ne[2];
    k /= ids->ne[2];
    int64_t i1 = k % ids->ne[1], i0 = k / ids->ne[1];
    return *(const int32_t *)((const char *)senti_row_ptr(ids, i0, i1, i2) + (size_t)i3 * ids->nb[3]);
}

typedef struct {
    const cpu_vec_ops *ops;
    const senti_tensor *table, *ids, *dst;
    int64_t D;
} get_rows_par;

static void get_rows_range(void *arg, int64_t k0, int64_t k1, int ith) {
    const get_rows_par *a = arg;
    (void)ith;
    for (int64_t k = k0; k < k1; k++) {
        const char *row = (const char *)a->table->data + (size_t)id_at(a->ids, k) * a->table->nb[2];
        row_f32(a->ops, a->table->type, row, a->table->nb[3], (float *)a->dst->data + k * a->D, a->D);
    }
}

CPU_KERNEL(get_rows) {
    const senti_tensor *table = dst->src[0], *ids = dst->src[1];
    const int64_t V = table->ne[2], D = table->ne[3], n = senti_nelements(ids);
    if (ids->type != SENTI_TYPE_I32)
        return senti_error(SENTI_ERR_INVALID_ARG, "get_rows '%s': ids '%s' must be i32", dst->name, ids->name);
    for (int64_t k = 0; k < n; k++) {
        int32_t id = id_at(ids, k);
        if (id < 0 || id >= V)
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "get_rows '%s': id %d at index %lld of ids '%s' is outside [0, %lld) of table '%s'",
                               dst->name, (int)id, (long long)k, ids->name, (long long)V, table->name);
    }
    if (n == 0 || D == 0) return SENTI_OK;
    get_rows_par a = {cpu_vec_get(ctx->simd), table, ids, dst, D};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, n, 8.0 * (double)D), n, 0, get_rows_range, &a);
    return SENTI_OK;
}

/* ---- cpy ------------------------------------------------------------------------ */

typedef struct {
    const cpu_vec_ops *ops;
    const senti_tensor *x, *dst;
    int64_t n;
    size_t drow, esz;
    bool direct;
    char *tmp;
    size_t slice;
} cpy_par;

static void cpy_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const cpy_par *a = arg;
    const senti_tensor *x = a->x, *dst = a->dst;
    const int64_t n = a->n;
    const senti_type st = x->type, dt = dst->type;
    float *t = a->tmp ? (float *)cpu_vec_slice(a->tmp, a->slice, ith) : NULL;
    for (int64_t row = r0; row < r1; row++) {
        int64_t i2 = row % dst->ne[2], r = row / dst->ne[2];
        int64_t i1 = r % dst->ne[1], i0 = r / dst->ne[1];
        const char *p = (const char *)senti_row_ptr(x, i0, i1, i2);
        char *y = (char *)dst->data + (size_t)row * a->drow;
        if (a->direct) {
            if (x->nb[3] == a->esz)
                memcpy(y, p, a->drow);
            else
                for (int64_t i = 0; i < n; i++) memcpy(y + (size_t)i * a->esz, p + (size_t)i * x->nb[3], a->esz);
            continue;
        }
        float *f = dt == SENTI_TYPE_F32 ? (float *)y : t;
        row_f32(a->ops, st, p, x->nb[3], f, n);
        switch (dt) {
        case SENTI_TYPE_F16: a->ops->f32_to_f16((uint16_t *)y, f, n); break;
        case SENTI_TYPE_BF16: a->ops->f32_to_bf16((uint16_t *)y, f, n); break;
        case SENTI_TYPE_Q8_0: senti_quantize_row_q8_0(f, (senti_block_q8_0 *)y, n); break;
        case SENTI_TYPE_Q4_0: senti_quantize_row_q4_0(f, (senti_block_q4_0 *)y, n); break;
        case SENTI_TYPE_INT8: senti_quantize_row_int8(f, y, n); break;
        default: break;
        }
    }
}

CPU_KERNEL(cpy) {
    const senti_tensor *x = dst->src[0];
    const senti_type st = x->type, dt = dst->type;
    const int64_t n = dst->ne[3], nrows = senti_nrows(dst);
    if (n == 0 || nrows == 0) return SENTI_OK;
    if ((st == SENTI_TYPE_I32) != (dt == SENTI_TYPE_I32))
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: cpy %s -> %s", dst->name, senti_type_name(st), senti_type_name(dt));
    if (senti_type_is_quant(dt) && n % senti_type_block(dt) != 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: cpy to %s needs rows of a multiple of %lld, not %lld",
                           dst->name, senti_type_name(dt), (long long)senti_type_block(dt), (long long)n);
    const size_t drow = senti_row_size(dt, n), esz = senti_type_size(st);
    const bool direct = st == dt && !senti_type_is_quant(st); /* same type: byte copies */
    const bool need_tmp = !direct && dt != SENTI_TYPE_F32;
    const size_t slice = cpu_vec_round64((size_t)n * sizeof(float));
    const cpu_vec_ops *ops = cpu_vec_get(ctx->simd);
    int nth = cpu_vec_threads(ctx, nrows, 8.0 * (double)n);
    char *tmp = NULL;
    if (need_tmp) {
        tmp = cpu_scratch(ctx, slice * (size_t)nth);
        if (!tmp) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for cpy", dst->name);
    }
    cpy_par a = {ops, x, dst, n, drow, esz, direct, tmp, slice};
    cpu_parallel_for(ctx, nth, nrows, 0, cpy_range, &a);
    return SENTI_OK;
}

/* ---- concat ------------------------------------------------------------------------ */

static inline void copy_elems(char *y, const char *p, size_t s, size_t esz, int64_t n) {
    if (s == esz) {
        memcpy(y, p, (size_t)n * esz);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(y + (size_t)i * esz, p + (size_t)i * s, esz);
}

typedef struct {
    const senti_tensor *a, *b, *dst;
    int dim;
    int64_t n;
    size_t esz;
} concat_par;

static void concat_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const concat_par *c = arg;
    const senti_tensor *a = c->a, *b = c->b, *dst = c->dst;
    const size_t esz = c->esz;
    (void)ith;
    for (int64_t row = r0; row < r1; row++) {
        int64_t idx[3];
        idx[2] = row % dst->ne[2];
        int64_t r = row / dst->ne[2];
        idx[1] = r % dst->ne[1];
        idx[0] = r / dst->ne[1];
        char *y = (char *)dst->data + (size_t)row * (size_t)c->n * esz;
        if (c->dim == 3) {
            copy_elems(y, senti_row_ptr(a, idx[0], idx[1], idx[2]), a->nb[3], esz, a->ne[3]);
            copy_elems(y + (size_t)a->ne[3] * esz, senti_row_ptr(b, idx[0], idx[1], idx[2]), b->nb[3], esz, b->ne[3]);
        } else {
            const senti_tensor *s = a;
            if (idx[c->dim] >= a->ne[c->dim]) {
                idx[c->dim] -= a->ne[c->dim];
                s = b;
            }
            copy_elems(y, senti_row_ptr(s, idx[0], idx[1], idx[2]), s->nb[3], esz, c->n);
        }
    }
}

CPU_KERNEL(concat) {
    const senti_tensor *a = dst->src[0], *b = dst->src[1];
    const int dim = dst->params[0];
    const int64_t n = dst->ne[3], nrows = senti_nrows(dst);
    if (dim < 0 || dim > 3) return senti_error(SENTI_ERR_INVALID_ARG, "%s: concat dim %d", dst->name, dim);
    if (senti_type_is_quant(dst->type))
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: concat of %s", dst->name, senti_type_name(dst->type));
    if (n == 0 || nrows == 0) return SENTI_OK;
    const size_t esz = senti_type_size(dst->type);
    concat_par c = {a, b, dst, dim, n, esz};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, nrows, 4.0 * (double)n), nrows, 0, concat_range, &c);
    return SENTI_OK;
}

/* ---- set_rows ------------------------------------------------------------------- */

/* Rows of src1 into dst at idx (the KV-cache write): in place when dst shares
 * src0's storage (the graph case), else dst = copy of src0 first. Every
 * index is checked before any row is written. */
typedef struct {
    const senti_tensor *src, *idx, *dst;
    size_t row;
} set_rows_par;

static void set_rows_range(void *arg, int64_t i0, int64_t i1, int ith) {
    const set_rows_par *a = arg;
    (void)ith;
    for (int64_t i = i0; i < i1; i++) {
        const int32_t r = *(const int32_t *)((const char *)a->idx->data + (size_t)i * a->idx->nb[3]);
        memcpy((char *)a->dst->data + (size_t)r * a->dst->nb[2], (const char *)a->src->data + (size_t)i * a->src->nb[2],
               a->row);
    }
}

CPU_KERNEL(set_rows) {
    const senti_tensor *base = dst->src[0], *src = dst->src[1], *idx = dst->src[2];
    const int64_t R = dst->ne[2], N = src->ne[2], D = dst->ne[3];
    if (src->type != SENTI_TYPE_F32 || idx->type != SENTI_TYPE_I32 || dst->nb[3] != sizeof(float) ||
        (D > 1 && src->nb[3] != sizeof(float)))
        return senti_error(SENTI_ERR_UNSUPPORTED, "set_rows '%s': needs f32 rows and i32 indices", dst->name);
    for (int64_t i = 0; i < N; i++) {
        const int32_t r = *(const int32_t *)((const char *)idx->data + (size_t)i * idx->nb[3]);
        if (r < 0 || r >= R)
            return senti_error(SENTI_ERR_INVALID_ARG, "set_rows '%s': index %d at %lld of '%s' is outside [0, %lld)",
                               dst->name, (int)r, (long long)i, idx->name, (long long)R);
    }
    const size_t row = (size_t)D * sizeof(float);
    if (dst->data != base->data)
        for (int64_t r = 0; r < R; r++)
            memcpy((char *)dst->data + (size_t)r * dst->nb[2], (const char *)base->data + (size_t)r * base->nb[2], row);
    set_rows_par a = {src, idx, dst, row};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, N, (double)D), N, 0, set_rows_range, &a);
    return SENTI_OK;
}
