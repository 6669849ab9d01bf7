/*
 * bench_cuda_mmv.cu - the one-token Q4_0 matrix-vector product alone, on the 8B shapes (QKV 6144 x
 * 4096, output 4096 x 4096, gate|up 28672 x 4096, down 4096 x 14336), against a plain streaming read:
 * how far the product's kernel shape is from the memory bound, without the rest of the decode step.
 * Each variant runs 20 times in a CUDA graph (no launch gaps between them): "hot" on one copy of the
 * matrix (L2-resident when it fits), "cold" on copies that together exceed L2. Variants:
 *   rows W    one warp per row, W warps per block (the engine's kernel shape, cuda_mmv.cu)
 *   persist   4 blocks per multiprocessor, each warp walks rows with the next row's weights loaded
 *             into registers before the current row is summed (k = 4096 only)
 *   tile      rows in tiles of 32 with piece b of the 32 rows contiguous (lane = row, the warps of
 *             a block split k, summed in shared memory): the whole grid reads one region at a time
 *   stream L/B the engine's streaming kernel (cuda_mmv_stream.cu): a persistent grid of B blocks per
 *             multiprocessor, each warp streaming its rows in chunks of L 16-byte loads per lane;
 *             "staged": each block first copies the activations into its shared memory
 *   bulk B/S  the engine's bulk-copy kernel (cuda_mmv_bulk.cu, compute capability 9.0+): tiles of 8
 *             rows copied into shared memory by the copy engine, B blocks per multiprocessor with S
 *             stages each ("auto": the engine's choice)
 * Every variant's sums are checked against the first's. A measurement tool (docs/PERFORMANCE.md,
 * "Where a decode step's time goes"), built with the CUDA backend: build/bench_cuda_mmv
 */
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda/cuda_internal.cuh"

#define CK(x)                                                                          \
    do {                                                                               \
        cudaError_t e_ = (x);                                                          \
        if (e_ != cudaSuccess) {                                                       \
            fprintf(stderr, "CUDA: %s: %s\n", #x, cudaGetErrorString(e_));              \
            return 1;                                                                  \
        }                                                                              \
    } while (0)

static __device__ __forceinline__ int dot8(const int *w, const int *x) {
    int s = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) s = __dp4a(w[i], x[i], s);
    return s;
}

static __device__ __forceinline__ void load32(const int8_t *p, int *o) {
    const int4 a = ((const int4 *)p)[0], b = ((const int4 *)p)[1];
    o[0] = a.x, o[1] = a.y, o[2] = a.z, o[3] = a.w, o[4] = b.x, o[5] = b.y, o[6] = b.z, o[7] = b.w;
}

/* 32 Q4_0 weights (16 bytes, element j low nibble of byte j, 16 + j high) . 32 int8 activations */
static __device__ __forceinline__ float piece(int4 v, float d, const int8_t *x8, float2 ds) {
    const int lo[4] = {v.x, v.y, v.z, v.w};
    int w[8], x[8];
#pragma unroll
    for (int i = 0; i < 4; i++) w[i] = lo[i] & 0x0F0F0F0F, w[i + 4] = (lo[i] >> 4) & 0x0F0F0F0F;
    load32(x8, x);
    return d * (ds.x * (float)dot8(w, x) - 8.0f * ds.y);
}

static __device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void stream_kernel(const int4 *p, int64_t n, int *out) {
    int acc = 0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const int4 v = p[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678) out[0] = acc; /* keeps the loads */
}

/* q: (rows, k/32, 16 bytes), d: (rows, k/32) */
__global__ void rows_kernel(const uint8_t *q, const half *d, int rows, int k, const int8_t *x8, const float2 *xds,
                            float *y) {
    const int lane = threadIdx.x, row = blockIdx.x * blockDim.y + threadIdx.y, nb = k / 32;
    if (row >= rows) return;
    const uint8_t *wr = q + (size_t)row * (k / 2);
    const half *wd = d + (size_t)row * nb;
    float acc = 0;
#pragma unroll 4
    for (int b = lane; b < nb; b += 32) acc += piece(((const int4 *)wr)[b], __half2float(wd[b]), x8 + b * 32, xds[b]);
    acc = warp_sum(acc);
    if (lane == 0) y[row] = acc;
}

__global__ void __launch_bounds__(128) persist_kernel(const uint8_t *q, const half *d, int rows, const int8_t *x8,
                                                      const float2 *xds, float *y) { /* k = 4096 */
    const int lane = threadIdx.x, stride = gridDim.x * 4;
    int row = blockIdx.x * 4 + threadIdx.y;
    int4 cur[4];
    half cd[4];
    if (row < rows)
        for (int j = 0; j < 4; j++) cur[j] = ((const int4 *)(q + (size_t)row * 2048))[lane + 32 * j], cd[j] = d[row * 128 + lane + 32 * j];
    for (; row < rows; row += stride) {
        const int nx = row + stride;
        int4 nxt[4];
        half nd[4];
        if (nx < rows)
            for (int j = 0; j < 4; j++) nxt[j] = ((const int4 *)(q + (size_t)nx * 2048))[lane + 32 * j], nd[j] = d[nx * 128 + lane + 32 * j];
        float acc = 0;
#pragma unroll
        for (int j = 0; j < 4; j++) acc += piece(cur[j], __half2float(cd[j]), x8 + (lane + 32 * j) * 32, xds[lane + 32 * j]);
        acc = warp_sum(acc);
        if (lane == 0) y[row] = acc;
        for (int j = 0; j < 4; j++) cur[j] = nxt[j], cd[j] = nd[j];
    }
}

/* tiles: piece b of rows 32t..32t+31 at q + (t*nb + b)*512 + lane*16, scales at (t*nb + b)*32 + lane */
template <int S>
__global__ void __launch_bounds__(32 * S) tile_kernel(const uint8_t *q, const half *d, int rows, int k, const int8_t *x8,
                                                      const float2 *xds, float *y) {
    const int lane = threadIdx.x, s = threadIdx.y, t = blockIdx.x, nb = k / 32;
    const uint8_t *tq = q + (size_t)t * nb * 512 + lane * 16;
    const half *td = d + (size_t)t * nb * 32 + lane;
    float acc = 0;
#pragma unroll 4
    for (int b = s; b < nb; b += S) acc += piece(*(const int4 *)(tq + (size_t)b * 512), __half2float(td[b * 32]), x8 + b * 32, xds[b]);
    __shared__ float red[S][32];
    red[s][lane] = acc;
    __syncthreads();
    if (s != 0) return;
    float sum = 0;
    for (int i = 0; i < S; i++) sum += red[i][lane];
    if (t * 32 + lane < rows) y[t * 32 + lane] = sum;
}

struct shape {
    const char *name;
    int rows, k;
};

int main(void) {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    const int n_sm = prop.multiProcessorCount;
    printf("%s, %d multiprocessors, L2 %d MiB\n", prop.name, n_sm, prop.l2CacheSize >> 20);
    const bool bulk = prop.major >= 9 && cu_mmv_bulk_prepare(prop.sharedMemPerBlockOptin);
    if (!bulk) printf("(no bulk-copy variants: they need the sm_90 code on a device of compute capability 9.0+)\n");
    int *sink;
    CK(cudaMalloc(&sink, 4));
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    { /* the bound: a streaming read of 1 GiB, best of 5 */
        const size_t n = (size_t)1 << 30;
        uint8_t *p;
        CK(cudaMalloc(&p, n));
        CK(cudaMemset(p, 1, n));
        float best = 1e30f;
        for (int r = 0; r < 5; r++) {
            CK(cudaEventRecord(e0, st));
            stream_kernel<<<n_sm * 8, 256, 0, st>>>((const int4 *)p, (int64_t)(n / 16), sink);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            best = std::min(best, ms);
        }
        printf("streaming read of 1 GiB: %.0f GB/s\n", n / best / 1e6);
        CK(cudaFree(p));
    }
    const shape shapes[] = {{"QKV", 6144, 4096}, {"output", 4096, 4096}, {"gate|up", 28672, 4096}, {"down", 4096, 14336}};
    for (const shape &sh : shapes) {
        const int rows = sh.rows, k = sh.k, nb = k / 32, tiles = (rows + 31) / 32;
        const size_t qb = (size_t)tiles * 32 * nb * 16, db = (size_t)tiles * 32 * nb * 2;
        const int copies = (int)std::max<size_t>(2, (size_t)3 * prop.l2CacheSize / qb + 1); /* cold: > 3x L2 */
        std::vector<uint8_t> hq(qb), tq(qb);
        std::vector<half> hd(qb / 8), td(qb / 8);
        srand(7);
        for (size_t i = 0; i < qb; i++) hq[i] = (uint8_t)(rand() & 0xFF);
        for (size_t i = 0; i < hd.size(); i++) hd[i] = __float2half((float)((rand() & 1023) - 512) / 65536.0f);
        for (int r = 0; r < tiles * 32; r++)
            for (int b = 0; b < nb; b++) {
                const size_t from = (size_t)r * nb + b, to = ((size_t)(r / 32) * nb + b) * 32 + r % 32;
                std::copy(&hq[from * 16], &hq[from * 16] + 16, &tq[to * 16]);
                td[to] = hd[from];
            }
        std::vector<int8_t> hx(k);
        std::vector<float2> hds(nb);
        for (int i = 0; i < k; i++) hx[i] = (int8_t)(rand() % 255 - 127);
        for (int b = 0; b < nb; b++) {
            int s = 0;
            for (int j = 0; j < 32; j++) s += hx[b * 32 + j];
            hds[b] = make_float2(0.01f, 0.01f * (float)s);
        }
        uint8_t *q, *qt;
        half *d, *dt;
        int8_t *x8;
        float2 *xds;
        float *y, *y0;
        CK(cudaMalloc(&q, qb * copies));
        CK(cudaMalloc(&qt, qb * copies));
        CK(cudaMalloc(&d, db * copies));
        CK(cudaMalloc(&dt, db * copies));
        for (int c = 0; c < copies; c++) {
            CK(cudaMemcpy(q + qb * c, hq.data(), qb, cudaMemcpyHostToDevice));
            CK(cudaMemcpy(qt + qb * c, tq.data(), qb, cudaMemcpyHostToDevice));
            CK(cudaMemcpy((uint8_t *)d + db * c, hd.data(), db, cudaMemcpyHostToDevice));
            CK(cudaMemcpy((uint8_t *)dt + db * c, td.data(), db, cudaMemcpyHostToDevice));
        }
        CK(cudaMalloc(&x8, k));
        CK(cudaMalloc(&xds, nb * sizeof(float2)));
        CK(cudaMalloc(&y, rows * sizeof(float)));
        CK(cudaMalloc(&y0, rows * sizeof(float)));
        CK(cudaMemcpy(x8, hx.data(), k, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(xds, hds.data(), nb * sizeof(float2), cudaMemcpyHostToDevice));
        const double bytes = (double)rows * nb * 18;
        printf("\n%s %d x %d, %.1f MB (cold: %d copies)\n", sh.name, rows, k, bytes / 1e6, copies);
        std::vector<float> ref(rows), got(rows);
        /* blocks/SM, stages, warps, copy (0 bulk, 1 cp.async) */
        static const int BULK[][4] = {{0, 0, 0, 0}, {2, 3, 8, 0}, {2, 3, 16, 0}, {4, 2, 8, 1}};
        const int n_bulk = bulk ? (int)(sizeof BULK / sizeof BULK[0]) : 0;
        /* the streaming kernel: loads per lane and chunk, blocks/SM, activations staged in shared memory */
        static const int STREAM[][3] = {{4, 4, 0}, {8, 4, 0}, {4, 8, 0}, {4, 4, 1}, {8, 4, 1}, {4, 8, 1}};
        const int n_stream = (int)(sizeof STREAM / sizeof STREAM[0]);
        for (int variant = 0; variant < 5 + n_bulk + n_stream; variant++) {
            if (variant == 2 && k != 4096) continue;
            static const char *const names[] = {"rows, 4 warps/block", "rows, 16 warps/block", "persist, 4 blocks/SM",
                                                "tile, 8 warps", "tile, 32 warps"};
            char bulk_name[64];
            cu_stream cs = {};
            const bool streaming = variant >= 5 + n_bulk;
            const int sv_loads = streaming ? STREAM[variant - 5 - n_bulk][0] : 0,
                      sv_blocks = streaming ? STREAM[variant - 5 - n_bulk][1] : 0,
                      sv_stage = streaming ? STREAM[variant - 5 - n_bulk][2] : 0;
            if (streaming) {
                cs = {st, false, n_sm, 0, -1, false, -1, false, 0, 2, 0, 0, 0, 0, 0,
                      (size_t)prop.sharedMemPerMultiprocessor, (size_t)prop.sharedMemPerBlockOptin, 2, 0, 0,
                      sv_stage ? 2 : 0};
                snprintf(bulk_name, sizeof bulk_name, "stream L=%d, %d blk/SM%s", sv_loads, sv_blocks,
                         sv_stage ? ", staged" : "");
            } else if (variant >= 5) {
                const int *b = BULK[variant - 5];
                cs = {st, false, n_sm, 0, -1, false, -1, false, 0, 2, b[0], b[1], b[2], b[3], 0,
                      (size_t)prop.sharedMemPerMultiprocessor, (size_t)prop.sharedMemPerBlockOptin, 0, 0, 0, 0};
                if (b[0]) snprintf(bulk_name, sizeof bulk_name, "%s %d blk/SM x %d, %d warps", b[3] ? "cp.async" : "bulk", b[0], b[1], b[2]);
                else snprintf(bulk_name, sizeof bulk_name, "bulk (engine's default)");
            }
            const char *name = variant >= 5 ? bulk_name : names[variant];
            for (int cold = 0; cold < 2; cold++) {
                cudaGraph_t g;
                cudaGraphExec_t ge;
                CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
                for (int i = 0; i < 20; i++) {
                    const int c = cold ? i % copies : 0;
                    const uint8_t *qc = q + qb * c, *qtc = qt + qb * c;
                    const half *dc = (const half *)((const uint8_t *)d + db * c), *dtc = (const half *)((const uint8_t *)dt + db * c);
                    float *out = i == 0 ? y0 : y;
                    if (variant == 0) rows_kernel<<<(rows + 3) / 4, dim3(32, 4), 0, st>>>(qc, dc, rows, k, x8, xds, out);
                    else if (variant == 1) rows_kernel<<<(rows + 15) / 16, dim3(32, 16), 0, st>>>(qc, dc, rows, k, x8, xds, out);
                    else if (variant == 2) persist_kernel<<<n_sm * 4, dim3(32, 4), 0, st>>>(qc, dc, rows, x8, xds, out);
                    else if (variant == 3) tile_kernel<8><<<tiles, dim3(32, 8), 0, st>>>(qtc, dtc, rows, k, x8, xds, out);
                    else if (variant == 4) tile_kernel<32><<<tiles, dim3(32, 32), 0, st>>>(qtc, dtc, rows, k, x8, xds, out);
                    else if (streaming) {
                        const cu_weight w = {CU_Q4_0, k, rows, qc, dc, (size_t)k / 2};
                        if (!cu_mmv_stream(&w, NULL, x8, xds, out, false, sv_loads, sv_blocks, sv_stage != 0, cs) &&
                            i == 0)
                            printf("  (%s refused)\n", name);
                    } else {
                        const cu_weight w = {CU_Q4_0, k, rows, qc, dc, (size_t)k / 2};
                        if (!cu_mmv_bulk(&w, NULL, x8, xds, out, false, cs)) {
                            if (i == 0) printf("  (%s does not fit)\n", name);
                        }
                    }
                }
                CK(cudaStreamEndCapture(st, &g));
                CK(cudaGraphInstantiate(&ge, g, 0));
                std::vector<float> ms(5);
                for (int r = 0; r < 5; r++) {
                    CK(cudaEventRecord(e0, st));
                    CK(cudaGraphLaunch(ge, st));
                    CK(cudaEventRecord(e1, st));
                    CK(cudaEventSynchronize(e1));
                    CK(cudaEventElapsedTime(&ms[r], e0, e1));
                }
                std::sort(ms.begin(), ms.end());
                const double us = ms[2] * 1e3 / 20;
                printf("  %-26s %s %7.2f us  %6.0f GB/s\n", name, cold ? "cold" : "hot ", us, bytes / us / 1e3);
                CK(cudaGraphExecDestroy(ge));
                CK(cudaGraphDestroy(g));
            }
            CK(cudaMemcpy(variant == 0 ? ref.data() : got.data(), y0, rows * sizeof(float), cudaMemcpyDeviceToHost));
            if (variant > 0) {
                double worst = 0;
                for (int r = 0; r < rows; r++) worst = std::max(worst, (double)fabsf(got[r] - ref[r]) / (fabsf(ref[r]) + 1e-3));
                if (worst > 1e-3) printf("  %s: sums differ from the rows kernel's (worst relative %.3g)\n", name, worst);
            }
        }
        CK(cudaFree(q));
        CK(cudaFree(qt));
        CK(cudaFree(d));
        CK(cudaFree(dt));
        CK(cudaFree(x8));
        CK(cudaFree(xds));
        CK(cudaFree(y));
        CK(cudaFree(y0));
    }
    return 0;
}
