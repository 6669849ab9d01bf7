/*
 * cuda_mmv.cu - matrix-vector products for decode (and batches of up to CU_MMV_MAX_COLS tokens):
 * y[c*ldy + r] (+)= sum_i W[r][i] * x[c][i].
 *
 * Here: one warp per weight row, 4 rows per block (or, for float matrices of few rows, 2 or 4 warps
 * per row, each taking every 2nd or 4th piece, their sums added through shared memory); each lane walks
 * the row in aligned 16-byte pieces, so a warp reads 512 contiguous bytes per step and every
 * weight byte is read once for all columns.
 * Quantized weights meet 8-bit activations (cu_quantize_q8: per 32 values d = max|x|/127,
 * q = round(x/d), and d*sum(q)) in integer dot products (dp4a), one float multiply-add per block:
 *   Q4_0  d_w * (d_x * sum(q_w * q_x) - 8 * d_x*sum(q_x))          q_w in 0..15
 *   Q8_0  d_w * d_x * sum(q_w * q_x)
 *   Q4_K  per 32: d*sc * d_x*sum(q_w*q_x) - dmin*m * d_x*sum(q_x)   (6-bit sc, m)
 *   Q6_K  per 32: d * d_x * (sc0 * sum_lo16 + sc1 * sum_hi16)       q_w in -32..31
 * F16 and F32 weights use the float activations directly.
 *
 * Each warp first asks L2 for its whole row (prefetch) and only then waits for the kernel before
 * it (programmatic dependent launch, cu_pdl_wait): under the launch attribute the weight reads of
 * one product overlap the end of the step before. Batches of 9..16 columns share the 16-column
 * kernel (columns past n skipped), so a batched step of up to 16 sequences reads each weight once.
 * One-token products go first, Q4_0 of k = 2048 / 4096, to the persistent kernel below, then to the
 * streaming kernel (cuda_mmv_stream.cu: Q4_0, Q8_0, Q4_K, Q6_K with staged activations, F16), then to
 * the bulk-copy kernel where it applies (cuda_mmv_bulk.cu: F32, or the kinds above with the streaming
 * kernel turned off), then Q4_K / Q6_K to the rows kernel (cuda_mmv_rows.cu); the row sums of all of
 * them are cuda_mmv_row.cuh's.
 */
#include "cuda/cuda_mmv_row.cuh"

/* ---------------------------------------------------------------- activations to 8 bits */

/* One warp per 32 values. */
__global__ void quantize_q8_kernel(const float *x, int64_t n_blocks, int8_t *x8, float2 *xds) {
    cu_pdl_launch_next();
    cu_pdl_wait();
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

void cu_quantize_q8(const float *x, int n, int64_t k, int8_t *x8, float2 *xds, cu_stream cs) {
    const int64_t nb = (int64_t)n * k / 32;
    cu_launch(cs, quantize_q8_kernel, dim3((unsigned)((nb + 7) / 8)), dim3(256), x, nb, x8, xds);
}

/* ---------------------------------------------------------------- one row per warp: integer kernels */

/* Rows are taken in groups of MMV_WARPS / wpr per block. By default the grid has one block per
 * group; with a grid cap (AUTOGLM_CUDA_MMV_BLOCKS: measured slower on the H200, so off) the blocks
 * stride over the groups and each warp asks L2 for its next row before working on the current one. */
template <int KIND>
static __device__ __forceinline__ void prefetch_weight_row(const cu_weight &w, int64_t row, int lane) {
    prefetch_row(w.q + row * w.row_bytes, (int64_t)w.row_bytes, lane);
    if (KIND == CU_Q4_0 || KIND == CU_Q8_0) prefetch_row(w.d + row * (w.k / 32), w.k / 32 * 2, lane);
}

#define MMV_KERNEL_BODY(ROW_CALL)                                                                   \
    cu_pdl_launch_next();                                                                           \
    const int rpb = MMV_WARPS / wpr, part = threadIdx.y % wpr, slot = threadIdx.y / wpr;            \
    const int lane = threadIdx.x;                                                                   \
    const int64_t n_groups = (w.rows + rpb - 1) / rpb;                                              \
    int64_t g = blockIdx.x;                                                                         \
    if (pf && part == 0 && g * rpb + slot < w.rows)                                                 \
        prefetch_weight_row<KIND>(w, g * rpb + slot, lane);                                         \
    cu_pdl_wait();                                                                                  \
    for (; g < n_groups; g += gridDim.x) {                                                          \
        const int64_t row_ = g * rpb + slot, next = row_ + (int64_t)gridDim.x * rpb;                \
        const bool valid = row_ < w.rows;                                                           \
        const int64_t row = valid ? row_ : w.rows - 1;                                              \
        if (pf && part == 0 && next < w.rows) prefetch_weight_row<KIND>(w, next, lane);             \
        float acc[NC];                                                                              \
        _Pragma("unroll") for (int c = 0; c < NC; c++) acc[c] = 0.0f;                               \
        if (valid) ROW_CALL;                                                                        \
        store_cols<NC>(acc, y, row, valid, ldy, n_cols, accumulate, wpr);                           \
    }

template <int KIND, int NC>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_q_kernel(cu_weight w, const int8_t *x8, const float2 *xds,
                                                               float *y, int ldy, int accumulate, int n_cols, int wpr, int pf) {
    MMV_KERNEL_BODY((mmv_q_row<KIND, NC>(w, x8, xds, row, part * 32 + lane, 32 * wpr, n_cols, acc)))
}

/* ---------------------------------------------------------------- one row per warp: float kernels */

template <int KIND, int NC>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_f_kernel(cu_weight w, const float *x, float *y, int ldy,
                                                               int accumulate, int n_cols, int wpr, int pf) {
    MMV_KERNEL_BODY((mmv_f_row<KIND, NC>(w, x, row, part * 32 + lane, 32 * wpr, n_cols, acc)))
}

/* ---------------------------------------------------------------- one token, Q4_0: persistent */

/* Piece j of the lane's P pieces of row `row` (pieces lane, lane + 32, ...): quants and scale. */
template <int P>
static __device__ __forceinline__ void load_q4_0_row(const cu_weight &w, int64_t row, int lane, int4 *q, half *d) {
    const int4 *wr = (const int4 *)(w.q + row * w.row_bytes);
    const half *wd = w.d + row * (P * 32);
#pragma unroll
    for (int j = 0; j < P; j++) {
        q[j] = wr[lane + 32 * j];
        d[j] = wd[lane + 32 * j];
    }
}

/* One-token Q4_0 products of rows of P * 32 pieces (k = 1024 P): a persistent grid (5 or 8 blocks of
 * 4 warps per multiprocessor, launch_nc); each warp walks rows g, g + G, ... and has the next row's weights
 * loaded into registers before it sums the current one, so its loads of a row are always in
 * flight (its first row's are issued before the wait for the kernel before: PDL). A lane sums its
 * pieces in the one-row kernel's order with the same arithmetic, and the warp sum and store are
 * the same, so a row's result is bit-identical to mmv_q_kernel's (batched passes use that one).
 * Measured alone (bench_cuda_mmv, 8B shapes, cold): gate|up 20.6 -> 19.0 us, QKV 6.0 -> 5.6,
 * output 5.3 -> 4.7 against one row per warp. */
template <int P>
__global__ void __launch_bounds__(128) mmv_q4_0_persist_kernel(cu_weight w, const int8_t *x8, const float2 *xds, float *y,
                                                               int accumulate) {
    cu_pdl_launch_next();
    const int lane = threadIdx.x;
    const int64_t stride = (int64_t)gridDim.x * blockDim.y;
    int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    int4 cur[P] = {};
    half cd[P] = {};
    if (row < w.rows) load_q4_0_row<P>(w, row, lane, cur, cd);
    cu_pdl_wait();
    int xq[P][8];
    float2 ds[P];
#pragma unroll
    for (int j = 0; j < P; j++) {
        load32(x8 + (lane + 32 * j) * 32, xq[j]);
        ds[j] = xds[lane + 32 * j];
    }
    for (; row < w.rows; row += stride) {
        int4 nxt[P] = {};
        half nd[P] = {};
        if (row + stride < w.rows) load_q4_0_row<P>(w, row + stride, lane, nxt, nd);
        float acc = 0.0f;
#pragma unroll
        for (int j = 0; j < P; j++) {
            int wq[8];
            q4_0_codes(cur[j], wq);
            const float d = __half2float(cd[j]);
            const int sdot = dot8(wq, xq[j], 0);
            acc += d * (ds[j].x * (float)sdot - 8.0f * ds[j].y);
        }
        const float sum = warp_sum(acc);
        if (lane == 0) y[row] = accumulate ? y[row] + sum : sum;
#pragma unroll
        for (int j = 0; j < P; j++) {
            cur[j] = nxt[j];
            cd[j] = nd[j];
        }
    }
}

/* ---------------------------------------------------------------- dispatch */

/* One-token products: 0 for the one-row kernels here, R for the rows kernel (cuda_mmv_rows.cu) with
 * R rows per warp, by weight kind unless AUTOGLM_CUDA_MMV_ROWS is set. Measured on the H200
 * (docs/PERFORMANCE.md, "matrix-vector kernels, second round"): the rows kernel with one row per
 * warp is +10% on 8B Q4_K_M and +3% on 1B Q4_K_M end to end (Q4_K and Q6_K products); on Q8_0 it
 * was +2% on the 8B but -6% on the 1B, on Q4_0 and F16 equal or slower, so those stay here. */
static int default_rows(int kind) {
    switch (kind) {
    case CU_Q4_K:
    case CU_Q6_K: return 1;
    default: return 0;
    }
}

/* The streaming kernel's shape for one-token products of this kind by default (AUTOGLM_CUDA_MMV_STREAM
 * = 1): 16-byte loads per lane and chunk and blocks per multiprocessor, {0, 0} where it stays off.
 * Measured on the H200 (docs/PERFORMANCE.md, 2026-12-02, "The streaming kernel"), tg128 against the
 * kernels before (the bulk-copy kernel for Q8_0 and F16, the rows kernel for Q4_K / Q6_K): Q8_0
 * with 4 loads, 8 blocks: 8B +13%, 1B +1 - 2%; F16 the same shape: 1B +8% (the 8B not measured);
 * Q4_K / Q6_K with 8 loads, 4 blocks: 1B Q4_K_M +11%, 8B equal; F32 not measured. With the activations
 * staged in shared memory (third session, same document): Q4_K / Q6_K 8B Q4_K_M 393 -> 465 tok/s, 1B
 * 1,635 -> 1,693; Q4_0 with 8 loads and 4 blocks (only products that the persistent kernel does not
 * take: the 8B's down product, the 1B's) 8B 544 -> 594, 1B 1,885 -> 2,052; Q8_0 +0.4 - 1.3%; F16
 * slower staged (8B 203 -> 197, 1B 1,066 -> 1,053), so F16 reads them from global memory. Q8_0 with 9
 * blocks instead of 8 (all that fit its 56 registers a thread; fourth session): 8B 385 -> 392, 1B
 * 1,617 -> 1,659 (6 blocks: 8B 344, 7: 367). */
typedef struct {
    int loads, blocks_sm;
    bool stage; /* the activations copied into shared memory first */
} stream_shape;

static stream_shape default_stream(int kind) {
    switch (kind) {
    case CU_Q8_0: return {4, 9, true};
    case CU_F16: return {4, 8, false};
    case CU_Q4_0: /* k = 2048 / 4096 go to the persistent kernel first */
    case CU_Q4_K:
    case CU_Q6_K: return {8, 4, true};
    default: return {0, 0, false};
    }
}

/* The one-token product on the streaming kernel where it is chosen (cs.mmv_stream: 2 every kind,
 * with 4 loads and 4 blocks per multiprocessor unless set) and applies. */
static bool try_stream(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int acc,
                       cu_stream cs) {
    stream_shape shape = default_stream(w->kind);
    if (cs.mmv_stream == 0 || (cs.mmv_stream == 1 && shape.loads == 0)) return false;
    if (shape.loads == 0) shape = {4, 4, false};
    if (cs.stream_loads > 0) shape.loads = cs.stream_loads;
    if (cs.stream_blocks_sm > 0) shape.blocks_sm = cs.stream_blocks_sm;
    if (cs.stream_stage != 1) shape.stage = cs.stream_stage == 2;
    return cu_mmv_stream(w, x, x8, xds, y, acc != 0, shape.loads, shape.blocks_sm, shape.stage, cs);
}

template <int NC>
static void launch_nc(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy,
                      int acc, int n, cu_stream cs) {
    /* warps per row: for float weights, enough warps in flight for the whole chip (~48 per
       multiprocessor) while every lane keeps at least one 32-value piece of the row per warp; the
       quantized kernels measured faster with one warp per row (docs/PERFORMANCE.md, 2026-12-01).
       It depends on the matrix only, never on n: a row sums in the same order in every pass. */
    const int64_t pieces = w->k / 32;
    const bool flt = w->kind == CU_F16 || w->kind == CU_F32;
    const int64_t wanted = cs.mmv_warps_wanted >= 0 ? cs.mmv_warps_wanted : flt ? CU_MMV_WARPS_WANTED : 0;
    int wpr = 1;
    while (wpr < MMV_WARPS && w->rows * wpr < wanted && pieces >= 64 * wpr) wpr *= 2;
    if (NC == 1 && w->kind == CU_Q4_0 && cs.mmv_persist && cs.mmv_rows < 0 && wpr == 1 &&
        (w->k == 2048 || w->k == 4096)) {
        /* blocks per multiprocessor: as many as fit (H200 tg128, 4 -> 5 for k = 4096: 8B Q4_0 571 -> 579 tok/s;
           4 -> 6 -> 8 for k = 2048: 1B Q4_0 2,002 -> 2,091 -> 2,122) */
        void (*kernel)(cu_weight, const int8_t *, const float2 *, float *, int) =
            w->k == 2048 ? mmv_q4_0_persist_kernel<2> : mmv_q4_0_persist_kernel<4>;
        const int bsm = cu_fit_blocks(kernel, 32 * MMV_WARPS, 0,
                                      cs.persist_blocks_sm > 0 ? cs.persist_blocks_sm : w->k == 2048 ? 8 : 5);
        const dim3 grid((unsigned)(cs.n_sm > 0 ? bsm * cs.n_sm : bsm)), block(32, MMV_WARPS);
        return cu_launch(cs, kernel, grid, block, *w, x8, xds, y, acc);
    }
    if (NC == 1 && cs.mmv_rows < 0 && wpr == 1 && try_stream(w, x, x8, xds, y, acc, cs)) return;
    if (NC == 1 && cs.mmv_rows < 0 && wpr == 1 && cu_mmv_bulk(w, x, x8, xds, y, acc != 0, cs)) return;
    if (NC == 1) {
        const int rows = cs.mmv_rows >= 0 ? cs.mmv_rows : default_rows(w->kind);
        if (rows > 0) return cu_mmv_rows(w, x, x8, xds, y, ldy, acc != 0, rows, wpr, cs);
    }
    const int pf = cs.mmv_prefetch ? 1 : 0;
    const int rows_per_block = MMV_WARPS / wpr;
    int64_t blocks = (w->rows + rows_per_block - 1) / rows_per_block;
    if (cs.mmv_blocks_sm > 0 && blocks > (int64_t)cs.n_sm * cs.mmv_blocks_sm) blocks = (int64_t)cs.n_sm * cs.mmv_blocks_sm;
    const dim3 block(32, MMV_WARPS), grid((unsigned)blocks);
    switch (w->kind) {
    case CU_F32: cu_launch(cs, mmv_f_kernel<CU_F32, NC>, grid, block, *w, x, y, ldy, acc, n, wpr, pf); break;
    case CU_F16: cu_launch(cs, mmv_f_kernel<CU_F16, NC>, grid, block, *w, x, y, ldy, acc, n, wpr, pf); break;
    case CU_Q4_0: cu_launch(cs, mmv_q_kernel<CU_Q4_0, NC>, grid, block, *w, x8, xds, y, ldy, acc, n, wpr, pf); break;
    case CU_Q8_0: cu_launch(cs, mmv_q_kernel<CU_Q8_0, NC>, grid, block, *w, x8, xds, y, ldy, acc, n, wpr, pf); break;
    case CU_Q4_K: cu_launch(cs, mmv_q_kernel<CU_Q4_K, NC>, grid, block, *w, x8, xds, y, ldy, acc, n, wpr, pf); break;
    case CU_Q6_K: cu_launch(cs, mmv_q_kernel<CU_Q6_K, NC>, grid, block, *w, x8, xds, y, ldy, acc, n, wpr, pf); break;
    }
}

void cu_mmv(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, int n, float *y, int ldy,
            bool accumulate, cu_stream cs) {
    const int a = accumulate ? 1 : 0;
    switch (n) {
    case 1: launch_nc<1>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 2: launch_nc<2>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 3: launch_nc<3>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 4: launch_nc<4>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 5: launch_nc<5>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 6: launch_nc<6>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 7: launch_nc<7>(w, x, x8, xds, y, ldy, a, n, cs); break;
    case 8: launch_nc<8>(w, x, x8, xds, y, ldy, a, n, cs); break;
    default: launch_nc<16>(w, x, x8, xds, y, ldy, a, n, cs); break;
    }
}
