/* lm.h — causal language models (decoder.c): LLaMA, Qwen2, Mistral, GPT-2,
 * Gemma 3; and the decoders of encoder-decoders (encdec.c: T5, BART), which
 * add lm_encode.
 *
 * The contract between the generative architectures (model/decoder.c,
 * model/encdec.c) and the generation / LLM task code (tasks/). A decoder is a senti_model loaded
 * through the registry (senti_model_load); its family implements these on
 * top of the graph executor. Tasks never see weights or graphs.
 *
 * KV cache: a cache holds n_slot independent sequences, each up to n_ctx
 * tokens. A slot's length is how many tokens of it have been run. Slots are
 * what batched generation and label scoring work on: prefill several slots
 * at once, decode one token for each live slot per step, copy a prompt's
 * slot into others to share it.
 *
 * Layout (decoder.c): per layer, K and V are f32 rows of kv_heads * head_dim
 * floats, [n_slot * n_ctx] of them, slot-major then position; a forward
 * writes its new rows in place (op_set_rows) and attends over the cache.
 * Rows at or beyond a slot's length are masked, so truncate is O(1) and copy
 * moves only the src slot's first len rows.
 *
 * Thread-safety: one model + its caches are used by one thread at a time
 * (the kernels are parallel inside). Errors: status + senti_last_error(). */
#ifndef SENTI_LM_H
#define SENTI_LM_H

#include "model.h"

typedef struct lm_cache lm_cache;

/* Whether m is a causal LM (has a decoder family), an encoder-decoder
 * (T5, BART: encdec.c), either. */
bool lm_is_causal(const senti_model *m);
bool lm_is_encdec(const senti_model *m);
bool lm_is_generative(const senti_model *m);

/* Hyperparameters the tasks need. */
int64_t lm_vocab(const senti_model *m);   /* logits per token */
int64_t lm_max_ctx(const senti_model *m); /* max_position_embeddings (dynamic NTK rope:
                                            * times its factor; GPT-2: n_positions) */
/* The distinct types the linear-layer weights and output projection are held
 * in at run time, comma-separated in senti_type order ("f32", "f32,q8_0"). */
const char *lm_weight_types(const senti_model *m);

/* A cache of n_slot sequences of at most n_ctx tokens (n_ctx <= lm_max_ctx);
 * every slot starts empty. NULL with senti_last_error() on failure. */
lm_cache *lm_cache_new(senti_model *m, int64_t n_slot, int64_t n_ctx);
void lm_cache_free(lm_cache *c); /* accepts NULL */
int64_t lm_cache_slots(const lm_cache *c);
int64_t lm_cache_ctx(const lm_cache *c);
int64_t lm_cache_len(const lm_cache *c, int64_t slot);
/* Forget a slot's tokens after the first len (len <= current length). */
senti_status lm_cache_truncate(lm_cache *c, int64_t slot, int64_t len);
/* Make slot dst hold a copy of slot src's tokens (for prompt sharing). */
senti_status lm_cache_copy(lm_cache *c, int64_t dst, int64_t src);

/* Run n_tok[i] new tokens tokens[i][0..n_tok[i]) for each of the n slots
 * slot[i] (distinct), appending them to those slots at their current
 * lengths (positions continue from lm_cache_len). All n slots run as one
 * batch (prefill and decode alike; n_tok may differ per slot and may be 0).
 * Each new token attends to its slot's earlier tokens and itself (causal;
 * Mistral's sliding window applied).
 *
 * logits (caller-allocated, f32):
 *   all_logits == false: n rows of lm_vocab floats, row i = the last new
 *     token of slot i (rows of slots with n_tok[i] == 0 are left untouched);
 *   all_logits == true: sum(n_tok) rows, slot 0's tokens first, in order.
 * logits may be NULL to only fill the cache. Errors: INVALID_ARG (bad or
 * repeated slot, a token id outside the vocabulary, a slot that would exceed
 * n_ctx) leave the cache unchanged; all checks run before any compute.
 *
 * Batching: entries with consecutive slots and equal n_tok attend in one op
 * (decode of slots 0..n-1 is one attention per layer); the linear layers
 * always see all sum(n_tok) tokens packed, and the vocabulary projection
 * runs only on the rows returned. Dynamic NTK rope (LLaMA rope_type
 * "dynamic") takes its base from the longest sequence in the call, as HF
 * does per forward; so with that rope type only, a batch can differ from
 * its slots run alone once a slot passes max_position_embeddings. */
senti_status lm_forward(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot,
                        const int32_t *const *tokens, const int64_t *n_tok, bool all_logits, float *logits);

/* ---- encoder-decoders (encdec.c) ----------------------------------------------
 * Their cache also holds, per slot, the encoder input the slot's decoder
 * attends to. lm_encode runs the encoder over n inputs ids[i][0..len[i])
 * (each over exactly its own tokens; the linear layers see them packed),
 * computes every decoder layer's cross-attention keys / values from the
 * output once, binds slot[i] to them and empties its decoder tokens. Slots
 * made by lm_cache_copy share their source's encoded input (beams); encoding
 * into a slot again unbinds the slots copied from it earlier. hidden
 * (optional, sum(len) x hidden floats): the encoder's last hidden states,
 * input 0's rows first. lm_forward then decodes as for causal LMs (the
 * decoder's first token is the model's decoder_start_token_id; an entry
 * whose slot has no encoded input is INVALID_ARG). Errors: INVALID_ARG
 * (slots, lengths, ids; nothing changes), NO_MEMORY, BACKEND. */
senti_status lm_encode(senti_model *m, lm_cache *c, int64_t n, const int64_t *slot, const int32_t *const *ids,
                       const int64_t *len, float *hidden);

/* ---- metadata the generation tasks need (meta.c) ------------------------------
 * Read from the model's files here so that tasks never open them. path: a
 * model directory or a GGUF file. */

/* The chat template the model declares (tokenizer_config.json's
 * chat_template, preferring the one named "default", else chat_template.jinja;
 * a GGUF file's tokenizer.chat_template) and its BOS / EOS token strings.
 * Each output is a new string (senti_mfree) or NULL when absent; *source
 * names the file the template came from (for messages). Errors: BAD_FILE for
 * malformed JSON (naming file, line, column), NO_MEMORY. */
senti_status model_chat_meta(const char *path, char **tmpl, char **bos, char **eos, char **source);

/* Generation settings: a directory's generation_config.json and config.json
 * as new json_t objects (*gen_cfg, *cfg; NULL when absent; json_decref);
 * a GGUF file's end-of-generation ids into eos[0..*n_eos) (at most max_eos),
 * as llama.cpp takes them: the eos / eot / eom ids of its metadata, then the
 * tokens whose text ends a turn ("<end_of_turn>", "<|im_end|>", "<|eot_id|>",
 * ...). BAD_FILE for malformed JSON. */
senti_status model_gen_meta(const char *path, void **gen_cfg, void **cfg, int32_t *eos, int max_eos, int *n_eos);

#endif /* SENTI_LM_H */
