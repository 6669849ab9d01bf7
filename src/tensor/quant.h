/*
 * quant.h - per-type kernels: convert to/from F32 and the row dot product used by matmul.
 *
 * For each computable weight type t:
 *   to_float(x, y, n)      dequantize n elements (n a multiple of t's block size)
 *   from_float(x, y, n)    quantize n floats into t (the reference quantizer, bit-exact to GGUF)
 *   vec_dot_type           the type activations are converted to before a dot product with t
 *                          (F32 for F32, F16 for F16, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0,
 *                          Q8_1 for Q4_1/Q5_1, Q8_K for Q2_K..Q6_K) - as the reference
 *                          implementation does it
 *   vec_dot(n, s, w, a)    *s = sum_i w[i] * a[i] for one row w (type t) and a (vec_dot_type)
 *
 * Every entry has a plain scalar reference (ag_type_traits_ref); ag_type_traits_get returns
 * the fastest variant this CPU supports, which tests compare against the reference.
 */
#ifndef AG_TENSOR_QUANT_H
#define AG_TENSOR_QUANT_H

#include "tensor/types.h"

typedef void (*ag_to_float_fn)(const void *restrict x, float *restrict y, int64_t n);
typedef void (*ag_from_float_fn)(const float *restrict x, void *restrict y, int64_t n);
typedef void (*ag_vec_dot_fn)(int64_t n, float *restrict s, const void *restrict w,
                              const void *restrict a);

typedef struct {
    ag_to_float_fn to_float;     /* NULL when not computable */
    ag_from_float_fn from_float; /* NULL when we cannot quantize to it */
    ag_type vec_dot_type;
    ag_vec_dot_fn vec_dot;       /* NULL when not usable as a weight type */
} ag_type_traits;

/* Scalar reference kernels; entries of types we do not compute are all NULL. */
const ag_type_traits *ag_type_traits_ref(ag_type type);
/* Fastest kernels for this CPU (falls back to the reference). */
const ag_type_traits *ag_type_traits_get(ag_type type);

/* Kernel variants by instruction set. ag_type_traits_get picks the best one the CPU has;
 * tests and benchmarks ask for a given one to compare it with the reference. */
typedef enum {
    AG_ISA_REF = 0,    /* portable scalar C */
    AG_ISA_AVX2 = 1,   /* AVX2 + FMA + F16C */
    AG_ISA_AVX512 = 2, /* AVX-512 F/BW/VL/VNNI/BF16 (+ AVX2, FMA, F16C) */
    AG_ISA_COUNT = 3
} ag_isa;

const char *ag_isa_name(ag_isa isa);
/* True when this build has kernels for isa and this CPU (and OS) can run them. */
bool ag_isa_supported(ag_isa isa);
/* Kernels of one variant: NULL when !ag_isa_supported(isa). Functions the variant has no
 * special version of are the reference ones, so every entry is complete. */
const ag_type_traits *ag_type_traits_isa(ag_type type, ag_isa isa);

/* IEEE half and bfloat16 conversions: round to nearest even (subnormals kept, overflow to
 * inf); NaN stays NaN, sign and top payload bits kept, made quiet. */
float ag_fp16_to_fp32(uint16_t h);
uint16_t ag_fp32_to_fp16(float f);
float ag_bf16_to_fp32(uint16_t h);
uint16_t ag_fp32_to_bf16(float f);

#endif
