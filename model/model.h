/* model.h — model/'s internal header: the safetensors reader (single files,
 * sharded checkpoints, a "weights set" over a model directory) and the
 * config.json reader.
 *
 * Invariants: everything is validated when a file is loaded, before any
 * tensor is handed out: the header is parsed with jansson, every tensor's
 * dtype, shape and data_offsets are checked against the file with
 * overflow-safe arithmetic, and no two tensors overlap. A loaded file is
 * read-only and immutable: lookups may run concurrently from many threads.
 * Errors are returned (NULL or a status) with senti_last_error() naming the
 * file and the tensor or key. */
#ifndef SENTI_MODEL_H
#define SENTI_MODEL_H

#include "../core/core.h"

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

typedef struct st_file st_file;

/* Map and validate one .safetensors file. Returns NULL with senti_last_error()
 * set on failure (IO: cannot open/map; BAD_FILE: malformed, with the tensor
 * named where there is one; NO_MEMORY). The mapping lives until st_file_free. */
st_file *st_file_load(const char *path);
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
void cfg_free(cfg_file *c); /* accepts NULL */
const char *cfg_path(const cfg_file *c);
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

/* ---- models: the registry and the architecture families ----------------------
 * registry.c maps config.json's "architectures"[0] to a family and a head;
 * nothing else switches on the architecture. A family's load fills the
 * common fields of senti_model and its private `impl`; forward runs one
 * padded batch (inputs already validated against the sizes by the caller). */

typedef struct model_family model_family;

typedef struct model_arch {
    const char *name;            /* "BertForSequenceClassification" */
    const model_family *family;
    int variant;                 /* family-specific (encoder.c: bert / roberta / distilbert) */
    senti_model_head head;
} model_arch;

struct senti_model {
    const model_arch *arch;
    char *dir;                   /* owned */
    int64_t hidden, layers, heads, vocab, type_vocab, num_labels, pad_id;
    int64_t max_pos;             /* longest input (RoBERTa: max_position_embeddings - pad - 1) */
    int64_t n_params;            /* every tensor in the checkpoint */
    const char **labels;         /* id2label: n_labels_named strings borrowed from cfg; array owned */
    int64_t n_labels_named;      /* 0 when config.json has no id2label */
    char dtypes[64];             /* distinct stored dtypes, "f16,f32" */
    cfg_file *cfg;               /* owned */
    st_weights *w;               /* owned */
    struct senti_backend *be;    /* owned */
    senti_exec *ex;              /* owned */
    void *impl;                  /* owned by the family */
};

/* One padded batch: ids / type_ids / mask are [B, T] row-major; type_ids and
 * mask may be NULL (zeros / all ones). */
typedef struct model_input {
    const int32_t *ids, *type_ids, *mask;
    int64_t B, T;
} model_input;

struct model_family {
    const char *name;
    /* read hyperparameters from m->cfg and weights from m->w; set m->impl */
    senti_status (*load)(senti_model *m);
    /* build the graph for in's [B, T], run it; *out (senti_malloc) gets
     * the head's output of shape shape[0..*ndim). Not thread-safe per model. */
    senti_status (*forward)(senti_model *m, const model_input *in, float **out, int64_t shape[3], int *ndim);
    void (*free)(void *impl); /* accepts NULL */
};

extern const model_family model_family_encoder; /* encoder.c: BERT, RoBERTa / XLM-R / CamemBERT, DistilBERT */

#ifdef __cplusplus
}
#endif
#endif /* SENTI_MODEL_H */
