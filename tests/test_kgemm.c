/*
 * test_kgemm.c - the K-quant matrix kernels (tensor/kgemm.h) against their scalar references:
 * the SIMD Q8_K quantizer (bytes identical to ag_ref_from_float_q8_k, awkward input included),
 * the prepared rows the kernels read (the Q8_K bytes plus reordered codes and d * bsums),
 * and the decode (gemv) and tile kernels of Q2_K..Q6_K against the reference vec_dot on the
 * same Q8_K activations, within float rounding relative to M = sum |w_i a_i| (the kernels sum
 * the per-block floats in another order); the few-token kernel (batched decode) gives the bits
 * of the one-token kernel.
 */
#include <math.h>
#include <stdint.h>

#include "tensor/kgemm.h"
#include "tensor/quant.h"
#include "tensor/quant_k_impl.h"
#include "test.h"

static const ag_type TYPES[] = {AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K};
#define N_TYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

static float frand(uint64_t *s) { /* uniform in [-1, 1) */
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((double)(*s >> 11) * 0x1p-52 - 1.0);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* kind 0: plain; 1: tiny; 2: ties after scaling; 3: NaN/inf/huge/zero runs; 4: max negative */
static void fill(float *x, int64_t n, uint64_t *s, int kind) {
    for (int64_t i = 0; i < n; i++) x[i] = frand(s) * (kind == 1 ? 1e-6f : 3.0f);
    if (kind == 2)
        for (int64_t i = 0; i < n; i += 256) {
            x[i] = -127.0f; /* iscale = 1: values at .5 are ties */
            for (int j = 1; j < 256; j++) x[i + j] = (float)((int)(frand(s) * 100)) + 0.5f;
        }
    if (kind == 3) {
        x[5] = NAN, x[40] = 1e30f, x[77] = -0.0f, x[300 % n] = INFINITY;
        for (int j = 96; j < 128 && j < n; j++) x[j] = 0.0f;
        if (n >= 512)
            for (int j = 256; j < 512; j++) x[j] = 0.0f; /* an all-zero block */
    }
    if (kind == 4) x[17] = -5.0f, x[18] = 5.0f; /* first of equal magnitudes wins */
}

static void test_q8k_matches_reference(void) {
    const int64_t n = 1024;
    float *x = xmalloc((size_t)n * sizeof(float));
    const size_t rb = ag_type_row_size(AG_TYPE_Q8_K, n);
    uint8_t *a = xmalloc(rb), *b = xmalloc(rb);
    uint64_t s = 7;
    for (int rep = 0; rep < 40; rep++) {
        fill(x, n, &s, rep % 5);
        memset(a, 0x55, rb), memset(b, 0xaa, rb);
        ag_ref_from_float_q8_k(x, a, n);
        ag_q8k_quantize(x, b, n);
        CHECK_MSG(memcmp(a, b, rb) == 0, "Q8_K bytes differ (input kind %d, rep %d)", rep % 5, rep);
    }
    free(x), free(a), free(b);
}

/* sum |w_i a_i| over dequantized values: the scale of rounding errors */
static double magnitude(ag_type t, int64_t n, const void *wrow, const void *arow) {
    float *wf = xmalloc((size_t)n * sizeof(float)), *af = xmalloc((size_t)n * sizeof(float));
    ag_type_traits_ref(t)->to_float(wrow, wf, n);
    ag_ref_to_float_q8_k(arow, af, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m += fabs((double)wf[i] * af[i]);
    free(wf), free(af);
    return m;
}

/* the prepared row: Q8_K blocks as the reference writes them, then the reordered codes and d * bsums */
static void test_prepared_row(void) {
    const int64_t n = 768;
    float *x = xmalloc((size_t)n * sizeof(float));
    uint8_t *row = xmalloc(ag_kact_row_bytes(n)), *q = xmalloc(ag_type_row_size(AG_TYPE_Q8_K, n));
    uint64_t s = 3;
    fill(x, n, &s, 0);
    ag_kact_quantize(x, row, n);
    ag_ref_from_float_q8_k(x, q, n);
    CHECK(memcmp(row, q, ag_type_row_size(AG_TYPE_Q8_K, n)) == 0);
    const ag_block_q8_k *y = (const ag_block_q8_k *)q;
    const ag_kact_extra *e = ag_kact_extras(row, n);
    int bad = 0;
    for (int b = 0; b < n / 256; b++) {
        for (int j = 0; j < 256; j++) { /* byte j: run r = j / 32 of the order 0, 2, 1, 3, 4, 6, 5, 7 */
            static const int RUN[8] = {0, 2, 1, 3, 4, 6, 5, 7};
            bad += e[b].qp[j] != y[b].qs[32 * RUN[j / 32] + j % 32];
        }
        for (int g = 0; g < 16; g++) bad += e[b].bsf[g] != y[b].d * (float)y[b].bsums[g];
    }
    CHECK_MSG(bad == 0, "%d prepared values differ", bad);
    free(x), free(row), free(q);
}

static void test_kernels_match_reference(void) {
    const int64_t lens[] = {256, 768, 2048};
    const int rows = 37, toks = 11;
    uint64_t s = 99;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        const size_t arb = ag_kact_row_bytes(n);
        float *x = xmalloc((size_t)n * toks * sizeof(float)), *y = xmalloc((size_t)rows * toks * sizeof(float));
        float *wf = xmalloc((size_t)n * rows * sizeof(float));
        uint8_t *act = xmalloc(arb * toks), *scratch = xmalloc(ag_kgemm_tile_scratch_bytes(n));
        for (int t = 0; t < toks; t++) {
            fill(x + (size_t)t * n, n, &s, t % 3 == 2 ? 1 : 0);
            ag_kact_quantize(x + (size_t)t * n, act + (size_t)t * arb, n);
        }
        for (int64_t i = 0; i < n * rows; i++) wf[i] = frand(&s) * (i % 97 == 0 ? 8.0f : 1.0f);
        for (int i = 0; i < N_TYPES; i++) {
            const ag_type t = TYPES[i];
            if (!ag_kgemm_available(t, n)) {
                fprintf(stderr, "  (no K kernels for %s on this CPU)\n", ag_type_name(t));
                continue;
            }
            const ag_type_traits *ref = ag_type_traits_ref(t);
            const size_t rb = ag_type_row_size(t, n);
            uint8_t *w = xmalloc(rb * rows);
            for (int r = 0; r < rows; r++) ref->from_float(wf + (size_t)r * n, w + (size_t)r * rb, n);
            double worst_v = 0, worst_t = 0;
            for (int tok = 0; tok < toks; tok++) {
                ag_kgemv(t, n, w, rb, rows, act + (size_t)tok * arb, y);
                for (int r = 0; r < rows; r++) {
                    float want;
                    ref->vec_dot(n, &want, w + (size_t)r * rb, act + (size_t)tok * arb);
                    const double e = fabs(y[r] - want) / (magnitude(t, n, w + (size_t)r * rb, act + (size_t)tok * arb) + 1e-30);
                    worst_v = e > worst_v ? e : worst_v;
                }
            }
            for (int r0 = 0; r0 < rows; r0 += AG_KGEMM_ROWS) {
                const int nr = rows - r0 < AG_KGEMM_ROWS ? rows - r0 : AG_KGEMM_ROWS;
                ag_kgemm_tile(t, n, w + (size_t)r0 * rb, rb, nr, act, arb, toks, y + r0, rows, scratch);
            }
            for (int tok = 0; tok < toks; tok++)
                for (int r = 0; r < rows; r++) {
                    float want;
                    ref->vec_dot(n, &want, w + (size_t)r * rb, act + (size_t)tok * arb);
                    const double e = fabs(y[(size_t)tok * rows + r] - want) /
                                     (magnitude(t, n, w + (size_t)r * rb, act + (size_t)tok * arb) + 1e-30);
                    worst_t = e > worst_t ? e : worst_t;
                }
            CHECK_MSG(worst_v < 1e-5, "gemv %s n=%lld: relative error %g", ag_type_name(t), (long long)n, worst_v);
            CHECK_MSG(worst_t < 1e-5, "tile %s n=%lld: relative error %g", ag_type_name(t), (long long)n, worst_t);
            /* a few tokens (batched decode), past 8 too: the bits of the one-token kernel */
            float *y1 = xmalloc((size_t)rows * sizeof(float));
            int differ = 0;
            ag_kgemv_few(t, n, w, rb, rows, act, arb, toks, y, rows);
            for (int tok = 0; tok < toks; tok++) {
                ag_kgemv(t, n, w, rb, rows, act + (size_t)tok * arb, y1);
                differ += memcmp(y1, y + (size_t)tok * rows, (size_t)rows * sizeof(float)) != 0;
            }
            CHECK_MSG(differ == 0, "few %s n=%lld: %d tokens differ from kgemv", ag_type_name(t), (long long)n, differ);
            free(y1);
            free(w);
        }
        free(x), free(y), free(wf), free(act), free(scratch);
    }
}

TEST_MAIN(TEST(test_q8k_matches_reference), TEST(test_prepared_row), TEST(test_kernels_match_reference))
