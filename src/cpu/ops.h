/*
 * ops.h - the F32 operations of a forward pass (scalar reference versions) and the matrix
 * product over quantized weights, parallelized over weight rows with the thread pool.
 */
#ifndef AG_CPU_OPS_H
#define AG_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "tensor/types.h"

/* y = x / sqrt(mean(x^2) + eps) * w                     x, y, w: (n) */
void ag_rmsnorm(float *y, const float *x, const float *w, int n, float eps);

/* Rotary position embedding, adjacent pairs (x[2i], x[2i+1]) rotated by pos * theta_i,
 * theta_i = base^(-2i/n_rot) / freq_factors[i] (factors optional), i < n_rot/2; dims past
 * n_rot untouched. x: (n_head, head_dim) in place. */
void ag_rope(float *x, int n_head, int head_dim, int n_rot, float pos, float base,
             const float *freq_factors);

/* x = softmax(x) in place, over n values. */
void ag_softmax(float *x, int n);

/* gate = silu(gate) * up                                 (n) */
void ag_silu_mul(float *gate, const float *up, int n);

/* Y (n_tok, d) = X (n_tok, n) @ W^T, W (d rows of n elements, type wtype, row_bytes each).
 * X is first converted to the weight type's vec_dot_type; with several tokens and a tile
 * kernel for the type (tensor/gemm.h), weight rows are decoded once per tile for all tokens. */
typedef struct {
    const void *w;
    ag_type wtype;
    size_t w_row_bytes;
    int64_t n; /* input dimension (elements per row) */
    int64_t d; /* output dimension (rows) */
} ag_matmul_weight;

/* Scratch for ag_matmul, sized by ag_matmul_scratch_init for the largest n and n_tok used. */
typedef struct {
    void *xq;          /* n_tok rows of activations in the vec_dot type */
    void *act;         /* the same, prepared for tile kernels */
    uint8_t *tiles;    /* per-thread tile scratch */
    size_t tile_bytes; /* bytes per thread */
} ag_matmul_scratch;

size_t ag_matmul_scratch_row(ag_type wtype, int64_t n);
bool ag_matmul_scratch_init(ag_matmul_scratch *s, int64_t max_n, size_t max_xq_row, int max_tok, int n_threads);
void ag_matmul_scratch_free(ag_matmul_scratch *s);
void ag_matmul(ag_threadpool *pool, const ag_matmul_weight *w, const float *x, float *y, int n_tok,
               const ag_matmul_scratch *scratch);

/* One row of a weight matrix as floats (embedding lookup). */
void ag_weight_row_to_float(const void *w, ag_type type, size_t row_bytes, int64_t row,
                            int64_t n, float *out);

#endif
