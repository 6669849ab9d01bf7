/*
 * forward_arch.h - the family-dependent steps of the decoder forward pass (forward.c calls them;
 * what each family does is read from ag_hparams / arch.h and from which tensors are present):
 *   ag_fwd_qkv       q, k, v of a batch: fused or separate projections, biases, per-head Q/K
 *                    RMSNorm, rotary (interleaved or halves; sliding layers' own base)
 *   ag_fwd_ffn       the feed-forward of a batch: gated SiLU/GELU, fused [gate; up], or experts
 *   ag_fwd_post_norm an optional RMSNorm of a block's output before the residual add
 *   ag_fwd_moe       the mixture-of-experts feed-forward (forward_moe.c)
 * and the extra scratch they need per token (ag_fwd_arch_floats).
 */
#ifndef AG_MODEL_FORWARD_ARCH_H
#define AG_MODEL_FORWARD_ARCH_H

#include "model/arch.h"
#include "model/forward.h"

/* Floats of extra scratch per token of the batch (fused outputs, expert routing). */
size_t ag_fwd_arch_floats(const ag_model *m);

/* The rotary divisors a session of n_ctx positions uses: longrope's long factors past the original
 * context, else its short ones, yarn's, Llama 3's rope_freqs, or NULL. */
const float *ag_fwd_rope_factors(const ag_model *m, int n_ctx);

/* s->xb (n, n_embd) normed input -> s->q (n, q_dim), s->k, s->v (n, kv_dim), rotated. */
void ag_fwd_qkv(const ag_model *m, const ag_layer *l, int il, ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0);
/* The same with row t at position pos[t] (rows of different sequences; pos NULL = pos0 + t). */
void ag_fwd_qkv_at(const ag_model *m, const ag_layer *l, int il, ag_fwd_scratch *s, ag_threadpool *pool, int n, int pos0,
                   const int *pos);

/* s->xb (n, n_embd) normed input -> s->xb (n, n_embd) feed-forward output. */
void ag_fwd_ffn(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n);

/* y (n, n_embd) = rmsnorm(y) * w when w is present. */
void ag_fwd_post_norm(const ag_model *m, const ag_weight *w, float *y, int n);

/* The experts: s->xb (n, n_embd) -> s->xb. */
void ag_fwd_moe(const ag_model *m, const ag_layer *l, ag_fwd_scratch *s, ag_threadpool *pool, int n);

void ag_fwd_matmul(ag_threadpool *pool, const ag_weight *w, const float *x, float *y, int n, const ag_matmul_scratch *mm);

#endif
