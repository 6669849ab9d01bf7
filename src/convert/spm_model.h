/*
 * spm_model.h - SentencePiece's tokenizer.model (a protobuf ModelProto) read into plain arrays:
 * the pieces with their scores and types, the special ids and the normalizer's dummy prefix.
 */
#ifndef AG_CONVERT_SPM_MODEL_H
#define AG_CONVERT_SPM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

typedef struct {
    char *piece;  /* owned, NUL-terminated (pieces hold no NUL) */
    float score;
    int32_t type; /* 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte (= GGUF token types) */
} ag_spm_piece;

typedef struct {
    ag_spm_piece *pieces; /* n_pieces, owned */
    int64_t n_pieces;
    int32_t model_type;   /* 1 unigram, 2 bpe, 3 word, 4 char */
    int32_t unk_id, bos_id, eos_id, pad_id; /* -1: none */
    bool add_dummy_prefix;
} ag_spm_model;

/* Parses buf; AG_ERR_FORMAT when it is not a ModelProto with pieces. */
ag_status ag_spm_model_read(const void *buf, size_t len, ag_spm_model *m, ag_error *err);
void ag_spm_model_free(ag_spm_model *m);

#endif
