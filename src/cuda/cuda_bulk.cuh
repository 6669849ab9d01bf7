/*
 * cuda_bulk.cuh - Hopper's bulk copy engine from device code: a contiguous range of global memory
 * copied into the block's shared memory by one thread's instruction (cp.async.bulk), its
 * completion counted in bytes on a shared-memory barrier (mbarrier) that the block's threads wait
 * on. The matrix-vector kernels use it to keep many kilobytes of weights in flight per
 * multiprocessor without holding them in registers (cuda_mmv_bulk.cu; bench/bench_cuda_mmv.cu).
 *
 * Only compute capability 9.0 and newer has these instructions: every helper compiles to nothing
 * below it, and the host dispatches such kernels only where their sm_90 code runs
 * (cu_bulk_available). Sizes and addresses of a copy are multiples of 16 bytes.
 */
#ifndef AG_CUDA_BULK_CUH
#define AG_CUDA_BULK_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define CU_BULK_DEVICE 1 /* the instructions below exist in this compilation pass */
#else
#define CU_BULK_DEVICE 0
#endif

static __device__ __forceinline__ uint32_t cu_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* A barrier that completes a phase once `count` threads arrived and the bytes they announced came. */
static __device__ __forceinline__ void cu_mbar_init(uint64_t *bar, unsigned count) {
#if CU_BULK_DEVICE
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(cu_smem_addr(bar)), "r"(count) : "memory");
#else
    (void)bar, (void)count;
#endif
}

/* Makes initialized barriers visible to the copy engine (then a __syncthreads for the block). */
static __device__ __forceinline__ void cu_mbar_init_fence() {
#if CU_BULK_DEVICE
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}

/* The calling thread arrives on bar and announces `bytes` to come from bulk copies. */
static __device__ __forceinline__ void cu_mbar_expect(uint64_t *bar, uint32_t bytes) {
#if CU_BULK_DEVICE
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(cu_smem_addr(bar)), "r"(bytes) : "memory");
#else
    (void)bar, (void)bytes;
#endif
}

/* Waits until the phase of parity `parity` of bar has completed. */
static __device__ __forceinline__ void cu_mbar_wait(uint64_t *bar, uint32_t parity) {
#if CU_BULK_DEVICE
    uint32_t done = 0;
    do {
        asm volatile("{\n\t.reg .pred p;\n\t"
                     "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done)
                     : "r"(cu_smem_addr(bar)), "r"(parity)
                     : "memory");
    } while (!done);
#else
    (void)bar, (void)parity;
#endif
}

/* Copies bytes (a multiple of 16; both addresses 16-byte aligned) from global src to shared dst,
 * counted on bar. */
static __device__ __forceinline__ void cu_bulk_copy(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
#if CU_BULK_DEVICE
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     cu_smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(cu_smem_addr(bar))
                 : "memory");
#else
    (void)dst, (void)src, (void)bytes, (void)bar;
#endif
}

/* The calling thread copies 16 bytes from global src to shared dst asynchronously (cp.async,
 * compute capability 8.0+; kept in L2, not L1). */
static __device__ __forceinline__ void cu_async_copy16(void *dst, const void *src) {
#if CU_BULK_DEVICE
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(cu_smem_addr(dst)), "l"(src) : "memory");
#else
    (void)dst, (void)src;
#endif
}

/* bar receives one arrival from the calling thread once all its earlier cp.async copies have
 * landed (the barrier's count includes that arrival: .noinc). */
static __device__ __forceinline__ void cu_async_copies_arrive(uint64_t *bar) {
#if CU_BULK_DEVICE
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(cu_smem_addr(bar)) : "memory");
#else
    (void)bar;
#endif
}

#endif
