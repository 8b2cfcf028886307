/* logprobs.c — per-token log-probabilities under a causal LM (what
 * OpenAI-style completions report as "logprobs", and what label scoring by
 * log-likelihood reads): one prefill of the sequence in chunks, each row's
 * log-softmax in double.
 *
 * Invariants: logprob[i] = logit(ids[i]) - logsumexp(row i-1), over the raw
 * model distribution (no temperature or other processors); memory is one
 * chunk of logits (LP_CHUNK x vocabulary floats) whatever the length. */
#include <math.h>
#include <stdlib.h>

#include "../core/core.h"
#include "llm.h"

enum { LP_CHUNK = 64 };

/* The top_n largest entries of row (V of them) minus lse, best first (ties: lower id). */
static void top_of_row(const float *row, int64_t V, double lse, int64_t top_n, int32_t *ids, double *lp) {
    int64_t k = 0;
    for (int64_t v = 0; v < V; v++) {
        if (k == top_n && !(row[v] > row[ids[k - 1]])) continue;
        int64_t j = k < top_n ? k++ : k - 1;
        while (j > 0 && row[v] > row[ids[j - 1]]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (int32_t)v;
    }
    for (int64_t j = 0; j < k; j++) lp[j] = (double)row[ids[j]] - lse;
}

senti_status llm_token_logprobs(senti_model *m, const int32_t *ids, int64_t n, int64_t top_n, double *logprob,
                                int32_t *top_ids, double *top_logprob) {
    if (!m || !ids || n < 1 || !logprob || top_n < 0 || (top_n > 0 && (!top_ids || !top_logprob)))
        return senti_error(SENTI_ERR_INVALID_ARG, "llm_token_logprobs: bad argument");
    if (!lm_is_causal(m))
        return senti_error(SENTI_ERR_UNSUPPORTED, "logprobs: the model (%s) is not a causal LM",
                           senti_model_architecture(m));
    const int64_t V = lm_vocab(m);
    if (top_n > V) top_n = V;
    if (n > lm_max_ctx(m))
        return senti_error(SENTI_ERR_INVALID_ARG, "logprobs: %lld tokens, more than the model's context (%lld)",
                           (long long)n, (long long)lm_max_ctx(m));
    lm_cache *c = lm_cache_new(m, 1, n);
    float *lg = malloc((size_t)LP_CHUNK * (size_t)V * sizeof *lg);
    senti_status s = SENTI_OK;
    if (!c || !lg) {
        s = c ? senti_error(SENTI_ERR_NO_MEMORY, "logprobs: out of memory") : SENTI_ERR_NO_MEMORY;
        goto done;
    }
    logprob[0] = NAN;
    for (int64_t j = 0; j < top_n; j++) top_ids[j] = -1, top_logprob[j] = NAN;
    const int64_t slot = 0;
    for (int64_t at = 0; at < n - 1 && s == SENTI_OK; at += LP_CHUNK) {
        const int32_t *chunk = ids + at;
        const int64_t len = at + LP_CHUNK < n - 1 ? LP_CHUNK : n - 1 - at; /* the last token predicts nothing */
        if ((s = lm_forward(m, c, 1, &slot, &chunk, &len, true, lg)) != SENTI_OK) break;
        for (int64_t r = 0; r < len; r++) {
            const float *row = lg + r * V;
            const int64_t p = at + r + 1; /* row r predicts token p */
            double mx = row[0], sum = 0;
            for (int64_t v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
            for (int64_t v = 0; v < V; v++) sum += exp((double)row[v] - mx);
            const double lse = mx + log(sum);
            if (ids[p] < 0 || ids[p] >= V) {
                s = senti_error(SENTI_ERR_INVALID_ARG, "logprobs: token %lld (id %d) outside the vocabulary",
                                (long long)p, ids[p]);
                break;
            }
            logprob[p] = (double)row[ids[p]] - lse;
            if (top_n > 0) top_of_row(row, V, lse, top_n, top_ids + p * top_n, top_logprob + p * top_n);
        }
    }
done:
    free(lg);
    lm_cache_free(c);
    return s;
}
