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

/* block b of a row: acc += its product, then acc -= its mins term, in the order and rounding
 * of kgemm.c's tiles, so that a row's result does not depend on how many tokens a product has
 * (speculative verification and batched decode give the tokens of one-by-one decoding) */
AG_AVX512 static inline void kgemv_block(ag_type t, const uint8_t *blk, const ag_block_q8_k *a, const ag_kact_extra *e,
                                         const __m512i idx[4], __m512 *acc) {
    ag_kact act;
    kact(t, a, e, &act, 1);
    ag_kdec dec;
    kdecode(t, blk, &dec);
    const __m512i p = kblock_int(t, dec.u, dec.sc, dec.off, act.a, act.bsums, idx);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(dec.d * act.d), *acc);
    if (khas_min(t)) *acc = _mm512_fnmadd_ps(dec.mf, act.bsf, *acc);
}

/* one row against the prepared row (a, e), one accumulator of 16 lanes: the chain of two
 * dependent float operations per block (256 weights) is shorter than the block's integer work
 * and memory time (the former two-accumulator version was not measurably faster: PERFORMANCE.md) */
AG_AVX512 static inline float kgemv_row(ag_type t, int64_t n, const uint8_t *w, const ag_block_q8_k *a,
                                       const ag_kact_extra *e) {
    const size_t bs = kbytes(t);
    const int64_t nb = n / AG_QK_K;
    __m512i idx[4];
    for (int k = 0; k < 4; k++) idx[k] = kidx(t, k);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) kgemv_block(t, w + (size_t)b * bs, &a[b], &e[b], idx, &acc);
    return _mm512_reduce_add_ps(acc);
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
