/* backends.c — the backend chosen by name: "cpu" (or none) is the CPU
 * backend, "cuda" / "cuda:N" the CUDA backend with the CPU as its fallback.
 * The one place above the backends that knows which exist; model/ and
 * everything above ask for a device by name.
 *
 * Invariant: on failure nothing is left allocated and the message names the
 * device and why (not built, no device). */
#include <stdio.h>

#include "../cpu/cpu.h"
#include "core.h"
#ifdef SENTI_HAVE_CUDA
#include "../cuda/cuda.h"
#define SENTI_CUDA_BUILT 1
#else
#define SENTI_CUDA_BUILT 0
#endif

senti_status exec_device_check(const char *device) {
    const bool on_cuda = device && strncmp(device, "cuda", 4) == 0;
    if (device && strcmp(device, "cpu") != 0 && !(on_cuda && SENTI_CUDA_BUILT))
        return senti_error(SENTI_ERR_UNSUPPORTED, "device '%s' is not available in this build%s", device,
                           on_cuda ? " (built with SENTI_CUDA=OFF)" : "");
    return SENTI_OK;
}

struct senti_backend *exec_backend_init(const char *device, int n_threads, struct senti_backend **fallback) {
    *fallback = NULL;
    if (exec_device_check(device) != SENTI_OK) return NULL;
    senti_backend *cpu = senti_backend_cpu_init(n_threads);
    if (!cpu) return NULL;
#ifdef SENTI_HAVE_CUDA
    if (device && strncmp(device, "cuda", 4) == 0) { /* the GPU runs what it supports, the CPU the rest */
        senti_backend *gpu = senti_backend_cuda_init(device);
        if (!gpu) {
            senti_backend_free(cpu);
            return NULL;
        }
        *fallback = cpu;
        return gpu;
    }
#endif
    return cpu;
}

bool exec_bf16_native(const char *device) { return (!device || strcmp(device, "cpu") == 0) && cpu_bf16_native(); }
const char *exec_simd_level(const char *device) {
    return !device || strcmp(device, "cpu") == 0 ? cpu_simd_level() : device;
}

int exec_cuda_device_count(void) {
#ifdef SENTI_HAVE_CUDA
    return cuda_device_count(NULL, 0);
#else
    return 0;
#endif
}
