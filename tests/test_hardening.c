/* test_hardening.c — hostile and corrupt inputs to the loaders (issue 13):
 * a norm epsilon <= 0 and NaN / inf in norm or head weights refused naming
 * the key or tensor (and loaded with no_weight_check); tokenizer ids far past
 * the vocabulary refused before anything that large is allocated; FIFOs in
 * place of every kind of input file refused without blocking; SentencePiece
 * keeping trailing tabs and newlines as sentencepiece does. Every file is
 * written into a fresh temporary directory removed at the end. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "tasks/tasks.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"
#include "tools/convert/convert.h"

static char g_root[2048], g_assets[2100], g_dir[256];

static void setup(void) {
    test_repo_root(__FILE__, g_root, sizeof g_root);
    const char *env = getenv("SENTI_SHARED_DIR");
    if (env) snprintf(g_assets, sizeof g_assets, "%.2000s/assets/tokenizers", env);
    else snprintf(g_assets, sizeof g_assets, "%.2000s/../shared/assets/tokenizers", g_root);
    snprintf(g_dir, sizeof g_dir, "/tmp/senti_hardening_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}
static void teardown(void) { test_rm_tree(g_dir); }

/* Path of name under the temp dir, in a static rotating buffer. */
static const char *tpath(const char *name) {
    static char bufs[8][768];
    static int k;
    char *b = bufs[k++ & 7];
    snprintf(b, 768, "%s/%s", g_dir, name);
    return b;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert(fwrite(data, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

/* A copy of the model fixture directory src (repo-relative) as temp dir sub. */
static const char *copy_model(const char *src, const char *sub) {
    const char *dst = tpath(sub);
    ck_assert(mkdir(dst, 0700) == 0);
    const char *files[] = {"config.json", "model.safetensors", "generation_config.json"};
    for (int i = 0; i < 3; i++) {
        char p[4096], q[1024];
        snprintf(p, sizeof p, "%s/%s/%s", g_root, src, files[i]);
        if (access(p, F_OK) != 0) continue;
        size_t n;
        char *b = test_slurp(p, &n);
        snprintf(q, sizeof q, "%s/%s", dst, files[i]);
        write_file(q, b, n);
        free(b);
    }
    return dst;
}

/* config.json of dir with key set to the number v. */
static void set_config(const char *dir, const char *key, double v) {
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *c = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(c);
    json_object_set_new(c, key, json_real(v));
    ck_assert(json_dump_file(c, p, JSON_INDENT(1)) == 0);
    json_decref(c);
}

/* Write a NaN (nan true) or +inf into element i of tensor name in dir's model.safetensors. */
static void poison(const char *dir, const char *name, int64_t i, bool nan) {
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t n;
    char *b = test_slurp(p, &n);
    st_file *f = st_file_load_buffer(b, n, p);
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    const st_tensor *t = st_file_find(f, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    ck_assert(i < t->numel);
    uint8_t *e = (uint8_t *)t->data;
    if (t->type == SENTI_TYPE_F32) {
        const float v = nan ? NAN : INFINITY;
        memcpy(e + 4 * i, &v, 4);
    } else {
        ck_assert_msg(t->type == SENTI_TYPE_F16 || t->type == SENTI_TYPE_BF16, "%s: unexpected dtype", name);
        const uint16_t v = t->type == SENTI_TYPE_F16 ? (nan ? 0x7e00 : 0x7c00) : (nan ? 0x7fc0 : 0x7f80);
        memcpy(e + 2 * i, &v, 2);
    }
    st_file_free(f);
    write_file(p, b, n);
    free(b);
}

static senti_model *load(const char *dir, bool check) {
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = 1;
    o.no_weight_check = !check;
    return senti_model_load_opts(dir, &o);
}

/* ---- 4: norm epsilon and non-finite weights ------------------------------------ */

START_TEST(test_norm_eps) {
    const struct { const char *src, *key; double v; } cases[] = {
        {"tests/fixtures/tasks/bert-sst2", "layer_norm_eps", -1.0},
        {"tests/fixtures/tasks/bert-sst2", "layer_norm_eps", 0.0},
        {"tests/fixtures/decoders/llama-gqa", "rms_norm_eps", 0.0},
        {"tests/fixtures/decoders/llama-gqa", "rms_norm_eps", -1e-6},
        {"tests/fixtures/decoders/gpt2", "layer_norm_epsilon", -1e-5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char sub[32];
        snprintf(sub, sizeof sub, "eps%zu", k);
        const char *d = copy_model(cases[k].src, sub);
        senti_model *m = load(d, true);
        ck_assert_msg(m != NULL, "%s: the copy loads: %s", d, senti_last_error());
        senti_model_free(m);
        set_config(d, cases[k].key, cases[k].v);
        ck_assert_msg(load(d, true) == NULL, "%s: %s = %g loaded", cases[k].src, cases[k].key, cases[k].v);
        assert_msg_has("eps", "config.json", cases[k].key, "> 0", NULL);
    }
}
END_TEST

START_TEST(test_nonfinite_weights) {
    const struct { const char *src, *tensor; int64_t at; bool nan; } cases[] = {
        {"tests/fixtures/tasks/bert-sst2", "classifier.weight", 3, true},
        {"tests/fixtures/tasks/bert-sst2", "classifier.bias", 1, false},
        {"tests/fixtures/tasks/bert-sst2", "bert.embeddings.LayerNorm.weight", 7, true},
        {"tests/fixtures/tasks/bert-sst2", "bert.encoder.layer.0.output.LayerNorm.bias", 0, false},
        {"tests/fixtures/tasks/bert-sst2", "bert.pooler.dense.weight", 11, true},
        {"tests/fixtures/decoders/llama-gqa", "model.norm.weight", 5, true},
        {"tests/fixtures/decoders/llama-gqa", "model.layers.1.input_layernorm.weight", 2, false},
        {"tests/fixtures/decoders/llama-gqa", "lm_head.weight", 1000, true},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char sub[32];
        snprintf(sub, sizeof sub, "nan%zu", k);
        const char *d = copy_model(cases[k].src, sub);
        poison(d, cases[k].tensor, cases[k].at, cases[k].nan);
        ck_assert_msg(load(d, true) == NULL, "%s: %s with %s loaded", cases[k].src, cases[k].tensor,
                      cases[k].nan ? "NaN" : "inf");
        assert_msg_has("weights", cases[k].tensor, cases[k].nan ? "NaN" : "inf", "--no-weight-check", NULL);
        senti_model *m = load(d, false); /* the scan skipped: the file itself is valid */
        ck_assert_msg(m != NULL, "%s with no_weight_check: %s", cases[k].tensor, senti_last_error());
        senti_model_free(m);
    }
}
END_TEST

/* ---- 6: vocabulary ids far past the entries ------------------------------------ */

static long g_big;
static size_t g_guard_limit = (size_t)256 << 20;
static void *guard_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (size > g_guard_limit) { /* no loader may ask for this much for a few MB of vocabulary */
        g_big++;
        return NULL;
    }
    void *p = NULL;
    return posix_memalign(&p, align, size ? size : align) == 0 ? p : NULL;
}
static void guard_free(void *p, void *user) {
    (void)user;
    free(p);
}

/* Load path under an allocator that refuses any block over 256 MB: the
 * loader must fail with its own message, not run out of memory. */
static void expect_id_refused(const char *path, const char *what) {
    const senti_allocator a = {guard_alloc, guard_free, NULL};
    senti_set_allocator(&a);
    g_big = 0;
    senti_tokenizer *t = senti_tokenizer_load(path);
    senti_set_allocator(NULL);
    ck_assert_msg(t == NULL, "%s: loaded", what);
    ck_assert_msg(g_big == 0, "%s: %ld allocations over 256 MB asked for", what, g_big);
    assert_msg_has(what, "has id", "2147483647", "entries", NULL);
}

START_TEST(test_vocab_ids) {
    char p[4096];
    snprintf(p, sizeof p, "%s/bert-base-uncased/tokenizer.json", g_assets);
    json_t *t = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(t);
    json_object_set_new(json_object_get(json_object_get(t, "model"), "vocab"), "hi", json_integer(2147483647));
    ck_assert(json_dump_file(t, tpath("vocab_id.json"), 0) == 0);
    expect_id_refused(tpath("vocab_id.json"), "tokenizer.json vocab");
    json_decref(t);

    t = json_load_file(p, 0, NULL); /* an added token's id */
    json_object_set_new(json_array_get(json_object_get(t, "added_tokens"), 1), "id", json_integer(2147483647));
    ck_assert(json_dump_file(t, tpath("added_id.json"), 0) == 0);
    expect_id_refused(tpath("added_id.json"), "added token");
    json_decref(t);

    ck_assert(mkdir(tpath("gpt2"), 0700) == 0); /* vocab.json + merges.txt */
    const char *vj = "{\"a\": 0, \"b\": 1, \"ab\": 2147483647}";
    write_file(tpath("gpt2/vocab.json"), vj, strlen(vj));
    write_file(tpath("gpt2/merges.txt"), "#version: 0.2\na b\n", 18);
    expect_id_refused(tpath("gpt2"), "vocab.json");

    /* ids beyond the entries but within twice their number still load */
    t = json_load_file(p, 0, NULL);
    json_object_set_new(json_object_get(json_object_get(t, "model"), "vocab"), "hi", json_integer(60000));
    ck_assert(json_dump_file(t, tpath("vocab_ok.json"), 0) == 0);
    json_decref(t);
    senti_tokenizer *ok = senti_tokenizer_load(tpath("vocab_ok.json"));
    ck_assert_msg(ok != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_tokenizer_token_to_id(ok, "hi"), 60000);
    senti_tokenizer_free(ok);
}
END_TEST

/* ---- 9: FIFOs in place of input files ------------------------------------------- */

START_TEST(test_fifos) {
    alarm(600); /* a loader blocking on a FIFO fails the test (also without Check's fork) instead of hanging it */
    /* a model directory whose weights are a FIFO (config.json real) */
    const char *d = copy_model("tests/fixtures/tasks/bert-sst2", "fifo_weights");
    char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    ck_assert(unlink(p) == 0 && mkfifo(p, 0600) == 0);
    ck_assert(load(d, true) == NULL);
    assert_msg_has("weights FIFO", "model.safetensors", "FIFO", NULL);
    /* config.json a FIFO */
    d = copy_model("tests/fixtures/tasks/bert-sst2", "fifo_config");
    snprintf(p, sizeof p, "%s/config.json", d);
    ck_assert(unlink(p) == 0 && mkfifo(p, 0600) == 0);
    ck_assert(load(d, true) == NULL);
    assert_msg_has("config FIFO", "config.json", "FIFO", NULL);
    /* a GGUF path */
    ck_assert(mkfifo(tpath("model.gguf"), 0600) == 0);
    ck_assert(load(tpath("model.gguf"), true) == NULL);
    assert_msg_has("gguf FIFO", "model.gguf", "FIFO", NULL);
    /* every tokenizer file kind, as a path and inside a directory */
    const char *tok_files[] = {"tok.json", "vocab.txt", "spm.model", "cl.tiktoken", "model.gguf"};
    for (size_t k = 0; k < sizeof tok_files / sizeof *tok_files; k++) {
        if (access(tpath(tok_files[k]), F_OK) != 0) ck_assert(mkfifo(tpath(tok_files[k]), 0600) == 0);
        ck_assert_msg(senti_tokenizer_load(tpath(tok_files[k])) == NULL, "%s", tok_files[k]);
        assert_msg_has(tok_files[k], tok_files[k], NULL);
    }
    const char *dir_files[] = {"tokenizer.json", "vocab.txt", "tokenizer.model"};
    for (size_t k = 0; k < sizeof dir_files / sizeof *dir_files; k++) {
        char sub[64];
        snprintf(sub, sizeof sub, "tokdir%zu", k);
        ck_assert(mkdir(tpath(sub), 0700) == 0);
        snprintf(p, sizeof p, "%s/%s", tpath(sub), dir_files[k]);
        ck_assert(mkfifo(p, 0600) == 0);
        ck_assert_msg(senti_tokenizer_load(tpath(sub)) == NULL, "%s", dir_files[k]);
        assert_msg_has(dir_files[k], dir_files[k], NULL);
    }
    /* vocab.json + merges.txt with merges.txt a FIFO */
    ck_assert(mkdir(tpath("bpe"), 0700) == 0);
    write_file(tpath("bpe/vocab.json"), "{\"a\": 0}", 8);
    ck_assert(mkfifo(tpath("bpe/merges.txt"), 0600) == 0);
    ck_assert(senti_tokenizer_load(tpath("bpe")) == NULL);
    assert_msg_has("merges FIFO", "merges.txt", "FIFO", NULL);
}
END_TEST

/* ---- 11: SentencePiece keeps trailing tabs and newlines ---------------------------- */

START_TEST(test_spm_whitespace) {
    char p[4096];
    snprintf(p, sizeof p, "%s/sentencepiece-test/test_model.model", g_assets);
    senti_tokenizer *t = senti_tokenizer_load(p);
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    /* sentencepiece 0.2: encode(text) on test_model.model */
    const struct { const char *text; int n; int32_t ids[6]; } cases[] = {
        {"good\t", 2, {301, 0}},   {"good\n", 2, {301, 0}},      {"good \t", 3, {301, 4, 0}},
        {"good\t ", 2, {301, 0}},  {"good  ", 1, {301}},         {"\t", 2, {4, 0}},
        {"good\r\n", 3, {301, 3, 0}},
    };
    senti_encode_opts o = senti_encode_opts_defaults();
    o.add_special_tokens = 0;
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        senti_encoding *e = NULL;
        ck_assert(senti_tokenizer_encode(t, cases[k].text, strlen(cases[k].text), NULL, 0, &o, &e) == SENTI_OK);
        ck_assert_msg(senti_encoding_len(e) == cases[k].n, "case %zu: %lld ids, sentencepiece %d", k,
                      (long long)senti_encoding_len(e), cases[k].n);
        for (int i = 0; i < cases[k].n; i++) ck_assert_int_eq(senti_encoding_ids(e)[i], cases[k].ids[i]);
        senti_encoding_free(e);
    }
    senti_tokenizer_free(t);
}
END_TEST

/* ---- 13: truncation while tokenizing --------------------------------------------- */

/* Encode with and without prefix cuts; every field must agree. */
static void same_both_ways(senti_tokenizer *t, const char *name, const char *a, size_t al, const char *b, size_t bl,
                           senti_truncation tr, int64_t max) {
    senti_encode_opts o = senti_encode_opts_defaults();
    o.truncation = tr;
    o.max_length = max;
    senti_encoding *e[2] = {NULL, NULL};
    senti_status st[2];
    const bool safe = t->cut_safe;
    for (int k = 0; k < 2; k++) {
        t->cut_safe = k == 0 ? safe : false;
        st[k] = senti_tokenizer_encode(t, a, al, b, bl, &o, &e[k]);
    }
    t->cut_safe = safe;
    ck_assert_msg(st[0] == st[1], "%s: status %d vs %d (max %lld, strategy %d)", name, st[0], st[1], (long long)max, tr);
    if (st[0] == SENTI_OK) {
        const int64_t n = senti_encoding_len(e[0]);
        ck_assert_msg(n == senti_encoding_len(e[1]), "%s: %lld vs %lld tokens (max %lld, strategy %d, pair %d)", name,
                      (long long)n, (long long)senti_encoding_len(e[1]), (long long)max, tr, b != NULL);
        ck_assert(memcmp(senti_encoding_ids(e[0]), senti_encoding_ids(e[1]), (size_t)n * 4) == 0);
        ck_assert(memcmp(senti_encoding_type_ids(e[0]), senti_encoding_type_ids(e[1]), (size_t)n * 4) == 0);
        ck_assert(memcmp(senti_encoding_offsets(e[0]), senti_encoding_offsets(e[1]), (size_t)n * 8) == 0);
        ck_assert(memcmp(senti_encoding_word_ids(e[0]), senti_encoding_word_ids(e[1]), (size_t)n * 4) == 0);
        ck_assert(memcmp(senti_encoding_special_mask(e[0]), senti_encoding_special_mask(e[1]), (size_t)n) == 0);
        for (int64_t i = 0; i < n; i++) ck_assert_str_eq(senti_encoding_token(e[0], i), senti_encoding_token(e[1], i));
    } else {
        ck_assert_ptr_null(e[0]);
    }
    senti_encoding_free(e[0]);
    senti_encoding_free(e[1]);
}

START_TEST(test_truncate_prefix) {
    /* the golden corpus joined into long texts (tabs, accents, CJK, emoji, code, invalid bytes between words) */
    char p[4096];
    snprintf(p, sizeof p, "%s/tools/fixtures/tokenizer_corpus.json", g_root);
    json_t *corpus = json_load_file(p, JSON_ALLOW_NUL, NULL);
    ck_assert_ptr_nonnull(corpus);
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    for (int rep = 0; rep < 3; rep++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(corpus, "texts"), i, v) {
            const char *s = json_string_value(v);
            const size_t l = json_string_length(v);
            if (n + l + 16 > cap) break;
            memcpy(text + n, s, l), n += l;
            memcpy(text + n, rep == 1 ? " x\xff " : " and ", 5), n += 5;
        }
    }
    json_decref(corpus);
    const char *toks[] = {"bert-base-uncased", "roberta-base", "gpt2", "t5-small", "llama3", "bert-base-chinese/vocab.txt",
                          "sentencepiece-test/test_model.model", "bpemb-en-bpe-100k/en.wiki.bpe.vs100000.model",
                          "llama2/tokenizer.model", "cl100k_base/cl100k_base.tiktoken"};
    int safe = 0;
    for (size_t k = 0; k < sizeof toks / sizeof *toks; k++) {
        snprintf(p, sizeof p, "%s/%s", g_assets, toks[k]);
        senti_tokenizer *t = senti_tokenizer_load(p);
        if (!t) continue; /* an asset this checkout lacks */
        safe += t->cut_safe;
        if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: cuts %s\n", toks[k], t->cut_safe ? "allowed" : "not allowed");
        for (size_t shift = 0; shift < 40; shift += 13) {
            const char *a = text + shift, *b = text + n / 2 + shift;
            const size_t al = n - shift, bl = n / 2 - shift;
            for (int64_t max = 5; max <= 600; max = max * 3 + 1) {
                same_both_ways(t, toks[k], a, al, NULL, 0, SENTI_TRUNCATE_LONGEST_FIRST, max);
                same_both_ways(t, toks[k], a, al, b, bl, SENTI_TRUNCATE_LONGEST_FIRST, max);
                same_both_ways(t, toks[k], a, al, b, bl, SENTI_TRUNCATE_LONGEST_FIRST, max + 1);
                same_both_ways(t, toks[k], a, al, "short pair", 10, SENTI_TRUNCATE_LONGEST_FIRST, max);
                same_both_ways(t, toks[k], a, al, "short pair", 10, SENTI_TRUNCATE_ONLY_FIRST, max);
                same_both_ways(t, toks[k], "short one", 9, b, bl, SENTI_TRUNCATE_ONLY_SECOND, max);
                same_both_ways(t, toks[k], a, al, b, bl, SENTI_TRUNCATE_ONLY_FIRST, max); /* refused: b too long */
            }
        }
        senti_tokenizer_free(t);
    }
    ck_assert_msg(safe >= 5, "only %d tokenizers take cuts", safe);

    /* memory follows max_length: 16 MB of text truncated to 32 tokens asks for no block over 1 MB */
    snprintf(p, sizeof p, "%s/bert-base-uncased", g_assets);
    senti_tokenizer *t = senti_tokenizer_load(p);
    ck_assert_ptr_nonnull(t);
    const size_t big = (size_t)16 << 20;
    char *huge = malloc(big);
    for (size_t i = 0; i < big; i++) huge[i] = "hello world "[i % 12];
    senti_encode_opts o = senti_encode_opts_defaults();
    o.truncation = SENTI_TRUNCATE_LONGEST_FIRST;
    o.max_length = 32;
    const senti_allocator guard = {guard_alloc, guard_free, NULL};
    g_big = 0;
    g_guard_limit = (size_t)1 << 20;
    senti_set_allocator(&guard);
    senti_encoding *e = NULL;
    senti_status st = senti_tokenizer_encode(t, huge, big, NULL, 0, &o, &e);
    senti_set_allocator(NULL);
    g_guard_limit = (size_t)256 << 20;
    ck_assert_msg(st == SENTI_OK && g_big == 0, "16 MB text: status %d, %ld blocks over 1 MB", st, g_big);
    ck_assert_int_eq(senti_encoding_len(e), 32);
    senti_encoding_free(e);
    senti_tokenizer_free(t);
    free(huge);
    free(text);
}
END_TEST

/* ---- 12: convert embeds every tokenizer kind, or refuses ------------------------ */

static void copy_repo_file(const char *rel, const char *dst) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    size_t n;
    char *b = test_slurp(p, &n);
    write_file(dst, b, n);
    free(b);
}

/* Convert dir, then the file must carry a tokenizer encoding like dir's, and
 * the model must run a forward pass on those ids. */
static void convert_and_run(const char *dir, const char *out) {
    ck_assert_msg(gguf_convert(dir, out, SENTI_TYPE_F32) == SENTI_OK, "%s: %s", dir, senti_last_error());
    senti_tokenizer *a = senti_tokenizer_load(dir), *b = senti_tokenizer_load(out);
    ck_assert_msg(a && b, "%s: %s", out, senti_last_error());
    const char *text = "hello there, the cat";
    senti_encoding *ea = NULL, *eb = NULL;
    ck_assert(senti_tokenizer_encode(a, text, strlen(text), NULL, 0, NULL, &ea) == SENTI_OK);
    ck_assert(senti_tokenizer_encode(b, text, strlen(text), NULL, 0, NULL, &eb) == SENTI_OK);
    const int64_t n = senti_encoding_len(ea);
    ck_assert(n > 0 && n == senti_encoding_len(eb));
    ck_assert(memcmp(senti_encoding_ids(ea), senti_encoding_ids(eb), (size_t)n * 4) == 0);
    senti_model *m = load(out, true);
    ck_assert_msg(m != NULL, "%s: %s", out, senti_last_error());
    float *y = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_msg(senti_model_forward(m, senti_encoding_ids(eb), NULL, NULL, 1, n, &y, shape, &nd) == SENTI_OK, "%s",
                  senti_last_error());
    ck_assert(isfinite(y[0]));
    senti_model_output_free(y);
    senti_model_free(m);
    senti_encoding_free(ea);
    senti_encoding_free(eb);
    senti_tokenizer_free(a);
    senti_tokenizer_free(b);
}

START_TEST(test_convert_tokenizers) {
    /* GPT-2 without tokenizer.json: vocab.json (the 256 byte characters, then "he") + merges.txt */
    const char *d = copy_model("tests/fixtures/decoders/gpt2", "gpt2");
    tok_bytelevel_init();
    char *vj = malloc(8192), *at = vj;
    at += sprintf(at, "{");
    for (int c = 0; c < 256; c++) {
        char u[5] = {0};
        tok_utf8_encode(tok_byte_char[c], u);
        at += sprintf(at, "%s\"%s%s\": %d", c ? ", " : "", c == '"' || c == '\\' ? "\\" : "", u, c);
    }
    at += sprintf(at, ", \"he\": 256, \"\\u0120t\": 257}");
    char p[1024];
    snprintf(p, sizeof p, "%s/vocab.json", d);
    write_file(p, vj, strlen(vj));
    free(vj);
    snprintf(p, sizeof p, "%s/merges.txt", d);
    write_file(p, "#version: 0.2\nh e\n\u0120 t\n", strlen("#version: 0.2\nh e\n\u0120 t\n"));
    convert_and_run(d, tpath("gpt2.gguf"));

    /* LLaMA without tokenizer.json: a SentencePiece tokenizer.model (BPE, byte fallback, 400 pieces) */
    d = copy_model("tests/fixtures/llm/llama", "llama");
    snprintf(p, sizeof p, "%s/tokenizer.model", d);
    copy_repo_file("tests/fuzz/seeds/spm/bpe.model", p);
    convert_and_run(d, tpath("llama.gguf"));

    /* a tokenizer senti reads but cannot embed (DeBERTa's spm.model): refused, no file left */
    d = copy_model("tests/fixtures/decoders/llama-gqa", "deb");
    snprintf(p, sizeof p, "%s/spm.model", d);
    copy_repo_file("tests/fixtures/tokenizer/deberta-v3/spm.model", p);
    ck_assert(gguf_convert(d, tpath("deb.gguf"), SENTI_TYPE_F32) != SENTI_OK);
    assert_msg_has("convert", "deb.gguf", "tokenizer", NULL);
    ck_assert_msg(access(tpath("deb.gguf"), F_OK) != 0, "a refused convert left its output");
    char names[16][256];
    const int n = test_list_dir(g_dir, "", &names[0][0], 16, 256);
    for (int i = 0; i < n; i++) ck_assert_msg(strstr(names[i], ".tmp") == NULL, "left %s", names[i]);
}
END_TEST

/* ---- what an outside probe found (2026-12-07) ------------------------------------ */

/* src's GGUF written to dst with key's value replaced by *v. */
static void gguf_with(const char *src, const char *dst, const char *key, gguf_value v) {
    gguf_file *f = gguf_file_load(src);
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    gguf_writer *w = gguf_writer_init();
    bool found = false;
    for (int64_t i = 0; i < gguf_file_kv_count(f); i++) {
        const bool it = strcmp(gguf_file_kv_key(f, i), key) == 0;
        found = found || it;
        ck_assert(gguf_writer_add_kv(w, gguf_file_kv_key(f, i), it ? v : *gguf_file_kv_value(f, i)) == SENTI_OK);
    }
    ck_assert_msg(found, "%s has no key %s", src, key);
    for (int64_t i = 0; i < gguf_file_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_file_tensor(f, i);
        ck_assert(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) == SENTI_OK);
    }
    ck_assert(gguf_writer_write(w, dst) == SENTI_OK);
    gguf_writer_free(w);
    gguf_file_free(f);
}

/* The bert-base-uncased tokenizer.json with member key set to the JSON text val, at tpath(name). */
static senti_tokenizer *tok_with(const char *name, const char *key, const char *val) {
    char p[2400];
    snprintf(p, sizeof p, "%s/bert-base-uncased/tokenizer.json", g_assets);
    json_t *t = json_load_file(p, 0, NULL), *v = json_loads(val, 0, NULL);
    ck_assert(t && v);
    json_object_set_new(t, key, v);
    ck_assert(json_dump_file(t, tpath(name), 0) == 0);
    json_decref(t);
    return senti_tokenizer_load(tpath(name));
}

START_TEST(test_probe_findings) {
    senti_encode_opts eo = senti_encode_opts_defaults();
    senti_encoding *e = NULL;
    char p[2400], q[2400];

    /* senti convert: an OUT that is a FIFO or one of the model's own files is refused and left as it was */
    const char *d = copy_model("tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", "conv");
    ck_assert(mkfifo(tpath("fifo.gguf"), 0600) == 0);
    ck_assert(gguf_convert(d, tpath("fifo.gguf"), SENTI_TYPE_F32) == SENTI_ERR_INVALID_ARG);
    assert_msg_has("convert fifo", "fifo.gguf", "not a regular file", NULL);
    struct stat sb;
    ck_assert(stat(tpath("fifo.gguf"), &sb) == 0 && S_ISFIFO(sb.st_mode));
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    ck_assert(stat(p, &sb) == 0);
    const off_t size = sb.st_size;
    ck_assert(gguf_convert(d, p, SENTI_TYPE_Q8_0) == SENTI_ERR_INVALID_ARG);
    assert_msg_has("convert onto its input", "model.safetensors", "model's own", NULL);
    ck_assert(stat(p, &sb) == 0 && sb.st_size == size);
    ck_assert(gguf_convert(d, tpath("ok.gguf"), SENTI_TYPE_F32) == SENTI_OK);

    /* a backtracking regex that hits PCRE2's match limit fails its record, not the run as out of memory */
    char aab[64];
    memset(aab, 'a', 40);
    strcpy(aab + 40, "b");
    senti_tokenizer *t = tok_with("split.json", "pre_tokenizer",
                                  "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a+)+$\"},\"behavior\":\"Isolated\","
                                  "\"invert\":false}");
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_tokenizer_encode(t, aab, strlen(aab), NULL, 0, &eo, &e), SENTI_ERR_INVALID_ARG);
    assert_msg_has("split limit", "pre-tokenizer", "match limit", NULL);
    ck_assert_int_eq(senti_tokenizer_encode(t, "aab", 3, NULL, 0, &eo, &e), SENTI_OK);
    senti_encoding_free(e);
    e = NULL;
    senti_tokenizer_free(t);
    t = tok_with("replace.json", "normalizer", "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(a+)+$\"},\"content\":\"x\"}");
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_tokenizer_encode(t, aab, strlen(aab), NULL, 0, &eo, &e), SENTI_ERR_INVALID_ARG);
    assert_msg_has("replace limit", "Replace", "match limit", NULL);
    senti_tokenizer_free(t);
    /* a regex that does not compile names the file and where */
    ck_assert_ptr_null(tok_with("bad.json", "pre_tokenizer",
                                "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"((\"},\"behavior\":\"Isolated\",\"invert\":false}"));
    assert_msg_has("bad regex", "bad.json", "pre_tokenizer Split", "does not compile", NULL);

    /* WordPiece without its unk token: refused at load (no text outside the vocab could tokenize) */
    ck_assert_ptr_null(tok_with("nounk.json", "model", "{\"type\":\"WordPiece\",\"vocab\":{},\"unk_token\":\"[UNK]\"}"));
    assert_msg_has("wordpiece unk", "nounk.json", "unk_token", "[UNK]", NULL);
    write_file(tpath("vocab.txt"), "hello\nworld\n", 12);
    ck_assert_ptr_null(senti_tokenizer_load(tpath("vocab.txt")));
    assert_msg_has("vocab.txt unk", "vocab.txt", "[UNK]", NULL);
    /* a vocab.txt directory's tokenizer_config.json (do_lower_case, ...) is read or refused, never skipped */
    ck_assert(mkdir(tpath("vt"), 0700) == 0);
    write_file(tpath("vt/vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", 30);
    write_file(tpath("vt/tokenizer_config.json"), "{\"do_lower_case\": false", 23);
    ck_assert_ptr_null(senti_tokenizer_load(tpath("vt")));
    assert_msg_has("malformed tokenizer_config", "vt/tokenizer_config.json", NULL);
    ck_assert(unlink(tpath("vt/tokenizer_config.json")) == 0 && mkfifo(tpath("vt/tokenizer_config.json"), 0600) == 0);
    ck_assert_ptr_null(senti_tokenizer_load(tpath("vt")));
    assert_msg_has("FIFO tokenizer_config", "vt/tokenizer_config.json", "FIFO", NULL);
    ck_assert(unlink(tpath("vt/tokenizer_config.json")) == 0);
    t = senti_tokenizer_load(tpath("vt"));
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    senti_tokenizer_free(t);
    /* a repeated vocab.txt line maps to its last id, as HF's BertTokenizer and BertTokenizerFast (both give
     * "hello world" [2, 5, 6, 3] for this vocab, transformers 5.25.0, 2026-12-07) */
    write_file(tpath("dup.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\nworld\n", 37);
    t = senti_tokenizer_load(tpath("dup.txt"));
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_tokenizer_token_to_id(t, "hello"), 5);
    senti_tokenizer_free(t);
    /* a tiktoken file must rank every byte */
    write_file(tpath("x.tiktoken"), "IQ== 0\n", 7);
    ck_assert_ptr_null(senti_tokenizer_load(tpath("x.tiktoken")));
    assert_msg_has("tiktoken bytes", "x.tiktoken", "byte 0x00", NULL);

    /* llama.cpp's BERT vocab marks [UNK] unknown (type 2): kept as it is, so text outside the vocab is [UNK] */
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/bert-llamacpp.gguf", g_root);
    gguf_file *f = gguf_file_load(p);
    ck_assert(f != NULL);
    const gguf_value *toks = gguf_file_find_kv(f, "tokenizer.ggml.tokens"),
                     *types = gguf_file_find_kv(f, "tokenizer.ggml.token_type");
    ck_assert(toks && types && types->v.arr.type == GGUF_VT_I32);
    int32_t *ty = malloc(types->v.arr.n * 4);
    memcpy(ty, types->v.arr.raw, types->v.arr.n * 4);
    int64_t unk = -1;
    for (uint64_t i = 0; i < toks->v.arr.n; i++)
        if (strcmp(toks->v.arr.items[i].v.str.s, "[UNK]") == 0) unk = (int64_t)i, ty[i] = 2;
    ck_assert(unk >= 0);
    const uint64_t n_types = types->v.arr.n;
    gguf_file_free(f);
    gguf_with(p, tpath("unk2.gguf"), "tokenizer.ggml.token_type", gguf_val_arr(GGUF_VT_I32, n_types, ty, NULL));
    free(ty);
    t = senti_tokenizer_load(tpath("unk2.gguf"));
    ck_assert_msg(t != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_tokenizer_encode(t, "good \xf0\x9f\x98\x80", 9, NULL, 0, &eo, &e), SENTI_OK);
    bool has_unk = false;
    for (int64_t i = 0; i < e->n; i++) has_unk = has_unk || e->ids[i] == unk;
    ck_assert_msg(has_unk, "the emoji did not become [UNK] (id %lld)", (long long)unk);
    senti_encoding_free(e);
    e = NULL;
    senti_tokenizer_free(t);

    /* a non-finite float key of a llama.cpp file: named, not "out of memory" */
    gguf_with(p, tpath("eps.gguf"), "bert.attention.layer_norm_epsilon", gguf_val_float(GGUF_VT_F32, NAN));
    ck_assert_ptr_null(senti_model_load(tpath("eps.gguf"), 1));
    assert_msg_has("nan eps", "eps.gguf", "bert.attention.layer_norm_epsilon", "finite", NULL);

    /* type_vocab_size 0 beside token-type embeddings: refused, not run without them */
    d = copy_model("tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", "tv0");
    snprintf(q, sizeof q, "%s/config.json", d);
    json_t *c = json_load_file(q, 0, NULL);
    ck_assert(c != NULL);
    json_object_set_new(c, "type_vocab_size", json_integer(0));
    ck_assert(json_dump_file(c, q, 0) == 0);
    json_decref(c);
    ck_assert_ptr_null(load(d, true));
    assert_msg_has("type_vocab_size 0", "config.json", "token_type_embeddings", "type_vocab_size", NULL);

    /* a GGUF key or tensor name holding a NUL byte (looked up as C strings, it would alias the name before it) */
    static const unsigned char nul_key[] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,
                                            0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0, 'b', 'c', 'd', 4, 0, 0, 0, 7, 0, 0, 0};
    write_file(tpath("nulkey.gguf"), nul_key, sizeof nul_key);
    ck_assert_ptr_null(gguf_file_load(tpath("nulkey.gguf")));
    assert_msg_has("nul key", "nulkey.gguf", "NUL", NULL);
    unsigned char nul_name[96] = {'G', 'G', 'U', 'F', 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  5, 0, 0, 0, 0, 0, 0, 0, 't', 0, 'x', 'y', 'z', 1, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0};
    /* then the type (f32 = 0) and the offset (0), both zero, and the data at byte 64 */
    write_file(tpath("nulname.gguf"), nul_name, 64 + 16);
    ck_assert_ptr_null(gguf_file_load(tpath("nulname.gguf")));
    assert_msg_has("nul name", "nulname.gguf", "NUL", NULL);

    /* --strict stops at a record whose logits are not finite (a NaN in a weight the load does not scan) */
    d = copy_model("tests/fixtures/tasks/bert-sst2", "strict");
    poison(d, "bert.encoder.layer.0.attention.self.query.weight", 0, true);
    senti_model *m = load(d, true);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    snprintf(p, sizeof p, "%s/bert-base-uncased/tokenizer.json", g_assets);
    t = senti_tokenizer_load(p);
    ck_assert_ptr_nonnull(t);
    task_classify cls;
    ck_assert_int_eq(task_classify_init(&cls, m, d, 0, 0.5), SENTI_OK);
    const char *texts[] = {"a good movie", "a bad movie"};
    for (int strict = 0; strict < 2; strict++) {
        task_source *src = task_source_texts(texts, 2);
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        task_runner_opts o = task_runner_opts_defaults();
        o.strict = strict;
        task_stats stats;
        const senti_status st = task_classify_run(m, t, &cls, src, mem, &o, &stats);
        fclose(mem);
        task_source_free(src);
        if (strict) {
            ck_assert_int_eq(st, SENTI_ERR_INVALID_ARG);
            assert_msg_has("strict", "record 0", "non-finite", NULL);
            ck_assert_uint_eq(len, 0);
            ck_assert(stats.records == 1 && stats.errors == 1);
        } else {
            ck_assert_int_eq(st, SENTI_OK);
            ck_assert_str_eq(buf, "{\"id\":0,\"error\":\"non-finite logits\"}\n{\"id\":1,\"error\":\"non-finite logits\"}\n");
        }
        free(buf);
    }
    senti_tokenizer_free(t);
    senti_model_free(m);

    /* a message wrapped in a prefix (senti_error reading senti_last_error) */
    senti_error(SENTI_ERR_BAD_FILE, "inner %d", 7);
    senti_error(SENTI_ERR_BAD_FILE, "outer: %s", senti_last_error());
    ck_assert_str_eq(senti_last_error(), "outer: inner 7");
}
END_TEST

int main(void) {
    Suite *s = suite_create("hardening");
    TCase *tc = tcase_create("hardening");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_norm_eps);
    tcase_add_test(tc, test_nonfinite_weights);
    tcase_add_test(tc, test_vocab_ids);
    tcase_add_test(tc, test_fifos);
    tcase_add_test(tc, test_spm_whitespace);
    tcase_add_test(tc, test_convert_tokenizers);
    tcase_add_test(tc, test_truncate_prefix);
    tcase_add_test(tc, test_probe_findings);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
