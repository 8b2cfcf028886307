/* chat.c — chat templates without Jinja: the template text (tokenizer_config.json's
 * "chat_template", or chat_template.jinja) is matched against the families in
 * common use and each family is rendered in C exactly as its template renders
 * (checked against transformers' apply_chat_template in tests/fixtures/llm).
 *
 * Families: llama-2 ("<<SYS>>" with '[INST] ' … ' [/INST]'), llama-3
 * ("<|start_header_id|>", not 3.1's dated system header), ChatML
 * ("<|im_start|>", Qwen2's default system message read from the template),
 * mistral v0.1/v0.2 ('[INST] ' … ' [/INST]' without "<<SYS>>"), Gemma 1 / 2
 * ("<start_of_turn>", a system message refused) and Gemma 3 (a system message
 * written ahead of the first user turn's text). Anything else is refused,
 * naming the file. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../core/core.h"
#include "llm.h"

const char *llm_chat_family_name(llm_chat_family f) {
    static const char *names[] = {"none", "llama2", "llama3", "chatml", "mistral", "gemma", "gemma3"};
    return f <= LLM_CHAT_GEMMA3 ? names[f] : "?";
}

void llm_chat_free(llm_chat *c) {
    if (!c) return;
    senti_mfree(c->bos);
    senti_mfree(c->eos);
    senti_mfree(c->default_system);
    memset(c, 0, sizeof *c);
}

char *llm_strndup(const char *s, size_t n) {
    char *d = senti_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void llm_buf_put(llm_buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2 + 64;
        char *p = senti_malloc(cap);
        if (!p) {
            b->oom = true;
            return;
        }
        if (b->p) memcpy(p, b->p, b->n);
        senti_mfree(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void llm_buf_puts(llm_buf *b, const char *s) { llm_buf_put(b, s, strlen(s)); }

/* Qwen2-style ChatML templates write their default system message as a
 * literal '<|im_start|>system\n…<|im_end|>' (newline as "\n" or an escaped
 * "\\n"); the first such literal without quotes or Jinja inside is it. */
static senti_status default_system(const char *t, char **out) {
    static const char mark[] = "<|im_start|>system";
    *out = NULL;
    for (const char *p = strstr(t, mark); p; p = strstr(p + 1, mark)) {
        const char *q = p + sizeof mark - 1;
        if (q[0] == '\n') q += 1;
        else if (q[0] == '\\' && q[1] == 'n') q += 2;
        else continue;
        const char *e = strstr(q, "<|im_end|>");
        if (!e || e == q) continue;
        size_t n = (size_t)(e - q);
        if (memchr(q, '\'', n) || memchr(q, '"', n) || memchr(q, '{', n) || memchr(q, '\\', n)) continue;
        if (!(*out = llm_strndup(q, n))) return senti_error(SENTI_ERR_NO_MEMORY, "chat template: out of memory");
        return SENTI_OK;
    }
    return SENTI_OK;
}

/* Gemma 3's "set first_user_prefix = messages[0]['content'] + '\n\n'" in t
 * (a copy whose Jinja "\n" escapes are newlines): the literal into sep (1 to
 * 4 newlines); false when the template writes anything else there. */
static bool gemma3_separator(const char *t, char sep[8]) {
    static const char mark[] = "set first_user_prefix = messages[0]['content'] + '";
    const char *p = strstr(t, mark);
    if (!p) return false;
    p += sizeof mark - 1;
    size_t n = 0;
    for (; *p == '\n' && n < 4; p++) sep[n++] = '\n';
    sep[n] = '\0';
    return n > 0 && *p == '\'';
}

/* Which family t (a copy whose Jinja "\n" escapes are newlines: files write
 * either, and either renders alike) is, by the pieces that decide each
 * family's rendering (NONE: no family's). A template that renders otherwise
 * (a default system message in Llama-3's, contents trimmed in ChatML, thinking
 * tags, Llama-3.1's dated header, Mistral v0.3's "[/INST]" without a space) is
 * not taken: refused, rather than rendered wrongly. */
static llm_chat_family family_of(const char *u, char sep[8]) {
    static const char alt[] = "Conversation roles must alternate user/assistant/user/assistant/...";
    if (strstr(u, "<|start_header_id|>"))
        return strstr(u, "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim "
                         "+ '<|eot_id|>'") &&
                       strstr(u, "{% set content = bos_token + content %}") &&
                       strstr(u, "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}") && !strstr(u, "system")
                   ? LLM_CHAT_LLAMA3
                   : LLM_CHAT_NONE;
    if (strstr(u, "<|im_start|>"))
        return (strstr(u, "'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'") ||
                strstr(u, "'<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n'")) &&
                       strstr(u, "'<|im_start|>assistant\n'") && !strstr(u, "<think>") && !strstr(u, "trim") &&
                       !strstr(u, "strip(")
                   ? LLM_CHAT_CHATML
                   : LLM_CHAT_NONE;
    if (strstr(u, "<<SYS>>"))
        return strstr(u, "'<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content']") &&
                       strstr(u, "bos_token + '[INST] ' + content.strip() + ' [/INST]'") &&
                       strstr(u, "' '  + content.strip() + ' ' + eos_token") && strstr(u, alt)
                   ? LLM_CHAT_LLAMA2
                   : LLM_CHAT_NONE;
    if (strstr(u, "[INST]"))
        return strncmp(u, "{{ bos_token }}", 15) == 0 && strstr(u, "{{ '[INST] ' + message['content'] + ' [/INST]' }}") &&
                       strstr(u, "{{ message['content'] + eos_token}}") &&
                       strstr(u, "raise_exception('Only user and assistant roles are supported!')") && strstr(u, alt)
                   ? LLM_CHAT_MISTRAL
                   : LLM_CHAT_NONE;
    if (!strstr(u, "<start_of_turn>") || !strstr(u, alt)) return LLM_CHAT_NONE;
    if (strstr(u, "'<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n'") &&
        strstr(u, "System role not supported"))
        return LLM_CHAT_GEMMA;
    if (strstr(u, "'<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\")") &&
        strstr(u, "{{ message['content'] | trim }}") && strstr(u, "{{ '<end_of_turn>\n' }}") && gemma3_separator(u, sep))
        return LLM_CHAT_GEMMA3;
    return LLM_CHAT_NONE;
}

senti_status llm_chat_from_template(llm_chat *c, const char *t, const char *bos, const char *eos, const char *name) {
    memset(c, 0, sizeof *c);
    if (!t) return SENTI_OK;
    char *u = senti_strdup(t);
    if (!u) return senti_error(SENTI_ERR_NO_MEMORY, "chat template: out of memory");
    size_t k = 0;
    for (size_t i = 0; t[i]; i++) {
        if (t[i] == '\\' && t[i + 1] == 'n') u[k++] = '\n', i++;
        else u[k++] = t[i];
    }
    u[k] = '\0';
    c->family = family_of(u, c->sys_sep);
    senti_mfree(u);
    if (c->family == LLM_CHAT_NONE)
        return senti_error(SENTI_ERR_UNSUPPORTED,
                           "%s: unknown chat template (known: the templates of llama-2, llama-3, ChatML / Qwen2, "
                           "mistral v0.1 / v0.2, Gemma 1 / 2, Gemma 3); "
                           "use --no-chat-template to send the prompt as is",
                           name ? name : "chat template");
    c->bos = senti_strdup(bos ? bos : "");
    c->eos = senti_strdup(eos ? eos : "");
    senti_status s = !c->bos || !c->eos ? senti_error(SENTI_ERR_NO_MEMORY, "chat template: out of memory") : SENTI_OK;
    if (s == SENTI_OK && c->family == LLM_CHAT_CHATML) s = default_system(t, &c->default_system);
    if (s != SENTI_OK) llm_chat_free(c);
    return s;
}

senti_status llm_chat_load(llm_chat *c, const char *dir) {
    memset(c, 0, sizeof *c);
    char *tmpl, *bos, *eos, *source;
    senti_status s = model_chat_meta(dir, &tmpl, &bos, &eos, &source); /* model/ reads the files */
    if (s == SENTI_OK) s = llm_chat_from_template(c, tmpl, bos, eos, source ? source : dir);
    senti_mfree(tmpl), senti_mfree(bos), senti_mfree(eos), senti_mfree(source);
    return s;
}

/* ---- rendering ------------------------------------------------------------------ */



/* Python's str.isspace() (what str.strip() and Jinja's trim remove): the
 * ASCII controls \t\n\v\f\r and \x1c-\x1f, and the Unicode White_Space
 * characters. */
static bool py_space(int32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static void strip(const char **s, size_t *n) {
    const unsigned char *p = (const unsigned char *)*s;
    size_t i = 0, first = *n, last = 0;
    while (i < *n) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(*n - i), &c);
        if (k <= 0) c = -1, k = 1;
        if (!py_space(c)) {
            if (first == *n) first = i;
            last = i + (size_t)k;
        }
        i += (size_t)k;
    }
    if (first == *n) first = last = 0;
    *s += first;
    *n = last - first;
}

static bool is_role(const llm_msg *m, const char *r) { return m->role && strcmp(m->role, r) == 0; }

/* Roles after an optional leading system message must alternate user /
 * assistant, starting with user (llama-2 and mistral raise otherwise). */
static senti_status alternate(const llm_msg *m, int64_t n, int64_t from, const char *fam) {
    for (int64_t i = from; i < n; i++)
        if (is_role(&m[i], "user") != ((i - from) % 2 == 0))
            return senti_error(SENTI_ERR_INVALID_ARG,
                               "%s chat template: conversation roles must alternate user/assistant/user/assistant/...",
                               fam);
    return SENTI_OK;
}

senti_status llm_chat_render(const llm_chat *c, const llm_msg *msgs, int64_t n, bool gen_prompt, char **out,
                             size_t *len) {
    *out = NULL;
    llm_buf b = {0};
    senti_status s = SENTI_OK;
    for (int64_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) return senti_error(SENTI_ERR_INVALID_ARG, "chat: message %lld has no role or content", (long long)i);
    switch (c->family) {
    case LLM_CHAT_NONE:
        return senti_error(SENTI_ERR_INVALID_ARG, "chat: the model has no chat template");
    case LLM_CHAT_LLAMA2: {
        int64_t from = n > 0 && is_role(&msgs[0], "system") ? 1 : 0;
        if ((s = alternate(msgs, n, from, "llama-2")) != SENTI_OK) return s;
        for (int64_t i = from; i < n; i++) {
            const char *t = msgs[i].content;
            size_t tn = strlen(t);
            llm_buf content = {0};
            if (i == from && from == 1) { /* '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content, then stripped */
                llm_buf_puts(&content, "<<SYS>>\n");
                llm_buf_puts(&content, msgs[0].content);
                llm_buf_puts(&content, "\n<</SYS>>\n\n");
                llm_buf_put(&content, t, tn);
                if (content.oom) {
                    b.oom = true;
                    break;
                }
                t = content.p;
                tn = content.n;
            }
            strip(&t, &tn);
            if (is_role(&msgs[i], "user")) {
                llm_buf_puts(&b, c->bos);
                llm_buf_puts(&b, "[INST] ");
                llm_buf_put(&b, t, tn);
                llm_buf_puts(&b, " [/INST]");
            } else if (is_role(&msgs[i], "assistant")) {
                llm_buf_puts(&b, " ");
                llm_buf_put(&b, t, tn);
                llm_buf_puts(&b, " ");
                llm_buf_puts(&b, c->eos);
            }
            senti_mfree(content.p);
        }
        break;
    }
    case LLM_CHAT_MISTRAL:
        if ((s = alternate(msgs, n, 0, "mistral")) != SENTI_OK) return s;
        llm_buf_puts(&b, c->bos);
        for (int64_t i = 0; i < n; i++) {
            if (is_role(&msgs[i], "user")) {
                llm_buf_puts(&b, "[INST] ");
                llm_buf_puts(&b, msgs[i].content);
                llm_buf_puts(&b, " [/INST]");
            } else if (is_role(&msgs[i], "assistant")) {
                llm_buf_puts(&b, msgs[i].content);
                llm_buf_puts(&b, c->eos);
            } else {
                senti_mfree(b.p);
                return senti_error(SENTI_ERR_INVALID_ARG, "mistral chat template: only user and assistant roles are supported");
            }
        }
        break;
    case LLM_CHAT_LLAMA3:
        for (int64_t i = 0; i < n; i++) {
            const char *t = msgs[i].content;
            size_t tn = strlen(t);
            strip(&t, &tn);
            if (i == 0) llm_buf_puts(&b, c->bos);
            llm_buf_puts(&b, "<|start_header_id|>");
            llm_buf_puts(&b, msgs[i].role);
            llm_buf_puts(&b, "<|end_header_id|>\n\n");
            llm_buf_put(&b, t, tn);
            llm_buf_puts(&b, "<|eot_id|>");
        }
        if (gen_prompt) llm_buf_puts(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case LLM_CHAT_GEMMA:
    case LLM_CHAT_GEMMA3: {
        const bool sys = n > 0 && is_role(&msgs[0], "system");
        if (sys && c->family == LLM_CHAT_GEMMA)
            return senti_error(SENTI_ERR_INVALID_ARG, "gemma chat template: system role not supported");
        const int64_t from = sys ? 1 : 0;
        if ((s = alternate(msgs, n, from, "gemma")) != SENTI_OK) return s;
        llm_buf_puts(&b, c->bos);
        for (int64_t i = from; i < n; i++) {
            const char *t = msgs[i].content;
            size_t tn = strlen(t);
            strip(&t, &tn); /* the turn's text | trim; the system message is not trimmed */
            llm_buf_puts(&b, "<start_of_turn>");
            llm_buf_puts(&b, is_role(&msgs[i], "assistant") ? "model" : msgs[i].role);
            llm_buf_puts(&b, "\n");
            if (i == from && sys) {
                llm_buf_puts(&b, msgs[0].content);
                llm_buf_puts(&b, c->sys_sep);
            }
            llm_buf_put(&b, t, tn);
            llm_buf_puts(&b, "<end_of_turn>\n");
        }
        if (gen_prompt) llm_buf_puts(&b, "<start_of_turn>model\n");
        break;
    }
    case LLM_CHAT_CHATML:
        for (int64_t i = 0; i < n; i++) {
            if (i == 0 && c->default_system && !is_role(&msgs[0], "system")) {
                llm_buf_puts(&b, "<|im_start|>system\n");
                llm_buf_puts(&b, c->default_system);
                llm_buf_puts(&b, "<|im_end|>\n");
            }
            llm_buf_puts(&b, "<|im_start|>");
            llm_buf_puts(&b, msgs[i].role);
            llm_buf_puts(&b, "\n");
            llm_buf_puts(&b, msgs[i].content);
            llm_buf_puts(&b, "<|im_end|>\n");
        }
        if (gen_prompt) llm_buf_puts(&b, "<|im_start|>assistant\n");
        break;
    }
    if (!b.p) llm_buf_puts(&b, "");
    if (b.oom) {
        senti_mfree(b.p);
        return senti_error(SENTI_ERR_NO_MEMORY, "chat: out of memory");
    }
    *out = b.p;
    if (len) *len = b.n;
    return SENTI_OK;
}

senti_status llm_prompt_ids(const senti_tokenizer *tok, const llm_chat *c, bool use_chat, const char *system,
                            const char *text, size_t len, int32_t **ids, int64_t *n) {
    *ids = NULL;
    *n = 0;
    senti_encode_opts eo = senti_encode_opts_defaults();
    char *rendered = NULL, *user = NULL;
    size_t rl = len;
    senti_status s = SENTI_OK;
    if (use_chat && c && c->family != LLM_CHAT_NONE) {
        if (!(user = llm_strndup(text, len))) return senti_error(SENTI_ERR_NO_MEMORY, "prompt: out of memory");
        llm_msg m[2] = {{"system", system}, {"user", user}};
        s = llm_chat_render(c, system ? m : m + 1, system ? 2 : 1, true, &rendered, &rl);
        if (s != SENTI_OK) goto done;
        text = rendered;
        eo.add_special_tokens = 0; /* the template holds the bos: do not add it twice */
    }
    senti_encoding *e = NULL;
    if ((s = senti_tokenizer_encode(tok, text, rl, NULL, 0, &eo, &e)) != SENTI_OK) goto done;
    int64_t k = senti_encoding_len(e);
    if (!(*ids = senti_malloc((size_t)(k ? k : 1) * sizeof(int32_t)))) s = senti_error(SENTI_ERR_NO_MEMORY, "prompt: out of memory");
    else {
        if (k) memcpy(*ids, senti_encoding_ids(e), (size_t)k * sizeof(int32_t));
        *n = k;
    }
    senti_encoding_free(e);
done:
    senti_mfree(rendered);
    senti_mfree(user);
    return s;
}
