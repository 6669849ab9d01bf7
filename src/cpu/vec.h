/*
 * vec.h - small vector helpers of the attention loop, each with a scalar twin:
 *   ag_vec_mad_f16(n, y, x, w)    y[i] += w * float(x[i])    (x: IEEE half)
 *   ag_vec_dot_f16_rows(n_rows, out, rows, stride, q, hd, scale)
 *       out[p] = scale * sum_d q[d] * float(row p [d])      attention scores against cached K
 *   ag_vec_mad_f16_rows(n_rows, out, rows, stride, w, hd)
 *       out[d] = sum_p w[p] * float(row p [d])              the weighted sum of cached V
 * (rows: IEEE halves, row p at rows + p * stride bytes). The _ref versions are the plain loops
 * the tests compare against.
 */
#ifndef AG_CPU_VEC_H
#define AG_CPU_VEC_H

#include <stddef.h>
#include <stdint.h>

void ag_vec_mad_f16(int n, float *y, const uint16_t *x, float w);
void ag_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float w);

void ag_vec_dot_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd, float scale);
void ag_vec_dot_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd,
                             float scale);
void ag_vec_mad_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);
void ag_vec_mad_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd);

#endif
