/* test_mpi.c — `mpirun -np 2|3 senti classify|eval` on one machine with the
 * embedded SST-2 model: the merged output is byte-identical to the
 * single-process run (JSONL with and without ids, blank and bad lines, plain
 * text lines), the partial outputs are gone after the merge, a job whose
 * rank 1 is killed with SIGKILL resumes (--resume) to the same bytes,
 * re-running only what the partials lack, and `senti eval` under MPI prints
 * the single process's metrics. Exit 77 (skipped) when the build has no MPI
 * or the senti command is not built. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#ifndef SENTI_MPIEXEC
int main(void) {
    fprintf(stderr, "test_mpi: skipped, this build has no MPI (SENTI_MPI)\n");
    return 77;
}
#else

static char g_cli[4096];
static char g_tmp[64] = "/tmp/senti-mpi-XXXXXX";

/* Start argv with stdout to out and stderr to err (NULL: /dev/null); its pid. */
static pid_t spawn(const char *const *argv, const char *out, const char *err) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int o = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid) {
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* `[mpirun -np np] senti CMD ARGS…` (np 0: no mpirun); its exit code. */
static pid_t start(int np, const char *const *args, const char *out, const char *err) {
    const char *argv[48];
    int n = 0;
    char nps[16];
    if (np > 0) {
        snprintf(nps, sizeof nps, "%d", np);
        const char *mpi[] = {SENTI_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", nps};
        for (size_t i = 0; i < sizeof mpi / sizeof *mpi; i++) argv[n++] = mpi[i];
    }
    argv[n++] = g_cli;
    for (int i = 0; args[i] && n < 47; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return spawn(argv, out, err);
}

static int run(int np, const char *const *args, const char *out, const char *err) {
    return wait_exit(start(np, args, out, err));
}

static void path(char *dst, size_t n, const char *name) { snprintf(dst, n, "%s/%s", g_tmp, name); }

static bool exists(const char *p) { return access(p, F_OK) == 0; }

static void assert_same(const char *a, const char *b, const char *what) {
    size_t na, nb;
    char *x = test_slurp(a, &na), *y = test_slurp(b, &nb);
    ck_assert_msg(na == nb && memcmp(x, y, na) == 0, "%s: %s (%zu bytes) differs from %s (%zu bytes)", what, b, nb,
                  a, na);
    free(x);
    free(y);
}

static const char *const WORDS[] = {"a",     "gorgeous", "dull",  "film", "that",   "never", "quite", "works",
                                    "funny", "and",      "moving", "the", "plot",   "is",    "thin",  "but",
                                    "great", "acting",   "worst", "year", "charming", "mess", "its",   "heart"};

/* n records: JSONL (ids on some lines, a blank line, a bad line) or plain text. */
static void write_input(const char *p, int n, bool jsonl, unsigned seed) {
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        int words = 1 + (int)((seed >> 16) % 12);
        if (jsonl && i % 41 == 7) {
            fputs("{\"text\": 12}\n", f); /* a bad record: an error line under its line id */
            continue;
        }
        if (i % 53 == 11) fputs("\n", f); /* a blank line keeps its index */
        if (jsonl) fprintf(f, i % 3 ? "{\"text\":\"" : "{\"id\":\"r%d\",\"text\":\"", i);
        for (int w = 0; w < words; w++) {
            seed = seed * 1103515245u + 12345u;
            fprintf(f, "%s%s", w ? " " : "", WORDS[(seed >> 16) % (sizeof WORDS / sizeof *WORDS)]);
        }
        fputs(jsonl ? "\"}\n" : "\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
}

/* classify n records single-process and under mpirun -np each of nps (0-ended). */
static void classify_case(bool jsonl, int n, const int *nps) {
    char in[128], ref[128], out[128], part[160], prog[200];
    path(in, sizeof in, jsonl ? "in.jsonl" : "in.txt");
    path(ref, sizeof ref, "ref.jsonl");
    path(out, sizeof out, "out.jsonl");
    write_input(in, n, jsonl, jsonl ? 7u : 99u);
    const char *a_ref[] = {"classify", "--input", in, "--output", ref, "--threads", "1", "--window", "16", NULL};
    ck_assert_int_eq(run(0, a_ref, NULL, NULL), 0);
    for (int k = 0, np; (np = nps[k]) != 0; k++) {
        const char *a[] = {"classify", "--input", in, "--output", out, "--threads", "1", "--window", "8",
                           "--batch-size", "5", NULL};
        char err[160];
        path(err, sizeof err, "err.txt");
        ck_assert_msg(run(np, a, NULL, err) == 0, "mpirun -np %d senti classify failed (see %s)", np, err);
        assert_same(ref, out, jsonl ? "jsonl" : "lines");
        for (int r = 0; r < np; r++) { /* the partials are merged and gone */
            snprintf(part, sizeof part, "%s.part%d-of-%d", out, r, np);
            snprintf(prog, sizeof prog, "%s.progress", part);
            ck_assert_msg(!exists(part) && !exists(prog), "%s left behind", part);
        }
        size_t ne;
        char *e = test_slurp(err, &ne);
        ck_assert_msg(strstr(e, "ranks:") && strstr(e, "rank 1:"), "no job summary in: %s", e);
        free(e);
    }
    unlink(in);
}

START_TEST(test_jsonl_identical) { classify_case(true, 160, (const int[]){2, 3, 0}); }
END_TEST

START_TEST(test_lines_identical) { classify_case(false, 131, (const int[]){3, 0}); }
END_TEST

/* The pid of mpirun's child with OMPI_COMM_WORLD_RANK=rank, or -1. */
static pid_t rank_pid(pid_t mpirun, int rank) {
    DIR *d = opendir("/proc");
    ck_assert_ptr_nonnull(d);
    char want[48];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    pid_t found = -1;
    for (struct dirent *e; found < 0 && (e = readdir(d)) != NULL;) {
        char p[300], buf[1 << 16];
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        snprintf(p, sizeof p, "/proc/%d/stat", pid);
        FILE *f = fopen(p, "r");
        int ppid = 0;
        if (!f) continue;
        bool ok = fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) == 1;
        fclose(f);
        if (!ok || ppid != mpirun) continue;
        snprintf(p, sizeof p, "/proc/%d/environ", pid);
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < k; i += (ssize_t)strlen(buf + i) + 1)
            if (!strcmp(buf + i, want)) found = pid;
    }
    closedir(d);
    return found;
}

START_TEST(test_kill_resume) {
    char in[128], ref[128], out[128], part1[160], prog1[200], err[160];
    path(in, sizeof in, "kill.txt");
    path(ref, sizeof ref, "kill-ref.jsonl");
    path(out, sizeof out, "kill-out.jsonl");
    path(err, sizeof err, "kill-err.txt");
    snprintf(part1, sizeof part1, "%s.part1-of-2", out);
    snprintf(prog1, sizeof prog1, "%s.progress", part1);
    write_input(in, 400, false, 5u);
    const char *a_ref[] = {"classify", "--input", in, "--output", ref, "--threads", "1", NULL};
    ck_assert_int_eq(run(0, a_ref, NULL, NULL), 0);
    const char *a[] = {"classify", "--input", in, "--output", out, "--threads", "1", "--window", "4", "--resume", NULL};
    pid_t job = start(2, a, NULL, err);
    /* once rank 1 has checkpointed a window, kill it */
    pid_t victim = -1;
    int done = 0;
    for (int spins = 0; spins < 200000 && !done; spins++) {
        done = waitpid(job, NULL, WNOHANG) == job;
        if (!done && exists(prog1) && (victim = rank_pid(job, 1)) > 0) break;
        usleep(500);
    }
    if (done) {
        fprintf(stderr, "test_kill_resume: the job finished before rank 1 could be killed\n");
    } else {
        ck_assert_int_gt(victim, 0);
        kill(victim, SIGKILL);
        ck_assert_int_ne(wait_exit(job), 0);
        ck_assert_msg(exists(part1) && exists(prog1), "the killed rank's partial output is gone");
        ck_assert_msg(!exists(out) || access(out, R_OK) == 0, "unreadable output");
        ck_assert_int_eq(run(2, a, NULL, err), 0);
        size_t ne;
        char *e = test_slurp(err, &ne);
        ck_assert_msg(strstr(e, "resumed after"), "the resumed job re-ran everything: %s", e);
        free(e);
    }
    assert_same(ref, out, "killed and resumed");
    ck_assert(!exists(part1) && !exists(prog1));
    unlink(in);
}
END_TEST

/* The object's text up to ,"records_per_second" (timings differ run to run). */
static char *metrics_of(const char *p) {
    size_t n;
    char *s = test_slurp(p, &n);
    char *cut = strstr(s, ",\"records_per_second\"");
    ck_assert_msg(cut != NULL, "no eval JSON in %s: %s", p, s);
    *cut = '\0';
    return s;
}

START_TEST(test_eval_reduce) {
    char data[128], one[128], three[128];
    path(data, sizeof data, "dev.tsv");
    path(one, sizeof one, "eval1.json");
    path(three, sizeof three, "eval3.json");
    FILE *f = fopen(data, "w");
    ck_assert_ptr_nonnull(f);
    fputs("sentence\tlabel\n", f);
    unsigned seed = 3;
    for (int i = 0; i < 97; i++) {
        seed = seed * 1103515245u + 12345u;
        fprintf(f, "%s %s %s\t%d\n", WORDS[(seed >> 16) % 24], WORDS[(seed >> 20) % 24], WORDS[(seed >> 24) % 24],
                (int)((seed >> 8) & 1));
    }
    ck_assert_int_eq(fclose(f), 0);
    const char *a[] = {"eval", "--task", "classify", "--data", data, "--threads", "1", NULL};
    ck_assert_int_eq(run(0, a, one, NULL), 0);
    ck_assert_int_eq(run(3, a, three, NULL), 0); /* 97 records: 32, 32, 33 */
    char *m1 = metrics_of(one), *m3 = metrics_of(three);
    ck_assert_str_eq(m1, m3);
    ck_assert_msg(strstr(m1, "\"items\":97"), "%s", m1);
    free(m1);
    free(m3);
}
END_TEST

START_TEST(test_mpi_needs_files) {
    const char *a[] = {"classify", "a", "b", NULL}; /* TEXT arguments: no byte ranges */
    ck_assert_int_eq(run(2, a, NULL, NULL), 1);
}
END_TEST

/* An outside probe's findings (2026-12-07): --format honoured under MPI; what the job must refuse is refused
 * before any rank works (an output holding bytes without a progress file on --resume, the input as output, a
 * device as output), nothing written. */
START_TEST(test_mpi_refusals) {
    char in[128], ref[128], out[128], part[200], err[160];
    path(in, sizeof in, "fmt.jsonl");
    path(ref, sizeof ref, "fmt-ref.jsonl");
    path(out, sizeof out, "fmt-out.jsonl");
    path(err, sizeof err, "fmt-err.txt");
    write_input(in, 30, true, 3u);
    const char *a_ref[] = {"classify", "--input", in, "--output", ref, "--threads", "1", "--format", "lines", NULL};
    ck_assert_int_eq(run(0, a_ref, NULL, NULL), 0);
    const char *a[] = {"classify", "--input", in, "--output", out, "--threads", "1", "--format", "lines", NULL};
    ck_assert_int_eq(run(2, a, NULL, err), 0);
    assert_same(ref, out, "--format lines on JSONL");
    /* --resume over an output without a progress file: refused, the file kept */
    FILE *f = fopen(out, "w");
    fputs("precious\n", f);
    fclose(f);
    const char *r[] = {"classify", "--input", in, "--output", out, "--threads", "1", "--resume", NULL};
    ck_assert_int_ne(run(2, r, NULL, err), 0);
    size_t n;
    char *kept = test_slurp(out, &n);
    ck_assert_str_eq(kept, "precious\n");
    free(kept);
    snprintf(part, sizeof part, "%s.part0-of-2", out);
    ck_assert_msg(!exists(part), "%s written", part);
    /* the input as the output, a device as the output: refused up front */
    const char *same[] = {"classify", "--input", in, "--output", in, "--threads", "1", NULL};
    ck_assert_int_ne(run(2, same, NULL, err), 0);
    snprintf(part, sizeof part, "%s.part0-of-2", in);
    ck_assert_msg(!exists(part), "%s written", part);
    char *e = test_slurp(err, &n);
    ck_assert_msg(strstr(e, "is the input"), "%s", e);
    free(e);
    const char *dev[] = {"classify", "--input", in, "--output", "/dev/null", "--threads", "1", NULL};
    ck_assert_int_ne(run(2, dev, NULL, err), 0);
    ck_assert(!exists("/dev/null.part0-of-2"));
    unlink(in), unlink(ref), unlink(out);
}
END_TEST

/* Ranks started with different arguments (an MPMD launch: `mpirun -np 1 senti
 * … : -np 1 senti …`) all stop before any work with one message, no output
 * and no partial written; ranks that differ only in options the bytes do not
 * depend on (--threads, --batch-size, --window, --progress) run, to the
 * single process's bytes. */
START_TEST(test_mpi_same_command) {
    char in[128], ref[128], out[128], out2[128], err[160], part[160];
    path(in, sizeof in, "mpmd.jsonl");
    path(ref, sizeof ref, "mpmd_ref.jsonl");
    path(out, sizeof out, "mpmd_out.jsonl");
    path(out2, sizeof out2, "mpmd_out2.jsonl");
    path(err, sizeof err, "mpmd_err.txt");
    write_input(in, 90, true, 5u);
    const char *a_ref[] = {"classify", "--input", in, "--output", ref, NULL};
    ck_assert_int_eq(run(0, a_ref, NULL, NULL), 0);
    const char *differ[] = {SENTI_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "1", g_cli, "classify",
                            "--input", in, "--output", out, ":", "-np", "1", g_cli, "classify", "--input", in,
                            "--output", out2, NULL};
    ck_assert_int_ne(wait_exit(spawn(differ, NULL, err)), 0);
    size_t n;
    char *e = test_slurp(err, &n);
    ck_assert_msg(strstr(e, "started with different arguments (rank 1's differ"), "%s", e);
    free(e);
    snprintf(part, sizeof part, "%s.part0-of-2", out);
    ck_assert_msg(!exists(out) && !exists(out2) && !exists(part), "an MPMD job with different outputs wrote");
    const char *benign[] = {SENTI_MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "1", g_cli, "classify",
                            "--input", in, "--output", out, "--threads", "1", "--batch-size=3", ":", "-np", "1",
                            g_cli, "classify", "--threads=2", "--input", in, "--progress", "--output", out,
                            "--window", "7", NULL};
    ck_assert_msg(wait_exit(spawn(benign, NULL, err)) == 0, "ranks differing in --threads / --batch-size / --window "
                  "/ --progress failed (see %s)", err);
    assert_same(ref, out, "ranks with different threads and batches");
    unlink(in), unlink(ref), unlink(out);
}
END_TEST

/* Parts another number of ranks left beside the output (a job killed on 3 ranks, resumed on 2 or in one
 * process) would be ignored by a --resume, their work done again and the files left: refused before any work,
 * naming the count; with --overwrite removed (only they: not a look-alike name, not another output's parts). */
START_TEST(test_mpi_other_ranks_parts) {
    char in[128], ref[128], out[128], err[160], p1[200], p1g[220], odd[200], other[200], part[200];
    path(in, sizeof in, "np.jsonl");
    path(ref, sizeof ref, "np_ref.jsonl");
    path(out, sizeof out, "np_out.jsonl");
    path(err, sizeof err, "np_err.txt");
    snprintf(p1, sizeof p1, "%s.part1-of-3", out);
    snprintf(p1g, sizeof p1g, "%s.progress", p1);
    snprintf(odd, sizeof odd, "%s.part1-of-3.bak", out);
    path(other, sizeof other, "np_other.jsonl.part0-of-3");
    write_input(in, 60, true, 9u);
    const char *a_ref[] = {"classify", "--input", in, "--output", ref, NULL};
    ck_assert_int_eq(run(0, a_ref, NULL, NULL), 0);
    const char *const files[] = {p1, p1g, odd, other};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(files[i], "w");
        ck_assert_ptr_nonnull(f);
        fputs("{\"id\":\"r0\"}\n", f);
        ck_assert_int_eq(fclose(f), 0);
    }
    const char *r[] = {"classify", "--input", in, "--output", out, "--resume", NULL};
    for (int np = 2; np >= 0; np -= 2) { /* 2 ranks, then one process */
        ck_assert_int_ne(run(np, r, NULL, err), 0);
        size_t n;
        char *e = test_slurp(err, &n);
        ck_assert_msg(strstr(e, "split over 3 MPI ranks") && strstr(e, "part1-of-3") && strstr(e, "--overwrite"),
                      "np %d: %s", np, e);
        free(e);
        snprintf(part, sizeof part, "%s.part0-of-2", out);
        ck_assert_msg(!exists(out) && !exists(part), "np %d: a refused resume wrote", np);
        for (int i = 0; i < 4; i++) ck_assert_msg(exists(files[i]), "np %d: %s removed", np, files[i]);
    }
    const char *o[] = {"classify", "--input", in, "--output", out, "--resume", "--overwrite", NULL};
    ck_assert_int_eq(run(2, o, NULL, err), 0);
    assert_same(ref, out, "--resume --overwrite over another run's parts");
    ck_assert_msg(!exists(p1) && !exists(p1g), "the 3-rank parts were kept");
    ck_assert_msg(exists(odd) && exists(other), "a file that is not the 3-rank run's was removed");
    unlink(in), unlink(ref), unlink(out), unlink(odd), unlink(other);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("mpi");
    TCase *tc = tcase_create("mpirun");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_jsonl_identical);
    tcase_add_test(tc, test_lines_identical);
    tcase_add_test(tc, test_kill_resume);
    tcase_add_test(tc, test_eval_reduce);
    tcase_add_test(tc, test_mpi_needs_files);
    tcase_add_test(tc, test_mpi_refusals);
    tcase_add_test(tc, test_mpi_same_command);
    tcase_add_test(tc, test_mpi_other_ranks_parts);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    ssize_t n = readlink("/proc/self/exe", g_cli, sizeof g_cli - 16);
    if (n <= 0) return 1;
    g_cli[n] = '\0';
    char *slash = strrchr(g_cli, '/');
    if (!slash) return 1;
    strcpy(slash, "/../senti"); /* <build>/tests/test_mpi -> <build>/senti */
    if (access(g_cli, X_OK) != 0) {
        fprintf(stderr, "test_mpi: skipped, %s not built\n", g_cli);
        return 77;
    }
    if (!mkdtemp(g_tmp)) return 1;
    /* Open MPI's own allocations are not ours: no leak report from the ranks
     * (an ASan build), and no CPU binding to fight the other tests. */
    setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
    setenv("OMPI_MCA_hwloc_base_binding_policy", "none", 1);
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    test_rm_tree(g_tmp);
    return nf == 0 ? 0 : 1;
}
#endif
