/* fuzz_merges.c — libFuzzer target for the GPT-2 vocab.json + merges.txt
 * loader: the input is the vocab.json text, a NUL byte, then the merges.txt
 * text (no NUL: all vocab.json, empty merges). Seeds: tests/fuzz/seeds/merges. */
#include <string.h>

#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data, *nul = memchr(s, '\0', size);
    const size_t vn = nul ? (size_t)(nul - s) : size;
    senti_tokenizer *t = fuzz_tok_new();
    fuzz_tok_finish(t, tok_load_vocab_json_buf(t, "fuzz/vocab.json", s, vn, "fuzz/merges.txt", nul ? nul + 1 : "",
                                               nul ? size - vn - 1 : 0));
    return 0;
}
