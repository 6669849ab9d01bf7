/*
 * batch.c - ag_session_eval_batch: one decode step for several sessions of the same model at
 * once (continuous batching). Row i is the next token of session i; the rows run through
 * model/forward_multi.c together, so every weight is read once per step whatever the number of
 * sequences, while attention stays per session (its own KV cache and position).
 *
 * The "lead" session (largest context) lends its thread pool and scratch to the step; groups of
 * at most its n_batch rows run one after another. Sessions on a GPU run the same way on the device
 * (gpu/gpu.h: one pass of up to AG_CUDA_MULTI_MAX rows reading each weight once). Logits go to each session's own buffer (through
 * the lead's batch buffer, grown when needed, not per step). The lead's abort check applies: a
 * stopped group commits nothing. Caches in blocks (model/kv_blocks.h) get their rows' blocks before
 * the first group, so a full pool fails the step before anything is evaluated.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cuda/cuda_backend.h"
#include "engine/session_impl.h"
#include "gpu/gpu.h"
#include "model/forward_multi.h"
#include "model/kv_blocks.h"

enum { GROUP_MAX = 64 };

ag_status ag_session_eval_batch(ag_session *const *ss, const ag_token *tokens, int n, ag_error *err) {
    if (n <= 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "no sessions to evaluate");
    const ag_model *m = ss[0]->model;
    const int n_vocab = m->hp.n_vocab;
    int lead = 0;
    for (int i = 0; i < n; i++) {
        const ag_session *s = ss[i];
        if (s->model != m) return ag_error_set(err, AG_ERR_INVALID_ARG, "sessions of different models in one batch");
        if (s->n_past >= s->n_ctx)
            return ag_error_set(err, AG_ERR_CONTEXT_FULL, "session %d: all %d positions used", i, s->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return ag_error_set(err, AG_ERR_INVALID_ARG, "token id %d out of range [0, %d)", tokens[i], n_vocab);
        for (int k = 0; k < i; k++)
            if (ss[k] == s) return ag_error_set(err, AG_ERR_INVALID_ARG, "session %d appears twice in the batch", i);
        if (s->n_ctx > ss[lead]->n_ctx || (s->n_ctx == ss[lead]->n_ctx && s->n_batch > ss[lead]->n_batch)) lead = i;
    }
    bool one_by_one = ss[0]->gpu && m->gpu_layers < m->hp.n_layer; /* partial offload: the multi-row
                                                                      * device pass holds every layer */
    for (int i = 1; i < n && ss[0]->gpu && !one_by_one; i++) /* and one KV cache type per device pass */
        one_by_one = ag_cuda_session_kv_type(ss[i]->gpu) != ag_cuda_session_kv_type(ss[0]->gpu);
    if (one_by_one) {
        for (int i = 0; i < n; i++) {
            ag_status st = ag_session_eval(ss[i], &tokens[i], 1, false, err);
            if (st) return st;
        }
        return AG_OK;
    }
    for (int i = 0; i < n; i++)
        if (ag_session_reserve_logits(ss[i], 1, err)) return err ? err->code : AG_ERR_NOMEM;
    for (int i = 0; i < n && !ss[0]->gpu; i++) { /* caches in blocks: each row's position writable first */
        const ag_status st = ag_kv_cache_prepare(&ss[i]->kv, ss[i]->n_past, 1, err);
        if (st) return st; /* the pool is full: nothing evaluated */
    }
    ag_session *L = ss[lead];
    int group = L->n_batch < GROUP_MAX ? L->n_batch : GROUP_MAX;
    if (L->gpu && group > AG_CUDA_MULTI_MAX) group = AG_CUDA_MULTI_MAX; /* one device pass per group */
    const int rows = n < group ? n : group;
    if (rows > L->batch_cap) { /* kept by the lead session: no allocation per step */
        const size_t bytes = (size_t)rows * n_vocab * sizeof(float);
        if (L->batch_logits_pinned) ag_gpu_unpin(L->batch_logits); /* realloc may move or free it */
        L->batch_logits_pinned = false;
        float *p = realloc(L->batch_logits, bytes);
        if (!p) return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate logits for a batch of %d", n);
        L->batch_logits = p;
        L->batch_cap = rows;
        if (L->gpu) L->batch_logits_pinned = ag_gpu_pin(p, bytes); /* the device copies every row here */
    }
    float *logits = L->batch_logits;
    ag_kv_cache *kv[GROUP_MAX];
    int pos[GROUP_MAX], delta[GROUP_MAX];
    for (int done = 0; done < n;) {
        const int g = n - done < group ? n - done : group;
        for (int t = 0; t < g; t++) {
            kv[t] = &ss[done + t]->kv;
            pos[t] = ss[done + t]->n_past;
            delta[t] = ss[done + t]->pos_delta; /* rotary position after images (session_image.c) */
        }
        if (L->gpu) { /* the lead lends its device scratch; each row keeps its own cache */
            struct ag_cuda_session *gpu_rows[GROUP_MAX];
            for (int t = 0; t < g; t++) gpu_rows[t] = ss[done + t]->gpu;
            /* yield and abort before the device pass, abort after it (as ag_session_eval) */
            if (!ag_fwd_should_abort(&L->scratch)) {
                const ag_status st = ag_gpu_forward_multi(L->gpu, gpu_rows, m, tokens + done, pos, delta, g, logits, err);
                if (st) return st;
                ag_fwd_abort_check(&L->scratch);
            }
        } else {
            L->scratch.rope_delta_rows = delta;
            ag_forward_multi(m, kv, pos, &L->scratch, L->n_ctx, L->pool, tokens + done, g, logits);
            L->scratch.rope_delta_rows = NULL;
        }
        if (L->scratch.aborted) { /* the groups already done stay; this one is dropped */
            for (int t = 0; t < g; t++) ss[done + t]->n_logits = 0;
            return ag_error_set(err, AG_ERR_ABORTED, "batched step aborted after %d of %d sessions", done, n);
        }
        for (int t = 0; t < g; t++) {
            ag_session *s = ss[done + t];
            memcpy(s->logits, logits + (size_t)t * n_vocab, (size_t)n_vocab * sizeof(float));
            s->n_past++;
            s->n_logits = 1;
        }
        done += g;
    }
    return AG_OK;
}
