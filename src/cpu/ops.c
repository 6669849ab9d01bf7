/*
 * ops.c - scalar F32 operations (see ops.h): the references, and the dispatch to the AVX-512
 * versions of ops_avx512.c when the CPU has them.
 *
 * Sums that decide numerical agreement with the reference implementation (RMSNorm's mean
 * square, softmax's normalizer) are accumulated in double, as it does.
 */
#include "cpu/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quant.h"

void ag_rmsnorm_ref(float *y, const float *x, const float *w, int n, float eps) {
    double sum = 0.0; /* mean(x^2) */
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

void ag_rope(float *x, int n_head, int head_dim, int n_rot, float pos, float base,
             const float *freq_factors) {
    /* theta_i = pos * base^(-2i/n_rot), built by repeated multiplication like the reference */
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float cos_sin[2 * 512];
    float theta = pos;
    for (int i = 0; i < n_rot / 2 && i < 512; i++) {
        float t = freq_factors ? theta / freq_factors[i] : theta;
        cos_sin[2 * i] = cosf(t);
        cos_sin[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
            const float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * c - x1 * s; /* (x0, x1) rotated by theta_i */
            v[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void ag_softmax_ref(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ag_silu_mul_ref(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void ag_weight_row_to_float(const void *w, ag_type type, size_t row_bytes, int64_t row,
                            int64_t n, float *out) {
    ag_type_traits_get(type)->to_float((const uint8_t *)w + (size_t)row * row_bytes, out, n);
}

/* ---------------------------------------------------------------- dispatch */

void ag_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    if (ag_ops_avx512_ok()) ag_rmsnorm_avx512(y, x, w, n, eps);
    else ag_rmsnorm_ref(y, x, w, n, eps);
}

void ag_softmax(float *x, int n) {
    if (ag_ops_avx512_ok()) ag_softmax_avx512(x, n);
    else ag_softmax_ref(x, n);
}

void ag_silu_mul(float *gate, const float *up, int n) {
    if (ag_ops_avx512_ok()) ag_silu_mul_avx512(gate, up, n);
    else ag_silu_mul_ref(gate, up, n);
}
