/*
 * vision_glm4v.c - GLM-4.1V's vision tower on the CPU: ag_vision_encode (the projector is loaded
 * by vision_load.c), which turns one image's patches
 * (the processor's pixel_values rows, in merge-block order) into language-model embeddings:
 *
 *   x = patches @ conv3d^T + b                      the Conv3d patch embedding as one product
 *   x = rmsnorm(x) * pre_ln + bicubic(pos_table)    learned (image_size/patch)^2 table (24x24),
 *                                                   resampled to the grid, as F.grid_sample(bicubic,
 *                                                   align_corners=False, border) samples it
 *   per block:  x += attn(rmsnorm(x) * ln1) @ out   qkv (+ bias), 2D rotary over halves (rows, cols),
 *                                                   full attention within each frame (as products)
 *               x += down(silu(gate(h)) * up(h)),  h = rmsnorm(x) * ln2
 *   x = rmsnorm(x) * post_ln
 *   y = [x of 2x2 neighbours] @ downsample^T + b     the 2x2 Conv2d as one product
 *   y = gelu(layernorm(y @ fc^T)) ; y = down(silu(gate(y)) * up(y))     the patch merger
 * The convolution kernels were rearranged into matrices at load (owned floats); the other weights
 * stay in the file's mapping and go through the matmul kernels (F32, F16, BF16, Q8_0).
 * A projector attached to a GPU (ag_vision_gpu_attach) encodes there instead (cuda/cuda_vision.cu).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cuda/cuda_vision.h"
#include "cpu/ops.h"
#include "model/vision_cache.h"
#include "model/vision_impl.h"

/* PyTorch's bicubic convolution weights (A = -0.75) of the four taps around fraction t. */
static void cubic_weights(float t, float w[4]) {
    const float A = -0.75f;
    const float x0 = t + 1.0f, x1 = t, x2 = 1.0f - t, x3 = 2.0f - t;
    w[0] = ((A * x0 - 5.0f * A) * x0 + 8.0f * A) * x0 - 4.0f * A;
    w[1] = ((A + 2.0f) * x1 - (A + 3.0f)) * x1 * x1 + 1.0f;
    w[2] = ((A + 2.0f) * x2 - (A + 3.0f)) * x2 * x2 + 1.0f;
    w[3] = ((A * x3 - 5.0f * A) * x3 + 8.0f * A) * x3 - 4.0f * A;
}

static int clampi(int x, int hi) { return x < 0 ? 0 : x > hi ? hi : x; }

/* x (d) += the position table sampled at patch (h, w) of a gh x gw grid: grid_sample(bicubic,
 * align_corners=False, padding border) at ((w + .5) / gw * 2 - 1, (h + .5) / gh * 2 - 1). */
static void add_position(const ag_vision *v, float *x, int h, int w, int gh, int gw) {
    const int S = v->pos_side, d = v->d;
    const float nx = ((float)w + 0.5f) / (float)gw * 2.0f - 1.0f, ny = ((float)h + 0.5f) / (float)gh * 2.0f - 1.0f;
    const float ix = ((nx + 1.0f) * (float)S - 1.0f) / 2.0f, iy = ((ny + 1.0f) * (float)S - 1.0f) / 2.0f;
    const float fx = floorf(ix), fy = floorf(iy);
    float wx[4], wy[4];
    cubic_weights(ix - fx, wx);
    cubic_weights(iy - fy, wy);
    for (int c = 0; c < d; c++) {
        float acc = 0;
        for (int j = 0; j < 4; j++) {
            const int yy = clampi((int)fy - 1 + j, S - 1);
            float r = 0;
            for (int i = 0; i < 4; i++) r += wx[i] * v->pos[((size_t)yy * S + clampi((int)fx - 1 + i, S - 1)) * d + c];
            acc += wy[j] * r;
        }
        x[c] += acc;
    }
}

/* 2D rotary over halves: dims i and i + hd/2 (i < hd/2) turn by row * f_i (i < hd/4) or
 * col * f_(i - hd/4), f_j = 10000^(-4j/hd). x: one row of n_head heads. */
static void rope_2d(float *x, int n_head, int hd, int row, int col) {
    const int half = hd / 2, quarter = hd / 4;
    float cs[2 * 256];
    for (int i = 0; i < half && i < 256; i++) {
        const int j = i < quarter ? i : i - quarter;
        const float inv = 1.0f / powf(10000.0f, (float)(2 * j) / (float)half);
        const float th = (float)(i < quarter ? row : col) * inv;
        cs[2 * i] = cosf(th);
        cs[2 * i + 1] = sinf(th);
    }
    for (int h = 0; h < n_head; h++) {
        float *p = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            const float a = p[i], b = p[i + half], c = cs[2 * i], s = cs[2 * i + 1];
            p[i] = a * c - b * s;
            p[i + half] = b * c + a * s;
        }
    }
}

/* Query rows per block of attention scores (a block holds ATT_ROWS x frame floats). */
#define ATT_ROWS 256

/* Floats of attention scratch for frames of this many patches. */
static size_t attn_floats(const ag_vision *v, int frame) {
    const size_t rows = frame < ATT_ROWS ? (size_t)frame : ATT_ROWS;
    return 2 * (size_t)frame * v->hd + 2 * rows * v->hd + rows * (size_t)frame;
}

/* Full attention within each frame, per head, through the matmul kernels: the head's keys (and
 * transposed values) are gathered into F32 "weights", then for blocks of queries
 * S = softmax(Q K^T / sqrt(hd)) and O = S V. qkv: (N, 3d) rotated; out: (N, d). */
static void attention(const ag_vision *v, ag_threadpool *pool, const float *qkv, float *out, int N, int frame, float *buf,
                      const ag_matmul_scratch *mm) {
    const int d = v->d, hd = v->hd, rows = frame < ATT_ROWS ? frame : ATT_ROWS;
    float *kb = buf, *vt = kb + (size_t)frame * hd, *qb = vt + (size_t)frame * hd, *ob = qb + (size_t)rows * hd;
    float *sc = ob + (size_t)rows * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const ag_matmul_weight kw = {kb, AG_TYPE_F32, (size_t)hd * sizeof(float), hd, frame, false};
    const ag_matmul_weight vw = {vt, AG_TYPE_F32, (size_t)frame * sizeof(float), frame, hd, false};
    for (int f0 = 0; f0 < N; f0 += frame)
        for (int h = 0; h < v->n_head; h++) {
            for (int k = 0; k < frame; k++) {
                const float *r = qkv + (size_t)(f0 + k) * 3 * d + (size_t)h * hd;
                memcpy(kb + (size_t)k * hd, r + d, (size_t)hd * sizeof(float));
                for (int c = 0; c < hd; c++) vt[(size_t)c * frame + k] = r[2 * d + c];
            }
            for (int q0 = 0; q0 < frame; q0 += rows) {
                const int nq = frame - q0 < rows ? frame - q0 : rows;
                for (int i = 0; i < nq; i++)
                    memcpy(qb + (size_t)i * hd, qkv + (size_t)(f0 + q0 + i) * 3 * d + (size_t)h * hd, (size_t)hd * sizeof(float));
                ag_matmul(pool, &kw, qb, sc, nq, mm);
                for (int i = 0; i < nq; i++) {
                    float *r = sc + (size_t)i * frame;
                    for (int k = 0; k < frame; k++) r[k] *= scale;
                    ag_softmax(r, frame);
                }
                ag_matmul(pool, &vw, sc, ob, nq, mm);
                for (int i = 0; i < nq; i++)
                    memcpy(out + (size_t)(f0 + q0 + i) * d + (size_t)h * hd, ob + (size_t)i * hd, (size_t)hd * sizeof(float));
            }
        }
}

static ag_matmul_weight mw(const ag_weight *w) { return (ag_matmul_weight){w->data, w->type, w->row_bytes, w->ne[0], w->ne[1], w->packed}; }

static void add_rows(float *y, const float *b, int n, int dim) {
    if (!b) return;
    for (int t = 0; t < n; t++)
        for (int c = 0; c < dim; c++) y[(size_t)t * dim + c] += b[c];
}

static size_t max_z(size_t a, size_t b) { return a > b ? a : b; }

static ag_status encode(ag_vision *v, const ag_image_patches *img, int n_tok, float *out, ag_error *err);

ag_status ag_vision_encode(ag_vision *v, const ag_image_patches *img, float *out, ag_error *err) {
    if (!v || !img || !img->pixels || !out) return ag_error_set(err, AG_ERR_INVALID_ARG, "no image");
    const int n_tok = ag_vision_n_tokens(v, img->grid_t, img->grid_h, img->grid_w);
    if (n_tok <= 0) return ag_error_set(err, AG_ERR_INVALID_ARG, "invalid patch grid %dx%dx%d (height and width multiples of %d)",
                                        img->grid_t, img->grid_h, img->grid_w, v->merge);
    if (img->patch_dim != v->patch_dim)
        return ag_error_set(err, AG_ERR_INVALID_ARG, "patches of %d values, the projector takes %d", img->patch_dim, v->patch_dim);
    unsigned char key[32];
    const bool keyed = v->cache && ag_vision_cache_key(img, key);
    if (keyed && ag_vision_cache_get(v->cache, key, out, (size_t)n_tok * v->n_embd)) return AG_OK;
    const ag_status st = encode(v, img, n_tok, out, err);
    if (!st && keyed) ag_vision_cache_put(v->cache, key, out, (size_t)n_tok * v->n_embd);
    return st;
}

/* The tower on the GPU or the CPU (checked arguments; n_tok tokens). */
static ag_status encode(ag_vision *v, const ag_image_patches *img, int n_tok, float *out, ag_error *err) {
    if (v->gpu) return ag_cuda_vision_encode(v->gpu, img->pixels, img->grid_t, img->grid_h, img->grid_w, out, err);
    const int d = v->d, m = v->merge, N = img->grid_t * img->grid_h * img->grid_w, frame = img->grid_h * img->grid_w;
    const int n_thr = ag_threadpool_n_threads(v->pool), ff = v->n_ff, big = (int)max_z(max_z((size_t)ff, (size_t)v->ctx), (size_t)v->out);
    float *x = malloc((size_t)N * d * sizeof(float)), *xb = malloc((size_t)N * d * sizeof(float));
    float *qkv = malloc((size_t)N * 3 * d * sizeof(float)), *h1 = malloc((size_t)N * max_z((size_t)ff, (size_t)d) * sizeof(float));
    float *h2 = malloc((size_t)N * ff * sizeof(float)), *sc = malloc(attn_floats(v, frame) * sizeof(float));
    float *y = malloc((size_t)n_tok * big * sizeof(float)), *y2 = malloc((size_t)n_tok * big * sizeof(float));
    ag_matmul_scratch mm;
    size_t xq = max_z(ag_matmul_scratch_row(AG_TYPE_F32, v->patch_dim), ag_matmul_scratch_row(AG_TYPE_F32, frame));
    xq = max_z(xq, ag_matmul_scratch_row(AG_TYPE_F32, (int64_t)m * m * d));
    const ag_weight *ws[] = {&v->fc, &v->gate, &v->up, &v->down};
    for (int i = 0; i < 4; i++) xq = max_z(xq, ag_matmul_scratch_row(ws[i]->type, ws[i]->ne[0]));
    for (int il = 0; il < v->n_layer; il++) {
        const ag_weight *bw[] = {&v->blk[il].qkv, &v->blk[il].out, &v->blk[il].gate, &v->blk[il].up, &v->blk[il].down};
        for (int i = 0; i < 5; i++) xq = max_z(xq, ag_matmul_scratch_row(bw[i]->type, bw[i]->ne[0]));
    }
    const int64_t max_n = (int64_t)max_z(max_z(max_z((size_t)v->patch_dim, (size_t)m * m * d), max_z((size_t)3 * d, (size_t)big)),
                                         (size_t)frame);
    const bool mm_ok = ag_matmul_scratch_init(&mm, max_n, xq, N, n_thr);
    ag_status st = AG_OK;
    if (!x || !xb || !qkv || !h1 || !h2 || !sc || !y || !y2 || !mm_ok) {
        st = ag_error_set(err, AG_ERR_NOMEM, "cannot allocate the vision encoder's buffers for %d patches", N);
        goto done;
    }
    ag_threadpool *pool = v->pool;
    /* patch embedding, its norm and the resampled position table; patch i's (row, col) from the
     * processor's order: frames, then merge blocks row-major, then the block's m x m patches */
    const ag_matmul_weight pw = {v->patch_w, AG_TYPE_F32, (size_t)v->patch_dim * sizeof(float), v->patch_dim, d, false};
    ag_matmul(pool, &pw, img->pixels, x, N, &mm);
    add_rows(x, v->patch_b, N, d);
    int *rc = malloc((size_t)N * 2 * sizeof(int));
    if (!rc) {
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        goto done;
    }
    const int bw_ = img->grid_w / m;
    for (int i = 0; i < N; i++) {
        const int in_frame = i % frame, blk = in_frame / (m * m), q = in_frame % (m * m);
        rc[2 * i] = blk / bw_ * m + q / m;
        rc[2 * i + 1] = blk % bw_ * m + q % m;
        ag_rmsnorm(x + (size_t)i * d, x + (size_t)i * d, v->pre_ln, d, v->eps);
        add_position(v, x + (size_t)i * d, rc[2 * i], rc[2 * i + 1], img->grid_h, img->grid_w);
    }
    for (int il = 0; il < v->n_layer; il++) {
        const vblock *b = &v->blk[il];
        for (int i = 0; i < N; i++) ag_rmsnorm(xb + (size_t)i * d, x + (size_t)i * d, b->ln1, d, v->eps);
        ag_matmul_weight w = mw(&b->qkv);
        ag_matmul(pool, &w, xb, qkv, N, &mm);
        add_rows(qkv, b->qkv_b, N, 3 * d);
        for (int i = 0; i < N; i++) {
            rope_2d(qkv + (size_t)i * 3 * d, v->n_head, v->hd, rc[2 * i], rc[2 * i + 1]);
            rope_2d(qkv + (size_t)i * 3 * d + d, v->n_head, v->hd, rc[2 * i], rc[2 * i + 1]);
        }
        attention(v, pool, qkv, xb, N, frame, sc, &mm);
        w = mw(&b->out);
        ag_matmul(pool, &w, xb, h1, N, &mm);
        add_rows(h1, b->out_b, N, d);
        for (size_t i = 0; i < (size_t)N * d; i++) x[i] += h1[i];
        for (int i = 0; i < N; i++) ag_rmsnorm(xb + (size_t)i * d, x + (size_t)i * d, b->ln2, d, v->eps);
        const ag_matmul_weight gw = mw(&b->gate), uw = mw(&b->up);
        const ag_matmul_weight *gu[2] = {&gw, &uw};
        float *const gy[2] = {h1, h2};
        ag_matmul_multi(pool, gu, gy, 2, xb, N, &mm);
        for (int i = 0; i < N; i++) ag_silu_mul(h1 + (size_t)i * ff, h2 + (size_t)i * ff, ff);
        w = mw(&b->down);
        ag_matmul(pool, &w, h1, xb, N, &mm);
        for (size_t i = 0; i < (size_t)N * d; i++) x[i] += xb[i];
    }
    free(rc);
    for (int i = 0; i < N; i++) ag_rmsnorm(xb + (size_t)i * d, x + (size_t)i * d, v->post_ln, d, v->eps);
    /* 2x2 downsample: each merged token's m*m patches are consecutive rows, i.e. one row of m*m*d */
    const ag_matmul_weight dw = {v->merge_w, AG_TYPE_F32, (size_t)m * m * d * sizeof(float), (int64_t)m * m * d, v->out, false};
    ag_matmul(pool, &dw, xb, y, n_tok, &mm);
    add_rows(y, v->merge_b, n_tok, v->out);
    /* merger: fc, LayerNorm, GELU (erf), then the gated feed-forward */
    ag_matmul_weight w = mw(&v->fc);
    ag_matmul(pool, &w, y, y2, n_tok, &mm);
    const int o = v->out;
    for (int t = 0; t < n_tok; t++) {
        float *r = y2 + (size_t)t * o;
        double mean = 0, var = 0;
        for (int c = 0; c < o; c++) mean += r[c];
        mean /= o;
        for (int c = 0; c < o; c++) var += (r[c] - mean) * (r[c] - mean);
        const float inv = 1.0f / sqrtf((float)(var / o) + 1e-5f);
        for (int c = 0; c < o; c++) {
            const float z = ((float)(r[c] - mean)) * inv * v->post_norm_w[c] + v->post_norm_b[c];
            r[c] = 0.5f * z * (1.0f + erff(z * (float)M_SQRT1_2));
        }
    }
    const ag_matmul_weight gw = mw(&v->gate), uw = mw(&v->up);
    const ag_matmul_weight *gu[2] = {&gw, &uw};
    float *g = malloc((size_t)n_tok * v->ctx * sizeof(float)), *u = malloc((size_t)n_tok * v->ctx * sizeof(float));
    if (!g || !u) {
        free(g), free(u);
        st = ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        goto done;
    }
    float *const gu_y[2] = {g, u};
    ag_matmul_multi(pool, gu, gu_y, 2, y2, n_tok, &mm);
    for (int t = 0; t < n_tok; t++) ag_silu_mul(g + (size_t)t * v->ctx, u + (size_t)t * v->ctx, v->ctx);
    w = mw(&v->down);
    ag_matmul(pool, &w, g, out, n_tok, &mm);
    free(g), free(u);
done:
    if (mm_ok) ag_matmul_scratch_free(&mm);
    free(x), free(xb), free(qkv), free(h1), free(h2), free(sc), free(y), free(y2);
    return st;
}
