/* cli.c — helpers shared by the `senti` subcommands (see cli.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

bool cli_io_open(const char *cmd, cli_io *io, const char *dir, const char *tok_path, int threads,
                 const char *input, const char *output) {
    memset(io, 0, sizeof *io);
    io->out = stdout;
    if (!(io->model = senti_model_load(dir, threads)) || !(io->tok = senti_tokenizer_load(tok_path ? tok_path : dir))) {
        fprintf(stderr, "senti %s: %s\n", cmd, senti_last_error());
        return false;
    }
    if (input) {
        const bool std_in = strcmp(input, "-") == 0;
        io->in_name = std_in ? "<stdin>" : input;
        if (!(io->in = std_in ? stdin : fopen(input, "rb"))) {
            fprintf(stderr, "senti %s: cannot open %s: %s\n", cmd, input, strerror(errno));
            return false;
        }
    }
    if (output && !(io->out = fopen(output, "wb"))) {
        fprintf(stderr, "senti %s: cannot open %s: %s\n", cmd, output, strerror(errno));
        io->out = stdout;
        return false;
    }
    return true;
}

int cli_io_close(const char *cmd, cli_io *io, const char *output, int rc) {
    if (io->out && io->out != stdout && fclose(io->out) != 0 && rc == 0) {
        fprintf(stderr, "senti %s: closing %s failed: %s\n", cmd, output, strerror(errno));
        rc = 1;
    }
    if (io->in && io->in != stdin) fclose(io->in);
    senti_tokenizer_free(io->tok);
    senti_model_free(io->model);
    memset(io, 0, sizeof *io);
    return rc;
}
