/*
 * session_share.c - a session takes a prefix another session of the same model has computed (a
 * shared system prompt or chat history) instead of recomputing it:
 *   ag_session_copy_prefix   from another session: by reference when both caches are blocks of
 *                            the same pool (refcounts, copy on write of a block later written),
 *                            else the rows are copied layer by layer (on the GPU: a device copy
 *                            of the device's layers, cuda_session.cu)
 *   ag_session_save_prefix / ag_session_load_prefix / ag_kv_prefix_free
 *                            a prefix kept apart from any session (the server's prefix cache):
 *                            block references that outlive the session they came from
 * Relies on model/kv_blocks.h for the blocks and session_image.c for the image marks.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "engine/session_impl.h"
#include "gpu/gpu.h"
#include "model/kv_blocks.h"

ag_status ag_session_copy_prefix(ag_session *dst, const ag_session *src, int n, ag_error *err) {
    if (dst == src) return ag_error_set(err, AG_ERR_INVALID_ARG, "a session cannot copy from itself");
    if (dst->model != src->model) return ag_error_set(err, AG_ERR_INVALID_ARG, "sessions of different models");
    /* sessions of one model are both on its GPU or both on the CPU */
    if (dst->gpu ? ag_gpu_session_kv_type(dst->gpu) != ag_gpu_session_kv_type(src->gpu) : dst->kv.type != src->kv.type)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "KV caches of different types");
    if (n < 0 || n > src->n_past || n > dst->n_ctx)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "cannot copy %d positions (source holds %d, target fits %d)", n,
                            src->n_past, dst->n_ctx);
    ag_status st = ag_session_mm_copy(dst, src, n, err);
    if (st) return st;
    if (dst->gpu) { /* the device's layers copied there; with partial offload the CPU's rows below */
        if ((st = ag_gpu_copy_prefix(dst->gpu, src->gpu, n, err))) {
            dst->n_past = 0;
            dst->n_logits = 0;
            ag_session_mm_truncate(dst, 0);
            return st;
        }
        if (!ag_gpu_partial(dst->model)) {
            dst->n_past = n;
            dst->n_logits = 0;
            return AG_OK;
        }
    }
    if (dst->kv.pool && dst->kv.pool == src->kv.pool) {
        ag_kv_cache_share(&dst->kv, &src->kv, n);
    } else {
        ag_kv_cache_truncate(&dst->kv, 0); /* blocks: the rows copied into fresh ones */
        if ((st = ag_kv_cache_copy(&dst->kv, &src->kv, n, src->model->hp.n_layer, err))) {
            dst->n_past = 0;
            dst->n_logits = 0;
            ag_session_mm_truncate(dst, 0);
            return st;
        }
    }
    dst->n_past = n;
    dst->n_logits = 0;
    return AG_OK;
}

/* ---------------------------------------------------------------- prefixes kept apart */

struct ag_kv_prefix {
    const ag_model *model;
    ag_kv_cache kv; /* blocks of the session's pool, n_ctx = n */
    int n;
};

ag_kv_prefix *ag_session_save_prefix(const ag_session *s, int n, ag_error *err) {
    if (!s->kv.pool) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "only a session whose KV cache is in a block pool can keep a prefix apart");
        return NULL;
    }
    if (n < 1 || n > s->n_past) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "cannot keep %d positions (the session holds %d)", n, s->n_past);
        return NULL;
    }
    if (s->n_mm_marks > 0 && s->mm_marks[0][0] <= n) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "a prefix holding images cannot be kept apart");
        return NULL;
    }
    ag_kv_prefix *p = calloc(1, sizeof *p);
    if (!p || ag_kv_cache_init_blocks(&p->kv, s->kv.pool, n, err)) {
        free(p);
        if (!p) ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->model = s->model;
    p->n = n;
    ag_kv_cache_share(&p->kv, &s->kv, n);
    return p;
}

ag_status ag_session_load_prefix(ag_session *s, const ag_kv_prefix *p, int n, ag_error *err) {
    if (!p || p->model != s->model || p->kv.pool != s->kv.pool)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "the prefix belongs to another model or block pool");
    if (n < 0 || n > p->n || n > s->n_ctx)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "cannot take %d positions (the prefix holds %d, the session fits %d)", n,
                            p->n, s->n_ctx);
    ag_session_mm_truncate(s, 0);
    ag_kv_cache_share(&s->kv, &p->kv, n);
    s->n_past = n;
    s->n_logits = 0;
    return AG_OK;
}

int ag_kv_prefix_n_past(const ag_kv_prefix *p) { return p ? p->n : 0; }

void ag_kv_prefix_free(ag_kv_prefix *p) {
    if (!p) return;
    ag_kv_cache_free(&p->kv);
    free(p);
}
