/*
 * cmd_pull.c - `autoglm pull URL [NAME] [--sha256 HEX]`: downloads a GGUF file by http:// URL
 * into the store (store/pull.c: resume with Range, SHA-256 check, atomic rename), with a
 * progress bar on stderr. http(s):// URLs, ModelScope names (modelscope.cn/ORG/REPO:QUANT or
 * ms://..., host AUTOGLM_MODELSCOPE_ENDPOINT) and Hugging Face names (hf.co/ORG/REPO:QUANT; host
 * $AUTOGLM_HF_ENDPOINT, default https://huggingface.co).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "store/pull.h"

typedef struct {
    bool tty;
    double t0;
    const char *last;
} bar;

static void on_progress(void *ctx, const char *status, uint64_t done, uint64_t total) {
    bar *b = ctx;
    if (strcmp(status, "downloading") != 0) {
        if (b->last && strcmp(b->last, "downloading") == 0) fputc('\n', stderr);
        fprintf(stderr, "%s\n", status);
        b->last = status;
        return;
    }
    b->last = status;
    double el = cli_now() - b->t0, rate = el > 0 ? (double)done / el : 0;
    if (total) {
        int w = 30, fill = (int)((double)done / (double)total * w);
        fprintf(stderr, "%s[%.*s%*s] %5.1f%% %.1f/%.1f MB %.1f MB/s%s", b->tty ? "\r" : "", fill,
                "##############################", w - fill, "", 100.0 * (double)done / (double)total, (double)done / 1e6,
                (double)total / 1e6, rate / 1e6, b->tty ? "" : "\n");
    } else {
        fprintf(stderr, "%s%.1f MB %.1f MB/s%s", b->tty ? "\r" : "", (double)done / 1e6, rate / 1e6, b->tty ? "" : "\n");
    }
}

int cmd_pull(int argc, char **argv) {
    const char *url = NULL, *name = NULL, *sha = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sha256") == 0 && i + 1 < argc) sha = argv[++i];
        else if (strcmp(argv[i], "--help") == 0) {
            puts("usage: autoglm pull URL [NAME] [--sha256 HEX]\n"
                 "  downloads a GGUF file (http:// URL) into the store as NAME (default: the file's name);\n"
                 "  an interrupted download resumes where it stopped");
            return CLI_EXIT_OK;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "autoglm pull: unknown or incomplete option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!url) url = argv[i];
        else if (!name) name = argv[i];
        else {
            fprintf(stderr, "autoglm pull: unexpected argument '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!url) {
        fputs("usage: autoglm pull URL [NAME] [--sha256 HEX]\n", stderr);
        return CLI_EXIT_USAGE;
    }
    char *root = cli_store_root();
    if (!root) return CLI_EXIT_FAIL;
    bar b = {isatty(2), cli_now(), NULL};
    pull_params pp = {.sha256 = sha, .progress = on_progress, .ctx = &b, .hf_endpoint = getenv("AUTOGLM_HF_ENDPOINT"),
                      .ms_endpoint = getenv("AUTOGLM_MODELSCOPE_ENDPOINT")};
    store_manifest m;
    st_error err = {0};
    st_status st = store_pull(root, url, name, &pp, &m, &err);
    free(root);
    if (st) {
        if (b.last && strcmp(b.last, "downloading") == 0 && b.tty) fputc('\n', stderr);
        fprintf(stderr, "autoglm: %s\n", err.msg);
        return st == ST_INVALID ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    printf("pulled '%s' (sha256 %s)\n", m.name, m.sha256);
    store_manifest_free(&m);
    return CLI_EXIT_OK;
}
