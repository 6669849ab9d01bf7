/*
 * main.c - the `autoglm` program: dispatches to one command per file (cmd_*.c).
 */
#include <stdio.h>
#include <string.h>

#include "autoglm/autoglm.h"

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--version") == 0) {
        printf("autoglm %s\n", AUTOGLM_VERSION);
        return argc < 2 ? 1 : 0;
    }
    fprintf(stderr, "autoglm: unknown command '%s'\n", argv[1]);
    return 2;
}
