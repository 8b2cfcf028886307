/* test_convert.c — one-file models: `senti convert` (gguf_convert) of every
 * encoder fixture and the GGUF model / tokenizer loaders.
 *
 * - f32: the GGUF runs with the same outputs as the HF directory (bit-exact
 *   is expected; asserted <= 1e-6 relative to the output's max |value|), and
 *   keeps architecture, sizes and labels.
 * - f16 / bf16 / q8_0 / q4_0: within the measured bounds of QBOUND (error
 *   relative to the f32 output's max |value|); and the GGUF of a type gives
 *   exactly what loading the HF directory with that weight_type gives (same
 *   quantizer, same kernels).
 * - A llama.cpp-style file (tests/fixtures/gguf/bert-llamacpp.gguf, written by
 *   gguf-py with llama.cpp's tensor-name table, no senti keys) matches the
 *   transformers golden of the checkpoint it came from, and its phantom-space
 *   vocabulary tokenizes like HF tokenizers.
 * - A tokenizer.json embedded by convert round-trips: HF tokenizers' ids for
 *   the tokenizer fixtures' cases.
 * - Bad input is refused with messages naming the culprit. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "model/lm.h"
#include "model/model.h"
#include "tools/convert/convert.h"
#include "senti.h"
#include "testutil.h"

#define MAX_FIX 64
static char g_root[2048];
static char g_names[MAX_FIX][300];
static int g_n;
static char g_tmp[256];

static void init_paths(void) { test_repo_root(__FILE__, g_root, sizeof g_root); }

static void list_fixtures(void) {
    char p[2300];
    snprintf(p, sizeof p, "%s/tests/fixtures/encoders", g_root);
    g_n = test_list_dir(p, "encoders/", g_names[0], MAX_FIX - 1, sizeof g_names[0]);
    /* hidden 64: every linear weight quantizable */
    snprintf(g_names[g_n++], sizeof g_names[0], "gguf/bert-seq-h64");
}

static void setup(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/senti_test_convert_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
}
static void teardown(void) { test_rm_tree(g_tmp); }

/* The golden batch of an encoder fixture. */
typedef struct batch {
    int32_t *ids, *types, *mask;
    int64_t B, T;
} batch;

static int32_t *ints_2d(json_t *rows, int64_t B, int64_t T) {
    int32_t *v = calloc((size_t)(B * T), sizeof *v);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            v[b * T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(rows, (size_t)b), (size_t)t));
    return v;
}

static json_t *golden(const char *dir) {
    char p[2600];
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_t *g = json_load_file(p, 0, NULL);
    ck_assert_msg(g != NULL, "cannot read %s", p);
    return g;
}

static batch golden_batch(json_t *g) {
    json_t *b = json_object_get(g, "batch"), *ids;
    if (!b) b = g; /* tests/fixtures/gguf: ids and mask at the top */
    ids = json_object_get(b, "input_ids");
    batch r = {0};
    r.B = (int64_t)json_array_size(ids);
    r.T = (int64_t)json_array_size(json_array_get(ids, 0));
    r.ids = ints_2d(ids, r.B, r.T);
    r.mask = ints_2d(json_object_get(b, "attention_mask"), r.B, r.T);
    if (json_object_get(b, "token_type_ids")) r.types = ints_2d(json_object_get(b, "token_type_ids"), r.B, r.T);
    return r;
}

static void batch_free(batch *b) { free(b->ids), free(b->types), free(b->mask); }

static float *run(senti_model *m, const batch *b, int64_t *n) {
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_msg(senti_model_forward(m, b->ids, b->types, b->mask, b->B, b->T, &out, shape, &nd) == SENTI_OK, "%s",
                  senti_last_error());
    *n = 1;
    for (int i = 0; i < nd; i++) *n *= shape[i];
    return out;
}

/* max |a - b| / max|b| over the rows kept by the mask (token outputs of padding are unspecified) */
static double err_rel(const float *a, const float *b, int64_t n, const batch *bt) {
    double mx = 0, worst = 0;
    const int64_t rows = bt->B * bt->T, per = n % rows == 0 && n / rows > 0 ? n / rows : 0;
    for (int64_t i = 0; i < n; i++)
        if (!per || bt->mask[i / per]) mx = fmax(mx, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) {
        if (per && !bt->mask[i / per]) continue;
        double e = fabs((double)a[i] - b[i]) / fmax(mx, 1e-30);
        if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
    }
    return worst;
}

static senti_model *load(const char *path, senti_type wt) {
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = 1;
    o.weight_type = wt;
    senti_model *m = senti_model_load_opts(path, &o);
    ck_assert_msg(m != NULL, "%s: %s", path, senti_last_error());
    return m;
}

/* ---- f32: identical to the HF directory -------------------------------------------- */

START_TEST(test_f32_identical) {
    const char *name = g_names[_i];
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", g_root, name);
    snprintf(out, sizeof out, "%s/f32.gguf", g_tmp);
    ck_assert_msg(gguf_convert(dir, out, SENTI_TYPE_F32) == SENTI_OK, "%s: %s", name, senti_last_error());
    json_t *g = golden(dir);
    batch b = golden_batch(g);
    senti_model *hf = load(dir, SENTI_TYPE_COUNT), *gm = load(out, SENTI_TYPE_COUNT);
    ck_assert_str_eq(senti_model_architecture(hf), senti_model_architecture(gm));
    ck_assert_int_eq(senti_model_get_head(hf), senti_model_get_head(gm));
    ck_assert_int_eq(senti_model_hidden_size(hf), senti_model_hidden_size(gm));
    ck_assert_int_eq(senti_model_max_length(hf), senti_model_max_length(gm));
    ck_assert_int_eq(senti_model_num_labels(hf), senti_model_num_labels(gm));
    for (int64_t i = 0; i < senti_model_num_labels(hf); i++)
        if (senti_model_label(hf, i)) ck_assert_str_eq(senti_model_label(hf, i), senti_model_label(gm, i));
    int64_t n1, n2;
    float *y1 = run(hf, &b, &n1), *y2 = run(gm, &b, &n2);
    ck_assert_int_eq(n1, n2);
    double e = err_rel(y2, y1, n1, &b);
    ck_assert_msg(e <= 1e-6, "%s: f32 GGUF differs from the HF directory by %.3g", name, e);
    senti_model_output_free(y1), senti_model_output_free(y2);
    senti_model_free(hf), senti_model_free(gm);
    batch_free(&b);
    json_decref(g);
}
END_TEST

/* ---- reduced precision: measured bounds ---------------------------------------------- */

/* Error bounds relative to the f32 output's max |value|, over every fixture.
 * Measured worst (SENTI_TEST_VERBOSE=1 prints them; all from the hidden-64
 * fixture, the only one whose every linear weight is quantizable): f16
 * 2.5e-3, bf16 1.4e-2, q8_0 7.9e-2, q4_0 0.77 -- random N(0, 0.2) weights
 * make q4_0's 4-bit grid coarse; see bench/RESULTS.md for label agreement
 * on real text. q8_0 / q4_0 quantize the activations to q8_0 at every M (one
 * path for all batch sizes, as ggml; before, large M ran dequantized weights
 * against f32 activations and q8_0 measured 2.9e-2). Bounds: about 1.3-2x the
 * measured worst. */
static const struct { senti_type t; double bound; } QBOUND[] = {
    {SENTI_TYPE_F16, 5e-3}, {SENTI_TYPE_BF16, 3e-2}, {SENTI_TYPE_Q8_0, 1e-1}, {SENTI_TYPE_Q4_0, 1.0},
};

START_TEST(test_quant_bounds) {
    const char *name = g_names[_i];
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", g_root, name);
    json_t *g = golden(dir);
    batch b = golden_batch(g);
    senti_model *ref = load(dir, SENTI_TYPE_COUNT);
    int64_t n0;
    float *y0 = run(ref, &b, &n0);
    for (size_t k = 0; k < sizeof QBOUND / sizeof QBOUND[0]; k++) {
        const senti_type t = QBOUND[k].t;
        snprintf(out, sizeof out, "%s/%s.gguf", g_tmp, senti_type_name(t));
        ck_assert_msg(gguf_convert(dir, out, t) == SENTI_OK, "%s: %s", name, senti_last_error());
        senti_model *gm = load(out, SENTI_TYPE_COUNT), *opt = load(dir, t), *gt = load(out, t);
        int64_t n3;
        float *y3 = run(gt, &b, &n3);
        int64_t n1, n2;
        float *y1 = run(gm, &b, &n1), *y2 = run(opt, &b, &n2);
        double e = err_rel(y1, y0, n0, &b);
        if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s %s: %.3g\n", name, senti_type_name(t), e);
        ck_assert_msg(e <= QBOUND[k].bound, "%s %s: error %.3g over the bound %.3g", name, senti_type_name(t), e,
                      QBOUND[k].bound);
        /* same weights whichever way they were converted, when run in the same type (a bf16 / f16
         * file run as stored computes in f32) */
        ck_assert_msg(memcmp(y3, y2, (size_t)n1 * sizeof(float)) == 0,
                      "%s %s: the GGUF and the HF directory loaded as %s differ", name, senti_type_name(t),
                      senti_type_name(t));
        if (senti_type_is_quant(t))
            ck_assert_msg(memcmp(y1, y2, (size_t)n1 * sizeof(float)) == 0, "%s %s: quantized weights not kept",
                          name, senti_type_name(t));
        senti_model_output_free(y1), senti_model_output_free(y2), senti_model_output_free(y3);
        senti_model_free(gm), senti_model_free(opt), senti_model_free(gt);
    }
    senti_model_output_free(y0);
    senti_model_free(ref);
    batch_free(&b);
    json_decref(g);
}
END_TEST

/* The quantized files really hold quantized linear weights. */
START_TEST(test_stored_types) {
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    snprintf(out, sizeof out, "%s/q.gguf", g_tmp);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_Q8_0) == SENTI_OK);
    gguf_file *f = gguf_file_load(out);
    ck_assert_ptr_nonnull(f);
    /* K = 32 for ffn_down: quantized; K = 24 elsewhere: not a multiple of the block, kept f32 */
    ck_assert_int_eq(gguf_file_find_tensor(f, "blk.0.ffn_down.weight")->type, SENTI_TYPE_Q8_0);
    ck_assert_int_eq(gguf_file_find_tensor(f, "blk.0.attn_q.weight")->type, SENTI_TYPE_F32);
    ck_assert_int_eq(gguf_file_find_tensor(f, "token_embd.weight")->type, SENTI_TYPE_F32);
    ck_assert_int_eq(gguf_file_find_tensor(f, "cls.output.weight")->type, SENTI_TYPE_F32);
    const gguf_value *lab = gguf_file_find_kv(f, "bert.classifier.output_labels");
    ck_assert_ptr_nonnull(lab);
    ck_assert_int_eq(lab->v.arr.n, 3);
    ck_assert_str_eq(lab->v.arr.items[2].v.str.s, "positive");
    ck_assert_uint_eq(gguf_file_find_kv(f, "general.file_type")->v.u, 7);
    ck_assert_ptr_nonnull(gguf_file_find_kv(f, "senti.hf.config"));
    gguf_file_free(f);
    senti_model *m = load(out, SENTI_TYPE_COUNT);
    ck_assert_ptr_nonnull(strstr(senti_model_weight_dtypes(m), "q8_0"));
    senti_model_free(m);
}
END_TEST

/* An outside probe's findings (2026-12-07): an architecture written under its HF names (DeBERTa) gets its
 * linear weights in the asked type too, general.file_type names the type the weights got (f32 when none could
 * take it), the folder's name survives a trailing slash, --meta keys and values are checked. */
START_TEST(test_convert_probe) {
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/deberta-nli", g_root);
    snprintf(out, sizeof out, "%s/d.gguf", g_tmp);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_Q8_0) == SENTI_OK);
    gguf_file *f = gguf_file_load(out);
    ck_assert_ptr_nonnull(f);
    int64_t q8 = 0;
    for (int64_t i = 0; i < gguf_file_tensor_count(f); i++) q8 += gguf_file_tensor(f, i)->type == SENTI_TYPE_Q8_0;
    ck_assert_int_gt(q8, 0);
    ck_assert_uint_eq(gguf_file_find_kv(f, "general.file_type")->v.u, 7);
    gguf_file_free(f);
    /* hidden 24: no linear weight can be q8_0 (K = 32 only in ffn_down of h24-a3; none in h24-a6-l1) */
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a6-l1-relu-stars/", g_root);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_Q8_0) == SENTI_OK);
    f = gguf_file_load(out);
    int64_t nq = 0;
    for (int64_t i = 0; i < gguf_file_tensor_count(f); i++) nq += gguf_file_tensor(f, i)->type != SENTI_TYPE_F32;
    ck_assert_int_eq(gguf_file_find_kv(f, "general.file_type")->v.u, nq ? 7 : 0);
    ck_assert_str_eq(gguf_file_find_kv(f, "general.name")->v.str.s, "bert-seq-h24-a6-l1-relu-stars");
    gguf_file_free(f);
    const char *bad_key[] = {"Bad Key=1"}, *bad_val[] = {"general.description=caf\xe9"};
    gguf_convert_opts o = {.type = SENTI_TYPE_F32, .embed_type = SENTI_TYPE_F32, .meta = bad_key, .n_meta = 1};
    ck_assert(gguf_convert_with(dir, out, &o) == SENTI_ERR_INVALID_ARG);
    assert_msg_has("meta key", "Bad Key", NULL);
    o.meta = bad_val;
    ck_assert(gguf_convert_with(dir, out, &o) == SENTI_ERR_INVALID_ARG);
    assert_msg_has("meta utf-8", "general.description", NULL);
}
END_TEST

/* The hidden-64 fixture end to end from one file: the embedded tokenizer
 * gives transformers' ids, the f32 file transformers' logits. */
START_TEST(test_h64_text) {
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/gguf/bert-seq-h64", g_root);
    snprintf(out, sizeof out, "%s/h64.gguf", g_tmp);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_F32) == SENTI_OK);
    json_t *g = golden(dir);
    batch b = golden_batch(g);
    senti_tokenizer *tok = senti_tokenizer_load(out);
    ck_assert_msg(tok != NULL, "%s", senti_last_error());
    json_t *texts = json_object_get(g, "texts");
    for (int64_t i = 0; i < b.B; i++) {
        const char *t = json_string_value(json_array_get(texts, (size_t)i));
        senti_encoding *e;
        ck_assert(senti_tokenizer_encode(tok, t, strlen(t), NULL, 0, NULL, &e) == SENTI_OK);
        for (int64_t k = 0; k < b.T; k++)
            ck_assert_int_eq(k < senti_encoding_len(e) ? senti_encoding_ids(e)[k] : 0, b.ids[i * b.T + k]);
        senti_encoding_free(e);
    }
    senti_tokenizer_free(tok);
    senti_model *m = load(out, SENTI_TYPE_COUNT);
    ck_assert_str_eq(senti_model_label(m, 2), "positive");
    int64_t n;
    float *y = run(m, &b, &n);
    json_t *lg = json_object_get(g, "logits");
    float *r = malloc((size_t)n * sizeof *r);
    for (int64_t i = 0; i < n; i++)
        r[i] = (float)json_number_value(json_array_get(json_array_get(lg, (size_t)(i / 3)), (size_t)(i % 3)));
    double e = err_rel(y, r, n, &b);
    ck_assert_msg(e <= 1e-4, "h64 GGUF vs transformers: %.3g", e);
    free(r);
    senti_model_output_free(y);
    senti_model_free(m);
    batch_free(&b);
    json_decref(g);
}
END_TEST

/* A copy of GGUF `src` at `dst` with only the tokenizer.ggml.* keys: what
 * llama.cpp's tools read, without senti's tokenizer.huggingface.json
 * (no_bos: add_bos_token false). */
static void ggml_tokenizer_only(const char *src, const char *dst, bool no_bos) {
    gguf_file *f = gguf_file_load(src);
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    gguf_writer *w = gguf_writer_init();
    for (int64_t i = 0; i < gguf_file_kv_count(f); i++) {
        const char *k = gguf_file_kv_key(f, i);
        if (strncmp(k, "tokenizer.ggml.", 15)) continue;
        const bool bos = !strcmp(k, "tokenizer.ggml.add_bos_token");
        const gguf_value v = bos && no_bos ? gguf_val_bool(false) : *gguf_file_kv_value(f, i);
        ck_assert(gguf_writer_add_kv(w, k, v) == SENTI_OK);
    }
    ck_assert_msg(gguf_writer_write(w, dst) == SENTI_OK, "%s", senti_last_error());
    gguf_writer_free(w);
    gguf_file_free(f);
}

/* The tokenizer of `path` gives the ids of tests/fixtures/gguf/<cases> for each text. */
static void check_tok_cases(const char *path, const char *cases_file) {
    char p[2400];
    senti_tokenizer *tok = senti_tokenizer_load(path);
    ck_assert_msg(tok != NULL, "%s", senti_last_error());
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/%s", g_root, cases_file);
    json_t *g = json_load_file(p, 0, NULL), *cases = json_object_get(g, "cases");
    ck_assert_int_gt((int)json_array_size(cases), 0);
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *ids = json_object_get(c, "ids");
        const char *text = json_string_value(json_object_get(c, "text"));
        senti_encoding *enc;
        ck_assert(senti_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &enc) == SENTI_OK);
        ck_assert_msg(senti_encoding_len(enc) == (int64_t)json_array_size(ids), "'%s': %lld tokens, expected %zu",
                      text, (long long)senti_encoding_len(enc), json_array_size(ids));
        for (int64_t k = 0; k < senti_encoding_len(enc); k++)
            ck_assert_msg(senti_encoding_ids(enc)[k] == json_integer_value(json_array_get(ids, (size_t)k)),
                          "'%s': token %lld", text, (long long)k);
        senti_encoding_free(enc);
    }
    json_decref(g);
    senti_tokenizer_free(tok);
}

/* ---- llama.cpp-style file --------------------------------------------------------- */

START_TEST(test_llamacpp_bert) {
    char p[2400], dir[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/bert-llamacpp.gguf", g_root);
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-base-h30-a3-l3-gelu", g_root);
    json_t *g = golden(dir);
    batch b = golden_batch(g);
    senti_model *m = load(p, SENTI_TYPE_COUNT);
    ck_assert_str_eq(senti_model_architecture(m), "BertModel");
    int64_t n;
    float *y = run(m, &b, &n);
    json_t *ref = json_object_get(json_object_get(g, "outputs"), "last_hidden_state");
    json_t *data = json_object_get(ref, "data");
    ck_assert_int_eq((int64_t)json_array_size(data), n);
    float *r = malloc((size_t)n * sizeof *r);
    for (int64_t i = 0; i < n; i++) r[i] = (float)json_number_value(json_array_get(data, (size_t)i));
    double e = err_rel(y, r, n, &b);
    ck_assert_msg(e <= 1e-4, "llama.cpp-style BERT vs transformers: %.3g", e);
    free(r);
    senti_model_output_free(y);
    senti_model_free(m);
    batch_free(&b);
    json_decref(g);

    /* its phantom-space vocabulary tokenizes like HF's BertWordPieceTokenizer */
    check_tok_cases(p, "bert-llamacpp-tok.json");
}
END_TEST

/* llama.cpp's converter on a LLaMA with the Llama-2 tokenizer.model: its
 * "llama" (SentencePiece) vocabulary rebuilt from tokens, scores and types
 * gives transformers' ids. */
START_TEST(test_llamacpp_spm) {
    char p[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/llamacpp-spm.gguf", g_root);
    gguf_file *f = gguf_file_load(p);
    ck_assert_msg(f != NULL, "%s", senti_last_error());
    ck_assert_str_eq(gguf_file_find_kv(f, "tokenizer.ggml.model")->v.str.s, "llama");
    ck_assert_ptr_null(gguf_file_find_kv(f, "tokenizer.huggingface.json"));
    gguf_file_free(f);
    check_tok_cases(p, "llamacpp-spm-tok.json");
    /* tokenizer.ggml.add_bos_token false: the same ids without the leading <s> */
    char only[512];
    snprintf(only, sizeof only, "%s/nobos.gguf", g_tmp);
    ggml_tokenizer_only(p, only, true);
    senti_tokenizer *tok = senti_tokenizer_load(only);
    ck_assert_msg(tok != NULL, "%s", senti_last_error());
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/llamacpp-spm-tok.json", g_root);
    json_t *g = json_load_file(p, 0, NULL), *c = json_array_get(json_object_get(g, "cases"), 1);
    json_t *ids = json_object_get(c, "ids");
    const char *text = json_string_value(json_object_get(c, "text"));
    senti_encoding *enc;
    ck_assert(senti_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &enc) == SENTI_OK);
    ck_assert_int_eq(json_integer_value(json_array_get(ids, 0)), 1);
    ck_assert_int_eq(senti_encoding_len(enc), (int64_t)json_array_size(ids) - 1);
    for (int64_t k = 0; k < senti_encoding_len(enc); k++)
        ck_assert_int_eq(senti_encoding_ids(enc)[k], json_integer_value(json_array_get(ids, (size_t)k + 1)));
    senti_encoding_free(enc);
    senti_tokenizer_free(tok);
    json_decref(g);
}
END_TEST

/* ---- decoders ------------------------------------------------------------------------ */

/* senti convert writes llama.cpp's tokenizer keys: for the LLaMA fixture
 * (SentencePiece-style BPE: "llama") and the Qwen2 one (byte-level: "gpt2"),
 * the tokens / merges / special ids of tokenizer.json, and a tokenizer built
 * from those keys alone encodes like tokenizer.json (verified against
 * transformers elsewhere). */
static const char *const LLM_FIX[] = {"llama", "qwen2"};
START_TEST(test_tokenizer_keys) {
    const bool llama = _i == 0;
    char dir[2400], p[2600], out[512], only[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/llm/%s", g_root, LLM_FIX[_i]);
    snprintf(out, sizeof out, "%s/t.gguf", g_tmp);
    ck_assert_msg(gguf_convert(dir, out, SENTI_TYPE_F32) == SENTI_OK, "%s", senti_last_error());
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    json_t *tj = json_load_file(p, 0, NULL), *model = json_object_get(tj, "model");
    json_t *vocab = json_object_get(model, "vocab"), *merges = json_object_get(model, "merges");
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *cj = json_load_file(p, 0, NULL);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    json_t *kj = json_load_file(p, JSON_DECODE_INT_AS_REAL, NULL);
    ck_assert(tj && cj && kj);
    gguf_file *f = gguf_file_load(out);
    ck_assert_str_eq(gguf_file_find_kv(f, "tokenizer.ggml.model")->v.str.s, llama ? "llama" : "gpt2");
    ck_assert_str_eq(gguf_file_find_kv(f, "tokenizer.ggml.pre")->v.str.s, llama ? "default" : "gpt-2");
    const gguf_value *toks = gguf_file_find_kv(f, "tokenizer.ggml.tokens");
    const gguf_value *types = gguf_file_find_kv(f, "tokenizer.ggml.token_type");
    ck_assert_int_eq((int64_t)toks->v.arr.n, json_integer_value(json_object_get(cj, "vocab_size")));
    ck_assert_int_eq((int64_t)types->v.arr.n, (int64_t)toks->v.arr.n);
    const char *k;
    json_t *v;
    json_object_foreach(vocab, k, v) {
        ck_assert_str_eq(toks->v.arr.items[json_integer_value(v)].v.str.s, k);
        const int64_t ty = gguf_arr_get(types, (uint64_t)json_integer_value(v)).v.i;
        if (llama && strlen(k) == 6 && !strncmp(k, "<0x", 3)) ck_assert_int_eq(ty, 6);
    }
    size_t i;
    json_array_foreach(json_object_get(tj, "added_tokens"), i, v) {
        const int64_t id = json_integer_value(json_object_get(v, "id")), ty = gguf_arr_get(types, (uint64_t)id).v.i;
        ck_assert_int_eq(ty, !strcmp(json_string_value(json_object_get(v, "content")), "<unk>") ? 2 : 3);
    }
    const gguf_value *gm = gguf_file_find_kv(f, "tokenizer.ggml.merges");
    if (llama) {
        ck_assert_int_eq((int64_t)gguf_file_find_kv(f, "tokenizer.ggml.scores")->v.arr.n, (int64_t)toks->v.arr.n);
    } else {
        ck_assert_int_eq((int64_t)gm->v.arr.n, (int64_t)json_array_size(merges));
        json_t *m0 = json_array_get(merges, 0);
        char first[256];
        if (json_is_string(m0)) snprintf(first, sizeof first, "%s", json_string_value(m0));
        else snprintf(first, sizeof first, "%s %s", json_string_value(json_array_get(m0, 0)),
                      json_string_value(json_array_get(m0, 1)));
        ck_assert_str_eq(gm->v.arr.items[0].v.str.s, first);
    }
    static const char *const SPECIAL[][2] = {{"bos_token", "tokenizer.ggml.bos_token_id"},
                                             {"eos_token", "tokenizer.ggml.eos_token_id"},
                                             {"pad_token", "tokenizer.ggml.padding_token_id"}};
    for (int s = 0; s < 3; s++) {
        json_t *t = json_object_get(kj, SPECIAL[s][0]);
        const gguf_value *id = gguf_file_find_kv(f, SPECIAL[s][1]);
        if (!json_is_string(t)) continue;
        ck_assert_ptr_nonnull(id);
        ck_assert_str_eq(toks->v.arr.items[id->v.u].v.str.s, json_string_value(t));
    }
    ck_assert_int_eq(gguf_file_find_kv(f, "tokenizer.ggml.add_bos_token")->v.b, llama);
    gguf_file_free(f);

    snprintf(only, sizeof only, "%s/only.gguf", g_tmp);
    ggml_tokenizer_only(out, only, false);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    senti_tokenizer *ref = senti_tokenizer_load(p), *tok = senti_tokenizer_load(only);
    ck_assert_msg(ref && tok, "%s", senti_last_error());
    /* no leading space: a "llama" vocabulary prepends U+2581 always (llama.cpp, legacy
     * LlamaTokenizer), this tokenizer.json's Metaspace only when there is none; for the
     * same reason (legacy: after every special token too) no "llama" text with <s> */
    static const char *const TEXTS[] = {"Hello world", "the cat sat on the mat", "Great movie, loved it!",
                                        "two  spaces\nnew line", "caf\xc3\xa9 na\xc3\xafve \xe2\x80\x93 12345",
                                        "\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "a<s>b</s>c"};
    for (size_t t = 0; t < sizeof TEXTS / sizeof TEXTS[0]; t++) {
        if (llama && strchr(TEXTS[t], '<')) continue;
        senti_encoding *a, *b;
        ck_assert(senti_tokenizer_encode(ref, TEXTS[t], strlen(TEXTS[t]), NULL, 0, NULL, &a) == SENTI_OK);
        ck_assert(senti_tokenizer_encode(tok, TEXTS[t], strlen(TEXTS[t]), NULL, 0, NULL, &b) == SENTI_OK);
        ck_assert_int_eq(senti_encoding_len(a), senti_encoding_len(b));
        for (int64_t j = 0; j < senti_encoding_len(a); j++)
            ck_assert_msg(senti_encoding_ids(a)[j] == senti_encoding_ids(b)[j], "%s '%s' token %lld", LLM_FIX[_i],
                          TEXTS[t], (long long)j);
        senti_encoding_free(a), senti_encoding_free(b);
    }
    senti_tokenizer_free(ref), senti_tokenizer_free(tok);
    json_decref(tj), json_decref(cj), json_decref(kj);
}
END_TEST

static const char *const DEC_FIX[] = {"gpt2", "llama-gqa", "llama-rope-dynamic", "llama-rope-linear",
                                      "llama-rope-llama3", "llama-tied-bias-hd16", "mistral-swa6",
                                      "qwen2-swa4-layer1", "qwen2-tied", "gemma3-tied-swa4-softcap", "gemma3-mqa-untied"};

/* Prefill logits [T, V] of golden prompt 0 (ids into *ids, T into *T). */
static float *dec_prompt(json_t *g, int32_t **ids, int64_t *T, int64_t *n) {
    json_t *pr = json_array_get(json_object_get(g, "prompts"), 0), *in = json_object_get(pr, "input_ids");
    json_t *data = json_object_get(json_object_get(pr, "prefill_logits"), "data");
    *T = (int64_t)json_array_size(in);
    *ids = malloc((size_t)*T * sizeof **ids);
    for (int64_t i = 0; i < *T; i++) (*ids)[i] = (int32_t)json_integer_value(json_array_get(in, (size_t)i));
    *n = (int64_t)json_array_size(data);
    float *r = malloc((size_t)*n * sizeof *r);
    for (int64_t i = 0; i < *n; i++) r[i] = (float)json_number_value(json_array_get(data, (size_t)i));
    return r;
}

static float *dec_run(senti_model *m, const int32_t *ids, int64_t T, int64_t n) {
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_msg(senti_model_forward(m, ids, NULL, NULL, 1, T, &out, shape, &nd) == SENTI_OK, "%s",
                  senti_last_error());
    ck_assert_int_eq(shape[0] * shape[1] * shape[2], n);
    return out;
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double mx = 0, e = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]) / fmax(mx, 1e-30));
    return e;
}

/* Every decoder fixture converted: f32 runs bit-identically to the HF
 * directory; q8_0 within a bound, its linear weights computed in q8_0 as
 * stored (GPT-2's, transposed in the file, as f32) and bit-identical to the
 * HF directory loaded with weight type q8_0; decoders' keys as llama.cpp
 * names them. */
START_TEST(test_decoder_convert) {
    const char *name = DEC_FIX[_i];
    char dir[2400], out[512];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/decoders/%s", g_root, name);
    json_t *g = golden(dir);
    int32_t *ids;
    int64_t T, n;
    float *ref = dec_prompt(g, &ids, &T, &n);
    senti_model *hf = load(dir, SENTI_TYPE_COUNT);
    float *y0 = dec_run(hf, ids, T, n);
    ck_assert_msg(max_rel(y0, ref, n) <= 1e-4, "%s: HF directory vs transformers", name);
    snprintf(out, sizeof out, "%s/d.gguf", g_tmp);
    ck_assert_msg(gguf_convert(dir, out, SENTI_TYPE_F32) == SENTI_OK, "%s: %s", name, senti_last_error());
    senti_model *gm = load(out, SENTI_TYPE_COUNT);
    ck_assert_str_eq(senti_model_architecture(gm), senti_model_architecture(hf));
    float *y1 = dec_run(gm, ids, T, n);
    ck_assert_msg(memcmp(y0, y1, (size_t)n * sizeof *y0) == 0, "%s: f32 GGUF differs from the HF directory", name);
    gguf_file *f = gguf_file_load(out);
    const char *arch = gguf_file_find_kv(f, "general.architecture")->v.str.s;
    ck_assert(!strcmp(arch, "llama") || !strcmp(arch, "qwen2") || !strcmp(arch, "gpt2") || !strcmp(arch, "gemma3"));
    char key[96];
    snprintf(key, sizeof key, "%s.block_count", arch);
    ck_assert_ptr_nonnull(gguf_file_find_kv(f, key));
    ck_assert_ptr_nonnull(gguf_file_find_tensor(f, "blk.0.attn_norm.weight"));
    gguf_file_free(f);
    senti_model_output_free(y1);
    senti_model_free(gm);

    snprintf(out, sizeof out, "%s/d8.gguf", g_tmp);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_Q8_0) == SENTI_OK);
    gm = load(out, SENTI_TYPE_COUNT);
    y1 = dec_run(gm, ids, T, n);
    const double e = max_rel(y1, y0, n);
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s q8_0: %.3g\n", name, e);
    /* measured worst 0.0815 (llama-rope-dynamic; activations quantized to q8_0 at
     * every M), random-weight logits relative to their max */
    ck_assert_msg(e > 0 && e <= 1.1e-1, "%s: q8_0 GGUF error %.3g", name, e);
    const bool gpt2 = !strcmp(name, "gpt2");
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s q8_0 held as %s\n", name, lm_weight_types(gm));
    if (gpt2) ck_assert_str_eq(lm_weight_types(gm), "f32");
    else ck_assert_ptr_nonnull(strstr(lm_weight_types(gm), "q8_0"));
    senti_model *hq = load(dir, SENTI_TYPE_Q8_0), *gq = load(out, SENTI_TYPE_Q8_0);
    float *yh = dec_run(hq, ids, T, n), *yg = dec_run(gq, ids, T, n);
    ck_assert_str_eq(lm_weight_types(gq), lm_weight_types(hq));
    if (!gpt2) { /* same q8_0 blocks (the file's, in place) and the same kernels */
        ck_assert_msg(memcmp(yh, yg, (size_t)n * sizeof *yh) == 0, "%s: q8_0 GGUF vs HF q8_0", name);
        if (!strstr(name, "tied")) /* lm_head in the file (a tied one is f32 there, q8_0 in hq) */
            ck_assert_msg(memcmp(yh, y1, (size_t)n * sizeof *yh) == 0, "%s: q8_0 GGUF as stored", name);
    }
    senti_model_output_free(yh), senti_model_output_free(yg);
    senti_model_free(hq), senti_model_free(gq);
    senti_model_output_free(y1);
    senti_model_free(gm);
    senti_model_output_free(y0);
    senti_model_free(hf);
    free(ids), free(ref);
    json_decref(g);
}
END_TEST

/* llama.cpp-style decoder files (tests/fixtures/gguf/llamacpp-*.gguf: gguf-py
 * with llama.cpp's tensor names, q/k permutation and GPT-2 transposes, no
 * senti keys) against the transformers goldens of their checkpoints. */
static const char *const LLAMACPP_DEC[] = {"llama-gqa", "qwen2-tied", "gpt2"};

START_TEST(test_llamacpp_decoders) {
    const char *name = LLAMACPP_DEC[_i];
    char dir[2400], p[2400];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/decoders/%s", g_root, name);
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/llamacpp-%s.gguf", g_root, name);
    json_t *g = golden(dir);
    int32_t *ids;
    int64_t T, n;
    float *ref = dec_prompt(g, &ids, &T, &n);
    senti_model *m = load(p, SENTI_TYPE_COUNT);
    float *y = dec_run(m, ids, T, n);
    const double e = max_rel(y, ref, n);
    ck_assert_msg(e <= 1e-4, "%s: llama.cpp-style GGUF vs transformers: %.3g", name, e);
    senti_model_output_free(y);
    senti_model_free(m);
    free(ids), free(ref);
    json_decref(g);
}
END_TEST

/* Files made by llama.cpp itself (tests/fixtures/gguf/llamacpp/, copied from
 * make_llamacpp_ggufs.py's output: convert_hf_to_gguf.py, llama-quantize):
 * the embedded tokenizer gives transformers' ids; the last 3 positions of the
 * output match transformers (f32 / f16 files) and llama.cpp's own output for
 * the same file (every type; llama.cpp quantizes activations to 8 bits, senti
 * computes them in f32, so quantized files agree to a few percent). */
static const char *const LLAMACPP_REAL[] = {"bert-base-h32-l2-f32.gguf", "gpt2-h64-l2-q8_0.gguf",
                                            "llama-h64-l2-f16.gguf", "qwen2-h64-l2-q8_0.gguf",
                                            "llama-h256-l1-Q4_K_M.gguf", "llama-h256-l1-Q6_K.gguf"};

static double rows_err(const float *y, json_t *rows, int64_t W) {
    double mx = 0, e = 0;
    for (size_t r = 0; r < json_array_size(rows); r++)
        for (int64_t k = 0; k < W; k++) mx = fmax(mx, fabs(json_number_value(json_array_get(json_array_get(rows, r), (size_t)k))));
    for (size_t r = 0; r < json_array_size(rows); r++)
        for (int64_t k = 0; k < W; k++) {
            const double ref = json_number_value(json_array_get(json_array_get(rows, r), (size_t)k));
            e = fmax(e, fabs(y[(int64_t)r * W + k] - ref) / fmax(mx, 1e-30));
        }
    return e;
}

START_TEST(test_llamacpp_real) {
    const char *fn = LLAMACPP_REAL[_i];
    char p[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/llamacpp/golden.json", g_root);
    json_t *g = json_load_file(p, 0, NULL), *e = json_object_get(json_object_get(g, "files"), fn);
    ck_assert_msg(e != NULL, "%s: no golden", fn);
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/llamacpp/%s", g_root, fn);
    senti_tokenizer *tok = senti_tokenizer_load(p);
    ck_assert_msg(tok != NULL, "%s: %s", fn, senti_last_error());
    const char *text = json_string_value(json_object_get(e, "text"));
    json_t *ids = json_object_get(e, "ids");
    senti_encoding *enc;
    ck_assert(senti_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &enc) == SENTI_OK);
    const int64_t T = senti_encoding_len(enc), W = json_integer_value(json_object_get(e, "width"));
    ck_assert_int_eq(T, (int64_t)json_array_size(ids));
    for (int64_t k = 0; k < T; k++)
        ck_assert_msg(senti_encoding_ids(enc)[k] == json_integer_value(json_array_get(ids, (size_t)k)),
                      "%s: token %lld differs from transformers", fn, (long long)k);
    senti_model *m = load(p, SENTI_TYPE_COUNT);
    float *out = NULL;
    int64_t shape[3];
    int nd;
    ck_assert_msg(senti_model_forward(m, senti_encoding_ids(enc), NULL, NULL, 1, T, &out, shape, &nd) == SENTI_OK,
                  "%s: %s", fn, senti_last_error());
    ck_assert_int_eq(shape[1], T);
    ck_assert_int_eq(shape[2], W);
    const float *last = out + (T - 3) * W;
    const bool exact = strstr(fn, "-f32.") || strstr(fn, "-f16.");
    const double e_lc = rows_err(last, json_object_get(e, "llamacpp"), W), e_hf = rows_err(last, json_object_get(e, "hf"), W);
    if (getenv("SENTI_TEST_VERBOSE")) fprintf(stderr, "%s: vs llama.cpp %.3g, vs transformers %.3g\n", fn, e_lc, e_hf);
    /* measured: f32 1.6e-4 / 2e-7, f16 8e-4 / 8e-4, q8_0 <= 2.5e-2, Q4_K_M 3.7e-2, Q6_K 3.0e-2 vs llama.cpp
     * (K-quant weights computed as stored; Q4_K_M's mixed q/k/v made q8_0) */
    ck_assert_msg(e_lc <= (exact ? 3e-3 : 8e-2), "%s: %.3g from llama.cpp's output", fn, e_lc);
    if (exact) ck_assert_msg(e_hf <= 3e-3, "%s: %.3g from transformers' output", fn, e_hf);
    senti_model_output_free(out);
    senti_model_free(m);
    senti_encoding_free(enc);
    senti_tokenizer_free(tok);
    json_decref(g);
}
END_TEST

/* ---- embedded tokenizer.json ---------------------------------------------------------- */

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert_msg(a && b, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) ck_assert_uint_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

static const char *const TOK_FIX[] = {"synth-wordpiece", "synth-bpe", "synth-meta"};

START_TEST(test_tokenizer_roundtrip) {
    const char *tn = TOK_FIX[_i];
    char src[2400], dst[512], out[2400];
    snprintf(dst, sizeof dst, "%s/m", g_tmp);
    mkdir(dst, 0755);
    snprintf(src, sizeof src, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu/config.json", g_root);
    snprintf(out, sizeof out, "%s/config.json", dst);
    copy_file(src, out);
    snprintf(src, sizeof src, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu/model.safetensors", g_root);
    snprintf(out, sizeof out, "%s/model.safetensors", dst);
    copy_file(src, out);
    snprintf(src, sizeof src, "%s/tests/fixtures/tokenizer/%s.tokenizer.json", g_root, tn);
    snprintf(out, sizeof out, "%s/tokenizer.json", dst);
    copy_file(src, out);
    snprintf(out, sizeof out, "%s/t.gguf", g_tmp);
    ck_assert_msg(gguf_convert(dst, out, SENTI_TYPE_F32) == SENTI_OK, "%s", senti_last_error());
    senti_tokenizer *tok = senti_tokenizer_load(out);
    ck_assert_msg(tok != NULL, "%s", senti_last_error());
    snprintf(src, sizeof src, "%s/tests/fixtures/tokenizer/%s.json", g_root, tn);
    json_t *g = json_load_file(src, 0, NULL), *cases = json_object_get(g, "cases");
    int checked = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *ids = json_object_get(c, "ids");
        json_t *jt = json_object_get(c, "t"), *jp = json_object_get(c, "p");
        if (!json_is_string(jt) || !json_is_array(ids) || json_object_get(c, "tr") || json_object_get(c, "err") ||
            json_object_get(c, "ph"))
            continue;
        senti_encode_opts o = senti_encode_opts_defaults();
        o.add_special_tokens = (int)json_integer_value(json_object_get(c, "s"));
        senti_encoding *enc;
        const char *pt = json_is_string(jp) ? json_string_value(jp) : NULL;
        ck_assert(senti_tokenizer_encode(tok, json_string_value(jt), json_string_length(jt), pt,
                                         pt ? json_string_length(jp) : 0, &o, &enc) == SENTI_OK);
        ck_assert_int_eq(senti_encoding_len(enc), (int64_t)json_array_size(ids));
        for (int64_t k = 0; k < senti_encoding_len(enc); k++)
            ck_assert_int_eq(senti_encoding_ids(enc)[k], json_integer_value(json_array_get(ids, (size_t)k)));
        senti_encoding_free(enc);
        checked++;
    }
    ck_assert_int_gt(checked, 5);
    json_decref(g);
    senti_tokenizer_free(tok);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

START_TEST(test_errors) {
    char out[512], dir[2400];
    snprintf(out, sizeof out, "%s/x.gguf", g_tmp);
    ck_assert(gguf_convert("/nonexistent/model", out, SENTI_TYPE_F32) != SENTI_OK);
    assert_msg_has("missing dir", "/nonexistent/model", NULL);
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encoders/bert-seq-h24-a3-l2-gelu", g_root);
    ck_assert(gguf_convert(dir, out, SENTI_TYPE_I32) == SENTI_ERR_INVALID_ARG);
    assert_msg_has("bad type", "i32", NULL);
    ck_assert(gguf_convert(dir, "/nonexistent/dir/x.gguf", SENTI_TYPE_F32) == SENTI_ERR_IO);
    assert_msg_has("unwritable", "/nonexistent/dir/x.gguf", NULL);

    /* unsupported architecture, malformed embedded config, no tokenizer */
    gguf_writer *w = gguf_writer_init();
    ck_assert(gguf_writer_add_kv(w, "general.architecture", gguf_val_str("mamba")) == SENTI_OK);
    ck_assert(gguf_writer_write(w, out) == SENTI_OK);
    gguf_writer_free(w);
    ck_assert_ptr_null(senti_model_load(out, 1));
    assert_msg_has("arch", "mamba", "general.architecture", NULL);
    ck_assert_ptr_null(senti_tokenizer_load(out));
    assert_msg_has("no tokenizer", "x.gguf", "no tokenizer", NULL);

    w = gguf_writer_init();
    ck_assert(gguf_writer_add_kv(w, "general.architecture", gguf_val_str("bert")) == SENTI_OK);
    ck_assert(gguf_writer_add_kv(w, "senti.hf.config", gguf_val_str("{\"architectures\": [")) == SENTI_OK);
    ck_assert(gguf_writer_add_kv(w, "tokenizer.ggml.model", gguf_val_str("rwkv")) == SENTI_OK);
    ck_assert(gguf_writer_write(w, out) == SENTI_OK);
    gguf_writer_free(w);
    ck_assert_ptr_null(senti_model_load(out, 1));
    assert_msg_has("bad config", "senti.hf.config", "malformed", NULL);
    ck_assert_ptr_null(senti_tokenizer_load(out));
    assert_msg_has("tokenizer model", "rwkv", NULL);

    /* a llama.cpp bert file without its hyperparameters */
    w = gguf_writer_init();
    ck_assert(gguf_writer_add_kv(w, "general.architecture", gguf_val_str("bert")) == SENTI_OK);
    ck_assert(gguf_writer_write(w, out) == SENTI_OK);
    gguf_writer_free(w);
    ck_assert_ptr_null(senti_model_load(out, 1));
    assert_msg_has("no keys", "bert.embedding_length", NULL);

    /* a tensor missing from a converted file names it */
    char full[512];
    snprintf(full, sizeof full, "%s/full.gguf", g_tmp);
    ck_assert(gguf_convert(dir, full, SENTI_TYPE_F32) == SENTI_OK);
    gguf_file *f = gguf_file_load(full);
    w = gguf_writer_init();
    for (int64_t i = 0; i < gguf_file_kv_count(f); i++)
        ck_assert(gguf_writer_add_kv(w, gguf_file_kv_key(f, i), *gguf_file_kv_value(f, i)) == SENTI_OK);
    for (int64_t i = 0; i < gguf_file_tensor_count(f); i++) {
        const gguf_tensor *t = gguf_file_tensor(f, i);
        if (strcmp(t->name, "blk.1.attn_v.weight") == 0) continue;
        ck_assert(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data) == SENTI_OK);
    }
    ck_assert(gguf_writer_write(w, out) == SENTI_OK);
    gguf_writer_free(w);
    gguf_file_free(f);
    ck_assert_ptr_null(senti_model_load(out, 1));
    assert_msg_has("missing tensor", "x.gguf", "encoder.layer.1.attention.self.value.weight", "missing", NULL);
}
END_TEST

/* Allocation failures while opening a GGUF model: an error, never a crash or leak. */
START_TEST(test_alloc_failures) {
    char p[2400];
    snprintf(p, sizeof p, "%s/tests/fixtures/gguf/bert-llamacpp.gguf", g_root);
    senti_set_allocator(&(senti_allocator){count_alloc, count_free, NULL});
    bool done = false;
    for (g_fail_at = 0; !done && g_fail_at < 100000; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        senti_clear_error();
        senti_model *m = senti_model_load(p, 1);
        if (!m) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        senti_tokenizer *t = m ? senti_tokenizer_load(p) : NULL;
        if (m && !t) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        done = m && t;
        senti_tokenizer_free(t);
        senti_model_free(m);
        ck_assert_msg(g_live == 0, "failing allocation %ld leaked %ld blocks", g_fail_at, g_live);
    }
    senti_set_allocator(NULL);
    ck_assert(done);
    ck_assert_int_gt(g_fail_at, 20);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("convert");
    TCase *tc = tcase_create("convert");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_f32_identical, 0, g_n);
    tcase_add_loop_test(tc, test_quant_bounds, 0, g_n);
    tcase_add_test(tc, test_stored_types);
    tcase_add_test(tc, test_convert_probe);
    tcase_add_test(tc, test_h64_text);
    tcase_add_test(tc, test_llamacpp_bert);
    tcase_add_loop_test(tc, test_decoder_convert, 0, (int)(sizeof DEC_FIX / sizeof DEC_FIX[0]));
    tcase_add_loop_test(tc, test_llamacpp_decoders, 0, (int)(sizeof LLAMACPP_DEC / sizeof LLAMACPP_DEC[0]));
    tcase_add_loop_test(tc, test_llamacpp_real, 0, (int)(sizeof LLAMACPP_REAL / sizeof LLAMACPP_REAL[0]));
    tcase_add_loop_test(tc, test_tokenizer_roundtrip, 0, (int)(sizeof TOK_FIX / sizeof TOK_FIX[0]));
    tcase_add_test(tc, test_llamacpp_spm);
    tcase_add_loop_test(tc, test_tokenizer_keys, 0, (int)(sizeof LLM_FIX / sizeof LLM_FIX[0]));
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    init_paths();
    list_fixtures();
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
