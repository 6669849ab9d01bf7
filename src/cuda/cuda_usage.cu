/*
 * cuda_usage.cu - what a session holds on its device, for the memory gauges (`autoglm ps`,
 * /api/ps size_vram): the bytes of its one allocation (KV cache, scratch, cuBLAS workspace).
 */
#include "cuda/cuda_internal.cuh"

extern "C" uint64_t ag_cuda_session_device_bytes(const ag_cuda_session *s) { return s ? s->arena_bytes : 0; }
