/* convert.h — `senti convert` as a library (tools/convert/, on top of model/
 * and tokenizer/): an HF model directory written as one GGUF file.
 *
 * Invariant: nothing is written unless the whole model converts; the output
 * is llama.cpp's names and keys where llama.cpp has the architecture, plus
 * senti.hf.* keys from which senti rebuilds the exact HF model. */
#ifndef SENTI_CONVERT_H
#define SENTI_CONVERT_H

#include "senti.h"

#ifdef __cplusplus
extern "C" {
#endif

/* HF model directory -> one GGUF file at out_path. type: the 2-D linear
 * weights' type (f32, f16, bf16, q8_0, q4_0; other tensors f32). Errors:
 * INVALID_ARG (type), BAD_FILE / UNSUPPORTED (the directory, naming file and
 * key or tensor), IO (naming the path), NO_MEMORY. */
senti_status gguf_convert(const char *hf_dir, const char *out_path, senti_type type);

/* gguf_convert with more choices: the token-embedding table of an encoder
 * stored as embed_type (f32 default; f16 / bf16 / q8_0 / q4_0 make the file
 * smaller, and the loader widens the table to f32) and extra string keys,
 * each "key=value" (borrowed; a key senti writes itself is refused as added
 * twice, except general.name, which replaces the folder's name), e.g.
 * provenance under general.* as llama.cpp names it. */
typedef struct gguf_convert_opts {
    senti_type type, embed_type;
    const char *const *meta;
    int64_t n_meta;
} gguf_convert_opts;
senti_status gguf_convert_with(const char *hf_dir, const char *out_path, const gguf_convert_opts *o);

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CONVERT_H */
