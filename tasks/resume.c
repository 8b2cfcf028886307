/* resume.c — resumable output: an append-only JSONL file plus a progress
 * sidecar (OUTPUT.progress: "senti-progress 1 RECORDS BYTES\n") that says how
 * many input records the first BYTES bytes of the output answer.
 *
 * Invariants: the sidecar is replaced atomically (write a temp file, fsync,
 * rename) and only after the output bytes it names are fsync'd, so it never
 * claims more than the file holds. On resume the output is cut back to BYTES
 * (dropping lines written after the last checkpoint, torn ones included) and
 * the runner skips RECORDS input records: nothing lost, nothing duplicated.
 * Checkpoints fall on window boundaries, so a resumed run forms the same
 * batches as an uninterrupted one and writes the same bytes. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"
#include "tasks.h"

struct task_resume {
    char *path, *progress, *tmp; /* output, sidecar, sidecar's temp file */
    FILE *out;
};

void task_resume_free(task_resume *r) {
    if (!r) return;
    if (r->out) fclose(r->out);
    free(r->path);
    free(r->progress);
    free(r->tmp);
    free(r);
}

static char *cat(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return s;
}

/* Read the sidecar: 1 found (fills records, bytes), 0 absent, -1 bad. */
static int read_progress(const char *path, int64_t *records, int64_t *bytes) {
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 0;
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    long long r = -1, b = -1;
    int v = 0, got = fscanf(f, "senti-progress %d %lld %lld", &v, &r, &b);
    fclose(f);
    if (got != 3 || v != 1 || r < 0 || b < 0) {
        senti_error(SENTI_ERR_BAD_FILE, "%s: not a senti progress file", path);
        return -1;
    }
    *records = r;
    *bytes = b;
    return 1;
}

task_resume *task_resume_open(const char *path, bool resume, int64_t *skip) {
    task_resume *r = calloc(1, sizeof *r);
    *skip = 0;
    if (!r || !(r->path = strdup(path)) || !(r->progress = cat(path, ".progress")) ||
        !(r->tmp = cat(path, ".progress.tmp"))) {
        senti_error(SENTI_ERR_NO_MEMORY, "resume: out of memory");
        goto fail;
    }
    int64_t records = 0, bytes = 0;
    int found = resume ? read_progress(r->progress, &records, &bytes) : 0;
    if (found < 0) goto fail;
    if (!resume && unlink(r->progress) != 0 && errno != ENOENT) {
        senti_error(SENTI_ERR_IO, "%s: %s", r->progress, strerror(errno));
        goto fail;
    }
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (found && sb.st_size < bytes)) {
        close(fd);
        senti_error(SENTI_ERR_BAD_FILE, "%s: shorter than its progress file says (%lld < %lld bytes)", path,
                    (long long)sb.st_size, (long long)bytes);
        goto fail;
    }
    /* no checkpoint: start over; else drop what follows the last one */
    if (ftruncate(fd, (off_t)bytes) != 0 || lseek(fd, 0, SEEK_END) < 0 || !(r->out = fdopen(fd, "ab"))) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    *skip = records;
    return r;
fail:
    task_resume_free(r);
    return NULL;
}

FILE *task_resume_file(task_resume *r) { return r->out; }

senti_status task_resume_checkpoint(void *ctx, int64_t records_done) {
    task_resume *r = ctx;
    if (fflush(r->out) != 0 || fsync(fileno(r->out)) != 0)
        return senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno));
    long off = ftell(r->out);
    if (off < 0) return senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno));
    FILE *f = fopen(r->tmp, "w");
    if (!f) return senti_error(SENTI_ERR_IO, "%s: %s", r->tmp, strerror(errno));
    int bad = fprintf(f, "senti-progress 1 %lld %ld\n", (long long)records_done, off) < 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(r->tmp, r->progress) != 0)
        return senti_error(SENTI_ERR_IO, "%s: %s", r->progress, strerror(errno));
    return SENTI_OK;
}

senti_status task_resume_close(task_resume *r) {
    int bad = fclose(r->out) != 0;
    r->out = NULL;
    return bad ? senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno)) : SENTI_OK;
}
