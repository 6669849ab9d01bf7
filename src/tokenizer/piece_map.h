/*
 * piece_map.h - a hash table from piece text to token id, built once per vocabulary.
 *
 * Keys are (offset, length) into a text blob that the caller owns and keeps alive as long as the
 * map (the vocabulary's copy of all piece texts); the map itself stores only hashes, key
 * positions and ids. Open addressing with linear probing, capacity a power of two and at least
 * twice the number of entries, so a lookup touches one or two cache lines. Inserting a text that
 * is already present replaces its id: with duplicate pieces the last id wins, as in the GGUF
 * reference implementation.
 */
#ifndef AG_TOKENIZER_PIECE_MAP_H
#define AG_TOKENIZER_PIECE_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t hash;
    uint32_t off; /* key: blob[off .. off+len) */
    uint32_t len;
    int32_t id; /* -1: empty slot */
} ag_piece_slot;

typedef struct {
    const char *blob; /* borrowed */
    ag_piece_slot *slots;
    uint32_t mask; /* capacity - 1 */
} ag_piece_map;

/* Allocates room for up to n_max entries; false when out of memory. */
bool ag_piece_map_init(ag_piece_map *m, const char *blob, uint32_t n_max);
void ag_piece_map_free(ag_piece_map *m);

/* Adds blob[off .. off+len) -> id, replacing the id of an equal key. */
void ag_piece_map_put(ag_piece_map *m, uint32_t off, uint32_t len, int32_t id);

/* The id of the text s[0..n), or -1. */
int32_t ag_piece_map_get(const ag_piece_map *m, const char *s, size_t n);

#endif
