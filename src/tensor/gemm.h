/*
 * gemm.h - 8-bit integer matrix products of quantized weights (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0)
 * with activations prepared once per product (tensor/qact.h), AVX-512 VNNI.
 *
 *   ag_gemv(type, packed, n, w, w_row_bytes, n_rows, act, y)    one token (decode):
 *       y[r] = dot(w row r, act)                 r < n_rows, read straight from the weights
 *   ag_gemv_few(..., act_row_bytes, n_tok, y, y_stride)             a few tokens (batched decode)
 *   ag_gemm_tile(type, n, w, w_row_bytes, n_rows (<= 16), act, act_row_bytes, n_tok, y,
 *                y_stride, scratch)                              many tokens (prefill):
 *       y[t * y_stride + r] = dot(w row r, act row t)            r < n_rows, t < n_tok
 *     the tile's rows are decoded once into scratch (codes u as unsigned bytes in the lo/hi
 *     layout of qact.h, scales spread per lane), then 4 rows x 4 tokens are computed at once.
 * Every weight type is read as codes u with x = (u - off) * d (+ m for Q4_1/Q5_1): off = 8
 * (Q4_0), 16 (Q5_0), 128 (Q8_0: u = q + 128) or 0, removed exactly with the activations' nsum.
 *
 * ag_gemm_dot_ref is the scalar reference of one dot product (tests compare both kernels with
 * it, and it with vec_dot on Q8_0/Q8_1 blocks). ag_gemm_available tells whether this CPU and
 * this type/size have the kernels.
 */
#ifndef AG_TENSOR_GEMM_H
#define AG_TENSOR_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tensor/types.h"

#define AG_GEMM_ROWS 16 /* weight rows per tile (at most) */

/* True when the CPU has AVX-512 F/BW/VL/VNNI/BF16 + FMA + F16C (checked once per process). */
bool ag_gemm_cpu_ok(void);
bool ag_gemm_available(ag_type wtype, int64_t n);

/* packed: the rows are in tensor/repack.h's layout (Q4_0, Q8_0 only), else as in the file. */
void ag_gemv(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows,
             const void *act, float *y);

/* A few tokens (gemv_few.c; any n_tok, best up to AG_GEMV_FEW_MAX): y[t * y_stride + r] =
 * dot(w row r, act row t), rows read straight from the weights once per 4 tokens. */
#define AG_GEMV_FEW_MAX 8
void ag_gemv_few(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows,
                 const void *act, size_t act_row_bytes, int n_tok, float *y, size_t y_stride);

/* Bytes of per-thread scratch for one tile. */
size_t ag_gemm_tile_scratch_bytes(int64_t n);
void ag_gemm_tile(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *act,
                  size_t act_row_bytes, int n_tok, float *y, size_t y_stride, void *scratch);

/* F16 weights (gemm_f16.c): x holds n_tok rows of floats (x_stride apart) already rounded to
 * f16 values; y[t * y_stride + r] = dot(w row r, x row t), F32 FMA, any n_rows. */
bool ag_gemm_f16_available(int64_t n);
/* out[i] = x[i] rounded to the nearest f16 value (SIMD, identical to the scalar conversions). */
void ag_f16_round(const float *x, float *out, int64_t n);
void ag_gemm_f16_tile(int64_t n, const void *w, size_t w_row_bytes, int n_rows, const float *x, size_t x_stride,
                      int n_tok, float *y, size_t y_stride);

float ag_gemm_dot_ref(ag_type wtype, bool packed, int64_t n, const void *wrow, const void *act);

#endif
