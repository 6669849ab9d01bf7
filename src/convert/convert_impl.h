/*
 * convert_impl.h - what the pieces of `ag_convert` (Hugging Face directory -> GGUF) share:
 *   convert_family.c  the table of supported architectures (HF class -> GGUF architecture and
 *                     per-family options) and the HF -> GGUF tensor names
 *   hf_config.c       config.json reading (old and new transformers spellings of the same fields)
 *   convert_hparams.c config.json -> `{arch}.*` GGUF keys
 *   convert_vocab.c   tokenizer.json / tokenizer_config.json -> `tokenizer.*` GGUF keys
 *   convert_vocab_spm.c SentencePiece-style vocabularies (tokenizer.model, BPE with byte fallback)
 *   spm_model.c       the tokenizer.model protobuf reader
 *   convert_tensors.c the plan of output tensors (names, shapes, types, where each row comes from)
 *                     and the filler that produces their data row by row while the file is written
 *   convert_mmproj.c  the vision projector file of a vision-language model (GLM-4.1V)
 *   convert.c         ag_convert: the driver
 */
#ifndef AG_CONVERT_IMPL_H
#define AG_CONVERT_IMPL_H

#include <cJSON.h>
#include <stdbool.h>

#include "autoglm/autoglm.h"
#include "convert/safetensors.h"
#include "gguf/gguf.h"

/* ---------------------------------------------------------------- families */

typedef struct {
    const char *hf;   /* name in the checkpoint, after the model prefix ("model.layers.N." stripped) */
    const char *gguf; /* GGUF name without ".weight"/".bias" */
} ag_conv_name;

typedef struct {
    const char *hf_arch;          /* config.json "architectures"[0] */
    const char *gguf_arch;        /* general.architecture */
    const char *bpe_pre;          /* tokenizer.ggml.pre for a byte-level BPE whose split is not plain GPT-2 */
    bool permute_qk;              /* HF rotate-half rotary -> GGUF interleaved pairs: reorder Q/K rows */
    bool norm_plus_one;           /* gemma: RMSNorm weights are stored as (1 + w) */
    bool encoder;                 /* bert: bidirectional encoder, embeddings output */
    const ag_conv_name *layer_names;  /* family-specific layer names, looked up before the common ones */
    bool qk_rot_halves;           /* GLM-4.1V: the rotary part of each Q/K head (weights and biases) from
                                     interleaved pairs to halves, as llama.cpp writes M-RoPE glm4 files */
} ag_conv_family;

/* The family of an HF architecture class, or NULL. */
const ag_conv_family *ag_conv_family_find(const char *hf_arch);
/* Comma-separated list of the supported classes (for error messages). */
const char *ag_conv_family_list(void);
/* GGUF base name ("blk.3.attn_q", "token_embd") of an HF tensor name without its ".weight"/".bias"
 * suffix, into out; false when the family does not know the name. *expert receives the expert
 * index of a per-expert tensor ("...experts.5.w1" -> 5, name "blk.N.ffn_gate_exps"), else -1. */
bool ag_conv_map_name(const ag_conv_family *fam, const char *hf_base, char *out, size_t cap, int *expert);
/* A cross-encoder (reranker): a sequence-classification head written as cls / cls.output. */
bool ag_conv_is_ranker(const ag_conv_family *fam);
/* True for checkpoint tensors that carry nothing the GGUF file needs (rotary caches, MLM heads). */
bool ag_conv_ignored(const ag_conv_family *fam, const char *hf_name);

/* ---------------------------------------------------------------- config.json */

typedef struct {
    cJSON *root;       /* owned */
    const cJSON *text; /* the object holding the text model's fields (root, or root.text_config) */
} ag_hf_config;

ag_status ag_hf_config_load(ag_hf_config *c, const char *dir, ag_error *err);
void ag_hf_config_free(ag_hf_config *c);
bool ag_hf_has(const ag_hf_config *c, const char *key);       /* present and not null */
double ag_hf_num(const ag_hf_config *c, const char *key, double dflt);
bool ag_hf_bool(const ag_hf_config *c, const char *key, bool dflt);
const char *ag_hf_str(const ag_hf_config *c, const char *key); /* NULL if absent */
const cJSON *ag_hf_get(const ag_hf_config *c, const char *key);
/* rope_theta of a layer kind ("full_attention", "sliding_attention" or NULL): rope_parameters
 * (transformers 5) or rope_theta / rope_local_base_freq (older). */
double ag_hf_rope_theta(const ag_hf_config *c, const char *layer_kind, double dflt);
/* The rope scaling object (rope_scaling or rope_parameters) when its type is not "default". */
const cJSON *ag_hf_rope_scaling(const ag_hf_config *c);

/* ---------------------------------------------------------------- writing keys */

/* Hyper-parameters: {arch}.* keys and general.*. */
ag_status ag_conv_write_hparams(ag_gguf_writer *w, const ag_conv_family *fam, const ag_hf_config *c,
                                const char *name, ag_error *err);
/* Vocabulary: tokenizer.* keys from dir's tokenizer.json and tokenizer_config.json; n_vocab is the
 * model's embedding rows (the token list is padded to it). */
ag_status ag_conv_write_vocab(ag_gguf_writer *w, const ag_conv_family *fam, const ag_hf_config *c,
                              const char *dir, int64_t n_vocab, ag_error *err);

/* A SentencePiece-style ("llama") vocabulary, padded to the model's embedding rows. */
typedef struct {
    char **tokens;  /* n, owned */
    float *scores;  /* n */
    int32_t *types; /* n, GGUF token types */
    int64_t n;
    bool add_space_prefix;
    int64_t bos, eos, unk, pad; /* -1: none */
} ag_conv_spm_vocab;

/* From a tokenizer.model file (BPE models). */
ag_status ag_conv_spm_from_model(const char *path, int64_t n_vocab, ag_conv_spm_vocab *v, ag_error *err);
/* From a tokenizer.json whose model is BPE without a ByteLevel step. */
ag_status ag_conv_spm_from_json(const cJSON *tok, int64_t n_vocab, ag_conv_spm_vocab *v, ag_error *err);
void ag_conv_spm_vocab_free(ag_conv_spm_vocab *v);

/* ---------------------------------------------------------------- tensors */

typedef struct ag_conv_plan ag_conv_plan;

/* Maps every checkpoint tensor to its GGUF tensor (experts stacked, Q/K permuted, norms +1),
 * choosing types from `type` (F32, F16, BF16, Q8_0; 1-D tensors stay F32). Unknown names and
 * incomplete expert sets are errors that name the tensor. */
ag_conv_plan *ag_conv_plan_new(const ag_conv_family *fam, const ag_hf_config *c, const ag_st_set *st,
                               ag_type type, ag_error *err);
void ag_conv_plan_free(ag_conv_plan *p);
/* Rows of the token embedding (n_vocab). */
int64_t ag_conv_plan_n_vocab(const ag_conv_plan *p);
/* Adds the tensors (deferred) and the filler to the writer; the plan must outlive the write. */
ag_status ag_conv_plan_add(ag_conv_plan *p, ag_gguf_writer *w, ag_error *err);

/* ---------------------------------------------------------------- vision projector */

/* Writes the vision tower of a GLM-4.1V checkpoint (model.visual.*) as a projector GGUF ("clip",
 * projector type glm4v) to out, with dir's preprocessor_config.json settings. */
ag_status ag_conv_write_mmproj(const char *dir, const ag_hf_config *c, const ag_st_set *sts, ag_type type,
                               uint32_t file_type, const char *name, const char *out, ag_error *err);

#endif
