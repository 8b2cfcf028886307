/* cli.h — helpers shared by the `senti` subcommands: integer flags and the
 * model + tokenizer + input/output setup of the per-record task commands. */
#ifndef SENTI_CLI_H
#define SENTI_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "senti.h"

/* Parse flag's value s as an integer in [lo, hi]; on failure print
 * "senti CMD: FLAG expects …" and return false. */
bool cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *out);

/* What a task command runs on. in is NULL when texts come from arguments. */
typedef struct cli_io {
    senti_model *model;
    senti_tokenizer *tok;
    FILE *in, *out;
    const char *in_name; /* for messages: the input path or "<stdin>" */
} cli_io;

/* Load the model (dir, threads) and tokenizer (tok_path, else dir), open
 * input ("-": stdin; NULL: none) and output (NULL: stdout). On failure print
 * "senti CMD: …" and return false; cli_io_close releases what was opened. */
bool cli_io_open(const char *cmd, cli_io *io, const char *dir, const char *tok_path, int threads,
                 const char *input, const char *output);
/* Release everything; returns rc, or 1 if closing the output failed. */
int cli_io_close(const char *cmd, cli_io *io, const char *output, int rc);

#endif
