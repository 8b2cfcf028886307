/* resume.c — safe, resumable output: an append-only JSONL file, an exclusive
 * lock on it, and a progress sidecar OUTPUT.progress (one JSON object) that
 * says how many input records the first BYTES bytes of the output answer and
 * fingerprints the run that wrote them: the input (its identity and a hash of
 * the records consumed), the model and tokenizer files, and every option that
 * changes the output's bytes.
 *
 * Invariants:
 * - nothing is opened for writing before the output is known not to be the
 *   input (same device and inode, symlinks followed);
 * - one writer at a time: the output is flock'ed (LOCK_EX | LOCK_NB) before it
 *   is truncated or the sidecar touched, and the lock covers the sidecar (only
 *   the lock holder replaces it); a second run fails at once;
 * - the sidecar is replaced atomically (a unique mkstemp temp file
 *   OUTPUT.progress.tmp-XXXXXX, which the next lock holder removes if a kill left it; fsync,
 *   rename, fsync of the directory) and only after the output bytes it names
 *   are fsync'd, so it never claims more than the file holds;
 * - a resume trusts the sidecar only when its fingerprint matches this run,
 *   its byte count ends a line and the lines before it number its records; the
 *   output is then cut back to those bytes (a torn tail dropped) and the source
 *   checks that its first RECORDS records hash as the sidecar says before the
 *   runner writes anything. An output with no sidecar is never truncated by a
 *   resume (unless --overwrite).
 * Non-regular outputs (/dev/null, pipes, terminals) are written plainly: no
 * lock, no sidecar, and --resume refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/core.h"
#include "../core/formats.h"
#include "tasks.h"

struct task_resume {
    char *path, *progress; /* output, sidecar */
    FILE *out;
    bool regular;          /* a regular file: locked, with a sidecar */
    task_source *src;      /* borrowed: its record count and hash go into each checkpoint */
    json_t *fp;            /* the fingerprint written into the sidecar (owned) */
    int64_t vouched;       /* the output's bytes the sidecar vouches for (a failed run is cut back to them) */
    int64_t vouched_recs;  /* and its records */
    int64_t kept;          /* after task_resume_abort: the records the output holds (-1: not known) */
};

void task_resume_free(task_resume *r) {
    if (!r) return;
    if (r->out) fclose(r->out); /* also drops the lock */
    free(r->path);
    free(r->progress);
    json_decref(r->fp);
    free(r);
}

static char *cat(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", a, b);
    return s;
}

/* ---- hashing (FNV-1a, 64 bits: a fingerprint against mistakes, not attacks) ---- */

uint64_t task_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

static void hex64(uint64_t h, char out[17]) { snprintf(out, 17, "%016llx", (unsigned long long)h); }

/* Hash a file's size, first and last MiB (a weights file's header and tensor
 * bytes at both ends; a small file whole). Returns false on IO errors. */
static bool hash_file(const char *path, uint64_t *h) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat sb;
    bool ok = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    enum { CHUNK = 1 << 20 };
    char *buf = ok ? malloc(CHUNK) : NULL;
    ok = ok && buf;
    if (ok) {
        int64_t size = (int64_t)sb.st_size;
        *h = task_hash_bytes(*h, &size, sizeof size);
        off_t offs[2] = {0, size > 2 * CHUNK ? (off_t)(size - CHUNK) : (off_t)CHUNK};
        for (int k = 0; k < 2 && ok && offs[k] < size; k++) {
            ssize_t got = pread(fd, buf, CHUNK, offs[k]);
            ok = got >= 0;
            if (ok) *h = task_hash_bytes(*h, buf, (size_t)got);
        }
    }
    free(buf);
    close(fd);
    return ok;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bool task_fingerprint_path(const char *path, char hex[17]) {
    uint64_t h = 0xcbf29ce484222325ULL;
    struct stat sb;
    hex[0] = '\0';
    if (!path || stat(path, &sb) != 0) return false;
    if (!S_ISDIR(sb.st_mode)) {
        if (!hash_file(path, &h)) return false;
        hex64(h, hex);
        return true;
    }
    DIR *d = opendir(path);
    if (!d) return false;
    char **names = NULL;
    size_t n = 0, cap = 0;
    bool ok = true;
    for (struct dirent *e; ok && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            char **v = realloc(names, cap * sizeof *v);
            if (!v) ok = false;
            else names = v;
        }
        if (ok && !(names[n++] = strdup(e->d_name))) ok = false, n--;
    }
    closedir(d);
    if (ok && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && i < 256; i++) { /* a model directory's files, in name order */
        char *p = malloc(strlen(path) + strlen(names[i]) + 2);
        if (!p) {
            ok = false;
            break;
        }
        sprintf(p, "%s/%s", path, names[i]);
        struct stat fs;
        if (ok && stat(p, &fs) == 0 && S_ISREG(fs.st_mode)) {
            h = task_hash_bytes(h, names[i], strlen(names[i]) + 1);
            ok = hash_file(p, &h);
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (ok) hex64(h, hex);
    return ok;
}

/* ---- output identity ---------------------------------------------------------- */

senti_status task_output_check(const char *flag, const char *input, const char *output) {
    struct stat so, si;
    if (!output || stat(output, &so) != 0 || !S_ISREG(so.st_mode)) return SENTI_OK; /* new or not a file */
    bool std_in = !input || strcmp(input, "-") == 0;
    if (std_in ? fstat(STDIN_FILENO, &si) != 0 : stat(input, &si) != 0) return SENTI_OK;
    if (S_ISREG(si.st_mode) && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return senti_error(SENTI_ERR_INVALID_ARG, "%s %s is the input%s%s: refusing to overwrite it", flag, output,
                           std_in ? " (stdin)" : " ", std_in ? "" : input);
    return SENTI_OK;
}

static senti_status output_checks(const char *flag, const char *output, const task_resume_opts *o) {
    senti_status st = task_output_check(flag, o->input, output);
    if (st == SENTI_OK) st = task_output_clash(flag, output, "the model", o->model_path);
    if (st == SENTI_OK) st = task_output_clash(flag, output, "the tokenizer", o->tokenizer_path);
    for (int i = 0; st == SENTI_OK && i < o->n_reads; i++)
        st = task_output_clash(flag, output, o->reads_what[i], o->reads[i]);
    return st;
}

senti_status task_output_checks(const char *flag, const char *output, const task_resume_opts *o) {
    senti_status st = output_checks(flag, output, o);
    if (st != SENTI_OK || !output || !strcmp(output, "-") || o->no_sidecar) return st;
    /* and the progress file a regular output gets beside it, written over whatever has its name */
    char *prog = cat(output, ".progress"), label[4200];
    if (!prog) return senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    snprintf(label, sizeof label, "%s %s's progress file", flag, output);
    st = output_checks(label, prog, o);
    free(prog);
    return st;
}

senti_status task_output_clash(const char *flag, const char *output, const char *what, const char *path) {
    char hit[4352];
    if (!senti_file_in(output, path, hit, sizeof hit)) return SENTI_OK; /* a new output, or nothing to compare */
    return senti_error(SENTI_ERR_INVALID_ARG, "%s %s is %s%s %s: refusing to overwrite it", flag, output, what,
                       strcmp(hit, path) ? "'s" : "", hit);
}

bool task_same_path(const char *a, const char *b) {
    struct stat sa, sb;
    const bool ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb) return false;
    char *ca = strdup(a), *cb = strdup(b), *ra = NULL, *rb = NULL;
    bool same = false;
    if (ca && cb && (ra = realpath(dirname(ca), NULL)) && (rb = realpath(dirname(cb), NULL))) {
        free(ca), free(cb); /* dirname may have written into them: the final names from fresh copies */
        ca = strdup(a), cb = strdup(b);
        same = ca && cb && strcmp(ra, rb) == 0 && strcmp(basename(ca), basename(cb)) == 0;
    }
    free(ca), free(cb), free(ra), free(rb);
    return same;
}

/* ---- the sidecar --------------------------------------------------------------- */

/* Read the sidecar: 1 found (*doc set), 0 absent, -1 bad (message set). */
static int read_progress(const char *path, json_t **doc) {
    json_error_t err;
    *doc = json_load_file(path, 0, &err);
    if (!*doc) {
        if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
        senti_error(SENTI_ERR_BAD_FILE, "%s: not a senti progress file (%s; --overwrite starts over)", path, err.text);
        return -1;
    }
    json_t *v = json_object_get(*doc, "senti_progress");
    if (!json_is_integer(v) || json_integer_value(v) != 2 || !json_is_integer(json_object_get(*doc, "records")) ||
        !json_is_integer(json_object_get(*doc, "bytes")) || json_integer_value(json_object_get(*doc, "records")) < 0 ||
        json_integer_value(json_object_get(*doc, "bytes")) < 0) {
        json_decref(*doc);
        *doc = NULL;
        senti_error(SENTI_ERR_BAD_FILE, "%s: not a senti progress file of this version (--overwrite starts over)",
                    path);
        return -1;
    }
    return 1;
}

/* fsync the directory holding path (so a rename in it is durable). */
static void sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Replace the sidecar with {"senti_progress":2,"records","bytes", fingerprint…}. */
static senti_status write_progress(task_resume *r, int64_t records, int64_t bytes, uint64_t input_hash) {
    char hx[17];
    hex64(input_hash, hx);
    json_t *doc = json_deep_copy(r->fp);
    if (!doc || json_object_set_new(doc, "records", json_integer(records)) ||
        json_object_set_new(doc, "bytes", json_integer(bytes)) ||
        json_object_set_new(json_object_get(doc, "input"), "hash", json_string(hx))) {
        json_decref(doc);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", r->progress);
    }
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    char *tmp = cat(r->progress, ".tmp-XXXXXX");
    if (!s || !tmp) {
        free(s);
        free(tmp);
        return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", r->progress);
    }
    senti_status st = SENTI_OK;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = senti_error(SENTI_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t w = write(fd, s + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int bad = off < n || write(fd, "\n", 1) != 1 || fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad || rename(tmp, r->progress) != 0) {
        st = senti_error(SENTI_ERR_IO, "%s: %s", r->progress, strerror(bad ? e : errno));
        unlink(tmp);
        goto done;
    }
    sync_dir(r->progress);
done:
    free(s);
    free(tmp);
    return st;
}

/* Remove OUTPUT.progress.tmp-XXXXXX temp files a killed run left (we hold the lock:
 * no other run is writing one). */
static void remove_stale_temps(const char *progress) {
    char *copy = strdup(progress), *copy2 = strdup(progress);
    if (!copy || !copy2) goto done;
    const char *dir = dirname(copy), *base = basename(copy2);
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    if (!d) goto done;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".tmp-", 5) != 0 ||
            strlen(e->d_name + bl + 5) != 6)
            continue;
        char *p = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (p) {
            sprintf(p, "%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
    }
    closedir(d);
done:
    free(copy);
    free(copy2);
}

/* The fingerprint of this run: {"senti_progress":2,"input":{name,dev,ino},
 * "model","tokenizer","options"}. NULL on OOM. */
static json_t *fingerprint(const task_resume_opts *o) {
    json_t *fp = json_object(), *in = json_object();
    if (!fp || !in) {
        json_decref(fp);
        json_decref(in);
        return NULL;
    }
    json_object_set_new(fp, "senti_progress", json_integer(2));
    json_object_set_new(fp, "records", json_integer(0));
    json_object_set_new(fp, "bytes", json_integer(0));
    struct stat sb;
    const char *name = !o->input ? "<arguments>" : strcmp(o->input, "-") == 0 ? "<stdin>" : o->input;
    json_object_set_new(in, "name", json_string(name));
    if (o->input && strcmp(o->input, "-") != 0 && stat(o->input, &sb) == 0) {
        json_object_set_new(in, "dev", json_integer((json_int_t)sb.st_dev));
        json_object_set_new(in, "ino", json_integer((json_int_t)sb.st_ino));
    }
    json_object_set_new(fp, "input", in);
    char hx[17];
    json_object_set_new(fp, "model", json_string(task_fingerprint_path(o->model_path, hx) ? hx : ""));
    json_object_set_new(fp, "tokenizer",
                        json_string(o->tokenizer_path && task_fingerprint_path(o->tokenizer_path, hx) ? hx : ""));
    json_object_set_new(fp, "options", o->options ? json_deep_copy(o->options) : json_array());
    /* the other files the run reads (a second model, --few-shot examples): their contents */
    json_t *reads = json_object();
    for (int i = 0; reads && i < o->n_reads; i++)
        if (o->reads[i] && o->reads_what && o->reads_what[i])
            json_object_set_new(reads, o->reads_what[i],
                                json_string(task_fingerprint_path(o->reads[i], hx) ? hx : ""));
    if (reads) json_object_set_new(fp, "reads", reads);
    return fp;
}

/* Options in a but not in b, joined with spaces into buf. */
static void options_minus(const json_t *a, const json_t *b, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        bool found = false;
        for (size_t j = 0; j < json_array_size(b) && !found; j++)
            found = json_equal(json_array_get(a, i), json_array_get(b, j));
        if (!found && s && used < n)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "", s);
    }
    if (!buf[0]) snprintf(buf, n, "(none)");
}

/* Every entry of a (after the command's name) into buf, in order. */
static void options_all(const json_t *a, char *buf, size_t n) {
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 1; i < json_array_size(a) && used < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s) used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "", s);
    }
}

/* Compare the sidecar's fingerprint with ours; SENTI_OK or INVALID_ARG naming what changed. */
static senti_status check_fingerprint(const task_resume *r, const json_t *doc) {
    const char *what[] = {"model", "tokenizer"};
    for (int k = 0; k < 2; k++) {
        const char *was = json_string_value(json_object_get(doc, what[k]));
        const char *now = json_string_value(json_object_get(r->fp, what[k]));
        if (!was || !now || strcmp(was, now) != 0)
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "--resume: %s was written with another %s (fingerprint %s, now %s); "
                               "rerun without --resume to start over",
                               r->path, what[k], was && *was ? was : "none", now && *now ? now : "none");
    }
    /* (a sidecar without "reads" was written before they were fingerprinted) */
    const json_t *rw = json_object_get(doc, "reads"), *rn = json_object_get(r->fp, "reads");
    const char *key;
    json_t *v;
    if (json_is_object(rw))
        json_object_foreach((json_t *)rn, key, v) {
            const char *was = json_string_value(json_object_get(rw, key)), *now = json_string_value(v);
            if (!was || !now || strcmp(was, now) != 0)
                return senti_error(SENTI_ERR_INVALID_ARG,
                                   "--resume: %s was written when %s had other contents (fingerprint %s, now %s); "
                                   "rerun without --resume to start over",
                                   r->path, key, was && *was ? was : "none", now && *now ? now : "none");
        }
    const json_t *ow = json_object_get(doc, "options"), *on = json_object_get(r->fp, "options");
    if (!json_equal(ow, on)) {
        char then[512], now[512];
        options_minus(ow, on, then, sizeof then);
        options_minus(on, ow, now, sizeof now);
        /* the kernel level (and the kernel switches beside it): say how to continue at them */
        const char *lv = strstr(then, "SENTI_SIMD=");
        char hint[256] = "";
        if (lv && strstr(now, "SENTI_SIMD=")) {
            size_t n = strcspn(lv, ";");
            snprintf(hint, sizeof hint, "run with the environment %.*s (the level if this CPU has it; SENTI_MATMUL, "
                     "_CUDA_DTYPE, _FUSE, _PACK and _PRUNE unset unless named) to continue, or ", (int)n, lv);
        }
        if (!strcmp(then, "(none)") && !strcmp(now, "(none)")) { /* the same flags in another order (--aspect a b) */
            options_all(ow, then, sizeof then);
            options_all(on, now, sizeof now);
        }
        return senti_error(SENTI_ERR_INVALID_ARG,
                           "--resume: %s was written with other options (then: %s; now: %s); "
                           "%srerun without --resume to start over",
                           r->path, then, now, hint);
    }
    return SENTI_OK;
}

/* Count '\n' in the first bytes of fd and check byte bytes-1 is one. */
static senti_status check_lines(const task_resume *r, int fd, int64_t bytes, int64_t records) {
    enum { CHUNK = 1 << 20 };
    char *buf = malloc(CHUNK);
    if (!buf) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", r->path);
    int64_t lines = 0, off = 0;
    char last = '\n';
    while (off < bytes) {
        size_t want = bytes - off < CHUNK ? (size_t)(bytes - off) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got <= 0) {
            free(buf);
            return senti_error(SENTI_ERR_IO, "%s: read failed: %s", r->path, got < 0 ? strerror(errno) : "short file");
        }
        for (const char *p = buf, *e = buf + got; (p = memchr(p, '\n', (size_t)(e - p))); p++) lines++;
        last = buf[got - 1];
        off += got;
    }
    free(buf);
    if (last != '\n')
        return senti_error(SENTI_ERR_BAD_FILE, "%s: its progress file's byte count (%lld) is not the end of a line",
                           r->path, (long long)bytes);
    if (lines != records)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: its first %lld bytes hold %lld lines, not the %lld records its "
                           "progress file names", r->path, (long long)bytes, (long long)lines, (long long)records);
    return SENTI_OK;
}

task_resume *task_resume_open(const char *path, const task_resume_opts *o, task_source *src, int64_t *skip) {
    task_resume *r = calloc(1, sizeof *r);
    json_t *doc = NULL;
    int fd = -1;
    *skip = 0;
    if (!r || !(r->path = strdup(path)) || !(r->progress = cat(path, ".progress")) || !(r->fp = fingerprint(o))) {
        senti_error(SENTI_ERR_NO_MEMORY, "resume: out of memory");
        goto fail;
    }
    r->src = src;
    r->kept = -1;
    if (task_output_checks("--output", path, o) != SENTI_OK) goto fail;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) { /* /dev/null, a pipe, a terminal: write plainly */
        if (o->resume) {
            senti_error(SENTI_ERR_INVALID_ARG, "--resume needs --output to be a regular file (%s is not)", path);
            goto fail;
        }
        if (!(r->out = fopen(path, "wb"))) {
            senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        return r;
    }
    r->regular = true;
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        senti_error(SENTI_ERR_IO, "%s: %s", path,
                    errno == EWOULDBLOCK ? "another senti run is writing this output (it is locked)" : strerror(errno));
        goto fail;
    }
    remove_stale_temps(r->progress);
    if (fstat(fd, &sb) != 0) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    int64_t records = 0, bytes = 0;
    int found = o->resume ? read_progress(r->progress, &doc) : 0;
    if (found < 0 && !o->overwrite) goto fail;
    if (found < 0) found = 0; /* --overwrite: an unreadable sidecar is no sidecar */
    if (o->resume && !found && sb.st_size > 0 && !o->overwrite) {
        senti_error(SENTI_ERR_INVALID_ARG,
                    "--resume: %s holds %lld bytes but has no progress file %s: refusing to truncate it "
                    "(give --overwrite to start over)", path, (long long)sb.st_size, r->progress);
        goto fail;
    }
    if (found) {
        records = json_integer_value(json_object_get(doc, "records"));
        bytes = json_integer_value(json_object_get(doc, "bytes"));
        if (check_fingerprint(r, doc) != SENTI_OK) goto fail;
        if (sb.st_size < bytes) {
            senti_error(SENTI_ERR_BAD_FILE, "%s: shorter than its progress file says (%lld < %lld bytes)", path,
                        (long long)sb.st_size, (long long)bytes);
            goto fail;
        }
        if (check_lines(r, fd, bytes, records) != SENTI_OK) goto fail;
        const char *hx = json_string_value(json_object_get(json_object_get(doc, "input"), "hash"));
        char *end = NULL;
        uint64_t want = hx ? strtoull(hx, &end, 16) : 0;
        if (!hx || *end) {
            senti_error(SENTI_ERR_BAD_FILE, "%s: no input hash", r->progress);
            goto fail;
        }
        if (src) task_source_expect(src, records, want, json_string_value(json_object_get(json_object_get(doc, "input"), "name")));
    } else if (unlink(r->progress) != 0 && errno != ENOENT) { /* a stale sidecar goes before the bytes it names */
        senti_error(SENTI_ERR_IO, "%s: %s", r->progress, strerror(errno));
        goto fail;
    }
    /* no checkpoint: start over; else drop what follows the last one (a torn tail) */
    if (ftruncate(fd, (off_t)bytes) != 0 || lseek(fd, 0, SEEK_END) < 0) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!found && write_progress(r, 0, 0, task_source_hash(NULL)) != SENTI_OK) goto fail;
    r->vouched = bytes;
    r->vouched_recs = records;
    if (!(r->out = fdopen(fd, "ab"))) {
        senti_error(SENTI_ERR_IO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    json_decref(doc);
    *skip = records;
    return r;
fail:
    if (fd >= 0) close(fd);
    json_decref(doc);
    task_resume_free(r);
    return NULL;
}

FILE *task_resume_file(task_resume *r) { return r->out; }

senti_status task_resume_checkpoint(void *ctx, int64_t records_done) {
    task_resume *r = ctx;
    if (fflush(r->out) != 0) return senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno));
    if (!r->regular) return SENTI_OK;
    if (fsync(fileno(r->out)) != 0) return senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno));
    long off = ftell(r->out);
    if (off < 0) return senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno));
    if (r->src && task_source_count(r->src) != records_done)
        return senti_error(SENTI_ERR_INVALID_ARG, "resume: checkpoint after %lld records, but the source read %lld",
                           (long long)records_done, (long long)task_source_count(r->src));
    senti_status st = write_progress(r, records_done, off, task_source_hash(r->src));
    if (st == SENTI_OK) r->vouched = off, r->vouched_recs = records_done;
    return st;
}

int64_t task_resume_kept(const task_resume *r, int64_t *checkpoint) {
    if (checkpoint) *checkpoint = r ? r->vouched_recs : 0;
    return r ? r->kept : -1;
}

senti_status task_resume_close(task_resume *r) {
    int bad = fclose(r->out) != 0;
    r->out = NULL;
    return bad ? senti_error(SENTI_ERR_IO, "%s: %s", r->path, strerror(errno)) : SENTI_OK;
}

senti_status task_resume_abort(task_resume *r) {
    if (!r->regular) return task_resume_close(r);
    /* what stdio holds goes out if it can (a --strict stop's lines); what a failed write left is dropped */
    if (fflush(r->out) != 0) __fpurge(r->out);
    const int fd = fileno(r->out);
    struct stat sb;
    off_t keep = (off_t)r->vouched;
    char buf[4096];
    if (fstat(fd, &sb) == 0) /* the end of the last whole line at or after the checkpoint */
        for (off_t end = sb.st_size; end > keep;) {
            const off_t at = end - (off_t)sizeof buf > keep ? end - (off_t)sizeof buf : keep;
            const ssize_t got = pread(fd, buf, (size_t)(end - at), at);
            if (got != end - at) break;
            ssize_t i = got - 1;
            while (i >= 0 && buf[i] != '\n') i--;
            if (i >= 0) {
                keep = at + i + 1;
                break;
            }
            end = at;
        }
    const int bad = ftruncate(fd, keep) != 0;
    const int err = errno;
    if (!bad) { /* the records kept: the checkpoint's and the whole lines after it */
        int64_t lines = 0;
        off_t at = (off_t)r->vouched;
        for (; at < keep;) {
            const size_t want = keep - at > (off_t)sizeof buf ? sizeof buf : (size_t)(keep - at);
            const ssize_t got = pread(fd, buf, want, at);
            if (got <= 0) break;
            for (ssize_t i = 0; i < got; i++) lines += buf[i] == '\n';
            at += got;
        }
        if (at == keep) r->kept = r->vouched_recs + lines;
    }
    fclose(r->out);
    r->out = NULL;
    return bad ? senti_error(SENTI_ERR_IO, "%s: cutting back its torn last line: %s", r->path, strerror(err))
               : SENTI_OK;
}
