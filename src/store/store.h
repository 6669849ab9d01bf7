/*
 * store.h - the model store: models by name (`name:tag`) in a folder of manifests and blobs.
 *
 * Layout under the root ($AUTOGLM_MODELS, default ~/.autoglm/models):
 *   manifests/<name>/<tag>.json   one JSON manifest per model (see store_manifest)
 *   blobs/sha256-<hex>            GGUF files imported by `create` (hard link, else a copy)
 * The CLI and the server share it; every function takes the root explicitly (no global state)
 * and returns a st_status with a message in st_error. Manifests are written to a temporary file
 * and renamed into place, so a reader never sees half a manifest.
 */
#ifndef AG_STORE_H
#define AG_STORE_H

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "autoglm/autoglm.h"

typedef enum { ST_OK = 0, ST_NOT_FOUND, ST_INVALID, ST_IO, ST_NOMEM } st_status;

typedef struct {
    st_status code;
    char msg[512];
} st_error;

st_status st_fail(st_error *err, st_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define STORE_NAME_MAX 256

typedef struct {
    char name[STORE_NAME_MAX]; /* "name:tag"; "" for a model given by path */
    char *path;                /* the GGUF file (owned) */
    char sha256[65];           /* hex digest of the file; "" when unknown (a path) */
    uint64_t size;             /* bytes of the file */
    char *system;              /* default system message (owned) or NULL */
    char *tmpl;                /* chat template (Jinja) overriding the file's, or NULL */
    cJSON *params;             /* default options {"temperature": 0.5, "stop": [...]} or NULL */
    char family[32];           /* details: architecture, parameter count, dominant weight type */
    int64_t n_params;
    char quant[16];
    int64_t modified;          /* unix seconds (the manifest's mtime) */
    char *projector;           /* vision projector GGUF (mmproj) for image input (owned), or NULL: the
                                  model takes no images; manifest key "projector": {"path": ...} */
} store_manifest;

void store_manifest_free(store_manifest *m);

/* $AUTOGLM_MODELS or $HOME/.autoglm/models, malloc'd; NULL when neither is set. */
char *store_default_root(void);

/* Normalizes "name" or "name:tag" into "name:tag" (tag "latest" by default). Names are
 * [A-Za-z0-9._-] segments separated by '/', tags [A-Za-z0-9._-]; nothing that could leave the
 * store folder ("..", leading '/' or '.'). */
st_status store_parse_name(const char *in, char out[STORE_NAME_MAX], st_error *err);

st_status store_read(const char *root, const char *name, store_manifest *m, st_error *err);
st_status store_write(const char *root, const store_manifest *m, st_error *err);
/* All models, sorted by name; *out is malloc'd (free each with store_manifest_free, then free). */
st_status store_list(const char *root, store_manifest **out, int *n, st_error *err);
/* Removes the manifest, and its blobs (model, projector) when no other manifest uses them. */
st_status store_remove(const char *root, const char *name, st_error *err);
st_status store_copy(const char *root, const char *src, const char *dst, st_error *err);

/* A name of the store, or a path to a GGUF file: a path when it names an existing file and
 * looks like one (has a '/' or ends in .gguf) or when no model has that name. */
st_status store_resolve(const char *root, const char *arg, store_manifest *m, st_error *err);

/* Copies (or hard-links) a file into blobs/ and fills path, sha256 and size. */
st_status store_import_blob(const char *root, const char *file, store_manifest *m, st_error *err);
/* mkdir -p */
st_status store_mkdirs(const char *path, st_error *err);
/* SHA-256 of a file as 64 hex digits. */
st_status store_sha256_file(const char *file, char hex[65], uint64_t *size, st_error *err);

/* Fills family, n_params and quant from a loaded model. */
void store_fill_details(store_manifest *m, const ag_model *model);

/* "260K", "1.10B" ... */
void store_human_count(char *buf, size_t cap, double v);

/* ---------------------------------------------------------------- vision projectors (projector.c) */

/* Whether path is a GGUF file of architecture "clip" (a vision projector, "mmproj"). */
bool store_is_projector(const char *path);
/* A projector file's metadata as a JSON object {key: value} (arrays longer than max_items, when
 * max_items >= 0, are null); *tensors (when not NULL) receives [{"name", "type", "shape"}] and
 * *n_params (when not NULL) the parameter count. NULL with a message when the file cannot be read. */
cJSON *store_projector_info(const char *path, int max_items, cJSON **tensors, uint64_t *n_params, char *err, size_t cap);

/* ---------------------------------------------------------------- Modelfile */

typedef struct {
    char *from;     /* FROM: a path (relative to the Modelfile's folder) or a model name */
    char *from2;    /* a second FROM, or NULL: with one of the two a vision projector GGUF
                       (architecture "clip"), as Ollama's Modelfiles of vision models */
    cJSON *params;  /* PARAMETER lines, typed (object; "stop" is an array) */
    char *system;   /* SYSTEM */
    char *tmpl;     /* TEMPLATE */
} modelfile;

/* Parses a Modelfile: FROM, PARAMETER key value, SYSTEM, TEMPLATE (a value may be quoted with
 * "..." or """...""" across lines), '#' comments. Unknown instructions and parameters are
 * errors naming the line. */
st_status modelfile_parse(const char *text, size_t len, modelfile *mf, st_error *err);
void modelfile_free(modelfile *mf);

/* A model from a Modelfile: FROM (a file relative to base_dir, imported into blobs/, or a model
 * of the store; a second FROM file whose GGUF architecture is "clip" is the vision projector,
 * imported too and named in the manifest's "projector"), the Modelfile's PARAMETER/SYSTEM/TEMPLATE over the base's; the result must load.
 * m->name is set by the caller; m receives the manifest written (mf's strings are taken). */
st_status store_create(const char *root, const char *base_dir, modelfile *mf, store_manifest *m, st_error *err);

/* Checks and converts one parameter value by its name (num_ctx ... stop) into *out. */
st_status store_param_value(const char *key, const char *value, cJSON **out, st_error *err);

/* The parameters as Modelfile lines ("temperature 0.5\nstop \"x\"\n"), malloc'd. */
char *store_params_text(const cJSON *params);

#endif
