/*
 * ops_arch.c - the family-specific F32 operations of ops_arch.h, plain scalar loops.
 */
#include "cpu/ops_arch.h"

#include <math.h>

void ag_rope_neox(float *x, int n_head, int head_dim, int n_rot, float pos, float base, const float *freq_factors) {
    const int half = n_rot / 2;
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float cs[2 * 512];
    float theta = pos;
    for (int i = 0; i < half && i < 512; i++) { /* same recurrence as ag_rope */
        const float t = freq_factors ? theta / freq_factors[i] : theta;
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            const float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c - x1 * s; /* (x[i], x[i + half]) rotated by theta_i */
            v[i + half] = x0 * s + x1 * c;
        }
    }
}

void ag_gelu_tanh_mul(float *gate, const float *up, int n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int i = 0; i < n; i++) {
        const float x = gate[i];
        gate[i] = 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x))) * up[i];
    }
}

void ag_gelu_erf(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void ag_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    const float inv = (float)(1.0 / sqrt(var / n + eps));
    for (int i = 0; i < n; i++) y[i] = (float)(x[i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
}

void ag_softcap(float *x, int n, float cap) {
    for (int i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

void ag_add_bias(float *x, const float *b, int n_rows, int n) {
    for (int r = 0; r < n_rows; r++)
        for (int i = 0; i < n; i++) x[(size_t)r * n + i] += b[i];
}
