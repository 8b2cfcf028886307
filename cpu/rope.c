/* rope.c — CPU rotary position embedding on x [B,T,H,D] with positions
 * pos i32 [T] (shared by the batch) or [B,T].
 *
 * Invariants: dst contiguous [B,T,H,D]; x any strided view. Angles are
 * pos * freq[i] with freq[i] = freq_scale * theta^(-2i/n_rot) / ff[i] computed
 * once in double; cos/sin are taken in double once per (b, t), or once per
 * position when positions repeat (a table; the same floats), and shared by
 * the H heads. Pairs are (2i, 2i+1) interleaved or (i, i+n_rot/2) half-split;
 * dims >= n_rot are copied. */
#include <math.h>

#include "cpu_vec.h"

typedef struct {
    const senti_tensor *x, *pos, *dst;
    int64_t T, H, D, half;
    const double *freq;
    const float *tab; /* cos | sin of every position 0..pmax (half each), or NULL: per row */
    char *slices;
    size_t slice, sx;
    bool pos_shared, interleaved;
} rope_par;

/* cos / sin of position p's angles, rounded to f32 */
static void rope_angles(const double *freq, int64_t half, int32_t p, float *cs, float *sn) {
    for (int64_t i = 0; i < half; i++) {
        double ang = (double)p * freq[i];
        cs[i] = (float)cos(ang);
        sn[i] = (float)sin(ang);
    }
}

static void rope_range(void *arg, int64_t bt0, int64_t bt1, int ith) {
    const rope_par *a = arg;
    const senti_tensor *x = a->x, *pos = a->pos, *dst = a->dst;
    const int64_t T = a->T, H = a->H, D = a->D, half = a->half;
    const size_t sx = a->sx;
    float *buf = (float *)(a->slices + a->slice * (size_t)ith);
    const float *cs = buf, *sn = buf + half;
    for (int64_t bt = bt0; bt < bt1; bt++) {
        const int64_t b = bt / T, t = bt % T;
        const char *pp = (const char *)pos->data + (size_t)t * pos->nb[3] + (a->pos_shared ? 0 : (size_t)b * pos->nb[2]);
        const int32_t pi = *(const int32_t *)pp;
        if (a->tab) {
            cs = (float *)a->tab + (size_t)pi * 2 * (size_t)half;
            sn = cs + half;
        } else {
            rope_angles(a->freq, half, pi, buf, buf + half);
            cs = buf, sn = buf + half;
        }
        for (int64_t h = 0; h < H; h++) {
            const char *xr = (const char *)senti_row_ptr(x, b, t, h);
            float *y = (float *)dst->data + ((b * T + t) * H + h) * D;
#define XE(j) (*(const float *)(xr + (size_t)(j) * sx))
            if (a->interleaved) {
                for (int64_t i = 0; i < half; i++) {
                    float x0 = XE(2 * i), x1 = XE(2 * i + 1);
                    y[2 * i] = x0 * cs[i] - x1 * sn[i];
                    y[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
                }
            } else {
                for (int64_t i = 0; i < half; i++) {
                    float x0 = XE(i), x1 = XE(i + half);
                    y[i] = x0 * cs[i] - x1 * sn[i];
                    y[i + half] = x0 * sn[i] + x1 * cs[i];
                }
            }
            for (int64_t j = 2 * half; j < D; j++) y[j] = XE(j);
#undef XE
        }
    }
}

CPU_KERNEL(rope) {
    const senti_tensor *x = dst->src[0], *pos = dst->src[1], *ff = dst->src[2];
    const int64_t B = dst->ne[0], T = dst->ne[1], H = dst->ne[2], D = dst->ne[3];
    const bool interleaved = dst->params[1] != 0;
    const double theta = senti_param_f(dst, 2), freq_scale = senti_param_f(dst, 3);
    int64_t n_rot = dst->params[0];
    if (n_rot > D) n_rot = D;
    if (n_rot < 0) n_rot = 0;
    const int64_t half = n_rot / 2;
    if (B * T * H * D == 0) return SENTI_OK;
    if (pos->type != SENTI_TYPE_I32)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: rope positions must be i32", dst->name);

    const size_t sx = x->nb[3];
    const bool pos_shared = pos->ne[2] == 1 && pos->ne[1] == 1 && pos->ne[0] == 1;
    /* Positions that repeat (padding-free encoder batches: 0..n-1 per sequence) take their angles from a
     * table of positions 0..pmax made once in the scratch, the same floats as per row */
    const int64_t np = pos_shared ? T : B * T;
    int64_t pmin = INT32_MAX, pmax = -1;
    for (int64_t i = 0; i < np; i++) {
        const int32_t p = *(const int32_t *)((const char *)pos->data + (size_t)(i / T) * pos->nb[2] +
                                             (size_t)(i % T) * pos->nb[3]);
        pmin = p < pmin ? p : pmin;
        pmax = p > pmax ? p : pmax;
    }
    const bool use_tab = pmin >= 0 && half > 0 && 2 * (pmax + 1) <= B * T;
    const size_t tab_bytes = use_tab ? cpu_vec_round64((size_t)(pmax + 1) * 2 * (size_t)half * sizeof(float)) : 0;
    int nth = cpu_vec_threads(ctx, B * T, 8.0 * (double)(H * D + half * 8));
    const size_t shared = cpu_vec_round64((size_t)(half + 1) * sizeof(double));
    const size_t slice = cpu_vec_round64((size_t)(2 * half + 2) * sizeof(float));
    char *base = cpu_scratch(ctx, shared + tab_bytes + slice * (size_t)nth);
    if (!base) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for rope", dst->name);
    double *freq = (double *)base;
    for (int64_t i = 0; i < half; i++) {
        double f = freq_scale * pow(theta, -2.0 * (double)i / (double)n_rot);
        if (ff) f /= *(const float *)((const char *)ff->data + (size_t)i * ff->nb[3]);
        freq[i] = f;
    }
    float *tab = use_tab ? (float *)(base + shared) : NULL;
    for (int64_t p = 0; tab && p <= pmax; p++)
        rope_angles(freq, half, (int32_t)p, tab + (size_t)p * 2 * (size_t)half, tab + ((size_t)p * 2 + 1) * (size_t)half);
    rope_par a = {x, pos, dst, T, H, D, half, freq, tab, base + shared + tab_bytes, slice, sx, pos_shared, interleaved};
    cpu_parallel_for(ctx, nth, B * T, 0, rope_range, &a);
    return SENTI_OK;
}
