/*
 * hnsw.c - a Hierarchical Navigable Small World graph (Malkov & Yashunin) over unit vectors,
 * similarity = dot product. Each node has a level drawn from an exponential distribution (a
 * fixed-seed generator, so a build is reproducible); upper levels are sparse express lanes.
 * Insertion: greedy descent to the node's level, then per level a beam search (ef_construction)
 * and the neighbor-selection heuristic (keep a candidate only if it is closer to the new node
 * than to every neighbor already kept), links made both ways, overfull lists pruned the same
 * way. Search: greedy descent, then a beam of ef at level 0.
 *
 * Storage per node: for level l, a block [count, id_0 .. id_{cap_l - 1}], cap_0 = 2M, cap = M
 * above. The vectors are borrowed, never copied.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kb/kb_impl.h"

struct kb_hnsw {
    const float *vecs; /* (n, dim) borrowed */
    int n, dim, m, m0, entry, max_level;
    int *level;   /* (n) */
    int **links;  /* (n) blocks as above */
    uint32_t *visited; /* (n) visit marks, compared with mark */
    uint32_t mark;
};

typedef struct {
    float sim;
    int id;
} cand;

/* ---- binary heaps of cand: max-heap (best first) when max, else min-heap (worst first) */
typedef struct {
    cand *a;
    int n, cap;
    bool max;
} heap;

static bool before(const heap *h, cand x, cand y) { return h->max ? x.sim > y.sim : x.sim < y.sim; }

static bool heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 64;
        cand *p = realloc(h->a, (size_t)cap * sizeof *p);
        if (!p) return false;
        h->a = p;
        h->cap = cap;
    }
    int i = h->n++;
    while (i > 0 && before(h, c, h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = c;
    return true;
}

static cand heap_pop(heap *h) {
    cand top = h->a[0], last = h->a[--h->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(h, h->a[c + 1], h->a[c])) c++;
        if (!before(h, h->a[c], last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n > 0) h->a[i] = last;
    return top;
}

static float dot(const float *a, const float *b, int n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) s0 += a[i] * b[i], s1 += a[i + 1] * b[i + 1], s2 += a[i + 2] * b[i + 2], s3 += a[i + 3] * b[i + 3];
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static const float *vec(const kb_hnsw *h, int i) { return h->vecs + (size_t)i * h->dim; }

/* The block of node i at level l: [count, ids...]. */
static int *block(const kb_hnsw *h, int i, int l) {
    return l == 0 ? h->links[i] : h->links[i] + (h->m0 + 1) + (size_t)(l - 1) * (h->m + 1);
}
static int cap_at(const kb_hnsw *h, int l) { return l == 0 ? h->m0 : h->m; }

static size_t node_ints(const kb_hnsw *h, int level) { return (size_t)(h->m0 + 1) + (size_t)level * (h->m + 1); }

/* Beam search at level l from entry points; results (best first, at most ef) into out. */
static int search_layer(kb_hnsw *h, const float *q, const cand *entry, int n_entry, int ef, int l, heap *cands,
                        heap *res, cand *out) {
    if (++h->mark == 0) { /* wrapped: clear the marks */
        memset(h->visited, 0, (size_t)h->n * sizeof *h->visited);
        h->mark = 1;
    }
    cands->n = res->n = 0;
    for (int i = 0; i < n_entry; i++) {
        h->visited[entry[i].id] = h->mark;
        heap_push(cands, entry[i]);
        heap_push(res, entry[i]);
    }
    while (cands->n > 0) {
        cand c = heap_pop(cands);
        if (res->n >= ef && c.sim < res->a[0].sim) break;
        const int *b = block(h, c.id, l);
        for (int j = 1; j <= b[0]; j++) {
            int nb = b[j];
            if (h->visited[nb] == h->mark) continue;
            h->visited[nb] = h->mark;
            float s = dot(q, vec(h, nb), h->dim);
            if (res->n < ef || s > res->a[0].sim) {
                heap_push(cands, (cand){s, nb});
                heap_push(res, (cand){s, nb});
                if (res->n > ef) heap_pop(res);
            }
        }
    }
    int n = res->n;
    for (int i = n - 1; i >= 0; i--) out[i] = heap_pop(res); /* worst popped first */
    return n;
}

/* The heuristic: from candidates sorted best first, keep up to m diverse ones. */
static int select_neighbors(const kb_hnsw *h, const cand *c, int n, int m, int *out) {
    int kept = 0;
    for (int i = 0; i < n && kept < m; i++) {
        bool good = true;
        for (int j = 0; j < kept && good; j++)
            if (dot(vec(h, c[i].id), vec(h, out[j]), h->dim) > c[i].sim) good = false;
        if (good) out[kept++] = c[i].id;
    }
    for (int i = 0; i < n && kept < m; i++) { /* fill up with the nearest ones left */
        bool have = false;
        for (int j = 0; j < kept && !have; j++) have = out[j] == c[i].id;
        if (!have) out[kept++] = c[i].id;
    }
    return kept;
}

static int cmp_cand_desc(const void *a, const void *b) {
    float x = ((const cand *)a)->sim, y = ((const cand *)b)->sim;
    return x < y ? 1 : x > y ? -1 : ((const cand *)a)->id - ((const cand *)b)->id;
}

/* Adds `to` to node's list at level l; prunes the list with the heuristic when full. */
static void link_to(kb_hnsw *h, int node, int to, int l, cand *tmp) {
    int *b = block(h, node, l);
    int cap = cap_at(h, l);
    if (b[0] < cap) {
        b[++b[0]] = to;
        return;
    }
    int n = 0;
    for (int j = 1; j <= b[0]; j++) tmp[n++] = (cand){dot(vec(h, node), vec(h, b[j]), h->dim), b[j]};
    tmp[n++] = (cand){dot(vec(h, node), vec(h, to), h->dim), to};
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_cand_desc);
    int sel[256];
    b[0] = select_neighbors(h, tmp, n, cap, sel);
    memcpy(b + 1, sel, (size_t)b[0] * sizeof(int));
}

static kb_hnsw *alloc_index(const float *vecs, int n, int dim, int m) {
    kb_hnsw *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    *h = (kb_hnsw){.vecs = vecs, .n = n, .dim = dim, .m = m, .m0 = 2 * m, .entry = -1, .max_level = -1};
    h->level = calloc((size_t)n + 1, sizeof *h->level);
    h->links = calloc((size_t)n + 1, sizeof *h->links);
    h->visited = calloc((size_t)n + 1, sizeof *h->visited);
    if (!h->level || !h->links || !h->visited) {
        kb_hnsw_free(h);
        return NULL;
    }
    return h;
}

kb_hnsw *kb_hnsw_build(const float *vecs, int n, int dim, int m, int ef_construction) {
    if (m < 2) m = 2;
    if (m > 64) m = 64;
    kb_hnsw *h = alloc_index(vecs, n, dim, m);
    if (!h) return NULL;
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    const double ml = 1.0 / log((double)m);
    int ef = ef_construction > m ? ef_construction : m;
    heap cands = {.max = true}, res = {.max = false};
    cand *found = malloc((size_t)(ef + 1) * sizeof *found), *tmp = malloc((size_t)(2 * m + 2) * sizeof *tmp);
    int *sel = malloc((size_t)(2 * m + 1) * sizeof *sel);
    bool ok = found && tmp && sel;
    for (int i = 0; i < n && ok; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        double u = ((double)(rng >> 11) + 1.0) / 9007199254740993.0;
        int lv = (int)(-log(u) * ml);
        if (lv > 16) lv = 16;
        h->level[i] = lv;
        if (!(h->links[i] = calloc(node_ints(h, lv), sizeof(int)))) {
            ok = false;
            break;
        }
        if (h->entry < 0) {
            h->entry = i;
            h->max_level = lv;
            continue;
        }
        const float *q = vec(h, i);
        cand ep = {dot(q, vec(h, h->entry), dim), h->entry};
        for (int l = h->max_level; l > lv; l--) { /* greedy descent */
            bool moved = true;
            while (moved) {
                moved = false;
                const int *b = block(h, ep.id, l);
                for (int j = 1; j <= b[0]; j++) {
                    float s = dot(q, vec(h, b[j]), dim);
                    if (s > ep.sim) ep = (cand){s, b[j]}, moved = true;
                }
            }
        }
        int n_ep = 1;
        cand *eps = malloc((size_t)(ef + 1) * sizeof *eps);
        if (!eps) {
            ok = false;
            break;
        }
        eps[0] = ep;
        for (int l = lv < h->max_level ? lv : h->max_level; l >= 0; l--) {
            int nf = search_layer(h, q, eps, n_ep, ef, l, &cands, &res, found);
            int ns = select_neighbors(h, found, nf, m, sel);
            int *b = block(h, i, l);
            b[0] = ns;
            memcpy(b + 1, sel, (size_t)ns * sizeof(int));
            for (int j = 0; j < ns; j++) link_to(h, sel[j], i, l, tmp);
            memcpy(eps, found, (size_t)nf * sizeof *eps);
            n_ep = nf;
        }
        free(eps);
        if (lv > h->max_level) h->max_level = lv, h->entry = i;
    }
    free(cands.a);
    free(res.a);
    free(found);
    free(tmp);
    free(sel);
    if (!ok) {
        kb_hnsw_free(h);
        return NULL;
    }
    return h;
}

int kb_hnsw_search(const kb_hnsw *hc, const float *q, int k, int ef, int *idx, float *sim) {
    kb_hnsw *h = (kb_hnsw *)hc; /* the visit marks change; the graph does not */
    if (h->entry < 0 || k <= 0) return 0;
    if (ef < k) ef = k;
    cand ep = {dot(q, vec(h, h->entry), h->dim), h->entry};
    for (int l = h->max_level; l > 0; l--) {
        bool moved = true;
        while (moved) {
            moved = false;
            const int *b = block(h, ep.id, l);
            for (int j = 1; j <= b[0]; j++) {
                float s = dot(q, vec(h, b[j]), h->dim);
                if (s > ep.sim) ep = (cand){s, b[j]}, moved = true;
            }
        }
    }
    heap cands = {.max = true}, res = {.max = false};
    cand *found = malloc((size_t)(ef + 1) * sizeof *found);
    int n = 0;
    if (found) {
        n = search_layer(h, q, &ep, 1, ef, 0, &cands, &res, found);
        if (n > k) n = k;
        for (int i = 0; i < n; i++) idx[i] = found[i].id, sim[i] = found[i].sim;
    }
    free(found);
    free(cands.a);
    free(res.a);
    return n;
}

void kb_hnsw_free(kb_hnsw *h) {
    if (!h) return;
    for (int i = 0; h->links && i < h->n; i++) free(h->links[i]);
    free(h->links);
    free(h->level);
    free(h->visited);
    free(h);
}

/* ---- persistence: int32 header {magic, n, dim, m, entry, max_level}, levels, then the blocks */
#define HNSW_MAGIC 0x484E5357

void *kb_hnsw_save(const kb_hnsw *h, size_t *len) {
    size_t ints = 6 + (size_t)h->n;
    for (int i = 0; i < h->n; i++) ints += node_ints(h, h->level[i]);
    int32_t *out = malloc(ints * sizeof *out), *p = out;
    if (!out) return NULL;
    *p++ = HNSW_MAGIC, *p++ = h->n, *p++ = h->dim, *p++ = h->m, *p++ = h->entry, *p++ = h->max_level;
    for (int i = 0; i < h->n; i++) *p++ = h->level[i];
    for (int i = 0; i < h->n; i++) {
        size_t k = node_ints(h, h->level[i]);
        memcpy(p, h->links[i], k * sizeof *p);
        p += k;
    }
    *len = ints * sizeof *out;
    return out;
}

kb_hnsw *kb_hnsw_load(const float *vecs, int n, int dim, const void *data, size_t len) {
    if (len < 6 * sizeof(int32_t) || len % sizeof(int32_t)) return NULL;
    const int32_t *p = data, *end = p + len / sizeof(int32_t);
    if (p[0] != HNSW_MAGIC || p[1] != n || p[2] != dim || p[3] < 2 || p[3] > 64) return NULL;
    kb_hnsw *h = alloc_index(vecs, n, dim, p[3]);
    if (!h) return NULL;
    h->entry = p[4];
    h->max_level = p[5];
    p += 6;
    bool ok = n == 0 ? h->entry == -1 : h->entry >= 0 && h->entry < n;
    if (end - p < n) ok = false;
    for (int i = 0; ok && i < n; i++) {
        h->level[i] = *p++;
        if (h->level[i] < 0 || h->level[i] > 16 || h->level[i] > h->max_level) ok = false;
    }
    for (int i = 0; ok && i < n; i++) {
        size_t k = node_ints(h, h->level[i]);
        if ((size_t)(end - p) < k || !(h->links[i] = malloc(k * sizeof(int)))) {
            ok = false;
            break;
        }
        memcpy(h->links[i], p, k * sizeof(int));
        p += k;
        for (int l = 0; ok && l <= h->level[i]; l++) { /* every count and id in range */
            const int *b = block(h, i, l);
            if (b[0] < 0 || b[0] > cap_at(h, l)) ok = false;
            for (int j = 1; ok && j <= b[0]; j++)
                if (b[j] < 0 || b[j] >= n || h->level[b[j]] < l) ok = false;
        }
    }
    if (!ok || p != end) {
        kb_hnsw_free(h);
        return NULL;
    }
    return h;
}
