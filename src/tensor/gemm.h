/*
 * gemm.h - matrix products over a tile of weight rows and many tokens at once (prefill), for
 * weight types whose activations are Q8_0 blocks (Q8_0, Q4_0).
 *
 * A plain loop of vec_dot reads and decodes every weight block once per token; these kernels
 * decode a tile of 4 weight rows once and stream all the tokens' activations past them, with
 * 8-bit integer dot products (AVX-512 VNNI). The activation side is prepared once per product:
 *   ag_gemm_prep_act(type, n, xq, n_tok, act)   Q8_0 blocks -> contiguous int8 + scales
 *   ag_gemm_tile(type, n, w, w_row_bytes, n_rows (<= 4), act, n_tok, y, y_stride, scratch)
 *       y[t * y_stride + r] = dot(w row r, activation t)   for r < n_rows, t < n_tok
 * ag_gemm_available tells whether a type has a kernel on this CPU; the scalar reference of
 * these kernels is vec_dot itself (tests compare the two).
 */
#ifndef AG_TENSOR_GEMM_H
#define AG_TENSOR_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define AG_GEMM_ROWS 4 /* weight rows per tile */

bool ag_gemm_available(ag_type wtype, int64_t n);

/* Bytes of the prepared activations of n_tok tokens of n elements. */
size_t ag_gemm_act_bytes(int64_t n, int n_tok);
/* Bytes of per-thread scratch for one tile. */
size_t ag_gemm_tile_scratch_bytes(int64_t n);

void ag_gemm_prep_act(int64_t n, const void *xq, size_t xq_row_bytes, int n_tok, void *act);
void ag_gemm_tile(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *act,
                  int n_tok, float *y, size_t y_stride, void *scratch);

#endif
