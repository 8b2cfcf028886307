/* alloc_count.h — a test allocator for allocation-failure sweeps: the
 * g_fail_at-th allocation (counting from 0, g_count so far) returns NULL, and
 * g_live counts blocks not yet freed, so a sweep can assert that every
 * failure path releases everything. Include in one test program's .c file. */
#ifndef SENTI_TEST_ALLOC_COUNT_H
#define SENTI_TEST_ALLOC_COUNT_H

#include <stdlib.h>

#include "include/senti.h"

static long g_live, g_count, g_fail_at;

static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (g_count++ == g_fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : align) != 0) return NULL;
    g_live++;
    return p;
}

static void count_free(void *p, void *user) {
    (void)user;
    g_live--;
    free(p);
}

#endif
