/*
 * cmd_tokenize.c - `autoglm tokenize MODEL [TEXT | -f FILE] [--add-special] [--parse-special]
 * [--json]`: token ids separated by spaces on one line, or a JSON array of {id, piece}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out) {
    fputs("usage: autoglm tokenize MODEL [TEXT | -f FILE] [--add-special] [--parse-special] [--json]\n", out);
}

static void print_json_string(const char *s, int n) {
    putchar('"');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int cmd_tokenize(int argc, char **argv) {
    bool add_special = false, parse_special = false, json = false;
    const char *model = NULL, *text = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--add-special") == 0) add_special = true;
        else if (strcmp(argv[i], "--parse-special") == 0) parse_special = true;
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "autoglm tokenize: -f needs a file name\n");
                return CLI_EXIT_USAGE;
            }
            file = argv[i];
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CLI_EXIT_OK;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "autoglm tokenize: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return CLI_EXIT_USAGE;
        } else if (!model) model = argv[i];
        else if (!text) text = argv[i];
        else {
            fprintf(stderr, "autoglm tokenize: unexpected argument '%s' (quote the text)\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!model || (!text && !file) || (text && file)) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    size_t len = 0;
    char *buf = file ? cli_read_file(file, &len) : NULL;
    if (file && !buf) return CLI_EXIT_FAIL;
    if (text) len = strlen(text);
    ag_model *m = cli_load_model_ex(model, &(ag_model_params){.n_threads = 1, .vocab_only = true});
    int rc = CLI_EXIT_FAIL;
    if (m) {
        int n = 0;
        ag_token *ids = cli_tokenize(m, buf ? buf : text, len, add_special, parse_special, &n);
        if (ids) {
            if (json) putchar('[');
            for (int i = 0; i < n; i++) {
                if (!json) {
                    printf(i ? " %d" : "%d", ids[i]);
                    continue;
                }
                char piece[512];
                int pn = ag_token_to_piece(m, ids[i], piece, (int)sizeof piece, true);
                if (pn < 0) pn = 0;
                printf("%s{\"id\": %d, \"piece\": ", i ? ", " : "", ids[i]);
                print_json_string(piece, pn);
                putchar('}');
            }
            puts(json ? "]" : "");
            rc = CLI_EXIT_OK;
            free(ids);
        }
        ag_model_free(m);
    }
    free(buf);
    return rc;
}
