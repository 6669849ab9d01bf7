/*
 * kgemv_few.c - a few tokens (2..AG_GEMV_FEW_MAX) against many K-quant weight rows: the
 * batched decode step of continuous batching, AVX-512 VNNI (see kgemm.h).
 *
 * Like kgemv.c, rows are read one after the other, straight from the weights; each block is
 * decoded once per 4 tokens (kdecode) and then meets those tokens' activations, with per (row, token) the
 * operations of kgemv.c in its order, so that a row's result has the same bits whatever the
 * number of tokens (speculative verification and batched decode give the tokens of decoding one
 * by one). The prefill tiles (kgemm.c) decode a tile of rows into scratch first, which for two to
 * eight tokens costs more than it saves.
 */
#include "tensor/gemm.h"
#include "tensor/kgemm.h"
#include "tensor/quant_k_impl.h"

#if defined(__x86_64__)
#include "tensor/kgemm_x86.h"

/* Tokens per pass over a row: with 8 at once the accumulators and a block's decoded codes no
 * longer fit in registers (Q4_K, 8 tokens: 1.20 ms against 0.88 ms for two passes of 4 that
 * decode each block twice, a 2048 x 8192 product on the development VM). */
#define KFEW_TOK 4

/* One row (w) against NT <= KFEW_TOK tokens (a constant at each call site: the NT accumulators stay in
 * registers): y[j * ys] = dot(row, token j). */
AG_AVX512 static inline __attribute__((always_inline)) void kfew_row(ag_type t, int NT, int64_t n, const uint8_t *w,
                                                                     const uint8_t *act, size_t arb, float *y,
                                                                     size_t ys) {
    const size_t bs = kbytes(t);
    __m512i idx[4];
    for (int k = 0; k < 4; k++) idx[k] = kidx(t, k);
    __m512 acc[KFEW_TOK];
    for (int j = 0; j < NT; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / AG_QK_K; b++) {
        ag_kdec dec;
        kdecode(t, w + (size_t)b * bs, &dec);
        for (int j = 0; j < NT; j++) {
            const ag_block_q8_k *a = (const ag_block_q8_k *)(act + (size_t)j * arb);
            ag_kact ka;
            kact(t, &a[b], &ag_kact_extras(a, n)[b], &ka, 1);
            const __m512i p = kblock_int(t, dec.u, dec.sc, dec.off, ka.a, ka.bsums, idx);
            acc[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), _mm512_set1_ps(dec.d * ka.d), acc[j]);
            if (khas_min(t)) acc[j] = _mm512_fnmadd_ps(dec.mf, ka.bsf, acc[j]);
        }
    }
    for (int j = 0; j < NT; j++) y[(size_t)j * ys] = _mm512_reduce_add_ps(acc[j]);
}

#define KFEW_FN(name, T)                                                                                         \
    AG_AVX512 static void name(int64_t n, const uint8_t *w, size_t rb, int64_t rows, const uint8_t *act,       \
                               size_t arb, int n_tok, float *y, size_t ys) {                                     \
        for (int t0 = 0; t0 < n_tok; t0 += KFEW_TOK) { /* 4 tokens' activations stay in L1 over the rows */ \
            const uint8_t *at = act + (size_t)t0 * arb;                                                          \
            float *yt = y + (size_t)t0 * ys;                                                                     \
            const int nt = n_tok - t0 < KFEW_TOK ? n_tok - t0 : KFEW_TOK;                                        \
            for (int64_t r = 0; r < rows; r++) {                                                                 \
                const uint8_t *wr = w + (size_t)r * rb;                                                          \
                switch (nt) {                                                                                    \
                case 1: kfew_row(T, 1, n, wr, at, arb, yt + r, ys); break;                                       \
                case 2: kfew_row(T, 2, n, wr, at, arb, yt + r, ys); break;                                       \
                case 3: kfew_row(T, 3, n, wr, at, arb, yt + r, ys); break;                                       \
                default: kfew_row(T, 4, n, wr, at, arb, yt + r, ys); break;                                      \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }
KFEW_FN(kfew_q2_k, AG_TYPE_Q2_K)
KFEW_FN(kfew_q3_k, AG_TYPE_Q3_K)
KFEW_FN(kfew_q4_k, AG_TYPE_Q4_K)
KFEW_FN(kfew_q5_k, AG_TYPE_Q5_K)
KFEW_FN(kfew_q6_k, AG_TYPE_Q6_K)
#undef KFEW_FN
#endif

void ag_kgemv_few(ag_type wtype, int64_t n, const void *w, size_t w_row_bytes, int64_t n_rows, const void *act,
                  size_t act_row_bytes, int n_tok, float *y, size_t y_stride) {
#if defined(__x86_64__)
    if (ag_kgemm_available(wtype, n)) switch (wtype) {
        case AG_TYPE_Q2_K: kfew_q2_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
        case AG_TYPE_Q3_K: kfew_q3_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
        case AG_TYPE_Q4_K: kfew_q4_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
        case AG_TYPE_Q5_K: kfew_q5_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
        case AG_TYPE_Q6_K: kfew_q6_k(n, w, w_row_bytes, n_rows, act, act_row_bytes, n_tok, y, y_stride); return;
        default: break;
        }
#endif
    for (int t = 0; t < n_tok; t++) { /* without the kernels: one gemv per token */
        for (int64_t r = 0; r < n_rows; r++) {
            float v;
            ag_kgemv(wtype, n, (const uint8_t *)w + (size_t)r * w_row_bytes, w_row_bytes, 1,
                     (const uint8_t *)act + (size_t)t * act_row_bytes, &v);
            y[(size_t)t * y_stride + r] = v;
        }
    }
}
