/*
 * bpe_merges.h - the merge table of a byte-level BPE vocabulary, over symbol ids.
 *
 * A symbol is a string that the merge loop can hold: the character of one byte, or the join of
 * two symbols that a merge allows. Each distinct string gets one id: its token id when it is a
 * piece of the vocabulary, else an id from n_tokens up (an "extra" symbol: merges may pass
 * through strings the vocabulary lacks, and the reference implementation, which compares
 * strings, still applies them). The table maps a pair of symbol ids to the merge's rank (its
 * index in tokenizer.ggml.merges; when a pair is listed twice the first rank counts) and to the id
 * of the joined string, so the merge loop never builds or hashes strings.
 *
 * Memory: owned by the vocabulary, immutable after ag_bpe_merges_new, so shared by threads.
 */
#ifndef AG_TOKENIZER_BPE_MERGES_H
#define AG_TOKENIZER_BPE_MERGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/vocab_impl.h"

typedef struct {
    uint64_t key;   /* left id << 32 | right id */
    int32_t rank;   /* -1: empty slot */
    int32_t result; /* id of left + right */
} ag_bpe_pair_slot;

struct ag_bpe_merges {
    int32_t n_merges;
    ag_bpe_pair_slot *pairs; /* open addressing, capacity mask + 1 (a power of two) */
    uint32_t mask;
    int32_t byte_symbol[256]; /* the symbol of each byte's character */
    /* The tokens that each byte's character falls back to when a symbol is not a piece: one per
     * UTF-8 byte of the character, each the piece of exactly that single byte, or -1 (as the
     * reference does; with a full byte-level vocabulary this never happens). */
    ag_token byte_fallback[256][2];
    /* Extra symbols (ids n_tokens + i): their texts, for the error messages and the tests. */
    char *extra_blob;
    size_t extra_len, extra_cap;
    ag_piece_map extra_map;
    int32_t n_extra;
};

/* Builds the table from the merge strings (each "left right", split at the first space after the
 * first byte, as the reference does). AG_ERR_FORMAT names the first malformed entry (no such
 * space, or nothing after it); AG_ERR_NOMEM. */
ag_bpe_merges *ag_bpe_merges_new(const ag_vocab *v, const char *const *merges, const size_t *lens, int32_t n,
                                 ag_error *err);
void ag_bpe_merges_free(ag_bpe_merges *m);
int32_t ag_bpe_merges_count(const ag_bpe_merges *m);

static inline uint32_t ag_bpe_pair_hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (uint32_t)key;
}

/* The slot of pair (left, right): rank >= 0 when the pair merges. */
static inline const ag_bpe_pair_slot *ag_bpe_merge_find(const ag_bpe_merges *m, int32_t left, int32_t right) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint32_t i = ag_bpe_pair_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        const ag_bpe_pair_slot *s = &m->pairs[i];
        if (s->rank < 0 || s->key == key) return s;
    }
}

#endif
