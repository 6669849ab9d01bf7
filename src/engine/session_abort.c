/*
 * session_abort.c - ag_session_set_abort: the check a session's forward passes make between
 * layers (model/forward.h: ag_fwd_should_abort), so that a server can stop low-priority work
 * within one layer when urgent work arrives. What a stopped pass computed is dropped by
 * session.c / batch.c (n_past unchanged).
 */
#include "engine/session_impl.h"

void ag_session_set_abort(ag_session *s, ag_abort_fn fn, void *ctx) {
    s->scratch.abort_fn = fn;
    s->scratch.abort_ctx = ctx;
    s->scratch.aborted = false;
}
