/*
 * cmd_show.c - `autoglm show MODEL [--json] [--tensors]`: architecture, parameter count, tensor
 * types, context length, tokenizer and all metadata (long arrays summarized in text mode); for a
 * model of the store also its file, digest, parameters, system message, template and vision
 * projector. A vision projector file (GGUF architecture "clip", no tokenizer) shows its clip.*
 * facts and tensors instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf/gguf.h"

static void human_count(char *buf, size_t n, double v) {
    const char *unit[] = {"", "K", "M", "B", "T"};
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, n, u ? "%.2f%s" : "%.0f%s", v, unit[u]);
}

/* The tensor types with their counts, e.g. "F32 (48)" or "Q4_0 (169), F32 (65)". */
static void type_summary(const ag_model *m, char *buf, size_t cap) {
    const char *names[64];
    int counts[64], k = 0;
    for (int i = 0; i < ag_model_tensor_count(m); i++) {
        const char *t = ag_model_tensor_type(m, i);
        int j = 0;
        while (j < k && strcmp(names[j], t) != 0) j++;
        if (j == k && k < 64) {
            names[k] = t;
            counts[k++] = 0;
        }
        if (j < 64) counts[j]++;
    }
    size_t off = 0;
    buf[0] = '\0';
    for (int j = 0; j < k && off < cap; j++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%s (%d)", j ? ", " : "", names[j], counts[j]);
}

static char *meta_text(const ag_model *m, int i, int max_items) {
    int need = ag_model_meta_json(m, i, NULL, 0, max_items);
    char *buf = malloc((size_t)need + 1);
    if (buf) ag_model_meta_json(m, i, buf, (size_t)need + 1, max_items);
    return buf;
}

static void show_text(const ag_model *m, bool tensors) {
    char params[32], types[512];
    human_count(params, sizeof params, (double)ag_model_n_params(m));
    type_summary(m, types, sizeof types);
    printf("  Model\n");
    printf("    %-20s %s\n", "architecture", ag_model_arch(m));
    if (*ag_model_name(m)) printf("    %-20s %s\n", "name", ag_model_name(m));
    printf("    %-20s %s\n", "parameters", params);
    printf("    %-20s %d\n", "context length", ag_model_n_ctx_train(m));
    printf("    %-20s %d\n", "embedding length", ag_model_n_embd(m));
    printf("    %-20s %d\n", "layers", ag_model_n_layer(m));
    printf("    %-20s %d (%d key/value)\n", "attention heads", ag_model_n_head(m), ag_model_n_head_kv(m));
    printf("    %-20s %s\n", "tensor types", types);
    printf("    %-20s %.2f MiB\n", "weights", ag_model_size_bytes(m) / 1048576.0);
    printf("    %-20s %s, %d tokens\n", "tokenizer", ag_vocab_type(m), ag_model_n_vocab(m));
    printf("    %-20s %u\n", "gguf version", ag_model_gguf_version(m));
    printf("\n  Metadata\n");
    for (int i = 0; i < ag_model_meta_count(m); i++) {
        char *v = meta_text(m, i, 8);
        printf("    %-40s %-14s %s\n", ag_model_meta_key(m, i), ag_model_meta_type(m, i), v ? v : "?");
        free(v);
    }
    if (!tensors) return;
    printf("\n  Tensors\n");
    for (int i = 0; i < ag_model_tensor_count(m); i++) {
        int64_t ne[4];
        int nd = ag_model_tensor_shape(m, i, ne);
        printf("    %-40s %-6s [", ag_model_tensor_name(m, i), ag_model_tensor_type(m, i));
        for (int d = 0; d < nd; d++) printf(d ? ", %lld" : "%lld", (long long)ne[d]);
        printf("]\n");
    }
}

/* A vision projector file (architecture "clip"): its metadata and tensors, without a model
 * load (it has no tokenizer). Returns false when the file is not one. */
static bool show_projector(const char *path, bool json, bool tensors, int *rc) {
    if (!store_is_projector(path)) return false;
    ag_error err = {0};
    ag_gguf_file *f = ag_gguf_open(path, &err);
    if (!f) return false;
    char msg[256];
    uint64_t n_params = 0;
    cJSON *tens = NULL, *meta = store_projector_info(path, json ? -1 : 8, &tens, &n_params, msg, sizeof msg);
    if (!meta) {
        fprintf(stderr, "autoglm show: %s\n", msg);
        ag_gguf_close(f);
        return true;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "architecture", "clip");
    cJSON_AddNumberToObject(o, "parameters", (double)n_params);
    cJSON_AddNumberToObject(o, "size_bytes", (double)ag_gguf_file_size(f));
    cJSON_AddNumberToObject(o, "gguf_version", ag_gguf_version(f));
    cJSON_AddItemToObject(o, "metadata", meta);
    cJSON_AddItemToObject(o, "tensors", tens);
    if (json) {
        char *t = cJSON_PrintUnformatted(o);
        if (t) puts(t);
        free(t);
    } else {
        char params[32];
        human_count(params, sizeof params, (double)n_params);
        printf("  Projector\n");
        printf("    %-20s %s\n", "architecture", "clip");
        printf("    %-20s %s\n", "parameters", params);
        printf("    %-20s %.2f MiB\n", "file", ag_gguf_file_size(f) / 1048576.0);
        printf("\n  Metadata\n");
        const cJSON *kv;
        cJSON_ArrayForEach(kv, meta) {
            char *v = cJSON_PrintUnformatted(kv);
            printf("    %-40s %s\n", kv->string, v ? v : "?");
            free(v);
        }
        if (tensors) {
            printf("\n  Tensors\n");
            const cJSON *t;
            cJSON_ArrayForEach(t, tens) {
                char *sh = cJSON_PrintUnformatted(cJSON_GetObjectItem(t, "shape"));
                printf("    %-40s %-6s %s\n", cJSON_GetObjectItem(t, "name")->valuestring,
                       cJSON_GetObjectItem(t, "type")->valuestring, sh ? sh : "?");
                free(sh);
            }
        }
    }
    cJSON_Delete(o);
    ag_gguf_close(f);
    *rc = CLI_EXIT_OK;
    return true;
}

static void show_store(const store_manifest *man) {
    printf("\n  Store\n");
    printf("    %-20s %s\n", "name", man->name);
    printf("    %-20s %s\n", "file", man->path);
    printf("    %-20s sha256:%s\n", "digest", man->sha256);
    if (man->projector) printf("    %-20s %s\n", "projector", man->projector);
    char *params = man->params ? store_params_text(man->params) : NULL;
    if (params && *params) {
        printf("\n  Parameters\n");
        for (char *line = strtok(params, "\n"); line; line = strtok(NULL, "\n")) printf("    %s\n", line);
    }
    free(params);
    if (man->system) printf("\n  System\n    %s\n", man->system);
    if (man->tmpl) printf("\n  Template\n    %s\n", man->tmpl);
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void show_json(const ag_model *m, const char *projector) {
    printf("{\"architecture\": ");
    json_str(ag_model_arch(m));
    printf(", \"name\": ");
    json_str(ag_model_name(m));
    printf(", \"parameters\": %lld, \"context_length\": %d, \"embedding_length\": %d, \"block_count\": %d, "
           "\"head_count\": %d, \"head_count_kv\": %d, \"vocab_size\": %d, \"tokenizer\": ",
           (long long)ag_model_n_params(m), ag_model_n_ctx_train(m), ag_model_n_embd(m), ag_model_n_layer(m),
           ag_model_n_head(m), ag_model_n_head_kv(m), ag_model_n_vocab(m));
    json_str(ag_vocab_type(m));
    printf(", \"size_bytes\": %llu, \"gguf_version\": %u, \"metadata\": {",
           (unsigned long long)ag_model_size_bytes(m), ag_model_gguf_version(m));
    for (int i = 0; i < ag_model_meta_count(m); i++) {
        char *v = meta_text(m, i, -1);
        printf("%s", i ? ", " : "");
        json_str(ag_model_meta_key(m, i));
        printf(": %s", v ? v : "null");
        free(v);
    }
    printf("}, \"tensors\": [");
    for (int i = 0; i < ag_model_tensor_count(m); i++) {
        int64_t ne[4];
        int nd = ag_model_tensor_shape(m, i, ne);
        printf("%s{\"name\": ", i ? ", " : "");
        json_str(ag_model_tensor_name(m, i));
        printf(", \"type\": \"%s\", \"shape\": [", ag_model_tensor_type(m, i));
        for (int d = 0; d < nd; d++) printf(d ? ", %lld" : "%lld", (long long)ne[d]);
        printf("]}");
    }
    printf("]");
    if (projector) { /* a store model's vision projector file */
        printf(", \"projector\": ");
        json_str(projector);
    }
    printf("}\n");
}

int cmd_show(int argc, char **argv) {
    bool json = false, tensors = false;
    const char *model = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--tensors") == 0) tensors = true;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "autoglm show: unknown option '%s'\nusage: autoglm show MODEL [--json] [--tensors]\n", argv[i]);
            return CLI_EXIT_USAGE;
        } else if (!model) model = argv[i];
        else {
            fprintf(stderr, "autoglm show: unexpected argument '%s'\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
    }
    if (!model) {
        fprintf(stderr, "usage: autoglm show MODEL [--json] [--tensors]\n");
        return CLI_EXIT_USAGE;
    }
    store_manifest man;
    if (!cli_resolve_model(model, &man)) return CLI_EXIT_FAIL;
    int prc = CLI_EXIT_FAIL;
    if (show_projector(man.path, json, tensors, &prc)) {
        store_manifest_free(&man);
        return prc;
    }
    ag_error err = {0};
    ag_model *m = ag_model_load(man.path, &(ag_model_params){.n_threads = 1, .device = "cpu", .keep_layout = true}, &err);
    if (!m && err.code == AG_ERR_UNSUPPORTED) { /* still show what the file holds */
        fprintf(stderr, "autoglm show: %s (showing metadata and tokenizer only)\n", err.msg);
        m = ag_model_load(man.path, &(ag_model_params){.n_threads = 1, .vocab_only = true}, &err);
    }
    if (!m) fprintf(stderr, "autoglm: cannot load model: %s\n", err.msg);
    else if (json) show_json(m, man.projector);
    else {
        show_text(m, tensors);
        if (*man.name) show_store(&man);
    }
    ag_model_free(m);
    store_manifest_free(&man);
    return m ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
