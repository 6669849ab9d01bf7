/*
 * gpu.h - the engine's hook to the GPU backend: placing a loaded model on a device (or leaving it
 * on the CPU) and running a session's batches there. model_load.c calls ag_gpu_attach/detach,
 * session.c calls the session functions; everything CUDA-specific is behind cuda/cuda_backend.h.
 */
#ifndef AG_GPU_GPU_H
#define AG_GPU_GPU_H

#include "model/forward.h"

struct ag_cuda_session;

/* The CPU half of a partially offloaded session: its KV cache (rows of the layers from
 * m->gpu_layers on), scratch and threads. */
typedef struct {
    ag_kv_cache *kv;
    ag_fwd_scratch *scratch;
    ag_threadpool *pool;
} ag_gpu_cpu_part;

/* True when m's layers are split between the GPU and the CPU. */
bool ag_gpu_partial(const ag_model *m);

/* A host buffer the device's results are copied into (a GPU session's logits): page-locked when it
 * is large enough to matter (AG_GPU_PIN_MIN bytes) and the backend can; returns whether it was,
 * so that ag_gpu_unpin is called before the buffer is freed or reallocated. */
#define AG_GPU_PIN_MIN (64 << 10)
bool ag_gpu_pin(void *p, size_t bytes);
void ag_gpu_unpin(void *p);

/* Decides where m runs (params->device, n_gpu_layers; see autoglm.h) and, for a GPU, checks the
 * memory estimate and uploads the weights (m->cuda). On the CPU m->cuda stays NULL. Errors only
 * when a GPU was asked for explicitly and cannot be used, or the options are invalid. */
ag_status ag_gpu_attach(ag_model *m, const ag_model_params *params, ag_error *err);
void ag_gpu_detach(ag_model *m);

/* A session's device half: KV cache and scratch on m's GPU. */
/* kv_type: AG_TYPE_F16, AG_TYPE_Q8_0 or AG_TYPE_Q4_0 (the session's --kv-type); ag_gpu_session_kv_type gives it back. */
ag_type ag_gpu_session_kv_type(const struct ag_cuda_session *s);
struct ag_cuda_session *ag_gpu_session_new(const ag_model *m, int n_ctx, int n_batch, ag_type kv_type, ag_error *err);
void ag_gpu_session_free(struct ag_cuda_session *s);
uint64_t ag_gpu_session_bytes(const struct ag_cuda_session *s); /* its device memory */
/* positions [0, n) of the device's layers from src's KV cache into dst's (same model and type) */
ag_status ag_gpu_copy_prefix(struct ag_cuda_session *dst, const struct ag_cuda_session *src, int n, ag_error *err);

/* tokens[0..n) (n <= the session's n_batch) at positions pos0..: embeddings on the host, the
 * layers on the GPU (the first m->gpu_layers, then the rest on the CPU through cpu, which only
 * partial offload uses; cpu->scratch->aborted tells whether its abort check stopped it); logits
 * as ag_forward writes them. cpu->scratch's embd_rows, mrope_pos and rope_delta apply as they do
 * to ag_forward (prompts with images). */
ag_status ag_gpu_forward(struct ag_cuda_session *s, const ag_model *m, ag_gpu_cpu_part *cpu, const ag_token *tokens,
                         int n, int pos0, float *logits, bool all_logits, ag_error *err);

/* One decode step of n sessions' GPU halves at once (ag_cuda_forward_multi; n <= AG_CUDA_MULTI_MAX
 * and lead's n_batch): tokens[t] at position pos[t] of rows[t]'s cache, rotated at pos[t] + delta[t]
 * (delta NULL: 0; text after images), run in lead's scratch; logits (n, n_vocab). */
ag_status ag_gpu_forward_multi(struct ag_cuda_session *lead, struct ag_cuda_session *const *rows, const ag_model *m,
                               const ag_token *tokens, const int *pos, const int *delta, int n, float *logits,
                               ag_error *err);

#endif
