/*
 * cuda_rope.cuh - the rotary embedding of one pair of a head, as the CPU computes it (cpu/ops.c):
 * pair i is (x[2i], x[2i+1]), or (x[i], x[i + n_rot/2]) for NeoX-style models, rotated by
 * theta_i = pos * base^(-2i/n_rot) (the CPU's recurrence: pos times theta_scale i times, one
 * rounding each; divided by the model's frequency factor when it has them). Shared by the rope
 * kernel (cuda_ops.cu) and the fused decode step (cuda_fused.cu), so both give the same bits.
 */
#ifndef AG_CUDA_ROPE_CUH
#define AG_CUDA_ROPE_CUH

/* The indices of pair i of a head (i < half the head size). */
static __device__ __forceinline__ void cu_rope_pair(int i, int n_rot, bool neox, int *i0, int *i1) {
    const bool in_neox = neox && i < n_rot / 2;
    *i0 = in_neox ? i : 2 * i;
    *i1 = in_neox ? i + n_rot / 2 : 2 * i + 1;
}

/* The angle of pair i (< n_rot/2) at rotary position fpos (already divided by the position scale). */
static __device__ __forceinline__ float cu_rope_theta(float fpos, int i, float theta_scale, const float *freqs) {
    float theta = fpos;
    for (int j = 0; j < i; j++) theta = __fmul_rn(theta, theta_scale);
    return freqs ? theta / freqs[i] : theta;
}

/* (x0, x1) rotated by th, each product and sum rounded on its own (no fused multiply-add). */
static __device__ __forceinline__ void cu_rope_rotate(float *x0, float *x1, float th) {
    const float c = cosf(th), s = sinf(th);
    const float y0 = __fsub_rn(__fmul_rn(*x0, c), __fmul_rn(*x1, s));
    const float y1 = __fadd_rn(__fmul_rn(*x0, s), __fmul_rn(*x1, c));
    *x0 = y0;
    *x1 = y1;
}

#endif
