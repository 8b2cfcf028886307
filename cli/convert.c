/* convert.c — `senti convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]`:
 * one self-contained GGUF file from an HF checkpoint directory (see
 * tools/convert/convert.c for what it holds). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "../tools/convert/convert.h"

int cmd_convert(int argc, char **argv);

static void usage(FILE *f) {
    fprintf(f, "usage: senti convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]   (default f32)\n"
               "  the layers' linear weights are stored in TYPE; embeddings, norms, biases and the\n"
               "  classifier's output layer stay f32\n");
}

int cmd_convert(int argc, char **argv) {
    static const struct option opts[] = {{"type", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0}};
    senti_type type = SENTI_TYPE_F32;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            type = senti_type_from_name(optarg);
            if (type != SENTI_TYPE_F32 && type != SENTI_TYPE_F16 && type != SENTI_TYPE_BF16 &&
                type != SENTI_TYPE_Q8_0 && type != SENTI_TYPE_Q4_0) {
                fprintf(stderr, "senti convert: --type expects f32, f16, bf16, q8_0 or q4_0, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return 2;
    }
    if (gguf_convert(argv[optind], argv[optind + 1], type) != SENTI_OK) {
        fprintf(stderr, "senti convert: %s\n", senti_last_error());
        return 1;
    }
    return 0;
}
