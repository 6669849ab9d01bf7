/*
 * gemm_x86.h - private to src/tensor: AVX-512 helpers shared by the integer kernels (gemv.c,
 * gemm.c): reading 4 quantized blocks' codes in qact.h's lo/hi layout and their f16 scales.
 * Include only under defined(__x86_64__).
 */
#ifndef AG_TENSOR_GEMM_X86_H
#define AG_TENSOR_GEMM_X86_H

#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "tensor/types.h"

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* four f16 at p, p + stride, ... -> floats */
AG_AVX512 static inline __m128 f16x4(const uint8_t *p, size_t stride) {
    uint64_t v = 0;
    for (int k = 0; k < 4; k++) {
        uint16_t h;
        memcpy(&h, p + (size_t)k * stride, 2);
        v |= (uint64_t)h << (16 * k);
    }
    return _mm_cvtph_ps(_mm_cvtsi64_si128((long long)v));
}

AG_AVX512 static inline __m512 spread4(__m128 s) {
    const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(s));
}

AG_AVX512 static inline __m512i load16x4(const uint8_t *p, size_t stride) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p + 3 * stride)), 3);
}

/* bit 4 of the codes of 4 Q5 blocks (qh at p + k * stride), as 0x10 bytes in lo / hi layout */
AG_AVX512 static inline void qh4(const uint8_t *p, size_t stride, __m512i *lo, __m512i *hi) {
    uint64_t ml = 0, mh = 0;
    for (int k = 0; k < 4; k++) {
        uint32_t q;
        memcpy(&q, p + (size_t)k * stride, 4);
        ml |= (uint64_t)(q & 0xffff) << (16 * k);
        mh |= (uint64_t)(q >> 16) << (16 * k);
    }
    *lo = _mm512_maskz_mov_epi8((__mmask64)ml, _mm512_set1_epi8(0x10));
    *hi = _mm512_maskz_mov_epi8((__mmask64)mh, _mm512_set1_epi8(0x10));
}

/* Codes of 4 blocks starting at xb (block stride bs) in lo / hi layout. Packed rows
 * (tensor/repack.h, Q4_0 and Q8_0) hold the group's 4 f16 scales at xb, then its codes already
 * in that layout (Q8_0: lo[64] hi[64] flipped to unsigned; Q4_0: 64 bytes of nibble pairs). */
AG_AVX512 static inline void codes4(ag_type t, bool packed, const uint8_t *xb, size_t bs, __m512i *lo, __m512i *hi) {
    if (packed && t == AG_TYPE_Q8_0) {
        *lo = _mm512_loadu_si512(xb + 8);
        *hi = _mm512_loadu_si512(xb + 72);
        return;
    }
    if (packed) { /* Q4_0 */
        const __m512i m4 = _mm512_set1_epi8(0x0f), q = _mm512_loadu_si512(xb + 8);
        *lo = _mm512_and_si512(q, m4);
        *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        return;
    }
    if (t == AG_TYPE_Q8_0) {
        const __m512i flip = _mm512_set1_epi8((char)0x80);
        *lo = _mm512_xor_si512(load16x4(xb + 2, bs), flip);
        *hi = _mm512_xor_si512(load16x4(xb + 18, bs), flip);
        return;
    }
    const size_t qs_off = t == AG_TYPE_Q4_0 ? 2 : t == AG_TYPE_Q4_1 ? 4 : t == AG_TYPE_Q5_0 ? 6 : 8;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i q = load16x4(xb + qs_off, bs);
    *lo = _mm512_and_si512(q, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    if (t == AG_TYPE_Q5_0 || t == AG_TYPE_Q5_1) {
        __m512i bl, bh;
        qh4(xb + qs_off - 4, bs, &bl, &bh);
        *lo = _mm512_or_si512(*lo, bl);
        *hi = _mm512_or_si512(*hi, bh);
    }
}

/* The 4 blocks' scales d of the group at xb, as floats. */
AG_AVX512 static inline __m128 scales4(bool packed, const uint8_t *xb, size_t bs) {
    return packed ? _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)xb)) : f16x4(xb, bs);
}

static inline int code_shift(ag_type t) { /* log2 of the code offset; 32 (shifts to 0) for none */
    return t == AG_TYPE_Q8_0 ? 7 : t == AG_TYPE_Q4_0 ? 3 : t == AG_TYPE_Q5_0 ? 4 : 32;
}

#endif
