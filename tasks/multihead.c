/* multihead.c — the "heads" object of a model with extra heads (model/heads.c):
 * every head's result from the one forward, under its name:
 *   {"heads": {PRIMARY: the record's own result fields,
 *              NAME: {"label","score","scores"} (sequence head: softmax, or
 *                    {"labels","scores"} sigmoid for a multi-label head),
 *              NAME: {"spans":[…]} (token head: tag's decoding, aggregation
 *                    as the command's)}}
 * With --stride windows, sequence heads aggregate their windows as the
 * primary does (classify's --aggregate; mean for tag) and token heads merge
 * them as tag does (each token from the window where it is most central).
 * Invariant: decodes only the item's own windows (their xout), so the
 * result never depends on batch mates. */
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "tasks.h"

/* Head k's block of a window's xout: the heads before it, in order. */
typedef struct head_src {
    const senti_model *m;
    int64_t k;
} head_src;

static const float *head_rows(const task_seg *g, const void *ctx) {
    const head_src *hs = ctx;
    int64_t off = 0;
    for (int64_t j = 0; j < hs->k; j++) {
        senti_head_info h;
        senti_model_extra_head(hs->m, j, &h);
        off += h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION ? g->len * h.num_labels : h.num_labels;
    }
    return g->xout + off;
}

json_t *task_heads_result(const senti_model *m, const senti_tokenizer *tok, const task_classify *c, task_tag_agg agg,
                          const task_item *it, const json_t *primary) {
    json_t *heads = json_object(), *p = json_deep_copy(primary);
    if (!heads || !p || json_object_set_new(heads, senti_model_primary_head_name(m), p)) {
        json_decref(heads);
        return NULL;
    }
    const int64_t T = senti_encoding_len(it->enc);
    uint8_t *sub = NULL;
    for (int64_t k = 0; it->segs[0].xout && k < senti_model_extra_heads(m); k++) {
        senti_head_info h;
        senti_model_extra_head(m, k, &h);
        const head_src hs = {m, k};
        json_t *r = NULL;
        float *lg = NULL;
        if (h.kind == SENTI_HEAD_TOKEN_CLASSIFICATION) { /* windows merged as tag merges its own */
            if (!sub && tok && (sub = malloc((size_t)(T ? T : 1))))
                task_tag_subwords(tok, it->enc, it->text, it->len, sub);
            if ((lg = task_item_token_rows(it, h.num_labels, head_rows, &hs)))
                r = task_tag_decode_sub(h.labels, h.num_labels, it->text, it->len, senti_encoding_offsets(it->enc),
                                        senti_encoding_word_ids(it->enc), sub, senti_encoding_special_mask(it->enc), T,
                                        lg, agg);
        } else if ((lg = malloc((size_t)h.num_labels * sizeof *lg))) { /* windows aggregated as the primary */
            task_item_aggregate_rows(it, h.num_labels, head_rows, &hs, c ? c->lng.aggregate : TASK_AGGREGATE_MEAN, lg);
            task_classify hc = c ? *c : (task_classify){.threshold = 0.5};
            hc.model = m;
            hc.names = h.labels;
            hc.n_names = h.num_labels;
            hc.multi_label = h.multi_label != 0;
            r = task_classify_decode(&hc, lg, h.num_labels);
        }
        free(lg);
        if (!r || json_object_set_new(heads, h.name, r)) {
            free(sub);
            json_decref(heads);
            return NULL;
        }
    }
    free(sub);
    return heads;
}
