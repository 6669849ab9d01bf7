/*
 * cuda_act.cu - steps that produce a matrix product's input and quantize it on the way, so that
 * decode needs no separate quantization launch: rmsnorm + 8-bit activations, silu_mul + 8-bit
 * activations. The 8-bit format is cu_quantize_q8's (per 32 values d = max|v|/127, q = round(v/d),
 * and d*sum(q)); the float results are written too, for the float kernels and the next steps.
 */
#include "cuda/cuda_internal.cuh"

/* One block (256 threads) per token. */
__global__ void rmsnorm_q8_kernel(const float *x, float *y, const float *w, int dim, float eps, int8_t *x8, float2 *xds) {
    const int t = blockIdx.x, warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
    const float *xr = x + (size_t)t * dim;
    float *yr = y + (size_t)t * dim;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    __shared__ float part[32];
    if (lane == 0) part[warp] = ss;
    __syncthreads();
    ss = lane < n_warps ? part[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float scale = 1.0f / sqrtf(ss / (float)dim + eps);
    const int nb = dim / 32;
    for (int b = warp; b < nb; b += n_warps) {
        const int i = b * 32 + lane;
        const float v = (xr[i] * scale) * w[i];
        yr[i] = v;
        q8_warp(v, x8 + (size_t)t * dim + i, xds + (size_t)t * nb + b);
    }
}

void cu_rmsnorm_q8(const float *x, float *y, const float *w, int n, int dim, float eps, int8_t *x8, float2 *xds,
                   cudaStream_t st) {
    rmsnorm_q8_kernel<<<n, 256, 0, st>>>(x, y, w, dim, eps, x8, xds);
}

/* One warp per 32 outputs. */
__global__ void silu_mul_q8_kernel(const float *gu, float *h, int64_t n_blocks, int f, int8_t *x8, float2 *xds) {
    const int64_t b = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b >= n_blocks) return;
    const int64_t per_tok = f / 32, t = b / per_tok;
    const int i = (int)(b % per_tok) * 32 + threadIdx.x % 32;
    const float g = gu[t * 2 * f + i], u = gu[t * 2 * f + f + i];
    const float v = g / (1.0f + expf(-g)) * u;
    h[t * f + i] = v;
    q8_warp(v, x8 + t * f + i, xds + b);
}

void cu_silu_mul_q8(const float *gu, float *h, int n, int f, int8_t *x8, float2 *xds, cudaStream_t st) {
    const int64_t nb = (int64_t)n * f / 32;
    silu_mul_q8_kernel<<<(unsigned)((nb + 7) / 8), 256, 0, st>>>(gu, h, nb, f, x8, xds);
}
