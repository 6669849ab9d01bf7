/*
 * vec.c - attention-loop vector helpers (see vec.h): AVX-512 (F16C conversions, 16 lanes) when
 * the CPU has it, else the scalar reference.
 */
#include "cpu/vec.h"

#include "tensor/quant.h"


void ag_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float w) {
    for (int i = 0; i < n; i++) y[i] += w * ag_fp16_to_fp32(x[i]); // y += w * x
}

void ag_vec_dot_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd,
                             float scale) {
    for (int p = 0; p < n_rows; p++) {
        const uint16_t *k = (const uint16_t *)((const uint8_t *)rows + (size_t)p * stride);
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += q[d] * ag_fp16_to_fp32(k[d]); // s = q . k_p
        out[p] = s * scale;
    }
}

void ag_vec_mad_f16_rows_ref(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
    for (int d = 0; d < hd; d++) out[d] = 0.0f;
    for (int p = 0; p < n_rows; p++) {
        const uint16_t *v = (const uint16_t *)((const uint8_t *)rows + (size_t)p * stride);
        for (int d = 0; d < hd; d++) out[d] += w[p] * ag_fp16_to_fp32(v[d]); // out += w_p * v_p
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define MAX_CHUNKS 16 /* head_dim up to 256 */

static inline __mmask16 chunk_mask(int hd, int c) {
    const int left = hd - 16 * c;
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))) static void dot_rows_avx512(int n_rows, float *out, const uint8_t *rows,
                                                                        size_t stride, const float *q, int hd,
                                                                        float scale) {
    const int nc = (hd + 15) / 16;
    __m512 qv[MAX_CHUNKS];
    for (int c = 0; c < nc; c++) qv[c] = _mm512_maskz_loadu_ps(chunk_mask(hd, c), q + 16 * c);
    for (int p = 0; p < n_rows; p++) {
        const uint16_t *k = (const uint16_t *)(rows + (size_t)p * stride);
        __m512 acc = _mm512_setzero_ps();
        for (int c = 0; c < nc; c++)
            acc = _mm512_fmadd_ps(qv[c], _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(chunk_mask(hd, c), k + 16 * c)), acc);
        out[p] = _mm512_reduce_add_ps(acc) * scale;
    }
}

/* Rows p.. of chunk c (16 values, mask m) into two accumulators: row p + 2i to acc0, the next to
 * acc1 (two chains of FMAs in flight); the order both mad_rows kernels share. */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))) static inline __attribute__((always_inline)) void
mad_rows_pairs(int n_rows, int p, const uint8_t *rows, size_t stride, const float *w, int c, __mmask16 m, __m512 *acc0,
               __m512 *acc1) {
    for (; p + 2 <= n_rows; p += 2) {
        const uint16_t *v0 = (const uint16_t *)(rows + (size_t)p * stride) + 16 * c;
        const uint16_t *v1 = (const uint16_t *)(rows + (size_t)(p + 1) * stride) + 16 * c;
        *acc0 = _mm512_fmadd_ps(_mm512_set1_ps(w[p]), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v0)), *acc0);
        *acc1 = _mm512_fmadd_ps(_mm512_set1_ps(w[p + 1]), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v1)), *acc1);
    }
    if (p < n_rows) {
        const uint16_t *v0 = (const uint16_t *)(rows + (size_t)p * stride) + 16 * c;
        *acc0 = _mm512_fmadd_ps(_mm512_set1_ps(w[p]), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v0)), *acc0);
    }
}

/* out = sum_p w[p] * row p in one call: the sums stay in registers; the same bits as
 * mad_rows_acc_avx512 from zero over all rows, then mad_rows_end_avx512. */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))) static void mad_rows_avx512(int n_rows, float *out,
                                                                                        const uint8_t *rows,
                                                                                        size_t stride, const float *w,
                                                                                        int hd) {
    for (int c = 0; c < (hd + 15) / 16; c++) {
        const __mmask16 m = chunk_mask(hd, c);
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
        int p = 0;
        mad_rows_pairs(n_rows, p, rows, stride, w, c, m, &acc0, &acc1);
        _mm512_mask_storeu_ps(out + 16 * c, m, _mm512_add_ps(acc0, acc1));
    }
}

/* Row p of the whole sum goes to accumulator p & 1 (two chains of FMAs in flight); acc (2, hd)
 * holds both between calls, so the rows may come in runs (first_odd: this run starts at an odd p). */
__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))) static void mad_rows_acc_avx512(int n_rows, float *acc,
                                                                                            const uint8_t *rows,
                                                                                            size_t stride, const float *w,
                                                                                            int hd, bool first_odd) {
    for (int c = 0; c < (hd + 15) / 16; c++) {
        const __mmask16 m = chunk_mask(hd, c);
        __m512 acc0 = _mm512_maskz_loadu_ps(m, acc + 16 * c), acc1 = _mm512_maskz_loadu_ps(m, acc + hd + 16 * c);
        int p = 0;
        if (first_odd && n_rows > 0) {
            const uint16_t *v0 = (const uint16_t *)rows + 16 * c;
            acc1 = _mm512_fmadd_ps(_mm512_set1_ps(w[0]), _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, v0)), acc1);
            p = 1;
        }
        mad_rows_pairs(n_rows, p, rows, stride, w, c, m, &acc0, &acc1);
        _mm512_mask_storeu_ps(acc + 16 * c, m, acc0);
        _mm512_mask_storeu_ps(acc + hd + 16 * c, m, acc1);
    }
}

__attribute__((target("avx512f,avx512bw,avx512vl,f16c,fma"))) static void mad_rows_end_avx512(float *out, const float *acc,
                                                                                            int hd) {
    for (int c = 0; c < (hd + 15) / 16; c++) {
        const __mmask16 m = chunk_mask(hd, c);
        const __m512 a0 = _mm512_maskz_loadu_ps(m, acc + 16 * c), a1 = _mm512_maskz_loadu_ps(m, acc + hd + 16 * c);
        _mm512_mask_storeu_ps(out + 16 * c, m, _mm512_add_ps(a0, a1));
    }
}

__attribute__((target("avx512f,f16c,fma"))) static void mad_f16_avx512(int n, float *y, const uint16_t *x, float w) {
    const __m512 wv = _mm512_set1_ps(w);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 xv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i)));
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(wv, xv, _mm512_loadu_ps(y + i)));
    }
    for (; i < n; i++) y[i] += w * _cvtsh_ss(x[i]);
}
#endif

void ag_vec_mad_f16(int n, float *y, const uint16_t *x, float w) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        mad_f16_avx512(n, y, x, w);
        return;
    }
#endif
    ag_vec_mad_f16_ref(n, y, x, w);
}

void ag_vec_dot_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *q, int hd, float scale) {
#if defined(__x86_64__)
    if (hd <= 16 * MAX_CHUNKS && __builtin_cpu_supports("avx512bw")) {
        dot_rows_avx512(n_rows, out, rows, stride, q, hd, scale);
        return;
    }
#endif
    ag_vec_dot_f16_rows_ref(n_rows, out, rows, stride, q, hd, scale);
}

#if defined(__x86_64__)
static bool mad_rows_simd(void) { return __builtin_cpu_supports("avx512bw"); }
#endif

void ag_vec_mad_f16_rows_acc(int n_rows, float *acc, const void *rows, size_t stride, const float *w, int hd,
                             bool first_odd) {
#if defined(__x86_64__)
    if (mad_rows_simd()) {
        mad_rows_acc_avx512(n_rows, acc, rows, stride, w, hd, first_odd);
        return;
    }
#endif
    (void)first_odd; /* the scalar twin keeps one sum (acc's first half), row by row */
    for (int p = 0; p < n_rows; p++) {
        const uint16_t *v = (const uint16_t *)((const uint8_t *)rows + (size_t)p * stride);
        for (int d = 0; d < hd; d++) acc[d] += w[p] * ag_fp16_to_fp32(v[d]); // acc += w_p * v_p
    }
}

void ag_vec_mad_f16_rows_end(float *out, const float *acc, int hd) {
#if defined(__x86_64__)
    if (mad_rows_simd()) {
        mad_rows_end_avx512(out, acc, hd);
        return;
    }
#endif
    for (int d = 0; d < hd; d++) out[d] = acc[d];
}

void ag_vec_mad_f16_rows(int n_rows, float *out, const void *rows, size_t stride, const float *w, int hd) {
#if defined(__x86_64__)
    if (mad_rows_simd()) {
        mad_rows_avx512(n_rows, out, rows, stride, w, hd);
        return;
    }
#endif
    ag_vec_mad_f16_rows_ref(n_rows, out, rows, stride, w, hd);
}
