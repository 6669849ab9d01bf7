/*
 * q8k.c - Q8_K activation quantization in AVX-512 (see kgemm.h), bytes identical to
 * ag_ref_from_float_q8_k: per block of 256 the signed value of largest magnitude (the first
 * one, NaN ignored), iscale = -127 / max, q = nearest_int(iscale * x) computed with the same
 * float add trick (so NaN/inf give the same bytes), clamped to -128..127, bsums per 16.
 * Then the prepared rows of kgemm.h (ag_kact_quantize): the Q8_K blocks plus, per block, the
 * codes reordered for Q4_K/Q5_K and d * bsums as floats (scalar: a few hundred bytes a block).
 */
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/kgemm.h"
#include "tensor/quant_k_impl.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

AG_AVX512 static void q8k_block(const float *x, ag_block_q8_k *y) {
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < AG_QK_K; i += 16) /* max(a, m) returns m when a is NaN */
        m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), m);
    const float amax = _mm512_reduce_max_ps(m);
    if (amax == 0.0f) {
        memset(y, 0, sizeof *y);
        return;
    }
    float max = 0.0f;
    for (int i = 0; i < AG_QK_K; i += 16) {
        const __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + i)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
        if (k) {
            max = x[i + __builtin_ctz(k)];
            break;
        }
    }
    const float iscale = -127.0f / max;
    const __m512 vs = _mm512_set1_ps(iscale), magic = _mm512_set1_ps(12582912.0f);
    const __m512i mant = _mm512_set1_epi32(0x007fffff), half = _mm512_set1_epi32(0x00400000);
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    for (int g = 0; g < 16; g++) {
        const __m512 t = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * g), vs), magic);
        __m512i q = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(t), mant), half);
        q = _mm512_min_epi32(_mm512_max_epi32(q, lo), hi);
        _mm_storeu_si128((__m128i *)(y->qs + 16 * g), _mm512_cvtepi32_epi8(q));
        y->bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
    }
    y->d = 1.0f / iscale;
}

AG_AVX512 static void q8k_avx512(const float *x, void *vy, int64_t n) {
    ag_block_q8_k *y = vy;
    for (int64_t b = 0; b < n / AG_QK_K; b++) q8k_block(x + b * AG_QK_K, &y[b]);
}
#endif

void ag_q8k_quantize(const float *x, void *y, int64_t n) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) {
        q8k_avx512(x, y, n);
        return;
    }
#endif
    ag_ref_from_float_q8_k(x, y, n);
}

/* ---------------------------------------------------------------- prepared rows (kgemm.h) */

size_t ag_kact_row_bytes(int64_t n) {
    return (((size_t)(n / AG_QK_K) * sizeof(ag_block_q8_k) + 63) & ~(size_t)63) + (size_t)(n / AG_QK_K) * sizeof(ag_kact_extra);
}

void ag_kact_quantize(const float *x, void *row, int64_t n) {
    ag_q8k_quantize(x, row, n);
    const ag_block_q8_k *y = row;
    ag_kact_extra *e = (ag_kact_extra *)ag_kact_extras(row, n);
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        for (int k = 0; k < 4; k++) /* 32-byte runs 0, 2, 1, 3, 4, 6, 5, 7 */
            for (int h = 0; h < 2; h++) memcpy(e[b].qp + 64 * k + 32 * h, y[b].qs + 128 * (k / 2) + 32 * (k % 2) + 64 * h, 32);
        for (int g = 0; g < 16; g++) e[b].bsf[g] = y[b].d * (float)y[b].bsums[g];
    }
}
