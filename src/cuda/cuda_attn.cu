/*
 * cuda_attn.cu - attention over the KV cache, flash-attention style (one pass, online softmax, no
 * score matrix in memory), for decode, batched steps of several sessions (each row its own cache
 * and position: cu_rowkv) and prefill alike:
 *   att[t, h] = sum_p softmax_p(q[t,h] . K[p, kvh] * scale) V[p, kvh]     p in [p0, pos0 + t]
 * with kvh = h / (n_head / n_head_kv) and p0 > 0 only in sliding-window layers. One block per
 * (head, token); the block's work is attn_head (cuda_attn.cuh). A one-token step can also run its
 * rope and attention as one kernel (rope_attn_head).
 */
#include "cuda/cuda_attn.cuh"

template <int NI, int NW, int KV>
__global__ void __launch_bounds__(32 * NW) attn_kernel(attn_args a) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int h = blockIdx.x, t = blockIdx.y;
    const float *q = a.qkv + (size_t)t * (a.n_head * a.hd + 2 * a.n_head_kv * a.hd) + (size_t)h * a.hd;
    attn_head<NI, NW, KV>(a, q, h, t, threadIdx.y, threadIdx.x, true, NULL, NULL);
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

/* One block (16 warps) per head of a one-token step: rope_attn_head. */
template <int NI>
__global__ void __launch_bounds__(32 * 16) rope_attn_kernel(attn_args a, rope_step r, const int *delta, float pos_scale) {
    __shared__ float sq[NI * 32];
    __shared__ half sk[NI * 32], sv[NI * 32];
    cu_pdl_launch_next();
    cu_pdl_wait();
    r.fpos = (float)(a.pos[0] + delta[0]) / pos_scale;
    rope_attn_head<NI, 16>(a, r, blockIdx.x, sq, sk, sv, threadIdx.x / 32, threadIdx.x % 32, threadIdx.x, blockDim.x);
}

void cu_rope_attention(ag_cuda_session *s, int il, bool q8, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const attn_args a = {s->qkv, s->d_rows, s->att, q8 ? s->x8 : NULL, q8 ? s->xds : NULL, s->d_pos, il, 0,
                         hp->n_head, hp->n_head_kv, hp->head_dim, m->layers[il].swa ? hp->n_swa : 0, hp->attn_scale};
    const rope_step r = {m->rope_freqs, 0.0f, m->rope_theta_scale, hp->n_rot, hp->rope_neox ? 1 : 0};
    const int hd = hp->head_dim;
    void (*kernel)(attn_args, rope_step, const int *, float) = hd <= 32    ? rope_attn_kernel<1>
                                                               : hd <= 64  ? rope_attn_kernel<2>
                                                               : hd <= 128 ? rope_attn_kernel<4>
                                                                           : rope_attn_kernel<8>;
    cu_launch(cs, kernel, dim3(hp->n_head), dim3(32 * 16), a, r, (const int *)s->d_delta, hp->rope_scale);
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
