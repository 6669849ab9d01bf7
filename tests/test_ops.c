/*
 * test_ops.c - the forward pass's F32 operations against their definitions computed in double
 * (RMSNorm, RoPE, softmax, SiLU*up), and the threaded matrix product against a plain loop over
 * dequantized weights for every weight type we compute.
 */
#include <math.h>

#include "cpu/ops.h"
#include "cpu/vec.h"
#include "tensor/gemm.h"
#include "tensor/quant.h"
#include "test.h"

static float frand(unsigned *s) { /* uniform in [-1, 1) */
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) / 8388608.0 - 1.0);
}

static void test_rmsnorm(void) {
    float x[96], w[96], y[96];
    unsigned seed = 1;
    for (int i = 0; i < 96; i++) x[i] = 3 * frand(&seed), w[i] = frand(&seed);
    ag_rmsnorm(y, x, w, 96, 1e-5f);
    double ss = 0;
    for (int i = 0; i < 96; i++) ss += (double)x[i] * x[i];
    double scale = 1.0 / sqrt(ss / 96 + 1e-5);
    for (int i = 0; i < 96; i++) CHECK_NEAR(y[i], x[i] * scale * w[i], 1e-5);
}

static void test_rope(void) {
    enum { H = 3, D = 16, R = 12 };
    float x[H * D], y[H * D];
    unsigned seed = 7;
    for (int i = 0; i < H * D; i++) x[i] = y[i] = frand(&seed);
    const float freq[R / 2] = {1, 1, 2, 4, 8, 40};
    ag_rope(y, H, D, R, 0.0f, 10000.0f, NULL);
    for (int i = 0; i < H * D; i++) CHECK(y[i] == x[i]); /* position 0: identity */
    for (int i = 0; i < H * D; i++) y[i] = x[i];
    ag_rope(y, H, D, R, 37.0f, 10000.0f, freq);
    for (int h = 0; h < H; h++)
        for (int i = 0; i < D / 2; i++) {
            const float *a = x + h * D + 2 * i;
            const float *b = y + h * D + 2 * i;
            if (2 * i >= R) { /* past n_rot: untouched */
                CHECK(b[0] == a[0] && b[1] == a[1]);
                continue;
            }
            double theta = 37.0 * pow(10000.0, -2.0 * i / R) / freq[i];
            CHECK_NEAR(b[0], a[0] * cos(theta) - a[1] * sin(theta), 2e-5);
            CHECK_NEAR(b[1], a[0] * sin(theta) + a[1] * cos(theta), 2e-5);
        }
}

static void test_softmax_silu(void) {
    float x[50], g[50], u[50];
    unsigned seed = 3;
    for (int i = 0; i < 50; i++) x[i] = 20 * frand(&seed), g[i] = 5 * frand(&seed), u[i] = frand(&seed);
    double mx = -1e30, sum = 0;
    for (int i = 0; i < 50; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < 50; i++) sum += exp(x[i] - mx);
    float orig[50];
    memcpy(orig, x, sizeof x);
    ag_softmax(x, 50);
    for (int i = 0; i < 50; i++) CHECK_NEAR(x[i], exp(orig[i] - mx) / sum, 1e-6);
    float g0[50];
    memcpy(g0, g, sizeof g);
    ag_silu_mul(g, u, 50);
    for (int i = 0; i < 50; i++) CHECK_NEAR(g[i], g0[i] / (1 + exp(-g0[i])) * u[i], 1e-6);
}

static void test_matmul_all_types(void) {
    const ag_type types[] = {AG_TYPE_F32, AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q8_0,
                             AG_TYPE_Q4_0, AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1};
    enum { N = 256, D = 67, T = 5 };
    static float wf[D * N], x[T * N], y[T * D], wdq[N];
    static uint8_t wq[D * N * 4];
    ag_matmul_scratch mm;
    CHECK(ag_matmul_scratch_init(&mm, N, N * 4, T, 3));
    unsigned seed = 11;
    for (int i = 0; i < D * N; i++) wf[i] = frand(&seed);
    for (int i = 0; i < T * N; i++) x[i] = frand(&seed);
    ag_threadpool *pool = ag_threadpool_new(3);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const ag_type t = types[k];
        const ag_type_traits *tr = ag_type_traits_get(t);
        CHECK_MSG(tr && tr->from_float && tr->to_float && tr->vec_dot, "%s has no kernels", ag_type_name(t));
        if (!tr || !tr->from_float || !tr->vec_dot) continue;
        const size_t rb = ag_type_row_size(t, N);
        for (int r = 0; r < D; r++) tr->from_float(wf + r * N, wq + r * rb, N);
        ag_matmul_weight w = {wq, t, rb, N, D, false};
        ag_matmul(pool, &w, x, y, T, &mm);
        double worst = 0;
        for (int r = 0; r < D; r++) {
            tr->to_float(wq + r * rb, wdq, N);
            for (int j = 0; j < T; j++) {
                double ref = 0;
                for (int i = 0; i < N; i++) ref += (double)wdq[i] * x[j * N + i];
                double e = fabs(y[j * D + r] - ref);
                worst = e > worst ? e : worst;
            }
        }
        /* activations are rounded to the vec_dot type: 8-bit ones lose about 1/254 per element */
        double tol = tr->vec_dot_type == AG_TYPE_F32 ? 1e-4 : tr->vec_dot_type == AG_TYPE_F16 ? 5e-3
                   : tr->vec_dot_type == AG_TYPE_BF16 ? 5e-2 : 0.1;
        CHECK_MSG(worst < tol, "%s: max error %g", ag_type_name(t), worst);
    }
    ag_threadpool_free(pool);
    ag_matmul_scratch_free(&mm);
}

/* The tile kernels (several tokens at once) give what vec_dot gives for each pair, up to float
 * summation order, for every tile shape: full and partial tiles of rows, few and many tokens. */
static void test_gemm_matches_vec_dot(void) {
    const ag_type types[] = {AG_TYPE_Q8_0, AG_TYPE_Q4_0};
    enum { N = 512, D = 23, T = 9 };
    static float wf[D * N], x[T * N], y[T * D];
    static uint8_t wq[D * N * 2];
    unsigned seed = 5;
    for (int i = 0; i < D * N; i++) wf[i] = frand(&seed) * (i % 97 == 0 ? 30.0f : 1.0f);
    for (int i = 0; i < T * N; i++) x[i] = frand(&seed);
    ag_matmul_scratch mm;
    CHECK(ag_matmul_scratch_init(&mm, N, N * 2, T, 1));
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const ag_type t = types[k];
        const ag_type_traits *tr = ag_type_traits_get(t);
        const size_t rb = ag_type_row_size(t, N), xr = ag_type_row_size(tr->vec_dot_type, N);
        for (int r = 0; r < D; r++) tr->from_float(wf + r * N, wq + r * rb, N);
        if (!ag_gemm_available(t, N)) {
            fprintf(stderr, "  (no tile kernel for %s on this CPU)\n", ag_type_name(t));
            continue;
        }
        for (int nt = 1; nt <= T; nt += 4) {
            ag_matmul_weight w = {wq, t, rb, N, D, false};
            ag_matmul(NULL, &w, x, y, nt, &mm); /* nt >= 4 takes the tile path */
            double worst = 0;
            for (int j = 0; j < nt; j++) {
                uint8_t aq[N * 2];
                ag_type_traits_get(tr->vec_dot_type)->from_float(x + j * N, aq, N);
                for (int r = 0; r < D; r++) {
                    float ref;
                    ag_type_traits_ref(t)->vec_dot(N, &ref, wq + r * rb, aq);
                    double e = fabs(y[j * D + r] - ref) / (fabs(ref) + 1.0);
                    worst = e > worst ? e : worst;
                }
            }
            (void)xr;
            CHECK_MSG(worst < 1e-5, "%s, %d tokens: relative error %g", ag_type_name(t), nt, worst);
        }
    }
    ag_matmul_scratch_free(&mm);
}

static void test_vec_mad_f16(void) {
    enum { N = 77 };
    uint16_t x[N];
    float y1[N], y2[N];
    unsigned seed = 9;
    for (int i = 0; i < N; i++) x[i] = ag_fp32_to_fp16(10 * frand(&seed)), y1[i] = y2[i] = frand(&seed);
    ag_vec_mad_f16(N, y1, x, 0.37f);
    ag_vec_mad_f16_ref(N, y2, x, 0.37f);
    for (int i = 0; i < N; i++) CHECK_NEAR(y1[i], y2[i], 1e-6 * (1 + fabs(y2[i])));
}

/* The AVX-512 versions against their scalar twins, lengths with and without a partial vector. */
static void test_simd_ops_match_reference(void) {
    if (!ag_ops_avx512_ok()) {
        fprintf(stderr, "  (no AVX-512 on this CPU)\n");
        return;
    }
    enum { N = 203 };
    float x[N], w[N], a[N], b[N], up[N];
    unsigned seed = 21;
    for (int i = 0; i < N; i++) x[i] = 12 * frand(&seed), w[i] = frand(&seed), up[i] = frand(&seed);
    /* exp: ~1 ulp from expf over the useful range, 0 / inf at the ends */
    float ex[N], ey[N];
    for (int i = 0; i < N; i++) ex[i] = -100.0f + 188.0f * (float)i / (N - 1);
    ag_vec_exp_avx512(ey, ex, N);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        const double r = expf(ex[i]), e = r > 1e-37 ? fabs(ey[i] - r) / r : fabs(ey[i] - r);
        worst = e > worst ? e : worst;
    }
    CHECK_MSG(worst < 3e-7, "exp: relative error %g", worst);
    const float big[3] = {-1000.0f, 100.0f, 0.0f};
    float bo[3];
    ag_vec_exp_avx512(bo, big, 3);
    CHECK(bo[0] == 0.0f && isinf(bo[1]) && bo[2] == 1.0f);
    const int lens[] = {1, 15, 16, 17, 64, N};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const int n = lens[li];
        ag_rmsnorm_ref(a, x, w, n, 1e-5f);
        ag_rmsnorm_avx512(b, x, w, n, 1e-5f);
        for (int i = 0; i < n; i++) CHECK_NEAR(b[i], a[i], 1e-6 * (fabs(a[i]) + 1e-3));
        memcpy(a, x, sizeof x), memcpy(b, x, sizeof x);
        ag_softmax_ref(a, n);
        ag_softmax_avx512(b, n);
        for (int i = 0; i < n; i++) CHECK_NEAR(b[i], a[i], 1e-6 * a[i] + 1e-12);
        memcpy(a, x, sizeof x), memcpy(b, x, sizeof x);
        ag_silu_mul_ref(a, up, n);
        ag_silu_mul_avx512(b, up, n);
        for (int i = 0; i < n; i++) CHECK_NEAR(b[i], a[i], 1e-6 * fabs(a[i]) + 1e-12);
    }
}

/* Attention rows: scores against F16 rows and the weighted sum of F16 rows, for head sizes
 * below, at and above a vector, with rows spaced like a KV cache; the sum over rows given in
 * runs (ag_vec_mad_f16_rows_acc) has the bits of the sum in one call. */
static void test_attention_rows(void) {
    enum { P = 37, STRIDE = 80 }; /* halves per cached row */
    static uint16_t rows[P * STRIDE];
    float q[STRIDE], w[P], o1[P], o2[P], m1[STRIDE], m2[STRIDE];
    unsigned seed = 8;
    for (int i = 0; i < P * STRIDE; i++) rows[i] = ag_fp32_to_fp16(4 * frand(&seed));
    for (int i = 0; i < STRIDE; i++) q[i] = ag_fp16_to_fp32(ag_fp32_to_fp16(frand(&seed)));
    for (int i = 0; i < P; i++) w[i] = frand(&seed) * 0.1f;
    const int hds[] = {8, 16, 24, 64, 80};
    for (size_t k = 0; k < sizeof hds / sizeof hds[0]; k++) {
        const int hd = hds[k];
        for (int np = 1; np <= P; np += 12) {
            ag_vec_dot_f16_rows(np, o1, rows, STRIDE * 2, q, hd, 0.125f);
            ag_vec_dot_f16_rows_ref(np, o2, rows, STRIDE * 2, q, hd, 0.125f);
            for (int p = 0; p < np; p++) CHECK_NEAR(o1[p], o2[p], 1e-5);
            ag_vec_mad_f16_rows(np, m1, rows, STRIDE * 2, w, hd);
            ag_vec_mad_f16_rows_ref(np, m2, rows, STRIDE * 2, w, hd);
            for (int d = 0; d < hd; d++) CHECK_NEAR(m1[d], m2[d], 1e-5);
            /* the same rows in runs of 1..7 (a KV cache in blocks): exactly m1's bits */
            for (int run = 1; run <= 7; run += 2) {
                float acc[2 * STRIDE] = {0}, m3[STRIDE];
                for (int p = 0; p < np; p += run)
                    ag_vec_mad_f16_rows_acc(np - p < run ? np - p : run, acc, rows + (size_t)p * STRIDE, STRIDE * 2, w + p,
                                            hd, p & 1);
                ag_vec_mad_f16_rows_end(m3, acc, hd);
                CHECK(memcmp(m3, m1, (size_t)hd * sizeof(float)) == 0);
            }
        }
    }
}

TEST_MAIN(TEST(test_rmsnorm), TEST(test_simd_ops_match_reference), TEST(test_attention_rows), TEST(test_rope), TEST(test_softmax_silu), TEST(test_matmul_all_types), TEST(test_gemm_matches_vec_dot), TEST(test_vec_mad_f16))
