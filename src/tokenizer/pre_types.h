/*
 * pre_types.h - the pre-tokenizers of byte-level BPE vocabularies, by tokenizer.ggml.pre name.
 *
 * A pre-tokenizer is a list of regular expressions (PCRE2 syntax, UTF mode) applied one after
 * the other: the first splits the text into pieces (its matches, and the runs between matches),
 * each further one splits every piece of the one before. Some also change the vocabulary's
 * defaults (Llama 3 adds BOS and takes whole words that are pieces without merging, GLM-4 has no
 * BOS, ...). The names and rules follow the GGUF reference implementation (llama.cpp's
 * llm_tokenizer_bpe and its load code) so that token ids match; see pre_types.c for how the
 * patterns were written to reproduce its regex handling.
 */
#ifndef AG_TOKENIZER_PRE_TYPES_H
#define AG_TOKENIZER_PRE_TYPES_H

#include <stdbool.h>

typedef struct {
    const char *name;             /* the canonical name of this kind of split */
    const char *const *patterns;  /* NULL-terminated, applied in order */
    bool ignore_merges;           /* a word that is a whole piece is taken directly */
    bool add_bos;                 /* BOS added by default */
    bool no_bos;                  /* the vocabulary has no BOS by default */
    bool add_sep;                 /* SEP wanted after the text (for rerankers; not added by tokenize) */
    bool mask_lstrip;             /* "<mask>" drops the whitespace before it */
} ag_pre_type;

/* The rules for tokenizer.ggml.pre = name; NULL when the name is unknown. */
const ag_pre_type *ag_pre_type_find(const char *name);

/* The reference's "default" split, used for a missing or unknown name. */
const ag_pre_type *ag_pre_type_default(void);

#endif
