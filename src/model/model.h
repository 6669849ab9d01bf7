/*
 * model.h - a loaded model: hyper-parameters, weight views into the GGUF mapping, vocabulary.
 *
 * The weights are never copied: every ag_weight points into the mmapped file. The forward pass
 * (model/forward.c) is one function for every decoder family; what differs between families is
 * described by the fields of ag_hparams and by which optional tensors are present.
 */
#ifndef AG_MODEL_MODEL_H
#define AG_MODEL_MODEL_H

#include <stdatomic.h>
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
    bool packed; /* data is the model's repacked copy (tensor/repack.h), not the file's rows */
} ag_weight;

typedef struct {
    ag_weight attn_norm;             /* (n_embd) */
    ag_weight wq;                    /* (n_embd -> n_head*head_dim) */
    ag_weight wk, wv;                /* (n_embd -> n_head_kv*head_dim) */
    ag_weight wo;                    /* (n_head*head_dim -> n_embd) */
    ag_weight ffn_norm;              /* (n_embd) */
    ag_weight ffn_gate, ffn_up;      /* (n_embd -> n_ff) */
    ag_weight ffn_down;              /* (n_ff -> n_embd) */
    /* optional, per family (model/arch.c binds them) */
    ag_weight wqkv;                  /* (n_embd -> q_dim + 2*kv_dim) fused Q, K, V (phi3) */
    ag_weight bq, bk, bv, bo;        /* attention biases (qwen2, glm4, bert) */
    ag_weight attn_q_norm, attn_k_norm; /* (head_dim) RMSNorm of each head (qwen3, gemma3) */
    ag_weight attn_post_norm;        /* (n_embd) norm of the attention output (gemma2/3, glm4) */
    ag_weight ffn_post_norm;         /* (n_embd) norm of the feed-forward output (gemma2/3, glm4) */
    ag_weight attn_norm_b, ffn_norm_b; /* (n_embd) LayerNorm biases (bert: attn_output_norm, layer_output_norm) */
    ag_weight ffn_up_b, ffn_down_b;  /* feed-forward biases (bert) */
    ag_weight ffn_gate_inp;          /* (n_embd -> n_expert) router */
    ag_weight ffn_gate_exps, ffn_up_exps; /* n_expert x (n_embd -> n_ff_exp), expert e at data + e*ne[1]*row_bytes */
    ag_weight ffn_down_exps;         /* n_expert x (n_ff_exp -> n_embd) */
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
    /* rope scaling beyond linear (model/rope_scaling.c) */
    float rope_attn_factor; /* the rotated dimensions of q and k are scaled by it (yarn, longrope; 1 = none) */
    int n_ctx_orig;         /* pre-extension context: longrope uses its long factors for sessions past it */
    float yarn_factor;      /* > 0: yarn, with yarn_beta_fast/slow (32, 1) */
    float yarn_beta_fast, yarn_beta_slow;
    /* per-family options (model/arch.c) */
    const struct ag_arch *arch; /* the family's table entry */
    float attn_scale;     /* scores = q.k * attn_scale (default 1/sqrt(head_dim)) */
    float attn_softcap;   /* > 0: scores = c * tanh(scores / c) (gemma2) */
    float final_softcap;  /* > 0: the same on the logits */
    int n_swa;            /* > 0: sliding-window layers see the last n_swa positions */
    int swa_period;       /* which layers slide: 0 all, else il % period < period - 1 */
    bool swa_explicit;    /* swa_layers says which layers slide (a per-layer pattern, qwen2) */
    uint64_t swa_layers[16]; /* bit il: layer il slides (n_layer <= 1024) */
    float rope_base_swa;  /* > 0: rope.freq_base of sliding layers (gemma3) */
    int n_expert, n_expert_used, n_ff_exp; /* mixture of experts */
    bool expert_norm;     /* renormalize the top-k routing weights */
    int pooling;          /* encoders: 1 mean, 2 CLS, 3 last token, 4 rank (CLS -> cls head score) */
    bool mrope;           /* multimodal rotary (rope.dimension_sections; GLM-4.1V): rotated pair i takes */
    int mrope_sections[3]; /* the time, height or width position by these section sizes (sum n_rot/2) */
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
    ag_weight rope_long, rope_short; /* (n_rot/2) longrope divisors past / within n_ctx_orig (phi3) */
    float *rope_yarn;      /* (n_rot/2) owned: yarn's per-frequency divisors, computed at load */
    ag_weight pos_embd;    /* (n_embd, n_ctx_train) encoders: learned positions */
    ag_weight tok_types;   /* (n_embd, n_types) encoders: token-type embeddings */
    ag_weight embd_norm, embd_norm_b; /* (n_embd) encoders: LayerNorm of the embeddings */
    ag_weight cls, cls_b;  /* (n_embd -> n_embd) rerankers (pooling 4): optional pooler dense, then tanh */
    ag_weight cls_out, cls_out_b; /* (n_embd -> n_cls_out) rerankers: the classification head */
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
    /* the device (gpu/gpu.h): NULL cuda = the CPU runs the forward pass */
    struct ag_cuda_model *cuda; /* weights uploaded to GPU cuda_device (owned) */
    int cuda_device;
    int vision_gpu;      /* 1 + the CUDA device a vision projector of this model goes to although the
                            model stays on the CPU (device auto, a GPU present, the model's family not
                            run by the CUDA backend: GLM-4); 0: none (gpu_model.c, vision_load.c) */
    int gpu_layers;      /* layers 0..gpu_layers-1 run on the GPU; when < n_layer (partial offload) the
                            rest, the output norm and the head run on the CPU */
    uint64_t gpu_weight_bytes;           /* device bytes of the uploaded weights */
    atomic_ullong gpu_session_bytes;     /* device bytes of its live sessions (KV cache + scratch);
                                            sessions add and remove theirs (engine/session.c) */
    void *packed;          /* the CPU's matrices in tensor/repack.h's layout (model_pack.c; owned) */
    size_t packed_bytes;
    char device[300];    /* "cpu" or "cuda:N (name)" */
    char device_note[400]; /* a placement worth telling the user (fewer layers chosen to fit), or "" */
};

/* encoder.c: ag_embed_tokens and ag_rerank_tokens with a thread count (0 = the model's), for
 * callers that follow a power mode (ag_embed, ag_rerank_threads). */
ag_status ag_encoder_embed(const ag_model *m, const ag_token *const *tokens, const int *n_tokens, int n_seq, float *out,
                           bool normalize, int n_threads, ag_error *err);
ag_status ag_encoder_rank(const ag_model *m, const ag_token *const *tokens, const int *const *types, const int *n_tokens,
                          int n_seq, float *scores, int n_threads, ag_error *err);

#endif
