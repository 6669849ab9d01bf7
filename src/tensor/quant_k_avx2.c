/*
 * quant_k_avx2.c - AVX2 dot products of the K-quant weight types against Q8_K activations
 * (x86 only) and their trait table.
 */
#include "tensor/quant_k_impl.h"

const ag_type_traits *ag_traits_k_avx2(ag_type type) {
    (void)type;
    return NULL;
}
