/*
 * cuda_vision.cu - GLM-4.1V's vision tower and patch merger on the GPU (cuda_vision.h): the same
 * steps as the CPU encoder (src/model/vision_glm4v.c), every matrix product through cuBLAS:
 *
 *   x = pixels @ patch^T + b ; x = rmsnorm(x) * pre_ln + bicubic(pos)   (k_add_pos: the CPU's taps)
 *   per block: qkv = rmsnorm(x) * ln1 @ qkv^T + b ; 2D rotary on q and k (k_rope2d)
 *              attention over each frame, per head, in blocks of R query rows (strided-batched
 *              S = scale Q K^T over the heads, softmax rows, O = P V), so the scores stay
 *              n_head * R * frame floats (about 1 GB) for any image
 *              x += O @ out^T + b ; x += down(silu(gate(h)) * up(h)), h = rmsnorm(x) * ln2
 *   x = rmsnorm(x) * post_ln ; y = x (as rows of merge^2 patches) @ merge^T + b
 *   y = gelu(layernorm(y @ fc^T)) ; out = down(silu(gate(y)) * up(y))
 *
 * Precision: an F32 matrix multiplies in F32 (cublasSgemm, no TF32), an F16 one on the tensor
 * cores (activations converted to F16, F32 accumulation and output); the attention products use
 * F16 inputs when the qkv matrix is F16. Norms, softmax, rotary and activations are F32.
 * Memory: the weights in one allocation; the scratch in one allocation, regrown only when an
 * image has more patches (or a larger frame) than any before.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cuda_internal.cuh"
#include "cuda/cuda_vision.h"

struct vmat {
    bool h;          /* F16 (else F32) */
    int64_t k, rows; /* row length, rows */
    void *p;
};

struct vblk {
    const float *ln1, *ln2, *qkv_b, *out_b;
    vmat qkv, out, gate, up, down;
};

struct ag_cuda_vision {
    int device;
    int d, n_head, hd, n_layer, n_ff, out, ctx, merge, patch_dim, pos_side;
    float eps;
    uint8_t *arena;
    size_t arena_bytes;
    vblk *blk; /* host array */
    vmat patch, merge_w, fc, gate, up, down;
    const float *patch_b, *pos, *pre_ln, *post_ln, *merge_b, *post_norm_w, *post_norm_b;
    cudaStream_t st;
    cublasHandle_t blas;
    /* scratch for images of up to cap_n patches and frames of up to cap_frame */
    uint8_t *scratch;
    size_t scratch_bytes, sc_cap;
    int cap_n, cap_frame;
    int max_attn_rows;
    float *pix, *x, *xb, *qkv, *h1, *h2, *sc, *y, *y2, *g, *u;
    half *xh, *qkvh, *ph;
};

/* ---- weights */

/* Sizing (base NULL) or placing pass over the arena. */
struct placer {
    uint8_t *base;
    size_t off;
    ag_error *err;
    ag_status st;
};

static void *place_bytes(placer *pl, size_t n) {
    void *p = pl->base ? pl->base + pl->off : NULL;
    pl->off += cu_align(n);
    return p;
}

static void place_vec(placer *pl, const float *src, int64_t n, const float **out) {
    *out = NULL;
    if (!src) return;
    float *p = (float *)place_bytes(pl, (size_t)n * sizeof(float));
    if (p && !pl->st) {
        cudaError_t e = cudaMemcpy(p, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice);
        if (e != cudaSuccess) pl->st = cu_error(pl->err, AG_ERR_IO, "CUDA: vision weight upload: %s", cudaGetErrorString(e));
    }
    *out = p;
}

static void place_mat(placer *pl, const ag_cuda_weight *w, bool f16, vmat *out) {
    out->h = f16 || w->type != AG_TYPE_F32;
    out->k = w->ne0, out->rows = w->ne1;
    const size_t es = out->h ? 2 : 4, n = (size_t)w->ne0 * (size_t)w->ne1;
    out->p = place_bytes(pl, n * es);
    if (!pl->base || pl->st) return;
    if (!w->data) {
        pl->st = cu_error(pl->err, AG_ERR_FORMAT, "vision weight missing");
        return;
    }
    if (w->type != AG_TYPE_F32 && w->type != AG_TYPE_F16 && !w->to_float) {
        pl->st = cu_error(pl->err, AG_ERR_UNSUPPORTED, "vision weight of type %d has no converter", w->type);
        return;
    }
    void *host = malloc(n * es);
    float *row = (float *)malloc((size_t)w->ne0 * sizeof(float));
    if (!host || !row) {
        free(host), free(row);
        pl->st = cu_error(pl->err, AG_ERR_NOMEM, "out of memory");
        return;
    }
    for (int64_t r = 0; r < w->ne1; r++) {
        const uint8_t *src = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
        if (w->type == AG_TYPE_F16 && out->h) {
            memcpy((half *)host + (size_t)r * w->ne0, src, (size_t)w->ne0 * 2);
            continue;
        }
        if (w->type == AG_TYPE_F32) memcpy(row, src, (size_t)w->ne0 * sizeof(float));
        else if (w->type == AG_TYPE_F16)
            for (int64_t i = 0; i < w->ne0; i++) row[i] = __half2float(((const half *)src)[i]);
        else w->to_float(src, row, w->ne0);
        if (out->h)
            for (int64_t i = 0; i < w->ne0; i++) ((half *)host)[(size_t)r * w->ne0 + i] = __float2half(row[i]);
        else memcpy((float *)host + (size_t)r * w->ne0, row, (size_t)w->ne0 * sizeof(float));
    }
    cudaError_t e = cudaMemcpy(out->p, host, n * es, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) pl->st = cu_error(pl->err, AG_ERR_IO, "CUDA: vision weight upload: %s", cudaGetErrorString(e));
    free(host), free(row);
}

static void place_all(ag_cuda_vision *v, const ag_cuda_vision_desc *d, placer *pl) {
    const int D = d->d, S2 = d->pos_side * d->pos_side;
    place_mat(pl, &d->patch, d->f16, &v->patch);
    place_vec(pl, d->patch_b, D, &v->patch_b);
    place_vec(pl, d->pos, (int64_t)S2 * D, &v->pos);
    place_vec(pl, d->pre_ln, D, &v->pre_ln);
    place_vec(pl, d->post_ln, D, &v->post_ln);
    for (int il = 0; il < d->n_layer; il++) {
        const ag_cuda_vision_block *s = &d->blk[il];
        vblk *b = &v->blk[il];
        place_vec(pl, s->ln1, D, &b->ln1);
        place_vec(pl, s->ln2, D, &b->ln2);
        place_vec(pl, s->qkv_b, 3 * D, &b->qkv_b);
        place_vec(pl, s->out_b, D, &b->out_b);
        place_mat(pl, &s->qkv, d->f16, &b->qkv);
        place_mat(pl, &s->out, d->f16, &b->out);
        place_mat(pl, &s->gate, d->f16, &b->gate);
        place_mat(pl, &s->up, d->f16, &b->up);
        place_mat(pl, &s->down, d->f16, &b->down);
    }
    place_mat(pl, &d->merge_w, d->f16, &v->merge_w);
    place_vec(pl, d->merge_b, d->out, &v->merge_b);
    place_mat(pl, &d->fc, d->f16, &v->fc);
    place_vec(pl, d->post_norm_w, d->out, &v->post_norm_w);
    place_vec(pl, d->post_norm_b, d->out, &v->post_norm_b);
    place_mat(pl, &d->gate, d->f16, &v->gate);
    place_mat(pl, &d->up, d->f16, &v->up);
    place_mat(pl, &d->down, d->f16, &v->down);
}

extern "C" ag_cuda_vision *ag_cuda_vision_new(const ag_cuda_vision_desc *d, int device, ag_error *err) {
    if (!d || !d->blk || d->n_layer < 1 || d->d < 4 || d->n_head < 1 || d->d % d->n_head || !d->pos || !d->pre_ln ||
        !d->post_ln || !d->post_norm_w || !d->post_norm_b)
        return cu_error(err, AG_ERR_INVALID_ARG, "incomplete vision description"), (ag_cuda_vision *)NULL;
    if (cudaSetDevice(device) != cudaSuccess)
        return cu_error(err, AG_ERR_INVALID_ARG, "cannot select cuda:%d", device), (ag_cuda_vision *)NULL;
    ag_cuda_vision *v = (ag_cuda_vision *)calloc(1, sizeof *v);
    if (!v || !(v->blk = (vblk *)calloc((size_t)d->n_layer, sizeof *v->blk))) {
        free(v);
        return cu_error(err, AG_ERR_NOMEM, "out of memory"), (ag_cuda_vision *)NULL;
    }
    v->device = device;
    v->d = d->d, v->n_head = d->n_head, v->hd = d->d / d->n_head, v->n_layer = d->n_layer, v->n_ff = d->n_ff;
    v->out = d->out, v->ctx = d->ctx, v->merge = d->merge, v->patch_dim = d->patch_dim, v->pos_side = d->pos_side;
    v->eps = d->eps;
    v->max_attn_rows = d->max_attn_rows;
    placer pl = {NULL, 0, err, AG_OK};
    place_all(v, d, &pl);
    v->arena_bytes = pl.off;
    cudaError_t e = cudaMalloc((void **)&v->arena, v->arena_bytes);
    if (e != cudaSuccess) {
        cu_error(err, AG_ERR_NOMEM, "CUDA: cannot allocate %.1f MiB for the vision weights: %s", (double)v->arena_bytes / 1048576.0,
                 cudaGetErrorString(e));
        v->arena = NULL;
        ag_cuda_vision_free(v);
        return NULL;
    }
    pl = placer{v->arena, 0, err, AG_OK};
    place_all(v, d, &pl);
    if (pl.st || cudaStreamCreateWithFlags(&v->st, cudaStreamNonBlocking) != cudaSuccess ||
        cublasCreate(&v->blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(v->blas, v->st) != CUBLAS_STATUS_SUCCESS) {
        if (!pl.st)
            cu_error(err, AG_ERR_IO, "CUDA: cannot create the vision encoder's stream / cuBLAS handle%s%s",
                     *cu_blas_why() ? ": " : "", cu_blas_why());
        ag_cuda_vision_free(v);
        return NULL;
    }
    return v;
}

extern "C" void ag_cuda_vision_free(ag_cuda_vision *v) {
    if (!v) return;
    cudaSetDevice(v->device);
    if (v->blas) cublasDestroy(v->blas);
    if (v->st) cudaStreamDestroy(v->st);
    cudaFree(v->scratch);
    cudaFree(v->arena);
    free(v->blk);
    free(v);
}

extern "C" uint64_t ag_cuda_vision_weight_bytes(const ag_cuda_vision *v) { return v ? v->arena_bytes : 0; }
extern "C" uint64_t ag_cuda_vision_scratch_bytes(const ag_cuda_vision *v) { return v ? v->scratch_bytes : 0; }

/* ---- kernels */

static unsigned nblk(int64_t n, int t) { return (unsigned)((n + t - 1) / t); }

__global__ void kv_to_half(const float *x, int64_t n, half *y) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __float2half(x[i]);
}

__global__ void kv_add_bias(float *y, const float *b, int64_t n, int len) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += b[i % len];
}

/* Block-wide sum of 256 threads (result in every thread). */
static __device__ float block_sum(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) t += sh[i];
    return t;
}

static __device__ float block_max(float v, float *sh) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = -INFINITY;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) t = fmaxf(t, sh[i]);
    return t;
}

/* y[r] = x[r] / rms(x[r]) * w, one block of 256 per row */
__global__ void kv_rmsnorm(const float *x, float *y, const float *w, int dim, float eps) {
    __shared__ float sh[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *yr = y + (size_t)blockIdx.x * dim;
    float s = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += xr[i] * xr[i];
    s = block_sum(s, sh);
    const float inv = rsqrtf(s / (float)dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = xr[i] * inv * w[i];
}

/* (row, col) of patch i in the processor's order */
static __device__ __forceinline__ void patch_rc(int i, int frame, int gw, int m, int *row, int *col) {
    const int in_frame = i % frame, blk = in_frame / (m * m), q = in_frame % (m * m), bw = gw / m;
    *row = blk / bw * m + q / m;
    *col = blk % bw * m + q % m;
}

static __device__ __forceinline__ void cubic_w(float t, float w[4]) {
    const float A = -0.75f;
    const float x0 = t + 1.0f, x1 = t, x2 = 1.0f - t, x3 = 2.0f - t;
    w[0] = ((A * x0 - 5.0f * A) * x0 + 8.0f * A) * x0 - 4.0f * A;
    w[1] = ((A + 2.0f) * x1 - (A + 3.0f)) * x1 * x1 + 1.0f;
    w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static __device__ __forceinline__ int clampi(int x, int hi) { return x < 0 ? 0 : x > hi ? hi : x; }

/* x[i] += the position table sampled bicubically at patch i's place (as vision_glm4v.c's add_position) */
__global__ void kv_add_pos(float *x, const float *pos, int64_t n, int d, int S, int gh, int gw, int m, int frame) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n) return;
    const int i = (int)(t / d), c = (int)(t % d);
    int h, w;
    patch_rc(i, frame, gw, m, &h, &w);
    const float nx = ((float)w + 0.5f) / (float)gw * 2.0f - 1.0f, ny = ((float)h + 0.5f) / (float)gh * 2.0f - 1.0f;
    const float ix = ((nx + 1.0f) * (float)S - 1.0f) / 2.0f, iy = ((ny + 1.0f) * (float)S - 1.0f) / 2.0f;
    const float fx = floorf(ix), fy = floorf(iy);
    float wx[4], wy[4];
    cubic_w(ix - fx, wx);
    cubic_w(iy - fy, wy);
    float acc = 0;
    for (int j = 0; j < 4; j++) {
        const int yy = clampi((int)fy - 1 + j, S - 1);
        float r = 0;
        for (int k = 0; k < 4; k++) r += wx[k] * pos[((size_t)yy * S + clampi((int)fx - 1 + k, S - 1)) * d + c];
        acc += wy[j] * r;
    }
    x[t] += acc;
}

/* 2D rotary of q and k (the first 2d values of each qkv row): one thread per (patch, q|k, head, i < hd/2) */
__global__ void kv_rope2d(float *qkv, int64_t n_items, int d, int hd, int frame, int gw, int m) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= n_items) return;
    const int half_ = hd / 2, quarter = hd / 4;
    const int i = (int)(t % half_);
    const int64_t hp = t / half_; /* (patch, part, head) */
    const int n_head = d / hd;
    const int h = (int)(hp % n_head), part = (int)((hp / n_head) % 2);
    const int p = (int)(hp / n_head / 2);
    int row, col;
    patch_rc(p, frame, gw, m, &row, &col);
    const int j = i < quarter ? i : i - quarter;
    const float inv = 1.0f / powf(10000.0f, (float)(2 * j) / (float)half_);
    const float th = (float)(i < quarter ? row : col) * inv;
    float s, c;
    sincosf(th, &s, &c);
    float *x = qkv + (size_t)p * 3 * d + (size_t)part * d + (size_t)h * hd;
    const float a = x[i], b = x[i + half_];
    x[i] = a * c - b * s;
    x[i + half_] = b * c + a * s;
}

/* Softmax of score rows (already scaled): row r of head h at sc + h * head_stride + r * len.
 * Grid (rows, heads); writes F32 in place, or F16 to ph (same layout) when ph. */
__global__ void kv_softmax(float *sc, half *ph, int len, int64_t head_stride) {
    __shared__ float sh[32];
    const size_t off = (size_t)blockIdx.y * head_stride + (size_t)blockIdx.x * len;
    float *r = sc + off;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < len; i += blockDim.x) mx = fmaxf(mx, r[i]);
    mx = block_max(mx, sh);
    float s = 0;
    for (int i = threadIdx.x; i < len; i += blockDim.x) {
        const float e = expf(r[i] - mx);
        r[i] = e;
        s += e;
    }
    s = block_sum(s, sh);
    const float inv = 1.0f / s;
    if (ph)
        for (int i = threadIdx.x; i < len; i += blockDim.x) ph[off + i] = __float2half(r[i] * inv);
    else
        for (int i = threadIdx.x; i < len; i += blockDim.x) r[i] *= inv;
}

/* g = silu(g) * u */
__global__ void kv_silu_mul(float *g, const float *u, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const float x = g[i];
        g[i] = x / (1.0f + expf(-x)) * u[i];
    }
}

/* y[r] = gelu_erf(layernorm(y[r]) * w + b), one block of 256 per row */
__global__ void kv_ln_gelu(float *y, const float *w, const float *b, int dim) {
    __shared__ float sh[32];
    float *r = y + (size_t)blockIdx.x * dim;
    float s = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s += r[i];
    const float mean = block_sum(s, sh) / (float)dim;
    float q = 0;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) q += (r[i] - mean) * (r[i] - mean);
    const float inv = rsqrtf(block_sum(q, sh) / (float)dim + 1e-5f);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        const float z = (r[i] - mean) * inv * w[i] + b[i];
        r[i] = 0.5f * z * (1.0f + erff(z * 0.70710678118654752f));
    }
}

/* ---- encoding */

#define BLAS_TRY(call, what)                                                                          \
    do {                                                                                              \
        cublasStatus_t bs_ = (call);                                                                  \
        if (bs_ != CUBLAS_STATUS_SUCCESS) return cu_error(err, AG_ERR_IO, "cuBLAS: %s failed: status %d", what, (int)bs_); \
    } while (0)

/* Y (n, rows) = X (n, k) W^T, plus beta * Y */
static ag_status vgemm(ag_cuda_vision *v, const vmat *w, const float *x, int n, float *y, float beta, ag_error *err) {
    const float one = 1.0f;
    const int rows = (int)w->rows, k = (int)w->k;
    if (!w->h) {
        BLAS_TRY(cublasSgemm(v->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, k, &one, (const float *)w->p, k, x, k, &beta, y, rows),
                 "vision product (F32)");
        return AG_OK;
    }
    const int64_t nx = (int64_t)n * k;
    kv_to_half<<<nblk(nx, 256), 256, 0, v->st>>>(x, nx, v->xh);
    BLAS_TRY(cublasGemmEx(v->blas, CUBLAS_OP_T, CUBLAS_OP_N, rows, n, k, &one, w->p, CUDA_R_16F, k, v->xh, CUDA_R_16F, k, &beta, y,
                          CUDA_R_32F, rows, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             "vision product (F16)");
    return AG_OK;
}

static void bias(ag_cuda_vision *v, float *y, const float *b, int n, int len) {
    if (b) kv_add_bias<<<nblk((int64_t)n * len, 256), 256, 0, v->st>>>(y, b, (int64_t)n * len, len);
}

/* Score floats per block of query rows: n_head * R * frame <= SC_BUDGET (or R = 1). */
#define SC_BUDGET ((size_t)1 << 28)

static int attn_rows(int n_head, int frame, size_t cap) {
    size_t r = cap / ((size_t)n_head * frame);
    if (r < 1) r = 1;
    return r > (size_t)frame ? frame : (int)r;
}

static ag_status ensure_scratch(ag_cuda_vision *v, int N, int frame, ag_error *err) {
    if (N <= v->cap_n && frame <= v->cap_frame) return AG_OK;
    const int n = N > v->cap_n ? N : v->cap_n, fr = frame > v->cap_frame ? frame : v->cap_frame;
    const size_t d = v->d, n_tok = (size_t)n / (v->merge * v->merge);
    bool h = false; /* any block's attention in F16 */
    for (int il = 0; il < v->n_layer; il++) h |= v->blk[il].qkv.h;
    const size_t R = (size_t)attn_rows(v->n_head, fr, SC_BUDGET), sc = (size_t)v->n_head * R * fr;
    size_t kmax = (size_t)n * v->patch_dim;
    const size_t cand[] = {(size_t)n * v->n_ff, (size_t)n * d, n_tok * v->out, n_tok * v->ctx};
    for (size_t c : cand) kmax = c > kmax ? c : kmax;
    const size_t ffd = (size_t)(v->n_ff > v->d ? v->n_ff : v->d);
    const size_t f4[] = {(size_t)n * v->patch_dim, (size_t)n * d, (size_t)n * d, (size_t)n * 3 * d, (size_t)n * ffd,
                         (size_t)n * v->n_ff, sc, n_tok * v->out, n_tok * v->out, n_tok * v->ctx, n_tok * v->ctx};
    const size_t f2[] = {kmax, h ? (size_t)n * 3 * d : 0, h ? sc : 0};
    size_t total = 0;
    for (size_t x : f4) total += cu_align(x * 4);
    for (size_t x : f2) total += cu_align(x * 2);
    cudaFree(v->scratch);
    v->scratch = NULL, v->scratch_bytes = 0, v->cap_n = v->cap_frame = 0;
    cudaError_t e = cudaMalloc((void **)&v->scratch, total);
    if (e != cudaSuccess) {
        v->scratch = NULL;
        return cu_error(err, AG_ERR_NOMEM, "CUDA: cannot allocate %.1f MiB of vision scratch for %d patches: %s",
                        (double)total / 1048576.0, n, cudaGetErrorString(e));
    }
    uint8_t *p = v->scratch;
    float **fp[] = {&v->pix, &v->x, &v->xb, &v->qkv, &v->h1, &v->h2, &v->sc, &v->y, &v->y2, &v->g, &v->u};
    for (int i = 0; i < 11; i++) *fp[i] = (float *)p, p += cu_align(f4[i] * 4);
    half **hp[] = {&v->xh, &v->qkvh, &v->ph};
    for (int i = 0; i < 3; i++) *hp[i] = f2[i] ? (half *)p : NULL, p += cu_align(f2[i] * 2);
    v->scratch_bytes = total, v->cap_n = n, v->cap_frame = fr, v->sc_cap = sc;
    return AG_OK;
}

/* att (N, d) = attention of the rotated qkv within each frame */
static ag_status attention(ag_cuda_vision *v, int N, int frame, bool h, ag_error *err) {
    const int d = v->d, hd = v->hd, nh = v->n_head;
    int R = attn_rows(nh, frame, v->sc_cap);
    if (v->max_attn_rows > 0 && R > v->max_attn_rows) R = v->max_attn_rows;
    const float scale = 1.0f / sqrtf((float)hd), one = 1.0f, zero = 0.0f;
    const long long s_head = (long long)R * frame;
    if (h) kv_to_half<<<nblk((int64_t)N * 3 * d, 256), 256, 0, v->st>>>(v->qkv, (int64_t)N * 3 * d, v->qkvh);
    for (int f0 = 0; f0 < N; f0 += frame)
        for (int q0 = 0; q0 < frame; q0 += R) {
            const int nq = frame - q0 < R ? frame - q0 : R;
            float *o = v->xb + (size_t)(f0 + q0) * d;
            if (h) {
                const half *base = v->qkvh + (size_t)f0 * 3 * d;
                BLAS_TRY(cublasGemmStridedBatchedEx(v->blas, CUBLAS_OP_T, CUBLAS_OP_N, frame, nq, hd, &scale, base + d, CUDA_R_16F, 3 * d,
                                                    hd, base + (size_t)q0 * 3 * d, CUDA_R_16F, 3 * d, hd, &zero, v->sc, CUDA_R_32F, frame,
                                                    s_head, nh, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "vision attention scores (F16)");
                kv_softmax<<<dim3(nq, nh), 256, 0, v->st>>>(v->sc, v->ph, frame, s_head);
                BLAS_TRY(cublasGemmStridedBatchedEx(v->blas, CUBLAS_OP_N, CUBLAS_OP_N, hd, nq, frame, &one, base + 2 * d, CUDA_R_16F, 3 * d,
                                                    hd, v->ph, CUDA_R_16F, frame, s_head, &zero, o, CUDA_R_32F, d, hd, nh,
                                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "vision attention values (F16)");
            } else {
                const float *base = v->qkv + (size_t)f0 * 3 * d;
                BLAS_TRY(cublasSgemmStridedBatched(v->blas, CUBLAS_OP_T, CUBLAS_OP_N, frame, nq, hd, &scale, base + d, 3 * d, hd,
                                                   base + (size_t)q0 * 3 * d, 3 * d, hd, &zero, v->sc, frame, s_head, nh),
                         "vision attention scores");
                kv_softmax<<<dim3(nq, nh), 256, 0, v->st>>>(v->sc, NULL, frame, s_head);
                BLAS_TRY(cublasSgemmStridedBatched(v->blas, CUBLAS_OP_N, CUBLAS_OP_N, hd, nq, frame, &one, base + 2 * d, 3 * d, hd, v->sc,
                                                   frame, s_head, &zero, o, d, hd, nh),
                         "vision attention values");
            }
        }
    return AG_OK;
}

extern "C" ag_status ag_cuda_vision_encode(ag_cuda_vision *v, const float *pixels, int grid_t, int grid_h, int grid_w, float *out,
                                           ag_error *err) {
    if (!v || !pixels || !out) return cu_error(err, AG_ERR_INVALID_ARG, "no image");
    const int m = v->merge, frame = grid_h * grid_w, N = grid_t * frame, n_tok = N / (m * m), d = v->d, ff = v->n_ff;
    CU_TRY(cudaSetDevice(v->device), err, "select device");
    ag_status st = ensure_scratch(v, N, frame, err);
    if (st) return st;
    const cudaStream_t s = v->st;
    CU_TRY(cudaMemcpyAsync(v->pix, pixels, (size_t)N * v->patch_dim * sizeof(float), cudaMemcpyHostToDevice, s), err,
           "upload patches");
    if ((st = vgemm(v, &v->patch, v->pix, N, v->x, 0.0f, err))) return st;
    bias(v, v->x, v->patch_b, N, d);
    kv_rmsnorm<<<N, 256, 0, s>>>(v->x, v->x, v->pre_ln, d, v->eps);
    kv_add_pos<<<nblk((int64_t)N * d, 256), 256, 0, s>>>(v->x, v->pos, (int64_t)N * d, d, v->pos_side, grid_h, grid_w, m, frame);
    for (int il = 0; il < v->n_layer; il++) {
        const vblk *b = &v->blk[il];
        kv_rmsnorm<<<N, 256, 0, s>>>(v->x, v->xb, b->ln1, d, v->eps);
        if ((st = vgemm(v, &b->qkv, v->xb, N, v->qkv, 0.0f, err))) return st;
        bias(v, v->qkv, b->qkv_b, N, 3 * d);
        const int64_t n_rot = (int64_t)N * 2 * v->n_head * (v->hd / 2);
        kv_rope2d<<<nblk(n_rot, 256), 256, 0, s>>>(v->qkv, n_rot, d, v->hd, frame, grid_w, m);
        if ((st = attention(v, N, frame, b->qkv.h, err))) return st;
        if ((st = vgemm(v, &b->out, v->xb, N, v->x, 1.0f, err))) return st;
        bias(v, v->x, b->out_b, N, d);
        kv_rmsnorm<<<N, 256, 0, s>>>(v->x, v->xb, b->ln2, d, v->eps);
        if ((st = vgemm(v, &b->gate, v->xb, N, v->h1, 0.0f, err)) || (st = vgemm(v, &b->up, v->xb, N, v->h2, 0.0f, err))) return st;
        kv_silu_mul<<<nblk((int64_t)N * ff, 256), 256, 0, s>>>(v->h1, v->h2, (int64_t)N * ff);
        if ((st = vgemm(v, &b->down, v->h1, N, v->x, 1.0f, err))) return st;
    }
    kv_rmsnorm<<<N, 256, 0, s>>>(v->x, v->xb, v->post_ln, d, v->eps);
    /* each merged token's m*m patches are consecutive rows: xb is (n_tok, m*m*d) */
    if ((st = vgemm(v, &v->merge_w, v->xb, n_tok, v->y, 0.0f, err))) return st;
    bias(v, v->y, v->merge_b, n_tok, v->out);
    if ((st = vgemm(v, &v->fc, v->y, n_tok, v->y2, 0.0f, err))) return st;
    kv_ln_gelu<<<n_tok, 256, 0, s>>>(v->y2, v->post_norm_w, v->post_norm_b, v->out);
    if ((st = vgemm(v, &v->gate, v->y2, n_tok, v->g, 0.0f, err)) || (st = vgemm(v, &v->up, v->y2, n_tok, v->u, 0.0f, err))) return st;
    kv_silu_mul<<<nblk((int64_t)n_tok * v->ctx, 256), 256, 0, s>>>(v->g, v->u, (int64_t)n_tok * v->ctx);
    if ((st = vgemm(v, &v->down, v->g, n_tok, v->y, 0.0f, err))) return st;
    CU_TRY(cudaGetLastError(), err, "vision kernels");
    CU_TRY(cudaMemcpyAsync(out, v->y, (size_t)n_tok * v->out * sizeof(float), cudaMemcpyDeviceToHost, s), err, "download embeddings");
    CU_TRY(cudaStreamSynchronize(s), err, "vision encoder");
    return AG_OK;
}
