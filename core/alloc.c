/* alloc.c — the one allocator hook all heap traffic goes through.
 * Every block is 64-byte aligned unless asked otherwise; senti_mfree frees
 * what any of these returned. */
#include <stdlib.h>

#include "core.h"

static void *libc_alloc(size_t size, size_t align, void *user) {
    (void)user;
    void *p = NULL;
    if (size == 0) size = align;
    if (posix_memalign(&p, align, size) != 0) return NULL;
    return p;
}
static void libc_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

static senti_allocator allocator = {libc_alloc, libc_free, NULL};

void senti_set_allocator(const senti_allocator *a) {
    if (a) allocator = *a;
    else allocator = (senti_allocator){libc_alloc, libc_free, NULL};
}

void *senti_aligned_alloc(size_t size, size_t align) {
    if (align < sizeof(void *)) align = sizeof(void *);
    return allocator.alloc(size, align, allocator.user);
}

void *senti_malloc(size_t size) { return senti_aligned_alloc(size, 64); }

void *senti_calloc(size_t n, size_t size) {
    size_t total;
    if (!senti_mul_ok(n, size, &total)) return NULL;
    void *p = senti_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void senti_mfree(void *ptr) {
    if (ptr) allocator.free(ptr, allocator.user);
}

char *senti_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = senti_aligned_alloc(n, 8);
    if (p) memcpy(p, s, n);
    return p;
}
