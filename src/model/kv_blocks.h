/*
 * kv_blocks.h - the KV cache in refcounted blocks (kv_blocks.c), and ag_kv_run, which reads an
 * ag_kv_cache of either layout (forward.h) as runs of consecutive positions, as the attention
 * (forward.c, forward_multi.c, kv_quant.c) and the row stores do.
 *
 * A block holds AG_KV_BLOCK positions of every layer:
 *   block b = K (n_layer, AG_KV_BLOCK, row_bytes) | V (n_layer, AG_KV_BLOCK, row_bytes)
 * so inside a block one layer's rows are row_bytes apart as in a contiguous cache, and the row
 * kernels run over up to a block at a time. A pool is one allocation of n_blocks blocks (calloc:
 * pages are touched only when used), a refcount per block and a free list. A sequence's cache
 * holds a table position -> block; sequences share a prefix by holding the same blocks
 * (refcount > 1); a block that others hold is copied before a sequence writes into it (copy on
 * write, only the block written). Blocks return to the free list at refcount 0.
 * Not thread-safe: one thread at a time works on a pool and the caches drawing from it; n_used
 * may be read from any thread (a gauge).
 */
#ifndef AG_MODEL_KV_BLOCKS_H
#define AG_MODEL_KV_BLOCKS_H

#include <stdatomic.h>

#include "model/forward.h"

enum { AG_KV_BLOCK = 32 }; /* positions per block */

/* Called when no block is free: may release blocks (drop cached prefixes); true when it did. */
typedef bool (*ag_kv_reclaim_fn)(void *ctx);

struct ag_kv_pool {
    const ag_model *model;
    ag_type type;
    int n_layer;
    size_t row_bytes;  /* one position's K (or V) of one layer */
    size_t half_bytes; /* K (or V) of one block: n_layer * AG_KV_BLOCK * row_bytes */
    int n_blocks;
    uint8_t *mem;      /* (n_blocks, 2, n_layer, AG_KV_BLOCK, row_bytes) */
    int32_t *refs;     /* (n_blocks) holders of each block; 0 = on the free list */
    int32_t *free_ids; /* (n_blocks) the free list: its first n_free entries */
    int n_free;
    atomic_int n_used; /* n_blocks - n_free, for gauges */
    ag_kv_reclaim_fn reclaim;
    void *reclaim_ctx;
};

ag_status ag_kv_pool_init(struct ag_kv_pool *p, const ag_model *m, ag_type type, int n_blocks, ag_error *err);
void ag_kv_pool_destroy(struct ag_kv_pool *p); /* the memory; every block must be free */

/* A cache of n_ctx positions drawing blocks from pool (none held yet). */
ag_status ag_kv_cache_init_blocks(ag_kv_cache *kv, struct ag_kv_pool *pool, int n_ctx, ag_error *err);
/* Makes positions pos0 .. pos0+n-1 writable: allocates missing blocks, copies blocks others hold.
 * AG_ERR_NOMEM when the pool (after its reclaim callback) has no free block. Contiguous: AG_OK. */
ag_status ag_kv_cache_prepare(ag_kv_cache *kv, int pos0, int n, ag_error *err);
/* Releases the blocks wholly past the first n_keep positions (contiguous: nothing to do). */
void ag_kv_cache_truncate(ag_kv_cache *kv, int n_keep);
/* dst (blocks) holds the first n positions of src (blocks of the same pool) by reference; dst's
 * earlier blocks are released. */
void ag_kv_cache_share(ag_kv_cache *dst, const ag_kv_cache *src, int n);
/* dst takes a copy of src's first n positions, any layouts of the same model and type. */
ag_status ag_kv_cache_copy(ag_kv_cache *dst, const ag_kv_cache *src, int n, int n_layer, ag_error *err);
/* Blocks the cache holds (a refcount each). */
int ag_kv_cache_n_blocks(const ag_kv_cache *kv);

/* Layer il's rows from position p on as one run of consecutive rows, row_bytes apart: *k, *v
 * point at position p's keys and values; returns the run's length (<= n_max): the rest of p's
 * block, or n_max in a contiguous cache. */
static inline int ag_kv_run(const ag_kv_cache *kv, int il, int p, int n_max, uint8_t **k, uint8_t **v) {
    if (!kv->pool) {
        const size_t off = ((size_t)il * (size_t)kv->n_ctx + (size_t)p) * kv->row_bytes;
        *k = kv->k + off;
        *v = kv->v + off;
        return n_max;
    }
    const struct ag_kv_pool *pl = kv->pool;
    const int in = p % AG_KV_BLOCK, left = AG_KV_BLOCK - in;
    uint8_t *base = pl->mem + (size_t)kv->table[p / AG_KV_BLOCK] * 2 * pl->half_bytes +
                    ((size_t)il * AG_KV_BLOCK + (size_t)in) * kv->row_bytes;
    *k = base;
    *v = base + pl->half_bytes;
    return n_max < left ? n_max : left;
}

#endif
