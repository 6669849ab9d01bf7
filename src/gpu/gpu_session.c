/*
 * gpu_session.c - a session's batches on the GPU: the token embeddings are looked up on the host
 * (one row each, any weight type the CPU reads) into the backend's pinned input buffer, and the
 * rest of the forward pass runs on the device (cuda/cuda_backend.h).
 *
 * Partial offload (m->gpu_layers < n_layer): the device runs the first layers and hands the
 * hidden states of the batch back once per step, copied asynchronously on the session's stream
 * into the same pinned buffer (the backend's model has no head, so ag_cuda_forward writes
 * (n, n_embd) hidden states there); the CPU then runs the remaining layers, the output norm and
 * the head with its own KV cache rows for those layers (model/forward.c, ag_forward_layers).
 *
 * Images (engine/session_image.c) come through the CPU scratch as for ag_forward: rows of the
 * vision encoder's output replace those tokens' embeddings in the input buffer, and the rotary
 * positions are the cache positions + scratch->rope_delta, or the chunk's (t, h, w) positions
 * (scratch->mrope_pos, models with rope sections) handed to the device for this pass.
 */
#include <string.h>

#include "base/error.h"
#include "cpu/ops.h"
#include "cuda/cuda_backend.h"
#include "gpu/gpu.h"

struct ag_cuda_session *ag_gpu_session_new(const ag_model *m, int n_ctx, int n_batch, ag_type kv_type, ag_error *err) {
    if (kv_type != AG_TYPE_F16 && kv_type != AG_TYPE_Q8_0 && kv_type != AG_TYPE_Q4_0) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "the GPU keeps the KV cache in f16, q8_0 or q4_0, not %s", ag_type_name(kv_type));
        return NULL;
    }
    const int t = kv_type == AG_TYPE_Q8_0 ? AG_CUDA_KV_Q8_0 : kv_type == AG_TYPE_Q4_0 ? AG_CUDA_KV_Q4_0 : AG_CUDA_KV_F16;
    return ag_cuda_session_new(m->cuda, n_ctx, n_batch, t, err);
}

void ag_gpu_session_free(struct ag_cuda_session *s) { ag_cuda_session_free(s); }

ag_type ag_gpu_session_kv_type(const struct ag_cuda_session *s) {
    const int t = ag_cuda_session_kv_type(s);
    return t == AG_CUDA_KV_Q8_0 ? AG_TYPE_Q8_0 : t == AG_CUDA_KV_Q4_0 ? AG_TYPE_Q4_0 : AG_TYPE_F16;
}

uint64_t ag_gpu_session_bytes(const struct ag_cuda_session *s) { return ag_cuda_session_device_bytes(s); }

ag_status ag_gpu_copy_prefix(struct ag_cuda_session *dst, const struct ag_cuda_session *src, int n, ag_error *err) {
    return ag_cuda_session_copy_prefix(dst, src, n, err);
}

bool ag_gpu_partial(const ag_model *m) { return m->cuda && m->gpu_layers < m->hp.n_layer; }

bool ag_gpu_pin(void *p, size_t bytes) { return p && bytes >= AG_GPU_PIN_MIN && ag_cuda_host_pin(p, bytes); }

void ag_gpu_unpin(void *p) { ag_cuda_host_unpin(p); }

ag_status ag_gpu_forward(struct ag_cuda_session *s, const ag_model *m, ag_gpu_cpu_part *cpu, const ag_token *tokens,
                         int n, int pos0, float *logits, bool all_logits, ag_error *err) {
    float *x = ag_cuda_session_input(s);
    const int e = m->hp.n_embd;
    const ag_fwd_scratch *sc = cpu->scratch;
    for (int t = 0; t < n; t++) {
        if (sc->embd_rows && sc->embd_rows[t]) memcpy(x + (size_t)t * e, sc->embd_rows[t], (size_t)e * sizeof(float));
        else
            ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tokens[t], e,
                                   x + (size_t)t * e);
    }
    const int32_t *mpos = m->hp.mrope ? sc->mrope_pos : NULL;
    ag_status st = ag_cuda_session_set_rope(s, sc->rope_delta, mpos, n, err);
    if (st) return st;
    if (!ag_gpu_partial(m)) return ag_cuda_forward(s, n, pos0, logits, all_logits, err);
    /* the first gpu_layers on the device; their hidden states come back into the pinned buffer */
    st = ag_cuda_forward(s, n, pos0, x, true, err);
    if (st) return st;
    memcpy(cpu->scratch->x, x, (size_t)n * e * sizeof(float));
    ag_forward_layers(m, cpu->kv, cpu->scratch, cpu->pool, m->gpu_layers, n, pos0, logits, all_logits);
    return AG_OK;
}

ag_status ag_gpu_forward_multi(struct ag_cuda_session *lead, struct ag_cuda_session *const *rows, const ag_model *m,
                               const ag_token *tokens, const int *pos, const int *delta, int n, float *logits,
                               ag_error *err) {
    float *x = ag_cuda_session_input(lead);
    const int e = m->hp.n_embd;
    for (int t = 0; t < n; t++)
        ag_weight_row_to_float(m->tok_embd.data, m->tok_embd.type, m->tok_embd.row_bytes, tokens[t], e,
                               x + (size_t)t * e);
    return ag_cuda_forward_multi(lead, rows, pos, delta, n, logits, err);
}
