/* test_generate.c — sampling processors against transformers' LogitsProcessors,
 * the PRNG, chat templates against apply_chat_template, generation_config
 * defaults, and on the tiny decoders of tests/fixtures/llm: greedy generation
 * equal to transformers' generate, batched equal to one by one, stop strings,
 * seeded sampling, and zero-shot label scoring equal to transformers'
 * log-softmax scores (goldens from tools/fixtures/make_llm_fixtures.py). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "tasks/llm.h"
#include "tests/testutil.h"

static char g_root[2048];

static void init_paths(void) {
    const char *f = __FILE__;
    const char *e = strstr(f, "/tests/test_generate.c");
    if (e && e - f < 2000) snprintf(g_root, sizeof g_root, "%.*s", (int)(e - f), f);
    else snprintf(g_root, sizeof g_root, ".");
}

static json_t *load(const char *rel) {
    char p[4096];
    snprintf(p, sizeof p, "%s/tests/fixtures/llm/%s", g_root, rel);
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", p, je.text);
    return j;
}

static void model_dir(char *d, size_t n, const char *name) { snprintf(d, n, "%s/tests/fixtures/llm/%s", g_root, name); }

/* ---- processors ------------------------------------------------------------------ */

static void row_of(json_t *r, float *x, int64_t V) {
    for (int64_t i = 0; i < V; i++) {
        json_t *v = json_array_get(r, (size_t)i);
        x[i] = json_is_null(v) ? -INFINITY : (float)json_number_value(v);
    }
}

START_TEST(test_processors) {
    json_t *j = load("processors.json");
    json_t *L = json_object_get(j, "logits"), *I = json_object_get(j, "input_ids"), *C = json_object_get(j, "cases");
    const int64_t V = (int64_t)json_array_size(json_array_get(L, 0));
    float x[256], want[256], fs[256];
    int32_t is[256], ids[64];
    ck_assert(V > 0 && V <= 256);
    for (size_t c = 0; c < json_array_size(C); c++) {
        json_t *cs = json_array_get(C, c);
        const char *name = json_string_value(json_object_get(cs, "name"));
        double p = json_number_value(json_object_get(cs, "param"));
        for (size_t r = 0; r < json_array_size(L); r++) {
            row_of(json_array_get(L, r), x, V);
            row_of(json_array_get(json_object_get(cs, "out"), r), want, V);
            json_t *ir = json_array_get(I, r);
            int64_t n = (int64_t)json_array_size(ir);
            for (int64_t k = 0; k < n; k++) ids[k] = (int32_t)json_integer_value(json_array_get(ir, (size_t)k));
            if (strcmp(name, "repetition_penalty") == 0) llm_repetition_penalty(x, V, ids, n, (float)p);
            else if (strcmp(name, "temperature") == 0) llm_temperature(x, V, (float)p);
            else if (strcmp(name, "top_k") == 0) llm_top_k(x, V, (int64_t)p, fs);
            else if (strncmp(name, "top_p", 5) == 0) llm_top_p(x, V, p, is);
            else if (strcmp(name, "min_p") == 0) llm_min_p(x, V, p);
            else ck_abort_msg("unknown case %s", name);
            int kept = 0;
            for (int64_t i = 0; i < V; i++) {
                ck_assert_msg(isinf(x[i]) == isinf(want[i]), "%s row %zu token %lld: %g vs %g", name, r, (long long)i,
                              x[i], want[i]);
                if (!isinf(want[i])) {
                    kept++;
                    ck_assert_msg(fabsf(x[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])), "%s row %zu token %lld: %g vs %g",
                                  name, r, (long long)i, x[i], want[i]);
                }
            }
            ck_assert_int_gt(kept, 0);
        }
    }
    json_decref(j);
}
END_TEST

START_TEST(test_rng_and_sampling) {
    llm_rng a, b, c;
    llm_rng_seed(&a, 42);
    llm_rng_seed(&b, 42);
    llm_rng_seed(&c, 43);
    bool differ = false;
    for (int i = 0; i < 100; i++) {
        uint64_t x = llm_rng_next(&a);
        ck_assert_uint_eq(x, llm_rng_next(&b));
        differ |= x != llm_rng_next(&c);
    }
    ck_assert(differ);
    for (int i = 0; i < 1000; i++) {
        double u = llm_rng_uniform(&a);
        ck_assert(u >= 0 && u < 1);
    }
    /* draws follow softmax: logits log(0.2), log(0.8), -inf */
    int hits[3] = {0};
    for (int i = 0; i < 20000; i++) {
        float l[3] = {logf(0.2f), logf(0.8f), -INFINITY};
        hits[llm_sample_probs(l, 3, &a)]++;
    }
    ck_assert_int_eq(hits[2], 0);
    ck_assert_msg(fabs(hits[1] / 20000.0 - 0.8) < 0.02, "p(1) = %g", hits[1] / 20000.0);
    float t[4] = {1, 3, 3, 2};
    ck_assert_int_eq(llm_argmax(t, 4), 1); /* the first maximum, as torch.argmax */
}
END_TEST

/* ---- chat templates ---------------------------------------------------------------- */

START_TEST(test_chat_golden) {
    json_t *g = load("chat_golden.json");
    const char *fam;
    json_t *cases;
    int n = 0;
    json_object_foreach(g, fam, cases) {
        char d[4096];
        snprintf(d, sizeof d, "%s/tests/fixtures/llm/chat/%s", g_root, fam);
        llm_chat c;
        ck_assert_msg(llm_chat_load(&c, d) == SENTI_OK, "%s: %s", fam, senti_last_error());
        ck_assert_int_ne(c.family, LLM_CHAT_NONE);
        for (size_t i = 0; i < json_array_size(cases); i++) {
            json_t *cs = json_array_get(cases, i), *ms = json_object_get(cs, "messages");
            llm_msg m[8];
            size_t k = json_array_size(ms);
            for (size_t j = 0; j < k; j++) {
                m[j].role = json_string_value(json_object_get(json_array_get(ms, j), "role"));
                m[j].content = json_string_value(json_object_get(json_array_get(ms, j), "content"));
            }
            char *out = NULL;
            size_t len = 0;
            ck_assert_msg(llm_chat_render(&c, m, (int64_t)k, true, &out, &len) == SENTI_OK, "%s %zu: %s", fam, i,
                          senti_last_error());
            const char *want = json_string_value(json_object_get(cs, "text"));
            ck_assert_msg(strcmp(out, want) == 0, "%s case %zu:\n got  [%s]\n want [%s]", fam, i, out, want);
            ck_assert_uint_eq(len, strlen(want));
            senti_mfree(out);
            n++;
        }
        llm_chat_free(&c);
    }
    ck_assert_int_ge(n, 15);
    json_decref(g);
}
END_TEST

/* The template text of tests/fixtures/llm/chat/<fam> (malloc'd). */
static char *family_template(const char *fam) {
    char rel[128];
    snprintf(rel, sizeof rel, "chat/%s/tokenizer_config.json", fam);
    json_t *j = load(rel);
    char *t = strdup(json_string_value(json_object_get(j, "chat_template")));
    json_decref(j);
    ck_assert_ptr_nonnull(t);
    return t;
}

START_TEST(test_chat_errors) {
    llm_chat c;
    ck_assert_int_eq(llm_chat_from_template(&c, "{% for m in messages %}<<{{ m.content }}>>{% endfor %}", "", "", "x.json"),
                     SENTI_ERR_UNSUPPORTED);
    assert_msg_has("unknown template", "x.json", "unknown chat template", "--no-chat-template", NULL);
    /* look-alikes that would render differently are refused, not guessed */
    ck_assert_int_eq(llm_chat_from_template(&c, "{{ bos_token }}<|start_header_id|>system<|end_header_id|>\n\n"
                                                "Cutting Knowledge Date: December 2023\n", "", "", "l31"),
                     SENTI_ERR_UNSUPPORTED);
    ck_assert_int_eq(llm_chat_from_template(&c, "{{- '[INST] ' + message['content'] + '[/INST]' }}", "", "", "v03"),
                     SENTI_ERR_UNSUPPORTED);
    char d[4096];
    snprintf(d, sizeof d, "%s/tests/fixtures/llm/chat/mistral", g_root);
    ck_assert_int_eq(llm_chat_load(&c, d), SENTI_OK);
    char *out = NULL;
    llm_msg sys[2] = {{"system", "be nice"}, {"user", "hi"}};
    ck_assert_int_eq(llm_chat_render(&c, sys, 2, true, &out, NULL), SENTI_ERR_INVALID_ARG);
    llm_msg two[2] = {{"user", "a"}, {"user", "b"}};
    ck_assert_int_eq(llm_chat_render(&c, two, 2, true, &out, NULL), SENTI_ERR_INVALID_ARG);
    assert_msg_has("alternate", "alternate", NULL);
    ck_assert_ptr_null(out);
    llm_chat_free(&c);
    /* a directory without a template: family none, not an error */
    ck_assert_int_eq(llm_chat_load(&c, "/nonexistent-dir"), SENTI_OK);
    ck_assert_int_eq(c.family, LLM_CHAT_NONE);
    /* the Qwen2 default system message is read from the template text, its newlines escaped or not */
    char *qwen = family_template("qwen2"), *at = strstr(qwen, "You are a helpful assistant.");
    ck_assert_ptr_nonnull(at);
    char edited[4096], escaped[4096];
    snprintf(edited, sizeof edited, "%.*sBe brief.%s", (int)(at - qwen), qwen, at + strlen("You are a helpful assistant."));
    size_t ke = 0;
    for (const char *q = edited; *q && ke + 3 < sizeof escaped; q++) {
        if (*q == '\n') escaped[ke++] = '\\', escaped[ke++] = 'n';
        else escaped[ke++] = *q;
    }
    escaped[ke] = '\0';
    for (int e = 0; e < 2; e++) {
        ck_assert_int_eq(llm_chat_from_template(&c, e ? escaped : edited, "", "", NULL), SENTI_OK);
        ck_assert_int_eq(c.family, LLM_CHAT_CHATML);
        ck_assert_str_eq(c.default_system, "Be brief.");
        llm_chat_free(&c);
    }
    free(qwen);
    /* look-alikes of known families that render otherwise are refused: a Llama-3 template with a default
     * system message, ChatML trimming the contents or with thinking tags, Llama-2's without its bos */
    char *l3 = family_template("llama3"), *chatml = family_template("chatml"), *l2 = family_template("llama2");
    char v[8192];
    snprintf(v, sizeof v, "{{ '<|start_header_id|>system<|end_header_id|>\\n\\nYou are a pirate.<|eot_id|>' }}%s", l3);
    ck_assert_int_eq(llm_chat_from_template(&c, v, "", "", "l3-sys"), SENTI_ERR_UNSUPPORTED);
    at = strstr(chatml, "message['content']");
    ck_assert_ptr_nonnull(at);
    snprintf(v, sizeof v, "%.*smessage['content'] | trim%s", (int)(at - chatml), chatml, at + strlen("message['content']"));
    ck_assert_int_eq(llm_chat_from_template(&c, v, "", "", "chatml-trim"), SENTI_ERR_UNSUPPORTED);
    snprintf(v, sizeof v, "%s%s", chatml, "{% if add_generation_prompt %}<think>\\n\\n</think>\\n\\n{% endif %}");
    ck_assert_int_eq(llm_chat_from_template(&c, v, "", "", "chatml-think"), SENTI_ERR_UNSUPPORTED);
    at = strstr(l2, "bos_token + ");
    ck_assert_ptr_nonnull(at);
    snprintf(v, sizeof v, "%.*s%s", (int)(at - l2), l2, at + strlen("bos_token + "));
    ck_assert_int_eq(llm_chat_from_template(&c, v, "", "", "l2-nobos"), SENTI_ERR_UNSUPPORTED);
    free(l3), free(chatml), free(l2);
    /* Gemma 1 / 2 refuses a system message (as its template raises); Gemma 3
     * writes it ahead of the first turn with the template's own separator,
     * its newlines escaped or not; a Gemma look-alike is refused */
    snprintf(d, sizeof d, "%s/tests/fixtures/llm/chat/gemma", g_root);
    ck_assert_int_eq(llm_chat_load(&c, d), SENTI_OK);
    ck_assert_int_eq(c.family, LLM_CHAT_GEMMA);
    ck_assert_int_eq(llm_chat_render(&c, sys, 2, true, &out, NULL), SENTI_ERR_INVALID_ARG);
    assert_msg_has("gemma system", "system role not supported", NULL);
    llm_chat_free(&c);
    static const char g3[] =
        "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] "
        "+ '\\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = \"\" -%}"
        "{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}"
        "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
        "{{ raise_exception(\"Conversation roles must alternate user/assistant/user/assistant/...\") }}{%- endif -%}"
        "{%- if (message['role'] == 'assistant') -%}{%- set role = \"model\" -%}{%- else -%}"
        "{%- set role = message['role'] -%}{%- endif -%}"
        "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}"
        "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{'<start_of_turn>model\\n'}}{%- endif -%}";
    ck_assert_int_eq(llm_chat_from_template(&c, g3, "<bos>", "<eos>", "g3"), SENTI_OK);
    ck_assert_int_eq(c.family, LLM_CHAT_GEMMA3);
    ck_assert_int_eq(llm_chat_render(&c, sys, 2, true, &out, NULL), SENTI_OK);
    ck_assert_str_eq(out, "<bos><start_of_turn>user\nbe nice\nhi<end_of_turn>\n<start_of_turn>model\n");
    senti_mfree(out);
    out = NULL;
    llm_chat_free(&c);
    char g3raw[sizeof g3]; /* the same with its escapes as newlines */
    size_t k = 0;
    for (size_t i = 0; g3[i]; i++) {
        if (g3[i] == '\\' && g3[i + 1] == 'n') g3raw[k++] = '\n', i++;
        else g3raw[k++] = g3[i];
    }
    g3raw[k] = '\0';
    ck_assert_int_eq(llm_chat_from_template(&c, g3raw, "<bos>", "<eos>", "g3"), SENTI_OK);
    ck_assert_int_eq(c.family, LLM_CHAT_GEMMA3);
    llm_chat_free(&c);
    ck_assert_int_eq(llm_chat_from_template(&c, "{% for m in messages %}<start_of_turn>{{ m.role }}\n{{ m.content }}"
                                                "<end_of_turn>\n{% endfor %}", "", "", "g?"),
                     SENTI_ERR_UNSUPPORTED);
}
END_TEST

START_TEST(test_gguf_chat) {
    char path[] = "/tmp/senti-chat-XXXXXX.gguf";
    int fd = mkstemps(path, 5);
    ck_assert_int_ge(fd, 0);
    close(fd);
    gguf_writer *w = gguf_writer_init();
    gguf_value toks[6] = {gguf_val_str("<unk>"),         gguf_val_str("<|begin_of_text|>"), gguf_val_str("<|eot_id|>"),
                          gguf_val_str("<end_of_turn>"), gguf_val_str("<|im_end|>"),        gguf_val_str("<end_of_turn2>")};
    ck_assert_int_eq(gguf_writer_add_kv(w, "tokenizer.ggml.tokens", gguf_val_arr(GGUF_VT_STRING, 6, NULL, toks)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "tokenizer.ggml.bos_token_id", gguf_val_uint(GGUF_VT_U32, 1)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_add_kv(w, "tokenizer.ggml.eos_token_id", gguf_val_uint(GGUF_VT_U32, 2)), SENTI_OK);
    char *l3 = family_template("llama3");
    ck_assert_int_eq(gguf_writer_add_kv(w, "tokenizer.chat_template", gguf_val_str(l3)), SENTI_OK);
    ck_assert_int_eq(gguf_writer_write(w, path), SENTI_OK);
    gguf_writer_free(w);
    free(l3);
    llm_chat c;
    ck_assert_msg(llm_chat_load(&c, path) == SENTI_OK, "%s", senti_last_error());
    ck_assert_int_eq(c.family, LLM_CHAT_LLAMA3);
    ck_assert_str_eq(c.bos, "<|begin_of_text|>");
    ck_assert_str_eq(c.eos, "<|eot_id|>");
    llm_msg m = {"user", " hi "};
    char *out;
    ck_assert_int_eq(llm_chat_render(&c, &m, 1, true, &out, NULL), SENTI_OK);
    ck_assert_str_eq(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                          "<|start_header_id|>assistant<|end_header_id|>\n\n");
    senti_mfree(out);
    llm_chat_free(&c);
    llm_gen_opts o = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&o, path), SENTI_OK);
    /* the eos id, then (as llama.cpp) the tokens whose text ends a turn, each once */
    ck_assert_int_eq(o.n_eos, 3);
    ck_assert_int_eq(o.eos[0], 2);
    ck_assert_int_eq(o.eos[1], 3);
    ck_assert_int_eq(o.eos[2], 4);
    remove(path);
}
END_TEST

/* Every allocation failure while loading and rendering a template: an error, nothing leaked. */
START_TEST(test_chat_alloc_failures) {
    char d[4096];
    snprintf(d, sizeof d, "%s/tests/fixtures/llm/chat/llama2", g_root);
    llm_msg m[4] = {{"system", "sys"}, {"user", " u1 "}, {"assistant", "a1"}, {"user", "u2"}};
    senti_allocator a = {count_alloc, count_free, NULL};
    bool ok_seen = false;
    for (g_fail_at = 0; g_fail_at < 200 && !ok_seen; g_fail_at++) {
        g_count = g_live = 0;
        senti_set_allocator(&a);
        llm_chat c;
        char *out = NULL;
        senti_status st = llm_chat_load(&c, d);
        if (st == SENTI_OK) {
            st = llm_chat_render(&c, m, 4, true, &out, NULL);
            ok_seen = st == SENTI_OK;
            llm_chat_free(&c);
        }
        if (st != SENTI_OK) ck_assert_int_eq(st, SENTI_ERR_NO_MEMORY);
        senti_mfree(out);
        senti_set_allocator(NULL);
        ck_assert_msg(g_live == 0, "fail at %ld: %ld blocks leaked", g_fail_at, g_live);
    }
    ck_assert(ok_seen);
}
END_TEST

START_TEST(test_gen_opts) {
    char d[4096];
    model_dir(d, sizeof d, "qwen2");
    llm_gen_opts o = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&o, d), SENTI_OK);
    ck_assert_int_eq(o.n_eos, 2); /* generation_config's list, not config.json's int */
    ck_assert_int_eq(o.eos[0], 2);
    ck_assert_int_eq(o.eos[1], 0);
    ck_assert(!o.do_sample);
    model_dir(d, sizeof d, "llama");
    o = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&o, d), SENTI_OK);
    ck_assert_int_eq(o.n_eos, 1);
    ck_assert_int_eq(o.eos[0], 2);
}
END_TEST

/* ---- end to end on the tiny decoders ------------------------------------------------------ */

typedef struct lm_fix {
    senti_model *m;
    senti_tokenizer *tok;
    llm_chat chat;
    llm_gen_opts go;
    json_t *golden;
} lm_fix;

static void fix_open(lm_fix *f, const char *name) {
    char d[4096];
    model_dir(d, sizeof d, name);
    f->m = senti_model_load(d, 2);
    ck_assert_msg(f->m != NULL, "%s: %s", name, senti_last_error());
    ck_assert(lm_is_causal(f->m));
    f->tok = senti_tokenizer_load(d);
    ck_assert_msg(f->tok != NULL, "%s: %s", name, senti_last_error());
    ck_assert_int_eq(llm_chat_load(&f->chat, d), SENTI_OK);
    f->go = llm_gen_opts_defaults();
    ck_assert_int_eq(llm_gen_opts_load(&f->go, d), SENTI_OK);
    char g[64];
    snprintf(g, sizeof g, "%s/golden.json", name);
    f->golden = load(g);
}

static void fix_close(lm_fix *f) {
    senti_model_free(f->m);
    senti_tokenizer_free(f->tok);
    llm_chat_free(&f->chat);
    json_decref(f->golden);
}

static int32_t *ids_of(json_t *a, int64_t *n) {
    *n = (int64_t)json_array_size(a);
    int32_t *v = senti_malloc((size_t)(*n ? *n : 1) * sizeof *v);
    for (int64_t i = 0; i < *n; i++) v[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

static void check_greedy(const char *name) {
    lm_fix f;
    fix_open(&f, name);
    json_t *G = json_object_get(f.golden, "greedy");
    const int64_t n = (int64_t)json_array_size(G);
    int32_t *pids[16];
    int64_t plen[16];
    llm_gen_result one[16], all[16];
    memset(all, 0, sizeof all);
    f.go.max_new_tokens = 32;
    ck_assert(n > 0 && n <= 16);
    for (int64_t i = 0; i < n; i++) {
        json_t *c = json_array_get(G, (size_t)i);
        int64_t ng;
        int32_t *gold_in = ids_of(json_object_get(c, "input_ids"), &ng);
        /* our prompt ids (chat template + no doubled bos) equal transformers' */
        const char *p = json_string_value(json_object_get(c, "prompt"));
        ck_assert_int_eq(llm_prompt_ids(f.tok, &f.chat, json_is_true(json_object_get(c, "chat")), NULL, p, strlen(p),
                                        &pids[i], &plen[i]),
                         SENTI_OK);
        ck_assert_int_eq(plen[i], ng);
        for (int64_t k = 0; k < ng; k++) ck_assert_int_eq(pids[i][k], gold_in[k]);
        senti_mfree(gold_in);
        memset(&one[i], 0, sizeof one[i]);
        const int32_t *pp = pids[i];
        ck_assert_msg(llm_generate(f.m, f.tok, &f.go, &pp, &plen[i], 1, NULL, NULL, &one[i]) == SENTI_OK, "%s",
                      senti_last_error());
        int64_t nw;
        int32_t *want = ids_of(json_object_get(c, "output_ids"), &nw);
        ck_assert_msg(one[i].n == nw, "%s case %lld: %lld tokens, transformers %lld", name, (long long)i,
                      (long long)one[i].n, (long long)nw);
        for (int64_t k = 0; k < nw; k++)
            ck_assert_msg(one[i].ids[k] == want[k], "%s case %lld token %lld: %d vs %d", name, (long long)i, (long long)k,
                          one[i].ids[k], want[k]);
        /* finish: eos inside 32 tokens -> stop, else length */
        ck_assert(one[i].stopped == (nw < 32));
        senti_mfree(want);
    }
    /* the whole set as one batch: the same tokens */
    ck_assert_int_eq(llm_generate(f.m, f.tok, &f.go, (const int32_t *const *)pids, plen, n, NULL, NULL, all), SENTI_OK);
    for (int64_t i = 0; i < n; i++) {
        ck_assert_int_eq(all[i].n, one[i].n);
        ck_assert_int_eq(memcmp(all[i].ids, one[i].ids, (size_t)one[i].n * sizeof(int32_t)), 0);
        ck_assert_str_eq(all[i].text, one[i].text);
        llm_gen_result_clear(&one[i]);
        llm_gen_result_clear(&all[i]);
        senti_mfree(pids[i]);
    }
    fix_close(&f);
}

START_TEST(test_greedy_qwen2) { check_greedy("qwen2"); }
END_TEST
START_TEST(test_greedy_llama) { check_greedy("llama"); }
END_TEST

/* Beam search with a stop string: a candidate that completes it finishes as an
 * eos would (transformers' StopStringCriteria in _beam_search): the ids of
 * generate(num_beams=3, stop_strings=[s]) (beam_stop.json); the text ends
 * before the stop string. And a generation cancelled at its first step. */
static int g_cancel_calls;
static bool cancel_at_3(void *ctx) { (void)ctx; return ++g_cancel_calls >= 3; }

START_TEST(test_beam_stop_and_cancel) {
    lm_fix f;
    fix_open(&f, "qwen2");
    json_t *cases = load("beam_stop.json"), *c;
    size_t i;
    int stopped = 0;
    json_array_foreach(cases, i, c) {
        int64_t n;
        int32_t *p = ids_of(json_object_get(c, "prompt_ids"), &n);
        const int32_t *pp = p;
        const char *stop = json_string_value(json_object_get(c, "stop"));
        llm_gen_opts o = f.go;
        o.num_beams = json_integer_value(json_object_get(c, "num_beams"));
        o.max_new_tokens = json_integer_value(json_object_get(c, "max_new_tokens"));
        o.stop = &stop;
        o.n_stop = 1;
        llm_gen_result r = {0};
        ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &r), SENTI_OK);
        int64_t wn;
        int32_t *want = ids_of(json_object_get(c, "ids"), &wn);
        ck_assert_msg(r.n == wn && memcmp(r.ids, want, (size_t)wn * sizeof *want) == 0, "case %zu (stop \"%s\"): ids differ",
                      i, stop);
        ck_assert(strstr(r.text, stop) == NULL);
        stopped += r.stopped;
        llm_gen_result_clear(&r);
        senti_mfree(want);
        senti_mfree(p);
    }
    ck_assert_int_ge(stopped, 4);
    json_decref(cases);
    /* cancelled: an error naming it, after as many steps as the hook allowed */
    json_t *g0 = json_array_get(json_object_get(f.golden, "greedy"), 0);
    int64_t n;
    int32_t *p = ids_of(json_object_get(g0, "input_ids"), &n);
    const int32_t *pp = p;
    for (int beams = 1; beams <= 2; beams++) {
        llm_gen_opts o = f.go;
        o.max_new_tokens = 32;
        o.num_beams = beams;
        o.cancel = cancel_at_3;
        g_cancel_calls = 0;
        llm_gen_result r = {0};
        ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &r), SENTI_ERR_IO);
        ck_assert_ptr_nonnull(strstr(senti_last_error(), "cancelled"));
        ck_assert_int_eq(g_cancel_calls, 3);
        llm_gen_result_clear(&r);
    }
    senti_mfree(p);
    fix_close(&f);
}
END_TEST

START_TEST(test_stop_and_sampling) {
    lm_fix f;
    fix_open(&f, "qwen2");
    json_t *c = json_array_get(json_object_get(f.golden, "greedy"), 0);
    int64_t n;
    int32_t *p = ids_of(json_object_get(c, "input_ids"), &n);
    const int32_t *pp = p;
    f.go.max_new_tokens = 32;
    llm_gen_result full = {0}, cut = {0}, s1 = {0}, s2 = {0}, s3 = {0}, k1 = {0};
    ck_assert_int_eq(llm_generate(f.m, f.tok, &f.go, &pp, &n, 1, NULL, NULL, &full), SENTI_OK);
    ck_assert(!full.stopped && full.len > 6);
    /* stop on a piece from the middle of the greedy text: output ends before it */
    char stop[8];
    size_t at = full.len / 2;
    memcpy(stop, full.text + at, 3);
    stop[3] = '\0';
    const char *stops[1] = {stop};
    llm_gen_opts o = f.go;
    o.stop = stops;
    o.n_stop = 1;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &cut), SENTI_OK);
    ck_assert(cut.stopped);
    ck_assert(cut.n < full.n);
    ck_assert(cut.len <= at);
    ck_assert(strstr(cut.text, stop) == NULL);
    ck_assert_int_eq(memcmp(cut.text, full.text, cut.len), 0);
    ck_assert_int_eq(memcmp(full.text + cut.len, stop, 3), 0); /* cut exactly at the first occurrence */
    /* seeded sampling is reproducible; top-k 1 is greedy */
    o = f.go;
    o.do_sample = true;
    o.temperature = 1.5;
    o.seed = 7;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &s1), SENTI_OK);
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &s2), SENTI_OK);
    ck_assert_int_eq(s1.n, s2.n);
    ck_assert_int_eq(memcmp(s1.ids, s2.ids, (size_t)s1.n * sizeof(int32_t)), 0);
    o.seed = 8;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &s3), SENTI_OK);
    ck_assert(s3.n != s1.n || memcmp(s1.ids, s3.ids, (size_t)s1.n * sizeof(int32_t)) != 0);
    /* a sampled continuation is its prompt's alone: the same beside another prompt, before or after it */
    {
        int32_t other[3] = {p[0], p[n > 1 ? 1 : 0], p[0]};
        const int32_t *ab[2] = {other, pp}, *ba[2] = {pp, other};
        const int64_t lab[2] = {3, n}, lba[2] = {n, 3};
        llm_gen_result rab[2] = {{0}}, rba[2] = {{0}};
        o.seed = 7;
        ck_assert_int_eq(llm_generate(f.m, f.tok, &o, ab, lab, 2, NULL, NULL, rab), SENTI_OK);
        ck_assert_int_eq(llm_generate(f.m, f.tok, &o, ba, lba, 2, NULL, NULL, rba), SENTI_OK);
        ck_assert_int_eq(rab[1].n, s1.n);
        ck_assert_int_eq(memcmp(rab[1].ids, s1.ids, (size_t)s1.n * sizeof(int32_t)), 0);
        ck_assert_int_eq(rba[0].n, s1.n);
        ck_assert_int_eq(memcmp(rba[0].ids, s1.ids, (size_t)s1.n * sizeof(int32_t)), 0);
        ck_assert_int_eq(rab[0].n, rba[1].n);
        ck_assert_int_eq(memcmp(rab[0].ids, rba[1].ids, (size_t)rab[0].n * sizeof(int32_t)), 0);
        for (int k = 0; k < 2; k++) llm_gen_result_clear(&rab[k]), llm_gen_result_clear(&rba[k]);
        o.seed = 8;
    }
    o.top_k = 1;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, &k1), SENTI_OK);
    ck_assert_int_eq(k1.n, full.n);
    ck_assert_int_eq(memcmp(k1.ids, full.ids, (size_t)full.n * sizeof(int32_t)), 0);
    /* no new tokens; a prompt as long as the context is refused, the other still runs */
    llm_gen_result z[2] = {{0}};
    o = f.go;
    o.max_new_tokens = 0;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, z), SENTI_OK);
    ck_assert_int_eq(z[0].n, 0);
    ck_assert_str_eq(z[0].text, "");
    ck_assert(!z[0].stopped);
    llm_gen_result_clear(&z[0]);
    o.max_new_tokens = 32;
    o.max_length = n + 5; /* generation_config's max_length: the prompt counts */
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, &pp, &n, 1, NULL, NULL, z), SENTI_OK);
    ck_assert_int_eq(z[0].n, 5);
    ck_assert_int_eq(memcmp(z[0].ids, full.ids, 5 * sizeof(int32_t)), 0);
    llm_gen_result_clear(&z[0]);
    o.max_length = 0;
    int64_t big = lm_max_ctx(f.m);
    int32_t *lots = senti_malloc((size_t)big * sizeof(int32_t));
    for (int64_t i = 0; i < big; i++) lots[i] = p[i % n];
    const int32_t *two[2] = {lots, p};
    int64_t lens[2] = {big, n};
    o.max_new_tokens = 3;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, two, lens, 2, NULL, NULL, z), SENTI_OK);
    ck_assert_ptr_nonnull(z[0].error);
    ck_assert(strstr(z[0].error, "tokens") != NULL);
    ck_assert_ptr_null(z[1].error);
    ck_assert_int_eq(z[1].n, 3);
    llm_gen_result_clear(&z[0]);
    llm_gen_result_clear(&z[1]);
    lots[0] = (int32_t)lm_vocab(f.m); /* an id past the embeddings: that prompt's error */
    lens[0] = 2;
    ck_assert_int_eq(llm_generate(f.m, f.tok, &o, two, lens, 2, NULL, NULL, z), SENTI_OK);
    ck_assert(z[0].error && strstr(z[0].error, "vocabulary"));
    ck_assert_int_eq(z[1].n, 3);
    ck_assert_int_eq(memcmp(z[1].ids, full.ids, 3 * sizeof(int32_t)), 0);
    llm_gen_result_clear(&z[0]);
    llm_gen_result_clear(&z[1]);
    senti_mfree(lots);
    llm_gen_result *rs[] = {&full, &cut, &s1, &s2, &s3, &k1};
    for (size_t i = 0; i < 6; i++) llm_gen_result_clear(rs[i]);
    senti_mfree(p);
    fix_close(&f);
}
END_TEST

static void check_score(const char *name) {
    lm_fix f;
    fix_open(&f, name);
    json_t *S = json_object_get(f.golden, "score");
    ck_assert(json_array_size(S) > 0);
    for (size_t i = 0; i < json_array_size(S); i++) {
        json_t *c = json_array_get(S, i), *jl = json_object_get(c, "labels");
        const char *labels[8];
        int64_t L = (int64_t)json_array_size(jl);
        for (int64_t l = 0; l < L; l++) labels[l] = json_string_value(json_array_get(jl, (size_t)l));
        llm_score_opts o = {.labels = labels, .n_labels = L, .use_chat = true};
        const char *text = json_string_value(json_object_get(c, "text"));
        /* the prompt transformers scored */
        char *instr = llm_score_instruction(&o, text, strlen(text));
        int32_t *pid;
        int64_t np, ng;
        ck_assert_int_eq(llm_prompt_ids(f.tok, &f.chat, true, NULL, instr, strlen(instr), &pid, &np), SENTI_OK);
        int32_t *gold = ids_of(json_object_get(c, "prompt_ids"), &ng);
        ck_assert_int_eq(np, ng);
        ck_assert_int_eq(memcmp(pid, gold, (size_t)np * sizeof(int32_t)), 0);
        double lp[8], pr[8];
        ck_assert_msg(llm_score(f.m, f.tok, &f.chat, &o, text, strlen(text), lp, pr) == SENTI_OK, "%s",
                      senti_last_error());
        for (int64_t l = 0; l < L; l++) {
            double wp = json_number_value(json_array_get(json_object_get(c, "probs"), (size_t)l));
            double wl = json_number_value(json_array_get(json_object_get(c, "logprob"), (size_t)l));
            ck_assert_msg(fabs(pr[l] - wp) <= 1e-4, "%s case %zu label %s: p %g vs %g", name, i, labels[l], pr[l], wp);
            ck_assert_msg(fabs(lp[l] - wl) <= 1e-4 * (1 + fabs(wl)), "%s case %zu label %s: logprob %g vs %g", name, i,
                          labels[l], lp[l], wl);
        }
        senti_mfree(instr);
        senti_mfree(pid);
        senti_mfree(gold);
    }
    fix_close(&f);
}

START_TEST(test_score_qwen2) { check_score("qwen2"); }
END_TEST
START_TEST(test_score_llama) { check_score("llama"); }
END_TEST

START_TEST(test_generate_run) {
    lm_fix f;
    fix_open(&f, "qwen2");
    const char *texts[] = {"the movie was", "i did not like it"};
    task_source *src = task_source_texts(texts, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    llm_generate_opts o = {.gen = f.go};
    o.gen.max_new_tokens = 5;
    task_runner_opts ro = task_runner_opts_defaults();
    task_stats st;
    ck_assert_int_eq(llm_generate_run(f.m, f.tok, &f.chat, &o, &ro, src, out, &st), SENTI_OK);
    fclose(out);
    ck_assert_int_eq(st.records, 2);
    char *line = strtok(buf, "\n");
    for (int i = 0; i < 2; i++, line = strtok(NULL, "\n")) {
        ck_assert_ptr_nonnull(line);
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(j);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), i);
        ck_assert(json_is_string(json_object_get(j, "text")));
        ck_assert_int_eq(json_array_size(json_object_get(j, "ids")), 5);
        ck_assert_str_eq(json_string_value(json_object_get(j, "finish_reason")), "length");
        json_decref(j);
    }
    free(buf);
    task_source_free(src);
    fix_close(&f);
}
END_TEST

START_TEST(test_zero_shot_run) {
    lm_fix f;
    fix_open(&f, "qwen2");
    json_t *c = json_array_get(json_object_get(f.golden, "score"), 0), *jl = json_object_get(c, "labels");
    const char *labels[8];
    int64_t L = (int64_t)json_array_size(jl);
    for (int64_t l = 0; l < L; l++) labels[l] = json_string_value(json_array_get(jl, (size_t)l));
    const char *texts[] = {json_string_value(json_object_get(c, "text")), "\xff bad utf-8", "a dull , lifeless film ."};
    task_source *src = task_source_texts(texts, 3);
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    llm_score_opts o = {.labels = labels, .n_labels = L, .use_chat = true};
    task_runner_opts ro = task_runner_opts_defaults();
    task_stats st;
    ro.batch_size = 3; /* the good records are scored together */
    ck_assert_int_eq(llm_zero_shot_run(f.m, f.tok, &f.chat, &o, &ro, src, out, &st), SENTI_OK);
    fclose(out);
    ck_assert_int_eq(st.records, 3);
    ck_assert_int_eq(st.errors, 1);
    ck_assert_int_eq(st.batches, 1);
    char *l2 = strchr(buf, '\n');
    ck_assert_ptr_nonnull(l2);
    *l2++ = '\0';
    char *l3 = strchr(l2, '\n');
    ck_assert_ptr_nonnull(l3);
    *l3++ = '\0';
    json_t *j = json_loads(buf, 0, NULL), *probs = json_object_get(c, "probs");
    ck_assert_ptr_nonnull(j);
    int64_t best = 0;
    for (int64_t l = 0; l < L; l++) {
        double want = json_number_value(json_array_get(probs, (size_t)l));
        if (want > json_number_value(json_array_get(probs, (size_t)best))) best = l;
        ck_assert(fabs(json_number_value(json_object_get(json_object_get(j, "scores"), labels[l])) - want) <= 1e-4);
    }
    ck_assert_str_eq(json_string_value(json_object_get(j, "label")), labels[best]);
    json_decref(j);
    j = json_loads(l2, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 1);
    ck_assert(strstr(json_string_value(json_object_get(j, "error")), "UTF-8") != NULL);
    json_decref(j);
    /* the third, scored in the same batch, equals it scored alone */
    double lp[8], pr[8];
    ck_assert_int_eq(llm_score(f.m, f.tok, &f.chat, &o, texts[2], strlen(texts[2]), lp, pr), SENTI_OK);
    j = json_loads(l3, 0, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "id")), 2);
    for (int64_t l = 0; l < L; l++) {
        double got = json_number_value(json_object_get(json_object_get(j, "scores"), labels[l]));
        ck_assert_msg(fabs(got - pr[l]) <= 1e-5, "label %s: batched %g, alone %g", labels[l], got, pr[l]);
    }
    json_decref(j);
    free(buf);
    task_source_free(src);
    /* a JSONL record's own "labels" (here the defaults reversed) are its candidates; a malformed field
     * is that record's error */
    ck_assert_int_ge(L, 2);
    json_t *rec = json_pack("{s:s,s:[s,s]}", "text", texts[2], "labels", labels[1], labels[0]);
    char *line = json_dumps(rec, JSON_COMPACT), in[4096];
    snprintf(in, sizeof in, "%s\n{\"text\":\"x\",\"labels\":[]}\n{\"text\":\"%s\"}\n", line, "a dull , lifeless film .");
    free(line);
    json_decref(rec);
    FILE *fin = fmemopen(in, strlen(in), "r");
    src = task_source_file(fin, "in.jsonl");
    buf = NULL, len = 0;
    out = open_memstream(&buf, &len);
    ck_assert_int_eq(llm_zero_shot_run(f.m, f.tok, &f.chat, &o, &ro, src, out, &st), SENTI_OK);
    fclose(out);
    const char *two[2] = {labels[1], labels[0]};
    llm_score_opts o2 = o;
    o2.labels = two, o2.n_labels = 2;
    double lp2[2], pr2[2];
    ck_assert_int_eq(llm_score(f.m, f.tok, &f.chat, &o2, texts[2], strlen(texts[2]), lp2, pr2), SENTI_OK);
    json_t *lines = json_array();
    for (char *ln = buf, *e; (e = strchr(ln, '\n')); ln = e + 1) *e = '\0', json_array_append_new(lines, json_loads(ln, 0, NULL));
    ck_assert_int_eq(json_array_size(lines), 3);
    json_t *sc = json_object_get(json_array_get(lines, 0), "scores");
    ck_assert_int_eq(json_object_size(sc), 2);
    for (int l = 0; l < 2; l++)
        ck_assert(fabs(json_number_value(json_object_get(sc, two[l])) - pr2[l]) <= 1e-5);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(lines, 1), "error")), "labels"));
    ck_assert_int_eq(json_object_size(json_object_get(json_array_get(lines, 2), "scores")), (size_t)L);
    json_decref(lines);
    free(buf);
    task_source_free(src);
    fclose(fin);
    fix_close(&f);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("generate");
    TCase *t = tcase_create("unit");
    tcase_add_test(t, test_processors);
    tcase_add_test(t, test_rng_and_sampling);
    tcase_add_test(t, test_chat_golden);
    tcase_add_test(t, test_chat_errors);
    tcase_add_test(t, test_gen_opts);
    tcase_add_test(t, test_gguf_chat);
    tcase_add_test(t, test_chat_alloc_failures);
    suite_add_tcase(s, t);
    TCase *e = tcase_create("decoders");
    tcase_set_timeout(e, 600);
    tcase_add_test(e, test_greedy_qwen2);
    tcase_add_test(e, test_greedy_llama);
    tcase_add_test(e, test_stop_and_sampling);
    tcase_add_test(e, test_beam_stop_and_cancel);
    tcase_add_test(e, test_score_qwen2);
    tcase_add_test(e, test_score_llama);
    tcase_add_test(e, test_generate_run);
    tcase_add_test(e, test_zero_shot_run);
    suite_add_tcase(s, e);
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
