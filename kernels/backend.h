/* backend.h — the backend interface: a table of function pointers plus a
 * context. cpu/ and cuda/ implement it; only core/ (the executor) calls it.
 *
 * Invariants: a backend computes nodes whose sources and destination already
 * have data pointers in memory it can address (for the CPU: host memory);
 * supports_op never has side effects; compute returns an error rather than
 * aborting. */
#ifndef SENTI_BACKEND_H
#define SENTI_BACKEND_H

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct senti_backend senti_backend;

typedef struct senti_backend_i {
    const char *name;
    /* device (or host) memory for an arena or weights; NULL on failure */
    void *(*buffer_alloc)(senti_backend *be, size_t size);
    void (*buffer_free)(senti_backend *be, void *buf);
    /* copy bytes between host memory and a tensor's storage (contiguous) */
    void (*tensor_set)(senti_backend *be, senti_tensor *t, const void *src, size_t offs, size_t size);
    void (*tensor_get)(senti_backend *be, const senti_tensor *t, void *dst, size_t offs, size_t size);
    /* can this backend compute this node (op, dtypes, layout)? */
    bool (*supports_op)(senti_backend *be, const senti_tensor *node);
    /* compute nodes [i0, i1) of g, all supported; SENTI_OK or an error */
    senti_status (*compute)(senti_backend *be, senti_graph *g, int i0, int i1);
    void (*synchronize)(senti_backend *be);
    void (*free)(senti_backend *be);
} senti_backend_i;

struct senti_backend {
    const senti_backend_i *iface;
    void *ctx;
};

/* Frees be (and its context); accepts NULL. */
void senti_backend_free(senti_backend *be);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_BACKEND_H */
