/* stats.c — timing loop and median/min/max summaries for the benchmarks. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

bench_stat bench_summarize(double *ms, int n) {
    bench_stat s = {0, 0, 0, n};
    if (n <= 0) return s;
    qsort(ms, (size_t)n, sizeof *ms, cmp_double);
    s.min = ms[0];
    s.max = ms[n - 1];
    s.median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
    return s;
}

/* SENTI_BENCH_CLOCK=cpu: the process's CPU time instead of the wall clock.
 * With --threads 1 (OpenBLAS follows it) that is the work of the one
 * thread, nearly unmoved by other processes sharing the cores, where wall
 * times on a loaded machine swing by tens of percent; with more threads it
 * also counts their waiting, so compare threaded runs by wall time. */
static double bench_now(void) {
    static int cpu = -1;
    if (cpu < 0) {
        const char *s = getenv("SENTI_BENCH_CLOCK");
        cpu = s && strcmp(s, "cpu") == 0;
    }
    if (!cpu) return senti_time_ms();
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

bool bench_time(bench_fn fn, void *arg, int repeats, bench_stat *out) {
    if (repeats < 1) repeats = 1;
    double *ms = malloc((size_t)repeats * sizeof *ms);
    if (!ms) return false;
    /* warm-up: at least one run and 200 ms, so the first case of a run also
     * finds its pages faulted in, the clocks up and the pool's threads awake */
    for (double t0 = senti_time_ms(), n = 0; n < 1 || senti_time_ms() - t0 < 200.0; n++)
        if (!fn(arg)) {
            free(ms);
            return false;
        }
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        if (!fn(arg)) {
            free(ms);
            return false;
        }
        ms[r] = bench_now() - t0;
    }
    *out = bench_summarize(ms, repeats);
    free(ms);
    return true;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* xorshift64, uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

void bench_fill(senti_tensor *t, float scale) {
    const int64_t rows = senti_nrows(t), n = t->ne[3];
    float *row = malloc((size_t)(n ? n : 1) * sizeof *row);
    if (!row) return;
    for (int64_t r = 0; r < rows; r++) {
        char *dst = (char *)t->data + (size_t)r * t->nb[2];
        if (senti_type_is_kquant(t->type)) { /* no K-quant quantizer: random blocks with small f16 scales */
            const size_t bs = senti_type_size(t->type), rs = senti_row_size(t->type, n);
            for (size_t i = 0; i < rs; i++) dst[i] = (char)(frand() * 127.0f);
            for (size_t b = 0; b < rs / bs; b++) {
                const senti_f16 d = senti_f32_to_f16(0.01f * scale), m = senti_f32_to_f16(0.005f * scale);
                if (t->type == SENTI_TYPE_Q4_K) memcpy(dst + b * bs, &d, 2), memcpy(dst + b * bs + 2, &m, 2);
                else memcpy(dst + b * bs + bs - 2, &d, 2);
            }
            continue;
        }
        for (int64_t i = 0; i < n; i++) row[i] = scale * frand();
        senti_row_from_f32(t->type, row, dst, n);
    }
    free(row);
}
