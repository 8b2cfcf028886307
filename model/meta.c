/* meta.c — the small metadata files beside a model that the generation and
 * chat tasks need, read here so that tasks never open model files: the chat
 * template with its BOS / EOS token strings, and the generation settings.
 * A directory: tokenizer_config.json (chat_template, bos_token, eos_token),
 * chat_template.jinja (transformers 5), generation_config.json, config.json.
 * A GGUF file: tokenizer.chat_template and the tokens of
 * tokenizer.ggml.bos_token_id / eos_token_id, and the eos / eot ids.
 *
 * Invariant: every returned string and object is new and owned by the
 * caller; malformed JSON is an error naming the file, line and column. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "lm.h"

static bool is_gguf(const char *path) {
    size_t n = strlen(path);
    return n >= 5 && strcmp(path + n - 5, ".gguf") == 0;
}

static char *dup_or_null(const char *s, senti_status *st) {
    if (!s) return NULL;
    char *d = senti_strdup(s);
    if (!d) *st = senti_error(SENTI_ERR_NO_MEMORY, "out of memory reading model metadata");
    return d;
}

/* An optional file: NULL without an error when absent; a FIFO or other
 * non-regular file (or a failed open) sets *st. */
static FILE *fopen_if_present(const char *path, senti_status *st) {
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    FILE *f = senti_fopen_regular(path);
    if (!f) *st = SENTI_ERR_IO;
    return f;
}

/* A JSON object file (absent: *out NULL, no error). */
static senti_status load_obj(const char *path, size_t flags, json_t **out) {
    *out = NULL;
    senti_status st = SENTI_OK;
    FILE *f = fopen_if_present(path, &st);
    if (!f) return st;
    json_error_t je;
    *out = json_loadf(f, flags, &je);
    fclose(f);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: %s", path, je.line, je.column,
                           je.text[0] ? je.text : "not a JSON object");
    }
    return SENTI_OK;
}

/* A special token entry of tokenizer_config.json: a string or {"content": …}. */
static const char *token_str(json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_object(v) && json_is_string(json_object_get(v, "content")))
        return json_string_value(json_object_get(v, "content"));
    return NULL;
}

/* Token string of the id stored under key (GGUF metadata), or NULL. */
static const char *gguf_token(const gguf_file *g, const char *key) {
    const gguf_value *id = gguf_file_find_kv(g, key), *toks = gguf_file_find_kv(g, "tokenizer.ggml.tokens");
    if (!id || !toks || toks->type != GGUF_VT_ARRAY || toks->v.arr.type != GGUF_VT_STRING) return NULL;
    uint64_t i = id->type == GGUF_VT_U32 || id->type == GGUF_VT_U64 || id->type == GGUF_VT_U16 ? id->v.u
                 : id->type == GGUF_VT_I32 || id->type == GGUF_VT_I64 ? (uint64_t)id->v.i
                                                                       : UINT64_MAX;
    return i < toks->v.arr.n ? toks->v.arr.items[i].v.str.s : NULL;
}

senti_status model_chat_meta(const char *path, char **tmpl, char **bos, char **eos, char **source) {
    senti_status st = SENTI_OK;
    *tmpl = *bos = *eos = *source = NULL;
    if (is_gguf(path)) {
        gguf_file *g = gguf_file_load(path);
        if (!g) return SENTI_ERR_BAD_FILE;
        const gguf_value *t = gguf_file_find_kv(g, "tokenizer.chat_template");
        *tmpl = dup_or_null(t && t->type == GGUF_VT_STRING ? t->v.str.s : NULL, &st);
        *bos = dup_or_null(gguf_token(g, "tokenizer.ggml.bos_token_id"), &st);
        *eos = dup_or_null(gguf_token(g, "tokenizer.ggml.eos_token_id"), &st);
        *source = dup_or_null(path, &st);
        gguf_file_free(g);
        return st;
    }
    char p[4096], jp[4096];
    snprintf(p, sizeof p, "%s/tokenizer_config.json", path);
    snprintf(jp, sizeof jp, "%s/chat_template.jinja", path);
    json_t *cfg;
    if ((st = load_obj(p, JSON_DECODE_INT_AS_REAL, &cfg)) != SENTI_OK) return st; /* model_max_length is often 1e30 */
    const char *t = NULL;
    json_t *ct = cfg ? json_object_get(cfg, "chat_template") : NULL;
    if (json_is_string(ct)) t = json_string_value(ct);
    else if (json_is_array(ct)) { /* [{"name": "default", "template": …}, …] */
        for (size_t i = 0; i < json_array_size(ct); i++) {
            json_t *e = json_array_get(ct, i), *n = json_object_get(e, "name"), *x = json_object_get(e, "template");
            if (json_is_string(x) && (!t || (json_is_string(n) && strcmp(json_string_value(n), "default") == 0)))
                t = json_string_value(x);
        }
    }
    *tmpl = dup_or_null(t, &st);
    *bos = dup_or_null(cfg ? token_str(json_object_get(cfg, "bos_token")) : NULL, &st);
    *eos = dup_or_null(cfg ? token_str(json_object_get(cfg, "eos_token")) : NULL, &st);
    *source = dup_or_null(p, &st);
    json_decref(cfg);
    FILE *f;
    if (st == SENTI_OK && !*tmpl && (f = fopen_if_present(jp, &st))) { /* transformers 5 writes the template beside the config */
        size_t cap = 0, n = 0;
        char *b = NULL;
        for (;;) {
            if (n + 4096 + 1 > cap) {
                char *g = senti_malloc(cap = cap * 2 + 8192);
                if (!g) {
                    st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", jp);
                    break;
                }
                if (b) memcpy(g, b, n);
                senti_mfree(b);
                b = g;
            }
            const size_t got = fread(b + n, 1, 4096, f);
            n += got;
            if (got == 0) break;
        }
        fclose(f);
        if (st == SENTI_OK) {
            b[n] = '\0';
            *tmpl = b;
            senti_mfree(*source);
            *source = dup_or_null(jp, &st);
        } else {
            senti_mfree(b);
        }
    }
    if (st != SENTI_OK) {
        senti_mfree(*tmpl), senti_mfree(*bos), senti_mfree(*eos), senti_mfree(*source);
        *tmpl = *bos = *eos = *source = NULL;
    }
    return st;
}

static void add_eos(int32_t *eos, int max_eos, int *n, int32_t id) {
    for (int i = 0; i < *n; i++)
        if (eos[i] == id) return;
    if (*n < max_eos) eos[(*n)++] = id;
}

senti_status model_gen_meta(const char *path, void **gen_cfg, void **cfg, int32_t *eos, int max_eos, int *n_eos) {
    *gen_cfg = *cfg = NULL;
    *n_eos = 0;
    if (is_gguf(path)) {
        gguf_file *g = gguf_file_load(path);
        if (!g) return SENTI_ERR_BAD_FILE;
        static const char *const keys[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                           "tokenizer.ggml.eom_token_id"};
        for (int k = 0; k < 3; k++) {
            const gguf_value *v = gguf_file_find_kv(g, keys[k]);
            if (!v || v->type == GGUF_VT_STRING || v->type == GGUF_VT_ARRAY) continue;
            int64_t id = v->type == GGUF_VT_I32 || v->type == GGUF_VT_I64 ? v->v.i : (int64_t)v->v.u;
            if (id >= 0 && id <= INT32_MAX) add_eos(eos, max_eos, n_eos, (int32_t)id);
        }
        /* llama.cpp's end-of-generation tokens found by their text (llama-vocab.cpp) */
        static const char *const turn_ends[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                                "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
                                                "<|end_of_text|>", "<end_of_utterance>"};
        const gguf_value *toks = gguf_file_find_kv(g, "tokenizer.ggml.tokens");
        if (toks && toks->type == GGUF_VT_ARRAY && toks->v.arr.type == GGUF_VT_STRING)
            for (uint64_t i = 0; i < toks->v.arr.n && i <= INT32_MAX; i++) {
                const char *t = toks->v.arr.items[i].v.str.s;
                if (!t || (t[0] != '<' && t[0] != '_')) continue;
                for (size_t k = 0; k < sizeof turn_ends / sizeof *turn_ends; k++)
                    if (strcmp(t, turn_ends[k]) == 0) add_eos(eos, max_eos, n_eos, (int32_t)i);
            }
        gguf_file_free(g);
        return SENTI_OK;
    }
    char p[4096];
    json_t *g = NULL, *c = NULL;
    snprintf(p, sizeof p, "%s/generation_config.json", path);
    senti_status st = load_obj(p, 0, &g);
    snprintf(p, sizeof p, "%s/config.json", path);
    if (st == SENTI_OK) st = load_obj(p, 0, &c);
    if (st != SENTI_OK) {
        json_decref(g);
        json_decref(c);
        return st;
    }
    *gen_cfg = g, *cfg = c;
    return SENTI_OK;
}
