/*
 * cmd_sign.c - signed models from the command line:
 *   autoglm keys gen NAME          writes NAME.key (private, mode 0600) and NAME.pub
 *   autoglm sign MODEL --key KEY [--out SIG]
 *   autoglm verify MODEL [--sig SIG] [--trusted-keys DIR]
 * verify prints "OK <key>" (exit 0) or the reason it refuses (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/sign.h"
#include "cli.h"

/* Finds "--name VALUE" among argv[from..]; the rest must be one positional. Returns false on a usage error. */
static bool parse_args(int argc, char **argv, const char *const *names, const char **values, int n_names,
                       const char **positional, const char *usage) {
    *positional = NULL;
    for (int i = 1; i < argc; i++) {
        int k = -1;
        for (int j = 0; j < n_names; j++)
            if (strcmp(argv[i], names[j]) == 0) k = j;
        if (k >= 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "autoglm: %s needs a value\n%s", argv[i], usage);
                return false;
            }
            values[k] = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "autoglm: unknown option '%s'\n%s", argv[i], usage);
            return false;
        } else if (*positional) {
            fprintf(stderr, "autoglm: unexpected argument '%s'\n%s", argv[i], usage);
            return false;
        } else {
            *positional = argv[i];
        }
    }
    if (!*positional) fputs(usage, stderr);
    return *positional != NULL;
}

int cmd_keys(int argc, char **argv) {
    static const char *usage = "usage: autoglm keys gen NAME    (writes NAME.key and NAME.pub)\n";
    if (argc < 2 || strcmp(argv[1], "gen") != 0) {
        fputs(usage, argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    const char *name;
    if (!parse_args(argc - 1, argv + 1, NULL, NULL, 0, &name, usage)) return CLI_EXIT_USAGE;
    size_t n = strlen(name);
    char *priv = malloc(n + 5), *pub = malloc(n + 5);
    if (!priv || !pub) {
        free(priv);
        free(pub);
        return CLI_EXIT_FAIL;
    }
    sprintf(priv, "%s.key", name);
    sprintf(pub, "%s.pub", name);
    ag_error err = {0};
    int rc = CLI_EXIT_OK;
    if (ag_keys_generate(priv, pub, &err) != AG_OK) {
        fprintf(stderr, "autoglm keys gen: %s\n", err.msg);
        rc = CLI_EXIT_FAIL;
    } else {
        fprintf(stderr, "wrote %s (keep it secret) and %s (give it to those who verify)\n", priv, pub);
    }
    free(priv);
    free(pub);
    return rc;
}

int cmd_sign(int argc, char **argv) {
    static const char *usage = "usage: autoglm sign MODEL --key PRIVATE_KEY [--out SIGNATURE]\n";
    static const char *const names[] = {"--key", "--out"};
    const char *values[2] = {NULL, NULL}, *model;
    if (!parse_args(argc, argv, names, values, 2, &model, usage)) return CLI_EXIT_USAGE;
    if (!values[0]) {
        fprintf(stderr, "autoglm sign: --key is required\n%s", usage);
        return CLI_EXIT_USAGE;
    }
    ag_error err = {0};
    if (ag_sign_model(model, values[0], values[1], &err) != AG_OK) {
        fprintf(stderr, "autoglm sign: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "signed %s -> %s%s\n", model, values[1] ? values[1] : model, values[1] ? "" : ".sig");
    return CLI_EXIT_OK;
}

int cmd_verify(int argc, char **argv) {
    static const char *usage = "usage: autoglm verify MODEL [--sig SIGNATURE] [--trusted-keys DIR]\n";
    static const char *const names[] = {"--sig", "--trusted-keys"};
    const char *values[2] = {NULL, NULL}, *model;
    if (!parse_args(argc, argv, names, values, 2, &model, usage)) return CLI_EXIT_USAGE;
    ag_error err = {0};
    char key[65] = "";
    if (ag_verify_model(model, values[0], values[1], key, &err) != AG_OK) {
        fprintf(stderr, "autoglm verify: REFUSED: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    printf("OK %s signed by %s%s\n", model, key, values[1] ? " (trusted)" : " (no --trusted-keys: key not checked)");
    return CLI_EXIT_OK;
}
