/* convert.c — `senti convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]
 * [--embed-type T] [--meta KEY=VALUE]...`:
 * one self-contained GGUF file from an HF checkpoint directory (see
 * tools/convert/convert.c for what it holds). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tools/convert/convert.h"

int cmd_convert(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f, "usage: senti convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0] [--embed-type T] [--meta KEY=VALUE]...\n"
               "  the layers' linear weights are stored in TYPE (default f32); embeddings, norms, biases and the\n"
               "  classifier's output layer stay f32\n"
               "  --embed-type T: an encoder's token-embedding table in T (default f32; widened to f32 at load)\n"
               "  --meta KEY=VALUE: an extra string key (provenance: general.description, general.source.url, ...)\n");
}

/* The file being written (gguf_convert_with writes OUT.tmp<pid>, then
 * renames it): an interrupt removes it rather than leave it half-written. */
static char g_tmp[4352];

static void on_interrupt(int sig) {
    if (g_tmp[0]) unlink(g_tmp); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {{"type", required_argument, 0, 't'}, {"embed-type", required_argument, 0, 'e'},
                                         {"meta", required_argument, 0, 'M'}, {"help", no_argument, 0, 'h'}, {0}};
    senti_type type = SENTI_TYPE_F32, etype = SENTI_TYPE_F32;
    const char **meta = calloc((size_t)argc + 1, sizeof *meta);
    int64_t n_meta = 0;
    int c, rc = 2;
    if (!meta) return 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
        case 'e': {
            senti_type v = senti_type_from_name(optarg);
            if (v != SENTI_TYPE_F32 && v != SENTI_TYPE_F16 && v != SENTI_TYPE_BF16 && v != SENTI_TYPE_Q8_0 &&
                v != SENTI_TYPE_Q4_0) {
                fprintf(stderr, "senti convert: --%s expects f32, f16, bf16, q8_0 or q4_0, got '%s'%s\n",
                        c == 't' ? "type" : "embed-type", optarg,
                        v == SENTI_TYPE_INT8 ? " (int8 has no GGUF type: it is made at load, --dtype int8)" : "");
                goto done;
            }
            *(c == 't' ? &type : &etype) = v;
            break;
        }
        case 'M': meta[n_meta++] = optarg; break;
        case 'h': usage(stdout); rc = 0; goto done;
        default: usage(stderr); goto done;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        goto done;
    }
    const gguf_convert_opts o = {.type = type, .embed_type = etype, .meta = meta, .n_meta = n_meta};
    rc = 0;
    if (snprintf(g_tmp, sizeof g_tmp, "%s.tmp%ld", argv[optind + 1], (long)getpid()) >= (int)sizeof g_tmp) g_tmp[0] = '\0';
    struct sigaction sa = {.sa_handler = on_interrupt}, old_int, old_term, old_hup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    const senti_status st = gguf_convert_with(argv[optind], argv[optind + 1], &o);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    if (st != SENTI_OK) {
        fprintf(stderr, "senti convert: %s\n", senti_last_error());
        rc = 1;
    }
done:
    free(meta);
    return rc;
}
