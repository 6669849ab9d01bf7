/*
 * session_abort.c - what a session's forward passes do between layers (model/forward.h:
 * ag_fwd_should_abort): ag_session_set_yield, a callback that may run urgent work (other
 * sessions' passes) before the pass goes on from the next layer, and ag_session_set_abort, a
 * check that stops the pass there. What a stopped pass computed is dropped by session.c /
 * batch.c (n_past unchanged).
 */
#include "engine/session_impl.h"

void ag_session_set_abort(ag_session *s, ag_abort_fn fn, void *ctx) {
    s->scratch.abort_fn = fn;
    s->scratch.abort_ctx = ctx;
    s->scratch.aborted = false;
}

void ag_session_set_yield(ag_session *s, ag_yield_fn fn, void *ctx) {
    s->scratch.yield_fn = fn;
    s->scratch.yield_ctx = ctx;
}
