/* tok_tiktoken.c — tiktoken BPE files ("base64-token rank" per line, e.g. the
 * Llama-3 tokenizer.model, cl100k_base.tiktoken) loaded as the tokenizer
 * transformers' TikTokenConverter builds: byte-level BPE over the ranks with
 * ignore_merges, merges = every split of a token into two ranked tokens,
 * ordered by the token's rank then the parts' ranks; pre-tokenizer Split(pattern,
 * isolated) + ByteLevel(no regex), the pattern GPT-2's for a file of GPT-2's
 * size (r50k / p50k), else cl100k's; ByteLevel decoder; for Llama-3 (128000
 * ranks) its 256 special tokens and the <|begin_of_text|> template.
 * Invariant: CRLF line ends are accepted (some copies carry them). */
#include <stdio.h>
#include <stdlib.h>

#include "tokenizer.h"

bool tok_is_tiktoken(const char *data, size_t n) {
    size_t i = 0;
    while (i < n && i < 256 && (tok_b64_value((unsigned char)data[i]) >= 0 || data[i] == '=')) i++;
    return i > 0 && i + 1 < n && data[i] == ' ' && data[i + 1] >= '0' && data[i + 1] <= '9';
}

typedef struct mcand { int32_t l, r, rank; } mcand;
static int cmp_mcand(const void *x, const void *y) {
    const mcand *a = x, *b = y;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

static senti_status add_special(senti_tokenizer *t, const char *s, int32_t id) {
    return tok_added_push(&t->added, s, strlen(s), id, false, false, false, false, true);
}

static senti_status llama3_specials(senti_tokenizer *t, int32_t base) {
    static const char *first[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                  "<|reserved_special_token_1|>", "<|reserved_special_token_2|>",
                                  "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
                                  "<|reserved_special_token_4|>", "<|eot_id|>"};
    for (int i = 0; i < 10; i++)
        if (add_special(t, first[i], base + i)) return SENTI_ERR_NO_MEMORY;
    for (int i = 5; i < 251; i++) {
        char s[64];
        snprintf(s, sizeof s, "<|reserved_special_token_%d|>", i);
        if (add_special(t, s, base + 5 + i)) return SENTI_ERR_NO_MEMORY;
    }
    /* post-processor: ByteLevel (no trimming), then <|begin_of_text|> $A [<|begin_of_text|>:1 $B:1] */
    tok_post *p = t->post = senti_calloc(1, sizeof *t->post);
    if (!p) return SENTI_ERR_NO_MEMORY;
    p->type = TOK_POST_TEMPLATE;
    p->nsingle = 2, p->npair = 4, p->nspecials = 1;
    if (!(p->single = senti_calloc(2, sizeof *p->single)) || !(p->pair = senti_calloc(4, sizeof *p->pair)) ||
        !(p->specials = senti_calloc(1, sizeof *p->specials)))
        return SENTI_ERR_NO_MEMORY;
    const char *bos = "<|begin_of_text|>";
    p->single[0] = (tok_piece){true, 0, senti_strdup(bos), 0};
    p->single[1] = (tok_piece){false, 0, NULL, 0};
    p->pair[0] = (tok_piece){true, 0, senti_strdup(bos), 0};
    p->pair[1] = (tok_piece){false, 0, NULL, 0};
    p->pair[2] = (tok_piece){true, 0, senti_strdup(bos), 1};
    p->pair[3] = (tok_piece){false, 1, NULL, 1};
    tok_special *s = &p->specials[0];
    s->n = 1;
    if (!(s->name = senti_strdup(bos)) || !(s->ids = senti_calloc(1, 4)) || !(s->tokens = senti_calloc(1, sizeof(char *))) ||
        !(s->tokens[0] = senti_strdup(bos)) || !p->single[0].name || !p->pair[0].name || !p->pair[2].name)
        return SENTI_ERR_NO_MEMORY;
    s->ids[0] = base;
    return SENTI_OK;
}

senti_status tok_load_tiktoken(senti_tokenizer *t, const char *path) {
    char *data = NULL;
    size_t n;
    tok_vocab raw = {0};
    mcand *mc = NULL;
    size_t nmc = 0, mcap = 0;
    unsigned char *tokb = NULL;
    senti_status st = tok_read_file(path, &data, &n);
    if (st) return st;
    tok_model *m = &t->model;
    m->type = TOK_MODEL_BPE;
    m->unk_id = -1;
    m->ignore_merges = true;
    for (int b = 0; b < 256; b++) m->byte_ids[b] = -1;
    if (!(tokb = senti_malloc(n + 1))) goto oom;
    /* 1. ranks: raw bytes -> rank, and the byte-level string -> rank */
    size_t line = 0;
    char mapped[4 * 1024];
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && data[e] != '\n') e++;
        line++;
        size_t l = e - i;
        if (l && data[i + l - 1] == '\r') l--;
        const char *s = data + i;
        i = e + 1;
        if (l == 0) continue;
        const char *sp = memchr(s, ' ', l);
        if (!sp) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s:%zu: expected 'base64 rank'", path, line);
            goto done;
        }
        uint32_t acc = 0;
        int bits = 0;
        size_t nb = 0;
        for (const char *q = s; q < sp; q++) {
            int v = tok_b64_value((unsigned char)*q);
            if (v < 0) {
                if (*q == '=') break;
                st = senti_error(SENTI_ERR_BAD_FILE, "%s:%zu: bad base64", path, line);
                goto done;
            }
            acc = (acc << 6) | (uint32_t)v;
            bits += 6;
            if (bits >= 8) bits -= 8, tokb[nb++] = (unsigned char)(acc >> bits);
        }
        char *end;
        long rank = strtol(sp + 1, &end, 10);
        if (rank < 0 || rank > INT32_MAX - 1000 || nb == 0 || nb * 2 > sizeof mapped) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s:%zu: bad token or rank", path, line);
            goto done;
        }
        size_t ml = 0;
        for (size_t k = 0; k < nb; k++) ml += (size_t)tok_utf8_encode(tok_byte_char[tokb[k]], mapped + ml);
        if ((st = tok_vocab_add(&raw, (const char *)tokb, nb, (int32_t)rank)) ||
            (st = tok_vocab_add(&m->vocab, mapped, ml, (int32_t)rank)))
            goto done;
    }
    if ((st = tok_vocab_build(&raw, path)) || (st = tok_vocab_build(&m->vocab, path))) goto done;
    /* byte-level BPE starts from single bytes: one without a rank would drop its text */
    for (int b = 0; b < 256; b++) {
        const char c = (char)b;
        if (tok_vocab_find(&raw, &c, 1) < 0) {
            st = senti_error(SENTI_ERR_BAD_FILE, "%s: no rank for byte 0x%02x (a tiktoken file ranks all 256 bytes)",
                             path, b);
            goto done;
        }
    }
    /* 2. merges: every split of every token into two ranked tokens */
    for (int32_t id = 0; id < raw.n; id++) {
        size_t len;
        const char *s = tok_vocab_str(&raw, id, &len);
        if (!s || len < 2) continue;
        for (size_t k = 1; k < len; k++) {
            int32_t l = tok_vocab_find(&raw, s, k), r = tok_vocab_find(&raw, s + k, len - k);
            if (l < 0 || r < 0) continue;
            if (tok_grow((void **)&mc, &mcap, nmc + 1, sizeof(mcand))) goto oom;
            mc[nmc++] = (mcand){l, r, id};
        }
    }
    qsort(mc, nmc, sizeof(mcand), cmp_mcand);
    if ((st = tok_merges_build(m, nmc))) goto done;
    for (size_t i = 0; i < nmc; i++)
        if ((st = tok_merges_add(m, mc[i].l, mc[i].r, (int32_t)i, mc[i].rank))) goto done;
    /* 3. pipeline */
    tok_pretok *p = t->pretok = senti_calloc(1, sizeof *t->pretok);
    if (!p) goto oom;
    p->type = TOK_PRE_SEQUENCE;
    p->nseq = 2;
    if (!(p->seq = senti_calloc(2, sizeof *p->seq))) goto oom;
    p->seq[0].type = TOK_PRE_SPLIT;
    p->seq[0].behavior = TOK_SPLIT_ISOLATED;
    /* tiktoken's cl100k / Llama-3 split; GPT-2's for r50k / p50k (gpt2.tiktoken: 50,256 ranks, p50k 50,280) */
    const char *re = tok_pre_regex(m->vocab.n <= 50281 ? "gpt-2" : "llama-bpe");
    if ((st = tok_regex_compile(&p->seq[0].re, re, strlen(re), false))) goto done;
    p->seq[1].type = TOK_PRE_BYTELEVEL;
    if (!(t->decoder = senti_calloc(1, sizeof *t->decoder))) goto oom;
    t->decoder->type = TOK_DEC_BYTELEVEL;
    if (m->vocab.n == 128000) {
        if ((st = llama3_specials(t, 128000))) goto oom;
    } else {
        if (!(t->post = senti_calloc(1, sizeof *t->post))) goto oom;
        t->post->type = TOK_POST_BYTELEVEL;
    }
    goto done;
oom:
    st = senti_error(SENTI_ERR_NO_MEMORY, "%s: out of memory", path);
done:
    senti_mfree(mc);
    senti_mfree(tokb);
    tok_vocab_free(&raw);
    senti_mfree(data);
    return st;
}
