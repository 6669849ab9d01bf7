/*
 * ops.c - scalar F32 operations and the row-parallel matrix product (see ops.h).
 *
 * Sums that decide numerical agreement with the reference implementation (RMSNorm's mean
 * square, softmax's normalizer) are accumulated in double, as it does.
 */
#include "cpu/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/quant.h"

void ag_rmsnorm(float *y, const float *x, const float *w, int n, float eps) {
    double sum = 0.0; /* mean(x^2) */
    for (int i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / n) + eps);
    for (int i = 0; i < n; i++) y[i] = (x[i] * scale) * w[i];
}

void ag_rope(float *x, int n_head, int head_dim, int n_rot, float pos, float base,
             const float *freq_factors) {
    /* theta_i = pos * base^(-2i/n_rot), built by repeated multiplication like the reference */
    const float theta_scale = powf(base, -2.0f / (float)n_rot);
    float cos_sin[2 * 512];
    float theta = pos;
    for (int i = 0; i < n_rot / 2 && i < 512; i++) {
        float t = freq_factors ? theta / freq_factors[i] : theta;
        cos_sin[2 * i] = cosf(t);
        cos_sin[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
            const float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * c - x1 * s; /* (x0, x1) rotated by theta_i */
            v[2 * i + 1] = x0 * s + x1 * c;
        }
    }
}

void ag_softmax(float *x, int n) {
    float max = -INFINITY;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

void ag_silu_mul(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

/* ---------------------------------------------------------------- matrix product */

size_t ag_matmul_scratch_row(ag_type wtype, int64_t n) {
    const ag_type_traits *tr = ag_type_traits_get(wtype);
    return ag_type_row_size(tr ? tr->vec_dot_type : AG_TYPE_F32, n);
}

typedef struct {
    const ag_matmul_weight *w;
    const uint8_t *xq; /* n_tok rows of x in vec_dot_type */
    size_t xq_row;
    float *y;
    int n_tok;
    int64_t rows_per_task;
    ag_vec_dot_fn vec_dot;
    const ag_matmul_scratch *scratch; /* tile path when act != NULL */
    const void *act;
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    const matmul_job *j = ctx;
    const int64_t r0 = task * j->rows_per_task;
    const int64_t r1 = r0 + j->rows_per_task < j->w->d ? r0 + j->rows_per_task : j->w->d;
    if (j->act) { /* tiles of AG_GEMM_ROWS rows against every token */
        uint8_t *tile = j->scratch->tiles + (size_t)thread * j->scratch->tile_bytes;
        for (int64_t r = r0; r < r1; r += AG_GEMM_ROWS) {
            const int rows = (int)(r1 - r < AG_GEMM_ROWS ? r1 - r : AG_GEMM_ROWS);
            ag_gemm_tile(j->w->wtype, j->w->n, (const uint8_t *)j->w->w + (size_t)r * j->w->w_row_bytes,
                         j->w->w_row_bytes, rows, j->act, j->n_tok, j->y + r, (size_t)j->w->d, tile);
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wrow = (const uint8_t *)j->w->w + (size_t)r * j->w->w_row_bytes;
        for (int t = 0; t < j->n_tok; t++) /* the weight row stays in cache across tokens */
            j->vec_dot(j->w->n, &j->y[(size_t)t * j->w->d + r], wrow, j->xq + (size_t)t * j->xq_row);
    }
}

bool ag_matmul_scratch_init(ag_matmul_scratch *s, int64_t max_n, size_t max_xq_row, int max_tok, int n_threads) {
    memset(s, 0, sizeof *s);
    s->tile_bytes = (ag_gemm_tile_scratch_bytes(max_n) + 63) & ~(size_t)63;
    s->xq = malloc((size_t)max_tok * max_xq_row + 64);
    s->act = malloc(ag_gemm_act_bytes(max_n, max_tok));
    s->tiles = malloc(s->tile_bytes * (size_t)n_threads);
    if (!s->xq || !s->act || !s->tiles) {
        ag_matmul_scratch_free(s);
        return false;
    }
    return true;
}

void ag_matmul_scratch_free(ag_matmul_scratch *s) {
    free(s->xq);
    free(s->act);
    free(s->tiles);
    memset(s, 0, sizeof *s);
}

void ag_matmul(ag_threadpool *pool, const ag_matmul_weight *w, const float *x, float *y, int n_tok,
               const ag_matmul_scratch *scratch) {
    const ag_type_traits *tr = ag_type_traits_get(w->wtype);
    const ag_type_traits *act = ag_type_traits_get(tr->vec_dot_type);
    const size_t xq_row = ag_type_row_size(tr->vec_dot_type, w->n);
    const uint8_t *xq = scratch->xq;
    if (tr->vec_dot_type == AG_TYPE_F32) {
        xq = (const uint8_t *)x; /* use the activations as they are */
    } else {
        for (int t = 0; t < n_tok; t++)
            act->from_float(x + (size_t)t * w->n, (uint8_t *)scratch->xq + (size_t)t * xq_row, w->n);
    }
    const int n_threads = ag_threadpool_n_threads(pool);
    int64_t rows_per_task = w->d / (n_threads * 8);
    if (rows_per_task < 4) rows_per_task = 4;
    matmul_job job = {w, xq, xq_row, y, n_tok, rows_per_task, tr->vec_dot, scratch, NULL};
    if (n_tok >= 4 && ag_gemm_available(w->wtype, w->n)) {
        rows_per_task = (rows_per_task + AG_GEMM_ROWS - 1) / AG_GEMM_ROWS * AG_GEMM_ROWS;
        job.rows_per_task = rows_per_task;
        ag_gemm_prep_act(w->n, xq, xq_row, n_tok, scratch->act);
        job.act = scratch->act;
    }
    /* small products cost less than waking the workers: do them on this thread */
    const int64_t n_tasks = (w->d + rows_per_task - 1) / rows_per_task;
    ag_threadpool_run(ag_parallel_worth_it((uint64_t)w->w_row_bytes * w->d * n_tok) ? pool : NULL, matmul_task, &job,
                      n_tasks);
}

void ag_weight_row_to_float(const void *w, ag_type type, size_t row_bytes, int64_t row,
                            int64_t n, float *out) {
    ag_type_traits_get(type)->to_float((const uint8_t *)w + (size_t)row * row_bytes, out, n);
}
