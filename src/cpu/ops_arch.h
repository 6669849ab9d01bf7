/*
 * ops_arch.h - the F32 operations some model families add to the llama ones of ops.h (scalar
 * reference versions; they run on activations, not weights, so they are cheap):
 *   ag_rope_neox     rotary embedding over halves (x[i], x[i + n_rot/2]) (qwen2/3, gemma, phi3)
 *   ag_gelu_tanh_mul gate = gelu_tanh(gate) * up    (gemma's GeGLU)
 *   ag_gelu_erf      x = x * (1 + erf(x / sqrt 2)) / 2 in place   (bert)
 *   ag_layernorm     y = (x - mean) / sqrt(var + eps) * w + b      (bert)
 *   ag_softcap       x = c * tanh(x / c) in place                 (gemma2 scores and logits)
 *   ag_add_bias      x[t] += b for each of n rows                 (attention biases)
 */
#ifndef AG_CPU_OPS_ARCH_H
#define AG_CPU_OPS_ARCH_H

#include <stddef.h>

/* theta_i = pos * base^(-2i/n_rot) / freq_factors[i] (factors optional); pairs (i, i + n_rot/2)
 * of each head, i < n_rot/2; dims past n_rot untouched. x: (n_head, head_dim) in place. */
void ag_rope_neox(float *x, int n_head, int head_dim, int n_rot, float pos, float base, const float *freq_factors);

void ag_gelu_tanh_mul(float *gate, const float *up, int n);
void ag_gelu_erf(float *x, int n);
void ag_layernorm(float *y, const float *x, const float *w, const float *b, int n, float eps);
void ag_softcap(float *x, int n, float cap);
void ag_add_bias(float *x, const float *b, int n_rows, int n);

#endif
