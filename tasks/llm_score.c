/* llm_score.c — zero-shot classification with a causal LM by label
 * likelihood: no sampling, every label is scored as the continuation of one
 * shared prompt.
 *
 * score(label) = mean over the label's tokens of log p(token | prompt, earlier
 * label tokens) (length-normalised log-likelihood, so long labels are not
 * penalised for their length); the reported probabilities are the softmax of
 * those scores over the labels. The prompt runs once (slot 0); its cache is
 * copied into one slot per label and all labels run in a single batched
 * lm_forward with all_logits. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "llm.h"

char *llm_score_instruction(const llm_score_opts *o, const char *text, size_t len) {
    size_t ll = 0;
    for (int64_t i = 0; i < o->n_labels; i++) ll += strlen(o->labels[i]) + 2;
    char *labels = senti_malloc(ll + 1);
    if (!labels) return NULL;
    labels[0] = '\0';
    size_t p = 0;
    for (int64_t i = 0; i < o->n_labels; i++) {
        size_t k = strlen(o->labels[i]);
        if (i) memcpy(labels + p, ", ", 2), p += 2;
        memcpy(labels + p, o->labels[i], k);
        p += k;
    }
    labels[p] = '\0';
    static const char def[] = "Classify the sentiment of the text. Answer with one of: {labels}.\n\nText: {text}";
    const char *t = o->tmpl ? o->tmpl : def;
    /* size: every placeholder replaced by the longer of the two */
    size_t cap = strlen(t) + 1, tl = strlen(t);
    for (const char *q = strstr(t, "{"); q; q = strstr(q + 1, "{")) cap += len + p;
    char *out = senti_malloc(cap);
    if (!out) {
        senti_mfree(labels);
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < tl;) {
        if (strncmp(t + i, "{text}", 6) == 0) {
            memcpy(out + n, text, len), n += len, i += 6;
        } else if (strncmp(t + i, "{labels}", 8) == 0) {
            memcpy(out + n, labels, p), n += p, i += 8;
        } else out[n++] = t[i++];
    }
    out[n] = '\0';
    senti_mfree(labels);
    return out;
}

/* log softmax(row)[t] in double. */
static double log_prob(const float *row, int64_t V, int32_t t) {
    float mx = row[0];
    for (int64_t i = 1; i < V; i++)
        if (row[i] > mx) mx = row[i];
    double s = 0;
    for (int64_t i = 0; i < V; i++) s += exp((double)row[i] - mx);
    return (double)row[t] - mx - log(s);
}

/* The labels' token ids (encoded alone, without special tokens). */
static senti_status label_ids(const senti_tokenizer *tok, const llm_score_opts *o, int32_t **lids, int64_t *ln) {
    for (int64_t l = 0; l < o->n_labels; l++) {
        senti_encoding *e = NULL;
        senti_encode_opts eo = senti_encode_opts_defaults();
        eo.add_special_tokens = 0;
        senti_status s = senti_tokenizer_encode(tok, o->labels[l], strlen(o->labels[l]), NULL, 0, &eo, &e);
        if (s != SENTI_OK) return s;
        ln[l] = senti_encoding_len(e);
        lids[l] = senti_malloc((size_t)(ln[l] ? ln[l] : 1) * sizeof(int32_t));
        if (lids[l] && ln[l]) memcpy(lids[l], senti_encoding_ids(e), (size_t)ln[l] * sizeof(int32_t));
        senti_encoding_free(e);
        if (!lids[l]) return senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
        if (ln[l] == 0) return senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: label '%s' has no tokens", o->labels[l]);
    }
    return SENTI_OK;
}

/* Score B texts together: the B prompts run as one batch (record b's prompt
 * into slot b*L), each is copied into its L - 1 other slots, and every
 * record's every label runs in one batched forward. logprob / prob: [B, L].
 * A record that cannot run (its prompt too long for the context, a token
 * outside the model's vocabulary) gets errs[b] (senti_malloc'd) and no scores;
 * the status is for failures of the whole batch. */
static senti_status score_batch(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                                const llm_score_opts *o, const char *const *texts, const size_t *lens, int64_t B,
                                double *logprob, double *prob, char **errs, int64_t *n_tokens) {
    const int64_t L = o->n_labels, V = lm_vocab(m);
    if (L < 1) return senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: no labels");
    senti_status s = SENTI_OK;
    int32_t **lids = senti_calloc((size_t)L, sizeof *lids), **pids = senti_calloc((size_t)B, sizeof *pids);
    int64_t *ln = senti_calloc((size_t)L, sizeof *ln), *np = senti_calloc((size_t)B, sizeof *np);
    int64_t *act = senti_calloc((size_t)B, sizeof *act), *slot = senti_calloc((size_t)(B * L), sizeof *slot);
    int64_t *ntok = senti_calloc((size_t)(B * L), sizeof *ntok);
    const int32_t **toks = senti_calloc((size_t)(B * L), sizeof *toks);
    float *last = NULL, *all = NULL;
    lm_cache *c = NULL;
    if (!lids || !pids || !ln || !np || !act || !slot || !ntok || !toks) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
        goto done;
    }
    if ((s = label_ids(tok, o, lids, ln)) != SENTI_OK) goto done;
    int64_t total = 0, maxl = 0, na = 0, ctx = 0;
    for (int64_t l = 0; l < L; l++) total += ln[l], maxl = ln[l] > maxl ? ln[l] : maxl;
    for (int64_t b = 0; b < B; b++) {
        char *instr = llm_score_instruction(o, texts[b], lens[b]);
        if (!instr) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
            goto done;
        }
        s = llm_prompt_ids(tok, chat, o->use_chat, NULL, instr, strlen(instr), &pids[b], &np[b]);
        senti_mfree(instr);
        char msg[256] = "";
        if (s == SENTI_ERR_INVALID_ARG || s == SENTI_ERR_UNSUPPORTED) snprintf(msg, sizeof msg, "%s", senti_last_error());
        else if (s != SENTI_OK) goto done;
        else if (np[b] < 1 || np[b] + maxl > lm_max_ctx(m))
            snprintf(msg, sizeof msg, "zero-shot: prompt of %lld tokens plus a label of %lld exceeds the model's %lld",
                     (long long)np[b], (long long)maxl, (long long)lm_max_ctx(m));
        for (int64_t k = 0; !msg[0] && k < np[b]; k++)
            if (pids[b][k] < 0 || pids[b][k] >= V)
                snprintf(msg, sizeof msg, "zero-shot: prompt token %lld has id %d, outside the model's vocabulary",
                         (long long)k, pids[b][k]);
        s = SENTI_OK;
        if (msg[0]) {
            if (!(errs[b] = senti_strdup(msg))) s = senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
            if (s != SENTI_OK) goto done;
            continue;
        }
        act[na++] = b;
        ctx = np[b] + maxl > ctx ? np[b] + maxl : ctx;
        *n_tokens += np[b] + total;
    }
    if (na == 0) goto done;
    for (int64_t l = 0; l < L; l++)
        for (int64_t k = 0; k < ln[l]; k++)
            if (lids[l][k] < 0 || lids[l][k] >= V) {
                s = senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: label '%s' has a token outside the model's vocabulary",
                                o->labels[l]);
                goto done;
            }
    if (!(last = senti_malloc((size_t)na * (size_t)V * sizeof(float))) ||
        !(all = senti_malloc((size_t)(na * total) * (size_t)V * sizeof(float)))) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
        goto done;
    }
    if (!(c = lm_cache_new(m, na * L, ctx))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", senti_last_error());
        s = senti_error(SENTI_ERR_BACKEND, "zero-shot: %s", msg);
        goto done;
    }
    /* every prompt once, into its record's first slot */
    for (int64_t a = 0; a < na; a++) slot[a] = a * L, toks[a] = pids[act[a]], ntok[a] = np[act[a]];
    if ((s = lm_forward(m, c, na, slot, toks, ntok, false, last)) != SENTI_OK) goto done;
    /* shared with the record's other label slots; then all labels at once */
    for (int64_t a = 0; a < na; a++)
        for (int64_t l = 1; l < L; l++)
            if ((s = lm_cache_copy(c, a * L + l, a * L)) != SENTI_OK) goto done;
    for (int64_t a = 0; a < na; a++)
        for (int64_t l = 0; l < L; l++) slot[a * L + l] = a * L + l, toks[a * L + l] = lids[l], ntok[a * L + l] = ln[l];
    if ((s = lm_forward(m, c, na * L, slot, toks, ntok, true, all)) != SENTI_OK) goto done;
    /* token j of a label is predicted by the prompt's last row (j = 0) or by
     * the label's own row j - 1; rows come slot by slot */
    int64_t row = 0;
    for (int64_t a = 0; a < na; a++) {
        double *lp = logprob + act[a] * L, *pr = prob + act[a] * L, mx = -INFINITY, z = 0;
        for (int64_t l = 0; l < L; l++) {
            double sum = 0;
            for (int64_t j = 0; j < ln[l]; j++)
                sum += log_prob(j == 0 ? last + (size_t)a * (size_t)V : all + (size_t)(row + j - 1) * (size_t)V, V,
                                lids[l][j]);
            row += ln[l];
            lp[l] = sum / (double)ln[l];
            if (lp[l] > mx) mx = lp[l];
        }
        for (int64_t l = 0; l < L; l++) z += exp(lp[l] - mx);
        for (int64_t l = 0; l < L; l++) pr[l] = exp(lp[l] - mx) / z;
    }
done:
    lm_cache_free(c);
    for (int64_t l = 0; lids && l < L; l++) senti_mfree(lids[l]);
    for (int64_t b = 0; pids && b < B; b++) senti_mfree(pids[b]);
    senti_mfree(lids);
    senti_mfree(pids);
    senti_mfree(ln);
    senti_mfree(np);
    senti_mfree(act);
    senti_mfree(slot);
    senti_mfree(ntok);
    senti_mfree(toks);
    senti_mfree(last);
    senti_mfree(all);
    return s;
}

senti_status llm_score(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat, const llm_score_opts *o,
                       const char *text, size_t len, double *logprob, double *prob) {
    char *err = NULL;
    int64_t n = 0;
    senti_status s = score_batch(m, tok, chat, o, &text, &len, 1, logprob, prob, &err, &n);
    if (s == SENTI_OK && err) s = senti_error(SENTI_ERR_INVALID_ARG, "%s", err);
    senti_mfree(err);
    return s;
}

/* One output line for a record: its id, then the error or the label scores. */
static senti_status write_scores(FILE *out, const llm_score_opts *o, json_t *id, const char *err, const double *lp,
                                 const double *pr) {
    json_t *obj = json_object();
    if (!obj) return senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
    json_object_set(obj, "id", id);
    if (err) json_object_set_new(obj, "error", json_string(err));
    else {
        int64_t best = 0;
        for (int64_t l = 1; l < o->n_labels; l++)
            if (pr[l] > pr[best]) best = l;
        json_t *sc = json_object(), *lg = json_object();
        for (int64_t l = 0; l < o->n_labels && sc && lg; l++) {
            json_object_set_new(sc, o->labels[l], json_real(pr[l]));
            json_object_set_new(lg, o->labels[l], json_real(lp[l]));
        }
        json_object_set_new(obj, "label", json_string(o->labels[best]));
        json_object_set_new(obj, "score", json_real(pr[best]));
        json_object_set_new(obj, "scores", sc);
        json_object_set_new(obj, "logprobs", lg);
    }
    char *js = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(obj);
    senti_status s = SENTI_OK;
    if (!js || fputs(js, out) < 0 || fputc('\n', out) == EOF)
        s = senti_error(js ? SENTI_ERR_IO : SENTI_ERR_NO_MEMORY, "zero-shot: writing the output failed: %s",
                        strerror(errno));
    free(js);
    return s;
}

/* A record's own "labels" (a non-empty array of distinct non-empty strings)
 * into *own (labels borrowed from r's JSON; senti_malloc'd array): 1; 0 when it
 * has none; -1 with *err set when the field is malformed. */
static int own_labels(const task_record *r, llm_score_opts *own, const char **err) {
    json_t *jl = r->obj ? json_object_get(r->obj, "labels") : NULL;
    if (!jl || json_is_null(jl)) return 0;
    *err = "field \"labels\" must be a non-empty array of strings";
    if (!json_is_array(jl) || json_array_size(jl) == 0) return -1;
    const char **l = senti_calloc(json_array_size(jl), sizeof *l);
    if (!l) return *err = "out of memory", -1;
    size_t i;
    json_t *v;
    json_array_foreach(jl, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v) ||
            task_utf8_invalid_at(json_string_value(v), json_string_length(v)) >= 0) {
            *err = "field \"labels\" must hold non-empty strings";
            senti_mfree(l);
            return -1;
        }
        l[i] = json_string_value(v);
        for (size_t j = 0; j < i; j++)
            if (strcmp(l[i], l[j]) == 0) {
                *err = "field \"labels\" holds a label twice";
                senti_mfree(l);
                return -1;
            }
    }
    own->labels = l;
    own->n_labels = (int64_t)json_array_size(jl);
    return 1;
}

senti_status llm_zero_shot_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                               const llm_score_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                               task_stats *stats) {
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!lm_is_causal(m))
        return senti_error(SENTI_ERR_UNSUPPORTED, "zero-shot: the model (%s) is not a causal language model",
                           senti_model_architecture(m));
    if (o->n_labels < 1) return senti_error(SENTI_ERR_INVALID_ARG, "zero-shot: no labels");
    if (task_labels_distinct(o->labels, o->n_labels, "zero-shot") != SENTI_OK) return SENTI_ERR_INVALID_ARG;
    const double t0 = senti_time_ms() * 1e-3;
    const int64_t L = o->n_labels, V = lm_vocab(m);
    /* records scored together: ro->batch_size, kept to ~256 MB of label logits
     * (assuming 4 tokens per label) */
    int64_t batch = ro->batch_size > 0 ? ro->batch_size : 1, cap = (int64_t)((64ll << 20) / ((4 * L + 1) * V));
    if (batch > cap) batch = cap > 0 ? cap : 1;
    task_record *recs = senti_calloc((size_t)batch, sizeof *recs);
    const char **tx = senti_calloc((size_t)batch, sizeof *tx);
    size_t *tl = senti_calloc((size_t)batch, sizeof *tl);
    double *lp = senti_calloc((size_t)(batch * L), sizeof *lp), *pr = senti_calloc((size_t)(batch * L), sizeof *pr);
    char **errs = senti_calloc((size_t)batch, sizeof *errs);
    int *own = senti_calloc((size_t)batch, sizeof *own); /* a record's own "labels": 1 (own_o), 0 none, -1 bad */
    llm_score_opts *own_o = senti_calloc((size_t)batch, sizeof *own_o);
    senti_status s = recs && tx && tl && lp && pr && errs && own && own_o ? SENTI_OK
                                                                 : senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
    bool eof = false;
    for (int64_t k = 0; k < ro->skip && s == SENTI_OK && !eof; k++) { /* resume: records already answered */
        int got = task_source_read(src, &recs[0]);
        if (got < 0) s = SENTI_ERR_IO;
        eof = got <= 0;
        st->skipped += got == 1;
    }
    while (s == SENTI_OK && !eof) {
        int64_t nb = 0, na = 0;
        double t1 = senti_time_ms() * 1e-3;
        while (nb < batch && s == SENTI_OK) {
            int got = task_source_read(src, &recs[nb]);
            if (got < 0) s = SENTI_ERR_IO;
            if (got <= 0) {
                eof = true;
                break;
            }
            own[nb] = 0;
            const char *why = NULL;
            if (!recs[nb].error && (own[nb] = own_labels(&recs[nb], &own_o[nb], &why)) < 0)
                task_record_fail(&recs[nb], "%s", why);
            if (!recs[nb].error && !own[nb]) tx[na] = recs[nb].text, tl[na++] = recs[nb].len;
            nb++;
        }
        double t2 = senti_time_ms() * 1e-3;
        st->t_read += t2 - t1;
        if (s == SENTI_OK && na > 0) {
            s = score_batch(m, tok, chat, o, tx, tl, na, lp, pr, errs, &st->tokens);
            st->batches++;
        }
        st->t_model += senti_time_ms() * 1e-3 - t2;
        for (int64_t i = 0, j = 0; i < nb && s == SENTI_OK; i++) {
            const char *err = recs[i].error;
            int64_t a = -1;
            const llm_score_opts *ro_i = o;
            double *lp_i = NULL, *pr_i = NULL;
            char *own_err = NULL;
            if (!err && own[i] == 1) { /* its own labels: scored alone */
                ro_i = &own_o[i];
                own_o[i].tmpl = o->tmpl, own_o[i].use_chat = o->use_chat;
                const int64_t k = own_o[i].n_labels;
                lp_i = senti_calloc((size_t)k, sizeof *lp_i), pr_i = senti_calloc((size_t)k, sizeof *pr_i);
                const double t3 = senti_time_ms() * 1e-3;
                if (!lp_i || !pr_i) s = senti_error(SENTI_ERR_NO_MEMORY, "zero-shot: out of memory");
                else
                    s = score_batch(m, tok, chat, ro_i, (const char *const *)&recs[i].text, &recs[i].len, 1, lp_i,
                                    pr_i, &own_err, &st->tokens);
                st->t_model += senti_time_ms() * 1e-3 - t3;
                st->batches++;
                err = own_err;
            } else if (!err) {
                a = j++;
                err = errs[a];
                lp_i = lp + a * L, pr_i = pr + a * L;
            }
            st->records++;
            if (err) {
                st->errors++;
                if (ro->strict) {
                    s = task_strict_error(src, recs[i].id, err);
                    break;
                }
            }
            if (s == SENTI_OK) s = write_scores(out, ro_i, recs[i].id, err, err ? NULL : lp_i, err ? NULL : pr_i);
            if (own[i] == 1) senti_mfree(lp_i), senti_mfree(pr_i);
            senti_mfree(own_err);
        }
        if (s == SENTI_OK && nb > 0) s = task_batch_written(out, ro, st->skipped + st->records);
        for (int64_t i = 0; i < nb; i++) {
            task_record_clear(&recs[i]);
            if (own[i] == 1) senti_mfree((void *)own_o[i].labels);
            own[i] = 0;
        }
        for (int64_t i = 0; i < na; i++) senti_mfree(errs[i]), errs[i] = NULL;
    }
    for (int64_t i = 0; recs && i < batch; i++) task_record_clear(&recs[i]);
    senti_mfree(recs);
    senti_mfree(tx);
    senti_mfree(tl);
    senti_mfree(lp);
    senti_mfree(pr);
    senti_mfree(errs);
    senti_mfree(own);
    senti_mfree(own_o);
    st->seconds = senti_time_ms() * 1e-3 - t0;
    return s;
}
