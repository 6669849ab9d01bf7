/*
 * ops.c - scalar F32 operations and the row-parallel matrix product (see ops.h).
 *
 * Sums that decide numerical agreement with the reference implementation (RMSNorm's mean
 * square, softmax's normalizer) are accumulated in double, as it does.
 */
#include "cpu/ops.h"

#include <math.h>
#include <string.h>

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
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    const int64_t r0 = task * j->rows_per_task;
    const int64_t r1 = r0 + j->rows_per_task < j->w->d ? r0 + j->rows_per_task : j->w->d;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wrow = (const uint8_t *)j->w->w + (size_t)r * j->w->w_row_bytes;
        for (int t = 0; t < j->n_tok; t++) /* the weight row stays in cache across tokens */
            j->vec_dot(j->w->n, &j->y[(size_t)t * j->w->d + r], wrow, j->xq + (size_t)t * j->xq_row);
    }
}

void ag_matmul(ag_threadpool *pool, const ag_matmul_weight *w, const float *x, float *y,
               int n_tok, void *xq_scratch) {
    const ag_type_traits *tr = ag_type_traits_get(w->wtype);
    const ag_type_traits *act = ag_type_traits_get(tr->vec_dot_type);
    const size_t xq_row = ag_type_row_size(tr->vec_dot_type, w->n);
    const uint8_t *xq = xq_scratch;
    if (tr->vec_dot_type == AG_TYPE_F32) {
        xq = (const uint8_t *)x; /* use the activations as they are */
    } else {
        for (int t = 0; t < n_tok; t++)
            act->from_float(x + (size_t)t * w->n, (uint8_t *)xq_scratch + (size_t)t * xq_row, w->n);
    }
    const int n_threads = ag_threadpool_n_threads(pool);
    int64_t rows_per_task = w->d / (n_threads * 8);
    if (rows_per_task < 4) rows_per_task = 4;
    matmul_job job = {w, xq, xq_row, y, n_tok, rows_per_task, tr->vec_dot};
    /* small products cost less than waking the workers: do them on this thread */
    const int64_t n_tasks = (w->d + rows_per_task - 1) / rows_per_task;
    ag_threadpool_run(ag_parallel_worth_it((uint64_t)w->w_row_bytes * w->d * n_tok) ? pool : NULL, matmul_task, &job,
                      n_tasks);
}

void ag_weight_row_to_float(const void *w, ag_type type, size_t row_bytes, int64_t row,
                            int64_t n, float *out) {
    ag_type_traits_get(type)->to_float((const uint8_t *)w + (size_t)row * row_bytes, out, n);
}
