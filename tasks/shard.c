/* shard.c — data-parallel shards of one input file, for runs split over MPI
 * ranks (the MPI calls themselves live in cli/mpi.c): the byte range of each
 * rank, aligned to line starts; the lines in a range (summed over the ranks
 * before, the first default id of a range); the partial output's name; the merge of the
 * partial outputs, in rank order, into one; and the parts another number of
 * ranks left (which a resume must not silently ignore).
 *
 * Invariants: the ranges of ranks 0..n-1 tile [0, size) with no gap or
 * overlap, each starting at the start of a line, so every record lies in
 * exactly one range; a rank numbers its lines from the count of '\n' bytes
 * before its range, so ids equal the single-process run's, and each rank
 * reads only its own range to count them; concatenating
 * the partial outputs in rank order gives the single-process output, byte for
 * byte (batch invariance). Memory is one fixed buffer, whatever the file's
 * size. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"
#include "tasks.h"

enum { SHARD_CHUNK = 1 << 20 };

/* The first line start at or after byte b of f (size bytes): b when b is 0 or
 * follows a '\n', else the byte after the next '\n', else size. */
static senti_status line_start(FILE *f, const char *name, int64_t size, int64_t b, int64_t *at) {
    if (b <= 0 || b >= size) {
        *at = b <= 0 ? 0 : size;
        return SENTI_OK;
    }
    if (fseeko(f, (off_t)(b - 1), SEEK_SET) != 0)
        return senti_error(SENTI_ERR_IO, "%s: cannot seek to byte %lld: %s", name, (long long)b - 1, strerror(errno));
    int64_t pos = b - 1;
    for (int c; (c = getc(f)) != EOF; pos++)
        if (c == '\n') {
            *at = pos + 1;
            return SENTI_OK;
        }
    if (ferror(f)) return senti_error(SENTI_ERR_IO, "%s: read failed after byte %lld", name, (long long)pos);
    *at = size;
    return SENTI_OK;
}

senti_status task_shard_range(FILE *f, const char *name, int rank, int n, int64_t *start, int64_t *end) {
    struct stat sb;
    if (n < 1 || rank < 0 || rank >= n) return senti_error(SENTI_ERR_INVALID_ARG, "shard %d of %d", rank, n);
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        return senti_error(SENTI_ERR_INVALID_ARG, "%s: sharding over ranks needs a regular file (not a pipe or stdin)",
                           name);
    const int64_t size = (int64_t)sb.st_size;
    /* nominal cut k: size * k / n, without overflow for any file size */
    int64_t b0 = size / n * rank + size % n * rank / n, b1 = size / n * (rank + 1) + size % n * (rank + 1) / n;
    senti_status s = line_start(f, name, size, b0, start);
    if (s == SENTI_OK) s = line_start(f, name, size, b1, end);
    return s;
}

senti_status task_shard_count_lines(FILE *f, const char *name, int64_t start, int64_t end, int64_t *lines) {
    *lines = 0;
    if (fseeko(f, (off_t)start, SEEK_SET) != 0)
        return senti_error(SENTI_ERR_IO, "%s: cannot seek to byte %lld: %s", name, (long long)start, strerror(errno));
    char *buf = malloc(SHARD_CHUNK);
    if (!buf) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    senti_status s = SENTI_OK;
    for (int64_t done = start; done < end;) {
        size_t want = end - done < SHARD_CHUNK ? (size_t)(end - done) : SHARD_CHUNK;
        size_t got = fread(buf, 1, want, f);
        if (got == 0) {
            s = senti_error(SENTI_ERR_IO, "%s: read failed at byte %lld", name, (long long)done);
            break;
        }
        for (const char *p = buf, *e = buf + got; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) ++*lines;
        done += (int64_t)got;
    }
    free(buf);
    return s;
}

char *task_shard_part_name(const char *output, int rank, int n) {
    size_t len = strlen(output) + 40;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s.part%d-of-%d", output, rank, n);
    else senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    return p;
}

senti_status task_shard_append(FILE *dst, const char *dst_name, const char *part) {
    FILE *f = fopen(part, "rb");
    if (!f) return senti_error(SENTI_ERR_IO, "cannot open %s: %s", part, strerror(errno));
    char *buf = malloc(SHARD_CHUNK);
    senti_status s = buf ? SENTI_OK : senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    for (size_t got; s == SENTI_OK && (got = fread(buf, 1, SHARD_CHUNK, f)) > 0;)
        if (fwrite(buf, 1, got, dst) != got) s = senti_error(SENTI_ERR_IO, "%s: write failed: %s", dst_name, strerror(errno));
    if (s == SENTI_OK && ferror(f)) s = senti_error(SENTI_ERR_IO, "%s: read failed", part);
    free(buf);
    fclose(f);
    return s;
}

/* Does name (a directory entry) belong to base's split run over M != n ranks:
 * "BASE.partR-of-M" as task_shard_part_name writes it (no leading zeros),
 * optionally followed by ".progress" or ".progress.tmp-…"? *sidecar: it is one
 * of those. */
static bool other_part(const char *name, const char *base, size_t nb, int n, int *m, bool *sidecar) {
    if (strncmp(name, base, nb) != 0 || strncmp(name + nb, ".part", 5) != 0) return false;
    const char *p = name + nb + 5;
    char *e;
    errno = 0;
    if (!isdigit((unsigned char)*p)) return false;
    const long r = strtol(p, &e, 10);
    if (strncmp(e, "-of-", 4) != 0 || !isdigit((unsigned char)e[4])) return false;
    const long k = strtol(e + 4, &e, 10);
    if (errno != 0 || k < 2 || k > 1 << 24 || r >= k) return false;
    char canon[48];
    const int cn = snprintf(canon, sizeof canon, ".part%ld-of-%ld", r, k);
    if (cn <= 0 || (size_t)(e - (name + nb)) != (size_t)cn || strncmp(name + nb, canon, (size_t)cn) != 0) return false;
    if (*e != '\0' && strcmp(e, ".progress") != 0 && strncmp(e, ".progress.tmp-", 14) != 0) return false;
    *m = (int)k;
    *sidecar = *e != '\0';
    return k != n;
}

/* One pass over the directory: count the other runs' files (and the first
 * name), or with remove unlink them. check: refuse (before any removal) one
 * the run reads, or a part a running job holds locked. */
static senti_status scan_parts(const char *dir, const char *base, const char *output, int n, bool check, bool remove,
                               const char *const *keep, int n_keep, int64_t *found, int *m, char **first) {
    const size_t nb = strlen(base);
    senti_status s = SENTI_OK;
    DIR *dp = opendir(dir);
    if (!dp) /* an unreadable directory lists nothing to refuse or remove */
        return errno == EACCES ? SENTI_OK
                               : senti_error(SENTI_ERR_IO, "cannot read the directory %s (for %s's parts): %s", dir,
                                             output, strerror(errno));
    for (struct dirent *de; s == SENTI_OK && (errno = 0, de = readdir(dp)) != NULL;) {
        int k;
        bool sidecar;
        if (!other_part(de->d_name, base, nb, n, &k, &sidecar)) continue;
        const size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char *path = malloc(len);
        if (!path) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
            break;
        }
        snprintf(path, len, "%s/%s", dir, de->d_name);
        for (int i = 0; check && i < n_keep && s == SENTI_OK; i++)
            if (keep[i] && task_same_path(path, keep[i]))
                s = senti_error(SENTI_ERR_INVALID_ARG, "%s is named as a part of %s but is %s: refusing to remove it",
                                path, output, keep[i]);
        if (s == SENTI_OK && check && !sidecar) { /* a rank writing it holds its lock */
            const int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK)
                s = senti_error(SENTI_ERR_INVALID_ARG, "%s is being written by a running job: refusing to remove it",
                                path);
            if (fd >= 0) close(fd);
        }
        if (s != SENTI_OK) {
            /* (refused above) */
        } else if (remove && unlink(path) != 0 && errno != ENOENT) {
            s = senti_error(SENTI_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        } else if (!*first || strcmp(path, *first) < 0) { /* the first by name: the message is the same each time */
            free(*first);
            *first = path, *m = k, path = NULL;
        }
        free(path);
        (*found)++;
    }
    if (s == SENTI_OK && errno != 0) s = senti_error(SENTI_ERR_IO, "cannot read the directory %s: %s", dir, strerror(errno));
    closedir(dp);
    return s;
}

senti_status task_shard_other_parts(const char *output, int n, bool remove, const char *const *keep, int n_keep,
                                    int64_t *found, int *m, char **first) {
    *found = 0, *m = 0, *first = NULL;
    char *d = strdup(output), *b = strdup(output);
    if (!d || !b) {
        free(d), free(b);
        return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    }
    const char *dir = dirname(d), *base = basename(b);
    /* with remove: every file checked first, then removed (nothing goes when one is refused) */
    senti_status s = scan_parts(dir, base, output, n, remove, false, keep, n_keep, found, m, first);
    if (s == SENTI_OK && remove && *found > 0) {
        free(*first), *first = NULL, *found = 0;
        s = scan_parts(dir, base, output, n, false, true, keep, n_keep, found, m, first);
    }
    if (s != SENTI_OK) free(*first), *first = NULL, *found = 0, *m = 0;
    free(d), free(b);
    return s;
}
