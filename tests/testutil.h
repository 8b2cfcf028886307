/* testutil.h — helpers shared by the Check test programs (static: include
 * in one .c file per program):
 *  - a counting allocator for allocation-failure sweeps: the g_fail_at-th
 *    allocation (counting from 0, g_count so far) returns NULL, and g_live
 *    counts blocks not yet freed, so a sweep can assert that every failure
 *    path releases everything;
 *  - assert_msg_has: the last error message contains each given string;
 *  - test_rm_tree: remove a temporary directory and everything below it;
 *  - test_repo_root / test_list_dir: where the fixtures are, and which;
 *  - test_cli_path: the senti command of the build tree the test runs in. */
#ifndef SENTI_TESTUTIL_H
#define SENTI_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "include/senti.h"

static long g_live, g_count, g_fail_at;

__attribute__((unused)) static void *count_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (g_count++ == g_fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : align) != 0) return NULL;
    g_live++;
    return p;
}

__attribute__((unused)) static void count_free(void *p, void *user) {
    (void)user;
    g_live--;
    free(p);
}

/* <build>/senti, beside the running <build>/tests/test_x, into cli[n]; false
 * (saying on stderr that who is skipped) when it is not built. */
__attribute__((unused)) static bool test_cli_path(const char *who, char *cli, size_t n) {
    const ssize_t len = readlink("/proc/self/exe", cli, n - 16);
    ck_assert_int_gt(len, 0);
    cli[len] = '\0';
    strcpy(strrchr(cli, '/'), "/../senti");
    if (access(cli, X_OK) == 0) return true;
    fprintf(stderr, "%s: skipped, %s not built\n", who, cli);
    return false;
}

/* NULL-terminated list of strings that senti_last_error() must contain;
 * SENTI_TEST_VERBOSE=1 prints each message. */
__attribute__((unused)) static void assert_msg_has(const char *what, ...) {
    const char *msg = senti_last_error();
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: %s\n", what, msg);
    va_list ap;
    va_start(ap, what);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        ck_assert_msg(strstr(msg, s) != NULL, "%s: message \"%s\" lacks \"%s\"", what, msg, s);
    va_end(ap);
}

/* The whole file at path, NUL-terminated (caller frees); *n its length. */
__attribute__((unused)) static char *test_slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    b[len] = '\0';
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int test_rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}
__attribute__((unused)) static void test_rm_tree(const char *dir) { nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The repository root from a test's source path (pass __FILE__: it ends in
 * "/tests/NAME.c"), into buf; "." when the path says nothing. */
__attribute__((unused)) static void test_repo_root(const char *file, char *buf, size_t n) {
    const char *e = NULL;
    for (const char *p = strstr(file, "/tests/"); p; p = strstr(p + 1, "/tests/")) e = p;
    if (e && (size_t)(e - file) < n) snprintf(buf, n, "%.*s", (int)(e - file), file);
    else snprintf(buf, n, ".");
}

static int test_cmp_name(const void *a, const void *b) { return strcmp(a, b); }

/* The entries of dir (hidden ones skipped), each as prefix + name, sorted,
 * into names: an array of rows of `width` bytes, at most max rows. Returns
 * the count (0 when dir cannot be read). */
__attribute__((unused)) static int test_list_dir(const char *dir, const char *prefix, char *names, int max,
                                                 size_t width) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max)
        if (de->d_name[0] != '.') snprintf(names + (size_t)n++ * width, width, "%s%s", prefix, de->d_name);
    closedir(d);
    qsort(names, (size_t)n, width, test_cmp_name);
    return n;
}

#endif
