/*
 * cmd_kb.c - `autoglm kb ...`: the local knowledge base (include/autoglm/kb.h).
 *   kb create NAME [--embed MODEL] [--rerank MODEL] [--chunk-tokens N] [--overlap N] [--dense-weight auto|W]
 *   kb add NAME PATH... [--threads N] [--json] [--quiet]
 *   kb rm NAME PATH          kb ls [NAME]          kb stats NAME [--json]
 *   kb query NAME "question" [-k N] [--mode bm25|dense|hybrid] [--rerank MODEL | --no-rerank] [--json]
 *   kb ask NAME "question" --model M [-k N] [--mode M] [--rerank MODEL | --no-rerank] [--num-predict N]
 *   (query and ask also take --dense-weight auto|W: the hybrid fusion's weight of the dense ranking)
 * A reranker (given at create, stored in the base, or per query) rescores the retrieved
 * candidates with a cross-encoder and keeps the k best.
 * A base NAME lives in $AUTOGLM_KB/NAME/kb.sqlite (default ~/.autoglm/kb). MODEL is a model of
 * the store or a GGUF path. `kb add` exits 1 when some file could not be ingested (the others are).
 */
#include <cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autoglm/kb.h"
#include "cli.h"

static const char *USAGE =
    "usage: autoglm kb COMMAND ...\n"
    "  create NAME [--embed MODEL] [--rerank MODEL] [--chunk-tokens N] [--overlap N] [--dense-weight auto|W]\n"
    "  add NAME PATH... [--threads N] [--json] [--quiet]   files or folders (recursive)\n"
    "  rm NAME PATH                                          a document or a folder's documents\n"
    "  ls [NAME]                                             the bases, or a base's documents\n"
    "  stats NAME [--json]\n"
    "  query NAME QUESTION [-k N] [--mode bm25|dense|hybrid] [--rerank MODEL | --no-rerank] [--json]\n"
    "  ask NAME QUESTION --model MODEL [-k N] [--mode M] [--rerank MODEL | --no-rerank] [--num-predict N]\n"
    "query and ask also take --dense-weight auto|W (hybrid: the dense ranking's weight, BM25's is 1)\n"
    "bases live in $AUTOGLM_KB (default ~/.autoglm/kb)\n";

static int usage_err(void) {
    fputs(USAGE, stderr);
    return CLI_EXIT_USAGE;
}

/* ---- where bases live */

static char *kb_root(void) {
    char *root = ag_kb_root();
    if (!root) fprintf(stderr, "autoglm kb: neither AUTOGLM_KB nor HOME is set\n");
    return root;
}

/* The database path of NAME (malloc'd), or NULL with a message. */
static char *kb_path(const char *name, bool create_dir) {
    if (!ag_kb_valid_name(name)) {
        fprintf(stderr, "autoglm kb: '%s' is not a valid name (letters, digits, '-', '_', '.')\n", name);
        return NULL;
    }
    char *root = kb_root();
    if (!root) return NULL;
    char *dir = ag_kb_dir(root, NULL, name, create_dir);
    char *p = dir ? malloc(strlen(dir) + 16) : NULL;
    if (p) sprintf(p, "%s/kb.sqlite", dir);
    else fprintf(stderr, "autoglm kb: cannot create %s/%s: %s\n", root, name, strerror(errno));
    free(dir);
    free(root);
    return p;
}

static ag_kb *open_kb(const char *name) {
    char *path = kb_path(name, false);
    if (!path) return NULL;
    ag_error err = {0};
    ag_kb *kb = ag_kb_open(path, &err);
    if (!kb) {
        if (err.code == AG_ERR_IO && strstr(err.msg, "no such knowledge base"))
            fprintf(stderr, "autoglm kb: no knowledge base '%s' (autoglm kb create %s)\n", name, name);
        else fprintf(stderr, "autoglm kb: %s\n", err.msg);
    }
    free(path);
    return kb;
}

/* Value of "--flag V" at argv[*i]; prints an error when missing. */
static const char *flag_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "autoglm kb: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* "--dense-weight auto|W" -> *w (< 0: automatic); false after printing the error. */
static bool parse_dense_weight(const char *v, double *w) {
    char *end = NULL;
    if (v && strcmp(v, "auto") == 0) return *w = -1.0, true;
    double x = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || !(x >= 0 && x <= 1000)) {
        fprintf(stderr, "autoglm kb: --dense-weight: '%s' is not 'auto' or a number from 0 to 1000\n", v ? v : "");
        return false;
    }
    *w = x;
    return true;
}

/* ---- create */

static int kb_create(int argc, char **argv) {
    const char *name = NULL, *embed = NULL, *rerank = NULL;
    long long chunk = 0, overlap = 0;
    double dense_weight = -1.0;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--dense-weight") == 0) {
            if (!parse_dense_weight(flag_value(argc, argv, &i), &dense_weight)) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--embed") == 0) {
            if (!(embed = flag_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--rerank") == 0) {
            if (!(rerank = flag_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--chunk-tokens") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("--chunk-tokens", v, 16, 8192, &chunk)) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--overlap") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("--overlap", v, 0, 4096, &overlap)) return CLI_EXIT_USAGE;
            if (overlap == 0) overlap = -1;
        } else if (argv[i][0] == '-' || name) return usage_err();
        else name = argv[i];
    }
    if (!name) return usage_err();
    store_manifest man = {0}, rman = {0};
    char *model_abs = NULL, *rerank_abs = NULL;
    if (embed) {
        if (!cli_resolve_model(embed, &man)) return CLI_EXIT_FAIL;
        model_abs = realpath(man.path, NULL);
    }
    if (rerank) {
        if (!cli_resolve_model(rerank, &rman)) return store_manifest_free(&man), free(model_abs), CLI_EXIT_FAIL;
        rerank_abs = realpath(rman.path, NULL);
    }
    char *path = kb_path(name, true);
    int rc = CLI_EXIT_FAIL;
    if (path) {
        ag_error err = {0};
        ag_kb_params p = {.embed_model = model_abs ? model_abs : (embed ? man.path : NULL), .chunk_tokens = (int)chunk,
                          .chunk_overlap = (int)overlap, .fixed_dense_weight = dense_weight >= 0,
                          .dense_weight = dense_weight >= 0 ? dense_weight : 0,
                          .rerank_model = rerank_abs ? rerank_abs : (rerank ? rman.path : NULL)};
        if (ag_kb_create(path, &p, &err) != AG_OK) fprintf(stderr, "autoglm kb create: %s\n", err.msg);
        else {
            ag_kb *kb = ag_kb_open(path, &err);
            ag_kb_info info = {0};
            if (kb && ag_kb_stats(kb, &info, &err) == AG_OK)
                printf("created knowledge base '%s' (%s; chunks of %d tokens, overlap %d)\n", name,
                       *info.embed_model ? info.embed_model : "BM25 only, no embedding model", info.chunk_tokens,
                       info.chunk_overlap);
            if (*info.rerank_model) printf("reranker: %s\n", info.rerank_model);
            ag_kb_close(kb);
            rc = CLI_EXIT_OK;
        }
    }
    free(path);
    free(model_abs);
    free(rerank_abs);
    store_manifest_free(&man);
    store_manifest_free(&rman);
    return rc;
}

/* ---- add */

typedef struct {
    bool quiet;
} add_ctx;

static void on_file(void *ctx, const char *path, const char *what, const ag_error *e) {
    const add_ctx *c = ctx;
    if (e) fprintf(stderr, "autoglm kb add: %s\n", e->msg);
    else if (!c->quiet) fprintf(stderr, "%-9s %s\n", what, path);
}

static int kb_add(int argc, char **argv) {
    const char *name = NULL;
    long long threads = 0;
    bool json = false;
    add_ctx ctx = {0};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int n_paths = 0;
    if (!paths) return CLI_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--threads") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("--threads", v, 1, 1024, &threads)) return free(paths), CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--quiet") == 0) ctx.quiet = true;
        else if (argv[i][0] == '-' && argv[i][1] == '-') return free(paths), usage_err();
        else if (!name) name = argv[i];
        else paths[n_paths++] = argv[i];
    }
    if (!name || n_paths == 0) return free(paths), usage_err();
    ag_kb *kb = open_kb(name);
    if (!kb) return free(paths), CLI_EXIT_FAIL;
    ag_kb_set_threads(kb, (int)threads);
    ag_kb_add_stats s = {0};
    ag_error err = {0};
    double t0 = cli_now();
    ag_kb_add_callbacks cb = {.on_file = on_file, .ctx = &ctx};
    ag_status st = ag_kb_add(kb, paths, n_paths, &cb, &s, &err);
    double dt = cli_now() - t0;
    int rc = CLI_EXIT_OK;
    if (st != AG_OK) {
        fprintf(stderr, "autoglm kb add: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (s.files_failed) rc = CLI_EXIT_FAIL;
    if (json) {
        printf("{\"files_seen\":%d,\"added\":%d,\"updated\":%d,\"unchanged\":%d,\"removed\":%d,\"failed\":%d,"
               "\"chunks_added\":%d,\"chunks_embedded\":%d,\"pages\":%d,\"seconds\":%.3f}\n",
               s.files_seen, s.files_added, s.files_updated, s.files_unchanged, s.files_removed, s.files_failed,
               s.chunks_added, s.chunks_embedded, s.pages, dt);
    } else {
        printf("%d files: %d added, %d updated, %d unchanged, %d removed, %d failed; %d chunks written, %d embedded;"
               " %d pages in %.2fs (%.1f pages/s)\n",
               s.files_seen, s.files_added, s.files_updated, s.files_unchanged, s.files_removed, s.files_failed,
               s.chunks_added, s.chunks_embedded, s.pages, dt, dt > 0 ? s.pages / dt : 0.0);
    }
    ag_kb_close(kb);
    free(paths);
    return rc;
}

/* ---- rm, ls, stats */

static int kb_rm(int argc, char **argv) {
    if (argc != 3) return usage_err();
    ag_kb *kb = open_kb(argv[1]);
    if (!kb) return CLI_EXIT_FAIL;
    ag_error err = {0};
    int n = 0;
    int rc = CLI_EXIT_OK;
    if (ag_kb_remove(kb, argv[2], &n, &err) != AG_OK) {
        fprintf(stderr, "autoglm kb rm: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (n == 0) {
        fprintf(stderr, "autoglm kb rm: no document at %s in '%s'\n", argv[2], argv[1]);
        rc = CLI_EXIT_FAIL;
    } else printf("removed %d document%s\n", n, n == 1 ? "" : "s");
    ag_kb_close(kb);
    return rc;
}

static void print_doc(void *ctx, const char *path, const char *hash, int n_chunks) {
    (void)ctx;
    printf("%-6d %.12s  %s\n", n_chunks, hash, path);
}

static int kb_ls(int argc, char **argv) {
    if (argc > 2) return usage_err();
    ag_error err = {0};
    if (argc == 2) {
        ag_kb *kb = open_kb(argv[1]);
        if (!kb) return CLI_EXIT_FAIL;
        printf("%-6s %-12s  %s\n", "CHUNKS", "HASH", "PATH");
        ag_status st = ag_kb_list_docs(kb, print_doc, NULL, &err);
        if (st) fprintf(stderr, "autoglm kb ls: %s\n", err.msg);
        ag_kb_close(kb);
        return st ? CLI_EXIT_FAIL : CLI_EXIT_OK;
    }
    char *root = kb_root();
    if (!root) return CLI_EXIT_FAIL;
    DIR *d = opendir(root);
    printf("%-24s %10s %10s  %s\n", "NAME", "DOCUMENTS", "CHUNKS", "EMBEDDING MODEL");
    if (d) {
        char **names = NULL;
        int n = 0;
        for (struct dirent *e; (e = readdir(d));) {
            if (!ag_kb_valid_name(e->d_name)) continue;
            char **q = realloc(names, (size_t)(n + 1) * sizeof *q);
            if (!q) break;
            names = q;
            names[n++] = strdup(e->d_name);
        }
        closedir(d);
        for (int i = 0; i < n; i++) /* a few bases: selection sort keeps it simple */
            for (int j = i + 1; j < n; j++)
                if (names[i] && names[j] && strcmp(names[j], names[i]) < 0) {
                    char *t = names[i];
                    names[i] = names[j];
                    names[j] = t;
                }
        for (int i = 0; i < n; i++) {
            char *path = names[i] ? kb_path(names[i], false) : NULL;
            ag_kb *kb = path ? ag_kb_open(path, NULL) : NULL;
            ag_kb_info info;
            if (kb && ag_kb_stats(kb, &info, NULL) == AG_OK)
                printf("%-24s %10lld %10lld  %s\n", names[i], (long long)info.documents, (long long)info.chunks,
                       *info.embed_model ? info.embed_model : "(none: BM25 only)");
            ag_kb_close(kb);
            free(path);
            free(names[i]);
        }
        free(names);
    }
    free(root);
    return CLI_EXIT_OK;
}

static int kb_stats(int argc, char **argv) {
    bool json = argc == 3 && strcmp(argv[2], "--json") == 0;
    if (argc != 2 && !json) return usage_err();
    ag_kb *kb = open_kb(argv[1]);
    if (!kb) return CLI_EXIT_FAIL;
    ag_kb_info s;
    ag_error err = {0};
    int rc = CLI_EXIT_OK;
    if (ag_kb_stats(kb, &s, &err) != AG_OK) {
        fprintf(stderr, "autoglm kb stats: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "documents", (double)s.documents);
        cJSON_AddNumberToObject(o, "chunks", (double)s.chunks);
        cJSON_AddNumberToObject(o, "vectors", (double)s.vectors);
        cJSON_AddNumberToObject(o, "tokens", (double)s.tokens);
        cJSON_AddNumberToObject(o, "bytes_text", (double)s.bytes_text);
        cJSON_AddNumberToObject(o, "dim", s.dim);
        cJSON_AddStringToObject(o, "embed_model", s.embed_model);
        cJSON_AddStringToObject(o, "rerank_model", s.rerank_model);
        cJSON_AddNumberToObject(o, "chunk_tokens", s.chunk_tokens);
        cJSON_AddNumberToObject(o, "chunk_overlap", s.chunk_overlap);
        if (s.dense_weight >= 0) cJSON_AddNumberToObject(o, "dense_weight", s.dense_weight);
        else cJSON_AddStringToObject(o, "dense_weight", "auto");
        cJSON_AddStringToObject(o, "digest", s.digest);
        char *t = cJSON_PrintUnformatted(o);
        if (t) puts(t);
        free(t);
        cJSON_Delete(o);
    } else {
        printf("documents      %lld\nchunks         %lld\nvectors        %lld (dim %d)\ntokens         %lld\n"
               "text bytes     %lld\nembedding      %s\nchunking       %d tokens, overlap %d\n",
               (long long)s.documents, (long long)s.chunks, (long long)s.vectors, s.dim, (long long)s.tokens,
               (long long)s.bytes_text, *s.embed_model ? s.embed_model : "(none: BM25 only)", s.chunk_tokens,
               s.chunk_overlap);
        if (s.dense_weight >= 0) printf("dense weight   %g\n", s.dense_weight);
        else printf("dense weight   auto\n");
        printf("digest         %s\n", s.digest);
    }
    ag_kb_close(kb);
    return rc;
}

/* ---- query and ask */

typedef struct {
    const char *name, *question, *model, *mode, *rerank; /* rerank: "" = --no-rerank, NULL = the base's */
    long long k, num_predict, threads;
    bool json, dense_weight_set;
    double dense_weight; /* with dense_weight_set: for this query (< 0 automatic) */
} query_opts;

/* The query's reranker choice onto the handle; false after printing the error. */
static bool apply_rerank(ag_kb *kb, const query_opts *o) {
    if (!o->rerank) return true;
    store_manifest man = {0};
    if (*o->rerank && !cli_resolve_model(o->rerank, &man)) return false;
    ag_error err = {0};
    const bool ok = ag_kb_set_reranker(kb, *o->rerank ? man.path : "", &err) == AG_OK;
    if (!ok) fprintf(stderr, "autoglm kb: %s\n", err.msg);
    store_manifest_free(&man);
    return ok;
}

static int parse_query(int argc, char **argv, query_opts *o, bool ask) {
    *o = (query_opts){.k = ask ? 4 : 5, .num_predict = 256, .mode = "hybrid"};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-k") == 0 || strcmp(argv[i], "--top-k") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("-k", v, 1, 1000, &o->k)) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--mode") == 0) {
            if (!(o->mode = flag_value(argc, argv, &i))) return CLI_EXIT_USAGE;
            if (ag_kb_mode_from_name(o->mode) < 0) {
                fprintf(stderr, "autoglm kb: --mode: '%s' is not bm25, dense or hybrid\n", o->mode);
                return CLI_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--rerank") == 0) {
            if (!(o->rerank = flag_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--no-rerank") == 0) o->rerank = "";
        else if (strcmp(argv[i], "--dense-weight") == 0) {
            if (!parse_dense_weight(flag_value(argc, argv, &i), &o->dense_weight)) return CLI_EXIT_USAGE;
            o->dense_weight_set = true;
        }
        else if (strcmp(argv[i], "--json") == 0 && !ask) o->json = true;
        else if (strcmp(argv[i], "--threads") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("--threads", v, 1, 1024, &o->threads)) return CLI_EXIT_USAGE;
        } else if (ask && strcmp(argv[i], "--model") == 0) {
            if (!(o->model = flag_value(argc, argv, &i))) return CLI_EXIT_USAGE;
        } else if (ask && strcmp(argv[i], "--num-predict") == 0) {
            if (!(v = flag_value(argc, argv, &i)) || !cli_parse_int("--num-predict", v, 1, 1 << 20, &o->num_predict)) return CLI_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1] && !o->question) {
            fprintf(stderr, "autoglm kb: unknown option '%s'\n", argv[i]);
            return usage_err();
        } else if (!o->name) o->name = argv[i];
        else if (!o->question) o->question = argv[i];
        else return usage_err();
    }
    if (!o->name || !o->question || (ask && !o->model)) return usage_err();
    return CLI_EXIT_OK;
}

static void print_hits_json(const ag_kb_hit *h, int n, const char *question, const char *mode) {
    cJSON *o = cJSON_CreateObject(), *arr;
    cJSON_AddStringToObject(o, "question", question);
    cJSON_AddStringToObject(o, "mode", mode);
    arr = cJSON_AddArrayToObject(o, "results");
    for (int i = 0; i < n; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "rank", i + 1);
        cJSON_AddNumberToObject(r, "score", h[i].score);
        cJSON_AddStringToObject(r, "path", h[i].path);
        cJSON_AddStringToObject(r, "heading", h[i].heading);
        cJSON_AddNumberToObject(r, "page", h[i].page);
        cJSON_AddNumberToObject(r, "start", (double)h[i].start);
        cJSON_AddNumberToObject(r, "end", (double)h[i].end);
        cJSON_AddNumberToObject(r, "chunk_id", (double)h[i].chunk_id);
        cJSON_AddStringToObject(r, "text", h[i].text);
        cJSON_AddItemToArray(arr, r);
    }
    char *t = cJSON_PrintUnformatted(o);
    if (t) puts(t);
    free(t);
    cJSON_Delete(o);
}

static void print_source(int i, const ag_kb_hit *h) {
    printf("[%d] %s", i + 1, h->path);
    if (h->page) printf(", page %d", h->page);
    if (*h->heading) printf(", %s", h->heading);
    printf(" (bytes %zu-%zu)\n", h->start, h->end);
}

/* The base of a query or ask with the options' reranker, threads and dense weight; NULL (said) on failure. */
static ag_kb *open_for_query(const query_opts *o) {
    ag_kb *kb = open_kb(o->name);
    if (!kb) return NULL;
    if (!apply_rerank(kb, o)) {
        ag_kb_close(kb);
        return NULL;
    }
    ag_kb_set_threads(kb, (int)o->threads);
    if (o->dense_weight_set) ag_kb_set_dense_weight(kb, o->dense_weight);
    return kb;
}

static int kb_query(int argc, char **argv) {
    query_opts o;
    int rc = parse_query(argc, argv, &o, false);
    if (rc) return rc;
    ag_kb *kb = open_for_query(&o);
    if (!kb) return CLI_EXIT_FAIL;
    ag_kb_hit *hits = NULL;
    ag_error err = {0};
    int n = ag_kb_query(kb, o.question, (int)o.k, (ag_kb_mode)ag_kb_mode_from_name(o.mode), &hits, &err);
    if (n < 0) {
        fprintf(stderr, "autoglm kb query: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (o.json) print_hits_json(hits, n, o.question, o.mode);
    else {
        if (n == 0) fprintf(stderr, "autoglm kb query: nothing found\n");
        for (int i = 0; i < n; i++) {
            printf("%.4f  ", hits[i].score);
            print_source(i, &hits[i]);
            printf("      %.300s%s\n\n", hits[i].text, strlen(hits[i].text) > 300 ? "..." : "");
        }
    }
    ag_kb_hits_free(hits, n);
    ag_kb_close(kb);
    return rc;
}

static void stream_out(void *ctx, const char *text, size_t len) {
    (void)ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
}

static int kb_ask(int argc, char **argv) {
    query_opts o;
    int rc = parse_query(argc, argv, &o, true);
    if (rc) return rc;
    ag_kb *kb = open_for_query(&o);
    if (!kb) return CLI_EXIT_FAIL;
    ag_kb_hit *hits = NULL;
    ag_error err = {0};
    int n = ag_kb_query(kb, o.question, (int)o.k, (ag_kb_mode)ag_kb_mode_from_name(o.mode), &hits, &err);
    store_manifest man = {0};
    ag_model *m = NULL;
    if (n < 0) {
        fprintf(stderr, "autoglm kb ask: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else if (n == 0) {
        fprintf(stderr, "autoglm kb ask: nothing in '%s' matches the question\n", o.name);
        rc = CLI_EXIT_FAIL;
    } else if (!cli_resolve_model(o.model, &man) || !(m = cli_load_model(man.path, (int)o.threads))) {
        rc = CLI_EXIT_FAIL;
    } else {
        ag_generate_params gp = {.max_tokens = (int)o.num_predict, .n_threads = (int)o.threads, .on_text = stream_out};
        char *answer = NULL;
        int used = n;
        for (; used > 0; used--) { /* fewer sources when the prompt does not fit the context */
            char *prompt = ag_kb_ask_prompt(o.question, hits, used);
            err = (ag_error){0};
            answer = prompt ? ag_generate_greedy(m, prompt, &gp, &err) : NULL;
            free(prompt);
            if (answer || err.code != AG_ERR_CONTEXT_FULL) break;
        }
        if (!answer) {
            fprintf(stderr, "autoglm kb ask: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
        } else {
            printf("\n\nSources:\n");
            for (int i = 0; i < used; i++) print_source(i, &hits[i]);
        }
        free(answer);
    }
    ag_model_free(m);
    store_manifest_free(&man);
    ag_kb_hits_free(hits, n);
    ag_kb_close(kb);
    return rc;
}

int cmd_kb(int argc, char **argv) {
    if (argc < 2) return usage_err();
    const char *sub = argv[1];
    argc--, argv++;
    if (strcmp(sub, "create") == 0) return kb_create(argc, argv);
    if (strcmp(sub, "add") == 0) return kb_add(argc, argv);
    if (strcmp(sub, "rm") == 0) return kb_rm(argc, argv);
    if (strcmp(sub, "ls") == 0) return kb_ls(argc, argv);
    if (strcmp(sub, "stats") == 0) return kb_stats(argc, argv);
    if (strcmp(sub, "query") == 0) return kb_query(argc, argv);
    if (strcmp(sub, "ask") == 0) return kb_ask(argc, argv);
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        fputs(USAGE, stdout);
        return CLI_EXIT_OK;
    }
    fprintf(stderr, "autoglm kb: unknown command '%s'\n", sub);
    return usage_err();
}
