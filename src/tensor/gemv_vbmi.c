/*
 * gemv_vbmi.c - decode (one token, see gemm.h) of Q4_0 and Q8_0 rows with AVX-512 VBMI byte
 * permutes, for CPUs that have them (ag_gemv uses it first; gemv.c is the path without).
 *
 * Four blocks (72 bytes of Q4_0, 136 of Q8_0) are read with two to four contiguous 64-byte
 * loads (the last one masked, so nothing past the blocks is touched); one VPERMT2B gathers
 * their code bytes into qact.h's lo/hi layout and one VPERMW/VPERMT2W their four f16 scales,
 * already spread four lanes each, instead of 4 x 16-byte loads, inserts and scalar scale
 * loads per step. The arithmetic is gemv.c's (the same exact integer block sums, scaled by
 * d_w * d_a in one FMA), so both equal ag_gemm_dot_ref within float rounding (tests).
 */
#include "tensor/gemm.h"

#include "tensor/qact.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_VBMI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")))

/* byte j of the result: code byte j % 16 of block j / 16, blocks `stride` bytes apart from `first` */
static void code_index(uint8_t idx[64], int first, int stride) {
    for (int j = 0; j < 64; j++) idx[j] = (uint8_t)(first + stride * (j / 16) + j % 16);
}

/* word lane l: the f16 scale of block l / 4, blocks `stride` bytes apart */
static void scale_index(uint16_t idx[32], int stride) {
    for (int l = 0; l < 32; l++) idx[l] = (uint16_t)(stride / 2 * ((l % 16) / 4));
}

AG_VBMI static inline __m512 spread_d(__m512i v0, __m512i v1, __m512i sidx) {
    return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutex2var_epi16(v0, sidx, v1)));
}

AG_VBMI static float row_q4_0(int64_t n, const uint8_t *w, const ag_qact_group *g, __m512i cidx, __m512i sidx) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / AG_QACT_GROUP; i++) {
        const uint8_t *xb = w + (size_t)i * 72;
        const __m512i v0 = _mm512_loadu_si512(xb), v1 = _mm512_maskz_loadu_epi8(0xff, xb + 64);
        const __m512i q = _mm512_permutex2var_epi8(v0, cidx, v1);
        const __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
        const __m512i c = _mm512_slli_epi32(_mm512_load_si512(g[i].nsum), 3); /* code offset 8 */
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, _mm512_load_si512(g[i].lo)), hi,
                                              _mm512_load_si512(g[i].hi));
        const __m512 s = _mm512_mul_ps(spread_d(v0, v1, sidx), _mm512_load_ps(g[i].d));
        if (i & 1) acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc1);
        else acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AG_VBMI static float row_q8_0(int64_t n, const uint8_t *w, const ag_qact_group *g, __m512i cidx, __m512i sidx) {
    const __m512i flip = _mm512_set1_epi8((char)0x80); /* u = q + 128 */
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / AG_QACT_GROUP; i++) {
        const uint8_t *xb = w + (size_t)i * 136;
        const __m512i v0 = _mm512_loadu_si512(xb), v1 = _mm512_loadu_si512(xb + 64);
        const __m512i h0 = _mm512_loadu_si512(xb + 16), h1 = _mm512_maskz_loadu_epi8(0x00ffffffffffffffull, xb + 80);
        const __m512i lo = _mm512_xor_si512(_mm512_permutex2var_epi8(v0, cidx, v1), flip);
        const __m512i hi = _mm512_xor_si512(_mm512_permutex2var_epi8(h0, cidx, h1), flip);
        const __m512i c = _mm512_slli_epi32(_mm512_load_si512(g[i].nsum), 7); /* code offset 128 */
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo, _mm512_load_si512(g[i].lo)), hi,
                                              _mm512_load_si512(g[i].hi));
        const __m512 s = _mm512_mul_ps(spread_d(v0, v1, sidx), _mm512_load_ps(g[i].d));
        if (i & 1) acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc1);
        else acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AG_VBMI static void rows_vbmi(ag_type t, int64_t n, const uint8_t *w, size_t rb, int64_t rows, const void *act,
                              float *y) {
    uint8_t ci[64];
    uint16_t si[32];
    const int bs = t == AG_TYPE_Q4_0 ? 18 : 34;
    code_index(ci, 2, bs);
    scale_index(si, bs);
    const __m512i cidx = _mm512_loadu_si512(ci), sidx = _mm512_loadu_si512(si);
    for (int64_t r = 0; r < rows; r++)
        y[r] = t == AG_TYPE_Q4_0 ? row_q4_0(n, w + (size_t)r * rb, act, cidx, sidx)
                                 : row_q8_0(n, w + (size_t)r * rb, act, cidx, sidx);
}
#endif

bool ag_gemv_vbmi(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                  float *y) {
#if defined(__x86_64__)
    if ((wtype == AG_TYPE_Q4_0 || wtype == AG_TYPE_Q8_0) && ag_gemm_vbmi_ok() && ag_qact_ok(n)) {
        rows_vbmi(wtype, n, w, w_row_bytes, n_rows, act, y);
        return true;
    }
#endif
    (void)wtype, (void)n, (void)w, (void)w_row_bytes, (void)n_rows, (void)act, (void)y;
    return false;
}
