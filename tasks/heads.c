/* heads.c — the "heads" object of a model with extra heads (model/heads.c):
 * every head's result from the one forward, under its name:
 *   {"heads": {PRIMARY: the record's own result fields,
 *              NAME: {"label","score","scores"} (sequence head: softmax, or
 *                    {"labels","scores"} sigmoid for a multi-label head),
 *              NAME: {"spans":[…]} (token head: tag's decoding, aggregation
 *                    as the command's)}}
 * Invariant: decodes only the item's own logits (its seg's xout), so the
 * result never depends on batch mates. */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

json_t *task_heads_result(const senti_model *m, const senti_tokenizer *tok, const task_classify *c, task_tag_agg agg,
                          const task_item *it, const json_t *primary) {
    json_t *heads = json_object(), *p = json_deep_copy(primary);
    if (!heads || !p || json_object_set_new(heads, senti_model_primary_head_name(m), p)) {
        json_decref(heads);
        return NULL;
    }
    const task_seg *g = &it->segs[0];
    const float *x = g->xout;
    const int64_t T = senti_encoding_len(it->enc);
    uint8_t *sub = NULL;
    for (int64_t k = 0; x && k < senti_model_extra_heads(m); k++) {
        senti_head_info h;
        senti_model_extra_head(m, k, &h);
        json_t *r = NULL;
        if (h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION) {
            if (!sub && tok && (sub = malloc((size_t)(T ? T : 1))))
                task_tag_subwords(tok, it->enc, it->text, it->len, sub);
            r = task_tag_decode_sub(h.labels, h.num_labels, it->text, it->len, senti_encoding_offsets(it->enc),
                                    senti_encoding_word_ids(it->enc), sub, senti_encoding_special_mask(it->enc), T, x,
                                    agg);
            x += g->len * h.num_labels;
        } else {
            task_classify hc = c ? *c : (task_classify){.threshold = 0.5};
            hc.model = m;
            hc.names = h.labels;
            hc.n_names = h.num_labels;
            hc.multi_label = h.multi_label != 0;
            r = task_classify_decode(&hc, x, h.num_labels);
            x += h.num_labels;
        }
        if (!r || json_object_set_new(heads, h.name, r)) {
            free(sub);
            json_decref(heads);
            return NULL;
        }
    }
    free(sub);
    return heads;
}
