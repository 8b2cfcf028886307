/* fuzz_tok_common.h — shared by the tokenizer fuzz targets: a zeroed
 * tokenizer to load into, and what every loaded one must survive (encoding
 * a fixed text, alone and as a pair with truncation, and decoding). */
#ifndef SENTI_FUZZ_TOK_COMMON_H
#define SENTI_FUZZ_TOK_COMMON_H

#include <stdlib.h>

#include "tokenizer/tokenizer.h"

static senti_tokenizer *fuzz_tok_new(void) {
    tok_bytelevel_init();
    senti_tokenizer *t = senti_calloc(1, sizeof *t);
    if (!t) abort();
    if (!(t->source = senti_strdup("fuzz"))) abort();
    return t;
}

/* st: the loader's status; on success the added tokens are built and the
 * tokenizer exercised. A refusal must say why. Frees t. */
static void fuzz_tok_finish(senti_tokenizer *t, senti_status st) {
    if (st == SENTI_OK) st = tok_added_build(t);
    if (st != SENTI_OK) {
        if (senti_last_error()[0] == '\0') abort();
        senti_tokenizer_free(t);
        return;
    }
    static const char text[] = "Hello, wörld!\t12 x  y\n\xe2\x96\x81[CLS] <s> caf\xc3\xa9 \xe4\xb8\xad";
    senti_encode_opts o = senti_encode_opts_defaults();
    senti_encoding *e = NULL;
    if (senti_tokenizer_encode(t, text, sizeof text - 1, NULL, 0, &o, &e) == SENTI_OK) {
        size_t n;
        char *d = senti_tokenizer_decode(t, senti_encoding_ids(e), senti_encoding_len(e), 1, &n);
        senti_mfree(d);
    }
    senti_encoding_free(e);
    e = NULL;
    o.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
    o.max_length = 7;
    if (senti_tokenizer_encode(t, text, 12, text + 12, sizeof text - 13, &o, &e) == SENTI_OK &&
        senti_encoding_len(e) > 7 + 8)
        abort(); /* at most max_length plus the special tokens it could not drop */
    senti_encoding_free(e);
    senti_tokenizer_free(t);
}

#endif
