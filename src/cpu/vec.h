/*
 * vec.h - small vector helpers of the attention loop, each with a scalar twin:
 *   ag_vec_mad_f16(n, y, x, w)    y[i] += w * float(x[i])    (x: IEEE half)
 *   ag_vec_dot_f16_rows(n_rows, out, rows, stride, q, hd, scale)
 *       out[p] = scale * sum_d q[d] * float(row p [d])      attention scores against cached K
 *   ag_vec_mad_f16_rows(n_rows, out, rows, stride, w, hd)
 *       out[d] = sum_p w[p] * float(row p [d])              the weighted sum of cached V
 *   ag_vec_mad_f16_rows_acc(n_rows, acc, rows, stride, w, hd, first_odd) + ag_vec_mad_f16_rows_end
 *       the same sum over rows given in several runs (a KV cache in blocks, model/kv_blocks.h):
 *       acc (2, hd) carries the partial sums of the even- and odd-indexed rows between runs, so
 *       that zeroed acc, the runs in order and _end give exactly ag_vec_mad_f16_rows' bits
 * (rows: IEEE halves, row p at rows + p * stride bytes). The _ref versions are the plain loops
 * the tests compare against.
 */
#ifndef AG_CPU_VEC_H
#define AG_CPU_VEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void ag_vec_mad_f16(int n, float *y, const uint16_t *x, float w);
void ag_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float w);

void ag_vec_dot_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd, float scale);
void ag_vec_dot_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd,
                             float scale);
void ag_vec_mad_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);
void ag_vec_mad_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);
/* first_odd: the run's first row has an odd index in the whole sum (the rows before it: odd count). */
void ag_vec_mad_f16_rows_acc(int n_rows, float *acc, const void *rows, size_t stride, const float *w, int hd,
                             bool first_odd);
void ag_vec_mad_f16_rows_end(float *out, const float *acc, int hd);

#endif
