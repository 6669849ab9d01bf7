/*
 * vocab_impl.h - the inside of an ag_vocab, shared by the files of the tokenizer layer only
 * (vocab.c builds the part all families share, bpe_vocab.c and wpm_vocab.c add their own,
 * vocab_load.c fills them from a GGUF file; partition.c, spm.c, bpe.c and wpm.c read them).
 *
 * Memory: an ag_vocab owns everything it points to: one blob holding every piece text
 * (NUL-terminated, so that pieces can also be used as C strings), the per-token table, the
 * text -> id map and the tables derived for special-token matching. Nothing points into the
 * GGUF file it was loaded from. After construction it is never modified, so one vocabulary can be
 * used by several threads at once.
 */
#ifndef AG_TOKENIZER_VOCAB_IMPL_H
#define AG_TOKENIZER_VOCAB_IMPL_H

#include "tokenizer/piece_map.h"
#include "tokenizer/vocab.h"

typedef struct ag_bpe_merges ag_bpe_merges; /* bpe_merges.h */
typedef struct ag_pretok ag_pretok;         /* pretok.h */

/* ag_vocab_token.flags */
enum {
    AG_TOKF_EOG = 1 << 0,    /* ends generation */
    AG_TOKF_LSTRIP = 1 << 1, /* matched as special: whitespace before it is dropped */
    AG_TOKF_RSTRIP = 1 << 2, /* matched as special: whitespace after it is dropped */
};

typedef struct {
    uint32_t off; /* text: blob[off .. off+len) */
    uint32_t len;
    float score;  /* merge priority (higher merges first) */
    uint8_t type; /* ag_token_type */
    uint8_t flags;
    uint8_t byte; /* BYTE tokens: the byte that "<0xXX>" stands for */
} ag_vocab_token;

struct ag_vocab {
    ag_vocab_kind kind;
    int32_t n_tokens;
    ag_vocab_token *tokens; /* [n_tokens] */
    char *blob;             /* every piece text, each followed by a NUL */
    ag_piece_map map;       /* piece text -> id (last id wins for duplicates) */
    uint32_t max_piece_len; /* bytes of the longest piece */

    ag_token bos, eos, unk, pad, eot; /* -1: none */
    bool add_bos, add_eos, add_space_prefix;

    ag_token byte_token[256]; /* byte fallback: id of "<0xXX>" (or of the byte itself), else unk */

    /* "llama": no piece holds U+2581 after its leading run of them, so no piece can span the start
     * of a U+2581 that follows another character, and spm.c merges the text word by word */
    bool spm_words_split;

    /* Special tokens (CONTROL, USER_DEFINED, UNKNOWN) in the order they are matched: longest text
     * first, ties by id. For fast detection they are also bucketed by their first two bytes
     * (pieces of one byte by their only byte): CSR arrays of indices into `special`. */
    ag_token *special;   /* [n_special] */
    int32_t n_special;
    uint32_t *bucket2;   /* [65537] start of bucket (b0 << 8 | b1) in bucket2_items; NULL if none */
    int32_t *bucket2_items;
    uint32_t bucket1[257]; /* start of bucket b in bucket1_items */
    int32_t *bucket1_items;

    /* "gpt2" only (NULL / false otherwise) */
    ag_bpe_merges *merges; /* the merge table */
    ag_pretok *pretok;     /* the compiled split patterns of `pre` */
    bool ignore_merges;
    char *pre;             /* tokenizer.ggml.pre, NUL-terminated, or NULL */
    char *pre_warning;     /* why the default split is used, or NULL */

    /* "bert" (sep is -1 and the flags false otherwise) */
    ag_token sep;
    bool add_sep;
    bool lowercase, strip_accents;
};

/* Builds the part of a vocabulary that every family shares (vocab.c): pieces, map, special tokens,
 * byte fallback, EOG flags, name rules. The family-specific fields are left empty. */
ag_vocab *ag_vocab_build(const ag_vocab_spm_desc *desc, ag_vocab_kind kind, ag_error *err);

static inline const char *ag_vocab_piece(const ag_vocab *v, ag_token t) {
    return v->blob + v->tokens[t].off;
}

#endif
