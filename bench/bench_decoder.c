/* bench_decoder.c — `senti bench decoder`: a Qwen2-0.5B-shaped causal LM
 * (hidden 896, 24 layers, 14 heads / 2 kv heads, head dim 64, FFN 4864,
 * vocabulary 151936, tied embeddings) with synthetic random weights, written
 * once as a bf16 HF checkpoint in a temp dir and loaded through the real
 * loader (model/decoder.c) at each weight type; timed through lm.h:
 *   prefill 1 x 128 and 16 x 128 tokens (tokens/s),
 *   decode of one token per slot at batch 1 and 16 with 128 tokens of
 *   context (tokens/s), with the weight bytes read per step / time as the
 *   achieved bandwidth (decode reads every weight once: the roofline is the
 *   machine's memory bandwidth).
 * Medians over --repeats runs with the spread [min .. max]. Weight types
 * f32, bf16 and q8_0 in turn; --filter keeps the cases whose name
 * ("<type> <case>", e.g. "q8_0 decode b16 ctx128") contains the string.
 * With -m MODEL (an HF directory or a GGUF), that causal LM instead, its
 * weights as stored unless --dtype: prefill 1 x 128 tokens from an empty
 * cache, and decode of 64 tokens one after the other after 128 of context
 * (what llama-bench's `-p 128` and `-n 64 -d 128` time). */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "../model/lm.h"
#include "bench.h"

enum { Q_HID = 896, Q_LAYERS = 24, Q_HEADS = 14, Q_KV = 2, Q_HD = 64, Q_FFN = 4864, Q_VOCAB = 151936 };
enum { B_CTX = 128, B_SLOTS = 16 };

typedef struct { const char *name; int64_t d0, d1; float base, scale; } q_tensor;

static uint64_t q_rng = 0x2545F4914F6CDD1Dull;
static float q_rand(void) {
    q_rng ^= q_rng << 13, q_rng ^= q_rng >> 7, q_rng ^= q_rng << 17;
    return (float)((double)(q_rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

/* The checkpoint's tensors in file order (names as HF writes Qwen2). */
static int q_tensors(q_tensor *t, char (*names)[96]) {
    int n = 0;
#define ADD(d0_, d1_, base_, scale_, ...)                                                                              \
    do {                                                                                                               \
        snprintf(names[n], 96, __VA_ARGS__);                                                                           \
        t[n] = (q_tensor){names[n], d0_, d1_, base_, scale_};                                                          \
        n++;                                                                                                           \
    } while (0)
    ADD(Q_VOCAB, Q_HID, 0, 0.05f, "model.embed_tokens.weight");
    for (int l = 0; l < Q_LAYERS; l++) {
        ADD(Q_HID, 0, 1, 0.05f, "model.layers.%d.input_layernorm.weight", l);
        ADD(Q_HID, 0, 1, 0.05f, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(Q_HEADS * Q_HD, Q_HID, 0, 0.05f, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(Q_HEADS * Q_HD, 0, 0, 0.05f, "model.layers.%d.self_attn.q_proj.bias", l);
        ADD(Q_KV * Q_HD, Q_HID, 0, 0.05f, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(Q_KV * Q_HD, 0, 0, 0.05f, "model.layers.%d.self_attn.k_proj.bias", l);
        ADD(Q_KV * Q_HD, Q_HID, 0, 0.05f, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(Q_KV * Q_HD, 0, 0, 0.05f, "model.layers.%d.self_attn.v_proj.bias", l);
        ADD(Q_HID, Q_HEADS * Q_HD, 0, 0.05f, "model.layers.%d.self_attn.o_proj.weight", l);
        ADD(Q_FFN, Q_HID, 0, 0.05f, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(Q_FFN, Q_HID, 0, 0.05f, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(Q_HID, Q_FFN, 0, 0.05f, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(Q_HID, 0, 1, 0.05f, "model.norm.weight");
#undef ADD
    return n;
}

/* Write config.json and a bf16 model.safetensors into dir. */
static bool write_checkpoint(const char *dir) {
    enum { MAX_T = 2 + 12 * Q_LAYERS };
    static q_tensor t[MAX_T];
    static char names[MAX_T][96];
    const int n = q_tensors(t, names);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return false;
    fprintf(f, "{\"architectures\":[\"Qwen2ForCausalLM\"],\"model_type\":\"qwen2\",\"vocab_size\":%d,"
               "\"hidden_size\":%d,\"intermediate_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
               "\"num_key_value_heads\":%d,\"max_position_embeddings\":32768,\"rms_norm_eps\":1e-6,"
               "\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"},\"hidden_act\":\"silu\","
               "\"tie_word_embeddings\":true,\"use_sliding_window\":false,\"eos_token_id\":151643}\n",
            Q_VOCAB, Q_HID, Q_FFN, Q_LAYERS, Q_HEADS, Q_KV);
    fclose(f);
    /* header: {"name":{"dtype":"BF16","shape":[..],"data_offsets":[b,e]},...} padded to 8 */
    size_t cap = 64 + (size_t)n * 200, len = 0, off = 0;
    char *hdr = malloc(cap);
    if (!hdr) return false;
    len += (size_t)snprintf(hdr + len, cap - len, "{");
    for (int i = 0; i < n; i++) {
        const size_t bytes = (size_t)t[i].d0 * (size_t)(t[i].d1 ? t[i].d1 : 1) * 2;
        if (t[i].d1)
            len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld,%lld],"
                                    "\"data_offsets\":[%zu,%zu]}", i ? "," : "", t[i].name, (long long)t[i].d0,
                                    (long long)t[i].d1, off, off + bytes);
        else
            len += (size_t)snprintf(hdr + len, cap - len, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[%lld],"
                                    "\"data_offsets\":[%zu,%zu]}", i ? "," : "", t[i].name, (long long)t[i].d0, off,
                                    off + bytes);
        off += bytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    bool ok = f != NULL;
    uint64_t hl = len;
    if (ok) ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, len, f) == len;
    uint16_t *buf = malloc((size_t)Q_FFN * 2 * 4);
    for (int i = 0; ok && buf && i < n; i++) {
        const int64_t rows = t[i].d1 ? t[i].d0 : 1, cols = t[i].d1 ? t[i].d1 : t[i].d0;
        for (int64_t r = 0; ok && r < rows; r++) {
            for (int64_t c = 0; c < cols; c++) buf[c] = senti_f32_to_bf16(t[i].base + t[i].scale * q_rand());
            ok = fwrite(buf, 2, (size_t)cols, f) == (size_t)cols;
        }
    }
    ok = ok && buf;
    free(buf);
    free(hdr);
    if (f && fclose(f) != 0) ok = false;
    return ok;
}

/* ---- timed cases ---------------------------------------------------------------------- */

typedef struct dec_case {
    senti_model *m;
    lm_cache *c;
    int64_t n, n_tok;      /* slots, new tokens per slot */
    int64_t keep;          /* decode: truncate every slot back to this before each step */
    int32_t *tok;          /* [n * n_tok] */
    float *logits;         /* [n, V] */
} dec_case;

static bool run_case(void *p) {
    dec_case *k = p;
    int64_t slot[B_SLOTS], n_tok[B_SLOTS];
    const int32_t *tp[B_SLOTS];
    for (int64_t i = 0; i < k->n; i++) {
        if (lm_cache_truncate(k->c, i, k->keep) != SENTI_OK) return false;
        slot[i] = i, n_tok[i] = k->n_tok, tp[i] = k->tok + i * k->n_tok;
    }
    return lm_forward(k->m, k->c, k->n, slot, tp, n_tok, false, k->logits) == SENTI_OK;
}

/* A case's cleanup: the error (rc != 0) reported, everything freed. */
static int bench_end(int rc, int32_t *tok, float *logits, lm_cache *c, senti_model *m) {
    if (rc) fprintf(stderr, "senti bench decoder: %s\n", senti_last_error());
    free(tok);
    free(logits);
    lm_cache_free(c);
    senti_model_free(m);
    return rc;
}

/* bytes of weights one decode step reads: every matmul weight + the rows of
 * the embedding table it gathers (negligible) */
static double weight_bytes(senti_type t) {
    const double per_layer = (double)Q_HID * (Q_HEADS * Q_HD + 2 * Q_KV * Q_HD) + (double)Q_HEADS * Q_HD * Q_HID +
                             3.0 * Q_HID * Q_FFN;
    const double n = Q_LAYERS * per_layer + (double)Q_VOCAB * Q_HID; /* + the tied lm_head */
    return n * (double)senti_type_size(t) / (double)senti_type_block(t);
}

static bool wanted(const bench_opts *o, senti_type wt, const char *name) {
    char full[96];
    snprintf(full, sizeof full, "%s %s", senti_type_name(wt), name);
    return !o->filter || strstr(full, o->filter);
}

static const struct { const char *name; int64_t n, n_tok; bool decode; } cases[] = {
    {"prefill 1x128", 1, B_CTX, false},
    {"prefill 16x128", 16, B_CTX, false},
    {"decode b1 ctx128", 1, 1, true},
    {"decode b16 ctx128", 16, 1, true},
};

static int bench_one(const bench_opts *o, const char *dir, senti_type wt) {
    bool any = false;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) any |= wanted(o, wt, cases[i].name);
    if (!any) return 0;
    senti_model_opts mo = senti_model_opts_defaults();
    mo.n_threads = o->n_threads;
    mo.weight_type = wt;
    const double t0 = senti_time_ms();
    senti_model *m = senti_model_load_opts(dir, &mo);
    if (!m) {
        fprintf(stderr, "senti bench decoder: %s\n", senti_last_error());
        return 1;
    }
    const double load_ms = senti_time_ms() - t0;
    int rc = 1;
    lm_cache *c = lm_cache_new(m, B_SLOTS, 2 * B_CTX);
    int32_t *tok = malloc((size_t)B_SLOTS * B_CTX * sizeof *tok);
    float *logits = malloc((size_t)B_SLOTS * Q_VOCAB * sizeof *logits);
    if (!c || !tok || !logits) goto done;
    for (int64_t i = 0; i < B_SLOTS * B_CTX; i++) tok[i] = (int32_t)((i * 7919 + 13) % Q_VOCAB);
    const int nth = cpu_backend_ctx(m->be)->n_threads;
    bench_stat rs = {0};
    const double read_gbps = bench_read_gbps(nth, o->repeats, &rs);
    const double rd_lo = read_gbps > 0 ? read_gbps * rs.median / rs.max : 0;
    const double rd_hi = read_gbps > 0 ? read_gbps * rs.median / rs.min : 0;
    if (!o->json)
        printf("senti bench decoder: Qwen2-0.5B-shaped (synthetic), weights %s (loaded in %.1f s), %d threads\n"
               "  memory read (roofline) %.1f GB/s [%.1f .. %.1f]\n",
               senti_type_name(wt), load_ms / 1000.0, nth, read_gbps, rd_lo, rd_hi);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!wanted(o, wt, cases[i].name)) continue;
        dec_case k = {m, c, cases[i].n, cases[i].n_tok, 0, tok, logits};
        if (cases[i].decode) { /* fill every slot's context first */
            dec_case fill = {m, c, cases[i].n, B_CTX, 0, tok, logits};
            if (!run_case(&fill)) goto done;
            k.keep = B_CTX;
        }
        bench_stat s;
        if (!bench_time(run_case, &k, o->repeats, &s)) goto done;
        const double toks = (double)(cases[i].n * cases[i].n_tok), tps = toks / (s.median * 1e-3);
        const double gbs = cases[i].decode ? weight_bytes(wt) / (s.median * 1e-3) * 1e-9 : 0;
        /* matmul flops: every layer weight per token, the lm_head per slot */
        const double flop = 2.0 * toks * (weight_bytes(SENTI_TYPE_F32) / 4.0 - (double)Q_VOCAB * Q_HID) +
                            2.0 * (double)cases[i].n * Q_VOCAB * Q_HID;
        if (o->json)
            printf("{\"bench\":\"decoder\",\"model\":\"qwen2-0.5b-synthetic\",\"weights\":\"%s\",\"threads\":%d,"
                   "\"case\":\"%s\",\"slots\":%lld,\"new_tokens\":%lld,\"median_ms\":%.3f,\"min_ms\":%.3f,"
                   "\"max_ms\":%.3f,\"repeats\":%d,\"tokens_per_s\":%.2f,\"weight_gb_per_s\":%.2f,"
                   "\"read_gb_per_s\":%.2f,\"gflops\":%.1f}\n",
                   senti_type_name(wt), nth, cases[i].name, (long long)cases[i].n, (long long)cases[i].n_tok,
                   s.median, s.min, s.max, s.n, tps, gbs, read_gbps, flop / (s.median * 1e-3) * 1e-9);
        else
            printf("  %-18s %9.1f ms [%.1f .. %.1f] x%d  %8.1f tokens/s [%.1f .. %.1f]", cases[i].name, s.median,
                   s.min, s.max, s.n, tps, toks / (s.max * 1e-3), toks / (s.min * 1e-3));
        if (!o->json && cases[i].decode)
            printf("  weights %.2f GB/s (%.0f%% of read)\n", gbs, read_gbps > 0 ? 100.0 * gbs / read_gbps : 0.0);
        if (!o->json && !cases[i].decode) printf("  %.1f GFLOP/s\n", flop / (s.median * 1e-3) * 1e-9);
        if (!o->json) fflush(stdout);
    }
    rc = 0;
done:
    return bench_end(rc, tok, logits, c, m);
}

/* ---- a real causal LM (-m) ----------------------------------------------------------- */

enum { R_PROMPT = 128, R_GEN = 64 };

typedef struct real_case {
    senti_model *m;
    lm_cache *c;
    const int32_t *tok; /* [R_PROMPT + R_GEN] */
    float *logits;      /* [V] */
    bool decode;
} real_case;

static bool run_real(void *p) {
    real_case *k = p;
    const int64_t slot = 0, n_prompt = R_PROMPT, one = 1;
    if (!k->decode) { /* prefill from an empty cache, the last position's logits */
        if (lm_cache_truncate(k->c, 0, 0) != SENTI_OK) return false;
        return lm_forward(k->m, k->c, 1, &slot, &k->tok, &n_prompt, false, k->logits) == SENTI_OK;
    }
    if (lm_cache_truncate(k->c, 0, R_PROMPT) != SENTI_OK) return false;
    for (int i = 0; i < R_GEN; i++) {
        const int32_t *t = k->tok + R_PROMPT + i;
        if (lm_forward(k->m, k->c, 1, &slot, &t, &one, false, k->logits) != SENTI_OK) return false;
    }
    return true;
}

static int bench_real(const bench_opts *o) {
    senti_model_opts mo = senti_model_opts_defaults();
    mo.n_threads = o->n_threads;
    if (o->wtype_set) mo.weight_type = o->wtype;
    const double t0 = senti_time_ms();
    senti_model *m = senti_model_load_opts(o->model, &mo);
    if (!m) {
        fprintf(stderr, "senti bench decoder: %s\n", senti_last_error());
        return 1;
    }
    const double load_ms = senti_time_ms() - t0;
    int rc = 1;
    lm_cache *c = NULL;
    int32_t *tok = NULL;
    float *logits = NULL;
    char *model_js = NULL;
    if (!lm_is_causal(m)) {
        fprintf(stderr, "senti bench decoder: %s is not a causal LM\n", o->model);
        goto done;
    }
    const int64_t V = lm_vocab(m);
    if (lm_max_ctx(m) < R_PROMPT + R_GEN) {
        fprintf(stderr, "senti bench decoder: %s has a context of %lld tokens, under the %d this bench runs "
                        "(a prompt of %d, then %d new)\n", o->model, (long long)lm_max_ctx(m), R_PROMPT + R_GEN,
                R_PROMPT, R_GEN);
        goto done;
    }
    c = lm_cache_new(m, 1, R_PROMPT + R_GEN);
    tok = malloc((R_PROMPT + R_GEN) * sizeof *tok);
    logits = malloc((size_t)V * sizeof *logits);
    if (!c || !tok || !logits) {
        fprintf(stderr, "senti bench decoder: %s\n", c ? "out of memory" : senti_last_error());
        goto done;
    }
    for (int64_t i = 0; i < R_PROMPT + R_GEN; i++) tok[i] = (int32_t)((i * 7919 + 13) % V);
    json_t *jm = json_string(o->model); /* the model's path as a JSON string */
    model_js = jm ? json_dumps(jm, JSON_ENCODE_ANY) : NULL;
    json_decref(jm);
    const int nth = cpu_backend_ctx(m->be)->n_threads;
    if (!o->json)
        printf("senti bench decoder: %s, weights %s (loaded in %.1f s), %d threads\n", o->model, lm_weight_types(m),
               load_ms / 1000.0, nth);
    static const struct { const char *name; bool decode; int n; } rc_cases[] = {
        {"prefill 1x128", false, R_PROMPT}, {"decode 64 after 128", true, R_GEN}};
    for (size_t i = 0; i < 2; i++) {
        if (o->filter && !strstr(rc_cases[i].name, o->filter)) continue;
        real_case k = {m, c, tok, logits, rc_cases[i].decode};
        if (k.decode) { /* the 128 tokens of context, once */
            real_case fill = {m, c, tok, logits, false};
            if (!run_real(&fill)) goto done;
        }
        bench_stat s;
        if (!bench_time(run_real, &k, o->repeats, &s)) goto done;
        const double n = rc_cases[i].n, tps = n / (s.median * 1e-3);
        if (o->json)
            printf("{\"bench\":\"decoder\",\"model\":%s,\"weights\":\"%s\",\"threads\":%d,\"case\":\"%s\","
                   "\"tokens\":%d,\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,\"repeats\":%d,"
                   "\"tokens_per_s\":%.2f,\"tokens_per_s_min\":%.2f,\"tokens_per_s_max\":%.2f}\n",
                   model_js ? model_js : "null", lm_weight_types(m), nth, rc_cases[i].name, rc_cases[i].n, s.median, s.min, s.max, s.n,
                   tps, n / (s.max * 1e-3), n / (s.min * 1e-3));
        else
            printf("  %-20s %9.1f ms [%.1f .. %.1f] x%d  %8.1f tokens/s [%.1f .. %.1f]\n", rc_cases[i].name,
                   s.median, s.min, s.max, s.n, tps, n / (s.max * 1e-3), n / (s.min * 1e-3));
        fflush(stdout);
    }
    rc = 0;
done:
    free(model_js);
    return bench_end(rc, tok, logits, c, m);
}

int bench_decoder(const bench_opts *o) {
    if (o->model) return bench_real(o);
    char dir[] = "/tmp/senti_bench_decoder_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("senti bench decoder: mkdtemp");
        return 1;
    }
    int rc = 1;
    if (!o->json) printf("senti bench decoder: writing the synthetic bf16 checkpoint to %s\n", dir);
    fflush(stdout);
    if (!write_checkpoint(dir)) {
        fprintf(stderr, "senti bench decoder: cannot write the checkpoint in %s\n", dir);
        goto done;
    }
    static const senti_type all[] = {SENTI_TYPE_F32, SENTI_TYPE_BF16, SENTI_TYPE_Q8_0};
    rc = 0;
    for (size_t i = 0; i < 3 && rc == 0; i++) rc = bench_one(o, dir, all[i]);
done: {
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    rmdir(dir);
}
    return rc;
}
