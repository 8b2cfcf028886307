/* generate.c — sampling (transformers' logits processors), batched generation
 * over an lm_cache, generation_config.json defaults, and the `generate` task.
 *
 * Invariants: the processors run in transformers' order (repetition penalty,
 * then, when sampling, temperature, top-k, top-p, min-p); greedy picks the
 * first maximal logit. Batched generation prefills every prompt in one
 * lm_forward and then runs one token per live sequence per step; the slots of
 * finished sequences are no longer passed, so a sequence's tokens never
 * depend on the others in its batch. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "llm.h"

/* ---- PRNG: xoshiro256** (Blackman & Vigna), seeded with splitmix64 -------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void llm_rng_seed(llm_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t llm_rng_next(llm_rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

double llm_rng_uniform(llm_rng *r) { return (double)(llm_rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- logits processors ------------------------------------------------------- */

void llm_repetition_penalty(float *logits, int64_t V, const int32_t *ids, int64_t n, float penalty) {
    /* torch.gather then scatter: every occurrence reads the original logit, so
     * a repeated id is penalised once. Mark visited ids by their sign bit trick
     * is unsafe; instead apply to each distinct id via a small pass. */
    for (int64_t i = 0; i < n; i++) {
        int32_t t = ids[i];
        if (t < 0 || t >= V) continue;
        bool seen = false;
        for (int64_t j = 0; j < i && !seen; j++) seen = ids[j] == t;
        if (seen) continue;
        float x = logits[t];
        logits[t] = x < 0 ? x * penalty : x / penalty;
    }
}

void llm_temperature(float *logits, int64_t V, float t) {
    float big = 0.0f, mx = -INFINITY;
    for (int64_t i = 0; i < V; i++)
        if (isfinite(logits[i])) {
            big = fabsf(logits[i]) > big ? fabsf(logits[i]) : big;
            mx = logits[i] > mx ? logits[i] : mx;
        }
    if (isfinite(big / t)) {
        for (int64_t i = 0; i < V; i++) logits[i] /= t;
        return;
    }
    /* a temperature so small that x / t overflows (1e-38): the row shifted by
     * its maximum first, which becomes 0 and the others -inf or far below, so
     * softmax stays finite: the limit t -> 0 (greedy, sampling among ties) */
    for (int64_t i = 0; i < V; i++) logits[i] = (logits[i] - mx) / t;
}

static int cmp_float_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

void llm_top_k(float *logits, int64_t V, int64_t k, float *scratch) {
    if (k <= 0 || k >= V) return;
    memcpy(scratch, logits, (size_t)V * sizeof *scratch);
    qsort(scratch, (size_t)V, sizeof *scratch, cmp_float_desc);
    float kth = scratch[k - 1];
    for (int64_t i = 0; i < V; i++)
        if (logits[i] < kth) logits[i] = -INFINITY;
}

static const float *g_sort_keys; /* qsort context (single-threaded use) */
static int cmp_idx_asc(const void *a, const void *b) {
    int32_t i = *(const int32_t *)a, j = *(const int32_t *)b;
    float x = g_sort_keys[i], y = g_sort_keys[j];
    if (x != y) return (x > y) - (x < y);
    return (i > j) - (i < j); /* stable, as torch.sort(stable=False) on CPU is in practice */
}

void llm_top_p(float *logits, int64_t V, double p, int32_t *idx) {
    if (p >= 1.0 || V <= 1) return;
    for (int64_t i = 0; i < V; i++) idx[i] = (int32_t)i;
    g_sort_keys = logits;
    qsort(idx, (size_t)V, sizeof *idx, cmp_idx_asc);
    /* softmax over the sorted logits, cumulative from the smallest */
    float mx = logits[idx[V - 1]];
    double sum = 0;
    for (int64_t i = 0; i < V; i++) sum += exp((double)logits[idx[i]] - mx);
    double cum = 0;
    int64_t cut = 0; /* idx[0..cut) removed */
    for (int64_t i = 0; i < V - 1; i++) {
        cum += exp((double)logits[idx[i]] - mx) / sum;
        if (cum <= 1.0 - p) cut = i + 1;
        else break;
    }
    for (int64_t i = 0; i < cut; i++) logits[idx[i]] = -INFINITY;
}

void llm_min_p(float *logits, int64_t V, double min_p) {
    if (min_p <= 0 || V <= 0) return;
    int32_t best = llm_argmax(logits, V);
    /* probs < min_p * max_prob  <=>  logit < max_logit + log(min_p) */
    float mx = logits[best];
    double sum = 0;
    for (int64_t i = 0; i < V; i++) sum += exp((double)logits[i] - mx);
    double pmax = 1.0 / sum;
    for (int64_t i = 0; i < V; i++)
        if (i != best && exp((double)logits[i] - mx) / sum < min_p * pmax) logits[i] = -INFINITY;
}

int32_t llm_argmax(const float *logits, int64_t V) {
    int32_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = (int32_t)i;
    return best;
}

int32_t llm_sample_probs(float *logits, int64_t V, llm_rng *r) {
    float mx = logits[llm_argmax(logits, V)];
    double sum = 0;
    for (int64_t i = 0; i < V; i++) {
        logits[i] = isinf(logits[i]) && logits[i] < 0 ? 0.0f : expf(logits[i] - mx);
        sum += logits[i];
    }
    double u = llm_rng_uniform(r) * sum, acc = 0;
    int32_t last = 0;
    for (int64_t i = 0; i < V; i++) {
        if (logits[i] <= 0) continue;
        acc += logits[i];
        last = (int32_t)i;
        if (u < acc) return (int32_t)i;
    }
    return last;
}

/* ---- options -------------------------------------------------------------------- */

llm_gen_opts llm_gen_opts_defaults(void) {
    return (llm_gen_opts){.temperature = 1.0, .top_p = 1.0, .repetition_penalty = 1.0, .max_new_tokens = 64,
                          .num_beams = 1, .length_penalty = 1.0, .forced_bos = -1, .forced_eos = -1,
                          .decoder_start = -1};
}

/* eos_token_id (an int or a list of ints) of obj into o; false on a bad type. */
static bool read_eos(json_t *v, llm_gen_opts *o) {
    if (!v || json_is_null(v)) return true;
    if (json_is_integer(v)) {
        o->eos[0] = (int32_t)json_integer_value(v);
        o->n_eos = 1;
        return true;
    }
    if (!json_is_array(v)) return false;
    o->n_eos = 0;
    for (size_t i = 0; i < json_array_size(v) && o->n_eos < 8; i++) {
        if (!json_is_integer(json_array_get(v, i))) return false;
        o->eos[o->n_eos++] = (int32_t)json_integer_value(json_array_get(v, i));
    }
    return true;
}

/* The beam-search and processor keys of obj (generation_config.json, or
 * config.json for what it lacks: `seen` marks keys already taken). */
static bool read_gen_keys(json_t *obj, llm_gen_opts *o, unsigned *seen) {
    json_t *v;
    if (!obj) return true;
#define TAKE(bit, key) (!(*seen & (1u << (bit))) && (v = json_object_get(obj, key)) && !json_is_null(v) && \
                        (*seen |= 1u << (bit)))
    if (TAKE(0, "num_beams")) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 256) return false;
        o->num_beams = json_integer_value(v);
    }
    if (TAKE(1, "length_penalty")) {
        if (!json_is_number(v)) return false;
        o->length_penalty = json_number_value(v);
    }
    if (TAKE(2, "early_stopping")) {
        if (json_is_boolean(v)) o->early_stopping = json_is_true(v) ? LLM_EARLY_STOP_TRUE : LLM_EARLY_STOP_FALSE;
        else if (json_is_string(v) && !strcmp(json_string_value(v), "never")) o->early_stopping = LLM_EARLY_STOP_NEVER;
        else return false;
    }
    if (TAKE(3, "no_repeat_ngram_size")) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
        o->no_repeat_ngram_size = json_integer_value(v);
    }
    if (TAKE(4, "min_length")) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
        o->min_length = json_integer_value(v);
    }
    int32_t *ids[3] = {&o->forced_bos, &o->forced_eos, &o->decoder_start};
    static const char *const keys[3] = {"forced_bos_token_id", "forced_eos_token_id", "decoder_start_token_id"};
    for (int i = 0; i < 3; i++)
        if (TAKE(5 + i, keys[i])) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX) return false;
            *ids[i] = (int32_t)json_integer_value(v);
        }
#undef TAKE
    return true;
}

senti_status llm_gen_opts_load(llm_gen_opts *o, const char *dir) {
    json_t *g = NULL, *c = NULL;
    void *gv = NULL, *cv = NULL;
    int32_t eos[sizeof o->eos / sizeof *o->eos];
    int n_eos = 0;
    senti_status s = model_gen_meta(dir, &gv, &cv, eos, (int)(sizeof eos / sizeof *eos), &n_eos); /* model/ reads the files */
    g = gv, c = cv;
    if (s != SENTI_OK) goto done;
    if (n_eos) { /* a GGUF file: its end-of-generation ids */
        o->n_eos = n_eos;
        memcpy(o->eos, eos, (size_t)n_eos * sizeof *eos);
    }
    if (g) {
        json_t *v;
        if ((v = json_object_get(g, "do_sample")) && json_is_boolean(v)) o->do_sample = json_is_true(v);
        if ((v = json_object_get(g, "temperature")) && json_is_number(v)) o->temperature = json_number_value(v);
        if ((v = json_object_get(g, "top_k")) && json_is_integer(v)) o->top_k = json_integer_value(v);
        if ((v = json_object_get(g, "top_p")) && json_is_number(v)) o->top_p = json_number_value(v);
        if ((v = json_object_get(g, "min_p")) && json_is_number(v)) o->min_p = json_number_value(v);
        if ((v = json_object_get(g, "repetition_penalty")) && json_is_number(v))
            o->repetition_penalty = json_number_value(v);
        if ((v = json_object_get(g, "max_new_tokens")) && json_is_integer(v) && json_integer_value(v) > 0)
            o->max_new_tokens = json_integer_value(v);
        else if ((v = json_object_get(g, "max_length")) && json_is_integer(v) && json_integer_value(v) > 0)
            o->max_length = json_integer_value(v); /* as transformers: max_new_tokens wins when both are set */
        if (!read_eos(json_object_get(g, "eos_token_id"), o)) {
            s = senti_error(SENTI_ERR_BAD_FILE, "%s/generation_config.json: eos_token_id must be an integer or a list",
                            dir);
            goto done;
        }
    }
    if (o->n_eos == 0 && c && !read_eos(json_object_get(c, "eos_token_id"), o))
        s = senti_error(SENTI_ERR_BAD_FILE, "%s/config.json: eos_token_id must be an integer or a list", dir);
    unsigned seen = 0;
    if (s == SENTI_OK && !read_gen_keys(g, o, &seen))
        s = senti_error(SENTI_ERR_BAD_FILE, "%s/generation_config.json: a beam-search or processor key (num_beams, "
                        "length_penalty, early_stopping, no_repeat_ngram_size, min_length, forced_*_token_id, "
                        "decoder_start_token_id) has a bad value", dir);
    if (s == SENTI_OK && !read_gen_keys(c, o, &seen))
        s = senti_error(SENTI_ERR_BAD_FILE, "%s/config.json: a beam-search or processor key (num_beams, "
                        "length_penalty, early_stopping, no_repeat_ngram_size, min_length, forced_*_token_id, "
                        "decoder_start_token_id) has a bad value", dir);
done:
    json_decref(g);
    json_decref(c);
    return s;
}

void llm_gen_result_clear(llm_gen_result *r) {
    senti_mfree(r->ids);
    senti_mfree(r->text);
    senti_mfree(r->error);
    memset(r, 0, sizeof *r);
}

/* ---- generation ------------------------------------------------------------------ */

typedef struct gen_seq {
    int32_t *all;     /* prompt + generated */
    int64_t n_prompt, n;
    bool live;
    size_t stop_at;   /* bytes of text kept (a stop string found) */
    bool stop_found;
    llm_rng rng;      /* its own stream: seed and prompt, never its batch mates or position */
} gen_seq;

void llm_process(const llm_gen_opts *o, const int32_t *seq, int64_t n, int64_t max_len, float *row, int64_t V) {
    const int64_t ng = o->no_repeat_ngram_size;
    if (ng > 0 && n + 1 >= ng) /* NoRepeatNGramLogitsProcessor: tokens that would close an n-gram seen before */
        for (int64_t s = 0; s + ng <= n; s++) {
            bool same = true;
            for (int64_t k = 0; k < ng - 1 && same; k++) same = seq[s + k] == seq[n - ng + 1 + k];
            if (same && seq[s + ng - 1] >= 0 && seq[s + ng - 1] < V) row[seq[s + ng - 1]] = -INFINITY;
        }
    if (n < o->min_length) /* MinLengthLogitsProcessor */
        for (int64_t k = 0; k < o->n_eos; k++)
            if (o->eos[k] >= 0 && o->eos[k] < V) row[o->eos[k]] = -INFINITY;
    int32_t forced = -1;
    if (o->forced_bos >= 0 && n == 1) forced = o->forced_bos;                  /* ForcedBOSTokenLogitsProcessor */
    if (o->forced_eos >= 0 && n == max_len - 1) forced = o->forced_eos;        /* ForcedEOSTokenLogitsProcessor */
    if (forced >= 0 && forced < V) {
        for (int64_t t = 0; t < V; t++) row[t] = -INFINITY;
        row[forced] = 0.0f;
    }
}

/* Choose the next token of sequence q from its logits row (modified). */
static int32_t choose(const llm_gen_opts *o, gen_seq *q, float *row, int64_t V, float *fs, int32_t *is,
                      llm_rng *rng, int64_t max_len) {
    if (o->repetition_penalty != 1.0)
        llm_repetition_penalty(row, V, q->all, q->n, (float)o->repetition_penalty);
    llm_process(o, q->all, q->n, max_len, row, V);
    bool sample = o->do_sample && o->temperature > 0;
    if (!sample) return llm_argmax(row, V);
    if (o->temperature != 1.0) llm_temperature(row, V, (float)o->temperature);
    llm_top_k(row, V, o->top_k, fs);
    llm_top_p(row, V, o->top_p, is);
    llm_min_p(row, V, o->min_p);
    return llm_sample_probs(row, V, rng);
}

bool llm_is_eos(const llm_gen_opts *o, int32_t t) {
    for (int64_t i = 0; i < o->n_eos; i++)
        if (o->eos[i] == t) return true;
    return false;
}

/* Decode q's continuation; look for a stop string. */
static senti_status check_stop(const senti_tokenizer *tok, const llm_gen_opts *o, gen_seq *q) {
    if (o->n_stop == 0) return SENTI_OK;
    size_t len = 0;
    char *t = senti_tokenizer_decode(tok, q->all + q->n_prompt, q->n - q->n_prompt, 1, &len);
    if (!t) return SENTI_ERR_NO_MEMORY; /* decode set the message */
    const size_t best = llm_find_stop(o, t, len);
    if (best <= len) {
        q->stop_found = true;
        q->stop_at = best;
    }
    senti_string_free(t);
    return SENTI_OK;
}

/* Tokens a sequence may reach: its prompt plus max_new_tokens, within
 * max_length (when set) and the model's context. */
int32_t llm_decoder_start(const senti_model *m, const llm_gen_opts *o) {
    return o->decoder_start >= 0 ? o->decoder_start : (int32_t)senti_model_pad_token_id(m);
}

int64_t llm_room(const llm_gen_opts *o, int64_t n_prompt, int64_t max_ctx) {
    int64_t r = n_prompt + (o->max_new_tokens > 0 ? o->max_new_tokens : 0);
    if (o->max_length > 0 && r > o->max_length) r = o->max_length > n_prompt ? o->max_length : n_prompt;
    return r < max_ctx ? r : max_ctx;
}

senti_status llm_generate(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *o,
                          const int32_t *const *ids, const int64_t *len, int64_t n, llm_mask_fn mask,
                          void *mask_ctx, llm_gen_result *res) {
    if (!m || !tok || !o || (n > 0 && (!ids || !len || !res)))
        return senti_error(SENTI_ERR_INVALID_ARG, "llm_generate: NULL argument");
    if (n == 0) return SENTI_OK;
    if (o->num_beams > 1) {
        if (o->do_sample && o->temperature > 0)
            return senti_error(SENTI_ERR_UNSUPPORTED, "generate: beam search with sampling is not supported");
        return llm_beam_search(m, tok, o, ids, len, n, mask, mask_ctx, res);
    }
    const bool s2s = lm_is_encdec(m); /* prompts feed the encoder; the decoder starts from decoder_start */
    const int64_t V = lm_vocab(m), max_ctx = lm_max_ctx(m), max_in = s2s ? senti_model_max_length(m) : max_ctx - 1;
    const int32_t start = s2s ? llm_decoder_start(m, o) : 0;
    senti_status s = SENTI_OK;
    gen_seq *q = senti_calloc((size_t)n, sizeof *q);
    int64_t *slot = senti_calloc((size_t)n, sizeof *slot), *ntok = senti_calloc((size_t)n, sizeof *ntok);
    int64_t *map = senti_calloc((size_t)n, sizeof *map);
    const int32_t **toks = senti_calloc((size_t)n, sizeof *toks);
    float *logits = senti_malloc((size_t)n * (size_t)V * sizeof(float)), *fs = senti_malloc((size_t)V * sizeof(float));
    int32_t *is = senti_malloc((size_t)V * sizeof(int32_t));
    lm_cache *c = NULL;
    if (!q || !slot || !ntok || !map || !toks || !logits || !fs || !is) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
        goto done;
    }
    int64_t ctx = 0, n_live = 0;
    for (int64_t i = 0; i < n; i++) {
        if (len[i] <= 0 || len[i] > max_in) {
            char msg[160];
            snprintf(msg, sizeof msg, "prompt of %lld tokens: the model takes 1..%lld", (long long)len[i],
                     (long long)max_in);
            if (!(res[i].error = senti_strdup(msg))) s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
            continue;
        }
        int64_t bad = -1;
        for (int64_t k = 0; k < len[i] && bad < 0; k++)
            if (ids[i][k] < 0 || ids[i][k] >= V) bad = k;
        if (bad >= 0) { /* a tokenizer whose added tokens lie past the model's embeddings */
            char msg[160];
            snprintf(msg, sizeof msg, "prompt token %lld has id %d, outside the model's vocabulary of %lld",
                     (long long)bad, ids[i][bad], (long long)V);
            if (!(res[i].error = senti_strdup(msg))) s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
            continue;
        }
        const int64_t np = s2s ? 1 : len[i], want = llm_room(o, np, max_ctx);
        if (!(q[i].all = senti_malloc((size_t)(want > np ? want : np) * sizeof(int32_t)))) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
            goto done;
        }
        if (s2s) q[i].all[0] = start;
        else memcpy(q[i].all, ids[i], (size_t)len[i] * sizeof(int32_t));
        /* the sampling stream of this prompt: the seed mixed with its ids (FNV-1a), so a sampled
         * continuation is the same whatever else is in the batch and wherever the prompt stands */
        uint64_t h = 0xcbf29ce484222325ull;
        for (int64_t k = 0; k < len[i]; k++) h = (h ^ (uint32_t)ids[i][k]) * 0x100000001b3ull;
        llm_rng_seed(&q[i].rng, o->seed ^ h);
        q[i].n_prompt = q[i].n = np;
        q[i].live = want > np;
        if (want > ctx) ctx = want;
        slot[n_live] = i;
        ntok[n_live] = np;
        toks[n_live] = q[i].all;
        map[n_live++] = i;
    }
    if (s != SENTI_OK || n_live == 0 || o->max_new_tokens <= 0) goto finish;
    {   /* only prompts with room to grow run */
        int64_t k = 0;
        for (int64_t j = 0; j < n_live; j++)
            if (q[map[j]].live) slot[k] = slot[j], ntok[k] = ntok[j], toks[k] = toks[j], map[k++] = map[j];
        if ((n_live = k) == 0) goto finish;
    }
    if (!(c = lm_cache_new(m, n, ctx))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", senti_last_error());
        s = senti_error(SENTI_ERR_BACKEND, "generate: %s", msg);
        goto done;
    }
    if (s2s) { /* every input through the encoder once; then the decoder's start token */
        const int32_t **enc = senti_calloc((size_t)n_live, sizeof *enc);
        int64_t *elen = senti_calloc((size_t)n_live, sizeof *elen);
        if (!enc || !elen) s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
        for (int64_t j = 0; j < n_live && s == SENTI_OK; j++) enc[j] = ids[map[j]], elen[j] = len[map[j]];
        if (s == SENTI_OK) s = lm_encode(m, c, n_live, slot, enc, elen, NULL);
        senti_mfree(enc);
        senti_mfree(elen);
        if (s != SENTI_OK) goto done;
    }
    /* prefill: every prompt at once */
    if ((s = lm_forward(m, c, n_live, slot, toks, ntok, false, logits)) != SENTI_OK) goto done;
    int32_t *cur = senti_malloc((size_t)n * sizeof(int32_t));
    if (!cur) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
        goto done;
    }
    while (n_live > 0) {
        if (o->cancel && o->cancel(o->cancel_ctx)) {
            senti_mfree(cur);
            s = senti_error(SENTI_ERR_IO, "generation cancelled (past its deadline)");
            goto done;
        }
        int64_t k = 0;
        for (int64_t j = 0; j < n_live; j++) {
            int64_t i = map[j];
            gen_seq *g = &q[i];
            float *row = logits + (size_t)j * (size_t)V;
            int64_t room = llm_room(o, g->n_prompt, max_ctx);
            if (mask && (s = mask(mask_ctx, i, g->all + g->n_prompt, g->n - g->n_prompt, room - g->n, row, V)) != SENTI_OK) {
                senti_mfree(cur);
                goto done;
            }
            int32_t t = choose(o, g, row, V, fs, is, &g->rng, room);
            g->all[g->n++] = t;
            bool end = llm_is_eos(o, t);
            if (!end && (s = check_stop(tok, o, g)) != SENTI_OK) {
                senti_mfree(cur);
                goto done;
            }
            end = end || g->stop_found;
            res[i].stopped = end;
            if (end || g->n >= room) {
                g->live = false;
                continue;
            }
            /* stays in the batch: compact live entries to the front */
            map[k] = i;
            slot[k] = i;
            cur[k] = t;
            k++;
        }
        n_live = k;
        if (n_live == 0) break;
        for (int64_t j = 0; j < n_live; j++) {
            toks[j] = &cur[j];
            ntok[j] = 1;
        }
        if ((s = lm_forward(m, c, n_live, slot, toks, ntok, false, logits)) != SENTI_OK) {
            senti_mfree(cur);
            goto done;
        }
    }
    senti_mfree(cur);
finish:
    for (int64_t i = 0; i < n && s == SENTI_OK; i++) {
        if (res[i].error) continue;
        gen_seq *g = &q[i];
        int64_t nn = g->n - g->n_prompt;
        res[i].n = nn;
        res[i].ids = senti_malloc((size_t)(nn > 0 ? nn : 1) * sizeof(int32_t));
        size_t tl = 0;
        char *t = senti_tokenizer_decode(tok, g->all + g->n_prompt, nn, 1, &tl);
        if (!res[i].ids || !t) {
            senti_string_free(t);
            s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
            break;
        }
        if (nn > 0) memcpy(res[i].ids, g->all + g->n_prompt, (size_t)nn * sizeof(int32_t));
        if (g->stop_found && g->stop_at < tl) tl = g->stop_at;
        res[i].text = senti_malloc(tl + 1);
        if (!res[i].text) {
            senti_string_free(t);
            s = senti_error(SENTI_ERR_NO_MEMORY, "generate: out of memory");
            break;
        }
        memcpy(res[i].text, t, tl);
        res[i].text[tl] = '\0';
        res[i].len = tl;
        senti_string_free(t);
    }
done:
    lm_cache_free(c);
    for (int64_t i = 0; q && i < n; i++) senti_mfree(q[i].all);
    senti_mfree(q);
    senti_mfree(slot);
    senti_mfree(ntok);
    senti_mfree(map);
    senti_mfree(toks);
    senti_mfree(logits);
    senti_mfree(fs);
    senti_mfree(is);
    return s;
}

/* ---- the generate task --------------------------------------------------------------- */


/* One output line: id first, then the fields of res (or "error"). */
static senti_status write_line(FILE *out, json_t *id, json_t *fields, const char *error) {
    json_t *o = json_object();
    if (!o) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    json_object_set(o, "id", id ? id : json_null());
    if (error) json_object_set_new(o, "error", json_string(error));
    else if (fields) json_object_update(o, fields);
    char *js = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (!js) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    int bad = fputs(js, out) < 0 || fputc('\n', out) == EOF;
    free(js);
    return bad ? senti_error(SENTI_ERR_IO, "writing the output failed: %s", strerror(errno)) : SENTI_OK;
}

senti_status llm_batch_run(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *go,
                           const task_runner_opts *ro, task_source *src, FILE *out, task_stats *stats,
                           llm_prompt_fn prompt, llm_answer_fn answer, void *ctx, llm_mask_fn mask, void *mask_ctx) {
    task_stats local = {0}, *st = stats ? stats : &local;
    memset(st, 0, sizeof *st);
    if (!lm_is_generative(m))
        return senti_error(SENTI_ERR_UNSUPPORTED, "the model (%s) is not a causal language model or an "
                           "encoder-decoder", senti_model_architecture(m));
    const int64_t batch = ro->batch_size > 0 ? ro->batch_size : 1;
    const bool strict = ro->strict;
    double t0 = (senti_time_ms() * 1e-3);
    task_record *recs = senti_calloc((size_t)batch, sizeof *recs);
    int32_t **ids = senti_calloc((size_t)batch, sizeof *ids);
    int64_t *lens = senti_calloc((size_t)batch, sizeof *lens), *run = senti_calloc((size_t)batch, sizeof *run);
    llm_gen_result *res = senti_calloc((size_t)batch, sizeof *res);
    char (*errs)[512] = senti_calloc((size_t)batch, sizeof *errs);
    senti_status s = SENTI_OK;
    if (!recs || !ids || !lens || !run || !res || !errs) {
        s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    bool eof = false;
    for (int64_t k = 0; k < ro->skip && !eof; k++) { /* resume: records already answered */
        int got = task_source_read(src, &recs[0]);
        if (got < 0) s = SENTI_ERR_IO;
        eof = got <= 0;
        st->skipped += got == 1;
        task_record_clear(&recs[0]);
    }
    while (!eof && s == SENTI_OK) {
        int64_t nb = 0;
        double t1 = (senti_time_ms() * 1e-3);
        while (nb < batch) {
            int got = task_source_read(src, &recs[nb]);
            if (got < 0) {
                s = SENTI_ERR_IO;
                break;
            }
            if (got == 0) {
                eof = true;
                break;
            }
            nb++;
        }
        if (s != SENTI_OK) break;
        double t2 = (senti_time_ms() * 1e-3);
        st->t_read += t2 - t1;
        int64_t nr = 0;
        for (int64_t i = 0; i < nb; i++) {
            errs[i][0] = '\0';
            if (recs[i].error) {
                snprintf(errs[i], sizeof errs[i], "%s", recs[i].error);
                continue;
            }
            s = prompt(ctx, i, &recs[i], &ids[i], &lens[i], errs[i], sizeof errs[i]);
            if (s != SENTI_OK) break;
            if (!errs[i][0]) run[nr++] = i;
        }
        /* generate the good records together */
        const int32_t **pid = senti_calloc((size_t)(nr ? nr : 1), sizeof *pid);
        int64_t *plen = senti_calloc((size_t)(nr ? nr : 1), sizeof *plen);
        llm_gen_result *pres = senti_calloc((size_t)(nr ? nr : 1), sizeof *pres);
        if (s == SENTI_OK && (!pid || !plen || !pres)) s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        if (s == SENTI_OK) {
            for (int64_t j = 0; j < nr; j++) {
                pid[j] = ids[run[j]];
                plen[j] = lens[run[j]];
                st->tokens += plen[j];
            }
            double t3 = (senti_time_ms() * 1e-3);
            st->t_tokenize += t3 - t2;
            if (nr > 0) s = llm_generate(m, tok, go, pid, plen, nr, mask, mask_ctx, pres);
            st->t_model += (senti_time_ms() * 1e-3) - t3;
            if (nr > 0) st->batches++;
            for (int64_t j = 0; j < nr; j++) res[run[j]] = pres[j];
        }
        senti_mfree(pid);
        senti_mfree(plen);
        senti_mfree(pres);
        double t4 = (senti_time_ms() * 1e-3);
        for (int64_t i = 0; i < nb && s == SENTI_OK; i++) {
            st->records++;
            json_t *fields = NULL;
            if (!errs[i][0] && res[i].error) snprintf(errs[i], sizeof errs[i], "%s", res[i].error);
            if (!errs[i][0]) {
                st->tokens += res[i].n;
                if (!(fields = answer(ctx, i, &recs[i], &res[i]))) {
                    s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
                    break;
                }
            } else {
                st->errors++;
                if (strict) {
                    s = task_strict_error(src, recs[i].id, errs[i]);
                    break;
                }
            }
            s = write_line(out, recs[i].id, fields, errs[i][0] ? errs[i] : NULL);
            json_decref(fields);
        }
        st->t_output += (senti_time_ms() * 1e-3) - t4;
        if (s == SENTI_OK && nb > 0) s = task_batch_written(out, ro, st->skipped + st->records);
        for (int64_t i = 0; i < nb; i++) {
            task_record_clear(&recs[i]);
            senti_mfree(ids[i]);
            ids[i] = NULL;
            llm_gen_result_clear(&res[i]);
        }
    }
done:
    senti_mfree(recs);
    senti_mfree(ids);
    senti_mfree(lens);
    senti_mfree(run);
    senti_mfree(res);
    senti_mfree(errs);
    st->seconds = (senti_time_ms() * 1e-3) - t0;
    return s;
}

typedef struct gen_ctx {
    const senti_tokenizer *tok;
    const llm_chat *chat;
    const llm_generate_opts *o;
} gen_ctx;

static senti_status gen_prompt(void *ctx, int64_t i, const task_record *r, int32_t **ids, int64_t *n, char *err,
                               size_t errn) {
    (void)i;
    gen_ctx *g = ctx;
    senti_status s = llm_prompt_ids(g->tok, g->chat, g->o->use_chat, g->o->system, r->text, r->len, ids, n);
    if (s == SENTI_ERR_INVALID_ARG || s == SENTI_ERR_UNSUPPORTED) {
        snprintf(err, errn, "%s", senti_last_error());
        return SENTI_OK;
    }
    return s;
}

static json_t *gen_answer(void *ctx, int64_t i, const task_record *r, const llm_gen_result *g) {
    (void)ctx, (void)i, (void)r;
    json_t *o = json_object(), *ids = json_array();
    if (!o || !ids) {
        json_decref(o);
        json_decref(ids);
        return NULL;
    }
    for (int64_t k = 0; k < g->n; k++) json_array_append_new(ids, json_integer(g->ids[k]));
    json_object_set_new(o, "text", json_stringn(g->text, g->len));
    json_object_set_new(o, "ids", ids);
    json_object_set_new(o, "finish_reason", json_string(g->stopped ? "stop" : "length"));
    return o;
}

senti_status llm_generate_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                              const llm_generate_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                              task_stats *st) {
    gen_ctx g = {tok, chat, o};
    return llm_batch_run(m, tok, &o->gen, ro, src, out, st, gen_prompt, gen_answer, &g, NULL, NULL);
}
