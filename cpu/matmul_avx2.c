/* matmul_avx2.c — AVX2 + FMA matmul kernels: the f32 GEMM tile kernels
 * (mm_body.inc, 6 x 16 at full height) and the int8 GEMM tile kernels for
 * q8_0 / q4_0 / int8 weights (qm_body.inc: q8_0 vpmaddwd on int16, int8
 * Winograd's inner product by vpmaddwd on int16 sums, q4_0 vpmaddubsw). Compiled with -mavx2 -mfma -mf16c; called only when CPUID says
 * so (also the fallback on AVX-512 parts without VNNI).
 *
 * Loads stay inside the given rows: K tails go through small zero-padded
 * stack copies, M / N tails clamp row pointers and store only valid lanes. */
#include <immintrin.h>

#include "matmul_kern.h"

#define MM_VW 8
#define MM_SFX avx2
#include "mm_body.inc"

#define QM_VW 8
#define QM_SFX avx2
#include "qm_body.inc"
