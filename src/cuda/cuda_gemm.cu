/*
 * cuda_gemm.cu - matrix products for prefill (batches of more than CU_MMV_MAX_COLS tokens):
 * the weight is dequantized to F16 into the session's scratch (once per product), the
 * activations converted to F16 (once per input), and cuBLAS multiplies on the tensor cores with
 * F32 accumulation and output:  Y (n, rows) (+)= X (n, k) . W (rows, k)^T.
 * F32 weights multiply in F32 (cublasSgemm) without conversion.
 */
#include "cuda/cuda_internal.cuh"

/* One thread per 32 weights of Q4_0 / Q8_0 (SoA layout) -> 32 halves. */
template <int KIND>
__global__ void dequant_q_kernel(const uint8_t *q, const half *d, int64_t n_blocks, half *out) {
    const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (b >= n_blocks) return;
    const float s = __half2float(d[b]);
    __align__(16) half2 o[16];
    if (KIND == CU_Q4_0) {
        const uint8_t *p = q + b * 16;
        __align__(16) uint8_t v[16];
        *(uint4 *)v = *(const uint4 *)p;
        half tmp[32];
#pragma unroll
        for (int j = 0; j < 16; j++) {
            tmp[j] = __float2half(s * (float)((v[j] & 15) - 8));
            tmp[j + 16] = __float2half(s * (float)((v[j] >> 4) - 8));
        }
#pragma unroll
        for (int j = 0; j < 16; j++) o[j] = __halves2half2(tmp[2 * j], tmp[2 * j + 1]);
    } else {
        __align__(16) int8_t v[32];
        *(int4 *)v = *(const int4 *)(q + b * 32);
        *(int4 *)(v + 16) = *(const int4 *)(q + b * 32 + 16);
#pragma unroll
        for (int j = 0; j < 16; j++) o[j] = __floats2half2_rn(s * (float)v[2 * j], s * (float)v[2 * j + 1]);
    }
    uint4 *dst = (uint4 *)(out + b * 32);
#pragma unroll
    for (int j = 0; j < 4; j++) dst[j] = ((const uint4 *)o)[j];
}

/* 8 values as one 16-byte store */
static __device__ __forceinline__ void store8(half *o, const float *v) {
    __align__(16) half2 h[4];
#pragma unroll
    for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
    *(uint4 *)o = *(const uint4 *)h;
}

/* Q4_K: one thread per (super-block, pair of 32-groups p, 8 bytes c of the pair's 32) -> 16 halves. */
__global__ void dequant_q4k_kernel(const uint8_t *q, int64_t n_items, half *out) {
    const int64_t it = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (it >= n_items) return;
    const int64_t sb = it >> 4;
    const int p = (int)(it >> 2) & 3, c = (int)(it & 3);
    const uint8_t *blk = q + sb * 144;
    const float d = __half2float(*(const half *)blk), dmin = __half2float(*(const half *)(blk + 2));
    const uint8_t *s = blk + 4;
    float sc[2], mn[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int j = 2 * p + h;
        if (j < 4) {
            sc[h] = (float)(s[j] & 63);
            mn[h] = (float)(s[j + 4] & 63);
        } else {
            sc[h] = (float)((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
            mn[h] = (float)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
        }
    }
    const uint2 qv = *(const uint2 *)(blk + 16 + 32 * p + 8 * c);
    const uint8_t *qs = (const uint8_t *)&qv;
    float lo[8], hi[8];
#pragma unroll
    for (int l = 0; l < 8; l++) {
        lo[l] = d * sc[0] * (float)(qs[l] & 15) - dmin * mn[0];
        hi[l] = d * sc[1] * (float)(qs[l] >> 4) - dmin * mn[1];
    }
    half *o = out + sb * 256 + 64 * p + 8 * c;
    store8(o, lo);
    store8(o + 32, hi);
}

/* Q6_K (padded blocks): one thread per (super-block, 32-group g, 8 values c) -> 8 halves. */
__global__ void dequant_q6k_kernel(const uint8_t *q, int64_t n_items, half *out) {
    const int64_t it = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (it >= n_items) return;
    const int64_t sb = it >> 5;
    const int g = (int)(it >> 2) & 7, c = (int)(it & 3), nh = g >> 2, j = g & 3;
    const uint8_t *blk = q + sb * CU_Q6_K_STRIDE;
    const uint2 lv = *(const uint2 *)(blk + 64 * nh + 32 * (j & 1) + 8 * c);
    const uint2 hv = *(const uint2 *)(blk + 128 + 32 * nh + 8 * c);
    const uint8_t *ql = (const uint8_t *)&lv, *qh = (const uint8_t *)&hv;
    const float d = __half2float(*(const half *)(blk + 208));
    const float sc = (float)((const int8_t *)blk)[192 + 8 * nh + 2 * j + (c >> 1)];
    float v[8];
#pragma unroll
    for (int l = 0; l < 8; l++) {
        const int lo = j < 2 ? ql[l] & 15 : ql[l] >> 4, hi = (qh[l] >> (2 * j)) & 3;
        v[l] = d * sc * (float)((lo | hi << 4) - 32);
    }
    store8(out + sb * 256 + 32 * g + 8 * c, v);
}

__global__ void to_half_kernel(const float *x, int64_t n, half *y) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half(x[i]);
}

static unsigned blocks_for(int64_t n, int t) { return (unsigned)((n + t - 1) / t); }

ag_status cu_gemm(ag_cuda_session *s, const cu_weight *w, cu_act *a, float *y, int ldy, bool accumulate, ag_error *err) {
    const cudaStream_t st = s->stream;
    const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int rows = (int)w->rows, k = (int)w->k;
    cublasStatus_t bs;
    if (w->kind == CU_F32) {
        bs = cublasSgemm(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, a->n, k, &one, (const float *)w->q, k, a->x, k, &beta,
                         y, ldy);
    } else {
        if (!a->have_h) {
            const int64_t n = (int64_t)a->n * a->k;
            to_half_kernel<<<blocks_for(n, 256), 256, 0, st>>>(a->x, n, s->xh);
            a->have_h = true;
        }
        const half *wh = s->wh;
        const int64_t n_w = (int64_t)rows * k;
        switch (w->kind) {
        case CU_F16: wh = (const half *)w->q; break;
        case CU_Q4_0: dequant_q_kernel<CU_Q4_0><<<blocks_for(n_w / 32, 128), 128, 0, st>>>(w->q, w->d, n_w / 32, s->wh); break;
        case CU_Q8_0: dequant_q_kernel<CU_Q8_0><<<blocks_for(n_w / 32, 128), 128, 0, st>>>(w->q, w->d, n_w / 32, s->wh); break;
        case CU_Q4_K: dequant_q4k_kernel<<<blocks_for(n_w / 16, 128), 128, 0, st>>>(w->q, n_w / 16, s->wh); break;
        case CU_Q6_K: dequant_q6k_kernel<<<blocks_for(n_w / 8, 128), 128, 0, st>>>(w->q, n_w / 8, s->wh); break;
        }
        bs = cublasGemmEx(s->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, a->n, k, &one, wh, CUDA_R_16F, k, s->xh, CUDA_R_16F,
                          k, &beta, y, CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    }
    if (bs != CUBLAS_STATUS_SUCCESS)
        return cu_error(err, AG_ERR_IO, "cuBLAS matrix product (%d x %d x %d) failed: status %d", rows, a->n, k, (int)bs);
    return AG_OK;
}
