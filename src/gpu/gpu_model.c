/*
 * gpu_model.c - placing a loaded model on a device: the --device / --gpu-layers choice, which
 * families the GPU runs (the llama family: llama, mistral, qwen2, qwen3), the memory estimate
 * before anything is uploaded, and the description of the weights handed to the CUDA backend.
 *
 * "auto" (the default) falls back to the CPU quietly whenever the GPU cannot be used; an explicit
 * "cuda[:N]" turns each of those reasons into an error that names it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "cuda/cuda_backend.h"
#include "gpu/gpu.h"
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
    static const char *const FAMILIES[] = {"llama", "mistral", "qwen2", "qwen3"};
    bool known = false;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) known |= strcmp(m->arch, FAMILIES[i]) == 0;
    const ag_hparams *hp = &m->hp;
    if (!known || hp->arch->encoder || hp->arch->act != AG_ACT_SILU || hp->arch->embd_scale)
        return "the CUDA backend runs the llama family (llama, mistral, qwen2, qwen3) for now";
    if (hp->attn_softcap > 0 || hp->final_softcap > 0 || hp->n_expert > 0 || hp->rope_base_swa > 0)
        return "the CUDA backend does not run soft-capping, experts or per-layer rotary bases yet";
    if (hp->head_dim > 256 || hp->n_rot > hp->head_dim || hp->n_head % hp->n_head_kv != 0)
        return "the CUDA backend supports heads of at most 256 dimensions";
    for (int il = 0; il < hp->n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        if (l->wqkv.data || !l->wq.data || !l->ffn_gate.data || l->attn_post_norm.data || l->ffn_post_norm.data ||
            l->bo.data)
            return "the CUDA backend does not run fused QKV, post-norms or output biases yet";
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

ag_status ag_gpu_attach(ag_model *m, const ag_model_params *params, ag_error *err) {
    snprintf(m->device, sizeof m->device, "cpu");
    int dev;
    ag_status st = parse_device(params ? params->device : NULL, &dev, err);
    if (st) return st;
    const int n_gpu_layers = params ? params->n_gpu_layers : 0;
    if (dev == -2 || n_gpu_layers < 0 || m->vocab_only) return AG_OK;
    const bool explicit_gpu = dev >= 0;
    if (dev < 0) dev = 0;
    char msg[640];
    if (n_gpu_layers > 0 && n_gpu_layers < m->hp.n_layer) {
        snprintf(msg, sizeof msg, "partial offload (%d of %d layers on the GPU) is not implemented yet: use all layers or the CPU",
                 n_gpu_layers, m->hp.n_layer);
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "%s", msg);
    }
    if (m->hp.arch->encoder) return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, "the CUDA backend runs decoder models only");
    char why[256] = "";
    const int n_dev = ag_cuda_device_count(why, sizeof why);
    if (n_dev <= 0) {
        snprintf(msg, sizeof msg, "no CUDA device: %s", why);
        return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, msg);
    }
    if (dev >= n_dev) {
        snprintf(msg, sizeof msg, "no CUDA device cuda:%d (%d device%s)", dev, n_dev, n_dev == 1 ? "" : "s");
        return ag_error_set(err, AG_ERR_INVALID_ARG, "%s", msg);
    }
    const char *fam = unsupported_family(m);
    if (fam) {
        snprintf(msg, sizeof msg, "%s; '%s' runs on the CPU (--device cpu)", fam, m->arch);
        return refuse(explicit_gpu, err, AG_ERR_UNSUPPORTED, msg);
    }
    ag_cuda_device_info info;
    if ((st = ag_cuda_device_info_get(dev, &info, err))) return explicit_gpu ? st : AG_OK;

    /* the description: views of the host weights */
    const ag_hparams *hp = &m->hp;
    ag_cuda_layer_desc *layers = calloc((size_t)hp->n_layer, sizeof *layers);
    if (!layers) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int il = 0; il < hp->n_layer; il++) {
        const ag_layer *l = &m->layers[il];
        layers[il] = (ag_cuda_layer_desc){cw(&l->attn_norm), cw(&l->wq), cw(&l->wk), cw(&l->wv), cw(&l->wo),
                                          cw(&l->bq), cw(&l->bk), cw(&l->bv), cw(&l->attn_q_norm), cw(&l->attn_k_norm),
                                          cw(&l->ffn_norm), cw(&l->ffn_gate), cw(&l->ffn_up), cw(&l->ffn_down)};
    }
    const ag_cuda_model_desc d = {
        .n_embd = hp->n_embd, .n_layer = hp->n_layer, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim, .n_ff = hp->n_ff, .n_rot = hp->n_rot, .n_vocab = hp->n_vocab,
        .norm_eps = hp->norm_eps, .rope_base = hp->rope_base, .rope_scale = hp->rope_scale,
        .attn_scale = hp->attn_scale, .rope_neox = ag_rope_halves(hp), .n_swa = hp->n_swa,
        .swa_period = hp->swa_period, .rope_freqs = m->rope_freqs.data, .output_norm = cw(&m->output_norm),
        .output = cw(&m->output), .layers = layers};

    /* the estimate: weights + KV cache and scratch of a default session, against free memory */
    const int est_ctx = hp->n_ctx_train < EST_CTX_MAX ? hp->n_ctx_train : EST_CTX_MAX;
    const uint64_t w_bytes = ag_cuda_model_bytes(&d), s_bytes = ag_cuda_session_bytes(&d, est_ctx, EST_BATCH);
    if (w_bytes + s_bytes + RESERVE_BYTES > info.mem_free) {
        snprintf(msg, sizeof msg,
                 "the model does not fit on cuda:%d (%s): it needs %.2f GiB (weights %.2f GiB + KV cache and scratch "
                 "for %d tokens %.2f GiB + %.2f GiB reserve) and %.2f of %.2f GiB are free; use --device cpu",
                 dev, info.name, (w_bytes + s_bytes + RESERVE_BYTES) / 1073741824.0, w_bytes / 1073741824.0, est_ctx,
                 s_bytes / 1073741824.0, RESERVE_BYTES / 1073741824.0, info.mem_free / 1073741824.0,
                 info.mem_total / 1073741824.0);
        free(layers);
        return refuse(explicit_gpu, err, AG_ERR_NOMEM, msg);
    }
    ag_error e2 = {0};
    m->cuda = ag_cuda_model_new(&d, dev, &e2);
    free(layers);
    if (!m->cuda) return refuse(explicit_gpu, err, e2.code ? e2.code : AG_ERR_NOMEM, e2.msg);
    m->cuda_device = dev;
    snprintf(m->device, sizeof m->device, "cuda:%d (%s)", dev, info.name);
    return AG_OK;
}

void ag_gpu_detach(ag_model *m) {
    ag_cuda_model_free(m->cuda);
    m->cuda = NULL;
}

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
