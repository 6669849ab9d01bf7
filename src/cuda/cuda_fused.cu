/*
 * cuda_fused.cu - the decode step's layers (one token, one session) as one kernel: a persistent
 * grid of one block per multiprocessor walks every layer, with a grid-wide barrier where a step
 * needs what the whole grid wrote. Per layer:
 *   A  each block: rmsnorm(x) * attn_norm -> 8-bit activations in its shared memory;
 *      q, k, v rows (+ biases) -> qkv                                         barrier
 *   B  block h (per head): rope of q_h and of its kv head's k; the kv group's first block stores
 *      k, v in the cache; attention over the cache, the current position read from shared
 *      memory -> att and its 8-bit activations                                 barrier
 *   C  each block: att's 8-bit activations into shared memory; x += att @ wo    barrier
 *   D  each block: rmsnorm(x) * ffn_norm -> 8-bit; gate and up row r by the same warp,
 *      hb[r] = silu(g) * u                                                     barrier
 *   E  each block: hb -> 8-bit; x += hb @ down                                 barrier
 * The output norm and head stay the ordinary kernels (cuda_forward.cu).
 *
 * Why: measured on the H200 (docs/PERFORMANCE.md), a decode step of nine dependent kernels per
 * layer lost most of its time to the chain itself (each kernel's ramp, drain and wait for the one
 * before), not to the work. Here the weights of the next step are asked from L2 (prefetch) before
 * each barrier, so DRAM keeps working while the grid waits. Measured, it is slower than the kernel
 * per op (1B and 8B, every quantized kind: docs/PERFORMANCE.md): a warp holds one row in flight,
 * too few bytes per multiprocessor for DRAM's latency. Off by default (AUTOGLM_CUDA_FUSED=16|32).
 *
 * Bits: each matrix row is summed by one warp with the one-row kernels' code (cuda_mmv_row.cuh),
 * the norms, rope, attention and 8-bit quantization are the ordinary kernels' own functions
 * (cuda_act.cuh, cuda_rope.cuh, cuda_attn.cuh, q8_warp), so a fused step gives the same logits as
 * the kernel-per-op step and as a batched pass. Data other blocks wrote in this kernel is read
 * around L1 (__ldcg) or from shared memory.
 * Applies to quantized weights (Q4_0, Q8_0, Q4_K, Q6_K) with 8-bit activations, an F16 cache, no
 * per-head or post norms (cu_fused_supported); the rest take the kernel-per-op step.
 */
#include <string.h>

#include "cuda/cuda_act.cuh"
#include "cuda/cuda_attn.cuh"
#include "cuda/cuda_mmv_row.cuh"

#define FUSED_ATTN_WARPS 16 /* as the decode attention kernel (cuda_attn.cu), for the same bits */

struct fused_args {
    const cu_fused_layer *layers;
    int n_layer;
    float *x, *qkv, *att, *hb;
    const cu_rowkv *rows;
    const int *pos, *delta;
    unsigned *sync; /* {arrived, generation} */
    const float *freqs;
    int n_embd, n_ff, n_head, n_head_kv, hd, n_rot, neox, n_swa;
    float eps, theta_scale, pos_scale, attn_scale;
    int max_k;
};

/* Every block waits until all have arrived; what any wrote before is then visible to all. */
static __device__ __forceinline__ void grid_barrier(unsigned *sync) {
    __syncthreads();
    if (threadIdx.x == 0) {
        volatile unsigned *gen = sync + 1;
        const unsigned g = *gen;
        __threadfence();
        if (atomicAdd(sync, 1u) == gridDim.x - 1) {
            atomicExch(sync, 0u);
            __threadfence();
            atomicAdd(sync + 1, 1u);
        } else {
            while (*gen == g) {
            }
        }
        __threadfence();
    }
    __syncthreads();
}

/* Row `row` of w against the 8-bit activations, summed by the calling warp (lane 0 has it all). */
static __device__ __forceinline__ float row_dot(const cu_weight &w, const int8_t *x8, const float2 *xds, int64_t row,
                                                int lane) {
    float acc[1] = {0.0f};
    switch (w.kind) {
    case CU_Q4_0: mmv_q_row<CU_Q4_0, 1>(w, x8, xds, row, lane, 32, 1, acc); break;
    case CU_Q8_0: mmv_q_row<CU_Q8_0, 1>(w, x8, xds, row, lane, 32, 1, acc); break;
    case CU_Q4_K: mmv_q_row<CU_Q4_K, 1>(w, x8, xds, row, lane, 32, 1, acc); break;
    default: mmv_q_row<CU_Q6_K, 1>(w, x8, xds, row, lane, 32, 1, acc); break;
    }
    return warp_sum(acc[0]);
}

/* The warp asks L2 for row `row` of w (quants and scales). */
static __device__ __forceinline__ void row_prefetch(const cu_weight &w, int64_t row, int lane) {
    if (row >= w.rows) return;
    prefetch_row(w.q + row * w.row_bytes, (int64_t)w.row_bytes, lane);
    if (w.d) prefetch_row(w.d + row * (w.k / 32), w.k / 32 * 2, lane);
}

/* Row r of the q | k | v outputs: its matrix, row in it and bias. */
static __device__ __forceinline__ const cu_weight &qkv_part(const cu_fused_layer &L, int64_t r, int64_t *lr,
                                                           const float **bias) {
    if (r < L.q.rows) {
        *lr = r;
        *bias = L.bq;
        return L.q;
    }
    r -= L.q.rows;
    if (r < L.k.rows) {
        *lr = r;
        *bias = L.bk;
        return L.k;
    }
    *lr = r - L.k.rows;
    *bias = L.bv;
    return L.v;
}

/* The n values v (written by other blocks; n % 4 == 0) copied into shared memory sf, every load
 * of the block issued before any is waited for. */
static __device__ __forceinline__ void stage(const float *v, int n, float *sf, int tid, int n_threads) {
#pragma unroll 4
    for (int i = tid * 4; i < n; i += n_threads * 4) *(float4 *)(sf + i) = __ldcg((const float4 *)(v + i));
    __syncthreads();
}

/* The 8-bit activations of the n staged values sf into shared memory; with norm, of
 * (sf * scale) * norm instead (rmsnorm_q8_kernel's values). */
static __device__ __forceinline__ void q8_shared(const float *sf, int n, const float *norm, float scale, int8_t *sx8,
                                                 float2 *sxds, int warp, int lane, int n_warps) {
    for (int b = warp; b < n / 32; b += n_warps) {
        const int i = b * 32 + lane;
        q8_warp(norm ? (sf[i] * scale) * norm[i] : sf[i], sx8 + i, sxds + b);
    }
    __syncthreads();
}

template <int NI, int NW>
__global__ void __launch_bounds__(32 * NW, 1) fused_decode_kernel(fused_args a) {
    extern __shared__ __align__(16) uint8_t smem[];
    float *sf = (float *)smem;                                  /* a staged vector (max_k) */
    int8_t *sx8 = (int8_t *)(sf + a.max_k);                     /* its 8-bit activations */
    float2 *sxds = (float2 *)(sx8 + (a.max_k + 15) / 16 * 16);
    float *sq = (float *)(sxds + a.max_k / 32);                 /* the head's rotated query (hd) */
    half *sk = (half *)(sq + a.hd), *sv = sk + a.hd; /* the kv head's key and value at this position */
    __shared__ float part[RMSQ_THREADS / 32];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    const int64_t gw = (int64_t)blockIdx.x * NW + warp, n_gw = (int64_t)gridDim.x * NW;
    const int hd = a.hd, q_dim = a.n_head * hd, kv_dim = a.n_head_kv * hd;
    const float fpos = (float)(a.pos[0] + a.delta[0]) / a.pos_scale;
    for (int il = 0; il < a.n_layer; il++) {
        const cu_fused_layer &L = a.layers[il];
        const cu_fused_layer &N = a.layers[il + 1 < a.n_layer ? il + 1 : il];
        /* A: norm, q | k | v */
        {
            stage(a.x, a.n_embd, sf, tid, 32 * NW);
            const float scale = rmsq_scale(sf, a.n_embd, a.eps, tid, part, true);
            q8_shared(sf, a.n_embd, L.attn_norm, scale, sx8, sxds, warp, lane, NW);
            const int64_t n_rows = q_dim + 2 * kv_dim;
            for (int64_t r = gw; r < n_rows; r += n_gw) {
                int64_t lr, nr;
                const float *b, *nb;
                const cu_weight &w = qkv_part(L, r, &lr, &b);
                if (r + n_gw < n_rows) row_prefetch(qkv_part(L, r + n_gw, &nr, &nb), nr, lane);
                const float s = row_dot(w, sx8, sxds, lr, lane);
                if (lane == 0) a.qkv[r] = b ? s + b[lr] : s;
            }
            for (int64_t r = gw; r < L.wo.rows && r < gw + 2 * n_gw; r += n_gw) row_prefetch(L.wo, r, lane);
        }
        grid_barrier(a.sync);
        /* B: rope, cache store, attention */
        {
            const attn_args aa = {a.qkv, a.rows, a.att, NULL, NULL, a.pos, il, 0, /* 8-bit: in C */
                                  a.n_head, a.n_head_kv, hd, L.swa ? a.n_swa : 0, a.attn_scale};
            const rope_step rs = {a.freqs, fpos, a.theta_scale, a.n_rot, a.neox};
            for (int h = blockIdx.x; h < a.n_head; h += gridDim.x)
                rope_attn_head<NI, FUSED_ATTN_WARPS>(aa, rs, h, sq, sk, sv, warp, lane, tid, 32 * NW);
        }
        grid_barrier(a.sync);
        /* C: x += att @ wo */
        stage(a.att, q_dim, sf, tid, 32 * NW);
        q8_shared(sf, q_dim, NULL, 0.0f, sx8, sxds, warp, lane, NW);
        for (int64_t r = gw; r < L.wo.rows; r += n_gw) {
            if (r + n_gw < L.wo.rows) row_prefetch(L.wo, r + n_gw, lane);
            const float s = row_dot(L.wo, sx8, sxds, r, lane);
            if (lane == 0) a.x[r] = __ldcg(a.x + r) + s;
        }
        row_prefetch(L.gate, gw, lane);
        row_prefetch(L.up, gw, lane);
        grid_barrier(a.sync);
        /* D: norm, gate and up, silu */
        {
            stage(a.x, a.n_embd, sf, tid, 32 * NW);
            const float scale = rmsq_scale(sf, a.n_embd, a.eps, tid, part, true);
            q8_shared(sf, a.n_embd, L.ffn_norm, scale, sx8, sxds, warp, lane, NW);
            for (int64_t r = gw; r < a.n_ff; r += n_gw) {
                if (r + n_gw < a.n_ff) {
                    row_prefetch(L.gate, r + n_gw, lane);
                    row_prefetch(L.up, r + n_gw, lane);
                }
                const float g = row_dot(L.gate, sx8, sxds, r, lane);
                const float u = row_dot(L.up, sx8, sxds, r, lane);
                if (lane == 0) a.hb[r] = g / (1.0f + expf(-g)) * u;
            }
            for (int64_t r = gw; r < L.down.rows && r < gw + 2 * n_gw; r += n_gw) row_prefetch(L.down, r, lane);
        }
        grid_barrier(a.sync);
        /* E: x += hb @ down */
        stage(a.hb, a.n_ff, sf, tid, 32 * NW);
        q8_shared(sf, a.n_ff, NULL, 0.0f, sx8, sxds, warp, lane, NW);
        for (int64_t r = gw; r < L.down.rows; r += n_gw) {
            if (r + n_gw < L.down.rows) row_prefetch(L.down, r + n_gw, lane);
            const float s = row_dot(L.down, sx8, sxds, r, lane);
            if (lane == 0) a.x[r] = __ldcg(a.x + r) + s;
        }
        if (il + 1 < a.n_layer) {
            int64_t nr;
            const float *nb;
            for (int64_t r = gw; r < q_dim + 2 * kv_dim && r < gw + 2 * n_gw; r += n_gw)
                row_prefetch(qkv_part(N, r, &nr, &nb), nr, lane);
        }
        grid_barrier(a.sync);
    }
}

typedef void (*fused_kernel)(fused_args);

template <int NW>
static fused_kernel fused_kernel_of(int hd) {
    if (hd <= 32) return fused_decode_kernel<1, NW>;
    if (hd <= 64) return fused_decode_kernel<2, NW>;
    if (hd <= 128) return fused_decode_kernel<4, NW>;
    return fused_decode_kernel<8, NW>;
}

static fused_kernel kernel_for(int warps, int hd) {
    return warps == 32 ? fused_kernel_of<32>(hd) : fused_kernel_of<16>(hd);
}

static size_t fused_smem(const ag_cuda_model *m) {
    const size_t k = (size_t)m->max_k;
    return (k + 15) / 16 * 16 + k / 32 * sizeof(float2) + k * sizeof(float) + (size_t)m->hp.head_dim * (4 + 2 + 2);
}

static bool fused_kind(const cu_weight &w) {
    return w.q && (w.kind == CU_Q4_0 || w.kind == CU_Q8_0 || w.kind == CU_Q4_K || w.kind == CU_Q6_K);
}

/* w's rows first .. first + n - 1 as a matrix of their own (a part of a stacked upload). */
static cu_weight rows_of(const cu_weight &w, int64_t first, int64_t n) {
    cu_weight v = w;
    v.rows = n;
    v.q = w.q + first * (int64_t)w.row_bytes;
    if (w.d) v.d = w.d + first * (w.k / 32);
    return v;
}

bool cu_fused_layers(const ag_cuda_model *m, cu_fused_layer *out) {
    const ag_cuda_model_desc *hp = &m->hp;
    const int64_t qd = (int64_t)hp->n_head * hp->head_dim, kvd = (int64_t)hp->n_head_kv * hp->head_dim;
    for (int il = 0; il < hp->n_layer; il++) {
        const cu_layer *L = &m->layers[il];
        cu_fused_layer *o = &out[il];
        memset(o, 0, sizeof *o);
        if (L->wqkv.q) {
            o->q = rows_of(L->wqkv, 0, qd);
            o->k = rows_of(L->wqkv, qd, kvd);
            o->v = rows_of(L->wqkv, qd + kvd, kvd);
        } else {
            o->q = L->wq;
            o->k = L->wk;
            o->v = L->wv;
        }
        if (L->wgu.q) {
            o->gate = rows_of(L->wgu, 0, hp->n_ff);
            o->up = rows_of(L->wgu, hp->n_ff, hp->n_ff);
        } else {
            o->gate = L->gate;
            o->up = L->up;
        }
        o->wo = L->wo;
        o->down = L->down;
        o->attn_norm = L->attn_norm;
        o->ffn_norm = L->ffn_norm;
        o->bq = L->bq;
        o->bk = L->bk;
        o->bv = L->bv;
        o->swa = L->swa ? 1 : 0;
        if (L->q_norm || L->k_norm || L->attn_post_norm || L->ffn_post_norm || !L->attn_norm || !L->ffn_norm)
            return false;
        const cu_weight *mats[] = {&o->q, &o->k, &o->v, &o->wo, &o->gate, &o->up, &o->down};
        for (const cu_weight *w : mats)
            if (!fused_kind(*w)) return false;
        if (o->q.rows != qd || o->k.rows != kvd || o->v.rows != kvd || o->wo.rows != hp->n_embd || o->wo.k != qd ||
            o->gate.rows != hp->n_ff || o->up.rows != hp->n_ff || o->down.rows != hp->n_embd || o->down.k != hp->n_ff)
            return false;
    }
    return true;
}

bool cu_fused_supported(const ag_cuda_session *s, int warps) {
    const ag_cuda_model_desc *hp = &s->m->hp;
    if (warps != 16 && warps != 32) return false;
    if (s->kv_type != AG_CUDA_KV_F16 || hp->head_dim % 32 != 0 || hp->head_dim > 256 || hp->n_embd % 32 != 0 ||
        hp->n_ff % 32 != 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_rot > hp->head_dim || hp->n_layer < 1)
        return false;
    const fused_kernel k = kernel_for(warps, hp->head_dim);
    const size_t smem = fused_smem(s->m);
    if (smem > s->smem_block) return false;
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, 32 * warps, smem) != cudaSuccess || per_sm < 1) {
        cudaGetLastError();
        return false;
    }
    int coop = 0;
    if (cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, s->m->device) != cudaSuccess || !coop) {
        cudaGetLastError();
        return false;
    }
    return true;
}

void cu_fused_decode(ag_cuda_session *s, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const fused_args a = {s->d_fused, hp->n_layer, s->x, s->qkv, s->att, s->hb, s->d_rows, s->d_pos,
                          s->d_delta, s->d_sync, m->rope_freqs, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv,
                          hp->head_dim, hp->n_rot, hp->rope_neox ? 1 : 0, hp->n_swa, hp->norm_eps, m->rope_theta_scale,
                          hp->rope_scale, hp->attn_scale, (int)m->max_k};
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)s->n_sm);
    cfg.blockDim = dim3(32 * s->fused);
    cfg.dynamicSmemBytes = fused_smem(m);
    cfg.stream = cs.st;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    (void)cudaLaunchKernelEx(&cfg, kernel_for(s->fused, hp->head_dim), a);
}
