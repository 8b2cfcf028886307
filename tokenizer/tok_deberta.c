/* tok_deberta.c — a DeBERTa-v2 / v3 directory without a tokenizer.json: its
 * spm.model and tokenizer_config.json turned into the tokenizer.json that
 * transformers' DebertaV2Tokenizer builds from them, then loaded as one.
 *
 * That pipeline: Unigram over the pieces (unk = the model's unk piece);
 * normalizer [Lowercase if do_lower_case] + Precompiled(charsmap) +
 * Strip(right) + Replace(" {2,}" -> " ") (without a charsmap: Replace
 * ("\s{2,}|[\n\r\t]" -> " ") + NFC + Strip(right)); pre-tokenizer
 * [Punctuation(isolated) if split_by_punct] + Metaspace(prepend "always",
 * or "first" when add_prefix_space is false); Metaspace decoder; template
 * [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1; the special tokens (pad,
 * cls, sep, unk, mask; the mask appended after the pieces when the model has
 * none) as special added tokens.
 * Invariant: nothing here tokenizes; tok_json.c does, from the object. */
#include <stdio.h>

#include "tokenizer.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 (with padding) of n bytes; NULL on OOM. */
static char *base64(const unsigned char *p, size_t n) {
    char *o = senti_malloc((n + 2) / 3 * 4 + 1), *q = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        *q++ = B64[v >> 18 & 63];
        *q++ = B64[v >> 12 & 63];
        *q++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *q++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *q = '\0';
    return o;
}

/* A special token's name from tokenizer_config.json ("x" or {"content": "x"}), else def. */
static const char *tok_name(json_t *cfg, const char *key, const char *def) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : def;
}

static bool cfg_bool(json_t *cfg, const char *key, bool def) {
    json_t *v = json_object_get(cfg, key);
    return json_is_boolean(v) ? json_is_true(v) : def;
}

/* json_object_set_new / json_array_append_new always take v (NULL o or v
 * included: jansson releases v and fails); ok records any failure. */
#define SET(o, k, v) ok = (json_object_set_new(o, k, v) == 0) && ok
#define APPEND(a, v) ok = (json_array_append_new(a, v) == 0) && ok

static json_t *obj_type(const char *type) {
    json_t *o = json_object();
    if (o && json_object_set_new(o, "type", json_string(type))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *replace(const char *regex, const char *content) {
    json_t *o = obj_type("Replace"), *pat = json_object();
    bool ok = o != NULL;
    SET(pat, "Regex", json_string(regex));
    SET(o, "pattern", pat);
    SET(o, "content", json_string(content));
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

static json_t *piece(bool special, const char *id, int type_id) {
    json_t *o = json_object(), *in = json_object();
    bool ok = o != NULL;
    SET(in, "id", json_string(id));
    SET(in, "type_id", json_integer(type_id));
    SET(o, special ? "SpecialToken" : "Sequence", in);
    if (!ok) json_decref(o);
    return ok ? o : NULL;
}

/* The tokenizer.json object for sp with the config's options. */
static json_t *build(const spm *sp, json_t *cfg) {
    const bool lower = cfg_bool(cfg, "do_lower_case", false), punct = cfg_bool(cfg, "split_by_punct", false);
    const char *scheme = cfg_bool(cfg, "add_prefix_space", true) ? "always" : "first";
    const char *names[5] = {tok_name(cfg, "pad_token", "[PAD]"), tok_name(cfg, "cls_token", "[CLS]"),
                            tok_name(cfg, "sep_token", "[SEP]"), tok_name(cfg, "unk_token", "[UNK]"),
                            tok_name(cfg, "mask_token", "[MASK]")};
    int64_t ids[5] = {-1, -1, -1, -1, -1};
    for (size_t i = 0; i < sp->n; i++)
        for (int k = 0; k < 5; k++)
            if (ids[k] < 0 && sp->pieces[i].len == strlen(names[k]) &&
                memcmp(sp->pieces[i].s, names[k], sp->pieces[i].len) == 0)
                ids[k] = (int64_t)i;
    int64_t next = (int64_t)sp->n;
    for (int k = 0; k < 5; k++)
        if (ids[k] < 0) ids[k] = next++; /* added after the pieces, as DebertaV2Tokenizer does */

    json_t *root = json_object(), *model = obj_type("Unigram"), *vocab = json_array(), *added = json_array();
    json_t *norms = json_array(), *pres = json_array(), *nz = obj_type("Sequence"), *pt = obj_type("Sequence");
    json_t *dec = obj_type("Metaspace"), *post = obj_type("TemplateProcessing"), *single = json_array();
    json_t *pair = json_array(), *specials = json_object();
    bool ok = root != NULL;
    for (size_t i = 0; ok && i < sp->n; i++) {
        json_t *e = json_array();
        APPEND(e, json_stringn(sp->pieces[i].s, sp->pieces[i].len));
        APPEND(e, json_real(sp->pieces[i].score));
        APPEND(vocab, e);
    }
    SET(model, "unk_id", json_integer(sp->unk_id >= 0 ? sp->unk_id : ids[3]));
    SET(model, "byte_fallback", json_false());
    SET(model, "vocab", vocab);
    /* normalizer */
    if (lower) APPEND(norms, obj_type("Lowercase"));
    if (sp->charsmap_len) {
        json_t *pc = obj_type("Precompiled");
        char *b = base64(sp->charsmap, sp->charsmap_len);
        SET(pc, "precompiled_charsmap", b ? json_string(b) : NULL);
        senti_mfree(b);
        APPEND(norms, pc);
    } else {
        APPEND(norms, replace("\\s{2,}|[\\n\\r\\t]", " "));
        APPEND(norms, obj_type("NFC"));
    }
    json_t *strip = obj_type("Strip");
    SET(strip, "strip_left", json_false());
    SET(strip, "strip_right", json_true());
    APPEND(norms, strip);
    if (sp->charsmap_len) APPEND(norms, replace(" {2,}", " "));
    SET(nz, "normalizers", norms);
    /* pre-tokenizer, decoder */
    if (punct) {
        json_t *p = obj_type("Punctuation");
        SET(p, "behavior", json_string("Isolated"));
        APPEND(pres, p);
    }
    json_t *ms = obj_type("Metaspace");
    SET(ms, "replacement", json_string("\xe2\x96\x81"));
    SET(ms, "prepend_scheme", json_string(scheme));
    SET(ms, "split", json_true());
    APPEND(pres, ms);
    SET(pt, "pretokenizers", pres);
    SET(dec, "replacement", json_string("\xe2\x96\x81"));
    SET(dec, "prepend_scheme", json_string(scheme));
    SET(dec, "split", json_true());
    /* template: [CLS] $A [SEP] ($B:1 [SEP]:1) */
    APPEND(single, piece(true, names[1], 0));
    APPEND(single, piece(false, "A", 0));
    APPEND(single, piece(true, names[2], 0));
    APPEND(pair, piece(true, names[1], 0));
    APPEND(pair, piece(false, "A", 0));
    APPEND(pair, piece(true, names[2], 0));
    APPEND(pair, piece(false, "B", 1));
    APPEND(pair, piece(true, names[2], 1));
    for (int k = 1; k <= 2; k++) {
        json_t *sk = json_object(), *i = json_array(), *tk = json_array();
        APPEND(i, json_integer(ids[k]));
        APPEND(tk, json_string(names[k]));
        SET(sk, "id", json_string(names[k]));
        SET(sk, "ids", i);
        SET(sk, "tokens", tk);
        SET(specials, names[k], sk);
    }
    SET(post, "single", single);
    SET(post, "pair", pair);
    SET(post, "special_tokens", specials);
    /* the special tokens, in id order as transformers lists them */
    for (int64_t id = 0; id < next; id++)
        for (int k = 0; k < 5; k++) {
            if (ids[k] != id) continue;
            json_t *a = json_object();
            SET(a, "id", json_integer(id));
            SET(a, "content", json_string(names[k]));
            SET(a, "single_word", json_false());
            SET(a, "lstrip", json_false());
            SET(a, "rstrip", json_false());
            SET(a, "normalized", json_false());
            SET(a, "special", json_true());
            APPEND(added, a);
            break;
        }
    SET(root, "added_tokens", added);
    SET(root, "normalizer", nz);
    SET(root, "pre_tokenizer", pt);
    SET(root, "post_processor", post);
    SET(root, "decoder", dec);
    SET(root, "model", model);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

senti_status tok_load_deberta_spm(senti_tokenizer *t, const char *dir, const char *model_path) {
    char *data = NULL, p[4096];
    size_t n;
    spm sp = {0};
    senti_status st = tok_read_file(model_path, &data, &n);
    if (st) return st;
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    json_t *cfg; /* optional; model_max_length overflows int64 */
    if ((st = tok_load_optional_json(p, JSON_DECODE_INT_AS_REAL, &cfg)) == SENTI_OK &&
        (st = tok_spm_parse(model_path, (const unsigned char *)data, n, &sp)) == SENTI_OK) {
        if (sp.model_type != 1) {
            st = senti_error(SENTI_ERR_UNSUPPORTED, "%s: a DeBERTa spm.model must be a Unigram model (type %d)",
                             model_path, sp.model_type);
        } else {
            json_t *root = build(&sp, cfg);
            st = root ? tok_load_json_root(t, model_path, root)
                      : senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory building the tokenizer", model_path);
        }
    }
    json_decref(cfg);
    senti_mfree(sp.pieces);
    senti_mfree(data);
    return st;
}
