/* test_dialogue.c — per-utterance classification of dialogues: every
 * utterance's result equals the classifier run alone on the input the
 * documented context rule builds (pair mode: (utterance, "speaker: text"
 * of up to N previous turns joined by spaces); prefix mode: one text of the
 * context turns and "speaker: utterance"; N = 0: the utterance alone), the
 * oldest turns dropped first when the model's max length is exceeded, ids
 * and order kept under small batches, the same figures batched as one by
 * one, bad records as error lines and --strict. Uses the tasks fixture
 * bert-sst2 with the real bert-base-uncased tokenizer, and a 40-position
 * encoder fixture with a tiny vocabulary for the length limit. */
#include "task_helpers.h"

static char g_tok[2300], g_sst[2300], g_small[2300], g_tmp[64] = "/tmp/senti-dialogue-XXXXXX", g_vocab[128];

static json_t *run_dlg(senti_model *m, const senti_tokenizer *tok, const task_dialogue *d, const char *input,
                       const task_runner_opts *o, senti_status *st, task_stats *stats) {
    th_task t = {.m = m, .tok = tok, .o = o, .dlg = d};
    return th_run_input(input, th_task_fn, &t, st, stats);
}

static const char *SPK[] = {"Ross", "Rachel", NULL, "Monica"};
static const char *UTT[] = {"Hi!", "Oh my God, he is lost. He is totally lost.", "What?", "I am so happy for you",
                            "this is awful", "ok then"};

/* JSONL of nd dialogues with 1..6 turns each. */
static char *make_input(int nd) {
    size_t cap = 65536, n = 0;
    char *s = malloc(cap);
    for (int d = 0; d < nd; d++) {
        n += (size_t)snprintf(s + n, cap - n, "{\"id\":\"d%d\",\"dialogue\":[", d);
        int turns = 1 + d % 6;
        for (int t = 0; t < turns; t++) {
            const char *sp = SPK[(d + t) % 4];
            if (sp) n += (size_t)snprintf(s + n, cap - n, "%s{\"speaker\":\"%s\",\"text\":\"%s\"}", t ? "," : "", sp, UTT[(d * 7 + t) % 6]);
            else n += (size_t)snprintf(s + n, cap - n, "%s{\"text\":\"%s\"}", t ? "," : "", UTT[(d * 7 + t) % 6]);
        }
        n += (size_t)snprintf(s + n, cap - n, "]}\n");
    }
    return s;
}

/* The input of utterance i of dialogue d under the documented rule. */
static void expected_input(json_t *dlg, size_t i, int64_t context, bool prefix, size_t first, char *text,
                           char *pair, size_t n) {
    char ctx[8192] = "";
    size_t lo = context > 0 && (size_t)context < i ? i - (size_t)context : 0;
    if (context <= 0) lo = i;
    if (first > lo) lo = first;
    for (size_t j = lo; j < i; j++) {
        json_t *u = json_array_get(dlg, j), *sp = json_object_get(u, "speaker");
        if (j > lo) strcat(ctx, " ");
        if (json_is_string(sp)) strcat(ctx, json_string_value(sp)), strcat(ctx, ": ");
        strcat(ctx, json_string_value(json_object_get(u, "text")));
    }
    json_t *u = json_array_get(dlg, i), *sp = json_object_get(u, "speaker");
    const char *t = json_string_value(json_object_get(u, "text"));
    pair[0] = '\0';
    if (prefix) {
        snprintf(text, n, "%s%s%s%s%s", ctx, ctx[0] ? " " : "", json_is_string(sp) ? json_string_value(sp) : "",
                 json_is_string(sp) ? ": " : "", t);
    } else {
        snprintf(text, n, "%s", t);
        snprintf(pair, n, "%s", ctx);
    }
}

static void check_against_alone(senti_model *m, const senti_tokenizer *tok, const char *input, json_t *got,
                                int64_t context, bool prefix) {
    char *copy = strdup(input);
    json_t *recs = th_lines(copy);
    free(copy);
    ck_assert_int_eq(json_array_size(got), json_array_size(recs));
    size_t r;
    json_t *rec;
    json_array_foreach(recs, r, rec) {
        json_t *g = json_array_get(got, r), *dlg = json_object_get(rec, "dialogue");
        ck_assert_str_eq(json_string_value(json_object_get(g, "id")), json_string_value(json_object_get(rec, "id")));
        json_t *us = json_object_get(g, "utterances");
        ck_assert_int_eq(json_array_size(us), json_array_size(dlg));
        for (size_t i = 0; i < json_array_size(dlg); i++) {
            char text[8192], pair[8192];
            expected_input(dlg, i, context, prefix, 0, text, pair, sizeof text);
            float lg[2];
            double p[2];
            th_alone(m, tok, text, pair[0] ? pair : NULL, lg);
            th_softmax(lg, 2, p);
            json_t *u = json_array_get(us, i), *src = json_array_get(dlg, i);
            ck_assert_str_eq(json_string_value(json_object_get(u, "text")),
                             json_string_value(json_object_get(src, "text")));
            json_t *sp = json_object_get(src, "speaker");
            if (sp) ck_assert_str_eq(json_string_value(json_object_get(u, "speaker")), json_string_value(sp));
            else ck_assert(json_is_null(json_object_get(u, "speaker")));
            double s0 = json_real_value(json_object_get(json_object_get(u, "scores"), "NEGATIVE")),
                   s1 = json_real_value(json_object_get(json_object_get(u, "scores"), "POSITIVE"));
            ck_assert_msg(fabs(s0 - p[0]) < 1e-5 && fabs(s1 - p[1]) < 1e-5,
                          "dialogue %zu turn %zu (context %lld, %s): %g/%g vs alone %g/%g", r, i, (long long)context,
                          prefix ? "prefix" : "pair", s0, s1, p[0], p[1]);
            ck_assert_str_eq(json_string_value(json_object_get(u, "label")), p[1] > p[0] ? "POSITIVE" : "NEGATIVE");
        }
    }
    json_decref(recs);
}

START_TEST(test_context_rules) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    senti_model *m = senti_model_load(g_sst, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    char *input = make_input(13);
    for (int mode = 0; mode < 5; mode++) {
        static const int64_t CTX[] = {0, 1, 2, 3, 2};
        task_dialogue d = {.context = CTX[mode], .as_prefix = mode >= 3};
        ck_assert_int_eq(task_classify_init(&d.cls, m, g_sst, 0, 0.5), SENTI_OK);
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = 4;
        o.window = 5; /* utterances of several dialogues share batches */
        senti_status st;
        task_stats stats;
        json_t *got = run_dlg(m, tok, &d, input, &o, &st, &stats);
        ck_assert_int_eq(st, SENTI_OK);
        ck_assert_int_eq(stats.records, 13);
        ck_assert_int_eq(stats.units, 1 + 2 + 3 + 4 + 5 + 6 + 1 + 2 + 3 + 4 + 5 + 6 + 1);
        check_against_alone(m, tok, input, got, d.context, d.as_prefix);
        /* one by one gives the same figures */
        o.batch_size = 1;
        o.window = 1;
        json_t *one = run_dlg(m, tok, &d, input, &o, &st, &stats);
        ck_assert_int_eq(st, SENTI_OK);
        check_against_alone(m, tok, input, one, d.context, d.as_prefix);
        json_decref(one);
        json_decref(got);
    }
    free(input);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

START_TEST(test_bad_records) {
    if (!th_shared_tokenizer("bert-base-uncased", g_tok, sizeof g_tok)) return;
    senti_model *m = senti_model_load(g_sst, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    static const char input[] = "{\"id\":1,\"dialogue\":[{\"speaker\":\"A\",\"text\":\"fine\"}]}\n"
                                "{\"id\":2,\"text\":\"no dialogue\"}\n"
                                "{\"id\":3,\"dialogue\":[]}\n"
                                "{\"id\":4,\"dialogue\":[{\"speaker\":\"A\"}]}\n"
                                "{\"id\":5,\"dialogue\":[{\"speaker\":7,\"text\":\"x\"}]}\n"
                                "{\"id\":6,\"dialogue\":\"hello\"}\n"
                                "not json\n"
                                "{\"id\":8,\"dialogue\":[{\"text\":\"also fine\"},{\"text\":\"yes\"}]}\n";
    static const char *why[] = {NULL, "dialogue", "dialogue", "text", "speaker", "dialogue", "invalid JSON", NULL};
    task_dialogue d = {.context = 1};
    ck_assert_int_eq(task_classify_init(&d.cls, m, g_sst, 0, 0.5), SENTI_OK);
    task_runner_opts o = task_runner_opts_defaults();
    senti_status st;
    task_stats stats;
    json_t *got = run_dlg(m, tok, &d, input, &o, &st, &stats);
    ck_assert_int_eq(st, SENTI_OK);
    ck_assert_int_eq(json_array_size(got), 8);
    ck_assert_int_eq(stats.errors, 6);
    for (int i = 0; i < 8; i++) {
        json_t *g = json_array_get(got, (size_t)i), *e = json_object_get(g, "error");
        ck_assert_int_eq(json_integer_value(json_object_get(g, "id")), i == 6 ? 6 : i + 1);
        if (!why[i]) ck_assert_int_ge(json_array_size(json_object_get(g, "utterances")), 1);
        else ck_assert_msg(e && strstr(json_string_value(e), why[i]), "record %d: %s", i, json_string_value(e));
    }
    json_decref(got);
    o.strict = true;
    got = run_dlg(m, tok, &d, input, &o, &st, &stats);
    ck_assert_int_eq(st, SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "record 2"));
    ck_assert_int_eq(json_array_size(got), 1);
    json_decref(got);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

/* Max length 40: the oldest context turns go first. */
/* Each utterance's input keeps the fewest dropped oldest turns that fit the model's 40 tokens (found here by
 * trying every count) and scores as that input alone: 4 turns of 13 tokens under --context 3; 40 such turns
 * under --context 30 (a context past 16 bytes a token of max_len: searched from its newest turns); turns of
 * blanks and one word under --context 20 (long in bytes, few tokens: all of it fits, nothing dropped). */
START_TEST(test_oldest_turns_dropped) {
    senti_model *m = senti_model_load(g_small, 1);
    senti_tokenizer *tok = senti_tokenizer_load(g_vocab);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    ck_assert_int_eq(senti_model_max_length(m), 40);
    /* each turn "a: the movie was not very good and i really hate it" is 13 tokens */
    static const char *const TURNS[] = {"the movie was not very good and i really hate it", "great film , i love it !",
                                        "it was bad , very bad , really awful and not good",
                                        "i love the film and the movie"};
    char blanks[120];
    memset(blanks, ' ', sizeof blanks - 5);
    memcpy(blanks + sizeof blanks - 5, "good", 5);
    static const int N[] = {4, 40, 24}, CONTEXT[] = {3, 30, 20};
    for (int c = 0; c < 3; c++) {
        size_t cap = 16384, n = 0;
        char *input = malloc(cap);
        n += (size_t)snprintf(input + n, cap - n, "{\"id\":0,\"dialogue\":[");
        for (int t = 0; t < N[c]; t++)
            n += (size_t)snprintf(input + n, cap - n, "%s{%s\"text\":\"%s\"}", t ? "," : "",
                                  c < 2 ? "\"speaker\":\"a\"," : "", c < 2 ? TURNS[t % 4] : blanks);
        n += (size_t)snprintf(input + n, cap - n, "]}\n");
        ck_assert_uint_lt(n, cap - 1);
        for (int prefix = 0; prefix < 2; prefix++) {
            task_dialogue d = {.context = CONTEXT[c], .as_prefix = prefix};
            ck_assert_int_eq(task_classify_init(&d.cls, m, NULL, 0, 0.5), SENTI_OK);
            senti_status st;
            task_stats stats;
            json_t *got = run_dlg(m, tok, &d, input, NULL, &st, &stats);
            ck_assert_int_eq(st, SENTI_OK);
            ck_assert_int_eq(stats.truncated > 0, c < 2);
            char *copy = strdup(input);
            json_t *recs = th_lines(copy);
            free(copy);
            json_t *dlg = json_object_get(json_array_get(recs, 0), "dialogue"),
                   *us = json_object_get(json_array_get(got, 0), "utterances");
            ck_assert_int_eq(json_array_size(us), N[c]);
            for (size_t i = 0; i < (size_t)N[c]; i++) {
                char text[8192], pair[8192];
                for (size_t first = 0; first <= i; first++) { /* the fewest dropped turns that fit */
                    expected_input(dlg, i, d.context, d.as_prefix, first, text, pair, sizeof text);
                    senti_encoding *e = NULL;
                    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), pair[0] ? pair : NULL,
                                                            strlen(pair), NULL, &e),
                                     SENTI_OK);
                    int64_t len = senti_encoding_len(e);
                    senti_encoding_free(e);
                    if (len <= 40) break;
                }
                float lg[3];
                double p[3];
                th_alone(m, tok, text, pair[0] ? pair : NULL, lg);
                th_softmax(lg, 3, p);
                json_t *sc = json_object_get(json_array_get(us, i), "scores");
                ck_assert_msg(fabs(json_real_value(json_object_get(sc, "negative")) - p[0]) < 1e-5 &&
                                  fabs(json_real_value(json_object_get(sc, "positive")) - p[2]) < 1e-5,
                              "case %d turn %zu (%s)", c, i, prefix ? "prefix" : "pair");
            }
            json_decref(recs);
            json_decref(got);
        }
        free(input);
    }
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

int main(void) {
    th_init_root();
    snprintf(g_sst, sizeof g_sst, "%s/tests/fixtures/tasks/bert-sst2", th_root);
    snprintf(g_small, sizeof g_small, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", th_root);
    if (!mkdtemp(g_tmp)) abort();
    snprintf(g_vocab, sizeof g_vocab, "%s/vocab.txt", g_tmp);
    static const char *W[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "good", "bad", "movie",
                              "was", "is", "not", "very", "great", "awful", "i", "it", "and", "film", "really",
                              "love", "hate", ",", ".", "!", ":"};
    th_write_vocab(g_vocab, W, sizeof W / sizeof *W);
    Suite *s = suite_create("dialogue");
    TCase *tc = tcase_create("dialogue");
    tcase_add_test(tc, test_context_rules);
    tcase_add_test(tc, test_bad_records);
    tcase_add_test(tc, test_oldest_turns_dropped);
    suite_add_tcase(s, tc);
    int rc = th_run_suite(s);
    unlink(g_vocab);
    rmdir(g_tmp);
    return rc;
}
