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

/* The activations as add_piece reads them. act_global: in global memory, column c's 8-bit values at
 * x8 + c k, their scales at xds + c k / 32, float values at x + c k. */
struct act_global {
    const int8_t *x8;
    const float2 *xds;
    const float *x;
    int k;
    __device__ __forceinline__ void q32(int c, int i, int *o) const { load32(x8 + c * k + i, o); } /* values i..i+31 */
    __device__ __forceinline__ float2 ds(int c, int b) const { return xds[c * (k / 32) + b]; }     /* 32-block b */
    __device__ __forceinline__ float4 f4(int c, int i) const { return *(const float4 *)(x + c * k + i); }
};

/* act_staged: one column copied into shared memory by stage_act: its 8-bit values (or its floats)
 * as 16-byte chunks, chunk j at j ^ ((j >> 3) & 7), so that the lanes of a quarter warp reading their
 * pieces' chunks (lane stride 16, 32 or 64 bytes) hit distinct banks; the 32-blocks' scales after them
 * in order. Chunk j of the float values is x[4j .. 4j + 3]. */
static __device__ __forceinline__ int act_swizzle(int j) { return j ^ ((j >> 3) & 7); }

struct act_staged {
    const int4 *chunks;
    const float2 *xds;
    __device__ __forceinline__ void q32(int, int i, int *o) const {
        const int j = i >> 4;
        const int4 a = chunks[act_swizzle(j)], b = chunks[act_swizzle(j + 1)];
        o[0] = a.x; o[1] = a.y; o[2] = a.z; o[3] = a.w;
        o[4] = b.x; o[5] = b.y; o[6] = b.z; o[7] = b.w;
    }
    __device__ __forceinline__ float2 ds(int, int b) const { return xds[b]; }
    __device__ __forceinline__ float4 f4(int, int i) const {
        const int4 v = chunks[act_swizzle(i >> 2)];
        return make_float4(__int_as_float(v.x), __int_as_float(v.y), __int_as_float(v.z), __int_as_float(v.w));
    }
};

/* Bytes of shared memory act_staged needs for activations of length k for weights of `kind`: 0 where
 * it does not apply (k not a whole number of 8-chunk groups). */
static __host__ __device__ __forceinline__ int staged_bytes(int kind, int64_t k) {
    const bool flt = kind == CU_F16 || kind == CU_F32;
    const int64_t chunk_values = flt ? 4 : 16;
    if (k % (8 * chunk_values) != 0) return 0;
    return (int)(flt ? k * 4 : k + k / 32 * 8);
}

/* The block copies column 0 of the activations into shared memory (sm: staged_bytes(KIND, k) bytes,
 * 16-byte aligned) and waits for all its threads. */
template <int KIND>
static __device__ __forceinline__ act_staged stage_act(const int8_t *x8, const float2 *xds, const float *x, int k,
                                                       int4 *sm) {
    const bool flt = KIND == CU_F16 || KIND == CU_F32;
    const int n_chunks = flt ? k / 4 : k / 16, tid = threadIdx.y * blockDim.x + threadIdx.x,
              n_threads = blockDim.x * blockDim.y;
    const int4 *src = flt ? (const int4 *)x : (const int4 *)x8;
    for (int j = tid; j < n_chunks; j += n_threads) sm[act_swizzle(j)] = src[j];
    float2 *sds = (float2 *)(sm + n_chunks);
    if (!flt)
        for (int b = tid; b < k / 32; b += n_threads) sds[b] = xds[b];
    __syncthreads();
    return {sm, sds};
}

/* acc[c] += the piece's products with column c of the activations, for the first n_cols columns */
template <int KIND, int NC, class ACT>
static __device__ __forceinline__ void add_piece(const wpiece<KIND> &p, int b, const ACT &a, int n_cols, float *acc) {
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
            a.q32(c, b * 32, xq);
            const float2 ds = a.ds(c, b);
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
            a.q32(c, xb * 32, xa);
            a.q32(c, (xb + 1) * 32, xc);
            const float2 da = a.ds(c, xb), dc = a.ds(c, xb + 1);
            acc[c] += d * (sc[0] * da.x * (float)dot8(lo, xa, 0) + sc[1] * dc.x * (float)dot8(hi, xc, 0)) -
                      dmin * (mn[0] * da.y + mn[1] * dc.y);
        }
    } else if constexpr (KIND == CU_Q6_K) {
        const int j = b & 3, lsh = 4 * (j >> 1), hsh = 2 * j; /* j: the group's quarter of its 128 */
        int ql[8], qh[8], q[8];
        split4(p.l0, ql);
        split4(p.l1, ql + 4);
        split4(p.h0, qh);
        split4(p.h1, qh + 4);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int lo4 = (ql[i] >> lsh) & 0x0F0F0F0F;
            const int hi2 = ((qh[i] >> hsh) & 0x03030303) << 4;
            q[i] = lo4 | hi2; /* 0..63: the -32 is a dp4a with x below (__vsub4 is emulated) */
        }
        const float sc0 = (float)p.sc.x, sc1 = (float)p.sc.y;
        const float d = __half2float(p.d);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            int xq[8];
            a.q32(c, b * 32, xq);
            int s0 = 0, s1 = 0;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                s0 = __dp4a(q[i], xq[i], __dp4a(Q6_K_MINUS32, xq[i], s0));
                s1 = __dp4a(q[i + 4], xq[i + 4], __dp4a(Q6_K_MINUS32, xq[i + 4], s1));
            }
            acc[c] += d * a.ds(c, b).x * (sc0 * (float)s0 + sc1 * (float)s1);
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
            const float4 u = a.f4(c, i), e = a.f4(c, i + 4);
            acc[c] += wf[0] * u.x + wf[1] * u.y + wf[2] * u.z + wf[3] * u.w + wf[4] * e.x + wf[5] * e.y +
                      wf[6] * e.z + wf[7] * e.w;
        }
    } else {
        const float4 v = p.v;
        const int i = b * 4;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            if (NC > 8 && c >= n_cols) break;
            const float4 u = a.f4(c, i);
            acc[c] += v.x * u.x + v.y * u.y + v.z * u.z + v.w * u.w;
        }
    }
}

#endif
