/* test_eval.c — the dataset readers (tasks/datasets.c) and the metrics of
 * senti eval (tasks/eval.c): every fixture of tests/fixtures/eval (fixed
 * predictions on the shared datasets, scored by scikit-learn and the papers'
 * scorers in tools/fixtures/make_eval_fixtures.py) must come out exactly —
 * the same doubles and counts — with the gold read by the C readers; and
 * malformed input gives error records that name their line. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tasks/tasks.h"
#include "tests/testutil.h"

static char g_root[2048], g_data[2300], g_tmp[64];

static bool have_data(void) {
    if (access(g_data, R_OK) == 0) return true;
    fprintf(stderr, "test_eval: %s not found: the real-data cases are skipped\n", g_data);
    return false;
}

/* Write text to a new file under the scratch folder; returns its path (static buffer per slot). */
static const char *scratch(int slot, const char *name, const char *text) {
    static char paths[8][256];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", g_tmp, name);
    FILE *f = fopen(paths[slot], "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return paths[slot];
}

static json_t *read_all(const char *path, task_format fmt, task_format *used) {
    json_t *all = NULL;
    senti_status st = task_dataset_read(path, fmt, &all, used);
    ck_assert_msg(st == SENTI_OK, "%s: %s", path, senti_last_error());
    return all;
}

static const char *err_of(json_t *all, size_t i) { return json_string_value(json_object_get(json_array_get(all, i), "error")); }

/* expected (from the fixture) against got, recursively: numbers exactly. */
static void check_same(const char *fx, const char *path, json_t *e, json_t *g) {
    if (json_is_object(e)) {
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v) {
            char p[512];
            snprintf(p, sizeof p, "%s.%s", path, k);
            check_same(fx, p, v, json_object_get(g, k));
        }
    } else if (json_is_array(e)) {
        ck_assert_msg(json_is_array(g) && json_array_size(g) == json_array_size(e), "%s %s: array size", fx, path);
        for (size_t i = 0; i < json_array_size(e); i++) {
            char p[512];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            check_same(fx, p, json_array_get(e, i), json_array_get(g, i));
        }
    } else if (json_is_real(e) || json_is_integer(e)) {
        ck_assert_msg(json_is_number(g), "%s %s: missing", fx, path);
        double a = json_number_value(e), b = json_number_value(g);
        ck_assert_msg(a == b, "%s %s: expected %.17g, got %.17g", fx, path, a, b);
    } else {
        ck_assert_msg(json_equal(e, g), "%s %s: differs", fx, path);
    }
}

START_TEST(test_fixtures) {
    if (!have_data()) return;
    char dir[2300], names[64][256];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/eval", g_root);
    int n = test_list_dir(dir, "", &names[0][0], 64, sizeof names[0]);
    ck_assert_int_ge(n, 18);
    for (int i = 0; i < n; i++) {
        char p[2600 + 256], data[2600];
        snprintf(p, sizeof p, "%s/%.255s", dir, names[i]);
        json_error_t je;
        json_t *fx = json_load_file(p, 0, &je);
        ck_assert_msg(fx != NULL, "%s: %s", p, je.text);
        task_eval_kind k = task_eval_kind_from_name(json_string_value(json_object_get(fx, "task")));
        task_format fmt = task_format_from_name(json_string_value(json_object_get(fx, "format"))), det;
        ck_assert_int_lt(k, TASK_EVAL_COUNT);
        snprintf(data, sizeof data, "%s/%s", g_data, json_string_value(json_object_get(fx, "data")));
        json_t *gold = read_all(data, TASK_FORMAT_AUTO, &det);
        ck_assert_msg(det == fmt, "%s: detected %s, the fixture says %s", names[i], task_format_name(det),
                      task_format_name(fmt));
        json_t *jl = json_object_get(fx, "labels");
        const char *labels[16];
        size_t nl = json_array_size(jl);
        for (size_t j = 0; j < nl && j < 16; j++) labels[j] = json_string_value(json_array_get(jl, j));
        json_t *m = NULL;
        senti_status st = task_eval_score(k, gold, json_object_get(fx, "predictions"), nl ? labels : NULL, (int64_t)nl, &m);
        ck_assert_msg(st == SENTI_OK, "%s: %s", names[i], senti_last_error());
        check_same(names[i], "", json_object_get(fx, "expected"), m);
        json_decref(m);
        json_decref(gold);
        json_decref(fx);
    }
}
END_TEST

/* Every shared dataset file is read with its format detected, no record lost. */
START_TEST(test_shared_files) {
    if (!have_data()) return;
    static const struct { const char *path, *fmt; size_t n, errors; } T[] = {
        {"sst2/dev.tsv", "tsv", 872, 0},
        {"sst2/train.tsv", "tsv", 67349, 0},
        {"sst2/test.tsv", "tsv", 1821, 1821}, /* its header names the columns in the wrong order */
        {"tweeteval/emotion/test_text.txt", "tweeteval", 1421, 0},
        {"tweeteval/stance/hillary/val_text.txt", "tweeteval", 69, 0},
        {"meld/train_sent_emo.csv", "meld", 1038, 0},
        {"meld/test_sent_emo.csv", "meld", 280, 0},
        {"aste-data-v2/15res/train_triplets.txt", "aste", 605, 0},
        {"asqp/rest16/dev.txt", "asqp", 316, 0},
        {"ecpe/all_data_pair.txt", "ecpe", 1945, 0},
        {"ecpe/clause_keywords.csv", "ecpe-csv", 2106, 1}, /* its last row is a one-clause stray */
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char p[2600];
        snprintf(p, sizeof p, "%s/%s", g_data, T[i].path);
        task_format used;
        json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
        ck_assert_str_eq(task_format_name(used), T[i].fmt);
        ck_assert_msg(json_array_size(all) == T[i].n, "%s: %zu records", T[i].path, json_array_size(all));
        size_t errs = 0;
        for (size_t j = 0; j < json_array_size(all); j++) errs += err_of(all, j) != NULL;
        ck_assert_msg(errs == T[i].errors, "%s: %zu errors (first: %s)", T[i].path, errs, errs ? err_of(all, 0) : "");
        json_decref(all);
    }
    /* MELD: 2610 test utterances, in Utterance_ID order within each dialogue */
    char p[2600];
    snprintf(p, sizeof p, "%s/meld/test_sent_emo.csv", g_data);
    json_t *all = read_all(p, TASK_FORMAT_MELD, NULL);
    size_t utt = 0, i;
    json_t *r;
    json_array_foreach(all, i, r) {
        json_t *ids = json_object_get(r, "utterance_ids");
        utt += json_array_size(json_object_get(r, "dialogue"));
        for (size_t k = 1; k < json_array_size(ids); k++)
            ck_assert_int_lt(json_integer_value(json_array_get(ids, k - 1)), json_integer_value(json_array_get(ids, k)));
    }
    ck_assert_int_eq(utt, 2610);
    json_decref(all);
}
END_TEST

START_TEST(test_tsv) {
    const char *p = scratch(0, "a.tsv", "label\tsentence\r\n1\tgood film \r\n\r\n0\tbad\r\n0\tthree\tfields\r\nx y\tspaced label\r\n1\tbad \xC3\x28 utf8\r\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_TSV);
    ck_assert_int_eq(json_array_size(all), 5); /* the header and the blank line are no records */
    json_t *r0 = json_array_get(all, 0);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "text")), "good film ");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "label")), "1");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 1), "id")), 1);
    ck_assert_ptr_nonnull(strstr(err_of(all, 2), "line 5: 3 tab-separated fields"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 3), "line 6: label column holds 'x y'"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 4), "line 7: invalid UTF-8 at byte 6"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 4), "id")), 4);
    json_decref(all);
    /* no text column: the file is refused, naming it */
    p = scratch(0, "b.tsv", "idx\tlabel\n0\t1\n");
    json_t *none = NULL;
    ck_assert_int_eq(task_dataset_read(p, TASK_FORMAT_TSV, &none, NULL), SENTI_ERR_BAD_FILE);
    assert_msg_has("tsv header", "b.tsv", "no text column", NULL);
}
END_TEST

START_TEST(test_tweeteval) {
    char dir[300];
    snprintf(dir, sizeof dir, "%s/tw", g_tmp);
    ck_assert_int_eq(mkdir(dir, 0700) == 0 || access(dir, W_OK) == 0, 1);
    scratch(1, "tw/mapping.txt", "0\tneg\n1\tpos");
    scratch(2, "tw/test_labels.txt", "1\n0\n7\n");
    const char *p = scratch(3, "tw/test_text.txt", "I love it  \n\nugh\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_TWEETEVAL);
    ck_assert_int_eq(json_array_size(all), 3); /* a blank tweet keeps its place beside its label */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 0), "label")), "pos");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 1), "label")), "neg");
    ck_assert_ptr_nonnull(strstr(err_of(all, 2), "line 3: label '7' is not in mapping.txt"));
    json_decref(all);
    scratch(2, "tw/test_labels.txt", "1\n0\n");
    json_t *none = NULL;
    ck_assert_int_eq(task_dataset_read(p, TASK_FORMAT_AUTO, &none, NULL), SENTI_ERR_BAD_FILE);
    assert_msg_has("tweeteval lengths", "test_text.txt has 3 lines", "test_labels.txt has 2", NULL);
}
END_TEST

START_TEST(test_meld) {
    const char *p = scratch(0, "m.csv",
        "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID\r\n"
        "1,\"Hi, you\",Ann,joy,positive,0,1\r\n"
        "2,\"First \"\"quoted\"\"\nline two\",Bob,neutral,neutral,0,0\r\n"
        "3,Next,Ann,anger,negative,1,0\r\n"
        "4,broken,Ann,anger,negative,x,0\r\n"
        "5,Again,Bob,fear,negative,0,2\r\n"
        "6,Dup,Bob,fear,negative,2,0\r\n"
        "7,Dup,Bob,fear,negative,2,0\r\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_MELD);
    ck_assert_int_eq(json_array_size(all), 5);
    json_t *d0 = json_array_get(all, 0), *turns = json_object_get(d0, "dialogue");
    ck_assert_int_eq(json_integer_value(json_object_get(d0, "id")), 0);
    ck_assert_int_eq(json_array_size(turns), 2);
    /* ordered by Utterance_ID; quotes and the quoted newline kept */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(turns, 0), "text")), "First \"quoted\"\nline two");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(d0, "labels"), 1)), "joy");
    ck_assert_ptr_null(err_of(all, 1));
    ck_assert_ptr_nonnull(strstr(err_of(all, 2), "line 6: Dialogue_ID is not an integer"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 3), "dialogue 0 continues after other dialogues"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 4), "has Utterance_ID 0 twice"));
    json_decref(all);
}
END_TEST

START_TEST(test_aste_asqp) {
    const char *p = scratch(0, "a.txt",
        "The café food was good####[([2], [4], 'POS'), ([1, 2], [4], 'NEG')]\n"
        "Bad one####[([0], [5], 'POS')]\n"
        "Gap here too####[([0, 2], [1], 'NEU')]\n"
        "No list####[(\n"
        "Food food####[([0], [1], 'POS'), ([0], [1], 'NEG')]\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_ASTE);
    ck_assert_int_eq(json_array_size(all), 5);
    json_t *r = json_array_get(all, 0), *t1 = json_array_get(json_object_get(r, "triplets"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(t1, "aspect")), "café food");
    ck_assert_int_eq(json_integer_value(json_object_get(t1, "aspect_start")), 4); /* code points: é is one */
    ck_assert_int_eq(json_integer_value(json_object_get(t1, "aspect_end")), 13);
    ck_assert_str_eq(json_string_value(json_object_get(t1, "sentiment")), "negative");
    ck_assert_int_eq(json_array_size(json_object_get(r, "aspect")), 2);
    ck_assert_ptr_nonnull(strstr(err_of(all, 1), "line 2: triplet 1: an index lies outside the sentence"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 2), "line 3: triplet 1: an index list is not contiguous"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 3), "line 4: the triplet list does not parse"));
    /* one aspect string with two polarities: its sentiment is null (not scored) */
    ck_assert(json_is_null(json_array_get(json_object_get(json_array_get(all, 4), "sentiments"), 0)));
    json_decref(all);
    p = scratch(1, "q.txt",
        "it was n't bad at all####[['NULL', 'food quality', 'positive', \"was n't bad\"], ['it', 'x y', 'neutral', 'NULL']]\n"
        "esc####[['a \\\\’ b', 'c', 'positive', 'zz']]\n");
    all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_ASQP);
    json_t *q = json_object_get(json_array_get(all, 0), "quads"), *q0 = json_array_get(q, 0), *q1 = json_array_get(q, 1);
    ck_assert(json_is_null(json_object_get(q0, "aspect")));
    ck_assert_str_eq(json_string_value(json_object_get(q0, "opinion")), "was n't bad");
    ck_assert_int_eq(json_integer_value(json_object_get(q0, "opinion_start")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(q1, "aspect_start")), 0); /* "it": a whole word, the first */
    ck_assert(json_is_null(json_object_get(q1, "opinion")));
    json_t *e = json_array_get(json_object_get(json_array_get(all, 1), "quads"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "aspect")), "a \\\xE2\x80\x99 b"); /* Python's escapes */
    ck_assert(json_is_null(json_object_get(e, "aspect_start")));                             /* not in the sentence */
    json_decref(all);
}
END_TEST

START_TEST(test_ecpe) {
    const char *p = scratch(0, "e.txt",
        "7 2\n (2,1), (2,2)\n1,null,null,a b\n2,happiness,joy,c d\n"
        "garbage line\n(1,1)\n1,null,null,x\n"
        "9 3\n (1,4)\n1,null,null,a\n2,null,null,b\n3,fear,f,c\n"
        "10 2\n (1,1)\n1,null,null,a\n11 1\n (1,1)\n1,null,null,z\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_ECPE);
    ck_assert_int_eq(json_array_size(all), 5);
    json_t *d = json_array_get(all, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "id")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(d, "text")), "a b\xEF\xBC\x8C" "c d");
    ck_assert_int_eq(json_integer_value(json_array_get(json_array_get(json_object_get(d, "pairs"), 1), 1)), 2);
    ck_assert(json_is_null(json_array_get(json_object_get(d, "emotions"), 0)));
    ck_assert_ptr_nonnull(strstr(err_of(all, 1), "line 5: 'garbage line' is not a document header"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 2), "pair 1 is not (emotion clause, cause clause) within 1..3"));
    ck_assert_ptr_nonnull(strstr(err_of(all, 3), "document 10 has 1 of its 2 clauses"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 4), "id")), 11);
    ck_assert_ptr_null(err_of(all, 4));
    json_decref(all);
}
END_TEST

/* The runner reads a dataset through the record-reader hook: no header
 * record, JSON fields as a JSONL record's, malformed ones as error records. */
START_TEST(test_runner_source) {
    const char *p = scratch(0, "s.tsv", "sentence\tlabel\nfine\t1\nbad\trow\textra\n");
    FILE *f = fopen(p, "rb");
    task_format fmt;
    ck_assert_int_eq(task_format_detect(p, f, &fmt), SENTI_OK);
    ck_assert_int_eq(fmt, TASK_FORMAT_TSV);
    ck_assert_int_eq(ftell(f), 0);
    task_source *s = task_source_dataset(f, p, fmt);
    ck_assert_ptr_nonnull(s);
    task_record r = {0};
    ck_assert_int_eq(task_source_read(s, &r), 1);
    ck_assert_str_eq(r.text, "fine");
    ck_assert_ptr_null(r.error);
    ck_assert_int_eq(json_integer_value(r.id), 0);
    ck_assert_int_eq(task_source_read(s, &r), 1);
    ck_assert_ptr_nonnull(r.error);
    ck_assert_ptr_nonnull(strstr(r.error, "line 3"));
    ck_assert_int_eq(json_integer_value(r.id), 1);
    ck_assert_int_eq(task_source_read(s, &r), 0);
    task_record_clear(&r);
    task_source_free(s);
    fclose(f);
}
END_TEST

/* JSONL gold: "label" per record, ids kept or the line index; a line that is
 * not a JSON object is an error record; labels differing only in case and
 * integer ids map onto the model's names. */
START_TEST(test_jsonl_gold) {
    const char *p = scratch(0, "g.jsonl", "{\"id\":\"a\",\"text\":\"x\",\"label\":\"POSITIVE\"}\n\n"
                                          "{\"text\":\"y\",\"label\":\"0\"}\n[1]\n{\"text\":\"z\",\"label\":\"negative\"}\n");
    task_format used;
    json_t *all = read_all(p, TASK_FORMAT_AUTO, &used);
    ck_assert_int_eq(used, TASK_FORMAT_JSONL);
    ck_assert_int_eq(json_array_size(all), 4);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(all, 1), "id")), 2);
    ck_assert_ptr_nonnull(err_of(all, 2));
    json_t *preds = json_pack("[{ssss}{siss}{sIss}{siss}]", "id", "a", "label", "positive", "id", 2, "label", "negative",
                              "id", (json_int_t)3, "label", "x", "id", 4, "label", "positive");
    const char *labels[] = {"negative", "positive"};
    json_t *m = NULL;
    ck_assert_int_eq(task_eval_score(TASK_EVAL_CLASSIFY, all, preds, labels, 2, &m), SENTI_OK);
    ck_assert(json_real_value(json_object_get(m, "accuracy")) == 2.0 / 3.0);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "gold_errors")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(m, "scored")), 3);
    json_decref(m);
    json_decref(preds);
    json_decref(all);
}
END_TEST

/* Mismatched predictions are refused, naming the record. */
START_TEST(test_score_errors) {
    json_t *gold = json_pack("[{siss}]", "id", 0, "label", "pos"), *preds = json_pack("[{siss}]", "id", 1, "label", "pos");
    json_t *m = NULL;
    ck_assert_int_eq(task_eval_score(TASK_EVAL_CLASSIFY, gold, preds, NULL, 0, &m), SENTI_ERR_INVALID_ARG);
    assert_msg_has("id mismatch", "prediction 1 (in order) has id 1 where the data has id 0", NULL);
    json_decref(preds);
    preds = json_pack("[{si}]", "id", 0);
    ck_assert_int_eq(task_eval_score(TASK_EVAL_CLASSIFY, gold, preds, NULL, 0, &m), SENTI_ERR_INVALID_ARG);
    assert_msg_has("no label", "record 0", "no label", NULL);
    json_decref(preds);
    json_decref(gold);
}
END_TEST

/* An outside probe's findings (2026-12-07): each scored as scikit-learn / set
 * matching would, or refused naming the record. */
static double score_of(task_eval_kind k, const char *gold, const char *pred, const char *const *labels, int64_t nl,
                       const char *field) {
    json_error_t je;
    json_t *g = json_loads(gold, 0, &je), *p = json_loads(pred, 0, &je), *m = NULL;
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(task_eval_score(k, g, p, labels, nl, &m), SENTI_OK);
    double v = json_real_value(json_object_get(m, field));
    json_decref(m), json_decref(g), json_decref(p);
    return v;
}

START_TEST(test_probe_findings) {
    /* empty tuple sets on both sides (qsort / bsearch were handed NULL: UBSan stopped) */
    ck_assert(score_of(TASK_EVAL_TRIPLET, "[{\"id\":0,\"triplets\":[]}]", "[{\"id\":0,\"triplets\":[]}]", NULL, 0,
                       "f1") == 0.0);
    /* span texts compared whole: two spans alike in their first 200 bytes are different spans */
    char gold[1024], pred[1024], x[256];
    memset(x, 'x', 200);
    x[200] = '\0';
    snprintf(gold, sizeof gold, "[{\"id\":0,\"aspect_spans\":[{\"aspect\":\"%sA\"}]}]", x);
    snprintf(pred, sizeof pred, "[{\"id\":0,\"aspects\":[{\"aspect\":\"%sB\"}]}]", x);
    ck_assert(score_of(TASK_EVAL_AE, gold, pred, NULL, 0, "f1") == 0.0);
    snprintf(pred, sizeof pred, "[{\"id\":0,\"aspects\":[{\"aspect\":\"%sA\"}]}]", x);
    ck_assert(score_of(TASK_EVAL_AE, gold, pred, NULL, 0, "f1") == 1.0);
    /* a '|' in a term cannot join two tuples into one key */
    ck_assert(score_of(TASK_EVAL_PAIR, "[{\"id\":0,\"triplets\":[{\"aspect\":\"a|?b\",\"opinion\":\"c\"}]}]",
                       "[{\"id\":0,\"pairs\":[{\"aspect\":\"a\",\"opinion\":\"b|?c\"}]}]", NULL, 0, "f1") == 0.0);
    /* the label names map on both sides (case, label ids); integer gold labels are label ids */
    const char *pn[] = {"pos", "neg"};
    ck_assert(score_of(TASK_EVAL_CLASSIFY, "[{\"id\":0,\"label\":\"POS\"}]", "[{\"id\":0,\"label\":\"POS\"}]", pn, 2,
                       "accuracy") == 1.0);
    ck_assert(score_of(TASK_EVAL_CLASSIFY, "[{\"id\":0,\"label\":\"1\"}]", "[{\"id\":0,\"label\":\"1\"}]", pn, 2,
                       "accuracy") == 1.0);
    ck_assert(score_of(TASK_EVAL_CLASSIFY, "[{\"id\":0,\"label\":1},{\"id\":1,\"label\":0}]",
                       "[{\"id\":0,\"label\":\"neg\"},{\"id\":1,\"label\":\"neg\"}]", pn, 2, "accuracy") == 0.5);
    ck_assert(score_of(TASK_EVAL_CLASSIFY, "[{\"id\":0,\"label\":\"+1\"}]", "[{\"id\":0,\"label\":\"neg\"}]", pn, 2,
                       "accuracy") == 0.0); /* "+1" is a name, not an id */
    /* ECPE pairs that are not two clause numbers are refused, naming the record */
    json_t *g = json_loads("[{\"id\":1,\"pairs\":[[1,2]]}]", 0, NULL);
    json_t *p = json_loads("[{\"id\":1,\"pairs\":[[\"1\",\"2\"]]}]", 0, NULL), *m = NULL;
    ck_assert_int_eq(task_eval_score(TASK_EVAL_ECPE, g, p, NULL, 0, &m), SENTI_ERR_INVALID_ARG);
    assert_msg_has("ecpe pair", "the prediction for record 1", "pair 0 is not two clause numbers", NULL);
    json_decref(g), json_decref(p);
    /* a reader's message quoting a cut UTF-8 character stays valid UTF-8: the record's own error, not "out of memory" */
    const char *t = scratch(0, "u.tsv", "sentence\tlabel\nx\ta \xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5"
                                        "\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd"
                                        "\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\xe5\xa5\xbd\n");
    task_format used;
    json_t *all = read_all(t, TASK_FORMAT_TSV, &used);
    ck_assert_int_eq(json_array_size(all), 1);
    ck_assert_ptr_nonnull(err_of(all, 0));
    json_decref(all);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("eval");
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_shared_files);
    tcase_add_test(tc, test_tsv);
    tcase_add_test(tc, test_tweeteval);
    tcase_add_test(tc, test_meld);
    tcase_add_test(tc, test_aste_asqp);
    tcase_add_test(tc, test_ecpe);
    tcase_add_test(tc, test_runner_source);
    tcase_add_test(tc, test_jsonl_gold);
    tcase_add_test(tc, test_score_errors);
    tcase_add_test(tc, test_probe_findings);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    snprintf(g_data, sizeof g_data, "%s/../shared/assets/data", g_root);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/senti-test-eval-XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    test_rm_tree(g_tmp);
    return nf == 0 ? 0 : 1;
}
