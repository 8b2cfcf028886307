/* serve.h — `senti serve`: the pieces shared by the HTTP server (serve.c:
 * daemon, queue, batching worker, metrics, shutdown) and its endpoints
 * (serve_routes.c: request parsing, running a batch, response shapes).
 *
 * Invariants: one model instance, run by one worker thread only; HTTP
 * threads tokenize (the tokenizer is immutable) but never touch the model. A
 * job is owned by the queue or the worker while queued or running, and freed
 * by whichever of its handler and the worker lets go of it last. */
#ifndef SENTI_CLI_SERVE_H
#define SENTI_CLI_SERVE_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../tasks/llm.h"
#include "../tasks/tasks.h"
#include "senti.h"

/* What a queued job asks the worker for. */
typedef enum serve_kind { SERVE_PREDICT = 0, SERVE_EMBED, SERVE_COMPLETE } serve_kind;

typedef enum serve_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE, JOB_ABANDONED } serve_state;

typedef struct serve_job {
    serve_kind kind;
    char **texts; /* owned: the inputs (prompts) */
    int64_t n;
    int64_t tokens; /* for the batch budget: tokens the inputs run as */
    json_t *params; /* owned: the request (completion settings) */
    double arrival, deadline;
    serve_state state;
    /* results, set by the worker */
    char **lines;   /* owned: the task's JSON line per input */
    int status;     /* 0: ok; else the HTTP status of a failure */
    char *error;    /* owned */
    json_t *answer; /* owned: a completion's response */
    struct serve_job *next;
} serve_job;

/* Endpoints, for the metrics. */
typedef enum serve_ep {
    EP_PREDICT = 0, EP_EMBED, EP_TOKENIZE, EP_COMPLETIONS, EP_HEALTH, EP_INFO, EP_METRICS, EP_OTHER, EP_COUNT
} serve_ep;
/* The endpoints answered for POST; the others for GET (and HEAD). */
static inline bool serve_ep_post(serve_ep e) { return e < EP_HEALTH; }

enum { SERVE_N_LAT = 14, SERVE_N_BATCH = 11, SERVE_N_CODES = 13 };

typedef struct serve_metrics {
    uint64_t requests[EP_COUNT][SERVE_N_CODES]; /* by endpoint and status (serve_codes) */
    uint64_t lat[EP_COUNT][SERVE_N_LAT];        /* latency histogram (cumulative at print time) */
    double lat_sum[EP_COUNT];
    uint64_t lat_n[EP_COUNT];
    uint64_t batch[SERVE_N_BATCH];              /* inputs per worker batch */
    uint64_t batch_n, batch_inputs, batch_tokens;
    double batch_seconds;
    uint64_t timed_out;   /* connections closed at --request-timeout-ms */
    uint64_t client_gone; /* queued jobs dropped: their client closed the connection */
} serve_metrics;

/* One open connection, for the request deadline: since when it has been
 * waiting for a complete request (its opening, or its last answer), and
 * whether one is being answered (exempt: jobs have their own deadline). */
typedef struct serve_conn {
    int fd;
    double since;
    bool busy, shut;
    struct serve_conn *prev, *next;
} serve_conn;

typedef struct serve {
    /* settings */
    const char *dir;
    int64_t max_batch_tokens, max_batch_requests, max_queue, timeout_ms, batch_delay_ms, request_timeout_ms;
    size_t max_body;
    task_runner_opts ro;
    /* the model */
    senti_model *m;
    senti_tokenizer *tok;
    bool classifier, embedder, causal;
    int64_t max_len;
    task_classify cls;
    task_embed emb;
    llm_gen_opts gen;
    llm_chat chat;
    /* queue and worker */
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv;
    serve_job *head, *tail;
    int64_t queued, queued_tokens, running, in_flight;
    bool draining, stop;
    uint64_t next_id;
    serve_metrics mt;
    /* open connections (conn_mu) and the thread closing those past --request-timeout-ms */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    serve_conn *conns;
    bool conn_stop;
} serve;

/* serve.c: monotonic seconds. */
double serve_now(void);

/* serve_routes.c: the worker's run of one batch of jobs of one kind (all
 * RUNNING; the worker holds no lock). Fills each job's lines / answer or
 * status + error. */
void serve_run_batch(serve *S, serve_job **jobs, int64_t n);

/* serve_routes.c: answer one complete request (body: its bytes) with a JSON
 * body; sets *code to the HTTP status and returns a malloc'd body (NULL on
 * OOM), *ctype the content type. May queue a job and wait for it. */
char *serve_handle(serve *S, serve_ep ep, const char *method, const char *body, size_t len, int *code,
                   const char **ctype);

/* serve.c: queue a job (the handler keeps its pointer) and wait for it until
 * its deadline. Returns the HTTP status to answer with: 0 done (results in
 * job), 429 queue full, 503 draining or timed out in the queue, 504 timed
 * out running (the worker frees the job then: the caller must not). */
int serve_submit(serve *S, serve_job *job);
void serve_job_free(serve_job *j); /* accepts NULL */

/* serve.c: an error message made valid UTF-8 in place (each byte that is not
 * becomes '?'): messages quote request bytes (a parser's context, a method). */
void serve_utf8_clean(char *msg);

/* serve.c: the Prometheus text of the metrics (malloc'd). */
char *serve_metrics_text(serve *S);

#endif
