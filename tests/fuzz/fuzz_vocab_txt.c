/* fuzz_vocab_txt.c — libFuzzer target for the WordPiece vocab.txt loader
 * (one token a line) and BERT's pipeline over it. Seeds: tests/fuzz/seeds/vocab_txt. */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    senti_tokenizer *t = fuzz_tok_new();
    fuzz_tok_finish(t, tok_load_vocab_txt_buf(t, "fuzz/vocab.txt", (const char *)data, size, true, true, -1));
    return 0;
}
