/*
 * cmd_store.c - the model store commands: `list`, `rm NAME...`, `cp SRC DST` and
 * `create NAME [-f Modelfile]`. The store itself is src/store/ (shared with the server).
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "store/store.h"

char *cli_store_root(void) {
    char *root = store_default_root();
    if (!root) fprintf(stderr, "autoglm: neither AUTOGLM_MODELS nor HOME is set: no model store\n");
    return root;
}

bool cli_resolve_model(const char *arg, store_manifest *m) {
    char *root = store_default_root(); /* no store is fine for a path */
    st_error err = {0};
    st_status st = store_resolve(root, arg, m, &err);
    free(root);
    if (st) fprintf(stderr, "autoglm: %s\n", err.msg);
    return st == ST_OK;
}

static void human_bytes(char *buf, size_t cap, uint64_t n) {
    const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_age(char *buf, size_t cap, int64_t when) {
    long long d = (long long)(time(NULL) - when);
    if (d < 60) snprintf(buf, cap, "%s", d < 2 ? "Just now" : "Less than a minute ago");
    else if (d < 3600) snprintf(buf, cap, "%lld minute%s ago", d / 60, d / 60 == 1 ? "" : "s");
    else if (d < 86400) snprintf(buf, cap, "%lld hour%s ago", d / 3600, d / 3600 == 1 ? "" : "s");
    else snprintf(buf, cap, "%lld day%s ago", d / 86400, d / 86400 == 1 ? "" : "s");
}

int cmd_list(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, strcmp(argv[1], "--help") == 0 ? "usage: autoglm list\n" : "autoglm list: takes no arguments\n");
        return strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    char *root = cli_store_root();
    if (!root) return CLI_EXIT_FAIL;
    store_manifest *ms;
    int n;
    st_error err = {0};
    if (store_list(root, &ms, &n, &err)) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        free(root);
        return CLI_EXIT_FAIL;
    }
    int w = 4;
    for (int i = 0; i < n; i++) w = (int)strlen(ms[i].name) > w ? (int)strlen(ms[i].name) : w;
    printf("%-*s    %-12s    %-10s    %s\n", w, "NAME", "ID", "SIZE", "MODIFIED");
    for (int i = 0; i < n; i++) {
        char size[32], age[64];
        human_bytes(size, sizeof size, ms[i].size);
        human_age(age, sizeof age, ms[i].modified);
        printf("%-*s    %-12.12s    %-10s    %s\n", w, ms[i].name, ms[i].sha256, size, age);
        store_manifest_free(&ms[i]);
    }
    free(ms);
    free(root);
    return CLI_EXIT_OK;
}

int cmd_rm(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        fputs("usage: autoglm rm NAME [NAME...]\n", argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    char *root = cli_store_root();
    if (!root) return CLI_EXIT_FAIL;
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        st_error err = {0};
        char norm[STORE_NAME_MAX];
        if (store_remove(root, argv[i], &err)) {
            fprintf(stderr, "autoglm: %s\n", err.msg);
            rc = CLI_EXIT_FAIL;
        } else if (store_parse_name(argv[i], norm, NULL) == ST_OK) {
            printf("deleted '%s'\n", norm);
        }
    }
    free(root);
    return rc;
}

int cmd_cp(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: autoglm cp SOURCE DESTINATION\n", argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    char *root = cli_store_root();
    if (!root) return CLI_EXIT_FAIL;
    st_error err = {0};
    int rc = CLI_EXIT_OK;
    char src[STORE_NAME_MAX], dst[STORE_NAME_MAX];
    if (store_parse_name(argv[1], src, &err) || store_parse_name(argv[2], dst, &err) ||
        store_copy(root, argv[1], argv[2], &err)) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else {
        printf("copied '%s' to '%s'\n", src, dst);
    }
    free(root);
    return rc;
}

/* ---------------------------------------------------------------- create */

int cmd_create(int argc, char **argv) {
    const char *name = NULL, *mf_path = "Modelfile";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            puts("usage: autoglm create NAME [-f Modelfile]\n"
                 "  Modelfile lines: FROM <file.gguf | model>, PARAMETER <name> <value>, SYSTEM <text>,\n"
                 "  TEMPLATE <jinja chat template>; values may be quoted with \"...\" or \"\"\"...\"\"\"");
            return CLI_EXIT_OK;
        }
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc) mf_path = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "autoglm create: unknown or incomplete option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!name) name = argv[i];
        else {
            fprintf(stderr, "autoglm create: unexpected argument '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!name) {
        fputs("usage: autoglm create NAME [-f Modelfile]\n", stderr);
        return CLI_EXIT_USAGE;
    }
    store_manifest m = {0};
    st_error err = {0};
    if (store_parse_name(name, m.name, &err)) {
        fprintf(stderr, "autoglm: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    size_t len = 0;
    char *text = cli_read_file(mf_path, &len);
    if (!text) return CLI_EXIT_FAIL;
    char *root = cli_store_root();
    modelfile mf;
    int rc = CLI_EXIT_FAIL;
    if (!root) {
        /* reported */
    } else if (modelfile_parse(text, len, &mf, &err)) {
        fprintf(stderr, "autoglm: %s: %s\n", mf_path, err.msg);
    } else {
        char *copy = strdup(mf_path);
        if (store_create(root, copy ? dirname(copy) : ".", &mf, &m, &err)) fprintf(stderr, "autoglm: %s\n", err.msg);
        else {
            printf("created '%s'\n", m.name);
            rc = CLI_EXIT_OK;
        }
        free(copy);
        modelfile_free(&mf);
    }
    store_manifest_free(&m);
    free(text);
    free(root);
    return rc;
}
