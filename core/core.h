/* core.h — tensors, graphs, the memory planner, the executor, errors,
 * allocation and half-precision helpers: what every other folder builds on.
 *
 * Tensor layout: shapes are always stored as 4 dims, outermost first, padded
 * with leading 1s (ne[3] is the innermost dim whatever the rank); `ndim` is
 * the logical rank. Strides nb[] are in bytes; nb[3] is the element size
 * (for quantized types the bytes of one 32-element block: their innermost dim
 * is always contiguous, a multiple of 32, and addressed by row through
 * nb[0..2] and senti_row_size()). */
#ifndef SENTI_CORE_H
#define SENTI_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "senti.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors and logging ------------------------------------------------ */

/* Set this thread's error message and return st (for `return senti_error(…)`);
 * an argument may be senti_last_error() (wrapping the message in a prefix). */
senti_status senti_error(senti_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void senti_clear_error(void);

/* Our own bugs only: never for validating input. Prints and aborts. */
#define SENTI_ASSERT(x)                                                        \
    do {                                                                       \
        if (!(x)) senti_assert_fail(__FILE__, __LINE__, #x);                   \
    } while (0)
_Noreturn void senti_assert_fail(const char *file, int line, const char *expr);

/* ---- allocation (all heap traffic goes through the senti_allocator) ----- */

void *senti_malloc(size_t size);                  /* 64-byte aligned */
void *senti_calloc(size_t n, size_t size);        /* zeroed, overflow-checked */
void *senti_aligned_alloc(size_t size, size_t align);
void senti_mfree(void *ptr);                      /* accepts NULL */
char *senti_strdup(const char *s);

/* Overflow-safe size arithmetic: return false on overflow. */
static inline bool senti_mul_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool senti_add_ok(size_t a, size_t b, size_t *out) {
    return !__builtin_add_overflow(a, b, out);
}

double senti_time_ms(void); /* monotonic clock, milliseconds */

/* ---- half precision and quantized blocks --------------------------------- */

typedef uint16_t senti_f16;
typedef uint16_t senti_bf16;

float senti_f16_to_f32(senti_f16 h);
senti_f16 senti_f32_to_f16(float f);                     /* round to nearest even */
static inline float senti_bf16_to_f32(senti_bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline senti_bf16 senti_f32_to_bf16(float f) {     /* round to nearest even */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (senti_bf16)((u >> 16) | 0x40); /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (senti_bf16)(u >> 16);
}

#define SENTI_QK 32 /* elements per quantized block */
typedef struct { senti_f16 d; int8_t qs[SENTI_QK]; } senti_block_q8_0;      /* 34 bytes */
typedef struct { senti_f16 d; uint8_t qs[SENTI_QK / 2]; } senti_block_q4_0; /* 18 bytes */

/* ggml's K-quant super-blocks of 256 elements (GGUF files; dequantized, not written).
 * q4_K: 8 sub-blocks of 32 with 6-bit scale and min packed in scales[12];
 *   x = d * sc[j] * q - dmin * m[j], q a 4-bit nibble of qs (sub-blocks 2c / 2c+1 =
 *   low / high nibbles of qs[32c .. 32c+32)).
 * q6_K: 16 sub-blocks of 16 with int8 scales; 6-bit q = 4 low bits in ql, 2 high
 *   bits in qh; x = d * scales[i / 16] * (q - 32). */
#define SENTI_QK_K 256
typedef struct { senti_f16 d, dmin; uint8_t scales[12]; uint8_t qs[SENTI_QK_K / 2]; } senti_block_q4_K; /* 144 */
typedef struct { uint8_t ql[SENTI_QK_K / 2]; uint8_t qh[SENTI_QK_K / 4]; int8_t scales[SENTI_QK_K / 16]; senti_f16 d; } senti_block_q6_K; /* 210 */
void senti_dequantize_row_q4_K(const senti_block_q4_K *x, float *y, int64_t n); /* n % 256 == 0 */
void senti_dequantize_row_q6_K(const senti_block_q6_K *x, float *y, int64_t n);
bool senti_type_is_kquant(senti_type t); /* q4_K, q6_K */
/* q4_K sub-block j's 6-bit scale and min from a block's scales[12]. */
void senti_q4_K_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m);
/* A q6_K block's 256 values q in [0, 63] (value = d * scales[e / 16] * (q - 32)). */
void senti_unpack_q6_K(const senti_block_q6_K *x, uint8_t q[SENTI_QK_K]);

/* Elements per block (1, 32 or 256) and bytes per block (int8: 1 and 1, the
 * element; its row scale is counted by senti_row_size). */
int64_t senti_type_block(senti_type t);
size_t senti_type_size(senti_type t);
/* q8_0, q4_0, the K-quants and int8: the types the int8 GEMM runs (weights
 * with trans_b, K a multiple of the block). */
bool senti_type_is_quant(senti_type t);
/* Bytes of n elements of type t (n must be a multiple of the block). For the
 * row-scaled int8 this is the whole row, n + 4: it is also the byte offset of
 * element n within a row, since the scale leads. */
size_t senti_row_size(senti_type t, int64_t n);

/* ---- int8: row-scaled symmetric int8 (SENTI_TYPE_INT8) --------------------
 * One row of n values x is stored as {f32 d; int8 q[n]} (the scale may sit
 * unaligned: read it with memcpy), d = amax|x| / 127, q = round(x / d)
 * computed as roundf(x * (1 / d)) and clamped to [-127, 127]; value q * d. An
 * all-zero row has d = 0. A row holding NaN or inf gets d = NaN (q = 0), so
 * every product with it is NaN. The int8 GEMM's activations are quantized
 * per row at run time by the centred variant below. */
/* q[0..n) of x and the scale d (returned). */
float senti_quantize_int8(const float *x, int8_t *q, int64_t n);
/* The int8 GEMM's activation rule: centred on the row's mid-range, so an
 * asymmetric row (a GELU output) gets the resolution of u8 with an offset:
 * c = (0.5 min + 0.5 max) + 0, h = max(max - c, c - min) + 0 (+ 0: a ±0 tie
 * of min / max never shows as -0), d = h / 127, q =
 * roundf((x - c) * (1 / d)) clamped to [-127, 127]; value q d + c. Returns d,
 * sets *c; a row holding NaN or inf gets d = c = NaN (q = 0). */
float senti_quantize_int8_centered(const float *x, int8_t *q, int64_t n, float *c);
void senti_quantize_row_int8(const float *x, void *row, int64_t n);
void senti_dequantize_row_int8(const void *row, float *y, int64_t n);
/* The largest K of an int8 GEMM: |sum_k a_k w_k| <= 127^2 K must fit int32, so
 * the integer dot is exact (wrap-around in partial sums cancels). */
#define SENTI_INT8_MAX_K 131072

/* Reference (de)quantization, rows of n elements (n % 32 == 0). The quantizers
 * follow ggml's rounding so files stay bit-compatible. */
void senti_quantize_row_q8_0(const float *x, senti_block_q8_0 *y, int64_t n);
void senti_quantize_row_q4_0(const float *x, senti_block_q4_0 *y, int64_t n);
void senti_dequantize_row_q8_0(const senti_block_q8_0 *x, float *y, int64_t n);
void senti_dequantize_row_q4_0(const senti_block_q4_0 *x, float *y, int64_t n);
/* Any type -> f32 for one contiguous row of n elements (i32 is converted). */
void senti_row_to_f32(senti_type t, const void *x, float *y, int64_t n);
/* f32 -> any type for one contiguous row (i32 rounds to nearest). */
void senti_row_from_f32(senti_type t, const float *x, void *y, int64_t n);

/* ---- ops ----------------------------------------------------------------- */

typedef enum senti_op {
#define SENTI_OP(e, name, view) SENTI_OP_##e,
#include "ops.def"
#undef SENTI_OP
    SENTI_OP_COUNT
} senti_op;

const char *senti_op_name(senti_op op);
bool senti_op_is_view(senti_op op);

/* ---- tensors ------------------------------------------------------------- */

#define SENTI_MAX_DIMS 4
#define SENTI_MAX_SRC 4
#define SENTI_MAX_PARAMS 8

enum {
    SENTI_TFLAG_INPUT = 1,  /* leaf whose data the caller fills (arena-placed if data==NULL) */
    SENTI_TFLAG_OUTPUT = 2, /* kept alive to the end of the graph */
    SENTI_TFLAG_WEIGHT = 4, /* leaf with caller-owned data (mmap or load buffer) */
    SENTI_TFLAG_CONST = 8,  /* data never changes at this address while any backend
                               that computed it lives: backends may cache forms
                               derived from it (packed panels), keyed by address */
};

typedef struct senti_tensor senti_tensor;
struct senti_tensor {
    senti_type type;
    int ndim;                        /* logical rank, 1..4 */
    int64_t ne[SENTI_MAX_DIMS];      /* shape, padded to 4 dims, outermost first */
    size_t nb[SENTI_MAX_DIMS];       /* byte strides, outermost first */

    senti_op op;
    senti_tensor *src[SENTI_MAX_SRC]; /* borrowed: owned by the same graph */
    int32_t params[SENTI_MAX_PARAMS]; /* op parameters (ints, or floats bit-cast) */
    int32_t flags;

    void *data;             /* borrowed: arena, weight storage or caller buffer */
    senti_tensor *view_src; /* the tensor that owns the storage of a view */
    size_t view_offs;       /* byte offset of a view into view_src's storage */

    int id;                 /* index in the graph's node list; -1 for leafs */
    int n_uses;             /* planner: node sources that name it, +1 if an output */
    size_t offs;            /* planner: byte offset in the arena (SIZE_MAX: not placed) */
    char name[48];
};

static inline int64_t senti_nelements(const senti_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}
static inline int64_t senti_nrows(const senti_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2];
}
/* Bytes spanned by the tensor's storage (contiguous or not). */
size_t senti_nbytes(const senti_tensor *t);
/* Innermost dim contiguous and every stride equal to the dense layout. */
bool senti_is_contiguous(const senti_tensor *t);
/* Innermost dim contiguous (rows may be strided). */
bool senti_rows_contiguous(const senti_tensor *t);
bool senti_same_shape(const senti_tensor *a, const senti_tensor *b);
/* Fill dense strides for t's type and shape. */
void senti_set_dense_strides(senti_tensor *t);
/* Pointer to the element/row at 4-D index (i0,i1,i2) row start, plus i3 element
 * offset for non-quantized types. */
static inline void *senti_row_ptr(const senti_tensor *t, int64_t i0, int64_t i1, int64_t i2) {
    return (char *)t->data + i0 * t->nb[0] + i1 * t->nb[1] + i2 * t->nb[2];
}
/* Float and int parameters, bit-cast into params[]. */
static inline float senti_param_f(const senti_tensor *t, int i) {
    float f;
    memcpy(&f, &t->params[i], 4);
    return f;
}
static inline void senti_set_param_f(senti_tensor *t, int i, float f) {
    memcpy(&t->params[i], &f, 4);
}
/* "[2,3,4]" into buf; returns buf. */
const char *senti_shape_str(const senti_tensor *t, char *buf, size_t n);

/* ---- graphs --------------------------------------------------------------
 * A graph owns its tensor structs (not their data). Op constructors append
 * nodes, so append order is a valid execution order. A constructor given a
 * NULL source returns NULL, so a chain of calls can be checked once at the
 * end; the first failure's message stays in senti_last_error() and in
 * graph->err. Not thread-safe: one graph per thread while building. */
typedef struct senti_graph senti_graph;
struct senti_graph {
    senti_tensor **nodes; /* computed tensors and views, in execution order */
    int n_nodes, cap_nodes;
    senti_tensor **leafs; /* inputs and weights */
    int n_leafs, cap_leafs;
    void *pool;           /* chunks of tensor structs */
    senti_status status;  /* first construction error, SENTI_OK if none */
    char err[256];

    /* filled by graph_plan */
    bool planned;
    size_t arena_size;    /* peak bytes of the arena */
    size_t sum_size;      /* what the intermediates would take unshared */
};

senti_graph *graph_init(void);
void graph_free(senti_graph *g);

/* A new leaf of `ndim` dims (shape outermost first). data NULL: placed in the
 * arena by the planner (an input the caller fills after planning). */
senti_tensor *graph_new_tensor(senti_graph *g, senti_type type, int ndim, const int64_t *shape);
senti_tensor *graph_new_tensor_1d(senti_graph *g, senti_type type, int64_t n0);
senti_tensor *graph_new_tensor_2d(senti_graph *g, senti_type type, int64_t n0, int64_t n1);
senti_tensor *graph_new_tensor_3d(senti_graph *g, senti_type type, int64_t n0, int64_t n1, int64_t n2);
senti_tensor *graph_new_tensor_4d(senti_graph *g, senti_type type, int64_t n0, int64_t n1, int64_t n2, int64_t n3);

/* Used by op constructors (kernels/ops.c): a node whose shape is given. */
senti_tensor *graph_new_node(senti_graph *g, senti_op op, senti_type type, int ndim, const int64_t *shape);
/* Record a construction failure (sets senti_last_error too); returns NULL. */
senti_tensor *graph_fail(senti_graph *g, senti_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void senti_tensor_set_name(senti_tensor *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Mark t as an output: its memory is never reused within the graph. */
void graph_set_output(senti_tensor *t);

/* ---- memory planner -------------------------------------------------------
 * Places every intermediate (and every leaf with data == NULL) in one arena
 * by lifetime: a tensor lives from the node that makes it to the last node
 * that reads it (directly or through a view); outputs and leafs live for the
 * whole graph. Two tensors whose lifetimes overlap never overlap in memory.
 * Sets t->offs for placed tensors, g->arena_size (the peak) and g->sum_size. */
#define SENTI_ARENA_ALIGN 64
senti_status graph_plan(senti_graph *g);

/* Once the arena exists: resolve every placed tensor's and every view's data
 * pointer. */
void graph_bind(senti_graph *g, void *arena);

/* ---- executor -------------------------------------------------------------
 * Plans (once), binds to an arena owned by the executor context and runs all
 * nodes on the backend; nodes the backend declines run on the fallback
 * backend (the CPU). SENTI_PROFILE=1 in the environment, or exec->profile,
 * times every node and prints per-op-type and per-node totals on
 * senti_exec_free or exec_print_profile. */
struct senti_backend;
typedef struct senti_exec senti_exec;
senti_exec *exec_init(struct senti_backend *be, struct senti_backend *fallback);
/* Backends by name (backends.c): device NULL / "cpu", or "cuda" / "cuda:N"
 * (the CUDA backend, with the CPU backend of n_threads as *fallback for what
 * it declines). NULL with a message naming the device when the build or the
 * machine lacks it. exec_device_check: the same check without creating. */
senti_status exec_device_check(const char *device);
struct senti_backend *exec_backend_init(const char *device, int n_threads, struct senti_backend **fallback);
int exec_cuda_device_count(void); /* 0 without CUDA in the build, a driver or a GPU */
/* True when device (NULL / "cpu") multiplies bf16 weights natively at its
 * SIMD level (cpu_bf16_native); false for any other device. */
bool exec_bf16_native(const char *device);
/* The CPU's kernel level ("avx512", "avx2", "scalar") for device NULL / "cpu", else device itself. */
const char *exec_simd_level(const char *device);
void exec_free(senti_exec *ex);
/* Plan g if needed, make sure the arena is big enough, bind and return the
 * arena base so the caller can fill inputs. */
senti_status exec_prepare(senti_exec *ex, senti_graph *g);
/* How many times the arena has been allocated (a larger graph than any
 * before it reallocates it, touching fresh pages). */
int64_t exec_arena_allocs(const senti_exec *ex);
senti_status exec_compute(senti_exec *ex, senti_graph *g);
void exec_set_profile(senti_exec *ex, bool on);
/* Print the profile gathered so far (per op type and per node) to stream f. */
void exec_print_profile(senti_exec *ex, void *file);

#ifdef __cplusplus
}
#endif

#include "formats.h" /* the file readers (safetensors, config.json, GGUF) */

#endif /* SENTI_CORE_H */
