/*
 * create.c - store_create: a model of the store from a Modelfile (FROM a file, imported into
 * blobs/, or a model of the store; PARAMETER, SYSTEM and TEMPLATE over the base's), checked by
 * loading it, then its manifest written. Shared by `autoglm create` and POST /api/create.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store.h"

/* Merges the Modelfile over the base model (a file or a model of the store). */
static st_status merge(const char *root, const char *base_dir, modelfile *mf, store_manifest *m, st_error *err) {
    /* FROM: a file relative to base_dir, else a name */
    char *from = mf->from;
    char *joined = NULL;
    if (from[0] == '~' && from[1] == '/' && getenv("HOME")) {
        size_t n = strlen(getenv("HOME")) + strlen(from);
        if ((joined = malloc(n))) snprintf(joined, n, "%s%s", getenv("HOME"), from + 1);
    } else if (from[0] != '/') {
        size_t n = strlen(base_dir) + strlen(from) + 2;
        if ((joined = malloc(n))) snprintf(joined, n, "%s/%s", base_dir, from);
    }
    const char *file = joined ? joined : from;
    struct stat sb;
    st_status st;
    if (stat(file, &sb) == 0 && S_ISREG(sb.st_mode)) {
        st = store_import_blob(root, file, m, err);
    } else {
        char name[STORE_NAME_MAX];
        memcpy(name, m->name, sizeof name);
        st = store_read(root, from, m, err);
        if (st == ST_NOT_FOUND || st == ST_INVALID)
            st = st_fail(err, ST_NOT_FOUND, "FROM %s: neither a file nor a model of the store", from);
        memcpy(m->name, name, sizeof name);
    }
    free(joined);
    if (st) return st;
    if (mf->system) {
        free(m->system);
        m->system = mf->system;
        mf->system = NULL;
    }
    if (mf->tmpl) {
        free(m->tmpl);
        m->tmpl = mf->tmpl;
        mf->tmpl = NULL;
    }
    if (mf->params) { /* the Modelfile's parameters replace the base's of the same name */
        if (!m->params) m->params = cJSON_CreateObject();
        cJSON *p;
        cJSON_ArrayForEach(p, mf->params) {
            cJSON_DeleteItemFromObjectCaseSensitive(m->params, p->string);
            cJSON_AddItemToObject(m->params, p->string, cJSON_Duplicate(p, true));
        }
    }
    return ST_OK;
}

st_status store_create(const char *root, const char *base_dir, modelfile *mf, store_manifest *m, st_error *err) {
    if (!mf->from) return st_fail(err, ST_INVALID, "no FROM: the Modelfile must name a GGUF file or a model");
    st_status st = merge(root, base_dir, mf, m, err);
    if (st) return st;
    ag_error ae = {0};
    ag_model_params mp = {.n_threads = 1};
    ag_model *model = ag_model_load(m->path, &mp, &ae);
    if (!model) return st_fail(err, ST_INVALID, "cannot load '%s': %s", m->path, ae.msg);
    store_fill_details(m, model);
    ag_model_free(model);
    return store_write(root, m, err);
}
