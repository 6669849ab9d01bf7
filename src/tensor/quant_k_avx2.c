/*
 * quant_k_avx2.c - AVX2 dot products of the K-quant weight types (Q2_K..Q6_K) against Q8_K
 * activations (x86 only) and their trait table. Every function carries its own target
 * attribute, so the file builds without -march flags; quant.c checks the CPU first.
 *
 * Per block, 32 codes at a time are decoded into unsigned bytes u (Q3_K: q + 4, Q6_K: q + 32)
 * and multiplied with the activations by VPMADDUBSW (u8 x i8 -> pairs summed to i16; u <= 63,
 * so no pair saturates), then by the group scales with VPMADDWD (i16 x i16 -> i32). In a 32-byte
 * register the low 128 bits hold elements 0..15 and the high 128 bits 16..31, so groups of 16
 * get one scale per 128-bit lane. The offsets and the mins are removed through the activations'
 * group sums (bsums). Each block's integer sums therefore equal the reference's exactly, and
 * the per-block float operations are the reference's: results are identical to it.
 */
#include "tensor/quant_k_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AG_AVX2 __attribute__((target("avx2,fma,f16c")))

AG_AVX2 static inline int hsum_i32x8(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
    return _mm_cvtsi128_si32(x);
}

AG_AVX2 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

AG_AVX2 static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* i16 scale vector: lo for the low 128-bit lane (elements 0..15), hi for the high one */
AG_AVX2 static inline __m256i scales_2x16(int lo, int hi) {
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

/* sum over 32 elements of u*a, scaled per 16-element half: 8 i32 lanes */
AG_AVX2 static inline __m256i dot32_scaled(__m256i u, const int8_t *a, __m256i scales) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, load32(a)), scales);
}

/* bits s..s+1 of every byte (s even) */
AG_AVX2 static inline __m256i bits2(__m256i v, int s) {
    return _mm256_and_si256(_mm256_srl_epi16(v, _mm_cvtsi32_si128(s)), _mm256_set1_epi8(3));
}

/* byte = val where (byte of v) & bit, else 0 */
AG_AVX2 static inline __m256i bit_to(__m256i v, int bit, int val) {
    const __m256i b = _mm256_set1_epi8((char)bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, b), b), _mm256_set1_epi8((char)val));
}

/* sum_g sc[g] * bsums[g] over the 16 groups of 16 */
static inline int scaled_bsums16(const int8_t sc[16], const int16_t bsums[16]) {
    int s = 0;
    for (int g = 0; g < 16; g++) s += sc[g] * bsums[g];
    return s;
}

/* ---- Q2_K: u = q (0..3); s += d_a*d*sum sc*dot - d_a*dmin*sum m*bsum */
AG_AVX2 static void vec_dot_q2_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q2_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const uint8_t *sc = x[b].scales;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i raw = load32(x[b].qs + 32 * h);
            for (int sh = 0; sh < 4; sh++) { // elements 128h + 32sh + 0..31, groups g, g+1
                const int g = 8 * h + 2 * sh;
                acc = _mm256_add_epi32(acc, dot32_scaled(bits2(raw, 2 * sh), y[b].qs + 16 * g,
                                                         scales_2x16(sc[g] & 15, sc[g + 1] & 15)));
            }
        }
        int summs = 0;
        for (int g = 0; g < 16; g++) summs += (sc[g] >> 4) * y[b].bsums[g];
        sumf += y[b].d * h2f(x[b].d) * (float)hsum_i32x8(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---- Q3_K: u = q + 4 (low 2 bits | high bit << 2); the 4 removed through bsums */
AG_AVX2 static void vec_dot_q3_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q3_k *x = w;
    const ag_block_q8_k *y = a;
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint64_t lo, hi;
        ag_k3_scales_u64(x[b].scales, &lo, &hi);
        int8_t sc[16];
        for (int g = 0; g < 8; g++) {
            sc[g] = (int8_t)((int)((lo >> (8 * g)) & 63) - 32);
            sc[g + 8] = (int8_t)((int)((hi >> (8 * g)) & 63) - 32);
        }
        const __m256i hm = load32(x[b].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i raw = load32(x[b].qs + 32 * h);
            for (int sh = 0; sh < 4; sh++) {
                const int g = 8 * h + 2 * sh;
                const __m256i u = _mm256_or_si256(bits2(raw, 2 * sh), bit_to(hm, 1 << (4 * h + sh), 4));
                acc = _mm256_add_epi32(acc, dot32_scaled(u, y[b].qs + 16 * g, scales_2x16(sc[g], sc[g + 1])));
            }
        }
        const int isum = hsum_i32x8(acc) - 4 * scaled_bsums16(sc, y[b].bsums);
        sumf += h2f(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

/* ---- Q4_K: u = q (0..15), groups of 32 */
AG_AVX2 static void vec_dot_q4_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_k *x = w;
    const ag_block_q8_k *y = a;
    const __m256i m4 = _mm256_set1_epi8(15);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        __m256i acc = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) { // elements 64p + 0..31 (low nibbles), 64p + 32..63 (high)
            const __m256i raw = load32(x[b].qs + 32 * p);
            const __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            acc = _mm256_add_epi32(acc, dot32_scaled(lo, y[b].qs + 64 * p, _mm256_set1_epi16(sc[2 * p])));
            acc = _mm256_add_epi32(acc, dot32_scaled(hi, y[b].qs + 64 * p + 32, _mm256_set1_epi16(sc[2 * p + 1])));
        }
        int summs = 0;
        for (int g = 0; g < 8; g++) summs += m[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        sumf += y[b].d * h2f(x[b].d) * (float)hsum_i32x8(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---- Q5_K: u = q (0..31), the 5th bit of element 64p + 32t + l is bit 2p+t of qh[l] */
AG_AVX2 static void vec_dot_q5_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_k *x = w;
    const ag_block_q8_k *y = a;
    const __m256i m4 = _mm256_set1_epi8(15);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint8_t sc[8], m[8];
        ag_k4_scales(x[b].scales, sc, m);
        const __m256i qh = load32(x[b].qh);
        __m256i acc = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i raw = load32(x[b].qs + 32 * p);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(raw, m4), bit_to(qh, 1 << (2 * p), 16));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), bit_to(qh, 2 << (2 * p), 16));
            acc = _mm256_add_epi32(acc, dot32_scaled(lo, y[b].qs + 64 * p, _mm256_set1_epi16(sc[2 * p])));
            acc = _mm256_add_epi32(acc, dot32_scaled(hi, y[b].qs + 64 * p + 32, _mm256_set1_epi16(sc[2 * p + 1])));
        }
        int summs = 0;
        for (int g = 0; g < 8; g++) summs += m[g] * (y[b].bsums[2 * g] + y[b].bsums[2 * g + 1]);
        sumf += y[b].d * h2f(x[b].d) * (float)hsum_i32x8(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---- Q6_K: u = q + 32 (4 low bits | 2 high bits << 4); the 32 removed through bsums */
AG_AVX2 static void vec_dot_q6_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q6_k *x = w;
    const ag_block_q8_k *y = a;
    const __m256i m4 = _mm256_set1_epi8(15);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const int8_t *sc = x[b].scales;
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = load32(x[b].ql + 64 * h), ql1 = load32(x[b].ql + 64 * h + 32);
            const __m256i qh = load32(x[b].qh + 32 * h);
            const __m256i low[4] = {_mm256_and_si256(ql0, m4), _mm256_and_si256(ql1, m4),
                                    _mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                    _mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4)};
            for (int sh = 0; sh < 4; sh++) { // elements 128h + 32sh + 0..31
                const int g = 8 * h + 2 * sh;
                const __m256i u = _mm256_or_si256(low[sh], _mm256_slli_epi16(bits2(qh, 2 * sh), 4));
                acc = _mm256_add_epi32(acc, dot32_scaled(u, y[b].qs + 16 * g, scales_2x16(sc[g], sc[g + 1])));
            }
        }
        const int isum = hsum_i32x8(acc) - 32 * scaled_bsums16(sc, y[b].bsums);
        sumf += h2f(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

#define ENTRY(T) {ag_ref_to_float_##T, ag_ref_from_float_##T, AG_TYPE_Q8_K, vec_dot_##T}

static const ag_type_traits AVX2_K[] = {
    [AG_TYPE_Q2_K - AG_TYPE_Q2_K] = ENTRY(q2_k), [AG_TYPE_Q3_K - AG_TYPE_Q2_K] = ENTRY(q3_k),
    [AG_TYPE_Q4_K - AG_TYPE_Q2_K] = ENTRY(q4_k), [AG_TYPE_Q5_K - AG_TYPE_Q2_K] = ENTRY(q5_k),
    [AG_TYPE_Q6_K - AG_TYPE_Q2_K] = ENTRY(q6_k),
};

const ag_type_traits *ag_traits_k_avx2(ag_type type) {
    if (type < AG_TYPE_Q2_K || type > AG_TYPE_Q6_K) return NULL;
    return &AVX2_K[type - AG_TYPE_Q2_K];
}

#else /* not x86 */

const ag_type_traits *ag_traits_k_avx2(ag_type type) {
    (void)type;
    return NULL;
}

#endif
