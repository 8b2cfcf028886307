/* ref_backend.c — a backend that runs every op with the reference
 * implementation (ref.c) on host memory: the yardstick the other backends are
 * tested against, and a fallback that is slow but always right.
 *
 * Invariants: supports every op; buffers are 64-byte aligned host memory;
 * no state besides the backend struct itself. */
#include "backend.h"

static void *ref_buffer_alloc(senti_backend *be, size_t size) {
    return senti_aligned_alloc(size ? size : 64, 64); /* a valid pointer even for 0 bytes */
}

static void ref_buffer_free(senti_backend *be, void *buf) { senti_mfree(buf); }

static void ref_tensor_set(senti_backend *be, senti_tensor *t, const void *src, size_t offs, size_t size) {
    if (size) memcpy((char *)t->data + offs, src, size);
}

static void ref_tensor_get(senti_backend *be, const senti_tensor *t, void *dst, size_t offs, size_t size) {
    if (size) memcpy(dst, (const char *)t->data + offs, size);
}

static bool ref_supports_op(senti_backend *be, const senti_tensor *node) {
    return (unsigned)node->op < SENTI_OP_COUNT;
}

/* Nodes [i0, i1) in order; views need no work. Stops at the first error,
 * whose message ref_compute has set. */
static senti_status ref_backend_compute(senti_backend *be, senti_graph *g, int i0, int i1) {
    for (int i = i0; i < i1; i++) {
        senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) continue;
        senti_status st = ref_compute(t);
        if (st != SENTI_OK) return st;
    }
    return SENTI_OK;
}

static void ref_synchronize(senti_backend *be) {}

static void ref_free(senti_backend *be) { senti_mfree(be); }

static const senti_backend_i ref_iface = {
    .name = "ref",
    .buffer_alloc = ref_buffer_alloc,
    .buffer_free = ref_buffer_free,
    .tensor_set = ref_tensor_set,
    .tensor_get = ref_tensor_get,
    .supports_op = ref_supports_op,
    .compute = ref_backend_compute,
    .synchronize = ref_synchronize,
    .free = ref_free,
};

senti_backend *senti_backend_ref_init(void) {
    senti_backend *be = senti_calloc(1, sizeof *be);
    if (!be) {
        senti_error(SENTI_ERR_NO_MEMORY, "ref backend: out of memory");
        return NULL;
    }
    be->iface = &ref_iface;
    be->ctx = NULL;
    return be;
}
