/*
 * cuda_device.cu - finding CUDA devices (with the reason when there is none: no driver, driver
 * too old, no device), their properties and free memory, the backend's error helper, and the
 * device-memory read-bandwidth probe behind `autoglm bench --membw --device cuda`.
 */
#include <stdarg.h>

#include "cuda/cuda_internal.cuh"

ag_status cu_error(ag_error *err, ag_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

extern "C" bool ag_cuda_host_pin(void *p, size_t bytes) {
    if (cudaHostRegister(p, bytes, cudaHostRegisterDefault) == cudaSuccess) return true;
    cudaGetLastError(); /* e.g. a page already registered through another buffer */
    return false;
}

extern "C" void ag_cuda_host_unpin(void *p) {
    if (cudaHostUnregister(p) != cudaSuccess) cudaGetLastError();
}

extern "C" int ag_cuda_device_count(char *why, size_t why_cap) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n > 0) return n;
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (why && why_cap) {
        if (e == cudaErrorNoDevice || (e == cudaSuccess && n == 0))
            snprintf(why, why_cap, "no CUDA-capable device is present");
        else if (e == cudaErrorInsufficientDriver && drv == 0)
            snprintf(why, why_cap, "no NVIDIA driver found (libcuda)");
        else if (e == cudaErrorInsufficientDriver)
            snprintf(why, why_cap, "the NVIDIA driver (CUDA %d.%d) is older than this build's CUDA %d.%d: update the driver",
                     drv / 1000, drv % 1000 / 10, rt / 1000, rt % 1000 / 10);
        else
            snprintf(why, why_cap, "%s", cudaGetErrorString(e));
    }
    cudaGetLastError(); /* clear the sticky-free error so later calls start clean */
    return 0;
}

extern "C" ag_status ag_cuda_device_info_get(int device, ag_cuda_device_info *info, ag_error *err) {
    cudaDeviceProp p;
    CU_TRY(cudaGetDeviceProperties(&p, device), err, "device properties");
    memset(info, 0, sizeof *info);
    snprintf(info->name, sizeof info->name, "%s", p.name);
    info->cc_major = p.major;
    info->cc_minor = p.minor;
    info->n_sm = p.multiProcessorCount;
    cudaDriverGetVersion(&info->driver_version);
    cudaRuntimeGetVersion(&info->runtime_version);
    if (p.major * 10 + p.minor < 75)
        return cu_error(err, AG_ERR_UNSUPPORTED, "cuda:%d (%s) has compute capability %d.%d; the CUDA backend needs 7.5 or newer",
                        device, p.name, p.major, p.minor);
    CU_TRY(cudaSetDevice(device), err, "select device");
    size_t fr = 0, tot = 0;
    CU_TRY(cudaMemGetInfo(&fr, &tot), err, "free memory");
    info->mem_free = fr;
    info->mem_total = tot;
    return AG_OK;
}

/* ---------------------------------------------------------------- bandwidth probe */

/* out[block] = sum of the block's share of x (16-byte loads, grid-stride, 4 loads in flight) */
__global__ void read_sum_kernel(const uint4 *x, size_t n, unsigned *out) {
    unsigned acc = 0;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) {
        const uint4 a = x[i], b = x[i + stride], c = x[i + 2 * stride], d = x[i + 3 * stride];
        acc += a.x ^ b.y ^ c.z ^ d.w;
        acc += a.y + b.x + c.w + d.z;
        acc ^= a.z + b.w + c.x + d.y + a.w + b.z + c.y + d.x;
    }
    for (; i < n; i += stride) acc += x[i].x + x[i].y + x[i].z + x[i].w;
    if (acc == 0x12345678u) out[blockIdx.x] = acc; /* keeps the loads alive */
}

extern "C" double ag_cuda_read_bandwidth(int device, size_t bytes, int reps, ag_error *err) {
    if (cudaSetDevice(device) != cudaSuccess) {
        cu_error(err, AG_ERR_INVALID_ARG, "cannot select cuda:%d", device);
        return 0;
    }
    uint4 *buf = NULL;
    unsigned *out = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    double best = 0;
    const size_t n = bytes / sizeof(uint4);
    int n_sm = 0;
    cudaDeviceGetAttribute(&n_sm, cudaDevAttrMultiProcessorCount, device);
    const int blocks = n_sm * 8;
    if (cudaMalloc(&buf, n * sizeof(uint4)) != cudaSuccess || cudaMalloc(&out, blocks * sizeof(unsigned)) != cudaSuccess ||
        cudaMemset(buf, 1, n * sizeof(uint4)) != cudaSuccess || cudaEventCreate(&e0) != cudaSuccess ||
        cudaEventCreate(&e1) != cudaSuccess) {
        cu_error(err, AG_ERR_NOMEM, "cannot allocate %zu MiB on cuda:%d", bytes >> 20, device);
        goto done;
    }
    for (int r = 0; r <= reps; r++) { /* the first run warms up */
        cudaEventRecord(e0);
        read_sum_kernel<<<blocks, 512>>>(buf, n, out);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        const double bw = ms > 0 ? n * sizeof(uint4) / (ms * 1e-3) : 0;
        if (r > 0 && bw > best) best = bw;
    }
    if (cudaGetLastError() != cudaSuccess) {
        cu_error(err, AG_ERR_IO, "the bandwidth kernel failed on cuda:%d", device);
        best = 0;
    }
done:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(buf);
    cudaFree(out);
    return best;
}
