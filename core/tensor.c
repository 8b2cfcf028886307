/* tensor.c — tensor shape helpers and the op name table. */
#include <stdio.h>

#include "core.h"

static const char *op_names[SENTI_OP_COUNT] = {
#define SENTI_OP(e, name, view) name,
#include "ops.def"
#undef SENTI_OP
};
static const bool op_views[SENTI_OP_COUNT] = {
#define SENTI_OP(e, name, view) view,
#include "ops.def"
#undef SENTI_OP
};

const char *senti_op_name(senti_op op) { return (unsigned)op < SENTI_OP_COUNT ? op_names[op] : "?"; }
bool senti_op_is_view(senti_op op) { return (unsigned)op < SENTI_OP_COUNT && op_views[op]; }

void senti_set_dense_strides(senti_tensor *t) {
    t->nb[3] = senti_type_size(t->type);
    t->nb[2] = senti_row_size(t->type, t->ne[3]);
    t->nb[1] = t->nb[2] * (size_t)t->ne[2];
    t->nb[0] = t->nb[1] * (size_t)t->ne[1];
}

size_t senti_nbytes(const senti_tensor *t) {
    for (int i = 0; i < SENTI_MAX_DIMS; i++)
        if (t->ne[i] == 0) return 0;
    size_t n = senti_row_size(t->type, t->ne[3]);
    for (int i = 0; i < 3; i++) n += (size_t)(t->ne[i] - 1) * t->nb[i];
    return n;
}

bool senti_rows_contiguous(const senti_tensor *t) {
    return t->ne[3] <= 1 || t->nb[3] == senti_type_size(t->type); /* one element: any stride */
}

bool senti_is_contiguous(const senti_tensor *t) {
    if (!senti_rows_contiguous(t)) return false;
    size_t want = senti_row_size(t->type, t->ne[3]);
    for (int i = 2; i >= 0; i--) {
        if (t->ne[i] != 1 && t->nb[i] != want) return false;
        want *= (size_t)t->ne[i];
    }
    return true;
}

bool senti_same_shape(const senti_tensor *a, const senti_tensor *b) {
    for (int i = 0; i < SENTI_MAX_DIMS; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

const char *senti_shape_str(const senti_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = SENTI_MAX_DIMS - t->ndim; i < SENTI_MAX_DIMS && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i > SENTI_MAX_DIMS - t->ndim ? "," : "", (long long)t->ne[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}
