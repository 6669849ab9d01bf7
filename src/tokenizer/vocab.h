/*
 * vocab.h - the vocabulary of a model and the tokenizers over it.
 *
 * ag_vocab_load reads the `tokenizer.*` keys of a GGUF file (tokens, scores, token_type,
 * bos/eos/unk/pad ids, add_bos_token/add_eos_token, add_space_prefix ...). The vocabulary keeps
 * its own copies of what it needs, so it does not depend on the file staying open.
 *
 * Families (tokenizer.ggml.model):
 *   "llama"  SentencePiece-style: pieces with scores, U+2581 for spaces, <0xXX> byte fallback.
 *   (later: "gpt2" byte-level BPE, "bert" WordPiece)
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
} ag_vocab_kind;

typedef struct ag_vocab ag_vocab;

ag_vocab *ag_vocab_load(const ag_gguf_file *f, ag_error *err);
void ag_vocab_free(ag_vocab *v);

/* A SentencePiece-style vocabulary described in memory: what ag_vocab_load reads from a file,
 * also used by tests and the fuzzer. Everything is copied; desc may be released afterwards. */
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

ag_vocab_kind ag_vocab_get_kind(const ag_vocab *v);
const char *ag_vocab_kind_name(const ag_vocab *v); /* "llama" */
int32_t ag_vocab_n_tokens(const ag_vocab *v);
ag_token ag_vocab_bos(const ag_vocab *v); /* -1 when none */
ag_token ag_vocab_eos(const ag_vocab *v);
ag_token ag_vocab_eot(const ag_vocab *v);
ag_token ag_vocab_unk(const ag_vocab *v);
ag_token ag_vocab_pad(const ag_vocab *v);
bool ag_vocab_adds_bos(const ag_vocab *v);
bool ag_vocab_adds_eos(const ag_vocab *v);
bool ag_vocab_adds_space_prefix(const ag_vocab *v);
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
