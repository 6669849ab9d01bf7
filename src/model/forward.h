/*
 * forward.h - the decoder forward pass over a batch of tokens, with its KV cache and scratch.
 *
 * The caller (engine/session.c) owns an ag_kv_cache and an ag_fwd_scratch sized at creation;
 * ag_forward allocates nothing. Positions pos0 .. pos0+n-1 of the cache are written.
 */
#ifndef AG_MODEL_FORWARD_H
#define AG_MODEL_FORWARD_H

#include "base/threadpool.h"
#include "cpu/ops.h"
#include "model/model.h"

/* One sequence's keys and values, in one of two layouts (model/kv_blocks.h reads both):
 *   contiguous  k, v (n_layer, n_ctx, row), allocated whole by ag_kv_cache_init
 *   blocks      pool != NULL: position p is in block table[p / AG_KV_BLOCK] of the pool (refcounted,
 *               shared between sequences), allocated as positions are written (ag_kv_cache_prepare) */
typedef struct {
    int n_ctx;
    ag_type type;       /* F16 (default, as the reference), F32, Q8_0 or Q4_0 */
    size_t row_bytes;   /* bytes of one position's keys (or values) of one layer */
    uint8_t *k, *v;     /* contiguous: (n_layer, n_ctx, n_head_kv*head_dim); NULL with a pool */
    struct ag_kv_pool *pool; /* blocks: the pool they come from (not owned) */
    int32_t *table;     /* blocks: (n_table) block id of positions [i*AG_KV_BLOCK, (i+1)*AG_KV_BLOCK), -1 none */
    int n_table;
} ag_kv_cache;

ag_status ag_kv_cache_init(ag_kv_cache *kv, const ag_model *m, int n_ctx, ag_type type, ag_error *err);
void ag_kv_cache_free(ag_kv_cache *kv); /* both layouts (blocks: each released to its pool) */

typedef struct {
    int n_batch;   /* most tokens per ag_forward call */
    int n_threads;
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xb;     /* (n_batch, max(n_embd, q_dim)) normed input / attention output */
    float *q;      /* (n_batch, n_head*head_dim) */
    float *k, *v;  /* (n_batch, n_head_kv*head_dim) */
    float *hb;     /* (n_batch, max(n_ff, n_embd)) gate; attention projection */
    float *hb2;    /* (n_batch, n_ff) up */
    float *scores; /* (n_threads, n_ctx) attention weights of one head */
    float *qh;     /* (n_threads, head_dim) one head's query in the cache's type (as bytes) */
    float *vacc;   /* (n_threads, 2*head_dim) partial sums of V rows between runs of the cache */
    float *arch;   /* (n_batch, ag_fwd_arch_floats) fused QKV / gate-up outputs, expert routing */
    const float *rope_ff; /* (n_rot/2) rotary divisors for this context size, or NULL (ag_fwd_rope_factors) */
    ag_matmul_scratch mm; /* activations converted for the matmul kernels */
    /* multimodal input (engine/session_image.c), set for one ag_forward call and cleared after it */
    const float *const *embd_rows; /* (n) per token: its input embedding row, or NULL for the token's own */
    const int32_t *mrope_pos;      /* (n, 3) (t, h, w) rotary positions (hp->mrope), or NULL */
    int rope_delta;                /* else rotary position = cache position + rope_delta (text after images) */
    const int *rope_delta_rows;    /* ag_forward_multi: per row (NULL = 0) */
    bool (*abort_fn)(void *ctx); /* asked between layers; true stops the pass (NULL: never) */
    void *abort_ctx;
    bool aborted;         /* set when the last pass stopped early: its outputs are invalid */
    void (*yield_fn)(void *ctx); /* called between layers; may run other sessions' passes (NULL: never) */
    void *yield_ctx;
} ag_fwd_scratch;

/* The abort check alone (sets s->aborted). */
static inline bool ag_fwd_abort_check(ag_fwd_scratch *s) {
    return s->abort_fn && (s->aborted = s->abort_fn(s->abort_ctx));
}
/* Between layers: the yield point (other work runs, this pass's state stays in s and its cache),
 * then the abort check. */
static inline bool ag_fwd_should_abort(ag_fwd_scratch *s) {
    if (s->yield_fn) s->yield_fn(s->yield_ctx);
    return ag_fwd_abort_check(s);
}

ag_status ag_fwd_scratch_init(ag_fwd_scratch *s, const ag_model *m, int n_batch, int n_ctx,
                              int n_threads, ag_error *err);
void ag_fwd_scratch_free(ag_fwd_scratch *s);

/* Runs tokens[0..n) (n <= n_batch) at positions pos0.. and writes logits: of every token
 * ((n, n_vocab)) when all_logits, else of the last one ((n_vocab)). s->aborted tells whether the
 * abort check stopped it (then the cache rows at pos0.. and the logits are garbage). */
void ag_forward(const ag_model *m, ag_kv_cache *kv, ag_fwd_scratch *s, ag_threadpool *pool,
                const ag_token *tokens, int n, int pos0, float *logits, bool all_logits);

/* The same from layer il0 on, with the residual stream of the n tokens already in s->x (the
 * hidden states after layer il0 - 1): partial offload runs the first layers on a GPU (gpu/) and
 * hands them over here. Only the cache rows of layers il0.. are written. */
void ag_forward_layers(const ag_model *m, ag_kv_cache *kv, ag_fwd_scratch *s, ag_threadpool *pool, int il0, int n,
                       int pos0, float *logits, bool all_logits);

#endif
