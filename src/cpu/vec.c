/*
 * vec.c - attention-loop vector helpers (see vec.h): AVX-512 (F16C conversions, 16 lanes) when
 * the CPU has it, else the scalar reference.
 */
#include "cpu/vec.h"

#include "tensor/quant.h"

void ag_vec_mad_f16_ref(int n, float *y, const uint16_t *x, float w) {
    for (int i = 0; i < n; i++) y[i] += w * ag_fp16_to_fp32(x[i]); // y += w * x
}

#if defined(__x86_64__)
#include <immintrin.h>

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
