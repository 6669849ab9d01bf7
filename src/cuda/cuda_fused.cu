/*
 * cuda_fused.cu - the decode step's layers (one token, one session) as one kernel: a persistent
 * grid of one block per multiprocessor walks every layer, with a grid-wide barrier where a step
 * needs what the whole grid wrote. Per layer:
 *   A  each block: rmsnorm(x) * attn_norm -> 8-bit activations in its shared memory;
 *      q, k, v rows (+ biases) -> qkv                                         barrier
 *   B  block h (per head): rope, the kv group's first block stores k, v in the cache, attention
 *      over the cache with the current position read from shared memory -> att  barrier
 *   C  each block: att -> 8-bit activations; x += att @ wo                     barrier
 *   D  each block: rmsnorm(x) * ffn_norm -> 8-bit; gate and up row r by the same warp,
 *      hb[r] = silu(g) * u                                                     barrier
 *   E  each block: hb -> 8-bit; x += hb @ down                                 barrier
 * The output norm and head stay the ordinary kernels (cuda_forward.cu).
 *
 * The weights stream through a ring of FUSED_STAGES shared-memory stages filled by asynchronous
 * copies (cp.async, cuda_bulk.cuh): a tile is 16 consecutive rows (one per warp) of one matrix, or
 * a piece of them along k when the whole rows do not fit a stage. Each block walks its tiles of the
 * whole step (layer by layer, product by product: tiles block, block + grid, ...) in one sequence,
 * and refills a stage with the tile FUSED_STAGES ahead as soon as the warps are done with it,
 * whatever product or layer that tile belongs to: the weights do not depend on the activations,
 * so the next product's weights are in flight while the grid waits at a barrier or attends.
 *
 * Why: measured on the H200 (docs/PERFORMANCE.md), a decode step of nine dependent kernels per
 * layer lost much of its time to the chain itself (each kernel's ramp, drain and wait for the one
 * before), not to the work. Measured, this kernel is still slower than the kernel per op (8B Q4_0
 * 324 against 543 tok/s; a first version whose warps loaded their rows through registers: 344),
 * so it is off by default; each tile costs ~3 us where its bytes need ~1 (docs/PERFORMANCE.md).
 *
 * Bits: a row is summed by one warp with the one-row kernels' code (cuda_mmv_row.cuh); a piece
 * holds whole units of 32 of mmv_q_row's lane-strided steps, so lane j still adds its blocks j,
 * j + 32, ... in order and the warp's sum is the one-row kernels'. The norms, rope, attention and
 * 8-bit quantization are the ordinary kernels' own functions (cuda_act.cuh, cuda_rope.cuh,
 * cuda_attn.cuh, q8_warp), so a fused step gives the same logits as the kernel-per-op step and as
 * a batched pass. Data other blocks wrote in this kernel is read around L1 (__ldcg).
 * Applies to quantized weights (Q4_0, Q8_0, Q4_K, Q6_K) on compute capability 9.0+, an F16 cache,
 * no per-head or post norms, row counts that are multiples of 16 (cu_fused_supported); the rest
 * take the kernel-per-op step. AUTOGLM_CUDA_FUSED=1 turns it on.
 */
#include <string.h>

#include "cuda/cuda_act.cuh"
#include "cuda/cuda_attn.cuh"
#include "cuda/cuda_bulk.cuh"
#include "cuda/cuda_mmv_row.cuh"

#define FUSED_WARPS 16      /* warps per block: the rows of a tile; as the decode attention kernel's */
#define FUSED_STAGES 3      /* tiles in flight per block */
#define FUSED_HDR 128       /* bytes before the stages: their barriers */
#define FUSED_TILE_ROWS FUSED_WARPS /* rows of a tile: one per warp */

enum { PH_QKV, PH_WO, PH_GU, PH_DOWN, PH_N };

struct fused_args {
    const cu_fused_layer *layers;
    int n_layer;
    float *x, *qkv, *att, *hb;
    float *att_part; /* the attention's chunk states (attn_head) */
    const cu_rowkv *rows;
    const int *pos, *delta;
    unsigned *sync; /* {arrived, generation} */
    const float *freqs;
    int n_embd, n_ff, n_head, n_head_kv, hd, n_rot, neox, n_swa;
    float eps, theta_scale, pos_scale, attn_scale;
    int max_k;
    uint32_t stage_bytes;
};

/* A unit: the part of a row that is 32 of mmv_q_row's lane-strided steps (weights, quant bytes and
 * scale bytes of one row). */
static __host__ __device__ __forceinline__ int unit_weights(int kind) { return kind == CU_Q4_K ? 2048 : 1024; }
static __host__ __device__ __forceinline__ uint32_t unit_q_bytes(int kind) {
    return kind == CU_Q4_0 ? 512 : kind == CU_Q8_0 ? 1024 : kind == CU_Q4_K ? 1152 : 4 * CU_Q6_K_STRIDE;
}
static __host__ __device__ __forceinline__ uint32_t unit_d_bytes(int kind) {
    return kind == CU_Q4_0 || kind == CU_Q8_0 ? 64 : 0;
}

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

/* A position in a block's sequence of tiles: layer, product, tile (16-row group t of the product;
 * for gate | up, part 0 is the group's gate rows and part 1 its up rows) and first unit. */
struct tile_cursor {
    int il, ph, part, u, t;
};

/* The matrix (slot: q k v wo gate up down = 0 .. 6) of product ph that tile group t, part `part`
 * reads, and the offset in that matrix of the group's first row. */
static __device__ __forceinline__ const cu_weight *tile_matrix(const cu_fused_layer &L, int ph, int t, int part,
                                                                int *row0, int *slot) {
    const int r = t * FUSED_TILE_ROWS;
    switch (ph) {
    case PH_QKV:
        if (r < (int)L.q.rows) {
            *row0 = r;
            *slot = 0;
            return &L.q;
        }
        if (r < (int)(L.q.rows + L.k.rows)) {
            *row0 = r - (int)L.q.rows;
            *slot = 1;
            return &L.k;
        }
        *row0 = r - (int)(L.q.rows + L.k.rows);
        *slot = 2;
        return &L.v;
    case PH_WO: *row0 = r; *slot = 3; return &L.wo;
    case PH_GU: *row0 = r; *slot = 4 + part; return part ? &L.up : &L.gate;
    default: *row0 = r; *slot = 6; return &L.down;
    }
}

/* The first tile of this block at or after c (moving to the next product or layer when c's has no
 * more of them); c.il == n_layer: the sequence has ended. */
static __device__ __forceinline__ void cursor_settle(const fused_args &a, tile_cursor &c) {
    while (c.il < a.n_layer && c.t >= a.layers[c.il].groups[c.ph]) {
        c.t = blockIdx.x;
        c.part = 0;
        c.u = 0;
        if (++c.ph == PH_N) {
            c.ph = 0;
            c.il++;
        }
    }
}

static __device__ __forceinline__ void cursor_next(const fused_args &a, tile_cursor &c) {
    const cu_fused_layer &L = a.layers[c.il];
    int row0, slot;
    tile_matrix(L, c.ph, c.t, c.part, &row0, &slot);
    c.u += L.tile_units[slot];
    if (c.u < L.row_units[slot]) return;
    c.u = 0;
    if (c.ph == PH_GU && c.part == 0) {
        c.part = 1;
        return;
    }
    c.part = 0;
    c.t += gridDim.x;
    cursor_settle(a, c);
}

/* Every thread of the block: asks for the tile at c into stage, warp i row i's 16-byte pieces
 * (cp.async; a tile's rows are not contiguous when it holds a piece of them, and one bulk copy per
 * row was measured slow), each thread's arrival on bar once its copies have landed. */
static __device__ __forceinline__ void tile_issue(const fused_args &a, const tile_cursor &c, uint8_t *stage,
                                                  uint64_t *bar, int warp, int lane) {
    const cu_fused_layer &L = a.layers[c.il];
    int row0, slot;
    const cu_weight *w = tile_matrix(L, c.ph, c.t, c.part, &row0, &slot);
    const int kind = w->kind, nu = min(L.tile_units[slot], L.row_units[slot] - c.u);
    const uint32_t uq = unit_q_bytes(kind), ud = unit_d_bytes(kind), qp = nu * uq / 16, dp = nu * ud / 16;
    const int64_t r = row0 + warp;
    const uint8_t *q = w->q + r * (int64_t)w->row_bytes + (int64_t)c.u * uq;
    uint8_t *sq = stage + (size_t)warp * qp * 16;
    for (uint32_t j = lane; j < qp; j += 32) cu_async_copy16(sq + j * 16, q + j * 16);
    if (dp) {
        const uint8_t *d = (const uint8_t *)w->d + r * (w->k / 16) + (int64_t)c.u * ud;
        uint8_t *sd = stage + (size_t)FUSED_TILE_ROWS * qp * 16 + (size_t)warp * dp * 16;
        for (uint32_t j = lane; j < dp; j += 32) cu_async_copy16(sd + j * 16, d + j * 16);
    }
    cu_async_copies_arrive(bar);
}

/* The warp's row of a tile in shared memory (nu units from unit u0 of a row of w) against the 8-bit
 * activations, added to acc (lane j's share, in the one-row kernels' order). */
static __device__ __forceinline__ void tile_dot(const cu_weight &w, const uint8_t *stage, int u0, int nu,
                                                const int8_t *x8, const float2 *xds, int warp, int lane, float *acc) {
    cu_weight tw = w;
    const int64_t k0 = (int64_t)u0 * unit_weights(w.kind);
    tw.k = (int64_t)nu * unit_weights(w.kind);
    tw.rows = FUSED_TILE_ROWS;
    tw.row_bytes = (size_t)nu * unit_q_bytes(w.kind);
    tw.q = stage;
    tw.d = (const half *)(stage + FUSED_TILE_ROWS * tw.row_bytes);
    x8 += k0;
    xds += k0 / 32;
    switch (w.kind) {
    case CU_Q4_0: mmv_q_row<CU_Q4_0, 1>(tw, x8, xds, warp, lane, 32, 1, acc); break;
    case CU_Q8_0: mmv_q_row<CU_Q8_0, 1>(tw, x8, xds, warp, lane, 32, 1, acc); break;
    case CU_Q4_K: mmv_q_row<CU_Q4_K, 1>(tw, x8, xds, warp, lane, 32, 1, acc); break;
    default: mmv_q_row<CU_Q6_K, 1>(tw, x8, xds, warp, lane, 32, 1, acc); break;
    }
}

/* The block's ring of stages, and where it is in its sequence. */
struct tile_ring {
    uint64_t *bar;
    uint8_t *stages;
    uint32_t n_done; /* tiles consumed */
    tile_cursor cur;  /* the next tile to consume */
    tile_cursor ahead; /* the next tile to ask for */
};

/* Consumes the block's tiles of product ph of layer il: warp w sums row w of each tile; when a
 * row's last piece is in, fin(matrix, row in it, sum) runs on lane 0 (its output). */
template <typename Fin>
static __device__ __forceinline__ void run_product(const fused_args &a, tile_ring &ring, int il, int ph,
                                                   const int8_t *sx8, const float2 *sxds, int warp, int lane,
                                                   Fin fin) {
    const cu_fused_layer &L = a.layers[il];
    float acc[1] = {0.0f};
    while (ring.cur.il == il && ring.cur.ph == ph) {
        const tile_cursor c = ring.cur;
        int row0, slot;
        const cu_weight *w = tile_matrix(L, ph, c.t, c.part, &row0, &slot);
        const int per_row = L.row_units[slot], nu = min(L.tile_units[slot], per_row - c.u);
        const int s = (int)(ring.n_done % FUSED_STAGES);
        uint8_t *stage = ring.stages + (size_t)s * a.stage_bytes;
        cu_mbar_wait(&ring.bar[s], (ring.n_done / FUSED_STAGES) & 1);
        if (c.u == 0) acc[0] = 0.0f;
        tile_dot(*w, stage, c.u, nu, sx8, sxds, warp, lane, acc);
        if (c.u + nu == per_row) {
            const float sum = warp_sum(acc[0]);
            if (lane == 0) fin(slot, row0 + warp, sum);
        }
        __syncthreads(); /* every warp is done with stage s */
        if (ring.ahead.il < a.n_layer) {
            tile_issue(a, ring.ahead, stage, &ring.bar[s], warp, lane);
            cursor_next(a, ring.ahead);
        }
        ring.n_done++;
        cursor_next(a, ring.cur);
    }
}

template <int NI>
__global__ void __launch_bounds__(32 * FUSED_WARPS, 1) fused_decode_kernel(fused_args a) {
    extern __shared__ __align__(128) uint8_t smem[];
    tile_ring ring;
    ring.bar = (uint64_t *)smem;
    ring.stages = smem + FUSED_HDR;
    float *sf = (float *)(ring.stages + (size_t)FUSED_STAGES * a.stage_bytes); /* a staged vector (max_k) */
    int8_t *sx8 = (int8_t *)(sf + a.max_k);                                      /* its 8-bit activations */
    float2 *sxds = (float2 *)(sx8 + (a.max_k + 15) / 16 * 16);
    float *sq = (float *)(sxds + a.max_k / 32); /* the head's rotated query (hd) */
    half *sk = (half *)(sq + a.hd), *sv = sk + a.hd; /* the kv head's key and value at this position */
    __shared__ float part[RMSQ_THREADS / 32];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32, n_threads = 32 * FUSED_WARPS;
    const int hd = a.hd, q_dim = a.n_head * hd, kv_dim = a.n_head_kv * hd;
    const float fpos = (float)(a.pos[0] + a.delta[0]) / a.pos_scale;
    ring.n_done = 0;
    ring.cur = {0, 0, 0, 0, (int)blockIdx.x};
    cursor_settle(a, ring.cur);
    ring.ahead = ring.cur;
    if (tid == 0) {
        for (int s = 0; s < FUSED_STAGES; s++) cu_mbar_init(&ring.bar[s], n_threads);
        cu_mbar_init_fence();
    }
    __syncthreads();
    for (int s = 0; s < FUSED_STAGES && ring.ahead.il < a.n_layer; s++) {
        tile_issue(a, ring.ahead, ring.stages + (size_t)s * a.stage_bytes, &ring.bar[s], warp, lane);
        cursor_next(a, ring.ahead);
    }
    for (int il = 0; il < a.n_layer; il++) {
        const cu_fused_layer &L = a.layers[il];
        /* A: norm, q | k | v */
        stage(a.x, a.n_embd, sf, tid, n_threads);
        float scale = rmsq_scale(sf, a.n_embd, a.eps, tid, part, true);
        q8_shared(sf, a.n_embd, L.attn_norm, scale, sx8, sxds, warp, lane, FUSED_WARPS);
        run_product(a, ring, il, PH_QKV, sx8, sxds, warp, lane, [&](int slot, int r, float v) {
            const float *b = slot == 0 ? L.bq : slot == 1 ? L.bk : L.bv;
            a.qkv[(slot == 0 ? 0 : slot == 1 ? q_dim : q_dim + kv_dim) + r] = b ? v + b[r] : v;
        });
        grid_barrier(a.sync);
        /* B: rope, cache store, attention */
        {
            const attn_args aa = {a.qkv, a.rows, a.att, NULL, NULL, a.pos, il, 0, /* 8-bit: in C */
                                  a.n_head, a.n_head_kv, hd, L.swa ? a.n_swa : 0, a.attn_scale, a.att_part, NULL};
            const rope_step rs = {a.freqs, fpos, a.theta_scale, a.n_rot, a.neox};
            for (int h = blockIdx.x; h < a.n_head; h += gridDim.x)
                rope_attn_head<NI, FUSED_WARPS>(aa, rs, h, sq, sk, sv, warp, lane, tid, n_threads, 0, 1);
        }
        grid_barrier(a.sync);
        /* C: x += att @ wo */
        stage(a.att, q_dim, sf, tid, n_threads);
        q8_shared(sf, q_dim, NULL, 0.0f, sx8, sxds, warp, lane, FUSED_WARPS);
        run_product(a, ring, il, PH_WO, sx8, sxds, warp, lane,
                    [&](int, int r, float v) { a.x[r] = __ldcg(a.x + r) + v; });
        grid_barrier(a.sync);
        /* D: norm, gate and up, silu */
        stage(a.x, a.n_embd, sf, tid, n_threads);
        scale = rmsq_scale(sf, a.n_embd, a.eps, tid, part, true);
        q8_shared(sf, a.n_embd, L.ffn_norm, scale, sx8, sxds, warp, lane, FUSED_WARPS);
        float g = 0.0f; /* lane 0: the warp's gate value, until its up row is in */
        run_product(a, ring, il, PH_GU, sx8, sxds, warp, lane, [&](int slot, int r, float v) {
            if (slot == 4) g = v;
            else a.hb[r] = g / (1.0f + expf(-g)) * v;
        });
        grid_barrier(a.sync);
        /* E: x += hb @ down */
        stage(a.hb, a.n_ff, sf, tid, n_threads);
        q8_shared(sf, a.n_ff, NULL, 0.0f, sx8, sxds, warp, lane, FUSED_WARPS);
        run_product(a, ring, il, PH_DOWN, sx8, sxds, warp, lane,
                    [&](int, int r, float v) { a.x[r] = __ldcg(a.x + r) + v; });
        grid_barrier(a.sync);
    }
}

typedef void (*fused_kernel)(fused_args);

static fused_kernel kernel_for(int hd) {
    if (hd <= 32) return fused_decode_kernel<1>;
    if (hd <= 64) return fused_decode_kernel<2>;
    if (hd <= 128) return fused_decode_kernel<4>;
    return fused_decode_kernel<8>;
}

/* Shared memory of the block besides the stages (bytes). */
static size_t fused_act_bytes(const ag_cuda_model *m) {
    const size_t k = (size_t)m->max_k;
    return FUSED_HDR + k * sizeof(float) + (k + 15) / 16 * 16 + k / 32 * sizeof(float2) +
           (size_t)m->hp.head_dim * (4 + 2 + 2);
}

/* Bytes of a stage: the block's shared memory less the rest (the kernel's static arrays too), in
 * FUSED_STAGES parts of 128-byte multiples; 0 when there is no room. */
static uint32_t fused_stage_bytes(const ag_cuda_session *s) {
    cudaFuncAttributes fa;
    if (cudaFuncGetAttributes(&fa, kernel_for(s->m->hp.head_dim)) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    const size_t used = fused_act_bytes(s->m) + fa.sharedSizeBytes;
    if (s->smem_block <= used) return 0;
    return (uint32_t)((s->smem_block - used) / FUSED_STAGES / 128 * 128);
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

bool cu_fused_layers(const ag_cuda_model *m, uint32_t stage_bytes, cu_fused_layer *out) {
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
        for (int i = 0; i < 7; i++) {
            const cu_weight *w = mats[i];
            if (!fused_kind(*w) || w->rows % FUSED_TILE_ROWS != 0 || w->rows > (1 << 30) ||
                w->k % unit_weights(w->kind) != 0 || w->row_bytes % 16 != 0)
                return false;
            const int per_tile = (int)(stage_bytes / (FUSED_TILE_ROWS * (unit_q_bytes(w->kind) + unit_d_bytes(w->kind))));
            o->row_units[i] = (int)(w->k / unit_weights(w->kind));
            o->tile_units[i] = per_tile < o->row_units[i] ? per_tile : o->row_units[i];
            if (o->tile_units[i] < 1) return false; /* not one unit of 16 rows fits a stage */
        }
        o->groups[PH_QKV] = (int)((o->q.rows + o->k.rows + o->v.rows) / FUSED_TILE_ROWS);
        o->groups[PH_WO] = (int)(o->wo.rows / FUSED_TILE_ROWS);
        o->groups[PH_GU] = (int)(o->gate.rows / FUSED_TILE_ROWS);
        o->groups[PH_DOWN] = (int)(o->down.rows / FUSED_TILE_ROWS);
        if (o->q.rows != qd || o->k.rows != kvd || o->v.rows != kvd || o->wo.rows != hp->n_embd || o->wo.k != qd ||
            o->gate.rows != hp->n_ff || o->up.rows != hp->n_ff || o->down.rows != hp->n_embd || o->down.k != hp->n_ff)
            return false;
    }
    return true;
}

bool cu_fused_supported(ag_cuda_session *s, int on) {
    const ag_cuda_model_desc *hp = &s->m->hp;
    if (!on || s->kv_type != AG_CUDA_KV_F16 || hp->head_dim % 32 != 0 || hp->head_dim > 256 || hp->n_embd % 32 != 0 ||
        hp->n_ff % 32 != 0 || hp->n_head % hp->n_head_kv != 0 || hp->n_rot > hp->head_dim || hp->n_layer < 1)
        return false;
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, s->m->device) != cudaSuccess || p.major < 9 || !p.cooperativeLaunch) {
        cudaGetLastError();
        return false;
    }
    const uint32_t stage = fused_stage_bytes(s); /* whether each matrix's tiles fit: cu_fused_layers */
    if (stage == 0) return false;
    s->fused_stage = stage;
    const fused_kernel k = kernel_for(hp->head_dim);
    const size_t smem = fused_act_bytes(s->m) + (size_t)FUSED_STAGES * stage;
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
        cudaGetLastError();
        return false;
    }
    int per_sm = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, k, 32 * FUSED_WARPS, smem) != cudaSuccess || per_sm < 1) {
        cudaGetLastError();
        return false;
    }
    return true;
}

void cu_fused_decode(ag_cuda_session *s, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const uint32_t stage = s->fused_stage;
    const fused_args a = {s->d_fused, hp->n_layer, s->x, s->qkv, s->att, s->hb, s->att_part, s->d_rows, s->d_pos,
                          s->d_delta, s->d_sync, m->rope_freqs, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv,
                          hp->head_dim, hp->n_rot, hp->rope_neox ? 1 : 0, hp->n_swa, hp->norm_eps, m->rope_theta_scale,
                          hp->rope_scale, hp->attn_scale, (int)m->max_k, stage};
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)s->n_sm);
    cfg.blockDim = dim3(32 * FUSED_WARPS);
    cfg.dynamicSmemBytes = fused_act_bytes(m) + (size_t)FUSED_STAGES * stage;
    cfg.stream = cs.st;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeCooperative;
    attr[0].val.cooperative = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    (void)cudaLaunchKernelEx(&cfg, kernel_for(hp->head_dim), a);
}
