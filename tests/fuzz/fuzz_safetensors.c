/* fuzz_safetensors.c — libFuzzer target for the safetensors header parser:
 * any input must be refused with a message or loaded with every tensor inside
 * the buffer, sorted by name and unique; never a crash, leak or out-of-bounds
 * read (built with ASan/UBSan). Built only with clang and -DSENTI_FUZZ=ON:
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSENTI_FUZZ=ON && cmake --build build-fuzz --target fuzz_safetensors
 *   build-fuzz/fuzz_safetensors -max_total_time=60 tests/fuzz/seeds/safetensors */
#include <stdlib.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f = st_file_load_buffer(data, size, "fuzz.safetensors");
    if (!f) {
        if (senti_last_error()[0] == '\0') abort(); /* a refusal must say why */
        return 0;
    }
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < st_file_count(f); i++) {
        const st_tensor *t = st_file_get(f, i);
        if (st_file_find(f, t->name) != t) abort();
        if (i > 0 && strcmp(st_file_get(f, i - 1)->name, t->name) >= 0) abort();
        const uint8_t *p = t->data;
        if (t->nbytes && (p < data || p + t->nbytes > data + size)) abort();
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
        if (t->type < SENTI_TYPE_COUNT && t->type != SENTI_TYPE_I32 && t->numel > 0 && t->numel < 4096) {
            float *y = senti_malloc((size_t)t->numel * sizeof *y);
            if (y && st_tensor_read_f32(t, y) == SENTI_OK) sink += (uint64_t)(y[0] != 0);
            senti_mfree(y);
        }
    }
    (void)sink;
    st_file_free(f);
    return 0;
}
