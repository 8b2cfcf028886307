/* sentence.c — a sentence-transformers directory's embedding settings:
 * modules.json names the modules (Transformer, Pooling, Normalize), the
 * Pooling module's config.json the mode ("pooling_mode": "mean" in
 * sentence-transformers 6, pooling_mode_*_tokens flags before), the
 * max_seq_length sentence_bert_config.json (before 6) or
 * tokenizer_config.json's model_max_length (6). Read here so that tasks never
 * open model files.
 *
 * Invariant: only these three small JSON files are read; a GGUF model or a
 * plain HF directory (no modules.json) has no settings. */
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>

#include "model.h"

static json_t *load_json(const char *dir, const char *name, bool *present) {
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    *present = stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
    if (!*present) return NULL;
    json_error_t err;
    json_t *j = senti_json_load(p, 0, &err);
    if (!j && err.line < 0) senti_error(SENTI_ERR_IO, "%s: %s", p, err.text);
    else if (!j) senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: malformed JSON: %s", p, err.line, err.column, err.text);
    return j;
}

static bool on(json_t *o, const char *key) { return json_is_true(json_object_get(o, key)); }

int senti_model_sentence_config(const senti_model *m, senti_pooling *pooling, int *normalize,
                                int64_t *max_seq_length) {
    bool present;
    if (!m || !m->dir || gguf_is_gguf_path(m->dir)) return 0;
    json_t *mods = load_json(m->dir, "modules.json", &present), *pc = NULL, *sb = NULL;
    if (!present) return 0;
    int rc = -1;
    senti_pooling mode = SENTI_POOL_MEAN;
    bool norm = false;
    if (!json_is_array(mods)) {
        if (mods) senti_error(SENTI_ERR_BAD_FILE, "%s/modules.json: not an array of modules", m->dir);
        goto done;
    }
    size_t i;
    json_t *mod;
    json_array_foreach(mods, i, mod) {
        const char *type = json_string_value(json_object_get(mod, "type"));
        const char *path = json_string_value(json_object_get(mod, "path"));
        if (!type) continue;
        if (strstr(type, "Normalize")) norm = true;
        if (!strstr(type, "Pooling") || !path) continue;
        char name[1024];
        snprintf(name, sizeof name, "%s/config.json", path);
        json_decref(pc);
        if (!(pc = load_json(m->dir, name, &present))) {
            if (present) goto done;
            continue; /* no config: the Pooling module's default, mean */
        }
        const char *pm = json_string_value(json_object_get(pc, "pooling_mode"));
        if (pm) { /* sentence-transformers 6 */
            if (!strcmp(pm, "cls")) mode = SENTI_POOL_CLS;
            else if (!strcmp(pm, "mean")) mode = SENTI_POOL_MEAN;
            else if (!strcmp(pm, "max")) mode = SENTI_POOL_MAX;
            else {
                senti_error(SENTI_ERR_UNSUPPORTED, "%s/%s: pooling_mode '%s' is not supported (cls, mean, max)", m->dir,
                            name, pm);
                goto done;
            }
            continue;
        }
        const int n = on(pc, "pooling_mode_cls_token") + on(pc, "pooling_mode_mean_tokens") +
                      on(pc, "pooling_mode_max_tokens") + on(pc, "pooling_mode_mean_sqrt_len_tokens") +
                      on(pc, "pooling_mode_weightedmean_tokens") + on(pc, "pooling_mode_lasttoken");
        if (n != 1 || on(pc, "pooling_mode_mean_sqrt_len_tokens") || on(pc, "pooling_mode_weightedmean_tokens") ||
            on(pc, "pooling_mode_lasttoken")) {
            senti_error(SENTI_ERR_UNSUPPORTED, "%s/%s: pooling modes other than exactly one of cls, mean, max are not "
                        "supported", m->dir, name);
            goto done;
        }
        mode = on(pc, "pooling_mode_cls_token") ? SENTI_POOL_CLS : on(pc, "pooling_mode_max_tokens") ? SENTI_POOL_MAX
                                                                                                     : SENTI_POOL_MEAN;
    }
    int64_t max_len = 0;
    if ((sb = load_json(m->dir, "sentence_bert_config.json", &present))) {
        json_t *v = json_object_get(sb, "max_seq_length");
        if (json_is_integer(v) && json_integer_value(v) > 0) max_len = json_integer_value(v);
    } else if (present) {
        goto done;
    }
    if (!max_len) { /* sentence-transformers 6 keeps it as the tokenizer's model_max_length */
        char p[4096];
        snprintf(p, sizeof p, "%s/tokenizer_config.json", m->dir);
        json_t *tc = senti_json_load(p, JSON_DECODE_INT_AS_REAL, NULL), *v = json_object_get(tc, "model_max_length");
        if (json_is_number(v) && json_number_value(v) >= 1 && json_number_value(v) < 1e9)
            max_len = (int64_t)json_number_value(v);
        json_decref(tc);
    }
    if (pooling) *pooling = mode;
    if (normalize) *normalize = norm;
    if (max_seq_length) *max_seq_length = max_len;
    rc = 1;
done:
    json_decref(mods);
    json_decref(pc);
    json_decref(sb);
    return rc;
}
