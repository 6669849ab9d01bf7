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

#include <stddef.h>
#include <string.h>

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

/* 16 packed bytes -> 32 codes 0..15 (elements 0..15 low nibbles, then 16..31 high nibbles) */
AG_AVX512 static inline __m256i unpack_nibbles(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0f));
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* byte j = 0x10 where bit j of the 5th-bit mask is set */
AG_AVX512 static inline __m256i qh_to_bit4(const uint8_t qh[4]) {
    return _mm256_maskz_mov_epi8((__mmask32)load_qh(qh), _mm256_set1_epi8(0x10));
}

/* sum of (u[i] - off) * s[i] per 4 bytes, u unsigned, s signed */
AG_AVX512 static inline __m256i dot_u8_i8_off(__m256i u, __m256i s, int off) {
    __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
    if (off) p = _mm256_sub_epi32(p, _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), s));
    return p;
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

/* One accumulator over steps of 16, in the order of gemm_f16.c's tiles (acc += w * x, then the
 * lanes summed), so that a row's result is the same in a one-token step and in a tile of tokens
 * (batched decode, speculative verification, prefill). */
AG_AVX512 static void vec_dot_f16(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const uint16_t *x = w, *y = a;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) { /* the last step may be partial: masked loads read zeros */
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        const __m512 yv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i));
        acc = _mm512_fmadd_ps(xv, yv, acc);
    }
    *s = _mm512_reduce_add_ps(acc);
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

/* ---- quantized types: four blocks per step, a last 1-3 blocks one at a time in 256 bits
 *
 * Layout of a step (4 blocks k = 0..3, 16 lanes of 4 bytes): the 512-bit "lo" vector holds
 * elements 0..15 of block k in bytes 16k..16k+15, "hi" holds elements 16..31 there, for weights
 * and activations alike; VPDPBUSD of lo and of hi accumulate into the same lanes, so lanes
 * 4k..4k+3 carry block k's integer sum and one multiply by [s0 x4, s1 x4, s2 x4, s3 x4]
 * (s_k = d_w * d_a, four f16 pairs converted at once) scales all four blocks. */

/* four f16 values at p, p + stride, ... -> floats */
AG_AVX512 static inline __m128 load_f16x4(const uint8_t *p, size_t stride) {
    uint16_t h[4];
    for (int k = 0; k < 4; k++) memcpy(&h[k], p + (size_t)k * stride, 2);
    uint64_t v;
    memcpy(&v, h, 8);
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

/* [s0 x4, s1 x4, s2 x4, s3 x4] */
AG_AVX512 static inline __m512 spread_x4(__m128 s) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s));
}

/* 16 bytes at p, p + stride, p + 2 stride, p + 3 stride -> one 512-bit vector */
AG_AVX512 static inline __m512i load_16x4(const uint8_t *p, size_t stride) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
}

/* bit 4 of the 5-bit codes of four Q5 blocks (qh at p + k * stride): lo (elements 0..15) and hi */
AG_AVX512 static inline void qh_bits_x4(const uint8_t *p, size_t stride, __m512i *lo, __m512i *hi) {
    uint64_t ml = 0, mh = 0;
    for (int k = 0; k < 4; k++) {
        const uint64_t q = load_qh(p + (size_t)k * stride);
        ml |= (q & 0xffff) << (16 * k);
        mh |= (q >> 16) << (16 * k);
    }
    *lo = _mm512_maskz_mov_epi8((__mmask64)ml, _mm512_set1_epi8(0x10));
    *hi = _mm512_maskz_mov_epi8((__mmask64)mh, _mm512_set1_epi8(0x10));
}

/* sum over lanes of (u - off) * a for the lo and hi halves, u unsigned and a signed */
AG_AVX512 static inline __m512i dot_lohi(__m512i ulo, __m512i uhi, __m512i alo, __m512i ahi, int off) {
    __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ulo, alo), uhi, ahi);
    if (off) {
        const __m512i o = _mm512_set1_epi8((char)off);
        p = _mm512_sub_epi32(p, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), o, alo), o, ahi));
    }
    return p;
}

/* One quantized block in 256 bits (the tail of a row): returns sum (u - off) * a as 8 lanes. */
AG_AVX512 static inline __m256 tail_block(__m256i u, const int8_t *aqs, int off, float scale) {
    const __m256i sumi = dot_u8_i8_off(u, _mm256_loadu_si256((const __m256i *)aqs), off);
    return _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), _mm256_set1_ps(scale));
}

AG_AVX512 static void vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    const ag_block_q8_0 *x = w, *y = a;
    const int64_t nb = n / AG_QK;
    const size_t bs = sizeof(ag_block_q8_0);
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) { // s += (sum_j q_w[j]*q_a[j]) * d_w*d_a, per block
        const __m512i wlo = _mm512_xor_si512(load_16x4((const uint8_t *)x[b].qs, bs), flip);
        const __m512i whi = _mm512_xor_si512(load_16x4((const uint8_t *)x[b].qs + 16, bs), flip);
        const __m512i sumi = dot_lohi(wlo, whi, load_16x4((const uint8_t *)y[b].qs, bs),
                                      load_16x4((const uint8_t *)y[b].qs + 16, bs), 128);
        const __m128 d = _mm_mul_ps(load_f16x4((const uint8_t *)&x[b].d, bs), load_f16x4((const uint8_t *)&y[b].d, bs));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), spread_x4(d), acc);
    }
    __m256 acc8 = _mm256_setzero_ps();
    for (; b < nb; b++) {
        const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x[b].qs), _mm256_set1_epi8((char)0x80));
        acc8 = _mm256_add_ps(acc8, tail_block(u, y[b].qs, 128, h2f(x[b].d) * h2f(y[b].d)));
    }
    *s = _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8);
}

/* Q4_0 / Q5_0 against Q8_0: codes u (0..15 or 0..31), x = (u - off) * d */
AG_AVX512 static inline float dot_x_0(int64_t nb, const uint8_t *x, size_t bs, size_t qs_off, size_t qh_off,
                                      const ag_block_q8_0 *y, int off) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t ys = sizeof(ag_block_q8_0);
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) { // s += (sum_j (u_w[j]-off)*q_a[j]) * d_w*d_a, per block
        const uint8_t *xb = x + (size_t)b * bs;
        const __m512i q = load_16x4(xb + qs_off, bs);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if (qh_off) {
            __m512i bl, bh;
            qh_bits_x4(xb + qh_off, bs, &bl, &bh);
            lo = _mm512_or_si512(lo, bl);
            hi = _mm512_or_si512(hi, bh);
        }
        const __m512i sumi = dot_lohi(lo, hi, load_16x4((const uint8_t *)y[b].qs, ys),
                                      load_16x4((const uint8_t *)y[b].qs + 16, ys), off);
        const __m128 d = _mm_mul_ps(load_f16x4(xb, bs), load_f16x4((const uint8_t *)&y[b].d, ys));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), spread_x4(d), acc);
    }
    __m256 acc8 = _mm256_setzero_ps();
    for (; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * bs;
        uint16_t dw;
        memcpy(&dw, xb, 2);
        __m256i u = unpack_nibbles(xb + qs_off);
        if (qh_off) u = _mm256_or_si256(u, qh_to_bit4(xb + qh_off));
        acc8 = _mm256_add_ps(acc8, tail_block(u, y[b].qs, off, h2f(dw) * h2f(y[b].d)));
    }
    return _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8);
}

/* Q4_1 / Q5_1 against Q8_1: x = u * d + m, so s = sum d_w*d_a*(u . q_a) + m_w * s_a */
AG_AVX512 static inline float dot_x_1(int64_t nb, const uint8_t *x, size_t bs, size_t qs_off, size_t qh_off,
                                      const ag_block_q8_1 *y) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t ys = sizeof(ag_block_q8_1);
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    int64_t b = 0;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *xb = x + (size_t)b * bs;
        const __m512i q = load_16x4(xb + qs_off, bs);
        __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        if (qh_off) {
            __m512i bl, bh;
            qh_bits_x4(xb + qh_off, bs, &bl, &bh);
            lo = _mm512_or_si512(lo, bl);
            hi = _mm512_or_si512(hi, bh);
        }
        const __m512i sumi = dot_lohi(lo, hi, load_16x4((const uint8_t *)y[b].qs, ys),
                                      load_16x4((const uint8_t *)y[b].qs + 16, ys), 0);
        const __m128 d = _mm_mul_ps(load_f16x4(xb, bs), load_f16x4((const uint8_t *)&y[b].d, ys));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sumi), spread_x4(d), acc);
        accm = _mm_fmadd_ps(load_f16x4(xb + 2, bs), load_f16x4((const uint8_t *)&y[b].s, ys), accm);
    }
    __m256 acc8 = _mm256_setzero_ps();
    float summ = 0.0f;
    for (; b < nb; b++) {
        const uint8_t *xb = x + (size_t)b * bs;
        uint16_t dw, mw;
        memcpy(&dw, xb, 2);
        memcpy(&mw, xb + 2, 2);
        __m256i u = unpack_nibbles(xb + qs_off);
        if (qh_off) u = _mm256_or_si256(u, qh_to_bit4(xb + qh_off));
        acc8 = _mm256_add_ps(acc8, tail_block(u, y[b].qs, 0, h2f(dw) * h2f(y[b].d)));
        summ += h2f(mw) * h2f(y[b].s);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return _mm512_reduce_add_ps(acc) + hsum_f32x8(acc8) + (_mm_cvtss_f32(accm) + summ);
}

AG_AVX512 static void vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    *s = dot_x_0(n / AG_QK, w, sizeof(ag_block_q4_0), offsetof(ag_block_q4_0, qs), 0, a, 8);
}

AG_AVX512 static void vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    *s = dot_x_0(n / AG_QK, w, sizeof(ag_block_q5_0), offsetof(ag_block_q5_0, qs), offsetof(ag_block_q5_0, qh), a, 16);
}

AG_AVX512 static void vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    *s = dot_x_1(n / AG_QK, w, sizeof(ag_block_q4_1), offsetof(ag_block_q4_1, qs), 0, a);
}

AG_AVX512 static void vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict w, const void *restrict a) {
    *s = dot_x_1(n / AG_QK, w, sizeof(ag_block_q5_1), offsetof(ag_block_q5_1, qs), offsetof(ag_block_q5_1, qh), a);
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
