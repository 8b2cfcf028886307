/* test_heads.c — several heads over one encoder in one forward
 * (tests/fixtures/heads/bert-multi, made by tools/fixtures/make_heads_fixtures.py
 * with tools/train/combine_heads.py): each head's logits equal to
 * transformers running that head's checkpoint (max relative error 1e-4),
 * alone and in a padded batch (the packed path), from the HF directory and
 * from its GGUF (senti convert); `classify`'s "heads" object decoded from
 * them (softmax, multi-label sigmoid, token spans), the same bytes whatever
 * the batch; `tag` on bert-multi-tag (the token classifier primary) giving
 * what classify gave for the same weights as extra heads; --stride windows
 * aggregated / merged per head; bad heads.json /
 * tensors refused with the file named. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "senti.h"
#include "tasks/tasks.h"
#include "task_helpers.h"
#include "tools/convert/convert.h"

static char g_root[2048], g_dir[2300], g_tok[2300], g_tmp[64] = "/tmp/senti-heads-XXXXXX";
static json_t *g_gold;

static double rel(double got, double want) { return fabs(got - want) / fmax(1.0, fabs(want)); }

/* Every head of m on the golden texts, alone and as one padded batch. */
static void check_logits(senti_model *m, const senti_tokenizer *tok) {
    ck_assert_int_eq(senti_model_extra_heads(m), 2);
    ck_assert_str_eq(senti_model_primary_head_name(m), "sentiment");
    senti_head_info h[2];
    ck_assert_int_eq(senti_model_extra_head(m, 0, &h[0]), SENTI_OK);
    ck_assert_int_eq(senti_model_extra_head(m, 1, &h[1]), SENTI_OK);
    ck_assert_int_eq(senti_model_extra_head(m, 2, &h[1]), SENTI_ERR_INVALID_ARG);
    ck_assert_str_eq(h[0].name, "emotion");
    ck_assert_int_eq(h[0].kind, SENTI_HEAD_SEQUENCE_CLASSIFICATION);
    ck_assert(h[0].multi_label);
    ck_assert_str_eq(h[0].labels[3], "sadness");
    ck_assert_str_eq(h[1].name, "aspects");
    ck_assert_int_eq(h[1].kind, SENTI_HEAD_TOKEN_CLASSIFICATION);
    ck_assert_int_eq(h[1].num_labels, 5);
    json_t *texts = json_object_get(g_gold, "texts");
    const int64_t n = (int64_t)json_array_size(texts), T = 16;
    int32_t ids[8 * 16] = {0}, mask[8 * 16] = {0};
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) { /* 0: each alone; 1: all in one padded batch */
        float *emo = malloc((size_t)(n * 4) * sizeof *emo), *asp = malloc((size_t)(n * T * 5) * sizeof *asp);
        float *bufs[2] = {emo, asp}, *out = NULL;
        senti_forward_opts fo = {.heads = bufs};
        int64_t shape[3];
        int nd;
        for (int64_t i = 0; i < n; i++) {
            json_t *gi = json_object_get(json_array_get(texts, (size_t)i), "ids");
            const int64_t len = (int64_t)json_array_size(gi);
            ck_assert_int_le(len, T);
            for (int64_t t = 0; t < len; t++) {
                ids[i * T + t] = (int32_t)json_integer_value(json_array_get(gi, (size_t)t));
                mask[i * T + t] = 1;
            }
            if (pass == 1) continue;
            float *e1 = emo + i * 4, *a1 = asp + i * T * 5, *b1[2] = {e1, a1};
            senti_forward_opts f1 = {.heads = b1};
            float *o1 = NULL;
            ck_assert_int_eq(senti_model_forward_opts(m, ids + i * T, NULL, NULL, 1, len, &f1, &o1, shape, &nd), SENTI_OK);
            json_t *g = json_array_get(texts, (size_t)i), *gs = json_object_get(g, "sentiment");
            for (int64_t l = 0; l < 3; l++) {
                const double d = rel(o1[l], json_real_value(json_array_get(gs, (size_t)l)));
                worst = fmax(worst, d);
                ck_assert_msg(d < 1e-4, "text %lld sentiment %lld", (long long)i, (long long)l);
            }
            senti_model_output_free(o1);
            /* alone the token head is [1, len, 5]: its rows sit where the batch layout puts them */
        }
        if (pass == 1)
            ck_assert_int_eq(senti_model_forward_opts(m, ids, NULL, mask, n, T, &fo, &out, shape, &nd), SENTI_OK);
        for (int64_t i = 0; i < n; i++) {
            json_t *g = json_array_get(texts, (size_t)i), *ge = json_object_get(g, "emotion"),
                   *ga = json_object_get(g, "aspects");
            for (int64_t l = 0; l < 4; l++) {
                const double d = rel(emo[i * 4 + l], json_real_value(json_array_get(ge, (size_t)l)));
                worst = fmax(worst, d);
                ck_assert_msg(d < 1e-4, "pass %d text %lld emotion %lld", pass, (long long)i, (long long)l);
            }
            for (size_t t = 0; t < json_array_size(ga); t++)
                for (int64_t l = 0; l < 5; l++) {
                    const double d = rel(asp[i * T * 5 + (int64_t)t * 5 + l],
                                         json_real_value(json_array_get(json_array_get(ga, t), (size_t)l)));
                    worst = fmax(worst, d);
                    ck_assert_msg(d < 1e-4, "pass %d text %lld token %zu aspects %lld", pass, (long long)i, t,
                                  (long long)l);
                }
        }
        senti_model_output_free(out);
        free(emo);
        free(asp);
    }
    fprintf(stderr, "heads: max relative error vs transformers %.3g\n", worst);
    (void)tok;
}

static char *classify(senti_model *m, const senti_tokenizer *tok, const char *const *texts, int64_t n, int64_t batch) {
    task_classify c;
    ck_assert_int_eq(task_classify_init(&c, m, NULL, 0, 0.5), SENTI_OK);
    task_runner_opts o = task_runner_opts_defaults();
    o.batch_size = batch;
    return th_classify_texts(m, tok, &c, texts, n, &o, NULL);
}

START_TEST(test_heads_dir_and_gguf) {
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    ck_assert_ptr_nonnull(tok);
    senti_model *m = senti_model_load(g_dir, 1);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    check_logits(m, tok);
    /* classify: "heads" decoded from each head, the same bytes in any batch */
    json_t *texts = json_object_get(g_gold, "texts");
    const char *tx[8];
    const int64_t n = (int64_t)json_array_size(texts);
    for (int64_t i = 0; i < n; i++) tx[i] = json_string_value(json_object_get(json_array_get(texts, (size_t)i), "text"));
    char *one = classify(m, tok, tx, n, 1), *all = classify(m, tok, tx, n, 8);
    ck_assert_str_eq(one, all);
    char *save = NULL, *line = strtok_r(one, "\n", &save);
    for (int64_t i = 0; i < n; i++, line = strtok_r(NULL, "\n", &save)) {
        json_t *r = json_loads(line, 0, NULL), *heads = json_object_get(r, "heads");
        json_t *g = json_array_get(texts, (size_t)i);
        ck_assert_int_eq(json_object_size(heads), 3);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(heads, "sentiment"), "label")),
                         json_string_value(json_object_get(r, "label")));
        /* emotion: sigmoid of each logit; labels those >= 0.5 */
        json_t *emo = json_object_get(heads, "emotion"), *ge = json_object_get(g, "emotion");
        const char *names[] = {"anger", "joy", "optimism", "sadness"};
        size_t above = 0;
        for (int l = 0; l < 4; l++) {
            const double p = 1.0 / (1.0 + exp(-json_real_value(json_array_get(ge, (size_t)l))));
            ck_assert(fabs(json_real_value(json_object_get(json_object_get(emo, "scores"), names[l])) - p) < 1e-5);
            above += p >= 0.5;
        }
        ck_assert_int_eq(json_array_size(json_object_get(emo, "labels")), above);
        ck_assert(json_is_array(json_object_get(json_object_get(heads, "aspects"), "spans")));
        json_decref(r);
    }
    free(one);
    free(all);
    senti_model_free(m);
    /* the same from the GGUF */
    char gguf[128];
    snprintf(gguf, sizeof gguf, "%s/multi.gguf", g_tmp);
    ck_assert_msg(gguf_convert(g_dir, gguf, SENTI_TYPE_F32) == SENTI_OK, "%s", senti_last_error());
    m = senti_model_load(gguf, 1);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    check_logits(m, tok);
    senti_model_free(m);
    unlink(gguf);
    senti_tokenizer_free(tok);
}
END_TEST

/* tag on the token classifier with the same heads (bert-multi-tag): its spans
 * and heads equal what classify gave through bert-multi, the same weights
 * reached as primary or as extra head */
START_TEST(test_heads_tag) {
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    char dir[2400];
    snprintf(dir, sizeof dir, "%s-tag", g_dir);
    senti_model *mt = senti_model_load(dir, 1), *mc = senti_model_load(g_dir, 1);
    ck_assert_msg(mt && mc, "%s", senti_last_error());
    json_t *texts = json_object_get(g_gold, "texts");
    const char *tx[8];
    const int64_t n = (int64_t)json_array_size(texts);
    for (int64_t i = 0; i < n; i++) tx[i] = json_string_value(json_object_get(json_array_get(texts, (size_t)i), "text"));
    char *cls = classify(mc, tok, tx, n, 3), *tag = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&tag, &len);
    task_source *src = task_source_texts(tx, n);
    task_runner_opts o = task_runner_opts_defaults();
    ck_assert_msg(task_tag_run_opts(mt, tok, TASK_TAG_SIMPLE, 0, src, out, &o, NULL) == SENTI_OK, "%s", senti_last_error());
    task_source_free(src);
    fclose(out);
    char *s1 = NULL, *s2 = NULL, *l1 = strtok_r(cls, "\n", &s1), *l2 = strtok_r(tag, "\n", &s2);
    for (int64_t i = 0; i < n; i++, l1 = strtok_r(NULL, "\n", &s1), l2 = strtok_r(NULL, "\n", &s2)) {
        json_t *rc = json_loads(l1, 0, NULL), *rt = json_loads(l2, 0, NULL);
        json_t *hc = json_object_get(rc, "heads"), *ht = json_object_get(rt, "heads");
        ck_assert_msg(json_equal(json_object_get(rt, "spans"), json_object_get(json_object_get(hc, "aspects"), "spans")),
                      "text %lld: tag spans %s vs classify's aspects head %s", (long long)i, l2, l1);
        ck_assert(json_equal(json_object_get(json_object_get(ht, "aspects"), "spans"), json_object_get(rt, "spans")));
        ck_assert(json_equal(json_object_get(ht, "emotion"), json_object_get(hc, "emotion")));
        json_t *sent = json_object_get(ht, "sentiment");
        ck_assert_str_eq(json_string_value(json_object_get(sent, "label")), json_string_value(json_object_get(rc, "label")));
        ck_assert(json_equal(json_object_get(sent, "scores"), json_object_get(rc, "scores")));
        json_decref(rc);
        json_decref(rt);
    }
    free(cls);
    free(tag);
    senti_model_free(mt);
    senti_model_free(mc);
    senti_tokenizer_free(tok);
}
END_TEST

/* --stride windows: extra sequence heads aggregated like the primary (checked
 * against the windows run alone), token heads merged like tag's own (classify's
 * aspects head = tag's primary on bert-multi-tag), the bytes the same in any batch */
START_TEST(test_heads_windows) {
    senti_tokenizer *tok = senti_tokenizer_load(g_tok);
    char dir[2400];
    snprintf(dir, sizeof dir, "%s-tag", g_dir);
    senti_model *mt = senti_model_load(dir, 1), *mc = senti_model_load(g_dir, 1);
    ck_assert_msg(mt && mc, "%s", senti_last_error());
    char text[2000] = "";
    for (int k = 0; k < 12; k++) strcat(text, k % 2 ? "the pasta was great but the service was slow . " : "I hated every minute of this awful, boring film ! ");
    const char *tx[] = {"ok", text, "the service was slow"};
    const int64_t stride = 8;
    char *base = NULL;
    for (int pass = 0; pass < 2; pass++) {
        task_classify c;
        ck_assert_int_eq(task_classify_init(&c, mc, NULL, 0, 0.5), SENTI_OK);
        c.lng = (task_long){.stride = stride, .aggregate = TASK_AGGREGATE_MEAN};
        task_runner_opts o = task_runner_opts_defaults();
        o.batch_size = pass ? 2 : 1;
        o.max_batch_tokens = pass ? 130 : 8192;
        char *buf = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&buf, &len);
        task_source *src = task_source_texts(tx, 3);
        ck_assert_int_eq(task_classify_run(mc, tok, &c, src, out, &o, NULL), SENTI_OK);
        task_source_free(src);
        fclose(out);
        if (pass) {
            ck_assert_str_eq(buf, base);
            free(buf);
        } else {
            base = buf;
        }
    }
    /* the emotion head of the long text: the mean of its windows' logits, each window run alone */
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_encoding *e = NULL;
    ck_assert_int_eq(senti_tokenizer_encode(tok, text, strlen(text), NULL, 0, &eo, &e), SENTI_OK);
    const int64_t n = senti_encoding_len(e), w = senti_model_max_length(mc) - 2, step = w - stride;
    const int64_t inner = n - 2, nw = 1 + (inner - w + step - 1) / step;
    ck_assert_int_ge(nw, 3);
    double mean[4] = {0};
    for (int64_t k = 0; k < nw; k++) {
        int32_t ids[64];
        const int64_t s0 = k * step, cnt = inner - s0 < w ? inner - s0 : w;
        ids[0] = senti_encoding_ids(e)[0];
        memcpy(ids + 1, senti_encoding_ids(e) + 1 + s0, (size_t)cnt * sizeof *ids);
        ids[cnt + 1] = senti_encoding_ids(e)[n - 1];
        float emo[4], asp[64 * 5], *bufs[2] = {emo, asp}, *o1 = NULL;
        senti_forward_opts fo = {.heads = bufs};
        int64_t shape[3];
        int nd;
        ck_assert_int_eq(senti_model_forward_opts(mc, ids, NULL, NULL, 1, cnt + 2, &fo, &o1, shape, &nd), SENTI_OK);
        senti_model_output_free(o1);
        for (int l = 0; l < 4; l++) mean[l] += emo[l] / (double)nw;
    }
    senti_encoding_free(e);
    char *save = NULL, *line = strtok_r(base, "\n", &save);
    line = strtok_r(NULL, "\n", &save); /* the long text */
    json_t *r = json_loads(line, 0, NULL), *heads = json_object_get(r, "heads");
    ck_assert_int_eq(json_integer_value(json_object_get(r, "windows")), nw);
    const char *names[] = {"anger", "joy", "optimism", "sadness"};
    for (int l = 0; l < 4; l++)
        ck_assert(fabs(json_real_value(json_object_get(json_object_get(json_object_get(heads, "emotion"), "scores"),
                                                       names[l])) - 1.0 / (1.0 + exp(-mean[l]))) < 1e-5);
    /* tag's primary spans on bert-multi-tag = classify's aspects head, both merged from windows */
    char *tag = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&tag, &len);
    task_source *src = task_source_texts(tx + 1, 1);
    task_runner_opts o = task_runner_opts_defaults();
    ck_assert_int_eq(task_tag_run_opts(mt, tok, TASK_TAG_SIMPLE, stride, src, out, &o, NULL), SENTI_OK);
    task_source_free(src);
    fclose(out);
    json_t *rt = json_loads(tag, 0, NULL);
    ck_assert_int_ge(json_array_size(json_object_get(rt, "spans")), 1);
    ck_assert(json_equal(json_object_get(rt, "spans"), json_object_get(json_object_get(heads, "aspects"), "spans")));
    ck_assert(json_equal(json_object_get(json_object_get(json_object_get(rt, "heads"), "sentiment"), "scores"),
                         json_object_get(r, "scores")));
    json_decref(rt);
    json_decref(r);
    free(tag);
    free(base);
    senti_model_free(mt);
    senti_model_free(mc);
    senti_tokenizer_free(tok);
}
END_TEST

/* A directory with the fixture's config + weights and the given heads.json (and heads.safetensors). */
static void bad_dir(const char *heads_json, bool weights, const char *want) {
    char d[128], p[256], src[2400];
    snprintf(d, sizeof d, "%s/bad", g_tmp);
    mkdir(d, 0700); /* may exist */
    const char *files[] = {"config.json", "model.safetensors", "heads.safetensors"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", d, files[k]);
        unlink(p);
        if (k == 2 && !weights) continue;
        snprintf(src, sizeof src, "%s/%s", g_dir, files[k]);
        ck_assert_int_eq(symlink(src, p), 0);
    }
    snprintf(p, sizeof p, "%s/heads.json", d);
    FILE *f = fopen(p, "w");
    fputs(heads_json, f);
    fclose(f);
    senti_model *m = senti_model_load(d, 1);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(senti_last_error(), want) != NULL, "'%s' lacks '%s'", senti_last_error(), want);
}

START_TEST(test_heads_bad) {
    bad_dir("{\"heads\": [", true, "heads.json");
    bad_dir("{\"heads\": [{\"name\": \"x y\", \"type\": \"token\", \"labels\": [\"O\"]}]}", true, "letters, digits");
    bad_dir("{\"heads\": [{\"name\": \"emotion\", \"type\": \"span\", \"labels\": [\"O\"]}]}", true, "heads[0]");
    bad_dir("{\"heads\": [{\"name\": \"emotion\", \"type\": \"sequence\", \"labels\": [\"a\", \"b\"]}]}", true,
            "head.emotion.out.weight");
    bad_dir("{\"heads\": [{\"name\": \"nothere\", \"type\": \"token\", \"labels\": [\"O\"]}]}", true,
            "'head.nothere.out.weight' is missing");
    bad_dir("{\"heads\": [{\"name\": \"emotion\", \"type\": \"sequence\", \"labels\": [\"a\",\"b\",\"c\",\"d\"]}]}",
            false, "heads.safetensors");
    bad_dir("{\"primary\": \"emotion\", \"heads\": [{\"name\": \"emotion\", \"type\": \"sequence\", "
            "\"labels\": [\"a\",\"b\",\"c\",\"d\"]}]}", true, "is the primary's");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("heads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_heads_dir_and_gguf);
    tcase_add_test(tc, test_heads_bad);
    tcase_add_test(tc, test_heads_tag);
    tcase_add_test(tc, test_heads_windows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    snprintf(g_dir, sizeof g_dir, "%s/tests/fixtures/heads/bert-multi", g_root);
    snprintf(g_tok, sizeof g_tok, "%s/../shared/assets/tokenizers/bert-base-uncased/tokenizer.json", g_root);
    char p[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/heads/golden.json", g_root);
    g_gold = json_load_file(p, 0, NULL);
    if (!g_gold || access(g_tok, R_OK) != 0 || !mkdtemp(g_tmp)) {
        fprintf(stderr, "test_heads: fixtures or ../shared tokenizer missing\n");
        return 1;
    }
    SRunner *r = srunner_create(suite());
    srunner_set_fork_status(r, CK_NOFORK);
    srunner_run_all(r, CK_NORMAL);
    int nf = srunner_ntests_failed(r);
    srunner_free(r);
    json_decref(g_gold);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "test_heads: could not remove %s\n", g_tmp);
    return nf == 0 ? 0 : 1;
}
