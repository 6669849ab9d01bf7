/*
 * cuda_vision_stub.c - the CUDA vision encoder's interface (cuda/cuda_vision.h) in a build without
 * CUDA: every call that would need a device fails with an error that says so.
 */
#include "base/error.h"
#include "cuda/cuda_vision.h"

ag_cuda_vision *ag_cuda_vision_new(const ag_cuda_vision_desc *d, int device, ag_error *err) {
    (void)d;
    (void)device;
    ag_error_set(err, AG_ERR_UNSUPPORTED, "this build of autoglm has no CUDA backend (rebuild with -DAUTOGLM_CUDA=ON and nvcc installed)");
    return NULL;
}

void ag_cuda_vision_free(ag_cuda_vision *v) { (void)v; }
uint64_t ag_cuda_vision_weight_bytes(const ag_cuda_vision *v) { (void)v; return 0; }
uint64_t ag_cuda_vision_scratch_bytes(const ag_cuda_vision *v) { (void)v; return 0; }

ag_status ag_cuda_vision_encode(ag_cuda_vision *v, const float *pixels, int grid_t, int grid_h, int grid_w, float *out, ag_error *err) {
    (void)v, (void)pixels, (void)grid_t, (void)grid_h, (void)grid_w, (void)out;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, "this build of autoglm has no CUDA backend");
}
