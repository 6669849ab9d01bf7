/*
 * ops.h - the F32 operations of a forward pass (scalar reference versions); the matrix
 * products are in cpu/matmul.h (included here).
 */
#ifndef AG_CPU_OPS_H
#define AG_CPU_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "cpu/matmul.h"
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

/* Scalar references of the above, and the AVX-512 versions (ops_avx512.c; callable only when
 * ag_ops_avx512_ok()): the same results up to the last bits of exp (polynomial vs libm) and
 * summation order. The plain names pick the fastest. */
void ag_rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps);
void ag_softmax_ref(float *x, int n);
void ag_silu_mul_ref(float *gate, const float *up, int n);
bool ag_ops_avx512_ok(void);
void ag_rmsnorm_avx512(float *y, const float *x, const float *w, int n, float eps);
void ag_softmax_avx512(float *x, int n);
void ag_silu_mul_avx512(float *gate, const float *up, int n);
/* y[i] = exp(x[i]), the AVX-512 exponential (for tests; the scalar twin is expf) */
void ag_vec_exp_avx512(float *y, const float *x, int n);

/* One row of a weight matrix as floats (embedding lookup). */
void ag_weight_row_to_float(const void *w, ag_type type, size_t row_bytes, int64_t row,
                            int64_t n, float *out);

#endif
