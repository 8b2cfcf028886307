/* fuzz_tokenizer_json.c — libFuzzer target for the tokenizer.json loader:
 * any input is refused with a message or gives a tokenizer that encodes and
 * decodes; never a crash, leak, hang or out-of-bounds read. Seeds:
 * tests/fuzz/seeds/tokenizer_json (small tokenizer.json files). */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    senti_tokenizer *t = fuzz_tok_new();
    fuzz_tok_finish(t, tok_load_json_text(t, "fuzz/tokenizer.json", (const char *)data, size));
    return 0;
}
