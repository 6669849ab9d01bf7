/*
 * quant.c - choosing kernels at run time: which instruction sets this CPU has, and the trait
 * table to use for a type (ag_type_traits_get / ag_type_traits_isa). The best instruction set
 * is found once per process (pthread_once) and never changes afterwards: CPUID is slow under
 * virtualization and ag_type_traits_get sits on the hot path.
 */
#include <pthread.h>

#include "tensor/quant_impl.h"
#include "tensor/quant_k_impl.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define AG_X86 1
#endif

const char *ag_isa_name(ag_isa isa) {
    switch (isa) {
    case AG_ISA_REF: return "ref";
    case AG_ISA_AVX2: return "avx2";
    case AG_ISA_AVX512: return "avx512";
    default: return "?";
    }
}

#ifdef AG_X86
static bool cpu_has_f16c(void) {
    unsigned a, b, c, d;
    /* clang's __builtin_cpu_supports does not know "f16c": read CPUID.1:ECX bit 29 */
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

static bool cpu_has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
}

static bool cpu_has_avx512(void) {
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
           __builtin_cpu_supports("avx512bf16");
}
#endif

bool ag_isa_supported(ag_isa isa) {
    switch (isa) {
    case AG_ISA_REF: return true;
#ifdef AG_X86
    case AG_ISA_AVX2: return ag_traits_avx2(AG_TYPE_F32) != NULL && cpu_has_avx2();
    case AG_ISA_AVX512: return ag_traits_avx512(AG_TYPE_F32) != NULL && cpu_has_avx512();
#endif
    default: return false;
    }
}

/* The table of one SIMD variant for type (legacy or K-quant file), NULL when it has none. */
static const ag_type_traits *isa_table(ag_type type, ag_isa isa) {
    if (isa == AG_ISA_AVX2) return ag_traits_avx2(type) ? ag_traits_avx2(type) : ag_traits_k_avx2(type);
    if (isa == AG_ISA_AVX512) return ag_traits_avx512(type) ? ag_traits_avx512(type) : ag_traits_k_avx512(type);
    return NULL;
}

const ag_type_traits *ag_type_traits_isa(ag_type type, ag_isa isa) {
    if (!ag_isa_supported(isa)) return NULL;
    const ag_type_traits *t = isa_table(type, isa);
    return t ? t : ag_type_traits_ref(type);
}

static pthread_once_t best_isa_once = PTHREAD_ONCE_INIT;
static ag_isa best_isa = AG_ISA_REF; /* written once, under best_isa_once */

static void find_best_isa(void) {
    for (int isa = AG_ISA_COUNT - 1; isa > AG_ISA_REF; isa--)
        if (ag_isa_supported((ag_isa)isa)) {
            best_isa = (ag_isa)isa;
            return;
        }
}

const ag_type_traits *ag_type_traits_get(ag_type type) {
    pthread_once(&best_isa_once, find_best_isa);
    if (best_isa == AG_ISA_AVX512 && isa_table(type, AG_ISA_AVX512)) return isa_table(type, AG_ISA_AVX512);
    if (best_isa >= AG_ISA_AVX2 && isa_table(type, AG_ISA_AVX2)) return isa_table(type, AG_ISA_AVX2);
    return ag_type_traits_ref(type);
}
