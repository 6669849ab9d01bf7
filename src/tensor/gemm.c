/*
 * gemm.c - tile matrix products of quantized weights against many tokens' prepared
 * activations (prefill), AVX-512 VNNI (see gemm.h).
 *
 * A tile of up to AG_GEMM_ROWS weight rows is first decoded into per-thread scratch, once:
 * per row and group of 4 blocks, u8 lo[64] and hi[64] (codes in qact.h's layout), float
 * dw[16] (each block's d_w spread over its 4 lanes); then m_w[n/32] for Q4_1/Q5_1. Then, for
 * every 4 tokens and every 4 rows of the tile (a 4x4 block of 16 accumulators):
 *   p        = vpdpbusd(vpdpbusd(off * nsum_t, lo_r, alo_t), hi_r, ahi_t)  exact block sums
 *   acc[r,t] += float(p) * (dw_r * da_t)
 *   y[t, r]  = sum of acc's lanes (+ sum_b m_w[b] * s_a[b])
 * so each weight block is decoded once per tile and read from L1/L2 for all tokens, and each
 * token's activations are read once per 4 rows.
 */
#include "tensor/gemm.h"

#include <string.h>

#include "tensor/qact.h"
#include "tensor/quant_impl.h"

#define DEC_GROUP 192 /* decoded bytes per row and group: lo[64] hi[64] dw[16] */

static size_t dec_row_bytes(int64_t n) {
    return (size_t)(n / AG_QACT_GROUP) * DEC_GROUP + (((size_t)(n / AG_QK) * sizeof(float) + 63) & ~(size_t)63);
}

size_t ag_gemm_tile_scratch_bytes(int64_t n) { return (size_t)AG_GEMM_ROWS * dec_row_bytes(n) + 64; }

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

#if defined(__x86_64__)
#include "tensor/gemm_x86.h"

/* One row into its decoded form (dec_row_bytes(n) bytes at out). */
AG_AVX512 static void decode_row(ag_type t, bool packed, int64_t n, const uint8_t *w, uint8_t *out) {
    const size_t bs = ag_type_size(t);
    const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
    float *m = (float *)(out + (size_t)(n / AG_QACT_GROUP) * DEC_GROUP);
    for (int64_t i = 0; i < n / AG_QACT_GROUP; i++) {
        const uint8_t *xb = w + (size_t)i * 4 * bs;
        uint8_t *o = out + (size_t)i * DEC_GROUP;
        __m512i lo, hi;
        codes4(t, packed, xb, bs, &lo, &hi);
        _mm512_store_si512(o, lo);
        _mm512_store_si512(o + 64, hi);
        _mm512_store_ps((float *)(o + 128), spread4(scales4(packed, xb, bs)));
        if (has_m) _mm_storeu_ps(m + 4 * i, f16x4(xb + 2, bs));
    }
}

/* y[t][r] for 4 decoded rows (dec, dec_row_bytes apart) and 4 prepared tokens a[0..3] */
AG_AVX512 static void micro_4x4(int64_t n, const uint8_t *dec, size_t drb, const uint8_t *const a[4], int shift,
                                float out[4][4]) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++) acc[r][k] = _mm512_setzero_ps();
    const __m128i sh = _mm_cvtsi32_si128(shift);
    for (int64_t i = 0; i < n / AG_QACT_GROUP; i++) {
        __m512i lo[4], hi[4];
        for (int r = 0; r < 4; r++) {
            const uint8_t *o = dec + (size_t)r * drb + (size_t)i * DEC_GROUP;
            lo[r] = _mm512_load_si512(o);
            hi[r] = _mm512_load_si512(o + 64);
        }
        for (int k = 0; k < 4; k++) {
            const ag_qact_group *g = (const ag_qact_group *)a[k] + i;
            const __m512i alo = _mm512_load_si512(g->lo), ahi = _mm512_load_si512(g->hi);
            const __m512i c = _mm512_sll_epi32(_mm512_load_si512(g->nsum), sh);
            const __m512 da = _mm512_load_ps(g->d);
            for (int r = 0; r < 4; r++) {
                const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(c, lo[r], alo), hi[r], ahi);
                const __m512 s = _mm512_mul_ps(da, _mm512_load_ps(dec + (size_t)r * drb + (size_t)i * DEC_GROUP + 128));
                acc[r][k] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), s, acc[r][k]);
            }
        }
    }
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++) out[k][r] = _mm512_reduce_add_ps(acc[r][k]);
}

/* sum_b m[b] * s[b] over nb blocks (nb a multiple of 4), four blocks per step and the lanes
 * summed at the end exactly as gemv.c does it, so that tiles and one-token rows agree bit for bit */
AG_AVX512 static float dot_m(const float *m, const float *s, int64_t nb) {
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b += 4) acc = _mm_fmadd_ps(_mm_loadu_ps(m + b), _mm_loadu_ps(s + b), acc);
    acc = _mm_add_ps(acc, _mm_movehl_ps(acc, acc));
    return _mm_cvtss_f32(_mm_add_ss(acc, _mm_movehdup_ps(acc)));
}

AG_AVX512 static void tile_avx512(ag_type t, bool packed, int64_t n, const void *w, size_t w_row_bytes, int n_rows,
                                  const uint8_t *act, size_t arb, int n_tok, float *y, size_t y_stride,
                                  void *scratch) {
    const size_t drb = dec_row_bytes(n);
    uint8_t *dec = align64(scratch);
    const bool has_m = t == AG_TYPE_Q4_1 || t == AG_TYPE_Q5_1;
    const int rows4 = (n_rows + 3) & ~3;
    for (int r = 0; r < rows4; r++) /* missing rows of the last 4 repeat the last row */
        decode_row(t, packed, n, (const uint8_t *)w + (size_t)(r < n_rows ? r : n_rows - 1) * w_row_bytes, dec + (size_t)r * drb);
    for (int t0 = 0; t0 < n_tok; t0 += 4) {
        const int nt = n_tok - t0 < 4 ? n_tok - t0 : 4;
        const uint8_t *a[4];
        for (int k = 0; k < 4; k++) a[k] = act + (size_t)(t0 + (k < nt ? k : nt - 1)) * arb;
        for (int r0 = 0; r0 < n_rows; r0 += 4) {
            float out[4][4];
            micro_4x4(n, dec + (size_t)r0 * drb, drb, a, code_shift(t), out);
            const int nr = n_rows - r0 < 4 ? n_rows - r0 : 4;
            for (int k = 0; k < nt; k++)
                for (int r = 0; r < nr; r++) {
                    float v = out[k][r];
                    if (has_m)
                        v += dot_m((const float *)(dec + (size_t)(r0 + r) * drb + (size_t)(n / AG_QACT_GROUP) * DEC_GROUP),
                                   ag_qact_s(a[k], n), n / AG_QK);
                    y[(size_t)(t0 + k) * y_stride + r0 + r] = v;
                }
        }
    }
}
#endif

void ag_gemm_tile(ag_type wtype, bool packed, int64_t n, const void *w, size_t w_row_bytes, int n_rows, const void *act,
                  size_t act_row_bytes, int n_tok, float *y, size_t y_stride, void *scratch) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) {
        tile_avx512(wtype, packed, n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride, scratch);
        return;
    }
#endif
    (void)scratch; /* not reached when ag_gemm_available said no; kept correct anyway */
    for (int t = 0; t < n_tok; t++)
        for (int r = 0; r < n_rows; r++)
            y[(size_t)t * y_stride + r] = ag_gemm_dot_ref(wtype, packed, n, (const uint8_t *)w + (size_t)r * w_row_bytes,
                                                          (const uint8_t *)act + (size_t)t * act_row_bytes);
}
