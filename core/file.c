/* file.c — opening input files: a reader only ever opens a regular file, and
 * never blocks on the way. open() of a FIFO with no writer waits forever, so
 * every path is opened with O_NONBLOCK, checked with fstat, and only then put
 * back into blocking mode; a FIFO, device, socket or directory is refused with
 * a message naming the path and what it is. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"
#include "formats.h"

static const char *kind_of(mode_t m) {
    return S_ISFIFO(m) ? "a FIFO" : S_ISDIR(m) ? "a directory" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

int senti_open_regular(const char *path, size_t *size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        senti_error(SENTI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    int fl;
    if (fstat(fd, &sb) != 0) {
        senti_error(SENTI_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        senti_error(SENTI_ERR_IO, "%s: is %s; only a regular file can be read", path, kind_of(sb.st_mode));
        goto fail;
    }
    if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        senti_error(SENTI_ERR_IO, "%s: cannot clear O_NONBLOCK: %s", path, strerror(errno));
        goto fail;
    }
    if (size) *size = (size_t)sb.st_size;
    return fd;
fail:
    close(fd);
    return -1;
}

FILE *senti_fopen_regular(const char *path) {
    int fd = senti_open_regular(path, NULL);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        senti_error(SENTI_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

json_t *senti_json_load(const char *path, size_t flags, json_error_t *err) {
    json_error_t local;
    if (!err) err = &local;
    FILE *f = senti_fopen_regular(path);
    if (!f) { /* as json_load_file reports a failed open: line -1 */
        memset(err, 0, sizeof *err);
        err->line = err->column = -1;
        const char *m = senti_last_error();
        size_t pl = strlen(path);
        if (strncmp(m, path, pl) == 0 && strncmp(m + pl, ": ", 2) == 0) m += pl + 2; /* the caller names the path */
        snprintf(err->text, sizeof err->text, "%s", m);
        snprintf(err->source, sizeof err->source, "%s", path);
        return NULL;
    }
    json_t *j = json_loadf(f, flags, err);
    fclose(f);
    return j;
}

bool senti_file_in(const char *file, const char *path, char *hit, size_t n) {
    struct stat sf, sp, se;
    if (!file || !path || stat(file, &sf) != 0 || !S_ISREG(sf.st_mode) || stat(path, &sp) != 0) return false;
    bool found = S_ISREG(sp.st_mode) && sp.st_dev == sf.st_dev && sp.st_ino == sf.st_ino;
    if (found && n) snprintf(hit, n, "%s", path);
    DIR *d = S_ISDIR(sp.st_mode) ? opendir(path) : NULL;
    char p[4352];
    for (struct dirent *e; d && !found && (e = readdir(d));)
        found = snprintf(p, sizeof p, "%s/%s", path, e->d_name) < (int)sizeof p && stat(p, &se) == 0 &&
                S_ISREG(se.st_mode) && se.st_dev == sf.st_dev && se.st_ino == sf.st_ino;
    if (d) closedir(d);
    if (found && d && n) snprintf(hit, n, "%s", p);
    return found;
}

int64_t senti_utf8_invalid_at(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else return (int64_t)i;
        if (i + k >= n) return (int64_t)i; /* cut short by the end */
        if (s[i + 1] < lo || s[i + 1] > hi) return (int64_t)i;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xBF) return (int64_t)i;
        i += k + 1;
    }
    return -1;
}

void senti_utf8_scrub(char *s, size_t n) {
    for (int64_t at = senti_utf8_invalid_at(s, n); at >= 0 && (size_t)at < n;) {
        s[at] = '?';
        const int64_t next = senti_utf8_invalid_at(s + at + 1, n - (size_t)at - 1);
        at = next < 0 ? -1 : at + 1 + next;
    }
}
