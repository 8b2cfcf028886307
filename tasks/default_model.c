/* default_model.c — where the default model lives: the SST-2 sentiment
 * classifier committed as models/sst2-minilm-l6-q8_0.gguf (see
 * tools/train/train_sst2.py), found through SENTI_DEFAULT_MODEL, else the
 * installed copy (cmake --install), else the source tree the build came from.
 * Invariant: the answer is a path that existed when asked, or NULL. */
#include <stdlib.h>
#include <unistd.h>

#include "senti.h"

#ifndef SENTI_SOURCE_MODEL
#define SENTI_SOURCE_MODEL ""
#endif
#ifndef SENTI_INSTALLED_MODEL
#define SENTI_INSTALLED_MODEL ""
#endif

const char *senti_default_model(void) {
    const char *env = getenv("SENTI_DEFAULT_MODEL");
    if (env && *env) return env;
    static const char *const paths[] = {SENTI_INSTALLED_MODEL, SENTI_SOURCE_MODEL};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (paths[i][0] && access(paths[i], R_OK) == 0) return paths[i];
    return NULL;
}
