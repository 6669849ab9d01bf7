/*
 * cuda_blas.cu - cuBLAS loaded when a session first needs it, not when the program starts.
 *
 * Linking libcublas made every start of the program load it and libcublasLt (~600 MB of code
 * whose static initializers and page faults took ~0.45 s of CPU, even for `autoglm --version` on
 * a machine without a GPU). Instead, the eight cuBLAS functions the backend calls are defined
 * here with cuBLAS's own names and signatures; the first call dlopens libcublas.so.<major> (the
 * major version this build was compiled against) and each forwards to the library's function.
 * When the library cannot be loaded, cublasCreate fails with CUBLAS_STATUS_NOT_INITIALIZED and
 * cu_blas_why() says why; a handle is never made then, so the other functions are not reached.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "cuda/cuda_internal.cuh"

#define STR2(x) #x
#define STR(x) STR2(x)
#define BLAS_LIB "libcublas.so." STR(CUBLAS_VER_MAJOR)

static struct {
    cublasStatus_t (*create)(cublasHandle_t *);
    cublasStatus_t (*destroy)(cublasHandle_t);
    cublasStatus_t (*set_stream)(cublasHandle_t, cudaStream_t);
    cublasStatus_t (*set_workspace)(cublasHandle_t, void *, size_t);
    cublasStatus_t (*sgemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                            const float *, int, const float *, int, const float *, float *, int);
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    cublasStatus_t (*sgemm_strided)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const float *,
                                    const float *, int, long long, const float *, int, long long, const float *, float *,
                                    int, long long, int);
    cublasStatus_t (*gemm_strided_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                                      const void *, cudaDataType, int, long long, const void *, cudaDataType, int,
                                      long long, const void *, void *, cudaDataType, int, long long, int,
                                      cublasComputeType_t, cublasGemmAlgo_t);
    bool ok;
    char why[256];
} blas; /* written once under blas_once, read only after it */

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_load(void) {
    void *lib = dlopen(BLAS_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(blas.why, sizeof blas.why, "cannot load %s: %s", BLAS_LIB, e ? e : "not found");
        return;
    }
    bool all = true;
#define SYM(field, name)                                         \
    do {                                                         \
        *(void **)&blas.field = dlsym(lib, name);                \
        if (!blas.field) {                                       \
            snprintf(blas.why, sizeof blas.why, "%s has no %s", BLAS_LIB, name); \
            all = false;                                         \
        }                                                        \
    } while (0)
    SYM(create, "cublasCreate_v2");
    SYM(destroy, "cublasDestroy_v2");
    SYM(set_stream, "cublasSetStream_v2");
    SYM(set_workspace, "cublasSetWorkspace_v2");
    SYM(sgemm, "cublasSgemm_v2");
    SYM(gemm_ex, "cublasGemmEx");
    SYM(sgemm_strided, "cublasSgemmStridedBatched");
    SYM(gemm_strided_ex, "cublasGemmStridedBatchedEx");
#undef SYM
    blas.ok = all; /* the library stays loaded for the process's life */
}

static bool blas_ready(void) {
    pthread_once(&blas_once, blas_load);
    return blas.ok;
}

const char *cu_blas_why(void) {
    return blas_ready() ? "" : blas.why;
}

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle) {
    return blas_ready() ? blas.create(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
    return blas_ready() ? blas.destroy(handle) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
    return blas_ready() ? blas.set_stream(handle, stream) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void *ws, size_t bytes) {
    return blas_ready() ? blas.set_workspace(handle, ws, bytes) : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSgemm_v2(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                              const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                              float *C, int ldc) {
    return blas_ready() ? blas.sgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
                        : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                            const void *alpha, const void *A, cudaDataType at, int lda, const void *B, cudaDataType bt,
                            int ldb, const void *beta, void *C, cudaDataType ct, int ldc, cublasComputeType_t compute,
                            cublasGemmAlgo_t algo) {
    return blas_ready() ? blas.gemm_ex(h, ta, tb, m, n, k, alpha, A, at, lda, B, bt, ldb, beta, C, ct, ldc, compute, algo)
                        : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                         int k, const float *alpha, const float *A, int lda, long long sa,
                                         const float *B, int ldb, long long sb, const float *beta, float *C, int ldc,
                                         long long sc, int batch) {
    return blas_ready() ? blas.sgemm_strided(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch)
                        : CUBLAS_STATUS_NOT_INITIALIZED;
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                                          int k, const void *alpha, const void *A, cudaDataType at, int lda,
                                          long long sa, const void *B, cudaDataType bt, int ldb, long long sb,
                                          const void *beta, void *C, cudaDataType ct, int ldc, long long sc, int batch,
                                          cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    return blas_ready() ? blas.gemm_strided_ex(h, ta, tb, m, n, k, alpha, A, at, lda, sa, B, bt, ldb, sb, beta, C, ct,
                                               ldc, sc, batch, compute, algo)
                        : CUBLAS_STATUS_NOT_INITIALIZED;
}

} /* extern "C" */
