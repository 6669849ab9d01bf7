/*
 * cuda_version.cu - the CUDA versions of this build's runtime and of the installed driver (both
 * as 1000 * major + 10 * minor; 0 when there is no driver), for the "driver too old" message.
 */
#include "cuda/cuda_internal.cuh"

extern "C" int ag_cuda_runtime_version(void) {
    int v = 0;
    return cudaRuntimeGetVersion(&v) == cudaSuccess ? v : 0;
}

extern "C" int ag_cuda_driver_version(void) {
    int v = 0;
    return cudaDriverGetVersion(&v) == cudaSuccess ? v : 0;
}
