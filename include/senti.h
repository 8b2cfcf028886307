/* senti.h — the public C API of senti, the only header a user includes.
 *
 * Invariants: every function that can fail returns a senti_status (or NULL for
 * constructors) and leaves a message in senti_last_error() that names the
 * culprit; nothing here aborts on bad input. Messages are per thread. */
#ifndef SENTI_H
#define SENTI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SENTI_VERSION_MAJOR 0
#define SENTI_VERSION_MINOR 1
#define SENTI_VERSION_PATCH 0

typedef enum senti_status {
    SENTI_OK = 0,
    SENTI_ERR_INVALID_ARG,  /* bad argument, shape or dtype */
    SENTI_ERR_NO_MEMORY,    /* an allocation failed */
    SENTI_ERR_BAD_FILE,     /* a file is malformed, truncated or inconsistent */
    SENTI_ERR_IO,           /* open/read/write/mmap failed */
    SENTI_ERR_UNSUPPORTED,  /* valid but not supported (op on a backend, dtype) */
    SENTI_ERR_BACKEND,      /* a backend failed while computing */
} senti_status;

/* Element types. Quantized types are stored in blocks of 32 elements with the
 * same byte layout as GGUF: q8_0 = {f16 d; int8 q[32]} (34 bytes),
 * q4_0 = {f16 d; uint8 qs[16]} (18 bytes, element j in the low nibble of
 * qs[j], element j+16 in the high nibble, value (q - 8) * d). */
typedef enum senti_type {
    SENTI_TYPE_F32 = 0,
    SENTI_TYPE_F16,
    SENTI_TYPE_BF16,
    SENTI_TYPE_I32,
    SENTI_TYPE_Q8_0,
    SENTI_TYPE_Q4_0,
    SENTI_TYPE_Q4_K, /* ggml's 256-element super-blocks (144 bytes): read from GGUF, not written */
    SENTI_TYPE_Q6_K, /* 256-element super-blocks (210 bytes) */
    SENTI_TYPE_INT8, /* "int8": a row of n is {f32 d; int8 q[n]} (n + 4 bytes), value q * d, q in [-127, 127];
                        per-output-channel weights for the int8 GEMM, made at load (--dtype int8), never in a file */
    SENTI_TYPE_COUNT
} senti_type;

/* Version string "MAJOR.MINOR.PATCH". Static storage. */
const char *senti_version(void);

/* The last error message set on this thread ("" when none). Static per-thread
 * storage, valid until the next failing call on the same thread. */
const char *senti_last_error(void);

/* Human name of a status code. Static storage. */
const char *senti_status_name(senti_status st);

/* Name of a type ("f32", "q8_0", …) and parsing one back; parse returns
 * SENTI_TYPE_COUNT for an unknown name. */
const char *senti_type_name(senti_type t);
senti_type senti_type_from_name(const char *name);

/* One allocator for all of senti's heap traffic (tensors, graphs, arenas).
 * Pass NULL to restore the C library's. Not thread-safe: set it before use.
 * align_alloc must return memory aligned to `align` (a power of two >= 8);
 * any function may return NULL to simulate an allocation failure. */
typedef struct senti_allocator {
    void *(*alloc)(size_t size, size_t align, void *user);
    void (*free)(void *ptr, void *user);
    void *user;
} senti_allocator;
void senti_set_allocator(const senti_allocator *a);

/* ---- tokenizer -------------------------------------------------------------
 * Text -> ids exactly as HuggingFace tokenizers computes them, with offsets in
 * Unicode code points (end-exclusive, as Python slicing) into the text as
 * Python would see it: invalid UTF-8 is first replaced by U+FFFD per maximal
 * invalid subsequence (errors="replace"). Special tokens get offsets (0, 0).
 *
 * Thread-safety: a loaded tokenizer is immutable; encode and decode may run
 * concurrently on one shared tokenizer. An encoding belongs to its caller. */

typedef struct senti_tokenizer senti_tokenizer;
typedef struct senti_encoding senti_encoding;

/* Load from a model directory (tokenizer.json, else vocab.txt with
 * tokenizer_config.json's do_lower_case, else vocab.json + merges.txt, else
 * tokenizer.model / spiece.model) or from a file path (tokenizer.json,
 * vocab.txt, a SentencePiece .model, or a tiktoken file: .tiktoken, or a
 * .model holding "base64 rank" lines such as Llama-3's). Files without a
 * tokenizer.json get the pipeline transformers' converters would build. The
 * truncation / padding sections of a tokenizer.json are ignored: pass
 * truncation in senti_encode_opts. Returns NULL and sets senti_last_error()
 * (naming the file, and the JSON path or line) on failure. Not for the hot
 * path: loading parses the whole vocabulary. */
senti_tokenizer *senti_tokenizer_load(const char *path);
void senti_tokenizer_free(senti_tokenizer *tok); /* accepts NULL */

typedef enum senti_truncation {
    SENTI_TRUNCATE_NONE = 0,
    SENTI_TRUNCATE_LONGEST_FIRST, /* drop from the longer sequence, one token at a time */
    SENTI_TRUNCATE_ONLY_FIRST,
    SENTI_TRUNCATE_ONLY_SECOND,
} senti_truncation;

typedef struct senti_encode_opts {
    int add_special_tokens;      /* 1: apply the post-processor's [CLS]/[SEP]/<s>… (default 1) */
    senti_truncation truncation; /* default NONE */
    int64_t max_length;          /* total length including special tokens, when truncating */
} senti_encode_opts;
senti_encode_opts senti_encode_opts_defaults(void);

/* Encode text (len bytes; need not be NUL-terminated) and optionally a pair
 * (pair == NULL: single sequence). opts NULL means defaults. On success *out
 * is a new encoding the caller frees with senti_encoding_free. Errors:
 * INVALID_ARG (truncation impossible: a sequence too short for ONLY_*, or
 * max_length below the number of special tokens), NO_MEMORY. */
senti_status senti_tokenizer_encode(const senti_tokenizer *tok, const char *text, size_t len, const char *pair,
                                    size_t pair_len, const senti_encode_opts *opts, senti_encoding **out);

/* Decode ids back to text (HF decode: unknown ids are skipped; special tokens
 * too when skip_special). Returns a NUL-terminated string to release with
 * senti_string_free, or NULL with senti_last_error() set; *len (if len is not
 * NULL) receives its byte length, which counts any U+0000 the ids decode to. */
char *senti_tokenizer_decode(const senti_tokenizer *tok, const int32_t *ids, int64_t n, int skip_special,
                             size_t *len);
void senti_string_free(char *s); /* accepts NULL */

int64_t senti_tokenizer_vocab_size(const senti_tokenizer *tok); /* including added tokens */
int32_t senti_tokenizer_token_to_id(const senti_tokenizer *tok, const char *token); /* -1: unknown */
const char *senti_tokenizer_id_to_token(const senti_tokenizer *tok, int32_t id);  /* NULL: unknown; borrowed */

/* Accessors: arrays of senti_encoding_len() entries, borrowed, valid until the
 * encoding is freed. offsets holds 2 per token (start, end); word_ids and
 * type_ids follow HF (word -1 for special tokens); special_mask is 1 for
 * tokens added by the post-processor. */
int64_t senti_encoding_len(const senti_encoding *e);
const int32_t *senti_encoding_ids(const senti_encoding *e);
const int32_t *senti_encoding_type_ids(const senti_encoding *e);
const int32_t *senti_encoding_offsets(const senti_encoding *e);
const int32_t *senti_encoding_word_ids(const senti_encoding *e);
const uint8_t *senti_encoding_special_mask(const senti_encoding *e);
const char *senti_encoding_token(const senti_encoding *e, int64_t i); /* token string, borrowed */
void senti_encoding_free(senti_encoding *e); /* accepts NULL */

/* ---- models -------------------------------------------------------------------
 * A HuggingFace model directory (config.json + model.safetensors or a sharded
 * model.safetensors.index.json), or a GGUF file, loaded for inference.
 * Supported (the architecture table, model/arch.c): BERT, RoBERTa, XLM-RoBERTa,
 * CamemBERT, DistilBERT, DeBERTa-v2/v3 and ModernBERT as *Model,
 * *ForSequenceClassification, *ForTokenClassification and *ForMaskedLM; the
 * causal LMs LLaMA, Mistral, Qwen2, GPT-2 and Gemma 3; the encoder-decoders
 * T5 / Flan-T5, BART and mBART. Linear weights are held as senti_model_opts
 * says (weight_type: as stored, f32, f16, bf16, q8_0, q4_0, int8; prefer_bf16:
 * bf16 for float encoders where the CPU has AVX512_BF16); other f16 / bf16
 * tensors are converted once at load to f32.
 *
 * Thread-safety: a model is not safe for concurrent forwards (it owns one
 * activation arena); accessors may be called from any thread. */

typedef struct senti_model senti_model;

typedef enum senti_model_head {
    SENTI_HEAD_SEQUENCE_CLASSIFICATION = 0, /* output [B, num_labels] logits */
    SENTI_HEAD_TOKEN_CLASSIFICATION,        /* output [B, T, num_labels] logits */
    SENTI_HEAD_BASE,                        /* output [B, T, hidden] last hidden state */
    SENTI_HEAD_MASKED_LM,                   /* output [B, T, vocab] masked-LM logits (*ForMaskedLM) */
    SENTI_HEAD_CAUSAL_LM,                   /* output [B, T, vocab] next-token logits of each position
                                             * (decoders: *ForCausalLM, GPT2LMHeadModel) */
    SENTI_HEAD_SEQ2SEQ_LM,                  /* encoder-decoders (T5ForConditionalGeneration,
                                             * BartForConditionalGeneration): a forward gives the
                                             * encoder's last hidden state [B, T, hidden]; decoding
                                             * runs through generation (senti generate) */
} senti_model_head;

/* Load dir with n_threads CPU threads (<= 0: all cores). Everything (config
 * keys, every tensor's name, dtype and shape) is validated here. NULL with
 * senti_last_error() naming the file and the key or tensor on failure. */
senti_model *senti_model_load(const char *dir, int n_threads);

/* Load options. weight_type: the type the matmul (linear-layer) weights are
 * converted to once at load (f32, f16, bf16, q8_0, q4_0, int8); SENTI_TYPE_COUNT
 * (the default) keeps what is stored (f16 / bf16 floats become f32,
 * quantized weights stay quantized). device: "cpu" (default, NULL) or
 * "cuda[:N]". prefer_bf16 (the senti command's default when no --dtype is
 * given; 0 in senti_model_opts_defaults: exact f32): with weight_type
 * SENTI_TYPE_COUNT, an encoder whose weights are all stored as floats (f32 /
 * f16 / bf16) holds its linear weights in bf16 where senti_bf16_native(device)
 * (as weight_type SENTI_TYPE_BF16 would), in f32 elsewhere; a file with any
 * quantized weight, decoders and encoder-decoders load as with 0. */
typedef struct senti_model_opts {
    int n_threads;          /* <= 0: all cores */
    senti_type weight_type; /* SENTI_TYPE_COUNT: as stored */
    const char *device;     /* NULL or "cpu" */
    int no_weight_check;    /* 1: skip the load-time scan that refuses a NaN / inf
                             * in a norm or head weight (naming the tensor) */
    int prefer_bf16;        /* 1: float encoders in bf16 where the device multiplies it natively */
} senti_model_opts;
senti_model_opts senti_model_opts_defaults(void);
/* 1 when device (NULL or "cpu"; any other device: 0) multiplies bf16 weights
 * natively at the SIMD level in force: AVX-512 with AVX512_BF16, not lowered
 * by SENTI_SIMD=avx2|scalar. Where prefer_bf16 picks bf16. Thread-safe. */
int senti_bf16_native(const char *device);
/* The kernel level device (NULL or "cpu") runs at: "avx512", "avx2" or
 * "scalar" (the CPU's, lowered by SENTI_SIMD=avx2|scalar); another device's
 * name as given. Outputs are byte-identical only at one level (a resumed
 * --output records it). Thread-safe. */
const char *senti_simd_level(const char *device);
/* senti_model_load with options (opts NULL: defaults). */
senti_model *senti_model_load_opts(const char *path, const senti_model_opts *opts);
void senti_model_free(senti_model *m); /* accepts NULL */
/* Ready a loaded model for a run: an encoder on the CPU runs one forward of a
 * one-token input, so its weights are packed for the kernels now rather than
 * inside the first batch (others: nothing to do). senti_task_load and the
 * senti commands that run tasks call it; SENTI_WARMUP=0 makes it a no-op. */
senti_status senti_model_prepare(senti_model *m);

/* Run a right-padded batch: ids [batch, seq_len] row-major; type_ids (NULL:
 * zeros; ignored by models without token types) and attention_mask (NULL: all
 * ones; 1 = real token, 0 = padding) of the same shape. On success *out is a new array (release it with
 * senti_model_output_free) of the shape in shape[0..*ndim): see
 * senti_model_head. A padded row gives the same values as that input alone
 * (positions under mask 0 of token outputs are unspecified). Errors:
 * INVALID_ARG (id, type id or length out of range), NO_MEMORY, BACKEND. */
senti_status senti_model_forward(senti_model *m, const int32_t *ids, const int32_t *type_ids,
                                 const int32_t *attention_mask, int64_t batch, int64_t seq_len, float **out,
                                 int64_t shape[3], int *ndim);
void senti_model_output_free(float *p); /* accepts NULL */

/* What a forward can do beyond senti_model_forward (explanations, extra heads; the
 * BERT family — BERT, RoBERTa, XLM-R, CamemBERT, DistilBERT — only, others
 * answer UNSUPPORTED). emb_scale (NULL: none) [batch, seq_len]: each token's
 * word embedding is multiplied by it before the position / token-type
 * embeddings are added and normalised (1 everywhere: the plain forward; 0:
 * a zero word embedding). attn (NULL: none) [layers, batch, heads, seq_len,
 * seq_len], caller-allocated: receives every layer's attention probabilities
 * softmax(q k^T / sqrt(d) + mask) (rows of padding tokens unspecified). Either
 * one runs the padded graph; the plain forward is untouched. */
typedef struct senti_forward_opts {
    const float *emb_scale;
    float *attn;
    float *const *heads; /* NULL, or one caller buffer per extra head: [batch, labels] (sequence heads) or
                            [batch, seq_len, labels] (token heads; padding positions zero) */
} senti_forward_opts;

/* Extra heads over the encoder, run in the same forward (heads.json +
 * heads.safetensors beside the HF files, or a GGUF's senti.heads; see
 * README). The model's own head is the primary one, named by heads.json's
 * "primary" ("main" when absent or without heads). */
typedef struct senti_head_info {
    const char *name;           /* borrowed */
    senti_model_head kind;      /* SENTI_HEAD_SEQUENCE_CLASSIFICATION or SENTI_HEAD_TOKEN_CLASSIFICATION */
    int64_t num_labels;
    const char *const *labels;  /* borrowed, num_labels names */
    int multi_label;            /* 1: problem_type multi_label_classification (sigmoid per label) */
} senti_head_info;
int64_t senti_model_extra_heads(const senti_model *m);
const char *senti_model_primary_head_name(const senti_model *m);
/* Head k (0 <= k < senti_model_extra_heads(m)); INVALID_ARG otherwise. */
senti_status senti_model_extra_head(const senti_model *m, int64_t k, senti_head_info *out);
senti_forward_opts senti_forward_opts_defaults(void);
/* senti_model_forward with opts (NULL: none). */
senti_status senti_model_forward_opts(senti_model *m, const int32_t *ids, const int32_t *type_ids,
                                      const int32_t *attention_mask, int64_t batch, int64_t seq_len,
                                      const senti_forward_opts *opts, float **out, int64_t shape[3], int *ndim);

/* Pool a last hidden state [batch, seq_len, hidden] into out [batch, hidden]:
 * mean = mask-weighted mean over real tokens (mask NULL: all ones),
 * cls = position 0, max = element-wise max over real tokens (as
 * sentence-transformers' Pooling: masked positions count as -1e9). */
typedef enum senti_pooling { SENTI_POOL_CLS = 0, SENTI_POOL_MEAN, SENTI_POOL_MAX } senti_pooling;
void senti_pool(const float *hidden_state, const int32_t *attention_mask, int64_t batch, int64_t seq_len,
                int64_t hidden, senti_pooling mode, float *out);

/* What a sentence-transformers directory says about its embeddings
 * (modules.json, its Pooling module's config.json, sentence_bert_config.json):
 * the pooling mode, whether a Normalize module follows (L2), and
 * max_seq_length (0: not given). Returns 0 and leaves the outputs alone when
 * the model has no modules.json; 1 when read; -1 with senti_last_error() set
 * when a file is malformed or asks for a pooling senti lacks. */
int senti_model_sentence_config(const senti_model *m, senti_pooling *pooling, int *normalize,
                                int64_t *max_seq_length);

/* Accessors; strings are borrowed and live as long as the model. */
const char *senti_model_architecture(const senti_model *m); /* config.json's architectures[0] */
const char *senti_model_type(const senti_model *m);         /* "bert", "roberta", "distilbert" */
senti_model_head senti_model_get_head(const senti_model *m);
int64_t senti_model_num_labels(const senti_model *m);       /* 0 for base models */
const char *senti_model_label(const senti_model *m, int64_t i); /* id2label[i], or NULL */
int64_t senti_model_hidden_size(const senti_model *m);
int64_t senti_model_num_layers(const senti_model *m);
int64_t senti_model_num_heads(const senti_model *m);
int64_t senti_model_vocab_size(const senti_model *m);
int64_t senti_model_max_length(const senti_model *m);        /* longest input */
int64_t senti_model_type_vocab_size(const senti_model *m);   /* 0 when the model has no token types */
int64_t senti_model_pad_token_id(const senti_model *m);
int64_t senti_model_num_parameters(const senti_model *m);
const char *senti_model_weight_dtypes(const senti_model *m); /* stored dtypes, e.g. "f32" or "f16" */
/* The type the load put the linear weights in: its weight_type when given,
 * SENTI_TYPE_BF16 when prefer_bf16 chose bf16, else SENTI_TYPE_COUNT (as
 * stored: quantized weights quantized, floats f32; decoders keep f16 / bf16). */
senti_type senti_model_linear_type(const senti_model *m);
/* config.json's problem_type ("multi_label_classification", ...), from the
 * directory's config.json or a GGUF file's embedded one; NULL when absent. */
const char *senti_model_problem_type(const senti_model *m);

/* ---- tasks --------------------------------------------------------------------
 * The tasks of the senti command on a batch of texts: classify, aspect,
 * tag, zero-shot, dialogue, embed, generate. A task owns a model and a tokenizer;
 * senti_task_run batches its inputs the way the command does (length-sorted
 * batches under a token budget), so results never depend on the batching.
 *
 * Thread-safety: one senti_task must not run on two threads at once (it owns
 * the model's activation arena); distinct tasks may run concurrently.
 * Results are immutable: any thread may read them, until senti_results_free.
 * Ownership: every string passed in is borrowed for the call only (the
 * options' strings for senti_task_load are copied); every string returned is
 * borrowed from the results it came from. */

typedef struct senti_task senti_task;
typedef struct senti_results senti_results;

typedef enum senti_task_kind {
    SENTI_TASK_CLASSIFY = 0, /* sequence classifier: labels and scores per text */
    SENTI_TASK_ASPECT,       /* (text, aspect) pairs: each aspect's sentiment */
    SENTI_TASK_TAG,          /* token classifier: spans (aspect / opinion / AESC tags) */
    SENTI_TASK_ZERO_SHOT,    /* NLI model: candidate labels through a hypothesis template */
    SENTI_TASK_DIALOGUE,     /* per-utterance emotion; each input is a JSON {"dialogue":[{"speaker","text"},...]} */
    SENTI_TASK_EMBED,        /* base encoder: a pooled sentence embedding per text ({"embedding":[…]}) */
    SENTI_TASK_GENERATE,     /* causal LM: the continuation of each prompt ({"text","ids","finish_reason"}) */
} senti_task_kind;

typedef enum senti_tag_aggregation {
    SENTI_AGG_NONE = 0, SENTI_AGG_SIMPLE, SENTI_AGG_FIRST, SENTI_AGG_AVERAGE, SENTI_AGG_MAX
} senti_tag_aggregation;

typedef struct senti_task_opts {
    senti_task_kind kind;
    senti_model_opts model;        /* threads, weight type, device */
    const char *tokenizer;         /* NULL: the model directory's */
    int64_t batch_size;            /* inputs per batch at most (default 32) */
    int64_t max_batch_tokens;      /* batch * padded length at most (default 8192) */
    /* classify, dialogue */
    int64_t top_k;                 /* <= 0: every label */
    double threshold;              /* multi-label models: labels with sigmoid >= threshold (default 0.5) */
    /* aspect */
    const char *const *aspects;    /* the aspects of every text (>= 1) */
    int64_t n_aspects;
    const char *aspect_template;   /* NULL: the aspect is the second sentence; else "{aspect}" replaced */
    /* tag */
    senti_tag_aggregation aggregation; /* default SIMPLE */
    int64_t stride;                /* > 0: long texts as windows overlapping by stride tokens; 0: truncate */
    /* zero-shot */
    const char *const *labels;     /* candidate labels (>= 1) */
    int64_t n_labels;
    const char *hypothesis_template; /* NULL: "This example is {}." */
    int multi_label;               /* 1: each label scored on its own */
    /* dialogue */
    int64_t context;               /* previous turns given as context (default 0) */
    int context_as_prefix;         /* 1: "speaker: text ..." prefix; 0: the sentence pair (utterance, context) */
    /* classify */
    int logits;                    /* 1: each result also carries "logits":{label: raw logit} */
    /* embed */
    const char *pooling;           /* "cls" | "mean" | "max"; NULL: the model's sentence-transformers config, else mean */
    int normalize;                 /* 1 / 0: L2-normalise or not; -1 (default): the model's config */
    /* generate, and zero-shot with a causal LM (each label scored as the answer; hypothesis_template is
     * then the instruction, with {text} and {labels}; NULL: the default one) */
    int64_t max_new_tokens;        /* < 0 (default): the model's generation_config.json, else 64 */
    double temperature;            /* < 0 (default): the model's; 0: greedy */
    int64_t sample_top_k;          /* < 0 (default): the model's; 0: off */
    double top_p;                  /* < 0 (default): the model's; 1: off */
    int64_t seed;                  /* < 0 (default): the model's (0) */
    const char *const *stop;       /* stop strings (n_stop of them) */
    int64_t n_stop;
    int chat;                      /* 1 / 0: through the model's chat template or not; -1 (default): as the
                                    * senti command (generate: no; zero-shot: yes when the model has one) */
} senti_task_opts;

/* Defaults for kind (as the senti command's). */
senti_task_opts senti_task_opts_defaults(senti_task_kind kind);
/* sizeof(senti_task_opts) and sizeof(senti_model_opts) of this build: FFI
 * bindings that mirror the structs (python/senti) check their layout with them. */
size_t senti_task_opts_size(void);
size_t senti_model_opts_size(void);

/* Load the model in dir (senti_model_load_opts with opts->model) and its
 * tokenizer, checked for the task (head, labels, entailment label, ...);
 * dir NULL: senti_default_model(). NULL with senti_last_error() set on
 * failure. */
senti_task *senti_task_load(const char *dir, const senti_task_opts *opts);

/* The default model: an English sentence-sentiment classifier (negative /
 * positive; all-MiniLM-L6-v2 fine-tuned on SST-2, q8_0 GGUF) shipped with
 * senti. Its path from the environment variable SENTI_DEFAULT_MODEL, else the
 * installed copy, else the source tree senti was built from; NULL when none
 * exists. Static storage (or the environment's). */
const char *senti_default_model(void);
void senti_task_free(senti_task *t); /* accepts NULL */

/* Run the task on n inputs (texts; JSON dialogue records for DIALOGUE). On
 * success *out holds one result per input, in order; an input that cannot be
 * processed (invalid UTF-8, a bad dialogue record) gets an error result and
 * the others go on. Errors: INVALID_ARG, NO_MEMORY, BACKEND. Not thread-safe
 * on one task. */
senti_status senti_task_run(senti_task *t, const char *const *inputs, int64_t n, senti_results **out);
void senti_results_free(senti_results *r); /* accepts NULL */

/* senti_task_run on n JSONL records (each one JSON object, as a line of the
 * command's --input: {"id","text","text_pair"}, aspect's "aspect", zero-shot's
 * "labels", a dialogue's "dialogue"). A record that is not valid JSON gets
 * an error result. Same errors and thread-safety as senti_task_run. */
senti_status senti_task_run_records(senti_task *t, const char *const *records, int64_t n, senti_results **out);

/* Run the task over a labelled file and score it as `senti eval` does:
 * data (format NULL: detected, else a name of senti eval's --format), metric
 * NULL: the task's own (classify, zero-shot, aspect, dialogue; tag: "aesc"),
 * else "ae" / "oe" / "aesc" for a tag task. *metrics_json: a new JSON object
 * ({"accuracy","macro_f1",…} or {"precision","recall","f1",…}) to release
 * with senti_string_free. Errors: INVALID_ARG (a task that cannot be scored,
 * an unknown format or metric), IO, BAD_FILE, NO_MEMORY, BACKEND. */
senti_status senti_task_eval(senti_task *t, const char *data, const char *format, const char *metric,
                             char **metrics_json);

/* The model and tokenizer a task runs on (borrowed, living as long as t). */
senti_model *senti_task_model(senti_task *t);
const senti_tokenizer *senti_task_tokenizer(const senti_task *t);

int64_t senti_results_count(const senti_results *r);
/* The result of input i as the command's JSON line (without the newline). */
const char *senti_result_json(const senti_results *r, int64_t i);
/* The error message of input i, or NULL when it has a result. */
const char *senti_result_error(const senti_results *r, int64_t i);
/* Parts of result i: 1 for classify and zero-shot, one per aspect (aspect),
 * span (tag) or utterance (dialogue); 0 for an error. */
int64_t senti_result_parts(const senti_results *r, int64_t i);
/* The labels of part j, best first, with their scores: classify, dialogue
 * and aspect give the classifier's labels (softmax, or sigmoid for
 * multi-label models), zero-shot the candidate labels, tag the span's type.
 * Out of range: 0 / NULL / NAN. */
int64_t senti_result_num_labels(const senti_results *r, int64_t i, int64_t j);
const char *senti_result_label(const senti_results *r, int64_t i, int64_t j, int64_t k);
double senti_result_score(const senti_results *r, int64_t i, int64_t j, int64_t k);

/* A span of the input text: code-point offsets, end-exclusive (start = end
 * = -1 when an aspect does not occur in the text). */
typedef struct senti_span {
    const char *type;  /* tag: the entity type; aspect: the sentiment */
    const char *text;  /* the covered text (tag), or the aspect */
    int64_t start, end;
    double score;
} senti_span;
/* Part j of result i as a span (tag and aspect results); INVALID_ARG for
 * other tasks or out of range. */
senti_status senti_result_span(const senti_results *r, int64_t i, int64_t j, senti_span *out);

/* CUDA devices this build can use (senti_model_opts.device "cuda[:N]"): 0
 * when built without CUDA (SENTI_CUDA=OFF), without a driver or a GPU. */
int senti_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_H */
