/*
 * cuda_backend.h - the interface between the engine (C) and the CUDA backend (the .cu files of src/cuda).
 *
 * Plain C types only, so that both sides include it: the CUDA side never sees model.h, the C
 * side (src/gpu/) describes a model with ag_cuda_model_desc and feeds embedded tokens in.
 * When the build has no CUDA, src/gpu/cuda_stub.c implements every function with an error that
 * says so.
 *
 * Ownership: ag_cuda_model_new copies what it needs from the description (the weights into device
 * memory, converted once); the caller may free the description afterwards. A model owns one device
 * allocation for all its weights; a session owns one for its KV cache (F16) and scratch, its
 * stream, its cuBLAS handle and its CUDA graph. Nothing is allocated per token.
 */
#ifndef AG_CUDA_BACKEND_H
#define AG_CUDA_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One weight as the host holds it (GGUF bytes). to_float: the host dequantizer of its type, used
 * for types the GPU has no kernel for (they are converted to F16 when uploaded). */
typedef struct {
    const void *data;      /* NULL: absent (optional tensors) */
    int type;              /* ag_type */
    int64_t ne0, ne1;      /* elements per row (input dim), rows (output dim; 1 for vectors) */
    size_t row_bytes;
    void (*to_float)(const void *x, float *y, int64_t n);
} ag_cuda_weight;

typedef struct {
    ag_cuda_weight attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm;
    ag_cuda_weight ffn_norm, gate, up, down; /* gate absent: up holds [gate; up] (2 n_ff rows; glm4) */
    ag_cuda_weight attn_post_norm, ffn_post_norm; /* norms of the attention and FFN outputs (glm4) or absent */
} ag_cuda_layer_desc;

typedef struct {
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_rot, n_vocab;
    float norm_eps, rope_base, rope_scale, attn_scale;
    bool rope_neox;        /* rotate (x[i], x[i + n_rot/2]) instead of (x[2i], x[2i+1]) */
    int n_swa;             /* > 0: sliding-window layers see the last n_swa positions */
    int swa_period;        /* 0: every layer slides (when n_swa > 0), else il % period < period - 1 */
    const float *rope_freqs; /* (n_rot/2) divisors or NULL */
    int mrope_sections[3];   /* multimodal rotary (GLM-4.1V): pair i takes the t, h or w position of a
                                pass given (t, h, w) positions (ag_cuda_session_set_rope) by these sizes */
    ag_cuda_weight output_norm, output;
    const ag_cuda_layer_desc *layers; /* n_layer */
} ag_cuda_model_desc;

typedef struct {
    char name[256];
    int cc_major, cc_minor;
    int n_sm;
    uint64_t mem_total, mem_free;
    int driver_version, runtime_version; /* 13000 = 13.0 */
} ag_cuda_device_info;

typedef struct ag_cuda_model ag_cuda_model;
typedef struct ag_cuda_session ag_cuda_session;

/* This build's CUDA runtime version and the installed driver's (1000 * major + 10 * minor; 0: none;
 * cuda_version.cu). */
int ag_cuda_runtime_version(void);
int ag_cuda_driver_version(void);
/* Number of usable CUDA devices; 0 with a reason in why (no driver, driver too old, no device). */
int ag_cuda_device_count(char *why, size_t why_cap);
ag_status ag_cuda_device_info_get(int device, ag_cuda_device_info *info, ag_error *err);

/* KV cache element types of a GPU session (the CPU's f16, q8_0 and q4_0: the same block layouts,
 * read directly by the attention kernel). */
enum { AG_CUDA_KV_F16 = 0, AG_CUDA_KV_Q8_0 = 1, AG_CUDA_KV_Q4_0 = 2 };

/* Device bytes the weights take once uploaded (after repacking), and a session's KV cache + scratch. */
uint64_t ag_cuda_model_bytes(const ag_cuda_model_desc *d);
uint64_t ag_cuda_session_bytes(const ag_cuda_model_desc *d, int n_ctx, int n_batch, int kv_type);

ag_cuda_model *ag_cuda_model_new(const ag_cuda_model_desc *d, int device, ag_error *err);
void ag_cuda_model_free(ag_cuda_model *m);

ag_cuda_session *ag_cuda_session_new(ag_cuda_model *m, int n_ctx, int n_batch, int kv_type, ag_error *err);
/* The session's KV cache type (AG_CUDA_KV_*). */
int ag_cuda_session_kv_type(const ag_cuda_session *s);
void ag_cuda_session_free(ag_cuda_session *s);
/* Device bytes the session holds (its KV cache, scratch and workspace; cuda_usage.cu). */
uint64_t ag_cuda_session_device_bytes(const ag_cuda_session *s);
/* Copies positions [0, n) of every layer's keys and values from src's cache into dst's (sessions of
 * the same model and KV cache type; a device-to-device copy, done when it returns). */
ag_status ag_cuda_session_copy_prefix(ag_cuda_session *dst, const ag_cuda_session *src, int n, ag_error *err);
/* Pinned host buffer of (n_batch, n_embd) floats: the caller writes the token embeddings there. */
float *ag_cuda_session_input(ag_cuda_session *s);

/* The rotary positions of the session's next passes: each token's cache position + delta (text
 * after images), or for the next ag_cuda_forward only, when mpos is given, the (t, h, w) positions
 * of its n tokens ((n, 3), n <= n_batch; the model has mrope_sections) by section. */
ag_status ag_cuda_session_set_rope(ag_cuda_session *s, int delta, const int32_t *mpos, int n, ag_error *err);

/* Runs the n embedded tokens of the input buffer at positions pos0.. through the model, appending
 * to the session's KV cache, and copies the logits of every token ((n, n_vocab)) when all_logits,
 * else of the last one, to logits (host). A model described without a head (output.data NULL,
 * n_vocab 0: the first layers of a partial offload) stops after its layers and copies the hidden
 * states of all n tokens ((n, n_embd)) instead; logits may be the pinned input buffer. */
ag_status ag_cuda_forward(ag_cuda_session *s, int n, int pos0, float *logits, bool all_logits, ag_error *err);

/* One decode step of n sessions of the same model at once (continuous batching): row t is the
 * token whose embedding is row t of lead's input buffer, at position pos[t] of rows[t]'s cache
 * (lead may be one of rows), rotated at pos[t] + delta[t] (delta NULL: 0). Every weight is read
 * once for all rows. n <= 16 and <= lead's n_batch. logits: (n, n_vocab), host. */
ag_status ag_cuda_forward_multi(ag_cuda_session *lead, ag_cuda_session *const *rows, const int *pos, const int *delta,
                                int n, float *logits, ag_error *err);
#define AG_CUDA_MULTI_MAX 16

/* Page-locks bytes of host memory at p (cudaHostRegister), so that copies from the device into
 * it go straight there instead of through the driver's staging buffer; false when it cannot (the
 * memory stays as it was, only slower to copy into). ag_cuda_host_unpin undoes it before p is
 * freed or moved. */
bool ag_cuda_host_pin(void *p, size_t bytes);
void ag_cuda_host_unpin(void *p);

/* Best-of-reps device-memory read bandwidth in bytes/s (a kernel summing `bytes`); 0 on failure. */
double ag_cuda_read_bandwidth(int device, size_t bytes, int reps, ag_error *err);

#ifdef __cplusplus
}
#endif
#endif
