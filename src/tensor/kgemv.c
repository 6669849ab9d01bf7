/*
 * kgemv.c - one token against many K-quant weight rows (decode), AVX-512 VNNI (see kgemm.h):
 * each row is read once, straight from the weights, two blocks (512 elements) per step.
 * Per row and block (kgemm_x86.h):
 *   p    = sum_k VPDPWSSD(VPMADDUBSW(u_k, act_k), scales spread per lane) (+ off . bsums)
 *   acc += float(p) * (d_w * d_a)  -  mf * (d_a * bsums)        (16 lanes, summed at the end)
 */
#include "tensor/kgemm.h"

#include "tensor/gemm.h"
#include "tensor/quant.h"
#include "tensor/quant_k_impl.h"

bool ag_kgemm_available(ag_type wtype, int64_t n) {
    return wtype >= AG_TYPE_Q2_K && wtype <= AG_TYPE_Q6_K && n > 0 && n % AG_QK_K == 0 && ag_gemm_cpu_ok();
}

#if defined(__x86_64__)
#include "tensor/kgemm_x86.h"

/* block b of a row: acc += its product without the mins, accm += its mins term */
AG_AVX512 static inline void kgemv_block(ag_type t, const uint8_t *blk, const ag_block_q8_k *a, const ag_kact_extra *e,
                                         const __m512i idx[4], __m512 *acc, __m512 *accm) {
    ag_kact act;
    kact(t, a, e, &act, 1);
    ag_kdec dec;
    kdecode(t, blk, &dec);
    const __m512i p = kblock_int(t, dec.u, dec.sc, dec.off, act.a, act.bsums, idx);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(dec.d * act.d), *acc);
    if (khas_min(t)) *accm = _mm512_fmadd_ps(dec.mf, act.bsf, *accm);
}

/* one row against the prepared row (a, e), two blocks per step into separate accumulators
 * (and the mins into a third), so that no chain of dependent float operations sets the pace */
AG_AVX512 static inline float kgemv_row(ag_type t, int64_t n, const uint8_t *w, const ag_block_q8_k *a,
                                       const ag_kact_extra *e) {
    const size_t bs = kbytes(t);
    const int64_t nb = n / AG_QK_K;
    __m512i idx[4];
    for (int k = 0; k < 4; k++) idx[k] = kidx(t, k);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), accm0 = _mm512_setzero_ps(), accm1 = accm0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        kgemv_block(t, w + (size_t)b * bs, &a[b], &e[b], idx, &acc0, &accm0);
        kgemv_block(t, w + (size_t)(b + 1) * bs, &a[b + 1], &e[b + 1], idx, &acc1, &accm1);
    }
    if (b < nb) kgemv_block(t, w + (size_t)b * bs, &a[b], &e[b], idx, &acc0, &accm0);
    return _mm512_reduce_add_ps(_mm512_sub_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(accm0, accm1)));
}

/* Rows one after the other: reading two rows interleaved (sharing the activation loads) ran at
 * a third of the memory bandwidth on the development VM (the prefetcher follows one stream). */
#define KGEMV_FN(name, T)                                                                                    \
    AG_AVX512 static void name(int64_t n, const uint8_t *w, size_t rb, int64_t rows, const void *a, float *y) { \
        const ag_kact_extra *e = ag_kact_extras(a, n);                                                 \
        for (int64_t r = 0; r < rows; r++) y[r] = kgemv_row(T, n, w + (size_t)r * rb, a, e);                  \
    }
KGEMV_FN(kgemv_q2_k, AG_TYPE_Q2_K)
KGEMV_FN(kgemv_q3_k, AG_TYPE_Q3_K)
KGEMV_FN(kgemv_q4_k, AG_TYPE_Q4_K)
KGEMV_FN(kgemv_q5_k, AG_TYPE_Q5_K)
KGEMV_FN(kgemv_q6_k, AG_TYPE_Q6_K)
#undef KGEMV_FN
#endif

void ag_kgemv(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *a, float *y) {
#if defined(__x86_64__)
    if (ag_gemm_cpu_ok()) switch (wtype) {
        case AG_TYPE_Q2_K: kgemv_q2_k(n, w, w_row_bytes, n_rows, a, y); return;
        case AG_TYPE_Q3_K: kgemv_q3_k(n, w, w_row_bytes, n_rows, a, y); return;
        case AG_TYPE_Q4_K: kgemv_q4_k(n, w, w_row_bytes, n_rows, a, y); return;
        case AG_TYPE_Q5_K: kgemv_q5_k(n, w, w_row_bytes, n_rows, a, y); return;
        case AG_TYPE_Q6_K: kgemv_q6_k(n, w, w_row_bytes, n_rows, a, y); return;
        default: break;
        }
#endif
    const ag_vec_dot_fn dot = ag_type_traits_get(wtype)->vec_dot; /* without the kernels */
    for (int64_t r = 0; r < n_rows; r++) dot(n, &y[r], (const uint8_t *)w + (size_t)r * w_row_bytes, a);
}
