/* elementwise_avx512.c — the AVX-512 row routines of cpu_vec.h (element-wise,
 * norms, softmax, attention tiles): cpu/vec_body.inc with 16-lane vectors.
 * Compiled with -mavx512f/bw/vl/dq (CMakeLists); called only when CPUID says so. */
#define VEC_W 16
#define VSFX avx512
#define VEC_TABLE cpu_vec_ops_avx512
#include "vec_body.inc"
