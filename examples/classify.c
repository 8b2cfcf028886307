/* classify.c — the senti C API in a few lines: load a sentiment classifier
 * (the embedded default model unless -m names another), classify a batch of
 * texts, print each text's best label and score.
 *
 *   example-classify [-m MODEL] [--tokenizer PATH] TEXT...
 *
 * MODEL: an HF directory or a GGUF file; --tokenizer for model directories
 * that hold no tokenizer files. */
#include <stdio.h>
#include <string.h>

#include "senti.h"

int main(int argc, char **argv) {
    const char *model = NULL; /* NULL: senti_default_model() */
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    int first = 1;
    while (first + 1 < argc && (!strcmp(argv[first], "-m") || !strcmp(argv[first], "--tokenizer"))) {
        if (!strcmp(argv[first], "-m")) model = argv[first + 1];
        else o.tokenizer = argv[first + 1];
        first += 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-m MODEL] [--tokenizer PATH] TEXT...\n", argv[0]);
        return 2;
    }
    senti_task *t = senti_task_load(model, &o);
    senti_results *r = NULL;
    if (!t || senti_task_run(t, (const char *const *)argv + first, argc - first, &r) != SENTI_OK) {
        fprintf(stderr, "error: %s\n", senti_last_error());
        senti_task_free(t);
        return 1;
    }
    for (int64_t i = 0; i < senti_results_count(r); i++) {
        if (senti_result_error(r, i)) printf("%s\terror: %s\n", argv[first + i], senti_result_error(r, i));
        else /* part 0, label 0: the best label */
            printf("%s\t%s\t%.4f\n", argv[first + i], senti_result_label(r, i, 0, 0), senti_result_score(r, i, 0, 0));
    }
    senti_results_free(r);
    senti_task_free(t);
    return 0;
}
