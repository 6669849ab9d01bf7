/*
 * wpm_vocab.c - WordPiece ("bert") vocabularies: their defaults and construction.
 *
 * Only the shared part (vocab.c) plus [SEP] and the normalizer flags; matching reads the
 * vocabulary's ordinary piece map.
 */
#include "base/error.h"
#include "tokenizer/vocab_impl.h"

ag_vocab_wpm_desc ag_vocab_wpm_default_desc(int32_t n_tokens) {
    ag_vocab_wpm_desc d = {0};
    d.base.n_tokens = n_tokens;
    d.base.bos = n_tokens > 101 ? 101 : -1; /* [CLS] */
    d.base.eos = -1;
    d.base.unk = n_tokens > 100 ? 100 : -1;
    d.base.pad = n_tokens > 0 ? 0 : -1;
    d.base.eot = -1;
    d.base.add_bos = true;
    d.base.add_eos = false;
    d.base.add_space_prefix = false;
    d.sep = n_tokens > 102 ? 102 : -1;
    d.add_sep = true;
    d.lowercase = true;
    d.strip_accents = true;
    return d;
}

ag_vocab *ag_vocab_new_wpm(const ag_vocab_wpm_desc *d, ag_error *err) {
    if (!d) {
        ag_error_set(err, AG_ERR_INVALID_ARG, "vocabulary: no description");
        return NULL;
    }
    if (d->sep < -1 || d->sep >= d->base.n_tokens) {
        ag_error_set(err, AG_ERR_FORMAT, "vocabulary: sep token id %d out of range (%d tokens)", (int)d->sep,
                     (int)d->base.n_tokens);
        return NULL;
    }
    ag_vocab *v = ag_vocab_build(&d->base, AG_VOCAB_WPM, err);
    if (!v) return NULL;
    v->sep = d->sep;
    v->add_sep = d->add_sep;
    v->lowercase = d->lowercase;
    v->strip_accents = d->strip_accents;
    return v;
}
