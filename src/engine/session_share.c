/*
 * session_share.c - ag_session_copy_prefix: a session takes the KV rows of a prefix another
 * session of the same model has computed (a shared system prompt or chat history), so that the
 * prefix is copied instead of recomputed. Rows are copied layer by layer: (n_layer, n, kv_dim)
 * of keys and of values.
 */
#include <string.h>

#include "base/error.h"
#include "engine/session_impl.h"

ag_status ag_session_copy_prefix(ag_session *dst, const ag_session *src, int n, ag_error *err) {
    if (dst == src) return ag_error_set(err, AG_ERR_INVALID_ARG, "a session cannot copy from itself");
    if (dst->model != src->model) return ag_error_set(err, AG_ERR_INVALID_ARG, "sessions of different models");
    if (dst->gpu || src->gpu) return ag_error_set(err, AG_ERR_UNSUPPORTED, "copying a prefix between GPU sessions is not supported yet");
    if (dst->kv.type != src->kv.type) return ag_error_set(err, AG_ERR_INVALID_ARG, "KV caches of different types");
    if (n < 0 || n > src->n_past || n > dst->n_ctx)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "cannot copy %d positions (source holds %d, target fits %d)", n,
                            src->n_past, dst->n_ctx);
    ag_status st = ag_session_mm_copy(dst, src, n, err);
    if (st) return st;
    const size_t rb = src->kv.row_bytes, bytes = (size_t)n * rb;
    for (int il = 0; il < src->model->hp.n_layer; il++) {
        const size_t so = (size_t)il * src->kv.n_ctx * rb, d_o = (size_t)il * dst->kv.n_ctx * rb;
        memcpy(dst->kv.k + d_o, src->kv.k + so, bytes);
        memcpy(dst->kv.v + d_o, src->kv.v + so, bytes);
    }
    dst->n_past = n;
    dst->n_logits = 0;
    return AG_OK;
}
