/*
 * cuda_attn.cuh - attention of one head of one token over the cache (the body of cuda_attn.cu's
 * kernel), shared with the fused decode step (cuda_fused.cu) so that both give the same bits.
 *
 * The block's first NW warps walk every NW-th position, each keeping its own running max m,
 * normalizer l and output accumulator (lane d owns dimensions d, d+32, ...); the warps' states
 * are merged at the end by warp 0: out = sum_w acc_w e^(m_w - M) / sum_w l_w e^(m_w - M). In
 * decode, long contexts are cut into chunks walked that way, shared by several blocks per head and
 * merged the same way (attn_span, attn_head, attn_finish). The query is rounded to F16 first, as
 * the CPU path does. A Q8_0 / Q4_0 cache (cu_rowkv) is read as it
 * is stored: each lane dequantizes its own dimensions' values from the blocks (KV).
 */
#ifndef AG_CUDA_ATTN_CUH
#define AG_CUDA_ATTN_CUH

#include <math.h>

#include "cuda/cuda_internal.cuh"
#include "cuda/cuda_rope.cuh"

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
    float *part;     /* chunked (decode): per (token, head) CU_ATTN_MAX_CHUNKS chunk states of hd + 2 floats;
                        NULL: every query's positions as one chunk (prefill) */
    unsigned *count; /* per (token, head): the blocks done with their chunks (0 between kernels) */
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

/* The positions [p0, n_pos) a query attends to, cut into n_chunks chunks of clen positions (the last
 * shorter). Chunked (decode: a.part set) past CU_ATTN_ONE_CHUNK positions: clen is CU_ATTN_CHUNK, or
 * a multiple of it that keeps the chunks at most CU_ATTN_MAX_CHUNKS; else one chunk (merging
 * chunks costs a few memory round trips, more than walking 256 positions in one block: H200,
 * docs/PERFORMANCE.md). The cut depends on the query's position only, never on the pass or on how
 * many blocks share the chunks, so a token's bits do not either. */
struct attn_span {
    int p0, n_pos, clen, n_chunks;
};

static __device__ __forceinline__ attn_span attn_span_of(const attn_args &a, int t) {
    const int n_pos = (a.multi ? a.pos[t] : a.pos[0] + t) + 1;
    const int p0 = a.n_swa > 0 && n_pos > a.n_swa ? n_pos - a.n_swa : 0, len = n_pos - p0;
    int clen = len;
    if (a.part && len > CU_ATTN_ONE_CHUNK) {
        const int units = (len + CU_ATTN_CHUNK - 1) / CU_ATTN_CHUNK;
        clen = CU_ATTN_CHUNK * ((units + CU_ATTN_MAX_CHUNKS - 1) / CU_ATTN_MAX_CHUNKS);
    }
    return {p0, n_pos, clen, (len + clen - 1) / clen};
}

/* Lane's value v of dimension d = lane + 32 i of the head's output at a.out + o_off, divided by the
 * softmax's normalizer lsum and stored, with the output's 8-bit activations (a.x8: warp-wide, every
 * lane calls it). */
static __device__ __forceinline__ void attn_store(const attn_args &a, size_t o_off, int d, int i, float v, float lsum) {
    if (d < a.hd) {
        v /= lsum;
        a.out[o_off + d] = v;
    }
    if (a.x8) q8_warp(v, a.x8 + o_off + d, a.xds + o_off / 32 + i);
}

/* The output of head h of token t from its chunks' states (m, l, acc: the softmax's max, normalizer
 * and unnormalized sum of values), merged in chunk order by warp 0:
 * out = sum_c acc_c e^(m_c - M) / sum_c l_c e^(m_c - M) (with one chunk that would be acc / l, e^0
 * being 1: what attn_head writes itself then). Also writes out's 8-bit activations (a.x8).
 * st0 + c stride: chunk c's state (m, l, then hd values), written by blocks of this kernel (read
 * from L2). */
template <int NI>
static __device__ __forceinline__ void attn_finish(const attn_args &a, const float *st0, int stride, int n_chunks,
                                                   int h, int t, int lane) {
    /* lane c holds chunk c's max and weight (n_chunks <= CU_ATTN_MAX_CHUNKS = 32) */
    const float mc = lane < n_chunks ? __ldcg(st0 + (size_t)lane * stride) : -INFINITY,
                lc = lane < n_chunks ? __ldcg(st0 + (size_t)lane * stride + 1) : 0.0f;
    float mx = mc;
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    const float fc = lc > 0.0f ? expf(mc - mx) : 0.0f;
    float lsum = 0.0f;
    for (int c = 0; c < n_chunks; c++) { /* in chunk order */
        const float w = __shfl_sync(0xffffffffu, lc * fc, c);
        lsum = c == 0 ? w : lsum + w;
    }
    const size_t o_off = (size_t)t * a.n_head * a.hd + (size_t)h * a.hd;
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        if (32 * i >= a.hd) break; /* warp-uniform */
        float v = 0.0f;
        for (int c = 0; c < n_chunks; c++) {
            const float f = __shfl_sync(0xffffffffu, fc, c);
            const float x = d < a.hd ? __ldcg(st0 + (size_t)c * stride + 2 + d) * f : 0.0f;
            v = c == 0 ? x : v + x;
        }
        attn_store(a, o_off, d, i, v, lsum);
    }
}

/* Head h of token t; q: its query (hd floats). Every thread of the block calls it (barriers
 * inside); warps w < NW take the positions (w: the caller's warp number, active: whether it is one
 * of them). cur_k, cur_v: NULL, or the key and value rows (F16, the kv head's) of the token's own
 * position, read from there instead of the cache (the fused step stores them in the same pass).
 * The block takes chunks split, split + n_split, ... of the query's positions (attn_span); per chunk
 * warp w walks positions c0 + w, c0 + w + NW, ... keeping its own running max m, normalizer l and
 * output accumulator (lane d owns dimensions d, d+32, ...), and warp 0 merges the warps' states into
 * the chunk's. One chunk: warp 0 writes the output. Several: each chunk's state goes to a.part,
 * and the last of the head's n_split blocks to finish (a.count) merges them all (attn_finish). */
template <int NI, int NW, int KV>
static __device__ __forceinline__ void attn_head(const attn_args &a, const float *q, int h, int t, int w, int lane,
                                                 bool active, const uint8_t *cur_k, const uint8_t *cur_v, int split,
                                                 int n_split) {
    const int kvh = h / (a.n_head / a.n_head_kv);
    const attn_span sp = attn_span_of(a, t);
    const cu_rowkv rk = a.rows[a.multi ? t : 0];
    float qv[NI];
#pragma unroll
    for (int i = 0; i < NI; i++) {
        const int d = lane + 32 * i;
        qv[i] = d < a.hd ? __half2float(__float2half_rn(q[d])) : 0.0f;
    }
    const size_t head_off = (size_t)kvh * (KV == AG_CUDA_KV_F16 ? a.hd * 2 : a.hd / 32 * (KV == AG_CUDA_KV_Q8_0 ? 34 : 18));
    const uint8_t *kb = rk.k + (size_t)a.il * rk.layer_bytes + head_off, *vb = rk.v + (size_t)a.il * rk.layer_bytes + head_off;
    const size_t rb = (size_t)rk.row_bytes;
    const int last = sp.n_pos - 1, stride = a.hd + 2;
    float *part = a.part ? a.part + ((size_t)t * a.n_head + h) * CU_ATTN_MAX_CHUNKS * stride : NULL;
    __shared__ float sm[NW], sl[NW], sacc[NW][NI * 32];
    for (int c = split; c < sp.n_chunks; c += n_split) {
        const int c0 = sp.p0 + c * sp.clen, c1 = min(c0 + sp.clen, sp.n_pos);
        float m = -INFINITY, l = 0.0f, acc[NI];
#pragma unroll
        for (int i = 0; i < NI; i++) acc[i] = 0.0f;
        /* two positions per step (p and p + NW), their loads issued together */
        for (int p = c0 + w; active && p < c1; p += 2 * NW) {
            const bool two = p + NW < c1;
            const int p2 = two ? p + NW : p;
            const uint8_t *kr = cur_k && p == last ? cur_k : kb + (size_t)p * rb;
            const uint8_t *vr = cur_v && p == last ? cur_v : vb + (size_t)p * rb;
            const uint8_t *kr2 = cur_k && p2 == last ? cur_k : kb + (size_t)p2 * rb;
            const uint8_t *vr2 = cur_v && p2 == last ? cur_v : vb + (size_t)p2 * rb;
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
        if (active) {
            if (lane == 0) {
                sm[w] = m;
                sl[w] = l;
            }
#pragma unroll
            for (int i = 0; i < NI; i++) sacc[w][lane + 32 * i] = acc[i];
        }
        __syncthreads();
        if (w == 0) { /* the chunk's state: the output (one chunk) or into a.part */
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < NW; j++) mx = fmaxf(mx, sm[j]);
            float lsum = 0.0f, f[NW];
#pragma unroll
            for (int j = 0; j < NW; j++) {
                f[j] = sl[j] > 0.0f ? expf(sm[j] - mx) : 0.0f;
                lsum += sl[j] * f[j];
            }
            if (sp.n_chunks == 1) { /* the output itself: attn_finish's bits for one chunk (e^0 = 1) */
                const size_t o_off = (size_t)t * a.n_head * a.hd + (size_t)h * a.hd;
#pragma unroll
                for (int i = 0; i < NI; i++) {
                    const int d = lane + 32 * i;
                    if (32 * i >= a.hd) break; /* warp-uniform */
                    float v = 0.0f;
                    if (d < a.hd) {
#pragma unroll
                        for (int j = 0; j < NW; j++) v += sacc[j][d] * f[j];
                    }
                    attn_store(a, o_off, d, i, v, lsum);
                }
            } else {
                float *st = part + (size_t)c * stride;
                if (lane == 0) {
                    st[0] = mx;
                    st[1] = lsum;
                }
#pragma unroll
                for (int i = 0; i < NI; i++) {
                    const int d = lane + 32 * i;
                    if (d >= a.hd) break;
                    float v = 0.0f;
#pragma unroll
                    for (int j = 0; j < NW; j++) v += sacc[j][d] * f[j];
                    st[2 + d] = v;
                }
                __threadfence(); /* before this block counts itself done */
            }
        }
        __syncthreads(); /* the merge arrays are the next chunk's */
    }
    if (sp.n_chunks == 1) return;
    __shared__ bool is_last;
    if (w == 0 && lane == 0) {
        bool mine = true;
        if (n_split > 1) {
            const int busy = min(n_split, sp.n_chunks); /* blocks that had chunks */
            unsigned *count = a.count + (size_t)t * a.n_head + h;
            mine = split < busy && atomicAdd(count, 1u) == (unsigned)busy - 1;
            if (mine) *count = 0; /* for the next kernel */
        }
        is_last = mine;
    }
    __syncthreads();
    if (is_last && w == 0) {
        __threadfence();
        attn_finish<NI>(a, part, stride, sp.n_chunks, h, t, lane);
    }
}

/* The rotary embedding of a one-token step (the rope kernel's values, cuda_ops.cu): the position
 * fpos (cache position plus delta, over the position scale) and the model's rotation. */
struct rope_step {
    const float *freqs;
    float fpos, theta_scale;
    int n_rot, neox;
};

/* Rope, cache store and attention of head h of a one-token step (a.multi 0, F16 cache) in one
 * block: the query and its kv head's key rotated into shared memory (sq: hd floats; sk, sv: hd
 * halves each), the kv group's first head stores the key and value at the position, and the
 * attention reads this position from shared memory, so no block waits for another's store. The
 * same bits as cu_rope_store then cu_attention. qkv may have been written by other blocks of the
 * same kernel (read around L1). Every thread of the block calls it; warps w < NW attend; the block
 * takes the chunks split, split + n_split, ... (attn_head), and only split 0 stores. */
template <int NI, int NW>
static __device__ __forceinline__ void rope_attn_head(const attn_args &a, const rope_step &r, int h, float *sq, half *sk,
                                                      half *sv, int w, int lane, int tid, int n_threads, int split,
                                                      int n_split) {
    const int hd = a.hd, q_dim = a.n_head * hd, kv_dim = a.n_head_kv * hd, group = a.n_head / a.n_head_kv;
    const int kvh = h / group, pos = a.pos[0];
    if (split >= attn_span_of(a, 0).n_chunks) return; /* no chunk for this block (the whole block) */
    const float *qh = a.qkv + (size_t)h * hd, *kh = a.qkv + q_dim + (size_t)kvh * hd, *vh = kh + kv_dim;
    for (int i = tid; i < hd / 2; i += n_threads) {
        int i0, i1;
        cu_rope_pair(i, r.n_rot, r.neox != 0, &i0, &i1);
        float q0 = __ldcg(qh + i0), q1 = __ldcg(qh + i1), k0 = __ldcg(kh + i0), k1 = __ldcg(kh + i1);
        if (i < r.n_rot / 2) {
            const float th = cu_rope_theta(r.fpos, i, r.theta_scale, r.freqs);
            cu_rope_rotate(&q0, &q1, th);
            cu_rope_rotate(&k0, &k1, th);
        }
        sq[i0] = q0;
        sq[i1] = q1;
        sk[i0] = __float2half_rn(k0);
        sk[i1] = __float2half_rn(k1);
        sv[2 * i] = __float2half_rn(__ldcg(vh + 2 * i)); /* v: not rotated */
        sv[2 * i + 1] = __float2half_rn(__ldcg(vh + 2 * i + 1));
    }
    __syncthreads();
    if (h == kvh * group && split == 0) {
        const cu_rowkv rk = a.rows[0];
        const size_t off = (size_t)a.il * rk.layer_bytes + (size_t)pos * rk.row_bytes + (size_t)kvh * hd * 2;
        for (int i = tid; i < hd; i += n_threads) {
            ((half *)(rk.k + off))[i] = sk[i];
            ((half *)(rk.v + off))[i] = sv[i];
        }
    }
    attn_head<NI, NW, AG_CUDA_KV_F16>(a, sq, h, 0, w, lane, w < NW, (const uint8_t *)sk, (const uint8_t *)sv, split,
                                      n_split);
    __syncthreads(); /* sq, sk, sv and the merge arrays may be the next head's */
}

#endif
