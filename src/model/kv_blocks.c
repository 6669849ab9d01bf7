/*
 * kv_blocks.c - a sequence's KV cache: contiguous (n_layer, n_ctx, row) arrays, or a table of
 * refcounted blocks drawn from a pool shared by sequences (see kv_blocks.h for the layout):
 * allocation, the free list, copy on write, sharing a prefix by reference, release on truncation.
 */
#include "model/kv_blocks.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tensor/quant.h"

/* ---------------------------------------------------------------- contiguous caches */

ag_status ag_kv_cache_init(ag_kv_cache *kv, const ag_model *m, int n_ctx, ag_type type, ag_error *err) {
    memset(kv, 0, sizeof *kv);
    const ag_hparams *hp = &m->hp;
    kv->n_ctx = n_ctx;
    kv->type = type;
    kv->row_bytes = ag_type_row_size(type, (int64_t)hp->n_head_kv * hp->head_dim);
    size_t total = (size_t)hp->n_layer * (size_t)n_ctx * kv->row_bytes;
    kv->k = calloc(1, total);
    kv->v = calloc(1, total);
    if (!kv->k || !kv->v) {
        ag_kv_cache_free(kv);
        return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate the KV cache (%zu MiB for %d tokens)",
                            2 * total >> 20, n_ctx);
    }
    return AG_OK;
}

void ag_kv_cache_free(ag_kv_cache *kv) {
    if (kv->pool) ag_kv_cache_truncate(kv, 0);
    free(kv->k);
    free(kv->v);
    free(kv->table);
    memset(kv, 0, sizeof *kv);
}

/* ---------------------------------------------------------------- the pool */

ag_status ag_kv_pool_init(struct ag_kv_pool *p, const ag_model *m, ag_type type, int n_blocks, ag_error *err) {
    memset(p, 0, sizeof *p);
    if (n_blocks < 1) return ag_error_set(err, AG_ERR_INVALID_ARG, "a KV block pool needs at least one block");
    const ag_hparams *hp = &m->hp;
    p->model = m;
    p->type = type;
    p->n_layer = hp->n_layer;
    p->row_bytes = ag_type_row_size(type, (int64_t)hp->n_head_kv * hp->head_dim);
    p->half_bytes = (size_t)hp->n_layer * AG_KV_BLOCK * p->row_bytes;
    p->n_blocks = n_blocks;
    p->mem = calloc((size_t)n_blocks, 2 * p->half_bytes);
    p->refs = calloc((size_t)n_blocks, sizeof *p->refs);
    p->free_ids = malloc((size_t)n_blocks * sizeof *p->free_ids);
    if (!p->mem || !p->refs || !p->free_ids) {
        ag_kv_pool_destroy(p);
        return ag_error_set(err, AG_ERR_NOMEM, "cannot allocate a KV block pool of %d blocks (%zu MiB)", n_blocks,
                            ((size_t)n_blocks * 2 * p->half_bytes) >> 20);
    }
    for (int i = 0; i < n_blocks; i++) p->free_ids[i] = n_blocks - 1 - i; /* block 0 comes out first */
    p->n_free = n_blocks;
    atomic_store(&p->n_used, 0);
    return AG_OK;
}

void ag_kv_pool_destroy(struct ag_kv_pool *p) {
    free(p->mem);
    free(p->refs);
    free(p->free_ids);
    memset(p, 0, sizeof *p);
}

static int block_alloc(struct ag_kv_pool *p) {
    while (p->n_free == 0 && p->reclaim && p->reclaim(p->reclaim_ctx)) {
    }
    if (p->n_free == 0) return -1;
    const int b = p->free_ids[--p->n_free];
    p->refs[b] = 1;
    atomic_store(&p->n_used, p->n_blocks - p->n_free);
    return b;
}

static void block_unref(struct ag_kv_pool *p, int b) {
    if (--p->refs[b] > 0) return;
    p->free_ids[p->n_free++] = b;
    atomic_store(&p->n_used, p->n_blocks - p->n_free);
}

/* ---------------------------------------------------------------- caches in blocks */

ag_status ag_kv_cache_init_blocks(ag_kv_cache *kv, struct ag_kv_pool *pool, int n_ctx, ag_error *err) {
    memset(kv, 0, sizeof *kv);
    kv->n_ctx = n_ctx;
    kv->type = pool->type;
    kv->row_bytes = pool->row_bytes;
    kv->pool = pool;
    kv->n_table = (n_ctx + AG_KV_BLOCK - 1) / AG_KV_BLOCK;
    kv->table = malloc((size_t)(kv->n_table > 0 ? kv->n_table : 1) * sizeof *kv->table);
    if (!kv->table) {
        memset(kv, 0, sizeof *kv);
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < kv->n_table; i++) kv->table[i] = -1;
    return AG_OK;
}

ag_status ag_kv_cache_prepare(ag_kv_cache *kv, int pos0, int n, ag_error *err) {
    struct ag_kv_pool *p = kv->pool;
    if (!p || n <= 0) return AG_OK;
    const int b1 = (pos0 + n - 1) / AG_KV_BLOCK;
    for (int i = pos0 / AG_KV_BLOCK; i <= b1; i++) {
        const int old = kv->table[i];
        if (old >= 0 && p->refs[old] == 1) continue; /* ours alone: write in place */
        const int b = block_alloc(p);
        if (b < 0)
            return ag_error_set(err, AG_ERR_NOMEM,
                                "the KV block pool is full: all %d blocks of %d positions are in use", p->n_blocks,
                                AG_KV_BLOCK);
        if (old >= 0) { /* held by others too: copy it, then write into the copy */
            memcpy(p->mem + (size_t)b * 2 * p->half_bytes, p->mem + (size_t)old * 2 * p->half_bytes, 2 * p->half_bytes);
            block_unref(p, old);
        }
        kv->table[i] = b;
    }
    return AG_OK;
}

void ag_kv_cache_truncate(ag_kv_cache *kv, int n_keep) {
    if (!kv->pool) return;
    if (n_keep < 0) n_keep = 0;
    for (int i = (n_keep + AG_KV_BLOCK - 1) / AG_KV_BLOCK; i < kv->n_table; i++)
        if (kv->table[i] >= 0) {
            block_unref(kv->pool, kv->table[i]);
            kv->table[i] = -1;
        }
}

void ag_kv_cache_share(ag_kv_cache *dst, const ag_kv_cache *src, int n) {
    struct ag_kv_pool *p = dst->pool;
    const int nb = (n + AG_KV_BLOCK - 1) / AG_KV_BLOCK;
    for (int i = 0; i < nb; i++) p->refs[src->table[i]]++; /* before releasing: dst may hold the same ones */
    ag_kv_cache_truncate(dst, 0);
    for (int i = 0; i < nb; i++) dst->table[i] = src->table[i];
}

ag_status ag_kv_cache_copy(ag_kv_cache *dst, const ag_kv_cache *src, int n, int n_layer, ag_error *err) {
    ag_status st = ag_kv_cache_prepare(dst, 0, n, err);
    if (st) return st;
    for (int il = 0; il < n_layer; il++)
        for (int p = 0; p < n;) { /* runs as long as both caches keep their rows consecutive */
            uint8_t *sk, *sv, *dk, *dv;
            int r = ag_kv_run(src, il, p, n - p, &sk, &sv);
            r = ag_kv_run(dst, il, p, r, &dk, &dv);
            memcpy(dk, sk, (size_t)r * src->row_bytes);
            memcpy(dv, sv, (size_t)r * src->row_bytes);
            p += r;
        }
    return AG_OK;
}

int ag_kv_cache_n_blocks(const ag_kv_cache *kv) {
    int n = 0;
    for (int i = 0; kv->pool && i < kv->n_table; i++) n += kv->table[i] >= 0;
    return n;
}
