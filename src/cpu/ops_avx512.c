/*
 * ops_avx512.c - AVX-512 versions of the F32 operations of ops.h (RMSNorm, softmax,
 * SiLU*up) and the vector exponential they use. Scalar twins: ops.c (tests compare them).
 *
 * exp: x = n ln2 + r (|r| <= ln2/2, ln2 split in two for exactness), exp(r) by the Cephes
 * degree-6 polynomial, times 2^n with VSCALEFPS; inputs clamped to [-104, 88.7] (below, the
 * result is 0; above, inf as expf gives). About 1 ulp from expf.
 * Sums kept in double where the references keep them in double (mean square, softmax's sum).
 */
#include <math.h>
#include <pthread.h>

#include "cpu/ops.h"
#include "tensor/quant.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool avx512_ok; /* written once, under once */

static void check_cpu(void) { avx512_ok = ag_isa_supported(AG_ISA_AVX512); }

bool ag_ops_avx512_ok(void) {
    pthread_once(&once, check_cpu);
    return avx512_ok;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AG_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

AG_AVX512 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(88.72283935546875f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

static inline __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u); }

AG_AVX512 void ag_vec_exp_avx512(float *y, const float *x, int n) {
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, exp16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

AG_AVX512 void ag_rmsnorm_avx512(float *y, const float *x, const float *w, int n, float eps) {
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 16) { // sum += x^2 (each square rounded to float, summed in double)
        const __m512 v = _mm512_maskz_loadu_ps(tail_mask(n - i), x + i);
        const __m512 sq = _mm512_mul_ps(v, v);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sq), 1))));
    }
    const double sum = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
    const __m512 scale = _mm512_set1_ps(1.0f / sqrtf((float)(sum / n) + eps));
    for (int i = 0; i < n; i += 16) { // y = (x * scale) * w
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale);
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i)));
    }
}

AG_AVX512 void ag_softmax_avx512(float *x, int n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16) mx = _mm512_mask_max_ps(mx, tail_mask(n - i), _mm512_maskz_loadu_ps(tail_mask(n - i), x + i), mx);
    const __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    for (int i = 0; i < n; i += 16) { // x = exp(x - max), sum += x (in double)
        const __mmask16 m = tail_mask(n - i);
        const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), maxv)));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const __m512 inv = _mm512_set1_ps((float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1))));
    for (int i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

AG_AVX512 void ag_silu_mul_avx512(float *gate, const float *up, int n) {
    for (int i = 0; i < n; i += 16) { // gate = gate / (1 + exp(-gate)) * up
        const __mmask16 m = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

#else /* not x86: never called (ag_ops_avx512_ok is false) */

void ag_vec_exp_avx512(float *y, const float *x, int n) { for (int i = 0; i < n; i++) y[i] = expf(x[i]); }
void ag_rmsnorm_avx512(float *y, const float *x, const float *w, int n, float eps) { ag_rmsnorm_ref(y, x, w, n, eps); }
void ag_softmax_avx512(float *x, int n) { ag_softmax_ref(x, n); }
void ag_silu_mul_avx512(float *gate, const float *up, int n) { ag_silu_mul_ref(gate, up, n); }

#endif
