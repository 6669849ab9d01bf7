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
#include "tensor/gemm_x86.h"

AG_AVX512 static inline float gemv_row(ag_type t, bool packed, int64_t n, const uint8_t *w, const ag_qact_group *g,
                                       const float *sa) {
    const size_t bs = ag_type_size(t);
    const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
    const __m128i sh = _mm_cvtsi32_si128(code_shift(t));
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    const int64_t ng = n / AG_QACT_GROUP;
    for (int64_t i = 0; i < ng; i++) {
        const uint8_t *xb = w + (size_t)i * 4 * bs;
        __m512i lo, hi;
        codes4(t, packed, xb, bs, &lo, &hi);
        const __m512i c = _mm512_sll_epi32(_mm512_load_si512(g[i].nsum), sh);
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, _mm512_load_si512(g[i].lo)), hi,
                                              _mm512_load_si512(g[i].hi));
        const __m512 s = _mm512_mul_ps(spread4(scales4(packed, xb, bs)), _mm512_load_ps(g[i].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc);
        if (has_m) accm = _mm_fmadd_ps(f16x4(xb + 2, bs), _mm_loadu_ps(sa + 4 * i), accm);
    }
    float r = _mm512_reduce_add_ps(acc);
    if (has_m) {
        accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
        r += _mm_cvtss_f32(_mm_add_ss(accm, _mm_movehdup_ps(accm)));
    }
    return r;
}

#define GEMV_FN(name, T, P)                                                                                 \
    AG_AVX512 static void name(int64_t n, const uint8_t *w, size_t rb, int64_t rows, const void *act, float *y) { \
        const float *sa = ag_qact_s(act, n);                                                                 \
        for (int64_t r = 0; r < rows; r++) y[r] = gemv_row(T, P, n, w + (size_t)r * rb, act, sa);             \
    }
GEMV_FN(gemv_q4_0, AG_TYPE_Q4_0, false)
GEMV_FN(gemv_q4_1, AG_TYPE_Q4_1, false)
GEMV_FN(gemv_q5_0, AG_TYPE_Q5_0, false)
GEMV_FN(gemv_q5_1, AG_TYPE_Q5_1, false)
GEMV_FN(gemv_q8_0, AG_TYPE_Q8_0, false)
GEMV_FN(gemv_q4_0_x4, AG_TYPE_Q4_0, true)
GEMV_FN(gemv_q8_0_x4, AG_TYPE_Q8_0, true)
#undef GEMV_FN
#endif

void ag_gemv(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows,
             const void *act, float *y) {
#if defined(__x86_64__)
    switch (packed ? -(int)wtype : (int)wtype) {
    case AG_TYPE_Q4_0: gemv_q4_0(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q4_1: gemv_q4_1(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q5_0: gemv_q5_0(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q5_1: gemv_q5_1(n, w, w_row_bytes, n_rows, act, y); return;
    case AG_TYPE_Q8_0: gemv_q8_0(n, w, w_row_bytes, n_rows, act, y); return;
    case -AG_TYPE_Q4_0: gemv_q4_0_x4(n, w, w_row_bytes, n_rows, act, y); return;
    case -AG_TYPE_Q8_0: gemv_q8_0_x4(n, w, w_row_bytes, n_rows, act, y); return;
    default: break;
    }
#endif
    for (int64_t r = 0; r < n_rows; r++) /* not reached when ag_gemm_available said yes */
        y[r] = ag_gemm_dot_ref(wtype, packed, n, (const uint8_t *)w + (size_t)r * w_row_bytes, act);
}
