/* placeholder */
#include "cli.h"
int cmd_embed(int argc, char **argv) { (void)argc; (void)argv; return CLI_EXIT_FAIL; }
