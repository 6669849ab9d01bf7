/*
 * vocab.h - the vocabulary of a model and the tokenizers over it.
 *
 * ag_vocab_load reads the `tokenizer.*` keys of a GGUF file (tokens, scores, token_type,
 * bos/eos/unk/pad ids, add_bos_token/add_eos_token, add_space_prefix ...). The vocabulary keeps
 * its own copies of what it needs, so it does not depend on the file staying open.
 *
 * Families (tokenizer.ggml.model):
 *   "llama"  SentencePiece-style: pieces with scores, U+2581 for spaces, <0xXX> byte fallback
 *            (spm.c).
 *   "gpt2"   byte-level BPE: every byte stands for one character (GPT-2's byte-to-unicode map),
 *            tokenizer.ggml.merges ranks the merges, tokenizer.ggml.pre names the regular
 *            expressions that split text into words first (bpe.c, pretok.c, pre_types.c).
 *   "bert"   WordPiece: lowercased, accents stripped, split at whitespace, punctuation and CJK
 *            characters, then longest-match-first per word; word-initial pieces carry a U+2581
 *            prefix (the GGUF convention), continuation pieces none (wpm.c, wpm_norm.c).
 * Any other model is refused with AG_ERR_UNSUPPORTED.
 */
#ifndef AG_TOKENIZER_VOCAB_H
#define AG_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"
#include "gguf/gguf.h"

/* tokenizer.ggml.token_type values */
typedef enum {
    AG_TOKEN_TYPE_UNDEFINED = 0,
    AG_TOKEN_TYPE_NORMAL = 1,
    AG_TOKEN_TYPE_UNKNOWN = 2,
    AG_TOKEN_TYPE_CONTROL = 3,
    AG_TOKEN_TYPE_USER_DEFINED = 4,
    AG_TOKEN_TYPE_UNUSED = 5,
    AG_TOKEN_TYPE_BYTE = 6,
} ag_token_type;

typedef enum {
    AG_VOCAB_SPM = 1, /* "llama" */
    AG_VOCAB_BPE = 2, /* "gpt2" */
    AG_VOCAB_WPM = 3, /* "bert" */
} ag_vocab_kind;

typedef struct ag_vocab ag_vocab;

ag_vocab *ag_vocab_load(const ag_gguf_file *f, ag_error *err);
void ag_vocab_free(ag_vocab *v);

/* A SentencePiece-style vocabulary described in memory: what ag_vocab_load reads from a file,
 * also used by tests and the fuzzer. Everything is copied; desc may be released afterwards.
 * The BPE and WordPiece descriptions below embed this one for what all families share (pieces,
 * types, special ids, flags). */
typedef struct {
    int32_t n_tokens;
    const char *const *texts; /* [n_tokens] piece texts ("" becomes "[EMPTY_<id>]") */
    const size_t *lens;       /* [n_tokens] byte lengths, or NULL when texts are NUL-terminated */
    const float *scores;      /* [n_tokens] merge priorities, or NULL: all 0 */
    const int32_t *types;     /* [n_tokens] ag_token_type values, or NULL: all NORMAL */
    ag_token bos, eos, unk, pad; /* -1: none; otherwise < n_tokens */
    ag_token eot;             /* -1: found by text (a control "<|eot_id|>", "<|im_end|>", ...) */
    bool add_bos, add_eos, add_space_prefix;
    const char *name;         /* the model's general.name (Phi-3 rules depend on it), or NULL */
} ag_vocab_spm_desc;

/* The defaults of a "llama" vocabulary: bos 1, eos 2, unk 0 (when there are that many tokens),
 * no pad, eot by text, add_bos, no add_eos, add_space_prefix. Arrays NULL, n_tokens 0. */
ag_vocab_spm_desc ag_vocab_spm_default_desc(int32_t n_tokens);
/* AG_ERR_FORMAT when a piece is too long (AG_VOCAB_MAX_PIECE) or an id is out of range,
 * AG_ERR_INVALID_ARG for a malformed desc, AG_ERR_NOMEM. */
ag_vocab *ag_vocab_new_spm(const ag_vocab_spm_desc *desc, ag_error *err);

#define AG_VOCAB_MAX_TOKENS (1 << 24)
#define AG_VOCAB_MAX_PIECE 4096 /* bytes */

/* A byte-level BPE ("gpt2") vocabulary described in memory. */
typedef struct {
    ag_vocab_spm_desc base;    /* scores unused; add_space_prefix unused */
    const char *const *merges; /* [n_merges] "left right" (split at the first space after the
                                  first byte); the rank of a merge is its index */
    const size_t *merge_lens;  /* [n_merges] byte lengths, or NULL when NUL-terminated */
    int32_t n_merges;
    const char *pre;           /* tokenizer.ggml.pre (NUL-terminated), or NULL when absent */
    bool ignore_merges;        /* a whole word that is a piece is taken as it is (Llama 3) */
} ag_vocab_bpe_desc;

/* The reference's defaults of a "gpt2" vocabulary with this pre-tokenizer (pre may be NULL): bos
 * and eos 11 (when there are that many tokens), no unk, no pad; add_bos only for the pre-tokenizers
 * that ask for it (llama-bpe, tekken, chameleon, ...), ignore_merges likewise, no bos at all for
 * glm4/chatglm-bpe; no add_eos, no space prefix. Arrays NULL, n_tokens as given. */
ag_vocab_bpe_desc ag_vocab_bpe_default_desc(int32_t n_tokens, const char *pre);
/* AG_ERR_FORMAT for no merges, a malformed merge or the ag_vocab_new_spm errors; AG_ERR_NOMEM.
 * An unknown (or missing) pre is not an error: the default split is used and
 * ag_vocab_pre_warning says so. */
ag_vocab *ag_vocab_new_bpe(const ag_vocab_bpe_desc *desc, ag_error *err);

/* A WordPiece ("bert") vocabulary described in memory. */
typedef struct {
    ag_vocab_spm_desc base; /* bos is [CLS]; scores unused */
    ag_token sep;           /* [SEP], appended after the text when add_special and add_sep; -1: none */
    bool add_sep;
    bool lowercase;         /* tokenizer.ggml.normalizer.lowercase */
    bool strip_accents;     /* tokenizer.ggml.normalizer.strip_accents (default: = lowercase) */
} ag_vocab_wpm_desc;

/* The reference's defaults of a "bert" vocabulary: bos ([CLS]) 101, unk 100, sep 102, pad 0
 * (each only when there are that many tokens), no eos, add_bos and add_sep, lowercase and
 * strip_accents, no space prefix. */
ag_vocab_wpm_desc ag_vocab_wpm_default_desc(int32_t n_tokens);
ag_vocab *ag_vocab_new_wpm(const ag_vocab_wpm_desc *desc, ag_error *err);

ag_vocab_kind ag_vocab_get_kind(const ag_vocab *v);
const char *ag_vocab_kind_name(const ag_vocab *v); /* "llama", "gpt2", "bert" */
int32_t ag_vocab_n_tokens(const ag_vocab *v);
ag_token ag_vocab_bos(const ag_vocab *v); /* -1 when none */
ag_token ag_vocab_eos(const ag_vocab *v);
ag_token ag_vocab_eot(const ag_vocab *v);
ag_token ag_vocab_unk(const ag_vocab *v);
ag_token ag_vocab_pad(const ag_vocab *v);
bool ag_vocab_adds_bos(const ag_vocab *v);
bool ag_vocab_adds_eos(const ag_vocab *v);
bool ag_vocab_adds_space_prefix(const ag_vocab *v);
ag_token ag_vocab_sep(const ag_vocab *v); /* "bert": [SEP]; -1 when none */
bool ag_vocab_adds_sep(const ag_vocab *v);
/* "gpt2": the tokenizer.ggml.pre value the vocabulary was built with (NULL when it had none), and
 * a message when it was missing or unknown and the default split is used instead (else NULL).
 * Both NULL for the other families. The library prints nothing; callers decide what to show. */
const char *ag_vocab_pre(const ag_vocab *v);
const char *ag_vocab_pre_warning(const ag_vocab *v);
int32_t ag_vocab_n_merges(const ag_vocab *v); /* "gpt2": merges in the table; 0 otherwise */
bool ag_vocab_is_eog(const ag_vocab *v, ag_token t); /* EOS, EOT and other end-of-generation ids */
ag_token_type ag_vocab_token_type(const ag_vocab *v, ag_token t);
const char *ag_vocab_token_text(const ag_vocab *v, ag_token t, size_t *len); /* raw piece */
float ag_vocab_token_score(const ag_vocab *v, ag_token t);
/* The id whose raw piece is exactly text[0..len) (the last one when pieces repeat), or -1. */
ag_token ag_vocab_find(const ag_vocab *v, const char *text, size_t len);

/* Same contract as ag_tokenize in autoglm.h. */
int ag_vocab_tokenize(const ag_vocab *v, const char *text, size_t len, ag_token *out, int cap,
                      bool add_special, bool parse_special);
/* Same contract as ag_token_to_piece in autoglm.h. */
int ag_vocab_token_to_piece(const ag_vocab *v, ag_token t, char *buf, int cap, bool special);

#endif
