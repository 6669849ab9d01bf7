/*
 * vec.h - small vector helpers of the attention loop, each with a scalar twin:
 *   ag_vec_mad_f16(n, y, x, w)    y[i] += w * float(x[i])    (x: IEEE half)
 * The _ref versions are the plain loops the tests compare against.
 */
#ifndef AG_CPU_VEC_H
#define AG_CPU_VEC_H

#include <stdint.h>

void ag_vec_mad_f16(int n, float *y, const uint16_t *x, float w);
void ag_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float w);

#endif
