/*
 * forward_multi.h - one decode step of several sequences at once: row t of the batch is the next
 * token of its own sequence (its own KV cache and position). Matrix products run over all rows
 * (each weight is read once per step); attention is per row over that row's cache.
 */
#ifndef AG_MODEL_FORWARD_MULTI_H
#define AG_MODEL_FORWARD_MULTI_H

#include "model/forward.h"

/* tokens[t] at position pos[t] of cache kv[t], for t < n (n <= s->n_batch; the caches' n_ctx <=
 * scores_stride, the n_ctx s was made for). Writes logits (n, n_vocab): row t is sequence t's.
 * Stops between layers when s's abort check says so (s->aborted). */
void ag_forward_multi(const ag_model *m, ag_kv_cache *const *kv, const int *pos, ag_fwd_scratch *s,
                      int scores_stride, ag_threadpool *pool, const ag_token *tokens, int n, float *logits);

#endif
