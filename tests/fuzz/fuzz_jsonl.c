/* fuzz_jsonl.c — libFuzzer target for the record reader (tasks/
 * task_source_file): JSONL records or plain lines; every record read is
 * either good UTF-8 text or carries its own error; never a crash or leak.
 * Seeds: tests/fuzz/seeds/jsonl. */
#include <stdio.h>
#include <stdlib.h>

#include "tasks/tasks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    task_source *src = task_source_file(f, "fuzz.jsonl");
    if (!src) abort();
    task_record r = {0};
    for (int64_t k = 0; k < 100000; k++) {
        int got = task_source_read(src, &r);
        if (got <= 0) break;
        if (!r.error && r.text && task_utf8_invalid_at(r.text, r.len) >= 0) abort();
        if (!r.error && r.pair && task_utf8_invalid_at(r.pair, r.pair_len) >= 0) abort();
        task_record_clear(&r);
    }
    task_record_clear(&r);
    task_source_free(src);
    fclose(f);
    return 0;
}
