/*
 * pretok.h - splitting text into words with a list of regular expressions (PCRE2).
 *
 * An ag_pretok holds the compiled patterns of one pre-tokenizer (pre_types.h). It is built once
 * per vocabulary and never changed, so threads may share it; everything a split needs to write
 * (PCRE2 match data, the JIT stack, the piece lists) lives in an ag_pretok_scratch that each
 * caller owns, one per tokenize call.
 *
 * Semantics (those of the GGUF reference implementation): the first pattern cuts the whole text
 * into its matches and the runs between them; each next pattern cuts every piece of the one
 * before in the same way, seeing only that piece (lookarounds and $ stop at its ends). Matching
 * is in UTF mode with Unicode properties; text that is not valid UTF-8 is matched as if every
 * invalid byte were U+FFFD, but the pieces are returned as offsets into the original bytes, so
 * nothing of the input is lost.
 */
#ifndef AG_TOKENIZER_PRETOK_H
#define AG_TOKENIZER_PRETOK_H

#include <stdbool.h>
#include <stddef.h>

#include "autoglm/autoglm.h"

typedef struct ag_pretok ag_pretok;

/* Compiles a NULL-terminated list of patterns (at least one). AG_ERR_INVALID_ARG names a pattern
 * PCRE2 rejects (a bug in the table, or a caller's pattern); AG_ERR_NOMEM. */
ag_pretok *ag_pretok_new(const char *const *patterns, ag_error *err);
void ag_pretok_free(ag_pretok *p);

/* Per-call working memory; zero-initialize, release with ag_pretok_scratch_free. */
typedef struct {
    size_t *ends; /* result of the last split: end offsets of consecutive pieces, increasing */
    size_t n;
    size_t cap;
    size_t *tmp; /* the next pass's pieces */
    size_t tmp_cap;
    char *clean; /* the text with invalid bytes replaced by U+FFFD, when needed */
    size_t clean_cap;
    size_t *orig; /* clean offset -> offset in the original text */
    size_t orig_cap;
    void *match_data; /* pcre2_match_data *, created on first use */
    void *match_ctx;  /* pcre2_match_context *, created when a bigger JIT stack is needed */
    void *jit_stack;  /* pcre2_jit_stack * */
} ag_pretok_scratch;

void ag_pretok_scratch_free(ag_pretok_scratch *s);

/* Splits text[0..len) into pieces: s->ends[0..s->n) (the last is len; none for empty text).
 * False only when out of memory. */
bool ag_pretok_split(const ag_pretok *p, ag_pretok_scratch *s, const char *text, size_t len);

#endif
