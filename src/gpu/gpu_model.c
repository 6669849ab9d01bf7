/*
 * gpu_model.c - placing a loaded model on a device: the --device / --gpu-layers choice, which
 * families the GPU runs (the llama family: llama, mistral, qwen2, qwen3, and glm4 with its post-norms,
 * fused [gate; up] and multimodal rotary sections), the memory estimate
 * before anything is uploaded, and the description of the weights handed to the CUDA backend.
 *
 * "auto" (the default) falls back to the CPU whenever the GPU cannot be used, and places only the
 * first layers there when the whole model does not fit (ag_model_device_note says so); an explicit
 * "cuda[:N]" turns each of those reasons into an error that names it (with the numbers of the
 * estimate when memory is short). Partial offload (n_gpu_layers < n_layer): the device gets the
 * first layers and no head; the CPU runs the rest (gpu_session.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cuda/cuda_backend.h"
#include "base/nvml.h"
#include "gpu/gpu.h"
#include "gpu/gpu_driver.h"
#include "model/arch.h"
#include "tensor/quant.h"

/* The KV cache and batch the estimate assumes: a session's defaults. */
#define EST_BATCH 512
#define EST_CTX_MAX 4096
/* Left free for the CUDA context, cuBLAS and the driver. */
#define RESERVE_BYTES (512ull << 20)

static ag_cuda_weight cw(const ag_weight *w) {
    ag_cuda_weight c = {0};
    if (!w->data) return c;
    const ag_type_traits *tr = ag_type_traits_get(w->type);
    c.data = w->data;
    c.type = (int)w->type;
    c.ne0 = w->ne[0];
    c.ne1 = w->ne[1] ? w->ne[1] : 1;
    c.row_bytes = w->row_bytes;
    c.to_float = tr ? tr->to_float : NULL;
    return c;
}

/* NULL when the GPU runs m's family, else why not. */
static const char *unsupported_family(const ag_model *m) {
    static const char *const FAMILIES[] = {"llama", "mistral", "qwen2", "qwen3", "glm4"};
    bool known = false;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) known |= strcmp(m->arch, FAMILIES[i]) == 0;
    const ag_hparams *hp = &m->hp;
    if (!known || hp->arch->encoder || hp->arch->act != AG_ACT_SILU || hp->arch->embd_scale)
        return "the CUDA backend runs the llama family (llama, mistral, qwen2, qwen3) and glm4 for now";
    if (hp->attn_softcap > 0 || hp->final_softcap > 0 || hp->n_expert > 0 || hp->rope_base_swa > 0)
        return "the CUDA backend does not run soft-capping, experts or per-layer rotary bases yet";
    if (hp->head_dim > 256 || hp->n_rot > hp->head_dim || hp->n_head % hp->n_head_kv != 0)
        return "the CUDA backend supports heads of at most 256 dimensions";
    for (int il = 0; il < hp->n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        const bool gate_up = l->ffn_gate.data || l->ffn_up.ne[1] == 2 * (int64_t)hp->n_ff; /* [gate; up] in ffn_up */
        if (l->wqkv.data || !l->wq.data || !gate_up || l->bo.data || l->ffn_up_b.data || l->ffn_down_b.data)
            return "the CUDA backend does not run fused QKV or output biases yet";
    }
    return NULL;
}

/* device: NULL/"auto" -> -1 (auto), "cpu" -> -2, "cuda" -> 0, "cuda:N" -> N. */
static ag_status parse_device(const char *device, int *out, ag_error *err) {
    if (!device || !*device || strcmp(device, "auto") == 0) *out = -1;
    else if (strcmp(device, "cpu") == 0) *out = -2;
    else if (strcmp(device, "cuda") == 0 || strcmp(device, "gpu") == 0) *out = 0;
    else if (strncmp(device, "cuda:", 5) == 0 && device[5] >= '0' && device[5] <= '9') {
        char *end;
        long v = strtol(device + 5, &end, 10);
        if (*end || v > 1024) return ag_error_set(err, AG_ERR_INVALID_ARG, "bad device '%s' (cpu, cuda or cuda:N)", device);
        *out = (int)v;
    } else
        return ag_error_set(err, AG_ERR_INVALID_ARG, "unknown device '%s' (cpu, cuda or cuda:N)", device);
    return AG_OK;
}

/* Fails when explicit, else leaves the model on the CPU. */
static ag_status refuse(bool explicit_gpu, ag_error *err, ag_status code, const char *msg) {
    if (!explicit_gpu) return AG_OK;
    return ag_error_set(err, code, "%s", msg);
}

/* The description of the first n_gpu layers (views of the host weights in layers[]); the output
 * norm and head only when every layer is on the GPU (else the CPU runs them: n_vocab 0). */
static ag_cuda_model_desc describe(const ag_model *m, ag_cuda_layer_desc *layers, int n_gpu) {
    const ag_hparams *hp = &m->hp;
    for (int il = 0; il < n_gpu; il++) {
        const ag_layer *l = &m->layers[il];
        layers[il] = (ag_cuda_layer_desc){cw(&l->attn_norm), cw(&l->wq), cw(&l->wk), cw(&l->wv), cw(&l->wo),
                                          cw(&l->bq), cw(&l->bk), cw(&l->bv), cw(&l->attn_q_norm), cw(&l->attn_k_norm),
                                          cw(&l->ffn_norm), cw(&l->ffn_gate), cw(&l->ffn_up), cw(&l->ffn_down),
                                          cw(&l->attn_post_norm), cw(&l->ffn_post_norm)};
    }
    const bool head = n_gpu == hp->n_layer;
    return (ag_cuda_model_desc){
        .n_embd = hp->n_embd, .n_layer = n_gpu, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim, .n_ff = hp->n_ff, .n_rot = hp->n_rot, .n_vocab = head ? hp->n_vocab : 0,
        .norm_eps = hp->norm_eps, .rope_base = hp->rope_base, .rope_scale = hp->rope_scale,
        .attn_scale = hp->attn_scale, .rope_neox = ag_rope_halves(hp), .n_swa = hp->n_swa,
        .swa_period = hp->swa_period, .rope_freqs = m->rope_freqs.data,
        .mrope_sections = {hp->mrope ? hp->mrope_sections[0] : 0, hp->mrope ? hp->mrope_sections[1] : 0,
                           hp->mrope ? hp->mrope_sections[2] : 0},
        .output_norm = head ? cw(&m->output_norm) : (ag_cuda_weight){0}, .output = head ? cw(&m->output) : (ag_cuda_weight){0},
        .layers = layers};
}

/* The memory estimate of n_gpu layers on the device: weights, KV cache and scratch of a default
 * session, and the reserve (RESERVE_BYTES + 5%) left to the CUDA context, cuBLAS and the driver. */
typedef struct {
    uint64_t weights, session, reserve;
    int est_ctx;
} gpu_estimate;

static gpu_estimate estimate(const ag_model *m, ag_cuda_layer_desc *layers, int n_gpu) {
    const ag_cuda_model_desc d = describe(m, layers, n_gpu);
    gpu_estimate e = {0};
    e.est_ctx = m->hp.n_ctx_train < EST_CTX_MAX ? m->hp.n_ctx_train : EST_CTX_MAX;
    e.weights = ag_cuda_model_bytes(&d);
    e.session = ag_cuda_session_bytes(&d, e.est_ctx, EST_BATCH, AG_CUDA_KV_F16);
    e.reserve = RESERVE_BYTES + (e.weights + e.session) / 20;
    return e;
}

static uint64_t need(gpu_estimate e) { return e.weights + e.session + e.reserve; }

/* Free device memory as the estimate sees it: AUTOGLM_GPU_MEM_LIMIT=BYTES caps it (to leave room
 * for other programs, and for tests of the fitting logic on a large GPU). */
static uint64_t usable_free(const ag_cuda_device_info *info) {
    const char *lim = getenv("AUTOGLM_GPU_MEM_LIMIT");
    uint64_t f = info->mem_free;
    if (lim && *lim) {
        char *end;
        const unsigned long long v = strtoull(lim, &end, 10);
        if (!*end && v < f) f = v;
    }
    return f;
}

/* snprintf that cuts long texts without complaint (the messages carry device names and numbers) */
static void put(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

#define GIB(x) ((double)(x) / 1073741824.0)

/* "needs X GiB (weights A + KV cache and scratch for N tokens B + reserve C), F of T GiB free" */
static void describe_need(char *buf, size_t cap, gpu_estimate e, uint64_t free_b, uint64_t total) {
    put(buf, cap, "needs %.2f GiB (weights %.2f + KV cache and scratch for %d tokens %.2f + reserve %.2f) and %.2f of %.2f GiB are free",
             GIB(need(e)), GIB(e.weights), e.est_ctx, GIB(e.session), GIB(e.reserve), GIB(free_b), GIB(total));
}

ag_status ag_gpu_attach(ag_model *m, const ag_model_params *params, ag_error *err) {
    put(m->device, sizeof m->device, "cpu");
    m->device_note[0] = '\0';
    m->gpu_layers = 0;
    m->vision_gpu = 0;
    int dev;
    ag_status st = parse_device(params ? params->device : NULL, &dev, err);
    if (st) return st;
    const int n_gpu_layers = params ? params->n_gpu_layers : 0;
    if (dev == -2 || n_gpu_layers < 0 || m->vocab_only) return AG_OK;
    const bool explicit_gpu = dev >= 0;
    if (dev < 0) dev = 0;
    char msg[900];
    if (m->hp.arch->encoder) return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, "the CUDA backend runs decoder models only");
    char why[256] = "";
    const int n_dev = ag_cuda_device_count(why, sizeof why);
    const int rt = ag_cuda_runtime_version(), drv = ag_cuda_driver_version();
    if (n_dev <= 0 && rt > 0 && drv > 0 && drv < rt) { /* driver too old: name it and the one needed */
        char ver[80] = "";
        ag_nvml *nv = ag_nvml_open();
        if (!ag_nvml_driver_version(nv, ver, sizeof ver)) ver[0] = '\0';
        ag_nvml_close(nv);
        ag_gpu_driver_message(why, sizeof why, drv, rt, ver);
    }
    if (n_dev <= 0) {
        put(msg, sizeof msg, "no CUDA device: %s", why);
        const bool asked = (params && params->device && strcmp(params->device, "auto") == 0) || n_gpu_layers > 0;
        if (asked) put(m->device_note, sizeof m->device_note, "%s; running on the CPU", msg); /* a GPU was hoped for */
        return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, msg);
    }
    if (dev >= n_dev) {
        put(msg, sizeof msg, "no CUDA device cuda:%d (%d device%s)", dev, n_dev, n_dev == 1 ? "" : "s");
        return ag_error_set(err, AG_ERR_INVALID_ARG, "%s", msg);
    }
    const char *fam = unsupported_family(m);
    if (fam) {
        put(msg, sizeof msg, "%s; '%s' runs on the CPU (--device cpu)", fam, m->arch);
        if (!explicit_gpu) m->vision_gpu = dev + 1; /* its vision tower can still use the GPU */
        return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, msg);
    }
    ag_cuda_device_info info;
    if ((st = ag_cuda_device_info_get(dev, &info, err))) return explicit_gpu ? st : AG_OK;

    const ag_hparams *hp = &m->hp;
    ag_cuda_layer_desc *layers = calloc((size_t)hp->n_layer, sizeof *layers);
    if (!layers) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    /* how many layers: asked for (0 = all), fewer when they do not fit and the device was auto */
    int n_gpu = n_gpu_layers > 0 && n_gpu_layers < hp->n_layer ? n_gpu_layers : hp->n_layer;
    const uint64_t free_b = usable_free(&info);
    gpu_estimate e = estimate(m, layers, n_gpu);
    if (need(e) > free_b) {
        int fit = n_gpu - 1;
        while (fit > 0 && need(estimate(m, layers, fit)) > free_b) fit--;
        char needs[400], hint[160];
        describe_need(needs, sizeof needs, e, free_b, info.mem_total);
        if (fit > 0) put(hint, sizeof hint, "--gpu-layers %d fits", fit);
        else put(hint, sizeof hint, "not even one layer fits");
        if (explicit_gpu || fit == 0) {
            put(msg, sizeof msg, "the model does not fit on cuda:%d (%s) with %d of %d layers: it %s; %s; or use --device cpu",
                     dev, info.name, n_gpu, hp->n_layer, needs, hint);
            free(layers);
            if (!explicit_gpu) put(m->device_note, sizeof m->device_note, "%s", msg);
            return refuse(explicit_gpu, err, AG_ERR_NOMEM, msg);
        }
        put(m->device_note, sizeof m->device_note,
                 "the model does not fit on cuda:%d (%s): all of it %s; %d of %d layers on the GPU, the rest on the CPU",
                 dev, info.name, needs, fit, hp->n_layer);
        n_gpu = fit;
        e = estimate(m, layers, n_gpu);
    }
    const ag_cuda_model_desc d = describe(m, layers, n_gpu);
    ag_error e2 = {0};
    m->cuda = ag_cuda_model_new(&d, dev, &e2);
    free(layers);
    if (!m->cuda) { /* the estimate passed but the device said no: name both */
        put(msg, sizeof msg, "%s (estimate: weights %.2f GiB + KV cache and scratch %.2f GiB, %.2f GiB free)", e2.msg,
                 GIB(e.weights), GIB(e.session), GIB(free_b));
        if (!explicit_gpu) put(m->device_note, sizeof m->device_note, "running on the CPU: %s", msg);
        return refuse(explicit_gpu, err, e2.code ? e2.code : AG_ERR_NOMEM, msg);
    }
    m->cuda_device = dev;
    m->gpu_layers = n_gpu;
    m->gpu_weight_bytes = e.weights;
    if (n_gpu < hp->n_layer)
        put(m->device, sizeof m->device, "cuda:%d (%s), %d of %d layers (the rest on the CPU)", dev, info.name, n_gpu,
                 hp->n_layer);
    else
        put(m->device, sizeof m->device, "cuda:%d (%s)", dev, info.name);
    return AG_OK;
}

void ag_gpu_detach(ag_model *m) {
    ag_cuda_model_free(m->cuda);
    m->cuda = NULL;
    m->gpu_layers = 0;
    m->gpu_weight_bytes = 0;
}

int ag_model_gpu_layers(const ag_model *m) { return m->cuda ? m->gpu_layers : 0; }
int ag_model_gpu_device(const ag_model *m) { return m->cuda ? m->cuda_device : -1; }
uint64_t ag_model_gpu_bytes(const ag_model *m) {
    return m->cuda ? m->gpu_weight_bytes + atomic_load(&m->gpu_session_bytes) : 0;
}
const char *ag_model_device_note(const ag_model *m) { return m->device_note[0] ? m->device_note : NULL; }

double ag_measure_gpu_bandwidth(int device, size_t bytes, int reps, ag_error *err) {
    char why[256] = "";
    const int n = ag_cuda_device_count(why, sizeof why);
    if (n <= 0) {
        ag_error_set(err, AG_ERR_UNSUPPORTED, "no CUDA device: %s", why);
        return 0;
    }
    if (device < 0 || device >= n) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "no CUDA device cuda:%d (%d devices)", device, n);
        return 0;
    }
    return ag_cuda_read_bandwidth(device, bytes, reps, err);
}
