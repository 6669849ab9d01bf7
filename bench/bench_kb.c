/*
 * bench_kb.c - knowledge base speed (docs/PERFORMANCE.md, "Knowledge base"): writes a synthetic
 * collection (deterministic pseudo-words, English-like and Chinese paragraphs under headings) of
 * about the requested number of chunks, ingests it into a new base with an embedding model, and
 * times queries in each mode (distinct questions, so no cache helps): exact dense search and the
 * HNSW graph, p50/p99.
 *   build/bench_kb [--model GGUF|none] [--docs N] [--queries N] [--dir DIR] [--threads N]
 * (--model none: a BM25-only base, chunks sized by the built-in estimate)
 * A "page" in pages/s is 3,000 characters of text (about one printed page).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "autoglm/kb.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 88172645463325252ull;
static uint32_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* A pseudo-word from a vocabulary of 4000 (Zipf-like: low ids more frequent). */
static void word(char *out, int id) {
    static const char *syl[] = {"ka", "ro", "mi", "te", "lu", "san", "vo", "pel", "dra", "qui", "ne", "sto", "ba", "fi", "gor", "wen"};
    out[0] = '\0';
    int n = 2 + id % 3;
    for (int i = 0; i < n; i++, id /= 16) strcat(out, syl[(id + i * 7) % 16]);
}

static int zipf(void) {
    double u = (next() + 1.0) / 4294967297.0;
    return (int)(pow(4000.0, u)) - 1;
}

static void sentence(FILE *f) {
    int n = 6 + next() % 10;
    for (int i = 0; i < n; i++) {
        char w[32];
        word(w, zipf());
        fprintf(f, "%s%s", i ? " " : "", w);
    }
    fputs(". ", f);
}

static void cjk_sentence(FILE *f) {
    int n = 10 + next() % 20;
    for (int i = 0; i < n; i++) {
        unsigned cp = 0x4E00 + (unsigned)(zipf() % 3000);
        fprintf(f, "%c%c%c", (char)(0xE0 | cp >> 12), (char)(0x80 | ((cp >> 6) & 63)), (char)(0x80 | (cp & 63)));
    }
    fputs("\xe3\x80\x82", f);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *model = "../shared/models/stories260K.gguf", *dir = "/tmp/autoglm-bench-kb";
    int n_docs = 400, n_queries = 200, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--docs") == 0) n_docs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--queries") == 0) n_queries = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    }
    char path[4096], db[4096];
    snprintf(path, sizeof path, "rm -rf '%s' && mkdir -p '%s/docs'", dir, dir);
    if (system(path) != 0) return 1;
    long long chars = 0;
    for (int d = 0; d < n_docs; d++) { /* write the collection */
        snprintf(path, sizeof path, "%s/docs/doc%04d.md", dir, d);
        FILE *f = fopen(path, "w");
        if (!f) return 1;
        for (int s = 0; s < 5; s++) {
            fprintf(f, "## Section %d of document %d\n\n", s, d);
            for (int p = 0; p < 4; p++) {
                for (int k = 0; k < 5; k++) (d % 4 == 3) ? cjk_sentence(f) : sentence(f);
                fputs("\n\n", f);
            }
        }
        chars += ftell(f);
        fclose(f);
    }
    snprintf(db, sizeof db, "%s/kb.sqlite", dir);
    ag_error err = {0};
    if (ag_kb_create(db, &(ag_kb_params){.embed_model = strcmp(model, "none") ? model : NULL, .chunk_tokens = 128}, &err) != AG_OK) {
        fprintf(stderr, "bench_kb: %s\n", err.msg);
        return 1;
    }
    ag_kb *kb = ag_kb_open(db, &err);
    if (!kb) return fprintf(stderr, "bench_kb: %s\n", err.msg), 1;
    ag_kb_set_threads(kb, threads);
    snprintf(path, sizeof path, "%s/docs", dir);
    const char *paths[] = {path};
    ag_kb_add_stats st;
    double t0 = now();
    if (ag_kb_add(kb, paths, 1, NULL, &st, &err) != AG_OK) return fprintf(stderr, "bench_kb: %s\n", err.msg), 1;
    double t_ingest = now() - t0;
    ag_kb_info info;
    ag_kb_stats(kb, &info, &err);
    double pages = chars / 3000.0;
    printf("collection: %d documents, %.1f MB, %.0f pages of 3000 chars, %lld chunks (%lld tokens), vectors of %d\n",
           n_docs, chars / 1e6, pages, (long long)info.chunks, (long long)info.tokens, info.dim);
    printf("ingest: %.2f s: %.1f pages/s, %.0f chunks/s (parse + chunk + embed + store)\n", t_ingest, pages / t_ingest,
           info.chunks / t_ingest);
    /* the second add: nothing changed */
    t0 = now();
    ag_kb_add(kb, paths, 1, NULL, &st, &err);
    printf("re-add unchanged: %.3f s, %d chunks embedded\n", now() - t0, st.chunks_embedded);
    double *lat = malloc((size_t)n_queries * sizeof *lat);
    static const char *const names[] = {"bm25", "dense exact", "dense hnsw", "hybrid hnsw"};
    for (int m = 0; m < (strcmp(model, "none") ? 4 : 1); m++) {
        ag_kb_set_ann_threshold(kb, m == 1 ? 0 : 2000);
        if (m == 2) { /* graph build (or load) happens on the first dense query: time it apart */
            ag_kb_hit *h = NULL;
            t0 = now();
            int n = ag_kb_query(kb, "warm up the graph", 5, AG_KB_DENSE, &h, &err);
            printf("hnsw graph ready in %.2f s (built, stored in the file)\n", now() - t0);
            ag_kb_hits_free(h, n);
        }
        for (int q = 0; q < n_queries; q++) {
            char question[256] = "";
            for (int k = 0; k < 4; k++) {
                char w[32];
                word(w, zipf());
                strcat(question, w);
                strcat(question, " ");
            }
            snprintf(question + strlen(question), 32, "q%d-%d", m, q);
            ag_kb_hit *h = NULL;
            ag_kb_mode mode = m == 0 ? AG_KB_BM25 : m == 3 ? AG_KB_HYBRID : AG_KB_DENSE;
            t0 = now();
            int n = ag_kb_query(kb, question, 5, mode, &h, &err);
            lat[q] = (now() - t0) * 1000;
            if (n < 0) return fprintf(stderr, "bench_kb: %s\n", err.msg), 1;
            ag_kb_hits_free(h, n);
        }
        qsort(lat, (size_t)n_queries, sizeof *lat, cmp_d);
        printf("query %-12s p50 %7.2f ms  p99 %7.2f ms  (%d queries, k=5, question embedding included)\n", names[m],
               lat[n_queries / 2], lat[(int)(n_queries * 0.99)], n_queries);
    }
    free(lat);
    ag_kb_close(kb);
    return 0;
}
