/*
 * kv_quant.c - attention over a quantized (Q8_0 / Q4_0) KV cache, see kv_quant.h. The cache
 * rows are read as they are stored, in runs of consecutive rows (model/kv_blocks.h: the whole
 * range of a contiguous cache, a block at a time otherwise): no dequantized copy of K or V is
 * made, and the weighted sum of V adds run after run (ag_vec_mad_q_rows_add), so both layouts
 * give the same bits.
 */
#include "model/kv_quant.h"

#include <math.h>
#include <string.h>

#include "cpu/ops.h"
#include "cpu/vec_q.h"
#include "model/kv_blocks.h"
#include "tensor/quant.h"

void ag_kv_attend_quant_cache(const ag_kv_cache *kv, int il, int p0, int n_rows, size_t head_off, const float *q, int hd,
                              float scale, float softcap, float *att, void *qbuf, float *out) {
    const ag_type_traits *tr = ag_type_traits_get(kv->type); /* vec_dot_type is Q8_0 for both */
    ag_type_traits_get(tr->vec_dot_type)->from_float(q, qbuf, hd);
    const int end = p0 + n_rows;
    uint8_t *k0, *v0;
    for (int p = p0, r; p < end; p += r) { /* att[p] = scale * q . K_p */
        r = ag_kv_run(kv, il, p, end - p, &k0, &v0);
        for (int i = 0; i < r; i++) {
            float sc;
            tr->vec_dot(hd, &sc, k0 + (size_t)i * kv->row_bytes + head_off, qbuf);
            att[p - p0 + i] = softcap > 0 ? softcap * tanhf(sc * scale / softcap) : sc * scale;
        }
    }
    ag_softmax(att, n_rows);
    memset(out, 0, (size_t)hd * sizeof(float));
    for (int p = p0, r; p < end; p += r) {
        r = ag_kv_run(kv, il, p, end - p, &k0, &v0);
        ag_vec_mad_q_rows_add(kv->type, r, out, v0 + head_off, kv->row_bytes, att + (p - p0), hd);
    }
}

void ag_kv_attend_quant(ag_type type, int n_rows, const uint8_t *k0, const uint8_t *v0, size_t stride, const float *q,
                        int hd, float scale, float softcap, float *att, void *qbuf, float *out) {
    const ag_kv_cache rows = {.n_ctx = n_rows, .type = type, .row_bytes = stride, .k = (uint8_t *)k0, .v = (uint8_t *)v0};
    ag_kv_attend_quant_cache(&rows, 0, 0, n_rows, 0, q, hd, scale, softcap, att, qbuf, out);
}
