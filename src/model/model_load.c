/*
 * model_load.c - ag_model_load / ag_model_free: read hyper-parameters from the GGUF keys of the
 * model's architecture, bind every weight to its tensor in the mapping (checking names, shapes
 * and that we have kernels for the type), and load the vocabulary.
 *
 * Relies on: gguf/ (the validated file), tensor/quant.h (which types are computable),
 * tokenizer/vocab.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/sign.h"
#include "base/error.h"
#include "base/threadpool.h"
#include "gpu/gpu.h"
#include "model/arch.h"
#include "model/model.h"
#include "model/model_pack.h"
#include "tensor/quant.h"


static ag_status get_u32_arch(const ag_gguf_file *f, const char *arch, const char *suffix,
                              uint32_t *out, bool required, ag_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!required && !ag_gguf_find_kv(f, key)) return AG_OK;
    return ag_gguf_get_u32(f, key, out, err);
}

static ag_status get_f32_arch(const ag_gguf_file *f, const char *arch, const char *suffix,
                              float *out, ag_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!ag_gguf_find_kv(f, key)) return AG_OK; /* keep the default */
    return ag_gguf_get_f32(f, key, out, err);
}

static ag_status read_hparams(const ag_gguf_file *f, const char *arch, ag_hparams *hp, ag_error *err) {
    uint32_t n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0, n_ctx = 0;
    uint32_t head_dim = 0, n_rot = 0;
    ag_status st;
    if ((st = get_u32_arch(f, arch, "embedding_length", &n_embd, true, err)) ||
        (st = get_u32_arch(f, arch, "block_count", &n_layer, true, err)) ||
        (st = get_u32_arch(f, arch, "feed_forward_length", &n_ff, true, err)) ||
        (st = get_u32_arch(f, arch, "attention.head_count", &n_head, true, err)) ||
        (st = get_u32_arch(f, arch, "context_length", &n_ctx, false, err)))
        return st;
    n_head_kv = n_head;
    if ((st = get_u32_arch(f, arch, "attention.head_count_kv", &n_head_kv, false, err))) return st;
    if (n_embd == 0 || n_embd > 65536 || n_layer == 0 || n_layer > 1024 || n_ff == 0 ||
        n_ff > 1 << 20 || n_head == 0 || n_head > 1024)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "absurd hyper-parameters: embedding_length=%u block_count=%u "
                            "feed_forward_length=%u head_count=%u",
                            n_embd, n_layer, n_ff, n_head);
    if (n_head_kv == 0 || n_head % n_head_kv != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "head_count_kv=%u does not divide head_count=%u",
                            n_head_kv, n_head);
    head_dim = n_embd / n_head;
    if ((st = get_u32_arch(f, arch, "attention.key_length", &head_dim, false, err))) return st;
    if (head_dim == 0 || head_dim > 1024 || head_dim % 2 != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "bad head dimension %u", head_dim);
    n_rot = head_dim;
    if ((st = get_u32_arch(f, arch, "rope.dimension_count", &n_rot, false, err))) return st;
    if (n_rot > head_dim || n_rot % 2 != 0)
        return ag_error_set(err, AG_ERR_FORMAT, "rope.dimension_count=%u invalid for head size %u",
                            n_rot, head_dim);
    hp->n_embd = (int)n_embd;
    hp->n_layer = (int)n_layer;
    hp->n_ff = (int)n_ff;
    hp->n_head = (int)n_head;
    hp->n_head_kv = (int)n_head_kv;
    hp->head_dim = (int)head_dim;
    hp->n_rot = (int)n_rot;
    hp->n_ctx_train = n_ctx ? (int)(n_ctx > (1u << 30) ? 1u << 30 : n_ctx) : 2048;
    hp->norm_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    hp->rope_scale = 1.0f;
    if ((st = get_f32_arch(f, arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps, err)) ||
        (st = get_f32_arch(f, arch, "rope.freq_base", &hp->rope_base, err)))
        return st;
    float factor = 1.0f;
    if ((st = get_f32_arch(f, arch, "rope.scale_linear", &factor, err))) return st;
    if (factor > 0) hp->rope_scale = factor;
    if (!(hp->norm_eps > 0) || !(hp->rope_base > 0))
        return ag_error_set(err, AG_ERR_FORMAT, "bad layer_norm_rms_epsilon or rope.freq_base");
    return AG_OK;
}

/* Binds w to tensor `name`, checking its shape (ne1 = 0 for 1-D) and that we can compute with it. */
ag_status ag_bind_weight(const ag_gguf_file *f, ag_weight *w, const char *name, int64_t ne0,
                         int64_t ne1, bool required, ag_error *err) {
    const ag_gguf_tensor *t = ag_gguf_find_tensor(f, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (!required) return AG_OK;
        return ag_error_set(err, AG_ERR_FORMAT, "missing tensor '%s'", name);
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1)
        return ag_error_set(err, AG_ERR_FORMAT,
                            "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                            name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                            (long long)t->ne[3], (long long)ne0, (long long)want1);
    const ag_type_traits *tr = ag_type_traits_get(t->type);
    if (ne1 == 0 && t->type != AG_TYPE_F32)
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s': 1-D tensors must be F32, not %s",
                            name, ag_type_name(t->type));
    if (ne1 != 0 && (!tr || !tr->vec_dot || !tr->to_float))
        return ag_error_set(err, AG_ERR_UNSUPPORTED, "tensor '%s' has type %s, not supported yet",
                            name, ag_type_name(t->type));
    w->data = t->data;
    w->type = t->type;
    w->ne[0] = t->ne[0];
    w->ne[1] = want1;
    w->row_bytes = ag_type_row_size(t->type, t->ne[0]);
    return AG_OK;
}

static ag_status bind_model(ag_model *m, ag_error *err) {
    const ag_gguf_file *f = m->gguf;
    const ag_hparams *hp = &m->hp;
    ag_status st;
    if ((st = ag_bind_weight(f, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true, err))) return st;
    if (hp->arch->encoder) {
        const bool learned_pos = hp->arch->rope == AG_ROPE_NONE; /* bert; nomic-bert rotates instead */
        if ((st = ag_bind_weight(f, &m->pos_embd, "position_embd.weight", hp->n_embd, hp->n_ctx_train, learned_pos, err)) ||
            (st = ag_bind_weight(f, &m->embd_norm, "token_embd_norm.weight", hp->n_embd, 0, true, err)) ||
            (st = ag_bind_weight(f, &m->embd_norm_b, "token_embd_norm.bias", hp->n_embd, 0, true, err)))
            return st;
        const ag_gguf_tensor *tt = ag_gguf_find_tensor(f, "token_types.weight");
        if (tt && (st = ag_bind_weight(f, &m->tok_types, "token_types.weight", hp->n_embd, tt->ne[1], true, err))) return st;
        const ag_gguf_tensor *co = ag_gguf_find_tensor(f, "cls.output.weight");
        if (hp->pooling == 4 && co && (co->ne[1] < 1 || co->ne[1] > hp->n_embd))
            return ag_error_set(err, AG_ERR_FORMAT, "cls.output.weight has %lld outputs (1 to n_embd expected)",
                                (long long)co->ne[1]);
        if (hp->pooling == 4 &&
            ((st = ag_bind_weight(f, &m->cls, "cls.weight", hp->n_embd, hp->n_embd, false, err)) ||
             (st = ag_bind_weight(f, &m->cls_b, "cls.bias", hp->n_embd, 0, false, err)) ||
             (st = ag_bind_weight(f, &m->cls_out, "cls.output.weight", hp->n_embd, co ? co->ne[1] : 1, true, err)) ||
             (st = ag_bind_weight(f, &m->cls_out_b, "cls.output.bias", co ? co->ne[1] : 1, 0, false, err))))
            return st;
    } else if ((st = ag_bind_weight(f, &m->output_norm, "output_norm.weight", hp->n_embd, 0, true, err)) ||
               (st = ag_bind_weight(f, &m->output, "output.weight", hp->n_embd, hp->n_vocab, false, err)) ||
               (st = ag_bind_weight(f, &m->rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 0, false, err)) ||
               (st = ag_bind_weight(f, &m->rope_long, "rope_factors_long.weight", hp->n_rot / 2, 0, false, err)) ||
               (st = ag_bind_weight(f, &m->rope_short, "rope_factors_short.weight", hp->n_rot / 2, 0, false, err)))
        return st;
    if (hp->yarn_factor > 0) {
        if (!(m->rope_yarn = malloc((size_t)(hp->n_rot / 2 + 1) * sizeof(float)))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        ag_rope_yarn_factors(hp, m->rope_yarn);
    }
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int il = 0; il < hp->n_layer; il++)
        if ((st = ag_arch_bind_layer(f, hp, il, &m->layers[il], err))) return st;
    return AG_OK;
}

static void count_params(ag_model *m) {
    for (int64_t i = 0; i < ag_gguf_tensor_count(m->gguf); i++) {
        const ag_gguf_tensor *t = ag_gguf_tensor_at(m->gguf, i);
        m->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        m->n_bytes += t->nbytes;
    }
}

static char *dup_str(ag_gguf_str s) { return strndup(s.data, s.len); }

/* NUL-terminated copies of the strings the public info API hands out. */
static ag_status copy_strings(ag_model *m, ag_error *err) {
    int64_t n_kv = ag_gguf_kv_count(m->gguf), n_t = ag_gguf_tensor_count(m->gguf);
    m->meta_keys = calloc((size_t)n_kv + 1, sizeof *m->meta_keys);
    m->tensor_names = calloc((size_t)n_t + 1, sizeof *m->tensor_names);
    if (!m->meta_keys || !m->tensor_names) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n_kv; i++)
        if (!(m->meta_keys[i] = dup_str(ag_gguf_kv_at(m->gguf, i)->key)))
            return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n_t; i++)
        if (!(m->tensor_names[i] = dup_str(ag_gguf_tensor_at(m->gguf, i)->name)))
            return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    ag_gguf_str s = {"", 0};
    const ag_gguf_kv *kv = ag_gguf_find_kv(m->gguf, "general.name");
    if (kv && kv->value.type == AG_GGUF_STRING) s = kv->value.s;
    if (!(m->name = dup_str(s))) return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    kv = ag_gguf_find_kv(m->gguf, "tokenizer.chat_template");
    if (kv && kv->value.type == AG_GGUF_STRING && !(m->chat_template = dup_str(kv->value.s)))
        return ag_error_set(err, AG_ERR_NOMEM, "out of memory");
    return AG_OK;
}

static ag_status load_from_file(ag_model *m, bool vocab_only, ag_error *err) {
    ag_gguf_str arch;
    if (copy_strings(m, err)) return AG_ERR_NOMEM;
    ag_status st = ag_gguf_get_str(m->gguf, "general.architecture", &arch, err);
    if (st) return st;
    if (arch.len == 0 || arch.len >= sizeof m->arch)
        return ag_error_set(err, AG_ERR_FORMAT, "bad general.architecture");
    memcpy(m->arch, arch.data, arch.len);
    m->arch[arch.len] = '\0';
    if (vocab_only) { /* hyperparameters when the family's keys are there, else zeros */
        if (read_hparams(m->gguf, m->arch, &m->hp, NULL) != AG_OK) memset(&m->hp, 0, sizeof m->hp);
        m->vocab = ag_vocab_load(m->gguf, err);
        if (!m->vocab) return err ? err->code : AG_ERR_FORMAT;
        m->hp.n_vocab = ag_vocab_n_tokens(m->vocab);
        m->vocab_only = true;
        count_params(m);
        return AG_OK;
    }
    const ag_arch *a = ag_arch_find(m->arch);
    if (!a) return ag_error_set(err, AG_ERR_UNSUPPORTED, "architecture '%s' is not supported yet", m->arch);
    if ((st = read_hparams(m->gguf, m->arch, &m->hp, err)) || (st = ag_arch_read_hparams(m->gguf, a, &m->hp, err)))
        return st;
    m->vocab = ag_vocab_load(m->gguf, err);
    if (!m->vocab) return err ? err->code : AG_ERR_FORMAT;
    m->hp.n_vocab = ag_vocab_n_tokens(m->vocab);
    if ((st = bind_model(m, err))) return st;
    count_params(m);
    return AG_OK;
}

ag_model *ag_model_load(const char *path, const ag_model_params *params, ag_error *err) {
    ag_model *m = calloc(1, sizeof *m);
    if (!m) {
        ag_error_set(err, AG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->n_threads = params && params->n_threads > 0 ? params->n_threads : ag_default_threads();
    if (params && params->trusted_keys && ag_verify_model(path, NULL, params->trusted_keys, NULL, err) != AG_OK) {
        ag_model_free(m);
        return NULL;
    }
    m->gguf = ag_gguf_open(path, err);
    if (!m->gguf || load_from_file(m, params && params->vocab_only, err) != AG_OK) {
        if (err) ag_error_prefix(err, "%s", path);
        ag_model_free(m);
        return NULL;
    }
    if (ag_gpu_attach(m, params, err) != AG_OK || (!(params && params->keep_layout) && ag_model_pack_weights(m, err) != AG_OK)) {
        ag_model_free(m);
        return NULL;
    }
    return m;
}

void ag_model_free(ag_model *m) {
    if (!m) return;
    ag_gpu_detach(m);
    for (char **p = m->meta_keys; p && *p; p++) free(*p);
    for (char **p = m->tensor_names; p && *p; p++) free(*p);
    free(m->meta_keys);
    free(m->tensor_names);
    free(m->name);
    free(m->chat_template);
    ag_vocab_free(m->vocab);
    free(m->layers);
    free(m->rope_yarn);
    ag_model_unpack_weights(m);
    ag_gguf_close(m->gguf);
    free(m);
}
