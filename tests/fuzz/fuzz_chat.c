/* fuzz_chat.c — libFuzzer target for chat templates: the input is a
 * template's text; it is recognised (or refused with a message) and, when
 * recognised, renders a fixed conversation with and without the generation
 * prompt. Seeds: tests/fuzz/seeds/chat (real templates). */
#include <stdlib.h>
#include <string.h>

#include "tasks/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *tmpl = malloc(size + 1);
    if (!tmpl) return 0;
    memcpy(tmpl, data, size);
    tmpl[size] = '\0';
    llm_chat c = {0};
    if (llm_chat_from_template(&c, tmpl, "<s>", "</s>", "fuzz/tokenizer_config.json") == SENTI_OK) {
        const llm_msg msgs[] = {{"system", "Be brief."}, {"user", " Hi\tthere "}, {"assistant", "Hello."},
                                {"user", "Is it good?"}};
        for (int k = 0; k < 4; k++) {
            char *out = NULL;
            size_t len;
            const int first = k & 1, n = 4 - first;
            if (llm_chat_render(&c, msgs + first, n - (k >> 1), k >> 1, &out, &len) == SENTI_OK && (!out || strlen(out) != len))
                abort();
            senti_mfree(out);
        }
    } else if (senti_last_error()[0] == '\0') {
        abort();
    }
    llm_chat_free(&c);
    free(tmpl);
    return 0;
}
