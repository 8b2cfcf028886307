/* fuzz_gguf.c — libFuzzer target for the GGUF reader: any input must be
 * either refused with a message or loaded with every tensor inside the
 * buffer; never a crash, leak or out-of-bounds read (built with ASan/UBSan).
 * Built only with clang and -DSENTI_FUZZ=ON:
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSENTI_FUZZ=ON && cmake --build build-fuzz --target fuzz_gguf
 *   build-fuzz/fuzz_gguf -max_total_time=60 corpus/ */
#include <stdlib.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = gguf_file_load_buffer(data, size, "fuzz.gguf");
    if (!f) {
        if (senti_last_error()[0] == '\0') abort(); /* a refusal must say why */
        return 0;
    }
    /* touch everything the reader hands out */
    volatile uint64_t sink = 0;
    for (int64_t i = 0; i < gguf_file_kv_count(f); i++) {
        const gguf_value *v = gguf_file_kv_value(f, i);
        if (gguf_file_find_kv(f, gguf_file_kv_key(f, i)) == NULL) abort();
        if (v->type == GGUF_VT_STRING) sink += (uint64_t)strlen(v->v.str.s);
        if (v->type == GGUF_VT_ARRAY)
            for (uint64_t k = 0; k < v->v.arr.n && k < 64; k++) sink += gguf_arr_get(v, k).v.u;
    }
    for (int64_t i = 0; i < gguf_file_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_file_tensor(f, i);
        if (gguf_file_find_tensor(f, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (t->nbytes && (p < data || p + t->nbytes > data + size)) abort();
        if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
    }
    (void)sink;
    gguf_file_free(f);
    return 0;
}
