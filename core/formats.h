/* formats.h — the file readers below the model layer: safetensors (single
 * files, sharded checkpoints, a "weights set" over a model directory),
 * config.json and GGUF (reader, values and writer). Included through
 * core.h; model/ and tokenizer/ read files through these, nothing above them
 * opens a model file.
 *
 * Invariants: everything is validated when a file is loaded, before any
 * tensor is handed out: headers are parsed with jansson (safetensors) or by
 * the bounds-checked GGUF reader, every tensor's dtype, shape and offsets
 * are checked against the file with overflow-safe arithmetic, and no two
 * tensors overlap. A loaded file is read-only and immutable: lookups may run
 * concurrently from many threads. Errors are returned (NULL or a status)
 * with senti_last_error() naming the file and the tensor or key. */
#ifndef SENTI_FORMATS_H
#define SENTI_FORMATS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "senti.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors ------------------------------------------------------------
 * File layout: u64 little-endian header length N, N bytes of JSON header
 * {name: {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}, then the data section; offsets are relative to the
 * start of the data section (byte 8 + N). */

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    const char *name;           /* borrowed: owned by the file */
    const char *file;           /* path of the file that holds it (for messages); borrowed */
    const char *dtype;          /* the file's dtype name ("F32", "I64", ...); static storage */
    senti_type type;            /* F32/F16/BF16/I32; SENTI_TYPE_COUNT for a dtype senti cannot run */
    int ndim;                   /* 0..ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS]; /* outermost first, as in PyTorch */
    int64_t numel;
    const void *data;           /* into the read-only mapping; may be unaligned for its type */
    size_t nbytes;
} st_tensor;

/* Bit for a senti_type in the `types` masks below. */
#define ST_TYPE_BIT(t) (1u << (unsigned)(t))
#define ST_FLOAT_TYPES (ST_TYPE_BIT(SENTI_TYPE_F32) | ST_TYPE_BIT(SENTI_TYPE_F16) | ST_TYPE_BIT(SENTI_TYPE_BF16))
/* The float types plus every block-quantized type (a GGUF file's weights). */
#define ST_WEIGHT_TYPES (ST_FLOAT_TYPES | (ST_TYPE_BIT(SENTI_TYPE_COUNT) - ST_TYPE_BIT(SENTI_TYPE_Q8_0)))

typedef struct st_file st_file;

/* Map and validate one .safetensors file. Returns NULL with senti_last_error()
 * set on failure (IO: cannot open/map; BAD_FILE: malformed, with the tensor
 * named where there is one; NO_MEMORY). The mapping lives until st_file_free. */
st_file *st_file_load(const char *path);
/* The same over a caller's buffer (borrowed: it must outlive the file and is
 * not unmapped); name is used in messages. For tests and fuzzing. */
st_file *st_file_load_buffer(const void *data, size_t size, const char *name);
void st_file_free(st_file *f); /* accepts NULL */

const char *st_file_path(const st_file *f);
int64_t st_file_count(const st_file *f);
/* The i-th tensor, in name order (0 <= i < count). Borrowed. */
const st_tensor *st_file_get(const st_file *f, int64_t i);
/* By name; NULL if absent (sets no error). Borrowed. */
const st_tensor *st_file_find(const st_file *f, const char *name);

/* Convert t's elements (F32/F16/BF16/I32) to f32 into dst (numel floats);
 * safe for unaligned data. UNSUPPORTED (naming file, tensor and dtype)
 * for other dtypes. */
senti_status st_tensor_read_f32(const st_tensor *t, float *dst);

/* Whether t's data may be used in place as an array of `align`-byte
 * elements (the file's offsets decide; writers need not pad). */
static inline bool st_tensor_is_aligned(const st_tensor *t, size_t align) {
    return align == 0 || (uintptr_t)t->data % align == 0;
}

/* "[768,768]" into buf; returns buf. */
const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);

/* ---- weights set: one file or a sharded checkpoint ------------------------- */

typedef struct st_weights st_weights;

/* path is a model directory (model.safetensors is preferred, else
 * model.safetensors.index.json), a .safetensors file, or an index .json file.
 * An index's "weight_map" (name -> shard file in the index's directory) is
 * read with jansson; each shard is loaded once; every listed tensor must be
 * in its shard. Errors name the index and the shard. NULL on failure. */
st_weights *st_weights_load(const char *path);
void st_weights_free(st_weights *w); /* accepts NULL */
/* A set over n in-memory descriptors (e.g. a GGUF file's tensors under their
 * HF names). Takes ownership of `tensors` (senti_malloc'd) and of `owner`,
 * released with owner_free (may be NULL) when the set is freed, also on
 * failure. Names must be unique (BAD_FILE naming the duplicate). */
st_weights *st_weights_from_tensors(const char *source, st_tensor *tensors, int64_t n, void *owner,
                                    void (*owner_free)(void *));

/* The file named in messages about the set as a whole: the .safetensors file
 * or the index file. Borrowed. */
const char *st_weights_source(const st_weights *w);
int64_t st_weights_count(const st_weights *w);
const st_tensor *st_weights_get(const st_weights *w, int64_t i); /* name order; borrowed */
const st_tensor *st_weights_find(const st_weights *w, const char *name); /* NULL if absent */

/* Fetch tensor `name`, checking its shape (ndim dims; a negative entry
 * matches any extent) and that its type is in `types` (ST_TYPE_BIT mask).
 * On success *out is the (borrowed) descriptor. Errors (BAD_FILE /
 * UNSUPPORTED), e.g. "model.safetensors: tensor 'x.weight' has shape
 * [768,700], expected [768,768]", "... tensor 'x' is missing",
 * "... tensor 'x' has dtype I64, expected one of f32, f16, bf16". */
senti_status st_weights_expect(const st_weights *w, const char *name, int ndim, const int64_t *shape,
                               unsigned types, const st_tensor **out);

/* ---- opening input files (file.c) --------------------------------------------
 * Every reader opens through these: regular files only, refused without
 * blocking (O_NONBLOCK while checking, so a FIFO never hangs the open),
 * errors naming the path and what it is ("x: is a FIFO; ..."). */

/* A read-only fd of a regular file (close it), its size in *size if non-NULL;
 * -1 with the error set. */
int senti_open_regular(const char *path, size_t *size);
/* The same as a FILE * opened "rb" (fclose it); NULL with the error set. */
FILE *senti_fopen_regular(const char *path);
/* json_load_file through senti_open_regular: NULL on failure; a refused or
 * failed open reports err->line -1 and the message in err->text (as jansson
 * does for an open failure); err may be NULL. */
struct json_t;
struct json_error_t;
struct json_t *senti_json_load(const char *path, size_t flags, struct json_error_t *err);
/* Whether the existing regular file `file` is `path` (a regular file) or one of
 * the regular files directly in `path` (a directory), symlinks followed: the
 * matching path into hit[n] (when n > 0). False when either does not exist. For
 * the outputs that must not overwrite what a run reads (--output over the model,
 * senti convert over its model directory). */
bool senti_file_in(const char *file, const char *path, char *hit, size_t n);
/* Byte offset of the first invalid UTF-8 sequence in s[0..n), or -1 (overlong
 * forms, surrogates and code points above U+10FFFF are invalid). */
int64_t senti_utf8_invalid_at(const char *s, size_t n);
/* Each byte of s[0..n) that starts no valid UTF-8 sequence becomes '?' (text
 * quoted from a file, or cut inside a character, made fit for JSON). */
void senti_utf8_scrub(char *s, size_t n);

/* ---- config.json -------------------------------------------------------------
 * Typed getters over the top-level object. `get` = required key (missing is
 * BAD_FILE "config.json: missing required key 'k'"); `opt` = default when the
 * key is absent or null. A present key of the wrong type is always an error
 * ("config.json: key 'hidden_size' must be an integer"). Returned strings are
 * borrowed from the config and live until cfg_free. */

typedef struct cfg_file cfg_file;

/* Load and parse. Malformed JSON reports "path:line:column: <jansson text>";
 * the root must be an object; duplicate keys are rejected. NULL on failure. */
cfg_file *cfg_load(const char *path);
/* A config over an in-memory JSON object (a GGUF file's synthesized or
 * embedded config); takes the reference `root` (a json_t *) in all cases;
 * path names it in messages. NULL on failure (root not an object). */
cfg_file *cfg_from_json(const char *path, void *root);
/* The parsed root object (a json_t *), borrowed: for nested keys. */
void *cfg_json(const cfg_file *c);
void cfg_free(cfg_file *c); /* accepts NULL */
const char *cfg_path(const cfg_file *c);
/* The parsed root object (a json_t *, borrowed) for nested keys such as
 * "rope_parameters"; read-only. */
void *cfg_root(const cfg_file *c);
bool cfg_has(const cfg_file *c, const char *key); /* present and not null */

/* Integers: JSON integers, or reals with an integral value. */
senti_status cfg_get_int(const cfg_file *c, const char *key, int64_t *out);
senti_status cfg_opt_int(const cfg_file *c, const char *key, int64_t def, int64_t *out);
/* Floats: any JSON number. */
senti_status cfg_get_float(const cfg_file *c, const char *key, double *out);
senti_status cfg_opt_float(const cfg_file *c, const char *key, double def, double *out);
senti_status cfg_get_str(const cfg_file *c, const char *key, const char **out);
senti_status cfg_opt_str(const cfg_file *c, const char *key, const char *def, const char **out);
senti_status cfg_get_bool(const cfg_file *c, const char *key, bool *out);
senti_status cfg_opt_bool(const cfg_file *c, const char *key, bool def, bool *out);

/* Array of strings (e.g. "architectures"). *out is a new array of *n borrowed
 * strings that the caller releases with senti_mfree (NULL when *n == 0). An
 * absent key gives *n = 0 unless required. */
senti_status cfg_get_strs(const cfg_file *c, const char *key, bool required, const char ***out, int64_t *n);

/* id2label as labels 0..n-1: keys must be decimal integers covering 0..n-1
 * exactly once and values strings. *out is a new array of *n borrowed
 * strings (caller frees the array with senti_mfree); absent key: *n = 0,
 * *out = NULL. As in transformers, id2label decides the count: a num_labels
 * key that disagrees is not consulted here. */
senti_status cfg_labels(const cfg_file *c, const char ***out, int64_t *n);

/* ---- GGUF (gguf.c) -------------------------------------------------------------
 * File layout (little-endian): "GGUF", u32 version (2 or 3), u64 n_tensors,
 * u64 n_kv; n_kv key/values (string key, u32 value type, value); n_tensors
 * tensor infos (string name, u32 n_dims, u64 ne[n_dims] innermost first,
 * u32 ggml type, u64 offset relative to the data section); padding to
 * general.alignment (u32, default 32); the data section. A string is a u64
 * length then that many bytes (no NUL). An array is u32 element type, u64
 * count, then the elements (arrays may nest).
 *
 * Invariants once loaded: every count, length and offset was checked against
 * the file with overflow-safe arithmetic before use; keys and tensor names
 * are unique; every tensor's data is aligned to general.alignment, lies inside
 * the file, has exactly the size its type and shape need, and no two
 * non-empty tensors overlap. A loaded file is immutable (concurrent lookups
 * are safe); strings are NUL-terminated copies owned by the file. */

typedef enum gguf_vtype {
    GGUF_VT_U8 = 0, GGUF_VT_I8 = 1, GGUF_VT_U16 = 2, GGUF_VT_I16 = 3, GGUF_VT_U32 = 4, GGUF_VT_I32 = 5,
    GGUF_VT_F32 = 6, GGUF_VT_BOOL = 7, GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_U64 = 10,
    GGUF_VT_I64 = 11, GGUF_VT_F64 = 12,
    GGUF_VT_COUNT
} gguf_vtype;

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_DEPTH 8          /* deepest nesting of arrays accepted */
#define GGUF_DEFAULT_ALIGNMENT 32

/* One value. Scalars are widened: unsigned types in u, signed in i, f32/f64
 * in f, bool in b. An array of fixed-size elements points at its raw
 * little-endian elements (`raw`, possibly unaligned; `items` NULL); an array
 * of strings or arrays has `items` (n values). Read them with gguf_arr_get. */
typedef struct gguf_value gguf_value;
struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        bool b;
        struct { const char *s; uint64_t len; } str;         /* reader: NUL-terminated */
        struct {
            gguf_vtype type;                                  /* element type */
            uint64_t n;
            const void *raw;                                  /* fixed-size elements */
            const gguf_value *items;                          /* strings / arrays */
        } arr;
    } v;
};

/* Bytes of one fixed-size element (0 for STRING / ARRAY / unknown). */
size_t gguf_vtype_size(gguf_vtype t);
const char *gguf_vtype_name(gguf_vtype t); /* "u32", ... ; "?" for unknown */
/* Element i (< a->v.arr.n) of array a, as a value (scalars widened). */
gguf_value gguf_arr_get(const gguf_value *a, uint64_t i);

/* Value constructors for the writer (strings and arrays are borrowed). */
static inline gguf_value gguf_val_uint(gguf_vtype t, uint64_t x) { gguf_value v = {.type = t}; v.v.u = x; return v; }
static inline gguf_value gguf_val_int(gguf_vtype t, int64_t x) { gguf_value v = {.type = t}; v.v.i = x; return v; }
static inline gguf_value gguf_val_float(gguf_vtype t, double x) { gguf_value v = {.type = t}; v.v.f = x; return v; }
static inline gguf_value gguf_val_bool(bool x) { gguf_value v = {.type = GGUF_VT_BOOL}; v.v.b = x; return v; }
static inline gguf_value gguf_val_str(const char *s) {
    gguf_value v = {.type = GGUF_VT_STRING};
    v.v.str.s = s;
    v.v.str.len = strlen(s);
    return v;
}
/* Array of n fixed-size elements at raw (type != STRING/ARRAY), or of n
 * values `items` (type STRING or ARRAY). */
static inline gguf_value gguf_val_arr(gguf_vtype type, uint64_t n, const void *raw, const gguf_value *items) {
    gguf_value v = {.type = GGUF_VT_ARRAY};
    v.v.arr.type = type;
    v.v.arr.n = n;
    v.v.arr.raw = raw;
    v.v.arr.items = items;
    return v;
}

typedef struct gguf_file gguf_file;

typedef struct gguf_tensor {
    const char *name;           /* borrowed: owned by the file */
    const char *file;           /* path, for messages; borrowed */
    senti_type type;            /* F32 / F16 / BF16 / Q8_0 / Q4_0 / Q4_K / Q6_K; SENTI_TYPE_COUNT for a
                                 * type read only as f32 (gguf_tensor_is_foreign) */
    uint32_t ggml_type;         /* the id in the file (0, 1, 30, 8, 2, ...) */
    int n_dims;                 /* 1..GGUF_MAX_DIMS (0 read as a scalar: ne all 1) */
    int64_t ne[GGUF_MAX_DIMS];  /* ggml order: ne[0] innermost; unused dims 1 */
    int64_t numel;
    uint64_t offset;            /* relative to the data section */
    const void *data;           /* into the read-only mapping, aligned to the file's alignment */
    size_t nbytes;
} gguf_tensor;

/* q4_1 / q5_0 / q5_1: types senti validates and dequantizes but does not compute with. */
bool gguf_tensor_is_foreign(const gguf_tensor *t);
/* t's elements as f32 (numel floats): any type senti runs, or a foreign one. */
senti_status gguf_tensor_read_f32(const gguf_tensor *t, float *dst);
/* q5_0 is q8_0 with 5-bit values: the same f16 scale per 32 and the integers
 * q - 16 in [-16, 15], so it is held as q8_0 exactly (numel / 32 blocks), which
 * senti computes with (the q5_0 layers of Q4_K_M files: 22 bytes per 32 read as
 * 34 instead of 128 as f32). True only for q5_0. */
bool gguf_tensor_q8_0_exact(const gguf_tensor *t);
senti_status gguf_tensor_read_q8_0(const gguf_tensor *t, void *dst); /* numel / 32 senti_block_q8_0 */

/* Map and validate one GGUF file. NULL with senti_last_error() set on failure
 * (IO; BAD_FILE naming the file and the key or tensor and byte offset;
 * UNSUPPORTED for a tensor type other than the five above, naming the type
 * and the tensor; NO_MEMORY). The mapping lives until gguf_file_free. */
gguf_file *gguf_file_load(const char *path);
/* The same over a caller's buffer (borrowed: it must outlive the file and is
 * not unmapped); name is used in messages. For tests and fuzzing. */
gguf_file *gguf_file_load_buffer(const void *data, size_t size, const char *name);
void gguf_file_free(gguf_file *f); /* accepts NULL */

const char *gguf_file_path(const gguf_file *f);
uint32_t gguf_file_version(const gguf_file *f);
size_t gguf_file_alignment(const gguf_file *f);
size_t gguf_file_data_offset(const gguf_file *f); /* byte offset of the data section */

int64_t gguf_file_kv_count(const gguf_file *f);
/* The i-th key/value in file order; NULL when out of range. Borrowed. */
const char *gguf_file_kv_key(const gguf_file *f, int64_t i);
const gguf_value *gguf_file_kv_value(const gguf_file *f, int64_t i);
/* By key; NULL if absent (sets no error). Borrowed. */
const gguf_value *gguf_file_find_kv(const gguf_file *f, const char *key);

int64_t gguf_file_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_file_tensor(const gguf_file *f, int64_t i); /* file order; borrowed */
const gguf_tensor *gguf_file_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */

/* Writer: collects key/values and tensors, then writes the file in one go.
 * Keys and names are copied; string / array contents and tensor data are
 * borrowed until gguf_writer_write returns. A "general.alignment" key (u32,
 * power of two) sets the alignment; default 32. Errors: INVALID_ARG (duplicate
 * key or name, bad type, shape not a multiple of the block), IO (naming the
 * path), NO_MEMORY. */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_init(void);
void gguf_writer_free(gguf_writer *w); /* accepts NULL */
senti_status gguf_writer_add_kv(gguf_writer *w, const char *key, gguf_value v);
/* ne in ggml order (ne[0] innermost), n_dims 1..GGUF_MAX_DIMS; data holds
 * senti_row_size(type, ne[0]) * rows bytes. */
senti_status gguf_writer_add_tensor(gguf_writer *w, const char *name, senti_type type, int n_dims,
                                    const int64_t *ne, const void *data);
senti_status gguf_writer_write(gguf_writer *w, const char *path);

/* A regular file named *.gguf or starting with "GGUF". */
bool gguf_is_gguf_path(const char *path);
/* Values of a GGUF file's key (absent: def; another type: BAD_FILE naming it). */
senti_status gguf_kv_int(const gguf_file *f, const char *key, bool required, int64_t def, int64_t *out);
senti_status gguf_kv_float(const gguf_file *f, const char *key, double def, double *out);
senti_status gguf_kv_str(const gguf_file *f, const char *key, const char **out); /* absent: NULL */

#ifdef __cplusplus
}
#endif
#endif /* SENTI_FORMATS_H */
