/* arch.c — the architecture table: one entry per architecture (see arch.h),
 * the lookups by HF class and GGUF name, and the name and hyperparameter
 * helpers every reader of the table shares.
 *
 * Invariant: this is the only place that knows an architecture's names and
 * keys; adding a member of an existing family is adding an entry here. */
#include <math.h>
#include <stdio.h>

#include "arch.h"

/* ---- heads --------------------------------------------------------------------------- */

static const arch_head ENC_HEADS[] = {
    {"Model", SENTI_HEAD_BASE},
    {"ForSequenceClassification", SENTI_HEAD_SEQUENCE_CLASSIFICATION},
    {"ForTokenClassification", SENTI_HEAD_TOKEN_CLASSIFICATION},
    {"ForMaskedLM", SENTI_HEAD_MASKED_LM},
    {NULL, SENTI_HEAD_BASE},
};
static const arch_head CAUSAL_HEADS[] = {{"ForCausalLM", SENTI_HEAD_CAUSAL_LM}, {NULL, SENTI_HEAD_BASE}};
static const arch_head GPT2_HEADS[] = {{"LMHeadModel", SENTI_HEAD_CAUSAL_LM}, {NULL, SENTI_HEAD_BASE}};

/* ---- shared name sets ------------------------------------------------------------------ */

#define BERT_EMB                                                                                                       \
    [AR_TOK_EMB] = {"embeddings.word_embeddings", "token_embd"},                                                       \
    [AR_POS_EMB] = {"embeddings.position_embeddings", "position_embd"},                                                \
    [AR_TYPE_EMB] = {"embeddings.token_type_embeddings", "token_types"},                                               \
    [AR_EMB_NORM] = {"embeddings.LayerNorm", "token_embd_norm"}
#define BERT_LAYER                                                                                                     \
    [AR_Q] = {"attention.self.query", "attn_q"}, [AR_K] = {"attention.self.key", "attn_k"},                            \
    [AR_V] = {"attention.self.value", "attn_v"}, [AR_O] = {"attention.output.dense", "attn_output"},                   \
    [AR_ATTN_POST_NORM] = {"attention.output.LayerNorm", "attn_output_norm"},                                          \
    [AR_UP] = {"intermediate.dense", "ffn_up"}, [AR_DOWN] = {"output.dense", "ffn_down"},                              \
    [AR_FFN_POST_NORM] = {"output.LayerNorm", "layer_output_norm"}
#define BERT_HP                                                                                                        \
    [AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "hidden_size", [AH_LAYERS] = "num_hidden_layers",                         \
    [AH_HEADS] = "num_attention_heads", [AH_INTER] = "intermediate_size",                                              \
    [AH_MAX_POS] = "max_position_embeddings", [AH_EPS] = "layer_norm_eps", [AH_ACT] = "hidden_act",                    \
    [AH_TYPE_VOCAB] = "type_vocab_size"
#define LLAMA_COMMON                                                                                                   \
    [AR_TOK_EMB] = {"model.embed_tokens", "token_embd"}, [AR_OUT_NORM] = {"model.norm", "output_norm"},                \
    [AR_LM_HEAD] = {"lm_head", "output"}, [AR_ATTN_NORM] = {"input_layernorm", "attn_norm"},                           \
    [AR_Q] = {"self_attn.q_proj", "attn_q"}, [AR_K] = {"self_attn.k_proj", "attn_k"},                                  \
    [AR_V] = {"self_attn.v_proj", "attn_v"}, [AR_O] = {"self_attn.o_proj", "attn_output"},                             \
    [AR_GATE] = {"mlp.gate_proj", "ffn_gate"}, [AR_UP] = {"mlp.up_proj", "ffn_up"},                                    \
    [AR_DOWN] = {"mlp.down_proj", "ffn_down"}
#define LLAMA_NAMES LLAMA_COMMON, [AR_FFN_NORM] = {"post_attention_layernorm", "ffn_norm"}
#define LLAMA_HP_COMMON                                                                                                \
    [AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "hidden_size", [AH_LAYERS] = "num_hidden_layers",                         \
    [AH_HEADS] = "num_attention_heads", [AH_KV_HEADS] = "num_key_value_heads", [AH_INTER] = "intermediate_size",      \
    [AH_MAX_POS] = "max_position_embeddings", [AH_EPS] = "rms_norm_eps", [AH_HEAD_DIM] = "head_dim"
#define LLAMA_HP LLAMA_HP_COMMON, [AH_ACT] = "hidden_act"

static const arch_gguf_key MODERNBERT_KEYS[] = {{"local_attention", "attention.sliding_window", 'i', 128},
                                                 {"global_attn_every_n_layers", "attention.sliding_window_pattern",
                                                  'i', 3},
                                                 {NULL, NULL, 0, 0}};
static const arch_gguf_key GEMMA3_KEYS[] = {
    {"rope_theta", "rope.freq_base", 'f', 1000000.0},
    {"rope_local_base_freq", "rope.freq_base_swa", 'f', 10000.0},
    {"sliding_window", "attention.sliding_window", 'i', 0},
    {"sliding_window_pattern", "attention.sliding_window_pattern", 'i', 6},
    {"query_pre_attn_scalar", "attention.key_length", 'i', 256}, /* llama.cpp scales by 1/sqrt(head_dim) */
    {"final_logit_softcapping", "final_logit_softcapping", 'f', 0.0},
    {NULL, NULL, 0, 0}};
static const arch_gguf_key ROPE_KEYS[] = {{"rope_theta", "rope.freq_base", 'f', 10000.0}, {NULL, NULL, 0, 0}};

/* ---- the table ------------------------------------------------------------------------------ */

static const char *const BERT_STEMS[] = {"Bert", NULL};
static const char *const ROBERTA_STEMS[] = {"Roberta", "XLMRoberta", "Camembert", NULL};
static const char *const DISTIL_STEMS[] = {"DistilBert", NULL};
static const char *const DEBERTA_STEMS[] = {"DebertaV2", NULL};
static const char *const MODERNBERT_STEMS[] = {"ModernBert", NULL};
static const char *const LLAMA_STEMS[] = {"Llama", NULL};
static const char *const MISTRAL_STEMS[] = {"Mistral", NULL};
static const char *const QWEN2_STEMS[] = {"Qwen2", NULL};
static const char *const GPT2_STEMS[] = {"GPT2", NULL};
static const char *const GEMMA3_STEMS[] = {"Gemma3", NULL};
static const char *const T5_STEMS[] = {"T5", "MT5", NULL};
static const char *const BART_STEMS[] = {"Bart", NULL};
static const char *const MBART_STEMS[] = {"MBart", NULL};

/* ---- encoder-decoders: the encoder is the table entry, the decoder a second
 * descriptor it points to (its own stack, names and keys) ---- */

static const arch_head T5_HEADS[] = {{"ForConditionalGeneration", SENTI_HEAD_SEQ2SEQ_LM},
                                     {"EncoderModel", SENTI_HEAD_BASE},
                                     {NULL, SENTI_HEAD_BASE}};
static const arch_head BART_HEADS[] = {{"ForConditionalGeneration", SENTI_HEAD_SEQ2SEQ_LM},
                                       {"ForSequenceClassification", SENTI_HEAD_SEQUENCE_CLASSIFICATION},
                                       {NULL, SENTI_HEAD_BASE}};

#define T5_SELF(blk)                                                                                                   \
    [AR_ATTN_NORM] = {"layer.0.layer_norm", NULL}, [AR_Q] = {"layer.0.SelfAttention.q", NULL},                         \
    [AR_K] = {"layer.0.SelfAttention.k", NULL}, [AR_V] = {"layer.0.SelfAttention.v", NULL},                            \
    [AR_O] = {"layer.0.SelfAttention.o", NULL}, [AR_TOK_EMB] = {"shared", NULL},                                       \
    [AR_REL_EMB] = {blk "0.layer.0.SelfAttention.relative_attention_bias", NULL}
#define T5_FFN(n)                                                                                                      \
    [AR_FFN_NORM] = {"layer." n ".layer_norm", NULL}, [AR_FFN_IN] = {"layer." n ".DenseReluDense.wi", NULL},           \
    [AR_GATE] = {"layer." n ".DenseReluDense.wi_0", NULL}, [AR_UP] = {"layer." n ".DenseReluDense.wi_1", NULL},        \
    [AR_DOWN] = {"layer." n ".DenseReluDense.wo", NULL}
#define T5_HP [AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "d_model", [AH_HEADS] = "num_heads", [AH_INTER] = "d_ff",       \
              [AH_EPS] = "layer_norm_epsilon", [AH_HEAD_DIM] = "d_kv", [AH_ACT] = "dense_act_fn"
static const arch_desc T5_DECODER = {
    .name = "t5-decoder", .kind = ARCH_DECODER, .stack = "decoder.block.",
    .names = {T5_SELF("decoder.block."), T5_FFN("2"), [AR_OUT_NORM] = {"decoder.final_layer_norm", NULL},
              [AR_XATTN_NORM] = {"layer.1.layer_norm", NULL}, [AR_XQ] = {"layer.1.EncDecAttention.q", NULL},
              [AR_XK] = {"layer.1.EncDecAttention.k", NULL}, [AR_XV] = {"layer.1.EncDecAttention.v", NULL},
              [AR_XO] = {"layer.1.EncDecAttention.o", NULL}, [AR_LM_HEAD] = {"lm_head", NULL}},
    .hp = {T5_HP, [AH_LAYERS] = "num_decoder_layers"}, .act_default = "relu", .eps_default = 1e-6,
    .norm = ARCH_NORM_RMS, .pos = ARCH_POS_BUCKETS, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_NO_QK_SCALE,
};

#define BART_LAYER                                                                                                     \
    [AR_Q] = {"self_attn.q_proj", NULL}, [AR_K] = {"self_attn.k_proj", NULL}, [AR_V] = {"self_attn.v_proj", NULL},     \
    [AR_O] = {"self_attn.out_proj", NULL}, [AR_UP] = {"fc1", NULL}, [AR_DOWN] = {"fc2", NULL},                         \
    [AR_TOK_EMB] = {"shared", NULL}
#define BART_CROSS                                                                                                     \
    [AR_XATTN_NORM] = {"encoder_attn_layer_norm", NULL}, [AR_XQ] = {"encoder_attn.q_proj", NULL},                      \
    [AR_XK] = {"encoder_attn.k_proj", NULL}, [AR_XV] = {"encoder_attn.v_proj", NULL},                                  \
    [AR_XO] = {"encoder_attn.out_proj", NULL}, [AR_LM_HEAD] = {"lm_head", NULL},                                       \
    [AR_LM_BIAS] = {"final_logits_bias", NULL}, [AR_SEQ_DENSE] = {"classification_head.dense", NULL},                  \
    [AR_SEQ_OUT] = {"classification_head.out_proj", NULL}
/* post-norm (BART) or pre-norm (mBART) by which norm roles the names take */
#define BART_POST [AR_ATTN_POST_NORM] = {"self_attn_layer_norm", NULL}, [AR_FFN_POST_NORM] = {"final_layer_norm", NULL}
#define BART_PRE [AR_ATTN_NORM] = {"self_attn_layer_norm", NULL}, [AR_FFN_NORM] = {"final_layer_norm", NULL}
#define BART_EMB(s) [AR_POS_EMB] = {s ".embed_positions", NULL}, [AR_EMB_NORM] = {s ".layernorm_embedding", NULL}
#define BART_HP(s)                                                                                                     \
    [AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "d_model", [AH_LAYERS] = s "_layers",                                     \
    [AH_HEADS] = s "_attention_heads", [AH_INTER] = s "_ffn_dim", [AH_MAX_POS] = "max_position_embeddings",            \
    [AH_ACT] = "activation_function"
static const arch_desc BART_DECODER = {
    .name = "bart-decoder", .kind = ARCH_DECODER, .stack = "decoder.layers.",
    .names = {BART_LAYER, BART_POST, BART_CROSS, BART_EMB("decoder")}, .hp = {BART_HP("decoder")},
    .act_default = "gelu", .eps_default = 1e-5, .pad_default = 1, .norm = ARCH_NORM_LAYER,
    .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_BIAS, .pos_offset = 2,
};
static const arch_desc MBART_DECODER = {
    .name = "mbart-decoder", .kind = ARCH_DECODER, .stack = "decoder.layers.",
    .names = {BART_LAYER, BART_PRE, BART_CROSS, BART_EMB("decoder"), [AR_OUT_NORM] = {"decoder.layer_norm", NULL}},
    .hp = {BART_HP("decoder")}, .act_default = "gelu", .eps_default = 1e-5, .pad_default = 1,
    .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_BIAS, .pos_offset = 2,
};

static const arch_desc ARCHS[] = {
    {
        .name = "bert", .kind = ARCH_ENCODER, .family = &model_family_bert, .stems = BERT_STEMS,
        .heads = ENC_HEADS, .prefix = "bert.", .stack = "encoder.layer.",
        .names = {BERT_EMB, BERT_LAYER, [AR_POOLER] = {"pooler.dense", "cls"},
                  [AR_SEQ_OUT] = {"classifier", "cls.output"}, [AR_TOK_OUT] = {"classifier", NULL},
                  [AR_MLM_DENSE] = {"cls.predictions.transform.dense", NULL},
                  [AR_MLM_NORM] = {"cls.predictions.transform.LayerNorm", NULL},
                  [AR_MLM_DECODER] = {"cls.predictions.decoder", NULL}, [AR_MLM_BIAS] = {"cls.predictions", NULL}},
        .hp = {BERT_HP}, .act_default = "gelu", .eps_default = 1e-12, .pad_default = 0,
        .type_vocab_default = 2, .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN,
        .flags = ARCH_F_BIAS, .gguf_arch = "bert", .gguf_class = "BertModel",
    },
    {
        .name = "roberta", .kind = ARCH_ENCODER, .family = &model_family_bert, .stems = ROBERTA_STEMS,
        .heads = ENC_HEADS, .prefix = "roberta.", .stack = "encoder.layer.",
        .names = {BERT_EMB, BERT_LAYER, [AR_POOLER] = {"pooler.dense", "cls"},
                  [AR_SEQ_DENSE] = {"classifier.dense", "cls"}, [AR_SEQ_OUT] = {"classifier.out_proj", "cls.output"},
                  [AR_TOK_OUT] = {"classifier", NULL}, [AR_MLM_DENSE] = {"lm_head.dense", NULL},
                  [AR_MLM_NORM] = {"lm_head.layer_norm", NULL}, [AR_MLM_DECODER] = {"lm_head.decoder", NULL},
                  [AR_MLM_BIAS] = {"lm_head", NULL}},
        .hp = {BERT_HP}, .act_default = "gelu", .eps_default = 1e-12, .pad_default = 1,
        .type_vocab_default = 2, .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_PAD_OFFSET, .mlp = ARCH_MLP_PLAIN,
        .flags = ARCH_F_BIAS | ARCH_F_MLM_GELU, .gguf_arch = "bert",
    },
    {
        .name = "distilbert", .kind = ARCH_ENCODER, .family = &model_family_bert, .stems = DISTIL_STEMS,
        .heads = ENC_HEADS, .prefix = "distilbert.", .stack = "transformer.layer.",
        .names = {[AR_TOK_EMB] = {"embeddings.word_embeddings", "token_embd"},
                  [AR_POS_EMB] = {"embeddings.position_embeddings", "position_embd"},
                  [AR_EMB_NORM] = {"embeddings.LayerNorm", "token_embd_norm"},
                  [AR_Q] = {"attention.q_lin", "attn_q"}, [AR_K] = {"attention.k_lin", "attn_k"},
                  [AR_V] = {"attention.v_lin", "attn_v"}, [AR_O] = {"attention.out_lin", "attn_output"},
                  [AR_ATTN_POST_NORM] = {"sa_layer_norm", "attn_output_norm"}, [AR_UP] = {"ffn.lin1", "ffn_up"},
                  [AR_DOWN] = {"ffn.lin2", "ffn_down"}, [AR_FFN_POST_NORM] = {"output_layer_norm", "layer_output_norm"},
                  [AR_SEQ_DENSE] = {"pre_classifier", "cls"}, [AR_SEQ_OUT] = {"classifier", "cls.output"},
                  [AR_TOK_OUT] = {"classifier", NULL}, [AR_MLM_DENSE] = {"vocab_transform", NULL},
                  [AR_MLM_NORM] = {"vocab_layer_norm", NULL}, [AR_MLM_DECODER] = {"vocab_projector", NULL}},
        .hp = {[AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "dim", [AH_LAYERS] = "n_layers", [AH_HEADS] = "n_heads",
               [AH_INTER] = "hidden_dim", [AH_MAX_POS] = "max_position_embeddings", [AH_ACT] = "activation"},
        .act_default = "gelu", .eps_default = 1e-12, .pad_default = 0, /* HF fixes eps at 1e-12 */
        .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN,
        .flags = ARCH_F_BIAS | ARCH_F_SEQ_RELU, .gguf_arch = "bert",
    },
    {
        .name = "deberta-v2", .kind = ARCH_ENCODER, .family = &model_family_deberta, .stems = DEBERTA_STEMS,
        .heads = ENC_HEADS, .prefix = "deberta.", .stack = "encoder.layer.",
        .names = {BERT_EMB, [AR_EMB_PROJ] = {"embeddings.embed_proj", NULL},
                  [AR_REL_EMB] = {"encoder.rel_embeddings", NULL}, [AR_REL_NORM] = {"encoder.LayerNorm", NULL},
                  [AR_Q] = {"attention.self.query_proj", NULL}, [AR_K] = {"attention.self.key_proj", NULL},
                  [AR_V] = {"attention.self.value_proj", NULL}, [AR_POS_K] = {"attention.self.pos_key_proj", NULL},
                  [AR_POS_Q] = {"attention.self.pos_query_proj", NULL}, [AR_O] = {"attention.output.dense", NULL},
                  [AR_ATTN_POST_NORM] = {"attention.output.LayerNorm", NULL}, [AR_UP] = {"intermediate.dense", NULL},
                  [AR_DOWN] = {"output.dense", NULL}, [AR_FFN_POST_NORM] = {"output.LayerNorm", NULL},
                  [AR_SEQ_DENSE] = {"pooler.dense", NULL}, [AR_SEQ_OUT] = {"classifier", NULL},
                  [AR_TOK_OUT] = {"classifier", NULL}, [AR_MLM_DENSE] = {"cls.predictions.transform.dense", NULL},
                  [AR_MLM_NORM] = {"cls.predictions.transform.LayerNorm", NULL},
                  [AR_MLM_DECODER] = {"cls.predictions.decoder", NULL}, [AR_MLM_BIAS] = {"cls.predictions", NULL}},
        .hp = {BERT_HP}, .act_default = "gelu", .eps_default = 1e-7, .pad_default = 0, .type_vocab_default = 0,
        .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_RELATIVE, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_BIAS,
    },
    {
        .name = "modernbert", .kind = ARCH_ENCODER, .family = &model_family_modernbert, .stems = MODERNBERT_STEMS,
        .heads = ENC_HEADS, .prefix = "model.", .stack = "layers.",
        .names = {[AR_TOK_EMB] = {"embeddings.tok_embeddings", "token_embd"},
                  [AR_EMB_NORM] = {"embeddings.norm", "token_embd_norm"}, [AR_OUT_NORM] = {"final_norm", "output_norm"},
                  [AR_ATTN_NORM] = {"attn_norm", "attn_norm"}, [AR_QKV] = {"attn.Wqkv", "attn_qkv"},
                  [AR_O] = {"attn.Wo", "attn_output"}, [AR_FFN_NORM] = {"mlp_norm", "ffn_norm"},
                  [AR_UP] = {"mlp.Wi", "ffn_up"}, [AR_DOWN] = {"mlp.Wo", "ffn_down"},
                  [AR_SEQ_DENSE] = {"head.dense", "cls"}, [AR_SEQ_NORM] = {"head.norm", "cls.norm"},
                  [AR_SEQ_OUT] = {"classifier", "cls.output"}, [AR_TOK_DENSE] = {"head.dense", NULL},
                  [AR_TOK_NORM] = {"head.norm", NULL}, [AR_TOK_OUT] = {"classifier", NULL},
                  [AR_MLM_DENSE] = {"head.dense", NULL}, [AR_MLM_NORM] = {"head.norm", NULL},
                  [AR_MLM_DECODER] = {"decoder", NULL}},
        .hp = {[AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "hidden_size", [AH_LAYERS] = "num_hidden_layers",
               [AH_HEADS] = "num_attention_heads", [AH_INTER] = "intermediate_size",
               [AH_MAX_POS] = "max_position_embeddings", [AH_EPS] = "norm_eps", [AH_ACT] = "hidden_activation"},
        .act_default = "gelu", .eps_default = 1e-5, .pad_default = 50283, .norm = ARCH_NORM_LAYER,
        .pos = ARCH_POS_ROPE, .mlp = ARCH_MLP_GATED_FUSED, .gguf_arch = "modern-bert",
        .gguf_keys = MODERNBERT_KEYS,
    },
    {
        .name = "llama", .kind = ARCH_DECODER, .family = &model_family_decoder, .stems = LLAMA_STEMS,
        .heads = CAUSAL_HEADS, .stack = "model.layers.", .names = {LLAMA_NAMES}, .hp = {LLAMA_HP},
        .act_default = "silu", .eps_default = 1e-6, .pad_default = -1, .norm = ARCH_NORM_RMS, .pos = ARCH_POS_ROPE,
        .mlp = ARCH_MLP_GATED, .flags = ARCH_F_GGUF_PERMUTE, .gguf_arch = "llama", .gguf_class = "LlamaForCausalLM",
        .gguf_keys = ROPE_KEYS,
    },
    {
        .name = "mistral", .kind = ARCH_DECODER, .family = &model_family_decoder, .stems = MISTRAL_STEMS,
        .heads = CAUSAL_HEADS, .stack = "model.layers.", .names = {LLAMA_NAMES}, .hp = {LLAMA_HP},
        .act_default = "silu", .eps_default = 1e-6, .pad_default = -1, .norm = ARCH_NORM_RMS, .pos = ARCH_POS_ROPE,
        .mlp = ARCH_MLP_GATED, .flags = ARCH_F_GGUF_PERMUTE | ARCH_F_SWA, .gguf_arch = "llama",
        .gguf_keys = ROPE_KEYS,
    },
    {
        .name = "qwen2", .kind = ARCH_DECODER, .family = &model_family_decoder, .stems = QWEN2_STEMS,
        .heads = CAUSAL_HEADS, .stack = "model.layers.", .names = {LLAMA_NAMES}, .hp = {LLAMA_HP},
        .act_default = "silu", .eps_default = 1e-6, .pad_default = -1, .norm = ARCH_NORM_RMS, .pos = ARCH_POS_ROPE,
        .mlp = ARCH_MLP_GATED, .flags = ARCH_F_QKV_BIAS | ARCH_F_SWA | ARCH_F_SWA_OPT_IN, .gguf_arch = "qwen2",
        .gguf_class = "Qwen2ForCausalLM", .gguf_keys = ROPE_KEYS,
    },
    {
        .name = "gpt2", .kind = ARCH_DECODER, .family = &model_family_decoder, .stems = GPT2_STEMS,
        .heads = GPT2_HEADS, .stack = "transformer.h.",
        .names = {[AR_TOK_EMB] = {"transformer.wte", "token_embd"}, [AR_POS_EMB] = {"transformer.wpe", "position_embd"},
                  [AR_OUT_NORM] = {"transformer.ln_f", "output_norm"}, [AR_ATTN_NORM] = {"ln_1", "attn_norm"},
                  [AR_QKV] = {"attn.c_attn", "attn_qkv"}, [AR_O] = {"attn.c_proj", "attn_output"},
                  [AR_FFN_NORM] = {"ln_2", "ffn_norm"}, [AR_UP] = {"mlp.c_fc", "ffn_up"},
                  [AR_DOWN] = {"mlp.c_proj", "ffn_down"}},
        .hp = {[AH_VOCAB] = "vocab_size", [AH_HIDDEN] = "n_embd", [AH_LAYERS] = "n_layer", [AH_HEADS] = "n_head",
               [AH_INTER] = "n_inner", [AH_MAX_POS] = "n_positions", [AH_EPS] = "layer_norm_epsilon",
               [AH_ACT] = "activation_function"},
        .act_default = "gelu_new", .eps_default = 1e-5, .pad_default = -1, .inter_default_mult = 4,
        .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN,
        .flags = ARCH_F_TIED | ARCH_F_TIED_ALWAYS | ARCH_F_BIAS | ARCH_F_CONV1D | ARCH_F_LAYER_SCALE,
        .gguf_arch = "gpt2", .gguf_class = "GPT2LMHeadModel",
    },
    {
        .name = "gemma3_text", .kind = ARCH_DECODER, .family = &model_family_decoder, .stems = GEMMA3_STEMS,
        .heads = CAUSAL_HEADS, .stack = "model.layers.",
        .names = {LLAMA_COMMON, [AR_Q_NORM] = {"self_attn.q_norm", "attn_q_norm"},
                  [AR_K_NORM] = {"self_attn.k_norm", "attn_k_norm"},
                  [AR_ATTN_POST_NORM] = {"post_attention_layernorm", "post_attention_norm"},
                  [AR_FFN_NORM] = {"pre_feedforward_layernorm", "ffn_norm"},
                  [AR_FFN_POST_NORM] = {"post_feedforward_layernorm", "post_ffw_norm"}},
        .hp = {LLAMA_HP_COMMON, [AH_ACT] = "hidden_activation"}, .act_default = "gelu_pytorch_tanh", .eps_default = 1e-6,
        .pad_default = 0, .norm = ARCH_NORM_RMS, .pos = ARCH_POS_ROPE, .mlp = ARCH_MLP_GATED,
        .flags = ARCH_F_TIED | ARCH_F_NORM_SHIFT | ARCH_F_EMB_SCALE | ARCH_F_SWA, .gguf_arch = "gemma3",
        .gguf_class = "Gemma3ForCausalLM", .gguf_keys = GEMMA3_KEYS,
    },
    {
        .name = "t5", .kind = ARCH_ENCODER_DECODER, .family = &model_family_encdec, .stems = T5_STEMS,
        .heads = T5_HEADS, .stack = "encoder.block.",
        .names = {T5_SELF("encoder.block."), T5_FFN("1"), [AR_OUT_NORM] = {"encoder.final_layer_norm", NULL}},
        .hp = {T5_HP, [AH_LAYERS] = "num_layers"}, .act_default = "relu", .eps_default = 1e-6, .pad_default = 0,
        .norm = ARCH_NORM_RMS, .pos = ARCH_POS_BUCKETS, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_NO_QK_SCALE,
        .decoder = &T5_DECODER,
    },
    {
        .name = "bart", .kind = ARCH_ENCODER_DECODER, .family = &model_family_encdec, .stems = BART_STEMS,
        .heads = BART_HEADS, .prefix = "model.", .stack = "encoder.layers.",
        .names = {BART_LAYER, BART_POST, BART_EMB("encoder")}, .hp = {BART_HP("encoder")}, .act_default = "gelu",
        .eps_default = 1e-5, .pad_default = 1, .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE,
        .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_BIAS, .decoder = &BART_DECODER, .pos_offset = 2,
    },
    {
        .name = "mbart", .kind = ARCH_ENCODER_DECODER, .family = &model_family_encdec, .stems = MBART_STEMS,
        .heads = BART_HEADS, .prefix = "model.", .stack = "encoder.layers.",
        .names = {BART_LAYER, BART_PRE, BART_EMB("encoder"), [AR_OUT_NORM] = {"encoder.layer_norm", NULL}},
        .hp = {BART_HP("encoder")}, .act_default = "gelu", .eps_default = 1e-5, .pad_default = 1,
        .norm = ARCH_NORM_LAYER, .pos = ARCH_POS_ABSOLUTE, .mlp = ARCH_MLP_PLAIN, .flags = ARCH_F_BIAS,
        .decoder = &MBART_DECODER, .pos_offset = 2,
    },
};

#define N_ARCHS (sizeof ARCHS / sizeof ARCHS[0])

const arch_desc *arch_get(size_t i) { return i < N_ARCHS ? &ARCHS[i] : NULL; }

const arch_desc *arch_find(const char *hf_class, senti_model_head *head) {
    for (size_t i = 0; i < N_ARCHS; i++)
        for (const char *const *s = ARCHS[i].stems; *s; s++) {
            const size_t n = strlen(*s);
            if (strncmp(hf_class, *s, n) != 0) continue;
            for (const arch_head *h = ARCHS[i].heads; h->suffix; h++)
                if (strcmp(hf_class + n, h->suffix) == 0) {
                    if (head) *head = h->head;
                    return &ARCHS[i];
                }
        }
    return NULL;
}

const arch_desc *arch_find_gguf(const char *gguf_arch) {
    for (size_t i = 0; gguf_arch && i < N_ARCHS; i++)
        if (ARCHS[i].gguf_class && ARCHS[i].gguf_arch && strcmp(ARCHS[i].gguf_arch, gguf_arch) == 0) return &ARCHS[i];
    return NULL;
}

/* ---- names ------------------------------------------------------------------------------------ */

bool arch_role_is_layer(arch_role r) { return r >= AR_FIRST_LAYER && r < AR_FIRST_HEAD; }
bool arch_role_is_head(arch_role r) { return r >= AR_FIRST_HEAD && r < AR_COUNT; }

const char *arch_tensor_name(const arch_desc *d, const char *prefix, arch_role r, int64_t l, const char *suffix,
                             char *buf, size_t n) {
    if ((unsigned)r >= AR_COUNT || !d->names[r].hf) return NULL;
    int k;
    if (arch_role_is_head(r))
        k = snprintf(buf, n, "%s%s", d->names[r].hf, suffix);
    else if (arch_role_is_layer(r))
        k = snprintf(buf, n, "%s%s%lld.%s%s", prefix, d->stack, (long long)l, d->names[r].hf, suffix);
    else
        k = snprintf(buf, n, "%s%s%s", prefix, d->names[r].hf, suffix);
    return k >= 0 && (size_t)k < n ? buf : NULL;
}

const char *arch_hp_gguf(const arch_desc *d, arch_hp h) {
    switch (h) {
    case AH_HIDDEN: return "embedding_length";
    case AH_LAYERS: return "block_count";
    case AH_HEADS: return "attention.head_count";
    case AH_KV_HEADS: return "attention.head_count_kv";
    case AH_INTER: return "feed_forward_length";
    case AH_MAX_POS: return "context_length";
    case AH_EPS: return d->norm == ARCH_NORM_RMS ? "attention.layer_norm_rms_epsilon" : "attention.layer_norm_epsilon";
    case AH_HEAD_DIM: return "attention.key_length";
    default: return NULL; /* vocab: the embeddings' rows; act, type vocab: none */
    }
}

/* Split "base.weight" / "base.bias" into base length and suffix; false otherwise. */
static bool split_suffix(const char *name, size_t *blen, const char **suffix) {
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0) *blen = n - 7, *suffix = ".weight";
    else if (n > 5 && strcmp(name + n - 5, ".bias") == 0) *blen = n - 5, *suffix = ".bias";
    else return false;
    return true;
}

/* A decimal layer index at s followed by '.'; chars used or 0. */
static size_t parse_layer(const char *s, long *l) {
    size_t i = 0;
    long v = 0;
    while (s[i] >= '0' && s[i] <= '9' && i < 6) v = v * 10 + (s[i++] - '0');
    if (i == 0 || s[i] != '.') return 0;
    *l = v;
    return i + 1;
}

static bool same(const char *k, const char *s, size_t len) { return k && strlen(k) == len && strncmp(s, k, len) == 0; }

/* Whether role r takes part in the GGUF naming of d with `head`: base and
 * layer roles always (the pooler only when the head does not use a dense of
 * its own under the same GGUF name), the head's own roles. */
static bool role_in_use(const arch_desc *d, senti_model_head head, arch_role r) {
    const bool seq = head == SENTI_HEAD_SEQUENCE_CLASSIFICATION;
    if (r == AR_POOLER) return !(seq && d->names[AR_SEQ_DENSE].hf);
    if (!arch_role_is_head(r)) return true;
    switch (head) {
    case SENTI_HEAD_SEQUENCE_CLASSIFICATION: return r == AR_SEQ_DENSE || r == AR_SEQ_NORM || r == AR_SEQ_OUT;
    case SENTI_HEAD_TOKEN_CLASSIFICATION: return r == AR_TOK_DENSE || r == AR_TOK_NORM || r == AR_TOK_OUT;
    case SENTI_HEAD_MASKED_LM: return r >= AR_MLM_DENSE && r <= AR_MLM_BIAS;
    case SENTI_HEAD_CAUSAL_LM:
    case SENTI_HEAD_SEQ2SEQ_LM: return r == AR_LM_HEAD || r == AR_LM_BIAS;
    case SENTI_HEAD_BASE: return false;
    }
    return false;
}

static bool map_name(const arch_desc *d, senti_model_head head, bool to_hf, const char *name, char *out, size_t n) {
    if (!to_hf && d->prefix && strncmp(name, d->prefix, strlen(d->prefix)) == 0) name += strlen(d->prefix);
    const char *stack = to_hf ? "blk." : d->stack;
    size_t blen, k, sl = strlen(stack);
    const char *suf;
    long l;
    if (!split_suffix(name, &blen, &suf)) return false;
    if (strncmp(name, stack, sl) == 0 && (k = parse_layer(name + sl, &l))) {
        for (int r = AR_FIRST_LAYER; r < AR_FIRST_HEAD; r++) {
            const arch_name *a = &d->names[r];
            if (!a->hf || !a->gguf || !same(to_hf ? a->gguf : a->hf, name + sl + k, blen - sl - k)) continue;
            snprintf(out, n, "%s%ld.%s%s", to_hf ? d->stack : "blk.", l, to_hf ? a->hf : a->gguf, suf);
            return true;
        }
        return false;
    }
    for (int r = 0; r < AR_COUNT; r++) {
        const arch_name *a = &d->names[r];
        if (arch_role_is_layer((arch_role)r) || !a->hf || !a->gguf || !role_in_use(d, head, (arch_role)r)) continue;
        if (!same(to_hf ? a->gguf : a->hf, name, blen)) continue;
        snprintf(out, n, "%s%s", to_hf ? a->hf : a->gguf, suf);
        return true;
    }
    return false;
}

bool arch_gguf_to_hf(const arch_desc *d, senti_model_head head, const char *gguf, char *out, size_t n) {
    return map_name(d, head, true, gguf, out, n);
}

bool arch_hf_to_gguf(const arch_desc *d, senti_model_head head, const char *hf, char *out, size_t n) {
    return map_name(d, head, false, hf, out, n);
}

arch_role arch_role_of(const arch_desc *d, const char *hf, int64_t *layer) {
    size_t blen, k, sl = strlen(d->stack);
    const char *suf;
    long l = -1;
    if (!split_suffix(hf, &blen, &suf)) blen = strlen(hf);
    const bool in_stack = strncmp(hf, d->stack, sl) == 0 && (k = parse_layer(hf + sl, &l)) != 0;
    for (int r = 0; r < AR_COUNT; r++) {
        const char *nm = d->names[r].hf;
        if (!nm || arch_role_is_layer((arch_role)r) != in_stack) continue;
        if (in_stack ? same(nm, hf + sl + k, blen - sl - k) : same(nm, hf, blen)) {
            if (layer) *layer = in_stack ? l : -1;
            return (arch_role)r;
        }
    }
    return AR_COUNT;
}

void arch_rope_permute(const void *src, void *dst, int64_t rows, size_t row_bytes, int64_t n_head, bool to_gguf) {
    /* within each head of D rows, HF row (j * D/2 + i), j in {0, 1}, is GGUF row (2i + j) */
    const int64_t D = rows / n_head, half = D / 2;
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t j = 0; j < 2; j++)
            for (int64_t i = 0; i < half; i++) {
                const int64_t hf = h * D + j * half + i, gg = h * D + 2 * i + j;
                const int64_t from = to_gguf ? hf : gg, to = to_gguf ? gg : hf;
                memcpy((char *)dst + (size_t)to * row_bytes, (const char *)src + (size_t)from * row_bytes, row_bytes);
            }
}

/* ---- hyperparameters ---------------------------------------------------------------------------- */

const char *arch_hp_key(const arch_desc *d, arch_hp h) {
    static const char *const DEF[AH_COUNT] = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                                              "num_key_value_heads", "intermediate_size", "max_position_embeddings",
                                              "eps", "hidden_act", "head_dim", "type_vocab_size"};
    return d->hp[h] ? d->hp[h] : DEF[h];
}

senti_status arch_hp_int(const arch_desc *d, const cfg_file *c, arch_hp h, bool required, int64_t def, int64_t *out) {
    if (!d->hp[h]) {
        *out = def;
        return SENTI_OK;
    }
    return required ? cfg_get_int(c, d->hp[h], out) : cfg_opt_int(c, d->hp[h], def, out);
}

senti_status arch_hp_eps(const arch_desc *d, const cfg_file *c, double *out) {
    if (!d->hp[AH_EPS]) {
        *out = d->eps_default;
        return SENTI_OK;
    }
    senti_status st = cfg_opt_float(c, d->hp[AH_EPS], d->eps_default, out);
    if (st != SENTI_OK) return st;
    /* a norm divides by sqrt(var + eps): eps <= 0 lets a constant row divide by zero
     * (or a negative variance estimate go NaN), so every input gets one answer */
    if (!(*out > 0.0) || !isfinite(*out))
        return senti_error(SENTI_ERR_BAD_FILE, "%s: \"%s\" is %g; a norm epsilon must be a finite number > 0",
                           cfg_path(c), d->hp[AH_EPS], *out);
    return SENTI_OK;
}
