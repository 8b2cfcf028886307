/* test_loader.c — safetensors (single and sharded) and config.json readers:
 * a good file read back exactly, and every kind of bad file giving an error
 * that names the file and the tensor or key, never a crash. All files are
 * written here, into a fresh temporary directory removed at the end. */
#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "testutil.h"

static char g_dir[256];

/* ---- writing files ------------------------------------------------------------ */

static void make_dir(const char *sub) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, sub);
    ck_assert_msg(mkdir(p, 0700) == 0 || access(p, F_OK) == 0, "mkdir %s", p);
}

/* Path of name in the temp dir, in a static rotating buffer. */
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
    ck_assert(fwrite(data, 1, n, f) == n);
    fclose(f);
}

/* A safetensors file: u64 LE header length (hlen_override if nonzero), the
 * header text, then dlen data bytes. */
static void write_st_raw(const char *name, uint64_t hlen_override, const char *header, const void *data, size_t dlen) {
    size_t h = strlen(header);
    size_t n = 8 + h + dlen;
    uint8_t *buf = malloc(n);
    uint64_t hl = hlen_override ? hlen_override : h;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hl >> (8 * i));
    memcpy(buf + 8, header, h);
    if (dlen) memcpy(buf + 8 + h, data, dlen);
    write_file(name, buf, n);
    free(buf);
}
static void write_st(const char *name, const char *header, const void *data, size_t dlen) {
    write_st_raw(name, 0, header, data, dlen);
}

static void write_text(const char *name, const char *text) { write_file(name, text, strlen(text)); }


/* ---- setup / teardown ------------------------------------------------------------ */


static void setup(void) {
    snprintf(g_dir, sizeof g_dir, "%s/senti-loader-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert(mkdtemp(g_dir) != NULL);
}
static void teardown(void) { test_rm_tree(g_dir); }

/* ---- a good file ---------------------------------------------------------------- */

static const char *GOOD_HEADER =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
    "\"c\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
    "\"pos\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[40,64]},"
    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[64,64]}}";
static const float A_VALS[6] = {0.0f, 0.5f, -1.0f, 1.5f, 3.25f, -7.0f};
static const float B_VALS[4] = {1.0f, -2.0f, 0.5f, 65504.0f};
static const float C_VALS[4] = {1.5f, -3.0f, 256.0f, 0.125f};

static void write_good(const char *name) {
    uint8_t data[64];
    memcpy(data, A_VALS, 24);
    for (int i = 0; i < 4; i++) {
        senti_f16 h = senti_f32_to_f16(B_VALS[i]);
        senti_bf16 g = senti_f32_to_bf16(C_VALS[i]);
        memcpy(data + 24 + 2 * i, &h, 2);
        memcpy(data + 32 + 2 * i, &g, 2);
    }
    for (int i = 0; i < 3; i++) {
        int64_t v = i;
        memcpy(data + 40 + 8 * i, &v, 8);
    }
    write_st(name, GOOD_HEADER, data, sizeof data);
}

START_TEST(test_good_file) {
    write_good("good.safetensors");
    st_file *f = st_file_load(tpath("good.safetensors"));
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    ck_assert_int_eq(st_file_count(f), 5);
    const char *names[5] = {"a", "b", "c", "pos", "z"};
    for (int i = 0; i < 5; i++) ck_assert_str_eq(st_file_get(f, i)->name, names[i]);
    ck_assert_ptr_null(st_file_get(f, 5));
    ck_assert_ptr_null(st_file_find(f, "__metadata__"));
    ck_assert_ptr_null(st_file_find(f, "nope"));

    const st_tensor *a = st_file_find(f, "a"), *b = st_file_find(f, "b"), *c = st_file_find(f, "c");
    const st_tensor *pos = st_file_find(f, "pos"), *z = st_file_find(f, "z");
    ck_assert(a && b && c && pos && z);
    ck_assert_int_eq(a->type, SENTI_TYPE_F32);
    ck_assert_int_eq(b->type, SENTI_TYPE_F16);
    ck_assert_int_eq(c->type, SENTI_TYPE_BF16);
    ck_assert_int_eq(pos->type, SENTI_TYPE_COUNT);
    ck_assert_str_eq(pos->dtype, "I64");
    ck_assert_int_eq(a->ndim, 2);
    ck_assert_int_eq(a->shape[0], 2);
    ck_assert_int_eq(a->shape[1], 3);
    ck_assert_int_eq(a->numel, 6);
    ck_assert_uint_eq(a->nbytes, 24);
    ck_assert_int_eq(b->ndim, 1);
    ck_assert_int_eq(b->shape[0], 4);
    ck_assert_int_eq(c->ndim, 2);
    ck_assert_int_eq(z->numel, 0);
    ck_assert_uint_eq(z->nbytes, 0);
    ck_assert_str_eq(a->file, tpath("good.safetensors"));
    /* b and c start 24 and 32 bytes after a: their alignment relative to a's */
    ck_assert(st_tensor_is_aligned(a, 1));
    ck_assert_int_eq(st_tensor_is_aligned(a, 4), ((uintptr_t)b->data % 4 == 0) && ((uintptr_t)c->data % 4 == 0));
    ck_assert_int_eq((int)(((const uint8_t *)c->data - (const uint8_t *)a->data)), 32);

    float out[6];
    ck_assert_int_eq(st_tensor_read_f32(a, out), SENTI_OK);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(out[i], A_VALS[i]);
    ck_assert_int_eq(st_tensor_read_f32(b, out), SENTI_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(out[i], B_VALS[i]);
    ck_assert_int_eq(st_tensor_read_f32(c, out), SENTI_OK);
    for (int i = 0; i < 4; i++) ck_assert_float_eq(out[i], C_VALS[i]);
    ck_assert_int_eq(st_tensor_read_f32(pos, out), SENTI_ERR_UNSUPPORTED);
    assert_msg_has("read I64", "good.safetensors", "'pos'", "I64", NULL);
    st_file_free(f);
    st_file_free(NULL);
}
END_TEST

START_TEST(test_weights_expect) {
    make_dir("m");
    write_good("m/model.safetensors");
    st_weights *w = st_weights_load(tpath("m")); /* a directory */
    ck_assert_msg(w != NULL, "%s", senti_last_error());
    ck_assert_str_eq(st_weights_source(w), tpath("m/model.safetensors"));
    ck_assert_int_eq(st_weights_count(w), 5);
    ck_assert_str_eq(st_weights_get(w, 2)->name, "c");

    const st_tensor *t = NULL;
    ck_assert_int_eq(st_weights_expect(w, "a", 2, (const int64_t[]){2, 3}, ST_FLOAT_TYPES, &t), SENTI_OK);
    ck_assert_ptr_eq(t, st_weights_find(w, "a"));
    ck_assert_int_eq(st_weights_expect(w, "a", 2, (const int64_t[]){-1, 3}, ST_FLOAT_TYPES, &t), SENTI_OK);

    ck_assert_int_eq(st_weights_expect(w, "a", 2, (const int64_t[]){2, 4}, ST_FLOAT_TYPES, &t), SENTI_ERR_BAD_FILE);
    ck_assert_ptr_null(t);
    assert_msg_has("wrong shape", "model.safetensors: tensor 'a' has shape [2,3], expected [2,4]", NULL);
    ck_assert_int_eq(st_weights_expect(w, "a", 1, (const int64_t[]){6}, ST_FLOAT_TYPES, &t), SENTI_ERR_BAD_FILE);
    assert_msg_has("wrong rank", "model.safetensors", "'a'", "expected [6]", NULL);

    ck_assert_int_ne(st_weights_expect(w, "bert.pooler.dense.weight", 2, (const int64_t[]){4, 4}, ST_FLOAT_TYPES, &t),
                     SENTI_OK);
    assert_msg_has("missing", "model.safetensors: tensor 'bert.pooler.dense.weight' is missing", NULL);

    ck_assert_int_eq(st_weights_expect(w, "b", 1, (const int64_t[]){4}, ST_TYPE_BIT(SENTI_TYPE_F32), &t),
                     SENTI_ERR_UNSUPPORTED);
    assert_msg_has("wrong dtype", "model.safetensors", "'b'", "dtype F16", "f32", NULL);
    ck_assert_int_eq(st_weights_expect(w, "pos", 1, (const int64_t[]){3}, ST_FLOAT_TYPES, &t), SENTI_ERR_UNSUPPORTED);
    assert_msg_has("I64", "model.safetensors", "'pos'", "I64", NULL);
    st_weights_free(w);

    /* a file path works as well; a directory with neither file does not */
    w = st_weights_load(tpath("m/model.safetensors"));
    ck_assert_msg(w != NULL, "%s", senti_last_error());
    st_weights_free(w);
    make_dir("empty");
    ck_assert_ptr_null(st_weights_load(tpath("empty")));
    assert_msg_has("empty dir", "empty", "model.safetensors", NULL);
    ck_assert_ptr_null(st_weights_load(tpath("does-not-exist")));
    assert_msg_has("no such path", "does-not-exist", NULL);
    st_weights_free(NULL);
}
END_TEST

/* ---- bad files ---------------------------------------------------------------- */

typedef struct {
    const char *file;
    uint64_t hlen; /* 0: the real header length */
    const char *header;
    size_t dlen;   /* zero data bytes */
    const char *want[3];
} bad_case;

#define T1(x) "{\"w\":" x "}"
static const bad_case BAD[] = {
    {"hlen.safetensors", 1000, "{}", 10, {"header length 1000", "past the end"}},
    {"hlen-huge.safetensors", UINT64_MAX, "{}", 0, {"header length", "past the end"}},
    {"past.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), 8, {"'w'", "past the end"}},
    {"past-begin.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[100,104]}"), 8, {"'w'", "past the end"}},
    {"size.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}"), 12, {"'w'", "[2,2]", "needs 16"}},
    {"size-f16.safetensors", 0, T1("{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}"), 12, {"'w'", "needs 6"}},
    {"order.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}"), 8, {"'w'", "begin after end"}},
    {"overlap.safetensors", 0,
     "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, {"'x'", "'y'", "overlap"}},
    {"inside.safetensors", 0,
     "{\"big\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"mid\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
     "\"small\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]}}", 16, {"'big'", "overlap"}},
    {"notjson.safetensors", 0, "{\"w\": {not json", 0, {"not valid JSON"}},
    {"dupkey.safetensors", 0,
     "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, {"not valid JSON", "duplicate"}},
    {"notobj.safetensors", 0, "[1,2,3]", 0, {"not a JSON object"}},
    {"entry.safetensors", 0, T1("3"), 0, {"'w'", "not an object"}},
    {"negshape.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}"), 0, {"'w'", "shape entry 0"}},
    {"fracshape.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}"), 12, {"'w'", "shape entry 1"}},
    {"strshape.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}"), 8, {"'w'", "shape entry 0"}},
    {"noshape.safetensors", 0, T1("{\"dtype\":\"F32\",\"data_offsets\":[0,8]}"), 8, {"'w'", "'shape'"}},
    {"rank.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}"), 4, {"'w'", "dims"}},
    {"huge.safetensors", 0,
     T1("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,0]}"), 0, {"'w'", "overflows"}},
    {"huge2.safetensors", 0,
     T1("{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,4],\"data_offsets\":[0,0]}"), 0, {"'w'", "overflows"}},
    {"hugebytes.safetensors", 0,
     T1("{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,0]}"), 0, {"'w'", "overflows"}},
    {"hugeoffs.safetensors", 0,
     T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[9223372036854775800,9223372036854775804]}"), 8, {"'w'", "past the end"}},
    {"negoffs.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}"), 8, {"'w'", "non-negative"}},
    {"nooffs.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[1]}"), 8, {"'w'", "data_offsets"}},
    {"offs3.safetensors", 0, T1("{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}"), 8, {"'w'", "data_offsets"}},
    {"dtype.safetensors", 0, T1("{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,4]}"), 4, {"'w'", "unknown dtype 'Q9'"}},
    {"nodtype.safetensors", 0, T1("{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}"), 4, {"'w'", "'dtype'"}},
};

START_TEST(test_bad_files) {
    uint8_t zeros[64] = {0};
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        const bad_case *bc = &BAD[i];
        ck_assert(bc->dlen <= sizeof zeros);
        write_st_raw(bc->file, bc->hlen, bc->header, zeros, bc->dlen);
        senti_clear_error();
        st_file *f = st_file_load(tpath(bc->file));
        ck_assert_msg(f == NULL, "%s: loaded", bc->file);
        assert_msg_has(bc->file, bc->file, bc->want[0], bc->want[1], bc->want[2], NULL);
        /* the weights-set path reports the same */
        st_weights *w = st_weights_load(tpath(bc->file));
        ck_assert_ptr_null(w);
        assert_msg_has(bc->file, bc->file, bc->want[0], NULL);
    }
}
END_TEST

START_TEST(test_truncated) {
    write_file("empty.safetensors", "", 0);
    ck_assert_ptr_null(st_file_load(tpath("empty.safetensors")));
    assert_msg_has("empty", "empty.safetensors", "truncated", NULL);
    write_file("five.safetensors", "\x10\0\0\0\0", 5);
    ck_assert_ptr_null(st_file_load(tpath("five.safetensors")));
    assert_msg_has("five bytes", "five.safetensors", "truncated", NULL);

    /* a good file cut short at every length: never loads, never crashes */
    write_good("full.safetensors");
    FILE *f = fopen(tpath("full.safetensors"), "rb");
    uint8_t buf[1024];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert(n > 64 && n < sizeof buf);
    for (size_t len = 0; len < n; len++) {
        write_file("cut.safetensors", buf, len);
        ck_assert_msg(st_file_load(tpath("cut.safetensors")) == NULL, "cut at %zu loaded", len);
        ck_assert_msg(strstr(senti_last_error(), "cut.safetensors") != NULL, "%s", senti_last_error());
    }
    /* cut inside the data section: the error names a tensor */
    write_file("cut.safetensors", buf, n - 1);
    ck_assert_ptr_null(st_file_load(tpath("cut.safetensors")));
    assert_msg_has("cut data", "cut.safetensors", "'pos'", "past the end", NULL);
    ck_assert_ptr_null(st_file_load(tpath("no-such.safetensors")));
    assert_msg_has("absent", "no-such.safetensors", "cannot open", NULL);
}
END_TEST

/* ---- sharded checkpoints -------------------------------------------------------- */

static void write_shards(const char *dir) {
    char p[256];
    float v[4] = {1, 2, 3, 4};
    make_dir(dir);
    snprintf(p, sizeof p, "%s/m-1.safetensors", dir);
    write_st(p,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"c\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[8,16]}}",
             v, 16);
    snprintf(p, sizeof p, "%s/m-2.safetensors", dir);
    write_st(p,
             "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
             "\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
             v, 16);
}

static void write_index(const char *dir, const char *map) {
    char p[256], text[1024];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    snprintf(text, sizeof text, "{\"metadata\":{\"total_size\":40},\"weight_map\":{%s}}", map);
    write_text(p, text);
}

START_TEST(test_sharded) {
    write_shards("sh");
    write_index("sh", "\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\",\"c\":\"m-1.safetensors\"");
    st_weights *w = st_weights_load(tpath("sh"));
    ck_assert_msg(w != NULL, "%s", senti_last_error());
    ck_assert_str_eq(st_weights_source(w), tpath("sh/model.safetensors.index.json"));
    ck_assert_int_eq(st_weights_count(w), 3); /* only what the index lists */
    ck_assert_str_eq(st_weights_get(w, 0)->name, "a");
    ck_assert_str_eq(st_weights_get(w, 1)->name, "b");
    ck_assert_str_eq(st_weights_get(w, 2)->name, "c");
    const st_tensor *t;
    ck_assert_int_eq(st_weights_expect(w, "b", 1, (const int64_t[]){3}, ST_FLOAT_TYPES, &t), SENTI_OK);
    ck_assert_str_eq(t->file, tpath("sh/m-2.safetensors"));
    float out[3];
    ck_assert_int_eq(st_tensor_read_f32(t, out), SENTI_OK);
    ck_assert_float_eq(out[2], 3.0f);
    ck_assert_int_eq(st_weights_expect(w, "c", 1, (const int64_t[]){3}, ST_FLOAT_TYPES, &t), SENTI_ERR_BAD_FILE);
    assert_msg_has("shard shape", "m-1.safetensors: tensor 'c' has shape [1,2], expected [3]", NULL);
    ck_assert_int_ne(st_weights_expect(w, "extra", 1, (const int64_t[]){1}, ST_FLOAT_TYPES, &t), SENTI_OK);
    assert_msg_has("missing in index", "model.safetensors.index.json: tensor 'extra' is missing", NULL);
    st_weights_free(w);

    /* the index file itself can be given */
    w = st_weights_load(tpath("sh/model.safetensors.index.json"));
    ck_assert_msg(w != NULL, "%s", senti_last_error());
    st_weights_free(w);

    write_shards("sh-missing");
    write_index("sh-missing", "\"a\":\"m-1.safetensors\",\"q\":\"gone-00002.safetensors\"");
    ck_assert_ptr_null(st_weights_load(tpath("sh-missing")));
    assert_msg_has("missing shard", "model.safetensors.index.json", "gone-00002.safetensors", "'q'", NULL);

    write_shards("sh-absent");
    write_index("sh-absent", "\"a\":\"m-1.safetensors\",\"d\":\"m-1.safetensors\"");
    ck_assert_ptr_null(st_weights_load(tpath("sh-absent")));
    assert_msg_has("absent tensor", "model.safetensors.index.json", "'d'", "m-1.safetensors", NULL);

    write_shards("sh-bad");
    write_st("sh-bad/m-3.safetensors", T1("{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}"), "abcd", 4);
    write_index("sh-bad", "\"a\":\"m-1.safetensors\",\"w\":\"m-3.safetensors\"");
    ck_assert_ptr_null(st_weights_load(tpath("sh-bad")));
    assert_msg_has("bad shard", "model.safetensors.index.json", "m-3.safetensors", "'w'", "past the end", NULL);

    write_shards("sh-escape");
    write_index("sh-escape", "\"a\":\"../sh/m-1.safetensors\"");
    ck_assert_ptr_null(st_weights_load(tpath("sh-escape")));
    assert_msg_has("path escape", "model.safetensors.index.json", "'a'", "plain file name", NULL);

    write_shards("sh-type");
    write_index("sh-type", "\"a\":3");
    ck_assert_ptr_null(st_weights_load(tpath("sh-type")));
    assert_msg_has("non-string shard", "model.safetensors.index.json", "'a'", NULL);

    make_dir("sh-nomap");
    write_text("sh-nomap/model.safetensors.index.json", "{\"metadata\":{}}");
    ck_assert_ptr_null(st_weights_load(tpath("sh-nomap")));
    assert_msg_has("no weight_map", "model.safetensors.index.json", "'weight_map'", NULL);

    make_dir("sh-json");
    write_text("sh-json/model.safetensors.index.json", "{\"weight_map\":\n{\"a\": }}");
    ck_assert_ptr_null(st_weights_load(tpath("sh-json")));
    assert_msg_has("malformed index", "model.safetensors.index.json:2:", NULL);
}
END_TEST

/* ---- config.json ------------------------------------------------------------------ */

static const char *GOOD_CONFIG =
    "{\n"
    "  \"architectures\": [\"BertForSequenceClassification\"],\n"
    "  \"hidden_size\": 48,\n"
    "  \"num_hidden_layers\": 2.0,\n"
    "  \"layer_norm_eps\": 1e-12,\n"
    "  \"initializer_range\": 1,\n"
    "  \"hidden_act\": \"gelu\",\n"
    "  \"tie_word_embeddings\": true,\n"
    "  \"pad_token_id\": null,\n"
    "  \"id2label\": {\"1\": \"positive\", \"0\": \"negative\", \"2\": \"neutral\"},\n"
    "  \"num_labels\": 3\n"
    "}\n";

START_TEST(test_config_good) {
    make_dir("cfg");
    write_text("cfg/config.json", GOOD_CONFIG);
    cfg_file *c = cfg_load(tpath("cfg/config.json"));
    ck_assert_msg(c != NULL, "%s", senti_last_error());
    ck_assert_str_eq(cfg_path(c), tpath("cfg/config.json"));
    int64_t i;
    double d;
    const char *s;
    bool b;
    ck_assert_int_eq(cfg_get_int(c, "hidden_size", &i), SENTI_OK);
    ck_assert_int_eq(i, 48);
    ck_assert_int_eq(cfg_get_int(c, "num_hidden_layers", &i), SENTI_OK);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(cfg_opt_int(c, "max_position_embeddings", 512, &i), SENTI_OK);
    ck_assert_int_eq(i, 512);
    ck_assert_int_eq(cfg_opt_int(c, "pad_token_id", 1, &i), SENTI_OK); /* null = absent */
    ck_assert_int_eq(i, 1);
    ck_assert(!cfg_has(c, "pad_token_id"));
    ck_assert(cfg_has(c, "hidden_act"));
    ck_assert_int_eq(cfg_get_float(c, "layer_norm_eps", &d), SENTI_OK);
    ck_assert_double_eq(d, 1e-12);
    ck_assert_int_eq(cfg_get_float(c, "initializer_range", &d), SENTI_OK);
    ck_assert_double_eq(d, 1.0);
    ck_assert_int_eq(cfg_opt_float(c, "dropout", 0.25, &d), SENTI_OK);
    ck_assert_double_eq(d, 0.25);
    ck_assert_int_eq(cfg_get_str(c, "hidden_act", &s), SENTI_OK);
    ck_assert_str_eq(s, "gelu");
    ck_assert_int_eq(cfg_opt_str(c, "position_embedding_type", "absolute", &s), SENTI_OK);
    ck_assert_str_eq(s, "absolute");
    ck_assert_int_eq(cfg_get_bool(c, "tie_word_embeddings", &b), SENTI_OK);
    ck_assert(b);
    ck_assert_int_eq(cfg_opt_bool(c, "is_decoder", false, &b), SENTI_OK);
    ck_assert(!b);

    const char **arr;
    int64_t n;
    ck_assert_int_eq(cfg_get_strs(c, "architectures", true, &arr, &n), SENTI_OK);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(arr[0], "BertForSequenceClassification");
    senti_mfree(arr);
    ck_assert_int_eq(cfg_get_strs(c, "nothing", false, &arr, &n), SENTI_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_ptr_null(arr);

    ck_assert_int_eq(cfg_labels(c, &arr, &n), SENTI_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(arr[0], "negative");
    ck_assert_str_eq(arr[1], "positive");
    ck_assert_str_eq(arr[2], "neutral");
    senti_mfree(arr);

    /* wrong types and missing keys name the file and the key */
    ck_assert_int_eq(cfg_get_int(c, "hidden_act", &i), SENTI_ERR_BAD_FILE);
    assert_msg_has("int", "config.json: key 'hidden_act' must be an integer", NULL);
    ck_assert_int_eq(cfg_opt_int(c, "layer_norm_eps", 3, &i), SENTI_ERR_BAD_FILE);
    assert_msg_has("opt int", "config.json: key 'layer_norm_eps' must be an integer", NULL);
    ck_assert_int_eq(cfg_get_float(c, "hidden_act", &d), SENTI_ERR_BAD_FILE);
    assert_msg_has("float", "config.json: key 'hidden_act' must be a number", NULL);
    ck_assert_int_eq(cfg_get_str(c, "hidden_size", &s), SENTI_ERR_BAD_FILE);
    assert_msg_has("str", "config.json: key 'hidden_size' must be a string", NULL);
    ck_assert_int_eq(cfg_opt_bool(c, "hidden_size", false, &b), SENTI_ERR_BAD_FILE);
    assert_msg_has("bool", "config.json: key 'hidden_size' must be true or false", NULL);
    ck_assert_int_eq(cfg_get_strs(c, "hidden_act", false, &arr, &n), SENTI_ERR_BAD_FILE);
    assert_msg_has("strs", "config.json: key 'hidden_act' must be an array of strings", NULL);
    ck_assert_int_eq(cfg_get_int(c, "vocab_size", &i), SENTI_ERR_BAD_FILE);
    assert_msg_has("missing", "config.json: missing required key 'vocab_size'", NULL);
    ck_assert_int_eq(cfg_get_str(c, "pad_token_id", &s), SENTI_ERR_BAD_FILE);
    assert_msg_has("null required", "missing required key 'pad_token_id'", NULL);
    ck_assert_int_eq(cfg_get_strs(c, "label_names", true, &arr, &n), SENTI_ERR_BAD_FILE);
    assert_msg_has("missing strs", "config.json: missing required key 'label_names'", NULL);
    cfg_free(c);
    cfg_free(NULL);
}
END_TEST

START_TEST(test_config_bad) {
    make_dir("cj");
    write_text("cj/config.json", "{\n  \"hidden_size\": 768,\n  \"num_layers\": ,\n}\n");
    ck_assert_ptr_null(cfg_load(tpath("cj/config.json")));
    assert_msg_has("malformed", "config.json:3:", "malformed JSON", NULL);

    make_dir("cd");
    write_text("cd/config.json", "{\"a\": 1, \"a\": 2}");
    ck_assert_ptr_null(cfg_load(tpath("cd/config.json")));
    assert_msg_has("duplicate", "config.json:1:", "duplicate", NULL);

    make_dir("ca");
    write_text("ca/config.json", "[1, 2]");
    ck_assert_ptr_null(cfg_load(tpath("ca/config.json")));
    assert_msg_has("not object", "config.json", "not a JSON object", NULL);

    ck_assert_ptr_null(cfg_load(tpath("nowhere/config.json")));
    assert_msg_has("absent", "nowhere/config.json", NULL);

    struct { const char *text, *want; } labels[] = {
        {"{\"id2label\": {\"0\": \"a\", \"2\": \"b\"}}", "'2'"},
        {"{\"id2label\": {\"0\": \"a\", \"x\": \"b\"}}", "'x'"},
        {"{\"id2label\": {\"0\": \"a\", \"-1\": \"b\"}}", "'-1'"},
        {"{\"id2label\": {\"0\": \"a\", \" 1\": \"b\"}}", "' 1'"},
        {"{\"id2label\": {\"0\": \"a\", \"99999999999999999999999\": \"b\"}}", "'99999999999999999999999'"},
        {"{\"id2label\": {\"0\": \"a\", \"00\": \"b\"}}", "twice"},
        {"{\"id2label\": {\"0\": \"a\", \"1\": 7}}", "id 1 is not a string"},
        {"{\"id2label\": [\"a\", \"b\"]}", "must be an object"},
    };
    make_dir("cl");
    for (size_t k = 0; k < sizeof labels / sizeof labels[0]; k++) {
        write_text("cl/config.json", labels[k].text);
        cfg_file *c = cfg_load(tpath("cl/config.json"));
        ck_assert_msg(c != NULL, "%s", senti_last_error());
        const char **arr = (const char **)1;
        int64_t n = -1;
        ck_assert_int_eq(cfg_labels(c, &arr, &n), SENTI_ERR_BAD_FILE);
        ck_assert_ptr_null(arr);
        ck_assert_int_eq(n, 0);
        assert_msg_has(labels[k].text, "config.json", "'id2label'", labels[k].want, NULL);
        cfg_free(c);
    }

    write_text("cl/config.json", "{\"architectures\": [\"A\", 3]}");
    cfg_file *c = cfg_load(tpath("cl/config.json"));
    ck_assert(c != NULL);
    const char **arr;
    int64_t n;
    ck_assert_int_eq(cfg_get_strs(c, "architectures", true, &arr, &n), SENTI_ERR_BAD_FILE);
    assert_msg_has("strs elem", "config.json: key 'architectures' must be an array of strings", NULL);
    ck_assert_int_eq(cfg_labels(c, &arr, &n), SENTI_OK); /* no id2label: no labels */
    ck_assert_int_eq(n, 0);
    cfg_free(c);
}
END_TEST

/* ---- allocation failures: every failure reported, nothing leaked ----------------- */


START_TEST(test_alloc_failures) {
    write_shards("sa");
    write_index("sa", "\"a\":\"m-1.safetensors\",\"b\":\"m-2.safetensors\",\"c\":\"m-1.safetensors\"");
    make_dir("sa-cfg");
    write_text("sa-cfg/config.json", GOOD_CONFIG);
    senti_set_allocator(&(senti_allocator){count_alloc, count_free, NULL});
    bool done = false;
    for (g_fail_at = 0; !done && g_fail_at < 1000; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        senti_clear_error();
        st_weights *w = st_weights_load(tpath("sa"));
        cfg_file *c = w ? cfg_load(tpath("sa-cfg/config.json")) : NULL;
        const char **labels = NULL;
        int64_t n = 0;
        senti_status st = c ? cfg_labels(c, &labels, &n) : SENTI_ERR_NO_MEMORY;
        done = st == SENTI_OK;
        if (!done) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        else ck_assert_int_eq(n, 3);
        senti_mfree(labels);
        cfg_free(c);
        st_weights_free(w);
        ck_assert_msg(g_live == 0, "failing allocation %ld leaked %ld blocks", g_fail_at, g_live);
    }
    senti_set_allocator(NULL);
    ck_assert(done);
    ck_assert_int_gt(g_fail_at, 5);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_weights_expect);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_sharded);
    tcase_add_test(tc, test_config_good);
    tcase_add_test(tc, test_config_bad);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
