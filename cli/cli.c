/* cli.c — helpers shared by the `senti` subcommands (see cli.h). */
#include <errno.h>
#include <sys/stat.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

bool cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) {
        fprintf(stderr, "senti %s: %s expects an integer in %ld..%ld, got '%s'\n", cmd, flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* Parse a number in [0, 1] for flag; false (explained) when it is not. */
bool cli_parse_unit(const char *cmd, const char *flag, const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= 0.0 && v <= 1.0)) {
        fprintf(stderr, "senti %s: %s expects a number in [0, 1], got '%s'\n", cmd, flag, s);
        return false;
    }
    *out = v;
    return true;
}

/* ---- the per-record task commands ------------------------------------------------ */

void cli_task_init(cli_task *t, const char *cmd) {
    memset(t, 0, sizeof *t);
    t->cmd = cmd;
    t->dtype = SENTI_TYPE_COUNT;
    t->ro = task_runner_opts_defaults();
    t->out = stdout;
}

static bool parse_i64(const char *cmd, const char *flag, const char *s, long lo, long hi, int64_t *out) {
    long v;
    if (!cli_parse_long(cmd, flag, s, lo, hi, &v)) return false;
    *out = v;
    return true;
}

int cli_task_opt(cli_task *t, int c, const char *arg) {
    bool ok = true;
    switch (c) {
    case 'm': t->dir = arg; break;
    case CLI_O_INPUT: t->input = arg; break;
    case CLI_O_OUTPUT: t->output = arg; break;
    case CLI_O_TOK: t->tok_path = arg; break;
    case CLI_O_DEVICE: t->device = arg; break;
    case CLI_O_THREADS: ok = cli_parse_long(t->cmd, "--threads", arg, 1, 1024, &t->threads); break;
    case CLI_O_BATCH: ok = parse_i64(t->cmd, "--batch-size", arg, 1, 65536, &t->ro.batch_size); break;
    case CLI_O_TOKENS: ok = parse_i64(t->cmd, "--max-batch-tokens", arg, 1, 1L << 30, &t->ro.max_batch_tokens); break;
    case CLI_O_WINDOW: ok = parse_i64(t->cmd, "--window", arg, 1, 1L << 24, &t->ro.window); break;
    case CLI_O_STRICT: t->ro.strict = true; break;
    case CLI_O_RESUME: t->resume = true; break;
    case CLI_O_OVERWRITE: t->overwrite = true; break;
    case CLI_O_PROGRESS: t->ro.progress = stderr; break;
    case CLI_O_NO_BUCKETING: t->ro.no_sort = true; break;
    case CLI_O_NO_WEIGHT_CHECK: t->no_weight_check = true; break;
    case CLI_O_FORMAT:
        if ((t->format = task_format_from_name(arg)) == TASK_FORMAT_COUNT || t->format == TASK_FORMAT_AUTO) {
            fprintf(stderr, "senti %s: --format expects lines|jsonl|tsv|tweeteval|meld|aste|asqp|ecpe|ecpe-csv, got '%s'\n",
                    t->cmd, arg);
            ok = false;
        }
        break;
    case CLI_O_DTYPE:
        t->dtype = senti_type_from_name(arg);
        if (t->dtype == SENTI_TYPE_COUNT || t->dtype == SENTI_TYPE_I32) {
            fprintf(stderr, "senti %s: --dtype expects f32|f16|bf16|q8_0|q4_0|int8, got '%s'\n", t->cmd, arg);
            ok = false;
        }
        break;
    default: return 0;
    }
    return ok ? 1 : -1;
}

int cli_task_args(cli_task *t, int argc, char **argv, const struct option *opts,
                  int (*extra)(void *ctx, int c, const char *arg), void *ctx, void (*usage)(FILE *f)) {
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        int r = cli_task_opt(t, c, optarg);
        if (r == 0 && extra) r = extra(ctx, c, optarg);
        if (r <= 0) {
            if (r == 0) usage(stderr); /* an unknown flag or a missing value; bad values are explained */
            return 2;
        }
    }
    if (!cli_task_check(t, argc, optind)) {
        usage(stderr);
        return 2;
    }
    return -1;
}

bool cli_task_check(cli_task *t, int argc, int first) {
    if (!t->dir) t->dir = t->default_model;
    const char *why = !t->dir                        ? "-m DIR is required"
                      : t->input && first < argc     ? "give --input or TEXT arguments, not both"
                      : !t->input && first >= argc   ? "no input: give TEXT arguments or --input FILE|-"
                      : t->resume && !t->output      ? "--resume needs --output FILE"
                      : t->overwrite && !t->resume   ? "--overwrite goes with --resume"
                                                     : NULL;
    if (why) fprintf(stderr, "senti %s: %s\n", t->cmd, why);
    return why == NULL;
}

/* Flags that set only how records are batched, threaded or reported: no
 * record's output bytes depend on them (batch invariance). */
static const char *const BATCHING[] = {"--threads", "--batch-size", "--max-batch-tokens",
                                       "--window",  "--progress",   "--no-bucketing"};

static bool in_list(const char *const *list, size_t len, const char *name, size_t n) {
    for (size_t i = 0; i < len; i++)
        if (strlen(list[i]) == n && strncmp(name, list[i], n) == 0) return true;
    return false;
}

/* Flags that never change a record's output bytes, or are fingerprinted apart
 * by what they resolve to: --format as the format read (given or detected:
 * `--format lines` on a file detected as lines, or `sst2` for `tsv`, is the
 * same run), --device as the kernel level it runs (SENTI_SIMD=…: `--device cpu`
 * is the default). */
static bool neutral_flag(const char *name, size_t n) {
    static const char *const files[] = {"-m",       "--model",     "--input",  "--output",
                                        "--tokenizer", "--resume", "--overwrite", "--format",
                                        "--device"};
    return in_list(BATCHING, sizeof BATCHING / sizeof *BATCHING, name, n) ||
           in_list(files, sizeof files / sizeof *files, name, n);
}

int cli_batching_args(const char *arg) {
    if (arg[0] != '-' || arg[1] != '-') return 0;
    const size_t n = strcspn(arg, "=");
    if (!in_list(BATCHING, sizeof BATCHING / sizeof *BATCHING, arg, n)) return 0;
    if (arg[n] == '=') return 1;
    static const struct option opts[] = {CLI_TASK_OPTIONS, {0, 0, 0, 0}};
    for (const struct option *o = opts; o->name; o++)
        if (strlen(o->name) == n - 2 && strncmp(o->name, arg + 2, n - 2) == 0) return o->has_arg == no_argument ? 1 : 2;
    return 1;
}

/* Order of two "--flag[=value]" strings by flag name only. */
static int flag_cmp(const char *x, const char *y) {
    size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
    int c = strncmp(x, y, nx < ny ? nx : ny);
    return c ? c : (nx > ny) - (nx < ny);
}

/* The options that change output bytes, from argv[1..first) (getopt has put
 * the options there) and implied[0..n_implied) (each NULL or one "NAME=value"
 * the run chose itself: the default's --dtype=bf16, the format read, the
 * kernel level SENTI_SIMD=…): the command, then "--flag" / "--flag=value"
 * sorted by flag (a repeated flag in its order). NULL on OOM. */
static json_t *output_options(int first, char **argv, const char *const *implied, int n_implied) {
    char **v = calloc((size_t)first + (size_t)n_implied + 1, sizeof *v);
    json_t *a = json_array();
    int n = 0;
    bool ok = v && a && json_array_append_new(a, json_string(argv[0])) == 0;
    for (int i = 0; ok && i < n_implied; i++)
        if (implied[i]) ok = (v[n++] = strdup(implied[i])) != NULL;
    for (int i = 1; ok && i < first; i++) {
        const char *f = argv[i];
        if (f[0] != '-' || strcmp(f, "-") == 0 || strcmp(f, "--") == 0) continue; /* a value of the flag before */
        size_t nl = f[1] == '-' ? strcspn(f, "=") : 2; /* "--name[=v]" or "-xVALUE" */
        const char *val = f[nl] == '=' ? f + nl + 1 : f[1] != '-' && f[2] ? f + 2 : NULL;
        if (!val && i + 1 < first && (argv[i + 1][0] != '-' || strcmp(argv[i + 1], "-") == 0)) val = argv[++i];
        if (neutral_flag(f, nl)) continue;
        size_t len = nl + (val ? strlen(val) + 1 : 0) + 1;
        if (!(v[n] = malloc(len))) {
            ok = false;
            break;
        }
        snprintf(v[n], len, "%.*s%s%s", (int)nl, f, val ? "=" : "", val ? val : "");
        n++;
    }
    if (ok) {
        for (int i = 1; i < n; i++) /* a stable insertion sort by flag name: few flags */
            for (int j = i; j > 0 && flag_cmp(v[j - 1], v[j]) > 0; j--) {
                char *tmp = v[j];
                v[j] = v[j - 1];
                v[j - 1] = tmp;
            }
        for (int i = 0; ok && i < n; i++) ok = json_array_append_new(a, json_string(v[i])) == 0;
    }
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
    if (!ok) json_decref(a);
    return ok ? a : NULL;
}

senti_model_opts cli_model_opts(const cli_task *t) {
    senti_model_opts mo = senti_model_opts_defaults();
    mo.n_threads = (int)t->threads;
    mo.weight_type = t->dtype;
    mo.prefer_bf16 = t->dtype == SENTI_TYPE_COUNT; /* no --dtype: bf16 where the CPU has AVX512_BF16 */
    mo.device = t->device;
    mo.no_weight_check = t->no_weight_check;
    return mo;
}

void cli_print_dtype(const cli_task *t, const senti_model *m, FILE *f) {
    const senti_type lt = senti_model_linear_type(m);
    if (t->dtype != SENTI_TYPE_COUNT)
        fprintf(f, "senti %s: linear weights %s (--dtype)\n", t->cmd, senti_type_name(lt));
    else if (lt == SENTI_TYPE_BF16)
        fprintf(f, "senti %s: linear weights bf16 (the default where the CPU has AVX512_BF16; --dtype f32: exact f32)\n",
                t->cmd);
    else
        fprintf(f, "senti %s: linear weights as stored (%s)\n", t->cmd, senti_model_weight_dtypes(m));
}

void cli_task_reads(cli_task *t, const char *what, const char *path) {
    if (path && t->n_reads < (int)(sizeof t->reads / sizeof *t->reads)) {
        t->reads_what[t->n_reads] = what;
        t->reads[t->n_reads++] = path;
    }
}

bool cli_task_open(cli_task *t, int argc, char **argv, int first) {
    const senti_model_opts mo = cli_model_opts(t);
    t->ro.n_threads = (int)t->threads;
    if (isatty(STDERR_FILENO)) t->ro.progress = stderr;
    if (!cli_shard_begin(t)) return false;
    if (!(t->model = senti_model_load_opts(t->dir, &mo)) || senti_model_prepare(t->model) != SENTI_OK ||
        !(t->tok = senti_tokenizer_load(t->tok_path ? t->tok_path : t->dir))) {
        fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
        t->explained = true;
        return false;
    }
    task_format read_as = t->format; /* as detected for a file */
    if (t->input) {
        bool std_in = strcmp(t->input, "-") == 0;
        if (!(t->in = std_in ? stdin : fopen(t->input, "rb"))) {
            fprintf(stderr, "senti %s: cannot open %s: %s\n", t->cmd, t->input, strerror(errno));
            t->explained = true;
        return false;
        }
        task_format fmt = t->format;
        if (fmt == TASK_FORMAT_AUTO && !std_in && task_format_detect(t->input, t->in, &fmt) != SENTI_OK) {
            fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
            t->explained = true;
            return false;
        }
        read_as = fmt;
        if (t->shard && !cli_shard_source(t, fmt)) return false;
        if (!t->src && !(t->src = task_source_dataset(t->in, std_in ? "<stdin>" : t->input, fmt))) {
            fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
            t->explained = true;
            return false;
        }
    } else {
        t->src = task_source_texts((const char *const *)argv + first, argc - first);
    }
    if (!t->src) {
        fprintf(stderr, "senti %s: out of memory\n", t->cmd);
        t->explained = true;
        return false;
    }
    if (t->output) {
        /* the default dtype is the CPU's choice: a resume elsewhere (or under SENTI_SIMD) must not mix types */
        const bool bf16 = t->dtype == SENTI_TYPE_COUNT && senti_model_linear_type(t->model) == SENTI_TYPE_BF16;
        /* and bytes are the same only at one kernel level: a resume on another machine (or SENTI_SIMD) is refused */
        char level[160];
        snprintf(level, sizeof level, "SENTI_SIMD=%s", senti_simd_level(t->device));
        /* and the kernel switches read from the environment (research knobs): their non-default values */
        static const char *const KNOBS[][2] = {{"SENTI_MATMUL", "blas"}, {"SENTI_MATMUL", "cublas"},
                                               {"SENTI_CUDA_DTYPE", NULL}, {"SENTI_FUSE", "0"},
                                               {"SENTI_PACK", "0"},        {"SENTI_PRUNE", "0"}};
        for (size_t i = 0; i < sizeof KNOBS / sizeof *KNOBS; i++) { /* (NULL: any value) */
            const char *e = getenv(KNOBS[i][0]);
            if (e && *e && (!KNOBS[i][1] || !strcmp(e, KNOBS[i][1])))
                snprintf(level + strlen(level), sizeof level - strlen(level), " %s=%s", KNOBS[i][0], e);
        }
        char format[64] = "";
        if (t->input) snprintf(format, sizeof format, "--format=%s", task_format_name(read_as));
        const char *const implied[] = {bf16 ? "--dtype=bf16" : NULL, *format ? format : NULL, level};
        json_t *opts = output_options(first, argv, implied, 3);
        task_resume_opts ro = {.resume = t->resume, .overwrite = t->overwrite, .input = t->input,
                               .model_path = t->dir, .tokenizer_path = t->tok_path, .options = opts,
                               .reads = t->reads, .reads_what = t->reads_what, .n_reads = t->n_reads};
        t->res = opts ? task_resume_open(t->part ? t->part : t->output, &ro, t->src, &t->ro.skip) : NULL;
        json_decref(opts);
        if (!t->res) {
            fprintf(stderr, "senti %s: %s\n", t->cmd, opts ? senti_last_error() : "out of memory");
            t->explained = true;
            return false;
        }
        t->out = task_resume_file(t->res);
        t->ro.out_name = t->part ? t->part : t->output;
        t->ro.checkpoint = task_resume_checkpoint;
        t->ro.checkpoint_ctx = t->res;
    }
    return true;
}

bool cli_task_load_more(cli_task *t, const char *dir, senti_model **m, senti_tokenizer **tok) {
    const senti_model_opts mo = cli_model_opts(t);
    *m = NULL, *tok = NULL;
    if (!(*m = senti_model_load_opts(dir, &mo)) || senti_model_prepare(*m) != SENTI_OK ||
        !(*tok = senti_tokenizer_load(t->tok_path ? t->tok_path : dir))) {
        fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
        senti_model_free(*m);
        *m = NULL;
        t->explained = true;
        return false;
    }
    return true;
}

bool cli_all_failed(const char *cmd, double records, double errors) {
    if (records <= 0 || errors < records) return false;
    fprintf(stderr, "senti %s: every one of the %.0f records failed (each error line says why)\n", cmd, records);
    return true;
}

int cli_task_close(cli_task *t, senti_status s) {
    int rc = s == SENTI_OK ? 0 : 1;
    if (t->shard) rc = cli_shard_close(t, s); /* closes t->res; merges and sums up on rank 0 */
    if (t->st.seconds > 0 && t->model) cli_print_dtype(t, t->model, stderr);
    if (t->st.seconds > 0) task_stats_print(&t->st, stderr);
    if (s != SENTI_OK && !t->explained && !t->shard) fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
    if (rc == 0 && !t->shard && cli_all_failed(t->cmd, (double)t->st.records, (double)t->st.errors)) rc = 1;
    if (t->res && (s == SENTI_OK ? task_resume_close(t->res) : task_resume_abort(t->res)) != SENTI_OK && rc == 0) {
        fprintf(stderr, "senti %s: %s\n", t->cmd, senti_last_error());
        rc = 1;
    }
    int64_t checkpoint, kept = s != SENTI_OK && !t->shard ? task_resume_kept(t->res, &checkpoint) : -1;
    if (kept >= 0) /* the summary above counts the records read; this, what the output holds */
        fprintf(stderr, "senti %s: %s keeps %lld record%s (whole lines); --resume goes on from its last checkpoint, "
                        "after %lld\n", t->cmd, t->output, (long long)kept, kept == 1 ? "" : "s", (long long)checkpoint);
    task_resume_free(t->res);
    if (t->out == stdout && fflush(stdout) != 0) rc = 1;
    if (t->in && t->in != stdin) fclose(t->in);
    task_source_free(t->src);
    senti_tokenizer_free(t->tok);
    senti_model_free(t->model);
    t->res = NULL;
    t->in = NULL;
    t->src = NULL;
    t->tok = NULL;
    t->model = NULL;
    return rc;
}

int cli_long_opt(const char *cmd, int c, const char *arg, task_long *l) {
    static const char *const AGG[] = {"mean", "max", "first"};
    long v;
    switch (c) {
    case CLI_O_STRIDE:
        if (!cli_parse_long(cmd, "--stride", arg, 1, 1 << 20, &v)) return -1;
        l->stride = v;
        return 1;
    case CLI_O_AGGREGATE:
        for (int k = 0; k < 3; k++)
            if (strcmp(arg, AGG[k]) == 0) {
                l->aggregate = (task_aggregate)k;
                return 1;
            }
        fprintf(stderr, "senti %s: --aggregate expects mean|max|first, got '%s'\n", cmd, arg);
        return -1;
    case CLI_O_NO_TRUNCATE: l->no_truncate = true; return 1;
    default: return 0;
    }
}

int cli_explain_opt(const char *cmd, int c, const char *arg, cli_explain *e) {
    switch (c) {
    case CLI_O_EXPLAIN:
        if ((e->method = task_explain_method_from_name(arg)) != TASK_EXPLAIN_NONE) return 1;
        fprintf(stderr, "senti %s: --explain expects occlusion|rollout|ig, got '%s'\n", cmd, arg);
        return -1;
    case CLI_O_EXPLAIN_HTML: e->html_path = arg; return 1;
    case CLI_O_IG_STEPS: return cli_parse_long(cmd, "--ig-steps", arg, 1, 100000, &e->ig_steps) ? 1 : -1;
    default: return 0;
    }
}

bool cli_explain_check(const char *cmd, const cli_explain *e, const cli_task *t) {
    const bool resume = t->resume;
    if (e->html_path && t->output && task_same_path(e->html_path, t->output)) {
        fprintf(stderr, "senti %s: --explain-html %s is --output %s: they need two files\n", cmd, e->html_path,
                t->output);
        return false;
    }
    char prog[4200];
    snprintf(prog, sizeof prog, "%s.progress", t->output ? t->output : "");
    if (e->html_path && t->output && task_same_path(e->html_path, prog)) { /* the sidecar: written over its name */
        fprintf(stderr, "senti %s: --explain-html %s is --output's progress file: they need two files\n", cmd,
                e->html_path);
        return false;
    }
    if (e->html_path && cli_mpi_size() > 1) {
        if (cli_mpi_rank() == 0)
            fprintf(stderr, "senti %s: --explain-html does not run under MPI (every rank would write the one page): run "
                        "it in one process\n", cmd);
        return false;
    }
    if (e->html_path && e->method == TASK_EXPLAIN_NONE) {
        fprintf(stderr, "senti %s: --explain-html needs --explain METHOD\n", cmd);
        return false;
    }
    if (e->html_path) { /* a page that cannot be written fails here, before --output is created */
        char *dup = strdup(e->html_path), *dir = dup ? realpath(dirname(dup), NULL) : NULL;
        struct stat sb;
        const bool dir_ok = dir && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && access(dir, W_OK) == 0,
                   is_dir = stat(e->html_path, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(dup);
        free(dir);
        if (!dir_ok || is_dir) {
            fprintf(stderr, "senti %s: --explain-html %s cannot be written (%s)\n", cmd, e->html_path,
                    is_dir ? "a directory" : "its directory is missing or not writable");
            return false;
        }
    }
    if (e->html_path && resume) {
        fprintf(stderr, "senti %s: --explain-html does not combine with --resume (the page would miss the records "
                        "answered before)\n", cmd);
        return false;
    }
    return true;
}

bool cli_explain_open(cli_explain *e, const cli_task *t) {
    const char *cmd = t->cmd;
    if (e->method == TASK_EXPLAIN_NONE) return true;
    if (task_explain_init(&e->x, t->model, t->tok, e->method) != SENTI_OK) {
        fprintf(stderr, "senti %s: %s\n", cmd, senti_last_error());
        return false;
    }
    if (e->ig_steps > 0) e->x.ig_steps = e->ig_steps;
    if (e->html_path) {
        /* the page is written from the start: never over what the run reads or its own output */
        const char *h = e->html_path, *out = t->part ? t->part : t->output;
        if (task_output_clash("--explain-html", h, "the input", t->input && strcmp(t->input, "-") ? t->input : NULL) !=
                SENTI_OK ||
            task_output_clash("--explain-html", h, "--output", out) != SENTI_OK ||
            task_output_clash("--explain-html", h, "the model", t->dir) != SENTI_OK ||
            task_output_clash("--explain-html", h, "the tokenizer", t->tok_path) != SENTI_OK) {
            fprintf(stderr, "senti %s: %s\n", cmd, senti_last_error());
            return false;
        }
        if (!(e->html = fopen(e->html_path, "wb"))) {
            fprintf(stderr, "senti %s: cannot open %s: %s\n", cmd, e->html_path, strerror(errno));
            return false;
        }
        e->x.html = e->html;
        task_explain_html_begin(e->html);
    }
    return true;
}

int cli_explain_close(const char *cmd, cli_explain *e, int rc) {
    if (!e->html) return rc;
    const char *why = task_explain_html_end(e->html) != SENTI_OK ? senti_last_error() : NULL;
    char buf[256];
    if (why) snprintf(buf, sizeof buf, "%s", why), why = buf;
    if (fclose(e->html) != 0 && !why) why = strerror(errno);
    if (why) {
        fprintf(stderr, "senti %s: writing %s failed: %s\n", cmd, e->html_path, why);
        rc = rc ? rc : 1;
    }
    e->html = NULL;
    return rc;
}
