/*
 * cmd_rerank.c - `autoglm rerank MODEL QUERY DOC... [--top-n N] [--json] [--threads N]`: scores
 * each document against the query with a cross-encoder (ag_rerank, autoglm/rerank.h) and prints
 * them best first: "rank index score document" per line, or with --json the /v1/rerank answer
 * {"model": ..., "results": [{"index", "relevance_score", "document"}]}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/rerank.h"
#include "cli.h"

#define USAGE "usage: autoglm rerank MODEL QUERY DOC... [--top-n N] [--json] [--threads N]\n"

static void print_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_results(const ag_model *m, const char *const *docs, const float *scores, const int *order, int top,
                          bool json) {
    if (json) {
        printf("{\"model\":");
        print_json_str(ag_model_name(m));
        printf(",\"results\":[");
    }
    for (int r = 0; r < top; r++) {
        const int i = order[r];
        if (json) {
            printf("%s{\"index\":%d,\"relevance_score\":%.8g,\"document\":", r ? "," : "", i, scores[i]);
            print_json_str(docs[i]);
            printf("}");
        } else printf("%d\t%d\t%.6f\t%s\n", r + 1, i, scores[i], docs[i]);
    }
    if (json) printf("]}\n");
}

int cmd_rerank(int argc, char **argv) {
    const char *model_path = NULL, *query = NULL;
    bool json = false;
    long long threads = 0, top_n = 0;
    const char **docs = calloc((size_t)argc + 1, sizeof *docs);
    int n = 0;
    for (int i = 1; docs && i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--threads") == 0 || strcmp(argv[i], "--top-n") == 0) {
            const bool t = argv[i][2] == 't' && argv[i][3] == 'h';
            if (!cli_parse_int(argv[i], i + 1 < argc ? argv[i + 1] : NULL, 1, t ? 1024 : 1000000, t ? &threads : &top_n))
                return free(docs), CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf(USAGE);
            return free(docs), CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "autoglm rerank: unknown option '%s'\n" USAGE, argv[i]);
            return free(docs), CLI_EXIT_USAGE;
        } else if (!model_path) model_path = argv[i];
        else if (!query) query = argv[i];
        else docs[n++] = argv[i];
    }
    if (!docs || !model_path || !query || n == 0) {
        fprintf(stderr, USAGE);
        return free(docs), CLI_EXIT_USAGE;
    }
    int rc = CLI_EXIT_FAIL;
    store_manifest man;
    ag_model *m = NULL;
    if (cli_resolve_model(model_path, &man)) { /* a model of the store, or a path */
        m = cli_load_model(man.path, (int)threads);
        store_manifest_free(&man);
    }
    float *scores = calloc((size_t)n, sizeof *scores);
    int *order = calloc((size_t)n, sizeof *order), cut = 0;
    ag_error err = {0};
    if (m && !ag_model_is_reranker(m))
        fprintf(stderr, "autoglm rerank: %s ('%s') is not a reranker (a cross-encoder with a rank head)\n", model_path,
                ag_model_arch(m));
    else if (m && scores && order) {
        if (ag_rerank(m, query, docs, n, scores, &cut, &err) != AG_OK) fprintf(stderr, "autoglm rerank: %s\n", err.msg);
        else {
            if (cut) fprintf(stderr, "autoglm rerank: %d document(s) cut to the model's %d tokens per pair\n", cut,
                             ag_model_n_ctx_train(m));
            ag_rerank_order(scores, n, order);
            print_results(m, docs, scores, order, top_n > 0 && top_n < n ? (int)top_n : n, json);
            rc = CLI_EXIT_OK;
        }
    }
    free(scores), free(order), free(docs);
    ag_model_free(m);
    return rc;
}
