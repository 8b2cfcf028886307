/* serve_routes.c — the endpoints of `senti serve` (see serve.c for the
 * server): request validation, the jobs they queue, the worker's run of a
 * batch through the task runner, and the response shapes of
 * text-embeddings-inference (/predict, /embed, /tokenize) and OpenAI
 * (/v1/completions).
 *
 * Invariants: every number in a response is the task's JSON line's number,
 * re-printed with the runner's precision (JSON_REAL_PRECISION(8)), so it
 * reads the same as the CLI's output for that text; a request's inputs are
 * answered in its order. */
#ifdef SENTI_HAVE_MHD

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8))

static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, DUMP_FLAGS | JSON_ENCODE_ANY) : NULL;
    json_decref(o);
    return s;
}

static char *fail(int *code, int c, const char *type, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static char *fail(int *code, int c, const char *type, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    serve_utf8_clean(msg); /* a parser's message may quote part of a character */
    *code = c;
    return dump(json_pack("{ssss}", "error", msg, "error_type", type));
}

/* The boolean field key of req into *v (absent or null: dflt); false when it
 * is another type (a string "false" must not read as true, nor be ignored). */
static bool get_flag(json_t *req, const char *key, bool dflt, bool *v) {
    json_t *x = json_object_get(req, key);
    *v = !x || json_is_null(x) ? dflt : json_is_true(x);
    return !x || json_is_null(x) || json_is_boolean(x);
}

/* ---- the worker's side ------------------------------------------------------------ */

/* The lines of buf into jobs[*].lines, in order (n_lines expected). */
static bool split_lines(char *buf, serve_job **jobs, int64_t n) {
    char *save = NULL, *l = buf ? strtok_r(buf, "\n", &save) : NULL;
    for (int64_t j = 0; j < n; j++) {
        if (!(jobs[j]->lines = calloc((size_t)jobs[j]->n + 1, sizeof *jobs[j]->lines))) return false;
        for (int64_t i = 0; i < jobs[j]->n; i++, l = strtok_r(NULL, "\n", &save))
            if (!l || !(jobs[j]->lines[i] = strdup(l))) return false;
    }
    return true;
}

static void fail_jobs(serve_job **jobs, int64_t n, int status, const char *msg) {
    for (int64_t j = 0; j < n; j++) {
        jobs[j]->status = status;
        free(jobs[j]->error);
        jobs[j]->error = strdup(msg);
    }
}

/* Run the inputs of n jobs of one kind (predict or embed) as one batch. */
static void run_tasks(serve *S, serve_job **jobs, int64_t n) {
    int64_t total = 0;
    for (int64_t j = 0; j < n; j++) total += jobs[j]->n;
    const char **texts = calloc((size_t)total + 1, sizeof *texts);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    task_source *src = NULL;
    senti_status s = SENTI_ERR_NO_MEMORY;
    if (texts && f) {
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < jobs[j]->n; i++) texts[k++] = jobs[j]->texts[i];
        if ((src = task_source_texts(texts, total))) {
            s = jobs[0]->kind == SERVE_PREDICT
                    ? task_run(S->m, S->tok, src, f, &S->ro, task_classify_decode, &S->cls, NULL)
                    : task_embed_run(S->m, S->tok, &S->emb, src, f, &S->ro, NULL);
        }
    }
    const char *why = s == SENTI_OK ? NULL : s == SENTI_ERR_NO_MEMORY && !src ? "out of memory" : senti_last_error();
    if (f && fclose(f) != 0 && !why) why = "out of memory";
    if (!why && !split_lines(buf, jobs, n)) why = "out of memory";
    if (why) fail_jobs(jobs, n, 500, why);
    task_source_free(src);
    free(texts);
    free(buf);
}

/* A token's text (its decoded bytes; "" for a special token when skip_special), new. */
static json_t *token_text(const senti_tokenizer *tok, int32_t id, int skip_special) {
    size_t n = 0;
    char *s = senti_tokenizer_decode(tok, &id, 1, skip_special, &n);
    json_t *j = s ? json_stringn_nocheck(s, n) : json_string("");
    if (j && !json_string_value(j)) j = json_string("");
    senti_string_free(s);
    return j;
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* OpenAI's logprobs object for ids[from..n) of a sequence whose log-probs are lp / top. */
static json_t *logprobs_json(serve *S, const int32_t *ids, int64_t n, int64_t from, const double *lp,
                             const int32_t *top_ids, const double *top_lp, int64_t top_n) {
    json_t *o = json_object(), *toks = json_array(), *lps = json_array(), *tops = json_array(), *offs = json_array();
    for (int64_t i = from; o && i < n; i++) {
        json_t *t = token_text(S->tok, ids[i], 0);
        /* code points into the text, as /tokenize's offsets: the length of the
         * text of the tokens before it (decoded together: a decoder that strips
         * a word's leading space when it stands alone, or bytes that join
         * into one character, count as in the text) */
        size_t pn = 0, off = 0;
        char *prefix = senti_tokenizer_decode(S->tok, ids + from, i - from, 1, &pn);
        for (size_t k = 0; prefix && k < pn; k++) off += ((unsigned char)prefix[k] & 0xc0) != 0x80;
        senti_string_free(prefix);
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(toks, t);
        json_array_append_new(lps, real_or_null(lp[i]));
        if (top_n > 0 && i > 0) {
            json_t *d = json_object();
            for (int64_t k = 0; d && k < top_n; k++) {
                json_t *tt = token_text(S->tok, top_ids[i * top_n + k], 0);
                if (tt && !json_object_get(d, json_string_value(tt)))
                    json_object_set_new(d, json_string_value(tt), real_or_null(top_lp[i * top_n + k]));
                json_decref(tt);
            }
            json_array_append_new(tops, d);
        } else {
            json_array_append_new(tops, json_null());
        }
    }
    json_object_set_new(o, "tokens", toks);
    json_object_set_new(o, "token_logprobs", lps);
    json_object_set_new(o, "top_logprobs", top_n > 0 ? tops : (json_decref(tops), json_null()));
    json_object_set_new(o, "text_offset", offs);
    return o;
}

/* Generation settings of a completion request over the model's. */
static llm_generate_opts complete_opts(const serve *S, json_t *p, const char **stop, int64_t *n_stop) {
    llm_generate_opts o = {.gen = S->gen};
    json_t *v;
    if ((v = json_object_get(p, "max_tokens")) && json_is_integer(v))
        o.gen.max_new_tokens = json_integer_value(v), o.gen.max_length = 0;
    if ((v = json_object_get(p, "top_p")) && json_is_number(v)) /* 1: off, as OpenAI's default */
        o.gen.top_p = json_number_value(v), o.gen.do_sample = o.gen.do_sample || json_number_value(v) < 1.0;
    if ((v = json_object_get(p, "seed")) && json_is_integer(v)) o.gen.seed = (uint64_t)json_integer_value(v);
    if ((v = json_object_get(p, "temperature")) && json_is_number(v)) {
        const double t = json_number_value(v);
        o.gen.temperature = t > 0 ? t : 1.0;
        o.gen.do_sample = t > 0;
    }
    *n_stop = 0;
    v = json_object_get(p, "stop");
    if (json_is_string(v)) stop[(*n_stop)++] = json_string_value(v);
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v) && i < 4; i++)
        stop[(*n_stop)++] = json_string_value(json_array_get(v, i));
    o.gen.stop = stop;
    o.gen.n_stop = *n_stop;
    return o;
}

/* Completions stop at their requests' deadline (the latest of those run
 * together; their clients have had the 504 by then): the worker is not held
 * by a generation nobody waits for. */
static bool past_deadline(void *ctx) { return serve_now() >= *(const double *)ctx; }

/* The settings that decide a completion's generation: requests whose settings
 * are equal generate together (each prompt's continuation is its own: batch
 * invariance, sampling from each prompt's own stream). */
static bool same_generation(const serve_job *a, const serve_job *b) {
    static const char *const keys[] = {"max_tokens", "temperature", "top_p", "seed", "stop"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const json_t *x = json_object_get(a->params, keys[k]), *y = json_object_get(b->params, keys[k]);
        if (!(x == y || (x && y && json_equal((json_t *)x, (json_t *)y)))) return false;
    }
    return true;
}

/* One completion request's answer from its prompts' generated lines (NULL:
 * max_tokens 0), with the log-probs it asks for by one forward over prompt +
 * completion. */
static void finish_complete(serve *S, serve_job *job, json_t **lines) {
    json_t *lpv = json_object_get(job->params, "logprobs");
    const bool want_lp = json_is_integer(lpv), echo = json_is_true(json_object_get(job->params, "echo"));
    const int64_t top_n = want_lp ? json_integer_value(lpv) : 0;
    const char *why = NULL;
    int status = 500;
    json_t *choices = json_array();
    int64_t prompt_tokens = 0, completion_tokens = 0;
    if (!choices) {
        why = "out of memory";
        goto done;
    }
    for (int64_t i = 0; i < job->n; i++) {
        json_t *line = lines ? lines[i] : NULL, *err = line ? json_object_get(line, "error") : NULL;
        if (err) {
            why = json_string_value(err);
            status = 400;
            goto done;
        }
        int32_t *pids = NULL, *all = NULL, *top_ids = NULL;
        double *lp = NULL, *top_lp = NULL;
        int64_t np = 0;
        json_t *gen = json_object_get(line, "ids");
        const int64_t ng = (int64_t)json_array_size(gen);
        const char *text = line ? json_string_value(json_object_get(line, "text")) : "";
        const char *finish = line ? json_string_value(json_object_get(line, "finish_reason")) : "length";
        if (llm_prompt_ids(S->tok, &S->chat, false, NULL, job->texts[i], strlen(job->texts[i]), &pids, &np) !=
            SENTI_OK) {
            why = senti_last_error();
            goto done;
        }
        prompt_tokens += np;
        completion_tokens += ng;
        json_t *lpo = json_null();
        if (want_lp && np + ng > 0) {
            const int64_t nt = np + ng;
            all = malloc((size_t)nt * sizeof *all);
            lp = malloc((size_t)nt * sizeof *lp);
            top_ids = malloc((size_t)(nt * top_n + 1) * sizeof *top_ids);
            top_lp = malloc((size_t)(nt * top_n + 1) * sizeof *top_lp);
            if (all && lp && top_ids && top_lp) {
                memcpy(all, pids, (size_t)np * sizeof *all);
                for (int64_t k = 0; k < ng; k++) all[np + k] = (int32_t)json_integer_value(json_array_get(gen, (size_t)k));
                if (llm_token_logprobs(S->m, all, nt, top_n, lp, top_ids, top_lp) != SENTI_OK) why = senti_last_error();
                else lpo = logprobs_json(S, all, nt, echo ? 0 : np, lp, top_ids, top_lp, top_n);
            } else {
                why = "out of memory";
            }
        }
        free(all);
        free(lp);
        free(top_ids);
        free(top_lp);
        senti_mfree(pids);
        if (why) {
            status = 400;
            goto done;
        }
        json_t *t = json_string(text ? text : "");
        if (echo) {
            char *both = NULL;
            if (asprintf(&both, "%s%s", job->texts[i], text ? text : "") >= 0) {
                json_decref(t);
                t = json_string(both);
                free(both);
            }
        }
        json_array_append_new(choices, json_pack("{sosIsoss}", "text", t, "index", (json_int_t)i, "logprobs", lpo,
                                                 "finish_reason", finish ? finish : "length"));
    }
    char id[48];
    snprintf(id, sizeof id, "cmpl-%llu", (unsigned long long)__atomic_add_fetch(&S->next_id, 1, __ATOMIC_RELAXED));
    job->answer = json_pack("{sssssIsssOs{sIsIsI}}", "id", id, "object", "text_completion", "created",
                            (json_int_t)time(NULL), "model", S->dir, "choices", choices, "usage", "prompt_tokens",
                            (json_int_t)prompt_tokens, "completion_tokens", (json_int_t)completion_tokens,
                            "total_tokens", (json_int_t)(prompt_tokens + completion_tokens));
    if (!job->answer) why = "out of memory";
done:
    if (why) fail_jobs(&job, 1, status, why);
    json_decref(choices);
}

/* Completion requests: those of equal generation settings generate their
 * prompts as one batch; then each request's answer. */
static void run_completes(serve *S, serve_job **jobs, int64_t n) {
    bool *done = calloc((size_t)n, sizeof *done);
    serve_job **group = calloc((size_t)n, sizeof *group);
    if (!done || !group) {
        fail_jobs(jobs, n, 500, "out of memory");
        free(done), free(group);
        return;
    }
    for (int64_t first = 0; first < n; first++) {
        if (done[first]) continue; /* (a later group takes what one left) */
        const char *stop[4];
        int64_t n_stop;
        llm_generate_opts o = complete_opts(S, jobs[first]->params, stop, &n_stop);
        /* the KV cache holds every prompt's room (prompt + new tokens) at the longest's: a group stays
         * within GROUP_CACHE tokens of it (a request alone may pass it, as it ran before) */
        enum { GROUP_CACHE = 1 << 16 };
        int64_t ng = 0, texts = 0, room = 0;
        double deadline = 0;
        for (int64_t j = first; j < n; j++) {
            if (done[j] || !same_generation(jobs[first], jobs[j])) continue;
            const int64_t r = jobs[j]->tokens + (o.gen.max_new_tokens > 0 ? o.gen.max_new_tokens : 0);
            const int64_t room2 = r > room ? r : room;
            if (ng > 0 && (texts + jobs[j]->n) * room2 > GROUP_CACHE) continue;
            room = room2;
            done[j] = true;
            group[ng++] = jobs[j];
            texts += jobs[j]->n;
            deadline = jobs[j]->deadline > deadline ? jobs[j]->deadline : deadline;
        }
        o.gen.cancel = past_deadline;
        o.gen.cancel_ctx = &deadline;
        const char **all = calloc((size_t)texts + 1, sizeof *all);
        json_t **lines = calloc((size_t)texts + 1, sizeof *lines);
        const char *why = !all || !lines ? "out of memory" : NULL;
        for (int64_t g = 0, k = 0; !why && g < ng; g++)
            for (int64_t i = 0; i < group[g]->n; i++) all[k++] = group[g]->texts[i];
        char *buf = NULL;
        size_t len = 0;
        if (!why && o.gen.max_new_tokens > 0) {
            FILE *f = open_memstream(&buf, &len);
            task_source *src = task_source_texts(all, texts);
            task_runner_opts ro = S->ro;
            ro.batch_size = texts;
            senti_status s = f && src ? llm_generate_run(S->m, S->tok, &S->chat, &o, &ro, src, f, NULL)
                                      : SENTI_ERR_NO_MEMORY;
            if (s != SENTI_OK) why = f && src ? senti_last_error() : "out of memory";
            task_source_free(src);
            if (f && fclose(f) != 0 && !why) why = "out of memory";
            char *save = NULL, *l = buf && !why ? strtok_r(buf, "\n", &save) : NULL;
            for (int64_t i = 0; !why && i < texts; i++, l = strtok_r(NULL, "\n", &save))
                if (!l || !(lines[i] = json_loads(l, 0, NULL))) why = "out of memory";
        }
        if (why) fail_jobs(group, ng, 500, why);
        else
            for (int64_t g = 0, k = 0; g < ng; k += group[g]->n, g++)
                finish_complete(S, group[g], o.gen.max_new_tokens > 0 ? lines + k : NULL);
        for (int64_t i = 0; lines && i < texts; i++) json_decref(lines[i]);
        free(lines);
        free(all);
        free(buf);
    }
    free(done);
    free(group);
}

void serve_run_batch(serve *S, serve_job **jobs, int64_t n) {
    if (n < 1) return;
    if (jobs[0]->kind == SERVE_COMPLETE) {
        run_completes(S, jobs, n);
        return;
    }
    run_tasks(S, jobs, n);
}

/* ---- the handlers' side ---------------------------------------------------------- */

/* "inputs" (a string, or an array of 1..max strings) as new copies. */
static bool get_inputs(json_t *v, int64_t max, char ***texts, int64_t *n, char *err, size_t errn) {
    const bool one = json_is_string(v);
    const size_t k = one ? 1 : json_array_size(v);
    if (!one && (!json_is_array(v) || k == 0)) {
        snprintf(err, errn, "\"inputs\" must be a string or a non-empty array of strings");
        return false;
    }
    if ((int64_t)k > max) {
        snprintf(err, errn, "%zu inputs: at most %lld per request (--max-batch-requests)", k, (long long)max);
        return false;
    }
    *texts = calloc(k + 1, sizeof **texts);
    *n = (int64_t)k;
    for (size_t i = 0; *texts && i < k; i++) {
        json_t *s = one ? v : json_array_get(v, i);
        if (!json_is_string(s)) {
            snprintf(err, errn, "input %zu is not a string", i);
            return false;
        }
        if (!((*texts)[i] = strdup(json_string_value(s)))) break;
    }
    if (!*texts || (k && !(*texts)[k - 1])) {
        snprintf(err, errn, "out of memory");
        return false;
    }
    return true;
}

static void free_texts(char **t, int64_t n) {
    for (int64_t i = 0; t && i < n; i++) free(t[i]);
    free(t);
}

/* The most tokens one request may hold: --max-batch-tokens (a request runs in
 * one batch), and at least one input of the model's length. A larger request
 * would hold the worker (or, /tokenize, its memory) past any batch's bound. */
static int64_t request_tokens(const serve *S) {
    return S->max_batch_tokens > S->max_len ? S->max_batch_tokens : S->max_len;
}

/* 413 with the message in err when total tokens pass request_tokens; else 0. */
static int over_request(const serve *S, int64_t total, char *err, size_t errn) {
    if (total <= request_tokens(S)) return 0;
    snprintf(err, errn, "the inputs hold %lld tokens, more than the %lld one request may (--max-batch-tokens; send "
             "fewer inputs a request)", (long long)total, (long long)request_tokens(S));
    return 413;
}

/* Tokens each text runs as (max_len at most: truncation) into *total; a text
 * longer than max_len is refused unless truncate, and so is a request of more
 * tokens than request_tokens. 0 ok, else the HTTP status. */
static int count_tokens(serve *S, serve_kind kind, char **texts, int64_t n, bool truncate, int64_t *total, char *err,
                        size_t errn) {
    *total = 0;
    for (int64_t i = 0; i < n; i++) {
        senti_encoding *e = NULL;
        if (senti_tokenizer_encode(S->tok, texts[i], strlen(texts[i]), NULL, 0, NULL, &e) != SENTI_OK) {
            snprintf(err, errn, "input %lld: %s", (long long)i, senti_last_error());
            return 422;
        }
        const int64_t len = senti_encoding_len(e);
        senti_encoding_free(e);
        if (len > S->max_len && !truncate) {
            snprintf(err, errn, "input %lld: %lld tokens, more than the model's %lld%s", (long long)i, (long long)len,
                     (long long)S->max_len, kind == SERVE_COMPLETE ? "" : " (send \"truncate\": true)");
            return 413;
        }
        *total += len < S->max_len ? len : S->max_len;
    }
    return over_request(S, *total, err, errn);
}

static const char *status_type(int code) {
    return code == 429 || code == 503 ? "Overloaded" : code == 504 ? "Timeout" : code >= 500 ? "Backend" : "Validation";
}

/* Queue job and wait; on failure a body with the status. NULL: done (results in job). */
static char *submit(serve *S, serve_job *job, int *code, bool *owned) {
    const int c = serve_submit(S, job);
    *owned = c != 504;
    if (c == 0 && job->status == 0) return NULL;
    if (c == 429) return fail(code, 429, "Overloaded", "the queue is full (--max-queue %lld): retry later", (long long)S->max_queue);
    if (c == 503) return fail(code, 503, "Overloaded", "not started within %lld ms, or shutting down", (long long)S->timeout_ms);
    if (c == 504) return fail(code, 504, "Timeout", "not finished within %lld ms (--timeout-ms)", (long long)S->timeout_ms);
    return fail(code, job->status, status_type(job->status), "%s", job->error ? job->error : "failed");
}

/* texts (n, owned from here on) as one job of kind: their tokens counted
 * (refused past max_len unless truncate), queued (params: the request, kept
 * by the job) and waited for. *jobp is the job, or NULL when it was refused
 * before queueing (the body says why; NULL body: out of memory); otherwise
 * as submit, with *owned telling whether the caller frees the job. */
static char *queue_texts(serve *S, serve_kind kind, char **texts, int64_t n, bool truncate, json_t *params, int *code,
                         serve_job **jobp, bool *owned) {
    char err[256];
    int64_t tokens = 0;
    *jobp = NULL;
    const int c = count_tokens(S, kind, texts, n, truncate, &tokens, err, sizeof err);
    serve_job *job = c ? NULL : calloc(1, sizeof *job);
    if (!job) {
        free_texts(texts, n);
        return c ? fail(code, c, "Validation", "%s", err) : NULL;
    }
    *job = (serve_job){.kind = kind, .texts = texts, .n = n, .tokens = tokens, .params = json_incref(params)};
    *jobp = job;
    return submit(S, job, code, owned);
}

/* {"label","score"} pairs of a result's map (scores or logits), best first, label order on ties. */
static json_t *ranked(json_t *map) {
    const size_t n = json_object_size(map);
    json_t *out = json_array();
    const char **keys = calloc(n + 1, sizeof *keys);
    double *vals = calloc(n + 1, sizeof *vals);
    size_t k = 0;
    const char *key;
    json_t *v;
    if (!out || !keys || !vals) goto done;
    json_object_foreach(map, key, v) {
        size_t j = k++;
        const double x = json_number_value(v);
        while (j > 0 && vals[j - 1] < x) keys[j] = keys[j - 1], vals[j] = vals[j - 1], j--; /* stable: label order on ties */
        keys[j] = key, vals[j] = x;
    }
    for (size_t i = 0; i < n; i++) json_array_append_new(out, json_pack("{sssf}", "label", keys[i], "score", vals[i]));
done:
    free(keys);
    free(vals);
    return out;
}

static char *handle_predict_embed(serve *S, serve_kind kind, json_t *req, int *code) {
    char err[256];
    char **texts = NULL;
    int64_t n = 0;
    json_t *in = json_object_get(req, "inputs");
    if (!get_inputs(in, S->max_batch_requests, &texts, &n, err, sizeof err)) {
        free_texts(texts, n);
        return fail(code, 422, "Validation", "%s", err);
    }
    bool truncate, raw, normalize;
    const char *bad = !get_flag(req, "truncate", false, &truncate)       ? "truncate"
                      : !get_flag(req, "raw_scores", false, &raw)        ? "raw_scores"
                      : !get_flag(req, "normalize", S->emb.normalize, &normalize) ? "normalize"
                                                                         : NULL;
    if (bad) {
        free_texts(texts, n);
        return fail(code, 422, "Validation", "\"%s\" must be true or false", bad);
    }
    if (kind == SERVE_EMBED && normalize != S->emb.normalize) {
        free_texts(texts, n);
        return fail(code, 400, "Validation", "this server embeds with normalize=%s (the model's config, or "
                    "--normalize / --no-normalize)", S->emb.normalize ? "true" : "false");
    }
    serve_job *job;
    bool owned;
    char *body = queue_texts(S, kind, texts, n, truncate, NULL, code, &job, &owned);
    if (!job) return body;
    if (!body) {
        json_t *out = json_array();
        for (int64_t i = 0; out && i < n; i++) {
            json_t *line = json_loads(job->lines[i], 0, NULL);
            json_t *e = json_object_get(line, "error");
            if (e) {
                body = fail(code, 422, "Validation", "input %lld: %s", (long long)i, json_string_value(e));
                json_decref(line);
                json_decref(out);
                out = NULL;
                break;
            }
            json_t *r = kind == SERVE_EMBED ? json_incref(json_object_get(line, "embedding"))
                                            : ranked(json_object_get(line, raw ? "logits" : "scores"));
            json_decref(line);
            json_array_append_new(out, r);
        }
        if (out) {
            *code = 200;
            body = dump(kind == SERVE_PREDICT && json_is_string(in) ? json_incref(json_array_get(out, 0)) : json_incref(out));
            json_decref(out);
        }
    }
    if (owned) serve_job_free(job);
    return body;
}

static char *handle_tokenize(serve *S, json_t *req, int *code) {
    char err[256];
    char **texts = NULL;
    int64_t n = 0;
    if (!get_inputs(json_object_get(req, "inputs"), S->max_batch_requests, &texts, &n, err, sizeof err)) {
        free_texts(texts, n);
        return fail(code, 422, "Validation", "%s", err);
    }
    bool add_special;
    if (!get_flag(req, "add_special_tokens", true, &add_special)) {
        free_texts(texts, n);
        return fail(code, 422, "Validation", "\"add_special_tokens\" must be true or false");
    }
    senti_encode_opts eo = senti_encode_opts_defaults();
    eo.add_special_tokens = add_special;
    json_t *out = json_array();
    char *body = NULL;
    int64_t total = 0;
    for (int64_t i = 0; out && i < n; i++) {
        senti_encoding *e = NULL;
        if (senti_tokenizer_encode(S->tok, texts[i], strlen(texts[i]), NULL, 0, &eo, &e) != SENTI_OK) {
            body = fail(code, 422, "Validation", "input %lld: %s", (long long)i, senti_last_error());
            break;
        }
        const int64_t len = senti_encoding_len(e);
        if ((total += len) > request_tokens(S)) { /* each token is a JSON object: bound the answer */
            senti_encoding_free(e);
            body = fail(code, 413, "Validation", "the inputs hold more than the %lld tokens one request may "
                        "(--max-batch-tokens; input %lld passes it): send fewer inputs a request",
                        (long long)request_tokens(S), (long long)i);
            break;
        }
        const int32_t *ids = senti_encoding_ids(e), *offs = senti_encoding_offsets(e);
        const uint8_t *special = senti_encoding_special_mask(e);
        json_t *toks = json_array();
        for (int64_t k = 0; toks && k < len; k++)
            json_array_append_new(toks, json_pack("{sisssbsisi}", "id", ids[k], "text", senti_encoding_token(e, k),
                                                  "special", special[k] != 0, "start", offs[2 * k], "stop",
                                                  offs[2 * k + 1]));
        json_array_append_new(out, toks);
        senti_encoding_free(e);
    }
    free_texts(texts, n);
    if (!body) {
        *code = 200;
        body = dump(json_incref(out));
    }
    json_decref(out);
    return body;
}

static char *handle_complete(serve *S, json_t *req, int *code) {
    char err[256];
    char **texts = NULL;
    int64_t n = 0;
    json_t *v;
    const char *bad = (v = json_object_get(req, "n")) && !(json_is_integer(v) && json_integer_value(v) == 1)
                          ? "only \"n\": 1 is supported"
                      : (v = json_object_get(req, "max_tokens")) && !json_is_null(v) &&
                              !(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 1 << 16)
                          ? "\"max_tokens\" must be an integer in 0..65536"
                      : (v = json_object_get(req, "temperature")) && !json_is_null(v) &&
                              !(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 100)
                          ? "\"temperature\" must be a number in [0, 100]"
                      : (v = json_object_get(req, "top_p")) && !json_is_null(v) &&
                              !(json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) <= 1)
                          ? "\"top_p\" must be a number in (0, 1]"
                      : (v = json_object_get(req, "logprobs")) && !json_is_null(v) &&
                              !(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 20)
                          ? "\"logprobs\" must be null or an integer in 0..20"
                      : (v = json_object_get(req, "seed")) && !json_is_null(v) &&
                              !(json_is_integer(v) && json_integer_value(v) >= 0)
                          ? "\"seed\" must be a non-negative integer"
                      : (v = json_object_get(req, "stream")) && !json_is_null(v) && !json_is_false(v)
                          ? "only \"stream\": false is supported (one answer per request)"
                      : (v = json_object_get(req, "echo")) && !json_is_null(v) && !json_is_boolean(v)
                          ? "\"echo\" must be true or false"
                      : (v = json_object_get(req, "stop")) && !json_is_null(v) && !json_is_string(v) &&
                              !(json_is_array(v) && json_array_size(v) <= 4)
                          ? "\"stop\" must be a string or up to 4 strings"
                          : NULL;
    for (size_t i = 0; !bad && json_is_array(v) && i < json_array_size(v); i++)
        if (!json_is_string(json_array_get(v, i)) || !*json_string_value(json_array_get(v, i)))
            bad = "\"stop\" strings must be non-empty strings";
    if (!bad && json_is_string(v) && !*json_string_value(v)) bad = "\"stop\" must not be empty";
    if (bad) return fail(code, 422, "Validation", "%s", bad);
    if (!get_inputs(json_object_get(req, "prompt"), S->max_batch_requests, &texts, &n, err, sizeof err)) {
        free_texts(texts, n);
        return fail(code, 422, "Validation", "\"prompt\": %s", err + (strncmp(err, "\"inputs\"", 8) ? 0 : 9));
    }
    serve_job *job;
    bool owned;
    char *body = queue_texts(S, SERVE_COMPLETE, texts, n, false, req, code, &job, &owned);
    if (!job) return body;
    if (!body) {
        *code = 200;
        body = dump(json_incref(job->answer));
    }
    if (owned) serve_job_free(job);
    return body;
}

static char *handle_info(serve *S, int *code) {
    json_t *labels = json_array();
    for (int64_t i = 0; labels && i < senti_model_num_labels(S->m); i++) {
        const char *l = senti_model_label(S->m, i);
        json_array_append_new(labels, l ? json_string(l) : json_sprintf("LABEL_%lld", (long long)i));
    }
    *code = 200;
    return dump(json_pack("{sssssssIsIsIsIso}", "model_id", S->dir, "architecture", senti_model_architecture(S->m),
                          "model_type", S->classifier ? "classifier" : S->embedder ? "embedding" : S->causal ? "causal_lm" : "other",
                          "max_input_length", (json_int_t)S->max_len, "max_batch_tokens", (json_int_t)S->max_batch_tokens,
                          "max_batch_requests", (json_int_t)S->max_batch_requests, "max_queue", (json_int_t)S->max_queue,
                          "labels", labels));
}

char *serve_handle(serve *S, serve_ep ep, const char *method, const char *body, size_t len, int *code,
                   const char **ctype) {
    *ctype = "application/json";
    /* HEAD: a GET whose body libmicrohttpd leaves out */
    const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    switch (ep) {
    case EP_HEALTH:
        if (!get) break;
        *code = 200;
        return strdup("{\"status\":\"ok\"}");
    case EP_INFO:
        if (!get) break;
        return handle_info(S, code);
    case EP_METRICS:
        if (!get) break;
        *code = 200;
        *ctype = "text/plain; version=0.0.4";
        return serve_metrics_text(S);
    case EP_OTHER: return fail(code, 404, "NotFound", "no endpoint here (POST /predict, /embed, /tokenize, "
                               "/v1/completions; GET /health, /info, /metrics)");
    default: {
        if (!post) break;
        const bool ok = ep == EP_TOKENIZE || (ep == EP_PREDICT && S->classifier) || (ep == EP_EMBED && S->embedder) ||
                        (ep == EP_COMPLETIONS && S->causal);
        if (!ok)
            return fail(code, 424, "Validation", "%s: the model (%s) is not %s", ep == EP_PREDICT ? "/predict" :
                        ep == EP_EMBED ? "/embed" : "/v1/completions", senti_model_architecture(S->m),
                        ep == EP_PREDICT ? "a sequence classifier" : ep == EP_EMBED ? "a base encoder (embeddings)"
                                                                                   : "a causal language model");
        json_error_t je;
        json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je); /* (as the CLI's JSONL records) */
        if (!json_is_object(req)) {
            json_decref(req);
            const char *why = strstr(je.text, "JSON_ALLOW_NUL") ? "\\u0000 (NUL) is not allowed" : je.text;
            return fail(code, 422, "Validation", "the body is not a JSON object: %s", req ? "another JSON value" : why);
        }
        char *out = ep == EP_TOKENIZE ? handle_tokenize(S, req, code)
                    : ep == EP_COMPLETIONS ? handle_complete(S, req, code)
                                           : handle_predict_embed(S, ep == EP_PREDICT ? SERVE_PREDICT : SERVE_EMBED, req, code);
        json_decref(req);
        return out;
    }
    }
    return fail(code, 405, "Validation", "method %s not allowed here", method);
}

#endif /* SENTI_HAVE_MHD */
