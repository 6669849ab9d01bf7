/*
 * cuda_mmv_rows.cu - the rows kernel of the one-token matrix-vector products: R weight rows per
 * warp (R = 1 or 2), 4 warps per block (or split rows, as the one-row kernels), for the weight
 * kinds where it measured faster (cuda_mmv.cu chooses; docs/PERFORMANCE.md).
 *
 * A row is walked in pieces (Q4_0 / Q8_0 / Q6_K: 32 values, Q4_K: a pair of 32-groups, F16: 8
 * values, F32: 4). Each lane loads MMV_LOADS 16-byte weight vectors ahead (pieces of its R rows)
 * before it multiplies, reads the activations of a piece once for the R rows, and indexes with
 * 32-bit piece numbers from a per-row base pointer (fewer registers than the one-row kernels: Q4_K
 * 64 instead of 72). A Q4_K piece reads its super-block's header (d, dmin, 12 bytes of 6-bit scales)
 * as one 16-byte load. The arithmetic of a piece is the one-row kernels' (same formulas, same
 * order: lane `first` takes pieces first, first + step, ...), so a row's sum does not depend on the
 * kernel, R or the number of tokens in the pass (speculative decoding compares k-token passes with
 * one-token steps bit for bit).
 */
#include "cuda/cuda_mmv_util.cuh"

#define MMV_LOADS 4 /* 16-byte weight loads a lane issues before it multiplies (8 measured slower) */

/* ---------------------------------------------------------------- one piece of a row
 *
 * wpiece<KIND> holds the weight bytes of one piece (loaded by load_piece), and add_piece adds its
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

/* The warp's share of rows row0 .. row0 + R - 1 (each clamped to the last row) added to acc[r]:
 * each lane loads U pieces of each of the R rows (MMV_LOADS 16-byte loads, at least one piece) before
 * it multiplies,
 * and the activations of a piece are read once for the R rows. */
template <int KIND, int NC, int R>
static __device__ __forceinline__ void mmv_rows(const cu_weight &w, const int8_t *x8, const float2 *xds, const float *x,
                                                int64_t row0, int first, int step, int n_cols, float (*acc)[NC]) {
    constexpr int U = MMV_LOADS / (R * piece_loads<KIND>::n) > 0 ? MMV_LOADS / (R * piece_loads<KIND>::n) : 1;
    const int np = (int)n_pieces<KIND>(w.k), k = (int)w.k;
    const uint8_t *wr[R];
    const half *wd[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int64_t row = row0 + r < w.rows ? row0 + r : w.rows - 1;
        wr[r] = w.q + row * w.row_bytes;
        wd[r] = (KIND == CU_Q4_0 || KIND == CU_Q8_0) ? w.d + row * (w.k / 32) : NULL;
    }
    for (int b0 = first; b0 < np; b0 += step * U) {
        wpiece<KIND> p[U][R];
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * step;
            if (b < np) {
#pragma unroll
                for (int r = 0; r < R; r++) load_piece<KIND>(wr[r], wd[r], b, p[u][r]);
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = b0 + u * step;
            if (b < np) {
#pragma unroll
                for (int r = 0; r < R; r++) add_piece<KIND, NC>(p[u][r], b, k, x8, xds, x, n_cols, acc[r]);
            }
        }
    }
}

/* F16 / F32 rows whose length is not a multiple of a piece: one value per lane and step. */
template <int KIND, int NC>
static __device__ __forceinline__ void mmv_f_row_scalar(const cu_weight &w, const float *x, int64_t row, int first,
                                                        int step, int n_cols, float *acc) {
    const int64_t k = w.k;
    const uint8_t *wr = w.q + row * w.row_bytes;
    for (int64_t i = first; i < k; i += step) {
        const float wf = KIND == CU_F16 ? __half2float(((const half *)wr)[i]) : ((const float *)wr)[i];
#pragma unroll
        for (int c = 0; c < NC; c++)
            if (NC <= 8 || c < n_cols) acc[c] += wf * x[c * k + i];
    }
}

/* Rows are taken in groups of R per warp and MMV_WARPS / wpr warps per block (wpr warps share a
 * group, each taking every wpr-th piece, their sums added in store_cols). By default the grid has
 * one block per group of the block; with a grid cap (AUTOGLM_CUDA_MMV_BLOCKS: measured slower on
 * the H200, so off) the blocks stride over them and each warp asks L2 for its next rows first. */
template <int KIND>
static __device__ __forceinline__ void prefetch_weight_rows(const cu_weight &w, int64_t row, int R, int lane) {
    const int64_t n = w.rows - row < R ? w.rows - row : R;
    prefetch_row(w.q + row * w.row_bytes, (int64_t)w.row_bytes * n, lane);
    if (KIND == CU_Q4_0 || KIND == CU_Q8_0) prefetch_row(w.d + row * (w.k / 32), w.k / 32 * 2 * n, lane);
}

template <int KIND, int NC, int R>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_kernel(cu_weight w, const int8_t *x8, const float2 *xds,
                                                             const float *x, float *y, int ldy, int accumulate,
                                                             int n_cols, int wpr, int pf) {
    cu_pdl_launch_next();
    const int slots = MMV_WARPS / wpr, part = threadIdx.y % wpr, slot = threadIdx.y / wpr;
    const int lane = threadIdx.x;
    const int64_t rpb = (int64_t)slots * R, n_groups = (w.rows + rpb - 1) / rpb;
    int64_t g = blockIdx.x;
    if (pf && part == 0 && g * rpb + slot * R < w.rows) prefetch_weight_rows<KIND>(w, g * rpb + slot * R, R, lane);
    cu_pdl_wait();
    for (; g < n_groups; g += gridDim.x) {
        const int64_t row0 = g * rpb + slot * R, next = row0 + (int64_t)gridDim.x * rpb;
        if (pf && part == 0 && next < w.rows) prefetch_weight_rows<KIND>(w, next, R, lane);
        float acc[R][NC];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int c = 0; c < NC; c++) acc[r][c] = 0.0f;
        if (row0 < w.rows) {
            if constexpr (KIND == CU_F16 || KIND == CU_F32) {
                if (w.k % (KIND == CU_F16 ? 8 : 4) != 0) {
#pragma unroll
                    for (int r = 0; r < R; r++)
                        if (row0 + r < w.rows)
                            mmv_f_row_scalar<KIND, NC>(w, x, row0 + r, part * 32 + lane, 32 * wpr, n_cols, acc[r]);
                } else {
                    mmv_rows<KIND, NC, R>(w, x8, xds, x, row0, part * 32 + lane, 32 * wpr, n_cols, acc);
                }
            } else {
                mmv_rows<KIND, NC, R>(w, x8, xds, x, row0, part * 32 + lane, 32 * wpr, n_cols, acc);
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            const bool valid = row0 + r < w.rows;
            store_cols<NC>(acc[r], y, valid ? row0 + r : 0, valid, ldy, n_cols, accumulate, wpr);
        }
    }
}

/* ---------------------------------------------------------------- launch (one token) */

template <int KIND, int R>
static void launch(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy, int acc,
                   int wpr, cu_stream cs) {
    const int64_t rows_per_block = (int64_t)(MMV_WARPS / wpr) * R;
    int64_t blocks = (w->rows + rows_per_block - 1) / rows_per_block;
    if (cs.mmv_blocks_sm > 0 && blocks > (int64_t)cs.n_sm * cs.mmv_blocks_sm) blocks = (int64_t)cs.n_sm * cs.mmv_blocks_sm;
    const int pf = cs.mmv_prefetch ? 1 : 0;
    cu_launch(cs, mmv_kernel<KIND, 1, R>, dim3((unsigned)blocks), dim3(32, MMV_WARPS), *w, x8, xds, x, y, ldy, acc, 1,
              wpr, pf);
}

template <int R>
static void launch_r(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy, int acc,
                     int wpr, cu_stream cs) {
    switch (w->kind) {
    case CU_F32: launch<CU_F32, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    case CU_F16: launch<CU_F16, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    case CU_Q4_0: launch<CU_Q4_0, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    case CU_Q8_0: launch<CU_Q8_0, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    case CU_Q4_K: launch<CU_Q4_K, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    case CU_Q6_K: launch<CU_Q6_K, R>(w, x, x8, xds, y, ldy, acc, wpr, cs); break;
    }
}

void cu_mmv_rows(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy,
                 bool accumulate, int rows_per_warp, int wpr, cu_stream cs) {
    if (rows_per_warp >= 2) launch_r<2>(w, x, x8, xds, y, ldy, accumulate ? 1 : 0, wpr, cs);
    else launch_r<1>(w, x, x8, xds, y, ldy, accumulate ? 1 : 0, wpr, cs);
}
