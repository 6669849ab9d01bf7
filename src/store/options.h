/*
 * options.h - generation options as Ollama spells them ({"num_predict": 64, "temperature": 0,
 * "stop": ["\n"]}): defaults, then a model's PARAMETERs, then a request's options, each layer
 * applied over the previous one with its types checked. Shared by `run` and the server.
 */
#ifndef AG_STORE_OPTIONS_H
#define AG_STORE_OPTIONS_H

#include <cJSON.h>
#include <stdbool.h>

#include "autoglm/autoglm.h"
#include "store/store.h"

#define GEN_MAX_STOP 16

typedef struct {
    int num_predict;      /* -1: until end of generation or a full context */
    int num_ctx;          /* 0: the default of whoever creates the session */
    int num_thread;       /* 0: default */
    ag_sampler_params sp;
    bool penalty_given;   /* repeat_penalty was set explicitly */
    int n_stop;
    char *stop[GEN_MAX_STOP]; /* owned */
    char *format;         /* constrained output: NULL none, "" any JSON, else a JSON schema (owned) */
    char kv_type[8];      /* "" (the caller's default) or f16, f32, q8_0, q4_0: a model's PARAMETER kv_type */
} gen_options;

void gen_options_default(gen_options *o);
/* Applies the known keys of an options object (unknown keys are ignored, as Ollama does; a
 * known key with a value of the wrong type is ST_INVALID naming the key). NULL: nothing. */
st_status gen_options_apply(gen_options *o, const cJSON *obj, st_error *err);
/* The sampler parameters to use: temperature 0 means plain greedy decoding, so the repeat
 * penalty applies only when it was given. */
ag_sampler_params gen_options_sampler(const gen_options *o);
void gen_options_free(gen_options *o);

#endif
