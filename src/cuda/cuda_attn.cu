/*
 * cuda_attn.cu - attention over the KV cache, flash-attention style (one pass, online softmax, no
 * score matrix in memory), for decode, batched steps of several sessions (each row its own cache
 * and position: cu_rowkv) and prefill alike:
 *   att[t, h] = sum_p softmax_p(q[t,h] . K[p, kvh] * scale) V[p, kvh]     p in [p0, pos0 + t]
 * with kvh = h / (n_head / n_head_kv) and p0 > 0 only in sliding-window layers. Prefill: one block
 * per (head, token). Decode and batched steps (n <= CU_MMV_MAX_COLS): past CU_ATTN_ONE_CHUNK
 * positions a query's positions in chunks (flash-decoding), shared by a few blocks per (head,
 * token), the last of which merges the chunks (attn_head, cuda_attn.cuh), so that long contexts
 * do not walk every position in one block. A one-token step can also run its rope and attention as
 * one kernel (rope_attn_head).
 */
#include "cuda/cuda_attn.cuh"

template <int NI, int NW, int KV>
__global__ void __launch_bounds__(32 * NW) attn_kernel(attn_args a) {
    cu_pdl_launch_next();
    const int h = blockIdx.x, t = blockIdx.y;
    /* a block with no chunk leaves before waiting (the positions were copied before the step) */
    if (blockIdx.z > 0 && blockIdx.z >= attn_span_of(a, t).n_chunks) return;
    cu_pdl_wait();
    const float *q = a.qkv + (size_t)t * (a.n_head * a.hd + 2 * a.n_head_kv * a.hd) + (size_t)h * a.hd;
    attn_head<NI, NW, KV>(a, q, h, t, threadIdx.y, threadIdx.x, true, NULL, NULL, blockIdx.z, gridDim.z);
}

template <int NW, int KV>
static void launch_nw_kv(const attn_args &a, int n, int splits, cu_stream cs) {
    const dim3 grid(a.n_head, n, splits), block(32, NW);
    if (a.hd <= 32) cu_launch(cs, attn_kernel<1, NW, KV>, grid, block, a);
    else if (a.hd <= 64) cu_launch(cs, attn_kernel<2, NW, KV>, grid, block, a);
    else if (a.hd <= 128) cu_launch(cs, attn_kernel<4, NW, KV>, grid, block, a);
    else cu_launch(cs, attn_kernel<8, NW, KV>, grid, block, a);
}

template <int NW>
static void launch_nw(const attn_args &a, int n, int splits, int kv_type, cu_stream cs) {
    if (kv_type == AG_CUDA_KV_Q8_0) launch_nw_kv<NW, AG_CUDA_KV_Q8_0>(a, n, splits, cs);
    else if (kv_type == AG_CUDA_KV_Q4_0) launch_nw_kv<NW, AG_CUDA_KV_Q4_0>(a, n, splits, cs);
    else launch_nw_kv<NW, AG_CUDA_KV_F16>(a, n, splits, cs);
}

/* Blocks per (token, head) sharing its chunks: about two per multiprocessor (H200, 8B Q4_0 tg128
 * at depth 4096 with a first version of the chunks: 1 block 114 tok/s, 2: 179, 4: 253, 8: 314, 16:
 * 310; with these: 8 blocks 335 - 350, 16: 330), AUTOGLM_CUDA_ATTN_SPLITS when set. The bits do not
 * depend on it (attn_head). */
static int attn_splits(const ag_cuda_session *s, int n) {
    if (s->attn_splits > 0) return s->attn_splits < CU_ATTN_MAX_CHUNKS ? s->attn_splits : CU_ATTN_MAX_CHUNKS;
    const int heads = s->m->hp.n_head * n, want = heads > 0 ? 2 * s->n_sm / heads : 1;
    return want < 1 ? 1 : want > CU_ATTN_MAX_CHUNKS ? CU_ATTN_MAX_CHUNKS : want;
}

/* One block (16 warps) per head of a one-token step: rope_attn_head. */
template <int NI>
__global__ void __launch_bounds__(32 * 16) rope_attn_kernel(attn_args a, rope_step r, const int *delta, float pos_scale) {
    __shared__ float sq[NI * 32];
    __shared__ half sk[NI * 32], sv[NI * 32];
    cu_pdl_launch_next();
    if (blockIdx.y > 0 && blockIdx.y >= attn_span_of(a, 0).n_chunks) return; /* no chunk: as attn_kernel */
    cu_pdl_wait();
    r.fpos = (float)(a.pos[0] + delta[0]) / pos_scale;
    rope_attn_head<NI, 16>(a, r, blockIdx.x, sq, sk, sv, threadIdx.x / 32, threadIdx.x % 32, threadIdx.x, blockDim.x,
                           blockIdx.y, gridDim.y);
}

void cu_rope_attention(ag_cuda_session *s, int il, bool q8, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const attn_args a = {s->qkv, s->d_rows, s->att, q8 ? s->x8 : NULL, q8 ? s->xds : NULL, s->d_pos, il, 0,
                         hp->n_head, hp->n_head_kv, hp->head_dim, m->layers[il].swa ? hp->n_swa : 0, hp->attn_scale,
                         s->att_part, s->att_count};
    const rope_step r = {m->rope_freqs, 0.0f, m->rope_theta_scale, hp->n_rot, hp->rope_neox ? 1 : 0};
    const int hd = hp->head_dim;
    void (*kernel)(attn_args, rope_step, const int *, float) = hd <= 32    ? rope_attn_kernel<1>
                                                               : hd <= 64  ? rope_attn_kernel<2>
                                                               : hd <= 128 ? rope_attn_kernel<4>
                                                                           : rope_attn_kernel<8>;
    cu_launch(cs, kernel, dim3(hp->n_head, attn_splits(s, 1)), dim3(32 * 16), a, r, (const int *)s->d_delta,
              hp->rope_scale);
}

void cu_attention(ag_cuda_session *s, int il, int n, bool q8, bool multi, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    attn_args a = {s->qkv, multi ? s->d_rows + 1 : s->d_rows, s->att, q8 ? s->x8 : NULL, q8 ? s->xds : NULL,
                   multi ? s->d_pos + 1 : s->d_pos, il, multi ? 1 : 0,
                   hp->n_head, hp->n_head_kv, hp->head_dim, m->layers[il].swa ? hp->n_swa : 0, hp->attn_scale,
                   NULL, NULL};
    /* decode, speculative verification and batched steps (up to the matrix-vector kernels' width)
     * share one summation order (chunked), so that a row's result does not depend on the pass's size;
     * prefill takes every query's positions as one chunk */
    if (n <= CU_MMV_MAX_COLS) {
        a.part = s->att_part;
        a.count = s->att_count;
        launch_nw<16>(a, n, attn_splits(s, n), s->kv_type, cs); /* few blocks, more warps each */
    } else {
        launch_nw<4>(a, n, 1, s->kv_type, cs);
    }
}
