/*
 * kv_quant.h - attention of one (token, head) over a KV cache kept in Q8_0 or Q4_0 blocks:
 *   qq  = Q8_0(q)                                  once per (token, head)
 *   att = softmax(scale * (qq . K_p), softcapped)   integer vec_dot of the weight kernels
 *   out = sum_p att[p] * dequant(V_p)              ag_vec_mad_q_rows
 */
#ifndef AG_MODEL_KV_QUANT_H
#define AG_MODEL_KV_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/forward.h"
#include "tensor/types.h"

static inline bool ag_kv_type_quantized(ag_type t) { return t == AG_TYPE_Q8_0 || t == AG_TYPE_Q4_0; }

/* k0, v0: the head's slice of the first row seen; rows stride bytes apart. att: n_rows floats;
 * qbuf: room for head_dim floats (the quantized query). */
/* The same over positions p0 .. p0+n_rows-1 of layer il of a cache of either layout (forward.h);
 * head_off: the head's byte offset in a row. */
void ag_kv_attend_quant_cache(const ag_kv_cache *kv, int il, int p0, int n_rows, size_t head_off, const float *q, int hd,
                              float scale, float softcap, float *att, void *qbuf, float *out);
void ag_kv_attend_quant(ag_type type, int n_rows, const uint8_t *k0, const uint8_t *v0, size_t stride, const float *q,
                        int hd, float scale, float softcap, float *att, void *qbuf, float *out);

#endif
