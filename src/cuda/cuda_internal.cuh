/*
 * cuda_internal.cuh - what the CUDA backend's files share: the device model and session structs,
 * the device layout of each weight kind, error helpers, and the kernel launchers each file
 * provides (one concern per file: weights, mmv, gemm, ops, attention, forward, device).
 *
 * Device layouts (uploaded once by cuda_weights.cu; the GGUF block formats repacked so that every
 * thread reads aligned 16-byte vectors):
 *   CU_F32, CU_F16   rows of k elements
 *   CU_Q4_0          q: (rows, k/32, 16 bytes) nibbles (element j low, j+16 high), d: (rows, k/32) f16
 *   CU_Q8_0          q: (rows, k/32, 32 bytes) int8,                                 d: (rows, k/32) f16
 *   CU_Q4_K          q: (rows, k/256) GGUF blocks of 144 bytes (already 16-byte aligned)
 *   CU_Q6_K          q: (rows, k/256) GGUF blocks of 210 bytes, each padded to 224
 * Activations for the integer paths: x8 (n, k) int8 and xds (n, k/32) {d, d*sum(q)} per 32 values.
 */
#ifndef AG_CUDA_INTERNAL_CUH
#define AG_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdio.h>

#include "cuda/cuda_backend.h"
#include "tensor/types.h"

enum cu_kind { CU_F32, CU_F16, CU_Q4_0, CU_Q8_0, CU_Q4_K, CU_Q6_K };

#define CU_Q6_K_STRIDE 224 /* padded Q6_K block */
#define CU_MMV_MAX_COLS 16 /* batches up to this many tokens use the matrix-vector kernels */
#define CU_ALIGN 256
#define CU_MMV_WARPS_WANTED 6336 /* float weights: split rows while a product has fewer warps (132 SMs x 48) */
#define CU_MMV_BLOCKS_PER_SM 0 /* default grid cap of the matrix-vector kernels (0: none; else blocks stride over rows) */
/* kernels a timing run may leave out of a pass (AUTOGLM_CUDA_SKIP, a sum of these) */
enum { CU_SKIP_NORM = 1, CU_SKIP_ATTN = 2, CU_SKIP_SILU = 4, CU_SKIP_QKV = 8, CU_SKIP_WO = 16, CU_SKIP_GU = 32,
       CU_SKIP_DOWN = 64 };
#if CU_MMV_MAX_COLS != AG_CUDA_MULTI_MAX
#error "a batched step (AG_CUDA_MULTI_MAX rows) runs on the matrix-vector kernels"
#endif

struct cu_weight {
    int kind;
    int64_t k, rows;
    const uint8_t *q;  /* see the layouts above */
    const half *d;     /* Q4_0 / Q8_0 scales */
    size_t row_bytes;  /* bytes of one row in q */
};

struct cu_layer {
    const float *attn_norm, *bq, *bk, *bv, *q_norm, *k_norm, *ffn_norm; /* NULL when absent */
    const float *attn_post_norm, *ffn_post_norm; /* glm4: the attention / FFN output normed before the add */
    cu_weight wq, wk, wv, wo, gate, up, down;
    /* when the parts share a type they are uploaded stacked (rows of q, then k, then v; gate then
       up), so one product fills the qkv / gu buffers; the parts are then empty */
    cu_weight wqkv, wgu;
    bool swa;
};

/* A layer as the fused decode step reads it (cuda_fused.cu; device memory): the parts of the
 * stacked products as matrices of their own */
struct cu_fused_layer {
    cu_weight q, k, v, wo, gate, up, down;
    const float *attn_norm, *ffn_norm, *bq, *bk, *bv; /* biases NULL when absent */
    int swa;
    int row_units[7], tile_units[7]; /* per matrix (q, k, v, wo, gate, up, down): units of a row, of a tile */
    int groups[4];                   /* per product (qkv, wo, gate|up, down): tiles of 16 rows */
};

struct ag_cuda_model {
    int device;
    ag_cuda_model_desc hp; /* the numbers of the description (its pointers are not kept) */
    uint8_t *arena;        /* every weight, one allocation */
    size_t arena_bytes;
    cu_layer *layers;      /* host array of n_layer */
    cu_weight output;
    const float *output_norm;
    const float *rope_freqs; /* device (n_rot/2) or NULL */
    float rope_theta_scale;  /* base^(-2/n_rot), computed on the host like the CPU does */
    int64_t max_k;           /* largest input dimension of any matrix */
    size_t max_wh;           /* largest rows*k of a matrix that prefill dequantizes to F16 */
};

/* Where row t of a pass keeps its keys and values: one session's cache, or in a batched step of
 * several sessions (ag_cuda_forward_multi) each row its own session's. Layer il starts at byte
 * k + il * layer_bytes, position p of it row_bytes further per position: kv_dim halves (F16), or
 * kv_dim/32 blocks of the CPU's Q8_0 (f16 d, 32 int8) or Q4_0 (f16 d, 16 bytes of nibbles:
 * element j low nibble of byte j, element 16 + j high nibble; value (nibble - 8) d) layout. */
struct cu_rowkv {
    uint8_t *k, *v;
    size_t layer_bytes; /* n_ctx * row_bytes of that session */
    int row_bytes;
    int kv_type;        /* AG_CUDA_KV_* */
};

/* Bytes of one position's kv_dim values in a cache of type kv_type. */
static inline int cu_kv_row_bytes(int kv_type, int kv_dim) {
    return kv_type == AG_CUDA_KV_Q8_0 ? kv_dim / 32 * 34 : kv_type == AG_CUDA_KV_Q4_0 ? kv_dim / 32 * 18 : kv_dim * 2;
}

/* How a pass launches its kernels: the stream, and whether programmatic dependent launch is on
 * (sm_90 and newer): a kernel may then be started while the one before it finishes, reads what
 * does not depend on it (its weights, into L2) and waits (cu_pdl_wait) before the rest. */
struct cu_stream {
    cudaStream_t st;
    bool pdl;
    int n_sm;          /* multiprocessors of the device (grid sizes) */
    int mmv_blocks_sm;    /* matrix-vector grids: at most this many blocks per multiprocessor (0: no cap) */
    int mmv_warps_wanted; /* split rows over 2 or 4 warps while a product has fewer warps than this
                             (-1: CU_MMV_WARPS_WANTED for float weights, no split for quantized) */
    bool mmv_prefetch;    /* each warp asks L2 for its row before waiting for the previous kernel */
    int mmv_rows;         /* one-token products: 0 the one-row kernels, 1 or 2 the rows kernel with that many
                             rows per warp (-1: the default of the weight kind, cuda_mmv.cu) */
    bool mmv_persist;     /* one-token Q4_0 products of k = 2048 / 4096 on the persistent kernel (cuda_mmv.cu) */
    int persist_blocks_sm; /* its blocks per multiprocessor (0: the default) */
    int mmv_bulk;         /* one-token products on the bulk-copy kernel where it fits (cuda_mmv_bulk.cu): 0 never,
                             1 for the weight kinds where it measured faster (Q8_0, F16, F32), 2 for every kind */
    int bulk_blocks_sm, bulk_stages; /* its blocks per multiprocessor and stages (0: chosen by the matrix) */
    int bulk_warps, bulk_copy;       /* warps per block = rows per tile (8, 16; 0: by the row size); copies (0
                                        bulk, 1 cp.async) */
    size_t bulk_min_tile;            /* products whose tile has fewer bytes stay on the other kernels */
    size_t smem_sm, smem_block;      /* the device's shared memory per multiprocessor / per block (opt-in) */
    int mmv_stream;       /* one-token products on the streaming kernel (cuda_mmv_stream.cu): 0 never, 1 for the
                             weight kinds where it measured faster, 2 for every kind */
    int stream_blocks_sm, stream_loads; /* its blocks per multiprocessor and 16-byte loads per lane and chunk (4
                                           or 8); 0: the weight kind's (cuda_mmv.cu) */
    int stream_stage;     /* its activations copied into shared memory first: 0 never, 1 the kinds' default, 2 always */
};

/* Activations of one matrix product input, converted lazily for the kernels that need them. */
struct cu_act {
    const float *x; /* (n, k) */
    int n;
    int64_t k;
    bool have_q8, have_h;
};

/* Decode attention in chunks of positions (cuda_attn.cu): a query with up to CU_ATTN_ONE_CHUNK
 * positions takes them as one chunk, a longer one in chunks of CU_ATTN_CHUNK positions, grown to a
 * multiple of it where it would have more than CU_ATTN_MAX_CHUNKS chunks. */
#define CU_ATTN_ONE_CHUNK 256
#define CU_ATTN_CHUNK 64
#define CU_ATTN_MAX_CHUNKS 32

struct ag_cuda_session {
    ag_cuda_model *m;
    int n_ctx, n_batch;
    cudaStream_t stream;
    cublasHandle_t blas;
    uint8_t *arena; /* KV cache + scratch, one allocation */
    size_t arena_bytes;
    uint8_t *k_cache, *v_cache; /* (n_layer, n_ctx, row_bytes): see cu_rowkv */
    int kv_type;                /* AG_CUDA_KV_* */
    float *x;      /* (n_batch, n_embd) residual stream */
    float *xb;     /* (n_batch, max(n_embd, q_dim)) normed input */
    float *qkv;    /* (n_batch, q_dim + 2 kv_dim) */
    float *att;    /* (n_batch, q_dim) attention output */
    float *gu;     /* (n_batch, 2 n_ff) gate | up */
    float *hb;     /* (n_batch, n_ff) */
    float *logits; /* (n_batch, n_vocab) */
    float *att_part;     /* (min(n_batch, CU_MMV_MAX_COLS), n_head, CU_ATTN_MAX_CHUNKS, head_dim + 2) chunk states */
    unsigned *att_count; /* (min(n_batch, CU_MMV_MAX_COLS), n_head) blocks done, 0 between kernels */
    int8_t *x8;    /* (CU_MMV_MAX_COLS, max_k) */
    float2 *xds;   /* (CU_MMV_MAX_COLS, max_k/32) */
    half *xh;      /* (n_batch, max_k) activations for cuBLAS */
    half *wh;      /* (max_wh) a weight dequantized for cuBLAS */
    void *blas_ws;
    size_t blas_ws_bytes;
    /* rows of the pass (device; the kernels read them): with multi == 0 token t is at d_pos[0] + t
       in d_rows[0]'s cache, with multi != 0 (a batched step of several sessions) at d_pos[t] in
       d_rows[t]'s */
    int *d_pos;        /* (n_batch) */
    cu_rowkv *d_rows;  /* (n_batch) */
    int *h_pos;        /* pinned (n_batch) */
    cu_rowkv *h_rows;  /* pinned (n_batch) */
    /* rotary positions: token t rotates at its cache position + d_delta[multi ? 1 + t : 0], or in a
       pass with mrope_n > 0 (a prefill chunk with images) at d_mpos[3t + axis of the pair] */
    int *d_delta, *h_delta; /* (1 + CU_MMV_MAX_COLS), device and pinned */
    int *d_mpos, *h_mpos;   /* (n_batch, 3), device and pinned */
    int mrope_n;            /* tokens of h_mpos for the next ag_cuda_forward (0: none) */
    bool pdl;          /* programmatic dependent launch (device of compute capability 9.0+) */
    int n_sm;          /* the device's multiprocessors */
    int mmv_blocks_sm, mmv_warps_wanted; /* see cu_stream (AUTOGLM_CUDA_MMV_BLOCKS, _SPLIT: measurements) */
    bool mmv_prefetch;                   /* (AUTOGLM_CUDA_MMV_PREFETCH) */
    int mmv_rows;                        /* (AUTOGLM_CUDA_MMV_ROWS) */
    bool mmv_persist;                    /* (AUTOGLM_CUDA_MMV_PERSIST=0: off) */
    int persist_blocks_sm;               /* (AUTOGLM_CUDA_PERSIST_BLOCKS: measurements) */
    int mmv_bulk;                        /* (AUTOGLM_CUDA_MMV_BULK=0 off, 2 every kind; only where its sm_90 code runs) */
    int bulk_blocks_sm, bulk_stages;     /* (AUTOGLM_CUDA_BULK_BLOCKS, _STAGES, _WARPS, _COPY, _MIN: measurements) */
    int bulk_warps, bulk_copy;
    size_t bulk_min_tile;
    size_t smem_sm, smem_block;
    int mmv_stream;                      /* (AUTOGLM_CUDA_MMV_STREAM=0 off, 2 every kind) */
    int stream_blocks_sm, stream_loads;  /* (AUTOGLM_CUDA_STREAM_BLOCKS, _LOADS: measurements) */
    int stream_stage;                    /* (AUTOGLM_CUDA_STREAM_STAGE=0|1|2) */
    int fused;                           /* one-token steps as one kernel (cuda_fused.cu; AUTOGLM_CUDA_FUSED: 0, 1, 2) */
    uint32_t fused_stage;                /* bytes of each of the fused kernel's weight stages */
    cu_fused_layer *d_fused;             /* (n_layer) device */
    unsigned *d_sync;                    /* (2) device: the fused kernel's grid barrier */
    int attn_splits;                     /* decode attention: blocks per (token, head) (AUTOGLM_CUDA_ATTN_SPLITS; 0: by
                                            the device's multiprocessors) */
    bool rope_attn;                      /* one-token steps: rope + attention as one kernel (AUTOGLM_CUDA_ROPE_ATTN;
                                            default: head_dim >= 128) */
    unsigned skip;                       /* AUTOGLM_CUDA_SKIP: CU_SKIP_* kernels left out (timing only: wrong output) */
    float *h_x;    /* pinned (n_batch, n_embd) input embeddings */
    cudaGraphExec_t graph; /* the decode step (n = 1), captured on first use */
    bool graph_failed;
    cudaGraphExec_t graph_multi[CU_MMV_MAX_COLS + 1]; /* batched steps of n sessions, by n */
    bool graph_multi_failed[CU_MMV_MAX_COLS + 1];
};

/* ---- errors */
ag_status cu_error(ag_error *err, ag_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define CU_TRY(call, err, what)                                                                          \
    do {                                                                                                 \
        cudaError_t e_ = (call);                                                                         \
        if (e_ != cudaSuccess) return cu_error(err, AG_ERR_IO, "CUDA: %s: %s", what, cudaGetErrorString(e_)); \
    } while (0)

static inline size_t cu_align(size_t n) { return (n + CU_ALIGN - 1) / CU_ALIGN * CU_ALIGN; }

#ifdef __CUDACC__
/* Programmatic dependent launch: wait until the kernel before this one has finished and its writes
 * are visible (a no-op when it was launched without the attribute), and let the next kernel start
 * launching (it still waits for this one's end before reading what this one writes). */
static __device__ __forceinline__ void cu_pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
static __device__ __forceinline__ void cu_pdl_launch_next() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
static __device__ __forceinline__ void cu_prefetch_l2(const void *p) {
    asm volatile("prefetch.global.L2 [%0];" ::"l"(p));
}

/* Launches kernel on cs's stream with smem bytes of dynamic shared memory, with the
 * programmatic-serialization attribute when cs.pdl (errors are left for cudaGetLastError, as a
 * <<<>>> launch leaves them). */
template <typename... KArgs, typename... Args>
static inline void cu_launch_smem(cu_stream cs, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                  Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = cs.st;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = cs.pdl ? 1 : 0;
    (void)cudaLaunchKernelEx(&cfg, kernel, ((KArgs)args)...);
}

/* blocks_sm, or fewer where that many blocks of `kernel` (threads each, smem bytes of dynamic shared
 * memory) would not fit a multiprocessor at once: a persistent grid must be one wave. */
template <typename... KArgs>
static inline int cu_fit_blocks(void (*kernel)(KArgs...), int threads, size_t smem, int blocks_sm) {
    int fit = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, kernel, threads, smem) != cudaSuccess) {
        cudaGetLastError();
        return blocks_sm;
    }
    return fit > 0 && fit < blocks_sm ? fit : blocks_sm;
}

template <typename... KArgs, typename... Args>
static inline void cu_launch(cu_stream cs, void (*kernel)(KArgs...), dim3 grid, dim3 block, Args... args) {
    cu_launch_smem(cs, kernel, grid, block, 0, args...);
}

/* Quantizes the warp's 32 values v (one per lane) into x8[i] and, from lane 0, *ds. */
static __device__ __forceinline__ void q8_warp(float v, int8_t *x8, float2 *ds) {
    float amax = fabsf(v);
    for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
    const float d = amax / 127.0f;
    const int q = amax == 0.0f ? 0 : __float2int_rn(v / d);
    int sum = q;
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    *x8 = (int8_t)q;
    if ((threadIdx.x & 31) == 0) *ds = make_float2(d, d * (float)sum);
}
#endif

/* ---- cuda_blas.cu: why cuBLAS could not be loaded ("" when it was) */
const char *cu_blas_why(void);

/* ---- cuda_weights.cu */
int cu_kind_of(int ag_type);                         /* -1: converted to F16 at upload */
size_t cu_weight_bytes(int kind, int64_t k, int64_t rows); /* aligned device bytes */

/* ---- cuda_mmv.cu: y[c*ldy + r] (+)= W[r] . x[c] for c < n <= CU_MMV_MAX_COLS */
void cu_quantize_q8(const float *x, int n, int64_t k, int8_t *x8, float2 *xds, cu_stream cs);
/* rmsnorm (as cu_rmsnorm, whole rows) that also writes the 8-bit activations (dim % 32 == 0) */
void cu_rmsnorm_q8(const float *x, float *y, const float *w, int n, int dim, float eps, int8_t *x8, float2 *xds,
                   cu_stream cs);
/* silu_mul (as cu_silu_mul) that also writes the 8-bit activations of h (f % 32 == 0) */
void cu_silu_mul_q8(const float *gu, float *h, int n, int f, int8_t *x8, float2 *xds, cu_stream cs);
void cu_mmv(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, int n, float *y, int ldy,
            bool accumulate, cu_stream cs);
/* ---- cuda_mmv_rows.cu: the same for one token, rows_per_warp (1, 2) rows per warp, wpr warps per row */
void cu_mmv_rows(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, int ldy,
                 bool accumulate, int rows_per_warp, int wpr, cu_stream cs);

/* ---- cuda_mmv_stream.cu: one-token products on a persistent grid, each warp streaming its rows in
   chunks of `loads` (4, 8) 16-byte loads per lane with the next chunk in flight, blocks_sm blocks of 4
   warps per multiprocessor, the activations first copied into each block's shared memory if `stage`
   (where they fit); false when w does not suit it (float rows not whole pieces) */
bool cu_mmv_stream(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, bool accumulate,
                   int loads, int blocks_sm, bool stage, cu_stream cs);

/* ---- cuda_mmv_bulk.cu: one-token products through the bulk copy engine (compute capability 9.0+);
   false when w does not suit it (row sizes not multiples of 16 bytes, tiles too large for shared
   memory) or cs has it off: then another kernel must run */
bool cu_mmv_bulk(const cu_weight *w, const float *x, const int8_t *x8, const float2 *xds, float *y, bool accumulate,
                 cu_stream cs);
/* Lets the bulk kernels use smem_block bytes of shared memory on the current device; false when
   their sm_90 code does not run there (the device runs the compute_75 PTX: no bulk copies, and no
   programmatic-dependent-launch waits either) */
bool cu_mmv_bulk_prepare(size_t smem_block);

/* ---- cuda_fused.cu: the decode step's layers as one kernel */
#define CU_FUSED_DEFAULT 0 /* the fused step by default (AUTOGLM_CUDA_FUSED=0|1, 2: required, an error where it
                              does not apply; measurements: docs/PERFORMANCE.md) */
/* Whether the session's cache and device suit the fused kernel (on: the session asks for it;
   compute capability 9.0+, cooperative launch, the kernel fits a block per multiprocessor); sets
   s->fused_stage, the bytes of its weight stages */
bool cu_fused_supported(ag_cuda_session *s, int on);
/* The model's layers as the fused kernel reads them, with stages of stage_bytes, into out
   (n_layer); false when a layer has what it does not do (per-head or post norms, float weights,
   rows not in 16s, a tile that does not fit a stage) */
bool cu_fused_layers(const ag_cuda_model *m, uint32_t stage_bytes, cu_fused_layer *out);
/* Enqueues the layers of the one-token pass of s (x -> x) */
void cu_fused_decode(ag_cuda_session *s, cu_stream cs);

/* ---- cuda_gemm.cu: the same for any n through cuBLAS (weights dequantized to F16) */
ag_status cu_gemm(ag_cuda_session *s, const cu_weight *w, cu_act *a, float *y, int ldy, bool accumulate, ag_error *err);

/* ---- cuda_ops.cu */
void cu_rmsnorm(const float *x, float *y, const float *w, int n_rows, int n_per_tok, int ld_tok, int dim, float eps,
                cu_stream cs);
void cu_add_bias(float *y, const float *b, int n, int ld, int len, cu_stream cs);
/* multi: rows from d_pos[t] / d_rows[t] (see ag_cuda_session); mrope: the pass's (t, h, w) positions */
void cu_rope_store(ag_cuda_session *s, int il, int n, bool multi, bool mrope, cu_stream cs);
void cu_silu_mul(const float *gu, float *h, int n, int f, cu_stream cs);
/* x[t] += rmsnorm(y[t]) * w for the n rows of dim (the post-norms of glm4) */
void cu_rmsnorm_add(const float *y, float *x, const float *w, int n, int dim, float eps, cu_stream cs);

/* ---- cuda_attn.cu: att (n, q_dim) = softmax(q K^T * scale) V over the cache of layer il; with q8
   (head_dim % 32 == 0, n <= CU_MMV_MAX_COLS) also att's 8-bit activations in s->x8, s->xds */
void cu_attention(ag_cuda_session *s, int il, int n, bool q8, bool multi, cu_stream cs);
/* cu_rope_store then cu_attention for a one-token step (not multi, no M-RoPE, an F16 cache,
   head_dim <= 256) as one kernel: the same bits, one kernel fewer in the decode chain */
void cu_rope_attention(ag_cuda_session *s, int il, bool q8, cu_stream cs);

#endif
