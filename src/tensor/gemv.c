/*
 * gemv.c - one token against many weight rows (decode), AVX-512 VNNI (see gemm.h): each row
 * is read once, straight from the weights, four blocks per step.
 *
 * Per step of 4 blocks (128 elements): the 4 blocks' code bytes go into one 512-bit vector
 * (lo/hi halves of qact.h's layout after masking the nibbles), the activations' lo and hi
 * come in with two aligned loads, and
 *   p    = vpdpbusd(vpdpbusd(off * nsum, u_lo, a_lo), u_hi, a_hi)   exact block sums (lanes 4k..)
 *   acc += float(p) * (d_w spread x4 * d_a)                          d_w: 4 f16 converted at once
 * Q4_1/Q5_1 add sum_b m_w * s_a with a 4-wide multiply-add per step.
 */
#include "tensor/gemm.h"

#include <string.h>

#include "tensor/qact.h"
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

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

/* Codes of 4 blocks starting at xb (block stride bs) in lo / hi layout. */
AG_AVX512 static inline void codes4(ag_type t, const uint8_t *xb, size_t bs, __m512i *lo, __m512i *hi) {
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

static inline int code_shift(ag_type t) { /* log2 of the code offset; 32 (shifts to 0) for none */
    return t == AG_TYPE_Q8_0 ? 7 : t == AG_TYPE_Q4_0 ? 3 : t == AG_TYPE_Q5_0 ? 4 : 32;
}

AG_AVX512 static inline float gemv_row(ag_type t, int64_t n, const uint8_t *w, const ag_qact_group *g,
                                       const float *sa) {
    const size_t bs = ag_type_size(t);
    const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
    const __m128i sh = _mm_cvtsi32_si128(code_shift(t));
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    const int64_t ng = n / AG_QACT_GROUP;
    for (int64_t i = 0; i < ng; i++) {
        const uint8_t *xb = w + (size_t)i * 4 * bs;
        __m512i lo, hi;
        codes4(t, xb, bs, &lo, &hi);
        const __m512i c = _mm512_sll_epi32(_mm512_load_si512(g[i].nsum), sh);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, _mm512_load_si512(g[i].lo)), hi,
                                              _mm512_load_si512(g[i].hi));
        const __m512 s = _mm512_mul_ps(spread4(f16x4(xb, bs)), _mm512_load_ps(g[i].d));
        if (i & 1) acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc1);
        else acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc0);
        if (has_m) accm = _mm_fmadd_ps(f16x4(xb + 2, bs), _mm_loadu_ps(sa + 4 * i), accm);
    }
    float r = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (has_m) {
        accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
        r += _mm_cvtss_f32(_mm_add_ss(accm, _mm_movehdup_ps(accm)));
    }
    return r;
}

#define GEMV_FN(name, T)                                                                                    \
    AG_AVX512 static void name(int64_t n, const uint8_t *w, size_t rb, int64_t rows, const void *act, float *y) { \
        const float *sa = ag_qact_s(act, n);                                                                 \
        for (int64_t r = 0; r < rows; r++) y[r] = gemv_row(T, n, w + (size_t)r * rb, act, sa);                \
    }
GEMV_FN(gemv_q4_0, AG_TYPE_Q4_0)
GEMV_FN(gemv_q4_1, AG_TYPE_Q4_1)
GEMV_FN(gemv_q5_0, AG_TYPE_Q5_0)
GEMV_FN(gemv_q5_1, AG_TYPE_Q5_1)
GEMV_FN(gemv_q8_0, AG_TYPE_Q8_0)
#undef GEMV_FN
#endif

void ag_gemv(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
             float *y) {
#if defined(__x86_64__)
    switch (wtype) {
    case AG_TYPE_Q4_0: gemv_q4_0(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q4_1: gemv_q4_1(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q5_0: gemv_q5_0(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q5_1: gemv_q5_1(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q8_0: gemv_q8_0(n, w, w_row_bytes, n_rows, act, y); return;
    default: break;
    }
#endif
    for (int64_t r = 0; r < n_rows; r++) /* not reached when ag_gemm_available said yes */
        y[r] = ag_gemm_dot_ref(wtype, n, (const uint8_t *)w + (size_t)r * w_row_bytes, act);
}
