/*
 * cmd_quantize.c - `autoglm quantize IN.gguf OUT.gguf TYPE [--pure] [--threads N]`: converts a
 * model's weight matrices, with a progress bar on stderr.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void progress_bar(void *ctx, int done, int total, const char *tensor) {
    (void)ctx;
    const int width = 30, filled = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\r[%s] %3d/%d %-40.40s", bar, done, total, tensor);
    else if (done == total)
        fprintf(stderr, "[%s] %d/%d tensors", bar, done, total);
    if (done == total) fputc('\n', stderr);
}

int cmd_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0;
    long long threads = 0;
    ag_quantize_params qp = {.progress = progress_bar};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--pure") == 0) qp.pure = true;
        else if (strcmp(argv[i], "--threads") == 0) {
            if (!cli_parse_int("--threads", i + 1 < argc ? argv[i + 1] : NULL, 1, 1024, &threads)) return CLI_EXIT_USAGE;
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "autoglm quantize: unknown option '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (n_pos < 3) pos[n_pos++] = argv[i];
        else {
            fprintf(stderr, "autoglm quantize: unexpected argument '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (n_pos != 3) {
        fprintf(stderr, "usage: autoglm quantize IN.gguf OUT.gguf TYPE [--pure] [--threads N]\n"
                        "types: Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K F16 BF16 F32\n"
                        "       (Q3_K, Q4_K, Q5_K: the _M mixes)\n");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(pos[0], pos[1]) == 0) {
        fprintf(stderr, "autoglm quantize: the output must not overwrite the input\n");
        return CLI_EXIT_USAGE;
    }
    qp.type = pos[2];
    qp.n_threads = (int)threads;
    ag_error err = {0};
    double t0 = cli_now();
    if (ag_quantize(pos[0], pos[1], &qp, &err) != AG_OK) {
        fprintf(stderr, "\nautoglm quantize: %s\n", err.msg);
        return err.code == AG_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    fprintf(stderr, "autoglm quantize: wrote %s (%s) in %.1f s\n", pos[1], pos[2], cli_now() - t0);
    return CLI_EXIT_OK;
}
