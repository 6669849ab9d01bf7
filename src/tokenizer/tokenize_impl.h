/*
 * tokenize_impl.h - what the family tokenizers share with ag_vocab_tokenize (tokenize.c): the
 * output sink and one entry point per family, each tokenizing the text fragments that the
 * special-token partition (partition.h) left.
 */
#ifndef AG_TOKENIZER_TOKENIZE_IMPL_H
#define AG_TOKENIZER_TOKENIZE_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "tokenizer/partition.h"
#include "tokenizer/vocab_impl.h"

/* Writes tokens while they fit and counts all of them. */
typedef struct {
    ag_token *out;
    int64_t cap;
    int64_t n;
} ag_tok_sink;

static inline void ag_tok_sink_push(ag_tok_sink *s, ag_token t) {
    if (s->n < s->cap) s->out[s->n] = t;
    s->n++;
}

/* Each appends the tokens of every fragment (special tokens as they are) to out; false only when
 * out of memory. prev_special: whether the text starts right after a special token (BOS). */
bool ag_spm_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               bool prev_special, ag_tok_sink *out); /* spm.c */
bool ag_bpe_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               ag_tok_sink *out); /* bpe.c */
bool ag_wpm_tokenize_fragments(const ag_vocab *v, const char *text, const ag_fragment_list *frags,
                               ag_tok_sink *out); /* wpm.c */

#endif
