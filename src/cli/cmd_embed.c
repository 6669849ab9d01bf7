/*
 * cmd_embed.c - `autoglm embed MODEL [TEXT...] [--json] [--no-normalize] [--threads N]`: the
 * sentence embedding of each text (one per argument, or one per line of stdin when none), from
 * an embedding model (bert). Prints one line of numbers per text, or with --json
 * {"model": ..., "embeddings": [[...], ...]} as Ollama's /api/embed answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int usage(void) {
    fprintf(stderr, "usage: autoglm embed MODEL [TEXT...] [--json] [--no-normalize] [--threads N]\n"
                    "(no TEXT: one text per line of stdin)\n");
    return CLI_EXIT_USAGE;
}

/* Lines of stdin as texts (the buffer is modified in place and owned by the caller). */
static int stdin_lines(char *buf, char ***texts) {
    int n = 0, cap = 16;
    *texts = malloc((size_t)cap * sizeof **texts);
    for (char *line = strtok(buf, "\n"); line && *texts; line = strtok(NULL, "\n")) {
        if (!*line) continue;
        if (n == cap) {
            char **t = realloc(*texts, (size_t)(cap *= 2) * sizeof **texts);
            if (!t) break;
            *texts = t;
        }
        (*texts)[n++] = line;
    }
    return n;
}

static void print_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}

static void print_vec(const float *v, int n, bool json) {
    for (int i = 0; i < n; i++) printf(json ? "%s%.8g" : "%s%.6g", i ? (json ? "," : " ") : "", v[i]);
}

int cmd_embed(int argc, char **argv) {
    const char *model_path = NULL;
    bool json = false, normalize = true;
    long long threads = 0;
    char **texts = calloc((size_t)argc, sizeof *texts), *input = NULL;
    int n_text = 0, rc = CLI_EXIT_FAIL;
    for (int i = 1; texts && i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--no-normalize") == 0) normalize = false;
        else if (strcmp(argv[i], "--threads") == 0) {
            if (!cli_parse_int("--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &threads)) return free(texts), CLI_EXIT_USAGE;
            i++;
        } else if (strcmp(argv[i], "--help") == 0) {
            free(texts);
            printf("usage: autoglm embed MODEL [TEXT...] [--json] [--no-normalize] [--threads N]\n");
            return CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "autoglm embed: unknown option '%s'\n", argv[i]);
            free(texts);
            return usage();
        } else if (!model_path) model_path = argv[i];
        else texts[n_text++] = argv[i];
    }
    if (!texts || !model_path) {
        free(texts);
        return usage();
    }
    if (n_text == 0) {
        size_t len;
        free(texts);
        texts = NULL;
        if (!(input = cli_read_file("-", &len))) return CLI_EXIT_FAIL;
        n_text = stdin_lines(input, &texts);
    }
    ag_model *m = n_text > 0 ? cli_load_model(model_path, (int)threads) : NULL;
    if (n_text == 0) fprintf(stderr, "autoglm embed: no text to embed\n");
    const int dim = m ? ag_model_n_embd(m) : 0;
    ag_token **toks = calloc((size_t)n_text + 1, sizeof *toks);
    int *lens = calloc((size_t)n_text + 1, sizeof *lens);
    float *out = calloc((size_t)n_text * (dim ? dim : 1), sizeof *out);
    if (m && !ag_model_is_embedding(m))
        fprintf(stderr, "autoglm embed: %s ('%s') is not an embedding model\n", model_path, ag_model_arch(m));
    else if (m && toks && lens && out) {
        bool ok = true;
        for (int i = 0; i < n_text && ok; i++) ok = (toks[i] = cli_tokenize(m, texts[i], strlen(texts[i]), true, false, &lens[i])) != NULL;
        ag_error err = {0};
        if (ok && ag_embed_tokens(m, (const ag_token *const *)toks, lens, n_text, out, normalize, &err) != AG_OK)
            fprintf(stderr, "autoglm embed: %s\n", err.msg);
        else if (ok) {
            if (json) {
                printf("{\"model\":");
                print_json_str(ag_model_name(m));
                printf(",\"embeddings\":[");
            }
            for (int i = 0; i < n_text; i++) {
                if (json) printf("%s[", i ? "," : "");
                print_vec(out + (size_t)i * dim, dim, json);
                printf(json ? "]" : "\n");
            }
            if (json) printf("]}\n");
            rc = CLI_EXIT_OK;
        }
    }
    for (int i = 0; toks && i < n_text; i++) free(toks[i]);
    free(toks);
    free(lens);
    free(out);
    free(texts);
    free(input);
    ag_model_free(m);
    return rc;
}
