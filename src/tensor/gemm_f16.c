/*
 * gemm_f16.c - tile matrix product of F16 weights against many tokens (prefill), AVX-512 F32
 * FMA (see gemm.h). Activations come as F32 rows already rounded to f16 values (the
 * reference's vec_dot_type for F16 weights), so the result is vec_dot's up to summation order.
 *
 * For every 4 weight rows x 4 tokens (16 accumulators of 16 lanes), along n in steps of 16:
 *   w_r = cvtph_ps(16 halves of row r)          converted once per 4 tokens
 *   acc[r][t] += w_r * x_t[k..k+16]
 * then y[t][r] = sum of acc[r][t]'s lanes. The rows of a tile (<= AG_GEMM_ROWS, 16..256 KiB
 * of halves) stay in L2 while every group of 4 tokens streams past them.
 *
 * ag_f16_round (the activations' conversion, once per product) rounds floats to f16 values
 * with VCVTPS2PH/VCVTPH2PS, bit-identical to the scalar ag_fp32_to_fp16 / ag_fp16_to_fp32
 * pair (round to nearest even, NaN kept quiet). A one-token F16 row kernel over these floats
 * (4 accumulators) was tried and was no faster than vec_dot in cache: it loads 6 bytes per
 * element instead of 4.
 */
#include "tensor/gemm.h"

#include "tensor/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

AG_AVX512 static void micro_4x4(int64_t n, const uint8_t *w, size_t wrb, const float *const x[4], float out[4][4]) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n; k += 16) {
        __m512 wv[4];
        for (int r = 0; r < 4; r++)
            wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(w + (size_t)r * wrb + (size_t)k * 2)));
        for (int t = 0; t < 4; t++) {
            const __m512 xv = _mm512_loadu_ps(x[t] + k);
            for (int r = 0; r < 4; r++) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) out[t][r] = _mm512_reduce_add_ps(acc[r][t]);
}

AG_AVX512 static void round_f16(const float *x, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++) out[i] = ag_fp16_to_fp32(ag_fp32_to_fp16(x[i]));
}

AG_AVX512 static void tile_f16(int64_t n, const uint8_t *w, size_t wrb, int n_rows, const float *x, size_t x_stride,
                               int n_tok, float *y, size_t y_stride) {
    for (int t0 = 0; t0 < n_tok; t0 += 4) {
        const int nt = n_tok - t0 < 4 ? n_tok - t0 : 4;
        const float *xs[4];
        for (int k = 0; k < 4; k++) xs[k] = x + (size_t)(t0 + (k < nt ? k : nt - 1)) * x_stride;
        for (int r0 = 0; r0 < n_rows; r0 += 4) {
            const int nr = n_rows - r0 < 4 ? n_rows - r0 : 4;
            const uint8_t *wr = w + (size_t)r0 * wrb;
            /* a partial group of rows repeats its last row (read, not written) */
            float out[4][4];
            if (nr == 4) {
                micro_4x4(n, wr, wrb, xs, out);
            } else {
                for (int r = 0; r < nr; r++) {
                    float one[4][4];
                    micro_4x4(n, wr + (size_t)r * wrb, 0, xs, one);
                    for (int k = 0; k < 4; k++) out[k][r] = one[k][0];
                }
            }
            for (int k = 0; k < nt; k++)
                for (int r = 0; r < nr; r++) y[(size_t)(t0 + k) * y_stride + r0 + r] = out[k][r];
        }
    }
}
#endif

bool ag_gemm_f16_available(int64_t n) { return n > 0 && n % 16 == 0 && ag_gemm_cpu_ok(); }

void ag_f16_round(const float *x, float *out, int64_t n) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) {
        round_f16(x, out, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = ag_fp16_to_fp32(ag_fp32_to_fp16(x[i]));
}

void ag_gemm_f16_tile(int64_t n, const void *w, size_t w_row_bytes, int n_rows, const float *x, size_t x_stride,
                      int n_tok, float *y, size_t y_stride) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) {
        tile_f16(n, w, w_row_bytes, n_rows, x, x_stride, n_tok, y, y_stride);
        return;
    }
#endif
    for (int t = 0; t < n_tok; t++) /* not reached when ag_gemm_f16_available said no */
        for (int r = 0; r < n_rows; r++) {
            const uint16_t *wr = (const uint16_t *)((const uint8_t *)w + (size_t)r * w_row_bytes);
            float s = 0.0f;
            for (int64_t i = 0; i < n; i++) s += ag_fp16_to_fp32(wr[i]) * x[(size_t)t * x_stride + i];
            y[(size_t)t * y_stride + r] = s;
        }
}
