/*
 * kgemm.h - matrix products of K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) with activations
 * quantized once per product to Q8_K (tensor/quant_k_impl.h), AVX-512 BW/VNNI.
 *
 *   ag_q8k_quantize(x, y, n)        x (n floats) -> y (n/256 Q8_K blocks), bytes identical to
 *                                   the scalar reference quantizer (SIMD when the CPU has it)
 *   ag_kact_quantize(x, row, n)     the prepared row the kernels take (ag_kact_row_bytes(n)):
 *                                   the Q8_K blocks (what vec_dot reads), then per block
 *                                   ag_kact_extra: the codes in Q4_K/Q5_K's order (kgemm_x86.h)
 *                                   and d * bsums as floats, so that no kernel rebuilds them
 *   ag_kgemv(type, n, w, w_row_bytes, n_rows, a, y)                 one token (decode):
 *       y[r] = dot(w row r, a)      r < n_rows; rows read once, one after the other,
 *                                   straight from the weights, two blocks of 256 per step
 *   ag_kgemv_few(type, n, w, w_row_bytes, n_rows, a, a_row_bytes, n_tok, y, y_stride)
 *                                   a few tokens (batched decode): each block decoded once
 *   ag_kgemm_tile(type, n, w, w_row_bytes, n_rows (<= AG_KGEMM_ROWS), a, a_row_bytes, n_tok,
 *                 y, y_stride, scratch)                             many tokens (prefill):
 *       y[t * y_stride + r] = dot(w row r, a row t)
 *     the tile's rows are decoded once into scratch, then 4 rows x 2 tokens at a time
 *     (for each 4 rows, every token).
 *
 * Every type is read the same way: per block, 4 chunks of 64 codes as unsigned bytes u
 * (Q3_K: q + 4, Q6_K: q + 32), the group scales as i16, and
 *   block = d_a * d_w * (sum_k sum u*a*sc  +  sum_g off_g * bsums_g)  -  sum_g mf_g * d_a * bsums_g
 * with off_g = -4 sc_g (Q3_K), -32 sc_g (Q6_K), else 0, and mf_g = dmin * m of group g (Q2_K,
 * Q4_K, Q5_K), else 0. The integer sums per block equal the reference's; float sums are taken
 * in a different order, so results equal the reference vec_dot within float rounding.
 */
#ifndef AG_TENSOR_KGEMM_H
#define AG_TENSOR_KGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define AG_KGEMM_ROWS 16 /* weight rows per tile (at most) */

/* True when the CPU has the kernels (ag_gemm_cpu_ok), type is Q2_K..Q6_K and n % 256 == 0. */
bool ag_kgemm_available(ag_type wtype, int64_t n);

void ag_q8k_quantize(const float *x, void *y, int64_t n);

typedef struct {
    int8_t qp[256]; /* 32-byte runs of groups g, g + 2 side by side: runs 0, 2, 1, 3, 4, 6, 5, 7 */
    float bsf[16];  /* d * bsums */
} ag_kact_extra;    /* 320 bytes */

size_t ag_kact_row_bytes(int64_t n);
void ag_kact_quantize(const float *x, void *row, int64_t n);
static inline const ag_kact_extra *ag_kact_extras(const void *row, int64_t n) {
    return (const ag_kact_extra *)((const uint8_t *)row + (((size_t)(n / 256) * 292 + 63) & ~(size_t)63));
}

/* a: prepared rows (ag_kact_quantize) */
void ag_kgemv(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *a, float *y);

/* A few tokens (kgemv_few.c; best up to AG_GEMV_FEW_MAX of gemm.h): y[t * y_stride + r] = dot(w
 * row r, a row t), each row read once and each of its blocks decoded once; the same bits per row
 * and token as ag_kgemv. */
void ag_kgemv_few(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *a,
                  size_t a_row_bytes, int n_tok, float *y, size_t y_stride);

size_t ag_kgemm_tile_scratch_bytes(int64_t n);
void ag_kgemm_tile(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *a,
                   size_t a_row_bytes, int n_tok, float *y, size_t y_stride, void *scratch);

#endif
