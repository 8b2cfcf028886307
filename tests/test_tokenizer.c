/* test_tokenizer.c — tokenizers against HuggingFace golden outputs
 * (tests/fixtures/tokenizer/NAME.json, made by tools/fixtures/make_tokenizer_fixtures.py
 * from the real vocabularies in ../shared/assets/tokenizers), plus UTF-8
 * repair, errors, allocation failures and concurrent encoding.
 * The shared assets directory must exist: a missing one fails, never skips. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

static char g_root[2048], g_assets[4096];

static void init_paths(void) {
    const char *f = __FILE__; /* <root>/tests/test_tokenizer.c */
    const char *e = strstr(f, "/tests/test_tokenizer.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
    const char *env = getenv("SENTI_SHARED_DIR");
    snprintf(g_assets, sizeof g_assets, "%.2000s/assets/tokenizers", env ? env : "");
    if (!env) snprintf(g_assets, sizeof g_assets, "%s/../shared/assets/tokenizers", g_root);
}

/* ---- golden files ------------------------------------------------------------ */

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* Case text: "t" (string, may hold NUL) or "h" (hex bytes). Returns malloc'd bytes. */
static char *case_text(json_t *c, const char *k, const char *kh, size_t *n) {
    json_t *v = json_object_get(c, k);
    if (v) {
        *n = json_string_length(v);
        char *s = malloc(*n + 1);
        memcpy(s, json_string_value(v), *n + 1);
        return s;
    }
    v = json_object_get(c, kh);
    if (!v) return NULL;
    const char *h = json_string_value(v);
    *n = strlen(h) / 2;
    char *s = malloc(*n + 1);
    for (size_t i = 0; i < *n; i++) s[i] = (char)(hexval(h[2 * i]) * 16 + hexval(h[2 * i + 1]));
    s[*n] = 0;
    return s;
}

static bool arr_eq_i32(json_t *a, const int32_t *v, int64_t n) {
    if (!json_is_array(a) || (int64_t)json_array_size(a) != n) return false;
    for (int64_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(a, (size_t)i)) != v[i]) return false;
    return true;
}

static void print_case(const char *name, size_t idx, const char *what, json_t *c, const senti_encoding *e) {
    char *js = json_dumps(c, JSON_COMPACT | JSON_ENSURE_ASCII);
    fprintf(stderr, "%s case %zu: %s differs\n  HF:    %.1500s\n  senti:", name, idx, what, js);
    free(js);
    if (e) {
        for (int64_t i = 0; i < e->n; i++)
            fprintf(stderr, " %d:%s(%d,%d)", e->ids[i], senti_encoding_token(e, i), e->offsets[2 * i],
                    e->offsets[2 * i + 1]);
    }
    fprintf(stderr, "\n");
}

static senti_tokenizer *load_spec(json_t *load) {
    char p[8192];
    json_t *repo = json_object_get(load, "repo"); /* a small tokenizer.json committed with the goldens */
    if (repo) {
        snprintf(p, sizeof p, "%s/%s", g_root, json_string_value(repo));
        return senti_tokenizer_load(p);
    }
    snprintf(p, sizeof p, "%s/%s", g_assets, json_string_value(json_object_get(load, "path")));
    json_t *lc = json_object_get(load, "lowercase");
    if (!lc) return senti_tokenizer_load(p);
    /* vocab.txt with explicit BERT options (no tokenizer_config.json beside it) */
    senti_tokenizer *t = senti_calloc(1, sizeof *t);
    if (tok_load_vocab_txt(t, p, json_is_true(lc), true, -1) || tok_added_build(t)) {
        senti_tokenizer_free(t);
        return NULL;
    }
    return t;
}

/* Replay one golden file; returns the number of mismatching cases. */
static int run_golden(const char *name, int *n_cases) {
    char p[8192];
    snprintf(p, sizeof p, "%s/tests/fixtures/tokenizer/%s.json", g_root, name);
    json_error_t err;
    json_t *doc = json_load_file(p, JSON_ALLOW_NUL, &err);
    ck_assert_msg(doc != NULL, "%s: %s (run tools/fixtures/make_tokenizer_fixtures.py)", p, err.text);
    senti_tokenizer *tok = load_spec(json_object_get(doc, "load"));
    ck_assert_msg(tok != NULL, "%s: cannot load tokenizer: %s", name, senti_last_error());
    json_t *cases = json_object_get(doc, "cases");
    int bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        size_t tn = 0, pn = 0;
        char *text = case_text(c, "t", "h", &tn), *pair = case_text(c, "p", "ph", &pn);
        senti_encode_opts o = senti_encode_opts_defaults();
        o.add_special_tokens = (int)json_integer_value(json_object_get(c, "s"));
        json_t *tr = json_object_get(c, "tr");
        if (tr) {
            const char *s = json_string_value(json_array_get(tr, 0));
            o.truncation = !strcmp(s, "longest_first") ? SENTI_TRUNCATE_LONGEST_FIRST
                           : !strcmp(s, "only_first")  ? SENTI_TRUNCATE_ONLY_FIRST
                                                       : SENTI_TRUNCATE_ONLY_SECOND;
            o.max_length = json_integer_value(json_array_get(tr, 1));
        }
        senti_encoding *e = NULL;
        senti_status st = senti_tokenizer_encode(tok, text, tn, pair, pn, &o, &e);
        const char *what = NULL;
        if (json_object_get(c, "err")) {
            if (st == SENTI_OK) what = "error expected";
        } else if (st != SENTI_OK) {
            what = senti_last_error();
        } else {
            int64_t n = e->n;
            json_t *toks = json_object_get(c, "tok");
            if (!arr_eq_i32(json_object_get(c, "ids"), e->ids, n)) what = "ids";
            else if (!arr_eq_i32(json_object_get(c, "off"), e->offsets, 2 * n)) what = "offsets";
            else if (!arr_eq_i32(json_object_get(c, "ty"), e->type_ids, n)) what = "type_ids";
            else if (!arr_eq_i32(json_object_get(c, "w"), e->word_ids, n)) what = "word_ids";
            else {
                for (int64_t k = 0; k < n && !what; k++) {
                    if (strcmp(json_string_value(json_array_get(toks, (size_t)k)), senti_encoding_token(e, k)))
                        what = "tokens";
                    if (json_integer_value(json_array_get(json_object_get(c, "sm"), (size_t)k)) != e->special[k])
                        what = "special_mask";
                }
            }
            json_t *dec = json_object_get(c, "dec");
            if (!what && dec) {
                size_t dl = 0;
                char *d = senti_tokenizer_decode(tok, e->ids, e->n, 1, &dl);
                if (!d || dl != json_string_length(dec) || memcmp(d, json_string_value(dec), dl)) {
                    fprintf(stderr, "  decoded: '%s'\n", d ? d : senti_last_error());
                    what = "decode";
                }
                senti_string_free(d);
            }
        }
        if (what) {
            if (bad < 8) print_case(name, i, what, c, e);
            bad++;
        }
        senti_encoding_free(e);
        free(text);
        free(pair);
    }
    *n_cases = (int)json_array_size(cases);
    fprintf(stderr, "%s: %d/%d cases identical to HF tokenizers\n", name, *n_cases - bad, *n_cases);
    senti_tokenizer_free(tok);
    json_decref(doc);
    return bad;
}

#define GOLDEN_TEST(fn, name)                                                                   \
    START_TEST(fn) {                                                                            \
        int n = 0;                                                                              \
        int bad = run_golden(name, &n);                                                         \
        ck_assert_msg(bad == 0, "%s: %d of %d cases differ from HF tokenizers", name, bad, n);  \
        ck_assert_int_gt(n, 100);                                                               \
    }                                                                                           \
    END_TEST

GOLDEN_TEST(test_bert_uncased_json, "bert-base-uncased")
GOLDEN_TEST(test_bert_uncased_vocab, "bert-base-uncased-vocab")
GOLDEN_TEST(test_bert_chinese, "bert-base-chinese")
GOLDEN_TEST(test_roberta, "roberta-base")
GOLDEN_TEST(test_gpt2, "gpt2")
GOLDEN_TEST(test_t5, "t5-small")
GOLDEN_TEST(test_llama2_model, "llama2-model")
GOLDEN_TEST(test_spm_ja, "spm-test-ja")
GOLDEN_TEST(test_spm_en, "spm-test")
GOLDEN_TEST(test_llama2_json, "llama2-json")
GOLDEN_TEST(test_bpemb, "bpemb-en")
GOLDEN_TEST(test_llama3, "llama3")
GOLDEN_TEST(test_synth_bpe, "synth-bpe")
GOLDEN_TEST(test_synth_wordpiece, "synth-wordpiece")
GOLDEN_TEST(test_synth_meta, "synth-meta")
GOLDEN_TEST(test_deberta_spm, "deberta-v3-spm")
GOLDEN_TEST(test_deberta_json, "deberta-v3-json")

/* ---- unit tests -------------------------------------------------------------- */

START_TEST(test_assets_present) {
    char p[8192];
    snprintf(p, sizeof p, "%s/bert-base-uncased/vocab.txt", g_assets);
    FILE *f = fopen(p, "rb");
    ck_assert_msg(f != NULL, "shared tokenizer assets missing: %s (set SENTI_SHARED_DIR)", p);
    fclose(f);
}
END_TEST

START_TEST(test_utf8_repair) {
    /* Python: b"a\x80b\xe2\x82(\xf0\x9f\x98".decode("utf-8", "replace") */
    const char in[] = "a\x80" "b\xe2\x82(\xf0\x9f\x98";
    tok_str s = {0};
    int32_t nc = 0;
    ck_assert_int_eq(tok_utf8_repair(in, sizeof in - 1, &s, &nc), SENTI_OK);
    const char want[] = "a\xef\xbf\xbd" "b\xef\xbf\xbd(\xef\xbf\xbd";
    ck_assert_int_eq(nc, 6);
    ck_assert_uint_eq(s.len, sizeof want - 1);
    ck_assert(memcmp(s.s, want, s.len) == 0);
    tok_str_free(&s);
}
END_TEST

static senti_tokenizer *load_asset(const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", g_assets, rel);
    senti_tokenizer *t = senti_tokenizer_load(p);
    ck_assert_msg(t != NULL, "%s: %s", p, senti_last_error());
    return t;
}

START_TEST(test_errors) {
    ck_assert_ptr_null(senti_tokenizer_load("/nonexistent/tokenizer.json"));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "/nonexistent/tokenizer.json"));
    char p[8192];
    snprintf(p, sizeof p, "/tmp/senti_test_tok_%d.json", (int)getpid()); /* JSON, but not a tokenizer */
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"version\": \"1.0\"}", f);
    fclose(f);
    ck_assert_ptr_null(senti_tokenizer_load(p));
    remove(p);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "model"));
    /* the llama2 tokenizer.json in the assets has merges with NBSP turned into
     * spaces: HF refuses it ("Merges text file invalid"), so must we */
    snprintf(p, sizeof p, "%s/llama2/tokenizer.json", g_assets);
    ck_assert_ptr_null(senti_tokenizer_load(p));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "tokenizer.json"));
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "model.merges["));
    senti_tokenizer *t = load_asset("bert-base-uncased");
    senti_encoding *e = NULL;
    senti_encode_opts o = senti_encode_opts_defaults();
    o.truncation = SENTI_TRUNCATE_ONLY_SECOND;
    o.max_length = 4;
    ck_assert_int_eq(senti_tokenizer_encode(t, "a b c", 5, NULL, 0, &o, &e), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_null(e);
    /* max_length at or below the special tokens, as tokenizers 0.23.3: below them nothing is truncated (its
     * unsigned max_length - added wraps), equal to them both sequences are emptied, whatever the strategy */
    static const struct { senti_truncation tr; int64_t max; bool pair; int n; int32_t ids[9]; } CUT[] = {
        {SENTI_TRUNCATE_LONGEST_FIRST, 1, false, 5, {101, 7592, 2088, 2045, 102}},
        {SENTI_TRUNCATE_LONGEST_FIRST, 2, false, 2, {101, 102}},
        {SENTI_TRUNCATE_ONLY_SECOND, 2, false, 2, {101, 102}},
        {SENTI_TRUNCATE_ONLY_FIRST, 2, true, 9, {101, 7592, 2088, 2045, 102, 2204, 2154, 6775, 102}},
        {SENTI_TRUNCATE_ONLY_SECOND, 3, true, 3, {101, 102, 102}},
    };
    for (size_t k = 0; k < sizeof CUT / sizeof *CUT; k++) {
        o.truncation = CUT[k].tr;
        o.max_length = CUT[k].max;
        ck_assert_int_eq(senti_tokenizer_encode(t, "hello world there", 17, CUT[k].pair ? "good day mate" : NULL,
                                                CUT[k].pair ? 13 : 0, &o, &e),
                         SENTI_OK);
        ck_assert_int_eq(senti_encoding_len(e), CUT[k].n);
        ck_assert_int_eq(memcmp(senti_encoding_ids(e), CUT[k].ids, (size_t)CUT[k].n * sizeof(int32_t)), 0);
        senti_encoding_free(e);
        e = NULL;
    }
    /* ids and tokens round trip; vocab lookups */
    ck_assert_int_eq(senti_tokenizer_token_to_id(t, "[CLS]"), 101);
    ck_assert_str_eq(senti_tokenizer_id_to_token(t, 102), "[SEP]");
    ck_assert_ptr_null(senti_tokenizer_id_to_token(t, 1 << 30));
    ck_assert_int_eq(senti_tokenizer_vocab_size(t), 30522);
    senti_tokenizer_free(t);
    senti_tokenizer_free(NULL);
    senti_encoding_free(NULL);
}
END_TEST

/* BertNormalizer's clean_text as the tokenizers crate: Cc, Cf and Co dropped by its
 * pre-Unicode-9 tables, so unassigned code points (Cn) and format characters
 * assigned since are kept (each becomes [UNK] here). Ids from tokenizers 0.23.3
 * on this tokenizer.json (2026-12-07). */
START_TEST(test_bert_clean_text) {
    senti_tokenizer *t = load_asset("bert-base-uncased");
    static const struct { const char *text; int32_t mid; } cases[] = {
        {"a\xef\xbf\xbf" "b", 100},     /* U+FFFF, a noncharacter (Cn): kept */
        {"a\xcd\xb8" "b", 100},          /* U+0378, unassigned (Cn): kept */
        {"a\xe0\xa2\x90" "b", 100},     /* U+0890, Cf since Unicode 14: kept */
        {"a\xf0\x93\x90\xb9" "b", 100}, /* U+13439, Cf since Unicode 15: kept */
        {"a\xc2\xad" "b", 11113},        /* U+00AD, Cf: dropped, "ab" */
        {"a\xee\x80\x80" "b", 11113},    /* U+E000, Co: dropped */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        senti_encoding *e = NULL;
        ck_assert_int_eq(senti_tokenizer_encode(t, cases[k].text, strlen(cases[k].text), NULL, 0, NULL, &e), SENTI_OK);
        ck_assert_int_eq(senti_encoding_len(e), 3);
        ck_assert_msg(senti_encoding_ids(e)[1] == cases[k].mid, "case %zu: id %d, HF %d", k, senti_encoding_ids(e)[1],
                      cases[k].mid);
        senti_encoding_free(e);
    }
    senti_tokenizer_free(t);
}
END_TEST

/* Allocation failure injection: fail the N-th allocation of an encode, for
 * every N until one succeeds; nothing may crash or leak (ASan checks leaks). */
static long g_fail_at = -1, g_count = 0;
static void *fail_alloc(size_t size, size_t align, void *user) {
    (void)user;
    if (g_fail_at >= 0 && g_count++ == g_fail_at) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : align)) return NULL;
    return p;
}
static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

START_TEST(test_alloc_failures) {
    senti_tokenizer *t = load_asset("roberta-base");
    const senti_allocator a = {fail_alloc, plain_free, NULL};
    senti_set_allocator(&a);
    const char *text = "Hello <mask> wörld, 😍 this is a test!", *pair = "and a pair";
    bool ok = false;
    for (long n = 0; n < 2000 && !ok; n++) {
        g_fail_at = n;
        g_count = 0;
        senti_encoding *e = NULL;
        senti_status st = senti_tokenizer_encode(t, text, strlen(text), pair, strlen(pair), NULL, &e);
        if (st == SENTI_OK) {
            ok = true;
            ck_assert_int_gt(senti_encoding_len(e), 5);
        } else {
            ck_assert_int_eq(st, SENTI_ERR_NO_MEMORY);
            ck_assert_ptr_null(e);
        }
        senti_encoding_free(e);
    }
    g_fail_at = -1;
    senti_set_allocator(NULL);
    ck_assert(ok);
    senti_tokenizer_free(t);
}
END_TEST

/* Encode from several threads on one tokenizer: same results as serially. */
typedef struct thr_arg { const senti_tokenizer *t; int bad; } thr_arg;
static const char *thr_texts[] = {"Hello world!", "Crème brûlée 😍 at 5€", "don't stop   me now", "我喜欢这部电影"};
static void *thr_main(void *p) {
    thr_arg *a = p;
    for (int rep = 0; rep < 200; rep++) {
        for (int i = 0; i < 4; i++) {
            senti_encoding *e = NULL;
            if (senti_tokenizer_encode(a->t, thr_texts[i], strlen(thr_texts[i]), NULL, 0, NULL, &e)) {
                a->bad++;
                continue;
            }
            char *d = senti_tokenizer_decode(a->t, e->ids, e->n, 1, NULL);
            if (!d || strcmp(d, thr_texts[i]) != 0) a->bad++;
            senti_string_free(d);
            senti_encoding_free(e);
        }
    }
    return NULL;
}

START_TEST(test_threads) {
    senti_tokenizer *t = load_asset("roberta-base");
    pthread_t th[4];
    thr_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thr_arg){t, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, thr_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
    }
    senti_tokenizer_free(t);
}
END_TEST


/* ---- llama.cpp's tokenizer test vectors (HF encode without special tokens) --- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)sz, f), (size_t)sz);
    buf[sz] = 0;
    fclose(f);
    *n = (size_t)sz;
    return buf;
}

static void run_llamacpp(const char *tok_rel, const char *vec_rel) {
    senti_tokenizer *t = load_asset(tok_rel);
    char p[8192];
    size_t ni, no;
    snprintf(p, sizeof p, "%s/%s.inp", g_assets, vec_rel);
    char *inp = slurp(p, &ni);
    snprintf(p, sizeof p, "%s/%s.out", g_assets, vec_rel);
    char *out = slurp(p, &no);
    const char *sep = "\n__ggml_vocab_test__\n";
    char *ip = inp, *op = out;
    int n = 0, bad = 0;
    senti_encode_opts o = senti_encode_opts_defaults();
    o.add_special_tokens = 0;
    while (*ip) {
        char *e = strstr(ip, sep);
        size_t tl = e ? (size_t)(e - ip) : strlen(ip);
        char *oe = strchr(op, '\n');
        if (oe) *oe = 0;
        senti_encoding *enc = NULL;
        ck_assert_int_eq(senti_tokenizer_encode(t, ip, tl, NULL, 0, &o, &enc), SENTI_OK);
        bool ok = true;
        char *q = op;
        for (int64_t k = 0; k < enc->n && ok; k++) {
            char *end;
            long v = strtol(q, &end, 10);
            if (end == q || v != enc->ids[k]) ok = false;
            q = end;
        }
        while (*q == ' ') q++;
        if (*q) ok = false;
        if (!ok) {
            if (bad < 5) fprintf(stderr, "%s: vector %d differs: '%.*s'\n  want %s\n", vec_rel, n, (int)tl, ip, op);
            bad++;
        }
        senti_encoding_free(enc);
        n++;
        if (!e || !oe) break;
        ip = e + strlen(sep);
        op = oe + 1;
    }
    fprintf(stderr, "%s: %d/%d llama.cpp vectors identical\n", vec_rel, n - bad, n);
    ck_assert_int_gt(n, 20);
    ck_assert_int_eq(bad, 0);
    free(inp);
    free(out);
    senti_tokenizer_free(t);
}

START_TEST(test_llamacpp_vectors) {
    run_llamacpp("bert-base-uncased/vocab.txt", "bert-base-uncased/llamacpp-tests/ggml-vocab-bert-bge.gguf");
    run_llamacpp("gpt2", "gpt2/llamacpp-tests/ggml-vocab-gpt-2.gguf");
    run_llamacpp("roberta-base", "roberta-base/llamacpp-tests/ggml-vocab-roberta-bpe.gguf");
    run_llamacpp("llama2/tokenizer.model", "llama2/llamacpp-tests/ggml-vocab-llama-spm.gguf");
    run_llamacpp("llama3", "llama3/llamacpp-tests/ggml-vocab-llama-bpe.gguf");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *u = tcase_create("unit");
    tcase_add_test(u, test_assets_present);
    tcase_add_test(u, test_utf8_repair);
    tcase_add_test(u, test_errors);
    tcase_add_test(u, test_bert_clean_text);
    tcase_add_test(u, test_alloc_failures);
    tcase_add_test(u, test_threads);
    suite_add_tcase(s, u);
    TCase *g = tcase_create("golden");
    tcase_set_timeout(g, 600);
    tcase_add_test(g, test_bert_uncased_json);
    tcase_add_test(g, test_bert_uncased_vocab);
    tcase_add_test(g, test_bert_chinese);
    tcase_add_test(g, test_roberta);
    tcase_add_test(g, test_gpt2);
    tcase_add_test(g, test_t5);
    tcase_add_test(g, test_llama2_model);
    tcase_add_test(g, test_spm_ja);
    tcase_add_test(g, test_spm_en);
    tcase_add_test(g, test_llama2_json);
    tcase_add_test(g, test_bpemb);
    tcase_add_test(g, test_llama3);
    tcase_add_test(g, test_synth_bpe);
    tcase_add_test(g, test_synth_wordpiece);
    tcase_add_test(g, test_synth_meta);
    tcase_add_test(g, test_deberta_spm);
    tcase_add_test(g, test_deberta_json);
    tcase_add_test(g, test_llamacpp_vectors);
    suite_add_tcase(s, g);
    return s;
}

int main(void) {
    init_paths();
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
