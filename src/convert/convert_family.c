/*
 * convert_family.c - the architectures `autoglm convert` knows: for each Hugging Face class its
 * GGUF architecture and options, and the HF -> GGUF tensor names (the GGUF convention's names:
 * token_embd, blk.N.attn_q, blk.N.ffn_gate_exps, ...).
 *
 * Rotary convention: HF rotates the two halves of each head ("rotate_half"). The GGUF files of the
 * llama family are read with interleaved pairs, so their converters reorder the rows of Q and K
 * (permute_qk); the other families keep the HF order and are read with half rotation (NEOX
 * style). GLM-4 rotates interleaved pairs in HF already and needs no reordering either; GLM-4.1V's
 * text model (multimodal rotary) has the rotary part of each Q/K head reordered to halves, as
 * llama.cpp's converter does for its M-RoPE kernel (qk_rot_halves).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/convert_impl.h"

static const ag_conv_name GEMMA_LAYER[] = {
    {"post_attention_layernorm", "post_attention_norm"},
    {"pre_feedforward_layernorm", "ffn_norm"},
    {"post_feedforward_layernorm", "post_ffw_norm"},
    {NULL, NULL},
};

static const ag_conv_name GLM4_LAYER[] = {
    {"post_self_attn_layernorm", "post_attention_norm"},
    {"post_mlp_layernorm", "post_ffw_norm"},
    {NULL, NULL},
};

static const ag_conv_name DECODER_LAYER[] = {
    {"input_layernorm", "attn_norm"},
    {"self_attn.q_proj", "attn_q"},
    {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},
    {"self_attn.o_proj", "attn_output"},
    {"self_attn.qkv_proj", "attn_qkv"},
    {"self_attn.q_norm", "attn_q_norm"},
    {"self_attn.k_norm", "attn_k_norm"},
    {"post_attention_layernorm", "ffn_norm"},
    {"mlp.gate_proj", "ffn_gate"},
    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},
    {"mlp.gate_up_proj", "ffn_up"}, /* phi3, glm4: [gate; up] in one matrix of 2*n_ff rows */
    {"mlp.gate", "ffn_gate_inp"},   /* qwen3moe router */
    {"block_sparse_moe.gate", "ffn_gate_inp"}, /* mixtral router */
    {NULL, NULL},
};

static const ag_conv_name DECODER_TOP[] = {
    {"embed_tokens", "token_embd"},
    {"norm", "output_norm"},
    {NULL, NULL},
};

static const ag_conv_name BERT_LAYER[] = {
    {"attention.self.query", "attn_q"},
    {"attention.self.key", "attn_k"},
    {"attention.self.value", "attn_v"},
    {"attention.output.dense", "attn_output"},
    {"attention.output.LayerNorm", "attn_output_norm"},
    {"intermediate.dense", "ffn_up"},
    {"output.dense", "ffn_down"},
    {"output.LayerNorm", "layer_output_norm"},
    {NULL, NULL},
};

/* nomic-bert (NomicBertModel): fused Wqkv, SwiGLU with fc12 the gated (SiLU) half, post-norms */
static const ag_conv_name NOMIC_LAYER[] = {
    {"attn.Wqkv", "attn_qkv"},
    {"attn.out_proj", "attn_output"},
    {"mlp.fc11", "ffn_up"},
    {"mlp.fc12", "ffn_gate"},
    {"mlp.fc2", "ffn_down"},
    {"norm1", "attn_output_norm"},
    {"norm2", "layer_output_norm"},
    {NULL, NULL},
};

static const ag_conv_name BERT_TOP[] = {
    {"emb_ln", "token_embd_norm"}, /* nomic-bert */
    {"embeddings.word_embeddings", "token_embd"},
    {"embeddings.position_embeddings", "position_embd"},
    {"embeddings.token_type_embeddings", "token_types"},
    {"embeddings.LayerNorm", "token_embd_norm"},
    {NULL, NULL},
};

/* Cross-encoders (rerankers), as llama.cpp names them: the pooler's dense (+ tanh) is "cls", the
 * classifier "cls.output"; score = cls.output . tanh(cls . x[CLS] + b) + b. */
static const ag_conv_name RANK_TOP[] = {
    {"pooler.dense", "cls"},
    {"classifier", "cls.output"},
    {NULL, NULL},
};

/* Per-expert tensors: "<prefix>.E.<suffix>" -> blk.N.<gguf> stacked over E. */
static const struct {
    const char *prefix, *suffix, *gguf;
} EXPERTS[] = {
    {"mlp.experts.", "gate_proj", "ffn_gate_exps"},
    {"mlp.experts.", "up_proj", "ffn_up_exps"},
    {"mlp.experts.", "down_proj", "ffn_down_exps"},
    {"block_sparse_moe.experts.", "w1", "ffn_gate_exps"},
    {"block_sparse_moe.experts.", "w3", "ffn_up_exps"},
    {"block_sparse_moe.experts.", "w2", "ffn_down_exps"},
};

static const ag_conv_family FAMILIES[] = {
    {"LlamaForCausalLM", "llama", "llama-bpe", true, false, false, NULL, false},
    {"MistralForCausalLM", "llama", "llama-bpe", true, false, false, NULL, false},
    {"MixtralForCausalLM", "llama", "llama-bpe", true, false, false, NULL, false},
    {"Qwen2ForCausalLM", "qwen2", "qwen2", false, false, false, NULL, false},
    {"Qwen3ForCausalLM", "qwen3", "qwen2", false, false, false, NULL, false},
    {"Qwen3MoeForCausalLM", "qwen3moe", "qwen2", false, false, false, NULL, false},
    {"Gemma2ForCausalLM", "gemma2", "default", false, true, false, GEMMA_LAYER, false},
    {"Gemma3ForCausalLM", "gemma3", "default", false, true, false, GEMMA_LAYER, false},
    {"Gemma3ForConditionalGeneration", "gemma3", "default", false, true, false, GEMMA_LAYER, false}, /* text weights only */
    {"Phi3ForCausalLM", "phi3", "default", false, false, false, NULL, false},
    {"Glm4ForCausalLM", "glm4", "glm4", false, false, false, GLM4_LAYER, false},
    /* GLM-4.1V (AutoGLM-Phone-9B): the text model as glm4 with M-RoPE sections; the vision tower
     * goes to the projector file (convert_mmproj.c) */
    {"Glm4vForConditionalGeneration", "glm4", "glm4", false, false, false, GLM4_LAYER, true},
    {"BertModel", "bert", "default", false, false, true, NULL, false},
    {"NomicBertModel", "nomic-bert", "default", false, false, true, NOMIC_LAYER, false},
    {"BertForMaskedLM", "bert", "default", false, false, true, NULL, false},
    {"BertForSequenceClassification", "bert", "default", false, false, true, NULL, false},
};

const ag_conv_family *ag_conv_family_find(const char *hf_arch) {
    for (size_t i = 0; hf_arch && i < sizeof FAMILIES / sizeof FAMILIES[0]; i++)
        if (strcmp(FAMILIES[i].hf_arch, hf_arch) == 0) return &FAMILIES[i];
    return NULL;
}

const char *ag_conv_family_list(void) {
    return "LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
           "Qwen3MoeForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM, Phi3ForCausalLM, Glm4ForCausalLM, "
           "Glm4vForConditionalGeneration, "
           "BertModel, NomicBertModel, BertForSequenceClassification";
}

bool ag_conv_is_ranker(const ag_conv_family *fam) {
    return fam && fam->encoder && strstr(fam->hf_arch, "ForSequenceClassification") != NULL;
}

static const char *lookup(const ag_conv_name *t, const char *hf) {
    for (; t && t->hf; t++)
        if (strcmp(t->hf, hf) == 0) return t->gguf;
    return NULL;
}

static bool starts(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* "REST" of a layer tensor: "layers.N.REST" (decoders), "encoder.layer.N.REST" (bert) or
 * "encoder.layers.N.REST" (nomic-bert). */
static const char *layer_rest(const char *name, int *il) {
    const char *p = starts(name, "layers.") ? name + 7 : starts(name, "encoder.layer.") ? name + 14
                  : starts(name, "encoder.layers.") ? name + 15 : NULL;
    if (!p || *p < '0' || *p > '9') return NULL;
    char *end;
    long v = strtol(p, &end, 10);
    if (*end != '.' || v < 0 || v > 100000) return NULL;
    *il = (int)v;
    return end + 1;
}

bool ag_conv_map_name(const ag_conv_family *fam, const char *hf_base, char *out, size_t cap, int *expert) {
    *expert = -1;
    const char *name = hf_base;
    /* multimodal checkpoints: the text model under language_model (Gemma 3, transformers < 4.52 / later) */
    if (starts(name, "language_model.")) name += 15;
    else if (starts(name, "model.language_model.")) name += 21;
    if (strcmp(name, "lm_head") == 0) return snprintf(out, cap, "output") < (int)cap;
    if (starts(name, "model.")) name += 6;
    else if (starts(name, "bert.")) name += 5;
    int il;
    const char *rest = layer_rest(name, &il), *g;
    if (!rest) {
        g = lookup(fam->encoder ? BERT_TOP : DECODER_TOP, name);
        if (!g && ag_conv_is_ranker(fam)) g = lookup(RANK_TOP, name);
        return g && snprintf(out, cap, "%s", g) < (int)cap;
    }
    for (size_t i = 0; !fam->encoder && i < sizeof EXPERTS / sizeof EXPERTS[0]; i++) {
        if (!starts(rest, EXPERTS[i].prefix)) continue;
        char *end;
        long e = strtol(rest + strlen(EXPERTS[i].prefix), &end, 10);
        if (end == rest + strlen(EXPERTS[i].prefix) || *end != '.' || strcmp(end + 1, EXPERTS[i].suffix) != 0) continue;
        *expert = (int)e;
        return snprintf(out, cap, "blk.%d.%s", il, EXPERTS[i].gguf) < (int)cap;
    }
    g = lookup(fam->layer_names, rest);
    if (!g) g = lookup(fam->encoder ? BERT_LAYER : DECODER_LAYER, rest);
    return g && snprintf(out, cap, "blk.%d.%s", il, g) < (int)cap;
}

bool ag_conv_ignored(const ag_conv_family *fam, const char *hf_name) {
    static const char *const SUFFIXES[] = {"rotary_emb.inv_freq", "position_ids", "masked_bias", "attn.bias"};
    size_t n = strlen(hf_name);
    for (size_t i = 0; i < sizeof SUFFIXES / sizeof SUFFIXES[0]; i++) {
        size_t m = strlen(SUFFIXES[i]);
        if (n >= m && strcmp(hf_name + n - m, SUFFIXES[i]) == 0) return true;
    }
    /* multimodal checkpoints: the vision tower and its projector are not part of the text model */
    static const char *const VISION[] = {"vision_tower.", "multi_modal_projector.", "model.vision_tower.", "model.multi_modal_projector.",
                                         "visual.", "model.visual."};
    for (size_t i = 0; i < sizeof VISION / sizeof VISION[0]; i++)
        if (starts(hf_name, VISION[i])) return true;
    /* encoders: the pooler and the masked-LM / classification heads are not part of the embedding
     * (a ranker keeps its pooler and classifier) */
    if (ag_conv_is_ranker(fam) && (starts(hf_name, "bert.pooler.") || starts(hf_name, "pooler.") || starts(hf_name, "classifier.")))
        return false;
    return fam->encoder && (starts(hf_name, "pooler.") || starts(hf_name, "bert.pooler.") || starts(hf_name, "cls.") ||
                            starts(hf_name, "classifier."));
}
