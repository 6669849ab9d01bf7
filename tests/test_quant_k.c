/*
 * test_quant_k.c - the K-quant kernels (Q2_K..Q6_K weights, Q8_K activations): known blocks
 * decoded by hand, round-trip error bounds, every SIMD vec_dot against the scalar reference,
 * the dot products against the dequantized values, and our quantizer's bytes against the
 * reference implementation's files (tiny256-q*_k*.gguf, quantized from tiny256-f16.gguf).
 */
#include <stdint.h>

#include "gguf/gguf.h"
#include "tensor/quant.h"
#include "test.h"

static const ag_type KTYPES[] = {AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K};
#define N_KTYPES ((int)(sizeof KTYPES / sizeof KTYPES[0]))

typedef struct { uint64_t s; } rng;

static uint64_t rng_u64(rng *r) { /* xorshift64* */
    r->s ^= r->s >> 12, r->s ^= r->s << 25, r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(rng *r) { return (double)(rng_u64(r) >> 11) * 0x1p-53; } /* [0, 1) */

static float rng_normal(rng *r) { /* Box-Muller */
    const double u = rng_unit(r) + 0x1p-60, v = rng_unit(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

static void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* ---------------------------------------------------------------- known blocks */

/* Blocks built byte by byte, a few elements decoded by hand from the layouts in
 * quant_k_impl.h. d = 1.0 (0x3c00), 0.5 is 0x3800. */
static void expect(const char *what, ag_type t, const uint8_t *blk, const int *idx, const float *want, int n) {
    float y[256];
    ag_type_traits_ref(t)->to_float(blk, y, 256);
    for (int i = 0; i < n; i++) CHECK_MSG(y[idx[i]] == want[i], "%s[%d] = %g, want %g", what, idx[i], y[idx[i]], want[i]);
}

static void test_known_blocks(void) {
    uint8_t q2[84], q3[110], q4[144], q5[176], q6[210], q8[292];
    /* Q2_K: group g has sc = g, m = 15 - g; qs bytes 0xe4 -> code s in sub-block s; dmin 0.5
     * y = d*sc*q - dmin*m */
    for (int g = 0; g < 16; g++) q2[g] = (uint8_t)(g | (15 - g) << 4);
    memset(q2 + 16, 0xe4, 64);
    wr16(q2 + 80, 0x3c00), wr16(q2 + 82, 0x3800);
    expect("Q2_K", AG_TYPE_Q2_K, q2, (const int[]){0, 32, 80, 240}, (const float[]){-7.5f, -4.5f, 5.0f, 45.0f}, 4);
    /* Q3_K: low nibbles 1 (groups 0..7) / 2 (8..15), high bits 2 for groups 0..3, else 0:
     * scales 1, -31, -30, -30 per 4 groups; hmask 0x0f: high bit set in the first half
     * y = d*sc*(low - (high ? 0 : 4)) */
    memset(q3, 0x0f, 32);
    memset(q3 + 32, 0xe4, 64);
    memset(q3 + 96, 0x21, 8);
    memset(q3 + 104, 0x02, 4);
    wr16(q3 + 108, 0x3c00);
    expect("Q3_K", AG_TYPE_Q3_K, q3, (const int[]){0, 96, 64, 160, 255}, (const float[]){0.0f, -93.0f, -62.0f, 90.0f, 30.0f}, 5);
    /* Q4_K: scales bytes -> (sc, m): g0 (1, 5), g2 (3, 7), g4 (26, 41), g5 (12, 11); qs 0x37: code 7 in
     * even groups, 3 in odd ones; y = d*sc*q - dmin*m with d = dmin = 1 */
    const uint8_t sc12[12] = {0x41, 0x02, 0x03, 0x04, 0x85, 0x06, 0x07, 0x08, 0x9a, 0xbc, 0xde, 0xf0};
    wr16(q4, 0x3c00), wr16(q4 + 2, 0x3c00);
    memcpy(q4 + 4, sc12, 12);
    memset(q4 + 16, 0x37, 128);
    expect("Q4_K", AG_TYPE_Q4_K, q4, (const int[]){0, 64, 128, 160}, (const float[]){2.0f, 14.0f, 141.0f, 25.0f}, 4);
    /* Q5_K: the same with qh 0x05: 5th bit in groups 0 and 2 */
    wr16(q5, 0x3c00), wr16(q5 + 2, 0x3c00);
    memcpy(q5 + 4, sc12, 12);
    memset(q5 + 16, 0x05, 32);
    memset(q5 + 48, 0x37, 128);
    expect("Q5_K", AG_TYPE_Q5_K, q5, (const int[]){0, 64, 128, 160}, (const float[]){18.0f, 62.0f, 141.0f, 25.0f}, 4);
    /* Q6_K: ql 0x21 (low nibble 1, high 2), qh 0xe4 (high bits s in sub-block s), scales g - 8
     * y = d*sc*(q - 32) */
    memset(q6, 0x21, 128);
    memset(q6 + 128, 0xe4, 64);
    for (int g = 0; g < 16; g++) q6[192 + g] = (uint8_t)(int8_t)(g - 8);
    wr16(q6 + 208, 0x3c00);
    expect("Q6_K", AG_TYPE_Q6_K, q6, (const int[]){0, 32, 64, 112, 224}, (const float[]){248.0f, 90.0f, -8.0f, -18.0f, 108.0f}, 5);
    /* Q8_K: d 0.5 (f32), qs j - 128 */
    const float half = 0.5f;
    memcpy(q8, &half, 4);
    for (int j = 0; j < 256; j++) q8[4 + j] = (uint8_t)(j - 128);
    expect("Q8_K", AG_TYPE_Q8_K, q8, (const int[]){0, 128, 255}, (const float[]){-64.0f, 0.0f, 63.5f}, 3);
}

/* Quantize -> dequantize of normal data: RMS error relative to the data's RMS under a bound per
 * type; zero input stays zero; Q8_K's bsums are the sums of its codes. */
static void test_round_trip(void) {
    rng r = {0x0123456789abcdefULL};
    const int64_t n = 256 * 64;
    float *x = xmalloc((size_t)n * sizeof(float)), *y = xmalloc((size_t)n * sizeof(float));
    uint8_t *q = xmalloc(ag_type_row_size(AG_TYPE_Q8_K, n));
    for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&r);
    const ag_type types[] = {AG_TYPE_Q2_K, AG_TYPE_Q3_K, AG_TYPE_Q4_K, AG_TYPE_Q5_K, AG_TYPE_Q6_K, AG_TYPE_Q8_K};
    const double bound[] = {0.33, 0.17, 0.08, 0.04, 0.02, 0.008};
    for (int ti = 0; ti < 6; ti++) {
        const ag_type_traits *tr = ag_type_traits_ref(types[ti]);
        tr->from_float(x, q, n);
        tr->to_float(q, y, n);
        double e2 = 0.0, x2 = 0.0;
        for (int64_t i = 0; i < n; i++) e2 += (double)(y[i] - x[i]) * (y[i] - x[i]), x2 += (double)x[i] * x[i];
        const double rel = sqrt(e2 / x2);
        fprintf(stderr, "  %s: relative RMS error %.4f\n", ag_type_name(types[ti]), rel);
        CHECK_MSG(rel < bound[ti], "%s: %.4f", ag_type_name(types[ti]), rel);
        float z[256] = {0}, zy[256];
        tr->from_float(z, q, 256);
        tr->to_float(q, zy, 256);
        for (int i = 0; i < 256; i++) CHECK_MSG(zy[i] == 0.0f, "%s of zeros: %g", ag_type_name(types[ti]), zy[i]);
    }
    ag_type_traits_ref(AG_TYPE_Q8_K)->from_float(x, q, n);
    for (int64_t b = 0; b < n / 256; b++) {
        const uint8_t *blk = q + b * 292;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += (int8_t)blk[4 + 16 * g + j];
            CHECK(sum == (int16_t)(blk[260 + 2 * g] | blk[261 + 2 * g] << 8));
        }
    }
    free(x);
    free(y);
    free(q);
}

/* ---------------------------------------------------------------- reference files */

/* Quantizing the F16 weights with our reference quantizer must give the reference file's
 * bytes for every tensor of a K type. */
static void test_reference_bytes(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/models/tiny256-f16.gguf", ag_test_shared_dir());
    ag_gguf_file *src = ag_gguf_open(path, NULL);
    if (!src) {
        fprintf(stderr, "  (%s not readable: skipped)\n", path);
        return;
    }
    const char *files[] = {"q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k"};
    long blocks[AG_TYPE_COUNT] = {0}, differ[AG_TYPE_COUNT] = {0};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        snprintf(path, sizeof path, "%s/reference/models/tiny256-%s.gguf", ag_test_shared_dir(), files[fi]);
        ag_gguf_file *q = ag_gguf_open(path, NULL);
        CHECK_MSG(q != NULL, "%s", path);
        for (int64_t i = 0; q && i < ag_gguf_tensor_count(q); i++) {
            const ag_gguf_tensor *t = ag_gguf_tensor_at(q, i);
            if (t->type < AG_TYPE_Q2_K || t->type > AG_TYPE_Q6_K) continue;
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.data);
            const ag_gguf_tensor *s = ag_gguf_find_tensor(src, name);
            CHECK_MSG(s && s->type == AG_TYPE_F16 && s->ne[0] == t->ne[0] && s->ne[1] == t->ne[1], "%s", name);
            if (!s) continue;
            const int64_t n = t->ne[0] * t->ne[1];
            const size_t bs = ag_type_size(t->type);
            float *x = xmalloc((size_t)n * sizeof(float));
            uint8_t *mine = xmalloc(ag_type_row_size(t->type, n));
            ag_type_traits_ref(AG_TYPE_F16)->to_float(s->data, x, n);
            ag_type_traits_ref(t->type)->from_float(x, mine, n);
            long d = 0;
            for (int64_t b = 0; b < n / 256; b++)
                if (memcmp(mine + b * bs, (const uint8_t *)t->data + b * bs, bs) != 0) d++;
            blocks[t->type] += n / 256;
            differ[t->type] += d;
            if (d) fprintf(stderr, "  %s %s (%s): %ld of %lld blocks differ\n", files[fi], name, ag_type_name(t->type), d, (long long)(n / 256));
            free(x);
            free(mine);
        }
        ag_gguf_close(q);
    }
    for (int i = 0; i < N_KTYPES; i++) {
        const ag_type t = KTYPES[i];
        fprintf(stderr, "  %s: %ld blocks, %ld differ\n", ag_type_name(t), blocks[t], differ[t]);
        CHECK_MSG(blocks[t] > 0 && differ[t] == 0, "%s: %ld of %ld blocks differ from the reference files", ag_type_name(t),
                  differ[t], blocks[t]);
    }
    ag_gguf_close(src);
}

/* ---------------------------------------------------------------- dot products */

/* sum_i w[i]*a[i] of the dequantized rows, in double */
static double dequant_dot(ag_type t, int64_t n, const void *wq, const void *aq) {
    float *wf = xmalloc((size_t)n * sizeof(float)), *af = xmalloc((size_t)n * sizeof(float));
    ag_type_traits_ref(t)->to_float(wq, wf, n);
    ag_type_traits_ref(AG_TYPE_Q8_K)->to_float(aq, af, n);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)wf[i] * af[i];
    free(wf);
    free(af);
    return s;
}

/* Every variant against the reference on rows quantized from x (weights) and v (activations):
 * the integer sums are exact, so the results must be identical; the reference must match the
 * dot product of the dequantized values to float rounding. */
static void check_dots(const char *what, ag_type t, int64_t n, const float *x, const float *v) {
    const ag_type_traits *ref = ag_type_traits_ref(t);
    CHECK(ref->vec_dot_type == AG_TYPE_Q8_K);
    uint8_t *wq = xmalloc(ag_type_row_size(t, n)), *aq = xmalloc(ag_type_row_size(AG_TYPE_Q8_K, n));
    ref->from_float(x, wq, n);
    ag_type_traits_ref(AG_TYPE_Q8_K)->from_float(v, aq, n);
    float sref = 0.0f;
    ref->vec_dot(n, &sref, wq, aq);
    const double exact = dequant_dot(t, n, wq, aq);
    double mag = 0.0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)x[i] * v[i]);
    CHECK_MSG(fabs(sref - exact) <= 1e-5 * mag + 1e-30, "%s %s n=%lld: ref %.9g vs dequantized %.9g", what, ag_type_name(t),
              (long long)n, sref, exact);
    for (int isa = 1; isa < AG_ISA_COUNT; isa++) {
        const ag_type_traits *tr = ag_type_traits_isa(t, (ag_isa)isa);
        if (!tr) continue;
        float sv = 0.0f;
        tr->vec_dot(n, &sv, wq, aq);
        CHECK_MSG(sv == sref || fabs(sv - sref) <= 1e-6 * mag, "%s %s %s n=%lld: %.9g vs ref %.9g", what, ag_type_name(t),
                  ag_isa_name((ag_isa)isa), (long long)n, sv, sref);
    }
    free(wq);
    free(aq);
}

static void test_vec_dot_variants(void) {
    rng r = {0x1234567887654321ULL};
    const int64_t sizes[] = {256, 512, 768, 4096};
    for (int ti = 0; ti < N_KTYPES; ti++)
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int64_t n = sizes[si];
            float *x = xmalloc((size_t)n * sizeof(float)), *v = xmalloc((size_t)n * sizeof(float));
            for (int rep = 0; rep < 8; rep++) {
                const float scale = rep == 0 ? 1.0f : (float)pow(10.0, (double)(rep % 5) - 2.0);
                for (int64_t i = 0; i < n; i++) {
                    x[i] = scale * rng_normal(&r);
                    v[i] = rng_normal(&r);
                }
                if (rep == 5) /* outliers: a few large values per block */
                    for (int64_t i = 0; i < n; i += 97) x[i] *= 50.0f, v[i] *= -30.0f;
                if (rep == 6) /* one sign only, so the mins matter */
                    for (int64_t i = 0; i < n; i++) x[i] = fabsf(x[i]) + 0.5f;
                if (rep == 7) /* zero groups and zero blocks */
                    for (int64_t i = 0; i < n; i++)
                        if ((i / 16) % 3 == 0 || i < 256) x[i] = 0.0f;
                check_dots("random", KTYPES[ti], n, x, v);
            }
            free(x);
            free(v);
        }
}

/* Raw random bytes (any code, any scale bits, d as small finite halves): variants equal the
 * reference, which equals the dequantized dot product. */
static void test_vec_dot_raw_blocks(void) {
    rng r = {0xdeadbeefcafef00dULL};
    const int64_t n = 1024;
    for (int ti = 0; ti < N_KTYPES; ti++) {
        const ag_type t = KTYPES[ti];
        const size_t wbytes = ag_type_row_size(t, n), bs = ag_type_size(t);
        uint8_t *wq = xmalloc(wbytes), *aq = xmalloc(ag_type_row_size(AG_TYPE_Q8_K, n));
        float *v = xmalloc((size_t)n * sizeof(float));
        for (int rep = 0; rep < 50; rep++) {
            for (size_t i = 0; i < wbytes; i++) wq[i] = (uint8_t)rng_u64(&r);
            for (size_t b = 0; b < wbytes / bs; b++) { /* d, dmin: halves in [2^-10, 2^-6) */
                uint8_t *blk = wq + b * bs;
                const uint16_t h1 = (uint16_t)(0x1400 | (rng_u64(&r) & 0x0fff)), h2 = (uint16_t)(0x1400 | (rng_u64(&r) & 0x0fff));
                if (t == AG_TYPE_Q4_K || t == AG_TYPE_Q5_K) wr16(blk, h1), wr16(blk + 2, h2);
                else if (t == AG_TYPE_Q2_K) wr16(blk + 80, h1), wr16(blk + 82, h2);
                else wr16(blk + bs - 2, h1);
            }
            for (int64_t i = 0; i < n; i++) v[i] = rng_normal(&r) * (rep % 2 ? 1.0f : 100.0f);
            ag_type_traits_ref(AG_TYPE_Q8_K)->from_float(v, aq, n);
            if (rep == 1) /* activations of -128 (not produced by the quantizer, allowed in blocks) */
                for (size_t b = 0; b < (size_t)n / 256; b++) {
                    uint8_t *blk = aq + b * 292;
                    for (int j = 0; j < 256; j++) blk[4 + j] = 0x80;
                    for (int g = 0; g < 16; g++) wr16(blk + 260 + 2 * g, (uint16_t)(int16_t)(-128 * 16));
                }
            float sref = 0.0f;
            ag_type_traits_ref(t)->vec_dot(n, &sref, wq, aq);
            const double exact = dequant_dot(t, n, wq, aq);
            CHECK_MSG(fabs(sref - exact) <= 1e-4 * (fabs(exact) + 1.0), "raw %s: ref %.9g vs dequantized %.9g", ag_type_name(t), sref, exact);
            for (int isa = 1; isa < AG_ISA_COUNT; isa++) {
                const ag_type_traits *tr = ag_type_traits_isa(t, (ag_isa)isa);
                if (!tr) continue;
                float sv = 0.0f;
                tr->vec_dot(n, &sv, wq, aq);
                CHECK_MSG(sv == sref, "raw %s %s: %.9g vs ref %.9g", ag_type_name(t), ag_isa_name((ag_isa)isa), sv, sref);
            }
        }
        free(wq);
        free(aq);
        free(v);
    }
}

static void test_traits(void) {
    for (int i = 0; i < N_KTYPES; i++) {
        const ag_type_traits *ref = ag_type_traits_ref(KTYPES[i]), *fast = ag_type_traits_get(KTYPES[i]);
        CHECK(ref->to_float && ref->from_float && ref->vec_dot && ref->vec_dot_type == AG_TYPE_Q8_K);
        CHECK(fast->to_float && fast->from_float && fast->vec_dot && fast->vec_dot_type == AG_TYPE_Q8_K);
        CHECK(ag_type_block_size(KTYPES[i]) == 256);
        for (int isa = 0; isa < AG_ISA_COUNT; isa++)
            if (ag_isa_supported((ag_isa)isa)) CHECK(ag_type_traits_isa(KTYPES[i], (ag_isa)isa)->vec_dot != NULL);
    }
    ag_isa best = AG_ISA_REF; /* the pick is the best supported variant */
    for (int isa = 0; isa < AG_ISA_COUNT; isa++)
        if (ag_isa_supported((ag_isa)isa)) best = (ag_isa)isa;
    for (int i = 0; i < N_KTYPES; i++) CHECK(ag_type_traits_get(KTYPES[i])->vec_dot == ag_type_traits_isa(KTYPES[i], best)->vec_dot);
    const ag_type_traits *q8k = ag_type_traits_get(AG_TYPE_Q8_K);
    CHECK(q8k->to_float && q8k->from_float && q8k->vec_dot == NULL);
    CHECK(ag_type_size(AG_TYPE_Q8_K) == 292);
}

TEST_MAIN(TEST(test_traits), TEST(test_known_blocks), TEST(test_round_trip), TEST(test_vec_dot_variants), TEST(test_vec_dot_raw_blocks), TEST(test_reference_bytes))
