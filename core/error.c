/* error.c — per-thread error messages, status names, version, assert. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static _Thread_local char err_msg[1024];

/* Formatted into a local buffer first: an argument may be senti_last_error()
 * itself (a message wrapped with a prefix), which vsnprintf must not read
 * while writing the same array. */
senti_status senti_error(senti_status st, const char *fmt, ...) {
    char buf[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    memcpy(err_msg, buf, sizeof err_msg);
    return st;
}

void senti_clear_error(void) { err_msg[0] = '\0'; }

const char *senti_last_error(void) { return err_msg; }

const char *senti_version(void) { return "0.1.0"; }

const char *senti_status_name(senti_status st) {
    switch (st) {
    case SENTI_OK: return "ok";
    case SENTI_ERR_INVALID_ARG: return "invalid argument";
    case SENTI_ERR_NO_MEMORY: return "out of memory";
    case SENTI_ERR_BAD_FILE: return "bad file";
    case SENTI_ERR_IO: return "i/o error";
    case SENTI_ERR_UNSUPPORTED: return "unsupported";
    case SENTI_ERR_BACKEND: return "backend error";
    }
    return "unknown status";
}

_Noreturn void senti_assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "senti: internal error %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
