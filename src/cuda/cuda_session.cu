/*
 * cuda_session.cu - a session's device state: the F16 KV cache and every scratch buffer carved
 * out of one allocation (sized up front, so nothing is allocated per token), its stream, cuBLAS
 * handle (with its workspace in that allocation), pinned host buffers and its decode graphs, and
 * the rotary positions of its next passes (ag_cuda_session_set_rope).
 */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.cuh"

#define BLAS_WS_BYTES (32u << 20)

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

/* The model's largest matrix input and largest matrix (in elements) from the description alone. */
static void desc_maxima(const ag_cuda_model_desc *d, int64_t *max_k, size_t *max_wh) {
    *max_k = d->output.ne0;
    *max_wh = d->output.type == AG_TYPE_F32 ? 0 : (size_t)(d->output.ne0 * d->output.ne1);
    for (int il = 0; il < d->n_layer; il++) {
        const ag_cuda_layer_desc *l = &d->layers[il];
        const ag_cuda_weight *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) {
            if (mats[i]->ne0 > *max_k) *max_k = mats[i]->ne0;
            if (mats[i]->type != AG_TYPE_F32) *max_wh = max_sz(*max_wh, (size_t)(mats[i]->ne0 * mats[i]->ne1));
        }
        /* stacked products (cuda_weights.cu): at most q+k+v and gate+up rows */
        if (l->wq.type != AG_TYPE_F32)
            *max_wh = max_sz(*max_wh, (size_t)(l->wq.ne0 * (l->wq.ne1 + l->wk.ne1 + l->wv.ne1)));
        if (l->gate.type != AG_TYPE_F32) *max_wh = max_sz(*max_wh, (size_t)(l->gate.ne0 * (l->gate.ne1 + l->up.ne1)));
    }
}

/* Rows a pass of the chunked decode attention can have (its chunk states and counters). */
static size_t attn_rows(int n_batch) { return n_batch < CU_MMV_MAX_COLS ? (size_t)n_batch : CU_MMV_MAX_COLS; }

/* Offsets of every buffer in the session's allocation; returns the total. With base, sets the pointers. */
static size_t layout(ag_cuda_session *s, const ag_cuda_model_desc *d, int n_ctx, int n_batch, int kv_type,
                     int64_t max_k, size_t max_wh, uint8_t *base) {
    const size_t nb = (size_t)n_batch, q_dim = (size_t)d->n_head * d->head_dim,
                 kv_dim = (size_t)d->n_head_kv * d->head_dim;
    size_t off = 0;
#define CARVE(field, type, count)                                            \
    do {                                                                     \
        if (base) s->field = (type *)(base + off);                           \
        off += cu_align((size_t)(count) * sizeof(type));                     \
    } while (0)
    const size_t row_bytes = (size_t)cu_kv_row_bytes(kv_type, (int)kv_dim);
    CARVE(k_cache, uint8_t, (size_t)d->n_layer * n_ctx * row_bytes);
    CARVE(v_cache, uint8_t, (size_t)d->n_layer * n_ctx * row_bytes);
    CARVE(x, float, nb * d->n_embd);
    CARVE(xb, float, nb * max_sz(d->n_embd, q_dim));
    CARVE(qkv, float, nb * (q_dim + 2 * kv_dim));
    CARVE(att, float, nb * q_dim);
    CARVE(gu, float, nb * 2 * d->n_ff);
    CARVE(hb, float, nb * d->n_ff);
    CARVE(logits, float, nb * d->n_vocab);
    CARVE(att_part, float, attn_rows(n_batch) * d->n_head * CU_ATTN_MAX_CHUNKS * (d->head_dim + 2));
    CARVE(att_count, unsigned, attn_rows(n_batch) * d->n_head);
    CARVE(x8, int8_t, (size_t)CU_MMV_MAX_COLS * max_k);
    CARVE(xds, float2, (size_t)CU_MMV_MAX_COLS * max_k / 32);
    const bool prefill = n_batch > CU_MMV_MAX_COLS;
    CARVE(xh, half, prefill ? nb * max_k : 0);
    CARVE(wh, half, prefill ? max_wh : 0);
    CARVE(d_pos, int, 1 + CU_MMV_MAX_COLS);
    CARVE(d_rows, cu_rowkv, 1 + CU_MMV_MAX_COLS);
    CARVE(d_delta, int, 1 + CU_MMV_MAX_COLS);
    CARVE(d_mpos, int, nb * 3);
    CARVE(d_sync, unsigned, 2);
    CARVE(d_fused, cu_fused_layer, d->n_layer);
    if (base) s->blas_ws = base + off;
    off += prefill ? BLAS_WS_BYTES : 0;
#undef CARVE
    return off;
}

extern "C" uint64_t ag_cuda_session_bytes(const ag_cuda_model_desc *d, int n_ctx, int n_batch, int kv_type) {
    int64_t max_k;
    size_t max_wh;
    desc_maxima(d, &max_k, &max_wh);
    ag_cuda_session tmp;
    return layout(&tmp, d, n_ctx, n_batch, kv_type, max_k, max_wh, NULL);
}

extern "C" int ag_cuda_session_kv_type(const ag_cuda_session *s) { return s->kv_type; }

/* The fused decode step's layer table and barrier on the device; false when the model, cache or
 * device do not suit it (the session then runs a kernel per op). */
static bool fused_setup(ag_cuda_session *s) {
    const int n_layer = s->m->hp.n_layer;
    cu_fused_layer *host = (cu_fused_layer *)calloc((size_t)n_layer, sizeof *host);
    bool ok = host && cu_fused_supported(s, s->fused) && cu_fused_layers(s->m, s->fused_stage, host) &&
              cudaMemcpy(s->d_fused, host, (size_t)n_layer * sizeof *host, cudaMemcpyHostToDevice) == cudaSuccess &&
              cudaMemset(s->d_sync, 0, 2 * sizeof(unsigned)) == cudaSuccess;
    free(host);
    if (!ok) cudaGetLastError();
    return ok;
}

extern "C" ag_cuda_session *ag_cuda_session_new(ag_cuda_model *m, int n_ctx, int n_batch, int kv_type, ag_error *err) {
    ag_cuda_session *s = (ag_cuda_session *)calloc(1, sizeof *s);
    if (!s) {
        cu_error(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->m = m;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    if (kv_type != AG_CUDA_KV_F16 && m->hp.head_dim % 32 != 0) {
        cu_error(err, AG_ERR_UNSUPPORTED, "a q8_0/q4_0 KV cache needs a head size that is a multiple of 32 (it is %d)",
                 m->hp.head_dim);
        free(s);
        return NULL;
    }
    s->kv_type = kv_type;
    cudaError_t e = cudaSetDevice(m->device);
    const ag_cuda_model_desc *d = &m->hp;
    s->arena_bytes = layout(s, d, n_ctx, n_batch, kv_type, m->max_k, m->max_wh, NULL);
    if (e == cudaSuccess) e = cudaMalloc(&s->arena, s->arena_bytes);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        cudaMemGetInfo(&fr, &tot);
        cu_error(err, AG_ERR_NOMEM,
                 "cannot allocate %.2f GiB on cuda:%d for the KV cache (%d tokens) and scratch (%.2f GiB free): %s",
                 s->arena_bytes / 1073741824.0, m->device, n_ctx, fr / 1073741824.0, cudaGetErrorString(e));
        ag_cuda_session_free(s);
        return NULL;
    }
    layout(s, d, n_ctx, n_batch, kv_type, m->max_k, m->max_wh, s->arena);
    s->blas_ws_bytes = n_batch > CU_MMV_MAX_COLS ? BLAS_WS_BYTES : 0;
    if (cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaMallocHost(&s->h_x, (size_t)n_batch * d->n_embd * sizeof(float)) != cudaSuccess ||
        cudaMallocHost(&s->h_pos, (1 + CU_MMV_MAX_COLS) * sizeof(int)) != cudaSuccess ||
        cudaMallocHost(&s->h_rows, (1 + CU_MMV_MAX_COLS) * sizeof(cu_rowkv)) != cudaSuccess ||
        cudaMallocHost(&s->h_delta, (1 + CU_MMV_MAX_COLS) * sizeof(int)) != cudaSuccess ||
        cudaMallocHost(&s->h_mpos, (size_t)n_batch * 3 * sizeof(int)) != cudaSuccess) {
        cudaGetLastError();
        cu_error(err, AG_ERR_NOMEM, "cannot create a CUDA stream or pinned buffers on cuda:%d", m->device);
        ag_cuda_session_free(s);
        return NULL;
    }
    if (cudaMemsetAsync(s->att_count, 0, attn_rows(n_batch) * d->n_head * sizeof(unsigned), s->stream) != cudaSuccess) {
        cudaGetLastError();
        cu_error(err, AG_ERR_IO, "cannot clear the attention counters on cuda:%d", m->device);
        ag_cuda_session_free(s);
        return NULL;
    }
    /* row 0: this session's own cache, for its single-session passes */
    s->h_rows[0].k = s->k_cache;
    s->h_rows[0].v = s->v_cache;
    s->h_rows[0].row_bytes = cu_kv_row_bytes(kv_type, d->n_head_kv * d->head_dim);
    s->h_rows[0].layer_bytes = (size_t)n_ctx * s->h_rows[0].row_bytes;
    s->h_rows[0].kv_type = kv_type;
    memset(s->h_delta, 0, (1 + CU_MMV_MAX_COLS) * sizeof(int));
    if (cudaMemcpy(s->d_rows, s->h_rows, sizeof(cu_rowkv), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(s->d_delta, s->h_delta, (1 + CU_MMV_MAX_COLS) * sizeof(int), cudaMemcpyHostToDevice) != cudaSuccess) {
        cudaGetLastError();
        cu_error(err, AG_ERR_IO, "cannot initialize the session on cuda:%d", m->device);
        ag_cuda_session_free(s);
        return NULL;
    }
    {
        cudaDeviceProp p;
        const char *env = getenv("AUTOGLM_CUDA_PDL");
        const bool props = cudaGetDeviceProperties(&p, m->device) == cudaSuccess;
        /* both need the sm_90 code (a newer device that runs the compute_75 PTX has neither) */
        const bool sm90 = props && p.major >= 9 && cu_mmv_bulk_prepare(p.sharedMemPerBlockOptin);
        s->pdl = sm90 && !(env && strcmp(env, "0") == 0);
        const char *bk = getenv("AUTOGLM_CUDA_MMV_BULK");
        s->mmv_bulk = !sm90 ? 0 : bk && *bk ? atoi(bk) : 1;
        const char *bb = getenv("AUTOGLM_CUDA_BULK_BLOCKS"), *bs = getenv("AUTOGLM_CUDA_BULK_STAGES");
        s->bulk_blocks_sm = bb && *bb ? atoi(bb) : 0;
        s->bulk_stages = bs && *bs ? atoi(bs) : 0;
        const char *bw = getenv("AUTOGLM_CUDA_BULK_WARPS"), *bc = getenv("AUTOGLM_CUDA_BULK_COPY"),
                   *bm = getenv("AUTOGLM_CUDA_BULK_MIN");
        s->bulk_warps = bw && *bw ? atoi(bw) : 0;
        s->bulk_copy = bc && *bc ? atoi(bc) : 0;
        s->bulk_min_tile = bm && *bm ? (size_t)atol(bm) : 0;
        s->smem_sm = props ? p.sharedMemPerMultiprocessor : 0;
        s->smem_block = props ? p.sharedMemPerBlockOptin : 0;
        s->n_sm = props ? p.multiProcessorCount : 1;
        const char *mb = getenv("AUTOGLM_CUDA_MMV_BLOCKS");
        s->mmv_blocks_sm = mb && *mb ? atoi(mb) : CU_MMV_BLOCKS_PER_SM;
        const char *sp = getenv("AUTOGLM_CUDA_MMV_SPLIT"), *pf = getenv("AUTOGLM_CUDA_MMV_PREFETCH");
        s->mmv_warps_wanted = sp && *sp ? atoi(sp) : -1; /* -1: by weight kind (cuda_mmv.cu) */
        s->mmv_prefetch = !(pf && strcmp(pf, "0") == 0);
        const char *rw = getenv("AUTOGLM_CUDA_MMV_ROWS");
        s->mmv_rows = rw && *rw ? atoi(rw) : -1; /* -1: by weight kind (cuda_mmv.cu) */
        const char *mp = getenv("AUTOGLM_CUDA_MMV_PERSIST");
        s->mmv_persist = !(mp && strcmp(mp, "0") == 0);
        const char *pb = getenv("AUTOGLM_CUDA_PERSIST_BLOCKS");
        s->persist_blocks_sm = pb && *pb ? atoi(pb) : 0;
        const char *ms = getenv("AUTOGLM_CUDA_MMV_STREAM"), *sb = getenv("AUTOGLM_CUDA_STREAM_BLOCKS"),
                   *sl = getenv("AUTOGLM_CUDA_STREAM_LOADS"), *ss = getenv("AUTOGLM_CUDA_STREAM_STAGE");
        s->mmv_stream = ms && *ms ? atoi(ms) : 1;
        s->stream_blocks_sm = sb && *sb ? atoi(sb) : 0; /* 0: by weight kind (cuda_mmv.cu) */
        s->stream_loads = sl && *sl ? atoi(sl) : 0;
        s->stream_stage = ss && *ss ? atoi(ss) : 1;
        const char *sk = getenv("AUTOGLM_CUDA_SKIP");
        s->skip = sk && *sk ? (unsigned)atoi(sk) : 0;
        const char *as = getenv("AUTOGLM_CUDA_ATTN_SPLITS");
        s->attn_splits = as && *as ? atoi(as) : 0;
        const char *ra = getenv("AUTOGLM_CUDA_ROPE_ATTN");
        /* measured (docs/PERFORMANCE.md): +1.0 - 1.5% tg128 with head_dim 128 (8B), -1.0 - 1.5% with 64 (1B) */
        s->rope_attn = ra && *ra ? atoi(ra) != 0 : m->hp.head_dim >= 128;
        const char *fu = getenv("AUTOGLM_CUDA_FUSED");
        s->fused = fu && *fu ? atoi(fu) : CU_FUSED_DEFAULT;
    }
    if (s->fused && !fused_setup(s)) {
        if (s->fused == 2) { /* required (tests): an error rather than the kernel per op */
            cu_error(err, AG_ERR_UNSUPPORTED, "AUTOGLM_CUDA_FUSED=2: the fused decode step does not apply to this model on cuda:%d",
                     m->device);
            ag_cuda_session_free(s);
            return NULL;
        }
        s->fused = 0;
    }
    if (n_batch > CU_MMV_MAX_COLS) {
        if (cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(s->blas, s->stream) != CUBLAS_STATUS_SUCCESS ||
            cublasSetWorkspace(s->blas, s->blas_ws, s->blas_ws_bytes) != CUBLAS_STATUS_SUCCESS) {
            cu_error(err, AG_ERR_IO, "cannot initialize cuBLAS on cuda:%d%s%s", m->device, *cu_blas_why() ? ": " : "",
                     cu_blas_why());
            ag_cuda_session_free(s);
            return NULL;
        }
    }
    return s;
}

extern "C" ag_status ag_cuda_session_copy_prefix(ag_cuda_session *dst, const ag_cuda_session *src, int n, ag_error *err) {
    if (dst->m != src->m || dst->kv_type != src->kv_type)
        return cu_error(err, AG_ERR_INVALID_ARG, "the sessions' KV caches differ in model or type");
    if (n < 0 || n > dst->n_ctx || n > src->n_ctx)
        return cu_error(err, AG_ERR_INVALID_ARG, "cannot copy %d positions between caches of %d and %d", n, src->n_ctx,
                        dst->n_ctx);
    if (n == 0 || dst == src) return AG_OK;
    const size_t rb = (size_t)dst->h_rows[0].row_bytes; /* one position of one layer */
    CU_TRY(cudaSetDevice(dst->m->device), err, "select the device");
    /* the caches are (n_layer, n_ctx, row_bytes): n_layer rows of n * rb bytes, pitched by each n_ctx */
    CU_TRY(cudaMemcpy2DAsync(dst->k_cache, (size_t)dst->n_ctx * rb, src->k_cache, (size_t)src->n_ctx * rb, (size_t)n * rb,
                             (size_t)dst->m->hp.n_layer, cudaMemcpyDeviceToDevice, dst->stream),
           err, "copy the keys of a prefix");
    CU_TRY(cudaMemcpy2DAsync(dst->v_cache, (size_t)dst->n_ctx * rb, src->v_cache, (size_t)src->n_ctx * rb, (size_t)n * rb,
                             (size_t)dst->m->hp.n_layer, cudaMemcpyDeviceToDevice, dst->stream),
           err, "copy the values of a prefix");
    CU_TRY(cudaStreamSynchronize(dst->stream), err, "copy a prefix");
    return AG_OK;
}

extern "C" void ag_cuda_session_free(ag_cuda_session *s) {
    if (!s) return;
    cudaSetDevice(s->m->device);
    if (s->stream) cudaStreamSynchronize(s->stream);
    if (s->graph) cudaGraphExecDestroy(s->graph);
    for (int i = 0; i <= CU_MMV_MAX_COLS; i++)
        if (s->graph_multi[i]) cudaGraphExecDestroy(s->graph_multi[i]);
    if (s->blas) cublasDestroy(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    cudaFreeHost(s->h_x);
    cudaFreeHost(s->h_pos);
    cudaFreeHost(s->h_rows);
    cudaFreeHost(s->h_delta);
    cudaFreeHost(s->h_mpos);
    cudaFree(s->arena);
    free(s);
}

extern "C" float *ag_cuda_session_input(ag_cuda_session *s) { return s->h_x; }

extern "C" ag_status ag_cuda_session_set_rope(ag_cuda_session *s, int delta, const int32_t *mpos, int n, ag_error *err) {
    if (mpos && (n < 1 || n > s->n_batch))
        return cu_error(err, AG_ERR_INVALID_ARG, "rotary positions of %d tokens (at most %d)", n, s->n_batch);
    const int *sec = s->m->hp.mrope_sections;
    if (mpos && sec[0] + sec[1] + sec[2] <= 0)
        return cu_error(err, AG_ERR_INVALID_ARG, "(t, h, w) rotary positions for a model without rotary sections");
    s->h_delta[0] = delta;
    s->mrope_n = mpos ? n : 0;
    if (mpos) memcpy(s->h_mpos, mpos, (size_t)n * 3 * sizeof(int));
    return AG_OK;
}
