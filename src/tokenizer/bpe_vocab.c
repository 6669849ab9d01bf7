/*
 * bpe_vocab.c - byte-level BPE ("gpt2") vocabularies: their defaults and construction.
 *
 * ag_vocab_new_bpe builds the shared part (vocab.c), then the merge table (bpe_merges.c) and the
 * compiled split patterns of the pre-tokenizer (pre_types.c, pretok.c). A pre-tokenizer name we
 * do not know, or none at all, is not an error: as the reference implementation does, the
 * "default" split is used; the vocabulary keeps a message saying so (ag_vocab_pre_warning), and
 * printing it is the caller's choice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/bpe_merges.h"
#include "tokenizer/pre_types.h"
#include "tokenizer/pretok.h"
#include "tokenizer/vocab_impl.h"

ag_vocab_bpe_desc ag_vocab_bpe_default_desc(int32_t n_tokens, const char *pre) {
    ag_vocab_bpe_desc d = {0};
    const ag_pre_type *pt = ag_pre_type_find(pre);
    if (!pt) pt = ag_pre_type_default();
    d.base.n_tokens = n_tokens;
    d.base.bos = pt->no_bos || n_tokens <= 11 ? -1 : 11;
    d.base.eos = n_tokens > 11 ? 11 : -1;
    d.base.unk = -1;
    d.base.pad = -1;
    d.base.eot = -1;
    d.base.add_bos = pt->add_bos;
    d.base.add_eos = false;
    d.base.add_space_prefix = false;
    d.pre = pre;
    d.ignore_merges = pt->ignore_merges;
    return d;
}

static char *dup_cstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

/* v->pretok for d->pre; v->pre and v->pre_warning as they apply. */
static ag_status init_pretok(ag_vocab *v, const ag_vocab_bpe_desc *d, ag_error *err) {
    const ag_pre_type *pt = ag_pre_type_find(d->pre);
    if (d->pre && !(v->pre = dup_cstr(d->pre))) return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
    if (!pt) {
        char msg[256];
        if (d->pre)
            snprintf(msg, sizeof msg, "unknown pre-tokenizer '%.64s' (tokenizer.ggml.pre): using the default split; "
                     "token ids may differ from the model's own tokenizer", d->pre);
        else
            snprintf(msg, sizeof msg, "no pre-tokenizer named (tokenizer.ggml.pre missing): using the default split; "
                     "token ids may differ from the model's own tokenizer");
        if (!(v->pre_warning = dup_cstr(msg))) return ag_error_set(err, AG_ERR_NOMEM, "vocabulary: out of memory");
        pt = ag_pre_type_default();
    }
    v->pretok = ag_pretok_new(pt->patterns, err);
    if (!v->pretok) return err ? err->code : AG_ERR_NOMEM;
    if (pt->mask_lstrip) {
        ag_token mask = ag_vocab_find(v, "<mask>", 6);
        if (mask >= 0) v->tokens[mask].flags |= AG_TOKF_LSTRIP;
    }
    v->add_sep = pt->add_sep;
    return AG_OK;
}

ag_vocab *ag_vocab_new_bpe(const ag_vocab_bpe_desc *d, ag_error *err) {
    if (!d) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "vocabulary: no description");
        return NULL;
    }
    ag_vocab *v = ag_vocab_build(&d->base, AG_VOCAB_BPE, err);
    if (!v) return NULL;
    v->ignore_merges = d->ignore_merges;
    v->merges = ag_bpe_merges_new(v, d->merges, d->merge_lens, d->n_merges, err);
    if (!v->merges || init_pretok(v, d, err) != AG_OK) {
        ag_vocab_free(v);
        return NULL;
    }
    return v;
}
