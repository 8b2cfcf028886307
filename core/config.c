/* config.c — config.json: typed getters with defaults and required keys,
 * id2label as ordered labels. Every error names the file and the key.
 * Invariant: the root is a JSON object without duplicate keys. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct cfg_file {
    char *path;
    json_t *root;
};

cfg_file *cfg_load(const char *path) {
    json_error_t jerr;
    cfg_file *c = senti_calloc(1, sizeof *c);
    if (!c || !(c->path = senti_strdup(path))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        goto fail;
    }
    c->root = senti_json_load(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!c->root) {
        if (jerr.line < 0) senti_error(SENTI_ERR_IO, "%s: %s", path, jerr.text);
        else senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: malformed JSON: %s", path, jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(c->root)) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: the top level is not a JSON object", path);
        goto fail;
    }
    return c;
fail:
    cfg_free(c);
    return NULL;
}

cfg_file *cfg_from_json(const char *path, void *root) {
    cfg_file *c = senti_calloc(1, sizeof *c);
    if (!c || !(c->path = senti_strdup(path))) {
        senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
        senti_mfree(c);
        json_decref(root);
        return NULL;
    }
    c->root = root;
    if (!json_is_object(c->root)) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: the config is not a JSON object", path);
        cfg_free(c);
        return NULL;
    }
    return c;
}

void cfg_free(cfg_file *c) {
    if (!c) return;
    json_decref(c->root);
    senti_mfree(c->path);
    senti_mfree(c);
}

const char *cfg_path(const cfg_file *c) { return c->path; }
void *cfg_json(const cfg_file *c) { return c->root; }
void *cfg_root(const cfg_file *c) { return c->root; }

/* The value of key, NULL when absent or null. */
static json_t *cfg_value(const cfg_file *c, const char *key) {
    json_t *v = json_object_get(c->root, key);
    return json_is_null(v) ? NULL : v;
}

bool cfg_has(const cfg_file *c, const char *key) { return cfg_value(c, key) != NULL; }

static senti_status missing(const cfg_file *c, const char *key) {
    return senti_error(SENTI_ERR_BAD_FILE, "%s: missing required key '%s'", c->path, key);
}
static senti_status wrong_type(const cfg_file *c, const char *key, const char *what) {
    return senti_error(SENTI_ERR_BAD_FILE, "%s: key '%s' must be %s", c->path, key, what);
}

/* ---- scalars: one reader per type, shared by get (required) and opt ------- */

static senti_status read_int(const cfg_file *c, const char *key, json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return SENTI_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 9.0e15) {
            *out = (int64_t)d;
            return SENTI_OK;
        }
    }
    return wrong_type(c, key, "an integer");
}

static senti_status read_float(const cfg_file *c, const char *key, json_t *v, double *out) {
    if (!json_is_number(v)) return wrong_type(c, key, "a number");
    *out = json_number_value(v);
    return SENTI_OK;
}

static senti_status read_str(const cfg_file *c, const char *key, json_t *v, const char **out) {
    if (!json_is_string(v)) return wrong_type(c, key, "a string");
    *out = json_string_value(v);
    return SENTI_OK;
}

static senti_status read_bool(const cfg_file *c, const char *key, json_t *v, bool *out) {
    if (!json_is_boolean(v)) return wrong_type(c, key, "true or false");
    *out = json_is_true(v);
    return SENTI_OK;
}

#define CFG_GETTERS(suffix, ctype)                                                                     \
    senti_status cfg_get_##suffix(const cfg_file *c, const char *key, ctype *out) {                    \
        json_t *v = cfg_value(c, key);                                                                 \
        return v ? read_##suffix(c, key, v, out) : missing(c, key);                                    \
    }                                                                                                  \
    senti_status cfg_opt_##suffix(const cfg_file *c, const char *key, ctype def, ctype *out) {         \
        json_t *v = cfg_value(c, key);                                                                 \
        if (!v) {                                                                                      \
            *out = def;                                                                                \
            return SENTI_OK;                                                                           \
        }                                                                                              \
        return read_##suffix(c, key, v, out);                                                          \
    }

CFG_GETTERS(int, int64_t)
CFG_GETTERS(float, double)
CFG_GETTERS(str, const char *)
CFG_GETTERS(bool, bool)

/* ---- arrays and maps -------------------------------------------------------- */

senti_status cfg_get_strs(const cfg_file *c, const char *key, bool required, const char ***out, int64_t *n) {
    *out = NULL;
    *n = 0;
    json_t *v = cfg_value(c, key);
    if (!v) return required ? missing(c, key) : SENTI_OK;
    if (!json_is_array(v)) return wrong_type(c, key, "an array of strings");
    size_t m = json_array_size(v);
    for (size_t i = 0; i < m; i++)
        if (!json_is_string(json_array_get(v, i))) return wrong_type(c, key, "an array of strings");
    if (m == 0) return SENTI_OK;
    const char **a = senti_calloc(m, sizeof *a);
    if (!a) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory reading key '%s'", c->path, key);
    for (size_t i = 0; i < m; i++) a[i] = json_string_value(json_array_get(v, i));
    *out = a;
    *n = (int64_t)m;
    return SENTI_OK;
}

/* A decimal label id: digits only, no sign or spaces, fits in int64. */
static bool parse_id(const char *s, int64_t *out) {
    int64_t v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return true;
}

static int cmp_cstr(const void *x, const void *y) { return strcmp(*(const char *const *)x, *(const char *const *)y); }

senti_status cfg_labels(const cfg_file *c, const char ***out, int64_t *n) {
    *out = NULL;
    *n = 0;
    json_t *v = cfg_value(c, "id2label");
    if (!v) return SENTI_OK;
    if (!json_is_object(v)) return wrong_type(c, "id2label", "an object mapping ids to label names");
    const size_t m = json_object_size(v);
    if (m == 0) return SENTI_OK;
    const char **a = senti_calloc(m, sizeof *a);
    if (!a) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory reading key 'id2label'", c->path);
    senti_status st = SENTI_OK;
    const char *k;
    json_t *lab;
    json_object_foreach(v, k, lab) {
        int64_t id;
        if (!parse_id(k, &id) || id >= (int64_t)m) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'id2label': id '%.64s' is not an integer in 0..%zu", c->path, k,
                             m - 1);
            goto fail;
        }
        if (a[id]) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'id2label': id %lld appears twice", c->path, (long long)id);
            goto fail;
        }
        if (!json_is_string(lab)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'id2label': label of id %lld is not a string", c->path,
                             (long long)id);
            goto fail;
        }
        a[id] = json_string_value(lab);
    }
    /* m distinct ids all below m: every slot is filled. Names must be distinct
     * too: results are keyed by name, so a repeated one would lose a score. */
    const char **sorted = senti_calloc(m, sizeof *sorted);
    if (!sorted) {
        st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory reading key 'id2label'", c->path);
        goto fail;
    }
    memcpy(sorted, a, m * sizeof *a);
    qsort(sorted, m, sizeof *sorted, cmp_cstr);
    for (size_t i = 1; i < m; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: key 'id2label': label '%.64s' names two ids", c->path, sorted[i]);
            senti_mfree(sorted);
            goto fail;
        }
    senti_mfree(sorted);
    *out = a;
    *n = (int64_t)m;
    return SENTI_OK;
fail:
    senti_mfree(a);
    return st;
}
