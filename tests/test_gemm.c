/*
 * test_gemm.c - the integer matrix kernels (tensor/qact.h, tensor/gemm.h) against their scalar
 * references: prepared activations (SIMD bytes identical to the reference, and the same codes
 * and scales as the Q8_0 / Q8_1 reference quantizers), the reference dot product (identical to
 * vec_dot's reference on Q8 blocks), and the decode (gemv) and tile kernels against it, within
 * float rounding relative to M = sum |w_i a_i| (summation order differs); the F16 tiles
 * against vec_dot's F16 reference, the SIMD f16 rounding against the scalar one.
 */
#include <math.h>
#include <stdint.h>

#include "tensor/gemm.h"
#include "tensor/qact.h"
#include "tensor/quant.h"
#include "tensor/repack.h"
#include "test.h"

static const ag_type TYPES[] = {AG_TYPE_Q4_0, AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q8_0};
#define N_TYPES ((int)(sizeof TYPES / sizeof TYPES[0]))

static float frand(uint64_t *s) { /* uniform in [-1, 1) */
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((double)(*s >> 11) * 0x1p-52 - 1.0);
}

static void *amalloc(size_t n) { /* 64-byte aligned, zeroed */
    void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
    if (!p) abort();
    memset(p, 0, (n + 63) & ~(size_t)63);
    return p;
}

/* rows of floats with awkward values mixed in: ties at .5 after scaling, NaN, huge, tiny, zero */
static void fill(float *x, int64_t n, uint64_t *s, int kind) {
    for (int64_t i = 0; i < n; i++) x[i] = frand(s) * (kind == 1 ? 1e-6f : 3.0f);
    if (kind == 2)
        for (int64_t i = 0; i < n; i += 32) {
            x[i] = 127.0f; /* d = 1 exactly: every other value lands on a .5 tie */
            for (int j = 1; j < 32; j++) x[i + j] = (float)((int)(frand(s) * 100)) + 0.5f;
        }
    if (kind == 3) {
        x[5] = NAN, x[40] = 1e30f, x[77] = -0.0f;
        for (int j = 96; j < 128 && j < n; j++) x[j] = 0.0f;
    }
}

static void test_qact_matches_reference(void) {
    const int64_t lens[] = {128, 256, 2048};
    uint64_t s = 42;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        const size_t rb = ag_qact_row_bytes(n);
        float *x = amalloc((size_t)n * sizeof(float));
        uint8_t *a = amalloc(rb), *b = amalloc(rb), *q0 = amalloc((size_t)n * 2), *q1 = amalloc((size_t)n * 2);
        for (int kind = 0; kind < 4; kind++) {
            fill(x, n, &s, kind);
            memset(a, 0, rb), memset(b, 0, rb);
            ag_qact_quantize_ref(x, a, n);
            ag_qact_quantize(x, b, n);
            CHECK_MSG(memcmp(a, b, rb) == 0, "n=%lld kind %d: SIMD bytes differ from the reference", (long long)n, kind);
            /* same codes and scales as Q8_0 / Q8_1 blocks */
            ag_type_traits_ref(AG_TYPE_Q8_0)->from_float(x, q0, n);
            ag_type_traits_ref(AG_TYPE_Q8_1)->from_float(x, q1, n);
            const ag_qact_group *g = (const ag_qact_group *)a;
            int bad = 0;
            for (int64_t blk = 0; blk < n / 32; blk++) {
                const uint8_t *b0 = q0 + blk * 34, *b1 = q1 + blk * 36;
                uint16_t d0, s1;
                memcpy(&d0, b0, 2), memcpy(&s1, b1 + 2, 2);
                const ag_qact_group *gr = &g[blk / 4];
                const int k = (int)(blk % 4);
                for (int j = 0; j < 32; j++) bad += (j < 16 ? gr->lo : gr->hi)[16 * k + j % 16] != (int8_t)b0[2 + j];
                bad += gr->d[4 * k] != ag_fp16_to_fp32(d0) || gr->d[4 * k + 3] != ag_fp16_to_fp32(d0);
                bad += ag_qact_s(a, n)[blk] != ag_fp16_to_fp32(s1);
            }
            CHECK_MSG(bad == 0, "n=%lld kind %d: %d values differ from the Q8 blocks", (long long)n, kind, bad);
        }
        free(x), free(a), free(b), free(q0), free(q1);
    }
}

/* weights: random quantized rows, and raw random bytes (every code) with finite scales */
static uint8_t *make_weights(ag_type t, int64_t n, int rows, uint64_t *s, bool raw) {
    const size_t rb = ag_type_row_size(t, n), bs = ag_type_size(t);
    uint8_t *w = amalloc(rb * (size_t)rows);
    float *f = amalloc((size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++) {
        uint8_t *row = w + (size_t)r * rb;
        if (!raw) {
            for (int64_t i = 0; i < n; i++) f[i] = frand(s) * (i % 97 == 0 ? 20.0f : 1.0f);
            ag_type_traits_ref(t)->from_float(f, row, n);
            continue;
        }
        for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)(frand(s) * 256);
        for (int64_t b = 0; b < n / 32; b++) {
            const uint16_t d = ag_fp32_to_fp16(frand(s) * 0.05f), m = ag_fp32_to_fp16(frand(s));
            memcpy(row + b * bs, &d, 2);
            if (t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1) memcpy(row + b * bs + 2, &m, 2);
        }
    }
    free(f);
    return w;
}

static void test_dot_ref_is_vec_dot_ref(void) {
    const int64_t n = 512;
    uint64_t s = 7;
    float *x = amalloc((size_t)n * sizeof(float));
    uint8_t *act = amalloc(ag_qact_row_bytes(n)), *aq = amalloc((size_t)n * 2);
    for (int i = 0; i < N_TYPES; i++) {
        const ag_type t = TYPES[i];
        const ag_type_traits *ref = ag_type_traits_ref(t);
        for (int raw = 0; raw < 2; raw++) {
            uint8_t *w = make_weights(t, n, 3, &s, raw);
            for (int r = 0; r < 3; r++) {
                fill(x, n, &s, r % 3);
                ag_qact_quantize_ref(x, act, n);
                ag_type_traits_ref(ref->vec_dot_type)->from_float(x, aq, n);
                float want;
                ref->vec_dot(n, &want, w + (size_t)r * ag_type_row_size(t, n), aq);
                const float got = ag_gemm_dot_ref(t, false, n, w + (size_t)r * ag_type_row_size(t, n), act);
                CHECK_MSG(got == want, "%s raw %d: %.9g vs vec_dot %.9g", ag_type_name(t), raw, (double)got, (double)want);
            }
            free(w);
        }
    }
    free(x), free(act), free(aq);
}

/* M = sum_i |w_i * a_i| (weights dequantized, activations as their Q8_0 codes times d): the
 * size of the terms, which float summation-order differences are relative to */
static double magnitude(ag_type t, int64_t n, const uint8_t *wrow, const float *x) {
    float *wf = amalloc((size_t)n * sizeof(float)), *af = amalloc((size_t)n * sizeof(float));
    uint8_t *aq = amalloc((size_t)n * 2);
    ag_type_traits_ref(t)->to_float(wrow, wf, n);
    ag_type_traits_ref(AG_TYPE_Q8_0)->from_float(x, aq, n);
    ag_type_traits_ref(AG_TYPE_Q8_0)->to_float(aq, af, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++) m += fabs((double)wf[i] * af[i]);
    free(wf), free(af), free(aq);
    return m;
}

/* gemv and tiles against the reference dot, for shapes with partial tiles of rows and tokens */
static void test_kernels_match_reference(void) {
    const int64_t lens[] = {128, 384, 1024};
    const int rows = 37, toks = 11;
    uint64_t s = 99;
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int64_t n = lens[li];
        const size_t arb = ag_qact_row_bytes(n);
        float *x = amalloc((size_t)n * toks * sizeof(float)), *y = amalloc((size_t)rows * toks * sizeof(float));
        uint8_t *act = amalloc(arb * toks), *scratch = amalloc(ag_gemm_tile_scratch_bytes(n));
        for (int t = 0; t < toks; t++) {
            fill(x + (size_t)t * n, n, &s, t % 3);
            ag_qact_quantize(x + (size_t)t * n, act + (size_t)t * arb, n);
        }
        for (int i = 0; i < N_TYPES; i++) {
            const ag_type t = TYPES[i];
            if (!ag_gemm_available(t, n)) {
                fprintf(stderr, "  (no integer kernels for %s on this CPU)\n", ag_type_name(t));
                continue;
            }
            const size_t rb = ag_type_row_size(t, n);
            for (int raw = 0; raw < 2; raw++) {
                uint8_t *w = make_weights(t, n, rows, &s, raw);
                double worst_v = 0, worst_t = 0;
                for (int tok = 0; tok < toks; tok++) {
                    ag_gemv(t, false, n, w, rb, rows, act + (size_t)tok * arb, y);
                    for (int r = 0; r < rows; r++) {
                        const double want = ag_gemm_dot_ref(t, false, n, w + (size_t)r * rb, act + (size_t)tok * arb);
                        const double e = fabs(y[r] - want) / (magnitude(t, n, w + (size_t)r * rb, x + (size_t)tok * n) + 1e-6);
                        worst_v = e > worst_v ? e : worst_v;
                    }
                }
                double worst_f = 0;
                for (int nt = 2; nt <= AG_GEMV_FEW_MAX; nt += 3) {
                    ag_gemv_few(t, false, n, w, rb, rows, act, arb, nt, y, rows);
                    for (int tok = 0; tok < nt; tok++)
                        for (int r = 0; r < rows; r++) {
                            const double want = ag_gemm_dot_ref(t, false, n, w + (size_t)r * rb, act + (size_t)tok * arb);
                            const double e = fabs(y[(size_t)tok * rows + r] - want) /
                                             (magnitude(t, n, w + (size_t)r * rb, x + (size_t)tok * n) + 1e-6);
                            worst_f = e > worst_f ? e : worst_f;
                        }
                }
                CHECK_MSG(worst_f < 1e-5, "gemv_few %s n=%lld raw %d: relative error %g", ag_type_name(t), (long long)n, raw, worst_f);
                for (int r0 = 0; r0 < rows; r0 += AG_GEMM_ROWS) {
                    const int nr = rows - r0 < AG_GEMM_ROWS ? rows - r0 : AG_GEMM_ROWS;
                    ag_gemm_tile(t, false, n, w + (size_t)r0 * rb, rb, nr, act, arb, toks, y + r0, rows, scratch);
                }
                for (int tok = 0; tok < toks; tok++)
                    for (int r = 0; r < rows; r++) {
                        const double want = ag_gemm_dot_ref(t, false, n, w + (size_t)r * rb, act + (size_t)tok * arb);
                        const double e = fabs(y[(size_t)tok * rows + r] - want) /
                                         (magnitude(t, n, w + (size_t)r * rb, x + (size_t)tok * n) + 1e-6);
                        worst_t = e > worst_t ? e : worst_t;
                    }
                CHECK_MSG(worst_v < 1e-5, "gemv %s n=%lld raw %d: relative error %g", ag_type_name(t), (long long)n, raw, worst_v);
                CHECK_MSG(worst_t < 1e-5, "tile %s n=%lld raw %d: relative error %g", ag_type_name(t), (long long)n, raw, worst_t);
                free(w);
            }
        }
        free(x), free(y), free(act), free(scratch);
    }
}

/* Rows repacked at load (tensor/repack.h) give every kernel the same bits as the file's rows, and
 * unpacking a block gives the file's block back. */
static void test_packed_rows_identical(void) {
    const int64_t n = 384;
    const int rows = 21, toks = 13;
    uint64_t s = 31;
    const size_t arb = ag_qact_row_bytes(n);
    float *x = amalloc((size_t)n * toks * sizeof(float));
    float *y0 = amalloc((size_t)rows * toks * sizeof(float)), *y1 = amalloc((size_t)rows * toks * sizeof(float));
    uint8_t *act = amalloc(arb * toks), *scratch = amalloc(ag_gemm_tile_scratch_bytes(n));
    for (int t = 0; t < toks; t++) {
        fill(x + (size_t)t * n, n, &s, t % 3);
        ag_qact_quantize(x + (size_t)t * n, act + (size_t)t * arb, n);
    }
    const ag_type types[] = {AG_TYPE_Q4_0, AG_TYPE_Q8_0};
    for (int i = 0; i < 2; i++) {
        const ag_type t = types[i];
        const size_t rb = ag_type_row_size(t, n);
        uint8_t *w = make_weights(t, n, rows, &s, 1), *p = amalloc(rb * rows);
        ag_repack_rows(t, n, w, p, rows);
        int bad_blocks = 0, bad_ref = 0, bad_gemv = 0, bad_few = 0, bad_tile = 0;
        for (int r = 0; r < rows; r++)
            for (int64_t b = 0; b < n / 32; b++) {
                uint8_t blk[AG_REPACK_MAX_BLOCK];
                ag_repack_unpack_block(t, p + (size_t)r * rb, b, blk);
                bad_blocks += memcmp(blk, w + (size_t)r * rb + (size_t)b * ag_type_size(t), ag_type_size(t)) != 0;
            }
        for (int tok = 0; tok < toks; tok++)
            for (int r = 0; r < rows; r++)
                bad_ref += ag_gemm_dot_ref(t, true, n, p + (size_t)r * rb, act + (size_t)tok * arb) !=
                           ag_gemm_dot_ref(t, false, n, w + (size_t)r * rb, act + (size_t)tok * arb);
        if (ag_repack_supported(t, n)) {
            for (int tok = 0; tok < toks; tok++) {
                ag_gemv(t, false, n, w, rb, rows, act + (size_t)tok * arb, y0);
                ag_gemv(t, true, n, p, rb, rows, act + (size_t)tok * arb, y1);
                bad_gemv += memcmp(y0, y1, (size_t)rows * sizeof(float)) != 0;
            }
            for (int nt = 2; nt <= AG_GEMV_FEW_MAX; nt++) {
                ag_gemv_few(t, false, n, w, rb, rows, act, arb, nt, y0, rows);
                ag_gemv_few(t, true, n, p, rb, rows, act, arb, nt, y1, rows);
                bad_few += memcmp(y0, y1, (size_t)rows * nt * sizeof(float)) != 0;
            }
            for (int r0 = 0; r0 < rows; r0 += AG_GEMM_ROWS) {
                const int nr = rows - r0 < AG_GEMM_ROWS ? rows - r0 : AG_GEMM_ROWS;
                ag_gemm_tile(t, false, n, w + (size_t)r0 * rb, rb, nr, act, arb, toks, y0 + r0, rows, scratch);
                ag_gemm_tile(t, true, n, p + (size_t)r0 * rb, rb, nr, act, arb, toks, y1 + r0, rows, scratch);
            }
            bad_tile = memcmp(y0, y1, (size_t)rows * toks * sizeof(float)) != 0;
        } else {
            fprintf(stderr, "  (no packed kernels for %s on this CPU: reference only)\n", ag_type_name(t));
        }
        CHECK_MSG(bad_blocks == 0, "%s: %d blocks differ after pack + unpack", ag_type_name(t), bad_blocks);
        CHECK_MSG(bad_ref == 0, "%s: %d reference dots differ packed", ag_type_name(t), bad_ref);
        CHECK_MSG(bad_gemv == 0 && bad_few == 0 && bad_tile == 0, "%s packed: gemv %d, few %d, tile %d outputs differ",
                  ag_type_name(t), bad_gemv, bad_few, bad_tile);
        free(w), free(p);
    }
    free(x), free(y0), free(y1), free(act), free(scratch);
}

/* F16 tiles against vec_dot's reference on f16 activations, partial tiles of rows and tokens */
static void test_f16_tile(void) {
    const int64_t n = 272;
    const int rows = 23, toks = 7;
    uint64_t s = 5;
    const size_t rb = ag_type_row_size(AG_TYPE_F16, n);
    uint16_t *w = amalloc(rb * rows), *xh = amalloc(rb * toks);
    float *x = amalloc((size_t)n * toks * sizeof(float)), *y = amalloc((size_t)rows * toks * sizeof(float));
    for (int64_t i = 0; i < n * rows; i++) w[i] = ag_fp32_to_fp16(frand(&s) * (i % 53 == 0 ? 100.0f : 1.0f));
    for (int64_t i = 0; i < n * toks; i++) {
        xh[i] = ag_fp32_to_fp16(frand(&s) * 4.0f);
        x[i] = ag_fp16_to_fp32(xh[i]);
    }
    if (!ag_gemm_f16_available(n)) {
        fprintf(stderr, "  (no F16 tiles on this CPU)\n");
    } else {
        ag_gemm_f16_tile(n, w, rb, rows, x, (size_t)n, toks, y, rows);
        double worst = 0;
        for (int t = 0; t < toks; t++)
            for (int r = 0; r < rows; r++) {
                float want;
                ag_type_traits_ref(AG_TYPE_F16)->vec_dot(n, &want, (const uint8_t *)w + (size_t)r * rb, xh + (size_t)t * n);
                double m = 0;
                for (int64_t i = 0; i < n; i++) m += fabs((double)ag_fp16_to_fp32(w[(size_t)r * n + i]) * x[(size_t)t * n + i]);
                const double e = fabs(y[(size_t)t * rows + r] - want) / (m + 1e-6);
                worst = e > worst ? e : worst;
            }
        CHECK_MSG(worst < 1e-5, "F16 tile: relative error %g", worst);
    }
    free(w), free(xh), free(x), free(y);
}

/* SIMD f16 rounding = the scalar conversions, awkward values included */
static void test_f16_round(void) {
    const int64_t n = 528;
    uint64_t s = 11;
    float *x = amalloc((size_t)n * sizeof(float)), *got = amalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = frand(&s) * (i % 7 == 0 ? 70000.0f : i % 5 == 0 ? 1e-6f : 3.0f);
    x[3] = NAN, x[4] = -INFINITY, x[9] = 6e-8f, x[10] = 2.9802322e-08f, x[11] = 1.0009765625f + 0.00048828125f;
    ag_f16_round(x, got, n);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float want = ag_fp16_to_fp32(ag_fp32_to_fp16(x[i]));
        bad += memcmp(&want, &got[i], sizeof want) != 0;
    }
    CHECK_MSG(bad == 0, "%d f16 roundings differ", bad);
    free(x), free(got);
}

TEST_MAIN(TEST(test_f16_round), TEST(test_qact_matches_reference), TEST(test_dot_ref_is_vec_dot_ref), TEST(test_kernels_match_reference),
          TEST(test_packed_rows_identical), TEST(test_f16_tile))
