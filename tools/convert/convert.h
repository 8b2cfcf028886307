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

#ifdef __cplusplus
}
#endif
#endif /* SENTI_CONVERT_H */
