/* elementwise_avx2.c — the AVX2+FMA row routines of cpu_vec.h (element-wise,
 * norms, softmax, attention tiles): cpu/vec_body.inc with 8-lane vectors.
 * Compiled with -mavx2 -mfma (CMakeLists); called only when CPUID says so. */
#define VEC_W 8
#define VSFX avx2
#define VEC_TABLE cpu_vec_ops_avx2
#include "vec_body.inc"
