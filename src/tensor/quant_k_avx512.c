/*
 * quant_k_avx512.c - AVX-512 (F, BW, VL) dot products of the K-quant weight types (Q2_K..Q6_K)
 * against Q8_K activations (x86 only) and their trait table. Every function carries its own
 * target attribute; quant.c checks the CPU first.
 *
 * As in quant_k_avx2.c, codes are decoded into unsigned bytes u (Q3_K: q + 4, Q6_K: q + 32),
 * multiplied with the activations by VPMADDUBSW and by the group scales with VPMADDWD, now 64
 * elements per instruction. Each 16-bit lane of the products covers 2 elements, so the scale
 * vector gets one scale per lane by VPERMW from the block's 16 (or 8) scales: lane i of a
 * 64-element chunk starting at group g0 takes group g0 + i/8 (groups of 16) or g0 + 2(i/16)
 * (Q4_K/Q5_K, whose chunks hold groups g0 and g0 + 2). Offsets and mins are removed through the
 * activations' bsums, so each block's integer sums equal the reference's and the per-block float
 * operations are the reference's: results are identical to it.
 */
#include "tensor/quant_k_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

AG_AVX512 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

AG_AVX512 static inline __m512i load64(const void *p) { return _mm512_loadu_si512(p); }
AG_AVX512 static inline __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* lo in bytes 0..31, hi in bytes 32..63 */
AG_AVX512 static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* 16-bit lane i -> i/8 (groups of 16) and -> 2*(i/16) (Q4_K/Q5_K chunks) */
static const int16_t IDX16[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                  2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
static const int16_t IDX32[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                  2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};

/* sum over 64 elements of u*a, scaled per lane: 16 i32 lanes. idx + g0 picks the scales. */
AG_AVX512 static inline __m512i dot64_scaled(__m512i u, __m512i a, __m512i scales16, __m512i idx, int g0) {
    const __m512i sc = _mm512_permutexvar_epi16(_mm512_add_epi16(idx, _mm512_set1_epi16((short)g0)), scales16);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(u, a), sc);
}

/* sum_g sc16[g] * bsums[g] over 16 groups (sc16: i16 scales in the low 256 bits) */
AG_AVX512 static inline int scaled_bsums16(__m512i sc16, const int16_t bsums[16]) {
    const __m256i p = _mm256_madd_epi16(_mm512_castsi512_si256(sc16), load32(bsums));
    return _mm512_reduce_add_epi32(_mm512_zextsi256_si512(p));
}

/* the 16-byte scales as i16 in the low 256 bits, zero above */
AG_AVX512 static inline __m512i scales16_i8(const int8_t *sc) {
    return _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)sc)));
}

/* low 2-bit codes of half h of Q2_K/Q3_K: u01 = elements 128h + 0..63, u23 = 128h + 64..127 */
AG_AVX512 static inline void codes2(const uint8_t *qs, __m512i *u01, __m512i *u23) {
    const __m256i raw = load32(qs);
    const __m512i v = join(raw, _mm256_srli_epi16(raw, 2));
    *u01 = _mm512_and_si512(v, _mm512_set1_epi8(3));
    *u23 = _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(3));
}

/* ---- Q2_K */
AG_AVX512 static void vec_dot_q2_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q2_k *x = w;
    const ag_block_q8_k *y = a;
    const __m512i idx = _mm512_loadu_si512(IDX16);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const __m128i scb = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m512i sc16 = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(scb, _mm_set1_epi8(15))));
        const __m512i m16 = _mm512_zextsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(scb, 4), _mm_set1_epi8(15))));
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i u01, u23;
            codes2(x[b].qs + 32 * h, &u01, &u23);
            acc = _mm512_add_epi32(acc, dot64_scaled(u01, load64(y[b].qs + 128 * h), sc16, idx, 8 * h));
            acc = _mm512_add_epi32(acc, dot64_scaled(u23, load64(y[b].qs + 128 * h + 64), sc16, idx, 8 * h + 4));
        }
        const int summs = scaled_bsums16(m16, y[b].bsums);
        sumf += y[b].d * h2f(x[b].d) * (float)_mm512_reduce_add_epi32(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---- Q3_K: u = low | high bit << 2 = q + 4 */
AG_AVX512 static void vec_dot_q3_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q3_k *x = w;
    const ag_block_q8_k *y = a;
    const __m512i idx = _mm512_loadu_si512(IDX16), four = _mm512_set1_epi8(4);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        uint64_t lo, hi;
        ag_k3_scales_u64(x[b].scales, &lo, &hi);
        const __m128i sc8 = _mm_sub_epi8(_mm_set_epi64x((long long)hi, (long long)lo), _mm_set1_epi8(32));
        const __m512i sc16 = _mm512_zextsi256_si512(_mm256_cvtepi8_epi16(sc8));
        const __m256i hm = load32(x[b].hmask);
        const __m512i hmv = join(hm, _mm256_srli_epi16(hm, 1)); /* high half: bit s+1 moved to bit s */
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m512i u01, u23;
            codes2(x[b].qs + 32 * h, &u01, &u23);
            u01 = _mm512_mask_add_epi8(u01, _mm512_test_epi8_mask(hmv, _mm512_set1_epi8((char)(1 << (4 * h)))), u01, four);
            u23 = _mm512_mask_add_epi8(u23, _mm512_test_epi8_mask(hmv, _mm512_set1_epi8((char)(4 << (4 * h)))), u23, four);
            acc = _mm512_add_epi32(acc, dot64_scaled(u01, load64(y[b].qs + 128 * h), sc16, idx, 8 * h));
            acc = _mm512_add_epi32(acc, dot64_scaled(u23, load64(y[b].qs + 128 * h + 64), sc16, idx, 8 * h + 4));
        }
        const int isum = _mm512_reduce_add_epi32(acc) - 4 * scaled_bsums16(sc16, y[b].bsums);
        sumf += h2f(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

/* ---- Q4_K / Q5_K: chunk c of 64 packed bytes holds groups 4c, 4c+2 (low nibbles) and 4c+1,
 * 4c+3 (high nibbles); the matching activations are gathered into one register each */
/* Q4_K/Q5_K scales as i16 (low 128 bits of sc16), and sum_g m[g] * (bsums[2g] + bsums[2g+1]) */
AG_AVX512 static inline __m512i k4_scales(const uint8_t s[12], const int16_t bsums[16], int *summs) {
    uint64_t sc, m;
    ag_k4_scales_u64(s, &sc, &m);
    const __m128i m8 = _mm_cvtsi64_si128((long long)m);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)); /* m[g] at lanes 2g, 2g+1 */
    *summs = _mm512_reduce_add_epi32(_mm512_zextsi256_si512(_mm256_madd_epi16(m16, load32(bsums))));
    return _mm512_zextsi256_si512(_mm256_zextsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc))));
}

AG_AVX512 static void vec_dot_q4_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_k *x = w;
    const ag_block_q8_k *y = a;
    const __m512i idx = _mm512_loadu_si512(IDX32), m4 = _mm512_set1_epi8(15);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        int summs;
        const __m512i sc16 = k4_scales(x[b].scales, y[b].bsums, &summs);
        __m512i acc = _mm512_setzero_si512();
        for (int c = 0; c < 2; c++) {
            const __m512i raw = load64(x[b].qs + 64 * c);
            const int8_t *q8 = y[b].qs + 128 * c;
            const __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
            acc = _mm512_add_epi32(acc, dot64_scaled(lo, join(load32(q8), load32(q8 + 64)), sc16, idx, 4 * c));
            acc = _mm512_add_epi32(acc, dot64_scaled(hi, join(load32(q8 + 32), load32(q8 + 96)), sc16, idx, 4 * c + 1));
        }
        sumf += y[b].d * h2f(x[b].d) * (float)_mm512_reduce_add_epi32(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

AG_AVX512 static void vec_dot_q5_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_k *x = w;
    const ag_block_q8_k *y = a;
    const __m512i idx = _mm512_loadu_si512(IDX32), m4 = _mm512_set1_epi8(15), sixteen = _mm512_set1_epi8(16);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        int summs;
        const __m512i sc16 = k4_scales(x[b].scales, y[b].bsums, &summs);
        const __m256i qh = load32(x[b].qh);
        const __m512i qhv = join(qh, _mm256_srli_epi16(qh, 2)); /* high half: pair 2c+1's bits moved to 2c's */
        __m512i acc = _mm512_setzero_si512();
        for (int c = 0; c < 2; c++) {
            const __m512i raw = load64(x[b].qs + 64 * c);
            const int8_t *q8 = y[b].qs + 128 * c;
            __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
            lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qhv, _mm512_set1_epi8((char)(1 << (4 * c)))), lo, sixteen);
            hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qhv, _mm512_set1_epi8((char)(2 << (4 * c)))), hi, sixteen);
            acc = _mm512_add_epi32(acc, dot64_scaled(lo, join(load32(q8), load32(q8 + 64)), sc16, idx, 4 * c));
            acc = _mm512_add_epi32(acc, dot64_scaled(hi, join(load32(q8 + 32), load32(q8 + 96)), sc16, idx, 4 * c + 1));
        }
        sumf += y[b].d * h2f(x[b].d) * (float)_mm512_reduce_add_epi32(acc) - y[b].d * h2f(x[b].dmin) * (float)summs;
    }
    *s = sumf;
}

/* ---- Q6_K: u = 4 low bits | 2 high bits << 4 = q + 32 */
AG_AVX512 static void vec_dot_q6_k(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q6_k *x = w;
    const ag_block_q8_k *y = a;
    const __m512i idx = _mm512_loadu_si512(IDX16), m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        const __m512i sc16 = scales16_i8(x[b].scales);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i ql = load64(x[b].ql + 64 * h);
            const __m256i qh = load32(x[b].qh + 32 * h);
            const __m512i qhv = join(qh, _mm256_srli_epi16(qh, 2));
            const __m512i u01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(qhv, m2), 4));
            const __m512i u23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
                                                _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(qhv, 4), m2), 4));
            acc = _mm512_add_epi32(acc, dot64_scaled(u01, load64(y[b].qs + 128 * h), sc16, idx, 8 * h));
            acc = _mm512_add_epi32(acc, dot64_scaled(u23, load64(y[b].qs + 128 * h + 64), sc16, idx, 8 * h + 4));
        }
        const int isum = _mm512_reduce_add_epi32(acc) - 32 * scaled_bsums16(sc16, y[b].bsums);
        sumf += h2f(x[b].d) * y[b].d * (float)isum;
    }
    *s = sumf;
}

#define ENTRY(T) {ag_ref_to_float_##T, ag_ref_from_float_##T, AG_TYPE_Q8_K, vec_dot_##T}

static const ag_type_traits AVX512_K[] = {
    [AG_TYPE_Q2_K - AG_TYPE_Q2_K] = ENTRY(q2_k), [AG_TYPE_Q3_K - AG_TYPE_Q2_K] = ENTRY(q3_k),
    [AG_TYPE_Q4_K - AG_TYPE_Q2_K] = ENTRY(q4_k), [AG_TYPE_Q5_K - AG_TYPE_Q2_K] = ENTRY(q5_k),
    [AG_TYPE_Q6_K - AG_TYPE_Q2_K] = ENTRY(q6_k),
};

const ag_type_traits *ag_traits_k_avx512(ag_type type) {
    if (type < AG_TYPE_Q2_K || type > AG_TYPE_Q6_K) return NULL;
    return &AVX512_K[type - AG_TYPE_Q2_K];
}

#else /* not x86 */

const ag_type_traits *ag_traits_k_avx512(ag_type type) {
    (void)type;
    return NULL;
}

#endif
