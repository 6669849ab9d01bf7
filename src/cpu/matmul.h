/*
 * matmul.h - matrix products over quantized or float weights, parallel over weight rows with
 * the thread pool:  Y (n_tok, d) = X (n_tok, n) @ W^T,  W: d rows of n elements (type wtype).
 *
 * X is converted once per product (once for several products of the same X with
 * ag_matmul_multi): to the prepared 8-bit layout of tensor/qact.h when the type has integer
 * kernels (tensor/gemm.h: one token reads each row once; several tokens go by tiles of rows
 * decoded once); for F16 weights and several tokens, to floats rounded to f16 for F32 FMA
 * tiles; for K-quant weights (any mix of Q2_K..Q6_K), to Q8_K in SIMD for the kernels of
 * tensor/kgemm.h (decode rows, prefill tiles); else to the type's vec_dot_type for a loop of
 * vec_dot.
 */
#ifndef AG_CPU_MATMUL_H
#define AG_CPU_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "tensor/types.h"

typedef struct {
    const void *w;
    ag_type wtype;
    size_t w_row_bytes;
    int64_t n; /* input dimension (elements per row) */
    int64_t d; /* output dimension (rows) */
    bool packed; /* rows in tensor/repack.h's layout (Q4_0 / Q8_0 the model repacked at load) */
} ag_matmul_weight;

/* Scratch for ag_matmul, sized by ag_matmul_scratch_init for the largest n and n_tok used. */
typedef struct {
    void *xq;          /* n_tok rows of activations in the vec_dot type */
    void *act;         /* n_tok rows prepared for the integer kernels (64-byte aligned) */
    void *act_alloc;   /* what act points into */
    float *xf;         /* n_tok rows rounded to f16 values (F16 tiles; NULL for max_tok 1) */
    uint8_t *tiles;    /* per-thread tile scratch */
    size_t tile_bytes; /* bytes per thread */
    int max_tok;
} ag_matmul_scratch;

size_t ag_matmul_scratch_row(ag_type wtype, int64_t n);
bool ag_matmul_scratch_init(ag_matmul_scratch *s, int64_t max_n, size_t max_xq_row, int max_tok, int n_threads);
void ag_matmul_scratch_free(ag_matmul_scratch *s);

void ag_matmul(ag_threadpool *pool, const ag_matmul_weight *w, const float *x, float *y, int n_tok,
               const ag_matmul_scratch *scratch);
/* ys[i] = X @ ws[i]^T for n_w (<= 4) weights of the same input size n, in one parallel loop. */
void ag_matmul_multi(ag_threadpool *pool, const ag_matmul_weight *const *ws, float *const *ys, int n_w,
                     const float *x, int n_tok, const ag_matmul_scratch *scratch);

#endif
