/*
 * main.c - the `autoglm` program: finds the command and hands it the arguments after its name.
 * Each command lives in its own cmd_*.c on top of the public API (include/autoglm/autoglm.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"run", cmd_run, "generate text from a prompt, or chat interactively"},
    {"show", cmd_show, "architecture, parameters, tensor types and metadata of a model"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"perplexity", cmd_perplexity, "perplexity of a model on a text file"},
    {"quantize", cmd_quantize, "convert a model's weights to another type (Q4_0, Q8_0, ...)"},
    {"serve", cmd_serve, "Ollama- and OpenAI-compatible HTTP server (AUTOGLM_HOST, default 127.0.0.1:11434)"},
    {"ps", cmd_ps, "models loaded by the running server (its /api/ps)"},
    {"pull", cmd_pull, "download a GGUF file by http:// URL into the store (resumes, checks SHA-256)"},
    {"list", cmd_list, "models of the store (~/.autoglm/models or $AUTOGLM_MODELS)"},
    {"create", cmd_create, "add a model to the store from a Modelfile (FROM, PARAMETER, SYSTEM, TEMPLATE)"},
    {"cp", cmd_cp, "copy a model of the store under another name"},
    {"rm", cmd_rm, "remove models from the store"},
    {"convert", cmd_convert, "convert a Hugging Face safetensors checkpoint to GGUF"},
    {"embed", cmd_embed, "embedding vectors of texts (--json)"},
    {"rerank", cmd_rerank, "score documents against a query with a reranker (--top-n, --json)"},
    {"kb", cmd_kb, "local knowledge base: create, add, rm, ls, stats, query, ask (kb --help)"},
    {"summarize", cmd_summarize, "summarize a document (extractive, or with a model)"},
    {"bench", cmd_bench, "prompt and generation speed; --membw for the memory bandwidth"},
    {"keys", cmd_keys, "keys gen NAME: a new Ed25519 key pair for signing models"},
    {"sign", cmd_sign, "sign a model file (detached Ed25519 signature over its SHA-256)"},
    {"verify", cmd_verify, "check a model's signature (and that its key is trusted)"},
    {"audit", cmd_audit, "audit verify LOG: check the audit log's hash chain"},
    {"redact", cmd_redact, "replace e-mails, phone and ID numbers, bank cards, addresses, secrets in a text"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: autoglm COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(out, "\n`autoglm COMMAND --help` for a command's options; `autoglm --version`.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("autoglm %s\n", AUTOGLM_VERSION);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "autoglm: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
