/* llm.h — tasks/' internal header for causal language models: sampling and
 * batched generation (generate.c), chat templates (chat.c), zero-shot label
 * scoring (llm_score.c) and generative extraction with its output parser and
 * constrained decoding (extract.c). Everything runs on model/lm.h.
 *
 * Invariants: generation is deterministic for a given seed; greedy decoding
 * (temperature 0 or do_sample false) picks the first maximal logit, as
 * torch.argmax does. Errors are returned as a senti_status with
 * senti_last_error() set; nothing aborts. Not thread-safe on one model. */
#ifndef SENTI_TASKS_LLM_H
#define SENTI_TASKS_LLM_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "../model/lm.h"
#include "tasks.h"

/* ---- random numbers: xoshiro256** seeded through splitmix64 --------------- */

typedef struct llm_rng { uint64_t s[4]; } llm_rng;
void llm_rng_seed(llm_rng *r, uint64_t seed);
uint64_t llm_rng_next(llm_rng *r);
double llm_rng_uniform(llm_rng *r); /* [0, 1), 53 bits */

/* ---- logits processors (transformers' semantics, in place over V logits) --
 * Masked entries become -INFINITY. */

/* RepetitionPenaltyLogitsProcessor: for every distinct id in ids[0..n), a
 * logit > 0 is divided by penalty, one < 0 multiplied. */
void llm_repetition_penalty(float *logits, int64_t V, const int32_t *ids, int64_t n, float penalty);
void llm_temperature(float *logits, int64_t V, float t); /* TemperatureLogitsWarper: logits / t */
/* TopKLogitsWarper: keep logits >= the k-th largest (ties kept). */
void llm_top_k(float *logits, int64_t V, int64_t k, float *scratch /* V */);
/* TopPLogitsWarper: sort ascending, drop the tokens whose cumulative
 * probability is <= 1 - p, always keeping the most likely one. */
void llm_top_p(float *logits, int64_t V, double p, int32_t *scratch /* V */);
/* MinPLogitsWarper: drop tokens with probability < min_p * max probability,
 * always keeping the most likely one. */
void llm_min_p(float *logits, int64_t V, double min_p);
int32_t llm_argmax(const float *logits, int64_t V); /* first maximum */
/* A draw from softmax(logits) (in place: logits become probabilities). */
int32_t llm_sample_probs(float *logits, int64_t V, llm_rng *r);

/* ---- generation ----------------------------------------------------------- */

typedef struct llm_gen_opts {
    bool do_sample;            /* false (or temperature <= 0): greedy */
    double temperature;        /* 1: off */
    int64_t top_k;             /* <= 0: off */
    double top_p;              /* >= 1: off */
    double min_p;              /* <= 0: off */
    double repetition_penalty; /* 1: off; over prompt + generated tokens */
    uint64_t seed;
    int64_t max_new_tokens;
    int64_t max_length;        /* > 0: prompt + new tokens at most this many (generation_config's max_length) */
    const char *const *stop;   /* stop strings (borrowed), checked on the decoded continuation */
    int64_t n_stop;
    int32_t eos[8];            /* end-of-sequence ids */
    int64_t n_eos;
    /* beam search (transformers' semantics; num_beams 1: off) */
    int64_t num_beams;
    double length_penalty;     /* finished score = sum of log-probs / generated length ^ length_penalty */
    int early_stopping;        /* LLM_EARLY_STOP_* */
    /* logits processors of both */
    int64_t no_repeat_ngram_size; /* > 0: a token that would repeat an n-gram of the sequence is banned */
    int64_t min_length;        /* > 0: eos banned while the sequence (decoder ids) is shorter */
    int32_t forced_bos, forced_eos; /* >= 0: the first / the last allowed token is forced */
    int32_t decoder_start;     /* encoder-decoders: the decoder's first token (-1: from config.json) */
    /* asked before each decoding step (NULL: never): true ends the generation
     * with SENTI_ERR_IO "cancelled" (a server request past its deadline) */
    bool (*cancel)(void *ctx);
    void *cancel_ctx;
} llm_gen_opts;

enum { LLM_EARLY_STOP_FALSE = 0, LLM_EARLY_STOP_TRUE, LLM_EARLY_STOP_NEVER };

/* Defaults: greedy, max_new_tokens 64, no stop strings, no eos, 1 beam,
 * length_penalty 1, early_stopping false, no processors. */
llm_gen_opts llm_gen_opts_defaults(void);

/* Fill o from model_dir's generation_config.json (do_sample, temperature,
 * top_k, top_p, min_p, repetition_penalty, max_new_tokens, else max_length,
 * eos_token_id int or list, num_beams, length_penalty, early_stopping,
 * no_repeat_ngram_size, min_length, forced_bos_token_id,
 * forced_eos_token_id, decoder_start_token_id) and config.json's values of
 * those from eos_token_id on when generation_config has none (older
 * checkpoints keep them there).
 * Missing files are fine; BAD_FILE for a malformed one. A .gguf path: the
 * eos ids of its tokenizer metadata (eos_token_id, eot_token_id). */
senti_status llm_gen_opts_load(llm_gen_opts *o, const char *model_dir);

/* A constraint over the continuation (constrained decoding): called for
 * sequence `seq` before each token is chosen with the ids generated so far
 * and the number of tokens still allowed (this one included); it sets the
 * logits of forbidden tokens to -INFINITY. */
typedef senti_status (*llm_mask_fn)(void *ctx, int64_t seq, const int32_t *gen, int64_t n_gen, int64_t remaining,
                                    float *logits, int64_t V);

typedef struct llm_gen_result {
    int32_t *ids;      /* the continuation (an eos that ended it included, as transformers returns it); senti_malloc */
    int64_t n;
    char *text;        /* decoded without special tokens, cut before a stop string; senti_malloc */
    size_t len;
    bool stopped;      /* finish_reason "stop" (eos or stop string) rather than "length" */
    char *error;       /* non-NULL: this prompt could not run (too long); senti_malloc */
} llm_gen_result;
void llm_gen_result_clear(llm_gen_result *r);

/* Generate for n prompts at once (prompt i: ids[i][0..len[i]), non-empty):
 * one batched prefill, then one token per live sequence per step; a finished
 * sequence leaves the batch. Prompts longer than the model's context get an
 * error in their result. mask (may be NULL) constrains every step. res is
 * caller-allocated (n entries, zeroed). Fatal errors: NO_MEMORY, BACKEND.
 * Encoder-decoders: the prompts are the encoder inputs (encoded once); the
 * decoder starts from decoder_start and its ids are what the processors
 * and max_length count. num_beams > 1 runs llm_beam_search. */
senti_status llm_generate(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *o,
                          const int32_t *const *ids, const int64_t *len, int64_t n, llm_mask_fn mask,
                          void *mask_ctx, llm_gen_result *res);

/* The processors after the repetition penalty, in transformers' order, on
 * one row of V scores of the sequence seq[0..n) (decoder ids for
 * encoder-decoders; prompt + continuation for decoders) that may grow to
 * max_len: no_repeat_ngram_size, min_length, forced_bos (n == 1),
 * forced_eos (n == max_len - 1). */
void llm_process(const llm_gen_opts *o, const int32_t *seq, int64_t n, int64_t max_len, float *row, int64_t V);

/* Beam search as transformers' _beam_search (greedy scores, no sampling):
 * per prompt num_beams running and num_beams finished hypotheses; at each
 * step log_softmax, the processors (and mask), the top (max(2, 1 + n_eos) *
 * num_beams) continuations; candidates ending in eos or at max length
 * among the first num_beams become finished with score / generated length ^
 * length_penalty; early_stopping true / false / never as transformers'
 * heuristics. A prompt's result depends only on itself. Arguments and
 * results as llm_generate (ids: the best finished hypothesis). */
senti_status llm_beam_search(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *o,
                             const int32_t *const *ids, const int64_t *len, int64_t n, llm_mask_fn mask,
                             void *mask_ctx, llm_gen_result *res);
/* The decoder's first token of an encoder-decoder under o (o->decoder_start,
 * else config.json's decoder_start_token_id, else pad_token_id). */
int32_t llm_decoder_start(const senti_model *m, const llm_gen_opts *o);
/* Sequence bookkeeping shared by generate.c and beam.c: the tokens a
 * sequence may reach (prompt + max_new_tokens within max_length and the
 * model's context) and whether t is an eos id. */
int64_t llm_room(const llm_gen_opts *o, int64_t n_prompt, int64_t max_ctx);
/* The first stop string of o in text[0..len): its offset, or len + 1 when none. */
size_t llm_find_stop(const llm_gen_opts *o, const char *text, size_t len);
bool llm_is_eos(const llm_gen_opts *o, int32_t t);
/* The continuation ids[0..n) decoded into r (ids, text, stopped as given). */
senti_status llm_result_set(const senti_tokenizer *tok, const int32_t *ids, int64_t n, bool stopped,
                            llm_gen_result *r);

/* ---- small strings (chat.c) ------------------------------------------------ */

/* A growable NUL-terminated string; on OOM `oom` is set and further puts do
 * nothing (check once at the end). p is senti_malloc'd (caller frees). */
typedef struct llm_buf { char *p; size_t n, cap; bool oom; } llm_buf;
void llm_buf_put(llm_buf *b, const char *s, size_t n);
void llm_buf_puts(llm_buf *b, const char *s);
char *llm_strndup(const char *s, size_t n); /* senti_malloc'd copy of n bytes plus a NUL; NULL on OOM */

/* ---- chat templates (chat.c) ------------------------------------------------
 * tokenizer_config.json's "chat_template" (or chat_template.jinja) is Jinja;
 * instead of running it, the known families are recognised from its text
 * and rendered in C exactly as the template renders them. */

typedef enum llm_chat_family {
    LLM_CHAT_NONE = 0, /* no template */
    LLM_CHAT_LLAMA2,   /* [INST] / <<SYS>>, bos before each user turn, contents stripped */
    LLM_CHAT_LLAMA3,   /* <|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|> */
    LLM_CHAT_CHATML,   /* <|im_start|>role\n…<|im_end|>\n (Qwen2: with a default system message) */
    LLM_CHAT_MISTRAL,  /* bos [INST] … [/INST]answer</s>, no system role */
    LLM_CHAT_GEMMA,    /* Gemma 1 / 2: bos <start_of_turn>user|model\n…<end_of_turn>\n, no system role */
    LLM_CHAT_GEMMA3,   /* Gemma 3: the same, a system message heading the first user turn */
} llm_chat_family;

typedef struct llm_chat {
    llm_chat_family family;
    char *bos, *eos;        /* the template's bos_token / eos_token ("" when absent); senti_malloc */
    char *default_system;   /* ChatML: the system message added when the first is not one (NULL: none) */
    char sys_sep[8];        /* Gemma 3: what follows the system message in the first turn ("\n\n") */
} llm_chat;

typedef struct llm_msg { const char *role, *content; } llm_msg;

/* Read dir's template (tokenizer_config.json's "chat_template", a string or
 * a list of named templates, else chat_template.jinja), or a .gguf file's
 * "tokenizer.chat_template". No template: family NONE, OK. A template of no
 * known family: UNSUPPORTED naming the file. BAD_FILE for malformed JSON. */
senti_status llm_chat_load(llm_chat *c, const char *dir);
/* Recognise a template's text (bos / eos as given; borrowed, copied). */
senti_status llm_chat_from_template(llm_chat *c, const char *tmpl, const char *bos, const char *eos,
                                    const char *name);
void llm_chat_free(llm_chat *c);
const char *llm_chat_family_name(llm_chat_family f);
/* Render msgs as apply_chat_template(tokenize=False, add_generation_prompt)
 * does. *out: NUL-terminated, senti_malloc. INVALID_ARG where the template
 * raises (roles not alternating, a system message mistral does not take). */
senti_status llm_chat_render(const llm_chat *c, const llm_msg *msgs, int64_t n, bool add_generation_prompt,
                             char **out, size_t *len);
/* The prompt ids for one user message: rendered and encoded without the
 * tokenizer's own special tokens (the template holds the bos) when c has a
 * family and use_chat; else text encoded with them. *ids senti_malloc. */
senti_status llm_prompt_ids(const senti_tokenizer *tok, const llm_chat *c, bool use_chat, const char *system,
                            const char *text, size_t len, int32_t **ids, int64_t *n);

/* ---- zero-shot label scoring (llm_score.c) --------------------------------- */

typedef struct llm_score_opts {
    const char *const *labels; /* borrowed */
    int64_t n_labels;
    const char *tmpl;          /* NULL: the default instruction; else "{text}" and "{labels}" are replaced */
    bool use_chat;             /* render through the chat template (when the model has one) */
} llm_score_opts;

/* The instruction for text: the default one is
 * "Classify the sentiment of the text. Answer with one of: a, b, c.\n\nText: TEXT".
 * senti_malloc'd. */
char *llm_score_instruction(const llm_score_opts *o, const char *text, size_t len);

/* Score every label as the continuation of the prompt: the prompt runs once
 * into slot 0, is copied into the other slots, and every label's tokens run
 * in one batched forward. logprob[l] = mean log-probability of label l's
 * tokens (length-normalised log-likelihood); prob = softmax over logprob. */
senti_status llm_score(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat, const llm_score_opts *o,
                       const char *text, size_t len, double *logprob, double *prob);

/* Every record (task_source) scored as llm_score does, one line each in input
 * order: {"id","label","score","scores":{label: prob},"logprobs":{label: mean
 * log-prob}} or {"id","error"}. Up to ro->batch_size records run together
 * (their prompts in one batch, then all their labels in one; fewer when the
 * label logits would pass ~256 MB); a record's scores do not depend on its
 * batch. ro: strict, skip and checkpoint (after each batch) as in task_run. */
senti_status llm_zero_shot_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                               const llm_score_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                               task_stats *st);

/* ---- per-token log-probabilities (logprobs.c) --------------------------------- */

/* For each token i >= 1 of ids[0..n) (n <= the model's context):
 * logprob[i] = log p(ids[i] | ids[0..i)) under causal LM m (logprob[0] = NAN:
 * nothing precedes it). top_n > 0: top_ids / top_logprob [n * top_n] get the
 * top_n most likely tokens at each position, best first (row 0: -1 / NAN).
 * INVALID_ARG (bad ids, too long), UNSUPPORTED (not a causal LM), NO_MEMORY,
 * BACKEND. Not thread-safe on one model. */
senti_status llm_token_logprobs(senti_model *m, const int32_t *ids, int64_t n, int64_t top_n, double *logprob,
                                int32_t *top_ids, double *top_logprob);

/* ---- generative extraction (extract.c) -------------------------------------- */

typedef enum llm_schema {
    LLM_SCHEMA_ASPECT = 0, /* [aspect, …] */
    LLM_SCHEMA_OPINION,    /* [opinion, …] */
    LLM_SCHEMA_AESC,       /* [(aspect, sentiment), …] */
    LLM_SCHEMA_PAIR,       /* [(aspect, opinion), …] */
    LLM_SCHEMA_TRIPLET,    /* [(aspect, opinion, sentiment), …] */
    LLM_SCHEMA_QUAD,       /* [(aspect, category, opinion, sentiment), …] */
    LLM_SCHEMA_CAUSE_PAIR, /* [(emotion clause, cause clause), …] by clause number (or text) */
    LLM_SCHEMA_EVENT,      /* [(trigger, subject, object, time, location, polarity), …] */
    LLM_SCHEMA_COUNT
} llm_schema;

/* "aspect" … "quad", "cause-pair", "event" <-> enum; LLM_SCHEMA_COUNT for an unknown name. */
llm_schema llm_schema_from_name(const char *name);
const char *llm_schema_name(llm_schema s);

/* Parse a model's raw output for text (both valid UTF-8) into a new object:
 * aspect {"aspects":[{"aspect","start","end"}]}; aesc the same with
 * "sentiment"; opinion {"spans":[{"type":"OPINION","text","start","end"}]};
 * pair {"pairs":[{aspect…, opinion…}]}; triplet / quad {"triplets"|"quads":
 * [{"aspect","aspect_start","aspect_end","opinion",…,"sentiment"}]} (quads
 * add "category"); event {"events":[{"trigger","trigger_start","trigger_end",
 * "subject",…,"object",…,"time",…,"location",…,"polarity"}]}; cause-pair as
 * llm_extract_parse_cause on text's clauses (task_clauses_split). Terms are
 * grounded in text (see llm_ground); a term not found, or NULL (implicit),
 * has null offsets. Output that does not parse gives the empty list plus
 * "raw" and "warning". NULL only on OOM. */
json_t *llm_extract_parse(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len);

/* cause-pair output grounded to clauses (an array of {"text","start","end"},
 * numbered by numbers; borrowed): each field is a clause number ("3", "(3)",
 * "clause 3", "c3") or a clause's text (the clause that holds it, else the
 * one it holds); {"clauses","emotions","causes","pairs":[{"emotion","cause"}]}
 * as senti cause gives, pairs that cannot be grounded dropped with a
 * "warning". NULL only on OOM. */
json_t *llm_extract_parse_cause(const char *raw, size_t raw_len, json_t *clauses, json_t *numbers);
/* "(n) clause (m) clause …": the clauses numbered as cause-pair prompts show them. senti_malloc'd; NULL on OOM. */
char *llm_cause_numbered(json_t *clauses, json_t *numbers);

/* Code-point offsets [*start, *end) of term in text, compared
 * case-insensitively (Unicode lowercase) with whitespace runs matching each
 * other. Of several occurrences the first of the best kind wins: on word
 * boundaries before inside a word, then the same case before another case.
 * False when absent or term is blank. */
bool llm_ground(const char *text, size_t len, const char *term, size_t tlen, int64_t *start, int64_t *end);

/* The extraction instruction for text (schema definition, output format,
 * optional few-shot examples as "input"/"output" pairs). senti_malloc'd.
 * cause-pair: text is already numbered (llm_cause_numbered); the shots'
 * inputs are raw documents, shown with their clauses numbered here. */
char *llm_extract_instruction(llm_schema schema, const char *const *shot_in, const char *const *shot_out,
                              int64_t n_shots, const char *text, size_t len);

/* The InstructABSA-style prompt for encoder-decoders (T5 / Flan-T5, BART):
 * "Definition: …" with two built-in positive examples per schema, then
 * "Now complete the following example-\n    input: TEXT \noutput:"; the
 * answer format is "term:polarity, term:polarity" (aspect: "term, term";
 * pair "aspect:opinion"; triplet "aspect:opinion:polarity"; quad
 * "aspect:category:opinion:polarity"), which llm_extract_parse_flat reads.
 * senti_malloc'd; NULL on OOM. */
char *llm_extract_instruction_s2s(llm_schema schema, const char *text, size_t len);
/* llm_extract_parse, where output without a bracketed list is read as that
 * flat "a:b, c:d" format (none / noaspectterm: no items). */
json_t *llm_extract_parse_flat(llm_schema schema, const char *raw, size_t raw_len, const char *text, size_t len);

/* Few-shot examples from a JSONL file: {"text": …, "output": "…"} per line.
 * *ins / *outs: arrays of senti_malloc'd strings. BAD_FILE naming the line. */
senti_status llm_extract_load_shots(const char *path, char ***ins, char ***outs, int64_t *n);

/* Constrained decoding: the continuation is forced to the schema's list
 * format, every term a whole-word substring of text (exact bytes, starting at
 * a word start, ending at a word end or before a non-ASCII character; none of
 * , ( ) [ ] inside), every sentiment one of positive/negative/neutral, at
 * most 8 items; only an eos may follow the closing "]", and a token is
 * allowed only when the list can still be closed within max_new_tokens.
 * Token strings are decoded once here (as continuations: decode(a, t) minus
 * decode(a)); tokens that decode to part of a character are never used.
 * The mask costs O(vocabulary × token length × text length) per step. */
typedef struct llm_constraint llm_constraint;
llm_constraint *llm_constraint_new(const senti_tokenizer *tok, int64_t V, llm_schema schema, const int32_t *eos,
                                   int64_t n_eos);
void llm_constraint_free(llm_constraint *c);
/* The input text of sequence seq (the seq-th prompt of an llm_generate
 * call; borrowed: it must live until generation ends). */
senti_status llm_constraint_set_text(llm_constraint *c, int64_t seq, const char *text, size_t len);
senti_status llm_constraint_mask(void *ctx, int64_t seq, const int32_t *gen, int64_t n_gen, int64_t remaining,
                                 float *logits, int64_t V); /* an llm_mask_fn; ctx is the llm_constraint */

typedef struct llm_extract_opts {
    llm_schema schema;
    char **shot_in, **shot_out; /* borrowed */
    int64_t n_shots;
    bool constrained;
    bool use_chat;
    bool keep_raw;              /* always add "raw" */
    const char *system;         /* chat: an optional system message */
    llm_gen_opts gen;
} llm_extract_opts;

/* ---- record-level runs --------------------------------------------------------- */

/* The batch driver of generate and extract: reads up to ro->batch_size records,
 * builds each prompt (prompt_fn: ids senti_malloc'd, or err set for a bad
 * record), generates for the good ones together, and turns each result into
 * the output fields (answer_fn: a new object, NULL on OOM); one line per
 * record in input order, {"id","error"} for bad ones (strict: INVALID_ARG
 * naming the record instead). ro: batch_size (records generated together),
 * strict, skip (records already answered: read and dropped) and checkpoint
 * (after each batch's lines). m must be a causal LM (else UNSUPPORTED). */
typedef senti_status (*llm_prompt_fn)(void *ctx, int64_t i, const task_record *r, int32_t **ids, int64_t *n,
                                      char *err, size_t errn);
typedef json_t *(*llm_answer_fn)(void *ctx, int64_t i, const task_record *r, const llm_gen_result *g);
senti_status llm_batch_run(senti_model *m, const senti_tokenizer *tok, const llm_gen_opts *go,
                           const task_runner_opts *ro, task_source *src, FILE *out, task_stats *st,
                           llm_prompt_fn prompt, llm_answer_fn answer, void *ctx, llm_mask_fn mask, void *mask_ctx);

/* generate: each record's text is a prompt ({"id","text","ids","finish_reason"}). */
typedef struct llm_generate_opts {
    llm_gen_opts gen;
    bool use_chat;
    const char *system;  /* chat: an optional system message */
} llm_generate_opts;
senti_status llm_generate_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                              const llm_generate_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                              task_stats *st);

/* extract: {"id", <schema's list>, ["raw"], ["warning"]} per record. */
senti_status llm_extract_run(senti_model *m, const senti_tokenizer *tok, const llm_chat *chat,
                             const llm_extract_opts *o, const task_runner_opts *ro, task_source *src, FILE *out,
                             task_stats *st);

#endif /* SENTI_TASKS_LLM_H */
