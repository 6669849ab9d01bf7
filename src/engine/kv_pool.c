/*
 * kv_pool.c - the public face of a KV block pool (include/autoglm/autoglm.h: ag_kv_pool_*): one
 * pool of refcounted blocks of AG_KV_BLOCK positions per model and KV type, from which sessions
 * created with ag_session_params.kv_pool draw their caches. The mechanics are model/kv_blocks.c.
 */
#include <stdlib.h>

#include "base/error.h"
#include "engine/session_impl.h"
#include "model/kv_blocks.h"

ag_kv_pool *ag_kv_pool_new(const ag_model *m, const char *kv_type, int n_blocks, ag_error *err) {
    ag_type type;
    if (!m || m->vocab_only || ag_model_is_embedding(m)) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "a KV block pool needs a loaded decoder model");
        return NULL;
    }
    if (ag_session_kv_type_parse(kv_type, m->hp.head_dim, &type, err)) return NULL;
    ag_kv_pool *p = malloc(sizeof *p);
    if (!p) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (ag_kv_pool_init(p, m, type, n_blocks, err)) {
        free(p);
        return NULL;
    }
    return p;
}

void ag_kv_pool_free(ag_kv_pool *p) {
    if (!p) return;
    ag_kv_pool_destroy(p);
    free(p);
}

int ag_kv_pool_block_positions(void) { return AG_KV_BLOCK; }
int ag_kv_pool_n_blocks(const ag_kv_pool *p) { return p ? p->n_blocks : 0; }
int ag_kv_pool_n_used(const ag_kv_pool *p) { return p ? atomic_load(&((ag_kv_pool *)p)->n_used) : 0; }
size_t ag_kv_pool_block_bytes(const ag_kv_pool *p) { return p ? 2 * p->half_bytes : 0; }

void ag_kv_pool_set_reclaim(ag_kv_pool *p, bool (*fn)(void *ctx), void *ctx) {
    p->reclaim = fn;
    p->reclaim_ctx = ctx;
}

int ag_session_kv_blocks(const ag_session *s) { return ag_kv_cache_n_blocks(&s->kv); }
