/*
 * cuda_mmv_piece.cuh - one piece of a weight row, for every weight kind, as the one-token kernels
 * that walk rows piece by piece use it (cuda_mmv_rows.cu: rows per warp, cuda_mmv_stream.cu: the
 * persistent streaming kernel): a piece is 32 values (Q4_0, Q8_0, Q6_K), a pair of 32-groups (Q4_K),
 * 8 values (F16) or 4 (F32). load_piece reads its weight bytes into registers, add_piece adds its
 * products with the activations to the column sums. The formulas and their order are those of
 * cuda_mmv_row.cuh, so a row's sum does not depend on the kernel that walks it.
 */
#ifndef AG_CUDA_MMV_PIECE_CUH
#define AG_CUDA_MMV_PIECE_CUH

#include "cuda/cuda_mmv_util.cuh"

/* wpiece<KIND> holds the weight bytes of one piece (loaded by load_piece), and add_piece adds its
 * products with the activations of the columns to acc. */

template <int KIND> struct wpiece;
template <> struct wpiece<CU_Q4_0> { int4 q; half d; };
template <> struct wpiece<CU_Q8_0> { int4 q0, q1; half d; };
template <> struct wpiece<CU_Q4_K> { int4 hdr, q0, q1; };         /* hdr: f16 d, dmin, 12 bytes of scales */
template <> struct wpiece<CU_Q6_K> { int4 l0, l1, h0, h1; char2 sc; half d; };
template <> struct wpiece<CU_F16> { uint4 v; };
template <> struct wpiece<CU_F32> { float4 v; };

/* pieces per row, and 16-byte weight loads per piece (how many pieces a lane loads ahead) */
template <int KIND> static __host__ __device__ __forceinline__ int64_t n_pieces(int64_t k) {
    return KIND == CU_Q4_K ? k / 256 * 4 : KIND == CU_F16 ? k / 8 : KIND == CU_F32 ? k / 4 : k / 32;
}
template <int KIND> struct piece_loads {
    static constexpr int n = KIND == CU_Q6_K ? 4 : (KIND == CU_Q8_0 || KIND == CU_Q4_K) ? 2 : 1;
};

/* wr: the row's bytes, wd: its Q4_0 / Q8_0 scales */
template <int KIND>
static __device__ __forceinline__ void load_piece(const uint8_t *wr, const half *wd, int b, wpiece<KIND> &p) {
    if constexpr (KIND == CU_Q4_0) {
        p.q = ((const int4 *)wr)[b];
        p.d = wd[b];
    } else if constexpr (KIND == CU_Q8_0) {
        p.q0 = ((const int4 *)wr)[2 * b];
        p.q1 = ((const int4 *)wr)[2 * b + 1];
        p.d = wd[b];
    } else if constexpr (KIND == CU_Q4_K) {
        const uint8_t *blk = wr + (b >> 2) * 144;
        const int pr = b & 3;
        p.hdr = *(const int4 *)blk;
        p.q0 = *(const int4 *)(blk + 16 + 32 * pr);
        p.q1 = *(const int4 *)(blk + 32 + 32 * pr);
    } else if constexpr (KIND == CU_Q6_K) {
        const uint8_t *blk = wr + (b >> 3) * CU_Q6_K_STRIDE;
        const int g = b & 7, nh = g >> 2, j = g & 3;
        p.l0 = *(const int4 *)(blk + 64 * nh + 32 * (j & 1));
        p.l1 = *(const int4 *)(blk + 64 * nh + 32 * (j & 1) + 16);
        p.h0 = *(const int4 *)(blk + 128 + 32 * nh);
        p.h1 = *(const int4 *)(blk + 128 + 32 * nh + 16);
        p.sc = *(const char2 *)(blk + 192 + 8 * nh + 2 * j);
        p.d = *(const half *)(blk + 208);
    } else if constexpr (KIND == CU_F16) {
        p.v = ((const uint4 *)wr)[b];
    } else {
        p.v = ((const float4 *)wr)[b];
    }
}

static __device__ __forceinline__ void split4(const int4 v, int *o) { o[0] = v.x; o[1] = v.y; o[2] = v.z; o[3] = v.w; }

/* acc[c] += the piece's products with column c of the activations, for the first n_cols columns */
template <int KIND, int NC>
static __device__ __forceinline__ void add_piece(const wpiece<KIND> &p, int b, int k, const int8_t *x8,
                                                 const float2 *xds, const float *x, int n_cols, float *acc) {
    const int nb = k / 32;
    if constexpr (KIND == CU_Q4_0 || KIND == CU_Q8_0) {
        int wq[8];
        if constexpr (KIND == CU_Q4_0) {
            q4_0_codes(p.q, wq);
        } else {
            split4(p.q0, wq);
            split4(p.q1, wq + 4);
        }
        const float d = __half2float(p.d);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            int xq[8];
            load32(x8 + c * k + b * 32, xq);
            const float2 ds = xds[c * nb + b];
            const int sdot = dot8(wq, xq, 0);
            acc[c] += KIND == CU_Q4_0 ? d * (ds.x * (float)sdot - 8.0f * ds.y) : d * ds.x * (float)sdot;
        }
    } else if constexpr (KIND == CU_Q4_K) {
        const int sb = b >> 2, pr = b & 3;
        const half2 dm = *(const half2 *)&p.hdr.x;
        const float d = __low2float(dm), dmin = __high2float(dm);
        const uint32_t sw[3] = {(uint32_t)p.hdr.y, (uint32_t)p.hdr.z, (uint32_t)p.hdr.w};
        float sc[2], mn[2];
        q4_k_scales(sw, pr, sc, mn);
        int q[8], lo[8], hi[8];
        split4(p.q0, q);
        split4(p.q1, q + 4);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            lo[i] = q[i] & 0x0F0F0F0F;
            hi[i] = (q[i] >> 4) & 0x0F0F0F0F;
        }
        const int xb = sb * 8 + 2 * pr; /* the 32-blocks of x */
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
    } else if constexpr (KIND == CU_Q6_K) {
        const int j = b & 3;
        int ql[8], qh[8], q[8];
        split4(p.l0, ql);
        split4(p.l1, ql + 4);
        split4(p.h0, qh);
        split4(p.h1, qh + 4);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int lo4 = j < 2 ? ql[i] & 0x0F0F0F0F : (ql[i] >> 4) & 0x0F0F0F0F;
            const int hi2 = ((qh[i] >> (2 * j)) & 0x03030303) << 4;
            q[i] = (int)__vsub4((unsigned)(lo4 | hi2), 0x20202020u);
        }
        const float sc0 = (float)p.sc.x, sc1 = (float)p.sc.y;
        const float d = __half2float(p.d);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            int xq[8];
            load32(x8 + c * k + b * 32, xq);
            int s0 = 0, s1 = 0;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                s0 = __dp4a(q[i], xq[i], s0);
                s1 = __dp4a(q[i + 4], xq[i + 4], s1);
            }
            acc[c] += d * xds[c * nb + b].x * (sc0 * (float)s0 + sc1 * (float)s1);
        }
    } else if constexpr (KIND == CU_F16) {
        const half2 *h2 = (const half2 *)&p.v;
        float wf[8];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const float2 f = __half22float2(h2[j]);
            wf[2 * j] = f.x;
            wf[2 * j + 1] = f.y;
        }
        const int i = b * 8;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            const float4 a = *(const float4 *)(x + c * k + i), e = *(const float4 *)(x + c * k + i + 4);
            acc[c] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * e.x + wf[5] * e.y +
                      wf[6] * e.z + wf[7] * e.w;
        }
    } else {
        const float4 v = p.v;
        const int i = b * 4;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            const float4 a = *(const float4 *)(x + c * k + i);
            acc[c] += v.x * a.x + v.y * a.y + v.z * a.z + v.w * a.w;
        }
    }
}

#endif
