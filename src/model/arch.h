/*
 * arch.h - the table of model families: one row of options per GGUF architecture, read by the
 * single forward pass (model/forward.c, forward_arch.c, forward_moe.c) and the encoder
 * (model/encoder.c) instead of a copy of the forward pass per family. Also the loader's
 * per-family pieces: the extra hyper-parameter keys and the tensors of a layer.
 */
#ifndef AG_MODEL_ARCH_H
#define AG_MODEL_ARCH_H

#include <stdbool.h>

#include "model/model.h"

typedef enum { AG_ROPE_NORM, AG_ROPE_NEOX, AG_ROPE_NONE } ag_rope_kind; /* interleaved pairs / halves / learned positions (bert) */
typedef enum { AG_ACT_SILU, AG_ACT_GELU_TANH, AG_ACT_GELU_ERF } ag_act_kind;

typedef struct ag_arch {
    const char *name;   /* general.architecture */
    ag_rope_kind rope;
    ag_act_kind act;    /* feed-forward activation (gated, except for encoders) */
    bool embd_scale;    /* x = embedding * sqrt(n_embd) (gemma) */
    int swa_period;     /* sliding-window layers when {arch}.attention.sliding_window is set:
                           0 every layer, N: il % N < N - 1 (gemma2: 2; gemma3: the file's pattern) */
    bool encoder;       /* bidirectional encoder with LayerNorm (bert: learned positions; nomic-bert: rotary) */
} ag_arch;

/* The family of a GGUF architecture name, or NULL when unsupported. */
const ag_arch *ag_arch_find(const char *name);

/* Reads the family's keys beyond the common ones into hp (softcapping, sliding window, experts,
 * attention scale, pooling). */
ag_status ag_arch_read_hparams(const ag_gguf_file *f, const ag_arch *a, ag_hparams *hp, ag_error *err);

/* Binds the tensors of layer il: the required ones of the family and every optional one present. */
ag_status ag_arch_bind_layer(const ag_gguf_file *f, const ag_hparams *hp, int il, ag_layer *l, ag_error *err);

/* Whether Q and K rotate their halves (x[i], x[i + n_rot/2]): the NEOX families, and GLM-4.1V's
 * multimodal glm4 files, whose converters (llama.cpp's and ours) reorder the rotary part of each
 * Q/K head from GLM's interleaved pairs to halves. */
static inline bool ag_rope_halves(const ag_hparams *hp) { return hp->arch->rope == AG_ROPE_NEOX || hp->mrope; }

/* Whether layer il uses the sliding window. */
static inline bool ag_arch_layer_swa(const ag_hparams *hp, int il) {
    if (hp->n_swa <= 0) return false;
    if (hp->swa_explicit) return il >= 0 && il < 1024 && (hp->swa_layers[il / 64] >> (il % 64) & 1);
    return hp->swa_period <= 0 || il % hp->swa_period < hp->swa_period - 1;
}

/* Rope scaling keys (model/rope_scaling.c): rope.scaling.type linear / yarn / longrope / none,
 * factor, original_context_length, attn_factor, yarn_beta_fast / yarn_beta_slow. */
ag_status ag_rope_read_scaling(const ag_gguf_file *f, const char *arch, ag_hparams *hp, ag_error *err);
/* Yarn's per-frequency divisors theta_i = pos * base^(-2i/n_rot) / out[i], n_rot/2 of them. */
void ag_rope_yarn_factors(const ag_hparams *hp, float *out);

/* Binds w to tensor `name` (ne1 = 0 for 1-D), checking its shape and that we can compute with it
 * (model_load.c). */
ag_status ag_bind_weight(const ag_gguf_file *f, ag_weight *w, const char *name, int64_t ne0, int64_t ne1,
                         bool required, ag_error *err);

#endif
