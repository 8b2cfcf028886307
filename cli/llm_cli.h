/* llm_cli.h — flags shared by the decoder commands (generate, extract, the
 * LLM side of zero-shot): sampling options and the chat-template switch. */
#ifndef SENTI_CLI_LLM_H
#define SENTI_CLI_LLM_H

#include <getopt.h>

#include "../tasks/llm.h"
#include "cli.h"

enum {
    CLI_O_MAX_NEW = CLI_O_FIRST_FREE + 20, CLI_O_TEMP, CLI_O_TOPK, CLI_O_TOPP, CLI_O_MINP, CLI_O_REP, CLI_O_SEED,
    CLI_O_STOP, CLI_O_CHAT, CLI_O_NO_CHAT, CLI_O_SYSTEM, CLI_O_BEAMS, CLI_O_LENPEN, CLI_O_EARLY, CLI_O_NOREP,
    CLI_O_LLM_FIRST_FREE
};
#define CLI_GEN_OPTIONS                                                                                          \
    {"max-new-tokens", required_argument, 0, CLI_O_MAX_NEW}, {"temperature", required_argument, 0, CLI_O_TEMP}, \
        {"top-k", required_argument, 0, CLI_O_TOPK}, {"top-p", required_argument, 0, CLI_O_TOPP},              \
        {"min-p", required_argument, 0, CLI_O_MINP}, {"repetition-penalty", required_argument, 0, CLI_O_REP},  \
        {"seed", required_argument, 0, CLI_O_SEED}, {"stop", required_argument, 0, CLI_O_STOP},                \
        {"chat", no_argument, 0, CLI_O_CHAT}, {"no-chat-template", no_argument, 0, CLI_O_NO_CHAT},             \
        {"system", required_argument, 0, CLI_O_SYSTEM}, {"num-beams", required_argument, 0, CLI_O_BEAMS},    \
        {"length-penalty", required_argument, 0, CLI_O_LENPEN},                                                \
        {"early-stopping", required_argument, 0, CLI_O_EARLY},                                                 \
        {"no-repeat-ngram-size", required_argument, 0, CLI_O_NOREP}

#define CLI_GEN_USAGE                                                                                            \
    "  generation: [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"                \
    "              [--repetition-penalty R] [--seed S] [--stop STR]...   (defaults: generation_config.json;\n"  \
    "              temperature 0 is greedy; a positive temperature, top-k > 0, top-p < 1 or min-p > 0\n"       \
    "              samples)\n"                                                                                   \
    "  beam search: [--num-beams N] [--length-penalty X] [--early-stopping true|false|never]\n"               \
    "              [--no-repeat-ngram-size N]   (as transformers' generate; defaults: generation_config.json)\n" \
    "  --chat / --no-chat-template: render the prompt through the model's chat template or send it as is\n"   \
    "  --system S: a system message for the chat template\n"

/* What the generation flags set; applied over generation_config.json. */
typedef struct cli_gen {
    const char *cmd;
    long max_new;          /* -1: not given */
    double temp, top_p, min_p, rep;
    long top_k;
    bool temp_set, top_p_set, min_p_set, rep_set, top_k_set, seed_set;
    unsigned long long seed;
    const char **stop;     /* argv strings */
    int64_t n_stop;
    int chat;              /* -1 not given, 0 --no-chat-template, 1 --chat */
    const char *system;
    long beams, norep;     /* -1: not given */
    double lenpen;
    bool lenpen_set;
    int early;             /* -1: not given, else LLM_EARLY_STOP_* */
} cli_gen;

/* stop has room for max_stop strings (the argc of the command is enough). */
void cli_gen_init(cli_gen *g, const char *cmd, const char **stop);
/* 1 handled, 0 not a generation flag, -1 a bad value (explained). */
int cli_gen_opt(cli_gen *g, int c, const char *arg);
/* Defaults from dir's generation_config.json, then the flags. false: explained. */
bool cli_gen_apply(const cli_gen *g, const char *dir, llm_gen_opts *o);
/* The chat template of dir when use (else family NONE); false: explained. */
bool cli_chat_load(const char *cmd, const char *dir, bool use, llm_chat *c);

/* The decoder side of `senti zero-shot` (cmd_zero_shot dispatches here for a causal LM). */
int cli_zero_shot_llm(int argc, char **argv);

#endif
