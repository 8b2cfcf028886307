/* tok_json.c — load an HF tokenizer.json (jansson) into a senti_tokenizer:
 * added tokens, normalizer, pre-tokenizer, model, post-processor, decoder.
 * Every unsupported or malformed part is an error that names the file and
 * the JSON path; `truncation` and `padding` are ignored on purpose. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer.h"

typedef struct jctx { const char *path; } jctx;

#define JERR(J, where, fmt, ...) senti_error(SENTI_ERR_BAD_FILE, "%s: %s: " fmt, (J)->path, where, ##__VA_ARGS__)

static bool jbool(json_t *o, const char *k, bool def) {
    json_t *v = json_object_get(o, k);
    return v && json_is_boolean(v) ? json_is_true(v) : def;
}
static const char *jstr(json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    return v && json_is_string(v) ? json_string_value(v) : NULL;
}
static char *dupstr(const char *s) { return senti_strdup(s ? s : ""); }

static senti_status first_char(jctx *J, const char *where, const char *s, uint32_t *c) {
    if (!s || !*s) return JERR(J, where, "expects a one-character string");
    tok_utf8_next(s, strlen(s), c);
    return SENTI_OK;
}

/* {"String": s} or {"Regex": r} */
static senti_status pattern(jctx *J, const char *where, json_t *p, tok_regex *re) {
    const char *s;
    if (!json_is_object(p)) return JERR(J, where, "pattern must be an object");
    const bool lit = (s = jstr(p, "String")) != NULL;
    if (!lit && !(s = jstr(p, "Regex"))) return JERR(J, where, "pattern must have String or Regex");
    if (tok_regex_compile(re, s, strlen(s), lit)) return JERR(J, where, "%s", senti_last_error());
    return SENTI_OK;
}

static senti_status behavior(jctx *J, const char *where, const char *s, tok_split_behavior *b) {
    if (!s) s = "Isolated";
    if (!strcmp(s, "Removed")) *b = TOK_SPLIT_REMOVED;
    else if (!strcmp(s, "Isolated")) *b = TOK_SPLIT_ISOLATED;
    else if (!strcmp(s, "MergedWithPrevious")) *b = TOK_SPLIT_MERGED_PREV;
    else if (!strcmp(s, "MergedWithNext")) *b = TOK_SPLIT_MERGED_NEXT;
    else if (!strcmp(s, "Contiguous")) *b = TOK_SPLIT_CONTIGUOUS;
    else return JERR(J, where, "unknown split behavior '%s'", s);
    return SENTI_OK;
}

static tok_prepend_scheme scheme(json_t *o) {
    const char *s = jstr(o, "prepend_scheme");
    if (s) return !strcmp(s, "first") ? TOK_PREPEND_FIRST : !strcmp(s, "never") ? TOK_PREPEND_NEVER : TOK_PREPEND_ALWAYS;
    return jbool(o, "add_prefix_space", true) ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
}

/* ---- base64 (precompiled_charsmap) ---- */
static senti_status b64_decode(const char *s, unsigned char **out, size_t *n) {
    size_t l = strlen(s), k = 0;
    unsigned char *o = senti_malloc(l / 4 * 3 + 4);
    if (!o) return SENTI_ERR_NO_MEMORY;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < l; i++) {
        int v = tok_b64_value((unsigned char)s[i]);
        if (v < 0) continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    *out = o;
    *n = k;
    return SENTI_OK;
}

/* ---- normalizers ---- */
static senti_status parse_normalizer(jctx *J, json_t *o, tok_normalizer *n) {
    const char *type = jstr(o, "type");
    if (!type) return JERR(J, "normalizer", "missing type");
    if (!strcmp(type, "BertNormalizer")) {
        n->type = TOK_NORM_BERT;
        n->clean_text = jbool(o, "clean_text", true);
        n->handle_chinese = jbool(o, "handle_chinese_chars", true);
        n->lowercase = jbool(o, "lowercase", true);
        json_t *sa = json_object_get(o, "strip_accents");
        n->strip_accents = sa && json_is_boolean(sa) ? json_is_true(sa) : n->lowercase;
    } else if (!strcmp(type, "NFC")) n->type = TOK_NORM_NFC;
    else if (!strcmp(type, "NFD")) n->type = TOK_NORM_NFD;
    else if (!strcmp(type, "NFKC")) n->type = TOK_NORM_NFKC;
    else if (!strcmp(type, "NFKD")) n->type = TOK_NORM_NFKD;
    else if (!strcmp(type, "Lowercase")) n->type = TOK_NORM_LOWERCASE;
    else if (!strcmp(type, "StripAccents")) n->type = TOK_NORM_STRIP_ACCENTS;
    else if (!strcmp(type, "Strip")) {
        n->type = TOK_NORM_STRIP;
        n->left = jbool(o, "strip_left", true);
        n->right = jbool(o, "strip_right", true);
    } else if (!strcmp(type, "Replace")) {
        n->type = TOK_NORM_REPLACE;
        if (pattern(J, "normalizer Replace", json_object_get(o, "pattern"), &n->re)) return SENTI_ERR_BAD_FILE;
        if (!(n->content = dupstr(jstr(o, "content")))) return SENTI_ERR_NO_MEMORY;
    } else if (!strcmp(type, "Prepend")) {
        n->type = TOK_NORM_PREPEND;
        if (!(n->prepend = dupstr(jstr(o, "prepend")))) return SENTI_ERR_NO_MEMORY;
    } else if (!strcmp(type, "Precompiled")) {
        n->type = TOK_NORM_PRECOMPILED;
        const char *b = jstr(o, "precompiled_charsmap");
        if (!b) return SENTI_OK; /* null charsmap: identity */
        unsigned char *raw;
        size_t rn;
        if (b64_decode(b, &raw, &rn)) return senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", J->path);
        senti_status st = rn ? tok_precompiled_parse(&n->pc, raw, rn) : SENTI_OK;
        senti_mfree(raw);
        return st;
    } else if (!strcmp(type, "Sequence")) {
        n->type = TOK_NORM_SEQUENCE;
        json_t *a = json_object_get(o, "normalizers");
        if (!json_is_array(a)) return JERR(J, "normalizer Sequence", "normalizers must be a list");
        n->nseq = (int)json_array_size(a);
        if (n->nseq && !(n->seq = senti_calloc((size_t)n->nseq, sizeof *n->seq))) return SENTI_ERR_NO_MEMORY;
        for (int i = 0; i < n->nseq; i++)
            if (parse_normalizer(J, json_array_get(a, (size_t)i), &n->seq[i])) return SENTI_ERR_BAD_FILE;
    } else {
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: normalizer type '%s' is not supported", J->path, type);
    }
    return SENTI_OK;
}

/* ---- pre-tokenizers ---- */
static const char *GPT2_RE =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static senti_status parse_pretok(jctx *J, json_t *o, tok_pretok *p) {
    const char *type = jstr(o, "type");
    if (!type) return JERR(J, "pre_tokenizer", "missing type");
    if (!strcmp(type, "BertPreTokenizer")) p->type = TOK_PRE_BERT;
    else if (!strcmp(type, "ByteLevel")) {
        p->type = TOK_PRE_BYTELEVEL;
        p->add_prefix_space = jbool(o, "add_prefix_space", true);
        p->use_regex = jbool(o, "use_regex", true);
        if (p->use_regex) return tok_regex_compile(&p->re, GPT2_RE, strlen(GPT2_RE), false);
    } else if (!strcmp(type, "Whitespace")) {
        p->type = TOK_PRE_WHITESPACE;
        /* \w as Oniguruma has it: letters, marks, decimal digits, connectors, ZWNJ/ZWJ */
        const char *re = "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}\\x{200c}\\x{200d}]+|[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}\\x{200c}\\x{200d}\\s]+";
        return tok_regex_compile(&p->re, re, strlen(re), false);
    } else if (!strcmp(type, "WhitespaceSplit")) p->type = TOK_PRE_WHITESPACE_SPLIT;
    else if (!strcmp(type, "Metaspace")) {
        p->type = TOK_PRE_METASPACE;
        if (first_char(J, "pre_tokenizer Metaspace replacement", jstr(o, "replacement"), &p->replacement))
            return SENTI_ERR_BAD_FILE;
        p->scheme = scheme(o);
        p->split = jbool(o, "split", true);
    } else if (!strcmp(type, "Split")) {
        p->type = TOK_PRE_SPLIT;
        if (pattern(J, "pre_tokenizer Split", json_object_get(o, "pattern"), &p->re) ||
            behavior(J, "pre_tokenizer Split", jstr(o, "behavior"), &p->behavior))
            return SENTI_ERR_BAD_FILE;
        p->invert = jbool(o, "invert", false);
    } else if (!strcmp(type, "Digits")) {
        p->type = TOK_PRE_DIGITS;
        p->individual_digits = jbool(o, "individual_digits", false);
    } else if (!strcmp(type, "Punctuation")) {
        p->type = TOK_PRE_PUNCTUATION;
        return behavior(J, "pre_tokenizer Punctuation", jstr(o, "behavior"), &p->behavior);
    } else if (!strcmp(type, "Sequence")) {
        p->type = TOK_PRE_SEQUENCE;
        json_t *a = json_object_get(o, "pretokenizers");
        if (!json_is_array(a)) return JERR(J, "pre_tokenizer Sequence", "pretokenizers must be a list");
        p->nseq = (int)json_array_size(a);
        if (p->nseq && !(p->seq = senti_calloc((size_t)p->nseq, sizeof *p->seq))) return SENTI_ERR_NO_MEMORY;
        for (int i = 0; i < p->nseq; i++)
            if (parse_pretok(J, json_array_get(a, (size_t)i), &p->seq[i])) return SENTI_ERR_BAD_FILE;
    } else {
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: pre_tokenizer type '%s' is not supported", J->path, type);
    }
    return SENTI_OK;
}

/* ---- models ---- */

/* The double HF's Rust side sees for a JSON number: serde_json (without its
 * float_roundtrip feature) parses "12.130167007446289" as the u64 significand
 * divided by an f64 power of ten, which can be 1 ulp off the correctly rounded
 * value jansson gives; Unigram's Viterbi ties depend on those bits. We rebuild
 * the shortest decimal of d (what HF wrote) and redo serde's arithmetic. */
static double pow10_f64(int e) {
    if (e <= 22) {
        double p = 1.0;
        for (int i = 0; i < e; i++) p *= 10.0; /* exact up to 1e22 */
        return p;
    }
    char b[16];
    snprintf(b, sizeof b, "1e%d", e);
    return strtod(b, NULL);
}

static double serde_f64(double d) {
    if (d == 0.0 || !isfinite(d)) return d;
    char buf[40];
    int lo = 1, hi = 17; /* digits: the fewest that round-trip (monotone in the count) */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        snprintf(buf, sizeof buf, "%.*e", mid - 1, d);
        if (strtod(buf, NULL) == d) hi = mid;
        else lo = mid + 1;
    }
    snprintf(buf, sizeof buf, "%.*e", lo - 1, d);
    const char *q = buf + (buf[0] == '-');
    uint64_t sig = 0;
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') sig = sig * 10 + (uint64_t)(*q - '0'), nd++;
    int e = (*q == 'e' ? atoi(q + 1) : 0) - (nd - 1);
    double f = (double)sig;
    while (e < -308 && f != 0.0) f /= 1e308, e += 308;
    if (e > 308) return d;
    f = e >= 0 ? f * pow10_f64(e) : f / pow10_f64(-e);
    return d < 0 ? -f : f;
}

static senti_status vocab_from_object(jctx *J, json_t *v, tok_vocab *voc) {
    const char *k;
    json_t *val;
    if (!json_is_object(v)) return JERR(J, "model.vocab", "must be an object");
    json_object_foreach(v, k, val) {
        if (!json_is_integer(val)) return JERR(J, "model.vocab", "id of '%s' is not an integer", k);
        json_int_t id = json_integer_value(val);
        if (id < 0 || id > INT32_MAX) return JERR(J, "model.vocab", "id %lld of '%s' is out of range", (long long)id, k);
        if (tok_vocab_add(voc, k, strlen(k), (int32_t)id)) return SENTI_ERR_NO_MEMORY;
    }
    return tok_vocab_build(voc, J->path);
}

static void byte_ids(tok_model *m) {
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        m->byte_ids[b] = tok_vocab_find(&m->vocab, s, 6);
    }
}

senti_status tok_bpe_add_merge(tok_model *m, const char *path, size_t line, const char *a, size_t al, const char *b,
                               size_t bl, int32_t rank) {
    int32_t ia = tok_vocab_find(&m->vocab, a, al), ib = tok_vocab_find(&m->vocab, b, bl);
    size_t pl = m->prefix ? strlen(m->prefix) : 0;
    if (ia < 0 || ib < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: merge %zu: '%.*s' is not in the vocab", path, line,
                           ia < 0 ? (int)al : (int)bl, ia < 0 ? a : b);
    if (pl > bl) pl = 0;
    int32_t in = tok_vocab_find2(&m->vocab, a, al, b + pl, bl - pl);
    if (in < 0)
        return senti_error(SENTI_ERR_BAD_FILE, "%s: merge %zu: '%.*s%.*s' is not in the vocab", path, line, (int)al, a,
                           (int)(bl - pl), b + pl);
    return tok_merges_add(m, ia, ib, rank, in);
}

static senti_status parse_model(jctx *J, json_t *o, tok_model *m) {
    const char *type = jstr(o, "type");
    json_t *merges = json_object_get(o, "merges");
    if (!type) type = merges ? "BPE" : json_is_array(json_object_get(o, "vocab")) ? "Unigram" : "WordPiece";
    m->unk_id = -1;
    if (!strcmp(type, "WordPiece")) {
        m->type = TOK_MODEL_WORDPIECE;
        if (vocab_from_object(J, json_object_get(o, "vocab"), &m->vocab)) return SENTI_ERR_BAD_FILE;
        const char *unk = jstr(o, "unk_token");
        if (unk) m->unk_id = tok_vocab_find(&m->vocab, unk, strlen(unk));
        /* every word outside the vocab becomes the unk token: without it no text but the vocab's own words would
         * tokenize (HF fails such a word at run time) */
        if (m->unk_id < 0)
            return JERR(J, "model.unk_token", "'%s' is not in the vocab (a WordPiece vocab needs its unk token)",
                        unk ? unk : "(none)");
        if (!(m->prefix = dupstr(jstr(o, "continuing_subword_prefix") ? jstr(o, "continuing_subword_prefix") : "##")))
            return SENTI_ERR_NO_MEMORY;
        json_t *mx = json_object_get(o, "max_input_chars_per_word");
        m->max_input_chars = mx && json_is_integer(mx) ? (int)json_integer_value(mx) : 100;
        return SENTI_OK;
    }
    if (!strcmp(type, "BPE")) {
        m->type = TOK_MODEL_BPE;
        if (vocab_from_object(J, json_object_get(o, "vocab"), &m->vocab)) return SENTI_ERR_BAD_FILE;
        const char *unk = jstr(o, "unk_token");
        if (unk) m->unk_id = tok_vocab_find(&m->vocab, unk, strlen(unk));
        if (jstr(o, "continuing_subword_prefix") && !(m->prefix = dupstr(jstr(o, "continuing_subword_prefix"))))
            return SENTI_ERR_NO_MEMORY;
        if (jstr(o, "end_of_word_suffix") && !(m->suffix = dupstr(jstr(o, "end_of_word_suffix"))))
            return SENTI_ERR_NO_MEMORY;
        m->fuse_unk = jbool(o, "fuse_unk", false);
        m->byte_fallback = jbool(o, "byte_fallback", false);
        m->ignore_merges = jbool(o, "ignore_merges", false);
        byte_ids(m);
        if (!json_is_array(merges)) return JERR(J, "model.merges", "must be a list");
        size_t n = json_array_size(merges);
        if (tok_merges_build(m, n)) return SENTI_ERR_NO_MEMORY;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(merges, i);
            const char *a, *b;
            size_t al, bl;
            if (json_is_string(e)) {
                a = json_string_value(e);
                const char *sp = strchr(a, ' ');
                if (!sp) return JERR(J, "model.merges", "entry %zu '%s' is not 'a b'", i, a);
                al = (size_t)(sp - a);
                b = sp + 1;
                bl = strlen(b);
            } else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                       json_is_string(json_array_get(e, 1))) {
                a = json_string_value(json_array_get(e, 0));
                b = json_string_value(json_array_get(e, 1));
                al = json_string_length(json_array_get(e, 0));
                bl = json_string_length(json_array_get(e, 1));
            } else {
                return JERR(J, "model.merges", "entry %zu must be a string or a pair of strings", i);
            }
            if (tok_bpe_add_merge(m, J->path, i, a, al, b, bl, (int32_t)i)) {
                char why[512];
                snprintf(why, sizeof why, "%s", senti_last_error());
                if (json_is_string(e))
                    return senti_error(SENTI_ERR_BAD_FILE, "%s (model.merges[%zu] is \"%.200s\": a token with a space?)",
                                       why, i, json_string_value(e));
                return SENTI_ERR_BAD_FILE;
            }
        }
        return SENTI_OK;
    }
    if (!strcmp(type, "Unigram")) {
        m->type = TOK_MODEL_UNIGRAM;
        json_t *v = json_object_get(o, "vocab");
        if (!json_is_array(v)) return JERR(J, "model.vocab", "Unigram vocab must be a list");
        size_t n = json_array_size(v);
        if (!(m->scores = senti_malloc((n ? n : 1) * sizeof(double)))) return SENTI_ERR_NO_MEMORY;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            json_t *s = json_array_get(e, 0), *sc = json_array_get(e, 1);
            if (!json_is_string(s) || !json_is_number(sc))
                return JERR(J, "model.vocab", "entry %zu must be [piece, score]", i);
            if (tok_vocab_add(&m->vocab, json_string_value(s), json_string_length(s), (int32_t)i))
                return SENTI_ERR_NO_MEMORY;
            m->scores[i] = serde_f64(json_number_value(sc));
        }
        senti_status vst = tok_vocab_build(&m->vocab, J->path);
        if (vst) return vst;
        json_t *u = json_object_get(o, "unk_id");
        m->unk_id = u && json_is_integer(u) ? (int32_t)json_integer_value(u) : -1;
        m->byte_fallback = jbool(o, "byte_fallback", false);
        byte_ids(m);
        return tok_unigram_build(m);
    }
    return senti_error(SENTI_ERR_UNSUPPORTED, "%s: model type '%s' is not supported", J->path, type);
}

/* ---- post-processors ---- */
static senti_status tok_pair(jctx *J, const char *where, json_t *a, char **s, int32_t *id) {
    if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_string(json_array_get(a, 0)) ||
        !json_is_integer(json_array_get(a, 1)))
        return JERR(J, where, "expects [token, id]");
    *id = (int32_t)json_integer_value(json_array_get(a, 1));
    return (*s = dupstr(json_string_value(json_array_get(a, 0)))) ? SENTI_OK : SENTI_ERR_NO_MEMORY;
}

static senti_status pieces(jctx *J, json_t *a, tok_piece **out, int *n) {
    if (!json_is_array(a)) return JERR(J, "post_processor Template", "single/pair must be a list");
    *n = (int)json_array_size(a);
    if (!(*out = senti_calloc((size_t)(*n ? *n : 1), sizeof **out))) return SENTI_ERR_NO_MEMORY;
    for (int i = 0; i < *n; i++) {
        json_t *e = json_array_get(a, (size_t)i), *x;
        tok_piece *p = &(*out)[i];
        if ((x = json_object_get(e, "SpecialToken"))) {
            p->special = true;
            if (!(p->name = dupstr(jstr(x, "id")))) return SENTI_ERR_NO_MEMORY;
        } else if ((x = json_object_get(e, "Sequence"))) {
            const char *id = jstr(x, "id");
            p->seq = id && !strcmp(id, "B") ? 1 : 0;
        } else {
            return JERR(J, "post_processor Template", "piece %d is neither SpecialToken nor Sequence", i);
        }
        json_t *ty = json_object_get(x, "type_id");
        p->type_id = ty && json_is_integer(ty) ? (int32_t)json_integer_value(ty) : 0;
    }
    return SENTI_OK;
}

static senti_status parse_post(jctx *J, json_t *o, tok_post *p) {
    const char *type = jstr(o, "type");
    if (!type) return JERR(J, "post_processor", "missing type");
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing")) {
        p->type = type[0] == 'B' ? TOK_POST_BERT : TOK_POST_ROBERTA;
        if (tok_pair(J, "post_processor sep", json_object_get(o, "sep"), &p->sep, &p->sep_id) ||
            tok_pair(J, "post_processor cls", json_object_get(o, "cls"), &p->cls, &p->cls_id))
            return SENTI_ERR_BAD_FILE;
        p->trim_offsets = jbool(o, "trim_offsets", true);
        p->add_prefix_space = jbool(o, "add_prefix_space", true);
    } else if (!strcmp(type, "ByteLevel")) {
        p->type = TOK_POST_BYTELEVEL;
        p->trim_offsets = jbool(o, "trim_offsets", true);
        p->add_prefix_space = jbool(o, "add_prefix_space", true);
    } else if (!strcmp(type, "TemplateProcessing")) {
        p->type = TOK_POST_TEMPLATE;
        if (pieces(J, json_object_get(o, "single"), &p->single, &p->nsingle) ||
            pieces(J, json_object_get(o, "pair"), &p->pair, &p->npair))
            return SENTI_ERR_BAD_FILE;
        json_t *sp = json_object_get(o, "special_tokens");
        if (!json_is_object(sp)) return JERR(J, "post_processor Template", "special_tokens must be an object");
        p->nspecials = (int)json_object_size(sp);
        if (!(p->specials = senti_calloc((size_t)(p->nspecials ? p->nspecials : 1), sizeof *p->specials)))
            return SENTI_ERR_NO_MEMORY;
        const char *k;
        json_t *v;
        int i = 0;
        json_object_foreach(sp, k, v) {
            tok_special *s = &p->specials[i++];
            json_t *ids = json_object_get(v, "ids"), *toks = json_object_get(v, "tokens");
            if (!json_is_array(ids) || !json_is_array(toks) || json_array_size(ids) != json_array_size(toks))
                return JERR(J, "post_processor Template", "special token '%s' needs ids and tokens of equal length", k);
            s->n = (int)json_array_size(ids);
            if (!(s->name = dupstr(k)) || !(s->ids = senti_calloc((size_t)s->n + 1, 4)) ||
                !(s->tokens = senti_calloc((size_t)s->n + 1, sizeof(char *))))
                return SENTI_ERR_NO_MEMORY;
            for (int j = 0; j < s->n; j++) {
                s->ids[j] = (int32_t)json_integer_value(json_array_get(ids, (size_t)j));
                if (!(s->tokens[j] = dupstr(json_string_value(json_array_get(toks, (size_t)j)))))
                    return SENTI_ERR_NO_MEMORY;
            }
        }
    } else if (!strcmp(type, "Sequence")) {
        p->type = TOK_POST_SEQUENCE;
        json_t *a = json_object_get(o, "processors");
        if (!json_is_array(a)) return JERR(J, "post_processor Sequence", "processors must be a list");
        p->nseq = (int)json_array_size(a);
        if (p->nseq && !(p->seq = senti_calloc((size_t)p->nseq, sizeof *p->seq))) return SENTI_ERR_NO_MEMORY;
        for (int i = 0; i < p->nseq; i++)
            if (parse_post(J, json_array_get(a, (size_t)i), &p->seq[i])) return SENTI_ERR_BAD_FILE;
    } else {
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: post_processor type '%s' is not supported", J->path, type);
    }
    return SENTI_OK;
}

/* ---- decoders ---- */
static senti_status parse_decoder(jctx *J, json_t *o, tok_decoder *d) {
    const char *type = jstr(o, "type");
    if (!type) return JERR(J, "decoder", "missing type");
    if (!strcmp(type, "WordPiece")) {
        d->type = TOK_DEC_WORDPIECE;
        d->cleanup = jbool(o, "cleanup", true);
        if (!(d->prefix = dupstr(jstr(o, "prefix") ? jstr(o, "prefix") : "##"))) return SENTI_ERR_NO_MEMORY;
    } else if (!strcmp(type, "ByteLevel")) d->type = TOK_DEC_BYTELEVEL;
    else if (!strcmp(type, "Metaspace")) {
        d->type = TOK_DEC_METASPACE;
        if (first_char(J, "decoder Metaspace replacement", jstr(o, "replacement"), &d->replacement))
            return SENTI_ERR_BAD_FILE;
        d->scheme = scheme(o);
    } else if (!strcmp(type, "ByteFallback")) d->type = TOK_DEC_BYTE_FALLBACK;
    else if (!strcmp(type, "Fuse")) d->type = TOK_DEC_FUSE;
    else if (!strcmp(type, "Strip")) {
        d->type = TOK_DEC_STRIP;
        if (!(d->content = dupstr(jstr(o, "content")))) return SENTI_ERR_NO_MEMORY;
        json_t *s = json_object_get(o, "start"), *e = json_object_get(o, "stop");
        d->start = s && json_is_integer(s) ? (int)json_integer_value(s) : 0;
        d->stop = e && json_is_integer(e) ? (int)json_integer_value(e) : 0;
    } else if (!strcmp(type, "Replace")) {
        d->type = TOK_DEC_REPLACE;
        json_t *p = json_object_get(o, "pattern");
        const char *s = json_is_object(p) ? jstr(p, "String") : NULL;
        if (!s) return senti_error(SENTI_ERR_UNSUPPORTED, "%s: decoder Replace supports String patterns only", J->path);
        if (!(d->pattern = dupstr(s)) || !(d->with = dupstr(jstr(o, "content")))) return SENTI_ERR_NO_MEMORY;
    } else if (!strcmp(type, "BPEDecoder")) {
        d->type = TOK_DEC_BPE;
        if (!(d->prefix = dupstr(jstr(o, "suffix") ? jstr(o, "suffix") : "</w>"))) return SENTI_ERR_NO_MEMORY;
    } else if (!strcmp(type, "Sequence")) {
        d->type = TOK_DEC_SEQUENCE;
        json_t *a = json_object_get(o, "decoders");
        if (!json_is_array(a)) return JERR(J, "decoder Sequence", "decoders must be a list");
        d->nseq = (int)json_array_size(a);
        if (d->nseq && !(d->seq = senti_calloc((size_t)d->nseq, sizeof *d->seq))) return SENTI_ERR_NO_MEMORY;
        for (int i = 0; i < d->nseq; i++)
            if (parse_decoder(J, json_array_get(a, (size_t)i), &d->seq[i])) return SENTI_ERR_BAD_FILE;
    } else {
        return senti_error(SENTI_ERR_UNSUPPORTED, "%s: decoder type '%s' is not supported", J->path, type);
    }
    return SENTI_OK;
}

#define PARSE_PART(field, key, fn)                                                                     \
    do {                                                                                               \
        json_t *x_ = json_object_get(root, key);                                                       \
        if (x_ && !json_is_null(x_)) {                                                                 \
            if (!(t->field = senti_calloc(1, sizeof *t->field))) {                                     \
                st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);                      \
                goto done;                                                                             \
            }                                                                                          \
            if ((st = fn(&J, x_, t->field))) goto done;                                                \
        }                                                                                              \
    } while (0)

/* Build t from a parsed tokenizer.json (root is released). */
static senti_status load_root(senti_tokenizer *t, const char *path, json_t *root) {
    jctx J = {path};
    senti_status st = SENTI_OK;
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        st = senti_error(SENTI_ERR_BAD_FILE, "%s: no 'model' object (not a tokenizer.json?)", path);
        goto done;
    }
    PARSE_PART(normalizer, "normalizer", parse_normalizer);
    PARSE_PART(pretok, "pre_tokenizer", parse_pretok);
    PARSE_PART(post, "post_processor", parse_post);
    PARSE_PART(decoder, "decoder", parse_decoder);
    if ((st = parse_model(&J, model, &t->model))) goto done;
    json_t *added = json_object_get(root, "added_tokens");
    for (size_t i = 0; json_is_array(added) && i < json_array_size(added); i++) {
        json_t *a = json_array_get(added, i);
        const char *c = jstr(a, "content");
        json_t *id = json_object_get(a, "id");
        if (!c || !json_is_integer(id)) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: added_tokens[%zu] needs content and id", path, i);
            goto done;
        }
        if ((st = tok_added_push(&t->added, c, strlen(c), (int32_t)json_integer_value(id), jbool(a, "single_word", false),
                                 jbool(a, "lstrip", false), jbool(a, "rstrip", false), jbool(a, "normalized", true),
                                 jbool(a, "special", false)))) {
            if (st != SENTI_ERR_NO_MEMORY) st = senti_error(st, "%s: %s", path, senti_last_error());
            goto done;
        }
    }
done:
    json_decref(root);
    return st;
}

senti_status tok_load_json(senti_tokenizer *t, const char *path) {
    json_error_t err;
    json_t *root = senti_json_load(path, JSON_ALLOW_NUL, &err);
    if (!root && err.line < 0) return senti_error(SENTI_ERR_IO, "%s: %s", path, err.text);
    if (!root) return senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: invalid JSON: %s", path, err.line, err.column, err.text);
    return load_root(t, path, root);
}

senti_status tok_load_json_root(senti_tokenizer *t, const char *name, void *root) { return load_root(t, name, root); }

senti_status tok_load_json_text(senti_tokenizer *t, const char *name, const char *text, size_t len) {
    json_error_t err;
    json_t *root = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!root) return senti_error(SENTI_ERR_BAD_FILE, "%s:%d:%d: invalid JSON: %s", name, err.line, err.column, err.text);
    return load_root(t, name, root);
}
