/*
 * cuda_ops.cu - the element-wise and per-row steps of the forward pass on the device, each the
 * twin of a CPU op (cpu/ops.c, cpu/ops_arch.c):
 *   rmsnorm     y = x / sqrt(mean(x^2) + eps) * w           per row (the model dim or one head)
 *   add_bias    y[t] += b
 *   rope_store  q, k rotated by theta_i = pos * base^(-2i/n_rot) (/ freq factor), pairs (2i, 2i+1)
 *               or (i, i + n_rot/2), pos = cache position + the row's delta (text after images);
 *               in a pass with (t, h, w) positions (GLM-4.1V's multimodal rotary, model/mrope.c)
 *               pair i takes the position of its section's axis; k and v written to the F16
 *               cache at their cache positions
 *   rmsnorm_add x += rmsnorm(y) * w                          (glm4's post-attention / post-FFN norms)
 *   silu_mul    h = g / (1 + exp(-g)) * u
 * Positions come from the session's device arrays (s->d_pos, s->d_rows), so a captured decode step
 * replays at any position. Every kernel waits for the one before it first (cu_pdl_wait).
 */
#include "cuda/cuda_internal.cuh"
#include "cuda/cuda_rope.cuh"

/* 1 / sqrt(mean(v^2) + eps) over dim values, summed by all the block's threads: each thread's
 * stride, a warp-shuffle tree, then the warps' sums (one order for every caller). */
static __device__ __forceinline__ float block_rms_scale(const float *v, int dim, float eps) {
    float ss = 0.0f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += v[i] * v[i];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    __shared__ float part[32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, n_warps = blockDim.x / 32;
    if (n_warps > 1) {
        if (lane == 0) part[warp] = ss;
        __syncthreads();
        ss = lane < n_warps ? part[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    }
    return 1.0f / sqrtf(ss / (float)dim + eps);
}

/* One block per row; row r of token t = r / n_per_tok, part r % n_per_tok at t*ld_tok + part*dim. */
__global__ void rmsnorm_kernel(const float *x, float *y, const float *w, int n_per_tok, int ld_tok, int dim, float eps) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int r = blockIdx.x;
    const size_t off = (size_t)(r / n_per_tok) * ld_tok + (size_t)(r % n_per_tok) * dim;
    const float *xr = x + off;
    float *yr = y + off;
    const float scale = block_rms_scale(xr, dim, eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) yr[i] = (xr[i] * scale) * w[i];
}

void cu_rmsnorm(const float *x, float *y, const float *w, int n_rows, int n_per_tok, int ld_tok, int dim, float eps,
                cu_stream cs) {
    const int threads = dim <= 256 ? 32 : dim <= 2048 ? 256 : 1024;
    cu_launch(cs, rmsnorm_kernel, dim3(n_rows), dim3(threads), x, y, w, n_per_tok, ld_tok, dim, eps);
}

__global__ void add_bias_kernel(float *y, const float *b, int ld, int len) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int t = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < len; i += gridDim.x * blockDim.x) y[(size_t)t * ld + i] += b[i];
}

void cu_add_bias(float *y, const float *b, int n, int ld, int len, cu_stream cs) {
    cu_launch(cs, add_bias_kernel, dim3((len + 255) / 256, n), dim3(256), y, b, ld, len);
}

/* One block per token: x += (y * scale) * w with scale = 1 / sqrt(mean(y^2) + eps). */
__global__ void rmsnorm_add_kernel(const float *y, float *x, const float *w, int dim, float eps) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const float *yr = y + (size_t)blockIdx.x * dim;
    float *xr = x + (size_t)blockIdx.x * dim;
    const float scale = block_rms_scale(yr, dim, eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) xr[i] += (yr[i] * scale) * w[i];
}

void cu_rmsnorm_add(const float *y, float *x, const float *w, int n, int dim, float eps, cu_stream cs) {
    const int threads = dim <= 256 ? 32 : dim <= 2048 ? 256 : 1024;
    cu_launch(cs, rmsnorm_add_kernel, dim3(n), dim3(threads), y, x, w, dim, eps);
}

struct rope_args {
    float *qkv;           /* (n, q_dim + 2 kv_dim): q rotated in place */
    const cu_rowkv *rows; /* caches: rows[multi ? t : 0], layer il */
    const int *pos;       /* multi ? pos[t] : pos[0] + t */
    const int *delta;     /* rotary position = cache position + delta[multi ? t : 0] */
    const int *mpos;      /* non-NULL: (n, 3) (t, h, w) rotary positions, pair i by section */
    int sec0, sec01;      /* pairs below sec0 take t, below sec0 + sec1 h, the rest w */
    float rope_base;
    int il, multi;
    const float *freqs;   /* (n_rot/2) or NULL */
    int n_head, n_head_kv, hd, n_rot, neox;
    float theta_scale, pos_scale;
};

/* Block (head, t): head counts q, then k, then v heads of token t; one thread per pair. */
__global__ void rope_store_kernel(rope_args a) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int head = blockIdx.x, t = blockIdx.y, half_hd = a.hd / 2;
    const int q_dim = a.n_head * a.hd, kv_dim = a.n_head_kv * a.hd, ld = q_dim + 2 * kv_dim;
    const int pos = a.multi ? a.pos[t] : a.pos[0] + t;
    const cu_rowkv rk = a.rows[a.multi ? t : 0];
    float *v = a.qkv + (size_t)t * ld + (size_t)head * a.hd;
    const bool is_v = head >= a.n_head + a.n_head_kv;
    const float fpos = (float)(pos + a.delta[a.multi ? t : 0]) / a.pos_scale;
    for (int i = threadIdx.x; i < half_hd; i += blockDim.x) {
        int i0, i1;
        cu_rope_pair(i, a.n_rot, !is_v && a.neox, &i0, &i1); /* v: pairs (2i, 2i+1), not rotated */
        float x0 = v[i0], x1 = v[i1];
        if (!is_v && i < a.n_rot / 2) {
            float th;
            if (a.mpos) { /* as ag_rope_multi: pos[axis] / base^(2i/n_rot) */
                const int axis = i < a.sec0 ? 0 : i < a.sec01 ? 1 : 2;
                th = (float)a.mpos[3 * t + axis] * (1.0f / powf(a.rope_base, (float)(2 * i) / (float)a.n_rot));
            } else {
                th = cu_rope_theta(fpos, i, a.theta_scale, a.freqs);
            }
            cu_rope_rotate(&x0, &x1, th);
        }
        if (head < a.n_head || rk.kv_type != AG_CUDA_KV_F16) { /* q, or k/v for kv_quant_store_kernel */
            v[i0] = x0;
            v[i1] = x1;
        } else {
            const bool is_k = !is_v;
            half *dst = (half *)((is_k ? rk.k : rk.v) + (size_t)a.il * rk.layer_bytes + (size_t)pos * rk.row_bytes) +
                        (size_t)(head - a.n_head - (is_k ? 0 : a.n_head_kv)) * a.hd;
            dst[i0] = __float2half_rn(x0);
            dst[i1] = __float2half_rn(x1);
        }
    }
}

/* A quantized KV cache: the rotated k and v rows of the pass (left in qkv by rope_store_kernel)
 * into the cache blocks, one warp per 32 values, as the CPU's reference quantizers do it:
 *   Q8_0  d = max|x| / 127, q = round(x / d) (half away from zero)
 *   Q4_0  d = m / -8 (m: the value of largest magnitude, the first one on ties),
 *         q = min(15, trunc(x / d + 8.5)), element j in byte j's low nibble, 16 + j in its high one */
struct kvq_args {
    const float *qkv;
    const cu_rowkv *rows;
    const int *pos;
    int il, multi, q_dim, kv_dim;
};

__global__ void kv_quant_store_kernel(kvq_args a) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int t = blockIdx.y, lane = threadIdx.x % 32, nb = a.kv_dim / 32;
    const int b = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (b >= 2 * nb) return;
    const bool is_v = b >= nb;
    const int bb = is_v ? b - nb : b;
    const int pos = a.multi ? a.pos[t] : a.pos[0] + t;
    const cu_rowkv rk = a.rows[a.multi ? t : 0];
    const float x = a.qkv[(size_t)t * (a.q_dim + 2 * a.kv_dim) + a.q_dim + (is_v ? a.kv_dim : 0) + bb * 32 + lane];
    const int bs = rk.kv_type == AG_CUDA_KV_Q8_0 ? 34 : 18;
    uint8_t *blk = (is_v ? rk.v : rk.k) + (size_t)a.il * rk.layer_bytes + (size_t)pos * rk.row_bytes + (size_t)bb * bs;
    float amax = fabsf(x), m = x;
    int at = lane;
    for (int o = 16; o > 0; o >>= 1) { /* the largest magnitude, the lowest lane on ties */
        const float am2 = __shfl_xor_sync(0xffffffffu, amax, o), m2 = __shfl_xor_sync(0xffffffffu, m, o);
        const int at2 = __shfl_xor_sync(0xffffffffu, at, o);
        if (am2 > amax || (am2 == amax && at2 < at)) amax = am2, m = m2, at = at2;
    }
    if (rk.kv_type == AG_CUDA_KV_Q8_0) {
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        blk[2 + lane] = (uint8_t)(int8_t)(int)roundf(x * id);
        if (lane == 0) *(half *)blk = __float2half_rn(d);
    } else {
        const float d = m / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const float v = x * id + 8.5f;
        const int q = !(v >= 1.0f) ? 0 : v >= 15.0f ? 15 : (int)v;
        const int hi = __shfl_down_sync(0xffffffffu, q, 16);
        if (lane < 16) blk[2 + lane] = (uint8_t)(q | (hi << 4));
        if (lane == 0) *(half *)blk = __float2half_rn(d);
    }
}

void cu_rope_store(ag_cuda_session *s, int il, int n, bool multi, bool mrope, cu_stream cs) {
    const ag_cuda_model *m = s->m;
    const ag_cuda_model_desc *hp = &m->hp;
    const int *sec = hp->mrope_sections;
    rope_args a = {s->qkv, multi ? s->d_rows + 1 : s->d_rows, multi ? s->d_pos + 1 : s->d_pos,
                   multi ? s->d_delta + 1 : s->d_delta, mrope ? s->d_mpos : NULL, sec[0], sec[0] + sec[1], hp->rope_base,
                   il, multi ? 1 : 0, m->rope_freqs,
                   hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_rot, hp->rope_neox ? 1 : 0,
                   m->rope_theta_scale, hp->rope_scale};
    const int half_hd = hp->head_dim / 2, threads = half_hd < 32 ? 32 : half_hd > 256 ? 256 : (half_hd + 31) / 32 * 32;
    cu_launch(cs, rope_store_kernel, dim3(hp->n_head + 2 * hp->n_head_kv, n), dim3(threads), a);
    if (s->kv_type != AG_CUDA_KV_F16) { /* (a batched step's rows share the lead's type: batch.c) */
        const int kv_dim = hp->n_head_kv * hp->head_dim, warps = 2 * kv_dim / 32;
        const kvq_args q = {s->qkv, a.rows, a.pos, il, a.multi, hp->n_head * hp->head_dim, kv_dim};
        cu_launch(cs, kv_quant_store_kernel, dim3((warps + 7) / 8, n), dim3(256), q);
    }
}

__global__ void silu_mul_kernel(const float *gu, float *h, int f) {
    cu_pdl_launch_next();
    cu_pdl_wait();
    const int t = blockIdx.y;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < f; i += gridDim.x * blockDim.x) {
        const float g = gu[(size_t)t * 2 * f + i], u = gu[(size_t)t * 2 * f + f + i];
        h[(size_t)t * f + i] = g / (1.0f + expf(-g)) * u;
    }
}

void cu_silu_mul(const float *gu, float *h, int n, int f, cu_stream cs) {
    cu_launch(cs, silu_mul_kernel, dim3((f + 255) / 256, n), dim3(256), gu, h, f);
}
