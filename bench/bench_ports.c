/* bench_ports.c — `senti bench ports`: how many of each instruction mix under
 * the GEMM tiles this CPU issues a cycle, per core, with every core busy. The
 * ceilings of the kernels follow from these (bench/RESULTS.md): the f32 tile
 * is FMAs, the AVX2 int8 tile Winograd's quad (two vpaddw, vpmaddwd,
 * vpaddd: 32 multiply-adds), before it vpmaddwd + vpaddd pairs (16), the
 * peers' u8 x s8 form a vpmaddubsw + vpmaddwd-by-ones + vpaddd triple (exact
 * only with 7-bit operands), its exact s8 x s8 forms with the sign applied
 * per product, the AVX-512 int8 tile vpdpbusd.
 *
 * Each case is 12 independent accumulator chains in registers (asm volatile,
 * so the compiler neither reorders nor removes them), ITERS iterations on
 * every thread at once; the clock comes from a chain of dependent integer
 * adds (one a cycle on every x86 core). Nothing is read from memory. */
#include <omp.h>
#include <string.h>

#include "bench.h"

#define ITERS 20000000L

#if defined(__x86_64__)

#define CLOB "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
             "xmm12", "xmm13", "xmm14", "xmm15", "cc"

/* The loop runs inside the asm: the registers start at zero (no denormal
 * operand can slow an FMA), the count in a register. */
#define PORT_LOOP(body)                                                                                            \
    do {                                                                                                           \
        long n = ITERS;                                                                                            \
        __asm__ volatile(".irp r,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n\tvpxor %%xmm\\r, %%xmm\\r, %%xmm\\r\n\t.endr\n" \
                         "1:\n\t" body "\n\tdec %0\n\tjnz 1b"                                                      \
                         : "+r"(n)                                                                                  \
                         :                                                                                          \
                         : CLOB);                                                                                   \
    } while (0)
#define ACC12(ins) ".irp r,0,1,2,3,4,5,6,7,8,9,10,11\n\t" ins "\n\t.endr"

static void k_clock(void) { /* 4 dependent adds an iteration */
    long x = 0;
    for (long i = 0; i < ITERS; i++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
}
static void k_fma256(void) { PORT_LOOP(ACC12("vfmadd231ps %%ymm14, %%ymm15, %%ymm\\r")); }
static void k_madd(void) { PORT_LOOP(ACC12("vpmaddwd %%ymm14, %%ymm15, %%ymm\\r")); }
/* the AVX2 int8 tile's step: the product to a scratch, then into the accumulator */
static void k_madd_add(void) { PORT_LOOP(ACC12("vpmaddwd %%ymm14, %%ymm15, %%ymm12\n\tvpaddd %%ymm12, %%ymm\\r, %%ymm\\r")); }
/* u8 x s8 pairs to int16, pairs of those to int32 (by ones), accumulated */
static void k_ubsw_triple(void) {
    PORT_LOOP(ACC12("vpmaddubsw %%ymm14, %%ymm15, %%ymm12\n\tvpmaddwd %%ymm13, %%ymm12, %%ymm12\n\t"
                    "vpaddd %%ymm12, %%ymm\\r, %%ymm\\r"));
}
/* the exact s8 x s8 form (|w| unsigned, the activation given w's sign: no
 * pair can saturate when both sides lie in [-127, 127]), then as the triple */
static void k_sign_quad(void) {
    PORT_LOOP(ACC12("vpsignb %%ymm14, %%ymm15, %%ymm12\n\tvpmaddubsw %%ymm12, %%ymm14, %%ymm12\n\t"
                    "vpmaddwd %%ymm13, %%ymm12, %%ymm12\n\tvpaddd %%ymm12, %%ymm\\r, %%ymm\\r"));
}
/* the same with the sign applied by xor and subtract (w's sign mask) */
static void k_xorsub_quint(void) {
    PORT_LOOP(ACC12("vpxor %%ymm14, %%ymm15, %%ymm12\n\tvpsubb %%ymm14, %%ymm12, %%ymm12\n\tvpmaddubsw %%ymm12, %%ymm14, %%ymm12\n\t"
                    "vpmaddwd %%ymm13, %%ymm12, %%ymm12\n\tvpaddd %%ymm12, %%ymm\\r, %%ymm\\r"));
}
/* Winograd's inner product on int16: (a0 + w1)(a1 + w0) + (a2 + w3)(a3 + w2) per lane pair */
static void k_wino_quad(void) {
    PORT_LOOP(ACC12("vpaddw %%ymm14, %%ymm15, %%ymm12\n\tvpaddw %%ymm14, %%ymm13, %%ymm15\n\t"
                    "vpmaddwd %%ymm12, %%ymm15, %%ymm12\n\tvpaddd %%ymm12, %%ymm\\r, %%ymm\\r"));
}
static void k_fma512(void) { PORT_LOOP(ACC12("vfmadd231ps %%zmm14, %%zmm15, %%zmm\\r")); }
static void k_dpbusd512(void) { PORT_LOOP(ACC12("vpdpbusd %%zmm14, %%zmm15, %%zmm\\r")); }

typedef struct port_case {
    const char *name, *what;
    void (*fn)(void);
    int per_iter;   /* instructions (or groups) an iteration */
    int macs;       /* multiply-adds per group (0: not a product) */
    int need;       /* 0: AVX2 + FMA, 1: AVX-512 F, 2: AVX512_VNNI, -1: none */
} port_case;

static const port_case cases[] = {
    {"clock", "dependent add chain", k_clock, 4, 0, -1},
    {"fma_ymm", "vfmadd231ps ymm", k_fma256, 12, 8, 0},
    {"madd_ymm", "vpmaddwd ymm alone", k_madd, 12, 0, 0},
    {"madd_add_ymm", "vpmaddwd + vpaddd (the old AVX2 tile)", k_madd_add, 12, 16, 0},
    {"ubsw_triple_ymm", "vpmaddubsw + vpmaddwd(1) + vpaddd", k_ubsw_triple, 12, 32, 0},
    {"sign_quad_ymm", "vpsignb + vpmaddubsw + vpmaddwd(1) + add", k_sign_quad, 12, 32, 0},
    {"xorsub_ymm", "vpxor + vpsubb + ubsw + madd(1) + add", k_xorsub_quint, 12, 32, 0},
    {"wino_quad_ymm", "2 vpaddw + vpmaddwd + add (AVX2 tile)", k_wino_quad, 12, 32, 0},
    {"fma_zmm", "vfmadd231ps zmm", k_fma512, 12, 16, 1},
    {"dpbusd_zmm", "vpdpbusd zmm (AVX-512 int8 tile)", k_dpbusd512, 12, 64, 2},
};

typedef struct port_run {
    void (*fn)(void);
    int nth;
} port_run;

static bool run_case(void *arg) {
    const port_run *r = arg;
#pragma omp parallel num_threads(r->nth)
    r->fn();
    return true;
}

int bench_ports(const bench_opts *o) {
    const cpu_features *f = cpu_get_features();
    const int nth = o->n_threads > 0 ? o->n_threads : omp_get_max_threads();
    const int repeats = o->repeats > 0 ? o->repeats : 5;
    if (!f->avx2 || !f->fma) {
        fprintf(stderr, "senti bench ports: this CPU lacks AVX2 + FMA; nothing to measure\n");
        return 1;
    }
    double ghz = 0.0;
    if (o->json) printf("{\"threads\": %d, \"repeats\": %d, \"cases\": [", nth, repeats);
    else printf("senti bench ports: %d threads, %d repeats (median [min .. max]), per core\n", nth, repeats);
    bool first = true;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const port_case *pc = &cases[c];
        if ((pc->need == 1 && !f->avx512f) || (pc->need == 2 && !(f->avx512f && f->avx512_vnni))) continue;
        if (o->filter && strcmp(pc->name, "clock") != 0 && !strstr(pc->name, o->filter)) continue;
        port_run r = {pc->fn, nth};
        bench_stat st;
        if (!bench_time(run_case, &r, repeats, &st)) return 1;
        const double per_s = (double)ITERS * pc->per_iter / (st.median * 1e-3); /* per thread */
        if (c == 0) ghz = per_s / 1e9;
        const double per_cycle = ghz > 0 ? per_s / (ghz * 1e9) : 0.0;
        if (o->json) {
            printf("%s{\"name\": \"%s\", \"what\": \"%s\", \"ms\": %.3f, \"ms_min\": %.3f, \"ms_max\": %.3f, "
                   "\"per_cycle\": %.3f, \"macs_per_cycle\": %.2f, \"ghz\": %.3f}",
                   first ? "" : ", ", pc->name, pc->what, st.median, st.min, st.max, per_cycle,
                   per_cycle * pc->macs, ghz);
        } else if (c == 0) {
            printf("%-18s %-38s %9.3f ms [%9.3f .. %9.3f]  %.3f GHz\n", pc->name, pc->what, st.median, st.min, st.max,
                   ghz);
        } else {
            printf("%-18s %-38s %9.3f ms [%9.3f .. %9.3f]  %5.2f a cycle", pc->name, pc->what, st.median, st.min,
                   st.max, per_cycle);
            if (pc->macs)
                printf("  %5.1f multiply-adds a cycle, %7.1f G a second (all threads)", per_cycle * pc->macs,
                       per_s * pc->macs * nth / 1e9);
            printf("\n");
        }
        first = false;
    }
    if (o->json) printf("]}\n");
    return 0;
}
#else
int bench_ports(const bench_opts *o) {
    (void)o;
    fprintf(stderr, "senti bench ports: x86-64 only\n");
    return 1;
}
#endif
