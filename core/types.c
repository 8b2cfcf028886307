/* types.c — element types: names, block sizes, f16/bf16 conversion, the
 * reference q8_0 / q4_0 (de)quantizers with GGUF's block layouts and the
 * row-scaled int8 (de)quantizer (layout in core.h). */
#include <float.h>
#include <math.h>

#include "core.h"

static const struct {
    const char *name;
    int64_t block; /* elements per block */
    size_t size;   /* bytes per block */
} type_info[SENTI_TYPE_COUNT] = {
    [SENTI_TYPE_F32] = {"f32", 1, 4},
    [SENTI_TYPE_F16] = {"f16", 1, 2},
    [SENTI_TYPE_BF16] = {"bf16", 1, 2},
    [SENTI_TYPE_I32] = {"i32", 1, 4},
    [SENTI_TYPE_Q8_0] = {"q8_0", SENTI_QK, sizeof(senti_block_q8_0)},
    [SENTI_TYPE_Q4_0] = {"q4_0", SENTI_QK, sizeof(senti_block_q4_0)},
    [SENTI_TYPE_Q4_K] = {"q4_K", SENTI_QK_K, sizeof(senti_block_q4_K)},
    [SENTI_TYPE_Q6_K] = {"q6_K", SENTI_QK_K, sizeof(senti_block_q6_K)},
    [SENTI_TYPE_INT8] = {"int8", 1, 1}, /* + a 4-byte scale per row: senti_row_size */
};

_Static_assert(sizeof(senti_block_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(senti_block_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(senti_block_q4_K) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(senti_block_q6_K) == 210, "q6_K block is 210 bytes");

const char *senti_type_name(senti_type t) {
    return (unsigned)t < SENTI_TYPE_COUNT ? type_info[t].name : "?";
}

senti_type senti_type_from_name(const char *name) {
    for (int t = 0; t < SENTI_TYPE_COUNT; t++)
        if (strcmp(name, type_info[t].name) == 0) return (senti_type)t;
    return SENTI_TYPE_COUNT;
}

int64_t senti_type_block(senti_type t) { return type_info[t].block; }
size_t senti_type_size(senti_type t) { return type_info[t].size; }
bool senti_type_is_quant(senti_type t) {
    return t == SENTI_TYPE_Q8_0 || t == SENTI_TYPE_Q4_0 || senti_type_is_kquant(t) || t == SENTI_TYPE_INT8;
}
bool senti_type_is_kquant(senti_type t) { return t == SENTI_TYPE_Q4_K || t == SENTI_TYPE_Q6_K; }

size_t senti_row_size(senti_type t, int64_t n) {
    if (t == SENTI_TYPE_INT8) return (size_t)n + sizeof(float);
    return (size_t)(n / type_info[t].block) * type_info[t].size;
}

/* ---- f16: IEEE binary16, exact conversion with round-to-nearest-even ------ */

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float senti_f16_to_f32(senti_f16 h) {
    /* Shift the half into the top of a float: normal numbers rescale by
     * 2^-112; subnormals are built by a magic-number subtraction. */
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normalized = bits_f32((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float denormalized = bits_f32((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t r = two_w < (1u << 27) ? f32_bits(denormalized) : f32_bits(normalized);
    return bits_f32(sign | r);
}

senti_f16 senti_f32_to_f16(float f) {
    /* Let the FPU do the rounding: scale so the half's mantissa lands at the
     * float's rounding point, add a bias that fixes the exponent, read bits. */
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = f32_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = bits_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = f32_bits(base);
    const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
    return (senti_f16)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

/* ---- q8_0 / q4_0 ---------------------------------------------------------- */

void senti_quantize_row_q8_0(const float *x, senti_block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK; b++) {
        const float *xb = x + b * SENTI_QK;
        float amax = 0.0f;
        bool finite = true;
        for (int j = 0; j < SENTI_QK; j++) {
            amax = fmaxf(amax, fabsf(xb[j]));
            finite = finite && fabsf(xb[j]) <= FLT_MAX;
        }
        if (!finite) { /* NaN / inf: the block's scale is NaN, so every product with it is */
            y[b].d = 0x7e00;
            memset(y[b].qs, 0, sizeof y[b].qs);
            continue;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = senti_f32_to_f16(d);
        for (int j = 0; j < SENTI_QK; j++) y[b].qs[j] = (int8_t)roundf(xb[j] * id);
    }
}

void senti_quantize_row_q4_0(const float *x, senti_block_q4_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK; b++) {
        const float *xb = x + b * SENTI_QK;
        float amax = 0.0f, max = 0.0f; /* max keeps the sign of the largest |x| */
        bool finite = true;
        for (int j = 0; j < SENTI_QK; j++) {
            finite = finite && fabsf(xb[j]) <= FLT_MAX;
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        }
        if (!finite) { /* as q8_0: a NaN scale */
            y[b].d = 0x7e00;
            memset(y[b].qs, 0x88, sizeof y[b].qs);
            continue;
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = senti_f32_to_f16(d);
        for (int j = 0; j < SENTI_QK / 2; j++) {
            float x0 = xb[j] * id + 8.5f, x1 = xb[j + SENTI_QK / 2] * id + 8.5f;
            int q0 = (int)(int8_t)x0, q1 = (int)(int8_t)x1;
            q0 = q0 < 15 ? q0 : 15;
            q1 = q1 < 15 ? q1 : 15;
            y[b].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

void senti_dequantize_row_q8_0(const senti_block_q8_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK; b++) {
        const float d = senti_f16_to_f32(x[b].d);
        for (int j = 0; j < SENTI_QK; j++) y[b * SENTI_QK + j] = x[b].qs[j] * d;
    }
}

void senti_dequantize_row_q4_0(const senti_block_q4_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK; b++) {
        const float d = senti_f16_to_f32(x[b].d);
        for (int j = 0; j < SENTI_QK / 2; j++) {
            y[b * SENTI_QK + j] = ((x[b].qs[j] & 0x0F) - 8) * d;
            y[b * SENTI_QK + j + SENTI_QK / 2] = ((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* ---- int8: one f32 scale per row ------------------------------------------- */

float senti_quantize_int8(const float *x, int8_t *q, int64_t n) {
    float amax = 0.0f;
    bool finite = true;
    for (int64_t j = 0; j < n; j++) {
        const float ax = fabsf(x[j]);
        finite = finite && ax <= FLT_MAX;
        amax = ax > amax ? ax : amax;
    }
    if (!finite) {
        memset(q, 0, (size_t)n);
        return NAN;
    }
    const float d = amax / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float r = roundf(x[j] * id);
        q[j] = (int8_t)(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r);
    }
    return d;
}

float senti_quantize_int8_centered(const float *x, int8_t *q, int64_t n, float *c) {
    float mn = 0.0f, mx = 0.0f;
    bool finite = true;
    for (int64_t j = 0; j < n; j++) {
        finite = finite && fabsf(x[j]) <= FLT_MAX;
        mn = j == 0 || x[j] < mn ? x[j] : mn;
        mx = j == 0 || x[j] > mx ? x[j] : mx;
    }
    if (!finite) {
        memset(q, 0, (size_t)n);
        *c = NAN;
        return NAN;
    }
    const float cc = (0.5f * mn + 0.5f * mx) + 0.0f, h = fmaxf(mx - cc, cc - mn) + 0.0f; /* + 0: never -0 */
    const float d = h / 127.0f, id = d > 0.0f ? 1.0f / d : 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float r = roundf((x[j] - cc) * id);
        q[j] = (int8_t)(r > 127.0f ? 127.0f : r < -127.0f ? -127.0f : r);
    }
    *c = cc;
    return d;
}

void senti_quantize_row_int8(const float *x, void *row, int64_t n) {
    const float d = senti_quantize_int8(x, (int8_t *)row + sizeof d, n);
    memcpy(row, &d, sizeof d);
}

void senti_dequantize_row_int8(const void *row, float *y, int64_t n) {
    float d;
    memcpy(&d, row, sizeof d);
    const int8_t *q = (const int8_t *)row + sizeof d;
    for (int64_t j = 0; j < n; j++) y[j] = (float)q[j] * d;
}

/* ---- q4_K / q6_K (dequantize only) ------------------------------------------ */

/* Sub-block j's 6-bit scale and min of a q4_K block: j < 4 in the low 6 bits
 * of scales[j] / scales[j + 4]; j >= 4 in a nibble of scales[j + 4] plus the
 * top 2 bits of scales[j - 4] / scales[j]. */
void senti_q4_K_scale_min(const uint8_t *s, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

void senti_dequantize_row_q4_K(const senti_block_q4_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK_K; b++, y += SENTI_QK_K) {
        const float d = senti_f16_to_f32(x[b].d), dmin = senti_f16_to_f32(x[b].dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            senti_q4_K_scale_min(x[b].scales, j, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            const uint8_t *q = x[b].qs + 32 * (j / 2);
            const int shift = 4 * (j % 2);
            for (int l = 0; l < 32; l++) y[32 * j + l] = dl * (float)((q[l] >> shift) & 0x0F) - ml;
        }
    }
}

void senti_unpack_q6_K(const senti_block_q6_K *x, uint8_t q[SENTI_QK_K]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        uint8_t *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (uint8_t)((ql[l] & 0x0F) | ((qh[l] & 3) << 4));
            o[l + 32] = (uint8_t)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4));
            o[l + 64] = (uint8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
        }
    }
}

void senti_dequantize_row_q6_K(const senti_block_q6_K *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / SENTI_QK_K; b++, y += SENTI_QK_K) {
        const float d = senti_f16_to_f32(x[b].d);
        for (int h = 0; h < 2; h++) { /* halves of 128: groups g of 32 at 32 g, sub-block scales 8 h + 2 g + l / 16 */
            const uint8_t *ql = x[b].ql + 64 * h, *qh = x[b].qh + 32 * h;
            const int8_t *sc = x[b].scales + 8 * h;
            float *yh = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                yh[l] = (d * (float)sc[is]) * (float)(((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32);
                yh[l + 32] = (d * (float)sc[is + 2]) * (float)(((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32);
                yh[l + 64] = (d * (float)sc[is + 4]) * (float)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                yh[l + 96] = (d * (float)sc[is + 6]) * (float)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

void senti_row_to_f32(senti_type t, const void *x, float *y, int64_t n) {
    switch (t) {
    case SENTI_TYPE_F32: memcpy(y, x, (size_t)n * 4); break;
    case SENTI_TYPE_F16:
        for (int64_t i = 0; i < n; i++) y[i] = senti_f16_to_f32(((const senti_f16 *)x)[i]);
        break;
    case SENTI_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) y[i] = senti_bf16_to_f32(((const senti_bf16 *)x)[i]);
        break;
    case SENTI_TYPE_I32:
        for (int64_t i = 0; i < n; i++) y[i] = (float)((const int32_t *)x)[i];
        break;
    case SENTI_TYPE_Q8_0: senti_dequantize_row_q8_0(x, y, n); break;
    case SENTI_TYPE_Q4_0: senti_dequantize_row_q4_0(x, y, n); break;
    case SENTI_TYPE_Q4_K: senti_dequantize_row_q4_K(x, y, n); break;
    case SENTI_TYPE_Q6_K: senti_dequantize_row_q6_K(x, y, n); break;
    case SENTI_TYPE_INT8: senti_dequantize_row_int8(x, y, n); break;
    default: SENTI_ASSERT(!"bad type");
    }
}

void senti_row_from_f32(senti_type t, const float *x, void *y, int64_t n) {
    switch (t) {
    case SENTI_TYPE_F32: memcpy(y, x, (size_t)n * 4); break;
    case SENTI_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((senti_f16 *)y)[i] = senti_f32_to_f16(x[i]);
        break;
    case SENTI_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((senti_bf16 *)y)[i] = senti_f32_to_bf16(x[i]);
        break;
    case SENTI_TYPE_I32:
        for (int64_t i = 0; i < n; i++) ((int32_t *)y)[i] = (int32_t)lrintf(x[i]);
        break;
    case SENTI_TYPE_Q8_0: senti_quantize_row_q8_0(x, y, n); break;
    case SENTI_TYPE_Q4_0: senti_quantize_row_q4_0(x, y, n); break;
    case SENTI_TYPE_INT8: senti_quantize_row_int8(x, y, n); break;
    default: SENTI_ASSERT(!"bad type");
    }
}
