/*
 * kv_quant.c - attention over a quantized (Q8_0 / Q4_0) KV cache, see kv_quant.h. The cache
 * rows are read as they are stored: no dequantized copy of K or V is made.
 */
#include "model/kv_quant.h"

#include <math.h>

#include "cpu/ops.h"
#include "cpu/vec_q.h"
#include "tensor/quant.h"

void ag_kv_attend_quant(ag_type type, int n_rows, const uint8_t *k0, const uint8_t *v0, size_t stride, const float *q,
                        int hd, float scale, float softcap, float *att, void *qbuf, float *out) {
    const ag_type_traits *tr = ag_type_traits_get(type); /* vec_dot_type is Q8_0 for both */
    ag_type_traits_get(tr->vec_dot_type)->from_float(q, qbuf, hd);
    for (int p = 0; p < n_rows; p++) { /* att[p] = scale * q . K_p */
        float sc;
        tr->vec_dot(hd, &sc, k0 + (size_t)p * stride, qbuf);
        att[p] = softcap > 0 ? softcap * tanhf(sc * scale / softcap) : sc * scale;
    }
    ag_softmax(att, n_rows);
    ag_vec_mad_q_rows(type, n_rows, out, v0, stride, att, hd);
}
