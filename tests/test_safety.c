/* test_safety.c — nothing lost, nothing silently wrong (issue 13, part A):
 * the numbered reproducers, each a test that failed before the fix.
 *  1  --output equal to --input (also through a symlink) is refused, the input untouched;
 *  2  a second writer on a locked output fails at once, the output untouched;
 *  3  --resume refuses an output without a sidecar (unless --overwrite), another input, model or
 *     options, a sidecar not on a line boundary; cuts a torn tail; resumes to the same bytes (JSONL
 *     and a dataset reader's records);
 *  4  NaN logits give that record "non-finite logits" and the run goes on; `senti logits` writes null;
 *  5  a record with token ids outside the model's vocabulary gets its own error line;
 *  7  write errors (/dev/full) give a non-zero exit in tokenize, info, logits, classify;
 *  8  per-record tokenizer messages are right with several threads;
 *  10 duplicate label names are refused (id2label, --labels, a record's "labels");
 *  13 --window 16M does not preallocate; tokenize reports invalid UTF-8; duplicate JSON keys refused.
 * The CLI tests run <build>/senti (SENTI_CLI overrides) on fixtures copied into a temp dir. */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "senti.h"
#include "task_helpers.h"

static char g_root[2048], g_cli[4096], g_tmp[64], g_model[2200], g_tok[2200], g_rtok[2200];

static void init_paths(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    snprintf(g_model, sizeof g_model, "%s/tests/fixtures/tasks/bert-sst2", g_root);
    snprintf(g_tok, sizeof g_tok, "%s/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json", g_root);
    snprintf(g_rtok, sizeof g_rtok, "%s/../shared/assets/tokenizers/roberta-base/tokenizer.json", g_root);
    const char *env = getenv("SENTI_CLI");
    if (env) {
        snprintf(g_cli, sizeof g_cli, "%s", env);
    } else {
        ssize_t n = readlink("/proc/self/exe", g_cli, sizeof g_cli - 16);
        g_cli[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(g_cli, '/');
        if (slash) strcpy(slash, "/../senti"); /* <build>/tests/test_safety -> <build>/senti */
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/senti-safety-XXXXXX");
    if (!mkdtemp(g_tmp)) abort();
}

static bool have(const char *path) {
    if (access(path, R_OK) == 0) return true;
    fprintf(stderr, "skipped: %s not found\n", path);
    return false;
}

/* Run a shell command (printf-style), stderr to g_tmp/err; its exit status. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...) {
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[17000];
    snprintf(full, sizeof full, "%s 2>%s/err", cmd, g_tmp);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* g_tmp/name as a path into buf. */
static const char *tp(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_tmp, name);
    return buf;
}

static void put(const char *name, const char *text) {
    char p[256];
    FILE *f = fopen(tp(p, sizeof p, name), "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static char *get(const char *name) {
    char p[256];
    size_t n;
    return test_slurp(tp(p, sizeof p, name), &n);
}

/* The last command's stderr contains s. */
static void err_has(const char *s) {
    char *e = get("err");
    ck_assert_msg(strstr(e, s) != NULL, "stderr \"%s\" lacks \"%s\"", e, s);
    free(e);
}

static bool cli_ok(void) {
    if (access(g_cli, X_OK) == 0) return true;
    fprintf(stderr, "skipped: %s not built\n", g_cli);
    return false;
}

/* `senti classify` on the fixture, in g_tmp, with extra flags. */
#define CLASSIFY "cd %s && '%s' classify -m '%s' --tokenizer '%s' "

/* ---- 1: the output is the input ------------------------------------------------------ */

START_TEST(test_output_is_input) {
    if (!cli_ok() || !have(g_tok)) return;
    const char *in = "{\"text\":\"good\"}\n{\"text\":\"bad\"}\n";
    put("in1.jsonl", in);
    ck_assert_int_ne(sh(CLASSIFY "--input in1.jsonl --output in1.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("is the input");
    char *got = get("in1.jsonl");
    ck_assert_str_eq(got, in);
    free(got);
    ck_assert_int_eq(sh("cd %s && ln -sf in1.jsonl link1.jsonl", g_tmp), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input in1.jsonl --output link1.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input link1.jsonl --output in1.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input - --output in1.jsonl < in1.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("in1.jsonl");
    ck_assert_str_eq(got, in);
    free(got);
    /* /dev/null and pipes still work */
    ck_assert_int_eq(sh(CLASSIFY "--input in1.jsonl --output /dev/null", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh(CLASSIFY "--input in1.jsonl --output /dev/stdout > piped.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("piped.jsonl");
    ck_assert_ptr_nonnull(strstr(got, "\"id\":1"));
    free(got);
    ck_assert_int_ne(sh(CLASSIFY "--input in1.jsonl --output /dev/null --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("regular file");
}
END_TEST

/* ---- 2: one writer at a time ------------------------------------------------------------ */

START_TEST(test_lock) {
    if (!cli_ok() || !have(g_tok)) return;
    put("in2.jsonl", "{\"text\":\"good\"}\n");
    put("out2.jsonl", "{\"id\":0,\"precious\":true}\n");
    char p[256];
    int fd = open(tp(p, sizeof p, "out2.jsonl"), O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0); /* another run holds it */
    ck_assert_int_ne(sh(CLASSIFY "--input in2.jsonl --output out2.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("locked");
    char *got = get("out2.jsonl");
    ck_assert_str_eq(got, "{\"id\":0,\"precious\":true}\n");
    free(got);
    close(fd);
    put("out2.jsonl.progress.tmp-Ab12Cd", "left by a killed run");
    put("out2.jsonl.progress.backup", "the user's");
    ck_assert_int_eq(sh(CLASSIFY "--input in2.jsonl --output out2.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(access(tp(p, sizeof p, "out2.jsonl.progress.tmp"), F_OK), -1); /* no shared temp name */
    ck_assert_int_eq(access(tp(p, sizeof p, "out2.jsonl.progress.tmp-Ab12Cd"), F_OK), -1); /* stale temp removed */
    ck_assert_int_eq(access(tp(p, sizeof p, "out2.jsonl.progress.backup"), F_OK), 0);   /* not ours: kept */
}
END_TEST

/* ---- 3: resume you can trust ------------------------------------------------------------ */

static const char *k_in3 = "{\"text\":\"good\"}\n{\"text\":\"bad\"}\n{\"text\":\"fine\"}\n{\"text\":\"awful movie\"}\n";

START_TEST(test_resume_refusals) {
    if (!cli_ok() || !have(g_tok)) return;
    put("in3.jsonl", k_in3);
    /* an output with no sidecar is never truncated by --resume */
    put("out3.jsonl", "1\n2\n3\n4\n");
    ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("--overwrite");
    char *got = get("out3.jsonl");
    ck_assert_str_eq(got, "1\n2\n3\n4\n");
    free(got);
    ck_assert_int_eq(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume --overwrite", g_tmp, g_cli, g_model,
                        g_tok), 0);
    char *full = get("out3.jsonl");
    ck_assert_ptr_nonnull(strstr(full, "\"id\":3"));
    /* another --few-shot file's contents (the same name): refused, naming it */
    char llm[2300];
    snprintf(llm, sizeof llm, "%s/tests/fixtures/llm/qwen2", g_root);
    put("shots.jsonl", "{\"text\":\"The food was great.\",\"output\":\"[(food, positive)]\"}\n");
    put("ex.txt", "good service\nbad food\n");
    ck_assert_int_eq(sh("cd %s && '%s' extract -m '%s' --schema aspect --max-new-tokens 2 --few-shot shots.jsonl "
                        "--input ex.txt --output ex.jsonl", g_tmp, g_cli, llm), 0);
    put("shots.jsonl", "{\"text\":\"The food was bad.\",\"output\":\"[(food, negative)]\"}\n");
    ck_assert_int_ne(sh("cd %s && '%s' extract -m '%s' --schema aspect --max-new-tokens 2 --few-shot shots.jsonl "
                        "--input ex.txt --output ex.jsonl --resume", g_tmp, g_cli, llm), 0);
    err_has("when the --few-shot file had other contents");
    /* another input, model, tokenizer, options: refused, naming it, the output untouched */
    put("other3.jsonl", "{\"text\":\"good\"}\n{\"text\":\"bad\"}\n{\"text\":\"FINE\"}\n{\"text\":\"awful movie\"}\n");
    ck_assert_int_ne(sh(CLASSIFY "--input other3.jsonl --output out3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("differ");
    ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume --top-k 1", g_tmp, g_cli, g_model,
                        g_tok), 0);
    err_has("--top-k=1");
    /* flags that resolve to what the run had are the same run: the format as detected, the default device */
    ck_assert_int_eq(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume --format jsonl --device cpu", g_tmp,
                        g_cli, g_model, g_tok), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume --format lines", g_tmp, g_cli, g_model,
                        g_tok), 0);
    err_has("--format=lines");
    ck_assert_int_eq(sh("cd %s && cp -r '%s' model3 && printf ' ' >> model3/config.json", g_tmp, g_model), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume", g_tmp, g_cli, "model3", g_tok), 0);
    err_has("another model");
    if (have(g_rtok)) {
        ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume", g_tmp, g_cli, g_model, g_rtok), 0);
        err_has("another tokenizer");
    }
    got = get("out3.jsonl");
    ck_assert_str_eq(got, full);
    free(got);
    /* a sidecar whose byte count is not the end of a line */
    char *side = get("out3.jsonl.progress");
    char *b = strstr(side, "\"bytes\":");
    ck_assert_ptr_nonnull(b);
    long bytes = strtol(b + 8, NULL, 10);
    char edited[4096];
    snprintf(edited, sizeof edited, "%.*s\"bytes\":%ld%s", (int)(b - side), side, bytes - 3, strchr(b + 8, ','));
    put("out3.jsonl.progress", edited);
    ck_assert_int_ne(sh(CLASSIFY "--input in3.jsonl --output out3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("not the end of a line");
    put("out3.jsonl.progress", side);
    free(side);
    free(full);
}
END_TEST

START_TEST(test_resume_tail_and_prefix) {
    if (!cli_ok() || !have(g_tok)) return;
    put("in3b.jsonl", k_in3);
    ck_assert_int_eq(sh(CLASSIFY "--input in3b.jsonl --output want3.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    char *want = get("want3.jsonl");
    /* a run over the first two records, then a torn line after its checkpoint */
    put("half3.jsonl", "{\"text\":\"good\"}\n{\"text\":\"bad\"}\n");
    ck_assert_int_eq(sh(CLASSIFY "--input half3.jsonl --output got3.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh("printf '{\"id\":2,\"lab' >> %s/got3.jsonl", g_tmp), 0);
    /* the longer input starts with the same records: resumed, the torn tail cut */
    ck_assert_int_eq(sh(CLASSIFY "--input in3b.jsonl --output got3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("resumed after 2 records");
    char *got = get("got3.jsonl");
    ck_assert_str_eq(got, want);
    free(got);
    /* resuming a finished run changes nothing */
    ck_assert_int_eq(sh(CLASSIFY "--input in3b.jsonl --output got3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("got3.jsonl");
    ck_assert_str_eq(got, want);
    free(got);
    /* a shorter input than the output answers */
    ck_assert_int_ne(sh(CLASSIFY "--input half3.jsonl --output got3.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("has 2 records");
    free(want);
}
END_TEST

/* records from a dataset reader (GLUE tsv) resume and are checked the same way */
START_TEST(test_resume_dataset) {
    if (!cli_ok() || !have(g_tok)) return;
    put("a3.tsv", "sentence\tlabel\ngood film\t1\nbad film\t0\nfine\t1\n");
    put("h3.tsv", "sentence\tlabel\ngood film\t1\nbad film\t0\n");
    put("b3.tsv", "sentence\tlabel\ngood film\t1\nBAD film\t0\nfine\t1\n");
    ck_assert_int_eq(sh(CLASSIFY "--input a3.tsv --output wantd.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh(CLASSIFY "--input h3.tsv --output gotd.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh(CLASSIFY "--input a3.tsv --output gotd.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("resumed after 2 records");
    char *want = get("wantd.jsonl"), *got = get("gotd.jsonl");
    ck_assert_str_eq(got, want);
    free(got);
    ck_assert_int_ne(sh(CLASSIFY "--input b3.tsv --output gotd.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("differ");
    got = get("gotd.jsonl");
    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}
END_TEST

/* ---- 4: non-finite logits ------------------------------------------------------------- */

/* A copy of the fixture model in g_tmp/nan with word-embedding row `id` set to NaN (f16 0x7e00). */
static void poisoned_model(int64_t id) {
    ck_assert_int_eq(sh("rm -rf %s/nan && cp -r '%s' %s/nan", g_tmp, g_model, g_tmp), 0);
    char p[256];
    size_t n;
    char *b = test_slurp(tp(p, sizeof p, "nan/model.safetensors"), &n);
    uint64_t hl;
    memcpy(&hl, b, 8);
    json_t *h = json_loadb(b + 8, hl, 0, NULL);
    json_t *t = json_object_get(h, "bert.embeddings.word_embeddings.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(json_string_value(json_object_get(t, "dtype")), "F16");
    int64_t hidden = json_integer_value(json_array_get(json_object_get(t, "shape"), 1));
    size_t off = 8 + hl + (size_t)json_integer_value(json_array_get(json_object_get(t, "data_offsets"), 0));
    for (int64_t k = 0; k < hidden; k++) {
        uint16_t nan16 = 0x7e00;
        memcpy(b + off + (size_t)(id * hidden + k) * 2, &nan16, 2);
    }
    json_decref(h);
    FILE *f = fopen(p, "wb");
    ck_assert_int_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
    free(b);
}

static senti_status classify_fn(void *ctx, task_source *src, FILE *out, task_stats *st) {
    void **c = ctx;
    task_runner_opts o = task_runner_opts_defaults();
    return task_run(c[0], c[1], src, out, &o, task_classify_decode, c[2], st);
}

START_TEST(test_nonfinite_logits) {
    if (!have(g_tok)) return;
    poisoned_model(9643); /* "awful" */
    char p[256];
    senti_model *m = senti_model_load(tp(p, sizeof p, "nan"), 1);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(tok);
    task_classify cls;
    ck_assert_int_eq(task_classify_init(&cls, m, NULL, 0, 0.5), SENTI_OK);
    void *ctx[3] = {m, tok, &cls};
    senti_status st;
    task_stats stats;
    json_t *lines = th_run_input("good\nawful\nfine\n", classify_fn, ctx, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(lines), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1), "error")), "non-finite logits");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 0), "label"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 2), "label"));
    ck_assert_int_eq(stats.errors, 1);
    json_decref(lines);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    /* senti logits: valid JSON, null for the non-finite values */
    if (!cli_ok()) return;
    ck_assert_int_eq(sh("'%s' logits -m %s/nan --ids 101,9643,102 > %s/logits.json", g_cli, g_tmp, g_tmp), 0);
    char *got = get("logits.json");
    json_t *j = json_loads(got, 0, NULL);
    ck_assert_msg(j != NULL, "not JSON: %s", got);
    ck_assert(json_is_null(json_array_get(json_object_get(j, "data"), 0)));
    json_decref(j);
    free(got);
}
END_TEST

/* ---- 5: ids outside the model's vocabulary ----------------------------------------------- */

START_TEST(test_oov_ids) {
    if (!cli_ok() || !have(g_rtok)) return;
    /* roberta ids on a BERT model: "hello world" has an id above 30522, "good" does not */
    put("in5.jsonl", "{\"text\":\"good\"}\n{\"id\":\"x\",\"text\":\"hello world\"}\n{\"text\":\"bad\"}\n");
    ck_assert_int_eq(sh(CLASSIFY "--input in5.jsonl --output out5.jsonl", g_tmp, g_cli, g_model, g_rtok), 0);
    char *got = get("out5.jsonl");
    json_t *lines = th_lines(got);
    ck_assert_int_eq(json_array_size(lines), 3);
    ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 0), "label"));
    const char *e = json_string_value(json_object_get(json_array_get(lines, 1), "error"));
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(strstr(e, "outside the model's vocabulary"));
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 1), "id")), "x");
    ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 2), "label"));
    json_decref(lines);
    free(got);
}
END_TEST

/* ---- 7: write errors ------------------------------------------------------------------- */

START_TEST(test_write_errors) {
    if (!cli_ok() || !have(g_tok) || access("/dev/full", W_OK) != 0) return;
    ck_assert_int_ne(sh("'%s' tokenize -m '%s' hello > /dev/full", g_cli, g_tok), 0);
    err_has("No space left");
    ck_assert_int_ne(sh("'%s' info -m '%s' > /dev/full", g_cli, g_model), 0);
    ck_assert_int_ne(sh("'%s' logits -m '%s' --ids 101,102 > /dev/full", g_cli, g_model), 0);
    ck_assert_int_ne(sh("'%s' classify -m '%s' --tokenizer '%s' good > /dev/full", g_cli, g_model, g_tok), 0);
    ck_assert_int_ne(sh("'%s' classify -m '%s' --tokenizer '%s' --output /dev/full good", g_cli, g_model, g_tok), 0);
    /* the LLM commands too (their own batch loop) */
    char llm[2300];
    snprintf(llm, sizeof llm, "%s/tests/fixtures/llm/qwen2", g_root);
    ck_assert_int_eq(sh("'%s' generate -m '%s' --max-new-tokens 2 --output /dev/full hi", g_cli, llm), 1);
    err_has("writing /dev/full failed: No space left");
    ck_assert_int_eq(sh("'%s' zero-shot -m '%s' --labels a,b --output /dev/full hi", g_cli, llm), 1);
    err_has("writing /dev/full failed: No space left");
    ck_assert_int_eq(sh("'%s' extract -m '%s' --schema aspect --max-new-tokens 2 --output /dev/full hi", g_cli, llm), 1);
    err_has("writing /dev/full failed: No space left");
    /* usage errors: exit 2, before any work */
    ck_assert_int_eq(sh("'%s' generate -m '%s' --system hi x", g_cli, llm), 2);
    err_has("--system needs --chat");
    ck_assert_int_eq(sh("'%s' generate -m '%s' --chat --no-chat-template x", g_cli, llm), 2);
    ck_assert_int_eq(sh("'%s' zero-shot -m '%s' --labels a,b --template 'Is it good?' x", g_cli, llm), 2);
    err_has("{text}");
    ck_assert_int_eq(sh("'%s' extract -m '%s' --schema event --constrained x", g_cli, llm), 2);
    /* greedy's equals: top-k 0 (a filter's "off" asks no sampling), a temperature so small that x / t overflows */
    char lm[2300];
    snprintf(lm, sizeof lm, "%s/tests/fixtures/llm/qwen2", g_root);
    ck_assert_int_eq(sh("'%s' generate -m '%s' --max-new-tokens 8 'The movie was' > %s/g0.jsonl", g_cli, lm, g_tmp), 0);
    ck_assert_int_eq(sh("'%s' generate -m '%s' --max-new-tokens 8 --top-k 0 --seed 1 'The movie was' > %s/g1.jsonl",
                        g_cli, lm, g_tmp), 0);
    ck_assert_int_eq(sh("'%s' generate -m '%s' --max-new-tokens 8 --temperature 1e-45 'The movie was' > %s/g2.jsonl",
                        g_cli, lm, g_tmp), 0);
    ck_assert_int_eq(sh("cmp %s/g0.jsonl %s/g1.jsonl && cmp %s/g0.jsonl %s/g2.jsonl", g_tmp, g_tmp, g_tmp, g_tmp), 0);
    /* a run stopped by a full output (a 20 KB file-size limit: EFBIG) says how many records the output kept,
     * and that many whole lines are there */
    char many[64 * 1024] = "";
    for (int i = 0; i < 600; i++) snprintf(many + strlen(many), sizeof many - strlen(many), "text number %d\n", i);
    put("many.txt", many);
    ck_assert_int_ne(sh("cd %s && (trap '' XFSZ; ulimit -f 20; exec '%s' classify -m '%s' --tokenizer '%s' --window 64 "
                        "--input many.txt --output full.jsonl)", g_tmp, g_cli, g_model, g_tok), 0);
    char *e = get("err"), *k = strstr(e, "full.jsonl keeps ");
    ck_assert_msg(k != NULL, "stderr \"%s\" lacks the records kept", e);
    long kept = strtol(k + strlen("full.jsonl keeps "), NULL, 10);
    char *full = get("full.jsonl");
    long lines = 0;
    for (char *c = full; *c; c++) lines += *c == '\n';
    ck_assert_int_gt(lines, 0);
    ck_assert_int_lt(lines, 600);
    ck_assert_int_eq(kept, lines);
    ck_assert(full[strlen(full) - 1] == '\n');
    free(full);
    free(e);
    /* the explanation page's write error says why */
    ck_assert_int_ne(sh("'%s' classify -m '%s' --tokenizer '%s' --explain occlusion --explain-html /dev/full good "
                        "> /dev/null", g_cli, g_model, g_tok), 0);
    err_has("writing /dev/full failed: No space left");
}
END_TEST

/* ---- 8: tokenizer messages travel with their record ---------------------------------------- */

/* Pairs fail to fit the 2-token limit (below their 3 special tokens nothing is
 * truncated, as tokenizers does: "cannot truncate"); the empty single text fits. expand leaves a stale message in the runner
 * thread's error buffer, which a worker's failure must not be read from. */
static bool expand8(void *ctx, task_record *r) {
    (void)ctx;
    senti_error(SENTI_ERR_IO, "stale message of the runner's thread");
    bool pair = r->len > 0;
    return task_record_add(r, "", 0, pair ? r->text : NULL, pair ? r->len : 0) != NULL;
}

static json_t *decode8(void *ctx, task_record *r) {
    (void)ctx, (void)r;
    return json_pack("{s:b}", "ok", 1);
}

static senti_status run8(void *ctx, task_source *src, FILE *out, task_stats *st) {
    void **c = ctx;
    task_runner_opts o = task_runner_opts_defaults();
    o.n_threads = 8;
    o.window = 256;
    task_ops ops = {.head = SENTI_HEAD_SEQUENCE_CLASSIFICATION, .max_length = 2, .expand = expand8, .decode = decode8};
    return task_run_ops(c[0], c[1], src, out, &o, &ops, NULL, st);
}

START_TEST(test_thread_messages) {
    if (!have(g_tok)) return;
    senti_model *m = senti_model_load(g_model, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    /* 2048 records, every 61st a failing pair */
    size_t cap = 2048 * 20;
    char *in = malloc(cap), *p = in;
    for (int i = 0; i < 2048; i++) p += sprintf(p, "{\"text\":\"%s\"}\n", i % 61 == 7 ? "a pair" : "");
    void *ctx[2] = {m, tok};
    senti_status st;
    json_t *lines = th_run_input(in, run8, ctx, &st, NULL);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(lines), 2048);
    for (int i = 0; i < 2048; i++) {
        json_t *l = json_array_get(lines, (size_t)i);
        if (i % 61 == 7) {
            const char *e = json_string_value(json_object_get(l, "error"));
            ck_assert_msg(e && strstr(e, "cannot truncate to 2 tokens"), "record %d: %s", i, e ? e : "(no error)");
        } else {
            ck_assert_msg(json_object_get(l, "ok") != NULL, "record %d failed", i);
        }
    }
    json_decref(lines);
    free(in);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* ---- 10: duplicate label names -------------------------------------------------------------- */

START_TEST(test_duplicate_labels) {
    if (!cli_ok()) return;
    ck_assert_int_eq(sh("rm -rf %s/dup && cp -r '%s' %s/dup && sed -i 's/\"1\": \"POSITIVE\"/\"1\": \"NEGATIVE\"/' "
                        "%s/dup/config.json && grep -q '\"1\": \"NEGATIVE\"' %s/dup/config.json",
                        g_tmp, g_model, g_tmp, g_tmp, g_tmp), 0);
    char p[256];
    senti_model *m = senti_model_load(tp(p, sizeof p, "dup"), 1);
    ck_assert_ptr_null(m);
    assert_msg_has("duplicate label", "id2label", "NEGATIVE", "two ids", NULL);
    char llm[2300];
    snprintf(llm, sizeof llm, "%s/tests/fixtures/llm/qwen2", g_root);
    if (have(llm)) {
        ck_assert_int_ne(sh("'%s' zero-shot -m '%s' --labels positive,positive,negative 'good movie'", g_cli, llm), 0);
        err_has("'positive' is given twice");
    }
    char nli[2300];
    snprintf(nli, sizeof nli, "%s/tests/fixtures/tasks/bert-nli", g_root);
    if (have(g_tok)) {
        ck_assert_int_ne(sh("'%s' zero-shot -m '%s' --tokenizer '%s' --labels a,b,a 'x'", g_cli, nli, g_tok), 0);
        err_has("'a' is given twice");
        put("in10.jsonl", "{\"text\":\"x\",\"labels\":[\"a\",\"a\"]}\n{\"text\":\"y\",\"labels\":[\"a\",\"b\"]}\n");
        ck_assert_int_eq(sh("cd %s && '%s' zero-shot -m '%s' --tokenizer '%s' --input in10.jsonl --output out10.jsonl",
                            g_tmp, g_cli, nli, g_tok), 0);
        char *got = get("out10.jsonl");
        json_t *lines = th_lines(got);
        ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(lines, 0), "error")), "twice"));
        ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 1), "labels"));
        json_decref(lines);
        free(got);
    }
}
END_TEST

/* ---- 13: bounded window, tokenize's UTF-8, duplicate keys --------------------------------- */

START_TEST(test_minor) {
    if (!cli_ok() || !have(g_tok)) return;
    put("in13.jsonl", "{\"text\":\"good\"}\n{\"text\":\"bad\",\"text\":\"good\"}\n{\"text\":\"fine\"}\n");
    ck_assert_int_eq(sh(CLASSIFY "--window 16777216 --input in13.jsonl --output out13.jsonl", g_tmp, g_cli, g_model,
                        g_tok), 0);
    struct rusage ru;
    ck_assert_int_eq(getrusage(RUSAGE_CHILDREN, &ru), 0);
    ck_assert_msg(ru.ru_maxrss < 512 * 1024, "peak RSS %ld KiB with --window 16777216", ru.ru_maxrss);
    char *got = get("out13.jsonl");
    json_t *lines = th_lines(got);
    ck_assert_int_eq(json_array_size(lines), 3);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(lines, 1), "error")), "duplicate"));
    ck_assert_ptr_nonnull(json_object_get(json_array_get(lines, 2), "label"));
    json_decref(lines);
    free(got);
    ck_assert_int_ne(sh("'%s' tokenize -m '%s' \"$(printf 'ab\\377c')\" > /dev/null", g_cli, g_tok), 0);
    err_has("invalid UTF-8 at byte 2");
    ck_assert_int_eq(sh("printf 'ok\\nb\\377ad\\n' | '%s' tokenize -m '%s' --input - > %s/tok13.jsonl", g_cli, g_tok,
                        g_tmp), 0);
    got = get("tok13.jsonl");
    ck_assert_ptr_nonnull(strstr(got, "{\"id\":1,\"error\":\"invalid UTF-8 at byte 1\"}"));
    free(got);
    /* tokenize --input reads JSONL as the task commands do: a byte order mark skipped, a line that is not an
     * object and a text_pair that is not a string are their records' errors */
    put("tok13b.jsonl", "\xef\xbb\xbf{\"text\":\"good\"}\n[1,2]\n{\"text\":\"x\",\"text_pair\":5}\n");
    ck_assert_int_eq(sh("'%s' tokenize -m '%s' --input %s/tok13b.jsonl > %s/tok13b.out", g_cli, g_tok, g_tmp, g_tmp), 0);
    got = get("tok13b.out");
    ck_assert_ptr_nonnull(strstr(got, "{\"id\":0,\"ids\":[101,2204,102]"));
    ck_assert_ptr_nonnull(strstr(got, "{\"id\":1,\"error\":\"record is not a JSON object\"}"));
    ck_assert_ptr_nonnull(strstr(got, "{\"id\":2,\"error\":\"field \\\"text_pair\\\" must be a string\"}"));
    free(got);
    /* problem_type regression: the raw outputs (as transformers' pipeline), not a softmax: their difference is
     * the log-ratio of the single-label model's probabilities */
    ck_assert_int_eq(sh("cd %s && rm -rf regr && cp -r '%s' regr && sed -i 's/single_label_classification/regression/' "
                        "regr/config.json", g_tmp, g_model), 0);
    ck_assert_int_eq(sh("cd %s && '%s' classify -m regr --tokenizer '%s' --dtype f32 good > regr.jsonl && '%s' classify "
                        "-m '%s' --tokenizer '%s' --dtype f32 good > single.jsonl", g_tmp, g_cli, g_tok, g_cli, g_model,
                        g_tok), 0);
    char *rs = get("regr.jsonl"), *ss = get("single.jsonl");
    json_t *rj = json_loads(rs, 0, NULL), *sj = json_loads(ss, 0, NULL);
    json_t *r = json_object_get(rj, "scores"), *p = json_object_get(sj, "scores");
    ck_assert_int_eq(json_object_size(r), 2);
    const char *k0 = NULL, *k1 = NULL, *lk;
    json_t *lv;
    json_object_foreach(r, lk, lv) { if (!k0) k0 = lk; else k1 = lk; }
    const double dr = json_number_value(json_object_get(r, k0)) - json_number_value(json_object_get(r, k1));
    const double dp = log(json_number_value(json_object_get(p, k0)) / json_number_value(json_object_get(p, k1)));
    ck_assert_msg(fabs(dr - dp) < 1e-4 && fabs(json_number_value(json_object_get(r, k0)) +
                                               json_number_value(json_object_get(r, k1)) - 1.0) > 1e-3,
                  "regression scores %s vs softmax %s", rs, ss);
    json_decref(rj), json_decref(sj);
    free(rs), free(ss);
    /* --strict's stop names the file and the record */
    ck_assert_int_eq(sh(CLASSIFY "--strict --input in13.jsonl > /dev/null", g_tmp, g_cli, g_model, g_tok), 1);
    err_has("in13.jsonl: record 1: ");
}
END_TEST

/* ---- an outside probe's findings (2026-12-07, second round) ------------------------------------------ */

START_TEST(test_probe_cli) {
    if (!cli_ok() || !have(g_tok)) return;
    const char *in = "good film\nbad film\n";
    /* the sidecar OUT.progress is written over whatever has its name: refused when that is the input, the
     * model's file or the --explain-html page; the file intact */
    put("o1.jsonl.progress", in);
    ck_assert_int_ne(sh(CLASSIFY "--input o1.jsonl.progress --output o1.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("progress file o1.jsonl.progress is the input");
    char *got = get("o1.jsonl.progress");
    ck_assert_str_eq(got, in);
    free(got);
    put("in2.txt", in);
    ck_assert_int_ne(sh(CLASSIFY "--input in2.txt --output o2.jsonl --explain occlusion --explain-html "
                        "o2.jsonl.progress", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("is --output's progress file");
    char p[256];
    ck_assert_msg(access(tp(p, sizeof p, "o2.jsonl"), F_OK) != 0, "a refused run created its output");
    /* JSONL through a pipe (not stdin's "-") is detected from its first line: the record's id kept */
    ck_assert_int_eq(sh("cd %s && printf '{\"id\":\"r1\",\"text\":\"good\"}\\n' | '%s' classify -m '%s' "
                        "--tokenizer '%s' --input /dev/stdin > pipe.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("pipe.jsonl");
    ck_assert_msg(strncmp(got, "{\"id\":\"r1\",\"label\"", 18) == 0, "%s", got);
    free(got);
    /* a line that never ends (/dev/zero) fails the run within 1 GiB, naming it, instead of reading for ever */
    ck_assert_int_eq(sh("timeout 120 '%s' classify -m '%s' --tokenizer '%s' --threads 1 --input /dev/zero > /dev/null",
                        g_cli, g_model, g_tok), 1);
    err_has("line 1 runs past 1024 MiB without an end of line");
    /* a line that fails to parse names its line and keeps the id it gives when it parses leniently */
    put("dup.jsonl", "{\"id\":1,\"text\":\"good\"}\n{\"id\":\"x\",\"text\":\"a\",\"text\":\"b\"}\n");
    ck_assert_int_eq(sh(CLASSIFY "--input dup.jsonl > dup.out", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("dup.out");
    ck_assert_msg(strstr(got, "{\"id\":\"x\",\"error\":\"line 2: invalid JSON") != NULL, "%s", got);
    free(got);
    /* the end of line does not count against the 8 MiB a record may hold */
    FILE *f = fopen(tp(p, sizeof p, "edge.txt"), "wb");
    ck_assert_ptr_nonnull(f);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < (8 << 20) - 1 - k; i++) fputc(i % 5 ? 'a' : ' ', f);
        fputs(k ? "x\r\n" : "\n", f);
    }
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(sh(CLASSIFY "--input edge.txt > edge.out", g_tmp, g_cli, g_model, g_tok), 0);
    got = get("edge.out");
    ck_assert_msg(strstr(got, "error") == NULL, "a line of 8 MiB with its end of line refused: %.200s", got);
    free(got);
    unlink(p);
    /* a run whose every record fails exits 1, its error lines written */
    put("allbad.jsonl", "{\"text\":1}\n{\"text\":2}\n");
    ck_assert_int_eq(sh(CLASSIFY "--input allbad.jsonl > allbad.out", g_tmp, g_cli, g_model, g_tok), 1);
    err_has("every one of the 2 records failed");
    got = get("allbad.out");
    ck_assert_ptr_nonnull(strstr(got, "{\"id\":1,\"error\""));
    free(got);
    /* a resume under another kernel switch (SENTI_MATMUL=blas: other bytes) is refused */
    put("f.txt", in);
    ck_assert_int_eq(sh(CLASSIFY "--input f.txt --output fm.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    put("f.txt", "good film\nbad film\nfine\n");
    ck_assert_int_ne(sh("cd %s && SENTI_MATMUL=blas '%s' classify -m '%s' --tokenizer '%s' --input f.txt --output "
                        "fm.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("SENTI_MATMUL=blas");
    /* a write that fails (a file size limit: EFBIG, as a full disk's ENOSPC) leaves the output's whole lines,
     * no torn last line; --resume then finishes it to the uninterrupted run's bytes */
    FILE *g = fopen(tp(p, sizeof p, "many.txt"), "wb");
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < 300; i++) fprintf(g, "%s film number %d\n", i % 3 ? "good" : "bad", i);
    ck_assert_int_eq(fclose(g), 0);
    ck_assert_int_eq(sh("cd %s && bash -c \"trap '' XFSZ; ulimit -f 8; exec '%s' classify -m '%s' --tokenizer '%s' "
                        "--input many.txt --output lim.jsonl --window 16 --threads 1\"", g_tmp, g_cli, g_model, g_tok), 1);
    size_t nl = 0;
    got = test_slurp(tp(p, sizeof p, "lim.jsonl"), &nl);
    ck_assert_msg(nl > 0 && nl < 8192 && got[nl - 1] == '\n', "the failed output is %zu bytes, torn: ...%.60s", nl,
                  nl > 60 ? got + nl - 60 : got);
    free(got);
    ck_assert_int_eq(sh(CLASSIFY "--input many.txt --output lim.jsonl --resume", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh(CLASSIFY "--input many.txt > lim_ref.jsonl", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert_int_eq(sh("cd %s && cmp lim.jsonl lim_ref.jsonl", g_tmp), 0);
    /* a kernel switch the code does not read stops the run (a misspelt level would run at another) */
    ck_assert_int_eq(sh("SENTI_SIMD=AVX2 '%s' classify -m '%s' --tokenizer '%s' good", g_cli, g_model, g_tok), 2);
    err_has("SENTI_SIMD=AVX2 is not one of");
    /* --resume --overwrite removes another rank count's parts, never a file the run reads that has such a name */
    put("pp.jsonl.part1-of-3", in);
    ck_assert_int_ne(sh(CLASSIFY "--input pp.jsonl.part1-of-3 --output pp.jsonl --resume --overwrite", g_tmp, g_cli,
                        g_model, g_tok), 0);
    err_has("refusing to remove it");
    got = get("pp.jsonl.part1-of-3");
    ck_assert_str_eq(got, in);
    free(got);
    /* nor a part a running job holds locked (nothing removed then), nor a name with leading zeros */
    put("pq.jsonl.part0-of-3", in);
    put("pq.jsonl.part0-of-3.progress", "{}");
    put("pq.jsonl.part01-of-03", in);
    const int fd = open(tp(p, sizeof p, "pq.jsonl.part0-of-3"), O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    ck_assert_int_ne(sh(CLASSIFY "--input f.txt --output pq.jsonl --resume --overwrite", g_tmp, g_cli, g_model, g_tok), 0);
    err_has("is being written by a running job");
    ck_assert(access(tp(p, sizeof p, "pq.jsonl.part0-of-3.progress"), F_OK) == 0);
    close(fd);
    ck_assert_int_eq(sh(CLASSIFY "--input f.txt --output pq.jsonl --resume --overwrite", g_tmp, g_cli, g_model, g_tok), 0);
    ck_assert(access(tp(p, sizeof p, "pq.jsonl.part0-of-3"), F_OK) != 0);
    ck_assert(access(tp(p, sizeof p, "pq.jsonl.part0-of-3.progress"), F_OK) != 0);
    ck_assert(access(tp(p, sizeof p, "pq.jsonl.part01-of-03"), F_OK) == 0);
}
END_TEST

int main(void) {
    init_paths();
    Suite *s = suite_create("safety");
    TCase *tc = tcase_create("safety");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_output_is_input);
    tcase_add_test(tc, test_lock);
    tcase_add_test(tc, test_resume_refusals);
    tcase_add_test(tc, test_resume_tail_and_prefix);
    tcase_add_test(tc, test_resume_dataset);
    tcase_add_test(tc, test_nonfinite_logits);
    tcase_add_test(tc, test_oov_ids);
    tcase_add_test(tc, test_write_errors);
    tcase_add_test(tc, test_thread_messages);
    tcase_add_test(tc, test_duplicate_labels);
    tcase_add_test(tc, test_minor);
    tcase_add_test(tc, test_probe_cli);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_rm_tree(g_tmp);
    return failed ? 1 : 0;
}
