/*
 * cuda_mmv.cu - matrix-vector products for decode (and batches of up to CU_MMV_MAX_COLS tokens):
 * y[c*ldy + r] (+)= sum_i W[r][i] * x[c][i].
 *
 * One warp per weight row, 4 rows per block; each lane walks the row in aligned 16-byte pieces, so
 * a warp reads 512 contiguous bytes per step and every weight byte is read once for all columns.
 * Quantized weights meet 8-bit activations (cu_quantize_q8: per 32 values d = max|x|/127,
 * q = round(x/d), and d*sum(q)) in integer dot products (dp4a), one float multiply-add per block:
 *   Q4_0  d_w * (d_x * sum(q_w * q_x) - 8 * d_x*sum(q_x))          q_w in 0..15
 *   Q8_0  d_w * d_x * sum(q_w * q_x)
 *   Q4_K  per 32: d*sc * d_x*sum(q_w*q_x) - dmin*m * d_x*sum(q_x)   (6-bit sc, m)
 *   Q6_K  per 32: d * d_x * (sc0 * sum_lo16 + sc1 * sum_hi16)       q_w in -32..31
 * F16 and F32 weights use the float activations directly.
 */
#include "cuda/cuda_internal.cuh"

#define MMV_WARPS 4
#ifndef AG_MMV_UNROLL /* iterations of a lane's loop whose loads are issued together */
#define AG_MMV_UNROLL 4
#endif
static constexpr int MMV_UNROLL = AG_MMV_UNROLL;

/* ---------------------------------------------------------------- activations to 8 bits */

/* One warp per 32 values. */
__global__ void quantize_q8_kernel(const float *x, int64_t n_blocks, int8_t *x8, float2 *xds) {
    const int64_t b = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b >= n_blocks) return;
    const int lane = threadIdx.x % 32;
    const float v = x[b * 32 + lane];
    float amax = fabsf(v);
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = amax / 127.0f;
    const int q = amax == 0.0f ? 0 : __float2int_rn(v / d);
    int sum = q;
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    x8[b * 32 + lane] = (int8_t)q;
    if (lane == 0) xds[b] = make_float2(d, d * (float)sum);
}

void cu_quantize_q8(const float *x, int n, int64_t k, int8_t *x8, float2 *xds, cudaStream_t st) {
    const int64_t nb = (int64_t)n * k / 32;
    quantize_q8_kernel<<<(unsigned)((nb + 7) / 8), 256, 0, st>>>(x, nb, x8, xds);
}

/* ---------------------------------------------------------------- integer kernels */

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ int dot8(const int *w, const int *x, int s) {
#pragma unroll
    for (int i = 0; i < 8; i++) s = __dp4a(w[i], x[i], s);
    return s;
}

static __device__ __forceinline__ void load32(const int8_t *p, int *out) { /* 32 bytes, 16-byte aligned */
    const int4 a = ((const int4 *)p)[0], b = ((const int4 *)p)[1];
    out[0] = a.x; out[1] = a.y; out[2] = a.z; out[3] = a.w;
    out[4] = b.x; out[5] = b.y; out[6] = b.z; out[7] = b.w;
}

template <int KIND, int NC>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_q_kernel(cu_weight w, const int8_t *x8, const float2 *xds,
                                                               float *y, int ldy, int accumulate) {
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.y;
    if (row >= w.rows) return;
    const int lane = threadIdx.x;
    const int64_t k = w.k, nb = k / 32;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    const uint8_t *wr = w.q + row * w.row_bytes;
    if (KIND == CU_Q4_0 || KIND == CU_Q8_0) {
        const half *wd = w.d + row * nb;
#pragma unroll MMV_UNROLL
        for (int64_t b = lane; b < nb; b += 32) {
            int wq[8];
            if (KIND == CU_Q4_0) {
                const int4 v = ((const int4 *)wr)[b];
                const int lo[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    wq[i] = lo[i] & 0x0F0F0F0F;            /* elements 4i..4i+3 */
                    wq[i + 4] = (lo[i] >> 4) & 0x0F0F0F0F; /* elements 16+4i.. */
                }
            } else {
                load32((const int8_t *)wr + b * 32, wq);
            }
            const float d = __half2float(wd[b]);
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int xq[8];
                load32(x8 + c * k + b * 32, xq);
                const float2 ds = xds[c * nb + b];
                const int s = dot8(wq, xq, 0);
                acc[c] += KIND == CU_Q4_0 ? d * (ds.x * (float)s - 8.0f * ds.y) : d * ds.x * (float)s;
            }
        }
    } else if (KIND == CU_Q4_K) {
        const int64_t n_items = k / 256 * 4; /* (super-block, pair of 32-groups) */
#pragma unroll 2
        for (int64_t it = lane; it < n_items; it += 32) {
            const int64_t sb = it >> 2;
            const int p = (int)(it & 3);
            const uint8_t *blk = wr + sb * 144;
            const half2 dm = *(const half2 *)blk;
            const float d = __low2float(dm), dmin = __high2float(dm);
            const uint32_t s0 = ((const uint32_t *)(blk + 4))[0], s1 = ((const uint32_t *)(blk + 4))[1],
                           s2 = ((const uint32_t *)(blk + 4))[2];
            const uint32_t sw[3] = {s0, s1, s2};
#define SCB(i) ((sw[(i) >> 2] >> (8 * ((i) & 3))) & 0xFF)
            float sc[2], mn[2];
#pragma unroll
            for (int h = 0; h < 2; h++) {
                const int j = 2 * p + h;
                if (j < 4) {
                    sc[h] = (float)(SCB(j) & 63);
                    mn[h] = (float)(SCB(j + 4) & 63);
                } else {
                    sc[h] = (float)((SCB(j + 4) & 0xF) | ((SCB(j - 4) >> 6) << 4));
                    mn[h] = (float)((SCB(j + 4) >> 4) | ((SCB(j) >> 6) << 4));
                }
            }
#undef SCB
            int q[8], lo[8], hi[8];
            load32((const int8_t *)blk + 16 + 32 * p, q);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                lo[i] = q[i] & 0x0F0F0F0F;
                hi[i] = (q[i] >> 4) & 0x0F0F0F0F;
            }
            const int64_t xb = sb * 8 + 2 * p; /* the 32-blocks of x */
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int xa[8], xc[8];
                load32(x8 + c * k + xb * 32, xa);
                load32(x8 + c * k + (xb + 1) * 32, xc);
                const float2 da = xds[c * nb + xb], dc = xds[c * nb + xb + 1];
                acc[c] += d * (sc[0] * da.x * (float)dot8(lo, xa, 0) + sc[1] * dc.x * (float)dot8(hi, xc, 0)) -
                          dmin * (mn[0] * da.y + mn[1] * dc.y);
            }
        }
    } else { /* CU_Q6_K */
        const int64_t n_items = k / 256 * 8; /* (super-block, 32-group) */
#pragma unroll 2
        for (int64_t it = lane; it < n_items; it += 32) {
            const int64_t sb = it >> 3;
            const int g = (int)(it & 7), nh = g >> 2, j = g & 3;
            const uint8_t *blk = wr + sb * CU_Q6_K_STRIDE;
            int ql[8], qh[8], q[8];
            load32((const int8_t *)blk + 64 * nh + 32 * (j & 1), ql);
            load32((const int8_t *)blk + 128 + 32 * nh, qh);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                const int lo4 = j < 2 ? ql[i] & 0x0F0F0F0F : (ql[i] >> 4) & 0x0F0F0F0F;
                const int hi2 = ((qh[i] >> (2 * j)) & 0x03030303) << 4;
                q[i] = (int)__vsub4((unsigned)(lo4 | hi2), 0x20202020u);
            }
            const int8_t *scales = (const int8_t *)blk + 192;
            const float sc0 = (float)scales[8 * nh + 2 * j], sc1 = (float)scales[8 * nh + 2 * j + 1];
            const float d = __half2float(*(const half *)(blk + 208));
            const int64_t xb = sb * 8 + g;
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int xq[8];
                load32(x8 + c * k + xb * 32, xq);
                int s0 = 0, s1 = 0;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    s0 = __dp4a(q[i], xq[i], s0);
                    s1 = __dp4a(q[i + 4], xq[i + 4], s1);
                }
                acc[c] += d * xds[c * nb + xb].x * (sc0 * (float)s0 + sc1 * (float)s1);
            }
        }
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        const float v = warp_sum(acc[c]);
        if (lane == 0) {
            float *o = y + (int64_t)c * ldy + row;
            *o = accumulate ? *o + v : v;
        }
    }
}

/* ---------------------------------------------------------------- float kernels */

template <int KIND, int NC>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_f_kernel(cu_weight w, const float *x, float *y, int ldy,
                                                               int accumulate) {
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.y;
    if (row >= w.rows) return;
    const int lane = threadIdx.x;
    const int64_t k = w.k;
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.0f;
    if (KIND == CU_F16) {
        const half *wr = (const half *)(w.q + row * w.row_bytes);
        if (k % 8 == 0) {
            for (int64_t i = lane * 8; i < k; i += 256) {
                const uint4 v = *(const uint4 *)(wr + i);
                const half2 *h2 = (const half2 *)&v;
                float wf[8];
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const float2 f = __half22float2(h2[j]);
                    wf[2 * j] = f.x;
                    wf[2 * j + 1] = f.y;
                }
#pragma unroll
                for (int c = 0; c < NC; c++) {
                    const float4 a = *(const float4 *)(x + c * k + i), b = *(const float4 *)(x + c * k + i + 4);
                    acc[c] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                              wf[6] * b.z + wf[7] * b.w;
                }
            }
        } else {
            for (int64_t i = lane; i < k; i += 32) {
                const float wf = __half2float(wr[i]);
#pragma unroll
                for (int c = 0; c < NC; c++) acc[c] += wf * x[c * k + i];
            }
        }
    } else {
        const float *wr = (const float *)(w.q + row * w.row_bytes);
        if (k % 4 == 0) {
            for (int64_t i = lane * 4; i < k; i += 128) {
                const float4 v = *(const float4 *)(wr + i);
#pragma unroll
                for (int c = 0; c < NC; c++) {
                    const float4 a = *(const float4 *)(x + c * k + i);
                    acc[c] += v.x * a.x + v.y * a.y + v.z * a.z + v.w * a.w;
                }
            }
        } else {
            for (int64_t i = lane; i < k; i += 32) {
                const float wf = wr[i];
#pragma unroll
                for (int c = 0; c < NC; c++) acc[c] += wf * x[c * k + i];
            }
        }
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        const float v = warp_sum(acc[c]);
        if (lane == 0) {
            float *o = y + (int64_t)c * ldy + row;
            *o = accumulate ? *o + v : v;
        }
    }
}

/* ---------------------------------------------------------------- dispatch */

template <int NC>
static void launch_nc(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy,
                      int acc, cudaStream_t st) {
    const dim3 block(32, MMV_WARPS), grid((unsigned)((w->rows + MMV_WARPS - 1) / MMV_WARPS));
    switch (w->kind) {
    case CU_F32: mmv_f_kernel<CU_F32, NC><<<grid, block, 0, st>>>(*w, x, y, ldy, acc); break;
    case CU_F16: mmv_f_kernel<CU_F16, NC><<<grid, block, 0, st>>>(*w, x, y, ldy, acc); break;
    case CU_Q4_0: mmv_q_kernel<CU_Q4_0, NC><<<grid, block, 0, st>>>(*w, x8, xds, y, ldy, acc); break;
    case CU_Q8_0: mmv_q_kernel<CU_Q8_0, NC><<<grid, block, 0, st>>>(*w, x8, xds, y, ldy, acc); break;
    case CU_Q4_K: mmv_q_kernel<CU_Q4_K, NC><<<grid, block, 0, st>>>(*w, x8, xds, y, ldy, acc); break;
    case CU_Q6_K: mmv_q_kernel<CU_Q6_K, NC><<<grid, block, 0, st>>>(*w, x8, xds, y, ldy, acc); break;
    }
}

void cu_mmv(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, int n, float *y, int ldy,
            bool accumulate, cudaStream_t st) {
    const int a = accumulate ? 1 : 0;
    switch (n) {
    case 1: launch_nc<1>(w, x, x8, xds, y, ldy, a, st); break;
    case 2: launch_nc<2>(w, x, x8, xds, y, ldy, a, st); break;
    case 3: launch_nc<3>(w, x, x8, xds, y, ldy, a, st); break;
    case 4: launch_nc<4>(w, x, x8, xds, y, ldy, a, st); break;
    case 5: launch_nc<5>(w, x, x8, xds, y, ldy, a, st); break;
    case 6: launch_nc<6>(w, x, x8, xds, y, ldy, a, st); break;
    case 7: launch_nc<7>(w, x, x8, xds, y, ldy, a, st); break;
    default: launch_nc<8>(w, x, x8, xds, y, ldy, a, st); break;
    }
}
