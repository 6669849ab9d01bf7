/*
 * cmd_sign.c - signed models from the command line (keys: cmd_keys.c):
 *   autoglm sign MODEL --key KEY [--out SIG]
 *   autoglm verify MODEL [--sig SIG] [--trusted-keys DIR]
 * verify prints "OK <key>" (exit 0) or the reason it refuses (exit 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autoglm/sign.h"
#include "cli.h"

int cmd_sign(int argc, char **argv) {
    static const char *usage = "usage: autoglm sign MODEL --key PRIVATE_KEY [--out SIGNATURE]\n";
    static const char *const names[] = {"--key", "--out"};
    const char *values[2] = {NULL, NULL}, *model;
    if (!cli_parse_named(argc, argv, names, values, 2, &model, usage)) return CLI_EXIT_USAGE;
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
    if (!cli_parse_named(argc, argv, names, values, 2, &model, usage)) return CLI_EXIT_USAGE;
    ag_error err = {0};
    char key[65] = "";
    if (ag_verify_model(model, values[0], values[1], key, &err) != AG_OK) {
        fprintf(stderr, "autoglm verify: REFUSED: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    printf("OK %s signed by %s%s\n", model, key, values[1] ? " (trusted)" : " (no --trusted-keys: key not checked)");
    return CLI_EXIT_OK;
}
