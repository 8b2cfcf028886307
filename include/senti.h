/* senti.h — the public C API of senti, the only header a user includes.
 *
 * Invariants: every function that can fail returns a senti_status (or NULL for
 * constructors) and leaves a message in senti_last_error() that names the
 * culprit; nothing here aborts on bad input. Messages are per thread. */
#ifndef SENTI_H
#define SENTI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SENTI_VERSION_MAJOR 0
#define SENTI_VERSION_MINOR 1
#define SENTI_VERSION_PATCH 0

typedef enum senti_status {
    SENTI_OK = 0,
    SENTI_ERR_INVALID_ARG,  /* bad argument, shape or dtype */
    SENTI_ERR_NO_MEMORY,    /* an allocation failed */
    SENTI_ERR_BAD_FILE,     /* a file is malformed, truncated or inconsistent */
    SENTI_ERR_IO,           /* open/read/write/mmap failed */
    SENTI_ERR_UNSUPPORTED,  /* valid but not supported (op on a backend, dtype) */
    SENTI_ERR_BACKEND,      /* a backend failed while computing */
} senti_status;

/* Element types. Quantized types are stored in blocks of 32 elements with the
 * same byte layout as GGUF: q8_0 = {f16 d; int8 q[32]} (34 bytes),
 * q4_0 = {f16 d; uint8 qs[16]} (18 bytes, element j in the low nibble of
 * qs[j], element j+16 in the high nibble, value (q - 8) * d). */
typedef enum senti_type {
    SENTI_TYPE_F32 = 0,
    SENTI_TYPE_F16,
    SENTI_TYPE_BF16,
    SENTI_TYPE_I32,
    SENTI_TYPE_Q8_0,
    SENTI_TYPE_Q4_0,
    SENTI_TYPE_COUNT
} senti_type;

/* Version string "MAJOR.MINOR.PATCH". Static storage. */
const char *senti_version(void);

/* The last error message set on this thread ("" when none). Static per-thread
 * storage, valid until the next failing call on the same thread. */
const char *senti_last_error(void);

/* Human name of a status code. Static storage. */
const char *senti_status_name(senti_status st);

/* Name of a type ("f32", "q8_0", …) and parsing one back; parse returns
 * SENTI_TYPE_COUNT for an unknown name. */
const char *senti_type_name(senti_type t);
senti_type senti_type_from_name(const char *name);

/* One allocator for all of senti's heap traffic (tensors, graphs, arenas).
 * Pass NULL to restore the C library's. Not thread-safe: set it before use.
 * align_alloc must return memory aligned to `align` (a power of two >= 8);
 * any function may return NULL to simulate an allocation failure. */
typedef struct senti_allocator {
    void *(*alloc)(size_t size, size_t align, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} senti_allocator;
void senti_set_allocator(const senti_allocator *a);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_H */
