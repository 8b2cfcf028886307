/* bench.h — benchmarks behind `senti bench`: timing statistics, the kernel
 * benchmarks and the synthetic BERT-base encoder. Figures are medians over
 * repeats with the spread (min..max); nothing here is asserted. */
#ifndef SENTI_BENCH_H
#define SENTI_BENCH_H

#include <stdio.h>

#include "../cpu/cpu.h"

typedef struct bench_opts {
    int n_threads;  /* --threads, 0: all */
    int repeats;    /* --repeats: timed runs per case (after the warm-up) */
    bool json;      /* --json: one JSON document on stdout */
    const char *filter; /* --filter: only cases whose name contains this */
    /* model bench */
    int batch, seq_len, layers;
    senti_type wtype;
    bool wtype_set;    /* --dtype given (decoder -m: else the weights as stored) */
    const char *model; /* decoder: -m MODEL (an HF directory or a GGUF) instead of the synthetic one */
} bench_opts;

typedef struct bench_stat {
    double median, min, max; /* milliseconds */
    int n;
} bench_stat;

/* Sort ms[0..n) and summarise. */
bench_stat bench_summarize(double *ms, int n);

/* Run fn(arg) to warm up (once, and for at least 200 ms), then `repeats`
 * times; the stats in ms.
 * Returns false if fn fails. */
typedef bool (*bench_fn)(void *arg);
bool bench_time(bench_fn fn, void *arg, int repeats, bench_stat *out);

/* Fill a tensor of any type with uniform random values in [-scale, scale). */
void bench_fill(senti_tensor *t, float scale);

int bench_kernels(const bench_opts *o);
int bench_model(const bench_opts *o);
int bench_cuda(const bench_opts *o);    /* bench_cuda.c: the CUDA backend (a stub without SENTI_CUDA) */
int bench_decoder(const bench_opts *o); /* bench_decoder.c: Qwen2-0.5B-shaped causal LM, or o->model */
int bench_ports(const bench_opts *o);   /* bench_ports.c: instruction mixes a cycle (the kernels' ceilings) */
/* Read bandwidth of n_threads summing 256 MiB (the decode roofline), GB/s of
 * the median; st gets the times. 0 on failure. */
double bench_read_gbps(int n_threads, int repeats, bench_stat *st);

#endif
