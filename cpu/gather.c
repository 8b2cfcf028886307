/* gather.c — CPU gather along the innermost dim (op_gather): out[.., j] =
 * x[.., idx[.., j]] with idx broadcast over the outer dims (DeBERTa's
 * relative-position scores), rows split over the backend's pool.
 *
 * Invariants: dst contiguous; x and idx have contiguous rows, other strides
 * free; every index is checked before anything is written, so a bad index
 * leaves an error and an untouched dst. Pure copies: the result does not
 * depend on the thread count. */
#include "cpu_vec.h"

typedef struct gather_par {
    const senti_tensor *x, *idx, *dst;
} gather_par;

static void gather_range(void *arg, int64_t r0, int64_t r1, int ith) {
    const gather_par *a = arg;
    const senti_tensor *x = a->x, *idx = a->idx, *dst = a->dst;
    const int64_t M = dst->ne[3], n1 = dst->ne[1], n2 = dst->ne[2];
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i0 = r / (n1 * n2), i1 = r / n2 % n1, i2 = r % n2;
        const float *xr = (const float *)senti_row_ptr(x, i0, i1, i2);
        const int32_t *k = (const int32_t *)senti_row_ptr(idx, idx->ne[0] == 1 ? 0 : i0, idx->ne[1] == 1 ? 0 : i1,
                                                          idx->ne[2] == 1 ? 0 : i2);
        float *o = (float *)senti_row_ptr(dst, i0, i1, i2);
        for (int64_t j = 0; j < M; j++) o[j] = xr[k[j]];
    }
}

CPU_KERNEL(gather) {
    const senti_tensor *x = dst->src[0], *idx = dst->src[1];
    const int64_t N = x->ne[3], M = dst->ne[3];
    for (int64_t i0 = 0; i0 < idx->ne[0]; i0++)
        for (int64_t i1 = 0; i1 < idx->ne[1]; i1++)
            for (int64_t i2 = 0; i2 < idx->ne[2]; i2++) {
                const int32_t *k = (const int32_t *)senti_row_ptr(idx, i0, i1, i2);
                for (int64_t j = 0; j < M; j++)
                    if (k[j] < 0 || k[j] >= N)
                        return senti_error(SENTI_ERR_INVALID_ARG,
                                           "gather '%s': index %d at [%lld,%lld,%lld,%lld] of '%s' is outside [0, %lld)",
                                           dst->name, k[j], (long long)i0, (long long)i1, (long long)i2, (long long)j,
                                           idx->name, (long long)N);
            }
    const int64_t rows = senti_nrows(dst);
    gather_par a = {x, idx, dst};
    cpu_parallel_for(ctx, cpu_vec_threads(ctx, rows, 2.0 * (double)M), rows, 0, gather_range, &a);
    return SENTI_OK;
}
