/*
 * vision_cache.c - the cache of image encodings of vision_cache.h: a small array of entries
 * (a handful of images fit the limit), searched linearly under one mutex.
 */
#include "model/vision_cache.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char key[32];
    float *rows;
    size_t n_floats;
    uint64_t last_use;
} entry;

struct ag_vision_cache {
    pthread_mutex_t mu;
    entry *e;
    int n, cap;
    size_t bytes, max_bytes;
    uint64_t clock, hits, lookups;
};

ag_vision_cache *ag_vision_cache_new(size_t max_bytes) {
    ag_vision_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->max_bytes = max_bytes;
    return c;
}

void ag_vision_cache_free(ag_vision_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->e[i].rows);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Drops least recently used entries until bytes + need <= max_bytes (under the mutex). */
static void evict_for(ag_vision_cache *c, size_t need) {
    while (c->n > 0 && c->bytes + need > c->max_bytes) {
        int old = 0;
        for (int i = 1; i < c->n; i++)
            if (c->e[i].last_use < c->e[old].last_use) old = i;
        c->bytes -= c->e[old].n_floats * sizeof(float);
        free(c->e[old].rows);
        c->e[old] = c->e[--c->n];
    }
}

void ag_vision_cache_set_limit(ag_vision_cache *c, size_t max_bytes) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->max_bytes = max_bytes;
    evict_for(c, 0);
    pthread_mutex_unlock(&c->mu);
}

bool ag_vision_cache_key(const ag_image_patches *img, unsigned char key[32]) {
    if (img->keyed) { /* remembered (ag_vision_remember_key) */
        memcpy(key, img->key, 32);
        return true;
    }
    const int dims[4] = {img->grid_t, img->grid_h, img->grid_w, img->patch_dim};
    const size_t n = (size_t)img->grid_t * img->grid_h * img->grid_w * img->patch_dim;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int len = 0;
    const bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, dims, sizeof dims) &&
                    EVP_DigestUpdate(ctx, img->pixels, n * sizeof(float)) && EVP_DigestFinal_ex(ctx, key, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    return ok;
}

bool ag_vision_cache_get(ag_vision_cache *c, const unsigned char key[32], float *out, size_t n_floats) {
    if (!c) return false;
    bool found = false;
    pthread_mutex_lock(&c->mu);
    c->lookups++;
    for (int i = 0; i < c->n && !found; i++) {
        entry *e = &c->e[i];
        if (e->n_floats != n_floats || memcmp(e->key, key, 32) != 0) continue;
        memcpy(out, e->rows, n_floats * sizeof(float));
        e->last_use = ++c->clock;
        c->hits++;
        found = true;
    }
    pthread_mutex_unlock(&c->mu);
    return found;
}

void ag_vision_cache_put(ag_vision_cache *c, const unsigned char key[32], const float *rows, size_t n_floats) {
    if (!c) return;
    const size_t bytes = n_floats * sizeof(float);
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n; i++) /* already there (two sessions encoded it at once) */
        if (c->e[i].n_floats == n_floats && memcmp(c->e[i].key, key, 32) == 0) {
            pthread_mutex_unlock(&c->mu);
            return;
        }
    float *copy = bytes <= c->max_bytes ? malloc(bytes) : NULL;
    if (copy && c->n == c->cap) {
        const int cap = c->cap ? 2 * c->cap : 4;
        entry *grown = realloc(c->e, (size_t)cap * sizeof *grown);
        if (grown) c->e = grown, c->cap = cap;
    }
    if (copy && c->n < c->cap) {
        evict_for(c, bytes);
        memcpy(copy, rows, bytes);
        entry *e = &c->e[c->n++];
        memcpy(e->key, key, 32);
        e->rows = copy;
        e->n_floats = n_floats;
        e->last_use = ++c->clock;
        c->bytes += bytes;
        copy = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    free(copy);
}

void ag_vision_cache_stats(ag_vision_cache *c, uint64_t *hits, uint64_t *lookups) {
    uint64_t h = 0, l = 0;
    if (c) {
        pthread_mutex_lock(&c->mu);
        h = c->hits, l = c->lookups;
        pthread_mutex_unlock(&c->mu);
    }
    if (hits) *hits = h;
    if (lookups) *lookups = l;
}
