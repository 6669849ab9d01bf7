/*
 * cuda_act.cu - steps that produce a matrix product's input and quantize it on the way, so that
 * decode needs no separate quantization launch: rmsnorm + 8-bit activations, silu_mul + 8-bit
 * activations. The 8-bit format is cu_quantize_q8's (per 32 values d = max|v|/127, q = round(v/d),
 * and d*sum(q)); the float results are written too, for the float kernels and the next steps.
 */
#include "cuda/cuda_act.cuh"

/* Blocks (dim/256 per token, 256 threads): every block sums the squares of the whole row (from
 * L2: a row is a few KiB; rmsq_scale) and normalizes and quantizes its own 256 values, one 32-block
 * per warp; many blocks instead of one keep this step to a couple of memory round trips. */
__global__ void __launch_bounds__(RMSQ_THREADS) rmsnorm_q8_kernel(const float *x, float *y, const float *w, int dim,
                                                                  float eps, int8_t *x8, float2 *xds) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int t = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = RMSQ_THREADS / 32;
    const float *xr = x + (size_t)t * dim;
    __shared__ float part[RMSQ_THREADS / 32];
    const float scale = rmsq_scale(xr, dim, eps, threadIdx.x, part);
    const int nb = dim / 32, b = blockIdx.x * n_warps + warp;
    if (b >= nb) return;
    const int i = b * 32 + lane;
    const float v = (xr[i] * scale) * w[i];
    y[(size_t)t * dim + i] = v;
    q8_warp(v, x8 + (size_t)t * dim + i, xds + (size_t)t * nb + b);
}

void cu_rmsnorm_q8(const float *x, float *y, const float *w, int n, int dim, float eps, int8_t *x8, float2 *xds,
                   cu_stream cs) {
    const dim3 grid((unsigned)((dim + RMSQ_THREADS - 1) / RMSQ_THREADS), (unsigned)n);
    cu_launch(cs, rmsnorm_q8_kernel, grid, dim3(RMSQ_THREADS), x, y, w, dim, eps, x8, xds);
}

/* One warp per 32 outputs. */
__global__ void silu_mul_q8_kernel(const float *gu, float *h, int64_t n_blocks, int f, int8_t *x8, float2 *xds) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int64_t b = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b >= n_blocks) return;
    const int64_t per_tok = f / 32, t = b / per_tok;
    const int i = (int)(b % per_tok) * 32 + threadIdx.x % 32;
    const float g = gu[t * 2 * f + i], u = gu[t * 2 * f + f + i];
    const float v = g / (1.0f + expf(-g)) * u;
    h[t * f + i] = v;
    q8_warp(v, x8 + t * f + i, xds + b);
}

void cu_silu_mul_q8(const float *gu, float *h, int n, int f, int8_t *x8, float2 *xds, cu_stream cs) {
    const int64_t nb = (int64_t)n * f / 32;
    cu_launch(cs, silu_mul_q8_kernel, dim3((unsigned)((nb + 7) / 8)), dim3(256), gu, h, nb, f, x8, xds);
}
