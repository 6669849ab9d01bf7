/*
 * vec_q.h - the weighted sum of cached V rows stored as Q8_0 or Q4_0 blocks (a quantized KV
 * cache), each variant with the scalar reference it is tested against:
 *   ag_vec_mad_q_rows(type, n_rows, out, rows, stride, w, hd)
 *       out[d] = sum_p w[p] * dequant(row p)[d]          row p at rows + p * stride bytes
 *   ag_vec_mad_q_rows_add(...)   out[d] += the same sum (rows in runs: the same bits as one call)
 * hd is a multiple of 32 (one block per 32 elements). Block layouts as in tensor/quant_impl.h:
 *   Q8_0 34 B: f16 d | i8 qs[32]    x[j] = qs[j] * d
 *   Q4_0 18 B: f16 d | u8 qs[16]    x[j] = (lo(qs[j]) - 8) * d, x[j+16] = (hi(qs[j]) - 8) * d
 */
#ifndef AG_CPU_VEC_Q_H
#define AG_CPU_VEC_Q_H

#include <stddef.h>

#include "tensor/quant.h"

typedef void (*ag_vec_mad_q_rows_fn)(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);

/* The kernel of one instruction set for type (Q8_0 or Q4_0), adding to out; NULL when this CPU lacks isa
 * or the type is not one of them. */
ag_vec_mad_q_rows_fn ag_vec_mad_q_rows_isa(ag_type type, ag_isa isa);
/* The fastest kernel this CPU has. */
void ag_vec_mad_q_rows(ag_type type, int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);
void ag_vec_mad_q_rows_add(ag_type type, int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);

#endif
