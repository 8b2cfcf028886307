/* test_extract.c — generative extraction: the output parser on a corpus of
 * real-shaped LLM outputs (tests/fixtures/extract/corpus.jsonl, expected
 * structures written by hand), grounding with non-ASCII text, prompts and
 * few-shot files, and constrained decoding on the tiny random decoders of
 * tests/fixtures/llm: whatever the model prefers, the constrained output
 * parses and every term is a substring of the input. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/llm.h"
#include "tests/testutil.h"

static char g_root[2048];

static void init_paths(void) {
    const char *f = __FILE__;
    const char *e = strstr(f, "/tests/test_extract.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
}

static const char *list_key(llm_schema s) {
    return s == LLM_SCHEMA_OPINION ? "spans"
           : s == LLM_SCHEMA_PAIR  ? "pairs"
           : s == LLM_SCHEMA_TRIPLET ? "triplets"
           : s == LLM_SCHEMA_QUAD    ? "quads"
                                     : "aspects";
}

START_TEST(test_corpus) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/fixtures/extract/corpus.jsonl", g_root);
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "%s", p);
    char *line = NULL;
    size_t cap = 0;
    int n = 0, bad = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *c = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(c);
        llm_schema s = llm_schema_from_name(json_string_value(json_object_get(c, "schema")));
        ck_assert_int_lt(s, LLM_SCHEMA_COUNT);
        json_t *raw = json_object_get(c, "raw"), *text = json_object_get(c, "text");
        json_t *got = llm_extract_parse(s, json_string_value(raw), json_string_length(raw), json_string_value(text),
                                        json_string_length(text));
        ck_assert_ptr_nonnull(got);
        json_t *list = json_object_get(got, list_key(s)), *want = json_object_get(c, "expect");
        char *gs = json_dumps(list, JSON_COMPACT | JSON_ENSURE_ASCII), *ws = json_dumps(want, JSON_COMPACT | JSON_ENSURE_ASCII);
        ck_assert_msg(json_equal(list, want), "line %d (%s): %s\n got  %s\n want %s", n + 1, llm_schema_name(s),
                      json_string_value(raw), gs, ws);
        bool unparseable = json_is_true(json_object_get(c, "unparseable"));
        ck_assert_msg((json_object_get(got, "raw") != NULL) == unparseable, "line %d: raw field", n + 1);
        if (unparseable) ck_assert_ptr_nonnull(json_object_get(got, "warning"));
        bad += unparseable;
        free(gs);
        free(ws);
        json_decref(got);
        json_decref(c);
        n++;
    }
    free(line);
    fclose(f);
    ck_assert_int_ge(n, 40);
    ck_assert_int_ge(bad, 1);
}
END_TEST

START_TEST(test_ground) {
    int64_t a, b;
    const char *t = "Le café était TRÈS   bon 😀 寿司很好吃";
    ck_assert(llm_ground(t, strlen(t), "très bon", 9, &a, &b)); /* 9 bytes: è is two */
    ck_assert_int_eq(a, 14);
    ck_assert_int_eq(b, 24); /* the three spaces are part of the match */
    ck_assert(llm_ground(t, strlen(t), "CAFÉ", strlen("CAFÉ"), &a, &b));
    ck_assert_int_eq(a, 3);
    ck_assert_int_eq(b, 7);
    ck_assert(llm_ground(t, strlen(t), "好吃", strlen("好吃"), &a, &b));
    ck_assert_int_eq(a, 30);
    ck_assert_int_eq(b, 32);
    ck_assert(llm_ground(t, strlen(t), "  bon 😀 ", strlen("  bon 😀 "), &a, &b)); /* trimmed */
    ck_assert_int_eq(a, 21);
    ck_assert_int_eq(b, 26);
    ck_assert(!llm_ground(t, strlen(t), "pizza", 5, &a, &b));
    ck_assert(!llm_ground(t, strlen(t), "   ", 3, &a, &b));
    ck_assert(!llm_ground(t, strlen(t), "", 0, &a, &b));
    /* a whole word beats a match inside a word; the same case beats another case */
    t = "Did I mention that the coffee is OUTSTANDING ?";
    ck_assert(llm_ground(t, strlen(t), "I", 1, &a, &b));
    ck_assert_int_eq(a, 4);
    ck_assert_int_eq(b, 5);
    t = "The menu: the coffee";
    ck_assert(llm_ground(t, strlen(t), "the", 3, &a, &b));
    ck_assert_int_eq(a, 10);
    ck_assert(llm_ground(t, strlen(t), "THE", 3, &a, &b));
    ck_assert_int_eq(a, 0);
    ck_assert(llm_ground("thenthe", 7, "the", 3, &a, &b));
    ck_assert_int_eq(a, 0);
    ck_assert(llm_ground("then the", 8, "the", 3, &a, &b));
    ck_assert_int_eq(a, 5);
    /* the first occurrence */
    ck_assert(llm_ground("a b A B", 7, "a b", 3, &a, &b));
    ck_assert_int_eq(a, 0);
    /* a term the model repeats is one span (quads keep ASQP's list, duplicates counted) */
    const char rep[] = "[('was'), ('was'), ('great')]";
    json_t *d = llm_extract_parse(LLM_SCHEMA_OPINION, rep, sizeof rep - 1, "the food was great", 18);
    ck_assert_int_eq(json_array_size(json_object_get(d, "spans")), 2);
    json_decref(d);
    const char repq[] = "[('food', 'food quality', 'positive', 'great'), ('food', 'food quality', 'positive', 'great')]";
    d = llm_extract_parse(LLM_SCHEMA_QUAD, repq, sizeof repq - 1, "the food was great", 18);
    ck_assert_int_eq(json_array_size(json_object_get(d, "quads")), 2);
    json_decref(d);
    /* garbage in the output never crashes the parser */
    const char junk[] = "[((\"\xff\xfe'',,))]]}{{:\"";
    json_t *j = llm_extract_parse(LLM_SCHEMA_QUAD, junk, sizeof junk - 1, "text", 4);
    ck_assert_ptr_nonnull(j);
    json_decref(j);
    /* nor do random strings of the structural characters (ASan build: no out-of-bounds) */
    static const char *bits[] = {"[", "]", "(", ")", "{", "}", ",", ":", "'", "\"", "`", "```", "\\", "\n", " ",
                                 "food", "NULL", "pos", "“", "’", "\xe2\x80", "\xff", "aspect", "sentiment"};
    llm_rng r;
    llm_rng_seed(&r, 99);
    for (int k = 0; k < 3000; k++) {
        char buf[256];
        size_t n = 0;
        int parts = (int)(llm_rng_next(&r) % 24);
        for (int i = 0; i < parts; i++) {
            const char *piece = bits[llm_rng_next(&r) % (sizeof bits / sizeof *bits)];
            size_t bl = strlen(piece);
            if (n + bl >= sizeof buf) break;
            memcpy(buf + n, piece, bl);
            n += bl;
        }
        char *exact = senti_malloc(n ? n : 1); /* exactly n bytes, so ASan sees any overread */
        memcpy(exact, buf, n);
        j = llm_extract_parse((llm_schema)(k % LLM_SCHEMA_COUNT), exact, n, "the food", 8);
        ck_assert_ptr_nonnull(j);
        json_decref(j);
        senti_mfree(exact);
    }
}
END_TEST

START_TEST(test_prompt_and_shots) {
    const char *in[] = {"The pizza was good."}, *out[] = {"[(pizza, good, positive)]"};
    char *p = llm_extract_instruction(LLM_SCHEMA_TRIPLET, in, out, 1, "Nice staff.", 11);
    ck_assert_ptr_nonnull(p);
    ck_assert(strstr(p, "[(aspect, opinion, sentiment), ...]") != NULL);
    ck_assert(strstr(p, "Example 1-\ninput: The pizza was good.\noutput: [(pizza, good, positive)]") != NULL);
    ck_assert(strstr(p, "input: Nice staff.\noutput:") != NULL);
    senti_mfree(p);
    char path[] = "/tmp/senti-shots-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"text\": \"Great food.\", \"output\": [[\"food\", \"Great\", \"positive\"]]}\n\n"
               "{\"text\": \"Meh.\", \"output\": \"[]\"}\n");
    fclose(f);
    char **ins, **outs;
    int64_t n;
    ck_assert_int_eq(llm_extract_load_shots(path, &ins, &outs, &n), SENTI_OK);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(outs[0], "[(food, Great, positive)]");
    ck_assert_str_eq(outs[1], "[]");
    for (int64_t i = 0; i < n; i++) senti_mfree(ins[i]), senti_mfree(outs[i]);
    senti_mfree(ins);
    senti_mfree(outs);
    f = fopen(path, "w");
    fprintf(f, "{\"text\": \"ok\", \"output\": \"[]\"}\n{\"text\": 3}\n");
    fclose(f);
    ck_assert_int_eq(llm_extract_load_shots(path, &ins, &outs, &n), SENTI_ERR_BAD_FILE);
    assert_msg_has("bad shot", path, ":2:", NULL);
    remove(path);
}
END_TEST

/* Every allocation failure in the parser and the prompt builder: NULL, nothing leaked. */
START_TEST(test_alloc_failures) {
    const char *raw = "Sure:\n```\n[('food', 'great', 'pos'), (service, \"not so great\", negative), {\"aspect\": \"x\"}\n```";
    const char *text = "The food was great but the service was not so great.";
    senti_allocator a = {count_alloc, count_free, NULL};
    bool ok_seen = false;
    for (g_fail_at = 0; g_fail_at < 400 && !ok_seen; g_fail_at++) {
        g_count = g_live = 0;
        senti_set_allocator(&a);
        json_t *j = llm_extract_parse(LLM_SCHEMA_TRIPLET, raw, strlen(raw), text, strlen(text));
        const char *in[] = {"a"}, *out[] = {"[]"};
        char *p = j ? llm_extract_instruction(LLM_SCHEMA_QUAD, in, out, 1, text, strlen(text)) : NULL;
        ok_seen = j && p;
        json_decref(j);
        senti_mfree(p);
        senti_set_allocator(NULL);
        ck_assert_msg(g_live == 0, "fail at %ld: %ld blocks leaked", g_fail_at, g_live);
    }
    ck_assert(ok_seen);
}
END_TEST

/* ---- constrained decoding ------------------------------------------------------------------ */

static const char *WORDS[] = {"the", "food", "was", "great", "but", "service", "slow", "café", "très", "bon",
                              "pizza", "staff", "rude", "lovely", "view", "not", "so", "good", ",", "!"};

static void check_term(json_t *o, const char *key, const char *text) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return;
    const char *t = json_string_value(v);
    ck_assert_ptr_nonnull(t);
    ck_assert_msg(*t && strstr(text, t) != NULL, "'%s' is not a substring of '%s'", t, text);
}

static void check_constrained(const char *name) {
    char d[4096];
    snprintf(d, sizeof d, "%s/tests/fixtures/llm/%s", g_root, name);
    senti_model *m = senti_model_load(d, 2);
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    senti_tokenizer *tok = senti_tokenizer_load(d);
    ck_assert_ptr_nonnull(tok);
    llm_chat chat;
    ck_assert_int_eq(llm_chat_load(&chat, d), SENTI_OK);
    llm_gen_opts go = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&go, d), SENTI_OK);
    llm_rng r;
    llm_rng_seed(&r, 1234);
    int items = 0, runs = 0, unconstrained_bad = 0;
    for (llm_schema s = 0; s < LLM_SCHEMA_COUNT; s++) {
        llm_constraint *con = llm_constraint_new(tok, lm_vocab(m), s, go.eos, go.n_eos);
        ck_assert_ptr_nonnull(con);
        enum { B = 4 };
        char texts[B][256];
        int32_t *ids[B];
        int64_t n[B];
        for (int b = 0; b < B; b++) {
            texts[b][0] = '\0';
            int nw = 3 + (int)(llm_rng_next(&r) % 8);
            for (int w = 0; w < nw; w++) {
                if (w) strcat(texts[b], " ");
                strcat(texts[b], WORDS[llm_rng_next(&r) % (sizeof WORDS / sizeof *WORDS)]);
            }
            char *instr = llm_extract_instruction(s, NULL, NULL, 0, texts[b], strlen(texts[b]));
            ck_assert_int_eq(llm_prompt_ids(tok, &chat, true, NULL, instr, strlen(instr), &ids[b], &n[b]), SENTI_OK);
            senti_mfree(instr);
            ck_assert_int_eq(llm_constraint_set_text(con, b, texts[b], strlen(texts[b])), SENTI_OK);
        }
        /* sampling at a high temperature explores many paths; greedy one more */
        for (int mode = 0; mode < 2; mode++) {
            llm_gen_opts o = go;
            o.max_new_tokens = 40 + 20 * mode;
            o.do_sample = mode == 0;
            o.temperature = 2.0;
            o.seed = (uint64_t)s * 10 + (uint64_t)mode;
            llm_gen_result res[B], raw[B];
            memset(res, 0, sizeof res);
            memset(raw, 0, sizeof raw);
            ck_assert_msg(llm_generate(m, tok, &o, (const int32_t *const *)ids, n, B, llm_constraint_mask, con, res) ==
                              SENTI_OK,
                          "%s", senti_last_error());
            ck_assert_int_eq(llm_generate(m, tok, &o, (const int32_t *const *)ids, n, B, NULL, NULL, raw), SENTI_OK);
            for (int b = 0; b < B; b++) {
                runs++;
                ck_assert_msg(res[b].stopped, "%s %s: not closed within the budget: '%s'", name, llm_schema_name(s),
                              res[b].text);
                json_t *j = llm_extract_parse(s, res[b].text, res[b].len, texts[b], strlen(texts[b]));
                ck_assert_ptr_nonnull(j);
                ck_assert_msg(!json_object_get(j, "raw") && !json_object_get(j, "warning"),
                              "%s %s: '%s' on '%s' does not parse cleanly", name, llm_schema_name(s), res[b].text,
                              texts[b]);
                json_t *list = json_object_get(j, list_key(s)), *it;
                size_t k;
                json_array_foreach(list, k, it) {
                    items++;
                    check_term(it, "aspect", texts[b]);
                    check_term(it, "opinion", texts[b]);
                    if (s == LLM_SCHEMA_OPINION) check_term(it, "text", texts[b]);
                    json_t *sen = json_object_get(it, "sentiment");
                    if (sen) ck_assert(json_is_string(sen));
                }
                json_decref(j);
                j = llm_extract_parse(s, raw[b].text, raw[b].len, texts[b], strlen(texts[b]));
                ck_assert_ptr_nonnull(j);
                unconstrained_bad += json_object_get(j, "raw") != NULL || json_object_get(j, "warning") != NULL;
                json_decref(j);
                llm_gen_result_clear(&res[b]);
                llm_gen_result_clear(&raw[b]);
            }
        }
        for (int b = 0; b < B; b++) senti_mfree(ids[b]);
        llm_constraint_free(con);
    }
    /* the random model writes garbage on its own; constrained, it produced real items */
    ck_assert_int_gt(unconstrained_bad, runs / 2);
    ck_assert_int_gt(items, 0);
    llm_chat_free(&chat);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}

START_TEST(test_constrained_qwen2) { check_constrained("qwen2"); }
END_TEST
START_TEST(test_constrained_llama) { check_constrained("llama"); }
END_TEST

/* The record-level run: a bad record between good ones keeps each good
 * record's constraint on its own text. */
START_TEST(test_extract_run) {
    char d[4096];
    snprintf(d, sizeof d, "%s/tests/fixtures/llm/qwen2", g_root);
    senti_model *m = senti_model_load(d, 2);
    ck_assert_ptr_nonnull(m);
    senti_tokenizer *tok = senti_tokenizer_load(d);
    llm_chat chat;
    ck_assert_int_eq(llm_chat_load(&chat, d), SENTI_OK);
    llm_extract_opts o = {.schema = LLM_SCHEMA_PAIR, .constrained = true, .use_chat = true, .keep_raw = true};
    o.gen = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&o.gen, d), SENTI_OK);
    o.gen.do_sample = true;
    o.gen.temperature = 3.0;
    o.gen.max_new_tokens = 48;
    const char *texts[] = {"pizza staff rude", "\xc3 broken", "lovely view , not slow", "café très bon"};
    task_source *src = task_source_texts(texts, 4);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    task_runner_opts ro = task_runner_opts_defaults();
    task_stats st;
    ck_assert_msg(llm_extract_run(m, tok, &chat, &o, &ro, src, out, &st) == SENTI_OK, "%s", senti_last_error());
    fclose(out);
    ck_assert_int_eq(st.records, 4);
    ck_assert_int_eq(st.errors, 1);
    char *line = strtok(buf, "\n");
    for (int i = 0; i < 4; i++, line = strtok(NULL, "\n")) {
        ck_assert_ptr_nonnull(line);
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), i);
        if (i == 1) {
            ck_assert_ptr_nonnull(json_object_get(j, "error"));
        } else {
            ck_assert_msg(!json_object_get(j, "warning"), "record %d: %s", i, line);
            ck_assert(json_is_string(json_object_get(j, "raw")));
            json_t *it;
            size_t k;
            json_array_foreach(json_object_get(j, "pairs"), k, it) {
                check_term(it, "aspect", texts[i]);
                check_term(it, "opinion", texts[i]);
            }
        }
        json_decref(j);
    }
    free(buf);
    task_source_free(src);
    llm_chat_free(&chat);
    senti_tokenizer_free(tok);
    senti_model_free(m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("extract");
    TCase *t = tcase_create("parser");
    tcase_add_test(t, test_corpus);
    tcase_add_test(t, test_ground);
    tcase_add_test(t, test_prompt_and_shots);
    tcase_add_test(t, test_alloc_failures);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("constrained");
    tcase_set_timeout(c, 600);
    tcase_add_test(c, test_constrained_qwen2);
    tcase_add_test(c, test_constrained_llama);
    tcase_add_test(c, test_extract_run);
    suite_add_tcase(s, c);
    return s;
}

int main(void) {
    init_paths();
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    return nf == 0 ? 0 : 1;
}
