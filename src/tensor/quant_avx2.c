/*
 * quant_avx2.c - AVX2 + FMA + F16C dot products (x86 only) and their trait table. Every
 * function carries its own target attribute, so the file builds without -march flags; quant.c
 * checks the CPU before handing any of them out.
 *
 * Integer kernels widen so no intermediate can saturate, whatever the int8 inputs (-128
 * included): each block's integer sum equals the reference's exactly, and only the order of
 * the float accumulation of the per-block terms differs.
 */
#include "tensor/quant_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AG_AVX2 __attribute__((target("avx2,fma,f16c")))

AG_AVX2 static inline float hsum_f32x8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

AG_AVX2 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* 8 bf16 -> 8 f32: the bf16 bits are the high half of the f32 bits */
AG_AVX2 static inline __m256 bf16x8_to_f32(const uint16_t *p) {
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* 16 packed bytes -> 32 codes 0..15: bytes 0..15 low nibbles (elements 0..15), bytes 16..31
 * high nibbles (elements 16..31) */
AG_AVX2 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0f));
}

/* bit j of qh -> byte j = 0x10 when set, 0 otherwise (j = 0..31) */
AG_AVX2 static inline __m256i qh_to_bit4(const uint8_t qh[4]) {
    const uint32_t v = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf); /* byte j = qh byte j/8 */
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);              /* byte j: 1 << (j%8) */
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* sum of (u[i] - off) * s[i] over 32 bytes as 8 int32 lanes; u in 0..31, off in {0,8,16} */
AG_AVX2 static inline __m256i dot_u8_i8_off(__m256i u, __m256i s, int off) {
    __m256i p = _mm256_maddubs_epi16(u, s); /* |pair| <= 2*31*128: no saturation */
    if (off) p = _mm256_sub_epi16(p, _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), s));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* sum of x[i] * y[i] over 32 signed bytes as 8 int32 lanes (widened: exact for -128 too) */
AG_AVX2 static inline __m256i dot_i8_i8(const int8_t *x, const int8_t *y) {
    const __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x));
    const __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + 16)));
    const __m256i y0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)y));
    const __m256i y1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(y + 16)));
    return _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1));
}

/* ---- float types */

AG_AVX2 static void vec_dot_f32(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const float *x = w, *y = a;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) // acc += w[i..]*a[i..]
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc[0]);
    float sumf = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++) sumf += x[i] * y[i]; // s = sum_i w[i]*a[i]
    *s = sumf;
}

AG_AVX2 static void vec_dot_f16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) // acc += f32(w[i..])*f32(a[i..])
        for (int k = 0; k < 2; k++) {
            const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k)));
            const __m256 yv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(xv, yv, acc[k]);
        }
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        const __m256 yv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        acc[0] = _mm256_fmadd_ps(xv, yv, acc[0]);
    }
    float sumf = hsum_f32x8(_mm256_add_ps(acc[0], acc[1]));
    for (; i < n; i++) sumf += h2f(x[i]) * h2f(y[i]); // s = sum_i f32(w[i])*f32(a[i])
    *s = sumf;
}

AG_AVX2 static void vec_dot_bf16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) // acc += f32(w[i..])*f32(a[i..])
        for (int k = 0; k < 2; k++)
            acc[k] = _mm256_fmadd_ps(bf16x8_to_f32(x + i + 8 * k), bf16x8_to_f32(y + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(bf16x8_to_f32(x + i), bf16x8_to_f32(y + i), acc[0]);
    float sumf = hsum_f32x8(_mm256_add_ps(acc[0], acc[1]));
    for (; i < n; i++) sumf += ag_bf16_to_fp32(x[i]) * ag_bf16_to_fp32(y[i]);
    *s = sumf;
}

/* ---- quantized types: one block (32 elements) per step */

AG_AVX2 static void vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q8_0 *x = w, *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / AG_QK; b++) { // s += (sum_j q_w[j]*q_a[j]) * d_w*d_a
        const __m256i sumi = dot_i8_i8(x[b].qs, y[b].qs);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
    }
    *s = hsum_f32x8(acc);
}

AG_AVX2 static void vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_0 *x = w;
    const ag_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / AG_QK; b++) { // s += (sum_j (q_w[j]-8)*q_a[j]) * d_w*d_a
        const __m256i q = unpack_nibbles(x[b].qs);
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 8);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
    }
    *s = hsum_f32x8(acc);
}

AG_AVX2 static void vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_1 *x = w;
    const ag_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) { // s += d_w*d_a*(sum_j q_w[j]*q_a[j]) + m_w*s_a
        const __m256i q = unpack_nibbles(x[b].qs);
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 0);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
        summ += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = hsum_f32x8(acc) + summ;
}

AG_AVX2 static void vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_0 *x = w;
    const ag_block_q8_0 *y = a;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / AG_QK; b++) { // s += (sum_j (q_w[j]-16)*q_a[j]) * d_w*d_a
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[b].qs), qh_to_bit4(x[b].qh));
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 16);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
    }
    *s = hsum_f32x8(acc);
}

AG_AVX2 static void vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_1 *x = w;
    const ag_block_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.0f;
    for (int64_t b = 0; b < n / AG_QK; b++) { // s += d_w*d_a*(sum_j q_w[j]*q_a[j]) + m_w*s_a
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[b].qs), qh_to_bit4(x[b].qh));
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 0);
        const __m256 d = _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi), d, acc);
        summ += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = hsum_f32x8(acc) + summ;
}

#define ENTRY(T, VT, DOT) {ag_ref_to_float_##T, ag_ref_from_float_##T, VT, DOT}

static const ag_type_traits AVX2[AG_TYPE_COUNT] = {
    [AG_TYPE_F32] = ENTRY(f32, AG_TYPE_F32, vec_dot_f32),
    [AG_TYPE_F16] = ENTRY(f16, AG_TYPE_F16, vec_dot_f16),
    [AG_TYPE_BF16] = ENTRY(bf16, AG_TYPE_BF16, vec_dot_bf16),
    [AG_TYPE_Q4_0] = ENTRY(q4_0, AG_TYPE_Q8_0, vec_dot_q4_0_q8_0),
    [AG_TYPE_Q4_1] = ENTRY(q4_1, AG_TYPE_Q8_1, vec_dot_q4_1_q8_1),
    [AG_TYPE_Q5_0] = ENTRY(q5_0, AG_TYPE_Q8_0, vec_dot_q5_0_q8_0),
    [AG_TYPE_Q5_1] = ENTRY(q5_1, AG_TYPE_Q8_1, vec_dot_q5_1_q8_1),
    [AG_TYPE_Q8_0] = ENTRY(q8_0, AG_TYPE_Q8_0, vec_dot_q8_0_q8_0),
};

const ag_type_traits *ag_traits_avx2(ag_type type) {
    if ((uint32_t)type >= (uint32_t)AG_TYPE_COUNT || !AVX2[type].vec_dot) return NULL;
    return &AVX2[type];
}

#else /* not x86 */

const ag_type_traits *ag_traits_avx2(ag_type type) {
    (void)type;
    return NULL;
}

#endif
