/*
 * cuda_mmv_bulk.cu - one-token matrix-vector products whose weights reach the multiprocessors
 * through the bulk copy engine (compute capability 9.0+, cuda_bulk.cuh) instead of through the
 * warps' registers: y[r] (+)= W[r] . x.
 *
 * The rows are cut into tiles of BULK_WARPS consecutive rows; a tile's quants (and Q4_0 / Q8_0
 * scales) are two contiguous ranges of the device layout (cuda_internal.cuh), so one thread copies
 * a whole tile into shared memory with two instructions. A persistent grid (1 to 3 blocks per
 * multiprocessor) walks the tiles t = block, block + grid, ...; each block keeps `stages` tiles
 * in flight in a ring of shared-memory stages, each with its own barrier, and refills a stage as
 * soon as its warps are done with it. Warp i sums row i of the tile with the one-row kernels' code
 * (cuda_mmv_row.cuh), so the results are bit-identical to every other one-token kernel and to the
 * batched passes. The first `stages` tiles are requested before the wait for the kernel before
 * (programmatic dependent launch): weights stream in while the previous kernel finishes.
 *
 * Why: a warp can keep only about one row in flight in its registers, which left the products at
 * 42 - 74% of the streaming read (docs/PERFORMANCE.md); here tens of kilobytes per multiprocessor
 * are in flight whatever the registers.
 */
#include "cuda/cuda_bulk.cuh"
#include "cuda/cuda_mmv_row.cuh"

#define BULK_HDR 128       /* bytes before the stages: their barriers */
#define BULK_TILE_WANTED 32768 /* tiles of 16 rows where 8 rows are fewer bytes (measured best: ~35 KB) */
#define BULK_MAX_STAGES 16 /* barriers that fit in BULK_HDR */

static __host__ __device__ inline uint32_t bulk_scale_row_bytes(int kind, int64_t k) {
    return kind == CU_Q4_0 || kind == CU_Q8_0 ? (uint32_t)(k / 32) * 2 : 0;
}

#if CU_BULK_DEVICE
/* Asks for tile t (rows t*W ..) into stage, counted on bar. COPY 0: one thread (the caller) with
 * two bulk copies; COPY 1: every thread of the block calls it and copies its share of 16-byte
 * pieces with cp.async. */
template <int W, int COPY>
static __device__ __forceinline__ void bulk_issue(const cu_weight &w, uint32_t d_row, int64_t t, uint8_t *stage,
                                                  uint64_t *bar) {
    const int64_t r0 = t * W;
    const int64_t n = w.rows - r0 < W ? w.rows - r0 : W;
    const uint32_t qb = (uint32_t)(n * (int64_t)w.row_bytes), db = (uint32_t)n * d_row;
    const uint8_t *q = w.q + r0 * (int64_t)w.row_bytes, *d = (const uint8_t *)w.d + r0 * (int64_t)d_row;
    uint8_t *stage_d = stage + (size_t)W * w.row_bytes;
    if (COPY == 0) {
        cu_mbar_expect(bar, qb + db);
        cu_bulk_copy(stage, q, qb, bar);
        if (db) cu_bulk_copy(stage_d, d, db, bar);
    } else {
        const uint32_t tid = threadIdx.y * 32 + threadIdx.x;
        for (uint32_t o = tid * 16; o < qb; o += 32 * W * 16) cu_async_copy16(stage + o, q + o);
        for (uint32_t o = tid * 16; o < db; o += 32 * W * 16) cu_async_copy16(stage_d + o, d + o);
        cu_async_copies_arrive(bar);
    }
}
#endif

template <int KIND, int W, int COPY>
__global__ void __launch_bounds__(32 * W) mmv_bulk_kernel(cu_weight w, const float *x, const int8_t *x8, const float2 *xds,
                                                          float *y, int accumulate, int stages) {
    extern __shared__ __align__(128) uint8_t smem[];
    cu_pdl_launch_next();
#if CU_BULK_DEVICE
    uint64_t *bar = (uint64_t *)smem;
    uint8_t *tiles = smem + BULK_HDR;
    const int lane = threadIdx.x, warp = threadIdx.y;
    const bool leader = warp == 0 && lane == 0, issuer = COPY == 1 || leader;
    const uint32_t d_row = bulk_scale_row_bytes(KIND, w.k);
    const size_t q_bytes = (size_t)W * w.row_bytes, stage_bytes = q_bytes + (size_t)W * d_row;
    const int64_t n_tiles = (w.rows + W - 1) / W;
    if (leader) {
        for (int s = 0; s < stages; s++) cu_mbar_init(&bar[s], COPY == 0 ? 1 : 32 * W);
        cu_mbar_init_fence();
    }
    __syncthreads();
    if (issuer)
        for (int s = 0; s < stages; s++) {
            const int64_t t = blockIdx.x + (int64_t)s * gridDim.x;
            if (t < n_tiles) bulk_issue<W, COPY>(w, d_row, t, tiles + s * stage_bytes, &bar[s]);
        }
    cu_pdl_wait();
    for (int i = 0;; i++) {
        const int64_t t = blockIdx.x + (int64_t)i * gridDim.x;
        if (t >= n_tiles) break;
        const int s = i % stages;
        cu_mbar_wait(&bar[s], (uint32_t)(i / stages) & 1);
        const int64_t row = t * W + warp;
        if (row < w.rows) {
            cu_weight tile = w; /* the tile in shared memory: its rows 0 .. W-1 */
            tile.q = tiles + s * stage_bytes;
            tile.d = (const half *)(tile.q + q_bytes);
            float acc[1] = {0.0f};
            if (KIND == CU_F16 || KIND == CU_F32) mmv_f_row<KIND, 1>(tile, x, warp, lane, 32, 1, acc);
            else mmv_q_row<KIND, 1>(tile, x8, xds, warp, lane, 32, 1, acc);
            const float sum = warp_sum(acc[0]);
            if (lane == 0) y[row] = accumulate ? y[row] + sum : sum;
        }
        __syncthreads(); /* every warp is done with stage s */
        const int64_t next = t + (int64_t)stages * gridDim.x;
        if (issuer && next < n_tiles) bulk_issue<W, COPY>(w, d_row, next, tiles + s * stage_bytes, &bar[s]);
    }
#else
    (void)w, (void)x, (void)x8, (void)xds, (void)y, (void)accumulate, (void)stages;
#endif
}

typedef void (*bulk_kernel)(cu_weight, const float *, const int8_t *, const float2 *, float *, int, int);

/* The kernel of a weight kind, with w warps (8 or 16) and copy (0 bulk, 1 cp.async); NULL: none. */
template <int W, int COPY>
static bulk_kernel bulk_kernel_wc(int kind) {
    switch (kind) {
    case CU_F32: return mmv_bulk_kernel<CU_F32, W, COPY>;
    case CU_F16: return mmv_bulk_kernel<CU_F16, W, COPY>;
    case CU_Q4_0: return mmv_bulk_kernel<CU_Q4_0, W, COPY>;
    case CU_Q8_0: return mmv_bulk_kernel<CU_Q8_0, W, COPY>;
    case CU_Q4_K: return mmv_bulk_kernel<CU_Q4_K, W, COPY>;
    case CU_Q6_K: return mmv_bulk_kernel<CU_Q6_K, W, COPY>;
    default: return NULL;
    }
}

static bulk_kernel bulk_kernel_of(int kind, int warps, int copy) {
    if (warps == 16) return copy ? bulk_kernel_wc<16, 1>(kind) : bulk_kernel_wc<16, 0>(kind);
    return copy ? bulk_kernel_wc<8, 1>(kind) : bulk_kernel_wc<8, 0>(kind);
}

bool cu_mmv_bulk_prepare(size_t smem_block) {
    cudaFuncAttributes fa;
    if (cudaFuncGetAttributes(&fa, bulk_kernel_of(CU_Q4_0, 8, 0)) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    if (fa.ptxVersion < 90) return false; /* the compute_75 PTX was compiled for this device */
    for (int kind = CU_F32; kind <= CU_Q6_K; kind++)
        for (int v = 0; v < 4; v++)
            if (cudaFuncSetAttribute(bulk_kernel_of(kind, v & 1 ? 16 : 8, v >> 1), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                     (int)smem_block) != cudaSuccess) {
                cudaGetLastError();
                return false;
            }
    return true;
}

/* Blocks per multiprocessor and stages for tiles of stage_bytes: 2 blocks with at least 3 stages
 * each when they fit, else 1 block with at least 2 (or the numbers asked for by cs); false when
 * not even that fits. */
static bool bulk_plan(size_t stage_bytes, const cu_stream &cs, int *blocks_sm, int *stages) {
    const int max_stages = cs.bulk_stages > 0 && cs.bulk_stages < BULK_MAX_STAGES ? cs.bulk_stages : BULK_MAX_STAGES;
    for (int b = cs.bulk_blocks_sm > 0 ? cs.bulk_blocks_sm : 2; b >= 1; b--) {
        size_t per_block = cs.smem_sm / (size_t)b;
        if (per_block > cs.smem_block) per_block = cs.smem_block;
        per_block = per_block > 1024 + BULK_HDR ? per_block - 1024 - BULK_HDR : 0; /* 1 KB per block is the system's */
        int s = (int)(per_block / stage_bytes);
        if (s > max_stages) s = max_stages;
        if (s >= (b > 1 && cs.bulk_blocks_sm <= 0 ? 3 : 2)) {
            *blocks_sm = b;
            *stages = s;
            return true;
        }
        if (cs.bulk_blocks_sm > 0) return false;
    }
    return false;
}

bool cu_mmv_bulk(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, bool accumulate,
                 cu_stream cs) {
    if (cs.mmv_bulk == 0 || cs.n_sm <= 0) return false;
    if (cs.mmv_bulk == 1 && w->kind != CU_Q8_0 && w->kind != CU_F16 && w->kind != CU_F32) return false;
    const uint32_t d_row = bulk_scale_row_bytes(w->kind, w->k);
    if (w->row_bytes % 16 || d_row % 16 || (uintptr_t)w->q % 16 || (d_row && (uintptr_t)w->d % 16)) return false;
    const int warps = cs.bulk_warps == 8 || cs.bulk_warps == 16 ? cs.bulk_warps
                      : (size_t)8 * (w->row_bytes + d_row) < BULK_TILE_WANTED ? 16 : 8;
    const size_t tile_bytes = (size_t)warps * (w->row_bytes + d_row);
    int blocks_sm, stages;
    if (tile_bytes < cs.bulk_min_tile || !bulk_plan(tile_bytes, cs, &blocks_sm, &stages)) return false;
    const bulk_kernel kernel = bulk_kernel_of(w->kind, warps, cs.bulk_copy);
    if (!kernel) return false;
    const int64_t n_tiles = (w->rows + warps - 1) / warps;
    const int64_t grid = n_tiles < (int64_t)blocks_sm * cs.n_sm ? n_tiles : (int64_t)blocks_sm * cs.n_sm;
    cu_launch_smem(cs, kernel, dim3((unsigned)grid), dim3(32, warps), BULK_HDR + (size_t)stages * tile_bytes, *w, x, x8,
                   xds, y, accumulate ? 1 : 0, stages);
    return true;
}
