/*
 * qact.c - quantizing activation rows into the prepared 8-bit layout of qact.h: the scalar
 * reference (the same arithmetic as the Q8_0 / Q8_1 reference quantizers) and an AVX-512
 * version that gives identical bytes.
 */
#include "tensor/qact.h"

#include <math.h>
#include <string.h>

#include "tensor/gemm.h"
#include "tensor/quant.h"

size_t ag_qact_row_bytes(int64_t n) {
    const size_t s_bytes = ((size_t)(n / 32) * sizeof(float) + 63) & ~(size_t)63;
    return (size_t)(n / AG_QACT_GROUP) * AG_QACT_GROUP_BYTES + s_bytes;
}

/* round half away from zero, clamped to +-127; NaN -> 0 (the Q8 reference's rounding) */
static int8_t q8_round(float v) {
    const float r = roundf(v);
    if (!(r == r)) return 0;
    return (int8_t)(r > 127.0f ? 127 : r < -127.0f ? -127 : (int)r);
}

void ag_qact_quantize_ref(const float *x, void *out, int64_t n) {
    ag_qact_group *g = out;
    float *s = (float *)((uint8_t *)out + (size_t)(n / AG_QACT_GROUP) * AG_QACT_GROUP_BYTES);
    for (int64_t b = 0; b < n / 32; b++, x += 32) {
        ag_qact_group *gr = &g[b / 4];
        const int k = (int)(b % 4);
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]);
        const float d = amax / 127; // d = amax/127, q = round(x/d)
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int8_t q = q8_round(x[j] * id);
            (j < 16 ? gr->lo : gr->hi)[16 * k + j % 16] = q;
            sum += q;
        }
        for (int l = 4 * k; l < 4 * k + 4; l++) {
            int ls = 0;
            for (int i = 0; i < 4; i++) ls += gr->lo[4 * l + i] + gr->hi[4 * l + i];
            gr->nsum[l] = -ls;
            gr->d[l] = ag_fp16_to_fp32(ag_fp32_to_fp16(d));
        }
        s[b] = ag_fp16_to_fp32(ag_fp32_to_fp16((float)sum * d));
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* 16 floats -> 16 rounded codes as int32: round half away from zero, clamp, NaN -> 0 */
AG_AVX512 static inline __m512i round_q8(__m512 v) {
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    __m512 r = _mm512_mask_add_ps(t, up, t, one);
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    const __mmask16 ok = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    return _mm512_maskz_cvttps_epi32(ok, r);
}

AG_AVX512 static void quantize_avx512(const float *x, void *out, int64_t n) {
    ag_qact_group *g = out;
    float *s = (float *)((uint8_t *)out + (size_t)(n / AG_QACT_GROUP) * AG_QACT_GROUP_BYTES);
    const __m512i ones = _mm512_set1_epi8(1);
    for (int64_t gi = 0; gi < n / AG_QACT_GROUP; gi++) {
        ag_qact_group *gr = &g[gi];
        float dk[4];
        for (int k = 0; k < 4; k++, x += 32) {
            const __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
            /* NaN lanes keep the running max (second operand), as the scalar loop skips them */
            const __m512 m = _mm512_max_ps(_mm512_abs_ps(x1), _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps()));
            const float d = _mm512_reduce_max_ps(m) / 127;
            const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
            const __m512i q0 = round_q8(_mm512_mul_ps(x0, id)), q1 = round_q8(_mm512_mul_ps(x1, id));
            _mm_storeu_si128((__m128i *)(gr->lo + 16 * k), _mm512_cvtepi32_epi8(q0));
            _mm_storeu_si128((__m128i *)(gr->hi + 16 * k), _mm512_cvtepi32_epi8(q1));
            s[gi * 4 + k] = _cvtsh_ss(_cvtss_sh((float)_mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)) * d, 0));
            dk[k] = _cvtsh_ss(_cvtss_sh(d, 0));
        }
        const __m512i lo = _mm512_loadu_si512(gr->lo), hi = _mm512_loadu_si512(gr->hi);
        const __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, lo), ones, hi);
        _mm512_storeu_si512(gr->nsum, _mm512_sub_epi32(_mm512_setzero_si512(), sum));
        const __m512i idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
        _mm512_storeu_ps(gr->d, _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_loadu_ps(dk))));
    }
}

#endif

void ag_qact_quantize(const float *x, void *out, int64_t n) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) {
        quantize_avx512(x, out, n);
        return;
    }
#endif
    ag_qact_quantize_ref(x, out, n);
}
