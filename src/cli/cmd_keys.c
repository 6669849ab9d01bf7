/*
 * cmd_keys.c - `autoglm keys`: signing key pairs and API keys.
 *   autoglm keys gen NAME                         NAME.key (private, 0600) and NAME.pub (Ed25519)
 *   autoglm keys add --role admin|user|reader --tenant T [--name N]   prints a new API key once
 *   autoglm keys list                             id, role, tenant, name, created (never the keys)
 *   autoglm keys rm ID
 * API keys live in the keyring file ($AUTOGLM_KEYS or ~/.autoglm/keys.json), only as hashes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autoglm/access.h"
#include "autoglm/sign.h"
#include "cli.h"

static const char *USAGE = "usage: autoglm keys gen NAME\n"
                           "       autoglm keys add --role admin|user|reader --tenant TENANT [--name NAME]\n"
                           "       autoglm keys list\n"
                           "       autoglm keys rm ID\n";

static int keys_gen(int argc, char **argv) {
    const char *name;
    if (!cli_parse_named(argc, argv, NULL, NULL, 0, &name, USAGE)) return CLI_EXIT_USAGE;
    size_t n = strlen(name);
    char *priv = malloc(n + 5), *pub = malloc(n + 5);
    int rc = CLI_EXIT_FAIL;
    if (priv && pub) {
        sprintf(priv, "%s.key", name);
        sprintf(pub, "%s.pub", name);
        ag_error err = {0};
        if (ag_keys_generate(priv, pub, &err) != AG_OK) fprintf(stderr, "autoglm keys gen: %s\n", err.msg);
        else {
            fprintf(stderr, "wrote %s (keep it secret) and %s (give it to those who verify)\n", priv, pub);
            rc = CLI_EXIT_OK;
        }
    }
    free(priv);
    free(pub);
    return rc;
}

/* The keyring path, its folder created (0700) when missing. */
static char *keyring_path(void) {
    char *path = ag_keyring_default_path();
    if (!path) {
        fprintf(stderr, "autoglm keys: no keyring path (set AUTOGLM_KEYS or HOME)\n");
        return NULL;
    }
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    return path;
}

static int keys_add(int argc, char **argv) {
    static const char *const names[] = {"--role", "--tenant", "--name"};
    const char *values[3] = {NULL, NULL, NULL};
    for (int i = 1; i < argc; i++) { /* no positional argument: all options */
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (strcmp(argv[i], names[j]) == 0) k = j;
        if (k < 0 || i + 1 >= argc) {
            fprintf(stderr, "autoglm keys add: %s '%s'\n%s", k < 0 ? "unexpected" : "no value for", argv[i], USAGE);
            return CLI_EXIT_USAGE;
        }
        values[k] = argv[++i];
    }
    int role = ag_role_from_name(values[0]);
    if (role < 0 || !values[1]) {
        fprintf(stderr, "autoglm keys add: --role admin|user|reader and --tenant are required\n%s", USAGE);
        return CLI_EXIT_USAGE;
    }
    char *path = keyring_path();
    if (!path) return CLI_EXIT_FAIL;
    char key[48];
    ag_key_info info;
    ag_error err = {0};
    ag_status st = ag_keyring_add(path, (ag_role)role, values[1], values[2], key, &info, &err);
    free(path);
    if (st) {
        fprintf(stderr, "autoglm keys add: %s\n", err.msg);
        return st == AG_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    printf("%s\n", key);
    fprintf(stderr, "key %s: role %s, tenant %s (shown once: the keyring keeps only its hash)\n", info.id,
            ag_role_name(info.role), info.tenant);
    return CLI_EXIT_OK;
}

static int keys_list(void) {
    char *path = keyring_path();
    if (!path) return CLI_EXIT_FAIL;
    ag_error err = {0};
    ag_keyring *r = ag_keyring_load(path, &err);
    free(path);
    if (!r) {
        fprintf(stderr, "autoglm keys list: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    printf("%-14s %-7s %-20s %-20s %s\n", "ID", "ROLE", "TENANT", "NAME", "CREATED");
    for (int i = 0; i < ag_keyring_count(r); i++) {
        const ag_key_info *k = ag_keyring_at(r, i);
        printf("%-14s %-7s %-20s %-20s %s\n", k->id, ag_role_name(k->role), k->tenant, k->name, k->created);
    }
    ag_keyring_free(r);
    return CLI_EXIT_OK;
}

static int keys_rm(int argc, char **argv) {
    const char *id;
    if (!cli_parse_named(argc, argv, NULL, NULL, 0, &id, USAGE)) return CLI_EXIT_USAGE;
    char *path = keyring_path();
    if (!path) return CLI_EXIT_FAIL;
    ag_error err = {0};
    ag_status st = ag_keyring_remove(path, id, &err);
    free(path);
    if (st) {
        fprintf(stderr, "autoglm keys rm: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    fprintf(stderr, "removed key %s\n", id);
    return CLI_EXIT_OK;
}

int cmd_keys(int argc, char **argv) {
    const char *sub = argc >= 2 ? argv[1] : "";
    if (strcmp(sub, "gen") == 0) return keys_gen(argc - 1, argv + 1);
    if (strcmp(sub, "add") == 0) return keys_add(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0 && argc == 2) return keys_list();
    if (strcmp(sub, "rm") == 0) return keys_rm(argc - 1, argv + 1);
    bool help = strcmp(sub, "--help") == 0;
    fputs(USAGE, help ? stdout : stderr);
    return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}
