/*
 * cuda_forward.cu - the llama-family forward pass on the device (the twin of model/forward.c and
 * forward_arch.c for the options the CUDA backend runs), and the decode step as a CUDA graph.
 *
 * Per layer, for the n tokens of the batch (x: the residual stream, on the device):
 *   xb = rmsnorm(x) * attn_norm
 *   qkv = [xb @ wq + bq | xb @ wk + bk | xb @ wv + bv] ; per-head norms (qwen3) ; rope(q, k)
 *   k, v -> cache[pos0 ..] (F16) ; att = flash attention over the cache (+ its 8-bit activations)
 *   x += att @ wo                                     (the product accumulates into x)
 *   xb = rmsnorm(x) * ffn_norm ; gu = [xb @ gate | xb @ up] ; hb = silu(g) * u ; x += hb @ down
 * (glm4: x += rmsnorm(att @ wo) * attn_post_norm and x += rmsnorm(hb @ down) * ffn_post_norm, the
 * products written to xb first; its [gate; up] is one matrix, uploaded as the stacked gu product)
 * then logits = rmsnorm(x) * output_norm @ output.
 * Products of up to CU_MMV_MAX_COLS tokens use the matrix-vector kernels (8-bit activations for
 * quantized weights), larger ones cuBLAS. Every kernel reads the position from s->d_pos, so the
 * whole decode step (n = 1) is captured once as a graph and replayed at every position.
 * A batched step of several sessions (ag_cuda_forward_multi, "multi") is the same pass with one
 * row per session: the products read each weight once for all rows, rope/cache store and
 * attention use each row's own cache and position (d_pos + 1, d_rows + 1); it is captured as a
 * graph per number of rows.
 * Rotary positions are cache positions plus the row's delta (d_delta: text after images), or in a
 * prefill chunk with images the (t, h, w) positions given (d_mpos; such a pass is never a graph).
 * AUTOGLM_CUDA_GRAPHS=0 in the environment turns the graphs off, AUTOGLM_CUDA_PDL=0 programmatic
 * dependent launch, AUTOGLM_CUDA_MMV_BLOCKS=N sets the matrix-vector grid cap, AUTOGLM_CUDA_MMV_SPLIT=W
 * the warps below which rows are split, AUTOGLM_CUDA_MMV_PREFETCH=0 the L2 prefetch, AUTOGLM_CUDA_MMV_ROWS=R
 * the one-token kernel (0: one row per warp, 1 or 2: the rows kernel; measurements),
 * AUTOGLM_CUDA_MMV_PERSIST=0 the persistent Q4_0 kernel of k = 2048 / 4096 (cuda_mmv.cu) and
 * AUTOGLM_CUDA_PERSIST_BLOCKS=N its blocks per multiprocessor, AUTOGLM_CUDA_ATTN_SPLITS=N the blocks
 * per (token, head) of the chunked decode attention (cuda_attn.cu),
 * AUTOGLM_CUDA_MMV_BULK=0|2 the bulk-copy kernel (cuda_mmv_bulk.cu; default 1: Q8_0, F16, F32;
 * 2: every kind) and AUTOGLM_CUDA_BULK_WARPS / _BLOCKS / _STAGES / _COPY / _MIN its shape, and
 * AUTOGLM_CUDA_ROPE_ATTN=0|1 runs a one-token step's rope and attention as two kernels or as one
 * (cu_rope_attention; default: one where head_dim >= 128), AUTOGLM_CUDA_FUSED=0|1 a one-token
 * step's layers as one kernel (cuda_fused.cu; 2: required, for tests), and
 * AUTOGLM_CUDA_SKIP=MASK leaves kernels out of every pass (CU_SKIP_*: the time a kind of kernel costs
 * in the decode step is the difference; the output is then wrong).
 */
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.cuh"

static cu_stream stream_of(const ag_cuda_session *s) {
    return {s->stream, s->pdl, s->n_sm, s->mmv_blocks_sm, s->mmv_warps_wanted, s->mmv_prefetch, s->mmv_rows,
            s->mmv_persist, s->persist_blocks_sm, s->mmv_bulk, s->bulk_blocks_sm, s->bulk_stages, s->bulk_warps,
            s->bulk_copy, s->bulk_min_tile, s->smem_sm, s->smem_block, s->mmv_stream, s->stream_blocks_sm,
            s->stream_loads, s->stream_stage};
}

static ag_status matmul(ag_cuda_session *s, const cu_weight *w, cu_act *a, float *y, int ldy, bool accumulate,
                        ag_error *err) {
    if (a->n <= CU_MMV_MAX_COLS) {
        const cu_stream cs = stream_of(s);
        if (w->kind >= CU_Q4_0 && !a->have_q8) {
            cu_quantize_q8(a->x, a->n, a->k, s->x8, s->xds, cs);
            a->have_q8 = true;
        }
        cu_mmv(w, a->x, s->x8, s->xds, a->n, y, ldy, accumulate, cs);
        return AG_OK;
    }
    return cu_gemm(s, w, a, y, ldy, accumulate, err);
}

/* Enqueues the pass for n tokens whose embeddings are in s->x; logits of tokens first.. n-1. */
static ag_status enqueue_pass(ag_cuda_session *s, int n, int first, bool multi, bool mrope, ag_error *err) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const cu_stream st = stream_of(s);
    const int e = hp->n_embd, hd = hp->head_dim, qd = hp->n_head * hd, kvd = hp->n_head_kv * hd, f = hp->n_ff;
    const int ld_qkv = qd + 2 * kvd;
    const float eps = hp->norm_eps;
    /* small batches: the norms and silu_mul also write the 8-bit activations of the next product */
    const bool q8 = n <= CU_MMV_MAX_COLS && e % 32 == 0 && f % 32 == 0;
    ag_status r;
    const bool fused = n == 1 && !multi && !mrope && s->fused && !s->skip;
    /* a one-token step: rope and attention as one kernel (s->rope_attn) */
    const bool one_step = n == 1 && !multi && !mrope && s->kv_type == AG_CUDA_KV_F16 && hd <= 256 && s->rope_attn;
    if (fused) cu_fused_decode(s, st);
    for (int il = 0; il < (fused ? 0 : hp->n_layer); il++) {
        const cu_layer *L = &m->layers[il];
        if (!(s->skip & CU_SKIP_NORM)) {
            if (q8) cu_rmsnorm_q8(s->x, s->xb, L->attn_norm, n, e, eps, s->x8, s->xds, st);
            else cu_rmsnorm(s->x, s->xb, L->attn_norm, n, 1, e, e, eps, st);
        }
        cu_act a = {s->xb, n, e, q8, false};
        if (s->skip & CU_SKIP_QKV) {
        } else if (L->wqkv.q) {
            if ((r = matmul(s, &L->wqkv, &a, s->qkv, ld_qkv, false, err))) return r;
        } else if ((r = matmul(s, &L->wq, &a, s->qkv, ld_qkv, false, err)) ||
                   (r = matmul(s, &L->wk, &a, s->qkv + qd, ld_qkv, false, err)) ||
                   (r = matmul(s, &L->wv, &a, s->qkv + qd + kvd, ld_qkv, false, err)))
            return r;
        if (L->bq) cu_add_bias(s->qkv, L->bq, n, ld_qkv, qd, st);
        if (L->bk) cu_add_bias(s->qkv + qd, L->bk, n, ld_qkv, kvd, st);
        if (L->bv) cu_add_bias(s->qkv + qd + kvd, L->bv, n, ld_qkv, kvd, st);
        if (L->q_norm) cu_rmsnorm(s->qkv, s->qkv, L->q_norm, n * hp->n_head, hp->n_head, ld_qkv, hd, eps, st);
        if (L->k_norm) cu_rmsnorm(s->qkv + qd, s->qkv + qd, L->k_norm, n * hp->n_head_kv, hp->n_head_kv, ld_qkv, hd, eps, st);
        const bool att_q8 = q8 && hd % 32 == 0; /* the attention writes the 8-bit activations of att */
        if (s->skip & CU_SKIP_ATTN) {
        } else if (one_step) {
            cu_rope_attention(s, il, att_q8, st);
        } else {
            cu_rope_store(s, il, n, multi, mrope, st);
            cu_attention(s, il, n, att_q8, multi, st);
        }
        cu_act ao = {s->att, n, qd, att_q8, false};
        if (s->skip & CU_SKIP_WO) {
        } else if (L->attn_post_norm) { /* the output normed before the residual add (xb is free here) */
            if ((r = matmul(s, &L->wo, &ao, s->xb, e, false, err))) return r;
            cu_rmsnorm_add(s->xb, s->x, L->attn_post_norm, n, e, eps, st);
        } else if ((r = matmul(s, &L->wo, &ao, s->x, e, true, err)))
            return r;
        if (!(s->skip & CU_SKIP_NORM)) {
            if (q8) cu_rmsnorm_q8(s->x, s->xb, L->ffn_norm, n, e, eps, s->x8, s->xds, st);
            else cu_rmsnorm(s->x, s->xb, L->ffn_norm, n, 1, e, e, eps, st);
        }
        cu_act b = {s->xb, n, e, q8, false};
        if (s->skip & CU_SKIP_GU) {
        } else if (L->wgu.q) {
            if ((r = matmul(s, &L->wgu, &b, s->gu, 2 * f, false, err))) return r;
        } else if ((r = matmul(s, &L->gate, &b, s->gu, 2 * f, false, err)) ||
                   (r = matmul(s, &L->up, &b, s->gu + f, 2 * f, false, err)))
            return r;
        if (s->skip & CU_SKIP_SILU) {
        } else if (q8) cu_silu_mul_q8(s->gu, s->hb, n, f, s->x8, s->xds, st);
        else cu_silu_mul(s->gu, s->hb, n, f, st);
        cu_act c = {s->hb, n, f, q8, false};
        if (s->skip & CU_SKIP_DOWN) {
        } else if (L->ffn_post_norm) {
            if ((r = matmul(s, &L->down, &c, s->xb, e, false, err))) return r;
            cu_rmsnorm_add(s->xb, s->x, L->ffn_post_norm, n, e, eps, st);
        } else if ((r = matmul(s, &L->down, &c, s->x, e, true, err)))
            return r;
    }
    if (!m->output.q) return AG_OK; /* no head (partial offload): the hidden states stay in s->x */
    const int n_out = n - first;
    if (q8) cu_rmsnorm_q8(s->x + (size_t)first * e, s->xb, m->output_norm, n_out, e, eps, s->x8, s->xds, st);
    else cu_rmsnorm(s->x + (size_t)first * e, s->xb, m->output_norm, n_out, 1, e, e, eps, st);
    cu_act o = {s->xb, n_out, e, q8, false};
    return matmul(s, &m->output, &o, s->logits, hp->n_vocab, false, err);
}

/* A pass of n rows as a graph in *slot: captured on first use; false when it cannot be (then run
 * directly; *failed remembers it). */
static bool pass_graph(ag_cuda_session *s, int n, bool multi, cudaGraphExec_t *slot, bool *failed) {
    if (*slot) return true;
    if (*failed) return false;
    const char *env = getenv("AUTOGLM_CUDA_GRAPHS");
    if (env && strcmp(env, "0") == 0) {
        *failed = true;
        return false;
    }
    cudaGraph_t g = NULL;
    bool ok = cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (ok) {
        ag_error e2 = {};
        const ag_status r = enqueue_pass(s, n, 0, multi, false, &e2);
        ok = cudaStreamEndCapture(s->stream, &g) == cudaSuccess && r == AG_OK;
    }
    ok = ok && cudaGraphInstantiate(slot, g, 0) == cudaSuccess;
    if (g) cudaGraphDestroy(g);
    if (!ok) {
        cudaGetLastError();
        *slot = NULL;
        *failed = true;
    }
    return ok;
}

extern "C" ag_status ag_cuda_forward(ag_cuda_session *s, int n, int pos0, float *logits, bool all_logits, ag_error *err) {
    const ag_cuda_model_desc *hp = &s->m->hp;
    if (n < 1 || n > s->n_batch) return cu_error(err, AG_ERR_INVALID_ARG, "batch of %d tokens (at most %d)", n, s->n_batch);
    if (pos0 < 0 || pos0 + n > s->n_ctx) return cu_error(err, AG_ERR_CONTEXT_FULL, "positions beyond the context");
    CU_TRY(cudaSetDevice(s->m->device), err, "select device");
    const cudaStream_t st = s->stream;
    *s->h_pos = pos0;
    const bool mrope = s->mrope_n > 0;
    const int mrope_n = s->mrope_n;
    s->mrope_n = 0; /* the (t, h, w) positions are this pass's only */
    if (mrope && mrope_n != n)
        return cu_error(err, AG_ERR_INVALID_ARG, "(t, h, w) positions of %d tokens for a pass of %d", mrope_n, n);
    CU_TRY(cudaMemcpyAsync(s->d_pos, s->h_pos, sizeof(int), cudaMemcpyHostToDevice, st), err, "copy position");
    CU_TRY(cudaMemcpyAsync(s->d_delta, s->h_delta, sizeof(int), cudaMemcpyHostToDevice, st), err, "copy rotary delta");
    if (mrope)
        CU_TRY(cudaMemcpyAsync(s->d_mpos, s->h_mpos, (size_t)n * 3 * sizeof(int), cudaMemcpyHostToDevice, st), err,
               "copy rotary positions");
    CU_TRY(cudaMemcpyAsync(s->x, s->h_x, (size_t)n * hp->n_embd * sizeof(float), cudaMemcpyHostToDevice, st), err,
           "copy embeddings");
    const bool head = s->m->output.q != NULL; /* else the hidden states of every token go back */
    const int first = all_logits || !head ? 0 : n - 1;
    if (n == 1 && !mrope && pass_graph(s, 1, false, &s->graph, &s->graph_failed)) {
        CU_TRY(cudaGraphLaunch(s->graph, st), err, "launch the decode graph");
    } else {
        const ag_status r = enqueue_pass(s, n, first, false, mrope, err);
        if (r) {
            cudaStreamSynchronize(st);
            return r;
        }
    }
    CU_TRY(cudaGetLastError(), err, "kernel launch");
    CU_TRY(cudaMemcpyAsync(logits, head ? s->logits : s->x, (size_t)(n - first) * (head ? hp->n_vocab : hp->n_embd) * sizeof(float),
                           cudaMemcpyDeviceToHost, st),
           err, "copy logits");
    CU_TRY(cudaStreamSynchronize(st), err, "forward pass");
    return AG_OK;
}

extern "C" ag_status ag_cuda_forward_multi(ag_cuda_session *lead, ag_cuda_session *const *rows, const int *pos,
                                           const int *delta, int n, float *logits, ag_error *err) {
    const ag_cuda_model_desc *hp = &lead->m->hp;
    if (n < 1 || n > CU_MMV_MAX_COLS || n > lead->n_batch)
        return cu_error(err, AG_ERR_INVALID_ARG, "batched step of %d rows (at most %d)", n,
                        lead->n_batch < CU_MMV_MAX_COLS ? lead->n_batch : CU_MMV_MAX_COLS);
    for (int t = 0; t < n; t++) {
        const ag_cuda_session *r = rows[t];
        if (r->m != lead->m) return cu_error(err, AG_ERR_INVALID_ARG, "batched step over sessions of different models");
        if (pos[t] < 0 || pos[t] >= r->n_ctx) return cu_error(err, AG_ERR_CONTEXT_FULL, "row %d: position beyond the context", t);
        lead->h_pos[1 + t] = pos[t];
        lead->h_rows[1 + t] = r->h_rows[0];
        lead->h_delta[1 + t] = delta ? delta[t] : 0;
    }
    CU_TRY(cudaSetDevice(lead->m->device), err, "select device");
    const cudaStream_t st = lead->stream;
    CU_TRY(cudaMemcpyAsync(lead->d_pos + 1, lead->h_pos + 1, (size_t)n * sizeof(int), cudaMemcpyHostToDevice, st), err,
           "copy positions");
    CU_TRY(cudaMemcpyAsync(lead->d_delta + 1, lead->h_delta + 1, (size_t)n * sizeof(int), cudaMemcpyHostToDevice, st), err,
           "copy rotary deltas");
    CU_TRY(cudaMemcpyAsync(lead->d_rows + 1, lead->h_rows + 1, (size_t)n * sizeof(cu_rowkv), cudaMemcpyHostToDevice, st),
           err, "copy cache pointers");
    CU_TRY(cudaMemcpyAsync(lead->x, lead->h_x, (size_t)n * hp->n_embd * sizeof(float), cudaMemcpyHostToDevice, st), err,
           "copy embeddings");
    if (pass_graph(lead, n, true, &lead->graph_multi[n], &lead->graph_multi_failed[n])) {
        CU_TRY(cudaGraphLaunch(lead->graph_multi[n], st), err, "launch the batched decode graph");
    } else {
        const ag_status r = enqueue_pass(lead, n, 0, true, false, err);
        if (r) {
            cudaStreamSynchronize(st);
            return r;
        }
    }
    CU_TRY(cudaGetLastError(), err, "kernel launch");
    CU_TRY(cudaMemcpyAsync(logits, lead->logits, (size_t)n * hp->n_vocab * sizeof(float), cudaMemcpyDeviceToHost, st), err,
           "copy logits");
    CU_TRY(cudaStreamSynchronize(st), err, "batched step");
    return AG_OK;
}
