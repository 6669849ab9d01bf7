/*
 * cuda_stub.c - the CUDA backend's interface (cuda/cuda_backend.h) in a build without CUDA
 * (-DAUTOGLM_CUDA=OFF or no nvcc): no devices, and every call that would need one fails with an
 * error that says how to get a CUDA build.
 */
#include <stdio.h>

#include "base/error.h"
#include "cuda/cuda_backend.h"

#define NO_CUDA "this build of autoglm has no CUDA backend (rebuild with -DAUTOGLM_CUDA=ON and nvcc installed)"

int ag_cuda_device_count(char *why, size_t why_cap) {
    if (why && why_cap) snprintf(why, why_cap, "%s", NO_CUDA);
    return 0;
}

int ag_cuda_runtime_version(void) { return 0; }
int ag_cuda_driver_version(void) { return 0; }

ag_status ag_cuda_device_info_get(int device, ag_cuda_device_info *info, ag_error *err) {
    (void)device;
    (void)info;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
}

uint64_t ag_cuda_model_bytes(const ag_cuda_model_desc *d) {
    (void)d;
    return 0;
}

uint64_t ag_cuda_session_bytes(const ag_cuda_model_desc *d, int n_ctx, int n_batch, int kv_type) {
    (void)d;
    (void)n_ctx;
    (void)n_batch;
    (void)kv_type;
    return 0;
}

ag_cuda_model *ag_cuda_model_new(const ag_cuda_model_desc *d, int device, ag_error *err) {
    (void)d;
    (void)device;
    ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
    return NULL;
}

void ag_cuda_model_free(ag_cuda_model *m) { (void)m; }

int ag_cuda_session_kv_type(const ag_cuda_session *s) {
    (void)s;
    return AG_CUDA_KV_F16;
}

ag_status ag_cuda_session_copy_prefix(ag_cuda_session *dst, const ag_cuda_session *src, int n, ag_error *err) {
    (void)dst;
    (void)src;
    (void)n;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
}

ag_cuda_session *ag_cuda_session_new(ag_cuda_model *m, int n_ctx, int n_batch, int kv_type, ag_error *err) {
    (void)m;
    (void)n_ctx;
    (void)n_batch;
    (void)kv_type;
    ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
    return NULL;
}

void ag_cuda_session_free(ag_cuda_session *s) { (void)s; }

uint64_t ag_cuda_session_device_bytes(const ag_cuda_session *s) {
    (void)s;
    return 0;
}

bool ag_cuda_host_pin(void *p, size_t bytes) {
    (void)p, (void)bytes;
    return false;
}

void ag_cuda_host_unpin(void *p) { (void)p; }

float *ag_cuda_session_input(ag_cuda_session *s) {
    (void)s;
    return NULL;
}

ag_status ag_cuda_forward(ag_cuda_session *s, int n, int pos0, float *logits, bool all_logits, ag_error *err) {
    (void)s;
    (void)n;
    (void)pos0;
    (void)logits;
    (void)all_logits;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
}

ag_status ag_cuda_session_set_rope(ag_cuda_session *s, int delta, const int32_t *mpos, int n, ag_error *err) {
    (void)s;
    (void)delta;
    (void)mpos;
    (void)n;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
}

ag_status ag_cuda_forward_multi(ag_cuda_session *lead, ag_cuda_session *const *rows, const int *pos, const int *delta,
                                int n, float *logits, ag_error *err) {
    (void)lead;
    (void)rows;
    (void)pos;
    (void)delta;
    (void)n;
    (void)logits;
    return ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
}

double ag_cuda_read_bandwidth(int device, size_t bytes, int reps, ag_error *err) {
    (void)device;
    (void)bytes;
    (void)reps;
    ag_error_set(err, AG_ERR_UNSUPPORTED, NO_CUDA);
    return 0;
}
