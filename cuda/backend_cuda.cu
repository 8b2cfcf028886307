/* backend_cuda.cu — the CUDA backend: device selection, the arena's device
 * mirror, the weight cache, staging of caller buffers, the op dispatch with a
 * fused matmul + bias (+ activation) epilogue, cuBLAS as an alternative
 * matmul, and CUDA-graph capture of a whole forward per repeated plan.
 *
 * Memory model. Tensors keep host addresses, so the executor, the model code
 * and the CPU fallback work unchanged:
 *  - buffer_alloc returns a pinned host "shadow" of the arena and allocates a
 *    device mirror of the same size; an arena address translates to the
 *    mirror at the same offset;
 *  - a leaf flagged SENTI_TFLAG_WEIGHT is uploaded once and cached by host
 *    address (plus, for matmul weights in 16-bit mode, a packed copy);
 *  - any other host buffer (a test's tensors) is staged through device
 *    scratch for one compute call: uploaded before, downloaded after.
 * Coherence, decided from the graph alone (supports_op is pure): before
 * nodes [i0, i1) run, every arena tensor they read that the host wrote (a
 * leaf) or the fallback computed (a node < i0 this backend declines) is
 * uploaded; after they run, every node among them that is an output, or that
 * a later declined node reads, is downloaded, and the stream is synchronized.
 * Invariant: device work of one call is on ctx->stream, in node order. */
#include <cublas_v2.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda.h"
#include "cuda_int.cuh"

#define MAX_ARENAS 8
#define MAX_GRAPHS 16

typedef struct arena_map {
    char *host, *dev;
    size_t size;
} arena_map;

/* a cached weight: fmt 0 raw bytes; else packed 16-bit (fmt = type16 * 2 + trans_b) */
typedef struct wentry {
    const void *host;
    int fmt;
    void *dev;
    size_t size;
} wentry;

typedef struct gentry {
    uint64_t hash;
    int seen;
    bool bad;
    cudaGraphExec_t exec;
} gentry;

/* per-call view of one storage owner outside the arena and the weights */
typedef struct stage {
    const senti_tensor *owner;
    char *dev;
    size_t size;
    bool up, down;
} stage;

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    bool use_cublas, graphs;
    int dtype16; /* 0: f32 matmuls for f32 weights; SENTI_TYPE_BF16 / F16 */
    arena_map arenas[MAX_ARENAS];
    int n_arenas;
    wentry *w; /* open addressing by (host, fmt) */
    int n_w, cap_w;
    char *scratch;
    size_t scratch_cap;
    int *d_err, *h_err;
    gentry graphs_c[MAX_GRAPHS];
    int n_graphs, graph_clock;
    /* per call, grown as needed */
    stage *st;
    int n_st, cap_st;
    const senti_tensor **mut; /* storage owners written in place (set_rows targets) */
    char *mut_host;           /* ... and whether a declined (host) node wrote it before i0 */
    int n_mut, cap_mut;
    int *uses;   /* readers of each node (views resolved to their owner) */
    char *flags; /* per node: 1 download after compute, 2 skipped by fusion */
    int cap_nodes;
    size_t mm_off;     /* scratch offset of the matmuls' packing space, after the stages */
} cuda_ctx;

enum { FL_DOWN = 1, FL_FUSED = 2 };

static senti_status cuda_fail(const char *what, cudaError_t e) {
    return senti_error(SENTI_ERR_BACKEND, "cuda: %s: %s", what, cudaGetErrorString(e));
}

static const senti_tensor *owner_of(const senti_tensor *t) { return t->view_src ? t->view_src : t; }

/* ---- devices -------------------------------------------------------------------- */

extern "C" int cuda_device_count(char *why, size_t why_size) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        if (why) snprintf(why, why_size, "cudaGetDeviceCount: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return 0;
    }
    if (n == 0 && why) snprintf(why, why_size, "cudaGetDeviceCount found 0 devices");
    return n;
}

/* "cuda" -> 0, "cuda:N" -> N, anything else -> -1 */
static int parse_device(const char *s) {
    if (!s || strncmp(s, "cuda", 4) != 0) return -1;
    if (s[4] == '\0') return 0;
    if (s[4] != ':' || s[5] < '0' || s[5] > '9') return -1;
    char *end;
    long v = strtol(s + 5, &end, 10);
    return *end || v > 1024 ? -1 : (int)v;
}

/* ---- address translation ---------------------------------------------------------- */

static arena_map *find_arena(cuda_ctx *c, const void *p) {
    for (int i = 0; i < c->n_arenas; i++)
        if ((const char *)p >= c->arenas[i].host && (const char *)p < c->arenas[i].host + c->arenas[i].size)
            return &c->arenas[i];
    return NULL;
}

static uint64_t hash_ptr(const void *p, int fmt) {
    uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull ^ (uint64_t)fmt * 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 29);
}

static wentry *w_find(cuda_ctx *c, const void *host, int fmt) {
    if (!c->cap_w) return NULL;
    for (uint64_t i = hash_ptr(host, fmt) & (uint64_t)(c->cap_w - 1);; i = (i + 1) & (uint64_t)(c->cap_w - 1)) {
        wentry *e = &c->w[i];
        if (!e->host) return NULL;
        if (e->host == host && e->fmt == fmt) return e;
    }
}

static bool w_insert(cuda_ctx *c, const void *host, int fmt, void *dev, size_t size) {
    if ((c->n_w + 1) * 2 > c->cap_w) {
        int cap = c->cap_w ? c->cap_w * 2 : 256;
        wentry *nw = (wentry *)senti_calloc((size_t)cap, sizeof *nw);
        if (!nw) return false;
        wentry *old = c->w;
        int oc = c->cap_w;
        c->w = nw, c->cap_w = cap, c->n_w = 0;
        for (int i = 0; i < oc; i++)
            if (old[i].host) w_insert(c, old[i].host, old[i].fmt, old[i].dev, old[i].size);
        senti_mfree(old);
    }
    uint64_t i = hash_ptr(host, fmt) & (uint64_t)(c->cap_w - 1);
    while (c->w[i].host) i = (i + 1) & (uint64_t)(c->cap_w - 1);
    c->w[i] = (wentry){host, fmt, dev, size};
    c->n_w++;
    return true;
}

static bool is_weight(const senti_tensor *o) { return (o->flags & SENTI_TFLAG_WEIGHT) && o->id < 0; }
static int mut_index(const cuda_ctx *c, const senti_tensor *o);
/* a weight that can live in the cache: not written in place by this graph */
static bool cacheable(const cuda_ctx *c, const senti_tensor *o) { return is_weight(o) && mut_index(c, o) < 0; }

/* device address of t's storage (NULL if not resident: a stage not yet set up) */
static char *dev_of(cuda_ctx *c, const senti_tensor *t) {
    const senti_tensor *o = owner_of(t);
    const size_t off = (size_t)((const char *)t->data - (const char *)o->data);
    arena_map *a = find_arena(c, o->data);
    if (a) return a->dev + ((const char *)o->data - a->host) + off;
    for (int i = 0; i < c->n_st; i++) /* caller buffers and in-place targets */
        if (c->st[i].owner == o && c->st[i].dev) return c->st[i].dev + off;
    if (is_weight(o)) {
        wentry *e = w_find(c, o->data, 0);
        return e ? (char *)e->dev + off : NULL;
    }
    return NULL;
}

static ctens ct(cuda_ctx *c, const senti_tensor *t) { return ctens_make(t, dev_of(c, t)); }

/* ---- memory --------------------------------------------------------------------------- */

static senti_status ensure_scratch(cuda_ctx *c, size_t need) {
    if (need <= c->scratch_cap) return SENTI_OK;
    cudaStreamSynchronize(c->stream);
    cudaFree(c->scratch);
    c->scratch = NULL, c->scratch_cap = 0;
    size_t cap = need + need / 2 + (1 << 20);
    cudaError_t e = cudaMalloc((void **)&c->scratch, cap);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return senti_error(SENTI_ERR_NO_MEMORY, "cuda: cannot allocate %zu bytes of scratch: %s", cap,
                           cudaGetErrorString(e));
    }
    c->scratch_cap = cap;
    return SENTI_OK;
}

static senti_status upload_weight(cuda_ctx *c, const senti_tensor *o) {
    if (w_find(c, o->data, 0)) return SENTI_OK;
    const size_t size = senti_nbytes(o);
    void *dev = NULL;
    cudaError_t e = cudaMalloc(&dev, size ? size : 1);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return senti_error(SENTI_ERR_NO_MEMORY, "cuda: cannot allocate %zu bytes for weight '%s': %s", size, o->name,
                           cudaGetErrorString(e));
    }
    if (size) e = cudaMemcpy(dev, o->data, size, cudaMemcpyHostToDevice);
    if (e != cudaSuccess || !w_insert(c, o->data, 0, dev, size)) {
        cudaFree(dev);
        return e != cudaSuccess ? cuda_fail("uploading a weight", e)
                                : senti_error(SENTI_ERR_NO_MEMORY, "cuda: weight table out of memory");
    }
    return SENTI_OK;
}

/* ---- supports_op ---------------------------------------------------------------------- */

static bool quant(senti_type t) { return senti_type_is_quant(t); }
/* the block types the kernels read (cuda_int.cuh c_row_elem); others are declined */
static bool gpu_quant(senti_type t) { return t == SENTI_TYPE_Q8_0 || t == SENTI_TYPE_Q4_0; }

static bool cuda_supports_op(senti_backend *be, const senti_tensor *n) {
    if (senti_op_is_view(n->op)) return true;
    switch (n->op) {
    case SENTI_OP_GET_ROWS:
        return n->src[1]->type == SENTI_TYPE_I32 && n->type == SENTI_TYPE_F32 &&
               (!quant(n->src[0]->type) || gpu_quant(n->src[0]->type));
    case SENTI_OP_ADD:
    case SENTI_OP_MUL: return n->src[0]->type == SENTI_TYPE_F32 && n->src[1]->type == SENTI_TYPE_F32;
    case SENTI_OP_SCALE:
    case SENTI_OP_GELU:
    case SENTI_OP_GELU_TANH:
    case SENTI_OP_SILU:
    case SENTI_OP_RELU:
    case SENTI_OP_TANH:
    case SENTI_OP_LAYER_NORM:
    case SENTI_OP_RMS_NORM:
    case SENTI_OP_SOFTMAX:
    case SENTI_OP_ROPE: return !quant(n->src[0]->type) && n->src[0]->type != SENTI_TYPE_I32;
    case SENTI_OP_MATMUL: {
        if (n->ne[0] * n->ne[1] > 65535 || quant(n->src[0]->type)) return false;
        if (quant(n->src[1]->type)) return gpu_quant(n->src[1]->type) && n->params[1] && n->src[1]->ne[3] % 32 == 0;
        return true;
    }
    case SENTI_OP_ATTENTION:
        return n->src[0]->ne[3] <= 256 && n->src[2]->ne[3] <= 256 && !quant(n->src[0]->type) &&
               !quant(n->src[1]->type) && !quant(n->src[2]->type) && n->src[1]->ne[2] > 0 &&
               n->src[0]->ne[2] % n->src[1]->ne[2] == 0;
    case SENTI_OP_CPY:
        return !quant(n->type) && !quant(n->src[0]->type) &&
               (n->src[0]->type == SENTI_TYPE_I32) == (n->type == SENTI_TYPE_I32);
    case SENTI_OP_CONCAT: return !quant(n->type) && senti_type_size(n->type) <= 4;
    default: return false; /* ops added later fall back to the CPU */
    }
}

/* ---- matmul ------------------------------------------------------------------------------ */

/* 16-bit type the matmul runs in (0: f32 kernels) */
static int mm_type16(const cuda_ctx *c, const senti_tensor *n) {
    const senti_tensor *b = n->src[1];
    const int64_t M = n->ne[2];
    if (M == 1 && n->params[1]) return 0; /* GEMV reads the weights as stored */
    if (b->type == SENTI_TYPE_F16 || b->type == SENTI_TYPE_BF16) return (int)b->type;
    return c->dtype16;
}

/* cuBLAS can take a and b as they lie when their innermost dims are contiguous f32 */
static bool mm_cublas_f32(const senti_tensor *n) {
    const senti_tensor *a = n->src[0], *b = n->src[1];
    return a->type == SENTI_TYPE_F32 && b->type == SENTI_TYPE_F32 && a->nb[3] == 4 && b->nb[3] == 4 &&
           a->nb[2] % 4 == 0 && a->nb[1] % 4 == 0 && a->nb[0] % 4 == 0 && b->nb[2] % 4 == 0 && b->nb[1] % 4 == 0 &&
           b->nb[0] % 4 == 0;
}

/* the cached packed copy of weight b for this matmul, packing it on first use */
static senti_status packed_weight(cuda_ctx *c, const senti_tensor *n, int t16, const void **out) {
    const senti_tensor *b = n->src[1];
    *out = NULL;
    if (!cacheable(c, b)) return SENTI_OK; /* activations and views of weights: packed per call */
    const bool tb = n->params[1];
    const int fmt = t16 * 2 + (tb ? 1 : 0);
    wentry *e = w_find(c, b->data, fmt);
    if (e) {
        *out = e->dev;
        return SENTI_OK;
    }
    const int64_t K = tb ? b->ne[3] : b->ne[2], N = tb ? b->ne[2] : b->ne[3], Kp = cu_mm_kpad(K);
    const size_t size = (size_t)(b->ne[0] * b->ne[1] * N * Kp) * 2;
    senti_status st = upload_weight(c, b);
    if (st != SENTI_OK) return st;
    void *dev = NULL;
    cudaError_t err = cudaMalloc(&dev, size ? size : 1);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return senti_error(SENTI_ERR_NO_MEMORY, "cuda: cannot allocate %zu bytes for packed weight '%s'", size,
                           b->name);
    }
    err = cu_pack_b(c->stream, t16, ct(c, b), tb, K, N, dev);
    if (err == cudaSuccess) err = cudaStreamSynchronize(c->stream);
    if (err != cudaSuccess || !w_insert(c, b->data, fmt, dev, size)) {
        cudaFree(dev);
        return err != cudaSuccess ? cuda_fail("packing a weight", err)
                                  : senti_error(SENTI_ERR_NO_MEMORY, "cuda: weight table out of memory");
    }
    *out = dev;
    return SENTI_OK;
}

static cudaError_t blas_err(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? cudaSuccess : cudaErrorUnknown; }

/* cuBLAS: f32 operands as they lie, or both operands packed to 16-bit K-major.
 * Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T. Batches:
 * one strided call per outer index, or per group of r1 heads sharing a b. */
static cudaError_t mm_cublas(cuda_ctx *c, const senti_tensor *n, int t16, const void *pb) {
    const senti_tensor *a = n->src[0], *b = n->src[1];
    const bool ta = n->params[0], tb = n->params[1];
    const int64_t M = n->ne[2], N = n->ne[3], K = ta ? a->ne[2] : a->ne[3];
    const int64_t A0 = n->ne[0], A1 = n->ne[1], r0 = n->ne[0] / b->ne[0], r1 = n->ne[1] / b->ne[1], B1 = b->ne[1];
    const float one = 1.0f, zero = 0.0f;
    float *C = (float *)dev_of(c, n);
    const int64_t groups = r1 == 1 ? 1 : B1, count = r1 == 1 ? A1 : r1;
    if (!t16) {
        const char *A = dev_of(c, a), *B = dev_of(c, b);
        const cublasOperation_t opA = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opB = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
        for (int64_t i0 = 0; i0 < A0; i0++)
            for (int64_t gi = 0; gi < groups; gi++) {
                const float *Ai = (const float *)(A + i0 * a->nb[0] + gi * count * a->nb[1]);
                const float *Bi = (const float *)(B + (i0 / r0) * b->nb[0] + gi * b->nb[1]);
                float *Ci = C + (i0 * A1 + gi * count) * M * N;
                cudaError_t e = blas_err(cublasSgemmStridedBatched(
                    c->blas, opB, opA, (int)N, (int)M, (int)K, &one, Bi, (int)(b->nb[2] / 4),
                    r1 == 1 ? (long long)(b->nb[1] / 4) : 0LL, Ai, (int)(a->nb[2] / 4), (long long)(a->nb[1] / 4),
                    &zero, Ci, (int)N, (long long)(M * N), (int)count));
                if (e != cudaSuccess) return e;
            }
        return cudaSuccess;
    }
    const int64_t Kp = cu_mm_kpad(K), Z = A0 * A1;
    uint16_t *Ap = (uint16_t *)(c->scratch + c->mm_off);
    cudaError_t e = cu_pack_a(c->stream, t16, ct(c, a), ta, A1, Z, M, K, Ap);
    if (e != cudaSuccess) return e;
    if (!pb) {
        void *bp = (char *)Ap + (((size_t)(Z * M * Kp) * 2 + 255) & ~(size_t)255);
        if ((e = cu_pack_b(c->stream, t16, ct(c, b), tb, K, N, bp)) != cudaSuccess) return e;
        pb = bp;
    }
    const cudaDataType dt = t16 == SENTI_TYPE_BF16 ? CUDA_R_16BF : CUDA_R_16F;
    for (int64_t i0 = 0; i0 < A0; i0++)
        for (int64_t gi = 0; gi < groups; gi++) {
            const uint16_t *Ai = Ap + (i0 * A1 + gi * count) * M * Kp;
            const uint16_t *Bi = (const uint16_t *)pb + ((i0 / r0) * B1 + gi) * N * Kp;
            float *Ci = C + (i0 * A1 + gi * count) * M * N;
            e = blas_err(cublasGemmStridedBatchedEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)M, (int)Kp, &one,
                                                    Bi, dt, (int)Kp, r1 == 1 ? (long long)(N * Kp) : 0LL, Ai, dt,
                                                    (int)Kp, (long long)(M * Kp), &zero, Ci, CUDA_R_32F, (int)N,
                                                    (long long)(M * N), (int)count, CUBLAS_COMPUTE_32F,
                                                    CUBLAS_GEMM_DEFAULT));
            if (e != cudaSuccess) return e;
        }
    return cudaSuccess;
}

static bool overlaps(const char *p, size_t n, const char *q, size_t m) { return p < q + m && q < p + n; }

static size_t owner_bytes(const senti_tensor *t) { return senti_nbytes(owner_of(t)); }

/* matmul i, then add(bias [N]) at i+1, then an activation at i+2, when each
 * intermediate has that one reader and nobody downloads it: the index of the
 * last node the fused kernel completes (i when nothing fuses). */
static int fuse_tail(cuda_ctx *c, senti_graph *g, int i, int i1, cu_gemm_epi *epi) {
    senti_tensor *mm = g->nodes[i];
    epi->bias = NULL, epi->act = ACT_NONE;
    if (i + 1 >= i1 || (mm->flags & SENTI_TFLAG_OUTPUT) || (c->flags[i] & FL_DOWN) || c->uses[i] != 1) return i;
    senti_tensor *add = g->nodes[i + 1], *bias = add->src[1];
    if (add->op != SENTI_OP_ADD || add->src[0] != mm || bias == mm || bias->type != SENTI_TYPE_F32 ||
        bias->ne[0] != 1 || bias->ne[1] != 1 || bias->ne[2] != 1 || bias->ne[3] != mm->ne[3] || bias->nb[3] != 4)
        return i;
    int last = i + 1;
    if (i + 2 < i1 && !(add->flags & SENTI_TFLAG_OUTPUT) && !(c->flags[i + 1] & FL_DOWN) && c->uses[i + 1] == 1) {
        const senti_tensor *x = g->nodes[i + 2];
        int act = x->src[0] != add ? ACT_NONE
                  : x->op == SENTI_OP_GELU      ? ACT_GELU
                  : x->op == SENTI_OP_GELU_TANH ? ACT_GELU_TANH
                  : x->op == SENTI_OP_SILU      ? ACT_SILU
                  : x->op == SENTI_OP_RELU      ? ACT_RELU
                  : x->op == SENTI_OP_TANH      ? ACT_TANH
                                                : ACT_NONE;
        if (act != ACT_NONE) epi->act = act, last = i + 2;
    }
    /* the fused kernel writes node `last` while reading a, b and the bias */
    const senti_tensor *out = g->nodes[last];
    const char *d = dev_of(c, out);
    const size_t dn = senti_nbytes(out);
    for (int s = 0; s < 2; s++)
        if (overlaps(d, dn, dev_of(c, owner_of(mm->src[s])), owner_bytes(mm->src[s]))) goto none;
    if (overlaps(d, dn, dev_of(c, owner_of(bias)), owner_bytes(bias))) goto none;
    epi->bias = (const float *)dev_of(c, bias);
    return last;
none:
    epi->bias = NULL, epi->act = ACT_NONE;
    return i;
}

static senti_status run_matmul(cuda_ctx *c, senti_graph *g, int i, int i1, int *next, cudaError_t *err) {
    senti_tensor *t = g->nodes[i];
    const senti_tensor *b = t->src[1];
    const int t16 = mm_type16(c, t);
    const void *pb = NULL;
    if (t16 && cacheable(c, b)) {
        wentry *e = w_find(c, b->data, t16 * 2 + (t->params[1] ? 1 : 0));
        pb = e ? e->dev : NULL;
    }
    if (c->use_cublas && !quant(b->type) && (t16 || mm_cublas_f32(t))) {
        *err = mm_cublas(c, t, t16, pb);
        return SENTI_OK;
    }
    cu_mm_args m = {};
    const int last = fuse_tail(c, g, i, i1, &m.epi);
    m.dst = ct(c, g->nodes[last]);
    m.a = ct(c, t->src[0]), m.b = ct(c, b);
    m.trans_a = t->params[0], m.trans_b = t->params[1];
    m.pack16 = t16, m.packed_b = pb, m.scratch = c->scratch + c->mm_off;
    for (int j = i; j < last; j++) c->flags[j] |= FL_FUSED;
    *next = last + 1;
    *err = cu_matmul(c->stream, &m);
    return SENTI_OK;
}

static int act_of(senti_op op) {
    switch (op) {
    case SENTI_OP_GELU: return ACT_GELU;
    case SENTI_OP_GELU_TANH: return ACT_GELU_TANH;
    case SENTI_OP_SILU: return ACT_SILU;
    case SENTI_OP_RELU: return ACT_RELU;
    case SENTI_OP_TANH: return ACT_TANH;
    default: return ACT_NONE;
    }
}

/* enqueue node i (and the nodes fused into it); *next: the node after them */
static senti_status run_node(cuda_ctx *c, senti_graph *g, int i, int i1, int *next) {
    senti_tensor *t = g->nodes[i];
    *next = i + 1;
    if (senti_op_is_view(t->op) || senti_nelements(t) == 0) return SENTI_OK;
    if (!cuda_supports_op(NULL, t))
        return senti_error(SENTI_ERR_UNSUPPORTED, "cuda: no kernel for op %s '%s'", senti_op_name(t->op), t->name);
    cudaStream_t s = c->stream;
    const ctens d = ct(c, t);
    ctens x[SENTI_MAX_SRC];
    for (int k = 0; k < SENTI_MAX_SRC; k++)
        if (t->src[k]) x[k] = ct(c, t->src[k]);
    cudaError_t e = cudaSuccess;
    switch (t->op) {
    case SENTI_OP_GET_ROWS: e = cu_get_rows(s, d, x[0], x[1], c->d_err); break;
    case SENTI_OP_ADD:
    case SENTI_OP_MUL: e = cu_binary(s, (int)t->op, d, x[0], x[1]); break;
    case SENTI_OP_SCALE: e = cu_unary(s, ACT_NONE, senti_param_f(t, 0), d, x[0]); break;
    case SENTI_OP_GELU:
    case SENTI_OP_GELU_TANH:
    case SENTI_OP_SILU:
    case SENTI_OP_RELU:
    case SENTI_OP_TANH: e = cu_unary(s, act_of(t->op), 1.0f, d, x[0]); break;
    case SENTI_OP_LAYER_NORM:
        e = cu_layer_norm(s, false, senti_param_f(t, 0), d, x[0], t->src[1] ? &x[1] : NULL, t->src[2] ? &x[2] : NULL);
        break;
    case SENTI_OP_RMS_NORM: e = cu_layer_norm(s, true, senti_param_f(t, 0), d, x[0], t->src[1] ? &x[1] : NULL, NULL); break;
    case SENTI_OP_SOFTMAX: e = cu_softmax(s, senti_param_f(t, 0), d, x[0], t->src[1] ? &x[1] : NULL); break;
    case SENTI_OP_ATTENTION:
        e = cu_attention(s, d, x[0], x[1], x[2], t->src[3] ? &x[3] : NULL, senti_param_f(t, 0), t->params[1] != 0,
                         NULL, NULL, 0, 0);
        break;
    case SENTI_OP_ROPE:
        e = cu_rope(s, d, x[0], x[1], t->src[2] ? &x[2] : NULL, t->params[0], t->params[1] != 0, senti_param_f(t, 2),
                    senti_param_f(t, 3));
        break;
    case SENTI_OP_CPY: e = cu_cpy(s, d, x[0]); break;
    case SENTI_OP_CONCAT: e = cu_concat(s, d, x[0], x[1], t->params[0]); break;
    case SENTI_OP_MATMUL: run_matmul(c, g, i, i1, next, &e); break;
    default: return senti_error(SENTI_ERR_UNSUPPORTED, "cuda: no kernel for op %s", senti_op_name(t->op));
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        return senti_error(SENTI_ERR_BACKEND, "cuda: %s '%s': %s", senti_op_name(t->op), t->name,
                           cudaGetErrorString(e));
    }
    return SENTI_OK;
}

/* ---- one compute call: plan the transfers, enqueue, capture ---------------------------- */

static senti_status grow_call_arrays(cuda_ctx *c, int n) {
    if (n <= c->cap_nodes) return SENTI_OK;
    int *u = (int *)senti_calloc((size_t)n, sizeof *u);
    char *f = (char *)senti_calloc((size_t)n, 1);
    if (!u || !f) {
        senti_mfree(u);
        senti_mfree(f);
        return senti_error(SENTI_ERR_NO_MEMORY, "cuda: out of memory planning %d nodes", n);
    }
    senti_mfree(c->uses);
    senti_mfree(c->flags);
    c->uses = u, c->flags = f, c->cap_nodes = n;
    return SENTI_OK;
}

static stage *stage_of(cuda_ctx *c, const senti_tensor *o) {
    for (int i = 0; i < c->n_st; i++)
        if (c->st[i].owner == o) return &c->st[i];
    if (c->n_st == c->cap_st) {
        int cap = c->cap_st ? c->cap_st * 2 : 64;
        stage *ns = (stage *)senti_calloc((size_t)cap, sizeof *ns);
        if (!ns) return NULL;
        if (c->n_st) memcpy(ns, c->st, (size_t)c->n_st * sizeof *ns);
        senti_mfree(c->st);
        c->st = ns, c->cap_st = cap;
    }
    stage *s = &c->st[c->n_st++];
    *s = (stage){o, NULL, senti_nbytes(o), false, false};
    return s;
}

static int mut_index(const cuda_ctx *c, const senti_tensor *o) {
    for (int i = 0; i < c->n_mut; i++)
        if (c->mut[i] == o) return i;
    return -1;
}

static bool mut_add(cuda_ctx *c, const senti_tensor *o, bool host) {
    int i = mut_index(c, o);
    if (i < 0) {
        if (c->n_mut == c->cap_mut) {
            int cap = c->cap_mut ? c->cap_mut * 2 : 32;
            const senti_tensor **nm = (const senti_tensor **)senti_calloc((size_t)cap, sizeof *nm);
            char *nh = (char *)senti_calloc((size_t)cap, 1);
            if (!nm || !nh) {
                senti_mfree(nm);
                senti_mfree(nh);
                return false;
            }
            if (c->n_mut) memcpy(nm, c->mut, (size_t)c->n_mut * sizeof *nm), memcpy(nh, c->mut_host, (size_t)c->n_mut);
            senti_mfree(c->mut);
            senti_mfree(c->mut_host);
            c->mut = nm, c->mut_host = nh, c->cap_mut = cap;
        }
        i = c->n_mut++;
        c->mut[i] = o, c->mut_host[i] = 0;
    }
    if (host) c->mut_host[i] = 1;
    return true;
}

/* stage entries with dev == NULL and `up` are arena tensors to upload; entries
 * with a dev are caller buffers outside the arena. Returns whether the call
 * touches caller buffers. */
static senti_status plan_call(cuda_ctx *c, senti_backend *be, senti_graph *g, int i0, int i1, bool *external) {
    const int n = g->n_nodes;
    senti_status st = grow_call_arrays(c, n);
    if (st != SENTI_OK) return st;
    memset(c->uses, 0, (size_t)n * sizeof *c->uses);
    memset(c->flags, 0, (size_t)n);
    c->n_st = 0, c->n_mut = 0;
    *external = false;
    for (int j = 0; j < n; j++) {
        const senti_tensor *t = g->nodes[j];
        /* an in-place node (set_rows) writes its owner's storage: never a cached weight */
        if (!senti_op_is_view(t->op) && t->view_src &&
            !mut_add(c, owner_of(t), j < i0 && !cuda_supports_op(be, t)))
            return senti_error(SENTI_ERR_NO_MEMORY, "cuda: out of memory planning transfers");
        if (senti_op_is_view(t->op)) {
            const senti_tensor *o = owner_of(t);
            if ((t->flags & SENTI_TFLAG_OUTPUT) && o->id >= i0 && o->id < i1) c->flags[o->id] |= FL_DOWN;
            continue;
        }
        for (int k = 0; k < SENTI_MAX_SRC; k++) {
            if (!t->src[k]) continue;
            const senti_tensor *o = owner_of(t->src[k]);
            if (o->id >= 0 && o->id < n) c->uses[o->id]++;
            if (j >= i1 && o->id >= i0 && o->id < i1 && !cuda_supports_op(be, t)) c->flags[o->id] |= FL_DOWN;
        }
        if (j >= i0 && j < i1 && (t->flags & SENTI_TFLAG_OUTPUT)) c->flags[j] |= FL_DOWN;
    }
    size_t stage_bytes = 0, mm_need = 0;
    for (int j = i0; j < i1; j++) {
        const senti_tensor *t = g->nodes[j];
        if (senti_op_is_view(t->op)) continue;
        for (int k = -1; k < SENTI_MAX_SRC; k++) {
            const senti_tensor *x = k < 0 ? t : t->src[k];
            if (!x) continue;
            const senti_tensor *o = owner_of(x);
            const bool read = k >= 0, before = o->id < i0; /* leafs have id -1 */
            const int mi = mut_index(c, o);
            if (find_arena(c, o->data)) {
                if (read && before && (o->id < 0 || !cuda_supports_op(be, o) || (mi >= 0 && c->mut_host[mi]))) {
                    stage *s = stage_of(c, o);
                    if (!s) return senti_error(SENTI_ERR_NO_MEMORY, "cuda: out of memory planning transfers");
                    s->up = true;
                }
                continue;
            }
            if (is_weight(o) && mi < 0) {
                if ((st = upload_weight(c, o)) != SENTI_OK) return st;
                continue;
            }
            stage *s = stage_of(c, o);
            if (!s) return senti_error(SENTI_ERR_NO_MEMORY, "cuda: out of memory planning transfers");
            if (!s->dev) {
                s->dev = (char *)(uintptr_t)(stage_bytes + 1); /* offset + 1 until the scratch exists */
                stage_bytes += (s->size + 255) & ~(size_t)255;
            }
            if (read && before) s->up = true;
            if (!read) s->down = true;
            *external = true;
        }
        if (t->op == SENTI_OP_MATMUL) {
            const int t16 = mm_type16(c, t);
            const void *pb = NULL;
            if (t16 && (st = packed_weight(c, t, t16, &pb)) != SENTI_OK) return st;
            cu_mm_args m = {};
            m.dst = ctens_make(t, NULL), m.a = ctens_make(t->src[0], NULL), m.b = ctens_make(t->src[1], NULL);
            m.trans_a = t->params[0], m.trans_b = t->params[1], m.pack16 = t16;
            const size_t need = cu_mm_scratch(&m, pb == NULL);
            if (need > mm_need) mm_need = need;
        }
    }
    c->mm_off = (stage_bytes + 255) & ~(size_t)255;
    if ((st = ensure_scratch(c, c->mm_off + mm_need + 256)) != SENTI_OK) return st;
    for (int i = 0; i < c->n_st; i++)
        if (c->st[i].dev) c->st[i].dev = c->scratch + ((size_t)(uintptr_t)c->st[i].dev - 1);
    return SENTI_OK;
}

static senti_status enqueue(cuda_ctx *c, senti_graph *g, int i0, int i1) {
    cudaStream_t s = c->stream;
    cudaError_t e = cudaMemsetAsync(c->d_err, 0, sizeof(int), s);
    for (int i = 0; i < c->n_st && e == cudaSuccess; i++) {
        const stage *x = &c->st[i];
        if (!x->up || !x->size) continue;
        e = cudaMemcpyAsync(x->dev ? x->dev : dev_of(c, x->owner), x->owner->data, x->size, cudaMemcpyHostToDevice, s);
    }
    if (e != cudaSuccess) return cuda_fail("uploading inputs", e);
    for (int j = i0; j < i1;) {
        int next;
        senti_status st = run_node(c, g, j, i1, &next);
        if (st != SENTI_OK) return st;
        j = next;
    }
    for (int j = i0; j < i1 && e == cudaSuccess; j++) {
        const senti_tensor *t = g->nodes[j];
        if (!(c->flags[j] & FL_DOWN) || senti_op_is_view(t->op) || find_arena(c, t->data) == NULL) continue;
        const size_t n = senti_nbytes(t);
        if (n) e = cudaMemcpyAsync(t->data, dev_of(c, t), n, cudaMemcpyDeviceToHost, s);
    }
    for (int i = 0; i < c->n_st && e == cudaSuccess; i++) {
        const stage *x = &c->st[i];
        if (x->down && x->dev && x->size)
            e = cudaMemcpyAsync(x->owner->data, x->dev, x->size, cudaMemcpyDeviceToHost, s);
    }
    if (e == cudaSuccess) e = cudaMemcpyAsync(c->h_err, c->d_err, sizeof(int), cudaMemcpyDeviceToHost, s);
    if (e != cudaSuccess) return cuda_fail("downloading results", e);
    return SENTI_OK;
}

static uint64_t fnv_mix(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001B3ull;
    return h;
}

/* everything a replay depends on: ops, shapes, strides, params and device addresses */
static uint64_t plan_hash(cuda_ctx *c, senti_graph *g) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv_mix(h, &c->scratch, sizeof c->scratch);
    for (int j = 0; j < g->n_nodes; j++) {
        const senti_tensor *t = g->nodes[j];
        const char *d = dev_of(c, t);
        h = fnv_mix(h, &t->op, sizeof t->op);
        h = fnv_mix(h, &t->type, sizeof t->type);
        h = fnv_mix(h, t->ne, sizeof t->ne);
        h = fnv_mix(h, t->nb, sizeof t->nb);
        h = fnv_mix(h, t->params, sizeof t->params);
        h = fnv_mix(h, &t->flags, sizeof t->flags);
        h = fnv_mix(h, &d, sizeof d);
        for (int k = 0; k < SENTI_MAX_SRC; k++) {
            const senti_tensor *x = t->src[k];
            const char *xd = x ? dev_of(c, x) : NULL;
            h = fnv_mix(h, &xd, sizeof xd);
            if (x) h = fnv_mix(h, x->ne, sizeof x->ne), h = fnv_mix(h, x->nb, sizeof x->nb),
                   h = fnv_mix(h, &x->type, sizeof x->type);
        }
    }
    for (int i = 0; i < c->n_st; i++) h = fnv_mix(h, &c->st[i].owner->data, sizeof(void *));
    return h;
}

static void graphs_clear(cuda_ctx *c) {
    for (int i = 0; i < c->n_graphs; i++)
        if (c->graphs_c[i].exec) cudaGraphExecDestroy(c->graphs_c[i].exec);
    c->n_graphs = 0;
}

static gentry *graph_slot(cuda_ctx *c, uint64_t h) {
    for (int i = 0; i < c->n_graphs; i++)
        if (c->graphs_c[i].hash == h) return &c->graphs_c[i];
    gentry *e;
    if (c->n_graphs < MAX_GRAPHS) e = &c->graphs_c[c->n_graphs++];
    else {
        e = &c->graphs_c[c->graph_clock++ % MAX_GRAPHS];
        if (e->exec) cudaGraphExecDestroy(e->exec);
    }
    *e = (gentry){h, 0, false, NULL};
    return e;
}

/* the second time a whole-graph plan is seen it is captured; later ones replay */
static senti_status run_captured(cuda_ctx *c, senti_graph *g, gentry *ge) {
    if (ge->exec) {
        cudaError_t e = cudaGraphLaunch(ge->exec, c->stream);
        return e == cudaSuccess ? SENTI_OK : cuda_fail("launching a CUDA graph", e);
    }
    if (ge->bad || ge->seen++ < 1) return enqueue(c, g, 0, g->n_nodes);
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    if (e != cudaSuccess) {
        cudaGetLastError();
        ge->bad = true;
        return enqueue(c, g, 0, g->n_nodes);
    }
    senti_status st = enqueue(c, g, 0, g->n_nodes);
    e = cudaStreamEndCapture(c->stream, &graph);
    if (st != SENTI_OK || e != cudaSuccess || !graph ||
        cudaGraphInstantiate(&ge->exec, graph, 0) != cudaSuccess) {
        cudaGetLastError();
        if (graph) cudaGraphDestroy(graph);
        ge->exec = NULL;
        ge->bad = true;
        return enqueue(c, g, 0, g->n_nodes); /* run eagerly: a real error shows itself here */
    }
    cudaGraphDestroy(graph);
    e = cudaGraphLaunch(ge->exec, c->stream);
    return e == cudaSuccess ? SENTI_OK : cuda_fail("launching a CUDA graph", e);
}

static senti_status cuda_compute(senti_backend *be, senti_graph *g, int i0, int i1) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess) return cuda_fail("selecting the device", e);
    bool external;
    senti_status st = plan_call(c, be, g, i0, i1, &external);
    if (st != SENTI_OK) return st;
    if (c->graphs && !external && i0 == 0 && i1 == g->n_nodes && g->n_nodes > 0)
        st = run_captured(c, g, graph_slot(c, plan_hash(c, g)));
    else st = enqueue(c, g, i0, i1);
    e = cudaStreamSynchronize(c->stream);
    if (st != SENTI_OK) return st;
    if (e != cudaSuccess) return cuda_fail("running the graph", e);
    if (*c->h_err) {
        for (int j = i0; j < i1; j++) {
            const senti_tensor *t = g->nodes[j];
            if (t->op == SENTI_OP_GET_ROWS)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "get_rows '%s': an id of '%s' is outside [0, %lld) of table '%s' (cuda)", t->name,
                                   t->src[1]->name, (long long)t->src[0]->ne[2], t->src[0]->name);
        }
        return senti_error(SENTI_ERR_INVALID_ARG, "cuda: an embedding id is out of range");
    }
    return SENTI_OK;
}

/* ---- the backend table -------------------------------------------------------------------- */

static void *cuda_buffer_alloc(senti_backend *be, size_t size) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    if (c->n_arenas == MAX_ARENAS) {
        senti_error(SENTI_ERR_NO_MEMORY, "cuda: more than %d arenas", MAX_ARENAS);
        return NULL;
    }
    cudaSetDevice(c->device);
    char *host = NULL, *dev = NULL;
    cudaError_t e = cudaHostAlloc((void **)&host, size, cudaHostAllocDefault);
    if (e == cudaSuccess) e = cudaMalloc((void **)&dev, size);
    if (e != cudaSuccess) {
        cudaGetLastError();
        if (host) cudaFreeHost(host);
        senti_error(SENTI_ERR_NO_MEMORY, "cuda: cannot allocate a %zu-byte arena: %s", size, cudaGetErrorString(e));
        return NULL;
    }
    c->arenas[c->n_arenas++] = (arena_map){host, dev, size};
    return host;
}

static void cuda_buffer_free(senti_backend *be, void *buf) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    for (int i = 0; i < c->n_arenas; i++) {
        if (c->arenas[i].host != buf) continue;
        cudaStreamSynchronize(c->stream);
        graphs_clear(c); /* captured addresses die with the arena */
        cudaFreeHost(c->arenas[i].host);
        cudaFree(c->arenas[i].dev);
        c->arenas[i] = c->arenas[--c->n_arenas];
        return;
    }
}

static void cuda_tensor_set(senti_backend *be, senti_tensor *t, const void *src, size_t offs, size_t size) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    memcpy((char *)t->data + offs, src, size);
    arena_map *a = find_arena(c, t->data);
    if (a) cudaMemcpy(a->dev + ((char *)t->data - a->host) + offs, src, size, cudaMemcpyHostToDevice);
}

static void cuda_tensor_get(senti_backend *be, const senti_tensor *t, void *dst, size_t offs, size_t size) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    arena_map *a = find_arena(c, t->data);
    if (a) cudaMemcpy(dst, a->dev + ((const char *)t->data - a->host) + offs, size, cudaMemcpyDeviceToHost);
    else memcpy(dst, (const char *)t->data + offs, size);
}

static void cuda_synchronize(senti_backend *be) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    cudaStreamSynchronize(c->stream);
}

static void cuda_free(senti_backend *be) {
    cuda_ctx *c = (cuda_ctx *)be->ctx;
    cudaSetDevice(c->device);
    if (c->stream) cudaStreamSynchronize(c->stream);
    graphs_clear(c);
    for (int i = 0; i < c->cap_w; i++)
        if (c->w[i].host) cudaFree(c->w[i].dev);
    for (int i = 0; i < c->n_arenas; i++) cudaFreeHost(c->arenas[i].host), cudaFree(c->arenas[i].dev);
    cudaFree(c->scratch);
    cudaFree(c->d_err);
    if (c->h_err) cudaFreeHost(c->h_err);
    if (c->blas) cublasDestroy(c->blas);
    cudaFree(c->blas_ws);
    if (c->stream) cudaStreamDestroy(c->stream);
    senti_mfree(c->w);
    senti_mfree(c->st);
    senti_mfree(c->mut);
    senti_mfree(c->mut_host);
    senti_mfree(c->uses);
    senti_mfree(c->flags);
    senti_mfree(c);
    senti_mfree(be);
}

static const senti_backend_i cuda_iface = {
    "cuda",           cuda_buffer_alloc, cuda_buffer_free, cuda_tensor_set, cuda_tensor_get,
    cuda_supports_op, cuda_compute,      cuda_synchronize, cuda_free,
};

static bool env_is(const char *name, const char *value) {
    const char *v = getenv(name);
    return v && strcmp(v, value) == 0;
}

extern "C" senti_backend *senti_backend_cuda_init(const char *device) {
    const int dev = parse_device(device);
    if (dev < 0) {
        senti_error(SENTI_ERR_INVALID_ARG, "cuda: bad device '%s' (expected cuda or cuda:N)", device ? device : "");
        return NULL;
    }
    char why[160] = "";
    const int count = cuda_device_count(why, sizeof why);
    if (dev >= count) {
        senti_error(SENTI_ERR_UNSUPPORTED, "cuda: device %d does not exist (%d devices%s%s)", dev, count,
                    why[0] ? ": " : "", why);
        return NULL;
    }
    senti_backend *be = (senti_backend *)senti_calloc(1, sizeof *be);
    cuda_ctx *c = (cuda_ctx *)senti_calloc(1, sizeof *c);
    if (!be || !c) {
        senti_mfree(be);
        senti_mfree(c);
        senti_error(SENTI_ERR_NO_MEMORY, "cuda backend: out of memory");
        return NULL;
    }
    be->iface = &cuda_iface, be->ctx = c;
    c->device = dev;
    const size_t ws = 32u << 20;
    cudaError_t e = cudaSetDevice(dev);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (e == cudaSuccess) e = cudaMalloc((void **)&c->d_err, sizeof(int));
    if (e == cudaSuccess) e = cudaMallocHost((void **)&c->h_err, sizeof(int));
    if (e == cudaSuccess) e = cudaMalloc(&c->blas_ws, ws);
    if (e != cudaSuccess) {
        cudaGetLastError();
        senti_error(SENTI_ERR_BACKEND, "cuda: initialising device %d: %s", dev, cudaGetErrorString(e));
        cuda_free(be);
        return NULL;
    }
    *c->h_err = 0;
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS ||
        cublasSetWorkspace(c->blas, c->blas_ws, ws) != CUBLAS_STATUS_SUCCESS) {
        const char *why = senti_cublas_error();
        senti_error(SENTI_ERR_BACKEND, "cuda: cannot create a cuBLAS handle on device %d%s%s", dev, why ? ": " : "",
                    why ? why : "");
        cuda_free(be);
        return NULL;
    }
    c->use_cublas = env_is("SENTI_MATMUL", "cublas");
    c->dtype16 = env_is("SENTI_CUDA_DTYPE", "bf16") ? SENTI_TYPE_BF16
                 : env_is("SENTI_CUDA_DTYPE", "f16") ? SENTI_TYPE_F16
                                                     : 0;
    c->graphs = !env_is("SENTI_CUDA_GRAPHS", "0");
    return be;
}
