/* generate.c — `senti generate -m DIR [generation flags] [--chat] [common flags]
 * PROMPT…` (one JSON line per prompt: {"id","text","ids","finish_reason"}),
 * the generation flags shared with extract, and the decoder side of
 * `senti zero-shot` (label scoring, {"id","label","score","scores","logprobs"}).
 * Exit 2 on bad arguments, 1 when the model cannot load or run. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_cli.h"

int cmd_generate(int argc, char **argv);

void cli_gen_init(cli_gen *g, const char *cmd, const char **stop) {
    memset(g, 0, sizeof *g);
    g->cmd = cmd;
    g->max_new = -1;
    g->stop = stop;
    g->chat = -1;
    g->beams = g->norep = -1;
    g->early = -1;
}

static bool parse_double(const char *cmd, const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno || !(v >= lo && v <= hi)) {
        fprintf(stderr, "senti %s: %s expects a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

int cli_gen_opt(cli_gen *g, int c, const char *arg) {
    bool ok = true;
    long v;
    switch (c) {
    case CLI_O_MAX_NEW: ok = cli_parse_long(g->cmd, "--max-new-tokens", arg, 0, 1L << 20, &g->max_new); break;
    case CLI_O_TEMP: ok = g->temp_set = parse_double(g->cmd, "--temperature", arg, 0, 100, &g->temp); break;
    case CLI_O_TOPK: ok = g->top_k_set = cli_parse_long(g->cmd, "--top-k", arg, 0, 1L << 30, &g->top_k); break;
    case CLI_O_TOPP: ok = g->top_p_set = parse_double(g->cmd, "--top-p", arg, 0, 1, &g->top_p); break;
    case CLI_O_MINP: ok = g->min_p_set = parse_double(g->cmd, "--min-p", arg, 0, 1, &g->min_p); break;
    case CLI_O_REP: ok = g->rep_set = parse_double(g->cmd, "--repetition-penalty", arg, 1e-3, 1e3, &g->rep); break;
    case CLI_O_SEED:
        ok = g->seed_set = cli_parse_long(g->cmd, "--seed", arg, 0, __LONG_MAX__, &v);
        g->seed = (unsigned long long)v;
        break;
    case CLI_O_STOP:
        if (!*arg) {
            fprintf(stderr, "senti %s: --stop must not be empty\n", g->cmd);
            ok = false;
        } else g->stop[g->n_stop++] = arg;
        break;
    case CLI_O_CHAT:
    case CLI_O_NO_CHAT:
        if (g->chat == (c == CLI_O_CHAT ? 0 : 1)) {
            fprintf(stderr, "senti %s: --chat and --no-chat-template contradict each other\n", g->cmd);
            ok = false;
        }
        g->chat = c == CLI_O_CHAT;
        break;
    case CLI_O_SYSTEM: g->system = arg; break;
    case CLI_O_BEAMS: ok = cli_parse_long(g->cmd, "--num-beams", arg, 1, 256, &g->beams); break;
    case CLI_O_NOREP: ok = cli_parse_long(g->cmd, "--no-repeat-ngram-size", arg, 0, 1L << 20, &g->norep); break;
    case CLI_O_LENPEN: ok = g->lenpen_set = parse_double(g->cmd, "--length-penalty", arg, -100, 100, &g->lenpen); break;
    case CLI_O_EARLY:
        g->early = !strcmp(arg, "true") ? LLM_EARLY_STOP_TRUE : !strcmp(arg, "false") ? LLM_EARLY_STOP_FALSE
                   : !strcmp(arg, "never")  ? LLM_EARLY_STOP_NEVER
                                            : -1;
        if (g->early < 0) {
            fprintf(stderr, "senti %s: --early-stopping expects true, false or never, got '%s'\n", g->cmd, arg);
            ok = false;
        }
        break;
    default: return 0;
    }
    return ok ? 1 : -1;
}

bool cli_gen_apply(const cli_gen *g, const char *dir, llm_gen_opts *o) {
    *o = llm_gen_opts_defaults();
    if (llm_gen_opts_load(o, dir) != SENTI_OK) {
        fprintf(stderr, "senti %s: %s\n", g->cmd, senti_last_error());
        return false;
    }
    if (g->max_new >= 0) o->max_new_tokens = g->max_new, o->max_length = 0;
    if (g->top_k_set) o->top_k = g->top_k;
    if (g->top_p_set) o->top_p = g->top_p;
    if (g->min_p_set) o->min_p = g->min_p;
    if (g->rep_set) o->repetition_penalty = g->rep;
    if (g->seed_set) o->seed = g->seed;
    if (g->beams > 0) o->num_beams = g->beams;
    if (g->norep >= 0) o->no_repeat_ngram_size = g->norep;
    if (g->lenpen_set) o->length_penalty = g->lenpen;
    if (g->early >= 0) o->early_stopping = g->early;
    /* a sampling flag that filters asks for sampling (top-k 0, top-p 1, min-p 0
     * are each filter's "off", as in transformers); temperature 0 is greedy
     * whatever else is given */
    if ((g->top_k_set && g->top_k > 0) || (g->top_p_set && g->top_p < 1.0) || (g->min_p_set && g->min_p > 0.0))
        o->do_sample = true;
    if (g->temp_set) {
        o->temperature = g->temp > 0 ? g->temp : 1.0;
        o->do_sample = g->temp > 0;
    }
    o->stop = g->stop;
    o->n_stop = g->n_stop;
    return true;
}

bool cli_chat_load(const char *cmd, const char *dir, bool use, llm_chat *c) {
    memset(c, 0, sizeof *c);
    if (!use) return true;
    if (llm_chat_load(c, dir) != SENTI_OK) {
        fprintf(stderr, "senti %s: %s\n", cmd, senti_last_error());
        return false;
    }
    return true;
}

static void gen_usage(FILE *f) {
    fprintf(f, "usage: senti generate -m DIR [generation flags] [--chat [--system S]] [common flags] PROMPT...\n"
               "  output: {\"id\",\"text\",\"ids\",\"finish_reason\":\"stop|length\"} per prompt (the continuation only)\n"
               "  inputs: PROMPT arguments, or --input JSONL ({\"id\",\"text\"}) or plain text lines\n"
               "  --batch-size N: prompts generated together (default 32)\n"
               CLI_GEN_USAGE CLI_TASK_USAGE);
}

int cmd_generate(int argc, char **argv) {
    static const struct option opts[] = {CLI_TASK_OPTIONS, CLI_GEN_OPTIONS, {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "generate");
    const char **stop = calloc((size_t)argc + 1, sizeof *stop);
    cli_gen g;
    cli_gen_init(&g, "generate", stop);
    int c, rc = 2;
    if (!stop) return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int r = cli_task_opt(&t, c, optarg);
        if (r == 0) r = cli_gen_opt(&g, c, optarg);
        if (r == 0 && c == 'h') {
            gen_usage(stdout);
            free(stop);
            return 0;
        }
        if (r <= 0) {
            if (r == 0) gen_usage(stderr);
            free(stop);
            return 2;
        }
    }
    if (!cli_task_check(&t, argc, optind)) {
        gen_usage(stderr);
        free(stop);
        return 2;
    }
    if (g.system && g.chat != 1) { /* it goes into the chat template only */
        fprintf(stderr, "senti generate: --system needs --chat\n");
        free(stop);
        return 2;
    }
    llm_generate_opts o = {0};
    llm_chat chat = {0};
    senti_status s = SENTI_ERR_IO;
    if (!cli_gen_apply(&g, t.dir, &o.gen) || !cli_chat_load("generate", t.dir, g.chat == 1, &chat)) {
        free(stop);
        return 1;
    }
    if (g.chat == 1 && chat.family == LLM_CHAT_NONE) {
        fprintf(stderr, "senti generate: --chat: %s has no chat template\n", t.dir);
        free(stop);
        return 1;
    }
    o.use_chat = g.chat == 1;
    o.system = g.system;
    if (cli_task_open(&t, argc, argv, optind)) {
        if (!lm_is_generative(t.model)) {
            fprintf(stderr, "senti generate: %s (%s) is not a causal language model or an encoder-decoder\n", t.dir,
                    senti_model_architecture(t.model));
            t.explained = true;
        } else s = llm_generate_run(t.model, t.tok, &chat, &o, &t.ro, t.src, t.out, &t.st);
    }
    rc = cli_task_close(&t, s);
    llm_chat_free(&chat);
    free(stop);
    return rc;
}

/* ---- zero-shot with a decoder ------------------------------------------------------------ */

static void zs_usage(FILE *f) {
    fprintf(f, "usage: senti zero-shot -m DECODER_DIR --labels A,B,... [--template T] [--no-chat-template]\n"
               "                       [common flags] [TEXT...]\n"
               "  scores each label as the model's answer: the mean log-probability of its tokens after the\n"
               "  prompt; \"scores\" is the softmax of those over the labels, \"logprobs\" the raw means;\n"
               "  a JSONL record's \"labels\" array overrides --labels for that record\n"
               "  --template T: the instruction, with {text} and {labels} (default: \"Classify the sentiment of\n"
               "                the text. Answer with one of: {labels}.\\n\\nText: {text}\"), sent through the\n"
               "                chat template unless --no-chat-template\n" CLI_TASK_USAGE);
}

int cli_zero_shot_llm(int argc, char **argv) {
    enum { O_LABELS = CLI_O_LLM_FIRST_FREE, O_TEMPLATE };
    static const struct option opts[] = {CLI_TASK_OPTIONS,
                                         {"labels", required_argument, 0, O_LABELS},
                                         {"template", required_argument, 0, O_TEMPLATE},
                                         {"no-chat-template", no_argument, 0, CLI_O_NO_CHAT},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "zero-shot");
    llm_score_opts o = {.use_chat = true};
    char *labels_s = NULL;
    const char **labels = NULL;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int r = cli_task_opt(&t, c, optarg);
        if (r == 0) {
            r = 1;
            switch (c) {
            case O_LABELS:
                free(labels_s);
                if (!(labels_s = strdup(optarg))) r = -1;
                break;
            case O_TEMPLATE:
                o.tmpl = optarg;
                if (!strstr(optarg, "{text}")) { /* every record would be scored on the same prompt */
                    fprintf(stderr, "senti zero-shot: --template must contain {text} for the record's text\n");
                    r = -1;
                }
                break;
            case CLI_O_NO_CHAT: o.use_chat = false; break;
            case 'h': zs_usage(stdout); rc = 0; goto done;
            default: r = 0;
            }
        }
        if (r <= 0) {
            if (r == 0) zs_usage(stderr);
            goto done;
        }
    }
    if (labels_s && (labels = calloc(strlen(labels_s) / 2 + 2, sizeof *labels))) {
        for (char *tok = strtok(labels_s, ","); tok; tok = strtok(NULL, ",")) {
            while (isspace((unsigned char)*tok)) tok++;
            char *e = tok + strlen(tok);
            while (e > tok && isspace((unsigned char)e[-1])) *--e = '\0';
            if (*tok) labels[o.n_labels++] = tok;
        }
    }
    if (o.n_labels < 1) {
        fprintf(stderr, "senti zero-shot: --labels A,B,... is required\n");
        zs_usage(stderr);
        goto done;
    }
    o.labels = labels;
    if (task_labels_distinct(o.labels, o.n_labels, "senti zero-shot") != SENTI_OK) {
        fprintf(stderr, "%s\n", senti_last_error());
        goto done;
    }
    if (!cli_task_check(&t, argc, optind)) goto done;
    llm_chat chat;
    if (!cli_chat_load("zero-shot", t.dir, o.use_chat, &chat)) {
        rc = 1;
        goto done;
    }
    senti_status s = SENTI_ERR_IO;
    if (cli_task_open(&t, argc, argv, optind)) s = llm_zero_shot_run(t.model, t.tok, &chat, &o, &t.ro, t.src, t.out, &t.st);
    rc = cli_task_close(&t, s);
    llm_chat_free(&chat);
done:
    free(labels);
    free(labels_s);
    return rc;
}
