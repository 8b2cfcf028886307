/* tok_gguf_keys.c — a tokenizer directory written as llama.cpp's
 * tokenizer.ggml.* GGUF keys (what senti convert puts in a file so that
 * llama.cpp's tools load it; senti itself reads the embedded
 * tokenizer.huggingface.json). The read side is tok_gguf.c.
 *
 * Invariant: every string and array handed to the writer lives in the
 * tok_gguf_bufs until the caller has written the file and freed them. */
#include <stdio.h>
#include <sys/stat.h>

#include "tokenizer.h"

struct tok_gguf_bufs {
    json_t *tok, *tok_cfg; /* tokenizer.json / tokenizer_config.json: their strings are written */
    void **p;              /* other buffers the writer borrows */
    int64_t n, cap;
};

void tok_gguf_bufs_free(tok_gguf_bufs *b) {
    if (!b) return;
    for (int64_t i = 0; i < b->n; i++) senti_mfree(b->p[i]);
    senti_mfree(b->p);
    json_decref(b->tok);
    json_decref(b->tok_cfg);
    senti_mfree(b);
}

static void *keep(tok_gguf_bufs *b, void *p) {
    if (!p) return NULL;
    if (b->n == b->cap) {
        const int64_t cap = b->cap ? b->cap * 2 : 64;
        void **np = senti_malloc((size_t)cap * sizeof *np);
        if (!np) {
            senti_mfree(p);
            return NULL;
        }
        if (b->n) memcpy(np, b->p, (size_t)b->n * sizeof *np);
        senti_mfree(b->p);
        b->p = np, b->cap = cap;
    }
    b->p[b->n++] = p;
    return p;
}

static senti_status kv_u32(gguf_writer *w, const char *k, uint64_t v) {
    return gguf_writer_add_kv(w, k, gguf_val_uint(GGUF_VT_U32, v));
}

/* A file's text (NUL-terminated) when it exists; *present false otherwise. */
static senti_status file_text(const char *path, char **out, bool *present) {
    struct stat sb;
    size_t n;
    *out = NULL;
    *present = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    return *present ? tok_read_file(path, out, &n) : SENTI_OK;
}

#define TRY(x)                                                                                                         \
    do {                                                                                                               \
        if ((st = (x)) != SENTI_OK) goto done;                                                                         \
    } while (0)

/* The keys (tokenizer.ggml.*) from tokenizer.json ------------------------------------------
 * model: "bert" (WordPiece; tokens as llama.cpp's converter writes them: a
 * word-initial token gets "\u2581" prepended, a "##" continuation loses it),
 * "gpt2" (BPE with a ByteLevel pre-tokenizer), "llama" (BPE without one:
 * Metaspace / byte_fallback, SentencePiece style); other models (Unigram,
 * WordLevel) get no tokenizer.ggml keys (senti reads tokenizer.huggingface.json).
 * pre (BPE only; llama.cpp picks it by hashing the tokenizer's output, senti by
 * the pre-tokenizer's regex): GPT-2's ByteLevel regex "gpt-2", Llama-3's Split
 * regex "llama-bpe", Qwen2's "qwen2", anything else "default" (llama.cpp then
 * splits on its default regex, which may tokenize some text differently).
 * tokens: the vocabulary by id, padded to config vocab_size with "[PADn]".
 * token_type: 1 normal, 2 unknown, 3 control (special added tokens), 4
 * user-defined (other added tokens), 5 unused (padding), 6 byte ("<0xNN>"
 * in a "llama" vocabulary). scores ("llama"): -rank of the merge that makes
 * the token, else 0 for one-character / byte tokens and -1e9 for others, so
 * llama.cpp's score-ordered SentencePiece merging follows the BPE ranks.
 * merges ("gpt2"): "a b" in rank order. Special ids from
 * tokenizer_config.json's bos/eos/unk/pad/sep/cls/mask tokens (bos falling
 * back to cls and eos to sep, as gguf-py's SpecialVocab); add_bos_token /
 * add_eos_token from tokenizer_config.json, else from the post-processor's
 * single template (a special token first / last). */

static const char *token_name(json_t *v) { /* "tok" or {"content": "tok"} */
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The pre-tokenizer name llama.cpp knows for the tokenizer's splitting. */
static const char *bpe_pre_name(json_t *pre) {
    json_t *seq = json_object_get(pre, "pretokenizers");
    const size_t n = json_is_array(seq) ? json_array_size(seq) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_is_array(seq) ? json_array_get(seq, i) : pre;
        const char *ty = json_string_value(json_object_get(p, "type"));
        if (!ty) continue;
        if (!strcmp(ty, "Split")) {
            const char *name = tok_pre_regex_name(json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex")));
            return name ? name : "default";
        }
        json_t *ur = json_object_get(p, "use_regex");
        if (!strcmp(ty, "ByteLevel") && (!ur || json_is_true(ur))) return "gpt-2";
    }
    return "default";
}

static bool has_type(json_t *x, const char *type) { /* x or a member of its Sequence */
    const char *ty = json_string_value(json_object_get(x, "type"));
    if (ty && !strcmp(ty, type)) return true;
    json_t *seq = json_object_get(x, "pretokenizers");
    size_t i;
    json_t *e;
    json_array_foreach(seq, i, e) if (has_type(e, type)) return true;
    return false;
}

senti_status tok_gguf_keys(const char *dir, int64_t vocab_size, gguf_writer *w, tok_gguf_bufs **bufs_out) {
    char p[4096], *text;
    bool present;
    senti_status st;
    json_error_t jerr;
    tok_gguf_bufs *b = *bufs_out = senti_calloc(1, sizeof *b);
    if (!b) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if ((st = file_text(p, &text, &present)) || !present) return st;
    b->tok = json_loads(text, 0, &jerr);
    senti_mfree(text);
    if (!b->tok)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: malformed JSON at %d:%d: %s", p, jerr.line, jerr.column, jerr.text);
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    if ((st = file_text(p, &text, &present))) return st;
    if (present) {
        b->tok_cfg = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr); /* model_max_length overflows int64 */
        senti_mfree(text);
        if (!json_is_object(b->tok_cfg)) /* its special tokens and add_bos / add_eos: not skipped silently */
            return senti_error(SENTI_ERR_BAD_FILE, "%s: %s", p,
                               b->tok_cfg ? "not a JSON object" : jerr.text);
    }
    json_t *model = json_object_get(b->tok, "model"), *vocab = json_object_get(model, "vocab");
    const char *mt = json_string_value(json_object_get(model, "type"));
    json_t *pre = json_object_get(b->tok, "pre_tokenizer");
    const bool bert = mt && !strcmp(mt, "WordPiece"), bpe = mt && !strcmp(mt, "BPE");
    const bool byte_level =
        bpe && (has_type(pre, "ByteLevel") || has_type(json_object_get(b->tok, "decoder"), "ByteLevel"));
    if ((!bert && !bpe) || !json_is_object(vocab)) return SENTI_OK;
    const char *gmodel = bert ? "bert" : byte_level ? "gpt2" : "llama";
    /* ids: the vocabulary and the added tokens, padded to the embeddings' rows */
    int64_t n = 0, vs = 0;
    const char *k;
    json_t *v, *added = json_object_get(b->tok, "added_tokens");
    json_object_foreach(vocab, k, v) {
        if (json_is_integer(v) && json_integer_value(v) >= n) n = json_integer_value(v) + 1;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (json_is_integer(id) && json_integer_value(id) >= n) n = json_integer_value(id) + 1;
    }
    vs = vocab_size;
    if (vs > n) n = vs;
    if (n <= 0 || n > (int64_t)1 << 24) return SENTI_OK;
    gguf_value *tokens = keep(b, senti_calloc((size_t)n, sizeof *tokens));
    int32_t *types = keep(b, senti_calloc((size_t)n, sizeof *types));
    float *scores = keep(b, senti_calloc((size_t)n, sizeof *scores));
    char *names = keep(b, senti_malloc((size_t)n * 16)); /* "[PADn]" and bert's rewritten tokens */
    if (!tokens || !types || !scores || !names) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
    json_object_foreach(vocab, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) continue;
        const int64_t id = json_integer_value(v);
        tokens[id] = gguf_val_str(k), types[id] = 1;
        if (bert) { /* llama.cpp's WordPiece: "##x" -> "x", "x" -> "\u2581x" ([CLS]-style tokens keep their form) */
            if (!strncmp(k, "##", 2)) tokens[id] = gguf_val_str(k + 2);
            else if (k[0] != '[' || k[strlen(k) - 1] != ']') {
                char *t = keep(b, senti_malloc(strlen(k) + 4));
                if (!t) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
                snprintf(t, strlen(k) + 4, "\xe2\x96\x81%s", k);
                tokens[id] = gguf_val_str(t);
            }
        }
        if (!bert && !byte_level && strlen(k) == 6 && !strncmp(k, "<0x", 3) && k[5] == '>') types[id] = 6;
    }
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        const char *content = json_string_value(json_object_get(v, "content"));
        if (!json_is_integer(id) || !content || json_integer_value(id) < 0) continue;
        tokens[json_integer_value(id)] = gguf_val_str(content);
        types[json_integer_value(id)] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
    }
    for (int64_t t = 0; t < n; t++)
        if (!types[t]) {
            snprintf(names + t * 16, 16, "[PAD%lld]", (long long)t);
            tokens[t] = gguf_val_str(names + t * 16), types[t] = 5;
        }
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    json_t *unk_id = unk ? json_object_get(vocab, unk) : NULL;
    if (json_is_integer(unk_id)) types[json_integer_value(unk_id)] = 2;

    TRY(gguf_writer_add_kv(w, "tokenizer.ggml.model", gguf_val_str(gmodel)));
    if (!bert)
        TRY(gguf_writer_add_kv(w, "tokenizer.ggml.pre", gguf_val_str(byte_level ? bpe_pre_name(pre) : "default")));
    TRY(gguf_writer_add_kv(w, "tokenizer.ggml.tokens", gguf_val_arr(GGUF_VT_STRING, (uint64_t)n, NULL, tokens)));
    TRY(gguf_writer_add_kv(w, "tokenizer.ggml.token_type", gguf_val_arr(GGUF_VT_I32, (uint64_t)n, types, NULL)));
    if (bpe) { /* merges: "a b" strings or [a, b] pairs, in rank order */
        json_t *merges = json_object_get(model, "merges");
        const size_t nm = json_array_size(merges);
        gguf_value *ms = keep(b, senti_calloc(nm ? nm : 1, sizeof *ms));
        if (!ms) return senti_error(SENTI_ERR_NO_MEMORY, "convert: out of memory");
        size_t good = 0;
        json_array_foreach(merges, i, v) {
            const char *a = json_string_value(json_array_get(v, 0)), *a2 = json_string_value(json_array_get(v, 1));
            char *m = NULL;
            if (json_is_string(v)) {
                ms[good] = gguf_val_str(json_string_value(v));
            } else if (a && a2 && (m = keep(b, senti_malloc(strlen(a) + strlen(a2) + 2)))) {
                snprintf(m, strlen(a) + strlen(a2) + 2, "%s %s", a, a2);
                ms[good] = gguf_val_str(m);
            } else {
                continue;
            }
            const char *s = ms[good++].v.str.s, *sp = strchr(s + 1, ' ');
            if (!sp || bert || byte_level) continue;
            /* "llama": score the merged token by its rank */
            char merged[512];
            const size_t la = (size_t)(sp - s);
            if (la + strlen(sp + 1) >= sizeof merged) continue;
            memcpy(merged, s, la);
            snprintf(merged + la, sizeof merged - la, "%s", sp + 1);
            json_t *id = json_object_get(vocab, merged);
            if (json_is_integer(id) && json_integer_value(id) < n && scores[json_integer_value(id)] == 0)
                scores[json_integer_value(id)] = -(float)good;
        }
        if (byte_level)
            TRY(gguf_writer_add_kv(w, "tokenizer.ggml.merges", gguf_val_arr(GGUF_VT_STRING, good, NULL, ms)));
        if (!byte_level) {
            for (int64_t t = 0; t < n; t++) {
                const char *s = tokens[t].v.str.s;
                size_t len = strlen(s), cp = 0;
                for (size_t j = 0; j < len; j++) cp += ((unsigned char)s[j] & 0xc0) != 0x80;
                if (scores[t] == 0 && cp > 1 && types[t] == 1) scores[t] = -1e9f;
            }
            TRY(gguf_writer_add_kv(w, "tokenizer.ggml.scores",
                                   gguf_val_arr(GGUF_VT_F32, (uint64_t)n, scores, NULL)));
        }
    }
    /* special ids */
    static const char *const SPECIAL[][2] = {{"bos_token", "bos"},     {"eos_token", "eos"},
                                             {"unk_token", "unknown"}, {"pad_token", "padding"},
                                             {"sep_token", "seperator"}, {"cls_token", "cls"},
                                             {"mask_token", "mask"}};
    int64_t ids[7];
    for (int s2 = 0; s2 < 7; s2++) {
        ids[s2] = -1;
        const char *name = token_name(json_object_get(b->tok_cfg, SPECIAL[s2][0]));
        if (!name && s2 == 2) name = unk;
        /* as gguf-py's SpecialVocab: no bos -> cls, no eos -> sep (llama.cpp's WordPiece starts with "bos") */
        if (!name && s2 <= 1) name = token_name(json_object_get(b->tok_cfg, s2 == 0 ? "cls_token" : "sep_token"));
        if (!name) continue;
        for (int64_t t = 0; t < n && ids[s2] < 0; t++)
            if (types[t] != 5 && !strcmp(tokens[t].v.str.s, name)) ids[s2] = t;
        if (bert && ids[s2] < 0) { /* the original form of a rewritten token */
            json_t *id = json_object_get(vocab, name);
            if (json_is_integer(id)) ids[s2] = json_integer_value(id);
        }
        if (ids[s2] < 0) continue;
        snprintf(p, sizeof p, "tokenizer.ggml.%s_token_id", SPECIAL[s2][1]);
        TRY(kv_u32(w, p, (uint64_t)ids[s2]));
    }
    /* add_bos / add_eos: tokenizer_config.json, else the single template */
    json_t *ab = json_object_get(b->tok_cfg, "add_bos_token"), *ae = json_object_get(b->tok_cfg, "add_eos_token");
    json_t *single = json_object_get(json_object_get(b->tok, "post_processor"), "single");
    const size_t ns = json_array_size(single);
    json_t *first = json_array_get(single, 0), *last = json_array_get(single, ns ? ns - 1 : 0);
    const bool add_bos = json_is_boolean(ab) ? json_is_true(ab) : ns > 1 && json_object_get(first, "SpecialToken");
    const bool add_eos = json_is_boolean(ae) ? json_is_true(ae) : ns > 1 && json_object_get(last, "SpecialToken");
    TRY(gguf_writer_add_kv(w, "tokenizer.ggml.add_bos_token", gguf_val_bool(add_bos)));
    TRY(gguf_writer_add_kv(w, "tokenizer.ggml.add_eos_token", gguf_val_bool(add_eos)));
done:
    return st;
}

