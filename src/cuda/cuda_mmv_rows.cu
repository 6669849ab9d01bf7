/*
 * cuda_mmv_rows.cu - the rows kernel of the one-token matrix-vector products: R weight rows per
 * warp (R = 1 or 2), 4 warps per block (or split rows, as the one-row kernels): Q4_K / Q6_K where
 * the streaming kernel is off, every kind under AUTOGLM_CUDA_MMV_ROWS (cuda_mmv.cu chooses;
 * docs/PERFORMANCE.md).
 *
 * A row is walked in pieces (cuda_mmv_piece.cuh: Q4_0 / Q8_0 / Q6_K: 32 values, Q4_K: a pair of
 * 32-groups, F16: 8 values, F32: 4). Each lane loads MMV_LOADS 16-byte weight vectors ahead
 * (pieces of its R rows) before it multiplies, reads the activations of a piece once for the R
 * rows, and indexes with 32-bit piece numbers from a per-row base pointer (fewer registers than
 * the one-row kernels: Q4_K 64 instead of 72). A Q4_K piece reads its super-block's header (d, dmin, 12 bytes of 6-bit scales)
 * as one 16-byte load. The arithmetic of a piece is the one-row kernels' (same formulas, same
 * order: lane `first` takes pieces first, first + step, ...), so a row's sum does not depend on the
 * kernel, R or the number of tokens in the pass (speculative decoding compares k-token passes with
 * one-token steps bit for bit).
 */
#include "cuda/cuda_mmv_piece.cuh"

#define MMV_LOADS 4 /* 16-byte weight loads a lane issues before it multiplies (8 measured slower) */

/* The warp's share of rows row0 .. row0 + R - 1 (each clamped to the last row) added to acc[r]:
 * each lane loads U pieces of each of the R rows (MMV_LOADS 16-byte loads, at least one piece) before
 * it multiplies,
 * and the activations of a piece are read once for the R rows. */
template <int KIND, int NC, int R>
static __device__ __forceinline__ void mmv_rows(const cu_weight &w, const int8_t *x8, const float2 *xds, const float *x,
                                                int64_t row0, int first, int step, int n_cols, float (*acc)[NC]) {
    constexpr int U = MMV_LOADS / (R * piece_loads<KIND>::n) > 0 ? MMV_LOADS / (R * piece_loads<KIND>::n) : 1;
    const int np = (int)n_pieces<KIND>(w.k);
    const act_global act{x8, xds, x, (int)w.k};
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
                for (int r = 0; r < R; r++) add_piece<KIND, NC>(p[u][r], b, act, n_cols, acc[r]);
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
