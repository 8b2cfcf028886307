/* gguf.c — read-only mapped GGUF v2/v3 files (metadata, tensor infos, data)
 * and a writer for them.
 *
 * Invariants once loaded: see model.h. The parser reads through a cursor that
 * never moves past the end of the mapping: every read first checks that the
 * bytes remain, every count is bounded by the bytes that are left before
 * anything is allocated for it, and all size arithmetic is overflow-checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

/* ---- value types and ggml tensor types ---------------------------------------- */

static const struct { const char *name; size_t size; } vtypes[GGUF_VT_COUNT] = {
    [GGUF_VT_U8] = {"u8", 1},   [GGUF_VT_I8] = {"i8", 1},       [GGUF_VT_U16] = {"u16", 2},
    [GGUF_VT_I16] = {"i16", 2}, [GGUF_VT_U32] = {"u32", 4},     [GGUF_VT_I32] = {"i32", 4},
    [GGUF_VT_F32] = {"f32", 4}, [GGUF_VT_BOOL] = {"bool", 1},   [GGUF_VT_STRING] = {"string", 0},
    [GGUF_VT_ARRAY] = {"array", 0}, [GGUF_VT_U64] = {"u64", 8}, [GGUF_VT_I64] = {"i64", 8},
    [GGUF_VT_F64] = {"f64", 8},
};

size_t gguf_vtype_size(gguf_vtype t) { return (unsigned)t < GGUF_VT_COUNT ? vtypes[t].size : 0; }
const char *gguf_vtype_name(gguf_vtype t) { return (unsigned)t < GGUF_VT_COUNT ? vtypes[t].name : "?"; }

/* ggml type ids and names (for messages); senti runs five of them. */
static const char *const ggml_names[] = {
    [0] = "f32",      [1] = "f16",     [2] = "q4_0",    [3] = "q4_1",    [6] = "q5_0",    [7] = "q5_1",
    [8] = "q8_0",     [9] = "q8_1",    [10] = "q2_K",   [11] = "q3_K",   [12] = "q4_K",   [13] = "q5_K",
    [14] = "q6_K",    [15] = "q8_K",   [16] = "iq2_xxs", [17] = "iq2_xs", [18] = "iq3_xxs", [19] = "iq1_s",
    [20] = "iq4_nl",  [21] = "iq3_s",  [22] = "iq2_s",  [23] = "iq4_xs", [24] = "i8",     [25] = "i16",
    [26] = "i32",     [27] = "i64",    [28] = "f64",    [29] = "iq1_m",  [30] = "bf16",   [34] = "tq1_0",
    [35] = "tq2_0",   [39] = "mxfp4",
};

static senti_type ggml_to_senti(uint32_t id) {
    switch (id) {
    case 0: return SENTI_TYPE_F32;
    case 1: return SENTI_TYPE_F16;
    case 30: return SENTI_TYPE_BF16;
    case 8: return SENTI_TYPE_Q8_0;
    case 2: return SENTI_TYPE_Q4_0;
    case 12: return SENTI_TYPE_Q4_K;
    case 14: return SENTI_TYPE_Q6_K;
    default: return SENTI_TYPE_COUNT;
    }
}

/* ggml types senti reads but does not compute with (llama.cpp's older
 * quantizations, e.g. the q5_0 layers of a Q4_K_M file): their size is
 * validated here and gguf_tensor_read_f32 dequantizes them; a model opened
 * from the file holds q5_0 as q8_0 (the same values: gguf_tensor_read_q8_0)
 * and q4_1 / q5_1 as f32. Blocks of 32: q4_1 {f16 d, m; u8 qs[16]},
 * q5_0 {f16 d; u8 qh[4]; u8 qs[16]}, q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}. */
typedef struct foreign_type { uint32_t id; size_t bytes; } foreign_type;
static const foreign_type FOREIGN[] = {{3, 20}, {6, 22}, {7, 24}};

static const foreign_type *foreign_of(uint32_t id) {
    for (size_t i = 0; i < sizeof FOREIGN / sizeof FOREIGN[0]; i++)
        if (FOREIGN[i].id == id) return &FOREIGN[i];
    return NULL;
}

static uint16_t u16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* The 5-bit integers of one q5_0 block at p, minus 16 (ggml's dequantize_row_q5_0 before the scale). */
static void q5_0_ints(const uint8_t *p, int8_t *q) {
    const uint32_t qh = (uint32_t)p[2] | (uint32_t)p[3] << 8 | (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((int)((p[6 + j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16);
        q[j + 16] = (int8_t)((int)((p[6 + j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16);
    }
}

/* One block of 32 elements of foreign type id at p into y (ggml's dequantize_row_*). */
static void foreign_block(uint32_t id, const uint8_t *p, float *y) {
    const float d = senti_f16_to_f32(u16le(p));
    if (id == 6) {
        int8_t q[32];
        q5_0_ints(p, q);
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
        return;
    }
    const float mn = senti_f16_to_f32(u16le(p + 2));
    const uint8_t *qs = p + (id == 3 ? 4 : 8);
    const uint32_t qh = id == 3 ? 0 : (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    for (int j = 0; j < 16; j++) {
        int x0 = qs[j] & 0x0F, x1 = qs[j] >> 4;
        if (id != 3) x0 |= (int)(((qh >> j) << 4) & 0x10), x1 |= (int)((qh >> (j + 12)) & 0x10);
        y[j] = (float)x0 * d + mn, y[j + 16] = (float)x1 * d + mn;
    }
}

bool gguf_tensor_is_foreign(const gguf_tensor *t) { return t->type == SENTI_TYPE_COUNT && foreign_of(t->ggml_type); }

senti_status gguf_tensor_read_f32(const gguf_tensor *t, float *dst) {
    if (!gguf_tensor_is_foreign(t)) {
        if ((unsigned)t->type >= SENTI_TYPE_COUNT)
            return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor '%s' cannot be read as f32", t->file, t->name);
        senti_row_to_f32(t->type, t->data, dst, t->numel);
        return SENTI_OK;
    }
    const size_t bytes = foreign_of(t->ggml_type)->bytes;
    for (int64_t b = 0; b < t->numel / 32; b++) foreign_block(t->ggml_type, (const uint8_t *)t->data + (size_t)b * bytes, dst + b * 32);
    return SENTI_OK;
}

bool gguf_tensor_q8_0_exact(const gguf_tensor *t) { return gguf_tensor_is_foreign(t) && t->ggml_type == 6; }

senti_status gguf_tensor_read_q8_0(const gguf_tensor *t, void *out) {
    senti_block_q8_0 *dst = out;
    if (!gguf_tensor_q8_0_exact(t))
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor '%s' is not q5_0: it cannot be held as q8_0 exactly",
                           t->file, t->name);
    for (int64_t b = 0; b < t->numel / 32; b++) {
        const uint8_t *p = (const uint8_t *)t->data + (size_t)b * 22;
        dst[b].d = u16le(p);
        q5_0_ints(p, dst[b].qs);
    }
    return SENTI_OK;
}

static uint32_t senti_to_ggml(senti_type t) {
    switch (t) {
    case SENTI_TYPE_F32: return 0;
    case SENTI_TYPE_F16: return 1;
    case SENTI_TYPE_BF16: return 30;
    case SENTI_TYPE_Q8_0: return 8;
    case SENTI_TYPE_Q4_0: return 2;
    case SENTI_TYPE_Q4_K: return 12;
    case SENTI_TYPE_Q6_K: return 14;
    default: return UINT32_MAX;
    }
}

gguf_value gguf_arr_get(const gguf_value *a, uint64_t i) {
    gguf_value r = {.type = a->v.arr.type};
    if (a->v.arr.items) return a->v.arr.items[i];
    const uint8_t *p = (const uint8_t *)a->v.arr.raw + i * gguf_vtype_size(a->v.arr.type);
    uint64_t u = 0;
    size_t n = gguf_vtype_size(a->v.arr.type);
    for (size_t k = 0; k < n; k++) u |= (uint64_t)p[k] << (8 * k);
    switch (a->v.arr.type) {
    case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64: r.v.u = u; break;
    case GGUF_VT_I8: r.v.i = (int8_t)u; break;
    case GGUF_VT_I16: r.v.i = (int16_t)u; break;
    case GGUF_VT_I32: r.v.i = (int32_t)u; break;
    case GGUF_VT_I64: r.v.i = (int64_t)u; break;
    case GGUF_VT_BOOL: r.v.b = u != 0; break;
    case GGUF_VT_F32: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, 4); r.v.f = f; break; }
    case GGUF_VT_F64: memcpy(&r.v.f, &u, 8); break;
    default: break;
    }
    return r;
}

/* ---- metadata arena: chunks that never move ------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
} arena_chunk;

static void *arena_alloc(arena_chunk **head, size_t n) {
    if (n > SIZE_MAX - 15) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (!*head || (*head)->cap - (*head)->used < n) {
        size_t cap = n > 65536 ? n : 65536, total;
        if (!senti_add_ok(cap, sizeof(arena_chunk), &total)) return NULL;
        arena_chunk *c = senti_malloc(total);
        if (!c) return NULL;
        c->next = *head;
        c->used = 0;
        c->cap = cap;
        *head = c;
    }
    void *p = (*head)->data + (*head)->used;
    (*head)->used += n;
    return p;
}

static void arena_free(arena_chunk *c) {
    while (c) {
        arena_chunk *n = c->next;
        senti_mfree(c);
        c = n;
    }
}

/* ---- the file ---------------------------------------------------------------------- */

typedef struct gguf_kv {
    const char *key;
    gguf_value val;
} gguf_kv;

struct gguf_file {
    char *path;
    const uint8_t *base;
    size_t size;
    bool borrowed;             /* base is the caller's buffer, not our mapping */
    uint32_t version;
    size_t alignment, data_offset;
    gguf_kv *kvs;              /* file order */
    const gguf_kv **kv_sorted; /* by key */
    int64_t n_kv;
    gguf_tensor *tensors;      /* file order */
    const gguf_tensor **t_sorted;
    int64_t n_tensors;
    arena_chunk *arena;        /* strings and array items */
};

/* Bounded reader over the mapping. */
typedef struct cursor {
    gguf_file *f;
    size_t pos;
} cursor;

static size_t left(const cursor *c) { return c->f->size - c->pos; }

static senti_status need(cursor *c, size_t n, const char *what) {
    if (left(c) < n)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: truncated at byte %zu reading %s (%zu bytes needed, %zu left)",
                           c->f->path, c->pos, what, n, left(c));
    return SENTI_OK;
}

static uint64_t le(const uint8_t *p, size_t n) {
    uint64_t u = 0;
    for (size_t k = 0; k < n; k++) u |= (uint64_t)p[k] << (8 * k);
    return u;
}

static senti_status rd_u32(cursor *c, uint32_t *out, const char *what) {
    senti_status st = need(c, 4, what);
    if (st) return st;
    *out = (uint32_t)le(c->f->base + c->pos, 4);
    c->pos += 4;
    return SENTI_OK;
}

static senti_status rd_u64(cursor *c, uint64_t *out, const char *what) {
    senti_status st = need(c, 8, what);
    if (st) return st;
    *out = le(c->f->base + c->pos, 8);
    c->pos += 8;
    return SENTI_OK;
}

/* A string as a NUL-terminated arena copy. */
static senti_status rd_str(cursor *c, const char **s, uint64_t *len, const char *what) {
    uint64_t n;
    size_t at = c->pos;
    senti_status st = rd_u64(c, &n, what);
    if (st) return st;
    if (n > left(c))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %s at byte %zu has length %llu, past the end of the file (%zu bytes left)",
                           c->f->path, what, at, (unsigned long long)n, left(c));
    char *p = arena_alloc(&c->f->arena, (size_t)n + 1);
    if (!p) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory for %s of %llu bytes", c->f->path, what, (unsigned long long)n);
    memcpy(p, c->f->base + c->pos, (size_t)n);
    p[n] = '\0';
    c->pos += (size_t)n;
    *s = p;
    if (len) *len = n;
    return SENTI_OK;
}

static senti_status rd_value(cursor *c, gguf_vtype t, gguf_value *v, const char *key, int depth);

static senti_status rd_array(cursor *c, gguf_value *v, const char *key, int depth) {
    const char *path = c->f->path;
    uint32_t et;
    uint64_t n;
    senti_status st;
    size_t at = c->pos;
    if ((st = rd_u32(c, &et, "an array element type")) || (st = rd_u64(c, &n, "an array length"))) return st;
    if (et >= GGUF_VT_COUNT)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': array at byte %zu has unknown element type %u", path, key, at, et);
    if (et == GGUF_VT_ARRAY && depth + 1 >= GGUF_MAX_DEPTH)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': arrays nested deeper than %d", path, key, GGUF_MAX_DEPTH);
    v->v.arr.type = (gguf_vtype)et;
    v->v.arr.n = n;
    size_t es = vtypes[et].size;
    /* smallest encoding of one element: fixed size, 8 (string length), 12 (array header) */
    size_t min = es ? es : et == GGUF_VT_STRING ? 8 : 12;
    if (n > left(c) / min)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': array of %llu %s at byte %zu runs past the end of the file (%zu bytes left)",
                           path, key, (unsigned long long)n, vtypes[et].name, at, left(c));
    if (es) {
        v->v.arr.raw = c->f->base + c->pos;
        c->pos += (size_t)n * es;
        return SENTI_OK;
    }
    size_t bytes;
    if (!senti_mul_ok((size_t)n ? (size_t)n : 1, sizeof(gguf_value), &bytes))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': array too large", path, key);
    gguf_value *items = arena_alloc(&c->f->arena, bytes);
    if (!items) return senti_error(SENTI_ERR_NO_MEMORY, "%s: key '%s': out of memory for %llu array items", path, key, (unsigned long long)n);
    memset(items, 0, bytes);
    for (uint64_t i = 0; i < n; i++) {
        items[i].type = (gguf_vtype)et;
        if ((st = rd_value(c, (gguf_vtype)et, &items[i], key, depth + 1))) return st;
    }
    v->v.arr.items = items;
    return SENTI_OK;
}

static senti_status rd_value(cursor *c, gguf_vtype t, gguf_value *v, const char *key, int depth) {
    v->type = t;
    if (t == GGUF_VT_STRING) {
        char what[256];
        snprintf(what, sizeof what, "key '%.200s': a string value", key);
        return rd_str(c, &v->v.str.s, &v->v.str.len, what);
    }
    if (t == GGUF_VT_ARRAY) return rd_array(c, v, key, depth);
    size_t n = vtypes[t].size;
    senti_status st = need(c, n, "a value");
    if (st) return senti_error(st, "%s: key '%s': truncated at byte %zu reading a %s value", c->f->path, key, c->pos, vtypes[t].name);
    gguf_value a = gguf_val_arr(t, 1, c->f->base + c->pos, NULL);
    *v = gguf_arr_get(&a, 0);
    if (t == GGUF_VT_BOOL && c->f->base[c->pos] > 1)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': bool at byte %zu is %u, not 0 or 1", c->f->path, key, c->pos,
                           c->f->base[c->pos]);
    c->pos += n;
    return SENTI_OK;
}

static int cmp_kv(const void *a, const void *b) {
    return strcmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}
static int cmp_tensor(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}
static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

/* One tensor info at the cursor into t (data resolved later). */
static senti_status rd_tensor_info(cursor *c, gguf_tensor *t, int64_t idx) {
    const char *path = c->f->path;
    senti_status st;
    uint32_t nd, ty;
    char what[64];
    snprintf(what, sizeof what, "the name of tensor %lld", (long long)idx);
    uint64_t nlen;
    if ((st = rd_str(c, &t->name, &nlen, what))) return st;
    if (strlen(t->name) != nlen) /* a name is looked up as a C string: one cut at a NUL would alias another */
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %s ('%s...') holds a NUL byte", path, what, t->name);
    t->file = path;
    if ((st = rd_u32(c, &nd, "a tensor's dimension count"))) return st;
    if (nd > GGUF_MAX_DIMS)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %u dims, at most %d supported", path, t->name, nd, GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    size_t numel = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t e;
        if ((st = rd_u64(c, &e, "a tensor dimension"))) return st;
        if (e > (uint64_t)INT64_MAX || !senti_mul_ok(numel, (size_t)e, &numel) || numel > (size_t)INT64_MAX)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': dimension %u (%llu) makes the element count overflow",
                               path, t->name, d, (unsigned long long)e);
        t->ne[d] = (int64_t)e;
    }
    t->numel = (int64_t)numel;
    if ((st = rd_u32(c, &ty, "a tensor type"))) return st;
    t->ggml_type = ty;
    t->type = ggml_to_senti(ty);
    const foreign_type *fo = t->type == SENTI_TYPE_COUNT ? foreign_of(ty) : NULL;
    if (fo) { /* read, dequantized when a model opens the file */
        size_t row, rows = numel ? numel / (size_t)t->ne[0] : 0;
        if (t->ne[0] % 32 != 0)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': innermost dimension %lld is not a multiple of %s's "
                               "block of 32", path, t->name, (long long)t->ne[0], ggml_names[ty]);
        if (!senti_mul_ok((size_t)(t->ne[0] / 32), fo->bytes, &row) || !senti_mul_ok(row, rows, &t->nbytes))
            return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': byte size overflows", path, t->name);
        return rd_u64(c, &t->offset, "a tensor offset");
    }
    if (t->type == SENTI_TYPE_COUNT) {
        const char *nm = ty < sizeof ggml_names / sizeof ggml_names[0] ? ggml_names[ty] : NULL;
        if (nm)
            return senti_error(SENTI_ERR_UNSUPPORTED,
                               "%s: tensor '%s' has type %s (ggml type %u), which senti does not support "
                               "(supported: f32, f16, bf16, q8_0, q4_0, q4_K, q6_K; q4_1, q5_0, q5_1 read as f32)", path, t->name, nm, ty);
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' has unknown ggml type %u", path, t->name, ty);
    }
    int64_t blk = senti_type_block(t->type);
    if (t->ne[0] % blk != 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': innermost dimension %lld is not a multiple of %s's block of %lld",
                           path, t->name, (long long)t->ne[0], senti_type_name(t->type), (long long)blk);
    size_t row, rows = numel ? numel / (size_t)t->ne[0] : 0;
    if (!senti_mul_ok((size_t)(t->ne[0] / blk), senti_type_size(t->type), &row) || !senti_mul_ok(row, rows, &t->nbytes))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': byte size overflows", path, t->name);
    if ((st = rd_u64(c, &t->offset, "a tensor offset"))) return st;
    return SENTI_OK;
}

static senti_status parse(gguf_file *f) {
    const char *path = f->path;
    cursor c = {f, 0};
    senti_status st;
    const gguf_tensor **by_off = NULL;

    if (f->size < 4 || memcmp(f->base, "GGUF", 4) != 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: not a GGUF file (bad magic)", path);
    c.pos = 4;
    uint64_t nt, nkv;
    if ((st = rd_u32(&c, &f->version, "the version"))) return st;
    if (f->version != 2 && f->version != 3)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: GGUF version %u, senti reads versions 2 and 3", path, f->version);
    if ((st = rd_u64(&c, &nt, "the tensor count")) || (st = rd_u64(&c, &nkv, "the key/value count"))) return st;
    /* a key/value takes at least 8 + 4 + 1 bytes, a tensor info at least 8 + 4 + 4 + 8 */
    if (nkv > left(&c) / 13)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %llu key/values cannot fit in the %zu bytes left", path,
                           (unsigned long long)nkv, left(&c));
    if (nt > left(&c) / 24)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: %llu tensors cannot fit in the %zu bytes left", path,
                           (unsigned long long)nt, left(&c));
    f->kvs = senti_calloc(nkv ? (size_t)nkv : 1, sizeof *f->kvs);
    f->kv_sorted = senti_calloc(nkv ? (size_t)nkv : 1, sizeof *f->kv_sorted);
    f->tensors = senti_calloc(nt ? (size_t)nt : 1, sizeof *f->tensors);
    f->t_sorted = senti_calloc(nt ? (size_t)nt : 1, sizeof *f->t_sorted);
    by_off = senti_calloc(nt ? (size_t)nt : 1, sizeof *by_off);
    if (!f->kvs || !f->kv_sorted || !f->tensors || !f->t_sorted || !by_off) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory for %llu key/values and %llu tensors", path,
                         (unsigned long long)nkv, (unsigned long long)nt);
        goto fail;
    }

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < nkv; i++) {
        gguf_kv *kv = &f->kvs[i];
        uint32_t t;
        uint64_t klen;
        if ((st = rd_str(&c, &kv->key, &klen, "a key"))) goto fail;
        size_t at = c.pos;
        if (strlen(kv->key) != klen) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s...' ending at byte %zu holds a NUL byte", path, kv->key, at);
            goto fail;
        }
        if ((st = rd_u32(&c, &t, "a value type"))) goto fail;
        if (t >= GGUF_VT_COUNT) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s': unknown value type %u at byte %zu", path, kv->key, t, at);
            goto fail;
        }
        if ((st = rd_value(&c, (gguf_vtype)t, &kv->val, kv->key, 0))) goto fail;
        f->kv_sorted[i] = kv;
        f->n_kv = (int64_t)i + 1;
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (kv->val.type != GGUF_VT_U32 || kv->val.v.u == 0 || (kv->val.v.u & (kv->val.v.u - 1)) != 0) {
                st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'general.alignment' must be a u32 power of two", path);
                goto fail;
            }
            f->alignment = (size_t)kv->val.v.u;
        }
    }
    qsort(f->kv_sorted, (size_t)f->n_kv, sizeof *f->kv_sorted, cmp_kv);
    for (int64_t i = 1; i < f->n_kv; i++)
        if (strcmp(f->kv_sorted[i - 1]->key, f->kv_sorted[i]->key) == 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' appears twice", path, f->kv_sorted[i]->key);
            goto fail;
        }

    for (uint64_t i = 0; i < nt; i++) {
        if ((st = rd_tensor_info(&c, &f->tensors[i], (int64_t)i))) goto fail;
        f->t_sorted[i] = by_off[i] = &f->tensors[i];
        f->n_tensors = (int64_t)i + 1;
    }
    qsort(f->t_sorted, (size_t)f->n_tensors, sizeof *f->t_sorted, cmp_tensor);
    for (int64_t i = 1; i < f->n_tensors; i++)
        if (strcmp(f->t_sorted[i - 1]->name, f->t_sorted[i]->name) == 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' appears twice", path, f->t_sorted[i]->name);
            goto fail;
        }

    /* The data section starts at the next multiple of the alignment. */
    size_t off = c.pos, rem = off % f->alignment;
    if (rem && !senti_add_ok(off, f->alignment - rem, &off)) off = SIZE_MAX;
    f->data_offset = off;
    size_t data_size = off <= f->size ? f->size - off : 0;
    if (nt > 0 && off > f->size) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: truncated: the data section would start at byte %zu, past the end (%zu bytes)",
                         path, off, f->size);
        goto fail;
    }
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        if (t->offset % f->alignment != 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': offset %llu is not a multiple of the alignment %zu", path,
                             t->name, (unsigned long long)t->offset, f->alignment);
            goto fail;
        }
        if (t->offset > data_size || t->nbytes > data_size - (size_t)t->offset) {
            st = senti_error(SENTI_ERR_BAD_FILE,
                             "%s: tensor '%s': data [%llu, +%zu) past the end of the data section (%zu bytes)", path,
                             t->name, (unsigned long long)t->offset, t->nbytes, data_size);
            goto fail;
        }
        t->data = f->base + off + (size_t)t->offset;
    }
    qsort(by_off, (size_t)f->n_tensors, sizeof *by_off, cmp_offset);
    const gguf_tensor *prev = NULL;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = by_off[i];
        if (t->nbytes == 0) continue;
        if (prev && t->offset < prev->offset + prev->nbytes) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensors '%s' [%llu,%llu) and '%s' [%llu,%llu) overlap", path, prev->name,
                             (unsigned long long)prev->offset, (unsigned long long)(prev->offset + prev->nbytes), t->name,
                             (unsigned long long)t->offset, (unsigned long long)(t->offset + t->nbytes));
            goto fail;
        }
        if (!prev || t->offset + t->nbytes > prev->offset + prev->nbytes) prev = t;
    }
    st = SENTI_OK;
fail:
    senti_mfree(by_off);
    return st;
}

gguf_file *gguf_file_load_buffer(const void *data, size_t size, const char *name) {
    gguf_file *f = senti_calloc(1, sizeof *f);
    if (!f || !(f->path = senti_strdup(name))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", name);
        gguf_file_free(f);
        return NULL;
    }
    f->base = data;
    f->size = size;
    f->borrowed = true;
    if (parse(f) != SENTI_OK) {
        gguf_file_free(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_file_load(const char *path) {
    gguf_file *f = senti_calloc(1, sizeof *f);
    int fd = -1;
    if (!f || !(f->path = senti_strdup(path))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    size_t size;
    if ((fd = senti_open_regular(path, &size)) < 0) goto fail;
    if (size < 24) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: truncated: %zu bytes, a GGUF header needs 24", path, size);
        goto fail;
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        senti_error(SENTI_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto fail;
    }
    close(fd);
    fd = -1;
    f->base = p;
    f->size = size;
    if (parse(f) != SENTI_OK) goto fail;
    return f;
fail:
    if (fd >= 0) close(fd);
    gguf_file_free(f);
    return NULL;
}

void gguf_file_free(gguf_file *f) {
    if (!f) return;
    if (f->base && !f->borrowed) munmap((void *)f->base, f->size);
    senti_mfree(f->kvs);
    senti_mfree(f->kv_sorted);
    senti_mfree(f->tensors);
    senti_mfree(f->t_sorted);
    arena_free(f->arena);
    senti_mfree(f->path);
    senti_mfree(f);
}

const char *gguf_file_path(const gguf_file *f) { return f->path; }
uint32_t gguf_file_version(const gguf_file *f) { return f->version; }
size_t gguf_file_alignment(const gguf_file *f) { return f->alignment; }
size_t gguf_file_data_offset(const gguf_file *f) { return f->data_offset; }
int64_t gguf_file_kv_count(const gguf_file *f) { return f->n_kv; }
const char *gguf_file_kv_key(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kvs[i].key : NULL; }
const gguf_value *gguf_file_kv_value(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_kv ? &f->kvs[i].val : NULL;
}
int64_t gguf_file_tensor_count(const gguf_file *f) { return f->n_tensors; }
const gguf_tensor *gguf_file_tensor(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_value *gguf_file_find_kv(const gguf_file *f, const char *key) {
    gguf_kv k = {.key = key};
    const gguf_kv *kp = &k;
    const gguf_kv *const *r = bsearch(&kp, f->kv_sorted, (size_t)f->n_kv, sizeof *f->kv_sorted, cmp_kv);
    return r ? &(*r)->val : NULL;
}

const gguf_tensor *gguf_file_find_tensor(const gguf_file *f, const char *name) {
    gguf_tensor k = {.name = name};
    const gguf_tensor *kp = &k;
    const gguf_tensor *const *r = bsearch(&kp, f->t_sorted, (size_t)f->n_tensors, sizeof *f->t_sorted, cmp_tensor);
    return r ? *r : NULL;
}

/* ---- writer ---------------------------------------------------------------------------- */

typedef struct wtensor {
    char *name;
    senti_type type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    size_t nbytes;
} wtensor;

struct gguf_writer {
    gguf_kv *kvs; /* keys owned */
    int64_t n_kv, cap_kv;
    wtensor *ts;
    int64_t n_t, cap_t;
    size_t alignment;
};

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} wbuf;

static void put(wbuf *b, const void *src, size_t n) {
    if (b->oom || n == 0) return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) {
            if (!senti_mul_ok(cap, 2, &cap)) { b->oom = true; return; }
        }
        uint8_t *q = senti_malloc(cap);
        if (!q) { b->oom = true; return; }
        if (b->n) memcpy(q, b->p, b->n);
        senti_mfree(b->p);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_le(wbuf *b, uint64_t u, size_t n) {
    uint8_t t[8];
    for (size_t k = 0; k < n; k++) t[k] = (uint8_t)(u >> (8 * k));
    put(b, t, n);
}
static void put_str(wbuf *b, const char *s, uint64_t len) {
    put_le(b, len, 8);
    put(b, s, (size_t)len);
}

gguf_writer *gguf_writer_init(void) {
    gguf_writer *w = senti_calloc(1, sizeof *w);
    if (!w) {
        senti_error(SENTI_ERR_NO_MEMORY, "gguf writer: out of memory");
        return NULL;
    }
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n_kv; i++) senti_mfree((void *)w->kvs[i].key);
    for (int64_t i = 0; i < w->n_t; i++) senti_mfree(w->ts[i].name);
    senti_mfree(w->kvs);
    senti_mfree(w->ts);
    senti_mfree(w);
}

static bool grow(void **arr, int64_t *cap, int64_t n, size_t elem) {
    if (n < *cap) return true;
    int64_t nc = *cap ? *cap * 2 : 16;
    void *q = senti_calloc((size_t)nc, elem);
    if (!q) return false;
    if (n) memcpy(q, *arr, (size_t)n * elem);
    senti_mfree(*arr);
    *arr = q;
    *cap = nc;
    return true;
}

/* Check a value the writer was given (types in range, arrays consistent). */
static senti_status check_value(const char *key, const gguf_value *v, int depth) {
    if ((unsigned)v->type >= GGUF_VT_COUNT)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': unknown value type %d", key, (int)v->type);
    if (v->type == GGUF_VT_STRING && !v->v.str.s && v->v.str.len)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key);
    if (v->type != GGUF_VT_ARRAY) return SENTI_OK;
    if (depth + 1 >= GGUF_MAX_DEPTH)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': arrays nested deeper than %d", key, GGUF_MAX_DEPTH);
    gguf_vtype et = v->v.arr.type;
    if ((unsigned)et >= GGUF_VT_COUNT)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': unknown array element type %d", key, (int)et);
    bool fixed = vtypes[et].size != 0;
    if (v->v.arr.n && (fixed ? !v->v.arr.raw : !v->v.arr.items))
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': array of %s needs %s", key, vtypes[et].name,
                           fixed ? "raw elements" : "items");
    if (!fixed)
        for (uint64_t i = 0; i < v->v.arr.n; i++) {
            if (v->v.arr.items[i].type != et)
                return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s': array item %llu is not a %s", key,
                                   (unsigned long long)i, vtypes[et].name);
            senti_status st = check_value(key, &v->v.arr.items[i], depth + 1);
            if (st) return st;
        }
    return SENTI_OK;
}

senti_status gguf_writer_add_kv(gguf_writer *w, const char *key, gguf_value v) {
    senti_status st = check_value(key, &v, 0);
    if (st) return st;
    for (int64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->kvs[i].key, key) == 0)
            return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: key '%s' added twice", key);
    if (strcmp(key, "general.alignment") == 0) {
        if (v.type != GGUF_VT_U32 || v.v.u == 0 || v.v.u > UINT32_MAX || (v.v.u & (v.v.u - 1)))
            return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: 'general.alignment' must be a u32 power of two");
        w->alignment = (size_t)v.v.u;
    }
    if (!grow((void **)&w->kvs, &w->cap_kv, w->n_kv, sizeof *w->kvs))
        return senti_error(SENTI_ERR_NO_MEMORY, "gguf writer: out of memory adding key '%s'", key);
    char *k = senti_strdup(key);
    if (!k) return senti_error(SENTI_ERR_NO_MEMORY, "gguf writer: out of memory adding key '%s'", key);
    w->kvs[w->n_kv].key = k;
    w->kvs[w->n_kv].val = v;
    w->n_kv++;
    return SENTI_OK;
}

senti_status gguf_writer_add_tensor(gguf_writer *w, const char *name, senti_type type, int n_dims, const int64_t *ne,
                                    const void *data) {
    if (senti_to_ggml(type) == UINT32_MAX)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': type %s cannot be written", name,
                           (unsigned)type < SENTI_TYPE_COUNT ? senti_type_name(type) : "?");
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': %d dims, need 1..%d", name, n_dims, GGUF_MAX_DIMS);
    for (int64_t i = 0; i < w->n_t; i++)
        if (strcmp(w->ts[i].name, name) == 0)
            return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s' added twice", name);
    wtensor t = {.type = type, .n_dims = n_dims, .data = data, .ne = {1, 1, 1, 1}};
    size_t numel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 0 || !senti_mul_ok(numel, (size_t)ne[d], &numel))
            return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': bad shape", name);
        t.ne[d] = ne[d];
    }
    if (t.ne[0] % senti_type_block(type) != 0)
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': innermost dim %lld not a multiple of %lld", name,
                           (long long)t.ne[0], (long long)senti_type_block(type));
    size_t row;
    if (!senti_mul_ok((size_t)(t.ne[0] / senti_type_block(type)), senti_type_size(type), &row) ||
        !senti_mul_ok(row, t.ne[0] ? numel / (size_t)t.ne[0] : 0, &t.nbytes))
        return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': size overflows", name);
    if (t.nbytes && !data) return senti_error(SENTI_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL data", name);
    if (!grow((void **)&w->ts, &w->cap_t, w->n_t, sizeof *w->ts) || !(t.name = senti_strdup(name)))
        return senti_error(SENTI_ERR_NO_MEMORY, "gguf writer: out of memory adding tensor '%s'", name);
    w->ts[w->n_t++] = t;
    return SENTI_OK;
}

static void put_value(wbuf *b, const gguf_value *v) {
    switch (v->type) {
    case GGUF_VT_STRING: put_str(b, v->v.str.s, v->v.str.len); return;
    case GGUF_VT_ARRAY: {
        gguf_vtype et = v->v.arr.type;
        put_le(b, (uint64_t)et, 4);
        put_le(b, v->v.arr.n, 8);
        size_t es = vtypes[et].size;
        if (es) {
            size_t n;
            if (!senti_mul_ok((size_t)v->v.arr.n, es, &n)) { b->oom = true; return; }
            put(b, v->v.arr.raw, n);
        } else {
            for (uint64_t i = 0; i < v->v.arr.n; i++) put_value(b, &v->v.arr.items[i]);
        }
        return;
    }
    case GGUF_VT_F32: {
        float f = (float)v->v.f;
        uint32_t u;
        memcpy(&u, &f, 4);
        put_le(b, u, 4);
        return;
    }
    case GGUF_VT_F64: {
        uint64_t u;
        memcpy(&u, &v->v.f, 8);
        put_le(b, u, 8);
        return;
    }
    case GGUF_VT_BOOL: put_le(b, v->v.b ? 1 : 0, 1); return;
    case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64:
        put_le(b, (uint64_t)v->v.i, vtypes[v->type].size);
        return;
    default: put_le(b, v->v.u, vtypes[v->type].size); return;
    }
}

senti_status gguf_writer_write(gguf_writer *w, const char *path) {
    senti_status st = SENTI_OK;
    wbuf b = {0};
    FILE *fp = NULL;
    static const uint8_t zeros[256];

    put(&b, "GGUF", 4);
    put_le(&b, 3, 4);
    put_le(&b, (uint64_t)w->n_t, 8);
    put_le(&b, (uint64_t)w->n_kv, 8);
    for (int64_t i = 0; i < w->n_kv; i++) {
        put_str(&b, w->kvs[i].key, strlen(w->kvs[i].key));
        put_le(&b, (uint64_t)w->kvs[i].val.type, 4);
        put_value(&b, &w->kvs[i].val);
    }
    size_t off = 0;
    for (int64_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        put_str(&b, t->name, strlen(t->name));
        put_le(&b, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) put_le(&b, (uint64_t)t->ne[d], 8);
        put_le(&b, senti_to_ggml(t->type), 4);
        put_le(&b, off, 8);
        size_t pad = (w->alignment - t->nbytes % w->alignment) % w->alignment;
        if (!senti_add_ok(off, t->nbytes, &off) || !senti_add_ok(off, pad, &off)) b.oom = true;
    }
    while (!b.oom && b.n % w->alignment) put(&b, zeros, 1);
    if (b.oom) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory building the GGUF header", path);
        goto fail;
    }
    fp = fopen(path, "wb");
    if (!fp) {
        st = senti_error(SENTI_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    bool ok = fwrite(b.p, 1, b.n, fp) == b.n;
    for (int64_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->ts[i];
        if (t->nbytes) ok = fwrite(t->data, 1, t->nbytes, fp) == t->nbytes;
        size_t pad = (w->alignment - t->nbytes % w->alignment) % w->alignment;
        while (ok && pad) {
            size_t k = pad < sizeof zeros ? pad : sizeof zeros;
            ok = fwrite(zeros, 1, k, fp) == k;
            pad -= k;
        }
    }
    if (fclose(fp) != 0) ok = false;
    fp = NULL;
    if (!ok) st = senti_error(SENTI_ERR_IO, "%s: write failed: %s", path, strerror(errno));
fail:
    senti_mfree(b.p);
    return st;
}

/* ---- detection ------------------------------------------------------------------- */

bool gguf_is_gguf_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return false;
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0) return true;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char magic[4];
    bool ok = read(fd, magic, 4) == 4 && memcmp(magic, "GGUF", 4) == 0;
    close(fd);
    return ok;
}

/* ---- metadata helpers (model and tokenizer readers) --------------------------------------------------------------- */

/* Integer value of key (any integer type), or def when absent; BAD_FILE if of another type. */
senti_status gguf_kv_int(const gguf_file *f, const char *key, bool required, int64_t def, int64_t *out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = def;
    if (!v) return required ? senti_error(SENTI_ERR_BAD_FILE, "%s: missing key '%s'", gguf_file_path(f), key) : SENTI_OK;
    switch (v->type) {
    case GGUF_VT_U8: case GGUF_VT_U16: case GGUF_VT_U32: case GGUF_VT_U64:
        if (v->v.u > (uint64_t)INT64_MAX) break;
        *out = (int64_t)v->v.u;
        return SENTI_OK;
    case GGUF_VT_I8: case GGUF_VT_I16: case GGUF_VT_I32: case GGUF_VT_I64: *out = v->v.i; return SENTI_OK;
    default: break;
    }
    return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be an integer (is %s)", gguf_file_path(f), key,
                       gguf_vtype_name(v->type));
}

senti_status gguf_kv_float(const gguf_file *f, const char *key, double def, double *out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = def;
    if (!v) return SENTI_OK;
    if (v->type == GGUF_VT_F32 || v->type == GGUF_VT_F64) {
        *out = v->v.f;
        return SENTI_OK;
    }
    return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be a float (is %s)", gguf_file_path(f), key,
                       gguf_vtype_name(v->type));
}

/* String value of key or NULL when absent; a present key of another type is an error. */
senti_status gguf_kv_str(const gguf_file *f, const char *key, const char **out) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    *out = NULL;
    if (!v) return SENTI_OK;
    if (v->type != GGUF_VT_STRING)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be a string (is %s)", gguf_file_path(f), key,
                           gguf_vtype_name(v->type));
    *out = v->v.str.s;
    return SENTI_OK;
}

