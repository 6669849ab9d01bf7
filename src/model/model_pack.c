/*
 * model_pack.c - at load, the matrices the CPU runs are copied into the packed layout of
 * tensor/repack.h when their type has kernels for it (Q4_0, Q8_0 with AVX-512 VNNI): a batched
 * decode step then unpacks each group of 4 blocks with two loads instead of a gather (the rows
 * keep their size and values; every product gives the same bits). The model owns the copy
 * (m->packed); the file's pages of those tensors are released from the process as soon as their
 * group of about 64 MiB is copied (they stay in the page cache), so loading holds the copy plus
 * one group of the file, not the file twice. Layers on a GPU, embeddings, experts and 1-D
 * tensors are left as they are.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/threadpool.h"
#include "model/model_pack.h"
#include "tensor/repack.h"

static bool packable(const ag_weight *w) {
    return w->data && !w->packed && w->ne[1] > 0 && ag_repack_supported(w->type, w->ne[0]);
}

/* The matrices the CPU's forward pass multiplies with: layers il0.. and the head. */
static int cpu_matrices(ag_model *m, ag_weight **out, int cap) {
    const int il0 = m->cuda ? m->gpu_layers : 0;
    int n = 0;
    for (int il = il0; il < m->hp.n_layer; il++) {
        ag_layer *l = &m->layers[il];
        ag_weight *ws[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->wqkv, &l->ffn_gate, &l->ffn_up, &l->ffn_down};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++)
            if (packable(ws[i]) && n < cap) out[n++] = ws[i];
    }
    if ((!m->cuda || m->gpu_layers < m->hp.n_layer) && packable(&m->output) && n < cap) out[n++] = &m->output;
    return n;
}

#define PACK_ROWS 64
#define PACK_GROUP_BYTES ((size_t)64 << 20)

typedef struct {
    ag_weight **ws;
    int n;
    uint8_t *dst;
    size_t *off;         /* (n) where weight i goes in dst */
    int64_t *first_task; /* (n + 1) */
} pack_job;

static void pack_task(void *ctx, int64_t task, int thread) {
    (void)thread;
    const pack_job *j = ctx;
    int i = 0;
    while (task >= j->first_task[i + 1]) i++;
    const ag_weight *w = j->ws[i];
    const int64_t r0 = (task - j->first_task[i]) * PACK_ROWS;
    const int64_t rows = w->ne[1] - r0 < PACK_ROWS ? w->ne[1] - r0 : PACK_ROWS;
    const size_t at = (size_t)r0 * w->row_bytes;
    ag_repack_rows(w->type, w->ne[0], (const uint8_t *)w->data + at, j->dst + j->off[i] + at, rows);
}

ag_status ag_model_pack_weights(ag_model *m, ag_error *err) {
    if (m->vocab_only || !m->layers) return AG_OK;
    const int cap = 8 * m->hp.n_layer + 1;
    (void)err; /* packing only speeds the products up: without the memory, the file's layout stays */
    ag_weight **ws = malloc((size_t)cap * sizeof *ws);
    if (!ws) return AG_OK;
    const int n = cpu_matrices(m, ws, cap);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (ws[i]->row_bytes * (size_t)ws[i]->ne[1] + 63) & ~(size_t)63;
    if (n == 0) {
        free(ws);
        return AG_OK;
    }
    /* anonymous memory in 2 MiB pages where the kernel allows (far fewer page faults to fill it) */
    total = (total + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    uint8_t *buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED) buf = NULL;
    else madvise(buf, total, MADV_HUGEPAGE);
    if (!buf) {
        free(ws);
        return AG_OK;
    }
    /* the copy in pieces of PACK_ROWS rows on the model's threads (filling fresh memory costs page
     * faults more than the byte moves do: they go faster side by side) */
    pack_job job = {.ws = ws, .n = n, .dst = buf, .off = malloc((size_t)n * sizeof(size_t)),
                    .first_task = malloc((size_t)(n + 1) * sizeof(int64_t))};
    if (!job.off || !job.first_task) {
        free(job.off), free(job.first_task), free(ws);
        munmap(buf, total);
        return AG_OK;
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        job.off[i] = off;
        off += (ws[i]->row_bytes * (size_t)ws[i]->ne[1] + 63) & ~(size_t)63;
    }
    /* in groups of about PACK_GROUP_BYTES, each weight's file pages released as soon as its group
     * is copied: the process holds the packed copy plus one group of the file, not the file twice */
    const char *ge = getenv("AUTOGLM_PACK_GROUP"); /* bytes per group (tests: groups of one weight) */
    const size_t group_bytes = ge && *ge ? (size_t)strtoull(ge, NULL, 10) : PACK_GROUP_BYTES;
    ag_threadpool *pool = m->n_threads > 1 ? ag_threadpool_new(m->n_threads) : NULL;
    for (int g0 = 0; g0 < n;) {
        int g1 = g0;
        size_t bytes = 0;
        while (g1 < n && (g1 == g0 || bytes < group_bytes)) {
            bytes += ws[g1]->row_bytes * (size_t)ws[g1]->ne[1];
            g1++;
        }
        pack_job group = {.ws = ws + g0, .n = g1 - g0, .dst = buf, .off = job.off + g0, .first_task = job.first_task};
        int64_t tasks = 0;
        for (int i = 0; i < group.n; i++) {
            group.first_task[i] = tasks;
            tasks += (group.ws[i]->ne[1] + PACK_ROWS - 1) / PACK_ROWS;
        }
        group.first_task[group.n] = tasks;
        ag_threadpool_run(pool, pack_task, &group, tasks); /* NULL pool: on this thread */
        for (int i = g0; i < g1; i++) {
            ag_weight *w = ws[i];
            ag_gguf_release_pages(m->gguf, w->data, w->row_bytes * (size_t)w->ne[1]);
            w->data = buf + job.off[i];
            w->packed = true;
        }
        g0 = g1;
    }
    ag_threadpool_free(pool);
    free(job.off), free(job.first_task);
    m->packed = buf;
    m->packed_bytes = total;
    free(ws);
    return AG_OK;
}

void ag_model_unpack_weights(ag_model *m) {
    if (m->packed) munmap(m->packed, m->packed_bytes);
    m->packed = NULL;
    m->packed_bytes = 0;
}
