/*
 * options.c - generation options over defaults, model parameters and request options (see
 * options.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/options.h"

void gen_options_default(gen_options *o) {
    memset(o, 0, sizeof *o);
    o->num_predict = -1;
    o->sp = ag_sampler_default_params();
}

void gen_options_free(gen_options *o) {
    for (int i = 0; i < o->n_stop; i++) free(o->stop[i]);
    o->n_stop = 0;
    free(o->format);
    o->format = NULL;
}

static st_status get_num(const cJSON *v, const char *key, double lo, double hi, bool integer, double *out, st_error *err) {
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return st_fail(err, ST_INVALID, "option \"%s\" must be a number", key);
    double d = v->valuedouble;
    if (integer && d != floor(d)) return st_fail(err, ST_INVALID, "option \"%s\" must be an integer", key);
    if (d < lo || d > hi) return st_fail(err, ST_INVALID, "option \"%s\" is out of range [%g, %g]", key, lo, hi);
    *out = d;
    return ST_OK;
}

static st_status set_stop(gen_options *o, const cJSON *v, st_error *err) {
    for (int i = 0; i < o->n_stop; i++) free(o->stop[i]); /* the new list replaces the old */
    o->n_stop = 0;
    const cJSON *items = cJSON_IsArray(v) ? v->child : v;
    for (const cJSON *s = items; s; s = cJSON_IsArray(v) ? s->next : NULL) {
        if (!cJSON_IsString(s)) return st_fail(err, ST_INVALID, "option \"stop\" must be a string or an array of strings");
        if (!*s->valuestring) continue;
        if (o->n_stop == GEN_MAX_STOP) return st_fail(err, ST_INVALID, "option \"stop\": at most %d sequences", GEN_MAX_STOP);
        if (!(o->stop[o->n_stop] = strdup(s->valuestring))) return st_fail(err, ST_NOMEM, "out of memory");
        o->n_stop++;
    }
    return ST_OK;
}

st_status gen_options_apply(gen_options *o, const cJSON *obj, st_error *err) {
    if (!obj || cJSON_IsNull(obj)) return ST_OK;
    if (!cJSON_IsObject(obj)) return st_fail(err, ST_INVALID, "options must be an object");
    const cJSON *v;
    cJSON_ArrayForEach(v, obj) {
        const char *k = v->string;
        double d = 0;
        st_status st = ST_OK;
        if (cJSON_IsNull(v)) continue;
        if (strcmp(k, "num_predict") == 0) {
            if (!(st = get_num(v, k, -2, 1 << 30, true, &d, err))) o->num_predict = d < 0 ? -1 : (int)d;
        } else if (strcmp(k, "num_ctx") == 0) {
            if (!(st = get_num(v, k, 1, 1 << 20, true, &d, err))) o->num_ctx = (int)d;
        } else if (strcmp(k, "num_thread") == 0) {
            if (!(st = get_num(v, k, 0, 1024, true, &d, err))) o->num_thread = (int)d;
        } else if (strcmp(k, "temperature") == 0) {
            if (!(st = get_num(v, k, 0, 100, false, &d, err))) o->sp.temperature = (float)d;
        } else if (strcmp(k, "top_k") == 0) {
            if (!(st = get_num(v, k, -1, 1 << 30, true, &d, err))) o->sp.top_k = (int)d;
        } else if (strcmp(k, "top_p") == 0) {
            if (!(st = get_num(v, k, 0, 1, false, &d, err))) o->sp.top_p = (float)d;
        } else if (strcmp(k, "min_p") == 0) {
            if (!(st = get_num(v, k, 0, 1, false, &d, err))) o->sp.min_p = (float)d;
        } else if (strcmp(k, "repeat_penalty") == 0) {
            if (!(st = get_num(v, k, 0, 100, false, &d, err))) {
                o->sp.repeat_penalty = (float)d;
                o->penalty_given = true;
            }
        } else if (strcmp(k, "repeat_last_n") == 0) {
            if (!(st = get_num(v, k, -1, 1 << 30, true, &d, err))) o->sp.repeat_last_n = (int)d;
        } else if (strcmp(k, "seed") == 0) {
            if (!(st = get_num(v, k, -1, 9007199254740992.0, true, &d, err)))
                o->sp.seed = d < 0 ? AG_SEED_RANDOM : (uint64_t)d;
        } else if (strcmp(k, "stop") == 0) {
            st = set_stop(o, v, err);
        } else if (strcmp(k, "kv_type") == 0) {
            static const char *const kinds[] = {"f16", "f32", "q8_0", "q4_0"};
            /* a Modelfile's string PARAMETERs are stored as arrays (as "stop"): the last one counts */
            const cJSON *sv = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, cJSON_GetArraySize(v) - 1) : v;
            bool ok = false;
            for (size_t i = 0; cJSON_IsString(sv) && i < sizeof kinds / sizeof kinds[0]; i++)
                if (strcmp(sv->valuestring, kinds[i]) == 0) ok = true, snprintf(o->kv_type, sizeof o->kv_type, "%s", kinds[i]);
            if (!ok) st = st_fail(err, ST_INVALID, "option \"kv_type\": f16, f32, q8_0 or q4_0");
        }
        if (st) return st;
    }
    return ST_OK;
}

ag_sampler_params gen_options_sampler(const gen_options *o) {
    ag_sampler_params sp = o->sp;
    if (sp.temperature == 0 && !o->penalty_given) sp.repeat_penalty = 1.0f;
    return sp;
}
