/*
 * cmd_audit.c - `autoglm audit verify LOG`: checks the audit log's hash chain; prints
 * "OK N records" (exit 0) or the first bad line and why (exit 1).
 */
#include <stdio.h>
#include <string.h>

#include "autoglm/audit.h"
#include "cli.h"

int cmd_audit(int argc, char **argv) {
    static const char *usage = "usage: autoglm audit verify LOG\n";
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fputs(usage, stdout);
        return CLI_EXIT_OK;
    }
    if (argc != 3 || strcmp(argv[1], "verify") != 0) {
        fputs(usage, stderr);
        return CLI_EXIT_USAGE;
    }
    ag_audit_report rep;
    ag_error err = {0};
    if (ag_audit_verify(argv[2], &rep, &err) != AG_OK) {
        fprintf(stderr, "autoglm audit: %s%s\n", err.code == AG_ERR_UNTRUSTED ? "TAMPERED: " : "", err.msg);
        return CLI_EXIT_FAIL;
    }
    printf("OK %ld records\n", rep.records);
    return CLI_EXIT_OK;
}
