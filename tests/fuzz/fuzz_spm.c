/* fuzz_spm.c — libFuzzer target for the SentencePiece .model reader (a
 * hand-written protobuf parser) and the pipeline built from it. Seeds:
 * tests/fuzz/seeds/spm (small .model files). */
#include "fuzz_tok_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    senti_tokenizer *t = fuzz_tok_new();
    spm sp = {0};
    senti_status st = tok_spm_parse("fuzz.model", data, size, &sp);
    if (st == SENTI_OK) st = tok_spm_build(t, "fuzz.model", &sp);
    senti_mfree(sp.pieces);
    fuzz_tok_finish(t, st);
    return 0;
}
