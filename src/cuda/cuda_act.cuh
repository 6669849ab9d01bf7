/*
 * cuda_act.cuh - the scale of an RMS norm as the rmsnorm + 8-bit kernel sums it (cuda_act.cu),
 * shared with the fused decode step (cuda_fused.cu) so that both give the same bits.
 */
#ifndef AG_CUDA_ACT_CUH
#define AG_CUDA_ACT_CUH

#include "cuda/cuda_internal.cuh"

#define RMSQ_THREADS 256 /* threads that sum the squares */

/* 1 / sqrt(mean(x^2) + eps) over the dim values of xr (in L2 or written by other blocks: read
 * around L1), summed by the block's threads tid < RMSQ_THREADS in 4-float steps (1 when dim % 4),
 * a warp-shuffle tree, then the warps' sums. Every thread of the block calls it (a barrier inside;
 * part: RMSQ_THREADS / 32 floats of shared memory, read after the barrier). in_shared: xr is in
 * the block's shared memory (the same sums, in the same order). */
static __device__ __forceinline__ float rmsq_scale(const float *xr, int dim, float eps, int tid, float *part,
                                                   bool in_shared = false) {
    const int warp = tid / 32, lane = tid % 32, n_warps = RMSQ_THREADS / 32;
    float ss = 0.0f;
    if (tid < RMSQ_THREADS) {
        if (dim % 4 == 0) {
            for (int i = tid * 4; i < dim; i += RMSQ_THREADS * 4) {
                const float4 v = in_shared ? *(const float4 *)(xr + i) : __ldcg((const float4 *)(xr + i));
                ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
            }
        } else {
            for (int i = tid; i < dim; i += RMSQ_THREADS) {
                const float v = in_shared ? xr[i] : __ldcg(xr + i);
                ss += v * v;
            }
        }
    }
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if (lane == 0 && warp < n_warps) part[warp] = ss;
    __syncthreads();
    ss = lane < n_warps ? part[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    return 1.0f / sqrtf(ss / (float)dim + eps);
}

#endif
