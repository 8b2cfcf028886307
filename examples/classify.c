/* classify.c — the senti C API in a few lines: load a sentiment classifier,
 * classify a batch of texts, print each text's best label and score.
 *
 *   example-classify MODEL_DIR [TOKENIZER] TEXT...
 *
 * TOKENIZER (optional, a tokenizer.json or vocab.txt path; recognised by its
 * extension) is for model directories that hold no tokenizer files. */
#include <stdio.h>
#include <string.h>

#include "senti.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR [TOKENIZER.json|vocab.txt] TEXT...\n", argv[0]);
        return 2;
    }
    int first = 2;
    senti_task_opts o = senti_task_opts_defaults(SENTI_TASK_CLASSIFY);
    size_t n = strlen(argv[2]);
    if (argc > 3 && ((n > 5 && strcmp(argv[2] + n - 5, ".json") == 0) || (n > 4 && strcmp(argv[2] + n - 4, ".txt") == 0)))
        o.tokenizer = argv[first++];
    senti_task *t = senti_task_load(argv[1], &o);
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
