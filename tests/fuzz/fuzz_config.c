/* fuzz_config.c — libFuzzer target for config.json: the reader (duplicate
 * keys refused), every typed getter, id2label, and the architecture table's
 * hyperparameters (the norm epsilon checked > 0) for the named class.
 * Seeds: tests/fuzz/seeds/config (real config.json files). */
#include <jansson.h>
#include <stdlib.h>

#include "model/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!root) return 0;
    cfg_file *c = cfg_from_json("fuzz/config.json", root);
    if (!c) {
        if (senti_last_error()[0] == '\0') abort();
        return 0;
    }
    int64_t i;
    double f;
    const char *s, **strs = NULL, **labels = NULL;
    bool b;
    int64_t n;
    (void)cfg_opt_int(c, "hidden_size", 0, &i);
    (void)cfg_opt_float(c, "layer_norm_eps", 1e-12, &f);
    (void)cfg_opt_str(c, "model_type", "", &s);
    (void)cfg_opt_bool(c, "tie_word_embeddings", false, &b);
    if (cfg_get_strs(c, "architectures", false, &strs, &n) == SENTI_OK && n > 0) {
        senti_model_head head;
        const arch_desc *d = arch_find(strs[0], &head);
        for (int h = 0; d && h < AH_COUNT; h++)
            if (h != AH_EPS && h != AH_ACT) (void)arch_hp_int(d, c, (arch_hp)h, false, 0, &i);
        if (d && arch_hp_eps(d, c, &f) == SENTI_OK && !(f > 0)) abort();
    }
    senti_mfree(strs);
    if (cfg_labels(c, &labels, &n) == SENTI_OK)
        for (int64_t k = 0; k < n; k++)
            if (!labels[k]) abort();
    senti_mfree(labels);
    cfg_free(c);
    return 0;
}
