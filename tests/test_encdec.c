/* test_encdec.c — the encoder-decoders (T5 v1.0 / v1.1 tied and untied,
 * BART post-norm, mBART pre-norm) against transformers on the tiny random
 * checkpoints of tools/fixtures/make_encdec_fixtures.py (tests/fixtures/
 * encdec): encoder output and decoder logits over cached steps within 1e-4
 * relative; greedy and beam-search ids equal to generate()'s, run one by one
 * and batched; BartForSequenceClassification's forward against its inputs
 * run alone; generation on T5 from the extraction prompts with the real
 * t5-small tokenizer (prompt text, ids, raw text); beam search on decoder-only
 * fixtures; InstructABSA's flat answers parsed; a senti-converted GGUF file
 * giving the same bytes. The BART-MNLI zero-shot
 * comparison with transformers' pipeline is in test_zeroshot.c. */
#include "task_helpers.h"

#include "model/lm.h"
#include "tasks/llm.h"
#include "tools/convert/convert.h"

static const char *NUMERIC[] = {"t5-v1_0", "t5-v1_1", "t5-v1_1-tied", "bart", "mbart"};

static json_t *golden(const char *name, char *dir, size_t n) {
    snprintf(dir, n, "%s/tests/fixtures/encdec/%s", th_root, name);
    char p[2400];
    snprintf(p, sizeof p, "%s/golden.json", dir);
    json_error_t je;
    json_t *g = json_load_file(p, 0, &je);
    ck_assert_msg(g != NULL, "%s: %s", p, je.text);
    return g;
}

/* max |got - ref| / max |ref| over a {"shape","data"} tensor. */
static double rel_err(const float *got, json_t *ref, int64_t n) {
    json_t *d = json_object_get(ref, "data");
    ck_assert_int_eq((int64_t)json_array_size(d), n);
    double diff = 0, scale = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        const double r = json_number_value(json_array_get(d, (size_t)i));
        diff = fmax(diff, fabs(got[i] - r));
        scale = fmax(scale, fabs(r));
    }
    return diff / scale;
}

static int32_t *ids_of(json_t *a, int64_t *n) {
    *n = (int64_t)json_array_size(a);
    int32_t *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    for (int64_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

/* Encoder output and decoder logits, step by step through the cache (all
 * inputs in one call per step) and as one prefill per input. */
START_TEST(test_numeric) {
    const char *name = NUMERIC[_i];
    char dir[2300];
    json_t *g = golden(name, dir, sizeof dir);
    senti_model *m = senti_model_load(dir, 2);
    ck_assert_msg(m != NULL, "%s: %s", name, senti_last_error());
    ck_assert(lm_is_encdec(m) && lm_is_generative(m) && !lm_is_causal(m));
    ck_assert_int_eq(senti_model_get_head(m), SENTI_HEAD_SEQ2SEQ_LM);
    json_t *in = json_object_get(g, "inputs");
    const int64_t n = (int64_t)json_array_size(in), H = senti_model_hidden_size(m), V = lm_vocab(m);
    ck_assert(n > 0 && n <= 8);
    int32_t *ids[8];
    int64_t len[8], slot[8], T = 0, total = 0;
    for (int64_t i = 0; i < n; i++) {
        ids[i] = ids_of(json_object_get(json_array_get(in, (size_t)i), "ids"), &len[i]);
        slot[i] = i;
        T = len[i] > T ? len[i] : T;
        total += len[i];
    }
    lm_cache *c = lm_cache_new(m, n, 16);
    ck_assert_ptr_nonnull(c);
    float *hid = malloc((size_t)(total * H) * sizeof *hid);
    ck_assert_int_eq(lm_encode(m, c, n, slot, (const int32_t *const *)ids, len, hid), SENTI_OK);
    double worst = 0;
    for (int64_t i = 0, r = 0; i < n; r += len[i], i++) {
        const double e = rel_err(hid + r * H, json_object_get(json_array_get(in, (size_t)i), "encoder"), len[i] * H);
        ck_assert_msg(e <= 1e-4, "%s input %lld: encoder off by %g", name, (long long)i, e);
        worst = fmax(worst, e);
    }
    /* the same through senti_model_forward on a right-padded batch */
    ck_assert(T > 0 && T < 4096);
    int32_t *pad = calloc((size_t)n * (size_t)T, sizeof *pad), *mask = calloc((size_t)n * (size_t)T, sizeof *mask);
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = 0; t < len[i]; t++) pad[i * T + t] = ids[i][t], mask[i * T + t] = 1;
    float *out;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, pad, NULL, mask, n, T, &out, shape, &nd), SENTI_OK);
    ck_assert(nd == 3 && shape[2] == H);
    for (int64_t i = 0, r = 0; i < n; r += len[i], i++)
        ck_assert_mem_eq(out + i * T * H, hid + r * H, (size_t)(len[i] * H) * sizeof *out);
    senti_model_output_free(out);
    /* decoder: one token per input per call */
    json_t *steps0 = json_object_get(json_array_get(in, 0), "steps");
    const int64_t S = (int64_t)json_array_size(steps0);
    float *lg = malloc((size_t)(n * S * V) * sizeof *lg), *row = malloc((size_t)(n * V) * sizeof *row);
    int32_t tokv[8];
    const int32_t *tp[8];
    int64_t one[8];
    for (int64_t s = 0; s < S; s++) {
        for (int64_t i = 0; i < n; i++) {
            tokv[i] = (int32_t)json_integer_value(json_array_get(json_object_get(json_array_get(in, (size_t)i), "steps"), (size_t)s));
            tp[i] = &tokv[i], one[i] = 1;
        }
        ck_assert_int_eq(lm_forward(m, c, n, slot, tp, one, false, row), SENTI_OK);
        for (int64_t i = 0; i < n; i++) memcpy(lg + (i * S + s) * V, row + i * V, (size_t)V * sizeof *row);
    }
    for (int64_t i = 0; i < n; i++) {
        const double e = rel_err(lg + i * S * V, json_object_get(json_array_get(in, (size_t)i), "logits"), S * V);
        ck_assert_msg(e <= 1e-4, "%s input %lld: cached decoder logits off by %g", name, (long long)i, e);
        worst = fmax(worst, e);
        ck_assert_int_eq(lm_cache_len(c, i), S);
    }
    /* batch invariance: input 1 alone, step by step, gives the same bytes */
    {
        lm_cache *c1 = lm_cache_new(m, 1, 16);
        const int64_t s0 = 0;
        const int32_t *ip = ids[1];
        ck_assert_int_eq(lm_encode(m, c1, 1, &s0, &ip, &len[1], NULL), SENTI_OK);
        for (int64_t s = 0; s < S; s++) {
            tokv[0] = (int32_t)json_integer_value(json_array_get(json_object_get(json_array_get(in, 1), "steps"), (size_t)s));
            tp[0] = &tokv[0];
            ck_assert_int_eq(lm_forward(m, c1, 1, &s0, tp, one, false, row), SENTI_OK);
            ck_assert_mem_eq(row, lg + (1 * S + s) * V, (size_t)V * sizeof *row);
        }
        lm_cache_free(c1);
    }
    /* all steps at once into a copy of each slot's encoding (slots share the encoder output) */
    lm_cache *c2 = lm_cache_new(m, 2 * n, 16);
    ck_assert_int_eq(lm_encode(m, c2, n, slot, (const int32_t *const *)ids, len, NULL), SENTI_OK);
    for (int64_t i = 0; i < n; i++) {
        ck_assert_int_eq(lm_cache_copy(c2, n + i, i), SENTI_OK);
        int64_t ns;
        int32_t *st = ids_of(json_object_get(json_array_get(in, (size_t)i), "steps"), &ns);
        const int32_t *stp = st;
        const int64_t sl = n + i;
        float *all = malloc((size_t)(ns * V) * sizeof *all);
        ck_assert_int_eq(lm_forward(m, c2, 1, &sl, &stp, &ns, true, all), SENTI_OK);
        const double e = rel_err(all, json_object_get(json_array_get(in, (size_t)i), "logits"), S * V);
        ck_assert_msg(e <= 1e-4, "%s input %lld: prefilled decoder logits off by %g", name, (long long)i, e);
        free(all);
        free(st);
    }
    /* a slot that was never encoded is refused */
    const int64_t bad = 0;
    lm_cache *c3 = lm_cache_new(m, 1, 4);
    ck_assert_int_eq(lm_forward(m, c3, 1, &bad, tp, one, false, row), SENTI_ERR_INVALID_ARG);
    printf("test_encdec: %s encoder + %lld cached decoder steps, worst relative error %.3g\n", name, (long long)S,
           worst);
    lm_cache_free(c);
    lm_cache_free(c2);
    lm_cache_free(c3);
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    free(hid), free(pad), free(mask), free(lg), free(row);
    senti_model_free(m);
    json_decref(g);
}
END_TEST

static void check_ids(const char *what, const llm_gen_result *r, json_t *want) {
    ck_assert_msg(!r->error, "%s: %s", what, r->error ? r->error : "");
    int64_t n;
    int32_t *w = ids_of(want, &n);
    bool same = r->n == n;
    for (int64_t k = 0; same && k < n; k++) same = r->ids[k] == w[k];
    if (!same) {
        char got[512] = "", exp[512] = "";
        for (int64_t k = 0; k < r->n && strlen(got) < 480; k++) snprintf(got + strlen(got), 32, "%d ", r->ids[k]);
        for (int64_t k = 0; k < n && strlen(exp) < 480; k++) snprintf(exp + strlen(exp), 32, "%d ", w[k]);
        ck_abort_msg("%s: ids [%s] but transformers gives [%s]", what, got, exp);
    }
    free(w);
}

static void case_opts(llm_gen_opts *o, json_t *p) {
    json_t *v;
    o->max_new_tokens = 10;
    o->num_beams = json_integer_value(json_object_get(p, "num_beams"));
    if ((v = json_object_get(p, "length_penalty"))) o->length_penalty = json_number_value(v);
    if ((v = json_object_get(p, "no_repeat_ngram_size"))) o->no_repeat_ngram_size = json_integer_value(v);
    if ((v = json_object_get(p, "early_stopping")))
        o->early_stopping = json_is_string(v) ? LLM_EARLY_STOP_NEVER : json_is_true(v) ? LLM_EARLY_STOP_TRUE
                                                                                       : LLM_EARLY_STOP_FALSE;
}

/* Greedy and beam search: every input alone and all of them as one call. */
START_TEST(test_generate) {
    const char *name = NUMERIC[_i];
    char dir[2300], what[256];
    json_t *g = golden(name, dir, sizeof dir);
    senti_model *m = senti_model_load(dir, 2);
    char tp[2300];
    ck_assert(th_shared_tokenizer("t5-small", tp, sizeof tp)); /* only decodes the ids */
    senti_tokenizer *tok = senti_tokenizer_load(tp);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(tok);
    json_t *in = json_object_get(g, "inputs");
    const int64_t n = (int64_t)json_array_size(in);
    int32_t *ids[8];
    int64_t len[8];
    for (int64_t i = 0; i < n; i++) ids[i] = ids_of(json_object_get(json_array_get(in, (size_t)i), "ids"), &len[i]);
    size_t ci;
    json_t *cs;
    int n_ok = 0;
    json_array_foreach(json_object_get(g, "generate"), ci, cs) {
        llm_gen_opts o = llm_gen_opts_defaults();
        ck_assert_int_eq(llm_gen_opts_load(&o, dir), SENTI_OK);
        case_opts(&o, json_object_get(cs, "params"));
        llm_gen_result res[8];
        memset(res, 0, sizeof res);
        ck_assert_int_eq(llm_generate(m, tok, &o, (const int32_t *const *)ids, len, n, NULL, NULL, res), SENTI_OK);
        for (int64_t i = 0; i < n; i++) {
            snprintf(what, sizeof what, "%s case %zu (beams %lld) input %lld batched", name, ci, (long long)o.num_beams,
                     (long long)i);
            check_ids(what, &res[i], json_array_get(json_object_get(cs, "ids"), (size_t)i));
            llm_gen_result_clear(&res[i]);
            const int32_t *one = ids[i];
            ck_assert_int_eq(llm_generate(m, tok, &o, &one, &len[i], 1, NULL, NULL, res), SENTI_OK);
            snprintf(what, sizeof what, "%s case %zu (beams %lld) input %lld alone", name, ci, (long long)o.num_beams,
                     (long long)i);
            check_ids(what, &res[0], json_array_get(json_object_get(cs, "ids"), (size_t)i));
            llm_gen_result_clear(&res[0]);
            n_ok++;
        }
    }
    printf("test_encdec: %s greedy / beam search, %d continuations equal to transformers' generate\n", name, n_ok);
    for (int64_t i = 0; i < n; i++) free(ids[i]);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    json_decref(g);
}
END_TEST

/* BART's classification head: a padded batch equals each row alone, and a
 * row without eos is refused. */
START_TEST(test_seqcls) {
    char dir[2300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/bart-mnli", th_root);
    senti_model *m = senti_model_load(dir, 2);
    ck_assert_msg(m != NULL, "%s", senti_last_error());
    ck_assert_int_eq(senti_model_get_head(m), SENTI_HEAD_SEQUENCE_CLASSIFICATION);
    ck_assert_int_eq(senti_model_num_labels(m), 3);
    const int32_t rows[2][8] = {{0, 100, 200, 300, 2, 2, 400, 2}, {0, 500, 2, 1, 1, 1, 1, 1}};
    const int32_t mask[2][8] = {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0}};
    float *both, *one;
    int64_t shape[3];
    int nd;
    ck_assert_int_eq(senti_model_forward(m, &rows[0][0], NULL, &mask[0][0], 2, 8, &both, shape, &nd), SENTI_OK);
    ck_assert(nd == 2 && shape[0] == 2 && shape[1] == 3);
    for (int b = 0; b < 2; b++) {
        const int64_t T = b ? 3 : 8;
        ck_assert_int_eq(senti_model_forward(m, rows[b], NULL, NULL, 1, T, &one, shape, &nd), SENTI_OK);
        ck_assert_mem_eq(one, both + 3 * b, 3 * sizeof *one);
        senti_model_output_free(one);
    }
    const int32_t no_eos[3] = {0, 5, 6};
    ck_assert_int_eq(senti_model_forward(m, no_eos, NULL, NULL, 1, 3, &one, shape, &nd), SENTI_ERR_INVALID_ARG);
    senti_model_output_free(both);
    senti_model_free(m);
}
END_TEST

/* T5 with the t5-small tokenizer on the InstructABSA-style prompts: the
 * prompt text senti builds, its ids, and the greedy / beam continuation. */
START_TEST(test_extract_prompts) {
    char dir[2300], tp[2400];
    json_t *g = golden("t5-extract", dir, sizeof dir);
    snprintf(tp, sizeof tp, "%s/%s/tokenizer.json", th_root, json_string_value(json_object_get(g, "tokenizer")));
    senti_model *m = senti_model_load(dir, 2);
    senti_tokenizer *tok = senti_tokenizer_load(tp);
    ck_assert_msg(m && tok, "%s", senti_last_error());
    size_t ci, ri;
    json_t *cs, *r;
    int n_ok = 0;
    json_array_foreach(json_object_get(g, "cases"), ci, cs) {
        const llm_schema schema = llm_schema_from_name(json_string_value(json_object_get(cs, "schema")));
        llm_gen_opts o = llm_gen_opts_defaults();
        ck_assert_int_eq(llm_gen_opts_load(&o, dir), SENTI_OK);
        o.num_beams = json_integer_value(json_object_get(cs, "num_beams"));
        o.max_new_tokens = json_integer_value(json_object_get(cs, "max_new_tokens"));
        json_array_foreach(json_object_get(cs, "records"), ri, r) {
            const char *text = json_string_value(json_object_get(r, "text"));
            char *p = llm_extract_instruction_s2s(schema, text, strlen(text));
            ck_assert_str_eq(p, json_string_value(json_object_get(r, "prompt")));
            int32_t *pid;
            int64_t np, nw;
            ck_assert_int_eq(llm_prompt_ids(tok, NULL, false, NULL, p, strlen(p), &pid, &np), SENTI_OK);
            int32_t *want = ids_of(json_object_get(r, "prompt_ids"), &nw);
            ck_assert_int_eq(np, nw);
            ck_assert_mem_eq(pid, want, (size_t)np * sizeof *pid);
            llm_gen_result res = {0};
            const int32_t *cp = pid;
            ck_assert_int_eq(llm_generate(m, tok, &o, &cp, &np, 1, NULL, NULL, &res), SENTI_OK);
            check_ids("t5-extract", &res, json_object_get(r, "ids"));
            ck_assert_str_eq(res.text, json_string_value(json_object_get(r, "raw")));
            llm_gen_result_clear(&res);
            senti_mfree(pid);
            senti_mfree(p);
            free(want);
            n_ok++;
        }
    }
    printf("test_encdec: T5 extraction prompts, %d continuations equal to transformers'\n", n_ok);
    senti_tokenizer_free(tok);
    senti_model_free(m);
    json_decref(g);
}
END_TEST

/* Beam search on causal LMs (tests/fixtures/decoders): the same ids as
 * generate(num_beams=…), each prompt alone and both in one call. */
START_TEST(test_decoder_beams) {
    char dir[2300], p[2400], tp[2300];
    snprintf(p, sizeof p, "%s/tests/fixtures/encdec/decoder-beams.json", th_root);
    json_t *g = json_load_file(p, 0, NULL);
    ck_assert_ptr_nonnull(g);
    ck_assert(th_shared_tokenizer("t5-small", tp, sizeof tp)); /* only decodes the ids */
    senti_tokenizer *tok = senti_tokenizer_load(tp);
    size_t mi, ci;
    json_t *e, *cs;
    int n_ok = 0;
    json_array_foreach(json_object_get(g, "models"), mi, e) {
        snprintf(dir, sizeof dir, "%s/%s", th_root, json_string_value(json_object_get(e, "dir")));
        senti_model *m = senti_model_load(dir, 2);
        ck_assert_msg(m != NULL, "%s", senti_last_error());
        json_t *pr = json_object_get(e, "prompts");
        int32_t *ids[2];
        int64_t len[2];
        for (int i = 0; i < 2; i++) ids[i] = ids_of(json_array_get(pr, (size_t)i), &len[i]);
        json_array_foreach(json_object_get(e, "cases"), ci, cs) {
            llm_gen_opts o = llm_gen_opts_defaults();
            ck_assert_int_eq(llm_gen_opts_load(&o, dir), SENTI_OK);
            case_opts(&o, json_object_get(cs, "params"));
            llm_gen_result res[2];
            memset(res, 0, sizeof res);
            ck_assert_int_eq(llm_generate(m, tok, &o, (const int32_t *const *)ids, len, 2, NULL, NULL, res), SENTI_OK);
            for (int i = 0; i < 2; i++) {
                char what[2600];
                snprintf(what, sizeof what, "%s case %zu prompt %d", dir, ci, i);
                check_ids(what, &res[i], json_array_get(json_object_get(cs, "ids"), (size_t)i));
                llm_gen_result_clear(&res[i]);
                const int32_t *one = ids[i];
                ck_assert_int_eq(llm_generate(m, tok, &o, &one, &len[i], 1, NULL, NULL, res), SENTI_OK);
                check_ids(what, &res[0], json_array_get(json_object_get(cs, "ids"), (size_t)i));
                llm_gen_result_clear(&res[0]);
                n_ok++;
            }
        }
        for (int i = 0; i < 2; i++) free(ids[i]);
        senti_model_free(m);
    }
    printf("test_encdec: decoder beam search, %d continuations equal to transformers' generate\n", n_ok);
    senti_tokenizer_free(tok);
    json_decref(g);
}
END_TEST

/* InstructABSA's flat answers, parsed and grounded. */
START_TEST(test_flat_parse) {
    const char *text = "The battery life is great but the screen is dim.";
    const char *raw = "battery life:positive, screen:negative";
    json_t *o = llm_extract_parse_flat(LLM_SCHEMA_AESC, raw, strlen(raw), text, strlen(text));
    json_t *a = json_object_get(o, "aspects");
    ck_assert_int_eq(json_array_size(a), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 0), "aspect")), "battery life");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(a, 0), "start")), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(a, 1), "sentiment")), "negative");
    json_decref(o);
    o = llm_extract_parse_flat(LLM_SCHEMA_AESC, "noaspectterm:none", 17, text, strlen(text));
    ck_assert_int_eq(json_array_size(json_object_get(o, "aspects")), 0);
    ck_assert_ptr_null(json_object_get(o, "warning"));
    json_decref(o);
    const char *tr = "battery life:great:positive";
    o = llm_extract_parse_flat(LLM_SCHEMA_TRIPLET, tr, strlen(tr), text, strlen(text));
    a = json_array_get(json_object_get(o, "triplets"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(a, "opinion")), "great");
    ck_assert_int_eq(json_integer_value(json_object_get(a, "opinion_start")), 20);
    json_decref(o);
}
END_TEST

/* senti convert writes encoder-decoders with their HF names and config: the
 * GGUF file gives the same encoder output and decoder logits bytes. */
START_TEST(test_gguf_roundtrip) {
    char dir[2300], tmp[] = "/tmp/senti-encdec-XXXXXX", path[64];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encdec/bart", th_root);
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/bart.gguf", tmp);
    ck_assert_int_eq(gguf_convert(dir, path, SENTI_TYPE_F32), SENTI_OK);
    senti_model *a = senti_model_load(dir, 1), *b = senti_model_load(path, 1);
    ck_assert_msg(a && b, "%s", senti_last_error());
    ck_assert(lm_is_encdec(b));
    const int32_t in[5] = {0, 17, 33, 90, 2}, *ip = in, steps[3] = {2, 0, 45}, *sp = steps;
    const int64_t n = 5, ns = 3, s0 = 0;
    float la[3 * 128], lb[3 * 128];
    senti_model *ms[2] = {a, b};
    float *outs[2] = {la, lb};
    for (int k = 0; k < 2; k++) {
        lm_cache *c = lm_cache_new(ms[k], 1, 8);
        ck_assert_int_eq(lm_vocab(ms[k]), 128);
        ck_assert_int_eq(lm_encode(ms[k], c, 1, &s0, &ip, &n, NULL), SENTI_OK);
        ck_assert_int_eq(lm_forward(ms[k], c, 1, &s0, &sp, &ns, true, outs[k]), SENTI_OK);
        lm_cache_free(c);
    }
    ck_assert_mem_eq(la, lb, sizeof la);
    senti_model_free(a);
    senti_model_free(b);
    test_rm_tree(tmp);
}
END_TEST

/* The family's load errors name the culprit. */
START_TEST(test_bad) {
    char dir[2300];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/encdec/t5-v1_0", th_root);
    senti_model *m = senti_model_load(dir, 1);
    ck_assert_ptr_nonnull(m);
    lm_cache *c = lm_cache_new(m, 2, 8);
    const int32_t bad_id[2] = {5, 100000}, *bp = bad_id;
    const int64_t two = 2, s0 = 0;
    ck_assert_int_eq(lm_encode(m, c, 1, &s0, &bp, &two, NULL), SENTI_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(senti_last_error(), "vocabulary"));
    const int64_t zero = 0;
    ck_assert_int_eq(lm_encode(m, c, 1, &s0, &bp, &zero, NULL), SENTI_ERR_INVALID_ARG);
    lm_cache_free(c);
    senti_model_free(m);
}
END_TEST

int main(void) {
    th_init_root();
    Suite *s = suite_create("encdec");
    TCase *tc = tcase_create("encdec");
    tcase_add_loop_test(tc, test_numeric, 0, (int)(sizeof NUMERIC / sizeof NUMERIC[0]));
    tcase_add_loop_test(tc, test_generate, 0, (int)(sizeof NUMERIC / sizeof NUMERIC[0]));
    tcase_add_test(tc, test_seqcls);
    tcase_add_test(tc, test_extract_prompts);
    tcase_add_test(tc, test_bad);
    tcase_add_test(tc, test_decoder_beams);
    tcase_add_test(tc, test_flat_parse);
    tcase_add_test(tc, test_gguf_roundtrip);
    suite_add_tcase(s, tc);
    return th_run_suite(s);
}
