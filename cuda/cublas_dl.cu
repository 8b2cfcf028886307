/* cublas_dl.cu — cuBLAS opened on first use instead of at program start.
 *
 * Linking libcublas (and the libcublasLt it pulls in: ~700 MB of mappings)
 * made every `senti` process spend ~0.3 s and ~220 MB of RSS before main(),
 * on machines with no GPU too. The eight entry points the backend calls are
 * defined here with cuBLAS's own prototypes (cublas_v2.h) and forward to the
 * library opened with dlopen (RTLD_LOCAL, so its symbols never shadow these)
 * the first time one is called: by the soname of the toolkit senti was built
 * with, then by its path in that toolkit. When it cannot be opened every
 * call returns CUBLAS_STATUS_NOT_INITIALIZED and senti_cublas_error() says
 * why. The CUDA runtime is linked statically (cudart_static), which loads the
 * driver only when a CUDA call is made. */
#include <cublas_v2.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "cuda_int.cuh"

#ifndef SENTI_CUBLAS_SONAME
#define SENTI_CUBLAS_SONAME "libcublas.so"
#endif
#ifndef SENTI_CUBLAS_DIR
#define SENTI_CUBLAS_DIR ""
#endif

#define CUBLAS_FNS(X)                                                                                             \
    X(cublasCreate_v2, (cublasHandle_t * h), (h))                                                                  \
    X(cublasDestroy_v2, (cublasHandle_t h), (h))                                                                   \
    X(cublasSetStream_v2, (cublasHandle_t h, cudaStream_t s), (h, s))                                              \
    X(cublasSetWorkspace_v2, (cublasHandle_t h, void *ws, size_t n), (h, ws, n))                                  \
    X(cublasSgemm_v2,                                                                                              \
      (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,      \
       const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc),                   \
      (h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))                                                  \
    X(cublasSgemmStridedBatched,                                                                                   \
      (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,      \
       const float *A, int lda, long long sA, const float *B, int ldb, long long sB, const float *beta, float *C,  \
       int ldc, long long sC, int batch),                                                                         \
      (h, ta, tb, m, n, k, alpha, A, lda, sA, B, ldb, sB, beta, C, ldc, sC, batch))                               \
    X(cublasGemmEx,                                                                                                \
      (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha,       \
       const void *A, cudaDataType At, int lda, const void *B, cudaDataType Bt, int ldb, const void *beta, void *C, \
       cudaDataType Ct, int ldc, cublasComputeType_t ct, cublasGemmAlgo_t algo),                                  \
      (h, ta, tb, m, n, k, alpha, A, At, lda, B, Bt, ldb, beta, C, Ct, ldc, ct, algo))                            \
    X(cublasGemmStridedBatchedEx,                                                                                  \
      (cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void *alpha,       \
       const void *A, cudaDataType At, int lda, long long sA, const void *B, cudaDataType Bt, int ldb,            \
       long long sB, const void *beta, void *C, cudaDataType Ct, int ldc, long long sC, int batch,                \
       cublasComputeType_t ct, cublasGemmAlgo_t algo),                                                            \
      (h, ta, tb, m, n, k, alpha, A, At, lda, sA, B, Bt, ldb, sB, beta, C, Ct, ldc, sC, batch, ct, algo))

static struct {
#define FIELD(name, params, args) cublasStatus_t(*name) params;
    CUBLAS_FNS(FIELD)
#undef FIELD
} fns;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char why[512];

static void open_cublas(void) {
    void *lib = dlopen(SENTI_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib && SENTI_CUBLAS_DIR[0]) lib = dlopen(SENTI_CUBLAS_DIR "/" SENTI_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(why, sizeof why, "%s", e ? e : "cannot open " SENTI_CUBLAS_SONAME);
        return;
    }
#define RESOLVE(name, params, args)                                                                               \
    *(void **)&fns.name = dlsym(lib, #name);                                                                       \
    if (!fns.name) {                                                                                               \
        snprintf(why, sizeof why, "%s has no %s", SENTI_CUBLAS_SONAME, #name);                                     \
        fns = {};                                                                                                  \
        return;                                                                                                    \
    }
    CUBLAS_FNS(RESOLVE)
#undef RESOLVE
}

const char *senti_cublas_error(void) {
    pthread_once(&once, open_cublas);
    return why[0] ? why : NULL;
}

#define FORWARD(name, params, args)                                                                               \
    cublasStatus_t CUBLASWINAPI name params {                                                                      \
        pthread_once(&once, open_cublas);                                                                          \
        return fns.name ? fns.name args : CUBLAS_STATUS_NOT_INITIALIZED;                                           \
    }
CUBLAS_FNS(FORWARD)
#undef FORWARD
