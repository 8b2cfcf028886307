/* extract.c — `senti extract -m DIR --schema aspect|opinion|aesc|pair|triplet|quad|cause-pair|event
 * [--few-shot FILE] [--constrained] [--raw] [generation flags] [common flags] TEXT…`:
 * generative extraction with a decoder, parsed and grounded to code-point
 * offsets, one JSON line per input. Exit 2 on bad arguments, 1 when the
 * model cannot load or run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_cli.h"

int cmd_extract(int argc, char **argv);

static void extract_usage(FILE *f) {
    fprintf(f, "usage: senti extract -m DIR --schema aspect|opinion|aesc|pair|triplet|quad|cause-pair|event\n"
               "                     [--few-shot FILE]\n"
               "                     [--constrained] [--raw] [generation flags] [common flags] [TEXT...]\n"
               "  --few-shot FILE: JSONL examples {\"text\": …, \"output\": \"[(…)]\" or [[…], …]}\n"
               "  --constrained: force the output format; terms are substrings of the input (not for\n"
               "                 cause-pair, event)\n"
               "  cause-pair: the document's clauses (a record's \"clauses\", else cut at ，。！？；：… , . ! ? ; :)\n"
               "              are numbered in the prompt; output as senti cause's (clause numbers)\n"
               "  event: {\"events\":[{\"trigger\",\"subject\",\"object\",\"time\",\"location\" (each with\n"
               "         _start/_end offsets),\"polarity\"}]}\n"
               "  --raw: add the model's raw output to every record\n"
               "  the prompt goes through the model's chat template unless --no-chat-template;\n"
               "  greedy with max-new-tokens 256 unless the flags say otherwise\n"
               CLI_GEN_USAGE CLI_TASK_USAGE);
}

int cmd_extract(int argc, char **argv) {
    enum { O_SCHEMA = CLI_O_LLM_FIRST_FREE, O_SHOTS, O_CONSTRAINED, O_RAW };
    static const struct option opts[] = {CLI_TASK_OPTIONS, CLI_GEN_OPTIONS,
                                         {"schema", required_argument, 0, O_SCHEMA},
                                         {"few-shot", required_argument, 0, O_SHOTS},
                                         {"constrained", no_argument, 0, O_CONSTRAINED},
                                         {"raw", no_argument, 0, O_RAW},
                                         {0, 0, 0, 0}};
    cli_task t;
    cli_task_init(&t, "extract");
    const char **stop = calloc((size_t)argc + 1, sizeof *stop);
    cli_gen g;
    cli_gen_init(&g, "extract", stop);
    llm_extract_opts o = {.schema = LLM_SCHEMA_COUNT};
    const char *shots = NULL;
    int c, rc = 2;
    if (!stop) return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:h", opts, NULL)) != -1) {
        int r = cli_task_opt(&t, c, optarg);
        if (r == 0) r = cli_gen_opt(&g, c, optarg);
        if (r == 0) {
            r = 1;
            switch (c) {
            case O_SCHEMA:
                if ((o.schema = llm_schema_from_name(optarg)) == LLM_SCHEMA_COUNT) {
                    fprintf(stderr, "senti extract: --schema expects aspect|opinion|aesc|pair|triplet|quad|cause-pair|event, got '%s'\n",
                            optarg);
                    r = -1;
                }
                break;
            case O_SHOTS: shots = optarg; break;
            case O_CONSTRAINED: o.constrained = true; break;
            case O_RAW: o.keep_raw = true; break;
            case 'h': extract_usage(stdout); rc = 0; goto done;
            default: r = 0;
            }
        }
        if (r <= 0) {
            if (r == 0) extract_usage(stderr);
            goto done;
        }
    }
    if (o.schema == LLM_SCHEMA_COUNT) {
        fprintf(stderr, "senti extract: --schema is required\n");
        extract_usage(stderr);
        goto done;
    }
    if (!cli_task_check(&t, argc, optind)) goto done;
    if (o.constrained && o.schema >= LLM_SCHEMA_CAUSE_PAIR) { /* a usage error: before any work */
        fprintf(stderr, "senti extract: --constrained has no grammar for --schema %s\n", llm_schema_name(o.schema));
        goto done;
    }
    rc = 1;
    if (shots && llm_extract_load_shots(shots, &o.shot_in, &o.shot_out, &o.n_shots) != SENTI_OK) {
        fprintf(stderr, "senti extract: %s\n", senti_last_error());
        goto done;
    }
    if (g.max_new < 0) g.max_new = 256;
    if (!cli_gen_apply(&g, t.dir, &o.gen)) goto done;
    o.use_chat = g.chat != 0;
    if (g.system && !o.use_chat) { /* it goes into the chat template only */
        fprintf(stderr, "senti extract: --system has no effect with --no-chat-template\n");
        rc = 2;
        goto done;
    }
    o.system = g.system;
    llm_chat chat;
    if (!cli_chat_load("extract", t.dir, o.use_chat, &chat)) goto done;
    senti_status s = SENTI_ERR_IO;
    cli_task_reads(&t, "the --few-shot file", shots);
    if (cli_task_open(&t, argc, argv, optind)) s = llm_extract_run(t.model, t.tok, &chat, &o, &t.ro, t.src, t.out, &t.st);
    rc = cli_task_close(&t, s);
    llm_chat_free(&chat);
done:
    for (int64_t i = 0; i < o.n_shots; i++) {
        senti_mfree(o.shot_in[i]);
        senti_mfree(o.shot_out[i]);
    }
    senti_mfree(o.shot_in);
    senti_mfree(o.shot_out);
    free(stop);
    return rc;
}
