/*
 * cmd_convert.c - `autoglm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--name NAME] [--mmproj OUT-mmproj.gguf]`:
 * a Hugging Face safetensors checkpoint to GGUF (library: ag_convert).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int usage(void) {
    fprintf(stderr, "usage: autoglm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--name NAME] [--mmproj OUT-mmproj.gguf]\n");
    return CLI_EXIT_USAGE;
}

int cmd_convert(int argc, char **argv) {
    const char *pos[2] = {0};
    int n_pos = 0;
    ag_convert_params cp = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fprintf(stdout, "usage: autoglm convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0] [--name NAME] [--mmproj OUT-mmproj.gguf]\n"
                            "Converts a Hugging Face checkpoint (config.json, *.safetensors, tokenizer.json)\n"
                            "to GGUF; matrices in --type (default f16), 1-D tensors in F32.\n"
                            "--mmproj: a vision-language model (GLM-4.1V) also gets its vision projector file.\n");
            return CLI_EXIT_OK;
        }
        if (strcmp(argv[i], "--type") == 0 || strcmp(argv[i], "--name") == 0 || strcmp(argv[i], "--mmproj") == 0) {
            if (i + 1 >= argc) return usage();
            if (argv[i][2] == 't') cp.type = argv[++i];
            else if (argv[i][2] == 'm') cp.mmproj = argv[++i];
            else cp.name = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "autoglm convert: unknown option '%s'\n", argv[i]);
            return usage();
        } else if (n_pos < 2) pos[n_pos++] = argv[i];
        else return usage();
    }
    if (n_pos != 2) return usage();
    ag_error err = {0};
    double t0 = cli_now();
    if (ag_convert(pos[0], pos[1], &cp, &err) != AG_OK) {
        fprintf(stderr, "autoglm convert: %s\n", err.msg);
        return err.code == AG_ERR_INVALID_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
    }
    fprintf(stderr, "autoglm convert: wrote %s%s%s (%s) in %.1f s\n", pos[1], cp.mmproj ? " and " : "", cp.mmproj ? cp.mmproj : "",
            cp.type ? cp.type : "f16", cli_now() - t0);
    return CLI_EXIT_OK;
}
