/* test_decoders.c — the causal LMs (model/decoder.c) through lm.h, against
 * HF transformers on the fixtures in tests/fixtures/decoders/NAME (made by
 * tools/fixtures/make_decoder_fixtures.py):
 *  - golden: prefill logits of every prompt position, the logits of each
 *    decode step through the KV cache (max |got - ref| / max |ref| <= 1e-4),
 *    and the 32-token greedy continuation of model.generate, token for token;
 *  - batched: several slots of different lengths prefilled together then
 *    decoded together (slots in order and shuffled, and a mixed prefill +
 *    decode step) equal each slot run alone within 1e-5;
 *  - cache: lm_cache_copy + continue equals running the whole sequence;
 *    truncate + re-run equals the first run;
 *  - errors: bad id, context overflow, bad / repeated slot (cache unchanged),
 *    unknown rope type, missing tensor — messages name the culprit;
 *  - weight types: bf16 / q8_0 / q4_0 runs stay within measured bounds of f32;
 *  - senti_model_forward on a right-padded batch gives the prefill logits. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "model/lm.h"
#include "testutil.h"

#define MAX_FIX 32
static char g_root[2048];
static char g_names[MAX_FIX][256];
static int g_n;

static void init_paths(void) { test_repo_root(__FILE__, g_root, sizeof g_root); }

static void list_fixtures(void) {
    char p[2300];
    snprintf(p, sizeof p, "%s/tests/fixtures/decoders", g_root);
    g_n = test_list_dir(p, "", g_names[0], MAX_FIX, sizeof g_names[0]);
}

static void fixture_dir(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/tests/fixtures/decoders/%s", g_root, name);
}

static json_t *load_golden(const char *dir) {
    char p[2400];
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_error_t err;
    json_t *g = json_load_file(p, 0, &err);
    ck_assert_msg(g != NULL, "%s: %s", p, err.text);
    return g;
}

static float *floats(json_t *obj, int64_t expect_n) {
    json_t *data = json_object_get(obj, "data");
    ck_assert_msg(json_is_array(data), "golden: no data");
    ck_assert_int_eq((int64_t)json_array_size(data), expect_n);
    float *v = malloc((size_t)expect_n * sizeof *v);
    for (int64_t i = 0; i < expect_n; i++) v[i] = (float)json_number_value(json_array_get(data, (size_t)i));
    return v;
}

static int32_t *ints(json_t *a, int64_t *n) {
    *n = (int64_t)json_array_size(a);
    int32_t *v = calloc((size_t)*n + 1, sizeof *v);
    for (int64_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* max |a - b| / max |b| */
static double rel(const float *a, const float *b, int64_t n) {
    double mx = 0, d = 0;
    for (int64_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(b[i]));
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= d)) d = isnan(e) ? INFINITY : e;
    }
    return d / fmax(mx, 1e-30);
}

static int32_t argmax(const float *x, int64_t n) {
    int64_t k = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[k]) k = i;
    return (int32_t)k;
}

static senti_model *load(const char *name, senti_type wt) {
    char dir[2300];
    fixture_dir(dir, sizeof dir, name);
    senti_model_opts o = senti_model_opts_defaults();
    o.n_threads = 2;
    o.weight_type = wt;
    senti_model *m = senti_model_load_opts(dir, &o);
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    ck_assert(lm_is_causal(m));
    return m;
}

/* Run n_tok tokens into one slot; logits (all rows or last) into out. */
static void run1(senti_model *m, lm_cache *c, int64_t slot, const int32_t *tok, int64_t n_tok, bool all, float *out) {
    const int32_t *t[1] = {tok};
    senti_status st = lm_forward(m, c, 1, &slot, t, &n_tok, all, out);
    ck_assert_msg(st == SENTI_OK, "lm_forward: %s", senti_last_error());
}

/* ---- golden ------------------------------------------------------------------------- */

static double g_worst;

START_TEST(test_golden) {
    const char *name = g_names[_i];
    char dir[2300];
    fixture_dir(dir, sizeof dir, name);
    json_t *gold = load_golden(dir);
    senti_model *m = load(name, SENTI_TYPE_COUNT);
    const int64_t V = lm_vocab(m);
    ck_assert_int_eq(V, json_integer_value(json_object_get(gold, "vocab_size")));
    ck_assert_str_eq(senti_model_architecture(m), json_string_value(json_object_get(gold, "architecture")));
    ck_assert_int_eq(senti_model_num_parameters(m) >= json_integer_value(json_object_get(gold, "num_parameters")), 1);
    json_t *prompts = json_object_get(gold, "prompts");
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *pr = json_array_get(prompts, p);
        int64_t T, n_dec, n_greedy;
        int32_t *ids = ints(json_object_get(pr, "input_ids"), &T);
        int32_t *dec = ints(json_object_get(pr, "decode_tokens"), &n_dec);
        int32_t *greedy = ints(json_object_get(pr, "greedy"), &n_greedy);
        lm_cache *c = lm_cache_new(m, 2, T + (n_greedy > n_dec ? n_greedy : n_dec) + 1);
        ck_assert_msg(c != NULL, "%s", senti_last_error());
        /* prefill into slot 1 (slot 0 stays empty), every row's logits */
        float *got = malloc((size_t)(T * V) * sizeof *got);
        float *ref = floats(json_object_get(pr, "prefill_logits"), T * V);
        run1(m, c, 1, ids, T, true, got);
        double e = rel(got, ref, T * V);
        g_worst = p ? fmax(g_worst, e) : e;
        ck_assert_msg(e <= 1e-4, "%s prompt %zu prefill: rel err %.3g", name, p, e);
        ck_assert_int_eq(lm_cache_len(c, 1), T);
        ck_assert_int_eq(lm_cache_len(c, 0), 0);
        free(ref);
        /* decode steps through the cache */
        json_t *steps = json_object_get(pr, "decode_logits");
        for (int64_t s = 0; s < n_dec; s++) {
            ck_assert_int_eq(argmax(s ? got : got + (T - 1) * V, V), dec[s]);
            ref = floats(json_array_get(steps, (size_t)s), V);
            run1(m, c, 1, &dec[s], 1, false, got);
            e = rel(got, ref, V);
            g_worst = fmax(g_worst, e);
            ck_assert_msg(e <= 1e-4, "%s prompt %zu decode step %lld: rel err %.3g", name, p, (long long)s, e);
            free(ref);
        }
        /* greedy 32 tokens from a fresh slot 0 */
        run1(m, c, 0, ids, T, false, got);
        for (int64_t s = 0; s < n_greedy; s++) {
            int32_t tok = argmax(got, V);
            ck_assert_msg(tok == greedy[s], "%s prompt %zu greedy token %lld: %d, transformers %d", name, p,
                          (long long)s, tok, greedy[s]);
            run1(m, c, 0, &tok, 1, false, got);
        }
        lm_cache_free(c);
        free(got);
        free(ids);
        free(dec);
        free(greedy);
    }
    printf("test_decoders: %s: worst relative error vs transformers (f32) %.3g\n", name, g_worst);
    senti_model_free(m);
    json_decref(gold);
}
END_TEST

/* ---- batched == one by one ------------------------------------------------------------ */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static int32_t rnd_id(int64_t V) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (int32_t)(3 + g_rng % (uint64_t)(V - 3));
}

#define NB 5
START_TEST(test_batched) {
    static const char *const names[] = {"llama-gqa", "mistral-swa6", "gpt2", "qwen2-tied", "llama-rope-llama3"};
    const char *name = names[_i];
    senti_model *m = load(name, SENTI_TYPE_COUNT);
    const int64_t V = lm_vocab(m), ctx = 40;
    /* slot prompts: lengths 7, 7, 3, 11, 1 (0 and 1 share a group at prefill) */
    const int64_t plen[NB] = {7, 7, 3, 11, 1};
    int32_t toks[NB][32];
    for (int b = 0; b < NB; b++)
        for (int t = 0; t < 32; t++) toks[b][t] = rnd_id(V);
    lm_cache *cb = lm_cache_new(m, NB, ctx), *c1 = lm_cache_new(m, NB, ctx);
    ck_assert(cb && c1);
    int64_t slot[NB], n_tok[NB], len[NB];
    const int32_t *tp[NB];
    int64_t sum = 0;
    for (int b = 0; b < NB; b++) slot[b] = b, n_tok[b] = plen[b], tp[b] = toks[b], sum += plen[b], len[b] = plen[b];
    float *lb = malloc((size_t)(sum * V) * sizeof *lb), *l1 = malloc((size_t)(sum * V) * sizeof *l1);
    /* prefill together (all rows) vs alone */
    ck_assert_msg(lm_forward(m, cb, NB, slot, tp, n_tok, true, lb) == SENTI_OK, "%s", senti_last_error());
    for (int b = 0, r = 0; b < NB; r += (int)plen[b], b++) {
        run1(m, c1, b, toks[b], plen[b], true, l1);
        double e = rel(lb + r * V, l1, plen[b] * V);
        ck_assert_msg(e <= 1e-5, "%s: batched prefill slot %d: rel err %.3g", name, b, e);
    }
    /* decode steps: in order, shuffled, then a mixed step (one slot takes 3) */
    static const int64_t order[3][NB] = {{0, 1, 2, 3, 4}, {3, 0, 4, 2, 1}, {4, 2, 3, 1, 0}};
    for (int step = 0; step < 6; step++) {
        const int64_t *ord = order[step % 3];
        for (int b = 0; b < NB; b++) {
            slot[b] = ord[b];
            n_tok[b] = step == 5 && b == 2 ? 3 : 1;
            if (step == 4 && b == 1) n_tok[b] = 0; /* an idle slot */
            tp[b] = toks[ord[b]] + len[ord[b]];
        }
        for (int b = 0; b < NB; b++) lb[b * V] = 12345.0f; /* rows of idle slots stay untouched */
        ck_assert_msg(lm_forward(m, cb, NB, slot, tp, n_tok, false, lb) == SENTI_OK, "%s", senti_last_error());
        for (int b = 0; b < NB; b++) {
            if (!n_tok[b]) {
                ck_assert(lb[b * V] == 12345.0f);
                continue;
            }
            run1(m, c1, slot[b], tp[b], n_tok[b], false, l1);
            double e = rel(lb + b * V, l1, V);
            ck_assert_msg(e <= 1e-5, "%s: batched decode step %d slot %lld: rel err %.3g", name, step,
                          (long long)slot[b], e);
            len[slot[b]] += n_tok[b];
            ck_assert_int_eq(lm_cache_len(cb, slot[b]), len[slot[b]]);
        }
    }
    lm_cache_free(cb);
    lm_cache_free(c1);
    free(lb);
    free(l1);
    senti_model_free(m);
}
END_TEST

/* ---- copy / truncate ---------------------------------------------------------------------- */

START_TEST(test_copy_truncate) {
    static const char *const names[] = {"llama-gqa", "mistral-swa6", "gpt2"};
    const char *name = names[_i];
    senti_model *m = load(name, SENTI_TYPE_COUNT);
    const int64_t V = lm_vocab(m);
    int32_t a[12];
    for (int i = 0; i < 12; i++) a[i] = rnd_id(V);
    lm_cache *c = lm_cache_new(m, 3, 16);
    ck_assert(c);
    float *whole = malloc((size_t)(12 * V) * sizeof *whole), *part = malloc((size_t)(12 * V) * sizeof *part);
    run1(m, c, 2, a, 12, true, whole);            /* the whole sequence in slot 2 */
    run1(m, c, 0, a, 8, false, part);             /* a prefix in slot 0 */
    ck_assert_int_eq(lm_cache_copy(c, 1, 0), SENTI_OK);
    ck_assert_int_eq(lm_cache_len(c, 1), 8);
    run1(m, c, 1, a + 8, 4, true, part);          /* continue the copy */
    double e = rel(part, whole + 8 * V, 4 * V);
    ck_assert_msg(e <= 1e-5, "%s: copy + continue: rel err %.3g", name, e);
    ck_assert_int_eq(lm_cache_truncate(c, 2, 5), SENTI_OK); /* truncate + re-run */
    run1(m, c, 2, a + 5, 7, true, part);
    e = rel(part, whole + 5 * V, 7 * V);
    ck_assert_msg(e <= 1e-5, "%s: truncate + re-run: rel err %.3g", name, e);
    ck_assert_int_eq(lm_cache_truncate(c, 2, 13), SENTI_ERR_INVALID_ARG);
    ck_assert_int_eq(lm_cache_copy(c, 3, 0), SENTI_ERR_INVALID_ARG);
    lm_cache_free(c);
    free(whole);
    free(part);
    senti_model_free(m);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------------- */

START_TEST(test_forward_errors) {
    senti_model *m = load("llama-gqa", SENTI_TYPE_COUNT);
    const int64_t V = lm_vocab(m);
    lm_cache *c = lm_cache_new(m, 2, 8);
    ck_assert(c);
    int32_t ok[6] = {5, 6, 7, 8, 9, 10}, bad[3] = {5, (int32_t)V, 7};
    float *lg = malloc((size_t)(2 * V) * sizeof *lg);
    run1(m, c, 0, ok, 3, false, lg);
    float *before = malloc((size_t)V * sizeof *before);
    run1(m, c, 1, ok, 1, false, before);
    ck_assert_int_eq(lm_cache_truncate(c, 1, 0), SENTI_OK);
    int64_t slot[2] = {1, 0}, n[2] = {3, 1};
    const int32_t *tp[2] = {bad, ok};
    ck_assert_int_eq(lm_forward(m, c, 2, slot, tp, n, false, lg), SENTI_ERR_INVALID_ARG);
    assert_msg_has("bad id", "token id", "256", "slot 1", NULL);
    tp[0] = ok, n[0] = 6, n[1] = 6; /* slot 0 holds 3: 6 more overflow 8 */
    ck_assert_int_eq(lm_forward(m, c, 2, slot, tp, n, false, lg), SENTI_ERR_INVALID_ARG);
    assert_msg_has("overflow", "slot 0", "exceed", "8", NULL);
    slot[0] = 2, n[0] = 1, n[1] = 1;
    ck_assert_int_eq(lm_forward(m, c, 2, slot, tp, n, false, lg), SENTI_ERR_INVALID_ARG);
    assert_msg_has("bad slot", "slot 2", NULL);
    slot[0] = 0;
    ck_assert_int_eq(lm_forward(m, c, 2, slot, tp, n, false, lg), SENTI_ERR_INVALID_ARG);
    assert_msg_has("repeated slot", "twice", NULL);
    ck_assert_int_eq(lm_cache_len(c, 0), 3); /* unchanged */
    ck_assert_int_eq(lm_cache_len(c, 1), 0);
    run1(m, c, 1, ok, 1, false, lg); /* the cache still works as before */
    ck_assert(rel(lg, before, V) == 0.0);
    ck_assert(lm_cache_new(m, 1, lm_max_ctx(m) + 1) == NULL);
    assert_msg_has("ctx too long", "lm_cache_new", NULL);
    lm_cache_free(c);
    free(lg);
    free(before);
    senti_model_free(m);
}
END_TEST

/* A copy of fixture `name` in a temp dir whose config.json has `edit` applied
 * (model.safetensors symlinked). */
static void edited_copy(const char *name, char *tmp, size_t n, void (*edit)(json_t *cfg)) {
    snprintf(tmp, n, "/tmp/senti_dec_XXXXXX");
    ck_assert(mkdtemp(tmp) != NULL);
    char src[2300], p[2400], q[2400];
    fixture_dir(src, sizeof src, name);
    snprintf(p, sizeof p, "%s/config.json", src);
    json_error_t err;
    json_t *cfg = json_load_file(p, 0, &err);
    ck_assert(cfg != NULL);
    edit(cfg);
    snprintf(q, sizeof q, "%s/config.json", tmp);
    ck_assert_int_eq(json_dump_file(cfg, q, JSON_INDENT(1)), 0);
    json_decref(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    snprintf(q, sizeof q, "%s/model.safetensors", tmp);
    ck_assert_int_eq(symlink(p, q), 0);
}

static void edit_yarn(json_t *cfg) {
    json_t *rp = json_object_get(cfg, "rope_parameters");
    json_object_set_new(rp, "rope_type", json_string("yarn"));
}
static void edit_layers(json_t *cfg) { json_object_set_new(cfg, "num_hidden_layers", json_integer(3)); }
static void edit_old_rope(json_t *cfg) { /* pre-5.x layout: rope_theta + rope_scaling {type} */
    json_t *rp = json_object_get(cfg, "rope_parameters");
    json_object_set_new(cfg, "rope_theta", json_real(json_number_value(json_object_get(rp, "rope_theta"))));
    json_t *sc = json_object();
    json_object_set_new(sc, "type", json_string("linear"));
    json_object_set(sc, "factor", json_object_get(rp, "factor"));
    json_object_set_new(cfg, "rope_scaling", sc);
    json_object_del(cfg, "rope_parameters");
}

START_TEST(test_load_errors) {
    char tmp[64];
    edited_copy("llama-gqa", tmp, sizeof tmp, edit_yarn);
    ck_assert(senti_model_load(tmp, 1) == NULL);
    assert_msg_has("unknown rope type", "rope type 'yarn'", "config.json", NULL);
    test_rm_tree(tmp);
    edited_copy("llama-gqa", tmp, sizeof tmp, edit_layers);
    ck_assert(senti_model_load(tmp, 1) == NULL);
    assert_msg_has("missing tensor", "model.layers.2.", "missing", NULL);
    test_rm_tree(tmp);
    /* the old rope layout loads and gives the same logits */
    edited_copy("llama-rope-linear", tmp, sizeof tmp, edit_old_rope);
    senti_model *a = senti_model_load(tmp, 2), *b = load("llama-rope-linear", SENTI_TYPE_COUNT);
    ck_assert_msg(a != NULL, "%s", senti_last_error());
    const int64_t V = lm_vocab(b);
    int32_t ids[9] = {3, 40, 41, 7, 90, 100, 5, 6, 200};
    float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
    lm_cache *ca = lm_cache_new(a, 1, 16), *cb = lm_cache_new(b, 1, 16);
    run1(a, ca, 0, ids, 9, false, la);
    run1(b, cb, 0, ids, 9, false, lb);
    ck_assert(rel(la, lb, V) == 0.0);
    lm_cache_free(ca);
    lm_cache_free(cb);
    senti_model_free(a);
    senti_model_free(b);
    free(la);
    free(lb);
    test_rm_tree(tmp);
}
END_TEST

/* ---- weight types ------------------------------------------------------------------------------
 * Bounds on max |logit - f32 logit| / max |f32 logit| over the golden prompts'
 * prefill rows (llama-gqa: every matmul input width is a multiple of 32).
 * The random fixtures amplify weight rounding (N(0, 0.2) weights); measured
 * on them: f16 1.0e-3, bf16 1.3e-2, q8_0 3.6e-2, q4_0 4.1e-1. The bounds
 * leave 2.5-4x headroom; q4_0's bound is only a sanity check. */
START_TEST(test_weight_types) {
    static const struct { senti_type t; double bound; } cases[] = {
        {SENTI_TYPE_BF16, 5e-2}, {SENTI_TYPE_F16, 4e-3}, {SENTI_TYPE_Q8_0, 1e-1}, {SENTI_TYPE_Q4_0, 1.0}};
    char dir[2300];
    fixture_dir(dir, sizeof dir, "llama-gqa");
    json_t *gold = load_golden(dir);
    senti_model *m = load("llama-gqa", cases[_i].t);
    const int64_t V = lm_vocab(m);
    json_t *prompts = json_object_get(gold, "prompts");
    double worst = 0;
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *pr = json_array_get(prompts, p);
        int64_t T;
        int32_t *ids = ints(json_object_get(pr, "input_ids"), &T);
        float *ref = floats(json_object_get(pr, "prefill_logits"), T * V), *got = malloc((size_t)(T * V) * 4);
        lm_cache *c = lm_cache_new(m, 1, T);
        run1(m, c, 0, ids, T, true, got);
        worst = fmax(worst, rel(got, ref, T * V));
        lm_cache_free(c);
        free(ids), free(ref), free(got);
    }
    printf("test_decoders: weight type %s: rel err %.3g vs transformers f32 (bound %.3g)\n",
           senti_type_name(cases[_i].t), worst, cases[_i].bound);
    ck_assert_msg(worst > 0 && worst <= cases[_i].bound, "%s: rel err %.3g", senti_type_name(cases[_i].t), worst);
    senti_model_free(m);
    json_decref(gold);
}
END_TEST

/* ---- senti_model_forward: a right-padded batch ------------------------------------------------------ */

START_TEST(test_model_forward) {
    char dir[2300];
    fixture_dir(dir, sizeof dir, "qwen2-tied");
    json_t *gold = load_golden(dir);
    senti_model *m = load("qwen2-tied", SENTI_TYPE_COUNT);
    const int64_t V = lm_vocab(m);
    json_t *prompts = json_object_get(gold, "prompts");
    int64_t T0, T1;
    int32_t *i0 = ints(json_object_get(json_array_get(prompts, 0), "input_ids"), &T0);
    int32_t *i1 = ints(json_object_get(json_array_get(prompts, 1), "input_ids"), &T1);
    const int64_t T = T0 > T1 ? T0 : T1;
    int32_t *ids = calloc((size_t)(2 * T), sizeof *ids), *mask = calloc((size_t)(2 * T), sizeof *mask);
    for (int64_t t = 0; t < T0; t++) ids[t] = i0[t], mask[t] = 1;
    for (int64_t t = 0; t < T1; t++) ids[T + t] = i1[t], mask[T + t] = 1;
    float *out;
    int64_t shape[3];
    int nd;
    ck_assert_msg(senti_model_forward(m, ids, NULL, mask, 2, T, &out, shape, &nd) == SENTI_OK, "%s",
                  senti_last_error());
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(shape[2], V);
    float *r0 = floats(json_object_get(json_array_get(prompts, 0), "prefill_logits"), T0 * V);
    float *r1 = floats(json_object_get(json_array_get(prompts, 1), "prefill_logits"), T1 * V);
    ck_assert(rel(out, r0, T0 * V) <= 1e-4);
    ck_assert(rel(out + T * V, r1, T1 * V) <= 1e-4);
    for (int64_t i = T0 * V; i < T * V; i++) ck_assert(out[i] == 0.0f); /* padded rows: zeros */
    for (int64_t i = T1 * V; i < T * V; i++) ck_assert(out[T * V + i] == 0.0f);
    ck_assert(T0 < T || T1 < T); /* the batch has padding */
    senti_model_output_free(out);
    mask[0] = 0; /* left padding is refused */
    ck_assert_int_eq(senti_model_forward(m, ids, NULL, mask, 2, T, &out, shape, &nd), SENTI_ERR_UNSUPPORTED);
    assert_msg_has("left padding", "right-padded", NULL);
    ck_assert(out == NULL);
    free(ids), free(mask), free(i0), free(i1), free(r0), free(r1);
    senti_model_free(m);
    json_decref(gold);
}
END_TEST

/* ---- allocation failures: every failing allocation is reported and leaks nothing;
 * a failed lm_forward leaves the cache lengths as they were ------------------------ */

START_TEST(test_alloc_failures) {
    static const char *const names[] = {"qwen2-swa4-layer1", "gpt2"};
    char dir[2300];
    fixture_dir(dir, sizeof dir, names[_i]);
    senti_set_allocator(&(senti_allocator){count_alloc, count_free, NULL});
    bool done = false;
    const int32_t a[5] = {3, 4, 5, 6, 7}, b[3] = {8, 9, 10}, d[2] = {11, 12};
    for (g_fail_at = 0; !done && g_fail_at < 100000; g_fail_at++) {
        g_count = 0;
        g_live = 0;
        senti_clear_error();
        senti_model *m = senti_model_load(dir, 1);
        lm_cache *c = m ? lm_cache_new(m, 2, 8) : NULL;
        senti_status st = c ? SENTI_OK : SENTI_ERR_NO_MEMORY;
        if (c) { /* prefill two slots (two groups), then decode both (one ragged group) */
            int64_t slot[2] = {0, 1}, n[2] = {5, 3};
            const int32_t *tp[2] = {a, b};
            float lg[2 * 320];
            st = lm_forward(m, c, 2, slot, tp, n, false, lg);
            ck_assert_int_eq(lm_cache_len(c, 0), st == SENTI_OK ? 5 : 0);
            if (st == SENTI_OK) {
                n[0] = n[1] = 1, tp[0] = d, tp[1] = d + 1;
                st = lm_forward(m, c, 2, slot, tp, n, false, lg);
                ck_assert_int_eq(lm_cache_len(c, 1), st == SENTI_OK ? 4 : 3);
            }
        }
        done = st == SENTI_OK;
        if (!done) ck_assert_msg(senti_last_error()[0] != '\0', "failure %ld left no message", g_fail_at);
        lm_cache_free(c);
        senti_model_free(m);
        ck_assert_msg(g_live == 0, "failing allocation %ld leaked %ld blocks", g_fail_at, g_live);
    }
    senti_set_allocator(NULL);
    ck_assert(done);
    ck_assert_int_gt(g_fail_at, 20);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("decoders");
    TCase *t = tcase_create("golden");
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, test_golden, 0, g_n);
    suite_add_tcase(s, t);
    t = tcase_create("batched");
    tcase_set_timeout(t, 600);
    tcase_add_loop_test(t, test_batched, 0, 5);
    tcase_add_loop_test(t, test_copy_truncate, 0, 3);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_forward_errors);
    tcase_add_test(t, test_load_errors);
    tcase_add_loop_test(t, test_alloc_failures, 0, 2);
    suite_add_tcase(s, t);
    t = tcase_create("types");
    tcase_set_timeout(t, 300);
    tcase_add_loop_test(t, test_weight_types, 0, 4);
    tcase_add_test(t, test_model_forward);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    init_paths();
    list_fixtures();
    if (g_n < 9) {
        printf("test_decoders: expected the 9 fixtures in %s/tests/fixtures/decoders, found %d\n", g_root, g_n);
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
