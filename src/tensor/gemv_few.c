/*
 * gemv_few.c - a few tokens (2..AG_GEMV_FEW_MAX) against many weight rows: the decode step of
 * several sequences in one batch (continuous batching), AVX-512 VNNI (see gemm.h).
 *
 * Like gemv.c, rows are read straight from the weights, four blocks per step; like the tiles of
 * gemm.c, 4 rows x 4 tokens are computed at once (each activation load serves 4 rows):
 *   p_t    = vpdpbusd(vpdpbusd(off * nsum_t, u_lo, a_lo_t), u_hi, a_hi_t)   exact block sums
 *   acc_t += float(p_t) * (d_w spread x4 * d_a_t)                             t < n_tok
 * without the tile's decoded copy of the rows in scratch (which costs more than it saves for a
 * few tokens); past 4 tokens the rows are read again (L2) in a second pass of 4 tokens.
 */
#include "tensor/gemm.h"

#include "tensor/qact.h"
#include "tensor/quant_impl.h"

#if defined(__x86_64__)
#include "tensor/gemm_x86.h"

/* R rows (rb apart) against NT tokens (R <= 4, NT <= 4: constants at each call site, so that
 * the 16 accumulators stay in registers): y[k * y_stride + r] = dot(row r, token k). */
AG_AVX512 static inline __attribute__((always_inline)) void few_block(ag_type t, bool packed, int64_t n, const uint8_t *w,
                                                                      size_t rb, int R, const uint8_t *act,
                                                                      size_t arb, int NT, float *y, size_t y_stride) {
    const size_t bs = ag_type_size(t);
    const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
    const __m128i sh = _mm_cvtsi32_si128(code_shift(t));
    __m512 acc[4][4];
    __m128 accm[4][4];
    for (int r = 0; r < R; r++)
        for (int k = 0; k < NT; k++) acc[r][k] = _mm512_setzero_ps(), accm[r][k] = _mm_setzero_ps();
    const int64_t ng = n / AG_QACT_GROUP;
    for (int64_t i = 0; i < ng; i++) {
        __m512i lo[4], hi[4];
        __m512 dw[4];
        for (int r = 0; r < R; r++) {
            const uint8_t *xb = w + (size_t)r * rb + (size_t)i * 4 * bs;
            codes4(t, packed, xb, bs, &lo[r], &hi[r]);
            dw[r] = spread4(scales4(packed, xb, bs));
        }
        for (int k = 0; k < NT; k++) {
            const ag_qact_group *g = (const ag_qact_group *)(act + (size_t)k * arb) + i;
            const __m512i c = _mm512_sll_epi32(_mm512_load_si512(g->nsum), sh);
            const __m512i alo = _mm512_load_si512(g->lo), ahi = _mm512_load_si512(g->hi);
            const __m512 da = _mm512_load_ps(g->d);
            for (int r = 0; r < R; r++) {
                const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo[r], alo), hi[r], ahi);
                acc[r][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_mul_ps(dw[r], da), acc[r][k]);
                if (has_m) {
                    const __m128 mw = f16x4(w + (size_t)r * rb + (size_t)i * 4 * bs + 2, bs);
                    accm[r][k] = _mm_fmadd_ps(mw, _mm_loadu_ps(ag_qact_s(act + (size_t)k * arb, n) + 4 * i), accm[r][k]);
                }
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int k = 0; k < NT; k++) {
            float v = _mm512_reduce_add_ps(acc[r][k]);
            if (has_m) {
                __m128 a = _mm_add_ps(accm[r][k], _mm_movehl_ps(accm[r][k], accm[r][k]));
                v += _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
            }
            y[(size_t)k * y_stride + r] = v;
        }
}

/* R rows at r x the (up to 4) tokens at a (the pass's nt). */
#define FEW_ROWS(T, P, R)                                                                                         \
    switch (nt) {                                                                                                 \
    case 1: few_block(T, P, n, w + (size_t)r * rb, rb, R, a, arb, 1, yt + r, ys); break;                          \
    case 2: few_block(T, P, n, w + (size_t)r * rb, rb, R, a, arb, 2, yt + r, ys); break;                          \
    case 3: few_block(T, P, n, w + (size_t)r * rb, rb, R, a, arb, 3, yt + r, ys); break;                          \
    default: few_block(T, P, n, w + (size_t)r * rb, rb, R, a, arb, 4, yt + r, ys); break;                         \
    }
/* Passes of 4 tokens over all the rows, 4 rows at a time: the pass's activations stay in L1 while
 * the rows stream past (with rows outer, 8 tokens' activations - 33 KiB for 2,048 elements - no
 * longer fit in L1 next to the rows and came from L2 for every 4 rows). */
#define FEW_FN(name, T, P)                                                                                        \
    AG_AVX512 static void name(int64_t n, const uint8_t *w, size_t rb, int64_t rows, const uint8_t *act,        \
                               size_t arb, int n_tok, float *y, size_t ys) {                                      \
        for (int t0 = 0; t0 < n_tok; t0 += 4) {                                                                   \
            const uint8_t *a = act + (size_t)t0 * arb;                                                            \
            float *yt = y + (size_t)t0 * ys;                                                                      \
            const int nt = n_tok - t0 < 4 ? n_tok - t0 : 4;                                                       \
            int64_t r = 0;                                                                                        \
            for (; r + 4 <= rows; r += 4) FEW_ROWS(T, P, 4)                                                       \
            for (; r < rows; r++) FEW_ROWS(T, P, 1)                                                               \
        }                                                                                                         \
    }
FEW_FN(few_q4_0, AG_TYPE_Q4_0, false)
FEW_FN(few_q4_1, AG_TYPE_Q4_1, false)
FEW_FN(few_q5_0, AG_TYPE_Q5_0, false)
FEW_FN(few_q5_1, AG_TYPE_Q5_1, false)
FEW_FN(few_q8_0, AG_TYPE_Q8_0, false)
FEW_FN(few_q4_0_x4, AG_TYPE_Q4_0, true)
FEW_FN(few_q8_0_x4, AG_TYPE_Q8_0, true)
#undef FEW_ROWS
#undef FEW_FN
#endif

void ag_gemv_few(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows,
                 const void *act, size_t act_row_bytes, int n_tok, float *y, size_t y_stride) {
#if defined(__x86_64__)
    switch (packed ? -(int)wtype : (int)wtype) {
    case AG_TYPE_Q4_0: few_q4_0(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case AG_TYPE_Q4_1: few_q4_1(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case AG_TYPE_Q5_0: few_q5_0(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case AG_TYPE_Q5_1: few_q5_1(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case AG_TYPE_Q8_0: few_q8_0(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case -AG_TYPE_Q4_0: few_q4_0_x4(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    case -AG_TYPE_Q8_0: few_q8_0_x4(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
    default: break;
    }
#endif
    for (int t = 0; t < n_tok; t++) /* not reached when ag_gemm_available said yes */
        for (int64_t r = 0; r < n_rows; r++)
            y[(size_t)t * y_stride + r] = ag_gemm_dot_ref(wtype, packed, n, (const uint8_t *)w + (size_t)r * w_row_bytes,
                                                          (const uint8_t *)act + (size_t)t * act_row_bytes);
}
