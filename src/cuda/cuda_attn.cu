/*
 * cuda_attn.cu - attention over the F16 KV cache, flash-attention style (one pass, online
 * softmax, no score matrix in memory), for decode, batched steps of several sessions (each row its
 * own cache and position: cu_rowkv) and prefill alike:
 *   att[t, h] = sum_p softmax_p(q[t,h] . K[p, kvh] * scale) V[p, kvh]     p in [p0, pos0 + t]
 * with kvh = h / (n_head / n_head_kv) and p0 > 0 only in sliding-window layers.
 *
 * One block per (head, token). Each warp walks every NW-th position keeping its own running max
 * m, normalizer l and output accumulator (lane d owns dimensions d, d+32, ...); the warps' states
 * are merged at the end: out = sum_w acc_w e^(m_w - M) / sum_w l_w e^(m_w - M). The query is
 * rounded to F16 first, as the CPU path does. A Q8_0 / Q4_0 cache (cu_rowkv) is read as it is
 * stored: each lane dequantizes its own dimensions' values from the blocks (KV template argument).
 */
#include <math.h>

#include "cuda/cuda_internal.cuh"

struct attn_args {
    const float *qkv;  /* (n, q_dim + 2 kv_dim) */
    const cu_rowkv *rows; /* caches: rows[multi ? t : 0], layer il, (n_ctx, kv_dim) each */
    float *out;        /* (n, q_dim) */
    int8_t *x8;        /* non-NULL: also out's 8-bit activations (head_dim % 32 == 0) */
    float2 *xds;
    const int *pos;    /* multi ? pos[t] : pos[0] + t */
    int il, multi;
    int n_head, n_head_kv, hd, n_swa;
    float scale;
};

/* Dimension d of a cache row (row: its first byte, at the kv head's start). */
template <int KV>
static __device__ __forceinline__ float kv_value(const uint8_t *row, int d) {
    if (KV == AG_CUDA_KV_F16) return __half2float(((const half *)row)[d]);
    const int b = d / 32, j = d % 32;
    if (KV == AG_CUDA_KV_Q8_0) {
        const uint8_t *blk = row + b * 34;
        return __half2float(*(const half *)blk) * (float)(int8_t)blk[2 + j];
    }
    const uint8_t *blk = row + b * 18;
    const int byte = blk[2 + (j & 15)];
    return __half2float(*(const half *)blk) * (float)((j < 16 ? byte & 15 : byte >> 4) - 8);
}

template <int NI, int NW, int KV>
__global__ void __launch_bounds__(32 * NW) attn_kernel(attn_args a) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int h = blockIdx.x, t = blockIdx.y, lane = threadIdx.x, w = threadIdx.y;
    const int q_dim = a.n_head * a.hd, kv_dim = a.n_head_kv * a.hd;
    const int kvh = h / (a.n_head / a.n_head_kv);
    const int n_pos = (a.multi ? a.pos[t] : a.pos[0] + t) + 1;
    const cu_rowkv rk = a.rows[a.multi ? t : 0];
    const int p0 = a.n_swa > 0 && n_pos > a.n_swa ? n_pos - a.n_swa : 0;
    const float *q = a.qkv + (size_t)t * (q_dim + 2 * kv_dim) + (size_t)h * a.hd;
    float qv[NI], acc[NI];
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < a.hd ? __half2float(__float2half_rn(q[d])) : 0.0f;
        acc[i] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    const size_t head_off = (size_t)kvh * (KV == AG_CUDA_KV_F16 ? a.hd * 2 : a.hd / 32 * (KV == AG_CUDA_KV_Q8_0 ? 34 : 18));
    const uint8_t *kb = rk.k + (size_t)a.il * rk.layer_bytes + head_off, *vb = rk.v + (size_t)a.il * rk.layer_bytes + head_off;
    const size_t rb = (size_t)rk.row_bytes;
    /* two positions per step (p and p + NW), their loads issued together */
    for (int p = p0 + w; p < n_pos; p += 2 * NW) {
        const bool two = p + NW < n_pos;
        const uint8_t *kr = kb + (size_t)p * rb, *vr = vb + (size_t)p * rb;
        const uint8_t *kr2 = two ? kr + (size_t)NW * rb : kr, *vr2 = two ? vr + (size_t)NW * rb : vr;
        float s = 0.0f, s2 = 0.0f, vv[NI], vv2[NI];
#pragma unroll
        for (int i = 0; i < NI; i++) {
            const int d = lane + 32 * i;
            const bool in = d < a.hd;
            s += in ? kv_value<KV>(kr, d) * qv[i] : 0.0f;
            s2 += in ? kv_value<KV>(kr2, d) * qv[i] : 0.0f;
            vv[i] = in ? kv_value<KV>(vr, d) : 0.0f;
            vv2[i] = in ? kv_value<KV>(vr2, d) : 0.0f;
        }
        for (int o = 16; o > 0; o >>= 1) {
            s += __shfl_xor_sync(0xffffffffu, s, o);
            s2 += __shfl_xor_sync(0xffffffffu, s2, o);
        }
        s *= a.scale;
        s2 = two ? s2 * a.scale : -INFINITY;
        const float m_new = fmaxf(m, fmaxf(s, s2)), corr = expf(m - m_new), e = expf(s - m_new), e2 = expf(s2 - m_new);
        l = l * corr + e + e2;
#pragma unroll
        for (int i = 0; i < NI; i++) acc[i] = acc[i] * corr + e * vv[i] + e2 * vv2[i];
        m = m_new;
    }
    __shared__ float sm[NW], sl[NW], sacc[NW][NI * 32];
    if (lane == 0) {
        sm[w] = m;
        sl[w] = l;
    }
#pragma unroll
    for (int i = 0; i < NI; i++) sacc[w][lane + 32 * i] = acc[i];
    __syncthreads();
    if (w != 0) return;
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < NW; j++) mx = fmaxf(mx, sm[j]);
    float lsum = 0.0f, f[NW];
#pragma unroll
    for (int j = 0; j < NW; j++) {
        f[j] = sl[j] > 0.0f ? expf(sm[j] - mx) : 0.0f;
        lsum += sl[j] * f[j];
    }
    const size_t o_off = (size_t)t * q_dim + (size_t)h * a.hd;
    float *o = a.out + o_off;
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        if (32 * i >= a.hd) break; /* warp-uniform */
        float v = 0.0f;
        if (d < a.hd) {
#pragma unroll
            for (int j = 0; j < NW; j++) v += sacc[j][d] * f[j];
            v /= lsum;
            o[d] = v;
        }
        if (a.x8) q8_warp(v, a.x8 + o_off + d, a.xds + o_off / 32 + i);
    }
}

template <int NW, int KV>
static void launch_nw_kv(const attn_args &a, int n, cu_stream cs) {
    const dim3 grid(a.n_head, n), block(32, NW);
    if (a.hd <= 32) cu_launch(cs, attn_kernel<1, NW, KV>, grid, block, a);
    else if (a.hd <= 64) cu_launch(cs, attn_kernel<2, NW, KV>, grid, block, a);
    else if (a.hd <= 128) cu_launch(cs, attn_kernel<4, NW, KV>, grid, block, a);
    else cu_launch(cs, attn_kernel<8, NW, KV>, grid, block, a);
}

template <int NW>
static void launch_nw(const attn_args &a, int n, int kv_type, cu_stream cs) {
    if (kv_type == AG_CUDA_KV_Q8_0) launch_nw_kv<NW, AG_CUDA_KV_Q8_0>(a, n, cs);
    else if (kv_type == AG_CUDA_KV_Q4_0) launch_nw_kv<NW, AG_CUDA_KV_Q4_0>(a, n, cs);
    else launch_nw_kv<NW, AG_CUDA_KV_F16>(a, n, cs);
}

void cu_attention(ag_cuda_session *s, int il, int n, bool q8, bool multi, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const attn_args a = {s->qkv, multi ? s->d_rows + 1 : s->d_rows, s->att, q8 ? s->x8 : NULL, q8 ? s->xds : NULL,
                         multi ? s->d_pos + 1 : s->d_pos, il, multi ? 1 : 0,
                         hp->n_head, hp->n_head_kv, hp->head_dim, m->layers[il].swa ? hp->n_swa : 0, hp->attn_scale};
    /* decode, speculative verification and batched steps (up to the matrix-vector kernels' width)
     * share one summation order, so that a row's result does not depend on the pass's size */
    if (n <= CU_MMV_MAX_COLS) launch_nw<16>(a, n, s->kv_type, cs); /* few blocks, more warps each */
    else launch_nw<4>(a, n, s->kv_type, cs);
}
