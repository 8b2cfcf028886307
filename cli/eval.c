/* eval.c — `senti eval [-m MODEL] --task T --data FILE [--format F]
 * [--predictions OUT.jsonl | --score PRED.jsonl] [task flags] [common flags]`:
 * runs the task over a labelled file (or reads a predictions file) and
 * prints one JSON object with the standard metrics (tasks/eval.c) plus the
 * run's records/s; a one-line summary goes to stderr.
 *
 * Tasks and what runs them: classify (sequence classifier; the default model
 * without -m), zero-shot (NLI classifier; --labels, default: the gold labels
 * in order of first appearance), aspect (pair classifier over each record's
 * "aspect" list), dialogue (--context N, --context-as), ae / oe / aesc (a
 * token classifier through tag, or a decoder through extract), pair (a
 * decoder through extract, or an aspect-conditioned tagger through tag's AOE
 * on each record's gold aspect spans), triplet / quad (a decoder through
 * extract), cause / ecpe (a clause classifier through senti cause with
 * --pair-model …, or a decoder through extract --schema cause-pair; ecpe
 * also scores --score files), event (a decoder through extract --schema
 * event, or --score). Exit 2 on bad arguments, 1 when anything fails. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/core.h"
#include "../model/lm.h"
#include "cli.h"
#include "llm_cli.h"

int cmd_eval(int argc, char **argv);

static void eval_usage(FILE *f) {
    fprintf(f, "usage: senti eval [-m MODEL] --task T --data FILE [--format F] [--predictions OUT.jsonl]\n"
               "                  [--score PRED.jsonl] [task flags] [common flags]\n"
               "  --task: classify|zero-shot|aspect|dialogue|ae|oe|aesc|pair|triplet|quad|ecpe|cause|event\n"
               "  --data FILE: a labelled file (format detected, or --format tsv|tweeteval|meld|aste|asqp|ecpe|\n"
               "               ecpe-csv|jsonl)\n"
               "  --predictions OUT.jsonl: keep the per-record results\n"
               "  --score PRED.jsonl: score these results (one line per record, in order) instead of running a model\n"
               "  -m MODEL: classify defaults to the embedded SST-2 model\n"
               "  task flags: --labels a,b (zero-shot candidates; with --score: the model's label names, in id order)\n"
               "              --template T (zero-shot, aspect) --context N and\n"
               "              --context-as pair|prefix (dialogue) --aggregation A --stride N (tag)\n"
               "              --constrained --max-new-tokens N (extract with a decoder)\n"
               "              cause / ecpe with a clause classifier: --pair-model DIR --cause-model DIR\n"
               "              --context N (default 1) --pair-window N --threshold X (see senti cause)\n"
               "              pair with a token classifier: AOE, the pair (text, aspect) per gold aspect span,\n"
               "              or with --aspect-model AE_TAGGER per predicted aspect (AE + AOE)\n"
               "  prints {\"task\",\"data\",\"format\",\"model\",\"metrics\":{…},\"records_per_second\",\"seconds\"}\n"
               CLI_TASK_USAGE);
}

typedef struct eval_args {
    const char *task, *data, *pred_out, *score, *labels, *tmpl, *as;
    long context, stride, max_new;
    task_tag_agg agg;
    bool constrained, context_set;
    cli_cause cause;
    const char *ae_dir; /* --aspect-model: AE + AOE for --task pair */
} eval_args;

enum { O_TASK = CLI_O_FIRST_FREE, O_DATA, O_PRED, O_SCORE, O_LABELS, O_TMPL, O_CTX, O_AS, O_AGG, O_STRIDE, O_CONSTR, O_MAXNEW };

static int eval_opt(void *ctx, int c, const char *arg) {
    eval_args *a = ctx;
    static const char *const AGG[] = {"none", "simple", "first", "average", "max"};
    switch (c) {
    case O_TASK: a->task = arg; return 1;
    case O_DATA: a->data = arg; return 1;
    case O_PRED: a->pred_out = arg; return 1;
    case O_SCORE: a->score = arg; return 1;
    case O_LABELS: a->labels = arg; return 1;
    case O_TMPL: a->tmpl = arg; return 1;
    case O_AS: a->as = arg; return strcmp(arg, "pair") && strcmp(arg, "prefix") ? (fprintf(stderr,
               "senti eval: --context-as expects pair|prefix, got '%s'\n", arg), -1) : 1;
    case O_CTX: a->context_set = true; return cli_parse_long("eval", "--context", arg, 0, 1000, &a->context) ? 1 : -1;
    case O_STRIDE: return cli_parse_long("eval", "--stride", arg, 0, 100000, &a->stride) ? 1 : -1;
    case O_MAXNEW: return cli_parse_long("eval", "--max-new-tokens", arg, 1, 100000, &a->max_new) ? 1 : -1;
    case O_CONSTR: a->constrained = true; return 1;
    case O_AGG:
        for (int i = 0; i < 5; i++)
            if (!strcmp(arg, AGG[i])) return a->agg = (task_tag_agg)i, 1;
        fprintf(stderr, "senti eval: --aggregation expects none|simple|first|average|max, got '%s'\n", arg);
        return -1;
    case CLI_O_FIRST_FREE + 39: a->ae_dir = arg; return 1;
    default: return c == CLI_O_FIRST_FREE + 42 ? 0 : cli_cause_opt(&a->cause, "eval", c, arg);
    }
}

/* The lines of buf (one JSON object each) as an array; NULL with a message. */
static json_t *parse_lines(const char *buf, size_t n, const char *name) {
    json_t *a = json_array();
    size_t i = 0;
    int64_t line = 0;
    while (a && i < n) {
        const char *e = memchr(buf + i, '\n', n - i);
        size_t len = e ? (size_t)(e - (buf + i)) : n - i;
        line++;
        if (len > 0 && !(len == 1 && buf[i] == '\r')) {
            json_error_t je;
            json_t *o = json_loadb(buf + i, len, JSON_REJECT_DUPLICATES, &je);
            if (!json_is_object(o)) {
                senti_error(SENTI_ERR_BAD_FILE, "%s: line %lld: not a JSON object (%s)", name, (long long)line,
                            o ? "another JSON value" : je.text);
                json_decref(o);
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, o);
        }
        i += len + 1;
    }
    if (!a) senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
    return a;
}

static json_t *read_predictions(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        senti_error(SENTI_ERR_IO, "cannot open %s", path);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    char chunk[65536];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (n + got > cap) {
            cap = 2 * (n + got);
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
                return NULL;
            }
            buf = b;
        }
        memcpy(buf + n, chunk, got);
        n += got;
    }
    bool bad = ferror(f);
    fclose(f);
    json_t *a = bad ? NULL : parse_lines(buf ? buf : "", n, path);
    if (bad) senti_error(SENTI_ERR_IO, "%s: read failed", path);
    free(buf);
    return a;
}

/* The data's records that could not be read are not scored: say which (the
 * metrics count them as "gold_errors"). */
static void report_gold_errors(json_t *gold, const char *path) {
    size_t i, shown = 0, total = 0;
    json_t *r;
    json_array_foreach(gold, i, r) {
        const char *e = json_string_value(json_object_get(r, "error"));
        if (!e) continue;
        if (total++ < 20) fprintf(stderr, "senti eval: %s: %s (not scored)\n", path, e), shown++;
    }
    if (total > shown) fprintf(stderr, "senti eval: %s: %zu more records not scored\n", path, total - shown);
}

/* Classification whose predicted labels never name a gold label: the two
 * sides use different names (integer gold labels against a model's names
 * without --labels): say so, the figures are all 0. */
static void warn_disjoint(json_t *metrics) {
    json_t *per = json_object_get(metrics, "per_label"), *e;
    const char *name;
    if (!per || json_integer_value(json_object_get(metrics, "items")) == 0) return;
    bool gold_side = false, pred_side = false;
    json_object_foreach(per, name, e) {
        const bool g = json_integer_value(json_object_get(e, "support")) > 0;
        const bool p = json_integer_value(json_object_get(e, "predicted")) > 0;
        if (g && p) return;
        gold_side |= g, pred_side |= p;
    }
    if (gold_side && pred_side)
        fprintf(stderr, "senti eval: warning: no predicted label is ever a gold label (different names: integer gold "
                        "labels need --labels NAME,… in the model's id order)\n");
}

/* Distinct gold labels in order of first appearance (zero-shot's default candidates). */
static char **gold_labels(json_t *gold, int64_t *n) {
    char **v = calloc(json_array_size(gold) + 1, sizeof *v);
    size_t i;
    json_t *g;
    *n = 0;
    if (!v) return NULL;
    json_array_foreach(gold, i, g) {
        const char *l = json_string_value(json_object_get(g, "label"));
        bool seen = !l;
        for (int64_t k = 0; k < *n && !seen; k++) seen = !strcmp(v[k], l);
        if (!seen && !(v[(*n)++] = strdup(l))) return v;
    }
    return v;
}

/* Split "a,b,c" into strdup'd parts. */
static char **split_labels(const char *s, int64_t *n) {
    int64_t k = 1;
    for (const char *p = s; *p; p++) k += *p == ',';
    char **v = calloc((size_t)k + 1, sizeof *v);
    *n = 0;
    for (const char *p = s; v; p = strchr(p, ',') + 1) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && !(v[(*n)++] = strndup(p, len))) break;
        if (!e) break;
    }
    return v;
}

/* Run the task of kind k on t (model and source open) into out. */
static senti_status run_task(task_eval_kind k, cli_task *t, const eval_args *a, FILE *out, char **cand, int64_t ncand,
                             const char ***labels, int64_t *nl) {
    senti_status s;
    if (k == TASK_EVAL_CLASSIFY || k == TASK_EVAL_DIALOGUE) {
        task_dialogue d = {.context = a->context, .as_prefix = a->as && !strcmp(a->as, "prefix")};
        if ((s = task_classify_init(&d.cls, t->model, t->dir, 0, 0.5)) != SENTI_OK) return s;
        return k == TASK_EVAL_CLASSIFY ? task_run(t->model, t->tok, t->src, out, &t->ro, task_classify_decode, &d.cls, &t->st)
                                       : task_dialogue_run(t->model, t->tok, &d, t->src, out, &t->ro, &t->st);
    }
    if (k == TASK_EVAL_CAUSE || k == TASK_EVAL_ECPE) {
        if (senti_model_get_head(t->model) == SENTI_HEAD_SEQUENCE_CLASSIFICATION) {
            cli_cause c = a->cause;
            c.context = a->context_set ? a->context : 1;
            s = cli_cause_run(&c, t, out);
            cli_cause_free(&c);
            return s;
        }
    }
    if (k == TASK_EVAL_PAIR && senti_model_get_head(t->model) == SENTI_HEAD_TOKEN_CLASSIFICATION) {
        if (!a->ae_dir) return task_tag_aoe_run(t->model, t->tok, a->agg, 0, true, NULL, 0, t->src, out, &t->ro, &t->st);
        senti_model *ae = NULL;
        senti_tokenizer *ae_tok = NULL;
        s = cli_task_load_more(t, a->ae_dir, &ae, &ae_tok)
                ? task_tag_ae_aoe_run(ae, ae_tok, t->model, t->tok, a->agg, t->src, out, &t->ro, &t->st)
                : SENTI_ERR_BAD_FILE;
        senti_model_free(ae);
        senti_tokenizer_free(ae_tok);
        return s;
    }
    if (k == TASK_EVAL_ASPECT) {
        task_aspect as = {.tmpl = a->tmpl, .strict = t->ro.strict};
        return task_aspect_run_opts(t->model, t->tok, &as, t->src, out, &t->ro, &t->st);
    }
    if (k == TASK_EVAL_ZERO_SHOT) {
        task_zeroshot z;
        if ((s = task_zeroshot_init(&z, t->model, (const char *const *)cand, ncand, a->tmpl, false)) != SENTI_OK) return s;
        *labels = (const char **)cand, *nl = ncand;
        return task_zeroshot_run(t->model, t->tok, &z, t->src, out, &t->ro, &t->st);
    }
    if (senti_model_get_head(t->model) == SENTI_HEAD_TOKEN_CLASSIFICATION && k <= TASK_EVAL_AESC)
        return task_tag_run_opts(t->model, t->tok, a->agg, a->stride, t->src, out, &t->ro, &t->st);
    if (!lm_is_generative(t->model))
        return senti_error(SENTI_ERR_UNSUPPORTED, "--task %s needs a token classifier (ae, oe, aesc, pair), a "
                           "sequence classifier (cause, ecpe), a decoder or an encoder-decoder (extract)",
                           task_eval_kind_name(k));
    static const llm_schema SCHEMA[] = {[TASK_EVAL_AE] = LLM_SCHEMA_ASPECT, [TASK_EVAL_OE] = LLM_SCHEMA_OPINION,
                                        [TASK_EVAL_AESC] = LLM_SCHEMA_AESC, [TASK_EVAL_PAIR] = LLM_SCHEMA_PAIR,
                                        [TASK_EVAL_TRIPLET] = LLM_SCHEMA_TRIPLET, [TASK_EVAL_QUAD] = LLM_SCHEMA_QUAD,
                                        [TASK_EVAL_ECPE] = LLM_SCHEMA_CAUSE_PAIR,
                                        [TASK_EVAL_CAUSE] = LLM_SCHEMA_CAUSE_PAIR, [TASK_EVAL_EVENT] = LLM_SCHEMA_EVENT};
    llm_extract_opts o = {.schema = SCHEMA[k], .constrained = a->constrained};
    const char *stop[1] = {NULL};
    cli_gen g;
    cli_gen_init(&g, "eval", stop);
    g.max_new = a->max_new > 0 ? a->max_new : 256;
    if (!cli_gen_apply(&g, t->dir, &o.gen)) return senti_error(SENTI_ERR_INVALID_ARG, "generation settings");
    o.use_chat = g.chat != 0;
    llm_chat chat;
    if (!cli_chat_load("eval", t->dir, o.use_chat, &chat)) return senti_error(SENTI_ERR_BAD_FILE, "chat template");
    s = llm_extract_run(t->model, t->tok, &chat, &o, &t->ro, t->src, out, &t->st);
    llm_chat_free(&chat);
    return s;
}

static bool write_file(const char *path, const char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(buf, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "senti eval: cannot write %s\n", path);
    return ok;
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"task", required_argument, 0, O_TASK},
                                         {"data", required_argument, 0, O_DATA},
                                         {"predictions", required_argument, 0, O_PRED},
                                         {"score", required_argument, 0, O_SCORE},
                                         {"labels", required_argument, 0, O_LABELS},
                                         {"template", required_argument, 0, O_TMPL},
                                         {"context", required_argument, 0, O_CTX},
                                         {"context-as", required_argument, 0, O_AS},
                                         {"aggregation", required_argument, 0, O_AGG},
                                         {"stride", required_argument, 0, O_STRIDE},
                                         {"constrained", no_argument, 0, O_CONSTR},
                                         {"max-new-tokens", required_argument, 0, O_MAXNEW},
                                         {"aspect-model", required_argument, 0, CLI_O_FIRST_FREE + 39},
                                         {"cause-model", required_argument, 0, CLI_O_FIRST_FREE + 40},
                                         {"pair-model", required_argument, 0, CLI_O_FIRST_FREE + 41},
                                         {"pair-window", required_argument, 0, CLI_O_FIRST_FREE + 43},
                                         {"threshold", required_argument, 0, CLI_O_FIRST_FREE + 44},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "eval");
    eval_args a = {.agg = TASK_TAG_SIMPLE};
    cli_cause_init(&a.cause);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        if (c == 'h') {
            eval_usage(stdout);
            return 0;
        }
        int r = cli_task_opt(&t, c, optarg);
        if (r == 0) r = eval_opt(&a, c, optarg);
        if (r <= 0) {
            if (r == 0) eval_usage(stderr);
            return 2;
        }
    }
    task_eval_kind k = task_eval_kind_from_name(a.task);
    const char *why = !a.task                       ? "--task is required"
                      : k == TASK_EVAL_COUNT        ? "--task expects classify|zero-shot|aspect|dialogue|ae|oe|aesc|pair|triplet|quad|ecpe|cause|event"
                      : !a.data                     ? "--data FILE is required"
                      : optind < argc               ? "eval takes no TEXT arguments"
                      : t.input || t.output || t.resume ? "eval reads --data and prints metrics: no --input, --output or --resume"
                      : a.score && a.pred_out       ? "give --score or --predictions, not both"
                                                    : NULL;
    if (!why && !t.dir && !a.score && k == TASK_EVAL_CLASSIFY && !(t.dir = senti_default_model()))
        why = "no -m MODEL and the default model was not found (set SENTI_DEFAULT_MODEL)";
    if (!why && !t.dir && !a.score) why = "-m MODEL is required";
    cli_task_reads(&t, "the --aspect-model", a.ae_dir);
    cli_task_reads(&t, "the --cause-model", a.cause.cause_dir);
    cli_task_reads(&t, "the --pair-model", a.cause.pair_dir);
    const task_resume_opts pro = {.input = a.data, .model_path = t.dir, .tokenizer_path = t.tok_path,
                                  .reads = t.reads, .reads_what = t.reads_what, .n_reads = t.n_reads,
                                  .no_sidecar = true};
    if (!why && a.pred_out && task_output_checks("--predictions", a.pred_out, &pro) != SENTI_OK)
        why = senti_last_error();
    if (why) {
        fprintf(stderr, "senti eval: %s\n", why);
        eval_usage(stderr);
        return 2;
    }
    json_t *gold = NULL, *preds = NULL, *metrics = NULL, *out = NULL;
    task_format used = TASK_FORMAT_AUTO;
    char *buf = NULL, **cand = NULL;
    size_t blen = 0;
    int64_t ncand = 0, nl = 0;
    const char **labels = NULL;
    senti_status s = task_dataset_read(a.data, t.format, &gold, &used);
    int rc = 1;
    if (s != SENTI_OK) goto fail;
    if (cli_mpi_rank() == 0) report_gold_errors(gold, a.data); /* every rank reads the data: one says it */
    if (k == TASK_EVAL_ZERO_SHOT || (a.score && a.labels))
        cand = a.labels ? split_labels(a.labels, &ncand) : gold_labels(gold, &ncand);
    if (a.score) {
        if (!(preds = read_predictions(a.score))) goto fail;
        if (!cand && t.dir) { /* -m with --score: the model's label names, in id order (as --labels gives them) */
            const senti_model_opts mo = cli_model_opts(&t);
            if (!(t.model = senti_model_load_opts(t.dir, &mo))) goto fail;
            nl = senti_model_num_labels(t.model);
            if (!(labels = calloc((size_t)nl + 1, sizeof *labels))) goto fail;
            for (int64_t i = 0; i < nl; i++) labels[i] = senti_model_label(t.model, i);
        }
    } else {
        t.input = a.data;
        t.format = used;
        t.gather = true;
        FILE *mem = NULL;
        if (!cli_task_open(&t, argc, argv, argc)) {
            s = cli_mpi_gather_output(SENTI_ERR_IO, &buf, &blen, &t.st); /* the other ranks wait for this one */
            rc = cli_task_close(&t, SENTI_ERR_IO);
            goto done;
        }
        cli_shard_records(&t, (int64_t)json_array_size(gold)); /* under MPI: this rank's share */
        if (!(mem = open_memstream(&buf, &blen))) {
            s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        } else {
            s = run_task(k, &t, &a, mem, cand, ncand, &labels, &nl);
            if (fclose(mem) != 0 && s == SENTI_OK) s = senti_error(SENTI_ERR_NO_MEMORY, "out of memory");
        }
        const senti_status own = s;
        s = cli_mpi_gather_output(s, &buf, &blen, &t.st); /* under MPI: every rank's output, in order, on rank 0 */
        if (cli_mpi_rank() != 0) { /* rank 0 scores and prints; the others report only their own failure */
            t.st.seconds = 0;
            rc = cli_task_close(&t, own);
            goto done;
        }
        if (s == SENTI_OK && !labels) {
            nl = senti_model_num_labels(t.model);
            labels = calloc((size_t)nl + 1, sizeof *labels);
            for (int64_t i = 0; labels && i < nl; i++) labels[i] = senti_model_label(t.model, i);
        }
        if (s == SENTI_OK && a.pred_out && !write_file(a.pred_out, buf, blen)) s = SENTI_ERR_IO;
        if (s == SENTI_OK && !(preds = parse_lines(buf, blen, "the task's output"))) s = SENTI_ERR_NO_MEMORY;
        if (s != SENTI_OK) {
            if (labels != (const char **)cand) free(labels);
            labels = NULL;
            rc = cli_task_close(&t, s);
            goto done;
        }
    }
    if (!labels && cand) labels = (const char **)cand, nl = ncand;
    s = task_eval_score(k, gold, preds, labels, nl, &metrics);
    if (s != SENTI_OK && a.score) {
        fprintf(stderr, "senti eval: scoring %s against %s: %s\n", a.score, a.data, senti_last_error());
        rc = 1;
        goto done;
    }
    if (s == SENTI_OK) {
        warn_disjoint(metrics);
        double sec = t.st.seconds;
        out = json_pack("{sssssssssO}", "task", task_eval_kind_name(k), "data", a.data, "format", task_format_name(used),
                        "model", a.score && !t.model ? "" : t.dir, "metrics", metrics);
        if (out && !a.score) {
            json_object_set_new(out, "records_per_second", json_real(sec > 0 ? (double)t.st.records / sec : 0.0));
            json_object_set_new(out, "seconds", json_real(sec));
        }
        char *txt = out ? json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
        if (txt && printf("%s\n", txt) > 0) rc = 0;
        free(txt);
        json_t *acc = json_object_get(metrics, "accuracy"), *f1 = json_object_get(metrics, "f1");
        if (acc)
            fprintf(stderr, "senti eval: %s on %s: accuracy %.4f, macro-F1 %.4f, weighted-F1 %.4f (%lld items)", a.task,
                    a.data, json_real_value(acc), json_real_value(json_object_get(metrics, "macro_f1")),
                    json_real_value(json_object_get(metrics, "weighted_f1")),
                    (long long)json_integer_value(json_object_get(metrics, "items")));
        else if (f1)
            fprintf(stderr, "senti eval: %s on %s: P %.4f R %.4f F1 %.4f", a.task, a.data,
                    json_real_value(json_object_get(metrics, "precision")),
                    json_real_value(json_object_get(metrics, "recall")), json_real_value(f1));
        else fprintf(stderr, "senti eval: %s on %s", a.task, a.data);
        if (!a.score) fprintf(stderr, ", %.1f records/s", sec > 0 ? (double)t.st.records / sec : 0.0);
        fputc('\n', stderr);
    }
    if (!a.score) {
        t.st.seconds = 0; /* the summary above replaces the runner's */
        int r2 = cli_task_close(&t, s);
        if (rc == 0) rc = r2;
    } else if (s != SENTI_OK) {
        goto fail;
    }
    goto done;
fail:
    fprintf(stderr, "senti eval: %s\n", senti_last_error());
    rc = 1;
done:
    senti_model_free(t.model); /* --score's, for its label names (cli_task_close freed a run's) */
    t.model = NULL;
    if (labels != (const char **)cand) free(labels);
    for (int64_t i = 0; cand && i < ncand; i++) free(cand[i]);
    free(cand);
    free(buf);
    json_decref(gold);
    json_decref(preds);
    json_decref(metrics);
    json_decref(out);
    return rc;
}
