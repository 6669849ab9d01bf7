/*
 * cuda_mmv_stream.cu - the streaming kernel of the one-token matrix-vector products: a persistent
 * grid (a few blocks of 4 warps per multiprocessor) in which each warp walks its rows (g, g + G, ...)
 * as one stream of chunks, a chunk being L 16-byte weight loads per lane (U pieces: cuda_mmv_piece.cuh)
 * of one row. The next chunk's loads, in this row or the next, are issued before the current chunk
 * is multiplied, so a warp always has a chunk in flight whatever the length of the rows; its first
 * chunk is asked for before the wait for the kernel before (programmatic dependent launch).
 *
 * It generalizes the persistent Q4_0 kernel of cuda_mmv.cu (whole rows of k = 2048 / 4096 in
 * registers) to every weight kind and row length. A lane takes the pieces lane, lane + 32, ... of a
 * row in order with add_piece's arithmetic, and the warp sum and store are store_cols', so a row's
 * result is bit-identical to the one-row and rows kernels' (test_cuda: one_token_kernels).
 * Chunks that ran on across the ends of rows (a chunk holding the end of one row and the start of
 * the next, no lane idle at a row's end) measured slower: 8B Q4_0 gate|up 19.7 -> 27.2 us alone
 * (docs/PERFORMANCE.md, 2026-12-02, "The streaming kernel").
 *
 * With `stage`, each block first copies the activations into its shared memory (stage_act): a lane's
 * pieces read their activations at a stride of 32 or 64 bytes, which from global memory costs up to
 * four times the L1 wavefronts of the weights themselves; from the swizzled copy a quarter warp's
 * reads hit distinct banks. 8B Q4_K_M tg128 +17%, 8B Q4_0 (its down product) +9% on the H200
 * (docs/PERFORMANCE.md, 2026-12-02, third session). Tried and slower (8B Q4_K_M 466 -> 378 tok/s): a
 * padded copy (chunk j at j + j / 8) with each chunk's pieces at constant offsets from one address and
 * the loop unrolled by two so that the chunk in flight is not copied between registers; it needed
 * more registers (Q4_K: 144 a thread), and kept within them by __launch_bounds__ (126, no spills)
 * it was still slower (8B Q4_K_M 466 -> 461, 8B F16 202 -> 187; fourth session).
 */
#include "cuda/cuda_mmv_piece.cuh"

/* Pieces per chunk of a lane: L 16-byte loads, at least one piece. */
template <int KIND, int L> struct stream_chunk {
    static constexpr int u = L / piece_loads<KIND>::n > 0 ? L / piece_loads<KIND>::n : 1;
};

/* The lane's pieces of chunk ch of row `row` (pieces ch * 32 U + 32 u + lane, u < U, those < np). */
template <int KIND, int U>
static __device__ __forceinline__ void load_chunk(const cu_weight &w, int64_t row, int ch, int lane, int np,
                                                  wpiece<KIND> *p) {
    const uint8_t *wr = w.q + row * w.row_bytes;
    const half *wd = (KIND == CU_Q4_0 || KIND == CU_Q8_0) ? w.d + row * (w.k / 32) : NULL;
#pragma unroll
    for (int u = 0; u < U; u++) {
        const int b = ch * 32 * U + 32 * u + lane;
        if (b < np) load_piece<KIND>(wr, wd, b, p[u]);
    }
}

/* The kernel's activations: read from global memory (STAGE false) or first copied into the block's
 * shared memory (stage_act: fewer L1 wavefronts per weight byte, cuda_mmv_piece.cuh). */
template <bool STAGE> struct stream_act { typedef act_global type; };
template <> struct stream_act<true> { typedef act_staged type; };

template <int KIND, bool STAGE>
static __device__ __forceinline__ typename stream_act<STAGE>::type make_act(const int8_t *x8, const float2 *xds,
                                                                                   const float *x, int k) {
    if constexpr (STAGE) {
        extern __shared__ int4 stream_smem[];
        return stage_act<KIND>(x8, xds, x, k, stream_smem);
    } else {
        return act_global{x8, xds, x, k};
    }
}

template <int KIND, int L, bool STAGE>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_stream_kernel(cu_weight w, const int8_t *x8, const float2 *xds,
                                                                    const float *x, float *y, int accumulate) {
    constexpr int U = stream_chunk<KIND, L>::u;
    cu_pdl_launch_next();
    const int lane = threadIdx.x, np = (int)n_pieces<KIND>(w.k), k = (int)w.k;
    const int chunks = (np + 32 * U - 1) / (32 * U);
    const int64_t stride = (int64_t)gridDim.x * blockDim.y;
    int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    int ch = 0;
    wpiece<KIND> cur[U], nxt[U];
    if (row < w.rows) load_chunk<KIND, U>(w, row, 0, lane, np, cur);
    cu_pdl_wait();
    const auto act = make_act<KIND, STAGE>(x8, xds, x, k);
    float acc = 0.0f;
    while (row < w.rows) {
        int64_t next_row = row;
        int next_ch = ch + 1;
        if (next_ch == chunks) {
            next_ch = 0;
            next_row += stride;
        }
        if (next_row < w.rows) load_chunk<KIND, U>(w, next_row, next_ch, lane, np, nxt);
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int b = ch * 32 * U + 32 * u + lane;
            if (b < np) add_piece<KIND, 1>(cur[u], b, act, 1, &acc);
        }
        if (next_ch == 0) { /* the row is done */
            store_cols<1>(&acc, y, row, true, 0, 1, accumulate, 1);
            acc = 0.0f;
        }
#pragma unroll
        for (int u = 0; u < U; u++) cur[u] = nxt[u];
        row = next_row;
        ch = next_ch;
    }
}

/* The grid: blocks_sm blocks per multiprocessor, fewer where they would not fit at once (a persistent
 * grid is one wave), and no more than the rows need. */
template <int KIND, int L>
static void launch_kind(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int acc,
                        int blocks_sm, bool stage, cu_stream cs) {
    const size_t smem = stage ? (size_t)staged_bytes(KIND, w->k) : 0;
    void (*kernel)(cu_weight, const int8_t *, const float2 *, const float *, float *, int) =
        stage ? mmv_stream_kernel<KIND, L, true> : mmv_stream_kernel<KIND, L, false>;
    const int64_t wanted = (w->rows + MMV_WARPS - 1) / MMV_WARPS,
                  cap = (int64_t)(cs.n_sm > 0 ? cs.n_sm : 1) * cu_fit_blocks(kernel, 32 * MMV_WARPS, smem, blocks_sm);
    const dim3 grid((unsigned)(wanted < cap ? wanted : cap)), block(32, MMV_WARPS);
    cu_launch_smem(cs, kernel, grid, block, smem, *w, x8, xds, x, y, acc);
}

template <int L>
static bool launch_l(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int acc,
                     int blocks_sm, bool stage, cu_stream cs) {
    switch (w->kind) {
    case CU_F32: launch_kind<CU_F32, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    case CU_F16: launch_kind<CU_F16, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    case CU_Q4_0: launch_kind<CU_Q4_0, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    case CU_Q8_0: launch_kind<CU_Q8_0, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    case CU_Q4_K: launch_kind<CU_Q4_K, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    case CU_Q6_K: launch_kind<CU_Q6_K, L>(w, x, x8, xds, y, acc, blocks_sm, stage, cs); return true;
    }
    return false;
}

bool cu_mmv_stream(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, bool accumulate,
                   int loads, int blocks_sm, bool stage, cu_stream cs) {
    /* float rows must be whole pieces (8 / 4 values) */
    if ((w->kind == CU_F16 && w->k % 8 != 0) || (w->kind == CU_F32 && w->k % 4 != 0)) return false;
    if (blocks_sm < 1) blocks_sm = 1;
    const int a = accumulate ? 1 : 0;
    /* staged activations: where they fit the default 48 KB of a block and the blocks fit a multiprocessor,
       and the vector can be copied in 16-byte chunks (the scales are copied as float2) */
    const int sb = stage ? staged_bytes(w->kind, w->k) : 0;
    const bool flt = w->kind == CU_F16 || w->kind == CU_F32;
    const bool aligned = (uintptr_t)(flt ? (const void *)x : (const void *)x8) % 16 == 0;
    const bool st = sb > 0 && sb <= 48 * 1024 && aligned &&
                    (cs.smem_sm == 0 || (size_t)sb * (size_t)blocks_sm <= cs.smem_sm);
    return loads >= 8 ? launch_l<8>(w, x, x8, xds, y, a, blocks_sm, st, cs)
                      : launch_l<4>(w, x, x8, xds, y, a, blocks_sm, st, cs);
}
