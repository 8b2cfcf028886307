/* kernels.h — the op catalogue: each op's constructor with its shape rule and
 * meaning, and the plain-C reference implementation that defines it.
 *
 * Conventions for every op (shapes outermost first, as in PyTorch):
 *  - activations are f32; weights (matmul b, get_rows table) may be
 *    f32 / f16 / bf16 / q8_0 / q4_0;
 *  - sources may be non-contiguous views unless stated; the innermost dim of a
 *    quantized tensor is always contiguous;
 *  - outputs of computing ops are new contiguous tensors;
 *  - constructors validate shapes and dtypes and return NULL with a message
 *    (never abort) on a mismatch. */
#ifndef SENTI_KERNELS_H
#define SENTI_KERNELS_H

#include "../core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* embedding lookup: table [V, D] (any weight type), ids i32 of rank r <= 3
 * -> f32 [ids..., D]. An id outside [0, V) is a compute error. */
senti_tensor *op_get_rows(senti_graph *g, senti_tensor *table, senti_tensor *ids);

/* a + b, a * b: f32, numpy broadcasting (dims right-aligned; each pair equal
 * or one of them 1); output has the broadcast shape. */
senti_tensor *op_add(senti_graph *g, senti_tensor *a, senti_tensor *b);
senti_tensor *op_mul(senti_graph *g, senti_tensor *a, senti_tensor *b);
/* a * s */
senti_tensor *op_scale(senti_graph *g, senti_tensor *a, float s);

/* matmul: a f32 [.., M, K] (trans_a: a is [.., K, M]),
 *         b [.., K, N] (trans_b: b is [.., N, K], the HF Linear weight layout),
 *      -> f32 [.., M, N] with the batch dims (the two outer dims) of a.
 * b's batch dims must divide a's: batch index i of a uses i / (A_i / B_i) of
 * b (so [B, Hq] queries use [B, Hkv] keys in grouped-query attention, and a
 * [1, 1, N, K] weight serves every batch). Quantized b requires trans_b and
 * K % 32 == 0; f16 / bf16 / q8_0 / q4_0 b must have contiguous rows.
 * params: [0] trans_a, [1] trans_b. */
senti_tensor *op_matmul(senti_graph *g, senti_tensor *a, senti_tensor *b, bool trans_a, bool trans_b);

/* layer norm over the innermost dim: (x - mean) / sqrt(var + eps) * w + b,
 * var the biased variance; w, b f32 [D] or NULL. params: [0] eps (float). */
senti_tensor *op_layer_norm(senti_graph *g, senti_tensor *x, senti_tensor *w, senti_tensor *b, float eps);
/* RMS norm: x / sqrt(mean(x^2) + eps) * w; w f32 [D] or NULL. params: [0] eps. */
senti_tensor *op_rms_norm(senti_graph *g, senti_tensor *x, senti_tensor *w, float eps);

/* softmax over the innermost dim of x * scale + mask; mask f32 (NULL for
 * none) broadcastable to x (numpy rules), additive (-INFINITY masks out).
 * A row whose every entry is -inf gives zeros. params: [0] scale (float). */
senti_tensor *op_softmax(senti_graph *g, senti_tensor *x, senti_tensor *mask, float scale);

/* element-wise activations on f32, any shape:
 * gelu 0.5x(1+erf(x/sqrt2)); gelu_tanh 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)));
 * silu x/(1+e^-x); relu max(x,0); tanh. */
senti_tensor *op_gelu(senti_graph *g, senti_tensor *x);
senti_tensor *op_gelu_tanh(senti_graph *g, senti_tensor *x);
senti_tensor *op_silu(senti_graph *g, senti_tensor *x);
senti_tensor *op_relu(senti_graph *g, senti_tensor *x);
senti_tensor *op_tanh(senti_graph *g, senti_tensor *x);

/* fused attention, sequence-major layout (what linear layers produce):
 *   q [B, Tq, Hq, D], k [B, Tk, Hkv, D], v [B, Tk, Hkv, Dv]  (f32, innermost
 *   dim contiguous, other strides free: slices of a fused QKV or a KV cache)
 *   -> f32 [B, Tq, Hq, Dv] contiguous (reshape to [B, Tq, Hq*Dv] for the
 *   output projection).
 * out[b,i,h] = sum_j softmax_j(q[b,i,h]·k[b,j,h'] * scale + mask[b,h,i,j]
 *              + causal(i,j)) v[b,j,h'], with h' = h / (Hq / Hkv).
 * mask: f32 additive, NULL or 4-D broadcastable to [B, Hq, Tq, Tk].
 * causal: query i sits at position Tk - Tq + i and sees keys j <= that.
 * A query that sees no key (all masked) gives zeros.
 * params: [0] scale (float), [1] causal. */
senti_tensor *op_attention(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                           senti_tensor *mask, float scale, bool causal);

/* fused attention over packed sequences (padding-free batches): q [1, T, Hq, D],
 * k [1, T, Hkv, D], v [1, T, Hkv, Dv] hold the tokens of S sequences one after
 * another; offs i32 [S + 1] gives their bounds (offs[0] = 0 <= offs[s] <=
 * offs[s+1], offs[S] = T). Token i of sequence s attends to the keys of s only
 * (causal: to those at or before it) -> f32 [1, T, Hq, Dv]. Per sequence the
 * result is op_attention's on that sequence alone. Offsets are checked when
 * the node runs (an error naming the node, never a read out of bounds).
 * params: [0] scale (float), [1] causal. */
senti_tensor *op_attention_varlen(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                  senti_tensor *offs, float scale, bool causal);

/* the same with one query per sequence, its first token's (an encoder whose
 * head reads only [CLS] / <s> needs no other row of its last layer): q
 * [1, S, Hq, D] row s is the query of sequence s's first token, k / v as
 * above [1, T, ..] -> f32 [1, S, Hq, Dv]; row s equals row offs[s] of
 * op_attention_varlen's output (non-causal), byte for byte on the CPU.
 * params: [0] scale (float), [1] 0, [2] 1 (first-token queries). */
senti_tensor *op_attention_varlen_first(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                        senti_tensor *offs, float scale);

/* op_attention_varlen (non-causal) with a sliding window: token i of a
 * sequence sees the keys j of its sequence with |i - j| <= window (>= 0),
 * the keys outside scoring -inf as under an additive mask, so a sequence's
 * bytes equal op_attention's on that sequence alone with the window as its
 * mask (ModernBERT's local layers); first: one query per sequence as
 * op_attention_varlen_first (token 0, keys j <= window).
 * params: [0] scale, [1] 0, [2] first, [3] window + 1 (0: no window). */
senti_tensor *op_attention_varlen_local(senti_graph *g, senti_tensor *q, senti_tensor *k, senti_tensor *v,
                                        senti_tensor *offs, float scale, int64_t window, bool first);

/* rotary embedding on x f32 [B, T, H, D] with pos i32 [T] (shared by the
 * batch) or [B, T]. For pair i < n_rot/2 the angle is
 *   pos * freq_scale * theta^(-2i/n_rot) / (ff ? ff[i] : 1)
 * and the pair is (x[2i], x[2i+1]) when interleaved (GPT-J, original RoPE) or
 * (x[i], x[i + n_rot/2]) when half-split (GPT-NeoX, HF LLaMA / Qwen2);
 * dims >= n_rot pass through. freq_factors: f32 [n_rot/2] or NULL.
 * params: [0] n_rot, [1] interleaved, [2] theta (float), [3] freq_scale (float). */
senti_tensor *op_rope(senti_graph *g, senti_tensor *x, senti_tensor *pos, senti_tensor *freq_factors,
                      int n_rot, bool interleaved, float theta, float freq_scale);

/* copy / cast: any f32 / f16 / bf16 source (views included), or i32 to i32,
 * into a new contiguous tensor of `type` (f32, f16, bf16, q8_0, q4_0; the
 * quantized ones need the innermost dim % 32 == 0). */
senti_tensor *op_cpy(senti_graph *g, senti_tensor *x, senti_type type);

/* concatenate a and b (same type, f32 / f16 / bf16 / i32) along `dim`
 * (0..ndim-1, outermost first); every other dim must match. params: [0] dim
 * (in the padded 4-D numbering). */
senti_tensor *op_concat(senti_graph *g, senti_tensor *a, senti_tensor *b, int dim);

/* in-place row store (the KV-cache write): rows of src f32 [N, D] go to rows
 * idx[i] (i32 [N], each in [0, R), distinct) of dst f32 [R, D] (contiguous:
 * a leaf such as a cache buffer, or any tensor). The result has dst's
 * shape and IS dst's storage (view_src = dst's storage): nodes that read the
 * result (or views of it) run after the write, so build readers from the
 * result, never from dst itself. The planner places nothing for it. A backend
 * given a separate output buffer (tests) first copies dst into it, so the
 * meaning is "dst with those rows replaced" either way. An index outside
 * [0, R) is a compute error, checked before anything is written. */
senti_tensor *op_set_rows(senti_graph *g, senti_tensor *dst, senti_tensor *src, senti_tensor *idx);

/* gather along the innermost dim (torch.gather(x, -1, idx) with idx
 * broadcast over the outer dims): x f32 [.., N] (innermost dim contiguous,
 * other strides free), idx i32 [.., M] of rank <= x's whose outer dims each
 * equal x's or are 1 -> f32 [x's outer dims.., M] contiguous with
 *   out[i0,i1,i2,j] = x[i0,i1,i2, idx[i0',i1',i2',j]]   (i' = 0 where idx's dim is 1).
 * An index outside [0, N) is a compute error, checked before anything is
 * written. (DeBERTa's relative-position scores: c2p / p2c columns by bucket.) */
senti_tensor *op_gather(senti_graph *g, senti_tensor *x, senti_tensor *idx);

/* views (share storage, no compute):
 * reshape: x contiguous, same element count; permute: output dim i is input
 * dim axes[i] (a permutation of 0..ndim-1, as torch.permute); slice: elements
 * [start, end) of dim (0 <= start <= end <= size; quantized: not the
 * innermost dim). */
senti_tensor *op_reshape(senti_graph *g, senti_tensor *x, int ndim, const int64_t *shape);
senti_tensor *op_reshape_2d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1);
senti_tensor *op_reshape_3d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1, int64_t n2);
senti_tensor *op_reshape_4d(senti_graph *g, senti_tensor *x, int64_t n0, int64_t n1, int64_t n2, int64_t n3);
senti_tensor *op_permute(senti_graph *g, senti_tensor *x, const int *axes);
senti_tensor *op_slice(senti_graph *g, senti_tensor *x, int dim, int64_t start, int64_t end);

/* ---- reference implementations -------------------------------------------
 * ref_compute runs one node with plain C loops accumulating in double. It is
 * the definition of the op, not a fast path. Returns SENTI_OK or an error
 * naming the node (e.g. an embedding id out of range). */
senti_status ref_compute(senti_tensor *node);

/* A backend that runs every op with the reference (kernels/ref_backend.c). */
struct senti_backend *senti_backend_ref_init(void);

/* Map a padded 4-D index of `out` onto a broadcast source (dims of size 1
 * repeat). */
static inline size_t senti_bcast_offs(const senti_tensor *src, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return (size_t)(src->ne[0] == 1 ? 0 : i0) * src->nb[0] + (size_t)(src->ne[1] == 1 ? 0 : i1) * src->nb[1] +
           (size_t)(src->ne[2] == 1 ? 0 : i2) * src->nb[2] + (size_t)(src->ne[3] == 1 ? 0 : i3) * src->nb[3];
}

#ifdef __cplusplus
}
#endif
#endif /* SENTI_KERNELS_H */
