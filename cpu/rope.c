/* rope.c — CPU rotary position embedding on x [B,T,H,D] with positions
 * pos i32 [T] (shared by the batch) or [B,T].
 *
 * Invariants: dst contiguous [B,T,H,D]; x any strided view. Angles are
 * pos * freq[i] with freq[i] = freq_scale * theta^(-2i/n_rot) / ff[i] computed
 * once in double; cos/sin are taken once per (b, t) in double and shared by
 * the H heads. Pairs are (2i, 2i+1) interleaved or (i, i+n_rot/2) half-split;
 * dims >= n_rot are copied. */
#include <math.h>

#include "cpu_vec.h"

typedef struct {
    const senti_tensor *x, *pos, *dst;
    int64_t T, H, D, half;
    const double *freq;
    char *slices;
    size_t slice, sx;
    bool pos_shared, interleaved;
} rope_par;

static void rope_range(void *arg, int64_t bt0, int64_t bt1, int ith) {
    const rope_par *a = arg;
    const senti_tensor *x = a->x, *pos = a->pos, *dst = a->dst;
    const int64_t T = a->T, H = a->H, D = a->D, half = a->half;
    const size_t sx = a->sx;
    float *cs = (float *)(a->slices + a->slice * (size_t)ith);
    float *sn = cs + half;
    for (int64_t bt = bt0; bt < bt1; bt++) {
        const int64_t b = bt / T, t = bt % T;
        const char *pp = (const char *)pos->data + (size_t)t * pos->nb[3] + (a->pos_shared ? 0 : (size_t)b * pos->nb[2]);
        const double p = (double)*(const int32_t *)pp;
        for (int64_t i = 0; i < half; i++) {
            double ang = p * a->freq[i];
            cs[i] = (float)cos(ang);
            sn[i] = (float)sin(ang);
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

    int nth = cpu_vec_threads(ctx, B * T, 8.0 * (double)(H * D + half * 8));
    const size_t shared = cpu_vec_round64((size_t)(half + 1) * sizeof(double));
    const size_t slice = cpu_vec_round64((size_t)(2 * half + 2) * sizeof(float));
    char *base = cpu_scratch(ctx, shared + slice * (size_t)nth);
    if (!base) return senti_error(SENTI_ERR_NO_MEMORY, "%s: no scratch for rope", dst->name);
    double *freq = (double *)base;
    for (int64_t i = 0; i < half; i++) {
        double f = freq_scale * pow(theta, -2.0 * (double)i / (double)n_rot);
        if (ff) f /= *(const float *)((const char *)ff->data + (size_t)i * ff->nb[3]);
        freq[i] = f;
    }
    const size_t sx = x->nb[3];
    const bool pos_shared = pos->ne[2] == 1 && pos->ne[1] == 1 && pos->ne[0] == 1;

    rope_par a = {x, pos, dst, T, H, D, half, freq, base + shared, slice, sx, pos_shared, interleaved};
    cpu_parallel_for(ctx, nth, B * T, 0, rope_range, &a);
    return SENTI_OK;
}
