/* test_gguf.c — the GGUF reader and writer: every metadata value type (nested
 * arrays included) and every tensor type written and read back exactly, and
 * every kind of corrupt file refused with a message naming the problem, never
 * a crash (truncation at every byte length included). Files live in a fresh
 * temporary directory removed at the end. */
#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "testutil.h"

static char g_dir[256];

static const char *tpath(const char *name) {
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ & 3];
    snprintf(b, 512, "%s/%s", g_dir, name);
    return b;
}

static void write_file(const char *name, const void *data, size_t n) {
    FILE *f = fopen(tpath(name), "wb");
    ck_assert_msg(f != NULL, "cannot write %s", name);
    ck_assert(n == 0 || fwrite(data, 1, n, f) == n);
    fclose(f);
}

static uint8_t *read_whole(const char *name, size_t *n) {
    FILE *f = fopen(tpath(name), "rb");
    ck_assert(f != NULL);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    ck_assert(fread(p, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}


static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s/senti-gguf-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert(mkdtemp(g_dir) != NULL);
}
static void teardown(void) { test_rm_tree(g_dir); }

/* ---- round trip ------------------------------------------------------------------ */

static const uint8_t U8S[3] = {0, 7, 255};
static const int8_t I8S[3] = {-128, 0, 127};
static const uint16_t U16S[2] = {1, 65535};
static const int16_t I16S[2] = {-32768, 32767};
static const uint32_t U32S[3] = {0, 1, 4294967295u};
static const int32_t I32S[2] = {-2147483647 - 1, 5};
static const float F32S[3] = {0.5f, -1e30f, 3.25f};
static const uint8_t BOOLS[3] = {1, 0, 1};
static const uint64_t U64S[2] = {UINT64_MAX, 3};
static const int64_t I64S[2] = {INT64_MIN, -9};
static const double F64S[2] = {1e300, -0.125};

/* Tensor data of each type, ne = {64, 3} (64 innermost). */
#define TE0 64
#define TE1 3
static float g_src[TE0 * TE1];

static void fill_writer(gguf_writer *w, void *bufs[5], uint32_t align) {
    ck_assert_int_eq(gguf_writer_add_kv(w, "general.architecture", gguf_val_str("llama")), SENTI_OK);
    if (align) ck_assert_int_eq(gguf_writer_add_kv(w, "general.alignment", gguf_val_uint(GGUF_VT_U32, align)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.u8", gguf_val_uint(GGUF_VT_U8, 200)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.i8", gguf_val_int(GGUF_VT_I8, -100)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.u16", gguf_val_uint(GGUF_VT_U16, 60000)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.i16", gguf_val_int(GGUF_VT_I16, -30000)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.u32", gguf_val_uint(GGUF_VT_U32, 4000000000u)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.i32", gguf_val_int(GGUF_VT_I32, -2000000000)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.f32", gguf_val_float(GGUF_VT_F32, 1e-5)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.bool", gguf_val_bool(true)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.u64", gguf_val_uint(GGUF_VT_U64, UINT64_MAX - 1)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.i64", gguf_val_int(GGUF_VT_I64, INT64_MIN + 1)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.f64", gguf_val_float(GGUF_VT_F64, 0.1)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "s.empty", gguf_val_str("")), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.u8", gguf_val_arr(GGUF_VT_U8, 3, U8S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.i8", gguf_val_arr(GGUF_VT_I8, 3, I8S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.u16", gguf_val_arr(GGUF_VT_U16, 2, U16S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.i16", gguf_val_arr(GGUF_VT_I16, 2, I16S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.u32", gguf_val_arr(GGUF_VT_U32, 3, U32S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.i32", gguf_val_arr(GGUF_VT_I32, 2, I32S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.f32", gguf_val_arr(GGUF_VT_F32, 3, F32S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.bool", gguf_val_arr(GGUF_VT_BOOL, 3, BOOLS, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.u64", gguf_val_arr(GGUF_VT_U64, 2, U64S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.i64", gguf_val_arr(GGUF_VT_I64, 2, I64S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.f64", gguf_val_arr(GGUF_VT_F64, 2, F64S, NULL)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.empty", gguf_val_arr(GGUF_VT_U32, 0, NULL, NULL)), SENTI_OK);
    static gguf_value strs[3], inner[2], outer[2], deep_s[1];
    strs[0] = gguf_val_str("hello");
    strs[1] = gguf_val_str("");
    strs[2] = gguf_val_str("\xe2\x96\x81wörld");
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.str", gguf_val_arr(GGUF_VT_STRING, 3, NULL, strs)), SENTI_OK);
    /* [[0,1,UINT32_MAX], [["hello","","▁wörld"]]] kind of nesting: array of arrays of u32 / of strings */
    inner[0] = gguf_val_arr(GGUF_VT_U32, 3, U32S, NULL);
    inner[1] = gguf_val_arr(GGUF_VT_U32, 0, NULL, NULL);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.nested", gguf_val_arr(GGUF_VT_ARRAY, 2, NULL, inner)), SENTI_OK);
    deep_s[0] = gguf_val_arr(GGUF_VT_STRING, 3, NULL, strs);
    outer[0] = gguf_val_arr(GGUF_VT_ARRAY, 1, NULL, deep_s);
    outer[1] = gguf_val_arr(GGUF_VT_ARRAY, 0, NULL, NULL);
    ck_assert_int_eq(gguf_writer_add_kv(w, "a.nested3", gguf_val_arr(GGUF_VT_ARRAY, 2, NULL, outer)), SENTI_OK);

    static const senti_type types[5] = {SENTI_TYPE_F32, SENTI_TYPE_F16, SENTI_TYPE_BF16, SENTI_TYPE_Q8_0, SENTI_TYPE_Q4_0};
    static const char *names[5] = {"t.f32", "t.f16", "t.bf16", "t.q8_0", "t.q4_0"};
    int64_t ne[2] = {TE0, TE1};
    for (int i = 0; i < TE0 * TE1; i++) g_src[i] = (float)((i * 37) % 101 - 50) / 8.0f;
    for (int k = 0; k < 5; k++) {
        size_t row = senti_row_size(types[k], TE0);
        bufs[k] = malloc(row * TE1);
        for (int r = 0; r < TE1; r++) senti_row_from_f32(types[k], g_src + r * TE0, (uint8_t *)bufs[k] + r * row, TE0);
        ck_assert_int_eq(gguf_writer_add_tensor(w, names[k], types[k], 2, ne, bufs[k]), SENTI_OK);
    }
    int64_t one = 3;
    static const float small[3] = {1, 2, 3};
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t.vec", SENTI_TYPE_F32, 1, &one, small), SENTI_OK);
}

static const gguf_value *find_kv(const gguf_file *f, const char *key, gguf_vtype t) {
    const gguf_value *v = gguf_file_find_kv(f, key);
    ck_assert_msg(v != NULL, "key %s missing", key);
    ck_assert_int_eq(v->type, t);
    return v;
}

static void check_read(const gguf_file *f, void *bufs[5], size_t align) {
    ck_assert_uint_eq(gguf_file_version(f), 3);
    ck_assert_uint_eq(gguf_file_alignment(f), align);
    ck_assert_uint_eq(gguf_file_data_offset(f) % align, 0);
    ck_assert_str_eq(gguf_file_kv_key(f, 0), "general.architecture");
    ck_assert_ptr_null(gguf_file_kv_key(f, gguf_file_kv_count(f)));
    ck_assert_ptr_null(gguf_file_find_kv(f, "nope"));
    const gguf_value *v;
#define KV(k, t) (v = find_kv(f, k, t))
    ck_assert_str_eq(KV("general.architecture", GGUF_VT_STRING)->v.str.s, "llama");
    ck_assert_uint_eq(KV("s.u8", GGUF_VT_U8)->v.u, 200);
    ck_assert_int_eq(KV("s.i8", GGUF_VT_I8)->v.i, -100);
    ck_assert_uint_eq(KV("s.u16", GGUF_VT_U16)->v.u, 60000);
    ck_assert_int_eq(KV("s.i16", GGUF_VT_I16)->v.i, -30000);
    ck_assert_uint_eq(KV("s.u32", GGUF_VT_U32)->v.u, 4000000000u);
    ck_assert_int_eq(KV("s.i32", GGUF_VT_I32)->v.i, -2000000000);
    ck_assert(KV("s.f32", GGUF_VT_F32)->v.f == (double)1e-5f);
    ck_assert(KV("s.bool", GGUF_VT_BOOL)->v.b);
    ck_assert(KV("s.u64", GGUF_VT_U64)->v.u == UINT64_MAX - 1);
    ck_assert(KV("s.i64", GGUF_VT_I64)->v.i == INT64_MIN + 1);
    ck_assert(KV("s.f64", GGUF_VT_F64)->v.f == 0.1);
    ck_assert_uint_eq(KV("s.empty", GGUF_VT_STRING)->v.str.len, 0);
    ck_assert_str_eq(v->v.str.s, "");

    KV("a.u8", GGUF_VT_ARRAY);
    ck_assert_int_eq(v->v.arr.type, GGUF_VT_U8);
    ck_assert_uint_eq(v->v.arr.n, 3);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(gguf_arr_get(v, i).v.u, U8S[i]);
    KV("a.i8", GGUF_VT_ARRAY);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(gguf_arr_get(v, i).v.i, I8S[i]);
    KV("a.u16", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert_uint_eq(gguf_arr_get(v, i).v.u, U16S[i]);
    KV("a.i16", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(gguf_arr_get(v, i).v.i, I16S[i]);
    KV("a.u32", GGUF_VT_ARRAY);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(gguf_arr_get(v, i).v.u, U32S[i]);
    KV("a.i32", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(gguf_arr_get(v, i).v.i, I32S[i]);
    KV("a.f32", GGUF_VT_ARRAY);
    for (int i = 0; i < 3; i++) ck_assert(gguf_arr_get(v, i).v.f == (double)F32S[i]);
    KV("a.bool", GGUF_VT_ARRAY);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(gguf_arr_get(v, i).v.b, BOOLS[i]);
    KV("a.u64", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert(gguf_arr_get(v, i).v.u == U64S[i]);
    KV("a.i64", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert(gguf_arr_get(v, i).v.i == I64S[i]);
    KV("a.f64", GGUF_VT_ARRAY);
    for (int i = 0; i < 2; i++) ck_assert(gguf_arr_get(v, i).v.f == F64S[i]);
    ck_assert_uint_eq(KV("a.empty", GGUF_VT_ARRAY)->v.arr.n, 0);
    KV("a.str", GGUF_VT_ARRAY);
    ck_assert_int_eq(v->v.arr.type, GGUF_VT_STRING);
    ck_assert_uint_eq(v->v.arr.n, 3);
    ck_assert_str_eq(gguf_arr_get(v, 0).v.str.s, "hello");
    ck_assert_str_eq(gguf_arr_get(v, 1).v.str.s, "");
    ck_assert_str_eq(gguf_arr_get(v, 2).v.str.s, "\xe2\x96\x81wörld");
    KV("a.nested", GGUF_VT_ARRAY);
    ck_assert_int_eq(v->v.arr.type, GGUF_VT_ARRAY);
    ck_assert_uint_eq(v->v.arr.n, 2);
    gguf_value in0 = gguf_arr_get(v, 0), in1 = gguf_arr_get(v, 1);
    ck_assert_uint_eq(in0.v.arr.n, 3);
    ck_assert_uint_eq(gguf_arr_get(&in0, 2).v.u, UINT32_MAX);
    ck_assert_uint_eq(in1.v.arr.n, 0);
    KV("a.nested3", GGUF_VT_ARRAY);
    gguf_value o0 = gguf_arr_get(v, 0);
    ck_assert_uint_eq(o0.v.arr.n, 1);
    gguf_value o00 = gguf_arr_get(&o0, 0);
    ck_assert_int_eq(o00.v.arr.type, GGUF_VT_STRING);
    ck_assert_str_eq(gguf_arr_get(&o00, 2).v.str.s, "\xe2\x96\x81wörld");
#undef KV

    static const senti_type types[5] = {SENTI_TYPE_F32, SENTI_TYPE_F16, SENTI_TYPE_BF16, SENTI_TYPE_Q8_0, SENTI_TYPE_Q4_0};
    static const uint32_t ids[5] = {0, 1, 30, 8, 2};
    static const char *names[5] = {"t.f32", "t.f16", "t.bf16", "t.q8_0", "t.q4_0"};
    ck_assert_int_eq(gguf_file_tensor_count(f), 6);
    ck_assert_ptr_null(gguf_file_find_tensor(f, "t.none"));
    for (int k = 0; k < 5; k++) {
        const gguf_tensor *t = gguf_file_find_tensor(f, names[k]);
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_eq(t, gguf_file_tensor(f, k));
        ck_assert_int_eq(t->type, types[k]);
        ck_assert_uint_eq(t->ggml_type, ids[k]);
        ck_assert_int_eq(t->n_dims, 2);
        ck_assert_int_eq(t->ne[0], TE0);
        ck_assert_int_eq(t->ne[1], TE1);
        ck_assert_int_eq(t->numel, TE0 * TE1);
        ck_assert_uint_eq(t->nbytes, senti_row_size(types[k], TE0) * TE1);
        ck_assert_uint_eq(t->offset % align, 0);
        ck_assert_uint_eq((uintptr_t)t->data % align, 0);
        ck_assert(memcmp(t->data, bufs[k], t->nbytes) == 0);
    }
    const gguf_tensor *t = gguf_file_find_tensor(f, "t.vec");
    ck_assert_int_eq(t->n_dims, 1);
    ck_assert_int_eq(t->ne[0], 3);
    ck_assert_int_eq(t->ne[1], 1);
    ck_assert(((const float *)t->data)[2] == 3.0f);
}

START_TEST(test_roundtrip) {
    static const uint32_t aligns[3] = {0, 64, 4096};
    for (int a = 0; a < 3; a++) {
        void *bufs[5];
        gguf_writer *w = gguf_writer_init();
        ck_assert_ptr_nonnull(w);
        fill_writer(w, bufs, aligns[a]);
        ck_assert_int_eq(gguf_writer_write(w, tpath("rt.gguf")), SENTI_OK);
        gguf_writer_free(w);
        gguf_file *f = gguf_file_load(tpath("rt.gguf"));
        ck_assert_msg(f != NULL, "%s", senti_last_error());
        check_read(f, bufs, aligns[a] ? aligns[a] : 32);
        gguf_file_free(f);
        for (int k = 0; k < 5; k++) free(bufs[k]);
    }
}
END_TEST

START_TEST(test_writer_errors) {
    gguf_writer *w = gguf_writer_init();
    int64_t ne[2] = {33, 2};
    float d[66] = {0};
    ck_assert_int_eq(gguf_writer_add_kv(w, "k", gguf_val_uint(GGUF_VT_U32, 1)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "k", gguf_val_uint(GGUF_VT_U32, 2)), SENTI_ERR_INVALID_ARG);
    assert_msg_has("dup key", "'k'", "twice", NULL);
    ck_assert_int_eq(gguf_writer_add_kv(w, "general.alignment", gguf_val_uint(GGUF_VT_U32, 48)), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_add_kv(w, "bad", gguf_val_arr(GGUF_VT_U32, 2, NULL, NULL)), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "q", SENTI_TYPE_Q8_0, 2, ne, d), SENTI_ERR_INVALID_ARG);
    assert_msg_has("block", "'q'", "32", NULL);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "i", SENTI_TYPE_I32, 2, ne, d), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "x", SENTI_TYPE_F32, 2, ne, d), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "x", SENTI_TYPE_F32, 2, ne, d), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(gguf_writer_write(w, "/nonexistent-dir/x.gguf"), SENTI_ERR_IO);
    assert_msg_has("io", "/nonexistent-dir/x.gguf", NULL);
    gguf_writer_free(w);
    gguf_writer_free(NULL);
    gguf_file_free(NULL);
}
END_TEST

/* ---- hand-built files -------------------------------------------------------------- */

typedef struct bb {
    uint8_t p[8192];
    size_t n;
} bb;

static void b_raw(bb *b, const void *s, size_t n) {
    ck_assert(b->n + n <= sizeof b->p);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void b_u32(bb *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b->p[b->n++] = (uint8_t)(v >> (8 * i));
}
static void b_u64(bb *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[b->n++] = (uint8_t)(v >> (8 * i));
}
static void b_str(bb *b, const char *s) {
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}
static void b_head(bb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    b->n = 0;
    b_raw(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, nt);
    b_u64(b, nkv);
}
/* tensor info: name, dims, type, offset */
static void b_tinfo(bb *b, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name);
    b_u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++) b_u64(b, ne[i]);
    b_u32(b, type);
    b_u64(b, off);
}
static void b_pad(bb *b, size_t align) {
    while (b->n % align) b->p[b->n++] = 0;
}
static void b_zeros(bb *b, size_t n) {
    ck_assert(b->n + n <= sizeof b->p);
    memset(b->p + b->n, 0, n);
    b->n += n;
}

/* Load b as a file; it must fail with status st and a message holding the
 * given strings (NULL-terminated) and the file name. */
static void expect_bad(const char *what, bb *b, ...) {
    write_file("bad.gguf", b->p, b->n);
    gguf_file *f = gguf_file_load(tpath("bad.gguf"));
    ck_assert_msg(f == NULL, "%s: loaded", what);
    const char *msg = senti_last_error();
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: %s\n", what, msg);
    ck_assert_msg(strstr(msg, "bad.gguf") != NULL, "%s: message \"%s\" lacks the file name", what, msg);
    va_list ap;
    va_start(ap, b);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        ck_assert_msg(strstr(msg, s) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s);
    va_end(ap);
}

START_TEST(test_bad_files) {
    bb b;
    uint64_t ne64[1] = {8}, ne2[2];

    b_head(&b, 3, 0, 0);
    memcpy(b.p, "GGUG", 4);
    expect_bad("magic", &b, "magic", NULL);

    b_head(&b, 1, 0, 0);
    expect_bad("version 1", &b, "version 1", NULL);
    b_head(&b, 4, 0, 0);
    expect_bad("version 4", &b, "version 4", NULL);

    /* an empty but valid v2 file loads */
    b_head(&b, 2, 0, 0);
    write_file("ok.gguf", b.p, b.n);
    gguf_file *f = gguf_file_load(tpath("ok.gguf"));
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    ck_assert_uint_eq(gguf_file_version(f), 2);
    gguf_file_free(f);

    b_head(&b, 3, 0, UINT64_MAX);
    expect_bad("kv count", &b, "key/values", NULL);
    b_head(&b, 3, (uint64_t)1 << 60, 0);
    expect_bad("tensor count", &b, "tensors", NULL);
    b_head(&b, 3, 0, 1);
    b_u64(&b, 1000);
    b_raw(&b, "abc", 3);
    b_zeros(&b, 10);
    expect_bad("key length", &b, "length 1000", "past the end", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_VT_STRING);
    b_u64(&b, UINT64_MAX);
    b_zeros(&b, 8);
    expect_bad("string value length", &b, "past the end", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, GGUF_VT_ARRAY);
    b_u32(&b, GGUF_VT_U32);
    b_u64(&b, (uint64_t)1 << 62); /* * 4 bytes overflows 64 bits */
    b_zeros(&b, 16);
    expect_bad("array length overflow", &b, "'arr'", "array of", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "arr");
    b_u32(&b, GGUF_VT_ARRAY);
    b_u32(&b, GGUF_VT_STRING);
    b_u64(&b, 3);
    b_str(&b, "a");
    b_u64(&b, 500);
    b_zeros(&b, 20);
    expect_bad("string array item length", &b, "'arr'", "length 500", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "deep");
    b_u32(&b, GGUF_VT_ARRAY);
    for (int i = 0; i < 20; i++) {
        b_u32(&b, GGUF_VT_ARRAY);
        b_u64(&b, 1);
    }
    b_zeros(&b, 64);
    expect_bad("nesting", &b, "'deep'", "nested", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, 13);
    b_zeros(&b, 8);
    expect_bad("value type", &b, "'k'", "unknown value type 13", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_VT_ARRAY);
    b_u32(&b, 77);
    b_u64(&b, 0);
    expect_bad("array element type", &b, "'k'", "element type 77", NULL);

    b_head(&b, 3, 0, 2);
    b_str(&b, "k");
    b_u32(&b, GGUF_VT_U8);
    b_raw(&b, "\1", 1);
    b_str(&b, "k");
    b_u32(&b, GGUF_VT_U8);
    b_raw(&b, "\2", 1);
    expect_bad("duplicate key", &b, "'k'", "twice", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "general.alignment");
    b_u32(&b, GGUF_VT_U32);
    b_u32(&b, 48);
    expect_bad("alignment", &b, "general.alignment", "power of two", NULL);

    /* tensors: one f32 [8] at offset 1 (unaligned) */
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "w", 1, ne64, 0, 1);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_bad("unaligned", &b, "'w'", "offset 1", "alignment 32", NULL);

    ne2[0] = 64;
    b_head(&b, 3, 2, 0);
    b_tinfo(&b, "a", 1, ne2, 0, 0);  /* [0, 256) */
    b_tinfo(&b, "b", 1, ne64, 0, 64); /* [64, 96) */
    b_pad(&b, 32);
    b_zeros(&b, 256);
    expect_bad("overlap", &b, "'a'", "'b'", "overlap", NULL);

    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "w", 1, ne64, 0, 32);
    b_pad(&b, 32);
    b_zeros(&b, 40);
    expect_bad("data past end", &b, "'w'", "past the end", NULL);

    ne2[0] = 256;
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "blk.0.ffn_down.weight", 1, ne2, 13, 0);
    b_pad(&b, 32);
    b_zeros(&b, 256);
    expect_bad("q5_K", &b, "'blk.0.ffn_down.weight'", "q5_K", "ggml type 13", NULL);
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "w", 1, ne2, 99, 0);
    b_pad(&b, 32);
    expect_bad("type 99", &b, "'w'", "unknown ggml type 99", NULL);

    ne2[0] = (uint64_t)1 << 40;
    ne2[1] = (uint64_t)1 << 40;
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "big", 2, ne2, 0, 0);
    b_pad(&b, 32);
    expect_bad("dims overflow", &b, "'big'", "overflow", NULL);
    ne2[0] = UINT64_MAX;
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "neg", 1, ne2, 0, 0);
    expect_bad("dim > INT64_MAX", &b, "'neg'", NULL);
    ne2[0] = (uint64_t)1 << 62; /* numel fits, bytes (x4) do not */
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "bytes", 1, ne2, 0, 0);
    expect_bad("bytes overflow", &b, "'bytes'", NULL);

    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "five", 5, ne5, 0, 0);
    expect_bad("5 dims", &b, "'five'", "5 dims", NULL);

    ne2[0] = 33;
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "q", 1, ne2, 8, 0);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_bad("block", &b, "'q'", "block", NULL);

    b_head(&b, 3, 2, 0);
    b_tinfo(&b, "w", 1, ne64, 0, 0);
    b_tinfo(&b, "w", 1, ne64, 0, 32);
    b_pad(&b, 32);
    b_zeros(&b, 64);
    expect_bad("duplicate tensor", &b, "'w'", "twice", NULL);

    b_head(&b, 3, 0, 1);
    b_str(&b, "flag");
    b_u32(&b, GGUF_VT_BOOL);
    b_raw(&b, "\7", 1);
    expect_bad("bool", &b, "'flag'", "bool", NULL);

    ck_assert_ptr_null(gguf_file_load(tpath("does-not-exist.gguf")));
    assert_msg_has("missing", "does-not-exist.gguf", "cannot open", NULL);
}
END_TEST

/* A small valid file cut at every length: each cut refused, never a crash. */
/* A small file: metadata of a few kinds, a q8_0 and a 32-byte f32 tensor.
 * Returns the writer's status (so allocation failures can be injected). */
static senti_status write_small(const char *name) {
    gguf_writer *w = gguf_writer_init();
    if (!w) return SENTI_ERR_NO_MEMORY;
    static gguf_value strs[2];
    strs[0] = gguf_val_str("<s>");
    strs[1] = gguf_val_str("</s>");
    static const float sc[2] = {0.0f, -1.0f};
    static const float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t q8[34] = {0};
    int64_t ne8 = 8, ne32 = 32;
    senti_status st;
    if ((st = gguf_writer_add_kv(w, "general.architecture", gguf_val_str("bert"))) ||
        (st = gguf_writer_add_kv(w, "bert.block_count", gguf_val_uint(GGUF_VT_U32, 2))) ||
        (st = gguf_writer_add_kv(w, "tokenizer.ggml.tokens", gguf_val_arr(GGUF_VT_STRING, 2, NULL, strs))) ||
        (st = gguf_writer_add_kv(w, "tokenizer.ggml.scores", gguf_val_arr(GGUF_VT_F32, 2, sc, NULL))) ||
        (st = gguf_writer_add_tensor(w, "q", SENTI_TYPE_Q8_0, 1, &ne32, q8)) ||
        (st = gguf_writer_add_tensor(w, "x", SENTI_TYPE_F32, 1, &ne8, data)))
        goto done;
    st = gguf_writer_write(w, tpath(name));
done:
    gguf_writer_free(w);
    return st;
}

START_TEST(test_truncated) {
    ck_assert_int_eq(write_small("small.gguf"), SENTI_OK);
    size_t n;
    uint8_t *full = read_whole("small.gguf", &n);
    gguf_file *f = gguf_file_load(tpath("small.gguf"));
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    const gguf_tensor *x = gguf_file_find_tensor(f, "x");
    size_t need = gguf_file_data_offset(f) + (size_t)x->offset + x->nbytes;
    ck_assert_uint_eq(need, n); /* the last tensor is 32 bytes: no trailing padding */
    uint64_t x_offset = x->offset;
    size_t x_nbytes = x->nbytes;
    gguf_file_free(f);
    for (size_t len = 0; len < n; len++) {
        write_file("cut.gguf", full, len);
        f = gguf_file_load(tpath("cut.gguf"));
        ck_assert_msg(f == NULL, "cut at %zu of %zu loaded", len, n);
        ck_assert_msg(strstr(senti_last_error(), "cut.gguf") != NULL, "cut at %zu: %s", len, senti_last_error());
        /* the same from a buffer of exactly len bytes (ASan catches any read past it) */
        uint8_t *cut = malloc(len ? len : 1);
        memcpy(cut, full, len);
        senti_clear_error();
        ck_assert_msg(gguf_file_load_buffer(cut, len, "mem.gguf") == NULL, "buffer cut at %zu loaded", len);
        ck_assert_msg(strstr(senti_last_error(), "mem.gguf") != NULL, "buffer cut at %zu: %s", len, senti_last_error());
        free(cut);
    }
    f = gguf_file_load_buffer(full, n, "mem.gguf");
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    ck_assert_int_eq(gguf_file_tensor_count(f), 2);
    gguf_file_free(f);
    /* and every single-byte corruption of the header is refused or read, never a crash */
    size_t header = need - (size_t)x_offset - x_nbytes;
    for (size_t i = 0; i < header; i++) {
        uint8_t *copy = malloc(n);
        memcpy(copy, full, n);
        copy[i] ^= 0xff;
        write_file("flip.gguf", copy, n);
        gguf_file_free(gguf_file_load(tpath("flip.gguf")));
        free(copy);
    }
    free(full);
}
END_TEST

/* The N-th allocation fails, for every N until the load (or write) succeeds:
 * each failure is reported, nothing leaks. */

START_TEST(test_alloc_failures) {
    senti_set_allocator(&(senti_allocator){count_alloc, count_free, NULL});
    bool done = false;
    for (g_fail_at = 0; !done && g_fail_at < 1000; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        senti_clear_error();
        senti_status st = write_small("small.gguf");
        gguf_file *f = st == SENTI_OK ? gguf_file_load(tpath("small.gguf")) : NULL;
        done = f != NULL;
        if (!done) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        else ck_assert_int_eq(gguf_file_kv_count(f), 4);
        gguf_file_free(f);
        ck_assert_msg(g_live == 0, "failing allocation %ld leaked %ld blocks", g_fail_at, g_live);
    }
    senti_set_allocator(NULL);
    ck_assert(done);
    ck_assert_int_gt(g_fail_at, 10);
}
END_TEST

/* q4_K / q6_K: tests/fixtures/gguf/kquant.gguf holds random valid blocks and,
 * as "<name>.ref", gguf-py's dequantization of them (gguf.quants.dequantize,
 * made by tools/fixtures/make_gguf_fixtures.py): senti's dequantizer must
 * agree to float rounding, and the tensors read through the weights view
 * (st_tensor_read_f32) too. */
START_TEST(test_kquant_fixture) {
    char p[2048];
    const char *f = __FILE__, *e = strstr(f, "/tests/test_gguf.c");
    snprintf(p, sizeof p, "%.*s/tests/fixtures/gguf/kquant.gguf", e ? (int)(e - f) : 1, e ? f : ".");
    gguf_file *g = gguf_file_load(p);
    ck_assert_msg(g != NULL, "%s", senti_last_error());
    int checked = 0;
    for (int64_t i = 0; i < gguf_file_tensor_count(g); i++) {
        const gguf_tensor *t = gguf_file_tensor(g, i);
        if (!senti_type_is_kquant(t->type)) continue;
        char rn[160];
        snprintf(rn, sizeof rn, "%s.ref", t->name);
        const gguf_tensor *r = gguf_file_find_tensor(g, rn);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->numel, t->numel);
        ck_assert_int_eq(t->ggml_type, t->type == SENTI_TYPE_Q4_K ? 12 : 14);
        float *y = malloc((size_t)t->numel * sizeof *y);
        senti_row_to_f32(t->type, t->data, y, t->numel);
        const float *ref = r->data;
        double worst = 0, mx = 0;
        for (int64_t k = 0; k < t->numel; k++) {
            worst = fmax(worst, fabs((double)y[k] - ref[k]));
            mx = fmax(mx, fabs(ref[k]));
        }
        ck_assert_msg(mx > 0 && worst <= 1e-6 * mx, "%s: %s dequantization off by %g (max %g)", t->name,
                      senti_type_name(t->type), worst, mx);
        /* rows are independent: dequantizing row by row gives the same */
        const int64_t cols = t->ne[0];
        float *row = malloc((size_t)cols * sizeof *row);
        for (int64_t rr = 0; rr < t->numel / cols; rr++) {
            senti_row_to_f32(t->type, (const char *)t->data + (size_t)rr * senti_row_size(t->type, cols), row, cols);
            ck_assert(memcmp(row, y + rr * cols, (size_t)cols * sizeof *row) == 0);
        }
        free(row);
        free(y);
        checked++;
    }
    ck_assert_int_eq(checked, 4);
    gguf_file_free(g);
}
END_TEST


/* q5_0 (ggml type 6, a foreign type): read as f32 exactly as ggml's
 * dequantize_row_q5_0 does, and held as q8_0 with the same values. */
START_TEST(test_q5_0_as_q8_0) {
    enum { COLS = 64, ROWS = 2, NB = COLS * ROWS / 32 };
    uint8_t data[NB * 22];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    static const uint16_t ds[NB] = {0x3C00, 0x2E66, 0xB800, 0x0400}; /* 1, ~0.1, -0.5, a tiny normal */
    for (int b = 0; b < NB; b++) data[b * 22] = (uint8_t)ds[b], data[b * 22 + 1] = (uint8_t)(ds[b] >> 8);
    bb b;
    const uint64_t ne[2] = {COLS, ROWS};
    b_head(&b, 3, 1, 0);
    b_tinfo(&b, "t.q5_0", 2, ne, 6, 0);
    b_pad(&b, 32);
    b_raw(&b, data, sizeof data);
    write_file("q5.gguf", b.p, b.n);
    gguf_file *f = gguf_file_load(tpath("q5.gguf"));
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    const gguf_tensor *t = gguf_file_find_tensor(f, "t.q5_0");
    ck_assert_ptr_nonnull(t);
    ck_assert(gguf_tensor_is_foreign(t));
    ck_assert(gguf_tensor_q8_0_exact(t));
    float y[COLS * ROWS], yq[COLS * ROWS], ref[COLS * ROWS];
    ck_assert_int_eq(gguf_tensor_read_f32(t, y), SENTI_OK);
    /* ggml's dequantize_row_q5_0, written out */
    for (int i = 0; i < NB; i++) {
        const uint8_t *blk = data + i * 22;
        const float d = senti_f16_to_f32((senti_f16)(blk[0] | blk[1] << 8));
        uint32_t qh;
        memcpy(&qh, blk + 2, 4);
        for (int j = 0; j < 16; j++) {
            const uint8_t xh_0 = (uint8_t)(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh_1 = (uint8_t)(((qh >> (j + 12))) & 0x10);
            const int32_t x0 = ((blk[6 + j] & 0x0F) | xh_0) - 16;
            const int32_t x1 = ((blk[6 + j] >> 4) | xh_1) - 16;
            ref[i * 32 + j] = (float)x0 * d;
            ref[i * 32 + j + 16] = (float)x1 * d;
        }
    }
    ck_assert(memcmp(y, ref, sizeof y) == 0);
    senti_block_q8_0 q[NB];
    ck_assert_int_eq(gguf_tensor_read_q8_0(t, q), SENTI_OK);
    senti_row_to_f32(SENTI_TYPE_Q8_0, q, yq, COLS * ROWS);
    ck_assert(memcmp(yq, ref, sizeof yq) == 0);
    for (int i = 0; i < NB; i++)
        for (int j = 0; j < 32; j++) ck_assert(q[i].qs[j] >= -16 && q[i].qs[j] <= 15);
    gguf_file_free(f);
}
END_TEST

int main(void) {
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("gguf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120); /* truncation at every length and the allocation sweep, under ASan on a busy machine */
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_kquant_fixture);
    tcase_add_test(tc, test_q5_0_as_q8_0);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
