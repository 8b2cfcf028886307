/* serve.c — `senti serve -m DIR [--host H] [--port P] [limits]`: an HTTP
 * server (libmicrohttpd, one thread per connection) in front of one model
 * instance. Requests that need the model become jobs on a bounded FIFO
 * queue; one worker thread takes the oldest job plus the following jobs of
 * the same kind while their tokens fit the batch budget, runs them as one
 * batch through the task runner, and hands each its own lines (batch
 * invariance makes them the bytes the CLI prints). Endpoints: serve_routes.c.
 *
 * Invariants: the queue never holds more than --max-queue jobs (429
 * beyond); a body never grows past --max-body-bytes (413); every request is
 * answered by its deadline (503 while still queued, 504 once running), and
 * a queued request whose client closes the connection leaves the queue; a
 * connection that has not delivered a whole request (headers and body)
 * within --request-timeout-ms of opening or of its last answer is closed;
 * SIGTERM / SIGINT stop the listener, answer new requests on open
 * connections with 503, finish every queued and running job, then exit 0. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "../core/formats.h"
#include "serve.h"

int cmd_serve(int argc, char **argv);

#ifndef SENTI_HAVE_MHD

int cmd_serve(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "senti serve: this senti was built without HTTP support (libmicrohttpd was not found when it "
                    "was configured: install libmicrohttpd-dev and rebuild)\n");
    return 1;
}

#else

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

double serve_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct timespec abs_time(double mono_s) {
    /* condition variables below use CLOCK_MONOTONIC (pthread_condattr_setclock) */
    struct timespec ts = {(time_t)mono_s, (long)((mono_s - (double)(time_t)mono_s) * 1e9)};
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return ts;
}

void serve_job_free(serve_job *j) {
    if (!j) return;
    for (int64_t i = 0; i < j->n; i++) {
        free(j->texts ? j->texts[i] : NULL);
        free(j->lines ? j->lines[i] : NULL);
    }
    free(j->texts);
    free(j->lines);
    free(j->error);
    json_decref(j->params);
    json_decref(j->answer);
    free(j);
}

/* Unlink job from the queue (the lock held). */
static void unlink_job(serve *S, serve_job *job) {
    serve_job **p = &S->head, *prev = NULL;
    while (*p && *p != job) prev = *p, p = &(*p)->next;
    if (!*p) return;
    *p = job->next;
    if (S->tail == job) S->tail = prev;
    job->next = NULL;
    S->queued--;
    S->queued_tokens -= job->tokens;
}

/* The socket of the connection this thread answers (one thread per
 * connection: set by on_request around serve_handle); -1: none. */
static _Thread_local int t_client_fd = -1;

/* The client has closed its side (end of stream; pipelined bytes are not an
 * end). As nginx does by default, a client that closes while its request
 * waits is taken to have given up. */
static bool client_gone(int fd) {
    char c;
    return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

int serve_submit(serve *S, serve_job *job) {
    pthread_mutex_lock(&S->mu);
    if (S->draining) {
        pthread_mutex_unlock(&S->mu);
        return 503;
    }
    if (S->queued >= S->max_queue) {
        pthread_mutex_unlock(&S->mu);
        return 429;
    }
    job->arrival = serve_now();
    job->deadline = job->arrival + (double)S->timeout_ms / 1000.0;
    job->state = JOB_QUEUED;
    job->next = NULL;
    if (S->tail) S->tail->next = job;
    else S->head = job;
    S->tail = job;
    S->queued++;
    S->queued_tokens += job->tokens;
    pthread_cond_signal(&S->work_cv);
    bool gone = false;
    while (job->state != JOB_DONE && serve_now() < job->deadline) {
        /* while queued, look at the client every 0.1 s: one that hung up loses its place */
        const double next = job->state == JOB_QUEUED && serve_now() + 0.1 < job->deadline ? serve_now() + 0.1
                                                                                          : job->deadline;
        const struct timespec until = abs_time(next);
        if (pthread_cond_timedwait(&S->done_cv, &S->mu, &until) == ETIMEDOUT && next >= job->deadline) break;
        if (job->state == JOB_QUEUED && (gone = client_gone(t_client_fd))) break;
    }
    int code = 0;
    if (job->state == JOB_QUEUED) { /* timed out, or its client left, before the worker took it */
        unlink_job(S, job);
        if (gone) S->mt.client_gone++;
        code = 503;
    } else if (job->state == JOB_RUNNING) { /* the worker frees it when done */
        job->state = JOB_ABANDONED;
        code = 504;
    }
    pthread_mutex_unlock(&S->mu);
    return code;
}

/* The next batch (the lock held): the oldest job, then the later jobs of its
 * kind while the inputs and tokens fit (completions of equal settings then
 * generate together: serve_run_batch). */
static int64_t take_batch(serve *S, serve_job **out, int64_t cap) {
    serve_job *first = S->head;
    int64_t n = 0, tokens = 0, inputs = 0;
    for (serve_job *j = first, *next; j && n < cap; j = next) {
        next = j->next;
        if (j->kind != first->kind) continue;
        if (n > 0 && (tokens + j->tokens > S->max_batch_tokens || inputs + j->n > S->max_batch_requests)) break;
        tokens += j->tokens;
        inputs += j->n;
        unlink_job(S, j);
        j->state = JOB_RUNNING;
        out[n++] = j;
    }
    return n;
}

static void *worker_main(void *arg) {
    serve *S = arg;
    const int64_t cap = S->max_batch_requests;
    serve_job **batch = calloc((size_t)cap + 1, sizeof *batch);
    pthread_mutex_lock(&S->mu);
    while (batch) {
        while (!S->head && !S->stop) pthread_cond_wait(&S->work_cv, &S->mu);
        if (!S->head) break; /* stop, and nothing left */
        /* --batch-delay-ms: let more requests join, unless the budget is full */
        double until = S->head->arrival + (double)S->batch_delay_ms / 1000.0;
        while (S->head && S->batch_delay_ms > 0 && !S->draining && serve_now() < until &&
               S->queued_tokens < S->max_batch_tokens && S->queued < S->max_batch_requests) {
            const struct timespec ts = abs_time(until);
            pthread_cond_timedwait(&S->work_cv, &S->mu, &ts);
        }
        if (!S->head) continue;
        int64_t n = take_batch(S, batch, cap);
        S->running += n;
        pthread_mutex_unlock(&S->mu);
        const double t0 = serve_now();
        serve_run_batch(S, batch, n);
        const double dt = serve_now() - t0;
        pthread_mutex_lock(&S->mu);
        int64_t inputs = 0, tokens = 0;
        for (int64_t i = 0; i < n; i++) {
            inputs += batch[i]->n;
            tokens += batch[i]->tokens;
            if (batch[i]->state == JOB_ABANDONED) serve_job_free(batch[i]);
            else batch[i]->state = JOB_DONE;
        }
        static const int64_t BOUNDS[SERVE_N_BATCH - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
        int b = 0;
        while (b < SERVE_N_BATCH - 1 && inputs > BOUNDS[b]) b++;
        S->mt.batch[b]++;
        S->mt.batch_n++;
        S->mt.batch_inputs += (uint64_t)inputs;
        S->mt.batch_tokens += (uint64_t)tokens;
        S->mt.batch_seconds += dt;
        S->running -= n;
        pthread_cond_broadcast(&S->done_cv);
    }
    pthread_mutex_unlock(&S->mu);
    free(batch);
    return NULL;
}

/* ---- metrics ------------------------------------------------------------------ */

static const int CODES[SERVE_N_CODES] = {200, 400, 404, 405, 413, 422, 424, 429, 500, 501, 503, 504, 0};
static const double LAT_BOUNDS[SERVE_N_LAT - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                   0.25,  0.5,    1,     2.5,  5,     10};
static const char *const EP_NAMES[EP_COUNT] = {"/predict", "/embed", "/tokenize", "/v1/completions",
                                               "/health",  "/info",  "/metrics",  "other"};

static void record(serve *S, serve_ep ep, int code, double seconds) {
    int c = 0;
    while (c < SERVE_N_CODES - 1 && CODES[c] != code) c++;
    int b = 0;
    while (b < SERVE_N_LAT - 1 && seconds > LAT_BOUNDS[b]) b++;
    pthread_mutex_lock(&S->mu);
    S->mt.requests[ep][c]++;
    S->mt.lat[ep][b]++;
    S->mt.lat_sum[ep] += seconds;
    S->mt.lat_n[ep]++;
    pthread_mutex_unlock(&S->mu);
}

char *serve_metrics_text(serve *S) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    pthread_mutex_lock(&S->mu);
    const serve_metrics m = S->mt;
    const int64_t queued = S->queued, running = S->running, in_flight = S->in_flight;
    pthread_mutex_unlock(&S->mu);
    fprintf(f, "# HELP senti_requests_total HTTP requests answered, by endpoint and status code.\n"
               "# TYPE senti_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int c = 0; c < SERVE_N_CODES; c++)
            if (m.requests[e][c] || (c == 0 && e <= EP_COMPLETIONS))
                fprintf(f, "senti_requests_total{endpoint=\"%s\",code=\"%s%d\"} %llu\n", EP_NAMES[e],
                        CODES[c] ? "" : "other", CODES[c] ? CODES[c] : 0, (unsigned long long)m.requests[e][c]);
    fprintf(f, "# HELP senti_request_duration_seconds Time from a complete request to its answer.\n"
               "# TYPE senti_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT; e++) {
        if (!m.lat_n[e] && e > EP_COMPLETIONS) continue;
        uint64_t acc = 0;
        for (int b = 0; b < SERVE_N_LAT; b++) {
            acc += m.lat[e][b];
            if (b < SERVE_N_LAT - 1)
                fprintf(f, "senti_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", EP_NAMES[e],
                        LAT_BOUNDS[b], (unsigned long long)acc);
            else
                fprintf(f, "senti_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", EP_NAMES[e],
                        (unsigned long long)acc);
        }
        fprintf(f, "senti_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", EP_NAMES[e], m.lat_sum[e]);
        fprintf(f, "senti_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", EP_NAMES[e],
                (unsigned long long)m.lat_n[e]);
    }
    static const char *const BATCH_LE[SERVE_N_BATCH] = {"1", "2", "4", "8", "16", "32", "64", "128", "256", "512",
                                                        "+Inf"};
    fprintf(f, "# HELP senti_batch_size Inputs per batch the worker ran.\n# TYPE senti_batch_size histogram\n");
    uint64_t acc = 0;
    for (int b = 0; b < SERVE_N_BATCH; b++) {
        acc += m.batch[b];
        fprintf(f, "senti_batch_size_bucket{le=\"%s\"} %llu\n", BATCH_LE[b], (unsigned long long)acc);
    }
    fprintf(f, "senti_batch_size_sum %llu\nsenti_batch_size_count %llu\n", (unsigned long long)m.batch_inputs,
            (unsigned long long)m.batch_n);
    fprintf(f, "# HELP senti_batch_tokens_total Tokens run through the model.\n# TYPE senti_batch_tokens_total counter\n"
               "senti_batch_tokens_total %llu\n", (unsigned long long)m.batch_tokens);
    fprintf(f, "# HELP senti_batch_seconds_total Seconds the worker spent running batches.\n"
               "# TYPE senti_batch_seconds_total counter\nsenti_batch_seconds_total %.6f\n", m.batch_seconds);
    fprintf(f, "# HELP senti_queue_depth Jobs waiting for the worker.\n# TYPE senti_queue_depth gauge\n"
               "senti_queue_depth %lld\n", (long long)queued);
    fprintf(f, "# HELP senti_queue_capacity The most jobs the queue holds (--max-queue).\n"
               "# TYPE senti_queue_capacity gauge\nsenti_queue_capacity %lld\n", (long long)S->max_queue);
    fprintf(f, "# HELP senti_running Jobs in the batch the worker is running.\n# TYPE senti_running gauge\n"
               "senti_running %lld\n", (long long)running);
    fprintf(f, "# HELP senti_in_flight Requests being handled.\n# TYPE senti_in_flight gauge\nsenti_in_flight %lld\n",
            (long long)in_flight);
    fprintf(f, "# HELP senti_client_gone_total Queued requests dropped because their client closed the connection.\n"
               "# TYPE senti_client_gone_total counter\nsenti_client_gone_total %llu\n", (unsigned long long)m.client_gone);
    fprintf(f, "# HELP senti_connections_timed_out_total Connections closed for not sending a whole request within "
               "--request-timeout-ms.\n# TYPE senti_connections_timed_out_total counter\n"
               "senti_connections_timed_out_total %llu\n", (unsigned long long)m.timed_out);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- HTTP ------------------------------------------------------------------------- */

typedef struct conn {
    char *body;
    size_t len, cap;
    bool too_big, refused; /* the body passes --max-body-bytes; its 413 is queued */
    bool counted;          /* in S->in_flight until on_completed: its answer sent (or the connection gone) */
} conn;

static serve_ep ep_of(const char *url) {
    for (int e = 0; e < EP_OTHER; e++)
        if (!strcmp(url, EP_NAMES[e])) return (serve_ep)e;
    return EP_OTHER;
}

static enum MHD_Result reply(struct MHD_Connection *c, int code, char *body, const char *ctype, const char *allow,
                                bool close) {
    static const char OOM[] = "{\"error\":\"out of memory\",\"error_type\":\"Backend\"}";
    struct MHD_Response *r =
        body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(sizeof OOM - 1, (void *)OOM, MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", body ? ctype : "application/json");
    if (body && code == 405 && allow) MHD_add_response_header(r, "Allow", allow);
    if (close) MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ok = MHD_queue_response(c, body ? (unsigned)code : 500u, r);
    MHD_destroy_response(r);
    return ok;
}

void serve_utf8_clean(char *msg) {
    const size_t n = strlen(msg);
    for (int64_t at; (at = senti_utf8_invalid_at(msg, n)) >= 0;) msg[at] = '?';
}

static char *error_body(const char *msg, const char *type) {
    char clean[512];
    snprintf(clean, sizeof clean, "%s", msg);
    serve_utf8_clean(clean);
    json_t *o = json_pack("{ssss}", "error", clean, "error_type", type);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

/* A JSON error answer queued before the body is read (or read whole):
 * libmicrohttpd then drops the rest of the body and closes the connection. */
static enum MHD_Result refuse(serve *S, struct MHD_Connection *c, const char *url, int code, const char *msg,
                               bool close) {
    char *body = error_body(msg, "Validation");
    enum MHD_Result ok = reply(c, code, body, "application/json", NULL, close);
    record(S, ep_of(url), body ? code : 500, 0.0);
    return ok;
}
/* 413 for a body over --max-body-bytes: at the headers when the length is
 * declared (no 100 Continue, nothing read); a chunked one once it has been
 * read to its end without being kept (libmicrohttpd queues no answer while a
 * body is arriving; the request deadline bounds the wait), the connection
 * then closed. */
static enum MHD_Result refuse_body(serve *S, struct MHD_Connection *c, const char *url, bool close) {
    char msg[96];
    snprintf(msg, sizeof msg, "request body larger than %zu bytes (--max-body-bytes)", S->max_body);
    return refuse(S, c, url, 413, msg, close);
}

/* Content-Length headers: how many, and whether their values differ. */
typedef struct cl_count { int n; bool differ; const char *first; } cl_count;
static enum MHD_Result count_cl(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    cl_count *k = cls;
    (void)kind;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
    if (k->n++ == 0) k->first = value;
    else if (strcmp(k->first, value ? value : "") != 0) k->differ = true;
    return MHD_YES;
}

/* Framing libmicrohttpd lets through that RFC 9112 refuses: a transfer coding
 * other than chunked (it would wait for a body it cannot delimit: 501) and
 * Content-Length headers that disagree (request smuggling: 400). NULL: fine. */
static const char *bad_framing(struct MHD_Connection *c, int *code) {
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te && strcasecmp(te, "chunked") != 0) {
        *code = 501;
        return "only the chunked Transfer-Encoding is supported";
    }
    cl_count k = {0, false, NULL};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_cl, &k);
    if (k.differ) {
        *code = 400;
        return "Content-Length headers disagree";
    }
    if (te && k.n > 0) { /* RFC 9112 6.3: which one frames the body is the smuggler's question */
        *code = 400;
        return "both Transfer-Encoding and Content-Length";
    }
    return NULL;
}

static void conn_mark(serve *S, struct MHD_Connection *c, bool busy);

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    serve *S = cls;
    (void)version;
    conn *k = *con_cls;
    if (!k) { /* the headers: refuse a declared oversized body before reading it */
        if (!(k = calloc(1, sizeof *k))) return MHD_NO;
        *con_cls = k;
        int code;
        const char *why = bad_framing(c, &code);
        if (why) {
            k->too_big = k->refused = true; /* nothing of the body is kept */
            return refuse(S, c, url, code, why, false);
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > S->max_body) {
            k->too_big = k->refused = true;
            return refuse_body(S, c, url, false);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!k->too_big && k->len + *upload_size > S->max_body) { /* chunked: the rest is read and dropped */
            k->too_big = true;
            free(k->body);
            k->body = NULL, k->len = k->cap = 0;
        }
        if (!k->too_big) {
            if (k->len + *upload_size + 1 > k->cap) {
                size_t cap = 2 * (k->len + *upload_size) + 1;
                char *b = realloc(k->body, cap);
                if (!b) return MHD_NO;
                k->body = b;
                k->cap = cap;
            }
            memcpy(k->body + k->len, upload, *upload_size);
            k->len += *upload_size;
        }
        *upload_size = 0; /* consumed (or dropped: too big) */
        return MHD_YES;
    }
    if (k->refused) return MHD_YES; /* its answer is queued */
    if (k->too_big) { /* a chunked body past the limit, now read to its end */
        k->refused = true;
        return refuse_body(S, c, url, true);
    }
    conn_mark(S, c, true);
    const double t0 = serve_now();
    serve_ep ep = ep_of(url);
    pthread_mutex_lock(&S->mu);
    S->in_flight++;
    k->counted = true;
    const bool draining = S->draining;
    pthread_mutex_unlock(&S->mu);
    int code = 200;
    const char *ctype = "application/json";
    char *body;
    if (draining && ep != EP_METRICS) {
        code = 503;
        body = error_body("the server is shutting down", "Unhealthy");
    } else {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        t_client_fd = ci ? ci->connect_fd : -1;
        body = serve_handle(S, ep, method, k->body ? k->body : "", k->len, &code, &ctype);
        t_client_fd = -1;
    }
    const char *allow = ep == EP_OTHER ? NULL : serve_ep_post(ep) ? "POST" : "GET, HEAD"; /* for a 405 */
    enum MHD_Result ok = reply(c, code, body, ctype, allow, false);
    record(S, ep, body ? code : 500, serve_now() - t0);
    return ok; /* in flight until its answer has gone out (on_completed): a drain that stopped the daemon
                * on a queued answer would cut it off */
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    serve *S = cls;
    conn *k = *con_cls;
    if (k && k->counted) {
        pthread_mutex_lock(&S->mu);
        S->in_flight--;
        pthread_cond_broadcast(&S->done_cv);
        pthread_mutex_unlock(&S->mu);
    }
    if (k) free(k->body);
    free(k);
    *con_cls = NULL;
    conn_mark(S, c, false); /* the next request's time starts now */
}

/* ---- the request deadline ------------------------------------------------------------
 * libmicrohttpd's own timeout restarts at every byte, so a client sending one
 * byte a second would hold its connection (and a --max-connections slot) for
 * ever. Each connection is watched from its opening (or last answer) until a
 * whole request has arrived; the watcher shuts down the socket of one past
 * --request-timeout-ms (its thread then sees the end of the stream and
 * libmicrohttpd closes it). The watch is removed before libmicrohttpd closes
 * the socket (it notifies first), so a shut-down descriptor is never reused. */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    serve *S = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        serve_conn *w = ci ? calloc(1, sizeof *w) : NULL;
        if (!w) return; /* unwatched: libmicrohttpd's idle timeout still applies */
        w->fd = ci->connect_fd;
        w->since = serve_now();
        pthread_mutex_lock(&S->conn_mu);
        w->next = S->conns;
        if (S->conns) S->conns->prev = w;
        S->conns = w;
        pthread_mutex_unlock(&S->conn_mu);
        *socket_context = w;
    } else if (*socket_context) {
        serve_conn *w = *socket_context;
        pthread_mutex_lock(&S->conn_mu);
        if (w->prev) w->prev->next = w->next;
        else S->conns = w->next;
        if (w->next) w->next->prev = w->prev;
        pthread_mutex_unlock(&S->conn_mu);
        free(w);
        *socket_context = NULL;
    }
}

/* A whole request has arrived (busy) or its answer is done (the wait for
 * the next one starts). */
static void conn_mark(serve *S, struct MHD_Connection *c, bool busy) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    serve_conn *w = ci ? ci->socket_context : NULL;
    if (!w) return;
    pthread_mutex_lock(&S->conn_mu);
    w->busy = busy;
    w->since = serve_now();
    pthread_mutex_unlock(&S->conn_mu);
}

static void *watcher_main(void *arg) {
    serve *S = arg;
    const double limit = (double)S->request_timeout_ms / 1000.0;
    const double period = limit / 4 < 0.01 ? 0.01 : limit / 4 > 1.0 ? 1.0 : limit / 4;
    pthread_mutex_lock(&S->conn_mu);
    while (!S->conn_stop) {
        const struct timespec until = abs_time(serve_now() + period);
        pthread_cond_timedwait(&S->conn_cv, &S->conn_mu, &until);
        const double now = serve_now();
        uint64_t n = 0;
        for (serve_conn *w = S->conns; w; w = w->next)
            if (!w->busy && !w->shut && now - w->since > limit) {
                shutdown(w->fd, SHUT_RDWR);
                w->shut = true;
                n++;
            }
        if (n) {
            pthread_mutex_lock(&S->mu);
            S->mt.timed_out += n;
            pthread_mutex_unlock(&S->mu);
        }
    }
    pthread_mutex_unlock(&S->conn_mu);
    return NULL;
}

/* ---- the command -------------------------------------------------------------------- */

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: senti serve [-m DIR] [--host ADDR] [--port P] [--port-file FILE] [limits] [model flags]\n"
            "  HTTP endpoints (text-embeddings-inference style): POST /predict (a sequence classifier),\n"
            "  POST /embed (a base encoder), POST /tokenize, POST /v1/completions (a causal LM; OpenAI style,\n"
            "  with logprobs), GET /health, GET /info, GET /metrics (Prometheus text)\n"
            "  without -m: the embedded SST-2 sentiment model\n"
            "  --host ADDR: the address to listen on (default 127.0.0.1: loopback only)\n"
            "  --port P: the port (default 8080; 0: a free one, printed on stderr and to --port-file)\n"
            "  limits: --max-batch-tokens N (tokens per batch, 8192) --max-batch-requests N (inputs per batch,\n"
            "          256) --max-queue N (queued requests before 429, 256) --max-body-bytes N (413 beyond,\n"
            "          1048576) --timeout-ms N (503 queued / 504 running past it, 30000) --batch-delay-ms N\n"
            "          (wait for more requests to join a batch, 0) --max-connections N (512) --request-timeout-ms N\n"
            "          (a connection must deliver a whole request, headers and body, within N ms of opening or of\n"
            "          its last answer, else it is closed; idle keep-alive connections too; 60000)\n"
            "  model flags: --tokenizer PATH --threads N --device D --dtype T --batch-size N\n"
            "               --pooling cls|mean|max --normalize|--no-normalize (embed)\n"
            "  SIGTERM / SIGINT: stop listening, finish the requests in flight, exit 0\n");
}

enum {
    O_HOST = CLI_O_FIRST_FREE, O_PORT, O_PORT_FILE, O_MAX_TOKENS, O_MAX_REQ, O_MAX_QUEUE, O_MAX_BODY, O_TIMEOUT,
    O_DELAY, O_MAX_CONN, O_POOL, O_NORM, O_NO_NORM, O_REQ_TIMEOUT
};

typedef struct serve_args {
    const char *host, *port_file, *pooling;
    long port, max_conn;
    int normalize;
} serve_args;

static int parse_args(serve *S, serve_args *a, cli_task *t, int argc, char **argv) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},          {"tokenizer", required_argument, 0, CLI_O_TOK},
        {"threads", required_argument, 0, CLI_O_THREADS}, {"device", required_argument, 0, CLI_O_DEVICE},
        {"dtype", required_argument, 0, CLI_O_DTYPE},  {"batch-size", required_argument, 0, CLI_O_BATCH},
        {"host", required_argument, 0, O_HOST},        {"port", required_argument, 0, O_PORT},
        {"port-file", required_argument, 0, O_PORT_FILE}, {"max-batch-tokens", required_argument, 0, O_MAX_TOKENS},
        {"max-batch-requests", required_argument, 0, O_MAX_REQ}, {"max-queue", required_argument, 0, O_MAX_QUEUE},
        {"max-body-bytes", required_argument, 0, O_MAX_BODY}, {"timeout-ms", required_argument, 0, O_TIMEOUT},
        {"batch-delay-ms", required_argument, 0, O_DELAY}, {"max-connections", required_argument, 0, O_MAX_CONN},
        {"pooling", required_argument, 0, O_POOL},     {"normalize", no_argument, 0, O_NORM},
        {"no-normalize", no_argument, 0, O_NO_NORM},   {"request-timeout-ms", required_argument, 0, O_REQ_TIMEOUT},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    long v;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'h': serve_usage(stdout); return 0;
        case O_HOST: a->host = optarg; break;
        case O_PORT: ok = cli_parse_long("serve", "--port", optarg, 0, 65535, &a->port); break;
        case O_PORT_FILE: a->port_file = optarg; break;
        case O_MAX_TOKENS:
            ok = cli_parse_long("serve", "--max-batch-tokens", optarg, 1, 1L << 30, &v);
            S->max_batch_tokens = v;
            break;
        case O_MAX_REQ:
            ok = cli_parse_long("serve", "--max-batch-requests", optarg, 1, 1 << 20, &v);
            S->max_batch_requests = v;
            break;
        case O_MAX_QUEUE:
            ok = cli_parse_long("serve", "--max-queue", optarg, 1, 1 << 20, &v);
            S->max_queue = v;
            break;
        case O_MAX_BODY:
            ok = cli_parse_long("serve", "--max-body-bytes", optarg, 16, 1L << 30, &v);
            S->max_body = (size_t)v;
            break;
        case O_TIMEOUT:
            ok = cli_parse_long("serve", "--timeout-ms", optarg, 1, 86400000L, &v);
            S->timeout_ms = v;
            break;
        case O_REQ_TIMEOUT:
            ok = cli_parse_long("serve", "--request-timeout-ms", optarg, 1, 86400000L, &v);
            S->request_timeout_ms = v;
            break;
        case O_DELAY:
            ok = cli_parse_long("serve", "--batch-delay-ms", optarg, 0, 600000L, &v);
            S->batch_delay_ms = v;
            break;
        case O_MAX_CONN: ok = cli_parse_long("serve", "--max-connections", optarg, 1, 65536, &a->max_conn); break;
        case O_POOL:
            if (strcmp(optarg, "cls") && strcmp(optarg, "mean") && strcmp(optarg, "max")) {
                fprintf(stderr, "senti serve: --pooling expects cls, mean or max, got '%s'\n", optarg);
                ok = false;
            }
            a->pooling = optarg;
            break;
        case O_NORM: a->normalize = 1; break;
        case O_NO_NORM: a->normalize = 0; break;
        default: {
            int r = cli_task_opt(t, c, optarg);
            if (r == 0) serve_usage(stderr);
            ok = r > 0;
        }
        }
        if (!ok) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "senti serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!t->dir && !(t->dir = senti_default_model())) {
        fprintf(stderr, "senti serve: no -m DIR and the default model was not found (set SENTI_DEFAULT_MODEL)\n");
        return 2;
    }
    return -1;
}

/* Load the model and what each endpoint needs; false with a message. */
static bool load_model(serve *S, cli_task *t, const serve_args *a) {
    const senti_model_opts mo = cli_model_opts(t);
    S->dir = t->dir;
    if (!(S->m = senti_model_load_opts(t->dir, &mo)) || senti_model_prepare(S->m) != SENTI_OK ||
        !(S->tok = senti_tokenizer_load(t->tok_path ? t->tok_path : t->dir)))
        return false;
    S->ro = t->ro;
    S->ro.max_batch_tokens = S->max_batch_tokens;
    S->ro.n_threads = (int)t->threads;
    S->ro.progress = NULL;
    S->causal = lm_is_causal(S->m);
    S->max_len = S->causal ? lm_max_ctx(S->m) : senti_model_max_length(S->m);
    const senti_model_head h = senti_model_get_head(S->m);
    if (!S->causal && h == SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
        if (task_classify_init(&S->cls, S->m, t->dir, 0, 0.5) != SENTI_OK) return false;
        S->cls.logits = true; /* raw_scores */
        S->classifier = true;
    }
    if (!S->causal && h == SENTI_HEAD_BASE) {
        if (task_embed_init(&S->emb, S->m, a->pooling, a->normalize) != SENTI_OK) return false;
        if (S->emb.max_length > 0 && S->emb.max_length < S->max_len) S->max_len = S->emb.max_length;
        S->embedder = true;
    }
    if (S->causal) {
        S->gen = llm_gen_opts_defaults();
        if (llm_gen_opts_load(&S->gen, t->dir) != SENTI_OK) return false;
    }
    return true;
}

/* Bind address host:port; false with a message. */
static bool parse_addr(const char *host, long port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return true;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return true;
    }
    fprintf(stderr, "senti serve: --host expects a numeric IPv4 or IPv6 address, got '%s'\n", host);
    return false;
}

/* Stop accepting, then wait until every queued, running and in-flight request is answered. */
static void drain(serve *S, struct MHD_Daemon *d) {
    MHD_socket ls = MHD_quiesce_daemon(d);
    if (ls != MHD_INVALID_SOCKET) close(ls);
    pthread_mutex_lock(&S->mu);
    S->draining = true;
    pthread_cond_broadcast(&S->work_cv); /* no more waiting for batch mates */
    while (S->queued > 0 || S->running > 0 || S->in_flight > 0) pthread_cond_wait(&S->done_cv, &S->mu);
    S->stop = true;
    pthread_cond_broadcast(&S->work_cv);
    pthread_mutex_unlock(&S->mu);
}

int cmd_serve(int argc, char **argv) {
    serve S = {.max_batch_tokens = 8192, .max_batch_requests = 256, .max_queue = 256, .timeout_ms = 30000,
               .request_timeout_ms = 60000, .max_body = 1u << 20};
    serve_args a = {.host = "127.0.0.1", .port = 8080, .max_conn = 512, .normalize = -1};
    cli_task t;
    cli_task_init(&t, "serve");
    int rc = parse_args(&S, &a, &t, argc, argv);
    if (rc >= 0) return rc;
    struct sockaddr_storage addr;
    socklen_t alen;
    if (!parse_addr(a.host, a.port, &addr, &alen)) return 2;
    rc = 1;
    /* SIGTERM / SIGINT go to sigwait below: blocked before any thread starts */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.work_cv, &ca);
    pthread_cond_init(&S.done_cv, &ca);
    pthread_mutex_init(&S.conn_mu, NULL);
    pthread_cond_init(&S.conn_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t worker, watcher;
    bool worker_up = false, watcher_up = false;
    struct MHD_Daemon *d = NULL;
    if (!load_model(&S, &t, &a)) {
        fprintf(stderr, "senti serve: %s\n", senti_last_error());
        goto done;
    }
    if (pthread_create(&worker, NULL, worker_main, &S) != 0) {
        fprintf(stderr, "senti serve: cannot start the worker thread\n");
        goto done;
    }
    worker_up = true;
    if (pthread_create(&watcher, NULL, watcher_main, &S) != 0) {
        fprintf(stderr, "senti serve: cannot start the connection watcher thread\n");
        goto done;
    }
    watcher_up = true;
    const unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                           MHD_USE_ERROR_LOG | (addr.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    d = MHD_start_daemon(flags, (uint16_t)a.port, NULL, NULL, on_request, &S, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)a.max_conn,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(S.timeout_ms / 1000 + 30),
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, &S, MHD_OPTION_NOTIFY_CONNECTION,
                         on_connection, &S, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "senti serve: cannot listen on %s:%ld: %s\n", a.host, a.port, strerror(errno));
        goto done;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    const unsigned port = di ? di->port : (unsigned)a.port;
    if (a.port_file) {
        FILE *pf = fopen(a.port_file, "w");
        bool ok = pf && fprintf(pf, "%u\n", port) > 0;
        if (pf && fclose(pf) != 0) ok = false;
        if (!ok) {
            fprintf(stderr, "senti serve: cannot write %s\n", a.port_file);
            goto done;
        }
    }
    cli_print_dtype(&t, S.m, stderr);
    fprintf(stderr, "senti serve: %s (%s) on http://%s:%u/\n", t.dir, senti_model_architecture(S.m), a.host, port);
    int sig = 0;
    while (sigwait(&sigs, &sig) != 0) {}
    fprintf(stderr, "senti serve: %s: finishing the requests in flight\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    drain(&S, d);
    rc = 0;
done:
    if (worker_up) {
        pthread_mutex_lock(&S.mu);
        S.stop = true;
        pthread_cond_broadcast(&S.work_cv);
        pthread_mutex_unlock(&S.mu);
        pthread_join(worker, NULL);
    }
    if (d) MHD_stop_daemon(d); /* closes every connection: the watch list is empty after */
    if (watcher_up) {
        pthread_mutex_lock(&S.conn_mu);
        S.conn_stop = true;
        pthread_cond_broadcast(&S.conn_cv);
        pthread_mutex_unlock(&S.conn_mu);
        pthread_join(watcher, NULL);
    }
    if (rc == 0) fprintf(stderr, "senti serve: stopped\n");
    llm_chat_free(&S.chat);
    senti_tokenizer_free(S.tok);
    senti_model_free(S.m);
    pthread_cond_destroy(&S.work_cv);
    pthread_cond_destroy(&S.done_cv);
    pthread_mutex_destroy(&S.mu);
    pthread_cond_destroy(&S.conn_cv);
    pthread_mutex_destroy(&S.conn_mu);
    return rc;
}

#endif /* SENTI_HAVE_MHD */
