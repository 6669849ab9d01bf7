/*
 * partition.h - splitting text at special tokens before it reaches a tokenizer algorithm.
 *
 * The result is a list of fragments in text order: either a special token, or a run of plain
 * text that the family's algorithm (spm.c) tokenizes on its own. The rules are those of the GGUF
 * reference implementation (llama.cpp's tokenizer_st_partition), so that ids match:
 *   - special tokens are CONTROL, USER_DEFINED and UNKNOWN pieces; without parse_special only the
 *     USER_DEFINED ones are matched (CONTROL and UNKNOWN text stays plain text);
 *   - they are applied one after the other, longest piece first: each splits every remaining text
 *     fragment at all its non-overlapping occurrences, leftmost first;
 *   - a token with LSTRIP drops the whitespace just before it, RSTRIP the whitespace just after it
 *     (within the fragment being split); text fragments left empty are dropped.
 */
#ifndef AG_TOKENIZER_PARTITION_H
#define AG_TOKENIZER_PARTITION_H

#include <stdbool.h>
#include <stddef.h>

#include "tokenizer/vocab_impl.h"

typedef struct {
    ag_token token; /* >= 0: this special token; -1: the text [off, off+len) */
    size_t off;
    size_t len;
} ag_fragment;

typedef struct {
    ag_fragment *items; /* owned; release with ag_fragment_list_free */
    size_t n;
    size_t cap;
} ag_fragment_list;

/* Fills out (which must be zeroed) with the fragments of text[0..len). AG_OK or AG_ERR_NOMEM. */
ag_status ag_partition_special(const ag_vocab *v, const char *text, size_t len, bool parse_special,
                               ag_fragment_list *out);
void ag_fragment_list_free(ag_fragment_list *l);

#endif
