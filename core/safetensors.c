/* safetensors.c — read-only mapped .safetensors files, sharded checkpoints
 * (model.safetensors.index.json) and checked tensor lookups.
 *
 * Invariants once loaded: every tensor lies inside the data section
 * (8 + N <= begin + 8 + N <= end + 8 + N <= file size, all computed without
 * overflow), end - begin == numel * dtype size, no two non-empty tensors
 * overlap, and the tensor table is sorted by name with unique names. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

/* ---- dtypes ----------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
    senti_type type; /* SENTI_TYPE_COUNT: known, but senti does not run it */
} st_dtypes[] = {
    {"F32", 4, SENTI_TYPE_F32},        {"F16", 2, SENTI_TYPE_F16},        {"BF16", 2, SENTI_TYPE_BF16},
    {"I32", 4, SENTI_TYPE_I32},        {"F64", 8, SENTI_TYPE_COUNT},      {"I64", 8, SENTI_TYPE_COUNT},
    {"U64", 8, SENTI_TYPE_COUNT},      {"U32", 4, SENTI_TYPE_COUNT},      {"I16", 2, SENTI_TYPE_COUNT},
    {"U16", 2, SENTI_TYPE_COUNT},      {"I8", 1, SENTI_TYPE_COUNT},       {"U8", 1, SENTI_TYPE_COUNT},
    {"BOOL", 1, SENTI_TYPE_COUNT},     {"F8_E4M3", 1, SENTI_TYPE_COUNT},  {"F8_E5M2", 1, SENTI_TYPE_COUNT},
    {"F8_E8M0", 1, SENTI_TYPE_COUNT},
};

/* ---- file mapping ------------------------------------------------------------ */

typedef struct st_map {
    const uint8_t *base;
    size_t size;
} st_map;

static senti_status map_file(const char *path, st_map *m) {
    m->base = NULL;
    m->size = 0;
    size_t size;
    int fd = senti_open_regular(path, &size);
    if (fd < 0) return SENTI_ERR_IO;
    if (size < 8) {
        close(fd);
        return senti_error(SENTI_ERR_BAD_FILE, "%s: truncated: %zu bytes, need at least 8 for the header length", path,
                           size);
    }
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return senti_error(SENTI_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    m->base = p;
    m->size = size;
    return SENTI_OK;
}

static void unmap_file(st_map *m) {
    if (m->base) munmap((void *)m->base, m->size);
    m->base = NULL;
}

/* ---- one file ------------------------------------------------------------------ */

struct st_file {
    char *path;
    st_map map;
    st_tensor *tensors; /* sorted by name */
    int64_t n;
    char *names;        /* one block holding every name */
    bool borrowed;      /* map is the caller's buffer (st_file_load_buffer) */
};

const char *st_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t k = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ",%lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

typedef struct { size_t begin, end; int64_t idx; } st_range;

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parse one header entry into t (name already set); ranges checked against
 * data_size. */
static senti_status parse_entry(const char *path, const char *name, json_t *v, const uint8_t *data,
                                size_t data_size, st_tensor *t, st_range *r) {
    if (!json_is_object(v)) return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': entry is not an object", path, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"), *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': 'dtype' missing or not a string", path, name);
    if (!json_is_array(js)) return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': 'shape' missing or not an array", path, name);
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': 'data_offsets' must be an array of 2 integers", path, name);

    const char *dt = json_string_value(jd);
    size_t esize = 0;
    t->dtype = NULL;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++) {
        if (strcmp(dt, st_dtypes[i].name) == 0) {
            t->dtype = st_dtypes[i].name;
            t->type = st_dtypes[i].type;
            esize = st_dtypes[i].size;
        }
    }
    if (!t->dtype) return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': unknown dtype '%.32s'", path, name, dt);

    size_t nd = json_array_size(js);
    if (nd > ST_MAX_DIMS)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %zu dims, at most %d supported", path, name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    size_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *e = json_array_get(js, i);
        if (!json_is_integer(e) || json_integer_value(e) < 0)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': shape entry %zu is not a non-negative integer",
                               path, name, i);
        t->shape[i] = (int64_t)json_integer_value(e);
        if (!senti_mul_ok(numel, (size_t)t->shape[i], &numel) || numel > (size_t)INT64_MAX)
            return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': shape product overflows", path, name);
    }
    size_t nbytes;
    if (!senti_mul_ok(numel, esize, &nbytes))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': byte size overflows", path, name);
    t->numel = (int64_t)numel;

    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je) || json_integer_value(jb) < 0 || json_integer_value(je) < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': data_offsets must be non-negative integers", path, name);
    uint64_t b = (uint64_t)json_integer_value(jb), e = (uint64_t)json_integer_value(je);
    if (b > e)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': data_offsets [%llu,%llu] begin after end", path, name,
                           (unsigned long long)b, (unsigned long long)e);
    if (e > data_size)
        return senti_error(SENTI_ERR_BAD_FILE,
                           "%s: tensor '%s': data_offsets [%llu,%llu] past the end of the data section (%zu bytes)",
                           path, name, (unsigned long long)b, (unsigned long long)e, data_size);
    if (e - b != nbytes) {
        char sh[160];
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': %llu bytes in the file, but shape %s of %s needs %zu",
                           path, name, (unsigned long long)(e - b), st_shape_str(t->ndim, t->shape, sh, sizeof sh),
                           t->dtype, nbytes);
    }
    t->data = data + b;
    t->nbytes = nbytes;
    r->begin = (size_t)b;
    r->end = (size_t)e;
    return SENTI_OK;
}

/* Parse and validate the header of f->map into f->tensors. */
static senti_status parse_header(st_file *f) {
    const char *path = f->path;
    const uint8_t *p = f->map.base;
    senti_status st = SENTI_OK;
    json_t *root = NULL;
    st_range *ranges = NULL;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > f->map.size - 8) {
        return senti_error(SENTI_ERR_BAD_FILE, "%s: header length %llu past the end of the file (%zu bytes)", path,
                           (unsigned long long)hlen, f->map.size);
    }
    const uint8_t *data = p + 8 + hlen;
    const size_t data_size = f->map.size - 8 - (size_t)hlen;

    json_error_t jerr;
    root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: header is not valid JSON (line %d, column %d): %s", path, jerr.line,
                         jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: header is not a JSON object", path);
        goto fail;
    }

    /* Count tensors and the bytes their names need. */
    size_t n = 0, name_bytes = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        n++;
        if (!senti_add_ok(name_bytes, strlen(key) + 1, &name_bytes)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: header too large", path);
            goto fail;
        }
    }
    f->tensors = senti_calloc(n ? n : 1, sizeof *f->tensors);
    ranges = senti_calloc(n ? n : 1, sizeof *ranges);
    f->names = senti_malloc(name_bytes ? name_bytes : 1);
    if (!f->tensors || !ranges || !f->names) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory for %zu tensor descriptors", path, n);
        goto fail;
    }

    size_t i = 0, off = 0;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        st_tensor *t = &f->tensors[i];
        size_t len = strlen(key) + 1;
        memcpy(f->names + off, key, len);
        t->name = f->names + off;
        t->file = f->path;
        off += len;
        st = parse_entry(path, key, val, data, data_size, t, &ranges[i]);
        if (st != SENTI_OK) goto fail;
        ranges[i].idx = (int64_t)i;
        i++;
    }
    f->n = (int64_t)n;

    /* No two non-empty tensors may share a byte. */
    qsort(ranges, n, sizeof *ranges, cmp_range);
    int64_t prev = -1;
    for (size_t k = 0; k < n; k++) {
        if (ranges[k].begin == ranges[k].end) continue;
        if (prev >= 0 && ranges[k].begin < ranges[prev].end) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensors '%s' [%zu,%zu) and '%s' [%zu,%zu) overlap", path,
                             f->tensors[ranges[prev].idx].name, ranges[prev].begin, ranges[prev].end,
                             f->tensors[ranges[k].idx].name, ranges[k].begin, ranges[k].end);
            goto fail;
        }
        if (prev < 0 || ranges[k].end > ranges[prev].end) prev = (int64_t)k;
    }
    qsort(f->tensors, n, sizeof *f->tensors, cmp_name);

fail:
    senti_mfree(ranges);
    json_decref(root);
    return st;
}

st_file *st_file_load_buffer(const void *data, size_t size, const char *name) {
    st_file *f = senti_calloc(1, sizeof *f);
    if (!f || !(f->path = senti_strdup(name ? name : "<buffer>"))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", name ? name : "<buffer>");
        goto fail;
    }
    if (size < 8) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: truncated: %zu bytes, need at least 8 for the header length", f->path,
                    size);
        goto fail;
    }
    f->map.base = data;
    f->map.size = size;
    f->borrowed = true;
    if (parse_header(f) != SENTI_OK) goto fail;
    return f;
fail:
    st_file_free(f);
    return NULL;
}

st_file *st_file_load(const char *path) {
    st_file *f = senti_calloc(1, sizeof *f);
    if (!f) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        return NULL;
    }
    f->path = senti_strdup(path);
    if (!f->path) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    if (map_file(path, &f->map) != SENTI_OK) goto fail;
    if (parse_header(f) != SENTI_OK) goto fail;
    return f;
fail:
    st_file_free(f);
    return NULL;
}

void st_file_free(st_file *f) {
    if (!f) return;
    if (!f->borrowed) unmap_file(&f->map);
    senti_mfree(f->tensors);
    senti_mfree(f->names);
    senti_mfree(f->path);
    senti_mfree(f);
}

const char *st_file_path(const st_file *f) { return f->path; }
int64_t st_file_count(const st_file *f) { return f->n; }
const st_tensor *st_file_get(const st_file *f, int64_t i) { return i >= 0 && i < f->n ? &f->tensors[i] : NULL; }

const st_tensor *st_file_find(const st_file *f, const char *name) {
    st_tensor key = {.name = name};
    return bsearch(&key, f->tensors, (size_t)f->n, sizeof *f->tensors, cmp_name);
}

senti_status st_tensor_read_f32(const st_tensor *t, float *dst) {
    const uint8_t *p = t->data;
    switch (t->type) {
    case SENTI_TYPE_F32:
        memcpy(dst, p, t->nbytes);
        return SENTI_OK;
    case SENTI_TYPE_F16:
    case SENTI_TYPE_BF16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->type == SENTI_TYPE_F16 ? senti_f16_to_f32(h) : senti_bf16_to_f32(h);
        }
        return SENTI_OK;
    case SENTI_TYPE_I32:
        for (int64_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = (float)v;
        }
        return SENTI_OK;
    default:
        if ((unsigned)t->type < SENTI_TYPE_COUNT && senti_type_is_quant(t->type) &&
            t->numel % senti_type_block(t->type) == 0) { /* GGUF views: whole blocks, contiguous */
            senti_row_to_f32(t->type, t->data, dst, t->numel);
            return SENTI_OK;
        }
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which cannot be read as f32", t->file,
                           t->name, t->dtype);
    }
}

/* ---- weights set ----------------------------------------------------------------- */

struct st_weights {
    char *source;            /* the .safetensors or index file */
    st_file **shards;
    int64_t n_shards;
    const st_tensor **table; /* sorted by name */
    int64_t n;
    st_tensor *own;          /* st_weights_from_tensors: the descriptors */
    void *owner;             /* ... and what their names and data live in */
    void (*owner_free)(void *);
};

static int cmp_tensor_ptr(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* dir + "/" + name as a new string (NULL on overflow or out of memory). */
static char *path_join(const char *dir, size_t dlen, const char *name) {
    size_t n;
    if (!senti_add_ok(dlen, strlen(name), &n) || !senti_add_ok(n, 2, &n)) return NULL;
    char *p = senti_aligned_alloc(n, 8);
    if (!p) return NULL;
    if (dlen) snprintf(p, n, "%.*s/%s", (int)dlen, dir, name);
    else snprintf(p, n, "%s", name);
    return p;
}

static senti_status weights_single(st_weights *w, const char *path) {
    w->shards = senti_calloc(1, sizeof *w->shards);
    if (!w->shards) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    w->shards[0] = st_file_load(path);
    if (!w->shards[0]) return SENTI_ERR_BAD_FILE; /* message already set; status refined by caller */
    w->n_shards = 1;
    st_file *f = w->shards[0];
    w->table = senti_calloc(f->n ? (size_t)f->n : 1, sizeof *w->table);
    if (!w->table) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
    for (int64_t i = 0; i < f->n; i++) w->table[i] = &f->tensors[i];
    w->n = f->n;
    return SENTI_OK;
}

static senti_status weights_index(st_weights *w, const char *path) {
    senti_status st = SENTI_OK;
    json_error_t jerr;
    const char **shard_names = NULL;
    char *spath = NULL;
    json_t *root = senti_json_load(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line < 0) return senti_error(SENTI_ERR_IO, "%s: %s", path, jerr.text);
        return senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: malformed JSON: %s", path, jerr.line, jerr.column, jerr.text);
    }
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(root) || !json_is_object(map)) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'weight_map' missing or not an object", path);
        goto fail;
    }
    const size_t n = json_object_size(map);
    const char *dir_end = strrchr(path, '/');
    const size_t dlen = dir_end ? (size_t)(dir_end - path) : 0;
    shard_names = senti_calloc(n ? n : 1, sizeof *shard_names);
    w->shards = senti_calloc(n ? n : 1, sizeof *w->shards);
    w->table = senti_calloc(n ? n : 1, sizeof *w->table);
    if (!shard_names || !w->shards || !w->table) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }

    /* Load each distinct shard once, in order of first mention. */
    const char *key;
    json_t *val;
    json_object_foreach(map, key, val) {
        if (!json_is_string(val)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: weight_map entry for tensor '%s' is not a string", path, key);
            goto fail;
        }
        const char *sn = json_string_value(val);
        if (sn[0] == '\0' || strchr(sn, '/') || strchr(sn, '\\') || strcmp(sn, "..") == 0 || strcmp(sn, ".") == 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s': shard name '%.200s' must be a plain file name", path,
                             key, sn);
            goto fail;
        }
        int64_t s = 0;
        while (s < w->n_shards && strcmp(shard_names[s], sn) != 0) s++;
        if (s == w->n_shards) {
            spath = path_join(path, dlen, sn);
            if (!spath) {
                st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
                goto fail;
            }
            st_file *f = st_file_load(spath);
            if (!f) {
                /* keep the shard's own message, prefixed with the index */
                char inner[768];
                snprintf(inner, sizeof inner, "%s", senti_last_error());
                st = senti_error(SENTI_ERR_BAD_FILE, "%s: shard '%s' (for tensor '%s'): %s", path, sn, key, inner);
                goto fail;
            }
            senti_mfree(spath);
            spath = NULL;
            shard_names[s] = sn;
            w->shards[s] = f;
            w->n_shards++;
        }
        const st_tensor *t = st_file_find(w->shards[s], key);
        if (!t) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' is listed in shard '%s' but missing from %s", path, key,
                             sn, st_file_path(w->shards[s]));
            goto fail;
        }
        w->table[w->n++] = t;
    }
    qsort(w->table, (size_t)w->n, sizeof *w->table, cmp_tensor_ptr);

fail:
    senti_mfree(spath);
    senti_mfree(shard_names);
    json_decref(root);
    return st;
}

st_weights *st_weights_load(const char *path) {
    st_weights *w = senti_calloc(1, sizeof *w);
    char *file = NULL;
    if (!w) goto oom;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        senti_error(SENTI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISDIR(sb.st_mode)) {
        size_t dlen = strlen(path);
        while (dlen > 1 && path[dlen - 1] == '/') dlen--;
        file = path_join(path, dlen, "model.safetensors");
        if (!file) goto oom;
        if (access(file, F_OK) != 0) {
            senti_mfree(file);
            file = path_join(path, dlen, "model.safetensors.index.json");
            if (!file) goto oom;
            if (access(file, F_OK) != 0) {
                senti_error(SENTI_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", path);
                goto fail;
            }
        }
    } else {
        file = senti_strdup(path);
        if (!file) goto oom;
    }
    w->source = file;
    file = NULL;
    senti_status st = ends_with(w->source, ".json") ? weights_index(w, w->source) : weights_single(w, w->source);
    if (st != SENTI_OK) goto fail;
    return w;
oom:
    senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
fail:
    senti_mfree(file);
    st_weights_free(w);
    return NULL;
}

st_weights *st_weights_from_tensors(const char *source, st_tensor *tensors, int64_t n, void *owner,
                                    void (*owner_free)(void *)) {
    st_weights *w = senti_calloc(1, sizeof *w);
    if (!w) {
        senti_mfree(tensors);
        if (owner_free) owner_free(owner);
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", source);
        return NULL;
    }
    w->own = tensors, w->owner = owner, w->owner_free = owner_free;
    if (!(w->source = senti_strdup(source)) || !(w->table = senti_calloc(n > 0 ? (size_t)n : 1, sizeof *w->table))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", source);
        st_weights_free(w);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) w->table[i] = &tensors[i];
    w->n = n;
    qsort(w->table, (size_t)n, sizeof *w->table, cmp_tensor_ptr);
    for (int64_t i = 1; i < n; i++)
        if (strcmp(w->table[i - 1]->name, w->table[i]->name) == 0) {
            senti_error(SENTI_ERR_BAD_FILE, "%s: two tensors map to the name '%s'", source, w->table[i]->name);
            st_weights_free(w);
            return NULL;
        }
    return w;
}

void st_weights_free(st_weights *w) {
    if (!w) return;
    senti_mfree(w->own);
    if (w->owner_free) w->owner_free(w->owner);
    for (int64_t i = 0; i < w->n_shards; i++) st_file_free(w->shards[i]);
    senti_mfree(w->shards);
    senti_mfree(w->table);
    senti_mfree(w->source);
    senti_mfree(w);
}

const char *st_weights_source(const st_weights *w) { return w->source; }
int64_t st_weights_count(const st_weights *w) { return w->n; }
const st_tensor *st_weights_get(const st_weights *w, int64_t i) { return i >= 0 && i < w->n ? w->table[i] : NULL; }

const st_tensor *st_weights_find(const st_weights *w, const char *name) {
    st_tensor key = {.name = name};
    const st_tensor *kp = &key;
    const st_tensor *const *r = bsearch(&kp, w->table, (size_t)w->n, sizeof *w->table, cmp_tensor_ptr);
    return r ? *r : NULL;
}

senti_status st_weights_expect(const st_weights *w, const char *name, int ndim, const int64_t *shape,
                               unsigned types, const st_tensor **out) {
    *out = NULL;
    const st_tensor *t = st_weights_find(w, name);
    if (!t) return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' is missing", w->source, name);
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char got[160], want[160];
        return senti_error(SENTI_ERR_BAD_FILE, "%s: tensor '%s' has shape %s, expected %s", t->file, name,
                           st_shape_str(t->ndim, t->shape, got, sizeof got), st_shape_str(ndim, shape, want, sizeof want));
    }
    if (t->type == SENTI_TYPE_COUNT || !(types & ST_TYPE_BIT(t->type))) {
        char list[128];
        size_t k = 0;
        list[0] = '\0';
        for (int ty = 0; ty < SENTI_TYPE_COUNT && k < sizeof list; ty++)
            if (types & ST_TYPE_BIT(ty))
                k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", k ? ", " : "", senti_type_name((senti_type)ty));
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected one of %s", t->file, name,
                           t->dtype, list);
    }
    *out = t;
    return SENTI_OK;
}
