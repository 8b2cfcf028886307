/* mpi.c — the task commands over MPI ranks (`mpirun -np N senti classify
 * --input BIG --output OUT`, or `srun`): each rank runs its byte range of the
 * input (tasks/shard.c) with its own threads into its own resumable partial
 * OUT.partR-of-N, and rank 0 appends the partials in rank order into OUT and
 * prints one summary for the job with a line per rank. `senti eval` splits
 * the labelled records by index instead and gathers the predictions on
 * rank 0, which scores them.
 *
 * Invariants: MPI starts only when a launcher started this process (its
 * environment says so), so a plain `senti` never touches MPI; collectives
 * happen only in cli_shard_begin (before the model loads: the line counts),
 * cli_shard_close and cli_mpi_gather_output, which every rank reaches on
 * every path once sharding began, so a failing rank never leaves the others
 * waiting; OUT is written (and its partials removed) only when
 * every rank finished, so a killed job leaves the partials and their
 * progress files for --resume, which re-runs only the records they lack
 * (each partial's progress file fingerprints its own range's records).
 * Without SENTI_MPI this file gives one rank of one. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef SENTI_MPI
#include <mpi.h>
#endif

#include "../core/core.h"
#include "cli.h"

static int g_rank = 0, g_size = 1;
static double g_t0;

static double now_s(void) { return senti_time_ms() * 1e-3; }

bool cli_mpi_init(int *argc, char ***argv) {
    g_t0 = now_s();
#ifdef SENTI_MPI
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return true;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "senti: MPI_Init failed\n");
        return false;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* Every rank must run the same command: the ranks take their byte ranges
     * and meet in collectives by the same arguments (cli_shard_begin), so
     * ranks started with different ones (an MPMD launch, `mpirun … : …`)
     * would split the input differently, merge parts of different names or
     * wait for each other. FNV-1a over the arguments (not the program's
     * path, which may differ from host to host, nor the flags the outputs
     * do not depend on: cli_batching_args), compared with rank 0's; all stop
     * here if any differ. */
    uint64_t h = 1469598103934665603ull;
    for (int i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];
        const int skip = cli_batching_args(a);
        if (skip) {
            i += skip - 1;
            continue;
        }
        for (const unsigned char *c = (const unsigned char *)a;; c++) {
            h = (h ^ *c) * 1099511628211ull;
            if (!*c) break;
        }
    }
    uint64_t h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int first = h == h0 ? g_size : g_rank, diff = g_size;
    MPI_Allreduce(&first, &diff, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (diff < g_size) {
        if (g_rank == 0)
            fprintf(stderr, "senti: the MPI ranks were started with different arguments (rank %d's differ from rank "
                            "0's); every rank must run the same command (only --threads, --batch-size, "
                            "--max-batch-tokens, --window, --progress and --no-bucketing may differ)\n",
                    diff);
        MPI_Finalize();
        return false;
    }
#else
    (void)argc;
    (void)argv;
#endif
    return true;
}

void cli_mpi_finalize(void) {
#ifdef SENTI_MPI
    int on = 0;
    MPI_Initialized(&on);
    if (on) MPI_Finalize();
#endif
}

int cli_mpi_rank(void) { return g_rank; }
int cli_mpi_size(void) { return g_size; }

/* Wait until every rank got here, sleeping rather than spinning: a rank that
 * finished its range early must not take CPU from the ones still running
 * (Open MPI's blocking collectives poll), which a busy machine shows. */
static void idle_barrier(void) {
#ifdef SENTI_MPI
    MPI_Request rq;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &rq);
    for (unsigned us = 50; MPI_Test(&rq, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done; us = us < 5000 ? 2 * us : us)
        usleep(us);
#endif
}

/* true on every rank when ok is true on every rank (a collective). */
static bool all_ok(bool ok) {
#ifdef SENTI_MPI
    int v = ok, all = 0;
    MPI_Allreduce(&v, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all != 0;
#else
    return ok;
#endif
}

/* Rank 0's v on every rank (a collective). */
static int bcast_int(int v) {
#ifdef SENTI_MPI
    MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
#endif
    return v;
}

/* The figures of one rank's run, as the summary needs them. */
enum { F_RECORDS, F_SKIPPED, F_ERRORS, F_TRUNC, F_TOKENS, F_SECONDS, F_COUNT };

/* Rank 0 gets every rank's figures in all[rank * F_COUNT + f] (a collective;
 * the other ranks pass NULL). */
static void gather_stats(const task_stats *st, double *all) {
    double mine[F_COUNT] = {(double)st->records, (double)st->skipped, (double)st->errors,
                            (double)st->truncated, (double)st->tokens, st->seconds};
#ifdef SENTI_MPI
    if (g_rank == 0 && !all) { /* rank 0 could not get the few bytes to receive into: no way to go on together */
        fprintf(stderr, "senti: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    MPI_Gather(mine, F_COUNT, MPI_DOUBLE, all, F_COUNT, MPI_DOUBLE, 0, MPI_COMM_WORLD);
#else
    memcpy(all, mine, sizeof mine);
#endif
}

/* ---- the task commands: byte ranges and partial outputs ------------------------ */

/* This rank's byte range and the lines before it (cli_shard_begin). */
static int64_t g_start, g_end, g_first;

/* Exclusive prefix sum of v over the ranks (0 on rank 0; a collective). */
static int64_t exscan(int64_t v) {
    int64_t before = 0;
#ifdef SENTI_MPI
    MPI_Exscan(&v, &before, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
#endif
    return g_rank == 0 ? 0 : before;
}

/* A --resume reads only the parts of a split over as many ranks as it runs
 * on (or OUT itself in one process), so the parts another number of ranks
 * left beside OUT would be ignored and their work done again: refused (into
 * msg), or with --overwrite removed. false with msg set when refused. */
static bool other_parts(const cli_task *t, char *msg, size_t n) {
    if (!t->resume || !t->output || !strcmp(t->output, "-")) return true;
    int64_t found = 0;
    int m = 0;
    char *first = NULL;
    const char *keep[3 + sizeof t->reads / sizeof *t->reads] = {t->input, t->dir, t->tok_path};
    int n_keep = 3;
    for (int i = 0; i < t->n_reads; i++) keep[n_keep++] = t->reads[i];
    if (task_shard_other_parts(t->output, g_size, t->overwrite, keep, n_keep, &found, &m, &first) != SENTI_OK) {
        snprintf(msg, n, "%s", senti_last_error());
        return false;
    }
    if (found > 0 && t->overwrite)
        fprintf(stderr, "senti %s: --overwrite: removed %lld file%s of a run split over %d MPI ranks (%s.part*-of-%d)\n",
                t->cmd, (long long)found, found > 1 ? "s" : "", m, t->output, m);
    else if (found > 0)
        snprintf(msg, n, "--resume: %s%s is part of a run split over %d MPI ranks, which this run on %d %s would not "
                 "read (it would start over): resume on %d ranks (mpirun -np %d with the same arguments), or give "
                 "--overwrite to start over (it removes them)", first, found > 1 ? " (with the files beside it)" : "",
                 m, g_size, g_size == 1 ? "process" : "ranks", m, m);
    free(first);
    return found == 0 || t->overwrite;
}

bool cli_shard_begin(cli_task *t) {
    if (t->gather) return true;
    if (g_size < 2) {
        char msg[4608] = "";
        if (other_parts(t, msg, sizeof msg)) return true;
        fprintf(stderr, "senti %s: %s\n", t->cmd, msg);
        t->explained = true;
        return false;
    }
    const char *why = !t->input || !strcmp(t->input, "-") ? "under MPI give --input FILE (a regular file: each rank "
                                                             "reads its byte range of it)"
                      : !t->output ? "under MPI give --output FILE (each rank writes FILE.partR-of-N beside it, "
                                     "then rank 0 merges them into FILE)"
                                   : NULL;
    if (why) { /* the same arguments on every rank: all stop here, before any collective */
        if (g_rank == 0) fprintf(stderr, "senti %s: %s\n", t->cmd, why);
        t->explained = true;
        return false;
    }
    /* what refuses the whole job before any work (rank 0 looks: the ranks may see other file systems; OUT is
     * written only by the merge at the end, so these would otherwise surface after every rank's work) */
    char msg[4608] = "";
    if (g_rank == 0) {
        struct stat so;
        const bool exists = stat(t->output, &so) == 0;
        const task_resume_opts ro = {.input = t->input, .model_path = t->dir, .tokenizer_path = t->tok_path,
                                     .reads = t->reads, .reads_what = t->reads_what, .n_reads = t->n_reads};
        if (task_output_checks("--output", t->output, &ro) != SENTI_OK) {
            snprintf(msg, sizeof msg, "%s", senti_last_error());
        } else if (exists && !S_ISREG(so.st_mode)) {
            snprintf(msg, sizeof msg, "under MPI --output must be a regular file (rank 0 merges the ranks' parts into "
                     "it): %s is not", t->output);
        } else if (exists && t->resume && !t->overwrite && so.st_size > 0) {
            char prog[4200];
            snprintf(prog, sizeof prog, "%s.progress", t->output);
            if (access(prog, F_OK) != 0)
                snprintf(msg, sizeof msg, "--resume: %s holds %lld bytes but has no progress file %s: refusing to "
                         "truncate it (give --overwrite to start over)", t->output, (long long)so.st_size, prog);
        }
        if (!msg[0]) other_parts(t, msg, sizeof msg);
    }
    if (bcast_int(msg[0] != '\0')) {
        if (g_rank == 0) fprintf(stderr, "senti %s: %s\n", t->cmd, msg);
        t->explained = true;
        return false;
    }
    t->shard = true; /* from here every rank reaches the same collectives, here and in cli_shard_close */
    if (g_rank != 0) t->ro.progress = NULL; /* one progress line: rank 0's */
    /* each rank counts the lines of its own range; the sum over the ranks
     * before it is its first line's index (the default id) */
    FILE *f = fopen(t->input, "rb");
    int64_t lines = 0;
    bool ok = f && task_shard_range(f, t->input, g_rank, g_size, &g_start, &g_end) == SENTI_OK &&
              task_shard_count_lines(f, t->input, g_start, g_end, &lines) == SENTI_OK;
    if (!ok && f) fprintf(stderr, "senti %s: rank %d: %s\n", t->cmd, g_rank, senti_last_error());
    else if (!ok) fprintf(stderr, "senti %s: rank %d: cannot open %s: %s\n", t->cmd, g_rank, t->input, strerror(errno));
    if (f) fclose(f);
    g_first = exscan(lines);
    if (!all_ok(ok)) {
        t->explained = true;
        return false;
    }
    return true;
}

bool cli_shard_source(cli_task *t, task_format fmt) {
    bool jsonl = false;
    const char *why = NULL;
    if (fmt != TASK_FORMAT_LINES && fmt != TASK_FORMAT_JSONL && fmt != TASK_FORMAT_AUTO) {
        why = "under MPI the input must hold one record per line (--format lines or jsonl)";
    } else if (fmt != TASK_FORMAT_AUTO) { /* as asked */
        jsonl = fmt == TASK_FORMAT_JSONL;
    } else { /* as in one process: the file's first non-blank line that is not over the record limit decides */
        task_source *probe = task_source_file(t->in, t->input);
        int got = probe ? 1 : -1;
        while (got == 1 && task_source_jsonl_state(probe) < 0) {
            task_record r = {0};
            got = task_source_read(probe, &r);
            task_record_clear(&r);
        }
        jsonl = task_source_jsonl_state(probe) == 1;
        task_source_free(probe);
        if (got < 0) why = senti_last_error();
    }
    if (!why && fseeko(t->in, (off_t)g_start, SEEK_SET) != 0) why = strerror(errno);
    if (!why && (!(t->src = task_source_file(t->in, t->input)) || !(t->part = task_shard_part_name(t->output, g_rank, g_size))))
        why = "out of memory";
    if (why) {
        fprintf(stderr, "senti %s: rank %d: %s\n", t->cmd, g_rank, why);
        t->explained = true;
        return false;
    }
    task_source_range(t->src, g_end - g_start, g_first, jsonl);
    return true;
}

static void print_job(const cli_task *t, const double *f, double merge_s) {
    double rec = 0, skip = 0, err = 0, trunc = 0, tok = 0;
    for (int r = 0; r < g_size; r++) {
        const double *x = f + r * F_COUNT;
        rec += x[F_RECORDS], skip += x[F_SKIPPED], err += x[F_ERRORS], trunc += x[F_TRUNC], tok += x[F_TOKENS];
    }
    double wall = now_s() - g_t0;
    if (skip > 0) fprintf(stderr, "senti: resumed after %.0f records already answered\n", skip);
    fprintf(stderr, "senti: %d ranks: %.0f records (%.0f errors, %.0f truncated), %.0f tokens, %.1f records/s over "
            "the whole job, %.2f s (merge %.2f s) into %s\n", g_size, rec, err, trunc, tok, wall > 0 ? rec / wall : 0.0,
            wall, merge_s, t->output);
    for (int r = 0; r < g_size; r++) {
        const double *x = f + r * F_COUNT;
        fprintf(stderr, "senti: rank %d: %.0f records", r, x[F_RECORDS]);
        if (x[F_SKIPPED] > 0) fprintf(stderr, " (after %.0f resumed)", x[F_SKIPPED]);
        fprintf(stderr, ", %.1f records/s, %.2f s\n", x[F_SECONDS] > 0 ? x[F_RECORDS] / x[F_SECONDS] : 0.0,
                x[F_SECONDS]);
    }
}

/* Rank 0: append the partials in rank order into t->output (opened as any
 * output is: never the input, locked), fsync it, then remove the partials.
 * OUT gets no progress file: its input hash would have to chain over every
 * rank's records in order, which no rank has; so a later single-process
 * --resume refuses it rather than trusting a wrong hash, and an MPI --resume
 * of a finished job runs it again. */
static senti_status merge(const cli_task *t) {
    int64_t skip = 0;
    task_resume_opts ro = {.input = t->input, .model_path = t->dir, .tokenizer_path = t->tok_path};
    task_resume *out = task_resume_open(t->output, &ro, NULL, &skip);
    if (!out) return SENTI_ERR_IO;
    FILE *f = task_resume_file(out);
    senti_status s = SENTI_OK;
    for (int r = 0; r < g_size && s == SENTI_OK; r++) {
        char *part = task_shard_part_name(t->output, r, g_size);
        s = part ? task_shard_append(f, t->output, part) : SENTI_ERR_NO_MEMORY;
        free(part);
    }
    if (s == SENTI_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) /* OUT is on disk before a partial goes */
        s = senti_error(SENTI_ERR_IO, "%s: %s", t->output, strerror(errno));
    senti_status c = s == SENTI_OK ? task_resume_close(out) : task_resume_abort(out); /* no torn last line */
    task_resume_free(out);
    if (s == SENTI_OK) s = c;
    for (int r = -1; r < g_size && s == SENTI_OK; r++) { /* a part's progress file goes before its bytes */
        char *part = r < 0 ? strdup(t->output) : task_shard_part_name(t->output, r, g_size);
        size_t n = part ? strlen(part) + 16 : 0;
        char *prog = part ? malloc(n) : NULL;
        if (prog) snprintf(prog, n, "%s.progress", part);
        if (!prog || (unlink(prog) != 0 && errno != ENOENT) || (r >= 0 && unlink(part) != 0 && errno != ENOENT))
            s = senti_error(SENTI_ERR_IO, "cannot remove %s: %s", part ? part : "a partial output", strerror(errno));
        free(part);
        free(prog);
    }
    return s;
}

int cli_shard_close(cli_task *t, senti_status s) {
    bool ok = s == SENTI_OK;
    if (!ok && !t->explained) fprintf(stderr, "senti %s: rank %d: %s\n", t->cmd, g_rank, senti_last_error());
    if (t->res && (ok ? task_resume_close(t->res) : task_resume_abort(t->res)) != SENTI_OK) {
        if (ok) fprintf(stderr, "senti %s: rank %d: %s\n", t->cmd, g_rank, senti_last_error());
        ok = false;
    }
    task_resume_free(t->res);
    t->res = NULL;
    free(t->part);
    t->part = NULL;
    idle_barrier();
    const bool all = all_ok(ok);
    double *f = g_rank == 0 ? calloc((size_t)g_size * F_COUNT, sizeof *f) : NULL;
    double one[F_COUNT];
    gather_stats(&t->st, g_size == 1 ? one : f);
    int rc = 1;
    if (g_rank == 0 && !all) {
        bool kept = false; /* a part on rank 0's file system (one a rank wrote before it failed) */
        for (int r = 0; r < g_size && !kept; r++) {
            char *part = task_shard_part_name(t->output, r, g_size);
            kept = part && access(part, F_OK) == 0;
            free(part);
        }
        if (kept)
            fprintf(stderr, "senti %s: a rank failed: %s.part*-of-%d and their .progress files are kept; run the same "
                    "command with --resume to finish only what they lack\n", t->cmd, t->output, g_size);
        else
            fprintf(stderr, "senti %s: a rank failed before writing anything\n", t->cmd);
    } else if (g_rank == 0) {
        double t1 = now_s();
        if (merge(t) != SENTI_OK) fprintf(stderr, "senti %s: merging into %s: %s\n", t->cmd, t->output, senti_last_error());
        else rc = 0, print_job(t, f, now_s() - t1);
        double rec = 0, err = 0;
        for (int r = 0; f && r < g_size; r++) rec += f[r * F_COUNT + F_RECORDS], err += f[r * F_COUNT + F_ERRORS];
        if (rc == 0 && cli_all_failed(t->cmd, rec, err)) rc = 1;
    }
    free(f);
    t->st.seconds = 0; /* the job's summary replaces the rank's */
    return bcast_int(rc);
}

/* ---- senti eval: records by index, predictions gathered on rank 0 -------------- */

void cli_shard_records(cli_task *t, int64_t n) {
    if (g_size < 2 || !t->src) return;
    int64_t lo = n / g_size * g_rank + n % g_size * g_rank / g_size;
    int64_t hi = n / g_size * (g_rank + 1) + n % g_size * (g_rank + 1) / g_size;
    t->ro.skip = lo;
    task_source_limit(t->src, hi);
    if (g_rank != 0) t->ro.progress = NULL;
}

senti_status cli_mpi_gather_output(senti_status s, char **buf, size_t *n, task_stats *st) {
    if (g_size < 2) return s;
#ifdef SENTI_MPI
    idle_barrier();
    const bool all = all_ok(s == SENTI_OK && *n <= (size_t)INT32_MAX);
    int len = all ? (int)*n : 0, *lens = NULL, *offs = NULL;
    char *cat = NULL;
    int64_t total = 0;
    if (g_rank == 0) {
        lens = calloc((size_t)g_size, sizeof *lens);
        offs = calloc((size_t)g_size, sizeof *offs);
    }
    MPI_Gather(&len, 1, MPI_INT, lens, 1, MPI_INT, 0, MPI_COMM_WORLD);
    bool room = true;
    if (g_rank == 0 && lens && offs) {
        for (int r = 0; r < g_size; r++) offs[r] = (int)total, total += lens[r];
        room = total <= INT32_MAX && (cat = malloc((size_t)total + 1)) != NULL;
    }
    room = all_ok(room && (g_rank != 0 || (lens && offs)));
    if (all && room) MPI_Gatherv(*buf, len, MPI_CHAR, cat, lens, offs, MPI_CHAR, 0, MPI_COMM_WORLD);
    double mine[2] = {(double)st->records, st->seconds}, sum[2] = {0, 0};
    MPI_Reduce(mine, sum, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    free(lens);
    free(offs);
    if (!all || !room) {
        free(cat);
        return s != SENTI_OK ? s : senti_error(!all ? SENTI_ERR_IO : SENTI_ERR_NO_MEMORY,
                                               !all ? "a rank failed (or its predictions passed 2 GiB)"
                                                    : "out of memory gathering the predictions");
    }
    if (g_rank == 0) {
        free(*buf);
        *buf = cat;
        *n = (size_t)total;
        st->records = (int64_t)sum[0];
        st->seconds = now_s() - g_t0; /* the whole job's wall time */
    }
    return SENTI_OK;
#else
    (void)buf, (void)n, (void)st;
    return s;
#endif
}
