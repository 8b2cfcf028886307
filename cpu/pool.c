/* pool.c — the CPU backend's thread pool: n-1 workers plus the calling thread
 * run one job at a time; every wait spins briefly, then sleeps on a futex.
 *
 * Why not OpenMP's team: libgomp spins ~300k iterations at every barrier
 * before sleeping, and reads that policy once before main(). On a machine
 * whose cores are busy with other processes (shared servers, CI, several MPI
 * ranks per node) the spinning thread burns the time slice that the thread it
 * waits for needs, and each op then costs a scheduler quantum (one short text:
 * 619 ms with 2 threads, 23 ms with 1). Here a waiter spins for about
 * SENTI_SPIN_US microseconds (default 50: long enough to stay hot between the
 * ops of one forward pass on a quiet machine), then sleeps until woken.
 *
 * Two kinds of job. A static job (cpu_pool_run) needs all nth threads: its
 * function splits work by thread index and may meet at cpu_pool_barrier. An
 * elastic job (cpu_pool_run_elastic, behind cpu_parallel_for) takes whichever
 * workers show up while the caller works: the caller closes it when its own
 * loop runs out of chunks and waits only for workers already inside, so a
 * worker that has lost its core to another process costs nothing.
 *
 * Protocol: a job is published by bumping `gen` (the workers' futex word);
 * workers join through one CAS on `js` = [gen:32][closed:1][joined:15]
 * [active:16], which checks they join the job they were woken for, and then
 * read the job's fields (stable until everyone who joined has left). The
 * caller's wait ends when active is 0 and, static, everyone joined or,
 * elastic, it has closed the job. Wake-ups are never lost: a sleeper
 * announces itself (seq_cst) before futex_wait re-checks the word. A job run
 * from inside a job runs inline on one thread; workers start on first use and
 * are joined by cpu_pool_free. */
#include <immintrin.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cpu.h"

#define JS_ACTIVE 1ull
#define JS_JOINED (1ull << 16)
#define JS_CLOSED (1ull << 31)
#define JS_GEN(s) ((uint32_t)((s) >> 32))
#define JS_NACTIVE(s) ((int)((s) & 0xffff))
#define JS_NJOINED(s) ((int)(((s) >> 16) & 0x7fff))

struct cpu_pool {
    int n;                 /* threads including the caller */
    pthread_t *th;
    int started;           /* workers created */
    _Atomic uint32_t gen;  /* job generation (futex word for workers) */
    _Atomic int sleepers;
    _Atomic uint64_t js;   /* the current job's join state */
    _Atomic uint32_t done; /* futex word for the caller */
    _Atomic int done_sleeping;
    /* the current job: written before gen is bumped, read after a join. Atomic
     * (relaxed) because a late worker of the previous job may read nth while
     * the caller writes the next job; its CAS on js then fails on gen. */
    _Atomic(cpu_task_fn) fn;
    _Atomic(void *) arg;
    _Atomic int nth;
    _Atomic bool elastic;
    /* barrier within a static job */
    _Atomic int bar_count;
    _Atomic uint32_t bar_gen;
    _Atomic int bar_sleepers;
    _Atomic bool stop;
    uint64_t spin_ns;
};

static _Thread_local cpu_pool *tl_pool; /* the pool whose job this thread runs */

static void futex_wait(_Atomic uint32_t *w, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}
static void futex_wake(_Atomic uint32_t *w) {
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin until *w != val for about spin_ns, then sleep on it (announcing the
 * sleep in *sleepers). */
static void wait_change(const cpu_pool *p, _Atomic uint32_t *w, uint32_t val, _Atomic int *sleepers) {
    if (atomic_load(w) != val) return;
    const uint64_t t0 = now_ns();
    for (int i = 0;; i++) {
        for (int k = 0; k < 16; k++) {
            if (atomic_load_explicit(w, memory_order_acquire) != val) return;
            _mm_pause();
        }
        if ((i & 7) == 0 && now_ns() - t0 > p->spin_ns) break;
    }
    while (atomic_load(w) == val) {
        atomic_fetch_add(sleepers, 1);
        futex_wait(w, val);
        atomic_fetch_sub(sleepers, 1);
    }
}

/* The caller's wait is over: static, everyone joined; elastic, closed. nth
 * and elastic are the job's own, captured when it was joined or published. */
static bool job_over(uint64_t s, int nth, bool elastic) {
    if (JS_NACTIVE(s) != 0) return false;
    return elastic ? (s & JS_CLOSED) != 0 : JS_NJOINED(s) == nth - 1;
}

#define RELAXED(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void signal_done(cpu_pool *p) {
    atomic_store(&p->done, 1);
    if (atomic_load(&p->done_sleeping)) futex_wake(&p->done);
}

static void *worker(void *v) {
    cpu_pool *p = v;
    uint32_t seen = 0;
    for (;;) {
        wait_change(p, &p->gen, seen, &p->sleepers);
        seen = atomic_load(&p->gen);
        if (atomic_load(&p->stop)) break;
        /* join job `seen` if it is still open and has room */
        uint64_t s = atomic_load(&p->js);
        bool in = false;
        while (JS_GEN(s) == seen && !(s & JS_CLOSED) && JS_NJOINED(s) < RELAXED(p->nth) - 1)
            if (atomic_compare_exchange_weak(&p->js, &s, s + JS_JOINED + JS_ACTIVE)) {
                in = true;
                break;
            }
        if (!in) continue;
        /* joined: the job's fields are stable until this thread leaves it */
        const int ith = JS_NJOINED(s) + 1, nth = RELAXED(p->nth);
        const bool elastic = RELAXED(p->elastic);
        tl_pool = p;
        RELAXED(p->fn)(RELAXED(p->arg), ith, nth);
        tl_pool = NULL;
        const uint64_t after = atomic_fetch_sub(&p->js, JS_ACTIVE) - JS_ACTIVE;
        if (job_over(after, nth, elastic)) signal_done(p);
    }
    return NULL;
}

cpu_pool *cpu_pool_init(int n) {
    cpu_pool *p = senti_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n < 1 ? 1 : n > 0x7fff ? 0x7fff : n;
    const char *s = getenv("SENTI_SPIN_US");
    long us = s && *s ? atol(s) : 50;
    p->spin_ns = (uint64_t)(us < 0 ? 0 : us) * 1000u;
    return p;
}

static bool start(cpu_pool *p) {
    if (p->started || p->n == 1) return p->n > 1;
    p->th = senti_calloc((size_t)p->n, sizeof *p->th);
    if (!p->th) return false;
    for (int i = 1; i < p->n; i++) {
        if (pthread_create(&p->th[i], NULL, worker, p) != 0) break;
        p->started = i;
    }
    return p->started > 0;
}

void cpu_pool_free(cpu_pool *p) {
    if (!p) return;
    if (p->started) {
        atomic_store(&p->stop, true);
        atomic_fetch_add(&p->gen, 1);
        futex_wake(&p->gen);
        for (int i = 1; i <= p->started; i++) pthread_join(p->th[i], NULL);
    }
    senti_mfree(p->th);
    senti_mfree(p);
}

static void run(cpu_pool *p, int nth, cpu_task_fn fn, void *arg, bool elastic) {
    if (!p || nth <= 1 || tl_pool || !start(p)) { /* inline: one thread, or nested */
        fn(arg, 0, 1);
        return;
    }
    if (nth > p->started + 1) nth = p->started + 1;
    const uint32_t g = atomic_load(&p->gen) + 1;
    atomic_store(&p->js, (uint64_t)g << 32); /* before the fields: a late worker's CAS fails on gen */
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->nth, nth, memory_order_relaxed);
    atomic_store_explicit(&p->elastic, elastic, memory_order_relaxed);
    atomic_store(&p->bar_count, 0);
    atomic_store(&p->done, 0);
    atomic_store(&p->gen, g); /* publishes the job (seq_cst) */
    if (atomic_load(&p->sleepers) > 0) futex_wake(&p->gen);
    tl_pool = p;
    fn(arg, 0, nth);
    tl_pool = NULL;
    uint64_t s = atomic_load(&p->js);
    if (elastic) /* no more joiners; wait only for those inside */
        s = atomic_fetch_or(&p->js, JS_CLOSED) | JS_CLOSED;
    if (job_over(s, nth, elastic)) return;
    const uint64_t t0 = now_ns();
    for (int i = 0; !job_over(atomic_load_explicit(&p->js, memory_order_acquire), nth, elastic); i++) {
        _mm_pause();
        if ((i & 127) == 0 && now_ns() - t0 > p->spin_ns) {
            atomic_store(&p->done_sleeping, 1);
            while (!job_over(atomic_load(&p->js), nth, elastic)) {
                if (atomic_load(&p->done) == 0) futex_wait(&p->done, 0);
                atomic_store(&p->done, 0);
            }
            atomic_store(&p->done_sleeping, 0);
            break;
        }
    }
}

void cpu_pool_run(cpu_pool *p, int nth, cpu_task_fn fn, void *arg) { run(p, nth, fn, arg, false); }
void cpu_pool_run_elastic(cpu_pool *p, int nth, cpu_task_fn fn, void *arg) { run(p, nth, fn, arg, true); }

void cpu_pool_barrier(cpu_pool *p, int nth) {
    if (nth <= 1) return;
    const uint32_t g = atomic_load(&p->bar_gen);
    if (atomic_fetch_add(&p->bar_count, 1) == nth - 1) {
        atomic_store(&p->bar_count, 0);
        atomic_fetch_add(&p->bar_gen, 1);
        if (atomic_load(&p->bar_sleepers) > 0) futex_wake(&p->bar_gen);
        return;
    }
    wait_change(p, &p->bar_gen, g, &p->bar_sleepers);
}

/* ---- parallel for ---------------------------------------------------------------- */

typedef struct pfor {
    cpu_range_fn fn;
    void *arg;
    int64_t n, chunk;
    _Atomic int64_t next;
} pfor;

static void pfor_task(void *arg, int ith, int nth) {
    pfor *f = arg;
    (void)nth;
    for (int64_t i0, i1; cpu_chunk_next(&f->next, f->n, f->chunk, &i0, &i1);) f->fn(f->arg, i0, i1, ith);
}

void cpu_parallel_for(const cpu_ctx *ctx, int nth, int64_t n, int64_t chunk, cpu_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (nth > n) nth = (int)n;
    if (nth <= 1) {
        fn(arg, 0, n, 0);
        return;
    }
    if (chunk <= 0) chunk = (n + 4 * nth - 1) / (4 * nth); /* 4 chunks a thread: a stalled thread holds one */
    pfor f = {fn, arg, n, chunk, 0};
    cpu_pool_run_elastic(ctx->pool, nth, pfor_task, &f);
}
