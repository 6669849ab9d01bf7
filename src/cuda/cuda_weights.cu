/*
 * cuda_weights.cu - a model's weights on the device: which kind each GGUF type becomes, the
 * repacking into the layouts of cuda_internal.cuh (done once on the host, then one copy per
 * tensor into a single device allocation), and ag_cuda_model_new/free.
 *
 * Types without a GPU kernel (Q4_1, Q5_*, Q2_K, Q3_K, Q5_K, BF16, ...) are converted to F16 with the
 * host's dequantizer, so every type the CPU reads also runs here (at 2 bytes a weight).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.cuh"

int cu_kind_of(int t) {
    switch (t) {
    case AG_TYPE_F32: return CU_F32;
    case AG_TYPE_F16: return CU_F16;
    case AG_TYPE_Q4_0: return CU_Q4_0;
    case AG_TYPE_Q8_0: return CU_Q8_0;
    case AG_TYPE_Q4_K: return CU_Q4_K;
    case AG_TYPE_Q6_K: return CU_Q6_K;
    default: return -1;
    }
}

static int kind_for(const ag_cuda_weight *w) {
    const int k = cu_kind_of(w->type);
    return k < 0 ? CU_F16 : k;
}

size_t cu_weight_bytes(int kind, int64_t k, int64_t rows) {
    const size_t n = (size_t)k * rows;
    switch (kind) {
    case CU_F32: return cu_align(n * 4);
    case CU_F16: return cu_align(n * 2);
    case CU_Q4_0: return cu_align(n / 2) + cu_align(n / 32 * 2);
    case CU_Q8_0: return cu_align(n) + cu_align(n / 32 * 2);
    case CU_Q4_K: return cu_align(n / 256 * 144);
    case CU_Q6_K: return cu_align(n / 256 * CU_Q6_K_STRIDE);
    }
    return 0;
}

static size_t matrix_bytes(const ag_cuda_weight *w) { return w->data ? cu_weight_bytes(kind_for(w), w->ne0, w->ne1) : 0; }
static size_t vector_bytes(const ag_cuda_weight *w) { return w->data ? cu_align((size_t)w->ne0 * w->ne1 * 4) : 0; }

/* Whether the n matrices can be stacked into one: all present, one type, one row length. */
static bool fusable(const ag_cuda_weight *const *w, int n) {
    for (int i = 0; i < n; i++)
        if (!w[i]->data || w[i]->type != w[0]->type || w[i]->ne0 != w[0]->ne0 || w[i]->row_bytes != w[0]->row_bytes)
            return false;
    return true;
}

static size_t stacked_bytes(const ag_cuda_weight *const *w, int n) {
    if (!fusable(w, n)) {
        size_t total = 0;
        for (int i = 0; i < n; i++) total += matrix_bytes(w[i]);
        return total;
    }
    int64_t rows = 0;
    for (int i = 0; i < n; i++) rows += w[i]->ne1;
    return cu_weight_bytes(kind_for(w[0]), w[0]->ne0, rows);
}

extern "C" uint64_t ag_cuda_model_bytes(const ag_cuda_model_desc *d) {
    uint64_t total = matrix_bytes(&d->output) + vector_bytes(&d->output_norm) + cu_align((size_t)d->n_rot / 2 * 4);
    for (int il = 0; il < d->n_layer; il++) {
        const ag_cuda_layer_desc *l = &d->layers[il];
        const ag_cuda_weight *qkv[] = {&l->wq, &l->wk, &l->wv}, *gu[] = {&l->gate, &l->up};
        total += stacked_bytes(qkv, 3) + stacked_bytes(gu, 2);
        const ag_cuda_weight *mats[] = {&l->wo, &l->down};
        const ag_cuda_weight *vecs[] = {&l->attn_norm, &l->bq, &l->bk, &l->bv, &l->q_norm, &l->k_norm, &l->ffn_norm,
                                        &l->attn_post_norm, &l->ffn_post_norm};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++) total += matrix_bytes(mats[i]);
        for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) total += vector_bytes(vecs[i]);
    }
    return total;
}

/* ---------------------------------------------------------------- upload */

struct uploader {
    ag_cuda_model *m;
    size_t used;
    uint8_t *host;      /* staging buffer */
    size_t host_bytes;
    float *row;         /* one row as floats (conversions) */
    size_t row_floats;
    ag_error *err;
};

static uint8_t *bump(uploader *u, size_t bytes) {
    uint8_t *p = u->m->arena + u->used;
    u->used += cu_align(bytes);
    return p;
}

static ag_status staging(uploader *u, size_t bytes, int64_t row_floats) {
    if (bytes > u->host_bytes) {
        free(u->host);
        u->host = (uint8_t *)malloc(bytes);
        u->host_bytes = u->host ? bytes : 0;
    }
    if ((size_t)row_floats > u->row_floats) {
        free(u->row);
        u->row = (float *)malloc((size_t)row_floats * 4);
        u->row_floats = u->row ? (size_t)row_floats : 0;
    }
    if (!u->host || !u->row) return cu_error(u->err, AG_ERR_NOMEM, "out of host memory staging the weights");
    return AG_OK;
}

/* A 1-D weight as floats on the device (NULL when absent). */
static ag_status upload_vector(uploader *u, const ag_cuda_weight *w, const float **out) {
    *out = NULL;
    if (!w->data) return AG_OK;
    const int64_t n = w->ne0 * w->ne1;
    ag_status st = staging(u, (size_t)n * 4, n);
    if (st) return st;
    if (w->type == AG_TYPE_F32) memcpy(u->host, w->data, (size_t)n * 4);
    else if (w->to_float) w->to_float(w->data, (float *)u->host, n);
    else return cu_error(u->err, AG_ERR_UNSUPPORTED, "a norm or bias of type %d cannot be read", w->type);
    uint8_t *dst = bump(u, (size_t)n * 4);
    CU_TRY(cudaMemcpy(dst, u->host, (size_t)n * 4, cudaMemcpyHostToDevice), u->err, "upload");
    *out = (const float *)dst;
    return AG_OK;
}

/* Repacks one matrix into its device layout in u->host, then copies it. */
static ag_status upload_matrix(uploader *u, const ag_cuda_weight *w, cu_weight *out) {
    memset(out, 0, sizeof *out);
    if (!w->data) return AG_OK;
    const int kind = kind_for(w);
    const int64_t k = w->ne0, rows = w->ne1, nb = k / 32;
    const size_t bytes = cu_weight_bytes(kind, k, rows);
    ag_status st = staging(u, bytes, k);
    if (st) return st;
    out->kind = kind;
    out->k = k;
    out->rows = rows;
    const uint8_t *src = (const uint8_t *)w->data;
    uint8_t *h = u->host;
    size_t q_bytes = bytes;
    switch (kind) {
    case CU_F32:
    case CU_F16:
        out->row_bytes = (size_t)k * (kind == CU_F32 ? 4 : 2);
        if (cu_kind_of(w->type) == kind) memcpy(h, src, out->row_bytes * rows);
        else { /* another type converted to F16 */
            if (!w->to_float) return cu_error(u->err, AG_ERR_UNSUPPORTED, "weights of type %d cannot be read", w->type);
            for (int64_t r = 0; r < rows; r++) {
                w->to_float(src + r * w->row_bytes, u->row, k);
                half *hr = (half *)(h + r * out->row_bytes);
                for (int64_t i = 0; i < k; i++) hr[i] = __float2half_rn(u->row[i]);
            }
        }
        break;
    case CU_Q4_0:
    case CU_Q8_0: { /* blocks {f16 d; quants} -> quants of all blocks, then all scales */
        const size_t qb = kind == CU_Q4_0 ? 16 : 32, blk = 2 + qb;
        q_bytes = cu_align((size_t)rows * nb * qb);
        out->row_bytes = nb * qb;
        uint8_t *qs = h;
        uint16_t *ds = (uint16_t *)(h + q_bytes);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *bp = src + r * w->row_bytes + b * blk;
                memcpy(&ds[r * nb + b], bp, 2);
                memcpy(qs + ((size_t)r * nb + b) * qb, bp + 2, qb);
            }
        break;
    }
    case CU_Q4_K:
        out->row_bytes = (size_t)k / 256 * 144;
        memcpy(h, src, out->row_bytes * rows);
        break;
    case CU_Q6_K:
        out->row_bytes = (size_t)k / 256 * CU_Q6_K_STRIDE;
        memset(h, 0, bytes);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < k / 256; b++)
                memcpy(h + r * out->row_bytes + b * CU_Q6_K_STRIDE, src + r * w->row_bytes + b * 210, 210);
        break;
    }
    uint8_t *dst = bump(u, bytes);
    CU_TRY(cudaMemcpy(dst, h, bytes, cudaMemcpyHostToDevice), u->err, "upload");
    out->q = dst;
    if (kind == CU_Q4_0 || kind == CU_Q8_0) out->d = (const half *)(dst + q_bytes);
    if (k > u->m->max_k) u->m->max_k = k;
    if (kind != CU_F32 && (size_t)(k * rows) > u->m->max_wh) u->m->max_wh = (size_t)(k * rows);
    return AG_OK;
}

/* n matrices stacked into *fused when fusable, else each into its own out[i]. */
static ag_status upload_stacked(uploader *u, const ag_cuda_weight *const *w, int n, cu_weight *fused, cu_weight *const *out) {
    memset(fused, 0, sizeof *fused);
    if (!fusable(w, n)) {
        for (int i = 0; i < n; i++) {
            const ag_status st = upload_matrix(u, w[i], out[i]);
            if (st) return st;
        }
        return AG_OK;
    }
    int64_t rows = 0;
    for (int i = 0; i < n; i++) rows += w[i]->ne1;
    uint8_t *cat = (uint8_t *)malloc((size_t)rows * w[0]->row_bytes);
    if (!cat) return cu_error(u->err, AG_ERR_NOMEM, "out of host memory stacking weights");
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy(cat + off, w[i]->data, (size_t)w[i]->ne1 * w[i]->row_bytes);
        off += (size_t)w[i]->ne1 * w[i]->row_bytes;
    }
    ag_cuda_weight all = *w[0];
    all.data = cat;
    all.ne1 = rows;
    const ag_status st = upload_matrix(u, &all, fused);
    free(cat);
    for (int i = 0; i < n; i++) memset(out[i], 0, sizeof *out[i]);
    return st;
}

static ag_status upload_all(uploader *u, const ag_cuda_model_desc *d) {
    ag_cuda_model *m = u->m;
    ag_status st;
    if ((st = upload_matrix(u, &d->output, &m->output)) || (st = upload_vector(u, &d->output_norm, &m->output_norm)))
        return st;
    if (d->rope_freqs) {
        const ag_cuda_weight rf = {d->rope_freqs, AG_TYPE_F32, d->n_rot / 2, 1, (size_t)d->n_rot / 2 * 4, NULL};
        if ((st = upload_vector(u, &rf, &m->rope_freqs))) return st;
    }
    for (int il = 0; il < d->n_layer; il++) {
        const ag_cuda_layer_desc *l = &d->layers[il];
        cu_layer *o = &m->layers[il];
        if ((st = upload_vector(u, &l->attn_norm, &o->attn_norm)) || (st = upload_vector(u, &l->bq, &o->bq)) ||
            (st = upload_vector(u, &l->bk, &o->bk)) || (st = upload_vector(u, &l->bv, &o->bv)) ||
            (st = upload_vector(u, &l->q_norm, &o->q_norm)) || (st = upload_vector(u, &l->k_norm, &o->k_norm)) ||
            (st = upload_vector(u, &l->ffn_norm, &o->ffn_norm)) ||
            (st = upload_vector(u, &l->attn_post_norm, &o->attn_post_norm)) ||
            (st = upload_vector(u, &l->ffn_post_norm, &o->ffn_post_norm)))
            return st;
        const ag_cuda_weight *qkv[] = {&l->wq, &l->wk, &l->wv}, *gu[] = {&l->gate, &l->up};
        cu_weight *const qkv_out[] = {&o->wq, &o->wk, &o->wv}, *const gu_out[] = {&o->gate, &o->up};
        /* no gate: up is [gate; up] already (glm4), the stacked product as it is */
        if ((st = upload_stacked(u, qkv, 3, &o->wqkv, qkv_out)) ||
            (st = l->gate.data ? upload_stacked(u, gu, 2, &o->wgu, gu_out) : upload_matrix(u, &l->up, &o->wgu)) ||
            (st = upload_matrix(u, &l->wo, &o->wo)) || (st = upload_matrix(u, &l->down, &o->down)))
            return st;
        o->swa = d->n_swa > 0 && (d->swa_period <= 0 || il % d->swa_period < d->swa_period - 1);
    }
    return AG_OK;
}

extern "C" ag_cuda_model *ag_cuda_model_new(const ag_cuda_model_desc *d, int device, ag_error *err) {
    if (cudaSetDevice(device) != cudaSuccess) {
        cu_error(err, AG_ERR_INVALID_ARG, "cannot select cuda:%d", device);
        return NULL;
    }
    ag_cuda_model *m = (ag_cuda_model *)calloc(1, sizeof *m);
    if (!m || !(m->layers = (cu_layer *)calloc((size_t)d->n_layer, sizeof *m->layers))) {
        free(m);
        cu_error(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->device = device;
    m->hp = *d;
    m->hp.layers = NULL;
    m->hp.rope_freqs = NULL;
    m->rope_theta_scale = powf(d->rope_base, -2.0f / (float)d->n_rot);
    m->arena_bytes = ag_cuda_model_bytes(d);
    cudaError_t e = cudaMalloc(&m->arena, m->arena_bytes);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        cudaMemGetInfo(&fr, &tot);
        cu_error(err, AG_ERR_NOMEM, "cannot allocate %.2f GiB for the weights on cuda:%d (%.2f GiB free): %s",
                 m->arena_bytes / 1073741824.0, device, fr / 1073741824.0, cudaGetErrorString(e));
        ag_cuda_model_free(m);
        return NULL;
    }
    uploader u = {m, 0, NULL, 0, NULL, 0, err};
    const ag_status st = upload_all(&u, d);
    free(u.host);
    free(u.row);
    if (st) {
        ag_cuda_model_free(m);
        return NULL;
    }
    return m;
}

extern "C" void ag_cuda_model_free(ag_cuda_model *m) {
    if (!m) return;
    cudaSetDevice(m->device);
    cudaFree(m->arena);
    free(m->layers);
    free(m);
}
