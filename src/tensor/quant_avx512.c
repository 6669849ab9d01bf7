/*
 * quant_avx512.c - AVX-512 (F, BW, VL, VNNI, BF16) dot products (x86 only) and their trait
 * table. Every function carries its own target attribute, so the file builds without -march
 * flags; quant.c checks the CPU before handing any of them out.
 *
 * Quantized kernels take two blocks per 512-bit step (a last odd block goes through the
 * 256-bit forms) and use VPDPBUSD (u8 x i8, 4 products summed into i32, no saturation).
 * Signed weights are offset into unsigned range and the offset removed again
 * ((w+128)*a - 128*a), so each block's integer sum is exact for every int8 input.
 *
 * BF16 uses VDPBF16PS, which treats bf16 subnormal inputs and subnormal results as zero; this
 * only matters for sums below ~1e-38.
 */
#include "tensor/quant_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512bf16")))

AG_AVX512 static inline float hsum_f32x8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

AG_AVX512 static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* lanes 0..7 = lo, lanes 8..15 = hi */
AG_AVX512 static inline __m512 scale_x2(float lo, float hi) {
    return _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(lo), _mm512_set1_ps(hi));
}

AG_AVX512 static inline __m512i load_32x2(const void *p0, const void *p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p0)),
                              _mm256_loadu_si256((const __m256i *)p1), 1);
}

/* 16 packed bytes -> 32 codes 0..15 (elements 0..15 low nibbles, then 16..31 high nibbles) */
AG_AVX512 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
}

AG_AVX512 static inline __m512i unpack_nibbles_x2(const uint8_t *qs0, const uint8_t *qs1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(unpack_nibbles(qs0)), unpack_nibbles(qs1), 1);
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* byte j = 0x10 where bit j of the 5th-bit mask is set */
AG_AVX512 static inline __m256i qh_to_bit4(const uint8_t qh[4]) {
    return _mm256_maskz_mov_epi8((__mmask32)load_qh(qh), _mm256_set1_epi8(0x10));
}

AG_AVX512 static inline __m512i qh_to_bit4_x2(const uint8_t qh0[4], const uint8_t qh1[4]) {
    const __mmask64 m = (__mmask64)load_qh(qh0) | (__mmask64)load_qh(qh1) << 32;
    return _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(0x10));
}

/* sum of (u[i] - off) * s[i] per 4 bytes, u unsigned, s signed */
AG_AVX512 static inline __m512i dot_u8_i8_off_x2(__m512i u, __m512i s, int off) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u, s);
    if (off) p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)off), s));
    return p;
}

AG_AVX512 static inline __m256i dot_u8_i8_off(__m256i u, __m256i s, int off) {
    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
    if (off) p = _mm256_sub_epi32(p, _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), s));
    return p;
}

/* signed x signed: (x+128) is x with the top bit flipped, read unsigned */
AG_AVX512 static inline __m512i dot_i8_i8_x2(__m512i x, __m512i y) {
    return dot_u8_i8_off_x2(_mm512_xor_si512(x, _mm512_set1_epi8((char)0x80)), y, 128);
}

AG_AVX512 static inline __m256i dot_i8_i8(__m256i x, __m256i y) {
    return dot_u8_i8_off(_mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)), y, 128);
}

/* ---- float types */

AG_AVX512 static void vec_dot_f32(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const float *x = w, *y = a;
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) // acc += w[i..]*a[i..]
        for (int k = 0; k < 4; k++)
            acc[k] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16 * k), _mm512_loadu_ps(y + i + 16 * k), acc[k]);
    for (; i + 16 <= n; i += 16) acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc[0]);
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        acc[1] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc[1]);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

AG_AVX512 static void vec_dot_f16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) // acc += f32(w[i..])*f32(a[i..])
        for (int k = 0; k < 2; k++) {
            const __m512 xv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i + 16 * k)));
            const __m512 yv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(y + i + 16 * k)));
            acc[k] = _mm512_fmadd_ps(xv, yv, acc[k]);
        }
    for (; i < n; i += 16) { /* the last step may be partial: masked loads read zeros */
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        const __m512 yv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i));
        acc[0] = _mm512_fmadd_ps(xv, yv, acc[0]);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

AG_AVX512 static void vec_dot_bf16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    __m512 acc[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) // acc[j] += w[2j]*a[2j] + w[2j+1]*a[2j+1]
        for (int k = 0; k < 2; k++) {
            const __m512i xv = _mm512_loadu_si512(x + i + 32 * k);
            const __m512i yv = _mm512_loadu_si512(y + i + 32 * k);
            acc[k] = _mm512_dpbf16_ps(acc[k], (__m512bh)xv, (__m512bh)yv);
        }
    for (; i < n; i += 32) { /* the last step may be partial: masked loads read zeros */
        const __mmask32 m = n - i >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (n - i)) - 1u);
        const __m512i xv = _mm512_maskz_loadu_epi16(m, x + i);
        const __m512i yv = _mm512_maskz_loadu_epi16(m, y + i);
        acc[0] = _mm512_dpbf16_ps(acc[0], (__m512bh)xv, (__m512bh)yv);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
}

/* ---- quantized types: two blocks per 512-bit step, a last odd block in 256 bits */

AG_AVX512 static void vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q8_0 *x = w, *y = a;
    const int64_t nb = n / AG_QK;
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { // s += (sum_j q_w[j]*q_a[j]) * d_w*d_a, per block
        const __m512i sumi = dot_i8_i8_x2(load_32x2(x[b].qs, x[b + 1].qs), load_32x2(y[b].qs, y[b + 1].qs));
        const __m512 d = scale_x2(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc);
    }
    __m256 acc8 = _mm256_setzero_ps();
    if (b < nb) {
        const __m256i sumi = dot_i8_i8(_mm256_loadu_si256((const __m256i *)x[b].qs),
                                       _mm256_loadu_si256((const __m256i *)y[b].qs));
        acc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)));
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8);
}

AG_AVX512 static void vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_0 *x = w;
    const ag_block_q8_0 *y = a;
    const int64_t nb = n / AG_QK;
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { // s += (sum_j (q_w[j]-8)*q_a[j]) * d_w*d_a, per block
        const __m512i q = unpack_nibbles_x2(x[b].qs, x[b + 1].qs);
        const __m512i sumi = dot_u8_i8_off_x2(q, load_32x2(y[b].qs, y[b + 1].qs), 8);
        const __m512 d = scale_x2(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc);
    }
    __m256 acc8 = _mm256_setzero_ps();
    if (b < nb) {
        const __m256i sumi = dot_u8_i8_off(unpack_nibbles(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs), 8);
        acc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)));
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8);
}

AG_AVX512 static void vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q4_1 *x = w;
    const ag_block_q8_1 *y = a;
    const int64_t nb = n / AG_QK;
    __m512 acc = _mm512_setzero_ps();
    float summ = 0.0f;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { // s += d_w*d_a*(sum_j q_w[j]*q_a[j]) + m_w*s_a, per block
        const __m512i q = unpack_nibbles_x2(x[b].qs, x[b + 1].qs);
        const __m512i sumi = dot_u8_i8_off_x2(q, load_32x2(y[b].qs, y[b + 1].qs), 0);
        const __m512 d = scale_x2(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc);
        summ += h2f(x[b].m) * h2f(y[b].s) + h2f(x[b + 1].m) * h2f(y[b + 1].s);
    }
    __m256 acc8 = _mm256_setzero_ps();
    if (b < nb) {
        const __m256i sumi = dot_u8_i8_off(unpack_nibbles(x[b].qs), _mm256_loadu_si256((const __m256i *)y[b].qs), 0);
        acc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)));
        summ += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8) + summ;
}

AG_AVX512 static void vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_0 *x = w;
    const ag_block_q8_0 *y = a;
    const int64_t nb = n / AG_QK;
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { // s += (sum_j (q_w[j]-16)*q_a[j]) * d_w*d_a, per block
        const __m512i q = _mm512_or_si512(unpack_nibbles_x2(x[b].qs, x[b + 1].qs), qh_to_bit4_x2(x[b].qh, x[b + 1].qh));
        const __m512i sumi = dot_u8_i8_off_x2(q, load_32x2(y[b].qs, y[b + 1].qs), 16);
        const __m512 d = scale_x2(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc);
    }
    __m256 acc8 = _mm256_setzero_ps();
    if (b < nb) {
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[b].qs), qh_to_bit4(x[b].qh));
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 16);
        acc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)));
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8);
}

AG_AVX512 static void vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q5_1 *x = w;
    const ag_block_q8_1 *y = a;
    const int64_t nb = n / AG_QK;
    __m512 acc = _mm512_setzero_ps();
    float summ = 0.0f;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) { // s += d_w*d_a*(sum_j q_w[j]*q_a[j]) + m_w*s_a, per block
        const __m512i q = _mm512_or_si512(unpack_nibbles_x2(x[b].qs, x[b + 1].qs), qh_to_bit4_x2(x[b].qh, x[b + 1].qh));
        const __m512i sumi = dot_u8_i8_off_x2(q, load_32x2(y[b].qs, y[b + 1].qs), 0);
        const __m512 d = scale_x2(h2f(x[b].d) * h2f(y[b].d), h2f(x[b + 1].d) * h2f(y[b + 1].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), d, acc);
        summ += h2f(x[b].m) * h2f(y[b].s) + h2f(x[b + 1].m) * h2f(y[b + 1].s);
    }
    __m256 acc8 = _mm256_setzero_ps();
    if (b < nb) {
        const __m256i q = _mm256_or_si256(unpack_nibbles(x[b].qs), qh_to_bit4(x[b].qh));
        const __m256i sumi = dot_u8_i8_off(q, _mm256_loadu_si256((const __m256i *)y[b].qs), 0);
        acc8 = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(h2f(x[b].d) * h2f(y[b].d)));
        summ += h2f(x[b].m) * h2f(y[b].s);
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8) + summ;
}

#define ENTRY(T, VT, DOT) {ag_ref_to_float_##T, ag_ref_from_float_##T, VT, DOT}

static const ag_type_traits AVX512[AG_TYPE_COUNT] = {
    [AG_TYPE_F32] = ENTRY(f32, AG_TYPE_F32, vec_dot_f32),
    [AG_TYPE_F16] = ENTRY(f16, AG_TYPE_F16, vec_dot_f16),
    [AG_TYPE_BF16] = ENTRY(bf16, AG_TYPE_BF16, vec_dot_bf16),
    [AG_TYPE_Q4_0] = ENTRY(q4_0, AG_TYPE_Q8_0, vec_dot_q4_0_q8_0),
    [AG_TYPE_Q4_1] = ENTRY(q4_1, AG_TYPE_Q8_1, vec_dot_q4_1_q8_1),
    [AG_TYPE_Q5_0] = ENTRY(q5_0, AG_TYPE_Q8_0, vec_dot_q5_0_q8_0),
    [AG_TYPE_Q5_1] = ENTRY(q5_1, AG_TYPE_Q8_1, vec_dot_q5_1_q8_1),
    [AG_TYPE_Q8_0] = ENTRY(q8_0, AG_TYPE_Q8_0, vec_dot_q8_0_q8_0),
};

const ag_type_traits *ag_traits_avx512(ag_type type) {
    if ((uint32_t)type >= (uint32_t)AG_TYPE_COUNT || !AVX512[type].vec_dot) return NULL;
    return &AVX512[type];
}

#else /* not x86 */

const ag_type_traits *ag_traits_avx512(ag_type type) {
    (void)type;
    return NULL;
}

#endif
