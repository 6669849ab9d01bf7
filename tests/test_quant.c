/*
 * test_quant.c - tests of the tensor kernels (tensor/quant.h): F16/BF16 conversions, the
 * reference quantizers (round-trip error and hand-checked bytes), and every vec_dot variant
 * this CPU can run against a double-precision dot and against the reference.
 *
 * Tolerances for dot products are relative to M = sum_i |w_i * a_i| (the size of the terms,
 * not of the possibly cancelling result), so they measure float rounding only.
 */
#include <float.h>
#include <stdint.h>

#include "tensor/quant.h"
#include "test.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define TEST_X86 1
#endif

/* ---- helpers */

typedef struct {
    uint64_t s;
} rng;

static uint64_t rng_u64(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1p-53; } /* [0, 1) */

static float rng_normal(rng *r) { /* Box-Muller */
    double u = rng_unit(r), v = rng_unit(r);
    if (u < 1e-300) u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bitsf(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static const ag_type COMPUTED[] = {AG_TYPE_F32, AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q4_0, AG_TYPE_Q4_1,
                                   AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q8_0, AG_TYPE_Q8_1};
#define N_COMPUTED ((int)(sizeof COMPUTED / sizeof COMPUTED[0]))

/* weight types with a dot product */
static const ag_type WEIGHTS[] = {AG_TYPE_F32, AG_TYPE_F16, AG_TYPE_BF16, AG_TYPE_Q4_0,
                                  AG_TYPE_Q4_1, AG_TYPE_Q5_0, AG_TYPE_Q5_1, AG_TYPE_Q8_0};
#define N_WEIGHTS ((int)(sizeof WEIGHTS / sizeof WEIGHTS[0]))

static bool is_float_type(ag_type t) { return t == AG_TYPE_F32 || t == AG_TYPE_F16 || t == AG_TYPE_BF16; }

/* ===================================================================== F16 / BF16 */

/* The binary16 nearest to f found by search over the (monotonic) positive encodings, ties to
 * even; 0x7c00 stands for 2^16 so values from 65520 up overflow to inf. Independent of fp16.c. */
static double half_value(uint16_t h) {
    if (h >= 0x7c00) return 65536.0;
    const int e = h >> 10, m = h & 0x3ff;
    return e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
}

static uint16_t nearest_half(float f) {
    const double a = fabs((double)f);
    uint16_t lo = 0, hi = 0x7c00; /* find largest h with half_value(h) <= a */
    if (a >= 65536.0) lo = 0x7c00;
    else {
        while (hi - lo > 1) {
            const uint16_t mid = (uint16_t)((lo + hi) / 2);
            if (half_value(mid) <= a) lo = mid;
            else hi = mid;
        }
        if (half_value(lo) < a) {
            const double dlo = a - half_value(lo), dhi = half_value((uint16_t)(lo + 1)) - a;
            if (dhi < dlo || (dhi == dlo && (lo & 1))) lo = (uint16_t)(lo + 1);
        }
    }
    return (uint16_t)(lo | (signbit(f) ? 0x8000 : 0));
}

/* The bfloat16 nearest to finite f, ties to even, computed in double. */
static uint16_t nearest_bf16(float f) {
    const uint32_t u = fbits(f);
    const uint16_t lo = (uint16_t)(u >> 16);
    if ((u & 0xffff) == 0) return lo;
    const double a = fabs((double)f);
    const double vlo = fabs((double)bitsf((uint32_t)lo << 16));
    const double vhi = (lo & 0x7fff) == 0x7f7f ? ldexp(1.0, 128) : fabs((double)bitsf((uint32_t)(lo + 1) << 16));
    const double dlo = a - vlo, dhi = vhi - a;
    if (dhi < dlo || (dhi == dlo && (lo & 1))) return (uint16_t)(lo + 1);
    return lo;
}

static void test_fp16_known(void) {
    struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800},
        {65504.0f, 0x7bff}, {-65504.0f, 0xfbff},
        {65519.99f, 0x7bff},                 /* below the overflow threshold */
        {65520.0f, 0x7c00},                  /* tie between 65504 (odd) and 2^16: inf */
        {1e6f, 0x7c00}, {-1e6f, 0xfc00}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00},
        {0x1p-14f, 0x0400},                  /* smallest normal */
        {0x1.ff8p-15f, 0x03ff},              /* largest subnormal: 1023 * 2^-24 */
        {0x1p-24f, 0x0001},                  /* smallest subnormal */
        {-0x1p-24f, 0x8001},
        {0x1p-25f, 0x0000},                  /* tie between 0 and 2^-24: even (0) */
        {0x1.000002p-25f, 0x0001},           /* just above the tie */
        {0x1.8p-24f, 0x0002},                /* 1.5 ulp: tie between 1 and 2 -> 2 */
        {0x1.4p-23f, 0x0002},                /* 2.5 ulp: tie between 2 and 3 -> 2 */
        {0x1.ffcp-15f, 0x0400},              /* 1023.5 ulp rounds up into the normals */
        {1e-8f, 0x0000}, {FLT_MIN, 0x0000}, {0x1p-149f, 0x0000},
        {1.0f + 0x1p-11f, 0x3c00},           /* tie, even mantissa stays */
        {1.0f + 0x1.8p-10f, 0x3c02},         /* tie, odd mantissa rounds up */
        {1.0f + 0x1p-11f + 0x1p-23f, 0x3c01},/* just above the tie */
        {2049.0f, 0x6800},                   /* tie at ulp 2: 2048 (even) */
        {2051.0f, 0x6802},                   /* tie: 2052 (even) */
        {0.1f, 0x2e66}, {3.14159265f, 0x4248},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = ag_fp32_to_fp16(cases[i].f);
        CHECK_MSG(h == cases[i].h, "fp32_to_fp16(%a) = 0x%04x, want 0x%04x", (double)cases[i].f, h, cases[i].h);
    }
    /* NaN: stays NaN, quiet, sign kept */
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xffc00000u, 0x7fbfffffu, 0xff800001u, 0x7fffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        const uint16_t h = ag_fp32_to_fp16(bitsf(nans[i]));
        CHECK_MSG((h & 0x7c00) == 0x7c00 && (h & 0x0200) && (h >> 15) == (nans[i] >> 31),
                  "fp32_to_fp16(NaN 0x%08x) = 0x%04x", nans[i], h);
    }
    /* to fp32 */
    CHECK(ag_fp16_to_fp32(0x0000) == 0.0f && !signbit(ag_fp16_to_fp32(0x0000)));
    CHECK(ag_fp16_to_fp32(0x8000) == 0.0f && signbit(ag_fp16_to_fp32(0x8000)));
    CHECK(ag_fp16_to_fp32(0x0001) == 0x1p-24f);
    CHECK(ag_fp16_to_fp32(0x8001) == -0x1p-24f);
    CHECK(ag_fp16_to_fp32(0x03ff) == 0x1.ff8p-15f);
    CHECK(ag_fp16_to_fp32(0x0200) == 0x1p-15f);
    CHECK(ag_fp16_to_fp32(0x0400) == 0x1p-14f);
    CHECK(ag_fp16_to_fp32(0x3c00) == 1.0f);
    CHECK(ag_fp16_to_fp32(0x3555) == 0x1.554p-2f);
    CHECK(ag_fp16_to_fp32(0x7bff) == 65504.0f);
    CHECK(ag_fp16_to_fp32(0x7c00) == INFINITY);
    CHECK(ag_fp16_to_fp32(0xfc00) == -INFINITY);
    CHECK(isnan(ag_fp16_to_fp32(0x7e00)) && isnan(ag_fp16_to_fp32(0x7c01)) && isnan(ag_fp16_to_fp32(0xfe00)));
    CHECK(fbits(ag_fp16_to_fp32(0x7c01)) == 0x7fc02000u); /* payload kept, made quiet */
    CHECK(fbits(ag_fp16_to_fp32(0xfe01)) == 0xffc02000u);
}

static void test_fp16_exhaustive(void) {
    /* every half -> f32 -> half is the identity (NaNs: quieted, same sign and payload) */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const float f = ag_fp16_to_fp32((uint16_t)h);
        const uint16_t back = ag_fp32_to_fp16(f);
        const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan ? (back != (h | 0x200) || !isnan(f)) : back != h) bad++;
        if (!nan && (h & 0x7fff) != 0x7c00 && (double)f != (signbit(f) ? -half_value((uint16_t)(h & 0x7fff)) : half_value((uint16_t)h))) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);

    /* f32 -> half against an independent nearest-even search: structured and random bits */
    rng r = {0x1234567};
    bad = 0;
    int tried = 0;
    for (uint32_t e = 0; e < 255; e++) {
        for (int k = 0; k < 200; k++) {
            uint32_t m;
            if (k < 24) m = 1u << k;
            else if (k < 48) m = (1u << (k - 24)) - 1;
            else if (k < 72) m = (3u << (k - 48)) & 0x7fffff;
            else if (k < 96) m = ((1u << (k - 72)) + 1) & 0x7fffff;
            else m = (uint32_t)rng_u64(&r);
            m &= 0x7fffff;
            for (uint32_t s = 0; s < 2; s++) {
                const float f = bitsf(s << 31 | e << 23 | m);
                tried++;
                if (ag_fp32_to_fp16(f) != nearest_half(f)) {
                    if (bad++ < 5) fprintf(stderr, "  fp32_to_fp16(%a) = 0x%04x, want 0x%04x\n", (double)f, ag_fp32_to_fp16(f), nearest_half(f));
                }
            }
        }
    }
    CHECK_MSG(bad == 0, "%d of %d f32 -> f16 conversions wrong", bad, tried);
}

#ifdef TEST_X86
static bool have_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float f) { return (uint16_t)_cvtss_sh(f, 0); }
__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h) { return _cvtsh_ss(h); }
#endif

static void test_fp16_vs_hardware(void) {
#ifdef TEST_X86
    if (!have_f16c()) {
        fprintf(stderr, "  (no F16C: skipped)\n");
        return;
    }
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++)
        if (fbits(ag_fp16_to_fp32((uint16_t)h)) != fbits(hw_f16_to_f32((uint16_t)h))) bad++;
    CHECK_MSG(bad == 0, "%d halves convert unlike VCVTPH2PS", bad);
    rng r = {42};
    bad = 0;
    for (int i = 0; i < 1 << 21; i++) {
        const float f = bitsf((uint32_t)rng_u64(&r));
        if (ag_fp32_to_fp16(f) != hw_f32_to_f16(f)) {
            if (bad++ < 5) fprintf(stderr, "  %a: 0x%04x vs hw 0x%04x\n", (double)f, ag_fp32_to_fp16(f), hw_f32_to_f16(f));
        }
    }
    /* and the interesting range densely: |f| in [2^-26, 2^17) */
    for (uint32_t u = 0x32800000u; u < 0x48000000u; u += 97) {
        const float f = bitsf(u);
        if (ag_fp32_to_fp16(f) != hw_f32_to_f16(f)) bad++;
    }
    CHECK_MSG(bad == 0, "%d floats convert unlike VCVTPS2PH", bad);
#endif
}

static void test_bf16(void) {
    struct { uint32_t f; uint16_t h; } cases[] = {
        {0x00000000u, 0x0000}, {0x80000000u, 0x8000}, {0x3f800000u, 0x3f80}, {0xc0000000u, 0xc000},
        {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
        {0x7f7fffffu, 0x7f80}, /* FLT_MAX rounds up to inf */
        {0x7f7f7fffu, 0x7f7f}, /* below the tie stays finite */
        {0x3f808000u, 0x3f80}, /* tie, even stays */
        {0x3f818000u, 0x3f82}, /* tie, odd rounds up */
        {0x3f808001u, 0x3f81}, {0x3f807fffu, 0x3f80},
        {0x00000001u, 0x0000}, /* float subnormals: rounded, not flushed */
        {0x00008000u, 0x0000}, {0x00018000u, 0x0002}, {0x00010000u, 0x0001}, {0x80010000u, 0x8001},
        {0x007fffffu, 0x0080}, /* largest subnormal rounds up to FLT_MIN */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint16_t h = ag_fp32_to_bf16(bitsf(cases[i].f));
        CHECK_MSG(h == cases[i].h, "fp32_to_bf16(0x%08x) = 0x%04x, want 0x%04x", cases[i].f, h, cases[i].h);
    }
    CHECK(ag_fp32_to_bf16(bitsf(0x7f800001u)) == 0x7fc0); /* signaling NaN is quieted */
    CHECK(ag_fp32_to_bf16(bitsf(0xff800001u)) == 0xffc0);
    CHECK(ag_fp32_to_bf16(bitsf(0x7fc00000u)) == 0x7fc0);
    CHECK(ag_fp32_to_bf16(bitsf(0x7fffffffu)) == 0x7fff);
    CHECK(ag_fp32_to_bf16(bitsf(0x7f80ffffu)) == 0x7fc0); /* payload only in the low half: still NaN */
    CHECK(ag_bf16_to_fp32(0x3f80) == 1.0f && ag_bf16_to_fp32(0x0001) == 0x1p-133f);
    CHECK(isnan(ag_bf16_to_fp32(0x7fc0)) && ag_bf16_to_fp32(0xff80) == -INFINITY);
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        const bool nan = (h & 0x7f80) == 0x7f80 && (h & 0x7f);
        const uint16_t back = ag_fp32_to_bf16(ag_bf16_to_fp32((uint16_t)h));
        if (nan ? back != (h | 0x40) : back != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d bf16 values do not round-trip", bad);
    rng r = {7};
    bad = 0;
    for (int i = 0; i < 1 << 20; i++) {
        uint32_t u = (uint32_t)rng_u64(&r);
        if (i & 1) u = (u & 0xffff0000u) | 0x8000u; /* every other one a tie */
        const float f = bitsf(u);
        if (isnan(f)) continue;
        if (ag_fp32_to_bf16(f) != nearest_bf16(f)) bad++;
    }
    CHECK_MSG(bad == 0, "%d f32 -> bf16 conversions not nearest-even", bad);
}

/* ===================================================================== tables */

static void test_traits_tables(void) {
    for (int i = 0; i < N_COMPUTED; i++) {
        const ag_type t = COMPUTED[i];
        const ag_type_traits *tr = ag_type_traits_ref(t);
        CHECK_MSG(tr->to_float && tr->from_float, "%s", ag_type_name(t));
    }
    for (int i = 0; i < N_WEIGHTS; i++) {
        const ag_type t = WEIGHTS[i];
        const ag_type_traits *tr = ag_type_traits_ref(t);
        CHECK_MSG(tr->vec_dot != NULL, "%s", ag_type_name(t));
        const ag_type want = is_float_type(t) ? t : (t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1) ? AG_TYPE_Q8_1 : AG_TYPE_Q8_0;
        CHECK_MSG(tr->vec_dot_type == want, "%s", ag_type_name(t));
        CHECK(ag_type_block_size(t) == (is_float_type(t) ? 1 : 32));
        /* the fast table agrees on what the type is */
        const ag_type_traits *fast = ag_type_traits_get(t);
        CHECK(fast->vec_dot && fast->vec_dot_type == tr->vec_dot_type && fast->to_float && fast->from_float);
    }
    CHECK(ag_type_traits_ref(AG_TYPE_Q8_1)->vec_dot == NULL);
    const ag_type none[] = {AG_TYPE_IQ2_XXS, AG_TYPE_IQ4_XS, AG_TYPE_IQ4_NL, AG_TYPE_I8, AG_TYPE_F64, AG_TYPE_MXFP4, (ag_type)4,
                            (ag_type)AG_TYPE_COUNT, (ag_type)1000};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        const ag_type_traits *a = ag_type_traits_ref(none[i]), *b = ag_type_traits_get(none[i]);
        CHECK(a && !a->to_float && !a->from_float && !a->vec_dot);
        CHECK(b && !b->to_float && !b->from_float && !b->vec_dot);
    }
    CHECK(ag_isa_supported(AG_ISA_REF));
    CHECK(!ag_isa_supported(AG_ISA_COUNT));
    CHECK(ag_type_traits_isa(AG_TYPE_Q4_0, AG_ISA_REF) == ag_type_traits_ref(AG_TYPE_Q4_0));
    /* the pick is the best supported variant */
    ag_isa best = AG_ISA_REF;
    for (int isa = 0; isa < AG_ISA_COUNT; isa++) {
        if (ag_isa_supported((ag_isa)isa)) best = (ag_isa)isa;
        fprintf(stderr, "  isa %-6s %s\n", ag_isa_name((ag_isa)isa), ag_isa_supported((ag_isa)isa) ? "yes" : "no");
    }
    for (int i = 0; i < N_WEIGHTS; i++)
        CHECK(ag_type_traits_get(WEIGHTS[i])->vec_dot == ag_type_traits_isa(WEIGHTS[i], best)->vec_dot);
#if defined(TEST_X86)
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bf16"))
        CHECK(ag_isa_supported(AG_ISA_AVX512));
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && have_f16c()) CHECK(ag_isa_supported(AG_ISA_AVX2));
#endif
}

/* ===================================================================== round trip */

typedef struct {
    ag_type type;
    double rmse_bound; /* relative RMSE bound on N(0,1) data */
    double max_k;      /* |x - y| <= max_k * |d| + 2^-10 * |m| per block (0: no check) */
} rt_case;

static void test_round_trip(void) {
    const rt_case cases[] = {
        {AG_TYPE_F32, 0.0, 0}, {AG_TYPE_F16, 2.2e-4, 0}, {AG_TYPE_BF16, 1.75e-3, 0},
        {AG_TYPE_Q8_0, 5.6e-3, 0.57}, {AG_TYPE_Q8_1, 5.6e-3, 0.57},
        {AG_TYPE_Q5_0, 4.5e-2, 1.01}, {AG_TYPE_Q5_1, 4.0e-2, 0.52},
        {AG_TYPE_Q4_0, 9.0e-2, 1.01}, {AG_TYPE_Q4_1, 8.2e-2, 0.52},
    };
    const int64_t n = 32 * 4096;
    float *x = xmalloc((size_t)n * sizeof(float)), *y = xmalloc((size_t)n * sizeof(float));
    rng r = {2024};
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&r);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ag_type t = cases[c].type;
        const ag_type_traits *tr = ag_type_traits_ref(t);
        const size_t bytes = ag_type_row_size(t, n);
        uint8_t *q = xmalloc(bytes);
        tr->from_float(x, q, n);
        tr->to_float(q, y, n);
        double se = 0, sx = 0;
        for (int64_t i = 0; i < n; i++) {
            se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
            sx += (double)x[i] * x[i];
        }
        const double rel = sqrt(se / sx);
        fprintf(stderr, "  round trip %-5s relative RMSE %.3e (bound %.1e)\n", ag_type_name(t), rel, cases[c].rmse_bound);
        CHECK_MSG(rel <= cases[c].rmse_bound, "%s: %g", ag_type_name(t), rel);
        if (cases[c].max_k > 0) {
            const size_t bs = ag_type_size(t);
            int bad = 0;
            for (int64_t b = 0; b < n / 32; b++) {
                const uint8_t *blk = q + (size_t)b * bs;
                const double d = fabs(ag_fp16_to_fp32(rd16(blk)));
                const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
                const double m = has_m ? fabs(ag_fp16_to_fp32(rd16(blk + 2))) : 0.0;
                for (int j = 0; j < 32; j++)
                    if (fabs((double)x[b * 32 + j] - y[b * 32 + j]) > cases[c].max_k * d + 0x1p-10 * m) bad++;
            }
            CHECK_MSG(bad == 0, "%s: %d elements beyond the per-block error bound", ag_type_name(t), bad);
        }
        free(q);
    }
    free(x);
    free(y);
}

/* ===================================================================== hand-made blocks */

static void check_bytes(const char *what, const uint8_t *got, const uint8_t *want, size_t n) {
    const bool same = memcmp(got, want, n) == 0;
    CHECK_MSG(same, "%s: bytes differ", what);
    if (!same) {
        fprintf(stderr, "  got: ");
        for (size_t i = 0; i < n; i++) fprintf(stderr, "%02x ", got[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", want[i]);
        fputc('\n', stderr);
    }
}

/* quantize 32 floats into t, compare with the expected block bytes */
static void check_block(const char *what, ag_type t, const float *x, const uint8_t *want) {
    const size_t bs = ag_type_size(t);
    uint8_t *got = xmalloc(bs);
    ag_type_traits_ref(t)->from_float(x, got, 32);
    check_bytes(what, got, want, bs);
    free(got);
}

static void test_blocks_q4(void) {
    float x[32], y[32];
    /* Q4_0: x = (j%16 - 8)/4: max = -2 (first of largest |x|), d = 0.25, q = j%16 */
    for (int j = 0; j < 32; j++) x[j] = (float)(j % 16 - 8) * 0.25f;
    const uint8_t q4_0_a[18] = {0x00, 0x34, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    check_block("Q4_0 ramp", AG_TYPE_Q4_0, x, q4_0_a);
    ag_type_traits_ref(AG_TYPE_Q4_0)->to_float(q4_0_a, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0);

    /* Q4_0: x = j: the positive max 31 gives d = 31/-8 = -3.875 and q = trunc(8.5 - 8j/31) */
    for (int j = 0; j < 32; j++) x[j] = (float)j;
    const uint8_t q4_0_b[18] = {0xc0, 0xc3, 0x48, 0x48, 0x37, 0x37, 0x37, 0x37, 0x26,
                                0x26, 0x26, 0x26, 0x15, 0x15, 0x15, 0x15, 0x04, 0x04};
    check_block("Q4_0 positive max", AG_TYPE_Q4_0, x, q4_0_b);
    ag_type_traits_ref(AG_TYPE_Q4_0)->to_float(q4_0_b, y, 32);
    CHECK(y[0] == 0.0f && y[31] == 31.0f && y[14] == 3.875f * 4 && y[16] == 3.875f * 4); /* q=4: -4*-3.875 */

    /* Q4_0: zeros -> d = 0 / -8 = -0 (f16 0x8000, as the GGUF reference writes it), codes 8,
     * dequantize to zeros */
    memset(x, 0, sizeof x);
    uint8_t q4_0_z[18];
    q4_0_z[0] = 0x00;
    q4_0_z[1] = 0x80;
    memset(q4_0_z + 2, 0x88, 16);
    check_block("Q4_0 zeros", AG_TYPE_Q4_0, x, q4_0_z);
    ag_type_traits_ref(AG_TYPE_Q4_0)->to_float(q4_0_z, y, 32);
    for (int j = 0; j < 32; j++) CHECK(y[j] == 0.0f);

    /* Q4_1: x = j/2 + 1: m = 1, d = 15.5/15 -> f16 0x3c22, q = round(0.48387 j) */
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.5f + 1.0f;
    const uint8_t q4_1_a[20] = {0x22, 0x3c, 0x00, 0x3c, 0x80, 0x80, 0x91, 0x91, 0xa2, 0xa2,
                                0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7};
    check_block("Q4_1 ramp", AG_TYPE_Q4_1, x, q4_1_a);
    ag_type_traits_ref(AG_TYPE_Q4_1)->to_float(q4_1_a, y, 32);
    const float d41 = ag_fp16_to_fp32(0x3c22);
    CHECK(y[0] == 1.0f && y[31] == 15.0f * d41 + 1.0f && y[17] == 8.0f * d41 + 1.0f);

    /* Q4_1: constant block -> d = 0, m = value, codes 0 */
    for (int j = 0; j < 32; j++) x[j] = -3.0f;
    uint8_t q4_1_c[20] = {0x00, 0x00, 0x00, 0xc2};
    memset(q4_1_c + 4, 0, 16);
    check_block("Q4_1 constant", AG_TYPE_Q4_1, x, q4_1_c);
}

static void test_blocks_q5(void) {
    float x[32], y[32];
    /* Q5_0: x = (j-16)/2: max = -8, d = 0.5, q = j; 5th bit set for j >= 16 */
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) * 0.5f;
    const uint8_t q5_0_a[22] = {0x00, 0x38, 0x00, 0x00, 0xff, 0xff, 0x00, 0x11, 0x22, 0x33, 0x44,
                                0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    check_block("Q5_0 ramp", AG_TYPE_Q5_0, x, q5_0_a);
    ag_type_traits_ref(AG_TYPE_Q5_0)->to_float(q5_0_a, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0);

    /* Q5_0 decode: qh = 0x80000001 sets the 5th bit of elements 0 and 31 only */
    const uint8_t q5_0_b[22] = {0x00, 0x3c, 0x01, 0x00, 0x00, 0x80};
    ag_type_traits_ref(AG_TYPE_Q5_0)->to_float(q5_0_b, y, 32);
    for (int j = 0; j < 32; j++) CHECK_MSG(y[j] == (j == 0 || j == 31 ? 0.0f : -16.0f), "j=%d: %g", j, (double)y[j]);

    /* Q5_1: x = j/4 - 2: m = -2, d = 7.75/31 = 0.25, q = j */
    for (int j = 0; j < 32; j++) x[j] = (float)j * 0.25f - 2.0f;
    const uint8_t q5_1_a[24] = {0x00, 0x34, 0x00, 0xc0, 0x00, 0x00, 0xff, 0xff, 0x00, 0x11, 0x22, 0x33,
                                0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    check_block("Q5_1 ramp", AG_TYPE_Q5_1, x, q5_1_a);
    ag_type_traits_ref(AG_TYPE_Q5_1)->to_float(q5_1_a, y, 32);
    CHECK(memcmp(x, y, sizeof x) == 0);

    /* Q5_1 decode: only element 16's 5th bit (qh bit 16) and element 16's low nibble (high nibble of qs[0]) */
    const uint8_t q5_1_b[24] = {0x00, 0x3c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x50};
    ag_type_traits_ref(AG_TYPE_Q5_1)->to_float(q5_1_b, y, 32);
    for (int j = 0; j < 32; j++) CHECK_MSG(y[j] == (j == 16 ? 21.0f : 0.0f), "j=%d: %g", j, (double)y[j]);
}

static void test_blocks_q8(void) {
    float x[32];
    /* amax 127 -> d = 1 exactly, so q = roundf(x): ties go away from zero */
    const float head[9] = {-127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, -1.51f, 100.7f, 126.4f};
    const int8_t qhead[9] = {-127, 3, -3, 1, -1, 1, -2, 101, 126};
    uint8_t want0[34] = {0x00, 0x3c}, want1[36] = {0x00, 0x3c, 0x30, 0x56}; /* s = 99 = 0x5630 */
    for (int j = 0; j < 32; j++) {
        x[j] = j < 9 ? head[j] : (float)(j - 20);
        const int8_t q = j < 9 ? qhead[j] : (int8_t)(j - 20);
        memcpy(want0 + 2 + j, &q, 1);
        memcpy(want1 + 4 + j, &q, 1);
    }
    check_block("Q8_0 rounding", AG_TYPE_Q8_0, x, want0);
    check_block("Q8_1 rounding", AG_TYPE_Q8_1, x, want1);

    /* one non-zero: d = 1/127 -> f16 0x2008, q = 127 */
    memset(x, 0, sizeof x);
    x[5] = 1.0f;
    uint8_t want2[34] = {0x08, 0x20};
    want2[2 + 5] = 127;
    check_block("Q8_0 single", AG_TYPE_Q8_0, x, want2);
    x[5] = -1.0f;
    uint8_t want3[36] = {0x08, 0x20, 0x00, 0xbc}; /* s = -127 * (1/127): -1 give or take 1 ulp -> f16 -1 */
    want3[4 + 5] = 0x81;
    check_block("Q8_1 single", AG_TYPE_Q8_1, x, want3);

    /* F16 / BF16 rows are element-wise */
    const float f[4] = {1.0f, -2.0f, 65504.0f, 1e-8f};
    uint16_t h[4];
    ag_type_traits_ref(AG_TYPE_F16)->from_float(f, h, 4);
    CHECK(h[0] == 0x3c00 && h[1] == 0xc000 && h[2] == 0x7bff && h[3] == 0x0000);
    ag_type_traits_ref(AG_TYPE_BF16)->from_float(f, h, 4);
    CHECK(h[0] == 0x3f80 && h[1] == 0xc000 && h[2] == 0x4780 && h[3] == 0x322c);
}

/* ===================================================================== dot products */

/* Parts of blocks the test reads directly (the GGUF layout, independent of quant_impl.h). */
static int block_code(ag_type t, const uint8_t *blk, int j) { /* the integer q_j of a block */
    switch (t) {
    case AG_TYPE_Q4_0: return (j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4) - 8;
    case AG_TYPE_Q4_1: return j < 16 ? blk[4 + j] & 15 : blk[4 + j - 16] >> 4;
    case AG_TYPE_Q5_0:
    case AG_TYPE_Q5_1: {
        const int o = t == AG_TYPE_Q5_0 ? 2 : 4;
        const int hi = (blk[o + j / 8] >> (j % 8)) & 1;
        const int lo = j < 16 ? blk[o + 4 + j] & 15 : blk[o + 4 + j - 16] >> 4;
        return (lo | hi << 4) - (t == AG_TYPE_Q5_0 ? 16 : 0);
    }
    case AG_TYPE_Q8_0: return (int8_t)blk[2 + j];
    case AG_TYPE_Q8_1: return (int8_t)blk[4 + j];
    default: return 0;
    }
}

static bool has_min(ag_type t) { return t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1; }

/* The dot as the block formula defines it, in double: sum_b d_w*d_a*sumi (+ m_w*s_a);
 * *mag gets the matching sum of absolute terms. */
static double formula_dot(ag_type t, ag_type vt, int64_t n, const uint8_t *w, const uint8_t *a, double *mag) {
    const size_t ws = ag_type_size(t), as = ag_type_size(vt);
    double s = 0, m = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *bw = w + (size_t)b * ws, *ba = a + (size_t)b * as;
        long sumi = 0, sumabs = 0;
        for (int j = 0; j < 32; j++) {
            const long p = (long)block_code(t, bw, j) * block_code(vt, ba, j);
            sumi += p;
            sumabs += labs(p);
        }
        const double dd = (double)ag_fp16_to_fp32(rd16(bw)) * ag_fp16_to_fp32(rd16(ba));
        s += dd * (double)sumi;
        m += fabs(dd) * (double)sumabs;
        if (has_min(t)) {
            const double ms = (double)ag_fp16_to_fp32(rd16(bw + 2)) * ag_fp16_to_fp32(rd16(ba + 2));
            s += ms;
            m += fabs(ms);
        }
    }
    *mag = m;
    return s;
}

/* Bound on |formula - dot of dequantized vectors| from s_a being d_a*sum(q_a) rounded to f16. */
static double s_rounding(ag_type t, ag_type vt, int64_t n, const uint8_t *w, const uint8_t *a) {
    if (!has_min(t)) return 0.0;
    const size_t ws = ag_type_size(t), as = ag_type_size(vt);
    double e = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        const uint8_t *bw = w + (size_t)b * ws, *ba = a + (size_t)b * as;
        long sq = 0;
        for (int j = 0; j < 32; j++) sq += block_code(vt, ba, j);
        const double exact = (double)ag_fp16_to_fp32(rd16(ba)) * (double)sq;
        e += fabs(ag_fp16_to_fp32(rd16(bw + 2))) * fabs(ag_fp16_to_fp32(rd16(ba + 2)) - exact);
    }
    return e;
}

typedef struct {
    double worst_vs_exact; /* largest |s - exact| / M seen */
    double worst_vs_ref;
} dot_stats;

/* Run every supported variant's vec_dot on (w, a) already in t / vt and check it. */
static void check_dot(const char *what, ag_type t, int64_t n, const void *wq, const void *aq, dot_stats *st) {
    const ag_type_traits *ref = ag_type_traits_ref(t);
    const ag_type vt = ref->vec_dot_type;
    float *wf = xmalloc((size_t)n * sizeof(float)), *af = xmalloc((size_t)n * sizeof(float));
    ref->to_float(wq, wf, n);
    ag_type_traits_ref(vt)->to_float(aq, af, n);
    double exact = 0, mag = 0;
    for (int64_t i = 0; i < n; i++) {
        exact += (double)wf[i] * af[i];
        mag += fabs((double)wf[i] * af[i]);
    }
    const bool fl = is_float_type(t);
    double extra = 0, fmag = 0, fexact = 0;
    if (!fl) {
        fexact = formula_dot(t, vt, n, wq, aq, &fmag);
        extra = s_rounding(t, vt, n, wq, aq) * 1.001;
        mag = mag > fmag ? mag : fmag;
    }
    /* float types: float accumulation over up to n terms; quantized: one float step per block */
    const double tol_exact = fl ? 1e-5 : 1e-6, tol_ref = fl ? 1e-5 : 1e-6;
    float sref = NAN;
    ref->vec_dot(n, &sref, wq, aq);
    for (int isa = 0; isa < AG_ISA_COUNT; isa++) {
        const ag_type_traits *tr = ag_type_traits_isa(t, (ag_isa)isa);
        if (!tr) continue;
        float s = NAN;
        tr->vec_dot(n, &s, wq, aq);
        const double e1 = fabs((double)s - exact), e2 = fabs((double)s - sref);
        CHECK_MSG(e1 <= tol_exact * mag + extra, "%s %s/%s n=%lld: %.9g vs exact %.9g (M %.3g, extra %.3g)", what,
                  ag_type_name(t), ag_isa_name((ag_isa)isa), (long long)n, (double)s, exact, mag, extra);
        CHECK_MSG(e2 <= tol_ref * mag, "%s %s/%s n=%lld: %.9g vs ref %.9g (M %.3g)", what, ag_type_name(t),
                  ag_isa_name((ag_isa)isa), (long long)n, (double)s, (double)sref, mag);
        if (!fl) {
            const double e3 = fabs((double)s - fexact);
            CHECK_MSG(e3 <= 1e-6 * mag, "%s %s/%s n=%lld: %.9g vs formula %.9g (M %.3g)", what, ag_type_name(t),
                      ag_isa_name((ag_isa)isa), (long long)n, (double)s, fexact, mag);
        }
        if (st && mag > 0) {
            if ((e1 - extra) / mag > st->worst_vs_exact) st->worst_vs_exact = (e1 - extra) / mag;
            if (e2 / mag > st->worst_vs_ref) st->worst_vs_ref = e2 / mag;
        }
        if (mag == 0) CHECK_MSG(s == 0.0f, "%s %s/%s n=%lld: %g, want 0", what, ag_type_name(t), ag_isa_name((ag_isa)isa),
                                (long long)n, (double)s);
    }
    free(wf);
    free(af);
}

/* Quantize float rows w and a to t / vec_dot_type(t) with the reference, then check_dot. */
static void dot_case(const char *what, ag_type t, int64_t n, const float *w, const float *a, dot_stats *st) {
    const ag_type_traits *ref = ag_type_traits_ref(t);
    const ag_type vt = ref->vec_dot_type;
    void *wq = xmalloc(ag_type_row_size(t, n)), *aq = xmalloc(ag_type_row_size(vt, n));
    ref->from_float(w, wq, n);
    ag_type_traits_ref(vt)->from_float(a, aq, n);
    check_dot(what, t, n, wq, aq, st);
    free(wq);
    free(aq);
}

static void test_vec_dot_random(void) {
    const int64_t flen[] = {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 256, 1000, 4096, 4099};
    const int64_t qlen[] = {32, 64, 96, 256, 4096, 4128};
    const int64_t nmax = 4128;
    float *w = xmalloc(nmax * sizeof(float)), *a = xmalloc(nmax * sizeof(float));
    rng r = {99};
    for (int i = 0; i < N_WEIGHTS; i++) {
        const ag_type t = WEIGHTS[i];
        const bool fl = is_float_type(t);
        const int64_t *lens = fl ? flen : qlen;
        const int nlen = fl ? (int)(sizeof flen / sizeof flen[0]) : (int)(sizeof qlen / sizeof qlen[0]);
        dot_stats st = {0, 0};
        for (int li = 0; li < nlen; li++) {
            const int64_t n = lens[li];
            for (int rep = 0; rep < 3; rep++) {
                for (int64_t k = 0; k < n; k++) {
                    w[k] = rng_normal(&r);
                    a[k] = rng_normal(&r) * (rep == 2 ? 0.01f : 1.0f) + (rep == 1 ? 0.5f : 0.0f);
                }
                dot_case("random", t, n, w, a, &st);
            }
        }
        fprintf(stderr, "  vec_dot %-5s worst |s-exact|/M %.2e, worst |s-ref|/M %.2e\n", ag_type_name(t),
                st.worst_vs_exact, st.worst_vs_ref);
    }
    free(w);
    free(a);
}

static void test_vec_dot_edges(void) {
    const int64_t n = 256;
    float w[256], a[256];
    rng r = {5};
    for (int i = 0; i < N_WEIGHTS; i++) {
        const ag_type t = WEIGHTS[i];
        /* all zeros (weights, then activations): exactly 0 */
        for (int k = 0; k < n; k++) {
            w[k] = 0.0f;
            a[k] = rng_normal(&r);
        }
        dot_case("zero weights", t, n, w, a, NULL);
        dot_case("zero activations", t, n, a, w, NULL);
        dot_case("zero both", t, n, w, w, NULL);
        /* one huge value in each row (still finite in f16) */
        for (int k = 0; k < n; k++) {
            w[k] = rng_normal(&r);
            a[k] = rng_normal(&r);
        }
        w[37] = 30000.0f;
        a[200] = -20000.0f;
        dot_case("huge value", t, n, w, a, NULL);
        /* scales that round to f16 subnormals (and rows that mix them with normal blocks) */
        for (int k = 0; k < n; k++) {
            w[k] = rng_normal(&r) * (k < 128 ? 1e-6f : 1.0f);
            a[k] = rng_normal(&r) * (k >= 64 ? 1e-4f : 1.0f);
        }
        dot_case("subnormal d", t, n, w, a, NULL);
        /* activations so small their Q8 scale is 0 in f16 */
        for (int k = 0; k < n; k++) a[k] = rng_normal(&r) * 1e-9f;
        dot_case("zero d", t, n, w, a, NULL);
        /* constant rows (Q4_1/Q5_1 blocks with d = 0, m != 0) */
        for (int k = 0; k < n; k++) {
            w[k] = 0.75f;
            a[k] = -1.25f;
        }
        dot_case("constant", t, n, w, a, NULL);
    }
}

/* Raw blocks with every code value (int8 -128 included) and arbitrary scales: the SIMD integer
 * paths must give the reference's exact block sums. */
static void test_vec_dot_raw_blocks(void) {
    rng r = {31337};
    const int64_t lens[] = {32, 64, 96, 160, 1024};
    for (int i = 0; i < N_WEIGHTS; i++) {
        const ag_type t = WEIGHTS[i];
        if (is_float_type(t)) continue;
        const ag_type vt = ag_type_traits_ref(t)->vec_dot_type;
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int64_t n = lens[li];
            const size_t wb = ag_type_row_size(t, n), ab = ag_type_row_size(vt, n);
            uint8_t *w = xmalloc(wb), *a = xmalloc(ab);
            for (int rep = 0; rep < 4; rep++) {
                for (size_t k = 0; k < wb; k++) w[k] = (uint8_t)rng_u64(&r);
                for (size_t k = 0; k < ab; k++) a[k] = (uint8_t)rng_u64(&r);
                if (rep == 1) /* extremes: all -128 activations */
                    for (int64_t b = 0; b < n / 32; b++) memset(a + (size_t)b * ag_type_size(vt) + (vt == AG_TYPE_Q8_1 ? 4 : 2), 0x80, 32);
                if (rep == 2 && t == AG_TYPE_Q8_0) /* -128 times -128 everywhere */
                    for (int64_t b = 0; b < n / 32; b++) {
                        memset(w + (size_t)b * 34 + 2, 0x80, 32);
                        memset(a + (size_t)b * 34 + 2, 0x80, 32);
                    }
                /* scales: random f16 of moderate size (finite) */
                const size_t ws = ag_type_size(t), as = ag_type_size(vt);
                for (int64_t b = 0; b < n / 32; b++) {
                    const int nf = has_min(t) ? 2 : 1;
                    for (int f = 0; f < nf; f++) {
                        const uint16_t h = ag_fp32_to_fp16(rng_normal(&r) * 0.05f);
                        memcpy(w + (size_t)b * ws + 2 * f, &h, 2);
                        const uint16_t g = ag_fp32_to_fp16(rng_normal(&r) * (f ? 4.0f : 0.02f));
                        memcpy(a + (size_t)b * as + 2 * f, &g, 2);
                    }
                }
                /* the s of Q8_1 is then just a number: compare with the formula, not the dequantized dot */
                float sref = NAN;
                ag_type_traits_ref(t)->vec_dot(n, &sref, w, a);
                double mag = 0;
                const double fexact = formula_dot(t, vt, n, w, a, &mag);
                CHECK_MSG(fabs((double)sref - fexact) <= 1e-6 * mag, "raw %s ref n=%lld: %.9g vs %.9g", ag_type_name(t),
                          (long long)n, (double)sref, fexact);
                for (int isa = 1; isa < AG_ISA_COUNT; isa++) {
                    const ag_type_traits *tr = ag_type_traits_isa(t, (ag_isa)isa);
                    if (!tr) continue;
                    float s = NAN;
                    tr->vec_dot(n, &s, w, a);
                    CHECK_MSG(fabs((double)s - fexact) <= 1e-6 * mag && fabs((double)s - sref) <= 1e-6 * mag,
                              "raw %s %s n=%lld rep %d: %.9g vs formula %.9g, ref %.9g", ag_type_name(t),
                              ag_isa_name((ag_isa)isa), (long long)n, rep, (double)s, fexact, (double)sref);
                }
            }
            free(w);
            free(a);
        }
    }
}

/* ===================================================================== GGUF reference files */

/* Just enough of a GGUF reader for this test: tensor name -> type, element count, data. */
typedef struct {
    uint8_t *buf;
    size_t size;
    size_t data; /* offset of the tensor data section */
    int n_tensors;
    struct { char name[96]; uint32_t type; int64_t n; uint64_t off; } t[64];
} mini_gguf;

typedef struct {
    const uint8_t *p;
    size_t n, off;
    bool bad;
} cursor;

static uint64_t cur_le(cursor *c, int bytes) {
    if (c->off + (size_t)bytes > c->n) {
        c->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)c->p[c->off + (size_t)i] << (8 * i);
    c->off += (size_t)bytes;
    return v;
}

static void cur_str(cursor *c, char *out, size_t cap) {
    const uint64_t len = cur_le(c, 8);
    if (c->bad || len > c->n - c->off) {
        c->bad = true;
        return;
    }
    if (out) {
        const size_t k = len < cap - 1 ? (size_t)len : cap - 1;
        memcpy(out, c->p + c->off, k);
        out[k] = 0;
    }
    c->off += (size_t)len;
}

static uint64_t cur_value(cursor *c, uint32_t type) { /* skips a value; returns integers */
    static const int width[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) cur_str(c, NULL, 0);
    else if (type == 9) {
        const uint32_t et = (uint32_t)cur_le(c, 4);
        const uint64_t count = cur_le(c, 8);
        for (uint64_t i = 0; i < count && !c->bad; i++) cur_value(c, et);
    } else if (type < 13) return cur_le(c, width[type]);
    else c->bad = true;
    return 0;
}

static bool mini_gguf_load(mini_gguf *g, const char *path) {
    memset(g, 0, sizeof *g);
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    fseek(f, 0, SEEK_END);
    const long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    g->buf = xmalloc((size_t)size);
    g->size = (size_t)size;
    const bool read_ok = fread(g->buf, 1, g->size, f) == g->size;
    fclose(f);
    cursor c = {g->buf, g->size, 0, !read_ok};
    if (cur_le(&c, 4) != 0x46554747u || cur_le(&c, 4) < 2) return false; /* "GGUF", version */
    const uint64_t nt = cur_le(&c, 8), nkv = cur_le(&c, 8);
    uint64_t align = 32;
    for (uint64_t i = 0; i < nkv && !c.bad; i++) {
        char key[96];
        cur_str(&c, key, sizeof key);
        const uint32_t type = (uint32_t)cur_le(&c, 4);
        const uint64_t v = cur_value(&c, type);
        if (strcmp(key, "general.alignment") == 0) align = v;
    }
    if (nt > 64 || align == 0) return false;
    for (uint64_t i = 0; i < nt && !c.bad; i++) {
        cur_str(&c, g->t[i].name, sizeof g->t[i].name);
        const uint32_t nd = (uint32_t)cur_le(&c, 4);
        g->t[i].n = 1;
        for (uint32_t d = 0; d < nd && d < 8; d++) g->t[i].n *= (int64_t)cur_le(&c, 8);
        g->t[i].type = (uint32_t)cur_le(&c, 4);
        g->t[i].off = cur_le(&c, 8);
    }
    g->n_tensors = (int)nt;
    g->data = (c.off + align - 1) / align * align;
    for (int i = 0; i < g->n_tensors && !c.bad; i++)
        if (!ag_type_valid(g->t[i].type) || g->data + g->t[i].off + ag_type_row_size(g->t[i].type, g->t[i].n) > g->size) c.bad = true;
    return !c.bad;
}

static int mini_gguf_find(const mini_gguf *g, const char *name) {
    for (int i = 0; i < g->n_tensors; i++)
        if (strcmp(g->t[i].name, name) == 0) return i;
    return -1;
}

/* The reference files were quantized by the GGUF reference implementation from the same
 * weights as the F16 file: quantizing the F16 values with our reference must give the same
 * bytes, block for block. */
static void test_gguf_reference_bytes(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/models/tiny256-f16.gguf", ag_test_shared_dir());
    mini_gguf *src = xmalloc(sizeof *src), *q = xmalloc(sizeof *q);
    if (!mini_gguf_load(src, path)) {
        fprintf(stderr, "  (%s not readable: skipped)\n", path);
        free(src->buf);
        free(src);
        free(q);
        return;
    }
    const char *files[] = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        snprintf(path, sizeof path, "%s/reference/models/tiny256-%s.gguf", ag_test_shared_dir(), files[fi]);
        const bool ok = mini_gguf_load(q, path);
        CHECK_MSG(ok, "%s", path);
        const int qt = ag_type_from_name(files[fi]);
        long blocks = 0, differ = 0;
        for (int i = 0; ok && i < q->n_tensors; i++) {
            if ((int)q->t[i].type != qt) continue;
            const int si = mini_gguf_find(src, q->t[i].name);
            CHECK_MSG(si >= 0 && src->t[si].type == AG_TYPE_F16 && src->t[si].n == q->t[i].n, "%s", q->t[i].name);
            if (si < 0) continue;
            const int64_t n = q->t[i].n;
            float *x = xmalloc((size_t)n * sizeof(float));
            const size_t bytes = ag_type_row_size((ag_type)qt, n), bs = ag_type_size((ag_type)qt);
            uint8_t *mine = xmalloc(bytes);
            ag_type_traits_ref(AG_TYPE_F16)->to_float(src->buf + src->data + src->t[si].off, x, n);
            ag_type_traits_ref((ag_type)qt)->from_float(x, mine, n);
            const uint8_t *theirs = q->buf + q->data + q->t[i].off;
            for (size_t b = 0; b < bytes / bs; b++, blocks++)
                if (memcmp(mine + b * bs, theirs + b * bs, bs) != 0) differ++;
            free(x);
            free(mine);
        }
        fprintf(stderr, "  %s: %ld blocks, %ld differ\n", files[fi], blocks, differ);
        CHECK_MSG(blocks > 0 && differ == 0, "%s: %ld of %ld blocks differ from the reference file", files[fi], differ, blocks);
        free(q->buf);
    }
    free(src->buf);
    free(src);
    free(q);
}

TEST_MAIN(TEST(test_fp16_known), TEST(test_fp16_exhaustive), TEST(test_fp16_vs_hardware), TEST(test_bf16),
          TEST(test_traits_tables), TEST(test_round_trip), TEST(test_blocks_q4), TEST(test_blocks_q5),
          TEST(test_blocks_q8), TEST(test_vec_dot_random), TEST(test_vec_dot_edges), TEST(test_vec_dot_raw_blocks),
          TEST(test_gguf_reference_bytes))
