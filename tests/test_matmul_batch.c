/*
 * test_matmul_batch.c - the invariant that makes speculative decoding and batched decode exact:
 * a product's result for one token does not depend on how many tokens the product has. For
 * every weight type with SIMD kernels (legacy quants, K-quants, F16) and token counts 2..8
 * (batched decode: gemv_few / per-token K rows) the rows must be bit-identical to one-token
 * products (gemv / kgemv / vec_dot); past 8 tokens (prefill tiles) too.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "cpu/matmul.h"
#include "tensor/gemm.h"
#include "tensor/quant.h"
#include "test.h"

static float frand(uint64_t *s) { /* uniform in [-1, 1) */
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((double)(*s >> 11) * 0x1p-52 - 1.0);
}

/* n_tok tokens at once against one token at a time: how many outputs differ in any bit */
static int count_differing(ag_threadpool *pool, ag_type t, int64_t n, int64_t d, int n_tok, uint64_t seed) {
    const size_t rb = ag_type_row_size(t, n);
    float *wf = malloc((size_t)(n * d) * sizeof(float)), *x = malloc((size_t)(n * n_tok) * sizeof(float));
    float *y_all = malloc((size_t)(d * n_tok) * sizeof(float)), *y_one = malloc((size_t)d * sizeof(float));
    uint8_t *w = malloc(rb * (size_t)d);
    ag_matmul_scratch s;
    if (!wf || !x || !y_all || !y_one || !w ||
        !ag_matmul_scratch_init(&s, n, ag_matmul_scratch_row(t, n), 16, ag_threadpool_n_threads(pool)))
        abort();
    uint64_t r = seed;
    for (int64_t i = 0; i < n * d; i++) wf[i] = frand(&r);
    for (int64_t i = 0; i < n * n_tok; i++) x[i] = frand(&r) * 2.0f;
    for (int64_t i = 0; i < d; i++) ag_type_traits_get(t)->from_float(wf + i * n, w + (size_t)i * rb, n);
    const ag_matmul_weight mw = {w, t, rb, n, d, false};
    ag_matmul(pool, &mw, x, y_all, n_tok, &s);
    int differing = 0;
    for (int k = 0; k < n_tok; k++) {
        ag_matmul(pool, &mw, x + (size_t)k * (size_t)n, y_one, 1, &s);
        for (int64_t i = 0; i < d; i++) differing += memcmp(&y_one[i], &y_all[(size_t)k * (size_t)d + i], sizeof(float)) != 0;
    }
    ag_matmul_scratch_free(&s);
    free(wf), free(x), free(y_all), free(y_one), free(w);
    return differing;
}

static void test_batched_decode_rows_identical(void) {
    static const ag_type types[] = {AG_TYPE_Q4_0, AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q8_0,
                                    AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K,
                                    AG_TYPE_F16};
    ag_threadpool *pool = ag_threadpool_new(2);
    CHECK(pool != NULL);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        for (int n_tok = 2; n_tok <= AG_GEMV_FEW_MAX; n_tok++) {
            const int diff = count_differing(pool, types[i], 512, 70, n_tok, 11 + (uint64_t)n_tok);
            CHECK_MSG(diff == 0, "%s, %d tokens: %d outputs differ from one-token products",
                      ag_type_name(types[i]), n_tok, diff);
        }
    ag_threadpool_free(pool);
}

static void test_prefill_tiles_identical(void) {
    /* tiles (past AG_GEMV_FEW_MAX tokens) */
    static const ag_type types[] = {AG_TYPE_Q4_0, AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q8_0, AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K, AG_TYPE_F16};
    ag_threadpool *pool = ag_threadpool_new(2);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const int diff = count_differing(pool, types[i], 512, 70, 13, 5);
        CHECK_MSG(diff == 0, "%s, 13 tokens: %d outputs differ from one-token products",
                  ag_type_name(types[i]), diff);
    }
    ag_threadpool_free(pool);
}

TEST_MAIN(TEST(test_batched_decode_rows_identical), TEST(test_prefill_tiles_identical))
