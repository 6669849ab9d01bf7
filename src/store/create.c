/*
 * create.c - store_create: a model of the store from a Modelfile (FROM a file, imported into
 * blobs/, or a model of the store, and an optional second FROM: the vision projector; PARAMETER, SYSTEM and TEMPLATE over the base's), checked by
 * loading it, then its manifest written. Shared by `autoglm create` and POST /api/create.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "autoglm/vision.h"
#include "store/store.h"

/* FROM's file: relative to base_dir, or ~/...; malloc'd (NULL when out of memory). */
static char *from_file(const char *base_dir, const char *from) {
    char *joined = NULL;
    if (from[0] == '~' && from[1] == '/' && getenv("HOME")) {
        size_t n = strlen(getenv("HOME")) + strlen(from);
        if ((joined = malloc(n))) snprintf(joined, n, "%s%s", getenv("HOME"), from + 1);
    } else if (from[0] != '/') {
        size_t n = strlen(base_dir) + strlen(from) + 2;
        if ((joined = malloc(n))) snprintf(joined, n, "%s/%s", base_dir, from);
    } else {
        joined = strdup(from);
    }
    return joined;
}

static bool is_file(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The projector FROM: imported into blobs/, its path in m->projector. */
static st_status import_projector(const char *root, const char *file, store_manifest *m, st_error *err) {
    store_manifest pm = {0};
    st_status st = store_import_blob(root, file, &pm, err);
    if (st == ST_OK) {
        free(m->projector);
        m->projector = pm.path;
        pm.path = NULL;
    }
    store_manifest_free(&pm);
    return st;
}

/* Merges the Modelfile over the base model (a file or a model of the store). */
static st_status merge(const char *root, const char *base_dir, modelfile *mf, store_manifest *m, st_error *err) {
    /* FROM: a file relative to base_dir, else a name; with two, the projector is the clip file */
    char *f1 = from_file(base_dir, mf->from), *f2 = mf->from2 ? from_file(base_dir, mf->from2) : NULL;
    const char *from = mf->from, *file = f1, *proj = NULL;
    st_status st = ST_OK;
    if (!f1 || (mf->from2 && !f2)) st = st_fail(err, ST_NOMEM, "out of memory");
    else if (mf->from2) {
        const bool p1 = store_is_projector(f1), p2 = store_is_projector(f2);
        if (p1 == p2)
            st = st_fail(err, ST_INVALID, "two FROM lines need one language model and one vision projector (a GGUF of architecture \"clip\"); %s",
                         p1 ? "both are projectors" : "neither is a projector");
        else if (p1) from = mf->from2, file = f2, proj = f1;
        else proj = f2;
    } else if (store_is_projector(f1)) {
        st = st_fail(err, ST_INVALID, "FROM %s is a vision projector (architecture \"clip\"): name the language model in another FROM line", mf->from);
    }
    if (st == ST_OK && is_file(file)) {
        st = store_import_blob(root, file, m, err);
    } else if (st == ST_OK) {
        char name[STORE_NAME_MAX];
        memcpy(name, m->name, sizeof name);
        st = store_read(root, from, m, err);
        if (st == ST_NOT_FOUND || st == ST_INVALID)
            st = st_fail(err, ST_NOT_FOUND, "FROM %s: neither a file nor a model of the store", from);
        memcpy(m->name, name, sizeof name);
    }
    if (st == ST_OK && proj) st = import_projector(root, proj, m, err);
    free(f1);
    free(f2);
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
    ag_model_params mp = {.n_threads = 1, .device = "cpu", .keep_layout = true}; /* does it load: nothing to run */
    ag_model *model = ag_model_load(m->path, &mp, &ae);
    if (!model) return st_fail(err, ST_INVALID, "cannot load '%s': %s", m->path, ae.msg);
    store_fill_details(m, model);
    if (m->projector) { /* the projector must fit the model (embedding size, image tokens) */
        ag_vision *v = ag_vision_load(m->projector, model, &ae);
        ag_vision_free(v);
        if (!v) {
            ag_model_free(model);
            return st_fail(err, ST_INVALID, "cannot load the vision projector '%s': %s", m->projector, ae.msg);
        }
    }
    ag_model_free(model);
    return store_write(root, m, err);
}
