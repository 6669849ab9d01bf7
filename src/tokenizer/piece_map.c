/*
 * piece_map.c - the text -> id hash table of a vocabulary (see piece_map.h).
 *
 * Hash: 64-bit FNV-1a over the bytes, finished with a multiply-xorshift mix so that the low bits
 * used for the slot index depend on every byte.
 */
#include "tokenizer/piece_map.h"

#include <stdlib.h>
#include <string.h>

static uint32_t piece_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (uint32_t)h;
}

bool ag_piece_map_init(ag_piece_map *m, const char *blob, uint32_t n_max) {
    uint64_t cap = 16;
    while (cap < 2ull * n_max) cap *= 2;
    m->blob = blob;
    m->mask = (uint32_t)(cap - 1);
    m->slots = malloc(cap * sizeof *m->slots);
    if (!m->slots) return false;
    for (uint64_t i = 0; i < cap; i++) m->slots[i].id = -1;
    return true;
}

void ag_piece_map_free(ag_piece_map *m) {
    free(m->slots);
    m->slots = NULL;
}

static bool slot_matches(const ag_piece_map *m, const ag_piece_slot *sl, uint32_t h,
                         const char *s, size_t n) {
    return sl->hash == h && sl->len == n && memcmp(m->blob + sl->off, s, n) == 0;
}

void ag_piece_map_put(ag_piece_map *m, uint32_t off, uint32_t len, int32_t id) {
    const char *s = m->blob + off;
    uint32_t h = piece_hash(s, len);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        ag_piece_slot *sl = &m->slots[i];
        if (sl->id < 0) {
            *sl = (ag_piece_slot){.hash = h, .off = off, .len = len, .id = id};
            return;
        }
        if (slot_matches(m, sl, h, s, len)) {
            sl->id = id;
            return;
        }
    }
}

int32_t ag_piece_map_get(const ag_piece_map *m, const char *s, size_t n) {
    uint32_t h = piece_hash(s, n);
    for (uint32_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const ag_piece_slot *sl = &m->slots[i];
        if (sl->id < 0) return -1;
        if (slot_matches(m, sl, h, s, n)) return sl->id;
    }
}
