/*
 * matmul.c - the row-parallel matrix products of matmul.h: converting the activations once,
 * then one parallel loop over (weight, block of rows) tasks.
 */
#include "cpu/matmul.h"

#include <stdlib.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/kgemm.h"
#include "tensor/qact.h"
#include "tensor/quant.h"

#define MAX_W 4

typedef enum {
    PATH_VEC_DOT, /* a loop of vec_dot over x converted to the vec_dot_type */
    PATH_INT,     /* integer kernels over prepared 8-bit activations (gemm.h) */
    PATH_F16,     /* F16 tiles over x rounded to f16 values, kept as floats (several tokens) */
    PATH_K,       /* K-quant kernels over x quantized to Q8_K (kgemm.h), any mix of K types */
} mm_path;

size_t ag_matmul_scratch_row(ag_type wtype, int64_t n) {
    const ag_type_traits *tr = ag_type_traits_get(wtype);
    const size_t r = ag_type_row_size(tr ? tr->vec_dot_type : AG_TYPE_F32, n);
    if (tr && tr->vec_dot_type == AG_TYPE_Q8_K && n % 256 == 0 && ag_kact_row_bytes(n) > r) return ag_kact_row_bytes(n);
    return r;
}

bool ag_matmul_scratch_init(ag_matmul_scratch *s, int64_t max_n, size_t max_xq_row, int max_tok, int n_threads) {
    memset(s, 0, sizeof *s);
    const int64_t qn = (max_n + AG_QACT_GROUP - 1) / AG_QACT_GROUP * AG_QACT_GROUP;
    const int64_t kn = (max_n + 255) / 256 * 256;
    const size_t tb = ag_gemm_tile_scratch_bytes(qn), ktb = ag_kgemm_tile_scratch_bytes(kn);
    s->tile_bytes = ((tb > ktb ? tb : ktb) + 63) & ~(size_t)63;
    s->max_tok = max_tok;
    s->xq = malloc((size_t)max_tok * max_xq_row + 64);
    s->act_alloc = malloc(ag_qact_row_bytes(qn) * (size_t)max_tok + 64);
    s->xf = max_tok > 1 ? malloc((size_t)max_tok * (size_t)max_n * sizeof(float)) : NULL;
    s->tiles = malloc(s->tile_bytes * (size_t)n_threads + 64);
    if (!s->xq || !s->act_alloc || !s->tiles || (max_tok > 1 && !s->xf)) {
        ag_matmul_scratch_free(s);
        return false;
    }
    s->act = (void *)(((uintptr_t)s->act_alloc + 63) & ~(uintptr_t)63);
    return true;
}

void ag_matmul_scratch_free(ag_matmul_scratch *s) {
    free(s->xq);
    free(s->act_alloc);
    free(s->xf);
    free(s->tiles);
    memset(s, 0, sizeof *s);
}

typedef struct {
    const ag_matmul_weight *w[MAX_W];
    float *y[MAX_W];
    int64_t first_task[MAX_W + 1]; /* tasks of weight i: first_task[i] .. first_task[i+1]-1 */
    int64_t rows_per_task[MAX_W];
    int n_w;
    const uint8_t *xq; /* n_tok rows of x in vec_dot_type (fallback path) */
    size_t xq_row;
    ag_vec_dot_fn vec_dot;
    mm_path path;
    const float *xf;    /* f16-rounded activations (F16 path) */
    const uint8_t *act; /* prepared rows (integer path) or NULL */
    size_t act_row;
    int n_tok;
    const ag_matmul_scratch *scratch;
} matmul_job;

static void matmul_task(void *ctx, int64_t task, int thread) {
    const matmul_job *j = ctx;
    int i = 0;
    while (task >= j->first_task[i + 1]) i++;
    const ag_matmul_weight *w = j->w[i];
    float *y = j->y[i];
    const int64_t r0 = (task - j->first_task[i]) * j->rows_per_task[i];
    const int64_t r1 = r0 + j->rows_per_task[i] < w->d ? r0 + j->rows_per_task[i] : w->d;
    const uint8_t *wr0 = (const uint8_t *)w->w + (size_t)r0 * w->w_row_bytes;
    if (j->path == PATH_K && j->n_tok == 1) {
        ag_kgemv(w->wtype, w->n, wr0, w->w_row_bytes, r1 - r0, j->xq, y + r0);
    } else if (j->path == PATH_K && j->n_tok <= AG_GEMV_FEW_MAX) { /* a batched decode step: blocks decoded once */
        ag_kgemv_few(w->wtype, w->n, wr0, w->w_row_bytes, r1 - r0, j->xq, j->xq_row, j->n_tok, y + r0, (size_t)w->d);
    } else if (j->path == PATH_K) { /* tiles of AG_KGEMM_ROWS rows against every token */
        uint8_t *tile = j->scratch->tiles + (size_t)thread * j->scratch->tile_bytes;
        for (int64_t r = r0; r < r1; r += AG_KGEMM_ROWS) {
            const int rows = (int)(r1 - r < AG_KGEMM_ROWS ? r1 - r : AG_KGEMM_ROWS);
            ag_kgemm_tile(w->wtype, w->n, (const uint8_t *)w->w + (size_t)r * w->w_row_bytes, w->w_row_bytes, rows,
                          j->xq, j->xq_row, j->n_tok, y + r, (size_t)w->d, tile);
        }
    } else if (j->path == PATH_F16) {
        ag_gemm_f16_tile(w->n, wr0, w->w_row_bytes, (int)(r1 - r0), j->xf, (size_t)w->n, j->n_tok, y + r0, (size_t)w->d);
    } else if (j->act && j->n_tok == 1) {
        ag_gemv(w->wtype, w->packed, w->n, wr0, w->w_row_bytes, r1 - r0, j->act, y + r0);
    } else if (j->act && j->n_tok <= AG_GEMV_FEW_MAX) { /* a batched decode step: rows read once */
        ag_gemv_few(w->wtype, w->packed, w->n, wr0, w->w_row_bytes, r1 - r0, j->act, j->act_row, j->n_tok, y + r0, (size_t)w->d);
    } else if (j->act) { /* tiles of AG_GEMM_ROWS rows against every token */
        uint8_t *tile = j->scratch->tiles + (size_t)thread * j->scratch->tile_bytes;
        for (int64_t r = r0; r < r1; r += AG_GEMM_ROWS) {
            const int rows = (int)(r1 - r < AG_GEMM_ROWS ? r1 - r : AG_GEMM_ROWS);
            ag_gemm_tile(w->wtype, w->packed, w->n, (const uint8_t *)w->w + (size_t)r * w->w_row_bytes, w->w_row_bytes, rows,
                         j->act, j->act_row, j->n_tok, y + r, (size_t)w->d, tile);
        }
    } else {
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *wrow = (const uint8_t *)w->w + (size_t)r * w->w_row_bytes;
            for (int t = 0; t < j->n_tok; t++) /* the weight row stays in cache across tokens */
                j->vec_dot(w->n, &y[(size_t)t * w->d + r], wrow, j->xq + (size_t)t * j->xq_row);
        }
    }
}

typedef struct {
    const float *x;
    int64_t n;
    void *out;
    size_t out_row;
    ag_from_float_fn from_float; /* NULL: the prepared integer layout, Q8_K or f16 rounding */
    bool f16_round;
    bool q8k; /* SIMD Q8_K (kgemm.h) */
} convert_job;

static void convert_task(void *ctx, int64_t t, int thread) {
    (void)thread;
    const convert_job *c = ctx;
    void *dst = (uint8_t *)c->out + (size_t)t * c->out_row;
    if (c->f16_round) ag_f16_round(c->x + (size_t)t * c->n, dst, c->n);
    else if (c->q8k) ag_kact_quantize(c->x + (size_t)t * c->n, dst, c->n);
    else if (c->from_float) c->from_float(c->x + (size_t)t * c->n, dst, c->n);
    else ag_qact_quantize(c->x + (size_t)t * c->n, dst, c->n);
}

/* All of ws share n and the path (integer kernels or vec_dot with one vec_dot_type). */
static void run_group(ag_threadpool *pool, const ag_matmul_weight *const *ws, float *const *ys, int n_w,
                      const float *x, int n_tok, const ag_matmul_scratch *scratch, mm_path path) {
    const bool integer = path == PATH_INT;
    const int64_t n = ws[0]->n;
    const ag_type_traits *tr = ag_type_traits_get(ws[0]->wtype);
    matmul_job job;
    memset(&job, 0, sizeof job);
    job.n_tok = n_tok;
    job.scratch = scratch;
    job.vec_dot = tr->vec_dot;
    convert_job cv = {x, n, NULL, 0, NULL, false, false};
    job.path = path;
    if (path == PATH_K) {
        job.xq = scratch->xq;
        job.xq_row = ag_kact_row_bytes(n);
        cv.out = scratch->xq, cv.out_row = job.xq_row, cv.q8k = true;
    } else if (path == PATH_F16) {
        job.xf = scratch->xf;
        cv.out = scratch->xf, cv.out_row = (size_t)n * sizeof(float), cv.f16_round = true;
    } else if (integer) {
        job.act = scratch->act;
        job.act_row = ag_qact_row_bytes(n);
        cv.out = scratch->act, cv.out_row = job.act_row;
    } else if (tr->vec_dot_type == AG_TYPE_F32) {
        job.xq = (const uint8_t *)x; /* use the activations as they are */
        job.xq_row = (size_t)n * sizeof(float);
    } else {
        job.xq = scratch->xq;
        job.xq_row = ag_type_row_size(tr->vec_dot_type, n);
        cv.out = scratch->xq, cv.out_row = job.xq_row;
        cv.from_float = ag_type_traits_get(tr->vec_dot_type)->from_float;
    }
    if (cv.out)
        ag_threadpool_run(n_tok > 1 && ag_parallel_worth_it((uint64_t)n_tok * n * 4 * 8) ? pool : NULL, convert_task,
                          &cv, n_tok);
    const int n_threads = ag_threadpool_n_threads(pool);
    uint64_t work = 0;
    job.n_w = n_w;
    job.first_task[0] = 0;
    for (int i = 0; i < n_w; i++) {
        const ag_matmul_weight *w = ws[i];
        int64_t rpt = w->d / (n_threads * 8);
        const int64_t unit = path == PATH_F16                  ? AG_GEMM_ROWS
                             : path == PATH_K && n_tok > 1     ? AG_KGEMM_ROWS
                             : integer || path == PATH_K       ? (n_tok > 1 ? AG_GEMM_ROWS : 8)
                                                               : 4;
        rpt = rpt < unit ? unit : (rpt + unit - 1) / unit * unit;
        job.w[i] = w;
        job.y[i] = ys[i];
        job.rows_per_task[i] = rpt;
        job.first_task[i + 1] = job.first_task[i] + (w->d + rpt - 1) / rpt;
        work += (uint64_t)w->w_row_bytes * w->d * n_tok;
    }
    /* small products cost less than waking the workers: do them on this thread */
    ag_threadpool_run(ag_parallel_worth_it(work) ? pool : NULL, matmul_task, &job, job.first_task[n_w]);
}

static mm_path choose_path(const ag_matmul_weight *w, int n_tok, const ag_matmul_scratch *s) {
    if (n_tok > s->max_tok) return PATH_VEC_DOT; /* only with a scratch of max_tok 0 (ag_matmul_multi splits) */
    if (ag_gemm_available(w->wtype, w->n)) return PATH_INT;
    if (ag_kgemm_available(w->wtype, w->n)) return PATH_K;
    if (w->wtype == AG_TYPE_F16 && n_tok >= 2 && s->xf && ag_gemm_f16_available(w->n)) return PATH_F16;
    return PATH_VEC_DOT;
}

void ag_matmul_multi(ag_threadpool *pool, const ag_matmul_weight *const *ws, float *const *ys, int n_w,
                     const float *x, int n_tok, const ag_matmul_scratch *scratch) {
    if (n_tok > scratch->max_tok && scratch->max_tok > 0) { /* more tokens than the scratch holds: in pieces */
        for (int t0 = 0; t0 < n_tok; t0 += scratch->max_tok) {
            float *yp[MAX_W];
            for (int i = 0; i < n_w && i < MAX_W; i++) yp[i] = ys[i] + (size_t)t0 * (size_t)ws[i]->d;
            const int nt = n_tok - t0 < scratch->max_tok ? n_tok - t0 : scratch->max_tok;
            ag_matmul_multi(pool, ws, yp, n_w, x + (size_t)t0 * (size_t)ws[0]->n, nt, scratch);
        }
        return;
    }
    /* group the weights that can share one conversion of x: same path and vec_dot_type */
    bool done[MAX_W] = {false};
    for (int i = 0; i < n_w && i < MAX_W; i++) {
        if (done[i]) continue;
        const mm_path path = choose_path(ws[i], n_tok, scratch);
        const ag_type vt = ag_type_traits_get(ws[i]->wtype)->vec_dot_type;
        const ag_matmul_weight *gw[MAX_W];
        float *gy[MAX_W];
        int ng = 0;
        for (int k = i; k < n_w && k < MAX_W; k++) {
            if (done[k] || ws[k]->n != ws[i]->n || choose_path(ws[k], n_tok, scratch) != path) continue;
            if (path == PATH_VEC_DOT && (ag_type_traits_get(ws[k]->wtype)->vec_dot_type != vt || ws[k]->wtype != ws[i]->wtype))
                continue;
            gw[ng] = ws[k], gy[ng] = ys[k], ng++;
            done[k] = true;
        }
        run_group(pool, gw, gy, ng, x, n_tok, scratch, path);
    }
}

void ag_matmul(ag_threadpool *pool, const ag_matmul_weight *w, const float *x, float *y, int n_tok,
               const ag_matmul_scratch *scratch) {
    ag_matmul_multi(pool, &w, &y, 1, x, n_tok, scratch);
}
