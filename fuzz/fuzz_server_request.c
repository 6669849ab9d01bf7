/*
 * fuzz_server_request.c - libFuzzer target for what the server parses from clients and files:
 * request bodies of every Ollama and OpenAI route (server/api_parse.c), the options they carry
 * (store/options.c), model names (store_parse_name), AUTOGLM_HOST text (server_parse_host) and
 * Modelfiles (store/modelfile.c). The first byte picks the parser, the rest is its input. The
 * target aborts when a parser succeeds with an inconsistent result: a request without a model,
 * a chat without messages, a name that is not "name:tag" or that could leave the store folder.
 * No state is kept between inputs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/api.h"
#include "server/server.h"
#include "store/options.h"
#include "store/store.h"

static void fuzz_request(api_kind kind, const char *text, size_t len) {
    api_request rq;
    char err[512];
    int status = api_parse(kind, text, len, &rq, err, sizeof err);
    if (status != 0) {
        if (status != 400 || !err[0]) abort();
        return;
    }
    if (!rq.model || !rq.options) abort();
    if ((kind == API_CHAT || kind == API_OAI_CHAT) && !rq.messages) abort();
    if ((kind == API_GENERATE || kind == API_OAI_COMPLETION) && !rq.prompt) abort();
    for (int i = 0; i < rq.n_inputs; i++)
        if (!rq.inputs[i]) abort();
    gen_options o; /* the options were checked by the parser: applying them again succeeds */
    gen_options_default(&o);
    if (gen_options_apply(&o, rq.options, NULL) != ST_OK) abort();
    gen_options_free(&o);
    api_request_free(&rq);
}

static void fuzz_name(const char *text) {
    char out[STORE_NAME_MAX];
    if (store_parse_name(text, out, NULL) != ST_OK) return;
    const char *colon = strrchr(out, ':');
    if (!colon || colon == out || !colon[1] || out[0] == '/' || out[0] == '.' || strstr(out, "//") || strstr(out, "/."))
        abort(); /* no segment may be empty or start with '.' (so none is "..") */
    char again[STORE_NAME_MAX]; /* normalizing is idempotent */
    if (store_parse_name(out, again, NULL) != ST_OK || strcmp(out, again) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int which = data[0] % 10;
    char *text = malloc(size); /* NUL-terminated copy of the rest */
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const size_t len = size - 1;
    switch (which) {
    case 0: fuzz_request(API_GENERATE, text, len); break;
    case 1: fuzz_request(API_CHAT, text, len); break;
    case 2: fuzz_request(API_EMBED, text, len); break;
    case 3: fuzz_request(API_EMBEDDINGS, text, len); break;
    case 4: fuzz_request(API_OAI_CHAT, text, len); break;
    case 5: fuzz_request(API_OAI_COMPLETION, text, len); break;
    case 6: fuzz_request(API_OAI_EMBED, text, len); break;
    case 7: fuzz_name(text); break;
    case 8: {
        char host[256];
        int port;
        if (server_parse_host(text, host, sizeof host, &port) && (port < 0 || port > 65535 || strlen(host) >= sizeof host)) abort();
        free(api_parse_model_name(text, len, "name", (char[64]){0}, 64));
        break;
    }
    case 9: {
        modelfile mf;
        st_error err = {0};
        if (modelfile_parse(text, len, &mf, &err) == ST_OK) {
            if (!mf.from || !*mf.from) abort();
            char *p = mf.params ? store_params_text(mf.params) : NULL;
            free(p);
            modelfile_free(&mf);
        } else if (!err.msg[0]) {
            abort();
        }
        break;
    }
    }
    free(text);
    return 0;
}
