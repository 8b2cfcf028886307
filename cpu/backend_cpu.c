/* backend_cpu.c — the CPU backend: CPUID features, the SIMD level, scratch
 * memory and the op -> kernel dispatch table. Every op has a kernel here. */
#include <cpuid.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "matmul_kern.h"

/* ---- features ------------------------------------------------------------- */

static cpu_features features;
static bool features_ready;

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

const cpu_features *cpu_get_features(void) {
    if (features_ready) return &features;
    cpu_features f = {0};
    unsigned a, b, c, d;
    if (__get_cpuid(0, &a, &b, &c, &d)) f.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        bool osxsave = c & bit_OSXSAVE;
        uint64_t xcr0 = osxsave ? xgetbv0() : 0;
        bool ymm = (xcr0 & 0x6) == 0x6, zmm = (xcr0 & 0xe6) == 0xe6;
        f.fma = ymm && (c & bit_FMA);
        f.f16c = ymm && (c & bit_F16C);
        if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            f.avx2 = ymm && (b & bit_AVX2);
            f.avx512f = zmm && (b & bit_AVX512F);
            f.avx512bw = zmm && (b & bit_AVX512BW);
            f.avx512vl = zmm && (b & bit_AVX512VL);
            f.avx512_vnni = zmm && (c & bit_AVX512VNNI);
        }
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
            f.avx512_bf16 = zmm && (a & bit_AVX512BF16);
            f.avx_vnni = ymm && (a & bit_AVXVNNI);
        }
    }
    features = f;
    features_ready = true;
    return &features;
}

const char *cpu_simd_name(cpu_simd s) {
    return s == CPU_SIMD_AVX512 ? "avx512" : s == CPU_SIMD_AVX2 ? "avx2" : "scalar";
}

static cpu_simd detect_simd(void) {
    const cpu_features *f = cpu_get_features();
    cpu_simd s = CPU_SIMD_SCALAR;
    if (f->avx2 && f->fma && f->f16c) s = CPU_SIMD_AVX2;
    if (s == CPU_SIMD_AVX2 && f->avx512f && f->avx512bw && f->avx512vl) s = CPU_SIMD_AVX512;
    const char *env = getenv("SENTI_SIMD"); /* only lowers the level */
    if (env && strcmp(env, "scalar") == 0) s = CPU_SIMD_SCALAR;
    else if (env && strcmp(env, "avx2") == 0 && s > CPU_SIMD_AVX2) s = CPU_SIMD_AVX2;
    return s;
}

bool cpu_bf16_native(void) { return detect_simd() >= CPU_SIMD_AVX512 && cpu_get_features()->avx512_bf16; }

const char *cpu_simd_level(void) { return cpu_simd_name(detect_simd()); }

/* ---- threads ---------------------------------------------------------------- */

int cpu_default_threads(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    if (env && atoi(env) > 0) return omp_get_max_threads();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return omp_get_max_threads();
}

/* ---- scratch -------------------------------------------------------------- */

void *cpu_scratch(cpu_ctx *ctx, size_t size) {
    if (size <= ctx->scratch_size) return ctx->scratch;
    senti_mfree(ctx->scratch);
    ctx->scratch_size = 0;
    ctx->scratch = senti_aligned_alloc(size, 64);
    if (!ctx->scratch) {
        senti_error(SENTI_ERR_NO_MEMORY, "cpu: cannot allocate %zu bytes of scratch", size);
        return NULL;
    }
    ctx->scratch_size = size;
    return ctx->scratch;
}

/* ---- dispatch ------------------------------------------------------------- */

typedef senti_status (*cpu_kernel)(cpu_ctx *, senti_tensor *);

static const cpu_kernel kernels[SENTI_OP_COUNT] = {
    [SENTI_OP_GET_ROWS] = cpu_get_rows,
    [SENTI_OP_ADD] = cpu_add,
    [SENTI_OP_MUL] = cpu_mul,
    [SENTI_OP_SCALE] = cpu_scale,
    [SENTI_OP_MATMUL] = cpu_matmul,
    [SENTI_OP_LAYER_NORM] = cpu_layer_norm,
    [SENTI_OP_RMS_NORM] = cpu_rms_norm,
    [SENTI_OP_SOFTMAX] = cpu_softmax,
    [SENTI_OP_GELU] = cpu_gelu,
    [SENTI_OP_GELU_TANH] = cpu_gelu_tanh,
    [SENTI_OP_SILU] = cpu_silu,
    [SENTI_OP_RELU] = cpu_relu,
    [SENTI_OP_TANH] = cpu_tanh,
    [SENTI_OP_ATTENTION] = cpu_attention,
    [SENTI_OP_ATTENTION_VARLEN] = cpu_attention_varlen,
    [SENTI_OP_ROPE] = cpu_rope,
    [SENTI_OP_CPY] = cpu_cpy,
    [SENTI_OP_CONCAT] = cpu_concat,
    [SENTI_OP_SET_ROWS] = cpu_set_rows,
    [SENTI_OP_GATHER] = cpu_gather,
};

static bool cpu_supports_op(senti_backend *be, const senti_tensor *node) {
    return senti_op_is_view(node->op) || kernels[node->op] != NULL;
}

static senti_status cpu_compute(senti_backend *be, senti_graph *g, int i0, int i1) {
    cpu_ctx *ctx = be->ctx;
    for (int i = i0; i < i1; i++) {
        senti_tensor *t = g->nodes[i];
        if (senti_op_is_view(t->op)) continue;
        if (!kernels[t->op]) return senti_error(SENTI_ERR_UNSUPPORTED, "cpu: no kernel for op %s", senti_op_name(t->op));
        if (senti_nelements(t) == 0) continue;
        senti_status fst;
        const int fused = cpu_fuse(ctx, g, i, i1, &fst); /* nodes i .. i+fused-1 done as one */
        if (fst != SENTI_OK) return fst;
        if (fused) {
            i += fused - 1;
            continue;
        }
        senti_status st = kernels[t->op](ctx, t);
        if (st != SENTI_OK) return st;
    }
    return SENTI_OK;
}

static void *cpu_buffer_alloc(senti_backend *be, size_t size) { return senti_aligned_alloc(size, 64); }
static void cpu_buffer_free(senti_backend *be, void *buf) { senti_mfree(buf); }
static void cpu_tensor_set(senti_backend *be, senti_tensor *t, const void *src, size_t offs, size_t size) {
    memcpy((char *)t->data + offs, src, size);
}
static void cpu_tensor_get(senti_backend *be, const senti_tensor *t, void *dst, size_t offs, size_t size) {
    memcpy(dst, (const char *)t->data + offs, size);
}
static void cpu_free(senti_backend *be) {
    cpu_ctx *ctx = be->ctx;
    cpu_gemm_cache_free(ctx);
    cpu_pool_free(ctx->pool);
    senti_mfree(ctx->scratch);
    senti_mfree(ctx);
    senti_mfree(be);
}

static const senti_backend_i cpu_iface = {
    .name = "cpu",
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .tensor_set = cpu_tensor_set,
    .tensor_get = cpu_tensor_get,
    .supports_op = cpu_supports_op,
    .compute = cpu_compute,
    .synchronize = NULL,
    .free = cpu_free,
};

senti_backend *senti_backend_cpu_init(int n_threads) {
    senti_backend *be = senti_calloc(1, sizeof *be);
    cpu_ctx *ctx = senti_calloc(1, sizeof *ctx);
    if (!be || !ctx) {
        senti_mfree(be);
        senti_mfree(ctx);
        senti_error(SENTI_ERR_NO_MEMORY, "cpu backend: out of memory");
        return NULL;
    }
    ctx->n_threads = n_threads > 0 ? n_threads : cpu_default_threads();
    ctx->pool = cpu_pool_init(ctx->n_threads);
    if (!ctx->pool) {
        senti_mfree(be);
        senti_mfree(ctx);
        senti_error(SENTI_ERR_NO_MEMORY, "cpu backend: out of memory");
        return NULL;
    }
    ctx->feat = *cpu_get_features();
    ctx->simd = detect_simd();
    const char *mm = getenv("SENTI_MATMUL");
    ctx->matmul = mm && strcmp(mm, "blas") == 0 ? CPU_MATMUL_BLAS : CPU_MATMUL_NATIVE;
    const char *pk = getenv("SENTI_PACK");
    ctx->prepack = !(pk && strcmp(pk, "0") == 0);
    long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    ctx->l1d = l1 > 0 ? l1 : 0;
    ctx->l2 = l2 > 0 ? l2 : 0;
    be->iface = &cpu_iface;
    be->ctx = ctx;
    return be;
}

cpu_ctx *cpu_backend_ctx(senti_backend *be) { return be->ctx; }
