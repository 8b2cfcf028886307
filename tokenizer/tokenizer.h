/* tokenizer.h — internal header of the tokenizer: the pipeline pieces that
 * turn text into ids exactly like HuggingFace tokenizers (normalizers,
 * pre-tokenizers, WordPiece / BPE / Unigram models, post-processors,
 * decoders, added tokens) and the loaders that build them.
 *
 * Invariants:
 * - Text flows as a tok_str: UTF-8 bytes plus, for every byte, the range of
 *   original code points [a0, a1) it came from (HF's alignments, kept in code
 *   points instead of bytes since offsets are reported in code points).
 * - A senti_tokenizer is immutable after load; encode keeps all its scratch in
 *   a per-call tok_ctx, so encode/decode are thread-safe on a shared tokenizer.
 * - All heap traffic goes through senti_malloc/senti_mfree, except inside the
 *   libraries: jansson (while loading JSON) and PCRE2 (compiled regexes, and
 *   one match block per encode call that uses a regex). */
#ifndef SENTI_TOKENIZER_H
#define SENTI_TOKENIZER_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "../core/core.h"

/* ---- growable arrays and strings ---------------------------------------- */

/* Grow *p (elements of `elem` bytes, capacity *cap) to hold at least `need`. */
senti_status tok_grow(void **p, size_t *cap, size_t need, size_t elem);

/* UTF-8 text with per-byte alignment to original code points. */
typedef struct tok_str {
    char *s;          /* not NUL-terminated */
    int32_t *a0, *a1; /* per byte: original code point range */
    size_t len, cap;
} tok_str;

void tok_str_free(tok_str *t);
senti_status tok_str_reserve(tok_str *t, size_t need);
/* Append code point c (encoded as UTF-8) with alignment [a0, a1). */
senti_status tok_str_push(tok_str *t, uint32_t c, int32_t a0, int32_t a1);
/* Append bytes [off, off+len) of src with their alignments. */
senti_status tok_str_append(tok_str *t, const tok_str *src, size_t off, size_t len);

/* ---- UTF-8 and Unicode properties ---------------------------------------- */

/* Decode one code point at s[0..n) (n >= 1, s valid UTF-8 as produced by
 * tok_utf8_repair); returns its byte length. */
int tok_utf8_next(const char *s, size_t n, uint32_t *c);
int tok_utf8_encode(uint32_t c, char out[4]);
/* Length in bytes of the UTF-8 sequence starting with byte b (1 for bad). */
static inline int tok_utf8_len(unsigned char b) {
    return b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
}
/* Copy s[0..n) to out replacing every maximal invalid subsequence with U+FFFD
 * (Python's errors="replace"); returns the number of code points. */
senti_status tok_utf8_repair(const char *s, size_t n, tok_str *out, int32_t *n_chars);

bool tok_is_whitespace(uint32_t c);   /* Rust char::is_whitespace */
bool tok_is_punct(uint32_t c);        /* ASCII punctuation or Unicode P* */
bool tok_is_alnum(uint32_t c);        /* Rust char::is_alphanumeric */
bool tok_is_numeric(uint32_t c);      /* Rust char::is_numeric (N*) */
int tok_category(uint32_t c);         /* utf8proc category */

/* ---- vocabulary: string <-> id hash table -------------------------------- */

typedef struct tok_vocab_ent { int32_t id; uint32_t off, len; } tok_vocab_ent;

typedef struct tok_vocab {
    char *pool;                /* all token strings, NUL-separated */
    size_t pool_len, pool_cap;
    uint32_t *off, *len;       /* per id: string at pool+off; len == UINT32_MAX: no such id */
    int32_t n;                 /* ids are 0..n-1 (n < tok_id_limit(entries)) */
    tok_vocab_ent *ent;        /* added, not yet laid out by id (until tok_vocab_build) */
    size_t nent, ent_cap;
    int32_t *slots;            /* open addressing: id or -1 */
    uint32_t nslots;           /* power of two */
} tok_vocab;

/* The largest id + 1 a vocabulary of n entries may use: ids beyond twice the
 * entry count (with a floor for tiny test vocabularies) are refused, so every
 * table indexed by id stays proportional to the file's entries. */
static inline int64_t tok_id_limit(int64_t n) { return n < 512 ? 1024 : 2 * n; }

void tok_vocab_free(tok_vocab *v);
/* Add (s, len) with id; ids may arrive in any order; duplicate strings keep
 * the first id, a duplicate id its first string. Ids take effect at
 * tok_vocab_build. */
senti_status tok_vocab_add(tok_vocab *v, const char *s, size_t len, int32_t id);
/* Lay the added entries out by id (refusing ids >= tok_id_limit(entries);
 * `what` names the file / key in that message) and build the hash. */
senti_status tok_vocab_build(tok_vocab *v, const char *what);
/* The same; a string held by several ids finds the first of them, or with
 * last the last (tok_vocab_build: first). */
senti_status tok_vocab_build_dup(tok_vocab *v, const char *what, bool last);
int32_t tok_vocab_find(const tok_vocab *v, const char *s, size_t len); /* -1: absent */
/* Lookup of prefix + s without building the string. */
int32_t tok_vocab_find2(const tok_vocab *v, const char *p, size_t plen, const char *s, size_t len);
static inline const char *tok_vocab_str(const tok_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n || v->len[id] == UINT32_MAX) return NULL;
    if (len) *len = v->len[id];
    return v->pool + v->off[id];
}
uint64_t tok_hash(const char *p, size_t plen, const char *s, size_t len);

/* ---- splits (pre-tokenized pieces) ---------------------------------------- */

typedef struct tok_split {
    size_t off, len; /* bytes in the current tok_str */
    int32_t id;      /* >= 0: an added token, already final; -1: text */
    int32_t word;    /* word index (set after pre-tokenization) */
} tok_split;

typedef struct tok_splits {
    tok_split *v;
    size_t n, cap;
} tok_splits;

senti_status tok_splits_push(tok_splits *s, size_t off, size_t len, int32_t id);

/* A model's output token: id and byte range in the split. */
typedef struct tok_token {
    int32_t id;
    uint32_t off, len;
    bool raw; /* token string is the text itself (Unigram), not the vocab piece */
} tok_token;

typedef struct tok_tokens {
    tok_token *v;
    size_t n, cap;
} tok_tokens;

senti_status tok_tokens_push(tok_tokens *t, int32_t id, size_t off, size_t len);
senti_status tok_tokens_push_raw(tok_tokens *t, int32_t id, size_t off, size_t len);

/* ---- regex helper (PCRE2, UTF + UCP, JIT when available) ----------------- */

typedef struct tok_regex {
    pcre2_code *code;
    /* No match spans a cut between an ASCII letter/digit and a space followed
     * by an ASCII letter/digit, and such a cut is a match boundary: a
     * literal without a space, " ", " {2,}", or a named pre-tokenizer regex
     * (tok_pre_regex). Lets truncation tokenize a prefix (tokenizer.c). */
    bool cut_ok;
} tok_regex;

senti_status tok_regex_compile(tok_regex *r, const char *pattern, size_t len, bool literal);
/* A pcre2_match failure other than no match (rc < 0: the match, depth or heap
 * limit on a backtracking pattern, ...) as the record's error, naming where
 * the regex sits ("pre-tokenizer", "normalizer"); out of memory only for
 * PCRE2_ERROR_NOMEMORY. */
senti_status tok_regex_failed(const char *where, int rc);
/* An optional JSON object file beside a tokenizer (tokenizer_config.json):
 * *out NULL when absent; BAD_FILE naming it when present but unreadable
 * (a FIFO, a directory), malformed or not an object. */
senti_status tok_load_optional_json(const char *path, size_t flags, json_t **out);
void tok_regex_free(tok_regex *r);

typedef struct tok_match { size_t s, e; bool is_match; } tok_match;
typedef struct tok_matches { tok_match *v; size_t n, cap; } tok_matches;

/* Per-call scratch: everything encode mutates. */
typedef struct tok_ctx {
    tok_matches mt;
    tok_str str[2];        /* current text and the buffer transforms write into */
    tok_splits sp[2];
    tok_tokens toks;
    pcre2_match_data *md;
    /* BPE / unigram scratch */
    void *sym; size_t sym_cap;
    void *heap; size_t heap_cap;
    void *lattice; size_t lattice_cap;
    char *buf; size_t buf_cap;
} tok_ctx;

void tok_ctx_free(tok_ctx *c);


/* ---- normalizers -------------------------------------------------------- */

typedef enum tok_norm_type {
    TOK_NORM_BERT, TOK_NORM_NFC, TOK_NORM_NFD, TOK_NORM_NFKC, TOK_NORM_NFKD,
    TOK_NORM_LOWERCASE, TOK_NORM_STRIP, TOK_NORM_STRIP_ACCENTS, TOK_NORM_REPLACE,
    TOK_NORM_PREPEND, TOK_NORM_PRECOMPILED, TOK_NORM_SEQUENCE,
} tok_norm_type;

typedef struct tok_precompiled {
    const uint32_t *trie; size_t trie_n; /* darts-clone double array units */
    const char *norm; size_t norm_len;   /* NUL-separated replacement strings */
    unsigned char *blob;                 /* owned storage of both */
} tok_precompiled;

typedef struct tok_normalizer {
    tok_norm_type type;
    bool clean_text, handle_chinese, strip_accents, lowercase; /* BERT */
    bool left, right, spaces_only;                             /* Strip (spaces_only: U+0020, as SentencePiece) */
    tok_regex re; char *content;                               /* Replace */
    char *prepend;                                             /* Prepend */
    tok_precompiled pc;                                        /* Precompiled */
    struct tok_normalizer *seq; int nseq;                      /* Sequence */
} tok_normalizer;

void tok_normalizer_free(tok_normalizer *n);
/* Normalize in[off, off+len) and append the result to out. */
senti_status tok_normalize(const tok_normalizer *n, tok_ctx *ctx, const tok_str *in, size_t off,
                           size_t len, tok_str *out);
senti_status tok_precompiled_parse(tok_precompiled *pc, const unsigned char *data, size_t n);

/* ---- pre-tokenizers ------------------------------------------------------ */

typedef enum tok_split_behavior {
    TOK_SPLIT_REMOVED, TOK_SPLIT_ISOLATED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS,
} tok_split_behavior;

typedef enum tok_pretok_type {
    TOK_PRE_BERT, TOK_PRE_BYTELEVEL, TOK_PRE_WHITESPACE, TOK_PRE_WHITESPACE_SPLIT,
    TOK_PRE_METASPACE, TOK_PRE_SPLIT, TOK_PRE_DIGITS, TOK_PRE_PUNCTUATION, TOK_PRE_SEQUENCE,
} tok_pretok_type;

typedef enum tok_prepend_scheme { TOK_PREPEND_ALWAYS, TOK_PREPEND_FIRST, TOK_PREPEND_NEVER } tok_prepend_scheme;

typedef struct tok_pretok {
    tok_pretok_type type;
    bool add_prefix_space, use_regex;         /* ByteLevel */
    uint32_t replacement; tok_prepend_scheme scheme; bool split; /* Metaspace */
    tok_regex re; tok_split_behavior behavior; bool invert;    /* Split, Whitespace, ByteLevel */
    bool individual_digits;                   /* Digits */
    struct tok_pretok *seq; int nseq;
} tok_pretok;

void tok_pretok_free(tok_pretok *p);
/* Pre-tokenize: rewrites ctx->str[0] / ctx->sp[0] (splits with id >= 0 stay). */
senti_status tok_pretokenize(const tok_pretok *p, tok_ctx *ctx, tok_str **cur, tok_splits **sp);
/* The one table of named pre-tokenizer regexes (tok_pretok.c), by llama.cpp's
 * tokenizer.ggml.pre names: "gpt-2" / "default" (GPT-2), "llama-bpe" /
 * "llama3" (Llama 3, also tiktoken's), "qwen2". NULL: unknown. */
const char *tok_pre_regex(const char *name);
/* The name written for a regex (the first of its names); NULL: none. */
const char *tok_pre_regex_name(const char *re);
/* The GPT-2 byte <-> unicode table. */
extern uint32_t tok_byte_char[256];
int tok_char_byte(uint32_t c); /* -1 if c is not a byte char */
void tok_bytelevel_init(void);

/* ---- models ------------------------------------------------------------- */

typedef enum tok_model_type { TOK_MODEL_WORDPIECE, TOK_MODEL_BPE, TOK_MODEL_UNIGRAM } tok_model_type;

typedef struct tok_merge_entry { uint64_t key; int32_t rank, id; } tok_merge_entry;

typedef struct tok_model {
    tok_model_type type;
    tok_vocab vocab;
    int32_t unk_id;                 /* -1: none */
    char *prefix;                   /* WordPiece/BPE continuing_subword_prefix ("" none) */
    char *suffix;                   /* BPE end_of_word_suffix */
    int max_input_chars;            /* WordPiece; Unigram: longest piece in bytes */
    bool byte_fallback, fuse_unk, ignore_merges;
    tok_merge_entry *merges; uint32_t merges_nslots; /* BPE: (a,b) -> rank,id */
    int32_t byte_ids[256];          /* byte fallback ids (<0xXX>), -1 absent */
    double *scores;                 /* Unigram: per id */
    double min_score;
    int32_t *trie; size_t trie_n;   /* Unigram: prefix trie over pieces */
} tok_model;

void tok_model_free(tok_model *m);
senti_status tok_merges_add(tok_model *m, int32_t a, int32_t b, int32_t rank, int32_t id);
senti_status tok_merges_build(tok_model *m, size_t n);
/* Add merge (a, b) of rank `rank`, checking a, b and their fusion are in the vocab. */
senti_status tok_bpe_add_merge(tok_model *m, const char *path, size_t line, const char *a, size_t al, const char *b,
                               size_t bl, int32_t rank);
/* Tokenize word w[0..n) into ctx->toks (appended). */
senti_status tok_wordpiece_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n);
senti_status tok_bpe_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n);
senti_status tok_unigram_tokenize(const tok_model *m, tok_ctx *ctx, const char *w, size_t n);
senti_status tok_unigram_build(tok_model *m);

/* ---- added tokens -------------------------------------------------------- */

typedef struct tok_added {
    char *content; size_t len;   /* as written in the file */
    char *ncontent; size_t nlen; /* what is matched: normalized content when `normalized` */
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} tok_added;

typedef struct tok_added_set {
    tok_added *v; int n;
    /* [normalized][first byte] -> indices into v, longest content first */
    int32_t *idx[2][256]; int cnt[2][256];
    int32_t *by_id; /* indices into v sorted by id (decode, id_to_token) */
} tok_added_set;

/* ---- post-processors ------------------------------------------------------ */

typedef enum tok_post_type {
    TOK_POST_BERT, TOK_POST_ROBERTA, TOK_POST_TEMPLATE, TOK_POST_BYTELEVEL, TOK_POST_SEQUENCE,
} tok_post_type;

typedef struct tok_piece { bool special; int seq; char *name; int32_t type_id; } tok_piece;
typedef struct tok_special { char *name; int32_t *ids; char **tokens; int n; } tok_special;

typedef struct tok_post {
    tok_post_type type;
    char *cls, *sep; int32_t cls_id, sep_id;       /* Bert / Roberta */
    bool trim_offsets, add_prefix_space;           /* Roberta / ByteLevel */
    tok_piece *single, *pair; int nsingle, npair;  /* Template */
    tok_special *specials; int nspecials;
    struct tok_post *seq; int nseq;
} tok_post;

void tok_post_free(tok_post *p);

/* ---- decoders -------------------------------------------------------------- */

typedef enum tok_dec_type {
    TOK_DEC_WORDPIECE, TOK_DEC_BYTELEVEL, TOK_DEC_METASPACE, TOK_DEC_BYTE_FALLBACK,
    TOK_DEC_FUSE, TOK_DEC_STRIP, TOK_DEC_REPLACE, TOK_DEC_BPE, TOK_DEC_SEQUENCE,
} tok_dec_type;

typedef struct tok_decoder {
    tok_dec_type type;
    char *prefix; bool cleanup;              /* WordPiece; BPE suffix in prefix */
    uint32_t replacement; tok_prepend_scheme scheme; /* Metaspace */
    char *content; int start, stop;          /* Strip (content = 1 char) */
    char *pattern; char *with;               /* Replace (string pattern) */
    struct tok_decoder *seq; int nseq;
} tok_decoder;

void tok_decoder_free(tok_decoder *d);

/* A list of strings being decoded (HF decode_chain). */
typedef struct tok_strlist { char **v; size_t *len; size_t n, cap, len_cap; } tok_strlist; /* strings may hold NUL */
void tok_strlist_free(tok_strlist *l);
senti_status tok_strlist_push(tok_strlist *l, const char *s, size_t n);
senti_status tok_decode_chain(const tok_decoder *d, tok_strlist *l);

/* ---- the tokenizer -------------------------------------------------------------- */

struct senti_tokenizer {
    tok_model model;
    tok_normalizer *normalizer; /* NULL: none */
    tok_pretok *pretok;
    tok_post *post;
    tok_decoder *decoder;
    tok_added_set added;
    char *source;               /* path it was loaded from */
    bool cut_safe;              /* a text may be cut at tok_cut_at() positions (tokenizer.c) */
};

struct senti_encoding {
    int64_t n, cap;
    int32_t *ids, *type_ids, *offsets, *word_ids; /* offsets: 2 per token */
    uint8_t *special;
    uint32_t *tok_off;          /* token strings in pool */
    char *pool; size_t pool_len, pool_cap;
};

senti_status tok_enc_push(senti_encoding *e, int32_t id, const char *tok, size_t toklen,
                          int32_t s, int32_t end, int32_t type_id, int32_t word, bool special);
/* Post-process (truncation already done): a and optional b into out. */
senti_status tok_post_process(const tok_post *p, senti_encoding *a, senti_encoding *b,
                              bool add_special, senti_encoding *out);
int tok_post_added(const tok_post *p, bool pair);

/* Loaders (fill a zeroed tokenizer). */
senti_status tok_load_json(senti_tokenizer *t, const char *path);
senti_status tok_load_vocab_txt(senti_tokenizer *t, const char *path, bool lowercase,
                                bool chinese, int strip_accents);
senti_status tok_load_vocab_txt_buf(senti_tokenizer *t, const char *name, const char *data, size_t n, bool lowercase,
                                    bool chinese, int strip_accents);
senti_status tok_load_vocab_json(senti_tokenizer *t, const char *vocab, const char *merges);
/* The same over the two files' text in memory (vocab / merges name them in messages). */
senti_status tok_load_vocab_json_buf(senti_tokenizer *t, const char *vocab, const char *vtext, size_t vlen,
                                     const char *merges, const char *mtext, size_t mlen);
/* tokenizer.json text held in memory (a GGUF file's tokenizer.huggingface.json); name for messages. */
senti_status tok_load_json_text(senti_tokenizer *t, const char *name, const char *text, size_t len);
/* A GGUF file's tokenizer (tok_gguf.c): tokenizer.huggingface.json when present (exact), else
 * senti.hf.vocab_txt, else llama.cpp's tokenizer.ggml.* vocabulary ("bert" WordPiece). */
senti_status tok_load_gguf(senti_tokenizer *t, const char *path);
/* The write side (tok_gguf_keys.c): dir's tokenizer.json (+ tokenizer_config.json)
 * as llama.cpp's tokenizer.ggml.* keys added to w, the vocabulary padded to
 * vocab_size. Nothing is added for a directory without a tokenizer.json or a
 * model other than WordPiece / BPE. *bufs (always set; free with
 * tok_gguf_bufs_free after the write) holds what w borrows. */
typedef struct tok_gguf_bufs tok_gguf_bufs;
senti_status tok_gguf_keys(const char *dir, int64_t vocab_size, gguf_writer *w, tok_gguf_bufs **bufs);
void tok_gguf_bufs_free(tok_gguf_bufs *b);
bool tok_is_gguf(const char *path);
senti_status tok_load_spm(senti_tokenizer *t, const char *path);
/* A SentencePiece .model's bytes in memory (a GGUF file's senti.hf.tokenizer_model); path names it. */
senti_status tok_load_spm_buf(senti_tokenizer *t, const char *path, const unsigned char *data, size_t n);
/* A SentencePiece model's pieces and settings: parsed from a .model file, or
 * (tok_gguf.c) from a llama.cpp "llama" vocabulary's tokens, scores and types. */
typedef struct spm_piece { const char *s; size_t len; float score; int type; } spm_piece;
typedef struct spm {
    spm_piece *pieces; size_t n, cap;
    int model_type;  /* 1 unigram, 2 bpe */
    int32_t unk_id;
    bool byte_fallback, add_dummy_prefix;
    bool no_space_prefix; /* BPE with byte fallback: no "\u2581" prepended (llama.cpp's add_space_prefix false: Gemma) */
    const unsigned char *charsmap; size_t charsmap_len;
} spm;
/* Parse a .model file's bytes (borrowed by the pieces) into out (pieces senti_malloc'd). */
senti_status tok_spm_parse(const char *path, const unsigned char *data, size_t n, spm *out);
/* A tokenizer.json object already parsed (a json_t *, released); name for messages. */
senti_status tok_load_json_root(senti_tokenizer *t, const char *name, void *root);
/* A DeBERTa-v2/v3 directory's spm.model (+ tokenizer_config.json), as transformers'
 * DebertaV2Tokenizer builds it (tok_deberta.c). */
senti_status tok_load_deberta_spm(senti_tokenizer *t, const char *dir, const char *model_path);
/* The pipeline transformers' converters build from sp (tok_spm.c); path names it in messages. */
senti_status tok_spm_build(senti_tokenizer *t, const char *path, const spm *sp);
senti_status tok_load_tiktoken(senti_tokenizer *t, const char *path);
bool tok_is_tiktoken(const char *data, size_t n); /* "base64 rank" lines? */
senti_status tok_added_build(senti_tokenizer *t);
senti_status tok_added_push(tok_added_set *s, const char *content, size_t len, int32_t id, bool single_word,
                            bool lstrip, bool rstrip, bool normalized, bool special);
const tok_added *tok_added_by_id(const tok_added_set *s, int32_t id);
/* Split str[off, off+len) on added tokens (normalized or raw ones) into out. */
senti_status tok_added_split(const tok_added_set *set, bool normalized, const tok_str *str, size_t off, size_t len,
                             tok_splits *out);
void tok_added_free(tok_added_set *s);
senti_status tok_read_file(const char *path, char **data, size_t *n);
/* Value of one base64 digit (A-Z a-z 0-9 + /), -1 for anything else. */
int tok_b64_value(unsigned char c);

/* Add the standard BERT pieces (normalizer, pre-tokenizer, post, decoder). */
senti_status tok_setup_bert(senti_tokenizer *t, bool lowercase, bool chinese, int strip_accents);

#endif /* SENTI_TOKENIZER_H */
