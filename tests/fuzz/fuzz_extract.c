/* fuzz_extract.c — libFuzzer target for the LLM-output parser of `extract`
 * (llm_extract_parse): byte 0 picks the schema, the rest is the model's raw
 * output, a NUL byte, then the source text (both must be valid UTF-8, as the
 * caller guarantees). Any output gives an object; offsets, where given, lie
 * inside the text. Seeds: tests/fuzz/seeds/extract. */
#include <stdlib.h>
#include <string.h>

#include "tasks/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const llm_schema schema = (llm_schema)(data[0] % LLM_SCHEMA_COUNT);
    const char *raw = (const char *)data + 1, *nul = memchr(raw, '\0', size - 1);
    const size_t raw_len = nul ? (size_t)(nul - raw) : size - 1;
    const char *text = nul ? nul + 1 : "The pizza was great but the service was slow.";
    const size_t len = nul ? size - 1 - raw_len - 1 : strlen(text);
    if (task_utf8_invalid_at(raw, raw_len) >= 0 || task_utf8_invalid_at(text, len) >= 0) return 0;
    json_t *o = llm_extract_parse(schema, raw, raw_len, text, len);
    if (!o || !json_is_object(o)) abort();
    char *s = json_dumps(o, JSON_COMPACT);
    free(s);
    json_decref(o);
    return 0;
}
