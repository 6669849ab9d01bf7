/*
 * cuda_mmv_util.cuh - what the matrix-vector kernels (cuda_mmv.cu: one row per warp, cuda_mmv_rows.cu:
 * rows per warp) share: the block shape, warp sums, 8-element integer dot products, 32-byte loads,
 * the unpacking of Q4_0 codes and Q4_K scales,
 * L2 prefetch of a row, and the store of a row's column sums (partial sums of split rows added
 * through shared memory).
 */
#ifndef AG_CUDA_MMV_UTIL_CUH
#define AG_CUDA_MMV_UTIL_CUH

#include "cuda/cuda_internal.cuh"

#define MMV_WARPS 4 /* warps per block */


static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Four bytes of -32: sum((q - 32) x) of Q6_K codes q in 0..63 is dp4a(q, x, dp4a(Q6_K_MINUS32, x, s)),
 * the same integer as with the codes less 32 first (__vsub4, which sm_70+ emulates in several
 * instructions per word). */
#define Q6_K_MINUS32 ((int)0xE0E0E0E0u)

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

/* The 32 4-bit codes of a Q4_0 piece (16 bytes: element j low nibble of byte j, 16 + j high) as
 * 8 words of 4 bytes in element order (0..3, 4..7, ..., 28..31). */
static __device__ __forceinline__ void q4_0_codes(int4 v, int *w) {
    const int lo[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        w[i] = lo[i] & 0x0F0F0F0F;            /* elements 4i..4i+3 */
        w[i + 4] = (lo[i] >> 4) & 0x0F0F0F0F; /* elements 16+4i.. */
    }
}

/* The 6-bit scales and mins of 32-groups 2p and 2p + 1 of a Q4_K super-block, from its 12 bytes of
 * packed scales (sw: 3 words). Byte b of the packed scales is B[b]; group j < 4 has scale B[j] & 63
 * and min B[j + 4] & 63, group j >= 4 scale (B[j + 4] & 15) | (B[j - 4] >> 6) << 4 and min
 * (B[j + 4] >> 4) | (B[j] >> 6) << 4. Here with whole words (the 4 scales, the 4 mins of the groups
 * 0..3 or 4..7 in one word each) and shifts, not a byte index into the words: p is a run-time value
 * in the kernels, and indexing registers by it costs an order of magnitude more instructions. */
static __device__ __forceinline__ void q4_k_scales(const uint32_t *sw, int p, float *sc, float *mn) {
    const uint32_t s = p < 2 ? sw[0] & 0x3F3F3F3Fu : (sw[2] & 0x0F0F0F0Fu) | ((sw[0] >> 2) & 0x30303030u);
    const uint32_t m = p < 2 ? sw[1] & 0x3F3F3F3Fu : ((sw[2] >> 4) & 0x0F0F0F0Fu) | ((sw[1] >> 2) & 0x30303030u);
    const int sh = 16 * (p & 1);
    sc[0] = (float)((s >> sh) & 0xFF);
    sc[1] = (float)((s >> (sh + 8)) & 0xFF);
    mn[0] = (float)((m >> sh) & 0xFF);
    mn[1] = (float)((m >> (sh + 8)) & 0xFF);
}

/* The warp's lanes ask L2 for bytes [0, n) of p, one 128-byte line each. */
static __device__ __forceinline__ void prefetch_row(const void *p, int64_t n, int lane) {
    for (int64_t off = (int64_t)lane * 128; off < n; off += 32 * 128) cu_prefetch_l2((const uint8_t *)p + off);
}

/* Writes (or adds) the sums of the first n_cols columns to y: the wpr warps of a row (threadIdx.y
 * = row slot * wpr + part) add their partial sums through shared memory first. Every warp of the
 * block calls it (barriers inside when wpr > 1). */
template <int NC>
static __device__ __forceinline__ void store_cols(const float *acc, float *y, int64_t row, bool valid, int ldy,
                                                  int n_cols, int accumulate, int wpr) {
    const int lane = threadIdx.x, wy = threadIdx.y;
    __shared__ float red[MMV_WARPS][NC];
    float sum[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) sum[c] = warp_sum(acc[c]);
    if (wpr > 1) {
        if (lane == 0) {
#pragma unroll
            for (int c = 0; c < NC; c++) red[wy][c] = sum[c];
        }
        __syncthreads();
        if (wy % wpr == 0) {
#pragma unroll
            for (int c = 0; c < NC; c++)
                for (int p = 1; p < wpr; p++) sum[c] += red[wy + p][c];
        }
        __syncthreads(); /* red is written again for the block's next rows */
    }
    if (lane != 0 || !valid || wy % wpr != 0) return;
#pragma unroll
    for (int c = 0; c < NC; c++) {
        if (c < n_cols) {
            float *o = y + (int64_t)c * ldy + row;
            *o = accumulate ? *o + sum[c] : sum[c];
        }
    }
}

#endif
