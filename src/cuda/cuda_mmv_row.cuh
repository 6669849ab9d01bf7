/*
 * cuda_mmv_row.cuh - one weight row against the activations, for every weight kind: the warp's
 * lanes take the row's pieces first, first + step, ... and add their products into acc[c] for
 * each of the NC columns (the caller sums the lanes). The order of the additions is fixed here, so
 * every kernel that sums a row through these functions (cuda_mmv.cu: one row per warp; the
 * persistent and bulk-copy kernels) gives bit-identical results. The row may be in global or in
 * shared memory: w.q and w.d are read through generic pointers.
 */
#ifndef AG_CUDA_MMV_ROW_CUH
#define AG_CUDA_MMV_ROW_CUH

#include "cuda/cuda_mmv_util.cuh"

/* The warp's share of row `row` (pieces first, first + step, ...) added to acc. */
template <int KIND, int NC>
static __device__ __forceinline__ void mmv_q_row(const cu_weight &w, const int8_t *x8, const float2 *xds, int64_t row,
                                                 int first, int step, int n_cols, float *acc) {
    const int64_t k = w.k, nb = k / 32;
    const uint8_t *wr = w.q + row * w.row_bytes;
    if (KIND == CU_Q4_0 || KIND == CU_Q8_0) {
        const half *wd = w.d + row * nb;
#pragma unroll 4
        for (int64_t b = first; b < nb; b += step) {
            int wq[8];
            if (KIND == CU_Q4_0) {
                q4_0_codes(((const int4 *)wr)[b], wq);
            } else {
                load32((const int8_t *)wr + b * 32, wq);
            }
            const float d = __half2float(wd[b]);
#pragma unroll
            for (int c = 0; c < NC; c++) {
                if (NC > 8 && c >= n_cols) break;
                int xq[8];
                load32(x8 + c * k + b * 32, xq);
                const float2 ds = xds[c * nb + b];
                const int sdot = dot8(wq, xq, 0);
                acc[c] += KIND == CU_Q4_0 ? d * (ds.x * (float)sdot - 8.0f * ds.y) : d * ds.x * (float)sdot;
            }
        }
    } else if (KIND == CU_Q4_K) {
        const int64_t n_items = k / 256 * 4; /* (super-block, pair of 32-groups) */
#pragma unroll 2
        for (int64_t it = first; it < n_items; it += step) {
            const int64_t sb = it >> 2;
            const int p = (int)(it & 3);
            const uint8_t *blk = wr + sb * 144;
            const half2 dm = *(const half2 *)blk;
            const float d = __low2float(dm), dmin = __high2float(dm);
            const uint32_t sw[3] = {((const uint32_t *)(blk + 4))[0], ((const uint32_t *)(blk + 4))[1],
                                    ((const uint32_t *)(blk + 4))[2]};
            float sc[2], mn[2];
            q4_k_scales(sw, p, sc, mn);
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
                if (NC > 8 && c >= n_cols) break;
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
        for (int64_t it = first; it < n_items; it += step) {
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
                q[i] = lo4 | hi2; /* 0..63, less 32 through Q6_K_MINUS32 */
            }
            const int8_t *scales = (const int8_t *)blk + 192;
            const float sc0 = (float)scales[8 * nh + 2 * j], sc1 = (float)scales[8 * nh + 2 * j + 1];
            const float d = __half2float(*(const half *)(blk + 208));
            const int64_t xb = sb * 8 + g;
#pragma unroll
            for (int c = 0; c < NC; c++) {
                if (NC > 8 && c >= n_cols) break;
                int xq[8];
                load32(x8 + c * k + xb * 32, xq);
                int s0 = 0, s1 = 0;
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    s0 = __dp4a(q[i], xq[i], __dp4a(Q6_K_MINUS32, xq[i], s0));
                    s1 = __dp4a(q[i + 4], xq[i + 4], __dp4a(Q6_K_MINUS32, xq[i + 4], s1));
                }
                acc[c] += d * xds[c * nb + xb].x * (sc0 * (float)s0 + sc1 * (float)s1);
            }
        }
    }
}

template <int KIND, int NC>
static __device__ __forceinline__ void mmv_f_row(const cu_weight &w, const float *x, int64_t row, int first, int step,
                                                 int n_cols, float *acc) {
    const int64_t k = w.k;
    if (KIND == CU_F16) {
        const half *wr = (const half *)(w.q + row * w.row_bytes);
        if (k % 8 == 0) {
            for (int64_t i = (int64_t)first * 8; i < k; i += (int64_t)step * 8) {
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
                    if (NC > 8 && c >= n_cols) break;
                    const float4 a = *(const float4 *)(x + c * k + i), b = *(const float4 *)(x + c * k + i + 4);
                    acc[c] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                              wf[6] * b.z + wf[7] * b.w;
                }
            }
        } else {
            for (int64_t i = first; i < k; i += step) {
                const float wf = __half2float(wr[i]);
#pragma unroll
                for (int c = 0; c < NC; c++)
                    if (NC <= 8 || c < n_cols) acc[c] += wf * x[c * k + i];
            }
        }
    } else {
        const float *wr = (const float *)(w.q + row * w.row_bytes);
        if (k % 4 == 0) {
            for (int64_t i = (int64_t)first * 4; i < k; i += (int64_t)step * 4) {
                const float4 v = *(const float4 *)(wr + i);
#pragma unroll
                for (int c = 0; c < NC; c++) {
                    if (NC > 8 && c >= n_cols) break;
                    const float4 a = *(const float4 *)(x + c * k + i);
                    acc[c] += v.x * a.x + v.y * a.y + v.z * a.z + v.w * a.w;
                }
            }
        } else {
            for (int64_t i = first; i < k; i += step) {
                const float wf = wr[i];
#pragma unroll
                for (int c = 0; c < NC; c++)
                    if (NC <= 8 || c < n_cols) acc[c] += wf * x[c * k + i];
            }
        }
    }
}

#endif
