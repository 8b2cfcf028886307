/* timer.c — a monotonic clock for profiling and benchmarks. */
#include <time.h>

#include "core.h"

double senti_time_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}
