/*
 * model.h - a loaded model: hyper-parameters, weight views into the GGUF mapping, vocabulary.
 *
 * The weights are never copied: every ag_weight points into the mmapped file. The forward pass
 * (model/forward.c) is one function for every decoder family; what differs between families is
 * described by the fields of ag_hparams and by which optional tensors are present.
 */
#ifndef AG_MODEL_MODEL_H
#define AG_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "gguf/gguf.h"
#include "tensor/types.h"
#include "tokenizer/vocab.h"

/* A 1-D or 2-D weight: ne[0] elements per row (the input dimension), ne[1] rows. */
typedef struct {
    const void *data; /* NULL when the optional tensor is absent */
    ag_type type;
    int64_t ne[2];
    size_t row_bytes;
} ag_weight;

typedef struct {
    ag_weight attn_norm;             /* (n_embd) */
    ag_weight wq;                    /* (n_embd -> n_head*head_dim) */
    ag_weight wk, wv;                /* (n_embd -> n_head_kv*head_dim) */
    ag_weight wo;                    /* (n_head*head_dim -> n_embd) */
    ag_weight ffn_norm;              /* (n_embd) */
    ag_weight ffn_gate, ffn_up;      /* (n_embd -> n_ff) */
    ag_weight ffn_down;              /* (n_ff -> n_embd) */
} ag_layer;

typedef struct {
    int n_vocab;
    int n_embd;
    int n_layer;
    int n_head;
    int n_head_kv;
    int head_dim;
    int n_ff;
    int n_rot;         /* dimensions of each head that RoPE rotates */
    int n_ctx_train;
    float norm_eps;    /* RMSNorm epsilon */
    float rope_base;   /* rope.freq_base */
    float rope_scale;  /* linear position scale (1 = none) */
} ag_hparams;

struct ag_model {
    ag_gguf_file *gguf;  /* owns the mapping the weights point into */
    ag_vocab *vocab;
    char arch[32];
    ag_hparams hp;
    ag_weight tok_embd;    /* (n_embd, n_vocab) */
    ag_weight output_norm; /* (n_embd) */
    ag_weight output;      /* (n_embd -> n_vocab); = tok_embd when tied */
    ag_weight rope_freqs;  /* (n_rot/2) optional per-frequency divisors (Llama 3) */
    ag_layer *layers;      /* n_layer */
    int n_threads;
    bool vocab_only; /* loaded for the tokenizer only: no weights bound, no sessions */
    int64_t n_params;
    uint64_t n_bytes;
    /* NUL-terminated copies of file strings for the public API (owned, freed with the model) */
    char **meta_keys;    /* one per key/value */
    char **tensor_names; /* one per tensor */
    char *name;          /* general.name or "" */
    char *chat_template; /* tokenizer.chat_template or NULL */
};

#endif
