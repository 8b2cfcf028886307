/* beam.c — beam search as transformers' _beam_search (the vectorised one of
 * transformers 4.50+), for encoder-decoders and causal LMs alike, on the
 * lm.h cache.
 *
 * Per prompt: nb running hypotheses in nb cache slots and nb finished ones
 * (score, tokens); two banks of nb slots per prompt, so a step's new beams
 * are copied from their parents into the other bank (no slot is read after
 * being overwritten). Scores are float32 sums as transformers keeps them.
 * Invariant: a prompt's beams only ever read its own slots, so its result
 * does not depend on the other prompts of the call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "llm.h"

#define NEG_BIG (-1.0e9f) /* transformers' "very large negative value" */

typedef struct hyp {
    int32_t *seq; /* prompt (decoder start) + continuation, room entries */
    int64_t n;
    float score;
} hyp;

typedef struct beam_item {
    bool live, error;
    int64_t n_prompt, room;
    hyp *run, *run_next; /* [nb] */
    hyp *fin;            /* [nb], sorted best first; n_fin used */
    int64_t n_fin;
    bool unsat;          /* transformers' is_early_stop_heuristic_unsatisfied */
    int bank;            /* which bank of slots holds the running beams */
} beam_item;

typedef struct cand {
    float score;
    int32_t beam, tok;
    int64_t idx; /* beam * V + tok: the order transformers' topk breaks ties by here */
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

senti_status llm_result_set(const senti_tokenizer *tok, const int32_t *ids, int64_t n, bool stopped,
                            llm_gen_result *r) {
    size_t tl = 0;
    r->ids = senti_malloc((size_t)(n > 0 ? n : 1) * sizeof *r->ids);
    char *t = senti_tokenizer_decode(tok, ids, n, 1, &tl);
    r->text = t ? senti_malloc(tl + 1) : NULL;
    if (!r->ids || !r->text) {
        senti_string_free(t);
        return senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
    }
    if (n > 0) memcpy(r->ids, ids, (size_t)n * sizeof *ids);
    r->n = n;
    memcpy(r->text, t, tl);
    r->text[tl] = '\0';
    r->len = tl;
    r->stopped = stopped;
    senti_string_free(t);
    return SENTI_OK;
}

/* The first stop string in text[0..len): its offset, or len + 1 when none. */
size_t llm_find_stop(const llm_gen_opts *o, const char *text, size_t len) {
    size_t best = len + 1;
    for (int64_t k = 0; k < o->n_stop; k++) {
        const size_t sl = strlen(o->stop[k]);
        if (sl == 0 || sl > len) continue;
        for (size_t i = 0; i + sl <= len && i < best; i++)
            if (memcmp(text + i, o->stop[k], sl) == 0) {
                best = i;
                break;
            }
    }
    return best;
}

/* Whether h's continuation followed by t holds a stop string (as transformers'
 * StopStringCriteria in beam search: such a candidate finishes, as an eos). */
static senti_status stop_hit(const senti_tokenizer *tok, const llm_gen_opts *o, hyp *h, int64_t n_prompt,
                             int64_t room, int32_t t, bool *hit) {
    *hit = false;
    if (o->n_stop == 0 || h->n >= room) return SENTI_OK;
    h->seq[h->n] = t; /* room was left for it */
    size_t len = 0;
    char *text = senti_tokenizer_decode(tok, h->seq + n_prompt, h->n + 1 - n_prompt, 1, &len);
    if (!text) return SENTI_ERR_NO_MEMORY; /* decode set the message */
    *hit = llm_find_stop(o, text, len) <= len;
    senti_string_free(text);
    return SENTI_OK;
}

/* log_softmax of a row in place (float32 result, double sums). */
static void log_softmax(float *row, int64_t V) {
    float mx = -INFINITY;
    for (int64_t t = 0; t < V; t++) mx = row[t] > mx ? row[t] : mx;
    double sum = 0;
    for (int64_t t = 0; t < V; t++) sum += exp((double)row[t] - mx);
    const double lse = mx + log(sum);
    for (int64_t t = 0; t < V; t++) row[t] = (float)((double)row[t] - lse);
}

/* The K best (score desc, index asc) of the nb rows acc (each V scores). */
static void top_k(const float *acc, int64_t nb, int64_t V, int64_t K, cand *out, int64_t *n_out) {
    int64_t n = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t t = 0; t < V; t++) {
            const float s = acc[b * V + t];
            const cand c = {s, (int32_t)b, (int32_t)t, b * V + t};
            if (n == K && cand_cmp(&c, &out[K - 1]) >= 0) continue;
            int64_t i = n < K ? n++ : K - 1; /* insertion into the sorted prefix */
            while (i > 0 && cand_cmp(&c, &out[i - 1]) < 0) out[i] = out[i - 1], i--;
            out[i] = c;
        }
    *n_out = n;
}

/* Merge a newly finished hypothesis into the nb best (score desc; an equal
 * score keeps the older ones first, as topk over [old, new] does here). */
static void add_finished(beam_item *it, int64_t nb, const hyp *h, float score) {
    int64_t i = it->n_fin;
    if (i == nb) {
        if (!(score > it->fin[nb - 1].score)) return;
        i = nb - 1;
    } else {
        it->n_fin++;
    }
    int32_t *keep = it->fin[i].seq; /* the dropped (or spare) entry's storage */
    while (i > 0 && score > it->fin[i - 1].score) it->fin[i] = it->fin[i - 1], i--;
    it->fin[i].seq = keep;
    memcpy(keep, h->seq, (size_t)h->n * sizeof *keep);
    it->fin[i].n = h->n;
    it->fin[i].score = score;
}

senti_status llm_beam_search(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *o,
                             const int32_t *const *ids, const int64_t *len, int64_t n, llm_mask_fn mask,
                             void *mask_ctx, llm_gen_result *res) {
    const bool s2s = lm_is_encdec(m);
    const int64_t V = lm_vocab(m), max_ctx = lm_max_ctx(m), nb = o->num_beams;
    const int64_t max_in = s2s ? senti_model_max_length(m) : max_ctx - 1;
    const int64_t K = (o->n_eos + 1 > 2 ? o->n_eos + 1 : 2) * nb;
    const float lp = (float)o->length_penalty;
    senti_status s = SENTI_OK;
    beam_item *it = senti_calloc((size_t)n, sizeof *it);
    int64_t *slot = senti_calloc((size_t)(n * nb), sizeof *slot), *ntok = senti_calloc((size_t)(n * nb), sizeof *ntok);
    const int32_t **toks = senti_calloc((size_t)(n * nb), sizeof *toks);
    int32_t *cur = senti_calloc((size_t)(n * nb), sizeof *cur);
    int64_t *who = senti_calloc((size_t)(n * nb), sizeof *who);
    float *logits = senti_malloc((size_t)(n * nb * V) * sizeof *logits + 1);
    cand *cands = senti_malloc((size_t)K * sizeof *cands);
    bool *hits = senti_malloc((size_t)K * sizeof *hits);
    lm_cache *c = NULL;
    if (!it || !slot || !ntok || !toks || !cur || !who || !logits || !cands || !hits) goto oom;
    int64_t ctx = 1, n_run = 0;
    for (int64_t i = 0; i < n; i++) {
        char msg[160] = "";
        if (len[i] <= 0 || len[i] > max_in)
            snprintf(msg, sizeof msg, "prompt of %lld tokens: the model takes 1..%lld", (long long)len[i],
                     (long long)max_in);
        for (int64_t k = 0; k < len[i] && !msg[0]; k++)
            if (ids[i][k] < 0 || ids[i][k] >= V)
                snprintf(msg, sizeof msg, "prompt token %lld has id %d, outside the model's vocabulary of %lld",
                         (long long)k, ids[i][k], (long long)V);
        if (msg[0]) {
            it[i].error = true;
            if (!(res[i].error = senti_strdup(msg))) goto oom;
            continue;
        }
        it[i].n_prompt = s2s ? 1 : len[i];
        it[i].room = llm_room(o, it[i].n_prompt, max_ctx);
        if (it[i].room > ctx) ctx = it[i].room;
        it[i].live = it[i].room > it[i].n_prompt;
        it[i].unsat = true;
        const int64_t room = it[i].room > it[i].n_prompt ? it[i].room : it[i].n_prompt;
        hyp *h = senti_calloc((size_t)(3 * nb), sizeof *h);
        if (!h) goto oom;
        it[i].run = h, it[i].run_next = h + nb, it[i].fin = h + 2 * nb;
        for (int64_t b = 0; b < 3 * nb; b++)
            if (!(h[b].seq = senti_malloc((size_t)room * sizeof *h[b].seq))) goto oom;
        for (int64_t b = 0; b < nb; b++) {
            if (s2s) h[b].seq[0] = llm_decoder_start(m, o);
            else memcpy(h[b].seq, ids[i], (size_t)len[i] * sizeof *ids[i]);
            h[b].n = it[i].n_prompt;
            h[b].score = b == 0 ? 0.0f : NEG_BIG; /* the beams start as copies; only the first counts */
        }
        n_run += it[i].live;
    }
    if (n_run == 0) goto finish;
    /* slots: prompt i, bank k, beam b at (i * 2 + k) * nb + b */
    if (!(c = lm_cache_new(m, n * 2 * nb, ctx))) {
        s = senti_error(SENTI_ERR_BACKEND, "generate: %s", senti_last_error());
        goto done;
    }
    {   /* the prompts once (encoder input, or decoder prompt) into each first slot */
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (it[i].live) slot[k] = i * 2 * nb, toks[k] = s2s ? ids[i] : it[i].run[0].seq, ntok[k] = len[i], k++;
        if (s2s) {
            if ((s = lm_encode(m, c, k, slot, toks, ntok, NULL)) != SENTI_OK) goto done;
            for (int64_t j = 0; j < k; j++) toks[j] = &it[slot[j] / (2 * nb)].run[0].seq[0], ntok[j] = 1;
        }
        if ((s = lm_forward(m, c, k, slot, toks, ntok, false, logits)) != SENTI_OK) goto done;
        /* every beam of a prompt starts as its first: same cache, same logits row */
        for (int64_t j = k - 1; j >= 0; j--) {
            const int64_t i = slot[j] / (2 * nb);
            for (int64_t b = nb - 1; b >= 0; b--) {
                if ((s = lm_cache_copy(c, i * 2 * nb + b, i * 2 * nb)) != SENTI_OK) goto done;
                memmove(logits + (size_t)((j * nb + b) * V), logits + (size_t)(j * V), (size_t)V * sizeof *logits);
            }
            who[j] = i;
        }
        n_run = k;
    }
    float *acc = senti_malloc((size_t)(nb * V) * sizeof *acc + 1);
    if (!acc) goto oom;
    while (n_run > 0 && s == SENTI_OK) {
        if (o->cancel && o->cancel(o->cancel_ctx)) {
            s = senti_error(SENTI_ERR_IO, "generation cancelled (past its deadline)");
            break;
        }
        int64_t k = 0; /* entries of the next forward */
        for (int64_t j = 0; j < n_run && s == SENTI_OK; j++) {
            const int64_t i = who[j];
            beam_item *I = &it[i];
            const int64_t cur_len = I->run[0].n;
            for (int64_t b = 0; b < nb; b++) {
                float *row = logits + (size_t)((j * nb + b) * V);
                const hyp *h = &I->run[b];
                log_softmax(row, V);
                if (o->repetition_penalty != 1.0)
                    llm_repetition_penalty(row, V, h->seq, h->n, (float)o->repetition_penalty);
                llm_process(o, h->seq, h->n, I->room, row, V);
                if (mask && (s = mask(mask_ctx, i, h->seq + I->n_prompt, h->n - I->n_prompt, I->room - h->n, row, V)))
                    break;
                for (int64_t t = 0; t < V; t++) acc[b * V + t] = row[t] + h->score;
            }
            if (s != SENTI_OK) break;
            int64_t nc;
            top_k(acc, nb, V, K, cands, &nc);
            /* finished: hits among the first nb candidates, unless the prompt can no longer improve */
            const bool full = I->n_fin == nb;
            const bool blocked = (o->early_stopping == LLM_EARLY_STOP_TRUE && full) || !I->unsat;
            bool all_hit = true;
            int64_t n_next = 0;
            for (int64_t q = 0; q < nc && s == SENTI_OK; q++) {
                const cand *cd = &cands[q];
                bool stop = false;
                if (!llm_is_eos(o, cd->tok) && cur_len + 1 < I->room)
                    s = stop_hit(tok, o, &I->run[cd->beam], I->n_prompt, I->room, cd->tok, &stop);
                hits[q] = llm_is_eos(o, cd->tok) || cur_len + 1 >= I->room || stop;
            }
            if (s != SENTI_OK) break;
            for (int64_t q = 0; q < nc; q++) {
                const cand *cd = &cands[q];
                const bool hit = hits[q];
                all_hit &= hit;
                hyp *p = &I->run[cd->beam];
                if (hit && q < nb && !blocked && isfinite(cd->score)) {
                    p->seq[p->n] = cd->tok; /* room was left for it */
                    const hyp tmp = {p->seq, p->n + 1, 0};
                    add_finished(I, nb, &tmp, cd->score / powf((float)(cur_len + 1 - I->n_prompt), lp));
                }
            }
            /* running: the nb best candidates, finished ones pushed down by -1e9 */
            for (int64_t q = 0; q < nc; q++) cands[q].score += hits[q] ? NEG_BIG : 0.0f;
            qsort(cands, (size_t)nc, sizeof *cands, cand_cmp); /* stable on idx for equal scores */
            for (int64_t q = 0; q < nb && q < nc; q++, n_next++) {
                const hyp *p = &I->run[cands[q].beam];
                hyp *h = &I->run_next[q];
                memcpy(h->seq, p->seq, (size_t)p->n * sizeof *h->seq);
                h->n = p->n;
                if (h->n < I->room) h->seq[h->n++] = cands[q].tok;
                h->score = cands[q].score;
                const int64_t dst = (i * 2 + !I->bank) * nb + q, src = (i * 2 + I->bank) * nb + cands[q].beam;
                if ((s = lm_cache_copy(c, dst, src)) != SENTI_OK) break;
            }
            if (s != SENTI_OK) break;
            hyp *sw = I->run;
            I->run = I->run_next, I->run_next = sw;
            I->bank = !I->bank;
            /* the early-stop heuristic with the new length */
            const int64_t new_len = cur_len + 1;
            if (I->n_fin == nb) {
                const int64_t hyp_len = o->early_stopping == LLM_EARLY_STOP_NEVER && lp > 0.0f ? I->room - I->n_prompt
                                                                                                : new_len - I->n_prompt;
                const float best = I->run[0].score / powf((float)hyp_len, lp);
                I->unsat = I->unsat && best > I->fin[nb - 1].score;
            }
            const bool done = !I->unsat || (o->early_stopping == LLM_EARLY_STOP_TRUE && I->n_fin == nb) || all_hit ||
                              new_len >= I->room || n_next < nb;
            if (done) {
                I->live = false;
                continue;
            }
            for (int64_t b = 0; b < nb; b++, k++) {
                slot[k] = (i * 2 + I->bank) * nb + b;
                cur[k] = I->run[b].seq[I->run[b].n - 1];
                toks[k] = &cur[k];
                ntok[k] = 1;
            }
            who[k / nb - 1] = i;
        }
        if (s != SENTI_OK) break;
        n_run = k / nb;
        if (n_run > 0) s = lm_forward(m, c, k, slot, toks, ntok, false, logits);
    }
    senti_mfree(acc);
    if (s != SENTI_OK) goto done;
finish:
    for (int64_t i = 0; i < n && s == SENTI_OK; i++) {
        if (it[i].error) continue;
        const beam_item *I = &it[i];
        const hyp *best = I->n_fin ? &I->fin[0] : &I->run[0];
        const int64_t nn = best->n - I->n_prompt;
        const bool stopped = nn > 0 && llm_is_eos(o, best->seq[best->n - 1]);
        s = llm_result_set(tok, best->seq + I->n_prompt, nn, stopped, &res[i]);
        const size_t at = s == SENTI_OK ? llm_find_stop(o, res[i].text, res[i].len) : 0;
        if (s == SENTI_OK && at <= res[i].len) { /* the text ends before its stop string, as greedy's */
            res[i].text[at] = '\0';
            res[i].len = at;
            res[i].stopped = true;
        }
    }
    goto done;
oom:
    s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
done:
    lm_cache_free(c);
    for (int64_t i = 0; it && i < n; i++)
        if (it[i].run) {
            hyp *h = it[i].run < it[i].run_next ? it[i].run : it[i].run_next;
            for (int64_t b = 0; b < 3 * nb; b++) senti_mfree(h[b].seq);
            senti_mfree(h);
        }
    senti_mfree(it);
    senti_mfree(hits);
    senti_mfree(slot);
    senti_mfree(ntok);
    senti_mfree(toks);
    senti_mfree(cur);
    senti_mfree(who);
    senti_mfree(logits);
    senti_mfree(cands);
    return s;
}
